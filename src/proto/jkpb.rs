//! JK-PB "inverter BMS" (PB2A16S15P/20P) over RS-485 (protocols.md §15.1).
//!
//! 115200 8N1. A pack sends a 300-byte record `55 AA EB 90 tt cc ...` (tt: 1 settings, 2 live
//! data, 3 about; cc a frame counter; little-endian fields; byte 299 the low byte of the sum of
//! bytes 0-298), then a Modbus FC16 acknowledgement carrying its address. The record itself
//! carries no address: it belongs to the address of the trigger before it or the ack after it;
//! a record with neither is the bus master's own broadcast (address 0).
//!
//! ```text
//! 01 10 16 20 00 01 02 00 00 D6 F1     trigger (address 1, register 0x1620: live data)
//! 55 AA EB 90 02 AC 05 0D FE 0C ...    the record, 300 bytes, sum8 at 299
//! 01 10 16 20 00 01 xx xx              the acknowledgement (address, FC16, register, 1)
//! ```
//!
//! Read-only by construction: the triggers are Modbus FC16 *writes* into the command page that
//! also holds shutdown (0x1604), calibration and chemistry presets, so the only FC16 frames
//! this module can build are the three triggers of [`Trigger`] (a fixed template, only the
//! address byte and its CRC vary; addresses 1-15), and the only other requests are the FC03
//! reads of [`ModbusRead`]. bms-poll's default for this family is to listen and send nothing.

use crate::proto::codec::{self, Decoded, Judge};
use crate::proto::modbus::{crc16, crc_ok};
use crate::record::{Fields, Info, Value};
use serde_json::{json, Map};
use thiserror::Error;

/// The first four bytes of every record.
pub const MAGIC: [u8; 4] = [0x55, 0xAA, 0xEB, 0x90];
/// Length of a record, checksum included.
pub const RECORD_LEN: usize = 300;
/// Length of a trigger frame and of its acknowledgement.
pub const TRIGGER_LEN: usize = 11;
pub const ACK_LEN: usize = 8;
/// Highest slave address (DIP switches); 0 is the bus master.
pub const MAX_ADDRESS: u8 = 15;

/// What a record holds (byte 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// 0x01: the settings (protection limits, cell count, capacity, address).
    Settings,
    /// 0x02: live data.
    Live,
    /// 0x03: about (model, versions, serial).
    About,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Settings, Kind::Live, Kind::About];

    pub fn code(self) -> u8 {
        match self {
            Kind::Settings => 1,
            Kind::Live => 2,
            Kind::About => 3,
        }
    }

    pub fn from_code(c: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == c)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Settings => "settings (type 1)",
            Kind::Live => "live data (type 2)",
            Kind::About => "about (type 3)",
        }
    }
}

/// The three trigger frames: the allow-list of writes. Nothing else can be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Register 0x1620: answered with a live-data record.
    Live,
    /// Register 0x161E: answered with a settings record.
    Settings,
    /// Register 0x161C: answered with an about record.
    About,
}

impl Trigger {
    pub const ALL: [Trigger; 3] = [Trigger::Live, Trigger::Settings, Trigger::About];

    /// The command-page register written.
    pub fn register(self) -> u16 {
        match self {
            Trigger::Live => 0x1620,
            Trigger::Settings => 0x161E,
            Trigger::About => 0x161C,
        }
    }

    /// The record it is answered with.
    pub fn kind(self) -> Kind {
        match self {
            Trigger::Live => Kind::Live,
            Trigger::Settings => Kind::Settings,
            Trigger::About => Kind::About,
        }
    }

    pub fn from_register(r: u16) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.register() == r)
    }

    pub fn for_kind(k: Kind) -> Trigger {
        match k {
            Kind::Live => Trigger::Live,
            Kind::Settings => Trigger::Settings,
            Kind::About => Trigger::About,
        }
    }

    /// The trigger frame for a slave at `address` (1-15): `aa 10 16 rr 00 01 02 00 00 crc`;
    /// None for any other address (0 is the master, and broadcasts are never sent).
    pub fn frame(self, address: u8) -> Option<[u8; TRIGGER_LEN]> {
        if !(1..=MAX_ADDRESS).contains(&address) {
            return None;
        }
        let r = self.register().to_be_bytes();
        let mut f = [
            address, 0x10, r[0], r[1], 0x00, 0x01, 0x02, 0x00, 0x00, 0, 0,
        ];
        let c = crc16(&f[..9]).to_le_bytes();
        f[9] = c[0];
        f[10] = c[1];
        Some(f)
    }
}

/// The plain Modbus FC03 reads (`--jk-modbus-read`): windows of the live block 0x1200 and the
/// device block 0x1400, each at most 40 registers (reads of 128 fail). Register = block base
/// + the record's byte offset − 6; N registers return 2N bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModbusRead {
    /// Cells, present bits, average and difference: record bytes 6-85.
    LiveCells,
    /// MOS temperature to the temperature-sensor bits: record bytes 144-223.
    LiveStatus,
    /// Model, hardware, software, runtime, power-on count: about bytes 6-45.
    InfoIdentity,
    /// Serial number: about bytes 86-101.
    InfoSerial,
}

impl ModbusRead {
    pub const ALL: [ModbusRead; 4] = [
        ModbusRead::LiveCells,
        ModbusRead::LiveStatus,
        ModbusRead::InfoIdentity,
        ModbusRead::InfoSerial,
    ];

    /// (first register, register count).
    pub fn window(self) -> (u16, u16) {
        match self {
            ModbusRead::LiveCells => (0x1200, 40),
            ModbusRead::LiveStatus => (0x128A, 40),
            ModbusRead::InfoIdentity => (0x1400, 20),
            ModbusRead::InfoSerial => (0x1450, 8),
        }
    }

    /// Where the answer's bytes go in a record of [`ModbusRead::kind`].
    pub fn record_offset(self) -> usize {
        6 + usize::from(self.window().0 & 0xFF)
    }

    pub fn kind(self) -> Kind {
        match self {
            ModbusRead::LiveCells | ModbusRead::LiveStatus => Kind::Live,
            ModbusRead::InfoIdentity | ModbusRead::InfoSerial => Kind::About,
        }
    }

    /// The request for a slave at `address` (1-15).
    pub fn request(self, address: u8) -> Option<crate::proto::modbus::ReadRequest> {
        if !(1..=MAX_ADDRESS).contains(&address) {
            return None;
        }
        let (start, count) = self.window();
        Some(crate::proto::modbus::ReadRequest::holding(
            address, start, count,
        ))
    }
}

