//! The HTTP side of `mist serve` (port 8080): routes by URL, as MistServer's HTTP connector
//! does, to the progressive outputs and the pages. The byte work is the format table's;
//! this is glue.
//!
//! Routes (GET and HEAD everywhere; OPTIONS answers CORS preflights):
//! - `/STREAM.EXT` for every container the format table writes (`flv`, `ts`, `mp4`, `fmp4`,
//!   `mp3`, `aac`, `h264`, `dtsc`): live streams as they happen ([`progressive`]), files
//!   converted on demand; `/STREAM.mp4` of a file is faststart MP4 with byte ranges
//!   ([`vod_mp4`]);
//! - `/hls/STREAM/...` and `/cmaf/STREAM/...`: segmented outputs ([`segmented`]);
//! - `/json_STREAM.js`, `/info_STREAM.js`: stream info in MistServer's shape ([`info`]);
//! - `/STREAM.html` and `/player.js`: a player page; `/`: every stream, linked ([`pages`]).
//!
//! Answers: an unknown stream is 404 (MistServer's "Error opening stream"); an extension
//! MistServer routes to an output mist does not write (`.webm`, `.ogg` ...) and an output
//! that cannot carry any of the stream's tracks are 415 (Unsupported Media Type); any other
//! URL is 404.

pub mod access_log;
mod conn;
pub mod h1;
pub mod info;
pub mod pages;
pub mod progressive;
pub mod query;
pub mod range;
pub mod segmented;
pub mod sink;
pub mod vod_mp4;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};
use tokio::net::TcpListener;

use super::guard;
use super::hub::{Client, HubError, Lookup, State as StreamState, ViewOptions};
use super::Shared;
use crate::formats::{self, FormatSpec};
use progressive::{FileBody, LiveBody};
use query::{percent_decode, Query};
use range::RangeAnswer;

/// Extensions MistServer routes to outputs that mist does not write: 415, not 404.
pub const FOREIGN_OUTPUTS: &[&str] = &[
    "3gp", "webm", "mkv", "ogg", "flac", "wav", "jpg", "mjpg", "json", "srt", "vtt", "webvtt",
    "sdp", "smil", "m3u8",
];

/// What the HTTP side keeps between requests.
#[derive(Debug, Default)]
pub struct HttpState {
    /// Laid-out MP4 outputs of files (byte ranges).
    pub vod: vod_mp4::Cache,
    /// Facts of files for the info pages.
    pub facts: info::FactsCache,
}

/// A response body: a whole buffer or a stream of pieces.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A client must send its whole request head within this time (slowloris); a kept
/// connection that sends no new request within it is closed.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head accepted; a larger one is answered 431 and the connection closed.
pub const MAX_HEAD: usize = 64 << 10;

/// Accepts HTTP connections until the task is aborted.
pub async fn serve(l: TcpListener, shared: Arc<Shared>, live: Arc<()>) {
    let state = Arc::new(HttpState::default());
    loop {
        let (sock, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                guard::accept_backoff(&e).await;
                continue;
            }
        };
        let shared = shared.clone();
        let state = state.clone();
        let stats = shared.hub.stats.clone();
        guard::spawn_connection("HTTP", peer, stats, live.clone(), async move {
            connection(sock, peer, shared, state).await
        });
    }
}

async fn connection(
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    state: Arc<HttpState>,
) -> Result<(), String> {
    let mut shutdown = shared.shutdown.clone();
    let conn = conn::serve_connection(sock, peer, shared, state);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r,
        _ = async { shutdown.wait_for(|s| *s).await.map(|_| ()) } => {
            // No new request is read; live bodies never finish on their own, the hub's end
            // of every stream ends them, and this bounds the wait.
            let _ = tokio::time::timeout(super::SHUTDOWN_WAIT, conn).await;
            Ok(())
        }
    }
}

/// Answers one request.
pub async fn handle<B>(
    req: Request<B>,
    shared: &Shared,
    state: &Arc<HttpState>,
    peer: SocketAddr,
) -> Response<Body> {
    let mut resp = match *req.method() {
        Method::OPTIONS => status(StatusCode::NO_CONTENT, ""),
        Method::GET | Method::HEAD => route(&req, shared, state, peer).await,
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served here\n",
        ),
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("*"),
    );
    if let Some(log) = &shared.access_log {
        let bytes = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        log.log(
            peer,
            req.method().as_str(),
            path,
            resp.status().as_u16(),
            bytes,
        );
    }
    resp
}

