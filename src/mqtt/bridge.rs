//! The readings-to-MQTT bridge as a state machine: no threads, no sockets, no clock.
//!
//! Events in: a record read ([`Bridge::record`]), the broker connected ([`Bridge::connected`])
//! or lost ([`Bridge::disconnected`]), a message acknowledged ([`Bridge::acked`]), the end of
//! input ([`Bridge::end_of_input`]), Home Assistant restarted ([`Bridge::announce_again`]); time
//! passes through the `now` the driver hands in. What to send comes out of
//! [`Bridge::poll_transmit`], one message at a time, and [`Bridge::wants_input`] tells the driver
//! whether to read on (backpressure).
//!
//! Two delivery rules (readings.md, Delivery):
//! - **the JSON topic** (`--json-topic` without `--array-every`) is a per-reading stream: every
//!   reading is queued in input order and stays held until the broker acknowledges it (QoS 1)
//!   or it was written to the connection (QoS 0). A lost connection puts the unacknowledged
//!   ones back at the head of the queue, so nothing overtakes an older reading. While
//!   connected nothing is dropped: [`CONNECTED_WINDOW`] readings held stop the reader. While
//!   the broker is away the queue is bounded (`--queue` readings and [`QUEUE_BYTES`]); past that the oldest are
//!   dropped and counted.
//! - **state topics** are latest-wins: a device's state not yet handed on when its next reading
//!   arrives is replaced (counted as superseded); a device's states go out at most every
//!   [`STATE_SPACING`]. While the JSON topic has a backlog, one due
//!   state goes out after every [`STATES_EVERY`] readings, so states keep moving during a replay.
//!
//! What a reading can make is bounded, so that no message outgrows the connection: a device
//! id has at most [`MAX_DEVICE_ID`] characters, an array field at most [`MAX_ITEMS`] items,
//! a reading at most [`MAX_KEYS`] state keys (a reading past these is skipped as bad). A
//! message larger than the maximum packet ([`Config::max_packet`]) is refused before it is
//! queued or handed on: named in [`Bridge::take_note`] and counted as refused (exit 1), and
//! the rest flows. A broker that closes the connection three times in a row right after the
//! same message was handed on (mosquitto's `max_packet_size`) teaches the bridge its limit:
//! from then on messages of that size or more are refused too ([`MIN_LEARNT_PACKET`] is the
//! least it learns).

use super::head::{Head, Shape};
use crate::ha::{self, DeviceInfo, Topics};
use crate::record::is_device_id;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::ops::Bound;
use std::time::{Duration, Instant};

/// The largest MQTT packet the client sends (and takes): a message that would make a larger
/// one is refused before it is queued.
pub const MAX_PACKET: usize = 1 << 20;
/// The smallest broker limit the bridge learns from connections closed on the same message
/// (below that, a flaky broker could teach it to refuse ordinary readings).
pub const MIN_LEARNT_PACKET: usize = 16 * 1024;
/// Consecutive connections lost right after the same message that make it the broker's limit.
pub const STRIKES: u32 = 3;
/// The longest device id taken (readings.md's ids are short: a name, a serial, a port).
pub const MAX_DEVICE_ID: usize = crate::record::MAX_DEVICE_ID;
/// The most items of one array field (cells, temperatures) taken from a reading.
pub const MAX_ITEMS: usize = 128;
/// The most state keys (fields, array items counted one by one) taken from a reading.
pub const MAX_KEYS: usize = 1024;
/// The longest field name taken from a reading.
pub const MAX_FIELD_NAME: usize = 64;
/// Refusals named in full; past these they are only counted.
const NOTES_NAMED: u64 = 10;
/// Readings held for the JSON topic by default (`--queue`).
pub const DEFAULT_QUEUE: usize = 50_000;
/// Bytes of readings held for the JSON topic at most, whatever `--queue` says.
pub const QUEUE_BYTES: usize = 64 << 20;
/// Under a backlog of the JSON topic, one due state goes out after this many readings.
pub const STATES_EVERY: u32 = 16;
/// A device's states go out at most this often (the newest; the others are superseded), so
/// a replay does not double its messages with states nobody sees. A poller's cycle is longer.
pub const STATE_SPACING: Duration = Duration::from_millis(100);
/// While connected, the reader waits once this many readings are held (or `--queue`, if
/// smaller): enough to keep the connection busy, and memory flat whatever the input size.
/// The rest of `--queue` is for when the broker is away.
pub const CONNECTED_WINDOW: usize = 1000;

/// What the bridge publishes and how.
#[derive(Debug, Clone)]
pub struct Config {
    pub topics: Topics,
    /// Home Assistant discovery on.
    pub discovery: bool,
    /// Fixed expiry; else 3× the observed interval, at least 60 s.
    pub expire_after: Option<Duration>,
    /// A device's state at most once per this.
    pub min_interval: Option<Duration>,
    /// The per-reading topic (or the array topic with `array_every`).
    pub json_topic: Option<String>,
    /// Publish one array of every device's newest reading this often instead.
    pub array_every: Option<Duration>,
    /// Readings held for the JSON topic at most while the broker is away.
    pub queue: usize,
    /// Bytes of readings held at most while the broker is away.
    pub queue_bytes: usize,
    /// The largest packet a message may make ([`MAX_PACKET`]); lowered when the broker is
    /// seen to refuse smaller ones.
    pub max_packet: usize,
}

impl Config {
    /// Discovery on, no JSON topic, the default queue.
    pub fn new(topics: Topics) -> Config {
        Config {
            topics,
            discovery: true,
            expire_after: None,
            min_interval: None,
            json_topic: None,
            array_every: None,
            queue: DEFAULT_QUEUE,
            queue_bytes: QUEUE_BYTES,
            max_packet: MAX_PACKET,
        }
    }
}

