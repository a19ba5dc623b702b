//! InfluxDB line protocol for readings. Pure: a reading's JSON in, one line out.
//!
//! ```text
//! bmstap,device=rack-1,model=LP4,source=lp4 pack_voltage=53.66,soc=97,cell_01_voltage=3.354,state="charging",warning_cell_ov=false 1666742400000
//! └ measurement └ tags, sorted by key          └ fields: numbers, booleans, strings; arrays flattened      └ ts (ms by default)
//! ```
//!
//! - Tags: `device`, `model` (from `info.model`) and `source`; an empty or missing one is left
//!   out (line protocol has no empty tag values).
//! - Fields: every number (always written as a float, so a value that is `100` in one reading
//!   and `100.5` in the next never meets InfluxDB's "field type conflict"), boolean and
//!   string; arrays of numbers are flattened with the names readings-to-mqtt uses
//!   ([`crate::ha::item_name`]: `cell_01_voltage`, `temperature_01`, `<name>_01`). Nested
//!   objects and a field called `time` (InfluxDB refuses it) are left out.
//! - Escaping (the line-protocol rules): measurement `,` and space; tag keys, tag values and
//!   field keys `,`, `=` and space; string field values `"` and `\`. A newline or carriage
//!   return cannot appear in a name or tag (it ends the line) and becomes a space. A backslash
//!   is written as `\\` only where it would otherwise escape the next character (at the end
//!   or before `\`, `,`, `=` or space): InfluxDB 2.x and 3.x read that back exactly; 1.x keeps
//!   both backslashes there (its parser does not unescape `\\` in names and tags), and reads
//!   every other backslash exactly.

use crate::ha::item_name;
use serde_json::{Map, Value};
use std::io::Write;

/// Timestamp precision of the lines (the `precision` parameter of the write APIs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    /// seconds
    S,
    /// milliseconds
    Ms,
    /// microseconds
    Us,
    /// nanoseconds
    Ns,
}

impl Precision {
    /// The name the write APIs take (`precision=ms`).
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::S => "s",
            Precision::Ms => "ms",
            Precision::Us => "us",
            Precision::Ns => "ns",
        }
    }

    /// A timestamp in ms, in this precision (seconds round down).
    pub fn from_ms(self, ms: i64) -> i64 {
        match self {
            Precision::S => ms.div_euclid(1000),
            Precision::Ms => ms,
            Precision::Us => ms.saturating_mul(1000),
            Precision::Ns => ms.saturating_mul(1_000_000),
        }
    }
}

/// Why a reading could not be written as a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The record has no `device` string.
    #[error("no \"device\"")]
    NoDevice,
    /// The record has no `fields` object.
    #[error("reading without \"fields\" object")]
    NoFields,
    /// `ts` is missing or not RFC 3339.
    #[error("\"ts\" missing or not an RFC 3339 time")]
    BadTs,
}

/// Writes readings as lines; holds the escaped measurement and the precision.
#[derive(Debug, Clone)]
pub struct Encoder {
    measurement: Vec<u8>,
    precision: Precision,
}

impl Encoder {
    /// An encoder for `measurement` (not empty, not starting with `#`, which would make
    /// the line a comment).
    pub fn new(measurement: &str, precision: Precision) -> Result<Encoder, String> {
        if measurement.is_empty() || measurement.starts_with('#') {
            return Err(format!(
                "measurement '{measurement}' must not be empty or start with '#'"
            ));
        }
        let mut m = Vec::new();
        escape(&mut m, measurement, b", ");
        Ok(Encoder {
            measurement: m,
            precision,
        })
    }

