//! eg4-7e-query: first-generation EG4 LifePower packs (TianPower BMS) over the 7E/0D protocol.

use crate::cli::{Common, PollOpts, SerialOpts};
use crate::exit::{usage, Exit};
use crate::io::capture::Capture;
use crate::io::net::Endpoint;
use crate::io::serial::{check_port, Link, LinkError};
use crate::ndjson::RecordWriter;
use crate::poll::{self, Driver, PackPlan, Polled, PortPlan, Schedule};
use crate::proto::tianpower;
use crate::record::Info;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  # Pack 1 on the bus, every 10 s
  eg4-7e-query /dev/ttyUSB0

  # Four packs, with their firmware and hardware strings in info, into Home Assistant
  eg4-7e-query --address 1-4 --info /dev/ttyUSB0 | readings-to-mqtt --host broker

  # One-shot check: exit 1 if a pack did not answer
  eg4-7e-query --once --address 0,1 /dev/ttyUSB0 | jq -c '{device, soc: .fields.soc}'

  # Packs behind a transparent RS-485-to-Ethernet gateway
  eg4-7e-query --address 1-4 tcp://192.168.1.50:4196

  # Try it without hardware
  bms-sim eg4-7e --address 1,2 --link /tmp/lp1 &  eg4-7e-query --once -a 1,2 --gap 100ms /tmp/lp1

Requests on the bus are 2 s apart by default (--gap): the public drivers for these packs
found 1 s spacing produced errors and 2 s did not. With many packs, lower it carefully or
raise --interval.

Exit status: 0 every pack answered, 1 some did not (with --once/--count),
2 usage or configuration error, 75 a port could not be opened (or a gateway not reached).";

/// Poll first-generation EG4 LifePower packs (and other TianPower-BMS packs: Narada, Revov)
/// over the binary 7E/0D protocol and print NDJSON readings.
#[derive(Debug, clap::Parser)]
#[command(name = "eg4-7e-query", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    /// Serial ports (RS-485 adapters) or transparent gateways (tcp://HOST:PORT)
    #[arg(value_name = "PORT", required = true)]
    pub ports: Vec<String>,
    #[command(flatten)]
    pub poll: PollOpts,
    #[command(flatten)]
    pub serial: SerialOpts,
    /// Also read each pack's firmware (0x33) and hardware (0x42) strings once per connection
    /// (whichever the pack answers; many answer 0x33 only)
    #[arg(long)]
    pub info: bool,
    #[command(flatten)]
    pub common: Common,
}

struct E7Driver {
    gap: Duration,
    /// Identity requests per pack that got no answer at all while the pack answered its
    /// status read the cycle before, so far.
    unanswered: Vec<u8>,
    /// Did the pack's last status read succeed?
    status_ok: Vec<bool>,
}

/// After this many connections' worth of identity requests with neither string answered, a
/// pack is taken to have none (it still answers status reads).
const IDENTITY_TRIES: u8 = 3;

/// One request/reply exchange: the reply payload of `command` from `address`.
fn exchange(
    link: &mut Link,
    address: u8,
    command: u8,
    timeout: Duration,
) -> Result<Vec<u8>, LinkError> {
    let request = tianpower::encode_request(address, command);
    link.transact(&request, timeout, |buf, last| {
        crate::poll::step(tianpower::judge_reply(buf, address, command, last))
    })
}

impl Driver for E7Driver {
    fn source(&self) -> &'static str {
        "eg4-7e"
    }

    fn identify(
        &mut self,
        link: &mut Link,
        pack: &PackPlan,
        timeout: Duration,
    ) -> Result<Option<Info>, LinkError> {
        // Real packs answer 0x33 and may never answer 0x42 (protocols.md §2.7): whatever
        // part arrives is kept, and the identity is not asked for again on this connection.
        let text = |p: &[u8]| Some(tianpower::clean_string(p)).filter(|s| !s.is_empty());
        let ask = |link: &mut Link, command: u8, what: &str| match exchange(
            link,
            pack.address,
            command,
            timeout,
        ) {
            Ok(p) => Ok(Ok(text(&p))),
            Err(LinkError::Io(e)) => Err(LinkError::Io(e)),
            Err(e) => {
                log::info!(
                    "{} address {}: {what} ({command:#04x}): {e}",
                    link.label,
                    pack.address
                );
                Ok(Err(e))
            }
        };
        let firmware = ask(link, tianpower::CMD_FIRMWARE, "firmware")?;
        std::thread::sleep(self.gap);
        let hardware = ask(link, tianpower::CMD_HARDWARE, "hardware")?;
        let tries = &mut self.unanswered[pack.index];
        match (firmware, hardware) {
            (Err(e), Err(_)) => {
                // A pack that is silent altogether is not counted: it may come back.
                if self.status_ok[pack.index] {
                    *tries += 1;
                }
                if *tries >= IDENTITY_TRIES {
                    log::info!(
                        "address {}: no identity after {tries} tries, not asking again",
                        pack.address
                    );
                    return Ok(None);
                }
                Err(e)
            }
            (firmware, hardware) => Ok(Some(Info {
                firmware: firmware.ok().flatten(),
                hardware: hardware.ok().flatten(),
                ..Info::default()
            })),
        }
    }

    fn read(
        &mut self,
        link: &mut Link,
        pack: &PackPlan,
        timeout: Duration,
    ) -> Result<Polled, LinkError> {
        self.status_ok[pack.index] = false;
        let payload = exchange(link, pack.address, tianpower::CMD_STATUS, timeout)?;
        let status = tianpower::parse_status(&payload)
            .map_err(|e| LinkError::Reply(format!("status reply: {e}")))?;
        self.status_ok[pack.index] = true;
        Ok(Polled {
            fields: tianpower::fields(&status),
            raw: tianpower::raw(&status),
        })
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    let addrs = args.poll.addresses(1);
    if let Some(bad) = addrs.iter().find(|&&a| a > 15) {
        return Err(usage(format!(
            "address {bad} out of range: the 7E/0D bus has addresses 0-15"
        )));
    }
    let gap = args.poll.gap.unwrap_or(Duration::from_secs(2));
    let mut names = args
        .poll
        .names(args.ports.len(), &addrs)
        .map_err(usage)?
        .into_iter();
    let mut ports = Vec::new();
    for path in &args.ports {
        if let Endpoint::ModbusTcp { .. } = check_port(path)? {
            return Err(usage(format!(
                "{path}: the 7E/0D protocol is not Modbus: put the gateway in transparent \
                 mode and use tcp://HOST:PORT"
            )));
        }
        if ports.iter().any(|p: &PortPlan| &p.path == path) {
            return Err(usage(format!("{path} given twice")));
        }
        let packs = addrs
            .iter()
            .enumerate()
            .map(|(index, &address)| PackPlan {
                address,
                name: names.next().flatten(),
                index,
            })
            .collect();
        ports.push(PortPlan {
            path: path.clone(),
            baud: args.serial.baud,
            packs,
            driver: Box::new(E7Driver {
                gap,
                unanswered: vec![0; addrs.len()],
                status_ok: vec![false; addrs.len()],
            }),
        });
    }
    let schedule = Schedule {
        cycles: args.poll.cycles(),
        interval: args.poll.interval.unwrap_or(Duration::from_secs(10)),
        gap,
        timeout: args.poll.timeout.unwrap_or(Duration::from_secs(1)),
        identify: args.info,
        emit_errors: args.poll.emit_errors,
    };
    let capture = args
        .poll
        .capture
        .as_deref()
        .map(Capture::open)
        .transpose()?;
    poll::run(ports, schedule, capture, &mut RecordWriter::stdout())
}
