//! readings-exporter: the newest reading of every device as Prometheus metrics, served on
//! `/metrics` or written to a node_exporter textfile.
//!
//! A reader thread takes NDJSON records from stdin; the main thread owns the registry
//! ([`crate::tsdb::expo::Registry`], behind a mutex shared with the HTTP server), expires
//! stale devices and, with `--textfile`, rewrites the file. The server is std's
//! `TcpListener` in one thread, an event loop (poll(2)) over a bounded number of
//! connections, each with one deadline for its request and answer (a scrape is one GET).
//! Latest-state output (readings.md): superseded readings are simply replaced.

use crate::cli::{duration, Common};
use crate::exit::{unavailable, usage, Exit};
use crate::io::lines::LineReader;
use crate::tools::readings_to_mqtt::parse_line;
use crate::tsdb::expo::Registry;
use crate::tsdb::http::find_head_end;
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

Serving: at most 64 connections at once (one more closes the oldest still sending its
request), 10 s for each request and its answer, the exposition built at most once a second
and shared by the scrapes. At most --max-devices devices; a field whose metric name another
field (or the exporter itself) has is left out with a warning. With --textfile, a failed
write (a full disk) is a warning and tried again every second.

Exit status: 0 input ended, 1 some input lines were skipped or readings of devices beyond
--max-devices ignored, 2 usage error (also: the --textfile directory does not exist), 75 the
address could not be bound.";

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
    /// Drop a device's series (and forget it) after DUR without a reading
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "5m")]
    pub stale: Duration,
    /// Devices held at most; readings of more are ignored (counted, exit 1) until some go
    /// stale
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_devices: u64,
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

/// Connections served at once; one more closes the oldest still sending its request.
const MAX_CONNECTIONS: usize = 64;
/// A connection's whole life, from accept to the last byte of the answer: a client that
/// trickles its request (or reads the answer a byte at a time) is cut off at this.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Requests (start line and headers) longer than this get 400.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Scrapes within this long of the last exposition share it.
const EXPOSITION_MAX_AGE: Duration = Duration::from_secs(1);

/// The start line of a request: `METHOD TARGET HTTP/1.x`, else why not (anything else, a
/// TLS handshake, an SSH banner, binary, gets 400 at its first line).
pub fn request_line(line: &[u8]) -> Result<(&str, &str), &'static str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|_| "not text")?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not METHOD TARGET VERSION");
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("bad method");
    }
    if !(target.starts_with('/') || target == "*" || target.starts_with("http")) {
        return Err("bad target");
    }
    if !version.starts_with("HTTP/1.") {
        return Err("not HTTP/1");
    }
    Ok((method, target))
}

/// An answer: its head, and a body that may be shared with other connections.
fn answer(
    status: &str,
    ctype: &str,
    body: Arc<Vec<u8>>,
    head_only: bool,
) -> (Vec<u8>, Arc<Vec<u8>>) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let body = if head_only {
        Arc::new(Vec::new())
    } else {
        body
    };
    (head.into_bytes(), body)
}

fn plain(status: &str, text: &str, head_only: bool) -> (Vec<u8>, Arc<Vec<u8>>) {
    answer(
        status,
        "text/plain",
        Arc::new(text.as_bytes().to_vec()),
        head_only,
    )
}

/// The exposition shared by the scrapes: built again only when the registry changed and
/// the last one is older than [`EXPOSITION_MAX_AGE`], so concurrent scrapes (and scrapes
/// in quick succession) share one copy.
struct Shared {
    body: Arc<Vec<u8>>,
    built: Instant,
    generation: u64,
}

fn exposition(reg: &Mutex<Registry>, stale: Duration, cache: &mut Option<Shared>) -> Arc<Vec<u8>> {
    let now = Instant::now();
    let mut r = reg.lock().unwrap_or_else(|e| e.into_inner());
    for gone in r.expire(now, stale) {
        log::info!(
            "{gone}: no reading for {} s; its series are gone",
            stale.as_secs()
        );
    }
    if let Some(c) = cache {
        if c.generation == r.generation() || now.duration_since(c.built) < EXPOSITION_MAX_AGE {
            return c.body.clone();
        }
    }
    let body = Arc::new(r.render().into_bytes());
    let generation = r.generation();
    drop(r);
    *cache = Some(Shared {
        body: body.clone(),
        built: now,
        generation,
    });
    body
}

