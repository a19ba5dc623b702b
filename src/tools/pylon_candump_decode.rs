//! pylon-candump-decode: what the battery bank tells the inverter (Pylon LV CAN and its
//! cousins), from candump text or a live SocketCAN interface in listen-only mode.

use crate::cli::{duration, Common};
use crate::exit::{usage, Exit};
use crate::io::can::{self, CanOpts, FrameSink, Stamp};
use crate::ndjson::RecordWriter;
use crate::proto::candump::{CanFrame, FrameKind, IdCensus, Protocol};
use crate::proto::pylon::{self, Assembler, Event, Profile, Telegram, PROFILES};
use crate::time::Timestamp;
use std::io::Write;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  # Decode a saved log of the battery-to-inverter link (candump -L can0 > link.log)
  pylon-candump-decode link.log

  # SOC and the limits the bank imposes, live from candump
  candump -L can0 | pylon-candump-decode | jq -c '.fields | {soc, charge_current_limit}'

  # Straight from the interface (listen-only), one reading a minute, into MQTT
  ip link set can0 up type can bitrate 500000 listen-only on
  pylon-candump-decode --interface can0 --every 1m | readings-to-mqtt --host broker

  # An EG4 bank in Lux mode; a log written with candump -t z, started at a known time
  pylon-candump-decode --profile lux --start 2026-11-20T14:00:00Z link-tz.log

  # Try it without hardware
  bms-sim pylon --cycles 5 | pylon-candump-decode

Input: every candump text format, as eflex-candump-decode reads it. Frames of other devices
on the bus are ignored; lines that are not candump, and error frames (bit 29 set in an
8-digit id), are reported as FILE:LINE on stderr, counted and skipped (exit 1). One reading per telegram: the frames between two inverter
heartbeats (0x305), or, without heartbeats (a log of the battery side), from one 0x351 to
the next; its ts is the log time of the telegram's last frame. A telegram without 0x351,
0x355 and 0x356 (a log starting mid-telegram) is dropped (counted at -v). Logs without an
absolute clock (candump -t z, -t d, or no -t) are anchored on --start, else on the file's
modification time (standard input: the time read), and the reading says so in
raw.ts_anchor.

Exit status: 0 all input decoded, 1 some lines were skipped or the frames gave no reading
(stderr says which decoder their ids belong to), 2 usage error or unreadable file, 75 the
CAN interface does not exist or cannot be read.";

/// Decode what a battery bank tells its inverter over CAN (Pylon LV protocol: EG4/Lux,
/// Pylontech-compatible and Victron-style BMSes) into NDJSON readings.
///
/// The master battery sends the bank's limits, SOC, SOH, voltage, current, temperature and
/// alarms about once a second; listening to the inverter link needs no polling at all.
#[derive(Debug, clap::Parser)]
#[command(name = "pylon-candump-decode", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    #[command(flatten)]
    pub input: CanOpts,
    /// At most one reading per DUR, always the newest (e.g. 1m)
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub every: Option<Duration>,
    /// How the vendor reads the protocol
    #[arg(long, value_name = "PROFILE", default_value = "auto", value_parser = profiles())]
    pub profile: String,
    /// Device id of the bank [default: manufacturer and interface or file stem, e.g.
    /// pylon-can0]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub common: Common,
}

/// `--profile` values and their help, from the profile table.
fn profiles() -> clap::builder::PossibleValuesParser {
    PROFILES
        .iter()
        .map(|p| clap::builder::PossibleValue::new(p.name).help(p.about))
        .collect::<Vec<_>>()
        .into()
}

/// The frames-to-readings state: one [`Bus`] per input label (a `candump -L any` log of two
/// inverter links holds two banks, and their telegrams must not close each other), the
/// profile (resolved once for `auto`), the device id cache.
pub struct Decoder {
    buses: Vec<Bus>,
    /// Index in `buses` of the bus of the frame at hand.
    cur: usize,
    profile: Profile,
    name: Option<String>,
    every: Option<Duration>,
    line: Vec<u8>,
    /// The device id and the manufacturer and label it was made from.
    device: (Option<String>, String, String),
    /// Set once the input named more than [`MAX_BUSES`] interfaces.
    too_many_buses: bool,
    /// Which protocols' ids the input held, for a hint when it gave no reading.
    census: IdCensus,
}

/// Inverter links kept apart at once: memory stays bounded whatever a log names.
const MAX_BUSES: usize = 64;

/// One inverter link: its label (interface or file stem), telegram assembler and --every
/// throttle.
struct Bus {
    label: String,
    asm: Assembler<Stamp>,
    last: Option<Timestamp>,
    /// The newest reading held back by --every, as its JSON line.
    pending: Option<(Timestamp, Vec<u8>)>,
}

impl Bus {
    fn new(label: &str) -> Bus {
        Bus {
            label: label.to_string(),
            asm: Assembler::new(),
            last: None,
            pending: None,
        }
    }
}

impl Decoder {
    pub fn new(profile: &Profile, name: Option<String>, every: Option<Duration>) -> Decoder {
        Decoder {
            buses: vec![Bus::new("")],
            cur: 0,
            profile: *profile,
            name,
            every,
            line: Vec::with_capacity(1024),
            device: (None, String::new(), String::new()),
            too_many_buses: false,
            census: IdCensus::default(),
        }
    }

    /// When the frames read gave no telegram: one line saying what they were (and which
    /// tool reads them).
    pub fn no_readings(&self) -> Option<String> {
        if self.buses.iter().any(|b| b.asm.stats().telegrams > 0) {
            return None;
        }
        self.census.no_readings(Protocol::Pylon)
    }

