//! A simulated EG4 LifePower4 v2 pack and the Modbus RTU slave that serves it.

use super::{Responder, Rng};
use crate::proto::lp4::{fault_bit, PackImage};
use crate::proto::modbus::{crc_ok, encode_exception, encode_read_reply, parse_read_request};
use std::f64::consts::TAU;
use std::time::Instant;

/// One simulated pack: a 16-cell 100 Ah LFP pack slowly charging and discharging.
#[derive(Debug, Clone)]
pub struct PackModel {
    pub address: u8,
    pub serial: String,
    start: Instant,
    last: f64,
    charge_ah: f64,
    phase: f64,
    cell_offsets_mv: [f64; 16],
    sensor_offsets: [f64; 4],
    /// Extra bits in registers 26, 27, 28 (warnings, protections, errors).
    pub fault_bits: [u16; 3],
}

const CAPACITY_AH: f64 = 100.0;

impl PackModel {
    pub fn new(address: u8, serial: String, start: Instant) -> PackModel {
        let mut rng = Rng::new(u64::from(address) + 7);
        let mut cell_offsets_mv = [0.0; 16];
        for c in &mut cell_offsets_mv {
            *c = rng.unit() * 4.0;
        }
        let mut sensor_offsets = [0.0; 4];
        for s in &mut sensor_offsets {
            *s = rng.unit();
        }
        PackModel {
            address,
            serial,
            start,
            last: 0.0,
            charge_ah: 60.0 + rng.unit() * 20.0,
            phase: rng.unit() * TAU,
            cell_offsets_mv,
            sensor_offsets,
            fault_bits: [0; 3],
        }
    }

    /// Sets a warning/protection/error bit by field name (`cell_ov`, `protection_short_circuit`).
    pub fn set_fault(&mut self, name: &str) -> Result<(), String> {
        let (reg, bit) = fault_bit(name).ok_or_else(|| {
            format!("unknown fault '{name}': use a warning_*, protection_* or alarm_* field name")
        })?;
        self.fault_bits[(reg - 26) as usize] |= 1 << bit;
        Ok(())
    }

    /// The pack's state now: current follows a 5-minute charge/discharge swing, charge
    /// integrates it, cell voltages follow charge and current.
    pub fn image(&mut self, now: Instant) -> PackImage {
        let t = now.duration_since(self.start).as_secs_f64();
        let current = 18.0 * (TAU * t / 300.0 + self.phase).sin();
        let dt = (t - self.last).max(0.0);
        self.last = t;
        self.charge_ah = (self.charge_ah + current * dt / 3600.0).clamp(5.0, CAPACITY_AH);
        let soc = self.charge_ah / CAPACITY_AH * 100.0;
        let cells_mv: Vec<u16> = self
            .cell_offsets_mv
            .iter()
            .map(|o| {
                (3200.0 + soc * 1.3 + current * 0.4 + o)
                    .round()
                    .clamp(2500.0, 3650.0) as u16
            })
            .collect();
        let total_mv: u32 = cells_mv.iter().map(|&c| u32::from(c)).sum();
        let ambient = 22.0 + 2.0 * (TAU * t / 900.0).sin();
        let sensors =
            |i: usize| (ambient + self.sensor_offsets[i] + current.abs() * 0.05).round() as i8;
        let (hi, lo) = {
            let max = cells_mv.iter().copied().max().unwrap_or(0);
            let min = cells_mv.iter().copied().min().unwrap_or(0);
            (max, min)
        };
        let balancing = if hi - lo > 5 {
            1u16 << cells_mv.iter().position(|&c| c == hi).unwrap_or(0)
        } else {
            0
        };
        let status = if self.fault_bits[1] != 0 {
            4
        } else if current > 0.5 {
            1
        } else if current < -0.5 {
            2
        } else {
            0
        };
        PackImage {
            voltage_centi: (total_mv / 10) as u16,
            current_centi: (current * 100.0).round() as i16,
            cells_mv,
            temp_pcb: i16::from(sensors(0)) + 3,
            temp_19: i16::from(sensors(0).max(sensors(1)).max(sensors(2)).max(sensors(3))),
            temp_20: i16::from(sensors(1)),
            remaining_ah: self.charge_ah.round() as u16,
            max_charge_current: 100,
            soh: 100,
            soc: soc.round() as u16,
            status,
            warnings: self.fault_bits[0],
            protections: self.fault_bits[1],
            errors: self.fault_bits[2],
            cycles: 11 + u32::from(self.address),
            full_capacity_mas: 360_000_000,
            sensors: [sensors(0), sensors(1), sensors(2), sensors(3), 0, 0],
            design_capacity_deci: 1000,
            balancing,
            model: "LFP-51.2V100Ah-V1.0".into(),
            firmware: "Z02T21".into(),
            serial: self.serial.clone(),
        }
    }
}

/// How the simulated bus misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Misbehaviour {
    /// Addresses that never answer.
    pub silent: Vec<u8>,
    /// Corrupt the CRC of every Nth reply.
    pub bad_crc_every: Option<u64>,
}

/// The Modbus slave side: frames requests out of the byte stream and answers them.
pub struct Slave {
    pub packs: Vec<PackModel>,
    pub misbehave: Misbehaviour,
    buf: Vec<u8>,
    replies: u64,
}

/// Registers the simulated packs hold (0..136: status, settings, identity).
pub const REGISTERS: u16 = 136;

impl Slave {
    pub fn new(packs: Vec<PackModel>, misbehave: Misbehaviour) -> Slave {
        Slave {
            packs,
            misbehave,
            buf: Vec::new(),
            replies: 0,
        }
    }

