//! The link to a bus of packs, one type whatever carries it (style.md rule 20): a serial
//! port, a pseudo-terminal, or an RS-485 gateway on the network (`tcp://HOST:PORT`,
//! `modbus-tcp://HOST:PORT`, see [`crate::io::net`]). The poll engine and the protocol
//! drivers only see [`Link::transact`]: one request/reply transaction at a time with a
//! deadline, `--trace` dumps and `--capture` copies of every byte.
//!
//! Serial ports are opened exclusively (serialport sets TIOCEXCL and takes a `flock`, which
//! holds for root too). Over a Modbus TCP gateway the link turns the RTU request into an MBAP
//! frame (unit id = the address), checks the reply's transaction id and hands the drivers
//! the RTU frame the reply stands for, so `io::modbus` and the capture file stay RTU.

use crate::io::capture::Capture;
use crate::io::net::{self, ConnectError, Endpoint};
use crate::proto::mbap;
use serialport::{ClearBuffer, SerialPort, TTYPort};
use std::io::{self, Read, Write};
use std::net::TcpStream;
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
    /// Not a port name or gateway address we understand (a usage error).
    #[error("{0}")]
    Malformed(String),
    #[error("{path}: cannot resolve '{host}': {source} (check the name, or give the gateway's IP address)")]
    Resolve {
        path: String,
        host: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path}: connection refused (is the gateway on, in TCP server mode on that port? \
        Most gateways serve one client at a time: another program may be connected to it)"
    )]
    Refused { path: String },
    #[error("{path}: no answer from the gateway within {} s (is it on the network?)", net::CONNECT_TIMEOUT.as_secs())]
    Unreachable { path: String },
    #[error("{path}: cannot connect: {source}")]
    Network {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl OpenError {
    /// The error a tool ends with: exit 2 for an address that cannot be right, 75 (retry
    /// later) for everything else.
    pub fn fatal(self) -> anyhow::Error {
        match self {
            OpenError::Malformed(m) => crate::exit::usage(m),
            other => crate::exit::unavailable(other.to_string()),
        }
    }
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

/// What carries the bytes.
enum Transport {
    Serial(TTYPort),
    /// A transparent gateway: serial bytes unchanged.
    Tcp(TcpStream),
    /// A gateway in Modbus TCP mode; `tid` is the last transaction id sent.
    ModbusTcp {
        stream: TcpStream,
        tid: u16,
    },
}

/// An open line to a bus of packs.
pub struct Link {
    transport: Transport,
    /// Short name for logs and device ids (`ttyUSB0`, `10.0.0.5-4196`).
    pub label: String,
    pub baud: u32,
    capture: Option<Capture>,
    buf: Vec<u8>,
    /// Bytes as received on a Modbus TCP connection (MBAP frames).
    wire: Vec<u8>,
    /// Nothing received yet on this connection: a close now hints at a one-client gateway.
    fresh: bool,
}

/// The last path component: `/dev/ttyUSB0` → `ttyUSB0`.
pub fn port_label(path: &str) -> String {
    std::path::Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

/// Checks a PORT argument without opening it: Err (exit 2) when malformed.
pub fn check_port(path: &str) -> anyhow::Result<Endpoint> {
    Endpoint::parse(path).map_err(crate::exit::usage)
}

/// Extra time a reply may take over a network link (gateway buffering, Wi-Fi, switches).
const NET_JITTER: Duration = Duration::from_millis(100);

/// How long opening waits for a port path that does not exist yet, or a gateway that refuses
/// the connection, before it fails: `bms-sim ... --link L & lp4-poll L` (and the `--tcp`
/// one-liners) start both at once, and the simulator needs a moment to make its link or
/// bind its port. A port that is really missing costs this much before exit 75.
pub const OPEN_GRACE: Duration = Duration::from_secs(2);

impl Link {
    /// Opens `path`: a serial port at `baud`, 8N1, exclusively, or a gateway connection;
    /// a path that does not exist yet or a refused connection is tried again for
    /// [`OPEN_GRACE`].
    pub fn open(path: &str, baud: u32, capture: Option<Capture>) -> Result<Link, OpenError> {
        Link::open_within(path, baud, capture, OPEN_GRACE)
    }

    /// [`Link::open`], waiting at most `grace` (zero: one attempt) for a missing path or a
    /// refused connection.
    pub fn open_within(
        path: &str,
        baud: u32,
        capture: Option<Capture>,
        grace: Duration,
    ) -> Result<Link, OpenError> {
        let endpoint = Endpoint::parse(path).map_err(OpenError::Malformed)?;
        let until = Instant::now() + grace;
        let transport = loop {
            let attempt = match &endpoint {
                Endpoint::Serial(_) => open_serial(path, baud).map(Transport::Serial),
                Endpoint::Tcp { host, port } => connect(path, host, *port).map(Transport::Tcp),
                Endpoint::ModbusTcp { host, port } => {
                    connect(path, host, *port).map(|stream| Transport::ModbusTcp { stream, tid: 0 })
                }
            };
            match attempt {
                Err(e @ (OpenError::Missing { .. } | OpenError::Refused { .. }))
                    if Instant::now() < until =>
                {
                    log::debug!("{e}; trying again");
                    std::thread::sleep(Duration::from_millis(50));
                }
                r => break r?,
            }
        };
        Ok(Link {
            transport,
            label: endpoint.label(),
            baud,
            capture,
            buf: Vec::with_capacity(512),
            wire: Vec::new(),
            fresh: true,
        })
    }

    /// How the link is set up, for the log: `9600 baud`, `connected (transparent gateway)`.
    pub fn settings(&self) -> String {
        match self.transport {
            Transport::Serial(_) => format!("open at {} baud", self.baud),
            Transport::Tcp(_) => "connected (transparent gateway)".into(),
            Transport::ModbusTcp { .. } => "connected (Modbus TCP gateway)".into(),
        }
    }

    /// The bytes received in the last exchange, as they came (MBAP frames on a Modbus TCP
    /// link), for hints about what is on the other end.
    pub fn last_received(&self) -> &[u8] {
        if self.wire.is_empty() {
            &self.buf
        } else {
            &self.wire
        }
    }

    /// Is this a gateway on the network (its line speed is the gateway's setting)?
    pub fn is_network(&self) -> bool {
        !matches!(self.transport, Transport::Serial(_))
    }

    /// Changes the line speed (for `--scan`). A gateway's serial side is set in the
    /// gateway itself: nothing to do.
    pub fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        if let Transport::Serial(port) = &mut self.transport {
            port.set_baud_rate(baud).map_err(io::Error::from)?;
        }
        self.baud = baud;
        Ok(())
    }

    /// Receives whatever arrives within `timeout` (for a listen-only sniffer): Ok(0) when
    /// the line hung up or the gateway closed, Err(TimedOut) when nothing came.
    pub fn receive(&mut self, chunk: &mut [u8], timeout: Duration) -> io::Result<usize> {
        let n = self.read_chunk(chunk, timeout.max(Duration::from_millis(1)))?;
        if n > 0 {
            self.fresh = false;
        }
        Ok(n)
    }

    fn read_chunk(&mut self, chunk: &mut [u8], wait: Duration) -> io::Result<usize> {
        let r = match &mut self.transport {
            Transport::Serial(port) => {
                port.set_timeout(wait).map_err(io::Error::from)?;
                port.read(chunk)
            }
            Transport::Tcp(s) | Transport::ModbusTcp { stream: s, .. } => {
                s.set_read_timeout(Some(wait))?;
                s.read(chunk)
            }
        };
        // A socket's receive timeout is EAGAIN; say what it means.
        r.map_err(|e| net::name_timeout(e, wait))
    }

    /// Discards stale input; Err when the line or connection is gone.
    fn discard_input(&mut self) -> io::Result<()> {
        let open = match &mut self.transport {
            Transport::Serial(port) => {
                let _ = port.clear(ClearBuffer::Input);
                true
            }
            Transport::Tcp(s) | Transport::ModbusTcp { stream: s, .. } => net::drain(s)?,
        };
        if open {
            Ok(())
        } else {
            Err(self.closed())
        }
    }

    /// The error for a line that hung up or a connection the gateway closed.
    fn closed(&self) -> io::Error {
        let why = match (&self.transport, self.fresh) {
            (Transport::Serial(_), _) => "line hung up".to_string(),
            (_, true) => "connection closed by the gateway right after connecting (most gateways \
                 serve one client at a time: another program may be connected to it)"
                .to_string(),
            (_, false) => "connection closed by the gateway".to_string(),
        };
        io::Error::new(io::ErrorKind::UnexpectedEof, why)
    }

    /// A reset or broken connection, with the one-client hint while nothing was received.
    fn hint(&self, e: io::Error) -> io::Error {
        let reset = matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
        );
        if reset && self.fresh && self.is_network() {
            io::Error::new(
                e.kind(),
                format!(
                    "{e} right after connecting (most gateways serve one client at a time: \
                     another program may be connected to it)"
                ),
            )
        } else {
            e
        }
    }

    /// Sends `request` and reads until `scan` settles it or `timeout` passes.
    ///
    /// Stale input is discarded first. `scan(bytes, final)` is called after every read and
    /// once more with `final = true` at the deadline, when it must answer `Done`. Over a
    /// network link the deadline has [`NET_JITTER`] added.
    pub fn transact<T>(
        &mut self,
        request: &[u8],
        timeout: Duration,
        mut scan: impl FnMut(&[u8], bool) -> Step<T>,
    ) -> Result<T, LinkError> {
        self.discard_input().map_err(|e| self.hint(e))?;
        self.send(request).map_err(|e| match e {
            LinkError::Io(e) => LinkError::Io(self.hint(e)),
            other => other,
        })?;
        self.buf.clear();
        self.wire.clear();
        let wait = if self.is_network() {
            timeout + NET_JITTER
        } else {
            timeout
        };
        let deadline = Instant::now() + wait;
        let mut settle_until: Option<Instant> = None;
        let mut chunk = [0u8; 512];
        let outcome = loop {
            let now = Instant::now();
            let until = settle_until.map_or(deadline, |s| s.min(deadline));
            if now >= until {
                break self.finish(&mut scan, timeout);
            }
            match self.read_chunk(&mut chunk, until - now) {
                Ok(0) => break Err(LinkError::Io(self.closed())),
                Ok(n) => {
                    self.fresh = false;
                    let step = match self.transport {
                        Transport::ModbusTcp { tid, .. } => {
                            self.wire.extend_from_slice(&chunk[..n]);
                            match self.unwrap_mbap(tid, request[0]) {
                                Ok(true) => scan(&self.buf, true),
                                Ok(false) => Step::More,
                                Err(e) => break Err(LinkError::Io(e)),
                            }
                        }
                        _ => {
                            self.buf.extend_from_slice(&chunk[..n]);
                            scan(&self.buf, false)
                        }
                    };
                    if self.buf.len() > 4096 || self.wire.len() > 4096 {
                        break Err(LinkError::Reply(format!(
                            "{} bytes of noise, no reply",
                            self.buf.len().max(self.wire.len())
                        )));
                    }
                    match step {
                        Step::More => settle_until = None,
                        Step::Settle => settle_until = Some(Instant::now() + self.settle_time()),
                        Step::Done(r) => break r.map_err(LinkError::Reply),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(LinkError::Io(self.hint(e))),
            }
        };
        if !self.wire.is_empty() {
            crate::log::trace(&self.label, "<", &self.wire);
        } else if !self.buf.is_empty() {
            crate::log::trace(&self.label, "<", &self.buf);
        }
        if !self.buf.is_empty() {
            if let Some(c) = &self.capture {
                c.append(&self.buf);
            }
        }
        outcome
    }

    /// Writes a request: as it is, or as an MBAP frame with the next transaction id.
    fn send(&mut self, request: &[u8]) -> Result<(), LinkError> {
        if let Some(c) = &self.capture {
            c.append(request);
        }
        let label = self.label.clone();
        match &mut self.transport {
            Transport::Serial(port) => {
                crate::log::trace(&label, ">", request);
                port.write_all(request)?;
                port.flush()?;
            }
            Transport::Tcp(s) => {
                crate::log::trace(&label, ">", request);
                s.write_all(request)?;
            }
            Transport::ModbusTcp { stream, tid } => {
                *tid = tid.wrapping_add(1);
                let frame = mbap::from_rtu(*tid, request).ok_or_else(|| {
                    LinkError::Reply(
                        "not a Modbus RTU request: a modbus-tcp:// gateway carries Modbus only \
                         (use tcp:// for a transparent gateway)"
                            .into(),
                    )
                })?;
                crate::log::trace(&label, ">", &frame);
                stream.write_all(&frame)?;
            }
        }
        Ok(())
    }

    /// Looks for the reply to transaction `tid` from `unit` in the bytes received; puts its
    /// RTU equivalent in `buf`. Ok(true) when found; replies to earlier (timed-out)
    /// transactions are passed over. Err when the stream is not MBAP.
    fn unwrap_mbap(&mut self, tid: u16, unit: u8) -> io::Result<bool> {
        let mut pos = 0;
        let found = loop {
            match mbap::scan(&self.wire[pos..]) {
                mbap::Scan::NeedMore => break false,
                mbap::Scan::Invalid(why) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{why}: is the gateway in Modbus TCP mode?"),
                    ))
                }
                mbap::Scan::Frame(f) if f.tid != tid || f.unit != unit => {
                    log::debug!(
                        "{}: passed over a reply to transaction {} (unit {}), expected {tid} (unit {unit})",
                        self.label,
                        f.tid,
                        f.unit
                    );
                    pos += f.len;
                }
                mbap::Scan::Frame(f) => {
                    self.buf = mbap::to_rtu(f.unit, f.pdu);
                    break true;
                }
            }
        };
        Ok(found)
    }

    /// How long to wait for more after a complete-looking but invalid reply.
    fn settle_time(&self) -> Duration {
        let t = settle_time(self.baud);
        if self.is_network() {
            t.max(NET_JITTER)
        } else {
            t
        }
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

/// The gateway connection, with the errors said for a PORT argument.
fn connect(path: &str, host: &str, port: u16) -> Result<TcpStream, OpenError> {
    net::connect(host, port).map_err(|e| match e {
        ConnectError::Resolve(source) => OpenError::Resolve {
            path: path.into(),
            host: host.into(),
            source,
        },
        ConnectError::Refused => OpenError::Refused { path: path.into() },
        ConnectError::TimedOut => OpenError::Unreachable { path: path.into() },
        ConnectError::Other(source) => OpenError::Network {
            path: path.into(),
            source,
        },
    })
}

fn open_serial(path: &str, baud: u32) -> Result<TTYPort, OpenError> {
    if !std::path::Path::new(path).exists() {
        return Err(OpenError::Missing { path: path.into() });
    }
    serialport::new(path, baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(Duration::from_millis(100))
        .open_native()
        .map_err(|e| map_open_error(path, baud, e))
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
