//! Who is connected and what moved: per-client records for the API's `clients` call, and
//! server-wide counters for `totals` and `/metrics`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// What a client does with a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends media in (a publisher or pull input).
    Input,
    /// Takes media out (a viewer).
    Output,
}

/// One connected client.
#[derive(Debug)]
pub struct ClientRecord {
    /// Unique within this server run.
    pub id: u64,
    /// The peer's address.
    pub peer: SocketAddr,
    /// `RTMP`, `HTTP-FLV`, `HTTP-TS` ... (MistServer's connector names where it has one).
    pub protocol: &'static str,
    /// The stream it uses.
    pub stream: String,
    /// Input or output.
    pub role: Role,
    /// When it connected (wall clock).
    pub since: SystemTime,
    /// When it connected (monotonic).
    pub since_instant: Instant,
    /// Bytes sent to it.
    pub down: AtomicU64,
    /// Bytes received from it.
    pub up: AtomicU64,
    /// Stream time (ms) of the newest packet it sent or received; -1 before the first.
    pub position_ms: AtomicI64,
}

impl ClientRecord {
    /// Stream time (ms) of the newest packet it sent or received.
    pub fn position_ms(&self) -> Option<i64> {
        Some(self.position_ms.load(Ordering::Relaxed)).filter(|p| *p >= 0)
    }
}

/// Counters of one stream over the server's life (for the API's `active_streams` and
/// `/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamTotals {
    /// Viewers ever connected.
    pub views: u64,
    /// Inputs (publishers) ever connected.
    pub inputs: u64,
    /// Bytes sent to its clients.
    pub down: u64,
    /// Bytes received from its clients.
    pub up: u64,
}

/// A session that has ended, as it ended.
#[derive(Clone, Debug)]
pub struct ClosedSession {
    /// Its record (bytes and position as they were at the end).
    pub rec: Arc<ClientRecord>,
    /// When it ended.
    pub ended: SystemTime,
}

/// How long ended sessions are remembered (MistServer's statistics window).
pub const CLOSED_KEEP: Duration = Duration::from_secs(600);
/// Most ended sessions remembered, whatever their age.
pub const MAX_CLOSED: usize = 10_000;

/// Most streams whose totals are kept; past it, streams without clients are forgotten
/// (their counters restart if they come back), so names made up by clients cannot grow the
/// table without bound.
pub const MAX_STREAM_TOTALS: usize = 4096;

/// Counters of one protocol, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProtocolTotals {
    /// Connections ever opened.
    pub connections: u64,
    /// Bytes sent by connections that have closed.
    pub down: u64,
    /// Bytes received by connections that have closed.
    pub up: u64,
    /// Connections ended by an error or a protocol violation.
    pub errors: u64,
}

/// Server-wide statistics.
#[derive(Debug, Default)]
pub struct Stats {
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, Arc<ClientRecord>>>,
    protocols: Mutex<BTreeMap<&'static str, ProtocolTotals>>,
    streams: Mutex<HashMap<String, StreamTotals>>,
    closed: Mutex<VecDeque<ClosedSession>>,
    /// Viewers moved forward because they fell behind.
    pub skips: AtomicU64,
    /// Viewers disconnected because they stopped reading.
    pub drops: AtomicU64,
}

impl Stats {
    /// Registers a client; it is removed when the guard drops.
    pub fn connect(
        self: &Arc<Self>,
        peer: SocketAddr,
        protocol: &'static str,
        stream: &str,
        role: Role,
    ) -> ClientGuard {
        let rec = Arc::new(ClientRecord {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            peer,
            protocol,
            stream: stream.to_string(),
            role,
            since: SystemTime::now(),
            since_instant: Instant::now(),
            down: AtomicU64::new(0),
            up: AtomicU64::new(0),
            position_ms: AtomicI64::new(-1),
        });
        {
            let mut streams = lock(&self.streams);
            if streams.len() >= MAX_STREAM_TOTALS && !streams.contains_key(stream) {
                let busy: std::collections::HashSet<String> = lock(&self.clients)
                    .values()
                    .map(|c| c.stream.clone())
                    .collect();
                streams.retain(|name, _| busy.contains(name));
            }
            let t = streams.entry(stream.to_string()).or_default();
            match role {
                Role::Output => t.views += 1,
                Role::Input => t.inputs += 1,
            }
        }
        lock(&self.clients).insert(rec.id, rec.clone());
        lock(&self.protocols)
            .entry(protocol)
            .or_default()
            .connections += 1;
        ClientGuard {
            stats: self.clone(),
            rec,
        }
    }