/// One message to publish. `id` is acknowledged back through [`Bridge::acked`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub id: u64,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// Counters for `-v` and `--stats`; they never go down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records taken from the input (good or bad).
    pub records: u64,
    /// Readings the broker acknowledged on the JSON topic.
    pub json_published: u64,
    /// State messages the broker acknowledged.
    pub states_published: u64,
    /// States replaced by a newer reading before they could be sent.
    pub states_superseded: u64,
    /// Readings dropped from a full queue while the broker was away.
    pub dropped: u64,
    /// Input lines skipped as bad.
    pub bad: u64,
    /// Messages refused because they are larger than the maximum packet.
    pub refused: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "records_read={} json_published={} states_published={} states_superseded={} \
             readings_dropped={} bad_lines={} messages_refused={}",
            self.records,
            self.json_published,
            self.states_published,
            self.states_superseded,
            self.dropped,
            self.bad,
            self.refused
        )
    }
}

/// A reading waiting for the JSON topic.
struct Queued {
    line: Box<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    State,
    Other,
}

#[derive(Default)]
struct Device {
    source: String,
    info: DeviceInfo,
    keys: Vec<ha::Key>,
    expire: u64,
    announced: bool,
    state: Option<Vec<u8>>,
    state_dirty: bool,
    not_before: Option<Instant>,
    available: Option<bool>,
    avail_dirty: bool,
    last_seen: Option<Instant>,
    interval: Option<Duration>,
    /// The newest reading as read, for --array-every.
    latest: Option<String>,
    /// The newest reading's line, and whether its state, keys and description are still to
    /// be worked out from it.
    raw: Option<String>,
    fresh: bool,
}

/// The bridge; see the module documentation.
pub struct Bridge {
    cfg: Config,
    devices: BTreeMap<String, Device>,
    connected: bool,
    /// `online` on the bridge availability topic is due.
    birth: bool,
    /// `offline` on the bridge availability topic is due (a clean end), and whether it was
    /// asked for already.
    farewell: bool,
    said_farewell: bool,
    /// Empty retained messages that clear a removed device.
    removals: VecDeque<String>,
    queue: VecDeque<Queued>,
    /// Readings handed on and not acknowledged yet, oldest first.
    inflight: VecDeque<(u64, Queued)>,
    /// Bytes held in `queue` and `inflight`.
    held_bytes: usize,
    /// Other messages handed on and not acknowledged yet.
    others: HashMap<u64, Sent>,
    next_id: u64,
    since_state: u32,
    /// The device whose state went out last (states take turns).
    state_cursor: Option<String>,
    next_array: Option<Instant>,
    stats: Stats,
    /// Refusals to report (the first [`NOTES_NAMED`], then one saying the rest are counted).
    notes: VecDeque<String>,
    /// The largest message (packet size, topic) handed on since the last acknowledgement.
    since_ack: Option<(usize, String)>,
    /// The message suspected of making the broker close the connection, and how many times
    /// in a row it was.
    suspect: Option<((usize, String), u32)>,
}

impl Bridge {
    pub fn new(cfg: Config) -> Bridge {
        Bridge {
            cfg,
            devices: BTreeMap::new(),
            connected: false,
            birth: false,
            farewell: false,
            said_farewell: false,
            removals: VecDeque::new(),
            queue: VecDeque::new(),
            inflight: VecDeque::new(),
            held_bytes: 0,
            others: HashMap::new(),
            next_id: 1,
            since_state: 0,
            state_cursor: None,
            next_array: None,
            stats: Stats::default(),
            notes: VecDeque::new(),
            since_ack: None,
            suspect: None,
        }
    }

    /// The size of the MQTT PUBLISH packet of `topic` and `payload` (at most: the fixed header
    /// with the longest remaining length, the topic length and a packet id).
    pub fn packet_size(topic: &str, payload: usize) -> usize {
        5 + 2 + topic.len() + 2 + payload
    }

    fn fits(&self, topic: &str, payload: usize) -> bool {
        Self::packet_size(topic, payload) <= self.cfg.max_packet
    }

    /// A message refused: counted, and named unless many were already.
    fn refuse(&mut self, what: String) {
        self.stats.refused += 1;
        if self.stats.refused <= NOTES_NAMED {
            self.notes.push_back(what);
        } else if self.stats.refused == NOTES_NAMED + 1 {
            self.notes.push_back(
                "more messages refused as too large; from now on they are only counted".into(),
            );
        }
    }

