//! JK-B / JK-BD boards over the UART-TTL "GPS" port or an RS-485 adapter: `4E 57` frames
//! (protocols.md §15.2).
//!
//! 115200 8N1, no address: one pack per port. A frame is
//!
//! ```text
//! 4E 57        start
//! 01 1B        L, u16 BE, counted from these two bytes to the end: the frame is L + 2 bytes
//! 00 00 00 00  terminal number
//! 06           command: 0x06 read all (0x01 activate, 0x02 write, 0x05 password: never sent)
//! 00           source: 0 BMS, 1 BLE, 2 GPS, 3 PC
//! 01           type: 0 request, 1 reply, 2 active upload
//! 79 2A 01 0E ED ...   payload: tag, value; tag, value ... (widths per tag, values BE)
//! 00 00 00 00  record number
//! 68           end mark
//! 00 00 54 D1  checksum: 00 00, then the 16-bit sum of every byte before it
//! ```
//!
//! Read-only by construction: the one request this module builds is the constant read-all
//! frame [`READ_ALL`].

use crate::proto::codec::{self, Decoded, Judge};
use crate::record::{Fields, Info, Value};
use serde_json::{json, Map};
use thiserror::Error;

/// The read-all request (command 0x06 from a PC, record number 0): the only request.
pub const READ_ALL: [u8; 21] = [
    0x4E, 0x57, 0x00, 0x13, 0x00, 0x00, 0x00, 0x00, 0x06, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x68, 0x00, 0x00, 0x01, 0x29,
];

pub const START: [u8; 2] = [0x4E, 0x57];
/// Read all.
pub const CMD_READ_ALL: u8 = 0x06;
/// Start, length, terminal, command, source, type before the payload.
const HEAD: usize = 11;
/// Record number, end mark, checksum after it.
const TAIL: usize = 9;
/// A frame is at most this long (the read-all reply is about 285 bytes).
pub const MAX_FRAME: usize = 1024;

/// The checksum: the sum of `bytes` (everything before the checksum field).
pub fn checksum(bytes: &[u8]) -> u16 {
    bytes
        .iter()
        .fold(0u32, |a, &b| a.wrapping_add(u32::from(b))) as u16
}

/// What [`scan`] found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// A complete, valid frame of `len` bytes.
    Frame {
        len: usize,
    },
    /// Skip `skip` bytes (≥ 1).
    Garbage {
        skip: usize,
        reason: &'static str,
    },
    NeedMore,
}

/// The reason for bytes before a start: noise, not worth naming.
pub const BEFORE_START: &str = "bytes before the start 4E 57";

/// Looks for a frame at the start of `buf`: `4E 57`, a length that fits, the end mark and a
/// matching checksum.
pub fn scan(buf: &[u8]) -> Scan {
    if buf.is_empty() {
        return Scan::NeedMore;
    }
    if buf[0] != START[0] || (buf.len() > 1 && buf[1] != START[1]) {
        let skip = (1..buf.len())
            .find(|&i| buf[i] == START[0])
            .unwrap_or(buf.len());
        return Scan::Garbage {
            skip,
            reason: BEFORE_START,
        };
    }
    if buf.len() < 4 {
        return Scan::NeedMore;
    }
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 2;
    if !(HEAD + TAIL..=MAX_FRAME).contains(&len) {
        return Scan::Garbage {
            skip: 1,
            reason: "a length out of range",
        };
    }
    if buf.len() < len {
        return Scan::NeedMore;
    }
    if buf[len - 5] != 0x68 {
        return Scan::Garbage {
            skip: 1,
            reason: "no end mark 0x68 where the length says",
        };
    }
    let got = u16::from_be_bytes([buf[len - 2], buf[len - 1]]);
    if buf[len - 4..len - 2] != [0, 0] || got != checksum(&buf[..len - 4]) {
        return Scan::Garbage {
            skip: 1,
            reason: "bad checksum",
        };
    }
    Scan::Frame { len }
}

/// Why a frame cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("not a valid JK frame: {0}")]
    Frame(&'static str),
    #[error("not a read-all reply: command {command:#04x}, type {kind:#04x}")]
    NotReply { command: u8, kind: u8 },
    #[error("tag {tag:#04x} at payload byte {at}: needs {need} byte(s), {left} left")]
    Short {
        tag: u8,
        at: usize,
        need: usize,
        left: usize,
    },
    #[error("{0}")]
    Implausible(String),
}

