//! The `capabilities` answer: what this mist can take in and send out, described in
//! MistServer's shape (`connectors` and `inputs`, each with `name`, `desc`, `url_match` or
//! `source_match`, `codecs`, `optional` settings ...), plus the machine's CPU, load and
//! memory from `/proc`. The progressive outputs and file inputs come from the format table,
//! so the answer cannot claim a container mist does not write or read.

use serde_json::{json, Map, Value};

use crate::formats::FORMATS;
use crate::serve::config::{DEFAULT_DVR_MS, DEFAULT_GRACE_MS, DEFAULT_MAX_KEEP_AWAY_MS};
use crate::serve::Bound;

/// Codecs mist carries end to end, in MistServer's nesting (per track kind).
fn codecs() -> Value {
    json!([[["H264"], ["AAC", "MP3"]]])
}

fn port_option(default: u16) -> Value {
    json!({
        "port": {"name": "TCP port", "help": format!("TCP port to listen on (default {default}); set with mist serve's flags"), "type": "uint", "default": default},
        "interface": {"name": "Interface", "help": "Address to listen on", "type": "str"}
    })
}

/// The `connectors` member.
pub fn connectors(bound: &Bound) -> Map<String, Value> {
    let online = |a: Option<std::net::SocketAddr>| json!(u8::from(a.is_some()));
    let mut out = Map::new();
    out.insert(
        "RTMP".into(),
        json!({
            "name": "RTMP",
            "friendly": "RTMP",
            "desc": "Real Time Messaging Protocol: encoders publish to push:// streams, players play live and on-demand streams.",
            "deps": "",
            "codecs": codecs(),
            "methods": [{"handler": "rtmp", "type": "flash/10", "priority": 7}],
            "url_rel": "/play/$",
            "incoming_push_url": "rtmp://$host:$port/$password/$stream",
            "push_urls": [],
            "optional": port_option(1935),
            "online": online(bound.rtmp),
        }),
    );
    out.insert(
        "HTTP".into(),
        json!({
            "name": "HTTP",
            "friendly": "HTTP",
            "desc": "HTTP pages and stream information: / lists the streams, /STREAM.html plays one, /json_STREAM.js describes it.",
            "deps": "",
            "url_rel": "/$.html",
            "url_match": ["/$.html", "/json_$.js"],
            "optional": port_option(8080),
            "online": online(bound.http),
        }),
    );
    for spec in FORMATS.iter().filter(|f| f.muxer.is_some()) {
        let name = spec.name.to_ascii_uppercase();
        let matches: Vec<String> = spec.extensions.iter().map(|e| format!("/$.{e}")).collect();
        out.insert(
            name.clone(),
            json!({
                "name": name,
                "friendly": format!("{} over HTTP", spec.description),
                "desc": format!("Progressive {} over HTTP ({}){}.", spec.description, spec.mime,
                    if spec.mux_caps.live { ", live and on demand" } else { ", on demand; live streams get the fragmented form" }),
                "deps": "HTTP",
                "codecs": codecs(),
                "methods": [{"handler": "http", "type": format!("html5/{}", spec.mime), "priority": 5}],
                "url_rel": matches.first().cloned().unwrap_or_default(),
                "url_match": matches,
                "push_urls": [],
                "online": online(bound.http),
            }),
        );
    }
    out
}

/// The `inputs` member.
pub fn inputs() -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        "Buffer".into(),
        json!({
            "name": "Buffer",
            "desc": "Live streams published to mist (RTMP). push://HOST limits who may publish, push://@PASSWORD lets anyone with the password.",
            "source_match": ["push://*"],
            "priority": 9,
            "codecs": codecs(),
            "optional": {
                "DVR": {"name": "Buffer time (ms)", "help": "How much of the stream is kept for seeking and late joiners.", "type": "uint", "default": DEFAULT_DVR_MS},
                "maxkeepaway": {"name": "Maximum lag (ms)", "help": "How far behind live a viewer may fall before it is moved to the newest keyframe.", "type": "uint", "default": DEFAULT_MAX_KEEP_AWAY_MS},
                "grace": {"name": "Reconnect grace (ms)", "help": "How long viewers wait for a publisher that left to come back.", "type": "uint", "default": DEFAULT_GRACE_MS}
            }
        }),
    );
    out.insert(
        "Folder".into(),
        json!({
            "name": "Folder",
            "desc": "Every readable file of a folder: stream NAME+file.ext plays file.ext.",
            "source_match": ["/*/"],
            "priority": 9,
        }),
    );
    for spec in FORMATS.iter().filter(|f| f.open.is_some()) {
        let name = spec.name.to_ascii_uppercase();
        let matches: Vec<String> = spec.extensions.iter().map(|e| format!("/*.{e}")).collect();
        out.insert(
            name.clone(),
            json!({
                "name": name,
                "desc": format!("{} files, on demand (seeking through the index).", spec.description),
                "source_match": matches,
                "priority": 9,
                "codecs": codecs(),
            }),
        );
    }
    out
}

