//! Fault tests (issue 8): bad serial lines, hung-up ports, CAN logs that change under the
//! decoder, a broker that never answers, a stalled consumer, and hostile input. Each row of
//! the fault table in docs/reliability.md points at a test here or in the tool's own module.

use crate::common::{check_record, cmd, lines_of, records, std_cmd, Guard, Sim, TempDir};
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Polls packs 1 and 2 behind a simulator with `faults` for `cycles` cycles and checks what no
/// line fault may change: every cycle gives each pack a reading or an error record, and no
/// reading carries another pack's data (the simulator's cycle count is 11 + address).
/// Returns the error texts.
fn poll_through(tool: &str, sim: &str, faults: &[&str], cycles: usize) -> (Vec<String>, i32) {
    let mut args = vec![sim, "--address", "1,2", "--serial-tag", "f"];
    args.extend_from_slice(faults);
    let sim = Sim::start(&args);
    let out = cmd(tool)
        .args(["-a", "1,2", "-i", "100ms", "-t", "400ms", "--gap", "20ms"])
        .args(["--emit-errors", "-n", &cycles.to_string(), &sim.path])
        .output()
        .unwrap();
    let mut per_addr = [0usize; 2];
    let mut errors = Vec::new();
    for r in records(&out.stdout) {
        let device = r["device"].as_str().unwrap().to_string();
        let addr: usize = device
            .rsplit(['-'])
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("device {device} names no address"));
        per_addr[addr - 1] += 1;
        match r["type"].as_str().unwrap() {
            "reading" => assert_eq!(
                r["fields"]["cycle_count"].as_u64(),
                Some(11 + addr as u64),
                "{tool} {faults:?}: pack {addr}'s reading carries another pack's data: {r}"
            ),
            "status" => errors.push(r["error"].as_str().unwrap().to_string()),
            other => panic!("unexpected record type {other}"),
        }
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        per_addr,
        [cycles, cycles],
        "{tool} {faults:?}: a cycle lost a pack's record\n{stderr}"
    );
    (errors, out.status.code().unwrap_or(-1))
}

fn line_faults(tool: &str, sim: &str) {
    // Repeated replies and trailing garbage cost nothing.
    for f in [&["--twice-every", "2"][..], &["--garbage-every", "2"]] {
        let (errors, code) = poll_through(tool, sim, f, 6);
        assert_eq!((errors.as_slice(), code), (&[][..], 0), "{tool} {f:?}");
    }
    // A late reply costs that pack its cycle, nothing else: it arrives while the other pack is
    // polled and is passed over there.
    let (errors, code) = poll_through(tool, sim, &["--late-every", "4", "--late-by", "600ms"], 6);
    assert_eq!(code, 1);
    assert!(!errors.is_empty());
    for e in &errors {
        assert!(e.starts_with("timeout after 400 ms"), "{tool}: {e}");
    }
    // A reply from the wrong address is never taken for the polled pack's.
    let (errors, code) = poll_through(tool, sim, &["--foreign-every", "2"], 6);
    assert_eq!(code, 1);
    assert!(
        errors.iter().any(|e| e.contains("reply from address")),
        "{tool}: {errors:?}"
    );
    // All of it at once, with damaged checksums too.
    let all = [
        "--late-every",
        "5",
        "--late-by",
        "600ms",
        "--twice-every",
        "3",
        "--garbage-every",
        "2",
        "--foreign-every",
        "7",
        "--bad-crc-every",
        "11",
    ];
    poll_through(tool, sim, &all, 8);
}

#[test]
fn lp4_poll_on_a_bad_line() {
    line_faults("lp4-poll", "lp4");
}

#[test]
fn eg4_7e_query_on_a_bad_line() {
    line_faults("eg4-7e-query", "eg4-7e");
}

