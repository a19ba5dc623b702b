//! Decode throughput of bms-poll's codecs: the published JBD, Daly, JK, Seplos v2 and PACE
//! replies (and Seplos v3 blocks), and the group reads (Pylontech's INFO FF, Seplos v3's
//! system blocks), judged and decoded as the engine does it, many times over.
//! `cargo bench --bench codecs`; the figures
//! go to docs/performance.md by hand (scripts/bench runs this too).

// A benchmark reports on stdout (scripts/bench reads it).
#![allow(clippy::print_stdout)]

use bmstap::proto::codec::{Codec, Judge, Read};
use bmstap::proto::{daly, jbd, modbus, pace, seplos, seplos3};
use std::hint::black_box;
use std::time::Instant;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// Judges and decodes one whole read (every request's answer) `n` times; reads per second.
fn run(codec: &dyn Codec, address: u8, replies: &[Vec<u8>], n: u32) -> f64 {
    let requests = codec.status(address);
    assert_eq!(requests.len(), replies.len());
    let t = Instant::now();
    for _ in 0..n {
        let mut answers: Vec<Option<Vec<u8>>> = Vec::with_capacity(requests.len());
        for (req, reply) in requests.iter().zip(replies) {
            match codec.judge(address, req, &answers, black_box(reply), true) {
                Judge::Done(Ok(a)) => answers.push(Some(a)),
                other => panic!("{other:?}"),
            }
        }
        let d = codec.decode(address, &answers).unwrap();
        black_box(serde_json::to_vec(&d.fields).unwrap());
    }
    f64::from(n) / t.elapsed().as_secs_f64()
}

fn main() {
    let n = std::env::var("BENCH_READS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let jbd_replies = vec![
        unhex("DD 03 00 1D 06 18 00 00 01 F2 01 F4 00 00 2C 7C 00 00 00 00 00 00 80 64 03 04 03 0B 8B 0B 8A 0B 84 FA 8D 77"),
        unhex("DD 04 00 08 0F 45 0F 3D 0F 37 0F 3D FE C6 77"),
    ];
    // A full Daly read: the published 0x90/0x91/0x93/0x94 answers, six cell frames (16
    // cells), one temperature frame, balance and fault answers.
    let frame = |id: u8, d: [u8; 8]| daly::encode_frame(1, id, d).to_vec();
    let data = |s: &str| -> [u8; 8] { unhex(s)[4..12].try_into().unwrap() };
    let cells: Vec<u8> = (1..=6u8)
        .flat_map(|k| frame(0x95, [k, 0x0c, 0xfd, 0x0c, 0xfe, 0x0c, 0xfe, 0]))
        .collect();
    let daly_replies = vec![
        unhex("a5 01 90 08 02 14 00 00 75 45 03 78 89"),
        unhex("a5 01 91 08 0d 00 0f 0c fe 01 03 78 e1"),
        frame(0x92, [65, 1, 63, 2, 0, 0, 0, 0]),
        unhex("a5 01 93 08 00 01 01 9a 00 02 a2 d8 59"),
        frame(0x94, data("a5 01 94 08 10 04 00 00 00 00 03 40 96")),
        cells,
        frame(0x96, [1, 65, 64, 63, 62, 0, 0, 0]),
        frame(0x97, [0; 8]),
        frame(0x98, [0; 8]),
    ];
    let j = run(&jbd::Codec, 0, &jbd_replies, n);
    let d = run(&daly::Codec::default(), 1, &daly_replies, n);
    println!("jbd: {j:.0} reads/s (judge + decode + JSON of 2 replies, 4 cells)");
    println!("daly: {d:.0} reads/s (judge + decode + JSON of 9 answers, 16 cells, 15 frames)");
    jk_benches(n);
    // protocols.md §14.3 / §14.4: the real Seplos v2 16S and 15S and PACE 16S replies.
    let seplos_replies = vec![
        b"~2000460010960001100CD70CE90CF40CD60CEF0CE50CE10CDC0CE90CF00CE80CEF0CEA0CDA0CDE0CD8060BA60BA00B970BA60BA50BA2FD5C14A0344E0A426803134650004603E8149F0000000000000000DC6C\r".to_vec(),
        b"~20004600A06000010F000000000000000000000000000000060000000000000000140000000000000300000200000000000000000002EB74\r".to_vec(),
    ];
    let pace_replies = vec![
        b"~25014600F07A0001100CC70CC80CC70CC70CC70CC50CC60CC70CC70CC60CC70CC60CC60CC70CC60CC7060B9B0B990B990B990BB30BBCFF1FCCCD12D303286A008C2710E1E4\r".to_vec(),
        b"~25014600004C000110000000000000000000000000000000000600000000000000000000000E000000000000EF3A\r".to_vec(),
    ];
    let mut pia = vec![5234u16, 65215, 15000, 20000, 0, 750, 995, 42];
    pia.resize(0x11, 0);
    let mut pib: Vec<u16> = (0..16).map(|i| 3270 + i).collect();
    pib.extend([2981, 2991, 3001, 2971, 0, 0, 0, 0, 2961, 3031]);
    let seplos3_replies = vec![
        modbus::encode_read_reply(0, 4, &pia),
        modbus::encode_read_reply(0, 4, &pib),
        seplos3::encode_coils(0, &[0; 18]),
    ];
    let s = run(&seplos::Codec, 0, &seplos_replies, n);
    let p = run(&pace::Codec, 1, &pace_replies, n);
    let s3 = run(&seplos3::Codec, 0, &seplos3_replies, n);
    println!("seplos: {s:.0} reads/s (judge + decode + JSON of 0x42 16S and 0x44 15S frames)");
    println!("pace: {p:.0} reads/s (judge + decode + JSON of 0x42 and 0x44 16S frames)");
    println!(
        "seplos3: {s3:.0} reads/s (judge + decode + JSON of 2 FC04 blocks and the FC01 coils)"
    );
    group_benches(n);
}

