//! Seplos v2 BMS boards (many DIY 16S kits) over RS-485 / RS-232 (protocols.md §14.3), on the
//! shared Pylon-ASCII framer ([`crate::proto::pylon_ascii`]): VER 0x20 like Pylontech, but its
//! own INFO layouts and scales.
//!
//! ADR is the board's DIP address (0 for a single pack); the 0x42/0x44 requests carry the pack
//! number as their one-byte INFO. 0x42 analog values every cycle, 0x44 alarm states when the
//! board answers them, 0x51 (device name, version) once per connection. Read-only: requests
//! come from the Seplos v2 allow-list of [`ascii::Vendor::allowed`] (0x42, 0x44, 0x47, 0x51,
//! 0x4F and nothing else); Seplos answers 0x92/0x93 with RTN 04 anyway.

use crate::proto::codec::Decoded;
use crate::proto::pylon_ascii::{self as ascii, Command, Rd, Vendor};
use crate::proto::pylontech::{celsius, round, text};
use crate::record::{Fields, Info, Value};
use serde_json::{json, Map};

/// The address of a single pack (DIP switches all off).
pub const DEFAULT_ADDRESS: u8 = 0;
/// The custom count P of a 0x42 reply: full capacity, SOC, rated capacity, cycles, SOH, port
/// voltage and 4 reserved words.
pub const CUSTOM_COUNT: u8 = 10;
/// The count of a 0x44 reply's trailing status bytes.
pub const ALARM_COUNT: u8 = 20;

/// One pack's 0x42 analog values, raw as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Analog {
    /// The reply's command group (the pack number).
    pub group: u8,
    pub cells_mv: Vec<u16>,
    /// u16 × 0.1 K: 4 cell probes, environment, power (MOSFET).
    pub temps: Vec<u16>,
    /// s16 × 0.01 A, + = charge.
    pub current: i16,
    /// u16 × 0.01 V.
    pub voltage: u16,
    /// u16 × 0.01 Ah.
    pub remaining: u16,
    /// The custom count P: [`CUSTOM_COUNT`] on every board seen.
    pub custom: u8,
    /// The P custom words: full capacity (0.01 Ah), SOC (0.1 %), rated capacity (0.01 Ah),
    /// cycles, SOH (0.1 %), port voltage (0.01 V), then reserved.
    pub words: Vec<u16>,
}

impl Analog {
    fn word(&self, i: usize) -> Option<u16> {
        self.words.get(i).copied()
    }
}

/// The INFO of a 0x42 reply: DATAFLAG, command group, M, M cells, N, N temperatures, current,
/// voltage, remaining, P, P words. At least the first 6 custom words are required.
pub fn parse_analog(info: &[u8]) -> Result<Analog, String> {
    let mut r = Rd::new(info, "analog values (0x42)");
    let h = ascii::analog_head(&mut r)?;
    let custom = r.u8()?;
    if custom < 6 {
        return Err(format!(
            "analog values (0x42): custom count {custom}, a Seplos v2 board sends {CUSTOM_COUNT}"
        ));
    }
    let words = (0..custom)
        .map(|_| r.u16())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Analog {
        group: h.group,
        cells_mv: h.cells_mv,
        temps: h.temps,
        current: h.current,
        voltage: h.voltage,
        remaining: h.remaining,
        custom,
        words,
    })
}

/// The INFO of a 0x42 reply carrying `a` (simulators, tests).
pub fn encode_analog(a: &Analog) -> Vec<u8> {
    let mut d = ascii::encode_analog_head(&ascii::AnalogHead {
        group: a.group,
        cells_mv: a.cells_mv.clone(),
        temps: a.temps.clone(),
        current: a.current,
        voltage: a.voltage,
        remaining: a.remaining,
    });
    d.push(a.words.len().min(255) as u8);
    for w in &a.words {
        d.extend_from_slice(&w.to_be_bytes());
    }
    d
}

/// The INFO length of a 0x42 reply carrying `a`: what tells a Seplos v2 reply from a
/// Pylontech one (protocols.md §16).
pub fn analog_len(a: &Analog) -> usize {
    3 + 2 * a.cells_mv.len() + 1 + 2 * a.temps.len() + 6 + 1 + 2 * a.words.len()
}

