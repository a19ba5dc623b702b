//! readings-bank: a filter that adds power, energy counters and time estimates to every pack
//! reading, and (with the bank, next) writes the packs of one bus as one battery.
//!
//! Every input record goes out unchanged and in order; a reading with a pack voltage and
//! current gains `power`, `energy_charged_kwh`, `energy_discharged_kwh` and, where remaining
//! and full capacity are known and the current is not near zero, `time_to_full` or
//! `time_to_empty`. The fields are spliced into the line before the `fields` object's
//! closing brace, so the rest of the line stays byte for byte as it came.
//!
//! One thread. Output is flushed whenever the input is drained (live pipes see each record
//! at once) and blocks when the consumer is slow (backpressure: nothing is dropped). The
//! state file is saved at most every --save-every, when the input is drained or idle, and
//! at the end, a closed stdout, SIGTERM and SIGINT included.

use crate::bank::energy::{Counters, Integrator, Step};
use crate::bank::input::{self, Line, Summary};
use crate::bank::state::{OpenError, State, StateFile};
use crate::cli::{duration, Common};
use crate::exit::{unavailable, Exit};
use crate::io::lines::LineReader;
use crate::ndjson::RecordWriter;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  # Energy counters for Home Assistant's Energy dashboard, kept across restarts
  lp4-poll -a 1-4 /dev/ttyUSB0 | readings-bank --state /var/lib/bmstap/bank.json | readings-to-mqtt --host broker

  # What a saved log charged and discharged (integrated over its own timestamps)
  readings-bank < yesterday.ndjson | jq -s 'map(select(.type == \"reading\")) | last | .fields'

  # eFlex batteries from a CAN bus, counters saved every 30 s
  eflex-candump-decode --interface can0 | readings-bank --state bank.json --save-every 30s

Energy is integrated per device from power = pack_voltage x pack_current over the
readings' ts (trapezoid rule); a gap longer than --max-gap is not bridged, a ts that goes
backwards is skipped with a warning. The counters never decrease. Without --state they
start at zero every time. With --state they go on after a restart; after a kill -9 they go
on from the last save, so at most --save-every of integration is lost. time_to_full and
time_to_empty need remaining_ah and capacity_ah and a current above 0.5 A either way.

Exit status: 0 done, 1 some input lines were not records (each reported with its line
number and skipped), 2 usage error or unusable state file, 75 the state file is in use by
another readings-bank.";

/// Add power, energy counters (kWh charged and discharged, never decreasing) and time
/// estimates to bmstap readings (NDJSON on stdin); every record passes through in order.
#[derive(Debug, clap::Parser)]
#[command(name = "readings-bank", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    /// Keep the counters in FILE across restarts (without it they start at zero)
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Save the state file at most once per DUR (and always at exit)
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "60s")]
    pub save_every: Duration,
    /// Do not integrate across a gap between two readings of a device longer than DUR
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "5m")]
    pub max_gap: Duration,
    /// Only add the per-device fields; write no bank readings
    #[arg(long)]
    pub no_bank: bool,
    #[command(flatten)]
    pub common: Common,
}

/// Input lines longer than this are skipped (a reading is ~1-2 KiB).
const LINE_CAP: usize = 1024 * 1024;

/// Below this current (A, either way) there is no time estimate.
pub const IDLE_A: f64 = 0.5;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The filter without its I/O: lines in, lines out, counters kept.
pub struct Filter {
    devices: HashMap<String, Integrator>,
    max_gap_ms: i64,
    /// Devices whose readings already carry derived fields (warned once).
    derived: HashMap<String, ()>,
    /// Something changed since the last [`Filter::state`].
    pub dirty: bool,
}

impl Filter {
    pub fn new(state: State, max_gap: Duration) -> Filter {
        let max_gap_ms = max_gap.as_millis().min(i64::MAX as u128) as i64;
        Filter {
            devices: state
                .devices
                .into_iter()
                .map(|(k, c)| (k, Integrator::new(c, max_gap_ms)))
                .collect(),
            max_gap_ms,
            derived: HashMap::new(),
            dirty: false,
        }
    }

    /// The counters to save.
    pub fn state(&self) -> State {
        State {
            version: 1,
            devices: self
                .devices
                .iter()
                .map(|(k, i)| (k.clone(), i.counters.clone()))
                .collect(),
            banks: Default::default(),
        }
    }

