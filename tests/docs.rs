//! The README and docs/ stay in step with the tools: every tool has its row, its example and
//! its section, the Debian package carries and names it, every link between the pages
//! resolves, and CI runs the README's own test command.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn tools() -> Vec<String> {
    bmstap::tools::commands()
        .iter()
        .map(|c| c.get_name().to_string())
        .collect()
}

/// The lines of the first fenced block after `heading` in a markdown text.
fn block_after<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let at = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?}"));
    text[at..]
        .split("```")
        .nth(1)
        .expect("a fenced block")
        .lines()
        .skip(1)
        .collect()
}

#[test]
fn ci_runs_the_readmes_test_command() {
    let readme = read("README.md");
    let block = block_after(&readme, "## Two commands to start");
    assert_eq!(block.len(), 2, "two commands: {block:?}");
    let command = |line: &str| line.split('#').next().unwrap().trim().to_string();
    assert_eq!(command(block[0]), "scripts/demo");
    let test = command(block[1]);
    let ci = read(".ci/run");
    let ran: Vec<&str> = ci
        .lines()
        .filter_map(|l| l.strip_prefix("echo \"== test\";"))
        .map(str::trim)
        .collect();
    assert_eq!(
        ran,
        [test.as_str()],
        ".ci/run must run the README's test command"
    );
}

#[test]
fn every_tool_has_its_row_example_section_and_package_entry() {
    let readme = read("README.md");
    let tools_md = read("docs/tools.md");
    let cargo = read("Cargo.toml");
    let examples = block_after(&readme, "## The tools, one example each");
    let description = cargo
        .split("extended-description = \"\"\"")
        .nth(1)
        .and_then(|s| s.split("\"\"\"").next())
        .expect("extended-description")
        .replace("\\\n", "");
    for tool in tools() {
        assert!(
            readme.contains(&format!("| [`{tool}`](docs/tools.md#{tool}) |")),
            "README's table has no row for {tool}"
        );
        assert!(
            examples
                .iter()
                .any(|l| l.starts_with(&format!("{tool} ")) || l.contains(&format!("| {tool}"))),
            "README has no example of {tool}"
        );
        assert!(
            tools_md.lines().any(|l| l == format!("## {tool}")),
            "docs/tools.md has no section for {tool}"
        );
        assert!(
            tools_md.contains(&format!("- [{tool}](#{tool})")),
            "docs/tools.md's contents do not list {tool}"
        );
        for asset in [
            format!("[\"target/release/{tool}\", \"usr/bin/\", \"755\"]"),
            format!("[\"man/{tool}.1\", "),
            format!("[\"completions/{tool}.bash\", "),
            format!("[\"completions/_{tool}\", "),
            format!("[\"completions/{tool}.fish\", "),
        ] {
            assert!(cargo.contains(&asset), "Cargo.toml assets lack {asset}");
        }
        assert!(
            description.contains(&tool),
            "the Debian package description does not name {tool}"
        );
    }
    assert!(cargo.contains("[\"docs/*.md\", \"usr/share/doc/bmstap/\", \"644\"]"));
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn links_between_the_pages_resolve() {
    let mut pages = vec![root().join("README.md")];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            pages.push(p);
        }
    }
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let dest: PathBuf = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            let name = page
                .strip_prefix(root())
                .unwrap_or(page)
                .display()
                .to_string();
            assert!(dest.exists(), "{name}: link to {target}: no such file");
            if !anchor.is_empty() {
                let t = std::fs::read_to_string(&dest).unwrap();
                assert!(
                    anchors(&t).iter().any(|a| a == anchor),
                    "{name}: link to {target}: no such heading in {}",
                    Path::new(file).display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} links found");
}

/// docs/deployment.md's install command, run as written (without `sudo`, into a temporary
/// directory, from the test build's binaries): it copies every tool and nothing else.
#[test]
fn install_without_the_package_copies_the_tools_only() {
    let page = read("docs/deployment.md");
    let line = page
        .lines()
        .find(|l| l.starts_with("sudo install -m755 -t /usr/bin target/release/"))
        .expect("the install line");
    let bins = PathBuf::from(env!("CARGO_BIN_EXE_lp4-poll"));
    let bins = bins.parent().unwrap();
    let dest = std::env::temp_dir().join(format!("bmstap-install-{}", std::process::id()));
    std::fs::create_dir_all(&dest).unwrap();
    let script = line
        .trim_start_matches("sudo ")
        .replace("/usr/bin", &dest.display().to_string())
        .replace("target/release/", &format!("{}/", bins.display()));
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let mut got: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    std::fs::remove_dir_all(&dest).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    got.sort();
    let mut want = tools();
    want.sort();
    assert_eq!(got, want);
}

