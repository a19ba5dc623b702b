//! bms-poll: one poller for every wired BMS family of the protocol table ([`crate::family`]),
//! with detection.

use crate::cli::{Common, PollOpts};
use crate::config::{self, PackConfig};
use crate::exit::{unavailable, usage, Exit};
use crate::family::{self, Family, Options};
use crate::io::capture::Capture;
use crate::io::net::Endpoint;
use crate::io::serial::{check_port, Link, LinkError};
use crate::listen::{self, ListenPlan, ListenSchedule};
use crate::ndjson::RecordWriter;
use crate::poll::{self, CodecDriver, PackPlan, PortPlan, Schedule};
use crate::proto::hear;
use crate::record::{is_device_id, DetectedRecord, Info, Record};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  # What is on these ports? One \"detected\" record per BMS found, and the command to use
  bms-poll --detect /dev/ttyUSB0 /dev/ttyUSB1

  # A JBD (Overkill Solar) pack, every 10 s, into Home Assistant
  bms-poll --protocol jbd /dev/ttyUSB0 | readings-to-mqtt --host broker

  # Two Daly boards on one RS-485 bus; a Daly on its UART port (host address 0x80)
  bms-poll --protocol daly --address 1,2 /dev/ttyUSB0
  bms-poll --protocol daly --daly-host 0x80 /dev/ttyUSB1

  # Detect, then poll what was found; remember it for the next start
  bms-poll --protocol auto --detect-cache /var/lib/bmstap/detect.json /dev/ttyUSB0 /dev/ttyUSB1

  # One-shot check from cron: exit 1 if a pack did not answer
  bms-poll --protocol jbd --once /dev/ttyUSB0 > /tmp/pack.json || echo 'pack silent'

  # A JK-PB bank whose pack at DIP address 0 is the bus master: listened to, nothing sent
  bms-poll --protocol jk-pb /dev/ttyUSB0

  # Packs behind a transparent RS-485-to-Ethernet gateway
  bms-poll --protocol daly --address 1-4 tcp://192.168.1.50:4196

  # Try it without hardware
  bms-sim jbd --link /tmp/jbd &  bms-poll --protocol jbd --once /tmp/jbd

Protocols (--protocol): jbd, daly, pylontech, seplos, pace, eg4-7e, jk, jk-pb, lp4, seplos3,
auto (detect, then poll). Every request is a read from the protocol's allow-list (protocols.md's never-send list is enforced by the code);
--trace shows every byte sent and received.

Detection tries, on each port, each protocol's read-only probe at its default baud and
addresses, in the order above (LP4 near the end: each silent address costs a timeout; Seplos
v3 last: its read at slave 0 reaches every Modbus device on the line). It first
listens for --listen (1 s): a bus that talks without being asked has another master on it
and is not probed (a JK-PB master's records are listened to for 5 s: each address heard is
reported). A silent port takes about 22 s to go through every protocol;
--protocol NAME with --detect probes that protocol only.

Exit status: 0 every pack answered (--detect: something was found), 1 some did not (with
--once/--count; --detect: nothing found), 2 usage or configuration error, 75 a port could
not be opened (--protocol auto: nothing found on any port).";

