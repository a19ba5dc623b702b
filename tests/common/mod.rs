//! Test helpers: hermetic commands for the built binaries and simulators on real
//! pseudo-terminals.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

/// Path of a built binary of this package.
pub fn bin_path(name: &str) -> PathBuf {
    match name {
        "lp4-poll" => PathBuf::from(env!("CARGO_BIN_EXE_lp4-poll")),
        "bms-sim" => PathBuf::from(env!("CARGO_BIN_EXE_bms-sim")),
        "eg4-7e-query" => PathBuf::from(env!("CARGO_BIN_EXE_eg4-7e-query")),
        "eflex-candump-decode" => PathBuf::from(env!("CARGO_BIN_EXE_eflex-candump-decode")),
        "rtu-sniff" => PathBuf::from(env!("CARGO_BIN_EXE_rtu-sniff")),
        "pylon-candump-decode" => PathBuf::from(env!("CARGO_BIN_EXE_pylon-candump-decode")),
        "readings-to-mqtt" => PathBuf::from(env!("CARGO_BIN_EXE_readings-to-mqtt")),
        "readings-bank" => PathBuf::from(env!("CARGO_BIN_EXE_readings-bank")),
        "bms-poll" => PathBuf::from(env!("CARGO_BIN_EXE_bms-poll")),
        other => panic!("unknown binary {other}"),
    }
}

/// A command for one of our binaries with every behaviour-changing variable removed.
pub fn cmd(name: &str) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::new(bin_path(name));
    c.env_remove("RUST_LOG")
        .env_remove("MQTT_PASSWORD")
        .env_remove("NO_COLOR");
    c.timeout(Duration::from_secs(60));
    c
}

/// The same as a plain std command (for processes the test drives itself).
pub fn std_cmd(name: &str) -> Command {
    let mut c = Command::new(bin_path(name));
    c.env_remove("RUST_LOG");
    c
}

/// A running simulator, killed when dropped.
pub struct Sim {
    pub child: Child,
    pub path: String,
    _stdout: ChildStdout,
}

impl Sim {
    /// Starts `bms-sim <args>` and waits for the pseudo-terminal path on its first line.
    pub fn start(args: &[&str]) -> Sim {
        Sim::start_printing(args, "/dev/pts/")
    }

    /// Starts `bms-sim <args>` and waits for its first line, where it says where to reach it
    /// (a pseudo-terminal path, or a gateway's `tcp://` URL), which must contain `expect`.
    pub fn start_printing(args: &[&str], expect: &str) -> Sim {
        let mut child = std_cmd("bms-sim")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bms-sim");
        let mut stdout = child.stdout.take().unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let path = String::from_utf8(line).unwrap();
        assert!(path.contains(expect), "bms-sim printed {path:?}");
        Sim {
            child,
            path,
            _stdout: stdout,
        }
    }

    pub fn lp4(extra: &[&str]) -> Sim {
        let mut args = vec!["lp4"];
        args.extend_from_slice(extra);
        Sim::start(&args)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when dropped, so a failing test leaves nothing running.
pub struct Guard(pub Child);

impl Guard {
    pub fn spawn(c: &mut Command) -> Guard {
        Guard(c.spawn().expect("spawn"))
    }
}

impl std::ops::Deref for Guard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `bms-sim replay --now --wire-baud BAUD FILE`: a capture played into a pseudo-terminal as a
/// talking bus; the simulator (killed when dropped) and the terminal's path.
pub fn replay(file: &std::path::Path, baud: u32) -> (Guard, String) {
    let mut g = Guard::spawn(
        std_cmd("bms-sim")
            .args(["replay", "--now", "--wire-baud", &baud.to_string()])
            .arg(file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut path = String::new();
    BufReader::new(g.stdout.take().unwrap())
        .read_line(&mut path)
        .unwrap();
    (g, path.trim().to_string())
}

/// Lines of a child's stdout as they arrive.
pub fn lines_of(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Parses NDJSON output and checks every line against the readings contract.
pub fn records(stdout: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(stdout).expect("stdout is UTF-8");
    text.lines().map(check_record).collect()
}

/// One line checked against the contract (docs/readings.md).
pub fn check_record(line: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let ty = v["type"].as_str().expect("type");
    assert!(
        ["reading", "status", "frame", "detected"].contains(&ty),
        "{line}"
    );
    if ty != "frame" || v.get("ts").is_some() {
        let ts = v["ts"].as_str().expect("ts");
        assert_eq!(ts.len(), 24, "ts {ts}");
        assert!(
            ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.',
            "{ts}"
        );
    }
    if ty == "detected" {
        assert!(v["port"].is_string() && v["protocol"].is_string(), "{line}");
        assert!(v["address"].is_u64(), "{line}");
    }
    if ty == "reading" || ty == "status" || ty == "detected" {
        let device = v["device"].as_str().expect("device");
        assert!(
            !device.is_empty()
                && device.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'_'
                    || b == b'-'),
            "device id {device}"
        );
        assert!(ty == "detected" || v["source"].is_string());
    }
    if ty == "reading" {
        for (name, value) in v["fields"].as_object().expect("fields") {
            assert!(
                bmstap::catalog::lookup(name).is_some(),
                "field {name} is not in the catalogue"
            );
            let ok = match value {
                serde_json::Value::Number(_)
                | serde_json::Value::Bool(_)
                | serde_json::Value::String(_) => true,
                serde_json::Value::Array(a) => a.iter().all(|x| x.is_number()),
                _ => false,
            };
            assert!(ok, "field {name} has value {value}");
        }
    }
    v
}

/// Readings only.
pub fn readings(stdout: &[u8]) -> Vec<serde_json::Value> {
    records(stdout)
        .into_iter()
        .filter(|r| r["type"] == "reading")
        .collect()
}

/// A temporary directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("bmstap-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
