//! NDJSON out: one record per line on stdout, flushed at once so `| jq` and `| mosquitto_pub`
//! see each record as it happens. A closed stdout (`| head -1`) becomes [`StdoutClosed`],
//! which the shared main turns into a quiet exit 0; an `EPIPE` from a serial port or socket
//! stays an ordinary error (style.md §2: the narrow broken-pipe rule).

use crate::record::Record;
use std::fmt;
use std::io::{self, Stdout, Write};

/// stdout was closed by the reader.
#[derive(Debug, Clone, Copy)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes records as NDJSON into its own buffer, handed to the output on [`Self::flush`]
/// (sources: after every record, see [`Self::write`]) or when 64 KiB have collected
/// (filters, between the flushes they do whenever their input is drained).
pub struct RecordWriter<W: Write = Stdout> {
    out: W,
    buf: Vec<u8>,
}

const BLOCK: usize = 64 * 1024;

impl RecordWriter<Stdout> {
    /// The writer on this process's stdout.
    pub fn stdout() -> Self {
        RecordWriter::new(io::stdout())
    }
}

impl<W: Write> RecordWriter<W> {
    pub fn new(out: W) -> Self {
        RecordWriter {
            out,
            buf: Vec::with_capacity(BLOCK + 4096),
        }
    }

    /// Writes one record and flushes.
    pub fn write(&mut self, record: &Record) -> anyhow::Result<()> {
        self.write_record(record)?;
        self.flush()
    }

    /// Writes one record into the buffer without flushing (filters: see [`Self::flush`]).
    pub fn write_record(&mut self, record: &Record) -> anyhow::Result<()> {
        record.write_json(&mut self.buf)?;
        self.end_record()
    }

    /// Writes one line built by `f` (which appends JSON without the newline), unflushed:
    /// for decoders that write records straight from their own structures.
    pub fn write_with(
        &mut self,
        f: impl FnOnce(&mut Vec<u8>) -> serde_json::Result<()>,
    ) -> anyhow::Result<()> {
        f(&mut self.buf)?;
        self.end_record()
    }

    /// Writes any serialisable value as one line and flushes.
    pub fn write_value<T: serde::Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        self.write_buffered(value)?;
        self.flush()
    }

    /// Writes any serialisable value as one line, without flushing.
    pub fn write_buffered<T: serde::Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.buf, value)?;
        self.end_record()
    }

    /// Hands buffered records to the output and flushes it. Filters call it whenever their
    /// input is drained, so live pipes see each record at once and files are written in
    /// large blocks.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.drain()?;
        self.out.flush().map_err(stdout_error)
    }

    /// The output, after writing what is buffered (a write error is dropped: for tests).
    pub fn into_inner(mut self) -> W {
        let _ = self.drain();
        self.out
    }

    fn end_record(&mut self) -> anyhow::Result<()> {
        self.buf.push(b'\n');
        if self.buf.len() >= BLOCK {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> anyhow::Result<()> {
        if !self.buf.is_empty() {
            let r = self.out.write_all(&self.buf);
            self.buf.clear();
            r.map_err(stdout_error)?;
        }
        Ok(())
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
            error: Some("e".into()),
            stats: None,
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
