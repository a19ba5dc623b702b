//! lp4-poll against bms-sim over real pseudo-terminals.

use crate::common::{cmd, lines_of, readings, records, std_cmd, Guard, Sim, TempDir};
use predicates::prelude::PredicateBooleanExt;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn several_addresses_on_one_port() {
    let sim = Sim::lp4(&["--address", "1,2,3", "--serial-tag", "one"]);
    let out = cmd("lp4-poll")
        .args(["--once", "-a", "1-3", &sim.path])
        .assert()
        .success();
    let out = out.get_output();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = readings(&out.stdout);
    let devices: Vec<&str> = r.iter().map(|r| r["device"].as_str().unwrap()).collect();
    assert_eq!(devices, ["sim-one-01", "sim-one-02", "sim-one-03"]);
    for reading in &r {
        assert_eq!(reading["source"], "lp4");
        let f = &reading["fields"];
        assert_eq!(f["cell_voltages"].as_array().unwrap().len(), 16);
        assert_eq!(f["cell_count"], 16);
        let v = f["pack_voltage"].as_f64().unwrap();
        assert!((45.0..60.0).contains(&v), "{v}");
        assert!(f["pack_current"].is_number());
        assert_eq!(f["warning_cell_ov"], false);
        assert_eq!(reading["info"]["model"], "LFP-51.2V100Ah-V1.0");
        assert_eq!(reading["info"]["manufacturer"], "EG4");
        assert_eq!(reading["raw"]["start"], 0);
        assert_eq!(reading["raw"]["registers"].as_array().unwrap().len(), 39);
    }
}

#[test]
fn several_ports_at_once_with_names() {
    let sims: Vec<Sim> = (0..3).map(|_| Sim::lp4(&["--address", "1,2"])).collect();
    let mut c = cmd("lp4-poll");
    c.args([
        "--once", "-a", "1,2", "--name", "a1", "--name", "a2", "--name", "b1",
    ]);
    for s in &sims {
        c.arg(&s.path);
    }
    let out = c.assert().success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 6);
    let mut devices: Vec<String> = r
        .iter()
        .map(|r| r["device"].as_str().unwrap().to_string())
        .collect();
    devices.sort();
    assert!(devices.contains(&"a1".to_string()) && devices.contains(&"b1".to_string()));
    devices.dedup();
    assert_eq!(devices.len(), 6, "{devices:?}");
}

#[test]
fn silent_pack_exits_1_and_others_are_read() {
    let sim = Sim::lp4(&["--address", "1,2,3", "--silent", "2"]);
    let out = cmd("lp4-poll")
        .args([
            "--once",
            "-a",
            "1,2,3",
            "--timeout",
            "300ms",
            "--emit-errors",
            &sim.path,
        ])
        .assert()
        .code(1);
    let out = out.get_output();
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs.iter().filter(|r| r["type"] == "reading").count(), 2);
    let status: Vec<_> = recs.iter().filter(|r| r["type"] == "status").collect();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0]["error"], "timeout after 300 ms");
    assert!(status[0]["device"].as_str().unwrap().ends_with("-2"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("address 2: timeout after 300 ms"), "{err}");
    // Without --emit-errors: readings only, same exit code.
    let out = cmd("lp4-poll")
        .args(["--once", "-a", "1,2,3", "--timeout", "300ms", &sim.path])
        .assert()
        .code(1);
    assert_eq!(records(&out.get_output().stdout).len(), 2);
}

