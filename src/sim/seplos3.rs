//! Simulated Seplos v3 boards over Modbus RTU (protocols.md §14.6): packs at their slave
//! addresses (default 0, as a single pack answers) serving the FC04 pack blocks 0x1000
//! (PIA), 0x1100 (PIB) and the identity block at 0x1700 (whole, or the factory name alone, as
//! a real board answers both), and the FC01 status coils at 0x1200 (PIC), from the drifting
//! pack model; with packs at 1-16 and none at 0, the master's system blocks 0x2000 (EIA),
//! 0x2100 (EIB, 0x16 registers) and coils 0x2200 (EIC) at slave 0, consistent with the packs
//! (`--silent 0`: none, a bank without a master). Other blocks get exception 02; FC05, FC06, FC0F, FC10
//! and every other function are refused without an answer.

use super::lp4::PackModel;
use super::Responder;
use crate::family::SimSpec;
use crate::proto::modbus;
use crate::proto::seplos3::{
    self, EIA, EIB, EIC, FACTORY, FC_COILS, FC_INPUTS, IDENTITY, PIA, PIB, PIC,
};
use std::time::{Duration, Instant};

/// The model in the identity block at 0x1700.
pub const MODEL: &str = "SP16S200A-SIM";
/// The factory name a real board gives there (dbus-serialbattery identifies a board by it).
pub const FACTORY_NAME: &str = "XZH-ElecTech Co.,Ltd";
/// The software version there: two ASCII digits ("1.2").
pub const VERSION: &str = "12";

struct Pack {
    address: u8,
    model: PackModel,
    silent: bool,
    /// --fault fets_off: both MOSFETs off.
    fets_off: bool,
}

pub struct Slave {
    packs: Vec<Pack>,
    /// `--silent 0` with the packs elsewhere: no system blocks (a bank without a master).
    system_silent: bool,
    cells: usize,
    bad_every: Option<u64>,
    replies: u64,
    buf: Vec<u8>,
    last: Option<Instant>,
    refused: Vec<Vec<u8>>,
}

/// `bms-sim seplos3`: packs at the spec's addresses (default 0).
pub fn simulator(spec: &SimSpec) -> Result<Box<dyn Responder>, String> {
    let addresses = if spec.addresses.is_empty() {
        vec![seplos3::DEFAULT_ADDRESS]
    } else {
        spec.addresses.clone()
    };
    let start = Instant::now();
    let mut packs: Vec<Pack> = addresses
        .iter()
        .map(|&a| Pack {
            address: a,
            model: PackModel::new(a, format!("SIM-{}-{a:02}", spec.tag), start),
            silent: spec.silent.contains(&a) || spec.asleep.contains(&a),
            fets_off: false,
        })
        .collect();
    for (addr, name) in &spec.faults {
        if name != "fets_off" {
            return Err(format!("unknown fault '{name}' for seplos3: use fets_off"));
        }
        for p in packs
            .iter_mut()
            .filter(|p| addr.is_none_or(|a| a == p.address))
        {
            p.fets_off = true;
        }
    }
    Ok(Box::new(Slave {
        system_silent: spec.silent.contains(&seplos3::SYSTEM_ADDRESS),
        packs,
        cells: spec.cells.clamp(8, 16),
        bad_every: spec.bad_every,
        replies: 0,
        buf: Vec::new(),
        last: None,
        refused: Vec::new(),
    }))
}

fn kelvin(c: i8) -> u16 {
    (f64::from(c) * 10.0 + 2731.0).round() as u16
}

impl Slave {
    fn answer(&mut self, frame: &[u8], now: Instant) -> Option<Vec<u8>> {
        let (address, function) = (frame[0], frame[1]);
        let start = u16::from_be_bytes([frame[2], frame[3]]);
        let count = u16::from_be_bytes([frame[4], frame[5]]);
        let cells = self.cells;
        if address == seplos3::SYSTEM_ADDRESS && self.packs.iter().all(|p| p.address != address) {
            return (!self.system_silent).then(|| self.system(function, (start, count), now));
        }
        let p = self
            .packs
            .iter_mut()
            .find(|p| p.address == address && !p.silent)?;
        let img = p.model.image(now);
        let reply = match (function, (start, count)) {
            (FC_INPUTS, PIA) => {
                let total_mv: u32 = img.cells_mv[..cells].iter().map(|&c| u32::from(c)).sum();
                let mut r = vec![
                    (total_mv / 10).min(0xFFFF) as u16,
                    img.current_centi as u16,
                    img.remaining_ah.saturating_mul(100),
                    10_000,
                    10_000,
                    img.soc * 10,
                    1000,
                    img.cycles.min(0xFFFF) as u16,
                ];
                r.resize(usize::from(PIA.1), 0);
                modbus::encode_read_reply(address, FC_INPUTS, &r)
            }
            (FC_INPUTS, PIB) => {
                let mut r: Vec<u16> = (0..16)
                    .map(|i| if i < cells { img.cells_mv[i] } else { 0 })
                    .collect();
                r.extend(img.sensors[..4].iter().map(|&t| kelvin(t)));
                r.extend([0, 0, 0, 0]);
                r.push(kelvin(img.sensors[0].saturating_sub(1)));
                r.push(kelvin(img.sensors[0].saturating_add(3)));
                modbus::encode_read_reply(address, FC_INPUTS, &r)
            }
            (FC_INPUTS, block @ (IDENTITY | FACTORY)) => {
                // Factory name (registers 0-9), model (10-19), version (20), serial (21-35),
                // NUL-padded, as the real SG16S200A's block.
                let mut text = Vec::with_capacity(2 * usize::from(IDENTITY.1));
                for (s, width) in [(FACTORY_NAME, 20), (MODEL, 20), (VERSION, 2)] {
                    text.extend(s.bytes().chain(std::iter::repeat(0)).take(width));
                }
                text.extend(p.model.serial.bytes().chain(std::iter::repeat(0)).take(30));
                text.resize(2 * usize::from(block.1), 0);
                let r: Vec<u16> = text
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                modbus::encode_read_reply(address, FC_INPUTS, &r)
            }
            (FC_COILS, PIC) => {
                let mut c = vec![0u8; seplos3::coil_bytes(PIC.1)];
                if !p.fets_off {
                    c[usize::from(seplos3::COIL_DISCHARGE_FET / 8)] |= 0b11;
                }
                seplos3::encode_coils(address, &c)
            }
            _ => modbus::encode_exception(address, function, 0x02),
        };
        Some(reply)
    }
}

