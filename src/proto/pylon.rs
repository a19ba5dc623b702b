//! The battery-to-inverter CAN protocol ("Pylon LV", its Lux/EG4 and Victron cousins):
//! 500 kbit/s, 11-bit ids, little-endian fields (protocols.md §9).
//!
//! The master battery speaks for the whole bank about once a second; the inverter answers
//! with a heartbeat on 0x305. A real telegram (setfirelabs, Pylontech US5000, §9.4):
//!
//! ```text
//! 351#1402C012C012C201   CVL 0x0214 = 53.2 V, CCL 0x12C0 = 480.0 A, DCL 480.0 A, DVL 45.0 V
//! 355#58005E00           SOC 0x58 = 88 %, SOH 0x5E = 94 %
//! 356#7A13F2FE6B01       0x137A = 49.86 V (0.01 V), 0xFEF2 = −27.0 A (+ = charging), 36.3 °C
//! 359#0000000006504E    protection bytes 0–1, warning bytes 2–3, 6 modules, "PN"
//! 35C#C000               bit 7 charge enable, bit 6 discharge enable
//! 35E#50594C4F4E202020   manufacturer "PYLON   "
//! 305#0000000000000000   inverter heartbeat: the telegram ends here
//! ```
//!
//! [`Assembler`] collects one telegram's frames in fixed memory: the frames between two
//! heartbeats, or, on a bus without heartbeats (a log of the battery side only), from one
//! 0x351 to the next, so that the extension frames after the core set stay with their
//! telegram; a frame that repeats also ends a telegram. A telegram without the essential
//! frames (0x351, 0x355, 0x356: a log that starts mid-telegram) is dropped with a reason; at
//! the end of input a telegram is kept when it holds every core frame ([`CORE`]).
//!
//! [`decode`] reads a telegram into a [`Bank`] under a [`Profile`] (vendor differences are
//! data: [`PROFILES`]); [`encode`] goes the other way, for the simulator and the round-trip
//! tests; [`write_json`] writes the reading. Pure: no I/O.

use std::fmt;

/// The inverter's heartbeat (8 × 0x00): a telegram ends here.
pub const HEARTBEAT: u32 = 0x305;

/// The ids a telegram keeps, in raw-key order (0x307: the inverter's identification, raw).
pub const IDS: [u16; 19] = [
    0x307, 0x351, 0x354, 0x355, 0x356, 0x359, 0x35A, 0x35C, 0x35E, 0x35F, 0x370, 0x371, 0x372,
    0x373, 0x374, 0x375, 0x376, 0x377, 0x379,
];

/// Without heartbeats, this id starts a telegram: it comes first in the real capture of
/// §9.4 and in the order the public emitters list the frames. A battery that sends it
/// elsewhere in its burst still gets one telegram per burst, cut at 0x351.
pub const TELEGRAM_START: u32 = 0x351;

/// Without these a telegram is not worth a reading: limits, SOC/SOH, voltage and current.
pub const ESSENTIAL: [u16; 3] = [0x351, 0x355, 0x356];

/// The core set: each entry is one frame, or its newer-firmware replacement (0x359/0x35C
/// become 0x35A/0x35F, §9.3). A telegram still open at the end of input is complete once
/// each entry has been seen.
pub const CORE: [&[u16]; 6] = [
    &[0x351],
    &[0x355],
    &[0x356],
    &[0x359, 0x35A],
    &[0x35C, 0x35F],
    &[0x35E],
];

fn slot(id: u32) -> Option<usize> {
    Some(match id {
        0x307 => 0,
        0x351 => 1,
        0x354 => 2,
        0x355 => 3,
        0x356 => 4,
        0x359 => 5,
        0x35A => 6,
        0x35C => 7,
        0x35E => 8,
        0x35F => 9,
        0x370 => 10,
        0x371 => 11,
        0x372 => 12,
        0x373 => 13,
        0x374 => 14,
        0x375 => 15,
        0x376 => 16,
        0x377 => 17,
        0x379 => 18,
        _ => return None,
    })
}

fn mask(ids: &[u16]) -> u32 {
    ids.iter()
        .filter_map(|&id| slot(u32::from(id)))
        .fold(0, |m, s| m | 1 << s)
}

/// One frame's payload (classic CAN: at most 8 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Payload {
    len: u8,
    data: [u8; 8],
}

impl Payload {
    /// The bytes received.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }
}

/// The frames of one telegram, the newest of each id, and the time of the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telegram<T> {
    frames: [Payload; IDS.len()],
    seen: u32,
    /// Timestamp of the telegram's last frame.
    pub ts: T,
}

impl<T> Telegram<T> {
    /// An empty telegram.
    pub fn new(ts: T) -> Telegram<T> {
        Telegram {
            frames: [Payload::default(); IDS.len()],
            seen: 0,
            ts,
        }
    }

    /// The payload of `id`, if the telegram has it.
    pub fn get(&self, id: u16) -> Option<&[u8]> {
        let s = slot(u32::from(id))?;
        (self.seen & 1 << s != 0).then(|| self.frames[s].bytes())
    }

    /// Stores a frame (the first 8 bytes of `data`); false for an id the protocol does not
    /// have.
    pub fn set(&mut self, id: u32, data: &[u8]) -> bool {
        let Some(s) = slot(id) else { return false };
        let n = data.len().min(8);
        let p = &mut self.frames[s];
        p.len = n as u8;
        p.data = [0; 8];
        p.data[..n].copy_from_slice(&data[..n]);
        self.seen |= 1 << s;
        true
    }

    /// Number of frames held.
    pub fn len(&self) -> u32 {
        self.seen.count_ones()
    }

    /// No frame yet.
    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// The essential ids this telegram lacks.
    pub fn missing_essential(&self) -> Vec<u16> {
        ESSENTIAL
            .iter()
            .copied()
            .filter(|&id| self.get(id).is_none())
            .collect()
    }
}

/// What [`Assembler::push`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<T> {
    /// A complete telegram.
    Telegram(Telegram<T>),
    /// A telegram without its essential frames was thrown away.
    Dropped(Dropped<T>),
}

/// A dropped telegram: what it lacked, how many frames it held, its last frame's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped<T> {
    /// The essential ids it lacked.
    pub missing: Vec<u16>,
    /// Frames it held.
    pub frames: u32,
    /// Timestamp of its last frame.
    pub ts: T,
}

/// `telegram of 4 frames without 0x351, 0x355`
impl<T> fmt::Display for Dropped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "telegram of {} frame(s) without ", self.frames)?;
        for (i, id) in self.missing.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{id:#05x}")?;
        }
        Ok(())
    }
}

/// Counters kept by the [`Assembler`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames pushed.
    pub frames: u64,
    /// Heartbeats (0x305) seen.
    pub heartbeats: u64,
    /// Frames of other ids (a mixed bus), ignored.
    pub ignored: u64,
    /// Telegrams emitted.
    pub telegrams: u64,
    /// Telegrams dropped for lack of essential frames.
    pub dropped: u64,
}

