//! The simulator core shared by the Pylon-ASCII families (Pylontech, Seplos v2 and PACE;
//! protocols.md §14): it gathers `~…\r` frames from the bytes received, refuses (and reports) every frame
//! that is not a read on the vendor's allow-list, asks the vendor's [`Dialect`] for the answer
//! to the rest, frames it, and damages every Nth reply's checksum when asked.

use super::lp4::PackModel;
use super::Responder;
use crate::family::SimSpec;
use crate::proto::pylon_ascii::{self as ascii, Command, Scan, Vendor};
use std::time::{Duration, Instant};

/// A vendor's simulated packs: what they answer to an allowed read.
pub trait Dialect: Send {
    fn vendor(&self) -> Vendor;

    /// The answer to `cmd` (on the vendor's allow-list) sent to `req.adr` with `req.info`:
    /// `Some((rtn, info))` (rtn 0 for success), or None for silence (no pack there, a silent
    /// pack).
    fn answer(&mut self, req: &ascii::Frame, cmd: Command, now: Instant) -> Option<(u8, Vec<u8>)>;
}

/// A simulated bus of one vendor's packs.
pub struct Bus<D: Dialect> {
    pub dialect: D,
    bad_every: Option<u64>,
    replies: u64,
    buf: Vec<u8>,
    last: Option<Instant>,
    refused: Vec<Vec<u8>>,
}

impl<D: Dialect> Bus<D> {
    pub fn new(dialect: D, bad_every: Option<u64>) -> Bus<D> {
        Bus {
            dialect,
            bad_every,
            replies: 0,
            buf: Vec::new(),
            last: None,
            refused: Vec::new(),
        }
    }

    fn reply(&mut self, req: &ascii::Frame, now: Instant) -> Option<Vec<u8>> {
        let cmd = Command::from_cid2(req.cid2)?;
        let (rtn, info) = self.dialect.answer(req, cmd, now)?;
        let mut reply = ascii::reply(self.dialect.vendor().ver(), req.adr, rtn, &info);
        self.replies += 1;
        if self
            .bad_every
            .is_some_and(|n| n > 0 && self.replies.is_multiple_of(n))
        {
            let k = reply.len() - 2;
            reply[k] = if reply[k] == b'0' { b'1' } else { b'0' };
        }
        Some(reply)
    }
}

impl<D: Dialect> Responder for Bus<D> {
    fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Vec<u8>> {
        // A pause longer than a frame takes ends whatever was half received.
        if self
            .last
            .is_some_and(|t| now.duration_since(t) > Duration::from_millis(200))
        {
            self.buf.clear();
        }
        self.last = Some(now);
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > 4 * ascii::MAX_FRAME {
            self.buf.clear();
        }
        let vendor = self.dialect.vendor();
        let mut out = Vec::new();
        loop {
            match ascii::scan(&self.buf) {
                Scan::NeedMore => break,
                Scan::Garbage { skip, .. } => {
                    self.buf.drain(..skip.min(self.buf.len()));
                }
                Scan::Frame { len } => {
                    let frame: Vec<u8> = self.buf.drain(..len).collect();
                    let Ok(req) = ascii::parse(&frame) else {
                        continue;
                    };
                    let allowed = Command::from_cid2(req.cid2).is_some_and(|c| vendor.allows(c))
                        && req.ver == vendor.ver()
                        && req.cid1 == ascii::CID1_BATTERY;
                    if allowed {
                        out.extend(self.reply(&req, now));
                    } else {
                        self.refused.push(frame);
                    }
                }
            }
        }
        out
    }

    fn foreign(&self, reply: &[u8]) -> Option<Vec<u8>> {
        let f = ascii::parse(reply).ok()?;
        Some(ascii::reply(
            f.ver,
            super::next_address(f.adr),
            f.cid2,
            &f.info,
        ))
    }

    fn refused(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.refused)
    }
}

/// `--fault` names a Pylon-ASCII simulator raises through the 0x44 item states: the field
/// each sets (with or without its `warning_` prefix).
pub const ITEM_FAULTS: [&str; 6] = [
    "warning_cell_ov",
    "warning_cell_uv",
    "warning_battery_ot",
    "warning_battery_ut",
    "warning_pack_ov",
    "warning_pack_uv",
];

/// The item-state faults of one pack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemFaults {
    pub cell: u8,
    pub temp: u8,
    pub voltage: u8,
}

