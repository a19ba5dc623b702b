//! The poll engine's promises, through lp4-poll and bms-poll: device ids stay unique when
//! packs share a serial, a flapping gateway is logged in a bounded number of lines, and bytes
//! of another protocol get a hint rather than endless timeouts.

use crate::common::{cmd, readings, Sim, TempDir};
use std::time::Duration;

#[test]
fn packs_sharing_a_serial_keep_apart() {
    // Four LifePower4 packs built on the same day report the same serial (protocols.md §1).
    let s = Sim::lp4(&["--address", "1-4", "--same-serial", "2022-10-26"]);
    let out = cmd("lp4-poll")
        .args([
            "-a", "1-4", "--count", "2", "-i", "100ms", "--gap", "10ms", &s.path,
        ])
        .assert()
        .success();
    let out = out.get_output();
    let r = readings(&out.stdout);
    let devices: Vec<&str> = r.iter().map(|r| r["device"].as_str().unwrap()).collect();
    // Unique per address from the very first reading, the same in every cycle.
    assert_eq!(
        devices,
        [
            "2022-10-26-1",
            "2022-10-26-2",
            "2022-10-26-3",
            "2022-10-26-4",
            "2022-10-26-1",
            "2022-10-26-2",
            "2022-10-26-3",
            "2022-10-26-4",
        ]
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("is reported by two packs").count(), 1, "{err}");
    // readings-bank counts four packs, not one.
    let bank = cmd("readings-bank")
        .write_stdin(out.stdout.clone())
        .assert()
        .success();
    let bank_readings = readings(&bank.get_output().stdout);
    let last_bank = bank_readings
        .iter()
        .rev()
        .find(|r| r["source"] == "bank")
        .expect("a bank reading");
    assert_eq!(last_bank["fields"]["packs_total"], 4, "{last_bank}");
}

#[test]
fn a_gateway_that_accepts_then_resets_is_logged_in_a_few_lines() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { break };
            // Reset when the first request arrives (so the client's connect has completed:
            // a reset inside the handshake is reported as "cannot connect", exit 75):
            // linger 0 sends RST instead of FIN.
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = std::io::Read::read(&mut c, &mut [0u8; 64]);
            let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
            drop(c);
        }
    });
    let out = cmd("lp4-poll")
        .args([
            "-a",
            "1,2",
            "--count",
            "20",
            "-i",
            "50ms",
            "-t",
            "200ms",
            &format!("tcp://127.0.0.1:{port}"),
        ])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    let lines = err.lines().count();
    assert!(lines <= 8, "{lines} lines:\n{err}");
    assert!(!err.contains("recovered"), "nothing was read:\n{err}");
}

#[test]
fn bytes_of_another_protocol_get_a_hint() {
    // A first-generation (7E/0D) bus talking, polled as LP4.
    let dir = TempDir::new("engine-hint");
    let capture = dir.path("bus.bin");
    let frame =
        bmstap::proto::tianpower::encode_frame(0x7E, 1, 1, &[0x07, 0x01, 0x00, 0x01]).unwrap();
    std::fs::write(&capture, frame.repeat(400)).unwrap();
    let (_replay, port) = crate::common::replay(&capture, 9600);
    let out = cmd("lp4-poll")
        .args(["--count", "3", "-i", "50ms", "-t", "300ms", &port])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr);
    assert!(err.contains("eg4-7e frames, not lp4"), "{err}");
    assert_eq!(err.matches("frames, not").count(), 1, "once: {err}");
}