/// Collects frames into telegrams, in fixed memory.
///
/// Push every frame with [`Assembler::push`]; an [`Event::Telegram`] is decoded with
/// [`decode`]. At end of input, [`Assembler::finish`] hands over a last telegram that is
/// complete.
#[derive(Debug, Clone)]
pub struct Assembler<T> {
    cur: Option<Telegram<T>>,
    heartbeats: bool,
    stats: Stats,
}

impl<T> Default for Assembler<T> {
    fn default() -> Self {
        Assembler::new()
    }
}

impl<T> Assembler<T> {
    /// An assembler waiting for the first frame.
    pub fn new() -> Assembler<T> {
        Assembler {
            cur: None,
            heartbeats: false,
            stats: Stats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Feeds one frame: `id` the 11-bit id of a standard data frame (the caller filters out
    /// extended, remote and error frames), `data` its payload, `ts` any timestamp type.
    pub fn push(&mut self, id: u32, data: &[u8], ts: T) -> Option<Event<T>> {
        self.stats.frames += 1;
        if id == HEARTBEAT {
            self.stats.heartbeats += 1;
            self.heartbeats = true;
            return self.close();
        }
        let Some(s) = slot(id) else {
            self.stats.ignored += 1;
            return None;
        };
        // Without heartbeats, 0x351 (first in every burst seen) starts a new telegram; with or without them, a frame that repeats ends the telegram (heartbeats
        // missing, or a battery that sends more often than the inverter beats).
        let starts = !self.heartbeats && id == TELEGRAM_START;
        let closes = self
            .cur
            .as_ref()
            .is_some_and(|t| t.seen & 1 << s != 0 || (starts && !t.is_empty()));
        let closed = if closes { self.close() } else { None };
        let t = match &mut self.cur {
            Some(t) => {
                t.ts = ts;
                t
            }
            None => self.cur.insert(Telegram::new(ts)),
        };
        t.set(id, data);
        closed
    }

    /// End of input: the telegram in progress if it is complete (every core frame);
    /// otherwise it is dropped silently (the log stopped mid-telegram).
    pub fn finish(&mut self) -> Option<Telegram<T>> {
        let t = self.cur.take()?;
        if core_complete(t.seen) {
            self.stats.telegrams += 1;
            Some(t)
        } else {
            None
        }
    }

    fn close(&mut self) -> Option<Event<T>> {
        let t = self.cur.take()?;
        let missing = t.missing_essential();
        if missing.is_empty() {
            self.stats.telegrams += 1;
            Some(Event::Telegram(t))
        } else {
            self.stats.dropped += 1;
            Some(Event::Dropped(Dropped {
                missing,
                frames: t.len(),
                ts: t.ts,
            }))
        }
    }
}

fn core_complete(seen: u32) -> bool {
    CORE.iter().all(|alt| seen & mask(alt) != 0)
}

// ---------------------------------------------------------------------------
// Profiles: the vendor differences, as data.

/// How byte 7 of 0x359 is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Byte7 {
    /// Not used (Pylon): kept in `raw`.
    Raw,
    /// The battery's DIP-switch address (Lux/EG4), as `dip_address`.
    DipAddress,
}

/// How 0x370/0x371 are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Vendor-specific meaning: kept in `raw`.
    Raw,
    /// 16 ASCII bytes of the BMS's name (diyBMS sends its hostname): `info.model`.
    Model,
}

/// One vendor's reading of the protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// `--profile` value.
    pub name: &'static str,
    /// Volts per unit of 0x356 bytes 0–1; `None`: pick the scale that agrees with 0x351's
    /// charge voltage limit ([`plausible_scale`]).
    pub voltage_scale: Option<f64>,
    /// 0x359 byte 7.
    pub byte7: Byte7,
    /// 0x370/0x371.
    pub names: Names,
    /// One line for --help.
    pub about: &'static str,
}

/// Every profile; the first is the default.
pub static PROFILES: &[Profile] = &[
    Profile {
        name: "auto",
        voltage_scale: None,
        byte7: Byte7::Raw,
        names: Names::Raw,
        about: "Pylon layout, 0x356 voltage scale (0.01 or 0.1 V) chosen to agree with 0x351's charge voltage limit",
    },
    Profile {
        name: "pylon",
        voltage_scale: Some(0.01),
        byte7: Byte7::Raw,
        names: Names::Raw,
        about: "Pylontech and compatibles (Pylon LV v1.2): 0x356 voltage in 0.01 V",
    },
    Profile {
        name: "lux",
        voltage_scale: Some(0.01),
        byte7: Byte7::DipAddress,
        names: Names::Raw,
        about: "EG4/Luxpower \"Lux\" protocol: as pylon, 0x359 byte 7 is the DIP address",
    },
    Profile {
        name: "victron",
        voltage_scale: Some(0.01),
        byte7: Byte7::Raw,
        names: Names::Model,
        about: "Victron-style emitters such as diyBMS: 0x370/0x371 carry the BMS name",
    },
    Profile {
        name: "pylon-dv",
        voltage_scale: Some(0.1),
        byte7: Byte7::Raw,
        names: Names::Raw,
        about: "as pylon, but 0x356 voltage in 0.1 V (seen from at least one vendor)",
    },
];

impl Profile {
    /// The profile named `name`.
    pub fn by_name(name: &str) -> Option<&'static Profile> {
        PROFILES.iter().find(|p| p.name == name)
    }

    /// A copy with the voltage scale fixed.
    pub fn with_scale(&self, scale: f64) -> Profile {
        Profile {
            voltage_scale: Some(scale),
            ..*self
        }
    }
}

/// The 0x356 voltage scale (0.01 or 0.1 V) under which `raw` lies closest (by ratio) to the
/// charge voltage limit `cvl_dv` (0.1 V) of 0x351: a bank is charged a few volts above its
/// resting voltage, never 10 times above or below it. 0.01 when there is nothing to compare.
pub fn plausible_scale(raw: i16, cvl_dv: u16) -> f64 {
    let v = f64::from(raw).abs();
    let cvl = f64::from(cvl_dv) / 10.0;
    if v == 0.0 || cvl == 0.0 {
        return 0.01;
    }
    let off = |s: f64| (v * s / cvl).ln().abs();
    if off(0.1) < off(0.01) {
        0.1
    } else {
        0.01
    }
}

// ---------------------------------------------------------------------------
// Decoding.

/// The alarm flags, in output order: one per 0x359 bit and 0x35A pair (§9.2, §9.3).
pub const FLAGS: [&str; 25] = [
    "protection_pack_ov",
    "protection_pack_uv",
    "protection_battery_ot",
    "protection_battery_ut",
    "protection_charge_ot",
    "protection_charge_ut",
    "protection_discharge_oc",
    "protection_charge_oc",
    "protection_contactor",
    "protection_short_circuit",
    "protection_system_error",
    "protection_cell_imbalance",
    "warning_pack_ov",
    "warning_pack_uv",
    "warning_battery_ot",
    "warning_battery_ut",
    "warning_charge_ot",
    "warning_charge_ut",
    "warning_discharge_oc",
    "warning_charge_oc",
    "warning_contactor",
    "warning_short_circuit",
    "warning_system_error",
    "warning_cell_imbalance",
    "warning_internal_comm",
];

