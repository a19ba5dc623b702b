//! The JBD codec as bms-poll drives it: the first byte picks a request of a status or identity
//! read, the rest arrives in chunks and is judged after each one (and at the deadline); every
//! answer the judge accepts is decoded. Frames are also scanned and decoded on their own.
#![no_main]

use bmstap::proto::codec::{Codec as _, Judge};
use bmstap::proto::jbd::{self, Codec, Scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let codec = Codec;
    let mut requests = codec.status(0);
    requests.extend(codec.identity(0));
    let req = &requests[usize::from(pick) % requests.len()];
    let chunk = usize::from(pick >> 4) + 1;
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
        let answers = vec![Some(a.clone()), Some(a)];
        if let Ok(d) = codec.decode(0, &answers) {
            serde_json::to_string(&d.fields).expect("fields serialise");
        }
        let _ = codec.decode_identity(0, &answers);
        let _ = codec.check_probe(0, answers[0].as_deref().unwrap_or_default());
    }
    let mut buf = rest;
    while !buf.is_empty() {
        match jbd::scan(buf) {
            Scan::NeedMore => break,
            Scan::Garbage { skip, .. } => {
                assert!(skip >= 1 && skip <= buf.len());
                buf = &buf[skip..];
            }
            Scan::Frame { len } => {
                let r = jbd::parse_frame(&buf[..len]).expect("scan said it parses");
                if let Ok(b) = jbd::parse_basic(r.data) {
                    let f = jbd::fields(&b, jbd::parse_cells(r.data).ok().as_deref());
                    serde_json::to_string(&f).expect("fields serialise");
                    let again = jbd::parse_basic(&jbd::encode_basic(&b)).expect("re-encoded");
                    assert_eq!(again, b);
                }
                buf = &buf[len..];
            }
        }
    }
});
