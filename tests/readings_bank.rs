//! readings-bank: the energy counters worked out by hand, restarts, the state file, and
//! every record passing through in order.

use crate::common::{cmd, records, std_cmd, Guard, TempDir};
use bmstap::time::Timestamp;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

const T0: i64 = 1_790_000_000_000;

/// One pack reading at `T0 + ms`.
fn reading(ms: i64, dev: &str, v: f64, i: f64) -> String {
    let ts = Timestamp { unix_ms: T0 + ms };
    format!(
        r#"{{"type":"reading","ts":"{ts}","source":"lp4","device":"{dev}","fields":{{"pack_voltage":{v:?},"pack_current":{i:?},"soc":50,"remaining_ah":50,"capacity_ah":100}}}}"#
    )
}

/// An hour of 10 A at 50.0 V, 10 s apart (361 readings: 360 intervals).
fn hour() -> Vec<String> {
    (0..=360)
        .map(|k| reading(k * 10_000, "a", 50.0, 10.0))
        .collect()
}

fn input(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

fn counters(v: &serde_json::Value) -> (f64, f64) {
    (
        v["fields"]["energy_charged_kwh"].as_f64().expect("charged"),
        v["fields"]["energy_discharged_kwh"]
            .as_f64()
            .expect("discharged"),
    )
}

fn last_counters(stdout: &[u8]) -> (f64, f64) {
    counters(records(stdout).last().expect("a record"))
}

fn saved(path: &std::path::Path, dev: &str) -> (u64, u64) {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let d = &v["devices"][dev];
    (
        d["charged_uj"].as_u64().unwrap(),
        d["discharged_uj"].as_u64().unwrap(),
    )
}

#[test]
fn an_hour_at_ten_amps_and_fifty_volts_is_half_a_kwh() {
    let out = cmd("readings-bank")
        .arg("--no-bank")
        .write_stdin(input(&hour()))
        .assert()
        .success()
        .stderr("");
    let recs = records(&out.get_output().stdout);
    assert_eq!(recs.len(), 361);
    assert_eq!(recs[0]["fields"]["power"], 500.0);
    assert_eq!(counters(&recs[0]), (0.0, 0.0));
    assert_eq!(counters(&recs[180]), (0.25, 0.0));
    assert_eq!(counters(&recs[360]), (0.5, 0.0));
    // 50 Ah to go at 10 A.
    assert_eq!(recs[360]["fields"]["time_to_full"], 18000);
}

#[test]
fn a_sign_change_splits_and_a_gap_adds_nothing() {
    // +360 W to −1080 W over 40 s crosses zero at 10 s: 1800 J charged, 16200 J discharged
    // (0.0005 and 0.0045 kWh); then 10 minutes of silence (more than --max-gap 5m).
    let lines = vec![
        reading(0, "a", 36.0, 10.0),
        reading(40_000, "a", 36.0, -30.0),
        reading(640_000, "a", 36.0, -30.0),
        reading(650_000, "a", 36.0, -30.0),
    ];
    let out = cmd("readings-bank")
        .args(["--no-bank", "--max-gap", "5m", "-v"])
        .write_stdin(input(&lines))
        .assert()
        .success();
    let recs = records(&out.get_output().stdout);
    assert_eq!(counters(&recs[1]), (0.0005, 0.0045));
    assert_eq!(
        counters(&recs[2]),
        (0.0005, 0.0045),
        "the gap is not bridged"
    );
    // 10 s at 1080 W = 10800 J = 0.003 kWh.
    assert_eq!(counters(&recs[3]), (0.0005, 0.0075));
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        err.contains("stdin:3: a: 600 s since its previous reading"),
        "{err}"
    );
}

#[test]
fn two_halves_with_a_restart_equal_one_run() {
    let dir = TempDir::new("bank-halves");
    let state = dir.path("bank.json");
    let all = hour();
    let (first, second) = all.split_at(200);
    for half in [first, second] {
        cmd("readings-bank")
            .arg("--state")
            .arg(&state)
            .write_stdin(input(half))
            .assert()
            .success();
    }
    assert_eq!(saved(&state, "a"), (1_800_000_000_000, 0));
    let out = cmd("readings-bank")
        .args(["--no-bank", "--state"])
        .arg(dir.path("other.json"))
        .write_stdin(input(second))
        .assert()
        .success();
    // Without the first half's state, the second half alone is less.
    assert!(last_counters(&out.get_output().stdout).0 < 0.5);
}

