//! pylon-candump-decode on the real frames of protocols.md §9.4, every candump flavour, junk,
//! a log starting mid-telegram, DLC variants, clocks without an absolute time, and the
//! simulator.

use crate::common::{bin_path, cmd, readings, TempDir};

const GOLDEN_LOG: &str = include_str!("../testdata/pylon/setfirelabs-us5000.log");
const GOLDEN: &str = include_str!("../testdata/pylon/setfirelabs-us5000.ndjson");

fn golden_path() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/pylon/setfirelabs-us5000.log"
    )
    .to_string()
}

/// The golden log's frames: (secs, micros, id, data hex).
fn golden_frames() -> Vec<(u64, u32, String, String)> {
    GOLDEN_LOG
        .lines()
        .map(|l| {
            let (ts, rest) = l.split_once(") ").unwrap();
            let (secs, micros) = ts[1..].split_once('.').unwrap();
            let frame = rest.split_whitespace().nth(1).unwrap();
            let (id, data) = frame.split_once('#').unwrap();
            (
                secs.parse().unwrap(),
                micros.parse().unwrap(),
                id.to_string(),
                data.to_string(),
            )
        })
        .collect()
}

fn spaced(d: &str) -> String {
    d.as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

fn golden() -> serde_json::Value {
    serde_json::from_str(GOLDEN).unwrap()
}

#[test]
fn golden_real_frames() {
    let out = cmd("pylon-candump-decode")
        .arg(golden_path())
        .assert()
        .success();
    let out = out.get_output();
    assert_eq!(String::from_utf8_lossy(&out.stdout), GOLDEN);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = &readings(&out.stdout)[0];
    let f = &r["fields"];
    assert_eq!(r["ts"], "2024-11-30T14:00:00.015Z", "the last frame's time");
    assert_eq!(r["source"], "pylon");
    assert_eq!(r["device"], "pylon-setfirelabs-us5000");
    for (k, v) in [
        ("charge_voltage_limit", 53.2),
        ("charge_current_limit", 480.0),
        ("discharge_current_limit", 480.0),
        ("discharge_voltage_limit", 45.0),
        ("soc", 88.0),
        ("soh", 94.0),
        ("pack_voltage", 49.86),
        ("pack_current", -27.0),
        ("temperature_battery", 36.3),
        ("module_count", 6.0),
    ] {
        assert_eq!(f[k].as_f64(), Some(v), "{k}");
    }
    assert_eq!(f["charge_enable"], true);
    assert_eq!(f["discharge_enable"], true);
    assert_eq!(r["info"]["manufacturer"], "PYLON");
    // Named after the interface on standard input, or --name.
    let out = cmd("pylon-candump-decode")
        .write_stdin(GOLDEN_LOG)
        .assert()
        .success();
    assert_eq!(
        readings(&out.get_output().stdout)[0]["device"],
        "pylon-can0"
    );
    let out = cmd("pylon-candump-decode")
        .args(["--name", "bank-1"])
        .write_stdin(GOLDEN_LOG)
        .assert()
        .success();
    assert_eq!(readings(&out.get_output().stdout)[0]["device"], "bank-1");
    // --trace: every frame read, as hex on stderr; stdout unchanged.
    let out = cmd("pylon-candump-decode")
        .args(["--trace", &golden_path()])
        .assert()
        .success();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), GOLDEN);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(
        err.contains("setfirelabs-us5000 < 351 14 02 C0 12 C0 12 C2 01"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 8, "{err}");
}

