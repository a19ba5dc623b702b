//! readings-bank: a filter that adds power, energy counters and time estimates to every pack
//! reading, and writes the packs of one bus as one battery (a `bank` reading per cycle).
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

use crate::bank::aggregate::{Bank, BankConfig};
use crate::bank::energy::{time_estimate, Counters, Integrator, Step};
use crate::bank::input::{self, Line, Summary};
use crate::bank::state::{OpenError, State, StateFile};
use crate::cli::{duration, Common};
use crate::exit::{unavailable, usage, Exit};
use crate::io::lines::LineReader;
use crate::ndjson::RecordWriter;
use crate::record::{is_device_id, Record, MAX_DEVICE_ID};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  # Energy counters for Home Assistant's Energy dashboard, kept across restarts
  lp4-poll -a 1-4 /dev/ttyUSB0 | readings-bank --state /var/lib/bmstap/bank.json | readings-to-mqtt --host broker

  # What a saved log charged and discharged (integrated over its own timestamps)
  readings-bank < yesterday.ndjson | jq -c 'select(.source == \"bank\") | .fields | {energy_charged_kwh, energy_discharged_kwh}' | tail -1

  # eFlex batteries from a CAN bus, counters saved every 30 s, a bank reading a minute
  eflex-candump-decode --interface can0 | readings-bank --state bank.json --save-every 30s --every 1m

  # Two racks on one bus as two banks
  lp4-poll -a 1-4 /dev/ttyUSB0 | readings-bank --bank top=ttyusb0-1,ttyusb0-2 --bank bottom=ttyusb0-3,ttyusb0-4

  # The bank alone
  lp4-poll -a 1-4 /dev/ttyUSB0 | readings-bank | jq -c 'select(.source == \"bank\") | .fields'

Energy is integrated per device from power = pack_voltage x pack_current over the
readings' ts (trapezoid rule); a gap longer than --max-gap is not bridged; after a ts that
goes backwards (a clock stepped back) integration starts again from it, the step adding
nothing. A reading stamped more than 10 min ahead of this machine's clock passes through
unchanged and changes nothing. The counters never decrease. At most 1024 devices are kept;
one without a reading for 30 days (in the readings' time) is forgotten. Without --state they
start at zero every time. With --state they go on after a restart; after a kill -9 they go
on from the last save, so at most --save-every of integration is lost. time_to_full and
time_to_empty need remaining_ah and capacity_ah and a current above 0.5 A either way.

The bank: after each polling cycle (every online pack has reported since the previous
bank reading) or every --every, one reading with source \"bank\": soc weighted by capacity,
soh (minimum), pack_voltage (mean), pack_current, power, remaining_ah and capacity_ah (sums),
the bank's own energy counters, the lowest and highest cell with the pack that holds it
(cell_lowest_device, cell_lowest), cell_temperature_min/max, packs_online/packs_total and
problem (some pack has a warning, protection or alarm on). A pack is offline after a status
record with an error or after --stale without a reading; offline packs leave the sums. A
reading that has packs_total (a bank master's own system reading, as bms-poll's seplos3
writes) is a whole bank's: it passes through and gets its own counters, but is not a pack.

Exit status: 0 done, 1 some input lines were not records (each reported with its line
number and skipped) or a --bank member never gave a reading (named after two cycles), 2
usage error or unusable state file, 75 the state file is in use by another readings-bank.";

/// Add power, energy counters (kWh charged and discharged, never decreasing) and time
/// estimates to bmstap readings (NDJSON on stdin), and write the packs as one bank; every
/// record passes through in order.
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
    /// Device id of the bank reading (every device in the stream belongs to it)
    #[arg(
        long,
        value_name = "NAME",
        default_value = "bank",
        conflicts_with = "bank"
    )]
    pub name: String,
    /// A bank of its own for these devices (repeatable): NAME=DEV,DEV,...
    #[arg(long, value_name = "NAME=DEV,...", value_parser = bank_spec)]
    pub bank: Vec<(String, Vec<String>)>,
    /// One bank reading per DUR of the readings' time, instead of one per polling cycle
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub every: Option<Duration>,
    /// A pack is offline after DUR without a reading [default: three of its intervals]
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub stale: Option<Duration>,
    /// Only add the per-device fields; write no bank readings
    #[arg(long, conflicts_with_all = ["bank", "every", "stale"])]
    pub no_bank: bool,
    #[command(flatten)]
    pub common: Common,
}

