//! JBD / Jiabaida / Xiaoxiang / Overkill Solar BMS over UART or RS-485 (protocols.md §12).
//!
//! 9600 8N1, no address byte: one pack per line. A request is `DD A5 reg 00 chk chk 77`; a reply
//! is `DD reg status n data[n] chk chk 77`, 7 + n bytes. The checksum is 0x10000 minus the sum of
//! the bytes from offset 2 up to the last data byte (the echoed register is not summed).
//!
//! Real 0x04 reply (cells of a 4S pack, §12.4), annotated:
//!
//! ```text
//! DD                 start
//! 04                 register echo: cell voltages
//! 00                 status: OK
//! 08                 n = 8 data bytes
//! 0F 45 0F 3D 0F 37 0F 3D   four cells, u16 BE mV: 3.909 3.901 3.895 3.901 V
//! FE C6              checksum: 0x10000 − (00+08+0F+45+0F+3D+0F+37+0F+3D)
//! 77                 end
//! ```
//!
//! Read-only by construction: [`Register`] names the only registers a request can be built
//! for, and a request is always op `A5` (read) with no data. Op `5A` (writes: factory mode,
//! EEPROM save, FET switches) cannot be expressed.

use crate::proto::codec::{self, Decoded, Judge};
use crate::record::{Fields, Info, Value};
use serde_json::{json, Map};
use thiserror::Error;

/// Start byte of every frame.
pub const START: u8 = 0xDD;
/// End byte of every frame.
pub const END: u8 = 0x77;
/// Op code of a read request.
const OP_READ: u8 = 0xA5;
/// Header (start, register, status, length) and trailer (checksum, end) bytes.
pub const OVERHEAD: usize = 7;

/// The registers bmstap reads: the allow-list. Nothing else can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    /// 0x03: basic information (voltage, current, capacities, protection bits, SOC, NTCs).
    Basic,
    /// 0x04: cell voltages.
    Cells,
    /// 0x05: the model / hardware string.
    Model,
}

impl Register {
    /// Every register of the allow-list.
    pub const ALL: [Register; 3] = [Register::Basic, Register::Cells, Register::Model];

    /// The register number on the wire.
    pub fn code(self) -> u8 {
        match self {
            Register::Basic => 0x03,
            Register::Cells => 0x04,
            Register::Model => 0x05,
        }
    }

    pub fn from_code(code: u8) -> Option<Register> {
        Register::ALL.into_iter().find(|r| r.code() == code)
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Register::Basic => "basic info (0x03)",
            Register::Cells => "cell voltages (0x04)",
            Register::Model => "model (0x05)",
        }
    }
}

/// 0x10000 minus the sum of `bytes`, as sent (big-endian).
pub fn checksum(bytes: &[u8]) -> u16 {
    let sum: u32 = bytes.iter().map(|&b| u32::from(b)).sum();
    (0x1_0000u32.wrapping_sub(sum) & 0xFFFF) as u16
}

/// The read request for `reg`: `DD A5 reg 00 chk 77`.
pub fn request(reg: Register) -> [u8; 7] {
    let c = checksum(&[reg.code(), 0]).to_be_bytes();
    [START, OP_READ, reg.code(), 0, c[0], c[1], END]
}

/// [`Scan::Garbage`]'s reason for bytes ahead of a frame: line noise, not worth naming.
pub const BEFORE_START: &str = "bytes before the start byte 0xDD";

/// What [`scan`] found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// A complete, valid reply frame of `len` bytes starts at offset 0.
    Frame { len: usize },
    /// Not a reply: skip `skip` bytes (at least 1) and look again.
    Garbage { skip: usize, reason: &'static str },
    /// A frame may start here but is not complete.
    NeedMore,
}

