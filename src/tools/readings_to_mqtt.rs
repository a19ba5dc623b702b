//! readings-to-mqtt: readings into MQTT and Home Assistant, without losing a thing.
//!
//! Three threads: one reads stdin (NDJSON records), one drives the MQTT connection
//! (rumqttc's sync `Connection`, which reconnects by itself as it is iterated), and the main
//! one owns the per-device state and decides what to publish. While the broker is away only
//! the newest reading of each device is kept (memory bounded by the number of devices);
//! once connected again, discovery and the newest states are published.

use crate::cli::{duration, Common};
use crate::exit::{unavailable, usage, Exit};
use crate::ha::{self, DeviceInfo, Topics};
use crate::io::lines::LineReader;
use crate::ndjson::RecordWriter;
use crate::record::is_device_id;
use rumqttc::{
    Client, ConnectReturnCode, Event, Incoming, LastWill, MqttOptions, Outgoing, QoS, Transport,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  # LifePower4 packs into Home Assistant (discovery on, QoS 1, states retained)
  lp4-poll /dev/ttyUSB0 | readings-to-mqtt --host broker.local

  # With a user; the password comes from the environment or a file, never a flag
  MQTT_PASSWORD=$(cat /etc/bmstap/mqtt.secret) lp4-poll /dev/ttyUSB0 | readings-to-mqtt --host broker --username bms
  lp4-poll /dev/ttyUSB0 | readings-to-mqtt --host broker --username bms --password-file /etc/bmstap/mqtt.secret

  # TLS with your own CA
  readings-to-mqtt --host broker --tls --ca-file /etc/bmstap/ca.pem < readings.ndjson

  # One-shot from cron: every reading is delivered before it exits
  lp4-poll --once -a 1-4 /dev/ttyUSB0 | readings-to-mqtt --host broker

  # What would be published, without a broker
  bms-sim eflex --batteries 2 --cycles 1 | eflex-candump-decode | readings-to-mqtt --print-discovery

  # eflexcan2mqtt's consumers: a JSON array of every battery every 2 minutes
  eflex-candump-decode --interface can0 | readings-to-mqtt --host broker --json-topic eflex/batteries --array-every 2m

Topics: <prefix>/<device>/state (retained JSON, arrays flattened: cell_01_voltage, ...),
<prefix>/<device>/availability, <prefix>/bridge/availability (last will 'offline'),
<discovery-prefix>/device/<prefix>_<device>/config (Home Assistant device discovery).

Exit status: 0 all delivered, 1 some input lines were skipped, 2 usage error,
75 the broker could not be reached within --connect-timeout.";

/// Publish bmstap readings (NDJSON on stdin) to MQTT, with Home Assistant discovery.
#[derive(Debug, clap::Parser)]
#[command(name = "readings-to-mqtt", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    /// Broker host name or address
    #[arg(long, short = 'H', default_value = "localhost")]
    pub host: String,
    /// Broker port [default: 1883, 8883 with --tls]
    #[arg(long, short = 'p')]
    pub port: Option<u16>,
    /// User name (the password comes from MQTT_PASSWORD or --password-file)
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read the password from FILE (first line)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// MQTT client id [default: bmstap-<host name>]
    #[arg(long)]
    pub client_id: Option<String>,
    /// MQTT keep-alive
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "30s")]
    pub keep_alive: Duration,
    /// QoS of every publish (1: acknowledged by the broker)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub qos: u8,
    /// Connect with TLS
    #[arg(long)]
    pub tls: bool,
    /// CA certificate (PEM) to verify the broker with
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), with --key
    #[arg(long, value_name = "FILE", requires_all = ["tls", "key"])]
    pub cert: Option<PathBuf>,
    /// Client key (PEM), with --cert
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// First level of the state and availability topics
    #[arg(long, default_value = "bmstap")]
    pub topic_prefix: String,
    /// Do not publish Home Assistant discovery
    #[arg(long)]
    pub no_discovery: bool,
    /// Home Assistant's discovery prefix
    #[arg(long, default_value = "homeassistant")]
    pub discovery_prefix: String,
    /// Sensors go unavailable after DUR without a reading [default: 3x the observed interval, at least 60 s]
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub expire_after: Option<Duration>,
    /// Print what would be published (topic, retain, payload) as NDJSON; no broker
    #[arg(long)]
    pub print_discovery: bool,
    /// Also publish each reading as-is to TOPIC
    #[arg(long, value_name = "TOPIC")]
    pub json_topic: Option<String>,
    /// Instead, publish a JSON array of every device's newest reading to --json-topic every DUR
    #[arg(long, value_name = "DUR", value_parser = duration, requires = "json_topic")]
    pub array_every: Option<Duration>,
    /// Publish a device's state at most once per DUR (always the newest)
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub min_interval: Option<Duration>,
    /// Copy every input record to stdout as well
    #[arg(long)]
    pub tee: bool,
    /// Give up (exit 75) if the broker cannot be reached for this long at the start
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "30s")]
    pub connect_timeout: Duration,
    #[command(flatten)]
    pub common: Common,
}

