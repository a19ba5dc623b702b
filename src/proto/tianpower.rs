//! Legacy EG4 LifePower "7E … 0D" binary protocol (TianPower BMS), protocols.md §2.
//!
//! First-generation EG4 LifePower packs, Narada NPFC and Revov packs speak it at
//! 9600 8N1. Requests and replies share one frame layout (§2.1): a start byte, the
//! DIP-switch address, a command, a one-byte payload length `N`, the payload, one
//! checksum byte and an end byte, `N + 6` bytes in all. The checksum is
//! `(sum mod 256) XOR (xor)` over every byte from the start byte through the last
//! payload byte (§2.2).
//!
//! A real status reply (§2.4, 94 bytes), annotated:
//!
//! ```text
//! 7E                        SOI (0x7C on some TianPower firmware, e.g. Revov)
//! 01                        address 1 (DIP switch, 0x00–0x0F; the reply echoes it)
//! 01                        command 0x01, read status
//! 58                        N = 88 payload bytes
//! 01 10 0C B0 0C A6 … 0C 9F group 0x01, 16 words: cells, mV = word & 0x3FFF (3248 …);
//!                           bits 14/15 are flags seen on cells at about 3.45 V and up
//! 02 01 84 A7               group 0x02: current (30000 − 33959) / 100 = −39.59 A
//! 03 01 23 0A               group 0x03: SOC 8970 / 100 = 89.70 %
//! 04 01 27 10               group 0x04: full capacity 100.00 Ah
//! 05 06 00 41 … 80 43 20 42 group 0x05: six temperatures, (word & 0xFF) − 50 °C
//!                           = 15 15 15 14 | 17 | 16: four cell probes, then the MOS sensor
//!                           (high byte 0x80 or 0x40) and the ambient one (0x20), §2.7
//! 06 05 00 00 00 02 …       group 0x06: five status words; word 2 low byte 2 = discharging
//! 07 01 00 01               group 0x07: 1 cycle
//! 08 01 14 33               group 0x08: pack voltage 51.71 V
//! 09 01 27 10               group 0x09: SOH 100.00 %
//! 0A 01 00 00               group 0x0A: meaning unknown, kept raw
//! 96                        CHK: sum 0x2D XOR xor 0xBB
//! 0D                        EOI
//! ```
//!
//! Layers, each pure (no I/O): [`scan`] finds frames in an accumulating read buffer,
//! [`parse_frame`] validates one frame, [`parse_status`] decodes a command 0x01
//! payload by walking its group counts (never fixed offsets, decision 3), and the
//! `encode_*` functions build requests and simulated replies.

use crate::proto::codec::{Decoded, Judge, Request};
use crate::record::Info;
use thiserror::Error;

/// Start-of-frame byte used by EG4 and Narada packs (§2.1).
pub const SOI: u8 = 0x7E;
/// Alternative start byte accepted and sent by some TianPower firmware (Revov, §2.1).
pub const SOI_ALT: u8 = 0x7C;
/// End-of-frame byte (§2.1).
pub const EOI: u8 = 0x0D;

/// Read status; the reply payload is decoded by [`parse_status`] (§2.3).
pub const CMD_STATUS: u8 = 0x01;
/// Read the firmware/model string; see [`clean_string`] (§2.5).
pub const CMD_FIRMWARE: u8 = 0x33;
/// Read the hardware version string; see [`clean_string`] (§2.5).
pub const CMD_HARDWARE: u8 = 0x42;

/// Bytes around the payload: SOI, address, command, length, CHK, EOI (§2.1).
pub const OVERHEAD: usize = 6;
/// Longest possible frame: a 255-byte payload plus [`OVERHEAD`].
pub const MAX_FRAME_LEN: usize = 255 + OVERHEAD;

/// Group ids of the status reply payload (§2.3). Wire ids; dbus-serialbattery's
/// 0-based "group k" is wire id k + 1.
pub mod group {
    /// Cell voltages, one word per cell.
    pub const CELLS: u8 = 0x01;
    /// Pack current, one word.
    pub const CURRENT: u8 = 0x02;
    /// State of charge, one word.
    pub const SOC: u8 = 0x03;
    /// Full capacity, one word.
    pub const CAPACITY: u8 = 0x04;
    /// Temperatures, normally six words.
    pub const TEMPERATURES: u8 = 0x05;
    /// Status words, normally five.
    pub const STATUS: u8 = 0x06;
    /// Cycle count, one word.
    pub const CYCLES: u8 = 0x07;
    /// Pack voltage, one word.
    pub const PACK_VOLTAGE: u8 = 0x08;
    /// State of health, one word.
    pub const SOH: u8 = 0x09;
}

/// Whether `byte` can start a frame: [`SOI`] or [`SOI_ALT`] (§2.1).
pub fn is_soi(byte: u8) -> bool {
    byte == SOI || byte == SOI_ALT
}

/// The §2.2 checksum: (sum of `bytes` mod 256) XOR (bitwise XOR of `bytes`).
///
/// Pass every byte from SOI through the last payload byte, i.e. a frame without
/// its CHK and EOI. It is not a CRC; eg4-battery's `0x100 − (addr + cmd + len)`
/// agrees with it only for address 1, command 1.
pub fn checksum(bytes: &[u8]) -> u8 {
    let (sum, xor) = bytes
        .iter()
        .fold((0u8, 0u8), |(sum, xor), &b| (sum.wrapping_add(b), xor ^ b));
    sum ^ xor
}

/// A read request with an empty payload and the [`SOI`] start byte (§2.2 table),
/// e.g. `encode_request(1, CMD_STATUS)` = `7E 01 01 00 FE 0D`.
///
/// The checksum is always computed: it differs per address and command (§2.2).
pub fn encode_request(address: u8, command: u8) -> [u8; 6] {
    let chk = checksum(&[SOI, address, command, 0]);
    [SOI, address, command, 0, chk, EOI]
}

/// Why a frame or a status payload could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The start byte is neither [`SOI`] nor [`SOI_ALT`].
    #[error("start byte 0x{0:02X} is not an SOI (0x7E or 0x7C)")]
    BadSoi(u8),
    /// The payload is longer than the one-byte length field allows (255).
    #[error("payload of {0} bytes does not fit the one-byte length field (max 255)")]
    PayloadTooLong(usize),
    /// A status group has more words than its one-byte count allows (255).
    #[error("group 0x{group:02X} has {count} words, its count byte allows at most 255")]
    TooManyWords {
        /// Group id.
        group: u8,
        /// Number of words the group would hold.
        count: usize,
    },
    /// A status value is NaN or outside the range its wire encoding can carry.
    #[error("value {index} of group 0x{group:02X} does not fit its wire encoding")]
    OutOfRange {
        /// Group id.
        group: u8,
        /// Index of the offending value within the group (0 for single values).
        index: usize,
    },
}

/// Build a complete frame (§2.1) around `payload`, e.g. a simulated reply.
///
/// `soi` must be [`SOI`] or [`SOI_ALT`] and `payload` at most 255 bytes, so the
/// result always passes [`parse_frame`].
pub fn encode_frame(
    soi: u8,
    address: u8,
    command: u8,
    payload: &[u8],
) -> Result<Vec<u8>, EncodeError> {
    if !is_soi(soi) {
        return Err(EncodeError::BadSoi(soi));
    }
    let len =
        u8::try_from(payload.len()).map_err(|_| EncodeError::PayloadTooLong(payload.len()))?;
    let mut frame = Vec::with_capacity(payload.len() + OVERHEAD);
    frame.extend_from_slice(&[soi, address, command, len]);
    frame.extend_from_slice(payload);
    frame.push(checksum(&frame));
    frame.push(EOI);
    Ok(frame)
}

