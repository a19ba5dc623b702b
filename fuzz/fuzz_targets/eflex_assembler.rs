//! eFlex assembler and decoder: any sequence of CAN frames (ids near the battery ranges, any
//! payload), every completed cycle decoded and written as JSON that parses.
#![no_main]

use bmstap::proto::eflex::{self, Assembler, Event};
use bmstap::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut asm = Assembler::new();
    if data.first().is_some_and(|b| b & 1 == 1) {
        asm.set_check_last_tag(false);
    }
    let mut out = Vec::new();
    // Each frame: one byte picks the id, one the length (mostly 8), then the payload.
    let mut rest = data.get(1..).unwrap_or_default();
    let mut t = 0u64;
    while rest.len() >= 2 {
        let id = match rest[0] >> 7 {
            0 => 0x100 + u32::from(rest[0] & 0x1F),
            _ => 0x600 + u32::from(rest[0] & 0x1F),
        };
        let len = if rest[1] < 0xF0 {
            8
        } else {
            usize::from(rest[1] & 0x0F)
        };
        rest = &rest[2..];
        let take = len.min(rest.len());
        let (payload, tail) = rest.split_at(take);
        rest = tail;
        t += 1;
        match asm.push(id, payload, t) {
            Some(Event::Cycle(c)) => {
                let b = c.decode();
                out.clear();
                let ts = Timestamp {
                    unix_ms: c.ts as i64,
                };
                eflex::write_json(&b, ts, Some((&c.block10, &c.block60)), &mut out)
                    .expect("writes");
                let _: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
                let _ = eflex::fields(&b);
                let _ = eflex::info(&b);
            }
            Some(Event::Dropped(d)) => {
                let _ = d.to_string();
            }
            None => {}
        }
    }
    let _ = asm.finish(t);
    let s = asm.stats();
    assert!(s.dropped() <= s.frames);
});
