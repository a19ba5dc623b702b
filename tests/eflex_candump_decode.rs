//! eflex-candump-decode on golden logs, every candump flavour, junk, and the simulator.

use crate::common::{bin_path, cmd, readings, TempDir};

const GOLDEN_LOG: &str = include_str!("../testdata/eflex/conftest-battery2.log");
const GOLDEN: &str = include_str!("../testdata/eflex/conftest-battery2.ndjson");

/// One frame of the §3.6 cycle: (secs, micros, id, data hex).
type Frame = (u64, u32, String, String);
/// A candump flavour: its name and how it writes a frame.
type Flavour = (&'static str, Box<dyn Fn(&Frame) -> String>);

fn golden_frames() -> Vec<Frame> {
    GOLDEN_LOG
        .lines()
        .skip(1)
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

#[test]
fn golden_worked_example() {
    let out = cmd("eflex-candump-decode")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/eflex/conftest-battery2.log"
        ))
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
    assert_eq!(r["device"], "2205075e0604");
    assert_eq!(r["info"]["serial"], "2205075E0604");
    assert_eq!(r["fields"]["batteries_in_system"], 14);
    assert_eq!(r["fields"]["lifetime_discharge_energy"], 144138);
}

/// The same cycle in every candump text flavour decodes to the same reading.
#[test]
fn every_candump_flavour() {
    let frames = golden_frames();
    let spaced = |d: &str| {
        d.as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let flavours: Vec<Flavour> = vec![
        (
            "log, 9 digits, R/T",
            Box::new(|f| format!("({:010}.{:06}000) can0 {}#{} R", f.0, f.1, f.2, f.3)),
        ),
        (
            "log, lower case, dots",
            Box::new(|f| {
                let dotted =
                    f.3.to_lowercase()
                        .as_bytes()
                        .chunks(2)
                        .map(|c| std::str::from_utf8(c).unwrap())
                        .collect::<Vec<_>>()
                        .join(".");
                format!("({}.{:06})  vcan0 {}#{}", f.0, f.1, f.2, dotted)
            }),
        ),
        (
            "display -t a",
            Box::new(move |f| {
                format!(
                    " ({:010}.{:06})  can0  {}   [8]  {}",
                    f.0,
                    f.1,
                    f.2,
                    spaced(&f.3)
                )
            }),
        ),
        (
            "display -t a -x",
            Box::new(move |f| {
                format!(
                    " ({:010}.{:06})  can0  RX - -  {}   [8]  {}",
                    f.0,
                    f.1,
                    f.2,
                    spaced(&f.3)
                )
            }),
        ),
        (
            "log, raw DLC",
            Box::new(|f| format!("({}.{:06}) can0 {}#{}_9", f.0, f.1, f.2, f.3)),
        ),
    ];
    for (name, make) in flavours {
        let text: String = frames.iter().map(|f| make(f) + "\n").collect();
        let out = cmd("eflex-candump-decode")
            .write_stdin(text)
            .assert()
            .success();
        let got = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert_eq!(got, GOLDEN, "flavour {name}");
    }
    // Without timestamps (plain `candump can0`): same fields, stamped when read.
    let text: String = frames
        .iter()
        .map(|f| format!("  can0  {}   [8]  {}\n", f.2, spaced(&f.3)))
        .collect();
    let out = cmd("eflex-candump-decode")
        .write_stdin(text)
        .assert()
        .success();
    let r = &readings(&out.get_output().stdout)[0];
    let golden: serde_json::Value = serde_json::from_str(GOLDEN).unwrap();
    assert_eq!(r["fields"], golden["fields"]);
    assert_ne!(r["ts"], golden["ts"]);
}

#[test]
fn junk_is_reported_and_every_good_group_decodes() {
    let frames: Vec<String> = GOLDEN_LOG.lines().skip(1).map(String::from).collect();
    let mut input: Vec<u8> = Vec::new();
    // other traffic, comments and garbage before the group
    input.extend_from_slice(b"DROPCOUNT: dropped 2 CAN frames on 'can0' socket (total drops 2)\n");
    input.extend_from_slice(b"(1715987139.000001) can0 351#0102030405060708\n");
    input.extend_from_slice(b"not a candump line at all\n");
    input.extend_from_slice(b"(1715987139.000002) can0 102#0102\n"); // short frame: not eFlex
    input.extend_from_slice(b"\xff\xfe\x00binary junk\x01\n");
    input.extend_from_slice(&vec![b'A'; 100_000]);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"(1715987139.0000");
    input.extend_from_slice(b"\n"); // truncated line
    for f in &frames {
        input.extend_from_slice(f.as_bytes());
        input.push(b'\n');
    }
    // the same battery again, one cycle later, after more junk
    input.extend_from_slice("caf\u{e9} \u{2603}\n".as_bytes());
    for f in &frames {
        input.extend_from_slice(f.replace("1715987139.", "1715987140.").as_bytes());
        input.push(b'\n');
    }
    let out = cmd("eflex-candump-decode")
        .write_stdin(input)
        .assert()
        .code(1);
    let out = out.get_output();
    let r = readings(&out.stdout);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1]["ts"], "2024-05-17T23:05:40.069Z");
    let err = String::from_utf8_lossy(&out.stderr);
    for line in [
        "stdin:3:",
        "stdin:5:",
        "stdin:6: line too long (100000 bytes)",
        "stdin:7:",
        "stdin:26:",
    ] {
        assert!(err.contains(line), "{line} missing from: {err}");
    }
    assert!(err.contains("5 line(s) skipped"), "{err}");
    assert!(
        !err.contains("stdin:1:") && !err.contains("stdin:2:") && !err.contains("stdin:4:"),
        "{err}"
    );
}

