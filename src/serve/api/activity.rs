//! What is happening: `active_streams`, `clients` and `totals`, in MistServer's request and
//! answer shapes (`fields` + `data` rows; times as unix seconds, negative meaning "seconds
//! ago"; rates in bytes per second).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use serde_json::{json, Map, Value};

use super::sampler::{start_unix, Sampler, WINDOW_SECS};
use crate::serve::hub::{ClientRecord, Hub, LiveStream, Role, State, StreamTotals};

/// Everything the answers are built from, taken once per request.
pub struct Snapshot<'a> {
    /// The hub.
    pub hub: &'a Hub,
    /// Clients connected now.
    pub clients: Vec<Arc<ClientRecord>>,
    /// The per-second statistics.
    pub sampler: &'a Sampler,
    /// Now, unix seconds.
    pub now: u64,
    /// Now, unix milliseconds.
    pub now_ms: u64,
}

/// Fields `active_streams` answers when asked with an object and no fields (MistServer's
/// default list).
pub const ACTIVE_DEFAULT_FIELDS: &[&str] = &[
    "status",
    "viewers",
    "inputs",
    "outputs",
    "tracks",
    "views",
    "viewseconds",
    "upbytes",
    "downbytes",
    "packsent",
    "packloss",
    "packretrans",
    "firstms",
    "lastms",
    "health",
];

/// Fields of `clients`, in MistServer's order.
pub const CLIENT_FIELDS: &[&str] = &[
    "host",
    "stream",
    "protocol",
    "conntime",
    "position",
    "down",
    "up",
    "downbps",
    "upbps",
    "sessid",
    "pktcount",
    "pktlost",
    "pktretransmit",
];

/// Fields of `totals`, in MistServer's order.
pub const TOTAL_FIELDS: &[&str] = &[
    "clients",
    "inputs",
    "outputs",
    "downbps",
    "upbps",
    "perc_lost",
    "perc_retrans",
];

#[derive(Default)]
struct Active {
    viewers: u64,
    inputs: u64,
    live: Option<Arc<LiveStream>>,
}

