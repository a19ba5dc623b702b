//! The CAN input side every CAN decoder shares (eflex-candump-decode, pylon-candump-decode):
//! candump text from files or standard input, or a live SocketCAN interface, turned into
//! frames with a timestamp and handed to a [`FrameSink`]. A decoder adds a codec, not a way
//! to read frames (style.md, house style 20).
//!
//! Text input: every candump flavour ([`crate::proto::candump`]); lines that are not candump
//! are reported as FILE:LINE on stderr (the first 20), counted and skipped; `DROPCOUNT`
//! notices are logged. `--trace` writes every frame read as hex on stderr. Live input (`--interface`): classic frames with the kernel's receive
//! time; listen-only in effect (nothing is ever sent). A missing interface is "unavailable"
//! (exit 75); an interface that goes down while we read ("network is down") is waited out,
//! keeping all state.
//!
//! Time (readings.md: `ts` is never the decoding time for offline input). Lines with an
//! absolute clock (`-l`, `-L`, `-t a`, `-t A`) carry their own. Logs without one (`-t z`,
//! `-t d`, the default format without `-t`) are anchored ([`Anchor`]): on `--start TIME`
//! (the time of the first frame) when given, else on the file's modification time (the time
//! of its last frame; the offsets of `-t z`/`-t d` are counted back from it), else, on
//! standard input, on the time the first frame is read (a live pipe). `-t z` and `-t d`
//! print the same form; a value smaller than the one before means deltas (`-t d`).
//! Decoders say which anchor in `raw` (`ts_anchor`).

use crate::exit::{unavailable, usage};
use crate::io::lines::LineReader;
use crate::ndjson::RecordWriter;
use crate::proto::candump::{self, CanFrame, Line, Timestamp as LogTime};
use crate::time::{days_from_civil, Timestamp};
use socketcan::{CanSocket, EmbeddedFrame, Id, Socket};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Where the input comes from: shared by every CAN decoder (flattened into its `Args`).
#[derive(Debug, Clone, clap::Args)]
pub struct CanOpts {
    /// candump text files, read in order ('-' or none: standard input)
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Read a SocketCAN interface (e.g. can0) instead of candump text; nothing is ever sent
    #[arg(long, value_name = "IFACE", conflicts_with = "files")]
    pub interface: Option<String>,
    /// Time of the first frame of logs without an absolute clock (candump -t z, -t d, or no
    /// -t): RFC 3339 (2026-11-20T14:00:00Z; without a zone: local time) or Unix seconds
    /// [default: the file's modification time, counted back over the log]
    #[arg(long, value_name = "TIME", value_parser = parse_start, conflicts_with = "interface")]
    pub start: Option<Timestamp>,
}

/// What anchors the time of a log without an absolute clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// `--start`.
    Start,
    /// The file's modification time (the time of its last frame).
    FileTime,
    /// The time the first frame was read (standard input without --start).
    ReadTime,
}

impl Anchor {
    /// The value decoders put in `raw.ts_anchor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start option",
            Anchor::FileTime => "file modification time",
            Anchor::ReadTime => "time read",
        }
    }
}

/// A frame's time, and the anchor when the log had no absolute clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub ts: Timestamp,
    pub anchor: Option<Anchor>,
}

/// A decoder fed by the CAN input side.
pub trait FrameSink {
    /// One frame (any kind: the decoder picks what it reads). `label` names the input: the
    /// interface for live input, the file stem for a file, the interface of the line on
    /// standard input.
    fn frame(
        &mut self,
        frame: &CanFrame,
        stamp: Stamp,
        label: &str,
        out: &mut RecordWriter<impl Write>,
    ) -> anyhow::Result<()>;

    /// The end of one input file (or of standard input), before the next input starts. A
    /// decoder whose readings belong to the input they came from (pylon names its device by
    /// the file stem) finishes or drops here what it is still assembling; the default keeps
    /// it, so files given in order read as one capture (a rotated log), as eflex wants.
    fn end_of_input(&mut self, _out: &mut RecordWriter<impl Write>) -> anyhow::Result<()> {
        Ok(())
    }
}

/// What the text input met.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextStats {
    /// Lines that were not candump (or too long), skipped.
    pub bad_lines: u64,
}

/// Line length cap: candump lines are < 300 bytes, even CAN FD ones.
const LINE_CAP: usize = 8192;
/// Skipped lines reported one by one before only counting them.
const REPORT_LINES: u64 = 20;