/// One request as the handlers see it.
struct Ask<'a> {
    head: bool,
    query: Query,
    /// A signed play token (`?tkn=` or the `tkn` cookie).
    token: Option<String>,
    headers: &'a http::HeaderMap,
    shared: &'a Shared,
    state: &'a Arc<HttpState>,
    peer: SocketAddr,
}

async fn route<B>(
    req: &Request<B>,
    shared: &Shared,
    state: &Arc<HttpState>,
    peer: SocketAddr,
) -> Response<Body> {
    let token = crate::serve::access::token_in_query(req.uri().query()).or_else(|| {
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(crate::serve::access::token_in_cookie)
    });
    let ask = Ask {
        head: req.method() == Method::HEAD,
        query: Query::parse(req.uri().query()),
        token,
        headers: req.headers(),
        shared,
        state,
        peer,
    };
    let path = req.uri().path();
    if path == "/" {
        return index(&ask);
    }
    let Some(seg) = path.strip_prefix('/') else {
        return not_found();
    };
    // `/hls/STREAM/...`, `/cmaf/STREAM/...`: segmented outputs.
    if let Some((prefix, rest)) = seg.split_once('/') {
        if let Some(packaging) = segmented::packaging_for(prefix) {
            let name = percent_decode(rest.split('/').next().unwrap_or(""), false);
            if let Err(e) = shared.hub.check_play(&name, ask.token.as_deref()) {
                return hub_error(&e);
            }
            let resp = segmented::handle(
                req.method(),
                req.headers(),
                req.uri().query(),
                shared,
                peer,
                packaging,
                rest,
            )
            .await;
            return carry_token(resp, shared, &name, ask.token.as_deref()).await;
        }
    }
    // MistServer's `$` in a URL pattern never holds a `/`: a stream URL is one segment.
    if seg.contains('/') {
        return not_found();
    }
    let seg = percent_decode(seg, false);
    if seg == "player.js" {
        return asset(
            &ask,
            "application/javascript; charset=utf-8",
            pages::PLAYER_JS,
        );
    }
    if let Some(name) = seg
        .strip_prefix("json_")
        .and_then(|s| s.strip_suffix(".js"))
    {
        return stream_info(&ask, name, false).await;
    }
    if let Some(name) = seg
        .strip_prefix("info_")
        .and_then(|s| s.strip_suffix(".js"))
    {
        return stream_info(&ask, name, true).await;
    }
    let Some((name, ext)) = seg.rsplit_once('.') else {
        return not_found();
    };
    if ext.eq_ignore_ascii_case("html") {
        return match crate::serve::names::StreamName::parse(name) {
            Some(_) => asset(&ask, "text/html; charset=utf-8", pages::PLAYER_HTML),
            None => not_found(),
        };
    }
    match output_spec(ext) {
        Some(spec) => progressive(&ask, name, spec).await,
        None if FOREIGN_OUTPUTS.contains(&ext.to_ascii_lowercase().as_str()) => status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "mist does not write .{} outputs\n",
                ext.to_ascii_lowercase()
            ),
        ),
        None => not_found(),
    }
}

/// A committed page or script.
fn asset(ask: &Ask<'_>, kind: &'static str, text: &'static str) -> Response<Body> {
    let body = if ask.head {
        empty()
    } else {
        full(Bytes::from_static(text.as_bytes()))
    };
    Response::builder()
        .header(header::CONTENT_TYPE, kind)
        .header(header::CONTENT_LENGTH, text.len())
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""))
}

/// A generated page or document.
fn document(ask: &Ask<'_>, kind: &'static str, text: String) -> Response<Body> {
    let len = text.len();
    let body = if ask.head {
        empty()
    } else {
        full(Bytes::from(text))
    };
    Response::builder()
        .header(header::CONTENT_TYPE, kind)
        .header(header::CONTENT_LENGTH, len)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""))
}

/// The host part of the request's `Host` header (what the client called this server), or
/// the listener's address.
fn request_host(ask: &Ask<'_>) -> String {
    let from_header = ask
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .map(|a| a.host().to_string())
        .filter(|h| !h.is_empty());
    from_header.unwrap_or_else(|| match ask.shared.bound.http.map(|a| a.ip()) {
        Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        Some(ip) => ip.to_string(),
        None => "localhost".into(),
    })
}

