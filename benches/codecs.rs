//! Decode throughput of bms-poll's codecs: the published JBD, Daly, Seplos v2 and PACE replies
//! (and Seplos v3 blocks) judged and decoded as the engine does it, many times over. `cargo bench --bench codecs`; the figures
//! go to docs/performance.md by hand (scripts/bench runs this too).

// A benchmark reports on stdout (scripts/bench reads it).
#![allow(clippy::print_stdout)]

use bmstap::proto::codec::{Codec, Judge};
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
}
