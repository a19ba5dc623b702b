//! Serial ports for a bus master: opened exclusively (serialport sets TIOCEXCL and takes a
//! `flock`, which holds for root too), one request/reply transaction at a time with a
//! deadline, `--trace` dumps and `--capture` copies of every byte.

use crate::io::capture::Capture;
use serialport::{ClearBuffer, SerialPort, TTYPort};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// How a port failed to open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: no such port (is the adapter plugged in? ls /dev/serial/by-id/ lists them)")]
    Missing { path: String },
    #[error("{path}: port busy (another program has it open; stop it or use another port)")]
    Busy { path: String },
    #[error("{path}: permission denied (add yourself to the 'dialout' group)")]
    Permission { path: String },
    #[error("{path}: cannot open at {baud} baud: {}", not_a_tty(source))]
    Other {
        path: String,
        baud: u32,
        #[source]
        source: io::Error,
    },
}

/// What a scanner says about the bytes received so far.
pub enum Step<T> {
    /// Keep reading until the deadline.
    More,
    /// The bytes look complete but are not valid: finish early unless more arrive soon.
    Settle,
    /// Finished, with the answer or the reason it is not one.
    Done(Result<T, String>),
}

/// Why a transaction failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// Nothing came back in time.
    #[error("timeout after {} ms", .0.as_millis())]
    Timeout(Duration),
    /// Something came back but it is not the answer.
    #[error("{0}")]
    Reply(String),
    /// The port itself failed (unplugged, hung up): reopen it.
    #[error("port error: {0}")]
    Io(#[from] io::Error),
}

/// An open serial line to a bus of packs.
pub struct Link {
    port: TTYPort,
    /// Short name for logs and device ids (`ttyUSB0`).
    pub label: String,
    pub baud: u32,
    capture: Option<Capture>,
    buf: Vec<u8>,
}

/// The last path component: `/dev/ttyUSB0` → `ttyUSB0`.
pub fn port_label(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

impl Link {
    /// Opens `path` at `baud`, 8N1, exclusively.
    pub fn open(path: &str, baud: u32, capture: Option<Capture>) -> Result<Link, OpenError> {
        if !std::path::Path::new(path).exists() {
            return Err(OpenError::Missing { path: path.into() });
        }
        let port = serialport::new(path, baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(100))
            .open_native()
            .map_err(|e| map_open_error(path, baud, e))?;
        Ok(Link {
            port,
            label: port_label(path),
            baud,
            capture,
            buf: Vec::with_capacity(512),
        })
    }

    /// Changes the line speed (for `--scan`).
    pub fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        self.port.set_baud_rate(baud).map_err(io::Error::from)?;
        self.baud = baud;
        Ok(())
    }

    /// Sends `request` and reads until `scan` settles it or `timeout` passes.
    ///
    /// Stale input is discarded first. `scan(bytes, final)` is called after every read and
    /// once more with `final = true` at the deadline, when it must answer `Done`.
    pub fn transact<T>(
        &mut self,
        request: &[u8],
        timeout: Duration,
        mut scan: impl FnMut(&[u8], bool) -> Step<T>,
    ) -> Result<T, LinkError> {
        let _ = self.port.clear(ClearBuffer::Input);
        crate::log::trace(&self.label, ">", request);
        if let Some(c) = &self.capture {
            c.append(request);
        }
        self.port.write_all(request)?;
        self.port.flush()?;
        self.buf.clear();
        let deadline = Instant::now() + timeout;
        let mut settle_until: Option<Instant> = None;
        let mut chunk = [0u8; 512];
        let outcome = loop {
            let now = Instant::now();
            let until = settle_until.map_or(deadline, |s| s.min(deadline));
            if now >= until {
                break self.finish(&mut scan, timeout);
            }
            self.port
                .set_timeout(until - now)
                .map_err(io::Error::from)?;
            match self.port.read(&mut chunk) {
                Ok(0) => {
                    break Err(LinkError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "line hung up",
                    )))
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    if self.buf.len() > 4096 {
                        break Err(LinkError::Reply(format!(
                            "{} bytes of noise, no reply",
                            self.buf.len()
                        )));
                    }
                    match scan(&self.buf, false) {
                        Step::More => settle_until = None,
                        Step::Settle => {
                            settle_until = Some(Instant::now() + settle_time(self.baud))
                        }
                        Step::Done(r) => break r.map_err(LinkError::Reply),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(LinkError::Io(e)),
            }
        };
        if !self.buf.is_empty() {
            crate::log::trace(&self.label, "<", &self.buf);
            if let Some(c) = &self.capture {
                c.append(&self.buf);
            }
        }
        outcome
    }

    fn finish<T>(
        &self,
        scan: &mut impl FnMut(&[u8], bool) -> Step<T>,
        timeout: Duration,
    ) -> Result<T, LinkError> {
        if self.buf.is_empty() {
            return Err(LinkError::Timeout(timeout));
        }
        match scan(&self.buf, true) {
            Step::Done(r) => r.map_err(LinkError::Reply),
            _ => Err(LinkError::Reply(format!(
                "no valid reply in {} bytes",
                self.buf.len()
            ))),
        }
    }
}

/// How long a line must stay quiet after a complete-looking but invalid reply before we give
/// up on it: many character times, and more than a USB adapter's 16 ms latency timer.
fn settle_time(baud: u32) -> Duration {
    let char_time = Duration::from_micros(11_000_000 / u64::from(baud.max(300)));
    (char_time * 20).max(Duration::from_millis(40))
}

/// ENOTTY's "Not a typewriter" said in today's words.
fn not_a_tty(e: &io::Error) -> String {
    if e.raw_os_error() == Some(libc::ENOTTY) {
        "not a serial port (give the adapter's device, e.g. /dev/ttyUSB0)".into()
    } else {
        e.to_string()
    }
}

fn map_open_error(path: &str, baud: u32, e: serialport::Error) -> OpenError {
    // serialport reports EBUSY (TIOCEXCL held by another process) and a held flock as
    // NoDevice; the path exists (checked before), so that means busy.
    if e.kind() == serialport::ErrorKind::NoDevice && std::path::Path::new(path).exists() {
        return OpenError::Busy { path: path.into() };
    }
    let io: io::Error = e.into();
    match io.kind() {
        io::ErrorKind::NotFound => OpenError::Missing { path: path.into() },
        io::ErrorKind::PermissionDenied => OpenError::Permission { path: path.into() },
        _ if io.raw_os_error() == Some(libc::EBUSY) => OpenError::Busy { path: path.into() },
        _ => OpenError::Other {
            path: path.into(),
            baud,
            source: io,
        },
    }
}