/// One validated frame, borrowing its payload from the input (§2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Start byte as received: [`SOI`] or [`SOI_ALT`].
    pub soi: u8,
    /// DIP-switch address, 0x00–0x0F on real packs (not enforced).
    pub address: u8,
    /// Command byte, e.g. [`CMD_STATUS`].
    pub command: u8,
    /// The `N` payload bytes.
    pub payload: &'a [u8],
}

/// Why bytes are not a valid frame. Offsets count from the frame's first byte.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// Fewer bytes than the shortest frame (6).
    #[error("frame too short: {len} bytes, a frame has at least 6")]
    TooShort {
        /// Number of bytes given.
        len: usize,
    },
    /// Byte 0 is neither [`SOI`] nor [`SOI_ALT`].
    #[error("bad start byte 0x{found:02X} at byte 0, expected 0x7E or 0x7C")]
    BadSoi {
        /// The byte found.
        found: u8,
    },
    /// The length byte (offset 3) does not match the number of bytes given.
    #[error("length byte {declared} at byte 3 means a {expected}-byte frame, got {actual} bytes")]
    LengthMismatch {
        /// Payload length `N` from byte 3.
        declared: u8,
        /// Frame length implied by it, `N + 6`.
        expected: usize,
        /// Number of bytes given.
        actual: usize,
    },
    /// The byte after the checksum is not [`EOI`].
    #[error("missing EOI at byte {offset}: expected 0x0D, found 0x{found:02X}")]
    MissingEoi {
        /// Offset of the byte that should be EOI, `N + 5`.
        offset: usize,
        /// The byte found there.
        found: u8,
    },
    /// The checksum byte does not match the §2.2 rule.
    #[error(
        "checksum mismatch at byte {offset}: frame says 0x{frame:02X}, computed 0x{computed:02X}"
    )]
    BadChecksum {
        /// Offset of the checksum byte, `N + 4`.
        offset: usize,
        /// Checksum carried by the frame.
        frame: u8,
        /// Checksum computed over SOI … last payload byte.
        computed: u8,
    },
}

/// Validate exactly one frame: SOI, length byte (total = N + 6), EOI, checksum (§2.1, §2.2).
///
/// EOI is checked before the checksum: a wrong EOI usually means a false start or
/// a corrupt length byte, which would make the checksum comparison meaningless.
pub fn parse_frame(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    let &[soi, address, command, declared, ..] = bytes else {
        return Err(FrameError::TooShort { len: bytes.len() });
    };
    if !is_soi(soi) {
        return Err(FrameError::BadSoi { found: soi });
    }
    if bytes.len() < OVERHEAD {
        return Err(FrameError::TooShort { len: bytes.len() });
    }
    let expected = usize::from(declared) + OVERHEAD;
    if bytes.len() != expected {
        return Err(FrameError::LengthMismatch {
            declared,
            expected,
            actual: bytes.len(),
        });
    }
    // Length checked above, so these indices are in bounds.
    let (body, chk, eoi) = (
        &bytes[..expected - 2],
        bytes[expected - 2],
        bytes[expected - 1],
    );
    if eoi != EOI {
        return Err(FrameError::MissingEoi {
            offset: expected - 1,
            found: eoi,
        });
    }
    let computed = checksum(body);
    if chk != computed {
        return Err(FrameError::BadChecksum {
            offset: expected - 2,
            frame: chk,
            computed,
        });
    }
    Ok(Frame {
        soi,
        address,
        command,
        payload: &body[4..],
    })
}

/// What [`scan`] found at the start of a read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// The buffer is empty or holds the start of a frame that is not complete yet.
    /// Read more bytes and scan again. A false start (0x7E/0x7C in line noise)
    /// can claim up to [`MAX_FRAME_LEN`] bytes, so a reader should also drop its
    /// buffer after an idle timeout.
    NeedMore,
    /// `buf[..len]` is a complete frame that passes [`parse_frame`].
    Frame {
        /// Frame length, `N + 6`; never more than the buffer.
        len: usize,
    },
    /// Drop `buf[..skip]` (at least 1 byte, at most the whole buffer) and scan again;
    /// the buffer then starts at the next possible SOI.
    Garbage {
        /// Bytes to drop.
        skip: usize,
        /// `None` for bytes before a start byte; otherwise why the frame
        /// candidate at the start of the buffer was rejected (for logging).
        reason: Option<FrameError>,
    },
}

/// Find the next frame at the start of an accumulating read buffer (§2.1).
///
/// Reads the 4 header bytes, then waits for `N + 2` more and validates the
/// candidate. A rejected candidate costs one byte: the scan resumes at the next
/// 0x7E/0x7C after it. Never panics and never looks past `buf`.
pub fn scan(buf: &[u8]) -> Scan {
    let Some(&first) = buf.first() else {
        return Scan::NeedMore;
    };
    if !is_soi(first) {
        return Scan::Garbage {
            skip: next_soi(buf, 0),
            reason: None,
        };
    }
    let Some(&declared) = buf.get(3) else {
        return Scan::NeedMore;
    };
    let len = usize::from(declared) + OVERHEAD;
    let Some(candidate) = buf.get(..len) else {
        return Scan::NeedMore;
    };
    match parse_frame(candidate) {
        Ok(_) => Scan::Frame { len },
        Err(reason) => Scan::Garbage {
            skip: next_soi(buf, 1),
            reason: Some(reason),
        },
    }
}

/// Index of the first start byte at or after `from`, or `buf.len()` if none.
fn next_soi(buf: &[u8], from: usize) -> usize {
    buf.iter()
        .skip(from)
        .position(|&b| is_soi(b))
        .map_or(buf.len(), |i| from + i)
}

/// Decoded status reply (command 0x01) payload, §2.3.
///
/// Every group is optional: a reply missing a group leaves its field `None` (or
/// empty). Vectors keep the group's word count, so 15- and 16-cell packs both fit.
/// [`encode_status`] is the inverse of [`parse_status`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// Group 0x01: cell voltages in mV (`word & 0x3FFF`, §2.7).
    pub cells_mv: Vec<u16>,
    /// Group 0x01: bits 14–15 of each cell word (`word >> 14`), seen set on cells at about
    /// 3.45 V and above (§2.7: 0x8D9A → 3.482 V, 0x4D85 → 3.461 V); same length as
    /// `cells_mv`.
    pub cell_flags: Vec<u8>,
    /// Group 0x02: current in A, `(30000 − word) / 100`; positive = charging (decision 2).
    pub current_a: Option<f64>,
    /// Group 0x03: state of charge in %, `word / 100`.
    pub soc_pct: Option<f64>,
    /// Group 0x04: full capacity in Ah, `word / 100`.
    pub capacity_ah: Option<f64>,
    /// Group 0x05: temperatures in °C, `(word & 0xFF) − 50`, all of them (six on
    /// known packs; powermon calls them T1–T4, MOS, environment).
    pub temperatures_c: Vec<i16>,
    /// Group 0x05: the high byte of each temperature word; meaning unknown (0x80 and
    /// 0x20 seen on words 5 and 6, §2.3 status G). Same length as `temperatures_c`.
    pub temperature_high_bytes: Vec<u8>,
    /// Group 0x06: all status words, raw. Only the state ([`Status::state`]) is
    /// confirmed; other bits (dbus-serialbattery's protection bits 3–7 of word 2)
    /// are guesses (§2.3, status G) and deliberately not decoded.
    pub status_words: Vec<u16>,
    /// Group 0x07: cycle count.
    pub cycles: Option<u16>,
    /// Group 0x08: pack voltage in V, `word / 100`.
    pub pack_voltage_v: Option<f64>,
    /// Group 0x09: state of health in %, `word / 100`.
    pub soh_pct: Option<f64>,
    /// Groups kept raw, in wire order: unknown ids (0x0A and any other), repeats of
    /// an id already decoded, and single-value groups whose count is not 1.
    pub undecoded_groups: Vec<(u8, Vec<u16>)>,
}

