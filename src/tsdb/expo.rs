//! The Prometheus text exposition of the newest reading of every device. Pure: readings and
//! times in, text out; readings-exporter owns the socket, the clock and the input.
//!
//! ```text
//! # HELP bmstap_pack_voltage_volts Pack (battery terminal) voltage.
//! # TYPE bmstap_pack_voltage_volts gauge
//! bmstap_pack_voltage_volts{device="rack-1",source="lp4"} 53.66
//! # TYPE bmstap_cell_voltage_volts gauge
//! bmstap_cell_voltage_volts{device="rack-1",source="lp4",cell="1"} 3.354
//! # TYPE bmstap_energy_charged_joules_total counter
//! bmstap_energy_charged_joules_total{device="bank",source="bank"} 4.5e7
//! ```
//!
//! Names follow Prometheus' conventions and come from the field catalogue: the unit in base
//! units as a suffix (`_volts`, `_amperes`, `_celsius`, `_watts`, `_seconds`, `_joules`;
//! `_coulombs`, and `_percent` where the catalogue says %), millivolts, ampere-hours and kWh
//! converted to volts, coulombs (× 3600) and joules (× 3.6e6), `_total` counters for the catalogue's `total_increasing`
//! fields, booleans as 0/1, arrays as one series per item with a `cell`, `sensor` or `index`
//! label, a text field as `bmstap_<name>_info{<name>="..."} 1`. Fields not in the catalogue
//! are exported as plain gauges under their (sanitised) name. Every series has the labels
//! `device` and `source`; `bmstap_reading_timestamp_seconds` is the reading's `ts`,
//! `bmstap_device_info` carries what the device says about itself, and `bmstap_device_up` is
//! 0 after a status record reporting an error, 1 after a reading. A device's series are
//! dropped [`Registry::expire`] after `stale` without a reading.

use crate::catalog::{self, Kind};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::time::{Duration, Instant};

/// How a field is exported.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Full name, `bmstap_...`.
    pub name: String,
    pub counter: bool,
    /// Multiply the field's value by this (mV → V, kWh → J).
    pub scale: f64,
    /// The label of an array's items (`cell`, `sensor`, `index`).
    pub item_label: Option<&'static str>,
    pub help: String,
}

/// The metric a catalogue field (or any other numeric or boolean field) is exported as.
pub fn metric_for(field: &str) -> Metric {
    let spec = catalog::lookup(field);
    let kind = spec.map_or(Kind::Number, |s| s.kind);
    let mut base = sanitize(field);
    let mut scale = 1.0;
    let mut item_label = None;
    if kind == Kind::Array {
        match field {
            "cell_voltages" => {
                base = "cell_voltage".into();
                item_label = Some("cell");
            }
            "temperatures" => {
                base = "temperature".into();
                item_label = Some("sensor");
            }
            _ => item_label = Some("index"),
        }
    }
    let unit = match spec.and_then(|s| s.unit) {
        Some("V") => Some("volts"),
        Some("mV") => {
            base = base.strip_suffix("_mv").unwrap_or(&base).to_string();
            scale = 0.001;
            Some("volts")
        }
        Some("A") => Some("amperes"),
        Some("%") => Some("percent"),
        Some("°C") => Some("celsius"),
        Some("W") => Some("watts"),
        Some("s") => Some("seconds"),
        Some("Ah") => {
            base = base.strip_suffix("_ah").unwrap_or(&base).to_string();
            scale = 3600.0;
            Some("coulombs")
        }
        Some("kWh") => {
            base = base.strip_suffix("_kwh").unwrap_or(&base).to_string();
            scale = 3.6e6;
            Some("joules")
        }
        _ => None,
    };
    let counter = spec.is_some_and(|s| s.state_class == Some("total_increasing"));
    match field {
        "cycle_count" => base = "cycles".into(),
        "packs_total" => base = "packs".into(),
        // _count belongs to histograms and summaries
        "cell_count" => base = "cells".into(),
        _ if base.ends_with("_count") => base.push_str("_value"),
        // only counters end in _total
        _ if !counter && base.ends_with("_total") => base.push_str("_value"),
        _ => {}
    }
    let mut name = format!("bmstap_{base}");
    if let Some(u) = unit {
        if !name.ends_with(u) {
            name.push('_');
            name.push_str(u);
        }
    }
    if counter && !name.ends_with("_total") {
        name.push_str("_total");
    }
    let help = match spec {
        Some(s) => {
            let mut h = s.description.to_string();
            if scale != 1.0 {
                h.push_str(&format!(
                    " (field {field}, converted to {})",
                    unit.unwrap_or("")
                ));
            }
            h
        }
        None => format!("Field {field} (not in the bmstap catalogue)."),
    };
    Metric {
        name,
        counter,
        scale,
        item_label,
        help,
    }
}