/// The fields of one pack's analog values.
pub fn analog_fields(a: &Analog, f: &mut Fields) {
    f.float("pack_voltage", round(f64::from(a.voltage) / 100.0, 2));
    f.float("pack_current", round(f64::from(a.current) / 100.0, 2));
    if let Some(soc) = a.word(1) {
        f.float("soc", round(f64::from(soc) / 10.0, 1));
    }
    if let Some(soh) = a.word(4) {
        f.float("soh", round(f64::from(soh) / 10.0, 1));
    }
    let v: Vec<f64> = a
        .cells_mv
        .iter()
        .map(|&mv| f64::from(mv) / 1000.0)
        .collect();
    f.add_cell_stats(&v);
    f.set("cell_voltages", Value::Floats(v));
    f.int("cell_count", a.cells_mv.len() as i64);
    // 4 cell probes, then environment and power (MOSFET) when all 6 are there.
    let (probes, board) = if a.temps.len() >= 6 {
        a.temps.split_at(a.temps.len() - 2)
    } else {
        (&a.temps[..], &[][..])
    };
    if !probes.is_empty() {
        f.set(
            "temperatures",
            Value::Floats(probes.iter().map(|&t| celsius(t)).collect()),
        );
    }
    if let [env, mos] = board {
        f.float("temperature_env", celsius(*env));
        f.float("temperature_mos", celsius(*mos));
    }
    f.float("remaining_ah", round(f64::from(a.remaining) / 100.0, 2));
    if let Some(full) = a.word(0) {
        f.float("capacity_ah", round(f64::from(full) / 100.0, 2));
    }
    if let Some(rated) = a.word(2) {
        f.float("design_capacity_ah", round(f64::from(rated) / 100.0, 2));
    }
    if let Some(cycles) = a.word(3) {
        f.int("cycle_count", cycles);
    }
    if let Some(port) = a.word(5) {
        f.float("port_voltage", round(f64::from(port) / 100.0, 2));
    }
}

/// The 0x44 alarm states (Seplos PDF tables 11–13) as fields; what has no field of its own
/// (alarm events 1–8, disconnection, the current alarm, the on-off bits for the current
/// limiter and heater, the system state byte) goes to `raw` as hex.
pub fn parse_alarms(
    info: &[u8],
    f: &mut Fields,
    raw: &mut Map<String, serde_json::Value>,
) -> Result<(), String> {
    let mut r = Rd::new(info, "alarm states (0x44)");
    let (cells, temps) = ascii::item_states(&mut r)?;
    let current = r.u8()?;
    let voltage = r.u8()?;
    let p = usize::from(r.u8()?);
    if p < 12 {
        return Err(format!(
            "alarm states (0x44): {p} status bytes, a Seplos v2 board sends {ALARM_COUNT}"
        ));
    }
    let s = r.bytes(p)?;
    let (probes, board) = if temps.len() >= 6 {
        temps.split_at(temps.len() - 2)
    } else {
        (temps, &[][..])
    };
    ascii::item_warnings(cells, probes, f);
    if let [env, mos] = board {
        f.bool("warning_ambient_temp", *env == 1 || *env == 2);
        f.bool("warning_mos_ot", *mos == 2);
    }
    f.bool("warning_pack_ov", voltage == 2);
    f.bool("warning_pack_uv", voltage == 1);
    // Status bytes: events 1–6, on-off, equilibrium 1–2, system state, disconnection 1–2,
    // events 7–8, reserved.
    let on_off = s[6];
    f.bool("discharge_fet", on_off & 0x01 != 0);
    f.bool("charge_fet", on_off & 0x02 != 0);
    let mask = u16::from(s[7]) | u16::from(s[8]) << 8;
    f.bool("balancing", mask != 0);
    f.int("balancing_mask", mask);
    let state = s[9];
    let named = if state & 0x02 != 0 || state & 0x04 != 0 {
        Some("charging")
    } else if state & 0x01 != 0 {
        Some("discharging")
    } else if state & 0x10 != 0 {
        Some("standby")
    } else {
        None
    };
    if let Some(st) = named {
        f.set("state", Value::Text(st.into()));
    }
    raw.insert("current_alarm".into(), json!(format!("{current:02x}")));
    raw.insert("alarm_events".into(), json!(hex::encode(&s[..6])));
    raw.insert("on_off_state".into(), json!(format!("{on_off:02x}")));
    raw.insert("system_state".into(), json!(format!("{state:02x}")));
    raw.insert("disconnection".into(), json!(hex::encode(&s[10..12])));
    if s.len() > 12 {
        raw.insert("alarm_status_rest".into(), json!(hex::encode(&s[12..])));
    }
    Ok(())
}

/// The pack's identity from the 0x51 reply's INFO: 10 ASCII device name, 2 version bytes, 20
/// ASCII text (a protocol name such as "CANProtocol:Sofar", not a maker).
pub fn identity(m51: &[u8]) -> Info {
    let mut i = Info::default();
    if m51.len() >= 12 {
        i.model = Some(text(&m51[..10])).filter(|s| !s.is_empty());
        i.firmware = Some(format!("{}.{}", m51[10], m51[11]));
        i.manufacturer = Some("Seplos".into());
    }
    i
}

