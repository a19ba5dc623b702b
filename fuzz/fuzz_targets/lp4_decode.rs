//! LP4 reply handling as lp4-poll does it: a reply buffer checked against the request, then
//! the registers decoded with both maps, the identity block and the raw map.
#![no_main]

use bmstap::proto::lp4::{self, Map, Window};
use bmstap::proto::modbus::{parse_reply, reply_error, scan_reply, ReadRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    // The first three bytes are the request (address, start, count), the rest the reply.
    let start = u16::from(data[1]);
    let count = u16::from(data[2] % 125) + 1;
    let req = ReadRequest::holding(data[0], start, count);
    let reply = &data[3..];
    let _ = scan_reply(reply, &req);
    let _ = reply_error(reply, &req);
    if let Ok(regs) = parse_reply(reply, &req) {
        assert_eq!(regs.len(), usize::from(count));
        decode_all(start, &regs);
    }
    // And the decoders on any register values at any window start.
    let regs: Vec<u16> = reply
        .chunks_exact(2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .collect();
    decode_all(start, &regs);
});

fn decode_all(start: u16, regs: &[u16]) {
    let window = Window { start, regs };
    for map in [Map::V0106, Map::Eg4Battery] {
        let fields = lp4::decode(map, window);
        let _ = serde_json::to_string(&fields).expect("fields serialise");
    }
    let _ = lp4::decode_identity(window);
    let _ = lp4::raw(window);
    let _ = lp4::ascii(regs);
}
