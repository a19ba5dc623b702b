//! A simulated JBD BMS (protocols.md §12): one pack per line, answering 0x03, 0x04 and 0x05
//! with values from the drifting pack model. Anything else (a `DD 5A` write above all) gets no
//! answer and is reported as refused, so tests can assert that no tool ever sends one.

use super::lp4::PackModel;
use super::Responder;
use crate::family::SimSpec;
use crate::proto::jbd::{self, Basic, Register, END, START};
use std::time::Instant;

/// The model string answered to 0x05.
pub const MODEL: &str = "JBD-SP16S020-L16S-100A-B-U";

pub struct Slave {
    pack: PackModel,
    cells: usize,
    protection: u16,
    silent: bool,
    bad_every: Option<u64>,
    replies: u64,
    buf: Vec<u8>,
    /// When the last bytes came: a partial frame older than 50 ms is dropped.
    last: Option<Instant>,
    refused: Vec<Vec<u8>>,
}

/// `bms-sim jbd`: the first address of the spec names the pack (JBD has none on the wire).
pub fn simulator(spec: &SimSpec) -> Result<Box<dyn Responder>, String> {
    let address = spec.addresses.first().copied().unwrap_or(0);
    let mut protection = 0u16;
    for (_, name) in &spec.faults {
        let full = if name.starts_with("protection_") {
            name.clone()
        } else {
            format!("protection_{name}")
        };
        let bit = jbd::PROTECTION_BITS
            .iter()
            .position(|n| *n == full)
            .ok_or_else(|| {
                format!(
                    "unknown fault '{name}' for jbd: use one of {}",
                    jbd::PROTECTION_BITS.join(", ")
                )
            })?;
        protection |= 1 << bit;
    }
    Ok(Box::new(Slave {
        pack: PackModel::new(
            address,
            format!("SIM-{}-{address:02}", spec.tag),
            Instant::now(),
        ),
        cells: spec.cells.clamp(1, 16),
        protection,
        // One pack per line: any --silent or --asleep silences it.
        silent: !spec.silent.is_empty() || !spec.asleep.is_empty(),
        bad_every: spec.bad_every,
        replies: 0,
        buf: Vec::new(),
        last: None,
        refused: Vec::new(),
    }))
}

impl Slave {
    fn basic(&mut self, now: Instant) -> Basic {
        let img = self.pack.image(now);
        let cells = &img.cells_mv[..self.cells.min(img.cells_mv.len())];
        let total_mv: u32 = cells.iter().map(|&c| u32::from(c)).sum();
        let kelvin = |c: i8| (f64::from(c) * 10.0 + 2731.0).round() as u16;
        let fets = if self.protection != 0 { 0 } else { 3 };
        Basic {
            voltage_10mv: (total_mv / 10) as u16,
            current: img.current_centi,
            remaining: img.remaining_ah.saturating_mul(100),
            nominal: 10_000,
            cycles: img.cycles as u16,
            date: (24 << 9) | (5 << 5) | 17,
            balance: [img.balancing, 0],
            protection: self.protection,
            version: 0x23,
            soc: img.soc.min(100) as u8,
            fets,
            cell_count: cells.len() as u8,
            ntc: vec![
                kelvin(img.sensors[0]),
                kelvin(img.sensors[1]),
                kelvin(img.sensors[2]),
            ],
            extra: Vec::new(),
        }
    }

    fn answer(&mut self, reg: Register, now: Instant) -> Option<Vec<u8>> {
        let data = match reg {
            Register::Basic => jbd::encode_basic(&self.basic(now)),
            Register::Cells => {
                let img = self.pack.image(now);
                img.cells_mv[..self.cells.min(img.cells_mv.len())]
                    .iter()
                    .flat_map(|c| c.to_be_bytes())
                    .collect()
            }
            Register::Model => MODEL.as_bytes().to_vec(),
        };
        let mut reply = jbd::encode_reply(reg.code(), 0, &data)?;
        self.replies += 1;
        if self
            .bad_every
            .is_some_and(|n| n > 0 && self.replies.is_multiple_of(n))
        {
            let k = reply.len() - 2;
            reply[k] ^= 0x5A;
        }
        Some(reply)
    }
}

impl Responder for Slave {
    fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Vec<u8>> {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) > std::time::Duration::from_millis(50))
        {
            self.buf.clear();
        }
        self.last = Some(now);
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let Some(start) = self.buf.iter().position(|&b| b == START) else {
                self.buf.clear();
                break;
            };
            self.buf.drain(..start);
            if self.buf.len() < 4 {
                break;
            }
            let len = jbd::OVERHEAD + usize::from(self.buf[3]);
            if self.buf.len() < len {
                break;
            }
            if self.buf[len - 1] != END {
                self.buf.drain(..1); // not a frame here: look for the next start byte
                continue;
            }
            let frame: Vec<u8> = self.buf.drain(..len).collect();
            match jbd::parse_request(&frame).and_then(Register::from_code) {
                Some(reg) if !self.silent => out.extend(self.answer(reg, now)),
                Some(_) => {}
                None => self.refused.push(frame),
            }
        }
        out
    }

    fn foreign(&self, _reply: &[u8]) -> Option<Vec<u8>> {
        None // no addresses on a JBD line
    }

    fn refused(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_reads_and_refuses_writes() {
        let spec = SimSpec {
            addresses: vec![0],
            cells: 8,
            ..SimSpec::default()
        };
        let mut s = simulator(&spec).unwrap();
        let now = Instant::now();
        let r = s.feed(&jbd::request(Register::Basic), now);
        assert_eq!(r.len(), 1);
        let b = jbd::parse_basic(jbd::reply_data(&r[0], Register::Basic).unwrap()).unwrap();
        assert_eq!(b.cell_count, 8);
        jbd::plausible(&b).unwrap();
        // Split across reads, with noise ahead.
        let q = jbd::request(Register::Cells);
        let mut r = s.feed(&[0x00, q[0], q[1], q[2]], now);
        r.extend(s.feed(&q[3..], now));
        assert_eq!(
            jbd::parse_cells(jbd::reply_data(&r[0], Register::Cells).unwrap())
                .unwrap()
                .len(),
            8
        );
        // A FET-off write: no answer, refused.
        let write = hex::decode("dd5ae1020002ff1b77").unwrap();
        assert!(s.feed(&write, now).is_empty());
        assert_eq!(s.refused(), vec![write]);
        assert!(s.refused().is_empty());
    }
}