/// A metric or label name with every character outside `[a-zA-Z0-9_]` replaced by `_` and
/// a leading digit prefixed with `_`.
pub fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Appends `s` as the inside of a quoted label value.
pub fn escape_label(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as the text format writes it: `+Inf`, `-Inf` and `NaN` as Prometheus
/// spells them (ryu would write `inf`, which no parser takes).
fn value(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    let mut b = ryu::Buffer::new();
    let s = b.format(f);
    out.push_str(s.strip_suffix(".0").unwrap_or(s));
}

/// A counter's value as Prometheus takes it: finite and not negative (a cumulative field
/// beyond f64, or below zero, is left out rather than written as `-Inf` or `+Inf`).
fn counter_value(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

/// The family and label of a text field: `bmstap_<name>_info{<name>="..."}`, or
/// `bmstap_field_<name>_info{value="..."}` where the name would be a reserved label.
fn string_family(k: &str) -> (String, String) {
    let label = sanitize(k);
    if label == "device" || label == "source" || label.starts_with("__") {
        (format!("bmstap_field_{label}_info"), "value".to_string())
    } else {
        (format!("bmstap_{label}_info"), label)
    }
}

struct Family {
    help: String,
    counter: bool,
    samples: String,
}

#[derive(Debug, Clone)]
struct Device {
    source: String,
    info: Vec<(&'static str, String)>,
    fields: Map<String, Value>,
    ts_ms: i64,
    up: bool,
    seen: Instant,
}

/// The series the exporter writes for every device itself: no field may take their names.
pub const OWN_FAMILIES: [&str; 3] = [
    "bmstap_reading_timestamp_seconds",
    "bmstap_device_up",
    "bmstap_device_info",
];

/// A field left out of a reading: (field, its metric name, what has that name already).
pub type Clash = (String, String, String);

/// What [`Registry::update`] did with a record.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Intake {
    /// A reading of a new device, refused: the registry holds its maximum of devices.
    pub refused: bool,
    /// Fields left out because another field of the reading (or one of the exporter's own
    /// series) already has their metric name: `(field, metric, taken by)`.
    pub clashes: Vec<Clash>,
}

/// The newest reading of every device.
#[derive(Debug)]
pub struct Registry {
    devices: BTreeMap<String, Device>,
    /// [`metric_for`] of every field name seen, so a scrape does not search the catalogue.
    metrics: HashMap<String, Metric>,
    /// Devices held at most.
    max_devices: usize,
    /// Bumped on every change, so an unchanged registry's exposition can be reused.
    generation: u64,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry::with_max_devices(usize::MAX)
    }

    /// A registry that holds at most `max` devices: a reading of one more is refused (until
    /// some go stale).
    pub fn with_max_devices(max: usize) -> Registry {
        Registry {
            devices: BTreeMap::new(),
            metrics: HashMap::new(),
            max_devices: max,
            generation: 0,
        }
    }

    /// Changes with every change of what [`Registry::render`] would give.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Takes one record (a JSON object): a reading replaces its device's newest, a status
    /// with an error marks the device down, frames are ignored. Each record costs time in
    /// proportion to its own size (and the log of the device count), never to the number
    /// of devices.
    pub fn update(&mut self, v: &Value, now: Instant) -> Result<Intake, String> {
        let ty = v.get("type").and_then(Value::as_str).ok_or("no \"type\"")?;
        match ty {
            "reading" => {}
            "status" => {
                let id = v
                    .get("device")
                    .and_then(Value::as_str)
                    .ok_or("no \"device\"")?;
                if v.get("error").is_some_and(|e| !e.is_null()) {
                    if let Some(d) = self.devices.get_mut(id) {
                        d.up = false;
                        self.generation += 1;
                    }
                }
                return Ok(Intake::default());
            }
            "frame" => return Ok(Intake::default()),
            other => return Err(format!("unknown record type \"{other}\"")),
        }
        let id = v
            .get("device")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .ok_or("no \"device\"")?;
        let fields = v
            .get("fields")
            .and_then(Value::as_object)
            .ok_or("reading without \"fields\" object")?;
        let ts_ms = v
            .get("ts")
            .and_then(Value::as_str)
            .and_then(crate::time::parse_rfc3339_ms)
            .ok_or("\"ts\" missing or not an RFC 3339 time")?;
        if self.devices.len() >= self.max_devices && !self.devices.contains_key(id) {
            return Ok(Intake {
                refused: true,
                ..Intake::default()
            });
        }
        for k in fields.keys() {
            if !self.metrics.contains_key(k) {
                if self.metrics.len() >= 4096 {
                    // endless made-up field names must not grow memory: start over
                    self.metrics.clear();
                }
                self.metrics.insert(k.clone(), metric_for(k));
            }
        }
        let source = v
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut info = Vec::new();
        if let Some(i) = v.get("info").and_then(Value::as_object) {
            for k in ["manufacturer", "model", "firmware", "hardware", "serial"] {
                if let Some(s) = i.get(k).and_then(Value::as_str) {
                    info.push((k, s.to_string()));
                }
            }
        }
        let (fields, clashes) = self.without_clashes(fields);
        self.generation += 1;
        self.devices.insert(
            id.to_string(),
            Device {
                source,
                info,
                fields,
                ts_ms,
                up: true,
                seen: now,
            },
        );
        Ok(Intake {
            refused: false,
            clashes,
        })
    }

    /// The metric family a field's value is written under (none for nulls and objects).
    fn family(&self, k: &str, v: &Value) -> Option<String> {
        match v {
            Value::Number(_) | Value::Bool(_) | Value::Array(_) => {
                Some(self.metric(k).name.clone())
            }
            Value::String(_) => Some(string_family(k).0),
            Value::Null | Value::Object(_) => None,
        }
    }

    /// The fields of a reading, less those whose metric name another field (or one of the
    /// exporter's own series) has: catalogue fields first, then the rest by name, so the
    /// choice is the same for every reading. Two series of one name and labels would make
    /// Prometheus refuse the whole scrape.
    fn without_clashes(&self, fields: &Map<String, Value>) -> (Map<String, Value>, Vec<Clash>) {
        let mut taken: HashMap<String, String> = OWN_FAMILIES
            .iter()
            .map(|f| (f.to_string(), "the exporter itself".to_string()))
            .collect();
        let mut clashes = Vec::new();
        let mut keep = Map::new();
        let in_catalogue = |k: &str| catalog::lookup(k).is_some();
        let order = fields
            .iter()
            .filter(|(k, _)| in_catalogue(k))
            .chain(fields.iter().filter(|(k, _)| !in_catalogue(k)));
        for (k, v) in order {
            if let Some(fam) = self.family(k, v) {
                if let Some(first) = taken.get(&fam) {
                    clashes.push((k.clone(), fam, first.clone()));
                    continue;
                }
                taken.insert(fam, format!("field {k}"));
            }
            keep.insert(k.clone(), v.clone());
        }
        (keep, clashes)
    }

    /// Forgets the devices without a reading for `stale`; returns their ids.
    pub fn expire(&mut self, now: Instant, stale: Duration) -> Vec<String> {
        let gone: Vec<String> = self
            .devices
            .iter()
            .filter(|(_, d)| now.saturating_duration_since(d.seen) >= stale)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            self.devices.remove(k);
        }
        if !gone.is_empty() {
            self.generation += 1;
        }
        gone
    }

    /// The metric of a field name: cached, or worked out.
    fn metric(&self, field: &str) -> std::borrow::Cow<'_, Metric> {
        match self.metrics.get(field) {
            Some(m) => std::borrow::Cow::Borrowed(m),
            None => std::borrow::Cow::Owned(metric_for(field)),
        }
    }

    /// The exposition (text format 0.0.4) of every device.
    pub fn render(&self) -> String {
        let mut fams: BTreeMap<String, Family> = BTreeMap::new();
        let mut sample = |name: &str,
                          help: &dyn Fn() -> String,
                          counter: bool,
                          labels: &str,
                          extra: Option<(&str, &str)>,
                          v: f64| {
            if !fams.contains_key(name) {
                let f = Family {
                    help: help(),
                    counter,
                    samples: String::new(),
                };
                fams.insert(name.to_string(), f);
            }
            let Some(f) = fams.get_mut(name) else { return };
            let s = &mut f.samples;
            s.push_str(name);
            s.push('{');
            s.push_str(labels);
            if let Some((k, val)) = extra {
                s.push(',');
                s.push_str(k);
                s.push_str("=\"");
                escape_label(s, val);
                s.push('"');
            }
            s.push_str("} ");
            value(s, v);
            s.push('\n');
        };
        for (id, d) in &self.devices {
            let mut labels = String::from("device=\"");
            escape_label(&mut labels, id);
            labels.push_str("\",source=\"");
            escape_label(&mut labels, &d.source);
            labels.push('"');
            sample(
                "bmstap_reading_timestamp_seconds",
                &|| "Time of the newest reading (its ts), seconds since the epoch.".into(),
                false,
                &labels,
                None,
                d.ts_ms as f64 / 1000.0,
            );
            sample(
                "bmstap_device_up",
                &|| "1 after a reading, 0 after a status record reporting an error.".into(),
                false,
                &labels,
                None,
                if d.up { 1.0 } else { 0.0 },
            );
            let mut info_labels = labels.clone();
            for (k, v) in &d.info {
                info_labels.push(',');
                info_labels.push_str(k);
                info_labels.push_str("=\"");
                escape_label(&mut info_labels, v);
                info_labels.push('"');
            }
            sample(
                "bmstap_device_info",
                &|| "What the device says about itself (labels); always 1.".into(),
                false,
                &info_labels,
                None,
                1.0,
            );
            for (k, v) in &d.fields {
                match v {
                    Value::Number(n) => {
                        let Some(x) = n.as_f64() else { continue };
                        let m = &self.metric(k);
                        if m.counter && !counter_value(x * m.scale) {
                            continue;
                        }
                        sample(
                            &m.name,
                            &|| m.help.clone(),
                            m.counter,
                            &labels,
                            None,
                            x * m.scale,
                        );
                    }
                    Value::Bool(b) => {
                        let m = &self.metric(k);
                        let x = if *b { 1.0 } else { 0.0 };
                        sample(&m.name, &|| m.help.clone(), false, &labels, None, x);
                    }
                    Value::Array(items) => {
                        let m = &self.metric(k);
                        let label = m.item_label.unwrap_or("index");
                        for (i, item) in items.iter().enumerate() {
                            let Some(x) = item.as_f64() else { continue };
                            if m.counter && !counter_value(x * m.scale) {
                                continue;
                            }
                            let n = (i + 1).to_string();
                            sample(
                                &m.name,
                                &|| m.help.clone(),
                                m.counter,
                                &labels,
                                Some((label, &n)),
                                x * m.scale,
                            );
                        }
                    }
                    Value::String(s) => {
                        let (name, label) = string_family(k);
                        let help = || match catalog::lookup(k) {
                            Some(spec) => format!("{} (the value is the label)", spec.description),
                            None => format!("Field {k} (the value is the label)."),
                        };
                        sample(&name, &help, false, &labels, Some((&label, s)), 1.0);
                    }
                    Value::Null | Value::Object(_) => {}
                }
            }
        }
        let mut out = String::with_capacity(fams.values().map(|f| f.samples.len() + 200).sum());
        for (name, f) in &fams {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&f.help));
            let _ = writeln!(
                out,
                "# TYPE {name} {}",
                if f.counter { "counter" } else { "gauge" }
            );
            out.push_str(&f.samples);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_from_the_catalogue() {
        let n = |f: &str| metric_for(f).name;
        assert_eq!(n("pack_voltage"), "bmstap_pack_voltage_volts");
        assert_eq!(n("pack_current"), "bmstap_pack_current_amperes");
        assert_eq!(n("soc"), "bmstap_soc_percent");
        assert_eq!(n("cell_voltages"), "bmstap_cell_voltage_volts");
        assert_eq!(n("temperatures"), "bmstap_temperature_celsius");
        assert_eq!(n("temperature_pcb"), "bmstap_temperature_pcb_celsius");
        assert_eq!(
            n("cell_voltage_delta_mv"),
            "bmstap_cell_voltage_delta_volts"
        );
        assert_eq!(metric_for("cell_voltage_delta_mv").scale, 0.001);
        assert_eq!(
            n("energy_charged_kwh"),
            "bmstap_energy_charged_joules_total"
        );
        assert!(metric_for("energy_charged_kwh").counter);
        assert_eq!(n("cycle_count"), "bmstap_cycles_total");
        assert_eq!(n("capacity_ah"), "bmstap_capacity_coulombs");
        assert_eq!(metric_for("capacity_ah").scale, 3600.0);
        assert_eq!(n("cell_count"), "bmstap_cells");
        assert_eq!(n("power"), "bmstap_power_watts");
        assert_eq!(n("time_to_full"), "bmstap_time_to_full_seconds");
        assert_eq!(n("warning_cell_ov"), "bmstap_warning_cell_ov");
        assert_eq!(n("cell_lowest"), "bmstap_cell_lowest");
        assert_eq!(n("packs_total"), "bmstap_packs");
        assert_eq!(n("weird-name.x"), "bmstap_weird_name_x");
        // every catalogue field gets a valid, unique name
        let mut seen = std::collections::HashSet::new();
        for f in crate::catalog::CATALOG {
            let m = metric_for(f.name);
            assert!(
                m.name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{}",
                m.name
            );
            assert!(seen.insert(m.name.clone()), "{} twice", m.name);
            assert_eq!(m.counter, m.name.ends_with("_total"), "{}", m.name);
        }
    }

    #[test]
    fn sanitizing_and_escaping() {
        assert_eq!(sanitize("a-b c.d"), "a_b_c_d");
        assert_eq!(sanitize("1x"), "_1x");
        assert_eq!(sanitize(""), "_");
        let mut s = String::new();
        escape_label(&mut s, "a\"b\\c\nd");
        assert_eq!(s, "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn exposition_of_a_reading() {
        let now = Instant::now();
        let mut r = Registry::new();
        r.update(
            &json!({"type":"reading","ts":"2024-05-17T23:05:39.069Z","source":"eflex",
                "device":"rack-1","info":{"model":"eFlex \"5.4\""},
                "fields":{"pack_voltage":53.1,"soc":69,"cell_voltages":[3.321,3.32],
                          "cell_voltage_delta_mv":1,"warning_cell_ov":true,"state":"idle",
                          "energy_charged_kwh":1.5,"x":{"nested":1}}}),
            now,
        )
        .unwrap();
        let text = r.render();
        let l = "device=\"rack-1\",source=\"eflex\"";
        for want in [
            format!("# TYPE bmstap_pack_voltage_volts gauge\nbmstap_pack_voltage_volts{{{l}}} 53.1\n"),
            format!("bmstap_soc_percent{{{l}}} 69\n"),
            format!("# TYPE bmstap_cell_voltage_volts gauge\nbmstap_cell_voltage_volts{{{l},cell=\"1\"}} 3.321\nbmstap_cell_voltage_volts{{{l},cell=\"2\"}} 3.32\n"),
            format!("bmstap_cell_voltage_delta_volts{{{l}}} 0.001\n"),
            format!("bmstap_warning_cell_ov{{{l}}} 1\n"),
            format!("bmstap_state_info{{{l},state=\"idle\"}} 1\n"),
            format!("# TYPE bmstap_energy_charged_joules_total counter\nbmstap_energy_charged_joules_total{{{l}}} 5400000\n"),
            format!("bmstap_reading_timestamp_seconds{{{l}}} 1715987139.069\n"),
            format!("bmstap_device_info{{{l},model=\"eFlex \\\"5.4\\\"\"}} 1\n"),
            format!("bmstap_device_up{{{l}}} 1\n"),
        ] {
            assert!(text.contains(&want), "{want}\nnot in\n{text}");
        }
        assert!(!text.contains("nested"));
        // one HELP and TYPE per family
        assert_eq!(text.matches("# TYPE bmstap_cell_voltage_volts ").count(), 1);
    }

    #[test]
    fn newest_wins_status_marks_down_stale_devices_go() {
        let t0 = Instant::now();
        let mut r = Registry::new();
        let reading = |d: &str, v: f64| {
            json!({"type":"reading","ts":"2024-05-17T23:05:39.069Z","source":"lp4","device":d,
                   "fields":{"pack_voltage":v}})
        };
        r.update(&reading("a", 1.0), t0).unwrap();
        r.update(&reading("b", 2.0), t0).unwrap();
        r.update(&reading("a", 3.0), t0 + Duration::from_secs(5))
            .unwrap();
        let text = r.render();
        assert!(text.contains("bmstap_pack_voltage_volts{device=\"a\",source=\"lp4\"} 3\n"));
        assert!(!text.contains("} 1\nbmstap_pack_voltage_volts{device=\"a\""));
        r.update(&json!({"type":"status","device":"b","error":"timeout"}), t0)
            .unwrap();
        assert!(r
            .render()
            .contains("bmstap_device_up{device=\"b\",source=\"lp4\"} 0\n"));
        assert_eq!(
            r.expire(t0 + Duration::from_secs(9), Duration::from_secs(10)),
            Vec::<String>::new()
        );
        assert_eq!(
            r.expire(t0 + Duration::from_secs(10), Duration::from_secs(10)),
            vec!["b".to_string()]
        );
        assert!(!r.render().contains("device=\"b\""));
        assert_eq!(r.len(), 1);
        for bad in [
            json!({"fields":{}}),
            json!({"type":"reading","ts":"2024-05-17T23:05:39Z","fields":{}}),
            json!({"type":"reading","device":"d","fields":{}}),
            json!({"type":"reading","device":"d","ts":"2024-05-17T23:05:39Z"}),
            json!({"type":"nonsense"}),
        ] {
            assert!(r.update(&bad, t0).is_err(), "{bad}");
        }
    }

    #[test]
    fn two_fields_never_make_one_series() {
        let mut r = Registry::new();
        let intake = r
            .update(
                &json!({"type":"reading","ts":"2024-05-17T23:05:39.069Z","source":"x","device":"d",
                    "fields":{"a-b":1,"a_b":2,"reading_timestamp_seconds":5,"device_up":0,
                              "device_info":"x","state":"idle","state_info":3,"pack_voltage":50,
                              "pack_voltage_volts":51}}),
                Instant::now(),
            )
            .unwrap();
        let text = r.render();
        let mut seen = std::collections::HashSet::new();
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let series = l.rsplit_once(' ').unwrap().0;
            assert!(seen.insert(series.to_string()), "{series} twice in\n{text}");
        }
        assert!(
            text.contains("bmstap_pack_voltage_volts{device=\"d\",source=\"x\"} 50\n"),
            "{text}"
        );
        assert!(
            text.contains("bmstap_a_b{device=\"d\",source=\"x\"} 1\n"),
            "{text}"
        );
        assert!(text.contains(
            "bmstap_reading_timestamp_seconds{device=\"d\",source=\"x\"} 1715987139.069\n"
        ));
        let dropped: Vec<&str> = intake.clashes.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            dropped,
            [
                "a_b",
                "device_up",
                "pack_voltage_volts",
                "reading_timestamp_seconds",
                "state_info"
            ]
        );
        assert_eq!(intake.clashes[0].2, "field a-b");
        assert_eq!(intake.clashes[1].2, "the exporter itself");
        assert_eq!(intake.clashes[2].2, "field pack_voltage");
    }

    #[test]
    fn infinities_only_where_prometheus_takes_them() {
        let mut r = Registry::new();
        r.update(
            &json!({"type":"reading","ts":"2024-05-17T23:05:39.069Z","source":"x","device":"d",
                "fields":{"capacity_ah":1e308,"remaining_ah":-1e308,
                          "energy_charged_kwh":1e308,"energy_discharged_kwh":-5.0,"cycle_count":3}}),
            Instant::now(),
        )
        .unwrap();
        let text = r.render();
        assert!(
            text.contains("bmstap_capacity_coulombs{device=\"d\",source=\"x\"} +Inf\n"),
            "{text}"
        );
        assert!(text.contains(" -Inf\n"), "{text}");
        assert!(!text.contains("inf\n"), "{text}");
        for l in text.lines().filter(|l| l.contains("_total{")) {
            assert!(!l.ends_with("Inf") && !l.contains("} -"), "{l}");
        }
        assert!(text.contains("bmstap_cycles_total{device=\"d\",source=\"x\"} 3\n"));
    }

    #[test]
    fn at_most_max_devices_and_a_generation_per_change() {
        let t0 = Instant::now();
        let mut r = Registry::with_max_devices(2);
        let reading = |d: &str| {
            json!({"type":"reading","ts":"2024-05-17T23:05:39.069Z","source":"s","device":d,
                   "fields":{"soc":1}})
        };
        let g0 = r.generation();
        assert!(!r.update(&reading("a"), t0).unwrap().refused);
        assert!(!r.update(&reading("b"), t0).unwrap().refused);
        assert!(r.update(&reading("c"), t0).unwrap().refused);
        assert!(
            !r.update(&reading("a"), t0 + Duration::from_secs(5))
                .unwrap()
                .refused
        );
        assert_eq!(r.len(), 2);
        let g1 = r.generation();
        assert!(g1 > g0);
        r.update(&json!({"type":"frame"}), t0).unwrap();
        assert_eq!(r.generation(), g1, "nothing changed");
        assert_eq!(
            r.expire(t0 + Duration::from_secs(3), Duration::from_secs(3)),
            ["b"]
        );
        assert!(r.generation() > g1);
        assert!(!r.update(&reading("c"), t0).unwrap().refused, "room again");
    }

    #[test]
    fn hostile_device_ids_and_strings() {
        let mut r = Registry::new();
        r.update(
            &json!({"type":"reading","ts":"2024-05-17T23:05:39.069Z","source":"s\"\\\n",
                "device":"} 1\n# evil","fields":{"9 bad-name":1,"device":"x","free text":"a\nb"}}),
            Instant::now(),
        )
        .unwrap();
        let text = r.render();
        let l = "device=\"} 1\\n# evil\",source=\"s\\\"\\\\\\n\"";
        assert!(
            text.contains(&format!("bmstap__9_bad_name{{{l}}} 1\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("bmstap_device_info{{{l},value=\"x\"}} 1\n"))
                || text.contains(&format!("bmstap_device_info{{{l}}} 1\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "bmstap_free_text_info{{{l},free_text=\"a\\nb\"}} 1\n"
            )),
            "{text}"
        );
        // every line is a comment or a sample: no raw newline escaped into the output
        for line in text.lines() {
            assert!(
                line.starts_with("# HELP ")
                    || line.starts_with("# TYPE ")
                    || line.starts_with("bmstap_"),
                "{line}"
            );
        }
    }
}