/// Parses `NAME=DEV,DEV,...`.
fn bank_spec(s: &str) -> Result<(String, Vec<String>), String> {
    let (name, devs) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': expected NAME=DEV,DEV,..."))?;
    let devs: Vec<String> = devs
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(String::from)
        .collect();
    for id in std::iter::once(name).chain(devs.iter().map(String::as_str)) {
        if !is_device_id(id) {
            return Err(format!(
                "'{id}' is not a device id (lower-case letters, digits, '_' and '-')"
            ));
        }
    }
    if devs.is_empty() {
        return Err(format!("'{s}': no devices"));
    }
    Ok((name.to_string(), devs))
}

/// Input lines longer than this are skipped (a reading is ~1-2 KiB).
const LINE_CAP: usize = 1024 * 1024;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// A reading stamped more than this ahead of this machine's clock is passed through but
/// neither integrated nor remembered nor counted in the bank (a bad clock, a bad log line).
pub const FUTURE_MS: i64 = 10 * 60 * 1000;
/// A device without a reading for this long (in the readings' own time) is forgotten: its
/// counters leave memory and the state file, and start at zero if it comes back.
pub const FORGET_MS: i64 = 30 * 24 * 3600 * 1000;
/// Devices kept at most; the readings of others pass through without derived fields.
pub const MAX_DEVICES: usize = 1024;
/// Warnings of one kind named one by one; past these they are counted (and the count logged
/// at the end).
const NAMED: u64 = 5;
/// Stale devices are looked for every this many readings (and when the cap is reached).
const PRUNE_EVERY: u64 = 4096;

/// This machine's clock, ms since the epoch.
fn wall_ms() -> i64 {
    crate::time::Timestamp::now().unix_ms
}

/// The filter without its I/O: lines in, lines out, counters kept.
pub struct Filter {
    devices: HashMap<String, Integrator>,
    banks: Vec<Bank>,
    max_gap_ms: i64,
    /// Devices whose readings already carry derived fields (warned once).
    derived: HashSet<String>,
    /// Devices whose readings are a whole bank's (`packs_total`: a Seplos v3 master's system
    /// reading): never packs of a bank, their status records neither (at most
    /// [`MAX_DEVICES`]).
    wholes: HashSet<String>,
    /// Something changed since the last [`Filter::state`].
    pub dirty: bool,
    clock: fn() -> i64,
    /// The newest ts taken (the stream's "now" for forgetting devices).
    newest: Option<i64>,
    /// Readings stamped in the future, and of devices past the cap (or with too long an id).
    pub future: u64,
    pub untracked: u64,
    /// Readings stamped before their device's previous one.
    pub backwards: u64,
    since_prune: u64,
    /// Until the listed bank members are checked: the devices seen so far and how often.
    members_check: Option<HashMap<String, u32>>,
}

/// The listed bank members are checked once a device has reported this many times (two
/// polling cycles after its first), or at the end of input.
const MEMBER_CHECK_READINGS: u32 = 3;

impl Filter {
    /// A filter with `banks` (none: per-device fields only), starting from `state`.
    pub fn new(state: State, max_gap: Duration, banks: Vec<BankConfig>) -> Filter {
        Filter::with_clock(state, max_gap, banks, wall_ms)
    }

