//! Differential tests against peers that decode the same bytes: aiobmsble's JBD and Jikong (JK-PB)
//! decoders and python-daly-bms (dalybms), both from PyPI, run offline by tests/peers/oracle.py. Frames are
//! the published ones of testdata/ plus a few hundred made by the codecs' own encoders with
//! random values, so every field is compared across its range.
//!
//! The peers live in target/peers (`scripts/peers` installs them; .ci/run does) or wherever
//! $BMSTAP_PEER_PYTHON points. Where they are absent the tests say SKIPPED on stderr; under CI
//! (CI=true) they fail instead.

use bmstap::proto::codec::Codec as _;
use bmstap::proto::pylon_ascii as ascii;
use bmstap::proto::{daly, jbd, pylontech};
use bmstap::record::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn python() -> Option<PathBuf> {
    python_with("aiobmsble, dalybms", "aiobmsble/dalybms")
}

/// The peers' Python if it can import `modules`; else SKIPPED on stderr (a failure under CI).
fn python_with(modules: &str, peer: &str) -> Option<PathBuf> {
    let p = std::env::var_os("BMSTAP_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers/bin/python")
        });
    let ok = Command::new(&p)
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("the peer decoders are required under CI: run scripts/peers (.ci/run does)");
    }
    eprintln!(
        "SKIPPED: differential test against {peer}: {} cannot import it (run scripts/peers)",
        p.display()
    );
    None
}

/// Runs the oracle over `lines`; one JSON value per line.
fn oracle(py: &PathBuf, lines: &[String]) -> Vec<serde_json::Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oracle.py");
    let mut child = Command::new(py)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = lines.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn hexlines(file: &str) -> Vec<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split('#').next().unwrap().replace(' ', ""))
        .filter(|l| !l.is_empty())
        .map(|l| hex::decode(l).unwrap())
        .collect()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => panic!("not a number: {other:?}"),
    }
}

fn close(ours: f64, theirs: &serde_json::Value, what: &str, line: &str) {
    let t = theirs
        .as_f64()
        .or_else(|| theirs.as_bool().map(|b| f64::from(u8::from(b))))
        .unwrap_or_else(|| panic!("{what}: peer gave {theirs} for {line}"));
    assert!(
        (ours - t).abs() < 1e-6,
        "{what}: ours {ours}, peer {t} for {line}"
    );
}

