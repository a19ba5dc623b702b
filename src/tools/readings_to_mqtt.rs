//! readings-to-mqtt: readings into MQTT and Home Assistant, without losing a thing.
//!
//! What to publish and when is [`crate::mqtt::Bridge`]'s business (no threads, no sockets);
//! this module is the arguments and the wiring. Two threads: one reads stdin (NDJSON records)
//! and waits while the bridge wants no more input (backpressure); the main one runs a
//! single-threaded tokio runtime with two tasks, one driving the MQTT connection (rumqttc's
//! `EventLoop`; a fresh client after every failure) and one feeding the bridge every event and
//! handing its transmits to the client, mapping the client's acknowledgements back to them.
//! The connection and the bridge share a thread, so a message costs no thread wakeups
//! between them (the sync `Client` ran its event loop on a thread of its own).

use crate::cli::{duration, Common};
use crate::exit::{unavailable, usage, Exit};
use crate::ha::Topics;
use crate::io::lines::LineReader;
use crate::mqtt::bridge::{check_device, DEFAULT_QUEUE, MAX_PACKET};
use crate::mqtt::head::Head;
use crate::mqtt::{Bridge, Config, Transmit};
use crate::ndjson::RecordWriter;
use rumqttc::{
    AsyncClient, ConnectReturnCode, Event, Incoming, LastWill, MqttOptions, Outgoing, QoS,
    Transport,
};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
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

  # Every reading, in order, for a logger (Telegraf's mqtt_consumer, Node-RED); a summary at exit
  readings-to-mqtt --host broker --json-topic bms/readings --stats < saved.ndjson

  # Remove a device from Home Assistant and clear every retained topic of it
  readings-to-mqtt --host broker --remove lifepower4-3

  # eflexcan2mqtt's consumers: a JSON array of every battery every 2 minutes
  eflex-candump-decode --interface can0 | readings-to-mqtt --host broker --json-topic eflex/batteries --array-every 2m

Topics: <prefix>/<device>/state (retained JSON, arrays flattened: cell_01_voltage, ...),
<prefix>/<device>/availability, <prefix>/bridge/availability ('online'; 'offline' on a clean
end and as the last will),
<discovery-prefix>/device/<prefix>_<device>/config (Home Assistant device discovery).

Delivery: the JSON topic gets every reading, in order (QoS 1: at least once). While connected,
a slow broker slows the reader. While the broker is away, up to --queue readings (and at most
64 MiB) wait; past that the oldest are dropped, counted and reported. State topics keep only
each device's newest state (older ones not yet sent are superseded, and counted).

A message larger than the 1 MiB packet limit is refused, named and counted; the rest flows.
On SIGTERM what was read is delivered for at most 1.5 s; what is left counts as dropped.

Exit status: 0 all delivered, 1 some input lines were skipped, readings dropped or messages
refused, 2 usage error, 75 the broker's name does not resolve or it could not be reached
within --connect-timeout.";

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
    /// Readings held for the JSON topic while the broker is away or slow (at most 64 MiB); past
    /// that, while away, the oldest are dropped and the exit status is 1
    #[arg(long, value_name = "N", default_value_t = DEFAULT_QUEUE as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub queue: u64,
    /// At exit, one line on stderr: records read, readings published on the JSON topic, states
    /// published and superseded, readings dropped, bad lines, messages refused (-v says it in
    /// words)
    #[arg(long)]
    pub stats: bool,
    /// Clear every retained topic of DEVICE (discovery, state, availability) and exit; stdin is
    /// not read
    #[arg(long, value_name = "DEVICE", conflicts_with = "print_discovery")]
    pub remove: Vec<String>,
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

