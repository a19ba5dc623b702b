//! readings-exporter: /metrics over HTTP, the textfile, `promtool check metrics` on the
//! exposition, and a real prometheus (Debian's) scraping it every second.

use crate::common::{Guard, TempDir};
use crate::readings_to_influx::{free_port, get, require};
use bmstap::tsdb::http::urlencode;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

const LP4: &str = include_str!("../testdata/lp4/wombatt-status.ndjson");
const E7: &str = include_str!("../testdata/eg4-7e/powermon-status.ndjson");
const EFLEX: &str = include_str!("../testdata/eflex/conftest-battery2.ndjson");

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_readings-exporter")
}

fn cmd() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(bin());
    c.env_remove("RUST_LOG");
    c.timeout(Duration::from_secs(60));
    c
}

/// An exporter on a free port with stdin kept open.
struct Exporter {
    port: u16,
    stdin: Option<ChildStdin>,
    child: Guard,
}

impl Exporter {
    fn start(extra: &[&str]) -> Exporter {
        let port = free_port();
        let mut child = Guard::spawn(
            Command::new(bin())
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(extra)
                .env_remove("RUST_LOG")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let stdin = child.stdin.take();
        let t = Instant::now();
        while get(port, "/").is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "exporter did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Exporter { port, stdin, child }
    }

    fn feed(&mut self, text: &str) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(text.as_bytes()).unwrap();
        s.flush().unwrap();
    }

    fn metrics(&self) -> String {
        let (status, body) = get(self.port, "/metrics").expect("scrape");
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    }

    /// Scrapes until `pred` holds (or fails after 20 s).
    fn until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            let m = self.metrics();
            if pred(&m) {
                return m;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "never {what}:\n{m}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn reading(device: &str, volts: f64) -> String {
    json!({"type":"reading","ts":"2026-11-21T14:03:07.512Z","source":"lp4","device":device,
        "fields":{"pack_voltage":volts,"soc":87,"cell_voltages":[3.281,3.279],
                  "cycle_count":12,"warning_cell_ov":false}})
    .to_string()
        + "\n"
}

#[test]
fn serves_the_newest_reading_of_every_device() {
    let mut e = Exporter::start(&[]);
    e.feed(&reading("a", 52.0));
    e.feed(&reading("b", 53.5));
    e.feed(&reading("a", 52.25));
    let m = e.until("both devices", |m| {
        m.contains("bmstap_pack_voltage_volts{device=\"a\",source=\"lp4\"} 52.25\n")
            && m.contains("device=\"b\"")
    });
    assert!(m.contains("bmstap_pack_voltage_volts{device=\"b\",source=\"lp4\"} 53.5\n"));
    assert!(m.contains("bmstap_cell_voltage_volts{device=\"a\",source=\"lp4\",cell=\"2\"} 3.279\n"));
    assert!(m.contains("# TYPE bmstap_cycles_total counter\n"));
    assert!(m.contains(
        "bmstap_reading_timestamp_seconds{device=\"a\",source=\"lp4\"} 1795269787.512\n"
    ));
    assert!(!m.contains("52\n"), "the superseded reading is gone");
    assert_eq!(get(e.port, "/nope").unwrap().0, 404);
    let url = bmstap::tsdb::http::Url::parse(&format!("http://127.0.0.1:{}", e.port)).unwrap();
    let mut c = bmstap::tsdb::http::Client::new(url, Duration::from_secs(5));
    assert_eq!(c.send("POST", "/metrics", &[], b"x").unwrap().status, 405);
    // input ends: the exporter ends, 0
    drop(e.stdin.take());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = e.child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_silent_device_goes_stale() {
    let mut e = Exporter::start(&["--stale", "3s"]);
    e.feed(&reading("quiet", 51.0));
    e.feed(&reading("busy", 52.0));
    e.until("quiet there", |m| m.contains("device=\"quiet\""));
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) {
        e.feed(&reading("busy", 52.0));
        if !e.metrics().contains("device=\"quiet\"") {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let m = e.metrics();
    assert!(!m.contains("device=\"quiet\""), "{m}");
    assert!(m.contains("bmstap_pack_voltage_volts{device=\"busy\",source=\"lp4\"} 52\n"));
}

#[test]
fn promtool_accepts_the_exposition() {
    if !require("promtool", "prometheus") {
        return;
    }
    let dir = TempDir::new("promtool");
    let path = dir.path("bmstap.prom");
    let hostile = json!({"type":"reading","ts":"2026-11-21T14:03:07.512Z","source":"we\"ird\\",
        "device":"x\ny","info":{"model":"M \"1\""},"fields":{"odd name-1":1,"state":"a\"b"}});
    // and one reading with every field of the catalogue, so every metric name is linted
    let mut all = serde_json::Map::new();
    for f in bmstap::catalog::CATALOG {
        let v = match f.kind {
            bmstap::catalog::Kind::Number => json!(1.5),
            bmstap::catalog::Kind::Array => json!([1, 2]),
            bmstap::catalog::Kind::Flag => json!(true),
            bmstap::catalog::Kind::Text => json!("x"),
        };
        all.insert(f.name.to_string(), v);
    }
    let every = json!({"type":"reading","ts":"2026-11-21T14:03:07.512Z","source":"bank",
        "device":"bank","fields":all});
    cmd()
        .arg("--textfile")
        .arg(&path)
        .write_stdin(format!("{LP4}{E7}{EFLEX}{hostile}\n{every}\n"))
        .assert()
        .success();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("bmstap_pack_voltage_volts{device=\"lifepower4-2\",source=\"lp4\"} 53.66\n")
    );
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // written atomically: nothing else left in the directory
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("bmstap.prom")]);
}

