//! readings-to-influx: readings (NDJSON on stdin) as InfluxDB line protocol, on stdout or
//! written to an InfluxDB (or anything that takes its write API) over HTTP.
//!
//! To stdout it is a filter: one line per reading, flushed whenever the input is drained.
//! The line encoding is [`crate::tsdb::line`].
//!
//! With `--url`, two threads: one reads and encodes stdin and hands the lines over a bounded
//! channel; the main one drives the delivery state machine ([`crate::tsdb::outbox`]) and
//! sends its batches with the small HTTP client ([`crate::tsdb::http`]), one request at a
//! time. While a request is under way the channel fills and the reader waits
//! (backpressure); while the server is away the reader goes on and the outbox keeps at most
//! `--buffer` lines and 64 MiB, dropping the oldest (counted, exit 1); the channel holds at
//! most 4 MiB besides.
//!
//! Every request has one deadline (`--timeout`, or the drain deadline if sooner) and is
//! cancelled by a second signal; the client checks both every 100 ms whatever the server
//! does (trickles, sends an endless body, never answers).

use crate::cli::{duration, Common};
use crate::exit::{unavailable, usage, Exit};
use crate::io::lines::LineReader;
use crate::ndjson::RecordWriter;
use crate::tsdb::http::{base64, tls_config, urlencode, Client, Limit, Response, Url};
use crate::tsdb::line::{Encoder, Precision, Record};
use crate::tsdb::outbox::{self, Action, Outbox, Outcome, Report};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const EXAMPLES: &str = "\
Examples:
  # Line protocol on stdout (timestamps in ms: tell the consumer)
  lp4-poll /dev/ttyUSB0 | readings-to-influx | influx write --bucket bms --precision ms

  # A file of readings into InfluxDB 1.x with its CLI (influx -import needs the header)
  { printf '# DML\\n# CONTEXT-DATABASE: bms\\n'; readings-to-influx --precision ns < readings.ndjson; } > readings.lp
  influx -import -path=readings.lp -precision=ns

  # Telegraf reads it from a process: [[inputs.execd]] command = [\"sh\", \"-c\",
  # \"lp4-poll /dev/ttyUSB0 | readings-to-influx --precision ns\"], data_format = \"influx\"

  # Straight into InfluxDB 1.x (/write)
  lp4-poll /dev/ttyUSB0 | readings-to-influx --url http://localhost:8086 --db bms

  # InfluxDB 2.x/3.x (/api/v2/write); the token from the environment or a file, never a flag
  INFLUX_TOKEN=$(cat /etc/bmstap/influx.token) lp4-poll /dev/ttyUSB0 | readings-to-influx --url http://influx:8086 --org home --bucket bms
  lp4-poll /dev/ttyUSB0 | readings-to-influx --url http://influx:8086 --bucket bms --token-file /etc/bmstap/influx.token

  # InfluxDB Cloud, or your own server with its own CA
  readings-to-influx --url https://eu-central-1-1.aws.cloud2.influxdata.com --org home --bucket bms --token-file t < r.ndjson
  readings-to-influx --url https://influx.lan:8086 --ca-file /etc/bmstap/ca.pem --db bms < r.ndjson

Measurement bmstap (--measurement); tags device, source and model (from info); fields every
number (as a float), boolean and string of the reading, arrays flattened like the MQTT state
(cell_01_voltage, temperature_01, ...); timestamp from ts.

With --url: batches of --batch-size lines or --flush-interval, gzip, retried with backoff on
connection errors, timeouts, 408, 429 and 5xx (not before the server's Retry-After, at most
10 min); a line the server refuses (400) is reported with the server's message and skipped.
Each request has one deadline, --timeout, for connecting, sending and the whole answer. A
redirect (3xx) is an error naming its Location: give that as --url.
At end of input and on SIGTERM everything read is written before exit, for at most
--drain-timeout; a second SIGTERM (or Ctrl-C) ends at once. Lines not written are counted.
While the server is away at most --buffer lines (and 64 MiB) are kept; beyond, the oldest
are dropped. A token with a colon (user:password) is sent to /write as Basic authentication.

