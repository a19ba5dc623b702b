//! readings-to-mqtt against a real mosquitto on a free loopback port (never a mock client:
//! messages are checked with mosquitto_sub). Without mosquitto these tests say so loudly and
//! pass, except under CI (CI=true), which installs it and must not skip them.

use crate::common::{bin_path, cmd, std_cmd, Guard, TempDir};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LP4: &str = include_str!("../testdata/lp4/wombatt-status.ndjson");
const E7: &str = include_str!("../testdata/eg4-7e/powermon-status.ndjson");
const EFLEX: &str = include_str!("../testdata/eflex/conftest-battery2.ndjson");

struct Broker {
    port: u16,
    guard: Option<Guard>,
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Broker {
    fn start() -> Option<Broker> {
        if !have("mosquitto") || !have("mosquitto_sub") {
            if std::env::var_os("CI").is_some() {
                panic!("mosquitto and mosquitto_sub are required under CI (.ci/run installs them)");
            }
            eprintln!("SKIPPED: mosquitto not on PATH; install it (apt-get install mosquitto mosquitto-clients) to run the MQTT tests");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut b = Broker { port, guard: None };
        b.restart();
        Some(b)
    }

    fn restart(&mut self) {
        self.guard = Some(Guard::spawn(
            Command::new("mosquitto")
                .args(["-p", &self.port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        ));
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "mosquitto did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        self.guard = None;
    }

    /// Retained messages under `filter`, as (topic, payload).
    fn retained(&self, filter: &str) -> Vec<(String, String)> {
        let out = Command::new("mosquitto_sub")
            .args([
                "-p",
                &self.port.to_string(),
                "-t",
                filter,
                "-v",
                "--retained-only",
                "-W",
                "2",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(t, p)| (t.to_string(), p.to_string()))
            })
            .collect()
    }

    fn get(&self, topic: &str) -> Option<String> {
        self.retained(topic)
            .into_iter()
            .find(|(t, _)| t == topic)
            .map(|(_, p)| p)
    }

    fn json(&self, topic: &str) -> serde_json::Value {
        serde_json::from_str(
            &self
                .get(topic)
                .unwrap_or_else(|| panic!("nothing retained on {topic}")),
        )
        .unwrap()
    }

    fn bridge(&self, extra: &[&str]) -> assert_cmd::Command {
        let mut c = cmd("readings-to-mqtt");
        c.args(["--port", &self.port.to_string(), "--connect-timeout", "10s"])
            .args(extra);
        c
    }

    fn publish(&self, topic: &str, payload: &str) {
        let st = Command::new("mosquitto_pub")
            .args(["-p", &self.port.to_string(), "-t", topic, "-m", payload])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

#[test]
fn every_source_state_discovery_and_availability() {
    let Some(b) = Broker::start() else { return };
    let input = format!("{LP4}{E7}{EFLEX}");
    let out = b.bridge(&[]).write_stdin(input).assert().success();
    assert!(
        out.get_output().stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.get_output().stderr)
    );
    assert_eq!(
        b.get("bmstap/bridge/availability").as_deref(),
        Some("online")
    );
    // LP4: flattened state and typed discovery.
    let s = b.json("bmstap/lifepower4-2/state");
    assert_eq!(s["pack_voltage"], 53.66);
    assert_eq!(s["cell_16_voltage"], 3.354);
    assert_eq!(s["temperature_04"], 24);
    assert_eq!(s["warning_cell_ov"], false);
    let d = b.json("homeassistant/device/bmstap_lifepower4-2/config");
    assert_eq!(d["stat_t"], "bmstap/lifepower4-2/state");
    assert_eq!(d["cmps"]["soc"]["dev_cla"], "battery");
    assert_eq!(d["cmps"]["pack_current"]["unit_of_meas"], "A");
    assert_eq!(d["cmps"]["cell_01_voltage"]["dev_cla"], "voltage");
    assert_eq!(d["cmps"]["protection_short_circuit"]["p"], "binary_sensor");
    assert_eq!(d["cmps"]["cycle_count"]["stat_cla"], "total_increasing");
    assert_eq!(d["cmps"]["pack_voltage"]["exp_aft"], 60);
    assert_eq!(d["o"]["name"], "bmstap");
    assert_eq!(
        b.get("bmstap/lifepower4-2/availability").as_deref(),
        Some("online")
    );
    // eg4-7e and eFlex.
    assert_eq!(b.json("bmstap/lifepower-1/state")["soc"], 89.7);
    assert_eq!(
        b.json("homeassistant/device/bmstap_lifepower-1/config")["cmps"]["temperature_06"]
            ["unit_of_meas"],
        "°C"
    );
    let e = b.json("homeassistant/device/bmstap_2205075e0604/config");
    assert_eq!(e["dev"]["mf"], "Fortress Power");
    assert_eq!(e["dev"]["sn"], "2205075E0604");
    assert_eq!(e["cmps"]["system_average_voltage"]["dev_cla"], "voltage");
    assert_eq!(
        b.json("bmstap/2205075e0604/state")["lifetime_discharge_energy"],
        144138
    );
}

#[test]
fn status_record_takes_a_device_offline_and_bad_lines_are_counted() {
    let Some(b) = Broker::start() else { return };
    let status = r#"{"type":"status","ts":"2026-11-21T14:03:08.514Z","source":"lp4","device":"lifepower4-2","error":"timeout after 1000 ms"}"#;
    let input = format!("{LP4}not json\n{{\"type\":\"reading\",\"device\":\"Bad/Id\",\"fields\":{{}}}}\n\n\u{0}\n{status}\n");
    let out = b.bridge(&[]).write_stdin(input).assert().code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("stdin:2: not JSON"), "{err}");
    assert!(err.contains("stdin:3: device id \"Bad/Id\""), "{err}");
    assert!(err.contains("stdin:5:"), "{err}");
    assert_eq!(
        b.get("bmstap/lifepower4-2/availability").as_deref(),
        Some("offline")
    );
    assert_eq!(b.json("bmstap/lifepower4-2/state")["soc"], 97);
}

#[test]
fn unreachable_broker_exits_75() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cmd("readings-to-mqtt")
        .args(["--port", &port.to_string(), "--connect-timeout", "1s"])
        .write_stdin(LP4)
        .assert()
        .code(75)
        .stderr(
            predicates::str::contains("unreachable").or(predicates::str::contains("no connection")),
        );
}

use predicates::prelude::PredicateBooleanExt;

/// A running bridge whose stdin the test feeds.
fn running_bridge(
    b: &Broker,
    extra: &[&str],
) -> (
    Guard,
    std::process::ChildStdin,
    BufReader<std::process::ChildStderr>,
) {
    let mut g = Guard::spawn(
        std_cmd("readings-to-mqtt")
            .args(["-v", "--port", &b.port.to_string()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let stdin = g.stdin.take().unwrap();
    let mut err = BufReader::new(g.stderr.take().unwrap());
    wait_for(&mut err, "connected");
    (g, stdin, err)
}

fn wait_for(err: &mut BufReader<std::process::ChildStderr>, what: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "bridge ended before '{what}'"
        );
        if line.contains(what) {
            return;
        }
    }
}

fn wait_until(mut ok: impl FnMut() -> bool, what: &str) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn last_will_marks_the_bridge_offline() {
    let Some(b) = Broker::start() else { return };
    let (mut g, mut stdin, _err) = running_bridge(&b, &["--keep-alive", "5s"]);
    stdin.write_all(LP4.as_bytes()).unwrap();
    wait_until(|| b.get("bmstap/lifepower4-2/state").is_some(), "the state");
    assert_eq!(
        b.get("bmstap/bridge/availability").as_deref(),
        Some("online")
    );
    let _ = g.kill(); // no DISCONNECT: the broker publishes the will
    let _ = g.wait();
    wait_until(
        || b.get("bmstap/bridge/availability").as_deref() == Some("offline"),
        "the last will",
    );
}

#[test]
fn home_assistant_restart_triggers_a_new_announcement() {
    let Some(b) = Broker::start() else { return };
    let (_g, mut stdin, _err) = running_bridge(&b, &[]);
    stdin.write_all(LP4.as_bytes()).unwrap();
    let topic = "homeassistant/device/bmstap_lifepower4-2/config";
    wait_until(|| b.get(topic).is_some(), "discovery");
    let mut sub = Guard::spawn(
        Command::new("mosquitto_sub")
            .args([
                "-p",
                &b.port.to_string(),
                "-t",
                topic,
                "-C",
                "2",
                "-W",
                "30",
            ])
            .stdout(Stdio::piped()),
    );
    std::thread::sleep(Duration::from_millis(300)); // subscribed: the retained copy is the first
    b.publish("homeassistant/status", "online");
    let out = BufReader::new(sub.stdout.take().unwrap());
    let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
    assert_eq!(lines.len(), 2, "retained copy and the new announcement");
}

#[test]
fn broker_restart_loses_nothing_acknowledged() {
    let Some(mut b) = Broker::start() else { return };
    let (mut g, mut stdin, mut err) = running_bridge(&b, &[]);
    stdin.write_all(LP4.as_bytes()).unwrap();
    wait_until(
        || b.get("bmstap/lifepower4-2/state").is_some(),
        "the first state",
    );
    b.stop(); // mosquitto gone (no persistence: retained messages too)
    wait_for(&mut err, "connection lost");
    // Newer readings while the broker is away: only the newest per device is kept.
    for soc in [50, 51, 52] {
        stdin
            .write_all(
                LP4.replace("\"soc\":97", &format!("\"soc\":{soc}"))
                    .as_bytes(),
            )
            .unwrap();
    }
    stdin.write_all(EFLEX.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    b.restart();
    drop(stdin); // end of input: everything must be delivered before exit 0
    let status = g.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(b.json("bmstap/lifepower4-2/state")["soc"], 52);
    assert!(
        b.get("homeassistant/device/bmstap_lifepower4-2/config")
            .is_some(),
        "discovery re-sent"
    );
    assert!(b
        .get("homeassistant/device/bmstap_2205075e0604/config")
        .is_some());
    assert_eq!(b.json("bmstap/2205075e0604/state")["soc"], 69);
    assert_eq!(
        b.get("bmstap/bridge/availability").as_deref(),
        Some("online")
    );
}

#[test]
fn password_file_and_json_topic() {
    let Some(b) = Broker::start() else { return };
    let dir = TempDir::new("mqtt-pw");
    let pw = dir.path("secret");
    std::fs::write(&pw, "hunter2\n").unwrap();
    // mosquitto's default local listener allows anonymous clients; credentials are still sent
    // and must not break the connection.
    let mut sub = Guard::spawn(
        Command::new("mosquitto_sub")
            .args([
                "-p",
                &b.port.to_string(),
                "-t",
                "eflex/all",
                "-C",
                "1",
                "-W",
                "30",
            ])
            .stdout(Stdio::piped()),
    );
    std::thread::sleep(Duration::from_millis(300));
    b.bridge(&[
        "--username",
        "bms",
        "--password-file",
        pw.to_str().unwrap(),
        "--json-topic",
        "eflex/all",
        "--no-discovery",
    ])
    .write_stdin(EFLEX)
    .assert()
    .success();
    let mut line = String::new();
    BufReader::new(sub.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, EFLEX, "published as read");
    assert!(b
        .get("homeassistant/device/bmstap_2205075e0604/config")
        .is_none());
}

/// TLS with a test CA and password authentication (mosquitto refuses anonymous clients).
#[test]
fn tls_with_a_test_ca_and_password_auth() {
    if Broker::start().is_none() {
        return;
    }
    if !have("openssl") || !have("mosquitto_passwd") {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl and mosquitto_passwd are needed under CI"
        );
        eprintln!("SKIPPED: openssl or mosquitto_passwd missing");
        return;
    }
    let dir = TempDir::new("mqtt-tls");
    let p = |n: &str| dir.path(n).to_str().unwrap().to_string();
    let sh = |script: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&dir.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bmstap-test-ca");
    sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost");
    sh("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext");
    sh("mosquitto_passwd -c -b passwords bms hunter2 && chmod 0644 passwords server.key");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.path("mosquitto.conf"),
        format!(
            "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nallow_anonymous false\npassword_file {}\n",
            p("ca.crt"),
            p("server.crt"),
            p("server.key"),
            p("passwords")
        ),
    )
    .unwrap();
    let _broker = Guard::spawn(
        Command::new("mosquitto")
            .args(["-c", &p("mosquitto.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "mosquitto with TLS did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(dir.path("secret"), "hunter2\n").unwrap();
    let port_s = port.to_string();
    let base = ["--host", "localhost", "--port", &port_s, "--tls"];
    // Right password: delivered.
    cmd("readings-to-mqtt")
        .args(base)
        .args([
            "--ca-file",
            &p("ca.crt"),
            "--username",
            "bms",
            "--password-file",
            &p("secret"),
        ])
        .write_stdin(LP4)
        .assert()
        .success();
    let out = Command::new("mosquitto_sub")
        .args([
            "-h",
            "localhost",
            "-p",
            &port_s,
            "--cafile",
            &p("ca.crt"),
            "-u",
            "bms",
            "-P",
            "hunter2",
        ])
        .args([
            "-t",
            "bmstap/lifepower4-2/state",
            "--retained-only",
            "-W",
            "3",
            "-C",
            "1",
        ])
        .output()
        .unwrap();
    let state: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the retained state over TLS");
    assert_eq!(state["soc"], 97);
    // The password from the environment works too; a wrong one is a configuration error.
    cmd("readings-to-mqtt")
        .args(base)
        .args(["--ca-file", &p("ca.crt"), "--username", "bms"])
        .args(["--connect-timeout", "10s"])
        .env("MQTT_PASSWORD", "hunter2")
        .write_stdin(LP4)
        .assert()
        .success();
    cmd("readings-to-mqtt")
        .args(base)
        .args(["--ca-file", &p("ca.crt"), "--username", "bms"])
        .args(["--connect-timeout", "10s"])
        .env("MQTT_PASSWORD", "wrong")
        .write_stdin(LP4)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("refused"));
    // A CA that did not sign the broker's certificate: never connects (75).
    cmd("readings-to-mqtt")
        .args(base)
        .args([
            "--ca-file",
            &p("server.crt"),
            "--username",
            "bms",
            "--connect-timeout",
            "2s",
        ])
        .env("MQTT_PASSWORD", "hunter2")
        .write_stdin(LP4)
        .assert()
        .code(75);
}

#[test]
fn print_discovery_needs_no_broker() {
    let out = cmd("readings-to-mqtt")
        .arg("--print-discovery")
        .write_stdin(format!("{LP4}{EFLEX}"))
        .assert()
        .success();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let topics: Vec<&str> = lines.iter().map(|l| l["topic"].as_str().unwrap()).collect();
    assert_eq!(
        topics,
        [
            "homeassistant/device/bmstap_lifepower4-2/config",
            "bmstap/lifepower4-2/availability",
            "bmstap/lifepower4-2/state",
            "homeassistant/device/bmstap_2205075e0604/config",
            "bmstap/2205075e0604/availability",
            "bmstap/2205075e0604/state",
        ]
    );
    assert!(lines.iter().all(|l| l["retain"] == true));
    assert_eq!(lines[2]["payload"]["soc"], 97);
}

#[test]
fn usage_help_version() {
    cmd("readings-to-mqtt")
        .args(["--qos", "2"])
        .assert()
        .code(2);
    cmd("readings-to-mqtt")
        .args(["--array-every", "2m"])
        .assert()
        .code(2);
    cmd("readings-to-mqtt")
        .args(["--tls"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--ca-file"));
    cmd("readings-to-mqtt")
        .args(["--password-file", "/nonexistent"])
        .write_stdin("")
        .assert()
        .code(2);
    cmd("readings-to-mqtt")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("Examples:"));
    cmd("readings-to-mqtt").arg("--version").assert().success();
    let _ = bin_path("readings-to-mqtt");
}

#[test]
fn tee_copies_input_and_min_interval_keeps_the_newest() {
    let Some(b) = Broker::start() else { return };
    let input: String = [97, 50, 51, 52]
        .iter()
        .map(|soc| LP4.replace("\"soc\":97", &format!("\"soc\":{soc}")))
        .collect();
    let out = b
        .bridge(&["--tee", "--min-interval", "1h"])
        .write_stdin(input.clone())
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        input,
        "--tee copies every record"
    );
    // At most one state per hour, but the newest is released at the end of input.
    assert_eq!(b.json("bmstap/lifepower4-2/state")["soc"], 52);
}

#[test]
fn array_every_publishes_every_devices_newest() {
    let Some(b) = Broker::start() else { return };
    let mut sub = Guard::spawn(
        Command::new("mosquitto_sub")
            .args([
                "-p",
                &b.port.to_string(),
                "-t",
                "eflex/all",
                "-C",
                "1",
                "-W",
                "30",
            ])
            .stdout(Stdio::piped()),
    );
    std::thread::sleep(Duration::from_millis(300));
    let (_g, mut stdin, _err) = running_bridge(
        &b,
        &[
            "--json-topic",
            "eflex/all",
            "--array-every",
            "500ms",
            "--no-discovery",
        ],
    );
    let older = LP4.replace("\"soc\":97", "\"soc\":10");
    stdin
        .write_all(format!("{older}{LP4}{EFLEX}").as_bytes())
        .unwrap();
    let mut line = String::new();
    BufReader::new(sub.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let array: Vec<serde_json::Value> = serde_json::from_str(&line).unwrap();
    assert_eq!(array.len(), 2, "one per device: {line}");
    let lp4 = array
        .iter()
        .find(|r| r["device"] == "lifepower4-2")
        .unwrap();
    assert_eq!(lp4["fields"]["soc"], 97, "the newest");
}

#[test]
fn sigterm_delivers_what_was_read() {
    let Some(b) = Broker::start() else { return };
    let (mut g, mut stdin, mut err) = running_bridge(&b, &[]);
    stdin.write_all(format!("{LP4}{EFLEX}").as_bytes()).unwrap();
    wait_until(
        || b.get("bmstap/2205075e0604/state").is_some(),
        "the states",
    );
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(g.id() as libc::pid_t, libc::SIGTERM) };
    wait_for(&mut err, "signal");
    let status = g.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "stdin still open, SIGTERM: a clean exit"
    );
    drop(stdin);
    // A clean disconnect: no last will.
    assert_eq!(
        b.get("bmstap/bridge/availability").as_deref(),
        Some("online")
    );
}
