//! HTTP/1.1 framing for the media port (RFC 9112), sans-IO: a request head parsed from the
//! bytes read so far, and a response head with the framing its body needs.
//!
//! The media port answers GET, HEAD and OPTIONS with bodies mist builds itself, so this is
//! all it needs of HTTP/1.1; it keeps no buffer of its own between requests, which is what a
//! long-lived viewer costs (hyper keeps an 8 KiB read and an 8 KiB write buffer for the
//! life of every connection). The control API keeps hyper.

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};

/// Most header lines accepted in one request (hyper's default too).
pub const MAX_HEADERS: usize = 100;

/// Why a request head was refused: the status to answer before closing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadError {
    /// 400, 431 or 505.
    pub status: StatusCode,
    /// What was wrong, for the log.
    pub why: &'static str,
}

fn bad(why: &'static str) -> HeadError {
    HeadError {
        status: StatusCode::BAD_REQUEST,
        why,
    }
}

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    /// The request, without a body.
    pub request: Request<()>,
    /// Bytes of the input the head took (its blank line included).
    pub len: usize,
    /// Request body bytes that follow the head (`Content-Length`); `None` when the body's
    /// end cannot be found without decoding it (`Transfer-Encoding`): the connection then
    /// closes after the answer.
    pub body: Option<u64>,
    /// Whether the client wants the connection kept after the answer.
    pub keep_alive: bool,
}

/// Parses a request head from the start of `buf`: `Ok(None)` until its blank line has come.
/// Empty lines before the request line are skipped (RFC 9112 §2.2).
pub fn parse_request(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut lines = Vec::new();
    let mut at = 0;
    let len = loop {
        let Some(nl) = memchr::memchr(b'\n', &buf[at..]) else {
            return Ok(None);
        };
        let line = &buf[at..at + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at += nl + 1;
        if line.is_empty() {
            if lines.is_empty() {
                continue;
            }
            break at;
        }
        if lines.len() > MAX_HEADERS {
            return Err(HeadError {
                status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                why: "too many header lines",
            });
        }
        lines.push(line);
    };
    let (first, fields) = lines.split_first().ok_or_else(|| bad("no request line"))?;
    let mut parts = first.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("request line is not METHOD TARGET VERSION"));
    };
    let version = match version {
        b"HTTP/1.1" => Version::HTTP_11,
        b"HTTP/1.0" => Version::HTTP_10,
        v if v.starts_with(b"HTTP/") => {
            return Err(HeadError {
                status: StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                why: "HTTP version other than 1.0 and 1.1",
            })
        }
        _ => return Err(bad("no HTTP version")),
    };
    let method = Method::from_bytes(method).map_err(|_| bad("bad method"))?;
    if target.is_empty() {
        return Err(bad("empty request target"));
    }
    let uri = Uri::try_from(target).map_err(|_| bad("bad request target"))?;
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    let headers = request.headers_mut();
    for line in fields {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(bad("folded header line"));
        }
        let colon = memchr::memchr(b':', line).ok_or_else(|| bad("header line without ':'"))?;
        let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| bad("bad header name"))?;
        let value = trim(&line[colon + 1..]);
        let value = HeaderValue::from_bytes(value).map_err(|_| bad("bad header value"))?;
        headers.append(name, value);
    }
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let mut lengths = headers.get_all(header::CONTENT_LENGTH).iter();
    let body = match (chunked, lengths.next()) {
        (true, _) => None,
        (false, None) => Some(0),
        (false, Some(v)) => {
            let n = v
                .to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| bad("bad Content-Length"))?;
            if lengths.any(|w| w != v) {
                return Err(bad("Content-Length given twice, differently"));
            }
            Some(n)
        }
    };
    let keep_alive = wants_keep_alive(version, headers);
    Ok(Some(Head {
        request,
        len,
        body,
        keep_alive,
    }))
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// HTTP/1.1 keeps a connection unless told `close`; HTTP/1.0 only when told `keep-alive`.
fn wants_keep_alive(version: Version, headers: &http::HeaderMap) -> bool {
    let says = |word: &str| {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(word))
    };
    if version == Version::HTTP_11 {
        !says("close")
    } else {
        says("keep-alive")
    }
}

/// How a response body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body bytes follow (HEAD, 1xx, 204, 304).
    None,
    /// `Content-Length` says where it ends.
    Length,
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// It ends when the connection closes (an HTTP/1.0 client and a body of unknown size).
    Close,
}