fn index(ask: &Ask<'_>) -> Response<Body> {
    let rows = pages::rows(ask.shared);
    let host = request_host(ask);
    let rtmp = ask
        .shared
        .bound
        .rtmp
        .map(|a| format!("{host}:{}", a.port()));
    document(
        ask,
        "text/html; charset=utf-8",
        pages::index_html(&rows, rtmp.as_deref()),
    )
}

async fn stream_info(ask: &Ask<'_>, name: &str, script: bool) -> Response<Body> {
    let place = info::Place {
        host: request_host(ask),
        http_port: ask.shared.bound.http.map_or(8080, |a| a.port()),
        rtmp_port: ask.shared.bound.rtmp.map(|a| a.port()),
    };
    let value = match ask.shared.hub.lookup(name) {
        Err(_) => info::error("Stream is offline"),
        Ok(Lookup::Live(n, s)) => {
            let meta = s.meta();
            if meta.tracks.is_empty() {
                info::error(match s.state() {
                    StreamState::Live => "Stream is waiting for data",
                    _ => "Stream is offline",
                })
            } else {
                let windows = s.track_windows();
                let facts: Vec<info::TrackFacts> = meta
                    .tracks
                    .iter()
                    .map(|t| {
                        windows
                            .iter()
                            .find(|w| w.track == t.id)
                            .map(|w| {
                                let span = (w.last_ms - w.first_ms).max(1) as u64;
                                let bps = w.bytes * 1000 / span;
                                info::TrackFacts {
                                    first_ms: w.first_ms,
                                    last_ms: w.last_ms,
                                    bps,
                                    max_bps: bps,
                                    fpks: if t.kind == crate::dtsc::TrackKind::Video {
                                        w.packets.saturating_sub(1) * 1_000_000 / span
                                    } else {
                                        0
                                    },
                                    bframes: w.reordered,
                                }
                            })
                            .unwrap_or_default()
                    })
                    .collect();
                info::describe(
                    &info::Described {
                        name: n.as_str(),
                        live: true,
                        tracks: &meta.tracks,
                        facts: &facts,
                        buffer_window: Some(s.settings().dvr_ms),
                        unix_zero: meta.unix_zero,
                    },
                    &place,
                )
            }
        }
        Ok(Lookup::File(n, path)) => {
            let state = ask.state.clone();
            let got = tokio::task::spawn_blocking(move || state.facts.get(&path)).await;
            match got {
                Ok(Ok(f)) => info::describe(
                    &info::Described {
                        name: n.as_str(),
                        live: false,
                        tracks: &f.meta.tracks,
                        facts: &f.tracks,
                        buffer_window: None,
                        unix_zero: f.meta.unix_zero,
                    },
                    &place,
                ),
                Ok(Err(e)) => serde_json::json!({
                    "error": "Could not retrieve stream. Sorry.",
                    "error_guru": e,
                }),
                Err(e) => info::error(&e.to_string()),
            }
        }
    };
    if script {
        let text = info::as_script(name, &value);
        document(ask, "application/javascript", text)
    } else {
        document(ask, "application/json", value.to_string())
    }
}

/// The container an extension asks for, if mist writes it.
pub fn output_spec(ext: &str) -> Option<&'static FormatSpec> {
    if ext.is_empty() || ext.len() > 8 {
        return None;
    }
    formats::spec_by_extension(Path::new(&format!("x.{}", ext.to_ascii_lowercase())))
        .filter(|s| s.muxer.is_some())
}

