//! bms-sim: simulated battery packs, so the toolkit can be tried and tested without hardware.

use crate::cli::{addresses, Addresses, Common};
use crate::exit::{unavailable, usage, Exit};
use crate::io::pty::Pty;
use crate::sim::lp4::{Misbehaviour, PackModel};
use crate::sim::{eg4_7e, lp4, Responder};
use anyhow::Context;
use clap::Subcommand;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  # Two LifePower4 packs behind a pseudo-terminal; the first stdout line is its path
  bms-sim lp4 --address 1,2
  # ... with a stable name, polled like a real adapter
  bms-sim lp4 --address 1,2 --link /tmp/lp4 &
  lp4-poll --address 1,2 --interval 2s /tmp/lp4

  # A pack that never answers, damaged CRCs, a warning bit, real 9600-baud timing
  bms-sim lp4 --address 1,2,3 --silent 3 --bad-crc-every 5 --fault 2:cell_ov --wire-baud 9600
  # A bad line: late replies, replies sent twice, trailing garbage, replies from the wrong pack
  bms-sim lp4 --address 1,2 --late-every 7 --twice-every 5 --garbage-every 3 --foreign-every 11

  # 14 Fortress eFlex batteries as a candump -L stream, decoded
  bms-sim eflex --batteries 14 --cycles 3 | eflex-candump-decode
  # ... paced like the real bus (one cycle per battery per second), frames interleaved
  bms-sim eflex --batteries 3 --rate --interleave | eflex-candump-decode

  # Packs behind a simulated RS-485 gateway (one client at a time), transparent or Modbus TCP
  bms-sim lp4 --address 1-8 --tcp 127.0.0.1:4196 &
  lp4-poll --address 1-8 tcp://127.0.0.1:4196
  bms-sim lp4 --address 1,2 --modbus-tcp 127.0.0.1:5020 &
  lp4-poll --address 1,2 modbus-tcp://127.0.0.1:5020
  # A Pylon-protocol bank and its inverter (the battery-to-inverter CAN link), decoded
  bms-sim pylon --cycles 5 | pylon-candump-decode
  # ... in real time, with an over-voltage protection and the Victron extension frames
  bms-sim pylon --rate --fault pack_ov --victron | pylon-candump-decode

  # First-generation LifePower packs (7E/0D protocol), one with 15 cells
  bms-sim eg4-7e --address 1,2 --cells 15 --link /tmp/lp1 &
  eg4-7e-query --address 1,2 --gap 100ms /tmp/lp1";

/// Simulate battery management systems for the bmstap tools.
#[derive(Debug, clap::Parser)]
#[command(name = "bms-sim", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    #[command(subcommand)]
    pub sim: Sim,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Subcommand)]
pub enum Sim {
    /// EG4 LifePower4 v2 packs answering Modbus RTU on a pseudo-terminal
    #[command(
        help_template = crate::cli::HELP_TEMPLATE,
        after_help = "The pseudo-terminal's path is printed on the first stdout line. \
The packs answer fn 0x03 reads of registers 0-135 (status, settings, identity); \
other ranges get exception 02, other functions exception 01."
    )]
    Lp4(Lp4Sim),
    /// First-generation EG4 LifePower packs answering the 7E/0D protocol on a pseudo-terminal
    #[command(
        help_template = crate::cli::HELP_TEMPLATE,
        after_help = "The pseudo-terminal's path is printed on the first stdout line. \
The packs answer commands 0x01 (status), 0x33 (firmware/model string) and 0x42 (hardware \
version); other commands get no answer. Faults are the status-word protection bits: \
overcurrent, overvoltage, undervoltage, charge_ot, charge_ut."
    )]
    #[command(name = "eg4-7e")]
    Eg47e(Eg47eSim),
    /// Replay a saved byte capture into a pseudo-terminal, as if it were a live bus
    #[command(
        help_template = crate::cli::HELP_TEMPLATE,
        after_help = "The pseudo-terminal's path is printed on the first stdout line. \
The bytes are written once the first line arrives on standard input (or at once with \
--now), paced by --wire-baud, then the terminal stays open until standard input closes."
    )]
    Replay(ReplayArgs),
    /// Write a synthetic Modbus RTU capture (LP4 polls and replies with line noise) to stdout
    #[command(name = "rtu-capture")]
    RtuCapture(RtuCaptureArgs),
    /// Fortress eFlex batteries as a candump -L stream on stdout
    #[command(
        help_template = crate::cli::HELP_TEMPLATE,
        after_help = "Without --rate the stream is written as fast as possible (a \
benchmark input); with --rate it is paced like the real bus and stamped with the real clock. \
By default a capture-like partial group opens and closes the stream; the decoder drops them."
    )]
    Eflex(EflexSimArgs),
    /// A battery bank and its inverter on the Pylon LV CAN link, as a candump -L stream
    #[command(
        help_template = crate::cli::HELP_TEMPLATE,
        after_help = "Each telegram is the inverter's heartbeat (0x305) and the bank's core set \
(0x351, 0x355, 0x356, 0x359, 0x35C, 0x35E; with --victron also 0x35A, 0x35F, 0x354, 0x372-0x377, \
0x379), once a second of log time; SOC drifts with a slowly changing current. Without --rate \
the stream is written as fast as possible (a benchmark input); with --rate it is paced and \
stamped with the real clock."
    )]
    Pylon(PylonSimArgs),
    /// Simulators of the family table (jbd, daly, ...)
    #[command(flatten)]
    Family(FamilySim),
    /// JK-PB inverter BMS packs on one RS-485 bus: a bus master (DIP address 0) polling its
    /// slaves, or (--slaves) slaves answering trigger frames
    #[command(
        name = "jk-pb",
        help_template = crate::cli::HELP_TEMPLATE,
        after_help = "The pseudo-terminal's path (or the tcp:// address) is printed on the first \
stdout line. By default a master at address 0 puts a cycle on the bus every --cycle: its own \
live and settings records (unasked), then for each --address the live and settings triggers, \
each answered by the record and its acknowledgement; nothing it receives is answered (--rx-log \
keeps it). With --slaves the packs answer the three trigger frames (record, then ack) and, for \
3 s after a trigger, FC03 reads of the 0x1200/0x1400 windows (a cold bus does not answer FC03); \
every other frame is refused."
    )]
    JkPb(JkPbSim),
}