/// The response head for `resp` to a request of `method` and `version`, and how its body is
/// framed. `exact` is the body's size when known ahead; `keep_alive` is what the client
/// asked, and says `false` on return when the answer closes the connection. `date` is the
/// `Date` value, added unless the response has one.
pub fn response_head<B>(
    resp: &Response<B>,
    method: &Method,
    version: Version,
    exact: Option<u64>,
    keep_alive: &mut bool,
    date: &str,
) -> (Vec<u8>, Framing) {
    let status = resp.status();
    let headers = resp.headers();
    let no_body = method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let has_length = headers.contains_key(header::CONTENT_LENGTH);
    let mut extra: Vec<(&str, String)> = Vec::new();
    let framing = if no_body {
        if method == Method::HEAD && !has_length {
            if let Some(n) = exact.filter(|&n| n > 0) {
                extra.push(("content-length", n.to_string()));
            }
        }
        Framing::None
    } else if has_length {
        Framing::Length
    } else if let Some(n) = exact {
        extra.push(("content-length", n.to_string()));
        Framing::Length
    } else if version == Version::HTTP_11 {
        extra.push(("transfer-encoding", "chunked".into()));
        Framing::Chunked
    } else {
        *keep_alive = false;
        Framing::Close
    };
    if headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
    {
        *keep_alive = false;
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == header::CONNECTION {
            continue;
        }
        line(&mut out, name.as_str().as_bytes(), value.as_bytes());
    }
    for (name, value) in &extra {
        line(&mut out, name.as_bytes(), value.as_bytes());
    }
    if !headers.contains_key(header::DATE) {
        line(&mut out, b"date", date.as_bytes());
    }
    if !*keep_alive {
        line(&mut out, b"connection", b"close");
    } else if version == Version::HTTP_10 {
        line(&mut out, b"connection", b"keep-alive");
    }
    out.extend_from_slice(b"\r\n");
    (out, framing)
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The line that opens a chunk of `len` bytes (`len` in hex, CRLF).
pub fn chunk_start(len: usize) -> Vec<u8> {
    format!("{len:x}\r\n").into_bytes()
}

/// What ends a chunk.
pub const CHUNK_END: &[u8] = b"\r\n";
/// What ends a chunked body: the last (empty) chunk and no trailers.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The whole answer to a head that was refused: its status, no body, and the close.
pub fn refusal(e: &HeadError) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        e.status.as_str(),
        e.status.canonical_reason().unwrap_or("")
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> Head {
        parse_request(s.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn a_request_head_is_parsed_once_its_blank_line_has_come() {
        let full = "GET /a.flv?x=1 HTTP/1.1\r\nHost: h\r\nRange:  bytes=0-9 \r\n\r\nNEXT";
        for cut in 0..full.len() - 4 {
            assert!(
                parse_request(&full.as_bytes()[..cut]).unwrap().is_none(),
                "{cut}"
            );
        }
        let h = head(full);
        assert_eq!(h.len, full.len() - 4);
        assert_eq!(h.request.method(), Method::GET);
        assert_eq!(h.request.uri().path(), "/a.flv");
        assert_eq!(h.request.uri().query(), Some("x=1"));
        assert_eq!(h.request.headers()["range"], "bytes=0-9");
        assert_eq!((h.body, h.keep_alive), (Some(0), true));
    }

    #[test]
    fn bare_newlines_and_leading_blank_lines_are_accepted() {
        let h = head("\r\n\nHEAD / HTTP/1.0\nConnection: Keep-Alive\n\n");
        assert_eq!(h.request.method(), Method::HEAD);
        assert_eq!(h.request.version(), Version::HTTP_10);
        assert!(h.keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: TE, close\r\n\r\n").keep_alive);
    }

    #[test]
    fn malformed_heads_are_refused_with_their_status() {
        let status = |s: &str| parse_request(s.as_bytes()).unwrap_err().status.as_u16();
        assert_eq!(status("GET /\r\n\r\n"), 400);
        assert_eq!(status("GET  / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status("GET / HTTP/1.1\r\nNo colon\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nBad Name: b\r\n\r\n"), 400);
        assert_eq!(status("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
        assert_eq!(
            status("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            400
        );
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(status(&many), 431);
    }

    #[test]
    fn request_bodies_are_delimited_or_end_the_connection() {
        assert_eq!(
            head("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").body,
            Some(5)
        );
        let h = head("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(h.body, None);
    }

    fn text(
        resp: &Response<()>,
        method: Method,
        version: Version,
        exact: Option<u64>,
    ) -> (String, Framing, bool) {
        let mut keep = true;
        let (h, f) = response_head(resp, &method, version, exact, &mut keep, "D");
        (String::from_utf8(h).unwrap(), f, keep)
    }

    #[test]
    fn the_response_head_frames_its_body() {
        let mut r = Response::new(());
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("video/x-flv"));
        let (h, f, keep) = text(&r, Method::GET, Version::HTTP_11, None);
        assert_eq!(
            h,
            "HTTP/1.1 200 OK\r\ncontent-type: video/x-flv\r\ntransfer-encoding: chunked\r\n\
             date: D\r\n\r\n"
        );
        assert_eq!((f, keep), (Framing::Chunked, true));
        let (h, f, keep) = text(&r, Method::GET, Version::HTTP_10, None);
        assert!(h.ends_with("connection: close\r\n\r\n"), "{h}");
        assert_eq!((f, keep), (Framing::Close, false));
        let (h, f, _) = text(&r, Method::GET, Version::HTTP_11, Some(12));
        assert!(h.contains("content-length: 12\r\n"), "{h}");
        assert_eq!(f, Framing::Length);
        let (h, f, _) = text(&r, Method::HEAD, Version::HTTP_11, Some(0));
        assert!(
            !h.contains("content-length") && !h.contains("chunked"),
            "{h}"
        );
        assert_eq!(f, Framing::None);
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        assert_eq!(
            text(&r, Method::GET, Version::HTTP_11, None).1,
            Framing::None
        );
    }

    #[test]
    fn chunks_are_framed_in_hex() {
        assert_eq!(chunk_start(0x1a2), b"1a2\r\n");
        let e = bad("x");
        assert!(String::from_utf8(refusal(&e))
            .unwrap()
            .starts_with("HTTP/1.1 400 Bad Request\r\n"));
    }
}
