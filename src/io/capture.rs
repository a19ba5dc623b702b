//! `--capture FILE`: every byte sent and received, appended in bus order, so an exchange can
//! be decoded again offline (`rtu-sniff --input FILE`). One file may serve several port
//! threads; each request and each reply is appended as one piece.

use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A shared, append-only capture file.
#[derive(Clone)]
pub struct Capture(Arc<Mutex<File>>);

impl Capture {
    pub fn open(path: &Path) -> anyhow::Result<Capture> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening capture file {}", path.display()))?;
        Ok(Capture(Arc::new(Mutex::new(f))))
    }

    /// Appends `bytes`; a failing capture is logged once per error, never fatal.
    pub fn append(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut f = match self.0.lock() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        if let Err(e) = f.write_all(bytes) {
            log::error!("capture file: {e}");
        }
    }
}
