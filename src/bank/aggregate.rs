//! The bank aggregator: several packs on one bus seen as one battery.
//!
//! Sans-I/O: a plain struct fed with each pack's reading summary ([`Bank::reading`]) and
//! each "did not answer" status ([`Bank::error`]); it returns the bank readings to write.
//! Its clock is the readings' own `ts`, so a log replayed at any speed gives the same bank
//! readings as the live stream did.
//!
//! When a bank reading is due: after each cycle, i.e. once every online pack has reported
//! since the previous bank reading, or when a pack reports a second time before the cycle
//! closed (some pack is late: the cycle is written as it stands), or, with `every`, once per
//! that much stream time. Until the first cycle is known (a pack reports a second time, or
//! every listed member has reported) nothing is written, so the bank does not start with
//! one pack of four.
//!
//! A pack is offline after a status record with an error, or when it has not reported for
//! `stale` (default three of its own intervals). Offline packs count in `packs_total` only.

use super::energy::{time_estimate, Counters, Integrator};
use super::input::Summary;
use crate::record::{Fields, Info, Reading, Value};
use crate::time::Timestamp;
use std::collections::HashMap;

/// How one bank is made up and paced.
#[derive(Debug, Clone)]
pub struct BankConfig {
    /// The bank's device id.
    pub name: String,
    /// Its packs, if listed (`--bank NAME=DEV,...`); `None`: every device that reports.
    pub members: Option<Vec<String>>,
    /// A bank reading per this much stream time instead of per cycle.
    pub every_ms: Option<i64>,
    /// A pack is offline after this long without a reading (default: three intervals).
    pub stale_ms: Option<i64>,
}

#[derive(Debug, Clone)]
struct Pack {
    name: String,
    last: Option<(i64, Summary)>,
    interval_ms: Option<i64>,
    errored: bool,
    reported: bool,
    /// Online at the previous bank reading (for the log).
    was_online: bool,
}

/// One bank.
#[derive(Debug, Clone)]
pub struct Bank {
    cfg: BankConfig,
    packs: Vec<Pack>,
    index: HashMap<String, usize>,
    learning: bool,
    cycle_ts: Option<i64>,
    last_emit: Option<i64>,
    /// The ts of the latest bank reading: the next one is never stamped earlier.
    last_ts: Option<i64>,
    energy: Integrator,
}

/// Packs one bank keeps at most (no real bank has more than a few dozen); the readings of
/// others pass by it (readings-bank warns).
pub const MAX_PACKS: usize = 1024;

