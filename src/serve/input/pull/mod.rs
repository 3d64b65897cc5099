//! Streams pulled from elsewhere: a stream whose `source` is a URL (`rtmp://`, `dtsc://`,
//! `http(s)://` progressive FLV/TS/MP4, HLS `.m3u8`, `tsudp://`, `ts-exec:`) is fed by a pull
//! task that writes into the hub exactly as an RTMP publisher does (a [`Publisher`] per
//! connection, tracks and packets in the core's framing).
//!
//! A pull starts on the first viewer (on demand, as MistServer does) and stops once the stream
//! had no viewer for [`IDLE`]; with the stream option `always_on` it runs from server start.
//! When the source fails, the pull reconnects after an exponential back-off (from
//! [`BACKOFF_FIRST`] doubling up to [`BACKOFF_MAX`]); its state and last error are kept in a
//! [`PullHandle`] for the API's `streams` answer. Each reconnection is a new publisher epoch,
//! so viewers see a discontinuity, not the end of the stream (pulled streams wait
//! [`PULL_GRACE`] for their source by default).
//!
//! Byte parsing is the format table's sans-IO readers ([`crate::formats::Reader`]) and the
//! RTMP client session; the modules here are socket glue:
//! - [`rtmp`]: `rtmp://` and `rtmps://` play;
//! - [`dtsc`]: `dtsc://` play (MistServer's wire protocol);
//! - [`bytes`]: byte streams read with a format reader: HTTP progressive, `tsudp://`,
//!   `ts-exec:`;
//! - [`hls`]: HLS playlists (live and VOD, master playlists).

pub mod bytes;
pub mod dtsc;
pub mod hls;
pub mod rtmp;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::dtsc::{Packet, Track};
use crate::formats::Event;
use crate::serve::hub::{Hub, Publisher, Role};

/// First wait after a failure.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// Longest wait between attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// An on-demand pull with no viewer for this long stops.
pub const IDLE: Duration = Duration::from_secs(20);
/// Setting a connection up (TCP, TLS, protocol handshake) must finish within this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A source that sends nothing for this long has stalled: the pull reconnects.
pub const STALL: Duration = Duration::from_secs(15);
/// How long a pulled stream's viewers wait for the source to come back, unless the stream
/// configures `grace` (longer than a publisher's: the pull itself is retrying).
pub const PULL_GRACE: Duration = Duration::from_secs(30);
/// The peer address pulls are registered under in the client list (they have no peer).
pub const PULL_PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// The kinds of pull source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `rtmp://` or `rtmps://`.
    Rtmp,
    /// `dtsc://` (MistServer's wire protocol).
    Dtsc,
    /// `http(s)://` progressive FLV, TS or MP4.
    Http,
    /// `http(s)://...m3u8`.
    Hls,
    /// `tsudp://[HOST]:PORT`.
    TsUdp,
    /// `ts-exec:COMMAND`.
    TsExec,
}

impl Kind {
    /// The kind of `source`, or `None` when it is not a pull source.
    pub fn of(source: &str) -> Option<Kind> {
        let s = source.trim();
        let lower = s.get(..12).unwrap_or(s).to_ascii_lowercase();
        if lower.starts_with("rtmp://") || lower.starts_with("rtmps://") {
            Some(Kind::Rtmp)
        } else if lower.starts_with("dtsc://") {
            Some(Kind::Dtsc)
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            let path = s.split(['?', '#']).next().unwrap_or(s);
            if path.to_ascii_lowercase().ends_with(".m3u8") {
                Some(Kind::Hls)
            } else {
                Some(Kind::Http)
            }
        } else if lower.starts_with("tsudp://") {
            Some(Kind::TsUdp)
        } else if lower.starts_with("ts-exec:") {
            Some(Kind::TsExec)
        } else {
            None
        }
    }

    /// The protocol name in the client list (MistServer's input names where it has one).
    pub fn protocol(self) -> &'static str {
        match self {
            Kind::Rtmp => "INPUT:RTMP",
            Kind::Dtsc => "INPUT:DTSC",
            Kind::Http => "INPUT:HTTP",
            Kind::Hls => "INPUT:HLS",
            Kind::TsUdp => "INPUT:TSUDP",
            Kind::TsExec => "INPUT:TSEXEC",
        }
    }
}

/// Where a pull is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Connecting (or connected and waiting for the first tracks).
    Connecting,
    /// Media flows.
    Active,
    /// Waiting to try again.
    Retrying {
        /// When the next attempt starts.
        at: Instant,
    },
}

/// What the API shows of a pull.
#[derive(Clone, Debug)]
pub struct Status {
    /// The phase.
    pub phase: Phase,
    /// Why the last attempt ended (`None` before the first ended).
    pub last_error: Option<String>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// Connections that delivered tracks, over the pull's life.
    pub connections: u64,
}

