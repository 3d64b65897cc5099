//! `mist serve`: live and on-demand streams over RTMP and HTTP, from one process (DESIGN.md §3).
//!
//! Everything a viewer sees comes from the [`hub`]: inputs write into it, outputs read from
//! it with their own cursor. This module binds the listeners, runs one task per connection
//! (a panic or protocol error ends that connection only), ticks the hub's deadlines, and shuts
//! down cleanly. Protocol byte logic lives in sans-IO sessions (`rtmp/`) and in the format
//! table's muxers; the `http` and `rtmp` modules are glue.

pub mod access;
pub mod api;
pub mod config;
pub mod dtsc;
pub mod guard;
pub mod http;
pub mod hub;
pub mod input;
pub mod log;
pub mod names;
pub mod net;
pub mod push;
pub mod rtmp;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

pub use config::Config;
pub use hub::Hub;

/// How often the hub's deadlines are checked.
const TICK: Duration = Duration::from_millis(250);
/// How long shutdown waits for connections to finish.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(4);
/// How long shutdown waits for recordings to finish their files (finalising a long MP4 is a
/// remux of the whole file).
pub const PUSH_SHUTDOWN_WAIT: Duration = Duration::from_secs(60);

/// Where to listen, and what to serve.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// HTTP listen address (`None`: no HTTP).
    pub http: Option<SocketAddr>,
    /// RTMP listen address (`None`: no RTMP).
    pub rtmp: Option<SocketAddr>,
    /// API listen address (`None`: no API).
    pub api: Option<SocketAddr>,
    /// DTSC listen address (`None`: no DTSC; MistServer's port is 4200).
    pub dtsc: Option<SocketAddr>,
    /// What to serve.
    pub config: Config,
    /// Where the configuration is saved (`None`: not saved).
    pub config_path: Option<std::path::PathBuf>,
    /// A bearer token that authorises API requests from anywhere (besides the config's).
    pub api_token: Option<String>,
    /// Where HTTP requests are logged (`None`: nowhere).
    pub access_log: Option<std::path::PathBuf>,
}

/// What every connection task can reach.
#[derive(Debug)]
pub struct Shared {
    /// The streams.
    pub hub: Arc<Hub>,
    /// Flips to true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Addresses actually bound (ports chosen by the system when 0 was asked for).
    pub bound: Bound,
    /// Where the configuration is saved.
    pub config_path: Option<std::path::PathBuf>,
    /// A bearer token for the API given on the command line.
    pub api_token: Option<String>,
    /// Notified to stop the server (the API's `shutdown` call).
    pub quit: Notify,
    /// Segmented outputs' built segments, playlists and packaged files.
    pub segmented: http::segmented::Registry,
    /// Pushes and recordings.
    pub pushes: Arc<push::Pushes>,
    /// The HTTP access log, when asked for.
    pub access_log: Option<http::access_log::AccessLog>,
}

/// Addresses the server listens on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bound {
    /// HTTP.
    pub http: Option<SocketAddr>,
    /// RTMP.
    pub rtmp: Option<SocketAddr>,
    /// API.
    pub api: Option<SocketAddr>,
    /// DTSC.
    pub dtsc: Option<SocketAddr>,
}

/// A server with its listeners bound, ready to run.
pub struct Server {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    http: Option<TcpListener>,
    rtmp: Option<TcpListener>,
    api: Option<TcpListener>,
    dtsc: Option<TcpListener>,
}

impl Server {
    /// Binds every listener `settings` asks for.
    pub async fn bind(settings: Settings) -> std::io::Result<Server> {
        async fn listen(a: Option<SocketAddr>) -> std::io::Result<Option<TcpListener>> {
            match a {
                Some(a) => TcpListener::bind(a)
                    .await
                    .map(Some)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("{a}: {e}"))),
                None => Ok(None),
            }
        }
        let http = listen(settings.http).await?;
        let rtmp = listen(settings.rtmp).await?;
        let api = listen(settings.api).await?;
        let dtsc = listen(settings.dtsc).await?;
        let addr = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
        let bound = Bound {
            http: addr(&http),
            rtmp: addr(&rtmp),
            api: addr(&api),
            dtsc: addr(&dtsc),
        };
        let access_log = match &settings.access_log {
            Some(p) => Some(
                http::access_log::AccessLog::open(p)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?,
            ),
            None => None,
        };
        let (stop, shutdown) = watch::channel(false);
        Ok(Server {
            shared: Arc::new(Shared {
                hub: Hub::new(settings.config),
                shutdown,
                bound,
                config_path: settings.config_path,
                api_token: settings.api_token,
                quit: Notify::new(),
                segmented: Default::default(),
                pushes: Default::default(),
                access_log,
            }),
            stop,
            http,
            rtmp,
            api,
            dtsc,
        })
    }

    /// The bound addresses.
    pub fn bound(&self) -> Bound {
        self.shared.bound
    }

    /// The hub.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.shared.hub
    }

    /// The pushes and recordings.
    pub fn pushes(&self) -> &Arc<push::Pushes> {
        &self.shared.pushes
    }

    /// Serves until `shutdown` resolves (or the API asks to stop), then closes the listeners,
    /// ends every stream and waits (at most [`SHUTDOWN_WAIT`]) for connections to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server {
            shared,
            stop,
            http,
            rtmp,
            api,
            dtsc,
        } = self;
        let live = Arc::new(());
        let mut tasks = Vec::new();
        if let Some(l) = http {
            tasks.push(tokio::spawn(http::serve(l, shared.clone(), live.clone())));
        }
        if let Some(l) = api {
            tasks.push(tokio::spawn(api::serve(l, shared.clone(), live.clone())));
        }
        if let Some(l) = rtmp {
            tasks.push(tokio::spawn(rtmp::conn::listen(
                l,
                shared.clone(),
                live.clone(),
            )));
        }
        if let Some(l) = dtsc {
            tasks.push(tokio::spawn(dtsc::listen(l, shared.clone(), live.clone())));
        }
        let always_on = tokio::spawn(input::pull::keep_always_on(shared.hub.clone()));
        let auto = tokio::spawn(shared.pushes.clone().watch_auto(shared.hub.clone()));
        // Automatic pushes of streams that are live already (none at startup, unless a
        // caller published before running).
        for s in shared.hub.live_streams() {
            shared.pushes.auto_start(&shared.hub, s.name());
        }
        let ticker = {
            let hub = shared.hub.clone();
            tokio::spawn(async move {
                let mut t = tokio::time::interval(TICK);
                loop {
                    t.tick().await;
                    hub.tick();
                }
            })
        };
        tokio::select! {
            _ = shutdown => {}
            _ = shared.quit.notified() => {}
        }
        tracing::info!("shutting down");
        let _ = stop.send(true);
        for t in &tasks {
            t.abort();
        }
        always_on.abort();
        auto.abort();
        // Recordings end their files (an MP4 is finalised) before the process goes.
        shared.pushes.stop_all();
        shared.hub.stop_all();
        if !shared.pushes.wait_idle(PUSH_SHUTDOWN_WAIT).await {
            tracing::warn!("some pushes did not finish within {PUSH_SHUTDOWN_WAIT:?}");
        }
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        while Arc::strong_count(&live) > 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        ticker.abort();
        shared.segmented.shutdown();
    }
}
