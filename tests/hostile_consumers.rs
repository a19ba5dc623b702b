//! readings-bank and the shared file and line machinery against hostile input and shared
//! directories (issue 19; docs/reliability.md): symlinks planted where a tool writes, clocks
//! that jump, garbage on stdin, more devices than memory should hold.

use crate::common::{cmd, Sim, TempDir};
use std::os::unix::fs::symlink;

/// A symlink planted at the old fixed temporary name, at the lock, or at `--capture`: the
/// target is never written through.
#[test]
fn no_tool_writes_through_a_planted_symlink() {
    let dir = TempDir::new("hostile-symlink");
    let victim = dir.path("victim");
    std::fs::write(&victim, "precious").unwrap();
    let state = dir.path("bank.json");
    let reading = "{\"type\":\"reading\",\"ts\":\"2026-11-21T14:03:07.512Z\",\"source\":\"lp4\",\
                   \"device\":\"a\",\"fields\":{\"pack_voltage\":50.0,\"pack_current\":1.0}}\n";
    symlink(&victim, dir.path("bank.json.tmp")).unwrap();
    cmd("readings-bank")
        .arg("--state")
        .arg(&state)
        .write_stdin(reading)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(std::fs::read_to_string(&state).unwrap().contains("\"a\""));
    let left: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") && n != "bank.json.tmp")
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");

    let other = dir.path("other.json");
    symlink(&victim, dir.path("other.json.lock")).unwrap();
    cmd("readings-bank")
        .arg("--state")
        .arg(&other)
        .write_stdin(reading)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("symbolic link"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    let sim = Sim::lp4(&[]);
    let capture = dir.path("capture.bin");
    symlink(&victim, &capture).unwrap();
    cmd("lp4-poll")
        .args(["--once", "--capture"])
        .arg(&capture)
        .arg(&sim.path)
        .assert()
        .failure()
        .stderr(predicates::str::contains("symbolic link"));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}