/// Records waiting between the reader and the bridge, at most (and at most `--queue`): all
/// the bridge may take beyond `--queue` while connected (records already read when the reader
/// is told to wait). Enough for either thread to run on for a few milliseconds while the
/// other one waits for a core (on a busy machine a thread is off its core for a time slice).
const RECORD_CHANNEL: usize = 1024;
/// Lines the reader hands on in one message at most: what one read of stdin gave, so that a
/// replay does not wake the main thread per line (a live pipe's lines go on one by one).
const READ_BATCH: usize = 64;
/// A batch goes on once its lines hold this many bytes (so the records waiting hold about
/// 1 MiB of ordinary readings, and at most `RECORD_CHANNEL / READ_BATCH` lines of 1 MiB more).
const READ_BATCH_BYTES: usize = 64 * 1024;
/// Requests rumqttc's client holds before its event loop takes them; also the connection's
/// events waiting for the bridge.
const CLIENT_CHANNEL: usize = 256;

enum Msg {
    /// A parsed record, its line as read, and its line number on stdin.
    Record(Head, String, u64),
    /// An input line skipped as bad (the reader has warned).
    Skipped,
    /// The end of input (the last message of the last batch).
    Eof,
    /// A new MQTT client: the connection task starts a fresh one after every failure, so
    /// nothing handed to a dead connection is sent after the bridge has queued it again.
    Client(AsyncClient),
    Conn(Result<Event, ConnError>),
}

/// A connection failure; `auth` when the broker refused our credentials (retrying won't help).
struct ConnError {
    text: String,
    auth: bool,
}

/// Backpressure: the reader waits here while the bridge wants no more input.
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            open: Mutex::new(true),
            cv: Condvar::new(),
        }
    }

    fn set(&self, open: bool) {
        let mut g = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if *g != open {
            *g = open;
            if open {
                self.cv.notify_all();
            }
        }
    }

    fn wait(&self) {
        let mut g = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*g {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }
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
    o.set_max_packet_size(MAX_PACKET, MAX_PACKET);
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

/// One input line as a consumer takes it: `None` for a blank line, else the JSON object and
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

/// One input line as readings-to-mqtt's reader takes it: like [`parse_line`], but only the
/// record's head is read (no JSON tree is built; the bridge parses a reading in full only
/// when its state is published).
pub fn parse_head(b: &[u8]) -> Result<Option<(Head, &str)>, String> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let s =
        std::str::from_utf8(b).map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
    Ok(Some((Head::parse(s)?, s)))
}

/// Everything readings-to-mqtt would publish for the NDJSON `input`, in order, with the default
/// options and no broker: the line reader, the record checks and the bridge in one thread.
/// `publish` gets (topic, payload, retain). Returns (records taken, lines skipped as bad).
/// `--print-discovery --json-topic bmstap/json` without its threads, for the fuzzer.
pub fn dry_run(input: &[u8], mut publish: impl FnMut(&str, &[u8], bool)) -> (u64, u64) {
    let topics = Topics {
        prefix: "bmstap".into(),
        discovery_prefix: "homeassistant".into(),
    };
    let mut cfg = Config::new(topics);
    cfg.json_topic = Some("bmstap/json".into());
    let mut bridge = Bridge::new(cfg);
    bridge.connected();
    let mut lines = LineReader::new(input, LINE_CAP);
    let (mut taken, mut bad) = (0u64, 0u64);
    let mut drain = |bridge: &mut Bridge| {
        while let Some(t) = bridge.poll_transmit(Instant::now()) {
            publish(&t.topic, &t.payload, t.retain);
            bridge.acked(t.id);
        }
    };
    drain(&mut bridge);
    while let Ok(Some((_, line))) = lines.next_line() {
        let Ok(b) = line else {
            bad += 1;
            continue;
        };
        match parse_head(b) {
            Ok(None) => {}
            Ok(Some((h, s))) => match bridge.record_head(&h, s, Instant::now()) {
                Ok(()) => taken += 1,
                Err(_) => bad += 1,
            },
            Err(_) => bad += 1,
        }
        drain(&mut bridge);
    }
    (taken, bad)
}

