//! readings-to-mqtt against a real broker on a free loopback port, never a mock client:
//! mosquitto when it is on PATH, else an in-process rumqttd so `cargo test` exercises the
//! bridge on a fresh machine too. Under CI (CI=true), which installs mosquitto, there is no
//! fallback. Messages are checked with a real MQTT client (rumqttc).

use crate::common::{bin_path, cmd, std_cmd, Guard, TempDir};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LP4: &str = include_str!("../testdata/lp4/wombatt-status.ndjson");
const E7: &str = include_str!("../testdata/eg4-7e/powermon-status.ndjson");
const EFLEX: &str = include_str!("../testdata/eflex/conftest-battery2.ndjson");

pub(crate) struct Broker {
    pub(crate) port: u16,
    guard: Option<Guard>,
    /// An in-process rumqttd (no mosquitto on this machine).
    in_process: bool,
}

pub(crate) fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_port(port: u16) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the broker did not start on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Broker {
    pub(crate) fn start() -> Option<Broker> {
        let port = free_port();
        if !have("mosquitto") {
            if std::env::var_os("CI").is_some() {
                panic!("mosquitto is required under CI (.ci/run installs it); no fallback there");
            }
            eprintln!("NOTE: mosquitto not on PATH: using an in-process rumqttd broker");
            start_rumqttd(port);
            return Some(Broker {
                port,
                guard: None,
                in_process: true,
            });
        }
        let mut b = Broker {
            port,
            guard: None,
            in_process: false,
        };
        b.restart();
        Some(b)
    }

    /// Tests that need mosquitto itself (stopping it, its TLS and password configuration).
    pub(crate) fn mosquitto() -> Option<Broker> {
        let b = Broker::start()?;
        if b.in_process {
            eprintln!("SKIPPED: this test needs mosquitto (apt-get install mosquitto)");
            return None;
        }
        Some(b)
    }

    fn restart(&mut self) {
        self.guard = Some(Guard::spawn(
            Command::new("mosquitto")
                .args(["-p", &self.port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        ));
        wait_port(self.port);
    }

    fn stop(&mut self) {
        self.guard = None;
    }

    /// A test client.
    fn client(&self) -> (rumqttc::Client, rumqttc::Connection) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let id = format!(
            "test-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", self.port);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(1 << 20, 1 << 20);
        rumqttc::Client::new(o, 16)
    }

    /// Subscribes to `filter` and collects messages until `n` have arrived or `wait` passed
    /// since the subscription was acknowledged (retained ones arrive first). Calls `ready`
    /// once subscribed.
    fn collect(
        &self,
        filter: &str,
        n: usize,
        wait: Duration,
        ready: impl FnOnce(),
    ) -> Vec<(String, String, bool)> {
        let (client, mut conn) = self.client();
        client.subscribe(filter, rumqttc::QoS::AtLeastOnce).unwrap();
        let mut got = Vec::new();
        let mut ready = Some(ready);
        let mut deadline = Instant::now() + Duration::from_secs(20);
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match conn.recv_timeout(left) {
                Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::SubAck(_)))) => {
                    deadline = Instant::now() + wait;
                    if let Some(r) = ready.take() {
                        r();
                    }
                }
                Ok(Ok(rumqttc::Event::Incoming(rumqttc::Incoming::Publish(p)))) => {
                    got.push((
                        p.topic.clone(),
                        String::from_utf8_lossy(&p.payload).into_owned(),
                        p.retain,
                    ));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("test client: {e}"),
                Err(_) => break,
            }
        }
        let _ = client.disconnect();
        got
    }

    /// Payloads published on `topic` after subscribing (`start` runs once subscribed), until
    /// `n` arrived or `wait` passed.
    pub(crate) fn collect_on(
        &self,
        topic: &str,
        n: usize,
        wait: Duration,
        start: impl FnOnce(),
    ) -> Vec<String> {
        self.collect(topic, n, wait, start)
            .into_iter()
            .filter(|(t, _, retained)| t == topic && !retained)
            .map(|(_, p, _)| p)
            .collect()
    }

    /// Retained messages under `filter`, as (topic, payload).
    pub(crate) fn retained(&self, filter: &str) -> Vec<(String, String)> {
        self.collect(filter, usize::MAX, Duration::from_millis(700), || {})
            .into_iter()
            .filter(|(_, _, retained)| *retained)
            .map(|(t, p, _)| (t, p))
            .collect()
    }

    pub(crate) fn get(&self, topic: &str) -> Option<String> {
        self.retained(topic)
            .into_iter()
            .find(|(t, _)| t == topic)
            .map(|(_, p)| p)
    }

    pub(crate) fn json(&self, topic: &str) -> serde_json::Value {
        serde_json::from_str(
            &self
                .get(topic)
                .unwrap_or_else(|| panic!("nothing retained on {topic}")),
        )
        .unwrap()
    }

    pub(crate) fn bridge(&self, extra: &[&str]) -> assert_cmd::Command {
        let mut c = cmd("readings-to-mqtt");
        c.args(["--port", &self.port.to_string(), "--connect-timeout", "10s"])
            .args(extra);
        c
    }

    fn publish(&self, topic: &str, payload: &str) {
        let (client, mut conn) = self.client();
        client
            .publish(
                topic,
                rumqttc::QoS::AtLeastOnce,
                false,
                payload.as_bytes().to_vec(),
            )
            .unwrap();
        for ev in conn.iter() {
            if let Ok(rumqttc::Event::Incoming(rumqttc::Incoming::PubAck(_))) = ev {
                break;
            }
            ev.unwrap();
        }
        let _ = client.disconnect();
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
    // A clean end says so (not only a crash, through the last will).
    assert_eq!(
        b.get("bmstap/bridge/availability").as_deref(),
        Some("offline")
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
        b.json("homeassistant/device/bmstap_lifepower-1/config")["cmps"]["temperature_mos"]
            ["unit_of_meas"],
        "°C"
    );
    let e = b.json("homeassistant/device/bmstap_2205075e0604/config");
    assert_eq!(e["dev"]["mf"], "Fortress Power");
    assert_eq!(e["dev"]["sn"], "2205075E0604");
    assert_eq!(e["cmps"]["system_average_voltage"]["dev_cla"], "voltage");
    // eFlex's inferred temperatures and limits, like any other field
    assert_eq!(e["cmps"]["temperature_06"]["dev_cla"], "temperature");
    assert_eq!(e["cmps"]["temperature_bms"]["unit_of_meas"], "°C");
    assert_eq!(e["cmps"]["charge_current_limit"]["dev_cla"], "current");
    assert_eq!(e["cmps"]["charge_enable"]["p"], "binary_sensor");
    assert!(e["cmps"]["charge_enable"].get("dev_cla").is_none());
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

/// A broker name that does not resolve ends the tool at once with 75 (not after
/// --connect-timeout of silent retries).
#[test]
fn a_broker_name_that_does_not_resolve_exits_75_at_once() {
    cmd("readings-to-mqtt")
        .args([
            "--host",
            "no-such-broker.invalid",
            "--connect-timeout",
            "10m",
        ])
        .write_stdin(LP4)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(75)
        .stderr(predicates::str::contains(
            "cannot resolve broker 'no-such-broker.invalid'",
        ));
}

/// A first connection that takes a while is said on stderr at the default level.
#[test]
fn a_slow_first_connection_says_connecting() {
    // A listener that never answers CONNECT.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    cmd("readings-to-mqtt")
        .args(["--port", &port.to_string(), "--connect-timeout", "3s"])
        .write_stdin(LP4)
        .assert()
        .code(75)
        .stderr(predicates::str::contains(format!(
            "connecting to localhost:{port}: no answer yet"
        )));
    drop(l);
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
    let got = b.collect(topic, 2, Duration::from_secs(20), || {
        b.publish("homeassistant/status", "online")
    });
    assert_eq!(
        got.len(),
        2,
        "retained copy and the new announcement: {got:?}"
    );
    assert!(
        got[0].2 && !got[1].2,
        "the second one is new, not the retained copy"
    );
}

#[test]
fn broker_restart_loses_nothing_acknowledged() {
    let Some(mut b) = Broker::mosquitto() else {
        return;
    };
    let (mut g, mut stdin, mut err) = running_bridge(&b, &[]);
    stdin.write_all(LP4.as_bytes()).unwrap();
    wait_until(
        || b.get("bmstap/lifepower4-2/state").is_some(),
        "the first state",
    );
    b.stop(); // mosquitto gone (no persistence: retained messages too)
    wait_for(&mut err, "connection lost");
    // Ten seconds without a broker, a reading a second (the issue's outage): only the newest
    // per device is kept.
    let down = Instant::now();
    for soc in 42..=52 {
        stdin
            .write_all(
                LP4.replace("\"soc\":97", &format!("\"soc\":{soc}"))
                    .as_bytes(),
            )
            .unwrap();
        if soc == 47 {
            stdin.write_all(EFLEX.as_bytes()).unwrap();
        }
        std::thread::sleep(Duration::from_secs(1).saturating_sub(Duration::from_millis(50)));
    }
    assert!(down.elapsed() >= Duration::from_secs(10));
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
        Some("offline"),
        "ended cleanly"
    );
}

