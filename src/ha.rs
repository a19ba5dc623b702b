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
        let mut active: Vec<String> = fields
            .iter()
            .filter(|(k, v)| *k != PROBLEM && is_problem_flag(k, v) && v.as_bool() == Some(true))
            .map(|(k, _)| problem_name(k))
            .collect();
        // A reading that has its own `problem` flag (readings-bank's bank) keeps it: it means
        // the same, and a key is written once. On, with nothing else to name, it is listed
        // itself: never Problem on beside Active problems none.
        match fields.get(PROBLEM) {
            None => {
                sep(out);
                let _ = write!(out, "\"{PROBLEM}\":{}", !active.is_empty());
            }
            Some(Value::Bool(true)) if active.is_empty() => active.push(PROBLEM.to_string()),
            Some(_) => {}
        }
        // A reading with its own list (the bank's, naming its packs' problems) keeps it.
        if !fields.contains_key(PROBLEMS) {
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
    }
    out.push(b'}');
}

/// State key of the device's "any problem" binary sensor.
pub const PROBLEM: &str = "problem";
/// The longest state Home Assistant keeps, in characters.
pub const MAX_STATE: usize = 255;
/// State key of the list of active problems ("warning cell over-voltage, …" or "none").
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

/// How an active problem is listed: its entity name with a small first letter
/// ("warning cell over-voltage"), so the list reads like the device's entities.
pub fn problem_name(key: &str) -> String {
    let name = entity_name(key);
    let mut c = name.chars();
    match c.next() {
        // A word in capitals (BMS, MOSFET) keeps them.
        Some(f) if !c.clone().next().is_some_and(char::is_uppercase) => {
            f.to_lowercase().collect::<String>() + c.as_str()
        }
        _ => name,
    }
}

/// Are all of `fields`' state keys among `keys` (a device's union, kept in the order of
/// [`merge_keys`]) with a shape that fits? Checked without allocating, walking both in order:
/// a reading whose fields come in another order is seen as not covered, and [`merge_keys`]
/// then finds it adds nothing.
pub fn covers(fields: &Map<String, Value>, keys: &[Key]) -> bool {
    let mut j = 0;
    let mut problems = false;
    for (k, v) in fields {
        let n = match v {
            Value::Array(items) => items.len(),
            _ => 1,
        };
        problems |= is_problem_flag(k, v);
        // The field's keys are together in `keys`, after those of the fields before it.
        while j < keys.len() && keys[j].field != *k && rank(keys[j].shape) == 0 {
            j += 1;
        }
        let mut m = 0;
        while j < keys.len() && keys[j].field == *k && rank(keys[j].shape) == 0 {
            if m < n && !(fits(keys[j].shape, v) || keys[j].shape == shape(k, v)) {
                return false;
            }
            m += 1;
            j += 1;
        }
        if m < n {
            return false;
        }
    }
    if problems {
        for (key, shape) in [(PROBLEM, Shape::AnyProblem), (PROBLEMS, Shape::ProblemList)] {
            if !fields.contains_key(key) && !keys[j..].iter().any(|k| k.shape == shape) {
                return false;
            }
        }
    }
    true
}

/// Where a key goes in a device's union: the fields' own keys first, then the problem
/// sensor, then the problem list.
fn rank(shape: Shape) -> u8 {
    match shape {
        Shape::AnyProblem => 1,
        Shape::ProblemList => 2,
        _ => 0,
    }
}

/// Adds `fields`' state keys to `keys`, the union of every key a device has had, so that a
/// field that comes and goes (`time_to_full` and `time_to_empty` with the sign of the
/// current) keeps its entity (unknown while absent) instead of changing the device's
/// components. A key whose shape changed takes the new shape. A union that would grow past
/// `max` keys starts again from this reading's keys. Returns whether `keys` changed.
pub fn merge_keys(keys: &mut Vec<Key>, fields: &Map<String, Value>, max: usize) -> bool {
    let now = state_keys(fields);
    let mut changed = false;
    let mut added = 0;
    for k in &now {
        match keys.iter_mut().find(|u| u.key == k.key) {
            Some(u) if u.shape == k.shape && u.field == k.field => {}
            Some(u) => {
                *u = k.clone();
                changed = true;
            }
            None => added += 1,
        }
    }
    if added == 0 {
        if changed {
            sort_keys(keys);
        }
        return changed;
    }
    if keys.len() + added > max {
        *keys = now;
        sort_keys(keys);
        return true;
    }
    for k in now {
        if !keys.iter().any(|u| u.key == k.key) {
            keys.push(k);
        }
    }
    sort_keys(keys);
    true
}

