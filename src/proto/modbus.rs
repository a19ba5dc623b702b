//! Modbus RTU framing for a bus master (protocols.md §1.2–1.3).
//!
//! ```text
//! request  01 03 00 00 00 27 05 D0     addr=1 fn=3 start=0x0000 count=0x0027 crc=0xD005 (lo first)
//! reply    01 03 4E <78 data bytes> CRClo CRChi      byte_count = 2 × count
//! error    01 83 02 C0 F1                  fn | 0x80, exception code 02 (illegal data address)
//! ```
//!
//! CRC-16/MODBUS: reflected poly 0x8005, init 0xFFFF, no final xor, sent low byte first.

use crc::{Crc, Table, CRC_16_MODBUS};
use std::fmt;

/// Slice-by-16 tables: the sniffer computes a CRC for every candidate frame, so this is its
/// ceiling (about 5× the single-table speed).
const CRC16: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_MODBUS);

/// CRC-16/MODBUS over `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC16.checksum(bytes)
}

/// Appends the CRC, low byte first.
pub fn append_crc(frame: &mut Vec<u8>) {
    let crc = crc16(frame);
    frame.extend_from_slice(&crc.to_le_bytes());
}

/// Does `frame` end in a correct CRC?
pub fn crc_ok(frame: &[u8]) -> bool {
    frame.len() >= 4 && {
        let (body, crc) = frame.split_at(frame.len() - 2);
        crc16(body) == u16::from_le_bytes([crc[0], crc[1]])
    }
}

/// Read holding (0x03) or input (0x04) registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRequest {
    pub address: u8,
    pub function: u8,
    pub start: u16,
    pub count: u16,
}

impl ReadRequest {
    pub fn holding(address: u8, start: u16, count: u16) -> Self {
        ReadRequest {
            address,
            function: 0x03,
            start,
            count,
        }
    }

    /// The 8 request bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut f = Vec::with_capacity(8);
        f.push(self.address);
        f.push(self.function);
        f.extend_from_slice(&self.start.to_be_bytes());
        f.extend_from_slice(&self.count.to_be_bytes());
        append_crc(&mut f);
        f
    }

    /// Length of the normal reply: 5 + 2 × count.
    pub fn reply_len(&self) -> usize {
        5 + 2 * self.count as usize
    }
}

/// Modbus exception code names (protocols.md §5.2).
pub fn exception_name(code: u8) -> &'static str {
    match code {
        0x01 => "illegal function",
        0x02 => "illegal data address",
        0x03 => "illegal data value",
        0x04 => "server device failure",
        0x05 => "acknowledge",
        0x06 => "server device busy",
        0x08 => "memory parity error",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target failed to respond",
        _ => "unknown exception",
    }
}

/// Why a reply was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// The slave answered with an exception.
    Exception { code: u8 },
    /// The frame is complete but its CRC is wrong.
    BadCrc { computed: u16, received: u16 },
    /// A CRC-valid reply came from another address.
    WrongAddress { expected: u8, got: u8 },
    /// A CRC-valid reply with another function code.
    WrongFunction { expected: u8, got: u8 },
    /// The byte count does not match the request.
    WrongLength { expected: usize, got: usize },
    /// Fewer bytes than a reply needs arrived before the timeout.
    Truncated { expected: usize, got: usize },
    /// Bytes arrived, but nothing in them looks like a reply.
    Garbled { len: usize },
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ReplyError::Exception { code } => {
                write!(f, "exception {code:#04x} ({})", exception_name(code))
            }
            ReplyError::BadCrc { computed, received } => write!(
                f,
                "bad CRC: reply carries {received:#06x}, computed {computed:#06x}"
            ),
            ReplyError::WrongAddress { expected, got } => {
                write!(f, "reply from address {got} while polling {expected}")
            }
            ReplyError::WrongFunction { expected, got } => {
                write!(
                    f,
                    "reply with function {got:#04x}, expected {expected:#04x}"
                )
            }
            ReplyError::WrongLength { expected, got } => {
                write!(f, "reply has {got} data bytes, expected {expected}")
            }
            ReplyError::Truncated { expected, got } => {
                write!(f, "short reply: {got} of {expected} bytes")
            }
            ReplyError::Garbled { len } => write!(f, "garbled reply ({len} bytes, no valid frame)"),
        }
    }
}

