//! Simulated PACE v25 boards (protocols.md §14.4) on the shared Pylon-ASCII simulator core:
//! packs at their addresses (default 0, the RS-485 port) answering 0x4F, 0x42, 0x44, 0xC1 and
//! 0xC2 from the drifting pack model, probe temperatures in K × 10 (− 2730), and the odd
//! threshold reads 0xD1-0xDF with LFP levels (the pack levels the cell levels × the cell
//! count), or RTN 04 to them under `--fault unsupported_thresholds`; 0x47 gets RTN 04 as on
//! boards without it; 0x99 switch control, the MOSFET and reboot codes and every
//! set-configuration code (the even neighbours of the threshold reads among them) are refused
//! without an answer.

use super::pylon_ascii::{alarm_states, kelvin, Bus, Dialect, Pack, Packs};
use super::Responder;
use crate::family::SimSpec;
use crate::proto::pace::{self, Analog, Thresholds};
use crate::proto::pylon_ascii::{self as ascii, Command, PaceSettings, Rtn, Vendor};
use std::time::Instant;

/// Hardware version answered to 0xC1.
pub const HARDWARE: &str = "P16S100A-SIM-1.00";

/// The --fault that makes a pack answer the threshold reads 0xD1-0xDF with RTN 04.
pub const NO_THRESHOLDS: &str = "unsupported_thresholds";

struct Pace {
    packs: Packs,
    /// The addresses answering the threshold reads with RTN 04 (None: every pack).
    no_thresholds: Vec<Option<u8>>,
}

/// `bms-sim pace`: packs at the spec's addresses (default 0).
pub fn simulator(spec: &SimSpec) -> Result<Box<dyn Responder>, String> {
    let mut items = spec.clone();
    let (no_thresholds, faults): (Vec<_>, Vec<_>) = spec
        .faults
        .iter()
        .cloned()
        .partition(|(_, name)| name == NO_THRESHOLDS);
    items.faults = faults;
    Ok(Box::new(Bus::new(
        Pace {
            packs: Packs::new(&items, pace::DEFAULT_ADDRESS, "pace")
                .map_err(|e| format!("{e}, {NO_THRESHOLDS}"))?,
            no_thresholds: no_thresholds.into_iter().map(|(a, _)| a).collect(),
        },
        spec.bad_every,
    )))
}

/// The configured thresholds of a pack of `cells` LFP cells: the levels of the PBmsTools
/// captures (protocols.md §14.5), pack voltages the cell levels × `cells`.
pub fn thresholds(g: PaceSettings, cells: usize) -> Thresholds {
    let n = cells as u16;
    let k = |c: i8| kelvin(c, 2730.0);
    match g {
        PaceSettings::CellOverVoltage => Thresholds::Voltage {
            alarm: 3600,
            protect: 3700,
            release: 3380,
            delay: 10,
        },
        PaceSettings::CellUnderVoltage => Thresholds::Voltage {
            alarm: 2800,
            protect: 2500,
            release: 2900,
            delay: 10,
        },
        PaceSettings::PackOverVoltage => Thresholds::Voltage {
            alarm: 3600 * n,
            protect: 3700 * n,
            release: 3380 * n,
            delay: 10,
        },
        PaceSettings::PackUnderVoltage => Thresholds::Voltage {
            alarm: 2800 * n,
            protect: 2500 * n,
            release: 2900 * n,
            delay: 10,
        },
        PaceSettings::ChargeOverCurrent => Thresholds::Current {
            alarm: 104,
            protect: 110,
            delay: 10,
        },
        PaceSettings::DischargeOverCurrent => Thresholds::Current {
            alarm: -105,
            protect: -110,
            delay: 10,
        },
        PaceSettings::OverTemperature => Thresholds::Temperature {
            charge: [k(51), k(55), k(50)],
            discharge: [k(56), k(60), k(55)],
        },
        PaceSettings::UnderTemperature => Thresholds::Temperature {
            charge: [k(0), k(-5), k(0)],
            discharge: [k(-15), k(-20), k(-15)],
        },
    }
}

fn analog(p: &mut Pack, cells: usize, now: Instant) -> Analog {
    let img = p.model.image(now);
    let cells_mv: Vec<u16> = img.cells_mv[..cells.min(img.cells_mv.len())].to_vec();
    let total_mv: u32 = cells_mv.iter().map(|&c| u32::from(c)).sum();
    let kelvin = |c: i8| kelvin(c, 2730.0);
    let mut temps: Vec<u16> = img.sensors[..4].iter().map(|&t| kelvin(t)).collect();
    temps.push(kelvin(img.sensors[0].saturating_add(3)));
    temps.push(kelvin(img.sensors[0].saturating_sub(1)));
    Analog {
        bus_id: p.address,
        cells_mv,
        temps,
        current: img.current_centi,
        voltage_mv: total_mv.min(0xFFFF) as u16,
        remaining: img.remaining_ah.saturating_mul(100),
        custom: pace::CUSTOM_COUNT,
        full: 10_000,
        cycles: img.cycles.min(0xFFFF) as u16,
        design: 10_000,
    }
}

impl Dialect for Pace {
    fn vendor(&self) -> Vendor {
        Vendor::Pace
    }

