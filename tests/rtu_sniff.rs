//! rtu-sniff: golden capture, decoding lp4-poll's own capture, live over a pseudo-terminal.

use crate::common::{cmd, lines_of, readings, records, std_cmd, Guard, Sim, TempDir};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

const GOLDEN: &str = include_str!("../testdata/rtu/mixed.ndjson");

fn mixed_capture(dir: &TempDir) -> std::path::PathBuf {
    let bytes = bmstap::hexfmt::parse(include_str!("../testdata/rtu/mixed.hex")).unwrap();
    let path = dir.path("mixed.bin");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn golden_capture() {
    let dir = TempDir::new("rtu-golden");
    let cap = mixed_capture(&dir);
    let out = cmd("rtu-sniff").arg("--input").arg(&cap).assert().success();
    let out = out.get_output();
    let text = String::from_utf8_lossy(&out.stdout);
    let (frames, status) = text.rsplit_once("{\"type\":\"status\"").unwrap();
    assert_eq!(frames, GOLDEN);
    let status: serde_json::Value =
        serde_json::from_str(&format!("{{\"type\":\"status\"{status}")).unwrap();
    let s = &status["stats"];
    assert_eq!(s["frames"], 11);
    assert_eq!(s["crc_failures"], 1, "the damaged reply");
    assert_eq!(s["unanswered"], 3);
    assert_eq!(s["bytes_skipped"], 86);
    assert_eq!(status["device"], "mixed");
    assert!(status.get("error").is_none());
    records(&out.stdout);
    // The same from standard input.
    let bytes = std::fs::read(&cap).unwrap();
    let out = cmd("rtu-sniff")
        .args(["--input", "-"])
        .write_stdin(bytes)
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).starts_with(GOLDEN));
}

#[test]
fn filters_and_decoding() {
    let dir = TempDir::new("rtu-filters");
    let cap = mixed_capture(&dir);
    let out = cmd("rtu-sniff")
        .arg("-I")
        .arg(&cap)
        .args(["--address", "1"])
        .assert()
        .success();
    let frames: Vec<_> = records(&out.get_output().stdout)
        .into_iter()
        .filter(|r| r["type"] == "frame")
        .collect();
    assert_eq!(frames.len(), 6);
    assert!(frames.iter().all(|f| f["address"] == 1));
    let out = cmd("rtu-sniff")
        .arg("-I")
        .arg(&cap)
        .args(["--function", "3"])
        .assert()
        .success();
    let frames: Vec<_> = records(&out.get_output().stdout)
        .into_iter()
        .filter(|r| r["type"] == "frame")
        .collect();
    assert_eq!(
        frames.len(),
        7,
        "five fn 3 requests, a response, an exception"
    );
    // --decode lp4: the one complete status response becomes the §1.5 reading.
    let out = cmd("rtu-sniff")
        .arg("-I")
        .arg(&cap)
        .args(["--decode", "lp4", "--name", "2=rack"])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["device"], "rack");
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("../testdata/lp4/wombatt-status.ndjson")).unwrap();
    assert_eq!(r[0]["fields"], golden["fields"]);
    assert_eq!(r[0]["raw"]["offset"], 19);
    let out = cmd("rtu-sniff")
        .arg("-I")
        .arg(&cap)
        .args(["--decode", "lp4"])
        .assert()
        .success();
    assert_eq!(readings(&out.get_output().stdout)[0]["device"], "mixed-2");
}

/// lp4-poll --capture, decoded offline, gives the readings lp4-poll printed.
#[test]
fn decodes_what_lp4_poll_captured() {
    let dir = TempDir::new("rtu-poll");
    let cap = dir.path("poll.bin");
    let sim = Sim::lp4(&["--address", "1,2,3"]);
    let out = cmd("lp4-poll")
        .args([
            "--count",
            "3",
            "--interval",
            "20ms",
            "--gap",
            "5ms",
            "-a",
            "1-3",
            "--capture",
            cap.to_str().unwrap(),
            &sim.path,
        ])
        .assert()
        .success();
    let polled = readings(&out.get_output().stdout);
    assert_eq!(polled.len(), 9);
    let out = cmd("rtu-sniff")
        .arg("--input")
        .arg(&cap)
        .args(["--decode", "lp4"])
        .assert()
        .success();
    let sniffed = readings(&out.get_output().stdout);
    assert_eq!(sniffed.len(), polled.len());
    for (p, s) in polled.iter().zip(&sniffed) {
        assert_eq!(p["device"], s["device"]);
        assert_eq!(p["fields"], s["fields"]);
        assert_eq!(p["info"], s["info"]);
        assert_eq!(p["raw"]["registers"], s["raw"]["registers"]);
    }
}