/// The simulator is killed under the poller (the pseudo-terminal hangs up) and another starts
/// on the same link: the poller says so, reopens the port and reads the new packs.
fn port_lost_and_back(tool: &str, sim: &str) {
    let dir = TempDir::new(&format!("restart-{sim}"));
    let link = dir.path("port");
    let link_s = link.to_str().unwrap();
    let first = Sim::start(&[sim, "--link", link_s, "--serial-tag", "first"]);
    let mut poller = Guard::spawn(
        std_cmd(tool)
            .args(["-i", "100ms", "-t", "200ms", "--gap", "10ms", link_s])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let lines = lines_of(poller.stdout.take().unwrap());
    let wait = Duration::from_secs(30);
    let line = lines.recv_timeout(wait).expect("a first reading");
    check_record(&line);
    if tool == "lp4-poll" {
        assert!(line.contains("\"device\":\"sim-first-01\""), "{line}");
    }
    drop(first); // killed: the pseudo-terminal hangs up under the poller
    std::thread::sleep(Duration::from_millis(300));
    let restarted = bmstap::time::Timestamp::now().rfc3339();
    let restarted = String::from_utf8_lossy(&restarted).into_owned();
    let _second = Sim::start(&[sim, "--link", link_s, "--serial-tag", "second"]);
    let deadline = Instant::now() + wait;
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("readings from the new simulator");
        let r = check_record(&line);
        // A reading taken after the restart (lp4-poll also shows the new pack's serial).
        if r["type"] == "reading" && r["ts"].as_str().unwrap() > restarted.as_str() {
            if tool == "lp4-poll" {
                assert_eq!(r["device"], "sim-second-01", "{line}");
            }
            break;
        }
    }
    let _ = poller.kill();
    let _ = poller.wait();
    let mut err = String::new();
    poller
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("port lost"), "{err}");
    assert!(err.contains("reopened"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn lp4_poll_port_lost_and_back() {
    port_lost_and_back("lp4-poll", "lp4");
}

#[test]
fn eg4_7e_query_port_lost_and_back() {
    port_lost_and_back("eg4-7e-query", "eg4-7e");
}

/// A battery moves to another node number mid-log (re-cabled chain): its readings keep their
/// device id (the serial) and nothing is lost or made up.
#[test]
fn eflex_node_number_changes_mid_log() {
    let dir = TempDir::new("eflex-node");
    let truth = dir.path("truth.ndjson");
    let out = cmd("bms-sim")
        .args([
            "eflex",
            "-n",
            "2",
            "--cycles",
            "4",
            "--no-partial",
            "--truth",
        ])
        .arg(&truth)
        .assert()
        .success();
    let log = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4 * 2 * 18);
    // From round 3 on, node 2 answers as node 7.
    let mut moved = lines[..2 * 2 * 18].join("\n") + "\n";
    for l in &lines[2 * 2 * 18..] {
        moved += &l.replace(" 102#", " 107#").replace(" 602#", " 607#");
        moved.push('\n');
    }
    assert!(moved.contains(" 607#"));
    let out = cmd("eflex-candump-decode")
        .write_stdin(moved.clone())
        .assert()
        .success();
    let got = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(got, std::fs::read_to_string(&truth).unwrap());
    let devices: std::collections::BTreeSet<String> = records(got.as_bytes())
        .iter()
        .map(|r| r["device"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(devices.len(), 2, "{devices:?}");
    // With --every, the moved battery is still one device: its first reading, then its
    // newest at the end of the log, as for the battery that stayed.
    let out = cmd("eflex-candump-decode")
        .args(["--every", "1h"])
        .write_stdin(moved)
        .assert()
        .success();
    let mut per_device = std::collections::BTreeMap::new();
    for r in records(&out.get_output().stdout) {
        *per_device.entry(r["device"].to_string()).or_insert(0) += 1;
    }
    assert_eq!(
        per_device.values().collect::<Vec<_>>(),
        [&2, &2],
        "{per_device:?}"
    );
}

/// A server that takes the TCP connection and never answers CONNECT: readings-to-mqtt gives
/// up after --connect-timeout with exit 75 and says what to check.
#[test]
fn broker_that_never_answers_connect() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s); // accepted, never read from or written to
        }
    });
    let reading = r#"{"type":"reading","ts":"2024-05-17T23:05:39.061Z","source":"lp4","device":"p1","fields":{"soc":50}}"#;
    let started = Instant::now();
    cmd("readings-to-mqtt")
        .args(["-p", &port.to_string(), "--connect-timeout", "2s"])
        .write_stdin(format!("{reading}\n"))
        .assert()
        .code(75)
        .stderr(predicates::str::contains("no connection within 2 s"))
        .stderr(predicates::str::contains("check --host and --port"));
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Reads a child's whole stdout after leaving it unread for `stall`: the writer is blocked on
/// a full pipe meanwhile.
fn read_after_stall(child: &mut Child, stall: Duration) -> Vec<u8> {
    std::thread::sleep(stall);
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    out
}

