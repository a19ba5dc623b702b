//! `--capture FILE`: every byte sent and received, appended in bus order, so an exchange can
//! be decoded again offline (`rtu-sniff --input FILE`). One file may serve several port
//! threads; each request and each reply is appended as one piece. The file is never opened
//! through a symlink (see [`crate::io::safefile`]).

use anyhow::Context;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A shared, append-only capture file.
#[derive(Clone)]
pub struct Capture(Arc<Mutex<Inner>>);

struct Inner {
    file: File,
    /// The error of the failing appends (logged once), and how many failed since.
    failing: Option<(String, u64)>,
}

impl Capture {
    pub fn open(path: &Path) -> anyhow::Result<Capture> {
        let f = crate::io::safefile::open_append(path)
            .with_context(|| format!("opening capture file {}", path.display()))?;
        Ok(Capture(Arc::new(Mutex::new(Inner {
            file: f,
            failing: None,
        }))))
    }

    /// Appends `bytes`; never fatal. A failing capture (a full disk) is logged once, again
    /// only when the error changes, and once more when appends work again, with the count of
    /// those that failed.
    pub fn append(&self, bytes: &[u8]) {
        if let Some((level, msg)) = self.append_quietly(bytes) {
            log::log!(level, "{msg}");
        }
    }

    /// [`Self::append`] without the logging: what it would log, if anything.
    fn append_quietly(&self, bytes: &[u8]) -> Option<(log::Level, String)> {
        if bytes.is_empty() {
            return None;
        }
        let mut g = match self.0.lock() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        let inner = &mut *g;
        match inner.file.write_all(bytes) {
            Ok(()) => {
                let (_, n) = inner.failing.take()?;
                Some((
                    log::Level::Warn,
                    format!("capture file: writing again ({n} piece(s) not captured)"),
                ))
            }
            Err(e) => {
                let e = e.to_string();
                match &mut inner.failing {
                    Some((last, n)) if *last == e => {
                        *n += 1;
                        None
                    }
                    _ => {
                        let before = inner.failing.as_ref().map_or(0, |(_, n)| *n);
                        let msg =
                            format!("capture file: {e}; the capture has gaps until it recovers");
                        inner.failing = Some((e, before + 1));
                        Some((log::Level::Error, msg))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full disk (/dev/full) is logged once, not on every append.
    #[test]
    fn a_full_disk_is_logged_once() {
        if !Path::new("/dev/full").exists() {
            return;
        }
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open("/dev/full")
            .unwrap();
        let c = Capture(Arc::new(Mutex::new(Inner {
            file,
            failing: None,
        })));
        let logged: Vec<_> = (0..50)
            .filter_map(|_| c.append_quietly(b"\x01\x03\x00\x00"))
            .collect();
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert!(logged[0].1.contains("No space left"), "{logged:?}");
        let g = c.0.lock().unwrap();
        assert_eq!(g.failing.as_ref().map(|(_, n)| *n), Some(50));
    }
}