/// Group 0x05's sensors told apart (§2.7): the cell probes, the MOSFET sensor and the
/// ambient sensor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sensors {
    pub probes: Vec<i16>,
    pub mos: Option<i16>,
    pub env: Option<i16>,
}

impl Status {
    /// Sorts the temperatures by the tag in each word's high byte: 0x40 or 0x80 the MOSFET
    /// sensor, 0x20 the ambient one, no tag a cell probe (§2.7, both real replies). A
    /// six-word group without any tag follows powermon's naming: T1–T4, MOS, ambient.
    pub fn sensors(&self) -> Sensors {
        let temps = &self.temperatures_c;
        let high = |i: usize| self.temperature_high_bytes.get(i).copied().unwrap_or(0);
        let mut out = Sensors::default();
        let tagged = (0..temps.len()).any(|i| high(i) & 0xE0 != 0);
        if !tagged && temps.len() == 6 {
            out.probes = temps[..4].to_vec();
            out.mos = Some(temps[4]);
            out.env = Some(temps[5]);
            return out;
        }
        for (i, &t) in temps.iter().enumerate() {
            match high(i) {
                h if h & 0xC0 != 0 && out.mos.is_none() => out.mos = Some(t),
                h if h & 0x20 != 0 && out.env.is_none() => out.env = Some(t),
                _ => out.probes.push(t),
            }
        }
        out
    }

    /// Group 0x06 word 2 (1-based), low byte: 0 idle, 1 charging, 2 discharging
    /// (§2.3, powermon). `None` when the group has fewer than two words. The byte
    /// is returned whole: if the unconfirmed protection bits 3–7 are real, other
    /// values can appear.
    pub fn state(&self) -> Option<u8> {
        self.status_words.get(1).map(|&w| w.to_be_bytes()[1])
    }

    /// Decode one group into `self`; `false` if its id or word count is not one
    /// this module decodes. An empty group decodes to nothing, so it is kept raw (and a
    /// later group of the same id is decoded): that keeps [`encode_status`] the inverse.
    fn decode_group(&mut self, id: u8, words: &[u16]) -> bool {
        let hundredths = |w: u16| f64::from(w) / 100.0;
        match (id, words) {
            (group::CELLS | group::TEMPERATURES | group::STATUS, []) => return false,
            (group::CELLS, _) => {
                self.cells_mv = words.iter().map(|w| w & 0x3FFF).collect();
                self.cell_flags = words.iter().map(|w| (w >> 14) as u8).collect();
            }
            (group::CURRENT, &[w]) => {
                self.current_a = Some(f64::from(30_000 - i32::from(w)) / 100.0);
            }
            (group::SOC, &[w]) => self.soc_pct = Some(hundredths(w)),
            (group::CAPACITY, &[w]) => self.capacity_ah = Some(hundredths(w)),
            (group::TEMPERATURES, _) => {
                let (highs, lows): (Vec<u8>, Vec<u8>) = words
                    .iter()
                    .map(|w| (w.to_be_bytes()[0], w.to_be_bytes()[1]))
                    .unzip();
                self.temperatures_c = lows.iter().map(|&b| i16::from(b) - 50).collect();
                self.temperature_high_bytes = highs;
            }
            (group::STATUS, _) => self.status_words = words.to_vec(),
            (group::CYCLES, &[w]) => self.cycles = Some(w),
            (group::PACK_VOLTAGE, &[w]) => self.pack_voltage_v = Some(hundredths(w)),
            (group::SOH, &[w]) => self.soh_pct = Some(hundredths(w)),
            _ => return false,
        }
        true
    }
}

/// Why a status payload could not be walked. Offsets count from the first payload byte
/// (add 4 for the offset in the frame).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StatusError {
    /// The payload ends right after a group id, before its word count.
    #[error("group 0x{group:02X} at payload byte {offset} has no word count (payload ends)")]
    MissingCount {
        /// Group id.
        group: u8,
        /// Offset of the group id.
        offset: usize,
    },
    /// The payload ends inside a group's words.
    #[error(
        "group 0x{group:02X} at payload byte {offset} declares {count} words ({} bytes), only {available} bytes remain",
        usize::from(*count) * 2
    )]
    Truncated {
        /// Group id.
        group: u8,
        /// Offset of the group id.
        offset: usize,
        /// Word count from the group header.
        count: u8,
        /// Bytes left after the two header bytes.
        available: usize,
    },
}

/// Decode a command 0x01 reply payload (§2.3) by walking `{id, count, count × u16 BE}`
/// groups by their counts, never by fixed offsets (decision 3).
///
/// The first well-formed group of each known id (0x01–0x09) is decoded; everything
/// else is kept in [`Status::undecoded_groups`]. An empty payload gives an empty
/// [`Status`]. Only a group cut off by the end of the payload is an error.
pub fn parse_status(payload: &[u8]) -> Result<Status, StatusError> {
    let mut status = Status::default();
    let mut decoded = [false; 256];
    let mut offset = 0;
    while let Some(&id) = payload.get(offset) {
        let Some(&count) = payload.get(offset + 1) else {
            return Err(StatusError::MissingCount { group: id, offset });
        };
        let start = offset + 2;
        let end = start + usize::from(count) * 2;
        let Some(body) = payload.get(start..end) else {
            return Err(StatusError::Truncated {
                group: id,
                offset,
                count,
                available: payload.len() - start,
            });
        };
        let words: Vec<u16> = body
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        let slot = &mut decoded[usize::from(id)];
        if !*slot && status.decode_group(id, &words) {
            *slot = true;
        } else {
            status.undecoded_groups.push((id, words));
        }
        offset = end;
    }
    Ok(status)
}

