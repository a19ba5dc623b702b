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
//! `--buffer` lines, dropping the oldest (counted, exit 1).

use crate::cli::{duration, Common};
use crate::exit::{unavailable, usage, Exit};
use crate::io::lines::LineReader;
use crate::ndjson::RecordWriter;
use crate::tsdb::http::{base64, tls_config, urlencode, Client, Response, Url};
use crate::tsdb::line::{Encoder, Precision, Record};
use crate::tsdb::outbox::{self, Action, Outbox, Outcome, Report};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  # Line protocol on stdout (timestamps in ms: tell the consumer)
  lp4-poll /dev/ttyUSB0 | readings-to-influx | influx write --bucket bms --precision ms

  # A file of readings into InfluxDB 1.x with its CLI
  readings-to-influx --precision ns < readings.ndjson > readings.lp
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
connection errors, 429 and 5xx; a line the server refuses (400) is reported with the server's
message and skipped. At end of input and on SIGTERM everything read is written before exit.
While the server is away at most --buffer lines are kept; beyond, the oldest are dropped.
A token with a colon (user:password) is sent to /write as Basic authentication.

Exit status: 0 all written, 1 some input lines were skipped or some lines dropped or refused,
2 usage error (or the server refused the token, the database or bucket), 75 the server could
not be reached within --connect-timeout.";

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
    /// Lines kept while the server is away; beyond, the oldest are dropped
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub buffer: u64,
    /// Send the request bodies uncompressed
    #[arg(long)]
    pub no_gzip: bool,
    /// Connect and answer timeout of a request
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "10s")]
    pub timeout: Duration,
    /// Give up (exit 75) if nothing could be written for this long at the start
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "30s")]
    pub connect_timeout: Duration,
    /// At end of input, keep retrying for this long, then drop what is left (exit 1)
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

/// What the server's answer means for the delivery.
pub fn outcome(r: &Response) -> Outcome {
    let what = format!("{} {}: {}", r.status, r.reason, server_message(&r.body));
    match r.status {
        200..=299 => Outcome::Written,
        400 | 413 | 422 => Outcome::Rejected(what),
        429 | 500..=599 => Outcome::Retry(what),
        _ => Outcome::Fatal(what),
    }
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

static STOP: AtomicBool = AtomicBool::new(false);

/// Refused lines logged in full; the rest are only counted.
const SHOWN_REFUSALS: u64 = 10;

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

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
fn spawn_reader(enc: Encoder, tx: std::sync::mpsc::SyncSender<Msg>, bad: Arc<AtomicU64>) {
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
        ..outbox::Config::default()
    });
    let (tx, rx) = sync_channel::<Msg>(1024);
    let bad_lines = Arc::new(AtomicU64::new(0));
    spawn_reader(enc, tx, bad_lines.clone());
    let mut client = if url.https {
        let tls = tls_config(args.ca_file.as_deref()).map_err(usage)?;
        Client::with_tls(url, args.timeout, tls)
    } else {
        Client::new(url, args.timeout)
    };
    let started = Instant::now();
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
                    if outbox.push(l, Instant::now()) && outbox.stats().dropped == 1 {
                        log::warn!(
                            "buffer full ({} lines) while the server is away: dropping the oldest",
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
        if !eof && STOP.load(Ordering::SeqCst) {
            log::info!("signal: writing what was read, then exiting");
            // What the reader has already handed over counts as read: all of it goes into the
            // outbox (which, if full, drops the oldest and counts them).
            while let Ok(msg) = rx.try_recv() {
                match msg {
                    Msg::Line(l) => {
                        outbox.push(l, now);
                    }
                    Msg::Eof => break,
                }
            }
            eof = true;
        }
        if eof && drain_until.is_none() {
            outbox.close();
            drain_until = Some(now + args.drain_timeout);
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
                let result = client.send("POST", &api.target, &headers, &body);
                let now = Instant::now();
                let o = match result {
                    Ok(r) => outcome(&r),
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
                        return Err(usage(format!(
                            "{url_text}{}: {why} (check --db/--bucket/--org and the token)",
                            api.target.split('?').next().unwrap_or_default()
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
                        outbox.len()
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

    #[test]
    fn answers_to_outcomes() {
        let r = |status: u16, body: &str| Response {
            status,
            reason: "R".into(),
            headers: vec![],
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(outcome(&r(204, "")), Outcome::Written);
        assert_eq!(
            outcome(&r(
                400,
                r#"{"error":"partial write: unable to parse 'x': missing fields"}"#
            )),
            Outcome::Rejected("400 R: partial write: unable to parse 'x': missing fields".into())
        );
        assert_eq!(
            outcome(&r(
                401,
                r#"{"code":"unauthorized","message":"unauthorized access"}"#
            )),
            Outcome::Fatal("401 R: unauthorized access".into())
        );
        assert_eq!(
            outcome(&r(404, "not found\n")),
            Outcome::Fatal("404 R: not found".into())
        );
        assert_eq!(
            outcome(&r(503, "")),
            Outcome::Retry("503 R: (no message)".into())
        );
        assert_eq!(
            outcome(&r(429, "slow down")),
            Outcome::Retry("429 R: slow down".into())
        );
        assert_eq!(
            outcome(&r(413, "")),
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
