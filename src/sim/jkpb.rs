//! Simulated JK-PB packs on one RS-485 bus (protocols.md §15.1): either a bus master (DIP
//! address 0) that polls its slaves, so every record crosses the bus unasked ([`Master`]), or
//! slaves that answer the three trigger frames (and FC03 reads of 0x1200/0x1400 while the bus
//! is warm) for a poller ([`Slaves`]). Anything else (any other FC16, FC06, a read elsewhere)
//! gets no answer and is reported as refused.

use super::lp4::PackModel;
use super::Responder;
use crate::proto::jkpb::{
    self, encode_ack, About, Kind, Live, ModbusRead, Piece, Settings, Trigger, MAX_ADDRESS,
};
use crate::proto::modbus::{crc_ok, encode_read_reply, parse_read_request};
use std::time::{Duration, Instant};

/// How long FC03 reads are answered after the last FC16 trigger (a "cold" bus after that).
pub const WARM_FOR: Duration = Duration::from_secs(3);

/// One simulated pack.
pub struct Pack {
    pub address: u8,
    model: PackModel,
    cells: usize,
    alarms: u32,
    counter: u8,
}

impl Pack {
    pub fn new(address: u8, serial: String, cells: usize, start: Instant) -> Pack {
        Pack {
            address,
            model: PackModel::new(address, serial, start),
            cells: cells.clamp(1, 32),
            alarms: 0,
            counter: 0,
        }
    }

    /// Raises an alarm bit by field name (`cell_ov` or `protection_cell_ov`, `alarm_...`).
    pub fn set_fault(&mut self, name: &str) -> Result<(), String> {
        let bit = jkpb::ALARM_BITS
            .iter()
            .position(|n| {
                *n == name
                    || n.strip_prefix("protection_") == Some(name)
                    || n.strip_prefix("alarm_") == Some(name)
            })
            .ok_or_else(|| {
                format!(
                    "unknown fault '{name}' for jk-pb: use one of {}",
                    jkpb::ALARM_BITS.join(", ")
                )
            })?;
        self.alarms |= 1 << bit;
        Ok(())
    }

    fn next(&mut self) -> u8 {
        self.counter = self.counter.wrapping_add(1);
        self.counter
    }

    pub fn live(&mut self, now: Instant) -> Live {
        let img = self.model.image(now);
        let cells: Vec<u16> = (0..self.cells)
            .map(|i| img.cells_mv[i % img.cells_mv.len()])
            .collect();
        let total: u32 = cells.iter().map(|&c| u32::from(c)).sum();
        let current_ma = i32::from(img.current_centi) * 10;
        let hi = cells.iter().copied().max().unwrap_or(0);
        let lo = cells.iter().copied().min().unwrap_or(0);
        let dc = |c: i8| i16::from(c) * 10;
        Live {
            average_mv: (total / cells.len().max(1) as u32) as u16,
            difference_mv: hi - lo,
            highest: cells.iter().position(|&c| c == hi).unwrap_or(0) as u8,
            lowest: cells.iter().position(|&c| c == lo).unwrap_or(0) as u8,
            present: 0,
            cells_mv: cells,
            mos_dc: dc(img.sensors[0]) + 30,
            voltage_mv: total,
            power_mw: (i64::from(total) * i64::from(current_ma) / 1000).unsigned_abs() as u32,
            current_ma,
            temps_dc: [
                dc(img.sensors[1]),
                dc(img.sensors[2]),
                dc(img.sensors[3]),
                -2000,
                -2000,
            ],
            sensors: 0b0000_1111,
            alarms: self.alarms,
            balance_ma: if img.balancing != 0 { 120 } else { 0 },
            balance_state: u8::from(img.balancing != 0),
            soc: img.soc.min(100) as u8,
            remaining_mah: u32::from(img.remaining_ah) * 1000,
            full_mah: 100_000,
            cycles: img.cycles,
            cycle_capacity_mah: img.cycles * 100_000,
            soh: 100,
            precharge: false,
            runtime_s: 86_400 + u32::from(self.address),
            charge_fet: self.alarms == 0,
            discharge_fet: self.alarms == 0,
            heater: false,
            frame_counter: 0,
        }
    }

