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
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

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

    /// Turns one NDJSON line into line protocol, streaming: the fields are written as they
    /// are parsed, `raw` and other keys are skipped without building anything (the hot
    /// path of readings-to-influx: no `serde_json::Value`, no map). `scratch` is reused
    /// between calls. Appends the line with its `\n` on [`Record::Line`].
    pub fn record(
        &self,
        text: &[u8],
        out: &mut Vec<u8>,
        scratch: &mut Vec<u8>,
    ) -> Result<Record, RecordError> {
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(Record::Other);
        }
        scratch.clear();
        let mut de = serde_json::Deserializer::from_slice(text);
        let head = TopSeed { fields: scratch }
            .deserialize(&mut de)
            .and_then(|h| de.end().map(|_| h))
            .map_err(|e| {
                if e.is_data() && e.to_string().starts_with("invalid type") {
                    RecordError::NotObject
                } else {
                    RecordError::NotJson(e.to_string())
                }
            })?;
        match head.ty.as_deref() {
            Some("reading") => {}
            Some("status" | "frame") => return Ok(Record::Other),
            Some(other) => return Err(RecordError::UnknownType(other.to_string())),
            None => return Err(RecordError::NoType),
        }
        let device = head.device.ok_or(LineError::NoDevice)?;
        if !head.has_fields {
            return Err(LineError::NoFields.into());
        }
        let ts = head
            .ts
            .as_deref()
            .and_then(crate::time::parse_rfc3339_ms)
            .ok_or(LineError::BadTs)?;
        if head.n == 0 {
            return Ok(Record::NoLine);
        }
        out.extend_from_slice(&self.measurement);
        let tags = [
            ("device", Some(device)),
            ("model", head.model),
            ("source", head.source),
        ];
        for (k, val) in tags {
            if let Some(val) = val.filter(|v| !v.is_empty()) {
                out.push(b',');
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                escape(out, &val, b",= ");
            }
        }
        out.push(b' ');
        out.extend_from_slice(scratch);
        out.push(b' ');
        int(out, self.precision.from_ms(ts).into());
        out.push(b'\n');
        Ok(Record::Line)
    }
}

/// What an NDJSON line gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A reading, written as a line.
    Line,
    /// A reading without a field line protocol can carry: nothing written.
    NoLine,
    /// A blank line, a status or a frame record: nothing to write.
    Other,
}

/// Why an NDJSON line gave no line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a JSON object")]
    NotObject,
    #[error("no \"type\"")]
    NoType,
    #[error("unknown record type \"{0}\"")]
    UnknownType(String),
    #[error(transparent)]
    Reading(#[from] LineError),
}

/// A string borrowed from the input where it has no escapes; anything else is `None`.
struct MaybeStr<'de>(Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for MaybeStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Cow::Owned(v))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeStr(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MaybeStr(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A map key, borrowed where possible.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The record's keys other than `fields`, which is written as it is parsed.
#[derive(Default)]
struct Head<'de> {
    ty: Option<Cow<'de, str>>,
    ts: Option<Cow<'de, str>>,
    device: Option<Cow<'de, str>>,
    source: Option<Cow<'de, str>>,
    model: Option<Cow<'de, str>>,
    has_fields: bool,
    /// Fields written.
    n: usize,
}