    /// Appends the line of one reading (a `"type":"reading"` object) with its `\n`.
    /// `Ok(false)` (nothing appended) when the reading has no field line protocol can carry.
    pub fn reading(&self, v: &Value, out: &mut Vec<u8>) -> Result<bool, LineError> {
        let device = v
            .get("device")
            .and_then(Value::as_str)
            .ok_or(LineError::NoDevice)?;
        let fields = v
            .get("fields")
            .and_then(Value::as_object)
            .ok_or(LineError::NoFields)?;
        let ts = v
            .get("ts")
            .and_then(Value::as_str)
            .and_then(super::parse_ts_ms)
            .ok_or(LineError::BadTs)?;
        let source = v.get("source").and_then(Value::as_str).unwrap_or("");
        let model = v
            .get("info")
            .and_then(|i| i.get("model"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let start = out.len();
        out.extend_from_slice(&self.measurement);
        for (k, val) in [("device", device), ("model", model), ("source", source)] {
            if !val.is_empty() {
                out.push(b',');
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                escape(out, val, b",= ");
            }
        }
        out.push(b' ');
        if !write_fields(fields, out) {
            out.truncate(start);
            return Ok(false);
        }
        out.push(b' ');
        let _ = write!(out, "{}", self.precision.from_ms(ts));
        out.push(b'\n');
        Ok(true)
    }
}

/// Writes `k=v` pairs separated by commas; false if none was written.
fn write_fields(fields: &Map<String, Value>, out: &mut Vec<u8>) -> bool {
    let mut n = 0usize;
    let mut key = |out: &mut Vec<u8>, k: &str| {
        if n > 0 {
            out.push(b',');
        }
        n += 1;
        escape(out, k, b",= ");
        out.push(b'=');
    };
    for (k, v) in fields {
        if k.is_empty() || k == "time" {
            continue;
        }
        match v {
            Value::Number(x) => {
                if let Some(f) = x.as_f64().filter(|f| f.is_finite()) {
                    key(out, k);
                    float(out, f);
                }
            }
            Value::Bool(b) => {
                key(out, k);
                out.extend_from_slice(if *b { b"true" } else { b"false" });
            }
            Value::String(s) => {
                key(out, k);
                out.push(b'"');
                for c in s.bytes() {
                    if c == b'"' || c == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
                out.push(b'"');
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(f) = item.as_f64().filter(|f| f.is_finite()) {
                        key(out, &item_name(k, i));
                        float(out, f);
                    }
                }
            }
            Value::Null | Value::Object(_) => {}
        }
    }
    n > 0
}

fn float(out: &mut Vec<u8>, f: f64) {
    let mut b = ryu::Buffer::new();
    let s = b.format_finite(f);
    // ryu writes 97.0 as "97.0": line protocol reads both as a float; drop the ".0".
    out.extend_from_slice(s.strip_suffix(".0").unwrap_or(s).as_bytes());
}

/// Appends `s` with the characters in `special` backslash-escaped (see the module doc for
/// backslashes, newlines and carriage returns).
fn escape(out: &mut Vec<u8>, s: &str, special: &[u8]) {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\n' | b'\r' => out.extend_from_slice(b"\\ "),
            b'\\' => {
                let next = b.get(i + 1).copied();
                if next.is_none_or(|n| n == b'\\' || n == b'\n' || special.contains(&n)) {
                    out.push(b'\\');
                }
                out.push(b'\\');
            }
            c if special.contains(&c) => {
                out.push(b'\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(v: &Value) -> String {
        let e = Encoder::new("bmstap", Precision::Ms).unwrap();
        let mut out = Vec::new();
        assert!(e.reading(v, &mut out).unwrap());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lp4_golden_reading() {
        let text = include_str!("../../testdata/lp4/wombatt-status.ndjson");
        let v: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let got = line(&v);
        // Fields in key order (serde_json's map), arrays flattened in place.
        assert_eq!(got, include_str!("../../testdata/lp4/wombatt-status.lp"));
        assert_eq!(got.matches('\n').count(), 1);
    }

    #[test]
    fn model_tag_and_precision() {
        let v = json!({"type":"reading","ts":"2024-05-17T23:05:39.069Z","source":"eflex",
            "device":"x","fields":{"soc":69},"info":{"model":"eFlex 5.4"}});
        assert_eq!(
            line(&v),
            "bmstap,device=x,model=eFlex\\ 5.4,source=eflex soc=69 1715987139069\n"
        );
        let mut out = Vec::new();
        Encoder::new("m", Precision::S)
            .unwrap()
            .reading(&v, &mut out)
            .unwrap();
        assert_eq!(
            out,
            b"m,device=x,model=eFlex\\ 5.4,source=eflex soc=69 1715987139\n"
        );
        out.clear();
        Encoder::new("m", Precision::Ns)
            .unwrap()
            .reading(&v, &mut out)
            .unwrap();
        assert!(out.ends_with(b" 1715987139069000000\n"));
    }

    #[test]
    fn hostile_names_are_escaped() {
        let v = json!({"ts":"1970-01-01T00:00:01.000Z","source":"a b,c=d","device":"x=y, z\"q",
            "fields":{"we ird,k=ey":1.5,"s":"say \"hi\" \\ back\\","time":3,"o":{"x":1},
                      "n":null,"arr":[1,"x",2]}});
        assert_eq!(
            line(&v),
            "bmstap,device=x\\=y\\,\\ z\"q,source=a\\ b\\,c\\=d arr_01=1,arr_03=2,s=\"say \\\"hi\\\" \\\\ back\\\\\",we\\ ird\\,k\\=ey=1.5 1000\n"
        );
        let e = Encoder::new("my meas,x", Precision::Ms).unwrap();
        let mut out = Vec::new();
        e.reading(
            &json!({"ts":"1970-01-01T00:00:00Z","device":"d\nnl\\","fields":{"a":1}}),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "my\\ meas\\,x,device=d\\ nl\\\\ a=1 0\n"
        );
        assert!(Encoder::new("", Precision::Ms).is_err());
        assert!(Encoder::new("#m", Precision::Ms).is_err());
    }

    #[test]
    fn backslashes() {
        let mut out = Vec::new();
        escape(&mut out, "a\\b", b",= ");
        assert_eq!(out, b"a\\b");
        out.clear();
        escape(&mut out, "a\\,b\\", b",= ");
        assert_eq!(out, b"a\\\\\\,b\\\\");
        out.clear();
        escape(&mut out, "\\\\", b",= ");
        assert_eq!(out, b"\\\\\\\\");
    }

    #[test]
    fn readings_without_what_a_line_needs() {
        let e = Encoder::new("m", Precision::Ms).unwrap();
        let mut out = Vec::new();
        let r = |v: Value, out: &mut Vec<u8>| e.reading(&v, out);
        assert_eq!(
            r(json!({"ts":"1970-01-01T00:00:00Z","fields":{}}), &mut out),
            Err(LineError::NoDevice)
        );
        assert_eq!(
            r(json!({"ts":"1970-01-01T00:00:00Z","device":"d"}), &mut out),
            Err(LineError::NoFields)
        );
        assert_eq!(
            r(json!({"ts":"yesterday","device":"d","fields":{}}), &mut out),
            Err(LineError::BadTs)
        );
        assert_eq!(
            r(
                json!({"ts":"1970-01-01T00:00:00Z","device":"d","fields":{"o":{},"time":1}}),
                &mut out
            ),
            Ok(false)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn floats_are_short_and_exact() {
        let mut out = Vec::new();
        for f in [0.1, 53.66, -3.21, 1e21, 1e-7, 100.0, -0.0] {
            out.clear();
            float(&mut out, f);
            let s = std::str::from_utf8(&out).unwrap();
            assert_eq!(s.parse::<f64>().unwrap(), f, "{s}");
        }
    }
}
