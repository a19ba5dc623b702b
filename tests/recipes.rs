//! Every recipe of docs/recipes.md, run as written against the simulator. A block is a
//! recipe when its info string says `recipe=NAME`; the only changes made to it are the ones
//! the page announces: device names swapped for simulated ones, the broker for a private
//! mosquitto, long intervals shortened. jq is required under CI (.ci/run installs it).

use crate::common::{bin_path, check_record, cmd, Guard, Sim, TempDir};
use crate::readings_to_mqtt::{have, Broker};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const RECIPES: &str = include_str!("../docs/recipes.md");

/// `recipe=NAME` blocks of docs/recipes.md by name.
fn recipes() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in RECIPES.lines() {
        match &mut current {
            None => {
                if let Some(name) = line.strip_prefix("```").and_then(|info| {
                    info.split_whitespace()
                        .find_map(|w| w.strip_prefix("recipe="))
                }) {
                    current = Some((name.to_string(), String::new()));
                }
            }
            Some((name, body)) => {
                if line == "```" {
                    out.insert(std::mem::take(name), std::mem::take(body));
                    current = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    assert!(current.is_none(), "unclosed recipe block");
    out
}

fn recipe(name: &str) -> String {
    recipes()
        .remove(name)
        .unwrap_or_else(|| panic!("docs/recipes.md has no recipe={name}"))
}

/// Whether the tools the recipes use besides ours are here; under CI they must be.
fn have_all(tools: &[&str]) -> bool {
    let missing: Vec<&&str> = tools.iter().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} required under CI (.ci/run installs them)"
    );
    eprintln!("SKIPPED: {missing:?} not installed");
    false
}

/// The directory of our built binaries, first on PATH, then `shims`.
fn path_with(shims: &Path) -> String {
    let bins = bin_path("lp4-poll").parent().unwrap().to_path_buf();
    format!(
        "{}:{}:{}",
        bins.display(),
        shims.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `script` with bash in `dir`, our binaries first on PATH.
fn bash(dir: &TempDir, script: &str) -> Output {
    let shims = dir.path("shims");
    std::fs::create_dir_all(&shims).unwrap();
    Command::new("bash")
        .args(["-c", script])
        .current_dir(&dir.0)
        .env("PATH", path_with(&shims))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A `mail` that keeps what it was given, so the alert can be checked.
fn mail_shim(dir: &TempDir) -> PathBuf {
    let shims = dir.path("shims");
    std::fs::create_dir_all(&shims).unwrap();
    let shim = shims.join("mail");
    let sent = dir.path("mail.txt");
    std::fs::write(
        &shim,
        format!(
            "#!/bin/sh\n{{ echo \"mail $*\"; cat; }} >> '{}'\n",
            sent.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    sent
}

#[test]
fn cron_check_alerts_on_a_warning_bit_or_a_silent_pack_only() {
    if !have_all(&["jq"]) {
        return;
    }
    let script = recipe("cron-check");
    assert!(script.starts_with("#!/bin/sh\n"));
    for (sim_args, alert) in [
        (&["--address", "1,2"][..], false),
        (&["--address", "1,2", "--fault", "2:cell_ov"], true),
        (
            &["--address", "1,2", "--fault", "1:protection_short_circuit"],
            true,
        ),
        (&["--address", "1,2", "--silent", "2"], true),
        (&["--address", "1"], true), // pack 2 is not there at all
    ] {
        let dir = TempDir::new("recipe-cron");
        let sent = mail_shim(&dir);
        let sim = Sim::lp4(sim_args);
        let file = dir.path("battery-check");
        std::fs::write(&file, script.replace("/dev/ttyUSB0", &sim.path)).unwrap();
        let out = bash(&dir, &format!("sh '{}'", file.display()));
        assert!(out.status.success(), "{sim_args:?}: {}", text(&out.stderr));
        let mail = std::fs::read_to_string(&sent).unwrap_or_default();
        assert_eq!(mail.is_empty(), !alert, "{sim_args:?}: mail {mail:?}");
        if alert {
            assert!(mail.contains("-s bmstap alert root"), "{mail}");
            assert!(mail.contains("battery check failed on "), "{mail}");
        }
    }
}

/// The cron one-liner alerts on a silent or missing pack and on a port that cannot be
/// opened, not on healthy packs; docs/tools.md gives the very same line.
#[test]
fn cron_one_liner_alerts_on_a_silent_pack() {
    if !have_all(&["jq"]) {
        return;
    }
    let line = recipe("cron-one-liner");
    let line = line.trim_end();
    let tools_md =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/tools.md"))
            .unwrap();
    assert!(
        tools_md.lines().any(|l| l == line),
        "docs/tools.md's cron example differs from the recipe"
    );
    for (sim_args, alert) in [
        (Some(&["--address", "1,2"][..]), false),
        (Some(&["--address", "1,2", "--silent", "2"]), true),
        (Some(&["--address", "1"]), true),
        (None, true), // no such port
    ] {
        let dir = TempDir::new("recipe-cron-line");
        let shim = dir.path("shims").join("alert");
        std::fs::create_dir_all(dir.path("shims")).unwrap();
        let flag = dir.path("alerted");
        std::fs::write(&shim, format!("#!/bin/sh\ntouch '{}'\n", flag.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
        let sim = sim_args.map(Sim::lp4);
        let port = sim
            .as_ref()
            .map_or(dir.path("no-such-port").display().to_string(), |s| {
                s.path.clone()
            });
        let out = bash(&dir, &line.replace("/dev/ttyUSB0", &port));
        assert!(out.status.success(), "{sim_args:?}: {}", text(&out.stderr));
        assert_eq!(flag.exists(), alert, "{sim_args:?}");
    }
}

#[test]
fn candump_log_as_csv() {
    if !have_all(&["jq"]) {
        return;
    }
    let dir = TempDir::new("recipe-csv");
    let log = cmd("bms-sim")
        .args(["eflex", "-n", "3", "--cycles", "4"])
        .output()
        .unwrap()
        .stdout;
    std::fs::write(dir.path("can0.log"), log).unwrap();
    let out = bash(&dir, &recipe("candump-csv"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = std::fs::read_to_string(dir.path("batteries.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "ts,device,soc,pack_voltage,pack_current,cell_voltage_delta_mv"
    );
    assert_eq!(rows.len(), 1 + 3 * 4, "{csv}");
    for row in &rows[1..] {
        let cols: Vec<&str> = row.split(',').collect();
        assert_eq!(cols.len(), 6, "{row}");
        assert!(
            cols[0].starts_with("\"20") && cols[0].ends_with("Z\""),
            "{row}"
        );
        for c in &cols[2..] {
            c.parse::<f64>()
                .unwrap_or_else(|_| panic!("{c} in {row} is not a number"));
        }
    }
}

#[test]
fn replaying_a_capture_gives_the_same_readings() {
    if !have_all(&["jq"]) {
        return;
    }
    let dir = TempDir::new("recipe-replay");
    let sim = Sim::lp4(&["--address", "1,2"]);
    let out = bash(
        &dir,
        &recipe("replay-capture").replace("/dev/ttyUSB0", &sim.path),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "identical\n");
    let live = std::fs::read_to_string(dir.path("live.ndjson")).unwrap();
    assert_eq!(live.lines().count(), 2);
}

#[test]
fn telegraf_execd_command_prints_what_the_config_reads() {
    #[derive(serde::Deserialize)]
    struct Conf {
        inputs: Inputs,
    }
    #[derive(serde::Deserialize)]
    struct Inputs {
        execd: Vec<Execd>,
    }
    #[derive(serde::Deserialize)]
    struct Execd {
        command: Vec<String>,
        data_format: String,
        json_v2: Vec<JsonV2>,
    }
    #[derive(serde::Deserialize)]
    struct JsonV2 {
        timestamp_path: String,
        timestamp_format: String,
        tag: Vec<Tag>,
        object: Vec<Object>,
    }
    #[derive(serde::Deserialize)]
    struct Tag {
        path: String,
    }
    #[derive(serde::Deserialize)]
    struct Object {
        path: String,
        excluded_keys: Vec<String>,
    }
    let conf: Conf = toml::from_str(&recipe("telegraf")).expect("the Telegraf block is TOML");
    let execd = &conf.inputs.execd[0];
    assert_eq!(execd.data_format, "json_v2");
    let j = &execd.json_v2[0];
    assert_eq!(
        (j.timestamp_path.as_str(), j.timestamp_format.as_str()),
        ("ts", "2006-01-02T15:04:05Z07:00")
    );
    let sim = Sim::lp4(&["--address", "1,2"]);
    let argv: Vec<String> = execd
        .command
        .iter()
        .map(|a| match a.as_str() {
            "/dev/ttyUSB0" => sim.path.clone(),
            "30s" => "100ms".into(),
            other => other.to_string(),
        })
        .collect();
    let program = argv[0]
        .strip_prefix("/usr/bin/")
        .expect("the command is the installed tool");
    let mut child = Guard::spawn(
        Command::new(bin_path(program))
            .args(&argv[1..])
            .stdout(Stdio::piped()),
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..4 {
        let line = lines.next().expect("a line").unwrap();
        let r = check_record(&line);
        let ts = r[&j.timestamp_path].as_str().unwrap();
        // Go's layout above, with the fraction Go accepts after the seconds.
        let b = ts.as_bytes();
        assert!(
            b.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && b[23] == b'Z',
            "{ts}"
        );
        for t in &j.tag {
            assert!(r[&t.path].is_string(), "tag {} in {line}", t.path);
        }
        let fields = r[&j.object[0].path].as_object().unwrap();
        for (k, v) in fields {
            if v.is_array() {
                assert!(
                    j.object[0].excluded_keys.contains(k),
                    "array field {k} is not in excluded_keys"
                );
            } else {
                assert!(v.is_number() || v.is_boolean() || v.is_string(), "{k}: {v}");
            }
        }
    }
}

#[test]
fn eg4_battery_config_works_unchanged() {
    if !have_all(&["jq"]) {
        return;
    }
    let dir = TempDir::new("recipe-eg4");
    let sim = Sim::lp4(&["--address", "1,2"]);
    std::fs::write(
        dir.path("config.yaml"),
        recipe("eg4-battery-config").replace("/dev/ttyUSB0", &sim.path),
    )
    .unwrap();
    let out = bash(&dir, &recipe("eg4-battery"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 2);
    for (r, name) in got.iter().zip(["battery1", "battery2"]) {
        assert_eq!(r["device"], name);
        assert!(r["soc"].is_number() && r["delta"].is_number(), "{r}");
    }
}

/// eflexcan2mqtt's sample output for battery 2 of the frames in testdata/eflex (its
/// sample-battery-data.json); only its serial differs, altered in that file.
const EFLEXCAN2MQTT_BATTERY_2: &str = r#"{"battery_number":2,"batteries_in_system":14,
"battery_soc":69,"battery_voltage":53.1,"battery_current":-0.3,"system_average_voltage":53.0,
"pre_volt":53.2,"insulation_resistance":65535,"software_version":4006,"hardware_version":"a",
"lifetime_discharge_energy":144138,"cell_voltages":[3321,3321,3320,3321,3321,3321,3320,3321,
3321,3321,3321,3321,3321,3321,3321,3321],"time":1715987139}"#;

#[test]
fn eflexcan2mqtt_topic_and_shape() {
    if !have_all(&["jq", "mosquitto_sub"]) {
        return;
    }
    let dir = TempDir::new("recipe-eflex");
    std::fs::write(dir.path("eflexcan2mqtt.jq"), recipe("eflexcan2mqtt-jq")).unwrap();

    // The jq program gives eflexcan2mqtt's values for the same frames.
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/eflex/conftest-battery2.ndjson");
    let out = bash(
        &dir,
        &format!(
            "head -1 '{}' | jq -c -s -f eflexcan2mqtt.jq",
            golden.display()
        ),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut want: serde_json::Value = serde_json::from_str(EFLEXCAN2MQTT_BATTERY_2).unwrap();
    want["battery_id"] = "2205075E0604".into();
    // jq writes 53.0 as 53: numbers compare by value.
    assert_eq!(
        by_value(got),
        by_value(serde_json::Value::Array(vec![want]))
    );

    // Live: the publisher and the subscriber, against mosquitto and a simulated bus.
    let Some(b) = Broker::mosquitto() else { return };
    let port = b.port.to_string();
    let sub = recipe("eflexcan2mqtt-sub")
        .replace("-h broker", &format!("-h 127.0.0.1 -p {port} -C 1 -W 60"));
    let shims = dir.path("shims");
    std::fs::create_dir_all(&shims).unwrap();
    let mut subscriber = Guard::spawn(
        Command::new("bash")
            .args(["-c", &sub])
            .current_dir(&dir.0)
            .env("PATH", path_with(&shims))
            .stdout(Stdio::piped()),
    );
    std::thread::sleep(Duration::from_millis(500));
    let publisher = recipe("eflexcan2mqtt")
        .replace(
            "eflex-candump-decode --interface can0",
            "bms-sim eflex -n 3 --rate 20 --cycles 100 --no-partial | eflex-candump-decode",
        )
        .replace("--every 2m", "--every 100ms")
        .replace("--array-every 2m", "--array-every 300ms")
        .replace("--host broker", &format!("--host 127.0.0.1 --port {port}"));
    let started = Instant::now();
    let out = bash(&dir, &publisher);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(60));
    let mut line = String::new();
    BufReader::new(subscriber.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let got: serde_json::Value = serde_json::from_str(&line).expect("a mapped array");
    let batteries = got.as_array().unwrap();
    assert_eq!(batteries.len(), 3, "{line}");
    let shape = want_shape();
    let keys = want_keys(&shape);
    for b in batteries {
        let obj = b.as_object().unwrap();
        let mut got_keys: Vec<&String> = obj.keys().collect();
        got_keys.sort();
        assert_eq!(got_keys, keys, "{b}");
        assert!(obj.values().all(|v| !v.is_null()), "{b}");
    }
}

fn want_shape() -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(EFLEXCAN2MQTT_BATTERY_2).unwrap();
    v["battery_id"] = "".into();
    v
}

fn want_keys(v: &serde_json::Value) -> Vec<&String> {
    let mut k: Vec<&String> = v.as_object().unwrap().keys().collect();
    k.sort();
    k
}

/// Every number as an f64, so that 53 and 53.0 compare equal.
fn by_value(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => n.as_f64().map_or(Value::Null, |f| f.into()),
        Value::Array(a) => Value::Array(a.into_iter().map(by_value).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, by_value(v))).collect()),
        other => other,
    }
}

/// The Energy dashboard recipe: four simulated packs through readings-bank into mosquitto;
/// the bank is announced with the energy and power classes the dashboard needs, and its
/// state carries the counters.
#[test]
fn home_assistant_energy_dashboard() {
    if !have_all(&["mosquitto_sub"]) {
        return;
    }
    let Some(b) = Broker::mosquitto() else { return };
    let port = b.port.to_string();
    let sim = Sim::lp4(&["--address", "1-4"]);
    let dir = TempDir::new("recipe-energy");
    let script = recipe("ha-energy")
        .replace("/dev/ttyUSB0", &sim.path)
        .replace("--interval 10s", "--count 3 --interval 0")
        .replace("/var/lib/bmstap/bank.json", "bank.json")
        .replace("--host broker", &format!("--host 127.0.0.1 --port {port}"));
    assert_ne!(script, recipe("ha-energy"));
    let out = bash(&dir, &script);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let retained = |topic: &str| -> serde_json::Value {
        let out = Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-C",
                "1",
                "-W",
                "20",
                "-t",
                topic,
            ])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{topic}: {e}: {}", text(&out.stdout)))
    };
    let config = retained("homeassistant/device/bmstap_bank/config");
    assert_eq!(config["dev"]["name"], "bank");
    assert_eq!(config["dev"]["mdl"], "Battery bank");
    let cmps = &config["cmps"];
    for key in ["energy_charged_kwh", "energy_discharged_kwh"] {
        assert_eq!(cmps[key]["dev_cla"], "energy", "{key}");
        assert_eq!(cmps[key]["stat_cla"], "total_increasing", "{key}");
        assert_eq!(cmps[key]["unit_of_meas"], "kWh", "{key}");
    }
    assert_eq!(cmps["energy_charged_kwh"]["name"], "Energy charged");
    assert_eq!(cmps["power"]["dev_cla"], "power");
    assert_eq!(cmps["power"]["unit_of_meas"], "W");
    assert_eq!(cmps["power"]["stat_cla"], "measurement");
    // The entities the page tells the owner to pick, by name and entity id, are the ones the
    // discovery message creates.
    let section = RECIPES
        .split("## Home Assistant Energy dashboard")
        .nth(1)
        .unwrap();
    let dev_name = config["dev"]["name"].as_str().unwrap();
    assert!(section.contains(&format!("*{dev_name}*")), "{dev_name}");
    let mut named = 0;
    let parts: Vec<&str> = section.split("**").collect();
    for w in parts.windows(2).skip(1).step_by(2) {
        // **NAME** (`ENTITY_ID`)
        let (name, rest) = (w[0], w[1].trim_start());
        let Some(id) = rest.strip_prefix("(`").and_then(|r| r.split('`').next()) else {
            continue;
        };
        let cmp = cmps
            .as_object()
            .unwrap()
            .values()
            .find(|c| c["def_ent_id"] == id)
            .unwrap_or_else(|| panic!("docs/recipes.md names {id}: not in the discovery"));
        assert_eq!(
            format!("{dev_name} {}", cmp["name"].as_str().unwrap()),
            name,
            "{id}"
        );
        named += 1;
    }
    assert_eq!(named, 3, "the page names three entities");
    let state = retained("bmstap/bank/state");
    assert_eq!(state["packs_online"], 4);
    assert!(state["energy_charged_kwh"].as_f64().unwrap() >= 0.0);
    assert!(state["energy_discharged_kwh"].as_f64().unwrap() >= 0.0);
    // The state file holds the packs' and the bank's counters.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path("bank.json")).unwrap()).unwrap();
    assert_eq!(saved["devices"].as_object().unwrap().len(), 4);
    assert!(saved["banks"]["bank"]["charged_uj"].is_u64());
    // Every key of the bank's state is a catalogued field, but for the list of active
    // problems readings-to-mqtt adds to every device with problem flags.
    let mut state = state;
    state.as_object_mut().unwrap().remove(bmstap::ha::PROBLEMS);
    let first = check_record(&format!(
        "{{\"type\":\"reading\",\"ts\":\"2026-01-01T00:00:00.000Z\",\"source\":\"bank\",\"device\":\"bank\",\"fields\":{}}}",
        state
    ));
    assert_eq!(first["fields"]["packs_total"], 4);
}