/// The reader thread: input lines, checked, go to the main thread in batches of at most
/// [`READ_BATCH`], each batch after the gate opens (backpressure).
fn spawn_reader(
    tx: flume::Sender<Vec<Msg>>,
    tee: bool,
    gate: Arc<Gate>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut lines = LineReader::new(std::io::stdin(), LINE_CAP);
        let mut tee_out = tee.then(RecordWriter::stdout);
        let mut batch: Vec<Msg> = Vec::with_capacity(READ_BATCH);
        let mut bytes = 0usize;
        loop {
            // A batch goes on when it is full or stdin has nothing more buffered (a live
            // pipe: each line at once).
            if !batch.is_empty()
                && (batch.len() >= READ_BATCH || bytes >= READ_BATCH_BYTES || lines.drained())
            {
                gate.wait();
                bytes = 0;
                let b = std::mem::replace(&mut batch, Vec::with_capacity(READ_BATCH));
                if tx.send(b).is_err() {
                    return;
                }
            }
            // After a signal nothing more is read: what was read is delivered, then the
            // tool exits (a line already on its way counts as dropped).
            if STOP.load(Ordering::SeqCst) {
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
                return;
            }
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
                Ok(b) => match parse_head(b) {
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
                    bytes += s.len();
                    batch.push(Msg::Record(v, s, n));
                }
                Err(why) => {
                    crate::io::lines::skipped("stdin", n, &why);
                    batch.push(Msg::Skipped);
                }
            }
        }
        batch.push(Msg::Eof);
        let _ = tx.send(batch);
    })
}

/// The MQTT connection task: polls rumqttc's event loop (which is what makes it progress)
/// and forwards every event. After a failure the event loop is dropped with every request it
/// still held, and a fresh client is made: the bridge sends again what was not acknowledged,
/// in order, so nothing the old one held can overtake it after the reconnect.
async fn connection(opts: MqttOptions, tx: flume::Sender<Msg>) {
    let mut failures = 0u32;
    loop {
        let (client, mut eventloop) = AsyncClient::new(opts.clone(), CLIENT_CHANNEL);
        if tx.send_async(Msg::Client(client)).await.is_err() {
            return;
        }
        loop {
            let ev = eventloop.poll().await;
            // Every client dropped: as the sync `Connection`'s iterator, this one is over.
            if matches!(ev, Err(rumqttc::ConnectionError::RequestsDone)) {
                break;
            }
            let failed = ev.is_err();
            if !failed && matches!(ev, Ok(Event::Incoming(Incoming::ConnAck(_)))) {
                failures = 0;
            }
            let ev = ev.map_err(|e| ConnError {
                auth: matches!(
                    e,
                    rumqttc::ConnectionError::ConnectionRefused(
                        ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
                    )
                ),
                text: e.to_string(),
            });
            if tx.send_async(Msg::Conn(ev)).await.is_err() {
                return;
            }
            if failed {
                break;
            }
        }
        failures += 1;
        tokio::time::sleep(Duration::from_millis(250 * u64::from(failures.min(20)))).await;
    }
}

fn print_discovery(args: &Args, mut bridge: Bridge) -> anyhow::Result<Exit> {
    let (tx, rx) = flume::bounded::<Vec<Msg>>(1);
    let _reader = spawn_reader(tx, false, Arc::new(Gate::new()));
    let mut out = RecordWriter::stdout();
    bridge.connected();
    let mut started = false;
    for msg in rx.iter().flatten() {
        match msg {
            Msg::Record(v, raw, at) => {
                if let Err(why) = bridge.record_head(&v, &raw, Instant::now()) {
                    crate::io::lines::skipped("stdin", at, &why);
                }
                bridge.end_of_input();
            }
            Msg::Skipped => bridge.skipped(),
            Msg::Eof => break,
            Msg::Client(_) | Msg::Conn(_) => {}
        }
        while let Some(t) = bridge.poll_transmit(Instant::now()) {
            bridge.acked(t.id);
            // The bridge's own `online` is not part of what a reading publishes.
            if !started && t.topic == bridge.config().topics.bridge() {
                started = true;
                continue;
            }
            let payload: Value = serde_json::from_slice(&t.payload).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&t.payload).into_owned())
            });
            out.write_value(&json!({"topic": t.topic, "retain": t.retain, "payload": payload}))?;
        }
        while let Some(n) = bridge.take_note() {
            log::warn!("{n}");
        }
    }
    Ok(finish(args, &bridge))
}