#[derive(Debug, clap::Args)]
pub struct JkPbSim {
    #[command(flatten)]
    pub sim: SerialSim,
    /// No master: the packs answer trigger frames and (warm) FC03 reads
    #[arg(long)]
    pub slaves: bool,
    /// Echo every request before the answer, as CH341 RS-485 adapters do (--slaves)
    #[arg(long)]
    pub echo: bool,
    /// Cells per pack (1-32)
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=32))]
    pub cells: u8,
    /// Time from one master cycle to the next (a real master takes about 4.4 s)
    #[arg(long, value_name = "DUR", value_parser = crate::cli::duration, default_value = "4400ms")]
    pub cycle: Duration,
    /// Append every byte the simulator receives to FILE, as hex, one line per read
    #[arg(long, value_name = "FILE")]
    pub rx_log: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct PylonSimArgs {
    /// Stop after N telegrams; default: never
    #[arg(long, value_name = "N")]
    pub cycles: Option<u64>,
    /// Pace like a real bus: TELEGRAMS per second (default 1)
    #[arg(long, value_name = "TELEGRAMS", num_args = 0..=1, default_missing_value = "1")]
    pub rate: Option<f64>,
    /// Modules in the bank (0x359 byte 4)
    #[arg(long, default_value_t = 4)]
    pub modules: u8,
    /// Raise an alarm or request (repeatable): a protection_*/warning_* field name, the part
    /// after protection_ (pack_ov), or request_force_charge_1/2, request_full_charge
    #[arg(long, value_name = "NAME")]
    pub fault: Vec<String>,
    /// Also send the newer-firmware/Victron frames
    #[arg(long)]
    pub victron: bool,
    /// No inverter heartbeats (a log of the battery side only)
    #[arg(long)]
    pub no_heartbeat: bool,
    /// Manufacturer string in 0x35E (at most 8 ASCII characters)
    #[arg(long, default_value = "PYLON")]
    pub manufacturer: String,
    /// Write the readings the decoder must produce (ground truth) to FILE as NDJSON
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// Interface name in the log lines
    #[arg(long, default_value = "can0")]
    pub iface: String,
    /// First timestamp (Unix seconds) when not paced
    #[arg(long, value_name = "SECS", default_value_t = 1_732_975_200)]
    pub start: u64,
    /// Seed of the value generator
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The capture (raw bytes, e.g. from lp4-poll --capture or rtu-sniff --save)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Pace the bytes like a line at this baud rate (default: as fast as possible)
    #[arg(long, value_name = "BAUD")]
    pub wire_baud: Option<u32>,
    /// Start writing at once instead of waiting for a line on standard input
    #[arg(long)]
    pub now: bool,
    /// Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into
    /// /dev/pts; removed at exit)
    #[arg(long, value_name = "PATH")]
    pub link: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RtuCaptureArgs {
    /// Stop after about this many bytes
    #[arg(long, value_name = "N", default_value_t = 100_000_000)]
    pub bytes: u64,
    /// Fraction of noise bytes between frames
    #[arg(long, value_name = "FRACTION", default_value_t = 0.1)]
    pub noise: f64,
    /// Seed of the generator
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, clap::Args)]
pub struct EflexSimArgs {
    /// Number of batteries on the bus (nodes 1..N)
    #[arg(long, short = 'n', default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=15))]
    pub batteries: u8,
    /// Stop after N rounds (every battery once per round); default: never
    #[arg(long, value_name = "N")]
    pub cycles: Option<u64>,
    /// Pace like a real bus: ROUNDS per second (default 1), frames 0.5 ms apart
    #[arg(long, value_name = "ROUNDS", num_args = 0..=1, default_missing_value = "1")]
    pub rate: Option<f64>,
    /// Interleave the batteries' frames instead of sending battery after battery
    #[arg(long)]
    pub interleave: bool,
    /// No partial groups at the start and end
    #[arg(long)]
    pub no_partial: bool,
    /// Write the readings the decoder must produce (ground truth) to FILE as NDJSON
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
    /// Interface name in the log lines
    #[arg(long, default_value = "can0")]
    pub iface: String,
    /// First timestamp (Unix seconds) when not paced
    #[arg(long, value_name = "SECS", default_value_t = 1_715_987_139)]
    pub start: u64,
    /// Seed of the value generator
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Options of every simulator behind a pseudo-terminal.
#[derive(Debug, clap::Args)]
pub struct SerialSim {
    /// Bus addresses of the simulated packs: 1,2,3 or 1-4
    #[arg(long, short = 'a', value_name = "ADDR[,ADDR...]", value_parser = addresses, default_value = "1")]
    pub address: Addresses,
    /// Address that never answers (repeatable)
    #[arg(long, value_name = "ADDR", value_parser = addresses)]
    pub silent: Vec<Addresses>,
    /// Damage the checksum of every Nth reply
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub bad_crc_every: Option<u64>,
    /// Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit
    #[arg(long, value_name = "[ADDR:]NAME")]
    pub fault: Vec<String>,
    /// Pace replies like a real line at this baud rate (default: as fast as possible)
    #[arg(long, value_name = "BAUD")]
    pub wire_baud: Option<u32>,
    /// Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into
    /// /dev/pts; removed at exit)
    #[arg(long, value_name = "PATH")]
    pub link: Option<PathBuf>,
    /// Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal's number)
    #[arg(long, value_name = "TAG")]
    pub serial_tag: Option<String>,
    /// Every pack reports this one serial number, as LifePower4 packs built on the same day
    /// do (their serial field holds the build date)
    #[arg(long, value_name = "SERIAL", conflicts_with = "serial_tag")]
    pub same_serial: Option<String>,
    #[command(flatten)]
    pub wire: WireFaults,
    /// Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client
    /// at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout
    /// line is then tcp://ADDR:PORT)
    #[arg(long, value_name = "ADDR:PORT", conflicts_with = "link")]
    pub tcp: Option<String>,
}

/// `bms-sim lp4`: the shared options, and the Modbus TCP gateway mode only Modbus packs have.
#[derive(Debug, clap::Args)]
pub struct Lp4Sim {
    #[command(flatten)]
    pub sim: SerialSim,
    /// Serve the packs on ADDR:PORT like a gateway in Modbus TCP mode (MBAP, unit id = pack
    /// address; exception 0x0B for a pack that does not answer or answers with a bad CRC),
    /// one client at a time
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["tcp", "link"])]
    pub modbus_tcp: Option<String>,
}

