//! The poll engine shared by the bus-master tools (lp4-poll, eg4-7e-query).
//!
//! One thread per port; the packs on a port are polled in turn with a gap between requests;
//! cycles start every `interval` (start to start). Records go through a bounded channel to
//! the one writer on the main thread, so a slow reader of stdout slows the pollers down
//! instead of losing or reordering records.
//!
//! A port that fails (unplugged adapter, simulator restarted, a gateway that went away) is
//! closed and reopened with backoff while the other ports carry on; each pack's and port's failures are logged through
//! an [`ErrorLog`] (first, on change, hourly, "recovered after N failed cycles").

use crate::errlog::ErrorLog;
use crate::exit::Exit;
use crate::io::capture::Capture;
use crate::io::serial::{Link, LinkError, OpenError, Step};
use crate::ndjson::RecordWriter;
use crate::proto::codec::{Codec, Judge, Read, Request};
use crate::record::{device_id, Fields, Info, Reading, Record, StatusRecord};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A decoded status read.
pub struct Polled {
    pub fields: Fields,
    pub raw: serde_json::Map<String, serde_json::Value>,
}

/// What a group read gives: per device address, its reading or why there is none.
pub type GroupPolled = Vec<(u8, Result<Polled, String>)>;

/// What a protocol must do for the engine. `pack` indexes the port's pack list.
pub trait Driver: Send {
    /// The reading's `source`.
    fn source(&self) -> &'static str;
    /// Reads a pack's identity, once per connection. `Ok(None)`: the pack has none to give.
    fn identify(
        &mut self,
        link: &mut Link,
        pack: &PackPlan,
        timeout: Duration,
    ) -> Result<Option<Info>, LinkError>;
    /// One status read.
    fn read(
        &mut self,
        link: &mut Link,
        pack: &PackPlan,
        timeout: Duration,
    ) -> Result<Polled, LinkError>;
    /// The port was reopened: what was learnt about the devices on it is forgotten.
    fn reconnected(&mut self) {}
    /// The reads of one cycle over the port's packs (see [`Codec::reads`]): one
    /// [`Driver::read`] per pack by default.
    fn reads(&self, packs: &[PackPlan]) -> Vec<Read> {
        packs.iter().map(|p| Read::single(p.address)).collect()
    }
    /// One group read (a read of [`Driver::reads`] with `group` set): per device, its
    /// reading or why there is none.
    fn read_group(
        &mut self,
        _link: &mut Link,
        _read: &Read,
        _timeout: Duration,
    ) -> Result<GroupPolled, LinkError> {
        Err(LinkError::Reply("this protocol has no group read".into()))
    }
}

/// One pack on a port.
#[derive(Debug, Clone)]
pub struct PackPlan {
    pub address: u8,
    /// User-given device id.
    pub name: Option<String>,
    /// Index into the driver's own per-pack settings.
    pub index: usize,
}

/// One port and its packs.
pub struct PortPlan {
    pub path: String,
    pub baud: u32,
    pub packs: Vec<PackPlan>,
    pub driver: Box<dyn Driver>,
}

/// When and how to poll.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Cycles to run; None = until killed.
    pub cycles: Option<u64>,
    pub interval: Duration,
    pub gap: Duration,
    pub timeout: Duration,
    /// Identity reads on connect.
    pub identify: bool,
    /// Status records for packs that did not answer.
    pub emit_errors: bool,
}

enum Msg {
    Record(Box<Record>),
    /// A pack missed a cycle.
    Missed,
}