/// Poll JBD, Daly and the other BMS families of the protocol table over RS-485/UART (or a
/// network gateway), or detect what is on a port, and print NDJSON readings.
#[derive(Debug, clap::Parser)]
#[command(name = "bms-poll", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    /// Serial ports (RS-485 or UART adapters) or gateways (tcp://HOST:PORT,
    /// modbus-tcp://HOST:PORT for Modbus families)
    #[arg(value_name = "PORT")]
    pub ports: Vec<String>,
    /// The BMS family: jbd, daly, pylontech, seplos, pace, eg4-7e, jk, jk-pb, lp4, seplos3, or
    /// auto (detect, then poll)
    #[arg(long, short = 'p', value_name = "NAME", value_parser = protocol)]
    pub protocol: Option<String>,
    /// Find what is on each port and print a "detected" record per device, then exit
    #[arg(long)]
    pub detect: bool,
    /// Remember what each port held in FILE and try that first next time (--detect, auto)
    #[arg(long, value_name = "FILE")]
    pub detect_cache: Option<PathBuf>,
    /// Listen this long for traffic before probing a port (a bus with another master is
    /// not probed)
    #[arg(long, value_name = "DUR", value_parser = crate::cli::duration, default_value = "1s")]
    pub listen: Duration,
    /// Line speed [default: the protocol's: 9600]
    #[arg(long, short = 'b', value_name = "BAUD")]
    pub baud: Option<u32>,
    #[command(flatten)]
    pub poll: PollOpts,
    /// Daly: the host address requests come from: 0x40 on the RS-485 port, 0x80 on the
    /// UART/Bluetooth port
    #[arg(long, value_name = "ADDR", value_parser = host_address, default_value = "0x40")]
    pub daly_host: u8,
    /// Flip the sign of the current (firmware known to report it inverted)
    #[arg(long)]
    pub invert_current: bool,
    /// JK-PB: allow the three trigger frames (FC16 writes into the command page) when no bus
    /// master is heard for a few seconds; by default jk-pb only listens
    #[arg(long)]
    pub jk_trigger: bool,
    /// JK-PB: ask with plain FC03 reads of 0x1200/0x1400 when no bus master is heard
    /// (unreliable: packs stop answering FC03 on a bus without triggers)
    #[arg(long, conflicts_with = "jk_trigger")]
    pub jk_modbus_read: bool,
    /// Pylontech: read every module of a group with one request to its master (0x42 INFO FF)
    /// instead of three per pack; alarms (0x44) and limits (0x92) are then not read
    #[arg(long)]
    pub pylontech_group: bool,
    /// Packs from a TOML file ([[pack]] port, address, name, protocol, baud)
    #[arg(long, value_name = "FILE", conflicts_with = "detect")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

fn protocol(s: &str) -> Result<String, String> {
    if s == "auto" || family::find(s).is_some() {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown protocol '{s}': use one of {}, auto",
            family::names().join(", ")
        ))
    }
}

fn host_address(s: &str) -> Result<u8, String> {
    let a = crate::cli::addresses(s)?;
    match a.0.as_slice() {
        [h] if [0x20, 0x40, 0x80].contains(h) => Ok(*h),
        _ => Err(format!(
            "'{s}': the Daly host address is 0x40 (RS-485) or 0x80 (UART/Bluetooth)"
        )),
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    let options = Options {
        daly_host: args.daly_host,
        invert_current: args.invert_current,
        jk_trigger: args.jk_trigger,
        jk_modbus_read: args.jk_modbus_read,
        pylontech_group: args.pylontech_group,
    };
    let capture = args
        .poll
        .capture
        .as_deref()
        .map(Capture::open)
        .transpose()?;
    let mut out = RecordWriter::stdout();
    if args.detect {
        if args.ports.is_empty() {
            return Err(usage("--detect needs at least one PORT"));
        }
        let families = detect_families(args.protocol.as_deref())?;
        let found = detect_all(&args, &families, &options, capture)?;
        for d in &found {
            out.write(&Record::Detected(d.record()))?;
        }
        hint(&args, &found);
        return Ok(if found.is_empty() {
            log::warn!("nothing answered on {}", args.ports.join(", "));
            Exit::Partial
        } else {
            Exit::Ok
        });
    }
    let file = args.config.as_deref().map(config::load).transpose()?;
    let cli_protocol = args.protocol.clone();
    let default_protocol = cli_protocol
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.protocol.clone()));
    if let Some(p) = file.as_ref().and_then(|f| f.protocol.as_deref()) {
        protocol(p).map_err(|e| usage(format!("config: {e}")))?;
    }
    let no_protocol = || {
        usage(
            "no --protocol given: name the BMS family (jbd, daly, ...), or use --protocol auto \
             or --detect to find it",
        )
    };
    if default_protocol.is_none() && file.is_none() {
        return Err(no_protocol());
    }
    let packs = if default_protocol.as_deref() == Some("auto") {
        if file.is_some() {
            return Err(usage("--protocol auto cannot be combined with --config"));
        }
        if args.ports.is_empty() {
            return Err(usage("--protocol auto needs at least one PORT"));
        }
        let families = detect_families(None)?;
        let found = detect_all(&args, &families, &options, capture.clone())?;
        hint(&args, &found);
        if found.is_empty() {
            return Err(unavailable(format!(
                "no BMS found on {} (try --detect -v to see what each probe got)",
                args.ports.join(", ")
            )));
        }
        found
            .iter()
            .map(|d| PlannedPack {
                family: d.family,
                options: d.options.clone(),
                port: d.port.clone(),
                address: d.address,
                baud: d.baud,
                name: None,
            })
            .collect()
    } else {
        planned_packs(&args, file.as_ref(), default_protocol.as_deref(), &options)?
    };
    if packs.iter().any(|p| p.family.reach.heard) {
        if let Some(plans) = listen_plans(&args, &packs, &options, file.is_some())? {
            let schedule = ListenSchedule {
                cycles: args.poll.cycles(),
                silence: LISTEN_SILENCE,
            };
            return listen::run(plans, schedule, capture, &mut out);
        }
    }
    let ports = port_plans(&packs)?;
    let first = packs[0].family;
    let pick = |cli: Option<Duration>, f: Option<Duration>, d: Duration| cli.or(f).unwrap_or(d);
    let schedule = Schedule {
        cycles: args.poll.cycles(),
        interval: pick(
            args.poll.interval,
            file.as_ref().and_then(|f| f.interval),
            Duration::from_secs(10),
        ),
        gap: pick(
            args.poll.gap,
            file.as_ref().and_then(|f| f.gap),
            packs
                .iter()
                .map(|p| p.family.gap)
                .max()
                .unwrap_or(first.gap),
        ),
        timeout: pick(
            args.poll.timeout,
            file.as_ref().and_then(|f| f.timeout),
            packs
                .iter()
                .map(|p| p.family.timeout)
                .max()
                .unwrap_or(first.timeout),
        ),
        identify: true,
        emit_errors: args.poll.emit_errors,
    };
    poll::run(ports, schedule, capture, &mut out)
}