#[test]
fn after_kill_9_the_counters_go_on_from_the_last_save_never_below() {
    let dir = TempDir::new("bank-kill");
    let state = dir.path("bank.json");
    let all = hour();
    let mut g = Guard::spawn(
        std_cmd("readings-bank")
            .args(["--no-bank", "--save-every", "0s", "--state"])
            .arg(&state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdin = g.stdin.take().unwrap();
    let mut out = BufReader::new(g.stdout.take().unwrap());
    let mut seen = (0.0, 0.0);
    for l in &all[..100] {
        writeln!(stdin, "{l}").unwrap();
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        seen = counters(&serde_json::from_str(&line).unwrap());
    }
    // With --save-every 0 the state is saved before each record is handed on, so it holds
    // at least what was seen.
    let (c, _) = saved(&state, "a");
    assert_eq!(c, 495_000_000_000, "99 intervals of 5000 J");
    assert_eq!(seen.0, 0.1375);
    g.kill().unwrap();
    g.wait().unwrap();
    let out = cmd("readings-bank")
        .args(["--no-bank", "--state"])
        .arg(&state)
        .write_stdin(input(&all[100..]))
        .assert()
        .success();
    let recs = records(&out.get_output().stdout);
    assert!(counters(&recs[0]).0 >= seen.0);
    assert_eq!(
        counters(&recs[0]).0,
        0.138889,
        "one more interval on the saved value"
    );
    assert_eq!(last_counters(&out.get_output().stdout), (0.5, 0.0));
}

#[test]
fn sigterm_saves_what_was_seen() {
    let dir = TempDir::new("bank-term");
    let state = dir.path("bank.json");
    let mut g = Guard::spawn(
        std_cmd("readings-bank")
            .args(["--no-bank", "--save-every", "1h", "--state"])
            .arg(&state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut stdin = g.stdin.take().unwrap();
    let mut out = BufReader::new(g.stdout.take().unwrap());
    for l in &hour()[..11] {
        writeln!(stdin, "{l}").unwrap();
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
    }
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(g.id() as libc::pid_t, libc::SIGTERM) };
    let status = g.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(saved(&state, "a"), (50_000_000_000, 0));
    drop(stdin);
}

#[test]
fn a_corrupt_state_file_is_set_aside() {
    let dir = TempDir::new("bank-corrupt");
    let state = dir.path("bank.json");
    std::fs::write(&state, "{\"version\":1,\"devices\":{\"a\":").unwrap();
    let out = cmd("readings-bank")
        .args(["--no-bank", "--state"])
        .arg(&state)
        .write_stdin(input(&hour()[..2]))
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        err.contains("cannot be parsed") && err.contains(".corrupt-"),
        "{err}"
    );
    assert_eq!(saved(&state, "a"), (5_000_000_000, 0));
    let aside = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("bank.json.corrupt-")
        })
        .count();
    assert_eq!(aside, 1);
}

#[test]
fn a_second_instance_on_the_same_file_exits_75() {
    let dir = TempDir::new("bank-lock");
    let state = dir.path("bank.json");
    let mut first = Guard::spawn(
        std_cmd("readings-bank")
            .arg("--state")
            .arg(&state)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    // The first instance holds the lock once it answers a record.
    let mut stdin = first.stdin.take().unwrap();
    writeln!(stdin, "{}", hour()[0]).unwrap();
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let out = cmd("readings-bank")
        .arg("--state")
        .arg(&state)
        .write_stdin("")
        .assert()
        .code(75);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("in use by another readings-bank"), "{err}");
    drop(stdin);
    assert_eq!(first.wait().unwrap().code(), Some(0));
}