/// Input lines longer than this are skipped (a reading is ~1-2 KiB).
const LINE_CAP: usize = 1024 * 1024;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
}

enum Msg {
    /// A parsed record, its line as read, and where it came from (`stdin:12`).
    Record(Value, String, String),
    Eof,
    Conn(Result<Event, ConnError>),
}

/// A connection failure; `auth` when the broker refused our credentials (retrying won't help).
struct ConnError {
    text: String,
    auth: bool,
}

/// Where messages go: the broker, or stdout for --print-discovery.
trait Outlet {
    /// Hands one message on; false if it could not be taken now (try again later).
    fn publish(&mut self, topic: &str, payload: Vec<u8>, retain: bool) -> bool;
}

struct Broker {
    client: Client,
    qos: QoS,
    enqueued: u64,
}

impl Outlet for Broker {
    fn publish(&mut self, topic: &str, payload: Vec<u8>, retain: bool) -> bool {
        match self.client.try_publish(topic, self.qos, retain, payload) {
            Ok(()) => {
                self.enqueued += 1;
                true
            }
            Err(e) => {
                log::debug!("publish to {topic} deferred: {e}");
                false
            }
        }
    }
}

struct Printer(RecordWriter);

impl Outlet for Printer {
    fn publish(&mut self, topic: &str, payload: Vec<u8>, retain: bool) -> bool {
        let payload: Value = serde_json::from_slice(&payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&payload).into_owned()));
        let _ = self
            .0
            .write_value(&json!({"topic": topic, "retain": retain, "payload": payload}));
        true
    }
}

#[derive(Default)]
struct Device {
    source: String,
    info: DeviceInfo,
    keys: Vec<(String, String)>,
    expire: u64,
    announced: bool,
    state: Option<Vec<u8>>,
    state_dirty: bool,
    not_before: Option<Instant>,
    available: Option<bool>,
    avail_dirty: bool,
    last_seen: Option<Instant>,
    interval: Option<Duration>,
    /// The newest reading as received (the line, unchanged), for --json-topic / --array-every.
    latest: Option<String>,
    json_dirty: bool,
}

struct Bridge {
    topics: Topics,
    discovery: bool,
    expire_after: Option<Duration>,
    min_interval: Option<Duration>,
    json_topic: Option<String>,
    array_every: Option<Duration>,
    next_array: Option<Instant>,
    devices: BTreeMap<String, Device>,
}

