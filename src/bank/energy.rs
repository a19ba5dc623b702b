//! The energy integrator: one device's charged and discharged energy, integrated from its
//! power over the readings' own timestamps (trapezoid rule), so a saved log integrates to the
//! energy of the hours it covers however fast it is replayed.
//!
//! Sans-I/O: [`Integrator::add`] takes (ts, power) and returns what it did; the tool decides
//! what to log and when to save. Energy is kept in whole microjoules (`u64`): sums of
//! integers are exact (10 A × 50 V for an hour in 10 s steps is exactly 1.8 × 10¹² µJ =
//! 0.5 kWh), the state file round-trips them exactly, and neither counter can go down.
//!
//! ```text
//!  power (W)
//!   p0 ●
//!      │╲          one interval with a sign change: the zero crossing at
//!      │ ╲         tc = dt · p0 / (p0 − p1) splits it; the triangle above the
//!  ────┼──╳─────── axis goes to charged, the one below to discharged
//!      │   ╲
//!      │    ● p1
//!      t0   tc  t1
//! ```

use serde::{Deserialize, Serialize};

/// Microjoules per kWh.
const UJ_PER_KWH: f64 = 3.6e12;

/// What one device has accumulated, and the sample the next interval starts from. This is
/// exactly what the state file keeps per device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Energy charged into the battery, µJ.
    pub charged_uj: u64,
    /// Energy discharged from the battery, µJ.
    pub discharged_uj: u64,
    /// The previous sample: ts (ms since the epoch) and power (mW, an integer so that the
    /// state file round-trips it exactly and a restart integrates as if there were none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<(i64, i64)>,
}

impl Counters {
    /// Charged energy in kWh, rounded to 1 mWh (rounding is monotonic: never decreases).
    pub fn charged_kwh(&self) -> f64 {
        kwh(self.charged_uj)
    }

    /// Discharged energy in kWh, rounded to 1 mWh.
    pub fn discharged_kwh(&self) -> f64 {
        kwh(self.discharged_uj)
    }
}

fn kwh(uj: u64) -> f64 {
    (uj as f64 / UJ_PER_KWH * 1e6).round() / 1e6
}

/// What [`Integrator::add`] did with a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The interval since the previous sample was integrated.
    Added,
    /// The first sample: nothing to integrate yet.
    First,
    /// The gap since the previous sample is longer than the maximum: not bridged.
    Gap { ms: i64 },
    /// The ts is before the previous sample's (a clock stepped back): nothing is added, and
    /// the integrator re-anchors on this sample, so the next interval starts here instead
    /// of every later sample being "before the previous" until the clock catches up.
    Backwards { ms: i64 },
    /// A non-finite power: skipped.
    Invalid,
}

/// Integrates power over time for one device.
#[derive(Debug, Clone)]
pub struct Integrator {
    pub counters: Counters,
    max_gap_ms: i64,
}

impl Integrator {
    /// Starts from saved counters (or [`Counters::default`]); intervals longer than
    /// `max_gap_ms` are not bridged.
    pub fn new(counters: Counters, max_gap_ms: i64) -> Integrator {
        Integrator {
            counters,
            max_gap_ms,
        }
    }

    /// One sample: power `w` (W, + = charging) at `ts_ms`.
    pub fn add(&mut self, ts_ms: i64, w: f64) -> Step {
        if !w.is_finite() || w.abs() > 1e12 {
            return Step::Invalid;
        }
        let mw = (w * 1000.0).round() as i64;
        let Some((t0, p0)) = self.counters.last else {
            self.counters.last = Some((ts_ms, mw));
            return Step::First;
        };
        let dt_ms = ts_ms.saturating_sub(t0);
        if dt_ms < 0 {
            self.counters.last = Some((ts_ms, mw));
            return Step::Backwards {
                ms: dt_ms.saturating_neg(),
            };
        }
        self.counters.last = Some((ts_ms, mw));
        if dt_ms > self.max_gap_ms {
            return Step::Gap { ms: dt_ms };
        }
        let (charged, discharged) = trapezoid(
            p0 as f64 / 1000.0,
            mw as f64 / 1000.0,
            dt_ms as f64 / 1000.0,
        );
        self.counters.charged_uj = self.counters.charged_uj.saturating_add(to_uj(charged));
        self.counters.discharged_uj = self
            .counters
            .discharged_uj
            .saturating_add(to_uj(discharged));
        Step::Added
    }
}