/// How long a listener waits for a reading before it gives up (--once, --count) or warns: a
/// JK-PB master's cycle is about 4.4 s.
const LISTEN_SILENCE: Duration = Duration::from_secs(10);

/// How long bms-poll listens for a bus master before it may ask (--jk-trigger,
/// --jk-modbus-read): longer than one master cycle.
const MASTER_WAIT: Duration = Duration::from_millis(5000);

/// The listeners for families that are heard first: Some when bms-poll is to listen (the
/// default, or a master was heard on a port), None when it may ask.
fn listen_plans(
    args: &Args,
    packs: &[PlannedPack],
    options: &Options,
    from_file: bool,
) -> anyhow::Result<Option<Vec<ListenPlan>>> {
    if let Some(p) = packs.iter().find(|p| !p.family.reach.heard) {
        return Err(usage(format!(
            "{} is listened to, {} is polled: run one bms-poll for each",
            packs[0].family.name, p.family.name
        )));
    }
    let mut plans: Vec<ListenPlan> = Vec::new();
    for p in packs {
        // Every address heard, unless packs were picked (by address, name or config file).
        let picked = from_file || args.poll.address.is_some() || !args.poll.name.is_empty();
        let wanted = picked.then(Vec::new);
        let slot = match plans.iter().position(|l| l.path == p.port) {
            Some(i) => i,
            None => {
                let Some(hearer) = hear::hearer(p.family.name, options.invert_current) else {
                    return Err(usage(format!("{} cannot be listened to", p.family.name)));
                };
                plans.push(ListenPlan {
                    path: p.port.clone(),
                    baud: p.baud,
                    source: p.family.name,
                    hearer,
                    wanted,
                });
                plans.len() - 1
            }
        };
        if let Some(w) = plans[slot].wanted.as_mut() {
            w.push((p.address, p.name.clone()));
        }
    }
    let asking = options.jk_trigger || options.jk_modbus_read;
    if !asking {
        return Ok(Some(plans));
    }
    if packs.iter().any(|p| p.address == 0) {
        return Err(usage(
            "address 0 is the JK-PB bus master: it is heard, never asked (drop it from \
             --address, or listen without --jk-trigger/--jk-modbus-read)",
        ));
    }
    // Ask only on a bus without a master: two masters collide.
    let mut master = None;
    for plan in &plans {
        if master_heard(&plan.path, plan.baud)? {
            master = Some(plan.path.clone());
            break;
        }
    }
    match master {
        Some(port) => {
            log::warn!(
                "{port}: a JK-PB bus master is polling this bus: listening instead of asking \
                 (two masters collide)"
            );
            Ok(Some(plans))
        }
        None => {
            log::info!(
                "no JK-PB bus master heard in {} s: asking with {}",
                MASTER_WAIT.as_secs(),
                if options.jk_trigger {
                    "the trigger frames"
                } else {
                    "FC03 reads"
                }
            );
            Ok(None)
        }
    }
}

