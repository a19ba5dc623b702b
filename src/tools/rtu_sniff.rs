//! rtu-sniff: listen-only Modbus RTU sniffer, live from a port or offline from a capture.

use crate::cli::{addresses, duration, Addresses, Common};
use crate::exit::{usage, Exit};
use crate::io::net::Endpoint;
use crate::io::serial::{check_port, Link, OpenError};
use crate::ndjson::RecordWriter;
use crate::poll::{device_name, PackPlan};
use crate::proto::hear::{self, Heard};
use crate::proto::lp4::Map;
use crate::proto::rtu::{Event, Frame, Framer, Stats};
use crate::record::{is_device_id, FrameRecord, Info, Reading, Record, StatusRecord};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const EXAMPLES: &str = "\
Examples:
  # Every frame on the inverter-to-battery bus, live (never transmits)
  rtu-sniff --baud 9600 /dev/ttyUSB0

  # LifePower4 readings from whatever the inverter polls, into Home Assistant
  rtu-sniff --baud 9600 --decode lp4 --name 1=rack-top /dev/ttyUSB0 | readings-to-mqtt --host broker

  # Keep the raw bytes while listening, decode them again later
  rtu-sniff --baud 9600 --save bus.bin /dev/ttyUSB0
  rtu-sniff --input bus.bin --decode lp4

  # Decode what lp4-poll exchanged (lp4-poll --capture FILE)
  rtu-sniff --input poll.bin --decode lp4 | jq -c '{device, soc: .fields.soc}'

  # Listen through a transparent RS-485-to-Ethernet gateway
  rtu-sniff --decode lp4 tcp://192.168.1.50:4196

  # Only address 2's frames, counters every minute
  rtu-sniff --address 2 --stats-interval 1m /dev/ttyUSB0

Frames are found by CRC, whatever the timing; requests are paired with their responses
(start register and count attached). A capture has no clock: its frames carry their byte
offset, and decoded readings are stamped with the capture file's modification time.

At the end (of a capture, or live when ended by Ctrl-C or SIGTERM) and every
--stats-interval, a status record carries the counters.

Exit status: 0 done (live: ended by SIGINT or SIGTERM, after the final status record),
2 usage error or unreadable input, 75 the port cannot be opened.";

/// Listen to a Modbus RTU bus without ever transmitting, and print its frames (or, with
/// --decode lp4, LifePower4 readings) as NDJSON.
#[derive(Debug, clap::Parser)]
#[command(name = "rtu-sniff", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    /// Serial port, or transparent gateway (tcp://HOST:PORT), to listen on (nothing is ever
    /// written); without it, -I FILE
    #[arg(value_name = "PORT")]
    pub port: Option<String>,
    /// Read a saved byte capture instead of a port ('-' for standard input)
    #[arg(long, short = 'I', value_name = "FILE", conflicts_with = "port")]
    pub input: Option<PathBuf>,
    /// Line speed (9600: EG4 inverter bus; 19200: the packs' Comm bus)
    #[arg(long, short = 'b', value_name = "BAUD", default_value_t = 19200)]
    pub baud: u32,
    /// Append every byte received to FILE (replay it with --input)
    #[arg(long, value_name = "FILE", conflicts_with = "input")]
    pub save: Option<PathBuf>,
    /// Decode paired responses into readings: lp4 (EG4 LifePower4 registers)
    #[arg(long, value_name = "PROTO", value_parser = ["lp4"])]
    pub decode: Option<String>,
    /// Register map for --decode lp4
    #[arg(long, value_name = "MAP", default_value = "v01-06", value_parser = crate::cli::lp4_map())]
    pub map: Map,
    /// Device id for a bus address (repeatable), e.g. 1=rack-top
    #[arg(long, value_name = "ADDR=NAME")]
    pub name: Vec<String>,
    /// Only frames from/to these addresses: 1,2 or 1-4
    #[arg(long, short = 'a', value_name = "ADDR[,ADDR...]", value_parser = addresses)]
    pub address: Option<Addresses>,
    /// Only these function codes: 3,4 (exceptions count as their function)
    #[arg(long, short = 'f', value_name = "FC[,FC...]", value_parser = addresses)]
    pub function: Option<Addresses>,
    /// A request is unanswered after this long (live only)
    #[arg(long, value_name = "DUR", value_parser = duration, default_value = "1s")]
    pub reply_timeout: Duration,
    /// Write the counters as a status record every DUR (live), as well as at the end
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub stats_interval: Option<Duration>,
    #[command(flatten)]
    pub common: Common,
}