/// The payload of a valid read-all reply frame.
pub fn reply_payload(frame: &[u8]) -> Result<&[u8], DecodeError> {
    match scan(frame) {
        Scan::Frame { len } if len == frame.len() => {}
        Scan::Frame { .. } => return Err(DecodeError::Frame("trailing bytes after the frame")),
        Scan::Garbage { reason, .. } => return Err(DecodeError::Frame(reason)),
        Scan::NeedMore => return Err(DecodeError::Frame("incomplete")),
    }
    if frame[8] != CMD_READ_ALL || frame[10] != 1 {
        return Err(DecodeError::NotReply {
            command: frame[8],
            kind: frame[10],
        });
    }
    Ok(&frame[HEAD..frame.len() - TAIL])
}

/// The width of a tag's value; None for a tag this walk does not know (it stops there).
fn width(tag: u8) -> Option<usize> {
    Some(match tag {
        0x80..=0x84 | 0x87 | 0x8A..=0x8C | 0xAD | 0xB0 => 2,
        0x85 | 0x86 | 0x9D | 0xA9 | 0xAB | 0xAC | 0xAE | 0xAF | 0xB1 | 0xB3 | 0xB8 | 0xC0 => 1,
        0x8E..=0xA8 => 2,
        0x89 | 0xAA | 0xB5 | 0xB6 | 0xB9 => 4,
        0xB2 => 10,
        0xB4 => 8,
        0xB7 => 15,
        0xBA => 24,
        _ => return None,
    })
}

/// A read-all reply, walked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// (cell number, mV), in the order sent.
    pub cells: Vec<(u8, u16)>,
    /// MOSFET, T1 (box), T2 (battery), as sent (> 100 means negative).
    pub mos: Option<u16>,
    pub t1: Option<u16>,
    pub t2: Option<u16>,
    /// 10 mV units.
    pub voltage: Option<u16>,
    pub current_raw: Option<u16>,
    pub soc: Option<u8>,
    pub cycles: Option<u16>,
    pub cycle_capacity_ah: Option<u32>,
    pub cell_count: Option<u16>,
    pub warnings: Option<u16>,
    pub status: Option<u16>,
    pub capacity_ah: Option<u32>,
    pub device_id: Option<String>,
    pub date: Option<String>,
    pub working_minutes: Option<u32>,
    pub software: Option<String>,
    pub actual_capacity_ah: Option<u32>,
    pub manufacturer_id: Option<String>,
    pub protocol_version: Option<u8>,
    /// Where the walk stopped at an unknown tag: the rest of the payload, kept raw.
    pub rest: Vec<u8>,
}