/// Looks for a reply frame at the start of `buf`: a `DD`, a length that fits, a `77` where
/// the length says and a matching checksum. Our own request (op `A5`/`5A` in byte 1 cannot
/// be a register echo of a reply we read) is passed over, as an adapter's echo.
pub fn scan(buf: &[u8]) -> Scan {
    let Some(&first) = buf.first() else {
        return Scan::NeedMore;
    };
    if first != START {
        let skip = buf.iter().position(|&b| b == START).unwrap_or(buf.len());
        return Scan::Garbage {
            skip: skip.max(1),
            reason: BEFORE_START,
        };
    }
    if buf.len() >= 2 && (buf[1] == OP_READ || buf[1] == 0x5A) {
        // A request (ours echoed by the adapter, or another master's): 7 bytes with n = 0.
        if buf.len() < 4 {
            return Scan::NeedMore;
        }
        let len = OVERHEAD + usize::from(buf[3]);
        return Scan::Garbage {
            skip: len.min(buf.len()).max(1),
            reason: "a request, not a reply (the adapter echoes what it sends?)",
        };
    }
    if buf.len() < 4 {
        return Scan::NeedMore;
    }
    let len = OVERHEAD + usize::from(buf[3]);
    if buf.len() < len {
        return Scan::NeedMore;
    }
    if buf[len - 1] != END {
        return Scan::Garbage {
            skip: 1,
            reason: "no end byte 0x77 where the length says",
        };
    }
    let want = checksum(&buf[2..len - 3]);
    let got = u16::from_be_bytes([buf[len - 3], buf[len - 2]]);
    if want != got {
        return Scan::Garbage {
            skip: 1,
            reason: "bad checksum",
        };
    }
    Scan::Frame { len }
}

/// A valid reply frame's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub register: u8,
    pub status: u8,
    pub data: &'a [u8],
}

/// Why a reply frame or its data cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("not a valid JBD frame: {0}")]
    Frame(&'static str),
    #[error("the BMS answered {register} with error status {status:#04x}")]
    Status { register: &'static str, status: u8 },
    #[error("{what}: {len} data bytes, need {need}")]
    Short {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error("{0}")]
    Implausible(String),
}

/// Splits a complete frame (as [`scan`] found it) into its parts.
pub fn parse_frame(frame: &[u8]) -> Result<Reply<'_>, DecodeError> {
    match scan(frame) {
        Scan::Frame { len } if len == frame.len() => Ok(Reply {
            register: frame[1],
            status: frame[2],
            data: &frame[4..len - 3],
        }),
        Scan::Frame { .. } => Err(DecodeError::Frame("trailing bytes after the frame")),
        Scan::Garbage { reason, .. } => Err(DecodeError::Frame(reason)),
        Scan::NeedMore => Err(DecodeError::Frame("incomplete")),
    }
}

/// The data of a reply to `reg`, or why it is not one.
pub fn reply_data(frame: &[u8], reg: Register) -> Result<&[u8], DecodeError> {
    let r = parse_frame(frame)?;
    if r.register != reg.code() {
        return Err(DecodeError::Frame("reply to another register"));
    }
    if r.status != 0 {
        return Err(DecodeError::Status {
            register: reg.name(),
            status: r.status,
        });
    }
    Ok(r.data)
}

/// The 0x03 basic information, as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Basic {
    /// Pack voltage, 10 mV units.
    pub voltage_10mv: u16,
    /// Current, 10 mA units (100 mA with [`Basic::coarse`]), + = charging.
    pub current: i16,
    /// Remaining and nominal (full) capacity, 10 mAh units (100 mAh when coarse).
    pub remaining: u16,
    pub nominal: u16,
    pub cycles: u16,
    /// Production date, packed: bits 15–9 year − 2000, 8–5 month, 4–0 day.
    pub date: u16,
    /// Balance bits: cells 1–16, cells 17–32 (bit 0 = lowest cell).
    pub balance: [u16; 2],
    pub protection: u16,
    /// Software version byte: high nibble major, low minor.
    pub version: u8,
    pub soc: u8,
    /// Bit 0 charge FET on, bit 1 discharge FET on.
    pub fets: u8,
    pub cell_count: u8,
    /// NTC temperatures, 0.1 K units.
    pub ntc: Vec<u16>,
    /// Bytes after the NTCs (newer firmware), kept raw.
    pub extra: Vec<u8>,
}

impl Basic {
    /// Current and capacities in 100 mA / 100 mAh units: bit 7 of the first byte after the
    /// temperatures (aiobmsble `jbd_bms.py`, for packs whose 10 mA range would overflow).
    pub fn coarse(&self) -> bool {
        self.extra.first().is_some_and(|b| b & 0x80 != 0)
    }

