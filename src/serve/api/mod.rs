//! The control API (port 4242), in MistServer's shapes: `POST /api` with a JSON body, or
//! `/api?command=JSON` (GET, or a form POST); `/api2` answers minimally; `callback=`/`jsonp=`
//! wraps the answer for JSONP. Answers are `text/javascript` JSON with CORS headers. Also
//! `/metrics` in the Prometheus text format.
//!
//! - [`auth`]: who may do what (loopback trust, challenge-response, bearer token);
//! - [`calls`]: one request's calls and its answer;
//! - [`streams`], [`activity`], [`capabilities`]: the answers' parts;
//! - [`sampler`]: the per-second statistics `clients` and `totals` read;
//! - [`metrics`]: the Prometheus page.
//!
//! Changes made through the API are written to the config file (when `mist serve` has one)
//! at once, atomically (temp file + rename), so a crash never leaves half a file.

pub mod activity;
pub mod auth;
pub mod calls;
pub mod capabilities;
pub mod metrics;
pub mod sampler;
pub mod streams;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

use super::guard;
use super::http::query::percent_decode;
use super::http::{full, status, Body, HEADER_TIMEOUT, MAX_HEAD};
use super::Shared;
use crate::io::atomic::AtomicFile;
use activity::Snapshot;
use auth::{Check, Verdict};
use sampler::Sampler;

/// Largest request body read; larger ones get 413.
pub const MAX_BODY: usize = 1 << 20;
/// A request body must arrive within this time.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused login waits before answering (MistServer waits a second too), so
/// passwords cannot be tried quickly.
pub const REFUSAL_DELAY: Duration = Duration::from_secs(1);
/// Longest JSONP callback name.
const MAX_CALLBACK: usize = 128;

/// The API's state.
pub struct Api {
    /// What every connection can reach.
    pub shared: Arc<Shared>,
    sampler: Mutex<Sampler>,
    secret: String,
    iid: String,
    save_lock: tokio::sync::Mutex<()>,
    started: Instant,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("iid", &self.iid).finish()
    }
}

/// Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Unix time in milliseconds.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// 128 random bits as hex: from the system's generator, or, where there is none, from the
/// per-process random keys of the standard library's hasher.
fn random_hex() -> String {
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        use std::hash::{BuildHasher, Hasher};
        for chunk in b.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(unix_now_ms() as u128);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Api {
    /// The API of a server.
    pub fn new(shared: Arc<Shared>) -> Api {
        Api {
            shared,
            sampler: Mutex::new(Sampler::default()),
            secret: random_hex(),
            iid: random_hex(),
            save_lock: tokio::sync::Mutex::new(()),
            started: Instant::now(),
        }
    }

    /// The statistics (never hold it across an `.await`).
    pub fn sampler(&self) -> MutexGuard<'_, Sampler> {
        self.sampler.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes this second's sample.
    pub fn sample(&self) {
        let clients = self.shared.hub.stats.clients();
        let cpu = capabilities::read_cpu_times();
        let mut s = self.sampler();
        s.sample(unix_now(), &clients);
        s.cpu(cpu);
    }

    /// Writes the configuration to its file, atomically.
    pub async fn save(&self) -> Result<(), String> {
        let Some(path) = self.shared.config_path.clone() else {
            return Err("no config file (start mist serve with --config FILE)".into());
        };
        // One writer at a time, each with the newest configuration: the last rename wins
        // and holds the last change.
        let _one = self.save_lock.lock().await;
        let text = self.shared.hub.config().to_json();
        let shown = path.display().to_string();
        let r = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut f = AtomicFile::create(&path, true)?;
            f.file().write_all(text.as_bytes())?;
            f.commit()
        })
        .await;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!("cannot save the configuration to {shown}: {e}");
                Err(format!("{shown}: {e}"))
            }
            Err(e) => Err(format!("{shown}: {e}")),
        }
    }

    /// The `config` answer: the stored object plus MistServer's run-time members.
    pub fn config_answer(&self) -> Value {
        let mut m = self.shared.hub.config().config;
        m.insert("iid".into(), json!(self.iid));
        m.insert(
            "version".into(),
            json!(format!("mist {}", env!("CARGO_PKG_VERSION"))),
        );
        m.insert("time".into(), json!(unix_now()));
        m.entry("serverid").or_insert(json!(""));
        let bound = &self.shared.bound;
        if let Some(a) = bound.api {
            m.entry("controller")
                .or_insert(json!({"interface": a.ip().to_string(), "port": a.port()}));
        }
        if !m.contains_key("protocols") {
            let mut p = Vec::new();
            for (connector, addr) in [("HTTP", bound.http), ("RTMP", bound.rtmp)] {
                if let Some(a) = addr {
                    p.push(json!({"connector": connector, "port": a.port(),
                                  "interface": a.ip().to_string(), "online": 1}));
                }
            }
            m.insert("protocols".into(), Value::Array(p));
        }
        Value::Object(m)
    }

    fn check<'a>(&'a self, config: &'a super::Config, peer: SocketAddr) -> Check<'a> {
        Check {
            config,
            token: self.shared.api_token.as_deref(),
            secret: &self.secret,
            peer: peer.ip(),
            unix_day: unix_now() / 86_400,
        }
    }

    /// Seconds since the API started.
    pub fn uptime(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// Accepts API connections and takes the statistics sample every second, until aborted.
pub async fn serve(l: TcpListener, shared: Arc<Shared>, live: Arc<()>) {
    let api = Arc::new(Api::new(shared.clone()));
    if let Ok(a) = l.local_addr() {
        tracing::info!("control API on http://{a}/api");
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => api.sample(),
            r = l.accept() => match r {
                Ok((sock, peer)) => {
                    let api = api.clone();
                    let stats = shared.hub.stats.clone();
                    guard::spawn_connection("API", peer, stats, live.clone(), async move {
                        connection(sock, peer, api).await
                    });
                }
                Err(e) => guard::accept_backoff(&e).await,
            },
        }
    }
}

