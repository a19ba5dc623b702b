//! Daly BMS, classic 13-byte "A5" frames over RS-485 or UART (protocols.md §13).
//!
//! Every frame is 13 bytes: `A5`, an address, a data id, `08`, eight data bytes, and the low
//! byte of the sum of the first twelve. A request carries the **host's** address (0x40 on the
//! RS-485 port, 0x80 on the UART/Bluetooth port; board n of several is asked with host + n − 1);
//! the reply carries the **board's** (n). A sleeping Daly echoes the request with a valid
//! checksum, so a reply is only taken when its address byte is the board's, never a host's.
//!
//! Real 0x90 reply (mpp-solar's 16S capture), annotated:
//!
//! ```text
//! A5          start
//! 01          board 1 (the BMS)
//! 90          data id: pack voltage, current, SOC
//! 08          length, always 8
//! 02 14       pack voltage 532 × 0.1 = 53.2 V
//! 00 00       "gathered" voltage (0 in every capture)
//! 75 45       current, raw 30021: 30000 − raw = −21 → −2.1 A (discharging, §13.3)
//! 03 78       SOC 888 × 0.1 = 88.8 %
//! 89          checksum: low byte of the sum of the 12 bytes before it
//! ```
//!
//! Read-only by construction: [`DataId`] names the only ids a request can be built for
//! (0x90–0x98); the write ids 0x00 (restart), 0x21 (set SOC/RTC), 0xD9 and 0xDA (FET switches)
//! cannot be expressed.
//!
//! Current sign (§13.3): two of three peers read raw > 30000 as discharge, and a user's
//! comparison against a Victron shunt (dbus-serialbattery issue #3) agrees, so
//! `pack_current = (30000 − raw) / 10` (+ = charging). Some firmware is known to have the sign
//! inverted (dbus-serialbattery issues #65, #70): `--invert-current` is for those.

use crate::proto::codec::{self, Decoded, Judge};
use crate::record::{Fields, Info, Value};
use serde_json::{json, Map};
use thiserror::Error;

/// Start byte.
pub const START: u8 = 0xA5;
/// Every frame's length.
pub const FRAME_LEN: usize = 13;
/// Host address on the RS-485 port.
pub const HOST_RS485: u8 = 0x40;
/// Host address on the UART / Bluetooth port.
pub const HOST_UART: u8 = 0x80;
/// Addresses only a host sends from (PDF: PC 0x40, Bluetooth 0x80, GPRS 0x20).
const HOSTS: [u8; 3] = [0x20, 0x40, 0x80];

/// The data ids bmstap reads: the allow-list. Nothing else can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataId {
    /// 0x90 pack voltage, current, SOC.
    Soc,
    /// 0x91 highest and lowest cell.
    CellRange,
    /// 0x92 highest and lowest temperature.
    TempRange,
    /// 0x93 state, FETs, remaining capacity.
    Mos,
    /// 0x94 cell and sensor counts, charger/load, DI/DO, cycles.
    Status,
    /// 0x95 cell voltages, several frames of three.
    Cells,
    /// 0x96 temperatures, several frames of seven.
    Temperatures,
    /// 0x97 balancing bits.
    Balance,
    /// 0x98 failure bits.
    Faults,
}

impl DataId {
    /// Every id of the allow-list, in the order of a poll cycle (0x94 before 0x95/0x96, whose
    /// frame counts it gives).
    pub const ALL: [DataId; 9] = [
        DataId::Soc,
        DataId::CellRange,
        DataId::TempRange,
        DataId::Mos,
        DataId::Status,
        DataId::Cells,
        DataId::Temperatures,
        DataId::Balance,
        DataId::Faults,
    ];

    pub fn code(self) -> u8 {
        match self {
            DataId::Soc => 0x90,
            DataId::CellRange => 0x91,
            DataId::TempRange => 0x92,
            DataId::Mos => 0x93,
            DataId::Status => 0x94,
            DataId::Cells => 0x95,
            DataId::Temperatures => 0x96,
            DataId::Balance => 0x97,
            DataId::Faults => 0x98,
        }
    }

    pub fn from_code(code: u8) -> Option<DataId> {
        DataId::ALL.into_iter().find(|d| d.code() == code)
    }

