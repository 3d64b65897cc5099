//! Pushes: a stream sent on to another server or recorded to a file, started by the API's
//! `push_start`, by an automatic push (`auto_push` in the config, `push_auto_add`) when a
//! matching stream goes live, and listed and stopped in MistServer's shapes.
//!
//! - [`target`]: what a target means (`rtmp://`, `rtmps://`, `dtsc://`, `tsudp://`, files by
//!   extension), its parameters and variables;
//! - [`feed`]: a viewer's packets into a container (track choice, framing, rebasing);
//! - [`record`]: file recordings (split, `recstart`/`recstop`, crash-safe, MP4 finalised);
//! - [`tsudp`]: MPEG-TS over UDP;
//! - [`rtmp`]: publishing to another RTMP server (`rtmp://`, `rtmps://`);
//! - [`dtsc`]: the push side of MistServer's DTSC protocol;
//! - [`status`]: what `push_list` shows of each push.
//!
//! Every push runs as one task: it opens a viewer of its stream (waiting a while for a stream
//! that is not live yet), sends or writes until the stream ends, and when the target fails
//! (refused, unreachable, dropped) tries again after a pause that doubles up to
//! [`BACKOFF_MAX`], with the reason in `push_list`. A recording whose writes fail (a full
//! disk) stops instead: writing again would overwrite what it saved.

pub mod dtsc;
pub mod feed;
pub mod record;
pub mod rtmp;
pub mod status;
pub mod target;
pub mod tsudp;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::{watch, Notify};

use crate::serve::config::Config;
use crate::serve::hub::{Client, Hub, ViewOptions};
use crate::serve::names::StreamName;
use status::{State, Status};
use target::{Kind, Target};

/// First pause before a failed push tries again.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest pause between attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// An attempt that ran this long resets the pause to [`BACKOFF_MIN`].
const STABLE: Duration = Duration::from_secs(30);
/// How long a push waits for a stream that is not live (MistServer's outputs wait for a
/// stream to boot about as long).
pub const STREAM_WAIT: Duration = Duration::from_secs(30);
/// How long a file or UDP push may lead real time when its stream is a file.
const VOD_LEAD_MS: i64 = 1000;

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The push is over (the stream ended, `recstop` was reached, it was stopped), and why.
    Done(String),
    /// It failed; `retry` says whether another attempt makes sense.
    Failed {
        /// Why, in one line.
        why: String,
        /// Try again after a pause.
        retry: bool,
    },
}

/// One push.
#[derive(Debug)]
pub struct Push {
    /// Its id (`push_list`, `push_stop`).
    pub id: u64,
    /// The stream.
    pub stream: String,
    /// The target as given.
    pub target: String,
    /// What `push_list` shows.
    pub status: Arc<Status>,
    stop: watch::Sender<bool>,
}

impl Push {
    /// Asks the push to end (a recording finishes its file first).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// The `push_list` row: `[id, stream, target, resolved target, [log lines], {status}]`.
    pub fn row(&self) -> Value {
        json!([
            self.id,
            self.stream,
            self.target,
            self.status.resolved(),
            self.status.log_lines(),
            self.status.object()
        ])
    }
}