/// Judges and decodes one group read (`read`, one answer per request) `n` times; readings
/// per second (every device of the read counts).
fn run_group(codec: &dyn Codec, read: &Read, replies: &[Vec<u8>], n: u32) -> f64 {
    let requests = codec.group_status(read);
    assert_eq!(requests.len(), replies.len());
    let t = Instant::now();
    let mut readings = 0u64;
    for _ in 0..n {
        let mut answers: Vec<Option<Vec<u8>>> = Vec::with_capacity(requests.len());
        for (req, reply) in requests.iter().zip(replies) {
            match codec.judge(read.address, req, &answers, black_box(reply), true) {
                Judge::Done(Ok(a)) => answers.push(Some(a)),
                other => panic!("{other:?}"),
            }
        }
        for (_, d) in codec.decode_group(read, &answers) {
            black_box(serde_json::to_vec(&d.unwrap().fields).unwrap());
            readings += 1;
        }
    }
    readings as f64 / t.elapsed().as_secs_f64()
}

/// The group reads (issue 22): Pylontech's whole-group 0x42 (protocols.md §14.2's US2000 x 3
/// reply) and a Seplos v3 bank's system blocks (computed).
fn group_benches(n: u32) {
    use bmstap::proto::pylontech;
    let g = pylontech::GroupCodec;
    let read = g.reads(&[2, 3, 4]).remove(0);
    let p = run_group(&g, &read, &[US2000_FF.as_bytes().to_vec()], n);
    let system = seplos3::Codec
        .reads(&[1, 2])
        .into_iter()
        .find(|r| r.group)
        .unwrap();
    let mut eia = vec![0u16; 0x1A];
    eia[0] = 5312;
    eia[22] = 2;
    let eib = vec![250u16; 0x16];
    let replies = vec![
        modbus::encode_read_reply(0, 4, &eia),
        modbus::encode_read_reply(0, 4, &eib),
    ];
    let s = run_group(&seplos3::Codec, &system, &replies, n);
    println!(
        "pylontech group: {p:.0} readings/s (judge + decode + JSON of the 0x42 INFO FF reply, 3 modules of 15S)"
    );
    println!("seplos3 system: {s:.0} readings/s (judge + decode + JSON of EIA and EIB)");
}

const US2000_FF: &str = "~20024600914211030F0CE70CE80CE60CE70CE80CE80CE80CE60CE50CE60CE80CE70CEA0CE50CE6050B910B870B870B870B87FFE6C18982DC02C350001F0F0CE20CE60CE60CE10CE50CE70CE60CE30CE20CE50CE30CE90CE70CE90CE9050B910B870B870B870B87FFE7C17082DC02C350001F0F0CE20CE50CE50CE20CE30CE30CE40CE50CE60CE60CE30CE40CE40CE60CE6050B910B7D0B7D0B7D0B7DFFE5C16082DC02C350001FB476\r";