fn ascii(b: &[u8]) -> String {
    b.iter()
        .filter(|c| c.is_ascii_graphic() || **c == b' ')
        .map(|&c| c as char)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Walks a read-all payload's tag-value list.
pub fn parse_status(p: &[u8]) -> Result<Status, DecodeError> {
    let mut s = Status::default();
    let mut i = 0;
    while i < p.len() {
        let tag = p[i];
        let at = i;
        i += 1;
        let w = if tag == 0x79 {
            let Some(&n) = p.get(i) else {
                return Err(DecodeError::Short {
                    tag,
                    at,
                    need: 1,
                    left: 0,
                });
            };
            i += 1;
            usize::from(n)
        } else {
            match width(tag) {
                Some(w) => w,
                None => {
                    s.rest = p[at..].to_vec();
                    break;
                }
            }
        };
        let Some(v) = p.get(i..i + w) else {
            return Err(DecodeError::Short {
                tag,
                at,
                need: w,
                left: p.len() - i,
            });
        };
        i += w;
        let u16v = || u16::from_be_bytes([v[0], v[1]]);
        let u32v = || u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
        match tag {
            0x79 => {
                if w % 3 != 0 {
                    return Err(DecodeError::Implausible(format!(
                        "cell list of {w} bytes is not a multiple of 3"
                    )));
                }
                s.cells = v
                    .chunks_exact(3)
                    .map(|c| (c[0], u16::from_be_bytes([c[1], c[2]])))
                    .collect();
            }
            0x80 => s.mos = Some(u16v()),
            0x81 => s.t1 = Some(u16v()),
            0x82 => s.t2 = Some(u16v()),
            0x83 => s.voltage = Some(u16v()),
            0x84 => s.current_raw = Some(u16v()),
            0x85 => s.soc = Some(v[0]),
            0x87 => s.cycles = Some(u16v()),
            0x89 => s.cycle_capacity_ah = Some(u32v()),
            0x8A => s.cell_count = Some(u16v()),
            0x8B => s.warnings = Some(u16v()),
            0x8C => s.status = Some(u16v()),
            0xAA => s.capacity_ah = Some(u32v()),
            0xB4 => s.device_id = Some(ascii(v)),
            0xB5 => s.date = Some(ascii(v)),
            0xB6 => s.working_minutes = Some(u32v()),
            0xB7 => s.software = Some(ascii(v)),
            0xB9 => s.actual_capacity_ah = Some(u32v()),
            0xBA => s.manufacturer_id = Some(ascii(v)),
            0xC0 => s.protocol_version = Some(v[0]),
            _ => {} // settings: not part of a reading
        }
    }
    Ok(s)
}

/// A temperature as sent: values above 100 are negative (101 = −1 °C).
pub fn temperature_c(raw: u16) -> f64 {
    if raw > 100 {
        100.0 - f64::from(raw)
    } else {
        f64::from(raw)
    }
}

/// The warning bits (tag 0x8B), bit n = entry n, as field names.
pub const WARNING_BITS: [&str; 12] = [
    "warning_low_capacity",
    "protection_mos_ot",
    "protection_pack_ov",
    "protection_pack_uv",
    "protection_battery_ot",
    "protection_charge_oc",
    "protection_discharge_oc",
    "protection_cell_imbalance",
    "protection_box_ot",
    "protection_battery_ut",
    "protection_cell_ov",
    "protection_cell_uv",
];

impl Status {
    /// The current in A, + = charging: with protocol version 1, bit 15 is the direction
    /// (1 = charging) and bits 0-14 are 10 mA; with version 0 (older firmware, or no 0xC0
    /// tag) the value is 10000 − raw in 10 mA, so above 10000 is discharging.
    pub fn current_a(&self) -> Option<f64> {
        let raw = self.current_raw?;
        let centi = if self.protocol_version == Some(1) {
            let mag = f64::from(raw & 0x7FFF);
            if raw & 0x8000 != 0 {
                mag
            } else {
                -mag
            }
        } else {
            10_000.0 - f64::from(raw)
        };
        Some((centi / 100.0 * 100.0).round() / 100.0)
    }

    pub fn cells_v(&self) -> Vec<f64> {
        self.cells
            .iter()
            .map(|&(_, mv)| f64::from(mv) / 1000.0)
            .collect()
    }

    /// What a JK-B sends (for detection, and against noise that passes the sum).
    pub fn plausible(&self) -> Result<(), DecodeError> {
        if self.cells.is_empty() || self.cells.len() > 32 {
            return Err(DecodeError::Implausible(format!(
                "{} cells",
                self.cells.len()
            )));
        }
        if self.voltage.is_none() {
            return Err(DecodeError::Implausible(
                "no pack voltage (tag 0x83)".into(),
            ));
        }
        if self.soc.is_some_and(|s| s > 100) {
            return Err(DecodeError::Implausible(format!(
                "SOC {} %",
                self.soc.unwrap_or(0)
            )));
        }
        Ok(())
    }
}

/// The reading's fields.
pub fn fields(s: &Status) -> Fields {
    let mut f = Fields::new();
    if let Some(v) = s.voltage {
        f.float("pack_voltage", f64::from(v) / 100.0);
    }
    if let Some(a) = s.current_a() {
        f.float("pack_current", a);
    }
    if let Some(soc) = s.soc {
        f.int("soc", soc);
    }
    let cells = s.cells_v();
    if !cells.is_empty() {
        f.add_cell_stats(&cells);
        f.set("cell_voltages", Value::Floats(cells));
    }
    if let Some(n) = s.cell_count {
        f.int("cell_count", n);
    }
    let temps: Vec<f64> = [s.t1, s.t2]
        .into_iter()
        .flatten()
        .map(temperature_c)
        .collect();
    if !temps.is_empty() {
        f.set("temperatures", Value::Floats(temps));
    }
    if let Some(t) = s.mos {
        f.float("temperature_mos", temperature_c(t));
    }
    if let Some(c) = s.capacity_ah {
        f.float("capacity_ah", f64::from(c));
    }
    if let Some(c) = s.cycles {
        f.int("cycle_count", c);
    }
    if let Some(st) = s.status {
        f.bool("charge_fet", st & 1 != 0);
        f.bool("discharge_fet", st & 2 != 0);
        f.bool("balancing", st & 4 != 0);
    }
    if let Some(w) = s.warnings {
        for (bit, name) in WARNING_BITS.iter().enumerate() {
            f.bool(name, w & (1 << bit) != 0);
        }
    }
    f
}

/// What the reading keeps undecoded.
pub fn raw(s: &Status) -> Map<String, serde_json::Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<serde_json::Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put("warnings", s.warnings.map(|v| json!(v)));
    put("status", s.status.map(|v| json!(v)));
    put("cycle_capacity_ah", s.cycle_capacity_ah.map(|v| json!(v)));
    put("working_minutes", s.working_minutes.map(|v| json!(v)));
    put("protocol_version", s.protocol_version.map(|v| json!(v)));
    put("date", s.date.clone().map(|v| json!(v)));
    put("actual_capacity_ah", s.actual_capacity_ah.map(|v| json!(v)));
    if !s.rest.is_empty() {
        put("undecoded", Some(json!(hex::encode(&s.rest))));
    }
    m
}

