//! Numbered, length-capped line input for the text-reading tools (candump logs, NDJSON).
//!
//! A line longer than the cap is not kept in memory: its bytes are skipped up to the next
//! newline and it is reported as too long, so a corrupt or binary file cannot exhaust
//! memory. Lines are bytes, not strings: invalid UTF-8 is the parser's to report.

use std::fmt::Display;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};

/// One line, or the length of one that was too long to keep.
pub type Line<'a> = Result<&'a [u8], usize>;

/// Reads lines (without `\n` or `\r\n`) from any reader.
pub struct LineReader<R> {
    inner: BufReader<R>,
    buf: Vec<u8>,
    number: u64,
    cap: usize,
    /// Bytes of the line handed out by the fast path, consumed on the next call.
    pending: usize,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R, cap: usize) -> Self {
        LineReader {
            inner: BufReader::with_capacity(64 * 1024, inner),
            buf: Vec::new(),
            number: 0,
            cap,
            pending: 0,
        }
    }

    /// Nothing is buffered: the next line needs a read that may block. Filters flush their
    /// output at this point, so records flow at once through live pipes and in large
    /// blocks through files.
    pub fn drained(&self) -> bool {
        self.inner.buffer().len() <= self.pending
    }

    /// The next line with its 1-based number; `None` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        self.inner.consume(std::mem::take(&mut self.pending));
        self.buf.clear();
        // Fast path: the whole line is already buffered; hand it out without copying.
        if let Some(i) = memchr::memchr(b'\n', self.inner.buffer()).filter(|&i| i <= self.cap) {
            self.number += 1;
            self.pending = i + 1;
            let line = &self.inner.buffer()[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            return Ok(Some((self.number, Ok(line))));
        }
        let mut too_long = false;
        let mut total = 0usize;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (take, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (i, true),
                None => (available.len(), false),
            };
            if !too_long {
                if self.buf.len() + take <= self.cap {
                    self.buf.extend_from_slice(&available[..take]);
                } else {
                    too_long = true;
                    self.buf.clear();
                }
            }
            total += take;
            self.inner.consume(take + usize::from(done));
            if done {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Ok(Some((self.number, Err(total))));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some((self.number, Ok(&self.buf))))
    }
}

/// Skipped input lines named one by one on stderr; past these, only counted (each consumer
/// says the count at the end, and its exit status is 1).
pub const BAD_NAMED: u64 = 5;

/// Counts skipped lines and says which to log: the first [`BAD_NAMED`], then one line saying
/// the rest are only counted.
#[derive(Debug, Default)]
pub struct BadLines(AtomicU64);

impl BadLines {
    pub const fn new() -> BadLines {
        BadLines(AtomicU64::new(0))
    }

    /// One more skipped line: what to log about it, if anything.
    pub fn note(&self, source: &str, n: u64, why: &dyn Display) -> Option<String> {
        let k = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        if k <= BAD_NAMED {
            Some(format!("{source}:{n}: {why}; skipped"))
        } else if k == BAD_NAMED + 1 {
            Some(format!(
                "{source}:{n}: {why}; skipped (further bad lines are only counted)"
            ))
        } else {
            None
        }
    }
}

/// The process's skipped input lines: every NDJSON consumer reports them here, so a file of
/// garbage gives a few warnings and a count, not one warning per line.
static SKIPPED: BadLines = BadLines::new();

/// Reports input line `n` of `source` (`stdin`) skipped as bad, rate-limited (see
/// [`BadLines`]); counting it for the exit status stays the caller's.
pub fn skipped(source: &str, n: u64, why: &dyn Display) {
    if let Some(msg) = SKIPPED.note(source, n, why) {
        log::warn!("{msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19 item 12: a file of garbage gives a few warnings, not one per line.
    #[test]
    fn bad_lines_are_named_a_few_times_then_counted() {
        let b = BadLines::new();
        let said: Vec<String> = (1..=500)
            .filter_map(|n| b.note("stdin", n, &"not JSON"))
            .collect();
        assert_eq!(said.len(), BAD_NAMED as usize + 1);
        assert_eq!(said[0], "stdin:1: not JSON; skipped");
        assert!(said.last().unwrap().contains("only counted"));
    }

    fn all(input: &[u8], cap: usize) -> Vec<(u64, Result<Vec<u8>, usize>)> {
        let mut r = LineReader::new(input, cap);
        let mut out = Vec::new();
        while let Some((n, l)) = r.next_line().unwrap() {
            out.push((n, l.map(|b| b.to_vec())));
        }
        out
    }

    #[test]
    fn numbers_lines_and_caps_length() {
        let got = all(b"a\r\nbb\n\n0123456789abc\nlast", 10);
        assert_eq!(
            got,
            vec![
                (1, Ok(b"a".to_vec())),
                (2, Ok(b"bb".to_vec())),
                (3, Ok(vec![])),
                (4, Err(13)),
                (5, Ok(b"last".to_vec())),
            ]
        );
        assert!(all(b"", 10).is_empty());
        assert_eq!(all(b"\xff\xfe\n", 10), vec![(1, Ok(vec![0xff, 0xfe]))]);
    }

    #[test]
    fn long_lines_do_not_grow_memory() {
        let big = vec![b'x'; 5_000_000];
        let mut input = big.clone();
        input.extend_from_slice(b"\nok\n");
        let mut r = LineReader::new(&input[..], 1024);
        assert_eq!(r.next_line().unwrap().unwrap().1, Err(5_000_000));
        assert!(r.buf.capacity() <= 64 * 1024);
        assert_eq!(r.next_line().unwrap().unwrap().1, Ok(&b"ok"[..]));
    }
}