/// The low byte of the sum of `bytes`.
pub fn sum8(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("record: {len} bytes, need {RECORD_LEN}")]
    Length { len: usize },
    #[error("record: no 55 AA EB 90 header")]
    Magic,
    #[error("record: checksum byte 299 is {got:#04x}, the sum of bytes 0-298 is {want:#04x}")]
    Checksum { got: u8, want: u8 },
    #[error("record: unknown type {0:#04x} at byte 4")]
    Type(u8),
    #[error("expected a {expected} record, got {got}")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
}

/// Checks a complete record (exactly 300 bytes) and returns its type.
pub fn check_record(rec: &[u8]) -> Result<Kind, RecordError> {
    if rec.len() != RECORD_LEN {
        return Err(RecordError::Length { len: rec.len() });
    }
    if rec[..4] != MAGIC {
        return Err(RecordError::Magic);
    }
    let want = sum8(&rec[..RECORD_LEN - 1]);
    if rec[RECORD_LEN - 1] != want {
        return Err(RecordError::Checksum {
            got: rec[RECORD_LEN - 1],
            want,
        });
    }
    Kind::from_code(rec[4]).ok_or(RecordError::Type(rec[4]))
}

fn expect(rec: &[u8], kind: Kind) -> Result<(), RecordError> {
    let got = check_record(rec)?;
    if got != kind {
        return Err(RecordError::Unexpected {
            expected: kind.name(),
            got: got.name(),
        });
    }
    Ok(())
}

/// One thing found in a byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A checksum-valid record of `len` bytes.
    Record { kind: Kind, len: usize },
    /// A trigger frame (some master asking `address` for a record).
    Trigger {
        address: u8,
        trigger: Trigger,
        len: usize,
    },
    /// A FC16 acknowledgement from `address` for `register`.
    Ack {
        address: u8,
        register: u16,
        len: usize,
    },
    /// Nothing of ours: skip `skip` bytes (≥ 1).
    Skip { skip: usize, reason: &'static str },
    /// Something may start here but is incomplete.
    NeedMore,
}

/// The reason for bytes between frames (zero fill, other traffic): not worth a message.
pub const BETWEEN_FRAMES: &str = "bytes between frames";

/// Looks at the start of `buf` for a record, a trigger or an acknowledgement.
pub fn scan(buf: &[u8]) -> Piece {
    if buf.is_empty() {
        return Piece::NeedMore;
    }
    let magic = buf.len().min(4);
    if buf[..magic] == MAGIC[..magic] {
        if buf.len() < RECORD_LEN {
            return Piece::NeedMore;
        }
        return match check_record(&buf[..RECORD_LEN]) {
            Ok(kind) => Piece::Record {
                kind,
                len: RECORD_LEN,
            },
            Err(RecordError::Checksum { .. }) => Piece::Skip {
                skip: 1,
                reason: "a record with a bad checksum",
            },
            Err(_) => Piece::Skip {
                skip: 1,
                reason: "a record of an unknown type",
            },
        };
    }
    if buf.len() == 1 && buf[0] <= MAX_ADDRESS {
        return Piece::NeedMore; // an address whose function code has not come yet
    }
    if buf.len() >= 2 && buf[1] == 0x10 && buf[0] <= MAX_ADDRESS {
        if buf.len() < ACK_LEN {
            return Piece::NeedMore;
        }
        let register = u16::from_be_bytes([buf[2], buf[3]]);
        let one = buf[4..6] == [0, 1];
        if one && buf.len() >= TRIGGER_LEN && buf[6] == 2 && crc_ok(&buf[..TRIGGER_LEN]) {
            if let Some(trigger) = Trigger::from_register(register) {
                return Piece::Trigger {
                    address: buf[0],
                    trigger,
                    len: TRIGGER_LEN,
                };
            }
        }
        if one && crc_ok(&buf[..ACK_LEN]) {
            return Piece::Ack {
                address: buf[0],
                register,
                len: ACK_LEN,
            };
        }
        if one && buf[6] == 2 && buf.len() < TRIGGER_LEN {
            return Piece::NeedMore;
        }
    }
    // Skip to the next byte that could start something.
    let next = (1..buf.len())
        .find(|&i| buf[i] == MAGIC[0] || (buf[i] <= MAX_ADDRESS && buf.get(i + 1) == Some(&0x10)))
        .unwrap_or(buf.len());
    let next = if next == buf.len() && buf[buf.len() - 1] <= MAX_ADDRESS && buf.len() > 1 {
        // The last byte may be an address whose function code has not come yet.
        buf.len() - 1
    } else {
        next
    };
    Piece::Skip {
        skip: next.max(1),
        reason: BETWEEN_FRAMES,
    }
}

/// A record heard on the bus, with the address it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    pub address: u8,
    pub kind: Kind,
    pub record: Vec<u8>,
}

/// Finds records in a byte stream (a listener's) and tells whose they are: the trigger before
/// a record or the acknowledgement after it names the slave; a record with neither is the
/// master's own (address 0). Bounded: at most one record and one incomplete frame are held.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// The last trigger seen, not answered yet.
    asked: Option<(u8, Trigger)>,
    /// A record waiting for the frame after it (an ack names its address).
    pending: Option<(Kind, Vec<u8>, Option<u8>)>,
    /// Counters: records, bad records, bytes skipped.
    pub records: u64,
    pub bad: u64,
    pub skipped: u64,
}

impl Framer {
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Feeds received bytes; returns the records whose address is settled.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Heard> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < self.buf.len() {
            match scan(&self.buf[pos..]) {
                Piece::NeedMore => break,
                Piece::Skip { skip, reason } => {
                    if reason != BETWEEN_FRAMES {
                        self.bad += 1;
                    }
                    self.skipped += skip as u64;
                    pos += skip;
                }
                Piece::Record { kind, len } => {
                    out.extend(self.settle(None));
                    let rec = self.buf[pos..pos + len].to_vec();
                    let asked = self
                        .asked
                        .take()
                        .filter(|(_, t)| t.kind() == kind)
                        .map(|(a, _)| a);
                    self.pending = Some((kind, rec, asked));
                    self.records += 1;
                    pos += len;
                }
                Piece::Trigger {
                    address,
                    trigger,
                    len,
                } => {
                    out.extend(self.settle(None));
                    self.asked = Some((address, trigger));
                    pos += len;
                }
                Piece::Ack {
                    address,
                    register,
                    len,
                } => {
                    let matches = self.pending.as_ref().is_some_and(|(k, _, _)| {
                        Trigger::from_register(register).is_some_and(|t| t.kind() == *k)
                    });
                    out.extend(self.settle(matches.then_some(address)));
                    self.asked = None;
                    pos += len;
                }
            }
        }
        self.buf.drain(..pos);
        // Never hold more than one record's worth of an incomplete frame.
        if self.buf.len() > RECORD_LEN {
            let extra = self.buf.len() - RECORD_LEN;
            self.buf.drain(..extra);
            self.skipped += extra as u64;
        }
        out
    }

    /// The line went quiet (or the input ended): a held record is the master's own unless a
    /// trigger named its slave.
    pub fn flush(&mut self) -> Vec<Heard> {
        self.settle(None).into_iter().collect()
    }

    fn settle(&mut self, ack: Option<u8>) -> Option<Heard> {
        let (kind, record, asked) = self.pending.take()?;
        Some(Heard {
            address: ack.or(asked).unwrap_or(0),
            kind,
            record,
        })
    }
}

