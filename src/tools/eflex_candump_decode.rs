//! eflex-candump-decode: Fortress eFlex battery readings from candump text or live SocketCAN.

use crate::cli::{duration, Common};
use crate::exit::Exit;
use crate::io::can::{self, CanOpts, FrameSink, Stamp};
use crate::ndjson::RecordWriter;
use crate::proto::candump::{CanFrame, IdCensus, Protocol};
use crate::proto::eflex::{self, Assembler, Cycle, Event};
use crate::record::{device_id, Reading, Record};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::io::Write;
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
not candump, and error frames (bit 29 set in an 8-digit id), are reported as FILE:LINE on
stderr, counted and skipped (exit 1).
Each reading's ts is the log timestamp of the battery's last frame. Logs without an absolute
clock (candump -t z, -t d, or no -t) are anchored on --start, else on the file's modification
time (standard input: the time read), and the reading says so in raw.ts_anchor.

Exit status: 0 all input decoded, 1 some lines were skipped or the frames gave no reading
(stderr says which decoder their ids belong to), 2 usage error or unreadable file, 75 the
CAN interface does not exist or cannot be read.";

/// Decode Fortress eFlex battery telemetry from candump logs or a live CAN interface into
/// NDJSON readings.
///
/// Each battery sends 11 frames on 0x100+n and 7 on 0x600+n about once a second; every
/// complete, in-order pair of groups becomes one reading, its device id the battery's
/// serial number.
#[derive(Debug, clap::Parser)]
#[command(name = "eflex-candump-decode", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    #[command(flatten)]
    pub input: CanOpts,
    /// At most one reading per battery per DUR, always the newest (e.g. 2m)
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub every: Option<Duration>,
    /// Also put both reassembled blocks (77 and 49 bytes) in raw, as hex
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub common: Common,
}

/// The frames-to-readings state: assembler, --every throttle, counters.
pub struct Decoder {
    asm: Assembler,
    every: Option<Duration>,
    blocks: bool,
    throttle: HashMap<String, Throttle>,
    /// Which protocols' ids the input held, for a hint when it gave no reading.
    census: IdCensus,
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
            census: IdCensus::default(),
        }
    }

    /// When the frames read gave no battery cycle: one line saying what they were (and
    /// which tool reads them).
    pub fn no_readings(&self) -> Option<String> {
        if self.asm.stats().cycles > 0 {
            return None;
        }
        self.census.no_readings(Protocol::Eflex)
    }

    /// One eFlex frame (classic, 11-bit, 8 bytes).
    pub fn push(
        &mut self,
        id: u32,
        data: &[u8],
        ts: Stamp,
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

    fn cycle(&mut self, c: Cycle<Stamp>, out: &mut RecordWriter<impl Write>) -> anyhow::Result<()> {
        let b = c.decode();
        let ts = c.ts.ts;
        if self.every.is_none() && c.ts.anchor.is_none() {
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
        let mut reading = reading;
        if let Some(a) = c.ts.anchor {
            reading.raw.insert("ts_anchor".into(), a.as_str().into());
        }
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
        self.asm.finish(());
        let s = self.asm.stats();
        log::info!(
            "{} frames, {} battery cycles, {} groups dropped ({} out of order, {} ended early, {} unpaired, {} unfinished at the end), {} non-eFlex frames",
            s.frames, s.cycles, s.dropped(), s.out_of_order, s.ended_early, s.unpaired, s.unfinished, s.ignored
        );
        Ok(())
    }
}

impl FrameSink for Decoder {
    fn frame(
        &mut self,
        frame: &CanFrame,
        stamp: Stamp,
        _label: &str,
        out: &mut RecordWriter<impl Write>,
    ) -> anyhow::Result<()> {
        self.census.add(frame);
        if frame.extended || frame.len != 8 {
            return Ok(()); // eFlex frames are classic, 11-bit, 8 bytes
        }
        self.push(frame.id, frame.data(), stamp, out)
    }

    // No end_of_input: files given in order are one capture (a rotated candump log), so a
    // battery's cycle may continue in the next file; the device id is the battery's serial.
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    let mut out = RecordWriter::stdout();
    let mut dec = Decoder::new(args.every, args.raw);
    let stats = can::read(&args.input, 250_000, &mut dec, &mut out)?;
    dec.finish(&mut out)?;
    out.flush()?;
    let mut exit = Exit::Ok;
    if stats.bad_lines > 0 {
        log::warn!("{} line(s) skipped", stats.bad_lines);
        exit = Exit::Partial;
    }
    if let Some(m) = dec.no_readings() {
        log::error!("{m}");
        exit = Exit::Partial;
    }
    Ok(exit)
}
