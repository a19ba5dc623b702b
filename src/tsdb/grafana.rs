//! Grafana dashboards, one per data source (InfluxDB with InfluxQL, Prometheus), generated
//! from the field catalogue: which fields each panel shows is listed here by name, and the
//! units, titles, metric names and the set of alarm flags come from [`crate::catalog`] and
//! [`super::expo::metric_for`]. `scripts/gen-docs` writes them to `docs/grafana/`; a test
//! checks that every query names a field (or metric) that exists.
//!
//! Import in Grafana: Dashboards → New → Import → upload the JSON, then pick the data source
//! (the dashboards declare it as an input). The InfluxDB one expects the measurement
//! `bmstap` (readings-to-influx's default).

use super::expo::metric_for;
use crate::catalog::{self, FieldSpec, Kind};
use serde_json::{json, Value};

/// Which data source a dashboard is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Influx,
    Prometheus,
}

impl Source {
    /// File name under docs/grafana/.
    pub fn file(self) -> &'static str {
        match self {
            Source::Influx => "bmstap-influxdb.json",
            Source::Prometheus => "bmstap-prometheus.json",
        }
    }

    fn plugin(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Source::Influx => ("influxdb", "InfluxDB", "DS_INFLUXDB"),
            Source::Prometheus => ("prometheus", "Prometheus", "DS_PROMETHEUS"),
        }
    }

    fn datasource(self) -> Value {
        let (id, _, input) = self.plugin();
        json!({"type": id, "uid": format!("${{{input}}}")})
    }
}

/// How a panel shows its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Viz {
    /// Values over time.
    Series,
    /// The newest value, large.
    Stat,
    /// How much a cumulative field grew over the dashboard's time range.
    Increase,
    /// Every alarm flag that is set now.
    Alarms,
}

struct Panel {
    title: &'static str,
    fields: &'static [&'static str],
    viz: Viz,
    /// Only the bank's readings (source "bank").
    bank: bool,
    width: u32,
}

const fn p(
    title: &'static str,
    fields: &'static [&'static str],
    viz: Viz,
    bank: bool,
    width: u32,
) -> Panel {
    Panel {
        title,
        fields,
        viz,
        bank,
        width,
    }
}

/// The panels, top to bottom, left to right (24 columns a row). The alarm panel takes every
/// `Flag` field of the catalogue.
const PANELS: &[Panel] = &[
    p("Bank state of charge", &["soc"], Viz::Stat, true, 6),
    p("Bank power", &["power"], Viz::Stat, true, 6),
    p(
        "Packs online",
        &["packs_online", "packs_total"],
        Viz::Stat,
        true,
        6,
    ),
    p(
        "Energy in / out",
        &["energy_charged_kwh", "energy_discharged_kwh"],
        Viz::Increase,
        false,
        6,
    ),
    p("State of charge", &["soc"], Viz::Series, false, 12),
    p("Power", &["power"], Viz::Series, false, 12),
    p("Pack voltage", &["pack_voltage"], Viz::Series, false, 12),
    p(
        "Pack current (+ charging)",
        &["pack_current"],
        Viz::Series,
        false,
        12,
    ),
    p(
        "Cell voltages",
        &["cell_voltages", "cell_voltage_min", "cell_voltage_max"],
        Viz::Series,
        false,
        12,
    ),
    p(
        "Cell voltage delta",
        &["cell_voltage_delta_mv"],
        Viz::Series,
        false,
        12,
    ),
    p(
        "Temperatures",
        &["temperatures", "temperature_pcb"],
        Viz::Series,
        false,
        12,
    ),
    p("Alarms", &[], Viz::Alarms, false, 12),
];

/// Grafana's unit id for a catalogue unit.
fn grafana_unit(unit: Option<&str>) -> &'static str {
    match unit {
        Some("V") => "volt",
        Some("mV") => "mvolt",
        Some("A") => "amp",
        Some("%") => "percent",
        Some("°C") => "celsius",
        Some("W") => "watt",
        Some("kWh") => "kwatth",
        Some("s") => "s",
        _ => "none",
    }
}

fn spec(name: &str) -> &'static FieldSpec {
    catalog::lookup(name)
        .unwrap_or_else(|| panic!("dashboard field {name} is not in the catalogue"))
}

fn flags() -> Vec<&'static str> {
    catalog::CATALOG
        .iter()
        .filter(|f| f.kind == Kind::Flag)
        .map(|f| f.name)
        .collect()
}

/// The InfluxQL field selector of a catalogue field: `"name"`, or a regular expression over
/// the flattened items of an array (`/^cell_\d+_voltage$/`).
fn influx_field(name: &str) -> String {
    if spec(name).kind == Kind::Array {
        let item = crate::ha::item_name(name, 0);
        format!("/^{}$/", item.replace("01", "\\d+"))
    } else {
        format!("\"{name}\"")
    }
}