/// The live data of a type-2 record (32-cell layout, JK02_32S).
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// Cell voltages in mV of the cells present.
    pub cells_mv: Vec<u16>,
    pub present: u32,
    pub average_mv: u16,
    pub difference_mv: u16,
    /// 0-based indices of the highest and lowest cell, as sent.
    pub highest: u8,
    pub lowest: u8,
    /// MOSFET temperature, 0.1 °C.
    pub mos_dc: i16,
    pub voltage_mv: u32,
    pub power_mw: u32,
    /// + = charging.
    pub current_ma: i32,
    /// T1, T2, T3, T4, T5 in 0.1 °C, as sent (offsets 162, 164, 254, 256, 258).
    pub temps_dc: [i16; 5],
    /// Sensors present: bit 0 MOS, 1 T1, 2 T2, 3-5 T3-T5.
    pub sensors: u8,
    pub alarms: u32,
    pub balance_ma: i16,
    /// 0 off, 1 charging, 2 discharging.
    pub balance_state: u8,
    pub soc: u8,
    pub remaining_mah: u32,
    pub full_mah: u32,
    pub cycles: u32,
    pub cycle_capacity_mah: u32,
    pub soh: u8,
    pub precharge: bool,
    pub runtime_s: u32,
    pub charge_fet: bool,
    pub discharge_fet: bool,
    pub heater: bool,
    pub frame_counter: u8,
}

fn u16le(r: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([r[o], r[o + 1]])
}

fn u32le(r: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([r[o], r[o + 1], r[o + 2], r[o + 3]])
}

/// Decodes a type-2 record (checked: length, header, checksum, type).
pub fn parse_live(rec: &[u8]) -> Result<Live, RecordError> {
    expect(rec, Kind::Live)?;
    Ok(live_fields(rec))
}

/// The type-2 layout over a 300-byte image (a record, or FC03 windows placed into one).
fn live_fields(r: &[u8]) -> Live {
    let present = u32le(r, 70);
    let all: Vec<u16> = (0..32).map(|n| u16le(r, 6 + 2 * n)).collect();
    let cells_mv = if present != 0 {
        all.iter()
            .enumerate()
            .filter(|(i, _)| present & (1 << i) != 0)
            .map(|(_, &v)| v)
            .collect()
    } else {
        let n = all.iter().rposition(|&v| v != 0).map_or(0, |i| i + 1);
        all[..n].to_vec()
    };
    let s16 = |o: usize| u16le(r, o) as i16;
    Live {
        cells_mv,
        present,
        average_mv: u16le(r, 74),
        difference_mv: u16le(r, 76),
        highest: r[78],
        lowest: r[79],
        mos_dc: s16(144),
        voltage_mv: u32le(r, 150),
        power_mw: u32le(r, 154),
        current_ma: u32le(r, 158) as i32,
        temps_dc: [s16(162), s16(164), s16(254), s16(256), s16(258)],
        sensors: r[214],
        alarms: u32le(r, 166),
        balance_ma: s16(170),
        balance_state: r[172],
        soc: r[173],
        remaining_mah: u32le(r, 174),
        full_mah: u32le(r, 178),
        cycles: u32le(r, 182),
        cycle_capacity_mah: u32le(r, 186),
        soh: r[190],
        precharge: r[191] != 0,
        runtime_s: u32le(r, 194),
        charge_fet: r[198] != 0,
        discharge_fet: r[199] != 0,
        heater: r[215] != 0,
        frame_counter: r[5],
    }
}

/// The alarm bits of a type-2 record (offset 166), bit n = entry n, as field names.
pub const ALARM_BITS: [&str; 24] = [
    "alarm_wire_resistance",
    "protection_mos_ot",
    "alarm_cell_count",
    "alarm_current_sensor",
    "protection_cell_ov",
    "protection_pack_ov",
    "protection_charge_oc",
    "protection_charge_short_circuit",
    "protection_charge_ot",
    "protection_charge_ut",
    "alarm_internal_comm",
    "protection_cell_uv",
    "protection_pack_uv",
    "protection_discharge_oc",
    "protection_short_circuit",
    "protection_discharge_ot",
    "alarm_charge_mos",
    "alarm_discharge_mos",
    "alarm_gps_disconnected",
    "alarm_change_password",
    "alarm_discharge_on_failed",
    "protection_battery_ot",
    "alarm_temperature_sensor",
    "alarm_parallel_module",
];

/// A sensor that is absent reads −2000 (−200.0 °C).
const ABSENT_DC: i16 = -2000;

impl Live {
    /// Probe temperatures in °C: T1, T2 and T3-T5 where their present bit is set (all five
    /// when no bit is set, an older firmware), absent sensors left out.
    pub fn temperatures_c(&self) -> Vec<f64> {
        self.temps_dc
            .iter()
            .enumerate()
            .filter(|(i, &t)| {
                let bit = 1u8 << (i + 1);
                (self.sensors == 0 || self.sensors & bit != 0) && t > ABSENT_DC
            })
            .map(|(_, &t)| f64::from(t) / 10.0)
            .collect()
    }

    /// Checks what a JK-PB sends (for detection and against noise that passes the sum8).
    pub fn plausible(&self) -> Result<(), String> {
        if self.cells_mv.is_empty() || self.cells_mv.len() > 32 {
            return Err(format!("{} cells", self.cells_mv.len()));
        }
        if self.soc > 100 {
            return Err(format!("SOC {} %", self.soc));
        }
        Ok(())
    }
}

