//! RS-485 gateways on the network: lp4-poll, eg4-7e-query and rtu-sniff against
//! `bms-sim --tcp` / `--modbus-tcp` over loopback, end to end.

use crate::common::{cmd, lines_of, readings, records, std_cmd, Guard, Sim, TempDir};
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A simulated gateway (`bms-sim ... --tcp 127.0.0.1:0`), killed when dropped: a [`Sim`]
/// whose first line is its URL, `tcp://127.0.0.1:PORT` or `modbus-tcp://...`.
struct Gateway(Sim);

impl Gateway {
    fn start(args: &[&str]) -> Gateway {
        Gateway(Sim::start_printing(args, "tcp://127.0.0.1:"))
    }

    fn url(&self) -> &str {
        &self.0.path
    }

    /// `host:port` of the URL.
    fn addr(&self) -> &str {
        self.url().split_once("://").unwrap().1
    }
}

fn devices(recs: &[serde_json::Value]) -> Vec<String> {
    recs.iter()
        .map(|r| r["device"].as_str().unwrap().to_string())
        .collect()
}

/// Every cycle has exactly one record per pack, in pack order. A pack is known by the
/// address its device id ends with (`sim-f-03`, or `127-0-0-1-PORT-3` before its identity
/// was read).
fn assert_round_robin(recs: &[serde_json::Value], packs: &[&str]) {
    let d = devices(recs);
    assert_eq!(d.len() % packs.len(), 0, "{d:?}");
    let addr = |dev: &str| -> u64 { dev.rsplit('-').next().unwrap().parse().unwrap() };
    for (i, dev) in d.iter().enumerate() {
        let want = packs[i % packs.len()];
        assert_eq!(addr(dev), addr(want), "record {i} of {d:?}");
        if recs[i]["type"] == "reading" && recs[i]["info"]["serial"].is_string() {
            assert_eq!(dev, want, "record {i} of {d:?}");
        }
    }
}

#[test]
fn transparent_gateway_several_packs() {
    let gw = Gateway::start(&[
        "lp4",
        "-a",
        "1-3",
        "--tcp",
        "127.0.0.1:0",
        "--serial-tag",
        "gw",
    ]);
    let out = cmd("lp4-poll")
        .args(["--count", "2", "--interval", "100ms", "-a", "1-3", gw.url()])
        .assert()
        .success();
    let out = out.get_output();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = readings(&out.stdout);
    assert_round_robin(&r, &["sim-gw-01", "sim-gw-02", "sim-gw-03"]);
    assert_eq!(r.len(), 6);
    for reading in &r {
        assert_eq!(
            reading["fields"]["cell_voltages"].as_array().unwrap().len(),
            16
        );
        assert_eq!(reading["info"]["model"], "LFP-51.2V100Ah-V1.0");
        assert_eq!(reading["raw"]["registers"].as_array().unwrap().len(), 39);
    }
}

#[test]
fn modbus_tcp_gateway_several_packs() {
    let gw = Gateway::start(&[
        "lp4",
        "-a",
        "1,2,5",
        "--modbus-tcp",
        "127.0.0.1:0",
        "--serial-tag",
        "mb",
    ]);
    assert!(gw.url().starts_with("modbus-tcp://"));
    let out = cmd("lp4-poll")
        .args([
            "--count",
            "2",
            "--interval",
            "100ms",
            "-a",
            "1,2,5",
            gw.url(),
        ])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_round_robin(&r, &["sim-mb-01", "sim-mb-02", "sim-mb-05"]);
    assert_eq!(r.len(), 6);
    // The same packs over a transparent link decode to the same shape.
    for reading in &r {
        assert_eq!(reading["fields"]["cell_count"], 16);
        assert_eq!(reading["info"]["manufacturer"], "EG4");
    }
}

