//! Logging to stderr: `tool: message`, warnings by default, `-v` info, `-vv` debug,
//! `-q` errors only, `-qq` nothing. `RUST_LOG=debug` (a level name) overrides the flags.
//! `--trace` frame dumps are written by [`trace`] regardless of level (unless `-qq`).
//!
//! A 40-line logger instead of env_logger: we need neither filters nor colours.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static TOOL: OnceLock<String> = OnceLock::new();
static TRACE: AtomicBool = AtomicBool::new(false);

/// The running tool's name, for message prefixes.
pub fn tool_name() -> &'static str {
    TOOL.get_or_init(|| {
        std::env::args_os()
            .next()
            .and_then(|a| {
                std::path::Path::new(&a)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "bmstap".into())
    })
}

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = match r.level() {
            Level::Error | Level::Info => writeln!(err, "{}: {}", tool_name(), r.args()),
            Level::Warn => writeln!(err, "{}: warning: {}", tool_name(), r.args()),
            Level::Debug | Level::Trace => writeln!(err, "{}: debug: {}", tool_name(), r.args()),
        };
    }

    fn flush(&self) {}
}

/// Installs the logger. `verbose`/`quiet` are the counts of `-v`/`-q`.
pub fn init(verbose: u8, quiet: u8, trace: bool) {
    let mut level = match i16::from(verbose) - i16::from(quiet) {
        i16::MIN..=-2 => LevelFilter::Off,
        -1 => LevelFilter::Error,
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    if let Ok(env) = std::env::var("RUST_LOG") {
        if let Ok(l) = env.trim().parse::<LevelFilter>() {
            level = l;
        }
    }
    TRACE.store(trace && level != LevelFilter::Off, Ordering::Relaxed);
    let _ = log::set_logger(&StderrLogger);
    log::set_max_level(level);
}

/// Is `--trace` on?
pub fn tracing() -> bool {
    TRACE.load(Ordering::Relaxed)
}

/// Writes a frame dump line (`--trace`): `tool: ttyUSB0 > 01 03 00 00 00 27 05 D0`.
pub fn trace(port: &str, dir: &str, bytes: &[u8]) {
    if !tracing() {
        return;
    }
    let line = crate::hexfmt::spaced(bytes);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}: {port} {dir} {line}", tool_name());
}