    /// [`Filter::new`] with another clock (tests). A state file poisoned by a reading
    /// stamped in the future is healed here: such a "previous sample" is dropped (the
    /// counters stay), so the next reading starts a new interval. More than
    /// [`MAX_DEVICES`] saved devices keep the most recently seen.
    pub fn with_clock(
        mut state: State,
        max_gap: Duration,
        banks: Vec<BankConfig>,
        clock: fn() -> i64,
    ) -> Filter {
        let max_gap_ms = ms(max_gap);
        let limit = clock().saturating_add(FUTURE_MS);
        let mut healed = Vec::new();
        for (name, c) in state.devices.iter_mut().chain(state.banks.iter_mut()) {
            if c.last.is_some_and(|(t, _)| t > limit) {
                c.last = None;
                healed.push(name.clone());
            }
        }
        if !healed.is_empty() {
            log::warn!(
                "state: {} counter(s) last saw a reading stamped in the future ({}); their \
                 next reading starts a new interval",
                healed.len(),
                healed
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if state.devices.len() > MAX_DEVICES {
            let mut by_age: Vec<(i64, String)> = state
                .devices
                .iter()
                .map(|(k, c)| (c.last.map_or(i64::MIN, |(t, _)| t), k.clone()))
                .collect();
            by_age.sort_unstable_by(|a, b| b.cmp(a));
            let dropped = by_age.len() - MAX_DEVICES;
            for (_, k) in by_age.into_iter().skip(MAX_DEVICES) {
                state.devices.remove(&k);
            }
            log::warn!(
                "state: {dropped} device(s) past the cap of {MAX_DEVICES} forgotten (the least \
                 recently seen)"
            );
        }
        let newest = state
            .devices
            .values()
            .filter_map(|c| c.last.map(|(t, _)| t))
            .max();
        let mut saved_banks = state.banks;
        Filter {
            clock,
            newest,
            future: 0,
            untracked: 0,
            backwards: 0,
            since_prune: 0,
            members_check: banks.iter().any(|b| b.members.is_some()).then(HashMap::new),
            banks: banks
                .into_iter()
                .map(|b| {
                    let c = saved_banks.remove(&b.name).unwrap_or_default();
                    Bank::new(b, c, max_gap_ms)
                })
                .collect(),
            devices: state
                .devices
                .into_iter()
                .map(|(k, c)| (k, Integrator::new(c, max_gap_ms)))
                .collect(),
            max_gap_ms,
            derived: HashSet::new(),
            wholes: HashSet::new(),
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
            banks: self
                .banks
                .iter()
                .map(|b| (b.name().to_string(), b.counters().clone()))
                .collect(),
        }
    }

    /// Input line `n` (without its newline): appends what goes out, each record with its
    /// newline, to `out`. `Err` says why the line is not a record; then nothing is appended.
    pub fn line(&mut self, line: &[u8], n: u64, out: &mut Vec<u8>) -> Result<(), String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let text = std::str::from_utf8(line)
            .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
        match input::parse(text)? {
            Line::Reading {
                ts_ms,
                device,
                source,
                fields,
                close,
            } => {
                // A reading stamped in the future passes through and changes nothing.
                if ts_ms > (self.clock)().saturating_add(FUTURE_MS) {
                    self.future += 1;
                    if self.future <= NAMED {
                        log::warn!(
                            "stdin:{n}: {device}: ts is more than {} min ahead of this \
                             machine's clock; passed through, not integrated, not in the bank",
                            FUTURE_MS / 60_000
                        );
                    } else if self.future == NAMED + 1 {
                        log::warn!("more readings stamped in the future; counted only");
                    }
                    out.extend_from_slice(line);
                    out.push(b'\n');
                    return Ok(());
                }
                self.newest = Some(self.newest.map_or(ts_ms, |t| t.max(ts_ms)));
                if fields.whole
                    && !self.wholes.contains(device.as_ref())
                    && self.wholes.len() < MAX_DEVICES
                {
                    self.wholes.insert(device.to_string());
                }
                let pack = source != "bank" && !fields.whole;
                if pack {
                    self.count_for_members(&device);
                }
                if !self.track(&device, n) {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                    return Ok(());
                }
                if fields.derived {
                    if self.derived.insert(device.to_string()) {
                        log::warn!(
                            "stdin:{n}: {device}: the reading already has power or energy fields \
                             (readings-bank twice in a pipeline?); passed through unchanged"
                        );
                    }
                    out.extend_from_slice(line);
                } else {
                    let added = self.integrate(&device, ts_ms, &fields, n);
                    out.extend_from_slice(&line[..close]);
                    if let Some(extra) = added {
                        if fields.any {
                            out.push(b',');
                        }
                        write_derived(out, &extra, &fields);
                    }
                    out.extend_from_slice(&line[close..]);
                }
                out.push(b'\n');
                // Bank readings (ours, an upstream filter's, a bank master's system reading)
                // are not packs of a bank.
                if pack {
                    for b in &mut self.banks {
                        for r in b.reading(&device, ts_ms, &fields) {
                            write_bank(out, r);
                            self.dirty = true;
                        }
                    }
                }
            }
            Line::DeviceError { ts_ms, device } => {
                out.extend_from_slice(line);
                out.push(b'\n');
                let limit = (self.clock)().saturating_add(FUTURE_MS);
                let ts_ms = ts_ms.filter(|&t| t <= limit);
                if device.len() > MAX_DEVICE_ID || self.wholes.contains(&device) {
                    return Ok(());
                }
                for b in &mut self.banks {
                    for r in b.error(&device, ts_ms) {
                        write_bank(out, r);
                        self.dirty = true;
                    }
                }
            }
            Line::Other => {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        Ok(())
    }

    /// Counts a reading of `device` until the listed members are checked.
    fn count_for_members(&mut self, device: &str) {
        let Some(seen) = &mut self.members_check else {
            return;
        };
        let due = if let Some(c) = seen.get_mut(device) {
            *c += 1;
            *c >= MEMBER_CHECK_READINGS
        } else if seen.len() < MAX_DEVICES {
            seen.insert(device.to_string(), 1);
            false
        } else {
            true
        };
        if due {
            self.check_members();
        }
    }

    /// Warns once for each listed bank member that has not appeared (a typo, or a pack the
    /// poller names otherwise), naming the device ids that did. Called after two cycles and
    /// at the end of input; then never again.
    pub fn check_members(&mut self) {
        let Some(seen) = self.members_check.take() else {
            return;
        };
        if seen.is_empty() {
            return;
        }
        let mut ids: Vec<&str> = seen.keys().map(String::as_str).collect();
        ids.sort_unstable();
        let shown = if ids.len() > 12 {
            format!("{}, ... ({} in all)", ids[..12].join(", "), ids.len())
        } else {
            ids.join(", ")
        };
        for b in &self.banks {
            for m in b.members().unwrap_or_default() {
                if !seen.contains_key(m) {
                    log::warn!(
                        "--bank {}: no reading of member '{m}' yet; devices seen: {shown}",
                        b.name()
                    );
                }
            }
        }
    }

    /// Is `device` kept (its counters, its place in the bank)? A known one is; a new one if
    /// there is room, after forgetting devices not seen for [`FORGET_MS`] when needed.
    fn track(&mut self, device: &str, n: u64) -> bool {
        self.since_prune += 1;
        if self.since_prune >= PRUNE_EVERY {
            self.prune();
        }
        if self.devices.contains_key(device) {
            return true;
        }
        if device.len() <= MAX_DEVICE_ID && self.devices.len() >= MAX_DEVICES {
            self.prune();
        }
        if device.len() <= MAX_DEVICE_ID && self.devices.len() < MAX_DEVICES {
            return true;
        }
        self.untracked += 1;
        if self.untracked <= NAMED {
            let why = if device.len() > MAX_DEVICE_ID {
                format!(
                    "a device id of {} characters (at most {MAX_DEVICE_ID})",
                    device.len()
                )
            } else {
                format!("{MAX_DEVICES} devices already (the cap)")
            };
            let head: String = device.chars().take(24).collect();
            log::warn!(
                "stdin:{n}: {head}: {why}; passed through without energy fields, not in the bank"
            );
        } else if self.untracked == NAMED + 1 {
            log::warn!("more readings of devices past the cap; counted only");
        }
        false
    }

    /// Forgets every device whose last reading is [`FORGET_MS`] older than the newest.
    fn prune(&mut self) {
        self.since_prune = 0;
        let Some(newest) = self.newest else { return };
        let cutoff = newest.saturating_sub(FORGET_MS);
        let stale: Vec<String> = self
            .devices
            .iter()
            .filter(|(_, i)| i.counters.last.is_some_and(|(t, _)| t < cutoff))
            .map(|(k, _)| k.clone())
            .collect();
        if stale.is_empty() {
            return;
        }
        for k in &stale {
            self.devices.remove(k);
            for b in &mut self.banks {
                b.forget(k);
            }
        }
        self.dirty = true;
        log::info!(
            "{} device(s) without a reading for {} days forgotten",
            stale.len(),
            FORGET_MS / 86_400_000
        );
    }

    /// Integrates one reading's power; `None` without a voltage and a current.
    fn integrate(
        &mut self,
        device: &str,
        ts_ms: i64,
        f: &Summary,
        n: u64,
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
                "stdin:{n}: {device}: {} s since its previous reading (more than --max-gap): \
                 not integrated",
                ms / 1000
            ),
            Step::Backwards { ms } => {
                self.backwards += 1;
                if self.backwards <= NAMED {
                    log::warn!(
                        "stdin:{n}: {device}: ts is {ms} ms before the previous reading's (a \
                         clock stepped back?); the interval is not integrated, the next starts \
                         here"
                    );
                } else if self.backwards == NAMED + 1 {
                    log::warn!(
                        "more readings stamped before their device's previous; counted only"
                    );
                }
            }
            Step::Invalid => return None,
        }
        self.dirty = true;
        Some((w, integ.counters.clone()))
    }
}

fn write_bank(out: &mut Vec<u8>, r: crate::record::Reading) {
    // Our own record of numbers, booleans and strings: serialising cannot fail.
    if Record::Reading(r).write_json(out).is_ok() {
        out.push(b'\n');
    }
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
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
    if !is_device_id(&args.name) {
        return Err(usage(format!(
            "--name '{}' is not a device id (lower-case letters, digits, '_' and '-')",
            args.name
        )));
    }
    for (i, (name, _)) in args.bank.iter().enumerate() {
        if args.bank[..i].iter().any(|(n, _)| n == name) {
            return Err(usage(format!("--bank {name} given twice")));
        }
    }
    let (file, state) = match &args.state {
        Some(p) => match StateFile::open(p) {
            Ok((f, s)) => (Some(f), s),
            Err(e @ OpenError::Locked { .. }) => return Err(unavailable(e.to_string())),
            Err(OpenError::Io(e)) => return Err(usage(format!("{e:#}"))),
        },
        None => (None, State::default()),
    };
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let banks = if args.no_bank {
        Vec::new()
    } else if args.bank.is_empty() {
        vec![BankConfig {
            name: args.name.clone(),
            members: None,
            every_ms: args.every.map(ms),
            stale_ms: args.stale.map(ms),
        }]
    } else {
        args.bank
            .iter()
            .map(|(name, devs)| BankConfig {
                name: name.clone(),
                members: Some(devs.clone()),
                every_ms: args.every.map(ms),
                stale_ms: args.stale.map(ms),
            })
            .collect()
    };
    let mut filter = Filter::new(state, args.max_gap, banks);
    let mut out = RecordWriter::stdout();
    let mut last_save = Instant::now();
    // Saves if anything changed. The time of the attempt is kept even when it fails, so
    // that a failing disk is tried again after --save-every, not in a loop.
    let save = |filter: &mut Filter, last_save: &mut Instant| -> anyhow::Result<()> {
        *last_save = Instant::now();
        if let Some(f) = &file {
            if filter.dirty {
                f.save(&filter.state())?;
                filter.dirty = false;
                log::debug!("{}: saved", f.path().display());
            }
        }
        Ok(())
    };
    // While running, a failed save is reported and the counters stay in memory (the next
    // save may succeed); only the last one, at exit, decides the exit status.
    let save_now = |filter: &mut Filter, last_save: &mut Instant| {
        if let Err(e) = save(filter, last_save) {
            log::error!("{e:#}; counters kept in memory, trying again in --save-every");
        }
    };
    let result = (|| -> anyhow::Result<u64> {
        let stdin = std::io::stdin();
        let mut lines = LineReader::new(stdin.lock(), LINE_CAP);
        let mut buf = Vec::with_capacity(4096);
        let mut bad = 0u64;
        loop {
            if lines.drained() {
                // A save that is due happens before the output is handed on, so what
                // goes out now is in the file first.
                if filter.dirty && last_save.elapsed() >= args.save_every {
                    save_now(&mut filter, &mut last_save);
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
                    save_now(&mut filter, &mut last_save);
                }
            }
            let (n, line) = match lines.next_line()? {
                Some(x) => x,
                None => break,
            };
            let line = match line {
                Ok(l) => l,
                Err(len) => {
                    bad += 1;
                    crate::io::lines::skipped(
                        "stdin",
                        n,
                        &format_args!("line too long ({len} bytes)"),
                    );
                    continue;
                }
            };
            buf.clear();
            match filter.line(line, n, &mut buf) {
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
                    crate::io::lines::skipped("stdin", n, &why);
                }
            }
        }
        Ok(bad)
    })();
    // Whatever ended the run (end of input, a signal, a closed stdout), the counters are
    // saved.
    filter.check_members();
    let flushed = out.flush();
    let saved = save(&mut filter, &mut last_save);
    if filter.future > NAMED {
        log::warn!(
            "{} reading(s) stamped in the future passed through without energy fields",
            filter.future
        );
    }
    if filter.backwards > NAMED {
        log::warn!(
            "{} reading(s) stamped before their device's previous one",
            filter.backwards
        );
    }
    if filter.untracked > NAMED {
        log::warn!(
            "{} reading(s) of devices past the cap passed through without energy fields",
            filter.untracked
        );
    }
    let bad = result?;
    flushed?;
    saved?;
    // A listed member without a single reading: the bank readings lacked it all along.
    let missing: Vec<String> = filter
        .banks
        .iter()
        .flat_map(|b| b.never_seen().map(move |m| format!("{}: {m}", b.name())))
        .collect();
    if !missing.is_empty() {
        log::warn!("listed bank member(s) never seen: {}", missing.join(", "));
    }
    if bad > 0 {
        log::warn!("{bad} input line(s) skipped");
        return Ok(Exit::Partial);
    }
    if !missing.is_empty() {
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::aggregate::BankConfig;

    fn reading(ts: &str, dev: &str, v: f64, i: f64) -> String {
        format!(
            r#"{{"type":"reading","ts":"{ts}","source":"lp4","device":"{dev}","fields":{{"pack_voltage":{v},"pack_current":{i},"remaining_ah":50,"capacity_ah":100}},"raw":{{"registers":[1,2]}}}}"#
        )
    }

    #[test]
    fn splices_the_derived_fields_into_an_unchanged_line() {
        let mut f = Filter::new(State::default(), Duration::from_secs(300), Vec::new());
        let mut out = Vec::new();
        f.line(
            reading("2026-01-01T00:00:00.000Z", "a", 50.0, 10.0).as_bytes(),
            1,
            &mut out,
        )
        .unwrap();
        f.line(
            reading("2026-01-01T00:00:10.000Z", "a", 50.0, -10.0).as_bytes(),
            2,
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
        let mut f = Filter::new(State::default(), Duration::from_secs(300), Vec::new());
        let mut out = Vec::new();
        let frame = br#"{"type":"frame","kind":"request","address":1,"function":3,"hex":"0103"}"#;
        f.line(frame, 1, &mut out).unwrap();
        let empty = br#"{"type":"reading","ts":"2026-01-01T00:00:00.000Z","source":"x","device":"a","fields":{ }}"#;
        f.line(empty, 2, &mut out).unwrap();
        f.line(b"  ", 3, &mut out).unwrap();
        let mut want = frame.to_vec();
        want.push(b'\n');
        want.extend_from_slice(empty);
        want.push(b'\n');
        assert_eq!(out, want);
        assert!(f.line(b"{\"type\":", 4, &mut out).is_err());
        assert!(f.line(b"\xff", 5, &mut out).is_err());
    }

    const NOW: i64 = 1_790_000_000_000;
    fn fixed_clock() -> i64 {
        NOW
    }

    fn at(ms: i64, dev: &str, v: f64, i: f64) -> String {
        let ts = crate::time::Timestamp { unix_ms: ms };
        format!(
            r#"{{"type":"reading","ts":"{ts}","source":"lp4","device":"{dev}","fields":{{"pack_voltage":{v:?},"pack_current":{i:?}}}}}"#
        )
    }

    fn feed(f: &mut Filter, lines: &[String]) -> String {
        let mut out = Vec::new();
        for (n, l) in lines.iter().enumerate() {
            f.line(l.as_bytes(), n as u64 + 1, &mut out).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    fn bank() -> Vec<BankConfig> {
        vec![BankConfig {
            name: "bank".into(),
            members: None,
            every_ms: None,
            stale_ms: None,
        }]
    }

    /// Issue 19 item 5: one reading stamped 2099 freezes nothing and is not remembered.
    #[test]
    fn a_reading_from_the_future_neither_freezes_nor_poisons() {
        let mut f = Filter::with_clock(
            State::default(),
            Duration::from_secs(300),
            bank(),
            fixed_clock,
        );
        let t = NOW - 3_600_000;
        let out = feed(
            &mut f,
            &[
                at(t, "a", 50.0, 10.0),
                at(4_070_908_800_000, "a", 50.0, 10.0),
                at(t + 10_000, "a", 50.0, 10.0),
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert!(!lines
            .iter()
            .any(|l| l.contains("\"ts\":\"2099") && l.contains("power")));
        assert!(!lines
            .iter()
            .any(|l| l.contains("\"source\":\"bank\"") && l.contains("2099")));
        assert_eq!(f.future, 1);
        let c = &f.state().devices["a"];
        assert_eq!(c.charged_uj, 5_000_000_000, "10 s at 500 W");
        assert!(f.state().devices.values().all(|c| c.last.unwrap().0 < NOW));
        assert!(f
            .state()
            .banks
            .values()
            .all(|c| c.last.is_none_or(|(t, _)| t < NOW)));
    }

    /// A state file saved by an older version after a reading stamped 2099 heals on load.
    #[test]
    fn a_poisoned_state_file_recovers() {
        let mut state = State {
            version: 1,
            ..State::default()
        };
        for name in ["a", "bank"] {
            let c = Counters {
                charged_uj: 7,
                discharged_uj: 0,
                last: Some((4_070_908_800_000, 500_000)),
            };
            state.devices.insert(name.into(), c.clone());
            state.banks.insert(name.into(), c);
        }
        let mut f = Filter::with_clock(state, Duration::from_secs(300), bank(), fixed_clock);
        feed(
            &mut f,
            &[at(NOW, "a", 50.0, 10.0), at(NOW + 10_000, "a", 50.0, 10.0)],
        );
        assert_eq!(f.state().devices["a"].charged_uj, 7 + 5_000_000_000);
    }

    /// A step back re-anchors: the step adds nothing, the next interval is integrated.
    #[test]
    fn after_a_step_back_integration_goes_on() {
        let mut f = Filter::with_clock(
            State::default(),
            Duration::from_secs(300),
            bank(),
            fixed_clock,
        );
        let t = NOW - 7_200_000;
        let out = feed(
            &mut f,
            &[
                at(t + 3_600_000, "a", 50.0, 10.0),
                at(t, "a", 50.0, 10.0),
                at(t + 10_000, "a", 50.0, 10.0),
            ],
        );
        assert_eq!(f.state().devices["a"].charged_uj, 5_000_000_000);
        // The bank's readings never go back in time.
        let mut prev = i64::MIN;
        for l in out.lines().filter(|l| l.contains("\"source\":\"bank\"")) {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let ts = crate::time::parse_rfc3339_ms(v["ts"].as_str().unwrap()).unwrap();
            assert!(ts >= prev, "{out}");
            prev = ts;
        }
    }

    /// Issue 19 item 10: at most MAX_DEVICES devices; devices gone for FORGET_MS are
    /// forgotten and make room.
    #[test]
    fn devices_are_capped_and_forgotten() {
        let mut f = Filter::with_clock(
            State::default(),
            Duration::from_secs(300),
            bank(),
            fixed_clock,
        );
        let t = NOW - FORGET_MS - 86_400_000;
        let old: Vec<String> = (0..MAX_DEVICES + 10)
            .map(|k| at(t, &format!("d{k}"), 50.0, 1.0))
            .collect();
        feed(&mut f, &old);
        assert_eq!(f.state().devices.len(), MAX_DEVICES);
        assert_eq!(f.untracked, 10);
        // Much later, a new device: the old ones are forgotten.
        feed(&mut f, &[at(NOW, "new", 50.0, 1.0)]);
        let s = f.state();
        assert_eq!(
            s.devices.len(),
            1,
            "{:?}",
            s.devices.keys().take(3).collect::<Vec<_>>()
        );
        assert!(s.devices.contains_key("new"));
    }

    /// Packs near f64's limit: the bank leaves power out rather than writing null.
    #[test]
    fn no_power_null() {
        let mut f = Filter::with_clock(
            State::default(),
            Duration::from_secs(300),
            bank(),
            fixed_clock,
        );
        let t = NOW - 60_000;
        let out = feed(
            &mut f,
            &[
                at(t, "a", 1e300, 1.0),
                at(t, "b", 1e300, 1.0),
                at(t + 10_000, "a", 1e300, 1.0),
                at(t + 10_000, "b", 1e300, 1.0),
                at(t + 20_000, "a", 1e300, 1.0),
            ],
        );
        assert!(out.contains("\"source\":\"bank\""), "{out}");
        assert!(!out.contains("null"), "{out}");
    }

    /// A Seplos v3 master's system reading (it has packs_total) is the bank's own, not a
    /// third pack: the bank of two packs counts two, sums two currents, and the system
    /// reading's status record takes no pack offline.
    #[test]
    fn a_bank_masters_system_reading_is_not_a_pack() {
        let mut f = Filter::with_clock(
            State::default(),
            Duration::from_secs(300),
            bank(),
            fixed_clock,
        );
        let t = NOW - 60_000;
        let system = |ms: i64| {
            let ts = crate::time::Timestamp { unix_ms: ms };
            format!(
                r#"{{"type":"reading","ts":"{ts}","source":"seplos3","device":"p-0","fields":{{"pack_voltage":50.0,"pack_current":20.0,"packs_total":2}}}}"#
            )
        };
        let status = |ms: i64| {
            let ts = crate::time::Timestamp { unix_ms: ms };
            format!(
                r#"{{"type":"status","ts":"{ts}","source":"seplos3","device":"p-0","error":"timeout"}}"#
            )
        };
        let mut lines = Vec::new();
        for k in 0..3 {
            let ms = t + k * 10_000;
            lines.push(at(ms, "a", 50.0, 10.0));
            lines.push(at(ms, "b", 50.0, 10.0));
            lines.push(system(ms));
        }
        lines.push(status(t + 30_000));
        lines.push(at(t + 30_000, "a", 50.0, 10.0));
        lines.push(at(t + 30_000, "b", 50.0, 10.0));
        let out = feed(&mut f, &lines);
        let banks: Vec<serde_json::Value> = out
            .lines()
            .filter(|l| l.contains("\"source\":\"bank\""))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(banks.len() >= 2, "{out}");
        for b in &banks {
            assert_eq!(b["fields"]["packs_total"], 2, "{b}");
            assert_eq!(b["fields"]["packs_online"], 2, "{b}");
            assert_eq!(b["fields"]["pack_current"], 20.0, "{b}");
        }
        // The system reading passes through, with its own counters.
        assert!(out
            .lines()
            .any(|l| l.contains("\"device\":\"p-0\"") && l.contains("power")));
    }

    proptest::proptest! {
        /// Any line, or a reading with a byte changed: no panic, and whatever goes out is
        /// one JSON object per line.
        #[test]
        fn any_line_gives_json_or_an_error(
            junk in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            at in 0usize..400,
            byte in proptest::num::u8::ANY,
        ) {
            let mut f = Filter::new(State::default(), Duration::from_secs(300), vec![BankConfig {
                name: "bank".into(), members: None, every_ms: None, stale_ms: None,
            }]);
            // The line reader splits on '\n', so no line the filter gets has one inside.
            proptest::prop_assume!(byte != b'\n');
            let junk: Vec<u8> = junk.into_iter().filter(|&b| b != b'\n').collect();
            let mut good = reading("2026-01-01T00:00:00.000Z", "a", 50.0, 10.0).into_bytes();
            let i = at % good.len();
            good[i] = byte;
            for line in [junk, good] {
                let mut out = Vec::new();
                if f.line(&line, 1, &mut out).is_ok() {
                    for l in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                        let v: serde_json::Value = serde_json::from_slice(l).unwrap();
                        proptest::prop_assert!(v.is_object());
                    }
                }
            }
        }
    }
}
