//! The stream hub: every stream the server knows, live or on demand. Inputs write into it,
//! outputs read from it with their own cursor (DESIGN.md §3).
//!
//! - [`live`]: a live stream's buffer (DVR window, keyframe index, cursors);
//! - [`viewer`]: one viewer's cursor, over a live buffer or a file;
//! - [`entry`]: a packet as the hub shares it, with per-output encodings built once;
//! - [`stats`]: clients and counters for the API.

pub mod entry;
pub mod live;
pub mod stats;
pub mod viewer;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::dtsc::{Packet, Track};
use crate::serve::config::{Config, PushRule, StreamConfig};
use crate::serve::input::folder;
use crate::serve::input::pull::{self, PullHandle};
use crate::serve::names::{expand_source, StreamName};

pub use entry::{Encoded, Entry, Slot};
pub use live::{LiveSettings, LiveStream, SegmentInfo, State, TrackWindow};
pub use stats::{ClientGuard, ClientRecord, ClosedSession, Role, Stats, StreamTotals};
pub use viewer::{ViewOptions, Viewer, ViewerEvent};

use stats::lock;

/// Stream starts queued for slow subscribers before they must catch up by listing.
const STARTED_QUEUE: usize = 256;

/// Who is connecting, for statistics and access rules.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The protocol (`RTMP`, `HTTP-FLV` ...).
    pub protocol: &'static str,
}

/// Why the hub refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HubError {
    /// The name has nothing usable in it.
    #[error("'{0}' is not a valid stream name")]
    BadName(String),
    /// No such stream.
    #[error("stream '{0}' not found")]
    NotFound(String),
    /// The stream exists but nothing is being published to it.
    #[error("stream '{0}' is offline")]
    Offline(String),
    /// Not allowed.
    #[error("{0}")]
    Refused(String),
}

/// What a stream name stands for.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// A live stream fed by publishers, with its rules and limits.
    Push {
        /// Who may publish.
        rule: PushRule,
        /// Limits of the buffer.
        settings: LiveSettings,
        /// Whether the name was configured (unconfigured pushes may be refused).
        configured: bool,
    },
    /// A live stream pulled from a URL.
    Pull {
        /// The source URL, variables expanded.
        source: String,
        /// Its kind.
        kind: pull::Kind,
        /// Limits of the buffer.
        settings: LiveSettings,
        /// Pulled without viewers too (`always_on`).
        always: bool,
    },
    /// A file served on demand.
    File(PathBuf),
    /// Nothing.
    NotFound,
}

/// What a name stands for right now.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// A live stream.
    Live(StreamName, Arc<LiveStream>),
    /// A file.
    File(StreamName, PathBuf),
}

/// Every stream of one server.
#[derive(Debug)]
pub struct Hub {
    config: RwLock<Config>,
    live: Mutex<HashMap<String, Arc<LiveStream>>>,
    pulls: Mutex<HashMap<String, Arc<PullHandle>>>,
    epochs: Notify,
    /// Clients and counters.
    pub stats: Arc<Stats>,
    started: Instant,
    /// Names of live streams as they start (automatic pushes follow it).
    went_live: tokio::sync::broadcast::Sender<String>,
}

impl Hub {
    /// A hub serving what `config` says.
    pub fn new(config: Config) -> Arc<Hub> {
        Arc::new(Hub {
            config: RwLock::new(config),
            live: Mutex::new(HashMap::new()),
            pulls: Mutex::new(HashMap::new()),
            epochs: Notify::new(),
            stats: Arc::new(Stats::default()),
            started: Instant::now(),
            went_live: tokio::sync::broadcast::channel(STARTED_QUEUE).0,
        })
    }

    /// News of live streams starting (a new buffer for a name, not a publisher coming back
    /// within the grace period): each message is a stream name.
    pub fn subscribe_started(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.went_live.subscribe()
    }

    /// Tells subscribers that live stream `name` started (inputs that make live streams
    /// call it once per new buffer).
    pub fn announce_started(&self, name: &str) {
        let _ = self.went_live.send(name.to_string());
    }

    /// When the hub started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// A copy of the configuration.
    pub fn config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the configuration.
    pub fn update_config<R>(&self, f: impl FnOnce(&mut Config) -> R) -> R {
        f(&mut self.config.write().unwrap_or_else(|p| p.into_inner()))
    }