impl std::ops::Deref for Lp4Sim {
    type Target = SerialSim;
    fn deref(&self) -> &SerialSim {
        &self.sim
    }
}

/// Line faults applied to the replies, counted over all replies of the simulator (reply k
/// misbehaves when k is a multiple of N).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WireFaults {
    /// Send every Nth reply late, after --late-by (the poller has given up on it by then)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub late_every: Option<u64>,
    /// How late --late-every replies are
    #[arg(long, value_name = "DUR", value_parser = crate::cli::duration, default_value = "1500ms")]
    pub late_by: Duration,
    /// Send every Nth reply twice
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub twice_every: Option<u64>,
    /// Follow every Nth reply with garbage bytes (start bytes of both protocols among them)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub garbage_every: Option<u64>,
    /// Send every Nth reply with the next address in its header instead (a valid frame from
    /// the wrong pack)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub foreign_every: Option<u64>,
}

/// Trailing garbage: a Modbus-looking start, a 7E start byte, a stray end byte.
const GARBAGE: [u8; 9] = [0x01, 0x03, 0x4E, 0x7E, 0x01, 0x00, 0xFF, 0x0D, 0x55];

impl WireFaults {
    fn hits(every: Option<u64>, k: u64) -> bool {
        every.is_some_and(|n| k.is_multiple_of(n))
    }
}

#[derive(Debug, clap::Args)]
pub struct Eg47eSim {
    #[command(flatten)]
    pub sim: SerialSim,
    /// Cells per pack
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(15..=16))]
    pub cells: u8,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    let _link = sim_link::Cleanup;
    match args.sim {
        Sim::Lp4(a) => {
            let (pty, packs) = open(&a, a.modbus_tcp.as_deref())?;
            let mut packs = packs;
            for (target, name) in faults(&a.fault)? {
                for p in packs
                    .iter_mut()
                    .filter(|p| target.is_none_or(|t| t == p.address))
                {
                    p.set_fault(name).map_err(usage)?;
                }
            }
            let misbehave = Misbehaviour {
                silent: silent(&a),
                bad_crc_every: a.bad_crc_every,
            };
            serve(
                pty,
                &mut lp4::Slave::new(packs, misbehave),
                a.wire_baud,
                &a.wire,
            )
        }
        Sim::Family(f) => run_family(f),
        Sim::JkPb(j) => run_jkpb(j),
        Sim::Eflex(e) => run_eflex(e),
        Sim::Pylon(p) => run_pylon(p),
        Sim::Replay(r) => run_replay(r),
        Sim::RtuCapture(c) => run_rtu_capture(c),
        Sim::Eg47e(e) => {
            let a = &e.sim;
            let (pty, packs) = open(a, None)?;
            let mut slave =
                eg4_7e::Slave::new(packs, usize::from(e.cells), silent(a), a.bad_crc_every);
            for (target, name) in faults(&a.fault)? {
                slave.set_fault(target, name).map_err(usage)?;
            }
            serve(pty, &mut slave, a.wire_baud, &a.wire)
        }
    }
}

/// A simulator from the family table (`bms-sim jbd`, `bms-sim daly`, ...): its subcommands are
/// made from [`crate::family::FAMILIES`], so a new family's simulator needs no edit here.
#[derive(Debug)]
pub struct FamilySim {
    pub family: &'static crate::family::Family,
    pub args: FamilySimArgs,
}

#[derive(Debug, clap::Args)]
pub struct FamilySimArgs {
    #[command(flatten)]
    pub sim: SerialSim,
    /// Cells per pack (1-16)
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub cells: u8,
    /// Packs that are asleep: a Daly echoes every request and answers nothing
    #[arg(long, value_name = "ADDR", value_parser = addresses)]
    pub asleep: Vec<Addresses>,
    /// Send every frame of a multi-frame answer, as over Bluetooth (Daly), not only those
    /// with data
    #[arg(long)]
    pub all_frames: bool,
    /// Append every frame received that is not an allowed read (a write) to FILE, as hex
    #[arg(long, value_name = "FILE")]
    pub write_log: Option<PathBuf>,
    /// Daly: answer only requests from this host address, as one port does (0x40 RS-485,
    /// 0x80 UART); default: both
    #[arg(long, value_name = "ADDR", value_parser = addresses)]
    pub host: Option<Addresses>,
    /// Modbus families (seplos3): serve the packs on ADDR:PORT like a gateway in Modbus TCP
    /// mode (MBAP, unit id = pack address), one client at a time
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["tcp", "link"])]
    pub modbus_tcp: Option<String>,
}

fn family_sims() -> impl Iterator<Item = &'static crate::family::Family> {
    crate::family::FAMILIES
        .iter()
        .filter(|f| f.simulator.is_some())
}