/// Reads what `opts` names into `sink`: the files (or standard input) to their end, or the
/// live interface until an error (`bitrate` only for the hint when it does not exist).
/// Unreadable files are a usage error before any output.
pub fn read(
    opts: &CanOpts,
    bitrate: u32,
    sink: &mut impl FrameSink,
    out: &mut RecordWriter,
) -> anyhow::Result<TextStats> {
    if let Some(iface) = &opts.interface {
        live(iface, bitrate, sink, out)?;
        return Ok(TextStats::default());
    }
    let mut inputs: Vec<Input> = Vec::new();
    if opts.files.is_empty() {
        inputs.push(Input::stdin());
    }
    for f in &opts.files {
        if f.as_os_str() == "-" {
            inputs.push(Input::stdin());
            continue;
        }
        let file = std::fs::File::open(f)
            .map_err(|e| usage(format!("cannot read {}: {e}", f.display())))?;
        // A pipe given as a file (`<(candump ...)`) has no useful modification time and
        // cannot be read twice: it is stamped like standard input.
        let meta = file.metadata().ok().filter(|m| m.is_file());
        let mtime = meta.and_then(|m| m.modified().ok());
        inputs.push(Input {
            name: f.display().to_string(),
            label: f
                .file_stem()
                .filter(|_| mtime.is_some())
                .map(|s| s.to_string_lossy().into_owned()),
            path: Some(f.clone()),
            mtime: mtime.map(Timestamp::from_system),
            reader: Box::new(file),
        });
    }
    let mut stats = TextStats::default();
    for input in inputs {
        let mut clock = Clock::new(opts.start, input.mtime);
        // Whether the log holds deltas (-t d) is known only from a pass over it: with --start
        // too, or a delta log would be read as offsets until its first step back.
        if input.mtime.is_some() {
            if let Some(path) = &input.path {
                clock.relative = relative_span(path);
            }
        }
        decode_text(input, clock, sink, out, &mut stats)?;
        sink.end_of_input(out)?;
    }
    Ok(stats)
}

struct Input {
    name: String,
    /// The file stem of a regular file; other inputs are named by the lines' interface.
    label: Option<String>,
    path: Option<PathBuf>,
    mtime: Option<Timestamp>,
    reader: Box<dyn Read>,
}

impl Input {
    fn stdin() -> Input {
        Input {
            name: "stdin".into(),
            label: None,
            path: None,
            mtime: None,
            reader: Box::new(io::stdin()),
        }
    }
}

/// Decodes one candump text stream.
fn decode_text(
    input: Input,
    mut clock: Clock,
    sink: &mut impl FrameSink,
    out: &mut RecordWriter<impl Write>,
    stats: &mut TextStats,
) -> anyhow::Result<()> {
    let Input {
        name,
        label,
        reader,
        ..
    } = input;
    let mut lines = LineReader::new(reader, LINE_CAP);
    loop {
        if lines.drained() {
            out.flush()?;
        }
        let Some((n, line)) = lines
            .next_line()
            .map_err(|e| anyhow::anyhow!("reading {name}: {e}"))?
        else {
            return Ok(());
        };
        let bytes = match line {
            Ok(b) => b,
            Err(len) => {
                skip(stats, &name, n, &format!("line too long ({len} bytes)"));
                continue;
            }
        };
        match candump::parse_line(bytes) {
            // An 8-digit id with bit 29 (CAN_ERR_FLAG) set is how candump writes a bus error
            // report (`candump -e`), not a frame any battery sent: reported, never decoded.
            Ok(Line::Frame(f)) if f.frame.kind == candump::FrameKind::Error => {
                let id = (f.frame.id & candump::EFF_MASK) | candump::ERR_FLAG;
                let why = format!(
                    "{id:08X}: bit 29 (CAN_ERR_FLAG) is set: an error frame (a bus error \
                     report), not data"
                );
                skip(stats, &name, n, &why);
            }
            Ok(Line::Frame(f)) => {
                let stamp = clock.stamp(f.ts.as_ref());
                let label = label.as_deref().unwrap_or(f.iface);
                trace(label, &f.frame);
                sink.frame(&f.frame, stamp, label, out)?;
            }
            Ok(Line::DropCount(d)) => log::info!("{name}:{n}: {}", d.text),
            Ok(_) => {}
            Err(e) => skip(stats, &name, n, &e.to_string()),
        }
    }
}