    /// One standard data frame.
    pub fn push(
        &mut self,
        id: u32,
        data: &[u8],
        stamp: Stamp,
        out: &mut RecordWriter<impl Write>,
    ) -> anyhow::Result<()> {
        match self.buses[self.cur].asm.push(id, data, stamp) {
            Some(Event::Telegram(t)) => self.telegram(&t, out),
            Some(Event::Dropped(d)) => {
                log::debug!("dropped a {d}");
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn telegram(
        &mut self,
        t: &Telegram<Stamp>,
        out: &mut RecordWriter<impl Write>,
    ) -> anyhow::Result<()> {
        if self.profile.voltage_scale.is_none() {
            if let (Some(v), Some(cvl)) = (
                t.get(0x356).and_then(|d| d.get(..2)),
                t.get(0x351).and_then(|d| d.get(..2)),
            ) {
                let raw = i16::from_le_bytes([v[0], v[1]]);
                let cvl = u16::from_le_bytes([cvl[0], cvl[1]]);
                let scale = pylon::plausible_scale(raw, cvl);
                log::info!(
                    "profile auto: 0x356 voltage in {scale} V ({} V against a charge voltage limit of {} V)",
                    f64::from(raw) * scale,
                    f64::from(cvl) / 10.0
                );
                self.profile = self.profile.with_scale(scale);
            }
        }
        let bank = pylon::decode(t, &self.profile);
        let device = match &self.name {
            Some(n) => n.as_str(),
            None => {
                let (m, label, id) = &mut self.device;
                let bus = &self.buses[self.cur].label;
                if *m != bank.manufacturer || label != bus || id.is_empty() {
                    m.clone_from(&bank.manufacturer);
                    label.clone_from(bus);
                    *id = pylon::device_name(bank.manufacturer.as_deref(), bus);
                }
                id.as_str()
            }
        };
        let ts = t.ts.ts;
        let anchor = t.ts.anchor.map(|a| [("ts_anchor", a.as_str())]);
        let extra: &[(&str, &str)] = anchor.as_ref().map_or(&[], |a| &a[..]);
        let Some(every) = self.every else {
            return out.write_with(|buf| pylon::write_json(&bank, ts, device, extra, buf));
        };
        self.line.clear();
        pylon::write_json(&bank, ts, device, extra, &mut self.line)?;
        let bus = &mut self.buses[self.cur];
        let due = bus
            .last
            .is_none_or(|last| ts.unix_ms - last.unix_ms >= every.as_millis() as i64 || ts < last);
        if due {
            bus.last = Some(ts);
            bus.pending = None;
            let line = &self.line;
            out.write_with(|buf| {
                buf.extend_from_slice(line);
                Ok(())
            })
        } else {
            bus.pending = Some((ts, self.line.clone()));
            Ok(())
        }
    }

    /// End of input: a last complete telegram, the reading held back by --every, and a
    /// summary in the log.
    pub fn finish(&mut self, out: &mut RecordWriter<impl Write>) -> anyhow::Result<()> {
        self.end_of_input(out)?;
        let mut s = pylon::Stats::default();
        for bus in &mut self.buses {
            if let Some((_, line)) = bus.pending.take() {
                out.write_with(|buf| {
                    buf.extend_from_slice(&line);
                    Ok(())
                })?;
            }
            let b = bus.asm.stats();
            s.frames += b.frames;
            s.heartbeats += b.heartbeats;
            s.ignored += b.ignored;
            s.telegrams += b.telegrams;
            s.dropped += b.dropped;
        }
        log::info!(
            "{} frames, {} heartbeats, {} telegrams, {} dropped without their essential frames, {} frames of other ids",
            s.frames, s.heartbeats, s.telegrams, s.dropped, s.ignored
        );
        Ok(())
    }
}

impl FrameSink for Decoder {
    fn frame(
        &mut self,
        frame: &CanFrame,
        stamp: Stamp,
        label: &str,
        out: &mut RecordWriter<impl Write>,
    ) -> anyhow::Result<()> {
        self.census.add(frame);
        if frame.kind != FrameKind::Data || frame.extended || frame.fd.is_some() {
            return Ok(()); // the protocol is classic CAN, 11-bit ids
        }
        if self.buses[self.cur].label != label {
            self.cur = match self.buses.iter().position(|b| b.label == label) {
                Some(i) => i,
                None if self.buses.len() < MAX_BUSES => {
                    self.buses.push(Bus::new(label));
                    self.buses.len() - 1
                }
                None => {
                    if !self.too_many_buses {
                        self.too_many_buses = true;
                        log::warn!(
                            "more than {MAX_BUSES} interfaces in the input: frames of '{label}' and any further ones are ignored"
                        );
                    }
                    return Ok(());
                }
            };
        }
        self.push(frame.id, frame.data(), stamp, out)
    }

    /// A telegram never runs from one file into the next: a complete one is written.
    fn end_of_input(&mut self, out: &mut RecordWriter<impl Write>) -> anyhow::Result<()> {
        for i in 0..self.buses.len() {
            if let Some(t) = self.buses[i].asm.finish() {
                self.cur = i;
                self.telegram(&t, out)?;
            }
        }
        Ok(())
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    if let Some(n) = &args.name {
        if !crate::record::is_device_id(n) {
            return Err(usage(format!(
                "invalid --name '{n}': use lower-case letters, digits, '_' and '-' (e.g. bank-1)"
            )));
        }
    }
    let profile = Profile::by_name(&args.profile)
        .ok_or_else(|| usage(format!("unknown profile '{}'", args.profile)))?;
    let mut out = RecordWriter::stdout();
    let mut dec = Decoder::new(profile, args.name.clone(), args.every);
    let stats = can::read(&args.input, 500_000, &mut dec, &mut out)?;
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