/// Encode a [`Status`] as a command 0x01 reply payload (§2.3), the inverse of
/// [`parse_status`]; for simulators and round-trip tests.
///
/// Decoded groups come first in id order (0x01–0x09), each only if present (a
/// non-empty vector or `Some`), then [`Status::undecoded_groups`] in their order.
/// The §2.4 capture re-encodes byte for byte. Values round to the wire resolution
/// (0.01); missing `cell_flags` / `temperature_high_bytes` entries encode as 0.
/// Wrap the result with [`encode_frame`], which rejects payloads over 255 bytes.
pub fn encode_status(status: &Status) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    if !status.cells_mv.is_empty() {
        let words = status
            .cells_mv
            .iter()
            .enumerate()
            .map(|(index, &mv)| {
                if mv > 0x3FFF {
                    return Err(EncodeError::OutOfRange {
                        group: group::CELLS,
                        index,
                    });
                }
                let flags = status.cell_flags.get(index).copied().unwrap_or(0);
                Ok(mv | u16::from(flags & 3) << 14)
            })
            .collect::<Result<Vec<u16>, _>>()?;
        push_group(&mut out, group::CELLS, &words)?;
    }
    if let Some(amps) = status.current_a {
        let word = to_word(30_000.0 - amps * 100.0, group::CURRENT)?;
        push_group(&mut out, group::CURRENT, &[word])?;
    }
    push_hundredths(&mut out, group::SOC, status.soc_pct)?;
    push_hundredths(&mut out, group::CAPACITY, status.capacity_ah)?;
    if !status.temperatures_c.is_empty() {
        let words = status
            .temperatures_c
            .iter()
            .enumerate()
            .map(|(index, &celsius)| {
                let low =
                    u8::try_from(i32::from(celsius) + 50).map_err(|_| EncodeError::OutOfRange {
                        group: group::TEMPERATURES,
                        index,
                    })?;
                let high = status
                    .temperature_high_bytes
                    .get(index)
                    .copied()
                    .unwrap_or(0);
                Ok(u16::from_be_bytes([high, low]))
            })
            .collect::<Result<Vec<u16>, _>>()?;
        push_group(&mut out, group::TEMPERATURES, &words)?;
    }
    if !status.status_words.is_empty() {
        push_group(&mut out, group::STATUS, &status.status_words)?;
    }
    if let Some(cycles) = status.cycles {
        push_group(&mut out, group::CYCLES, &[cycles])?;
    }
    push_hundredths(&mut out, group::PACK_VOLTAGE, status.pack_voltage_v)?;
    push_hundredths(&mut out, group::SOH, status.soh_pct)?;
    for (id, words) in &status.undecoded_groups {
        push_group(&mut out, *id, words)?;
    }
    Ok(out)
}

/// Append `{id, count, words…}`.
fn push_group(out: &mut Vec<u8>, id: u8, words: &[u16]) -> Result<(), EncodeError> {
    let count = u8::try_from(words.len()).map_err(|_| EncodeError::TooManyWords {
        group: id,
        count: words.len(),
    })?;
    out.extend_from_slice(&[id, count]);
    for word in words {
        out.extend_from_slice(&word.to_be_bytes());
    }
    Ok(())
}

/// Append a single-word group holding `value × 100`, if present.
fn push_hundredths(out: &mut Vec<u8>, id: u8, value: Option<f64>) -> Result<(), EncodeError> {
    match value {
        Some(value) => push_group(out, id, &[to_word(value * 100.0, id)?]),
        None => Ok(()),
    }
}

/// Round to the nearest integer and check it fits a `u16`.
fn to_word(value: f64, group: u8) -> Result<u16, EncodeError> {
    let rounded = value.round();
    if (0.0..=f64::from(u16::MAX)).contains(&rounded) {
        // In range and integral, so the cast is exact.
        Ok(rounded as u16)
    } else {
        Err(EncodeError::OutOfRange { group, index: 0 })
    }
}

/// Text of a 0x33 (firmware/model) or 0x42 (hardware version) reply payload (§2.5):
/// printable ASCII only (other bytes are dropped, as the public drivers do), trimmed.
pub fn clean_string(payload: &[u8]) -> String {
    let text: String = payload
        .iter()
        .filter(|b| (0x20..=0x7E).contains(*b))
        .map(|&b| char::from(b))
        .collect();
    text.trim().to_owned()
}

// ---------------------------------------------------------------------------------------
// Readings: the contract's fields from a decoded status reply.

/// Protection bits that dbus-serialbattery reads from bits 3–7 of status word 2 (§2.3). No
/// public capture shows them set, so they are named after that one driver's reading; the
/// whole status words stay in `raw` as well.
pub const PROTECTION_BITS: [(u8, &str); 5] = [
    (3, "protection_overcurrent"),
    (4, "protection_overvoltage"),
    (5, "protection_undervoltage"),
    (6, "protection_charge_ot"),
    (7, "protection_charge_ut"),
];

/// The readings-contract fields of a status reply (units: V, A, %, Ah, °C).
pub fn fields(s: &Status) -> crate::record::Fields {
    use crate::record::{Fields, Value};
    let mut f = Fields::new();
    if let Some(v) = s.pack_voltage_v {
        f.float("pack_voltage", v);
    }
    if let Some(a) = s.current_a {
        f.float("pack_current", a);
    }
    if let Some(v) = s.soc_pct {
        f.float("soc", v);
    }
    if let Some(v) = s.soh_pct {
        f.float("soh", v);
    }
    if !s.cells_mv.is_empty() {
        let v: Vec<f64> = s.cells_mv.iter().map(|&m| f64::from(m) / 1000.0).collect();
        f.set("cell_voltages", Value::Floats(v.clone()));
        f.add_cell_stats(&v);
        f.int("cell_count", v.len() as i64);
    }
    let sensors = s.sensors();
    if !sensors.probes.is_empty() {
        let t = sensors.probes.iter().map(|&c| i64::from(c)).collect();
        f.set("temperatures", Value::Ints(t));
    }
    if let Some(t) = sensors.mos {
        f.int("temperature_mos", t);
    }
    if let Some(t) = sensors.env {
        f.int("temperature_env", t);
    }
    if let Some(v) = s.capacity_ah {
        f.float("capacity_ah", v);
    }
    if let Some(v) = s.cycles {
        f.int("cycle_count", v);
    }
    if let Some(byte) = s.state() {
        let state = match byte & 0x07 {
            0 => "idle",
            1 => "charging",
            2 => "discharging",
            _ => "unknown",
        };
        f.set("state", Value::Text(state.into()));
        for (bit, name) in PROTECTION_BITS {
            f.bool(name, byte >> bit & 1 == 1);
        }
    }
    f
}

/// What the fields leave out, for a reading's `raw`: the status words (with their
/// undocumented bits, e.g. 0x1000 in word 2 on a real 15-cell pack, §2.7), the temperature
/// high bytes (the sensor tags), the cells with flag bits and those bits (`word >> 14`), and
/// undecoded groups (keyed by id: `"0x0a"`, "BMS protection status bits" per one integrator,
/// 0x0000 and 0x4000 seen).
pub fn raw(s: &Status) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    if !s.status_words.is_empty() {
        m.insert("status_words".into(), s.status_words.clone().into());
    }
    if s.temperature_high_bytes.iter().any(|&b| b != 0) {
        m.insert(
            "temperature_high_bytes".into(),
            s.temperature_high_bytes.clone().into(),
        );
    }
    if s.cell_flags.iter().any(|&b| b != 0) {
        let (cells, values): (Vec<usize>, Vec<u8>) = (1..)
            .zip(&s.cell_flags)
            .filter(|(_, &f)| f != 0)
            .map(|(i, &f)| (i, f))
            .unzip();
        m.insert("cell_flag_bits".into(), cells.into());
        m.insert("cell_flag_values".into(), values.into());
    }
    if !s.undecoded_groups.is_empty() {
        let mut g = serde_json::Map::new();
        for (id, words) in &s.undecoded_groups {
            g.insert(format!("0x{id:02x}"), words.clone().into());
        }
        m.insert("groups".into(), g.into());
    }
    m
}