impl clap::FromArgMatches for FamilySim {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let Some((name, sub)) = m.subcommand() else {
            return Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand));
        };
        let family = family_sims()
            .find(|f| f.name == name)
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))?;
        Ok(FamilySim {
            family,
            args: <FamilySimArgs as clap::FromArgMatches>::from_arg_matches(sub)?,
        })
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Subcommand for FamilySim {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        family_sims().fold(cmd, |cmd, f| {
            let mut sub = <FamilySimArgs as clap::Args>::augment_args(clap::Command::new(f.name));
            // A bus family's packs sit at the table's default address unless told otherwise
            // (Pylontech's master is 2).
            if let crate::family::Addressing::Bus { default, .. } = f.addressing {
                // clap keeps &'static defaults; this string is made once per run.
                let text: &'static str = Box::leak(default.to_string().into_boxed_str());
                sub = sub.mut_arg("address", |a| a.default_value(text));
            }
            let sub = sub
                .about(format!(
                    "{}, simulated on a pseudo-terminal or --tcp",
                    f.about
                ))
                .help_template(crate::cli::HELP_TEMPLATE)
                .after_help(format!(
                    "The pseudo-terminal's path (or the tcp:// address) is printed on the first \
                     stdout line. {} Frames that are not allowed reads get no answer and are \
                     logged as refused (and written to --write-log).",
                    f.notes
                ));
            cmd.subcommand(sub)
        })
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        family_sims().any(|f| f.name == name)
    }
}

/// A responder whose refused frames (writes) are logged and, with --write-log, kept.
struct Refusals<'a> {
    inner: Box<dyn Responder>,
    log: Option<std::fs::File>,
    path: Option<&'a std::path::Path>,
}

impl Responder for Refusals<'_> {
    fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Vec<u8>> {
        let out = self.inner.feed(bytes, now);
        for f in self.inner.refused() {
            let hex = crate::hexfmt::spaced(&f);
            log::warn!("refused a frame that is not an allowed read: {hex}");
            if let Some(file) = self.log.as_mut() {
                if let Err(e) = writeln!(file, "{hex}").and_then(|()| file.flush()) {
                    log::warn!(
                        "{}: {e}",
                        self.path
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    );
                }
            }
        }
        out
    }

    fn foreign(&self, reply: &[u8]) -> Option<Vec<u8>> {
        self.inner.foreign(reply)
    }
}

fn run_family(fs: FamilySim) -> anyhow::Result<Exit> {
    let a = &fs.args.sim;
    let log = match &fs.args.write_log {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| usage(format!("--write-log {}: {e}", p.display())))?,
        ),
        None => None,
    };
    let faults = faults(&a.fault)?
        .into_iter()
        .map(|(t, n)| (t, n.to_string()))
        .collect();
    if fs.args.modbus_tcp.is_some() && !fs.family.modbus {
        return Err(usage(format!(
            "--modbus-tcp: {} is not Modbus (use --tcp for a transparent gateway)",
            fs.family.name
        )));
    }
    let (bus, tag) = open_bus(a, fs.args.modbus_tcp.as_deref())?;
    let spec = crate::family::SimSpec {
        addresses: a.address.0.clone(),
        silent: silent(a),
        bad_every: a.bad_crc_every,
        faults,
        cells: usize::from(fs.args.cells),
        asleep: fs
            .args
            .asleep
            .iter()
            .flat_map(|s| s.0.iter().copied())
            .collect(),
        all_frames: fs.args.all_frames,
        tag,
        host: fs.args.host.as_ref().and_then(|h| h.0.first().copied()),
    };
    let inner =
        (fs.family.simulator.expect("family_sims has a simulator"))(&spec).map_err(usage)?;
    let mut slave = Refusals {
        inner,
        log,
        path: fs.args.write_log.as_deref(),
    };
    serve(bus, &mut slave, a.wire_baud, &a.wire)
}

/// Keeps every byte received in --rx-log (hex, one line per read), before the responder sees it.
struct RxLog {
    inner: Box<dyn Responder>,
    log: Option<std::fs::File>,
}

impl RxLog {
    fn write(log: &mut Option<std::fs::File>, bytes: &[u8]) {
        if let Some(file) = log.as_mut() {
            let line = crate::hexfmt::spaced(bytes);
            if let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush()) {
                log::warn!("--rx-log: {e}");
            }
        }
    }
}

impl Responder for RxLog {
    fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<Vec<u8>> {
        RxLog::write(&mut self.log, bytes);
        self.inner.feed(bytes, now)
    }

    fn foreign(&self, reply: &[u8]) -> Option<Vec<u8>> {
        self.inner.foreign(reply)
    }

    fn refused(&mut self) -> Vec<Vec<u8>> {
        self.inner.refused()
    }
}

fn run_jkpb(j: JkPbSim) -> anyhow::Result<Exit> {
    use crate::sim::jkpb::{Master, Pack, Slaves};
    let a = &j.sim;
    let rx_log = match &j.rx_log {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| usage(format!("--rx-log {}: {e}", p.display())))?,
        ),
        None => None,
    };
    if let Some(bad) = a
        .address
        .0
        .iter()
        .find(|&&x| x > 15 || (j.slaves && x == 0))
    {
        return Err(usage(format!(
            "address {bad}: JK-PB slaves have DIP addresses 1-15 (0 is the master)"
        )));
    }
    let faults = faults(&a.fault)?;
    let (bus, tag) = open_bus(a, None)?;
    let start = Instant::now();
    let mut packs = Vec::new();
    for &addr in a.address.0.iter().filter(|&&x| x != 0) {
        let serial = a
            .same_serial
            .clone()
            .unwrap_or_else(|| format!("SIM-{tag}-{addr:02}"));
        let mut p = Pack::new(addr, serial, usize::from(j.cells), start);
        for (target, name) in &faults {
            if target.is_none_or(|t| t == addr) {
                p.set_fault(name).map_err(usage)?;
            }
        }
        packs.push(p);
    }
    if j.slaves {
        let inner = RxLog {
            inner: Box::new(Slaves::new(packs, silent(a), j.echo, a.bad_crc_every)),
            log: rx_log,
        };
        let mut slave = Refusals {
            inner: Box::new(inner),
            log: None,
            path: None,
        };
        return serve(bus, &mut slave, a.wire_baud, &a.wire);
    }
    let mut master = Master {
        master: Pack::new(0, format!("SIM-{tag}-00"), usize::from(j.cells), start),
        slaves: packs,
        silent: silent(a),
    };
    let rx_log = std::sync::Arc::new(std::sync::Mutex::new(rx_log));
    match bus {
        Bus::Pty(pty) => {
            let reader = pty.master.try_clone().context("pseudo-terminal")?;
            let mut writer = pty.master.try_clone().context("pseudo-terminal")?;
            let name = pty.path.display().to_string();
            drive_master(&mut master, Box::new(reader), &mut writer, &rx_log, &j)
                .map_err(|e| unavailable(format!("{name}: {e}")))?;
            Ok(Exit::Ok)
        }
        Bus::Gateway { listener, .. } => loop {
            // A transparent gateway: each client hears the bus from when it connects.
            let (stream, peer) = listener.accept().context("accepting a client")?;
            log::info!("client {peer} connected");
            let reader = stream.try_clone().context("client socket")?;
            let mut writer = stream;
            if let Err(e) = drive_master(&mut master, Box::new(reader), &mut writer, &rx_log, &j) {
                log::info!("client {peer}: {e}");
            }
        },
    }
}

