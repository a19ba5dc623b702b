//! EG4 LifePower4 v2 register maps (protocols.md §1.4–1.6, decision 1).
//!
//! The default map is EG4-LL V01.06: a 39-register status block from 0 and a 23-register
//! identity block from 105. Decoding works on register *windows* by absolute address, so a
//! 47-register read, a sniffed inverter poll of 19–35 or any partial block decodes what it
//! covers and nothing more. The window itself always goes to `raw` so nothing is lost.
//!
//! ```text
//! reg  0     14F6        pack voltage 53.66 V (×0.01)
//! reg  1     0078        pack current +1.20 A (s16 ×0.01, + = charging)
//! reg  2-17  0D1A …      cell 1..16 in mV
//! reg 18     0019        PCB temperature 25 °C (s16)
//! reg 21-24  0061 0064 0064 0061   remaining 97 Ah, max charge 100 A, SOH 100 %, SOC 97 %
//! reg 25     0001        status: charging
//! reg 26-28  0000 ×3     warning, protection, error bits
//! reg 29-30  0000 000B   cycles 11 (u32, high word first)
//! reg 31-32  1575 2A00   full capacity 360 000 000 mAs = 100 Ah
//! reg 33-35  1818 1818 0000   sensor temperatures, one signed byte each: 24 24 24 24 0 0
//! reg 36-38  0010 03E8 0000   16 cells, design 100.0 Ah, no cell balancing
//! ```

use crate::proto::codec::{Decoded, Judge, Request};
use crate::proto::modbus::{parse_read_request, reply_error, scan_reply, ReadRequest, ReplyScan};
use crate::record::{Fields, Info, Value};

/// Which register layout a pack is decoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Map {
    /// EG4-LL Modbus protocol V01.06 (default; every public decoder with real vectors).
    V0106,
    /// eg4-battery's 47-register interpretation, for comparison (contradicted from reg 18 on).
    Eg4Battery,
}

impl Map {
    pub fn parse(s: &str) -> Result<Map, String> {
        match s {
            "v01-06" | "v01_06" | "v0106" => Ok(Map::V0106),
            "eg4-battery" | "eg4_battery" => Ok(Map::Eg4Battery),
            other => Err(format!("unknown map '{other}': use v01-06 or eg4-battery")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Map::V0106 => "v01-06",
            Map::Eg4Battery => "eg4-battery",
        }
    }

    /// The status block this map reads: (start, count).
    pub fn status_block(self) -> (u16, u16) {
        match self {
            Map::V0106 => (0, 39),
            Map::Eg4Battery => (0, 47),
        }
    }
}

/// The identity block: model (105–116), firmware (117–119), serial (120–127).
pub const IDENTITY_BLOCK: (u16, u16) = (105, 23);

/// Warning bits of register 26 (V01.06), bit 0 first.
pub const WARNING_BITS: [&str; 14] = [
    "warning_pack_ov",
    "warning_cell_ov",
    "warning_pack_uv",
    "warning_cell_uv",
    "warning_charge_oc",
    "warning_discharge_oc",
    "warning_ambient_temp",
    "warning_mos_ot",
    "warning_charge_ot",
    "warning_discharge_ot",
    "warning_charge_ut",
    "warning_discharge_ut",
    "warning_low_capacity",
    "warning_float_stopped",
];

/// Protection bits of register 27 (V01.06), bit 0 first.
pub const PROTECTION_BITS: [&str; 14] = [
    "protection_pack_ov",
    "protection_cell_ov",
    "protection_pack_uv",
    "protection_cell_uv",
    "protection_charge_oc",
    "protection_discharge_oc",
    "protection_ambient_temp",
    "protection_mos_ot",
    "protection_charge_ot",
    "protection_discharge_ot",
    "protection_charge_ut",
    "protection_discharge_ut",
    "protection_low_capacity",
    "protection_short_circuit",
];

/// Error bits of register 28 (V01.06): (bit, field).
pub const ERROR_BITS: [(u8, &str); 4] = [
    (0, "alarm_voltage_error"),
    (1, "alarm_temperature_error"),
    (2, "alarm_current_error"),
    (4, "alarm_cell_unbalance"),
];

/// The register and bit of a flag field, for `bms-sim --fault` (a bare name such as
/// `cell_ov` means the warning).
pub fn fault_bit(name: &str) -> Option<(u16, u8)> {
    let full = if ["warning_", "protection_", "alarm_"]
        .iter()
        .any(|p| name.starts_with(p))
    {
        name.to_string()
    } else {
        format!("warning_{name}")
    };
    if let Some(b) = WARNING_BITS.iter().position(|n| *n == full) {
        return Some((26, b as u8));
    }
    if let Some(b) = PROTECTION_BITS.iter().position(|n| *n == full) {
        return Some((27, b as u8));
    }
    ERROR_BITS
        .iter()
        .find(|(_, n)| *n == full)
        .map(|(b, _)| (28, *b))
}

/// A register window: `regs[i]` is register `start + i`.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub start: u16,
    pub regs: &'a [u16],
}

