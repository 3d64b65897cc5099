//! A plain HTTP/1.1 GET whose response body is a [`Read`]: what `analyse http://…` feeds to a
//! format's reader as the bytes arrive (a progressive FLV, TS, MP3 or fMP4 stream that may
//! never end).
//!
//! Bounded everywhere: a connect and read timeout, a wall-clock deadline after which the body
//! reads as ended (the caller's `--duration`), a cap on the response head and on a chunk-size
//! line, and at most [`MAX_REDIRECTS`] redirects. `https://` goes through rustls with the
//! certificate verified ([`super::tls`]). Known gaps: no authentication, no proxies.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The response head (status line and headers) may not be longer than this.
pub const MAX_HEAD: usize = 64 << 10;
/// Redirects followed before giving up (a redirect loop ends here).
pub const MAX_REDIRECTS: usize = 5;
/// A chunk-size line (with extensions) may not be longer than this.
const MAX_CHUNK_LINE: usize = 1024;
/// How often a blocked read wakes to check the deadline.
pub const POLL: Duration = Duration::from_millis(100);

/// `HOST[:PORT]` (or `[V6]:PORT`) of a URL's authority: the host, and the port or `default`.
/// Shared by every URL mist dials (`http(s)://`, `rtmp://`, `dtsc://`).
pub fn split_authority(authority: &str, default: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or("unclosed [ in the host of the URL")?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("'{p}' is not a port"))?,
        None => default,
    };
    Ok((host.to_string(), port))
}

/// True when `s` is an `http://` or `https://` URL.
pub fn is_url(s: &str) -> bool {
    let l = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

/// An `http://` URL split into what a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// `Host:` header value (as the URL spells it).
    pub authority: String,
    /// Path and query, at least `/`.
    pub target: String,
    /// `https://`.
    pub tls: bool,
}

impl Url {
    /// Parses `http(s)://HOST[:PORT][/PATH]`.
    pub fn parse(url: &str) -> Result<Url, String> {
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        let tls = lower.starts_with("https://");
        if !tls && !lower.starts_with("http://") {
            return Err("not an http:// or https:// URL".into());
        }
        let rest = &url[if tls { 8 } else { 7 }..];
        let rest = rest.split('#').next().unwrap_or(rest);
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let (host, port) = split_authority(authority, if tls { 443 } else { 80 })?;
        Ok(Url {
            host,
            port,
            authority: authority.to_string(),
            target,
            tls,
        })
    }
}

/// How the body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// `Content-Length`: this many bytes left.
    Length(u64),
    /// `Transfer-Encoding: chunked`: bytes left in the current chunk (`None` before a size
    /// line), and whether the last chunk was seen.
    Chunked { left: Option<u64>, done: bool },
    /// Until the server closes.
    Close,
}

/// The connection: plain TCP or TLS over it.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// What ends a live read: a wall-clock deadline, a stop flag (Ctrl-C) and a read timeout,
/// watched between short blocking reads (the socket's read timeout is [`POLL`]).
pub struct Watch<'a> {
    /// After this the input reads as ended (`--duration`).
    pub deadline: Option<Instant>,
    /// Once set the input reads as ended.
    pub stop: Option<&'a AtomicBool>,
    /// No data for this long is an error.
    pub timeout: Duration,
    /// Set when the deadline or the stop flag ended the input.
    pub cut: &'a AtomicBool,
}