#[test]
fn every_record_passes_through_in_order_and_bad_lines_are_named() {
    let lines = [
        r#"{"type":"frame","ts":"2026-11-21T14:03:07.000Z","kind":"request","address":1,"function":3,"hex":"010300000026c5e0"}"#.to_string(),
        reading(0, "a", 52.0, -2.0),
        "this is not json".to_string(),
        r#"{"type":"status","ts":"2026-11-21T14:03:08.000Z","source":"lp4","device":"b","error":"timeout after 1000 ms"}"#.to_string(),
        String::new(),
        r#"{"type":"reading","ts":"2026-11-21T14:03:09.000Z","source":"eflex","device":"c","fields":{"soc":80,"cell_voltages":[3.3,3.31]},"info":{"serial":"x"}}"#.to_string(),
        r#"{"type":"reading","ts":"not a time","source":"lp4","device":"a","fields":{}}"#.to_string(),
        reading(10_000, "a", 52.0, -2.0),
    ];
    let out = cmd("readings-bank")
        .arg("--no-bank")
        .write_stdin(input(&lines))
        .assert()
        .code(1);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let got: Vec<&str> = stdout.lines().collect();
    assert_eq!(got.len(), 5, "{stdout}");
    assert_eq!(got[0], lines[0]);
    assert_eq!(got[2], lines[3]);
    assert_eq!(got[3], lines[5], "no voltage and current: unchanged");
    // Readings keep every byte and gain the derived fields at the end of `fields`.
    let base = lines[1].strip_suffix("}}").unwrap();
    assert!(got[1].starts_with(base), "{}", got[1]);
    assert!(got[1].ends_with(r#","power":-104.0,"energy_charged_kwh":0.0,"energy_discharged_kwh":0.0,"time_to_empty":90000}}"#), "{}", got[1]);
    assert!(
        got[4].contains(r#""energy_discharged_kwh":0.000289"#),
        "{}",
        got[4]
    );
    records(stdout.as_bytes());
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("stdin:3: not JSON"), "{err}");
    assert!(err.contains("stdin:7: reading with a bad ts"), "{err}");
    assert!(err.contains("2 input line(s) skipped"), "{err}");
}

#[test]
fn a_backlog_fed_at_once_comes_out_whole_and_in_order() {
    // 4 devices × 25 000 readings written in one go: the filter blocks on its stdout while
    // the test reads, and not one record is lost or reordered.
    let mut lines = Vec::new();
    for k in 0..25_000i64 {
        for d in ["p1", "p2", "p3", "p4"] {
            lines.push(reading(
                k * 1000,
                d,
                53.0,
                if k % 100 < 50 { 20.0 } else { -20.0 },
            ));
        }
    }
    let out = cmd("readings-bank")
        .arg("--no-bank")
        .write_stdin(input(&lines))
        .assert()
        .success();
    let stdout = &out.get_output().stdout;
    let mut n = 0;
    let mut prev = 0.0;
    for (i, line) in stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let want = lines[i].strip_suffix("}}").unwrap();
        assert!(line.starts_with(want.as_bytes()), "record {i} out of order");
        if i % 4 == 0 {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            let (c, _) = counters(&v);
            assert!(c >= prev);
            prev = c;
        }
        n += 1;
    }
    assert_eq!(n, lines.len());
    // 12 500 s at +1060 W and as long at −1060 W, less the ramps at each sign change.
    assert!(prev > 3.6 && prev < 3.7, "{prev}");
}

#[test]
fn help_and_version() {
    cmd("readings-bank")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("Examples:"));
    cmd("readings-bank").arg("--version").assert().success();
    cmd("readings-bank")
        .arg("--max-gap")
        .arg("soon")
        .assert()
        .code(2);
}

/// Replaces a record's 24-character ts.
fn restamp(line: &str, ms: i64) -> String {
    let at = line.find("\"ts\":\"").expect("ts") + 6;
    let ts = Timestamp { unix_ms: T0 + ms };
    format!("{}{ts}{}", &line[..at], &line[at + 24..])
}