    /// What `name` stands for, by the config (the whole name, then its base for wildcards),
    /// then the served folder, then unconfigured pushes.
    pub fn resolve(&self, name: &StreamName) -> Resolved {
        let config = self.config.read().unwrap_or_else(|p| p.into_inner());
        let entry = config.streams.get(name.as_str()).or_else(|| {
            name.wildcard()
                .and_then(|_| config.streams.get(name.base()))
        });
        if let Some(sc) = entry {
            return resolve_source(sc, name);
        }
        if let Some(dir) = &config.folder {
            if let Some(p) = folder::find(dir, name.as_str()) {
                return Resolved::File(p);
            }
        }
        Resolved::Push {
            rule: PushRule::default(),
            settings: LiveSettings::default(),
            configured: false,
        }
    }

    /// Claims stream `raw` for publishing. A second publisher to a live name takes over (the
    /// old one's [`Publisher::closed`] resolves). `passwords` are what the client offered
    /// (RTMP: the app name and the stream key).
    pub fn publish(
        self: &Arc<Self>,
        raw: &str,
        client: Client,
        passwords: &[&str],
    ) -> Result<Publisher, HubError> {
        // A stream key stands for the stream it maps to and authorises the push.
        let keyed = {
            let c = self.config.read().unwrap_or_else(|p| p.into_inner());
            let bare = raw.split('?').next().unwrap_or(raw);
            c.streamkeys.get(bare).cloned()
        };
        let name = StreamName::parse(keyed.as_deref().unwrap_or(raw))
            .ok_or_else(|| HubError::BadName(printable(raw)))?;
        let settings = match self.resolve(&name) {
            Resolved::Push {
                rule,
                settings,
                configured,
            } => {
                if !configured && !self.config().accept_unconfigured_push && keyed.is_none() {
                    return Err(HubError::Refused(format!(
                        "stream '{name}' is not configured for publishing"
                    )));
                }
                if keyed.is_none() && !rule.allows(client.peer.ip(), passwords) {
                    return Err(HubError::Refused(format!(
                        "publishing to '{name}' is not allowed from {}",
                        client.peer.ip()
                    )));
                }
                if let Some(pw) = self.publish_password(&name) {
                    if keyed.is_none() && !passwords.iter().any(|c| *c == pw) {
                        return Err(HubError::Refused(format!(
                            "publishing to '{name}' needs its password"
                        )));
                    }
                }
                settings
            }
            Resolved::File(_) => {
                return Err(HubError::Refused(format!(
                    "stream '{name}' is a file, not a live stream"
                )))
            }
            Resolved::Pull { source, .. } => {
                return Err(HubError::Refused(format!(
                    "stream '{name}' is pulled from {source}, not published"
                )))
            }
            Resolved::NotFound => return Err(HubError::NotFound(name.to_string())),
        };
        Ok(self.claim(&name, settings, client))
    }

    /// Claims stream `raw` for a pull of it (no publish rules: the configuration asked for
    /// the pull); the stream is created if it does not exist.
    pub fn publish_pulled(
        self: &Arc<Self>,
        raw: &str,
        protocol: &'static str,
    ) -> Result<Publisher, HubError> {
        let name = StreamName::parse(raw).ok_or_else(|| HubError::BadName(printable(raw)))?;
        let settings = match self.resolve(&name) {
            Resolved::Pull { settings, .. } => settings,
            _ => {
                return Err(HubError::Refused(format!(
                    "stream '{name}' is no longer pulled"
                )))
            }
        };
        let client = Client {
            peer: pull::PULL_PEER,
            protocol,
        };
        Ok(self.claim(&name, settings, client))
    }

    fn claim(
        self: &Arc<Self>,
        name: &StreamName,
        settings: LiveSettings,
        client: Client,
    ) -> Publisher {
        // The session begins under the table's lock: `tick` (which takes it too) must never
        // see a new stream before its publisher has it, or a zero grace period ends it.
        let (stream, new, epoch) = {
            let mut live = lock(&self.live);
            let (s, new) = match live.get(name.as_str()) {
                Some(s) if s.state() != State::Ended => (s.clone(), false),
                _ => {
                    let s = Arc::new(LiveStream::new(name.as_str(), settings));
                    live.insert(name.to_string(), s.clone());
                    (s, true)
                }
            };
            let epoch = s.begin_epoch();
            (s, new, epoch)
        };
        if new {
            self.announce_started(name.as_str());
        }
        self.epochs.notify_waiters();
        let guard = self
            .stats
            .connect(client.peer, client.protocol, name.as_str(), Role::Input);
        tracing::info!(stream = %name, peer = %client.peer, protocol = client.protocol, "publish");
        Publisher {
            hub: self.clone(),
            stream,
            epoch,
            guard,
        }
    }