    /// Does the answer come in several numbered frames?
    pub fn multi_frame(self) -> bool {
        matches!(self, DataId::Cells | DataId::Temperatures)
    }

    /// Values per frame of a multi-frame answer.
    pub fn per_frame(self) -> usize {
        match self {
            DataId::Cells => 3,
            DataId::Temperatures => 7,
            _ => 0,
        }
    }
}

/// The low byte of the sum of `bytes`.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

/// The address byte a request to `board` carries, from host address `host`.
pub fn request_address(host: u8, board: u8) -> u8 {
    host.wrapping_add(board.max(1) - 1)
}

/// The read request for `id` to `board` (1-based) from `host`: zero fill bytes.
pub fn request(host: u8, board: u8, id: DataId) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0] = START;
    f[1] = request_address(host, board);
    f[2] = id.code();
    f[3] = 8;
    f[12] = checksum(&f[..12]);
    f
}

/// What [`scan`] found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// A checksum-valid 13-byte frame starts here.
    Frame,
    /// Not a frame: skip `skip` bytes (at least 1).
    Garbage { skip: usize, reason: &'static str },
    /// Too few bytes to tell.
    NeedMore,
}

/// Looks for a frame at the start of `buf`: `A5`, length byte 8, valid checksum.
pub fn scan(buf: &[u8]) -> Scan {
    let Some(&first) = buf.first() else {
        return Scan::NeedMore;
    };
    if first != START {
        let skip = buf.iter().position(|&b| b == START).unwrap_or(buf.len());
        return Scan::Garbage {
            skip: skip.max(1),
            reason: "bytes before the start byte 0xA5",
        };
    }
    if buf.len() >= 4 && buf[3] != 8 {
        return Scan::Garbage {
            skip: 1,
            reason: "length byte is not 8",
        };
    }
    if buf.len() < FRAME_LEN {
        return Scan::NeedMore;
    }
    if checksum(&buf[..12]) != buf[12] {
        return Scan::Garbage {
            skip: 1,
            reason: "bad checksum",
        };
    }
    Scan::Frame
}

/// How a checksum-valid frame relates to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The board's answer.
    Reply,
    /// A host's frame: our request echoed (a sleeping Daly, or an echoing adapter).
    Echo,
    /// Another board's answer, or an answer to another id.
    Other,
}

/// Judges a valid frame as the answer to `id` from `board`.
pub fn judge(frame: &[u8], board: u8, id: DataId) -> Verdict {
    if HOSTS.contains(&frame[1]) || frame[1] >= 0x20 && frame[1] != board {
        return Verdict::Echo;
    }
    if frame[1] == board && frame[2] == id.code() {
        Verdict::Reply
    } else {
        Verdict::Other
    }
}

/// What the frames received so far make of a request's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// The answer's frames (their 8 data bytes each), complete.
    Done(Vec<[u8; 8]>),
    /// Some frames, maybe more to come.
    Partial(Vec<[u8; 8]>),
    /// Nothing of the answer yet; `echo`: our request came back.
    Nothing { echo: bool, noise: bool },
}

/// Collects the answer to `id` from `board` out of `buf`. `needed`: frames a multi-frame
/// answer must have (from the counts of 0x94); None when not known.
pub fn collect(buf: &[u8], board: u8, id: DataId, needed: Option<usize>) -> Collected {
    let mut frames: Vec<[u8; 8]> = Vec::new();
    let (mut echo, mut noise) = (false, false);
    let mut pos = 0;
    while pos < buf.len() {
        match scan(&buf[pos..]) {
            Scan::NeedMore => break,
            Scan::Garbage { skip, .. } => {
                noise = true;
                pos += skip;
            }
            Scan::Frame => {
                let f = &buf[pos..pos + FRAME_LEN];
                match judge(f, board, id) {
                    Verdict::Reply => {
                        let mut d = [0u8; 8];
                        d.copy_from_slice(&f[4..12]);
                        // A repeated frame number (a reply sent twice) is not a new frame.
                        if !(id.multi_frame() && frames.iter().any(|x| x[0] == d[0])) {
                            frames.push(d);
                        }
                    }
                    Verdict::Echo => echo = true,
                    Verdict::Other => noise = true,
                }
                pos += FRAME_LEN;
            }
        }
    }
    if frames.is_empty() {
        return Collected::Nothing { echo, noise };
    }
    if !id.multi_frame() {
        return Collected::Done(frames);
    }
    match needed {
        Some(n) if frames.len() >= n => Collected::Done(frames),
        _ => Collected::Partial(frames),
    }
}