/// Charged and discharged energy (J, both ≥ 0) of one interval of `dt` seconds from power
/// `p0` to `p1`, linear in between.
pub fn trapezoid(p0: f64, p1: f64, dt: f64) -> (f64, f64) {
    if p0 >= 0.0 && p1 >= 0.0 {
        ((p0 + p1) / 2.0 * dt, 0.0)
    } else if p0 <= 0.0 && p1 <= 0.0 {
        (0.0, -(p0 + p1) / 2.0 * dt)
    } else {
        // Opposite signs, so p0 − p1 is not zero.
        let tc = dt * p0 / (p0 - p1);
        let first = p0 * tc / 2.0;
        let second = p1 * (dt - tc) / 2.0;
        if p0 > 0.0 {
            (first, -second)
        } else {
            (second, -first)
        }
    }
}

/// Below this current (A, either way) there is no time estimate.
pub const IDLE_A: f64 = 0.5;

/// `time_to_full` or `time_to_empty` (whole seconds) at current `i` (A), from remaining and
/// full capacity (Ah); `None` when it cannot be estimated.
pub fn time_estimate(
    i: Option<f64>,
    remaining: Option<f64>,
    capacity: Option<f64>,
) -> Option<(&'static str, i64)> {
    let (i, rem, cap) = (i?, remaining?, capacity?);
    // Numbers from the input are finite (input::Summary keeps no others).
    if cap <= 0.0 || rem < 0.0 {
        return None;
    }
    if i > IDLE_A {
        Some((
            "time_to_full",
            ((cap - rem).max(0.0) / i * 3600.0).round() as i64,
        ))
    } else if i < -IDLE_A {
        Some(("time_to_empty", (rem / -i * 3600.0).round() as i64))
    } else {
        None
    }
}