/// Four simulated LifePower4 packs polled for 8 cycles; the readings are restamped 10 s
/// apart per cycle (so staleness does not depend on this machine's speed) and pack p3's are
/// left out in cycles 2 to 6: it goes offline three intervals after its last reading and
/// comes back in cycle 7.
#[test]
fn four_simulated_packs_one_silent_and_back() {
    let sim = crate::common::Sim::lp4(&["--address", "1-4"]);
    let poll = cmd("lp4-poll")
        .args(["-a", "1-4", "--count", "8", "--interval", "0"])
        .args([
            "--name", "p1", "--name", "p2", "--name", "p3", "--name", "p4",
        ])
        .arg(&sim.path)
        .assert()
        .success();
    let text = String::from_utf8(poll.get_output().stdout.clone()).unwrap();
    let polled: Vec<&str> = text.lines().collect();
    assert_eq!(polled.len(), 32);
    let mut fed = Vec::new();
    for (k, line) in polled.iter().enumerate() {
        let (cycle, pack) = (k / 4, k % 4);
        assert!(line.contains(&format!("\"device\":\"p{}\"", pack + 1)));
        if pack == 2 && (2..7).contains(&cycle) {
            continue;
        }
        fed.push(restamp(line, cycle as i64 * 10_000 + pack as i64 * 100));
    }
    let out = cmd("readings-bank")
        .write_stdin(input(&fed))
        .assert()
        .success();
    let recs = records(&out.get_output().stdout);
    let bank: Vec<&serde_json::Value> = recs.iter().filter(|r| r["source"] == "bank").collect();
    let packs: Vec<&serde_json::Value> = recs.iter().filter(|r| r["source"] == "lp4").collect();
    assert_eq!(packs.len(), fed.len(), "every pack reading passes through");
    let online: Vec<i64> = bank
        .iter()
        .map(|r| r["fields"]["packs_online"].as_i64().unwrap())
        .collect();
    assert_eq!(online, [4, 4, 4, 4, 3, 3, 3, 4]);
    for b in &bank {
        assert_eq!(b["device"], "bank");
        assert_eq!(b["fields"]["packs_total"], 4);
        assert!(b["fields"]["energy_charged_kwh"].is_number());
    }
    // The full cycle 1, written when p4 reported in it: SOC weighted by capacity, sums,
    // and the bank's weakest cell with the pack that holds it.
    let cycle1: Vec<&serde_json::Value> = packs[4..8].to_vec();
    let b = bank[1];
    assert_eq!(b["ts"], cycle1[3]["ts"]);
    let f = |r: &serde_json::Value, k: &str| r["fields"][k].as_f64().unwrap();
    let cap: f64 = cycle1.iter().map(|r| f(r, "capacity_ah")).sum();
    let soc = cycle1
        .iter()
        .map(|r| f(r, "soc") * f(r, "capacity_ah"))
        .sum::<f64>()
        / cap;
    assert_eq!(f(b, "soc"), (soc * 10.0).round() / 10.0);
    assert_eq!(f(b, "capacity_ah"), cap);
    let current: f64 = cycle1.iter().map(|r| f(r, "pack_current")).sum();
    assert!((f(b, "pack_current") - current).abs() < 0.006);
    let power: f64 = cycle1.iter().map(|r| f(r, "power")).sum();
    assert!((f(b, "power") - power).abs() < 0.03);
    let weakest = cycle1
        .iter()
        .min_by(|a, b| f(a, "cell_voltage_min").total_cmp(&f(b, "cell_voltage_min")))
        .unwrap();
    assert_eq!(f(b, "cell_voltage_min"), f(weakest, "cell_voltage_min"));
    assert_eq!(b["fields"]["cell_lowest_device"], weakest["device"]);
    assert_eq!(b["fields"]["cell_lowest"], weakest["fields"]["cell_lowest"]);
    // With p3 offline its values leave the sums.
    let b = bank[4];
    let three: Vec<&serde_json::Value> = packs
        .iter()
        .copied()
        .filter(|r| r["ts"].as_str() <= b["ts"].as_str())
        .rev()
        .take(3)
        .collect();
    assert!(three.iter().all(|r| r["device"] != "p3"));
    assert_eq!(
        f(b, "capacity_ah"),
        three.iter().map(|r| f(r, "capacity_ah")).sum::<f64>()
    );
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        err.contains("bank bank: pack p3 offline (no reading for 30 s)"),
        "{err}"
    );
}