/// The order [`covers`] walks: by rank, then by field (a stable sort keeps array items in
/// order), as a reading's fields come (serde_json's map is ordered by name).
fn sort_keys(keys: &mut [Key]) {
    keys.sort_by(|a, b| {
        rank(a.shape)
            .cmp(&rank(b.shape))
            .then_with(|| a.field.cmp(&b.field))
    });
}

/// Could a value of this JSON type have this shape? (The cheap check of [`covers`].)
fn fits(shape: Shape, v: &Value) -> bool {
    matches!(
        (shape, v),
        (Shape::Number, Value::Number(_) | Value::Array(_))
            | (Shape::Text, Value::String(_))
            | (Shape::Flag, Value::Bool(_))
    ) || (shape == Shape::ProblemFlag && v.is_boolean())
}

/// Words of field names written out in entity names (whole words only), so that every
/// source names a thing alike: `overcurrent` (eg4-7e) and `oc` (lp4) are both "over-current",
/// `fet` (jbd) and `mos` (lp4) both "MOSFET", `min`/`max` "lowest"/"highest" as in the bank's
/// `cell_lowest`.
const WORDS: &[(&str, &str)] = &[
    ("ov", "over-voltage"),
    ("uv", "under-voltage"),
    ("oc", "over-current"),
    ("ot", "over-temperature"),
    ("ut", "under-temperature"),
    ("overvoltage", "over-voltage"),
    ("undervoltage", "under-voltage"),
    ("overcurrent", "over-current"),
    ("temp", "temperature"),
    ("env", "ambient"),
    ("comm", "communication"),
    ("unbalance", "imbalance"),
    ("mos", "MOSFET"),
    ("fet", "MOSFET"),
    ("pcb", "PCB"),
    ("bms", "BMS"),
    ("afe", "AFE"),
    ("rtc", "RTC"),
    ("eeprom", "EEPROM"),
    ("dip", "DIP"),
    ("id", "ID"),
    ("soc", "state of charge"),
    ("soh", "state of health"),
    ("min", "lowest"),
    ("max", "highest"),
];

/// Unit words dropped from the end of a name (Home Assistant shows the unit).
const UNIT_WORDS: &[&str] = &["ah", "mv", "kwh", "wh", "pct"];

/// Words that lead a name wherever the field has them: "Lowest cell voltage", not "Cell
/// voltage min" beside "Cell lowest".
const LEADING: &[&str] = &["lowest", "highest"];

/// Names that read better than their words.
const NAMES: &[(&str, &str)] = &[
    ("temperature_pcb", "BMS board temperature"),
    ("remaining_ah", "Remaining capacity"),
    ("capacity_ah", "Full-charge capacity"),
    ("cell_voltage_delta_mv", "Cell voltage delta"),
    ("pre_voltage", "Pre-voltage"),
    ("max_charge_current", "Requested charge current"),
    (PROBLEM, "Problem"),
    (PROBLEMS, "Active problems"),
];

