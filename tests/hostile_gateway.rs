//! The pollers against misbehaving RS-485 gateways (issue 19's standing hostile-peer suite,
//! the gateway column): one that floods the connection with bytes that never frame, and one
//! that answers every request with half a frame. Each test asserts the promises: a status
//! record per pack and cycle (nothing silently lost), never a reading made of garbage, the log
//! bounded, memory bounded, and SIGTERM ends the tool.

use crate::common::std_cmd;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A listener on loopback that runs `serve` on every connection, each in its own thread.
fn gateway(serve: fn(std::net::TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(c) = conn else { break };
            std::thread::spawn(move || serve(c));
        }
    });
    port
}

/// lp4-poll on two packs behind the gateway, status records on, output collected.
fn poll(port: u16) -> Child {
    std_cmd("lp4-poll")
        .args([
            "-a",
            "1,2",
            "-i",
            "100ms",
            "-t",
            "300ms",
            "--emit-errors",
            &format!("tcp://127.0.0.1:{port}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Resident memory of a process in KiB (Linux).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs the poller for `run`, samples its memory, sends SIGTERM and waits (at most 5 s) for
/// it to end. Returns (exit code, stdout records, stderr, peak RSS in KiB).
fn run_then_term(
    mut child: Child,
    run: Duration,
) -> (Option<i32>, Vec<serde_json::Value>, String, u64) {
    let start = Instant::now();
    let mut peak = 0;
    while start.elapsed() < run {
        std::thread::sleep(Duration::from_millis(250));
        peak = peak.max(rss_kib(child.id()));
    }
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lp4-poll did not end within 5 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let records = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (status.code(), records, err, peak)
}

fn check(records: &[serde_json::Value], err: &str, peak_kib: u64, code: Option<i32>) {
    // A poller keeps SIGTERM's default action (like candump): it ends at once, each record
    // already flushed; an exit status, where it has one, is 0 or 1 (never a crash).
    assert!(
        matches!(code, None | Some(0) | Some(1)),
        "ended by SIGTERM: {code:?}\n{err}"
    );
    assert!(
        records.iter().all(|r| r["type"] == "status"),
        "no reading made of these bytes: {records:?}"
    );
    for pack in ["1", "2"] {
        let n = records
            .iter()
            .filter(|r| r["device"].as_str().is_some_and(|d| d.ends_with(pack)))
            .count();
        assert!(
            n >= 2,
            "a status record for pack {pack} every cycle: {n}\n{err}\n{records:?}"
        );
    }
    let lines = err.lines().count();
    assert!(lines <= 12, "the log stays bounded: {lines} lines\n{err}");
    assert!(!err.contains("recovered"), "nothing was read:\n{err}");
    assert!(peak_kib < 64 * 1024, "memory bounded: {peak_kib} KiB");
}

#[test]
fn a_gateway_flooding_bytes_that_never_frame() {
    let port = gateway(|mut c| {
        // As fast as the socket takes it: a repeating pattern with no valid CRC in it.
        let junk: Vec<u8> = (0..65536u32).map(|i| (i * 7 + 3) as u8).collect();
        while c.write_all(&junk).is_ok() {}
    });
    let (code, records, err, peak) = run_then_term(poll(port), Duration::from_secs(3));
    check(&records, &err, peak, code);
}

#[test]
fn a_gateway_answering_half_frames() {
    let port = gateway(|mut c| {
        let mut req = [0u8; 8];
        // Each request (8 bytes, FC03) gets the first half of a reply: address, function,
        // a byte count of 0x50, and two bytes; the rest never comes.
        while c.read_exact(&mut req).is_ok() {
            if c.write_all(&[req[0], 0x03, 0x50, 0x12, 0x34]).is_err() {
                break;
            }
        }
    });
    // Each request waits out its timeout (and is retried), so cycles are slow here.
    let (code, records, err, peak) = run_then_term(poll(port), Duration::from_secs(6));
    check(&records, &err, peak, code);
    assert!(
        records.iter().any(|r| r["error"]
            .as_str()
            .is_some_and(|e| e.contains("short reply"))),
        "a half frame is named as such: {records:?}"
    );
}