#[test]
fn jbd_agrees_with_aiobmsble() {
    let Some(py) = python() else { return };
    let published = hexlines("testdata/jbd/sp04s034.hex");
    let mut cases: Vec<(Vec<u8>, Vec<u8>)> = vec![(published[0].clone(), published[1].clone())];
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for k in 0..300 {
        let cells = 1 + rng.below(24) as usize;
        let ntc = rng.below(5) as usize;
        let basic = jbd::Basic {
            voltage_10mv: rng.below(65536) as u16,
            current: rng.below(65536) as u16 as i16,
            remaining: rng.below(65536) as u16,
            nominal: rng.below(65536) as u16,
            cycles: rng.below(65536) as u16,
            date: rng.below(65536) as u16,
            balance: [rng.below(65536) as u16, rng.below(65536) as u16],
            protection: rng.below(8192) as u16,
            version: rng.below(256) as u8,
            soc: rng.below(101) as u8,
            fets: rng.below(4) as u8,
            cell_count: cells as u8,
            ntc: (0..ntc).map(|_| 2331 + rng.below(1000) as u16).collect(),
            // A third of the frames carry the newer firmware's trailer, half of those with
            // the 100 mA flag.
            extra: match k % 6 {
                0 => vec![0x80, 0x00],
                1 => vec![0x00, 0x00],
                _ => Vec::new(),
            },
        };
        let mv: Vec<u8> = (0..cells)
            .flat_map(|_| (2500 + rng.below(1300) as u16).to_be_bytes())
            .collect();
        cases.push((
            jbd::encode_reply(0x03, 0, &jbd::encode_basic(&basic)).unwrap(),
            jbd::encode_reply(0x04, 0, &mv).unwrap(),
        ));
    }
    let lines: Vec<String> = cases
        .iter()
        .map(|(b, c)| format!("jbd {} {}", hex::encode(b), hex::encode(c)))
        .collect();
    let peer = oracle(&py, &lines);
    assert_eq!(peer.len(), cases.len());
    let codec = jbd::Codec;
    for ((b, c), (p, line)) in cases.iter().zip(peer.iter().zip(&lines)) {
        let d = codec
            .decode(0, &[Some(b.clone()), Some(c.clone())])
            .unwrap_or_else(|e| panic!("{e}: {line}"));
        let f = &d.fields;
        for name in [
            "pack_voltage",
            "pack_current",
            "remaining_ah",
            "cycle_count",
            "soc",
            "charge_fet",
            "discharge_fet",
            "cell_count",
        ] {
            close(num(f.get(name).unwrap()), &p[name], name, line);
        }
        let Some(Value::Floats(cells)) = f.get("cell_voltages") else {
            panic!("no cells: {line}")
        };
        let theirs: Vec<f64> = p["cell_voltages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(cells, &theirs, "cells: {line}");
        let temps: Vec<f64> = match f.get("temperatures") {
            Some(Value::Floats(t)) => t.clone(),
            None => Vec::new(),
            other => panic!("{other:?}"),
        };
        let theirs: Vec<f64> = p["temperatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(temps, theirs, "temperatures: {line}");
    }
}

#[test]
fn daly_agrees_with_dalybms() {
    let Some(py) = python() else { return };
    let published = hexlines("testdata/daly/mpp-solar-16s.hex");
    let data = |f: &[u8]| -> [u8; 8] { f[4..12].try_into().unwrap() };
    let mut cases: Vec<[[u8; 8]; 3]> = vec![[
        data(&published[0]),
        data(&published[2]),
        data(&published[3]),
    ]];
    let mut rng = Rng(0xda17_0000_0000_0001);
    for _ in 0..300 {
        let mut soc = [0u8; 8];
        soc[0..2].copy_from_slice(&(rng.below(1000) as u16).to_be_bytes());
        // dalybms unpacks these words as signed ('>h'), so it misreads a raw current above
        // 32767 (a discharge over 276.7 A) and a voltage word above 3276.7 V; ours reads them
        // unsigned, as the protocol PDF's offsets imply. Compared where both can be right.
        soc[4..6].copy_from_slice(&((30000 - 3000 + rng.below(5768)) as u16).to_be_bytes());
        soc[6..8].copy_from_slice(&(rng.below(1001) as u16).to_be_bytes());
        let mut mos = [0u8; 8];
        mos[0] = rng.below(3) as u8;
        mos[1] = rng.below(2) as u8;
        mos[2] = rng.below(2) as u8;
        mos[3] = rng.below(128) as u8;
        mos[4..8].copy_from_slice(&(rng.below(1 << 30) as u32).to_be_bytes());
        let mut st = [0u8; 8];
        st[0] = 1 + rng.below(32) as u8;
        st[1] = 1 + rng.below(16) as u8;
        st[5..7].copy_from_slice(&(rng.below(32768) as u16).to_be_bytes());
        cases.push([soc, mos, st]);
    }
    let lines: Vec<String> = cases
        .iter()
        .map(|[a, b, c]| {
            format!(
                "daly {} {} {}",
                hex::encode(a),
                hex::encode(b),
                hex::encode(c)
            )
        })
        .collect();
    let peer = oracle(&py, &lines);
    let codec = daly::Codec::default();
    for ([soc, mos, st], (p, line)) in cases.iter().zip(peer.iter().zip(&lines)) {
        let mut answers: Vec<Option<Vec<u8>>> = vec![None; 9];
        answers[0] = Some(soc.to_vec());
        answers[3] = Some(mos.to_vec());
        answers[4] = Some(st.to_vec());
        let d = codec.decode(1, &answers).unwrap();
        let f = &d.fields;
        for name in [
            "pack_voltage",
            "soc",
            "charge_fet",
            "discharge_fet",
            "remaining_ah",
            "cell_count",
            "cycle_count",
        ] {
            close(num(f.get(name).unwrap()), &p[name], name, line);
        }
        // The sign (protocols.md §13.3): dalybms computes raw − 30000, which it documents as
        // "negative = charging"; our current is + = charging, so ours is its negation.
        close(
            -num(f.get("pack_current").unwrap()),
            &p["current_raw_decode"],
            "pack_current",
            line,
        );
        assert_eq!(
            f.get("state"),
            Some(&Value::Text(p["state"].as_str().unwrap().to_string())),
            "{line}"
        );
    }
}

fn same_module(ours: &pylontech::Analog, theirs: &serde_json::Value, line: &str) {
    let cells = theirs["cells"].as_array().unwrap();
    assert_eq!(cells.len(), ours.cells_mv.len(), "{line}");
    for (c, t) in ours.cells_mv.iter().zip(cells) {
        // python-pylontech reads cells as s16: compare where the sign bit is clear.
        if *c < 0x8000 {
            close(f64::from(*c) / 1000.0, t, "cell", line);
        }
    }
    let (bms, groups) = ours.temps.split_first().unwrap();
    close(
        pylontech::celsius(*bms),
        &theirs["temperature_bms"],
        "temperature_bms",
        line,
    );
    let tt = theirs["temperatures"].as_array().unwrap();
    assert_eq!(tt.len(), groups.len(), "{line}");
    for (g, t) in groups.iter().zip(tt) {
        close(pylontech::celsius(*g), t, "temperature", line);
    }
    close(ours.current_a(), &theirs["current"], "current", line);
    close(
        f64::from(ours.voltage_mv) / 1000.0,
        &theirs["voltage"],
        "voltage",
        line,
    );
    close(
        f64::from(ours.remaining_mah) / 1000.0,
        &theirs["remaining_ah"],
        "remaining",
        line,
    );
    close(
        f64::from(ours.total_mah) / 1000.0,
        &theirs["capacity_ah"],
        "capacity",
        line,
    );
    close(f64::from(ours.cycles), &theirs["cycles"], "cycles", line);
}

#[test]
fn pylontech_agrees_with_python_pylontech() {
    let Some(py) = python_with("pylontech", "python-pylontech") else {
        return;
    };
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/pylon-ascii/section14.txt"),
    )
    .unwrap();
    let real: Vec<&str> = text.lines().filter(|l| l.starts_with("~2002")).collect();
    let mut lines = vec![
        format!("pylontech single {}", real[0]),
        format!("pylontech management {}", real[1]),
        format!("pylontech group {}", real[2]),
    ];
    // Random modules through our encoder: one, or a group of up to 6, u16 or u24 capacities.
    let mut rng = Rng(0x5eed_0022);
    for i in 0..150 {
        let k = if i % 2 == 0 {
            1
        } else {
            1 + rng.below(6) as usize
        };
        let mut info = vec![
            if k == 1 { 0x10 } else { 0x11 },
            if k == 1 { 2 } else { k as u8 },
        ];
        for _ in 0..k {
            let cells = 8 + rng.below(9) as usize;
            let wide = rng.below(2) == 1;
            let total = if wide {
                65_536 + rng.below(200_000) as u32
            } else {
                1 + rng.below(65_535) as u32
            };
            let a = pylontech::Analog {
                cells_mv: (0..cells).map(|_| 2500 + rng.below(1200) as u16).collect(),
                temps: (0..1 + rng.below(6))
                    .map(|_| 2331 + rng.below(800) as u16)
                    .collect(),
                current: (rng.below(4000) as i32 - 2000) as i16,
                voltage_mv: 20_000 + rng.below(40_000) as u16,
                remaining_mah: rng.below(u64::from(total) + 1) as u32,
                total_mah: total,
                cycles: rng.below(10_000) as u16,
                user_count: if wide { 4 } else { 2 },
            };
            pylontech::encode_module(&a, &mut info);
        }
        let frame = String::from_utf8(ascii::reply(0x20, 2, 0, &info)).unwrap();
        let kind = if k == 1 { "single" } else { "group" };
        lines.push(format!("pylontech {kind} {}", frame.trim_end()));
    }
    let theirs = oracle(&py, &lines);
    assert_eq!(theirs.len(), lines.len());
    for (line, t) in lines.iter().zip(&theirs) {
        let frame = format!("{}\r", line.split(' ').nth(2).unwrap());
        let info = ascii::reply_info(
            frame.as_bytes(),
            ascii::Vendor::Pylontech,
            2,
            ascii::Command::Analog,
        )
        .unwrap();
        if line.contains(" management ") {
            let mut f = bmstap::record::Fields::new();
            pylontech::parse_management(&info, &mut f).unwrap();
            for name in [
                "charge_voltage_limit",
                "discharge_voltage_limit",
                "charge_current_limit",
                "charge_enable",
                "discharge_enable",
                "request_full_charge",
            ] {
                close(num(f.get(name).unwrap()), &t[name], name, line);
            }
            // Ours is the magnitude; python-pylontech keeps the sign.
            close(
                num(f.get("discharge_current_limit").unwrap()),
                &serde_json::json!(t["discharge_current_limit"].as_f64().unwrap().abs()),
                "discharge_current_limit",
                line,
            );
            close(
                num(f.get("request_force_charge_1").unwrap()),
                &t["bit5"],
                "bit5",
                line,
            );
            close(
                num(f.get("request_force_charge_2").unwrap()),
                &t["bit4"],
                "bit4",
                line,
            );
            continue;
        }
        let ours = if line.contains(" single ") {
            vec![pylontech::parse_analog(&info).unwrap()]
        } else {
            pylontech::parse_analog_group(&info).unwrap()
        };
        let mods = t["modules"].as_array().unwrap();
        assert_eq!(mods.len(), ours.len(), "{line}");
        for (o, m) in ours.iter().zip(mods) {
            same_module(o, m, line);
        }
        if line.contains(" group ") {
            // What bms-poll --pylontech-group writes: module i as the pack at 2 + i.
            use bmstap::proto::codec::{Codec as _, Read};
            let read = Read {
                address: 2,
                devices: (2..2 + mods.len() as u8).collect(),
                group: true,
            };
            let got = pylontech::GroupCodec.decode_group(&read, &[Some(frame.into_bytes())]);
            assert_eq!(got.len(), mods.len(), "{line}");
            for ((a, d), m) in got.iter().zip(mods) {
                let f = &d
                    .as_ref()
                    .unwrap_or_else(|e| panic!("{a}: {e}: {line}"))
                    .fields;
                close(
                    num(f.get("pack_voltage").unwrap()),
                    &m["voltage"],
                    "voltage",
                    line,
                );
                close(
                    num(f.get("pack_current").unwrap()),
                    &m["current"],
                    "current",
                    line,
                );
                close(
                    num(f.get("remaining_ah").unwrap()),
                    &m["remaining_ah"],
                    "remaining",
                    line,
                );
            }
        }
    }
}

/// JK-PB type-2 records (the RS-485 record is byte-identical to JK's Bluetooth JK02_32S one)
/// against aiobmsble's Jikong decoder: the published record of protocols.md §15.1 and 300
/// made by the simulator's encoder with random values across each field's range.
#[test]
fn jk_pb_agrees_with_aiobmsble() {
    use bmstap::proto::jkpb;
    let Some(py) = python_with("aiobmsble", "aiobmsble") else {
        return;
    };
    let published = "55AAEB9002AC050DFE0CFE0C010D010DFD0CFB0C010DFC0CFB0CFE0CFB0CF80CFB0CFB0C090D0000000000000000000000000000000000000000000000000000000000000000FFFF0000FF0C10000F0C40003D0040003D0041003F0041003E0041003E0041003D0040003E0041003F000000000000000000000000000000000000000000000000000000000000000000810000000000E8CF00004AE41900897C000086008000000000000000001986C00000400D030009000000B15F1C00640000008C4C760101010000000000000000000000000000FF0001000000050452000000D44E404000000000CA1400000001010100060000EA67000000000000CD00C300BF00BD03287F030A1D0000008051010000000100A50202000000000000FEFF7FDC2F0101B0CF070000BB";
    let mut records = vec![hex::decode(published).unwrap()];
    let mut rng = Rng(0x1c_0b5e_ed00_0023);
    for _ in 0..300 {
        let cells = 1 + rng.below(32) as usize;
        let t = |rng: &mut Rng| rng.below(1200) as i16 - 400;
        let live = jkpb::Live {
            cells_mv: (0..cells).map(|_| 2500 + rng.below(1300) as u16).collect(),
            present: 0,
            average_mv: 3300,
            difference_mv: rng.below(200) as u16,
            highest: 0,
            lowest: 0,
            mos_dc: t(&mut rng),
            voltage_mv: rng.below(120_000) as u32,
            power_mw: rng.below(1 << 31) as u32,
            current_ma: rng.below(600_000) as i32 - 300_000,
            temps_dc: [
                t(&mut rng),
                t(&mut rng),
                t(&mut rng),
                t(&mut rng),
                t(&mut rng),
            ],
            sensors: 1 + rng.below(63) as u8,
            alarms: rng.below(1 << 24) as u32,
            balance_ma: rng.below(4000) as i16 - 2000,
            balance_state: rng.below(3) as u8,
            soc: rng.below(101) as u8,
            remaining_mah: rng.below(1_000_000) as u32,
            full_mah: rng.below(1_000_000) as u32,
            cycles: rng.below(10_000) as u32,
            cycle_capacity_mah: rng.below(1 << 31) as u32,
            soh: rng.below(101) as u8,
            precharge: rng.below(2) == 1,
            runtime_s: rng.below(1 << 31) as u32,
            charge_fet: rng.below(2) == 1,
            discharge_fet: rng.below(2) == 1,
            heater: rng.below(2) == 1,
            frame_counter: 0,
        };
        records.push(jkpb::encode_live(&live, rng.below(256) as u8));
    }
    let lines: Vec<String> = records
        .iter()
        .map(|r| format!("jkpb {}", hex::encode(r)))
        .collect();
    let peer = oracle(&py, &lines);
    assert_eq!(peer.len(), records.len());
    for ((rec, p), line) in records.iter().zip(&peer).zip(&lines) {
        let l = jkpb::parse_live(rec).unwrap_or_else(|e| panic!("{e}: {line}"));
        let f = jkpb::fields(&l, None);
        for name in [
            "pack_voltage",
            "pack_current",
            "soc",
            "remaining_ah",
            "cycle_count",
            "soh",
            "charge_fet",
            "discharge_fet",
            "balancing_current",
            "balancing",
            "cell_count",
        ] {
            close(num(f.get(name).unwrap()), &p[name], name, line);
        }
        let cap = num(f.get("capacity_ah").unwrap()).floor();
        close(cap, &p["capacity_ah_floor"], "capacity_ah", line);
        for (bit, name) in jkpb::ALARM_BITS.iter().enumerate().take(16) {
            let theirs = p["alarms_low16"].as_u64().unwrap() >> bit & 1;
            close(num(f.get(name).unwrap()), &theirs.into(), name, line);
        }
        let Some(Value::Floats(cells)) = f.get("cell_voltages") else {
            panic!("no cells: {line}")
        };
        let theirs: Vec<f64> = p["cell_voltages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(cells, &theirs, "cells: {line}");
        // aiobmsble lists the MOSFET sensor (mask bit 0) first, then T1-T5 by their bits.
        let mut ours: Vec<f64> = Vec::new();
        if l.sensors & 1 != 0 {
            ours.push(num(f.get("temperature_mos").unwrap()));
        }
        if let Some(Value::Floats(t)) = f.get("temperatures") {
            ours.extend(t);
        }
        let theirs: Vec<f64> = p["temperatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(ours, theirs, "temperatures: {line}");
    }
}

#[test]
fn pylontech_system_parameters_agree_with_python_pylontech() {
    let Some(py) = python_with("pylontech", "python-pylontech") else {
        return;
    };
    // Two public 0x47 replies (see proto::pylontech's tests), then random ones through our
    // encoder.
    let mut frames = vec![
        "~20024600B032100E420BEA0AF00D030A470384D2F0B3B0A7F80D030A47FC7CF27F".to_string(),
        "~20024600B032110E420BEA0B540D0D0A3D03FCD2F0B3B0ADD40D0D0A3DFC18F23D".to_string(),
    ];
    let mut rng = Rng(0x5eed_0047);
    let mut word = |lo: u64, span: u64| (lo + rng.below(span)) as u16;
    for _ in 0..100 {
        let p = pylontech::SystemParameters {
            cell_high_mv: word(3300, 1000),
            cell_low_mv: word(2500, 800),
            cell_under_mv: word(2000, 800),
            charge_high_temp: word(2731, 800),
            charge_low_temp: word(2331, 800),
            charge_current: word(0, 2000) as i16,
            pack_high_mv: word(40_000, 20_000),
            pack_low_mv: word(30_000, 20_000),
            pack_under_mv: word(30_000, 20_000),
            discharge_high_temp: word(2731, 800),
            discharge_low_temp: word(2331, 800),
            discharge_current: -(word(0, 2000) as i16),
        };
        let info = pylontech::encode_system_parameters(&p);
        let frame = String::from_utf8(ascii::reply(0x20, 2, 0, &info)).unwrap();
        frames.push(frame.trim_end().to_string());
    }
    let lines: Vec<String> = frames
        .iter()
        .map(|f| format!("pylontech system {f}"))
        .collect();
    let theirs = oracle(&py, &lines);
    assert_eq!(theirs.len(), lines.len());
    let names = [
        ("setting_cell_voltage_high", "CellHighVoltageLimit"),
        ("setting_cell_voltage_low", "CellLowVoltageLimit"),
        ("setting_cell_voltage_under", "CellUnderVoltageLimit"),
        (
            "setting_charge_temperature_high",
            "ChargeHighTemperatureLimit",
        ),
        (
            "setting_charge_temperature_low",
            "ChargeLowTemperatureLimit",
        ),
        ("setting_pack_voltage_high", "ModuleHighVoltageLimit"),
        ("setting_pack_voltage_low", "ModuleLowVoltageLimit"),
        ("setting_pack_voltage_under", "ModuleUnderVoltageLimit"),
        (
            "setting_discharge_temperature_high",
            "DischargeHighTemperatureLimit",
        ),
        (
            "setting_discharge_temperature_low",
            "DischargeLowTemperatureLimit",
        ),
    ];
    for (line, t) in lines.iter().zip(&theirs) {
        let frame = format!("{}\r", line.split(' ').nth(2).unwrap());
        let info = ascii::reply_info(
            frame.as_bytes(),
            ascii::Vendor::Pylontech,
            2,
            ascii::Command::SystemParameters,
        )
        .unwrap();
        let mut f = bmstap::record::Fields::new();
        pylontech::system_parameter_fields(
            &pylontech::parse_system_parameters(&info).unwrap(),
            &mut f,
        );
        for (ours, peer) in names {
            close(num(f.get(ours).unwrap()), &t[peer], ours, line);
        }
        // Ours are magnitudes; python-pylontech keeps the sign (both in 0.1 A).
        for (ours, peer) in [
            ("setting_charge_current", "ChargeCurrentLimit"),
            ("setting_discharge_current", "DischargeCurrentLimit"),
        ] {
            let abs = serde_json::json!(t[peer].as_f64().unwrap().abs());
            close(num(f.get(ours).unwrap()), &abs, ours, line);
        }
    }
}
