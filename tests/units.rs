//! The systemd units under scripts/systemd pass `systemd-analyze verify` (required under CI).

use crate::common::TempDir;
use std::process::Command;

#[test]
fn systemd_units_verify() {
    let have = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is required under CI"
        );
        eprintln!("SKIPPED: systemd-analyze not installed");
        return;
    }
    let dir = TempDir::new("units");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/systemd");
    let mut checked = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".service") {
            continue;
        }
        // Templates are verified as an instance.
        let unit = name.replace("@.service", "@ttyUSB0.service");
        let dest = dir.path(&unit);
        std::fs::copy(&path, &dest).unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&dest)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // Offline, the device units a unit binds to do not exist; that is all we allow.
        let problems: Vec<&str> = err
            .lines()
            .filter(|l| !l.contains(".device") && !l.trim().is_empty())
            .collect();
        assert!(out.status.success() || problems.is_empty(), "{name}: {err}");
        assert!(problems.is_empty(), "{name}: {err}");
        checked += 1;
    }
    assert_eq!(checked, 5);
}