    /// Starts the pull of `name` unless it runs, and returns its live stream (created
    /// waiting for the source when new). `None` when `name` is not pulled or no runtime is
    /// there to run the pull on.
    pub fn ensure_pull(self: &Arc<Self>, raw: &str) -> Option<Arc<LiveStream>> {
        let name = StreamName::parse(raw)?;
        let Resolved::Pull {
            source,
            kind,
            settings,
            always,
        } = self.resolve(&name)
        else {
            return None;
        };
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let stream = {
            let mut live = lock(&self.live);
            match live.get(name.as_str()) {
                Some(s) if s.state() != State::Ended => s.clone(),
                _ => {
                    let s = Arc::new(LiveStream::new(name.as_str(), settings));
                    live.insert(name.to_string(), s.clone());
                    s
                }
            }
        };
        let mut pulls = lock(&self.pulls);
        let running = pulls
            .get(name.as_str())
            .is_some_and(|h| !h.stopping() && h.source == source);
        if !running {
            if let Some(old) = pulls.get(name.as_str()) {
                old.stop();
            }
            let h = Arc::new(PullHandle::new(source, kind, always));
            pulls.insert(name.to_string(), h.clone());
            rt.spawn(pull::run(self.clone(), name.to_string(), h));
        }
        Some(stream)
    }

    /// True when the configuration pulls `name` (a cheap check: no folder is looked at).
    fn pulled_by_config(&self, name: &StreamName) -> bool {
        let config = self.config.read().unwrap_or_else(|p| p.into_inner());
        let entry = config.streams.get(name.as_str()).or_else(|| {
            name.wildcard()
                .and_then(|_| config.streams.get(name.base()))
        });
        entry.is_some_and(|sc| pull::Kind::of(&expand_source(sc.source.trim(), name)).is_some())
    }

    /// A pull task's last word: it is forgotten, and its stream ends (viewers get the end).
    pub fn pull_ended(&self, name: &str, handle: &Arc<PullHandle>) {
        let mine = {
            let mut pulls = lock(&self.pulls);
            let mine = pulls.get(name).is_some_and(|h| Arc::ptr_eq(h, handle));
            if mine {
                pulls.remove(name);
            }
            mine
        };
        if mine {
            self.stop(name);
        }
    }

    /// The running pull of `name`, if any.
    pub fn pull(&self, name: &str) -> Option<Arc<PullHandle>> {
        lock(&self.pulls).get(name).cloned()
    }