    pub fn record(&mut self, kind: Kind, now: Instant) -> Vec<u8> {
        let c = self.next();
        match kind {
            Kind::Live => {
                let l = self.live(now);
                jkpb::encode_live(&l, c)
            }
            Kind::Settings => jkpb::encode_settings(
                &Settings {
                    cell_uv_mv: 2650,
                    cell_ov_mv: 3650,
                    charge_oc_ma: 100_000,
                    discharge_oc_ma: 150_000,
                    charge_ut_dc: -50,
                    cell_count: self.cells as u32,
                    capacity_mah: 100_000,
                    address: u32::from(self.address),
                },
                c,
            ),
            Kind::About => jkpb::encode_about(
                &About {
                    model: "JK_PB2A16S20P".into(),
                    hardware: "15A".into(),
                    software: "15.38".into(),
                    runtime_s: 86_400,
                    power_on_count: 3,
                    name: "SIM BMS".into(),
                    date: "240517".into(),
                    serial: self.model.serial.clone(),
                },
                c,
            ),
        }
    }
}

/// A bus master (address 0) with slaves: what one ≈ 4.4 s cycle puts on the bus.
pub struct Master {
    pub master: Pack,
    pub slaves: Vec<Pack>,
    /// Addresses that never answer.
    pub silent: Vec<u8>,
}

impl Master {
    /// The frames of one cycle, in order: the master's own live and settings records (no
    /// request, no ack), then per slave the live and settings triggers, each followed by the
    /// record and the acknowledgement.
    pub fn cycle(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut out = vec![
            self.master.record(Kind::Live, now),
            self.master.record(Kind::Settings, now),
        ];
        for s in &mut self.slaves {
            for t in [Trigger::Live, Trigger::Settings] {
                out.extend(t.frame(s.address).map(|f| f.to_vec()));
                if !self.silent.contains(&s.address) {
                    out.push(s.record(t.kind(), now));
                    out.push(encode_ack(s.address, t.register()));
                }
            }
        }
        out
    }
}

/// Slaves that answer a poller.
pub struct Slaves {
    pub packs: Vec<Pack>,
    pub silent: Vec<u8>,
    /// Echo every request before the answer, as CH341 adapters do.
    pub echo: bool,
    /// Damage every Nth record's checksum.
    pub bad_every: Option<u64>,
    replies: u64,
    /// The last FC16 trigger: FC03 reads are answered only for [`WARM_FOR`] after it.
    warm_until: Option<Instant>,
    buf: Vec<u8>,
    last: Option<Instant>,
    refused: Vec<Vec<u8>>,
}

impl Slaves {
    pub fn new(packs: Vec<Pack>, silent: Vec<u8>, echo: bool, bad_every: Option<u64>) -> Slaves {
        Slaves {
            packs,
            silent,
            echo,
            bad_every,
            replies: 0,
            warm_until: None,
            buf: Vec::new(),
            last: None,
            refused: Vec::new(),
        }
    }

    fn pack(&mut self, address: u8) -> Option<&mut Pack> {
        if self.silent.contains(&address) {
            return None;
        }
        self.packs.iter_mut().find(|p| p.address == address)
    }

    fn answer_trigger(&mut self, address: u8, t: Trigger, now: Instant) -> Vec<Vec<u8>> {
        self.warm_until = Some(now + WARM_FOR);
        let bad = {
            self.replies += 1;
            self.bad_every
                .is_some_and(|n| n > 0 && self.replies.is_multiple_of(n))
        };
        let Some(p) = self.pack(address) else {
            return Vec::new();
        };
        let mut rec = p.record(t.kind(), now);
        if bad {
            rec[jkpb::RECORD_LEN - 1] ^= 0x5A;
        }
        // One zero byte between the record and the ack, and one after it (JKBMS-PB.md).
        rec.push(0);
        let mut ack = encode_ack(address, t.register());
        ack.push(0);
        vec![rec, ack]
    }

