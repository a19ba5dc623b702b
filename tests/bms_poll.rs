//! bms-poll against `bms-sim jbd` / `bms-sim daly` (and the LP4 and 7E simulators) over real
//! pseudo-terminals and a simulated gateway; detection; the read-only rule checked from the
//! simulators' side; the whole pipeline into a real broker.

use crate::common::{cmd, readings, records, Sim, TempDir};
use std::process::Stdio;

fn sim(family: &str, extra: &[&str]) -> Sim {
    let mut args = vec![family];
    args.extend_from_slice(extra);
    Sim::start(&args)
}

fn label(s: &Sim) -> String {
    s.path.rsplit('/').next().unwrap().to_string()
}

fn no_writes(log: &std::path::Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(text.is_empty(), "the simulator received writes:\n{text}");
}

#[test]
fn jbd_reading_identity_and_no_writes() {
    let dir = TempDir::new("bms-poll-jbd");
    let log = dir.path("writes.log");
    let s = sim(
        "jbd",
        &["--cells", "8", "--write-log", log.to_str().unwrap()],
    );
    let out = cmd("bms-poll")
        .args([
            "--protocol",
            "jbd",
            "--count",
            "2",
            "--interval",
            "100ms",
            &s.path,
        ])
        .assert()
        .success();
    let out = out.get_output();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = readings(&out.stdout);
    assert_eq!(r.len(), 2);
    for reading in &r {
        assert_eq!(reading["source"], "jbd");
        assert_eq!(reading["device"], format!("{}-0", label(&s)));
        let f = &reading["fields"];
        let cells = f["cell_voltages"].as_array().unwrap();
        assert_eq!(cells.len(), 8);
        assert_eq!(f["cell_count"], 8);
        let sum: f64 = cells.iter().map(|c| c.as_f64().unwrap()).sum();
        let v = f["pack_voltage"].as_f64().unwrap();
        assert!((sum - v).abs() < 0.02, "cells {sum} vs pack {v}");
        assert_eq!(f["temperatures"].as_array().unwrap().len(), 3);
        assert_eq!(f["capacity_ah"], 100.0);
        assert_eq!(f["charge_fet"], true);
        assert_eq!(f["protection_short_circuit"], false);
        assert_eq!(reading["info"]["model"], "JBD-SP16S020-L16S-100A-B-U");
        assert_eq!(reading["info"]["manufacturer"], "JBD");
        assert_eq!(reading["raw"]["production_date"], "2024-05-17");
    }
    no_writes(&log);
}