#[test]
fn banks_by_name_and_usage_errors() {
    let lines = vec![
        reading(0, "a", 50.0, 1.0),
        reading(100, "b", 50.0, 1.0),
        reading(200, "c", 50.0, 1.0),
        reading(10_000, "a", 50.0, 1.0),
        reading(10_100, "b", 50.0, 1.0),
        reading(10_200, "c", 50.0, 1.0),
    ];
    let out = cmd("readings-bank")
        .args(["--bank", "left=a,b", "--bank", "right=c"])
        .write_stdin(input(&lines))
        .assert()
        .success();
    let recs = records(&out.get_output().stdout);
    let banks: Vec<(String, i64)> = recs
        .iter()
        .filter(|r| r["source"] == "bank")
        .map(|r| {
            (
                r["device"].as_str().unwrap().to_string(),
                r["fields"]["packs_total"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        banks,
        [
            ("left".to_string(), 2),
            ("right".to_string(), 1),
            ("left".to_string(), 2),
            ("right".to_string(), 1)
        ]
    );
    cmd("readings-bank")
        .args(["--bank", "Left=a"])
        .assert()
        .code(2);
    cmd("readings-bank").args(["--bank", "x="]).assert().code(2);
    cmd("readings-bank")
        .args(["--name", "My Bank"])
        .write_stdin("")
        .assert()
        .code(2);
    cmd("readings-bank")
        .args(["--bank", "x=a", "--bank", "x=b"])
        .write_stdin("")
        .assert()
        .code(2);
}

/// A listed member that never appears (a typo, or a pack the poller names otherwise): one
/// warning naming the ids that were seen, after two cycles, and exit 1 at the end.
#[test]
fn a_listed_member_that_never_appears_is_named_once() {
    let mut lines = Vec::new();
    for c in 0..4 {
        lines.push(reading(c * 10_000, "ttyusb0-1", 50.0, 1.0));
        lines.push(reading(c * 10_000 + 100, "ttyusb0-2", 50.0, 1.0));
    }
    let out = cmd("readings-bank")
        .args(["--bank", "top=ttyusb0-1,ttyusb0_2"])
        .write_stdin(input(&lines))
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert_eq!(
        err.matches(
            "--bank top: no reading of member 'ttyusb0_2' yet; devices seen: ttyusb0-1, ttyusb0-2"
        )
        .count(),
        1,
        "{err}"
    );
    assert!(err.contains("never seen: top: ttyusb0_2"), "{err}");
    assert!(!err.contains("'ttyusb0-1'"), "{err}");
    // Every member there: silent, exit 0.
    cmd("readings-bank")
        .args(["--bank", "top=ttyusb0-1,ttyusb0-2"])
        .write_stdin(input(&lines))
        .assert()
        .success()
        .stderr("");
}

/// bms-sim's charge/discharge profile: over two swings the counters of every battery and
/// of the bank move both ways, and never down.
#[test]
fn simulated_profile_moves_both_counters() {
    let log = cmd("bms-sim")
        .args([
            "eflex",
            "--batteries",
            "2",
            "--cycles",
            "240",
            "--no-partial",
        ])
        .assert()
        .success();
    let decoded = cmd("eflex-candump-decode")
        .write_stdin(log.get_output().stdout.clone())
        .assert()
        .success();
    let out = cmd("readings-bank")
        .write_stdin(decoded.get_output().stdout.clone())
        .assert()
        .success()
        .stderr("");
    let mut last: std::collections::BTreeMap<String, (f64, f64)> = Default::default();
    for r in records(&out.get_output().stdout) {
        let c = counters(&r);
        let prev = last.insert(r["device"].as_str().unwrap().to_string(), c);
        if let Some(p) = prev {
            assert!(c.0 >= p.0 && c.1 >= p.1, "{p:?} -> {c:?}");
        }
    }
    assert_eq!(last.len(), 3, "two batteries and the bank: {last:?}");
    for (dev, (c, d)) in &last {
        assert!(*c > 0.0 && *d > 0.0, "{dev}: {c} {d}");
    }
}