#[test]
fn a_textfile_in_a_missing_directory_is_a_usage_error() {
    let dir = TempDir::new("exporter-nodir");
    cmd()
        .arg("--textfile")
        .arg(dir.path("no-such-dir/m.prom"))
        .write_stdin(LP4)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no directory"));
}

#[test]
fn bad_input_is_skipped_and_counted() {
    let dir = TempDir::new("exporter-bad");
    cmd()
        .arg("--textfile")
        .arg(dir.path("m.prom"))
        .write_stdin(format!(
            "not json\n{LP4}{{\"type\":\"reading\",\"device\":\"d\"}}\n"
        ))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("stdin:1: not JSON"))
        .stderr(predicates::str::contains("stdin:3: "))
        .stderr(predicates::str::contains("2 input line(s) skipped"));
}

#[test]
fn an_address_in_use_exits_75() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    cmd()
        .args(["--listen", &addr])
        .write_stdin("")
        .assert()
        .code(75)
        .stderr(predicates::str::contains("cannot listen on"));
}

/// A private prometheus scraping `target` every second.
struct Prometheus {
    port: u16,
    _dir: TempDir,
    _guard: Guard,
}

impl Prometheus {
    fn start(target: u16) -> Option<Prometheus> {
        if !require("prometheus", "prometheus") {
            return None;
        }
        let dir = TempDir::new("prometheus");
        let port = free_port();
        std::fs::write(
            dir.path("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: bmstap\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path("prometheus.log")).unwrap();
        let guard = Guard::spawn(
            Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    dir.path("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        );
        let t = Instant::now();
        while get(port, "/-/ready").map(|r| r.0) != Some(200) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "prometheus did not start: {}",
                std::fs::read_to_string(dir.path("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Prometheus {
            port,
            _dir: dir,
            _guard: guard,
        })
    }

    /// The instant vector of `q`: (labels, value) pairs.
    fn query(&self, q: &str) -> Vec<(serde_json::Map<String, Value>, f64)> {
        let (status, body) =
            get(self.port, &format!("/api/v1/query?query={}", urlencode(q))).expect("query");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body).unwrap();
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["metric"].as_object().unwrap().clone(),
                    r["value"][1].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect()
    }

    fn until<T>(&self, what: &str, mut f: impl FnMut(&Prometheus) -> Option<T>) -> T {
        let t = Instant::now();
        loop {
            if let Some(x) = f(self) {
                return x;
            }
            assert!(t.elapsed() < Duration::from_secs(40), "never {what}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[test]
fn prometheus_scrapes_the_series_and_a_silent_device_goes_stale() {
    let mut e = Exporter::start(&["--stale", "3s"]);
    let Some(p) = Prometheus::start(e.port) else {
        return;
    };
    let series = |p: &Prometheus, q: &str| {
        let mut r: Vec<(String, f64)> = p
            .query(q)
            .into_iter()
            .map(|(m, v)| (m["device"].as_str().unwrap().to_string(), v))
            .collect();
        r.sort_by(|a, b| a.0.cmp(&b.0));
        r
    };
    // both devices report; the query API returns their series and values
    let got = p.until("both devices scraped", |p| {
        e.feed(&reading("pack-a", 52.5));
        e.feed(&reading("pack-b", 53.25));
        let r = series(p, "bmstap_pack_voltage_volts");
        (r.len() == 2).then_some(r)
    });
    assert_eq!(
        got,
        [("pack-a".to_string(), 52.5), ("pack-b".to_string(), 53.25)]
    );
    let cells = p.query("bmstap_cell_voltage_volts{device=\"pack-a\",cell=\"1\"}");
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0].1, 3.281);
    assert_eq!(cells[0].0["job"], "bmstap");
    assert_eq!(cells[0].0["source"], "lp4");
    assert_eq!(series(&p, "bmstap_cycles_total")[0].1, 12.0);
    assert_eq!(series(&p, "bmstap_soc_percent")[1].1, 87.0);
    // every query of the generated Grafana dashboard is valid PromQL for this prometheus,
    // and those on fields the readings carry find them
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/grafana/bmstap-prometheus.json"
    );
    let d: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for panel in d["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            let q = t["expr"]
                .as_str()
                .unwrap()
                .replace("$device", ".*")
                .replace("$__range", "1m");
            let (status, body) =
                get(p.port, &format!("/api/v1/query?query={}", urlencode(&q))).unwrap();
            assert_eq!(status, 200, "{q}: {}", String::from_utf8_lossy(&body));
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["status"], "success", "{q}: {v}");
            let found = !v["data"]["result"].as_array().unwrap().is_empty();
            let expected = [
                "bmstap_pack_voltage_volts",
                "bmstap_soc_percent",
                "bmstap_cell_voltage_volts",
            ]
            .iter()
            .any(|m| q.starts_with(m) && q.contains("device=~"));
            assert!(found || !expected, "{q}: no data");
        }
    }
    // pack-b stops reporting: after --stale its series leave /metrics and prometheus marks
    // them stale; pack-a stays
    let left = p.until("pack-b stale", |p| {
        e.feed(&reading("pack-a", 52.5));
        let r = series(p, "bmstap_pack_voltage_volts");
        (r.len() == 1).then_some(r)
    });
    assert_eq!(left, [("pack-a".to_string(), 52.5)]);
    assert!(p.query("bmstap_soc_percent{device=\"pack-b\"}").is_empty());
}
