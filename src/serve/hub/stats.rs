//! Who is connected and what moved: per-client records for the API's `clients` call, and
//! server-wide counters for `totals` and `/metrics`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

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
}

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
        });
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
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        lock(&self.stats.clients).remove(&self.rec.id);
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
