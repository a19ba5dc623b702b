//! Modbus TCP framing (MBAP), for gateways in "Modbus TCP to RTU" mode (protocols.md §11).
//!
//! ```text
//! request  00 07 00 00 00 06 02 03 00 00 00 27
//!          └tid┘ └pid┘ └len┘ │  └─ PDU: fn=3 start=0 count=0x27 (no CRC)
//!                            └ unit id = the pack's bus address
//! ```
//!
//! `len` counts the bytes after it (unit id + PDU). The gateway turns the PDU into an RTU
//! frame (unit id as address, CRC appended), and the pack's reply back into an MBAP frame
//! echoing the transaction id. The link layer converts both ways so everything above it
//! (the poll engine, `io::modbus`, `--capture` files) keeps speaking RTU frames.

use crate::proto::modbus::{append_crc, crc_ok};

/// MBAP header length: transaction id, protocol id, length, unit id.
pub const HEADER: usize = 7;

/// Largest `len` field we accept: unit id + a 253-byte PDU (the Modbus maximum).
const MAX_LEN: usize = 254;

/// An RTU frame (`addr pdu… crc`) as an MBAP frame with transaction id `tid`. None when
/// `rtu` is not a frame with a valid CRC.
pub fn from_rtu(tid: u16, rtu: &[u8]) -> Option<Vec<u8>> {
    if rtu.len() < 4 || !crc_ok(rtu) {
        return None;
    }
    let body = &rtu[..rtu.len() - 2];
    let len = u16::try_from(body.len()).ok()?;
    let mut out = Vec::with_capacity(6 + body.len());
    out.extend_from_slice(&tid.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Some(out)
}

/// The RTU frame a unit id and PDU stand for (CRC appended).
pub fn to_rtu(unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(pdu.len() + 3);
    f.push(unit);
    f.extend_from_slice(pdu);
    append_crc(&mut f);
    f
}

/// One MBAP frame found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    pub tid: u16,
    pub unit: u8,
    pub pdu: &'a [u8],
    /// Bytes the frame occupies in the buffer.
    pub len: usize,
}

/// What is at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan<'a> {
    Frame(Frame<'a>),
    /// A header that cannot start a Modbus TCP frame (protocol id not 0, length out of
    /// range): the stream is out of step.
    Invalid(String),
    NeedMore,
}

/// Looks for one frame at the start of `buf`.
pub fn scan(buf: &[u8]) -> Scan<'_> {
    if buf.len() < HEADER {
        return Scan::NeedMore;
    }
    let tid = u16::from_be_bytes([buf[0], buf[1]]);
    let pid = u16::from_be_bytes([buf[2], buf[3]]);
    let len = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
    if pid != 0 {
        return Scan::Invalid(format!("MBAP protocol id {pid:#06x}, expected 0"));
    }
    if !(2..=MAX_LEN).contains(&len) {
        return Scan::Invalid(format!("MBAP length {len} out of range 2-{MAX_LEN}"));
    }
    let total = 6 + len;
    if buf.len() < total {
        return Scan::NeedMore;
    }
    Scan::Frame(Frame {
        tid,
        unit: buf[6],
        pdu: &buf[HEADER..total],
        len: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::modbus::ReadRequest;

    #[test]
    fn request_round_trip() {
        let rtu = ReadRequest::holding(2, 0, 0x27).encode();
        let m = from_rtu(7, &rtu).unwrap();
        assert_eq!(
            m,
            [0x00, 0x07, 0x00, 0x00, 0x00, 0x06, 0x02, 0x03, 0x00, 0x00, 0x00, 0x27]
        );
        let Scan::Frame(f) = scan(&m) else {
            panic!("no frame")
        };
        assert_eq!((f.tid, f.unit, f.len), (7, 2, 12));
        assert_eq!(to_rtu(f.unit, f.pdu), rtu);
    }

    #[test]
    fn partial_and_bad_headers() {
        let m = from_rtu(1, &ReadRequest::holding(1, 0, 1).encode()).unwrap();
        for cut in 0..m.len() {
            assert_eq!(scan(&m[..cut]), Scan::NeedMore, "cut at {cut}");
        }
        assert!(matches!(
            scan(&[0, 1, 0, 5, 0, 6, 1, 3]),
            Scan::Invalid(e) if e.contains("protocol id")
        ));
        assert!(matches!(
            scan(&[0, 1, 0, 0, 0x10, 0, 1, 3]),
            Scan::Invalid(e) if e.contains("length")
        ));
        assert_eq!(from_rtu(1, &[1, 3, 0, 0]), None);
        assert_eq!(from_rtu(1, &[]), None);
    }

    #[test]
    fn never_panics_on_any_prefix() {
        let mut seed = 1u64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let bytes: Vec<u8> = (0..(seed % 40)).map(|i| (seed >> (i % 56)) as u8).collect();
            let _ = scan(&bytes);
            let _ = from_rtu(3, &bytes);
        }
    }
}
