//! readings-to-influx: line protocol on stdout, and `--url` into a real influxd (Debian's
//! influxdb 1.x) started by the tests on loopback ports.

use std::time::Duration;

const LP4: &str = include_str!("../testdata/lp4/wombatt-status.ndjson");
const LP4_LINE: &str = include_str!("../testdata/lp4/wombatt-status.lp");
const EFLEX: &str = include_str!("../testdata/eflex/conftest-battery2.ndjson");

pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_readings-to-influx")
}

fn cmd() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(bin());
    c.env_remove("RUST_LOG").env_remove("INFLUX_TOKEN");
    c.timeout(Duration::from_secs(120));
    c
}

#[test]
fn golden_reading_to_stdout() {
    cmd()
        .write_stdin(LP4)
        .assert()
        .success()
        .stdout(LP4_LINE)
        .stderr("");
}

#[test]
fn every_reading_one_line_with_the_model_tag() {
    let out = cmd()
        .write_stdin(EFLEX)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let readings = EFLEX.lines().filter(|l| l.contains("\"reading\"")).count();
    assert!(readings > 0);
    assert_eq!(text.lines().count(), readings);
    for l in text.lines() {
        assert!(
            l.starts_with("bmstap,device=2205075e0604,model=eFlex,source=eflex "),
            "{l}"
        );
    }
}

#[test]
fn measurement_and_precision() {
    cmd()
        .args(["--measurement", "bms pack", "--precision", "s"])
        .write_stdin(LP4)
        .assert()
        .success()
        .stdout(predicates::str::starts_with(
            "bms\\ pack,device=lifepower4-2,source=lp4 ",
        ))
        .stdout(predicates::str::ends_with(" 1666742400\n"));
    cmd()
        .args(["--measurement", ""])
        .write_stdin(LP4)
        .assert()
        .code(2);
}

#[test]
fn bad_lines_are_skipped_named_and_counted() {
    let input = format!("not json\n{LP4}{{\"type\":\"reading\",\"device\":\"d\",\"fields\":{{}},\"ts\":\"noon\"}}\n{{\"type\":\"status\",\"device\":\"d\"}}\n");
    cmd()
        .write_stdin(input)
        .assert()
        .code(1)
        .stdout(LP4_LINE)
        .stderr(predicates::str::contains("stdin:1: not JSON"))
        .stderr(predicates::str::contains(
            "stdin:3: \"ts\" missing or not an RFC 3339 time",
        ))
        .stderr(predicates::str::contains("2 input line(s) skipped"));
}

#[test]
fn closed_stdout_ends_quietly() {
    let input = LP4.repeat(20_000);
    let mut child = std::process::Command::new(bin())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(input.as_bytes());
    });
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- against a real influxd ----------------------------------------------------------------

use crate::common::{Guard, TempDir};
use bmstap::tsdb::http::{urlencode, Client, Url};
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Instant;

