//! The pollers (lp4-poll, eg4-7e-query, bms-poll) against misbehaving RS-485 gateways (issue
//! 19's standing hostile-peer suite, the gateway column): one that floods the connection with
//! bytes that never frame, and one that answers every request with half a frame. Each test
//! asserts the promises: a status record per pack and cycle (nothing silently lost), never a
//! reading made of garbage, the log bounded, memory bounded, and SIGTERM ends the tool.

use crate::common::std_cmd;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A listener on loopback that runs `serve` on every connection, each in its own thread.
fn gateway(serve: impl Fn(std::net::TcpStream) + Send + Sync + Copy + 'static) -> u16 {
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

/// A poller under test: the tool, its options, the packs' addresses (device ids end in them).
struct Poller {
    tool: &'static str,
    args: &'static [&'static str],
    packs: [&'static str; 2],
}

const POLLERS: [Poller; 3] = [
    Poller {
        tool: "lp4-poll",
        args: &["-a", "1,2"],
        packs: ["1", "2"],
    },
    // The 7E bus's default 2 s between requests is for real packs; the test runs faster.
    Poller {
        tool: "eg4-7e-query",
        args: &["-a", "1,2", "--gap", "50ms"],
        packs: ["1", "2"],
    },
    // One of bms-poll's families stands for all: they share the engine and the link.
    Poller {
        tool: "bms-poll",
        args: &["--protocol", "pylontech", "-a", "2,3"],
        packs: ["2", "3"],
    },
];

/// The poller on two packs behind the gateway, status records on, output collected.
fn poll(p: &Poller, port: u16) -> Child {
    std_cmd(p.tool)
        .args(p.args)
        .args([
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

/// Runs the poller at least `least` and until it has written two records for each pack (or
/// 60 s went by: the check then names what is missing), sampling its memory; then sends
/// SIGTERM and waits (at most 5 s) for it to end. The wait is for the records, not a fixed
/// time, so a loaded machine only makes it slower. Returns (exit code, stdout records,
/// stderr, peak RSS in KiB).
fn run_then_term(
    p: &Poller,
    mut child: Child,
    least: Duration,
) -> (Option<i32>, Vec<serde_json::Value>, String, u64) {
    use std::io::BufRead;
    use std::sync::{Arc, Mutex};
    let tool = p.tool;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let stdout = child.stdout.take().unwrap();
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            sink.lock().unwrap().push(l);
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let errs = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        err
    });
    let enough = |lines: &[String]| {
        p.packs.iter().all(|pack| {
            let tail = format!("-{pack}\"");
            lines.iter().filter(|l| l.contains(&tail)).count() >= 2
        })
    };
    let start = Instant::now();
    let mut peak = 0;
    while start.elapsed() < least
        || (!enough(&lines.lock().unwrap()) && start.elapsed() < Duration::from_secs(60))
    {
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
            panic!("{tool} did not end within 5 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    let err = errs.join().unwrap();
    let records = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (status.code(), records, err, peak)
}

fn check(p: &Poller, records: &[serde_json::Value], err: &str, peak_kib: u64, code: Option<i32>) {
    let tool = p.tool;
    // A poller keeps SIGTERM's default action (like candump): it ends at once, each record
    // already flushed; an exit status, where it has one, is 0 or 1 (never a crash).
    assert!(
        matches!(code, None | Some(0) | Some(1)),
        "{tool} ended by SIGTERM: {code:?}\n{err}"
    );
    assert!(
        records.iter().all(|r| r["type"] == "status"),
        "{tool}: no reading made of these bytes: {records:?}"
    );
    for pack in p.packs {
        let n = records
            .iter()
            .filter(|r| r["device"].as_str().is_some_and(|d| d.ends_with(pack)))
            .count();
        assert!(
            n >= 2,
            "{tool}: a status record for pack {pack} every cycle: {n}\n{err}\n{records:?}"
        );
    }
    let lines = err.lines().count();
    assert!(
        lines <= 12,
        "{tool}: the log stays bounded: {lines} lines\n{err}"
    );
    assert!(
        !err.contains("recovered"),
        "{tool}: nothing was read:\n{err}"
    );
    assert!(
        peak_kib < 64 * 1024,
        "{tool}: memory bounded: {peak_kib} KiB"
    );
}

/// Runs every poller against the gateway `serve` makes, at least `least` each (see run_then_term).
fn each_poller(
    serve: impl Fn(std::net::TcpStream) + Send + Sync + Copy + 'static,
    least: Duration,
) -> Vec<(Vec<serde_json::Value>, &'static Poller)> {
    let port = gateway(serve);
    POLLERS
        .iter()
        .map(|p| {
            let (code, records, err, peak) = run_then_term(p, poll(p, port), least);
            check(p, &records, &err, peak, code);
            (records, p)
        })
        .collect()
}

#[test]
fn a_gateway_flooding_bytes_that_never_frame() {
    // As fast as the socket takes it: a repeating pattern with no valid frame in it. (Before
    // the stale-input discard was bounded, a poller could spend seconds there per request.)
    each_poller(
        |mut c| {
            let junk: Vec<u8> = (0..65536u32).map(|i| (i * 7 + 3) as u8).collect();
            while c.write_all(&junk).is_ok() {}
        },
        Duration::from_secs(2),
    );
}

/// The first half of a reply to `req`, in the request's own protocol: the start of a frame
/// whose length promises more than ever comes.
fn half_reply(req: &[u8]) -> Vec<u8> {
    match req {
        // Pylon ASCII (`~` is 0x7E too: the ASCII VER follows it): SOI, VER, ADR, CID1,
        // RTN 00, a LENGTH of 0x40 characters, two of them.
        [b'~', b'2', ..] => b"~20024600C0401234".to_vec(),
        // 7E/0D: SOI, address, command, a payload length of 0x40, two bytes.
        [0x7E, ..] => vec![
            0x7E,
            req.get(1).copied().unwrap_or(1),
            0x01,
            0x40,
            0x12,
            0x34,
        ],
        // Modbus RTU FC03: address, function, a byte count of 0x50, two bytes.
        _ => vec![req.first().copied().unwrap_or(1), 0x03, 0x50, 0x12, 0x34],
    }
}

#[test]
fn a_gateway_answering_half_frames() {
    // Each request waits out its timeout (and is retried), so cycles are slow here.
    let runs = each_poller(
        |mut c| {
            let mut req = [0u8; 64];
            while let Ok(n) = c.read(&mut req) {
                if n == 0 || c.write_all(&half_reply(&req[..n])).is_err() {
                    break;
                }
            }
        },
        Duration::from_secs(2),
    );
    for (records, p) in runs {
        assert!(
            records.iter().any(|r| r["error"]
                .as_str()
                .is_some_and(|e| e.contains("short reply"))),
            "{}: a half frame is named as such: {records:?}",
            p.tool
        );
    }
}