/// stdout blocked for a while (a slow consumer): nothing is lost or reordered, for a filter
/// (eflex-candump-decode on a log far larger than a pipe buffer) and for a live poller.
#[test]
fn blocked_stdout_loses_nothing() {
    let log = cmd("bms-sim")
        .args(["eflex", "-n", "14", "--cycles", "300", "--no-partial"])
        .output()
        .unwrap()
        .stdout;
    let want = cmd("eflex-candump-decode")
        .write_stdin(log.clone())
        .output()
        .unwrap()
        .stdout;
    assert_eq!(records(&want).len(), 14 * 300);
    let dir = TempDir::new("stall");
    let file = dir.path("big.log");
    std::fs::write(&file, &log).unwrap();
    let mut child = Guard::spawn(
        std_cmd("eflex-candump-decode")
            .arg(&file)
            .stdout(Stdio::piped()),
    );
    let got = read_after_stall(&mut child, Duration::from_secs(2));
    assert!(child.wait().unwrap().success());
    assert_eq!(got, want, "output changed by a stalled consumer");

    let sim = Sim::lp4(&["--address", "1,2"]);
    let mut child = Guard::spawn(
        std_cmd("lp4-poll")
            .args(["-a", "1,2", "-i", "20ms", "-n", "60", &sim.path])
            .stdout(Stdio::piped()),
    );
    let got = read_after_stall(&mut child, Duration::from_secs(2));
    assert!(child.wait().unwrap().success());
    let recs = records(&got);
    assert_eq!(recs.len(), 120);
    for addr in ["01", "02"] {
        let ts: Vec<&str> = recs
            .iter()
            .filter(|r| r["device"].as_str().unwrap().ends_with(addr))
            .map(|r| r["ts"].as_str().unwrap())
            .collect();
        assert_eq!(ts.len(), 60);
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "reordered: {ts:?}");
    }
}

/// Peak resident memory of a running process, KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Feeds `chunks` to a filter's stdin while it runs, waits for `until` in its output, and
/// returns (stdout so far, stderr, peak RSS in KiB, exit code).
fn feed_hostile(
    tool: &str,
    args: &[&str],
    chunks: &[Vec<u8>],
    until: &str,
) -> (String, String, u64, i32) {
    let mut child = Guard::spawn(
        std_cmd(tool)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut stdin = child.stdin.take().unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    for c in chunks {
        stdin.write_all(c).unwrap();
    }
    stdin.flush().unwrap();
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !out.contains(until) {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("{tool}: no {until:?} in the output: {out}"));
        out += &line;
        out.push('\n');
    }
    let rss = peak_rss_kib(child.id());
    drop(stdin);
    let code = child.wait().unwrap().code().unwrap_or(-1);
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        out += &line;
        out.push('\n');
    }
    (out, err_thread.join().unwrap(), rss, code)
}

const HUNDRED_MB: usize = 100 * 1024 * 1024;