/// One running pull: its source, whether it is always on, its status, and its stop switch.
#[derive(Debug)]
pub struct PullHandle {
    /// The source URL (variables expanded).
    pub source: String,
    /// The kind of source.
    pub kind: Kind,
    /// Runs without viewers.
    pub always: bool,
    status: Mutex<Status>,
    stop: watch::Sender<bool>,
}

impl PullHandle {
    /// A pull of `source`, not started.
    pub fn new(source: String, kind: Kind, always: bool) -> PullHandle {
        PullHandle {
            source,
            kind,
            always,
            status: Mutex::new(Status {
                phase: Phase::Connecting,
                last_error: None,
                failures: 0,
                connections: 0,
            }),
            stop: watch::channel(false).0,
        }
    }

    /// A copy of the status.
    pub fn status(&self) -> Status {
        lock(&self.status).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut lock(&self.status));
    }

    /// Asks the pull to stop.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// True once asked to stop.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// The status as the API's `streams` answer shows it (mist's own `pull` member).
    pub fn to_json(&self) -> Value {
        let s = self.status();
        let (state, retry_in) = match s.phase {
            Phase::Connecting => ("connecting", None),
            Phase::Active => ("active", None),
            Phase::Retrying { at } => (
                "retrying",
                Some(at.saturating_duration_since(Instant::now()).as_millis() as u64),
            ),
        };
        let mut v = json!({
            "source": self.source,
            "state": state,
            "always_on": self.always,
            "failures": s.failures,
            "connections": s.connections,
        });
        if let Some(e) = s.last_error {
            v["last_error"] = json!(e);
        }
        if let Some(ms) = retry_in {
            v["retry_in_ms"] = json!(ms);
        }
        v
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The wait before attempt `failures + 1` (`failures` >= 1).
pub fn backoff(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    BACKOFF_FIRST.saturating_mul(1u32 << shift).min(BACKOFF_MAX)
}

/// Where one connection's media goes: a publisher of the pulled stream, claimed when the
/// first tracks arrive and released (unpublished) when the connection ends.
pub struct Feed {
    hub: Arc<Hub>,
    name: String,
    handle: Arc<PullHandle>,
    publisher: Option<Publisher>,
    /// Packets handed to the hub.
    pub packets: u64,
}

impl Feed {
    fn new(hub: Arc<Hub>, name: String, handle: Arc<PullHandle>) -> Feed {
        Feed {
            hub,
            name,
            handle,
            publisher: None,
            packets: 0,
        }
    }

    /// The stream name being fed.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// New tracks (at the start and whenever the source's codec setup changes).
    pub fn tracks(&mut self, tracks: Vec<Track>) -> Result<(), String> {
        if tracks.is_empty() {
            return Ok(());
        }
        if self.publisher.is_none() {
            let p = self
                .hub
                .publish_pulled(&self.name, self.handle.kind.protocol())
                .map_err(|e| e.to_string())?;
            self.publisher = Some(p);
            self.handle.update(|s| {
                s.phase = Phase::Active;
                s.connections += 1;
            });
        }
        if let Some(p) = &mut self.publisher {
            p.set_tracks(tracks);
        }
        Ok(())
    }

    /// A packet (decode order, track ids from [`Feed::tracks`]); packets before the first
    /// tracks are dropped. An error once the stream was stopped or taken over.
    pub fn packet(&mut self, pkt: Packet) -> Result<(), String> {
        let Some(p) = &mut self.publisher else {
            return Ok(());
        };
        if !p.push(pkt) {
            return Err("the stream was stopped".into());
        }
        self.packets += 1;
        if self.packets == 1 {
            self.handle.update(|s| s.failures = 0);
        }
        Ok(())
    }

    /// Bytes received from the source (statistics).
    pub fn count_up(&self, n: u64) {
        if let Some(p) = &self.publisher {
            p.count_up(n);
        }
    }

    /// Hands a format reader's event on; findings are logged.
    pub fn event(&mut self, e: Event) -> Result<(), String> {
        match e {
            Event::Tracks(t) => self.tracks(t),
            Event::Packet(p) => self.packet(p),
            Event::Finding(f) => {
                tracing::debug!(stream = %self.name, "pull: {}", f.message);
                Ok(())
            }
        }
    }

    /// Takes every event `reader` has ready.
    pub fn drain(&mut self, reader: &mut dyn crate::formats::Reader) -> Result<(), String> {
        while let Some(e) = reader.next_event().map_err(|e| e.to_string())? {
            self.event(e)?;
        }
        Ok(())
    }
}

/// One connection to the source, until it fails or ends.
async fn attempt(kind: Kind, source: &str, feed: &mut Feed) -> Result<(), String> {
    match kind {
        Kind::Rtmp => rtmp::pull(source, feed).await,
        Kind::Dtsc => dtsc::pull(source, feed).await,
        Kind::Http => bytes::http(source, feed).await,
        Kind::Hls => hls::pull(source, feed).await,
        Kind::TsUdp => bytes::ts_udp(source, feed).await,
        Kind::TsExec => bytes::ts_exec(source, feed).await,
    }
}

/// Resolves once stream `name` had no viewer for [`IDLE`] (never for always-on pulls).
async fn idle(hub: &Hub, name: &str, always: bool) {
    if always {
        std::future::pending::<()>().await;
    }
    let mut last_seen = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let watched = hub
            .stats
            .clients()
            .iter()
            .any(|c| c.role == Role::Output && c.stream == name);
        if watched {
            last_seen = Instant::now();
        } else if last_seen.elapsed() >= IDLE {
            return;
        }
    }
}

