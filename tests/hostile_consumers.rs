//! readings-bank and the shared file and line machinery against hostile input and shared
//! directories (issue 19; docs/reliability.md): symlinks planted where a tool writes, clocks
//! that jump, garbage on stdin, more devices than memory should hold.

use crate::common::{cmd, Sim, TempDir};
use std::os::unix::fs::symlink;

/// A symlink planted at the old fixed temporary name, at the lock, or at `--capture`: the
/// target is never written through.
#[test]
fn no_tool_writes_through_a_planted_symlink() {
    let dir = TempDir::new("hostile-symlink");
    let victim = dir.path("victim");
    std::fs::write(&victim, "precious").unwrap();
    let state = dir.path("bank.json");
    let reading = "{\"type\":\"reading\",\"ts\":\"2026-11-21T14:03:07.512Z\",\"source\":\"lp4\",\
                   \"device\":\"a\",\"fields\":{\"pack_voltage\":50.0,\"pack_current\":1.0}}\n";
    symlink(&victim, dir.path("bank.json.tmp")).unwrap();
    cmd("readings-bank")
        .arg("--state")
        .arg(&state)
        .write_stdin(reading)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(std::fs::read_to_string(&state).unwrap().contains("\"a\""));
    let left: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != "bank.json.tmp")
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");

    let other = dir.path("other.json");
    symlink(&victim, dir.path("other.json.lock")).unwrap();
    cmd("readings-bank")
        .arg("--state")
        .arg(&other)
        .write_stdin(reading)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("symbolic link"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    let sim = Sim::lp4(&[]);
    let capture = dir.path("capture.bin");
    symlink(&victim, &capture).unwrap();
    cmd("lp4-poll")
        .args(["--once", "--capture"])
        .arg(&capture)
        .arg(&sim.path)
        .assert()
        .failure()
        .stderr(predicates::str::contains("symbolic link"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

/// One reading at the wall clock's `now + ms`, 10 A at 50 V.
fn live_reading(ms: i64, dev: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ts = bmstap::time::Timestamp {
        unix_ms: now - 3_600_000 + ms,
    };
    format!(
        "{{\"type\":\"reading\",\"ts\":\"{ts}\",\"source\":\"lp4\",\"device\":\"{dev}\",\
         \"fields\":{{\"pack_voltage\":50.0,\"pack_current\":10.0}}}}\n"
    )
}

fn charged_uj(state: &std::path::Path, dev: &str) -> (u64, Option<i64>) {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    let d = &v["devices"][dev];
    (d["charged_uj"].as_u64().unwrap(), d["last"][0].as_i64())
}

/// Issue 19 item 5: a reading stamped 2099 freezes nothing and is not saved; a state file
/// poisoned by an older version recovers on the next start.
#[test]
fn a_reading_from_the_future_freezes_nothing_and_a_poisoned_state_recovers() {
    let dir = TempDir::new("hostile-future");
    let state = dir.path("bank.json");
    let future = "{\"type\":\"reading\",\"ts\":\"2099-01-01T00:00:00Z\",\"source\":\"lp4\",\
                  \"device\":\"a\",\"fields\":{\"pack_voltage\":50.0,\"pack_current\":10.0}}\n";
    let input = format!(
        "{}{future}{}{}",
        live_reading(0, "a"),
        live_reading(10_000, "a"),
        live_reading(20_000, "a")
    );
    let out = cmd("readings-bank")
        .arg("--state")
        .arg(&state)
        .write_stdin(input)
        .assert()
        .success()
        .stderr(predicates::str::contains("ahead of this machine's clock"))
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("2099-01-01"), "passed through: {text}");
    let (uj, last) = charged_uj(&state, "a");
    assert_eq!(uj, 10_000_000_000, "20 s at 500 W");
    assert!(last.unwrap() < 4_000_000_000_000, "2099 not saved");

    // A state file as an older readings-bank left it: `last` in 2099.
    let poisoned = std::fs::read_to_string(&state)
        .unwrap()
        .replace(&format!("[{},", last.unwrap()), "[4070908800000,");
    assert!(poisoned.contains("4070908800000"));
    std::fs::write(&state, poisoned).unwrap();
    cmd("readings-bank")
        .arg("--state")
        .arg(&state)
        .write_stdin(format!(
            "{}{}",
            live_reading(60_000, "a"),
            live_reading(70_000, "a")
        ))
        .assert()
        .success()
        .stderr(predicates::str::contains("stamped in the future"));
    let (uj2, last2) = charged_uj(&state, "a");
    assert_eq!(uj2, uj + 5_000_000_000, "integrating again");
    assert!(last2.unwrap() < 4_000_000_000_000);
}

/// Issue 19 item 12: a file of garbage into any NDJSON consumer gives a few warnings and a
/// count, not one warning per line; the exit status says lines were skipped.
#[test]
fn garbage_into_any_consumer_logs_a_few_lines_then_a_count() {
    let dir = TempDir::new("hostile-garbage");
    let mut junk = Vec::new();
    for k in 0..500u32 {
        junk.extend_from_slice(&[0x7f, b'E', b'L', b'F', 0x02, 0xff, 0xfe]);
        junk.extend_from_slice(format!("{{not json {k}").as_bytes());
        junk.push(b'\n');
    }
    let prom = dir.path("x.prom");
    let consumers: [(&str, Vec<std::ffi::OsString>); 4] = [
        ("readings-bank", vec![]),
        ("readings-to-influx", vec![]),
        (
            "readings-exporter",
            vec!["--textfile".into(), prom.clone().into()],
        ),
        ("readings-to-mqtt", vec!["--print-discovery".into()]),
    ];
    for (tool, args) in consumers {
        let mut c = match tool {
            "readings-to-influx" => {
                assert_cmd::Command::new(env!("CARGO_BIN_EXE_readings-to-influx"))
            }
            "readings-exporter" => {
                assert_cmd::Command::new(env!("CARGO_BIN_EXE_readings-exporter"))
            }
            _ => cmd(tool),
        };
        let out = c
            .env_remove("RUST_LOG")
            .args(args)
            .write_stdin(junk.clone())
            .assert()
            .code(1)
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.lines().count() <= 8, "{tool}: {err}");
        assert!(
            err.contains("stdin:1: "),
            "{tool}: the first is named: {err}"
        );
        assert!(err.contains("500 input line(s) skipped"), "{tool}: {err}");
    }
}

/// Issue 19: an 8-digit id with bit 29 set (`20000351#..`, CAN_ERR_FLAG) is an error frame,
/// reported with its line and counted, never decoded as 0x351.
#[test]
fn an_id_with_bit_29_set_is_reported_not_decoded() {
    let dir = TempDir::new("hostile-canerr");
    let log = dir.path("e.log");
    std::fs::write(
        &log,
        "(1700000000.000000) can0 20000351#0102030405060708\n\
         (1700000000.100000) can0 20000351#00\n",
    )
    .unwrap();
    for tool in ["pylon-candump-decode", "eflex-candump-decode"] {
        cmd(tool)
            .arg(&log)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicates::str::contains("e.log:1: 20000351: bit 29"))
            .stderr(predicates::str::contains("2 line(s) skipped"));
    }
}
