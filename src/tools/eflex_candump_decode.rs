//! eflex-candump-decode: Fortress eFlex battery readings from candump text or live SocketCAN.

use crate::cli::{duration, Common};
use crate::exit::{unavailable, usage, Exit};
use crate::io::can::{is_down, CanInput};
use crate::io::lines::LineReader;
use crate::ndjson::RecordWriter;
use crate::proto::candump::{self, Line, Timestamp as LogTime};
use crate::proto::eflex::{self, Assembler, Cycle, Event};
use crate::record::{device_id, Reading, Record};
use crate::time::{days_from_civil, Timestamp};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  # Decode a saved log (candump -L can0 > bus.log)
  eflex-candump-decode bus.log

  # State of charge of every battery, live from candump
  candump -L can0 | eflex-candump-decode | jq -c '{device, soc: .fields.soc}'

  # Straight from the interface, one reading per battery every 2 minutes, into MQTT
  eflex-candump-decode --interface can0 --every 2m | readings-to-mqtt --host broker

  # Several files in order (a battery's frames may continue in the next file)
  eflex-candump-decode candump-2026-11-20_*.log > readings.ndjson

  # Try it without hardware
  bms-sim eflex --batteries 3 --cycles 5 | eflex-candump-decode

Input: every candump text format (-L/-l log files, the default display with or without
-t a|d|z|A, -x, upper or lower case, '.' separators, _X raw DLC, CAN FD, remote and error
frames, DROPCOUNT lines). Frames that are not eFlex are skipped silently; lines that are
not candump are reported as FILE:LINE on stderr, counted and skipped (exit 1).
Each reading's ts is the log timestamp of the battery's last frame; lines without an
absolute timestamp (candump without -t a) are stamped with the time they were read.

Exit status: 0 all input decoded, 1 some lines were skipped, 2 usage error or unreadable
file, 75 the CAN interface does not exist or cannot be read.";

/// Decode Fortress eFlex battery telemetry from candump logs or a live CAN interface into
/// NDJSON readings.
///
/// Each battery sends 11 frames on 0x100+n and 7 on 0x600+n about once a second; every
/// complete, in-order pair of groups becomes one reading, its device id the battery's
/// serial number.
#[derive(Debug, clap::Parser)]
#[command(name = "eflex-candump-decode", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    /// candump text files, read in order ('-' or none: standard input)
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Read a SocketCAN interface (e.g. can0) instead of candump text
    #[arg(long, value_name = "IFACE", conflicts_with = "files")]
    pub interface: Option<String>,
    /// At most one reading per battery per DUR, always the newest (e.g. 2m)
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub every: Option<Duration>,
    /// Also put both reassembled blocks (77 and 49 bytes) in raw, as hex
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub common: Common,
}

/// Line length cap: candump lines are < 300 bytes, even CAN FD ones.
const LINE_CAP: usize = 8192;
/// Skipped lines reported one by one before only counting them.
const REPORT_LINES: u64 = 20;

/// The frames-to-readings state: assembler, --every throttle, counters.
pub struct Decoder {
    asm: Assembler,
    every: Option<Duration>,
    blocks: bool,
    throttle: HashMap<String, Throttle>,
    /// Input lines that were not candump (or too long).
    pub bad_lines: u64,
}

#[derive(Default)]
struct Throttle {
    last: Option<Timestamp>,
    pending: Option<Reading>,
}

impl Decoder {
    pub fn new(every: Option<Duration>, blocks: bool) -> Decoder {
        Decoder {
            asm: Assembler::new(),
            every,
            blocks,
            throttle: HashMap::new(),
            bad_lines: 0,
        }
    }