impl Watch<'_> {
    /// One read of `r` into `buf`: 0 at the deadline, at the stop or at the end of input;
    /// `last_data` is when bytes last came.
    pub fn read(
        &self,
        r: &mut impl Read,
        buf: &mut [u8],
        last_data: &mut Instant,
    ) -> io::Result<usize> {
        loop {
            let stopped = self.stop.is_some_and(|s| s.load(Ordering::Relaxed));
            if stopped || self.deadline.is_some_and(|t| Instant::now() >= t) {
                self.cut.store(true, Ordering::Relaxed);
                return Ok(0);
            }
            match r.read(buf) {
                Ok(n) => {
                    *last_data = Instant::now();
                    return Ok(n);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if last_data.elapsed() >= self.timeout {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no data for {} s", self.timeout.as_secs_f64()),
                        ));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The body of one GET response, read as it arrives.
pub struct HttpBody {
    sock: Conn,
    /// Bytes read past the head (or a chunk line), handed out before the socket's.
    pending: Vec<u8>,
    framing: Framing,
    deadline: Option<Instant>,
    stop: Option<Arc<AtomicBool>>,
    timeout: Duration,
    last_data: Instant,
    cut: Arc<AtomicBool>,
    /// The `Content-Type` the server sent.
    pub content_type: Option<String>,
}

impl HttpBody {
    /// GETs `url` (following redirects), with `timeout` for connecting and between bytes and
    /// `duration` as a wall-clock cap after which the body reads as ended.
    pub fn get(url: &str, timeout: Duration, duration: Option<Duration>) -> io::Result<HttpBody> {
        HttpBody::get_until(url, timeout, duration, None)
    }

    /// [`HttpBody::get`], and the body also reads as ended once `stop` is set (Ctrl-C).
    pub fn get_until(
        url: &str,
        timeout: Duration,
        duration: Option<Duration>,
        stop: Option<Arc<AtomicBool>>,
    ) -> io::Result<HttpBody> {
        let deadline = duration.map(|d| Instant::now() + d);
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let u = Url::parse(&url).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            match request(&u, timeout, deadline)? {
                Answer::Body(mut b) => {
                    b.stop = stop;
                    return Ok(b);
                }
                Answer::Redirect(to) => {
                    url = if to.starts_with('/') {
                        let scheme = if u.tls { "https" } else { "http" };
                        format!("{scheme}://{}{to}", u.authority)
                    } else {
                        to
                    };
                }
            }
        }
        Err(io::Error::other(format!(
            "more than {MAX_REDIRECTS} redirects (a redirect loop?)"
        )))
    }

    /// Set once the deadline or the stop flag ended the body (the stream did not end by itself).
    pub fn cut_flag(&self) -> Arc<AtomicBool> {
        self.cut.clone()
    }

    /// Reads socket bytes into `buf`, honouring the deadline and the read timeout; 0 at the
    /// deadline or when the server closed.
    fn raw_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.pending.is_empty() {
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Ok(n);
        }
        let stop = self.stop.as_deref();
        let watch = Watch {
            deadline: self.deadline,
            stop,
            timeout: self.timeout,
            cut: &self.cut,
        };
        watch.read(&mut self.sock, buf, &mut self.last_data)
    }

    /// One byte of a chunk-size line, or `None` at the end of input.
    fn byte(&mut self) -> io::Result<Option<u8>> {
        let mut b = [0u8; 1];
        Ok((self.raw_read(&mut b)? == 1).then_some(b[0]))
    }

    /// Reads a chunk-size line (after the CRLF ending the previous chunk, when `after_data`).
    fn chunk_size(&mut self, after_data: bool) -> io::Result<Option<u64>> {
        let mut line = Vec::new();
        loop {
            let Some(b) = self.byte()? else {
                return Ok(None);
            };
            if b == b'\n' {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() && after_data {
                    line.clear();
                    continue;
                }
                let hex = text.split(';').next().unwrap_or("").trim();
                return u64::from_str_radix(hex, 16).map(Some).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad chunk-size line {text:?} in a chunked body"),
                    )
                });
            }
            line.push(b);
            if line.len() > MAX_CHUNK_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a chunk-size line longer than {MAX_CHUNK_LINE} bytes"),
                ));
            }
        }
    }
}

impl Read for HttpBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.framing {
            Framing::Close => self.raw_read(buf),
            Framing::Length(0) => Ok(0),
            Framing::Length(left) => {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = self.raw_read(&mut buf[..want])?;
                self.framing = Framing::Length(left - n as u64);
                Ok(n)
            }
            Framing::Chunked { done: true, .. } => Ok(0),
            Framing::Chunked { left, done: false } => {
                let left = match left {
                    Some(l) if l > 0 => l,
                    _ => match self.chunk_size(left.is_some())? {
                        None => return Ok(0),
                        Some(0) => {
                            self.framing = Framing::Chunked {
                                left: Some(0),
                                done: true,
                            };
                            return Ok(0);
                        }
                        Some(l) => l,
                    },
                };
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = self.raw_read(&mut buf[..want])?;
                self.framing = Framing::Chunked {
                    left: Some(left - n as u64),
                    done: false,
                };
                Ok(n)
            }
        }
    }
}

/// The whole body of `url`, at most `limit` bytes (more is an error, so a hostile server
/// cannot make it grow without bound): playlists, manifests and segments.
pub fn fetch(url: &str, timeout: Duration, limit: u64) -> io::Result<Vec<u8>> {
    let body = HttpBody::get(url, timeout, None)?;
    let mut out = Vec::new();
    body.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("more than {limit} bytes"),
        ));
    }
    Ok(out)
}

/// `reference` resolved against `base` (absolute URLs, absolute paths, relative paths).
pub fn join_url(base: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_string();
    }
    let Some((scheme, rest)) = base.split_once("://") else {
        return reference.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    if reference.starts_with('/') {
        return format!("{origin}{reference}");
    }
    let path = rest[authority_end..].split(['?', '#']).next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{origin}{dir}{reference}")
}

enum Answer {
    Body(HttpBody),
    Redirect(String),
}