/// Puts the master's cycles on `writer` until it fails; whatever arrives on `reader` (a
/// poller talking on a bus the master drives) is logged and kept in --rx-log, never answered.
fn drive_master(
    master: &mut crate::sim::jkpb::Master,
    mut reader: Box<dyn Read + Send>,
    writer: &mut dyn Write,
    rx_log: &std::sync::Arc<std::sync::Mutex<Option<std::fs::File>>>,
    j: &JkPbSim,
) -> std::io::Result<()> {
    let log = std::sync::Arc::clone(rx_log);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 512];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    log::warn!(
                        "received {n} byte(s) on a bus the master drives: {}",
                        crate::hexfmt::spaced(&chunk[..n])
                    );
                    if let Ok(mut f) = log.lock() {
                        RxLog::write(&mut f, &chunk[..n]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    });
    loop {
        let began = Instant::now();
        for frame in master.cycle(began) {
            if let Some(baud) = j.sim.wire_baud {
                let bits = (frame.len() as u64 + 4) * 10;
                std::thread::sleep(Duration::from_micros(
                    bits * 1_000_000 / u64::from(baud.max(1)),
                ));
            }
            crate::log::trace("sim", ">", &frame);
            writer.write_all(&frame)?;
        }
        let next = began + j.cycle;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
}

fn silent(a: &SerialSim) -> Vec<u8> {
    a.silent.iter().flat_map(|s| s.0.iter().copied()).collect()
}

/// `[ADDR:]NAME` fault specifications.
fn faults(specs: &[String]) -> anyhow::Result<Vec<(Option<u8>, &str)>> {
    specs
        .iter()
        .map(|f| match f.split_once(':') {
            Some((addr, name)) => {
                let addr = addresses(addr).map_err(|e| usage(format!("--fault {f}: {e}")))?;
                Ok((addr.0.first().copied(), name))
            }
            None => Ok((None, f.as_str())),
        })
        .collect()
}

