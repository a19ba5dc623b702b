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
use crate::proto::pylon_ascii::{self as ascii, Command, PaceSettings, Rd, Vendor};
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

/// One group of configured thresholds as its read answers it (PBmsTools' "Parameter Setting"
/// tab, protocols.md §14.5): a leading byte of unknown meaning (01 in every capture), then the
/// levels. Voltages are u16 mV (alarm, protect, release) and a delay byte in 100 ms; currents
/// s16 A (alarm, protect; discharge sent negative) and a delay byte; temperatures u16 K × 10
/// (charge alarm, protect, release, then discharge alarm, protect, release).
#[derive(Debug, Clone, PartialEq)]
pub enum Thresholds {
    /// mV and the delay in 100 ms.
    Voltage {
        alarm: u16,
        protect: u16,
        release: u16,
        delay: u8,
    },
    /// A (the sign as sent) and the delay in 100 ms.
    Current { alarm: i16, protect: i16, delay: u8 },
    /// K × 10: charge then discharge, each alarm, protect, release.
    Temperature {
        charge: [u16; 3],
        discharge: [u16; 3],
    },
}

/// The INFO of a reply to the threshold read `g`.
pub fn parse_thresholds(g: PaceSettings, info: &[u8]) -> Result<Thresholds, String> {
    let mut r = Rd::new(info, g.name());
    let _lead = r.u8()?;
    let t = match g {
        PaceSettings::CellOverVoltage
        | PaceSettings::CellUnderVoltage
        | PaceSettings::PackOverVoltage
        | PaceSettings::PackUnderVoltage => Thresholds::Voltage {
            alarm: r.u16()?,
            protect: r.u16()?,
            release: r.u16()?,
            delay: r.u8()?,
        },
        PaceSettings::ChargeOverCurrent | PaceSettings::DischargeOverCurrent => {
            Thresholds::Current {
                alarm: r.u16()? as i16,
                protect: r.u16()? as i16,
                delay: r.u8()?,
            }
        }
        PaceSettings::OverTemperature | PaceSettings::UnderTemperature => {
            let mut w = [0u16; 6];
            for x in &mut w {
                *x = r.u16()?;
            }
            Thresholds::Temperature {
                charge: [w[0], w[1], w[2]],
                discharge: [w[3], w[4], w[5]],
            }
        }
    };
    Ok(t)
}

/// The INFO of a reply to the threshold read `g` carrying `t` (simulators, tests).
pub fn encode_thresholds(t: &Thresholds) -> Vec<u8> {
    let mut d = vec![1u8];
    match t {
        Thresholds::Voltage {
            alarm,
            protect,
            release,
            delay,
        } => {
            for w in [alarm, protect, release] {
                d.extend_from_slice(&w.to_be_bytes());
            }
            d.push(*delay);
        }
        Thresholds::Current {
            alarm,
            protect,
            delay,
        } => {
            d.extend_from_slice(&alarm.to_be_bytes());
            d.extend_from_slice(&protect.to_be_bytes());
            d.push(*delay);
        }
        Thresholds::Temperature { charge, discharge } => {
            for w in charge.iter().chain(discharge) {
                d.extend_from_slice(&w.to_be_bytes());
            }
        }
    }
    d
}

/// The `setting_*` fields of one threshold group, in Pylontech's 0x47 vocabulary where the
/// meaning matches (`_high` and `_low` are alarm levels, `_under` the under-voltage
/// protection, currents ≥ 0) and `_protection` fields for the other protect levels. Release
/// levels and delays are not written.
pub fn threshold_fields(g: PaceSettings, t: &Thresholds, f: &mut Fields) {
    let volts = |mv: u16| f64::from(mv) / 1000.0;
    let amps = |a: i16| f64::from(a).abs();
    match (g, t) {
        (PaceSettings::CellOverVoltage, Thresholds::Voltage { alarm, protect, .. }) => {
            f.float("setting_cell_voltage_high", volts(*alarm));
            f.float("setting_cell_voltage_high_protection", volts(*protect));
        }
        (PaceSettings::CellUnderVoltage, Thresholds::Voltage { alarm, protect, .. }) => {
            f.float("setting_cell_voltage_low", volts(*alarm));
            f.float("setting_cell_voltage_under", volts(*protect));
        }
        (PaceSettings::PackOverVoltage, Thresholds::Voltage { alarm, protect, .. }) => {
            f.float("setting_pack_voltage_high", volts(*alarm));
            f.float("setting_pack_voltage_high_protection", volts(*protect));
        }
        (PaceSettings::PackUnderVoltage, Thresholds::Voltage { alarm, protect, .. }) => {
            f.float("setting_pack_voltage_low", volts(*alarm));
            f.float("setting_pack_voltage_under", volts(*protect));
        }
        (PaceSettings::ChargeOverCurrent, Thresholds::Current { alarm, protect, .. }) => {
            f.float("setting_charge_current", amps(*alarm));
            f.float("setting_charge_current_protection", amps(*protect));
        }
        (PaceSettings::DischargeOverCurrent, Thresholds::Current { alarm, protect, .. }) => {
            f.float("setting_discharge_current", amps(*alarm));
            f.float("setting_discharge_current_protection", amps(*protect));
        }
        (PaceSettings::OverTemperature, Thresholds::Temperature { charge, discharge }) => {
            f.float("setting_charge_temperature_high", celsius(charge[0]));
            f.float(
                "setting_charge_temperature_high_protection",
                celsius(charge[1]),
            );
            f.float("setting_discharge_temperature_high", celsius(discharge[0]));
            f.float(
                "setting_discharge_temperature_high_protection",
                celsius(discharge[1]),
            );
        }
        (PaceSettings::UnderTemperature, Thresholds::Temperature { charge, discharge }) => {
            f.float("setting_charge_temperature_low", celsius(charge[0]));
            f.float(
                "setting_charge_temperature_low_protection",
                celsius(charge[1]),
            );
            f.float("setting_discharge_temperature_low", celsius(discharge[0]));
            f.float(
                "setting_discharge_temperature_low_protection",
                celsius(discharge[1]),
            );
        }
        // parse_thresholds gives each group its own shape.
        _ => {}
    }
}