fn influx_where(bank: bool) -> &'static str {
    if bank {
        "\"source\" = 'bank' AND $timeFilter"
    } else {
        "\"device\" =~ /^$device$/ AND $timeFilter"
    }
}

fn targets(src: Source, panel: &Panel) -> Vec<Value> {
    let ds = src.datasource();
    let mut out = Vec::new();
    let refid = |i: usize| ((b'A' + i as u8) as char).to_string();
    match src {
        Source::Influx => {
            let w = influx_where(panel.bank);
            let queries: Vec<(String, &str)> = match panel.viz {
                Viz::Series => panel
                    .fields
                    .iter()
                    .map(|f| {
                        (
                            format!(
                                "SELECT mean({}) FROM \"bmstap\" WHERE {w} GROUP BY time($__interval), \"device\" fill(none)",
                                influx_field(f)
                            ),
                            "time_series",
                        )
                    })
                    .collect(),
                Viz::Stat => panel
                    .fields
                    .iter()
                    .map(|f| {
                        (
                            format!("SELECT last({}) FROM \"bmstap\" WHERE {w} GROUP BY \"device\"", influx_field(f)),
                            "time_series",
                        )
                    })
                    .collect(),
                Viz::Increase => panel
                    .fields
                    .iter()
                    .map(|f| {
                        (
                            format!("SELECT spread({}) FROM \"bmstap\" WHERE {w} GROUP BY \"device\"", influx_field(f)),
                            "time_series",
                        )
                    })
                    .collect(),
                Viz::Alarms => {
                    let cols: Vec<String> = flags()
                        .iter()
                        .map(|f| format!("last(\"{f}\") AS \"{f}\""))
                        .collect();
                    vec![(
                        format!(
                            "SELECT {} FROM \"bmstap\" WHERE {w} GROUP BY \"device\"",
                            cols.join(", ")
                        ),
                        "table",
                    )]
                }
            };
            for (i, (q, format)) in queries.into_iter().enumerate() {
                out.push(json!({
                    "refId": refid(i), "datasource": ds, "rawQuery": true, "query": q,
                    "resultFormat": format, "alias": "$tag_device $col"
                }));
            }
        }
        Source::Prometheus => {
            let sel = if panel.bank {
                "{source=\"bank\"}".to_string()
            } else {
                "{device=~\"$device\"}".to_string()
            };
            let exprs: Vec<(String, String, bool)> = match panel.viz {
                Viz::Series | Viz::Stat => panel
                    .fields
                    .iter()
                    .map(|f| {
                        let m = metric_for(f);
                        let e = if m.scale == 1.0 {
                            format!("{}{sel}", m.name)
                        } else {
                            format!("{}{sel} / {}", m.name, m.scale)
                        };
                        let legend = match m.item_label {
                            Some(l) => format!("{{{{device}}}} {l} {{{{{l}}}}}"),
                            None => format!("{{{{device}}}} {f}"),
                        };
                        (e, legend, panel.viz == Viz::Stat)
                    })
                    .collect(),
                Viz::Increase => panel
                    .fields
                    .iter()
                    .map(|f| {
                        let m = metric_for(f);
                        (
                            format!("increase({}{sel}[$__range]) / {}", m.name, m.scale),
                            format!("{{{{device}}}} {f}"),
                            true,
                        )
                    })
                    .collect(),
                Viz::Alarms => {
                    let names: Vec<String> = flags().iter().map(|f| metric_for(f).name).collect();
                    vec![(
                        format!(
                            "{{__name__=~\"{}\",device=~\"$device\"}} == 1",
                            names.join("|")
                        ),
                        "{{device}} {{__name__}}".to_string(),
                        true,
                    )]
                }
            };
            for (i, (e, legend, instant)) in exprs.into_iter().enumerate() {
                let mut t = json!({
                    "refId": refid(i), "datasource": ds, "expr": e, "legendFormat": legend
                });
                if instant {
                    t["instant"] = json!(true);
                    t["range"] = json!(false);
                }
                if panel.viz == Viz::Alarms {
                    t["format"] = json!("table");
                }
                out.push(t);
            }
        }
    }
    out
}

