//! A simulated JK-B BMS (protocols.md §15.2): one pack per line, answering the read-all
//! request with a tag-value reply from the drifting pack model. Anything else (activate,
//! write, password above all) gets no answer and is reported as refused.

use super::lp4::PackModel;
use super::Responder;
use crate::family::SimSpec;
use crate::proto::jk::{self, WARNING_BITS};
use std::time::{Duration, Instant};

/// Software version string (tag 0xB7, 15 characters).
pub const SOFTWARE: &str = "11.XW_S11.26___";

pub struct Slave {
    pack: PackModel,
    cells: usize,
    warnings: u16,
    silent: bool,
    bad_every: Option<u64>,
    replies: u64,
    buf: Vec<u8>,
    last: Option<Instant>,
    refused: Vec<Vec<u8>>,
}

/// `bms-sim jk`: the first address of the spec names the pack (JK-B has none on the wire).
pub fn simulator(spec: &SimSpec) -> Result<Box<dyn Responder>, String> {
    let address = spec.addresses.first().copied().unwrap_or(0);
    let mut warnings = 0u16;
    for (_, name) in &spec.faults {
        let bit = WARNING_BITS
            .iter()
            .position(|n| *n == name || n.strip_prefix("protection_") == Some(name.as_str()))
            .ok_or_else(|| {
                format!(
                    "unknown fault '{name}' for jk: use one of {}",
                    WARNING_BITS.join(", ")
                )
            })?;
        warnings |= 1 << bit;
    }
    Ok(Box::new(Slave {
        pack: PackModel::new(
            address,
            format!("SIM-{}-{address:02}", spec.tag),
            Instant::now(),
        ),
        cells: spec.cells.clamp(1, 16),
        warnings,
        silent: !spec.silent.is_empty() || !spec.asleep.is_empty(),
        bad_every: spec.bad_every,
        replies: 0,
        buf: Vec::new(),
        last: None,
        refused: Vec::new(),
    }))
}

impl Slave {
    fn payload(&mut self, now: Instant) -> Vec<u8> {
        let img = self.pack.image(now);
        let cells = &img.cells_mv[..self.cells.min(img.cells_mv.len())];
        let total_mv: u32 = cells.iter().map(|&c| u32::from(c)).sum();
        let mut p = vec![0x79, (3 * cells.len()) as u8];
        for (i, mv) in cells.iter().enumerate() {
            p.push(i as u8 + 1);
            p.extend_from_slice(&mv.to_be_bytes());
        }
        // Temperatures: > 100 means negative (101 = −1 °C).
        let t = |c: i8| -> [u8; 2] {
            let v = if c < 0 {
                100 + u16::from(c.unsigned_abs())
            } else {
                c as u16
            };
            v.to_be_bytes()
        };
        let push = |p: &mut Vec<u8>, tag: u8, v: &[u8]| {
            p.push(tag);
            p.extend_from_slice(v);
        };
        push(&mut p, 0x80, &t(img.sensors[0].saturating_add(3)));
        push(&mut p, 0x81, &t(img.sensors[1]));
        push(&mut p, 0x82, &t(img.sensors[2]));
        push(&mut p, 0x83, &((total_mv / 10) as u16).to_be_bytes());
        // Protocol version 1: bit 15 set = charging, 10 mA units.
        let c = img.current_centi;
        let raw = (c.unsigned_abs() & 0x7FFF) | if c > 0 { 0x8000 } else { 0 };
        push(&mut p, 0x84, &raw.to_be_bytes());
        push(&mut p, 0x85, &[img.soc.min(100) as u8]);
        push(&mut p, 0x86, &[2]);
        push(&mut p, 0x87, &(img.cycles as u16).to_be_bytes());
        push(&mut p, 0x89, &(img.cycles * 100).to_be_bytes());
        push(&mut p, 0x8A, &(cells.len() as u16).to_be_bytes());
        push(&mut p, 0x8B, &self.warnings.to_be_bytes());
        let fets: u16 = if self.warnings != 0 { 0 } else { 3 };
        let status = fets | if img.balancing != 0 { 4 } else { 0 } | 8;
        push(&mut p, 0x8C, &status.to_be_bytes());
        push(&mut p, 0xAA, &100u32.to_be_bytes());
        push(&mut p, 0xB4, b"SIMJK-B0");
        push(&mut p, 0xB5, b"2405");
        let minutes = (self.pack.serial.len() as u32) * 1000;
        push(&mut p, 0xB6, &minutes.to_be_bytes());
        push(&mut p, 0xB7, SOFTWARE.as_bytes());
        let mut serial = [b' '; 24];
        let s = self.pack.serial.as_bytes();
        let n = s.len().min(24);
        serial[..n].copy_from_slice(&s[..n]);
        push(&mut p, 0xBA, &serial);
        push(&mut p, 0xC0, &[1]);
        p
    }

    fn answer(&mut self, now: Instant) -> Option<Vec<u8>> {
        let payload = self.payload(now);
        let mut reply = jk::encode_reply(&payload)?;
        self.replies += 1;
        if self
            .bad_every
            .is_some_and(|n| n > 0 && self.replies.is_multiple_of(n))
        {
            let k = reply.len() - 1;
            reply[k] ^= 0x5A;
        }
        Some(reply)
    }
}

impl Responder for Slave {
    fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Vec<u8>> {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) > Duration::from_millis(50))
        {
            self.buf.clear();
        }
        self.last = Some(now);
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            match jk::scan(&self.buf) {
                jk::Scan::NeedMore => break,
                jk::Scan::Garbage { skip, reason } => {
                    if reason != jk::BEFORE_START {
                        self.refused.push(self.buf[..skip].to_vec());
                    }
                    self.buf.drain(..skip.min(self.buf.len()));
                }
                jk::Scan::Frame { len } => {
                    let frame: Vec<u8> = self.buf.drain(..len).collect();
                    if frame == jk::READ_ALL {
                        if !self.silent {
                            out.extend(self.answer(now));
                        }
                    } else {
                        self.refused.push(frame);
                    }
                }
            }
        }
        if self.buf.len() > jk::MAX_FRAME {
            self.buf.clear();
        }
        out
    }

    fn foreign(&self, _reply: &[u8]) -> Option<Vec<u8>> {
        None // no addresses on a JK-B line
    }

    fn refused(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_the_read_all_and_refuses_the_rest() {
        let spec = SimSpec {
            addresses: vec![0],
            cells: 8,
            faults: vec![(None, "cell_ov".into())],
            ..SimSpec::default()
        };
        let mut s = simulator(&spec).unwrap();
        let now = Instant::now();
        let mut r = s.feed(&jk::READ_ALL[..7], now);
        r.extend(s.feed(&jk::READ_ALL[7..], now));
        assert_eq!(r.len(), 1);
        let st = jk::parse_status(jk::reply_payload(&r[0]).unwrap()).unwrap();
        assert!(st.rest.is_empty());
        assert_eq!(st.cells.len(), 8);
        st.plausible().unwrap();
        let f = jk::fields(&st);
        assert_eq!(
            f.get("protection_cell_ov"),
            Some(&crate::record::Value::Bool(true))
        );
        assert!(jk::info(&st).serial.unwrap().starts_with("SIM-"));
        // A write (command 0x02) gets nothing and is refused.
        let mut w = jk::READ_ALL.to_vec();
        w[8] = 0x02;
        let n = w.len();
        let c = jk::checksum(&w[..n - 4]).to_be_bytes();
        w[n - 2..].copy_from_slice(&c);
        assert!(s.feed(&w, now).is_empty());
        assert_eq!(s.refused(), vec![w]);
    }
}
