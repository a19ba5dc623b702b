//! Option groups shared by the tools, flattened into each one so a flag means the same thing
//! everywhere. The registry of every tool's command is [`crate::tools::commands`], beside
//! the tools, so this module depends on none of them.

/// Every tool's --help: what it does, how to call it, the examples and notes (after_help),
/// then the options. A new user reads examples first.
pub const HELP_TEMPLATE: &str =
    "{about-with-newline}\n{usage-heading} {usage}{after-help}\n\n{all-args}";

use crate::time::parse_duration;
use clap::{ArgAction, Args};
use std::path::PathBuf;
use std::time::Duration;

/// `-v`, `-q`, `--trace`: every tool has them.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// More log output on stderr (-v info, -vv debug)
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output on stderr (-q errors only, -qq nothing)
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
    /// Log every frame sent and received as hex on stderr
    #[arg(long, global = true)]
    pub trace: bool,
}

impl Common {
    /// Installs the stderr logger according to these flags.
    pub fn init_logging(&self) {
        crate::log::init(self.verbose, self.quiet, self.trace);
    }
}

/// Serial line settings (8N1 always).
#[derive(Debug, Clone, Args)]
pub struct SerialOpts {
    /// Line speed in baud
    #[arg(long, short = 'b', value_name = "BAUD", default_value_t = 9600)]
    pub baud: u32,
}

/// `--map`: the LifePower4 register maps by name, as possible values (so that `--help` and
/// shell completion offer them).
pub fn lp4_map() -> impl clap::builder::TypedValueParser<Value = crate::proto::lp4::Map> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("v01-06")
            .alias("v01_06")
            .alias("v0106")
            .help("EG4-LL Modbus protocol V01.06, 39 registers"),
        PossibleValue::new("eg4-battery")
            .alias("eg4_battery")
            .help("eg4-battery's 47-register reading, for comparison"),
    ])
    .try_map(|s| crate::proto::lp4::Map::parse(&s))
}

/// Parses a duration flag value.
pub fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

/// A list of bus addresses, from `1,2,3` or `1-4` (hex as `0x40`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addresses(pub Vec<u8>);

/// Parses `1,2,3` or `1-4` lists of bus addresses.
pub fn addresses(s: &str) -> Result<Addresses, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let one = |t: &str| -> Result<u8, String> {
            let t = t.trim();
            let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                u8::from_str_radix(h, 16)
            } else {
                t.parse::<u8>()
            };
            v.map_err(|_| format!("invalid address '{t}': expected 0-255 or 0x00-0xFF"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (one(a)?, one(b)?);
                if a > b {
                    return Err(format!("invalid address range '{part}'"));
                }
                out.extend(a..=b);
            }
            None => out.push(one(part)?),
        }
    }
    if out.is_empty() {
        return Err("no address given".into());
    }
    Ok(Addresses(out))
}

/// Scheduling and output options of the bus-master tools (lp4-poll, eg4-7e-query).
#[derive(Debug, Clone, Args)]
pub struct PollOpts {
    /// Bus addresses of the packs on each port: 1,2,3 or 1-4 [default: 1; bms-poll: the
    /// protocol's]
    #[arg(long, short = 'a', value_name = "ADDR[,ADDR...]", value_parser = addresses)]
    pub address: Option<Addresses>,
    /// Poll every pack once, then exit (0 = all answered, 1 = some did not)
    #[arg(long, conflicts_with = "count")]
    pub once: bool,
    /// Poll N cycles, then exit
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,
    /// Time from the start of one cycle to the start of the next [default: 10s]
    #[arg(long, short = 'i', value_name = "DUR", value_parser = duration)]
    pub interval: Option<Duration>,
    /// How long to wait for a reply [default: 1s]
    #[arg(long, short = 't', value_name = "DUR", value_parser = duration)]
    pub timeout: Option<Duration>,
    /// Pause between two requests on the same bus
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub gap: Option<Duration>,
    /// Device id of a pack (repeatable): ADDR=NAME, or NAME alone for each port/address pair
    /// in order
    #[arg(long, value_name = "[ADDR=]NAME")]
    pub name: Vec<String>,
    /// Write a status record for each pack that did not answer
    #[arg(long)]
    pub emit_errors: bool,
    /// Append every byte sent and received to FILE (decode it later with rtu-sniff)
    #[arg(long, value_name = "FILE")]
    pub capture: Option<PathBuf>,
}