#[test]
fn password_file_and_json_topic() {
    let Some(b) = Broker::start() else { return };
    let dir = TempDir::new("mqtt-pw");
    let pw = dir.path("secret");
    std::fs::write(&pw, "hunter2\n").unwrap();
    // The test broker allows anonymous clients; credentials are still sent and must not
    // break the connection.
    let pw_s = pw.to_str().unwrap().to_string();
    let got = b.collect("eflex/all", 1, Duration::from_secs(20), || {
        b.bridge(&[
            "--username",
            "bms",
            "--password-file",
            &pw_s,
            "--json-topic",
            "eflex/all",
            "--no-discovery",
        ])
        .write_stdin(EFLEX)
        .assert()
        .success();
    });
    let line = format!("{}\n", got.first().expect("the JSON topic message").1);
    assert_eq!(line, EFLEX, "published as read");
    assert!(b
        .get("homeassistant/device/bmstap_2205075e0604/config")
        .is_none());
}

/// TLS with a test CA and password authentication (mosquitto refuses anonymous clients).
#[test]
fn tls_with_a_test_ca_and_password_auth() {
    if Broker::mosquitto().is_none() {
        return;
    }
    if !have("openssl") || !have("mosquitto_passwd") || !have("mosquitto_sub") {
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
    let holder = std::cell::RefCell::new(None);
    let got = b.collect("eflex/all", 1, Duration::from_secs(20), || {
        let (g, mut stdin, err) = running_bridge(
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
        holder.replace(Some((g, stdin, err)));
    });
    let line = got.first().expect("the array").1.clone();
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
    // A clean end on SIGTERM: `offline` published before the disconnect.
    assert_eq!(
        b.get("bmstap/bridge/availability").as_deref(),
        Some("offline")
    );
}

/// An in-process rumqttd on `port` (loopback only), for machines without mosquitto.
fn start_rumqttd(port: u16) {
    let config = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 100
max_outgoing_packet_count = 200
max_segment_size = 10485760
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 1048576
    max_inflight_count = 200
    dynamic_filters = true
"#
    );
    let config: rumqttd::Config = toml::from_str(&config).expect("rumqttd config");
    std::thread::spawn(move || {
        let mut broker = rumqttd::Broker::new(config);
        let _ = broker.start();
    });
    wait_port(port);
}

#[test]
fn remove_clears_every_retained_topic_of_a_device() {
    let Some(b) = Broker::start() else { return };
    b.bridge(&[])
        .write_stdin(format!("{LP4}{EFLEX}"))
        .assert()
        .success();
    let topics = [
        "homeassistant/device/bmstap_lifepower4-2/config",
        "bmstap/lifepower4-2/state",
        "bmstap/lifepower4-2/availability",
    ];
    for t in topics {
        assert!(b.get(t).is_some(), "{t} retained before");
    }
    b.bridge(&["--remove", "lifepower4-2"])
        .write_stdin("")
        .assert()
        .success();
    let left: Vec<String> = b
        .retained("#")
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| t.contains("lifepower4-2"))
        .collect();
    assert!(left.is_empty(), "still retained: {left:?}");
    assert!(
        b.get("bmstap/2205075e0604/state").is_some(),
        "the other device stays"
    );
    b.bridge(&["--remove", "Bad/Id"]).assert().code(2);
}

