//! A simulated battery bank talking to a simulated inverter over the Pylon LV CAN link, as a
//! `candump -L` stream: the inverter's heartbeat (0x305), then the bank's core set (and, with
//! `victron`, the extension frames), once a second; SOC drifts with a slowly changing current;
//! alarms on request.

use super::Rng;
use crate::proto::candump::write_log_line;
use crate::proto::pylon::{encode, Bank, FLAGS, REQUESTS};

/// The simulated bank.
#[derive(Debug, Clone)]
pub struct PylonModel {
    rng: Rng,
    soc_tenths: i32,
    current_deci: i32,
    modules: u8,
    /// Flags ([`FLAGS`] names) and requests ([`REQUESTS`] names) forced on.
    faults: Vec<&'static str>,
    /// Send the newer-firmware/Victron frames too (0x35A, 0x35F, 0x354, 0x372–0x379).
    pub victron: bool,
    pub manufacturer: String,
}

impl PylonModel {
    pub fn new(seed: u64, modules: u8) -> PylonModel {
        let mut rng = Rng::new(seed * 7 + 3);
        PylonModel {
            soc_tenths: 600 + (rng.unit() * 200.0) as i32,
            current_deci: (rng.unit() * 300.0) as i32,
            rng,
            modules,
            faults: Vec::new(),
            victron: false,
            manufacturer: "PYLON".into(),
        }
    }

    /// Forces a flag or request on: a [`FLAGS`] or [`REQUESTS`] name, or a flag name without
    /// its `protection_`/`warning_` prefix for the protection (`pack_ov`).
    pub fn set_fault(&mut self, name: &str) -> Result<(), String> {
        let full = FLAGS
            .iter()
            .chain(&REQUESTS)
            .find(|&&f| f == name || f.strip_prefix("protection_") == Some(name))
            .ok_or_else(|| {
                format!(
                    "unknown fault '{name}': one of {}, {}",
                    FLAGS.join(", "),
                    REQUESTS[2..].join(", ")
                )
            })?;
        self.faults.push(full);
        Ok(())
    }

    /// Advances one telegram (about a second) and returns the bank's values.
    pub fn step(&mut self) -> Bank {
        self.current_deci =
            (self.current_deci + (self.rng.unit() * 40.0) as i32).clamp(-1500, 1500);
        self.soc_tenths = (self.soc_tenths + self.current_deci / 100).clamp(50, 1000);
        let soc = (self.soc_tenths / 10) as u16;
        let cell_mv = (3200 + i32::from(soc) + self.current_deci / 50).clamp(2900, 3600);
        let voltage_cv = cell_mv * 16 / 10;
        let temp_dc = 250 + (self.rng.unit() * 20.0) as i32;
        let on = |name: &str| self.faults.contains(&name);
        let mut flags = [None; FLAGS.len()];
        for (i, f) in FLAGS.iter().enumerate() {
            // 0x359 carries these; the rest only through 0x35A (victron).
            let in_359 = !matches!(
                *f,
                "protection_charge_ot"
                    | "protection_charge_ut"
                    | "protection_contactor"
                    | "protection_short_circuit"
                    | "protection_cell_imbalance"
                    | "warning_charge_ot"
                    | "warning_charge_ut"
                    | "warning_contactor"
                    | "warning_short_circuit"
                    | "warning_system_error"
                    | "warning_cell_imbalance"
            );
            if in_359 || self.victron {
                flags[i] = Some(on(f));
            }
        }
        let low = soc < 10;
        let requests = [
            !on("protection_pack_ov") && soc < 100,
            !on("protection_pack_uv"),
            on("request_force_charge_1") || low,
            on("request_force_charge_2"),
            on("request_full_charge"),
        ];
        let mut b = Bank {
            cvl_dv: Some(568),
            ccl_da: Some(if soc >= 98 { 100 } else { 1000 }),
            dcl_da: Some(if soc <= 10 { 100 } else { 1000 }),
            dvl_dv: Some(448),
            soc: Some(soc),
            soh: Some(99),
            voltage_raw: Some(voltage_cv as i16),
            voltage_scale: 0.01,
            current_da: Some(self.current_deci as i16),
            temp_dc: Some(temp_dc as i16),
            flags,
            module_count: Some(self.modules),
            requests: Some(requests),
            manufacturer: Some(self.manufacturer.clone()),
            ..Bank::default()
        };
        // What the simulator sends that the decoder keeps undecoded.
        b.raw = vec![("x359", "504e".into()), ("x35c", "00".into())];
        if self.victron {
            b.raw.push(("x35f", "4c490102".into()));
            let n = u16::from(self.modules);
            b.online_capacity_ah = Some(100 * n);
            b.installed_capacity_ah = Some(100 * n);
            b.design_capacity_ah = Some(100 * n);
            b.remaining_ah = Some(n * soc);
            b.modules = [Some(n), Some(0), Some(0), Some(0)];
            let lo = cell_mv as u16 - 3;
            b.cells = [
                Some(lo),
                Some(lo + 7),
                Some((temp_dc / 10 + 272) as u16),
                Some((temp_dc / 10 + 275) as u16),
            ];
            b.cell_names = [
                Some("1-04".into()),
                Some("2-11".into()),
                Some("1-01".into()),
                Some(format!("{n}-16")),
            ];
        }
        b
    }
}

