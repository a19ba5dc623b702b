//! The JK-B codec as bms-poll drives it: the reply arrives in chunks (size from the first
//! byte) and is judged after each one (and at the deadline); an accepted answer is decoded.
//! Frames are also scanned and their tag lists walked on their own.
#![no_main]

use bmstap::proto::codec::{Codec as _, Judge};
use bmstap::proto::jk::{self, Codec, Scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let codec = Codec {
        invert_current: pick & 0x80 != 0,
    };
    let req = &codec.status(0)[0];
    let chunk = usize::from(pick & 0x7F) + 1;
    let mut answer = None;
    for end in (chunk..=rest.len())
        .step_by(chunk)
        .chain(std::iter::once(rest.len()))
    {
        let last = end == rest.len();
        match codec.judge(0, req, &[], &rest[..end], last) {
            Judge::Done(r) => {
                answer = r.ok();
                break;
            }
            Judge::More | Judge::Settle => assert!(!last || rest.is_empty()),
        }
    }
    if let Some(a) = answer {
        let answers = vec![Some(a.clone())];
        if let Ok(d) = codec.decode(0, &answers) {
            serde_json::to_string(&d.fields).expect("fields serialise");
        }
        let _ = codec.decode_identity(0, &answers);
        let _ = codec.check_probe(0, &a);
    }
    let mut buf = rest;
    while !buf.is_empty() {
        match jk::scan(buf) {
            Scan::NeedMore => break,
            Scan::Garbage { skip, .. } => {
                assert!(skip >= 1 && skip <= buf.len());
                buf = &buf[skip..];
            }
            Scan::Frame { len } => {
                if let Ok(p) = jk::reply_payload(&buf[..len]) {
                    if let Ok(s) = jk::parse_status(p) {
                        serde_json::to_string(&jk::fields(&s)).expect("fields serialise");
                    }
                }
                buf = &buf[len..];
            }
        }
    }
    let _ = jk::parse_status(rest).map(|s| jk::fields(&s));
});
