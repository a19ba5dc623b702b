//! Generated files are checked in and must match the code: man pages and completions from
//! the clap definitions, the field catalogue in docs/readings.md from `catalog`.
//! `UPDATE_GENERATED=1 cargo test --test cli generated` (scripts/gen-docs) rewrites them.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn update() -> bool {
    std::env::var_os("UPDATE_GENERATED").is_some_and(|v| v == "1")
}

/// Compares (or, when updating, writes) one generated file; returns a complaint if stale.
fn check(path: &Path, want: &[u8]) -> Option<String> {
    if update() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, want).unwrap();
        return None;
    }
    match std::fs::read(path) {
        Ok(have) if have == want => None,
        _ => Some(
            path.strip_prefix(root())
                .unwrap_or(path)
                .display()
                .to_string(),
        ),
    }
}

#[test]
fn man_pages_and_completions_are_current() {
    use clap_complete::{generate, Shell};
    let mut stale = Vec::new();
    for mut cmd in bmstap::tools::commands() {
        let name = cmd.get_name().to_string();
        let mut man = Vec::new();
        clap_mangen::Man::new(cmd.clone()).render(&mut man).unwrap();
        stale.extend(check(&root().join(format!("man/{name}.1")), &man));
        for (shell, file) in [
            (Shell::Bash, format!("completions/{name}.bash")),
            (Shell::Zsh, format!("completions/_{name}")),
            (Shell::Fish, format!("completions/{name}.fish")),
        ] {
            let mut buf = Vec::new();
            generate(shell, &mut cmd, name.clone(), &mut buf);
            if shell == Shell::Bash {
                buf = fix_bash_states(&name, &buf);
            }
            stale.extend(check(&root().join(file), &buf));
        }
    }
    assert!(
        stale.is_empty(),
        "outdated: {stale:?}; run scripts/gen-docs"
    );
}

/// clap_complete's bash script names a subcommand's state `bms__sim__subcmd__lp4` where it
/// sets it and `bms__subcmd__sim__subcmd__lp4` where it completes it (a tool name with a `-`;
/// clap-rs/clap#6421, open), so `bms-sim lp4 --<TAB>` completed nothing. The completing side is
/// renamed to the setting side's spelling.
fn fix_bash_states(name: &str, script: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(script.to_vec()).expect("UTF-8 completion script");
    if !name.contains('-') {
        return script.to_vec();
    }
    let right = name.replace('-', "__");
    let wrong = name.replace('-', "__subcmd__");
    let fixed: Vec<String> = text
        .lines()
        .map(|l| {
            let label = l.trim_start();
            if l.starts_with("        ")
                && label.starts_with(&format!("{wrong}__"))
                && label.ends_with(')')
            {
                l.replacen(&wrong, &right, 1)
            } else {
                l.to_string()
            }
        })
        .collect();
    let mut out = fixed.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    out.into_bytes()
}

/// Completion as bash does it, with the generated script: what `line<TAB>` offers.
fn bash_complete(tool: &str, line: &str) -> Vec<String> {
    let script = root().join(format!("completions/{tool}.bash"));
    let text = std::fs::read_to_string(&script).unwrap();
    let func = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("complete -F "))
        .and_then(|r| r.split_whitespace().next())
        .expect("complete -F line")
        .to_string();
    let words: Vec<&str> = line.split(' ').collect();
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let prog = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n{func} '{tool}' '{}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words[cword],
    );
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &prog])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Every tool and every subcommand: `TOOL [SUB] --<TAB>` in bash offers each of its long
/// flags, and a flag with a fixed set of values (`--map`) offers those values.
#[test]
fn bash_completes_every_commands_flags_and_values() {
    if update() {
        return; // the scripts are being rewritten; the next run checks them
    }
    let mut checked = 0;
    for cmd in bmstap::tools::commands() {
        let tool = cmd.get_name().to_string();
        let mut levels = vec![(tool.clone(), cmd.clone())];
        for sub in cmd.get_subcommands() {
            levels.push((format!("{tool} {}", sub.get_name()), sub.clone()));
        }
        for (prefix, c) in levels {
            let offered = bash_complete(&tool, &format!("{prefix} --"));
            for arg in c.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                assert!(
                    offered.contains(&format!("--{long}")),
                    "`{prefix} --<TAB>` does not offer --{long}: {offered:?}"
                );
                checked += 1;
                let values: Vec<String> = arg
                    .get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string())
                    .collect();
                if !values.is_empty() && arg.get_action().takes_values() {
                    let mut got = bash_complete(&tool, &format!("{prefix} --{long} "));
                    got.sort();
                    let mut want = values.clone();
                    want.sort();
                    assert_eq!(got, want, "`{prefix} --{long} <TAB>`");
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} flags checked");
    assert_eq!(
        bash_complete("lp4-poll", "lp4-poll --map "),
        ["v01-06", "eg4-battery"]
    );
}

#[test]
fn field_catalogue_in_docs_is_current() {
    const BEGIN: &str = "<!-- catalogue:begin (generated by scripts/gen-docs) -->\n";
    const END: &str = "<!-- catalogue:end -->";
    let path = root().join("docs/readings.md");
    let text = std::fs::read_to_string(&path).expect("docs/readings.md");
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("docs/readings.md lacks the catalogue markers");
    };
    let want = format!(
        "{}{BEGIN}{}{}",
        &text[..b],
        bmstap::catalog::markdown(),
        &text[e..]
    );
    if let Some(f) = check(&path, want.as_bytes()) {
        panic!("outdated: {f}; run scripts/gen-docs");
    }
}