async fn connection(
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    api: Arc<Api>,
) -> Result<(), String> {
    let _ = sock.set_nodelay(true);
    let io = TokioIo::new(guard::StallGuard::new(sock, guard::WRITE_STALL));
    let mut shutdown = api.shared.shutdown.clone();
    let svc = hyper::service::service_fn(move |req| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(handle(req, &api, peer).await) }
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
            let _ = tokio::time::timeout(super::SHUTDOWN_WAIT, conn).await;
            Ok(())
        }
    }
}

/// Answers one request.
pub async fn handle(req: Request<Incoming>, api: &Api, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path().to_string();
    let has_command = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("command=")));
    let method = req.method().clone();
    let mut resp = match (&method, path.as_str()) {
        (&Method::OPTIONS, _) => status(StatusCode::NO_CONTENT, ""),
        (&Method::GET | &Method::HEAD, "/metrics") => metrics(&req, api, peer),
        (&Method::GET | &Method::HEAD | &Method::POST, "/api" | "/api2") => {
            api_request(req, api, peer).await
        }
        (&Method::GET | &Method::HEAD | &Method::POST, "/")
            if has_command || method == Method::POST =>
        {
            api_request(req, api, peer).await
        }
        (&Method::GET | &Method::HEAD, "/") => status(
            StatusCode::OK,
            "mist control API: POST /api with a JSON body, or GET /api?command=JSON; \
             Prometheus metrics at /metrics\n",
        ),
        (_, "/api" | "/api2" | "/metrics" | "/") => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET or POST (GET for /metrics)\n",
        ),
        _ => status(StatusCode::NOT_FOUND, "not found: the API is at /api\n"),
    };
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, HEAD, OPTIONS"),
    );
    // `*` does not cover Authorization in CORS; name it.
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, *"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn metrics(req: &Request<Incoming>, api: &Api, peer: SocketAddr) -> Response<Body> {
    let config = api.shared.hub.config();
    let (verdict, _) = api.check(&config, peer).verdict(req.headers(), &Map::new());
    if !verdict.allowed() {
        return status(
            StatusCode::FORBIDDEN,
            "metrics are served to this machine, or with Authorization: Bearer TOKEN\n",
        );
    }
    let hub = &api.shared.hub;
    let sampler = api.sampler();
    let snap = Snapshot {
        hub,
        clients: hub.stats.clients(),
        sampler: &sampler,
        now: unix_now(),
        now_ms: unix_now_ms(),
    };
    let page = metrics::render(
        &snap,
        api.uptime(),
        super::log::RING.count(),
        sampler.cpu_use(),
    );
    let mut r = Response::new(full(Bytes::from(page)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    r
}

/// `k=v` pairs of a query string or form body, decoded (the last of a name wins).
fn vars(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// A JSON error answer.
fn error(code: StatusCode, msg: &str) -> Response<Body> {
    answer(code, &json!({"error": msg}), None)
}

fn answer(code: StatusCode, v: &Value, callback: Option<&str>) -> Response<Body> {
    let json = v.to_string();
    let text = match callback {
        Some(cb) => format!("{cb}({json});\n\n"),
        None => format!("{json}\n\n"),
    };
    let mut r = Response::new(full(Bytes::from(text)));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript"),
    );
    r
}

/// A JSONP callback name that cannot inject script: `a.b_c$1`, at most 128 characters.
fn valid_callback(cb: &str) -> bool {
    !cb.is_empty()
        && cb.len() <= MAX_CALLBACK
        && cb
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    let too_big = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is over {MAX_BODY} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_big());
    }
    let body = Limited::new(req.into_body(), MAX_BODY);
    match tokio::time::timeout(BODY_TIMEOUT, body.collect()).await {
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_big()),
        Ok(Err(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("cannot read the request body: {e}"),
        )),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

