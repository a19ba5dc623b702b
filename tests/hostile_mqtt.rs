//! readings-to-mqtt against hostile peers and records (issue 19; docs/reliability.md): a
//! broker that refuses large packets (mosquitto's `max_packet_size`), one behind a proxy that
//! drops every second connection, peers that take the connection and never answer or stop
//! reading, and records too large for any packet. Each test asserts the promise: the rest
//! flows, nothing is lost uncounted, SIGTERM ends the tool, memory and the log stay bounded.

use crate::common::{cmd, TempDir};
use crate::mqtt_delivery::{in_order, reading, stat, Mosq, Running, Sub};
use crate::readings_to_mqtt::have;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn need_mosquitto() -> bool {
    if have("mosquitto") {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "mosquitto is required under CI"
    );
    eprintln!("SKIPPED: this test needs mosquitto (apt-get install mosquitto)");
    false
}

/// What the proxy does with connection `i` (0-based).
#[derive(Clone, Copy)]
enum Policy {
    /// Forward both ways; close both sides once the client has sent this many bytes.
    CloseAfter(usize),
    /// Take the connection and never read from it or answer.
    Silent,
}

/// A TCP proxy on loopback in front of `upstream`, misbehaving as `policy` says.
struct Proxy {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Proxy {
    fn start(upstream: u16, policy: fn(usize) -> Policy) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let n = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in l.incoming() {
                let Ok(client) = c else { continue };
                let i = n.fetch_add(1, Ordering::SeqCst);
                match policy(i) {
                    Policy::Silent => held.push(client),
                    Policy::CloseAfter(limit) => {
                        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                            continue;
                        };
                        pipe(client, server, limit);
                    }
                }
            }
        });
        Proxy { port, accepted }
    }
}

/// Copies client → server (closing both after `limit` bytes) and server → client.
fn pipe(client: TcpStream, server: TcpStream, limit: usize) {
    let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (mut s_in, mut c_out) = (server, client);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        loop {
            match c_in.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    total += k;
                    if total > limit || s_out.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = c_in.shutdown(Shutdown::Both);
        let _ = s_out.shutdown(Shutdown::Both);
    });
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match s_in.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    if c_out.write_all(&buf[..k]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = s_in.shutdown(Shutdown::Both);
        let _ = c_out.shutdown(Shutdown::Both);
    });
}

/// A reading too large in each way the issue found: an 8000-character device id, 60000 cells,
/// and a line of 1,048,574 bytes (under the line cap, over the packet).
fn oversized() -> String {
    let id = format!(
        "{{\"type\":\"reading\",\"ts\":\"2026-11-21T14:03:07.512Z\",\"source\":\"lp4\",\
         \"device\":\"{}\",\"fields\":{{\"soc\":1}}}}\n",
        "a".repeat(8000)
    );
    let cells = vec!["3.3"; 60000].join(",");
    let cells = format!(
        "{{\"type\":\"reading\",\"ts\":\"2026-11-21T14:03:07.512Z\",\"source\":\"lp4\",\
         \"device\":\"cells\",\"fields\":{{\"cell_voltages\":[{cells}]}}}}\n"
    );
    let head = "{\"type\":\"reading\",\"ts\":\"2026-11-21T14:03:07.512Z\",\"source\":\"lp4\",\
                \"device\":\"long\",\"fields\":{\"soc\":2},\"raw\":{\"pad\":\"";
    let tail = "\"}}";
    let pad = "x".repeat(1_048_574 - head.len() - tail.len());
    let long = format!("{head}{pad}{tail}\n");
    assert_eq!(long.len(), 1_048_575);
    format!("{id}{cells}{long}")
}

/// Waits for the child to exit within `limit` (a hang detector, not a timing assertion).
fn exits_within(r: Running, limit: Duration) -> (Option<i32>, String) {
    let pid = r.guard.id();
    let t = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: polling our own child without reaping anyone else's.
        let got = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
        if got == pid as libc::pid_t {
            std::thread::sleep(Duration::from_millis(200));
            let err = r.err.lock().unwrap().clone();
            let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            std::mem::forget(r.guard);
            return (code, err);
        }
        assert!(
            t.elapsed() < limit,
            "readings-to-mqtt still running after {limit:?}: {}",
            r.err.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigterm(r: &Running) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(r.guard.id() as libc::pid_t, libc::SIGTERM) };
}