/// Runs the pull of stream `name` until it is stopped or idle: connect, feed, back off,
/// again. The hub starts it ([`Hub::ensure_pull`]) and forgets it when it returns.
pub async fn run(hub: Arc<Hub>, name: String, handle: Arc<PullHandle>) {
    tracing::info!(stream = %name, source = %handle.source, "pull start");
    let why_stop: &str = loop {
        if handle.stopping() {
            break "stopped";
        }
        handle.update(|s| s.phase = Phase::Connecting);
        let mut feed = Feed::new(hub.clone(), name.clone(), handle.clone());
        let result = tokio::select! {
            r = attempt(handle.kind, &handle.source, &mut feed) => r,
            _ = handle.stopped() => break "stopped",
            _ = idle(&hub, &name, handle.always) => break "no viewers",
        };
        drop(feed);
        let why = match result {
            Ok(()) => "the source ended the stream".to_string(),
            Err(e) => e,
        };
        let failures = {
            let mut s = lock(&handle.status);
            s.failures += 1;
            s.failures
        };
        let wait = backoff(failures);
        tracing::warn!(stream = %name, source = %handle.source, "pull: {why}; again in {} ms", wait.as_millis());
        handle.update(|s| {
            s.last_error = Some(why);
            s.phase = Phase::Retrying {
                at: Instant::now() + wait,
            };
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = handle.stopped() => break "stopped",
            _ = idle(&hub, &name, handle.always) => break "no viewers",
        }
    };
    tracing::info!(stream = %name, source = %handle.source, "pull stop: {why_stop}");
    hub.pull_ended(&name, &handle);
}

/// Starts every `always_on` pull of the configuration that is not running, once a second,
/// until the server stops (streams added through the API start within a second).
pub async fn keep_always_on(hub: Arc<Hub>) {
    loop {
        for name in hub.always_on_pulls() {
            hub.ensure_pull(&name);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `(host, port, path)` of `scheme://host[:port]/path` (IPv6 hosts in brackets).
pub fn split_url(url: &str, default_port: u16) -> Option<(String, u16, String)> {
    let rest = url.split_once("://")?.1;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = crate::serve::rtmp::client::split_host_port(authority, default_port)?;
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Some((host, port, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_source() {
        assert_eq!(Kind::of("rtmp://h/app/s"), Some(Kind::Rtmp));
        assert_eq!(Kind::of("RTMPS://h/app/s"), Some(Kind::Rtmp));
        assert_eq!(Kind::of("dtsc://h:4200/s"), Some(Kind::Dtsc));
        assert_eq!(Kind::of("http://h/a.flv"), Some(Kind::Http));
        assert_eq!(Kind::of("https://h/live/index.m3u8?x=1"), Some(Kind::Hls));
        assert_eq!(Kind::of("tsudp://:9000"), Some(Kind::TsUdp));
        assert_eq!(
            Kind::of("ts-exec:ffmpeg -i x -f mpegts -"),
            Some(Kind::TsExec)
        );
        assert_eq!(Kind::of("/media/a.mp4"), None);
        assert_eq!(Kind::of("push://"), None);
    }

    #[test]
    fn backoff_doubles_to_its_cap() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_millis(1000));
        assert_eq!(backoff(4), Duration::from_millis(4000));
        assert_eq!(backoff(5), BACKOFF_MAX);
        assert_eq!(backoff(100), BACKOFF_MAX);
    }

    #[test]
    fn urls_split_into_host_port_path() {
        assert_eq!(
            split_url("dtsc://origin/live", 4200),
            Some(("origin".into(), 4200, "/live".into()))
        );
        assert_eq!(
            split_url("http://u:p@[::1]:8080/a/b.ts?x", 80),
            Some(("::1".into(), 8080, "/a/b.ts?x".into()))
        );
        assert_eq!(
            split_url("http://h", 80),
            Some(("h".into(), 80, "/".into()))
        );
    }
}
