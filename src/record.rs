//! The records of the readings contract (docs/readings.md): every NDJSON line is one of
//! these, tagged by `type`.
//!
//! ```text
//! {"type":"reading","ts":"2026-11-21T14:03:07.512Z","source":"lp4","device":"rack-1",
//!  "fields":{"pack_voltage":53.66,"pack_current":1.2,...},"info":{...},"raw":{...}}
//! {"type":"status","ts":"...","source":"lp4","device":"ttyusb0-2","error":"timeout after 1000 ms"}
//! ```
//!
//! `fields` keeps insertion order so a reading reads top-down like the register map.

use crate::time::Timestamp;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use std::borrow::Cow;

/// One NDJSON line.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record {
    Reading(Reading),
    Frame(FrameRecord),
    Status(StatusRecord),
    Detected(DetectedRecord),
}

/// What a decoder knows about one device at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    pub ts: Timestamp,
    pub source: &'static str,
    pub device: String,
    pub fields: Fields,
    #[serde(skip_serializing_if = "Info::is_empty")]
    pub info: Info,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub raw: serde_json::Map<String, serde_json::Value>,
}

/// What a device says about itself (Home Assistant's device registry uses it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Info {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

impl Info {
    pub fn is_empty(&self) -> bool {
        self == &Info::default()
    }
}

/// A device that did not answer (written only when a tool is asked to), or, with `stats`
/// instead of `error`, a tool's counters (rtu-sniff), which say nothing about availability.
#[derive(Debug, Clone, Serialize)]
pub struct StatusRecord {
    pub ts: Timestamp,
    pub source: &'static str,
    pub device: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A device found by a detection run (`bms-poll --detect`): where it is and how to talk to it.
#[derive(Debug, Clone, Serialize)]
pub struct DetectedRecord {
    pub ts: Timestamp,
    pub port: String,
    /// The `--protocol` that reads it (the readings' `source`).
    pub protocol: &'static str,
    /// Line speed; absent for a network gateway (its serial side is set in the gateway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baud: Option<u32>,
    pub address: u8,
    /// The device id its readings will carry.
    pub device: String,
    #[serde(skip_serializing_if = "Info::is_empty")]
    pub info: Info,
}

/// A bus frame seen by a sniffer.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    pub kind: &'static str,
    pub address: u8,
    pub function: u8,
    pub hex: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registers: Option<Vec<u16>>,
}

/// A measured value. Numbers, booleans, strings or arrays of numbers, nothing deeper.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Floats(Vec<f64>),
    Ints(Vec<i64>),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Int(v) => s.serialize_i64(*v),
            Value::Float(v) => s.serialize_f64(*v),
            Value::Bool(v) => s.serialize_bool(*v),
            Value::Text(v) => s.serialize_str(v),
            Value::Floats(v) => v.serialize(s),
            Value::Ints(v) => v.serialize(s),
        }
    }
}

/// The decoded measurements of a reading, in decode order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<(Cow<'static, str>, Value)>);

impl Fields {
    pub fn new() -> Self {
        Fields(Vec::new())
    }

    /// Adds a field. Decoders set each name once (checked in debug builds); the list is
    /// not searched on the hot path.
    pub fn set(&mut self, name: impl Into<Cow<'static, str>>, value: Value) {
        let name = name.into();
        debug_assert!(self.get(&name).is_none(), "field {name} set twice");
        debug_assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "field name {name} must be [a-z0-9_]"
        );
        self.0.push((name, value));
    }

    pub fn int(&mut self, name: &'static str, v: impl Into<i64>) {
        self.set(name, Value::Int(v.into()));
    }

    pub fn float(&mut self, name: &'static str, v: f64) {
        self.set(name, Value::Float(v));
    }

    pub fn bool(&mut self, name: &'static str, v: bool) {
        self.set(name, Value::Bool(v));
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v))
    }

    /// Adds the cell statistics every source derives the same way from `cell_voltages`
    /// (volts): min, max, delta in mV, and the 1-based index of the lowest and highest cell
    /// (the first one where several are equal).
    pub fn add_cell_stats(&mut self, cells_v: &[f64]) {
        if cells_v.is_empty() {
            return;
        }
        let (mut lo, mut hi) = (0usize, 0usize);
        for (i, &v) in cells_v.iter().enumerate() {
            if v < cells_v[lo] {
                lo = i;
            }
            if v > cells_v[hi] {
                hi = i;
            }
        }
        let (min, max) = (cells_v[lo], cells_v[hi]);
        self.float("cell_voltage_min", min);
        self.float("cell_voltage_max", max);
        self.int(
            "cell_voltage_delta_mv",
            ((max - min) * 1000.0).round() as i64,
        );
        self.int("cell_lowest", lo as i64 + 1);
        self.int("cell_highest", hi as i64 + 1);
    }
}