fn request(u: &Url, timeout: Duration, deadline: Option<Instant>) -> io::Result<Answer> {
    let addr: SocketAddr = (u.host.as_str(), u.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{} has no address", u.host)))?;
    let sock = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| io::Error::new(e.kind(), format!("connecting to {addr}: {e}")))?;
    // The whole timeout for the TLS handshake and the request; then short waits, so reads
    // can watch the deadline.
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    let mut sock = if u.tls {
        let name = rustls::pki_types::ServerName::try_from(u.host.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: {e}", u.host)))?;
        let conn = rustls::ClientConnection::new(super::tls::client_config(), name)
            .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
        let mut s = rustls::StreamOwned::new(conn, sock);
        // Bounded: every step reads or writes within the timeout, or the loop ends.
        while s.conn.is_handshaking() {
            let (read, wrote) = s
                .conn
                .complete_io(&mut s.sock)
                .map_err(|e| io::Error::new(e.kind(), format!("TLS with {addr}: {e}")))?;
            if read == 0 && wrote == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{addr} closed the connection during the TLS handshake"),
                ));
            }
        }
        Conn::Tls(Box::new(s))
    } else {
        Conn::Plain(sock)
    };
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mist/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        u.target,
        u.authority,
        env!("CARGO_PKG_VERSION")
    );
    sock.write_all(req.as_bytes())?;
    sock.flush()?;
    match &sock {
        Conn::Plain(s) => s.set_read_timeout(Some(POLL))?,
        Conn::Tls(s) => s.sock.set_read_timeout(Some(POLL))?,
    }
    let mut body = HttpBody {
        sock,
        pending: Vec::new(),
        framing: Framing::Close,
        deadline,
        stop: None,
        timeout,
        last_data: Instant::now(),
        cut: Arc::new(AtomicBool::new(false)),
        content_type: None,
    };
    // The head, read in pieces until the blank line; what follows it is body.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if head.len() > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the response head is longer than {MAX_HEAD} bytes"),
            ));
        }
        let n = body.raw_read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection before the response head ended",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    };
    body.pending = head.split_off(end + 4);
    let text = String::from_utf8_lossy(&head[..end]);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP/1.x response: {status_line:?}"),
            )
        })?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut location = None;
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        match k.as_str() {
            "location" => location = Some(v.to_string()),
            "content-length" => length = v.parse::<u64>().ok(),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            "content-type" => body.content_type = Some(v.to_string()),
            _ => {}
        }
    }
    if (300..400).contains(&status) {
        if let Some(to) = location {
            return Ok(Answer::Redirect(to));
        }
    }
    if status != 200 {
        return Err(io::Error::other(format!("HTTP {status} {reason}")));
    }
    body.framing = if chunked {
        Framing::Chunked {
            left: None,
            done: false,
        }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    Ok(Answer::Body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_resolve_against_the_playlist() {
        let base = "http://h:8080/live/s/index.m3u8?token=1";
        assert_eq!(join_url(base, "seg1.ts"), "http://h:8080/live/s/seg1.ts");
        assert_eq!(join_url(base, "/other/a.ts"), "http://h:8080/other/a.ts");
        assert_eq!(join_url(base, "https://c/x.ts"), "https://c/x.ts");
        assert_eq!(join_url("http://h", "a.ts"), "http://h/a.ts");
        assert_eq!(join_url("http://h?x=1", "a.ts"), "http://h/a.ts");
    }

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:8080/live.flv?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 8080, "/live.flv?x=1")
        );
        let u = Url::parse("HTTP://example.com").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
        let u = Url::parse("http://example.com?a=b").unwrap();
        assert_eq!(u.target, "/?a=b");
        let u = Url::parse("https://example.com/a").unwrap();
        assert_eq!((u.port, u.tls, u.target.as_str()), (443, true, "/a"));
        assert!(Url::parse("ftp://example.com/a").is_err());
        assert!(Url::parse("http://:80/a").is_err());
    }

    /// A server answering `response` to one request, in a thread.
    fn serve_once(response: Vec<u8>) -> (String, std::thread::JoinHandle<()>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req);
            let _ = s.write_all(&response);
        });
        (format!("http://{addr}/x"), h)
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let (url, h) = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
                .to_vec(),
        );
        let mut b = HttpBody::get(&url, Duration::from_secs(5), None).unwrap();
        let mut got = String::new();
        b.read_to_string(&mut got).unwrap();
        h.join().unwrap();
        assert_eq!(got, "hello world");
    }

    #[test]
    fn content_length_stops_the_body() {
        let (url, h) = serve_once(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabcdef".to_vec());
        let mut b = HttpBody::get(&url, Duration::from_secs(5), None).unwrap();
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        h.join().unwrap();
        assert_eq!(got, b"abc");
    }

    #[test]
    fn errors_are_named() {
        let (url, h) = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec());
        let e = HttpBody::get(&url, Duration::from_secs(5), None)
            .err()
            .unwrap();
        h.join().unwrap();
        assert_eq!(e.to_string(), "HTTP 404 Not Found");
        let (url, h) = serve_once(vec![b'x'; MAX_HEAD + 10_000]);
        let e = HttpBody::get(&url, Duration::from_secs(5), None)
            .err()
            .unwrap();
        h.join().unwrap();
        assert!(e.to_string().contains("response head is longer"), "{e}");
    }
}