/// Opens a pseudo-terminal, points `link` at it, and prints its path on the first stdout
/// line (what the tests and scripts wait for).
fn open_pty(link: Option<&std::path::Path>) -> anyhow::Result<Pty> {
    let pty =
        Pty::open().map_err(|e| unavailable(format!("cannot open a pseudo-terminal: {e}")))?;
    if let Some(link) = link {
        sim_link::make(link, &pty.path)?;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", pty.path.display());
    let _ = out.flush();
    Ok(pty)
}

/// `--link PATH`: a symlink to the pseudo-terminal that replaces only a stale link of a
/// previous simulator (a symlink into /dev/pts/), never a file, directory or other link,
/// and is removed again when the simulator ends (normally, or by SIGTERM, SIGINT or SIGHUP),
/// if it still points at this simulator's terminal.
mod sim_link {
    use crate::exit::usage;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::OnceLock;

    /// The link and the terminal path it points at, for the exit and the signal handler.
    static LINK: OnceLock<(CString, Vec<u8>)> = OnceLock::new();

    pub fn make(link: &Path, target: &Path) -> anyhow::Result<()> {
        match std::fs::symlink_metadata(link) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(usage(format!("--link {}: {e}", link.display()))),
            Ok(m) => {
                let old = std::fs::read_link(link).ok();
                let ours = m.file_type().is_symlink()
                    && old.as_ref().is_some_and(|o| o.starts_with("/dev/pts/"));
                if !ours {
                    let what = if m.file_type().is_symlink() {
                        format!(
                            "a symlink to {}",
                            old.map(|o| o.display().to_string()).unwrap_or_default()
                        )
                    } else if m.is_dir() {
                        "a directory".into()
                    } else {
                        "a file".into()
                    };
                    return Err(usage(format!(
                        "--link {}: exists and is {what}, not a simulator's link to a \
                         pseudo-terminal: not replacing it",
                        link.display()
                    )));
                }
                std::fs::remove_file(link)
                    .map_err(|e| usage(format!("--link {}: {e}", link.display())))?;
            }
        }
        std::os::unix::fs::symlink(target, link)
            .map_err(|e| usage(format!("creating symlink {}: {e}", link.display())))?;
        let c = CString::new(link.as_os_str().as_bytes())
            .map_err(|_| usage("--link: a path with a NUL byte"))?;
        if LINK
            .set((c, target.as_os_str().as_bytes().to_vec()))
            .is_ok()
        {
            // SAFETY: the handler only calls async-signal-safe functions (readlink, unlink,
            // signal, raise) on data set before it was installed.
            unsafe {
                for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                    libc::signal(sig, on_signal as *const () as libc::sighandler_t);
                }
            }
        }
        Ok(())
    }

    /// Removes the link if it still points at this simulator's terminal.
    pub fn remove() {
        // SAFETY: plain libc calls on a NUL-terminated path and a stack buffer.
        unsafe { remove_raw() }
    }

    unsafe fn remove_raw() {
        let Some((link, target)) = LINK.get() else {
            return;
        };
        let mut buf = [0u8; 4096];
        // SAFETY: `link` is NUL-terminated, `buf` is writable for its length.
        let n = unsafe { libc::readlink(link.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 && buf[..n as usize] == target[..] {
            // SAFETY: as above.
            unsafe { libc::unlink(link.as_ptr()) };
        }
    }

    extern "C" fn on_signal(sig: libc::c_int) {
        // SAFETY: async-signal-safe calls only; the default action then ends the process
        // with the signal, as it would have without the handler.
        unsafe {
            remove_raw();
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    /// Removes the link when dropped (the end of `run`, by return or error).
    pub struct Cleanup;

    impl Drop for Cleanup {
        fn drop(&mut self) {
            remove();
        }
    }
}

/// Where the simulated packs are served.
enum Bus {
    Pty(Pty),
    /// A simulated gateway: the listener, the address it is bound to, MBAP or raw.
    Gateway {
        listener: TcpListener,
        addr: SocketAddr,
        mbap: bool,
    },
}

/// Binds the simulated gateway and prints its address on the first stdout line.
fn open_gateway(addr: &str, mbap: bool) -> anyhow::Result<Bus> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| unavailable(format!("cannot listen on {addr}: {e}")))?;
    let addr = listener.local_addr()?;
    let scheme = if mbap { "modbus-tcp" } else { "tcp" };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{scheme}://{addr}");
    let _ = out.flush();
    Ok(Bus::Gateway {
        listener,
        addr,
        mbap,
    })
}

/// Opens the pseudo-terminal (or the gateway's listener) and returns it with the pack models.
/// Opens the simulated bus (a pseudo-terminal or a gateway) and says where it is; returns it
/// with the tag of the simulated serial numbers.
fn open_bus(a: &SerialSim, modbus_tcp: Option<&str>) -> anyhow::Result<(Bus, String)> {
    let bus = match (&a.tcp, modbus_tcp) {
        (_, Some(addr)) => open_gateway(addr, true)?,
        (Some(addr), None) => open_gateway(addr, false)?,
        (None, None) => Bus::Pty(open_pty(a.link.as_deref())?),
    };
    let (default_tag, place) = match &bus {
        Bus::Pty(pty) => (
            pty.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            pty.path.display().to_string(),
        ),
        Bus::Gateway { addr, .. } => (addr.port().to_string(), addr.to_string()),
    };
    log::info!("simulating pack(s) at address {:?} on {place}", a.address.0);
    Ok((bus, a.serial_tag.clone().unwrap_or(default_tag)))
}

fn open(a: &SerialSim, modbus_tcp: Option<&str>) -> anyhow::Result<(Bus, Vec<PackModel>)> {
    let (bus, tag) = open_bus(a, modbus_tcp)?;
    let start = Instant::now();
    let packs = a
        .address
        .0
        .iter()
        .map(|&addr| {
            let serial = a
                .same_serial
                .clone()
                .unwrap_or_else(|| format!("SIM-{tag}-{addr:02}"));
            PackModel::new(addr, serial, start)
        })
        .collect();
    Ok((bus, packs))
}

/// Answers requests until the pseudo-terminal is closed or the process is killed.
fn serve(
    bus: Bus,
    slave: &mut dyn Responder,
    wire_baud: Option<u32>,
    faults: &WireFaults,
) -> anyhow::Result<Exit> {
    let mut sent = 0u64;
    match bus {
        Bus::Pty(pty) => {
            let mut master = pty.master.try_clone().context("pseudo-terminal")?;
            let mut writer = pty.master.try_clone().context("pseudo-terminal")?;
            let name = pty.path.display().to_string();
            match serve_stream(
                &mut master,
                &mut writer,
                slave,
                wire_baud,
                faults,
                &mut sent,
                false,
            ) {
                Ok(()) => Ok(Exit::Ok),
                Err(e) => Err(unavailable(format!("{name}: {e}"))),
            }
        }
        Bus::Gateway {
            listener,
            addr,
            mbap,
        } => {
            let mut listener = Some(listener);
            loop {
                let l = match listener.take() {
                    Some(l) => l,
                    None => rebind(addr)?,
                };
                let (stream, peer) = l.accept().context("accepting a client")?;
                // One client at a time, as most gateways: while it is connected nothing
                // listens, so a second client is refused.
                drop(l);
                log::info!("client {peer} connected");
                if let Err(e) = crate::io::net::tune(&stream) {
                    log::warn!("client {peer}: {e}");
                }
                let mut reader = stream.try_clone().context("client socket")?;
                let mut writer = stream;
                match serve_stream(
                    &mut reader,
                    &mut writer,
                    slave,
                    wire_baud,
                    faults,
                    &mut sent,
                    mbap,
                ) {
                    Ok(()) => log::info!("client {peer} disconnected"),
                    Err(e) => log::info!("client {peer}: {e}"),
                }
            }
        }
    }
}

/// Listens again on the gateway's address once its client has gone.
fn rebind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return Ok(l),
            Err(e) if tries < 50 => {
                log::debug!("listening again on {addr}: {e}");
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(unavailable(format!("cannot listen on {addr}: {e}"))),
        }
    }
}

