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