/// The answer to a complete request head.
fn route(
    method: &str,
    target: &str,
    reg: &Mutex<Registry>,
    stale: Duration,
    cache: &mut Option<Shared>,
) -> (Vec<u8>, Arc<Vec<u8>>) {
    let path = target.split('?').next().unwrap_or_default();
    let head_only = method == "HEAD";
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => answer(
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            exposition(reg, stale, cache),
            head_only,
        ),
        ("GET" | "HEAD", "/") => answer(
            "200 OK",
            "text/html; charset=utf-8",
            Arc::new(b"<html><head><title>bmstap exporter</title></head><body><h1>bmstap exporter</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n".to_vec()),
            head_only,
        ),
        (_, "/metrics" | "/") => plain("405 Method Not Allowed", "method not allowed\n", false),
        _ => plain("404 Not Found", "not found\n", head_only),
    }
}

/// One client connection of the event loop.
struct Conn {
    s: TcpStream,
    accepted: Instant,
    /// The request so far (until its head is complete).
    buf: Vec<u8>,
    scanned: usize,
    /// The answer being written: head, body, bytes written of both.
    out: Option<(Vec<u8>, Arc<Vec<u8>>, usize)>,
}

impl Conn {
    /// Reads what is there; `false`: done with this connection.
    fn readable(
        &mut self,
        reg: &Mutex<Registry>,
        stale: Duration,
        cache: &mut Option<Shared>,
    ) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    let room = MAX_REQUEST_HEAD + 1 - self.buf.len().min(MAX_REQUEST_HEAD + 1);
                    self.buf.extend_from_slice(&chunk[..n.min(room)]);
                    if self.buf.len() > MAX_REQUEST_HEAD || n < chunk.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        // not HTTP gets 400 at once: at its first byte that cannot begin a method (a TLS
        // handshake, binary), or at its first line
        let method_so_far = self.buf.iter().take_while(|b| **b != b' ').take(32);
        let bad_method =
            method_so_far.clone().any(|b| !b.is_ascii_uppercase()) || method_so_far.count() >= 32;
        let bad_line = memchr::memchr(b'\n', &self.buf)
            .is_some_and(|nl| request_line(&self.buf[..nl]).is_err());
        if bad_method || bad_line {
            self.out = Some(with_offset(plain(
                "400 Bad Request",
                "bad request\n",
                false,
            )));
            return true;
        }
        match find_head_end(&self.buf, self.scanned) {
            Some(_) => {
                let nl = memchr::memchr(b'\n', &self.buf).unwrap_or(0);
                let answer = match request_line(&self.buf[..nl]) {
                    Ok((method, target)) => route(method, target, reg, stale, cache),
                    Err(_) => plain("400 Bad Request", "bad request\n", false),
                };
                self.out = Some(with_offset(answer));
            }
            None if self.buf.len() > MAX_REQUEST_HEAD => {
                self.out = Some(with_offset(plain(
                    "400 Bad Request",
                    "request too long\n",
                    false,
                )));
            }
            None => self.scanned = self.buf.len(),
        }
        true
    }

    /// Writes what the socket takes; `false`: done with this connection.
    fn writable(&mut self) -> bool {
        let Some((head, body, off)) = &mut self.out else {
            return true;
        };
        loop {
            let (part, at) = if *off < head.len() {
                (&head[..], *off)
            } else if *off - head.len() < body.len() {
                (&body[..], *off - head.len())
            } else {
                // all sent: read what the client may still send (so the close is not a
                // reset that loses the answer's tail), then close
                let _ = self.s.shutdown(std::net::Shutdown::Write);
                let mut sink = [0u8; 4096];
                for _ in 0..16 {
                    if !matches!(self.s.read(&mut sink), Ok(n) if n > 0) {
                        break;
                    }
                }
                return false;
            };
            match self.s.write(&part[at..]) {
                Ok(0) => return false,
                Ok(n) => *off += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    }
}

fn with_offset((head, body): (Vec<u8>, Arc<Vec<u8>>)) -> (Vec<u8>, Arc<Vec<u8>>, usize) {
    (head, body, 0)
}

/// The HTTP server: one thread, an event loop over the listener and at most
/// [`MAX_CONNECTIONS`] connections (non-blocking sockets and poll(2)). Every connection has
/// one deadline for its whole request and answer; one connection more than the bound
/// closes the oldest still sending its request, so slow or idle clients cannot keep a
/// scrape out. Nothing here ends the loop: an accept that fails is logged (rate-limited)
/// and retried.
fn serve(listener: &TcpListener, reg: &Mutex<Registry>, stale: Duration) {
    use std::os::fd::AsRawFd;
    if let Err(e) = listener.set_nonblocking(true) {
        log::error!("listener: {e}");
    }
    let mut conns: Vec<Conn> = Vec::new();
    let mut cache: Option<Shared> = None;
    let mut accept_paused_until: Option<Instant> = None;
    let mut accept_errors = 0u64;
    let mut evicted = 0u64;
    let mut fds: Vec<libc::pollfd> = Vec::new();
    loop {
        let now = Instant::now();
        // deadlines
        conns.retain(|c| now.duration_since(c.accepted) < REQUEST_DEADLINE);
        if accept_paused_until.is_some_and(|t| now >= t) {
            accept_paused_until = None;
        }
        fds.clear();
        let listening = accept_paused_until.is_none();
        fds.push(libc::pollfd {
            fd: listener.as_raw_fd(),
            events: if listening { libc::POLLIN } else { 0 },
            revents: 0,
        });
        for c in &conns {
            fds.push(libc::pollfd {
                fd: c.s.as_raw_fd(),
                events: if c.out.is_some() {
                    libc::POLLOUT
                } else {
                    libc::POLLIN
                },
                revents: 0,
            });
        }
        let next = conns
            .iter()
            .map(|c| c.accepted + REQUEST_DEADLINE)
            .chain(accept_paused_until)
            .min()
            .map_or(Duration::from_secs(1), |t| t.saturating_duration_since(now))
            .min(Duration::from_secs(1));
        let ms = next.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: fds is a valid array of fds.len() pollfd structures for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                log::warn!("poll: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            continue;
        }
        // connections first (their indices match fds[1..])
        let mut keep = vec![true; conns.len()];
        for (i, c) in conns.iter_mut().enumerate() {
            let re = fds[i + 1].revents;
            if re == 0 {
                continue;
            }
            keep[i] = if c.out.is_none() {
                if re & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    c.readable(reg, stale, &mut cache) && (c.out.is_none() || c.writable())
                } else {
                    true
                }
            } else {
                c.writable()
            };
        }
        let mut k = keep.into_iter();
        conns.retain(|_| k.next().unwrap_or(true));
        if listening && fds[0].revents != 0 {
            loop {
                match listener.accept() {
                    Ok((s, _)) => {
                        if s.set_nonblocking(true).is_err() {
                            continue;
                        }
                        let _ = s.set_nodelay(true);
                        if conns.len() >= MAX_CONNECTIONS {
                            // the oldest still sending its request, else the oldest
                            let i = conns.iter().position(|c| c.out.is_none()).unwrap_or(0);
                            conns.remove(i);
                            evicted += 1;
                            if evicted == 1 || evicted.is_power_of_two() {
                                log::warn!(
                                    "more than {MAX_CONNECTIONS} connections at once: closing the oldest ({evicted} so far)"
                                );
                            }
                        }
                        conns.push(Conn {
                            s,
                            accepted: Instant::now(),
                            buf: Vec::new(),
                            scanned: 0,
                            out: None,
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // out of file descriptors or memory: wait a little, never give up
                        accept_errors += 1;
                        if accept_errors == 1 || accept_errors.is_power_of_two() {
                            log::warn!("accepting a connection: {e} ({accept_errors} time(s))");
                        }
                        accept_paused_until = Some(Instant::now() + Duration::from_millis(100));
                        break;
                    }
                }
            }
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    if args.stale.is_zero() {
        return Err(usage("--stale must be longer than 0"));
    }
    let reg = Arc::new(Mutex::new(Registry::with_max_devices(
        args.max_devices as usize,
    )));
    if let Some(path) = &args.textfile {
        // A directory that is missing at the start is a mistake in the command (exit 2); one
        // that goes away later is retried (a full disk the same).
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(usage(format!(
                "--textfile {}: no directory {} (node_exporter's textfile directory, e.g. \
                 /var/lib/prometheus/node-exporter)",
                path.display(),
                dir.display()
            )));
        }
    }
    if args.textfile.is_none() {
        let listener = TcpListener::bind(&args.listen)
            .map_err(|e| unavailable(format!("cannot listen on {}: {e}", args.listen)))?;
        log::info!("serving /metrics on {}", args.listen);
        let reg = reg.clone();
        let stale = args.stale;
        std::thread::Builder::new()
            .name("http".into())
            .spawn(move || loop {
                // the server never ends while the process lives: a panic (a bug) is logged
                // and the loop starts again on the same listener
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    serve(&listener, &reg, stale)
                }));
                if r.is_err() {
                    log::error!("the HTTP server failed (a bug); starting it again");
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
            .map_err(|e| anyhow::anyhow!("cannot start the HTTP server: {e}"))?;
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
    let mut refused = 0u64;
    let mut clashes_shown = std::collections::HashSet::new();
    let mut dirty = false;
    let mut last_write: Option<Instant> = None;
    let mut last_expire = Instant::now();
    let mut write_failures = 0u64;
    loop {
        let msg = rx.recv_timeout(Duration::from_millis(500));
        let now = Instant::now();
        let mut eof = false;
        match msg {
            Ok(Msg::Record(v, n)) => {
                let mut r = reg.lock().unwrap_or_else(|e| e.into_inner());
                match r.update(&v, now) {
                    Err(why) => {
                        bad += 1;
                        crate::io::lines::skipped("stdin", n, &why);
                    }
                    Ok(intake) => {
                        if intake.refused {
                            refused += 1;
                            if refused == 1 || (refused.is_power_of_two() && refused >= 1024) {
                                log::warn!(
                                    "stdin:{n}: more than {} devices (--max-devices): readings of new devices are ignored until some go stale after --stale {} s ({refused} so far)",
                                    args.max_devices,
                                    args.stale.as_secs()
                                );
                            }
                        }
                        for (field, metric, first) in intake.clashes {
                            // once per field name (and a bounded number of names)
                            if clashes_shown.len() < 100 && clashes_shown.insert(field.clone()) {
                                log::warn!(
                                    "stdin:{n}: field {field} would be {metric}, which {first} already has; left out"
                                );
                            }
                        }
                    }
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
        // once a second, not per record: a pass over every device per reading made the
        // intake grow with the square of the device count
        if eof || now.duration_since(last_expire) >= Duration::from_secs(1) {
            last_expire = now;
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
                last_write = Some(now);
                match write_atomically(path, &text) {
                    Ok(()) => {
                        dirty = false;
                        if write_failures > 0 {
                            log::warn!(
                                "{}: written again after {write_failures} failed attempt(s)",
                                path.display()
                            );
                            write_failures = 0;
                        }
                    }
                    // a full disk or a missing directory: tried again in a second
                    Err(e) if !eof => {
                        write_failures += 1;
                        if write_failures == 1 || write_failures.is_power_of_two() {
                            log::warn!(
                                "writing {}: {e}; trying again every second ({write_failures} failed)",
                                path.display()
                            );
                        }
                    }
                    Err(e) => {
                        return Err(anyhow::anyhow!("writing {}: {e}", path.display()));
                    }
                }
            }
        }
        if eof {
            break;
        }
    }
    log::info!("end of input");
    let mut partial = false;
    if refused > 0 {
        log::warn!(
            "{refused} reading(s) of devices beyond --max-devices {} ignored",
            args.max_devices
        );
        partial = true;
    }
    if bad > 0 {
        log::warn!("{bad} input line(s) skipped");
        partial = true;
    }
    Ok(if partial { Exit::Partial } else { Exit::Ok })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_lines() {
        assert_eq!(
            request_line(b"GET /metrics HTTP/1.1\r"),
            Ok(("GET", "/metrics"))
        );
        assert_eq!(request_line(b"HEAD / HTTP/1.0"), Ok(("HEAD", "/")));
        for bad in [
            &b"SSH-2.0-OpenSSH_9.6\r"[..],
            b"GET /metrics",
            b"get / HTTP/1.1",
            b"GET / HTTP/2",
            b"GET  / HTTP/1.1",
            b"GET / HTTP/1.1 x",
            b"\xff\xfe",
        ] {
            assert!(
                request_line(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn concurrent_scrapes_share_one_exposition() {
        let reg = Mutex::new(Registry::new());
        let now = Instant::now();
        let reading = |v: f64| {
            json!({"type":"reading","ts":"2024-05-17T23:05:39.069Z","source":"s","device":"d",
                   "fields":{"soc":v}})
        };
        reg.lock().unwrap().update(&reading(1.0), now).unwrap();
        let stale = Duration::from_secs(300);
        let mut cache = None;
        let a = exposition(&reg, stale, &mut cache);
        let b = exposition(&reg, stale, &mut cache);
        assert!(Arc::ptr_eq(&a, &b), "nothing changed: the same copy");
        // a change within the second: still the same copy (one build per second at most)
        reg.lock().unwrap().update(&reading(2.0), now).unwrap();
        let c = exposition(&reg, stale, &mut cache);
        assert!(Arc::ptr_eq(&a, &c));
        // a second later, the change shows
        if let Some(s) = cache.as_mut() {
            s.built -= EXPOSITION_MAX_AGE;
        }
        let d = exposition(&reg, stale, &mut cache);
        assert!(!Arc::ptr_eq(&a, &d));
        assert!(String::from_utf8_lossy(&d)
            .contains("bmstap_soc_percent{device=\"d\",source=\"s\"} 2\n"));
    }
}
