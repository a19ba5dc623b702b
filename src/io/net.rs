//! RS-485-to-Ethernet gateways (Waveshare, USR-TCP232, Elfin EW11; protocols.md §11): the
//! addresses accepted wherever a serial PORT is, and the TCP connection behind them.
//!
//! - `tcp://HOST:PORT`: a transparent gateway, serial bytes unchanged both ways;
//! - `modbus-tcp://HOST:PORT`: a gateway in Modbus-TCP-to-RTU mode (MBAP, `proto::mbap`).
//!
//! Connections get TCP_NODELAY (a request is one small write that must leave at once) and
//! keep-alive probes, so a gateway that vanished without closing is noticed within about
//! 25 s even on a quiet bus.

use socket2::{SockRef, TcpKeepalive};
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long a connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// What a PORT argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A serial device path (`/dev/ttyUSB0`, a pseudo-terminal).
    Serial(String),
    /// A transparent gateway.
    Tcp { host: String, port: u16 },
    /// A gateway in Modbus TCP mode.
    ModbusTcp { host: String, port: u16 },
}

impl Endpoint {
    /// Parses a PORT argument. Anything with `://` must be one of the two gateway forms.
    pub fn parse(s: &str) -> Result<Endpoint, String> {
        let Some((scheme, rest)) = s.split_once("://") else {
            if s.is_empty() {
                return Err("empty port name".into());
            }
            return Ok(Endpoint::Serial(s.to_string()));
        };
        let (host, port) = host_port(rest).map_err(|why| format!("'{s}': {why}"))?;
        match scheme {
            "tcp" => Ok(Endpoint::Tcp { host, port }),
            "modbus-tcp" => Ok(Endpoint::ModbusTcp { host, port }),
            other => Err(format!(
                "'{s}': unknown scheme '{other}://' (use tcp://HOST:PORT for a transparent \
                 gateway, modbus-tcp://HOST:PORT for one in Modbus TCP mode)"
            )),
        }
    }

    /// A short name for logs and device ids: `ttyUSB0`, `10.0.0.5-4196`.
    pub fn label(&self) -> String {
        match self {
            Endpoint::Serial(path) => crate::io::serial::port_label(path),
            Endpoint::Tcp { host, port } | Endpoint::ModbusTcp { host, port } => {
                format!("{}-{port}", host.trim_matches(|c| c == '[' || c == ']'))
            }
        }
    }

    pub fn is_network(&self) -> bool {
        !matches!(self, Endpoint::Serial(_))
    }
}

/// `HOST:PORT`, `[v6]:PORT`.
fn host_port(s: &str) -> Result<(String, u16), String> {
    let s = s.strip_suffix('/').unwrap_or(s);
    let (host, port) = match s.strip_prefix('[') {
        Some(v6) => {
            let (h, p) = v6
                .split_once(']')
                .ok_or("unclosed '[' in an IPv6 address")?;
            let p = p.strip_prefix(':').ok_or("no port (expected HOST:PORT)")?;
            (format!("[{h}]"), p)
        }
        None => {
            let (h, p) = s.rsplit_once(':').ok_or("no port (expected HOST:PORT)")?;
            (h.to_string(), p)
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("no host (expected HOST:PORT)".into());
    }
    if host.contains(['/', '@', ' ']) {
        return Err(format!("'{host}' is not a host name"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("'{port}' is not a TCP port (1-65535)"))?;
    Ok((host.to_string(), port))
}

/// Why a connection could not be made.
#[derive(Debug)]
pub enum ConnectError {
    /// The name does not resolve.
    Resolve(io::Error),
    /// Nothing accepted the connection.
    Refused,
    /// No answer within [`CONNECT_TIMEOUT`].
    TimedOut,
    Other(io::Error),
}

/// Connects to `host:port` (trying every address the name resolves to) and sets NODELAY
/// and keep-alive.
pub fn connect(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let bare = host.trim_matches(|c| c == '[' || c == ']');
    let addrs: Vec<_> = (bare, port)
        .to_socket_addrs()
        .map_err(ConnectError::Resolve)?
        .collect();
    if addrs.is_empty() {
        return Err(ConnectError::Resolve(io::Error::new(
            io::ErrorKind::NotFound,
            "no address",
        )));
    }
    let mut last = ConnectError::Refused;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                // Tuning is best effort: a peer that resets the connection at once makes the
                // socket options fail (ECONNRESET); the first read or write reports that as a
                // lost connection, as it does for a reset a moment later.
                if let Err(e) = tune(&s) {
                    log::debug!("{addr}: cannot set keep-alive/no-delay: {e}");
                }
                return Ok(s);
            }
            Err(e) => {
                last = match e.kind() {
                    io::ErrorKind::ConnectionRefused => ConnectError::Refused,
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnectError::TimedOut,
                    _ => ConnectError::Other(e),
                }
            }
        }
    }
    Err(last)
}

/// NODELAY, and keep-alive: first probe after 10 s idle, then every 5 s, 3 tries.
pub fn tune(s: &TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    let ka = TcpKeepalive::new()
        .with_time(Duration::from_secs(10))
        .with_interval(Duration::from_secs(5))
        .with_retries(3);
    SockRef::from(s).set_tcp_keepalive(&ka)
}