    /// One input line (without its newline; `at` names it in warnings): appends what goes
    /// out, each record with its newline, to `out`. `Err` says why the line is not a record;
    /// then nothing is appended.
    pub fn line(&mut self, line: &[u8], at: &str, out: &mut Vec<u8>) -> Result<(), String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let text = std::str::from_utf8(line)
            .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
        match input::parse(text)? {
            Line::Reading {
                ts_ms,
                device,
                fields,
                close,
                ..
            } => {
                if fields.derived {
                    if self.derived.insert(device.to_string(), ()).is_none() {
                        log::warn!(
                            "{at}: {device}: the reading already has power or energy fields \
                             (readings-bank twice in a pipeline?); passed through unchanged"
                        );
                    }
                    out.extend_from_slice(line);
                } else {
                    let added = self.integrate(&device, ts_ms, &fields, at);
                    out.extend_from_slice(&line[..close]);
                    if let Some(extra) = added {
                        if fields.any {
                            out.push(b',');
                        }
                        write_derived(out, &extra, &fields);
                    }
                    out.extend_from_slice(&line[close..]);
                }
            }
            Line::DeviceError { .. } | Line::Other => out.extend_from_slice(line),
        }
        out.push(b'\n');
        Ok(())
    }

    /// Integrates one reading's power; `None` without a voltage and a current.
    fn integrate(
        &mut self,
        device: &str,
        ts_ms: i64,
        f: &Summary,
        at: &str,
    ) -> Option<(f64, Counters)> {
        let (v, i) = (f.pack_voltage?, f.pack_current?);
        let w = v * i;
        let integ = match self.devices.get_mut(device) {
            Some(x) => x,
            None => self
                .devices
                .entry(device.to_string())
                .or_insert_with(|| Integrator::new(Counters::default(), self.max_gap_ms)),
        };
        match integ.add(ts_ms, w) {
            Step::Added | Step::First => {}
            Step::Gap { ms } => log::info!(
                "{at}: {device}: {} s since its previous reading (more than --max-gap): \
                 not integrated",
                ms / 1000
            ),
            Step::Backwards { ms } => log::warn!(
                "{at}: {device}: ts is {ms} ms before the previous reading's; not integrated"
            ),
            Step::Invalid => return None,
        }
        self.dirty = true;
        Some((w, integ.counters.clone()))
    }
}

/// Appends `"power":..,"energy_charged_kwh":..,...` (no leading comma).
fn write_derived(out: &mut Vec<u8>, (w, c): &(f64, Counters), f: &Summary) {
    let num = |out: &mut Vec<u8>, name: &str, v: f64| {
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        // Writing an f64 into a Vec cannot fail (non-finite values become null).
        let _ = serde_json::to_writer(&mut *out, &v);
    };
    num(out, "power", round_to(*w, 100.0));
    out.push(b',');
    num(out, "energy_charged_kwh", c.charged_kwh());
    out.push(b',');
    num(out, "energy_discharged_kwh", c.discharged_kwh());
    if let Some((name, s)) = time_estimate(f.pack_current, f.remaining_ah, f.capacity_ah) {
        out.push(b',');
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(s.to_string().as_bytes());
    }
}

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

