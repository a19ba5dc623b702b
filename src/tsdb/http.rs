//! Just enough HTTP/1.1 for a write API and a scrape endpoint: requests built as bytes, a
//! response (or request head) parsed from bytes, and a small blocking keep-alive client over
//! `std::net::TcpStream`. The parsing is pure and unit-tested; the client only moves bytes.
//!
//! Why not a client crate: we send one kind of request (POST with a body, to one server)
//! and read one kind of answer; a crate would bring an async runtime or a dozen crates for
//! redirects, cookies and proxies we do not use. `https://` goes through rustls (already a
//! dependency, for MQTT over TLS), verified against the system's CA bundle or `--ca-file`.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Debian's (and Ubuntu's) bundle of the system's trusted CAs.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A parsed `http[s]://host[:port][/path]` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix without a trailing `/` (empty for the root).
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, String> {
        let (https, rest) = if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!("{s}: expected http[s]://HOST[:PORT][/PATH]"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(format!(
                "{s}: no credentials in the URL (use INFLUX_TOKEN or --token-file)"
            ));
        }
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            let (h, p) = h
                .split_once(']')
                .ok_or_else(|| format!("{s}: bad IPv6 address"))?;
            (h, p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{s}: no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("{s}: bad port '{p}'"))?,
            None if https => 443,
            None => 80,
        };
        Ok(Url {
            https,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The `Host` header value.
    pub fn host_header(&self) -> String {
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.https { 443 } else { 80 } {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }
}

/// Percent-encodes a query parameter value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Standard base64 with padding (for Basic authentication).
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A request as bytes: `method target HTTP/1.1`, Host, the headers, Content-Length, body.
pub fn request(
    method: &str,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    let _ = write!(out, "{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    out.extend_from_slice(body);
    out
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The server closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Heads larger than this are refused (a server gone mad, or not HTTP).
const MAX_HEAD: usize = 64 * 1024;
/// Bodies larger than this are refused by default (write APIs answer with a short JSON message).
pub const MAX_BODY: usize = 16 << 20;
/// A chunk-size line (size and extensions) longer than this is refused.
const MAX_CHUNK_LINE: usize = 4096;

/// Where the head (start line and headers) ends in `buf`: just past the empty line that ends
/// it, `\r\n\r\n` or, from a sloppy peer, bare `\n\n` (or a mix). `from` is how much of `buf`
/// was searched before (the search resumes there, so a head trickled in byte by byte is
/// scanned once, not once per byte).
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3).max(1);
    for i in start..buf.len() {
        if buf[i] != b'\n' {
            continue;
        }
        if buf[i - 1] == b'\n' || (buf[i - 1] == b'\r' && i >= 2 && buf[i - 2] == b'\n') {
            return Some(i + 1);
        }
    }
    None
}

/// Parses a start line and headers ending in an empty line (CRLF or bare LF line ends).
/// `Ok(None)`: not complete yet. Returns the start line, the headers and the bytes taken.
#[allow(clippy::type_complexity)]
pub fn parse_head(buf: &[u8]) -> Result<Option<(String, Vec<(String, String)>, usize)>, String> {
    let Some(end) = find_head_end(buf, 0) else {
        if buf.len() > MAX_HEAD {
            return Err(format!("header larger than {MAX_HEAD} bytes"));
        }
        return Ok(None);
    };
    head_of(&buf[..end]).map(|(s, h)| Some((s, h, end)))
}

/// The start line and headers of a complete head (its empty line included).
#[allow(clippy::type_complexity)]
fn head_of(buf: &[u8]) -> Result<(String, Vec<(String, String)>), String> {
    if buf.len() > MAX_HEAD {
        return Err(format!("header larger than {MAX_HEAD} bytes"));
    }
    let head = std::str::from_utf8(buf).map_err(|_| "header is not UTF-8".to_string())?;
    let mut lines = head
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty());
    let start = lines.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for l in lines {
        let (k, v) = l.split_once(':').ok_or_else(|| {
            format!(
                "bad header line '{}'",
                l.chars().take(200).collect::<String>()
            )
        })?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok((start, headers))
}

/// Where the reader is in a response.
#[derive(Debug)]
enum Part {
    Head,
    /// `Content-Length`: this many bytes still to come.
    Length(usize),
    ChunkSize,
    /// In a chunk's data: this many bytes still to come, then its CRLF.
    ChunkData(usize),
    ChunkEnd,
    Trailers,
    /// No length: the body runs until the peer closes.
    UntilClose,
}

/// An HTTP/1.1 response read incrementally: bytes in as they arrive, each byte looked at
/// once (an endless or trickled reply costs time linear in its length), and memory bounded:
/// the head by 64 KiB, the body kept by `max_body` (more is an error). Interim answers
/// (`1xx`: `100 Continue`, `102`, `103`) are passed over.
#[derive(Debug)]
pub struct ResponseReader {
    head_request: bool,
    max_body: usize,
    /// Bytes received; those before `pos` are consumed (dropped at the next feed, so each
    /// byte is moved at most once).
    buf: Vec<u8>,
    pos: usize,
    /// How much of `buf` was searched for the end of the head.
    scanned: usize,
    part: Part,
    resp: Option<Response>,
    /// Interim (1xx) answers passed over.
    pub interim: u32,
}

impl ResponseReader {
    pub fn new(head_request: bool, max_body: usize) -> ResponseReader {
        ResponseReader {
            head_request,
            max_body,
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
            part: Part::Head,
            resp: None,
            interim: 0,
        }
    }

    /// Has any byte of a response arrived?
    pub fn started(&self) -> bool {
        self.resp.is_some() || !self.buf.is_empty() || self.interim > 0
    }

    /// Takes `data`; `Ok(Some(response))` once it is complete (bytes after it are ignored:
    /// one request at a time).
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<Response>, String> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
        self.advance()
    }

    /// The peer closed the connection: the response, if what came is one.
    pub fn finish(&mut self) -> Result<Response, String> {
        if let Some(r) = self.advance()? {
            return Ok(r);
        }
        match self.part {
            Part::UntilClose => {
                let mut r = self.resp.take().ok_or("no response")?;
                r.headers.push(("Connection".into(), "close".into()));
                Ok(r)
            }
            Part::Head => Err("connection closed before a complete response".into()),
            Part::Length(_) => Err("truncated body".into()),
            _ => Err("truncated chunked body".into()),
        }
    }

    fn body(&mut self, n: usize) -> Result<(), String> {
        let r = self.resp.as_mut().ok_or("no response")?;
        if n > self.max_body.saturating_sub(r.body.len()) {
            return Err(format!("response body larger than {} bytes", self.max_body));
        }
        r.body.extend_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(())
    }

    /// The next line of `buf` (without its line end), consumed; `None` if incomplete.
    fn line(&mut self, max: usize, what: &str) -> Result<Option<String>, String> {
        let rest = &self.buf[self.pos..];
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            if rest.len() > max {
                return Err(format!("{what} longer than {max} bytes"));
            }
            return Ok(None);
        };
        let l = &rest[..nl];
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let text = std::str::from_utf8(l)
            .map_err(|_| format!("bad {what}"))?
            .to_string();
        self.pos += nl + 1;
        Ok(Some(text))
    }

    fn advance(&mut self) -> Result<Option<Response>, String> {
        loop {
            match self.part {
                Part::Head => {
                    let rest = &self.buf[self.pos..];
                    let Some(end) = find_head_end(rest, self.scanned) else {
                        self.scanned = rest.len();
                        if rest.len() > MAX_HEAD {
                            return Err(format!("header larger than {MAX_HEAD} bytes"));
                        }
                        return Ok(None);
                    };
                    let (start, headers) = head_of(&rest[..end])?;
                    self.pos += end;
                    self.scanned = 0;
                    let r = response_of(&start, headers)?;
                    if r.status == 101 {
                        return Err(format!("unexpected '{start}'"));
                    }
                    if r.status < 200 {
                        // an interim answer (100 Continue, 102, 103): the real one follows
                        self.interim += 1;
                        continue;
                    }
                    let chunked = r
                        .header("transfer-encoding")
                        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                    let length = r.header("content-length").map(str::to_string);
                    self.resp = Some(r);
                    let status = self.resp.as_ref().map_or(0, |r| r.status);
                    if self.head_request || status == 204 || status == 304 {
                        return Ok(self.resp.take());
                    }
                    self.part = if chunked {
                        Part::ChunkSize
                    } else if let Some(len) = length {
                        let len: usize = len
                            .parse()
                            .map_err(|_| format!("bad Content-Length '{len}'"))?;
                        if len > self.max_body {
                            return Err(format!(
                                "response body larger than {} bytes",
                                self.max_body
                            ));
                        }
                        Part::Length(len)
                    } else {
                        Part::UntilClose
                    };
                }
                Part::Length(0) => return Ok(self.resp.take()),
                Part::Length(left) => {
                    let n = left.min(self.buf.len() - self.pos);
                    if n == 0 {
                        return Ok(None);
                    }
                    self.body(n)?;
                    self.part = Part::Length(left - n);
                }
                Part::UntilClose => {
                    let n = self.buf.len() - self.pos;
                    if n == 0 {
                        return Ok(None);
                    }
                    self.body(n)?;
                }
                Part::ChunkSize => {
                    let Some(l) = self.line(MAX_CHUNK_LINE, "chunk size line")? else {
                        return Ok(None);
                    };
                    let size_text = l.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size_text, 16).map_err(|_| {
                        format!(
                            "bad chunk size '{}'",
                            size_text.chars().take(40).collect::<String>()
                        )
                    })?;
                    let have = self.resp.as_ref().map_or(0, |r| r.body.len());
                    // compared without adding: a chunk size near usize::MAX must not wrap
                    if size > self.max_body.saturating_sub(have) {
                        return Err(format!("response body larger than {} bytes", self.max_body));
                    }
                    self.part = if size == 0 {
                        Part::Trailers
                    } else {
                        Part::ChunkData(size)
                    };
                }
                Part::ChunkData(left) => {
                    let n = left.min(self.buf.len() - self.pos);
                    if n == 0 {
                        return Ok(None);
                    }
                    self.body(n)?;
                    self.part = if left == n {
                        Part::ChunkEnd
                    } else {
                        Part::ChunkData(left - n)
                    };
                }
                Part::ChunkEnd => {
                    let Some(l) = self.line(2, "chunk end")? else {
                        return Ok(None);
                    };
                    if !l.is_empty() {
                        return Err("chunk longer than its size".into());
                    }
                    self.part = Part::ChunkSize;
                }
                Part::Trailers => {
                    let Some(l) = self.line(MAX_HEAD, "trailer")? else {
                        return Ok(None);
                    };
                    if l.is_empty() {
                        self.part = Part::Head;
                        return Ok(self.resp.take());
                    }
                }
            }
        }
    }
}