    fn answer(&mut self, req: &ascii::Frame, cmd: Command, now: Instant) -> Option<(u8, Vec<u8>)> {
        let cells = self.packs.cells;
        let refuse = self
            .no_thresholds
            .iter()
            .any(|a| a.is_none_or(|a| a == req.adr));
        let p = self.packs.live(req.adr)?;
        let info = match cmd {
            Command::ProtocolVersion => Vec::new(),
            Command::Analog => pace::encode_analog(&analog(p, cells, now)),
            Command::Alarms => {
                let mut d = alarm_states(p.address, cells, p.faults);
                d.push(0);
                // Protection 1-2, system, configuration, fault, balance high/low, warning 1-2.
                let img = p.model.image(now);
                let balance = if cells > 8 {
                    img.balancing
                } else {
                    img.balancing & 0xFF
                };
                let [hi, lo] = balance.to_be_bytes();
                d.extend([0, 0, 0x0E, 0, 0, hi, lo, 0, 0]);
                d
            }
            Command::SystemParameters => return Some((Rtn::Cid2Invalid.code(), Vec::new())),
            Command::PaceSettings(_) if refuse => {
                return Some((Rtn::Cid2Invalid.code(), Vec::new()))
            }
            Command::PaceSettings(g) => pace::encode_thresholds(&thresholds(g, cells)),
            Command::PaceHardware => format!("{HARDWARE:<20}").into_bytes(),
            Command::PaceSerial => {
                let serial = p.model.image(now).serial;
                format!("{serial:<20.20}").into_bytes()
            }
            _ => return None,
        };
        Some((0, info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::pylon_ascii::Info;

    #[test]
    fn answers_reads_and_refuses_switch_control() {
        let spec = SimSpec {
            addresses: vec![0, 1],
            cells: 16,
            faults: vec![(Some(0), "battery_ot".into())],
            tag: "7".into(),
            ..SimSpec::default()
        };
        let mut s = simulator(&spec).unwrap();
        let now = Instant::now();
        let q = ascii::request(Vendor::Pace, 1, Command::Analog, Info::Byte(1)).unwrap();
        let r = s.feed(&q, now);
        let info = ascii::reply_info(&r[0], Vendor::Pace, 1, Command::Analog).unwrap();
        assert_eq!(pace::parse_analog(&info).unwrap().cells_mv.len(), 16);
        let q = ascii::request(Vendor::Pace, 0, Command::Alarms, Info::Byte(0)).unwrap();
        let r = s.feed(&q, now);
        let info = ascii::reply_info(&r[0], Vendor::Pace, 0, Command::Alarms).unwrap();
        let mut f = crate::record::Fields::new();
        pace::parse_status(&info, &mut f, &mut serde_json::Map::new()).unwrap();
        assert_eq!(
            f.get("warning_battery_ot"),
            Some(&crate::record::Value::Bool(true))
        );
        let q = ascii::request(Vendor::Pace, 0, Command::PaceSerial, Info::None).unwrap();
        let r = s.feed(&q, now);
        let info = ascii::reply_info(&r[0], Vendor::Pace, 0, Command::PaceSerial).unwrap();
        assert_eq!(
            pace::identity(None, Some(&info)).serial.as_deref(),
            Some("SIM-7-00")
        );
        // 0x47 is a read this board lacks: RTN 04.
        let q = ascii::request(Vendor::Pace, 0, Command::SystemParameters, Info::None).unwrap();
        let r = s.feed(&q, now);
        let e = ascii::reply_info(&r[0], Vendor::Pace, 0, Command::SystemParameters).unwrap_err();
        assert!(e.is_unsupported(), "{e}");
        // The threshold reads: the levels the codec decodes, pack levels × 16 cells; their
        // even neighbours (the writes) are refused without an answer.
        let mut f = crate::record::Fields::new();
        for g in PaceSettings::ALL {
            let q = ascii::request(Vendor::Pace, 0, Command::PaceSettings(g), Info::None).unwrap();
            let r = s.feed(&q, now);
            let info = ascii::reply_info(&r[0], Vendor::Pace, 0, Command::PaceSettings(g)).unwrap();
            pace::threshold_fields(g, &pace::parse_thresholds(g, &info).unwrap(), &mut f);
            // (`reply` frames any code in the CID2 position.)
            let write = ascii::reply(0x25, 0, g.cid2() - 1, &info);
            assert!(s.feed(&write, now).is_empty());
            assert_eq!(s.refused(), vec![write]);
        }
        assert_eq!(
            f.get("setting_pack_voltage_high"),
            Some(&crate::record::Value::Float(57.6))
        );
        assert_eq!(f.iter().count(), 20);
        // 0x99 (buzzer on) from pbmstools-communication.md: refused, no answer.
        let buzzer = b"~25004699E0020DFD12\r".to_vec();
        assert!(s.feed(&buzzer, now).is_empty());
        assert_eq!(s.refused(), vec![buzzer]);
    }

    #[test]
    fn a_fault_refuses_the_threshold_reads() {
        let spec = SimSpec {
            addresses: vec![0, 1],
            faults: vec![(Some(1), NO_THRESHOLDS.into())],
            ..SimSpec::default()
        };
        let mut s = simulator(&spec).unwrap();
        let now = Instant::now();
        let cmd = Command::PaceSettings(PaceSettings::CellOverVoltage);
        let q = ascii::request(Vendor::Pace, 1, cmd, Info::None).unwrap();
        let e = ascii::reply_info(&s.feed(&q, now)[0], Vendor::Pace, 1, cmd).unwrap_err();
        assert!(e.is_unsupported(), "{e}");
        let q = ascii::request(Vendor::Pace, 0, cmd, Info::None).unwrap();
        assert!(ascii::reply_info(&s.feed(&q, now)[0], Vendor::Pace, 0, cmd).is_ok());
        // An unknown fault's error names this one too.
        let spec = SimSpec {
            faults: vec![(None, "nonsense".into())],
            ..SimSpec::default()
        };
        let e = simulator(&spec).err().unwrap();
        assert!(
            e.ends_with("warning_pack_uv, unsupported_thresholds"),
            "{e}"
        );
    }
}