#[test]
fn round_trip_through_the_simulator() {
    let dir = TempDir::new("eflex-rt");
    for interleave in [false, true] {
        let truth = dir.path("truth.ndjson");
        let log = dir.path("bus.log");
        let mut sim = cmd("bms-sim");
        sim.args([
            "eflex",
            "--batteries",
            "14",
            "--cycles",
            "4",
            "--truth",
            truth.to_str().unwrap(),
        ]);
        if interleave {
            sim.arg("--interleave");
        }
        let out = sim.assert().success();
        std::fs::write(&log, &out.get_output().stdout).unwrap();
        let out = cmd("eflex-candump-decode").arg(&log).assert().success();
        let mut got: Vec<String> = String::from_utf8_lossy(&out.get_output().stdout)
            .lines()
            .map(String::from)
            .collect();
        let mut want: Vec<String> = std::fs::read_to_string(&truth)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(want.len(), 14 * 4);
        got.sort();
        want.sort();
        assert_eq!(got, want, "interleave {interleave}");
        let devices: std::collections::BTreeSet<String> =
            readings(out.get_output().stdout.as_slice())
                .iter()
                .map(|r| r["device"].as_str().unwrap().to_string())
                .collect();
        assert_eq!(devices.len(), 14);
    }
}

#[test]
fn files_in_order_and_a_battery_split_across_them() {
    let dir = TempDir::new("eflex-split");
    let lines: Vec<&str> = GOLDEN_LOG.lines().collect();
    let (a, b) = (dir.path("part1.log"), dir.path("part2.log"));
    std::fs::write(&a, lines[..8].join("\n") + "\n").unwrap();
    std::fs::write(&b, lines[8..].join("\n") + "\n").unwrap();
    let out = cmd("eflex-candump-decode")
        .arg(&a)
        .arg(&b)
        .assert()
        .success();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), GOLDEN);
    cmd("eflex-candump-decode")
        .arg(dir.path("missing.log"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("missing.log"));
}

#[test]
fn every_keeps_the_newest() {
    let dir = TempDir::new("eflex-every");
    let truth = dir.path("truth.ndjson");
    let out = cmd("bms-sim")
        .args([
            "eflex",
            "--batteries",
            "1",
            "--cycles",
            "10",
            "--no-partial",
            "--truth",
            truth.to_str().unwrap(),
        ])
        .assert()
        .success();
    let log = out.get_output().stdout.clone();
    // Rounds are 9 ms apart in log time: with --every 20ms, rounds 0, 3, 6, 9 are due.
    let out = cmd("eflex-candump-decode")
        .args(["--every", "20ms"])
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

#[test]
fn raw_blocks_on_request() {
    let out = cmd("eflex-candump-decode")
        .arg("--raw")
        .write_stdin(GOLDEN_LOG)
        .assert()
        .success();
    let r = &readings(&out.get_output().stdout)[0];
    assert_eq!(r["raw"]["block10"].as_str().unwrap().len(), 77 * 2);
    assert_eq!(r["raw"]["block60"].as_str().unwrap().len(), 49 * 2);
    assert!(r["raw"]["block10"]
        .as_str()
        .unwrap()
        .starts_with("020e0213fffd45"));
}

#[test]
fn missing_interface_exits_75() {
    cmd("eflex-candump-decode")
        .args(["--interface", "nosuchcan7"])
        .assert()
        .code(75)
        .stderr(predicates::str::contains("nosuchcan7"));
}

#[test]
fn closed_stdout_ends_quietly() {
    let script = format!(
        "'{}' eflex --batteries 3 | '{}' | head -1 >/dev/null; echo \"status=${{PIPESTATUS[0]}} ${{PIPESTATUS[1]}}\"",
        bin_path("bms-sim").display(),
        bin_path("eflex-candump-decode").display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "status=0 0");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn usage_help_version() {
    cmd("eflex-candump-decode")
        .args(["--every", "often"])
        .assert()
        .code(2);
    cmd("eflex-candump-decode")
        .args(["--interface", "can0", "x.log"])
        .assert()
        .code(2);
    cmd("eflex-candump-decode")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("Examples:"));
    cmd("eflex-candump-decode")
        .arg("--version")
        .assert()
        .success();
    cmd("bms-sim")
        .args(["eflex", "--batteries", "16"])
        .assert()
        .code(2);
}

/// A log of the battery-to-inverter link given to the eFlex decoder: one line says it is
/// pylon-candump-decode's, and the exit status is 1.
#[test]
fn a_pylon_log_is_named_as_one() {
    let pylon_log = include_str!("../testdata/pylon/setfirelabs-us5000.log");
    let out = cmd("eflex-candump-decode")
        .write_stdin(pylon_log)
        .assert()
        .code(1);
    let out = out.get_output();
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("frames gave no reading")
            && err.contains("(Pylon) frames")
            && err.contains("decode them with pylon-candump-decode"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    // The simulator's eFlex stream still decodes with status 0 and nothing on stderr.
    let log = cmd("bms-sim")
        .args(["eflex", "-n", "2", "--cycles", "2", "--no-partial"])
        .output()
        .unwrap()
        .stdout;
    cmd("eflex-candump-decode")
        .write_stdin(log)
        .assert()
        .success()
        .stderr("");
}