/// Frames of a multi-frame answer needed for `count` values.
pub fn frames_for(id: DataId, count: usize) -> usize {
    count.div_ceil(id.per_frame().max(1))
}

/// Why an answer cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("{0}")]
    Implausible(String),
    #[error("{what}: {got} of {want} value(s) arrived")]
    Missing {
        what: &'static str,
        got: usize,
        want: usize,
    },
}

/// The decoded answers of one poll cycle. Every part but 0x90 may be missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub soc: Option<[u8; 8]>,
    pub cell_range: Option<[u8; 8]>,
    pub temp_range: Option<[u8; 8]>,
    pub mos: Option<[u8; 8]>,
    pub status: Option<[u8; 8]>,
    pub cells: Vec<[u8; 8]>,
    pub temperatures: Vec<[u8; 8]>,
    pub balance: Option<[u8; 8]>,
    pub faults: Option<[u8; 8]>,
}

fn u16be(d: &[u8; 8], i: usize) -> u16 {
    u16::from_be_bytes([d[i], d[i + 1]])
}

/// 0x90: pack voltage (V), current (A, + = charging), SOC (%).
pub fn decode_soc(d: &[u8; 8], invert: bool) -> (f64, f64, f64) {
    let current = (30000.0 - f64::from(u16be(d, 4))) / 10.0;
    let current = if invert { -current } else { current };
    (
        f64::from(u16be(d, 0)) / 10.0,
        round1(current),
        f64::from(u16be(d, 6)) / 10.0,
    )
}

/// 0x94: cell count and temperature-sensor count.
pub fn counts(d: &[u8; 8]) -> (usize, usize) {
    (usize::from(d[0]), usize::from(d[1]))
}

/// Values of a multi-frame answer placed by frame number, up to `count`. Frames numbered
/// beyond the count (a Bluetooth-style full set) are ignored; a missing frame is an error.
fn placed<T: Copy>(
    frames: &[[u8; 8]],
    what: &'static str,
    count: usize,
    per: usize,
    value: impl Fn(&[u8; 8], usize) -> T,
) -> Result<Vec<T>, DecodeError> {
    let mut out: Vec<Option<T>> = vec![None; count];
    for f in frames {
        let n = usize::from(f[0]);
        if n == 0 {
            continue;
        }
        for k in 0..per {
            let slot = (n - 1) * per + k;
            if slot < count {
                out[slot] = Some(value(f, k));
            }
        }
    }
    let got = out.iter().filter(|v| v.is_some()).count();
    if got < count {
        return Err(DecodeError::Missing {
            what,
            got,
            want: count,
        });
    }
    Ok(out.into_iter().flatten().collect())
}

/// 0x95: cell voltages in mV.
pub fn decode_cells(frames: &[[u8; 8]], count: usize) -> Result<Vec<u16>, DecodeError> {
    placed(frames, "cell voltages", count, 3, |f, k| {
        u16be(f, 1 + 2 * k)
    })
}

/// 0x96: temperatures in °C.
pub fn decode_temperatures(frames: &[[u8; 8]], count: usize) -> Result<Vec<i16>, DecodeError> {
    placed(frames, "temperatures", count, 7, |f, k| {
        i16::from(f[1 + k]) - 40
    })
}

