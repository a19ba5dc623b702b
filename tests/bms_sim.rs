//! bms-sim's own behaviour (its protocol side is exercised by every poller test).

use crate::common::{cmd, Sim, TempDir};

#[test]
fn prints_path_and_makes_link() {
    let dir = TempDir::new("simlink");
    let link = dir.path("lp4");
    let sim = Sim::lp4(&["--link", link.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_link(&link).unwrap().to_str().unwrap(),
        sim.path
    );
}

#[test]
fn bad_options_exit_2() {
    cmd("bms-sim")
        .args(["lp4", "--fault", "bogus"])
        .assert()
        .code(2);
    cmd("bms-sim")
        .args(["lp4", "--bad-crc-every", "0"])
        .assert()
        .code(2);
    cmd("bms-sim").arg("nosuch").assert().code(2);
}

#[test]
fn help_has_examples_and_version_works() {
    cmd("bms-sim")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("Examples:"));
    cmd("bms-sim").arg("--version").assert().success();
}