/// Answers the requests read from `input` on `output` until `input` ends (Ok) or fails.
/// With `mbap`, the bytes are Modbus TCP frames, turned into RTU requests for the packs
/// and the replies back, as a gateway in Modbus TCP mode does; a reply the gateway would
/// reject on the serial side (bad CRC, garbage) is not forwarded.
fn serve_stream(
    input: &mut dyn Read,
    output: &mut dyn Write,
    slave: &mut dyn Responder,
    wire_baud: Option<u32>,
    faults: &WireFaults,
    sent: &mut u64,
    mbap: bool,
) -> std::io::Result<()> {
    use crate::proto::mbap as m;
    let mut chunk = [0u8; 512];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        crate::log::trace("sim", "<", &chunk[..n]);
        // Requests as (transaction id, RTU bytes).
        let mut requests: Vec<(u16, Vec<u8>)> = Vec::new();
        if mbap {
            pending.extend_from_slice(&chunk[..n]);
            loop {
                match m::scan(&pending) {
                    m::Scan::Frame(f) => {
                        let len = f.len;
                        requests.push((f.tid, m::to_rtu(f.unit, f.pdu)));
                        pending.drain(..len);
                    }
                    m::Scan::Invalid(why) => {
                        log::warn!("not Modbus TCP ({why}): dropping {} byte(s)", pending.len());
                        pending.clear();
                        break;
                    }
                    m::Scan::NeedMore => break,
                }
            }
        } else {
            requests.push((0, chunk[..n].to_vec()));
        }
        for (tid, bytes) in requests {
            let replies = slave.feed(&bytes, Instant::now());
            if mbap && replies.is_empty() && bytes.len() >= 4 {
                // What a Modbus TCP gateway answers when its pack stays silent.
                log::debug!("no reply from address {}: exception 0x0B", bytes[0]);
                let e = crate::proto::modbus::encode_exception(bytes[0], bytes[1], 0x0B);
                if let Some(frame) = m::from_rtu(tid, &e) {
                    output.write_all(&frame)?;
                }
            }
            for mut reply in replies {
                *sent += 1;
                let k = *sent;
                if WireFaults::hits(faults.foreign_every, k) {
                    if let Some(r) = slave.foreign(&reply) {
                        log::debug!("reply {k}: sent as the next address's");
                        reply = r;
                    }
                }
                if WireFaults::hits(faults.late_every, k) {
                    log::debug!("reply {k}: {:?} late", faults.late_by);
                    std::thread::sleep(faults.late_by);
                }
                let mut copies = vec![reply];
                if WireFaults::hits(faults.twice_every, k) {
                    log::debug!("reply {k}: sent twice");
                    copies.push(copies[0].clone());
                }
                if WireFaults::hits(faults.garbage_every, k) {
                    log::debug!("reply {k}: garbage after it");
                    copies.push(GARBAGE.to_vec());
                }
                for (n, bytes) in copies.into_iter().enumerate() {
                    if let Some(baud) = wire_baud {
                        // 10 bits per byte on an 8N1 line, plus a 3.5-character turnaround.
                        let bits = (bytes.len() as u64 + 4) * 10;
                        std::thread::sleep(Duration::from_micros(
                            bits * 1_000_000 / u64::from(baud.max(1)),
                        ));
                    }
                    let bytes = if mbap {
                        match m::from_rtu(tid, &bytes) {
                            Some(b) => b,
                            // A damaged reply: the gateway says its pack did not answer.
                            None if n == 0 && bytes.len() >= 2 => {
                                log::debug!("reply {k}: bad CRC, exception 0x0B instead");
                                let e = crate::proto::modbus::encode_exception(
                                    bytes[0], bytes[1], 0x0B,
                                );
                                m::from_rtu(tid, &e).unwrap_or_default()
                            }
                            None => {
                                log::debug!("reply {k}: not a valid frame, the gateway drops it");
                                continue;
                            }
                        }
                    } else {
                        bytes
                    };
                    crate::log::trace("sim", ">", &bytes);
                    output.write_all(&bytes)?;
                }
            }
        }
    }
}

fn run_eflex(a: EflexSimArgs) -> anyhow::Result<Exit> {
    use crate::ndjson::RecordWriter;
    use crate::proto::eflex;
    use crate::record::{device_id, Reading, Record};
    use crate::sim::eflex::{EflexModel, StreamWriter};
    use crate::time::Timestamp;
    if a.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(usage(
            "--rate must be a positive number of rounds per second",
        ));
    }
    let mut models: Vec<EflexModel> = (1..=a.batteries)
        .map(|n| EflexModel::new(n, a.seed))
        .collect();
    let mut truth = match &a.truth {
        Some(p) => Some(RecordWriter::new(
            std::fs::File::create(p)
                .map_err(|e| usage(format!("cannot write {}: {e}", p.display())))?,
        )),
        None => None,
    };
    let start_us = match a.rate {
        Some(_) => Timestamp::now().unix_ms as u64 * 1000,
        None => a.start * 1_000_000,
    };
    let mut stream = StreamWriter {
        iface: a.iface.clone(),
        now_us: start_us,
        frame_gap_us: 500,
    };
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let mut text = String::with_capacity(64 * 1024);
    let mut emit = |text: &mut String, flush: bool| -> anyhow::Result<()> {
        let r = out
            .write_all(text.as_bytes())
            .and_then(|_| if flush { out.flush() } else { Ok(()) });
        text.clear();
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Err(crate::ndjson::StdoutClosed.into())
            }
            other => other.map_err(Into::into),
        }
    };
    let paced = a.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let began = Instant::now();
    if !a.no_partial {
        let b = models[0].clone().step(a.batteries);
        stream.partial_head(&mut text, &b);
    }
    let mut round = 0u64;
    while a.cycles.is_none_or(|n| round < n) {
        if let Some(period) = paced {
            let due = began + period.mul_f64(round as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            stream.now_us = stream.now_us.max(Timestamp::now().unix_ms as u64 * 1000);
        }
        let batteries: Vec<_> = models.iter_mut().map(|m| m.step(a.batteries)).collect();
        let last = stream.round(&mut text, &batteries, a.interleave);
        if let Some(t) = truth.as_mut() {
            for (b, us) in batteries.iter().zip(last) {
                let reading = Reading {
                    ts: Timestamp {
                        unix_ms: (us / 1000) as i64,
                    },
                    source: "eflex",
                    device: device_id(&b.serial()),
                    fields: eflex::fields(b),
                    info: eflex::info(b),
                    raw: eflex::raw(b, None),
                };
                t.write_record(&Record::Reading(reading))?;
            }
        }
        if text.len() > 48 * 1024 || paced.is_some() {
            emit(&mut text, paced.is_some())?;
        }
        round += 1;
    }
    if !a.no_partial {
        let b = models[0].clone().step(a.batteries);
        stream.partial_tail(&mut text, &b);
    }
    emit(&mut text, true)?;
    if let Some(mut t) = truth {
        t.flush()?;
    }
    Ok(Exit::Ok)
}