/// The failure bits of 0x98, byte by byte (bit n = entry n); `None` is unused.
pub const FAULT_BITS: [[Option<&str>; 8]; 7] = [
    [
        Some("warning_cell_ov"),
        Some("protection_cell_ov"),
        Some("warning_cell_uv"),
        Some("protection_cell_uv"),
        Some("warning_pack_ov"),
        Some("protection_pack_ov"),
        Some("warning_pack_uv"),
        Some("protection_pack_uv"),
    ],
    [
        Some("warning_charge_ot"),
        Some("protection_charge_ot"),
        Some("warning_charge_ut"),
        Some("protection_charge_ut"),
        Some("warning_discharge_ot"),
        Some("protection_discharge_ot"),
        Some("warning_discharge_ut"),
        Some("protection_discharge_ut"),
    ],
    [
        Some("warning_charge_oc"),
        Some("protection_charge_oc"),
        Some("warning_discharge_oc"),
        Some("protection_discharge_oc"),
        Some("warning_soc_high"),
        Some("protection_soc_high"),
        Some("warning_soc_low"),
        Some("protection_soc_low"),
    ],
    [
        Some("warning_cell_imbalance"),
        Some("protection_cell_imbalance"),
        Some("warning_temperature_difference"),
        Some("protection_temperature_difference"),
        None,
        None,
        None,
        None,
    ],
    [
        Some("alarm_charge_mos_ot"),
        Some("alarm_discharge_mos_ot"),
        Some("alarm_charge_mos_sensor"),
        Some("alarm_discharge_mos_sensor"),
        Some("alarm_charge_mos_stuck"),
        Some("alarm_discharge_mos_stuck"),
        Some("alarm_charge_mos_open"),
        Some("alarm_discharge_mos_open"),
    ],
    [
        Some("alarm_afe"),
        Some("alarm_cell_sense_lead"),
        Some("alarm_temperature_sensor"),
        Some("alarm_eeprom"),
        Some("alarm_rtc"),
        Some("alarm_precharge"),
        Some("alarm_vehicle_comm"),
        Some("alarm_internal_comm"),
    ],
    [
        Some("alarm_current_module"),
        Some("alarm_voltage_module"),
        Some("alarm_short_circuit"),
        Some("alarm_low_voltage_no_charge"),
        None,
        None,
        None,
        None,
    ],
];

/// Checks a 0x90 answer looks like a BMS's (for detection).
pub fn plausible_soc(d: &[u8; 8]) -> Result<(), DecodeError> {
    let (v, a, soc) = decode_soc(d, false);
    if !(0.0..=1000.0).contains(&v) || !(0.0..=100.0).contains(&soc) || a.abs() > 3000.0 {
        return Err(DecodeError::Implausible(format!(
            "implausible 0x90 answer: {v} V, {a} A, SOC {soc} %"
        )));
    }
    Ok(())
}

/// The reading's fields from one cycle's answers. 0x90 is required; the rest add what they
/// carry. Cells and temperatures need the counts of 0x94.
pub fn fields(s: &Snapshot, invert: bool) -> Result<Fields, DecodeError> {
    let soc = s
        .soc
        .ok_or_else(|| DecodeError::Implausible("no 0x90 answer".into()))?;
    let mut f = Fields::new();
    let (v, a, pct) = decode_soc(&soc, invert);
    f.float("pack_voltage", v);
    f.float("pack_current", a);
    f.float("soc", pct);
    let counts = s.status.as_ref().map(counts);
    if let Some((cells, _)) = counts {
        if cells > 0 && !s.cells.is_empty() {
            let mv = decode_cells(&s.cells, cells)?;
            let volts: Vec<f64> = mv.iter().map(|&m| f64::from(m) / 1000.0).collect();
            f.add_cell_stats(&volts);
            f.set("cell_voltages", Value::Floats(volts));
        }
        f.int("cell_count", cells as i64);
    }
    if let Some((_, sensors)) = counts {
        if sensors > 0 && !s.temperatures.is_empty() {
            let t = decode_temperatures(&s.temperatures, sensors)?;
            f.set(
                "temperatures",
                Value::Floats(t.iter().map(|&x| f64::from(x)).collect()),
            );
        }
    }
    if let Some(m) = &s.mos {
        let state = match m[0] {
            0 => "idle",
            1 => "charging",
            2 => "discharging",
            _ => "unknown",
        };
        f.set("state", Value::Text(state.into()));
        f.bool("charge_fet", m[1] != 0);
        f.bool("discharge_fet", m[2] != 0);
        let mah = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
        f.float("remaining_ah", f64::from(mah) / 1000.0);
    }
    if let Some(st) = &s.status {
        f.int("cycle_count", u16be(st, 5));
    }
    if let Some(b) = &s.balance {
        f.bool("balancing", b[..6].iter().any(|&x| x != 0));
    }
    if let Some(fl) = &s.faults {
        for (byte, names) in FAULT_BITS.iter().enumerate() {
            for (bit, name) in names.iter().enumerate() {
                if let Some(n) = name {
                    f.bool(n, fl[byte] & (1 << bit) != 0);
                }
            }
        }
    }
    Ok(f)
}