impl std::error::Error for ReplyError {}

/// The state of a reply being received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyScan {
    /// Keep reading.
    Incomplete,
    /// A valid reply: its registers, and how many stray bytes surrounded it.
    Done { registers: Vec<u16>, stray: usize },
    /// A definite answer that is an error (an exception from the polled address).
    Failed(ReplyError),
}

/// Looks for the reply to `req` in the bytes received so far.
///
/// A CRC-valid reply or exception from the polled address anywhere in `buf` settles it
/// (stray bytes before it are line noise or echo). A complete, CRC-valid frame from another
/// address is skipped: on a shared bus it is another pack's late or repeated reply, and the
/// polled pack's own reply may still follow ([`reply_error`] names it if none does). A frame of the right shape at offset 0 with a bad CRC is
/// reported as [`ReplyScan::Incomplete`] until `final_call` (more bytes may still turn up
/// behind noise); on the final call [`reply_error`] explains what went wrong.
pub fn scan_reply(buf: &[u8], req: &ReadRequest) -> ReplyScan {
    let want = req.reply_len();
    let fc = req.function;
    let mut i = 0;
    while i + 5 <= buf.len() {
        let b = &buf[i..];
        if b[0] == req.address && b[1] == fc && b.len() >= want && b[2] as usize == want - 5 {
            if crc_ok(&b[..want]) {
                let registers = b[3..want - 2]
                    .chunks_exact(2)
                    .map(|w| u16::from_be_bytes([w[0], w[1]]))
                    .collect();
                return ReplyScan::Done {
                    registers,
                    stray: buf.len() - want,
                };
            }
        } else if b[0] == req.address && b[1] == fc | 0x80 && crc_ok(&b[..5]) {
            return ReplyScan::Failed(ReplyError::Exception { code: b[2] });
        } else if let Some((_, len)) = foreign_frame(b, req) {
            i += len;
            continue;
        }
        i += 1;
    }
    ReplyScan::Incomplete
}

/// A complete, CRC-valid read reply from an address other than `req`'s at the start of `b`:
/// its address and length.
fn foreign_frame(b: &[u8], req: &ReadRequest) -> Option<(u8, usize)> {
    let (&addr, &fc, &n) = (b.first()?, b.get(1)?, b.get(2)?);
    let len = 5 + usize::from(n);
    (addr != req.address && addr != 0 && fc == req.function && b.len() >= len && crc_ok(&b[..len]))
        .then_some((addr, len))
}

/// Explains why `buf` (everything received before the timeout) holds no valid reply.
/// Complete replies from other addresses at its start are passed over; if nothing else came,
/// the error names the address that answered.
pub fn reply_error(buf: &[u8], req: &ReadRequest) -> ReplyError {
    let mut buf = buf;
    let mut foreign = None;
    while let Some((addr, len)) = foreign_frame(buf, req) {
        foreign = Some(addr);
        buf = &buf[len..];
    }
    if let (Some(got), true) = (foreign, buf.is_empty()) {
        return ReplyError::WrongAddress {
            expected: req.address,
            got,
        };
    }
    let want = req.reply_len();
    if buf.len() >= 3 && buf[0] == req.address {
        if buf[1] == req.function {
            let data = buf[2] as usize;
            if data != want - 5 {
                let len = 5 + data;
                if buf.len() >= len && crc_ok(&buf[..len]) {
                    return ReplyError::WrongLength {
                        expected: want - 5,
                        got: data,
                    };
                }
            }
            if buf.len() >= want {
                let computed = crc16(&buf[..want - 2]);
                let received = u16::from_le_bytes([buf[want - 2], buf[want - 1]]);
                return ReplyError::BadCrc { computed, received };
            }
            return ReplyError::Truncated {
                expected: want,
                got: buf.len(),
            };
        }
        if buf[1] != req.function | 0x80 && buf.len() >= 5 && crc_ok(&buf[..5]) {
            return ReplyError::WrongFunction {
                expected: req.function,
                got: buf[1],
            };
        }
    }
    if buf.len() < want {
        ReplyError::Truncated {
            expected: want,
            got: buf.len(),
        }
    } else {
        ReplyError::Garbled { len: buf.len() }
    }
}