#[test]
fn oversized_records_are_refused_named_and_counted_and_the_rest_flows() {
    if !need_mosquitto() {
        return;
    }
    let dir = TempDir::new("hostile-oversized");
    let m = Mosq::start(&dir, "m", "");
    let sub = Sub::start(m.port, "j");
    let mut r = Running::start(m.port, &["--json-topic", "j"]);
    r.write(&oversized());
    let mut good = String::new();
    for seq in 1..=50 {
        good.push_str(&reading(seq, 200));
    }
    r.write(&good);
    let (code, err) = r.finish();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("8000 characters (at most 64)"), "{err}");
    assert!(err.contains("\"cell_voltages\" has 60000 items"), "{err}");
    assert!(err.contains("larger than the maximum packet"), "{err}");
    assert_eq!(stat(&err, "messages_refused"), 1, "{err}");
    assert_eq!(stat(&err, "bad_lines"), 2, "{err}");
    assert_eq!(stat(&err, "json_published"), 50, "{err}");
    let got = in_order(&sub.wait(50));
    assert_eq!(got, (1..=50).collect::<Vec<u64>>());
    assert!(err.lines().count() < 20, "a bounded log: {err}");
}

#[test]
fn a_broker_that_refuses_large_packets_gets_the_rest() {
    if !need_mosquitto() {
        return;
    }
    let dir = TempDir::new("hostile-maxpacket");
    // mosquitto closes the connection of a client that sends a larger packet.
    let m = Mosq::start(&dir, "m", "max_packet_size 20000\n");
    let sub = Sub::start(m.port, "j");
    let mut r = Running::start(m.port, &["--json-topic", "j"]);
    let mut input = reading(0, 30000);
    for seq in 1..=30 {
        input.push_str(&reading(seq, 200));
    }
    r.write(&input);
    let (code, err) = exits_within(
        {
            drop(r.stdin.take());
            r
        },
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("max_packet_size"), "{err}");
    assert!(stat(&err, "messages_refused") >= 1, "{err}");
    assert_eq!(stat(&err, "json_published"), 30, "{err}");
    assert_eq!(stat(&err, "readings_dropped"), 0, "{err}");
    let got = in_order(&sub.wait(30));
    assert_eq!(got, (1..=30).collect::<Vec<u64>>());
    assert!(err.lines().count() < 40, "a bounded log: {err}");
}

#[test]
fn a_broker_that_drops_every_second_connection_loses_nothing() {
    if !need_mosquitto() {
        return;
    }
    let dir = TempDir::new("hostile-flap");
    let m = Mosq::start(&dir, "m", "");
    // Every second connection is cut right after its first kilobyte, the others after 64 KiB.
    let proxy = Proxy::start(m.port, |i| {
        Policy::CloseAfter(if i % 2 == 1 { 1024 } else { 64 * 1024 })
    });
    let sub = Sub::start(m.port, "j");
    let mut r = Running::start(proxy.port, &["--json-topic", "j"]);
    let n = 3000u64;
    let mut input = String::new();
    for seq in 1..=n {
        input.push_str(&reading(seq, 300));
    }
    let writer = {
        let mut stdin = r.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        })
    };
    writer.join().unwrap();
    let (code, err) = exits_within(r, Duration::from_secs(120));
    assert_eq!(code, Some(0), "{err}");
    assert!(
        proxy.accepted.load(Ordering::SeqCst) > 4,
        "the proxy did cut connections"
    );
    assert_eq!(stat(&err, "readings_dropped"), 0, "{err}");
    assert_eq!(stat(&err, "json_published"), n, "{err}");
    let got = in_order(&sub.wait(n as usize));
    assert_eq!(got.len() as u64, n, "every reading, in order");
    // Five losses named, then one line a minute: the log does not grow with the flapping.
    let lost = err
        .lines()
        .filter(|l| l.contains("connection lost"))
        .count();
    assert!(lost <= 7, "{lost} loss lines: {err}");
}

