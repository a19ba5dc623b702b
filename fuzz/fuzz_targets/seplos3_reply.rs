//! The Seplos v3 codec as bms-poll drives it: the first byte picks a request of a status or
//! identity read (FC04 blocks, FC01 coils) or of a bank's system read (FC04 0x2000/0x2100 at
//! slave 0) and the slave address it goes to (0, the broadcast address a single pack answers
//! at, or another), the rest arrives in chunks and is judged after each one (and at the
//! deadline: then the judge must have decided); every answer the judge accepts is decoded,
//! alone and as each block of a whole read, the system decoder included.
#![no_main]

use bmstap::proto::codec::{Codec as _, Judge};
use bmstap::proto::seplos3::Codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let codec = Codec;
    let address = if pick & 0x80 != 0 { 0 } else { 1 + (pick >> 5) };
    let mut requests = codec.status(address);
    requests.extend(codec.identity(address));
    let system = codec.reads(&[1, 2]).into_iter().find(|r| r.group);
    if let Some(system) = &system {
        requests.extend(codec.group_status(system));
    }
    let req = &requests[usize::from(pick) % requests.len()];
    let chunk = usize::from((pick >> 3) & 0x0F) + 1;
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
            Judge::More | Judge::Settle => assert!(!last, "undecided at the deadline"),
        }
    }
    if let Some(a) = answer {
        let answers = vec![Some(a.clone()), Some(a.clone()), Some(a)];
        if let Ok(d) = codec.decode(address, &answers) {
            serde_json::to_string(&d.fields).expect("fields serialise");
        }
        let _ = codec.decode_identity(address, &answers);
        let _ = codec.check_probe(address, answers[0].as_deref().unwrap_or_default());
        if let Some(system) = &system {
            for (_, d) in codec.decode_group(system, &answers) {
                if let Ok(d) = d {
                    serde_json::to_string(&d.fields).expect("fields serialise");
                }
            }
        }
    }
    // The raw bytes as blocks, whatever the judge said.
    let _ = codec.decode(address, &[Some(rest.to_vec()), Some(rest.to_vec()), None]);
    if let Some(system) = &system {
        let _ = codec.decode_group(
            system,
            &[
                Some(rest.to_vec()),
                Some(rest.to_vec()),
                Some(rest.to_vec()),
            ],
        );
    }
});