/// `--trace`: `tool: can0 < 351 14 02 C0 12 C0 12 C2 01`.
fn trace(label: &str, f: &CanFrame) {
    if crate::log::tracing() {
        let id = if f.extended {
            format!("< {:08X}", f.id)
        } else {
            format!("< {:03X}", f.id)
        };
        crate::log::trace(label, &id, f.data());
    }
}

fn skip(stats: &mut TextStats, name: &str, line: u64, why: &str) {
    stats.bad_lines += 1;
    if stats.bad_lines <= REPORT_LINES {
        log::warn!("{name}:{line}: {why}; skipped");
        if stats.bad_lines == REPORT_LINES {
            log::warn!("further skipped lines are only counted");
        }
    }
}

/// How a log without an absolute clock counts time, learnt from a first pass over a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Relative {
    /// `-t d`: each value is the delta to the previous frame.
    deltas: bool,
    /// Offset of the last frame from the first, in nanoseconds.
    span_ns: u64,
}

/// Turns the timestamps of one input into absolute times.
struct Clock {
    start: Option<Timestamp>,
    mtime: Option<Timestamp>,
    /// From the first pass over a file, when its lines carry relative times.
    relative: Option<Relative>,
    /// Unix ms of the first frame, once known.
    base_ms: Option<i64>,
    deltas: bool,
    prev_rel: Option<u64>,
    offset_ns: u64,
}

impl Clock {
    fn new(start: Option<Timestamp>, mtime: Option<Timestamp>) -> Clock {
        Clock {
            start,
            mtime,
            relative: None,
            base_ms: None,
            deltas: false,
            prev_rel: None,
            offset_ns: 0,
        }
    }

    fn anchor(&self) -> (Timestamp, Anchor) {
        match (self.start, self.mtime) {
            (Some(s), _) => (s, Anchor::Start),
            (None, Some(m)) => (m, Anchor::FileTime),
            (None, None) => (Timestamp::now(), Anchor::ReadTime),
        }
    }

    fn stamp(&mut self, ts: Option<&LogTime>) -> Stamp {
        match ts {
            Some(t @ (LogTime::Absolute { .. } | LogTime::Civil { .. })) => Stamp {
                ts: absolute(t),
                anchor: None,
            },
            Some(&LogTime::Relative { secs, nanos }) => {
                let rel = secs
                    .saturating_mul(1_000_000_000)
                    .saturating_add(u64::from(nanos));
                if let Some(r) = self.relative {
                    self.deltas = r.deltas;
                } else if self.prev_rel.is_some_and(|p| rel < p) {
                    self.deltas = true;
                }
                self.offset_ns = if self.deltas {
                    self.offset_ns.saturating_add(rel)
                } else {
                    rel
                };
                self.prev_rel = Some(rel);
                let (at, anchor) = self.anchor();
                let base = *self
                    .base_ms
                    .get_or_insert_with(|| match (anchor, self.relative) {
                        // The modification time is the last frame's: count the span back.
                        (Anchor::FileTime, Some(r)) => at.unix_ms - (r.span_ns / 1_000_000) as i64,
                        (Anchor::ReadTime, _) => at.unix_ms - (rel / 1_000_000) as i64,
                        _ => at.unix_ms,
                    });
                Stamp {
                    ts: Timestamp {
                        unix_ms: base.saturating_add((self.offset_ns / 1_000_000) as i64),
                    },
                    anchor: Some(anchor),
                }
            }
            None => {
                let (at, anchor) = self.anchor();
                Stamp {
                    ts: at,
                    anchor: Some(anchor),
                }
            }
        }
    }
}

/// A first pass over a file whose first frame line has a relative time (`-t z`/`-t d`):
/// whether the values are deltas, and the span of the log. `None` for any other file.
fn relative_span(path: &std::path::Path) -> Option<Relative> {
    let file = std::fs::File::open(path).ok()?;
    let mut lines = LineReader::new(file, LINE_CAP);
    let mut prev: Option<u64> = None;
    let mut deltas = false;
    let (mut sum, mut last) = (0u64, 0u64);
    while let Ok(Some((_, line))) = lines.next_line() {
        let Ok(bytes) = line else { continue };
        let Ok(Line::Frame(f)) = candump::parse_line(bytes) else {
            continue;
        };
        let Some(LogTime::Relative { secs, nanos }) = f.ts else {
            // An absolute clock (or none) from the first frame on: nothing to learn.
            prev?;
            continue;
        };
        let rel = secs
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(nanos));
        deltas |= prev.is_some_and(|p| rel < p);
        sum = sum.saturating_add(rel);
        last = rel;
        prev = Some(rel);
    }
    prev?;
    Some(Relative {
        deltas,
        span_ns: if deltas { sum } else { last },
    })
}

