//! readings-to-influx's encoder: any NDJSON line. A line it writes is one line of line
//! protocol: newlines only inside string field values, ending in the timestamp and `\n`.
#![no_main]

use bmstap::tsdb::line::{Encoder, Precision, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let enc = Encoder::new("bmstap", Precision::Ms).unwrap();
    let mut scratch = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let mut out = Vec::new();
        match enc.record(line, &mut out, &mut scratch) {
            Ok(Record::Line) => {
                assert!(out.ends_with(b"\n"));
                assert!(out.starts_with(b"bmstap,device="));
            }
            Ok(_) => assert!(out.is_empty()),
            Err(e) => {
                assert!(out.is_empty());
                let _ = e.to_string();
            }
        }
    }
});