impl Slave {
    /// The master's system blocks at slave 0, from the answering packs: the mean pack
    /// voltage, the summed current and remaining capacity, the pack count, the most cycles,
    /// the bank's SOC, the lowest SOH and the mean cell temperature. EIB read as 0x1A
    /// registers gets exception 02, as from a real board.
    fn system(&mut self, function: u8, block: (u16, u16), now: Instant) -> Vec<u8> {
        let cells = self.cells;
        let images: Vec<_> = self
            .packs
            .iter_mut()
            .filter(|p| !p.silent)
            .map(|p| p.model.image(now))
            .collect();
        let n = images.len().max(1) as i64;
        let words = |v: u32| [v as u16, (v >> 16) as u16];
        match (function, block) {
            (FC_INPUTS, EIA) => {
                let mv: i64 = images
                    .iter()
                    .map(|i| {
                        i.cells_mv[..cells]
                            .iter()
                            .map(|&c| i64::from(c))
                            .sum::<i64>()
                    })
                    .sum();
                let deci_amps: i64 = images.iter().map(|i| i64::from(i.current_centi) / 10).sum();
                let centi_ah: i64 = images.iter().map(|i| i64::from(i.remaining_ah) * 100).sum();
                let mut r = vec![0u16; usize::from(EIA.1)];
                r[0..2].copy_from_slice(&words((mv / n / 10) as u32));
                r[2..4].copy_from_slice(&words(deci_amps as i32 as u32));
                r[4..6].copy_from_slice(&words(centi_ah as u32));
                r[22] = self.packs.len() as u16;
                r[23] = images
                    .iter()
                    .map(|i| i.cycles.min(0xFFFF) as u16)
                    .max()
                    .unwrap_or(0);
                // Each pack holds 100.00 Ah (PIA's design capacity).
                r[24] = (centi_ah * 10 / (n * 10_000)).min(1000) as u16;
                r[25] = 1000;
                modbus::encode_read_reply(seplos3::SYSTEM_ADDRESS, FC_INPUTS, &r)
            }
            (FC_INPUTS, EIB) => {
                let (sum, k) = images.iter().fold((0i64, 0i64), |(s, k), i| {
                    let t: i64 = i.sensors[..4].iter().map(|&t| i64::from(t)).sum();
                    (s + t, k + 4)
                });
                let mut r = vec![0u16; usize::from(EIB.1)];
                r[10] = (sum * 10 / k.max(1)) as i16 as u16;
                modbus::encode_read_reply(seplos3::SYSTEM_ADDRESS, FC_INPUTS, &r)
            }
            (FC_COILS, EIC) => {
                // The MOSFETs are on unless a pack's are off (--fault fets_off).
                let mut c = vec![0u8; seplos3::coil_bytes(EIC.1)];
                if self.packs.iter().all(|p| !p.fets_off) {
                    c[7] = 0b11;
                }
                seplos3::encode_coils(seplos3::SYSTEM_ADDRESS, &c)
            }
            _ => modbus::encode_exception(seplos3::SYSTEM_ADDRESS, function, 0x02),
        }
    }
}