/// Turns framer events into records.
struct Sink {
    live: bool,
    decode: Option<Map>,
    names: HashMap<u8, String>,
    info: HashMap<u8, Info>,
    address: Option<Vec<u8>>,
    function: Option<Vec<u8>>,
    label: String,
    /// Timestamp for offline readings (the capture's modification time).
    offline_ts: Timestamp,
}

impl Sink {
    fn wanted(&self, f: &Frame<'_>) -> bool {
        self.address.as_ref().is_none_or(|a| a.contains(&f.address))
            && self
                .function
                .as_ref()
                .is_none_or(|fc| fc.contains(&(f.function & 0x7F)))
    }

    fn ts(&self, us: Option<u64>) -> Timestamp {
        match us {
            Some(us) => Timestamp {
                unix_ms: (us / 1000) as i64,
            },
            None => self.offline_ts,
        }
    }

    fn event(&mut self, e: Event<'_>, out: &mut RecordWriter<impl Write>) -> anyhow::Result<()> {
        match e {
            Event::Frame(f) if self.wanted(&f) => match self.decode {
                Some(map) => self.reading(&f, map, out),
                None => self.frame(&f, out),
            },
            Event::Frame(_) => Ok(()),
            Event::Skipped { offset, len } => {
                log::debug!("skipped {len} byte(s) at offset {offset}");
                Ok(())
            }
            Event::Unanswered {
                offset,
                address,
                function,
                ..
            } => {
                log::debug!(
                    "request at offset {offset} to address {address} (fc {function}) got no reply"
                );
                Ok(())
            }
        }
    }

    fn frame(&mut self, f: &Frame<'_>, out: &mut RecordWriter<impl Write>) -> anyhow::Result<()> {
        let rec = FrameRecord {
            ts: f.ts.map(|us| self.ts(Some(us))),
            offset: if self.live { None } else { Some(f.offset) },
            kind: f.kind.as_str(),
            address: f.address,
            function: f.function,
            hex: hex::encode(f.bytes),
            start: f.start,
            count: f.count,
            registers: f.registers().map(|r| r.collect()),
        };
        out.write_record(&Record::Frame(rec))
    }

    fn reading(
        &mut self,
        f: &Frame<'_>,
        map: Map,
        out: &mut RecordWriter<impl Write>,
    ) -> anyhow::Result<()> {
        // The decoding is the LP4 hearer's, shared with the listening engine.
        for heard in hear::Lp4::response(map, f) {
            match heard {
                Heard::Identity { address, info } => {
                    log::info!("address {address}: identity {:?}", info.serial);
                    self.info.insert(address, info);
                }
                Heard::Reading {
                    address,
                    fields,
                    mut raw,
                } => {
                    let info = self.info.get(&address).cloned().unwrap_or_default();
                    let plan = PackPlan {
                        address,
                        name: self.names.get(&address).cloned(),
                        index: 0,
                    };
                    if !self.live {
                        raw.insert("offset".into(), f.offset.into());
                    }
                    let reading = Reading {
                        ts: self.ts(f.ts),
                        source: "lp4",
                        device: device_name(&self.label, &plan, &info),
                        fields,
                        info,
                        raw,
                    };
                    out.write_record(&Record::Reading(reading))?;
                }
            }
        }
        Ok(())
    }
}