/// Live: a capture replayed into a pseudo-terminal, heard by rtu-sniff, saved with --save.
#[test]
fn live_over_a_pseudo_terminal() {
    let dir = TempDir::new("rtu-live");
    let cap = mixed_capture(&dir);
    let saved = dir.path("saved.bin");
    let mut replay = Guard::spawn(
        std_cmd("bms-sim")
            .args(["replay", "--wire-baud", "115200"])
            .arg(&cap)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut path = String::new();
    BufReader::new(replay.stdout.take().unwrap())
        .read_line(&mut path)
        .unwrap();
    let mut sniff = Guard::spawn(
        std_cmd("rtu-sniff")
            .args([
                "-v",
                "--baud",
                "115200",
                "--save",
                saved.to_str().unwrap(),
                path.trim(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    // Wait until it listens, then let the bytes flow.
    let mut err = BufReader::new(sniff.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "rtu-sniff ended early"
        );
    }
    let mut stdin = replay.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    let lines = lines_of(sniff.stdout.take().unwrap());
    let golden: Vec<serde_json::Value> = GOLDEN
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for want in &golden {
        let got = crate::common::check_record(
            &lines
                .recv_timeout(Duration::from_secs(30))
                .expect("a frame"),
        );
        assert!(
            got.get("offset").is_none() && got["ts"].is_string(),
            "{got}"
        );
        for key in [
            "kind",
            "address",
            "function",
            "hex",
            "start",
            "count",
            "registers",
        ] {
            assert_eq!(got.get(key), want.get(key), "{key} of {got}");
        }
    }
    // SIGTERM ends it as documented: the final counters as a status record, exit 0.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(sniff.id() as libc::pid_t, libc::SIGTERM) };
    let last = crate::common::check_record(
        &lines
            .recv_timeout(Duration::from_secs(10))
            .expect("the final status record"),
    );
    assert_eq!(last["type"], "status", "{last}");
    assert_eq!(last["stats"]["frames"], golden.len(), "{last}");
    assert_eq!(sniff.wait().unwrap().code(), Some(0));
    drop(stdin);
    let _ = replay.kill();
    let _ = replay.wait();
    assert_eq!(std::fs::read(&saved).unwrap(), std::fs::read(&cap).unwrap());
}

#[test]
fn exit_codes_help_version() {
    cmd("rtu-sniff")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("-I FILE"));
    cmd("rtu-sniff")
        .args(["/dev/ttyNOPE5"])
        .assert()
        .code(75)
        .stderr(predicates::str::contains("no such port"));
    cmd("rtu-sniff")
        .args(["--input", "/nonexistent.bin"])
        .assert()
        .code(2);
    cmd("rtu-sniff")
        .args(["--input", "-", "--name", "1=Rack"])
        .assert()
        .code(2);
    cmd("rtu-sniff")
        .args(["--input", "-", "--decode", "modbus"])
        .assert()
        .code(2);
    cmd("rtu-sniff")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("Examples:"));
    cmd("rtu-sniff").arg("--version").assert().success();
}

/// Ctrl-C on a quiet line: the final status record (all counters zero), exit 0.
#[test]
fn ctrl_c_writes_the_final_counters() {
    let sim = Sim::lp4(&["--address", "1"]);
    let mut sniff = Guard::spawn(
        std_cmd("rtu-sniff")
            .args(["-v", &sim.path])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut err = BufReader::new(sniff.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "rtu-sniff ended early"
        );
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(sniff.id() as libc::pid_t, libc::SIGINT) };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut sniff.stdout.take().unwrap(), &mut out).unwrap();
    assert_eq!(sniff.wait().unwrap().code(), Some(0));
    let records: Vec<serde_json::Value> = out.lines().map(crate::common::check_record).collect();
    assert_eq!(records.len(), 1, "{out}");
    assert_eq!(records[0]["type"], "status");
    assert_eq!(records[0]["stats"]["bytes"], 0);
}