/// What the reading keeps undecoded: the answers whose meaning is partial or unverified.
pub fn raw(s: &Snapshot) -> Map<String, serde_json::Value> {
    let mut m = Map::new();
    if let Some(c) = &s.cell_range {
        m.insert(
            "cell_range".into(),
            json!({"max_mv": u16be(c, 0), "max_cell": c[2], "min_mv": u16be(c, 3), "min_cell": c[5]}),
        );
    }
    if let Some(t) = &s.temp_range {
        m.insert(
            "temperature_range".into(),
            json!({"max": i16::from(t[0]) - 40, "max_sensor": t[1], "min": i16::from(t[2]) - 40, "min_sensor": t[3]}),
        );
    }
    if let Some(st) = &s.status {
        m.insert(
            "status".into(),
            json!({"charger": st[2] != 0, "load": st[3] != 0, "dio": st[4]}),
        );
    }
    if let Some(mos) = &s.mos {
        m.insert("bms_life".into(), json!(mos[3]));
    }
    if let Some(b) = &s.balance {
        // Bit order unverified (§13.2): kept as sent.
        m.insert("balance".into(), json!(hex::encode(&b[..6])));
    }
    if let Some(fl) = &s.faults {
        m.insert("fault_code".into(), json!(fl[7]));
    }
    m
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A frame from `address` for `id` with `data` (simulators, tests).
pub fn encode_frame(address: u8, id: u8, data: [u8; 8]) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0] = START;
    f[1] = address;
    f[2] = id;
    f[3] = 8;
    f[4..12].copy_from_slice(&data);
    f[12] = checksum(&f[..12]);
    f
}

/// A request's (host address, data id) if `frame` is a well-formed read request; None for
/// anything else (simulators log those as writes).
pub fn parse_request(frame: &[u8]) -> Option<(u8, u8)> {
    if frame.len() != FRAME_LEN || scan(frame) != Scan::Frame {
        return None;
    }
    DataId::from_code(frame[2]).map(|_| (frame[1], frame[2]))
}

/// The Daly codec for the poll engine: boards by number, asked from `host`; every id of the
/// allow-list each cycle (0x90 required, the rest optional); no identity read.
#[derive(Debug, Clone)]
pub struct Codec {
    pub host: u8,
    /// Flip the current's sign (firmware known to send it inverted).
    pub invert_current: bool,
}

impl Default for Codec {
    fn default() -> Self {
        Codec {
            host: HOST_RS485,
            invert_current: false,
        }
    }
}

/// Index of 0x94 in a status read (its counts size 0x95 and 0x96).
const STATUS_INDEX: usize = 4;

impl codec::Codec for Codec {
    fn identity(&self, _address: u8) -> Vec<codec::Request> {
        Vec::new()
    }

    fn status(&self, address: u8) -> Vec<codec::Request> {
        DataId::ALL
            .into_iter()
            .map(|id| codec::Request {
                bytes: request(self.host, address, id).to_vec(),
                what: id.code(),
                required: id == DataId::Soc,
            })
            .collect()
    }