/// Judges the bytes received for a request of `command` to `address` (shared by eg4-7e-query
/// and bms-poll's engine): the reply payload, or why none came. Replies of other packs or to
/// other commands are passed over; the answer may still follow them.
pub fn judge_reply(buf: &[u8], address: u8, command: u8, last: bool) -> Judge {
    let mut pos = 0;
    let mut why: Option<String> = None;
    while pos < buf.len() {
        match scan(&buf[pos..]) {
            Scan::Frame { len } => match parse_frame(&buf[pos..pos + len]) {
                Ok(f) if f.address != address || f.command != command => {
                    why = Some(if f.address != address {
                        format!("reply from address {} while polling {address}", f.address)
                    } else {
                        format!(
                            "reply to command {:#04x}, expected {command:#04x}",
                            f.command
                        )
                    });
                    pos += len;
                }
                Ok(f) => return Judge::Done(Ok(f.payload.to_vec())),
                Err(e) => return Judge::Done(Err(e.to_string())),
            },
            Scan::Garbage { skip, reason } => {
                if let Some(r) = reason {
                    why = Some(r.to_string());
                }
                pos += skip;
            }
            Scan::NeedMore => break,
        }
    }
    match (last, why) {
        (true, Some(why)) => Judge::Done(Err(why)),
        (true, None) if pos >= buf.len() => {
            Judge::Done(Err(format!("{} byte(s) of noise, no frame", buf.len())))
        }
        (true, None) => Judge::Done(Err(format!("short reply: {} byte(s)", buf.len() - pos))),
        (false, Some(_)) => Judge::Settle,
        (false, None) => Judge::More,
    }
}

/// The 7E/0D codec for bms-poll's engine: status (0x01) every cycle; firmware (0x33) and
/// hardware (0x42) strings once per connection, whichever the pack answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codec;

impl crate::proto::codec::Codec for Codec {
    fn identity(&self, address: u8) -> Vec<Request> {
        [CMD_FIRMWARE, CMD_HARDWARE]
            .into_iter()
            .map(|c| Request::optional(encode_request(address, c).to_vec(), c))
            .collect()
    }

    fn status(&self, address: u8) -> Vec<Request> {
        vec![Request::required(
            encode_request(address, CMD_STATUS).to_vec(),
            CMD_STATUS,
        )]
    }

    fn judge(
        &self,
        address: u8,
        req: &Request,
        _prior: &[Option<Vec<u8>>],
        buf: &[u8],
        last: bool,
    ) -> Judge {
        judge_reply(buf, address, req.what, last)
    }

    fn decode(&self, _address: u8, answers: &[Option<Vec<u8>>]) -> Result<Decoded, String> {
        let payload = answers
            .first()
            .and_then(Option::as_deref)
            .ok_or("no status")?;
        let status = parse_status(payload).map_err(|e| format!("status reply: {e}"))?;
        Ok(Decoded {
            fields: fields(&status),
            raw: raw(&status),
        })
    }

    fn decode_identity(&self, _address: u8, answers: &[Option<Vec<u8>>]) -> Option<Info> {
        let text = |i: usize| {
            answers
                .get(i)
                .and_then(Option::as_deref)
                .map(clean_string)
                .filter(|s| !s.is_empty())
        };
        let info = Info {
            firmware: text(0),
            hardware: text(1),
            ..Info::default()
        };
        (!info.is_empty()).then_some(info)
    }

    fn probe(&self, address: u8) -> Request {
        Request::required(encode_request(address, CMD_STATUS).to_vec(), CMD_STATUS)
    }

