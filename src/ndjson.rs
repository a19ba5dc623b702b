//! NDJSON out: one record per line on stdout, flushed at once so `| jq` and `| mosquitto_pub`
//! see each record as it happens. A closed stdout (`| head -1`) becomes [`StdoutClosed`],
//! which the shared main turns into a quiet exit 0; an `EPIPE` from a serial port or socket
//! stays an ordinary error (style.md §2: the narrow broken-pipe rule).

use crate::record::Record;
use std::fmt;
use std::io::{self, BufWriter, Stdout, Write};

/// stdout was closed by the reader.
#[derive(Debug, Clone, Copy)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes records as NDJSON, flushing after each one.
pub struct RecordWriter<W: Write = BufWriter<Stdout>> {
    out: W,
    line: Vec<u8>,
    written: u64,
}

impl RecordWriter<BufWriter<Stdout>> {
    /// The writer on this process's stdout.
    pub fn stdout() -> Self {
        RecordWriter::new(BufWriter::with_capacity(64 * 1024, io::stdout()))
    }
}

impl<W: Write> RecordWriter<W> {
    pub fn new(out: W) -> Self {
        RecordWriter {
            out,
            line: Vec::with_capacity(1024),
            written: 0,
        }
    }

    /// Writes one record and flushes.
    pub fn write(&mut self, record: &Record) -> anyhow::Result<()> {
        self.write_record(record)?;
        self.flush()
    }

    /// Writes one record into the buffer without flushing (filters: see [`Self::flush`]).
    pub fn write_record(&mut self, record: &Record) -> anyhow::Result<()> {
        self.line.clear();
        record.write_json(&mut self.line)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line).map_err(stdout_error)?;
        self.written += 1;
        Ok(())
    }

    /// Writes any serialisable value as one line and flushes.
    pub fn write_value<T: serde::Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        self.write_buffered(value)?;
        self.flush()
    }

    /// Writes one record into the buffer without flushing (filters: see [`Self::flush`]).
    pub fn write_buffered<T: serde::Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, value)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line).map_err(stdout_error)?;
        self.written += 1;
        Ok(())
    }

    /// Flushes buffered records. Filters call it whenever their input is drained, so live
    /// pipes see each record at once and files are written in large blocks.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.out.flush().map_err(stdout_error)
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

fn stdout_error(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(StdoutClosed)
    } else {
        anyhow::Error::new(e).context("writing to stdout")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::StatusRecord;
    use crate::time::Timestamp;

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn status() -> Record {
        Record::Status(StatusRecord {
            ts: Timestamp { unix_ms: 0 },
            source: "lp4",
            device: "d".into(),
            error: "e".into(),
        })
    }

    #[test]
    fn one_line_per_record() {
        let mut w = RecordWriter::new(Vec::new());
        w.write(&status()).unwrap();
        w.write(&status()).unwrap();
        let out = String::from_utf8(w.into_inner()).unwrap();
        assert_eq!(out.lines().count(), 2);
        assert!(out.ends_with("}\n"));
    }

    #[test]
    fn closed_stdout_is_its_own_error() {
        let mut w = RecordWriter::new(Closed);
        let err = w.write(&status()).unwrap_err();
        assert!(err.is::<StdoutClosed>());
    }
}
