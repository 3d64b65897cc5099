//! The HTTP side of `mist serve` (port 8080): routes by URL, as MistServer's HTTP connector
//! does, to the progressive outputs and the pages. The byte work is the format table's;
//! this is glue.
//!
//! Routes: `/STREAM.EXT` for every container the format table writes (`flv`, `ts`, `mp4`,
//! `mp3`, `aac`, `h264`, `dtsc`); `/hls/STREAM/...` and `/cmaf/STREAM/...` ([`segmented`]);
//! anything else is 404.

pub mod progressive;
pub mod query;
pub mod segmented;
pub mod sink;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::guard::{self, StallGuard, WRITE_STALL};
use super::hub::{Client, HubError, Lookup, ViewOptions};
use super::Shared;
use crate::formats::{self, FormatSpec};
use progressive::{FileBody, LiveBody};
use query::{percent_decode, Query};

/// A response body: a whole buffer or a stream of pieces.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A client must send its whole request head within this time (slowloris).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head accepted; hyper answers 431 or closes above it.
pub const MAX_HEAD: usize = 64 << 10;

/// Accepts HTTP connections until the task is aborted.
pub async fn serve(l: TcpListener, shared: Arc<Shared>, live: Arc<()>) {
    loop {
        let (sock, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                guard::accept_backoff(&e).await;
                continue;
            }
        };
        let shared = shared.clone();
        let stats = shared.hub.stats.clone();
        guard::spawn_connection("HTTP", peer, stats, live.clone(), async move {
            connection(sock, peer, shared).await
        });
    }
}

async fn connection(
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
) -> Result<(), String> {
    let _ = sock.set_nodelay(true);
    let io = TokioIo::new(StallGuard::new(sock, WRITE_STALL));
    let mut shutdown = shared.shutdown.clone();
    let svc = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(req, &shared, peer).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => r.map_err(|e| e.to_string()),
        _ = async { shutdown.wait_for(|s| *s).await.map(|_| ()) } => {
            conn.as_mut().graceful_shutdown();
            // Live bodies never finish on their own; the hub's end of every stream ends
            // them, and this bounds the wait.
            let _ = tokio::time::timeout(super::SHUTDOWN_WAIT, conn).await;
            Ok(())
        }
    }
}

/// Answers one request.
pub async fn handle(req: Request<Incoming>, shared: &Shared, peer: SocketAddr) -> Response<Body> {
    let mut resp = match *req.method() {
        Method::OPTIONS => status(StatusCode::NO_CONTENT, ""),
        Method::GET | Method::HEAD => route(&req, shared, peer).await,
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
    resp
}

async fn route(req: &Request<Incoming>, shared: &Shared, peer: SocketAddr) -> Response<Body> {
    let query = Query::parse(req.uri().query());
    let Some(seg) = req.uri().path().strip_prefix('/') else {
        return not_found();
    };
    // `/hls/STREAM/...`, `/cmaf/STREAM/...`: segmented outputs.
    if let Some((prefix, rest)) = seg.split_once('/') {
        if let Some(packaging) = segmented::packaging_for(prefix) {
            return segmented::handle(req.method(), req.headers(), shared, peer, packaging, rest)
                .await;
        }
    }
    // MistServer's `$` in a URL pattern never holds a `/`: a stream URL is one segment.
    if seg.contains('/') {
        return not_found();
    }
    let seg = percent_decode(seg, false);
    let Some((name, ext)) = seg.rsplit_once('.') else {
        return not_found();
    };
    match output_spec(ext) {
        Some(spec) => progressive(name, spec, query, shared, peer).await,
        None => not_found(),
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

async fn progressive(
    name: &str,
    spec: &'static FormatSpec,
    query: Query,
    shared: &Shared,
    peer: SocketAddr,
) -> Response<Body> {
    let protocol = protocol_name(spec);
    let client = Client { peer, protocol };
    let hub = &shared.hub;
    let opts = ViewOptions {
        start_ms: query.start_ms,
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
            let viewer = match hub.view(name, client, opts) {
                Ok(v) => v,
                Err(e) => return hub_error(&e),
            };
            let Some(body) = LiveBody::new(viewer, spec, query) else {
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
    // A file: the conversion runs on its own thread, and its first output (or its error)
    // decides the status line.
    let stats = Arc::new(hub.connect(stream.as_str(), client));
    let mut rx = progressive::convert_file(path, spec, &query);
    let first = match rx.recv().await {
        Some(Ok(pieces)) => pieces,
        None => Vec::new(),
        Some(Err(e)) => {
            tracing::warn!(%peer, "{e}");
            return status(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n"));
        }
    };
    Response::builder()
        .header(header::CONTENT_TYPE, spec.mime)
        .header(header::ACCEPT_RANGES, "none")
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

/// A body of one buffer.
pub fn full(b: Bytes) -> Body {
    Full::new(b).map_err(|never| match never {}).boxed_unsync()
}