/// The reading's fields from a live record, with the settings when they were heard.
pub fn fields(l: &Live, settings: Option<&Settings>) -> Fields {
    let mut f = Fields::new();
    f.float("pack_voltage", f64::from(l.voltage_mv) / 1000.0);
    f.float("pack_current", f64::from(l.current_ma) / 1000.0);
    f.int("soc", l.soc);
    f.int("soh", l.soh);
    if !l.cells_mv.is_empty() {
        let v: Vec<f64> = l
            .cells_mv
            .iter()
            .map(|&mv| f64::from(mv) / 1000.0)
            .collect();
        f.add_cell_stats(&v);
        f.set("cell_voltages", Value::Floats(v));
    }
    f.int("cell_count", l.cells_mv.len() as i64);
    let temps = l.temperatures_c();
    if !temps.is_empty() {
        f.set("temperatures", Value::Floats(temps));
    }
    if l.mos_dc > ABSENT_DC {
        f.float("temperature_mos", f64::from(l.mos_dc) / 10.0);
    }
    f.float("remaining_ah", f64::from(l.remaining_mah) / 1000.0);
    f.float("capacity_ah", f64::from(l.full_mah) / 1000.0);
    if let Some(s) = settings {
        f.float("design_capacity_ah", f64::from(s.capacity_mah) / 1000.0);
    }
    f.int("cycle_count", l.cycles);
    f.bool("balancing", l.balance_state != 0);
    f.float("balancing_current", f64::from(l.balance_ma) / 1000.0);
    f.bool("charge_fet", l.charge_fet);
    f.bool("discharge_fet", l.discharge_fet);
    for (bit, name) in ALARM_BITS.iter().enumerate() {
        f.bool(name, l.alarms & (1 << bit) != 0);
    }
    f
}

/// What the reading keeps undecoded.
pub fn raw(l: &Live, settings: Option<&Settings>) -> Map<String, serde_json::Value> {
    let mut m = Map::new();
    m.insert("alarms".into(), json!(l.alarms));
    m.insert("cell_average_mv".into(), json!(l.average_mv));
    m.insert("power_mw".into(), json!(l.power_mw));
    m.insert(
        "cycle_capacity_ah".into(),
        json!(l.cycle_capacity_mah / 1000),
    );
    m.insert("runtime_s".into(), json!(l.runtime_s));
    m.insert("balancing_state".into(), json!(l.balance_state));
    m.insert("precharge".into(), json!(l.precharge));
    m.insert("heater".into(), json!(l.heater));
    if let Some(s) = settings {
        m.insert("cell_uv_mv".into(), json!(s.cell_uv_mv));
        m.insert("cell_ov_mv".into(), json!(s.cell_ov_mv));
        m.insert("charge_oc_ma".into(), json!(s.charge_oc_ma));
        m.insert("discharge_oc_ma".into(), json!(s.discharge_oc_ma));
        m.insert("charge_ut_dc".into(), json!(s.charge_ut_dc));
        m.insert("settings_cell_count".into(), json!(s.cell_count));
        m.insert("settings_address".into(), json!(s.address));
    }
    m
}

/// A few useful fields of a type-1 (settings) record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub cell_uv_mv: u32,
    pub cell_ov_mv: u32,
    pub charge_oc_ma: u32,
    pub discharge_oc_ma: u32,
    /// Charge low-temperature limit, 0.1 °C (signed).
    pub charge_ut_dc: i32,
    pub cell_count: u32,
    pub capacity_mah: u32,
    pub address: u32,
}

pub fn parse_settings(rec: &[u8]) -> Result<Settings, RecordError> {
    expect(rec, Kind::Settings)?;
    Ok(Settings {
        cell_uv_mv: u32le(rec, 10),
        cell_ov_mv: u32le(rec, 18),
        charge_oc_ma: u32le(rec, 50),
        discharge_oc_ma: u32le(rec, 62),
        charge_ut_dc: u32le(rec, 98) as i32,
        cell_count: u32le(rec, 114),
        capacity_mah: u32le(rec, 130),
        address: u32le(rec, 270),
    })
}

/// The about record's strings (the passcode at 62 is never read).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct About {
    pub model: String,
    pub hardware: String,
    pub software: String,
    pub runtime_s: u32,
    pub power_on_count: u32,
    pub name: String,
    pub date: String,
    pub serial: String,
}

fn text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b[..end]
        .iter()
        .filter(|c| c.is_ascii_graphic() || **c == b' ')
        .map(|&c| c as char)
        .collect::<String>()
        .trim()
        .to_string()
}

pub fn parse_about(rec: &[u8]) -> Result<About, RecordError> {
    expect(rec, Kind::About)?;
    Ok(about_fields(rec))
}

fn about_fields(r: &[u8]) -> About {
    About {
        model: text(&r[6..22]),
        hardware: text(&r[22..30]),
        software: text(&r[30..38]),
        runtime_s: u32le(r, 38),
        power_on_count: u32le(r, 42),
        name: text(&r[46..62]),
        date: text(&r[78..86]),
        serial: text(&r[86..102]),
    }
}

/// The device's identity from its about record.
pub fn info(a: &About) -> Info {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Info {
        manufacturer: Some("JK".into()),
        model: some(&a.model),
        firmware: some(&a.software),
        hardware: some(&a.hardware),
        serial: some(&a.serial),
    }
}

/// Places FC03 answers (register values, big-endian on the wire) into a 300-byte image of the
/// record they come from, so the record decoders read them. Bytes of a window arrive in the
/// order of the block, which is the record's order.
pub fn image_from_reads(kind: Kind, reads: &[(ModbusRead, Vec<u16>)]) -> Vec<u8> {
    let mut img = vec![0u8; RECORD_LEN];
    img[..4].copy_from_slice(&MAGIC);
    img[4] = kind.code();
    for (read, regs) in reads.iter().filter(|(r, _)| r.kind() == kind) {
        let mut o = read.record_offset();
        for w in regs {
            for b in w.to_be_bytes() {
                if o < RECORD_LEN - 1 {
                    img[o] = b;
                }
                o += 1;
            }
        }
    }
    img[RECORD_LEN - 1] = sum8(&img[..RECORD_LEN - 1]);
    img
}

/// Decodes a live-data image (from [`image_from_reads`]).
pub fn live_from_image(img: &[u8]) -> Result<Live, RecordError> {
    if img.len() != RECORD_LEN {
        return Err(RecordError::Length { len: img.len() });
    }
    Ok(live_fields(img))
}

/// Decodes an about image (from [`image_from_reads`]).
pub fn about_from_image(img: &[u8]) -> Result<About, RecordError> {
    if img.len() != RECORD_LEN {
        return Err(RecordError::Length { len: img.len() });
    }
    Ok(about_fields(img))
}