    /// The next refusal to report on stderr (what was refused and why).
    pub fn take_note(&mut self) -> Option<String> {
        self.notes.pop_front()
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Readings held for the JSON topic (queued or awaiting acknowledgement).
    pub fn held(&self) -> usize {
        self.queue.len() + self.inflight.len()
    }

    fn per_reading(&self) -> bool {
        self.cfg.json_topic.is_some() && self.cfg.array_every.is_none()
    }

    /// Should the driver read more input? False while connected with a full queue: the reader
    /// waits (backpressure) instead of anything being dropped.
    pub fn wants_input(&self) -> bool {
        !self.connected
            || !self.per_reading()
            || (self.held() < self.cfg.queue.min(CONNECTED_WINDOW)
                && self.held_bytes < self.cfg.queue_bytes)
    }

    /// An input line the reader skipped (not JSON, too long): counted only.
    pub fn skipped(&mut self) {
        self.stats.bad += 1;
    }

    /// One input line (it must be a JSON object). An error says why it is skipped (it is
    /// counted as a bad line).
    pub fn record(&mut self, raw: &str, now: Instant) -> Result<(), String> {
        match Head::parse(raw) {
            Ok(h) => self.record_head(&h, raw, now),
            Err(e) => {
                self.stats.records += 1;
                self.stats.bad += 1;
                Err(e)
            }
        }
    }

    /// One input record, its head already read ([`Head::parse`]) and its line as read.
    pub fn record_head(&mut self, h: &Head, raw: &str, now: Instant) -> Result<(), String> {
        self.record_line(h, Cow::Borrowed(raw), now)
    }

    /// [`Bridge::record_head`] with the line handed over, so that the JSON topic's queue keeps
    /// it without a copy.
    pub fn record_line(&mut self, h: &Head, raw: Cow<'_, str>, now: Instant) -> Result<(), String> {
        self.stats.records += 1;
        let r = self.take(h, raw, now);
        if r.is_err() {
            self.stats.bad += 1;
        }
        r
    }

    fn take(&mut self, h: &Head, raw: Cow<'_, str>, now: Instant) -> Result<(), String> {
        let ty = h.ty.as_deref().ok_or("no \"type\"")?;
        match ty {
            "reading" => self.reading(h, raw, now),
            "status" => {
                if h.error {
                    let id = device_of(h)?;
                    // A device that never sent a reading has nothing in Home Assistant: no
                    // availability topic is left behind for an address that never answered.
                    if let Some(d) = self.devices.get_mut(id) {
                        if d.available != Some(false) {
                            d.available = Some(false);
                            d.avail_dirty = true;
                        }
                    }
                }
                Ok(())
            }
            "frame" => Ok(()),
            other => Err(format!("unknown record type \"{other}\"")),
        }
    }

    /// A reading: checked and queued on the hot path; its state, keys and description are
    /// worked out from its line when the state is due ([`Bridge::materialize`]).
    fn reading(&mut self, h: &Head, raw: Cow<'_, str>, now: Instant) -> Result<(), String> {
        let id = device_of(h)?;
        match &h.fields {
            Some(shape) => check_bounds(shape)?,
            None => return Err("reading without \"fields\" object".into()),
        }
        let d = match self.devices.get_mut(id) {
            Some(d) => d,
            None => self.devices.entry(id.to_string()).or_default(),
        };
        if let Some(prev) = d.last_seen {
            d.interval = Some(now.saturating_duration_since(prev));
        }
        d.last_seen = Some(now);
        let expire = match self.cfg.expire_after {
            Some(e) => e.as_secs().max(1),
            None => d.interval.map_or(60, |i| (i.as_secs() * 3).max(60)),
        };
        // Re-announce when the expiry moves by more than half (the interval is learnt from
        // the second reading on); field and description changes are seen by materialize.
        if expire * 2 < d.expire || expire > d.expire * 3 / 2 {
            d.announced = false;
            d.expire = expire;
        }
        if d.state_dirty {
            self.stats.states_superseded += 1;
        }
        let mut line = d.raw.take().unwrap_or_default();
        line.clear();
        line.push_str(&raw);
        d.raw = Some(line);
        d.fresh = true;
        d.state_dirty = true;
        if d.available != Some(true) {
            d.available = Some(true);
            d.avail_dirty = true;
        }
        let new = d.keys.is_empty();
        if self.cfg.json_topic.is_some() {
            if self.cfg.array_every.is_some() {
                d.latest = Some(raw.into_owned());
            } else if !self.fits(self.cfg.json_topic.as_deref().unwrap_or(""), raw.len()) {
                let why = format!(
                    "{id}: a reading of {} bytes is larger than the maximum packet ({} bytes); \
                     not published on the JSON topic",
                    raw.len(),
                    self.cfg.max_packet
                );
                self.refuse(why);
            } else {
                self.held_bytes += raw.len();
                self.queue.push_back(Queued {
                    line: raw.into_owned().into_boxed_str(),
                });
                if !self.connected {
                    self.bound();
                }
            }
        }
        if new {
            // A device's first reading: its discovery goes out before anything else of it.
            let id = id.to_string();
            self.materialize(&id);
        }
        Ok(())
    }

    /// Works out a device's state, keys and description from its newest reading; a new
    /// key, a source or description changed make it announced again.
    fn materialize(&mut self, id: &str) {
        let Some(d) = self.devices.get_mut(id) else {
            return;
        };
        if !d.fresh {
            return;
        }
        d.fresh = false;
        let Some(v) = d
            .raw
            .as_deref()
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
        else {
            return;
        };
        let Some(fields) = v.get("fields").and_then(Value::as_object) else {
            return;
        };
        let source = v.get("source").and_then(Value::as_str).unwrap_or("bmstap");
        let info = DeviceInfo::from_json(v.get("info"));
        // The device's keys are the union of every key it has had (at most MAX_KEYS): a
        // field that comes and goes shows unknown while absent and announces nothing.
        let grew = !ha::covers(fields, &d.keys) && ha::merge_keys(&mut d.keys, fields, MAX_KEYS);
        if grew || d.info != info || d.source != source {
            d.announced = false;
            d.info = info;
            d.source = source.to_string();
        }
        let mut payload = d.state.take().unwrap_or_default();
        payload.clear();
        ha::write_state(fields, &mut payload);
        d.state = Some(payload);
    }

    /// Materializes every device whose state is due now (before discovery is decided).
    fn materialize_due(&mut self, now: Instant) {
        let due: Vec<String> = self
            .devices
            .iter()
            .filter(|(_, d)| d.fresh && d.state_dirty && d.not_before.is_none_or(|t| now >= t))
            .map(|(k, _)| k.clone())
            .collect();
        for id in due {
            self.materialize(&id);
        }
    }

    /// Drops the oldest readings past the queue's bounds (only while the broker is away).
    fn bound(&mut self) {
        while self.queue.len() > self.cfg.queue.max(1)
            || (self.held_bytes > self.cfg.queue_bytes && self.queue.len() > 1)
        {
            if let Some(q) = self.queue.pop_front() {
                self.held_bytes -= q.line.len();
                self.stats.dropped += 1;
            }
        }
    }

    /// The broker accepted the connection: the bridge's `online`, then discovery,
    /// availability and states of every device again (a broker without persistence lost them).
    pub fn connected(&mut self) {
        self.connected = true;
        self.birth = true;
        self.since_state = 0;
        self.announce_again();
    }

    /// The connection is gone: what was handed on and not acknowledged goes back to the head
    /// of the queue, in order, to be sent again after the reconnect.
    pub fn disconnected(&mut self) {
        self.connected = false;
        self.strike();
        while let Some((_, q)) = self.inflight.pop_back() {
            self.queue.push_front(q);
        }
        self.others.clear();
        self.bound();
    }

    /// A connection lost: if it was lost right after the same message was handed on, with
    /// nothing acknowledged since, [`STRIKES`] times in a row, the broker refuses that
    /// message's size: it becomes the limit (see the module documentation).
    fn strike(&mut self) {
        let Some(last) = self.since_ack.take() else {
            self.suspect = None;
            return;
        };
        let strikes = match &self.suspect {
            Some((s, n)) if *s == last => n + 1,
            _ => 1,
        };
        if strikes >= STRIKES && last.0 > MIN_LEARNT_PACKET && last.0 <= self.cfg.max_packet {
            self.cfg.max_packet = last.0 - 1;
            self.suspect = None;
            let why = format!(
                "the broker closed the connection {strikes} times right after a message of {} \
                 bytes on {}: it takes no packets that large (its max_packet_size?); messages \
                 of {} bytes or more are refused from now on",
                last.0, last.1, last.0
            );
            self.notes.push_back(why);
            // What is queued is checked as it goes out (json(), control(), next_state()).
        } else {
            self.suspect = Some((last, strikes));
        }
    }

    /// Everything announced and published again (Home Assistant restarted).
    pub fn announce_again(&mut self) {
        for d in self.devices.values_mut() {
            d.announced = false;
            d.state_dirty = d.state.is_some();
            d.avail_dirty = d.available.is_some();
        }
    }

    /// A clean end: the bridge's `offline` (retained) is due, once; false if it was asked
    /// for already. The caller disconnects when the bridge is [`idle`](Self::idle) again.
    pub fn goodbye(&mut self) -> bool {
        if self.said_farewell {
            return false;
        }
        self.said_farewell = true;
        self.farewell = true;
        true
    }

    /// End of input: states held back by `--min-interval` are due now.
    pub fn end_of_input(&mut self) {
        for d in self.devices.values_mut() {
            d.not_before = None;
        }
    }

    /// Clears every retained topic of `device` (discovery first, so Home Assistant removes the
    /// device, then its state and availability) and forgets it.
    pub fn remove(&mut self, device: &str) {
        let t = &self.cfg.topics;
        self.removals.push_back(t.discovery(device));
        self.removals.push_back(t.state(device));
        self.removals.push_back(t.availability(device));
        self.devices.remove(device);
    }

    /// The broker has message `id` (QoS 1: acknowledged; QoS 0: written to the connection).
    /// Unknown ids (from before a reconnect) are ignored.
    pub fn acked(&mut self, id: u64) {
        self.since_ack = None;
        let pos = match self.inflight.front() {
            Some((first, _)) if *first == id => Some(0),
            _ => self.inflight.iter().position(|(i, _)| *i == id),
        };
        if let Some(pos) = pos {
            if let Some((_, q)) = self.inflight.remove(pos) {
                self.held_bytes -= q.line.len();
                self.stats.json_published += 1;
            }
            return;
        }
        if self.others.remove(&id) == Some(Sent::State) {
            self.stats.states_published += 1;
        }
    }

    fn other(&mut self, topic: String, payload: Vec<u8>, retain: bool, kind: Sent) -> Transmit {
        let id = self.next_id;
        self.next_id += 1;
        self.others.insert(id, kind);
        Transmit {
            id,
            topic,
            payload,
            retain,
        }
    }

    /// The next message to publish, or `None` (not connected, or nothing due now).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let t = self.next_transmit(now)?;
        let size = Self::packet_size(&t.topic, t.payload.len());
        if self.since_ack.as_ref().is_none_or(|(s, _)| size > *s) {
            self.since_ack = Some((size, t.topic.clone()));
        }
        Some(t)
    }

