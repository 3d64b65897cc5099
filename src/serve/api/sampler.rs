//! Once a second, what every client moved: per-client rates for `clients`, per-second totals
//! for `totals` (a ring over MistServer's 600 s statistics window), view seconds per stream,
//! and the machine's CPU use. (Ended sessions are kept by the hub's statistics, which see
//! them end, however short they were.)
//!
//! Memory is bounded: [`WINDOW_SECS`] samples of at most [`MAX_ROWS`] rows each, a few
//! numbers per open client.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::serve::hub::{ClientRecord, Role};

/// The statistics window, in seconds (MistServer's `STAT_CUTOFF`).
pub const WINDOW_SECS: u64 = 600;
/// Rates are averaged over this many seconds (MistServer averages over 5).
pub const RATE_SPAN: u64 = 5;
/// Most (stream, protocol) rows one sample keeps; the rest are summed into one row with an
/// empty stream name and protocol `other`.
pub const MAX_ROWS: usize = 256;
/// Most streams whose view seconds are kept (see `hub::stats::MAX_STREAM_TOTALS`).
pub const MAX_VIEWSECONDS: usize = 4096;

/// What the clients of one stream over one protocol did in one second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Row {
    /// The stream.
    pub stream: Arc<str>,
    /// The protocol.
    pub protocol: &'static str,
    /// Viewers connected.
    pub viewers: u32,
    /// Inputs connected.
    pub inputs: u32,
    /// Outgoing pushes connected (mist has none yet).
    pub outputs: u32,
    /// Bytes per second sent.
    pub down_bps: u64,
    /// Bytes per second received.
    pub up_bps: u64,
}

/// One second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Unix time, seconds.
    pub unix: u64,
    /// Per stream and protocol.
    pub rows: Vec<Row>,
}

struct Seen {
    start: u64,
    last: u64,
    history: VecDeque<(u64, u64, u64)>,
    bps: (u64, u64),
}

/// The sampler's state.
#[derive(Default)]
pub struct Sampler {
    samples: VecDeque<Sample>,
    seen: HashMap<u64, Seen>,
    viewseconds: HashMap<String, u64>,
    cpu_prev: Option<(u64, u64)>,
    cpu_use: Option<u64>,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sampler")
            .field("samples", &self.samples.len())
            .field("clients", &self.seen.len())
            .finish()
    }
}