pub fn round_to(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

/// Waits until stdin has data (or end of input), a signal, or `deadline`. True if stdin is
/// ready.
fn wait_for_input(deadline: Option<Instant>) -> bool {
    loop {
        if STOP.load(Ordering::SeqCst) {
            return false;
        }
        // Wake at least once a second so that a signal that arrives just before poll() is
        // seen (poll returns EINTR for a signal that arrives during it).
        let mut ms = 1000i64;
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now()).as_millis() as i64;
            if left == 0 {
                return false;
            }
            ms = ms.min(left);
        }
        let mut fds = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut fds, 1, ms as libc::c_int) };
        if r > 0 {
            return true;
        }
        if r < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            // poll itself failed: let the read report it.
            return true;
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    let (file, state) = match &args.state {
        Some(p) => match StateFile::open(p) {
            Ok((f, s)) => (Some(f), s),
            Err(e @ OpenError::Locked { .. }) => return Err(unavailable(e.to_string())),
            Err(OpenError::Io(e)) => return Err(crate::exit::usage(format!("{e:#}"))),
        },
        None => (None, State::default()),
    };
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let mut filter = Filter::new(state, args.max_gap);
    let mut out = RecordWriter::stdout();
    let mut last_save = Instant::now();
    let save = |filter: &mut Filter, last_save: &mut Instant| -> anyhow::Result<()> {
        if let Some(f) = &file {
            if filter.dirty {
                f.save(&filter.state())?;
                filter.dirty = false;
                log::debug!("{}: saved", f.path().display());
            }
        }
        *last_save = Instant::now();
        Ok(())
    };
    let result = (|| -> anyhow::Result<u64> {
        let stdin = std::io::stdin();
        let mut lines = LineReader::new(stdin.lock(), LINE_CAP);
        let mut buf = Vec::with_capacity(4096);
        let mut bad = 0u64;
        loop {
            if lines.drained() {
                // Save before handing the output on, so a consumer never sees a counter
                // that a crash right after could take back.
                if filter.dirty && last_save.elapsed() >= args.save_every {
                    save(&mut filter, &mut last_save)?;
                }
                out.flush()?;
                loop {
                    let deadline =
                        (file.is_some() && filter.dirty).then(|| last_save + args.save_every);
                    if wait_for_input(deadline) {
                        break;
                    }
                    if STOP.load(Ordering::SeqCst) {
                        log::info!("signal: saving and exiting");
                        return Ok(bad);
                    }
                    save(&mut filter, &mut last_save)?;
                }
            }
            let (n, line) = match lines.next_line()? {
                Some(x) => x,
                None => break,
            };
            let at = format!("stdin:{n}");
            let line = match line {
                Ok(l) => l,
                Err(len) => {
                    bad += 1;
                    log::warn!("{at}: line too long ({len} bytes); skipped");
                    continue;
                }
            };
            buf.clear();
            match filter.line(line, &at, &mut buf) {
                Ok(()) => {
                    if let Some(body) = buf.strip_suffix(b"\n") {
                        out.write_with(|b| {
                            b.extend_from_slice(body);
                            Ok(())
                        })?;
                    }
                }
                Err(why) => {
                    bad += 1;
                    log::warn!("{at}: {why}; skipped");
                }
            }
        }
        Ok(bad)
    })();
    // Whatever ended the run (end of input, a signal, a closed stdout), the counters are
    // saved.
    let flushed = out.flush();
    let saved = save(&mut filter, &mut last_save);
    let bad = result?;
    flushed?;
    saved?;
    if bad > 0 {
        log::warn!("{bad} input line(s) skipped");
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(ts: &str, dev: &str, v: f64, i: f64) -> String {
        format!(
            r#"{{"type":"reading","ts":"{ts}","source":"lp4","device":"{dev}","fields":{{"pack_voltage":{v},"pack_current":{i},"remaining_ah":50,"capacity_ah":100}},"raw":{{"registers":[1,2]}}}}"#
        )
    }

    #[test]
    fn splices_the_derived_fields_into_an_unchanged_line() {
        let mut f = Filter::new(State::default(), Duration::from_secs(300));
        let mut out = Vec::new();
        f.line(
            reading("2026-01-01T00:00:00.000Z", "a", 50.0, 10.0).as_bytes(),
            "t:1",
            &mut out,
        )
        .unwrap();
        f.line(
            reading("2026-01-01T00:00:10.000Z", "a", 50.0, -10.0).as_bytes(),
            "t:2",
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"type":"reading","ts":"2026-01-01T00:00:00.000Z","source":"lp4","device":"a","fields":{"pack_voltage":50,"pack_current":10,"remaining_ah":50,"capacity_ah":100,"power":500.0,"energy_charged_kwh":0.0,"energy_discharged_kwh":0.0,"time_to_full":18000},"raw":{"registers":[1,2]}}"#
        );
        // 500 W to −500 W over 10 s: 1250 J each way = 0.000347 kWh.
        assert!(lines[1].contains(r#""power":-500.0,"energy_charged_kwh":0.000347,"energy_discharged_kwh":0.000347,"time_to_empty":18000}"#), "{}", lines[1]);
    }

    #[test]
    fn empty_fields_and_other_records() {
        let mut f = Filter::new(State::default(), Duration::from_secs(300));
        let mut out = Vec::new();
        let frame = br#"{"type":"frame","kind":"request","address":1,"function":3,"hex":"0103"}"#;
        f.line(frame, "t:1", &mut out).unwrap();
        let empty = br#"{"type":"reading","ts":"2026-01-01T00:00:00.000Z","source":"x","device":"a","fields":{ }}"#;
        f.line(empty, "t:2", &mut out).unwrap();
        f.line(b"  ", "t:3", &mut out).unwrap();
        let mut want = frame.to_vec();
        want.push(b'\n');
        want.extend_from_slice(empty);
        want.push(b'\n');
        assert_eq!(out, want);
        assert!(f.line(b"{\"type\":", "t:4", &mut out).is_err());
        assert!(f.line(b"\xff", "t:5", &mut out).is_err());
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
}