impl Bridge {
    fn record(&mut self, v: &Value, raw: &str, now: Instant) -> Result<(), String> {
        let ty = v.get("type").and_then(Value::as_str).ok_or("no \"type\"")?;
        match ty {
            "reading" => self.reading(v, raw, now),
            "status" => {
                if v.get("error").is_some_and(|e| !e.is_null()) {
                    let id = device_of(v)?;
                    let d = self.devices.entry(id.to_string()).or_default();
                    if d.available != Some(false) {
                        d.available = Some(false);
                        d.avail_dirty = true;
                    }
                }
                Ok(())
            }
            "frame" => Ok(()),
            other => Err(format!("unknown record type \"{other}\"")),
        }
    }

    fn reading(&mut self, v: &Value, raw: &str, now: Instant) -> Result<(), String> {
        let id = device_of(v)?;
        let fields = v
            .get("fields")
            .and_then(Value::as_object)
            .ok_or("reading without \"fields\" object")?;
        let source = v
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("bmstap")
            .to_string();
        let info = DeviceInfo::from_json(v.get("info"));
        let d = match self.devices.get_mut(id) {
            Some(d) => d,
            None => self.devices.entry(id.to_string()).or_default(),
        };
        if let Some(prev) = d.last_seen {
            d.interval = Some(now.duration_since(prev));
        }
        d.last_seen = Some(now);
        let expire = match self.expire_after {
            Some(e) => e.as_secs().max(1),
            None => d.interval.map_or(60, |i| (i.as_secs() * 3).max(60)),
        };
        // Re-announce when the fields change, the device describes itself differently, or the
        // expiry moves by more than half (the interval is learnt from the second reading on).
        let same = ha::same_keys(fields, &d.keys);
        if !same
            || d.info != info
            || d.source != source
            || expire * 2 < d.expire
            || expire > d.expire * 3 / 2
        {
            d.announced = false;
            if !same {
                d.keys = ha::state_keys(fields);
            }
            d.info = info;
            d.source = source;
            d.expire = expire;
        }
        let mut payload = d.state.take().unwrap_or_default();
        payload.clear();
        ha::write_state(fields, &mut payload);
        d.state = Some(payload);
        d.state_dirty = true;
        if d.available != Some(true) {
            d.available = Some(true);
            d.avail_dirty = true;
        }
        if self.json_topic.is_some() {
            d.latest = Some(raw.to_string());
            d.json_dirty = self.array_every.is_none();
        }
        Ok(())
    }

    /// Everything published again: after a (re)connect or Home Assistant's restart.
    fn republish_all(&mut self) {
        for d in self.devices.values_mut() {
            d.announced = false;
            d.state_dirty = d.state.is_some();
            d.avail_dirty = d.available.is_some();
        }
    }

    /// Hands on what is due, in order: discovery before state. Stops at the first message the
    /// outlet cannot take.
    fn flush(&mut self, out: &mut dyn Outlet, now: Instant) {
        for (id, d) in self.devices.iter_mut() {
            if self.discovery && !d.announced && !d.keys.is_empty() {
                let cfg = ha::discovery(&self.topics, id, &d.source, &d.info, &d.keys, d.expire);
                if !out.publish(
                    &self.topics.discovery(id),
                    cfg.to_string().into_bytes(),
                    true,
                ) {
                    return;
                }
                d.announced = true;
            }
            if d.avail_dirty {
                let state = if d.available == Some(true) {
                    "online"
                } else {
                    "offline"
                };
                if !out.publish(
                    &self.topics.availability(id),
                    state.as_bytes().to_vec(),
                    true,
                ) {
                    return;
                }
                d.avail_dirty = false;
            }
            if d.state_dirty && d.not_before.is_none_or(|t| now >= t) {
                if let Some(s) = &d.state {
                    if !out.publish(&self.topics.state(id), s.clone(), true) {
                        return;
                    }
                }
                d.state_dirty = false;
                d.not_before = self.min_interval.map(|m| now + m);
            }
            if d.json_dirty {
                if let (Some(t), Some(v)) = (&self.json_topic, &d.latest) {
                    if !out.publish(t, v.clone().into_bytes(), false) {
                        return;
                    }
                }
                d.json_dirty = false;
            }
        }
        if let (Some(every), Some(topic)) = (self.array_every, &self.json_topic) {
            let due = *self.next_array.get_or_insert(now + every);
            if now >= due {
                let all: Vec<&str> = self
                    .devices
                    .values()
                    .filter_map(|d| d.latest.as_deref())
                    .collect();
                let array = format!("[{}]", all.join(","));
                if !all.is_empty() && !out.publish(topic, array.into_bytes(), false) {
                    return;
                }
                self.next_array = Some(due + every);
            }
        }
    }