impl PollOpts {
    /// The --name of each port/address pair, in port order then address order. Names are
    /// given either all as ADDR=NAME (as rtu-sniff takes them; one port only, so that the
    /// address says which pack) or all plain, in pair order.
    pub fn names(&self, ports: usize, addrs: &[u8]) -> Result<Vec<Option<String>>, String> {
        let pairs = ports * addrs.len();
        let mut out = vec![None; pairs];
        let keyed = self.name.iter().filter(|n| n.contains('=')).count();
        if keyed > 0 && keyed < self.name.len() {
            return Err("--name: give every name as ADDR=NAME, or none of them".into());
        }
        for n in &self.name {
            let name = n.split_once('=').map_or(n.as_str(), |(_, name)| name);
            if !crate::record::is_device_id(name) {
                return Err(format!(
                    "invalid --name '{n}': use lower-case letters, digits, '_' and '-' (e.g. rack-1)"
                ));
            }
        }
        if keyed == 0 {
            if self.name.len() > pairs {
                return Err(format!(
                    "{} --name values for {pairs} port/address pair(s)",
                    self.name.len()
                ));
            }
            for (slot, n) in out.iter_mut().zip(&self.name) {
                *slot = Some(n.clone());
            }
            return Ok(out);
        }
        if ports > 1 {
            return Err(
                "--name ADDR=NAME with several ports: name the packs in port/address order \
                 (--name NAME ...) or in a --config file"
                    .into(),
            );
        }
        for n in &self.name {
            let (addr, name) = n.split_once('=').unwrap_or_default();
            let a = addresses(addr)
                .ok()
                .filter(|a| a.0.len() == 1)
                .map(|a| a.0[0])
                .ok_or_else(|| format!("--name {n}: '{addr}' is not one bus address"))?;
            let i = addrs
                .iter()
                .position(|&x| x == a)
                .ok_or_else(|| format!("--name {n}: address {a} is not polled (--address)"))?;
            if out[i].replace(name.to_string()).is_some() {
                return Err(format!("--name: address {a} named twice"));
            }
        }
        Ok(out)
    }

    /// The addresses given, or `default` alone.
    pub fn addresses(&self, default: u8) -> Vec<u8> {
        self.address
            .as_ref()
            .map_or_else(|| vec![default], |a| a.0.clone())
    }

    /// Cycles to run: Some(1) for --once, Some(n) for --count, None for ever.
    pub fn cycles(&self) -> Option<u64> {
        if self.once {
            Some(1)
        } else {
            self.count
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_lists() {
        assert_eq!(addresses("1").unwrap().0, vec![1]);
        assert_eq!(addresses("1,2, 3").unwrap().0, vec![1, 2, 3]);
        assert_eq!(addresses("1-4").unwrap().0, vec![1, 2, 3, 4]);
        assert_eq!(addresses("0x40,16").unwrap().0, vec![0x40, 16]);
        assert!(addresses("300").is_err());
        assert!(addresses("4-1").is_err());
        assert!(addresses("").is_err());
    }

    fn poll(addrs: &str, names: &[&str]) -> PollOpts {
        PollOpts {
            address: Some(addresses(addrs).unwrap()),
            once: false,
            count: None,
            interval: None,
            timeout: None,
            gap: None,
            name: names.iter().map(|n| n.to_string()).collect(),
            emit_errors: false,
            capture: None,
        }
    }

    #[test]
    fn names_in_order_or_by_address() {
        let some = |v: &[Option<&str>]| -> Vec<Option<String>> {
            v.iter().map(|n| n.map(String::from)).collect()
        };
        assert_eq!(
            poll("1,2,3", &["top", "mid"]).names(1, &addresses("1,2,3").unwrap().0),
            Ok(some(&[Some("top"), Some("mid"), None]))
        );
        assert_eq!(
            poll("1,2", &["a", "b", "c"]).names(2, &addresses("1,2").unwrap().0),
            Ok(some(&[Some("a"), Some("b"), Some("c"), None]))
        );
        assert_eq!(
            poll("1,2,3", &["3=bottom", "1=top"]).names(1, &addresses("1,2,3").unwrap().0),
            Ok(some(&[Some("top"), None, Some("bottom")]))
        );
        let err = |p: PollOpts, ports| p.names(ports, &p.addresses(1)).unwrap_err();
        assert!(err(poll("1", &["a", "b"]), 1).contains("2 --name values for 1"));
        assert!(err(poll("1,2", &["1=a", "b"]), 1).contains("every name as ADDR=NAME"));
        assert!(err(poll("1,2", &["1=a"]), 2).contains("several ports"));
        assert!(err(poll("1,2", &["5=a"]), 1).contains("address 5 is not polled"));
        assert!(err(poll("1,2", &["1=a", "0x01=b"]), 1).contains("named twice"));
        assert!(err(poll("1", &["1=Rack"]), 1).contains("invalid --name '1=Rack'"));
        assert!(err(poll("1", &["x=a"]), 1).contains("'x' is not one bus address"));
    }
}
