//! A simulated Pylontech bank on the console port (protocols.md §14.2): one or more packs at
//! addresses 2, 3, ... answering 0x4F, 0x42 (the pack's own or, at the master, `INFO FF` for
//! every module up to the first silent one in one reply), 0x44, 0x92, 0x51, 0x93 and 0x96 from the drifting pack model.
//! Anything else (0x94 set-management, 0x95 turn-off above all) gets no answer and is reported
//! as refused, so tests can assert that no tool ever sends one. 0x47 (system parameters) is
//! answered with LFP thresholds, or RTN 04 under `--fault unsupported_0x47`.

use super::lp4::PackModel;
use super::pylon_ascii::{kelvin, pack_models, Bus, Dialect};
use super::Responder;
use crate::family::SimSpec;
use crate::proto::pylon_ascii::{self as ascii, Command, Rtn, Vendor, ALL_MODULES};
use crate::proto::pylontech::{self, Analog};
use std::time::Instant;

/// Device name answered to 0x51.
pub const MODEL: &str = "US3000C";

struct Pack {
    address: u8,
    model: PackModel,
    silent: bool,
    /// Status 1 protection bits raised by --fault.
    status1: u8,
    /// --fault unsupported_0x92: 0x92 is answered with RTN 04 (firmware without it).
    no_management: bool,
    /// --fault unsupported_0x47: 0x47 is answered with RTN 04.
    no_parameters: bool,
}

/// The --fault that makes a pack answer 0x92 with RTN 04.
pub const NO_MANAGEMENT: &str = "unsupported_0x92";
/// The --fault that makes a pack answer 0x47 with RTN 04.
pub const NO_PARAMETERS: &str = "unsupported_0x47";

pub struct Bank {
    packs: Vec<Pack>,
    cells: usize,
}

/// The protection bits of 0x44 status 1 a --fault may raise.
const FAULTS: [(&str, u8); 7] = [
    ("protection_pack_ov", 0),
    ("protection_cell_uv", 1),
    ("protection_charge_oc", 2),
    ("protection_discharge_oc", 4),
    ("protection_discharge_ot", 5),
    ("protection_charge_ot", 6),
    ("protection_pack_uv", 7),
];

/// `bms-sim pylontech`: packs at the spec's addresses (default 2, the master).
pub fn simulator(spec: &SimSpec) -> Result<Box<dyn Responder>, String> {
    let mut packs: Vec<Pack> = pack_models(spec, pylontech::MASTER)
        .into_iter()
        .map(|(address, model, silent)| Pack {
            address,
            model,
            silent,
            status1: 0,
            no_management: false,
            no_parameters: false,
        })
        .collect();
    for (addr, name) in &spec.faults {
        if name == NO_MANAGEMENT || name == NO_PARAMETERS {
            for p in packs
                .iter_mut()
                .filter(|p| addr.is_none_or(|a| a == p.address))
            {
                if name == NO_MANAGEMENT {
                    p.no_management = true;
                } else {
                    p.no_parameters = true;
                }
            }
            continue;
        }
        let full = if name.starts_with("protection_") {
            name.clone()
        } else {
            format!("protection_{name}")
        };
        let (_, bit) = FAULTS.iter().find(|(n, _)| *n == full).ok_or_else(|| {
            let names: Vec<&str> = FAULTS.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown fault '{name}' for pylontech: use one of {}, {NO_MANAGEMENT}, \
                 {NO_PARAMETERS}",
                names.join(", ")
            )
        })?;
        for p in packs
            .iter_mut()
            .filter(|p| addr.is_none_or(|a| a == p.address))
        {
            p.status1 |= 1 << bit;
        }
    }
    Ok(Box::new(Bus::new(
        Bank {
            packs,
            cells: spec.cells.clamp(8, 16),
        },
        spec.bad_every,
    )))
}

fn analog(p: &mut Pack, cells: usize, now: Instant) -> Analog {
    let img = p.model.image(now);
    let cells_mv: Vec<u16> = img.cells_mv[..cells.min(img.cells_mv.len())].to_vec();
    let total_mv: u32 = cells_mv.iter().map(|&c| u32::from(c)).sum();
    let kelvin = |c: i8| kelvin(c, 2731.0);
    let mut temps = vec![kelvin(img.sensors[0])];
    temps.extend(img.sensors[1..5].iter().map(|&t| kelvin(t)));
    Analog {
        cells_mv,
        temps,
        current: img.current_centi / 10,
        voltage_mv: total_mv.min(0xFFFF) as u16,
        remaining_mah: u32::from(img.remaining_ah) * 1000,
        total_mah: 100_000,
        cycles: img.cycles.min(0xFFFF) as u16,
        user_count: 4,
    }
}

/// The 0x47 answer of a pack of `cells` LFP cells: 3.6 / 2.9 / 2.7 V a cell, charging
/// between 0 and 55 °C, discharging between −10 and 60 °C, 37 A either way.
fn system_parameters(cells: usize) -> pylontech::SystemParameters {
    let pack = |mv: u32| (mv * cells as u32).min(0xFFFF) as u16;
    pylontech::SystemParameters {
        cell_high_mv: 3600,
        cell_low_mv: 2900,
        cell_under_mv: 2700,
        charge_high_temp: kelvin(55, 2731.0),
        charge_low_temp: kelvin(0, 2731.0),
        charge_current: 370,
        pack_high_mv: pack(3600),
        pack_low_mv: pack(2900),
        pack_under_mv: pack(2700),
        discharge_high_temp: kelvin(60, 2731.0),
        discharge_low_temp: kelvin(-10, 2731.0),
        discharge_current: -370,
    }
}

impl Dialect for Bank {
    fn vendor(&self) -> Vendor {
        Vendor::Pylontech
    }