impl Bank {
    pub fn new(cfg: BankConfig, counters: Counters, max_gap_ms: i64) -> Bank {
        let mut bank = Bank {
            packs: Vec::new(),
            index: HashMap::new(),
            learning: true,
            cycle_ts: None,
            last_emit: None,
            last_ts: None,
            energy: Integrator::new(counters, max_gap_ms),
            cfg,
        };
        for m in bank.cfg.members.clone().unwrap_or_default() {
            bank.add_pack(&m);
        }
        bank
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Its listed packs (`--bank NAME=DEV,...`), if listed.
    pub fn members(&self) -> Option<&[String]> {
        self.cfg.members.as_deref()
    }

    /// Listed packs that never gave a reading.
    pub fn never_seen(&self) -> impl Iterator<Item = &str> {
        self.packs
            .iter()
            .filter(|p| self.cfg.members.is_some() && p.last.is_none())
            .map(|p| p.name.as_str())
    }

    /// The bank's own energy counters (for the state file).
    pub fn counters(&self) -> &Counters {
        &self.energy.counters
    }

    /// Does `device` belong to this bank?
    pub fn has(&self, device: &str) -> bool {
        self.cfg.members.is_none() || self.index.contains_key(device)
    }

    /// Would a reading of `device` be taken (a member, or room for one more pack)?
    pub fn takes(&self, device: &str) -> bool {
        self.has(device) && (self.index.contains_key(device) || self.packs.len() < MAX_PACKS)
    }

    /// Forgets a pack that is not a listed member (readings-bank forgets devices not seen
    /// for a long time).
    pub fn forget(&mut self, device: &str) {
        if self.cfg.members.is_some() {
            return;
        }
        if let Some(i) = self.index.remove(device) {
            self.packs.remove(i);
            for (k, p) in self.packs.iter().enumerate() {
                self.index.insert(p.name.clone(), k);
            }
        }
    }

    fn add_pack(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.packs.push(Pack {
            name: name.to_string(),
            last: None,
            interval_ms: None,
            errored: false,
            reported: false,
            was_online: false,
        });
        self.index.insert(name.to_string(), self.packs.len() - 1);
        self.packs.len() - 1
    }

    /// A pack's reading at `ts_ms`; returns the bank readings now due (usually none or one).
    pub fn reading(&mut self, device: &str, ts_ms: i64, s: &Summary) -> Vec<Reading> {
        let mut out = Vec::new();
        if !self.takes(device) {
            return out;
        }
        let i = match self.index.get(device) {
            Some(&i) => i,
            None => self.add_pack(device),
        };
        let cycles = self.cfg.every_ms.is_none();
        if cycles && self.packs[i].reported {
            // A second report before the cycle closed: write the cycle as it stands.
            let at = self.cycle_ts.unwrap_or(ts_ms);
            out.push(self.emit(at));
            self.learning = false;
        }
        let was_online = self.online(i, ts_ms);
        let p = &mut self.packs[i];
        if let Some((t, _)) = p.last {
            if ts_ms > t && was_online {
                p.interval_ms = Some(ts_ms - t);
            }
        }
        p.last = Some((ts_ms, s.clone()));
        p.errored = false;
        p.reported = true;
        self.cycle_ts = Some(self.cycle_ts.map_or(ts_ms, |c| c.max(ts_ms)));
        if self.learning
            && self.cfg.members.is_some()
            && self.packs.iter().all(|p| p.last.is_some())
        {
            self.learning = false;
        }
        match self.cfg.every_ms {
            Some(every) => match self.last_emit {
                // The first, or the clock stepped back: the next period starts here.
                None => self.last_emit = Some(ts_ms),
                Some(last) if ts_ms < last => self.last_emit = Some(ts_ms),
                Some(last) if ts_ms - last >= every => {
                    out.push(self.emit(ts_ms));
                    self.last_emit = Some(ts_ms);
                }
                Some(_) => {}
            },
            None => {
                if !self.learning && self.complete(ts_ms) {
                    // The cycle's newest ts: packs a little out of step never make the bank
                    // reading older than one of its packs' readings.
                    let at = self.cycle_ts.unwrap_or(ts_ms);
                    out.push(self.emit(at));
                }
            }
        }
        out
    }

    /// A status record with an error for `device`: the pack is offline until it reports
    /// again. Returns the bank reading now due, if its absence closes the cycle.
    pub fn error(&mut self, device: &str, ts_ms: Option<i64>) -> Vec<Reading> {
        let mut out = Vec::new();
        if !self.takes(device) {
            return out;
        }
        let i = match self.index.get(device) {
            Some(&i) => i,
            None => self.add_pack(device),
        };
        self.packs[i].errored = true;
        let now = ts_ms.or(self.cycle_ts);
        if let (None, Some(now)) = (self.cfg.every_ms, now) {
            if !self.learning && self.complete(now) {
                out.push(self.emit(now));
            }
        }
        out
    }

    /// Every online pack has reported since the last bank reading (and some pack has).
    fn complete(&self, now: i64) -> bool {
        let mut any = false;
        for i in 0..self.packs.len() {
            if self.packs[i].reported {
                any = true;
            } else if self.online(i, now) {
                return false;
            }
        }
        any
    }

    fn stale_ms(&self, i: usize) -> Option<i64> {
        if let Some(s) = self.cfg.stale_ms {
            return Some(s);
        }
        let own = self.packs[i].interval_ms;
        let typical = || self.packs.iter().filter_map(|p| p.interval_ms).max();
        own.or_else(typical).map(|iv| iv.saturating_mul(3))
    }

    fn online(&self, i: usize, now: i64) -> bool {
        let p = &self.packs[i];
        let Some((t, _)) = p.last else { return false };
        if p.errored {
            return false;
        }
        self.stale_ms(i).is_none_or(|s| now - t <= s)
    }

    /// The bank reading at `now`, from every online pack's latest values.
    fn emit(&mut self, now: i64) -> Reading {
        // The energy follows the readings' own time (it re-anchors after a step back); the
        // bank reading's ts never goes back.
        let at = self.last_ts.map_or(now, |l| l.max(now));
        self.last_ts = Some(at);
        let online: Vec<usize> = (0..self.packs.len())
            .filter(|&i| self.online(i, now))
            .collect();
        for i in 0..self.packs.len() {
            let on = online.contains(&i);
            let p = &self.packs[i];
            if p.was_online && !on {
                let why = if p.errored {
                    "it reported an error".to_string()
                } else {
                    let ago = p.last.as_ref().map_or(0, |(t, _)| now - t) / 1000;
                    format!("no reading for {ago} s")
                };
                log::warn!("bank {}: pack {} offline ({why})", self.cfg.name, p.name);
            } else if !p.was_online && on && p.interval_ms.is_some() {
                log::info!("bank {}: pack {} online", self.cfg.name, p.name);
            }
        }
        for (i, p) in self.packs.iter_mut().enumerate() {
            p.was_online = online.contains(&i);
            p.reported = false;
        }
        self.cycle_ts = None;
        let s: Vec<(&str, &Summary)> = online
            .iter()
            .filter_map(|&i| {
                let p = &self.packs[i];
                p.last.as_ref().map(|(_, s)| (p.name.as_str(), s))
            })
            .collect();
        let mut f = Fields::new();
        let all = |get: fn(&Summary) -> Option<f64>| -> Option<Vec<f64>> {
            if s.is_empty() {
                return None;
            }
            s.iter().map(|(_, x)| get(x)).collect()
        };
        let soc = all(|x| x.soc);
        let caps = all(|x| x.capacity_ah).filter(|c| c.iter().all(|&c| c > 0.0));
        if let Some(soc) = &soc {
            let v = match &caps {
                Some(c) => {
                    soc.iter().zip(c).map(|(s, c)| s * c).sum::<f64>() / c.iter().sum::<f64>()
                }
                None => soc.iter().sum::<f64>() / soc.len() as f64,
            };
            float(&mut f, "soc", round(v, 10.0));
        }
        let sohs: Vec<f64> = s.iter().filter_map(|(_, x)| x.soh).collect();
        if let Some(m) = sohs.iter().copied().reduce(f64::min) {
            float(&mut f, "soh", m);
        }
        let volts: Vec<f64> = s.iter().filter_map(|(_, x)| x.pack_voltage).collect();
        if !volts.is_empty() {
            float(
                &mut f,
                "pack_voltage",
                round(volts.iter().sum::<f64>() / volts.len() as f64, 100.0),
            );
        }
        let current = all(|x| x.pack_current).map(|c| c.iter().sum::<f64>());
        if let Some(c) = current {
            float(&mut f, "pack_current", round(c, 100.0));
        }
        let power = all(|x| Some(x.pack_voltage? * x.pack_current?)).map(|p| p.iter().sum());
        if let Some(w) = power {
            float(&mut f, "power", round(w, 100.0));
        }
        let remaining = all(|x| x.remaining_ah).map(|r| r.iter().sum::<f64>());
        let capacity = caps.map(|c| c.iter().sum::<f64>());
        if let Some(r) = remaining {
            float(&mut f, "remaining_ah", round(r, 100.0));
        }
        if let Some(c) = capacity {
            float(&mut f, "capacity_ah", round(c, 100.0));
        }
        // The bank's own counters, from its power (0 W while no pack is online).
        self.energy.add(now, power.unwrap_or(0.0));
        float(
            &mut f,
            "energy_charged_kwh",
            self.energy.counters.charged_kwh(),
        );
        float(
            &mut f,
            "energy_discharged_kwh",
            self.energy.counters.discharged_kwh(),
        );
        if let Some((name, secs)) = time_estimate(current, remaining, capacity) {
            f.int(name, secs);
        }
        let pick =
            |get: fn(&Summary) -> Option<f64>, idx: fn(&Summary) -> Option<f64>, low: bool| {
                let mut best: Option<(f64, &str, Option<f64>)> = None;
                for (name, x) in &s {
                    if let Some(v) = get(x) {
                        if best.is_none_or(|(b, _, _)| if low { v < b } else { v > b }) {
                            best = Some((v, name, idx(x)));
                        }
                    }
                }
                best
            };
        let lo = pick(|x| x.cell_voltage_min, |x| x.cell_lowest, true);
        let hi = pick(|x| x.cell_voltage_max, |x| x.cell_highest, false);
        if let Some((v, dev, cell)) = lo {
            float(&mut f, "cell_voltage_min", v);
            f.set("cell_lowest_device", Value::Text(dev.to_string()));
            if let Some(c) = cell {
                f.int("cell_lowest", c as i64);
            }
        }
        if let Some((v, dev, cell)) = hi {
            float(&mut f, "cell_voltage_max", v);
            f.set("cell_highest_device", Value::Text(dev.to_string()));
            if let Some(c) = cell {
                f.int("cell_highest", c as i64);
            }
        }
        if let (Some((a, _, _)), Some((b, _, _))) = (lo, hi) {
            f.int("cell_voltage_delta_mv", ((b - a) * 1000.0).round() as i64);
        }
        let tmin = s
            .iter()
            .filter_map(|(_, x)| x.temperature_min)
            .reduce(f64::min);
        let tmax = s
            .iter()
            .filter_map(|(_, x)| x.temperature_max)
            .reduce(f64::max);
        if let (Some(a), Some(b)) = (tmin, tmax) {
            float(&mut f, "cell_temperature_min", a);
            float(&mut f, "cell_temperature_max", b);
        }
        f.int("packs_online", s.len() as i64);
        f.int("packs_total", self.packs.len() as i64);
        f.bool("problem", s.iter().any(|(_, x)| x.problem));
        f.set("problems", Value::Text(problem_list(&s)));
        Reading {
            ts: Timestamp { unix_ms: at },
            source: "bank",
            device: self.cfg.name.clone(),
            fields: f,
            info: Info {
                manufacturer: Some("bmstap".into()),
                model: Some("Battery bank".into()),
                ..Info::default()
            },
            raw: Default::default(),
        }
    }
}

/// The online packs' active problems, each named with its pack ("sim-t-02: warning cell
/// over-voltage, ..."), or "none"; cut to the length of a Home Assistant state.
fn problem_list(packs: &[(&str, &Summary)]) -> String {
    let mut list = String::new();
    for (dev, x) in packs {
        for k in &x.problems {
            if !list.is_empty() {
                list.push_str(", ");
            }
            list.push_str(dev);
            list.push_str(": ");
            list.push_str(&crate::ha::problem_name(k));
            if list.chars().count() > crate::ha::MAX_STATE {
                let cut: String = list.chars().take(crate::ha::MAX_STATE - 1).collect();
                return cut + "…";
            }
        }
    }
    if list.is_empty() {
        "none".into()
    } else {
        list
    }
}

/// Sets a number field, or leaves it out when it is not finite (sums of numbers near f64's
/// limit): a bank reading never has `"power":null`.
fn float(f: &mut Fields, name: &'static str, v: f64) {
    if v.is_finite() {
        f.float(name, v);
    }
}

fn round(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(soc: f64, cap: f64, cell_min: f64, cell_lo: f64, current: f64) -> Summary {
        Summary {
            any: true,
            pack_voltage: Some(53.0),
            pack_current: Some(current),
            soc: Some(soc),
            soh: Some(100.0),
            remaining_ah: Some(soc * cap / 100.0),
            capacity_ah: Some(cap),
            cell_voltage_min: Some(cell_min),
            cell_voltage_max: Some(3.35),
            cell_lowest: Some(cell_lo),
            cell_highest: Some(1.0),
            temperature_min: Some(20.0),
            temperature_max: Some(24.0),
            problem: false,
            problems: Vec::new(),
            derived: false,
            whole: false,
        }
    }

    fn num(r: &Reading, k: &str) -> f64 {
        match r.fields.get(k) {
            Some(Value::Float(x)) => *x,
            Some(Value::Int(n)) => *n as f64,
            other => panic!("{k}: {other:?}"),
        }
    }

    fn text<'a>(r: &'a Reading, k: &str) -> &'a str {
        match r.fields.get(k) {
            Some(Value::Text(t)) => t,
            other => panic!("{k}: {other:?}"),
        }
    }

    /// Four packs polled every 10 s; p3 silent in cycles 5 to 12, back in 13.
    #[test]
    fn four_packs_one_silent_and_back() {
        let cfg = BankConfig {
            name: "bank".into(),
            members: None,
            every_ms: None,
            stale_ms: None,
        };
        let mut bank = Bank::new(cfg, Counters::default(), 300_000);
        let packs = [
            ("p1", pack(50.0, 100.0, 3.30, 2.0, 10.0)),
            ("p2", pack(60.0, 100.0, 3.10, 7.0, 10.0)),
            ("p3", pack(80.0, 200.0, 3.25, 4.0, 20.0)),
            ("p4", pack(20.0, 50.0, 3.28, 9.0, 5.0)),
        ];
        let mut out = Vec::new();
        for c in 0..20i64 {
            for (i, (name, s)) in packs.iter().enumerate() {
                if *name == "p3" && (5..13).contains(&c) {
                    continue;
                }
                for r in bank.reading(name, c * 10_000 + i as i64 * 100, s) {
                    out.push(r);
                }
            }
        }
        let online: Vec<i64> = out.iter().map(|r| num(r, "packs_online") as i64).collect();
        // Cycle 0 is learnt; from then on one bank reading per cycle. p3 counts until it is
        // three intervals late, then not; and again once it is back.
        assert_eq!(
            online,
            vec![4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4]
        );
        assert!(out.iter().all(|r| num(r, "packs_total") == 4.0));
        let full = &out[1];
        // (50·100 + 60·100 + 80·200 + 20·50) / 450 = 62.2
        assert_eq!(num(full, "soc"), 62.2);
        assert_eq!(num(full, "capacity_ah"), 450.0);
        assert_eq!(num(full, "remaining_ah"), 280.0);
        assert_eq!(num(full, "pack_current"), 45.0);
        assert_eq!(num(full, "power"), 2385.0);
        assert_eq!(num(full, "pack_voltage"), 53.0);
        assert_eq!(num(full, "cell_voltage_min"), 3.10);
        assert_eq!(text(full, "cell_lowest_device"), "p2");
        assert_eq!(num(full, "cell_lowest"), 7.0);
        assert_eq!(num(full, "cell_voltage_delta_mv"), 250.0);
        assert_eq!(
            num(full, "time_to_full"),
            (170.0f64 / 45.0 * 3600.0).round()
        );
        let three = &out[7];
        // Without p3: (5000 + 6000 + 1000) / 250 = 48.0
        assert_eq!(num(three, "soc"), 48.0);
        assert_eq!(num(three, "capacity_ah"), 250.0);
        assert_eq!(num(three, "pack_current"), 25.0);
        assert_eq!(out[7].ts.unix_ms, 70_300);
        // Cycle timestamps never go back and the bank's counters never decrease.
        for w in out.windows(2) {
            assert!(w[1].ts >= w[0].ts);
            assert!(num(&w[1], "energy_charged_kwh") >= num(&w[0], "energy_charged_kwh"));
        }
        assert!(num(out.last().unwrap(), "energy_charged_kwh") > 0.0);
    }

    #[test]
    fn listed_members_errors_and_every() {
        let cfg = BankConfig {
            name: "rack".into(),
            members: Some(vec!["a".into(), "b".into()]),
            every_ms: None,
            stale_ms: Some(60_000),
        };
        let mut bank = Bank::new(cfg, Counters::default(), 300_000);
        let s = pack(50.0, 100.0, 3.2, 1.0, -4.0);
        assert!(bank.reading("other", 0, &s).is_empty());
        assert!(bank.reading("a", 0, &s).is_empty(), "b not seen yet");
        let r = bank.reading("b", 100, &s);
        assert_eq!(r.len(), 1);
        assert_eq!(num(&r[0], "packs_online"), 2.0);
        assert!(bank.reading("a", 10_000, &s).is_empty());
        // b does not answer: that closes the cycle without it.
        let r = bank.error("b", Some(10_100));
        assert_eq!(num(&r[0], "packs_online"), 1.0);
        assert_eq!(num(&r[0], "packs_total"), 2.0);
        assert!(r[0].fields.get("time_to_empty").is_some());

        let cfg = BankConfig {
            name: "bank".into(),
            members: None,
            every_ms: Some(30_000),
            stale_ms: None,
        };
        let mut bank = Bank::new(cfg, Counters::default(), 300_000);
        let mut n = 0;
        for t in 0..20 {
            n += bank.reading("a", t * 5_000, &s).len();
        }
        assert_eq!(n, 3, "at 30, 60 and 90 s");
    }

    /// The bank's list names each online pack's active problems after its id, in the
    /// catalogue's entity names, and is cut to a Home Assistant state.
    #[test]
    fn the_problem_list_names_the_packs() {
        let mut a = pack(50.0, 100.0, 3.3, 1.0, 1.0);
        let b = pack(50.0, 100.0, 3.3, 1.0, 1.0);
        assert_eq!(problem_list(&[("p1", &a), ("p2", &b)]), "none");
        a.problem = true;
        a.problems = vec!["warning_cell_ov".into(), "protection_mos_ot".into()];
        let mut c = b.clone();
        c.problems = vec!["alarm_new_thing".into()];
        assert_eq!(
            problem_list(&[("p1", &a), ("p2", &b), ("p3", &c)]),
            "p1: warning cell over-voltage, p1: protection MOSFET over-temperature, p3: alarm new thing"
        );
        c.problems = (0..40).map(|i| format!("warning_number_{i}")).collect();
        let long = problem_list(&[("pack-with-a-long-name", &c)]);
        assert_eq!(long.chars().count(), crate::ha::MAX_STATE);
        assert!(long.ends_with('…'));
    }
}
