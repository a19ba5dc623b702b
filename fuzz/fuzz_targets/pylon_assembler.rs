//! Pylon LV telegram assembler and decoder: any sequence of CAN frames (ids around the
//! protocol's, heartbeats among them, any payload and length), every telegram decoded under
//! every profile and written as JSON that parses.
#![no_main]

use bmstap::proto::pylon::{self, Assembler, Event, PROFILES};
use bmstap::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut asm = Assembler::new();
    let mut out = Vec::new();
    let mut check = |t: &pylon::Telegram<u64>| {
        for p in PROFILES {
            let scale = p.voltage_scale.unwrap_or(0.01);
            let b = pylon::decode(t, &p.with_scale(scale));
            out.clear();
            let ts = Timestamp {
                unix_ms: t.ts as i64,
            };
            pylon::write_json(&b, ts, "bank", &[("ts_anchor", "start option")], &mut out)
                .expect("writes");
            let _: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            let _ = pylon::encode(&b);
        }
    };
    // Each frame: one byte picks the id (0x300 + byte: heartbeats and every protocol id
    // among them), one the length (0-15, longer than 8 is cut), then the payload.
    let mut rest = data;
    let mut t = 0u64;
    while rest.len() >= 2 {
        let id = 0x300 + u32::from(rest[0]);
        let len = usize::from(rest[1] & 0x0F);
        rest = &rest[2..];
        let take = len.min(rest.len());
        let (payload, tail) = rest.split_at(take);
        rest = tail;
        t += 1;
        match asm.push(id, payload, t) {
            Some(Event::Telegram(tg)) => check(&tg),
            Some(Event::Dropped(d)) => {
                let _ = d.to_string();
            }
            None => {}
        }
    }
    if let Some(tg) = asm.finish() {
        check(&tg);
    }
    let s = asm.stats();
    assert!(s.telegrams + s.dropped <= s.frames);
});
