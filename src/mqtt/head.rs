//! What the bridge needs of a record on the hot path, read without building a JSON tree:
//! its type, device, whether a status carries an error, and the shape of a reading's fields
//! (how many values, the longest array, the longest name) to check the bounds. The full
//! parse of a reading happens only when its state is about to be published (at most every
//! 100 ms per device), so a replay costs one validating scan per reading.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// The head of one record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Head {
    /// The record type; the ones readings.md defines are not allocated.
    pub ty: Option<Cow<'static, str>>,
    pub device: Option<String>,
    /// A non-null `error`.
    pub error: bool,
    pub fields: Option<Shape>,
}

/// The shape of a reading's `fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    Object {
        /// Values, array items counted one by one.
        values: usize,
        /// The longest array: its name and length.
        longest_array: Option<(String, usize)>,
        /// The longest field name: its length and its first characters.
        longest_name: (usize, String),
    },
    /// Not a JSON object.
    NotObject,
}

impl Head {
    /// Parses a line that must be one JSON object. An error says why it is not.
    pub fn parse(line: &str) -> Result<Head, String> {
        let mut de = serde_json::Deserializer::from_str(line);
        let head = Head::deserialize(&mut de).map_err(|e| {
            if e.classify() == serde_json::error::Category::Data {
                "not a JSON object".to_string()
            } else {
                format!("not JSON: {e}")
            }
        })?;
        de.end().map_err(|e| format!("not JSON: {e}"))?;
        Ok(head)
    }
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Head, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Head;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Head, A::Error> {
                let mut h = Head::default();
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    match &*k {
                        "type" => h.ty = m.next_value::<Option<Ty>>()?.and_then(|t| t.0),
                        "device" => h.device = m.next_value::<Option<Text>>()?.and_then(|t| t.0),
                        "error" => h.error = m.next_value::<Option<Skip>>()?.is_some(),
                        "fields" => h.fields = Some(m.next_value::<Shape>()?),
                        _ => {
                            m.next_value::<Skip>()?;
                        }
                    }
                }
                Ok(h)
            }
        }
        d.deserialize_map(V)
    }
}

/// Any JSON value, skipped. Unlike serde's `IgnoredAny` (which serde_json skips without a
/// depth limit) it goes through `deserialize_any`, so JSON nested deeper than serde_json's
/// recursion limit is "not JSON", as the full parse says.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Skip, A::Error> {
                while s.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Skip, A::Error> {
                while m.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Skip)
            }
        }
        d.deserialize_any(V)
    }
}

/// The record type: a string value (readings.md's types without an allocation), or `None`
/// for any other JSON value.
struct Ty(Option<Cow<'static, str>>);

impl<'de> Deserialize<'de> for Ty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ty, D::Error> {
        string_or_none(d, |s| {
            Cow::Borrowed(match s {
                "reading" => "reading",
                "status" => "status",
                "frame" => "frame",
                _ => return Cow::Owned(s.to_string()),
            })
        })
        .map(Ty)
    }
}

/// A string value, or `None` for any other JSON value.
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        string_or_none(d, str::to_string).map(Text)
    }
}

/// A string value made into a `T`, or `None` for any other JSON value (skipped).
fn string_or_none<'de, D: Deserializer<'de>, T>(
    d: D,
    make: fn(&str) -> T,
) -> Result<Option<T>, D::Error> {
    struct V<T>(fn(&str) -> T);
    impl<'de, T> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any value")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<T>, E> {
            Ok(Some((self.0)(s)))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Option<T>, A::Error> {
            while s.next_element::<Skip>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Option<T>, A::Error> {
            while m.next_entry::<Skip, Skip>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V(make))
}

/// One field's value: an array's length, or 1.
struct Count(Option<usize>);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Count, A::Error> {
                let mut n = 0;
                while s.next_element::<Skip>()?.is_some() {
                    n += 1;
                }
                Ok(Count(Some(n)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Count, A::Error> {
                while m.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Count(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Shape, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Shape, A::Error> {
                // Names stay borrowed from the line until the end: no allocation per field.
                let mut values = 0usize;
                let mut longest_array: Option<(Cow<'de, str>, usize)> = None;
                let mut longest_name: Option<Cow<'de, str>> = None;
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    let n = m.next_value::<Count>()?.0;
                    if let Some(n) = n {
                        values = values.saturating_add(n);
                        if longest_array.as_ref().is_none_or(|(_, l)| n > *l) {
                            longest_array = Some((k.clone(), n));
                        }
                    } else {
                        values = values.saturating_add(1);
                    }
                    if longest_name.as_ref().is_none_or(|l| k.len() > l.len()) {
                        longest_name = Some(k);
                    }
                }
                let longest_name = longest_name.map_or((0, String::new()), |k| {
                    (k.len(), k.chars().take(24).collect())
                });
                Ok(Shape::Object {
                    values,
                    longest_array: longest_array.map(|(k, n)| (k.into_owned(), n)),
                    longest_name,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Shape, A::Error> {
                while s.next_element::<Skip>()?.is_some() {}
                Ok(Shape::NotObject)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::NotObject)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_head_without_a_tree() {
        let h = Head::parse(
            r#"{"type":"reading","device":"d\u0030","fields":{"soc":1,"cell_voltages":[3.3,3.4],"x":{"a":[1,2,3]}},"raw":[1,{"b":2}]}"#,
        )
        .unwrap();
        assert_eq!(h.ty.as_deref(), Some("reading"));
        assert_eq!(h.device.as_deref(), Some("d0"));
        assert!(!h.error);
        assert_eq!(
            h.fields,
            Some(Shape::Object {
                values: 4,
                longest_array: Some(("cell_voltages".into(), 2)),
                longest_name: (13, "cell_voltages".into()),
            })
        );
        let s = Head::parse(r#"{"type":"status","device":3,"error":null,"fields":5}"#).unwrap();
        assert_eq!(s.device, None);
        assert!(!s.error);
        assert_eq!(s.fields, Some(Shape::NotObject));
        assert!(Head::parse(r#"{"error":"timeout"}"#).unwrap().error);
        assert_eq!(Head::parse("[1]").unwrap_err(), "not a JSON object");
        assert!(Head::parse("{\"a\":").unwrap_err().starts_with("not JSON"));
        assert!(Head::parse("{} x").unwrap_err().starts_with("not JSON"));
        assert!(Head::parse(&"[".repeat(100_000)).is_err());
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(1000), "]".repeat(1000));
        assert!(Head::parse(&deep).unwrap_err().contains("recursion limit"));
    }
}
