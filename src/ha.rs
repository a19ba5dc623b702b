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
    pub fn state(&self, device: &str) -> String {
        format!("{}/{device}/state", self.prefix)
    }
    pub fn availability(&self, device: &str) -> String {
        format!("{}/{device}/availability", self.prefix)
    }
    pub fn bridge(&self) -> String {
        format!("{}/bridge/availability", self.prefix)
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
    out.push(b'}');
}

/// Do `keys` (from [`state_keys`]) still describe `fields`? Checked without allocating.
pub fn same_keys(fields: &Map<String, Value>, keys: &[(String, String)]) -> bool {
    let mut it = keys.iter();
    for (k, v) in fields {
        let n = match v {
            Value::Array(items) => items.len(),
            _ => 1,
        };
        for _ in 0..n {
            match it.next() {
                Some((_, field)) if field == k => {}
                _ => return false,
            }
        }
    }
    it.next().is_none()
}

/// A human entity name (Home Assistant adds the device name itself).
pub fn entity_name(key: &str) -> String {
    let special = match key {
        "soc" => Some("State of charge"),
        "soh" => Some("State of health"),
        "cell_voltage_delta_mv" => Some("Cell voltage delta"),
        "temperature_pcb" => Some("BMS board temperature"),
        "energy_charged_kwh" => Some("Energy charged"),
        "energy_discharged_kwh" => Some("Energy discharged"),
        _ => None,
    };
    if let Some(s) = special {
        return s.to_string();
    }
    let words = key.replace('_', " ");
    let words = words
        .replace(" ov", " over-voltage")
        .replace(" uv", " under-voltage")
        .replace(" oc", " over-current")
        .replace(" ot", " over-temperature")
        .replace(" ut", " under-temperature")
        .replace(" ah", " (Ah)")
        .replace("mos ", "MOSFET ");
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

/// The device-based discovery config for one device: one component per state key.
/// `keys` are the flattened state keys with the catalogue field each comes from.
pub fn discovery(
    topics: &Topics,
    device: &str,
    source: &str,
    info: &DeviceInfo,
    keys: &[(String, String)],
    expire_after: u64,
) -> Value {
    let uid = unique(&topics.prefix, device);
    let mut cmps = Map::new();
    for (key, field) in keys {
        let spec = catalog::lookup(field);
        let mut c = Map::new();
        let flag = spec.is_some_and(|s| s.kind == Kind::Flag);
        c.insert(
            "p".into(),
            json!(if flag { "binary_sensor" } else { "sensor" }),
        );
        c.insert("uniq_id".into(), json!(format!("{uid}_{key}")));
        c.insert("name".into(), json!(entity_name(key)));
        if flag {
            if let Some(d) = spec.and_then(|s| s.device_class) {
                c.insert("dev_cla".into(), json!(d));
            }
            c.insert(
                "val_tpl".into(),
                json!(format!("{{{{ 'ON' if value_json.{key} else 'OFF' }}}}")),
            );
        } else {
            c.insert(
                "val_tpl".into(),
                json!(format!("{{{{ value_json.{key} }}}}")),
            );
            if let Some(s) = spec {
                if let Some(u) = s.unit {
                    c.insert("unit_of_meas".into(), json!(u));
                }
                if let Some(d) = s.device_class.filter(|d| *d != "enum") {
                    c.insert("dev_cla".into(), json!(d));
                }
                if let Some(sc) = s.state_class {
                    c.insert("stat_cla".into(), json!(sc));
                }
            }
        }
        if spec.is_none_or(|s| s.kind != Kind::Text) {
            c.insert("exp_aft".into(), json!(expire_after));
        }
        cmps.insert(key.clone(), Value::Object(c));
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

/// The flattened state keys of a reading's fields, each with its catalogue field.
pub fn state_keys(fields: &Map<String, Value>) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    for (k, v) in fields {
        match v {
            Value::Array(items) => {
                for i in 0..items.len() {
                    keys.push((item_name(k, i), k.clone()));
                }
            }
            _ => keys.push((k.clone(), k.clone())),
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(keys.contains(&("cell_02_voltage".into(), "cell_voltages".into())));
        assert!(same_keys(&f, &keys));
        assert!(!same_keys(&f, &keys[1..]));
        let mut direct = Vec::new();
        write_state(&f, &mut direct);
        assert_eq!(
            String::from_utf8(direct).unwrap(),
            serde_json::to_string(&s).unwrap()
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
        assert!(c["state"].get("stat_cla").is_none() && c["state"].get("dev_cla").is_none());
        assert_eq!(
            c["lifetime_discharge_energy"]["stat_cla"],
            "total_increasing"
        );
        assert_eq!(c["pack_voltage"]["uniq_id"], "bmstap_rack-1_pack_voltage");
    }
}