/// Writes the candump lines of one telegram into `out`: the heartbeat (unless `heartbeat` is
/// false), then the bank's frames, `gap_us` apart from `now_us` on. Returns the time (µs) of
/// the bank's last frame, which its reading carries, and the time after the telegram.
pub fn write_telegram(
    out: &mut String,
    iface: &str,
    bank: &Bank,
    heartbeat: bool,
    now_us: u64,
    gap_us: u64,
) -> (u64, u64) {
    let mut t = now_us;
    let mut line = |out: &mut String, id: u32, data: &[u8]| -> u64 {
        let at = t;
        write_log_line(
            out,
            at / 1_000_000,
            (at % 1_000_000) as u32,
            iface,
            id,
            data,
        );
        out.push('\n');
        t += gap_us;
        at
    };
    if heartbeat {
        line(out, 0x305, &[0; 8]);
    }
    let mut last = now_us;
    for (id, data) in encode(bank) {
        last = line(out, id, &data);
    }
    (last, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::candump::{parse_line, Line};
    use crate::proto::pylon::{decode, Assembler, Event, Profile};

    /// Every telegram of the stream decodes to the values it was made from.
    #[test]
    fn every_simulated_telegram_decodes_to_its_values() {
        let pylon = Profile::by_name("pylon").unwrap();
        for victron in [false, true] {
            let mut m = PylonModel::new(1, 4);
            m.victron = victron;
            for f in [
                "pack_ov",
                "warning_cell_imbalance",
                "request_force_charge_2",
            ] {
                m.set_fault(f).unwrap();
            }
            assert!(m.set_fault("smoke").is_err());
            let mut asm = Assembler::new();
            let mut prev: Option<Bank> = None;
            let mut n = 0;
            let check = |t: &crate::proto::pylon::Telegram<u64>, want: Option<Bank>| {
                let mut got = decode(t, pylon);
                let mut want = want.expect("a telegram was sent");
                got.raw.clear();
                want.raw.clear();
                assert_eq!(got, want);
                assert_eq!(got.flags[0], Some(true));
                assert_eq!(got.requests.map(|r| r[3]), Some(true));
                assert_eq!(got.flags[23], victron.then_some(true));
            };
            for round in 0..50u64 {
                let b = m.step();
                let mut text = String::new();
                write_telegram(&mut text, "can0", &b, true, round * 1_000_000, 500);
                for line in text.lines() {
                    let Ok(Line::Frame(f)) = parse_line(line.as_bytes()) else {
                        panic!("{line}")
                    };
                    if let Some(Event::Telegram(t)) = asm.push(f.frame.id, f.frame.data(), round) {
                        check(&t, prev.take());
                        n += 1;
                    }
                }
                prev = Some(b);
            }
            assert_eq!(n, 49, "each telegram ends at the next heartbeat");
            let t = asm.finish().expect("the last telegram is complete");
            check(&t, prev.take());
        }
    }
}
