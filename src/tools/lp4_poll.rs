//! lp4-poll: Modbus RTU master for EG4 LifePower4 v2 packs.

use crate::cli::{Common, PollOpts, SerialOpts};
use crate::config::{self, PackConfig};
use crate::exit::{usage, Exit};
use crate::io::capture::Capture;
use crate::io::modbus::{read_registers, ReadError};
use crate::io::serial::{Link, LinkError, OpenError};
use crate::ndjson::RecordWriter;
use crate::poll::{self, Driver, PackPlan, Polled, PortPlan, Schedule};
use crate::proto::lp4::{self, Map, Window};
use crate::proto::modbus::{ReadRequest, ReplyError};
use crate::record::{is_device_id, Info, Reading, Record};
use crate::time::Timestamp;
use std::path::PathBuf;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  # Poll pack 1 on one adapter every 10 s, one NDJSON reading per pack and cycle
  lp4-poll /dev/ttyUSB0

  # Three packs on one bus, two buses polled in parallel, into Home Assistant
  lp4-poll --address 1,2,3 /dev/ttyUSB0 /dev/ttyUSB1 | readings-to-mqtt --host broker

  # One-shot check from cron: alert when a pack did not answer (lp4-poll exits 1) or a cell
  # delta is over 50 mV (without --emit-errors a silent pack would just be missing)
  lp4-poll --once --emit-errors -a 1-4 /dev/ttyUSB0 | jq -e -s 'length > 0 and all(.[]; .type == \"reading\" and .fields.cell_voltage_delta_mv <= 50)' >/dev/null || alert

  # Find packs: addresses 1-16 and 0x40 at 9600, 19200 and 115200 baud
  lp4-poll --scan /dev/ttyUSB0

  # Packs listed in a file (bmstap TOML, or eg4-battery's YAML)
  lp4-poll --config /etc/bmstap/packs.toml

  # Packs behind an RS-485-to-Ethernet gateway: transparent, or in Modbus TCP mode
  lp4-poll --address 1-4 tcp://192.168.1.50:4196
  lp4-poll --address 1-4 modbus-tcp://192.168.1.50:502

  # Try it without hardware
  bms-sim lp4 --address 1,2 --link /tmp/lp4 &  lp4-poll --once -a 1,2 /tmp/lp4
  bms-sim lp4 --address 1,2 --tcp 127.0.0.1:4196 &  lp4-poll --once -a 1,2 tcp://127.0.0.1:4196

Exit status: 0 every pack answered, 1 some did not (with --once/--count),
2 usage or configuration error, 75 a port could not be opened (or a gateway not reached).";

/// Poll EG4 LifePower4 v2 battery packs over Modbus RTU and print NDJSON readings.
///
/// Reads the 39-register status block (EG4-LL protocol V01.06) of every pack, plus its
/// identity block (model, firmware, serial) once per connection. Ports are polled in
/// parallel; the packs on one port in turn.
#[derive(Debug, clap::Parser)]
#[command(name = "lp4-poll", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    /// Serial ports (RS-485 adapters) or gateways (tcp://HOST:PORT, modbus-tcp://HOST:PORT)
    #[arg(value_name = "PORT")]
    pub ports: Vec<String>,
    #[command(flatten)]
    pub poll: PollOpts,
    #[command(flatten)]
    pub serial: SerialOpts,
    /// Register map: v01-06 (EG4-LL V01.06, 39 registers) or eg4-battery (47 registers)
    #[arg(long, value_name = "MAP", default_value = "v01-06", value_parser = crate::cli::lp4_map())]
    pub map: Map,
    /// Read the packs to poll from FILE (bmstap TOML, or eg4-battery's YAML)
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with = "ports")]
    pub config: Option<PathBuf>,
    /// Look for packs on the ports (addresses 1-16 and 0x40, at 9600/19200/115200 baud; once
    /// through a gateway, whose line speed is its own setting)
    #[arg(long, conflicts_with_all = ["once", "count", "config"])]
    pub scan: bool,
    #[command(flatten)]
    pub common: Common,
}

/// The LP4 protocol for the poll engine.
struct Lp4Driver {
    maps: Vec<Map>,
}

