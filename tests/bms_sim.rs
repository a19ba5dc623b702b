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

/// `--link` replaces only an earlier simulator's link into /dev/pts (a file, a directory or
/// another link is refused, exit 2, untouched), and removes its link when it ends: by
/// SIGINT, SIGTERM (tests/docs.rs runs the one-liners) or a normal exit.
#[test]
fn link_replaces_only_a_stale_link_and_is_removed_at_exit() {
    use std::io::Read;
    use std::os::unix::fs::symlink;
    use std::process::Stdio;
    let dir = TempDir::new("sim-link");
    std::fs::write(dir.path("file.txt"), "keep me\n").unwrap();
    std::fs::create_dir(dir.path("dir")).unwrap();
    symlink("/etc/hostname", dir.path("other")).unwrap();
    for name in ["file.txt", "dir", "other"] {
        cmd("bms-sim")
            .args(["lp4", "--link"])
            .arg(dir.path(name))
            .assert()
            .code(2)
            .stderr(predicates::str::contains("not replacing it"));
    }
    assert_eq!(
        std::fs::read_to_string(dir.path("file.txt")).unwrap(),
        "keep me\n"
    );
    assert!(dir.path("dir").is_dir());
    assert_eq!(
        std::fs::read_link(dir.path("other")).unwrap(),
        std::path::Path::new("/etc/hostname")
    );

    // A stale link of an earlier simulator is replaced; SIGINT removes it.
    let link = dir.path("lp4");
    symlink("/dev/pts/999999", &link).unwrap();
    let mut sim = crate::common::std_cmd("bms-sim")
        .args(["lp4", "--link"])
        .arg(&link)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = Vec::new();
    let mut stdout = sim.stdout.take().unwrap();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        first.push(byte[0]);
    }
    let pty = String::from_utf8(first).unwrap();
    assert_eq!(std::fs::read_link(&link).unwrap().to_str().unwrap(), pty);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(sim.id() as libc::pid_t, libc::SIGINT) };
    sim.wait().unwrap();
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "link left behind"
    );

    // A normal end (a replay played to its end) removes it too.
    std::fs::write(dir.path("cap.bin"), [1u8, 3, 0, 0, 0, 0x27, 5, 0xd0]).unwrap();
    cmd("bms-sim")
        .args(["replay", "--now", "--link"])
        .arg(&link)
        .arg(dir.path("cap.bin"))
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .success();
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "link left behind"
    );
}