/// A bad line behind each kind of gateway: damaged, doubled, foreign and garbage-trailed
/// replies. Nothing is lost or doubled: one record per pack and cycle, in order.
#[test]
fn faults_behind_gateways_give_one_record_per_pack_and_cycle() {
    for mode in ["--tcp", "--modbus-tcp"] {
        let gw = Gateway::start(&[
            "lp4",
            "-a",
            "1-3",
            mode,
            "127.0.0.1:0",
            "--serial-tag",
            "f",
            "--bad-crc-every",
            "7",
            "--twice-every",
            "3",
            "--garbage-every",
            "4",
            "--foreign-every",
            "5",
        ]);
        let out = cmd("lp4-poll")
            .args([
                "--count",
                "6",
                "--interval",
                "50ms",
                "--gap",
                "20ms",
                "-t",
                "300ms",
                "--emit-errors",
                "-a",
                "1-3",
                gw.url(),
            ])
            .assert()
            .code(1);
        let recs = records(&out.get_output().stdout);
        assert_eq!(recs.len(), 18, "{mode}: {recs:?}");
        assert_round_robin(&recs, &["sim-f-01", "sim-f-02", "sim-f-03"]);
        let ok = recs.iter().filter(|r| r["type"] == "reading").count();
        assert!(ok >= 9, "{mode}: only {ok} readings of 18");
        for r in recs.iter().filter(|r| r["info"]["serial"].is_string()) {
            // a foreign reply never becomes this pack's reading or identity
            let addr: u64 = r["device"].as_str().unwrap()[6..].parse().unwrap();
            assert_eq!(r["info"]["serial"], format!("SIM-f-{addr:02}"), "{mode}");
        }
    }
}