impl Snapshot<'_> {
    /// Streams that are live or have clients, by name.
    fn active(&self) -> BTreeMap<String, Active> {
        let mut out: BTreeMap<String, Active> = BTreeMap::new();
        for s in self.hub.live_streams() {
            let name = s.name().to_string();
            out.entry(name).or_default().live = Some(s);
        }
        for c in &self.clients {
            let a = out.entry(c.stream.clone()).or_default();
            match c.role {
                Role::Output => a.viewers += 1,
                Role::Input => a.inputs += 1,
            }
        }
        out
    }

    /// The `active_streams` answer.
    pub fn active_streams(&self, req: &Value) -> Value {
        let active = self.active();
        let (fields, filter, object, longform): (Vec<String>, Vec<String>, bool, bool) = match req {
            Value::Array(a) => (strings(a), Vec::new(), false, false),
            Value::Object(m) => {
                let mut fields = m
                    .get("fields")
                    .and_then(Value::as_array)
                    .map(|a| strings(a))
                    .unwrap_or_default();
                if fields.is_empty() {
                    fields = ACTIVE_DEFAULT_FIELDS
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                }
                let mut filter = Vec::new();
                match m.get("streams") {
                    Some(Value::Array(a)) => filter.extend(strings(a)),
                    Some(Value::String(s)) => filter.push(s.clone()),
                    _ => {}
                }
                if let Some(Value::String(s)) = m.get("stream") {
                    filter.push(s.clone());
                }
                let longform = m.get("longform").is_some_and(truthy);
                (fields, filter, true, longform)
            }
            _ => (Vec::new(), Vec::new(), false, false),
        };
        let wanted = |name: &str| {
            filter.is_empty()
                || filter
                    .iter()
                    .any(|f| f == name || (f.ends_with('+') && name.starts_with(f.as_str())))
        };
        if fields.is_empty() {
            return Value::Array(
                active
                    .keys()
                    .filter(|n| wanted(n))
                    .map(|n| json!(n))
                    .collect(),
            );
        }
        let totals = self.hub.stats.streams();
        let mut data = Map::new();
        for (name, a) in active.iter().filter(|(n, _)| wanted(n)) {
            let t = totals.get(name).copied().unwrap_or_default();
            let row: Value = if longform {
                Value::Object(
                    fields
                        .iter()
                        .map(|f| (f.clone(), self.active_field(f, name, a, &t)))
                        .collect(),
                )
            } else {
                Value::Array(
                    fields
                        .iter()
                        .map(|f| self.active_field(f, name, a, &t))
                        .collect(),
                )
            };
            data.insert(name.clone(), row);
        }
        if object && !longform {
            json!({"fields": fields, "data": data})
        } else {
            Value::Object(data)
        }
    }

    fn active_field(&self, field: &str, name: &str, a: &Active, t: &StreamTotals) -> Value {
        let window = a.live.as_ref().and_then(|s| s.window_ms());
        match field {
            "status" => json!(match &a.live {
                Some(s) => match s.state() {
                    State::Live if window.is_some() => "Online",
                    State::Live | State::Waiting { .. } => "Waiting for data",
                    State::Ended => "Shutting down",
                },
                None => "Online",
            }),
            "viewers" => json!(a.viewers),
            "inputs" => json!(a.inputs),
            "outputs" | "unspecified" | "packsent" | "packloss" | "packretrans" => json!(0),
            "clients" => json!(a.viewers + a.inputs),
            "tracks" => a
                .live
                .as_ref()
                .map_or(Value::Null, |s| json!(s.meta().tracks.len())),
            "views" => json!(t.views),
            "viewseconds" => json!(self.sampler.viewseconds(name)),
            "upbytes" => json!(t.up),
            "downbytes" => json!(t.down),
            "firstms" => window.map_or(Value::Null, |w| json!(w.0)),
            "lastms" => window.map_or(Value::Null, |w| json!(w.1)),
            // The wall-clock second at which stream time 0 was (live only): the newest
            // packet arrived just now, so it is now minus its stream time.
            "zerounix" => match (&a.live, window) {
                (Some(s), Some(w)) if s.state() == State::Live => {
                    json!((self.now_ms as i64 - w.1) / 1000)
                }
                _ => Value::Null,
            },
            "pid" => json!(std::process::id()),
            "tags" => json!([]),
            _ => Value::Null,
        }
    }

    /// The `clients` answer for one request object.
    pub fn clients(&self, req: &Value) -> Value {
        let req_time = req.get("time").and_then(Value::as_i64).unwrap_or(0);
        // Absent or 0: now (what MistServer documents; a running MistServer answers for the
        // start of its window instead, which is usually empty).
        let time = match req_time {
            0 => self.now as i64,
            t if t < 0 => self.now as i64 + t,
            t => t,
        };
        let fields = pick(req, CLIENT_FIELDS);
        let streams = set(req, "streams");
        let protocols = set(req, "protocols");
        let keep = |stream: &str, protocol: &str| {
            (streams.is_empty() || streams.contains(stream))
                && (protocols.is_empty() || protocols.contains(protocol))
        };
        let mut rows = Vec::new();
        let in_window = time <= self.now as i64 && time + WINDOW_SECS as i64 >= self.now as i64;
        if in_window {
            for c in &self.clients {
                let start = start_unix(c) as i64;
                if start > time || !keep(&c.stream, c.protocol) {
                    continue;
                }
                let position = match c.role {
                    Role::Output => c.position_ms(),
                    // A publisher is where its stream's newest packet is.
                    Role::Input => self
                        .hub
                        .live_stream(&c.stream)
                        .and_then(|s| s.window_ms())
                        .map(|w| w.1),
                };
                let (down_bps, up_bps) = self.sampler.bps(c.id);
                let row = ClientRow {
                    host: c.peer.ip().to_string(),
                    stream: &c.stream,
                    protocol: c.protocol,
                    conntime: (time - start).max(0),
                    position,
                    down: c.down.load(Ordering::Relaxed),
                    up: c.up.load(Ordering::Relaxed),
                    bps: (down_bps, up_bps),
                    sessid: c.id,
                };
                rows.push(row.values(&fields));
            }
            for c in self.hub.stats.closed() {
                let rec = &c.rec;
                let start = start_unix(rec) as i64;
                let end = c
                    .ended
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()) as i64;
                if start > time || end < time || !keep(&rec.stream, rec.protocol) {
                    continue;
                }
                let down = rec.down.load(Ordering::Relaxed);
                let up = rec.up.load(Ordering::Relaxed);
                // Rates of an ended session: its average over its life.
                let secs = c
                    .ended
                    .duration_since(rec.since)
                    .map_or(1, |d| d.as_secs().max(1));
                let row = ClientRow {
                    host: rec.peer.ip().to_string(),
                    stream: &rec.stream,
                    protocol: rec.protocol,
                    conntime: time - start,
                    position: rec.position_ms(),
                    down,
                    up,
                    bps: (down / secs, up / secs),
                    sessid: rec.id,
                };
                rows.push(row.values(&fields));
            }
        }
        json!({
            "time": time,
            "fields": fields,
            "data": if rows.is_empty() { Value::Null } else { Value::Array(rows) },
        })
    }

    /// The `totals` answer for one request object.
    pub fn totals(&self, req: &Value) -> Value {
        let now = self.now as i64;
        let get = |k: &str| req.get(k).and_then(Value::as_i64).unwrap_or(0);
        let mut start = match get("start") {
            0 => now - WINDOW_SECS as i64,
            s if s < 0 => now + s,
            s => s,
        };
        let mut end = match get("end") {
            e if e <= 0 => now + e,
            e => e,
        };
        start = start.max(0);
        end = end.clamp(start, now.max(start));
        let fields = pick(req, TOTAL_FIELDS);
        let streams = set(req, "streams");
        let protocols = set(req, "protocols");
        let mut data = Vec::new();
        let mut times = Vec::new();
        for s in self.sampler.samples() {
            let t = s.unix as i64;
            if t < start || t > end {
                continue;
            }
            let (mut clients, mut inputs, mut outputs, mut down, mut up) =
                (0u64, 0u64, 0u64, 0u64, 0u64);
            let mut any = false;
            for r in &s.rows {
                if (!streams.is_empty() && !streams.contains(&*r.stream))
                    || (!protocols.is_empty() && !protocols.contains(r.protocol))
                {
                    continue;
                }
                any = true;
                clients += u64::from(r.viewers);
                inputs += u64::from(r.inputs);
                outputs += u64::from(r.outputs);
                down += r.down_bps;
                up += r.up_bps;
            }
            // MistServer has a row only for seconds in which some session was there.
            if !any {
                continue;
            }
            let row: Vec<Value> = fields
                .iter()
                .map(|f| match f.as_str() {
                    "clients" => json!(clients),
                    "inputs" => json!(inputs),
                    "outputs" => json!(outputs),
                    "downbps" => json!(down),
                    "upbps" => json!(up),
                    _ => json!(0),
                })
                .collect();
            data.push(Value::Array(row));
            times.push(t);
        }
        let (Some(first), Some(last)) = (times.first(), times.last()) else {
            return json!({"start": null, "end": null, "fields": fields, "data": null, "interval": null});
        };
        json!({
            "start": first,
            "end": last,
            "fields": fields,
            "data": data,
            "interval": intervals(&times),
        })
    }
}