/// The response of a status line and headers (no body yet).
fn response_of(start: &str, headers: Vec<(String, String)>) -> Result<Response, String> {
    let shown = || start.chars().take(200).collect::<String>();
    let mut parts = start.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: '{}'", shown()));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| format!("bad status line '{}'", shown()))?;
    let reason = parts.next().unwrap_or_default().to_string();
    Ok(Response {
        status,
        reason,
        headers,
        body: Vec::new(),
    })
}

/// Parses a complete response from `buf`. `Ok(None)`: more bytes needed; `eof` says the
/// peer closed the connection (a body without a length ends there). Returns the response
/// and the bytes it took (for a response ending at the close: all of them).
pub fn parse_response(
    buf: &[u8],
    eof: bool,
    head_request: bool,
) -> Result<Option<(Response, usize)>, String> {
    let mut r = ResponseReader::new(head_request, MAX_BODY);
    let got = r.feed(buf)?;
    let left = r.buf.len() - r.pos;
    match got {
        Some(resp) => Ok(Some((resp, buf.len() - left))),
        None if eof => r.finish().map(|resp| Some((resp, buf.len()))),
        None => Ok(None),
    }
}

/// The TLS client configuration: the CAs of `ca_file` (PEM), or of the system bundle.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let path = ca_file.unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read CA certificates from {}: {e}", path.display()))?;
    for c in certs {
        let c = c.map_err(|e| format!("{}: {e}", path.display()))?;
        // a bundle may hold certificates this TLS stack does not take; skip those
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        return Err(format!("{}: no CA certificate in it", path.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// An open connection: the stream (plain or TLS) and its socket, for the timeouts.
struct Conn {
    stream: Box<dyn Stream>,
    tcp: TcpStream,
}

/// How long a blocking read or write may wait before the client looks at the clock and at
/// its cancel flag again.
const SLICE: Duration = Duration::from_millis(100);

/// When a request must give up: `deadline` (whatever the server does: one deadline for the
/// whole exchange, not one per read), or as soon as `cancel` says so.
pub struct Limit<'a> {
    pub deadline: Instant,
    pub cancel: &'a dyn Fn() -> bool,
}

/// A blocking keep-alive connection to one server.
pub struct Client {
    url: Url,
    timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Option<Conn>,
    max_body: usize,
}

impl Client {
    /// A client for an `http://` URL.
    pub fn new(url: Url, timeout: Duration) -> Client {
        Client {
            url,
            timeout,
            tls: None,
            conn: None,
            max_body: MAX_BODY,
        }
    }

    /// A client for an `http://` or `https://` URL; `tls` is used for the latter.
    pub fn with_tls(url: Url, timeout: Duration, tls: Arc<rustls::ClientConfig>) -> Client {
        Client {
            tls: Some(tls),
            ..Client::new(url, timeout)
        }
    }

    /// Response bodies larger than `n` bytes are an error (default 16 MiB).
    pub fn max_body(mut self, n: usize) -> Client {
        self.max_body = n;
        self
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    fn connect(&self, limit: &Limit) -> io::Result<Conn> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host name not found");
        for a in (self.url.host.as_str(), self.url.port).to_socket_addrs()? {
            let left = limit.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || (limit.cancel)() {
                break;
            }
            match connect_within(&a, limit) {
                Ok(s) => {
                    s.set_nodelay(true)?;
                    let tcp = s.try_clone()?;
                    if !self.url.https {
                        return Ok(Conn {
                            stream: Box::new(s),
                            tcp,
                        });
                    }
                    let cfg = self.tls.clone().ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "https without a TLS configuration",
                        )
                    })?;
                    let name = rustls::pki_types::ServerName::try_from(self.url.host.clone())
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                    let conn =
                        rustls::ClientConnection::new(cfg, name).map_err(io::Error::other)?;
                    return Ok(Conn {
                        stream: Box::new(rustls::StreamOwned::new(conn, s)),
                        tcp,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Sends one request (`target` is appended to the URL's path) and reads the response,
    /// within `--timeout` of now.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let limit = Limit {
            deadline: Instant::now() + self.timeout,
            cancel: &|| false,
        };
        self.send_within(method, target, headers, body, &limit)
    }

    /// [`Client::send`] that gives up at the earlier of the client's timeout and `limit`'s
    /// deadline, or when `limit` cancels (the error's kind is then `Interrupted`).
    ///
    /// A kept-alive connection the server closed meanwhile (nothing came back), or a
    /// `408 Request Timeout` (the server gave up on an idle connection; RFC 9110 §15.5.9
    /// lets the client repeat the request), is retried once on a new connection.
    pub fn send_within(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        limit: &Limit,
    ) -> io::Result<Response> {
        let limit = Limit {
            deadline: limit.deadline.min(Instant::now() + self.timeout),
            cancel: limit.cancel,
        };
        let req = request(
            method,
            &self.url.host_header(),
            &format!("{}{target}", self.url.path),
            headers,
            body,
        );
        let head = method == "HEAD";
        let reused = self.conn.is_some();
        match self.exchange(&req, head, &limit) {
            Ok(r) if r.status == 408 => {
                log::debug!("408 Request Timeout; repeating the request on a new connection");
                self.conn = None;
                self.exchange(&req, head, &limit).map_err(|(e, _)| e)
            }
            Ok(r) => Ok(r),
            Err((e, nothing_read)) if reused && nothing_read && !gave_up(&e) => {
                log::debug!("kept-alive connection gone ({e}); reconnecting");
                self.exchange(&req, head, &limit).map_err(|(e, _)| e)
            }
            Err((e, _)) => Err(e),
        }
    }

    /// One exchange; on error, whether no byte of a response had arrived. The connection is
    /// kept only after a complete response that does not close it.
    fn exchange(
        &mut self,
        req: &[u8],
        head: bool,
        limit: &Limit,
    ) -> Result<Response, (io::Error, bool)> {
        let mut c = match self.conn.take() {
            Some(c) => c,
            None => self.connect(limit).map_err(|e| (e, true))?,
        };
        let mut off = 0;
        while off < req.len() {
            wait_slice(&c.tcp, limit).map_err(|e| (e, true))?;
            match c.stream.write(&req[off..]) {
                Ok(0) => return Err((io::ErrorKind::WriteZero.into(), true)),
                Ok(n) => off += n,
                Err(e) if retryable(&e) => {}
                Err(e) => return Err((e, true)),
            }
        }
        loop {
            wait_slice(&c.tcp, limit).map_err(|e| (e, true))?;
            match c.stream.flush() {
                Ok(()) => break,
                Err(e) if retryable(&e) => {}
                Err(e) => return Err((e, true)),
            }
        }
        let mut rr = ResponseReader::new(head, self.max_body);
        let mut chunk = [0u8; 8192];
        loop {
            wait_slice(&c.tcp, limit).map_err(|e| (e, !rr.started()))?;
            let n = match c.stream.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if retryable(&e) => continue,
                Err(e) => return Err((e, !rr.started())),
            };
            let got = if n == 0 {
                rr.finish().map(Some)
            } else {
                rr.feed(&chunk[..n])
            };
            let nothing = !rr.started();
            match got {
                Ok(Some(r)) => {
                    if n > 0 && !r.closes() {
                        self.conn = Some(c);
                    }
                    return Ok(r);
                }
                Ok(None) => {}
                Err(e) => {
                    let kind = if n == 0 && nothing {
                        io::ErrorKind::UnexpectedEof
                    } else {
                        io::ErrorKind::InvalidData
                    };
                    return Err((io::Error::new(kind, e), nothing));
                }
            }
        }
    }
}

/// Connects to `addr` by `limit`'s deadline, looking at its cancel every 100 ms (a
/// connection to a host that drops packets can otherwise block for the whole timeout).
fn connect_within(addr: &std::net::SocketAddr, limit: &Limit) -> io::Result<TcpStream> {
    use std::os::fd::AsRawFd;
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(*addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    sock.set_nonblocking(true)?;
    match sock.connect(&(*addr).into()) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    loop {
        if (limit.cancel)() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped"));
        }
        let left = limit.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no connection within the timeout",
            ));
        }
        let mut fd = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        let ms = left.min(SLICE).as_millis().max(1) as libc::c_int;
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut fd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n > 0 {
            if let Some(e) = sock.take_error()? {
                return Err(e);
            }
            sock.set_nonblocking(false)?;
            return Ok(sock.into());
        }
    }
}