#[test]
fn protocol_table_in_docs_is_current() {
    const BEGIN: &str = "<!-- protocols:begin (generated by scripts/gen-docs) -->\n";
    const END: &str = "<!-- protocols:end -->";
    let path = root().join("docs/bms-poll.md");
    let text = std::fs::read_to_string(&path).expect("docs/bms-poll.md");
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("docs/bms-poll.md lacks the protocol table markers");
    };
    let want = format!(
        "{}{BEGIN}{}{}",
        &text[..b],
        bmstap::family::markdown(),
        &text[e..]
    );
    if let Some(f) = check(&path, want.as_bytes()) {
        panic!("outdated: {f}; run scripts/gen-docs");
    }
}

/// The Grafana dashboards in docs/grafana/ (one per data source) come from the catalogue.
#[test]
fn grafana_dashboards_are_current() {
    use bmstap::tsdb::grafana::{render, Source};
    let mut stale = Vec::new();
    for src in [Source::Influx, Source::Prometheus] {
        let path = root().join("docs/grafana").join(src.file());
        stale.extend(check(&path, render(src).as_bytes()));
    }
    assert!(
        stale.is_empty(),
        "outdated: {stale:?}; run scripts/gen-docs"
    );
}

/// Every query of the committed dashboards names a field (InfluxDB) or a metric
/// (Prometheus) that exists: read back from the files, not from the generator.
#[test]
fn grafana_queries_name_existing_fields() {
    use bmstap::catalog::{Kind, CATALOG};
    use bmstap::tsdb::expo::metric_for;
    let text = |f: &str| std::fs::read_to_string(root().join("docs/grafana").join(f)).unwrap();
    let queries = |d: &serde_json::Value, key: &str| -> Vec<String> {
        let mut out: Vec<String> = d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap().iter())
            .map(|t| t[key].as_str().unwrap().to_string())
            .collect();
        let v = &d["templating"]["list"][0]["query"];
        out.push(v.as_str().or(v["query"].as_str()).unwrap().to_string());
        out
    };

    // Prometheus: every bmstap_* name is the metric of a catalogue field or a per-device one
    let d: serde_json::Value = serde_json::from_str(&text("bmstap-prometheus.json")).unwrap();
    let mut metrics: Vec<String> = CATALOG.iter().map(|f| metric_for(f.name).name).collect();
    metrics.extend(
        [
            "bmstap_reading_timestamp_seconds",
            "bmstap_device_up",
            "bmstap_device_info",
        ]
        .map(String::from),
    );
    let mut named = 0;
    for q in queries(&d, "expr") {
        let mut rest = q.as_str();
        while let Some(i) = rest.find("bmstap_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            assert!(
                metrics.iter().any(|m| m == &tail[..end]),
                "{} in {q}",
                &tail[..end]
            );
            named += 1;
            rest = &tail[end..];
        }
    }
    assert!(named > 50, "only {named} metric names found");

    // InfluxDB: every "quoted" name is the measurement, a tag or a catalogue field; every
    // /regex/ other than $device selects the flattened items of an array field
    let d: serde_json::Value = serde_json::from_str(&text("bmstap-influxdb.json")).unwrap();
    let mut named = 0;
    for q in queries(&d, "query") {
        let mut parts = q.split('"');
        parts.next();
        while let (Some(name), _) = (parts.next(), parts.next()) {
            named += 1;
            let ok = ["bmstap", "device", "source"].contains(&name)
                || CATALOG
                    .iter()
                    .any(|f| f.name == name && f.kind != Kind::Array);
            assert!(ok, "\"{name}\" in {q}");
        }
        for re in q.split(" /").skip(1).chain(q.split("(/").skip(1)) {
            let re = &re[..re.find("/").unwrap_or(re.len())];
            if re == "^$device$" {
                continue;
            }
            let item = re
                .trim_start_matches('^')
                .trim_end_matches('$')
                .replace("\\d+", "01");
            let ok = CATALOG
                .iter()
                .any(|f| f.kind == Kind::Array && bmstap::ha::item_name(f.name, 0) == item);
            assert!(ok, "/{re}/ in {q}");
            named += 1;
        }
    }
    assert!(named > 50, "only {named} names found");
}
