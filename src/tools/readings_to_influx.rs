//! readings-to-influx: readings (NDJSON on stdin) as InfluxDB line protocol, on stdout or
//! written to an InfluxDB (or anything that takes its write API) over HTTP.
//!
//! To stdout it is a filter: one line per reading, flushed whenever the input is drained.
//! The line encoding is [`crate::tsdb::line`].

use crate::cli::Common;
use crate::exit::{usage, Exit};
use crate::io::lines::LineReader;
use crate::ndjson::RecordWriter;
use crate::tools::readings_to_mqtt::parse_line;
use crate::tsdb::line::{Encoder, Precision};
use serde_json::Value;

const EXAMPLES: &str = "\
Examples:
  # Line protocol on stdout (timestamps in ms: tell the consumer)
  lp4-poll /dev/ttyUSB0 | readings-to-influx | influx write --bucket bms --precision ms

  # A file of readings into InfluxDB 1.x with its CLI
  readings-to-influx --precision ns < readings.ndjson > readings.lp
  influx -import -path=readings.lp -precision=ns

  # Telegraf reads it from a process: [[inputs.execd]] command = [\"sh\", \"-c\",
  # \"lp4-poll /dev/ttyUSB0 | readings-to-influx --precision ns\"], data_format = \"influx\"

Measurement bmstap (--measurement); tags device, source and model (from info); fields every
number (as a float), boolean and string of the reading, arrays flattened like the MQTT state
(cell_01_voltage, temperature_01, ...); timestamp from ts.

Exit status: 0 all written, 1 some input lines were skipped, 2 usage error.";

/// Write bmstap readings (NDJSON on stdin) as InfluxDB line protocol.
#[derive(Debug, clap::Parser)]
#[command(name = "readings-to-influx", version, after_help = EXAMPLES, help_template = crate::cli::HELP_TEMPLATE)]
pub struct Args {
    /// Measurement name of every line
    #[arg(long, default_value = "bmstap")]
    pub measurement: String,
    /// Timestamp precision of the lines
    #[arg(long, value_enum, default_value = "ms")]
    pub precision: Precision,
    #[command(flatten)]
    pub common: Common,
}

/// Input lines longer than this are skipped (a reading is ~1-2 KiB).
const LINE_CAP: usize = 1024 * 1024;

/// One input line turned into line protocol: appended to `out` (with its `\n`), `Ok(false)`
/// for a record that gives no line (not a reading, or a reading without fields), `Err` for a
/// line that is not a record or a reading that breaks the contract.
pub fn encode_line(enc: &Encoder, b: &[u8], out: &mut Vec<u8>) -> Result<bool, String> {
    let Some((v, _)) = parse_line(b)? else {
        return Ok(false);
    };
    match v.get("type").and_then(Value::as_str) {
        Some("reading") => enc.reading(&v, out).map_err(|e| e.to_string()),
        Some("status" | "frame") => Ok(false),
        Some(other) => Err(format!("unknown record type \"{other}\"")),
        None => Err("no \"type\"".into()),
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    args.common.init_logging();
    let enc = Encoder::new(&args.measurement, args.precision).map_err(usage)?;
    let mut lines = LineReader::new(std::io::stdin(), LINE_CAP);
    let mut out = RecordWriter::stdout();
    let mut line = Vec::with_capacity(4096);
    let (mut written, mut bad) = (0u64, 0u64);
    loop {
        let (n, l) = match lines.next_line() {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) => {
                log::error!("reading stdin: {e}");
                bad += 1;
                break;
            }
        };
        line.clear();
        let r = match l {
            Err(len) => Err(format!("line too long ({len} bytes)")),
            Ok(b) => encode_line(&enc, b, &mut line),
        };
        match r {
            Ok(true) => {
                written += 1;
                out.write_with(|b| {
                    b.extend_from_slice(&line[..line.len() - 1]);
                    Ok(())
                })?;
            }
            Ok(false) => {}
            Err(why) => {
                bad += 1;
                log::warn!("stdin:{n}: {why}; skipped");
            }
        }
        if lines.drained() {
            out.flush()?;
        }
    }
    out.flush()?;
    log::info!("{written} line(s) written");
    if bad > 0 {
        log::warn!("{bad} input line(s) skipped");
        return Ok(Exit::Partial);
    }
    Ok(Exit::Ok)
}