fn run_pylon(a: PylonSimArgs) -> anyhow::Result<Exit> {
    use crate::ndjson::RecordWriter;
    use crate::proto::pylon;
    use crate::sim::pylon::{write_telegram, PylonModel};
    use crate::time::Timestamp;
    if a.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(usage(
            "--rate must be a positive number of telegrams per second",
        ));
    }
    let m = &a.manufacturer;
    if m.is_empty() || m.len() > 8 || !m.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(usage(
            "--manufacturer: 1 to 8 printable ASCII characters without blanks",
        ));
    }
    let mut model = PylonModel::new(a.seed, a.modules);
    model.victron = a.victron;
    model.manufacturer = m.clone();
    for f in &a.fault {
        model.set_fault(f).map_err(usage)?;
    }
    let mut truth = match &a.truth {
        Some(p) => Some(RecordWriter::new(
            std::fs::File::create(p)
                .map_err(|e| usage(format!("cannot write {}: {e}", p.display())))?,
        )),
        None => None,
    };
    let device = pylon::device_name(Some(m), &a.iface);
    let mut now_us = match a.rate {
        Some(_) => Timestamp::now().unix_ms as u64 * 1000,
        None => a.start * 1_000_000,
    };
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let mut text = String::with_capacity(64 * 1024);
    let paced = a.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let began = Instant::now();
    let mut n = 0u64;
    while a.cycles.is_none_or(|c| n < c) {
        if let Some(period) = paced {
            let due = began + period.mul_f64(n as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            now_us = now_us.max(Timestamp::now().unix_ms as u64 * 1000);
        }
        let bank = model.step();
        let (last, _) = write_telegram(&mut text, &a.iface, &bank, !a.no_heartbeat, now_us, 200);
        // One telegram a second of log time when not paced.
        now_us += 1_000_000;
        if let Some(t) = truth.as_mut() {
            let ts = Timestamp {
                unix_ms: (last / 1000) as i64,
            };
            t.write_with(|buf| pylon::write_json(&bank, ts, &device, &[], buf))?;
        }
        n += 1;
        if text.len() > 48 * 1024 || paced.is_some() || a.cycles.is_some_and(|c| n >= c) {
            let r = out.write_all(text.as_bytes()).and_then(|_| {
                if paced.is_some() {
                    out.flush()
                } else {
                    Ok(())
                }
            });
            text.clear();
            match r {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(Exit::Ok),
                other => other?,
            }
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    if let Some(mut t) = truth {
        t.flush()?;
    }
    Ok(Exit::Ok)
}

fn run_replay(a: ReplayArgs) -> anyhow::Result<Exit> {
    let bytes = std::fs::read(&a.file)
        .map_err(|e| usage(format!("cannot read {}: {e}", a.file.display())))?;
    let pty = open_pty(a.link.as_deref())?;
    let mut line = String::new();
    if !a.now {
        std::io::stdin().read_line(&mut line)?;
    }
    let mut master = pty.master.try_clone().context("pseudo-terminal")?;
    for chunk in bytes.chunks(64) {
        if let Some(baud) = a.wire_baud {
            let us = chunk.len() as u64 * 10 * 1_000_000 / u64::from(baud.max(1));
            std::thread::sleep(Duration::from_micros(us));
        }
        master
            .write_all(chunk)
            .context("writing to the pseudo-terminal")?;
    }
    log::info!("replayed {} bytes", bytes.len());
    // Keep the line up until told to go (standard input closes) so readers see no hang-up.
    let _ = std::io::stdin().read_to_string(&mut line);
    Ok(Exit::Ok)
}

fn run_rtu_capture(a: RtuCaptureArgs) -> anyhow::Result<Exit> {
    use crate::proto::modbus::{encode_read_reply, ReadRequest};
    use crate::sim::Rng;
    if !(0.0..1.0).contains(&a.noise) {
        return Err(usage("--noise must be a fraction from 0 to below 1"));
    }
    let mut rng = Rng::new(a.seed);
    let start = Instant::now();
    let mut packs: Vec<PackModel> = (1..=4)
        .map(|addr| PackModel::new(addr, format!("SIM-CAP-{addr:02}"), start))
        .collect();
    let images: Vec<Vec<u16>> = packs
        .iter_mut()
        .map(|p| p.image(start).registers())
        .collect();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let mut written = 0u64;
    let mut frame_bytes = 0u64;
    let mut noise_bytes = 0u64;
    let mut i = 0usize;
    while written < a.bytes {
        let addr = (i % 4) as u8 + 1;
        let req = ReadRequest::holding(addr, 0, 39);
        let mut pair = req.encode();
        pair.extend(encode_read_reply(addr, 3, &images[i % 4][..39]));
        frame_bytes += pair.len() as u64;
        // Noise so that noise / (frames + noise) = --noise on average.
        let want_noise = (frame_bytes as f64 * a.noise / (1.0 - a.noise)) as u64;
        let mut noise = Vec::new();
        while noise_bytes + (noise.len() as u64) < want_noise {
            noise.push((rng.next_u64() & 0xFF) as u8);
        }
        noise_bytes += noise.len() as u64;
        let r = out.write_all(&pair).and_then(|_| out.write_all(&noise));
        if let Err(e) = r {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(Exit::Ok);
            }
            return Err(e.into());
        }
        written += (pair.len() + noise.len()) as u64;
        i += 1;
    }
    out.flush().or_else(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    log::info!("{written} bytes: {i} request/reply pairs, {noise_bytes} noise bytes");
    Ok(Exit::Ok)
}