/// The cell statistics every source derives the same way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellStats {
    pub min: f64,
    pub max: f64,
    /// max − min in mV, rounded.
    pub delta_mv: i64,
    /// 1-based index of the (first) lowest cell.
    pub lowest: i64,
    /// 1-based index of the (first) highest cell.
    pub highest: i64,
}

impl CellStats {
    pub fn of(cells_v: &[f64]) -> Option<CellStats> {
        let first = *cells_v.first()?;
        let (mut lo, mut hi) = (0usize, 0usize);
        let (mut min, mut max) = (first, first);
        for (i, &v) in cells_v.iter().enumerate() {
            if v < min {
                (lo, min) = (i, v);
            }
            if v > max {
                (hi, max) = (i, v);
            }
        }
        Some(CellStats {
            min,
            max,
            delta_mv: ((max - min) * 1000.0).round() as i64,
            lowest: lo as i64 + 1,
            highest: hi as i64 + 1,
        })
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_ref(), v)?;
        }
        map.end()
    }
}

impl Record {
    /// Appends the record as one line of JSON (without the newline) to `out`.
    ///
    /// Readings are written directly: field names are validated `[a-z0-9_]` names needing
    /// no escaping, numbers go through serde_json's own formatters, and the result is byte
    /// for byte what the serde derive gives (the golden tests compare both), at a third of
    /// the cost. Decoders write hundreds of thousands of readings per second.
    pub fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let Record::Reading(r) = self else {
            return serde_json::to_writer(out, self);
        };
        out.extend_from_slice(b"{\"type\":\"reading\",\"ts\":\"");
        out.extend_from_slice(&r.ts.rfc3339());
        out.extend_from_slice(b"\",\"source\":");
        json_str(out, r.source)?;
        out.extend_from_slice(b",\"device\":");
        json_str(out, &r.device)?;
        out.extend_from_slice(b",\"fields\":{");
        for (i, (k, v)) in r.fields.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Names are [a-z0-9_] (checked in `set`): no escaping needed.
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            match v {
                Value::Int(n) => serde_json::to_writer(&mut *out, n)?,
                Value::Float(x) => serde_json::to_writer(&mut *out, x)?,
                Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
                Value::Text(t) => json_str(out, t)?,
                Value::Floats(xs) => {
                    out.push(b'[');
                    for (j, x) in xs.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        serde_json::to_writer(&mut *out, x)?;
                    }
                    out.push(b']');
                }
                Value::Ints(ns) => {
                    out.push(b'[');
                    for (j, n) in ns.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        serde_json::to_writer(&mut *out, n)?;
                    }
                    out.push(b']');
                }
            }
        }
        out.push(b'}');
        if !r.info.is_empty() {
            out.extend_from_slice(b",\"info\":{");
            let i = &r.info;
            let mut first = true;
            for (k, v) in [
                ("manufacturer", &i.manufacturer),
                ("model", &i.model),
                ("firmware", &i.firmware),
                ("hardware", &i.hardware),
                ("serial", &i.serial),
            ] {
                if let Some(v) = v {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.push(b'"');
                    out.extend_from_slice(k.as_bytes());
                    out.extend_from_slice(b"\":");
                    json_str(out, v)?;
                }
            }
            out.push(b'}');
        }
        if !r.raw.is_empty() {
            out.extend_from_slice(b",\"raw\":{");
            for (n, (k, v)) in r.raw.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                json_str(out, k)?;
                out.push(b':');
                match v {
                    serde_json::Value::String(s) => json_str(out, s)?,
                    other => serde_json::to_writer(&mut *out, other)?,
                }
            }
            out.push(b'}');
        }
        out.push(b'}');
        Ok(())
    }
}

/// A JSON string; plain printable ASCII is copied as is, anything else goes through
/// serde_json's escaping.
pub fn json_str(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, s)
    }
}

/// Turns any name (a serial number, a port and address) into a device id that is safe in
/// MQTT topics and Home Assistant unique_ids: `[a-z0-9_-]+`. Other characters become `-`,
/// runs of `-` collapse, and an empty result becomes `device`.
pub fn device_id(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "device".to_string()
    } else {
        trimmed.to_string()
    }
}