/// Index of the first warning in [`FLAGS`]; protection `i` and warning `W + i` mean the
/// same condition for `i` < 12.
const W: usize = 12;

/// 0x359: (byte, bit, flag index).
const BITS_359: [(usize, u8, usize); 14] = [
    (0, 1, 0),      // protection: over-voltage
    (0, 2, 1),      // under-voltage
    (0, 3, 2),      // over-temperature
    (0, 4, 3),      // under-temperature
    (0, 7, 6),      // discharge over-current
    (1, 0, 7),      // charge over-current
    (1, 3, 10),     // system error
    (2, 1, W),      // warning: high voltage
    (2, 2, W + 1),  // low voltage
    (2, 3, W + 2),  // high temperature
    (2, 4, W + 3),  // low temperature
    (2, 7, W + 6),  // high discharge current
    (3, 0, W + 7),  // high charge current
    (3, 3, W + 12), // internal communication fail
];

/// 0x35A alarm pairs: (byte, pair, protection index); warnings are the same 4 bytes later.
const PAIRS_35A: [(usize, u8, usize); 12] = [
    (0, 1, 0),  // high voltage
    (0, 2, 1),  // low voltage
    (0, 3, 2),  // high temperature
    (1, 0, 3),  // low temperature
    (1, 1, 4),  // high charge temperature
    (1, 2, 5),  // low charge temperature
    (1, 3, 6),  // high discharge current
    (2, 0, 7),  // high charge current
    (2, 1, 8),  // contactor
    (2, 2, 9),  // short circuit
    (2, 3, 10), // BMS internal
    (3, 0, 11), // cell imbalance
];

/// What one telegram says, in wire units; `None` where the telegram lacks the frame or
/// the frame is too short.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bank {
    /// 0x351: charge voltage limit, 0.1 V.
    pub cvl_dv: Option<u16>,
    /// 0x351: charge current limit, 0.1 A.
    pub ccl_da: Option<i16>,
    /// 0x351: discharge current limit, 0.1 A (reported as its magnitude).
    pub dcl_da: Option<i16>,
    /// 0x351 bytes 6–7: discharge voltage limit, 0.1 V (absent with DLC 6).
    pub dvl_dv: Option<u16>,
    /// 0x355: SOC %.
    pub soc: Option<u16>,
    /// 0x355: SOH %.
    pub soh: Option<u16>,
    /// 0x356: voltage in the profile's scale.
    pub voltage_raw: Option<i16>,
    /// Volts per unit of `voltage_raw`.
    pub voltage_scale: f64,
    /// 0x356: current, 0.1 A, + = charging.
    pub current_da: Option<i16>,
    /// 0x356: temperature, 0.1 °C.
    pub temp_dc: Option<i16>,
    /// One per [`FLAGS`] entry; a condition reported by both 0x359 and 0x35A is true when
    /// either says so.
    pub flags: [Option<bool>; FLAGS.len()],
    /// 0x359 byte 4.
    pub module_count: Option<u8>,
    /// 0x359 byte 7 (profile [`Byte7::DipAddress`]).
    pub dip_address: Option<u8>,
    /// 0x35C bits 7..3: charge enable, discharge enable, force charge I, force charge II,
    /// full charge.
    pub requests: Option<[bool; 5]>,
    /// 0x35E, trailing blanks and NULs removed.
    pub manufacturer: Option<String>,
    /// 0x35F bytes 4–5: online capacity, Ah.
    pub online_capacity_ah: Option<u16>,
    /// 0x354: nominal Ah, remaining Ah.
    pub design_capacity_ah: Option<u16>,
    /// 0x354 bytes 2–3.
    pub remaining_ah: Option<u16>,
    /// 0x372: modules online, blocking charge, blocking discharge, offline.
    pub modules: [Option<u16>; 4],
    /// 0x373: lowest and highest cell mV, lowest and highest cell temperature K.
    pub cells: [Option<u16>; 4],
    /// 0x374–0x377: names of the lowest-V, highest-V, lowest-T, highest-T cell.
    pub cell_names: [Option<String>; 4],
    /// 0x379: installed capacity, Ah.
    pub installed_capacity_ah: Option<u16>,
    /// 0x370 + 0x371 text (profile [`Names::Model`]).
    pub model: Option<String>,
    /// Bytes not decoded, as (key, lower-case hex), in key order.
    pub raw: Vec<(&'static str, String)>,
}

/// Names of the request bits of 0x35C, bit 7 down to bit 3.
pub const REQUESTS: [&str; 5] = [
    "charge_enable",
    "discharge_enable",
    "request_force_charge_1",
    "request_force_charge_2",
    "request_full_charge",
];

/// Names of 0x372's four counts.
pub const MODULES: [&str; 4] = [
    "modules_online",
    "modules_blocking_charge",
    "modules_blocking_discharge",
    "modules_offline",
];

/// Names of 0x374–0x377's cell names.
pub const CELL_NAMES: [&str; 4] = [
    "cell_voltage_min_id",
    "cell_voltage_max_id",
    "cell_temperature_min_id",
    "cell_temperature_max_id",
];

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn i16_at(b: &[u8], at: usize) -> Option<i16> {
    u16_at(b, at).map(|v| v as i16)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Printable ASCII with trailing blanks and NULs removed; `None` if empty or not text.
fn text(b: &[u8]) -> Option<String> {
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != 0)
        .map_or(0, |i| i + 1);
    let t = &b[..end];
    (!t.is_empty() && t.iter().all(|c| (0x20..0x7f).contains(c)))
        .then(|| String::from_utf8_lossy(t).into_owned())
}

