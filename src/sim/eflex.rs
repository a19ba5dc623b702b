//! Simulated Fortress eFlex batteries as a `candump -L` stream: each battery's 11 + 7 frames
//! per cycle with realistic, drifting values, optionally interleaved frame by frame, with
//! partial groups at the start and end as a real capture has.

use super::Rng;
use crate::proto::candump::write_log_line;
use crate::proto::eflex::{encode, frames, Battery, Inferred};

/// One simulated battery.
#[derive(Debug, Clone)]
pub struct EflexModel {
    pub node: u8,
    rng: Rng,
    soc_tenths: i32,
    current_deci: i32,
    energy: u32,
    cells_base: [i32; 16],
    /// Cycles since the start, and where in its charge/discharge swing the battery started.
    cycle: u64,
    phase: f64,
}

/// Cycles of one charge/discharge swing: the current changes sign twice per swing, so the
/// energy counters of readings-bank move both ways within a short simulated stream.
pub const SWING_CYCLES: f64 = 120.0;

impl EflexModel {
    pub fn new(node: u8, seed: u64) -> EflexModel {
        let mut rng = Rng::new(seed * 31 + u64::from(node));
        let mut cells_base = [0i32; 16];
        for c in &mut cells_base {
            *c = (rng.unit() * 4.0).round() as i32;
        }
        EflexModel {
            node,
            soc_tenths: 500 + (rng.unit() * 300.0) as i32,
            current_deci: (rng.unit() * 100.0) as i32,
            energy: 140_000 + (rng.unit() * 50_000.0).abs() as u32,
            phase: rng.unit() * std::f64::consts::PI,
            cycle: 0,
            rng,
            cells_base,
        }
    }

    /// The serial number bytes (§3.5 layout): `22 05 00 75 'E' <600 + node>`.
    pub fn serial_bytes(&self) -> [u8; 7] {
        let n = (600 + u16::from(self.node)).to_be_bytes();
        [0x22, 0x05, 0x00, 0x75, b'E', n[0], n[1]]
    }

    /// Advances one cycle (about a second) and returns the battery's values. The current
    /// follows a charge/discharge profile: a ±60 A swing over [`SWING_CYCLES`] cycles with a
    /// little noise, each battery at its own point of the swing.
    pub fn step(&mut self, batteries: u8) -> Battery {
        let swing = (std::f64::consts::TAU * self.cycle as f64 / SWING_CYCLES + self.phase).sin();
        self.cycle += 1;
        self.current_deci =
            ((600.0 * swing + self.rng.unit() * 15.0).round() as i32).clamp(-800, 800);
        self.soc_tenths = (self.soc_tenths + self.current_deci.signum()).clamp(50, 1000);
        if self.current_deci < 0 {
            self.energy += 1;
        }
        let soc = self.soc_tenths / 10;
        let mut cells = [0u16; 16];
        for (i, c) in cells.iter_mut().enumerate() {
            let jitter = (self.rng.unit() * 1.5).round() as i32;
            *c = (3250 + soc + self.current_deci / 20 + self.cells_base[i] + jitter)
                .clamp(2800, 3650) as u16;
        }
        let sum_mv: u32 = cells.iter().map(|&c| u32::from(c)).sum();
        let pack_dv = (sum_mv / 100) as u16;
        let temps =
            [63u8, 64, 64, 65, 64, 66].map(|t| t + (self.rng.unit() * 1.2).round().max(0.0) as u8);
        Battery {
            battery_number: self.node,
            batteries_in_system: batteries,
            pack_voltage: f64::from(pack_dv) / 10.0,
            pack_current: f64::from(self.current_deci) / 10.0,
            soc: soc as u8,
            system_average_voltage: f64::from(pack_dv.saturating_sub(1)) / 10.0,
            lifetime_discharge_energy: self.energy,
            pre_voltage: f64::from(pack_dv + 1) / 10.0,
            insulation_resistance: 0xFFFF,
            software_version: 4006,
            hardware_version: 'a',
            serial_bytes: self.serial_bytes(),
            cell_voltages_mv: cells,
            inferred: Inferred {
                status: 0x03,
                flags_limits: [0x01, 0x01, 0x01, 0xF4, 0x02, 0x58, 0x00, 0x01, 0x2A],
                temperatures: temps,
                soh_temps: [
                    0x64,
                    *temps.iter().max().unwrap_or(&0),
                    *temps.iter().min().unwrap_or(&0),
                    0x26,
                ],
                temperature_41: 0x18,
                id32: [0x12, 0xAF, 0x9B, self.node],
                ..Inferred::default()
            },
        }
    }
}

/// Writes the candump lines of a round (every battery once) into `out`.
pub struct StreamWriter {
    pub iface: String,
    /// Current time in microseconds since the epoch.
    pub now_us: u64,
    /// Microseconds between two frames on the bus.
    pub frame_gap_us: u64,
}

impl StreamWriter {
    fn line(&mut self, out: &mut String, id: u32, data: &[u8]) -> u64 {
        let t = self.now_us;
        write_log_line(
            out,
            t / 1_000_000,
            (t % 1_000_000) as u32,
            &self.iface,
            id,
            data,
        );
        out.push('\n');
        self.now_us += self.frame_gap_us;
        t
    }

    /// One round: each battery's 18 frames, battery after battery or interleaved. Returns
    /// the time (µs) of each battery's last frame, which its reading carries.
    pub fn round(&mut self, out: &mut String, batteries: &[Battery], interleave: bool) -> Vec<u64> {
        let mut last = vec![0u64; batteries.len()];
        let all: Vec<[(u32, [u8; 8]); 18]> = batteries
            .iter()
            .map(|b| {
                let (b10, b60) = encode(b);
                frames(b.battery_number, &b10, &b60)
            })
            .collect();
        if interleave {
            for i in 0..18 {
                for (k, f) in all.iter().enumerate() {
                    last[k] = self.line(out, f[i].0, &f[i].1);
                }
            }
        } else {
            for (k, f) in all.iter().enumerate() {
                for (id, data) in f {
                    last[k] = self.line(out, *id, data);
                }
            }
        }
        last
    }

    /// The tail of a group (tags 6..11 of 0x10n, then the whole 0x60n): what a capture
    /// that starts mid-cycle holds. The decoder must drop it.
    pub fn partial_head(&mut self, out: &mut String, b: &Battery) {
        let (b10, b60) = encode(b);
        for (id, data) in frames(b.battery_number, &b10, &b60).iter().skip(5) {
            self.line(out, *id, data);
        }
    }

    /// The start of a group (tags 1..4 of 0x10n): a capture stopped mid-cycle.
    pub fn partial_tail(&mut self, out: &mut String, b: &Battery) {
        let (b10, b60) = encode(b);
        for (id, data) in frames(b.battery_number, &b10, &b60).iter().take(4) {
            self.line(out, *id, data);
        }
    }
}
