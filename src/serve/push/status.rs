//! What one push shows in `push_list`: its resolved target, its recent log lines and a status
//! object, updated by the task or thread doing the push.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// Log lines a push keeps (MistServer keeps the last 10).
pub const LOG_LINES: usize = 10;

/// Where a push is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for the stream to be live (or to have a keyframe).
    Waiting,
    /// Connecting to the target, or opening the file.
    Connecting,
    /// Sending or writing.
    Active,
    /// The target failed; a new attempt comes after a pause.
    Retrying,
    /// Finishing (a recording being finalised).
    Finishing,
}

impl State {
    /// The name shown in `push_list`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Connecting => "connecting",
            State::Active => "active",
            State::Retrying => "retrying",
            State::Finishing => "finishing",
        }
    }
}

#[derive(Debug)]
struct Inner {
    resolved: String,
    log: VecDeque<Value>,
    state: State,
    error: Option<String>,
    retries: u64,
    bytes: u64,
    media_ms: Option<i64>,
    tracks: Vec<u32>,
    files: u64,
}

/// A push's shared status.
#[derive(Debug)]
pub struct Status {
    inner: Mutex<Inner>,
    started: Instant,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Status {
    /// A status for a push to `resolved` (the target before any expansion is known).
    pub fn new(resolved: &str) -> Status {
        Status {
            inner: Mutex::new(Inner {
                resolved: resolved.to_string(),
                log: VecDeque::new(),
                state: State::Waiting,
                error: None,
                retries: 0,
                bytes: 0,
                media_ms: None,
                tracks: Vec::new(),
                files: 0,
            }),
            started: Instant::now(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Adds a log line (`kind`: `INFO`, `WARN`, `ERROR`), keeping the last [`LOG_LINES`].
    pub fn log(&self, kind: &'static str, message: impl Into<String>) {
        let line = json!([unix_now(), kind, message.into()]);
        self.with(|i| {
            i.log.push_back(line);
            while i.log.len() > LOG_LINES {
                i.log.pop_front();
            }
        });
    }

    /// Changes the state.
    pub fn set_state(&self, s: State) {
        self.with(|i| i.state = s);
    }

    /// The state.
    pub fn state(&self) -> State {
        self.with(|i| i.state)
    }

    /// Records why the last attempt failed, and counts a retry.
    pub fn failed(&self, why: &str) {
        self.with(|i| {
            i.error = Some(why.to_string());
            i.retries += 1;
        });
        self.log("ERROR", why);
    }

    /// Records a failure that ends the push.
    pub fn fatal(&self, why: &str) {
        self.with(|i| i.error = Some(why.to_string()));
        self.log("ERROR", why);
    }

    /// The last error, if any.
    pub fn error(&self) -> Option<String> {
        self.with(|i| i.error.clone())
    }

    /// Sets the target as resolved (variables filled).
    pub fn set_resolved(&self, r: &str) {
        self.with(|i| i.resolved = r.to_string());
    }

    /// A recording began a new file at `path` (it becomes the resolved target).
    pub fn new_file(&self, path: &str) {
        self.with(|i| {
            i.resolved = path.to_string();
            i.files += 1;
        });
    }

    /// The resolved target.
    pub fn resolved(&self) -> String {
        self.with(|i| i.resolved.clone())
    }

    /// Counts bytes sent or written and the media time reached.
    pub fn progress(&self, bytes: u64, media_ms: i64) {
        self.with(|i| {
            i.bytes += bytes;
            i.media_ms = Some(media_ms);
        });
    }

    /// The tracks being sent.
    pub fn set_tracks(&self, tracks: Vec<u32>) {
        self.with(|i| i.tracks = tracks);
    }

    /// Bytes sent or written so far.
    pub fn bytes(&self) -> u64 {
        self.with(|i| i.bytes)
    }

    /// The recent log lines, oldest first.
    pub fn log_lines(&self) -> Vec<Value> {
        self.with(|i| i.log.iter().cloned().collect())
    }

    /// The status object: MistServer's `mediatime`, `tracks` and `bytes`, and mist's `state`,
    /// `error`, `retries`, `active_seconds` and (recordings) `files`.
    pub fn object(&self) -> Value {
        let secs = self.started.elapsed().as_secs();
        self.with(|i| {
            let mut m = Map::new();
            m.insert("state".into(), json!(i.state.as_str()));
            if let Some(ms) = i.media_ms {
                m.insert("mediatime".into(), json!(ms));
            }
            m.insert("tracks".into(), json!(i.tracks));
            m.insert("bytes".into(), json!(i.bytes));
            m.insert("active_seconds".into(), json!(secs));
            m.insert("retries".into(), json!(i.retries));
            if let Some(e) = &i.error {
                m.insert("error".into(), json!(e));
            }
            if i.files > 0 {
                m.insert("files".into(), json!(i.files));
            }
            Value::Object(m)
        })
    }
}