    /// Names of configured streams that are pulled `always_on` and whose pull does not run.
    pub fn always_on_pulls(&self) -> Vec<String> {
        let config = self.config.read().unwrap_or_else(|p| p.into_inner());
        let pulls = lock(&self.pulls);
        config
            .streams
            .iter()
            .filter(|(name, sc)| {
                always_on(sc) && pull::Kind::of(&sc.source).is_some() && !pulls.contains_key(*name)
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The play secret of stream `name`: its own `play_secret` (a wildcard stream's base's),
    /// else the server's.
    pub fn play_secret(&self, name: &StreamName) -> Option<String> {
        let config = self.config.read().unwrap_or_else(|p| p.into_inner());
        config
            .streams
            .get(name.as_str())
            .or_else(|| {
                name.wildcard()
                    .and_then(|_| config.streams.get(name.base()))
            })
            .and_then(|s| s.play_secret.clone())
            .or_else(|| config.play_secret.clone())
            .filter(|s| !s.is_empty())
    }

    /// The publish password of stream `name` (its own, or its base's for wildcards).
    fn publish_password(&self, name: &StreamName) -> Option<String> {
        let config = self.config.read().unwrap_or_else(|p| p.into_inner());
        config
            .streams
            .get(name.as_str())
            .or_else(|| {
                name.wildcard()
                    .and_then(|_| config.streams.get(name.base()))
            })
            .and_then(|s| s.publish_password.clone())
            .filter(|s| !s.is_empty())
    }

    /// Whether `raw` may be played with `token` (a signed play token, when the stream has a
    /// play secret; see [`crate::serve::access`]).
    pub fn check_play(&self, raw: &str, token: Option<&str>) -> Result<(), HubError> {
        let name = StreamName::parse(raw).ok_or_else(|| HubError::BadName(printable(raw)))?;
        let Some(secret) = self.play_secret(&name) else {
            return Ok(());
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        crate::serve::access::verify(secret.as_bytes(), name.as_str(), token, now).map_err(|e| {
            tracing::info!(stream = %name, "play refused: {e}");
            HubError::Refused(e.to_string())
        })
    }

    /// What `raw` names right now: a live stream (live or waiting for its publisher) or a
    /// file; an error when neither.
    pub fn lookup(self: &Arc<Self>, raw: &str) -> Result<Lookup, HubError> {
        let name = StreamName::parse(raw).ok_or_else(|| HubError::BadName(printable(raw)))?;
        if let Some(s) = self.live_stream(name.as_str()) {
            if self.pull(name.as_str()).is_none() && self.pulled_by_config(&name) {
                // A pulled stream whose pull stopped (idle) while the stream lingers: restart.
                if let Some(s) = self.ensure_pull(name.as_str()) {
                    return Ok(Lookup::Live(name, s));
                }
            }
            return Ok(Lookup::Live(name, s));
        }
        match self.resolve(&name) {
            Resolved::File(path) => Ok(Lookup::File(name, path)),
            Resolved::Pull { .. } => match self.ensure_pull(name.as_str()) {
                Some(s) => Ok(Lookup::Live(name, s)),
                None => Err(HubError::Offline(name.to_string())),
            },
            Resolved::Push { configured, .. } => Err(if configured {
                HubError::Offline(name.to_string())
            } else {
                HubError::NotFound(name.to_string())
            }),
            Resolved::NotFound => Err(HubError::NotFound(name.to_string())),
        }
    }

    /// Registers an output client of `stream` for statistics (outputs that read a file
    /// through the pipeline rather than through a [`Viewer`]).
    pub fn connect(&self, stream: &str, client: Client) -> ClientGuard {
        self.stats
            .connect(client.peer, client.protocol, stream, Role::Output)
    }

    /// Opens a viewer: a live stream at its newest keyframe, a file from its start (or
    /// `opts.start_ms`).
    pub fn view(
        self: &Arc<Self>,
        raw: &str,
        client: Client,
        opts: ViewOptions,
    ) -> Result<Viewer, HubError> {
        Ok(match self.lookup(raw)? {
            Lookup::Live(name, s) => {
                let guard = self.connect(name.as_str(), client);
                Viewer::live(name.to_string(), s, opts, guard, self.stats.clone())
            }
            Lookup::File(name, path) => {
                let guard = self.connect(name.as_str(), client);
                Viewer::file(name.to_string(), path, opts, guard, self.stats.clone())
            }
        })
    }

    /// The live stream `name`, if one is live or waiting for its publisher.
    pub fn live_stream(&self, name: &str) -> Option<Arc<LiveStream>> {
        lock(&self.live)
            .get(name)
            .filter(|s| s.state() != State::Ended)
            .cloned()
    }

    /// Every live stream (live or waiting for its publisher), by name.
    pub fn live_streams(&self) -> Vec<Arc<LiveStream>> {
        let mut v: Vec<_> = lock(&self.live)
            .values()
            .filter(|s| s.state() != State::Ended)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v
    }

    /// Ends live stream `name` now (its publisher is disconnected, viewers get the end).
    pub fn stop(&self, name: &str) -> bool {
        if let Some(h) = lock(&self.pulls).remove(name) {
            h.stop();
        }
        let s = lock(&self.live).remove(name);
        if let Some(s) = &s {
            s.end();
            self.epochs.notify_waiters();
        }
        s.is_some()
    }

    /// Applies deadlines (publishers that did not come back) and forgets ended streams; the
    /// server calls it a few times a second.
    pub fn tick(&self) {
        let now = Instant::now();
        let mut ended = false;
        lock(&self.live).retain(|_, s| {
            let over = s.tick(now);
            ended |= over;
            !over
        });
        if ended {
            self.epochs.notify_waiters();
        }
    }

    /// Ends every live stream (shutdown).
    pub fn stop_all(&self) {
        for (_, h) in lock(&self.pulls).drain() {
            h.stop();
        }
        let all: Vec<_> = lock(&self.live).drain().map(|(_, s)| s).collect();
        for s in all {
            s.end();
        }
        self.epochs.notify_waiters();
    }
}

/// The stream option `always_on` (MistServer's name): pull without viewers.
pub fn always_on(sc: &StreamConfig) -> bool {
    match sc.extra.get("always_on") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        Some(serde_json::Value::String(s)) => matches!(s.as_str(), "1" | "true" | "yes"),
        _ => false,
    }
}

fn live_settings(sc: &StreamConfig, default_grace: Duration) -> LiveSettings {
    let mut settings = LiveSettings {
        grace: default_grace,
        ..LiveSettings::default()
    };
    if let Some(d) = sc.dvr {
        settings.dvr_ms = d;
    }
    if let Some(k) = sc.maxkeepaway {
        settings.max_keep_away_ms = k;
    }
    if let Some(g) = sc.grace {
        settings.grace = Duration::from_millis(g);
    }
    if let Some(ms) = sc.segmentsize.filter(|ms| *ms > 0) {
        settings.segment_ms = i64::try_from(ms).unwrap_or(i64::MAX);
    }
    settings
}

fn resolve_source(sc: &StreamConfig, name: &StreamName) -> Resolved {
    let expanded = expand_source(sc.source.trim(), name);
    if let Some(kind) = pull::Kind::of(&expanded) {
        return Resolved::Pull {
            source: expanded,
            kind,
            settings: live_settings(sc, pull::PULL_GRACE),
            always: always_on(sc),
        };
    }
    if let Some(rule) = PushRule::parse(&sc.source) {
        return Resolved::Push {
            rule,
            settings: live_settings(
                sc,
                Duration::from_millis(crate::serve::config::DEFAULT_GRACE_MS),
            ),
            configured: true,
        };
    }
    let source = expand_source(&sc.source, name);
    let path = PathBuf::from(&source);
    if source.ends_with('/') || path.is_dir() {
        // A folder: `base+file.ext` is that file in it (MistServer's Folder input).
        return match name.wildcard().and_then(|w| folder::file_in(&path, w)) {
            Some(p) => Resolved::File(p),
            None => Resolved::NotFound,
        };
    }
    if path.is_file() {
        Resolved::File(path)
    } else {
        Resolved::NotFound
    }
}

/// A name as it can appear in one log or error line (control characters escaped, cut short).
fn printable(raw: &str) -> String {
    let s: String = raw
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    if raw.chars().count() > 64 {
        format!("{s}...")
    } else {
        s
    }
}

/// A publisher's hold on a live stream. Dropping it unpublishes: viewers wait for a new
/// publisher until the stream's grace period ends.
#[derive(Debug)]
pub struct Publisher {
    hub: Arc<Hub>,
    stream: Arc<LiveStream>,
    epoch: u64,
    guard: ClientGuard,
}

impl Publisher {
    /// The stream's name.
    pub fn stream(&self) -> &str {
        self.stream.name()
    }

    /// The buffer it writes.
    pub fn live(&self) -> &Arc<LiveStream> {
        &self.stream
    }

    /// Announces the tracks (again whenever codec configuration changes).
    pub fn set_tracks(&mut self, tracks: Vec<Track>) -> bool {
        self.stream.set_tracks(self.epoch, tracks)
    }

    /// Adds a packet; false once this publisher was superseded or the stream stopped.
    pub fn push(&mut self, pkt: Packet) -> bool {
        self.stream.push(self.epoch, pkt)
    }

    /// Counts bytes received from the publisher.
    pub fn count_up(&self, n: u64) {
        self.guard.count_up(n);
    }

    /// True while this publisher still owns the stream.
    pub fn is_current(&self) -> bool {
        self.stream.epoch() == self.epoch && self.stream.state() != State::Ended
    }

    /// Resolves when another publisher took the stream over or it was stopped.
    pub async fn closed(&self) {
        loop {
            let notified = self.hub.epochs.notified();
            if !self.is_current() {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stream.unpublish(self.epoch);
        tracing::info!(stream = %self.stream.name(), peer = %self.guard.record().peer, "unpublish");
    }
}

#[cfg(test)]
mod tests;