pub(crate) fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Is `tool` there? Under CI (which installs it) a missing one fails the test; elsewhere the
/// test is skipped, loudly.
pub(crate) fn require(tool: &str, package: &str) -> bool {
    if have(tool) {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{tool} is required under CI (.ci/run installs {package})");
    }
    eprintln!("SKIPPED: this test needs {tool} (apt-get install {package})");
    false
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `target` from 127.0.0.1:`port`; the status and the body.
pub(crate) fn get(port: u16, target: &str) -> Option<(u16, Vec<u8>)> {
    let url = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let mut c = Client::new(url, Duration::from_secs(10));
    c.send("GET", target, &[], b"")
        .ok()
        .map(|r| (r.status, r.body))
}

/// A private influxd (Debian's influxdb 1.x) on loopback ports, its data in a temp dir.
pub(crate) struct Influxd {
    pub(crate) port: u16,
    dir: TempDir,
    guard: Option<Guard>,
    /// Serving https with a certificate of our own CA (`ca.pem` in `dir`).
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Influxd {
    pub(crate) fn start(tag: &str) -> Option<Influxd> {
        Influxd::start_with(tag, false)
    }

    /// influxd with https: a CA and a certificate for 127.0.0.1 made with openssl.
    pub(crate) fn start_tls(tag: &str) -> Option<Influxd> {
        if !require("openssl", "openssl") {
            return None;
        }
        Influxd::start_with(tag, true)
    }

    fn start_with(tag: &str, https: bool) -> Option<Influxd> {
        if !require("influxd", "influxdb") {
            return None;
        }
        let dir = TempDir::new(&format!("influxd-{tag}"));
        let port = free_port();
        let d = dir.0.display();
        let mut tls = None;
        let mut https_conf = String::new();
        if https {
            let sh = |script: &str| {
                let out = Command::new("sh")
                    .arg("-c")
                    .arg(script)
                    .current_dir(&dir.0)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca                 -keyout ca.key -out ca.pem 2>/dev/null &&                 openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out req.pem 2>/dev/null &&                 printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > ext.cnf &&                 openssl x509 -req -in req.pem -CA ca.pem -CAkey ca.key -CAcreateserial -days 2                 -extfile ext.cnf -out cert.pem 2>/dev/null");
            tls = Some(bmstap::tsdb::http::tls_config(Some(&dir.path("ca.pem"))).unwrap());
            https_conf = format!(
                "  https-enabled = true\n  https-certificate = \"{d}/cert.pem\"\n  https-private-key = \"{d}/key.pem\"\n"
            );
        }
        let conf = format!(
            "reporting-enabled = false\n\
             bind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [monitor]\n  store-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n{https_conf}\
             [continuous_queries]\n  enabled = false\n",
            rpc = free_port()
        );
        std::fs::write(dir.path("influxdb.conf"), conf).unwrap();
        let mut s = Influxd {
            port,
            dir,
            guard: None,
            tls,
        };
        s.restart();
        s.query_post("CREATE DATABASE bms");
        Some(s)
    }

    pub(crate) fn restart(&mut self) {
        let log = std::fs::File::create(self.dir.path("influxd.log")).unwrap();
        self.guard = Some(Guard::spawn(
            Command::new("influxd")
                .arg("-config")
                .arg(self.dir.path("influxdb.conf"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        ));
        let t = Instant::now();
        while self.get("/ping").map(|r| r.0) != Some(204) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "influxd did not start: {}",
                std::fs::read_to_string(self.dir.path("influxd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn stop(&mut self) {
        self.guard = None;
    }

    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn client(&self) -> Client {
        let url = Url::parse(&self.url()).unwrap();
        match &self.tls {
            Some(t) => Client::with_tls(url, Duration::from_secs(10), t.clone()),
            None => Client::new(url, Duration::from_secs(10)),
        }
    }

    fn get(&self, target: &str) -> Option<(u16, Vec<u8>)> {
        self.client()
            .send("GET", target, &[], b"")
            .ok()
            .map(|r| (r.status, r.body))
    }

    fn query_post(&self, q: &str) {
        let mut c = self.client();
        let r = c
            .send(
                "POST",
                &format!("/query?q={}", urlencode(q)),
                &[("Content-Type", "application/x-www-form-urlencoded")],
                b"",
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    /// The rows of `q` on database bms as objects (column → value), times in ms.
    pub(crate) fn rows(&self, q: &str) -> Vec<serde_json::Map<String, Value>> {
        let (status, body) = self
            .get(&format!("/query?db=bms&epoch=ms&q={}", urlencode(q)))
            .expect("query");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        let mut out = Vec::new();
        for series in v["results"][0]["series"].as_array().into_iter().flatten() {
            let cols: Vec<&str> = series["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            for row in series["values"].as_array().unwrap() {
                let mut m = serde_json::Map::new();
                for (c, v) in cols.iter().zip(row.as_array().unwrap()) {
                    if !v.is_null() {
                        m.insert(c.to_string(), v.clone());
                    }
                }
                if let Some(tags) = series.get("tags").and_then(Value::as_object) {
                    for (k, v) in tags {
                        m.insert(k.clone(), v.clone());
                    }
                }
                out.push(m);
            }
        }
        out
    }

    pub(crate) fn count(&self, measurement: &str) -> u64 {
        self.rows(&format!("SELECT count(n) FROM \"{measurement}\""))
            .first()
            .and_then(|r| r.get("count"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    }
}

/// Reading number `i` of a synthetic stream: 4 devices, a reading a second each, `n` = i.
fn synthetic(i: u64) -> String {
    let ts = 1_700_000_000_000u64 + i * 250;
    let secs = ts / 1000;
    let days = secs / 86_400;
    // 2023-11-14 is day 19675 since the epoch
    assert!((19_675..19_675 + 16).contains(&days));
    let sod = secs % 86_400;
    let ts = format!(
        "2023-11-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        14 + (days - 19_675),
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        ts % 1000
    );
    json!({"type":"reading","ts":ts,"source":"lp4","device":format!("pack-{}", i % 4),
        "fields":{"n":i,"pack_voltage":50.0 + (i % 700) as f64 / 100.0,
                  "pack_current":-((i % 33) as f64) / 10.0,"soc":i % 101,
                  "cell_voltages":[3.3 + (i % 9) as f64 / 1000.0, 3.301],
                  "warning_cell_ov":i.is_multiple_of(2),"state":"idle"}})
    .to_string()
}

fn into_influx(s: &Influxd, extra: &[&str]) -> std::process::Command {
    let mut c = Command::new(bin());
    c.env_remove("RUST_LOG")
        .env_remove("INFLUX_TOKEN")
        .args(["--url", &s.url(), "--db", "bms"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn check_rows(s: &Influxd, n: u64) {
    let rows = s.rows("SELECT * FROM bmstap GROUP BY *");
    assert_eq!(rows.len() as u64, n);
    let mut seen = vec![false; n as usize];
    for r in rows {
        let i = r["n"].as_f64().unwrap() as u64;
        let want: Value = serde_json::from_str(&synthetic(i)).unwrap();
        let f = &want["fields"];
        assert!(!std::mem::replace(&mut seen[i as usize], true), "{i} twice");
        assert_eq!(
            r["time"].as_i64().unwrap(),
            bmstap::time::parse_rfc3339_ms(want["ts"].as_str().unwrap()).unwrap()
        );
        assert_eq!(r["device"], want["device"]);
        assert_eq!(r["source"], "lp4");
        for k in ["pack_voltage", "pack_current", "soc"] {
            assert_eq!(r[k].as_f64(), f[k].as_f64(), "{k} of {i}");
        }
        assert_eq!(
            r["cell_01_voltage"].as_f64(),
            f["cell_voltages"][0].as_f64()
        );
        assert_eq!(r["cell_02_voltage"].as_f64(), Some(3.301));
        assert_eq!(r["warning_cell_ov"], f["warning_cell_ov"]);
        assert_eq!(r["state"], "idle");
    }
}

#[test]
fn every_reading_reaches_influxd_with_its_values_and_time() {
    let Some(s) = Influxd::start("all") else {
        return;
    };
    let input: String = (0..3000).map(|i| synthetic(i) + "\n").collect();
    let out = into_influx(&s, &["--batch-size", "700"])
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(input.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    check_rows(&s, 3000);
}

#[test]
fn a_backlog_fed_at_once_is_written_whole_with_a_small_buffer() {
    let Some(s) = Influxd::start("backlog") else {
        return;
    };
    let n = 40_000u64;
    let input: String = (0..n).map(|i| synthetic(i) + "\n").collect();
    let out = into_influx(&s, &["--buffer", "1000", "--batch-size", "500"])
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(input.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("dropped"), "{err}");
    assert_eq!(s.count("bmstap"), n);
}

#[test]
fn influxd_stopped_for_10_s_mid_stream_loses_nothing() {
    let Some(mut s) = Influxd::start("restart") else {
        return;
    };
    let mut child = Guard::spawn(&mut into_influx(&s, &["--flush-interval", "200ms"]));
    let mut stdin = child.stdin.take().unwrap();
    let mut i = 0u64;
    let mut feed = |stdin: &mut std::process::ChildStdin, secs: u64| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            writeln!(stdin, "{}", synthetic(i)).unwrap();
            i += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    feed(&mut stdin, 2);
    s.stop();
    feed(&mut stdin, 10);
    s.restart();
    feed(&mut stdin, 2);
    drop(stdin);
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(90), "did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.contains("retrying") && err.contains("writing again"),
        "{err}"
    );
    check_rows(&s, i);
}

#[test]
fn hostile_tags_and_strings_survive_the_round_trip() {
    let Some(s) = Influxd::start("hostile") else {
        return;
    };
    let hostile = [
        "a b,c=d",
        "quote\"d 'single'",
        "x=1,y=2 z",
        "ünïcödé ∆ 电池",
        "#hash",
        "back\\slash",
    ];
    let mut input = String::new();
    for (i, h) in hostile.iter().enumerate() {
        let r = json!({"type":"reading","ts":format!("2023-11-14T00:00:0{i}.000Z"),"source":h,
            "device":h,"info":{"model":h},
            "fields":{"n":i,"state":format!("{h} \\ \" \n end\\"),"odd key, =":1}});
        input.push_str(&r.to_string());
        input.push('\n');
    }
    let out = into_influx(&s, &[])
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(input.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = s.rows("SELECT * FROM bmstap GROUP BY *");
    assert_eq!(rows.len(), hostile.len());
    for r in rows {
        let h = hostile[r["n"].as_f64().unwrap() as usize];
        assert_eq!(r["device"], h);
        assert_eq!(r["source"], h);
        assert_eq!(r["model"], h);
        assert_eq!(r["state"], format!("{h} \\ \" \n end\\").as_str());
        assert_eq!(r["odd key, ="], 1.0);
    }
}

#[test]
fn a_refused_line_is_reported_with_the_server_message_and_the_rest_written() {
    let Some(s) = Influxd::start("refused") else {
        return;
    };
    let mut input = String::new();
    for i in 0..10u64 {
        // reading 6 makes `soc` a string where it is a float: a field type conflict
        let soc = if i == 6 { json!("full") } else { json!(i) };
        let r = json!({"type":"reading","ts":format!("2023-11-14T00:00:0{i}.000Z"),
            "source":"lp4","device":"d","fields":{"n":i,"soc":soc}});
        input.push_str(&r.to_string());
        input.push('\n');
    }
    let out = into_influx(&s, &[])
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(input.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("400 Bad Request"), "{err}");
    assert!(err.contains("field type conflict"), "{err}");
    assert!(
        err.contains("line skipped: bmstap,device=d,source=lp4 n=6,soc=\"full\" 1699920006000"),
        "{err}"
    );
    assert!(err.contains("1 line(s) refused"), "{err}");
    assert_eq!(s.count("bmstap"), 9);
}

#[test]
fn no_server_at_the_start_exits_75() {
    let port = free_port();
    cmd()
        .args(["--url", &format!("http://127.0.0.1:{port}"), "--db", "bms"])
        .args(["--connect-timeout", "1s"])
        .write_stdin(LP4.repeat(3))
        .assert()
        .code(75)
        .stderr(predicates::str::contains("nothing written for 1 s"));
}

#[test]
fn a_server_away_too_long_drops_the_oldest_counted() {
    let port = free_port();
    let input: String = (0..50).map(|i| synthetic(i) + "\n").collect();
    cmd()
        .args(["--url", &format!("http://127.0.0.1:{port}"), "--db", "bms"])
        .args([
            "--buffer",
            "10",
            "--batch-size",
            "5",
            "--connect-timeout",
            "1h",
        ])
        .args(["--drain-timeout", "1s"])
        .write_stdin(input)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("dropping the oldest"))
        .stderr(predicates::str::contains("50 line(s) dropped"));
}

#[test]
fn url_and_token_usage_errors() {
    cmd()
        .args(["--url", "http://127.0.0.1:1"])
        .write_stdin(LP4)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--db"));
    cmd()
        .args(["--url", "ftp://x", "--db", "b"])
        .write_stdin(LP4)
        .assert()
        .code(2);
    cmd()
        .args([
            "--url",
            "http://127.0.0.1:1",
            "--db",
            "b",
            "--token-file",
            "/nonexistent/t",
        ])
        .write_stdin(LP4)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("/nonexistent/t"));
    // no --token flag at all: secrets never on the command line
    cmd().args(["--token", "x"]).assert().code(2);
}

#[test]
fn sigterm_writes_everything_read_before_exit() {
    let Some(s) = Influxd::start("sigterm") else {
        return;
    };
    let mut child = Guard::spawn(&mut into_influx(&s, &["--flush-interval", "1h"]));
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..25 {
        writeln!(stdin, "{}", synthetic(i)).unwrap();
    }
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        s.count("bmstap"),
        0,
        "nothing is sent before the flush interval"
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    drop(stdin);
    check_rows(&s, 25);
}

/// The InfluxQL of the generated Grafana dashboard runs on influxd and finds the data.
#[test]
fn grafana_dashboard_queries_run_on_influxd() {
    let Some(s) = Influxd::start("grafana") else {
        return;
    };
    let bank = json!({"type":"reading","ts":"2022-10-26T00:00:00.000Z","source":"bank","device":"bank",
        "fields":{"soc":90,"power":1200.5,"packs_online":2,"packs_total":2,
                  "energy_charged_kwh":3.5,"energy_discharged_kwh":1.25}});
    let out = into_influx(&s, &[])
        .spawn()
        .and_then(|mut c| {
            let mut stdin = c.stdin.take().unwrap();
            stdin.write_all(LP4.as_bytes())?;
            writeln!(stdin, "{bank}")?;
            drop(stdin);
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/grafana/bmstap-influxdb.json"
    );
    let d: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut with_data = 0;
    let mut total = 0;
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let q = t["query"]
                .as_str()
                .unwrap()
                .replace("$timeFilter", "time > 0")
                .replace("$__interval", "1h")
                .replace("$device", ".*");
            let (status, body) = get(
                s.port,
                &format!("/query?db=bms&epoch=ms&q={}", urlencode(&q)),
            )
            .unwrap();
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(status, 200, "{q}: {v}");
            assert!(v["results"][0].get("error").is_none(), "{q}: {v}");
            total += 1;
            if v["results"][0]["series"].is_array() {
                with_data += 1;
            }
        }
    }
    // everything but the energy counters of packs (the LP4 reading has none) finds data
    assert!(
        total >= 14 && with_data >= total - 1,
        "{with_data} of {total}"
    );
}

#[test]
fn https_with_our_own_ca_and_refused_without_it() {
    let Some(s) = Influxd::start_tls("tls") else {
        return;
    };
    let input: String = (0..200).map(|i| synthetic(i) + "\n").collect();
    let ca = s.dir.path("ca.pem");
    let out = into_influx(
        &s,
        &["--ca-file", ca.to_str().unwrap(), "--batch-size", "50"],
    )
    .spawn()
    .and_then(|mut c| {
        c.stdin.take().unwrap().write_all(input.as_bytes())?;
        c.wait_with_output()
    })
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_rows(&s, 200);
    // the system's CAs do not know ours: every attempt fails verification, exit 75 (or 2
    // where there is no system bundle at all)
    let system = std::path::Path::new(bmstap::tsdb::http::SYSTEM_CA_BUNDLE).exists();
    cmd()
        .args(["--url", &s.url(), "--db", "bms", "--connect-timeout", "1s"])
        .write_stdin(synthetic(0) + "\n")
        .assert()
        .code(if system { 75 } else { 2 })
        .stderr(predicates::str::contains(if system {
            "certificate"
        } else {
            "ca-certificates.crt"
        }));
    cmd()
        .args([
            "--url",
            &s.url(),
            "--db",
            "bms",
            "--ca-file",
            "/nonexistent/ca.pem",
        ])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("/nonexistent/ca.pem"));
}
