//! A JK-PB bus as bms-poll hears it: the bytes arrive in chunks (size from the first byte)
//! into the framer and the listener, with a quiet-line flush now and then; every record
//! found is decoded. The trigger codec's judge sees the same bytes as an answer.
#![no_main]

use bmstap::proto::codec::{Codec as _, Judge};
use bmstap::proto::hear::{Hearer, JkPb};
use bmstap::proto::jkpb::{self, Codec, Framer, Kind, Piece};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(pick & 0x3F) + 1;
    let mut framer = Framer::new();
    let mut hearer = JkPb::new(pick & 0x80 != 0);
    for (i, c) in rest.chunks(chunk).enumerate() {
        for h in framer.feed(c) {
            assert!(h.address <= jkpb::MAX_ADDRESS);
            assert_eq!(jkpb::check_record(&h.record), Ok(h.kind));
            match h.kind {
                Kind::Live => {
                    let l = jkpb::parse_live(&h.record).expect("a checked record");
                    let again = jkpb::parse_live(&jkpb::encode_live(&l, 0)).expect("re-encoded");
                    assert_eq!(again.cells_mv.len(), l.cells_mv.len().min(32));
                }
                Kind::Settings => drop(jkpb::parse_settings(&h.record).expect("checked")),
                Kind::About => drop(jkpb::parse_about(&h.record).expect("checked")),
            }
        }
        for h in hearer.feed(c) {
            serde_json::to_string(&format!("{h:?}")).expect("serialises");
        }
        if i % 7 == 6 {
            let _ = framer.flush();
            let _ = hearer.flush();
        }
    }
    let _ = framer.flush();
    let _ = hearer.flush();
    let mut buf = rest;
    while !buf.is_empty() {
        let step = match jkpb::scan(buf) {
            Piece::NeedMore => break,
            Piece::Skip { skip, .. } => skip,
            Piece::Record { len, .. } | Piece::Trigger { len, .. } | Piece::Ack { len, .. } => len,
        };
        assert!(step >= 1 && step <= buf.len());
        buf = &buf[step..];
    }
    for modbus_read in [false, true] {
        let codec = Codec {
            modbus_read,
            invert_current: false,
        };
        let address = 1 + (pick >> 4) % 15;
        let mut requests = codec.status(address);
        requests.extend(codec.identity(address));
        for req in &requests {
            if let Judge::Done(Ok(a)) = codec.judge(address, req, &[], rest, true) {
                let answers = vec![Some(a.clone()), Some(a)];
                if let Ok(d) = codec.decode(address, &answers) {
                    serde_json::to_string(&d.fields).expect("fields serialise");
                }
                let _ = codec.decode_identity(address, &answers);
            }
        }
    }
});
