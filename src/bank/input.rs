//! Reading one input line without building a JSON tree: the record's head (`type`, `ts`,
//! `device`, `error`), a summary of the fields the bank needs, and where the `fields`
//! object ends (found in the same pass that summarises it), so the tool can write the line through unchanged and splice the derived
//! fields in before that object's closing brace. A full parse and re-serialisation would
//! cost several times as much (docs/performance.md: readings-bank).

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

use crate::time::parse_rfc3339_ms;

/// One input line, classified. Returned by value once per line and never stored, so the
/// size difference between the variants costs nothing (boxing would cost an allocation).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Line<'a> {
    /// A reading: its ts, device, source, fields summary, and the byte offset of the
    /// `fields` object's closing brace in the line.
    Reading {
        ts_ms: i64,
        device: Cow<'a, str>,
        source: Cow<'a, str>,
        fields: Summary,
        close: usize,
    },
    /// A status record with an error: the device did not answer.
    DeviceError { ts_ms: Option<i64>, device: String },
    /// Any other record (frames, stats, types this filter does not know): passed through.
    Other,
}

/// Classifies one line (without its newline). `Err` says why it is not a record.
///
/// The top-level object is walked key by key, each value deserialised on its own from the
/// line, so that the `fields` object is read once: summarised, and its closing brace found
/// (its last byte). Every other value is checked and skipped.
pub fn parse(line: &str) -> Result<Line<'_>, String> {
    let b = line.as_bytes();
    let mut pos = skip_ws(b, 0);
    if b.get(pos) != Some(&b'{') {
        return Err(match serde_json::from_str::<IgnoredAny>(line) {
            Ok(_) => "not a JSON object".into(),
            Err(e) => format!("not JSON: {e}"),
        });
    }
    pos = skip_ws(b, pos + 1);
    let (mut ty, mut ts, mut source, mut device) = (None, None, None, None);
    let mut error = false;
    let mut fields: Option<(Option<Summary>, usize)> = None;
    if b.get(pos) == Some(&b'}') {
        pos += 1;
    } else {
        loop {
            let (Text(key), p) = value::<Text>(line, pos)?;
            pos = skip_ws(b, p);
            if b.get(pos) != Some(&b':') {
                return Err(format!("not JSON: expected ':' at byte {}", pos + 1));
            }
            pos += 1;
            pos = match key.as_ref() {
                "type" => keep(line, pos, &mut ty)?,
                "ts" => keep(line, pos, &mut ts)?,
                "source" => keep(line, pos, &mut source)?,
                "device" => keep(line, pos, &mut device)?,
                "error" => {
                    let (v, p) = value::<Option<IgnoredAny>>(line, pos)?;
                    error = v.is_some();
                    p
                }
                "fields" => {
                    let (Fields(v), p) = value::<Fields>(line, pos)?;
                    fields = Some((v, p - 1));
                    p
                }
                _ => value::<IgnoredAny>(line, pos)?.1,
            };
            pos = skip_ws(b, pos);
            match b.get(pos) {
                Some(b',') => pos += 1,
                Some(b'}') => {
                    pos += 1;
                    break;
                }
                _ => {
                    return Err(format!(
                        "not JSON: expected ',' or '}}' at byte {}",
                        pos + 1
                    ))
                }
            }
        }
    }
    if skip_ws(b, pos) != b.len() {
        return Err(format!("not JSON: trailing characters at byte {}", pos + 1));
    }
    let ty = ty.ok_or("not a record: no \"type\" string")?;
    match ty.as_ref() {
        "reading" => {
            let ts = ts.ok_or("reading without \"ts\"")?;
            let ts_ms =
                parse_rfc3339_ms(&ts).ok_or_else(|| format!("reading with a bad ts \"{ts}\""))?;
            let device = device.ok_or("reading without \"device\"")?;
            let (summary, close) = fields.ok_or("reading without \"fields\"")?;
            let fields = summary.ok_or("reading whose \"fields\" is not an object")?;
            Ok(Line::Reading {
                ts_ms,
                device,
                source: source.unwrap_or(Cow::Borrowed("")),
                fields,
                close,
            })
        }
        "status" => match (error, device) {
            (true, Some(device)) => Ok(Line::DeviceError {
                ts_ms: ts.as_deref().and_then(parse_rfc3339_ms),
                device: device.into_owned(),
            }),
            _ => Ok(Line::Other),
        },
        _ => Ok(Line::Other),
    }
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while b
        .get(pos)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        pos += 1;
    }
    pos
}