impl Window<'_> {
    /// Register `addr`, if the window covers it.
    pub fn get(&self, addr: u16) -> Option<u16> {
        let i = addr.checked_sub(self.start)? as usize;
        self.regs.get(i).copied()
    }

    /// Registers `addr..addr+n`, if the window covers all of them.
    pub fn range(&self, addr: u16, n: usize) -> Option<&[u16]> {
        let i = addr.checked_sub(self.start)? as usize;
        self.regs.get(i..i.checked_add(n)?)
    }

    fn u32_at(&self, addr: u16) -> Option<u32> {
        let r = self.range(addr, 2)?;
        Some(u32::from(r[0]) << 16 | u32::from(r[1]))
    }
}

/// Decodes whatever of the status block `window` covers, with `map`.
pub fn decode(map: Map, window: Window<'_>) -> Fields {
    match map {
        Map::V0106 => decode_v0106(window),
        Map::Eg4Battery => decode_eg4_battery(window),
    }
}

fn volts_centi(r: u16) -> f64 {
    f64::from(r) / 100.0
}

fn amps_centi(r: u16) -> f64 {
    f64::from(r as i16) / 100.0
}

/// Cells 1..n from regs 2..: n is the reported cell count (reg 36) when the window has it,
/// else the covered cells up to the last non-zero one. Unused cells read 0.
fn cells(w: Window<'_>, count_reg: Option<u16>, f: &mut Fields) {
    let n = match count_reg {
        Some(c) => (c as usize).min(16),
        None => match w.range(2, 16) {
            Some(all) => all.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1),
            None => 0,
        },
    };
    if n == 0 {
        return;
    }
    if let Some(mv) = w.range(2, n) {
        let v: Vec<f64> = mv.iter().map(|&m| f64::from(m) / 1000.0).collect();
        f.set("cell_voltages", Value::Floats(v.clone()));
        f.add_cell_stats(&v);
    }
}

fn bits(f: &mut Fields, word: u16, names: &[&'static str]) {
    for (bit, name) in names.iter().enumerate() {
        f.bool(name, word >> bit & 1 == 1);
    }
}

fn state_name(status: u16) -> &'static str {
    match status & 0x0F {
        0 => "standby",
        1 => "charging",
        2 => "discharging",
        4 => "protect",
        8 => "charge_limit",
        _ => "unknown",
    }
}

fn decode_v0106(w: Window<'_>) -> Fields {
    let mut f = Fields::new();
    if let Some(r) = w.get(0) {
        f.float("pack_voltage", volts_centi(r));
    }
    if let Some(r) = w.get(1) {
        f.float("pack_current", amps_centi(r));
    }
    if let Some(r) = w.get(24) {
        f.int("soc", r);
    }
    if let Some(r) = w.get(23) {
        f.int("soh", r);
    }
    cells(w, w.get(36), &mut f);
    if let Some(t) = w.range(33, 3) {
        let mut temps: Vec<i64> = t
            .iter()
            .flat_map(|r| r.to_be_bytes())
            .map(|b| i64::from(b as i8))
            .collect();
        // Sensors 5 and 6 read 0 on 16S packs that do not fit them (§1.4).
        if temps[4] == 0 && temps[5] == 0 {
            temps.truncate(4);
        }
        f.set("temperatures", Value::Ints(temps));
    }
    if let Some(r) = w.get(18) {
        f.int("temperature_pcb", r as i16);
    }
    if let Some(r) = w.get(21) {
        f.int("remaining_ah", r);
    }
    if let Some(r) = w.u32_at(31) {
        f.float("capacity_ah", f64::from(r) / 3_600_000.0);
    }
    if let Some(r) = w.get(37) {
        f.float("design_capacity_ah", f64::from(r) / 10.0);
    }
    if let Some(r) = w.get(22) {
        f.int("max_charge_current", r);
    }
    if let Some(r) = w.u32_at(29) {
        f.int("cycle_count", r);
    }
    if let Some(r) = w.get(36) {
        f.int("cell_count", r);
    }
    if let Some(r) = w.get(25) {
        f.set("state", Value::Text(state_name(r).into()));
    }
    if let Some(r) = w.get(38) {
        f.int("balancing_mask", r);
    }
    if let Some(r) = w.get(26) {
        bits(&mut f, r, &WARNING_BITS);
    }
    if let Some(r) = w.get(27) {
        bits(&mut f, r, &PROTECTION_BITS);
    }
    if let Some(r) = w.get(28) {
        for (bit, name) in ERROR_BITS {
            f.bool(name, r >> bit & 1 == 1);
        }
    }
    f
}