    fn answer(&mut self, frame: &[u8], now: Instant) -> Option<Vec<u8>> {
        let address = frame[0];
        if self.misbehave.silent.contains(&address) {
            log::debug!("address {address}: staying silent");
            return None;
        }
        let pack = self.packs.iter_mut().find(|p| p.address == address)?;
        let mut reply = match parse_read_request(frame) {
            Some(req) if req.function == 0x03 => {
                let end = u32::from(req.start) + u32::from(req.count);
                if req.count == 0 || req.count > 125 {
                    encode_exception(address, 0x03, 0x03)
                } else if end > u32::from(REGISTERS) {
                    encode_exception(address, 0x03, 0x02)
                } else {
                    let regs = pack.image(now).registers();
                    encode_read_reply(address, 0x03, &regs[req.start as usize..end as usize])
                }
            }
            _ => encode_exception(address, frame[1], 0x01),
        };
        self.replies += 1;
        if let Some(n) = self.misbehave.bad_crc_every {
            if n > 0 && self.replies.is_multiple_of(n) {
                let last = reply.len() - 1;
                reply[last] ^= 0x5A;
                log::debug!(
                    "address {address}: damaging the CRC of reply {}",
                    self.replies
                );
            }
        }
        Some(reply)
    }
}

impl Responder for Slave {
    fn foreign(&self, reply: &[u8]) -> Option<Vec<u8>> {
        let body = reply.get(..reply.len().checked_sub(2)?)?;
        let mut out = body.to_vec();
        let first = out.first_mut()?;
        *first = super::next_address(*first);
        crate::proto::modbus::append_crc(&mut out);
        Some(out)
    }

    fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            if self.buf.len() < 8 {
                break;
            }
            let frame_len = request_len(&self.buf);
            match frame_len {
                Some(n) if self.buf.len() < n => break,
                Some(n) if crc_ok(&self.buf[..n]) => {
                    let frame: Vec<u8> = self.buf.drain(..n).collect();
                    if let Some(reply) = self.answer(&frame, now) {
                        out.push(reply);
                    }
                }
                _ => {
                    self.buf.remove(0);
                }
            }
        }
        if self.buf.len() > 1024 {
            self.buf.clear();
        }
        out
    }
}

/// Length of the request starting at `buf[0]`, by function code (§5.2), if known.
fn request_len(buf: &[u8]) -> Option<usize> {
    match buf.get(1)? {
        0x01..=0x06 => Some(8),
        0x0F | 0x10 => buf.get(6).map(|&n| 9 + n as usize),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::lp4::{decode, decode_identity, Map, Window};
    use crate::proto::modbus::{parse_reply, ReadRequest, ReplyError};
    use crate::record::Value;
    use crate::sim::Responder;

    fn slave() -> Slave {
        let t = Instant::now();
        Slave::new(
            vec![
                PackModel::new(1, "SIM-T-01".into(), t),
                PackModel::new(2, "SIM-T-02".into(), t),
            ],
            Misbehaviour {
                silent: vec![2],
                bad_crc_every: None,
            },
        )
    }

    #[test]
    fn answers_status_and_identity() {
        let mut s = slave();
        let now = Instant::now();
        let req = ReadRequest::holding(1, 0, 39);
        let replies = s.feed(&req.encode(), now);
        assert_eq!(replies.len(), 1);
        let regs = parse_reply(&replies[0], &req).unwrap();
        let f = decode(
            Map::V0106,
            Window {
                start: 0,
                regs: &regs,
            },
        );
        assert_eq!(f.get("cell_count"), Some(&Value::Int(16)));
        let Some(Value::Float(v)) = f.get("pack_voltage") else {
            panic!()
        };
        assert!((48.0..58.0).contains(v), "{v}");
        let id = ReadRequest::holding(1, 105, 23);
        let regs = parse_reply(&s.feed(&id.encode(), now)[0], &id).unwrap();
        let info = decode_identity(Window {
            start: 105,
            regs: &regs,
        });
        assert_eq!(info.serial.as_deref(), Some("SIM-T-01"));
    }

    #[test]
    fn misbehaves_on_request() {
        let mut s = slave();
        let now = Instant::now();
        assert!(
            s.feed(&ReadRequest::holding(2, 0, 39).encode(), now)
                .is_empty(),
            "silent"
        );
        assert!(
            s.feed(&ReadRequest::holding(9, 0, 39).encode(), now)
                .is_empty(),
            "absent"
        );
        let far = ReadRequest::holding(1, 200, 10);
        let r = s.feed(&far.encode(), now);
        assert_eq!(
            parse_reply(&r[0], &far),
            Err(ReplyError::Exception { code: 2 })
        );
        // Split request and leading noise.
        let req = ReadRequest::holding(1, 0, 39).encode();
        assert!(s.feed(&[0xFF, 0x00], now).is_empty());
        assert!(s.feed(&req[..3], now).is_empty());
        assert_eq!(s.feed(&req[3..], now).len(), 1);
        s.misbehave.bad_crc_every = Some(1);
        let r = s.feed(&req, now);
        assert!(matches!(
            parse_reply(&r[0], &ReadRequest::holding(1, 0, 39)),
            Err(ReplyError::BadCrc { .. })
        ));
    }

    #[test]
    fn faults_set_bits() {
        let mut p = PackModel::new(1, "x".into(), Instant::now());
        p.set_fault("cell_ov").unwrap();
        p.set_fault("protection_short_circuit").unwrap();
        assert!(p.set_fault("bogus").is_err());
        let img = p.image(Instant::now());
        assert_eq!(img.warnings, 2);
        assert_eq!(img.protections, 1 << 13);
        assert_eq!(img.status, 4);
    }
}