/// A timeout or a cancel from the caller's [`Limit`] (not worth repeating at once).
fn gave_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A read or write that only ran out of its slice of time.
fn retryable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Before each read or write: stop if the deadline passed or the caller cancels, else let
/// the socket block for at most the next slice.
fn wait_slice(tcp: &TcpStream, limit: &Limit) -> io::Result<()> {
    if (limit.cancel)() {
        return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped"));
    }
    let left = limit.deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no complete answer within the timeout",
        ));
    }
    // both directions: a TLS handshake reads while the request is being written
    let t = Some(left.min(SLICE));
    tcp.set_read_timeout(t)?;
    tcp.set_write_timeout(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            Url::parse("http://localhost:8086").unwrap(),
            Url {
                https: false,
                host: "localhost".into(),
                port: 8086,
                path: "".into()
            }
        );
        assert_eq!(
            Url::parse("http://db.lan/influx/").unwrap(),
            Url {
                https: false,
                host: "db.lan".into(),
                port: 80,
                path: "/influx".into()
            }
        );
        let v6 = Url::parse("http://[::1]:8086").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8086));
        assert_eq!(v6.host_header(), "[::1]:8086");
        let tls = Url::parse("https://cloud.example/x").unwrap();
        assert_eq!(
            (tls.https, tls.port, tls.host_header()),
            (true, 443, "cloud.example".to_string())
        );
        assert_eq!(
            Url::parse("https://h:8086").unwrap().host_header(),
            "h:8086"
        );
        for bad in [
            "localhost:8086",
            "ftp://x",
            "http://:80",
            "http://x:port",
            "http://u:p@x",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_huge_chunk_size_is_an_error_not_a_panic() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\nfffffffffffffffe\r\nxx\r\n0\r\n\r\n";
        assert!(parse_response(r, true, false).is_err());
        assert!(parse_response(r, false, false).is_err());
    }

    #[test]
    fn interim_answers_are_passed_over() {
        let r = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let mut rr = ResponseReader::new(false, MAX_BODY);
        let mut got = None;
        for b in r {
            if let Some(resp) = rr.feed(&[*b]).unwrap() {
                got = Some(resp);
            }
        }
        assert_eq!(got.unwrap().status, 204);
        assert_eq!(rr.interim, 2);
        assert!(parse_response(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", false, false).is_err());
    }

    #[test]
    fn bare_lf_heads() {
        let r = b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok";
        let (resp, used) = parse_response(r, false, false).unwrap().unwrap();
        assert_eq!(
            (resp.status, resp.body.as_slice(), used),
            (200, &b"ok"[..], r.len())
        );
        let (start, headers, used) = parse_head(b"GET /metrics HTTP/1.0\nHost: x\n\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (start.as_str(), headers.len(), used),
            ("GET /metrics HTTP/1.0", 1, 31)
        );
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n", 0), Some(18));
        // resumed searches find an end split across reads
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\n", 17), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nX: y\r\n", 0), None);
    }

    #[test]
    fn an_endless_chunked_body_is_bounded_and_linear() {
        // 1 MiB cap; 8 MiB of one-byte chunks fed in small pieces: an error once the cap is
        // passed, memory never above the cap plus one piece, every byte looked at once.
        let mut rr = ResponseReader::new(false, 1 << 20);
        assert_eq!(
            rr.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Ok(None)
        );
        let piece = b"1\r\nx\r\n".repeat(1000);
        let mut err = None;
        for _ in 0..2000 {
            match rr.feed(&piece) {
                Ok(None) => assert!(rr.buf.len() - rr.pos < piece.len()),
                Ok(Some(_)) => panic!("an endless body ended"),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert!(err.unwrap().contains("larger than"));
        // a chunk-size line that never ends
        let mut rr = ResponseReader::new(false, 1 << 20);
        rr.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        assert!(rr.feed(&[b'0'; 5000]).is_err());
        // a head that never ends
        let mut rr = ResponseReader::new(false, 1 << 20);
        rr.feed(b"HTTP/1.1 204 No Content\r\n").unwrap();
        let mut r = Ok(None);
        for _ in 0..10_000 {
            r = rr.feed(b"X-Pad: 1234567\r\n");
            if r.is_err() {
                break;
            }
        }
        assert!(r.is_err());
    }

    #[test]
    fn encodings() {
        assert_eq!(urlencode("my org/ä b"), "my%20org%2F%C3%A4%20b");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn request_bytes() {
        let r = request(
            "POST",
            "h:1",
            "/write?db=x",
            &[("Content-Encoding", "gzip")],
            b"abc",
        );
        assert_eq!(
            r,
            b"POST /write?db=x HTTP/1.1\r\nHost: h:1\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc"
        );
    }

    #[test]
    fn responses() {
        let r = b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7\r\n\r\n";
        let (resp, used) = parse_response(r, false, false).unwrap().unwrap();
        assert_eq!((resp.status, used), (204, r.len()));
        assert_eq!(resp.header("x-influxdb-version"), Some("1.6.7"));

        let r = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 16\r\n\r\n{\"error\":\"bad\"}\n";
        for cut in 0..r.len() {
            assert_eq!(parse_response(&r[..cut], false, false), Ok(None), "{cut}");
            assert!(parse_response(&r[..cut], true, false).is_err(), "{cut}");
        }
        let (resp, _) = parse_response(r, false, false).unwrap().unwrap();
        assert_eq!(resp.body, b"{\"error\":\"bad\"}\n");

        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        for cut in 0..r.len() {
            assert_eq!(parse_response(&r[..cut], false, false), Ok(None), "{cut}");
        }
        let (resp, used) = parse_response(r, false, false).unwrap().unwrap();
        assert_eq!((resp.body.as_slice(), used), (&b"abcde"[..], r.len()));

        let r = b"HTTP/1.0 200 OK\r\n\r\nuntil close";
        assert_eq!(parse_response(r, false, false), Ok(None));
        let (resp, _) = parse_response(r, true, false).unwrap().unwrap();
        assert!(resp.closes());
        assert_eq!(resp.body, b"until close");

        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
        ] {
            assert!(
                parse_response(bad, false, false).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_head(&vec![b'x'; MAX_HEAD + 1]).is_err());
    }
}
