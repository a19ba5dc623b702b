//! The EG4 LifePower v1 7E/0D codec: a read buffer scanned as eg4-7e-query scans it, each
//! frame parsed, status payloads decoded to fields, and decoded statuses re-encoded.
#![no_main]

use bmstap::proto::tianpower::{self, Scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    while !buf.is_empty() {
        match tianpower::scan(buf) {
            Scan::NeedMore => break,
            Scan::Garbage { skip, .. } => {
                assert!(skip >= 1 && skip <= buf.len());
                buf = &buf[skip..];
            }
            Scan::Frame { len } => {
                assert!(len <= buf.len());
                let frame = tianpower::parse_frame(&buf[..len]).expect("scan said it parses");
                payload(frame.payload);
                buf = &buf[len..];
            }
        }
    }
    // Payload decoding on its own, for inputs that never form a valid frame.
    payload(data);
});

fn payload(p: &[u8]) {
    let _ = tianpower::clean_string(p);
    if let Ok(status) = tianpower::parse_status(p) {
        let _ = status.state();
        let _ = serde_json::to_string(&tianpower::fields(&status)).expect("fields serialise");
        let _ = tianpower::raw(&status);
        if let Ok(bytes) = tianpower::encode_status(&status) {
            let again = tianpower::parse_status(&bytes).expect("re-encoded status parses");
            assert_eq!(tianpower::fields(&again), tianpower::fields(&status));
        }
    }
}