#[test]
fn home_assistant_entities_have_precision_categories_and_a_problem_summary() {
    let out = cmd("readings-to-mqtt")
        .arg("--print-discovery")
        .write_stdin(format!("{LP4}{E7}"))
        .assert()
        .success();
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.get_output().stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let config = |dev: &str| {
        lines
            .iter()
            .find(|l| l["topic"] == format!("homeassistant/device/bmstap_{dev}/config"))
            .unwrap()["payload"]["cmps"]
            .clone()
    };
    let c = config("lifepower4-2");
    assert_eq!(c["cell_01_voltage"]["sug_dsp_prc"], 3);
    assert_eq!(c["pack_voltage"]["sug_dsp_prc"], 2);
    assert_eq!(c["cell_count"]["ent_cat"], "diagnostic");
    assert_eq!(c["state"]["dev_cla"], "enum");
    assert!(c["state"]["exp_aft"].is_u64());
    assert_eq!(c["problem"]["dev_cla"], "problem");
    assert_eq!(c["soc"]["def_ent_id"], "sensor.lifepower4_2_soc");
    let e = config("lifepower-1");
    assert_eq!(
        e["protection_overcurrent"]["name"],
        "Protection over-current"
    );
    assert_eq!(
        e["protection_overvoltage"]["name"],
        "Protection over-voltage"
    );
    let state = lines
        .iter()
        .find(|l| l["topic"] == "bmstap/lifepower4-2/state")
        .unwrap();
    assert_eq!(state["payload"]["problems"], "none");
    assert_eq!(state["payload"]["problem"], false);
}