    fn judge(
        &self,
        address: u8,
        req: &codec::Request,
        prior: &[Option<Vec<u8>>],
        buf: &[u8],
        last: bool,
    ) -> Judge {
        let Some(id) = DataId::from_code(req.what) else {
            return Judge::Done(Err(format!("{:#04x} is not a Daly read", req.what)));
        };
        let needed = if id.multi_frame() {
            prior
                .get(STATUS_INDEX)
                .and_then(Option::as_deref)
                .and_then(|d| <[u8; 8]>::try_from(d).ok())
                .map(|d| {
                    let (cells, sensors) = counts(&d);
                    frames_for(id, if id == DataId::Cells { cells } else { sensors })
                })
        } else {
            None
        };
        let concat = |frames: Vec<[u8; 8]>| frames.concat();
        match collect(buf, address, id, needed) {
            // More frames than needed may follow (a Bluetooth-style full set): drain them.
            Collected::Done(_) if id.multi_frame() && !last => Judge::Settle,
            Collected::Done(frames) => Judge::Done(Ok(concat(frames))),
            Collected::Partial(frames) if last => match needed {
                None => Judge::Done(Ok(concat(frames))),
                Some(n) => Judge::Done(Err(format!(
                    "{} of {n} frame(s) of {:#04x} arrived",
                    frames.len(),
                    req.what
                ))),
            },
            Collected::Partial(_) => Judge::More,
            Collected::Nothing { echo: true, .. } if last => Judge::Done(Err(
                "only the echo of the request came back: the Daly is asleep (it wakes on \
                 current flow or its button), or the adapter echoes and the BMS is silent"
                    .into(),
            )),
            Collected::Nothing { .. } if last => Judge::Done(Err(format!(
                "{} byte(s), no answer from board {address} to {:#04x}",
                buf.len(),
                req.what
            ))),
            Collected::Nothing { .. } => Judge::More,
        }
    }

