//! Home Assistant MQTT messages for readings (protocols.md §6): the flattened state payload
//! and the device-based discovery config. Pure: topics and JSON in, no connection.
//!
//! ```text
//! bmstap/rack-1/state            {"pack_voltage":53.66,"soc":97,"cell_01_voltage":3.354,...}   retained
//! bmstap/rack-1/availability     online | offline                                             retained
//! bmstap/bridge/availability     online | offline (last will)                                 retained
//! homeassistant/device/bmstap_rack-1/config   {"dev":{...},"o":{...},"cmps":{...}}            retained
//! ```

use crate::catalog::{self, Kind};
use serde_json::{json, Map, Value};

/// Topic layout.
#[derive(Debug, Clone)]
pub struct Topics {
    pub prefix: String,
    pub discovery_prefix: String,
}

impl Topics {
    /// The bridge's own level under the prefix (`<prefix>/bridge/availability`): never a
    /// device's.
    pub const BRIDGE: &'static str = "bridge";

    pub fn state(&self, device: &str) -> String {
        format!("{}/{device}/state", self.prefix)
    }
    pub fn availability(&self, device: &str) -> String {
        format!("{}/{device}/availability", self.prefix)
    }
    pub fn bridge(&self) -> String {
        format!("{}/{}/availability", self.prefix, Self::BRIDGE)
    }
    pub fn discovery(&self, device: &str) -> String {
        format!(
            "{}/device/{}/config",
            self.discovery_prefix,
            unique(&self.prefix, device)
        )
    }
}

fn unique(prefix: &str, device: &str) -> String {
    let p: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{p}_{device}")
}

/// The name of item `i` (0-based) of an array field: `cell_voltages` → `cell_01_voltage`,
/// `temperatures` → `temperature_01`, anything else `<name>_01`.
pub fn item_name(field: &str, i: usize) -> String {
    let n = i + 1;
    match field {
        "cell_voltages" => format!("cell_{n:02}_voltage"),
        "temperatures" => format!("temperature_{n:02}"),
        other => format!("{other}_{n:02}"),
    }
}

/// The state payload as JSON bytes, written directly (one per reading, so on the hot path);
/// the reading's fields with arrays flattened into numbered items.
pub fn write_state(fields: &Map<String, Value>, out: &mut Vec<u8>) {
    use std::io::Write;
    out.push(b'{');
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b',');
        }
        first = false;
    };
    for (k, v) in fields {
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    sep(out);
                    let n = i + 1;
                    let _ = match k.as_str() {
                        "cell_voltages" => write!(out, "\"cell_{n:02}_voltage\":"),
                        "temperatures" => write!(out, "\"temperature_{n:02}\":"),
                        other => {
                            let _ = serde_json::to_writer(&mut *out, &format!("{other}_{n:02}"));
                            write!(out, ":")
                        }
                    };
                    let _ = serde_json::to_writer(&mut *out, item);
                }
            }
            other => {
                sep(out);
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                let _ = serde_json::to_writer(&mut *out, other);
            }
        }
    }
    // One problem sensor and the list of active problems, for one automation on any alarm.
    if fields.iter().any(|(k, v)| is_problem_flag(k, v)) {
        let active: Vec<String> = fields
            .iter()
            .filter(|(k, v)| *k != PROBLEM && is_problem_flag(k, v) && v.as_bool() == Some(true))
            .map(|(k, _)| problem_name(k))
            .collect();
        // A reading that has its own `problem` flag (readings-bank's bank) keeps it: it means
        // the same, and a key is written once.
        if !fields.contains_key(PROBLEM) {
            sep(out);
            let _ = write!(out, "\"{PROBLEM}\":{}", !active.is_empty());
        }
        sep(out);
        let mut list = if active.is_empty() {
            "none".to_string()
        } else {
            active.join(", ")
        };
        // Home Assistant takes states of up to 255 characters.
        if list.chars().count() > MAX_STATE {
            list = list.chars().take(MAX_STATE - 1).collect::<String>() + "…";
        }
        let _ = write!(out, "\"{PROBLEMS}\":");
        let _ = serde_json::to_writer(&mut *out, &list);
    }
    out.push(b'}');
}

