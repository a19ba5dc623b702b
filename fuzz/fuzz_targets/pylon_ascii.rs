//! The Pylon-ASCII framer and the Pylontech codec as bms-poll drives them: the first byte
//! picks a request of a status, identity or group read (0x42 `INFO FF`), the rest arrives in
//! chunks and is judged after each one (and at the deadline); every answer the judge
//! accepts is decoded, as one pack's and as the group's (readings per module, detection's
//! members). Frames
//! are also scanned on their own, parsed, re-encoded and their INFO decoded every way.
#![no_main]

use bmstap::proto::codec::{Codec as _, Judge};
use bmstap::proto::pylon_ascii::{self as ascii, Scan};
use bmstap::proto::pylontech::{self, Codec, GroupCodec};
use bmstap::record::Fields;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let codec = Codec;
    let mut requests = codec.status(2);
    requests.extend(codec.identity(2));
    let group = &GroupCodec.reads(&[2, 3, 4])[0];
    requests.extend(GroupCodec.group_status(group));
    let req = &requests[usize::from(pick) % requests.len()];
    let chunk = usize::from(pick >> 4) + 1;
    let mut answer = None;
    for end in (chunk..=rest.len())
        .step_by(chunk)
        .chain(std::iter::once(rest.len()))
    {
        let last = end == rest.len();
        match codec.judge(2, req, &[], &rest[..end], last) {
            Judge::Done(r) => {
                answer = r.ok();
                break;
            }
            Judge::More | Judge::Settle => assert!(!last || rest.is_empty()),
        }
    }
    if let Some(a) = answer {
        let answers = vec![Some(a.clone()), Some(a.clone()), Some(a.clone()), Some(a)];
        if let Ok(d) = codec.decode(2, &answers) {
            serde_json::to_string(&d.fields).expect("fields serialise");
        }
        let _ = codec.decode_identity(2, &answers);
        serde_json::to_string(&codec.identity_fields(2, &answers)).expect("fields serialise");
        let _ = codec.check_probe(2, answers[0].as_deref().unwrap_or_default());
        for (_, d) in GroupCodec.decode_group(group, &answers[..1]) {
            if let Ok(d) = d {
                serde_json::to_string(&d.fields).expect("fields serialise");
            }
        }
        let _ = codec.members(2, answers[0].as_deref().unwrap_or_default());
    }
    let mut buf = rest;
    while !buf.is_empty() {
        match ascii::scan(buf) {
            Scan::NeedMore => break,
            Scan::Garbage { skip, .. } => {
                assert!(skip >= 1 && skip <= buf.len());
                buf = &buf[skip..];
            }
            Scan::Frame { len } => {
                let f = ascii::parse(&buf[..len]).expect("scan said it parses");
                // Our encoder writes CID1 0x46 (battery) only: round-trip those frames.
                if f.cid1 == ascii::CID1_BATTERY {
                    let again = ascii::reply(f.ver, f.adr, f.cid2, &f.info);
                    assert_eq!(ascii::parse(&again).expect("re-encoded"), f);
                }
                let mut fields = Fields::new();
                if let Ok(a) = pylontech::parse_analog(&f.info) {
                    pylontech::analog_fields(&a, &mut fields);
                }
                let _ = pylontech::parse_analog_group(&f.info);
                let _ = pylontech::parse_alarms(&f.info, &mut fields);
                let _ = pylontech::parse_management(&f.info, &mut fields);
                if let Ok(p) = pylontech::parse_system_parameters(&f.info) {
                    assert_eq!(pylontech::encode_system_parameters(&p)[1..], f.info[1..25]);
                    pylontech::system_parameter_fields(&p, &mut fields);
                }
                serde_json::to_string(&fields).expect("fields serialise");
                buf = &buf[len..];
            }
        }
    }
});
