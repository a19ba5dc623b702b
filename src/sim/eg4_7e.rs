//! Simulated first-generation EG4 LifePower packs answering the 7E/0D protocol (§2).
//! Values come from the same drifting pack model as the LP4 simulator.

use super::lp4::PackModel;
use super::Responder;
use crate::proto::tianpower::{self, Scan, Status, PROTECTION_BITS, SOI};
use std::time::Instant;

/// Model string answered to command 0x33 (an EG4 LifePower's, §2.5).
pub const FIRMWARE: &str = "3QT-YS00-16SV100A-V3.5";
/// Hardware version answered to command 0x42.
pub const HARDWARE: &str = "B";

/// The 7E/0D slave side of a bus of simulated packs.
pub struct Slave {
    packs: Vec<PackModel>,
    /// Per pack: protection bits (3–7 of status word 2) to set.
    faults: Vec<u8>,
    cells: usize,
    silent: Vec<u8>,
    bad_every: Option<u64>,
    buf: Vec<u8>,
    replies: u64,
}

/// The bit of a 7E protection fault name (`overcurrent` or `protection_overcurrent`).
pub fn fault_bit(name: &str) -> Option<u8> {
    let full = if name.starts_with("protection_") {
        name.to_string()
    } else {
        format!("protection_{name}")
    };
    PROTECTION_BITS
        .iter()
        .find(|(_, n)| *n == full)
        .map(|(b, _)| *b)
}

impl Slave {
    pub fn new(
        packs: Vec<PackModel>,
        cells: usize,
        silent: Vec<u8>,
        bad_every: Option<u64>,
    ) -> Slave {
        let faults = vec![0; packs.len()];
        Slave {
            packs,
            faults,
            cells,
            silent,
            bad_every,
            buf: Vec::new(),
            replies: 0,
        }
    }

    /// Sets a protection bit on the pack at `address` (all packs when None).
    pub fn set_fault(&mut self, address: Option<u8>, name: &str) -> Result<(), String> {
        let bit = fault_bit(name).ok_or_else(|| {
            let names: Vec<&str> = PROTECTION_BITS.iter().map(|(_, n)| *n).collect();
            format!(
                "unknown fault '{name}' for eg4-7e: use one of {}",
                names.join(", ")
            )
        })?;
        for (i, p) in self.packs.iter().enumerate() {
            if address.is_none_or(|a| a == p.address) {
                self.faults[i] |= 1 << bit;
            }
        }
        Ok(())
    }

    fn status(&mut self, i: usize, now: Instant) -> Status {
        let img = self.packs[i].image(now);
        let cells: Vec<u16> = img.cells_mv.iter().copied().take(self.cells).collect();
        let state: u8 = match img.status & 0x0F {
            1 => 1,
            2 => 2,
            _ => 0,
        } | self.faults[i];
        let total_mv: u32 = cells.iter().map(|&c| u32::from(c)).sum();
        let sensors = img.sensors;
        Status {
            cell_flags: vec![0; cells.len()],
            cells_mv: cells,
            current_a: Some(f64::from(img.current_centi) / 100.0),
            soc_pct: Some(f64::from(img.remaining_ah)),
            capacity_ah: Some(100.0),
            temperatures_c: vec![
                i16::from(sensors[0]),
                i16::from(sensors[1]),
                i16::from(sensors[2]),
                i16::from(sensors[3]),
                img.temp_pcb,
                i16::from(sensors[0]) - 1,
            ],
            // MOS and ambient sensors tagged as on real packs (protocols.md §2.7)
            temperature_high_bytes: vec![0, 0, 0, 0, 0x80, 0x20],
            status_words: vec![0, u16::from(state), 0, 0, 0],
            cycles: Some(img.cycles as u16),
            pack_voltage_v: Some(f64::from(total_mv / 10) / 100.0),
            soh_pct: Some(100.0),
            undecoded_groups: vec![(0x0A, vec![0])],
        }
    }

    fn answer(&mut self, address: u8, command: u8, now: Instant) -> Option<Vec<u8>> {
        if self.silent.contains(&address) {
            return None;
        }
        let i = self.packs.iter().position(|p| p.address == address)?;
        let payload = match command {
            tianpower::CMD_STATUS => tianpower::encode_status(&self.status(i, now)).ok()?,
            tianpower::CMD_FIRMWARE => FIRMWARE.as_bytes().to_vec(),
            tianpower::CMD_HARDWARE => HARDWARE.as_bytes().to_vec(),
            _ => return None, // unknown commands get no answer, as on the real bus
        };
        let mut reply = tianpower::encode_frame(SOI, address, command, &payload).ok()?;
        self.replies += 1;
        if self
            .bad_every
            .is_some_and(|n| n > 0 && self.replies.is_multiple_of(n))
        {
            let chk = reply.len() - 2;
            reply[chk] ^= 0x5A;
        }
        Some(reply)
    }
}

impl Responder for Slave {
    fn foreign(&self, reply: &[u8]) -> Option<Vec<u8>> {
        let f = tianpower::parse_frame(reply).ok()?;
        let to = super::next_address(f.address);
        tianpower::encode_frame(f.soi, to, f.command, f.payload).ok()
    }

    fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            match tianpower::scan(&self.buf) {
                Scan::NeedMore => break,
                Scan::Garbage { skip, .. } => {
                    self.buf.drain(..skip);
                }
                Scan::Frame { len } => {
                    let frame: Vec<u8> = self.buf.drain(..len).collect();
                    if let Ok(f) = tianpower::parse_frame(&frame) {
                        if let Some(reply) = self.answer(f.address, f.command, now) {
                            out.push(reply);
                        }
                    }
                }
            }
        }
        if self.buf.len() > tianpower::MAX_FRAME_LEN {
            self.buf.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tianpower::{encode_request, parse_frame, parse_status};

    fn slave(cells: usize) -> Slave {
        let t = Instant::now();
        Slave::new(
            vec![
                PackModel::new(1, "x".into(), t),
                PackModel::new(2, "y".into(), t),
            ],
            cells,
            vec![2],
            None,
        )
    }

    #[test]
    fn answers_status_with_the_cell_count_asked_for() {
        for cells in [15, 16] {
            let mut s = slave(cells);
            let r = s.feed(&encode_request(1, 1), Instant::now());
            let f = parse_frame(&r[0]).unwrap();
            assert_eq!(f.address, 1);
            let st = parse_status(f.payload).unwrap();
            assert_eq!(st.cells_mv.len(), cells);
            assert_eq!(st.temperatures_c.len(), 6);
        }
    }

    #[test]
    fn strings_silence_and_faults() {
        let mut s = slave(16);
        let now = Instant::now();
        assert!(s.feed(&encode_request(2, 1), now).is_empty());
        assert!(s.feed(&encode_request(7, 1), now).is_empty());
        let r = s.feed(&encode_request(1, 0x33), now);
        assert_eq!(
            tianpower::clean_string(parse_frame(&r[0]).unwrap().payload),
            FIRMWARE
        );
        s.set_fault(Some(1), "overvoltage").unwrap();
        assert!(s.set_fault(None, "bogus").is_err());
        let r = s.feed(&encode_request(1, 1), now);
        let st = parse_status(parse_frame(&r[0]).unwrap().payload).unwrap();
        assert_eq!(st.state().unwrap() & 1 << 4, 1 << 4);
    }
}