    /// Nothing left to hand on (ignoring --min-interval delays and the array timer).
    fn idle(&self) -> bool {
        self.devices.values().all(|d| {
            (!self.discovery || d.announced || d.keys.is_empty())
                && !d.avail_dirty
                && !d.json_dirty
                && !d.state_dirty
        })
    }

    /// Pending states held back by --min-interval are released (end of input).
    fn release(&mut self) {
        for d in self.devices.values_mut() {
            d.not_before = None;
        }
    }
}

fn device_of(v: &Value) -> Result<&str, String> {
    let id = v
        .get("device")
        .and_then(Value::as_str)
        .ok_or("no \"device\"")?;
    if !is_device_id(id) {
        return Err(format!(
            "device id \"{id}\" is not safe in a topic (use [a-z0-9_-])"
        ));
    }
    Ok(id)
}

fn read_password(args: &Args) -> anyhow::Result<Option<String>> {
    if let Some(p) = &args.password_file {
        let text = std::fs::read_to_string(p)
            .map_err(|e| usage(format!("cannot read {}: {e}", p.display())))?;
        return Ok(Some(text.lines().next().unwrap_or("").to_string()));
    }
    Ok(std::env::var("MQTT_PASSWORD").ok())
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    crate::record::device_id(&String::from_utf8_lossy(&buf[..end]))
}