/// The event callback for the framer: records go to `out`; the first error is kept in
/// `failed` (the framer's callback cannot return one) and stops further writing.
fn forward<'a, W: Write>(
    sink: &'a mut Sink,
    out: &'a mut RecordWriter<W>,
    failed: &'a mut Option<anyhow::Error>,
) -> impl FnMut(Event<'_>) + 'a {
    move |e| {
        if failed.is_none() {
            *failed = sink.event(e, out).err();
        }
    }
}

fn stats_record(label: &str, s: &Stats, ts: Timestamp) -> Record {
    let mut m = serde_json::Map::new();
    for (k, v) in [
        ("bytes", s.bytes),
        ("frames", s.frames),
        ("requests", s.requests),
        ("responses", s.responses),
        ("exceptions", s.exceptions),
        ("crc_failures", s.crc_failures),
        ("bytes_skipped", s.bytes_skipped),
        ("unanswered", s.unanswered),
        ("collisions", s.collisions),
    ] {
        m.insert(k.into(), v.into());
    }
    Record::Status(StatusRecord {
        ts,
        source: "rtu-sniff",
        device: crate::record::device_id(label),
        error: None,
        stats: Some(m),
    })
}

fn parse_names(specs: &[String]) -> anyhow::Result<HashMap<u8, String>> {
    let mut names = HashMap::new();
    for spec in specs {
        let (addr, name) = spec.split_once('=').ok_or_else(|| {
            usage(format!(
                "--name {spec}: expected ADDR=NAME, e.g. 1=rack-top"
            ))
        })?;
        let addr = addresses(addr).map_err(|e| usage(format!("--name {spec}: {e}")))?;
        if !is_device_id(name) {
            return Err(usage(format!(
                "--name {spec}: use lower-case letters, digits, '_' and '-'"
            )));
        }
        for a in addr.0 {
            names.insert(a, name.to_string());
        }
    }
    Ok(names)
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    let names = parse_names(&args.name)?;
    let mut out = RecordWriter::stdout();
    let mut sink = Sink {
        live: args.input.is_none(),
        decode: args.decode.as_ref().map(|_| args.map),
        names,
        info: HashMap::new(),
        address: args.address.clone().map(|a| a.0),
        function: args.function.clone().map(|a| a.0),
        label: String::new(),
        offline_ts: Timestamp::now(),
    };
    match (&args.input, &args.port) {
        (Some(path), _) => offline(path, &mut sink, &mut out),
        (None, Some(port)) => live(port, &args, &mut sink, &mut out),
        (None, None) => Err(usage(
            "give a PORT to listen on (/dev/ttyUSB0, tcp://HOST:PORT), or a saved capture \
             with -I FILE (--input; '-' reads standard input)",
        )),
    }
}

fn offline(path: &PathBuf, sink: &mut Sink, out: &mut RecordWriter) -> anyhow::Result<Exit> {
    let mut input: Box<dyn Read> = if path.as_os_str() == "-" {
        sink.label = "stdin".into();
        Box::new(std::io::stdin())
    } else {
        let f =
            File::open(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
        if let Ok(m) = f.metadata().and_then(|m| m.modified()) {
            sink.offline_ts = Timestamp::from_system(m);
        }
        sink.label = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Box::new(f)
    };
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut failed: Option<anyhow::Error> = None;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        };
        framer.push(&buf[..n], None, forward(sink, out, &mut failed));
        if let Some(e) = failed.take() {
            return Err(e);
        }
        out.flush()?;
    }
    framer.finish(forward(sink, out, &mut failed));
    if let Some(e) = failed {
        return Err(e);
    }
    out.write(&stats_record(&sink.label, framer.stats(), sink.offline_ts))?;
    log::info!("{:?}", framer.stats());
    Ok(Exit::Ok)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Set by SIGINT/SIGTERM: the live loop ends, finishes the frame at hand and writes the
/// final counters.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Opens the port or connects to the gateway; a listen-only link never writes. At the start
/// a port about to appear is waited for briefly ([`Link::open`]); a reopen tries once, so
/// that a signal during the backoff is seen at once.
fn open_port(path: &str, baud: u32, first: bool) -> Result<Link, OpenError> {
    if first {
        Link::open(path, baud, None)
    } else {
        Link::open_within(path, baud, None, Duration::ZERO)
    }
}

fn live(path: &str, args: &Args, sink: &mut Sink, out: &mut RecordWriter) -> anyhow::Result<Exit> {
    if let Endpoint::ModbusTcp { .. } = check_port(path)? {
        return Err(usage(format!(
            "{path}: a Modbus TCP gateway only passes its own client's exchanges: listen \
             through a transparent gateway (tcp://HOST:PORT)"
        )));
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let mut port = Some(open_port(path, args.baud, true).map_err(OpenError::fatal)?);
    sink.label = port.as_ref().map(|p| p.label.clone()).unwrap_or_default();
    let mut save = match &args.save {
        Some(p) => Some(
            crate::io::safefile::open_append(p)
                .map_err(|e| usage(format!("cannot write {}: {e}", p.display())))?,
        ),
        None => None,
    };
    log::info!(
        "{path}: listening, {}",
        port.as_ref().map(Link::settings).unwrap_or_default()
    );
    let mut framer = Framer::with_reply_timeout(args.reply_timeout.as_micros() as u64);
    let mut buf = [0u8; 4096];
    let mut next_stats = args.stats_interval.map(|d| Instant::now() + d);
    let mut failed: Option<anyhow::Error> = None;
    let mut backoff = Duration::from_millis(500);
    while !STOP.load(Ordering::SeqCst) {
        let Some(p) = port.as_mut() else {
            // Sleep in slices, so that a signal ends the wait promptly.
            let until = Instant::now() + backoff;
            while !STOP.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
            }
            if STOP.load(Ordering::SeqCst) {
                break;
            }
            match open_port(path, args.baud, false) {
                Ok(p) => {
                    log::warn!("{path}: reopened");
                    port = Some(p);
                    backoff = Duration::from_millis(500);
                }
                Err(e) => {
                    log::debug!("{}", e.fatal());
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
            continue;
        };
        match p.receive(&mut buf, Duration::from_millis(200)) {
            Ok(0) => {
                log::warn!("{path}: line hung up or connection closed; reopening");
                port = None;
            }
            Ok(n) => {
                crate::log::trace(&sink.label, "<", &buf[..n]);
                if let Some(f) = save.as_mut() {
                    if let Err(e) = f.write_all(&buf[..n]) {
                        log::error!("--save: {e}");
                    }
                }
                framer.push(&buf[..n], Some(now_us()), forward(sink, out, &mut failed));
                if let Some(e) = failed.take() {
                    return Err(e);
                }
                out.flush()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                // A quiet line: what is held back will not be completed, and the reply
                // timeout runs on in stream time.
                framer.idle(forward(sink, out, &mut failed));
                framer.push(&[], Some(now_us()), forward(sink, out, &mut failed));
                if let Some(e) = failed.take() {
                    return Err(e);
                }
                out.flush()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::warn!("{path}: {e}; reopening");
                port = None;
            }
        }
        if let Some(at) = next_stats {
            if Instant::now() >= at {
                out.write(&stats_record(&sink.label, framer.stats(), Timestamp::now()))?;
                next_stats = args.stats_interval.map(|d| at + d);
            }
        }
    }
    // Ended by SIGINT or SIGTERM: the frames still held back, then the final counters.
    framer.finish(forward(sink, out, &mut failed));
    if let Some(e) = failed {
        return Err(e);
    }
    out.write(&stats_record(&sink.label, framer.stats(), Timestamp::now()))?;
    out.flush()?;
    log::info!("{path}: stopped by a signal; {:?}", framer.stats());
    Ok(Exit::Ok)
}
