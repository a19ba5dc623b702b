//! eg4-7e-query against `bms-sim eg4-7e` over real pseudo-terminals.

use crate::common::{bin_path, cmd, readings, records, Sim};

fn sim(extra: &[&str]) -> Sim {
    let mut args = vec!["eg4-7e"];
    args.extend_from_slice(extra);
    Sim::start(&args)
}

#[test]
fn several_addresses_with_info() {
    let s = sim(&["--address", "0,1,15"]);
    let out = cmd("eg4-7e-query")
        .args(["--once", "-a", "0,1,15", "--gap", "20ms", "--info", &s.path])
        .assert()
        .success();
    let out = out.get_output();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = readings(&out.stdout);
    let label = s.path.rsplit('/').next().unwrap();
    let devices: Vec<String> = r
        .iter()
        .map(|r| r["device"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        devices,
        [
            format!("{label}-0"),
            format!("{label}-1"),
            format!("{label}-15")
        ]
    );
    for reading in &r {
        assert_eq!(reading["source"], "eg4-7e");
        let f = &reading["fields"];
        assert_eq!(f["cell_voltages"].as_array().unwrap().len(), 16);
        // four cell probes; the MOS and ambient sensors apart (protocols.md §2.7)
        assert_eq!(f["temperatures"].as_array().unwrap().len(), 4);
        assert!(f["temperature_mos"].is_i64() && f["temperature_env"].is_i64());
        let v = f["pack_voltage"].as_f64().unwrap();
        assert!((40.0..60.0).contains(&v), "{v}");
        let cells: f64 = f["cell_voltages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_f64().unwrap())
            .sum();
        assert!((cells - v).abs() < 0.05, "pack {v} vs cells {cells}");
        assert_eq!(reading["info"]["firmware"], "3QT-YS00-16SV100A-V3.5");
        assert_eq!(reading["info"]["hardware"], "B");
        assert_eq!(reading["raw"]["groups"]["0x0a"][0], 0);
    }
}

#[test]
fn fifteen_cell_pack_and_names() {
    let s = sim(&["--address", "1", "--cells", "15"]);
    let out = cmd("eg4-7e-query")
        .args(["--once", "--name", "garage", &s.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r[0]["device"], "garage");
    assert_eq!(r[0]["fields"]["cell_count"], 15);
    assert_eq!(
        r[0]["fields"]["cell_voltages"].as_array().unwrap().len(),
        15
    );
    assert!(r[0].get("info").is_none(), "no --info, no info");
}

#[test]
fn silent_pack_and_bad_checksums() {
    let s = sim(&[
        "--address",
        "1,2,3",
        "--silent",
        "3",
        "--bad-crc-every",
        "2",
    ]);
    let out = cmd("eg4-7e-query")
        .args([
            "--count",
            "2",
            "--interval",
            "10ms",
            "-a",
            "1,2,3",
            "--gap",
            "10ms",
            "--timeout",
            "300ms",
            "--emit-errors",
            &s.path,
        ])
        .assert()
        .code(1);
    let out = out.get_output();
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 6);
    let errors: Vec<&str> = recs.iter().filter_map(|r| r["error"].as_str()).collect();
    assert!(
        errors.iter().any(|e| e.starts_with("checksum mismatch")),
        "{errors:?}"
    );
    assert_eq!(
        errors
            .iter()
            .filter(|e| **e == "timeout after 300 ms")
            .count(),
        2,
        "{errors:?}"
    );
    assert!(recs.iter().any(|r| r["type"] == "reading"));
}

#[test]
fn protection_fault_reaches_the_reading() {
    let s = sim(&["--address", "1", "--fault", "overvoltage"]);
    let out = cmd("eg4-7e-query")
        .args(["--once", &s.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r[0]["fields"]["protection_overvoltage"], true);
    assert_eq!(r[0]["fields"]["protection_overcurrent"], false);
}

#[test]
fn closed_stdout_ends_quietly() {
    let s = sim(&["--address", "1,2"]);
    let script = format!(
        "'{}' --count 50 --interval 10ms --gap 5ms -a 1,2 '{}' | head -1 >/dev/null; echo \"status=${{PIPESTATUS[0]}}\"",
        bin_path("eg4-7e-query").display(),
        s.path
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
fn exit_codes() {
    cmd("eg4-7e-query").assert().code(2);
    cmd("eg4-7e-query")
        .args(["--address", "16", "/dev/null"])
        .assert()
        .code(2);
    cmd("eg4-7e-query")
        .args(["--once", "/dev/ttyNOPE7"])
        .assert()
        .code(75)
        .stderr(predicates::str::contains("no such port"));
    cmd("eg4-7e-query")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("Examples:"));
    cmd("eg4-7e-query").arg("--version").assert().success();
}