/// Issue 20: the time estimates take turns with the sign of the current, and a device's
/// components are the union of its keys, so sign changes announce nothing again. Against
/// mosquitto: every state is waited for before the next reading is written (each one is
/// worked out, none superseded), and every discovery message is counted.
#[test]
fn sign_changes_of_the_current_announce_nothing_again() {
    use rumqttc::{Event, Incoming, QoS};
    let Some(b) = Broker::mosquitto() else { return };
    let (client, mut conn) = b.client();
    client
        .subscribe("homeassistant/device/+/config", QoS::AtLeastOnce)
        .unwrap();
    client
        .subscribe("bmstap/+/state", QoS::AtLeastOnce)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(String, String)>();
    std::thread::spawn(move || {
        for ev in conn.iter() {
            let m = match ev {
                Ok(Event::Incoming(Incoming::Publish(p))) => (
                    p.topic.clone(),
                    String::from_utf8_lossy(&p.payload).into_owned(),
                ),
                Ok(Event::Incoming(Incoming::SubAck(_))) => ("suback".into(), String::new()),
                Ok(_) => continue,
                Err(_) => break,
            };
            if tx.send(m).is_err() {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a message within 20 s")
    };
    for _ in 0..2 {
        while next().0 != "suback" {}
    }
    let (_g, mut stdin, _err) = running_bridge(&b, &[]);
    let mut announced: std::collections::BTreeMap<String, Vec<serde_json::Value>> =
        Default::default();
    let devices = ["sign-1", "bank-1"];
    let changes = 24;
    for i in 0..changes {
        let charging = i % 2 == 0;
        let (current, estimate) = if charging {
            (5.5, "time_to_full")
        } else {
            (-5.5, "time_to_empty")
        };
        let soc = 40 + i;
        let pack = format!(
            r#"{{"type":"reading","ts":"2026-01-01T00:00:{i:02}.000Z","source":"lp4","device":"sign-1","fields":{{"pack_current":{current},"soc":{soc},"{estimate}":{},"warning_cell_ov":{}}}}}"#,
            3600 + i,
            i % 4 == 1
        );
        let bank = format!(
            r#"{{"type":"reading","ts":"2026-01-01T00:00:{i:02}.500Z","source":"bank","device":"bank-1","fields":{{"pack_current":{current},"soc":{soc},"{estimate}":{},"problem":{},"problems":"{}"}}}}"#,
            7200 + i,
            i % 4 == 1,
            if i % 4 == 1 {
                "sign-1: warning cell over-voltage"
            } else {
                "none"
            }
        );
        writeln!(stdin, "{pack}\n{bank}").unwrap();
        stdin.flush().unwrap();
        // Both devices' states of this reading, the discovery messages on the way counted.
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < devices.len() {
            let (topic, payload) = next();
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
            if let Some(dev) = topic
                .strip_prefix("homeassistant/device/bmstap_")
                .and_then(|t| t.strip_suffix("/config"))
            {
                announced.entry(dev.to_string()).or_default().push(v);
            } else if let Some(dev) = topic
                .strip_prefix("bmstap/")
                .and_then(|t| t.strip_suffix("/state"))
            {
                if v["soc"] == soc {
                    assert!(v.get(estimate).is_some(), "{dev}: {v}");
                    seen.insert(dev.to_string());
                }
            }
        }
    }
    // Nothing more is on its way.
    while let Ok((topic, payload)) = rx.recv_timeout(Duration::from_millis(700)) {
        assert!(
            !topic.ends_with("/config"),
            "announced again after the last reading: {topic} {payload}"
        );
    }
    for dev in devices {
        let got = announced.get(dev).map_or(0, Vec::len);
        assert_eq!(
            got, 1,
            "{dev}: {changes} sign changes of the current, {got} discovery messages"
        );
        let cmps = &announced[dev][0]["cmps"];
        for k in ["time_to_full", "time_to_empty"] {
            let tpl = cmps[k]["val_tpl"].as_str().unwrap();
            assert!(tpl.ends_with("is defined else None }}"), "{dev} {k}: {tpl}");
        }
    }
    let bank = &announced["bank-1"][0];
    assert_eq!(bank["cmps"]["problems"]["name"], "Active problems");
    assert_eq!(bank["dev"]["name"], "bank-1");
    assert_eq!(bank["dev"]["mdl"], "Battery bank");
}
