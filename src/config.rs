//! Pack lists from a file (`--config FILE`), for setups too large for the command line.
//!
//! bmstap's own format is TOML:
//!
//! ```toml
//! interval = "10s"          # optional: defaults for the flags of the same name
//! timeout = "1s"
//! gap = "200ms"
//!
//! [[pack]]
//! name = "rack-top"         # device id, [a-z0-9_-]
//! port = "/dev/serial/by-id/usb-FTDI_FT232R-if00-port0"  # or tcp://HOST:PORT, modbus-tcp://HOST:PORT
//! address = 1               # default 1 (bms-poll: the protocol's default)
//! protocol = "daly"         # bms-poll only: this pack's protocol (or `protocol = ...` at the top)
//! baud = 9600               # default 9600
//! map = "v01-06"            # or "eg4-battery"
//! ```
//!
//! eg4-battery's YAML is read as well (`*.yaml`/`*.yml`): its `packs:` list (name, port,
//! address, baud) and its `bus:` section, whose `port`/`baud` are the defaults for packs
//! that do not give their own and whose `interval`/`timeout` (seconds) set the schedule.
//! Its other sections (`mqtt:` and the like) belong to readings-to-mqtt and are ignored.

use crate::exit::usage;
use crate::proto::lp4::Map;
use crate::time::parse_duration;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// One pack to poll.
#[derive(Debug, Clone, PartialEq)]
pub struct PackConfig {
    pub name: Option<String>,
    pub port: String,
    /// None: the protocol's default (1 for LP4).
    pub address: Option<u8>,
    /// bms-poll: the pack's protocol (`--protocol` of the file or the command line otherwise).
    pub protocol: Option<String>,
    pub baud: Option<u32>,
    pub map: Option<Map>,
}

/// What a config file says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub packs: Vec<PackConfig>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub gap: Option<Duration>,
    /// bms-poll: the protocol of every pack that does not name its own.
    pub protocol: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    protocol: Option<String>,
    interval: Option<String>,
    timeout: Option<String>,
    gap: Option<String>,
    #[serde(default)]
    pack: Vec<TomlPack>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlPack {
    protocol: Option<String>,
    name: Option<String>,
    port: String,
    address: Option<u8>,
    baud: Option<u32>,
    map: Option<String>,
}

/// A number of seconds or a duration string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Secs {
    Num(f64),
    Text(String),
}

impl Secs {
    fn duration(&self) -> Result<Duration, String> {
        match self {
            Secs::Num(n) if n.is_finite() && *n >= 0.0 => Ok(Duration::from_secs_f64(*n)),
            Secs::Num(n) => Err(format!("invalid duration {n}")),
            Secs::Text(t) => parse_duration(t),
        }
    }
}

#[derive(Deserialize)]
struct YamlFile {
    #[serde(default)]
    bus: Option<YamlBus>,
    #[serde(default)]
    packs: Vec<YamlPack>,
}

#[derive(Deserialize)]
struct YamlBus {
    port: Option<String>,
    #[serde(alias = "baudrate")]
    baud: Option<u32>,
    #[serde(alias = "poll_interval")]
    interval: Option<Secs>,
    timeout: Option<Secs>,
    map: Option<String>,
}

#[derive(Deserialize)]
struct YamlPack {
    name: Option<String>,
    port: Option<String>,
    #[serde(alias = "slave_id", alias = "unit")]
    address: Option<u8>,
    #[serde(alias = "baudrate")]
    baud: Option<u32>,
    map: Option<String>,
}

fn map_of(s: Option<String>) -> Result<Option<Map>, String> {
    s.map(|m| Map::parse(&m)).transpose()
}

fn dur(s: Option<String>) -> Result<Option<Duration>, String> {
    s.map(|d| parse_duration(&d)).transpose()
}