/// eg4-battery's layout (protocols.md §1.4, column "eg4-battery"): kept so its users can
/// compare. Registers it reads but whose meaning it only guessed (25, 30–32, 39–46) stay raw.
fn decode_eg4_battery(w: Window<'_>) -> Fields {
    let mut f = Fields::new();
    if let Some(r) = w.get(0) {
        f.float("pack_voltage", volts_centi(r));
    }
    if let Some(r) = w.get(1) {
        f.float("pack_current", amps_centi(r));
    }
    if let Some(r) = w.get(22) {
        f.int("soc", r);
    }
    if let Some(r) = w.get(23) {
        f.int("soh", r);
    }
    cells(w, w.get(36), &mut f);
    if let Some(t) = w.range(18, 4) {
        let temps = t.iter().map(|&r| i64::from(r as i16)).collect();
        f.set("temperatures", Value::Ints(temps));
    }
    if let Some(r) = w.get(24) {
        f.int("temperature_pcb", r as i16);
    }
    if let Some(r) = w.get(38) {
        f.float("remaining_ah", f64::from(r) / 100.0);
    }
    if let Some(r) = w.get(37) {
        f.float("design_capacity_ah", f64::from(r) / 10.0);
    }
    if let Some(r) = w.get(39) {
        f.int("cycle_count", r);
    }
    if let Some(r) = w.get(36) {
        f.int("cell_count", r);
    }
    if let Some(r) = w.get(33) {
        bits(&mut f, r, &WARNING_BITS);
    }
    if let Some(r) = w.get(34) {
        bits(&mut f, r, &PROTECTION_BITS);
    }
    if let Some(r) = w.get(35) {
        for (bit, name) in ERROR_BITS {
            f.bool(name, r >> bit & 1 == 1);
        }
    }
    f
}

/// The raw window for a reading's `raw`: `{"start":0,"registers":[...]}`.
pub fn raw(window: Window<'_>) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("start".into(), window.start.into());
    m.insert("registers".into(), window.regs.to_vec().into());
    m
}

/// ASCII from registers (two bytes each, high first), NULs and padding trimmed,
/// non-printable bytes dropped.
pub fn ascii(regs: &[u16]) -> String {
    let bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_be_bytes()).collect();
    let s: String = bytes
        .iter()
        .filter(|b| b.is_ascii_graphic() || **b == b' ')
        .map(|&b| char::from(b))
        .collect();
    s.trim().to_string()
}

/// Decodes the identity block (23 registers from 105) into `info`.
pub fn decode_identity(window: Window<'_>) -> Info {
    let text = |addr, n| window.range(addr, n).map(ascii).filter(|s| !s.is_empty());
    Info {
        manufacturer: Some("EG4".into()),
        model: text(105, 12),
        firmware: text(117, 3),
        hardware: None,
        serial: text(120, 8),
    }
}