fn options(args: &Args, topics: &Topics) -> anyhow::Result<MqttOptions> {
    let port = args.port.unwrap_or(if args.tls { 8883 } else { 1883 });
    let id = args
        .client_id
        .clone()
        .unwrap_or_else(|| format!("bmstap-{}", host_name()));
    let mut o = MqttOptions::new(id, args.host.clone(), port);
    o.set_keep_alive(args.keep_alive.max(Duration::from_secs(5)));
    o.set_clean_session(true);
    o.set_max_packet_size(1 << 20, 1 << 20);
    o.set_last_will(LastWill::new(
        topics.bridge(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    match (&args.username, read_password(args)?) {
        (Some(u), p) => {
            o.set_credentials(u.clone(), p.unwrap_or_default());
        }
        (None, Some(_)) => {
            log::warn!("a password is set but no --username: connecting anonymously")
        }
        (None, None) => {}
    }
    if args.tls {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let read = |p: &PathBuf| {
            std::fs::read(p).map_err(|e| usage(format!("cannot read {}: {e}", p.display())))
        };
        let ca = match &args.ca_file {
            Some(p) => read(p)?,
            None => {
                return Err(usage(
                    "--tls needs --ca-file (the CA that signed the broker's certificate)",
                ))
            }
        };
        let client_auth = match (&args.cert, &args.key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            _ => None,
        };
        o.set_transport(Transport::tls_with_config(
            rumqttc::TlsConfiguration::Simple {
                ca,
                alpn: None,
                client_auth,
            },
        ));
    }
    Ok(o)
}

/// One input line as the reader takes it: `None` for a blank line, else the JSON object and
/// its text, or why it is not a record (for the warning that names the line).
pub fn parse_line(b: &[u8]) -> Result<Option<(Value, &str)>, String> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let s =
        std::str::from_utf8(b).map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
    let v = serde_json::from_str::<Value>(s).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    Ok(Some((v, s)))
}

/// Everything readings-to-mqtt would publish for the NDJSON `input`, in order, with the default
/// options and no broker: the line reader, the record checks and the bridge in one thread.
/// `publish` gets (topic, payload, retain). Returns (records taken, lines skipped as bad).
/// `--print-discovery --json-topic bmstap/json` without its threads, for the fuzzer.
pub fn dry_run(input: &[u8], mut publish: impl FnMut(&str, &[u8], bool)) -> (u64, u64) {
    struct Sink<F>(F);
    impl<F: FnMut(&str, &[u8], bool)> Outlet for Sink<F> {
        fn publish(&mut self, topic: &str, payload: Vec<u8>, retain: bool) -> bool {
            (self.0)(topic, &payload, retain);
            true
        }
    }
    let topics = Topics {
        prefix: "bmstap".into(),
        discovery_prefix: "homeassistant".into(),
    };
    let mut bridge = Bridge {
        topics,
        discovery: true,
        expire_after: None,
        min_interval: None,
        json_topic: Some("bmstap/json".into()),
        array_every: None,
        next_array: None,
        devices: BTreeMap::new(),
    };
    let mut out = Sink(&mut publish);
    let mut lines = LineReader::new(input, LINE_CAP);
    let (mut taken, mut bad) = (0u64, 0u64);
    while let Ok(Some((_, line))) = lines.next_line() {
        let Ok(b) = line else {
            bad += 1;
            continue;
        };
        match parse_line(b) {
            Ok(None) => {}
            Ok(Some((v, s))) => match bridge.record(&v, s, Instant::now()) {
                Ok(()) => taken += 1,
                Err(_) => bad += 1,
            },
            Err(_) => bad += 1,
        }
        bridge.flush(&mut out, Instant::now());
    }
    (taken, bad)
}

fn spawn_reader(tx: SyncSender<Msg>, tee: bool) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut lines = LineReader::new(std::io::stdin(), LINE_CAP);
        let mut tee_out = tee.then(RecordWriter::stdout);
        let mut bad = 0u64;
        loop {
            let (n, line) = match lines.next_line() {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => {
                    log::error!("reading stdin: {e}");
                    break;
                }
            };
            let parsed = match line {
                Err(len) => Err(format!("line too long ({len} bytes)")),
                Ok(b) => match parse_line(b) {
                    Ok(None) => continue,
                    Ok(Some((v, s))) => Ok((v, s.to_string())),
                    Err(e) => Err(e),
                },
            };
            match parsed {
                Ok((v, s)) => {
                    if let Some(t) = tee_out.as_mut() {
                        if t.write_with(|b| {
                            b.extend_from_slice(s.as_bytes());
                            Ok(())
                        })
                        .and_then(|_| t.flush())
                        .is_err()
                        {
                            tee_out = None;
                        }
                    }
                    if tx.send(Msg::Record(v, s, format!("stdin:{n}"))).is_err() {
                        break;
                    }
                }
                Err(why) => {
                    bad += 1;
                    log::warn!("stdin:{n}: {why}; skipped");
                }
            }
        }
        let _ = tx.send(Msg::Eof);
        bad
    })
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    for (name, t) in [
        ("--topic-prefix", &args.topic_prefix),
        ("--discovery-prefix", &args.discovery_prefix),
    ] {
        if t.is_empty() || t.contains(['+', '#']) || t.starts_with('/') || t.ends_with('/') {
            return Err(usage(format!("{name} '{t}' is not a valid topic level")));
        }
    }
    let topics = Topics {
        prefix: args.topic_prefix.clone(),
        discovery_prefix: args.discovery_prefix.clone(),
    };
    let mut bridge = Bridge {
        topics: topics.clone(),
        discovery: !args.no_discovery,
        expire_after: args.expire_after,
        min_interval: args.min_interval,
        json_topic: args.json_topic.clone(),
        array_every: args.array_every,
        next_array: None,
        devices: BTreeMap::new(),
    };
    // Bounded: a fast producer waits for the publisher instead of filling memory.
    let (tx, rx) = sync_channel::<Msg>(256);
    if args.print_discovery {
        let reader = spawn_reader(tx, false);
        let mut out = Printer(RecordWriter::stdout());
        let mut bad_records = 0u64;
        for msg in rx {
            match msg {
                Msg::Record(v, raw, at) => {
                    if let Err(why) = bridge.record(&v, &raw, Instant::now()) {
                        bad_records += 1;
                        log::warn!("{at}: {why}; skipped");
                    }
                    bridge.release();
                    bridge.flush(&mut out, Instant::now());
                }
                Msg::Eof => break,
                Msg::Conn(_) => {}
            }
        }
        let bad = reader.join().unwrap_or(0) + bad_records;
        return Ok(if bad > 0 { Exit::Partial } else { Exit::Ok });
    }
    install_signal_handlers();
    let opts = options(&args, &topics)?;
    let qos = if args.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    };
    let (client, mut connection) = Client::new(opts, 512);
    let conn_tx = tx.clone();
    let conn_thread = std::thread::spawn(move || {
        let mut failures = 0u32;
        for ev in connection.iter() {
            let failed = ev.is_err();
            let ev = ev.map_err(|e| ConnError {
                auth: matches!(
                    e,
                    rumqttc::ConnectionError::ConnectionRefused(
                        ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
                    )
                ),
                text: e.to_string(),
            });
            if conn_tx.send(Msg::Conn(ev)).is_err() {
                break;
            }
            if failed {
                failures += 1;
                std::thread::sleep(Duration::from_millis(250 * u64::from(failures.min(20))));
            } else {
                failures = 0;
            }
        }
    });
    let reader = spawn_reader(tx, args.tee);
    let mut broker = Broker {
        client,
        qos,
        enqueued: 0,
    };
    let started = Instant::now();
    let mut connected = false;
    let mut ever_connected = false;
    let mut eof = false;
    let mut reader_done = false;
    let mut records_in = 0u64;
    let mut bad_records = 0u64;
    let mut outgoing = 0u64;
    let mut unacked: HashSet<u16> = HashSet::new();
    let mut announce_at: Option<Instant> = None;
    let mut last_error = String::new();
    let mut disconnecting = false;
    let mut disconnect_at: Option<Instant> = None;
    loop {
        let msg = rx.recv_timeout(Duration::from_millis(100));
        let now = Instant::now();
        match msg {
            Ok(Msg::Record(v, raw, at)) => {
                records_in += 1;
                if !eof {
                    if let Err(why) = bridge.record(&v, &raw, now) {
                        bad_records += 1;
                        log::warn!("{at}: {why}; skipped");
                    }
                }
            }
            Ok(Msg::Eof) => {
                eof = true;
                reader_done = true;
                bridge.release();
            }
            Ok(Msg::Conn(Ok(ev))) => match ev {
                Event::Incoming(Incoming::ConnAck(ack)) => {
                    if ack.code != ConnectReturnCode::Success {
                        let why = format!(
                            "{}:{}: broker refused the connection: {:?}",
                            args.host,
                            broker_port(&args),
                            ack.code
                        );
                        if matches!(
                            ack.code,
                            ConnectReturnCode::BadUserNamePassword
                                | ConnectReturnCode::NotAuthorized
                        ) {
                            return Err(usage(why));
                        }
                        return Err(unavailable(why));
                    }
                    if ever_connected {
                        log::warn!("{}: connected again", args.host);
                    } else {
                        log::info!("{}: connected", args.host);
                    }
                    connected = true;
                    ever_connected = true;
                    broker.publish(&topics.bridge(), b"online".to_vec(), true);
                    if bridge.discovery {
                        let _ = broker.client.try_subscribe(
                            format!("{}/status", topics.discovery_prefix),
                            QoS::AtLeastOnce,
                        );
                    }
                    bridge.republish_all();
                }
                Event::Incoming(Incoming::Publish(p))
                    if p.topic == format!("{}/status", topics.discovery_prefix)
                        && &p.payload[..] == b"online" =>
                {
                    // Home Assistant restarted: announce again after a short random delay
                    // so that many bridges do not all answer at once.
                    let jitter = u64::from(std::process::id() % 1000)
                        + (started.elapsed().as_millis() % 1500) as u64;
                    announce_at = Some(now + Duration::from_millis(500 + jitter));
                }
                Event::Incoming(Incoming::PubAck(a)) => {
                    unacked.remove(&a.pkid);
                }
                Event::Outgoing(Outgoing::Publish(pkid)) => {
                    outgoing += 1;
                    if qos == QoS::AtLeastOnce {
                        unacked.insert(pkid);
                    }
                }
                Event::Outgoing(Outgoing::Disconnect) => {
                    log::debug!("disconnected");
                    break;
                }
                _ => {}
            },
            Ok(Msg::Conn(Err(ConnError { text: e, auth }))) => {
                if disconnecting {
                    break;
                }
                if auth {
                    return Err(usage(format!(
                        "{}:{}: broker refused the credentials ({e}); check --username and the password",
                        args.host,
                        broker_port(&args)
                    )));
                }
                if connected {
                    log::warn!("{}: connection lost ({e}); reconnecting", args.host);
                } else if e != last_error {
                    log::info!("{}: {e}", args.host);
                }
                last_error = e;
                connected = false;
                if !ever_connected && started.elapsed() >= args.connect_timeout {
                    return Err(unavailable(format!(
                        "{}:{}: broker unreachable for {} s: {last_error} (is the broker \
                         running? check --host and --port)",
                        args.host,
                        broker_port(&args),
                        args.connect_timeout.as_secs()
                    )));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if disconnect_at.is_some_and(|t| now.duration_since(t) > Duration::from_secs(5)) {
            log::debug!("no DISCONNECT confirmation; exiting anyway");
            break;
        }
        if !ever_connected && started.elapsed() >= args.connect_timeout {
            return Err(unavailable(format!(
                "{}:{}: no connection within {} s{}",
                args.host,
                broker_port(&args),
                args.connect_timeout.as_secs(),
                if last_error.is_empty() {
                    // Nothing failed outright: no route, or a server that takes the TCP
                    // connection but never answers CONNECT (not MQTT, or expecting TLS).
                    " and no reply (check --host and --port, and --tls if the broker expects TLS)"
                        .to_string()
                } else {
                    format!(": {last_error} (is the broker running? check --host and --port)")
                }
            )));
        }
        if STOP.load(Ordering::SeqCst) && !eof {
            log::info!("signal: delivering what was read, then exiting");
            eof = true;
            bridge.release();
        }
        if announce_at.is_some_and(|t| now >= t) {
            announce_at = None;
            bridge.republish_all();
        }
        if connected && !disconnecting {
            bridge.flush(&mut broker, now);
            if eof && bridge.idle() && outgoing >= broker.enqueued && unacked.is_empty() {
                log::debug!(
                    "all {} message(s) delivered; disconnecting",
                    broker.enqueued
                );
                let _ = broker.client.try_disconnect();
                disconnecting = true;
                disconnect_at = Some(now);
            }
        }
    }
    let enqueued = broker.enqueued;
    // The connection thread may stay parked in the event loop after the DISCONNECT went
    // out; the process ends here, so it is not joined. The reader is joined only when it
    // has reached the end of its input (after a signal, stdin may still be open).
    drop(conn_thread);
    drop(broker);
    let bad = if reader_done {
        reader.join().unwrap_or(0)
    } else {
        0
    } + bad_records;
    log::info!("{records_in} record(s) read, {enqueued} message(s) published");
    if bad > 0 {
        log::warn!("{bad} input line(s) skipped");
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}

fn broker_port(args: &Args) -> u16 {
    args.port.unwrap_or(if args.tls { 8883 } else { 1883 })
}