/// A human entity name (Home Assistant adds the device name itself), by one rule for every
/// source: the key's words, with abbreviations written out word by word ([`WORDS`]), a unit
/// word at the end dropped, "lowest"/"highest" first, and a sensor's place before
/// "temperature" ("Ambient temperature", "Temperature 01"); [`NAMES`] where words do not do.
pub fn entity_name(key: &str) -> String {
    if let Some((_, n)) = NAMES.iter().find(|(k, _)| *k == key) {
        return n.to_string();
    }
    let mut words: Vec<&str> = key.split('_').filter(|w| !w.is_empty()).collect();
    if words.len() > 1 && words.last().is_some_and(|w| UNIT_WORDS.contains(w)) {
        words.pop();
    }
    let mut words: Vec<&str> = words
        .into_iter()
        .map(|w| WORDS.iter().find(|(a, _)| *a == w).map_or(w, |(_, b)| *b))
        .collect();
    // `temperature_env` → "Ambient temperature"; `temperature_01` stays "Temperature 01".
    if words.len() > 1
        && words[0] == "temperature"
        && !words[1].starts_with(|c: char| c.is_ascii_digit())
    {
        words.remove(0);
        words.push("temperature");
    }
    if let Some(i) = words.iter().position(|w| LEADING.contains(w)) {
        let w = words.remove(i);
        words.insert(0, w);
    }
    let words = words.join(" ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// How a source is shown where its readings carry no model or manufacturer: (source,
/// manufacturer, model).
const SOURCES: &[(&str, Option<&str>, &str)] = &[
    ("lp4", Some("EG4"), "LifePower4"),
    ("eg4-7e", Some("EG4"), "7E protocol battery"),
    ("eflex", Some("Fortress Power"), "eFlex"),
    // Many makers speak the Pylon CAN protocol: the reading names its own (0x35E).
    ("pylon", None, "Pylon CAN battery"),
    ("pylontech", Some("Pylontech"), "Pylontech battery"),
    ("jbd", Some("JBD"), "JBD BMS"),
    ("daly", Some("Daly"), "Daly BMS"),
    ("bank", Some("bmstap"), "Battery bank"),
];

/// The device's name: its model (or the source's) and its id, by one rule: the id alone
/// where it already holds a word of the model ("pylon-can0", not "Pylon CAN battery
/// pylon-can0"; "lp4bank", not "Battery bank lp4bank"), so no word is said twice.
pub fn device_name(source: &str, device: &str, info: &DeviceInfo) -> String {
    let model = info
        .model
        .clone()
        .or_else(|| source_model(source).map(|(_, m)| m.to_string()))
        .unwrap_or_else(|| source.to_string());
    let id = device.to_lowercase();
    let repeats = model
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w.len() >= 3 && id.contains(w));
    if repeats || model.trim().is_empty() {
        device.to_string()
    } else {
        format!("{model} {device}")
    }
}

/// The manufacturer and model shown for a source without its own.
pub fn source_model(source: &str) -> Option<(Option<&'static str>, &'static str)> {
    SOURCES
        .iter()
        .find(|(s, _, _)| *s == source)
        .map(|(_, mf, m)| (*mf, *m))
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
        // None (unknown) while the device's reading leaves the key out: the union of its
        // keys is announced ([`merge_keys`]), not the keys of one reading.
        _ => format!("{{{{ {a} if {a} is defined else None }}}}"),
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
                json!(format!(
                    "{{{{ None if {a} is not defined else 'ON' if {a} else 'OFF' }}}}",
                    a = accessor(key)
                )),
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
    dev.insert("name".into(), json!(device_name(source, device, info)));
    let fallback = source_model(source);
    let manufacturer = info
        .manufacturer
        .clone()
        .or_else(|| fallback.and_then(|(mf, _)| mf).map(str::to_string));
    let model = info
        .model
        .clone()
        .or_else(|| fallback.map(|(_, m)| m.to_string()));
    for (k, v) in [
        ("mf", &manufacturer),
        ("mdl", &model),
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
    // Fields that take turns are announced together: the entity of the absent one shows
    // unknown rather than appearing and disappearing.
    for group in TOGETHER {
        if group.iter().any(|g| fields.contains_key(*g)) {
            for g in group.iter().filter(|g| !fields.contains_key(**g)) {
                keys.push(Key {
                    key: g.to_string(),
                    field: g.to_string(),
                    shape: Shape::Number,
                });
            }
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

/// Fields of which a reading has one at a time: the time estimates, with the sign of the
/// current.
const TOGETHER: &[&[&str]] = &[&["time_to_full", "time_to_empty"]];

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
            "Protection over-current"
        );
        assert_eq!(
            entity_name("protection_overvoltage"),
            "Protection over-voltage"
        );
        assert_eq!(
            entity_name("warning_mos_ot"),
            "Warning MOSFET over-temperature"
        );
        assert_eq!(entity_name("design_capacity_ah"), "Design capacity");
        assert_eq!(entity_name("energy_charged_kwh"), "Energy charged");
    }

    /// Every name the catalogue can produce (each field, its array items, the problem
    /// summary), listed, and held to one rule: no two fields share a name, no word is said
    /// twice in a name, a word is spelt one way in every name ("over-current", never
    /// "overcurrent" beside it; "BMS", never "bms"), no abbreviation is left that another
    /// name writes out, "lowest"/"highest" lead, and a sensor's place comes before
    /// "temperature" ("Ambient temperature", "BMS temperature", "BMS board temperature").
    #[test]
    fn every_name_the_catalogue_can_produce_follows_one_rule() {
        let mut names: Vec<(String, String)> = Vec::new();
        for f in catalog::CATALOG {
            match f.kind {
                Kind::Array => {
                    for i in [0, 1, 15] {
                        let k = item_name(f.name, i);
                        names.push((entity_name(&k), k));
                    }
                }
                _ => names.push((entity_name(f.name), f.name.to_string())),
            }
        }
        for k in [PROBLEM, PROBLEMS] {
            if !names.iter().any(|(_, n)| n == k) {
                names.push((entity_name(k), k.to_string()));
            }
        }
        // The list, on stderr for whoever runs the test with --nocapture.
        for (name, key) in &names {
            eprintln!("{key:36} {name}");
        }
        check_names(&names).unwrap();
        // The pairs of issue 20, by their fields.
        let n = |k: &str| entity_name(k);
        assert_eq!(n("temperature_env"), "Ambient temperature");
        assert_eq!(n("temperature_bms"), "BMS temperature");
        assert_eq!(n("temperature_pcb"), "BMS board temperature");
        assert_eq!(n("warning_internal_comm"), "Warning internal communication");
        assert_eq!(n("cell_voltage_max_id"), "Highest cell voltage ID");
        assert_eq!(n("cell_voltage_max"), "Highest cell voltage");
        assert_eq!(n("cell_highest"), "Highest cell");
        assert_eq!(n("pre_voltage"), "Pre-voltage");
        assert_eq!(n("protection_overcurrent"), "Protection over-current");
        assert_eq!(n("protection_charge_oc"), "Protection charge over-current");
        assert_eq!(n("alarm_cell_unbalance"), "Alarm cell imbalance");
        assert_eq!(n("charge_fet"), "Charge MOSFET");
        assert_eq!(n("temperature_01"), "Temperature 01");
        // The check rejects the inconsistent names issue 20 found.
        for bad in [
            &["Protection overcurrent", "Protection charge over-current"][..],
            &["Alarm cell unbalance", "Warning cell imbalance"],
            &["Temperature BMS", "BMS board temperature"],
            &["Temperature env"],
            &["Warning internal comm"],
            &["Cell voltage max id"],
            &["Cell voltage max", "Highest cell"],
            &["Pylon pylon"],
            &["Warning bms", "BMS temperature"],
        ] {
            let names: Vec<(String, String)> =
                bad.iter().map(|n| (n.to_string(), n.to_string())).collect();
            assert!(check_names(&names).is_err(), "{bad:?} passes");
        }
    }

    /// The naming rule's checks over (name, key) pairs; the first name that breaks it.
    fn check_names(names: &[(String, String)]) -> Result<(), String> {
        let mut seen: std::collections::HashMap<&str, &str> = Default::default();
        // One spelling per word (hyphens and the capital of a name's first word aside).
        let mut forms: std::collections::HashMap<String, String> = Default::default();
        for (name, key) in names {
            if let Some(other) = seen.insert(name, key) {
                return Err(format!("{key} and {other} are both \"{name}\""));
            }
            let words: Vec<&str> = name.split(' ').collect();
            for (i, w) in words.iter().enumerate() {
                let lower = w.to_lowercase();
                if words[..i].iter().any(|p| p.to_lowercase() == lower) {
                    return Err(format!("{key}: \"{name}\" says \"{w}\" twice"));
                }
                if WORDS.iter().any(|(a, _)| *a == lower) && !WORDS.iter().any(|(_, b)| b == w) {
                    return Err(format!("{key}: \"{name}\" leaves \"{w}\" unwritten"));
                }
                if LEADING.contains(&lower.as_str()) && i != 0 {
                    return Err(format!("{key}: \"{name}\": \"{w}\" leads"));
                }
                if lower == "temperature"
                    && i == 0
                    && words
                        .get(1)
                        .is_some_and(|n| !n.starts_with(|c: char| c.is_ascii_digit()))
                {
                    return Err(format!("{key}: \"{name}\": the place comes first"));
                }
                let form = if i == 0 && w.chars().skip(1).all(|c| !c.is_uppercase()) {
                    lower.clone()
                } else {
                    w.to_string()
                };
                let norm = lower.replace('-', "");
                match forms.get(&norm) {
                    Some(f) if *f != form => {
                        return Err(format!("{key}: \"{name}\" spells \"{w}\", another \"{f}\""))
                    }
                    Some(_) => {}
                    None => {
                        forms.insert(norm, form);
                    }
                }
            }
        }
        Ok(())
    }

    /// Device names by one rule: the model (or the source's) and the id, the id alone where
    /// it already says a word of the model.
    #[test]
    fn device_names_say_no_word_twice() {
        let none = DeviceInfo::default();
        assert_eq!(device_name("pylon", "pylon-can0", &none), "pylon-can0");
        assert_eq!(
            device_name("eg4-7e", "lp1-1", &none),
            "7E protocol battery lp1-1"
        );
        let bank = DeviceInfo {
            manufacturer: Some("bmstap".into()),
            model: Some("Battery bank".into()),
            ..Default::default()
        };
        assert_eq!(device_name("bank", "lp4bank", &bank), "lp4bank");
        assert_eq!(device_name("bank", "rack", &bank), "Battery bank rack");
        assert_eq!(device_name("lp4", "lifepower4-2", &none), "lifepower4-2");
        let eflex = DeviceInfo {
            model: Some("eFlex".into()),
            ..Default::default()
        };
        assert_eq!(
            device_name("eflex", "2205075e0604", &eflex),
            "eFlex 2205075e0604"
        );
        assert_eq!(device_name("new", "x", &none), "new x");
        for (source, mf, model) in SOURCES {
            let d = discovery(&topics(), "d1", source, &none, &[], 60);
            assert_eq!(d["dev"]["mdl"], *model, "{source}");
            assert_eq!(d["dev"].get("mf").and_then(Value::as_str), *mf, "{source}");
            let name = d["dev"]["name"].as_str().unwrap().to_lowercase();
            let words: Vec<&str> = name.split(' ').collect();
            for (i, w) in words.iter().enumerate() {
                assert!(!words[..i].contains(w), "{name}");
            }
        }
    }

    /// A device's components are the union of the keys it has had: the time estimates
    /// taking turns with the sign of the current, a cell more, a field gone add nothing after
    /// the first; a key that changes shape changes it; the union is bounded.
    #[test]
    fn the_announced_keys_are_the_union_of_every_reading() {
        let r = |s: &str| -> Map<String, Value> { serde_json::from_str(s).unwrap() };
        let charging = r(
            r#"{"pack_current":5,"soc":50,"time_to_full":3600,"cell_voltages":[3.3,3.3],"warning_cell_ov":false}"#,
        );
        let discharging = r(
            r#"{"pack_current":-5,"soc":50,"time_to_empty":7200,"cell_voltages":[3.3,3.3],"warning_cell_ov":true}"#,
        );
        let mut keys = Vec::new();
        assert!(!covers(&charging, &keys));
        assert!(merge_keys(&mut keys, &charging, 1024));
        // Both estimates from the first reading on: the sign change announces nothing.
        assert!(keys.iter().any(|k| k.key == "time_to_empty"));
        for _ in 0..3 {
            assert!(covers(&discharging, &keys) && covers(&charging, &keys));
            assert!(!merge_keys(&mut keys, &discharging, 1024));
        }
        let fewer = r(r#"{"pack_current":-5,"soc":50}"#);
        assert!(covers(&fewer, &keys));
        let more =
            r(r#"{"pack_current":-5,"soc":50,"cell_voltages":[3.3,3.3,3.2],"remaining_ah":10}"#);
        assert!(!covers(&more, &keys));
        assert!(merge_keys(&mut keys, &more, 1024));
        assert!(covers(&more, &keys) && covers(&charging, &keys) && covers(&fewer, &keys));
        let n = keys.len();
        assert!(!merge_keys(&mut keys, &charging, 1024));
        assert_eq!(keys.len(), n);
        // The union is in the order covers walks (fields by name, items in order).
        let cells: Vec<&str> = keys
            .iter()
            .filter(|k| k.field == "cell_voltages")
            .map(|k| k.key.as_str())
            .collect();
        assert_eq!(
            cells,
            ["cell_01_voltage", "cell_02_voltage", "cell_03_voltage"]
        );
        // A shape change is a change.
        let (num, text) = (r(r#"{"mode":1}"#), r(r#"{"mode":"eco"}"#));
        assert!(!covers(&num, &keys));
        assert!(merge_keys(&mut keys, &num, 1024));
        assert!(covers(&num, &keys) && !covers(&text, &keys));
        assert!(merge_keys(&mut keys, &text, 1024));
        assert!(covers(&text, &keys) && !covers(&num, &keys));
        // Bounded: past the bound the union starts again from the reading.
        let mut small = Vec::new();
        assert!(merge_keys(&mut small, &charging, 1024));
        let big =
            r(r#"{"a1":1,"a2":2,"a3":3,"a4":4,"a5":5,"a6":6,"a7":7,"a8":8,"a9":9,"b1":1,"b2":2}"#);
        let before = small.len();
        assert!(merge_keys(&mut small, &big, before + 5));
        assert_eq!(small.len(), 11);
        // Every template renders None where the reading leaves its key out.
        let d = discovery(&topics(), "p", "lp4", &DeviceInfo::default(), &keys, 60);
        for (k, c) in d["cmps"].as_object().unwrap() {
            let t = c["val_tpl"].as_str().unwrap();
            assert!(
                t.contains(" is defined else None") || t.starts_with("{{ None if "),
                "{k}: {t}"
            );
        }
        let mut state = Vec::new();
        write_state(&discharging, &mut state);
        let state: Value = serde_json::from_slice(&state).unwrap();
        assert!(state.get("time_to_full").is_none());
        assert_eq!(state["problems"], "warning cell over-voltage");
    }

    /// The bank's own flag and list: Problem on never beside Active problems none.
    #[test]
    fn a_readings_own_problem_flag_and_list_are_kept() {
        let r = |s: &str| -> Map<String, Value> { serde_json::from_str(s).unwrap() };
        let state = |f: &Map<String, Value>| -> Value {
            let mut out = Vec::new();
            write_state(f, &mut out);
            serde_json::from_slice(&out).unwrap()
        };
        let s = state(&r(r#"{"soc":50,"problem":true}"#));
        assert_eq!(
            (s["problem"].clone(), s["problems"].clone()),
            (json!(true), json!("problem"))
        );
        let s = state(&r(r#"{"soc":50,"problem":false}"#));
        assert_eq!(s["problems"], "none");
        let bank =
            r(r#"{"soc":50,"problem":true,"problems":"sim-t-02: warning cell over-voltage"}"#);
        let s = state(&bank);
        assert_eq!(s["problems"], "sim-t-02: warning cell over-voltage");
        let keys = state_keys(&bank);
        assert_eq!(keys.iter().filter(|k| k.key == PROBLEMS).count(), 1);
        let d = discovery(&topics(), "b", "bank", &DeviceInfo::default(), &keys, 60);
        assert_eq!(d["cmps"]["problems"]["name"], "Active problems");
        assert_eq!(d["cmps"]["problem"]["dev_cla"], "problem");
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
            "{{ value_json[\"Bus Voltage\"] if value_json[\"Bus Voltage\"] is defined else None }}"
        );
        assert_eq!(c["bus_voltage"]["def_ent_id"], "sensor.rack_1_bus_voltage");
        assert_eq!(
            c["cell_temp"]["val_tpl"],
            "{{ value_json[\"cell-temp\"] if value_json[\"cell-temp\"] is defined else None }}"
        );
        assert_eq!(
            c["2nd"]["val_tpl"],
            "{{ None if value_json[\"2nd\"] is not defined else 'ON' if value_json[\"2nd\"] else 'OFF' }}"
        );
        assert_eq!(
            c["soc"]["val_tpl"],
            "{{ value_json.soc if value_json.soc is defined else None }}"
        );
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
        assert!(covers(&f, &keys));
        assert!(!covers(&f, &keys[1..]));
        // A reading with its own `problem` flag (the bank's) keeps matching its keys.
        let mut bank = Map::new();
        bank.insert("soc".into(), json!(50));
        bank.insert(PROBLEM.into(), json!(false));
        let bank_keys = state_keys(&bank);
        assert_eq!(bank_keys.iter().filter(|k| k.key == PROBLEM).count(), 1);
        assert!(covers(&bank, &bank_keys));
        assert!(!covers(&f, &keys[..keys.len() - 1]));
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
            "{{ value_json.cell_01_voltage if value_json.cell_01_voltage is defined else None }}"
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
        assert_eq!(
            c["problems"]["val_tpl"],
            "{{ value_json.problems if value_json.problems is defined else None }}"
        );
        assert_eq!(
            c["lifetime_discharge_energy"]["stat_cla"],
            "total_increasing"
        );
        assert_eq!(c["pack_voltage"]["uniq_id"], "bmstap_rack-1_pack_voltage");
    }
}