/// MistServer's `interval`: runs of equal steps between consecutive sample times, as
/// `[count, seconds]`.
pub fn intervals(times: &[i64]) -> Value {
    let mut out: Vec<Value> = Vec::new();
    let mut run: Option<(u64, i64)> = None;
    for w in times.windows(2) {
        let step = w[1] - w[0];
        run = match run {
            Some((n, s)) if s == step => Some((n + 1, s)),
            Some((n, s)) => {
                out.push(json!([n, s]));
                Some((1, step))
            }
            None => Some((1, step)),
        };
    }
    if let Some((n, s)) = run {
        out.push(json!([n, s]));
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Array(out)
    }
}

struct ClientRow<'a> {
    host: String,
    stream: &'a str,
    protocol: &'a str,
    conntime: i64,
    position: Option<i64>,
    down: u64,
    up: u64,
    bps: (u64, u64),
    sessid: u64,
}

impl ClientRow<'_> {
    fn values(&self, fields: &[String]) -> Value {
        Value::Array(
            fields
                .iter()
                .map(|f| match f.as_str() {
                    "host" => json!(self.host),
                    "stream" => json!(self.stream),
                    "protocol" => json!(self.protocol),
                    "conntime" => json!(self.conntime),
                    // MistServer gives the position in whole seconds.
                    "position" => json!(self.position.map_or(0, |p| p / 1000)),
                    "down" => json!(self.down),
                    "up" => json!(self.up),
                    "downbps" => json!(self.bps.0),
                    "upbps" => json!(self.bps.1),
                    "sessid" => json!(self.sessid.to_string()),
                    _ => json!(0),
                })
                .collect(),
        )
    }
}

/// The requested fields that exist, in the canonical order; all of them when none are asked.
fn pick(req: &Value, all: &[&str]) -> Vec<String> {
    let asked: HashSet<String> = req
        .get("fields")
        .and_then(Value::as_array)
        .map(|a| strings(a).into_iter().collect())
        .unwrap_or_default();
    let chosen: Vec<String> = all
        .iter()
        .filter(|f| asked.contains(**f))
        .map(|f| f.to_string())
        .collect();
    if chosen.is_empty() {
        all.iter().map(|f| f.to_string()).collect()
    } else {
        chosen
    }
}

fn set(req: &Value, key: &str) -> HashSet<String> {
    req.get(key)
        .and_then(Value::as_array)
        .map(|a| strings(a).into_iter().collect())
        .unwrap_or_default()
}