/// One JSON value starting at `pos` (whitespace allowed before it), and where it ends.
fn value<'a, T: Deserialize<'a>>(line: &'a str, pos: usize) -> Result<(T, usize), String> {
    let mut it = serde_json::Deserializer::from_str(&line[pos..]).into_iter::<T>();
    match it.next() {
        Some(Ok(v)) => Ok((v, pos + it.byte_offset())),
        Some(Err(e)) if e.is_data() => {
            Err(format!("not a record: {e} (byte {})", pos + e.column()))
        }
        Some(Err(e)) => Err(format!("not JSON: {e} (byte {})", pos + e.column())),
        None => Err("not JSON: unexpected end of line".into()),
    }
}

/// A string value for `slot` (the record's type, ts, source, device).
fn keep<'a>(line: &'a str, pos: usize, slot: &mut Option<Cow<'a, str>>) -> Result<usize, String> {
    let (Text(v), p) = value::<Text<'a>>(line, pos)?;
    *slot = Some(v);
    Ok(p)
}

/// A string, borrowed from the line unless it has escapes. (Serde's own `Cow<str>` always
/// allocates: one allocation per field name would be most of a reading's cost.)
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A `fields` value: summarised if it is an object, skipped otherwise.
struct Fields(Option<Summary>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Fields, A::Error> {
                SummaryVisitor.visit_map(a).map(|s| Fields(Some(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Fields, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Fields(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Fields, E> {
                Ok(Fields(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Fields, E> {
                Ok(Fields(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Fields, E> {
                Ok(Fields(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Fields, E> {
                Ok(Fields(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Fields, E> {
                Ok(Fields(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Fields, E> {
                Ok(Fields(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The most active problem flags kept of one reading (a bank's list is cut to what Home
/// Assistant shows anyway).
pub const MAX_PROBLEMS: usize = 32;

/// What the bank and the integrator need from a reading's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// The object has at least one key.
    pub any: bool,
    pub pack_voltage: Option<f64>,
    pub pack_current: Option<f64>,
    pub soc: Option<f64>,
    pub soh: Option<f64>,
    pub remaining_ah: Option<f64>,
    pub capacity_ah: Option<f64>,
    pub cell_voltage_min: Option<f64>,
    pub cell_voltage_max: Option<f64>,
    pub cell_lowest: Option<f64>,
    pub cell_highest: Option<f64>,
    pub temperature_min: Option<f64>,
    pub temperature_max: Option<f64>,
    /// Some warning_*, protection_* or alarm_* field is true.
    pub problem: bool,
    /// The names of those that are, in the reading's order (at most [`MAX_PROBLEMS`]).
    pub problems: Vec<String>,
    /// The fields already have one this filter adds (power, energy_*, time_to_*).
    pub derived: bool,
    /// The reading is a whole bank's (it has `packs_total`: a bank master's system reading,
    /// or a bank reading), not a pack's.
    pub whole: bool,
}

impl<'de> Deserialize<'de> for Summary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SummaryVisitor)
    }
}

struct SummaryVisitor;

impl<'de> Visitor<'de> for SummaryVisitor {
    type Value = Summary;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Summary, A::Error> {
        let mut s = Summary::default();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            s.any = true;
            let slot = match key.as_ref() {
                "pack_voltage" => &mut s.pack_voltage,
                "pack_current" => &mut s.pack_current,
                "soc" => &mut s.soc,
                "soh" => &mut s.soh,
                "remaining_ah" => &mut s.remaining_ah,
                "capacity_ah" => &mut s.capacity_ah,
                "cell_voltage_min" => &mut s.cell_voltage_min,
                "cell_voltage_max" => &mut s.cell_voltage_max,
                "cell_lowest" => &mut s.cell_lowest,
                "cell_highest" => &mut s.cell_highest,
                "temperatures" => {
                    let MinMax(r) = map.next_value()?;
                    if let Some((lo, hi)) = r {
                        s.temperature_min = Some(lo);
                        s.temperature_max = Some(hi);
                    }
                    continue;
                }
                k if k.starts_with("warning_")
                    || k.starts_with("protection_")
                    || k.starts_with("alarm_") =>
                {
                    let Num(_, b) = map.next_value()?;
                    s.problem |= b;
                    if b && s.problems.len() < MAX_PROBLEMS {
                        s.problems.push(k.to_string());
                    }
                    continue;
                }
                "packs_total" => {
                    s.whole = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                "power"
                | "energy_charged_kwh"
                | "energy_discharged_kwh"
                | "time_to_full"
                | "time_to_empty" => {
                    s.derived = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let Num(n, _) = map.next_value()?;
            *slot = n;
        }
        Ok(s)
    }
}

/// Any JSON value: the number it is, if it is one, and whether it is `true`.
struct Num(Option<f64>, bool);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                Ok(Num(Some(v).filter(|v| v.is_finite()), false))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(Some(v as f64), false))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(Some(v as f64), false))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Num, E> {
                Ok(Num(None, v))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Num, E> {
                Ok(Num(None, false))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Num, E> {
                Ok(Num(None, false))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Num, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Num(None, false))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Num, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Num(None, false))
            }
        }
        d.deserialize_any(V)
    }
}

/// The lowest and highest number of an array (non-numbers ignored).
struct MinMax(Option<(f64, f64)>);

impl<'de> Deserialize<'de> for MinMax {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MinMax;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<MinMax, A::Error> {
                let mut r: Option<(f64, f64)> = None;
                while let Some(Num(n, _)) = a.next_element()? {
                    if let Some(x) = n {
                        r = Some(r.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))));
                    }
                }
                Ok(MinMax(r))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<MinMax, E> {
                Ok(MinMax(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<MinMax, E> {
                Ok(MinMax(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<MinMax, E> {
                Ok(MinMax(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<MinMax, E> {
                Ok(MinMax(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<MinMax, E> {
                Ok(MinMax(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<MinMax, E> {
                Ok(MinMax(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<MinMax, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(MinMax(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_a_reading() {
        let line = r#"{"type":"reading","ts":"1970-01-01T00:00:01.000Z","source":"lp4","device":"a","fields":{"pack_voltage":53.1,"pack_current":-2,"soc":80,"temperatures":[21,19,"x",25],"warning_cell_ov":false,"protection_x":true,"cell_voltages":[3.3,3.2],"state":"idle"},"raw":{"registers":[1]}}"#;
        let Line::Reading {
            ts_ms,
            device,
            source,
            fields,
            close,
        } = parse(line).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (ts_ms, device.as_ref(), source.as_ref()),
            (1000, "a", "lp4")
        );
        assert_eq!(fields.pack_voltage, Some(53.1));
        assert_eq!(fields.pack_current, Some(-2.0));
        assert_eq!(fields.soc, Some(80.0));
        assert_eq!(fields.temperature_min, Some(19.0));
        assert_eq!(fields.temperature_max, Some(25.0));
        assert!(fields.problem && fields.any && !fields.derived);
        assert_eq!(fields.problems, ["protection_x"]);
        assert_eq!(&line[close..close + 2], "},");
        assert!(line[..close].ends_with("\"idle\""));
    }

    #[test]
    fn classifies_records_and_rejects_non_records() {
        assert!(matches!(
            parse(
                r#"{"type":"status","ts":"1970-01-01T00:00:01.000Z","source":"lp4","device":"b","error":"timeout"}"#
            ),
            Ok(Line::DeviceError {
                ts_ms: Some(1000),
                ..
            })
        ));
        assert!(matches!(
            parse(r#"{"type":"status","ts":"x","source":"rtu-sniff","device":"b","stats":{}}"#),
            Ok(Line::Other)
        ));
        assert!(matches!(
            parse(r#"{"type":"frame","kind":"request","address":1,"function":3,"hex":"01"}"#),
            Ok(Line::Other)
        ));
        assert!(matches!(
            parse(r#"{"type":"future","x":1}"#),
            Ok(Line::Other)
        ));
        for bad in [
            "not json",
            "[1,2]",
            "{}",
            r#"{"type":1}"#,
            r#"{"type":"reading","ts":"1970-01-01T00:00:01.000Z","device":"a"}"#,
            r#"{"type":"reading","ts":"yesterday","device":"a","fields":{}}"#,
            r#"{"type":"reading","ts":"1970-01-01T00:00:01.000Z","device":"a","fields":[1]}"#,
            r#"{"type":"reading","ts":"1970-01-01T00:00:01.000Z","fields":{}}"#,
            r#"{"type":"reading"} trailing"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