/// Listens on `port` for up to [`MASTER_WAIT`]: did a JK-PB record cross the bus unasked?
fn master_heard(port: &str, baud: u32) -> anyhow::Result<bool> {
    let mut link = Link::open(port, baud, None).map_err(crate::io::serial::OpenError::fatal)?;
    let mut framer = crate::proto::jkpb::Framer::new();
    let until = Instant::now() + MASTER_WAIT;
    let mut chunk = [0u8; 512];
    while Instant::now() < until {
        match link.receive(&mut chunk, Duration::from_millis(100)) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                crate::log::trace(&link.label, "<", &chunk[..n]);
                framer.feed(&chunk[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                ) =>
            {
                framer.flush();
            }
            Err(e) => return Err(unavailable(format!("{port}: {e}"))),
        }
        if framer.records > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One pack to poll.
#[derive(Debug, Clone)]
struct PlannedPack {
    family: &'static Family,
    options: Options,
    port: String,
    address: u8,
    baud: u32,
    name: Option<String>,
}

/// The packs of the command line or the config file.
fn planned_packs(
    args: &Args,
    file: Option<&config::Config>,
    default_protocol: Option<&str>,
    options: &Options,
) -> anyhow::Result<Vec<PlannedPack>> {
    let lookup = |name: &str| -> anyhow::Result<&'static Family> {
        family::find(name).ok_or_else(|| {
            usage(format!(
                "unknown protocol '{name}': use one of {}",
                family::names().join(", ")
            ))
        })
    };
    let mut out = Vec::new();
    if let Some(file) = file {
        if !args.poll.name.is_empty() {
            return Err(usage(
                "--name cannot be combined with --config: name packs in the file",
            ));
        }
        if !args.ports.is_empty() {
            return Err(usage(
                "PORT arguments cannot be combined with --config: list the ports in the file",
            ));
        }
        for p in &file.packs {
            let proto = p.protocol.as_deref().or(default_protocol).ok_or_else(|| {
                usage(format!(
                    "config: no protocol for the pack on {} (give protocol = \"...\" in the \
                     file, or --protocol)",
                    p.port
                ))
            })?;
            if proto == "auto" {
                return Err(usage(
                    "config: protocol \"auto\" is for the command line only",
                ));
            }
            let fam = lookup(proto)?;
            out.push(planned(fam, p, args.baud, options)?);
        }
        return Ok(out);
    }
    if args.ports.is_empty() {
        return Err(usage(
            "no PORT given (try 'bms-poll --protocol jbd /dev/ttyUSB0', or --config FILE)",
        ));
    }
    let fam = lookup(default_protocol.unwrap_or_default())?;
    let addrs = args.poll.addresses(fam.default_address());
    fam.check_addresses(&addrs).map_err(usage)?;
    let mut names = args
        .poll
        .names(args.ports.len(), &addrs)
        .map_err(usage)?
        .into_iter();
    for port in &args.ports {
        for &address in &addrs {
            out.push(PlannedPack {
                family: fam,
                options: options.clone(),
                port: port.clone(),
                address,
                baud: args.baud.unwrap_or(fam.default_baud),
                name: names.next().flatten(),
            });
        }
    }
    Ok(out)
}

fn planned(
    fam: &'static Family,
    p: &PackConfig,
    baud: Option<u32>,
    options: &Options,
) -> anyhow::Result<PlannedPack> {
    let address = p.address.unwrap_or(fam.default_address());
    fam.check_addresses(&[address])
        .map_err(|e| usage(format!("config, port {}: {e}", p.port)))?;
    if let Some(n) = &p.name {
        if !is_device_id(n) {
            return Err(usage(format!("invalid pack name '{n}': use [a-z0-9_-]")));
        }
    }
    Ok(PlannedPack {
        family: fam,
        options: options.clone(),
        port: p.port.clone(),
        address,
        baud: p.baud.or(baud).unwrap_or(fam.default_baud),
        name: p.name.clone(),
    })
}

/// One plan per port, in first-seen order. A port has one protocol and one baud rate.
fn port_plans(packs: &[PlannedPack]) -> anyhow::Result<Vec<PortPlan>> {
    let mut plans: Vec<(PortPlan, &'static Family)> = Vec::new();
    for p in packs {
        if let Endpoint::ModbusTcp { .. } = check_port(&p.port)? {
            if !p.family.modbus {
                return Err(usage(format!(
                    "{}: {} is not Modbus: put the gateway in transparent mode and use \
                     tcp://HOST:PORT",
                    p.port, p.family.name
                )));
            }
        }
        let slot = match plans.iter().position(|(plan, _)| plan.path == p.port) {
            Some(i) => i,
            None => {
                plans.push((
                    PortPlan {
                        path: p.port.clone(),
                        baud: p.baud,
                        packs: Vec::new(),
                        driver: Box::new(CodecDriver::new(
                            p.family.name,
                            (p.family.codec)(&p.options),
                            p.family.pause,
                        )),
                    },
                    p.family,
                ));
                plans.len() - 1
            }
        };
        let (plan, fam) = &mut plans[slot];
        if fam.name != p.family.name {
            return Err(usage(format!(
                "{}: one protocol per port ({} and {})",
                p.port, fam.name, p.family.name
            )));
        }
        if plan.baud != p.baud {
            return Err(usage(format!(
                "{}: packs on one port must share a baud rate ({} vs {})",
                p.port, plan.baud, p.baud
            )));
        }
        if plan.packs.iter().any(|q| q.address == p.address) {
            return Err(usage(format!(
                "{}: address {} listed twice",
                p.port, p.address
            )));
        }
        let index = plan.packs.len();
        plan.packs.push(PackPlan {
            address: p.address,
            name: p.name.clone(),
            index,
        });
    }
    Ok(plans.into_iter().map(|(plan, _)| plan).collect())
}

/// A device found by detection.
#[derive(Debug, Clone)]
pub struct Found {
    family: &'static Family,
    /// The settings it answered to (Daly: the host address).
    options: Options,
    port: String,
    baud: u32,
    network: bool,
    address: u8,
    device: String,
    info: Info,
}

impl Found {
    fn record(&self) -> DetectedRecord {
        DetectedRecord {
            ts: Timestamp::now(),
            port: self.port.clone(),
            protocol: self.family.name,
            baud: (!self.network).then_some(self.baud),
            address: self.address,
            device: self.device.clone(),
            info: self.info.clone(),
        }
    }
}

fn detect_families(only: Option<&str>) -> anyhow::Result<Vec<&'static Family>> {
    match only {
        None | Some("auto") => Ok(family::FAMILIES.iter().collect()),
        Some(name) => family::find(name)
            .map(|f| vec![f])
            .ok_or_else(|| usage(format!("unknown protocol '{name}'"))),
    }
}

/// What a detection cache remembers of a port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Remembered {
    protocol: String,
    baud: u32,
    addresses: Vec<u8>,
    /// Daly: the host address the board answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    daly_host: Option<u8>,
}