    fn unit(&self) -> f64 {
        if self.coarse() {
            0.1
        } else {
            0.01
        }
    }

    pub fn current_a(&self) -> f64 {
        f64::from(self.current) * self.unit()
    }

    pub fn remaining_ah(&self) -> f64 {
        f64::from(self.remaining) * self.unit()
    }

    pub fn nominal_ah(&self) -> f64 {
        f64::from(self.nominal) * self.unit()
    }

    /// `YYYY-MM-DD`, or None when the field is zero.
    pub fn production_date(&self) -> Option<String> {
        (self.date != 0).then(|| {
            format!(
                "{:04}-{:02}-{:02}",
                2000 + (self.date >> 9),
                (self.date >> 5) & 0x0F,
                self.date & 0x1F
            )
        })
    }

    /// The software version as `major.minor`.
    pub fn software(&self) -> String {
        format!("{}.{}", self.version >> 4, self.version & 0x0F)
    }

    /// NTC temperatures in °C (one decimal).
    pub fn temperatures_c(&self) -> Vec<f64> {
        self.ntc
            .iter()
            .map(|&k| (f64::from(k) - 2731.0) / 10.0)
            .collect()
    }
}

/// Decodes the data of a 0x03 reply, walking the NTC count (never a fixed length).
pub fn parse_basic(d: &[u8]) -> Result<Basic, DecodeError> {
    const FIXED: usize = 23;
    if d.len() < FIXED {
        return Err(DecodeError::Short {
            what: "basic info",
            len: d.len(),
            need: FIXED,
        });
    }
    let u16at = |i: usize| u16::from_be_bytes([d[i], d[i + 1]]);
    let ntc_count = usize::from(d[22]);
    let need = FIXED + 2 * ntc_count;
    if d.len() < need {
        return Err(DecodeError::Short {
            what: "basic info with its NTCs",
            len: d.len(),
            need,
        });
    }
    Ok(Basic {
        voltage_10mv: u16at(0),
        current: u16at(2) as i16,
        remaining: u16at(4),
        nominal: u16at(6),
        cycles: u16at(8),
        date: u16at(10),
        balance: [u16at(12), u16at(14)],
        protection: u16at(16),
        version: d[18],
        soc: d[19],
        fets: d[20],
        cell_count: d[21],
        ntc: (0..ntc_count).map(|k| u16at(FIXED + 2 * k)).collect(),
        extra: d[need..].to_vec(),
    })
}