impl ItemFaults {
    /// Raises the fault `name` ([`ITEM_FAULTS`], prefix optional).
    pub fn raise(&mut self, name: &str, family: &str) -> Result<(), String> {
        let full = if name.starts_with("warning_") {
            name.to_string()
        } else {
            format!("warning_{name}")
        };
        match full.as_str() {
            "warning_cell_ov" => self.cell = 2,
            "warning_cell_uv" => self.cell = 1,
            "warning_battery_ot" => self.temp = 2,
            "warning_battery_ut" => self.temp = 1,
            "warning_pack_ov" => self.voltage = 2,
            "warning_pack_uv" => self.voltage = 1,
            _ => {
                return Err(format!(
                    "unknown fault '{name}' for {family}: use one of {}",
                    ITEM_FAULTS.join(", ")
                ))
            }
        }
        Ok(())
    }

    pub fn any(&self) -> bool {
        *self != ItemFaults::default()
    }
}

/// The packs a spec asks for: `(address, model, silent)` at its addresses, or at `default`
/// alone; a pack asleep is silent too.
pub fn pack_models(spec: &SimSpec, default: u8) -> Vec<(u8, PackModel, bool)> {
    let addresses = if spec.addresses.is_empty() {
        vec![default]
    } else {
        spec.addresses.clone()
    };
    let start = Instant::now();
    addresses
        .iter()
        .map(|&a| {
            let model = PackModel::new(a, format!("SIM-{}-{a:02}", spec.tag), start);
            let silent = spec.silent.contains(&a) || spec.asleep.contains(&a);
            (a, model, silent)
        })
        .collect()
}

/// A simulated pack whose faults are item states (Seplos v2, PACE).
pub struct Pack {
    pub address: u8,
    pub model: PackModel,
    pub silent: bool,
    pub faults: ItemFaults,
}

/// The spec's packs ([`pack_models`]) with the spec's item-state faults raised (`family` names
/// the simulator in the error for an unknown fault).
pub fn packs(spec: &SimSpec, default: u8, family: &str) -> Result<Vec<Pack>, String> {
    let mut packs: Vec<Pack> = pack_models(spec, default)
        .into_iter()
        .map(|(address, model, silent)| Pack {
            address,
            model,
            silent,
            faults: ItemFaults::default(),
        })
        .collect();
    for (addr, name) in &spec.faults {
        for p in packs
            .iter_mut()
            .filter(|p| addr.is_none_or(|a| a == p.address))
        {
            p.faults.raise(name, family)?;
        }
    }
    Ok(packs)
}

/// The packs of a Seplos v2 or PACE simulator and their cell count (8 to 16).
pub struct Packs {
    pub packs: Vec<Pack>,
    pub cells: usize,
}

impl Packs {
    /// The spec's packs ([`packs`]), at `default` when it names no address.
    pub fn new(spec: &SimSpec, default: u8, family: &str) -> Result<Packs, String> {
        Ok(Packs {
            packs: packs(spec, default, family)?,
            cells: spec.cells.clamp(8, 16),
        })
    }

    /// The pack that answers at `address`: None where there is none or it is silent.
    pub fn live(&mut self, address: u8) -> Option<&mut Pack> {
        self.packs
            .iter_mut()
            .find(|p| p.address == address && !p.silent)
    }
}

/// A temperature in °C as u16 K × 10, with 0 °C at `zero` (2731 for Pylontech and Seplos,
/// 2730 for PACE).
pub fn kelvin(c: i8, zero: f64) -> u16 {
    (f64::from(c) * 10.0 + zero).round() as u16
}

/// The start of a 0x44 answer of `cells` cells and 6 probes (Seplos v2, PACE): DATAFLAG, the
/// address, the cell states (the first carrying `f.cell`), the probe states (the first
/// carrying `f.temp`), a current state 0 and the voltage state `f.voltage`.
pub fn alarm_states(address: u8, cells: usize, f: ItemFaults) -> Vec<u8> {
    let mut d = vec![0x00, address, cells as u8];
    d.extend(std::iter::repeat_n(0, cells));
    if let Some(c) = d.get_mut(3) {
        *c = f.cell;
    }
    d.extend([6, f.temp, 0, 0, 0, 0, 0]);
    d.extend([0, f.voltage]);
    d
}
