//! readings-to-mqtt's input side: NDJSON lines read, checked and turned into MQTT messages
//! (discovery, state, availability, JSON topic), as `--print-discovery` does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut n = 0u64;
    let (taken, bad) = bmstap::tools::readings_to_mqtt::dry_run(data, |topic, payload, _| {
        assert!(
            !topic.is_empty() && !topic.contains(['+', '#']),
            "bad topic {topic:?}"
        );
        assert!(!payload.is_empty());
        n += 1;
    });
    let lines = data.split(|&b| b == b'\n').count() as u64;
    assert!(taken + bad <= lines);
});
