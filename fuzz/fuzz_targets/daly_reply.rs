//! The Daly codec as bms-poll drives it: the first byte picks one of a status read's requests
//! (with a 0x94 answer before it giving the cell and sensor counts), the rest arrives in chunks
//! and is judged after each one; every accepted answer set is decoded.
#![no_main]

use bmstap::proto::codec::{Codec as _, Judge};
use bmstap::proto::daly::Codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some((counts, rest)) = rest.split_at_checked(2) else {
        return;
    };
    let codec = Codec::default();
    let requests = codec.status(1);
    let i = usize::from(pick) % requests.len();
    let mut prior: Vec<Option<Vec<u8>>> = vec![None; requests.len()];
    prior[4] = Some(vec![counts[0], counts[1], 0, 0, 0, 0, 0, 0]);
    let chunk = usize::from(pick >> 4) + 1;
    for end in (chunk..=rest.len())
        .step_by(chunk)
        .chain(std::iter::once(rest.len()))
    {
        let last = end == rest.len();
        match codec.judge(
            1,
            &requests[i],
            &prior[..i.min(prior.len())],
            &rest[..end],
            last,
        ) {
            Judge::Done(Ok(a)) => {
                assert!(a.len() % 8 == 0);
                prior[i] = Some(a);
                prior[0].get_or_insert_with(|| vec![0, 0x10, 0, 0, 0x75, 0x30, 0, 0]);
                if let Ok(d) = codec.decode(1, &prior) {
                    serde_json::to_string(&d.fields).expect("fields serialise");
                }
                let _ = codec.check_probe(1, prior[i].as_deref().unwrap_or_default());
                break;
            }
            Judge::Done(Err(_)) => break,
            Judge::More | Judge::Settle => {}
        }
    }
});