/// Absolute time of a candump timestamp; `-t A` civil times are local time.
fn absolute(ts: &LogTime) -> Timestamp {
    match *ts {
        LogTime::Absolute { secs, nanos } => Timestamp::from_secs_nanos(secs, nanos),
        LogTime::Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
        } => {
            let naive = days_from_civil(i64::from(year), u32::from(month), u32::from(day)) * 86_400
                + i64::from(hour) * 3600
                + i64::from(minute) * 60
                + i64::from(second);
            let secs = naive - local_offset(naive);
            Timestamp {
                unix_ms: secs * 1000 + i64::from(nanos / 1_000_000),
            }
        }
        LogTime::Relative { secs, nanos } => Timestamp::from_secs_nanos(secs, nanos),
    }
}

/// The local time zone's offset from UTC in seconds at (about) `naive` local seconds.
fn local_offset(naive: i64) -> i64 {
    let t: libc::time_t = naive as libc::time_t;
    // SAFETY: localtime_r writes into the zeroed tm we own; tm is plain data.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff
    }
}

/// Parses `--start`: Unix seconds (`1715987139`, `1715987139.25`) or RFC 3339
/// (`2026-11-20T14:00:00Z`, `2026-11-20 14:00:00.5+01:00`; without a zone: local time).
pub fn parse_start(s: &str) -> Result<Timestamp, String> {
    let bad = || format!("invalid time '{s}': expected e.g. 2026-11-20T14:00:00Z or Unix seconds");
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if !(secs.is_finite() && (0.0..1e11).contains(&secs)) {
            return Err(bad());
        }
        return Ok(Timestamp {
            unix_ms: (secs * 1000.0).round() as i64,
        });
    }
    let b = t.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = b.get(from..from + len).ok_or_else(bad)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        Ok(part.iter().fold(0i64, |v, d| v * 10 + i64::from(d - b'0')))
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let from = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == from {
            return Err(bad());
        }
        let frac = &t[from..i.min(from + 3)];
        ms = format!("{frac:0<3}").parse::<i64>().map_err(|_| bad())?;
    }
    let naive = days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + sec;
    let secs = match &t[i..] {
        "" => naive - local_offset(naive),
        "Z" | "z" => naive,
        zone => {
            let zb = zone.as_bytes();
            if zb.len() != 6 || !matches!(zb[0], b'+' | b'-') || zb[3] != b':' {
                return Err(bad());
            }
            let off = num(i + 1, 2)? * 3600 + num(i + 4, 2)? * 60;
            if zb[0] == b'+' {
                naive - off
            } else {
                naive + off
            }
        }
    };
    Ok(Timestamp {
        unix_ms: secs * 1000 + ms,
    })
}

// ---------------------------------------------------------------------------
// Live SocketCAN.

/// A received data frame.
pub struct Received {
    pub id: u32,
    pub extended: bool,
    pub data: [u8; 8],
    pub len: usize,
    pub time: SystemTime,
}

/// An open CAN interface.
pub struct CanInput {
    socket: CanSocket,
    pub iface: String,
}

impl CanInput {
    pub fn open(iface: &str) -> io::Result<CanInput> {
        let socket = CanSocket::open(iface)?;
        socket.set_read_timeout(Duration::from_secs(1))?;
        Ok(CanInput {
            socket,
            iface: iface.to_string(),
        })
    }

    /// The next data frame; `Ok(None)` on a read timeout (a quiet bus). Remote and error
    /// frames are skipped.
    pub fn next_frame(&mut self) -> io::Result<Option<Received>> {
        let (frame, time) = match self.socket.read_frame_with_timestamp() {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        let socketcan::CanFrame::Data(frame) = frame else {
            return Ok(None);
        };
        let (id, extended) = match frame.id() {
            Id::Standard(s) => (u32::from(s.as_raw()), false),
            Id::Extended(x) => (x.as_raw(), true),
        };
        let mut data = [0u8; 8];
        let d = frame.data();
        data[..d.len()].copy_from_slice(d);
        Ok(Some(Received {
            id,
            extended,
            data,
            len: d.len(),
            time,
        }))
    }
}

/// Is this the error of an interface that exists but is down?
pub fn is_down(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENETDOWN)
}

