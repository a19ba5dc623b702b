//! Real captures (protocols.md §2.7, §3.7) through the tools: the golden files decode to the
//! values given there, and eg4-7e-query --info keeps the identity part a pack answers.

use crate::common::{cmd, readings};
use std::io::{Read, Write};
use std::net::TcpListener;

const EFLEX_LOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/eflex/capture13-battery6.log"
);
const EFLEX_GOLDEN: &str = include_str!("../testdata/eflex/capture13-battery6.ndjson");

#[test]
fn eflex_13_battery_capture_decodes_to_section_3_7() {
    let out = cmd("eflex-candump-decode")
        .arg(EFLEX_LOG)
        .assert()
        .success();
    let out = out.get_output();
    assert_eq!(String::from_utf8_lossy(&out.stdout), EFLEX_GOLDEN);
    let r = &readings(&out.stdout)[0];
    assert_eq!(r["info"]["serial"], "2211054F0954");
    let f = &r["fields"];
    assert_eq!(f["soc"], 98);
    assert_eq!(
        f["temperatures"],
        serde_json::json!([33, 31, 39, 32, 32, 37])
    );
    assert_eq!(f["temperature_bms"], 34);
    assert_eq!(f["charge_current_limit"], 0.0);
    assert_eq!(f["discharge_current_limit"], 60.0);
    assert_eq!(f["charge_enable"], false);
    // the inferred bytes stay in raw
    assert_eq!(r["raw"]["b60_42_47_temperatures"], "49474f48484d");
    assert_eq!(r["raw"]["b10_41_temperature"], "22");
    assert_eq!(r["raw"]["b10_61_charge_enable"], "00");
    assert_eq!(r["raw"]["b10_12_20_flags_limits"], "01010000025800012e");
}

/// The §2.7 15-cell status reply (testdata/eg4-7e/narada-15cell.hex) as bytes.
fn narada_status() -> Vec<u8> {
    let text = include_str!("../testdata/eg4-7e/narada-15cell.hex");
    let hex: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.split_whitespace())
        .collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// A transparent gateway with one real pack behind it, as the captures show it: address 1
/// answers status (0x01) and firmware (0x33) with the §2.7 replies, the firmware one with
/// start byte `soi`, and never the hardware request (0x42). Returns the address and the
/// number of 0x33/0x42 requests seen (read after the client is done).
fn real_pack_gateway(
    soi: u8,
    answers_firmware: bool,
) -> (String, std::thread::JoinHandle<(usize, usize)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    let status = narada_status();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut firmware = vec![soi, 0x01, 0x33, 0x16];
        firmware.extend_from_slice(b"QT-YS00-16SV100A-V3.40");
        let (sum, xor) = firmware
            .iter()
            .fold((0u8, 0u8), |(s, x), &b| (s.wrapping_add(b), x ^ b));
        firmware.extend_from_slice(&[sum ^ xor, 0x0D]);
        if soi == 0x7E {
            assert_eq!(firmware[firmware.len() - 2], 0xB8, "§2.7 checksum");
        }
        let (mut asked_fw, mut asked_hw) = (0, 0);
        let mut req = [0u8; 6];
        while s.read_exact(&mut req).is_ok() {
            let reply: &[u8] = match (req[1], req[2]) {
                (1, 0x01) => &status,
                (1, 0x33) => {
                    asked_fw += 1;
                    if !answers_firmware {
                        continue;
                    }
                    &firmware
                }
                (_, 0x42) => {
                    asked_hw += 1;
                    continue;
                }
                _ => continue,
            };
            if s.write_all(reply).is_err() {
                break;
            }
        }
        (asked_fw, asked_hw)
    });
    (url, handle)
}

#[test]
fn info_keeps_the_firmware_of_a_pack_silent_on_0x42() {
    for soi in [0x7E, 0x7C] {
        let (url, server) = real_pack_gateway(soi, true);
        let out = cmd("eg4-7e-query")
            .args([
                "--count",
                "4",
                "--interval",
                "10ms",
                "--gap",
                "10ms",
                "-t",
                "300ms",
                "--info",
                "-a",
                "1",
                &url,
            ])
            .assert()
            .success();
        let r = readings(&out.get_output().stdout);
        assert_eq!(r.len(), 4, "{soi:#x}");
        for reading in &r {
            assert_eq!(reading["info"]["firmware"], "QT-YS00-16SV100A-V3.40");
            assert!(reading["info"].get("hardware").is_none(), "{reading}");
            let f = &reading["fields"];
            assert_eq!(f["cell_voltages"].as_array().unwrap().len(), 15);
            assert_eq!(f["temperatures"], serde_json::json!([18, 18, 18, 18]));
            assert_eq!(f["temperature_mos"], 21);
            assert_eq!(f["temperature_env"], 20);
            assert_eq!(reading["raw"]["groups"]["0x0a"], serde_json::json!([16384]));
        }
        // Asked once (one connection), not every cycle.
        assert_eq!(server.join().unwrap(), (1, 1), "{soi:#x}");
    }
}

/// A pack that answers neither identity request is asked on three cycles after its first
/// status reply, then no more; its readings carry no info.
#[test]
fn info_stops_asking_a_pack_without_identity() {
    let (url, server) = real_pack_gateway(0x7E, false);
    let out = cmd("eg4-7e-query")
        .args([
            "--count",
            "7",
            "--interval",
            "10ms",
            "--gap",
            "10ms",
            "-t",
            "200ms",
            "--info",
            "-a",
            "1",
            &url,
        ])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 7);
    assert!(r.iter().all(|r| r.get("info").is_none()), "{r:?}");
    assert_eq!(server.join().unwrap(), (4, 4));
}
