//! Modbus TCP (MBAP) framing as a gateway link reads it: frames found one after another in
//! a receive buffer; each one turned into its RTU frame and back must give the same bytes.
#![no_main]

use bmstap::proto::mbap::{self, Scan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    while let Scan::Frame(f) = mbap::scan(buf) {
        assert!(f.len <= buf.len() && f.len >= mbap::HEADER);
        let rtu = mbap::to_rtu(f.unit, f.pdu);
        let back = mbap::from_rtu(f.tid, &rtu).expect("an RTU frame with its CRC");
        assert_eq!(back, &buf[..f.len]);
        buf = &buf[f.len..];
    }
    let _ = mbap::from_rtu(1, data);
});