    fn next_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if !self.connected {
            return None;
        }
        if self.birth {
            self.birth = false;
            let t = self.cfg.topics.bridge();
            return Some(self.other(t, b"online".to_vec(), true, Sent::Other));
        }
        if self.farewell {
            self.farewell = false;
            let t = self.cfg.topics.bridge();
            return Some(self.other(t, b"offline".to_vec(), true, Sent::Other));
        }
        if let Some(topic) = self.removals.pop_front() {
            return Some(self.other(topic, Vec::new(), true, Sent::Other));
        }
        if self.devices.values().any(|d| d.fresh) {
            self.materialize_due(now);
        }
        if let Some(t) = self.control() {
            return Some(t);
        }
        let json = !self.queue.is_empty();
        if json && self.since_state < STATES_EVERY {
            self.since_state += 1;
            return self.json();
        }
        if let Some(t) = self.next_state(now) {
            self.since_state = 0;
            return Some(t);
        }
        if json {
            return self.json();
        }
        self.array(now)
    }

    /// Discovery and availability, device by device (discovery first).
    fn control(&mut self) -> Option<Transmit> {
        loop {
            let mut due = None;
            let mut refused = None;
            for (id, d) in self.devices.iter_mut() {
                if self.cfg.discovery && !d.announced && !d.keys.is_empty() {
                    d.announced = true;
                    let cfg =
                        ha::discovery(&self.cfg.topics, id, &d.source, &d.info, &d.keys, d.expire)
                            .to_string();
                    let topic = self.cfg.topics.discovery(id);
                    if Self::packet_size(&topic, cfg.len()) > self.cfg.max_packet {
                        refused = Some(format!(
                            "{id}: its discovery message of {} bytes is larger than the maximum \
                             packet ({} bytes); not announced",
                            cfg.len(),
                            self.cfg.max_packet
                        ));
                        break;
                    }
                    due = Some((topic, cfg.into_bytes()));
                    break;
                }
                if d.avail_dirty {
                    d.avail_dirty = false;
                    let state: &[u8] = if d.available == Some(true) {
                        b"online"
                    } else {
                        b"offline"
                    };
                    due = Some((self.cfg.topics.availability(id), state.to_vec()));
                    break;
                }
            }
            if let Some(why) = refused {
                self.refuse(why);
                continue;
            }
            let (topic, payload) = due?;
            return Some(self.other(topic, payload, true, Sent::Other));
        }
    }

    fn json(&mut self) -> Option<Transmit> {
        let topic = self.cfg.json_topic.clone().unwrap_or_default();
        let q = loop {
            let q = self.queue.pop_front()?;
            if self.fits(&topic, q.line.len()) {
                break q;
            }
            // Queued before the broker's limit was learnt.
            self.held_bytes -= q.line.len();
            let why = format!(
                "a reading of {} bytes is larger than the broker's limit ({} bytes); not \
                 published on the JSON topic",
                q.line.len(),
                self.cfg.max_packet
            );
            self.refuse(why);
        };
        let id = self.next_id;
        self.next_id += 1;
        let t = Transmit {
            id,
            topic,
            payload: q.line.as_bytes().to_vec(),
            retain: false,
        };
        self.inflight.push_back((id, q));
        Some(t)
    }

    /// The next due state, devices taking turns after the one sent last.
    fn next_state(&mut self, now: Instant) -> Option<Transmit> {
        let due = |d: &Device| d.state_dirty && d.not_before.is_none_or(|t| now >= t);
        let after = match &self.state_cursor {
            Some(c) => self
                .devices
                .range::<str, _>((Bound::Excluded(c.as_str()), Bound::Unbounded))
                .chain(
                    self.devices
                        .range::<str, _>((Bound::Unbounded, Bound::Included(c.as_str()))),
                )
                .find(|(_, d)| due(d))
                .map(|(id, _)| id.clone()),
            None => self
                .devices
                .iter()
                .find(|(_, d)| due(d))
                .map(|(id, _)| id.clone()),
        }?;
        let d = self.devices.get_mut(&after)?;
        d.state_dirty = false;
        let spacing = self.cfg.min_interval.unwrap_or_default().max(STATE_SPACING);
        d.not_before = Some(now + spacing);
        let payload = d.state.clone().unwrap_or_default();
        let topic = self.cfg.topics.state(&after);
        if !self.fits(&topic, payload.len()) {
            let why = format!(
                "{after}: its state of {} bytes is larger than the maximum packet ({} bytes); \
                 not published",
                payload.len(),
                self.cfg.max_packet
            );
            self.state_cursor = Some(after);
            self.refuse(why);
            return self.next_state(now);
        }
        self.state_cursor = Some(after);
        Some(self.other(topic, payload, true, Sent::State))
    }

    fn array(&mut self, now: Instant) -> Option<Transmit> {
        let (Some(every), Some(topic)) = (self.cfg.array_every, self.cfg.json_topic.clone()) else {
            return None;
        };
        let due = *self.next_array.get_or_insert(now + every);
        if now < due {
            return None;
        }
        self.next_array = Some(due + every);
        let all: Vec<&str> = self
            .devices
            .values()
            .filter_map(|d| d.latest.as_deref())
            .collect();
        if all.is_empty() {
            return None;
        }
        let array = format!("[{}]", all.join(","));
        if !self.fits(&topic, array.len()) {
            let why = format!(
                "the array of {} readings ({} bytes) is larger than the maximum packet ({} \
                 bytes); not published",
                all.len(),
                array.len(),
                self.cfg.max_packet
            );
            self.refuse(why);
            return None;
        }
        Some(self.other(topic, array.into_bytes(), false, Sent::Other))
    }

    /// When something held back becomes due (a `--min-interval` hold, the array timer).
    /// None while the broker is away: nothing can be sent then, and a deadline already past
    /// would have the driver spin.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.connected {
            return None;
        }
        let holds = self
            .devices
            .values()
            .filter(|d| d.state_dirty)
            .filter_map(|d| d.not_before);
        holds.chain(self.next_array).min()
    }

    /// Giving up (a signal, and the broker did not take everything in time): the readings
    /// still held for the JSON topic count as dropped. Returns how many.
    pub fn abandon(&mut self) -> u64 {
        let n = self.held() as u64;
        self.queue.clear();
        self.inflight.clear();
        self.held_bytes = 0;
        self.stats.dropped += n;
        n
    }

    /// A reading read after the end of input was declared (a signal): it cannot be
    /// delivered any more, so it counts as dropped (the exit status says so).
    pub fn lost_after_end(&mut self) {
        self.stats.records += 1;
        self.stats.dropped += 1;
    }

    /// Nothing left to send or to be acknowledged (ignoring `--min-interval` holds and the
    /// array timer).
    pub fn idle(&self) -> bool {
        !self.birth
            && !self.farewell
            && self.removals.is_empty()
            && self.queue.is_empty()
            && self.inflight.is_empty()
            && self.others.is_empty()
            && self.devices.values().all(|d| {
                (!self.cfg.discovery || d.announced || d.keys.is_empty())
                    && !d.avail_dirty
                    && !d.state_dirty
            })
    }
}