impl Responder for Slave {
    fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Vec<u8>> {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) > Duration::from_millis(200))
        {
            self.buf.clear();
        }
        self.last = Some(now);
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        // Requests are 8 bytes (FC01-FC06); a write of several (FC0F, FC10) carries its byte
        // count at 6. Whatever has a valid CRC is judged; the rest is noise, dropped.
        while self.buf.len() >= 8 {
            let len = match self.buf[1] {
                0x0F | 0x10 if self.buf.len() >= 7 => 9 + usize::from(self.buf[6]),
                _ => 8,
            };
            if self.buf.len() < len {
                break;
            }
            if !modbus::crc_ok(&self.buf[..len]) {
                self.buf.remove(0);
                continue;
            }
            let frame: Vec<u8> = self.buf.drain(..len).collect();
            if !matches!(frame[1], FC_COILS | FC_INPUTS) {
                self.refused.push(frame);
                continue;
            }
            if let Some(mut reply) = self.answer(&frame, now) {
                self.replies += 1;
                if self
                    .bad_every
                    .is_some_and(|n| n > 0 && self.replies.is_multiple_of(n))
                {
                    let k = reply.len() - 1;
                    reply[k] ^= 0x5A;
                }
                out.push(reply);
            }
        }
        if self.buf.len() > 512 {
            self.buf.clear();
        }
        out
    }

    fn foreign(&self, reply: &[u8]) -> Option<Vec<u8>> {
        if reply.len() < 5 || !modbus::crc_ok(reply) {
            return None;
        }
        let mut f = reply[..reply.len() - 2].to_vec();
        f[0] = super::next_address(f[0]);
        modbus::append_crc(&mut f);
        Some(f)
    }

    fn refused(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codec::Codec as _;

    #[test]
    fn serves_the_blocks_at_slave_0_and_refuses_writes() {
        let mut s = simulator(&SimSpec {
            cells: 15,
            ..SimSpec::default()
        })
        .unwrap();
        let now = Instant::now();
        let codec = seplos3::Codec;
        let mut answers = Vec::new();
        for req in codec.status(0) {
            let r = s.feed(&req.bytes, now);
            match codec.judge(0, &req, &[], &r.concat(), true) {
                crate::proto::codec::Judge::Done(Ok(a)) => answers.push(Some(a)),
                other => panic!("{other:?}"),
            }
        }
        let d = codec.decode(0, &answers).unwrap();
        assert_eq!(
            d.fields.get("cell_count"),
            Some(&crate::record::Value::Int(15))
        );
        let id = codec.probe(0);
        let r = s.feed(&id.bytes, now);
        assert_eq!(r[0][2], 0x14);
        // FC06 (write one register) and FC10 (write several), by hand: refused.
        let mut w6 = vec![0, 6, 0x10, 0, 0, 1];
        modbus::append_crc(&mut w6);
        let mut w16 = vec![0, 0x10, 0x13, 0, 0, 1, 2, 0, 1];
        modbus::append_crc(&mut w16);
        let mut both = w6.clone();
        both.extend_from_slice(&w16);
        assert!(s.feed(&both, now).is_empty());
        assert_eq!(s.refused(), vec![w6, w16]);
        // Another block: exception 02.
        let r = s.feed(&seplos3::read(0, 4, (0x1300, 0x6A)), now);
        assert_eq!(r[0][1], 0x84);
    }

    #[test]
    fn a_bank_answers_its_system_blocks_at_slave_0() {
        let mut s = simulator(&SimSpec {
            addresses: vec![1, 2],
            cells: 16,
            ..SimSpec::default()
        })
        .unwrap();
        let now = Instant::now();
        let codec = seplos3::Codec;
        let reads = codec.reads(&[1, 2]);
        let system = reads.iter().find(|r| r.group).unwrap();
        let mut answers = Vec::new();
        for req in codec.group_status(system) {
            let r = s.feed(&req.bytes, now);
            match codec.judge(0, &req, &[], &r.concat(), true) {
                crate::proto::codec::Judge::Done(Ok(a)) => answers.push(Some(a)),
                other => panic!("{other:?}"),
            }
        }
        let got = codec.decode_group(system, &answers);
        let bank = got[0].1.as_ref().unwrap();
        // The packs' own readings, for comparison.
        let mut volts = 0.0;
        let mut amps = 0.0;
        for a in [1, 2] {
            let mut answers = Vec::new();
            for req in codec.status(a) {
                let r = s.feed(&req.bytes, now);
                if let crate::proto::codec::Judge::Done(Ok(x)) =
                    codec.judge(a, &req, &[], &r.concat(), true)
                {
                    answers.push(Some(x));
                }
            }
            let d = codec.decode(a, &answers).unwrap();
            let num = |n: &str| match d.fields.get(n) {
                Some(crate::record::Value::Float(v)) => *v,
                other => panic!("{n}: {other:?}"),
            };
            volts += num("pack_voltage") / 2.0;
            amps += num("pack_current");
        }
        let num = |n: &str| match bank.fields.get(n) {
            Some(crate::record::Value::Float(v)) => *v,
            Some(crate::record::Value::Int(v)) => *v as f64,
            other => panic!("{n}: {other:?}"),
        };
        assert_eq!(num("packs_total"), 2.0);
        assert!((num("pack_voltage") - volts).abs() < 0.02, "{volts}");
        assert!((num("pack_current") - amps).abs() < 0.15, "{amps}");
        assert!(bank.fields.get("cell_temperature_avg").is_some());
        // EIB read as 0x1A registers: exception 02, as from a real board.
        let r = s.feed(&seplos3::read(0, 4, (0x2100, 0x1A)), now);
        assert_eq!(r[0][1..3], [0x84, 0x02]);
    }
}