Exit status: 0 all written, 1 some input lines were skipped or some lines dropped or refused,
2 usage error (or the server refused the token, the database or bucket, or redirects), 75
the server could not be reached within --connect-timeout.";

/// Write bmstap readings (NDJSON on stdin) as InfluxDB line protocol.
#[derive(Debug, clap::Parser)]
#[command(name = "readings-to-influx", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    /// Measurement name of every line
    #[arg(long, default_value = "bmstap")]
    pub measurement: String,
    /// Timestamp precision of the lines
    #[arg(long, value_enum, default_value = "ms")]
    pub precision: Precision,
    /// Write to the InfluxDB at URL (http[s]://HOST:PORT) instead of stdout
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// CA certificates (PEM) to verify an https server with [default: the system's]
    #[arg(long, value_name = "FILE", requires = "url")]
    pub ca_file: Option<PathBuf>,
    /// InfluxDB 1.x database: POST /write?db=NAME
    #[arg(long, value_name = "NAME", requires = "url", conflicts_with = "bucket")]
    pub db: Option<String>,
    /// InfluxDB 1.x retention policy (with --db)
    #[arg(long, value_name = "NAME", requires = "db")]
    pub rp: Option<String>,
    /// InfluxDB 2.x/3.x bucket (or database): POST /api/v2/write?bucket=NAME
    #[arg(long, value_name = "NAME", requires = "url")]
    pub bucket: Option<String>,
    /// InfluxDB 2.x organisation (with --bucket)
    #[arg(long, value_name = "NAME", requires = "bucket")]
    pub org: Option<String>,
    /// Read the API token from FILE (first line) [default: $INFLUX_TOKEN]
    #[arg(long, value_name = "FILE", requires = "url")]
    pub token_file: Option<PathBuf>,
    /// Lines per request at most
    #[arg(long, value_name = "N", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub batch_size: u64,
    /// Send a batch at the latest this long after its first line
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "1s")]
    pub flush_interval: Duration,
    /// Lines kept while the server is away (and at most 64 MiB); beyond, the oldest are
    /// dropped
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub buffer: u64,
    /// Send the request bodies uncompressed
    #[arg(long)]
    pub no_gzip: bool,
    /// Deadline of a request: connecting, sending it and the whole answer
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "10s")]
    pub timeout: Duration,
    /// Give up (exit 75) if nothing could be written for this long at the start
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "30s")]
    pub connect_timeout: Duration,
    /// At end of input or on SIGTERM, keep writing for this long, then drop what is left
    /// (exit 1)
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "60s")]
    pub drain_timeout: Duration,
    #[command(flatten)]
    pub common: Common,
}

/// Input lines longer than this are skipped (a reading is ~1-2 KiB).
const LINE_CAP: usize = 1024 * 1024;