/// Parses bmstap's TOML format.
pub fn parse_toml(text: &str) -> Result<Config, String> {
    let file: TomlFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let packs = file
        .pack
        .into_iter()
        .map(|p| {
            Ok(PackConfig {
                name: p.name,
                port: p.port,
                address: p.address,
                protocol: p.protocol,
                baud: p.baud,
                map: map_of(p.map)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Config {
        packs,
        interval: dur(file.interval)?,
        timeout: dur(file.timeout)?,
        gap: dur(file.gap)?,
        protocol: file.protocol,
    })
}

/// Parses eg4-battery's YAML format.
pub fn parse_yaml(text: &str) -> Result<Config, String> {
    let file: YamlFile = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let bus = file.bus;
    let bus_port = bus.as_ref().and_then(|b| b.port.clone());
    let bus_baud = bus.as_ref().and_then(|b| b.baud);
    let bus_map = map_of(bus.as_ref().and_then(|b| b.map.clone()))?;
    let mut packs = Vec::new();
    for (i, p) in file.packs.into_iter().enumerate() {
        let port = p.port.or_else(|| bus_port.clone()).ok_or_else(|| {
            format!("packs[{i}]: no port (give one, or a port in the bus: section)")
        })?;
        packs.push(PackConfig {
            name: p.name,
            port,
            address: p.address,
            protocol: None,
            baud: p.baud.or(bus_baud),
            map: map_of(p.map)?.or(bus_map),
        });
    }
    let interval = bus
        .as_ref()
        .and_then(|b| b.interval.as_ref())
        .map(Secs::duration)
        .transpose()?;
    let timeout = bus
        .as_ref()
        .and_then(|b| b.timeout.as_ref())
        .map(Secs::duration)
        .transpose()?;
    Ok(Config {
        packs,
        interval,
        timeout,
        gap: None,
        protocol: None,
    })
}

/// Reads a config file; the format follows the extension (`.yaml`/`.yml` = eg4-battery).
/// Every failure is a configuration error (exit 2).
pub fn load(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read config {}: {e}", path.display())))?;
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    let parsed = if yaml {
        parse_yaml(&text)
    } else {
        parse_toml(&text)
    };
    let config = parsed.map_err(|e| usage(format!("config {}: {e}", path.display())))?;
    if config.packs.is_empty() {
        return Err(usage(format!("config {}: no packs listed", path.display())));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_format() {
        let c = parse_toml(
            r#"
interval = "5s"
[[pack]]
name = "top"
port = "/dev/ttyUSB0"
address = 2
map = "eg4-battery"
[[pack]]
port = "/dev/ttyUSB1"
baud = 19200
"#,
        )
        .unwrap();
        assert_eq!(c.interval, Some(Duration::from_secs(5)));
        assert_eq!(c.packs.len(), 2);
        assert_eq!(c.packs[0].name.as_deref(), Some("top"));
        assert_eq!(c.packs[0].map, Some(Map::Eg4Battery));
        assert_eq!(c.packs[1].address, None);
        assert_eq!(c.packs[1].baud, Some(19200));
        let err = parse_toml("[[pack]]\nport='x'\nadress=1\n").unwrap_err();
        assert!(err.contains("adress"), "{err}");
        assert!(parse_toml("[[pack]]\nport='x'\nmap='nope'\n").is_err());
    }

    #[test]
    fn eg4_battery_yaml() {
        let c = parse_yaml(
            r#"
mqtt:
  host: broker.local
  port: 1883
bus:
  mode: modbus
  port: /dev/ttyUSB0
  baud: 9600
  interval: 10
  timeout: 1.5
packs:
  - name: battery1
    address: 1
  - name: battery2
    port: /dev/ttyUSB1
    address: 2
    baud: 19200
"#,
        )
        .unwrap();
        assert_eq!(c.interval, Some(Duration::from_secs(10)));
        assert_eq!(c.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(
            c.packs[0],
            PackConfig {
                name: Some("battery1".into()),
                port: "/dev/ttyUSB0".into(),
                address: Some(1),
                protocol: None,
                baud: Some(9600),
                map: None
            }
        );
        assert_eq!(c.packs[1].port, "/dev/ttyUSB1");
        assert_eq!(c.packs[1].baud, Some(19200));
        assert!(parse_yaml("packs:\n  - name: x\n")
            .unwrap_err()
            .contains("no port"));
    }
}