struct TopSeed<'o> {
    fields: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = Head<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = Head<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut h = Head::default();
        while let Some(Key(k)) = a.next_key::<Key>()? {
            match k.as_ref() {
                "type" => h.ty = a.next_value::<MaybeStr>()?.0,
                "ts" => h.ts = a.next_value::<MaybeStr>()?.0,
                "device" => h.device = a.next_value::<MaybeStr>()?.0,
                "source" => h.source = a.next_value::<MaybeStr>()?.0,
                "info" => h.model = a.next_value::<Info>()?.0,
                "fields" => {
                    self.fields.clear();
                    let mut n = 0;
                    h.has_fields = a.next_value_seed(FieldsSeed {
                        out: self.fields,
                        n: &mut n,
                    })?;
                    h.n = n;
                }
                _ => {
                    a.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(h)
    }
}

/// `info.model`, if `info` is an object with a string `model`.
struct Info<'de>(Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for Info<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Info<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut model = None;
                while let Some(Key(k)) = a.next_key::<Key>()? {
                    if k == "model" {
                        model = a.next_value::<MaybeStr>()?.0;
                    } else {
                        a.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Info(model))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Info(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Info(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Info(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Info(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Info(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Info(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Info(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `fields` object, written as `k=v` pairs; its value says whether it was an object.
struct FieldsSeed<'o> {
    out: &'o mut Vec<u8>,
    n: &'o mut usize,
}

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<bool, A::Error> {
        while let Some(Key(k)) = a.next_key::<Key>()? {
            if k.is_empty() || k == "time" {
                a.next_value::<IgnoredAny>()?;
                continue;
            }
            a.next_value_seed(FieldSeed {
                key: &k,
                out: self.out,
                n: self.n,
            })?;
        }
        Ok(true)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<bool, A::Error> {
        while a.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// One field's value, written with its key (or left out: null, objects).
struct FieldSeed<'k, 'o> {
    key: &'k str,
    out: &'o mut Vec<u8>,
    n: &'o mut usize,
}

impl FieldSeed<'_, '_> {
    fn key(&mut self) {
        if *self.n > 0 {
            self.out.push(b',');
        }
        *self.n += 1;
        escape(self.out, self.key, b",= ");
        self.out.push(b'=');
    }
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(mut self, v: bool) -> Result<(), E> {
        self.key();
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn visit_i64<E>(mut self, v: i64) -> Result<(), E> {
        self.key();
        int(self.out, v.into());
        Ok(())
    }
    fn visit_u64<E>(mut self, v: u64) -> Result<(), E> {
        self.key();
        int(self.out, v.into());
        Ok(())
    }
    fn visit_f64<E>(mut self, v: f64) -> Result<(), E> {
        if v.is_finite() {
            self.key();
            float(self.out, v);
        }
        Ok(())
    }
    fn visit_str<E>(mut self, v: &str) -> Result<(), E> {
        self.key();
        self.out.push(b'"');
        for c in v.bytes() {
            if c == b'"' || c == b'\\' {
                self.out.push(b'\\');
            }
            self.out.push(c);
        }
        self.out.push(b'"');
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while let Some(item) = a.next_element::<Item>()? {
            if let Some(text) = item.0 {
                if *self.n > 0 {
                    self.out.push(b',');
                }
                *self.n += 1;
                let k = i + 1;
                // the names of ha::item_name, written without allocating
                match self.key {
                    "cell_voltages" => {
                        self.out.extend_from_slice(b"cell_");
                        item_number(self.out, k);
                        self.out.extend_from_slice(b"_voltage=");
                    }
                    "temperatures" => {
                        self.out.extend_from_slice(b"temperature_");
                        item_number(self.out, k);
                        self.out.push(b'=');
                    }
                    other => {
                        escape(self.out, &item_name(other, i), b",= ");
                        self.out.push(b'=');
                    }
                }
                match text {
                    Num::I(v) => int(self.out, v.into()),
                    Num::U(v) => int(self.out, v.into()),
                    Num::F(v) => float(self.out, v),
                }
            }
            i += 1;
        }
        Ok(())
    }
}

/// A number as JSON had it.
#[derive(Clone, Copy)]
enum Num {
    I(i64),
    U(u64),
    F(f64),
}

/// An array item: its number, or `None` for anything else.
struct Item(Option<Num>);

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Item, E> {
                Ok(Item(Some(Num::I(v))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Item, E> {
                Ok(Item(Some(Num::U(v))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Item, E> {
                Ok(Item(v.is_finite().then_some(Num::F(v))))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Item, E> {
                Ok(Item(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Item, E> {
                Ok(Item(None))
            }
            fn visit_unit<E>(self) -> Result<Item, E> {
                Ok(Item(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Item, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Item(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Item, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Item(None))
            }
        }
        d.deserialize_any(V)
    }
}

fn float(out: &mut Vec<u8>, f: f64) {
    let mut b = ryu::Buffer::new();
    let s = b.format_finite(f);
    // ryu writes 97.0 as "97.0": line protocol reads both as a float; drop the ".0".
    out.extend_from_slice(s.strip_suffix(".0").unwrap_or(s).as_bytes());
}

/// Bytes that may need a backslash in a name or tag (the `special` sets are subsets).
const MAYBE_ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    t[b',' as usize] = true;
    t[b'=' as usize] = true;
    t[b' ' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t
};

/// Appends `s` with the characters in `special` backslash-escaped (see the module doc for
/// backslashes, newlines and carriage returns).
fn escape(out: &mut Vec<u8>, s: &str, special: &[u8]) {
    let b = s.as_bytes();
    // Nearly every name and tag has nothing to escape: copy it whole.
    if !b.iter().any(|&c| MAYBE_ESCAPED[c as usize]) {
        out.extend_from_slice(b);
        return;
    }
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

/// Appends the decimal digits of `v` (without the formatting machinery: hot path).
fn int(out: &mut Vec<u8>, v: i128) {
    let mut buf = [0u8; 40];
    let mut i = buf.len();
    let neg = v < 0;
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends a 1-based item number as at least two digits (`01`).
fn item_number(out: &mut Vec<u8>, k: usize) {
    if k < 10 {
        out.push(b'0');
    }
    int(out, k as i128);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The line of a reading given as a JSON value ("type":"reading" added).
    fn enc(e: &Encoder, v: &Value, out: &mut Vec<u8>) -> Result<bool, LineError> {
        let mut v = v.clone();
        v["type"] = json!("reading");
        match e.record(&serde_json::to_vec(&v).unwrap(), out, &mut Vec::new()) {
            Ok(r) => Ok(r == Record::Line),
            Err(RecordError::Reading(e)) => Err(e),
            Err(other) => panic!("{other}"),
        }
    }

    fn line(v: &Value) -> String {
        let e = Encoder::new("bmstap", Precision::Ms).unwrap();
        let mut out = Vec::new();
        assert!(enc(&e, v, &mut out).unwrap());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lp4_golden_reading() {
        let text = include_str!("../../testdata/lp4/wombatt-status.ndjson");
        let e = Encoder::new("bmstap", Precision::Ms).unwrap();
        let mut out = Vec::new();
        let r = e.record(
            text.lines().next().unwrap().as_bytes(),
            &mut out,
            &mut Vec::new(),
        );
        assert_eq!(r, Ok(Record::Line));
        // Fields in the reading's order, arrays flattened in place, raw left out.
        assert_eq!(
            String::from_utf8(out).unwrap(),
            include_str!("../../testdata/lp4/wombatt-status.lp")
        );
    }

    #[test]
    fn records_that_give_no_line() {
        let e = Encoder::new("m", Precision::Ms).unwrap();
        let r = |t: &str| e.record(t.as_bytes(), &mut Vec::new(), &mut Vec::new());
        assert_eq!(r("  "), Ok(Record::Other));
        assert_eq!(
            r(r#"{"type":"status","device":"d","error":"timeout"}"#),
            Ok(Record::Other)
        );
        assert_eq!(r(r#"{"type":"frame","hex":"01"}"#), Ok(Record::Other));
        assert_eq!(
            r(r#"{"type":"x"}"#),
            Err(RecordError::UnknownType("x".into()))
        );
        assert_eq!(r(r#"{"device":"d"}"#), Err(RecordError::NoType));
        assert_eq!(r(r#"[1,2]"#), Err(RecordError::NotObject));
        assert!(matches!(
            r(r#"{"type":"reading""#),
            Err(RecordError::NotJson(_))
        ));
        assert!(matches!(r("{} {}"), Err(RecordError::NotJson(_))));
        let invalid_utf8 = e.record(b"{\"type\":\"\xff\"}", &mut Vec::new(), &mut Vec::new());
        assert!(matches!(invalid_utf8, Err(RecordError::NotJson(_))));
        let ok = r#"{"type":"reading","ts":"1970-01-01T00:00:00Z","device":"d","fields":{"a":1}}"#;
        assert_eq!(r(ok), Ok(Record::Line));
        let bad_ts = r#"{"type":"reading","ts":5,"device":"d","fields":{"a":1}}"#;
        assert_eq!(r(bad_ts), Err(RecordError::Reading(LineError::BadTs)));
        let fields_not_object =
            r#"{"type":"reading","ts":"1970-01-01T00:00:00Z","device":"d","fields":[1]}"#;
        assert_eq!(
            r(fields_not_object),
            Err(RecordError::Reading(LineError::NoFields))
        );
        let info_odd = r#"{"type":"reading","ts":"1970-01-01T00:00:00Z","device":"d","info":[{"model":"x"}],"fields":{"a":[[1],{"b":2},3]}}"#;
        let mut out = Vec::new();
        e.record(info_odd.as_bytes(), &mut out, &mut Vec::new())
            .unwrap();
        assert_eq!(out, b"m,device=d a_03=3 0\n");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_bytes(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let e = Encoder::new("m", Precision::Ms).unwrap();
            let _ = e.record(&b, &mut Vec::new(), &mut Vec::new());
        }

        #[test]
        fn any_string_field_is_one_parseable_line(s in ".*", k in ".+", d in ".+") {
            let e = Encoder::new("m", Precision::Ms).unwrap();
            let v = serde_json::json!({"type":"reading","ts":"1970-01-01T00:00:00Z","device":d,
                "source":s.clone(),"fields":{k.clone():s.clone()}});
            let mut out = Vec::new();
            let r = e.record(&serde_json::to_vec(&v).unwrap(), &mut out, &mut Vec::new());
            proptest::prop_assert!(r.is_ok());
            let text = String::from_utf8(out).unwrap();
            // newlines only inside the string value (InfluxDB takes them there), none from
            // the names and tags; the line ends with the timestamp
            proptest::prop_assert_eq!(text.matches('\n').count(), 1 + s.matches('\n').count());
            proptest::prop_assert!(text.ends_with(" 0\n"));
        }
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
        enc(&Encoder::new("m", Precision::S).unwrap(), &v, &mut out).unwrap();
        assert_eq!(
            out,
            b"m,device=x,model=eFlex\\ 5.4,source=eflex soc=69 1715987139\n"
        );
        out.clear();
        enc(&Encoder::new("m", Precision::Ns).unwrap(), &v, &mut out).unwrap();
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
        enc(
            &e,
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
        let r = |v: Value, out: &mut Vec<u8>| enc(&e, &v, out);
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
    fn integers_and_item_numbers() {
        let mut out = Vec::new();
        for (v, want) in [
            (0i128, "0"),
            (7, "7"),
            (-42, "-42"),
            (u64::MAX.into(), "18446744073709551615"),
            (i64::MIN.into(), "-9223372036854775808"),
        ] {
            out.clear();
            int(&mut out, v);
            assert_eq!(out, want.as_bytes());
        }
        for (k, want) in [(1usize, "01"), (9, "09"), (10, "10"), (123, "123")] {
            out.clear();
            item_number(&mut out, k);
            assert_eq!(out, want.as_bytes());
            assert_eq!(crate::ha::item_name("x", k - 1), format!("x_{want}"));
        }
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