/// A socket's receive or send timeout (SO_RCVTIMEO/SO_SNDTIMEO) surfaces as EAGAIN,
/// "Resource temporarily unavailable (os error 11)"; this says what it means: "timed out
/// after N ms". Any other error is returned as it is.
pub fn name_timeout(e: io::Error, after: Duration) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out after {} ms", after.as_millis()),
        )
    } else {
        e
    }
}

/// A blocking stream with a read or write timeout whose timeouts are reported as timeouts
/// ([`name_timeout`]): wrap a `TcpStream` after `set_read_timeout`/`set_write_timeout`.
pub struct Timed<S> {
    pub inner: S,
    pub timeout: Duration,
}

impl<S: io::Read> io::Read for Timed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| name_timeout(e, self.timeout))
    }
}

impl<S: io::Write> io::Write for Timed<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .write(buf)
            .map_err(|e| name_timeout(e, self.timeout))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .flush()
            .map_err(|e| name_timeout(e, self.timeout))
    }
}

/// At most this much stale input is discarded before a request: a serial port's input
/// clear drops what is waiting at that moment, and so does this, bounded, so that a peer that
/// never stops sending cannot hold the poller here (the rest is then judged, and reported, as
/// noise in the reply).
pub const DRAIN_AT_MOST: usize = 64 * 1024;

/// Reads what is already waiting on `s` without blocking and discards it (at most
/// [`DRAIN_AT_MOST`] bytes). Ok(false) when the peer has closed the connection.
pub fn drain(s: &mut TcpStream) -> io::Result<bool> {
    let (open, n) = drain_at_most(s, DRAIN_AT_MOST)?;
    if n > 0 {
        log::debug!("discarded {n} stale byte(s)");
    }
    Ok(open)
}

/// [`drain`] with its bound: whether the connection is still open, and how many bytes went.
fn drain_at_most(s: &mut TcpStream, most: usize) -> io::Result<(bool, usize)> {
    use std::io::Read;
    s.set_nonblocking(true)?;
    let mut chunk = [0u8; 4096];
    let mut discarded = 0;
    let result = loop {
        if discarded >= most {
            break Ok(true);
        }
        let want = chunk.len().min(most - discarded);
        match s.read(&mut chunk[..want]) {
            Ok(0) => break Ok(false),
            Ok(n) => discarded += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    s.set_nonblocking(false)?;
    result.map(|open| (open, discarded))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: a peer that never stops sending used to hold the poller in the stale-input
    /// discard for as long as it sent (seconds per request, a debug line per 512 bytes).
    #[test]
    fn draining_a_flooding_peer_stops_at_its_bound() {
        use std::io::Write;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut peer, _) = l.accept().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flooding = stop.clone();
        let flood = std::thread::spawn(move || {
            let junk = [0x55u8; 8192];
            while !flooding.load(std::sync::atomic::Ordering::Relaxed) {
                if peer.write_all(&junk).is_err() {
                    break;
                }
            }
        });
        // Let the socket buffers fill, then drain while the peer goes on writing.
        std::thread::sleep(Duration::from_millis(100));
        let (open, n) = drain_at_most(&mut s, 32 * 1024).unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(open);
        assert_eq!(
            n,
            32 * 1024,
            "it stops at the bound, not when the peer stops"
        );
        drop(s);
        flood.join().unwrap();
    }

    /// Issue 19: a read timeout says "timed out", not "Resource temporarily unavailable".
    #[test]
    fn a_read_timeout_is_reported_as_a_timeout() {
        use std::io::Read;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let _peer = l.accept().unwrap();
        let wait = Duration::from_millis(20);
        s.set_read_timeout(Some(wait)).unwrap();
        let mut t = Timed {
            inner: s,
            timeout: wait,
        };
        let e = t.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "timed out after 20 ms");
    }

    #[test]
    fn addresses() {
        assert_eq!(
            Endpoint::parse("/dev/ttyUSB0"),
            Ok(Endpoint::Serial("/dev/ttyUSB0".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://10.0.0.5:4196"),
            Ok(Endpoint::Tcp {
                host: "10.0.0.5".into(),
                port: 4196
            })
        );
        assert_eq!(
            Endpoint::parse("modbus-tcp://gw.local:502/"),
            Ok(Endpoint::ModbusTcp {
                host: "gw.local".into(),
                port: 502
            })
        );
        let v6 = Endpoint::parse("tcp://[::1]:8899").unwrap();
        assert_eq!(v6.label(), "::1-8899");
        assert_eq!(
            Endpoint::parse("tcp://10.0.0.5:4196").unwrap().label(),
            "10.0.0.5-4196"
        );
        for bad in [
            "tcp://10.0.0.5",
            "tcp://:502",
            "tcp://host:0",
            "tcp://host:70000",
            "tcp://host:port",
            "udp://host:1",
            "tcp://[::1:5",
            "tcp://a/b:5",
            "",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        assert!(Endpoint::parse("udp://h:1")
            .unwrap_err()
            .contains("unknown scheme"));
    }
}