/// A record of `kind` with `body` from byte 6 on (simulators, tests): header, counter,
/// checksum.
pub fn encode_record(kind: Kind, counter: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; RECORD_LEN];
    r[..4].copy_from_slice(&MAGIC);
    r[4] = kind.code();
    r[5] = counter;
    let n = body.len().min(RECORD_LEN - 7);
    r[6..6 + n].copy_from_slice(&body[..n]);
    r[RECORD_LEN - 1] = sum8(&r[..RECORD_LEN - 1]);
    r
}

/// The acknowledgement a slave sends after its record.
pub fn encode_ack(address: u8, register: u16) -> Vec<u8> {
    let r = register.to_be_bytes();
    let mut f = vec![address, 0x10, r[0], r[1], 0x00, 0x01];
    crate::proto::modbus::append_crc(&mut f);
    f
}

/// A live record's bytes from decoded values (simulators, tests): the inverse of
/// [`parse_live`] for the fields it reads.
pub fn encode_live(l: &Live, counter: u8) -> Vec<u8> {
    let mut r = encode_record(Kind::Live, counter, &[]);
    let put16 = |r: &mut Vec<u8>, o: usize, v: u16| r[o..o + 2].copy_from_slice(&v.to_le_bytes());
    let put32 = |r: &mut Vec<u8>, o: usize, v: u32| r[o..o + 4].copy_from_slice(&v.to_le_bytes());
    let mut present = 0u32;
    for (i, &mv) in l.cells_mv.iter().take(32).enumerate() {
        put16(&mut r, 6 + 2 * i, mv);
        present |= 1 << i;
    }
    put32(&mut r, 70, present);
    put16(&mut r, 74, l.average_mv);
    put16(&mut r, 76, l.difference_mv);
    r[78] = l.highest;
    r[79] = l.lowest;
    put16(&mut r, 144, l.mos_dc as u16);
    put32(&mut r, 150, l.voltage_mv);
    put32(&mut r, 154, l.power_mw);
    put32(&mut r, 158, l.current_ma as u32);
    for (o, t) in [162, 164, 254, 256, 258].into_iter().zip(l.temps_dc) {
        put16(&mut r, o, t as u16);
    }
    r[214] = l.sensors;
    put32(&mut r, 166, l.alarms);
    put16(&mut r, 170, l.balance_ma as u16);
    r[172] = l.balance_state;
    r[173] = l.soc;
    put32(&mut r, 174, l.remaining_mah);
    put32(&mut r, 178, l.full_mah);
    put32(&mut r, 182, l.cycles);
    put32(&mut r, 186, l.cycle_capacity_mah);
    r[190] = l.soh;
    r[191] = u8::from(l.precharge);
    put32(&mut r, 194, l.runtime_s);
    r[198] = u8::from(l.charge_fet);
    r[199] = u8::from(l.discharge_fet);
    r[215] = u8::from(l.heater);
    r[RECORD_LEN - 1] = sum8(&r[..RECORD_LEN - 1]);
    r
}

/// An about record (simulators, tests).
pub fn encode_about(a: &About, counter: u8) -> Vec<u8> {
    let mut r = encode_record(Kind::About, counter, &[]);
    let put = |r: &mut Vec<u8>, o: usize, n: usize, s: &str| {
        let b = s.as_bytes();
        let k = b.len().min(n);
        r[o..o + k].copy_from_slice(&b[..k]);
    };
    put(&mut r, 6, 16, &a.model);
    put(&mut r, 22, 8, &a.hardware);
    put(&mut r, 30, 8, &a.software);
    r[38..42].copy_from_slice(&a.runtime_s.to_le_bytes());
    r[42..46].copy_from_slice(&a.power_on_count.to_le_bytes());
    put(&mut r, 46, 16, &a.name);
    put(&mut r, 78, 8, &a.date);
    put(&mut r, 86, 16, &a.serial);
    r[RECORD_LEN - 1] = sum8(&r[..RECORD_LEN - 1]);
    r
}

/// A settings record (simulators, tests).
pub fn encode_settings(s: &Settings, counter: u8) -> Vec<u8> {
    let mut r = encode_record(Kind::Settings, counter, &[]);
    for (o, v) in [
        (10, s.cell_uv_mv),
        (18, s.cell_ov_mv),
        (50, s.charge_oc_ma),
        (62, s.discharge_oc_ma),
        (98, s.charge_ut_dc as u32),
        (114, s.cell_count),
        (130, s.capacity_mah),
        (270, s.address),
    ] {
        r[o..o + 4].copy_from_slice(&v.to_le_bytes());
    }
    r[RECORD_LEN - 1] = sum8(&r[..RECORD_LEN - 1]);
    r
}

/// The JK-PB codec for the poll engine, used only when the user allows asking
/// (`--jk-trigger`, or `--jk-modbus-read`): by default bms-poll listens (see
/// [`crate::proto::hear`]). With triggers: live data (and the settings, optional) every cycle,
/// the about record once per connection; with `modbus_read`: FC03 windows of 0x1200/0x1400.
#[derive(Debug, Clone, Default)]
pub struct Codec {
    pub modbus_read: bool,
    pub invert_current: bool,
}

/// `Request::what` of the FC03 reads: 0x80 + their index in [`ModbusRead::ALL`].
const WHAT_READ: u8 = 0x80;

fn read_of(what: u8) -> Option<ModbusRead> {
    ModbusRead::ALL
        .get(usize::from(what.checked_sub(WHAT_READ)?))
        .copied()
}

impl Codec {
    fn trigger(t: Trigger, address: u8, required: bool) -> Vec<codec::Request> {
        t.frame(address)
            .map(|f| codec::Request {
                bytes: f.to_vec(),
                what: t.kind().code(),
                required,
            })
            .into_iter()
            .collect()
    }

    fn reads(reads: &[ModbusRead], address: u8) -> Vec<codec::Request> {
        reads
            .iter()
            .filter_map(|&m| {
                let i = ModbusRead::ALL.iter().position(|&x| x == m)? as u8;
                Some(codec::Request::required(
                    m.request(address)?.encode(),
                    WHAT_READ + i,
                ))
            })
            .collect()
    }

    fn registers(
        answers: &[Option<Vec<u8>>],
        reqs: &[codec::Request],
    ) -> Vec<(ModbusRead, Vec<u16>)> {
        reqs.iter()
            .zip(answers)
            .filter_map(|(r, a)| {
                let m = read_of(r.what)?;
                let a = a.as_deref()?;
                let q = m.request(a.first().copied().unwrap_or(0))?;
                crate::proto::modbus::parse_reply(a, &q)
                    .ok()
                    .map(|regs| (m, regs))
            })
            .collect()
    }
}