fn to_uj(j: f64) -> u64 {
    // j ≥ 0 and finite by construction; `as` saturates anyway.
    (j * 1e6).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn ten_amps_at_fifty_volts_for_an_hour_is_half_a_kwh() {
        let mut i = Integrator::new(Counters::default(), 300_000);
        let mut t = 1_700_000_000_000;
        assert_eq!(i.add(t, 50.0 * 10.0), Step::First);
        for _ in 0..360 {
            t += 10_000;
            assert_eq!(i.add(t, 50.0 * 10.0), Step::Added);
        }
        assert_eq!(i.counters.charged_kwh(), 0.5);
        assert_eq!(i.counters.charged_uj, 1_800_000_000_000);
        assert_eq!(i.counters.discharged_kwh(), 0.0);
    }

    #[test]
    fn a_sign_change_splits_by_the_trapezoid() {
        // +100 W to −300 W over 40 s: the crossing at 10 s; 500 J charged, 4500 J discharged.
        let mut i = Integrator::new(Counters::default(), 300_000);
        i.add(0, 100.0);
        i.add(40_000, -300.0);
        assert_eq!(i.counters.charged_uj, 500_000_000);
        assert_eq!(i.counters.discharged_uj, 4_500_000_000);
        // And back: −300 W to +300 W over 20 s crosses at 10 s: 1500 J each way.
        i.add(60_000, 300.0);
        assert_eq!(i.counters.charged_uj, 2_000_000_000);
        assert_eq!(i.counters.discharged_uj, 6_000_000_000);
    }

    #[test]
    fn a_gap_beyond_the_maximum_adds_nothing() {
        let mut i = Integrator::new(Counters::default(), 300_000);
        i.add(0, 1000.0);
        assert_eq!(i.add(300_001, 1000.0), Step::Gap { ms: 300_001 });
        assert_eq!(i.counters.charged_uj, 0);
        // The gap's end is the next interval's start.
        assert_eq!(i.add(310_001, 1000.0), Step::Added);
        assert_eq!(i.counters.charged_uj, 10_000_000_000);
        // Exactly the maximum is bridged.
        assert_eq!(i.add(610_001, 0.0), Step::Added);
    }

    /// Issue 19 item 5: after a step back the integrator re-anchors (the step adds nothing)
    /// and goes on, instead of waiting for the clock to pass the old time.
    #[test]
    fn backwards_ts_re_anchors() {
        let mut i = Integrator::new(Counters::default(), HOUR);
        i.add(10_000, 100.0);
        assert_eq!(i.add(5_000, 100.0), Step::Backwards { ms: 5_000 });
        assert_eq!(i.counters.last, Some((5_000, 100_000)));
        assert_eq!(i.counters.charged_uj, 0);
        assert_eq!(i.add(15_000, 100.0), Step::Added);
        assert_eq!(i.counters.charged_uj, 1_000_000_000);
        assert_eq!(i.add(30_000, f64::NAN), Step::Invalid);
        // A sample stamped far away (2099) and then the real time again: one step back,
        // then integration as before.
        let mut i = Integrator::new(Counters::default(), HOUR);
        i.add(0, 100.0);
        assert!(matches!(i.add(4_070_908_800_000, 100.0), Step::Gap { .. }));
        assert!(matches!(i.add(10_000, 100.0), Step::Backwards { .. }));
        assert_eq!(i.add(20_000, 100.0), Step::Added);
        assert_eq!(i.counters.charged_uj, 1_000_000_000);
    }

    #[test]
    fn kwh_rounding_is_exact_and_monotonic() {
        assert_eq!(kwh(1_800_000_000_000), 0.5);
        assert_eq!(kwh(3_600_000), 0.000001);
        let mut prev = 0.0;
        for uj in (0..10_000_000_000u64).step_by(123_456_789) {
            let k = kwh(uj);
            assert!(k >= prev);
            prev = k;
        }
    }

    #[test]
    fn time_estimates() {
        assert_eq!(
            time_estimate(Some(10.0), Some(50.0), Some(100.0)),
            Some(("time_to_full", 18000))
        );
        assert_eq!(
            time_estimate(Some(-25.0), Some(50.0), Some(100.0)),
            Some(("time_to_empty", 7200))
        );
        assert_eq!(time_estimate(Some(0.2), Some(50.0), Some(100.0)), None);
        assert_eq!(time_estimate(Some(5.0), None, Some(100.0)), None);
        assert_eq!(time_estimate(Some(5.0), Some(50.0), Some(0.0)), None);
    }

    proptest! {
        /// Counters never decrease, whatever the samples; splitting a run anywhere and
        /// carrying the counters over (a restart) changes nothing.
        #[test]
        fn never_decreasing_and_split_invariant(
            samples in proptest::collection::vec((-20_000i64..120_000, -5000.0f64..5000.0), 1..60),
            split in 0usize..60,
        ) {
            let mut t = 0i64;
            let samples: Vec<(i64, f64)> = samples.into_iter().map(|(d, p)| { t += d; (t, p) }).collect();
            let mut one = Integrator::new(Counters::default(), 100_000);
            let (mut c, mut d) = (0, 0);
            for &(t, p) in &samples {
                one.add(t, p);
                prop_assert!(one.counters.charged_uj >= c && one.counters.discharged_uj >= d);
                c = one.counters.charged_uj;
                d = one.counters.discharged_uj;
            }
            let split = split.min(samples.len());
            let mut first = Integrator::new(Counters::default(), 100_000);
            for &(t, p) in &samples[..split] { first.add(t, p); }
            let saved = serde_json::to_string(&first.counters).unwrap();
            let mut second = Integrator::new(serde_json::from_str(&saved).unwrap(), 100_000);
            for &(t, p) in &samples[split..] { second.add(t, p); }
            prop_assert_eq!(second.counters.charged_uj, one.counters.charged_uj);
            prop_assert_eq!(second.counters.discharged_uj, one.counters.discharged_uj);
        }
    }
}
