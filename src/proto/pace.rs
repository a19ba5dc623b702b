//! PACE v25 ("paceic") BMS boards, sold under SOK, Gobel, Jakiper, BSL and others, over RS-485 /
//! RS-232 (protocols.md §14.4), on the shared Pylon-ASCII framer
//! ([`crate::proto::pylon_ascii`]) with VER 0x25.
//!
//! ADR 1 on the RS-232 console port, 0 on RS-485; the 0x42/0x44 requests carry the address as
//! their one-byte INFO. 0x42 analog values every cycle, 0x44 status when the board answers it,
//! 0xC1 hardware version and 0xC2 serial number once per connection. Temperatures are K × 10;
//! the PACE document subtracts 2730 (Pylontech and Seplos 2731), and so does this codec.
//! Read-only: requests come from the PACE allow-list of [`ascii::Vendor::allowed`] (never 0x99
//! switch control, 0x9A–0x9C MOSFETs and reboot, nor any set-configuration code).

use crate::proto::codec::Decoded;
use crate::proto::pylon_ascii::{self as ascii, Command, Rd, Vendor};
use crate::proto::pylontech::{round, text};
use crate::record::{Fields, Info, Value};
use serde_json::{json, Map};

/// The address on the RS-485 port (the RS-232 console port answers at 1).
pub const DEFAULT_ADDRESS: u8 = 0;
/// The address on the RS-232 console port.
pub const CONSOLE_ADDRESS: u8 = 1;
/// The custom count of a 0x42 reply: full capacity, cycles, design capacity.
pub const CUSTOM_COUNT: u8 = 3;

/// °C from u16 K × 10, as the PACE document decodes it (− 2730).
pub fn celsius(raw: u16) -> f64 {
    round((f64::from(raw) - 2730.0) / 10.0, 1)
}

/// One pack's 0x42 analog values, raw as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Analog {
    /// The responding bus id.
    pub bus_id: u8,
    pub cells_mv: Vec<u16>,
    /// u16 K × 10.
    pub temps: Vec<u16>,
    /// s16 × 10 mA, + = charge.
    pub current: i16,
    /// u16 mV.
    pub voltage_mv: u16,
    /// u16 × 10 mAh.
    pub remaining: u16,
    /// The custom count: [`CUSTOM_COUNT`].
    pub custom: u8,
    /// u16 × 10 mAh.
    pub full: u16,
    pub cycles: u16,
    /// u16 × 10 mAh.
    pub design: u16,
}

/// The INFO of a 0x42 reply: DATAFLAG, bus id, M, M cells, N, N temperatures, current,
/// voltage, remaining, custom count 3, full, cycles, design.
pub fn parse_analog(info: &[u8]) -> Result<Analog, String> {
    let mut r = Rd::new(info, "analog values (0x42)");
    let h = ascii::analog_head(&mut r)?;
    let custom = r.u8()?;
    if custom < CUSTOM_COUNT {
        return Err(format!(
            "analog values (0x42): custom count {custom}, a PACE board sends {CUSTOM_COUNT}"
        ));
    }
    let full = r.u16()?;
    let cycles = r.u16()?;
    let design = r.u16()?;
    Ok(Analog {
        bus_id: h.group,
        cells_mv: h.cells_mv,
        temps: h.temps,
        current: h.current,
        voltage_mv: h.voltage,
        remaining: h.remaining,
        custom,
        full,
        cycles,
        design,
    })
}

/// The INFO of a 0x42 reply carrying `a` (simulators, tests).
pub fn encode_analog(a: &Analog) -> Vec<u8> {
    let mut d = ascii::encode_analog_head(&ascii::AnalogHead {
        group: a.bus_id,
        cells_mv: a.cells_mv.clone(),
        temps: a.temps.clone(),
        current: a.current,
        voltage: a.voltage_mv,
        remaining: a.remaining,
    });
    d.push(CUSTOM_COUNT);
    for w in [a.full, a.cycles, a.design] {
        d.extend_from_slice(&w.to_be_bytes());
    }
    d
}

/// The fields of one pack's analog values.
pub fn analog_fields(a: &Analog, f: &mut Fields) {
    f.float("pack_voltage", f64::from(a.voltage_mv) / 1000.0);
    f.float("pack_current", round(f64::from(a.current) / 100.0, 2));
    if a.full > 0 {
        let soc = (f64::from(a.remaining) * 100.0 / f64::from(a.full)).round() as i64;
        f.int("soc", soc.min(100));
    }
    let v: Vec<f64> = a
        .cells_mv
        .iter()
        .map(|&mv| f64::from(mv) / 1000.0)
        .collect();
    f.add_cell_stats(&v);
    f.set("cell_voltages", Value::Floats(v));
    f.int("cell_count", a.cells_mv.len() as i64);
    if !a.temps.is_empty() {
        f.set(
            "temperatures",
            Value::Floats(a.temps.iter().map(|&t| celsius(t)).collect()),
        );
    }
    f.float("remaining_ah", round(f64::from(a.remaining) / 100.0, 2));
    f.float("capacity_ah", round(f64::from(a.full) / 100.0, 2));
    f.float("design_capacity_ah", round(f64::from(a.design) / 100.0, 2));
    f.int("cycle_count", a.cycles);
}