/// The exit status and the closing report (`-v`, `--stats`, a warning for drops).
fn finish(args: &Args, bridge: &Bridge) -> Exit {
    let s = bridge.stats();
    log::info!(
        "{} record(s) read, {} reading(s) published on the JSON topic, {} state(s) published, \
         {} state(s) superseded, {} reading(s) dropped, {} bad line(s), {} message(s) refused",
        s.records,
        s.json_published,
        s.states_published,
        s.states_superseded,
        s.dropped,
        s.bad,
        s.refused
    );
    if args.stats {
        eprintln!("{}: stats: {s}", crate::log::tool_name());
    }
    if s.dropped > 0 {
        log::warn!(
            "{} reading(s) dropped: the broker was away longer than --queue {} lasts, or a \
             signal came before they were delivered",
            s.dropped,
            bridge.config().queue
        );
    }
    if s.bad > 0 {
        log::warn!("{} input line(s) skipped", s.bad);
    }
    if s.refused > 0 {
        log::warn!(
            "{} message(s) refused: larger than the maximum packet",
            s.refused
        );
    }
    if s.dropped > 0 || s.bad > 0 || s.refused > 0 {
        Exit::Partial
    } else {
        Exit::Ok
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    for (name, t) in [
        ("--topic-prefix", Some(&args.topic_prefix)),
        ("--discovery-prefix", Some(&args.discovery_prefix)),
        ("--json-topic", args.json_topic.as_ref()),
    ] {
        let Some(t) = t else { continue };
        if !valid_topic(t) {
            return Err(usage(format!(
                "{name} '{}' is not a valid topic (not empty, no '+', '#' or NUL, no '/' at \
                 either end, at most {MAX_TOPIC} bytes)",
                t.escape_debug()
            )));
        }
    }
    for d in &args.remove {
        if let Err(why) = check_device(d) {
            return Err(usage(format!("--remove: {why}")));
        }
    }
    let topics = Topics {
        prefix: args.topic_prefix.clone(),
        discovery_prefix: args.discovery_prefix.clone(),
    };
    if let Some(j) = &args.json_topic {
        if owned_topic(&topics, j) {
            return Err(usage(format!(
                "--json-topic '{j}' is one of the bridge's own topics (state, availability, \
                 discovery); choose another"
            )));
        }
    }
    let mut cfg = Config::new(topics.clone());
    cfg.discovery = !args.no_discovery;
    cfg.expire_after = args.expire_after;
    cfg.min_interval = args.min_interval;
    cfg.json_topic = args.json_topic.clone();
    cfg.array_every = args.array_every;
    cfg.queue = usize::try_from(args.queue).unwrap_or(usize::MAX);
    let bridge = Bridge::new(cfg);
    if args.print_discovery {
        return print_discovery(&args, bridge);
    }
    install_signal_handlers();
    let opts = options(&args, &topics)?;
    resolves(&args)?;
    let batches =
        (RECORD_CHANNEL.min(usize::try_from(args.queue).unwrap_or(usize::MAX)) / READ_BATCH).max(1);
    let (tx, rx) = flume::bounded::<Vec<Msg>>(batches);
    let (conn_tx, events) = flume::bounded::<Msg>(CLIENT_CHANNEL);
    // The reader's channel closes after its last batch; the connection's stays open.
    let mut input_open = true;
    let gate = Arc::new(Gate::new());
    let mut d = Driver {
        qos: if args.qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        },
        args: &args,
        bridge,
        client: None,
        pending: None,
        handed: VecDeque::new(),
        pkids: HashMap::new(),
        started: Instant::now(),
        ever_connected: false,
        eof: false,
        last_error: String::new(),
        announce_at: None,
        disconnect_at: None,
        dropped_seen: 0,
        stop_at: None,
        losses: 0,
        loss_logged: true,
        loss_logged_at: None,
        said_connecting: false,
    };
    if args.remove.is_empty() {
        // The reader is not joined: after a signal, stdin may still be open.
        let _reader = spawn_reader(tx, args.tee, gate.clone());
    } else {
        for dev in &args.remove {
            d.bridge.remove(dev);
        }
        d.eof = true;
        drop(tx);
    }
    // The connection task and this loop share the thread: a message is handed from the
    // bridge to the connection and acknowledged back without waking another thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the MQTT runtime: {e}"))?;
    rt.block_on(async {
        tokio::spawn(connection(opts, conn_tx));
        loop {
            let now = Instant::now();
            // A transmit the client could not take yet waits for the client, not for a deadline.
            let wait = match d.pending {
                Some(_) => TICK,
                None => d
                    .bridge
                    .next_deadline()
                    .map_or(TICK, |t| t.saturating_duration_since(now).min(TICK)),
            };
            // Messages already waiting are taken without a timer, the connection's first (its
            // acknowledgements make room); the budget makes the loop let the connection task
            // run now and then even while the input never pauses.
            tokio::task::coop::consume_budget().await;
            let msgs = match events.try_recv() {
                Ok(m) => vec![m],
                Err(flume::TryRecvError::Disconnected) => break,
                Err(flume::TryRecvError::Empty) => match rx.try_recv() {
                    Ok(b) => b,
                    Err(e) => {
                        if e == flume::TryRecvError::Disconnected {
                            input_open = false;
                        }
                        tokio::select! {
                            biased;
                            m = events.recv_async() => match m {
                                Ok(m) => vec![m],
                                Err(_) => break,
                            },
                            b = rx.recv_async(), if input_open => b.unwrap_or_else(|_| {
                                input_open = false;
                                Vec::new()
                            }),
                            () = tokio::time::sleep(wait) => Vec::new(),
                        }
                    }
                },
            };
            let mut done = false;
            for msg in msgs {
                if d.on_msg(msg)? == Flow::Done {
                    done = true;
                    break;
                }
            }
            if done {
                break;
            }
            if STOP.load(Ordering::SeqCst) && d.stop_at.is_none() {
                log::info!("signal: delivering what was read, then exiting");
                d.stop_at = Some(Instant::now());
                if !d.eof {
                    d.eof = true;
                    d.bridge.end_of_input();
                }
            }
            // Nothing to deliver and no broker to say goodbye to: no reason to wait.
            let nothing_left = !d.bridge.is_connected() && d.bridge.held() == 0;
            if d.stop_at
                .is_some_and(|t| t.elapsed() >= STOP_GRACE || nothing_left)
            {
                let n = d.bridge.abandon();
                if n > 0 {
                    log::warn!(
                        "signal: the broker did not take {n} reading(s) within {} ms; dropped",
                        STOP_GRACE.as_millis()
                    );
                }
                if let Some(c) = &d.client {
                    let _ = c.try_disconnect();
                }
                d.log_notes();
                break;
            }
            if d.stop_at.is_none() {
                d.check_timeouts()?;
            }
            gate.set(d.bridge.wants_input());
            let flow = d.pump();
            d.log_notes();
            if flow == Flow::Done {
                break;
            }
        }
        anyhow::Ok(())
    })?;
    Ok(finish(&args, &d.bridge))
}

