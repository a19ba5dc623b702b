//! readings-to-mqtt's delivery rules (readings.md, Delivery) against real mosquitto brokers:
//! a replay delivered whole and in order at QoS 0 and 1, a broker stopped for 10 s under a
//! steady stream, a queue that overflows while the broker is away, and a site broker bridged
//! to a central one. The subscribers are real MQTT clients with persistent sessions on brokers
//! with persistence, so that what the broker accepted while a subscriber was away still
//! reaches it: what is checked is what readings-to-mqtt handed over.
//!
//! The test brokers lift mosquitto's per-subscriber queue limit (`max_queued_messages 0`):
//! that limit drops messages between the broker and a slow subscriber, which is the broker's
//! business, not the bridge's.

use crate::common::{cmd, std_cmd, Guard, TempDir};
use crate::readings_to_mqtt::have;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// True when mosquitto is there; under CI its absence fails the test, elsewhere it is
/// skipped loudly.
fn need_mosquitto() -> bool {
    if have("mosquitto") {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "mosquitto is required under CI"
    );
    eprintln!("SKIPPED: this test needs mosquitto (apt-get install mosquitto)");
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A mosquitto with persistence, its configuration and database in `dir`.
pub(crate) struct Mosq {
    pub(crate) port: u16,
    conf: PathBuf,
    guard: Option<Guard>,
}

impl Mosq {
    pub(crate) fn start(dir: &TempDir, name: &str, extra: &str) -> Mosq {
        let port = free_port();
        let data = dir.path(name);
        std::fs::create_dir_all(&data).unwrap();
        // mosquitto started as root runs as the user `mosquitto`: it must be able to save.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
        let conf = dir.path(&format!("{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n\
                 persistence true\npersistence_location {}/\n{extra}",
                data.display()
            ),
        )
        .unwrap();
        let mut m = Mosq {
            port,
            conf,
            guard: None,
        };
        m.restart();
        m
    }

    pub(crate) fn restart(&mut self) {
        self.guard = Some(Guard::spawn(
            Command::new("mosquitto")
                .arg("-c")
                .arg(&self.conf)
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

    /// A clean stop (SIGTERM): mosquitto saves its database (sessions, queued and retained
    /// messages) and closes every connection.
    pub(crate) fn stop(&mut self) {
        if let Some(mut g) = self.guard.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(g.id() as libc::pid_t, libc::SIGTERM) };
            let _ = g.wait();
        }
    }
}

/// A subscriber with a persistent session: `seqs` collects the `cycle_count` of every reading
/// on the topic, as it arrives, across broker restarts.
pub(crate) struct Sub {
    pub(crate) seqs: Arc<Mutex<Vec<u64>>>,
}

impl Sub {
    pub(crate) fn start(port: u16, topic: &str) -> Sub {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let id = format!(
            "sub-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_clean_session(false);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut conn) = rumqttc::Client::new(o, 16);
        client.subscribe(topic, rumqttc::QoS::AtLeastOnce).unwrap();
        let seqs = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let out = seqs.clone();
        let topic = topic.to_string();
        std::thread::spawn(move || {
            let _client = client;
            for ev in conn.iter() {
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Incoming::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Incoming::Publish(p)))
                        if p.topic == topic =>
                    {
                        let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
                        let seq = v["fields"]["cycle_count"].as_u64().unwrap();
                        out.lock().unwrap().push(seq);
                    }
                    Ok(_) => {}
                    // The broker is away: rumqttc reconnects as the iteration goes on.
                    Err(_) => std::thread::sleep(Duration::from_millis(200)),
                }
            }
        });
        ready
            .recv_timeout(Duration::from_secs(20))
            .expect("subscribed");
        Sub { seqs }
    }

    /// Waits until `n` distinct readings arrived (or 120 s passed) and returns them as they
    /// arrived.
    pub(crate) fn wait(&self, n: usize) -> Vec<u64> {
        let t = Instant::now();
        loop {
            let got = self.seqs.lock().unwrap().clone();
            if in_order(&got).len() >= n || t.elapsed() > Duration::from_secs(120) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The readings as delivered at least once: each is newer than every one before it, or a
/// repeat (QoS 1 sends again what was not acknowledged when a connection broke). Panics on a
/// reading that overtook an older one. Returns the first deliveries.
pub(crate) fn in_order(seqs: &[u64]) -> Vec<u64> {
    let mut firsts: Vec<u64> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for &s in seqs {
        if firsts.last().is_none_or(|&m| s > m) {
            firsts.push(s);
            seen.insert(s);
        } else {
            assert!(seen.contains(&s), "reading {s} overtook an older one");
        }
    }
    firsts
}

/// Reading `seq` of one of 8 devices; `cycle_count` carries the sequence number, `pad` makes
/// it the size of a real one.
pub(crate) fn reading(seq: u64, pad: usize) -> String {
    format!(
        "{{\"type\":\"reading\",\"ts\":\"2026-11-21T14:03:07.512Z\",\"source\":\"lp4\",\
         \"device\":\"pack-{}\",\"fields\":{{\"pack_voltage\":53.1,\"soc\":{},\"cycle_count\":{seq}}},\
         \"raw\":{{\"pad\":\"{}\"}}}}\n",
        seq % 8,
        seq % 100,
        "x".repeat(pad)
    )
}

/// A running readings-to-mqtt: its stdin, and its stderr lines as they come.
pub(crate) struct Running {
    pub(crate) guard: Guard,
    pub(crate) stdin: Option<std::process::ChildStdin>,
    pub(crate) err: Arc<Mutex<String>>,
}

impl Running {
    pub(crate) fn start(port: u16, extra: &[&str]) -> Running {
        let mut g = Guard::spawn(
            std_cmd("readings-to-mqtt")
                .args(["--port", &port.to_string(), "--stats"])
                .args(extra)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let stdin = g.stdin.take();
        let err = Arc::new(Mutex::new(String::new()));
        let stderr = g.stderr.take().unwrap();
        let e = err.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut e = e.lock().unwrap();
                e.push_str(&line);
                e.push('\n');
            }
        });
        Running {
            guard: g,
            stdin,
            err,
        }
    }

    pub(crate) fn write(&mut self, text: &str) {
        self.stdin
            .as_mut()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    pub(crate) fn wait_err(&self, what: &str) {
        let t = Instant::now();
        while !self.err.lock().unwrap().contains(what) {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no '{what}' on stderr: {}",
                self.err.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes stdin and waits for the exit status and the whole of stderr.
    pub(crate) fn finish(mut self) -> (Option<i32>, String) {
        drop(self.stdin.take());
        let status = self.guard.wait().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let err = self.err.lock().unwrap().clone();
        (status.code(), err)
    }
}

/// The `--stats` counter `name` in stderr.
pub(crate) fn stat(err: &str, name: &str) -> u64 {
    let line = err
        .lines()
        .find(|l| l.contains("stats:"))
        .unwrap_or_else(|| panic!("no stats line: {err}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .parse()
        .unwrap()
}

/// Retained messages under `filter` (mosquitto_sub), topic → payload.
fn retained(port: u16, filter: &str) -> HashMap<String, String> {
    let out = Command::new("mosquitto_sub")
        .args(["-p", &port.to_string(), "-t", filter, "--retained-only"])
        .args(["-W", "2", "-v"])
        .output()
        .expect("mosquitto_sub");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(t, p)| (t.to_string(), p.to_string()))
        .collect()
}

#[test]
fn replay_of_100000_readings_of_8_devices_arrives_whole_and_in_order_at_qos_0_and_1() {
    if !need_mosquitto() {
        return;
    }
    let dir = TempDir::new("mqtt-replay");
    let file = dir.path("readings.ndjson");
    let mut text = String::new();
    for seq in 0..100_000 {
        text.push_str(&reading(seq, 0));
    }
    std::fs::write(&file, text).unwrap();
    for qos in ["0", "1"] {
        let broker = Mosq::start(&dir, &format!("q{qos}"), "");
        let sub = Sub::start(broker.port, "bms/readings");
        let out = cmd("readings-to-mqtt")
            .args(["--port", &broker.port.to_string(), "--qos", qos])
            .args(["--json-topic", "bms/readings", "--stats"])
            .pipe_stdin(&file)
            .unwrap()
            .timeout(Duration::from_secs(600))
            .assert()
            .success();
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert_eq!(stat(&err, "json_published"), 100_000, "QoS {qos}: {err}");
        assert_eq!(stat(&err, "readings_dropped"), 0);
        assert_eq!(stat(&err, "records_read"), 100_000);
        let got = sub.wait(100_000);
        assert_eq!(got.len(), 100_000, "QoS {qos}: every reading once");
        assert!(
            got.iter().copied().eq(0..100_000),
            "QoS {qos}: in input order"
        );
    }
}

#[test]
fn broker_stopped_for_10_s_under_100_readings_a_second_loses_nothing() {
    if !need_mosquitto() {
        return;
    }
    let dir = TempDir::new("mqtt-outage");
    let mut broker = Mosq::start(&dir, "b", "");
    let sub = Sub::start(broker.port, "bms/readings");
    let mut bridge = Running::start(broker.port, &["--json-topic", "bms/readings"]);
    let mut seq = 0u64;
    let mut feed = |bridge: &mut Running, secs: u64| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            bridge.write(&reading(seq, 600));
            seq += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    feed(&mut bridge, 2);
    broker.stop();
    bridge.wait_err("connection lost");
    feed(&mut bridge, 10);
    broker.restart();
    feed(&mut bridge, 2);
    let total = seq;
    let (code, err) = bridge.finish();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(stat(&err, "readings_dropped"), 0);
    assert_eq!(stat(&err, "json_published"), total);
    let got = in_order(&sub.wait(total as usize));
    assert_eq!(got.len() as u64, total, "every reading");
    assert!(got.iter().copied().eq(0..total));
    // Each device's newest state is retained.
    let states = retained(broker.port, "bmstap/+/state");
    for dev in 0..8 {
        let newest = (0..total).rev().find(|s| s % 8 == dev).unwrap();
        let s: serde_json::Value =
            serde_json::from_str(&states[&format!("bmstap/pack-{dev}/state")]).unwrap();
        assert_eq!(s["cycle_count"], newest, "pack-{dev}");
    }
}

#[test]
fn queue_overflow_while_the_broker_is_away_drops_the_oldest_counts_them_and_exits_1() {
    if !need_mosquitto() {
        return;
    }
    let dir = TempDir::new("mqtt-overflow");
    let mut broker = Mosq::start(&dir, "b", "");
    let sub = Sub::start(broker.port, "bms/readings");
    let mut bridge = Running::start(
        broker.port,
        &["--json-topic", "bms/readings", "--queue", "50"],
    );
    for seq in 0..20 {
        bridge.write(&reading(seq, 1000));
    }
    assert_eq!(in_order(&sub.wait(20)).len(), 20);
    broker.stop();
    bridge.wait_err("connection lost");
    // 2 MB while the broker is away: more than the pipe holds, so most of it has been read
    // (and most of it dropped) when the write returns.
    for seq in 20..2020 {
        bridge.write(&reading(seq, 1000));
    }
    broker.restart();
    let (code, err) = bridge.finish();
    assert_eq!(code, Some(1), "{err}");
    let dropped = stat(&err, "readings_dropped");
    assert!(dropped > 0, "{err}");
    assert!(
        err.contains(&format!("{dropped} reading(s) dropped")),
        "a warning says how many: {err}"
    );
    let got = in_order(&sub.wait(2020 - dropped as usize));
    assert_eq!(got.len() as u64 + dropped, 2020, "dropped = missing");
    // The missing ones are the oldest of the outage.
    let expect = (0..20).chain(20 + dropped..2020);
    assert!(got.iter().copied().eq(expect), "{got:?}");
}

/// A site broker installed as docs/deployment.md says: Debian's mosquitto.conf (persistence
/// on, `include_dir conf.d`) and the shipped scripts/mosquitto/site-bridge.conf in conf.d,
/// with only the values the file says to change (its port, the central address and CA) set
/// for the test. The central broker takes the bridge over TLS with the file's credentials.
fn site_broker(dir: &TempDir, central_tls_port: u16, ca: &Path) -> Mosq {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/mosquitto/site-bridge.conf"
    ))
    .unwrap();
    let port = free_port();
    let mut changed = 0;
    let conf: String = example
        .lines()
        .map(|l| {
            let to = match l {
                "listener 1883 127.0.0.1" => format!("listener {port} 127.0.0.1"),
                "address central.example.net:8883" => {
                    format!("address 127.0.0.1:{central_tls_port}")
                }
                "bridge_cafile /etc/mosquitto/certs/central-ca.pem" => {
                    format!("bridge_cafile {}", ca.display())
                }
                _ => return l.to_string() + "\n",
            };
            changed += 1;
            to + "\n"
        })
        .collect();
    assert_eq!(changed, 3, "the example's port, address and CA lines");
    let confd = dir.path("site-conf.d");
    let data = dir.path("site");
    for d in [&confd, &data] {
        std::fs::create_dir_all(d).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::fs::write(confd.join("bmstap-site-bridge.conf"), conf).unwrap();
    let main = dir.path("site-mosquitto.conf");
    std::fs::write(
        &main,
        format!(
            "persistence true\npersistence_location {}/\ninclude_dir {}\n",
            data.display(),
            confd.display()
        ),
    )
    .unwrap();
    let mut m = Mosq {
        port,
        conf: main,
        guard: None,
    };
    m.restart();
    m
}

/// A CA, a certificate for 127.0.0.1 and a password file with the example's credentials,
/// for the central broker's TLS listener; returns its config lines and the CA's path.
fn central_tls(dir: &TempDir, tls_port: u16) -> (String, PathBuf) {
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
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bmstap-test-ca 2>/dev/null");
    sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null");
    sh("printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext 2>/dev/null");
    sh("mosquitto_passwd -c -b passwords site-17 change-me && chmod 0644 passwords server.key");
    let p = |n: &str| dir.path(n).display().to_string();
    (
        format!(
            "password_file {}\nlistener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
            p("passwords"),
            p("ca.crt"),
            p("server.crt"),
            p("server.key")
        ),
        dir.path("ca.crt"),
    )
}

#[test]
fn site_broker_bridged_to_a_central_one_delivers_every_reading_in_order_after_a_10_s_outage() {
    if !need_mosquitto() || !have("mosquitto_sub") || !have("mosquitto_passwd") || !have("openssl")
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "mosquitto_sub, mosquitto_passwd and openssl are needed under CI"
        );
        return;
    }
    let dir = TempDir::new("mqtt-sites");
    let tls_port = free_port();
    let (tls, ca) = central_tls(&dir, tls_port);
    let mut central = Mosq::start(&dir, "central", &tls);
    let site = site_broker(&dir, tls_port, &ca);
    let sub = Sub::start(central.port, "sites/site-17/bms/readings");
    // The bridge announces itself on the central broker once connected.
    let up = Command::new("mosquitto_sub")
        .args(["-p", &central.port.to_string()])
        .args(["-t", "sites/site-17/bridge/state", "-C", "1", "-W", "30"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&up.stdout).trim(), "1", "bridge up");
    let mut bridge = Running::start(site.port, &["--json-topic", "bms/readings"]);
    let mut seq = 0u64;
    // Ten readings a second.
    let mut feed = |bridge: &mut Running, secs: u64| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            bridge.write(&reading(seq, 600));
            seq += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    feed(&mut bridge, 2);
    central.stop();
    feed(&mut bridge, 10);
    central.restart();
    feed(&mut bridge, 2);
    let total = seq;
    let (code, err) = bridge.finish();
    assert_eq!(code, Some(0), "the site broker was there all along: {err}");
    let got = in_order(&sub.wait(total as usize));
    assert_eq!(
        got.len() as u64,
        total,
        "every reading reached the central broker"
    );
    assert!(got.iter().copied().eq(0..total), "in order");
}