async fn api_request(req: Request<Incoming>, api: &Api, peer: SocketAddr) -> Response<Body> {
    let minimal = req.uri().path() == "/api2";
    let mut vars = vars(req.uri().query());
    let headers = req.headers().clone();
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let body = if req.method() == Method::POST {
        match read_body(req).await {
            Ok(b) => b,
            Err(resp) => return resp,
        }
    } else {
        Bytes::new()
    };
    let mut command = vars.remove("command");
    if !body.is_empty() {
        let text = String::from_utf8_lossy(&body).into_owned();
        let looks_json = text.trim_start().starts_with('{');
        if form && !looks_json {
            let mut f = self::vars(Some(&text));
            if let Some(c) = f.remove("command") {
                command = Some(c);
            }
            vars.extend(f);
        } else {
            // A JSON body, whatever the Content-Type says (`curl -d` sends JSON as a form).
            command = Some(text);
        }
    }
    let callback = vars.get("jsonp").or_else(|| vars.get("callback")).cloned();
    if let Some(cb) = &callback {
        if !valid_callback(cb) {
            return error(
                StatusCode::BAD_REQUEST,
                "callback: only letters, digits, _ $ and . are allowed",
            );
        }
    }
    let text = command.unwrap_or_else(|| "{}".into());
    let mut request = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the command must be a JSON object, like {\"active_streams\":true}",
            )
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("the command is not valid JSON: {e}"),
            )
        }
    };
    if minimal {
        request.insert("minimal".into(), json!(true));
    }
    let (verdict, authorize) = {
        let config = api.shared.hub.config();
        api.check(&config, peer).verdict(&headers, &request)
    };
    let (code, answer_v) = match verdict {
        Verdict::Denied { offered } => {
            if offered {
                tracing::warn!(%peer, "API: failed login");
                tokio::time::sleep(REFUSAL_DELAY).await;
            }
            let code = if calls::is_mutating(&request) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::OK
            };
            (code, json!({"authorize": authorize}))
        }
        v => {
            let local = v == Verdict::Local;
            (
                StatusCode::OK,
                calls::run(api, request, local, authorize).await,
            )
        }
    };
    answer(code, &answer_v, callback.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_and_vars() {
        assert!(valid_callback("jQuery123_456.cb$"));
        assert!(!valid_callback("alert(1)//"));
        assert!(!valid_callback(""));
        assert!(!valid_callback(&"a".repeat(MAX_CALLBACK + 1)));
        let v = vars(Some("command=%7B%22a%22%3A1%7D&callback=f&x"));
        assert_eq!(v["command"], "{\"a\":1}");
        assert_eq!(v["callback"], "f");
        assert_eq!(v["x"], "");
    }
}