fn device_of(h: &Head) -> Result<&str, String> {
    let id = h.device.as_deref().ok_or("no \"device\"")?;
    check_device(id)?;
    Ok(id)
}

/// Is `id` a device id the bridge publishes? Safe in a topic, short, and not the bridge's own
/// topic level (`<prefix>/bridge/availability`).
pub fn check_device(id: &str) -> Result<(), String> {
    if id.len() > MAX_DEVICE_ID {
        let head: String = id.chars().take(24).collect();
        return Err(format!(
            "device id \"{head}...\" has {} characters (at most {MAX_DEVICE_ID})",
            id.len()
        ));
    }
    if !is_device_id(id) {
        return Err(format!(
            "device id \"{id}\" is not safe in a topic (use [a-z0-9_-])"
        ));
    }
    if id == Topics::BRIDGE {
        return Err(format!(
            "device id \"{id}\" is reserved for the bridge's own availability topic; give the \
             device another name"
        ));
    }
    Ok(())
}

/// A reading's fields within what the bridge takes (see the module documentation).
fn check_bounds(shape: &Shape) -> Result<(), String> {
    let Shape::Object {
        values,
        longest_array,
        longest_name,
    } = shape
    else {
        return Err("reading without \"fields\" object".into());
    };
    if longest_name.0 > MAX_FIELD_NAME {
        return Err(format!(
            "field \"{}...\" has a name of {} bytes (at most {MAX_FIELD_NAME})",
            longest_name.1, longest_name.0
        ));
    }
    if let Some((name, n)) = longest_array {
        if *n > MAX_ITEMS {
            return Err(format!(
                "field \"{name}\" has {n} items (at most {MAX_ITEMS})"
            ));
        }
    }
    if *values > MAX_KEYS {
        return Err(format!(
            "{values} values (at most {MAX_KEYS}, array items counted)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn topics() -> Topics {
        Topics {
            prefix: "bmstap".into(),
            discovery_prefix: "homeassistant".into(),
        }
    }

    fn line(dev: usize, seq: u64) -> String {
        format!(r#"{{"type":"reading","source":"lp4","device":"d{dev}","fields":{{"soc":{seq}}}}}"#)
    }

    fn feed(b: &mut Bridge, dev: usize, seq: u64, now: Instant) {
        let l = line(dev, seq);
        b.record(&l, now).unwrap();
    }

    fn json_bridge(queue: usize) -> Bridge {
        let mut cfg = Config::new(topics());
        cfg.json_topic = Some("j".into());
        cfg.queue = queue;
        Bridge::new(cfg)
    }

    /// The seq of a JSON-topic payload.
    fn seq_of(payload: &[u8]) -> u64 {
        let v: Value = serde_json::from_slice(payload).unwrap();
        v["fields"]["soc"].as_u64().unwrap()
    }

    #[test]
    fn live_reading_gives_one_json_message_then_its_state() {
        let now = Instant::now();
        let mut b = json_bridge(10);
        b.connected();
        feed(&mut b, 0, 1, now);
        let topics: Vec<String> = std::iter::from_fn(|| b.poll_transmit(now))
            .map(|t| t.topic)
            .collect();
        assert_eq!(
            topics,
            [
                "bmstap/bridge/availability",
                "homeassistant/device/bmstap_d0/config",
                "bmstap/d0/availability",
                "j",
                "bmstap/d0/state"
            ]
        );
    }

    #[test]
    fn away_broker_drops_the_oldest_and_counts_them() {
        let now = Instant::now();
        let mut b = json_bridge(3);
        for seq in 0..5 {
            feed(&mut b, 0, seq, now);
            assert!(
                b.wants_input(),
                "the reader never waits for an absent broker"
            );
        }
        assert_eq!(b.stats().dropped, 2);
        b.connected();
        let mut got = Vec::new();
        while let Some(t) = b.poll_transmit(now) {
            if t.topic == "j" {
                got.push(seq_of(&t.payload));
            }
            b.acked(t.id);
        }
        assert_eq!(got, [2, 3, 4]);
        assert_eq!(b.stats().json_published, 3);
        assert!(b.idle());
    }

    #[test]
    fn connected_full_queue_stops_the_reader_and_drops_nothing() {
        let now = Instant::now();
        let mut b = json_bridge(2);
        b.connected();
        for seq in 0..2 {
            feed(&mut b, 0, seq, now);
        }
        assert!(!b.wants_input());
        // Records already on their way are still taken, never dropped.
        feed(&mut b, 0, 2, now);
        assert_eq!(b.stats().dropped, 0);
        assert_eq!(b.held(), 3);
    }

    #[test]
    fn unacknowledged_readings_are_sent_again_in_order_after_a_reconnect() {
        let now = Instant::now();
        let mut b = json_bridge(100);
        b.connected();
        for seq in 0..4 {
            feed(&mut b, 0, seq, now);
        }
        let sent: Vec<Transmit> = std::iter::from_fn(|| b.poll_transmit(now)).collect();
        let first = sent.iter().find(|t| t.topic == "j").unwrap();
        b.acked(first.id);
        b.disconnected();
        b.connected();
        let again: Vec<u64> = std::iter::from_fn(|| b.poll_transmit(now))
            .filter(|t| t.topic == "j")
            .map(|t| seq_of(&t.payload))
            .collect();
        assert_eq!(again, [1, 2, 3]);
    }

    /// A state held back while the broker is away is no deadline: the driver would wait
    /// zero time for it and spin until the broker is back.
    #[test]
    fn nothing_is_due_while_the_broker_is_away() {
        let now = Instant::now();
        let mut b = json_bridge(100);
        b.connected();
        feed(&mut b, 0, 1, now);
        while let Some(t) = b.poll_transmit(now) {
            b.acked(t.id);
        }
        b.disconnected();
        feed(&mut b, 0, 2, now + Duration::from_secs(1));
        assert_eq!(b.next_deadline(), None);
        b.connected();
        assert!(b.poll_transmit(now + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn status_of_a_device_never_seen_publishes_nothing() {
        let now = Instant::now();
        let mut b = Bridge::new(Config::new(topics()));
        b.connected();
        let s = r#"{"type":"status","source":"lp4","device":"ttyusb0-9","error":"timeout"}"#;
        b.record(s, now).unwrap();
        let topics: Vec<String> = std::iter::from_fn(|| b.poll_transmit(now))
            .map(|t| t.topic)
            .collect();
        assert_eq!(topics, ["bmstap/bridge/availability"]);
    }

    #[test]
    fn remove_clears_every_retained_topic() {
        let now = Instant::now();
        let mut b = Bridge::new(Config::new(topics()));
        b.connected();
        b.remove("rack-1");
        let sent: Vec<Transmit> = std::iter::from_fn(|| b.poll_transmit(now)).collect();
        let cleared: Vec<&str> = sent
            .iter()
            .filter(|t| t.payload.is_empty() && t.retain)
            .map(|t| t.topic.as_str())
            .collect();
        assert_eq!(
            cleared,
            [
                "homeassistant/device/bmstap_rack-1/config",
                "bmstap/rack-1/state",
                "bmstap/rack-1/availability"
            ]
        );
    }

    fn rec(b: &mut Bridge, line: &str, now: Instant) -> Result<(), String> {
        b.record(line, now)
    }

    /// Issue 19, item 1: a reading too large for one packet is refused before it is queued,
    /// named and counted; the next one goes out as usual.
    #[test]
    fn a_reading_larger_than_the_maximum_packet_is_refused_and_the_rest_flows() {
        let now = Instant::now();
        let mut cfg = Config::new(topics());
        cfg.json_topic = Some("j".into());
        cfg.discovery = false;
        cfg.max_packet = 2000;
        let mut b = Bridge::new(cfg);
        b.connected();
        let big = format!(
            r#"{{"type":"reading","device":"d0","fields":{{"soc":1}},"raw":"{}"}}"#,
            "x".repeat(2000)
        );
        rec(&mut b, &big, now).unwrap();
        assert_eq!(b.stats().refused, 1);
        assert_eq!(b.held(), 0, "not queued");
        assert!(b
            .take_note()
            .unwrap()
            .contains("larger than the maximum packet"));
        feed(&mut b, 1, 7, now);
        let sent: Vec<Transmit> = std::iter::from_fn(|| b.poll_transmit(now)).collect();
        assert!(sent
            .iter()
            .all(|t| Bridge::packet_size(&t.topic, t.payload.len()) <= 2000));
        let json: Vec<u64> = sent
            .iter()
            .filter(|t| t.topic == "j")
            .map(|t| seq_of(&t.payload))
            .collect();
        assert_eq!(json, [7]);
    }

    /// A discovery message or a state too large is refused (once), not sent for ever.
    #[test]
    fn an_oversized_discovery_or_state_is_refused_once() {
        let now = Instant::now();
        let mut cfg = Config::new(topics());
        cfg.max_packet = 3000;
        let mut b = Bridge::new(cfg);
        b.connected();
        let fields: Vec<String> = (0..100).map(|i| format!("\"f{i}\":{i}")).collect();
        let l = format!(
            r#"{{"type":"reading","device":"d0","fields":{{{}}}}}"#,
            fields.join(",")
        );
        rec(&mut b, &l, now).unwrap();
        let s = format!(
            r#"{{"type":"reading","device":"d1","fields":{{"t":"{}"}}}}"#,
            "y".repeat(4000)
        );
        rec(&mut b, &s, now).unwrap();
        let sent: Vec<Transmit> = std::iter::from_fn(|| b.poll_transmit(now)).collect();
        assert!(sent.iter().all(|t| t.payload.len() < 3000));
        assert!(!sent.iter().any(|t| t.topic.ends_with("bmstap_d0/config")));
        assert!(sent.iter().any(|t| t.topic == "bmstap/d0/state"));
        assert!(!sent.iter().any(|t| t.topic == "bmstap/d1/state"));
        assert_eq!(b.stats().refused, 2);
        for t in &sent {
            b.acked(t.id);
        }
        assert!(b.poll_transmit(now + Duration::from_secs(1)).is_none());
    }

    /// Bounds on what a reading can make: id length, array length, the bridge's own level.
    #[test]
    fn long_ids_long_arrays_and_the_bridge_level_are_refused() {
        let now = Instant::now();
        let mut b = Bridge::new(Config::new(topics()));
        b.connected();
        let long = format!(
            r#"{{"type":"reading","device":"{}","fields":{{"soc":1}}}}"#,
            "a".repeat(65)
        );
        assert!(rec(&mut b, &long, now).unwrap_err().contains("at most 64"));
        let ok = format!(
            r#"{{"type":"reading","device":"{}","fields":{{"soc":1}}}}"#,
            "a".repeat(64)
        );
        rec(&mut b, &ok, now).unwrap();
        let cells: Vec<String> = (0..129).map(|_| "3.3".into()).collect();
        let many = format!(
            r#"{{"type":"reading","device":"d","fields":{{"cell_voltages":[{}]}}}}"#,
            cells.join(",")
        );
        assert!(rec(&mut b, &many, now)
            .unwrap_err()
            .contains("cell_voltages"));
        for r in [
            r#"{"type":"reading","device":"bridge","fields":{"soc":1}}"#,
            r#"{"type":"status","device":"bridge","error":"timeout"}"#,
        ] {
            assert!(rec(&mut b, r, now).unwrap_err().contains("reserved"));
        }
        let sent: Vec<Transmit> = std::iter::from_fn(|| b.poll_transmit(now)).collect();
        let bridge: Vec<&[u8]> = sent
            .iter()
            .filter(|t| t.topic == "bmstap/bridge/availability")
            .map(|t| &t.payload[..])
            .collect();
        assert_eq!(bridge, [&b"online"[..]]);
        assert_eq!(b.stats().bad, 4);
    }

    /// A broker that closes the connection right after the same message, three times: the
    /// bridge learns its limit and refuses that message (mosquitto's max_packet_size).
    #[test]
    fn a_broker_that_drops_the_connection_on_one_message_teaches_its_limit() {
        let now = Instant::now();
        let mut cfg = Config::new(topics());
        cfg.json_topic = Some("j".into());
        cfg.discovery = false;
        let mut b = Bridge::new(cfg);
        let big = format!(
            r#"{{"type":"reading","device":"d0","fields":{{"soc":1}},"raw":"{}"}}"#,
            "x".repeat(MIN_LEARNT_PACKET + 10)
        );
        b.connected();
        rec(&mut b, &big, now).unwrap();
        feed(&mut b, 1, 5, now);
        for round in 0..STRIKES {
            // Everything before the big one is acknowledged; the broker closes on it.
            let mut seen_big = false;
            while let Some(t) = b.poll_transmit(now) {
                if t.topic == "j" && t.payload.len() > MIN_LEARNT_PACKET {
                    seen_big = true;
                    continue;
                }
                if !seen_big {
                    b.acked(t.id);
                }
            }
            assert!(seen_big, "round {round}: the big one is sent again");
            assert_eq!(b.stats().refused, 0);
            b.disconnected();
            b.connected();
        }
        assert!(b.take_note().unwrap().contains("max_packet_size"));
        let sent: Vec<Transmit> = std::iter::from_fn(|| b.poll_transmit(now)).collect();
        let json: Vec<u64> = sent
            .iter()
            .filter(|t| t.topic == "j")
            .map(|t| seq_of(&t.payload))
            .collect();
        assert_eq!(json, [5], "the rest flows");
        assert_eq!(b.stats().refused, 1);
    }

    /// A connection lost with nothing handed since the last acknowledgement teaches nothing.
    #[test]
    fn a_flaky_broker_teaches_no_limit() {
        let now = Instant::now();
        let mut b = json_bridge(1000);
        for seq in 0..10 {
            b.connected();
            feed(&mut b, 0, seq, now);
            while let Some(t) = b.poll_transmit(now) {
                b.acked(t.id);
            }
            b.disconnected();
        }
        assert_eq!(b.config().max_packet, MAX_PACKET);
        assert_eq!(b.stats().refused, 0);
    }

    /// What happens around the bridge, as the property test drives it.
    #[derive(Debug, Clone)]
    enum Ev {
        /// A reading of device `dev` offered; `force`: already on its way (taken even when the
        /// bridge does not want input, as records in the driver's channel are).
        Record {
            dev: usize,
            force: bool,
        },
        Connect,
        /// The connection drops; the first `delivered` messages on the wire reached the broker
        /// but their acknowledgements were lost.
        Drop {
            delivered: usize,
        },
        /// The driver hands up to n messages to the client.
        Poll(usize),
        /// The broker takes and acknowledges up to n messages (in order).
        Ack(usize),
        /// Time passes.
        Tick(u64),
        HaRestart,
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            6 => (0..4usize, proptest::bool::weighted(0.1))
                .prop_map(|(dev, force)| Ev::Record { dev, force }),
            1 => Just(Ev::Connect),
            1 => (0..5usize).prop_map(|delivered| Ev::Drop { delivered }),
            4 => (1..8usize).prop_map(Ev::Poll),
            4 => (1..8usize).prop_map(Ev::Ack),
            1 => (0..5000u64).prop_map(Ev::Tick),
            1 => Just(Ev::HaRestart),
        ]
    }

    /// The broker and one subscriber of everything.
    #[derive(Default)]
    struct World {
        up: bool,
        wire: VecDeque<Transmit>,
        json: Vec<u64>,
        retained: HashMap<String, Vec<u8>>,
    }

    impl World {
        fn deliver(&mut self, t: &Transmit) {
            if t.topic == "j" {
                self.json.push(seq_of(&t.payload));
            } else if t.retain {
                self.retained.insert(t.topic.clone(), t.payload.clone());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Random interleavings of input, broker up/down/slow and time: the JSON topic gets
        /// exactly the input readings in order (at-least-once: a reading whose acknowledgement
        /// was lost may come twice, never out of order), minus the counted drops, which happen
        /// only while the broker is away; each device's retained state is its newest reading.
        #[test]
        fn json_topic_is_lossless_and_ordered_and_states_are_newest(
            events in proptest::collection::vec(ev(), 0..300),
            queue in 1..20usize,
        ) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut b = json_bridge(queue);
            let mut w = World::default();
            let mut seq = 0u64;
            let mut newest: HashMap<usize, u64> = HashMap::new();
            let mut last = b.stats();
            // Readings the broker got whose acknowledgement was lost with the connection.
            let mut unacked = Vec::new();
            for e in events {
                let was_up = b.is_connected();
                match e {
                    Ev::Record { dev, force } => {
                        if force || b.wants_input() {
                            feed(&mut b, dev, seq, now);
                            newest.insert(dev, seq);
                            seq += 1;
                        }
                    }
                    Ev::Connect => {
                        if !w.up {
                            w.up = true;
                            b.connected();
                        }
                    }
                    Ev::Drop { delivered } => {
                        if w.up {
                            let wire: Vec<Transmit> = w.wire.drain(..).collect();
                            for t in wire.iter().take(delivered) {
                                w.deliver(t);
                                if t.topic == "j" {
                                    unacked.push(seq_of(&t.payload));
                                }
                            }
                            w.up = false;
                            b.disconnected();
                        }
                    }
                    Ev::Poll(n) => {
                        for _ in 0..n {
                            match b.poll_transmit(now) {
                                Some(t) => w.wire.push_back(t),
                                None => break,
                            }
                        }
                    }
                    Ev::Ack(n) => {
                        for _ in 0..n {
                            let Some(t) = w.wire.pop_front() else { break };
                            w.deliver(&t);
                            b.acked(t.id);
                        }
                    }
                    Ev::Tick(ms) => now += Duration::from_millis(ms),
                    Ev::HaRestart => b.announce_again(),
                }
                let s = b.stats();
                if was_up && b.is_connected() {
                    prop_assert_eq!(s.dropped, last.dropped, "dropped while connected");
                }
                prop_assert!(s.records >= last.records && s.json_published >= last.json_published
                    && s.states_published >= last.states_published
                    && s.states_superseded >= last.states_superseded && s.dropped >= last.dropped);
                prop_assert!(b.held() <= queue || b.is_connected(), "queue bound");
                last = s;
            }
            // The end of input, the broker back, everything drained.
            b.end_of_input();
            if !w.up {
                b.connected();
            }
            let mut rounds = 0;
            while !b.idle() {
                while let Some(t) = b.poll_transmit(now) {
                    w.wire.push_back(t);
                }
                while let Some(t) = w.wire.pop_front() {
                    w.deliver(&t);
                    b.acked(t.id);
                }
                rounds += 1;
                prop_assert!(rounds < 100, "never idle");
            }
            // Never out of order: each message is either newer than everything before it or
            // a repeat of one already delivered.
            let mut max: Option<u64> = None;
            let mut unique = Vec::new();
            for &s in &w.json {
                if max.is_none_or(|m| s > m) {
                    unique.push(s);
                    max = Some(s);
                } else {
                    prop_assert!(unique.contains(&s), "{} overtook an older reading", s);
                }
            }
            // Every reading is acknowledged once or dropped once; what is missing was dropped
            // (a dropped one may still have arrived if its acknowledgement was lost).
            let s = b.stats();
            prop_assert_eq!(s.json_published + s.dropped, seq);
            let missing = seq - unique.len() as u64;
            prop_assert!(missing <= s.dropped, "{} missing, {} dropped", missing, s.dropped);
            let arrived_anyway = unique.iter().filter(|x| unacked.contains(x)).count() as u64;
            prop_assert!(s.dropped <= missing + arrived_anyway);
            prop_assert!(unique.iter().all(|&x| x < seq));
            for (dev, n) in newest {
                let state = w.retained.get(&format!("bmstap/d{dev}/state")).unwrap();
                let v: Value = serde_json::from_slice(state).unwrap();
                prop_assert_eq!(v["soc"].as_u64(), Some(n));
            }
        }
    }
}
