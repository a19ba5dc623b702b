//! Simulated Seplos v2 boards (protocols.md §14.3) on the shared Pylon-ASCII simulator core:
//! packs at their DIP addresses (default 0) answering 0x4F, 0x42, 0x44 and 0x51 from the
//! drifting pack model (and 0x47 with placeholder words); 0x92 and 0x93, which real boards
//! answer with RTN 04, and every write are refused without an answer.

use super::pylon_ascii::{alarm_states, Bus, Dialect, Pack, Packs};
use super::Responder;
use crate::family::SimSpec;
use crate::proto::pylon_ascii::{self as ascii, Command, Vendor};
use crate::proto::seplos::{self, Analog};
use std::time::Instant;

/// Device name answered to 0x51.
pub const MODEL: &str = "SP16-SIM";

struct Seplos(Packs);

/// `bms-sim seplos`: packs at the spec's addresses (default 0).
pub fn simulator(spec: &SimSpec) -> Result<Box<dyn Responder>, String> {
    Ok(Box::new(Bus::new(
        Seplos(Packs::new(spec, seplos::DEFAULT_ADDRESS, "seplos")?),
        spec.bad_every,
    )))
}

fn kelvin(c: i8) -> u16 {
    super::pylon_ascii::kelvin(c, 2731.0)
}

fn analog(p: &mut Pack, cells: usize, now: Instant) -> Analog {
    let img = p.model.image(now);
    let cells_mv: Vec<u16> = img.cells_mv[..cells.min(img.cells_mv.len())].to_vec();
    let total_mv: u32 = cells_mv.iter().map(|&c| u32::from(c)).sum();
    let mut temps: Vec<u16> = img.sensors[..4].iter().map(|&t| kelvin(t)).collect();
    temps.push(kelvin(img.sensors[0].saturating_sub(1)));
    temps.push(kelvin(img.sensors[0].saturating_add(3)));
    let centi_v = (total_mv / 10).min(0xFFFF) as u16;
    let remaining = img.remaining_ah.saturating_mul(100);
    Analog {
        group: p.address,
        cells_mv,
        temps,
        current: img.current_centi,
        voltage: centi_v,
        remaining,
        custom: seplos::CUSTOM_COUNT,
        words: vec![
            10_000,
            (u32::from(remaining) * 1000 / 10_000).min(1000) as u16,
            10_000,
            img.cycles.min(0xFFFF) as u16,
            1000,
            centi_v.saturating_sub(2),
            0,
            0,
            0,
            0,
        ],
    }
}

impl Dialect for Seplos {
    fn vendor(&self) -> Vendor {
        Vendor::SeplosV2
    }

    fn answer(&mut self, req: &ascii::Frame, cmd: Command, now: Instant) -> Option<(u8, Vec<u8>)> {
        let cells = self.0.cells;
        let p = self.0.live(req.adr)?;
        let info = match cmd {
            Command::ProtocolVersion => Vec::new(),
            Command::Analog => seplos::encode_analog(&analog(p, cells, now)),
            Command::Alarms => {
                let f = p.faults;
                let mut d = alarm_states(p.address, cells, f);
                d.push(seplos::ALARM_COUNT);
                let current = p.model.image(now).current_centi;
                let on_off = if f.any() { 0x00 } else { 0x03 };
                let state: u8 = if current > 50 {
                    0x02
                } else if current < -50 {
                    0x01
                } else {
                    0x10
                };
                d.extend([0, 0, 0, 0, 0, 0, on_off, 0, 0, state]);
                d.extend([0; 10]);
                d
            }
            Command::SystemParameters => {
                // A plausible answer so a tool that asks gets one; bms-poll does not read
                // 0x47 from Seplos (its V2.0 document lists 47H without a layout, and no
                // other source gives one).
                let mut d = vec![0x00];
                for w in [
                    3600u16, 2900, 2700, 3281, 2731, 15000, 5760, 4640, 4320, 3331, 2531, 15000,
                ] {
                    d.extend(w.to_be_bytes());
                }
                d
            }
            Command::Manufacturer => {
                let mut d = format!("{MODEL:<10}").into_bytes();
                d.extend([2, 8]);
                d.extend(format!("{:<20}", "CANProtocol:Pylon").into_bytes());
                d
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
    fn answers_reads_raises_faults_and_refuses_the_rest() {
        let spec = SimSpec {
            addresses: vec![0, 1],
            cells: 15,
            faults: vec![(Some(1), "cell_ov".into())],
            ..SimSpec::default()
        };
        let mut s = simulator(&spec).unwrap();
        let now = Instant::now();
        for a in [0u8, 1] {
            let q = ascii::request(Vendor::SeplosV2, a, Command::Analog, Info::Byte(a)).unwrap();
            let r = s.feed(&q, now);
            let info = ascii::reply_info(&r[0], Vendor::SeplosV2, a, Command::Analog).unwrap();
            let an = seplos::parse_analog(&info).unwrap();
            assert_eq!(an.cells_mv.len(), 15);
            assert_eq!(info.len(), seplos::analog_len(&an));
            let q = ascii::request(Vendor::SeplosV2, a, Command::Alarms, Info::Byte(a)).unwrap();
            let r = s.feed(&q, now);
            let info = ascii::reply_info(&r[0], Vendor::SeplosV2, a, Command::Alarms).unwrap();
            let mut f = crate::record::Fields::new();
            seplos::parse_alarms(&info, &mut f, &mut serde_json::Map::new()).unwrap();
            assert_eq!(
                f.get("warning_cell_ov"),
                Some(&crate::record::Value::Bool(a == 1))
            );
        }
        // 0x92 (a Pylontech read Seplos does not have) and 0x95, built by hand: refused.
        let m = ascii::reply(0x20, 0, 0x92, &[0]);
        let off = ascii::reply(0x20, 0, 0x95, &[0]);
        let mut both = m.clone();
        both.extend_from_slice(&off);
        assert!(s.feed(&both, now).is_empty());
        assert_eq!(s.refused(), vec![m, off]);
        assert!(simulator(&SimSpec {
            faults: vec![(None, "nonsense".into())],
            ..SimSpec::default()
        })
        .is_err());
    }
}