/// docs/tools.md's `influx -import` of readings-to-influx's output, run as written against a
/// real influxd 1.x (the CLI pointed at its port): every reading arrives.
#[test]
fn influx_import_as_documented() {
    use crate::readings_to_influx::{require, Influxd};
    if !require("influx", "influxdb-client") {
        return;
    }
    let Some(db) = Influxd::start("docs-import") else {
        return;
    };
    let page = read("docs/tools.md");
    let block: Vec<&str> = block_after(&page, "InfluxDB 1.x's `influx -import`");
    assert_eq!(block.len(), 2, "{block:?}");
    let dir = crate::common::TempDir::new("docs-import");
    std::fs::copy(
        root().join("testdata/lp4/wombatt-status.ndjson"),
        dir.path("readings.ndjson"),
    )
    .unwrap();
    let bins = PathBuf::from(env!("CARGO_BIN_EXE_readings-to-influx"));
    let script = block.join("\n").replace(
        "influx -import",
        &format!("influx -host 127.0.0.1 -port {} -import", db.port),
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(&dir.0)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bins.parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("failed"), "{err}");
    let rows = db.rows("SELECT count(soc) FROM bmstap");
    assert_eq!(
        rows.first().and_then(|r| r.get("count")),
        Some(&serde_json::json!(1)),
        "{err}"
    );
}

/// `scripts/demo` (the README's first command) with the test build: one compact line per
/// reading, the bank's right after its cycle's last pack; `--json` gives the records, whose
/// `ts` never steps back.
#[test]
fn demo_prints_one_line_per_reading_and_the_bank_after_its_cycle() {
    use crate::readings_to_influx::require;
    if !require("jq", "jq") {
        return;
    }
    let bins = PathBuf::from(env!("CARGO_BIN_EXE_lp4-poll"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(root().join("scripts/demo"))
            .args(args)
            .env("BMSTAP_DEMO_BIN", bins.parent().unwrap())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        (String::from_utf8(out.stdout).unwrap(), err)
    };
    let (text, err) = run(&["--count", "2"]);
    assert!(err.contains("demo: 3 simulated packs"), "{err}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    for (i, line) in lines.iter().enumerate() {
        let device = if i % 4 == 3 {
            "bank".to_string()
        } else {
            format!("sim-demo-0{}", i % 4 + 1)
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[1], device, "{text}");
        assert!(
            line.contains(" SOC ")
                && line.contains(" V ")
                && line.contains(" A ")
                && line.contains(" mV "),
            "{line}"
        );
        let problems = if i % 4 == 2 {
            "warning_cell_ov"
        } else if i % 4 == 3 {
            "a pack has a problem"
        } else {
            "ok"
        };
        assert!(line.ends_with(&format!("mV  {problems}")), "{line}");
    }

    let (text, _) = run(&["--json", "--count", "3"]);
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 12, "{text}");
    let devices: Vec<&str> = records
        .iter()
        .map(|r| r["device"].as_str().unwrap())
        .collect();
    assert_eq!(
        devices.chunks(4).collect::<Vec<_>>(),
        vec![["sim-demo-01", "sim-demo-02", "sim-demo-03", "bank"]; 3]
    );
    let ts: Vec<&str> = records.iter().map(|r| r["ts"].as_str().unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "ts steps back: {ts:?}");
}