/// Unix seconds of a record's start.
pub fn start_unix(rec: &ClientRecord) -> u64 {
    rec.since
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Sampler {
    /// Takes the sample of second `now` from the clients connected now.
    pub fn sample(&mut self, now: u64, clients: &[Arc<ClientRecord>]) {
        let mut present = HashSet::with_capacity(clients.len());
        let mut rows: HashMap<(Arc<str>, &'static str), Row> = HashMap::new();
        let mut names: HashMap<&str, Arc<str>> = HashMap::new();
        for c in clients {
            present.insert(c.id);
            let down = c.down.load(Ordering::Relaxed);
            let up = c.up.load(Ordering::Relaxed);
            let seen = self.seen.entry(c.id).or_insert_with(|| Seen {
                start: start_unix(c),
                last: now,
                history: VecDeque::new(),
                bps: (0, 0),
            });
            seen.last = now;
            if seen.history.back().is_some_and(|h| h.0 == now) {
                seen.history.pop_back();
            }
            seen.history.push_back((now, down, up));
            while seen.history.front().is_some_and(|h| h.0 + RATE_SPAN < now) {
                seen.history.pop_front();
            }
            seen.bps = match (seen.history.front(), seen.history.back()) {
                (Some(a), Some(b)) if b.0 > a.0 => {
                    let secs = b.0 - a.0;
                    (
                        b.1.saturating_sub(a.1) / secs,
                        b.2.saturating_sub(a.2) / secs,
                    )
                }
                // The first second of a client: what it moved since it connected.
                (Some(_), Some(b)) if now <= seen.start + 1 => (b.1, b.2),
                _ => (0, 0),
            };
            if c.role == Role::Output {
                *self.viewseconds.entry(c.stream.clone()).or_default() += 1;
            }
            let name = names
                .entry(c.stream.as_str())
                .or_insert_with(|| Arc::from(c.stream.as_str()))
                .clone();
            let key = if rows.len() < MAX_ROWS || rows.contains_key(&(name.clone(), c.protocol)) {
                (name, c.protocol)
            } else {
                (Arc::from(""), "other")
            };
            let row = rows.entry(key.clone()).or_insert_with(|| Row {
                stream: key.0.clone(),
                protocol: key.1,
                ..Row::default()
            });
            match c.role {
                Role::Output => row.viewers += 1,
                Role::Input => row.inputs += 1,
            }
            row.down_bps += seen.bps.0;
            row.up_bps += seen.bps.1;
        }
        // Sessions gone since the last sample need no more rates.
        self.seen.retain(|id, _| present.contains(id));
        if self.viewseconds.len() > MAX_VIEWSECONDS {
            let busy: HashSet<&str> = clients.iter().map(|c| c.stream.as_str()).collect();
            self.viewseconds.retain(|k, _| busy.contains(k.as_str()));
        }
        let mut rows: Vec<Row> = rows.into_values().collect();
        rows.sort_by(|a, b| (&a.stream, a.protocol).cmp(&(&b.stream, b.protocol)));
        if self.samples.back().is_some_and(|s| s.unix >= now) {
            self.samples.pop_back();
        }
        self.samples.push_back(Sample { unix: now, rows });
        while self
            .samples
            .front()
            .is_some_and(|s| s.unix + WINDOW_SECS < now)
        {
            self.samples.pop_front();
        }
    }

    /// Records the machine's CPU counters (`/proc/stat`: total and idle jiffies) and keeps
    /// the use since the previous call, in tenths of a percent (MistServer's `cpu_use`).
    pub fn cpu(&mut self, now: Option<(u64, u64)>) {
        if let (Some((total, idle)), Some((t0, i0))) = (now, self.cpu_prev) {
            let dt = total.saturating_sub(t0);
            if dt > 0 {
                let busy = dt.saturating_sub(idle.saturating_sub(i0));
                self.cpu_use = Some(busy * 1000 / dt);
            }
        }
        if now.is_some() {
            self.cpu_prev = now;
        }
    }

    /// CPU use over the last second, in tenths of a percent.
    pub fn cpu_use(&self) -> Option<u64> {
        self.cpu_use
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> &VecDeque<Sample> {
        &self.samples
    }

    /// A client's rates (bytes per second, sent and received) at the last sample.
    pub fn bps(&self, id: u64) -> (u64, u64) {
        self.seen.get(&id).map_or((0, 0), |s| s.bps)
    }

    /// Seconds viewers spent on `stream`, summed over viewers.
    pub fn viewseconds(&self, stream: &str) -> u64 {
        self.viewseconds.get(stream).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::hub::Stats;

    #[test]
    fn rates_rows_and_the_window() {
        let stats = Arc::new(Stats::default());
        let peer: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let v = stats.connect(peer, "HTTP-FLV", "cam", Role::Output);
        let p = stats.connect(peer, "RTMP", "cam", Role::Input);
        let mut s = Sampler::default();
        let t0 = start_unix(v.record()) + 10;
        for i in 0..8u64 {
            v.count_down(1000);
            p.count_up(500);
            s.sample(t0 + i, &stats.clients());
        }
        // 1000 bytes a second, averaged over the last RATE_SPAN seconds.
        assert_eq!(s.bps(v.record().id), (1000, 0));
        assert_eq!(s.bps(p.record().id), (0, 500));
        let last = s.samples().back().unwrap();
        assert_eq!(last.unix, t0 + 7);
        assert_eq!(last.rows.len(), 2);
        let flv = last.rows.iter().find(|r| r.protocol == "HTTP-FLV").unwrap();
        assert_eq!((flv.viewers, flv.inputs, flv.down_bps), (1, 0, 1000));
        assert_eq!(s.viewseconds("cam"), 8);
        let id = v.record().id;
        drop(v);
        s.sample(t0 + 8, &stats.clients());
        assert_eq!(s.bps(id), (0, 0));
        // The window is bounded.
        for i in 9..(WINDOW_SECS + 50) {
            s.sample(t0 + i, &stats.clients());
        }
        assert_eq!(s.samples().len() as u64, WINDOW_SECS + 1);
    }

    #[test]
    fn rows_per_sample_are_capped() {
        let stats = Arc::new(Stats::default());
        let peer: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let guards: Vec<_> = (0..MAX_ROWS + 10)
            .map(|i| stats.connect(peer, "HTTP-FLV", &format!("s{i}"), Role::Output))
            .collect();
        let mut s = Sampler::default();
        s.sample(1000, &stats.clients());
        let rows = &s.samples()[0].rows;
        assert_eq!(rows.len(), MAX_ROWS + 1);
        let other = rows.iter().find(|r| r.protocol == "other").unwrap();
        assert_eq!(other.viewers, 10);
        let total: u32 = rows.iter().map(|r| r.viewers).sum();
        assert_eq!(total as usize, guards.len());
    }

    #[test]
    fn cpu_use_in_tenths_of_a_percent() {
        let mut s = Sampler::default();
        s.cpu(Some((1000, 800)));
        assert_eq!(s.cpu_use(), None);
        s.cpu(Some((2000, 1550)));
        // 1000 jiffies, 750 idle: 25.0 %.
        assert_eq!(s.cpu_use(), Some(250));
    }
}