/// Decodes the data of a 0x04 reply: cell voltages in mV.
pub fn parse_cells(d: &[u8]) -> Result<Vec<u16>, DecodeError> {
    if !d.len().is_multiple_of(2) {
        return Err(DecodeError::Implausible(format!(
            "cell voltages: odd length {}",
            d.len()
        )));
    }
    Ok(d.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

/// Decodes a 0x05 reply: the model string (printable ASCII, trimmed).
pub fn parse_model(d: &[u8]) -> String {
    d.iter()
        .filter(|b| b.is_ascii_graphic() || **b == b' ')
        .map(|&b| b as char)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The protection bits of 0x03 word 16, as field names (bit n = entry n).
pub const PROTECTION_BITS: [&str; 13] = [
    "protection_cell_ov",
    "protection_cell_uv",
    "protection_pack_ov",
    "protection_pack_uv",
    "protection_charge_ot",
    "protection_charge_ut",
    "protection_discharge_ot",
    "protection_discharge_ut",
    "protection_charge_oc",
    "protection_discharge_oc",
    "protection_short_circuit",
    "protection_afe",
    "protection_fet_lock",
];

/// Checks that a basic-info reply is what a JBD sends (for detection: a checksum-valid frame
/// can still be noise that happens to match).
pub fn plausible(b: &Basic) -> Result<(), DecodeError> {
    if !(1..=32).contains(&b.cell_count) {
        return Err(DecodeError::Implausible(format!("{} cells", b.cell_count)));
    }
    if b.soc > 100 {
        return Err(DecodeError::Implausible(format!("SOC {} %", b.soc)));
    }
    if b.ntc.len() > 8 {
        return Err(DecodeError::Implausible(format!("{} NTCs", b.ntc.len())));
    }
    Ok(())
}

/// The reading's fields from a basic-info reply and (when it came) the cell voltages.
pub fn fields(b: &Basic, cells_mv: Option<&[u16]>) -> Fields {
    let mut f = Fields::new();
    f.float("pack_voltage", f64::from(b.voltage_10mv) / 100.0);
    f.float("pack_current", round(b.current_a(), 3));
    f.int("soc", b.soc);
    if let Some(cells) = cells_mv.filter(|c| !c.is_empty()) {
        let v: Vec<f64> = cells.iter().map(|&mv| f64::from(mv) / 1000.0).collect();
        f.add_cell_stats(&v);
        f.set("cell_voltages", Value::Floats(v));
    }
    f.int("cell_count", b.cell_count);
    if !b.ntc.is_empty() {
        f.set("temperatures", Value::Floats(b.temperatures_c()));
    }
    f.float("remaining_ah", round(b.remaining_ah(), 2));
    f.float("capacity_ah", round(b.nominal_ah(), 2));
    f.int("cycle_count", b.cycles);
    let mask = u32::from(b.balance[0]) | (u32::from(b.balance[1]) << 16);
    f.bool("balancing", mask != 0);
    f.int("balancing_mask", mask);
    f.bool("charge_fet", b.fets & 1 != 0);
    f.bool("discharge_fet", b.fets & 2 != 0);
    for (bit, name) in PROTECTION_BITS.iter().enumerate() {
        f.bool(name, b.protection & (1 << bit) != 0);
    }
    f
}

/// What the reading keeps undecoded.
pub fn raw(b: &Basic) -> Map<String, serde_json::Value> {
    let mut m = Map::new();
    m.insert("protection".into(), json!(b.protection));
    if let Some(d) = b.production_date() {
        m.insert("production_date".into(), json!(d));
    }
    if !b.extra.is_empty() {
        m.insert("extra".into(), json!(hex::encode(&b.extra)));
    }
    m
}

/// The pack's identity: the model string (0x05) and the software version (from 0x03).
pub fn info(model: Option<&str>, basic: Option<&Basic>) -> Info {
    Info {
        manufacturer: Some("JBD".into()),
        model: model.filter(|m| !m.is_empty()).map(str::to_string),
        firmware: basic.map(Basic::software),
        ..Info::default()
    }
}

fn round(v: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (v * k).round() / k
}

/// A reply frame for `reg` with `data` (simulators, tests).
pub fn encode_reply(register: u8, status: u8, data: &[u8]) -> Option<Vec<u8>> {
    let n = u8::try_from(data.len()).ok()?;
    let mut f = Vec::with_capacity(OVERHEAD + data.len());
    f.extend_from_slice(&[START, register, status, n]);
    f.extend_from_slice(data);
    let c = checksum(&f[2..]).to_be_bytes();
    f.extend_from_slice(&[c[0], c[1], END]);
    Some(f)
}

/// The data bytes of a 0x03 reply (simulators, tests).
pub fn encode_basic(b: &Basic) -> Vec<u8> {
    let mut d = Vec::with_capacity(23 + 2 * b.ntc.len() + b.extra.len());
    for w in [
        b.voltage_10mv,
        b.current as u16,
        b.remaining,
        b.nominal,
        b.cycles,
        b.date,
        b.balance[0],
        b.balance[1],
        b.protection,
    ] {
        d.extend_from_slice(&w.to_be_bytes());
    }
    d.extend_from_slice(&[
        b.version,
        b.soc,
        b.fets,
        b.cell_count,
        b.ntc.len().min(255) as u8,
    ]);
    for t in &b.ntc {
        d.extend_from_slice(&t.to_be_bytes());
    }
    d.extend_from_slice(&b.extra);
    d
}

/// Which register a request asks for, if it is a well-formed read request; None for anything
/// else (a write, a bad checksum). Simulators use it to log writes.
pub fn parse_request(frame: &[u8]) -> Option<u8> {
    if frame.len() != 7 || frame[0] != START || frame[1] != OP_READ || frame[6] != END {
        return None;
    }
    let c = checksum(&frame[2..4]).to_be_bytes();
    (frame[3] == 0 && frame[4..6] == c).then_some(frame[2])
}

/// The JBD codec for the poll engine: no address (one pack per line), 0x03 and 0x04 every
/// cycle, 0x05 (and 0x03 for the software version) once per connection.
#[derive(Debug, Clone, Default)]
pub struct Codec;

fn req(reg: Register, required: bool) -> codec::Request {
    codec::Request {
        bytes: request(reg).to_vec(),
        what: reg.code(),
        required,
    }
}

impl codec::Codec for Codec {
    fn identity(&self, _address: u8) -> Vec<codec::Request> {
        vec![req(Register::Model, true), req(Register::Basic, false)]
    }

    fn status(&self, _address: u8) -> Vec<codec::Request> {
        vec![req(Register::Basic, true), req(Register::Cells, false)]
    }

    fn judge(
        &self,
        _address: u8,
        req: &codec::Request,
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
                    if frame[1] == req.what {
                        if frame[2] != 0 {
                            return Judge::Done(Err(format!(
                                "the BMS answered register {:#04x} with error status {:#04x}",
                                req.what, frame[2]
                            )));
                        }
                        return Judge::Done(Ok(frame.to_vec()));
                    }
                    why = Some(format!(
                        "reply to register {:#04x}, expected {:#04x}",
                        frame[1], req.what
                    ));
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
        let basic = answers
            .first()
            .and_then(Option::as_deref)
            .ok_or("no basic info")?;
        let b = reply_data(basic, Register::Basic)
            .and_then(parse_basic)
            .map_err(|e| e.to_string())?;
        let cells = match answers.get(1).and_then(Option::as_deref) {
            Some(frame) => Some(
                reply_data(frame, Register::Cells)
                    .and_then(parse_cells)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        Ok(Decoded {
            fields: fields(&b, cells.as_deref()),
            raw: raw(&b),
        })
    }

    fn decode_identity(&self, _address: u8, answers: &[Option<Vec<u8>>]) -> Option<Info> {
        let model = answers
            .first()
            .and_then(Option::as_deref)
            .and_then(|f| reply_data(f, Register::Model).ok())
            .map(parse_model);
        let basic = answers
            .get(1)
            .and_then(Option::as_deref)
            .and_then(|f| reply_data(f, Register::Basic).ok())
            .and_then(|d| parse_basic(d).ok());
        (model.is_some() || basic.is_some()).then(|| info(model.as_deref(), basic.as_ref()))
    }

    fn probe(&self, _address: u8) -> codec::Request {
        req(Register::Basic, true)
    }

    fn check_probe(&self, _address: u8, answer: &[u8]) -> Result<Info, String> {
        let b = reply_data(answer, Register::Basic)
            .and_then(parse_basic)
            .map_err(|e| e.to_string())?;
        plausible(&b).map_err(|e| e.to_string())?;
        Ok(info(None, Some(&b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', ':'], "")).unwrap()
    }

    // protocols.md §12.4: a 4S JBD-SP04S034 (syssi/esphome-jbd-bms docs/pdus), decodes from
    // its tests/components/jbd_bms/frames.h.
    const BASIC_1: &str = "DD 03 00 1D 06 18 00 00 01 F2 01 F4 00 00 2C 7C 00 00 00 00 00 00 80 64 03 04 03 0B 8B 0B 8A 0B 84 FA 8D 77";
    const BASIC_2: &str = "DD:03:00:1D:06:18:00:00:01:F2:01:F4:00:00:2C:7C:00:00:00:00:00:00:80:64:03:04:03:0B:8B:0B:89:0B:84:FA:8E:77";
    const CELLS_1: &str = "DD:04:00:08:0F:45:0F:3D:0F:37:0F:3D:FE:C6:77";
    const CELLS_2: &str = "DD:04:00:08:0F:45:0F:3E:0F:37:0F:3D:FE:C5:77";
    const CELLS_DEBUG: &str = "DD 04 00 08 0F 46 0F 3E 0F 38 0F 3E FE C2 77";
    const MODEL: &str = "DD:05:00:19:4A:42:44:2D:53:50:30:34:53:30:33:34:2D:4C:34:53:2D:32:30:30:41:2D:42:2D:55:FA:08:77";

    #[test]
    fn requests_are_the_published_bytes() {
        assert_eq!(
            request(Register::Basic).to_vec(),
            unhex("DD A5 03 00 FF FD 77")
        );
        assert_eq!(
            request(Register::Cells).to_vec(),
            unhex("DD A5 04 00 FF FC 77")
        );
        assert_eq!(
            request(Register::Model).to_vec(),
            unhex("DD A5 05 00 FF FB 77")
        );
        for r in Register::ALL {
            assert_eq!(parse_request(&request(r)), Some(r.code()));
        }
    }

    #[test]
    fn every_request_is_a_read_of_the_allow_list() {
        // The whole set of requests this codec can build: op A5, no data, one of 03/04/05.
        for r in Register::ALL {
            let q = request(r);
            assert_eq!(q[1], 0xA5, "{r:?} is not a read");
            assert_eq!(q[3], 0, "{r:?} carries data");
            assert!([0x03, 0x04, 0x05].contains(&q[2]));
        }
        // A write is never taken for a read.
        assert_eq!(parse_request(&unhex("DD 5A E1 02 00 02 FF 1B 77")), None);
        assert_eq!(parse_request(&unhex("DD 5A 00 02 56 78 FF 30 77")), None);
    }

    #[test]
    fn golden_basic_info() {
        let frame = unhex(BASIC_1);
        assert_eq!(scan(&frame), Scan::Frame { len: frame.len() });
        let b = parse_basic(reply_data(&frame, Register::Basic).unwrap()).unwrap();
        assert_eq!(b.voltage_10mv, 1560);
        assert_eq!(b.current_a(), 0.0);
        assert_eq!(b.remaining_ah(), 4.98);
        assert_eq!(b.nominal_ah(), 5.0);
        assert_eq!(b.cycles, 0);
        assert_eq!(b.production_date().as_deref(), Some("2022-03-28"));
        assert_eq!(b.balance, [0, 0]);
        assert_eq!(b.protection, 0);
        assert_eq!(b.software(), "8.0");
        assert_eq!(b.soc, 100);
        assert_eq!(b.fets, 3);
        assert_eq!(b.cell_count, 4);
        assert_eq!(b.temperatures_c(), vec![22.4, 22.3, 21.7]);
        assert!(b.extra.is_empty());
        plausible(&b).unwrap();
        let b2 = parse_basic(reply_data(&unhex(BASIC_2), Register::Basic).unwrap()).unwrap();
        assert_eq!(b2.temperatures_c(), vec![22.4, 22.2, 21.7]);
        // Round trip through the simulator's encoder.
        assert_eq!(
            encode_reply(0x03, 0, &encode_basic(&b)).unwrap(),
            unhex(BASIC_1)
        );
    }

    #[test]
    fn golden_cells_and_model() {
        let c = |s| parse_cells(reply_data(&unhex(s), Register::Cells).unwrap()).unwrap();
        assert_eq!(c(CELLS_1), vec![3909, 3901, 3895, 3901]);
        assert_eq!(c(CELLS_2), vec![3909, 3902, 3895, 3901]);
        assert_eq!(c(CELLS_DEBUG), vec![3910, 3902, 3896, 3902]);
        let model = unhex(MODEL);
        let m = reply_data(&model, Register::Model).unwrap();
        assert_eq!(parse_model(m), "JBD-SP04S034-L4S-200A-B-U");
    }

    #[test]
    fn golden_reading() {
        let b = parse_basic(reply_data(&unhex(BASIC_1), Register::Basic).unwrap()).unwrap();
        let cells = parse_cells(reply_data(&unhex(CELLS_1), Register::Cells).unwrap()).unwrap();
        let f = fields(&b, Some(&cells));
        let get = |n: &str| f.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        assert_eq!(get("pack_voltage"), Value::Float(15.6));
        assert_eq!(get("pack_current"), Value::Float(0.0));
        assert_eq!(get("soc"), Value::Int(100));
        assert_eq!(
            get("cell_voltages"),
            Value::Floats(vec![3.909, 3.901, 3.895, 3.901])
        );
        assert_eq!(get("cell_voltage_delta_mv"), Value::Int(14));
        assert_eq!(get("cell_lowest"), Value::Int(3));
        assert_eq!(get("cell_highest"), Value::Int(1));
        assert_eq!(get("temperatures"), Value::Floats(vec![22.4, 22.3, 21.7]));
        assert_eq!(get("remaining_ah"), Value::Float(4.98));
        assert_eq!(get("capacity_ah"), Value::Float(5.0));
        assert_eq!(get("charge_fet"), Value::Bool(true));
        assert_eq!(get("discharge_fet"), Value::Bool(true));
        assert_eq!(get("balancing"), Value::Bool(false));
        assert_eq!(get("protection_short_circuit"), Value::Bool(false));
        for (name, _) in f.iter() {
            let spec = crate::catalog::lookup(name).unwrap_or_else(|| panic!("{name}"));
            assert!(spec.sources.contains(&"jbd"), "{name} lacks source jbd");
        }
        let i = info(Some("JBD-SP04S034-L4S-200A-B-U"), Some(&b));
        assert_eq!(i.firmware.as_deref(), Some("8.0"));
        assert_eq!(raw(&b)["production_date"], "2022-03-28");
    }

    #[test]
    fn sign_bits_and_scaling() {
        let mut b = parse_basic(reply_data(&unhex(BASIC_1), Register::Basic).unwrap()).unwrap();
        b.current = -1234; // discharging 12.34 A
        b.protection = 1 << 10;
        b.balance = [0b100, 0];
        let f = fields(&b, None);
        assert_eq!(f.get("pack_current"), Some(&Value::Float(-12.34)));
        assert_eq!(f.get("protection_short_circuit"), Some(&Value::Bool(true)));
        assert_eq!(f.get("balancing"), Some(&Value::Bool(true)));
        assert_eq!(f.get("balancing_mask"), Some(&Value::Int(4)));
        assert!(f.get("cell_voltages").is_none());
        b.extra = vec![0x80, 0x00];
        assert_eq!(b.current_a(), -123.4);
        assert_eq!(b.nominal_ah(), 50.0);
    }

    #[test]
    fn scan_skips_noise_echo_and_leftovers() {
        // docs/debug.txt: leftovers of an earlier reply ahead of a new one.
        let mut buf = unhex("00 00");
        buf.extend(request(Register::Cells)); // the adapter's echo
        buf.extend(unhex(CELLS_1));
        let mut pos = 0;
        let mut frames = 0;
        while pos < buf.len() {
            match scan(&buf[pos..]) {
                Scan::Frame { len } => {
                    frames += 1;
                    pos += len;
                }
                Scan::Garbage { skip, .. } => pos += skip,
                Scan::NeedMore => break,
            }
        }
        assert_eq!((frames, pos), (1, buf.len()));
        let mut bad = unhex(CELLS_1);
        bad[5] ^= 1;
        assert!(matches!(
            scan(&bad),
            Scan::Garbage {
                reason: "bad checksum",
                ..
            }
        ));
        assert_eq!(scan(&unhex("DD 04 00 08 0F")), Scan::NeedMore);
        let refused = encode_reply(0x03, 0x80, &[]).unwrap();
        let err = reply_data(&refused, Register::Basic);
        assert!(matches!(err, Err(DecodeError::Status { status: 0x80, .. })));
    }

    #[test]
    fn short_and_odd_data_are_errors() {
        assert!(matches!(
            parse_basic(&[0; 10]),
            Err(DecodeError::Short { .. })
        ));
        let mut d = encode_basic(
            &parse_basic(reply_data(&unhex(BASIC_1), Register::Basic).unwrap()).unwrap(),
        );
        d.truncate(24); // says 3 NTCs, carries half of one
        assert!(matches!(parse_basic(&d), Err(DecodeError::Short { .. })));
        assert!(parse_cells(&[1, 2, 3]).is_err());
    }

    #[test]
    fn no_panic_on_any_prefix_or_flip() {
        let frame = unhex(BASIC_1);
        for n in 0..=frame.len() {
            let _ = scan(&frame[..n]);
            let _ = parse_frame(&frame[..n]);
            let _ = parse_basic(&frame[..n]);
        }
        for i in 0..frame.len() {
            for bit in 0..8 {
                let mut f = frame.clone();
                f[i] ^= 1 << bit;
                let _ = scan(&f);
                if let Ok(d) = reply_data(&f, Register::Basic) {
                    let _ = parse_basic(d).map(|b| fields(&b, None));
                }
            }
        }
    }
}