#[test]
fn damaged_crcs_are_errors_for_that_cycle() {
    // Every second reply is damaged: identity OK, status bad, next identity... The poller must
    // report bad CRCs, never crash, and still read the good replies.
    let sim = Sim::lp4(&["--address", "1", "--bad-crc-every", "3"]);
    let out = cmd("lp4-poll")
        .args([
            "--count",
            "6",
            "--interval",
            "50ms",
            "--gap",
            "10ms",
            "--emit-errors",
            &sim.path,
        ])
        .assert()
        .code(1);
    let out = out.get_output();
    let recs = records(&out.stdout);
    let good = recs.iter().filter(|r| r["type"] == "reading").count();
    let bad: Vec<_> = recs.iter().filter(|r| r["type"] == "status").collect();
    assert!(good >= 2, "{good} readings");
    assert!(!bad.is_empty());
    assert_eq!(good + bad.len(), 6);
    assert!(
        bad[0]["error"].as_str().unwrap().starts_with("bad CRC"),
        "{}",
        bad[0]
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad CRC"), "{err}");
}

#[test]
fn closed_stdout_ends_quietly() {
    let sim = Sim::lp4(&["--address", "1,2"]);
    let script = format!(
        "'{}' --count 50 --interval 10ms -a 1,2 '{}' | head -1 >/dev/null; echo \"status=${{PIPESTATUS[0]}}\"",
        crate::common::bin_path("lp4-poll").display(),
        sim.path
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.trim(), "status=0", "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    cmd("lp4-poll").arg("--bogus").assert().code(2);
    cmd("lp4-poll")
        .args(["--once"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no PORT given"));
    cmd("lp4-poll")
        .args(["--interval", "soon", "/dev/null"])
        .assert()
        .code(2);
    cmd("lp4-poll")
        .args(["--map", "v9", "/dev/null"])
        .assert()
        .code(2);
    cmd("lp4-poll")
        .args(["--name", "Rack 1", "/dev/null"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("invalid --name"));
    cmd("lp4-poll")
        .args(["--name", "a", "--name", "b", "/dev/null"])
        .assert()
        .code(2);
    cmd("lp4-poll")
        .args(["--config", "/nonexistent.toml"])
        .assert()
        .code(2);
}

#[test]
fn missing_port_exits_75() {
    cmd("lp4-poll")
        .args(["--once", "/dev/ttyNOPE9"])
        .assert()
        .code(75)
        .stderr(predicates::str::contains(
            "lp4-poll: /dev/ttyNOPE9: no such port",
        ));
}

#[test]
fn second_poller_gets_port_busy() {
    let sim = Sim::lp4(&[]);
    let mut first = Guard::spawn(
        std_cmd("lp4-poll")
            .args(["--interval", "100ms", &sim.path])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let lines = lines_of(first.stdout.take().unwrap());
    lines
        .recv_timeout(Duration::from_secs(30))
        .expect("first poller reads");
    cmd("lp4-poll")
        .args(["--once", &sim.path])
        .assert()
        .code(75)
        .stderr(predicates::str::contains("port busy"));
    let _ = first.kill();
    let _ = first.wait();
}

#[test]
fn trace_and_capture() {
    let dir = TempDir::new("capture");
    let cap = dir.path("bus.bin");
    let sim = Sim::lp4(&["--address", "2"]);
    let out = cmd("lp4-poll")
        .args([
            "--once",
            "-a",
            "2",
            "--trace",
            "--capture",
            cap.to_str().unwrap(),
            &sim.path,
        ])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    // identity request and status request, each with its reply
    assert!(err.contains("> 02 03 00 69 00 17 D5 EB"), "{err}");
    assert!(err.contains("> 02 03 00 00 00 27 05 E3"), "{err}");
    assert!(err.contains("< 02 03 2E"), "{err}");
    assert!(err.contains("< 02 03 4E"), "{err}");
    let bytes = std::fs::read(&cap).unwrap();
    // request 8 + identity reply 51 + request 8 + status reply 83
    assert_eq!(bytes.len(), 8 + 51 + 8 + 83);
    assert_eq!(
        &bytes[..8],
        &[0x02, 0x03, 0x00, 0x69, 0x00, 0x17, 0xD5, 0xEB]
    );
}

#[test]
fn config_files_toml_and_eg4_battery_yaml() {
    let dir = TempDir::new("config");
    let a = Sim::lp4(&["--address", "1,2"]);
    let b = Sim::lp4(&["--address", "5"]);
    let toml = dir.path("packs.toml");
    std::fs::write(
        &toml,
        format!(
            "timeout = \"500ms\"\n[[pack]]\nname = \"top\"\nport = \"{}\"\naddress = 1\n\
             [[pack]]\nname = \"bottom\"\nport = \"{}\"\naddress = 2\nmap = \"eg4-battery\"\n\
             [[pack]]\nport = \"{}\"\naddress = 5\n",
            a.path, a.path, b.path
        ),
    )
    .unwrap();
    let out = cmd("lp4-poll")
        .args(["--once", "--config", toml.to_str().unwrap()])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    let names: Vec<&str> = r.iter().map(|r| r["device"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"top") && names.contains(&"bottom"),
        "{names:?}"
    );
    let bottom = r.iter().find(|r| r["device"] == "bottom").unwrap();
    assert_eq!(bottom["raw"]["registers"].as_array().unwrap().len(), 47);

    let yaml = dir.path("eg4.yaml");
    std::fs::write(
        &yaml,
        format!(
            "mqtt:\n  host: broker\nbus:\n  port: {}\n  baud: 9600\n  interval: 10\npacks:\n  - name: battery1\n    address: 1\n  - name: battery2\n    address: 2\n",
            a.path
        ),
    )
    .unwrap();
    let out = cmd("lp4-poll")
        .args(["--once", "-c", yaml.to_str().unwrap()])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["device"], "battery1");
    assert_eq!(r[1]["device"], "battery2");

    std::fs::write(&toml, "[[pack]]\nport = \"x\"\nadress = 1\n").unwrap();
    cmd("lp4-poll")
        .args(["--once", "-c", toml.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("adress"));
}

#[test]
fn scan_finds_packs_with_their_info() {
    let sim = Sim::lp4(&["--address", "3,0x40"]);
    // A found pack is news, not a warning: said at -v, not as `warning:` by default.
    let out = cmd("lp4-poll")
        .args(["--scan", "--timeout", "40ms", "--gap", "5ms", &sim.path])
        .assert()
        .success()
        .stderr("");
    cmd("lp4-poll")
        .args([
            "-v",
            "--scan",
            "--timeout",
            "40ms",
            "--gap",
            "5ms",
            &sim.path,
        ])
        .assert()
        .success()
        .stderr(predicates::str::contains("lp4-poll: found a pack on"))
        .stderr(predicates::str::contains("warning").not());
    let r = readings(&out.get_output().stdout);
    let addrs: Vec<u64> = r
        .iter()
        .map(|r| r["raw"]["address"].as_u64().unwrap())
        .collect();
    assert_eq!(addrs, [3, 0x40]);
    assert_eq!(r[0]["raw"]["baud"], 9600);
    assert!(r[0]["info"]["serial"].as_str().unwrap().starts_with("SIM-"));
    // Nothing there: exit 1.
    let empty = Sim::lp4(&["--address", "200"]);
    cmd("lp4-poll")
        .args(["--scan", "--timeout", "20ms", "--gap", "1ms", &empty.path])
        .assert()
        .code(1);
}

#[test]
fn fault_bits_reach_the_reading() {
    let sim = Sim::lp4(&[
        "--address",
        "1,2",
        "--fault",
        "2:cell_ov",
        "--fault",
        "protection_short_circuit",
    ]);
    let out = cmd("lp4-poll")
        .args(["--once", "-a", "1,2", &sim.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r[0]["fields"]["warning_cell_ov"], false);
    assert_eq!(r[1]["fields"]["warning_cell_ov"], true);
    assert_eq!(r[0]["fields"]["protection_short_circuit"], true);
    assert_eq!(r[0]["fields"]["state"], "protect");
}

#[test]
fn help_has_examples_and_version_works() {
    cmd("lp4-poll")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("Examples:"));
    cmd("lp4-poll")
        .arg("--version")
        .assert()
        .success()
        .stdout(predicates::str::starts_with("lp4-poll "));
}