fn read_cache(path: &Path) -> BTreeMap<String, Remembered> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            log::warn!("detection cache {}: {e}; ignoring it", path.display());
            BTreeMap::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => {
            log::warn!("detection cache {}: {e}; ignoring it", path.display());
            BTreeMap::new()
        }
    }
}

fn write_cache(path: &Path, cache: &BTreeMap<String, Remembered>) {
    let text = match serde_json::to_string_pretty(cache) {
        Ok(t) => t + "\n",
        Err(_) => return,
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(d) = dir {
            let _ = std::fs::File::open(d).and_then(|d| d.sync_all());
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        log::warn!("detection cache {}: {e}", path.display());
    }
}

/// Detects every port (in parallel, one thread each); updates the cache.
fn detect_all(
    args: &Args,
    families: &[&'static Family],
    options: &Options,
    capture: Option<Capture>,
) -> anyhow::Result<Vec<Found>> {
    for p in &args.ports {
        check_port(p)?;
    }
    let mut cache = args
        .detect_cache
        .as_deref()
        .map(read_cache)
        .unwrap_or_default();
    let results: Vec<anyhow::Result<Vec<Found>>> = std::thread::scope(|s| {
        let handles: Vec<_> = args
            .ports
            .iter()
            .map(|port| {
                let hint = cache.get(port).cloned();
                let capture = capture.clone();
                let timeout = args.poll.timeout;
                let listen = args.listen;
                let only_addrs = args.poll.address.as_ref().map(|a| a.0.clone());
                let baud = args.baud;
                s.spawn(move || {
                    detect_port(
                        port,
                        families,
                        options,
                        Probing {
                            hint,
                            timeout,
                            listen,
                            only_addrs,
                            baud,
                        },
                        capture,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("detection thread failed")))
            })
            .collect()
    });
    let mut found = Vec::new();
    let mut opened = 0;
    let mut last_err = None;
    for (port, r) in args.ports.iter().zip(results) {
        match r {
            Ok(f) => {
                opened += 1;
                if let Some(first) = f.first() {
                    cache.insert(
                        port.clone(),
                        Remembered {
                            protocol: first.family.name.into(),
                            baud: first.baud,
                            addresses: f.iter().map(|d| d.address).collect(),
                            daly_host: (first.family.name == "daly")
                                .then_some(first.options.daly_host),
                        },
                    );
                }
                found.extend(f);
            }
            Err(e) => {
                log::warn!("{e:#}");
                last_err = Some(e);
            }
        }
    }
    if opened == 0 {
        if let Some(e) = last_err {
            return Err(e);
        }
    }
    if let Some(path) = &args.detect_cache {
        if !found.is_empty() {
            write_cache(path, &cache);
        }
    }
    Ok(found)
}

struct Probing {
    hint: Option<Remembered>,
    timeout: Option<Duration>,
    listen: Duration,
    only_addrs: Option<Vec<u8>>,
    baud: Option<u32>,
}

/// One candidate: a family at a baud rate, with the addresses to probe.
struct Candidate {
    family: &'static Family,
    options: Options,
    baud: u32,
    addresses: Vec<u8>,
    /// Ask a found device for the devices behind it (the user did not name the addresses).
    expand: bool,
}

fn detect_port(
    port: &str,
    families: &[&'static Family],
    options: &Options,
    how: Probing,
    capture: Option<Capture>,
) -> anyhow::Result<Vec<Found>> {
    let first_baud = how
        .baud
        .or_else(|| families.first().map(|f| f.default_baud))
        .unwrap_or(9600);
    let mut link =
        Link::open(port, first_baud, capture).map_err(|e| unavailable(format!("{e}")))?;
    let started = Instant::now();
    if !how.listen.is_zero() && heard_traffic(&mut link, how.listen)? {
        // A family that can be heard may be what talks: listen to it for a master cycle.
        for f in families.iter().filter(|f| f.reach.heard) {
            let baud = how.baud.unwrap_or(f.default_baud);
            let found = hear_devices(&mut link, port, f, options, baud)?;
            if !found.is_empty() {
                log::info!(
                    "{port}: {} heard without asking; detection took {} ms",
                    f.name,
                    started.elapsed().as_millis()
                );
                return Ok(found);
            }
        }
        log::warn!(
            "{port}: traffic without asking: another master (an inverter, a BMS master) drives \
             this bus; not probing it (decode it with rtu-sniff)"
        );
        return Ok(Vec::new());
    }
    let mut candidates: Vec<Candidate> = Vec::new();
    if let Some(h) = &how.hint {
        if let Some(f) = families.iter().find(|f| f.name == h.protocol) {
            candidates.push(Candidate {
                family: f,
                options: Options {
                    daly_host: h.daly_host.unwrap_or(options.daly_host),
                    ..options.clone()
                },
                baud: h.baud,
                addresses: h.addresses.clone(),
                expand: false,
            });
        }
    }
    for f in families {
        let bauds: Vec<u32> = match how.baud {
            Some(b) => vec![b],
            None if link.is_network() => vec![f.default_baud],
            None => f.detect_bauds.to_vec(),
        };
        for baud in bauds {
            let addresses = match &how.only_addrs {
                Some(a) => a
                    .iter()
                    .copied()
                    .filter(|&x| f.check_addresses(&[x]).is_ok())
                    .collect(),
                None => f.probe_addresses().to_vec(),
            };
            if !addresses.is_empty() {
                for o in (f.variants)(options) {
                    candidates.push(Candidate {
                        family: f,
                        options: o,
                        baud,
                        addresses: addresses.clone(),
                        expand: how.only_addrs.is_none(),
                    });
                }
            }
        }
    }
    let mut heard: Option<String> = None;
    for c in &candidates {
        let found = probe_candidate(&mut link, port, c, how.timeout, &mut heard)?;
        if !found.is_empty() {
            log::info!(
                "{port}: detection took {} ms",
                started.elapsed().as_millis()
            );
            return Ok(found);
        }
    }
    log::info!(
        "{port}: nothing answered; detection took {} ms",
        started.elapsed().as_millis()
    );
    if let Some(why) = heard {
        log::warn!("{port}: bytes came back, but no protocol's reply was valid: {why}");
    }
    Ok(Vec::new())
}

/// Listens to a family that can be heard for [`MASTER_WAIT`] (longer than a JK-PB master's
/// cycle) and returns one device per address heard, sending nothing.
fn hear_devices(
    link: &mut Link,
    port: &str,
    f: &'static Family,
    options: &Options,
    baud: u32,
) -> anyhow::Result<Vec<Found>> {
    let Some(mut hearer) = hear::hearer(f.name, options.invert_current) else {
        return Ok(Vec::new());
    };
    link.set_baud(baud)
        .map_err(|e| unavailable(format!("{port}: {e}")))?;
    let mut heard: BTreeMap<u8, Info> = BTreeMap::new();
    let until = Instant::now() + MASTER_WAIT;
    let mut chunk = [0u8; 512];
    while Instant::now() < until {
        let got = match link.receive(&mut chunk, Duration::from_millis(100)) {
            Ok(0) => break,
            Ok(n) => {
                crate::log::trace(&link.label, "<", &chunk[..n]);
                hearer.feed(&chunk[..n])
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                ) =>
            {
                hearer.flush()
            }
            Err(e) => return Err(unavailable(format!("{port}: {e}"))),
        };
        for h in got {
            match h {
                hear::Heard::Reading { address, .. } => {
                    heard.entry(address).or_default();
                }
                hear::Heard::Identity { address, info } => {
                    heard.insert(address, info);
                }
            }
        }
    }
    Ok(heard
        .into_iter()
        .map(|(address, info)| {
            let plan = PackPlan {
                address,
                name: None,
                index: 0,
            };
            Found {
                family: f,
                options: options.clone(),
                port: port.to_string(),
                baud,
                network: link.is_network(),
                address,
                device: poll::device_name(&link.label, &plan, &info),
                info,
            }
        })
        .collect())
}

/// Listens for `how_long`: did anything arrive unasked?
fn heard_traffic(link: &mut Link, how_long: Duration) -> anyhow::Result<bool> {
    let until = Instant::now() + how_long;
    let mut chunk = [0u8; 256];
    loop {
        let now = Instant::now();
        if now >= until {
            return Ok(false);
        }
        match link.receive(&mut chunk, until - now) {
            Ok(0) => {
                return Err(unavailable(format!(
                    "{}: the line hung up or the gateway closed the connection",
                    link.label
                )))
            }
            Ok(n) => {
                crate::log::trace(&link.label, "<", &chunk[..n]);
                return Ok(true);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(unavailable(format!("{}: {e}", link.label))),
        }
    }
}

fn probe_candidate(
    link: &mut Link,
    port: &str,
    c: &Candidate,
    timeout: Option<Duration>,
    heard: &mut Option<String>,
) -> anyhow::Result<Vec<Found>> {
    let f = c.family;
    link.set_baud(c.baud)
        .map_err(|e| unavailable(format!("{port}: {e}")))?;
    let codec = (f.codec)(&c.options);
    let timeout = timeout.unwrap_or(f.probe_timeout);
    let mut found = Vec::new();
    for &address in &c.addresses {
        std::thread::sleep(Duration::from_millis(20));
        let probe = codec.probe(address);
        if probe.bytes.is_empty() {
            continue; // an address the family cannot ask (JK-PB's master)
        }
        let answer = match poll::exchange(link, codec.as_ref(), address, &probe, &[], timeout) {
            Ok(a) => a,
            Err(LinkError::Io(e)) => return Err(unavailable(format!("{port}: {e}"))),
            Err(e) => {
                log::debug!(
                    "{port}: {} at {} baud, address {address}: {e}",
                    f.name,
                    c.baud
                );
                if !matches!(e, LinkError::Timeout(_)) && heard.is_none() {
                    *heard = Some(format!("{} probe at {} baud: {e}", f.name, c.baud));
                }
                continue;
            }
        };
        let info = match codec.check_probe(address, &answer) {
            Ok(i) => i,
            Err(e) => {
                log::info!(
                    "{port}: {} at {} baud, address {address}: a reply, but {e}",
                    f.name,
                    c.baud
                );
                continue;
            }
        };
        let info = identified(link, codec.as_ref(), f, address, timeout, info);
        let maker = info.manufacturer.clone();
        found.push(c.found(port, link, address, info));
        // A device that answers for others behind it (a Pylontech master for its group):
        // they are found with one request more, unless the user named the addresses.
        let Some(ask) = codec.members_probe(address).filter(|_| c.expand) else {
            continue;
        };
        std::thread::sleep(f.pause.max(Duration::from_millis(20)));
        let members = poll::exchange(link, codec.as_ref(), address, &ask, &[], timeout)
            .map_err(|e| e.to_string())
            .and_then(|answer| codec.members(address, &answer));
        let members = match members {
            Ok(m) => m,
            Err(e) => {
                log::debug!("{port}: {} address {address}: members: {e}", f.name);
                continue;
            }
        };
        for m in members {
            if c.addresses.contains(&m) || found.iter().any(|d: &Found| d.address == m) {
                continue;
            }
            let base = Info {
                manufacturer: maker.clone(),
                ..Info::default()
            };
            let info = identified(link, codec.as_ref(), f, m, timeout, base);
            log::info!(
                "{port}: {} address {m}: answers behind address {address}",
                f.name
            );
            found.push(c.found(port, link, m, info));
        }
    }
    Ok(found)
}

/// `info` with what the device's identity reads add, if it has any.
fn identified(
    link: &mut Link,
    codec: &dyn crate::proto::codec::Codec,
    f: &Family,
    address: u8,
    timeout: Duration,
    info: Info,
) -> Info {
    let ident = codec.identity(address);
    if ident.is_empty() {
        return info;
    }
    std::thread::sleep(f.pause.max(Duration::from_millis(20)));
    match poll::run_requests(link, codec, address, &ident, timeout, f.pause) {
        Ok(answers) => match codec.decode_identity(address, &answers) {
            Some(more) => merge(info, more),
            None => info,
        },
        Err(_) => info,
    }
}

impl Candidate {
    fn found(&self, port: &str, link: &Link, address: u8, info: Info) -> Found {
        let plan = PackPlan {
            address,
            name: None,
            index: 0,
        };
        Found {
            family: self.family,
            options: self.options.clone(),
            port: port.to_string(),
            baud: self.baud,
            network: link.is_network(),
            address,
            device: poll::device_name(&link.label, &plan, &info),
            info,
        }
    }
}

fn merge(a: Info, b: Info) -> Info {
    Info {
        manufacturer: b.manufacturer.or(a.manufacturer),
        model: b.model.or(a.model),
        firmware: b.firmware.or(a.firmware),
        hardware: b.hardware.or(a.hardware),
        serial: b.serial.or(a.serial),
    }
}

/// Says on stderr, per port, the command line that polls what was found.
fn hint(args: &Args, found: &[Found]) {
    if args.common.quiet > 0 {
        return;
    }
    let mut err = std::io::stderr().lock();
    for port in &args.ports {
        let here: Vec<&Found> = found.iter().filter(|d| &d.port == port).collect();
        let Some(first) = here.first() else {
            continue;
        };
        for d in &here {
            let what = [&d.info.manufacturer, &d.info.model, &d.info.serial]
                .iter()
                .filter_map(|s| s.as_deref())
                .collect::<Vec<_>>()
                .join(" ");
            let at = if d.network {
                String::new()
            } else {
                format!(" at {} baud", d.baud)
            };
            let _ = writeln!(
                err,
                "bms-poll: {port}: {} address {}{at}{}{}",
                d.family.name,
                d.address,
                if what.is_empty() { "" } else { ": " },
                what
            );
        }
        let mut cmd = format!("bms-poll --protocol {}", first.family.name);
        let addrs: Vec<String> = here.iter().map(|d| d.address.to_string()).collect();
        if first.family.addressing != family::Addressing::Single
            && addrs != [first.family.default_address().to_string()]
        {
            cmd.push_str(&format!(" --address {}", addrs.join(",")));
        }
        if !first.network && first.baud != first.family.default_baud {
            cmd.push_str(&format!(" --baud {}", first.baud));
        }
        if first.family.name == "daly" && first.options.daly_host != crate::proto::daly::HOST_RS485
        {
            cmd.push_str(&format!(" --daly-host {:#04x}", first.options.daly_host));
        }
        let _ = writeln!(err, "bms-poll: to poll it: {cmd} {port}");
    }
}