    fn answer_read(&mut self, frame: &[u8], now: Instant) -> Option<Vec<u8>> {
        let q = parse_read_request(frame)?;
        let read = ModbusRead::ALL
            .into_iter()
            .find(|m| m.window() == (q.start, q.count))?;
        if self.warm_until.is_none_or(|t| now > t) {
            log::debug!("FC03 on a cold bus: no answer");
            return Some(Vec::new());
        }
        let p = self.pack(q.address)?;
        let rec = p.record(read.kind(), now);
        let o = read.record_offset();
        let regs: Vec<u16> = rec[o..o + 2 * usize::from(q.count)]
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        Some(encode_read_reply(q.address, 0x03, &regs))
    }
}

impl Responder for Slaves {
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
            if self.buf.len() < 8 {
                break;
            }
            let (addr, fc) = (self.buf[0], self.buf[1]);
            // Requests: FC03 (8 bytes), FC16 trigger (11 bytes); anything else is refused.
            let len = match fc {
                0x03 | 0x06 => 8,
                0x10 => 9 + usize::from(self.buf[6]),
                _ => {
                    let f: Vec<u8> = self.buf.drain(..1).collect();
                    self.refused.push(f);
                    continue;
                }
            };
            if self.buf.len() < len {
                break;
            }
            let frame: Vec<u8> = self.buf.drain(..len).collect();
            if !crc_ok(&frame) {
                self.refused.push(frame);
                continue;
            }
            if self.echo {
                out.push(frame.clone());
            }
            match jkpb::scan(&frame) {
                Piece::Trigger {
                    address, trigger, ..
                } if addr == address && (1..=MAX_ADDRESS).contains(&address) => {
                    out.extend(self.answer_trigger(address, trigger, now));
                    continue;
                }
                _ => {}
            }
            match self.answer_read(&frame, now) {
                Some(r) if r.is_empty() => {}
                Some(r) => out.push(r),
                None => self.refused.push(frame),
            }
        }
        if self.buf.len() > 512 {
            self.buf.clear();
        }
        out
    }

    fn foreign(&self, _reply: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn refused(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packs(addrs: &[u8]) -> Vec<Pack> {
        let now = Instant::now();
        addrs
            .iter()
            .map(|&a| Pack::new(a, format!("SIM-T-{a:02}"), 8, now))
            .collect()
    }

    #[test]
    fn a_master_cycle_is_heard_address_by_address() {
        let now = Instant::now();
        let mut m = Master {
            master: Pack::new(0, "SIM-T-00".into(), 8, now),
            slaves: packs(&[1, 2]),
            silent: vec![],
        };
        let bytes: Vec<u8> = m.cycle(now).concat();
        let mut f = jkpb::Framer::new();
        let mut heard = f.feed(&bytes);
        heard.extend(f.flush());
        let who: Vec<(u8, Kind)> = heard.iter().map(|h| (h.address, h.kind)).collect();
        assert_eq!(
            who,
            [
                (0, Kind::Live),
                (0, Kind::Settings),
                (1, Kind::Live),
                (1, Kind::Settings),
                (2, Kind::Live),
                (2, Kind::Settings)
            ]
        );
        let l = jkpb::parse_live(&heard[2].record).unwrap();
        l.plausible().unwrap();
        assert_eq!(l.cells_mv.len(), 8);
    }

    #[test]
    fn slaves_answer_triggers_warm_reads_and_refuse_writes() {
        let mut s = Slaves::new(packs(&[1]), vec![], true, None);
        let now = Instant::now();
        // Cold: an FC03 read is not answered (and not refused: it is a read).
        let q = ModbusRead::LiveCells.request(1).unwrap().encode();
        assert!(s.feed(&q, now).iter().all(|r| r == &q));
        let t = Trigger::Live.frame(1).unwrap();
        let r = s.feed(&t, now);
        assert_eq!(r[0], t.to_vec()); // the echo
        assert_eq!(jkpb::check_record(&r[1][..300]), Ok(Kind::Live));
        // Warm now.
        let r = s.feed(&q, now);
        assert_eq!(r.len(), 2);
        assert!(crc_ok(&r[1]));
        // Shutdown (0x1604) is refused and not answered.
        let mut shutdown = vec![1, 0x10, 0x16, 0x04, 0, 1, 2, 0, 1];
        crate::proto::modbus::append_crc(&mut shutdown);
        assert_eq!(s.feed(&shutdown, now), vec![shutdown.clone()]);
        assert_eq!(s.refused(), vec![shutdown]);
    }
}