impl Driver for Lp4Driver {
    fn source(&self) -> &'static str {
        "lp4"
    }

    fn identify(
        &mut self,
        link: &mut Link,
        pack: &PackPlan,
        timeout: Duration,
    ) -> Result<Option<Info>, LinkError> {
        identify(link, pack.address, timeout)
    }

    fn read(
        &mut self,
        link: &mut Link,
        pack: &PackPlan,
        timeout: Duration,
    ) -> Result<Polled, LinkError> {
        read_status(link, pack.address, self.maps[pack.index], timeout)
    }
}

fn identify(link: &mut Link, address: u8, timeout: Duration) -> Result<Option<Info>, LinkError> {
    let (start, count) = lp4::IDENTITY_BLOCK;
    match read_registers(link, &ReadRequest::holding(address, start, count), timeout) {
        Ok(regs) => Ok(Some(lp4::decode_identity(Window { start, regs: &regs }))),
        // 0x0A/0x0B come from a Modbus TCP gateway whose pack did not answer: not a pack
        // without an identity block, so the identity is asked for again.
        Err(ReadError::Reply(ReplyError::Exception { code })) if !matches!(code, 0x0A | 0x0B) => {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn read_status(
    link: &mut Link,
    address: u8,
    map: Map,
    timeout: Duration,
) -> Result<Polled, LinkError> {
    let (start, count) = map.status_block();
    let regs = read_registers(link, &ReadRequest::holding(address, start, count), timeout)?;
    let window = Window { start, regs: &regs };
    Ok(Polled {
        fields: lp4::decode(map, window),
        raw: lp4::raw(window),
    })
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    let capture = args
        .poll
        .capture
        .as_deref()
        .map(Capture::open)
        .transpose()?;
    let mut out = RecordWriter::stdout();
    if args.scan {
        if args.ports.is_empty() {
            return Err(usage("--scan needs at least one PORT"));
        }
        return scan(&args, capture, &mut out);
    }
    let (packs, file) = match &args.config {
        Some(path) => {
            if !args.poll.name.is_empty() {
                return Err(usage(
                    "--name cannot be combined with --config: name packs in the file",
                ));
            }
            let c = config::load(path)?;
            (c.packs.clone(), Some(c))
        }
        None => {
            if args.ports.is_empty() {
                return Err(usage(
                    "no PORT given (try 'lp4-poll /dev/ttyUSB0', or --config FILE)",
                ));
            }
            let addrs = args.poll.addresses(1);
            let mut names = args
                .poll
                .names(args.ports.len(), &addrs)
                .map_err(usage)?
                .into_iter();
            let mut packs = Vec::new();
            for port in &args.ports {
                for &address in &addrs {
                    packs.push(PackConfig {
                        name: names.next().flatten(),
                        port: port.clone(),
                        address: Some(address),
                        protocol: None,
                        baud: None,
                        map: None,
                    });
                }
            }
            (packs, None)
        }
    };
    for p in &packs {
        if let Some(n) = &p.name {
            if !is_device_id(n) {
                return Err(usage(format!("invalid pack name '{n}': use [a-z0-9_-]")));
            }
        }
    }
    let ports = group_by_port(&packs, args.serial.baud, args.map)?;
    let pick = |cli: Option<Duration>, file: Option<Duration>, default: Duration| {
        cli.or(file).unwrap_or(default)
    };
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
            Duration::from_millis(200),
        ),
        timeout: pick(
            args.poll.timeout,
            file.as_ref().and_then(|f| f.timeout),
            Duration::from_secs(1),
        ),
        identify: true,
        emit_errors: args.poll.emit_errors,
    };
    poll::run(ports, schedule, capture, &mut out)
}

/// Packs grouped into one plan per port (in first-seen order); a port has one baud rate.
fn group_by_port(
    packs: &[PackConfig],
    default_baud: u32,
    default_map: Map,
) -> anyhow::Result<Vec<PortPlan>> {
    let mut plans: Vec<(PortPlan, Vec<Map>)> = Vec::new();
    for p in packs {
        let baud = p.baud.unwrap_or(default_baud);
        let map = p.map.unwrap_or(default_map);
        let slot = match plans.iter().position(|(plan, _)| plan.path == p.port) {
            Some(i) => i,
            None => {
                plans.push((
                    PortPlan {
                        path: p.port.clone(),
                        baud,
                        packs: Vec::new(),
                        driver: Box::new(Lp4Driver { maps: Vec::new() }),
                    },
                    Vec::new(),
                ));
                plans.len() - 1
            }
        };
        let (plan, maps) = &mut plans[slot];
        if plan.baud != baud {
            return Err(usage(format!(
                "{}: packs on one port must share a baud rate ({} vs {baud})",
                p.port, plan.baud
            )));
        }
        let address = p.address.unwrap_or(1);
        if plan.packs.iter().any(|q| q.address == address) {
            return Err(usage(format!(
                "{}: address {} listed twice",
                p.port, address
            )));
        }
        plan.packs.push(PackPlan {
            address,
            name: p.name.clone(),
            index: maps.len(),
        });
        maps.push(map);
    }
    Ok(plans
        .into_iter()
        .map(|(mut plan, maps)| {
            plan.driver = Box::new(Lp4Driver { maps });
            plan
        })
        .collect())
}

const SCAN_BAUDS: [u32; 3] = [9600, 19200, 115200];

/// Addresses probed by --scan: the DIP range 1–16 (16 = 0x10, the "master" id) and 0x40.
fn scan_addresses() -> impl Iterator<Item = u8> {
    (1..=16).chain(std::iter::once(0x40))
}

fn scan(args: &Args, capture: Option<Capture>, out: &mut RecordWriter) -> anyhow::Result<Exit> {
    let timeout = args.poll.timeout.unwrap_or(Duration::from_millis(300));
    let gap = args.poll.gap.unwrap_or(Duration::from_millis(50));
    let mut found = 0;
    for path in &args.ports {
        crate::io::serial::check_port(path)?;
    }
    for path in &args.ports {
        let mut link =
            Link::open(path, SCAN_BAUDS[0], capture.clone()).map_err(OpenError::fatal)?;
        // A pack answers at one speed: once found, it is not probed again at the next.
        let mut seen = Vec::new();
        let bauds: &[u32] = if link.is_network() {
            &SCAN_BAUDS[..1]
        } else {
            &SCAN_BAUDS
        };
        for &baud in bauds {
            link.set_baud(baud)
                .map_err(|e| crate::exit::unavailable(format!("{path}: {e}")))?;
            let todo: Vec<u8> = scan_addresses().filter(|a| !seen.contains(a)).collect();
            for address in todo {
                std::thread::sleep(gap);
                let polled = match read_status(&mut link, address, args.map, timeout) {
                    Ok(p) => p,
                    Err(LinkError::Io(e)) => {
                        return Err(crate::exit::unavailable(format!("{path}: {e}")))
                    }
                    Err(e) => {
                        log::debug!("{path} {baud} baud address {address}: {e}");
                        continue;
                    }
                };
                std::thread::sleep(gap);
                let info = identify(&mut link, address, timeout)
                    .ok()
                    .flatten()
                    .unwrap_or_default();
                let speed = if link.is_network() {
                    String::new()
                } else {
                    format!(", {baud} baud")
                };
                log::info!("found a pack on {path} at address {address} ({address:#04x}){speed}");
                let plan = PackPlan {
                    address,
                    name: None,
                    index: 0,
                };
                let mut raw = polled.raw;
                raw.insert("port".into(), path.clone().into());
                if !link.is_network() {
                    raw.insert("baud".into(), baud.into());
                }
                raw.insert("address".into(), address.into());
                let reading = Reading {
                    ts: Timestamp::now(),
                    source: "lp4",
                    device: poll::device_name(&link.label, &plan, &info),
                    fields: polled.fields,
                    info,
                    raw,
                };
                out.write(&Record::Reading(reading))?;
                seen.push(address);
                found += 1;
            }
        }
    }
    if found == 0 {
        log::warn!("no pack answered on {}", args.ports.join(", "));
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}