impl codec::Codec for Codec {
    fn identity(&self, address: u8) -> Vec<codec::Request> {
        if self.modbus_read {
            Codec::reads(&[ModbusRead::InfoIdentity, ModbusRead::InfoSerial], address)
        } else {
            Codec::trigger(Trigger::About, address, true)
        }
    }

    fn status(&self, address: u8) -> Vec<codec::Request> {
        if self.modbus_read {
            Codec::reads(&[ModbusRead::LiveCells, ModbusRead::LiveStatus], address)
        } else {
            let mut r = Codec::trigger(Trigger::Live, address, true);
            r.extend(Codec::trigger(Trigger::Settings, address, false));
            r
        }
    }

    fn judge(
        &self,
        address: u8,
        req: &codec::Request,
        _prior: &[Option<Vec<u8>>],
        buf: &[u8],
        last: bool,
    ) -> Judge {
        if let Some(m) = read_of(req.what) {
            let Some(q) = m.request(address) else {
                return Judge::Done(Err(format!("address {address} out of range")));
            };
            return match crate::proto::modbus::scan_reply(buf, &q) {
                crate::proto::modbus::ReplyScan::Done { registers, .. } => Judge::Done(Ok(
                    crate::proto::modbus::encode_read_reply(address, 0x03, &registers),
                )),
                crate::proto::modbus::ReplyScan::Failed(e) => Judge::Done(Err(e.to_string())),
                crate::proto::modbus::ReplyScan::Incomplete if last => {
                    Judge::Done(Err(crate::proto::modbus::reply_error(buf, &q).to_string()))
                }
                crate::proto::modbus::ReplyScan::Incomplete => Judge::More,
            };
        }
        // A trigger: the record of the asked type, then (usually) the ack from the address.
        let want = Kind::from_code(req.what);
        let mut record: Option<&[u8]> = None;
        let mut why: Option<String> = None;
        let mut pos = 0;
        while pos < buf.len() {
            match scan(&buf[pos..]) {
                Piece::NeedMore => break,
                Piece::Skip { skip, reason } => {
                    if reason != BETWEEN_FRAMES {
                        why = Some(reason.to_string());
                    }
                    pos += skip;
                }
                Piece::Trigger { len, .. } => pos += len, // our own request, echoed
                Piece::Record { kind, len } => {
                    if Some(kind) == want {
                        record = Some(&buf[pos..pos + len]);
                    } else {
                        why = Some(format!("a {} record instead", kind.name()));
                    }
                    pos += len;
                }
                Piece::Ack {
                    address: a, len, ..
                } => {
                    if a != address {
                        return Judge::Done(Err(format!(
                            "the acknowledgement came from address {a}, not {address}: \
                             another master or a wrong DIP address on the bus?"
                        )));
                    }
                    if let Some(r) = record {
                        return Judge::Done(Ok(r.to_vec()));
                    }
                    pos += len;
                }
            }
        }
        match (record, last) {
            (Some(r), true) => Judge::Done(Ok(r.to_vec())),
            (Some(_), false) => Judge::Settle,
            (None, true) => Judge::Done(Err(why.unwrap_or_else(|| {
                if buf.is_empty() {
                    "no answer".into()
                } else {
                    format!("{} byte(s), no record", buf.len())
                }
            }))),
            (None, false) => Judge::More,
        }
    }

    fn decode(&self, address: u8, answers: &[Option<Vec<u8>>]) -> Result<Decoded, String> {
        let mut live = if self.modbus_read {
            let reqs = self.status(address);
            let regs = Codec::registers(answers, &reqs);
            if regs.len() < reqs.len() {
                return Err("an FC03 read of the live block failed".into());
            }
            live_from_image(&image_from_reads(Kind::Live, &regs)).map_err(|e| e.to_string())?
        } else {
            let rec = answers
                .first()
                .and_then(Option::as_deref)
                .ok_or("no live-data record")?;
            parse_live(rec).map_err(|e| e.to_string())?
        };
        if self.invert_current {
            live.current_ma = live.current_ma.saturating_neg();
        }
        let settings = answers
            .get(1)
            .and_then(Option::as_deref)
            .filter(|_| !self.modbus_read)
            .and_then(|r| parse_settings(r).ok());
        Ok(Decoded {
            fields: fields(&live, settings.as_ref()),
            raw: raw(&live, settings.as_ref()),
        })
    }

    fn decode_identity(&self, address: u8, answers: &[Option<Vec<u8>>]) -> Option<Info> {
        let about = if self.modbus_read {
            let reqs = self.identity(address);
            let regs = Codec::registers(answers, &reqs);
            if regs.is_empty() {
                return None;
            }
            about_from_image(&image_from_reads(Kind::About, &regs)).ok()?
        } else {
            parse_about(answers.first().and_then(Option::as_deref)?).ok()?
        };
        Some(info(&about))
    }

    fn probe(&self, address: u8) -> codec::Request {
        // Address 0 (the master) cannot be asked: an empty request, which sends nothing.
        self.identity(address)
            .into_iter()
            .next()
            .unwrap_or_else(|| codec::Request::required(Vec::new(), 0))
    }