    /// Every connected client.
    pub fn clients(&self) -> Vec<Arc<ClientRecord>> {
        let mut v: Vec<_> = lock(&self.clients).values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Totals per protocol, counting open connections' bytes too.
    pub fn protocols(&self) -> BTreeMap<&'static str, ProtocolTotals> {
        let mut totals = lock(&self.protocols).clone();
        for c in lock(&self.clients).values() {
            let t = totals.entry(c.protocol).or_default();
            t.down += c.down.load(Ordering::Relaxed);
            t.up += c.up.load(Ordering::Relaxed);
        }
        totals
    }

    /// Sessions that ended within [`CLOSED_KEEP`] (at most [`MAX_CLOSED`]), oldest first.
    pub fn closed(&self) -> Vec<ClosedSession> {
        lock(&self.closed).iter().cloned().collect()
    }

    /// Totals per stream, counting open connections' bytes too.
    pub fn streams(&self) -> BTreeMap<String, StreamTotals> {
        let mut totals: BTreeMap<String, StreamTotals> = lock(&self.streams)
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for c in lock(&self.clients).values() {
            let t = totals.entry(c.stream.clone()).or_default();
            t.down += c.down.load(Ordering::Relaxed);
            t.up += c.up.load(Ordering::Relaxed);
        }
        totals
    }

    /// Counts a connection that ended in an error.
    pub fn count_error(&self, protocol: &'static str) {
        lock(&self.protocols).entry(protocol).or_default().errors += 1;
    }
}

/// Keeps a client registered while it lives.
#[derive(Debug)]
pub struct ClientGuard {
    stats: Arc<Stats>,
    rec: Arc<ClientRecord>,
}

impl ClientGuard {
    /// The record.
    pub fn record(&self) -> &Arc<ClientRecord> {
        &self.rec
    }
    /// Adds bytes sent to the client.
    pub fn count_down(&self, n: u64) {
        self.rec.down.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds bytes received from the client.
    pub fn count_up(&self, n: u64) {
        self.rec.up.fetch_add(n, Ordering::Relaxed);
    }
    /// Records the stream time (ms) of the newest packet sent or received.
    pub fn set_position(&self, ms: i64) {
        self.rec.position_ms.store(ms.max(0), Ordering::Relaxed);
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        lock(&self.stats.clients).remove(&self.rec.id);
        let (down, up) = (
            self.rec.down.load(Ordering::Relaxed),
            self.rec.up.load(Ordering::Relaxed),
        );
        if let Some(t) = lock(&self.stats.streams).get_mut(&self.rec.stream) {
            t.down += down;
            t.up += up;
        }
        {
            let now = SystemTime::now();
            let mut closed = lock(&self.stats.closed);
            while closed.front().is_some_and(|c| {
                closed.len() >= MAX_CLOSED
                    || now.duration_since(c.ended).unwrap_or_default() > CLOSED_KEEP
            }) {
                closed.pop_front();
            }
            closed.push_back(ClosedSession {
                rec: self.rec.clone(),
                ended: now,
            });
        }
        // The access line of the session (`MIST_LOG=access=info` shows them).
        tracing::info!(
            target: "access",
            peer = %self.rec.peer,
            stream = %self.rec.stream,
            protocol = self.rec.protocol,
            role = ?self.rec.role,
            down,
            up,
            duration_ms = self.rec.since_instant.elapsed().as_millis() as u64,
            "session ended"
        );
        let mut p = lock(&self.stats.protocols);
        let t = p.entry(self.rec.protocol).or_default();
        t.down += self.rec.down.load(Ordering::Relaxed);
        t.up += self.rec.up.load(Ordering::Relaxed);
    }
}

/// Locks a mutex, carrying on past a panic in another holder: the data here are counters
/// and tables that stay consistent at every step, so one connection's panic must not take
/// the statistics (and with them every other connection) down.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