/// One input line turned into line protocol: appended to `out` (with its `\n`), `Ok(false)`
/// for a record that gives no line (not a reading, or a reading without fields), `Err` for a
/// line that is not a record or a reading that breaks the contract. `scratch` is reused.
pub fn encode_line(
    enc: &Encoder,
    b: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<bool, String> {
    match enc.record(b, out, scratch) {
        Ok(r) => Ok(r == Record::Line),
        Err(e) => Err(e.to_string()),
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    let enc = Encoder::new(&args.measurement, args.precision).map_err(usage)?;
    if args.url.is_some() {
        return write_to_server(&args, enc);
    }
    let mut lines = LineReader::new(std::io::stdin(), LINE_CAP);
    let mut out = RecordWriter::stdout();
    let mut line = Vec::with_capacity(4096);
    let mut scratch = Vec::with_capacity(4096);
    let (mut written, mut bad) = (0u64, 0u64);
    loop {
        let (n, l) = match lines.next_line() {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) => {
                log::error!("reading stdin: {e}");
                bad += 1;
                break;
            }
        };
        line.clear();
        let r = match l {
            Err(len) => Err(format!("line too long ({len} bytes)")),
            Ok(b) => encode_line(&enc, b, &mut line, &mut scratch),
        };
        match r {
            Ok(true) => {
                written += 1;
                out.write_with(|b| {
                    b.extend_from_slice(&line[..line.len() - 1]);
                    Ok(())
                })?;
            }
            Ok(false) => {}
            Err(why) => {
                bad += 1;
                crate::io::lines::skipped("stdin", n, &why);
            }
        }
        if lines.drained() {
            out.flush()?;
        }
    }
    out.flush()?;
    log::info!("{written} line(s) written");
    if bad > 0 {
        log::warn!("{bad} input line(s) skipped");
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}

/// Where and how the lines are written: the request target and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteApi {
    /// Path and query after the URL's own path (`/write?db=bms&precision=ms`).
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl WriteApi {
    /// The 1.x API (`--db`) or the 2.x/3.x one (`--bucket`). A 1.x token with a colon is
    /// `user:password` (Basic authentication, every 1.x); any other token is sent as
    /// `Authorization: Token` (2.x, 3.x, and 1.8+ with its v2 compatibility).
    pub fn new(
        db: Option<&str>,
        rp: Option<&str>,
        bucket: Option<&str>,
        org: Option<&str>,
        precision: Precision,
        token: Option<&str>,
        gzip: bool,
    ) -> Result<WriteApi, String> {
        let p = precision.as_str();
        let target = match (db, bucket) {
            (Some(db), None) => {
                let mut t = format!("/write?db={}&precision={p}", urlencode(db));
                if let Some(rp) = rp {
                    t.push_str(&format!("&rp={}", urlencode(rp)));
                }
                t
            }
            (None, Some(b)) => {
                let mut t = format!("/api/v2/write?bucket={}", urlencode(b));
                if let Some(o) = org {
                    t.push_str(&format!("&org={}", urlencode(o)));
                }
                t.push_str(&format!("&precision={p}"));
                t
            }
            _ => return Err("--url needs --db (InfluxDB 1.x) or --bucket (2.x, 3.x)".into()),
        };
        let mut headers = vec![
            (
                "Content-Type".to_string(),
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                "User-Agent".to_string(),
                concat!("bmstap/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
        ];
        if gzip {
            headers.push(("Content-Encoding".into(), "gzip".into()));
        }
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            let value = if db.is_some() && t.contains(':') {
                format!("Basic {}", base64(t.as_bytes()))
            } else {
                format!("Token {t}")
            };
            headers.push(("Authorization".into(), value));
        }
        Ok(WriteApi { target, headers })
    }
}

/// What the server's answer means for the delivery. `now` is the wall clock (for a
/// `Retry-After` given as a date).
pub fn outcome(r: &Response, now: SystemTime) -> Outcome {
    let what = format!("{} {}: {}", r.status, r.reason, server_message(&r.body));
    match r.status {
        200..=299 => Outcome::Written,
        400 | 413 | 422 => Outcome::Rejected(what),
        408 | 429 | 500..=599 => match r.header("retry-after").and_then(|v| retry_after(v, now)) {
            Some(after) => Outcome::RetryAfter(what, after),
            None => Outcome::Retry(what),
        },
        300..=399 => Outcome::Fatal(match r.header("location") {
            Some(to) => format!(
                "{} {}: the server redirects to {}; give that as --url",
                r.status,
                r.reason,
                to.chars().take(500).collect::<String>()
            ),
            None => format!("{} {}: a redirect without a Location", r.status, r.reason),
        }),
        _ => Outcome::Fatal(what),
    }
}

/// A `Retry-After` value: seconds, or an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), as
/// the wait from `now`. `None` for anything else.
pub fn retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // IMF-fixdate: day-name, DD Mon YYYY HH:MM:SS GMT
    let (_, rest) = v.split_once(", ")?;
    let mut it = rest.split(' ');
    let day: u32 = it.next()?.parse().ok()?;
    let month = it.next()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == month)? as u32
        + 1;
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|x| x.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if it.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let at = crate::time::days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(Duration::from_secs(at.saturating_sub(now).max(0) as u64))
}

/// The `error` (1.x) or `message` (2.x, 3.x) of a JSON error body, else the body's text.
pub fn server_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let v: Option<Value> = serde_json::from_str(&text).ok();
    let msg = v
        .as_ref()
        .and_then(|v| v.get("error").or_else(|| v.get("message")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| text.trim().to_string());
    let mut msg: String = msg.chars().take(500).collect();
    if msg.is_empty() {
        msg = "(no message)".into();
    }
    msg
}

/// Signals received: the first asks to write what was read and exit, the second to exit now.
static SIGNALS: AtomicU32 = AtomicU32::new(0);

/// Refused lines logged in full; the rest are only counted.
const SHOWN_REFUSALS: u64 = 10;

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// Response bodies larger than this are an error: a write API answers in a few bytes.
const MAX_RESPONSE_BODY: usize = 1 << 20;

enum Msg {
    Line(Vec<u8>),
    Eof,
}

fn read_token(args: &Args) -> anyhow::Result<Option<String>> {
    if let Some(p) = &args.token_file {
        let text = std::fs::read_to_string(p)
            .map_err(|e| usage(format!("cannot read {}: {e}", p.display())))?;
        return Ok(Some(text.lines().next().unwrap_or("").trim().to_string()));
    }
    Ok(std::env::var("INFLUX_TOKEN").ok())
}

/// Reads and encodes stdin; counts the lines it skips in `bad` (read at exit, also after a
/// signal, when this thread may still be blocked on stdin).
/// Bytes of lines on their way from the reader to the outbox at most (besides one line):
/// the channel is bounded in lines, and lines can be large.
const CHANNEL_BYTES: usize = 4 << 20;

/// Counts the bytes in the channel; the reader waits while there are too many.
#[derive(Default)]
struct Gate {
    bytes: std::sync::Mutex<usize>,
    room: std::sync::Condvar,
}

impl Gate {
    fn enter(&self, n: usize) {
        let mut b = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        while *b > 0 && *b + n > CHANNEL_BYTES {
            b = self.room.wait(b).unwrap_or_else(|e| e.into_inner());
        }
        *b += n;
    }

    fn leave(&self, n: usize) {
        let mut b = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        *b = b.saturating_sub(n);
        self.room.notify_one();
    }
}

fn spawn_reader(
    enc: Encoder,
    tx: std::sync::mpsc::SyncSender<Msg>,
    bad: Arc<AtomicU64>,
    gate: Arc<Gate>,
) {
    std::thread::spawn(move || {
        let mut lines = LineReader::new(std::io::stdin(), LINE_CAP);
        let mut scratch = Vec::with_capacity(4096);
        loop {
            let (n, l) = match lines.next_line() {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => {
                    log::error!("reading stdin: {e}");
                    bad.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            };
            let mut out = Vec::new();
            let r = match l {
                Err(len) => Err(format!("line too long ({len} bytes)")),
                Ok(b) => encode_line(&enc, b, &mut out, &mut scratch),
            };
            match r {
                Ok(true) => {
                    gate.enter(out.len());
                    if tx.send(Msg::Line(out)).is_err() {
                        return;
                    }
                }
                Ok(false) => {}
                Err(why) => {
                    bad.fetch_add(1, Ordering::SeqCst);
                    crate::io::lines::skipped("stdin", n, &why);
                }
            }
        }
        let _ = tx.send(Msg::Eof);
    });
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    e.write_all(body)?;
    e.finish()
}

fn write_to_server(args: &Args, enc: Encoder) -> anyhow::Result<Exit> {
    let url_text = args.url.as_deref().unwrap_or_default();
    let url = Url::parse(url_text).map_err(usage)?;
    let token = read_token(args)?;
    let api = WriteApi::new(
        args.db.as_deref(),
        args.rp.as_deref(),
        args.bucket.as_deref(),
        args.org.as_deref(),
        args.precision,
        token.as_deref(),
        !args.no_gzip,
    )
    .map_err(usage)?;
    let headers: Vec<(&str, &str)> = api
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let mut outbox = Outbox::new(outbox::Config {
        batch_lines: args.batch_size as usize,
        flush_after: args.flush_interval,
        capacity: args.buffer as usize,
        capacity_bytes: outbox::CAPACITY_BYTES,
        ..outbox::Config::default()
    });
    let (tx, rx) = sync_channel::<Msg>(1024);
    let bad_lines = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Gate::default());
    spawn_reader(enc, tx, bad_lines.clone(), gate.clone());
    let mut client = if url.https {
        let tls = tls_config(args.ca_file.as_deref()).map_err(usage)?;
        Client::with_tls(url, args.timeout, tls)
    } else {
        Client::new(url, args.timeout)
    }
    .max_body(MAX_RESPONSE_BODY);
    let not_written = |outbox: &Outbox, rx: &Receiver<Msg>| {
        // what the reader has handed over counts as read, so as not written
        let waiting = rx.try_iter().filter(|m| matches!(m, Msg::Line(_))).count();
        outbox.len() + waiting
    };
    let started = Instant::now();
    // When writing must end after a signal: --drain-timeout after the signal was first seen
    // (also by a request under way, which checks it every 100 ms).
    let stop_by: std::cell::Cell<Option<Instant>> = std::cell::Cell::new(None);
    let stopping = || {
        if SIGNALS.load(Ordering::SeqCst) >= 2 {
            return true;
        }
        if SIGNALS.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let now = Instant::now();
        let by = stop_by.get().unwrap_or(now + args.drain_timeout);
        stop_by.set(Some(by));
        now >= by
    };
    let mut eof = false;
    let mut drain_until: Option<Instant> = None;
    let mut failing_since: Option<Instant> = None;
    let take = |rx: &Receiver<Msg>, outbox: &mut Outbox, eof: &mut bool, wait: Duration| {
        let first = if wait.is_zero() {
            rx.try_recv().map_err(|e| match e {
                TryRecvError::Empty => RecvTimeoutError::Timeout,
                TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            })
        } else {
            rx.recv_timeout(wait)
        };
        let mut msg = first;
        loop {
            match msg {
                Ok(Msg::Line(l)) => {
                    gate.leave(l.len());
                    let before = outbox.stats().dropped;
                    if outbox.push(l, Instant::now()) && before == 0 {
                        log::warn!(
                            "buffer full ({} lines or 64 MiB) while the server is away: dropping the oldest",
                            args.buffer
                        );
                    }
                }
                Ok(Msg::Eof) => {
                    *eof = true;
                    return;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    *eof = true;
                    return;
                }
                Err(RecvTimeoutError::Timeout) => return,
            }
            if !outbox.wants_input() {
                return;
            }
            msg = rx.try_recv().map_err(|e| match e {
                TryRecvError::Empty => RecvTimeoutError::Timeout,
                TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
            });
        }
    };
    loop {
        let now = Instant::now();
        if SIGNALS.load(Ordering::SeqCst) >= 2 {
            log::error!(
                "second signal: exiting now; {} line(s) not written",
                outbox.len()
            );
            outbox.abandon();
            break;
        }
        if !eof && SIGNALS.load(Ordering::SeqCst) >= 1 {
            log::info!("signal: writing what was read, then exiting");
            // What the reader has already handed over counts as read: all of it goes into the
            // outbox (which, if full, drops the oldest and counts them).
            while let Ok(msg) = rx.try_recv() {
                match msg {
                    Msg::Line(l) => {
                        gate.leave(l.len());
                        outbox.push(l, now);
                    }
                    Msg::Eof => break,
                }
            }
            eof = true;
        }
        if eof && drain_until.is_none() {
            outbox.close();
            stopping();
            drain_until = Some(stop_by.get().unwrap_or(now + args.drain_timeout));
        }
        if outbox.done() {
            break;
        }
        if drain_until.is_some_and(|t| now >= t) {
            log::error!(
                "{}: still failing after --drain-timeout {} s; {} line(s) not written",
                url_text,
                args.drain_timeout.as_secs(),
                outbox.len()
            );
            outbox.abandon();
            break;
        }
        let wait = match outbox.poll(now) {
            Action::Send(body) => {
                let body = if args.no_gzip { body } else { gzip(&body)? };
                let limit = Limit {
                    deadline: drain_until.unwrap_or(now + args.timeout),
                    cancel: &stopping,
                };
                let result = client.send_within("POST", &api.target, &headers, &body, &limit);
                let now = Instant::now();
                if result
                    .as_ref()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::Interrupted)
                {
                    // stopped by a signal or the drain deadline: the loop's top ends it, the
                    // lines counted there
                    continue;
                }
                let o = match result {
                    Ok(r) => outcome(&r, SystemTime::now()),
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Outcome::Retry(format!(
                        "no complete answer within {}",
                        crate::time::human(args.timeout)
                    )),
                    Err(e) => Outcome::Retry(e.to_string()),
                };
                match outbox.on_result(o, now) {
                    Some(Report::Failing(why)) => {
                        log::warn!("{url_text}: {why}; retrying");
                        failing_since = Some(now);
                    }
                    Some(Report::Recovered) => {
                        log::warn!("{url_text}: writing again");
                        failing_since = None;
                    }
                    Some(Report::RejectedLine { line, message }) => {
                        // The first few in full; then only counted (a backfill older than the
                        // retention policy would otherwise print every line).
                        let n = outbox.stats().rejected;
                        if n <= SHOWN_REFUSALS {
                            let text = String::from_utf8_lossy(&line);
                            let text: String = text.trim_end().chars().take(1000).collect();
                            log::warn!("{url_text}: refused ({message}); line skipped: {text}");
                        }
                        if n == SHOWN_REFUSALS {
                            log::warn!("{url_text}: further refused lines are counted, not shown");
                        }
                    }
                    Some(Report::Fatal(why)) => {
                        let hint = if why.contains("redirects") {
                            ""
                        } else {
                            " (check --db/--bucket/--org and the token)"
                        };
                        return Err(usage(format!(
                            "{url_text}{}: {why}{hint}; {} line(s) not written",
                            api.target.split('?').next().unwrap_or_default(),
                            not_written(&outbox, &rx)
                        )));
                    }
                    None => {}
                }
                if outbox.stats().delivered == 0
                    && failing_since.is_some_and(|t| now.duration_since(t) >= args.connect_timeout)
                    && started.elapsed() >= args.connect_timeout
                {
                    return Err(unavailable(format!(
                        "{url_text}: nothing written for {} s (is InfluxDB running? check --url); {} line(s) not written",
                        args.connect_timeout.as_secs(),
                        not_written(&outbox, &rx)
                    )));
                }
                Duration::ZERO
            }
            Action::Wait(t) => t
                .saturating_duration_since(now)
                .min(Duration::from_millis(200)),
            Action::Idle => Duration::from_millis(200),
        };
        if !eof && outbox.wants_input() {
            take(&rx, &mut outbox, &mut eof, wait);
        } else if !wait.is_zero() {
            std::thread::sleep(wait.min(Duration::from_millis(50)));
        }
    }
    let s = outbox.stats();
    log::info!(
        "{} line(s) written in {} request(s), {} failed request(s)",
        s.delivered,
        s.requests,
        s.failures
    );
    let mut partial = false;
    if s.dropped > 0 {
        log::warn!(
            "{} line(s) dropped (the server was away too long)",
            s.dropped
        );
        partial = true;
    }
    if s.rejected > 0 {
        log::warn!("{} line(s) refused by the server", s.rejected);
        partial = true;
    }
    let bad_input = bad_lines.load(Ordering::SeqCst);
    if bad_input > 0 {
        log::warn!("{bad_input} input line(s) skipped");
        partial = true;
    }
    Ok(if partial { Exit::Partial } else { Exit::Ok })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_api_v1_and_v2() {
        let v1 = WriteApi::new(
            Some("my db"),
            Some("rp"),
            None,
            None,
            Precision::Ms,
            Some("u:p w"),
            true,
        )
        .unwrap();
        assert_eq!(v1.target, "/write?db=my%20db&precision=ms&rp=rp");
        assert!(v1.headers.contains(&(
            "Authorization".into(),
            format!("Basic {}", base64(b"u:p w"))
        )));
        assert!(v1
            .headers
            .contains(&("Content-Encoding".into(), "gzip".into())));
        let v2 = WriteApi::new(
            None,
            None,
            Some("bms"),
            Some("home org"),
            Precision::Ns,
            Some("tok:en"),
            false,
        )
        .unwrap();
        assert_eq!(
            v2.target,
            "/api/v2/write?bucket=bms&org=home%20org&precision=ns"
        );
        assert!(v2
            .headers
            .contains(&("Authorization".into(), "Token tok:en".into())));
        assert!(!v2.headers.iter().any(|(k, _)| k == "Content-Encoding"));
        let v3 = WriteApi::new(None, None, Some("bms"), None, Precision::Ms, None, true).unwrap();
        assert_eq!(v3.target, "/api/v2/write?bucket=bms&precision=ms");
        assert!(!v3.headers.iter().any(|(k, _)| k == "Authorization"));
        assert!(WriteApi::new(None, None, None, None, Precision::Ms, None, true).is_err());
    }

    #[test]
    fn request_to_the_v2_api() {
        let api = WriteApi::new(
            None,
            None,
            Some("bms"),
            Some("home"),
            Precision::Ms,
            Some("secret"),
            false,
        )
        .unwrap();
        let headers: Vec<(&str, &str)> = api
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req =
            crate::tsdb::http::request("POST", "influx:8086", &api.target, &headers, b"m v=1 1\n");
        let text = String::from_utf8(req).unwrap();
        assert!(text.starts_with("POST /api/v2/write?bucket=bms&org=home&precision=ms HTTP/1.1\r\nHost: influx:8086\r\n"), "{text}");
        assert!(text.contains("\r\nAuthorization: Token secret\r\n"));
        assert!(text.ends_with("\r\nContent-Length: 8\r\n\r\nm v=1 1\n"));
    }

    fn outcome_now(r: &Response) -> Outcome {
        outcome(r, SystemTime::now())
    }

    #[test]
    fn redirects_408_and_retry_after() {
        let r = |status: u16, headers: &[(&str, &str)]| Response {
            status,
            reason: "R".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: vec![],
        };
        assert_eq!(
            outcome_now(&r(301, &[("Location", "https://influx.lan:8086/write")])),
            Outcome::Fatal(
                "301 R: the server redirects to https://influx.lan:8086/write; give that as --url"
                    .into()
            )
        );
        assert!(
            matches!(outcome_now(&r(307, &[])), Outcome::Fatal(m) if m.contains("without a Location"))
        );
        assert_eq!(
            outcome_now(&r(408, &[])),
            Outcome::Retry("408 R: (no message)".into())
        );
        assert_eq!(
            outcome_now(&r(503, &[("Retry-After", "120")])),
            Outcome::RetryAfter("503 R: (no message)".into(), Duration::from_secs(120))
        );
        // 1994-11-06T08:49:37Z is 784111777
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777 - 30);
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(
                "Sun, 06 Nov 1994 08:49:37 GMT",
                now + Duration::from_secs(100)
            ),
            Some(Duration::ZERO)
        );
        for bad in [
            "soon",
            "-5",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "",
        ] {
            assert_eq!(retry_after(bad, now), None, "{bad}");
        }
        assert_eq!(
            outcome_now(&r(429, &[("Retry-After", "later")])),
            Outcome::Retry("429 R: (no message)".into())
        );
    }

    #[test]
    fn answers_to_outcomes() {
        let r = |status: u16, body: &str| Response {
            status,
            reason: "R".into(),
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(outcome_now(&r(204, "")), Outcome::Written);
        assert_eq!(
            outcome_now(&r(
                400,
                r#"{"error":"partial write: unable to parse 'x': missing fields"}"#
            )),
            Outcome::Rejected("400 R: partial write: unable to parse 'x': missing fields".into())
        );
        assert_eq!(
            outcome_now(&r(
                401,
                r#"{"code":"unauthorized","message":"unauthorized access"}"#
            )),
            Outcome::Fatal("401 R: unauthorized access".into())
        );
        assert_eq!(
            outcome_now(&r(404, "not found\n")),
            Outcome::Fatal("404 R: not found".into())
        );
        assert_eq!(
            outcome_now(&r(503, "")),
            Outcome::Retry("503 R: (no message)".into())
        );
        assert_eq!(
            outcome_now(&r(429, "slow down")),
            Outcome::Retry("429 R: slow down".into())
        );
        assert_eq!(
            outcome_now(&r(413, "")),
            Outcome::Rejected("413 R: (no message)".into())
        );
    }

    #[test]
    fn gzip_round_trip() {
        use std::io::Read;
        let body = b"m,device=a v=1 1\n".repeat(100);
        let z = gzip(&body).unwrap();
        assert!(z.len() < body.len() / 5);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
    }
}