    fn check_probe(&self, address: u8, answer: &[u8]) -> Result<Info, String> {
        let about = match read_of(self.probe(address).what) {
            Some(m) => {
                let q = m.request(address).ok_or("address out of range")?;
                let regs =
                    crate::proto::modbus::parse_reply(answer, &q).map_err(|e| e.to_string())?;
                about_from_image(&image_from_reads(Kind::About, &[(m, regs)]))
                    .map_err(|e| e.to_string())?
            }
            None => parse_about(answer).map_err(|e| e.to_string())?,
        };
        if !about.model.starts_with("JK") {
            return Err(format!("model '{}' is not a JK", about.model));
        }
        Ok(info(&about))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace([' ', '\n'], "")).unwrap()
    }

    // protocols.md §15.1: mpp-solar jkpb.py RS-485 captures of an 8S JK-PB2A16S15P (record,
    // then the ACK), and aiobmsble's JK02_32S_v15 live record (PB2A16S20P, sw 15.38).
    pub const ABOUT_CAPTURE: &str = "55AAEB9003054A4B5F5042324131365331355000000031352E584100000031352E3130000000450BCE00C401000041545220424D5300000000000000000031323334000000000000000000000000323430353130000033313231333438303038350030303000000000000000000000000000000000003430393600000000000000000000000000000000000000000000000000000000FEFFFFFF2FE9010200000000901F00000000C0D8E7FE1F00000100000000000000000100CF030000000000000000000000000000DF07000000000000000000000000000001CF03000000000000000000000000000A00000101000000000000000000000000000000000000000000000008070000323201000000000000000000000000000000000000FE9FE9FF07000000000000005F0110161C0001C447";
    pub const SETTINGS_CAPTURE: &str = "55AAEB900105E40C00005A0A0000960A0000420E0000AA0D000005000000AB0D00008C0A0000AC0D0000480D0000C4090000F04902001E0000003C000000F04902001E0000003C00000005000000D0070000580200002602000058020000260200009CFFFFFFCEFFFFFFE80300002003000008000000010000000100000001000000605B0300DC050000160D00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000010000000500000060E3160050033C3218FEFFFFFF3FE9010200000000500110161E00016587";
    pub const LIVE_RECORD: &str = "55AAEB9002AC050DFE0CFE0C010D010DFD0CFB0C010DFC0CFB0CFE0CFB0CF80CFB0CFB0C090D0000000000000000000000000000000000000000000000000000000000000000FFFF0000FF0C10000F0C40003D0040003D0041003F0041003E0041003E0041003D0040003E0041003F000000000000000000000000000000000000000000000000000000000000000000810000000000E8CF00004AE41900897C000086008000000000000000001986C00000400D030009000000B15F1C00640000008C4C760101010000000000000000000000000000FF0001000000050452000000D44E404000000000CA1400000001010100060000EA67000000000000CD00C300BF00BD03287F030A1D0000008051010000000100A50202000000000000FEFF7FDC2F0101B0CF070000BB";

    #[test]
    fn triggers_are_the_published_bytes() {
        let t = |t: Trigger, a| t.frame(a).unwrap().to_vec();
        assert_eq!(
            t(Trigger::Live, 1),
            unhex("01 10 16 20 00 01 02 00 00 D6 F1")
        );
        assert_eq!(
            t(Trigger::Settings, 1),
            unhex("01 10 16 1E 00 01 02 00 00 D2 2F")
        );
        assert_eq!(
            t(Trigger::About, 1),
            unhex("01 10 16 1C 00 01 02 00 00 D3 CD")
        );
        assert_eq!(
            t(Trigger::Live, 2),
            unhex("02 10 16 20 00 01 02 00 00 C2 01")
        );
        assert_eq!(Trigger::Live.frame(0), None);
        assert_eq!(Trigger::Live.frame(16), None);
        assert_eq!(encode_ack(1, 0x161C), unhex("01 10 16 1C 00 01 C4 47"));
        let r = |m: ModbusRead| m.request(1).unwrap().encode();
        assert_eq!(r(ModbusRead::LiveCells)[..6], unhex("01 03 12 00 00 28"));
        assert_eq!(r(ModbusRead::InfoIdentity)[..4], unhex("01 03 14 00"));
        assert!(ModbusRead::LiveCells.request(0).is_none());
    }

    /// Everything this module can send: three FC16 triggers to 0x161C/0x161E/0x1620 with the
    /// value 0, and FC03 reads of ≤ 40 registers in 0x1200-0x12FF / 0x1400-0x14FF; never
    /// anything to 0x1600-0x1612 or 0x1000, and never address 0.
    #[test]
    fn every_request_is_a_trigger_or_a_read() {
        for a in 0..=255u8 {
            for t in Trigger::ALL {
                if let Some(f) = t.frame(a) {
                    assert!((1..=15).contains(&a));
                    assert_eq!(f[1..9], [0x10, 0x16, f[3], 0, 1, 2, 0, 0]);
                    assert!([0x1C, 0x1E, 0x20].contains(&f[3]));
                    assert!(crc_ok(&f));
                }
            }
            for m in ModbusRead::ALL {
                if let Some(q) = m.request(a) {
                    let b = q.encode();
                    assert_eq!(b[1], 0x03);
                    assert!(b[2] == 0x12 || b[2] == 0x14);
                    assert!(u16::from_be_bytes([b[4], b[5]]) <= 40);
                    assert!(
                        usize::from(b[3]) + 2 * usize::from(b[5]) <= 0x100,
                        "{m:?} leaves its block"
                    );
                }
            }
        }
    }

    #[test]
    fn golden_about() {
        let cap = unhex(ABOUT_CAPTURE);
        assert_eq!(cap.len(), 308);
        let a = parse_about(&cap[..300]).unwrap();
        assert_eq!(a.model, "JK_PB2A16S15P");
        assert_eq!(a.hardware, "15.XA");
        assert_eq!(a.software, "15.10");
        assert_eq!(a.runtime_s, 13_503_301);
        assert_eq!(a.power_on_count, 452);
        assert_eq!(a.name, "ATR BMS");
        assert_eq!(a.date, "240510");
        assert_eq!(a.serial, "31213480085");
        let i = info(&a);
        assert_eq!(i.serial.as_deref(), Some("31213480085"));
        assert_eq!(i.firmware.as_deref(), Some("15.10"));
        assert_eq!(i.manufacturer.as_deref(), Some("JK"));
        // Round trip through the simulator's encoder (the fields it reads).
        assert_eq!(parse_about(&encode_about(&a, 5)).unwrap(), a);
    }

    #[test]
    fn golden_settings() {
        let cap = unhex(SETTINGS_CAPTURE);
        let s = parse_settings(&cap[..300]).unwrap();
        assert_eq!(
            s,
            Settings {
                cell_uv_mv: 2650,
                cell_ov_mv: 3650,
                charge_oc_ma: 150_000,
                discharge_oc_ma: 150_000,
                charge_ut_dc: -100,
                cell_count: 8,
                capacity_mah: 220_000,
                address: 1,
            }
        );
        assert_eq!(parse_settings(&encode_settings(&s, 1)).unwrap(), s);
        assert!(matches!(
            parse_settings(&unhex(LIVE_RECORD)),
            Err(RecordError::Unexpected { .. })
        ));
    }

    #[test]
    fn golden_live() {
        let rec = unhex(LIVE_RECORD);
        let l = parse_live(&rec).unwrap();
        assert_eq!(
            l.cells_mv,
            [
                3333, 3326, 3326, 3329, 3329, 3325, 3323, 3329, 3324, 3323, 3326, 3323, 3320, 3323,
                3323, 3337
            ]
        );
        assert_eq!((l.average_mv, l.difference_mv), (3327, 16));
        assert_eq!((l.highest, l.lowest), (15, 12));
        assert_eq!(l.voltage_mv, 53_224);
        assert_eq!(l.current_ma, 31_881);
        assert_eq!((l.soc, l.soh), (25, 100));
        assert_eq!(
            (l.remaining_mah, l.full_mah, l.cycles),
            (49_286, 200_000, 9)
        );
        assert_eq!(l.alarms, 0);
        assert!(l.charge_fet && l.discharge_fet);
        assert_eq!(l.mos_dc, 129);
        assert_eq!(l.temperatures_c(), vec![13.4, 12.8, 20.5, 19.5, 19.1]);
        l.plausible().unwrap();
        let f = fields(&l, None);
        let get = |n: &str| f.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        assert_eq!(get("pack_voltage"), Value::Float(53.224));
        assert_eq!(get("pack_current"), Value::Float(31.881));
        assert_eq!(get("soc"), Value::Int(25));
        assert_eq!(get("cell_count"), Value::Int(16));
        assert_eq!(get("cell_voltage_delta_mv"), Value::Int(17));
        // The record's 0-based indices, 1-based in the reading.
        assert_eq!(get("cell_highest"), Value::Int(i64::from(l.highest) + 1));
        assert_eq!(get("cell_lowest"), Value::Int(i64::from(l.lowest) + 1));
        assert_eq!(get("temperature_mos"), Value::Float(12.9));
        assert_eq!(get("remaining_ah"), Value::Float(49.286));
        assert_eq!(get("capacity_ah"), Value::Float(200.0));
        assert_eq!(get("cycle_count"), Value::Int(9));
        assert_eq!(get("balancing"), Value::Bool(false));
        assert_eq!(get("protection_cell_ov"), Value::Bool(false));
        for (name, _) in f.iter() {
            let spec = crate::catalog::lookup(name).unwrap_or_else(|| panic!("{name}"));
            assert!(spec.sources.contains(&"jk-pb"), "{name} lacks source jk-pb");
        }
        // The simulator's encoder writes what the decoder reads.
        let again = parse_live(&encode_live(&l, 0xAC)).unwrap();
        assert_eq!(again.cells_mv, l.cells_mv);
        assert_eq!(fields(&again, None), f);
    }

    #[test]
    fn alarm_bits_sign_and_settings() {
        let mut l = parse_live(&unhex(LIVE_RECORD)).unwrap();
        l.alarms = (1 << 14) | (1 << 4);
        l.current_ma = -12_345;
        l.temps_dc[0] = -55;
        l.temps_dc[4] = ABSENT_DC;
        let s = parse_settings(&unhex(SETTINGS_CAPTURE)[..300]).unwrap();
        let l = parse_live(&encode_live(&l, 1)).unwrap();
        let f = fields(&l, Some(&s));
        assert_eq!(f.get("pack_current"), Some(&Value::Float(-12.345)));
        assert_eq!(f.get("protection_short_circuit"), Some(&Value::Bool(true)));
        assert_eq!(f.get("protection_cell_ov"), Some(&Value::Bool(true)));
        assert_eq!(f.get("protection_pack_ov"), Some(&Value::Bool(false)));
        assert_eq!(
            f.get("temperatures"),
            Some(&Value::Floats(vec![-5.5, 12.8, 20.5, 19.5]))
        );
        assert_eq!(f.get("design_capacity_ah"), Some(&Value::Float(220.0)));
        assert_eq!(raw(&l, Some(&s))["charge_ut_dc"], -100);
    }

    #[test]
    fn framer_attributes_records_to_addresses() {
        let live = unhex(LIVE_RECORD);
        let about = unhex(ABOUT_CAPTURE); // record + ACK from address 1
        let mut bus = Vec::new();
        // The master's own record (no trigger, no ack), a zero byte, then a poll of slave 2
        // with an echo-like zero pair around the ack, then a poll of slave 1 for its about.
        bus.extend(&live);
        bus.push(0);
        bus.extend(Trigger::Live.frame(2).unwrap());
        bus.extend(&live);
        bus.push(0);
        bus.extend(encode_ack(2, 0x1620));
        bus.push(0);
        bus.extend(Trigger::About.frame(1).unwrap());
        bus.extend(&about);
        // Fed in every piece size, down to byte by byte.
        for size in 1..=13 {
            let mut f = Framer::new();
            let mut got = Vec::new();
            for chunk in bus.chunks(size) {
                got.extend(f.feed(chunk));
            }
            got.extend(f.flush());
            let who: Vec<(u8, Kind)> = got.iter().map(|h| (h.address, h.kind)).collect();
            assert_eq!(
                who,
                [(0, Kind::Live), (2, Kind::Live), (1, Kind::About)],
                "chunks of {size}"
            );
            assert_eq!(got[1].record, live);
            assert_eq!((f.records, f.bad), (3, 0));
        }
        // A record whose trigger was missed is named by its ack.
        let mut f = Framer::new();
        let mut got = f.feed(&about[3..]); // starts mid-record: nothing
        got.extend(f.feed(&about));
        got.extend(f.flush());
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].address, got[0].kind), (1, Kind::About));
        // A damaged record is counted, not returned.
        let mut bad = live.clone();
        bad[100] ^= 0x40;
        let mut f = Framer::new();
        assert!(f.feed(&bad).is_empty() && f.flush().is_empty());
        assert!(f.bad >= 1);
    }

    #[test]
    fn modbus_windows_fill_a_record_image() {
        let rec = unhex(LIVE_RECORD);
        let window = |m: ModbusRead| -> (ModbusRead, Vec<u16>) {
            let (_, n) = m.window();
            let o = m.record_offset();
            let regs = rec[o..o + 2 * usize::from(n)]
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            (m, regs)
        };
        let img = image_from_reads(
            Kind::Live,
            &[
                window(ModbusRead::LiveCells),
                window(ModbusRead::LiveStatus),
            ],
        );
        let l = live_from_image(&img).unwrap();
        let want = parse_live(&rec).unwrap();
        assert_eq!(l.cells_mv, want.cells_mv);
        assert_eq!(
            (l.voltage_mv, l.current_ma, l.soc, l.cycles),
            (want.voltage_mv, want.current_ma, want.soc, want.cycles)
        );
        assert_eq!(l.temperatures_c()[..2], want.temperatures_c()[..2]);
    }

    #[test]
    fn no_panic_on_any_prefix_or_flip() {
        let rec = unhex(ABOUT_CAPTURE);
        for n in 0..=rec.len() {
            let _ = scan(&rec[..n]);
            let _ = check_record(&rec[..n]);
            let _ = parse_live(&rec[..n]);
            let _ = parse_about(&rec[..n]);
            let _ = parse_settings(&rec[..n]);
            let _ = live_from_image(&rec[..n]);
            let mut f = Framer::new();
            let _ = f.feed(&rec[..n]);
            let _ = f.flush();
        }
        for i in (0..rec.len()).step_by(3) {
            let mut r = rec.clone();
            r[i] ^= 0xA5;
            let _ = scan(&r);
            let mut f = Framer::new();
            let _ = f.feed(&r);
        }
    }
}