    fn decode(&self, _address: u8, answers: &[Option<Vec<u8>>]) -> Result<Decoded, String> {
        let one = |i: usize| {
            answers
                .get(i)
                .and_then(Option::as_deref)
                .and_then(|d| <[u8; 8]>::try_from(d.get(..8)?).ok())
        };
        let many = |i: usize| -> Vec<[u8; 8]> {
            answers
                .get(i)
                .and_then(Option::as_deref)
                .map(|d| {
                    d.chunks_exact(8)
                        .filter_map(|c| <[u8; 8]>::try_from(c).ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let snap = Snapshot {
            soc: one(0),
            cell_range: one(1),
            temp_range: one(2),
            mos: one(3),
            status: one(4),
            cells: many(5),
            temperatures: many(6),
            balance: one(7),
            faults: one(8),
        };
        let fields = fields(&snap, self.invert_current).map_err(|e| e.to_string())?;
        Ok(Decoded {
            fields,
            raw: raw(&snap),
        })
    }

    fn decode_identity(&self, _address: u8, _answers: &[Option<Vec<u8>>]) -> Option<Info> {
        None
    }

    fn probe(&self, address: u8) -> codec::Request {
        codec::Request {
            bytes: request(self.host, address, DataId::Soc).to_vec(),
            what: DataId::Soc.code(),
            required: true,
        }
    }

    fn check_probe(&self, _address: u8, answer: &[u8]) -> Result<Info, String> {
        let d = <[u8; 8]>::try_from(answer.get(..8).ok_or("short answer")?)
            .map_err(|_| "short answer")?;
        plausible_soc(&d).map_err(|e| e.to_string())?;
        Ok(Info {
            manufacturer: Some("Daly".into()),
            ..Info::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn data(frame: &str) -> [u8; 8] {
        let f = unhex(frame);
        assert_eq!(scan(&f), Scan::Frame, "{frame}");
        f[4..12].try_into().unwrap()
    }

    // protocols.md §13.2: mpp-solar's 16S capture (tests/integration/test_protocol_daly.py).
    const SOC: &str = "a5 01 90 08 02 14 00 00 75 45 03 78 89";
    const RANGE: &str = "a5 01 91 08 0d 00 0f 0c fe 01 03 78 e1";
    const MOS: &str = "a5 01 93 08 00 01 01 9a 00 02 a2 d8 59";
    const STATUS: &str = "a5 01 94 08 10 01 00 00 00 00 03 40 96";
    const CELLS_1: &str = "a5 01 95 08 01 0c fd 0c fe 0c fe 40 a1";

    #[test]
    fn requests_are_the_published_bytes() {
        assert_eq!(
            request(HOST_RS485, 1, DataId::Soc).to_vec(),
            unhex("A5 40 90 08 00 00 00 00 00 00 00 00 7D")
        );
        assert_eq!(
            request(HOST_UART, 1, DataId::Soc).to_vec(),
            unhex("A5 80 90 08 00 00 00 00 00 00 00 00 BD")
        );
        // Board 3 of several is asked with 0x40 + 2 (dbus-serialbattery).
        assert_eq!(request(HOST_RS485, 3, DataId::Status)[1], 0x42);
    }

    #[test]
    fn every_request_is_a_read_of_the_allow_list() {
        let never = [0x00u8, 0x21, 0xD9, 0xDA];
        for host in [HOST_RS485, HOST_UART] {
            for board in 1..=16 {
                for id in DataId::ALL {
                    let q = request(host, board, id);
                    assert!((0x90..=0x98).contains(&q[2]), "{q:02x?}");
                    assert!(!never.contains(&q[2]));
                    assert_eq!(&q[4..12], &[0; 8], "a read carries no data");
                    assert_eq!(parse_request(&q), Some((q[1], q[2])));
                }
            }
        }
        assert_eq!(parse_request(&encode_frame(0x40, 0xD9, [0; 8])), None);
    }

    #[test]
    fn golden_answers() {
        let (v, a, soc) = decode_soc(&data(SOC), false);
        assert_eq!((v, soc), (53.2, 88.8));
        // Raw 30021: the published +2.1 with our sign (+ = charging, §13.3): discharging.
        assert_eq!(a, -2.1);
        assert_eq!(decode_soc(&data(SOC), true).1, 2.1);
        let mos = data(MOS);
        assert_eq!((mos[0], mos[1], mos[2], mos[3]), (0, 1, 1, 154));
        assert_eq!(
            u32::from_be_bytes([mos[4], mos[5], mos[6], mos[7]]),
            172_760
        );
        let st = data(STATUS);
        assert_eq!(counts(&st), (16, 1));
        assert_eq!(u16be(&st, 5), 3);
        let r = data(RANGE);
        assert_eq!(
            (u16be(&r, 0), r[2], u16be(&r, 3), r[5]),
            (3328, 15, 3326, 1)
        );
        assert_eq!(
            decode_cells(&[data(CELLS_1)], 3).unwrap(),
            vec![3325, 3326, 3326]
        );
    }

    /// The 16 frames of the capture's 0x95 answer (all sent, 7–16 empty).
    fn cell_frames() -> Vec<[u8; 8]> {
        let mv: [u16; 16] = [
            3325, 3326, 3326, 3326, 3326, 3326, 3326, 3326, 3326, 3326, 3324, 3326, 3326, 3327,
            3326, 3324,
        ];
        (1..=16u8)
            .map(|n| {
                let mut d = [0u8; 8];
                d[0] = n;
                for k in 0..3 {
                    let i = (usize::from(n) - 1) * 3 + k;
                    let v = mv.get(i).copied().unwrap_or(0);
                    d[1 + 2 * k..3 + 2 * k].copy_from_slice(&v.to_be_bytes());
                }
                d[7] = 0x40;
                d
            })
            .collect()
    }

    #[test]
    fn golden_reading() {
        let s = Snapshot {
            soc: Some(data(SOC)),
            cell_range: Some(data(RANGE)),
            mos: Some(data(MOS)),
            status: Some(data(STATUS)),
            cells: cell_frames(),
            ..Snapshot::default()
        };
        assert_eq!(cell_frames()[0], data(CELLS_1));
        let f = fields(&s, false).unwrap();
        let get = |n: &str| f.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        assert_eq!(get("pack_voltage"), Value::Float(53.2));
        assert_eq!(get("pack_current"), Value::Float(-2.1));
        assert_eq!(get("soc"), Value::Float(88.8));
        assert_eq!(get("cell_count"), Value::Int(16));
        let Value::Floats(cells) = get("cell_voltages") else {
            panic!()
        };
        assert_eq!(cells.len(), 16);
        assert_eq!(cells[0], 3.325);
        assert_eq!(cells[10], 3.324);
        assert_eq!(cells[13], 3.327);
        assert_eq!(get("cell_voltage_max"), Value::Float(3.327));
        assert_eq!(get("cell_voltage_min"), Value::Float(3.324));
        assert_eq!(get("state"), Value::Text("idle".into()));
        assert_eq!(get("remaining_ah"), Value::Float(172.76));
        assert_eq!(get("cycle_count"), Value::Int(3));
        assert_eq!(get("charge_fet"), Value::Bool(true));
        for (name, _) in f.iter() {
            let spec = crate::catalog::lookup(name).unwrap_or_else(|| panic!("{name}"));
            assert!(spec.sources.contains(&"daly"), "{name} lacks source daly");
        }
        let r = raw(&s);
        assert_eq!(r["cell_range"]["max_cell"], 15);
        assert_eq!(r["bms_life"], 154);
    }

    #[test]
    fn fault_bits_cover_the_catalogue() {
        let mut s = Snapshot {
            soc: Some(data(SOC)),
            faults: Some([0xFF, 0xFF, 0xFF, 0x0F, 0xFF, 0xFF, 0x0F, 7]),
            ..Snapshot::default()
        };
        let f = fields(&s, false).unwrap();
        let set: Vec<&str> = f
            .iter()
            .filter(|(_, v)| **v == Value::Bool(true))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(set.len(), 8 + 8 + 8 + 4 + 8 + 8 + 4);
        for n in &set {
            assert!(
                crate::catalog::lookup(n).is_some_and(|s| s.sources.contains(&"daly")),
                "{n}"
            );
        }
        s.faults = Some([0b10, 0, 0, 0, 0, 0, 0, 0]);
        let f = fields(&s, false).unwrap();
        assert_eq!(f.get("protection_cell_ov"), Some(&Value::Bool(true)));
        assert_eq!(f.get("warning_cell_ov"), Some(&Value::Bool(false)));
    }

    #[test]
    fn echo_is_never_a_reply() {
        // A sleeping Daly echoes the request 1-5 ms later with a valid checksum.
        let q = request(HOST_RS485, 1, DataId::Soc);
        assert_eq!(scan(&q), Scan::Frame);
        assert_eq!(judge(&q, 1, DataId::Soc), Verdict::Echo);
        assert_eq!(
            collect(&q, 1, DataId::Soc, None),
            Collected::Nothing {
                echo: true,
                noise: false
            }
        );
        let mut buf = q.to_vec();
        buf.extend(unhex(SOC));
        assert!(matches!(collect(&buf, 1, DataId::Soc, None), Collected::Done(f) if f.len() == 1));
        // Another id, or another board: not the answer.
        assert_eq!(judge(&unhex(SOC), 2, DataId::Soc), Verdict::Other);
        assert_eq!(judge(&unhex(SOC), 1, DataId::Mos), Verdict::Other);
    }

    #[test]
    fn multi_frame_collection() {
        let frames: Vec<u8> = cell_frames()
            .iter()
            .flat_map(|d| encode_frame(1, 0x95, *d))
            .collect();
        // UART style: only the frames with data (6 for 16 cells) are needed.
        let need = frames_for(DataId::Cells, 16);
        assert_eq!(need, 6);
        assert!(matches!(
            collect(&frames[..5 * FRAME_LEN], 1, DataId::Cells, Some(need)),
            Collected::Partial(f) if f.len() == 5
        ));
        assert!(matches!(
            collect(&frames[..6 * FRAME_LEN], 1, DataId::Cells, Some(need)),
            Collected::Done(f) if f.len() == 6
        ));
        // A frame sent twice counts once.
        let mut twice = frames[..FRAME_LEN].to_vec();
        twice.extend_from_slice(&frames[..FRAME_LEN]);
        assert!(matches!(
            collect(&twice, 1, DataId::Cells, Some(need)),
            Collected::Partial(f) if f.len() == 1
        ));
        // A missing frame is named.
        let err = decode_cells(&cell_frames()[1..], 16).unwrap_err();
        assert_eq!(err.to_string(), "cell voltages: 13 of 16 value(s) arrived");
        assert_eq!(
            decode_temperatures(&[[1, 65, 60, 0, 0, 0, 0, 0]], 2).unwrap(),
            vec![25, 20]
        );
    }

    #[test]
    fn no_panic_on_any_input() {
        let mut rng = 12345u64;
        for _ in 0..2000 {
            let mut buf = Vec::new();
            for _ in 0..(rng % 60) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                buf.push(if rng.is_multiple_of(5) {
                    START
                } else {
                    (rng >> 8) as u8
                });
            }
            for id in DataId::ALL {
                let _ = collect(&buf, 1, id, Some(3));
            }
        }
        let frames = vec![[0u8; 8], [255u8; 8]];
        let _ = decode_cells(&frames, 255);
        let _ = decode_temperatures(&frames, 255);
    }
}