/// Reads a telegram. `profile.voltage_scale` must be set (resolve `auto` first with
/// [`plausible_scale`]); `None` reads as 0.01 V.
pub fn decode<T>(t: &Telegram<T>, profile: &Profile) -> Bank {
    let mut b = Bank {
        voltage_scale: profile.voltage_scale.unwrap_or(0.01),
        ..Bank::default()
    };
    // Undecoded bytes, in IDS order (which is key order).
    let raw = &mut b.raw;
    let mut keep = |k: &'static str, bytes: Option<&[u8]>| {
        if let Some(bytes) = bytes.filter(|b| !b.is_empty()) {
            raw.push((k, hex(bytes)));
        }
    };
    let tail = |id: u16, from: usize| t.get(id).and_then(|d| d.get(from..));
    keep("x307", t.get(0x307));
    keep("x354", tail(0x354, 4));
    keep("x355", tail(0x355, 4));
    keep("x356", tail(0x356, 6));
    if let Some(d) = t.get(0x359) {
        let end = if profile.byte7 == Byte7::DipAddress {
            7
        } else {
            8
        };
        keep("x359", d.get(5..end.min(d.len())));
    }
    keep("x35c", tail(0x35C, 1));
    keep("x35e", t.get(0x35E).filter(|d| text(d).is_none()));
    if let Some(d) = t.get(0x35F) {
        keep("x35f", d.get(..4.min(d.len())));
        keep("x35f_tail", d.get(6..));
    }
    if profile.names == Names::Raw {
        keep("x370", t.get(0x370));
        keep("x371", t.get(0x371));
    }
    for (k, id) in [
        ("x374", 0x374),
        ("x375", 0x375),
        ("x376", 0x376),
        ("x377", 0x377),
    ] {
        keep(k, t.get(id).filter(|d| text(d).is_none()));
    }
    keep("x379", tail(0x379, 2));

    if let Some(d) = t.get(0x351) {
        b.cvl_dv = u16_at(d, 0);
        b.ccl_da = i16_at(d, 2);
        b.dcl_da = i16_at(d, 4);
        b.dvl_dv = u16_at(d, 6);
    }
    if let Some(d) = t.get(0x355) {
        b.soc = u16_at(d, 0);
        b.soh = u16_at(d, 2);
    }
    if let Some(d) = t.get(0x356) {
        b.voltage_raw = i16_at(d, 0);
        b.current_da = i16_at(d, 2);
        b.temp_dc = i16_at(d, 4);
    }
    if let Some(d) = t.get(0x359) {
        for &(byte, bit, flag) in &BITS_359 {
            if let Some(&v) = d.get(byte) {
                set_flag(&mut b.flags[flag], v & 1 << bit != 0);
            }
        }
        b.module_count = d.get(4).copied();
        if profile.byte7 == Byte7::DipAddress {
            b.dip_address = d.get(7).copied();
        }
    }
    if let Some(d) = t.get(0x35A) {
        for &(byte, pair, flag) in &PAIRS_35A {
            for (off, idx) in [(0, flag), (4, W + flag)] {
                let Some(&v) = d.get(byte + off) else {
                    continue;
                };
                match (v >> (2 * pair)) & 3 {
                    0b01 => set_flag(&mut b.flags[idx], true),
                    0b10 => set_flag(&mut b.flags[idx], false),
                    _ => {} // 00: not supported; 11: undefined
                }
            }
        }
    }
    if let Some(&v) = t.get(0x35C).and_then(|d| d.first()) {
        b.requests = Some([
            v & 0x80 != 0,
            v & 0x40 != 0,
            v & 0x20 != 0,
            v & 0x10 != 0,
            v & 0x08 != 0,
        ]);
    }
    b.manufacturer = t.get(0x35E).and_then(text);
    if let Some(d) = t.get(0x35F) {
        b.online_capacity_ah = u16_at(d, 4);
    }
    if let Some(d) = t.get(0x354) {
        b.design_capacity_ah = u16_at(d, 0);
        b.remaining_ah = u16_at(d, 2);
    }
    if let Some(d) = t.get(0x372) {
        for (i, m) in b.modules.iter_mut().enumerate() {
            *m = u16_at(d, 2 * i);
        }
    }
    if let Some(d) = t.get(0x373) {
        for (i, c) in b.cells.iter_mut().enumerate() {
            *c = u16_at(d, 2 * i);
        }
    }
    for (i, id) in [0x374, 0x375, 0x376, 0x377].into_iter().enumerate() {
        b.cell_names[i] = t.get(id).and_then(text);
    }
    if let Some(d) = t.get(0x379) {
        b.installed_capacity_ah = u16_at(d, 0);
    }
    if profile.names == Names::Model {
        let mut name = Vec::with_capacity(16);
        for id in [0x370, 0x371] {
            if let Some(d) = t.get(id) {
                name.extend_from_slice(d);
            }
        }
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        b.model = text(&name[..end]);
    }
    b
}

fn set_flag(slot: &mut Option<bool>, v: bool) {
    *slot = Some(slot.unwrap_or(false) || v);
}

/// The frames of a bank's telegram (the simulator's side): every frame the [`Bank`] has
/// values for, in bus order, with the DLCs of Pylon LV (0x355 and 0x356 short, 0x359 7
/// bytes + byte 7 when there is a DIP address). Flags are written as 0x359 bits; a flag
/// that 0x359 cannot carry goes into a 0x35A frame.
pub fn encode(b: &Bank) -> Vec<(u32, Vec<u8>)> {
    let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
    let le = |v: u16| v.to_le_bytes();
    if let (Some(cvl), Some(ccl), Some(dcl)) = (b.cvl_dv, b.ccl_da, b.dcl_da) {
        let mut d = Vec::with_capacity(8);
        d.extend(le(cvl));
        d.extend(le(ccl as u16));
        d.extend(le(dcl as u16));
        if let Some(dvl) = b.dvl_dv {
            d.extend(le(dvl));
        }
        out.push((0x351, d));
    }
    if let (Some(soc), Some(soh)) = (b.soc, b.soh) {
        out.push((0x355, [le(soc), le(soh)].concat()));
    }
    if let (Some(v), Some(i)) = (b.voltage_raw, b.current_da) {
        let mut d = [le(v as u16), le(i as u16)].concat();
        if let Some(t) = b.temp_dc {
            d.extend(le(t as u16));
        }
        out.push((0x356, d));
    }
    let in_359 = |i: usize| BITS_359.iter().any(|&(_, _, f)| f == i);
    if let Some(n) = b.module_count {
        let mut d = vec![0u8, 0, 0, 0, n, b'P', b'N'];
        for &(byte, bit, flag) in &BITS_359 {
            if b.flags[flag] == Some(true) {
                d[byte] |= 1 << bit;
            }
        }
        if let Some(a) = b.dip_address {
            d.push(a);
        }
        out.push((0x359, d));
    }
    if b.flags
        .iter()
        .enumerate()
        .any(|(i, f)| f.is_some() && (b.module_count.is_none() || !in_359(i)))
    {
        let mut d = vec![0u8; 8];
        for &(byte, pair, flag) in &PAIRS_35A {
            for (off, idx) in [(0, flag), (4, W + flag)] {
                let v = match b.flags[idx] {
                    Some(true) => 0b01,
                    Some(false) => 0b10,
                    None => 0,
                };
                d[byte + off] |= v << (2 * pair);
            }
        }
        out.push((0x35A, d));
    }
    if let Some(r) = b.requests {
        let mut v = 0u8;
        for (i, on) in r.iter().enumerate() {
            if *on {
                v |= 0x80 >> i;
            }
        }
        out.push((0x35C, vec![v, 0]));
    }
    if let Some(m) = &b.manufacturer {
        let mut d = m.as_bytes().to_vec();
        d.resize(8, b' ');
        d.truncate(8);
        out.push((0x35E, d));
    }
    if let Some(c) = b.online_capacity_ah {
        out.push((
            0x35F,
            [b"LI".to_vec(), vec![0x01, 0x02], le(c).to_vec()].concat(),
        ));
    }
    if let (Some(n), Some(r)) = (b.design_capacity_ah, b.remaining_ah) {
        out.push((0x354, [le(n), le(r)].concat()));
    }
    if b.modules.iter().all(Option::is_some) {
        out.push((
            0x372,
            b.modules.iter().flat_map(|m| le(m.unwrap_or(0))).collect(),
        ));
    }
    if b.cells.iter().all(Option::is_some) {
        out.push((
            0x373,
            b.cells.iter().flat_map(|m| le(m.unwrap_or(0))).collect(),
        ));
    }
    for (i, id) in [0x374, 0x375, 0x376, 0x377].into_iter().enumerate() {
        if let Some(n) = &b.cell_names[i] {
            let mut d = n.as_bytes().to_vec();
            d.truncate(8);
            out.push((id, d));
        }
    }
    if let Some(c) = b.installed_capacity_ah {
        out.push((0x379, le(c).to_vec()));
    }
    out
}