/// The 0x44 status (pbmstools-communication.md "Get Status") as fields: the item warnings
/// (00 normal, 01 below the lower limit, 02 above the upper limit) and the balance bits. The
/// protection, system, configuration, fault and warning status bytes, whose bits protocols.md
/// does not settle, go to `raw` as hex.
pub fn parse_status(
    info: &[u8],
    f: &mut Fields,
    raw: &mut Map<String, serde_json::Value>,
) -> Result<(), String> {
    let mut r = Rd::new(info, "status (0x44)");
    let (cells, temps) = ascii::item_states(&mut r)?;
    let charge_current = r.u8()?;
    let voltage = r.u8()?;
    let discharge_current = r.u8()?;
    let s = r.bytes(9)?;
    ascii::item_warnings(cells, temps, f);
    f.bool("warning_charge_oc", charge_current == 2);
    f.bool("warning_pack_ov", voltage == 2);
    f.bool("warning_pack_uv", voltage == 1);
    f.bool("warning_discharge_oc", discharge_current == 2);
    // Balance status: high byte cells 9–16, low byte cells 1–8.
    let mask = u16::from_be_bytes([s[5], s[6]]);
    f.bool("balancing", mask != 0);
    f.int("balancing_mask", mask);
    for (i, name) in [
        "protection_status_1",
        "protection_status_2",
        "system_status",
        "configuration_status",
        "fault_status",
    ]
    .into_iter()
    .enumerate()
    {
        raw.insert(name.into(), json!(format!("{:02x}", s[i])));
    }
    raw.insert("warning_status".into(), json!(hex::encode(&s[7..9])));
    Ok(())
}

/// The pack's identity from the 0xC1 (hardware version) and 0xC2 (serial number) replies'
/// INFO: ASCII, space/NUL padded.
pub fn identity(c1: Option<&[u8]>, c2: Option<&[u8]>) -> Info {
    let mut i = Info {
        hardware: c1.map(text).filter(|s| !s.is_empty()),
        serial: c2.map(text).filter(|s| !s.is_empty()),
        ..Info::default()
    };
    if !i.is_empty() {
        i.manufacturer = Some("PACE".into());
    }
    i
}

/// The PACE v25 codec for the poll engine: one pack per address (the engine's codec is
/// [`ascii::Dialect`]'s).
#[derive(Debug, Clone, Default)]
pub struct Codec;

impl ascii::Dialect for Codec {
    const VENDOR: Vendor = Vendor::Pace;
    const STATUS: &'static [Command] = &[Command::Alarms];
    const IDENTITY: &'static [Command] = &[Command::PaceHardware, Command::PaceSerial];

    fn decode_info(&self, analog: &[u8], more: &[Option<Vec<u8>>]) -> Result<Decoded, String> {
        let a = parse_analog(analog)?;
        let mut fields = Fields::new();
        let mut raw = Map::new();
        analog_fields(&a, &mut fields);
        if let Some(Some(status)) = more.first() {
            parse_status(status, &mut fields, &mut raw)?;
        }
        Ok(Decoded { fields, raw })
    }

    fn identity_info(&self, infos: &[Option<Vec<u8>>]) -> Info {
        let get = |i: usize| infos.get(i).and_then(Option::as_deref);
        identity(get(0), get(1))
    }