/// The pack's identity from the strings of a read-all reply.
pub fn info(s: &Status) -> Info {
    let some = |v: &Option<String>| v.clone().filter(|t| !t.is_empty());
    Info {
        manufacturer: Some("JK".into()),
        model: some(&s.device_id),
        firmware: some(&s.software),
        hardware: None,
        serial: some(&s.manufacturer_id),
    }
}

/// A reply frame with `payload` (simulators, tests).
pub fn encode_reply(payload: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(payload.len() + HEAD + TAIL - 2).ok()?;
    if usize::from(len) + 2 > MAX_FRAME {
        return None;
    }
    let mut f = Vec::with_capacity(usize::from(len) + 2);
    f.extend_from_slice(&START);
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, CMD_READ_ALL, 0, 1]);
    f.extend_from_slice(payload);
    f.extend_from_slice(&[0, 0, 0, 0, 0x68, 0, 0]);
    let c = checksum(&f).to_be_bytes();
    f.extend_from_slice(&c);
    Some(f)
}

/// The command of a well-formed request from a PC, if `frame` is one (simulators refuse
/// anything but the read-all).
pub fn parse_request(frame: &[u8]) -> Option<u8> {
    match scan(frame) {
        Scan::Frame { len } if len == frame.len() && frame[10] == 0 => Some(frame[8]),
        _ => None,
    }
}

/// The JK-B codec for the poll engine: the read-all request every cycle (and once per
/// connection for the identity strings it carries).
#[derive(Debug, Clone, Default)]
pub struct Codec {
    pub invert_current: bool,
}

fn req() -> codec::Request {
    codec::Request::required(READ_ALL.to_vec(), CMD_READ_ALL)
}

fn status_of(answer: &[u8]) -> Result<Status, String> {
    reply_payload(answer)
        .and_then(parse_status)
        .map_err(|e| e.to_string())
}

impl codec::Codec for Codec {
    fn identity(&self, _address: u8) -> Vec<codec::Request> {
        vec![req()]
    }

    fn status(&self, _address: u8) -> Vec<codec::Request> {
        vec![req()]
    }