    /// One CAN frame; `ts` None when the input carries no absolute time.
    pub fn frame(
        &mut self,
        id: u32,
        data: &[u8],
        ts: Option<Timestamp>,
        out: &mut RecordWriter<impl Write>,
    ) -> anyhow::Result<()> {
        match self.asm.push(id, data, ts) {
            Some(Event::Cycle(c)) => self.cycle(c, out),
            Some(Event::Dropped(d)) => {
                log::debug!("dropped a group: {d}");
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn cycle(
        &mut self,
        c: Cycle<Option<Timestamp>>,
        out: &mut RecordWriter<impl Write>,
    ) -> anyhow::Result<()> {
        let b = c.decode();
        let ts = c.ts.unwrap_or_else(Timestamp::now);
        if self.every.is_none() {
            let blocks = self.blocks.then_some((&c.block10, &c.block60));
            return out.write_with(|buf| eflex::write_json(&b, ts, blocks, buf));
        }
        let device = device_id(&b.serial());
        let reading = Reading {
            ts,
            source: "eflex",
            device,
            fields: eflex::fields(&b),
            info: eflex::info(&b),
            raw: eflex::raw(&b, self.blocks.then_some((&c.block10, &c.block60))),
        };
        let Some(every) = self.every else {
            return out.write_record(&Record::Reading(reading));
        };
        let slot = self.throttle.entry(reading.device.clone()).or_default();
        let due = slot
            .last
            .is_none_or(|last| ts.unix_ms - last.unix_ms >= every.as_millis() as i64 || ts < last);
        if due {
            slot.last = Some(ts);
            slot.pending = None;
            out.write_record(&Record::Reading(reading))
        } else {
            slot.pending = Some(reading);
            Ok(())
        }
    }

    /// End of input: the newest reading held back by --every is written, open groups are
    /// counted as dropped, and a summary goes to the log.
    pub fn finish(&mut self, out: &mut RecordWriter<impl Write>) -> anyhow::Result<()> {
        let mut pending: Vec<Reading> = self
            .throttle
            .values_mut()
            .filter_map(|t| t.pending.take())
            .collect();
        pending.sort_by_key(|r| r.ts);
        for r in pending {
            out.write_record(&Record::Reading(r))?;
        }
        let open = self.asm.finish(None::<Timestamp>);
        let s = self.asm.stats();
        log::info!(
            "{} frames, {} battery cycles, {} groups dropped ({} out of order, {} ended early, {} unpaired, {} unfinished at the end), {} non-eFlex frames",
            s.frames, s.cycles, s.dropped(), s.out_of_order, s.ended_early, s.unpaired, open.len(), s.ignored
        );
        Ok(())
    }
}

/// Absolute time of a candump timestamp; `-t A` civil times are local time.
fn absolute(ts: &LogTime) -> Option<Timestamp> {
    match *ts {
        LogTime::Absolute { secs, nanos } => Some(Timestamp::from_secs_nanos(secs, nanos)),
        LogTime::Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
        } => {
            let naive = days_from_civil(i64::from(year), u32::from(month), u32::from(day)) * 86_400
                + i64::from(hour) * 3600
                + i64::from(minute) * 60
                + i64::from(second);
            let secs = naive - local_offset(naive);
            Some(Timestamp {
                unix_ms: secs * 1000 + i64::from(nanos / 1_000_000),
            })
        }
        LogTime::Relative { .. } => None,
    }
}

/// The local time zone's offset from UTC in seconds at (about) `naive` local seconds.
fn local_offset(naive: i64) -> i64 {
    let t: libc::time_t = naive as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed tm we own; tm is plain data.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    let mut out = RecordWriter::stdout();
    let mut dec = Decoder::new(args.every, args.raw);
    if let Some(iface) = &args.interface {
        return live(iface, &mut dec, &mut out);
    }
    // Open every file first: an unreadable one is a usage error before any output.
    let mut inputs: Vec<(String, Box<dyn Read>)> = Vec::new();
    if args.files.is_empty() {
        inputs.push(("stdin".into(), Box::new(std::io::stdin())));
    }
    for f in &args.files {
        if f.as_os_str() == "-" {
            inputs.push(("stdin".into(), Box::new(std::io::stdin())));
            continue;
        }
        let file = std::fs::File::open(f)
            .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
        inputs.push((f.display().to_string(), Box::new(file)));
    }
    for (name, input) in inputs {
        decode_text(&name, input, &mut dec, &mut out)?;
    }
    dec.finish(&mut out)?;
    out.flush()?;
    if dec.bad_lines > 0 {
        log::warn!("{} line(s) skipped", dec.bad_lines);
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}

/// Decodes one candump text stream.
pub fn decode_text(
    name: &str,
    input: impl Read,
    dec: &mut Decoder,
    out: &mut RecordWriter<impl Write>,
) -> anyhow::Result<()> {
    let mut lines = LineReader::new(input, LINE_CAP);
    loop {
        if lines.drained() {
            out.flush()?;
        }
        let Some((n, line)) = lines
            .next_line()
            .map_err(|e| anyhow::anyhow!("reading {name}: {e}"))?
        else {
            return Ok(());
        };
        let bytes = match line {
            Ok(b) => b,
            Err(len) => {
                skip(dec, name, n, &format!("line too long ({len} bytes)"));
                continue;
            }
        };
        match candump::parse_line(bytes) {
            Ok(Line::Frame(f)) => {
                if f.frame.extended || f.frame.len != 8 {
                    continue; // eFlex frames are classic, 11-bit, 8 bytes
                }
                let ts = f.ts.as_ref().and_then(absolute);
                dec.frame(f.frame.id, f.frame.data(), ts, out)?;
            }
            Ok(Line::DropCount(d)) => log::info!("{name}:{n}: {}", d.text),
            Ok(_) => {}
            Err(e) => skip(dec, name, n, &e.to_string()),
        }
    }
}

fn skip(dec: &mut Decoder, name: &str, line: u64, why: &str) {
    dec.bad_lines += 1;
    if dec.bad_lines <= REPORT_LINES {
        log::warn!("{name}:{line}: {why}; skipped");
        if dec.bad_lines == REPORT_LINES {
            log::warn!("further skipped lines are only counted");
        }
    }
}

fn live(iface: &str, dec: &mut Decoder, out: &mut RecordWriter) -> anyhow::Result<Exit> {
    let mut can = CanInput::open(iface).map_err(|e| {
        let hint = if e.raw_os_error() == Some(libc::ENODEV) {
            format!("{iface}: no such CAN interface (bring it up: ip link set {iface} up type can bitrate 250000)")
        } else {
            format!("{iface}: cannot open CAN interface: {e}")
        };
        unavailable(hint)
    })?;
    log::info!("{iface}: reading");
    let mut down = false;
    loop {
        match can.next_frame() {
            Ok(Some(f)) => {
                if down {
                    log::warn!("{iface}: up again");
                    down = false;
                }
                if !f.extended && f.len == 8 {
                    dec.frame(f.id, &f.data, Some(Timestamp::from_system(f.time)), out)?;
                    out.flush()?;
                }
            }
            Ok(None) => out.flush()?,
            Err(e) if is_down(&e) => {
                if !down {
                    log::warn!("{iface}: network is down; waiting for it to come back");
                    down = true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(unavailable(format!("{}: {e}", can.iface))),
        }
    }
}