/// The longest device id the consumers take (readings-to-mqtt, readings-bank): ids are names,
/// serial numbers and port labels; anything longer is not a device.
pub const MAX_DEVICE_ID: usize = 64;

/// Is `name` already a valid device id?
pub fn is_device_id(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_serialises_in_contract_order() {
        let mut fields = Fields::new();
        fields.float("pack_voltage", 5366.0 / 100.0);
        fields.float("pack_current", 120.0 / 100.0);
        fields.int("soc", 97);
        fields.bool("warning_cell_ov", false);
        fields.set("cell_voltages", Value::Floats(vec![3.354, 3.353]));
        let mut raw = serde_json::Map::new();
        raw.insert("start".into(), 0.into());
        let r = Record::Reading(Reading {
            ts: Timestamp { unix_ms: 1_000 },
            source: "lp4",
            device: "ttyusb0-2".into(),
            fields,
            info: Info::default(),
            raw,
        });
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"type":"reading","ts":"1970-01-01T00:00:01.000Z","source":"lp4","device":"ttyusb0-2","fields":{"pack_voltage":53.66,"pack_current":1.2,"soc":97,"warning_cell_ov":false,"cell_voltages":[3.354,3.353]},"raw":{"start":0}}"#
        );
    }

    #[test]
    fn direct_json_matches_serde() {
        let mut fields = Fields::new();
        fields.float("pack_voltage", 53.66);
        fields.set(
            "cell_voltages",
            Value::Floats(vec![3.354, 3.353, 1e-7, 100.0]),
        );
        fields.set("temperatures", Value::Ints(vec![-5, 0, 24]));
        fields.set("state", Value::Text("dis\"charging\u{1}é".into()));
        fields.bool("warning_cell_ov", true);
        fields.int("cycle_count", -1);
        let mut raw = serde_json::Map::new();
        raw.insert("registers".into(), vec![1u16, 2].into());
        for info in [
            Info::default(),
            Info {
                serial: Some("2205075E0604".into()),
                model: Some("a\"b".into()),
                ..Info::default()
            },
        ] {
            let r = Record::Reading(Reading {
                ts: Timestamp {
                    unix_ms: 1_715_987_139_069,
                },
                source: "eflex",
                device: "2205075e0604".into(),
                fields: fields.clone(),
                info,
                raw: raw.clone(),
            });
            let mut direct = Vec::new();
            r.write_json(&mut direct).unwrap();
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                serde_json::to_string(&r).unwrap()
            );
        }
    }

    #[test]
    fn status_record() {
        let r = Record::Status(StatusRecord {
            ts: Timestamp { unix_ms: 0 },
            source: "lp4",
            device: "x".into(),
            error: Some("timeout after 1000 ms".into()),
            stats: None,
        });
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"type":"status","ts":"1970-01-01T00:00:00.000Z","source":"lp4","device":"x","error":"timeout after 1000 ms"}"#
        );
    }

    #[test]
    fn cell_stats_are_derived_the_same_way() {
        let mut f = Fields::new();
        f.add_cell_stats(&[3.354, 3.353, 3.355, 3.353]);
        assert_eq!(f.get("cell_voltage_min"), Some(&Value::Float(3.353)));
        assert_eq!(f.get("cell_voltage_max"), Some(&Value::Float(3.355)));
        assert_eq!(f.get("cell_voltage_delta_mv"), Some(&Value::Int(2)));
        assert_eq!(f.get("cell_lowest"), Some(&Value::Int(2)));
        assert_eq!(f.get("cell_highest"), Some(&Value::Int(3)));
        let mut empty = Fields::new();
        empty.add_cell_stats(&[]);
        assert!(empty.is_empty());
    }

    #[test]
    fn device_ids_are_topic_safe() {
        assert_eq!(device_id("ttyUSB0-1"), "ttyusb0-1");
        assert_eq!(device_id("2022-10-26"), "2022-10-26");
        assert_eq!(device_id("a/b+c#d e"), "a-b-c-d-e");
        assert_eq!(device_id("///"), "device");
        assert_eq!(device_id("Rack Top_1"), "rack-top_1");
        assert!(is_device_id("rack-top_1"));
        assert!(!is_device_id("Rack"));
        assert!(!is_device_id(""));
    }
}