/// The longest topic taken from the command line (MQTT allows 65535 bytes; a topic is a name).
const MAX_TOPIC: usize = 1024;

/// A topic to publish to: not empty, no wildcards or NUL, no empty first or last level.
fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_TOPIC
        && !t.contains(['+', '#', '\0'])
        && !t.starts_with('/')
        && !t.ends_with('/')
}

/// Is `t` a topic the bridge itself publishes to (some device's state or availability, the
/// bridge's availability, a discovery config)?
fn owned_topic(topics: &Topics, t: &str) -> bool {
    let levels: Vec<&str> = t.split('/').collect();
    let own = |prefix: &str| {
        let p: Vec<&str> = prefix.split('/').collect();
        levels.len() == p.len() + 2
            && levels[..p.len()] == p[..]
            && matches!(levels[p.len() + 1], "state" | "availability")
    };
    let disc: Vec<&str> = topics.discovery_prefix.split('/').collect();
    own(&topics.prefix)
        || (levels.len() > disc.len() && levels[..disc.len()] == disc[..] && t.ends_with("/config"))
}

/// After a signal, how long the broker has to take what was read before the tool gives up
/// on it (counted as dropped) and exits.
const STOP_GRACE: Duration = Duration::from_millis(1500);

/// Connection losses logged one by one; past these, one line a minute ([`LOSS_LOG_EVERY`]).
const LOSSES_NAMED: u64 = 5;
const LOSS_LOG_EVERY: Duration = Duration::from_secs(60);