/// The row that writes a live stream of `spec`'s kind: an output that cannot be written as
/// packets arrive (faststart MP4) is written by the table's live row of the same MIME type
/// (fragmented MP4).
pub fn live_spec(spec: &'static FormatSpec) -> Option<&'static FormatSpec> {
    if spec.mux_caps.live {
        return Some(spec);
    }
    formats::FORMATS
        .iter()
        .find(|f| f.mime == spec.mime && f.muxer.is_some() && f.mux_caps.live)
}

/// For a stream with a play secret, played with a valid token: playlists get the token on
/// every URI they list, and every answer sets the `tkn` cookie (players that keep cookies
/// carry it to segments whatever the manifest's form).
async fn carry_token(
    resp: Response<Body>,
    shared: &Shared,
    name: &str,
    token: Option<&str>,
) -> Response<Body> {
    let Some(token) = token else { return resp };
    let signed = crate::serve::names::StreamName::parse(name)
        .is_some_and(|n| shared.hub.play_secret(&n).is_some());
    if !signed || !resp.status().is_success() {
        return resp;
    }
    // Tokens are `DIGITS-HEX`, safe in a header and in a URI as they are.
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let playlist = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("mpegurl"));
    let body = if playlist {
        match body.collect().await {
            Ok(c) => {
                let text = String::from_utf8_lossy(&c.to_bytes()).into_owned();
                let signed = crate::serve::access::sign_playlist(&text, token);
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(signed.len()));
                // One viewer's playlist: no shared cache may keep it.
                parts.headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("private, no-cache"),
                );
                parts.headers.remove(header::ETAG);
                full(Bytes::from(signed))
            }
            Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        }
    } else {
        body
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax",
        crate::serve::access::TOKEN_PARAM
    )) {
        parts.headers.insert(header::SET_COOKIE, v);
    }
    Response::from_parts(parts, body)
}

async fn progressive(ask: &Ask<'_>, name: &str, spec: &'static FormatSpec) -> Response<Body> {
    if let Err(e) = ask.shared.hub.check_play(name, ask.token.as_deref()) {
        return hub_error(&e);
    }
    let protocol = protocol_name(spec);
    let client = Client {
        peer: ask.peer,
        protocol,
    };
    let hub = &ask.shared.hub;
    let opts = ViewOptions {
        start_ms: ask.query.start_ms,
        ..ViewOptions::default()
    };
    let (stream, path) = match hub.lookup(name) {
        Err(e) => return hub_error(&e),
        Ok(Lookup::File(stream, path)) => (stream, path),
        Ok(Lookup::Live(..)) => {
            let Some(spec) = live_spec(spec) else {
                return status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "no live form of this output\n",
                );
            };
            if ask.head {
                // Headers only: no viewer is opened.
                return Response::builder()
                    .header(header::CONTENT_TYPE, spec.mime)
                    .header(header::CACHE_CONTROL, "no-cache")
                    .body(empty())
                    .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""));
            }
            let viewer = match hub.view(name, client, opts) {
                Ok(v) => v,
                Err(e) => return hub_error(&e),
            };
            let Some(body) = LiveBody::new(viewer, spec, ask.query.clone()) else {
                return status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "no writer for this output\n",
                );
            };
            return Response::builder()
                .header(header::CONTENT_TYPE, spec.mime)
                .header(header::CACHE_CONTROL, "no-cache")
                .body(body.boxed_unsync())
                .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""));
        }
    };
    if !spec.mux_caps.live {
        // An output laid out whole before its first byte (progressive MP4): byte ranges.
        return ranged_file(ask, stream.as_str(), path, spec, client).await;
    }
    if ask.head {
        // Whether the output can carry the file's tracks decides the status; nothing runs.
        let state = ask.state.clone();
        let facts = tokio::task::spawn_blocking(move || state.facts.get(&path)).await;
        return match facts {
            Ok(Ok(f))
                if f.meta
                    .tracks
                    .iter()
                    .any(|t| (spec.mux_caps.framing)(&t.codec).is_some()) =>
            {
                Response::builder()
                    .header(header::CONTENT_TYPE, spec.mime)
                    .header(header::ACCEPT_RANGES, "none")
                    .body(empty())
                    .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""))
            }
            Ok(Ok(_)) => status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("{} cannot carry any track of this stream\n", spec.name),
            ),
            Ok(Err(e)) => status(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
            Err(e) => status(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        };
    }
    // A file: the conversion runs on its own thread, and its first output (or its error)
    // decides the status line.
    let stats = Arc::new(hub.connect(stream.as_str(), client));
    let mut rx = progressive::convert_file(path, spec, &ask.query);
    let first = match rx.recv().await {
        Some(Ok(pieces)) => pieces,
        None => Vec::new(),
        Some(Err(e)) => {
            tracing::warn!(peer = %ask.peer, "{}", e.message);
            return status(e.status, &format!("{}\n", e.message));
        }
    };
    Response::builder()
        .header(header::CONTENT_TYPE, spec.mime)
        .header(header::ACCEPT_RANGES, "none")
        .body(FileBody::new(first, rx, Some(stats)).boxed_unsync())
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""))
}