fn strings(a: &[Value]) -> Vec<String> {
    a.iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Null => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::hub::Client;
    use std::net::SocketAddr;

    #[test]
    fn interval_runs_as_mistserver_counts_them() {
        assert_eq!(intervals(&[10]), Value::Null);
        assert_eq!(intervals(&[10, 11, 12, 13]), json!([[3, 1]]));
        assert_eq!(
            intervals(&[10, 11, 13, 15, 16]),
            json!([[1, 1], [2, 2], [1, 1]])
        );
    }

    fn snapshot<'a>(hub: &'a Hub, sampler: &'a Sampler, now: u64) -> Snapshot<'a> {
        Snapshot {
            hub,
            clients: hub.stats.clients(),
            sampler,
            now,
            now_ms: now * 1000,
        }
    }

    #[test]
    fn active_streams_in_every_request_form() {
        let hub = Hub::new(Default::default());
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let _v = hub.connect(
            "movie",
            Client {
                peer,
                protocol: "HTTP-FLV",
            },
        );
        let sampler = Sampler::default();
        let s = snapshot(&hub, &sampler, 1_700_000_000);
        assert_eq!(s.active_streams(&json!([])), json!(["movie"]));
        assert_eq!(s.active_streams(&json!(true)), json!(["movie"]));
        assert_eq!(
            s.active_streams(&json!(["viewers", "inputs", "status", "nonsense"])),
            json!({"movie": [1, 0, "Online", null]})
        );
        let obj = s.active_streams(&json!({"fields": ["viewers"], "streams": ["movie"]}));
        assert_eq!(obj, json!({"fields": ["viewers"], "data": {"movie": [1]}}));
        let long = s.active_streams(&json!({"fields": ["viewers", "views"], "longform": true}));
        assert_eq!(long, json!({"movie": {"viewers": 1, "views": 1}}));
        let none = s.active_streams(&json!({"streams": ["other+"]}));
        assert_eq!(none["data"], json!({}));
        assert_eq!(
            none["fields"].as_array().unwrap().len(),
            ACTIVE_DEFAULT_FIELDS.len()
        );
    }

    #[test]
    fn clients_now_and_in_the_past() {
        let hub = Hub::new(Default::default());
        let peer: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        let g = hub.connect(
            "cam",
            Client {
                peer,
                protocol: "HTTP-TS",
            },
        );
        g.count_down(1234);
        let mut sampler = Sampler::default();
        let start = start_unix(g.record());
        sampler.sample(start, &hub.stats.clients());
        let s = snapshot(&hub, &sampler, start + 3);
        let a = s.clients(&json!({"fields": ["stream", "host", "down", "sessid"]}));
        assert_eq!(a["time"], json!(start + 3));
        assert_eq!(a["fields"], json!(["host", "stream", "down", "sessid"]));
        assert_eq!(
            a["data"],
            json!([["10.1.2.3", "cam", 1234, g.record().id.to_string()]])
        );
        // Before it connected: nothing.
        let a = s.clients(&json!({"time": -10}));
        assert_eq!(a["data"], Value::Null);
        assert_eq!(
            s.clients(&json!({"protocols": ["RTMP"]}))["data"],
            Value::Null
        );
        // After it left, a moment when it was there still lists it.
        drop(g);
        sampler.sample(start + 4, &hub.stats.clients());
        let s = snapshot(&hub, &sampler, start + 5);
        assert_eq!(s.clients(&json!({}))["data"], Value::Null);
        // Fields come in MistServer's order, whatever order they were asked in.
        let a = s.clients(&json!({"time": start, "fields": ["down", "conntime"]}));
        assert_eq!(a["data"], json!([[0, 1234]]));
    }

    #[test]
    fn totals_per_second_with_filters() {
        let hub = Hub::new(Default::default());
        let peer: SocketAddr = "10.1.2.3:4000".parse().unwrap();
        let g = hub.connect(
            "cam",
            Client {
                peer,
                protocol: "HTTP-FLV",
            },
        );
        let start = start_unix(g.record());
        let mut sampler = Sampler::default();
        for i in 0..4 {
            g.count_down(100);
            sampler.sample(start + i, &hub.stats.clients());
        }
        let s = snapshot(&hub, &sampler, start + 3);
        let t = s.totals(&json!({"fields": ["clients", "downbps"]}));
        assert_eq!(t["start"], json!(start));
        assert_eq!(t["end"], json!(start + 3));
        assert_eq!(t["data"].as_array().unwrap().len(), 4);
        assert_eq!(t["data"][3], json!([1, 100]));
        assert_eq!(t["interval"], json!([[3, 1]]));
        let t = s.totals(&json!({"start": -1}));
        assert_eq!(t["data"].as_array().unwrap().len(), 2);
        assert_eq!(t["fields"].as_array().unwrap().len(), TOTAL_FIELDS.len());
        let t = s.totals(&json!({"streams": ["other"]}));
        assert_eq!(
            t,
            json!({"start": null, "end": null, "fields": TOTAL_FIELDS, "data": null, "interval": null})
        );
    }
}