/// The longest the main loop sleeps without a message.
const TICK: Duration = Duration::from_millis(100);

#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    Done,
}

/// The wiring of the bridge to rumqttc: messages in, transmits out, acknowledgements mapped
/// back to the bridge's ids.
struct Driver<'a> {
    args: &'a Args,
    qos: QoS,
    bridge: Bridge,
    client: Option<AsyncClient>,
    /// A transmit the client could not take yet (its channel was full).
    pending: Option<Transmit>,
    /// Ids handed to the client, waiting for their `Outgoing::Publish` (in the same order).
    handed: VecDeque<u64>,
    /// QoS 1: packet id → bridge id, waiting for the PUBACK.
    pkids: HashMap<u16, u64>,
    started: Instant,
    ever_connected: bool,
    eof: bool,
    last_error: String,
    announce_at: Option<Instant>,
    disconnect_at: Option<Instant>,
    dropped_seen: u64,
    /// When the signal was seen.
    stop_at: Option<Instant>,
    /// Connections lost so far, whether the latest loss was logged, and when one last was.
    losses: u64,
    loss_logged: bool,
    loss_logged_at: Option<Instant>,
    /// "still connecting" was said (once, a second into a first connection that is slow).
    said_connecting: bool,
}

impl Driver<'_> {
    /// The bridge's refusals, on stderr.
    fn log_notes(&mut self) {
        while let Some(n) = self.bridge.take_note() {
            log::warn!("{n}");
        }
    }

    fn where_(&self) -> String {
        format!("{}:{}", self.args.host, broker_port(self.args))
    }

    fn on_msg(&mut self, msg: Msg) -> anyhow::Result<Flow> {
        let now = Instant::now();
        match msg {
            Msg::Record(v, raw, at) => {
                if !self.eof {
                    if let Err(why) = self.bridge.record_line(&v, raw.into(), now) {
                        crate::io::lines::skipped("stdin", at, &why);
                    }
                } else {
                    // Read after a signal, when delivery had already been wrapped up.
                    log::warn!("stdin:{at}: read after the signal; not delivered");
                    self.bridge.lost_after_end();
                }
            }
            Msg::Skipped => self.bridge.skipped(),
            Msg::Eof => {
                self.eof = true;
                self.bridge.end_of_input();
            }
            Msg::Client(c) => {
                self.client = Some(c);
                self.pending = None;
                self.handed.clear();
                self.pkids.clear();
            }
            Msg::Conn(Ok(ev)) => return self.on_event(ev, now),
            Msg::Conn(Err(ConnError { text: e, auth })) => {
                if self.disconnect_at.is_some() {
                    return Ok(Flow::Done);
                }
                if auth {
                    return Err(usage(format!(
                        "{}: broker refused the credentials ({e}); check --username and the password",
                        self.where_()
                    )));
                }
                if self.bridge.is_connected() {
                    // A broker that keeps dropping the connection: the first few losses,
                    // then one line a minute with the count.
                    self.losses += 1;
                    self.loss_logged = self.losses <= LOSSES_NAMED
                        || self
                            .loss_logged_at
                            .is_none_or(|t| t.elapsed() >= LOSS_LOG_EVERY);
                    if self.loss_logged {
                        let count = if self.losses > LOSSES_NAMED {
                            format!("; {} losses so far, logged once a minute", self.losses)
                        } else {
                            String::new()
                        };
                        log::warn!(
                            "{}: connection lost ({e}); reconnecting{count}",
                            self.args.host
                        );
                        self.loss_logged_at = Some(now);
                    }
                } else if e != self.last_error {
                    log::info!("{}: {e}", self.args.host);
                }
                self.last_error = e;
                self.client = None;
                self.pending = None;
                self.handed.clear();
                self.pkids.clear();
                self.bridge.disconnected();
            }
        }
        Ok(Flow::Go)
    }

    fn on_event(&mut self, ev: Event, now: Instant) -> anyhow::Result<Flow> {
        let status = format!("{}/status", self.args.discovery_prefix);
        match ev {
            Event::Incoming(Incoming::ConnAck(ack)) => {
                if ack.code != ConnectReturnCode::Success {
                    let why = format!(
                        "{}: broker refused the connection: {:?}",
                        self.where_(),
                        ack.code
                    );
                    if matches!(
                        ack.code,
                        ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
                    ) {
                        return Err(usage(why));
                    }
                    return Err(unavailable(why));
                }
                let dropped = self.bridge.stats().dropped;
                if self.ever_connected {
                    if self.loss_logged {
                        log::warn!("{}: connected again", self.args.host);
                    }
                    if dropped > self.dropped_seen {
                        log::warn!(
                            "{} reading(s) dropped while the broker was away (--queue {})",
                            dropped - self.dropped_seen,
                            self.bridge.config().queue
                        );
                    }
                } else {
                    log::info!("{}: connected", self.args.host);
                }
                self.dropped_seen = dropped;
                self.ever_connected = true;
                self.bridge.connected();
                if self.bridge.config().discovery {
                    if let Some(c) = &self.client {
                        let _ = c.try_subscribe(status, QoS::AtLeastOnce);
                    }
                }
            }
            Event::Incoming(Incoming::Publish(p))
                if p.topic == status && &p.payload[..] == b"online" =>
            {
                // Home Assistant restarted: announce again after a short random delay so that
                // many bridges do not all answer at once.
                let jitter = u64::from(std::process::id() % 1000)
                    + (self.started.elapsed().as_millis() % 1500) as u64;
                self.announce_at = Some(now + Duration::from_millis(500 + jitter));
            }
            Event::Incoming(Incoming::PubAck(a)) => {
                if let Some(id) = self.pkids.remove(&a.pkid) {
                    self.bridge.acked(id);
                }
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(id) = self.handed.pop_front() {
                    if self.qos == QoS::AtMostOnce {
                        self.bridge.acked(id);
                    } else {
                        self.pkids.insert(pkid, id);
                    }
                }
            }
            Event::Outgoing(Outgoing::Disconnect) => {
                log::debug!("disconnected");
                return Ok(Flow::Done);
            }
            _ => {}
        }
        Ok(Flow::Go)
    }

    fn check_timeouts(&mut self) -> anyhow::Result<()> {
        let now = Instant::now();
        if !self.ever_connected
            && !self.said_connecting
            && self.started.elapsed() >= SAY_CONNECTING_AFTER
        {
            self.said_connecting = true;
            log::warn!(
                "connecting to {}: no answer yet; trying for up to {} s (--connect-timeout)",
                self.where_(),
                self.args.connect_timeout.as_secs()
            );
        }
        if !self.ever_connected && self.started.elapsed() >= self.args.connect_timeout {
            let secs = self.args.connect_timeout.as_secs();
            return Err(unavailable(if self.last_error.is_empty() {
                // Nothing failed outright: no route, or a server that takes the TCP
                // connection but never answers CONNECT (not MQTT, or expecting TLS).
                format!(
                    "{}: no connection within {secs} s and no reply (check --host and --port, \
                     and --tls if the broker expects TLS)",
                    self.where_()
                )
            } else {
                format!(
                    "{}: broker unreachable for {secs} s: {} (is the broker running? check \
                     --host and --port)",
                    self.where_(),
                    self.last_error
                )
            }));
        }
        if self.announce_at.is_some_and(|t| now >= t) {
            self.announce_at = None;
            self.bridge.announce_again();
        }
        Ok(())
    }

    /// Hands the client what is due until its channel is full; disconnects once everything
    /// read was delivered.
    fn pump(&mut self) -> Flow {
        let now = Instant::now();
        if let Some(t) = self.disconnect_at {
            if now.duration_since(t) > Duration::from_secs(5) {
                log::debug!("no DISCONNECT confirmation; exiting anyway");
                return Flow::Done;
            }
            return Flow::Go;
        }
        let Some(client) = &self.client else {
            return Flow::Go;
        };
        if !self.bridge.is_connected() {
            return Flow::Go;
        }
        loop {
            let t = match self.pending.take() {
                Some(t) => t,
                None => match self.bridge.poll_transmit(now) {
                    Some(t) => t,
                    None => break,
                },
            };
            let id = t.id;
            match client.try_publish(t.topic, self.qos, t.retain, t.payload) {
                Ok(()) => self.handed.push_back(id),
                Err(e) => {
                    // Full (or the connection just died): keep it for the next round.
                    let rumqttc::ClientError::TryRequest(rumqttc::Request::Publish(p)) = e else {
                        log::debug!("publish deferred: {e}");
                        break;
                    };
                    self.pending = Some(Transmit {
                        id,
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                        retain: p.retain,
                    });
                    break;
                }
            }
        }
        if self.eof && self.pending.is_none() && self.bridge.idle() {
            if self.bridge.goodbye() {
                // `offline` on the bridge's availability goes out (and is acknowledged)
                // before the clean disconnect, which would not trigger the last will.
                return self.pump();
            }
            log::debug!("everything delivered; disconnecting");
            let _ = client.try_disconnect();
            self.disconnect_at = Some(now);
        }
        Flow::Go
    }
}

/// A first connection still not made after this long is said on stderr at the default level.
const SAY_CONNECTING_AFTER: Duration = Duration::from_secs(1);

/// The broker's name must resolve at the start (exit 75 at once, as the pollers do with a
/// gateway's name), not after --connect-timeout of silent retries.
fn resolves(args: &Args) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    let host = args.host.trim_matches(|c| c == '[' || c == ']');
    match (host, broker_port(args))
        .to_socket_addrs()
        .map(|mut a| a.next())
    {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(unavailable(format!(
            "cannot resolve broker '{}': no address (check --host)",
            args.host
        ))),
        Err(e) => Err(unavailable(format!(
            "cannot resolve broker '{}': {e} (check --host, or give the broker's IP address)",
            args.host
        ))),
    }
}

fn broker_port(args: &Args) -> u16 {
    args.port.unwrap_or(if args.tls { 8883 } else { 1883 })
}