fn panel_json(src: Source, panel: &Panel, id: u32, x: u32, y: u32) -> Value {
    let unit = panel
        .fields
        .first()
        .map(|f| grafana_unit(spec(f).unit))
        .unwrap_or("none");
    let kind = match panel.viz {
        Viz::Series => "timeseries",
        Viz::Stat | Viz::Increase => "stat",
        Viz::Alarms => "table",
    };
    let description: Vec<String> = if panel.viz == Viz::Alarms {
        vec!["Every warning_*, protection_* and alarm_* flag that is set (from the field catalogue).".into()]
    } else {
        panel
            .fields
            .iter()
            .map(|f| format!("{f}: {}", spec(f).description))
            .collect()
    };
    let mut defaults = json!({"unit": unit});
    if panel.fields.first() == Some(&"soc") {
        defaults["min"] = json!(0);
        defaults["max"] = json!(100);
    }
    let mut v = json!({
        "id": id,
        "type": kind,
        "title": panel.title,
        "description": description.join("\n"),
        "datasource": src.datasource(),
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": if panel.viz == Viz::Series || panel.viz == Viz::Alarms { 9 } else { 5 }},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": targets(src, panel),
    });
    v["options"] = match panel.viz {
        Viz::Series => {
            json!({"legend": {"displayMode": "list", "placement": "bottom", "showLegend": panel.fields[0] != "cell_voltages"}, "tooltip": {"mode": "multi", "sort": "none"}})
        }
        Viz::Stat | Viz::Increase => {
            json!({"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false}, "colorMode": "value", "graphMode": "none", "textMode": "auto"})
        }
        Viz::Alarms => json!({"showHeader": true}),
    };
    v
}

/// The dashboard for `src`, as Grafana's import JSON.
pub fn dashboard(src: Source) -> Value {
    let (id, name, input) = src.plugin();
    let ds = src.datasource();
    let (x_max, mut x, mut y, mut row_h) = (24, 0, 0, 0);
    let mut panels = Vec::new();
    for (i, panel) in PANELS.iter().enumerate() {
        let h = if matches!(panel.viz, Viz::Series | Viz::Alarms) {
            9
        } else {
            5
        };
        if x + panel.width > x_max {
            x = 0;
            y += row_h;
            row_h = 0;
        }
        panels.push(panel_json(src, panel, i as u32 + 1, x, y));
        x += panel.width;
        row_h = row_h.max(h);
    }
    let device_query = match src {
        Source::Influx => json!("SHOW TAG VALUES FROM \"bmstap\" WITH KEY = \"device\""),
        Source::Prometheus => {
            json!({"query": "label_values(bmstap_reading_timestamp_seconds, device)", "refId": "devices"})
        }
    };
    json!({
        "__inputs": [{"name": input, "label": name, "description": "", "type": "datasource", "pluginId": id, "pluginName": name}],
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "9.0.0"},
            {"type": "datasource", "id": id, "name": name, "version": "1.0.0"},
            {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
            {"type": "panel", "id": "stat", "name": "Stat", "version": ""},
            {"type": "panel", "id": "table", "name": "Table", "version": ""}
        ],
        "title": format!("bmstap batteries ({name})"),
        "uid": format!("bmstap-{id}"),
        "description": "Generated by bmstap (scripts/gen-docs) from its field catalogue.",
        "tags": ["bmstap", "battery"],
        "editable": true,
        "schemaVersion": 36,
        "version": 1,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "30s",
        "timezone": "",
        "annotations": {"list": []},
        "templating": {"list": [{
            "name": "device", "label": "Device", "type": "query", "datasource": ds,
            "query": device_query, "definition": "", "refresh": 2, "multi": true, "includeAll": true,
            "current": {}, "options": [], "sort": 1, "hide": 0
        }]},
        "panels": panels,
    })
}

/// The dashboard file's text (pretty JSON, newline-terminated).
pub fn render(src: Source) -> String {
    let mut s = serde_json::to_string_pretty(&dashboard(src)).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_panel_field_is_in_the_catalogue_and_every_flag_is_shown() {
        for p in PANELS {
            for f in p.fields {
                assert!(catalog::lookup(f).is_some(), "{f}");
            }
        }
        let d = dashboard(Source::Prometheus).to_string();
        for f in flags() {
            assert!(d.contains(&metric_for(f).name), "{f}");
        }
        let d = dashboard(Source::Influx).to_string();
        for f in flags() {
            assert!(d.contains(&format!("last(\\\"{f}\\\")")), "{f}");
        }
    }

    #[test]
    fn array_fields_select_their_flattened_items() {
        assert_eq!(influx_field("cell_voltages"), "/^cell_\\d+_voltage$/");
        assert_eq!(influx_field("temperatures"), "/^temperature_\\d+$/");
        assert_eq!(influx_field("soc"), "\"soc\"");
    }

    #[test]
    fn panels_fit_the_grid() {
        for src in [Source::Influx, Source::Prometheus] {
            let d = dashboard(src);
            for p in d["panels"].as_array().unwrap() {
                let g = &p["gridPos"];
                assert!(g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24);
                assert!(!p["targets"].as_array().unwrap().is_empty());
            }
        }
    }
}
