//! The standing hostile-peer suite for readings-exporter (issue 19): slow and idle clients
//! by the hundred, a client trickling its request, requests that are not HTTP or end lines
//! with a bare LF, readings whose fields clash with each other or with the exporter's own
//! series or lie beyond f64, more devices than --max-devices, a textfile that cannot be
//! written. Each test asserts the promise: a normal scrape is answered, the exporter stays
//! bounded (threads, connections), the exposition stays valid, losses are counted.

use crate::common::{Guard, TempDir};
use crate::hostile_influx::peak_rss_kib;
use crate::readings_to_influx::{free_port, get, have};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_readings-exporter")
}

struct Exporter {
    port: u16,
    stdin: Option<ChildStdin>,
    child: Guard,
}

impl Exporter {
    fn start(extra: &[&str]) -> Exporter {
        let port = free_port();
        let mut child = Guard::spawn(
            Command::new(bin())
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(extra)
                .env_remove("RUST_LOG")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let stdin = child.stdin.take();
        let t = Instant::now();
        while get(port, "/").is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "exporter did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Exporter { port, stdin, child }
    }

    fn feed(&mut self, text: &str) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(text.as_bytes()).unwrap();
        s.flush().unwrap();
    }

    fn until(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            if let Some((200, body)) = get(self.port, "/metrics") {
                let m = String::from_utf8(body).unwrap();
                if f(&m) {
                    return m;
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "waited 30 s for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ends the input; the exit code and stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        drop(self.stdin.take());
        let t = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "did not exit");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

fn reading(device: &str, fields: serde_json::Value) -> String {
    serde_json::json!({"type":"reading","ts":"2026-11-21T14:03:07.512Z","source":"lp4",
        "device":device,"fields":fields})
    .to_string()
        + "\n"
}

fn threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Sends `req` on a new connection and reads the answer until the exporter closes it (at
/// most 30 s: a hang).
fn raw(port: u16, req: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn five_hundred_slow_clients_do_not_stop_a_scrape_and_threads_stay_few() {
    let mut e = Exporter::start(&[]);
    e.feed(&reading(
        "pack-1",
        serde_json::json!({"pack_voltage": 53.2}),
    ));
    e.until("the reading", |m| m.contains("device=\"pack-1\""));
    // 500 connections that start a request and never finish it
    let mut slow = Vec::new();
    for _ in 0..500 {
        let mut s = TcpStream::connect(("127.0.0.1", e.port)).unwrap();
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
        slow.push(s);
    }
    let m = e.until("a scrape among 500 slow clients", |m| {
        m.contains("bmstap_pack_voltage_volts{device=\"pack-1\",source=\"lp4\"} 53.2\n")
    });
    assert!(m.contains("# TYPE bmstap_device_up gauge"));
    let n = threads(e.child.id());
    assert!(n <= 8, "{n} threads for 500 connections");
    drop(slow);
    let (code, err) = e.finish();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("connections at once: closing the oldest"),
        "{err}"
    );
    assert!(err.lines().count() < 20, "log bounded: {err}");
}

#[test]
fn a_request_trickled_a_byte_at_a_time_is_cut_off() {
    let e = Exporter::start(&[]);
    let mut s = TcpStream::connect(("127.0.0.1", e.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    let req = b"GET /metrics HTTP/1.1\r\nX-Pad: "
        .iter()
        .chain(std::iter::repeat(&b'a'));
    let mut closed = false;
    for b in req {
        if s.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        if t.elapsed() > Duration::from_secs(45) {
            break;
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(closed, "a request trickled for 45 s was still being read");
    // and the exporter still serves
    assert_eq!(get(e.port, "/").map(|r| r.0), Some(200));
}

#[test]
fn not_http_gets_400_and_bare_lf_requests_an_answer() {
    let mut e = Exporter::start(&[]);
    e.feed(&reading("pack-1", serde_json::json!({"soc": 80})));
    e.until("the reading", |m| m.contains("pack-1"));
    for junk in [
        &b"SSH-2.0-OpenSSH_9.6\r\n"[..],
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"hello\n",
        b"GET\n",
    ] {
        let answer = raw(e.port, junk);
        assert!(
            answer.starts_with("HTTP/1.1 400 "),
            "{:?} got {answer:?}",
            String::from_utf8_lossy(junk)
        );
    }
    let answer = raw(e.port, b"GET /metrics HTTP/1.0\nHost: x\n\n");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("bmstap_soc_percent{device=\"pack-1\",source=\"lp4\"} 80\n"),
        "{answer}"
    );
    let (code, err) = e.finish();
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn clashing_fields_and_values_beyond_f64_keep_the_exposition_valid() {
    let mut e = Exporter::start(&[]);
    e.feed(&reading(
        "pack-1",
        serde_json::json!({"a-b": 1, "a_b": 2, "reading_timestamp_seconds": 5, "device_up": 7,
            "pack_voltage": 53.0, "pack_voltage_volts": 99,
            "capacity_ah": 1e308, "remaining_ah": -1e308,
            "energy_charged_kwh": 1e308, "energy_discharged_kwh": -1e308}),
    ));
    let m = e.until("the reading", |m| m.contains("pack-1"));
    let mut seen = std::collections::HashSet::new();
    for l in m.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = l.rsplit_once(' ').unwrap();
        assert!(seen.insert(series.to_string()), "{series} twice:\n{m}");
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "{l}"
        );
        if series.contains("_total{") {
            assert!(!value.contains("Inf") && !value.starts_with('-'), "{l}");
        }
    }
    assert!(
        m.contains("bmstap_capacity_coulombs{device=\"pack-1\",source=\"lp4\"} +Inf\n"),
        "{m}"
    );
    assert!(
        m.contains("bmstap_pack_voltage_volts{device=\"pack-1\",source=\"lp4\"} 53\n"),
        "{m}"
    );
    if have("promtool") {
        let dir = TempDir::new("hostile-exporter-promtool");
        std::fs::write(dir.path("m.prom"), &m).unwrap();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "promtool check metrics < {}",
                dir.path("m.prom").display()
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            !text.contains("error") && !text.contains("duplicate"),
            "{text}"
        );
    }
    let (code, err) = e.finish();
    assert_eq!(code, Some(0), "{err}");
    for f in [
        "a_b",
        "pack_voltage_volts",
        "device_up",
        "reading_timestamp_seconds",
    ] {
        assert!(err.contains(&format!("field {f} would be")), "{f}: {err}");
    }
}

#[test]
fn more_devices_than_max_devices_are_refused_with_a_warning_and_exit_1() {
    let mut e = Exporter::start(&["--max-devices", "3"]);
    for i in 0..50 {
        e.feed(&reading(
            &format!("pack-{i}"),
            serde_json::json!({"soc": i}),
        ));
    }
    e.feed(&reading("pack-0", serde_json::json!({"soc": 99})));
    let m = e.until("the known device updated", |m| {
        m.contains("bmstap_soc_percent{device=\"pack-0\",source=\"lp4\"} 99\n")
    });
    assert_eq!(m.matches("bmstap_device_up{").count(), 3, "{m}");
    let (code, err) = e.finish();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("more than 3 devices (--max-devices)"), "{err}");
    assert!(
        err.contains("47 reading(s) of devices beyond --max-devices 3 ignored"),
        "{err}"
    );
    assert!(err.lines().count() < 10, "log bounded: {err}");
}

#[test]
fn a_hundred_thousand_devices_stay_within_the_cap_in_memory() {
    // 100 000 distinct ids at the default cap (1000): memory stays that of 1000 devices
    let mut e = Exporter::start(&[]);
    let mut text = String::new();
    for i in 0..100_000 {
        text.push_str(&reading(
            &format!("d{i}"),
            serde_json::json!({"soc": 1, "pack_voltage": 50.5}),
        ));
    }
    e.feed(&text);
    e.feed(&reading("d5", serde_json::json!({"soc": 2})));
    let m = e.until("the last reading", |m| {
        m.contains("bmstap_soc_percent{device=\"d5\",source=\"lp4\"} 2\n")
    });
    assert_eq!(m.matches("bmstap_device_up{").count(), 1000);
    let rss = peak_rss_kib(e.child.id()).unwrap();
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB");
    let (code, err) = e.finish();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("99000 reading(s) of devices beyond --max-devices 1000 ignored"),
        "{err}"
    );
}

#[test]
fn a_textfile_that_cannot_be_written_is_retried_not_the_end() {
    let dir = TempDir::new("hostile-exporter-textfile");
    std::fs::create_dir(dir.path("missing")).unwrap();
    let file = dir.path("missing/bmstap.prom");
    let mut child = Guard::spawn(
        Command::new(bin())
            .arg("--textfile")
            .arg(&file)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(reading("pack-1", serde_json::json!({"soc": 41})).as_bytes())
        .unwrap();
    let t = Instant::now();
    while !file.exists() {
        assert!(t.elapsed() < Duration::from_secs(30), "never written");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The directory goes away while the exporter runs (unmounted, cleaned up): retried.
    std::fs::remove_dir_all(dir.path("missing")).unwrap();
    stdin
        .write_all(reading("pack-1", serde_json::json!({"soc": 42})).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "a failed write ended the exporter"
    );
    std::fs::create_dir(dir.path("missing")).unwrap();
    let t = Instant::now();
    while !std::fs::read_to_string(&file)
        .is_ok_and(|m| m.contains("bmstap_soc_percent{device=\"pack-1\",source=\"lp4\"} 42\n"))
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "never written after the directory came"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stdin);
    let out = std::mem::replace(&mut child.0, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("trying again every second"), "{err}");
    assert!(err.contains("written again after"), "{err}");
}