/// Polls every port until the schedule ends; returns Ok (all answered every time) or
/// Partial. Fails with exit 75 when a port cannot be opened at the start.
pub fn run(
    ports: Vec<PortPlan>,
    schedule: Schedule,
    capture: Option<Capture>,
    out: &mut RecordWriter<impl Write>,
) -> anyhow::Result<Exit> {
    for p in &ports {
        crate::io::serial::check_port(&p.path)?;
    }
    let mut opened = Vec::with_capacity(ports.len());
    for p in ports {
        let link = Link::open(&p.path, p.baud, capture.clone()).map_err(OpenError::fatal)?;
        log::info!("{}: {}, {} pack(s)", p.path, link.settings(), p.packs.len());
        opened.push((p, link));
    }
    let (tx, rx) = sync_channel::<Msg>(256);
    let ids = Ids::default();
    let start = Arc::new(Barrier::new(opened.len()));
    let mut handles = Vec::new();
    for (plan, link) in opened {
        let tx = tx.clone();
        let schedule = schedule.clone();
        let capture = capture.clone();
        let name = format!("poll {}", plan.path);
        handles.push(thread::Builder::new().name(name).spawn({
            let ids = ids.clone();
            let start = Arc::clone(&start);
            move || PortWorker::new(plan, link, schedule, capture, tx, ids, start).run()
        })?);
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
    if missed > 0 {
        log::warn!("{missed} pack read(s) failed");
        Ok(Exit::Partial)
    } else {
        Ok(Exit::Ok)
    }
}

#[derive(PartialEq)]
enum Identity {
    Pending,
    Known,
    None,
}

struct PackState {
    plan: PackPlan,
    info: Info,
    identity: Identity,
    errors: ErrorLog,
    /// Only a group read answers for it (a bank's system reading), the user did not list it.
    extra: bool,
    /// Reads of an extra device that failed before it ever answered on this connection.
    unanswered: u32,
}

/// An extra device that fails this many reads in a row before it ever answers is not asked
/// again until the port is reopened (a bank without a master answering for it).
const EXTRA_TRIES: u32 = 3;

impl PackState {
    /// An extra device that never answered on this connection: its failures are not a
    /// pack's (no status record, no failed read), only logged.
    fn tentative(&self) -> bool {
        self.extra && self.unanswered != u32::MAX
    }

    fn given_up(&self) -> bool {
        self.tentative() && self.unanswered >= EXTRA_TRIES
    }
}

struct PortWorker {
    path: String,
    label: String,
    baud: u32,
    link: Option<Link>,
    packs: Vec<PackState>,
    /// The reads of a cycle (the driver's plan over the packs).
    reads: Vec<Read>,
    driver: Box<dyn Driver>,
    schedule: Schedule,
    capture: Option<Capture>,
    tx: SyncSender<Msg>,
    port_errors: ErrorLog,
    retry_at: Instant,
    backoff: Duration,
    /// Device ids across every port: packs reporting one serial are told apart.
    ids: Ids,
    /// The wrong-protocol hint was given (once per port).
    hinted: bool,
    /// Identities were just read before the first cycle: that cycle does not ask again.
    identified: bool,
    /// Every worker has read its identities: no reading goes out before ids are settled.
    start: Arc<Barrier>,
}

const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

impl PortWorker {
    fn new(
        plan: PortPlan,
        link: Link,
        schedule: Schedule,
        capture: Option<Capture>,
        tx: SyncSender<Msg>,
        ids: Ids,
        start: Arc<Barrier>,
    ) -> Self {
        let identity = if schedule.identify {
            Identity::Pending
        } else {
            Identity::None
        };
        let reads = plan.driver.reads(&plan.packs);
        let mut packs: Vec<PackState> = plan
            .packs
            .into_iter()
            .map(|p| PackState {
                plan: p,
                info: Info::default(),
                identity: if identity == Identity::Pending {
                    Identity::Pending
                } else {
                    Identity::None
                },
                errors: ErrorLog::default(),
                extra: false,
                unanswered: 0,
            })
            .collect();
        // A device that only a group read answers for (a bank's system reading): a device of
        // its own, without an identity read.
        for read in &reads {
            for &address in &read.devices {
                if packs.iter().all(|p| p.plan.address != address) {
                    let index = packs.len();
                    packs.push(PackState {
                        plan: PackPlan {
                            address,
                            name: None,
                            index,
                        },
                        info: Info::default(),
                        identity: Identity::None,
                        errors: ErrorLog::default(),
                        extra: true,
                        unanswered: 0,
                    });
                }
            }
        }
        PortWorker {
            label: link.label.clone(),
            path: plan.path,
            baud: plan.baud,
            link: Some(link),
            packs,
            reads,
            driver: plan.driver,
            schedule,
            capture,
            tx,
            port_errors: ErrorLog::default(),
            retry_at: Instant::now(),
            backoff: BACKOFF_MIN,
            ids,
            hinted: false,
            identified: false,
            start,
        }
    }

    fn run(mut self) {
        let settled = self.identify_pending();
        self.identified = true;
        self.start.wait();
        if settled.is_err() {
            return;
        }
        let mut cycle = 0u64;
        loop {
            if self.schedule.cycles.is_some_and(|n| cycle >= n) {
                return;
            }
            cycle += 1;
            let start = Instant::now();
            if self.cycle().is_err() {
                return; // the writer is gone: stdout closed
            }
            if self.schedule.cycles.is_some_and(|n| cycle >= n) {
                return;
            }
            let next = start + self.schedule.interval;
            let now = Instant::now();
            if next > now {
                thread::sleep(next - now);
            } else {
                log::debug!(
                    "{}: cycle took {} ms, longer than the interval",
                    self.label,
                    (now - start).as_millis()
                );
            }
        }
    }

    /// Reads the identity of every pack that needs one (once per connection), before any
    /// reading, so that every device id is settled from the first reading on. Err only when
    /// the record channel is closed.
    fn identify_pending(&mut self) -> Result<bool, ()> {
        let mut asked = false;
        for i in 0..self.packs.len() {
            if self.packs[i].identity != Identity::Pending {
                continue;
            }
            let Some(link) = self.link.as_mut() else {
                return Ok(asked);
            };
            if asked {
                thread::sleep(self.schedule.gap);
            }
            asked = true;
            let pack = &mut self.packs[i];
            match self
                .driver
                .identify(link, &pack.plan, self.schedule.timeout)
            {
                Ok(Some(info)) => {
                    log::info!(
                        "{} address {}: {}",
                        self.label,
                        pack.plan.address,
                        describe(&info)
                    );
                    if let Some(serial) = &info.serial {
                        self.ids
                            .claim(serial, &self.path, &self.label, pack.plan.address);
                    }
                    pack.info = info;
                    pack.identity = Identity::Known;
                }
                Ok(None) => pack.identity = Identity::None,
                Err(LinkError::Io(e)) => {
                    self.lost(&e.to_string());
                    let why = self.port_down();
                    self.missed(i, &why)?;
                }
                Err(e) => log::debug!(
                    "{} address {}: identity: {e}",
                    self.label,
                    pack.plan.address
                ),
            }
        }
        Ok(asked)
    }

    /// One pass over the port's packs. Err only when the record channel is closed.
    fn cycle(&mut self) -> Result<(), ()> {
        if self.link.is_none() && Instant::now() >= self.retry_at {
            self.reopen();
        }
        // The first cycle's identities were read before the start (see `run`).
        let asked = if std::mem::take(&mut self.identified) {
            false
        } else {
            self.identify_pending()?
        };
        let mut first = !asked;
        for r in 0..self.reads.len() {
            let read = self.reads[r].clone();
            let members: Vec<usize> = read
                .devices
                .iter()
                .filter_map(|&a| self.packs.iter().position(|p| p.plan.address == a))
                .collect();
            if !members.is_empty() && members.iter().all(|&i| self.packs[i].given_up()) {
                continue;
            }
            if self.link.is_none() {
                let why = self.port_down();
                for &i in &members {
                    self.missed(i, &why)?;
                }
                continue;
            }
            if !first {
                thread::sleep(self.schedule.gap);
            }
            first = false;
            let Some(link) = self.link.as_mut() else {
                continue;
            };
            let result = if read.group {
                self.driver.read_group(link, &read, self.schedule.timeout)
            } else {
                let Some(&i) = members.first() else { continue };
                self.driver
                    .read(link, &self.packs[i].plan, self.schedule.timeout)
                    .map(|polled| vec![(read.address, Ok(polled))])
            };
            match result {
                Ok(mut got) => {
                    for &i in &members {
                        let address = self.packs[i].plan.address;
                        match got.iter().position(|(a, _)| *a == address) {
                            Some(k) => match got.swap_remove(k).1 {
                                Ok(polled) => self.emit(i, polled)?,
                                Err(why) => self.missed(i, &why)?,
                            },
                            None => self.missed(
                                i,
                                &format!("not in the group reply of address {}", read.address),
                            )?,
                        }
                    }
                }
                Err(LinkError::Io(e)) => {
                    self.lost(&e.to_string());
                    let why = self.port_down();
                    for &i in &members {
                        self.missed(i, &why)?;
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    let hint = self.link.as_ref().and_then(|l| {
                        crate::family::recognize(l.last_received(), self.driver.source())
                    });
                    match hint {
                        Some(h) if !self.hinted => {
                            self.hinted = true;
                            log::warn!("{}: {h}", self.path);
                        }
                        _ => {}
                    }
                    for &i in &members {
                        self.missed(i, &why)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A pack's reading goes out. Err only when the record channel is closed.
    fn emit(&mut self, i: usize, polled: Polled) -> Result<(), ()> {
        let pack = &mut self.packs[i];
        if pack.extra {
            pack.unanswered = u32::MAX; // it answers: from now on a device like any other
        }
        if let Some(msg) = pack.errors.ok() {
            log::warn!("{} address {}: {msg}", self.label, pack.plan.address);
        }
        // The port has recovered only once something was read through it.
        if let Some(msg) = self.port_errors.ok() {
            log::warn!("{}: reopened, {msg}", self.path);
        }
        let reading = Reading {
            ts: Timestamp::now(),
            source: self.driver.source(),
            device: self.ids.device(&self.label, &pack.plan, &pack.info),
            fields: polled.fields,
            info: pack.info.clone(),
            raw: polled.raw,
        };
        self.tx
            .send(Msg::Record(Box::new(Record::Reading(reading))))
            .map_err(drop)
    }

    /// What a pack's status says while its port is down: one message whatever the port's
    /// error (the port's own log line has the detail), so a flapping port is logged by the
    /// port, not by each pack at every change.
    fn port_down(&self) -> String {
        format!("port {} unavailable", self.path)
    }

    fn missed(&mut self, i: usize, why: &str) -> Result<(), ()> {
        let pack = &mut self.packs[i];
        if pack.tentative() {
            pack.unanswered += 1;
            if pack.unanswered == EXTRA_TRIES {
                log::info!(
                    "{} address {}: no answer in {EXTRA_TRIES} reads ({why}); not asked again \
                     until the port is reopened",
                    self.label,
                    pack.plan.address
                );
            } else {
                log::debug!("{} address {}: {why}", self.label, pack.plan.address);
            }
            return Ok(());
        }
        if let Some(line) = pack.errors.fail(why, Instant::now()) {
            log::warn!("{} address {}: {line}", self.label, pack.plan.address);
        }
        if self.schedule.emit_errors {
            let status = StatusRecord {
                ts: Timestamp::now(),
                source: self.driver.source(),
                device: self.ids.device(&self.label, &pack.plan, &pack.info),
                error: Some(why.to_string()),
                stats: None,
            };
            self.tx
                .send(Msg::Record(Box::new(Record::Status(status))))
                .map_err(drop)?;
        }
        if self.schedule.cycles.is_some() {
            self.tx.send(Msg::Missed).map_err(drop)?;
        }
        Ok(())
    }

    fn lost(&mut self, why: &str) {
        self.link = None;
        if let Some(line) = self
            .port_errors
            .fail(&format!("port lost: {why}"), Instant::now())
        {
            log::warn!("{}: {line}; reopening", self.path);
        }
        self.backoff = BACKOFF_MIN;
        self.retry_at = Instant::now() + self.backoff;
    }

    fn reopen(&mut self) {
        match Link::open(&self.path, self.baud, self.capture.clone()) {
            Ok(link) => {
                self.link = Some(link);
                self.backoff = BACKOFF_MIN;
                if self.port_errors.is_failing() {
                    log::info!("{}: reopened", self.path);
                }
                for p in &mut self.packs {
                    if p.identity == Identity::Known {
                        p.identity = Identity::Pending;
                    }
                    if p.extra {
                        p.unanswered = 0;
                    }
                }
                self.driver.reconnected();
            }
            Err(e) => {
                if let Some(line) = self.port_errors.fail(&e.to_string(), Instant::now()) {
                    log::warn!("{line}; retrying");
                }
                self.retry_at = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// The link's step for a codec's judgement.
pub fn step(j: Judge) -> Step<Vec<u8>> {
    match j {
        Judge::More => Step::More,
        Judge::Settle => Step::Settle,
        Judge::Done(r) => Step::Done(r),
    }
}

/// Sends one request of a codec and returns its answer.
pub fn exchange(
    link: &mut Link,
    codec: &dyn Codec,
    address: u8,
    req: &Request,
    prior: &[Option<Vec<u8>>],
    timeout: Duration,
) -> Result<Vec<u8>, LinkError> {
    link.transact(&req.bytes, timeout, |buf, last| {
        step(codec.judge(address, req, prior, buf, last))
    })
}

/// Runs a codec's requests in turn, `pause` before each after the first. A failed optional
/// request leaves None; a failed required one ends the read (a line failure always does).
pub fn run_requests(
    link: &mut Link,
    codec: &dyn Codec,
    address: u8,
    requests: &[Request],
    timeout: Duration,
    pause: Duration,
) -> Result<Vec<Option<Vec<u8>>>, LinkError> {
    run_requests_skipping(
        link,
        codec,
        address,
        requests,
        timeout,
        pause,
        &mut Vec::new(),
    )
}

/// [`run_requests`], leaving out the optional requests in `unsupported` (None without
/// sending them) and adding to it each optional request the device says it does not support
/// ([`Codec::unsupported`]), so it is not sent again (until the caller forgets the list).
pub fn run_requests_skipping(
    link: &mut Link,
    codec: &dyn Codec,
    address: u8,
    requests: &[Request],
    timeout: Duration,
    pause: Duration,
    unsupported: &mut Vec<Vec<u8>>,
) -> Result<Vec<Option<Vec<u8>>>, LinkError> {
    let mut answers: Vec<Option<Vec<u8>>> = Vec::with_capacity(requests.len());
    let mut sent = 0;
    for req in requests {
        if !req.required && unsupported.contains(&req.bytes) {
            answers.push(None);
            continue;
        }
        if sent > 0 && !pause.is_zero() {
            thread::sleep(pause);
        }
        sent += 1;
        match exchange(link, codec, address, req, &answers, timeout) {
            Ok(a) => answers.push(Some(a)),
            Err(LinkError::Io(e)) => return Err(LinkError::Io(e)),
            Err(e) if req.required => return Err(e),
            Err(LinkError::Reply(e)) if codec.unsupported(&e) => {
                log::info!(
                    "{} address {address}: {e}; not asked again until the port is reopened",
                    link.label
                );
                unsupported.push(req.bytes.clone());
                answers.push(None);
            }
            Err(e) => {
                log::debug!(
                    "{} address {address}: request {:#04x}: {e}",
                    link.label,
                    req.what
                );
                answers.push(None);
            }
        }
    }
    Ok(answers)
}

/// The engine's driver for any family's [`Codec`].
pub struct CodecDriver {
    pub source: &'static str,
    pub codec: Box<dyn Codec>,
    /// Pause between the requests of one read (some BMS need a breath between them).
    pub pause: Duration,
    /// Per address, the optional requests the device said it does not support (RTN 04):
    /// not sent again until the port is reopened.
    pub unsupported: BTreeMap<u8, Vec<Vec<u8>>>,
    /// Per address, the settings read with the identity ([`Codec::identity_fields`]), added to
    /// every reading; replaced when the identity is read again after a reconnect.
    pub settings: BTreeMap<u8, Fields>,
}

impl CodecDriver {
    /// Adds the settings read with `address`'s identity (if any) to its fields: a device read
    /// by a group read gets its own, like one read alone.
    fn add_settings(&self, address: u8, fields: &mut Fields) {
        for (name, value) in self
            .settings
            .get(&address)
            .into_iter()
            .flat_map(Fields::iter)
        {
            fields.set(name.to_string(), value.clone());
        }
    }

    pub fn new(source: &'static str, codec: Box<dyn Codec>, pause: Duration) -> CodecDriver {
        CodecDriver {
            source,
            codec,
            pause,
            unsupported: BTreeMap::new(),
            settings: BTreeMap::new(),
        }
    }
}

impl Driver for CodecDriver {
    fn source(&self) -> &'static str {
        self.source
    }

    fn identify(
        &mut self,
        link: &mut Link,
        pack: &PackPlan,
        timeout: Duration,
    ) -> Result<Option<Info>, LinkError> {
        let requests = self.codec.identity(pack.address);
        if requests.is_empty() {
            return Ok(None);
        }
        let answers = run_requests_skipping(
            link,
            self.codec.as_ref(),
            pack.address,
            &requests,
            timeout,
            self.pause,
            self.unsupported.entry(pack.address).or_default(),
        )?;
        let settings = self.codec.identity_fields(pack.address, &answers);
        self.settings.insert(pack.address, settings);
        Ok(self.codec.decode_identity(pack.address, &answers))
    }

    fn read(
        &mut self,
        link: &mut Link,
        pack: &PackPlan,
        timeout: Duration,
    ) -> Result<Polled, LinkError> {
        let requests = self.codec.status(pack.address);
        let answers = run_requests_skipping(
            link,
            self.codec.as_ref(),
            pack.address,
            &requests,
            timeout,
            self.pause,
            self.unsupported.entry(pack.address).or_default(),
        )?;
        let mut d = self
            .codec
            .decode(pack.address, &answers)
            .map_err(LinkError::Reply)?;
        self.add_settings(pack.address, &mut d.fields);
        Ok(Polled {
            fields: d.fields,
            raw: d.raw,
        })
    }

    fn reconnected(&mut self) {
        self.unsupported.clear();
    }

    fn reads(&self, packs: &[PackPlan]) -> Vec<Read> {
        let addresses: Vec<u8> = packs.iter().map(|p| p.address).collect();
        self.codec.reads(&addresses)
    }

    fn read_group(
        &mut self,
        link: &mut Link,
        read: &Read,
        timeout: Duration,
    ) -> Result<GroupPolled, LinkError> {
        let requests = self.codec.group_status(read);
        let answers = run_requests_skipping(
            link,
            self.codec.as_ref(),
            read.address,
            &requests,
            timeout,
            self.pause,
            self.unsupported.entry(read.address).or_default(),
        )?;
        Ok(self
            .codec
            .decode_group(read, &answers)
            .into_iter()
            .map(|(a, d)| {
                let polled = d.map(|mut d| {
                    self.add_settings(a, &mut d.fields);
                    Polled {
                        fields: d.fields,
                        raw: d.raw,
                    }
                });
                (a, polled)
            })
            .collect())
    }
}

/// The packs of every port by the serial they report. Real packs can share a serial (a
/// LifePower4 carries its build date there, so packs made the same day collide): each id must
/// still be unique per (port, address), so a serial reported by two packs gets the address
/// appended (and the port too when they are on different ports), for both packs alike.
#[derive(Debug, Clone, Default)]
pub struct Ids(Arc<Mutex<BTreeMap<String, Vec<Owner>>>>);

/// A pack that reports a serial: its port's path and label, and its address.
type Owner = (String, String, u8);

impl Ids {
    /// Records that the pack at `address` on `path` reports `serial`; warns once when a
    /// second pack reports the same one.
    pub fn claim(&self, serial: &str, path: &str, label: &str, address: u8) {
        let Ok(mut map) = self.0.lock() else { return };
        let owners = map.entry(device_id(serial)).or_default();
        if owners.iter().any(|(p, _, a)| p == path && *a == address) {
            return;
        }
        owners.push((path.to_string(), label.to_string(), address));
        if owners.len() == 2 {
            let (p0, _, a0) = &owners[0];
            log::warn!(
                "serial {serial} is reported by two packs ({p0} address {a0} and {path} address \
                 {address}): their device ids get the address appended"
            );
        }
    }

    /// The device id: the user's name, else the serial number (with the address, and the port
    /// when needed, where packs share it), else `<port>-<address>`.
    pub fn device(&self, port_label: &str, plan: &PackPlan, info: &Info) -> String {
        if let (None, Some(serial)) = (&plan.name, &info.serial) {
            let id = device_id(serial);
            let shared = self.0.lock().ok().and_then(|map| {
                let owners = map.get(&id)?;
                (owners.len() > 1).then(|| owners.iter().all(|(p, ..)| *p == owners[0].0))
            });
            match shared {
                Some(true) => return device_id(&format!("{id}-{}", plan.address)),
                Some(false) => return device_id(&format!("{id}-{port_label}-{}", plan.address)),
                None => {}
            }
        }
        device_name(port_label, plan, info)
    }
}

/// The device id: the user's name, else the serial number, else `<port>-<address>`.
pub fn device_name(port_label: &str, plan: &PackPlan, info: &Info) -> String {
    if let Some(n) = &plan.name {
        return n.clone();
    }
    if let Some(s) = &info.serial {
        return device_id(s);
    }
    device_id(&format!("{port_label}-{}", plan.address))
}

fn describe(info: &Info) -> String {
    let parts: Vec<String> = [
        ("model", &info.model),
        ("firmware", &info.firmware),
        ("serial", &info.serial),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
    .collect();
    parts.join(", ")
}