/// The Seplos v2 codec for the poll engine: one pack per DIP address (the engine's codec is
/// [`ascii::Dialect`]'s).
#[derive(Debug, Clone, Default)]
pub struct Codec;

impl ascii::Dialect for Codec {
    const VENDOR: Vendor = Vendor::SeplosV2;
    const STATUS: &'static [Command] = &[Command::Alarms];
    const IDENTITY: &'static [Command] = &[Command::Manufacturer];

    fn decode_info(&self, analog: &[u8], more: &[Option<Vec<u8>>]) -> Result<Decoded, String> {
        let a = parse_analog(analog)?;
        let mut fields = Fields::new();
        let mut raw = Map::new();
        analog_fields(&a, &mut fields);
        if a.words.len() > 6 {
            raw.insert("reserved".into(), json!(a.words[6..].to_vec()));
        }
        if let Some(Some(alarms)) = more.first() {
            parse_alarms(alarms, &mut fields, &mut raw)?;
        }
        Ok(Decoded { fields, raw })
    }

    fn identity_info(&self, infos: &[Option<Vec<u8>>]) -> Info {
        infos
            .first()
            .and_then(Option::as_deref)
            .map(identity)
            .unwrap_or_default()
    }

    fn check_analog(&self, info: &[u8]) -> Result<Info, String> {
        let a = parse_analog(info)?;
        if !(8..=16).contains(&a.cells_mv.len()) {
            return Err(format!("{} cells: not a Seplos v2 pack", a.cells_mv.len()));
        }
        if info.len() != analog_len(&a) {
            return Err(format!(
                "{} INFO bytes where the counts make {}: not a Seplos v2 reply",
                info.len(),
                analog_len(&a)
            ));
        }
        Ok(Info {
            manufacturer: Some("Seplos".into()),
            ..Info::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codec::Codec as _;

    // protocols.md §14.3: syssi/esphome-seplos-bms, decodes published there.
    const SP16_42: &str = "~2000460010960001100CD70CE90CF40CD60CEF0CE50CE10CDC0CE90CF00CE80CEF0CEA0CDA0CDE0CD8060BA60BA00B970BA60BA50BA2FD5C14A0344E0A426803134650004603E8149F0000000000000000DC6C\r";
    const SP15_51: &str =
        "~20004600C040313130312D5350313520020743414E50726F746F636F6C3A536F666172202020F046\r";
    const SP15_44: &str = "~20004600A06000010F000000000000000000000000000000060000000000000000140000000000000300000200000000000000000002EB74\r";
    const SP_92: &str = "~200046040000FDB0\r";

    fn decoded(answers: &[Option<&str>]) -> Decoded {
        let a: Vec<Option<Vec<u8>>> = answers
            .iter()
            .map(|s| s.map(|s| s.as_bytes().to_vec()))
            .collect();
        Codec.decode(0, &a).unwrap()
    }

    #[test]
    fn golden_16s_analog_values() {
        let f = decoded(&[Some(SP16_42), None]).fields;
        let get = |n: &str| f.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        let Value::Floats(cells) = get("cell_voltages") else {
            panic!()
        };
        assert_eq!(cells.len(), 16);
        assert_eq!((cells[0], cells[15]), (3.287, 3.288));
        assert_eq!(get("cell_voltage_min"), Value::Float(3.286));
        assert_eq!(get("cell_lowest"), Value::Int(4));
        assert_eq!(get("cell_voltage_max"), Value::Float(3.316));
        assert_eq!(get("cell_highest"), Value::Int(3));
        assert_eq!(
            get("temperatures"),
            Value::Floats(vec![25.1, 24.5, 23.6, 25.1])
        );
        assert_eq!(get("temperature_env"), Value::Float(25.0));
        assert_eq!(get("temperature_mos"), Value::Float(24.7));
        assert_eq!(get("pack_current"), Value::Float(-6.76));
        assert_eq!(get("pack_voltage"), Value::Float(52.8));
        assert_eq!(get("remaining_ah"), Value::Float(133.9));
        assert_eq!(get("capacity_ah"), Value::Float(170.0));
        assert_eq!(get("soc"), Value::Float(78.7));
        assert_eq!(get("design_capacity_ah"), Value::Float(180.0));
        assert_eq!(get("cycle_count"), Value::Int(70));
        assert_eq!(get("soh"), Value::Float(100.0));
        assert_eq!(get("port_voltage"), Value::Float(52.79));
        // The encoder writes the same INFO back.
        let info = ascii::parse(SP16_42.as_bytes()).unwrap().info;
        assert_eq!(encode_analog(&parse_analog(&info).unwrap()), info);
    }

    #[test]
    fn golden_15s_alarms_and_identity() {
        let d = decoded(&[Some(SP16_42), Some(SP15_44)]);
        let b = |n: &str| d.fields.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        for n in [
            "warning_cell_ov",
            "warning_cell_uv",
            "warning_battery_ot",
            "warning_ambient_temp",
            "warning_mos_ot",
            "warning_pack_ov",
            "balancing",
        ] {
            assert_eq!(b(n), Value::Bool(false), "{n}");
        }
        // On-off 0x03: both switches on; system state 0x02: charging.
        assert_eq!(b("discharge_fet"), Value::Bool(true));
        assert_eq!(b("charge_fet"), Value::Bool(true));
        assert_eq!(b("state"), Value::Text("charging".into()));
        assert_eq!(d.raw["on_off_state"], "03");
        assert_eq!(d.raw["system_state"], "02");
        let info = Codec
            .decode_identity(0, &[Some(SP15_51.as_bytes().to_vec())])
            .unwrap();
        assert_eq!(info.model.as_deref(), Some("1101-SP15"));
        assert_eq!(info.firmware.as_deref(), Some("2.7"));
        assert_eq!(info.manufacturer.as_deref(), Some("Seplos"));
    }

    #[test]
    fn rtn_04_names_the_unsupported_command() {
        let e = ascii::answer_info(Vendor::SeplosV2, SP_92.as_bytes(), 0, 0x44).unwrap_err();
        assert!(
            e.starts_with("CID2 invalid: the pack does not support alarm states (0x44)"),
            "{e}"
        );
        assert!(Codec.unsupported(&e));
        assert!(!Codec.unsupported("reply from address 0x01, asked 0x00"));
    }

    #[test]
    fn probe_tells_seplos_from_pylontech() {
        assert_eq!(Codec.probe(0).bytes, b"~20004642E00200FD37\r".to_vec());
        assert!(Codec.check_probe(0, SP16_42.as_bytes()).is_ok());
        // The Pylontech codec refuses this reply by its INFO length and custom count.
        let pylon = crate::proto::pylontech::Codec;
        let e = pylon.check_probe(0, SP16_42.as_bytes()).unwrap_err();
        assert!(e.contains("not a Pylontech pack"), "{e}");
        // And a Pylontech reply is not a Seplos one (custom count 4).
        let up2500 = "~20024600D05E1002080D020D020D020D030D000D010D010D03050B7D0B690B690B690B73FFFA680EFFFF04FFFF00000174E401B198E906\r";
        assert!(Codec.check_probe(2, up2500.as_bytes()).is_err());
    }

    #[test]
    fn requests_are_reads_of_the_seplos_allow_list() {
        for a in 0..=15 {
            for r in Codec
                .identity(a)
                .into_iter()
                .chain(Codec.status(a))
                .chain([Codec.probe(a)])
            {
                let f = ascii::parse(&r.bytes).unwrap();
                assert!([0x42, 0x44, 0x51].contains(&f.cid2), "{r:?}");
                assert_eq!((f.ver, f.adr, f.cid2), (0x20, a, r.what));
            }
        }
        // §14.3's published requests.
        let s = Codec.status(0);
        assert_eq!(s[1].bytes, b"~20004644E00200FD35\r".to_vec());
        assert_eq!(Codec.identity(0)[0].bytes, b"~200046510000FDAE\r".to_vec());
    }

    #[test]
    fn every_field_is_in_the_catalogue_for_seplos() {
        let d = decoded(&[Some(SP16_42), Some(SP15_44)]);
        for (name, _) in d.fields.iter() {
            crate::catalog::lookup(name).unwrap_or_else(|| panic!("{name}"));
            assert!(
                crate::catalog::writes("seplos", name),
                "{name} lacks source seplos"
            );
        }
    }

    #[test]
    fn no_panic_on_any_prefix_or_flip() {
        for s in [SP16_42, SP15_44, SP15_51] {
            let info = ascii::parse(s.as_bytes()).unwrap().info;
            for n in 0..=info.len() {
                let _ = parse_analog(&info[..n]);
                let _ = parse_alarms(&info[..n], &mut Fields::new(), &mut Map::new());
                let _ = identity(&info[..n]);
            }
            for i in 0..info.len() {
                for bit in 0..8 {
                    let mut d = info.clone();
                    d[i] ^= 1 << bit;
                    if let Ok(a) = parse_analog(&d) {
                        analog_fields(&a, &mut Fields::new());
                    }
                    let _ = parse_alarms(&d, &mut Fields::new(), &mut Map::new());
                }
            }
        }
    }
}