#[test]
fn jbd_fault_and_address_rules() {
    let s = sim("jbd", &["--fault", "short_circuit"]);
    let out = cmd("bms-poll")
        .args(["-p", "jbd", "--once", &s.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r[0]["fields"]["protection_short_circuit"], true);
    assert_eq!(r[0]["fields"]["charge_fet"], false);
    cmd("bms-poll")
        .args(["-p", "jbd", "--address", "2", "--once", &s.path])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no bus address"));
}

#[test]
fn daly_boards_sign_and_multi_frame() {
    let dir = TempDir::new("bms-poll-daly");
    let log = dir.path("writes.log");
    let s = sim(
        "daly",
        &["--address", "1,2", "--write-log", log.to_str().unwrap()],
    );
    let out = cmd("bms-poll")
        .args(["--protocol", "daly", "-a", "1,2", "--once", &s.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    let devices: Vec<&str> = r.iter().map(|r| r["device"].as_str().unwrap()).collect();
    let l = label(&s);
    assert_eq!(devices, [format!("{l}-1"), format!("{l}-2")]);
    for reading in &r {
        let f = &reading["fields"];
        assert_eq!(f["cell_voltages"].as_array().unwrap().len(), 16);
        assert_eq!(f["temperatures"].as_array().unwrap().len(), 4);
        // The simulator's state says the direction; the current's sign must agree.
        let a = f["pack_current"].as_f64().unwrap();
        match f["state"].as_str().unwrap() {
            "charging" => assert!(a > 0.0, "{a}"),
            "discharging" => assert!(a < 0.0, "{a}"),
            _ => {}
        }
        assert_eq!(f["alarm_afe"], false);
    }
    no_writes(&log);
}

#[test]
fn daly_bluetooth_style_frames_uart_host_and_faults() {
    let s = sim(
        "daly",
        &[
            "--all-frames",
            "--cells",
            "13",
            "--fault",
            "protection_cell_ov",
        ],
    );
    let out = cmd("bms-poll")
        .args(["-p", "daly", "--daly-host", "0x80", "--once", &s.path])
        .assert()
        .success();
    let f = &readings(&out.get_output().stdout)[0]["fields"];
    assert_eq!(f["cell_voltages"].as_array().unwrap().len(), 13);
    assert_eq!(f["protection_cell_ov"], true);
    assert_eq!(f["warning_cell_ov"], false);
}

#[test]
fn asleep_daly_and_silent_board_are_named() {
    let s = sim(
        "daly",
        &["--address", "1,2", "--asleep", "1", "--silent", "2"],
    );
    let out = cmd("bms-poll")
        .args([
            "-p",
            "daly",
            "-a",
            "1,2",
            "--once",
            "--emit-errors",
            "--timeout",
            "200ms",
            &s.path,
        ])
        .assert()
        .code(1);
    let out = out.get_output();
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r["type"] == "status"));
    let e1 = recs[0]["error"].as_str().unwrap();
    assert!(e1.contains("asleep"), "{e1}");
    assert!(recs[1]["error"].as_str().unwrap().contains("timeout"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("asleep"), "{err}");
}

#[test]
fn bad_checksums_and_line_faults_never_make_a_wrong_reading() {
    let s = sim(
        "daly",
        &[
            "--bad-crc-every",
            "5",
            "--garbage-every",
            "3",
            "--twice-every",
            "4",
            "--foreign-every",
            "7",
        ],
    );
    let out = cmd("bms-poll")
        .args([
            "-p",
            "daly",
            "--count",
            "6",
            "--interval",
            "50ms",
            "--emit-errors",
            &s.path,
        ])
        .assert();
    let out = out.get_output();
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 6, "one record per cycle");
    let r = readings(&out.stdout);
    assert!(!r.is_empty());
    for reading in &r {
        let f = &reading["fields"];
        let v = f["pack_voltage"].as_f64().unwrap();
        assert!((40.0..60.0).contains(&v), "{v}");
        if let Some(cells) = f["cell_voltages"].as_array() {
            assert_eq!(cells.len(), 16);
            assert!(cells
                .iter()
                .all(|c| (2.5..3.7).contains(&c.as_f64().unwrap())));
        }
    }
}

#[test]
fn gateway_tcp_and_modbus_tcp_rule() {
    let gw = Sim::start_printing(&["daly", "--tcp", "127.0.0.1:0"], "tcp://");
    let out = cmd("bms-poll")
        .args(["-p", "daly", "--once", &gw.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 1);
    cmd("bms-poll")
        .args(["-p", "daly", "--once", "modbus-tcp://127.0.0.1:1"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("transparent mode"));
}

#[test]
fn lp4_and_7e_through_the_table() {
    let lp4 = Sim::lp4(&["--address", "1,2"]);
    let out = cmd("bms-poll")
        .args(["-p", "lp4", "-a", "1,2", "--once", &lp4.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 2);
    assert!(r[0]["device"].as_str().unwrap().starts_with("sim-"));
    assert_eq!(r[0]["source"], "lp4");
    let e7 = sim("eg4-7e", &["--address", "1"]);
    let out = cmd("bms-poll")
        .args(["-p", "eg4-7e", "--gap", "50ms", "--once", &e7.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r[0]["source"], "eg4-7e");
    assert_eq!(r[0]["info"]["hardware"], "B");
}

#[test]
fn usage_errors() {
    cmd("bms-poll")
        .args(["/dev/null"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no --protocol given"));
    cmd("bms-poll")
        .args(["-p", "victron", "/dev/null"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("unknown protocol 'victron'"));
    cmd("bms-poll")
        .args(["-p", "daly", "-a", "40", "/dev/null"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("out of range"));
    cmd("bms-poll")
        .args(["-p", "daly", "--daly-host", "0x41", "/dev/null"])
        .assert()
        .code(2);
    cmd("bms-poll")
        .args(["-p", "jbd", "--once", "/nonexistent/ttyUSB9"])
        .assert()
        .code(75);
}

#[test]
fn detect_finds_each_family_and_says_how_to_poll_it() {
    let dir = TempDir::new("bms-poll-detect");
    let logs: Vec<_> = (0..2).map(|i| dir.path(&format!("w{i}.log"))).collect();
    let jbd = sim("jbd", &["--write-log", logs[0].to_str().unwrap()]);
    let daly = sim("daly", &["--write-log", logs[1].to_str().unwrap()]);
    let lp4 = Sim::lp4(&["--address", "2"]);
    let silent = sim("daly", &["--silent", "1"]);
    let cache = dir.path("detect.json");
    let out = cmd("bms-poll")
        .args(["--detect", "--listen", "200ms", "--detect-cache"])
        .arg(&cache)
        .args([&jbd.path, &daly.path, &lp4.path, &silent.path])
        .assert()
        .success();
    let out = out.get_output();
    let recs = records(&out.stdout);
    let got: Vec<(String, String, u64)> = recs
        .iter()
        .map(|r| {
            assert_eq!(r["type"], "detected");
            (
                r["port"].as_str().unwrap().to_string(),
                r["protocol"].as_str().unwrap().to_string(),
                r["address"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (jbd.path.clone(), "jbd".to_string(), 0),
            (daly.path.clone(), "daly".to_string(), 1),
            (lp4.path.clone(), "lp4".to_string(), 2),
        ]
    );
    assert_eq!(recs[0]["info"]["model"], "JBD-SP16S020-L16S-100A-B-U");
    assert_eq!(recs[2]["baud"], 9600);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("bms-poll --protocol lp4 --address 2 {}", lp4.path)),
        "{err}"
    );
    assert!(
        err.contains(&format!("bms-poll --protocol jbd {}", jbd.path)),
        "{err}"
    );
    // Probes are reads: neither simulator saw anything else.
    for l in &logs {
        no_writes(l);
    }
    // The cache remembers each port; a second run tries that first and finds the same.
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(c[&lp4.path]["protocol"], "lp4");
    assert_eq!(c[&lp4.path]["addresses"][0], 2);
    let again = cmd("bms-poll")
        .args(["--detect", "--listen", "0s", "--detect-cache"])
        .arg(&cache)
        .arg(&lp4.path)
        .assert()
        .success();
    assert_eq!(records(&again.get_output().stdout)[0]["protocol"], "lp4");
}

#[test]
fn detect_on_nothing_exits_1_and_auto_exits_75() {
    let silent = sim("jbd", &["--silent", "0"]);
    cmd("bms-poll")
        .args(["--detect", "--listen", "0s", "-p", "jbd", &silent.path])
        .assert()
        .code(1)
        .stdout("");
    cmd("bms-poll")
        .args([
            "-p",
            "auto",
            "--listen",
            "0s",
            "--once",
            "-a",
            "1",
            &silent.path,
        ])
        .assert()
        .code(75)
        .stderr(predicates::str::contains("no BMS found"));
}

#[test]
fn detect_does_not_probe_a_bus_that_talks() {
    // A capture replayed into a pseudo-terminal: bytes arrive without being asked.
    let dir = TempDir::new("bms-poll-talk");
    let capture = dir.path("bus.bin");
    std::fs::write(
        &capture,
        [0x01u8, 0x03, 0x00, 0x00, 0x00, 0x27, 0x05, 0xD0].repeat(50),
    )
    .unwrap();
    let (_replay, port) = crate::common::replay(&capture, 9600);
    let out = cmd("bms-poll")
        .args(["--detect", "--listen", "2s", &port])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("another master"), "{err}");
}

#[test]
fn auto_detects_then_polls_two_families() {
    let jbd = sim("jbd", &[]);
    let daly = sim("daly", &[]);
    let out = cmd("bms-poll")
        .args([
            "-p", "auto", "--listen", "0s", "--once", &jbd.path, &daly.path,
        ])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    let mut sources: Vec<&str> = r.iter().map(|r| r["source"].as_str().unwrap()).collect();
    sources.sort();
    assert_eq!(sources, ["daly", "jbd"]);
}

#[test]
fn config_file_with_two_protocols() {
    let jbd = sim("jbd", &[]);
    let daly = sim("daly", &["--address", "3"]);
    let dir = TempDir::new("bms-poll-config");
    let conf = dir.path("packs.toml");
    std::fs::write(
        &conf,
        format!(
            "interval = \"100ms\"\n\n[[pack]]\nprotocol = \"jbd\"\nname = \"shed\"\nport = \"{}\"\n\n[[pack]]\nprotocol = \"daly\"\nport = \"{}\"\naddress = 3\n",
            jbd.path, daly.path
        ),
    )
    .unwrap();
    let out = cmd("bms-poll")
        .args(["--once", "--config"])
        .arg(&conf)
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    let mut devices: Vec<&str> = r.iter().map(|r| r["device"].as_str().unwrap()).collect();
    devices.sort();
    assert_eq!(devices, [format!("{}-3", label(&daly)).as_str(), "shed"]);
}

/// The whole job for an owner of a JBD and a Daly pack: detection, polling, energy counters,
/// Home Assistant over a real broker. Every reading read arrives on the JSON topic, and each
/// pack gets valid device discovery.
#[test]
fn jbd_and_daly_through_the_bank_into_mqtt() {
    use crate::readings_to_mqtt::Broker;
    let Some(b) = Broker::start() else { return };
    let jbd = sim("jbd", &["--cells", "4"]);
    let daly = sim("daly", &[]);
    let dir = TempDir::new("bms-poll-mqtt");
    let polled = dir.path("polled.ndjson");
    let state = dir.path("bank.json");
    let bin = |n: &str| crate::common::bin_path(n).display().to_string();
    let pipeline = format!(
        "{} -p auto --listen 0s --count 4 --interval 300ms {} {} | tee {} | {} --state {} | {} --port {} --json-topic test/readings",
        bin("bms-poll"),
        jbd.path,
        daly.path,
        polled.display(),
        bin("readings-bank"),
        state.display(),
        bin("readings-to-mqtt"),
        b.port
    );
    let run = std::sync::Mutex::new(None);
    let got = b.collect_on(
        "test/readings",
        usize::MAX,
        std::time::Duration::from_secs(8),
        || {
            *run.lock().unwrap() = Some(
                std::process::Command::new("bash")
                    .args(["-o", "pipefail", "-c", &pipeline])
                    .stderr(Stdio::piped())
                    .output()
                    .unwrap(),
            );
        },
    );
    let out = run.into_inner().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = readings(&std::fs::read(&polled).unwrap());
    assert_eq!(read.len(), 8, "4 cycles of 2 packs");
    // readings-bank adds its bank readings; every pack reading read arrives, in order.
    let got: Vec<&String> = got
        .iter()
        .filter(|m| !m.contains("\"source\":\"bank\""))
        .collect();
    assert_eq!(got.len(), read.len(), "every reading arrives");
    for (r, msg) in read.iter().zip(&got) {
        let m: serde_json::Value = serde_json::from_str(msg).unwrap();
        assert_eq!(m["device"], r["device"]);
        assert_eq!(m["ts"], r["ts"]);
        assert_eq!(m["fields"]["soc"], r["fields"]["soc"]);
        // readings-bank's counters ride along
        assert!(m["fields"]["energy_charged_kwh"].is_number(), "{m}");
    }
    for (source, r) in [("jbd", &read[0]), ("daly", &read[1])] {
        let device = r["device"].as_str().unwrap();
        let d = b.json(&format!("homeassistant/device/bmstap_{device}/config"));
        assert_eq!(d["cmps"]["soc"]["dev_cla"], "battery", "{source}");
        assert_eq!(d["cmps"]["pack_current"]["unit_of_meas"], "A");
        assert_eq!(d["cmps"]["cell_01_voltage"]["dev_cla"], "voltage");
        assert_eq!(d["cmps"]["charge_fet"]["p"], "binary_sensor");
        assert!(
            d["cmps"]["charge_fet"].get("dev_cla").is_none(),
            "{source}: not a problem"
        );
        assert_eq!(d["cmps"]["protection_cell_ov"]["dev_cla"], "problem");
        assert_eq!(
            d["cmps"]["energy_charged_kwh"]["stat_cla"],
            "total_increasing"
        );
        for (name, c) in d["cmps"].as_object().unwrap() {
            assert!(
                c["name"].is_string() && c["uniq_id"].is_string(),
                "{name}: {c}"
            );
        }
        let s = b.json(&format!("bmstap/{device}/state"));
        assert!(s["pack_voltage"].is_number(), "{source}: {s}");
    }
}

#[test]
fn shipped_example_config_is_read() {
    let conf = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/systemd/bms-poll.toml.example");
    // The file parses and names real protocols; its example ports do not exist here (75).
    cmd("bms-poll")
        .args(["--once", "--config"])
        .arg(&conf)
        .assert()
        .code(75)
        .stderr(predicates::str::contains(
            "usb-FTDI_FT232R_USB_UART_A10KX1Y2",
        ));
}

#[test]
fn detect_finds_a_daly_on_its_uart_port_by_its_host_address() {
    let uart = sim("daly", &["--host", "0x80"]);
    let out = cmd("bms-poll")
        .args(["--detect", "--listen", "0s", "-p", "daly", &uart.path])
        .assert()
        .success();
    let out = out.get_output();
    assert_eq!(records(&out.stdout)[0]["protocol"], "daly");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "bms-poll --protocol daly --daly-host 0x80 {}",
            uart.path
        )),
        "{err}"
    );
    // auto polls it with the host address it answered to
    let out = cmd("bms-poll")
        .args(["-p", "auto", "--listen", "0s", "--once", &uart.path])
        .assert()
        .success();
    assert_eq!(readings(&out.get_output().stdout).len(), 1);
}

#[test]
fn detect_and_poll_through_gateways() {
    let gw = Sim::start_printing(&["daly", "--tcp", "127.0.0.1:0"], "tcp://");
    let out = cmd("bms-poll")
        .args(["--detect", "--listen", "0s", &gw.path])
        .assert()
        .success();
    let r = &records(&out.get_output().stdout)[0];
    assert_eq!(r["protocol"], "daly");
    assert!(
        r.get("baud").is_none(),
        "a gateway's line speed is its own: {r}"
    );
    let mb = Sim::start_printing(
        &["lp4", "-a", "1,2", "--modbus-tcp", "127.0.0.1:0"],
        "modbus-tcp://",
    );
    let out = cmd("bms-poll")
        .args(["-p", "lp4", "-a", "1,2", "--once", &mb.path])
        .assert()
        .success();
    assert_eq!(readings(&out.get_output().stdout).len(), 2);
}

/// A reader that does not read for a while: the poller waits on the full pipe (backpressure)
/// and, once read, every reading is there, in order.
#[test]
fn a_backlog_on_stdout_loses_nothing() {
    let s = sim("daly", &[]);
    let mut poller = crate::common::Guard::spawn(
        crate::common::std_cmd("bms-poll")
            .args(["-p", "daly", "--count", "40", "--interval", "0", &s.path])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    // 40 readings of ~2.5 KB are more than a pipe holds: the poller must wait for us.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut poller.stdout.take().unwrap(), &mut out).unwrap();
    assert!(poller.wait().unwrap().success());
    let r = readings(&out);
    assert_eq!(r.len(), 40);
    let ts: Vec<&str> = r.iter().map(|r| r["ts"].as_str().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "in order");
}

#[test]
fn pylontech_bank_reading_identity_limits_and_no_writes() {
    let dir = TempDir::new("bms-poll-pylontech");
    let log = dir.path("writes.log");
    let s = sim(
        "pylontech",
        &[
            "--address",
            "2,3",
            "--cells",
            "15",
            "--fault",
            "3:discharge_ot",
            "--write-log",
            log.to_str().unwrap(),
        ],
    );
    let out = cmd("bms-poll")
        .args(["--protocol", "pylontech", "-a", "2,3", "--once", &s.path])
        .assert()
        .success();
    let out = out.get_output();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = readings(&out.stdout);
    // Device ids come from the packs' serials (0x93).
    let devices: Vec<&str> = r.iter().map(|r| r["device"].as_str().unwrap()).collect();
    assert_eq!(devices.len(), 2);
    assert!(
        devices[0].ends_with("-02") && devices[1].ends_with("-03"),
        "{devices:?}"
    );
    for reading in &r {
        assert_eq!(reading["source"], "pylontech");
        let f = &reading["fields"];
        let cells = f["cell_voltages"].as_array().unwrap();
        assert_eq!(cells.len(), 15);
        let sum: f64 = cells.iter().map(|c| c.as_f64().unwrap()).sum();
        let v = f["pack_voltage"].as_f64().unwrap();
        assert!((sum - v).abs() < 0.02, "cells {sum} vs pack {v}");
        assert_eq!(f["temperatures"].as_array().unwrap().len(), 4);
        assert_eq!(f["capacity_ah"], 100.0);
        assert_eq!(f["charge_voltage_limit"], 53.2);
        assert_eq!(f["discharge_current_limit"], 37.0);
        assert_eq!(reading["info"]["model"], "US3000C");
        assert_eq!(reading["info"]["manufacturer"], "PYLON");
        assert_eq!(reading["info"]["firmware"], "2.4.1");
    }
    assert_eq!(r[0]["fields"]["protection_discharge_ot"], false);
    assert_eq!(r[0]["fields"]["charge_enable"], true);
    assert_eq!(r[1]["fields"]["protection_discharge_ot"], true);
    assert_eq!(r[1]["fields"]["charge_enable"], false);
    assert_ne!(r[0]["info"]["serial"], r[1]["info"]["serial"]);
    no_writes(&log);
}

#[test]
fn detect_finds_a_pylontech_master() {
    let dir = TempDir::new("bms-poll-detect-pylontech");
    let log = dir.path("w.log");
    let s = sim("pylontech", &["--write-log", log.to_str().unwrap()]);
    let out = cmd("bms-poll")
        .args(["--detect", "--listen", "0s", "-p", "pylontech", &s.path])
        .assert()
        .success();
    let recs = records(&out.get_output().stdout);
    assert_eq!(recs[0]["protocol"], "pylontech");
    assert_eq!(recs[0]["address"], 2);
    no_writes(&log);
}

/// Every line of a simulator's --rx-log: what bms-poll sent, as hex.
fn received(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn jk_pb_listens_to_a_master_and_sends_nothing() {
    let dir = TempDir::new("bms-poll-jkpb-listen");
    let log = dir.path("rx.log");
    let s = sim(
        "jk-pb",
        &[
            "--address",
            "1,2",
            "--cells",
            "8",
            "--cycle",
            "200ms",
            "--fault",
            "2:cell_ov",
            "--rx-log",
            log.to_str().unwrap(),
        ],
    );
    let out = cmd("bms-poll")
        .args(["--protocol", "jk-pb", "--count", "2", &s.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    let l = label(&s);
    let devices: Vec<&str> = r.iter().map(|r| r["device"].as_str().unwrap()).collect();
    let want: Vec<String> = [0, 1, 2, 0, 1, 2]
        .iter()
        .map(|a| format!("{l}-{a}"))
        .collect();
    assert_eq!(devices, want);
    for reading in &r {
        assert_eq!(reading["source"], "jk-pb");
        let f = &reading["fields"];
        let cells = f["cell_voltages"].as_array().unwrap();
        assert_eq!(cells.len(), 8);
        let sum: f64 = cells.iter().map(|c| c.as_f64().unwrap()).sum();
        let v = f["pack_voltage"].as_f64().unwrap();
        assert!((sum - v).abs() < 0.01, "cells {sum} vs pack {v}");
        let fault = reading["device"] == format!("{l}-2");
        assert_eq!(f["protection_cell_ov"], fault);
        assert_eq!(f["charge_fet"], !fault);
    }
    // The settings record follows the live one in a master's cycle: the second cycle has them.
    assert_eq!(r[4]["fields"]["design_capacity_ah"], 100.0);
    // One pack picked by address, named.
    let out = cmd("bms-poll")
        .args([
            "-p", "jk-pb", "-a", "2", "--name", "garage", "--once", &s.path,
        ])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["device"], "garage");
    // Not a byte went to the bus, and --jk-trigger does not change that with a master there.
    let out = cmd("bms-poll")
        .args(["-p", "jk-pb", "--jk-trigger", "-a", "1", "--once", &s.path])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("listening instead of asking"), "{err}");
    assert_eq!(readings(&out.get_output().stdout).len(), 1);
    let sent = received(&log);
    assert!(sent.is_empty(), "bms-poll sent to a jk-pb bus: {sent:?}");
}

#[test]
fn jk_pb_triggers_only_when_allowed_and_only_the_three_frames() {
    let dir = TempDir::new("bms-poll-jkpb-trigger");
    let log = dir.path("rx.log");
    let s = sim(
        "jk-pb",
        &[
            "--slaves",
            "--echo",
            "--address",
            "1,2",
            "--cells",
            "8",
            "--rx-log",
            log.to_str().unwrap(),
        ],
    );
    // Without --jk-trigger nothing is heard on a bus without a master, and nothing is sent.
    let out = cmd("bms-poll")
        .args(["-p", "jk-pb", "-a", "1", "--once", "-q", &s.path])
        .assert()
        .code(1);
    assert!(readings(&out.get_output().stdout).is_empty());
    assert!(received(&log).is_empty());
    let out = cmd("bms-poll")
        .args([
            "-p",
            "jk-pb",
            "--jk-trigger",
            "-a",
            "1,2",
            "--count",
            "2",
            "--interval",
            "200ms",
            &s.path,
        ])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 4);
    for reading in &r {
        assert_eq!(reading["info"]["model"], "JK_PB2A16S20P");
        assert_eq!(reading["fields"]["cell_count"], 8);
        assert_eq!(reading["fields"]["design_capacity_ah"], 100.0);
    }
    let l = label(&s);
    assert_eq!(r[0]["device"], format!("sim-{l}-01"));
    assert_eq!(r[1]["device"], format!("sim-{l}-02"));
    // Everything sent was one of the three byte-exact triggers, to addresses 1 and 2.
    let allowed = [
        "01 10 16 20 00 01 02 00 00 D6 F1",
        "01 10 16 1E 00 01 02 00 00 D2 2F",
        "01 10 16 1C 00 01 02 00 00 D3 CD",
        "02 10 16 20 00 01 02 00 00 C2 01",
        "02 10 16 1E 00 01 02 00 00 C6 DF",
        "02 10 16 1C 00 01 02 00 00 C7 3D",
    ];
    let sent = received(&log);
    assert!(sent.len() >= 6, "{sent:?}");
    for line in &sent {
        assert!(allowed.contains(&line.as_str()), "sent {line}");
    }
}

#[test]
fn jk_b_reading_identity_and_no_writes() {
    let dir = TempDir::new("bms-poll-jk");
    let log = dir.path("writes.log");
    let s = sim(
        "jk",
        &[
            "--cells",
            "14",
            "--fault",
            "cell_uv",
            "--write-log",
            log.to_str().unwrap(),
        ],
    );
    let out = cmd("bms-poll")
        .args(["-p", "jk", "--count", "2", "--interval", "100ms", &s.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 2);
    for reading in &r {
        assert_eq!(reading["source"], "jk");
        let f = &reading["fields"];
        assert_eq!(f["cell_voltages"].as_array().unwrap().len(), 14);
        assert_eq!(f["cell_count"], 14);
        assert_eq!(f["protection_cell_uv"], true);
        assert_eq!(f["charge_fet"], false);
        assert_eq!(f["temperatures"].as_array().unwrap().len(), 2);
        assert_eq!(reading["info"]["manufacturer"], "JK");
        assert_eq!(reading["device"], format!("sim-{}-01", label(&s)));
    }
    no_writes(&log);
}

#[test]
fn detect_hears_a_jk_pb_bank_without_sending() {
    let dir = TempDir::new("bms-poll-detect-jkpb");
    let log = dir.path("rx.log");
    let s = sim(
        "jk-pb",
        &[
            "--address",
            "3",
            "--cycle",
            "300ms",
            "--rx-log",
            log.to_str().unwrap(),
        ],
    );
    let out = cmd("bms-poll")
        .args(["--detect", &s.path])
        .assert()
        .success();
    let recs = records(&out.get_output().stdout);
    let found: Vec<(String, u64)> = recs
        .iter()
        .map(|r| {
            (
                r["protocol"].as_str().unwrap().to_string(),
                r["address"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(found, [("jk-pb".into(), 0), ("jk-pb".into(), 3)]);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("--protocol jk-pb --address 0,3"), "{err}");
    let sent = received(&log);
    assert!(sent.is_empty(), "detection sent to a jk-pb bus: {sent:?}");
}

#[test]
fn detect_probes_jk_b_and_jk_pb_slaves_only_as_allowed() {
    let jk = sim("jk", &[]);
    let out = cmd("bms-poll")
        .args(["--detect", "--listen", "0s", "-p", "jk", &jk.path])
        .assert()
        .success();
    let recs = records(&out.get_output().stdout);
    assert_eq!(recs[0]["protocol"], "jk");
    assert_eq!(recs[0]["info"]["manufacturer"], "JK");
    let dir = TempDir::new("bms-poll-detect-jkpb-slaves");
    let log = dir.path("rx.log");
    let s = sim("jk-pb", &["--slaves", "--rx-log", log.to_str().unwrap()]);
    // A silent bus: the probe is an FC03 read unless triggering is allowed (a cold bus does
    // not answer it).
    cmd("bms-poll")
        .args(["--detect", "--listen", "0s", "-p", "jk-pb", &s.path])
        .assert()
        .code(1);
    assert_eq!(received(&log), ["01 03 14 00 00 14 40 35"]);
    let out = cmd("bms-poll")
        .args([
            "--detect",
            "--listen",
            "0s",
            "-p",
            "jk-pb",
            "--jk-trigger",
            &s.path,
        ])
        .assert()
        .success();
    let recs = records(&out.get_output().stdout);
    assert_eq!(recs[0]["protocol"], "jk-pb");
    assert_eq!(recs[0]["address"], 1);
    assert_eq!(recs[0]["info"]["model"], "JK_PB2A16S20P");
}

/// The published JK-PB records of protocols.md §15.1 (testdata/jk-pb/section15.hex) as a bus
/// capture, played into a pseudo-terminal: a master asking pack 1 for its about, settings and
/// live records. bms-poll hears them through the whole tool: identity from the about record,
/// the settings joined to the live reading, the published decode.
#[test]
fn jk_pb_hears_the_published_records_from_a_capture() {
    let hex = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/jk-pb/section15.hex"),
    )
    .unwrap();
    let recs: Vec<Vec<u8>> = hex
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| hex::decode(l).unwrap())
        .collect();
    let (about, settings, live) = (&recs[0], &recs[1], &recs[2]);
    let trig = |reg: u8, crc: [u8; 2]| [1, 0x10, 0x16, reg, 0, 1, 2, 0, 0, crc[0], crc[1]];
    let mut cycle = Vec::new();
    cycle.extend(trig(0x1C, [0xD3, 0xCD]));
    cycle.extend(about); // record and ack
    cycle.extend(trig(0x1E, [0xD2, 0x2F]));
    cycle.extend(settings);
    cycle.extend(trig(0x20, [0xD6, 0xF1]));
    cycle.extend(live);
    cycle.extend(hex::decode("011016200001044B").unwrap());
    let dir = TempDir::new("bms-poll-jkpb-capture");
    let capture = dir.path("bus.bin");
    std::fs::write(&capture, cycle.repeat(40)).unwrap();
    let (_replay, port) = crate::common::replay(&capture, 115_200);
    let out = cmd("bms-poll")
        .args(["-p", "jk-pb", "--count", "2", &port])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 2);
    let reading = &r[1];
    assert_eq!(reading["device"], "31213480085");
    assert_eq!(reading["info"]["model"], "JK_PB2A16S15P");
    assert_eq!(reading["info"]["firmware"], "15.10");
    let f = &reading["fields"];
    assert_eq!(f["pack_voltage"], 53.224);
    assert_eq!(f["pack_current"], 31.881);
    assert_eq!(f["soc"], 25);
    assert_eq!(f["cell_count"], 16);
    assert_eq!(f["cell_voltage_max"], 3.337);
    assert_eq!(
        f["temperatures"],
        serde_json::json!([13.4, 12.8, 20.5, 19.5, 19.1])
    );
    assert_eq!(f["design_capacity_ah"], 220.0);
    assert_eq!(reading["raw"]["charge_ut_dc"], -100);
}

#[test]
fn jk_pb_listens_through_a_tcp_gateway() {
    let s = Sim::start_printing(
        &[
            "jk-pb",
            "--tcp",
            "127.0.0.1:0",
            "--address",
            "4",
            "--cycle",
            "200ms",
        ],
        "tcp://",
    );
    let out = cmd("bms-poll")
        .args(["-p", "jk-pb", "-a", "4", "--count", "2", &s.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 2);
    for reading in &r {
        assert!(
            reading["device"].as_str().unwrap().ends_with("-4"),
            "{reading}"
        );
        assert_eq!(reading["fields"]["cell_count"], 16);
    }
}

#[test]
fn jk_pb_listening_is_not_mixed_with_polling_and_the_master_is_never_asked() {
    let dir = TempDir::new("bms-poll-jkpb-usage");
    let conf = dir.path("packs.toml");
    std::fs::write(
        &conf,
        "[[pack]]\nprotocol = \"jbd\"\nport = \"/dev/ttyUSB0\"\n\n[[pack]]\nprotocol = \"jk-pb\"\nport = \"/dev/ttyUSB1\"\naddress = 2\n",
    )
    .unwrap();
    cmd("bms-poll")
        .args(["--once", "--config"])
        .arg(&conf)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("run one bms-poll for each"));
    cmd("bms-poll")
        .args(["-p", "jk-pb", "--jk-trigger", "-a", "0,1", "/dev/ttyUSB9"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "address 0 is the JK-PB bus master",
        ));
    cmd("bms-poll")
        .args([
            "-p",
            "jk-pb",
            "--jk-trigger",
            "--jk-modbus-read",
            "/dev/ttyUSB9",
        ])
        .assert()
        .code(2);
}

#[test]
fn seplos_packs_reading_identity_faults_and_no_writes() {
    let dir = TempDir::new("bms-poll-seplos");
    let log = dir.path("writes.log");
    let s = sim(
        "seplos",
        &[
            "--address",
            "0,1",
            "--cells",
            "15",
            "--fault",
            "1:cell_ov",
            "--write-log",
            log.to_str().unwrap(),
        ],
    );
    let out = cmd("bms-poll")
        .args(["--protocol", "seplos", "-a", "0,1", "--once", &s.path])
        .assert()
        .success();
    let out = out.get_output();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = readings(&out.stdout);
    assert_eq!(r.len(), 2);
    let devices: Vec<&str> = r.iter().map(|r| r["device"].as_str().unwrap()).collect();
    assert_eq!(
        devices,
        [format!("{}-0", label(&s)), format!("{}-1", label(&s))]
    );
    for reading in &r {
        assert_eq!(reading["source"], "seplos");
        let f = &reading["fields"];
        let cells = f["cell_voltages"].as_array().unwrap();
        assert_eq!(cells.len(), 15);
        let sum: f64 = cells.iter().map(|c| c.as_f64().unwrap()).sum();
        let v = f["pack_voltage"].as_f64().unwrap();
        assert!((sum - v).abs() < 0.02, "cells {sum} vs pack {v}");
        assert_eq!(f["temperatures"].as_array().unwrap().len(), 4);
        assert!(f["temperature_mos"].is_number() && f["port_voltage"].is_number());
        assert_eq!(f["capacity_ah"], 100.0);
        assert_eq!(f["soh"], 100.0);
        assert_eq!(reading["info"]["model"], "SP16-SIM");
        assert_eq!(reading["info"]["manufacturer"], "Seplos");
    }
    assert_eq!(r[0]["fields"]["warning_cell_ov"], false);
    assert_eq!(r[0]["fields"]["charge_fet"], true);
    assert_eq!(r[1]["fields"]["warning_cell_ov"], true);
    assert_eq!(r[1]["fields"]["charge_fet"], false);
    no_writes(&log);
}

#[test]
fn detect_tells_a_seplos_board_from_a_pylontech_pack() {
    let dir = TempDir::new("bms-poll-detect-seplos");
    let logs: Vec<_> = (0..2).map(|i| dir.path(&format!("w{i}.log"))).collect();
    // A Seplos board at DIP address 2 answers the Pylontech probe with VER 0x20 too.
    let seplos = sim(
        "seplos",
        &["--address", "0,2", "--write-log", logs[0].to_str().unwrap()],
    );
    let pylontech = sim("pylontech", &["--write-log", logs[1].to_str().unwrap()]);
    let out = cmd("bms-poll")
        .args(["--detect", "--listen", "0s", &seplos.path, &pylontech.path])
        .assert()
        .success();
    let out = out.get_output();
    let recs = records(&out.stdout);
    let got: Vec<(&str, u64)> = recs
        .iter()
        .map(|r| {
            (
                r["protocol"].as_str().unwrap(),
                r["address"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("seplos", 0), ("pylontech", 2)], "{recs:?}");
    assert_eq!(recs[0]["baud"], 19200);
    for l in &logs {
        no_writes(l);
    }
}

#[test]
fn pace_packs_reading_identity_faults_and_no_writes() {
    let dir = TempDir::new("bms-poll-pace");
    let log = dir.path("writes.log");
    let s = sim(
        "pace",
        &[
            "--address",
            "0,1",
            "--fault",
            "1:pack_ov",
            "--serial-tag",
            "P",
            "--write-log",
            log.to_str().unwrap(),
        ],
    );
    let out = cmd("bms-poll")
        .args(["--protocol", "pace", "-a", "0,1", "--once", &s.path])
        .assert()
        .success();
    let out = out.get_output();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = readings(&out.stdout);
    assert_eq!(r.len(), 2);
    for (i, reading) in r.iter().enumerate() {
        assert_eq!(reading["source"], "pace");
        assert_eq!(reading["info"]["serial"], format!("SIM-P-{i:02}"));
        assert_eq!(reading["info"]["hardware"], "P16S100A-SIM-1.00");
        let f = &reading["fields"];
        let cells = f["cell_voltages"].as_array().unwrap();
        assert_eq!(cells.len(), 16);
        let sum: f64 = cells.iter().map(|c| c.as_f64().unwrap()).sum();
        let v = f["pack_voltage"].as_f64().unwrap();
        assert!((sum - v).abs() < 0.02, "cells {sum} vs pack {v}");
        // Six probes in K x 10, decoded to plausible room temperatures.
        let t = f["temperatures"].as_array().unwrap();
        assert_eq!(t.len(), 6);
        assert!(t
            .iter()
            .all(|t| (10.0..40.0).contains(&t.as_f64().unwrap())));
        assert_eq!(f["design_capacity_ah"], 100.0);
    }
    assert_eq!(r[0]["fields"]["warning_pack_ov"], false);
    assert_eq!(r[1]["fields"]["warning_pack_ov"], true);
    no_writes(&log);
}

#[test]
fn detect_finds_a_pace_board_on_its_console_address() {
    let dir = TempDir::new("bms-poll-detect-pace");
    let log = dir.path("w.log");
    let s = sim(
        "pace",
        &["--address", "1", "--write-log", log.to_str().unwrap()],
    );
    let out = cmd("bms-poll")
        .args(["--detect", "--listen", "0s", "-p", "pace", &s.path])
        .assert()
        .success();
    let recs = records(&out.get_output().stdout);
    assert_eq!(recs[0]["protocol"], "pace");
    assert_eq!(recs[0]["address"], 1);
    assert_eq!(recs[0]["info"]["hardware"], "P16S100A-SIM-1.00");
    no_writes(&log);
}

#[test]
fn seplos3_at_the_broadcast_address_and_through_modbus_tcp() {
    let dir = TempDir::new("bms-poll-seplos3");
    let log = dir.path("writes.log");
    let s = sim(
        "seplos3",
        &["--cells", "15", "--write-log", log.to_str().unwrap()],
    );
    let out = cmd("bms-poll")
        .args(["--protocol", "seplos3", "--once", &s.path])
        .assert()
        .success();
    let out = out.get_output();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = readings(&out.stdout);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["source"], "seplos3");
    // The identity block's serial names the device (the simulator's serials are SIM-tag-ADDR).
    let serial = r[0]["info"]["serial"].as_str().unwrap();
    assert!(
        serial.starts_with("SIM-") && serial.ends_with("-00"),
        "{serial}"
    );
    assert_eq!(r[0]["device"], serial.to_lowercase());
    assert_eq!(r[0]["info"]["model"], "SP16S200A-SIM");
    assert_eq!(r[0]["info"]["manufacturer"], "XZH-ElecTech Co.,Ltd");
    assert_eq!(r[0]["info"]["firmware"], "1.2");
    let f = &r[0]["fields"];
    assert_eq!(f["cell_voltages"].as_array().unwrap().len(), 15);
    assert_eq!(f["temperatures"].as_array().unwrap().len(), 4);
    assert_eq!(f["charge_fet"], true);
    assert_eq!(f["design_capacity_ah"], 100.0);
    // Detection finds it at 0 (-p: the other families' probes would take their timeouts).
    let out = cmd("bms-poll")
        .args(["--detect", "--listen", "0s", "-p", "seplos3", &s.path])
        .assert()
        .success();
    let recs = records(&out.get_output().stdout);
    assert_eq!(
        (recs[0]["protocol"].as_str(), recs[0]["address"].as_u64()),
        (Some("seplos3"), Some(0))
    );
    no_writes(&log);
    // Two packs behind a Modbus TCP gateway, one with its MOSFETs off.
    let mb = Sim::start_printing(
        &[
            "seplos3",
            "-a",
            "1,2",
            "--fault",
            "2:fets_off",
            "--modbus-tcp",
            "127.0.0.1:0",
        ],
        "modbus-tcp://",
    );
    let out = cmd("bms-poll")
        .args(["-p", "seplos3", "-a", "1,2", "--once", &mb.path])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    // The two packs, then the master's system reading (slave 0).
    assert_eq!(r.len(), 3);
    assert_ne!(r[0]["device"], r[1]["device"]);
    assert_eq!(r[0]["fields"]["charge_fet"], true);
    assert_eq!(r[1]["fields"]["charge_fet"], false);
    assert_eq!(r[2]["fields"]["packs_total"], 2);
    assert_eq!(r[2]["fields"]["charge_fet"], false);
    assert!(r[2]["device"].as_str().unwrap().ends_with("-0"), "{}", r[2]);
    // An ASCII family has no Modbus TCP mode.
    cmd("bms-sim")
        .args(["seplos", "--modbus-tcp", "127.0.0.1:0"])
        .assert()
        .code(2);
}

/// `bms-poll -v -p pylontech -a 2,3` for three cycles against a simulated bank whose pack 3
/// has the simulator fault `fault`: the readings, stderr and the --capture file as text.
fn pylontech_bank_with_a_fault(fault: &str) -> (Vec<serde_json::Value>, String, String) {
    let dir = TempDir::new(&format!("bms-poll-{fault}"));
    let capture = dir.path("capture.log");
    let fault = format!("3:{fault}");
    let s = sim(
        "pylontech",
        &["--address", "2,3", "--cells", "15", "--fault", &fault],
    );
    let out = cmd("bms-poll")
        .args([
            "-v",
            "-p",
            "pylontech",
            "-a",
            "2,3",
            "--count",
            "3",
            "--interval",
            "0",
        ])
        .arg("--capture")
        .arg(&capture)
        .arg(&s.path)
        .assert()
        .success();
    let out = out.get_output();
    let cap = String::from_utf8_lossy(&std::fs::read(&capture).unwrap()).into_owned();
    (
        readings(&out.stdout),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        cap,
    )
}

#[test]
fn a_command_answered_with_rtn_04_is_not_sent_again() {
    let (r, err, cap) = pylontech_bank_with_a_fault("unsupported_0x92");
    assert_eq!(r.len(), 6);
    for reading in &r {
        let has_limits = reading["fields"].get("charge_voltage_limit").is_some();
        assert_eq!(
            has_limits,
            reading["device"].as_str().unwrap().ends_with("-02")
        );
    }
    // Said once, at the first refusal; 0x92 went to pack 3 once and to pack 2 every cycle.
    assert_eq!(
        err.matches("CID2 invalid: the pack does not support charge/discharge management")
            .count(),
        1,
        "{err}"
    );
    let sent92 = |req: &str| cap.matches(req).count();
    assert_eq!(sent92("~20024692E00202FD2E\r"), 3, "{cap}");
    assert_eq!(sent92("~20034692E00203FD2C\r"), 1, "{cap}");
}

/// `--help` names every protocol of the family table, in the table's (detection) order: the
/// list is prose, so a family added to the table without it fails here.
#[test]
fn help_lists_every_protocol_in_detection_order() {
    let out = cmd("bms-poll").arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut names = bmstap::family::names();
    names.push("auto");
    let want = names.join(", ");
    assert!(
        help.contains(&format!(
            "Protocols (--protocol): {want} (detect, then poll)"
        )),
        "the examples' protocol list is not {want}:\n{help}"
    );
    assert!(
        help.contains(&format!(
            "{}, or auto (detect, then poll)",
            &want[..want.len() - 6]
        )),
        "the --protocol help is not {want}:\n{help}"
    );
}
/// `--pylontech-group`: one 0x42 `INFO FF` to the master per cycle gives a reading per module,
/// each its own device (ids from the packs' own serials, read per pack); a module the master
/// leaves out of its reply gets a status record like an unanswered pack.
#[test]
fn pylontech_group_reads_every_module_with_one_request_per_cycle() {
    let dir = TempDir::new("bms-poll-pylontech-group");
    let log = dir.path("writes.log");
    let capture = dir.path("capture.log");
    let s = sim(
        "pylontech",
        &[
            "--address",
            "2-5",
            "--cells",
            "15",
            "--silent",
            "5",
            "--write-log",
            log.to_str().unwrap(),
        ],
    );
    let out = cmd("bms-poll")
        .args([
            "-p",
            "pylontech",
            "--pylontech-group",
            "-a",
            "2-5",
            "--count",
            "3",
            "--interval",
            "0",
            "--timeout",
            "300ms",
            "--emit-errors",
        ])
        .arg("--capture")
        .arg(&capture)
        .arg(&s.path)
        .assert()
        .code(1);
    let recs = records(&out.get_output().stdout);
    let l = label(&s);
    let mut seen: Vec<(String, String)> = recs
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_string(),
                r["device"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 12, "{recs:?}");
    seen.sort();
    seen.dedup();
    let devices: Vec<&str> = seen.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(devices.len(), 4, "{seen:?}");
    for (kind, device) in &seen {
        if kind == "status" {
            assert_eq!(device, &format!("{l}-5"));
        } else {
            assert_eq!(kind, "reading");
            assert!(device.starts_with("sim-"), "{device}");
        }
    }
    for r in recs.iter().filter(|r| r["type"] == "status") {
        let e = r["error"].as_str().unwrap();
        assert!(e.contains("not in the group reply"), "{e}");
    }
    for r in recs.iter().filter(|r| r["type"] == "reading") {
        let f = &r["fields"];
        assert_eq!(f["cell_voltages"].as_array().unwrap().len(), 15);
        assert_eq!(r["info"]["model"], "US3000C");
        assert!(f.get("charge_voltage_limit").is_none(), "{f}");
        // The 0x47 settings, read per pack with its identity, come in group mode too.
        assert_eq!(f["setting_cell_voltage_high"], 3.6, "{f}");
    }
    // One 0x42 FF per cycle; no per-pack 0x42, 0x44 or 0x92 at all.
    let cap = String::from_utf8_lossy(&std::fs::read(&capture).unwrap()).into_owned();
    assert_eq!(cap.matches("~20024642E002FFFD09\r").count(), 3, "{cap}");
    for adr in 2..=5 {
        for cid2 in ["42", "44", "92"] {
            let single = format!("~20{adr:02X}46{cid2}E002{adr:02X}");
            assert_eq!(cap.matches(&single).count(), 0, "{single}");
        }
    }
    no_writes(&log);
}

/// Seplos v3 packs behind a master: besides each pack's reading, the master's system blocks
/// (0x2000, 0x2100 as 0x16 registers, the 0x2200 coils) at slave 0 give one bank reading per cycle, device
/// PORT-0, consistent with the packs; readings-bank does not count it as a pack.
#[test]
fn seplos3_bank_gives_a_system_reading_that_readings_bank_does_not_count() {
    let dir = TempDir::new("bms-poll-seplos3-bank");
    let log = dir.path("writes.log");
    let capture = dir.path("capture.log");
    let s = sim(
        "seplos3",
        &[
            "-a",
            "1-3",
            "--cells",
            "16",
            "--write-log",
            log.to_str().unwrap(),
        ],
    );
    let out = cmd("bms-poll")
        .args([
            "-p",
            "seplos3",
            "-a",
            "1-3",
            "--count",
            "2",
            "--interval",
            "0",
        ])
        .arg("--capture")
        .arg(&capture)
        .arg(&s.path)
        .assert()
        .success();
    let out = out.get_output();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = readings(&out.stdout);
    assert_eq!(r.len(), 8);
    let l = label(&s);
    let system: Vec<&serde_json::Value> = r
        .iter()
        .filter(|x| x["device"] == format!("{l}-0"))
        .collect();
    assert_eq!(system.len(), 2);
    for cycle in r.chunks(4) {
        let sys = &cycle[3]["fields"];
        assert_eq!(cycle[3]["device"], format!("{l}-0"));
        assert_eq!(sys["packs_total"], 3);
        let amps: f64 = cycle[..3]
            .iter()
            .map(|p| p["fields"]["pack_current"].as_f64().unwrap())
            .sum();
        let volts: f64 = cycle[..3]
            .iter()
            .map(|p| p["fields"]["pack_voltage"].as_f64().unwrap())
            .sum::<f64>()
            / 3.0;
        assert!(
            (sys["pack_current"].as_f64().unwrap() - amps).abs() < 0.5,
            "{sys} vs {amps}"
        );
        assert!(
            (sys["pack_voltage"].as_f64().unwrap() - volts).abs() < 0.05,
            "{sys} vs {volts}"
        );
        assert!(sys["cell_temperature_avg"].is_number(), "{sys}");
        assert!(sys["soc"].is_number() && sys["soh"].is_number(), "{sys}");
        assert_eq!(sys["charge_fet"], true, "{sys}");
    }
    // What was sent: EIA and EIB (0x16 registers) to slave 0, once per cycle each.
    let cap = std::fs::read(&capture).unwrap();
    let sent = |req: &[u8]| cap.windows(req.len()).filter(|w| *w == req).count();
    assert_eq!(sent(&[0x00, 0x04, 0x20, 0x00, 0x00, 0x1A, 0x7B, 0xD0]), 2);
    assert_eq!(sent(&[0x00, 0x04, 0x21, 0x00, 0x00, 0x16, 0x7A, 0x29]), 2);
    assert_eq!(sent(&[0x00, 0x04, 0x21, 0x00, 0x00, 0x1A]), 0);
    assert_eq!(sent(&[0x00, 0x01, 0x22, 0x00, 0x00, 0x50, 0x37, 0x9F]), 2);
    no_writes(&log);
    // readings-bank: a bank of three packs, the system reading passed through beside it.
    let banked = cmd("readings-bank")
        .write_stdin(out.stdout.clone())
        .assert()
        .success();
    let b = readings(&banked.get_output().stdout);
    let banks: Vec<&serde_json::Value> = b.iter().filter(|x| x["source"] == "bank").collect();
    assert!(!banks.is_empty(), "{b:?}");
    for bank in banks {
        assert_eq!(bank["fields"]["packs_total"], 3, "{bank}");
    }
    assert_eq!(
        b.iter().filter(|x| x["device"] == format!("{l}-0")).count(),
        2
    );
}

/// Detection asks a Pylontech master for its whole group (one 0x42 INFO FF more) and reports
/// every module as a pack of its own, with its own identity; with --address it asks only
/// those addresses.
#[test]
fn detect_finds_every_module_behind_a_pylontech_master() {
    let dir = TempDir::new("bms-poll-detect-pylontech-group");
    let log = dir.path("w.log");
    let s = sim(
        "pylontech",
        &["-a", "2-5", "--write-log", log.to_str().unwrap()],
    );
    let out = cmd("bms-poll")
        .args(["--detect", "--listen", "0s", "-p", "pylontech", &s.path])
        .assert()
        .success();
    let out = out.get_output();
    let recs = records(&out.stdout);
    let got: Vec<(u64, String)> = recs
        .iter()
        .map(|r| {
            assert_eq!(r["protocol"], "pylontech");
            (
                r["address"].as_u64().unwrap(),
                r["info"]["serial"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let addresses: Vec<u64> = got.iter().map(|(a, _)| *a).collect();
    assert_eq!(addresses, [2, 3, 4, 5], "{recs:?}");
    for (a, serial) in &got {
        assert!(serial.ends_with(&format!("-{a:02}")), "{serial}");
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bms-poll --protocol pylontech --address 2,3,4,5"),
        "{err}"
    );
    let out = cmd("bms-poll")
        .args([
            "--detect",
            "--listen",
            "0s",
            "-p",
            "pylontech",
            "-a",
            "2",
            &s.path,
        ])
        .assert()
        .success();
    assert_eq!(records(&out.get_output().stdout).len(), 1);
    no_writes(&log);
}

/// Seplos v3 packs without a master answering at slave 0: the system read is tried three
/// times, then not again until the port is reopened; the packs' readings are unaffected and
/// the run succeeds (no status record for a device the user did not list and that never
/// answered).
#[test]
fn seplos3_packs_without_a_master_are_polled_as_before() {
    let dir = TempDir::new("bms-poll-seplos3-no-master");
    let capture = dir.path("capture.log");
    let s = sim("seplos3", &["-a", "1,2", "--silent", "0"]);
    let out = cmd("bms-poll")
        .args([
            "-p",
            "seplos3",
            "-a",
            "1,2",
            "--count",
            "5",
            "--interval",
            "0",
            "--timeout",
            "200ms",
            "--emit-errors",
            "-v",
        ])
        .arg("--capture")
        .arg(&capture)
        .arg(&s.path)
        .assert()
        .success();
    let out = out.get_output();
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 10, "{recs:?}");
    assert!(recs.iter().all(|r| r["type"] == "reading"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("not asked again").count(), 1, "{err}");
    let cap = std::fs::read(&capture).unwrap();
    let eia = [0x00, 0x04, 0x20, 0x00, 0x00, 0x1A, 0x7B, 0xD0];
    assert_eq!(cap.windows(8).filter(|w| *w == eia).count(), 3);
}

#[test]
fn pylontech_system_parameters_are_read_once_per_connection() {
    let (r, err, cap) = pylontech_bank_with_a_fault("unsupported_0x47");
    assert_eq!(r.len(), 6);
    for reading in &r {
        let f = &reading["fields"];
        if reading["device"].as_str().unwrap().ends_with("-02") {
            assert_eq!(f["setting_cell_voltage_high"], 3.6);
            assert_eq!(f["setting_pack_voltage_high"], 54.0);
            assert_eq!(f["setting_charge_temperature_high"], 55.0);
            assert_eq!(f["setting_discharge_temperature_low"], -10.0);
            assert_eq!(f["setting_discharge_current"], 37.0);
        } else {
            // Pack 3 answers RTN 04: its readings come without the settings.
            assert!(f.get("setting_cell_voltage_high").is_none(), "{f}");
            assert!(f.get("pack_voltage").is_some());
        }
    }
    // 0x47 went once to each pack: with the identity, not every cycle; the refusal is said.
    assert!(
        err.contains("CID2 invalid: the pack does not support system parameters (0x47)"),
        "{err}"
    );
    assert_eq!(cap.matches("~20024647E00202FD2E\r").count(), 1, "{cap}");
    assert_eq!(cap.matches("~20034647E00203FD2C\r").count(), 1, "{cap}");
}

/// PACE's configured thresholds (the odd reads 0xD1-0xDF, protocols.md §14.5) are read once
/// per connection with the identity and added to every reading of the pack; a pack answering
/// them with RTN 04 just reads without them. None of their even neighbours (the writes) is sent.
#[test]
fn pace_thresholds_are_read_once_per_connection() {
    let dir = TempDir::new("bms-poll-pace-thresholds");
    let capture = dir.path("capture.log");
    let log = dir.path("writes.log");
    let s = sim(
        "pace",
        &[
            "--address",
            "0,1",
            "--fault",
            "1:unsupported_thresholds",
            "--write-log",
            log.to_str().unwrap(),
        ],
    );
    let out = cmd("bms-poll")
        .args([
            "-v",
            "-p",
            "pace",
            "-a",
            "0,1",
            "--count",
            "3",
            "--interval",
            "0",
        ])
        .arg("--capture")
        .arg(&capture)
        .arg(&s.path)
        .assert()
        .success();
    let out = out.get_output();
    let err = String::from_utf8_lossy(&out.stderr);
    let cap = String::from_utf8_lossy(&std::fs::read(&capture).unwrap()).into_owned();
    let r = readings(&out.stdout);
    assert_eq!(r.len(), 6);
    for reading in &r {
        let f = &reading["fields"];
        assert!(f.get("pack_voltage").is_some(), "{f}");
        if reading["device"].as_str().unwrap().ends_with("-00") {
            // 16 LFP cells: the simulator's levels, pack levels 16 x the cell ones.
            assert_eq!(f["setting_cell_voltage_high"], 3.6);
            assert_eq!(f["setting_cell_voltage_high_protection"], 3.7);
            assert_eq!(f["setting_cell_voltage_under"], 2.5);
            assert_eq!(f["setting_pack_voltage_high"], 57.6);
            assert_eq!(f["setting_pack_voltage_low"], 44.8);
            assert_eq!(f["setting_discharge_current"], 105.0);
            assert_eq!(f["setting_charge_current_protection"], 110.0);
            assert_eq!(f["setting_charge_temperature_high"], 51.0);
            assert_eq!(f["setting_discharge_temperature_low_protection"], -20.0);
        } else {
            assert!(f.get("setting_cell_voltage_high").is_none(), "{f}");
        }
    }
    assert!(
        err.contains("CID2 invalid: the pack does not support cell over-voltage settings (0xD1)"),
        "{err}"
    );
    // Each threshold read went once to each pack, without INFO.
    for (q0, q1) in [
        ("~250046D10000FD9A\r", "~250146D10000FD99\r"),
        ("~250046DF0000FD85\r", "~250146DF0000FD84\r"),
    ] {
        assert_eq!(cap.matches(q0).count(), 1, "{cap}");
        assert_eq!(cap.matches(q1).count(), 1, "{cap}");
    }
    no_writes(&log);
}
