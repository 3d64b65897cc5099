//! `/metrics`: the server's counters in the Prometheus text exposition format (version
//! 0.0.4): one `# HELP` and one `# TYPE` line per metric family, then its samples together,
//! names prefixed `mist_`, counters suffixed `_total`, label values escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::activity::Snapshot;
use super::capabilities;
use crate::serve::hub::{Role, State};

/// The `Content-Type` of the answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value with `\`, `"` and newlines escaped.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Writes metric families.
#[derive(Default)]
struct Expo {
    out: String,
}

impl Expo {
    /// One family: its help, its type, and its samples as (labels, value).
    fn family<I>(&mut self, name: &str, kind: &str, help: &str, samples: I)
    where
        I: IntoIterator<Item = (Vec<(&'static str, String)>, u64)>,
    {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            self.out.push_str(name);
            if !labels.is_empty() {
                self.out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
                }
                self.out.push('}');
            }
            let _ = writeln!(self.out, " {value}");
        }
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.family(name, kind, help, [(Vec::new(), value)]);
    }
}

/// The whole page. `uptime` in seconds, `log_lines` since start, `cpu_use` in tenths of a
/// percent.
pub fn render(s: &Snapshot<'_>, uptime: u64, log_lines: u64, cpu_use: Option<u64>) -> String {
    let mut e = Expo::default();
    let hub = s.hub;
    e.single(
        "mist_uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        uptime,
    );

    // Streams by state.
    let live = hub.live_streams();
    let mut states: BTreeMap<&str, u64> = [("live", 0), ("waiting", 0), ("vod", 0)].into();
    for st in &live {
        match st.state() {
            State::Live => *states.entry("live").or_default() += 1,
            State::Waiting { .. } => *states.entry("waiting").or_default() += 1,
            State::Ended => {}
        }
    }
    let live_names: std::collections::HashSet<&str> = live.iter().map(|l| l.name()).collect();
    let vod: std::collections::HashSet<&str> = s
        .clients
        .iter()
        .map(|c| c.stream.as_str())
        .filter(|n| !live_names.contains(n))
        .collect();
    *states.entry("vod").or_default() = vod.len() as u64;
    e.family(
        "mist_streams",
        "gauge",
        "Active streams by state: live (a publisher is connected), waiting (the publisher left, inside the reconnect grace), vod (files being played).",
        states.iter().map(|(k, v)| (vec![("state", k.to_string())], *v)),
    );
    e.single(
        "mist_streams_configured",
        "gauge",
        "Streams in the configuration.",
        hub.config().streams.len() as u64,
    );

    // Clients now, by protocol and by stream.
    let protocols = hub.stats.protocols();
    let mut viewers: BTreeMap<&str, u64> = protocols.keys().map(|p| (*p, 0)).collect();
    let mut inputs: BTreeMap<&str, u64> = BTreeMap::new();
    let mut by_stream: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for c in &s.clients {
        let per = by_stream.entry(c.stream.as_str()).or_default();
        match c.role {
            Role::Output => {
                *viewers.entry(c.protocol).or_default() += 1;
                per.0 += 1;
            }
            Role::Input => {
                *inputs.entry(c.protocol).or_default() += 1;
                per.1 += 1;
            }
        }
    }
    e.family(
        "mist_viewers",
        "gauge",
        "Viewers connected now, by protocol.",
        viewers
            .iter()
            .map(|(p, n)| (vec![("protocol", p.to_string())], *n)),
    );
    e.family(
        "mist_inputs",
        "gauge",
        "Inputs (publishers) connected now, by protocol.",
        inputs
            .iter()
            .map(|(p, n)| (vec![("protocol", p.to_string())], *n)),
    );
    e.family(
        "mist_stream_viewers",
        "gauge",
        "Viewers connected now, by stream.",
        by_stream
            .iter()
            .map(|(st, n)| (vec![("stream", st.to_string())], n.0)),
    );
    e.family(
        "mist_stream_inputs",
        "gauge",
        "Inputs connected now, by stream.",
        by_stream
            .iter()
            .map(|(st, n)| (vec![("stream", st.to_string())], n.1)),
    );

    // Per protocol, since start.
    let per_proto = |f: fn(&crate::serve::hub::stats::ProtocolTotals) -> u64| {
        protocols
            .iter()
            .map(move |(p, t)| (vec![("protocol", p.to_string())], f(t)))
            .collect::<Vec<_>>()
    };
    e.family(
        "mist_connections_total",
        "counter",
        "Connections (sessions) opened since start, by protocol.",
        per_proto(|t| t.connections),
    );
    e.family(
        "mist_bytes_sent_total",
        "counter",
        "Bytes sent to clients since start, by protocol.",
        per_proto(|t| t.down),
    );
    e.family(
        "mist_bytes_received_total",
        "counter",
        "Bytes received from clients since start, by protocol.",
        per_proto(|t| t.up),
    );
    e.family(
        "mist_connection_errors_total",
        "counter",
        "Connections ended by an error, a protocol violation or a panic, by protocol.",
        per_proto(|t| t.errors),
    );
    e.single(
        "mist_viewer_skips_total",
        "counter",
        "Viewers moved to the newest keyframe because they fell behind.",
        hub.stats.skips.load(Ordering::Relaxed),
    );
    e.single(
        "mist_viewer_drops_total",
        "counter",
        "Viewers disconnected because they stopped reading.",
        hub.stats.drops.load(Ordering::Relaxed),
    );

    // Per stream, since start.
    let totals = hub.stats.streams();
    e.family(
        "mist_stream_bytes_sent_total",
        "counter",
        "Bytes sent to the stream's clients since start.",
        totals
            .iter()
            .map(|(st, t)| (vec![("stream", st.clone())], t.down)),
    );
    e.family(
        "mist_stream_bytes_received_total",
        "counter",
        "Bytes received from the stream's clients since start.",
        totals
            .iter()
            .map(|(st, t)| (vec![("stream", st.clone())], t.up)),
    );
    e.family(
        "mist_stream_views_total",
        "counter",
        "Viewers that connected to the stream since start.",
        totals
            .iter()
            .map(|(st, t)| (vec![("stream", st.clone())], t.views)),
    );

    // Live buffers.
    let label = |n: &str| vec![("stream", n.to_string())];
    e.family(
        "mist_stream_buffer_ms",
        "gauge",
        "Media time held in the live buffer (DVR window), in ms.",
        live.iter().map(|l| {
            let ms = l.window_ms().map_or(0, |(a, b)| (b - a).max(0) as u64);
            (label(l.name()), ms)
        }),
    );
    e.family(
        "mist_stream_buffer_bytes",
        "gauge",
        "Payload bytes held in the live buffer.",
        live.iter()
            .map(|l| (label(l.name()), l.buffered().1 as u64)),
    );
    e.family(
        "mist_stream_buffer_packets",
        "gauge",
        "Packets held in the live buffer.",
        live.iter()
            .map(|l| (label(l.name()), l.buffered().0 as u64)),
    );
    e.family(
        "mist_stream_tracks",
        "gauge",
        "Tracks of the live stream.",
        live.iter()
            .map(|l| (label(l.name()), l.meta().tracks.len() as u64)),
    );
    e.family(
        "mist_stream_packets_received_total",
        "counter",
        "Packets published into the live stream.",
        live.iter().map(|l| {
            (
                label(l.name()),
                l.counters.packets_in.load(Ordering::Relaxed),
            )
        }),
    );
    e.family(
        "mist_stream_skips_total",
        "counter",
        "Viewers of the live stream moved to the newest keyframe.",
        live.iter()
            .map(|l| (label(l.name()), l.counters.skips.load(Ordering::Relaxed))),
    );
    e.family(
        "mist_stream_drops_total",
        "counter",
        "Viewers of the live stream disconnected for not reading.",
        live.iter()
            .map(|l| (label(l.name()), l.counters.drops.load(Ordering::Relaxed))),
    );

    e.single(
        "mist_log_messages_total",
        "counter",
        "Log lines written since start (info and above).",
        log_lines,
    );
    if let Some(cpu) = cpu_use {
        e.single(
            "mist_cpu",
            "gauge",
            "CPU use of the whole machine over the last second, in tenths of a percent.",
            cpu,
        );
    }
    if let Some(m) = capabilities::read_mem() {
        e.family(
            "mist_memory_mib",
            "gauge",
            "Memory of the machine in MiB: total, and used (neither free nor cache).",
            [
                (vec![("kind", "total".to_string())], m.total),
                (vec![("kind", "used".to_string())], m.used()),
            ],
        );
    }
    e.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
    }

    #[test]
    fn a_family_is_help_type_then_samples() {
        let mut e = Expo::default();
        e.family(
            "mist_x_total",
            "counter",
            "X.",
            [
                (vec![("protocol", "RTMP".to_string())], 3),
                (vec![("protocol", "q\"".to_string())], 4),
            ],
        );
        assert_eq!(
            e.out,
            "# HELP mist_x_total X.\n# TYPE mist_x_total counter\nmist_x_total{protocol=\"RTMP\"} 3\nmist_x_total{protocol=\"q\\\"\"} 4\n"
        );
    }
}