    fn answer(&mut self, req: &ascii::Frame, cmd: Command, now: Instant) -> Option<(u8, Vec<u8>)> {
        let cells = self.cells;
        let byte = req.info.first().copied();
        let master = self.packs.first().map(|p| p.address);
        let info: Vec<u8> = match cmd {
            Command::Analog if byte == Some(ALL_MODULES) && Some(req.adr) == master => {
                // Module i of the reply is the pack at master + i: the reply ends at the
                // first silent pack (the master cannot place the modules after it).
                let live: Vec<usize> = (0..self.packs.len())
                    .take_while(|&i| !self.packs[i].silent)
                    .collect();
                if self.packs.first().is_none_or(|p| p.silent) {
                    return None;
                }
                let mut d = vec![0x11, live.len() as u8];
                for i in live {
                    let a = analog(&mut self.packs[i], cells, now);
                    pylontech::encode_module(&a, &mut d);
                }
                d
            }
            _ => {
                let p = self
                    .packs
                    .iter_mut()
                    .find(|p| p.address == req.adr && !p.silent)?;
                let adr = p.address;
                match cmd {
                    Command::ProtocolVersion => Vec::new(),
                    Command::Analog => {
                        let mut d = vec![0x10, adr];
                        pylontech::encode_module(&analog(p, cells, now), &mut d);
                        d
                    }
                    Command::Alarms => {
                        let mut d = vec![0x00, adr, cells as u8];
                        d.extend(std::iter::repeat_n(0, cells));
                        d.extend([5, 0, 0, 0, 0, 0]);
                        d.extend([0, 0, 0]);
                        let fets = if p.status1 != 0 { 0 } else { 0x06 };
                        d.extend([p.status1, fets, 0, 0, 0]);
                        d
                    }
                    Command::Management if p.no_management => {
                        return Some((Rtn::Cid2Invalid.code(), Vec::new()));
                    }
                    Command::Management => {
                        let mut d = vec![adr];
                        d.extend(53_200u16.to_be_bytes());
                        d.extend(45_000u16.to_be_bytes());
                        d.extend(370i16.to_be_bytes());
                        d.extend((-370i16).to_be_bytes());
                        d.push(if p.status1 != 0 { 0 } else { 0xC0 });
                        d
                    }
                    Command::Manufacturer => {
                        let mut d = format!("{MODEL:<10}").into_bytes();
                        d.extend([1, 2]);
                        d.extend(format!("{:<20}", "PYLON").into_bytes());
                        d
                    }
                    Command::Serial => {
                        let serial = p.model.image(now).serial;
                        let mut d = vec![adr];
                        d.extend(format!("{serial:<16.16}").into_bytes());
                        d
                    }
                    Command::Firmware => vec![adr, 1, 0, 2, 4, 1],
                    Command::SystemParameters if p.no_parameters => {
                        return Some((Rtn::Cid2Invalid.code(), Vec::new()));
                    }
                    Command::SystemParameters => {
                        pylontech::encode_system_parameters(&system_parameters(cells))
                    }
                    _ => return None,
                }
            }
        };
        Some((0, info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::pylon_ascii::Info;

    #[test]
    fn answers_reads_group_and_refuses_writes() {
        let spec = SimSpec {
            addresses: vec![2, 3, 4],
            cells: 15,
            ..SimSpec::default()
        };
        let mut s = simulator(&spec).unwrap();
        let now = Instant::now();
        let q = ascii::request(Vendor::Pylontech, 3, Command::Analog, Info::Byte(3)).unwrap();
        let r = s.feed(&q, now);
        assert_eq!(r.len(), 1);
        let info = ascii::reply_info(&r[0], Vendor::Pylontech, 3, Command::Analog).unwrap();
        let a = pylontech::parse_analog(&info).unwrap();
        assert_eq!(a.cells_mv.len(), 15);
        // The whole group at the master, split across reads.
        let q = ascii::request(Vendor::Pylontech, 2, Command::Analog, Info::Byte(0xFF)).unwrap();
        let mut r = s.feed(&q[..7], now);
        r.extend(s.feed(&q[7..], now));
        let info = ascii::reply_info(&r[0], Vendor::Pylontech, 2, Command::Analog).unwrap();
        assert_eq!(pylontech::parse_analog_group(&info).unwrap().len(), 3);
        // 0x95 (turn off), built by hand: no answer, refused.
        let off = ascii::reply(0x20, 2, 0x95, &[2]);
        assert!(s.feed(&off, now).is_empty());
        assert_eq!(s.refused(), vec![off]);
        assert!(s.refused().is_empty());
    }

    #[test]
    fn answers_system_parameters_or_rtn_04() {
        let spec = SimSpec {
            addresses: vec![2, 3],
            cells: 16,
            faults: vec![(Some(3), NO_PARAMETERS.into())],
            ..SimSpec::default()
        };
        let mut s = simulator(&spec).unwrap();
        let now = Instant::now();
        let mut ask = |a: u8| {
            let q = ascii::request(
                Vendor::Pylontech,
                a,
                Command::SystemParameters,
                Info::Byte(a),
            );
            let r = s.feed(&q.unwrap(), now);
            ascii::reply_info(&r[0], Vendor::Pylontech, a, Command::SystemParameters)
        };
        let p = pylontech::parse_system_parameters(&ask(2).unwrap()).unwrap();
        assert_eq!((p.cell_high_mv, p.pack_high_mv), (3600, 57600));
        assert_eq!(p.discharge_low_temp, 2631);
        let e = ask(3).unwrap_err();
        assert!(e.is_unsupported(), "{e}");
        assert!(s.refused().is_empty());
    }
}