// ---------------------------------------------------------------------------
// Output.

/// Rounds to 2 decimals (a °C converted from kelvin).
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The `device` of a bank: `--name`, else the manufacturer and the interface or file stem
/// (`pylon-can0`), normalised to the readings alphabet.
pub fn device_name(manufacturer: Option<&str>, label: &str) -> String {
    let m = manufacturer.unwrap_or("pylon");
    crate::record::device_id(&format!("{m}-{label}"))
}

/// Appends `v` in decimal, zero-padded to at least `width` digits.
fn digits_of(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while v > 0 || buf.len() - i < width {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends the bank's reading as one JSON line (no newline): `fields` in wire order,
/// `info.manufacturer`/`info.model`, `raw` with the undecoded bytes and `extra_raw`
/// (already in key order, placed before them: `ts_anchor`).
pub fn write_json(
    b: &Bank,
    ts: crate::time::Timestamp,
    device: &str,
    extra_raw: &[(&str, &str)],
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    use crate::record::json_str;
    struct W<'a> {
        out: &'a mut Vec<u8>,
        first: bool,
    }
    impl W<'_> {
        fn key(&mut self, k: &str) {
            if !self.first {
                self.out.push(b',');
            }
            self.first = false;
            self.out.push(b'"');
            self.out.extend_from_slice(k.as_bytes());
            self.out.extend_from_slice(b"\":");
        }
        fn num<T: serde::Serialize>(&mut self, k: &str, v: Option<T>) -> serde_json::Result<()> {
            if let Some(v) = v {
                self.key(k);
                serde_json::to_writer(&mut *self.out, &v)?;
            }
            Ok(())
        }
        /// `n` / 10^`decimals` as the shortest decimal that reads back as that f64 (what
        /// serde_json writes for `n as f64 / 10.0`, without the float formatter: these are
        /// most of a reading's numbers).
        fn fixed(&mut self, k: &str, n: Option<i64>, decimals: u32) {
            let Some(n) = n else { return };
            self.key(k);
            if n < 0 {
                self.out.push(b'-');
            }
            let a = n.unsigned_abs();
            let p = 10u64.pow(decimals);
            let (int, mut frac, mut digits) = (a / p, a % p, decimals);
            digits_of(self.out, int, 1);
            self.out.push(b'.');
            while digits > 1 && frac % 10 == 0 {
                frac /= 10;
                digits -= 1;
            }
            digits_of(self.out, frac, digits as usize);
        }
        fn bool(&mut self, k: &str, v: Option<bool>) {
            if let Some(v) = v {
                self.key(k);
                self.out
                    .extend_from_slice(if v { b"true" } else { b"false" });
            }
        }
    }
    out.reserve(1536);
    out.extend_from_slice(b"{\"type\":\"reading\",\"ts\":\"");
    out.extend_from_slice(&ts.rfc3339());
    out.extend_from_slice(b"\",\"source\":\"pylon\",\"device\":");
    json_str(out, device)?;
    out.extend_from_slice(b",\"fields\":{");
    let mut w = W { out, first: true };
    let dv = |v: Option<u16>| v.map(i64::from);
    let da = |v: Option<i16>| v.map(i64::from);
    w.fixed("charge_voltage_limit", dv(b.cvl_dv), 1);
    w.fixed("charge_current_limit", da(b.ccl_da.map(|v| v.max(0))), 1);
    w.fixed("discharge_current_limit", da(b.dcl_da).map(i64::abs), 1);
    w.fixed("discharge_voltage_limit", dv(b.dvl_dv), 1);
    w.num("soc", b.soc)?;
    w.num("soh", b.soh)?;
    if b.voltage_scale == 0.01 {
        w.fixed("pack_voltage", da(b.voltage_raw), 2);
    } else if b.voltage_scale == 0.1 {
        w.fixed("pack_voltage", da(b.voltage_raw), 1);
    } else {
        let s = b.voltage_scale;
        w.num("pack_voltage", b.voltage_raw.map(|v| f64::from(v) * s))?;
    }
    w.fixed("pack_current", da(b.current_da), 1);
    w.fixed("temperature_battery", da(b.temp_dc), 1);
    w.num("module_count", b.module_count)?;
    w.num("dip_address", b.dip_address)?;
    if let Some(r) = b.requests {
        for (k, v) in REQUESTS.iter().zip(r) {
            w.bool(k, Some(v));
        }
    }
    for (k, v) in FLAGS.iter().zip(b.flags) {
        w.bool(k, v);
    }
    // The capacity readings-bank's time estimates work from: the modules online, else the
    // bank's installed or design capacity.
    w.num(
        "capacity_ah",
        b.online_capacity_ah
            .or(b.installed_capacity_ah)
            .or(b.design_capacity_ah),
    )?;
    w.num("online_capacity_ah", b.online_capacity_ah)?;
    w.num("installed_capacity_ah", b.installed_capacity_ah)?;
    w.num("design_capacity_ah", b.design_capacity_ah)?;
    w.num("remaining_ah", b.remaining_ah)?;
    for (k, v) in MODULES.iter().zip(b.modules) {
        w.num(k, v)?;
    }
    let [vmin, vmax, tmin, tmax] = b.cells;
    w.num("cell_voltage_min", vmin.map(|v| f64::from(v) / 1000.0))?;
    w.num("cell_voltage_max", vmax.map(|v| f64::from(v) / 1000.0))?;
    if let (Some(lo), Some(hi)) = (vmin, vmax) {
        w.num("cell_voltage_delta_mv", Some(i64::from(hi) - i64::from(lo)))?;
    }
    w.num(
        "cell_temperature_min",
        tmin.map(|k| round2(f64::from(k) - 273.15)),
    )?;
    w.num(
        "cell_temperature_max",
        tmax.map(|k| round2(f64::from(k) - 273.15)),
    )?;
    for (k, v) in CELL_NAMES.iter().zip(&b.cell_names) {
        if let Some(v) = v {
            w.key(k);
            json_str(w.out, v)?;
        }
    }
    let out = w.out;
    out.push(b'}');
    if b.manufacturer.is_some() || b.model.is_some() {
        out.extend_from_slice(b",\"info\":{");
        if let Some(m) = &b.manufacturer {
            out.extend_from_slice(b"\"manufacturer\":");
            json_str(out, m)?;
        }
        if let Some(m) = &b.model {
            if b.manufacturer.is_some() {
                out.push(b',');
            }
            out.extend_from_slice(b"\"model\":");
            json_str(out, m)?;
        }
        out.push(b'}');
    }
    if !b.raw.is_empty() || !extra_raw.is_empty() {
        out.extend_from_slice(b",\"raw\":{");
        let all = extra_raw
            .iter()
            .map(|&(k, v)| (k, v))
            .chain(b.raw.iter().map(|(k, v)| (*k, v.as_str())));
        for (i, (k, v)) in all.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(out, k)?;
            out.push(b':');
            json_str(out, v)?;
        }
        out.push(b'}');
    }
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    /// protocols.md §9.4, as a candump -L log with the inverter's heartbeats around it.
    pub const REAL: [(u32, &str); 6] = [
        (0x351, "1402C012C012C201"),
        (0x355, "58005E00"),
        (0x356, "7A13F2FE6B01"),
        (0x359, "0000000006504E"),
        (0x35C, "C000"),
        (0x35E, "50594C4F4E202020"),
    ];

    fn bytes(h: &str) -> Vec<u8> {
        hex::decode(h.replace(' ', "")).unwrap()
    }

    fn real_telegram() -> Telegram<u32> {
        let mut asm = Assembler::new();
        let mut got: Option<Telegram<u32>> = None;
        for (i, (id, h)) in REAL.iter().enumerate() {
            if let Some(Event::Telegram(t)) = asm.push(*id, &bytes(h), i as u32) {
                got = Some(t);
            }
        }
        assert!(
            got.is_none(),
            "without heartbeats, the next 0x351 ends a telegram"
        );
        asm.finish().expect("the core set is complete at the end")
    }

    fn json(b: &Bank) -> serde_json::Value {
        let mut out = Vec::new();
        write_json(b, Timestamp { unix_ms: 0 }, "pylon-can0", &[], &mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn golden_real_frames() {
        let t = real_telegram();
        assert_eq!(t.ts, 5);
        let b = decode(&t, Profile::by_name("pylon").unwrap());
        let v = json(&b);
        let f = &v["fields"];
        assert_eq!(f["charge_voltage_limit"], 53.2);
        assert_eq!(f["charge_current_limit"], 480.0);
        assert_eq!(f["discharge_current_limit"], 480.0);
        assert_eq!(f["discharge_voltage_limit"], 45.0);
        assert_eq!(f["soc"], 88);
        assert_eq!(f["soh"], 94);
        assert_eq!(f["pack_voltage"], 49.86);
        assert_eq!(f["pack_current"], -27.0);
        assert_eq!(f["temperature_battery"], 36.3);
        assert_eq!(f["module_count"], 6);
        assert_eq!(f["charge_enable"], true);
        assert_eq!(f["discharge_enable"], true);
        assert_eq!(f["request_force_charge_1"], false);
        for name in FLAGS {
            let from_359 = BITS_359.iter().any(|&(_, _, i)| FLAGS[i] == name);
            assert_eq!(f.get(name).is_some(), from_359, "{name}");
            if from_359 {
                assert_eq!(f[name], false, "{name}");
            }
        }
        assert_eq!(v["info"]["manufacturer"], "PYLON");
        assert_eq!(v["raw"]["x359"], "504e");
        assert_eq!(v["raw"]["x35c"], "00");
        assert_eq!(v["device"], "pylon-can0");
        assert_eq!(device_name(b.manufacturer.as_deref(), "can0"), "pylon-can0");
    }

    #[test]
    fn every_0x359_bit_has_its_flag() {
        for &(byte, bit, flag) in &BITS_359 {
            let mut t = Telegram::new(());
            let mut d = [0u8, 0, 0, 0, 1, b'P', b'N'];
            d[byte] = 1 << bit;
            t.set(0x359, &d);
            let b = decode(&t, &PROFILES[1]);
            for (i, f) in b.flags.iter().enumerate() {
                let on = i == flag;
                let reported = BITS_359.iter().any(|&(_, _, x)| x == i);
                assert_eq!(*f, reported.then_some(on), "{}", FLAGS[i]);
            }
        }
    }

    #[test]
    fn pairs_of_0x35a() {
        let mut t = Telegram::new(());
        // byte 0: pair 1 (high voltage) active, pair 2 ok, pair 3 not supported.
        // byte 4: warning high voltage ok; byte 7 pair 0: cell imbalance warning active.
        t.set(0x35A, &[0b0010_0100, 0, 0, 0, 0b0000_1000, 0, 0, 0b01]);
        let b = decode(&t, &PROFILES[1]);
        assert_eq!(b.flags[0], Some(true));
        assert_eq!(b.flags[1], Some(false));
        assert_eq!(b.flags[2], None);
        assert_eq!(b.flags[W], Some(false));
        assert_eq!(b.flags[W + 11], Some(true));
        assert_eq!(b.flags.iter().filter(|f| f.is_some()).count(), 4);
    }

    #[test]
    fn dlc_variants() {
        let pylon = &PROFILES[1];
        for (id, h, key, want) in [
            (0x351, "1402C012C012", "discharge_voltage_limit", None),
            (0x355, "58005E00", "soh", Some(94.0)),
            (0x355, "58005E006400", "soh", Some(94.0)),
            (0x355, "58005E0064000000", "soh", Some(94.0)),
            (0x356, "7A13F2FE6B01", "temperature_battery", Some(36.3)),
            (0x356, "7A13F2FE6B010000", "temperature_battery", Some(36.3)),
            (0x356, "7A13F2FE", "temperature_battery", None),
            (0x351, "14", "charge_voltage_limit", None),
        ] {
            let mut t = Telegram::new(());
            t.set(id, &bytes(h));
            let v = json(&decode(&t, pylon));
            assert_eq!(v["fields"][key].as_f64(), want, "{id:#x} {h}");
        }
        let mut t = Telegram::new(());
        t.set(0x355, &bytes("58005E0064000000"));
        t.set(0x35E, &bytes("4259442020"));
        let v = json(&decode(&t, pylon));
        assert_eq!(v["raw"]["x355"], "64000000");
        assert_eq!(v["info"]["manufacturer"], "BYD");
        // 0x35E with bytes that are not text stays raw.
        t.set(0x35E, &[0xFF, 0x01]);
        let v = json(&decode(&t, pylon));
        assert!(v.get("info").is_none());
        assert_eq!(v["raw"]["x35e"], "ff01");
    }

    #[test]
    fn profiles_read_byte7_and_names() {
        let mut t = Telegram::new(());
        t.set(0x359, &bytes("0000000002504E03"));
        t.set(0x370, b"DIYBMS-0");
        t.set(0x371, b"1\0\0\0\0\0\0\0");
        let pylon = decode(&t, Profile::by_name("pylon").unwrap());
        assert_eq!(pylon.dip_address, None);
        assert!(pylon.raw.contains(&("x359", "504e03".into())));
        assert!(pylon.raw.iter().any(|(k, _)| *k == "x370"));
        let lux = decode(&t, Profile::by_name("lux").unwrap());
        assert_eq!(lux.dip_address, Some(3));
        assert!(lux.raw.contains(&("x359", "504e".into())));
        let vic = decode(&t, Profile::by_name("victron").unwrap());
        assert_eq!(vic.model.as_deref(), Some("DIYBMS-01"));
        assert!(!vic.raw.iter().any(|(k, _)| *k == "x370"));
    }

    #[test]
    fn auto_scale_agrees_with_the_charge_voltage_limit() {
        assert_eq!(plausible_scale(4986, 532), 0.01);
        assert_eq!(plausible_scale(499, 532), 0.1);
        assert_eq!(plausible_scale(2650, 284), 0.01);
        assert_eq!(plausible_scale(265, 284), 0.1);
        assert_eq!(plausible_scale(0, 532), 0.01);
        assert_eq!(plausible_scale(4986, 0), 0.01);
        let dv = Profile::by_name("pylon-dv").unwrap();
        let mut t = Telegram::new(());
        t.set(0x356, &bytes("F301F2FE6B01"));
        assert_eq!(json(&decode(&t, dv))["fields"]["pack_voltage"], 49.9);
    }

    #[test]
    fn victron_extensions() {
        let mut t = Telegram::new(());
        t.set(0x372, &bytes("0400010002000000"));
        t.set(0x373, &bytes("F00C0A0D2A013001"));
        t.set(0x374, b"1-03");
        t.set(0x379, &bytes("1801"));
        t.set(0x354, &bytes("18010C01"));
        t.set(0x35F, &bytes("4C49020118010000"));
        let v = json(&decode(&t, &PROFILES[1]));
        let f = &v["fields"];
        assert_eq!(f["modules_online"], 4);
        assert_eq!(f["modules_blocking_charge"], 1);
        assert_eq!(f["modules_blocking_discharge"], 2);
        assert_eq!(f["modules_offline"], 0);
        assert_eq!(f["cell_voltage_min"], 3.312);
        assert_eq!(f["cell_voltage_max"], 3.338);
        assert_eq!(f["cell_voltage_delta_mv"], 26);
        assert_eq!(f["cell_temperature_min"], 24.85);
        assert_eq!(f["cell_temperature_max"], 30.85);
        assert_eq!(f["cell_voltage_min_id"], "1-03");
        assert_eq!(f["installed_capacity_ah"], 280);
        assert_eq!(f["design_capacity_ah"], 280);
        assert_eq!(f["remaining_ah"], 268);
        assert_eq!(f["online_capacity_ah"], 280);
        assert_eq!(v["raw"]["x35f"], "4c490201");
        assert_eq!(v["raw"]["x35f_tail"], "0000");
    }

    #[test]
    fn heartbeats_delimit_and_a_mid_telegram_start_is_dropped() {
        let mut asm = Assembler::new();
        let mut events = Vec::new();
        let mut ts = 0u32;
        let mut push = |asm: &mut Assembler<u32>, id: u32, d: &[u8]| {
            ts += 1;
            if let Some(e) = asm.push(id, d, ts) {
                events.push(e);
            }
        };
        // The log starts mid-telegram: 0x356 onwards.
        for (id, h) in &REAL[2..] {
            push(&mut asm, *id, &bytes(h));
        }
        push(&mut asm, 0x305, &[0; 8]);
        for _ in 0..2 {
            for (id, h) in &REAL {
                push(&mut asm, *id, &bytes(h));
            }
            push(&mut asm, 0x373, &bytes("F00C0A0D2A013001"));
            push(&mut asm, 0x123, &[1, 2]); // another device on the bus
            push(&mut asm, 0x305, &[0; 8]);
        }
        assert_eq!(events.len(), 3, "{events:?}");
        let Event::Dropped(d) = &events[0] else {
            panic!("{:?}", events[0])
        };
        assert_eq!(d.missing, vec![0x351, 0x355]);
        assert_eq!(d.to_string(), "telegram of 4 frame(s) without 0x351, 0x355");
        for e in &events[1..] {
            let Event::Telegram(t) = e else {
                panic!("{e:?}")
            };
            assert_eq!(t.len(), 7, "0x373 belongs to the telegram");
        }
        let s = asm.stats();
        assert_eq!(
            (s.telegrams, s.dropped, s.heartbeats, s.ignored),
            (2, 1, 3, 2)
        );
        assert_eq!(asm.finish(), None);
    }

    #[test]
    fn without_heartbeats_0x351_or_a_repeat_ends_a_telegram() {
        let b = |i: usize| bytes(REAL[i].1);
        let mut asm = Assembler::new();
        let mut got = Vec::new();
        // Starts mid-telegram; each round: the core set and an extension frame after it.
        let mut frames: Vec<(u32, Vec<u8>, u32)> = vec![(0x35C, b(4), 0), (0x35E, b(5), 0)];
        for round in 1..=3u32 {
            for (i, (id, _)) in REAL.iter().enumerate() {
                frames.push((*id, b(i), round));
            }
            frames.push((0x373, bytes("F00C0A0D2A013001"), round));
        }
        for (id, d, ts) in frames {
            match asm.push(id, &d, ts) {
                Some(Event::Telegram(t)) => got.push((t.ts, t.len())),
                Some(Event::Dropped(d)) => got.push((d.ts + 100, d.frames)),
                None => {}
            }
        }
        // The partial start is dropped; each telegram keeps its 0x373.
        assert_eq!(got, vec![(100, 2), (1, 7), (2, 7)]);
        assert_eq!(asm.finish().map(|t| (t.ts, t.len())), Some((3, 7)));
        // A battery that sends 0x351 twice as often: a repeat ends the telegram too.
        let mut asm = Assembler::new();
        let mut n = 0;
        for (id, h) in [REAL[0], REAL[1], REAL[2], REAL[1], REAL[2]] {
            if let Some(Event::Telegram(_)) = asm.push(id, &bytes(h), ()) {
                n += 1;
            }
        }
        assert_eq!(n, 1);
        assert_eq!(
            asm.finish(),
            None,
            "no 0x359/0x35C/0x35E: incomplete at the end"
        );
    }

    #[test]
    fn every_field_is_in_the_catalogue_as_pylon() {
        let names = [
            "charge_voltage_limit",
            "charge_current_limit",
            "discharge_current_limit",
            "discharge_voltage_limit",
            "soc",
            "soh",
            "pack_voltage",
            "pack_current",
            "temperature_battery",
            "module_count",
            "dip_address",
            "online_capacity_ah",
            "installed_capacity_ah",
            "design_capacity_ah",
            "remaining_ah",
            "cell_voltage_min",
            "cell_voltage_max",
            "cell_voltage_delta_mv",
            "cell_temperature_min",
            "cell_temperature_max",
        ];
        let all = names
            .iter()
            .chain(&FLAGS)
            .chain(&REQUESTS)
            .chain(&MODULES)
            .chain(&CELL_NAMES);
        for name in all {
            let spec = crate::catalog::lookup(name).unwrap_or_else(|| panic!("{name}"));
            assert!(spec.sources.contains(&"pylon"), "{name}");
        }
    }

    #[test]
    fn fixed_point_numbers_read_as_serde_writes_them() {
        let mut out = Vec::new();
        for n in i16::MIN..=i16::MAX {
            for (scale, div) in [(0.1, 10.0), (0.01, 100.0)] {
                let b = Bank {
                    voltage_raw: Some(n),
                    voltage_scale: scale,
                    ..Bank::default()
                };
                out.clear();
                write_json(&b, Timestamp { unix_ms: 0 }, "d", &[], &mut out).unwrap();
                let want = serde_json::to_string(&(f64::from(n) / div)).unwrap();
                let text = std::str::from_utf8(&out).unwrap();
                assert!(
                    text.contains(&format!("{{\"pack_voltage\":{want}}}")),
                    "{n}: {text}"
                );
            }
        }
    }

    #[test]
    fn encode_round_trips() {
        let t = real_telegram();
        let pylon = &PROFILES[1];
        let b = decode(&t, pylon);
        let mut again = Telegram::new(());
        for (id, d) in encode(&b) {
            again.set(id, &d);
        }
        assert_eq!(decode(&again, pylon), b);
    }

    fn arb_bank() -> impl proptest::strategy::Strategy<Value = Bank> {
        use proptest::prelude::*;
        let name = "[A-Z0-9][A-Z0-9 -]{0,6}[A-Z0-9]";
        let limits = (
            any::<u16>(),
            any::<i16>(),
            any::<i16>(),
            any::<Option<u16>>(),
        );
        let core = (
            any::<u16>(),
            any::<u16>(),
            any::<i16>(),
            any::<i16>(),
            any::<Option<i16>>(),
        );
        let alarms = (
            any::<Option<u8>>(),
            any::<[Option<bool>; FLAGS.len()]>(),
            any::<Option<[bool; 5]>>(),
            proptest::option::of(name),
        );
        let ext = (
            any::<Option<u16>>(),
            any::<Option<(u16, u16)>>(),
            any::<Option<[u16; 4]>>(),
            any::<Option<[u16; 4]>>(),
            any::<[bool; 4]>(),
            any::<Option<u16>>(),
        );
        (limits, core, alarms, ext).prop_map(|(l, c, a, e)| {
            let mut b = Bank {
                cvl_dv: Some(l.0),
                ccl_da: Some(l.1),
                dcl_da: Some(l.2),
                dvl_dv: l.3,
                soc: Some(c.0),
                soh: Some(c.1),
                voltage_raw: Some(c.2),
                voltage_scale: 0.01,
                current_da: Some(c.3),
                temp_dc: c.4,
                flags: a.1,
                module_count: a.0,
                requests: a.2,
                manufacturer: a.3,
                online_capacity_ah: e.0,
                design_capacity_ah: e.1.map(|x| x.0),
                remaining_ah: e.1.map(|x| x.1),
                modules: e.2.map_or([None; 4], |m| m.map(Some)),
                cells: e.3.map_or([None; 4], |m| m.map(Some)),
                installed_capacity_ah: e.5,
                ..Bank::default()
            };
            for (i, on) in e.4.iter().enumerate() {
                if *on {
                    b.cell_names[i] = Some(format!("{i}-0{i}"));
                }
            }
            // 0x359 carries its 14 flags whenever it is sent.
            if b.module_count.is_some() {
                for &(_, _, f) in &BITS_359 {
                    b.flags[f].get_or_insert(false);
                }
            } else {
                b.flags[W + 12] = None; // only 0x359 has it
            }
            b
        })
    }

    proptest::proptest! {
        /// Any telegram the simulator's encoder can write (heartbeat, frames as candump -L
        /// text, heartbeat) decodes back to the same values.
        #[test]
        fn encoded_telegrams_decode_to_the_same_fields(b in arb_bank(), secs in 0u64..4_000_000_000) {
            use crate::proto::candump::{format_log_line, parse_line, Line};
            let mut asm = Assembler::new();
            let mut frames = vec![(HEARTBEAT, vec![0u8; 8])];
            frames.extend(encode(&b));
            frames.push((HEARTBEAT, vec![0u8; 8]));
            let mut got = None;
            for (i, (id, d)) in frames.iter().enumerate() {
                let line = format_log_line(secs, i as u32, "can0", *id, d);
                let Ok(Line::Frame(f)) = parse_line(line.as_bytes()) else {
                    return Err(proptest::test_runner::TestCaseError::fail(line));
                };
                if let Some(e) = asm.push(f.frame.id, f.frame.data(), i) {
                    got = Some(e);
                }
            }
            let Some(Event::Telegram(t)) = got else {
                return Err(proptest::test_runner::TestCaseError::fail(format!("{got:?}")));
            };
            proptest::prop_assert_eq!(t.ts, frames.len() - 2);
            let mut d = decode(&t, Profile::by_name("pylon").unwrap());
            d.raw.clear();
            proptest::prop_assert_eq!(d, b);
        }
    }

    proptest::proptest! {
        /// Any frame sequence (ids around the protocol's, any length and payload): no
        /// panic, counters add up, every telegram decodes under every profile to JSON that
        /// parses.
        #[test]
        fn any_frames_assemble_and_decode(
            frames in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        3 => proptest::sample::select(
                            IDS.iter().map(|&i| u32::from(i)).chain([HEARTBEAT]).collect::<Vec<_>>()
                        ),
                        1 => 0x300u32..0x380,
                    ],
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..10),
                ),
                0..80,
            )
        ) {
            let mut asm = Assembler::new();
            let mut tgs = Vec::new();
            for (i, (id, d)) in frames.iter().enumerate() {
                if let Some(Event::Telegram(t)) = asm.push(*id, d, i) {
                    tgs.push(t);
                }
            }
            tgs.extend(asm.finish());
            let s = asm.stats();
            proptest::prop_assert!(s.telegrams + s.dropped <= s.frames);
            proptest::prop_assert_eq!(s.telegrams as usize, tgs.len());
            for t in &tgs {
                for p in PROFILES {
                    let b = decode(t, &p.with_scale(p.voltage_scale.unwrap_or(0.1)));
                    let mut out = Vec::new();
                    write_json(&b, Timestamp { unix_ms: t.ts as i64 }, "d", &[], &mut out).unwrap();
                    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
                    proptest::prop_assert!(v["fields"].is_object());
                }
            }
        }
    }
}
