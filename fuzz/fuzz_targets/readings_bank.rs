//! readings-bank's filter: any input lines, with the bank on. No panic; every line that goes
//! out is one JSON object (or the input as it came); a device's energy counters never
//! decrease.
#![no_main]

use bmstap::bank::aggregate::BankConfig;
use bmstap::bank::state::State;
use bmstap::tools::readings_bank::Filter;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let bank = BankConfig {
        name: "bank".into(),
        members: None,
        every_ms: None,
        stale_ms: None,
    };
    let mut f = Filter::new(State::default(), Duration::from_secs(300), vec![bank]);
    let mut seen: HashMap<String, (f64, f64)> = HashMap::new();
    for (n, line) in data.split(|&b| b == b'\n').enumerate() {
        let mut out = Vec::new();
        if f.line(line, n as u64 + 1, &mut out).is_err() {
            assert!(out.is_empty());
            continue;
        }
        // The first line out is the input record (unchanged, or with our fields spliced in);
        // any after it are our bank readings.
        for (k, l) in out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            if k == 0 && l == line {
                continue; // passed through as it came: not ours to check
            }
            let v: serde_json::Value = match serde_json::from_slice(l) {
                Ok(v) => v,
                // JSON allows numbers no f64 holds (1e999); the filter skips over them in
                // values it does not read and passes them on. Not worse than the input.
                Err(e) if k == 0 && serde_json::from_slice::<serde_json::Value>(line).is_err() => {
                    assert!(e.to_string().contains("number out of range"), "{e}");
                    continue;
                }
                Err(e) => panic!("not JSON out: {e}"),
            };
            assert!(v.is_object());
            let fields = &v["fields"];
            let (Some(c), Some(d)) = (
                fields["energy_charged_kwh"].as_f64(),
                fields["energy_discharged_kwh"].as_f64(),
            ) else {
                continue;
            };
            let key = format!("{}/{}", k > 0, v["device"]);
            if let Some(&(pc, pd)) = seen.get(&key) {
                assert!(c >= pc && d >= pd, "{key}: {pc},{pd} -> {c},{d}");
            }
            seen.insert(key, (c, d));
        }
    }
});