#[test]
fn sigterm_ends_it_in_every_state_and_counts_what_was_not_delivered() {
    if !need_mosquitto() {
        return;
    }
    let dir = TempDir::new("hostile-sigterm");
    let m = Mosq::start(&dir, "m", "");
    // A port with nothing behind it, a peer that takes the connection and never answers, and
    // a broker that stops reading after its first 16 KiB.
    let nobody = TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody_port = nobody.local_addr().unwrap().port();
    drop(nobody);
    let silent = Proxy::start(m.port, |_| Policy::Silent);
    let stalled = {
        // Forwards the first 16 KiB, then holds the connection open without reading.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let up = m.port;
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for c in l.incoming() {
                let Ok(client) = c else { continue };
                let server = TcpStream::connect(("127.0.0.1", up)).unwrap();
                let mut c_in = client.try_clone().unwrap();
                let mut s_out = server.try_clone().unwrap();
                pipe_stall(&mut c_in, &mut s_out, server.try_clone().unwrap(), client);
                held.push((c_in, s_out));
            }
        });
        port
    };
    for (what, port) in [
        ("nothing listening", nobody_port),
        ("a silent peer", silent.port),
        ("a broker that stopped reading", stalled),
    ] {
        let mut r = Running::start(port, &["--json-topic", "j", "--connect-timeout", "5m"]);
        let mut stdin = r.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            for seq in 0..20_000u64 {
                if stdin.write_all(reading(seq, 1000).as_bytes()).is_err() {
                    break;
                }
            }
            stdin
        });
        std::thread::sleep(Duration::from_secs(2));
        let rss = rss_kib(r.guard.id());
        assert!(rss < 200 * 1024, "{what}: {rss} KiB resident");
        sigterm(&r);
        let (code, err) = exits_within(r, Duration::from_secs(10));
        drop(writer);
        assert_eq!(
            code,
            Some(1),
            "{what}: readings held count as dropped: {err}"
        );
        let read = stat(&err, "records_read");
        let published = stat(&err, "json_published");
        let dropped = stat(&err, "readings_dropped");
        assert!(read > 0, "{what}: {err}");
        assert_eq!(
            read,
            published + dropped,
            "{what}: nothing lost uncounted: {err}"
        );
    }
}

/// Forwards client → server until 16 KiB, then stops reading (the client's writes block);
/// server → client is forwarded.
fn pipe_stall(c_in: &mut TcpStream, s_out: &mut TcpStream, s_in: TcpStream, c_out: TcpStream) {
    let mut c_in = c_in.try_clone().unwrap();
    let mut s_out = s_out.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        let mut total = 0;
        while total < 16 * 1024 {
            match c_in.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(k) => {
                    total += k;
                    if s_out.write_all(&buf[..k]).is_err() {
                        return;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_secs(3600));
    });
    let (mut s_in, mut c_out) = (s_in, c_out);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(k) = s_in.read(&mut buf) {
            if k == 0 || c_out.write_all(&buf[..k]).is_err() {
                break;
            }
        }
    });
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn json_topic_is_a_topic_and_not_one_of_the_bridges_own() {
    for t in [
        "a/#",
        "",
        "a/+/b",
        "/a",
        "a/",
        "bmstap/x/state",
        "homeassistant/device/x/config",
    ] {
        cmd("readings-to-mqtt")
            .args(["--json-topic", t, "--print-discovery"])
            .write_stdin("")
            .assert()
            .code(2)
            .stderr(predicates::str::contains("--json-topic"));
    }
}

#[test]
fn a_device_named_bridge_never_lands_on_the_bridges_topic() {
    let input = "{\"type\":\"reading\",\"ts\":\"2026-11-21T14:03:07.512Z\",\"source\":\"lp4\",\
                 \"device\":\"bridge\",\"fields\":{\"soc\":1}}\n\
                 {\"type\":\"status\",\"ts\":\"2026-11-21T14:03:08.512Z\",\"source\":\"lp4\",\
                 \"device\":\"bridge\",\"error\":\"timeout\"}\n";
    let out = cmd("readings-to-mqtt")
        .arg("--print-discovery")
        .write_stdin(input)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("reserved"))
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("bmstap/bridge/"), "{text}");
    cmd("readings-to-mqtt")
        .args(["--remove", "bridge", "--port", "1"])
        .assert()
        .code(2);
}
