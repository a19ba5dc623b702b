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
use std::time::Duration;

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
/// Bodies larger than this are refused (write APIs answer with a short JSON message).
const MAX_BODY: usize = 16 << 20;

/// Parses a start line and headers ending in an empty line. `Ok(None)`: not complete yet.
/// Returns the start line, the headers and the bytes taken.
#[allow(clippy::type_complexity)]
pub fn parse_head(buf: &[u8]) -> Result<Option<(String, Vec<(String, String)>, usize)>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(format!("header larger than {MAX_HEAD} bytes"));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "header is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for l in lines {
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| format!("bad header line '{l}'"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(Some((start, headers, end + 4)))
}

/// Parses a complete response from `buf`. `Ok(None)`: more bytes needed; `eof` says the
/// peer closed the connection (a body without a length ends there).
pub fn parse_response(
    buf: &[u8],
    eof: bool,
    head_request: bool,
) -> Result<Option<(Response, usize)>, String> {
    let Some((start, headers, at)) = parse_head(buf)? else {
        return if eof {
            Err("connection closed before a complete response".into())
        } else {
            Ok(None)
        };
    };
    let mut parts = start.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: '{start}'"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| format!("bad status line '{start}'"))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut r = Response {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    if head_request || status == 204 || status == 304 || status < 200 {
        return Ok(Some((r, at)));
    }
    let rest = &buf[at..];
    if r.header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        let mut i = 0;
        loop {
            let Some(nl) = rest[i..].windows(2).position(|w| w == b"\r\n") else {
                return if eof {
                    Err("truncated chunked body".into())
                } else {
                    Ok(None)
                };
            };
            let size_text = std::str::from_utf8(&rest[i..i + nl]).map_err(|_| "bad chunk size")?;
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| format!("bad chunk size '{size_text}'"))?;
            // Compared without adding: a chunk size near usize::MAX must not wrap.
            if size > MAX_BODY.saturating_sub(r.body.len()) {
                return Err("response body too large".into());
            }
            i += nl + 2;
            if size == 0 {
                // trailers (none expected) end with an empty line
                let Some(end) = rest[i..].windows(2).position(|w| w == b"\r\n") else {
                    return if eof {
                        Err("truncated chunked body".into())
                    } else {
                        Ok(None)
                    };
                };
                return Ok(Some((r, at + i + end + 2)));
            }
            if rest.len() < i + size + 2 {
                return if eof {
                    Err("truncated chunked body".into())
                } else {
                    Ok(None)
                };
            }
            r.body.extend_from_slice(&rest[i..i + size]);
            i += size + 2;
        }
    }
    if let Some(len) = r.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length '{len}'"))?;
        if len > MAX_BODY {
            return Err("response body too large".into());
        }
        if rest.len() < len {
            return if eof {
                Err("truncated body".into())
            } else {
                Ok(None)
            };
        }
        r.body = rest[..len].to_vec();
        return Ok(Some((r, at + len)));
    }
    if rest.len() > MAX_BODY {
        return Err("response body too large".into());
    }
    if !eof {
        return Ok(None);
    }
    r.body = rest.to_vec();
    r.headers.push(("Connection".into(), "close".into()));
    Ok(Some((r, buf.len())))
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

/// A blocking keep-alive connection to one server.
pub struct Client {
    url: Url,
    timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Option<Box<dyn Stream>>,
}

impl Client {
    /// A client for an `http://` URL.
    pub fn new(url: Url, timeout: Duration) -> Client {
        Client {
            url,
            timeout,
            tls: None,
            conn: None,
        }
    }

    /// A client for an `http://` or `https://` URL; `tls` is used for the latter.
    pub fn with_tls(url: Url, timeout: Duration, tls: Arc<rustls::ClientConfig>) -> Client {
        Client {
            url,
            timeout,
            tls: Some(tls),
            conn: None,
        }
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    fn connect(&self) -> io::Result<Box<dyn Stream>> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host name not found");
        for a in (self.url.host.as_str(), self.url.port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    s.set_read_timeout(Some(self.timeout))?;
                    s.set_write_timeout(Some(self.timeout))?;
                    s.set_nodelay(true)?;
                    if !self.url.https {
                        return Ok(Box::new(s));
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
                    return Ok(Box::new(rustls::StreamOwned::new(conn, s)));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Sends one request (`target` is appended to the URL's path) and reads the response.
    /// A kept-alive connection the server has closed meanwhile is retried once on a new one.
    pub fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let req = request(
            method,
            &self.url.host_header(),
            &format!("{}{target}", self.url.path),
            headers,
            body,
        );
        let reused = self.conn.is_some();
        match self.exchange(&req, method == "HEAD") {
            Ok(r) => Ok(r),
            Err((e, nothing_read)) if reused && nothing_read => {
                log::debug!("kept-alive connection gone ({e}); reconnecting");
                self.exchange(&req, method == "HEAD").map_err(|(e, _)| e)
            }
            Err((e, _)) => Err(e),
        }
    }

    /// One exchange; on error, whether no byte of a response had arrived.
    fn exchange(&mut self, req: &[u8], head: bool) -> Result<Response, (io::Error, bool)> {
        let mut s = match self.conn.take() {
            Some(s) => s,
            None => self.connect().map_err(|e| (e, false))?,
        };
        s.write_all(req).map_err(|e| (e, true))?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 8192];
        loop {
            let n = match s.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err((e, buf.is_empty())),
            };
            buf.extend_from_slice(&chunk[..n]);
            let parsed = parse_response(&buf, n == 0, head).map_err(|e| {
                (
                    io::Error::new(io::ErrorKind::InvalidData, e),
                    buf.is_empty(),
                )
            })?;
            if let Some((r, _)) = parsed {
                if !r.closes() {
                    self.conn = Some(s);
                }
                return Ok(r);
            }
            if n == 0 {
                return Err((io::ErrorKind::UnexpectedEof.into(), buf.is_empty()));
            }
        }
    }
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