    fn check_probe(&self, _address: u8, answer: &[u8]) -> Result<Info, String> {
        let status = parse_status(answer).map_err(|e| format!("status reply: {e}"))?;
        if status.cells_mv.is_empty() || status.cells_mv.len() > 32 {
            return Err(format!("{} cells", status.cells_mv.len()));
        }
        Ok(Info::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// §2.4: the real 94-byte status reply (slim-bean/powermon eg4_test.go).
    const CAPTURE: [u8; 94] = [
        0x7E, 0x01, 0x01, 0x58, //
        0x01, 0x10, 0x0C, 0xB0, 0x0C, 0xA6, 0x0C, 0xA8, 0x0C, 0x95, 0x0C, 0x98, 0x0C, 0xB0, 0x0C,
        0x94, 0x0C, 0xAF, 0x0C, 0x95, 0x0C, 0x96, 0x0C, 0xA8, 0x0C, 0x92, 0x0C, 0xA7, 0x0C, 0x94,
        0x0C, 0xA7, 0x0C, 0x9F, //
        0x02, 0x01, 0x84, 0xA7, //
        0x03, 0x01, 0x23, 0x0A, //
        0x04, 0x01, 0x27, 0x10, //
        0x05, 0x06, 0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x40, 0x80, 0x43, 0x20, 0x42, //
        0x06, 0x05, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x07, 0x01, 0x00, 0x01, //
        0x08, 0x01, 0x14, 0x33, //
        0x09, 0x01, 0x27, 0x10, //
        0x0A, 0x01, 0x00, 0x00, //
        0x96, 0x0D,
    ];

    const REVOV_MODEL: &[u8] = b"TP-BD16S48V150-V3.1.29";

    fn capture_status() -> Status {
        parse_status(parse_frame(&CAPTURE).unwrap().payload).unwrap()
    }

    #[test]
    fn request_frames_match_section_2_2_table() {
        let table: [[u8; 6]; 14] = [
            [0x7E, 0x01, 0x01, 0x00, 0xFE, 0x0D],
            [0x7E, 0x01, 0x42, 0x00, 0xFC, 0x0D],
            [0x7E, 0x01, 0x33, 0x00, 0xFE, 0x0D],
            [0x7E, 0x00, 0x01, 0x00, 0x00, 0x0D],
            [0x7E, 0x02, 0x01, 0x00, 0xFC, 0x0D],
            [0x7E, 0x03, 0x01, 0x00, 0xFE, 0x0D],
            [0x7E, 0x04, 0x01, 0x00, 0xF8, 0x0D],
            [0x7E, 0x08, 0x01, 0x00, 0xF0, 0x0D],
            [0x7E, 0x0A, 0x01, 0x00, 0xFC, 0x0D],
            [0x7E, 0x0B, 0x01, 0x00, 0xFE, 0x0D],
            [0x7E, 0x0C, 0x01, 0x00, 0xF8, 0x0D],
            [0x7E, 0x0D, 0x01, 0x00, 0xFE, 0x0D],
            [0x7E, 0x0E, 0x01, 0x00, 0xFC, 0x0D],
            [0x7E, 0x0F, 0x01, 0x00, 0xFE, 0x0D],
        ];
        for frame in table {
            assert_eq!(encode_request(frame[1], frame[2]), frame, "{frame:02X?}");
        }
        let revov: [[u8; 6]; 4] = [
            [0x7C, 0x01, 0x42, 0x00, 0x80, 0x0D],
            [0x7C, 0x01, 0x33, 0x00, 0xFE, 0x0D],
            [0x7C, 0x01, 0x06, 0x00, 0xF8, 0x0D],
            [0x7C, 0x01, 0x01, 0x00, 0x02, 0x0D],
        ];
        for frame in revov {
            assert_eq!(
                encode_frame(SOI_ALT, frame[1], frame[2], &[]).unwrap(),
                frame,
                "{frame:02X?}"
            );
            assert!(parse_frame(&frame).is_ok());
        }
    }

    #[test]
    fn status_requests_for_every_address() {
        // §2.2 lists 00–04, 08, 0A–0F; 05, 06, 07, 09 follow the same rule.
        let chk = [
            0x00, 0xFE, 0xFC, 0xFE, 0xF8, 0xFE, 0xFC, 0xFE, 0xF0, 0xFE, 0xFC, 0xFE, 0xF8, 0xFE,
            0xFC, 0xFE,
        ];
        for (address, chk) in (0u8..).zip(chk) {
            assert_eq!(
                encode_request(address, CMD_STATUS),
                [SOI, address, CMD_STATUS, 0, chk, EOI]
            );
        }
    }

    #[test]
    fn firmware_and_hardware_checksums_depend_on_address() {
        // §2.2: 0x33 needs FC FA FC F2 FC FA FC 82 at addresses 0 3 4 7 8 11 12 15;
        // 0x42 is FC everywhere.
        for (address, chk) in [
            (0, 0xFC),
            (3, 0xFA),
            (4, 0xFC),
            (7, 0xF2),
            (8, 0xFC),
            (11, 0xFA),
            (12, 0xFC),
            (15, 0x82),
        ] {
            assert_eq!(
                encode_request(address, CMD_FIRMWARE)[4],
                chk,
                "address {address}"
            );
        }
        for address in 0..16 {
            assert_eq!(encode_request(address, CMD_HARDWARE)[4], 0xFC);
        }
    }

    #[test]
    fn real_status_reply_decodes_to_section_2_4_values() {
        let frame = parse_frame(&CAPTURE).unwrap();
        assert_eq!(
            (frame.soi, frame.address, frame.command),
            (SOI, 1, CMD_STATUS)
        );
        assert_eq!(frame.payload.len(), 88);
        let status = parse_status(frame.payload).unwrap();
        assert_eq!(
            status.cells_mv,
            [
                3248, 3238, 3240, 3221, 3224, 3248, 3220, 3247, 3221, 3222, 3240, 3218, 3239, 3220,
                3239, 3231
            ]
        );
        assert_eq!(status.cell_flags, [0; 16]);
        assert_eq!(status.current_a, Some(-39.59));
        assert_eq!(status.soc_pct, Some(89.70));
        assert_eq!(status.capacity_ah, Some(100.00));
        assert_eq!(status.temperatures_c, [15, 15, 15, 14, 17, 16]);
        assert_eq!(status.temperature_high_bytes, [0, 0, 0, 0, 0x80, 0x20]);
        assert_eq!(status.status_words, [0, 2, 0, 0, 0]);
        assert_eq!(status.state(), Some(2));
        assert_eq!(status.cycles, Some(1));
        assert_eq!(status.pack_voltage_v, Some(51.71));
        assert_eq!(status.soh_pct, Some(100.00));
        assert_eq!(status.undecoded_groups, [(0x0A, vec![0])]);
    }

    #[test]
    fn real_status_reply_reencodes_byte_for_byte() {
        let payload = encode_status(&capture_status()).unwrap();
        assert_eq!(encode_frame(SOI, 1, CMD_STATUS, &payload).unwrap(), CAPTURE);
    }

    #[test]
    fn revov_firmware_reply_parses_and_cleans() {
        let mut bytes = vec![0x7C, 0x01, 0x33, 0x16];
        bytes.extend_from_slice(REVOV_MODEL);
        bytes.extend_from_slice(&[0xE2, 0x0D]);
        let frame = parse_frame(&bytes).unwrap();
        assert_eq!(
            (frame.soi, frame.address, frame.command),
            (SOI_ALT, 1, CMD_FIRMWARE)
        );
        assert_eq!(clean_string(frame.payload), "TP-BD16S48V150-V3.1.29");
        assert_eq!(
            encode_frame(SOI_ALT, 1, CMD_FIRMWARE, REVOV_MODEL).unwrap(),
            bytes
        );
    }

    #[test]
    fn clean_string_drops_non_printables_and_trims() {
        assert_eq!(clean_string(b"\0 B\r\n\x01"), "B");
        assert_eq!(
            clean_string(b"3QT-YS00\xFF-16SV100A-V3.5\0\0"),
            "3QT-YS00-16SV100A-V3.5"
        );
        assert_eq!(clean_string(b""), "");
    }

    #[test]
    fn fifteen_cell_pack_decodes_fifteen_cells() {
        let mut status = capture_status();
        status.cells_mv.pop();
        status.cell_flags.pop();
        let payload = encode_status(&status).unwrap();
        // Same shape as the powerforum 15-cell example: `7e 01 01 56 01 0f …`.
        assert_eq!(payload.len(), 0x56);
        assert_eq!(payload[..2], [0x01, 0x0F]);
        let frame = encode_frame(SOI, 1, CMD_STATUS, &payload).unwrap();
        let decoded = parse_status(parse_frame(&frame).unwrap().payload).unwrap();
        assert_eq!(decoded.cells_mv.len(), 15);
        assert_eq!(decoded, status);
        assert_eq!(decoded.pack_voltage_v, Some(51.71));
    }

    #[test]
    fn cell_flag_bits_14_and_15_are_split_off() {
        // §2.7: 0x8D9A → 3.482 V (powermon), 0x4D85 → 3.461 V (dbus-serialbattery#155)
        let status = parse_status(&[0x01, 0x03, 0x8D, 0x9A, 0x0D, 0x9A, 0x4D, 0x85]).unwrap();
        assert_eq!(status.cells_mv, [3482, 3482, 3461]);
        assert_eq!(status.cell_flags, [2, 0, 1]);
        let r = raw(&status);
        assert_eq!(r["cell_flag_bits"], serde_json::json!([1, 3]));
        assert_eq!(r["cell_flag_values"], serde_json::json!([2, 1]));
    }

    #[test]
    fn current_sign_positive_when_charging() {
        let decode = |word: u16| parse_status(&[0x02, 0x01, (word >> 8) as u8, word as u8]);
        assert_eq!(decode(0x7530).unwrap().current_a, Some(0.0));
        assert_eq!(decode(0x6E4C).unwrap().current_a, Some(17.64));
        assert_eq!(decode(0x84A7).unwrap().current_a, Some(-39.59));
    }

    #[test]
    fn missing_groups_leave_fields_empty() {
        let status = parse_status(&[0x08, 0x01, 0x14, 0x33]).unwrap();
        assert_eq!(status.pack_voltage_v, Some(51.71));
        assert_eq!(status.current_a, None);
        assert_eq!(status.state(), None);
        assert!(status.cells_mv.is_empty());
        assert_eq!(parse_status(&[]).unwrap(), Status::default());
    }

    #[test]
    fn duplicate_unknown_and_misshapen_groups_are_kept_raw() {
        let payload = [
            0x02, 0x02, 0x00, 0x01, 0x00, 0x02, // current with 2 words: not decoded
            0x02, 0x01, 0x75, 0x30, // current 0 A: decoded
            0x02, 0x01, 0x00, 0x00, // repeat: kept raw
            0x0B, 0x00, // unknown id, no words
        ];
        let status = parse_status(&payload).unwrap();
        assert_eq!(status.current_a, Some(0.0));
        assert_eq!(
            status.undecoded_groups,
            [(0x02, vec![1, 2]), (0x02, vec![0]), (0x0B, vec![])]
        );
        let again = parse_status(&encode_status(&status).unwrap()).unwrap();
        assert_eq!(again, status);
    }

    #[test]
    fn truncated_group_names_id_and_offset() {
        let payload = &CAPTURE[4..4 + 50];
        let err = parse_status(payload).unwrap_err();
        assert_eq!(
            err,
            StatusError::Truncated {
                group: 0x05,
                offset: 46,
                count: 6,
                available: 2
            }
        );
        assert_eq!(
            err.to_string(),
            "group 0x05 at payload byte 46 declares 6 words (12 bytes), only 2 bytes remain"
        );
        assert_eq!(
            parse_status(&CAPTURE[4..4 + 85]).unwrap_err().to_string(),
            "group 0x0A at payload byte 84 has no word count (payload ends)"
        );
    }

    #[test]
    fn parse_frame_reports_each_defect() {
        let mut bad = CAPTURE;
        bad[92] = 0x95;
        let err = parse_frame(&bad).unwrap_err();
        assert_eq!(
            err,
            FrameError::BadChecksum {
                offset: 92,
                frame: 0x95,
                computed: 0x96
            }
        );
        assert_eq!(
            err.to_string(),
            "checksum mismatch at byte 92: frame says 0x95, computed 0x96"
        );

        let mut bad = CAPTURE;
        bad[93] = 0x0A;
        assert_eq!(
            parse_frame(&bad).unwrap_err().to_string(),
            "missing EOI at byte 93: expected 0x0D, found 0x0A"
        );
        assert_eq!(
            parse_frame(&CAPTURE[..90]).unwrap_err(),
            FrameError::LengthMismatch {
                declared: 88,
                expected: 94,
                actual: 90
            }
        );
        assert_eq!(
            parse_frame(&[0x7F, 1, 1, 0, 0xFE, 0x0D]).unwrap_err(),
            FrameError::BadSoi { found: 0x7F }
        );
        assert_eq!(
            parse_frame(&[0x7E, 1, 1, 0, 0xFE]).unwrap_err(),
            FrameError::TooShort { len: 5 }
        );
    }

    #[test]
    fn encode_rejects_what_cannot_be_sent() {
        assert_eq!(
            encode_frame(SOI, 1, 1, &[0; 256]).unwrap_err(),
            EncodeError::PayloadTooLong(256)
        );
        assert_eq!(
            encode_frame(0x7D, 1, 1, &[]).unwrap_err(),
            EncodeError::BadSoi(0x7D)
        );
        let too_hot = Status {
            temperatures_c: vec![20, 300],
            ..Status::default()
        };
        assert_eq!(
            encode_status(&too_hot).unwrap_err(),
            EncodeError::OutOfRange {
                group: group::TEMPERATURES,
                index: 1
            }
        );
        let nan = Status {
            soc_pct: Some(f64::NAN),
            ..Status::default()
        };
        assert!(encode_status(&nan).is_err());
        let many = Status {
            status_words: vec![0; 256],
            ..Status::default()
        };
        assert_eq!(
            encode_status(&many).unwrap_err(),
            EncodeError::TooManyWords {
                group: group::STATUS,
                count: 256
            }
        );
    }

    #[test]
    fn scan_skips_garbage_before_soi() {
        let request = encode_request(1, CMD_STATUS);
        let mut buf = vec![0x00, 0x11, 0x0D];
        buf.extend_from_slice(&request);
        assert_eq!(
            scan(&buf),
            Scan::Garbage {
                skip: 3,
                reason: None
            }
        );
        assert_eq!(scan(&buf[3..]), Scan::Frame { len: 6 });
        assert_eq!(
            scan(&[0x01, 0x02]),
            Scan::Garbage {
                skip: 2,
                reason: None
            }
        );
    }

    #[test]
    fn scan_waits_for_a_split_frame() {
        assert_eq!(scan(&[]), Scan::NeedMore);
        assert_eq!(scan(&CAPTURE[..3]), Scan::NeedMore);
        assert_eq!(scan(&CAPTURE[..50]), Scan::NeedMore);
        assert_eq!(scan(&CAPTURE[..93]), Scan::NeedMore);
        assert_eq!(scan(&CAPTURE), Scan::Frame { len: 94 });
        let mut two = CAPTURE.to_vec();
        two.extend_from_slice(&encode_request(2, CMD_STATUS));
        assert_eq!(scan(&two), Scan::Frame { len: 94 });
    }

    #[test]
    fn scan_rejects_bad_checksum_with_reason_and_resyncs() {
        let mut buf = CAPTURE.to_vec();
        buf[92] = 0x95;
        buf.extend_from_slice(&encode_request(1, CMD_STATUS));
        let Scan::Garbage {
            skip,
            reason: Some(reason),
        } = scan(&buf)
        else {
            panic!("expected a rejected candidate");
        };
        assert_eq!(skip, 94);
        assert_eq!(
            reason.to_string(),
            "checksum mismatch at byte 92: frame says 0x95, computed 0x96"
        );
        assert_eq!(scan(&buf[skip..]), Scan::Frame { len: 6 });
    }

    #[test]
    fn scan_rejects_false_start_by_one_byte() {
        // 0x7E in noise followed by a real frame: the false start claims 6 bytes,
        // fails EOI, and the scan resumes at the real SOI.
        let mut buf = vec![0x7E, 0x00, 0x00, 0x00];
        buf.extend_from_slice(&encode_request(3, CMD_STATUS));
        assert_eq!(
            scan(&buf),
            Scan::Garbage {
                skip: 4,
                reason: Some(FrameError::MissingEoi {
                    offset: 5,
                    found: 0x03
                })
            }
        );
        assert_eq!(scan(&buf[4..]), Scan::Frame { len: 6 });
    }

    /// A reader loop: append `chunks` one by one, drain with [`scan`], collect frames.
    fn frames_from_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
        let mut buf = Vec::new();
        let mut frames = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match scan(&buf) {
                    Scan::NeedMore => break,
                    Scan::Frame { len } => {
                        frames.push(buf.drain(..len).collect());
                    }
                    Scan::Garbage { skip, .. } => {
                        buf.drain(..skip);
                    }
                }
            }
        }
        frames
    }

    /// Byte streams that mix noise with valid frames, so scan sees both.
    fn stream() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..12),
            (
                any::<u8>(),
                any::<u8>(),
                prop::collection::vec(any::<u8>(), 0..40)
            )
                .prop_map(|(address, command, payload)| {
                    encode_frame(SOI, address, command, &payload).unwrap()
                }),
            Just(CAPTURE.to_vec()),
        ];
        prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
    }

    prop_compose! {
        fn arb_status()(
            cells in prop::collection::vec((0u16..=0x3FFF, 0u8..=3), 0..20),
            current in prop::option::of(any::<u16>()),
            soc in prop::option::of(any::<u16>()),
            capacity in prop::option::of(any::<u16>()),
            temps in prop::collection::vec((-50i16..=205, any::<u8>()), 0..8),
            status_words in prop::collection::vec(any::<u16>(), 0..8),
            cycles in prop::option::of(any::<u16>()),
            volts in prop::option::of(any::<u16>()),
            soh in prop::option::of(any::<u16>()),
            undecoded in prop::collection::vec(
                (prop_oneof![Just(0u8), 0x0Au8..=0xFF], prop::collection::vec(any::<u16>(), 0..4)),
                0..3,
            ),
        ) -> Status {
            let hundredths = |w: Option<u16>| w.map(|w| f64::from(w) / 100.0);
            let (cells_mv, cell_flags) = cells.into_iter().unzip();
            let (temperatures_c, temperature_high_bytes) = temps.into_iter().unzip();
            Status {
                cells_mv,
                cell_flags,
                current_a: current.map(|w| f64::from(30_000 - i32::from(w)) / 100.0),
                soc_pct: hundredths(soc),
                capacity_ah: hundredths(capacity),
                temperatures_c,
                temperature_high_bytes,
                status_words,
                cycles,
                pack_voltage_v: hundredths(volts),
                soh_pct: hundredths(soh),
                undecoded_groups: undecoded,
            }
        }
    }

    /// Found by the fuzzer (fuzz/tianpower_reply): an empty cell group followed by a full one
    /// used to decode as "no cells", and re-encoding then decoded the second group instead.
    #[test]
    fn an_empty_group_is_kept_raw_and_the_next_one_decoded() {
        let payload = [0x01, 0x00, 0x01, 0x01, 0x0C, 0xB0, 0x05, 0x00, 0x06, 0x00];
        let s = parse_status(&payload).unwrap();
        assert_eq!(s.cells_mv, vec![0x0CB0]);
        assert_eq!(
            s.undecoded_groups,
            vec![(0x01, vec![]), (0x05, vec![]), (0x06, vec![])]
        );
        let again = parse_status(&encode_status(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    proptest! {
        #[test]
        fn parse_frame_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_frame(&bytes);
        }

        #[test]
        fn parse_status_never_panics_and_reencodes(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            if let Ok(status) = parse_status(&bytes) {
                let payload = encode_status(&status).unwrap();
                prop_assert_eq!(parse_status(&payload).unwrap(), status);
            }
        }

        #[test]
        fn scan_stays_inside_the_buffer(
            bytes in prop_oneof![prop::collection::vec(any::<u8>(), 0..300), stream()],
        ) {
            match scan(&bytes) {
                Scan::NeedMore => {
                    prop_assert!(bytes.first().is_none_or(|&b| is_soi(b)));
                }
                Scan::Frame { len } => {
                    prop_assert!((OVERHEAD..=bytes.len()).contains(&len));
                    prop_assert!(parse_frame(&bytes[..len]).is_ok());
                }
                Scan::Garbage { skip, .. } => {
                    prop_assert!((1..=bytes.len()).contains(&skip));
                }
            }
        }

        #[test]
        fn scan_finds_the_same_frames_however_reads_are_split(
            bytes in stream(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            cuts.push(0);
            cuts.push(bytes.len());
            cuts.sort_unstable();
            let chunks = cuts.windows(2).map(|w| &bytes[w[0]..w[1]]);
            prop_assert_eq!(frames_from_chunks(chunks), frames_from_chunks([bytes.as_slice()]));
        }

        #[test]
        fn encode_then_parse_status_round_trips(status in arb_status()) {
            let payload = encode_status(&status).unwrap();
            prop_assert_eq!(parse_status(&payload).unwrap(), status);
        }
    }

    /// testdata/eg4-7e/powermon-status.hex (the §2.4 capture) decodes to exactly the reading
    /// in powermon-status.ndjson; `UPDATE_GENERATED=1` rewrites the expectation.
    #[test]
    fn golden_reading() {
        use crate::record::{Info, Reading, Record};
        let bytes = crate::hexfmt::parse(include_str!("../../testdata/eg4-7e/powermon-status.hex"))
            .unwrap();
        assert_eq!(bytes, CAPTURE);
        let frame = parse_frame(&bytes).unwrap();
        let status = parse_status(frame.payload).unwrap();
        let reading = Record::Reading(Reading {
            ts: crate::time::Timestamp {
                unix_ms: 1_666_742_400_000,
            },
            source: "eg4-7e",
            device: "lifepower-1".into(),
            fields: fields(&status),
            info: Info::default(),
            raw: raw(&status),
        });
        let got = serde_json::to_string(&reading).unwrap() + "\n";
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/eg4-7e/powermon-status.ndjson"
        );
        if std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1") {
            std::fs::write(path, &got).unwrap();
        }
        assert_eq!(got, std::fs::read_to_string(path).unwrap());
        for (name, _) in fields(&status).iter() {
            assert!(
                crate::catalog::lookup(name).is_some(),
                "{name} missing from the catalogue"
            );
        }
    }

    /// testdata/eg4-7e/narada-15cell.hex (the §2.7 15-cell reply) decodes to the values §2.7
    /// gives and to exactly narada-15cell.ndjson; `UPDATE_GENERATED=1` rewrites the latter.
    #[test]
    fn golden_fifteen_cell_reading() {
        use crate::record::{Info, Reading, Record, Value};
        let bytes =
            crate::hexfmt::parse(include_str!("../../testdata/eg4-7e/narada-15cell.hex")).unwrap();
        let frame = parse_frame(&bytes).unwrap();
        assert_eq!(
            (frame.soi, frame.address, bytes[bytes.len() - 2]),
            (SOI, 1, 0x4E)
        );
        let status = parse_status(frame.payload).unwrap();
        let f = fields(&status);
        let cells = match f.get("cell_voltages") {
            Some(Value::Floats(c)) => c.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(cells.len(), 15);
        assert_eq!((cells[0], cells[14]), (3.322, 3.324));
        assert_eq!(f.get("pack_current"), Some(&Value::Float(0.0)));
        assert_eq!(f.get("soc"), Some(&Value::Float(75.0)));
        assert_eq!(f.get("capacity_ah"), Some(&Value::Float(100.24)));
        assert_eq!(f.get("temperatures"), Some(&Value::Ints(vec![18; 4])));
        assert_eq!(f.get("temperature_mos"), Some(&Value::Int(21)));
        assert_eq!(f.get("temperature_env"), Some(&Value::Int(20)));
        assert_eq!(f.get("cycle_count"), Some(&Value::Int(1)));
        assert_eq!(f.get("pack_voltage"), Some(&Value::Float(49.81)));
        assert_eq!(f.get("soh"), Some(&Value::Float(100.0)));
        let r = raw(&status);
        assert_eq!(r["status_words"], serde_json::json!([0, 0x1000, 0, 0, 0]));
        assert_eq!(r["groups"]["0x0a"], serde_json::json!([0x4000]));
        assert_eq!(
            r["temperature_high_bytes"],
            serde_json::json!([0, 0, 0, 0, 0x40, 0x20])
        );
        let reading = Record::Reading(Reading {
            ts: crate::time::Timestamp {
                unix_ms: 1_700_000_000_000,
            },
            source: "eg4-7e",
            device: "narada-1".into(),
            fields: f,
            info: Info::default(),
            raw: r,
        });
        let got = serde_json::to_string(&reading).unwrap() + "\n";
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/eg4-7e/narada-15cell.ndjson"
        );
        if std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1") {
            std::fs::write(path, &got).unwrap();
        }
        assert_eq!(got, std::fs::read_to_string(path).unwrap());
    }

    /// §2.4: the tags 0x80 and 0x20 make words 5 and 6 the MOS and ambient sensors; without
    /// tags, six words follow powermon's T1–T4, MOS, ambient.
    #[test]
    fn temperature_sensors_are_told_apart() {
        let s = capture_status().sensors();
        assert_eq!(
            (s.probes, s.mos, s.env),
            (vec![15, 15, 15, 14], Some(17), Some(16))
        );
        let mut untagged = capture_status();
        untagged.temperature_high_bytes = vec![0; 6];
        assert_eq!(untagged.sensors(), capture_status().sensors());
        let mut four = capture_status();
        four.temperatures_c.truncate(4);
        four.temperature_high_bytes.truncate(4);
        let s = four.sensors();
        assert_eq!((s.probes.len(), s.mos, s.env), (4, None, None));
    }

    /// §2.7: the ASCII firmware reply, with 0x7E and with 0x7C as the start byte.
    #[test]
    fn firmware_reply_with_either_start_byte() {
        let mut bytes = vec![0x7E, 0x01, 0x33, 0x16];
        bytes.extend_from_slice(b"QT-YS00-16SV100A-V3.40");
        bytes.extend_from_slice(&[0xB8, 0x0D]);
        let f = parse_frame(&bytes).unwrap();
        assert_eq!(clean_string(f.payload), "QT-YS00-16SV100A-V3.40");
        assert_eq!(scan(&bytes), Scan::Frame { len: bytes.len() });
        let alt = encode_frame(SOI_ALT, 1, CMD_FIRMWARE, f.payload).unwrap();
        assert_eq!(scan(&alt), Scan::Frame { len: alt.len() });
        assert_eq!(parse_frame(&alt).unwrap().soi, SOI_ALT);
    }
}