/// Reads the interface for ever, handing every data frame to `sink`.
fn live(
    iface: &str,
    bitrate: u32,
    sink: &mut impl FrameSink,
    out: &mut RecordWriter,
) -> anyhow::Result<()> {
    let mut can = CanInput::open(iface).map_err(|e| {
        let hint = if e.raw_os_error() == Some(libc::ENODEV) {
            format!("{iface}: no such CAN interface (bring it up: ip link set {iface} up type can bitrate {bitrate} listen-only on)")
        } else {
            format!("{iface}: cannot open CAN interface: {e}")
        };
        unavailable(hint)
    })?;
    log::info!("{iface}: reading");
    let mut down = false;
    loop {
        match can.next_frame() {
            Ok(Some(f)) => {
                if down {
                    log::warn!("{iface}: up again");
                    down = false;
                }
                let Some(mut frame) = CanFrame::classic(f.id, &f.data[..f.len.min(8)]) else {
                    continue;
                };
                frame.extended = f.extended;
                let stamp = Stamp {
                    ts: Timestamp::from_system(f.time),
                    anchor: None,
                };
                trace(iface, &frame);
                sink.frame(&frame, stamp, iface, out)?;
                out.flush()?;
            }
            Ok(None) => out.flush()?,
            Err(e) if is_down(&e) => {
                if !down {
                    log::warn!("{iface}: network is down; waiting for it to come back");
                    down = true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(unavailable(format!("{}: {e}", can.iface))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times() {
        let z = parse_start("2026-11-20T14:00:00Z").unwrap();
        assert_eq!(z.to_string(), "2026-11-20T14:00:00.000Z");
        assert_eq!(
            parse_start("2026-11-20 15:00:00.25+01:00")
                .unwrap()
                .to_string(),
            "2026-11-20T14:00:00.250Z"
        );
        assert_eq!(
            parse_start("1715987139.5").unwrap().to_string(),
            "2024-05-17T23:05:39.500Z"
        );
        for bad in [
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-20T14:00",
            "-5",
            "2026-11-20T14:00:00+1",
        ] {
            assert!(parse_start(bad).is_err(), "{bad}");
        }
    }

    fn rel(secs: u64, ms: u32) -> LogTime {
        LogTime::Relative {
            secs,
            nanos: ms * 1_000_000,
        }
    }

    #[test]
    fn relative_times_count_from_the_anchor() {
        let start = Timestamp { unix_ms: 1_000_000 };
        // -t z with --start.
        let mut c = Clock::new(Some(start), None);
        let got: Vec<i64> = [rel(0, 0), rel(0, 500), rel(1, 0)]
            .iter()
            .map(|t| c.stamp(Some(t)).ts.unix_ms)
            .collect();
        assert_eq!(got, vec![1_000_000, 1_000_500, 1_001_000]);
        // -t d, recognised by a value smaller than the one before.
        let mut c = Clock::new(Some(start), None);
        let got: Vec<i64> = [rel(0, 0), rel(1, 0), rel(0, 1), rel(0, 1)]
            .iter()
            .map(|t| c.stamp(Some(t)).ts.unix_ms)
            .collect();
        assert_eq!(got, vec![1_000_000, 1_001_000, 1_001_001, 1_001_002]);
        // A file's modification time is its last frame's: the span is counted back.
        let mut c = Clock::new(None, Some(start));
        c.relative = Some(Relative {
            deltas: false,
            span_ns: 2_000_000_000,
        });
        let s = c.stamp(Some(&rel(0, 0)));
        assert_eq!(s.ts.unix_ms, 998_000);
        assert_eq!(s.anchor, Some(Anchor::FileTime));
        // No timestamp at all: the anchor itself.
        let mut c = Clock::new(None, Some(start));
        assert_eq!(c.stamp(None).ts, start);
        // Absolute clocks are the log's own.
        let abs = LogTime::Absolute {
            secs: 1_715_987_139,
            nanos: 61_290_000,
        };
        assert_eq!(
            c.stamp(Some(&abs)),
            Stamp {
                ts: Timestamp {
                    unix_ms: 1_715_987_139_061
                },
                anchor: None
            }
        );
    }
}