/// A 100 MB line, invalid UTF-8, NUL bytes and JSON nested far
/// beyond any parser's limit, each followed by a good record that must still come through,
/// in bounded memory.
#[test]
fn hostile_input_to_readings_to_mqtt() {
    let good = |dev: &str| {
        format!(
            r#"{{"type":"reading","ts":"2024-05-17T23:05:39.061Z","source":"lp4","device":"{dev}","fields":{{"soc":50}}}}"#
        )
        .into_bytes()
    };
    let mut chunks = vec![good("first"), b"\n".to_vec()];
    chunks.push(vec![b'{'; HUNDRED_MB]);
    chunks.push(b"\n\xff\xfe{\"type\":\"reading\"}\n".to_vec());
    chunks.push(b"{\"type\":\"reading\",\"device\":\"a\0b\"}\0\n".to_vec());
    chunks.push(b"\0\0\0\n".to_vec());
    let mut nested = "[".repeat(100_000);
    nested += &"]".repeat(100_000);
    chunks.push(format!("{{\"type\":\"reading\",\"x\":{nested}}}\n").into_bytes());
    chunks.push(good("last"));
    chunks.push(b"\n".to_vec());
    let (out, err, rss, code) = feed_hostile(
        "readings-to-mqtt",
        &["--print-discovery", "--no-discovery"],
        &chunks,
        "bmstap/last/state",
    );
    assert!(out.contains("bmstap/first/state"), "{out}");
    assert_eq!(code, 1, "bad lines make exit 1 (partial)");
    for want in [
        "stdin:2: line too long",
        "stdin:3: invalid UTF-8 at byte 0",
        "stdin:4: ",
        "stdin:5: not JSON",
        "stdin:6: not JSON: recursion limit exceeded",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB for a 100 MB line");
}

#[test]
fn hostile_input_to_eflex_candump_decode() {
    // One whole battery group, to follow every bad line.
    let group = cmd("bms-sim")
        .args(["eflex", "-n", "1", "--cycles", "1", "--no-partial"])
        .output()
        .unwrap()
        .stdout;
    let mut chunks = vec![vec![b'('; HUNDRED_MB], b"\n".to_vec()];
    chunks.push(b"(1715987139.061290) can0 102#01\xff\xfe0E0213FFFD45\n".to_vec());
    chunks.push(b"(1715987139.061290) can0\0 102#01020E0213FFFD45\n\0\0\0\n".to_vec());
    chunks.push(group);
    let (out, err, rss, code) = feed_hostile("eflex-candump-decode", &[], &chunks, "reading");
    assert_eq!(records(out.as_bytes()).len(), 1, "{out}");
    assert_eq!(code, 1, "bad lines make exit 1 (partial)");
    for want in ["stdin:1:", "stdin:2:", "stdin:3:", "stdin:4:"] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains("too long"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(rss < 32 * 1024, "peak RSS {rss} KiB for a 100 MB line");
}

/// rtu-sniff on 100 MB of line noise with one real request/response pair in it: found and
/// paired, in bounded memory (the framer never holds more than one frame's worth).
#[test]
fn hostile_input_to_rtu_sniff() {
    use bmstap::proto::modbus::{encode_read_reply, ReadRequest};
    let mut noise = Vec::with_capacity(HUNDRED_MB + 1024);
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    while noise.len() < HUNDRED_MB {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    let mut pair = ReadRequest::holding(0x2B, 7, 1).encode();
    pair.extend(encode_read_reply(0x2B, 3, &[4242]));
    // Bytes after the pair, so it is decided before the input ends.
    let tail = vec![0u8; 1024];
    let (out, err, rss, _) = feed_hostile(
        "rtu-sniff",
        &["--input", "-", "--address", "43", "--function", "3"],
        &[noise, pair, tail],
        "[4242]",
    );
    assert!(
        out.contains(r#""start":7,"count":1,"registers":[4242]"#),
        "{out}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(rss < 32 * 1024, "peak RSS {rss} KiB");
}