/// The whole answer; `cpu_use` comes from the sampler.
pub fn answer(bound: &Bound, cpu_use: Option<u64>) -> Value {
    let mut out = Map::new();
    out.insert("connectors".into(), Value::Object(connectors(bound)));
    out.insert("inputs".into(), Value::Object(inputs()));
    out.insert("processes".into(), json!({}));
    if let Some(cpu) = read("/proc/cpuinfo").map(|t| cpuinfo(&t)) {
        out.insert("cpu".into(), cpu);
    }
    if let Some(c) = cpu_use {
        out.insert("cpu_use".into(), json!(c));
    }
    if let Some(l) = read("/proc/loadavg").and_then(|t| loadavg(&t)) {
        out.insert("load".into(), l);
    }
    if let Some(m) = read("/proc/meminfo").map(|t| meminfo(&t)) {
        out.insert("mem".into(), m.to_json());
    }
    Value::Object(out)
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// `/proc/cpuinfo` as MistServer lists it: one entry per physical CPU model with `cores`,
/// `threads`, `mhz` and `model`.
pub fn cpuinfo(text: &str) -> Value {
    let mut model = String::new();
    let mut mhz = 0u64;
    let mut threads = 0u64;
    let mut cores = 0u64;
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => threads += 1,
            "model name" if model.is_empty() => model = v.to_string(),
            "cpu MHz" if mhz == 0 => mhz = v.parse::<f64>().map_or(0, |m| m as u64),
            "cpu cores" if cores == 0 => cores = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    json!([{"cores": if cores == 0 { threads } else { cores }, "threads": threads, "mhz": mhz, "model": model}])
}

/// `/proc/loadavg` as hundredths (MistServer's `load`).
pub fn loadavg(text: &str) -> Option<Value> {
    let mut it = text
        .split_whitespace()
        .map(|f| f.parse::<f64>().ok().map(|v| (v * 100.0) as u64));
    Some(json!({"one": it.next()??, "five": it.next()??, "fifteen": it.next()??}))
}

/// Memory figures in MiB (MistServer's `mem`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mem {
    /// Total.
    pub total: u64,
    /// Free.
    pub free: u64,
    /// Buffers and page cache.
    pub cached: u64,
    /// Swap total.
    pub swaptotal: u64,
    /// Swap free.
    pub swapfree: u64,
}

impl Mem {
    /// Used: total minus free minus cache.
    pub fn used(&self) -> u64 {
        self.total
            .saturating_sub(self.free)
            .saturating_sub(self.cached)
    }

    fn to_json(self) -> Value {
        json!({"total": self.total, "free": self.free, "used": self.used(), "cached": self.cached,
               "swaptotal": self.swaptotal, "swapfree": self.swapfree})
    }
}

/// `/proc/meminfo` in MiB.
pub fn meminfo(text: &str) -> Mem {
    let mut m = Mem::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let kib: u64 = v
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mib = kib / 1024;
        match k.trim() {
            "MemTotal" => m.total = mib,
            "MemFree" => m.free = mib,
            "Buffers" | "Cached" => m.cached += mib,
            "SwapTotal" => m.swaptotal = mib,
            "SwapFree" => m.swapfree = mib,
            _ => {}
        }
    }
    m
}

/// Total and idle jiffies of all CPUs (the first line of `/proc/stat`).
pub fn cpu_times(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((v.iter().sum(), idle))
}

/// [`cpu_times`] of this machine.
pub fn read_cpu_times() -> Option<(u64, u64)> {
    read("/proc/stat").and_then(|t| cpu_times(&t))
}

/// [`meminfo`] of this machine.
pub fn read_mem() -> Option<Mem> {
    read("/proc/meminfo").map(|t| meminfo(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        let mem = meminfo(
            "MemTotal:       16384000 kB\nMemFree:         2048000 kB\nBuffers:          102400 kB\nCached:          1024000 kB\nSwapTotal:       1024000 kB\nSwapFree:        1024000 kB\n",
        );
        assert_eq!(mem.total, 16000);
        assert_eq!(mem.free, 2000);
        assert_eq!(mem.cached, 100 + 1000);
        assert_eq!(mem.used(), 16000 - 2000 - 1100);
        assert_eq!(
            loadavg("0.52 1.00 2.25 1/234 5678\n").unwrap(),
            json!({"one": 52, "five": 100, "fifteen": 225})
        );
        assert_eq!(loadavg("garbage"), None);
        assert_eq!(
            cpu_times("cpu  10 20 30 400 50 0 0 0 0 0\ncpu0 1 2 3 4\n"),
            Some((510, 450))
        );
        let cpu = cpuinfo("processor\t: 0\nmodel name\t: Test CPU\ncpu MHz\t\t: 2400.5\ncpu cores\t: 2\n\nprocessor\t: 1\nmodel name\t: Test CPU\n");
        assert_eq!(
            cpu,
            json!([{"cores": 2, "threads": 2, "mhz": 2400, "model": "Test CPU"}])
        );
    }

    #[test]
    fn every_output_and_input_row_is_described() {
        let c = connectors(&Bound::default());
        for spec in FORMATS.iter().filter(|f| f.muxer.is_some()) {
            let row = &c[&spec.name.to_ascii_uppercase()];
            assert_eq!(row["url_match"][0], format!("/$.{}", spec.extensions[0]));
        }
        assert_eq!(c["RTMP"]["online"], 0);
        let i = inputs();
        assert_eq!(i["Buffer"]["source_match"][0], "push://*");
        assert!(i.contains_key("FLV") && i.contains_key("MP4"));
    }
}
