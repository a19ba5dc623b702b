//! Simulated PACE v25 boards (protocols.md §14.4) on the shared Pylon-ASCII simulator core:
//! packs at their addresses (default 0, the RS-485 port) answering 0x4F, 0x42, 0x44, 0xC1 and
//! 0xC2 from the drifting pack model, probe temperatures in K × 10 (− 2730); 0x47 gets RTN 04
//! as on boards without it; 0x99 switch control, the MOSFET and reboot codes and every
//! set-configuration code are refused without an answer.

use super::pylon_ascii::{alarm_states, kelvin, Bus, Dialect, Pack, Packs};
use super::Responder;
use crate::family::SimSpec;
use crate::proto::pace::{self, Analog};
use crate::proto::pylon_ascii::{self as ascii, Command, Rtn, Vendor};
use std::time::Instant;

/// Hardware version answered to 0xC1.
pub const HARDWARE: &str = "P16S100A-SIM-1.00";

struct Pace(Packs);

/// `bms-sim pace`: packs at the spec's addresses (default 0).
pub fn simulator(spec: &SimSpec) -> Result<Box<dyn Responder>, String> {
    Ok(Box::new(Bus::new(
        Pace(Packs::new(spec, pace::DEFAULT_ADDRESS, "pace")?),
        spec.bad_every,
    )))
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
        let cells = self.0.cells;
        let p = self.0.live(req.adr)?;
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
        // 0x99 (buzzer on) from pbmstools-communication.md: refused, no answer.
        let buzzer = b"~25004699E0020DFD12\r".to_vec();
        assert!(s.feed(&buzzer, now).is_empty());
        assert_eq!(s.refused(), vec![buzzer]);
    }
}
