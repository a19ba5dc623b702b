//! The listening engine: the other mode next to polling ([`crate::poll`]). A family that can
//! be heard ([`crate::family::Reach`]) is decoded from what crosses the bus (a JK-PB master
//! polling its slaves) without sending a single byte: one thread per port reads the line
//! (serial, or a tcp:// gateway), feeds a [`Hearer`], and sends the readings, one device per
//! address, through a bounded channel to the one writer, as the poller does.

use crate::exit::Exit;
use crate::io::capture::Capture;
use crate::io::serial::{Link, OpenError};
use crate::ndjson::RecordWriter;
use crate::poll::{Ids, PackPlan};
use crate::proto::hear::{Heard, Hearer};
use crate::record::{Info, Reading, Record};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

/// One port to listen on.
pub struct ListenPlan {
    pub path: String,
    pub baud: u32,
    /// The readings' `source`.
    pub source: &'static str,
    pub hearer: Box<dyn Hearer>,
    /// The addresses to report, with their names; None: every address heard.
    pub wanted: Option<Vec<(u8, Option<String>)>>,
}

/// When to stop.
#[derive(Debug, Clone)]
pub struct ListenSchedule {
    /// Bus cycles to report (a cycle ends when every wanted address was heard, or, without
    /// --address, when an address is heard again); None = until killed.
    pub cycles: Option<u64>,
    /// Without a reading for this long: give up (with `cycles`) or warn (without).
    pub silence: Duration,
}

/// The line is quiet after this long without a byte: held records are settled.
const QUIET: Duration = Duration::from_millis(100);

enum Msg {
    Record(Box<Record>),
    Missed,
}