/// The same telegram in every candump text flavour decodes to the same reading.
#[test]
fn every_candump_flavour() {
    let frames = golden_frames();
    type Make = Box<dyn Fn(&(u64, u32, String, String)) -> String>;
    let flavours: Vec<(&str, Make)> = vec![
        (
            "log, 9 digits, R/T",
            Box::new(|f| format!("({:010}.{:06}000) can0 {}#{} R", f.0, f.1, f.2, f.3)),
        ),
        (
            "log, lower case, dots",
            Box::new(|f| {
                let dotted = spaced(&f.3.to_lowercase()).replace(' ', ".");
                format!(
                    "({}.{:06})  can0 {}#{}",
                    f.0,
                    f.1,
                    f.2.to_lowercase(),
                    dotted
                )
            }),
        ),
        (
            "display -t a",
            Box::new(|f| {
                let len = f.3.len() / 2;
                format!(
                    " ({:010}.{:06})  can0  {}   [{len}]  {}",
                    f.0,
                    f.1,
                    f.2,
                    spaced(&f.3)
                )
            }),
        ),
        (
            "display -t a -x -a",
            Box::new(|f| {
                let len = f.3.len() / 2;
                format!(
                    " ({:010}.{:06})  can0  RX - -  {}   [{len}]  {}   '........'",
                    f.0,
                    f.1,
                    f.2,
                    spaced(&f.3)
                )
            }),
        ),
        (
            "log, raw DLC on 8-byte frames",
            Box::new(|f| {
                let dlc = if f.3.len() == 16 { "_9" } else { "" };
                format!("({}.{:06}) can0 {}#{}{dlc}", f.0, f.1, f.2, f.3)
            }),
        ),
    ];
    for (name, make) in flavours {
        let text: String = frames.iter().map(|f| make(f) + "\n").collect();
        let out = cmd("pylon-candump-decode")
            .args(["--name", "pylon-setfirelabs-us5000"])
            .write_stdin(text)
            .assert()
            .success();
        let got = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert_eq!(got, GOLDEN, "flavour {name}");
    }
    // -t A: local civil time.
    let text: String = frames
        .iter()
        .map(|f| {
            let secs = f.0 - 1_732_975_200;
            format!(
                " (2024-11-30 14:00:{:02}.{:06})  can0  {}   [{}]  {}\n",
                secs,
                f.1,
                f.2,
                f.3.len() / 2,
                spaced(&f.3)
            )
        })
        .collect();
    let out = cmd("pylon-candump-decode")
        .env("TZ", "UTC")
        .write_stdin(text)
        .assert()
        .success();
    let r = &readings(&out.get_output().stdout)[0];
    assert_eq!(r["ts"], golden()["ts"]);
    assert_eq!(r["fields"], golden()["fields"]);
}