/// One-shot parse of a complete reply (exactly one frame, no surrounding bytes).
pub fn parse_reply(frame: &[u8], req: &ReadRequest) -> Result<Vec<u16>, ReplyError> {
    match scan_reply(frame, req) {
        ReplyScan::Done {
            registers,
            stray: 0,
        } if frame.len() == req.reply_len() => Ok(registers),
        ReplyScan::Failed(e) => Err(e),
        _ => Err(reply_error(frame, req)),
    }
}

/// Encodes a read reply (for the simulator): address, function, byte count, data, CRC.
pub fn encode_read_reply(address: u8, function: u8, registers: &[u16]) -> Vec<u8> {
    let mut f = Vec::with_capacity(5 + registers.len() * 2);
    f.push(address);
    f.push(function);
    f.push((registers.len() * 2).min(255) as u8);
    for r in registers {
        f.extend_from_slice(&r.to_be_bytes());
    }
    append_crc(&mut f);
    f
}

/// Encodes an exception reply.
pub fn encode_exception(address: u8, function: u8, code: u8) -> Vec<u8> {
    let mut f = vec![address, function | 0x80, code];
    append_crc(&mut f);
    f
}

/// Parses a complete read request frame (8 bytes, fn 3 or 4, valid CRC).
pub fn parse_read_request(frame: &[u8]) -> Option<ReadRequest> {
    if frame.len() != 8 || !crc_ok(frame) || !matches!(frame[1], 0x03 | 0x04) {
        return None;
    }
    Some(ReadRequest {
        address: frame[0],
        function: frame[1],
        start: u16::from_be_bytes([frame[2], frame[3]]),
        count: u16::from_be_bytes([frame[4], frame[5]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16(b"123456789"), 0x4B37);
    }

    /// Every verified request of protocols.md §1.3.
    #[test]
    fn known_request_frames() {
        let cases: &[(u8, u16, u16, &str)] = &[
            (1, 0, 39, "01 03 00 00 00 27 05 D0"),
            (2, 0, 39, "02 03 00 00 00 27 05 E3"),
            (2, 105, 23, "02 03 00 69 00 17 D5 EB"),
            (1, 0, 47, "01 03 00 00 00 2F 04 16"),
            (0x40, 0, 47, "40 03 00 00 00 2F 0B 07"),
            (1, 45, 91, "01 03 00 2D 00 5B 94 38"),
            (1, 19, 17, "01 03 00 13 00 11 74 03"),
        ];
        for &(addr, start, count, hex) in cases {
            let got = ReadRequest::holding(addr, start, count).encode();
            assert_eq!(crate::hexfmt::spaced(&got), hex);
            assert_eq!(
                parse_read_request(&got),
                Some(ReadRequest::holding(addr, start, count))
            );
        }
        // Write frames of §1.3 carry valid CRCs too.
        for hex in [
            "01 06 00 39 00 14 59 C8",
            "01 10 00 2D 00 04 08 67 11 18 6E 00 08 05 00 F4 5A",
        ] {
            assert!(crc_ok(&crate::hexfmt::parse(hex).unwrap()));
        }
    }

    /// Another pack's late (or repeated) reply ahead of the polled pack's own is passed over;
    /// alone, it is named in the error.
    #[test]
    fn a_reply_from_another_address_is_skipped() {
        let req = ReadRequest::holding(1, 0, 39);
        let regs: Vec<u16> = (0..39).collect();
        let mut buf = wombatt();
        buf.extend(encode_read_reply(1, 3, &regs));
        assert_eq!(
            scan_reply(&buf, &req),
            ReplyScan::Done {
                registers: regs,
                stray: wombatt().len()
            }
        );
        assert_eq!(scan_reply(&wombatt(), &req), ReplyScan::Incomplete);
        let mut two = wombatt();
        two.extend(wombatt());
        assert_eq!(
            reply_error(&two, &req),
            ReplyError::WrongAddress {
                expected: 1,
                got: 2
            }
        );
        // A foreign reply then a cut-off own reply: the own reply is what is explained.
        let mut cut = wombatt();
        cut.extend(&encode_read_reply(1, 3, &[0; 39])[..20]);
        assert_eq!(
            reply_error(&cut, &req),
            ReplyError::Truncated {
                expected: 83,
                got: 20
            }
        );
    }

    fn wombatt() -> Vec<u8> {
        let text = include_str!("../../testdata/lp4/wombatt-status.hex");
        crate::hexfmt::parse(text).unwrap()
    }

    #[test]
    fn real_reply_parses() {
        let req = ReadRequest::holding(2, 0, 39);
        let regs = parse_reply(&wombatt(), &req).unwrap();
        assert_eq!(regs.len(), 39);
        assert_eq!(regs[0], 0x14F6);
        assert_eq!(regs[38], 0);
    }

    #[test]
    fn reply_errors_are_named() {
        let req = ReadRequest::holding(2, 0, 39);
        let mut bad = wombatt();
        bad[10] ^= 1;
        assert!(matches!(
            parse_reply(&bad, &req),
            Err(ReplyError::BadCrc { .. })
        ));
        assert_eq!(
            parse_reply(&wombatt()[..50], &req),
            Err(ReplyError::Truncated {
                expected: 83,
                got: 50
            })
        );
        let other = ReadRequest::holding(1, 0, 39);
        assert_eq!(
            parse_reply(&wombatt(), &other),
            Err(ReplyError::WrongAddress {
                expected: 1,
                got: 2
            })
        );
        let short = ReadRequest::holding(2, 0, 10);
        assert!(matches!(
            parse_reply(&wombatt(), &short),
            Err(ReplyError::WrongLength {
                expected: 20,
                got: 78
            })
        ));
        let exc = encode_exception(2, 3, 2);
        assert_eq!(crate::hexfmt::spaced(&exc), "02 83 02 30 F1");
        assert_eq!(
            parse_reply(&exc, &req),
            Err(ReplyError::Exception { code: 2 })
        );
        assert_eq!(
            ReplyError::Exception { code: 2 }.to_string(),
            "exception 0x02 (illegal data address)"
        );
    }

    #[test]
    fn reply_found_behind_noise() {
        let req = ReadRequest::holding(2, 0, 39);
        let mut buf = vec![0xFF, 0x00, 0x13];
        buf.extend(wombatt());
        buf.push(0xAA);
        match scan_reply(&buf, &req) {
            ReplyScan::Done { registers, stray } => {
                assert_eq!(registers.len(), 39);
                assert_eq!(stray, 4);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(scan_reply(&buf[..40], &req), ReplyScan::Incomplete);
    }

    #[test]
    fn encode_reply_round_trips() {
        let regs: Vec<u16> = (0..47).map(|i| i * 1000).collect();
        let frame = encode_read_reply(0x40, 3, &regs);
        assert_eq!(
            parse_reply(&frame, &ReadRequest::holding(0x40, 0, 47)),
            Ok(regs)
        );
    }

    proptest! {
        #[test]
        fn scanning_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..300),
                                 addr in any::<u8>(), count in 0u16..130) {
            let req = ReadRequest::holding(addr, 0, count);
            let _ = scan_reply(&buf, &req);
            let _ = reply_error(&buf, &req);
            let _ = parse_reply(&buf, &req);
            let _ = parse_read_request(&buf);
        }
    }
}
