//! The standing hostile-peer suite for readings-to-influx (issue 19): scripted HTTP servers on
//! loopback that misbehave in one way each (a trickled reply, an endless chunked body, 408 on
//! a kept-alive connection, interim 1xx answers, a redirect, a reply cut off, a connection
//! closed while idle, Retry-After, a listener that never accepts, a server away while large
//! readings pour in). Each test asserts the promise: the tool ends (at end of input, at
//! --drain-timeout, on SIGTERM), every line read is written or counted, memory is bounded.
//! No test asserts speed; the deadlines only catch hangs.

use crate::common::Guard;
use crate::readings_to_influx::bin;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a scripted server saw.
#[derive(Default)]
pub(crate) struct Seen {
    /// Lines of the requests it answered with 2xx.
    pub lines: Vec<String>,
    /// Requests read, and when.
    pub requests: Vec<Instant>,
}

type Script = dyn Fn(usize, TcpStream, &Peer) + Send + Sync;

/// A scripted HTTP server on a loopback port: every accepted connection goes to the script
/// (with its number, from 0) in a thread of its own.
pub(crate) struct Peer {
    pub port: u16,
    pub seen: Mutex<Seen>,
    pub stop: AtomicBool,
}

impl Peer {
    pub(crate) fn start(
        script: impl Fn(usize, TcpStream, &Peer) + Send + Sync + 'static,
    ) -> Arc<Peer> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = Arc::new(Peer {
            port: listener.local_addr().unwrap().port(),
            seen: Mutex::new(Seen::default()),
            stop: AtomicBool::new(false),
        });
        let script: Arc<Script> = Arc::new(script);
        let p = peer.clone();
        std::thread::spawn(move || {
            for (i, conn) in listener.incoming().enumerate() {
                if p.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(s) = conn else { continue };
                let (p, script) = (p.clone(), script.clone());
                std::thread::spawn(move || script(i, s, &p));
            }
        });
        peer
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Reads one request; its body (the lines, sent with --no-gzip). `None` at EOF.
    pub(crate) fn request(&self, s: &mut TcpStream) -> Option<Vec<u8>> {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return None,
            }
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let len: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).ok()?;
        self.seen.lock().unwrap().requests.push(Instant::now());
        Some(body)
    }

    /// Counts the lines of `body` as written.
    pub(crate) fn take(&self, body: &[u8]) {
        let text = String::from_utf8_lossy(body);
        self.seen
            .lock()
            .unwrap()
            .lines
            .extend(text.lines().map(str::to_string));
    }

    /// Answers every request on `s` with 204 (kept alive) until the client closes.
    pub(crate) fn serve_204(&self, s: &mut TcpStream) {
        while let Some(body) = self.request(s) {
            self.take(&body);
            if s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").is_err() {
                return;
            }
        }
    }

    pub(crate) fn requests(&self) -> usize {
        self.seen.lock().unwrap().requests.len()
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.seen.lock().unwrap().lines.clone()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reading `i` (device d`i % 4`), with `pad` bytes of text in a field.
pub(crate) fn reading(i: usize, pad: usize) -> String {
    let mut fields = serde_json::json!({"pack_voltage": 50.0 + i as f64 / 1000.0, "n": i});
    if pad > 0 {
        fields["note"] = "x".repeat(pad).into();
    }
    serde_json::json!({"type":"reading","ts":"2026-11-21T14:03:07.512Z","source":"test",
        "device": format!("d{}", i % 4), "fields": fields})
    .to_string()
        + "\n"
}

fn readings(n: usize) -> String {
    (0..n).map(|i| reading(i, 0)).collect()
}

/// The numbers (`n=`) of written lines, sorted and without repeats.
fn numbers(lines: &[String]) -> Vec<usize> {
    let mut v: Vec<usize> = lines
        .iter()
        .filter_map(|l| {
            let i = l.find(",n=").or_else(|| l.find(" n="))? + 3;
            let rest = &l[i..];
            let end = rest.find([',', ' ', 'i']).unwrap_or(rest.len());
            rest[..end].parse::<f64>().ok().map(|x| x as usize)
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// readings-to-influx --url `url` with `extra`, `input` on stdin (then closed); the output,
/// within a deadline that only catches a hang.
fn run(url: &str, extra: &[&str], input: &str) -> Output {
    let mut c = assert_cmd::Command::new(bin());
    c.env_remove("RUST_LOG")
        .env_remove("INFLUX_TOKEN")
        .args(["--url", url, "--db", "bms", "--no-gzip"])
        .args(extra)
        .write_stdin(input.to_string())
        .timeout(Duration::from_secs(90));
    c.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Waits (at most 60 s: a hang) for `what`.
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "waited 60 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The tool running with stdin kept open (for SIGTERM tests).
fn spawn(url: &str, extra: &[&str]) -> Guard {
    Guard::spawn(
        Command::new(bin())
            .env_remove("RUST_LOG")
            .env_remove("INFLUX_TOKEN")
            .args(["--url", url, "--db", "bms", "--no-gzip"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )
}

fn signal(g: &Guard, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(g.id() as libc::pid_t, sig);
    }
}

/// Waits for the child (at most 60 s: a hang) and collects its stderr.
fn finish(mut g: Guard) -> (Option<i32>, String) {
    let t = Instant::now();
    let status = loop {
        if let Some(s) = g.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "did not exit within 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut e) = g.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status.code(), err)
}

/// `N line(s) <what>` in the log; 0 if absent.
fn logged(err: &str, what: &str) -> usize {
    err.lines()
        .filter_map(|l| {
            let i = l.find(what)?;
            l[..i].split_whitespace().last()?.parse::<usize>().ok()
        })
        .sum()
}

fn trickle(_: usize, mut s: TcpStream, p: &Peer) {
    if p.request(&mut s).is_none() {
        return;
    }
    let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nX-Pad: ");
    while !p.stop.load(Ordering::SeqCst) {
        if s.write_all(b"a").is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_trickled_reply_times_out_and_drain_timeout_ends_it() {
    let p = Peer::start(trickle);
    let o = run(
        &p.url(),
        &["--timeout", "2s", "--drain-timeout", "5s"],
        &readings(5),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no complete answer within"), "{err}");
    assert_eq!(logged(&err, "line(s) dropped"), 5, "{err}");
    assert!(p.requests() >= 2, "retried after the timeout");
}

#[test]
fn sigterm_during_a_trickled_reply_ends_within_the_drain_timeout() {
    let p = Peer::start(trickle);
    let mut g = spawn(
        &p.url(),
        &[
            "--timeout",
            "1m",
            "--drain-timeout",
            "3s",
            "--flush-interval",
            "100ms",
        ],
    );
    g.stdin
        .as_mut()
        .unwrap()
        .write_all(readings(7).as_bytes())
        .unwrap();
    until("the request", || p.requests() >= 1);
    signal(&g, libc::SIGTERM);
    let (code, err) = finish(g);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(logged(&err, "line(s) dropped"), 7, "{err}");
}

#[test]
fn a_second_sigterm_ends_at_once_whatever_the_drain_timeout() {
    let p = Peer::start(trickle);
    let mut g = spawn(
        &p.url(),
        &[
            "--timeout",
            "10m",
            "--drain-timeout",
            "10m",
            "--flush-interval",
            "100ms",
        ],
    );
    g.stdin
        .as_mut()
        .unwrap()
        .write_all(readings(3).as_bytes())
        .unwrap();
    until("the request", || p.requests() >= 1);
    signal(&g, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    signal(&g, libc::SIGTERM);
    let (code, err) = finish(g);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("second signal"), "{err}");
    assert_eq!(logged(&err, "line(s) dropped"), 3, "{err}");
}

/// Peak resident memory of a process so far, KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn an_endless_chunked_body_is_an_error_with_bounded_memory() {
    let p = Peer::start(|_, mut s, p| {
        if p.request(&mut s).is_none() {
            return;
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let piece = b"1\r\nx\r\n".repeat(10_000);
        // as fast as the client reads: the writes block while its socket buffer is full
        for _ in 0..1_000_000 {
            if p.stop.load(Ordering::SeqCst) || s.write_all(&piece).is_err() {
                return;
            }
        }
    });
    let mut g = spawn(&p.url(), &["--timeout", "30s", "--drain-timeout", "4s"]);
    g.stdin
        .as_mut()
        .unwrap()
        .write_all(readings(5).as_bytes())
        .unwrap();
    drop(g.stdin.take());
    until("two requests", || p.requests() >= 2);
    let rss = peak_rss_kib(g.id()).unwrap_or(0);
    let (code, err) = finish(g);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("larger than 1048576 bytes"), "{err}");
    assert_eq!(logged(&err, "line(s) dropped"), 5, "{err}");
    assert!(rss < 40 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn a_408_on_a_kept_alive_connection_is_repeated_on_a_new_one() {
    let p = Peer::start(|i, mut s, p| {
        if i == 0 {
            // the first request answered and kept alive, the second refused with 408
            let Some(body) = p.request(&mut s) else {
                return;
            };
            p.take(&body);
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
            if p.request(&mut s).is_some() {
                let _ = s.write_all(
                    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                );
            }
            return;
        }
        p.serve_204(&mut s);
    });
    let mut g = spawn(&p.url(), &["--flush-interval", "50ms"]);
    let stdin = g.stdin.as_mut().unwrap();
    stdin.write_all(reading(0, 0).as_bytes()).unwrap();
    until("the first batch", || p.lines().len() == 1);
    stdin
        .write_all((1..4).map(|i| reading(i, 0)).collect::<String>().as_bytes())
        .unwrap();
    drop(g.stdin.take());
    let (code, err) = finish(g);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(numbers(&p.lines()), [0, 1, 2, 3]);
}

#[test]
fn a_connection_closed_while_idle_is_replaced() {
    let p = Peer::start(|i, mut s, p| {
        if i == 0 {
            let Some(body) = p.request(&mut s) else {
                return;
            };
            p.take(&body);
            // kept alive as far as the client knows, then closed
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        p.serve_204(&mut s);
    });
    let mut g = spawn(&p.url(), &["--flush-interval", "50ms"]);
    let stdin = g.stdin.as_mut().unwrap();
    stdin.write_all(reading(0, 0).as_bytes()).unwrap();
    until("the first batch", || p.lines().len() == 1);
    std::thread::sleep(Duration::from_millis(300));
    stdin
        .write_all((1..3).map(|i| reading(i, 0)).collect::<String>().as_bytes())
        .unwrap();
    drop(g.stdin.take());
    let (code, err) = finish(g);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(numbers(&p.lines()), [0, 1, 2]);
}

#[test]
fn interim_1xx_answers_are_passed_over() {
    let p = Peer::start(|_, mut s, p| {
        while let Some(body) = p.request(&mut s) {
            p.take(&body);
            let _ = s.write_all(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            );
        }
    });
    let o = run(&p.url(), &[], &readings(20));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(numbers(&p.lines()), (0..20).collect::<Vec<_>>());
}

#[test]
fn a_redirect_is_an_error_naming_the_location_and_counting_the_lines() {
    let p = Peer::start(|_, mut s, p| {
        while p.request(&mut s).is_some() {
            let _ = s.write_all(
                b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://influx.example:8086/write\r\nContent-Length: 0\r\n\r\n",
            );
        }
    });
    let o = run(&p.url(), &[], &readings(6));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("redirects to https://influx.example:8086/write"),
        "{err}"
    );
    assert!(err.contains("6 line(s) not written"), "{err}");
}

#[test]
fn a_reply_cut_off_midway_is_retried_and_nothing_is_lost() {
    let p = Peer::start(|i, mut s, p| {
        if i < 2 {
            if p.request(&mut s).is_some() {
                let _ = s.write_all(b"HTTP/1.1 204 No");
            }
            return;
        }
        p.serve_204(&mut s);
    });
    let o = run(&p.url(), &[], &readings(50));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("retrying"), "{err}");
    assert_eq!(numbers(&p.lines()), (0..50).collect::<Vec<_>>());
}

#[test]
fn retry_after_is_honoured() {
    let p = Peer::start(|_, mut s, p| {
        while let Some(body) = p.request(&mut s) {
            if p.requests() == 1 {
                let _ = s.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n",
                );
                continue;
            }
            p.take(&body);
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
        }
    });
    let o = run(&p.url(), &[], &readings(10));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let seen = p.seen.lock().unwrap();
    assert!(seen.requests.len() >= 2);
    // not a speed: the tool must not come back before the server said (the backoff alone
    // would retry after 0.5 s)
    let gap = seen.requests[1].duration_since(seen.requests[0]);
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
    assert_eq!(numbers(&seen.lines), (0..10).collect::<Vec<_>>());
}

#[test]
fn a_listener_that_never_accepts_gives_75_and_counts_the_lines() {
    // bound and listening, never accepted: connections complete in the kernel's backlog
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let o = run(
        &url,
        &["--timeout", "1s", "--connect-timeout", "3s"],
        &readings(4),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(75), "{err}");
    assert!(err.contains("4 line(s) not written"), "{err}");
    drop(listener);
}

#[test]
fn sigterm_while_the_listener_never_accepts() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut g = spawn(&url, &["--drain-timeout", "2s", "--flush-interval", "50ms"]);
    g.stdin
        .as_mut()
        .unwrap()
        .write_all(readings(9).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    signal(&g, libc::SIGTERM);
    let (code, err) = finish(g);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(logged(&err, "line(s) dropped"), 9, "{err}");
    drop(listener);
}

#[test]
fn large_readings_while_the_server_is_away_stay_within_64_mib_and_are_counted() {
    // the first request is taken, then 503 for ever: 1500 readings of 100 KB (150 MB) with
    // --buffer far above that many lines
    let p = Peer::start(|_, mut s, p| {
        while let Some(body) = p.request(&mut s) {
            if p.requests() == 1 {
                p.take(&body);
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
            } else {
                let _ =
                    s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
            }
        }
    });
    let n = 1500;
    let mut g = spawn(
        &p.url(),
        &[
            "--buffer",
            "1000000",
            "--drain-timeout",
            "1s",
            "--batch-size",
            "1",
        ],
    );
    let pid = g.id();
    let mut stdin = g.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for i in 0..n {
            if stdin.write_all(reading(i, 100_000).as_bytes()).is_err() {
                return;
            }
        }
    });
    let mut peak = 0;
    let t = Instant::now();
    while !feeder.is_finished() && t.elapsed() < Duration::from_secs(120) {
        peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    feeder.join().unwrap();
    peak = peak.max(peak_rss_kib(pid).unwrap_or(0));
    let (code, err) = finish(g);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("dropping the oldest"), "{err}");
    let written = p.lines().len();
    let dropped = logged(&err, "line(s) dropped");
    assert_eq!(written + dropped, n, "every line written or counted: {err}");
    assert!(peak < 120 * 1024, "peak RSS {peak} KiB");
}
