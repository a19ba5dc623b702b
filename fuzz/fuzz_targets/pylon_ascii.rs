//! The Pylon-ASCII framer and the Pylontech and PACE codecs as bms-poll drives them: the
//! first byte picks a request of a status, identity or group read (Pylontech's 0x42
//! `INFO FF`) of each codec, the rest arrives in chunks and is judged after each one (and at
//! the deadline); every answer the judge accepts is decoded, as status, identity and identity
//! fields (Pylontech's 0x47, PACE's threshold reads), and as the group's (readings per
//! module, detection's members). Frames are also scanned on their own, parsed, re-encoded and
//! their INFO decoded every way.
#![no_main]

use bmstap::proto::codec::{Codec, Judge};
use bmstap::proto::pace;
use bmstap::proto::pylon_ascii::{self as ascii, PaceSettings, Scan};
use bmstap::proto::pylontech;
use bmstap::record::Fields;
use libfuzzer_sys::fuzz_target;

/// Drives `codec` at `address` as the poll engine does: the request `pick` chooses, `rest`
/// received in chunks, the accepted answer decoded every way; `grouped` gives the group read
/// of `address` and the next two packs, if its family has one.
fn drive(codec: &dyn Codec, grouped: &dyn Codec, address: u8, pick: u8, rest: &[u8]) {
    let mut requests = codec.status(address);
    requests.extend(codec.identity(address));
    let group = grouped
        .reads(&[address, address + 1, address + 2])
        .into_iter()
        .find(|r| r.group);
    if let Some(g) = &group {
        requests.extend(grouped.group_status(g));
    }
    let req = &requests[usize::from(pick) % requests.len()];
    let chunk = usize::from(pick >> 4) + 1;
    let mut answer = None;
    for end in (chunk..=rest.len())
        .step_by(chunk)
        .chain(std::iter::once(rest.len()))
    {
        let last = end == rest.len();
        match codec.judge(address, req, &[], &rest[..end], last) {
            Judge::Done(r) => {
                answer = r.ok();
                break;
            }
            Judge::More | Judge::Settle => assert!(!last || rest.is_empty()),
        }
    }
    if let Some(a) = answer {
        // The same answer in every position: each decoder meets each kind of reply.
        let n = requests.len().max(4);
        let answers = vec![Some(a); n];
        if let Ok(d) = codec.decode(address, &answers) {
            serde_json::to_string(&d.fields).expect("fields serialise");
        }
        let _ = codec.decode_identity(address, &answers);
        serde_json::to_string(&codec.identity_fields(address, &answers)).expect("fields serialise");
        let _ = codec.check_probe(address, answers[0].as_deref().unwrap_or_default());
        if let Some(g) = &group {
            for (_, d) in grouped.decode_group(g, &answers[..1]) {
                if let Ok(d) = d {
                    serde_json::to_string(&d.fields).expect("fields serialise");
                }
            }
        }
        let _ = codec.members(address, answers[0].as_deref().unwrap_or_default());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    drive(&pylontech::Codec, &pylontech::GroupCodec, 2, pick, rest);
    drive(&pace::Codec, &pace::Codec, 0, pick, rest);
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
                // PACE's groups write Pylontech's setting_* names too: fields of their own.
                let mut settings = Fields::new();
                for g in PaceSettings::ALL {
                    if let Ok(t) = pace::parse_thresholds(g, &f.info) {
                        let again = pace::encode_thresholds(&t);
                        assert_eq!(again[1..], f.info[1..again.len()]);
                        pace::threshold_fields(g, &t, &mut settings);
                    }
                }
                serde_json::to_string(&settings).expect("fields serialise");
                serde_json::to_string(&fields).expect("fields serialise");
                buf = &buf[len..];
            }
        }
    }
});