/// The `bms-sim ... & POLLER ...` one-liners of the `--help` texts and the README, run as
/// written (only the /tmp paths and fixed ports made private, and `--once` added to a poller
/// that would run for ever), three times each: the poller waits for the simulator instead of
/// failing with "no such port", every pack answers, and the simulator's link is gone after
/// it is stopped.
#[test]
fn simulator_one_liners_work_as_written() {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut texts = Vec::new();
    for tool in ["bms-sim", "lp4-poll", "eg4-7e-query"] {
        let out = crate::common::cmd(tool).arg("--help").output().unwrap();
        texts.push(String::from_utf8(out.stdout).unwrap());
    }
    texts.push(block_after(&read("README.md"), "## The tools, one example each").join("\n"));
    for text in &texts {
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, l) in lines.iter().enumerate() {
            if !l.starts_with("bms-sim ") || !l.contains(" &") {
                continue;
            }
            let (sim, rest) = l.split_once(" &").unwrap();
            let client = if rest.trim().is_empty() {
                lines.get(i + 1).copied().unwrap_or("")
            } else {
                rest.trim()
            };
            pairs.push((sim.to_string(), client.to_string()));
        }
    }
    assert!(pairs.len() >= 6, "{pairs:?}");
    let bins = PathBuf::from(env!("CARGO_BIN_EXE_bms-sim"));
    let bins = bins.parent().unwrap();
    for (sim, client) in &pairs {
        assert!(
            tools().iter().any(|t| client.starts_with(&format!("{t} "))),
            "{sim} & {client}: the next command is not one of the tools"
        );
        for _ in 0..3 {
            let dir = crate::common::TempDir::new("one-liner");
            let port = crate::readings_to_influx::free_port().to_string();
            let private = |s: &str| {
                s.replace("/tmp/", &format!("{}/", dir.0.display()))
                    .replace("127.0.0.1:4196", &format!("127.0.0.1:{port}"))
                    .replace("127.0.0.1:5020", &format!("127.0.0.1:{port}"))
            };
            let sim_line = private(sim);
            let mut client_line = private(client);
            if !client_line.contains("--once") && !client_line.contains("--count") {
                let (tool, args) = client_line.split_once(' ').unwrap();
                client_line = format!("{tool} --once {args}");
            }
            let link = sim_line
                .split_whitespace()
                .skip_while(|w| *w != "--link")
                .nth(1)
                .map(str::to_string);
            let script = format!(
                "{sim_line} >/dev/null &\nsim=$!\n{client_line} > out.ndjson\nrc=$?\n\
                 kill $sim; wait $sim\n{}exit $rc\n",
                link.as_ref()
                    .map(|l| format!(
                        "if [ -L '{l}' ]; then echo 'link left behind' >&2; exit 99; fi\n"
                    ))
                    .unwrap_or_default()
            );
            let out = std::process::Command::new("bash")
                .args(["-c", &script])
                .current_dir(&dir.0)
                .env(
                    "PATH",
                    format!(
                        "{}:{}",
                        bins.display(),
                        std::env::var("PATH").unwrap_or_default()
                    ),
                )
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{sim_line} & {client_line}: {err}"
            );
            let text = std::fs::read_to_string(dir.path("out.ndjson")).unwrap();
            assert!(
                text.lines().any(|l| l.contains("\"type\":\"reading\"")),
                "{sim_line} & {client_line}: {text}"
            );
        }
    }
}

/// The README's table says which protocols bms-poll reads and which packs bms-sim simulates:
/// both lists name every family and every simulator the tools have (a family added without
/// its README mention fails here).
#[test]
fn readme_names_every_protocol_and_simulator() {
    let readme = read("README.md");
    let row = |tool: &str| {
        readme
            .lines()
            .find(|l| l.starts_with(&format!("| [`{tool}`]")))
            .unwrap_or_else(|| panic!("no README row for {tool}"))
            .to_string()
    };
    let poll = row("bms-poll");
    for name in bmstap::family::names() {
        assert!(
            poll.contains(&format!("`{name}`")),
            "bms-poll's row lacks {name}: {poll}"
        );
    }
    let sim = row("bms-sim");
    let commands = bmstap::tools::commands();
    let bms_sim = commands
        .iter()
        .find(|c| c.get_name() == "bms-sim")
        .expect("bms-sim");
    for sub in bms_sim.get_subcommands() {
        let name = sub.get_name();
        // Tools of the simulator, not simulated packs.
        if ["replay", "rtu-capture", "help"].contains(&name) {
            continue;
        }
        assert!(
            sim.contains(&format!("`{name}`")),
            "bms-sim's row lacks {name}: {sim}"
        );
    }
}