    fn judge(
        &self,
        _address: u8,
        _req: &codec::Request,
        _prior: &[Option<Vec<u8>>],
        buf: &[u8],
        last: bool,
    ) -> Judge {
        let mut pos = 0;
        let mut why: Option<String> = None;
        while pos < buf.len() {
            match scan(&buf[pos..]) {
                Scan::Frame { len } => {
                    let frame = &buf[pos..pos + len];
                    if frame[10] == 0 {
                        // Our request, echoed by the adapter.
                        pos += len;
                        continue;
                    }
                    match reply_payload(frame) {
                        Ok(_) => return Judge::Done(Ok(frame.to_vec())),
                        Err(e) => why = Some(e.to_string()),
                    }
                    pos += len;
                }
                Scan::Garbage { skip, reason } => {
                    if reason != BEFORE_START {
                        why = Some(reason.to_string());
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
            (true, None) => Judge::Done(Err(format!(
                "short reply: {} byte(s) of a frame",
                buf.len() - pos
            ))),
            (false, Some(_)) => Judge::Settle,
            (false, None) => Judge::More,
        }
    }

    fn decode(&self, _address: u8, answers: &[Option<Vec<u8>>]) -> Result<Decoded, String> {
        let a = answers
            .first()
            .and_then(Option::as_deref)
            .ok_or("no read-all reply")?;
        let s = status_of(a)?;
        let mut fields = fields(&s);
        if self.invert_current {
            if let Some(a) = s.current_a() {
                let mut f = Fields::new();
                for (n, v) in fields.iter() {
                    if n == "pack_current" {
                        f.set(n.to_string(), Value::Float(-a));
                    } else {
                        f.set(n.to_string(), v.clone());
                    }
                }
                fields = f;
            }
        }
        Ok(Decoded {
            fields,
            raw: raw(&s),
        })
    }

    fn decode_identity(&self, _address: u8, answers: &[Option<Vec<u8>>]) -> Option<Info> {
        let a = answers.first().and_then(Option::as_deref)?;
        status_of(a).ok().map(|s| info(&s))
    }

    fn probe(&self, _address: u8) -> codec::Request {
        req()
    }

    fn check_probe(&self, _address: u8, answer: &[u8]) -> Result<Info, String> {
        let s = status_of(answer)?;
        s.plausible().map_err(|e| e.to_string())?;
        Ok(info(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    // protocols.md §15.2: a 14S JK-B (syssi/esphome-jk-bms docs/protocol-design-uart-ttl-gps-
    // port.md), decode published in tests/components/jk_bms/common.h.
    pub const REPLY_14S: &str = "4E 57 01 1B 00 00 00 00 06 00 01 79 2A 01 0E ED 02 0E FA 03 0E F7 04 0E EC 05 0E F8 06 0E FA 07 0E F1 08 0E F8 09 0E E3 0A 0E FA 0B 0E F1 0C 0E FB 0D 0E FB 0E 0E F2 80 00 1D 81 00 1E 82 00 1C 83 14 EF 84 80 D0 85 0F 86 02 87 00 04 89 00 00 00 00 8A 00 0E 8B 00 00 8C 00 07 8E 16 26 8F 10 AE 90 0F D2 91 0F A0 92 00 05 93 0B EA 94 0C 1C 95 00 05 96 01 2C 97 00 07 98 00 03 99 00 05 9A 00 05 9B 0C E4 9C 00 08 9D 01 9E 00 5A 9F 00 46 A0 00 64 A1 00 64 A2 00 14 A3 00 46 A4 00 46 A5 FF EC A6 FF F6 A7 FF EC A8 FF F6 A9 0E AA 00 00 00 0E AB 01 AC 01 AD 04 11 AE 01 AF 01 B0 00 0A B1 14 B2 31 32 33 34 35 36 00 00 00 00 B3 00 B4 49 6E 70 75 74 20 55 73 B5 32 31 30 31 B6 00 00 E2 00 B7 48 36 2E 58 5F 5F 53 36 2E 31 2E 33 53 5F 5F B8 00 B9 00 00 00 00 BA 42 54 33 30 37 32 30 32 30 31 32 30 30 30 30 32 30 30 35 32 31 30 30 31 C0 01 00 00 00 00 68 00 00 54 D1";

    #[test]
    fn the_request_is_the_published_read_all() {
        assert_eq!(
            READ_ALL.to_vec(),
            unhex("4E 57 00 13 00 00 00 00 06 03 00 00 00 00 00 00 68 00 00 01 29")
        );
        assert_eq!(scan(&READ_ALL), Scan::Frame { len: 21 });
        assert_eq!(parse_request(&READ_ALL), Some(CMD_READ_ALL));
        // Never activate, write or password.
        assert!(![0x01, 0x02, 0x05].contains(&READ_ALL[8]));
    }

    #[test]
    fn golden_14s_reply() {
        let frame = unhex(REPLY_14S);
        assert_eq!(frame.len(), 285);
        assert_eq!(scan(&frame), Scan::Frame { len: 285 });
        let s = parse_status(reply_payload(&frame).unwrap()).unwrap();
        assert!(s.rest.is_empty(), "{:02x?}", s.rest);
        let mv: Vec<u16> = s.cells.iter().map(|c| c.1).collect();
        assert_eq!(
            mv,
            [3821, 3834, 3831, 3820, 3832, 3834, 3825, 3832, 3811, 3834, 3825, 3835, 3835, 3826]
        );
        assert_eq!(s.current_a(), Some(2.08));
        assert_eq!(s.cell_count, Some(14));
        assert_eq!(s.status, Some(7));
        assert_eq!(s.working_minutes, Some(57_856));
        assert_eq!(s.software.as_deref(), Some("H6.X__S6.1.3S__"));
        s.plausible().unwrap();
        let f = fields(&s);
        let get = |n: &str| f.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        assert_eq!(get("pack_voltage"), Value::Float(53.59));
        assert_eq!(get("pack_current"), Value::Float(2.08));
        assert_eq!(get("soc"), Value::Int(15));
        assert_eq!(get("cycle_count"), Value::Int(4));
        assert_eq!(get("capacity_ah"), Value::Float(14.0));
        assert_eq!(get("temperature_mos"), Value::Float(29.0));
        assert_eq!(get("temperatures"), Value::Floats(vec![30.0, 28.0]));
        assert_eq!(get("cell_lowest"), Value::Int(9));
        assert_eq!(get("cell_voltage_delta_mv"), Value::Int(24));
        assert_eq!(get("charge_fet"), Value::Bool(true));
        assert_eq!(get("discharge_fet"), Value::Bool(true));
        assert_eq!(get("balancing"), Value::Bool(true));
        assert_eq!(get("protection_cell_ov"), Value::Bool(false));
        for (name, _) in f.iter() {
            let spec = crate::catalog::lookup(name).unwrap_or_else(|| panic!("{name}"));
            assert!(spec.sources.contains(&"jk"), "{name} lacks source jk");
        }
        let i = info(&s);
        assert_eq!(i.model.as_deref(), Some("Input Us"));
        assert_eq!(i.serial.as_deref(), Some("BT3072020120000200521001"));
        // Round trip through the simulator's encoder.
        assert_eq!(encode_reply(reply_payload(&frame).unwrap()).unwrap(), frame);
    }

    #[test]
    fn current_encodings_and_temperatures() {
        let s = |raw, v| Status {
            current_raw: Some(raw),
            protocol_version: v,
            ..Status::default()
        };
        assert_eq!(s(0x80D0, Some(1)).current_a(), Some(2.08));
        assert_eq!(s(0x00D0, Some(1)).current_a(), Some(-2.08));
        assert_eq!(s(10_208, Some(0)).current_a(), Some(-2.08));
        assert_eq!(s(9_792, None).current_a(), Some(2.08));
        assert_eq!(temperature_c(101), -1.0);
        assert_eq!(temperature_c(100), 100.0);
        assert_eq!(temperature_c(25), 25.0);
    }

    #[test]
    fn codec_skips_the_echo_and_judges() {
        use codec::Codec as _;
        let c = Codec::default();
        let r = req();
        let mut buf = READ_ALL.to_vec();
        buf.push(0);
        let reply = unhex(REPLY_14S);
        buf.extend(&reply);
        assert_eq!(
            c.judge(0, &r, &[], &buf, false),
            Judge::Done(Ok(reply.clone()))
        );
        assert_eq!(c.judge(0, &r, &[], &buf[..100], false), Judge::More);
        assert!(matches!(
            c.judge(0, &r, &[], &buf[..100], true),
            Judge::Done(Err(_))
        ));
        let d = c.decode(0, &[Some(reply.clone())]).unwrap();
        assert_eq!(d.fields.get("soc"), Some(&Value::Int(15)));
        let inv = Codec {
            invert_current: true,
        };
        let d = inv.decode(0, &[Some(reply.clone())]).unwrap();
        assert_eq!(d.fields.get("pack_current"), Some(&Value::Float(-2.08)));
        assert!(c.check_probe(0, &reply).is_ok());
        assert!(c.check_probe(0, &READ_ALL).is_err());
    }

    #[test]
    fn short_and_broken_payloads_are_errors() {
        assert!(matches!(
            parse_status(&[0x83, 0x14]),
            Err(DecodeError::Short { tag: 0x83, .. })
        ));
        assert!(parse_status(&[0x79, 0x04, 1, 2, 3, 4]).is_err());
        assert!(parse_status(&[0x79]).is_err());
        let s = parse_status(&[0x85, 50, 0xEE, 1, 2]).unwrap();
        assert_eq!((s.soc, s.rest.clone()), (Some(50), vec![0xEE, 1, 2]));
    }

    #[test]
    fn no_panic_on_any_prefix_or_flip() {
        let frame = unhex(REPLY_14S);
        for n in 0..=frame.len() {
            let _ = scan(&frame[..n]);
            let _ = reply_payload(&frame[..n]);
            let _ = parse_status(&frame[..n]).map(|s| fields(&s));
        }
        for i in 0..frame.len() {
            let mut f = frame.clone();
            f[i] ^= 0x5A;
            let _ = scan(&f);
            let _ = parse_status(&f[HEAD..]).map(|s| fields(&s));
        }
    }
}