/// Logs without an absolute clock: -t z, -t d and no -t, with --start, on the file's
/// modification time, or (standard input) the time read; raw.ts_anchor says which. The
/// same input side serves eflex-candump-decode.
#[test]
fn logs_without_a_clock_are_anchored() {
    let frames = golden_frames();
    let first_us = frames[0].0 * 1_000_000 + u64::from(frames[0].1);
    let us = |f: &(u64, u32, String, String)| f.0 * 1_000_000 + u64::from(f.1) - first_us;
    let tz: String = frames
        .iter()
        .map(|f| {
            let t = us(f);
            format!(
                " ({:03}.{:06})  can0  {}   [{}]  {}\n",
                t / 1_000_000,
                t % 1_000_000,
                f.2,
                f.3.len() / 2,
                spaced(&f.3)
            )
        })
        .collect();
    let mut prev = 0;
    let td: String = frames
        .iter()
        .map(|f| {
            let d = us(f) - prev;
            prev = us(f);
            format!(
                " ({:03}.{:06})  can0  {}   [{}]  {}\n",
                d / 1_000_000,
                d % 1_000_000,
                f.2,
                f.3.len() / 2,
                spaced(&f.3)
            )
        })
        .collect();
    let none: String = frames
        .iter()
        .map(|f| format!("  can0  {}   [{}]  {}\n", f.2, f.3.len() / 2, spaced(&f.3)))
        .collect();
    let reading = |args: &[&str], input: &str| -> serde_json::Value {
        let out = cmd("pylon-candump-decode")
            .args(args)
            .write_stdin(input.to_string())
            .assert()
            .success();
        readings(&out.get_output().stdout).remove(0)
    };
    for (name, text) in [("-t z", &tz), ("-t d", &td)] {
        let r = reading(&["--start", "2024-11-30T14:00:00Z"], text);
        assert_eq!(r["ts"], "2024-11-30T14:00:00.015Z", "{name}");
        assert_eq!(r["raw"]["ts_anchor"], "start option", "{name}");
        assert_eq!(r["fields"], golden()["fields"], "{name}");
    }
    let r = reading(&["--start", "1732975200"], &none);
    assert_eq!(r["ts"], "2024-11-30T14:00:00.000Z");
    let r = reading(&[], &none);
    assert_eq!(r["raw"]["ts_anchor"], "time read");
    // Files: the modification time is the last frame's.
    let dir = TempDir::new("pylon-clock");
    for (name, text) in [("tz", &tz), ("td", &td), ("none", &none)] {
        let path = dir.path(&format!("{name}.log"));
        std::fs::write(&path, text).unwrap();
        let ok = std::process::Command::new("touch")
            .args(["-d", "2026-11-20T14:00:00Z"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        let out = cmd("pylon-candump-decode").arg(&path).assert().success();
        let r = &readings(&out.get_output().stdout)[0];
        // The telegram's last frame (0x35E) is 0.985 s before the log's last (0x305).
        let want = if name == "none" {
            "2026-11-20T14:00:00.000Z"
        } else {
            "2026-11-20T13:59:59.015Z"
        };
        assert_eq!(r["ts"], want, "{name}");
        assert_eq!(r["raw"]["ts_anchor"], "file modification time", "{name}");
    }
    // A pipe given as a file is read once and stamped like standard input.
    let path = dir.path("tz.log");
    let script = format!(
        "'{}' <(cat '{}')",
        bin_path("pylon-candump-decode").display(),
        path.display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success());
    let r = &readings(&out.stdout)[0];
    assert_eq!(r["raw"]["ts_anchor"], "time read");
    assert_eq!(r["device"], "pylon-can0");
    assert_eq!(r["fields"], golden()["fields"]);
    // eflex-candump-decode reads through the same input side.
    let eflex_log: String = include_str!("../testdata/eflex/conftest-battery2.log")
        .lines()
        .map(|l| {
            let rest = l.split_once(") ").unwrap().1;
            format!("(000.000000) {rest}\n")
        })
        .collect();
    let out = cmd("eflex-candump-decode")
        .args(["--start", "2026-11-20T14:00:00Z"])
        .write_stdin(eflex_log)
        .assert()
        .success();
    let r = &readings(&out.get_output().stdout)[0];
    assert_eq!(r["ts"], "2026-11-20T14:00:00.000Z");
    assert_eq!(r["raw"]["ts_anchor"], "start option");
}

#[test]
fn junk_mixed_bus_and_a_log_starting_mid_telegram() {
    let lines: Vec<&str> = GOLDEN_LOG.lines().collect();
    let mut input = String::new();
    // Starts mid-telegram: 0x356 onwards, then the heartbeat.
    for l in &lines[3..] {
        input.push_str(l);
        input.push('\n');
    }
    input.push_str("DROPCOUNT: dropped 2 CAN frames on 'can0' socket (total drops 2)\n");
    input.push_str("not a candump line\n");
    input.push_str("(1732975201.000100) can0 102#01020E0213FFFD45\n"); // an eFlex battery
    input.push_str("(1732975201.000200) can0 12345678#1122\n"); // extended id
    input.push_str("(1732975201.000300) can0 351#R\n"); // remote request
    input.push_str("(1732975201.0003\n"); // truncated
    for l in &lines[1..] {
        input.push_str(
            &l.replace("1732975200.", "1732975201.")
                .replace("1732975201.000000", "1732975202.000000"),
        );
        input.push('\n');
    }
    let out = cmd("pylon-candump-decode")
        .args(["-v", "--name", "pylon-setfirelabs-us5000"])
        .write_stdin(input)
        .assert()
        .code(1);
    let out = out.get_output();
    let r = readings(&out.stdout);
    assert_eq!(r.len(), 1, "the partial telegram is dropped");
    assert_eq!(r[0]["ts"], "2024-11-30T14:00:01.015Z");
    assert_eq!(r[0]["fields"], golden()["fields"]);
    let err = String::from_utf8_lossy(&out.stderr);
    for want in ["stdin:7:", "stdin:11:", "2 line(s) skipped", "1 dropped"] {
        assert!(err.contains(want), "{want} missing from: {err}");
    }
}

#[test]
fn dlc_variants() {
    let log = |frames: &[(&str, &str)]| -> String {
        let mut s = String::from("(1732975200.000000) can0 305#0000000000000000\n");
        for (i, (id, d)) in frames.iter().enumerate() {
            s.push_str(&format!("(1732975200.{:06}) can0 {id}#{d}\n", i + 1));
        }
        s.push_str("(1732975201.000000) can0 305#0000000000000000\n");
        s
    };
    let base = [
        ("351", "1402C012C012C201"),
        ("355", "58005E00"),
        ("356", "7A13F2FE6B01"),
        ("359", "0000000006504E"),
        ("35C", "C000"),
        ("35E", "50594C4F4E202020"),
    ];
    let variant = |id: &str, data: &str| -> serde_json::Value {
        let frames: Vec<(&str, &str)> = base
            .iter()
            .map(|&(i, d)| if i == id { (i, data) } else { (i, d) })
            .collect();
        let out = cmd("pylon-candump-decode")
            .write_stdin(log(&frames))
            .assert()
            .success();
        readings(&out.get_output().stdout).remove(0)
    };
    for d in ["58005E006400", "58005E0064000000"] {
        let r = variant("355", d);
        assert_eq!(r["fields"]["soc"], 88);
        assert_eq!(r["fields"]["soh"], 94);
        assert_eq!(r["raw"]["x355"], d[8..].to_lowercase());
    }
    let r = variant("356", "7A13F2FE6B010000");
    assert_eq!(r["fields"]["temperature_battery"], 36.3);
    assert_eq!(r["raw"]["x356"], "0000");
    let r = variant("35E", "4259442020");
    assert_eq!(r["info"]["manufacturer"], "BYD");
    assert_eq!(r["device"], "byd-can0");
    let r = variant("351", "1402C012C012");
    assert!(r["fields"].get("discharge_voltage_limit").is_none());
    assert_eq!(r["fields"]["charge_voltage_limit"], 53.2);
    let r = variant("359", "0000000006504E05");
    assert_eq!(r["raw"]["x359"], "504e05");
    let out = cmd("pylon-candump-decode")
        .args(["--profile", "lux"])
        .write_stdin(log(&[
            base[0],
            base[1],
            base[2],
            ("359", "8201000002504E03"),
            base[4],
            base[5],
        ]))
        .assert()
        .success();
    let r = &readings(&out.get_output().stdout)[0];
    assert_eq!(r["fields"]["dip_address"], 3);
    assert_eq!(r["fields"]["protection_pack_ov"], true);
    assert_eq!(r["fields"]["protection_discharge_oc"], true);
    assert_eq!(r["fields"]["protection_charge_oc"], true);
    assert_eq!(r["fields"]["protection_pack_uv"], false);
}

#[test]
fn missing_interface_exits_75() {
    cmd("pylon-candump-decode")
        .args(["--interface", "nosuchcan7"])
        .assert()
        .code(75)
        .stderr(predicates::str::contains("nosuchcan7"))
        .stderr(predicates::str::contains("bitrate 500000 listen-only on"));
}

#[test]
fn closed_stdout_ends_quietly() {
    let dir = TempDir::new("pylon-head");
    let log = dir.path("long.log");
    let body: String = (0..2000)
        .map(|i| GOLDEN_LOG.replace("17329752", &format!("{}", 17_329_752 + i)))
        .collect();
    std::fs::write(&log, body).unwrap();
    let script = format!(
        "'{}' '{}' | head -1 >/dev/null; echo \"status=${{PIPESTATUS[0]}}\"",
        bin_path("pylon-candump-decode").display(),
        log.display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "status=0");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn usage_help_version() {
    for bad in [
        &["--every", "often"][..],
        &["--interface", "can0", "x.log"],
        &["--profile", "tesla"],
        &["--start", "yesterday"],
        &["--name", "Bank One"],
        &["/nonexistent/link.log"],
    ] {
        cmd("pylon-candump-decode").args(bad).assert().code(2);
    }
    cmd("pylon-candump-decode")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("Examples:"));
    cmd("pylon-candump-decode")
        .arg("--version")
        .assert()
        .success();
}

/// Whatever the simulator sends decodes to the readings it says it sent: with and without
/// heartbeats, with the Victron frames, with alarms.
#[test]
fn round_trip_through_the_simulator() {
    let dir = TempDir::new("pylon-rt");
    for extra in [
        &[][..],
        &["--no-heartbeat"],
        &[
            "--victron",
            "--fault",
            "pack_ov",
            "--fault",
            "warning_cell_imbalance",
        ],
        &["--no-heartbeat", "--victron", "--manufacturer", "EG4"],
    ] {
        let truth = dir.path("truth.ndjson");
        let out = cmd("bms-sim")
            .args([
                "pylon",
                "--cycles",
                "30",
                "--truth",
                truth.to_str().unwrap(),
            ])
            .args(extra)
            .assert()
            .success();
        let log = out.get_output().stdout.clone();
        let out = cmd("pylon-candump-decode")
            .write_stdin(log)
            .assert()
            .success();
        let got = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        let want = std::fs::read_to_string(&truth).unwrap();
        assert_eq!(want.lines().count(), 30, "{extra:?}");
        assert_eq!(got, want, "{extra:?}");
        let r = readings(out.get_output().stdout.as_slice());
        if extra.contains(&"pack_ov") {
            assert_eq!(r[0]["fields"]["protection_pack_ov"], true);
            assert_eq!(r[0]["fields"]["warning_cell_imbalance"], true);
            assert_eq!(r[0]["fields"]["charge_enable"], false);
        }
        if extra.contains(&"EG4") {
            assert_eq!(r[0]["device"], "eg4-can0");
        }
    }
    cmd("bms-sim")
        .args(["pylon", "--fault", "smoke"])
        .assert()
        .code(2);
    cmd("bms-sim")
        .args(["pylon", "--manufacturer", "MUCH TOO LONG"])
        .assert()
        .code(2);
}

#[test]
fn every_keeps_the_newest() {
    let dir = TempDir::new("pylon-every");
    let truth = dir.path("truth.ndjson");
    let out = cmd("bms-sim")
        .args([
            "pylon",
            "--cycles",
            "10",
            "--truth",
            truth.to_str().unwrap(),
        ])
        .assert()
        .success();
    let log = out.get_output().stdout.clone();
    // Telegrams are 1 s apart in log time: with --every 3s, 0, 3, 6, 9 are due.
    let out = cmd("pylon-candump-decode")
        .args(["--every", "3s"])
        .write_stdin(log)
        .assert()
        .success();
    let got: Vec<String> = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(String::from)
        .collect();
    let want: Vec<String> = std::fs::read_to_string(&truth)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        got,
        [
            want[0].clone(),
            want[3].clone(),
            want[6].clone(),
            want[9].clone()
        ]
    );
}

/// Three simulated telegrams (`bms-sim pylon --cycles 3`), as (seconds, microseconds, line
/// text after the timestamp).
fn three_telegrams() -> Vec<(u64, u32, String)> {
    let out = cmd("bms-sim")
        .args(["pylon", "--cycles", "3"])
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(|l| {
            let (t, rest) = l[1..].split_once(") ").unwrap();
            let (s, us) = t.split_once('.').unwrap();
            (s.parse().unwrap(), us.parse().unwrap(), rest.to_string())
        })
        .collect()
}

#[test]
fn a_telegram_never_runs_from_one_file_into_the_next() {
    let frames = three_telegrams();
    assert_eq!(frames.len(), 21);
    let line = |f: &(u64, u32, String)| format!("({}.{:06}) {}\n", f.0, f.1, f.2);
    let dir = TempDir::new("pylon-two-files");
    // The first file ends just after the second telegram's 0x351; the second file has the
    // rest of it. Neither half may become a reading, and nothing of one file may end up in a
    // reading of the other.
    let cut = frames.iter().position(|f| f.2.contains(" 351#")).unwrap() + 7 + 1;
    assert!(frames[cut - 1].2.contains(" 351#"));
    let a = dir.path("a.log");
    let b = dir.path("b.log");
    std::fs::write(&a, frames[..cut].iter().map(line).collect::<String>()).unwrap();
    std::fs::write(&b, frames[cut..].iter().map(line).collect::<String>()).unwrap();
    let out = cmd("pylon-candump-decode")
        .args([a.to_str().unwrap(), b.to_str().unwrap()])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    let got: Vec<(&str, &str)> = r
        .iter()
        .map(|r| (r["device"].as_str().unwrap(), r["ts"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("pylon-a", "2024-11-30T14:00:00.001Z"),
            ("pylon-b", "2024-11-30T14:00:02.001Z")
        ]
    );
}

#[test]
fn a_delta_log_file_with_start_keeps_its_clock() {
    let frames = three_telegrams();
    let us = |f: &(u64, u32, String)| f.0 * 1_000_000 + u64::from(f.1);
    let mut prev = us(&frames[0]);
    let td: String = frames
        .iter()
        .map(|f| {
            let d = us(f) - prev;
            prev = us(f);
            format!("({:03}.{:06}) {}\n", d / 1_000_000, d % 1_000_000, f.2)
        })
        .collect();
    let dir = TempDir::new("pylon-td-start");
    let log = dir.path("td.log");
    std::fs::write(&log, td).unwrap();
    let out = cmd("pylon-candump-decode")
        .args(["--start", "2025-01-01T00:00:00Z", log.to_str().unwrap()])
        .assert()
        .success();
    let ts: Vec<String> = readings(&out.get_output().stdout)
        .iter()
        .map(|r| r["ts"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ts,
        [
            "2025-01-01T00:00:00.001Z",
            "2025-01-01T00:00:01.001Z",
            "2025-01-01T00:00:02.001Z"
        ]
    );
}

#[test]
fn two_inverter_links_in_one_log_stay_apart() {
    // `candump -L any` with a bank on can0 and another on can1, frames interleaved.
    let frames = three_telegrams();
    let mut log = String::new();
    for f in &frames {
        for (iface, off) in [("can0", 0), ("can1", 100)] {
            log.push_str(&format!(
                "({}.{:06}) {}\n",
                f.0,
                f.1 + off,
                f.2.replacen("can0", iface, 1)
            ));
        }
    }
    let out = cmd("pylon-candump-decode")
        .write_stdin(log)
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    let devices: Vec<&str> = r.iter().map(|r| r["device"].as_str().unwrap()).collect();
    assert_eq!(
        devices,
        [
            "pylon-can0",
            "pylon-can1",
            "pylon-can0",
            "pylon-can1",
            "pylon-can0",
            "pylon-can1"
        ]
    );
    for pair in r.chunks(2) {
        assert_eq!(pair[0]["fields"], pair[1]["fields"]);
    }
}

/// An eFlex log given to the pylon decoder gives no reading: one line says whose frames
/// they are, and the exit status is 1 (not a silent 0). An empty log stays quiet.
#[test]
fn an_eflex_log_is_named_as_one() {
    let eflex_log = include_str!("../testdata/eflex/conftest-battery2.log");
    let frames = eflex_log.lines().count();
    let out = cmd("pylon-candump-decode")
        .write_stdin(eflex_log)
        .assert()
        .code(1);
    let out = out.get_output();
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{frames} frames gave no reading"))
            && err.contains("Fortress eFlex")
            && err.contains("eflex-candump-decode"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    cmd("pylon-candump-decode")
        .write_stdin("")
        .assert()
        .success()
        .stderr("");
    // A log of other devices: their ids are listed.
    cmd("pylon-candump-decode")
        .write_stdin("(1.000000) can0 123#11\n(1.100000) can0 456#22\n")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("ids seen: 0x123, 0x456"));
}

/// The bank's capacity (0x35F, 0x379) becomes `capacity_ah`, so readings-bank gives the
/// time estimates for a Pylon-protocol bank too.
#[test]
fn the_banks_capacity_gives_time_estimates() {
    let sim = crate::common::cmd("bms-sim")
        .args(["pylon", "--victron", "--cycles", "10"])
        .assert()
        .success();
    let decoded = crate::common::cmd("pylon-candump-decode")
        .write_stdin(sim.get_output().stdout.clone())
        .assert()
        .success();
    let r = crate::common::readings(&decoded.get_output().stdout);
    assert!(
        r.iter().all(|r| r["fields"]["capacity_ah"] == 400),
        "{:?}",
        r[0]
    );
    let banked = crate::common::cmd("readings-bank")
        .write_stdin(decoded.get_output().stdout.clone())
        .assert()
        .success();
    let r = crate::common::readings(&banked.get_output().stdout);
    assert!(
        r.iter()
            .any(|r| r["fields"]["time_to_empty"].is_number()
                || r["fields"]["time_to_full"].is_number()),
        "no time estimate"
    );
}
