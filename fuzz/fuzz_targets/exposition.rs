//! readings-exporter's registry and exposition: any records. Every line of the output is a
//! HELP/TYPE comment or a sample of a bmstap_ metric; nothing in a label escapes its quotes.
#![no_main]

use bmstap::tsdb::expo::Registry;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut reg = Registry::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) {
            let _ = reg.update(&v, now);
        }
    }
    let text = reg.render();
    for l in text.lines() {
        assert!(
            l.starts_with("# HELP bmstap_")
                || l.starts_with("# TYPE bmstap_")
                || l.starts_with("bmstap_"),
            "{l:?}"
        );
    }
    reg.expire(now + Duration::from_secs(1), Duration::from_secs(1));
    assert!(reg.is_empty());
});