/// The JK families (protocols.md §15): JK-B's read-all reply, JK-PB asked with triggers, and
/// JK-PB heard: a master's cycle of records fed to the listener.
fn jk_benches(n: u32) {
    use bmstap::proto::hear::{Hearer, JkPb};
    use bmstap::proto::{jk, jkpb};
    let jk_reply = vec![unhex(JK_14S)];
    let k = run(&jk::Codec::default(), 0, &jk_reply, n);
    let mut live = unhex(JKPB_LIVE);
    live.extend(jkpb::encode_ack(1, 0x1620));
    let settings = unhex(JKPB_SETTINGS);
    let codec = jkpb::Codec {
        modbus_read: false,
        invert_current: false,
    };
    let t = run(&codec, 1, &[live.clone(), settings.clone()], n);
    // A master's cycle with 15 slaves: every slave's live and settings record behind its
    // trigger, then the ack.
    let mut cycle = Vec::new();
    for a in 1..=15u8 {
        for (trig, rec) in [
            (jkpb::Trigger::Live, &live[..300]),
            (jkpb::Trigger::Settings, &settings[..300]),
        ] {
            cycle.extend(trig.frame(a).unwrap());
            cycle.extend(rec);
            cycle.extend(jkpb::encode_ack(a, trig.register()));
        }
    }
    let rounds = (n / 15).max(1);
    let mut hearer = JkPb::new(false);
    let start = Instant::now();
    let mut readings = 0u64;
    for _ in 0..rounds {
        for chunk in black_box(&cycle).chunks(64) {
            readings += hearer.feed(chunk).len() as u64;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(readings, u64::from(rounds) * 15);
    let mb = (cycle.len() as f64 * f64::from(rounds)) / secs / 1e6;
    println!("jk: {k:.0} reads/s (judge + decode + JSON of the 285-byte read-all reply, 14 cells)");
    println!("jk-pb: {t:.0} reads/s (judge + decode + JSON of a live and a settings record)");
    println!(
        "jk-pb listening: {:.0} readings/s, {mb:.1} MB/s (a 15-slave master cycle in 64-byte chunks)",
        readings as f64 / secs
    );
}

const JK_14S: &str = "4E57011B00000000060001792A010EED020EFA030EF7040EEC050EF8060EFA070EF1080EF8090EE30A0EFA0B0EF10C0EFB0D0EFB0E0EF280001D81001E82001C8314EF8480D0850F860287000489000000008A000E8B00008C00078E16268F10AE900FD2910FA0920005930BEA940C1C95000596012C9700079800039900059A00059B0CE49C00089D019E005A9F0046A00064A10064A20014A30046A40046A5FFECA6FFF6A7FFECA8FFF6A90EAA0000000EAB01AC01AD0411AE01AF01B0000AB114B231323334353600000000B300B4496E707574205573B532313031B60000E200B748362E585F5F53362E312E33535F5FB800B900000000BA425433303732303230313230303030323030353231303031C0010000000068000054D1";
const JKPB_LIVE: &str = "55AAEB9002AC050DFE0CFE0C010D010DFD0CFB0C010DFC0CFB0CFE0CFB0CF80CFB0CFB0C090D0000000000000000000000000000000000000000000000000000000000000000FFFF0000FF0C10000F0C40003D0040003D0041003F0041003E0041003E0041003D0040003E0041003F000000000000000000000000000000000000000000000000000000000000000000810000000000E8CF00004AE41900897C000086008000000000000000001986C00000400D030009000000B15F1C00640000008C4C760101010000000000000000000000000000FF0001000000050452000000D44E404000000000CA1400000001010100060000EA67000000000000CD00C300BF00BD03287F030A1D0000008051010000000100A50202000000000000FEFF7FDC2F0101B0CF070000BB";
const JKPB_SETTINGS: &str = "55AAEB900105E40C00005A0A0000960A0000420E0000AA0D000005000000AB0D00008C0A0000AC0D0000480D0000C4090000F04902001E0000003C000000F04902001E0000003C00000005000000D0070000580200002602000058020000260200009CFFFFFFCEFFFFFFE80300002003000008000000010000000100000001000000605B0300DC050000160D00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000010000000500000060E3160050033C3218FEFFFFFF3FE9010200000000500110161E00016587";