/// State key of the device's "any problem" binary sensor.
pub const PROBLEM: &str = "problem";
/// The longest state Home Assistant keeps, in characters.
const MAX_STATE: usize = 255;
/// State key of the list of active problems ("warning: cell over-voltage, …" or "none").
pub const PROBLEMS: &str = "problems";

/// A boolean that reports a problem: a catalogue flag, or by convention any boolean named
/// `warning_*`, `protection_*` or `alarm_*`.
pub fn is_problem_flag(key: &str, v: &Value) -> bool {
    // The prefix first: it is what every catalogue flag has, and cheap (every field of every
    // reading comes here).
    v.is_boolean()
        && (["warning_", "protection_", "alarm_"]
            .iter()
            .any(|p| key.starts_with(p))
            || catalog::lookup(key).is_some_and(|spec| {
                spec.kind == Kind::Flag && spec.device_class == Some("problem")
            }))
}

/// How an active problem is listed: the catalogue's description ("Warning: cell over-voltage."
/// → "warning: cell over-voltage"), else the entity name in lower case.
fn problem_name(key: &str) -> String {
    let text = match catalog::lookup(key) {
        Some(spec) => spec
            .description
            .split(" (")
            .next()
            .unwrap_or(spec.description),
        None => return entity_name(key).to_lowercase(),
    };
    let text = text.trim_end_matches('.');
    let mut c = text.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Do `keys` (from [`state_keys`]) still describe `fields`? Checked without allocating.
pub fn same_keys(fields: &Map<String, Value>, keys: &[Key]) -> bool {
    let mut it = keys.iter();
    let mut problems = false;
    for (k, v) in fields {
        let n = match v {
            Value::Array(items) => items.len(),
            _ => 1,
        };
        problems |= is_problem_flag(k, v);
        for _ in 0..n {
            match it.next() {
                Some(key)
                    if key.field == *k && (fits(key.shape, v) || key.shape == shape(k, v)) => {}
                _ => return false,
            }
        }
    }
    if problems {
        // As state_keys adds them: the summary keys a field of the same name does not take.
        for (key, shape) in [(PROBLEM, Shape::AnyProblem), (PROBLEMS, Shape::ProblemList)] {
            if !fields.contains_key(key) && !matches!(it.next(), Some(k) if k.shape == shape) {
                return false;
            }
        }
    }
    it.next().is_none()
}

/// Could a value of this JSON type have this shape? (The cheap check of [`same_keys`].)
fn fits(shape: Shape, v: &Value) -> bool {
    matches!(
        (shape, v),
        (Shape::Number, Value::Number(_) | Value::Array(_))
            | (Shape::Text, Value::String(_))
            | (Shape::Flag, Value::Bool(_))
    ) || (shape == Shape::ProblemFlag && v.is_boolean())
}

/// Words of field names written out in entity names (whole words only: `overcurrent` stays).
const WORDS: &[(&str, &str)] = &[
    ("ov", "over-voltage"),
    ("uv", "under-voltage"),
    ("oc", "over-current"),
    ("ot", "over-temperature"),
    ("ut", "under-temperature"),
    ("temp", "temperature"),
    ("mos", "MOSFET"),
    ("pcb", "PCB"),
    ("bms", "BMS"),
    ("soc", "state of charge"),
    ("soh", "state of health"),
];

/// Unit words dropped from the end of a name (Home Assistant shows the unit).
const UNIT_WORDS: &[&str] = &["ah", "mv", "kwh", "wh", "pct"];

/// Names that read better than their words.
const NAMES: &[(&str, &str)] = &[
    ("temperature_pcb", "BMS board temperature"),
    ("remaining_ah", "Remaining capacity"),
    ("capacity_ah", "Full-charge capacity"),
    ("cell_voltage_delta_mv", "Cell voltage delta"),
    (PROBLEM, "Problem"),
    (PROBLEMS, "Active problems"),
];

/// A human entity name (Home Assistant adds the device name itself): the key's words, with
/// abbreviations written out word by word and a unit word at the end dropped.
pub fn entity_name(key: &str) -> String {
    if let Some((_, n)) = NAMES.iter().find(|(k, _)| *k == key) {
        return n.to_string();
    }
    let mut words: Vec<&str> = key.split('_').filter(|w| !w.is_empty()).collect();
    if words.len() > 1 && words.last().is_some_and(|w| UNIT_WORDS.contains(w)) {
        words.pop();
    }
    let words: Vec<&str> = words
        .into_iter()
        .map(|w| WORDS.iter().find(|(a, _)| *a == w).map_or(w, |(_, b)| *b))
        .collect();
    let words = words.join(" ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// What a device says about itself, for the `dev` block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceInfo {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    pub hardware: Option<String>,
    pub serial: Option<String>,
}

impl DeviceInfo {
    pub fn from_json(info: Option<&Value>) -> DeviceInfo {
        let get = |k: &str| {
            info.and_then(|i| i.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        DeviceInfo {
            manufacturer: get("manufacturer"),
            model: get("model"),
            firmware: get("firmware"),
            hardware: get("hardware"),
            serial: get("serial"),
        }
    }
}

/// What kind of entity a state key becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A number (or an item of an array of numbers): `sensor`.
    Number,
    /// A string: `sensor` (an `enum` sensor where the catalogue lists its options).
    Text,
    /// A warning/protection/alarm bit: `binary_sensor` of class `problem`.
    ProblemFlag,
    /// Another boolean: `binary_sensor`.
    Flag,
    /// On when any problem flag is on: `binary_sensor` of class `problem`.
    AnyProblem,
    /// The active problems by name, or "none": `sensor`.
    ProblemList,
}

/// One flattened state key, the field it comes from, and its entity's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub key: String,
    pub field: String,
    pub shape: Shape,
}

/// The shape of a field's entities: from the catalogue, else by the convention for fields
/// outside it (docs/readings.md): booleans named `warning_*`, `protection_*` or `alarm_*` are
/// problems, other booleans binary sensors, numbers measurements, anything else text.
pub fn shape(field: &str, v: &Value) -> Shape {
    if let Some(spec) = catalog::lookup(field) {
        return match spec.kind {
            Kind::Number | Kind::Array => Shape::Number,
            // A catalogue flag is a problem unless its class says otherwise (charge_enable).
            Kind::Flag if spec.device_class == Some("problem") => Shape::ProblemFlag,
            Kind::Flag => Shape::Flag,
            Kind::Text => Shape::Text,
        };
    }
    match v {
        Value::Bool(_) if is_problem_flag(field, v) => Shape::ProblemFlag,
        Value::Bool(_) => Shape::Flag,
        Value::Number(_) | Value::Array(_) => Shape::Number,
        _ => Shape::Text,
    }
}

/// Home Assistant's default entity id for a key: short and stable, from the device id and
/// the key (not from the model string in the device name).
pub fn default_entity_id(platform: &str, device: &str, key: &str) -> String {
    format!("{platform}.{}_{}", device.replace('-', "_"), slug(key))
}

/// Is `key` a plain name (`[a-z_][a-z0-9_]*`), as every catalogue field is? Fields outside
/// the catalogue may be anything.
fn plain(key: &str) -> bool {
    key.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `key` as an entity id or component id part: lower case, anything but `[a-z0-9_]` as `_`.
fn slug(key: &str) -> String {
    if plain(key) {
        return key.to_string();
    }
    key.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect()
}

/// The template expression for state key `key`: `value_json.soc`, or for a name Jinja would
/// misread (`Bus Voltage`, `cell-temp`, `2nd`) `value_json["Bus Voltage"]`.
fn accessor(key: &str) -> String {
    if plain(key) {
        format!("value_json.{key}")
    } else {
        format!("value_json[{}]", Value::String(key.to_string()))
    }
}

/// A field in seconds that Home Assistant shows as a duration (the time estimates).
fn is_duration(s: &catalog::FieldSpec) -> bool {
    s.unit == Some("s") && s.device_class == Some("duration")
}

/// A sensor's value template: the state key as it is; in hours for durations; for an enum,
/// the value only when it is one of the options (else None: Home Assistant shows unknown,
/// rather than logging a value outside the options).
fn value_template(key: &str, shape: Shape, spec: Option<&catalog::FieldSpec>) -> String {
    let a = accessor(key);
    match spec {
        Some(s) if shape == Shape::Number && is_duration(s) => {
            format!("{{{{ ({a} / 3600) | round(2) if {a} is defined else None }}}}")
        }
        Some(s) if shape == Shape::Text && catalog::options(s).is_some() => {
            let ops: Vec<String> = catalog::options(s)
                .unwrap_or_default()
                .iter()
                .map(|o| format!("'{o}'"))
                .collect();
            format!(
                "{{{{ {a} if {a} is defined and {a} in [{}] else None }}}}",
                ops.join(", ")
            )
        }
        _ => format!("{{{{ {a} }}}}"),
    }
}

/// The device-based discovery config for one device: one component per state key.
pub fn discovery(
    topics: &Topics,
    device: &str,
    source: &str,
    info: &DeviceInfo,
    keys: &[Key],
    expire_after: u64,
) -> Value {
    let uid = unique(&topics.prefix, device);
    let mut cmps = Map::new();
    for k in keys {
        let key = &k.key;
        let spec = catalog::lookup(&k.field);
        let binary = matches!(
            k.shape,
            Shape::ProblemFlag | Shape::Flag | Shape::AnyProblem
        );
        let platform = if binary { "binary_sensor" } else { "sensor" };
        let mut c = Map::new();
        c.insert("p".into(), json!(platform));
        c.insert("uniq_id".into(), json!(format!("{uid}_{key}")));
        c.insert(
            "def_ent_id".into(),
            json!(default_entity_id(platform, device, key)),
        );
        c.insert("name".into(), json!(entity_name(key)));
        if binary {
            if k.shape != Shape::Flag {
                c.insert("dev_cla".into(), json!("problem"));
            }
            c.insert(
                "val_tpl".into(),
                json!(format!("{{{{ 'ON' if {} else 'OFF' }}}}", accessor(key))),
            );
        } else {
            c.insert("val_tpl".into(), json!(value_template(key, k.shape, spec)));
        }
        match (k.shape, spec) {
            (Shape::Number, Some(s)) if is_duration(s) => {
                // Shown in hours: "2.6 h" reads better than "9,360 s" (the template converts).
                c.insert("unit_of_meas".into(), json!("h"));
                c.insert("dev_cla".into(), json!("duration"));
                if let Some(sc) = s.state_class {
                    c.insert("stat_cla".into(), json!(sc));
                }
                c.insert("sug_dsp_prc".into(), json!(1));
            }
            (Shape::Number | Shape::Text, Some(s)) => {
                if let Some(u) = s.unit {
                    c.insert("unit_of_meas".into(), json!(u));
                }
                if let Some(d) = s.device_class {
                    c.insert("dev_cla".into(), json!(d));
                }
                if let Some(ops) = catalog::options(s) {
                    c.insert("ops".into(), json!(ops));
                }
                if let Some(sc) = s.state_class {
                    c.insert("stat_cla".into(), json!(sc));
                }
                if let Some(p) = catalog::display_precision(s) {
                    c.insert("sug_dsp_prc".into(), json!(p));
                }
            }
            (Shape::Number, None) => {
                c.insert("stat_cla".into(), json!("measurement"));
            }
            _ => {}
        }
        if let Some(cat) = spec.and_then(catalog::entity_category) {
            c.insert("ent_cat".into(), json!(cat));
        }
        c.insert("exp_aft".into(), json!(expire_after));
        cmps.insert(slug(key), Value::Object(c));
    }
    let mut dev = Map::new();
    dev.insert("ids".into(), json!([uid]));
    let model = info.model.clone().unwrap_or_else(|| source.to_string());
    dev.insert("name".into(), json!(format!("{model} {device}")));
    for (k, v) in [
        ("mf", &info.manufacturer),
        ("mdl", &info.model),
        ("sw", &info.firmware),
        ("hw", &info.hardware),
        ("sn", &info.serial),
    ] {
        if let Some(v) = v {
            dev.insert(k.into(), json!(v));
        }
    }
    json!({
        "dev": dev,
        "o": {"name": "bmstap", "sw": env!("CARGO_PKG_VERSION")},
        "avty": [{"t": topics.bridge()}, {"t": topics.availability(device)}],
        "avty_mode": "all",
        "stat_t": topics.state(device),
        "qos": 1,
        "cmps": cmps,
    })
}

/// The flattened state keys of a reading's fields, each with its field and shape; then the
/// device's problem sensor and problem list when it has any problem flag.
pub fn state_keys(fields: &Map<String, Value>) -> Vec<Key> {
    let mut keys = Vec::new();
    let mut problems = false;
    for (k, v) in fields {
        let shape = shape(k, v);
        problems |= is_problem_flag(k, v);
        match v {
            Value::Array(items) => {
                for i in 0..items.len() {
                    keys.push(Key {
                        key: item_name(k, i),
                        field: k.clone(),
                        shape,
                    });
                }
            }
            _ => keys.push(Key {
                key: k.clone(),
                field: k.clone(),
                shape,
            }),
        }
    }
    if problems {
        for (key, shape) in [(PROBLEM, Shape::AnyProblem), (PROBLEMS, Shape::ProblemList)] {
            if fields.contains_key(key) {
                continue; // the reading's own field of that name serves (the bank's `problem`)
            }
            keys.push(Key {
                key: key.into(),
                field: key.into(),
                shape,
            });
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entity name of every catalogue field (and of every array item) reads as plain
    /// words: each word is one of the field's own words or a whole-word expansion of one,
    /// never a substitution inside a word ("Protection over-voltageercurrent").
    #[test]
    fn every_catalogue_name_reads_as_plain_words() {
        for f in catalog::CATALOG {
            let keys: Vec<String> = match f.kind {
                Kind::Array => (0..2).map(|i| item_name(f.name, i)).collect(),
                _ => vec![f.name.to_string()],
            };
            for key in keys {
                let name = entity_name(&key);
                assert!(!name.is_empty() && !name.contains("  ") && !name.contains('_'));
                assert!(name.starts_with(|c: char| c.is_uppercase()), "{name}");
                if NAMES.iter().any(|(k, _)| *k == key) {
                    continue;
                }
                let allowed: Vec<String> = key
                    .split('_')
                    .flat_map(|w| {
                        let out = WORDS.iter().find(|(a, _)| *a == w).map_or(w, |(_, b)| *b);
                        out.split(' ').map(str::to_lowercase).collect::<Vec<_>>()
                    })
                    .collect();
                for word in name.split(' ') {
                    assert!(
                        allowed.contains(&word.to_lowercase()),
                        "{key}: \"{name}\" has \"{word}\""
                    );
                }
            }
        }
        assert_eq!(
            entity_name("protection_overcurrent"),
            "Protection overcurrent"
        );
        assert_eq!(
            entity_name("protection_overvoltage"),
            "Protection overvoltage"
        );
        assert_eq!(
            entity_name("warning_mos_ot"),
            "Warning MOSFET over-temperature"
        );
        assert_eq!(entity_name("design_capacity_ah"), "Design capacity");
        assert_eq!(entity_name("energy_charged_kwh"), "Energy charged");
    }

    /// Every component of every catalogue field (and of the conventions) follows Home
    /// Assistant's MQTT schema rules as far as they can be checked without it: platform and
    /// classes that go together, no unit or state class on binary sensors and enums, options
    /// for enums, an integer display precision, a default entity id `platform.[a-z0-9_]+`, a
    /// known entity category, an expiry on every entity.
    #[test]
    fn discovery_follows_home_assistant_schema_rules() {
        let mut f = Map::new();
        for spec in catalog::CATALOG {
            let v = match spec.kind {
                Kind::Number => json!(1.5),
                Kind::Array => json!([3.3, 3.31]),
                Kind::Flag => json!(true),
                Kind::Text => json!("charging"),
            };
            f.insert(spec.name.to_string(), v);
        }
        f.insert("alarm_new_thing".into(), json!(false));
        f.insert("relay_on".into(), json!(true));
        f.insert("new_reading".into(), json!(7));
        let keys = state_keys(&f);
        let d = discovery(
            &topics(),
            "rack-1",
            "lp4",
            &DeviceInfo::default(),
            &keys,
            90,
        );
        let cmps = d["cmps"].as_object().unwrap();
        assert_eq!(cmps.len(), keys.len());
        for (key, c) in cmps {
            let p = c["p"].as_str().unwrap();
            assert!(p == "sensor" || p == "binary_sensor", "{key}");
            assert_eq!(c["exp_aft"], 90, "{key}");
            let id = c["def_ent_id"].as_str().unwrap();
            let slug = id.strip_prefix(&format!("{p}.")).expect("platform.slug");
            assert!(slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            if let Some(cat) = c.get("ent_cat") {
                assert_eq!(cat, "diagnostic", "{key}");
            }
            if let Some(prc) = c.get("sug_dsp_prc") {
                assert!(prc.as_u64().is_some_and(|p| p <= 3), "{key}");
                assert!(c.get("unit_of_meas").is_some(), "{key}");
            }
            if p == "binary_sensor" || c["dev_cla"] == "enum" {
                assert!(
                    c.get("unit_of_meas").is_none() && c.get("stat_cla").is_none(),
                    "{key}"
                );
            }
            if c["dev_cla"] == "enum" {
                assert!(!c["ops"].as_array().unwrap().is_empty());
            }
            if c.get("unit_of_meas").is_some() && p == "sensor" {
                assert!(
                    c.get("sug_dsp_prc").is_some(),
                    "{key}: unit without precision"
                );
            }
        }
        let ids: std::collections::HashSet<&str> = cmps
            .values()
            .map(|c| c["def_ent_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), cmps.len(), "default entity ids are unique");
    }

    /// Fields outside the catalogue get discovery by convention (docs/readings.md).
    #[test]
    fn unknown_fields_follow_the_convention() {
        let f: Map<String, Value> = serde_json::from_str(
            r#"{"alarm_fan_stuck":true,"heater_on":false,"fan_speed":1200,"mode":"eco"}"#,
        )
        .unwrap();
        let keys = state_keys(&f);
        let d = discovery(&topics(), "x", "new", &DeviceInfo::default(), &keys, 60);
        let c = &d["cmps"];
        assert_eq!(c["alarm_fan_stuck"]["p"], "binary_sensor");
        assert_eq!(c["alarm_fan_stuck"]["dev_cla"], "problem");
        assert_eq!(c["heater_on"]["p"], "binary_sensor");
        assert!(c["heater_on"].get("dev_cla").is_none());
        assert_eq!(c["fan_speed"]["p"], "sensor");
        assert_eq!(c["fan_speed"]["stat_cla"], "measurement");
        assert_eq!(c["mode"]["p"], "sensor");
        assert!(c["mode"].get("stat_cla").is_none());
        let mut state = Vec::new();
        write_state(&f, &mut state);
        let state: Value = serde_json::from_slice(&state).unwrap();
        assert_eq!(state["problem"], true);
        assert_eq!(state["problems"], "alarm fan stuck");
    }

    /// Home Assistant keeps states of up to 255 characters: a long list is cut short.
    #[test]
    fn the_problem_list_fits_a_state() {
        let mut f = Map::new();
        for i in 0..30 {
            f.insert(format!("warning_sensor_{i:02}_out_of_range"), json!(true));
        }
        let mut state = Vec::new();
        write_state(&f, &mut state);
        let state: Value = serde_json::from_slice(&state).unwrap();
        let list = state["problems"].as_str().unwrap();
        assert_eq!(list.chars().count(), 255);
        assert!(list.starts_with("warning sensor 00 out of range, "));
        assert!(list.ends_with('…'));
    }

    /// The Energy dashboard takes energy sensors of state_class total/total_increasing in an
    /// energy unit; power is a measurement in W.
    #[test]
    fn energy_dashboard_fields() {
        let f: Map<String, Value> = serde_json::from_str(
            r#"{"power":-512.3,"energy_charged_kwh":12.5,"energy_discharged_kwh":3.25,"time_to_empty":7200}"#,
        )
        .unwrap();
        let d = discovery(
            &topics(),
            "b",
            "bank",
            &DeviceInfo::default(),
            &state_keys(&f),
            60,
        );
        let c = &d["cmps"];
        for k in ["energy_charged_kwh", "energy_discharged_kwh"] {
            assert_eq!(c[k]["dev_cla"], "energy");
            assert_eq!(c[k]["stat_cla"], "total_increasing");
            assert_eq!(c[k]["unit_of_meas"], "kWh");
            assert!(c[k].get("ent_cat").is_none());
        }
        assert_eq!(c["power"]["dev_cla"], "power");
        assert_eq!(c["power"]["unit_of_meas"], "W");
        assert_eq!(c["power"]["stat_cla"], "measurement");
        assert_eq!(c["time_to_empty"]["dev_cla"], "duration");
        // Hours, not "7,200 s"; None (unknown) when the estimate is left out.
        assert_eq!(c["time_to_empty"]["unit_of_meas"], "h");
        assert_eq!(
            c["time_to_empty"]["val_tpl"],
            "{{ (value_json.time_to_empty / 3600) | round(2) if value_json.time_to_empty is defined else None }}"
        );
    }

    #[test]
    fn requests_are_not_problems_enums_have_no_unknown_and_grouping_is_consistent() {
        let f: Map<String, Value> = serde_json::from_str(
            r#"{"request_force_charge_1":true,"state":"charging","cell_highest":3,"cell_highest_device":"p2","charge_current_limit":100.0}"#,
        )
        .unwrap();
        let d = discovery(
            &topics(),
            "b",
            "pylon",
            &DeviceInfo::default(),
            &state_keys(&f),
            60,
        );
        let c = &d["cmps"];
        assert_eq!(c["request_force_charge_1"]["p"], "binary_sensor");
        assert!(c["request_force_charge_1"].get("dev_cla").is_none());
        assert!(!is_problem_flag("request_force_charge_1", &json!(true)));
        let ops = c["state"]["ops"].as_array().unwrap();
        assert!(!ops.contains(&json!("unknown")), "HA has its own unknown");
        let tpl = c["state"]["val_tpl"].as_str().unwrap();
        assert!(
            tpl.contains("in ['standby', 'idle', 'charging'") && tpl.ends_with("else None }}"),
            "{tpl}"
        );
        assert_eq!(
            c["cell_highest"]["ent_cat"],
            c["cell_highest_device"]["ent_cat"]
        );
        assert_eq!(c["charge_current_limit"]["sug_dsp_prc"], 1);
    }

    /// Reference for [`write_state`]: the state payload the reading's fields with arrays flattened into numbered items.
    fn state_payload(fields: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in fields {
            match v {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        out.insert(item_name(k, i), item.clone());
                    }
                }
                other => {
                    out.insert(k.clone(), other.clone());
                }
            }
        }
        out
    }

    fn topics() -> Topics {
        Topics {
            prefix: "bmstap".into(),
            discovery_prefix: "homeassistant".into(),
        }
    }

    #[test]
    fn names_outside_the_catalogue_are_quoted_in_templates_and_slugged_in_ids() {
        let mut f = Map::new();
        f.insert("Bus Voltage".into(), json!(1.5));
        f.insert("cell-temp".into(), json!(20));
        f.insert("2nd".into(), json!(true));
        f.insert("soc".into(), json!(50));
        let keys = state_keys(&f);
        let d = discovery(&topics(), "rack-1", "x", &DeviceInfo::default(), &keys, 90);
        let c = &d["cmps"];
        assert_eq!(
            c["bus_voltage"]["val_tpl"],
            "{{ value_json[\"Bus Voltage\"] }}"
        );
        assert_eq!(c["bus_voltage"]["def_ent_id"], "sensor.rack_1_bus_voltage");
        assert_eq!(c["cell_temp"]["val_tpl"], "{{ value_json[\"cell-temp\"] }}");
        assert_eq!(
            c["2nd"]["val_tpl"],
            "{{ 'ON' if value_json[\"2nd\"] else 'OFF' }}"
        );
        assert_eq!(c["soc"]["val_tpl"], "{{ value_json.soc }}");
    }

    #[test]
    fn flattens_arrays() {
        let f: Map<String, Value> = serde_json::from_str(
            r#"{"soc":97,"cell_voltages":[3.3,3.31],"temperatures":[20],"warning_cell_ov":false}"#,
        )
        .unwrap();
        let s = state_payload(&f);
        assert_eq!(s["cell_01_voltage"], 3.3);
        assert_eq!(s["cell_02_voltage"], 3.31);
        assert_eq!(s["temperature_01"], 20);
        assert_eq!(s["soc"], 97);
        let keys = state_keys(&f);
        assert!(keys
            .iter()
            .any(|k| k.key == "cell_02_voltage" && k.field == "cell_voltages"));
        assert!(same_keys(&f, &keys));
        assert!(!same_keys(&f, &keys[1..]));
        // A reading with its own `problem` flag (the bank's) keeps matching its keys.
        let mut bank = Map::new();
        bank.insert("soc".into(), json!(50));
        bank.insert(PROBLEM.into(), json!(false));
        let bank_keys = state_keys(&bank);
        assert_eq!(bank_keys.iter().filter(|k| k.key == PROBLEM).count(), 1);
        assert!(same_keys(&bank, &bank_keys));
        assert!(!same_keys(&f, &keys[..keys.len() - 1]));
        let mut direct = Vec::new();
        write_state(&f, &mut direct);
        let mut s = s;
        s.insert(PROBLEM.into(), json!(false));
        s.insert(PROBLEMS.into(), json!("none"));
        assert_eq!(
            serde_json::from_slice::<Value>(&direct).unwrap(),
            Value::Object(s)
        );
    }

    #[test]
    fn discovery_has_classes_from_the_catalogue() {
        let f: Map<String, Value> = serde_json::from_str(
            r#"{"pack_voltage":53.6,"soc":97,"cell_voltages":[3.3],"warning_cell_ov":false,"state":"charging","lifetime_discharge_energy":5}"#,
        )
        .unwrap();
        let info = DeviceInfo {
            manufacturer: Some("EG4".into()),
            model: Some("LFP".into()),
            ..Default::default()
        };
        let d = discovery(&topics(), "rack-1", "lp4", &info, &state_keys(&f), 60);
        assert_eq!(
            topics().discovery("rack-1"),
            "homeassistant/device/bmstap_rack-1/config"
        );
        assert_eq!(d["dev"]["ids"][0], "bmstap_rack-1");
        assert_eq!(d["dev"]["mf"], "EG4");
        assert_eq!(d["stat_t"], "bmstap/rack-1/state");
        let c = &d["cmps"];
        assert_eq!(c["pack_voltage"]["dev_cla"], "voltage");
        assert_eq!(c["pack_voltage"]["unit_of_meas"], "V");
        assert_eq!(c["pack_voltage"]["stat_cla"], "measurement");
        assert_eq!(c["pack_voltage"]["exp_aft"], 60);
        assert_eq!(c["soc"]["dev_cla"], "battery");
        assert_eq!(c["soc"]["name"], "State of charge");
        assert_eq!(c["cell_01_voltage"]["unit_of_meas"], "V");
        assert_eq!(
            c["cell_01_voltage"]["val_tpl"],
            "{{ value_json.cell_01_voltage }}"
        );
        assert_eq!(c["warning_cell_ov"]["p"], "binary_sensor");
        assert_eq!(c["warning_cell_ov"]["dev_cla"], "problem");
        assert_eq!(c["warning_cell_ov"]["name"], "Warning cell over-voltage");
        assert!(c["state"].get("stat_cla").is_none());
        assert_eq!(c["state"]["dev_cla"], "enum");
        assert!(c["state"]["ops"]
            .as_array()
            .unwrap()
            .contains(&json!("charging")));
        assert_eq!(c["state"]["exp_aft"], 60, "the state expires like the rest");
        assert_eq!(c["pack_voltage"]["sug_dsp_prc"], 2);
        assert_eq!(c["cell_01_voltage"]["sug_dsp_prc"], 3);
        assert_eq!(
            c["cell_01_voltage"]["def_ent_id"],
            "sensor.rack_1_cell_01_voltage"
        );
        assert_eq!(c["lifetime_discharge_energy"]["ent_cat"], "diagnostic");
        assert!(c["pack_voltage"].get("ent_cat").is_none());
        assert_eq!(c["problem"]["p"], "binary_sensor");
        assert_eq!(c["problem"]["dev_cla"], "problem");
        assert_eq!(c["problems"]["p"], "sensor");
        assert_eq!(c["problems"]["val_tpl"], "{{ value_json.problems }}");
        assert_eq!(
            c["lifetime_discharge_energy"]["stat_cla"],
            "total_increasing"
        );
        assert_eq!(c["pack_voltage"]["uniq_id"], "bmstap_rack-1_pack_voltage");
    }
}