/// Registers from ASCII text, NUL padded to `n` registers (for the simulator).
pub fn ascii_regs(text: &str, n: usize) -> Vec<u16> {
    let mut bytes: Vec<u8> = text.bytes().take(n * 2).collect();
    bytes.resize(n * 2, 0);
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// The values a pack holds, in wire units (for the simulator's register image).
#[derive(Debug, Clone, PartialEq)]
pub struct PackImage {
    pub voltage_centi: u16,
    pub current_centi: i16,
    pub cells_mv: Vec<u16>,
    pub temp_pcb: i16,
    pub temp_19: i16,
    pub temp_20: i16,
    pub remaining_ah: u16,
    pub max_charge_current: u16,
    pub soh: u16,
    pub soc: u16,
    pub status: u16,
    pub warnings: u16,
    pub protections: u16,
    pub errors: u16,
    pub cycles: u32,
    pub full_capacity_mas: u32,
    pub sensors: [i8; 6],
    pub design_capacity_deci: u16,
    pub balancing: u16,
    pub model: String,
    pub firmware: String,
    pub serial: String,
}

impl PackImage {
    /// Registers 0..136 in the V01.06 layout; 39–104 and 128–135 hold plausible settings.
    pub fn registers(&self) -> Vec<u16> {
        let mut r = vec![0u16; 136];
        r[0] = self.voltage_centi;
        r[1] = self.current_centi as u16;
        for (i, &c) in self.cells_mv.iter().take(16).enumerate() {
            r[2 + i] = c;
        }
        r[18] = self.temp_pcb as u16;
        r[19] = self.temp_19 as u16;
        r[20] = self.temp_20 as u16;
        r[21] = self.remaining_ah;
        r[22] = self.max_charge_current;
        r[23] = self.soh;
        r[24] = self.soc;
        r[25] = self.status;
        r[26] = self.warnings;
        r[27] = self.protections;
        r[28] = self.errors;
        r[29] = (self.cycles >> 16) as u16;
        r[30] = self.cycles as u16;
        r[31] = (self.full_capacity_mas >> 16) as u16;
        r[32] = self.full_capacity_mas as u16;
        let s = self.sensors.map(|t| t as u8);
        r[33] = u16::from_be_bytes([s[0], s[1]]);
        r[34] = u16::from_be_bytes([s[2], s[3]]);
        r[35] = u16::from_be_bytes([s[4], s[5]]);
        r[36] = self.cells_mv.len().min(16) as u16;
        r[37] = self.design_capacity_deci;
        r[38] = self.balancing;
        // Settings block (§1.4): balance start/delta, cell and pack thresholds; temperatures
        // are stored as value + 50.
        r[56] = 3400;
        r[57] = 20;
        r[58] = 10;
        r[61..64].copy_from_slice(&[2900, 2700, 3000]);
        r[64..67].copy_from_slice(&[4640, 4320, 4800]);
        r[67..70].copy_from_slice(&[3600, 3650, 3450]);
        r[70..73].copy_from_slice(&[5760, 5840, 5520]);
        for (i, v) in (90..105).zip([
            105, 110, 100, 50, 45, 55, 110, 120, 100, 40, 30, 45, 130, 140, 120,
        ]) {
            r[i] = v;
        }
        r[105..117].copy_from_slice(&ascii_regs(&self.model, 12));
        r[117..120].copy_from_slice(&ascii_regs(&self.firmware, 3));
        r[120..128].copy_from_slice(&ascii_regs(&self.serial, 8));
        r[128..132].copy_from_slice(&[55, 60, 45, 85]);
        r
    }
}

/// The LP4 codec for bms-poll's engine: the status block of `map` every cycle, the identity
/// block once per connection (the same reads lp4-poll makes). Answers are the registers,
/// big-endian, as the decoders' windows take them.
#[derive(Debug, Clone, Copy)]
pub struct Codec {
    pub map: Map,
}

impl Codec {
    fn block(address: u8, (start, count): (u16, u16)) -> ReadRequest {
        ReadRequest::holding(address, start, count)
    }
}

fn registers(answer: &[u8]) -> Vec<u16> {
    answer
        .chunks_exact(2)
        .map(|w| u16::from_be_bytes([w[0], w[1]]))
        .collect()
}

impl crate::proto::codec::Codec for Codec {
    fn identity(&self, address: u8) -> Vec<Request> {
        vec![Request::required(
            Codec::block(address, IDENTITY_BLOCK).encode(),
            0x03,
        )]
    }

    fn status(&self, address: u8) -> Vec<Request> {
        vec![Request::required(
            Codec::block(address, self.map.status_block()).encode(),
            0x03,
        )]
    }

    fn judge(
        &self,
        _address: u8,
        req: &Request,
        _prior: &[Option<Vec<u8>>],
        buf: &[u8],
        last: bool,
    ) -> Judge {
        let Some(rr) = parse_read_request(&req.bytes) else {
            return Judge::Done(Err("not a read request".into()));
        };
        match scan_reply(buf, &rr) {
            ReplyScan::Done { registers, .. } => {
                Judge::Done(Ok(registers.iter().flat_map(|r| r.to_be_bytes()).collect()))
            }
            ReplyScan::Failed(e) => Judge::Done(Err(e.to_string())),
            ReplyScan::Incomplete if last => Judge::Done(Err(reply_error(buf, &rr).to_string())),
            ReplyScan::Incomplete if buf.len() >= rr.reply_len() => Judge::Settle,
            ReplyScan::Incomplete => Judge::More,
        }
    }

    fn decode(&self, _address: u8, answers: &[Option<Vec<u8>>]) -> Result<Decoded, String> {
        let regs = registers(
            answers
                .first()
                .and_then(Option::as_deref)
                .ok_or("no status block")?,
        );
        let window = Window {
            start: self.map.status_block().0,
            regs: &regs,
        };
        Ok(Decoded {
            fields: decode(self.map, window),
            raw: raw(window),
        })
    }

    fn decode_identity(&self, _address: u8, answers: &[Option<Vec<u8>>]) -> Option<Info> {
        let regs = registers(answers.first().and_then(Option::as_deref)?);
        Some(decode_identity(Window {
            start: IDENTITY_BLOCK.0,
            regs: &regs,
        }))
    }

    fn probe(&self, address: u8) -> Request {
        Request::required(
            Codec::block(address, Map::V0106.status_block()).encode(),
            0x03,
        )
    }

    fn check_probe(&self, _address: u8, answer: &[u8]) -> Result<Info, String> {
        let regs = registers(answer);
        let f = decode(
            Map::V0106,
            Window {
                start: 0,
                regs: &regs,
            },
        );
        match f.get("soc") {
            Some(Value::Int(s)) if (0..=100).contains(s) => Ok(Info {
                manufacturer: Some("EG4".into()),
                ..Info::default()
            }),
            other => Err(format!("implausible status block (SOC {other:?})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use crate::proto::modbus::{parse_reply, ReadRequest};

    fn wombatt() -> Vec<u16> {
        let bytes = crate::hexfmt::parse(include_str!("../../testdata/lp4/wombatt-status.hex"));
        parse_reply(&bytes.unwrap(), &ReadRequest::holding(2, 0, 39)).unwrap()
    }

    fn f(fields: &Fields, name: &str) -> Value {
        fields
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    }

    /// protocols.md §1.5, every value.
    #[test]
    fn decodes_real_vector() {
        let regs = wombatt();
        let d = decode(
            Map::V0106,
            Window {
                start: 0,
                regs: &regs,
            },
        );
        assert_eq!(f(&d, "pack_voltage"), Value::Float(53.66));
        assert_eq!(f(&d, "pack_current"), Value::Float(1.2));
        assert_eq!(f(&d, "soc"), Value::Int(97));
        assert_eq!(f(&d, "soh"), Value::Int(100));
        let cells = [
            3354, 3353, 3355, 3355, 3354, 3355, 3354, 3355, 3354, 3355, 3354, 3354, 3354, 3355,
            3354, 3354,
        ];
        assert_eq!(
            f(&d, "cell_voltages"),
            Value::Floats(cells.iter().map(|&c| f64::from(c) / 1000.0).collect())
        );
        assert_eq!(f(&d, "cell_voltage_min"), Value::Float(3.353));
        assert_eq!(f(&d, "cell_voltage_max"), Value::Float(3.355));
        assert_eq!(f(&d, "cell_voltage_delta_mv"), Value::Int(2));
        assert_eq!(f(&d, "cell_lowest"), Value::Int(2));
        assert_eq!(f(&d, "cell_highest"), Value::Int(3));
        assert_eq!(f(&d, "temperatures"), Value::Ints(vec![24; 4]));
        assert_eq!(f(&d, "temperature_pcb"), Value::Int(25));
        assert_eq!(f(&d, "remaining_ah"), Value::Int(97));
        assert_eq!(f(&d, "max_charge_current"), Value::Int(100));
        assert_eq!(f(&d, "state"), Value::Text("charging".into()));
        assert_eq!(f(&d, "cycle_count"), Value::Int(11));
        assert_eq!(f(&d, "capacity_ah"), Value::Float(100.0));
        assert_eq!(f(&d, "design_capacity_ah"), Value::Float(100.0));
        assert_eq!(f(&d, "cell_count"), Value::Int(16));
        assert_eq!(f(&d, "balancing_mask"), Value::Int(0));
        for name in WARNING_BITS.iter().chain(&PROTECTION_BITS) {
            assert_eq!(f(&d, name), Value::Bool(false));
        }
        // Every field written is in the catalogue.
        for (name, _) in d.iter() {
            assert!(
                catalog::lookup(name).is_some(),
                "{name} missing from catalogue"
            );
        }
    }

    /// The golden reading: testdata/lp4/wombatt-status.hex decodes to exactly
    /// testdata/lp4/wombatt-status.ndjson (with a fixed time and device id).
    /// `UPDATE_GENERATED=1` rewrites the expectation.
    #[test]
    fn golden_reading() {
        use crate::record::{Reading, Record};
        let regs = wombatt();
        let window = Window {
            start: 0,
            regs: &regs,
        };
        let reading = Record::Reading(Reading {
            ts: crate::time::Timestamp {
                unix_ms: 1_666_742_400_000,
            },
            source: "lp4",
            device: "lifepower4-2".into(),
            fields: decode(Map::V0106, window),
            info: Info::default(),
            raw: raw(window),
        });
        let got = serde_json::to_string(&reading).unwrap() + "\n";
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/lp4/wombatt-status.ndjson"
        );
        if std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1") {
            std::fs::write(path, &got).unwrap();
        }
        let want = std::fs::read_to_string(path).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn partial_windows_decode_what_they_cover() {
        let regs = wombatt();
        // An inverter poll of 19–35 (§1.6): no voltage, no cells, but SOC/SOH and bits.
        let w = Window {
            start: 19,
            regs: &regs[19..36],
        };
        let d = decode(Map::V0106, w);
        assert!(d.get("pack_voltage").is_none());
        assert!(d.get("cell_voltages").is_none());
        assert_eq!(f(&d, "soc"), Value::Int(97));
        assert_eq!(f(&d, "cycle_count"), Value::Int(11));
        // Only the first five registers: voltage, current and three cells (count unknown).
        let d = decode(
            Map::V0106,
            Window {
                start: 0,
                regs: &regs[..5],
            },
        );
        assert_eq!(f(&d, "pack_voltage"), Value::Float(53.66));
        assert!(d.get("cell_voltages").is_none());
        // Cells 1-16 without reg 36: trailing zero cells are dropped.
        let mut four = regs[..18].to_vec();
        for c in &mut four[6..18] {
            *c = 0;
        }
        let d = decode(
            Map::V0106,
            Window {
                start: 0,
                regs: &four,
            },
        );
        assert_eq!(
            f(&d, "cell_voltages"),
            Value::Floats(vec![3.354, 3.353, 3.355, 3.355])
        );
    }

    #[test]
    fn alarm_bits_and_signed_values() {
        let mut regs = wombatt();
        regs[1] = (-321i16) as u16;
        regs[26] = 1 << 1;
        regs[27] = 1 << 13;
        regs[28] = 1 << 4;
        regs[33] = u16::from_be_bytes([0x11, 0xC8]);
        regs[35] = u16::from_be_bytes([0x05, 0x00]);
        let d = decode(
            Map::V0106,
            Window {
                start: 0,
                regs: &regs,
            },
        );
        assert_eq!(f(&d, "pack_current"), Value::Float(-3.21));
        assert_eq!(f(&d, "warning_cell_ov"), Value::Bool(true));
        assert_eq!(f(&d, "warning_pack_ov"), Value::Bool(false));
        assert_eq!(f(&d, "protection_short_circuit"), Value::Bool(true));
        assert_eq!(f(&d, "alarm_cell_unbalance"), Value::Bool(true));
        assert_eq!(
            f(&d, "temperatures"),
            Value::Ints(vec![17, -56, 24, 24, 5, 0])
        );
    }

    #[test]
    fn eg4_battery_map_reads_its_own_places() {
        let regs: Vec<u16> = (0..47u16)
            .map(|i| if i == 36 { 16 } else { i + 1 })
            .collect();
        let d = decode(
            Map::Eg4Battery,
            Window {
                start: 0,
                regs: &regs,
            },
        );
        assert_eq!(f(&d, "soc"), Value::Int(23));
        assert_eq!(f(&d, "temperature_pcb"), Value::Int(25));
        assert_eq!(f(&d, "cycle_count"), Value::Int(40));
        assert_eq!(f(&d, "temperatures"), Value::Ints(vec![19, 20, 21, 22]));
        for (name, _) in d.iter() {
            assert!(
                catalog::lookup(name).is_some(),
                "{name} missing from catalogue"
            );
        }
    }

    #[test]
    fn identity_block() {
        // protocols.md §1.5 identity reply (CRC 48 18).
        let mut frame = vec![0x02, 0x03, 0x2E];
        let mut data = b"LFP-51.2V100Ah-V1.0".to_vec();
        data.resize(24, 0);
        data.extend_from_slice(b"Z02T04");
        let mut serial = b"2022-10-26".to_vec();
        serial.resize(16, 0);
        data.extend(serial);
        frame.extend(&data);
        crate::proto::modbus::append_crc(&mut frame);
        assert_eq!(&frame[frame.len() - 2..], &[0x48, 0x18]);
        let regs = parse_reply(&frame, &ReadRequest::holding(2, 105, 23)).unwrap();
        let info = decode_identity(Window {
            start: 105,
            regs: &regs,
        });
        assert_eq!(info.model.as_deref(), Some("LFP-51.2V100Ah-V1.0"));
        assert_eq!(info.firmware.as_deref(), Some("Z02T04"));
        assert_eq!(info.serial.as_deref(), Some("2022-10-26"));
        assert_eq!(info.manufacturer.as_deref(), Some("EG4"));
    }

    #[test]
    fn image_round_trips_through_decoder() {
        let img = PackImage {
            voltage_centi: 5300,
            current_centi: -1234,
            cells_mv: vec![
                3300, 3310, 3290, 3305, 3300, 3300, 3300, 3300, 3300, 3300, 3300, 3300, 3300, 3300,
                3300, 3301,
            ],
            temp_pcb: -5,
            temp_19: 20,
            temp_20: 19,
            remaining_ah: 55,
            max_charge_current: 100,
            soh: 99,
            soc: 55,
            status: 2,
            warnings: 0,
            protections: 0,
            errors: 0,
            cycles: 70_000,
            full_capacity_mas: 360_000_000,
            sensors: [21, 22, -3, 20, 0, 0],
            design_capacity_deci: 1000,
            balancing: 0b10,
            model: "LFP-51.2V100Ah-V1.0".into(),
            firmware: "Z02T21".into(),
            serial: "SIM-0001".into(),
        };
        let regs = img.registers();
        let d = decode(
            Map::V0106,
            Window {
                start: 0,
                regs: &regs[..39],
            },
        );
        assert_eq!(f(&d, "pack_current"), Value::Float(-12.34));
        assert_eq!(f(&d, "cycle_count"), Value::Int(70_000));
        assert_eq!(f(&d, "temperature_pcb"), Value::Int(-5));
        assert_eq!(f(&d, "cell_lowest"), Value::Int(3));
        assert_eq!(f(&d, "state"), Value::Text("discharging".into()));
        assert_eq!(f(&d, "temperatures"), Value::Ints(vec![21, 22, -3, 20]));
        let info = decode_identity(Window {
            start: 105,
            regs: &regs[105..128],
        });
        assert_eq!(info.serial.as_deref(), Some("SIM-0001"));
    }

    #[test]
    fn fault_names() {
        assert_eq!(fault_bit("warning_cell_ov"), Some((26, 1)));
        assert_eq!(fault_bit("cell_ov"), Some((26, 1)));
        assert_eq!(fault_bit("protection_short_circuit"), Some((27, 13)));
        assert_eq!(fault_bit("alarm_cell_unbalance"), Some((28, 4)));
        assert_eq!(fault_bit("nonsense"), None);
        for name in WARNING_BITS.iter().chain(&PROTECTION_BITS) {
            assert!(catalog::lookup(name).is_some());
        }
    }

    proptest::proptest! {
        #[test]
        fn any_window_decodes_without_panic(start in 0u16..200,
                                            regs in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..130)) {
            for map in [Map::V0106, Map::Eg4Battery] {
                let _ = decode(map, Window { start, regs: &regs });
            }
            let _ = decode_identity(Window { start, regs: &regs });
        }
    }
}