#[test]
fn second_client_is_refused_with_a_hint() {
    let gw = Gateway::start(&["lp4", "--tcp", "127.0.0.1:0"]);
    let mut first = Guard::spawn(
        std_cmd("lp4-poll")
            .args(["--interval", "100ms", gw.url()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let lines = lines_of(first.stdout.take().unwrap());
    lines
        .recv_timeout(Duration::from_secs(30))
        .expect("first client reads");
    cmd("lp4-poll")
        .args(["--once", gw.url()])
        .assert()
        .code(75)
        .stderr(predicates::str::contains("connection refused"))
        .stderr(predicates::str::contains("one client at a time"));
    // The first client is unaffected.
    lines
        .recv_timeout(Duration::from_secs(30))
        .expect("first client still reads");
}

/// The gateway goes away mid-run and comes back on the same address: the poller logs the
/// loss once, reports the packs missing meanwhile, reconnects by itself and carries on,
/// one record per pack and cycle throughout.
#[test]
fn gateway_goes_away_and_comes_back() {
    let gw = Gateway::start(&[
        "lp4",
        "-a",
        "1,2",
        "--tcp",
        "127.0.0.1:0",
        "--serial-tag",
        "b",
    ]);
    let addr = gw.addr().to_string();
    let mut poller = Guard::spawn(
        std_cmd("lp4-poll")
            .args([
                "--interval",
                "100ms",
                "--gap",
                "20ms",
                "--emit-errors",
                "-a",
                "1,2",
                gw.url(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let lines = lines_of(poller.stdout.take().unwrap());
    let mut stderr = poller.stderr.take().unwrap();
    let mut seen = Vec::new();
    let next = |seen: &mut Vec<String>| {
        let l = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("a record");
        seen.push(l.clone());
        crate::common::check_record(&l)
    };
    while seen.len() < 4 {
        assert_eq!(next(&mut seen)["type"], "reading");
    }
    drop(gw);
    // Status records while it is away.
    let mut statuses = 0;
    while statuses < 4 {
        if next(&mut seen)["type"] == "status" {
            statuses += 1;
        }
    }
    let gw = Gateway::start(&["lp4", "-a", "1,2", "--tcp", &addr, "--serial-tag", "b"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut after = 0;
    while after < 4 {
        assert!(
            Instant::now() < deadline,
            "no readings after the gateway came back"
        );
        if next(&mut seen)["type"] == "reading" {
            after += 1;
        }
    }
    // Finish on a cycle boundary, then stop the poller.
    while seen.len() % 2 != 0 {
        next(&mut seen);
    }
    let _ = poller.kill();
    let _ = poller.wait();
    drop(gw);
    let recs: Vec<_> = seen
        .iter()
        .map(|l| crate::common::check_record(l))
        .collect();
    assert_round_robin(&recs, &["sim-b-01", "sim-b-02"]);
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err);
    assert_eq!(err.matches("port lost").count(), 1, "{err}");
    assert!(err.contains("reopened"), "{err}");
}

/// Replies delayed close to the timeout still arrive in time: every pack, every cycle.
#[test]
fn slow_gateway_replies_are_all_read() {
    for mode in ["--tcp", "--modbus-tcp"] {
        let gw = Gateway::start(&[
            "lp4",
            "-a",
            "1,2",
            mode,
            "127.0.0.1:0",
            "--late-every",
            "1",
            "--late-by",
            "700ms",
            "--serial-tag",
            "s",
        ]);
        let out = cmd("lp4-poll")
            .args([
                "--count",
                "2",
                "--interval",
                "10ms",
                "--gap",
                "10ms",
                "-t",
                "1500ms",
                "-a",
                "1,2",
                gw.url(),
            ])
            .assert()
            .success();
        let r = readings(&out.get_output().stdout);
        assert_eq!(r.len(), 4, "{mode}");
        assert_round_robin(&r, &["sim-s-01", "sim-s-02"]);
    }
}

#[test]
fn eg4_7e_query_through_a_transparent_gateway() {
    let gw = Gateway::start(&[
        "eg4-7e",
        "-a",
        "1,2",
        "--cells",
        "15",
        "--tcp",
        "127.0.0.1:0",
    ]);
    let out = cmd("eg4-7e-query")
        .args([
            "--count",
            "2",
            "--interval",
            "10ms",
            "--gap",
            "20ms",
            "-a",
            "1,2",
            "--info",
            gw.url(),
        ])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    assert_eq!(r.len(), 4);
    let port = gw.addr().rsplit_once(':').unwrap().1;
    for (i, reading) in r.iter().enumerate() {
        assert_eq!(reading["device"], format!("127-0-0-1-{port}-{}", i % 2 + 1));
        assert_eq!(
            reading["fields"]["cell_voltages"].as_array().unwrap().len(),
            15
        );
        assert!(reading["info"]["firmware"].is_string());
    }
    cmd("eg4-7e-query")
        .args(["--once", &gw.url().replace("tcp://", "modbus-tcp://")])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("transparent"));
}

#[test]
fn addresses_that_cannot_work_exit_2_or_75() {
    for bad in [
        "tcp://127.0.0.1",
        "tcp://:502",
        "udp://127.0.0.1:5",
        "tcp://h:99999",
    ] {
        cmd("lp4-poll").args(["--once", bad]).assert().code(2);
        cmd("eg4-7e-query").args(["--once", bad]).assert().code(2);
        cmd("rtu-sniff").arg(bad).assert().code(2);
    }
    cmd("rtu-sniff")
        .arg("modbus-tcp://127.0.0.1:5")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("transparent gateway"));
    // A port nothing listens on, a name that does not resolve.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", free.local_addr().unwrap());
    drop(free);
    for tool in ["lp4-poll", "eg4-7e-query"] {
        cmd(tool)
            .args(["--once", &url])
            .assert()
            .code(75)
            .stderr(predicates::str::contains("connection refused"));
        cmd(tool)
            .args(["--once", "tcp://no-such-gateway.invalid:4196"])
            .assert()
            .code(75)
            .stderr(predicates::str::contains("cannot resolve"));
    }
    cmd("rtu-sniff").arg(&url).assert().code(75);
}

#[test]
fn config_file_with_gateways_and_a_scan() {
    let a = Gateway::start(&[
        "lp4",
        "-a",
        "1,2",
        "--tcp",
        "127.0.0.1:0",
        "--serial-tag",
        "a",
    ]);
    let b = Gateway::start(&[
        "lp4",
        "-a",
        "3",
        "--modbus-tcp",
        "127.0.0.1:0",
        "--serial-tag",
        "b",
    ]);
    let dir = TempDir::new("gwconfig");
    let toml = dir.path("packs.toml");
    std::fs::write(
        &toml,
        format!(
            "timeout = \"1s\"\n[[pack]]\nname = \"top\"\nport = \"{0}\"\naddress = 1\n\
             [[pack]]\nport = \"{0}\"\naddress = 2\n\
             [[pack]]\nname = \"far\"\nport = \"{1}\"\naddress = 3\n",
            a.url(),
            b.url()
        ),
    )
    .unwrap();
    let out = cmd("lp4-poll")
        .args(["--once", "--config", toml.to_str().unwrap()])
        .assert()
        .success();
    let mut d = devices(&readings(&out.get_output().stdout));
    d.sort();
    assert_eq!(d, ["far", "sim-a-02", "top"]);
    // --scan over a transparent gateway: one pass (the line speed is the gateway's).
    let out = cmd("lp4-poll")
        .args(["--scan", "-t", "200ms", "--gap", "5ms", a.url()])
        .assert()
        .success();
    let r = readings(&out.get_output().stdout);
    let found: Vec<u64> = r
        .iter()
        .map(|r| r["raw"]["address"].as_u64().unwrap())
        .collect();
    assert_eq!(found, [1, 2]);
    assert!(r.iter().all(|r| r["raw"].get("baud").is_none()));
}

/// --trace shows the bytes on the wire (MBAP over Modbus TCP); --capture keeps RTU frames
/// either way, so rtu-sniff decodes the capture like one from a serial port.
#[test]
fn trace_and_capture_over_tcp() {
    for mode in ["--tcp", "--modbus-tcp"] {
        let gw = Gateway::start(&["lp4", "-a", "2", mode, "127.0.0.1:0", "--serial-tag", "c"]);
        let dir = TempDir::new(&format!("gwcap{}", mode.len()));
        let cap = dir.path("bus.bin");
        let out = cmd("lp4-poll")
            .args([
                "--once",
                "-a",
                "2",
                "--trace",
                "--capture",
                cap.to_str().unwrap(),
                gw.url(),
            ])
            .assert()
            .success();
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        if mode == "--tcp" {
            assert!(err.contains("> 02 03 00 00 00 27 05 E3"), "{err}");
        } else {
            // transaction 2 (the identity read was 1), unit 2, no CRC
            assert!(
                err.contains("> 00 02 00 00 00 06 02 03 00 00 00 27\n"),
                "{err}"
            );
            assert!(err.contains("< 00 02 00 00 00 51 02 03 4E"), "{err}");
        }
        let bytes = std::fs::read(&cap).unwrap();
        assert_eq!(bytes.len(), 8 + 51 + 8 + 83, "{mode}");
        let out = cmd("rtu-sniff")
            .args(["--input", cap.to_str().unwrap(), "--decode", "lp4"])
            .assert()
            .success();
        let r = readings(&out.get_output().stdout);
        assert_eq!(r.len(), 1, "{mode}");
        assert_eq!(r[0]["device"], "sim-c-02");
    }
}

/// rtu-sniff listening through a transparent gateway: what the gateway forwards from the bus
/// is framed and decoded as from a serial port. The gateway here is a loopback socket
/// writing a synthetic bus capture.
#[test]
fn rtu_sniff_live_through_a_transparent_gateway() {
    let capture = cmd("bms-sim")
        .args(["rtu-capture", "--bytes", "4000", "--noise", "0.05"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        for chunk in capture.chunks(100) {
            if s.write_all(chunk).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // Stay connected (a quiet bus) until the sniffer goes.
        let mut b = [0u8; 16];
        let _ = s.read(&mut b);
    });
    let mut sniff = Guard::spawn(
        std_cmd("rtu-sniff")
            .args(["--decode", "lp4", "--name", "1=one", &url])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let lines = lines_of(sniff.stdout.take().unwrap());
    let mut devices = Vec::new();
    while devices.len() < 8 {
        let l = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("readings from the gateway");
        let r = crate::common::check_record(&l);
        assert_eq!(r["source"], "lp4");
        assert_eq!(r["fields"]["cell_voltages"].as_array().unwrap().len(), 16);
        devices.push(r["device"].as_str().unwrap().to_string());
    }
    assert!(devices.contains(&"one".to_string()), "{devices:?}");
    let _ = sniff.kill();
    let _ = sniff.wait();
    let _ = server.join();
}

/// A gateway that accepts and at once closes the connection (how some say "busy"): the
/// error says another client may hold it.
#[test]
fn connection_closed_at_once_hints_at_another_client() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        // lp4-poll --once connects once; reconnects, if any, are closed the same way
        for s in listener.incoming().take(1) {
            drop(s);
        }
    });
    cmd("lp4-poll")
        .args(["--once", "-t", "300ms", &url])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("right after connecting"))
        .stderr(predicates::str::contains(
            "another program may be connected",
        ));
    let _ = server.join();
}

/// Through a Modbus TCP gateway a silent pack is reported by the gateway (exception 0x0B)
/// rather than by a timeout; the other packs are read.
#[test]
fn modbus_tcp_gateway_reports_a_silent_pack() {
    let gw = Gateway::start(&[
        "lp4",
        "-a",
        "1,2",
        "--silent",
        "2",
        "--modbus-tcp",
        "127.0.0.1:0",
        "--serial-tag",
        "x",
    ]);
    let out = cmd("lp4-poll")
        .args(["--once", "--emit-errors", "-a", "1,2", gw.url()])
        .assert()
        .code(1);
    let recs = records(&out.get_output().stdout);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0]["device"], "sim-x-01");
    assert_eq!(recs[1]["type"], "status");
    let err = recs[1]["error"].as_str().unwrap();
    assert!(err.contains("gateway target failed to respond"), "{err}");
}