    fn check_analog(&self, info: &[u8]) -> Result<Info, String> {
        let a = parse_analog(info)?;
        if !(8..=16).contains(&a.cells_mv.len()) {
            return Err(format!("{} cells: not a PACE pack", a.cells_mv.len()));
        }
        Ok(Info {
            manufacturer: Some("PACE".into()),
            ..Info::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codec::Codec as _;

    // protocols.md §14.4 (syssi/esphome-pace-bms docs/pbmstools-communication.md).
    const P16_42: &str = "~25014600F07A0001100CC70CC80CC70CC70CC70CC50CC60CC70CC70CC60CC70CC60CC60CC70CC60CC7060B9B0B990B990B990BB30BBCFF1FCCCD12D303286A008C2710E1E4\r";
    const P16_44: &str = "~25014600004C000110000000000000000000000000000000000600000000000000000000000E000000000000EF3A\r";
    const P16_C1: &str = "~25014600602850313653313030412D313831322D312E30302000F58E\r";
    const P16_C2: &str = "~25014600B05031383132313031333830333039442020202020202020202020202020202020202020202020202020EE0F\r";

    fn decoded(answers: &[Option<&str>]) -> Decoded {
        let a: Vec<Option<Vec<u8>>> = answers
            .iter()
            .map(|s| s.map(|s| s.as_bytes().to_vec()))
            .collect();
        Codec.decode(1, &a).unwrap()
    }

    #[test]
    fn golden_16s_with_kelvin_probes() {
        let d = decoded(&[Some(P16_42), Some(P16_44)]);
        let get = |n: &str| d.fields.get(n).cloned().unwrap_or_else(|| panic!("{n}"));
        assert_eq!(
            get("cell_voltages"),
            Value::Floats(vec![
                3.271, 3.272, 3.271, 3.271, 3.271, 3.269, 3.27, 3.271, 3.271, 3.27, 3.271, 3.27,
                3.27, 3.271, 3.27, 3.271
            ])
        );
        assert_eq!(
            get("temperatures"),
            Value::Floats(vec![24.1, 23.9, 23.9, 23.9, 26.5, 27.4])
        );
        assert_eq!(get("pack_current"), Value::Float(-2.25));
        assert_eq!(get("pack_voltage"), Value::Float(52.429));
        assert_eq!(get("remaining_ah"), Value::Float(48.19));
        assert_eq!(get("capacity_ah"), Value::Float(103.46));
        assert_eq!(get("cycle_count"), Value::Int(140));
        assert_eq!(get("design_capacity_ah"), Value::Float(100.0));
        assert_eq!(get("soc"), Value::Int(47));
        // The status reply: every item normal, no cell balancing; system status 0x0E kept raw.
        assert_eq!(get("warning_cell_ov"), Value::Bool(false));
        assert_eq!(get("balancing"), Value::Bool(false));
        assert_eq!(d.raw["system_status"], "0e");
        let info = ascii::parse(P16_42.as_bytes()).unwrap().info;
        assert_eq!(encode_analog(&parse_analog(&info).unwrap()), info);
    }

    #[test]
    fn golden_identity() {
        let i = Codec
            .decode_identity(
                1,
                &[
                    Some(P16_C1.as_bytes().to_vec()),
                    Some(P16_C2.as_bytes().to_vec()),
                ],
            )
            .unwrap();
        assert_eq!(i.hardware.as_deref(), Some("P16S100A-1812-1.00"));
        assert_eq!(i.serial.as_deref(), Some("1812101380309D"));
        assert_eq!(i.manufacturer.as_deref(), Some("PACE"));
    }

    #[test]
    fn requests_are_reads_of_the_pace_allow_list() {
        assert_eq!(Codec.probe(1).bytes, b"~25014642E00201FD30\r".to_vec());
        assert_eq!(Codec.probe(0).bytes, b"~25004642E00200FD32\r".to_vec());
        assert_eq!(Codec.status(1)[1].bytes, b"~25014644E00201FD2E\r".to_vec());
        assert_eq!(Codec.identity(1)[0].bytes, b"~250146C10000FD9A\r".to_vec());
        for a in 0..=15 {
            for r in Codec
                .identity(a)
                .into_iter()
                .chain(Codec.status(a))
                .chain([Codec.probe(a)])
            {
                let f = ascii::parse(&r.bytes).unwrap();
                assert!([0x42, 0x44, 0xC1, 0xC2].contains(&f.cid2), "{r:?}");
                assert_eq!((f.ver, f.adr, f.cid2), (0x25, a, r.what));
            }
        }
    }

    #[test]
    fn a_ver_20_reply_is_not_pace() {
        let seplos = "~2000460010960001100CD70CE90CF40CD60CEF0CE50CE10CDC0CE90CF00CE80CEF0CEA0CDA0CDE0CD8060BA60BA00B970BA60BA50BA2FD5C14A0344E0A426803134650004603E8149F0000000000000000DC6C\r";
        let e = Codec.check_probe(0, seplos.as_bytes()).unwrap_err();
        assert!(e.contains("VER 0x20"), "{e}");
        assert!(Codec.check_probe(1, P16_42.as_bytes()).is_ok());
    }

    #[test]
    fn every_field_is_in_the_catalogue_for_pace() {
        let d = decoded(&[Some(P16_42), Some(P16_44)]);
        for (name, _) in d.fields.iter() {
            assert!(crate::catalog::writes("pace", name), "{name}");
        }
    }

    #[test]
    fn no_panic_on_any_prefix_or_flip() {
        for s in [P16_42, P16_44, P16_C1, P16_C2] {
            let info = ascii::parse(s.as_bytes()).unwrap().info;
            for n in 0..=info.len() {
                let _ = parse_analog(&info[..n]);
                let _ = parse_status(&info[..n], &mut Fields::new(), &mut Map::new());
                let _ = identity(Some(&info[..n]), Some(&info[..n]));
            }
            for i in 0..info.len() {
                for bit in 0..8 {
                    let mut d = info.clone();
                    d[i] ^= 1 << bit;
                    if let Ok(a) = parse_analog(&d) {
                        analog_fields(&a, &mut Fields::new());
                    }
                    let _ = parse_status(&d, &mut Fields::new(), &mut Map::new());
                }
            }
        }
    }
}
