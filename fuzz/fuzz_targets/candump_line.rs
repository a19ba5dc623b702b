//! candump line parser: every flavour, any bytes. A frame it accepts prints back (in the -L
//! form) to a line that parses to the same frame.
#![no_main]

use bmstap::proto::candump::{self, Line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in data.split(|&b| b == b'\n') {
        match candump::parse_line(line) {
            Ok(Line::Frame(f)) => {
                let text = f.frame.to_string();
                let _ = format!("{f:?}");
                let back = candump::parse_compact(text.as_bytes());
                assert_eq!(back.ok(), Some(f.frame), "{text} does not parse back");
            }
            Ok(other) => {
                let _ = format!("{other:?}");
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    let _ = candump::parse_compact(data);
});