/// The identity reads: 0xC1, 0xC2, then every threshold group.
const IDENTITY: [Command; 10] = [
    Command::PaceHardware,
    Command::PaceSerial,
    Command::PaceSettings(PaceSettings::ALL[0]),
    Command::PaceSettings(PaceSettings::ALL[1]),
    Command::PaceSettings(PaceSettings::ALL[2]),
    Command::PaceSettings(PaceSettings::ALL[3]),
    Command::PaceSettings(PaceSettings::ALL[4]),
    Command::PaceSettings(PaceSettings::ALL[5]),
    Command::PaceSettings(PaceSettings::ALL[6]),
    Command::PaceSettings(PaceSettings::ALL[7]),
];

/// The PACE v25 codec for the poll engine: one pack per address (the engine's codec is
/// [`ascii::Dialect`]'s).
#[derive(Debug, Clone, Default)]
pub struct Codec;

impl ascii::Dialect for Codec {
    const VENDOR: Vendor = Vendor::Pace;
    const STATUS: &'static [Command] = &[Command::Alarms];
    const IDENTITY: &'static [Command] = &IDENTITY;

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

    fn identity_settings(&self, address: u8, infos: &[Option<Vec<u8>>]) -> Fields {
        let mut f = Fields::new();
        for (i, g) in PaceSettings::ALL.into_iter().enumerate() {
            let Some(info) = infos.get(2 + i).and_then(Option::as_deref) else {
                continue;
            };
            match parse_thresholds(g, info) {
                Ok(t) => threshold_fields(g, &t, &mut f),
                Err(e) => log::debug!("address {address}: {e}"),
            }
        }
        f
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
                let reads = [
                    0x42, 0x44, 0xC1, 0xC2, 0xD1, 0xD3, 0xD5, 0xD7, 0xD9, 0xDB, 0xDD, 0xDF,
                ];
                assert!(reads.contains(&f.cid2), "{r:?}");
                assert_eq!((f.ver, f.adr, f.cid2), (0x25, a, r.what));
            }
        }
    }

    // The "Parameter Setting" tab of syssi/esphome-pace-bms docs/pbmstools-communication.md
    // (PBmsTools 2.4, pack at address 0): each threshold read and its reply, as captured. Every
    // one of these frames passes our framer's LCHKSUM and CHKSUM (the test checks it),
    // the pack over-voltage reply too: its levels are mV like the cell ones (E100 = 57.6 V),
    // though the document's prose says "v * 100".
    const SETTINGS: [(&str, &str); 8] = [
        ("~250046D10000FD9A\r", "~25004600F010010E100E740D340AFA35\r"),
        ("~250046D30000FD98\r", "~25004600F010010AF009C40B540AFA24\r"),
        ("~250046D50000FD96\r", "~25004600F01001E100E740D2F00AFA24\r"),
        ("~250046D70000FD94\r", "~25004600F01001AF009C40B5400AFA24\r"),
        ("~250046D90000FD92\r", "~25004600400C010068006E0AFB1D\r"),
        ("~250046DB0000FD89\r", "~25004600400C01FF97FF920AFAD3\r"),
        (
            "~250046DD0000FD87\r",
            "~25004600501A010CA80CD00C9E0CDA0D020CD0F7BE\r",
        ),
        (
            "~250046DF0000FD85\r",
            "~25004600501A010AAA0A780AAA0A1409E20A14F7E5\r",
        ),
    ];

    fn identity_answers() -> Vec<Option<Vec<u8>>> {
        let mut a = vec![
            Some(P16_C1.as_bytes().to_vec()),
            Some(P16_C2.as_bytes().to_vec()),
        ];
        a.extend(SETTINGS.iter().map(|(_, r)| Some(r.as_bytes().to_vec())));
        a
    }

    #[test]
    fn golden_threshold_reads_and_replies() {
        // Our requests are the captured ones, byte for byte, after 0xC1 and 0xC2.
        let reqs = Codec.identity(0);
        assert_eq!(reqs.len(), 2 + SETTINGS.len());
        for (r, (q, _)) in reqs[2..].iter().zip(SETTINGS) {
            assert_eq!(String::from_utf8_lossy(&r.bytes), q);
            assert!(!r.required);
        }
        for (g, (_, reply)) in PaceSettings::ALL.into_iter().zip(SETTINGS) {
            let info =
                ascii::reply_info(reply.as_bytes(), Vendor::Pace, 0, Command::PaceSettings(g))
                    .unwrap_or_else(|e| panic!("{}: {e}", g.name()));
            assert_eq!(
                encode_thresholds(&parse_thresholds(g, &info).unwrap()),
                info
            );
        }
        let f = Codec.identity_fields(0, &identity_answers());
        let want = [
            ("setting_cell_voltage_high", 3.6),
            ("setting_cell_voltage_high_protection", 3.7),
            ("setting_cell_voltage_low", 2.8),
            ("setting_cell_voltage_under", 2.5),
            ("setting_pack_voltage_high", 57.6),
            ("setting_pack_voltage_high_protection", 59.2),
            ("setting_pack_voltage_low", 44.8),
            ("setting_pack_voltage_under", 40.0),
            ("setting_charge_current", 104.0),
            ("setting_charge_current_protection", 110.0),
            ("setting_discharge_current", 105.0),
            ("setting_discharge_current_protection", 110.0),
            ("setting_charge_temperature_high", 51.0),
            ("setting_charge_temperature_high_protection", 55.0),
            ("setting_discharge_temperature_high", 56.0),
            ("setting_discharge_temperature_high_protection", 60.0),
            ("setting_charge_temperature_low", 0.0),
            ("setting_charge_temperature_low_protection", -5.0),
            ("setting_discharge_temperature_low", -15.0),
            ("setting_discharge_temperature_low_protection", -20.0),
        ];
        for (name, v) in want {
            assert_eq!(f.get(name), Some(&Value::Float(v)), "{name}");
            assert!(crate::catalog::writes("pace", name), "{name}");
        }
        assert_eq!(f.iter().count(), want.len());
        // The identity (captured at address 1) is unchanged by the further answers, and the
        // threshold replies (from address 0) give nothing when address 1 was asked.
        let i = Codec.decode_identity(1, &identity_answers()).unwrap();
        assert_eq!(i.hardware.as_deref(), Some("P16S100A-1812-1.00"));
        assert_eq!(
            Codec.identity_fields(1, &identity_answers()).iter().count(),
            0
        );
    }

    #[test]
    fn refused_or_missing_threshold_reads_only_lose_their_fields() {
        let mut a = identity_answers();
        // Cell over-voltage refused (RTN 04), pack over-voltage missing, the charge
        // over-current reply cut short.
        a[2] = Some(ascii::reply(0x25, 0, 0x04, &[]));
        a[4] = None;
        let short = ascii::reply(0x25, 0, 0, &[1, 0, 0x68]);
        a[6] = Some(short);
        let f = Codec.identity_fields(0, &a);
        for gone in [
            "setting_cell_voltage_high",
            "setting_pack_voltage_high",
            "setting_charge_current",
        ] {
            assert!(f.get(gone).is_none(), "{gone}");
        }
        assert_eq!(
            f.get("setting_cell_voltage_under"),
            Some(&Value::Float(2.5))
        );
        assert_eq!(f.iter().count(), 20 - 6);
        assert!(Codec.unsupported(
            &ascii::answer_info(Vendor::Pace, a[2].as_deref().unwrap(), 0, 0xD1).unwrap_err()
        ));
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
        let replies = SETTINGS.iter().map(|(_, r)| *r);
        for s in [P16_42, P16_44, P16_C1, P16_C2].into_iter().chain(replies) {
            let info = ascii::parse(s.as_bytes()).unwrap().info;
            for n in 0..=info.len() {
                for g in PaceSettings::ALL {
                    if let Ok(t) = parse_thresholds(g, &info[..n]) {
                        threshold_fields(g, &t, &mut Fields::new());
                    }
                }
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
