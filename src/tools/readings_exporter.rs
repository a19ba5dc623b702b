//! readings-exporter: the newest reading of every device as Prometheus metrics, served on
//! `/metrics` or written to a node_exporter textfile.
//!
//! A reader thread takes NDJSON records from stdin; the main thread owns the registry
//! ([`crate::tsdb::expo::Registry`], behind a mutex shared with the HTTP server), expires
//! stale devices and, with `--textfile`, rewrites the file. The server is std's
//! `TcpListener`, one short-lived thread per connection (a scrape is one GET).
//! Latest-state output (readings.md): superseded readings are simply replaced.

use crate::cli::{duration, Common};
use crate::exit::{unavailable, usage, Exit};
use crate::io::lines::LineReader;
use crate::tools::readings_to_mqtt::parse_line;
use crate::tsdb::expo::Registry;
use crate::tsdb::http::parse_head;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  # Serve /metrics on 127.0.0.1:9102 for Prometheus
  lp4-poll -a 1-4 /dev/ttyUSB0 | readings-exporter

  # On every interface, devices gone after 2 minutes without a reading
  eflex-candump-decode --interface can0 | readings-exporter --listen 0.0.0.0:9102 --stale 2m

  # node_exporter's textfile collector, from cron
  lp4-poll --once -a 1-4 /dev/ttyUSB0 | readings-exporter --textfile /var/lib/prometheus/node-exporter/bmstap.prom

Prometheus: scrape_configs: [{job_name: bmstap, static_configs: [{targets: ['HOST:9102']}]}]

Metrics: bmstap_<field>_<unit> gauges (bmstap_pack_voltage_volts, bmstap_soc_percent,
bmstap_cell_voltage_volts{cell=\"1\"}, bmstap_temperature_celsius{sensor=\"1\"}, ...), _total counters
for cumulative fields (bmstap_energy_charged_joules_total, bmstap_cycles_total), booleans as
0/1, labels device and source; bmstap_reading_timestamp_seconds, bmstap_device_up and
bmstap_device_info per device. The exporter ends when its input ends.

Exit status: 0 input ended, 1 some input lines were skipped, 2 usage error, 75 the address
could not be bound.";

/// Serve the newest bmstap reading of every device (NDJSON on stdin) as Prometheus metrics.
#[derive(Debug, clap::Parser)]
#[command(name = "readings-exporter", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    /// Address to serve /metrics on
    #[arg(
        long,
        short = 'l',
        value_name = "ADDR",
        default_value = "127.0.0.1:9102"
    )]
    pub listen: String,
    /// Instead, write the metrics to FILE (atomically, at most once a second) for
    /// node_exporter's textfile collector
    #[arg(long, value_name = "FILE", conflicts_with = "listen")]
    pub textfile: Option<PathBuf>,
    /// Drop a device's series after DUR without a reading
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "5m")]
    pub stale: Duration,
    #[command(flatten)]
    pub common: Common,
}

/// Input lines longer than this are skipped (a reading is ~1-2 KiB).
const LINE_CAP: usize = 1024 * 1024;

enum Msg {
    Record(Value, u64),
    Eof(u64),
}

/// Writes `text` to `path` atomically: a unique temporary file beside it (created
/// exclusively, never through a symlink), then a rename.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    crate::io::safefile::write_atomically(path, text.as_bytes(), false)
}

fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &[u8], head_only: bool) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    if !head_only {
        let _ = s.write_all(body);
    }
}

/// One connection: read the request head, answer, close.
fn handle(mut s: TcpStream, reg: &Mutex<Registry>, stale: Duration) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let start = loop {
        match parse_head(&buf) {
            Ok(Some((start, _, _))) => break start,
            Ok(None) if buf.len() <= 16 * 1024 => {}
            _ => {
                respond(
                    &mut s,
                    "400 Bad Request",
                    "text/plain",
                    b"bad request\n",
                    false,
                );
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let mut parts = start.split(' ');
    let method = parts.next().unwrap_or_default();
    let path = parts
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    let head_only = method == "HEAD";
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let text = {
                let mut r = reg.lock().unwrap_or_else(|e| e.into_inner());
                for gone in r.expire(Instant::now(), stale) {
                    log::info!("{gone}: no reading for {} s; its series are gone", stale.as_secs());
                }
                r.render()
            };
            respond(
                &mut s,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                text.as_bytes(),
                head_only,
            );
        }
        ("GET" | "HEAD", "/") => respond(
            &mut s,
            "200 OK",
            "text/html; charset=utf-8",
            b"<html><head><title>bmstap exporter</title></head><body><h1>bmstap exporter</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n",
            head_only,
        ),
        (_, "/metrics" | "/") => respond(
            &mut s,
            "405 Method Not Allowed",
            "text/plain",
            b"method not allowed\n",
            false,
        ),
        _ => respond(&mut s, "404 Not Found", "text/plain", b"not found\n", head_only),
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    if args.stale.is_zero() {
        return Err(usage("--stale must be longer than 0"));
    }
    let reg = Arc::new(Mutex::new(Registry::new()));
    if args.textfile.is_none() {
        let listener = TcpListener::bind(&args.listen)
            .map_err(|e| unavailable(format!("cannot listen on {}: {e}", args.listen)))?;
        log::info!("serving /metrics on {}", args.listen);
        let reg = reg.clone();
        let stale = args.stale;
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(s) => {
                        let reg = reg.clone();
                        std::thread::spawn(move || handle(s, &reg, stale));
                    }
                    Err(e) => {
                        log::warn!("accepting a connection: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        });
    }
    let (tx, rx) = sync_channel::<Msg>(256);
    std::thread::spawn(move || {
        let mut lines = LineReader::new(std::io::stdin(), LINE_CAP);
        let mut bad = 0u64;
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
            let parsed = match l {
                Err(len) => Err(format!("line too long ({len} bytes)")),
                Ok(b) => parse_line(b).map(|o| o.map(|(v, _)| v)),
            };
            match parsed {
                Ok(Some(v)) => {
                    if tx.send(Msg::Record(v, n)).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(why) => {
                    bad += 1;
                    crate::io::lines::skipped("stdin", n, &why);
                }
            }
        }
        let _ = tx.send(Msg::Eof(bad));
    });
    let mut bad = 0u64;
    let mut dirty = false;
    let mut last_write: Option<Instant> = None;
    loop {
        let msg = rx.recv_timeout(Duration::from_millis(500));
        let now = Instant::now();
        let mut eof = false;
        match msg {
            Ok(Msg::Record(v, n)) => {
                let mut r = reg.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(why) = r.update(&v, now) {
                    bad += 1;
                    crate::io::lines::skipped("stdin", n, &why);
                }
                dirty = true;
            }
            Ok(Msg::Eof(b)) => {
                bad += b;
                eof = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => eof = true,
        }
        {
            let mut r = reg.lock().unwrap_or_else(|e| e.into_inner());
            for gone in r.expire(now, args.stale) {
                log::info!(
                    "{gone}: no reading for {} s; its series are gone",
                    args.stale.as_secs()
                );
                dirty = true;
            }
        }
        if let Some(path) = &args.textfile {
            let due = last_write.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
            if dirty && (due || eof) {
                let text = reg.lock().unwrap_or_else(|e| e.into_inner()).render();
                write_atomically(path, &text)
                    .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
                last_write = Some(now);
                dirty = false;
            }
        }
        if eof {
            break;
        }
    }
    log::info!("end of input");
    if bad > 0 {
        log::warn!("{bad} input line(s) skipped");
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}