/// Every push of one server.
#[derive(Debug, Default)]
pub struct Pushes {
    next: AtomicU64,
    active: Mutex<BTreeMap<u64, Arc<Push>>>,
    idle: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pushes {
    /// The pushes running now, by id.
    pub fn list(&self) -> Vec<Arc<Push>> {
        lock(&self.active).values().cloned().collect()
    }

    /// The push with this id.
    pub fn get(&self, id: u64) -> Option<Arc<Push>> {
        lock(&self.active).get(&id).cloned()
    }

    /// Starts pushing stream `raw` to `target`; an existing push of the same stream to the
    /// same target is kept instead (its id is returned). A name ending in `+` starts a push
    /// for every live stream it matches.
    pub fn start(
        self: &Arc<Self>,
        hub: &Arc<Hub>,
        raw: &str,
        target: &str,
    ) -> Result<Vec<u64>, String> {
        let parsed = Target::parse(target).map_err(|e| e.0)?;
        if let Some(base) = raw.strip_suffix('+') {
            let pattern = format!(
                "{}+",
                StreamName::parse(base)
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            );
            let mut ids = Vec::new();
            for s in hub.live_streams() {
                if target::stream_matches(s.name(), &pattern) {
                    ids.push(self.start_one(hub, s.name(), target, parsed.clone()));
                }
            }
            return Ok(ids);
        }
        let name = StreamName::parse(raw).ok_or_else(|| format!("'{raw}' is not a stream name"))?;
        Ok(vec![self.start_one(hub, name.as_str(), target, parsed)])
    }

    fn start_one(
        self: &Arc<Self>,
        hub: &Arc<Hub>,
        stream: &str,
        target: &str,
        parsed: Target,
    ) -> u64 {
        let push = {
            let mut active = lock(&self.active);
            if let Some(p) = active
                .values()
                .find(|p| p.stream == stream && p.target == target)
            {
                return p.id;
            }
            let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
            let (stop, _) = watch::channel(false);
            let push = Arc::new(Push {
                id,
                stream: stream.to_string(),
                target: target.to_string(),
                status: Arc::new(Status::new(target)),
                stop,
            });
            active.insert(id, push.clone());
            push
        };
        tracing::info!(id = push.id, stream, target, "push started");
        push.status
            .log("INFO", format!("push of {stream} to {target} started"));
        let id = push.id;
        let pushes = self.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            run(&hub, &push, parsed).await;
            lock(&pushes.active).remove(&id);
            pushes.idle.notify_waiters();
        });
        id
    }

    /// Stops push `id`; false if there is none.
    pub fn stop(&self, id: u64) -> bool {
        match self.get(id) {
            Some(p) => {
                p.stop();
                true
            }
            None => false,
        }
    }

    /// Stops every push of stream `name`; how many.
    pub fn stop_stream(&self, name: &str) -> usize {
        let list: Vec<_> = self
            .list()
            .into_iter()
            .filter(|p| p.stream == name)
            .collect();
        for p in &list {
            p.stop();
        }
        list.len()
    }

    /// Stops every push (server shutdown).
    pub fn stop_all(&self) {
        for p in self.list() {
            p.stop();
        }
    }

    /// Waits until no push runs, at most `limit`; true if none is left.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.idle.notified();
            if lock(&self.active).is_empty() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return lock(&self.active).is_empty();
            }
        }
    }

    /// Starts the automatic pushes whose pattern matches stream `name` (it just went live).
    pub fn auto_start(self: &Arc<Self>, hub: &Arc<Hub>, name: &str) {
        let config = hub.config();
        for rule in auto_rules(&config).into_values() {
            if target::stream_matches(name, &rule.stream) {
                if let Err(why) = self.start(hub, name, &rule.target) {
                    tracing::warn!(stream = name, target = %rule.target, "automatic push: {why}");
                }
            }
        }
    }

    /// Follows the hub's "stream went live" news and starts automatic pushes, until aborted.
    pub async fn watch_auto(self: Arc<Self>, hub: Arc<Hub>) {
        let mut rx = hub.subscribe_started();
        loop {
            match rx.recv().await {
                Ok(name) => self.auto_start(&hub, &name),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Missed some: go over every live stream (starting is idempotent).
                    for s in hub.live_streams() {
                        self.auto_start(&hub, s.name());
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// The statistics name of a push's output (MistServer's `OUTPUT:` connectors).
fn protocol(kind: &Kind) -> &'static str {
    match kind {
        Kind::Rtmp { .. } => "OUTPUT:RTMP",
        Kind::Dtsc { .. } => "OUTPUT:DTSC",
        Kind::TsUdp { .. } => "OUTPUT:TS",
        Kind::File { spec, .. } => match spec.name {
            "flv" => "OUTPUT:FLV",
            "ts" => "OUTPUT:TS",
            "mp4" | "fmp4" => "OUTPUT:MP4",
            "mp3" => "OUTPUT:MP3",
            "dtsc" => "OUTPUT:DTSC",
            _ => "OUTPUT:FILE",
        },
    }
}

/// Sleeps `d`, or less when the push is asked to stop; true if it was.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    let asked = tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.wait_for(|s| *s) => true,
    };
    asked || *stop.borrow()
}

/// One push from start to end: attempts, pauses between failed ones.
async fn run(hub: &Arc<Hub>, push: &Arc<Push>, target: Target) {
    let status = push.status.clone();
    let mut stop = push.stop.subscribe();
    let mut delay = BACKOFF_MIN;
    let mut waiting_since: Option<Instant> = None;
    let rt = tokio::runtime::Handle::current();
    let stream = StreamName::parse(&push.stream);
    let Some(stream) = stream else { return };
    let client = Client {
        peer: SocketAddr::from(([127, 0, 0, 1], 0)),
        protocol: protocol(&target.kind),
    };
    let file = target.is_file();
    loop {
        if push.stopped() {
            break;
        }
        // Files are recorded as fast as they are read; network targets get real time.
        let mut opts = ViewOptions {
            start_ms: target.recstart,
            rate: (!file).then_some(1.0),
            lead_ms: VOD_LEAD_MS,
        };
        // A recstart in the past (inside the DVR window) starts at the key at or before it;
        // one in the future is waited for.
        let mut accept_first = true;
        if let (Some(s), Some(live)) = (target.recstart, hub.live_stream(stream.as_str())) {
            if live.window_ms().is_none_or(|(_, last)| s > last) {
                opts.start_ms = None;
                accept_first = false;
            }
        }
        let viewer = match hub.view(stream.as_str(), client, opts) {
            Ok(v) => v,
            Err(e) => {
                let since = *waiting_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= STREAM_WAIT {
                    status.fatal(&format!("gave up waiting for the stream: {e}"));
                    tracing::warn!(id = push.id, stream = %stream, "push ended: {e}");
                    break;
                }
                if status.state() != State::Waiting || since.elapsed() < Duration::from_millis(10) {
                    status.log("INFO", format!("waiting for the stream: {e}"));
                }
                status.set_state(State::Waiting);
                if pause(&mut stop, Duration::from_millis(500)).await {
                    break;
                }
                continue;
            }
        };
        waiting_since = None;
        let began = Instant::now();
        let outcome = match &target.kind {
            Kind::File { .. } => {
                let rec = record::Recording {
                    target: target.clone(),
                    stream: stream.clone(),
                    source: source_of(&hub.config(), &stream),
                    accept_first,
                    status: status.clone(),
                };
                let stop = stop.clone();
                let rt = rt.clone();
                on_thread("mist-record", move || record::run(&rec, viewer, stop, &rt)).await
            }
            Kind::TsUdp { .. } => {
                let t = target.clone();
                let st = status.clone();
                let stop = stop.clone();
                let rt = rt.clone();
                on_thread("mist-tsudp", move || tsudp::run(&t, &st, viewer, stop, &rt)).await
            }
            Kind::Dtsc { .. } => dtsc::run(&target, &stream, &status, viewer, stop.clone()).await,
            Kind::Rtmp { .. } => rtmp::run(&target, &status, viewer, stop.clone()).await,
        };
        match outcome {
            Outcome::Done(why) => {
                status.log("INFO", format!("push ended: {why}"));
                tracing::info!(id = push.id, stream = %stream, "push ended: {why}");
                break;
            }
            Outcome::Failed { why, retry: false } => {
                if status.error().as_deref() != Some(why.as_str()) {
                    status.fatal(&why);
                }
                tracing::warn!(id = push.id, stream = %stream, "push failed: {why}");
                break;
            }
            Outcome::Failed { why, retry: true } => {
                if began.elapsed() >= STABLE {
                    delay = BACKOFF_MIN;
                }
                status.failed(&why);
                status.set_state(State::Retrying);
                tracing::warn!(id = push.id, stream = %stream, "push failed, retrying in {delay:?}: {why}");
                if pause(&mut stop, delay).await {
                    break;
                }
                delay = (delay * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Runs blocking work on a thread of its own and waits for it without blocking the runtime.
async fn on_thread(name: &str, f: impl FnOnce() -> Outcome + Send + 'static) -> Outcome {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        return Outcome::Failed {
            why: format!("cannot start a thread: {e}"),
            retry: true,
        };
    }
    rx.await.unwrap_or_else(|_| Outcome::Failed {
        why: "the push thread ended without an answer".into(),
        retry: false,
    })
}

/// The configured source of a stream (its own entry, or its base's for wildcards).
fn source_of(config: &Config, name: &StreamName) -> String {
    config
        .streams
        .get(name.as_str())
        .or_else(|| config.streams.get(name.base()))
        .map(|s| s.source.clone())
        .unwrap_or_default()
}

/// One automatic push rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoPush {
    /// The stream pattern (a name, or a base name ending in `+`).
    pub stream: String,
    /// The target.
    pub target: String,
    /// The rule as stored (other members kept).
    pub value: Value,
}

/// A rule from any of MistServer's forms: `[stream, target, ...]` or
/// `{"stream": ..., "target": ..., ...}`.
pub fn parse_rule(v: &Value) -> Option<AutoPush> {
    let (stream, target) = match v {
        Value::Array(a) => (a.first()?.as_str()?, a.get(1)?.as_str()?),
        Value::Object(o) => (o.get("stream")?.as_str()?, o.get("target")?.as_str()?),
        _ => return None,
    };
    let mut obj = match v {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    obj.insert("stream".into(), json!(stream));
    obj.insert("target".into(), json!(target));
    Some(AutoPush {
        stream: stream.to_string(),
        target: target.to_string(),
        value: Value::Object(obj),
    })
}

/// The automatic pushes in a config, by key: the `auto_push` object (MistServer 3's form,
/// keyed by the MD5 of the rule), or the older `autopushes` list (keyed by position).
pub fn auto_rules(config: &Config) -> BTreeMap<String, AutoPush> {
    let mut out = BTreeMap::new();
    match config.extra.get("auto_push") {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if let Some(r) = parse_rule(v) {
                    out.insert(k.clone(), r);
                }
            }
        }
        Some(Value::Array(a)) => {
            for v in a {
                if let Some(r) = parse_rule(v) {
                    out.insert(rule_key(&r.value), r);
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Array(a)) = config.extra.get("autopushes") {
        for (i, v) in a.iter().enumerate() {
            if let Some(r) = parse_rule(v) {
                out.entry(format!("autopushes.{i}")).or_insert(r);
            }
        }
    }
    out
}

/// MistServer's key of an automatic push: the MD5 of its JSON text.
pub fn rule_key(rule: &Value) -> String {
    crate::serve::api::auth::md5_hex(rule.to_string().as_bytes())
}

/// `push_auto_add`: one rule (`[stream, target]` or an object), or a list or object of
/// rules. Returns the keys added.
pub fn auto_add(config: &mut Config, v: &Value) -> Result<Vec<String>, String> {
    let mut rules: Vec<(Option<String>, AutoPush)> = Vec::new();
    let single = match v {
        Value::Array(a) => a.len() >= 2 && a[0].is_string() && a[1].is_string(),
        Value::Object(o) => o.contains_key("stream") && o.contains_key("target"),
        _ => false,
    };
    if single {
        rules.extend(parse_rule(v).map(|r| (None, r)));
    } else {
        match v {
            Value::Array(a) => rules.extend(a.iter().filter_map(parse_rule).map(|r| (None, r))),
            Value::Object(o) => rules.extend(
                o.iter()
                    .filter_map(|(k, v)| parse_rule(v).map(|r| (Some(k.clone()), r))),
            ),
            _ => {}
        }
    }
    if rules.is_empty() {
        return Err(
            "push_auto_add: expected [stream, target] or {\"stream\": ..., \"target\": ...}".into(),
        );
    }
    for (_, r) in &rules {
        Target::parse(&r.target).map_err(|e| format!("push_auto_add: {e}"))?;
    }
    let table = config
        .extra
        .entry("auto_push")
        .or_insert_with(|| Value::Object(Map::new()));
    if !table.is_object() {
        // An older list form: keep its rules under their keys.
        let old = std::mem::replace(table, Value::Object(Map::new()));
        if let (Value::Array(a), Value::Object(m)) = (old, &mut *table) {
            for v in a {
                if let Some(r) = parse_rule(&v) {
                    m.insert(rule_key(&r.value), r.value);
                }
            }
        }
    }
    let mut keys = Vec::new();
    if let Value::Object(m) = table {
        for (k, r) in rules {
            let key = k.unwrap_or_else(|| rule_key(&r.value));
            m.insert(key.clone(), r.value);
            keys.push(key);
        }
    }
    Ok(keys)
}

/// `push_auto_remove`: a key, a stream name (every rule of it), a rule, or a list of those.
/// Returns how many rules were removed. Running pushes are not stopped (MistServer's rule).
pub fn auto_remove(config: &mut Config, v: &Value) -> usize {
    let Some(Value::Object(m)) = config.extra.get_mut("auto_push") else {
        return 0;
    };
    let before = m.len();
    remove_in(m, v);
    before - m.len()
}

fn remove_in(m: &mut Map<String, Value>, v: &Value) {
    if let Some(rule) = parse_rule(v) {
        m.retain(|_, r| {
            parse_rule(r).is_none_or(|x| x.stream != rule.stream || x.target != rule.target)
        });
        return;
    }
    match v {
        // An id, or else a stream name: every rule of that stream.
        Value::String(s) if m.remove(s).is_none() => {
            m.retain(|_, r| parse_rule(r).is_none_or(|x| x.stream != *s));
        }
        Value::Array(a) => a.iter().for_each(|x| remove_in(m, x)),
        _ => {}
    }
}

/// The answer members for the automatic pushes: `auto_push` (the stored object) and
/// `push_auto_list` (MistServer's list form: `[stream, target, ...]` per rule).
pub fn auto_answer(config: &Config) -> (Value, Value) {
    let object = match config.extra.get("auto_push") {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => {
            let mut m = Map::new();
            for (k, r) in auto_rules(config) {
                m.insert(k, r.value);
            }
            Value::Object(m)
        }
    };
    let list: Vec<Value> = auto_rules(config)
        .into_values()
        .map(|r| {
            let mut row = vec![json!(r.stream), json!(r.target)];
            for k in ["scheduletime", "completetime"] {
                if let Some(x) = r.value.get(k) {
                    row.push(x.clone());
                }
            }
            Value::Array(row)
        })
        .collect();
    (object, Value::Array(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_in_every_form_and_mistservers_keys() {
        let mut c = Config::default();
        let keys = auto_add(&mut c, &json!(["live+", "/rec/$stream.ts"])).unwrap();
        // MistServer's key is the MD5 of the rule's JSON text, members sorted.
        let want =
            crate::serve::api::auth::md5_hex(br#"{"stream":"live+","target":"/rec/$stream.ts"}"#);
        assert_eq!(keys, vec![want.clone()]);
        auto_add(&mut c, &json!({"stream": "cam", "target": "/rec/cam.flv"})).unwrap();
        auto_add(
            &mut c,
            &json!([["a", "/a.flv"], {"stream": "b", "target": "/b.flv"}]),
        )
        .unwrap();
        assert!(auto_add(&mut c, &json!({"stream": "x", "target": "nowhere"})).is_err());
        let rules = auto_rules(&c);
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[&want].stream, "live+");
        let (obj, list) = auto_answer(&c);
        assert_eq!(obj[&want]["target"], "/rec/$stream.ts");
        assert!(list
            .as_array()
            .unwrap()
            .contains(&json!(["cam", "/rec/cam.flv"])));
        assert_eq!(auto_remove(&mut c, &json!(want)), 1);
        assert_eq!(auto_remove(&mut c, &json!("cam")), 1);
        assert_eq!(auto_remove(&mut c, &json!(["a", "/a.flv"])), 1);
        assert_eq!(auto_rules(&c).len(), 1);
    }

    #[test]
    fn older_config_forms_are_read() {
        let c = Config::from_json(
            r#"{"autopushes":[["live+","/r/$stream.flv"]],"auto_push":{"1":["a","/rec.flv"]}}"#,
        )
        .unwrap();
        let rules = auto_rules(&c);
        assert_eq!(rules["1"].target, "/rec.flv");
        assert_eq!(rules["autopushes.0"].stream, "live+");
    }
}