/// Listens on every port until the schedule ends. Ok when every port was heard to the end,
/// Partial when one went silent (with a cycle count). Exit 75 when a port cannot be opened.
pub fn run(
    ports: Vec<ListenPlan>,
    schedule: ListenSchedule,
    capture: Option<Capture>,
    out: &mut RecordWriter<impl Write>,
) -> anyhow::Result<Exit> {
    let mut opened = Vec::new();
    for p in ports {
        crate::io::serial::check_port(&p.path)?;
        let link = Link::open(&p.path, p.baud, capture.clone()).map_err(OpenError::fatal)?;
        log::info!(
            "{}: {}, listening for {} records (sending nothing)",
            p.path,
            link.settings(),
            p.source
        );
        opened.push((p, link));
    }
    let (tx, rx) = sync_channel::<Msg>(256);
    let ids = Ids::default();
    let mut handles = Vec::new();
    for (plan, link) in opened {
        let tx = tx.clone();
        let schedule = schedule.clone();
        let ids = ids.clone();
        let capture = capture.clone();
        handles.push(
            thread::Builder::new()
                .name(format!("listen {}", plan.path))
                .spawn(move || listen_port(plan, link, schedule, capture, ids, tx))?,
        );
    }
    drop(tx);
    let mut missed = 0u64;
    for msg in rx {
        match msg {
            Msg::Record(r) => out.write(&r)?,
            Msg::Missed => missed += 1,
        }
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(if missed > 0 { Exit::Partial } else { Exit::Ok })
}

struct Port {
    plan: ListenPlan,
    label: String,
    schedule: ListenSchedule,
    ids: Ids,
    tx: SyncSender<Msg>,
    infos: BTreeMap<u8, Info>,
    seen: BTreeSet<u8>,
    cycles: u64,
}

enum Flow {
    Go,
    Stop,
}

impl Port {
    fn name_of(&self, address: u8) -> Option<String> {
        self.plan
            .wanted
            .as_ref()
            .and_then(|w| w.iter().find(|(a, _)| *a == address))
            .and_then(|(_, n)| n.clone())
    }

    fn wants(&self, address: u8) -> bool {
        self.plan
            .wanted
            .as_ref()
            .is_none_or(|w| w.iter().any(|(a, _)| *a == address))
    }

    fn done(&self) -> bool {
        self.schedule.cycles.is_some_and(|n| self.cycles >= n)
    }

    /// Err when the writer is gone.
    fn heard(&mut self, h: Heard) -> Result<Flow, ()> {
        match h {
            Heard::Identity { address, info } => {
                if let Some(serial) = &info.serial {
                    self.ids
                        .claim(serial, &self.plan.path, &self.label, address);
                }
                if self.infos.get(&address) != Some(&info) {
                    log::info!("{} address {address}: {info:?}", self.label);
                }
                self.infos.insert(address, info);
                Ok(Flow::Go)
            }
            Heard::Reading {
                address,
                fields,
                raw,
            } => {
                if !self.wants(address) {
                    return Ok(Flow::Go);
                }
                if self.plan.wanted.is_none() && self.seen.contains(&address) {
                    self.cycles += 1;
                    self.seen.clear();
                    if self.done() {
                        return Ok(Flow::Stop);
                    }
                }
                if self.seen.is_empty() && self.cycles == 0 && self.infos.is_empty() {
                    log::debug!("{}: first record heard", self.label);
                }
                self.seen.insert(address);
                let info = self.infos.get(&address).cloned().unwrap_or_default();
                let plan = PackPlan {
                    address,
                    name: self.name_of(address),
                    index: 0,
                };
                let reading = Reading {
                    ts: Timestamp::now(),
                    source: self.plan.source,
                    device: self.ids.device(&self.label, &plan, &info),
                    fields,
                    info,
                    raw,
                };
                self.tx
                    .send(Msg::Record(Box::new(Record::Reading(reading))))
                    .map_err(drop)?;
                if let Some(w) = &self.plan.wanted {
                    if w.iter().all(|(a, _)| self.seen.contains(a)) {
                        self.cycles += 1;
                        self.seen.clear();
                        if self.done() {
                            return Ok(Flow::Stop);
                        }
                    }
                }
                Ok(Flow::Go)
            }
        }
    }
}

fn listen_port(
    plan: ListenPlan,
    link: Link,
    schedule: ListenSchedule,
    capture: Option<Capture>,
    ids: Ids,
    tx: SyncSender<Msg>,
) {
    let mut port = Port {
        label: link.label.clone(),
        plan,
        schedule,
        ids,
        tx,
        infos: BTreeMap::new(),
        seen: BTreeSet::new(),
        cycles: 0,
    };
    let mut link = Some(link);
    let mut chunk = [0u8; 1024];
    let mut last_heard = Instant::now();
    let mut warned = false;
    let mut quiet_since: Option<Instant> = None;
    loop {
        let Some(l) = link.as_mut() else {
            thread::sleep(Duration::from_millis(500));
            match Link::open(&port.plan.path, port.plan.baud, capture.clone()) {
                Ok(l) => {
                    log::warn!("{}: reopened", port.plan.path);
                    link = Some(l);
                }
                Err(e) => log::debug!("{}: {e}", port.plan.path),
            }
            if port.schedule.cycles.is_some() && last_heard.elapsed() > port.schedule.silence {
                let _ = port.tx.send(Msg::Missed);
                return;
            }
            continue;
        };
        let heard = match l.receive(&mut chunk, QUIET) {
            Ok(0) => {
                log::warn!("{}: the line hung up; reopening", port.plan.path);
                link = None;
                port.plan.hearer.flush()
            }
            Ok(n) => {
                crate::log::trace(&port.label, "<", &chunk[..n]);
                quiet_since = None;
                port.plan.hearer.feed(&chunk[..n])
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                if quiet_since.is_none() {
                    quiet_since = Some(Instant::now());
                    port.plan.hearer.flush()
                } else {
                    Vec::new()
                }
            }
            Err(e) => {
                log::warn!("{}: {e}; reopening", port.plan.path);
                link = None;
                port.plan.hearer.flush()
            }
        };
        for h in heard {
            if matches!(h, Heard::Reading { .. }) {
                last_heard = Instant::now();
                if warned {
                    log::warn!("{}: records heard again", port.label);
                    warned = false;
                }
            }
            match port.heard(h) {
                Ok(Flow::Go) => {}
                Ok(Flow::Stop) | Err(()) => return,
            }
        }
        if last_heard.elapsed() > port.schedule.silence {
            let (records, bad, skipped) = port.plan.hearer.counts();
            let what = format!(
                "no {} reading heard for {} s ({records} record(s), {bad} damaged, {skipped} \
                 byte(s) of other traffic so far): is a bus master (DIP address 0) on the \
                 bus?",
                port.plan.source,
                port.schedule.silence.as_secs()
            );
            if port.schedule.cycles.is_some() {
                log::warn!("{}: {what}", port.plan.path);
                let _ = port.tx.send(Msg::Missed);
                return;
            }
            if !warned {
                log::warn!("{}: {what}", port.plan.path);
                warned = true;
            }
        }
    }
}