/// A file's laid-out output (progressive MP4): `Content-Length`, validators, conditional
/// requests and byte ranges.
async fn ranged_file(
    ask: &Ask<'_>,
    stream: &str,
    path: std::path::PathBuf,
    spec: &'static FormatSpec,
    client: Client,
) -> Response<Body> {
    let state = ask.state.clone();
    let query = ask.query.clone();
    let got = tokio::task::spawn_blocking(move || state.vod.get(&path, spec, &query)).await;
    let entry = match got {
        Ok(Ok(e)) => e,
        Ok(Err(f)) => {
            tracing::warn!(peer = %ask.peer, "{}", f.message);
            return status(f.status, &format!("{}\n", f.message));
        }
        Err(e) => return status(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
    };
    let len = entry.len();
    let etag = entry.etag().to_string();
    let modified = range::http_date(entry.modified());
    let header_str = |h: header::HeaderName| ask.headers.get(h).and_then(|v| v.to_str().ok());
    let fresh = match header_str(header::IF_NONE_MATCH) {
        Some(inm) => range::none_match(inm, &etag),
        None => header_str(header::IF_MODIFIED_SINCE)
            .is_some_and(|ims| range::not_modified_since(ims, entry.modified())),
    };
    let base = || {
        Response::builder()
            .header(header::CONTENT_TYPE, spec.mime)
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::ETAG, etag.as_str())
            .header(header::LAST_MODIFIED, modified.as_str())
            .header(header::CACHE_CONTROL, "no-cache")
    };
    if fresh {
        return base()
            .status(StatusCode::NOT_MODIFIED)
            .body(empty())
            .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""));
    }
    let mut wanted = header_str(header::RANGE);
    if let Some(ir) = header_str(header::IF_RANGE) {
        if !range::if_range_holds(ir, &etag, entry.modified()) {
            wanted = None;
        }
    }
    let (code, start, end) = match range::answer(wanted, len) {
        RangeAnswer::Whole => (StatusCode::OK, 0, len),
        RangeAnswer::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        RangeAnswer::Unsatisfiable => {
            return base()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, range::unsatisfied_range(len))
                .body(empty())
                .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""));
        }
    };
    let mut builder = base()
        .status(code)
        .header(header::CONTENT_LENGTH, end - start);
    if code == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(header::CONTENT_RANGE, range::content_range(start, end, len));
    }
    if ask.head || start == end {
        return builder
            .body(empty())
            .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""));
    }
    let stats = Arc::new(ask.shared.hub.connect(stream, client));
    let pace = ask
        .query
        .rate
        .map(|r| crate::pipeline::pace::Pacer::new(r, ask.query.lead()));
    let mut rx = vod_mp4::spawn_range(entry, start, end, pace);
    let first = match rx.recv().await {
        Some(Ok(pieces)) => pieces,
        None => Vec::new(),
        Some(Err(e)) => return status(e.status, &format!("{}\n", e.message)),
    };
    builder
        .body(FileBody::new(first, rx, Some(stats)).boxed_unsync())
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""))
}

/// The connector name statistics use for an output of `spec` (`HTTP-FLV`, `HTTP-TS` ...).
pub fn protocol_name(spec: &FormatSpec) -> &'static str {
    match spec.name {
        "flv" => "HTTP-FLV",
        "ts" => "HTTP-TS",
        "mp4" | "fmp4" => "HTTP-MP4",
        "mp3" => "HTTP-MP3",
        "aac" => "HTTP-AAC",
        "h264" => "HTTP-H264",
        _ => "HTTP",
    }
}

/// The answer to a hub refusal.
pub fn hub_error(e: &HubError) -> Response<Body> {
    let code = match e {
        HubError::BadName(_) | HubError::NotFound(_) => StatusCode::NOT_FOUND,
        HubError::Offline(_) => StatusCode::SERVICE_UNAVAILABLE,
        HubError::Refused(_) => StatusCode::FORBIDDEN,
    };
    status(code, &format!("{e}\n"))
}

/// 404 with a short text.
pub fn not_found() -> Response<Body> {
    status(StatusCode::NOT_FOUND, "not found\n")
}

/// A plain-text response.
pub fn status(code: StatusCode, text: &str) -> Response<Body> {
    let body = if text.is_empty() {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    } else {
        full(Bytes::copy_from_slice(text.as_bytes()))
    };
    let mut r = Response::new(body);
    *r.status_mut() = code;
    if !text.is_empty() {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    r
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body of one buffer.
pub fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed_unsync()
}
