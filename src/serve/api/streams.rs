//! The stream table calls: `streams` (list, or with an object replace the whole table, as
//! MistServer does), `addstream`, `deletestream`; and each stream's `online`/`error` status
//! in MistServer's terms (1 active, 2 available or waiting, 0 offline).

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::serve::config::{PushRule, StreamConfig};
use crate::serve::hub::{ClientRecord, Hub, State};
use crate::serve::input::pull;
use crate::serve::names::StreamName;

/// Whether `client_stream` is `name` or one of its wildcard streams (`name+...`).
fn belongs(client_stream: &str, name: &str) -> bool {
    client_stream == name
        || client_stream
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('+'))
}

/// `online` and `error` of a configured stream.
pub fn status(
    hub: &Hub,
    clients: &[Arc<ClientRecord>],
    name: &str,
    sc: &StreamConfig,
) -> (u8, Option<String>) {
    let used = clients.iter().any(|c| belongs(&c.stream, name));
    if PushRule::parse(&sc.source).is_some() {
        let live: Vec<_> = hub
            .live_streams()
            .into_iter()
            .filter(|s| belongs(s.name(), name))
            .collect();
        if live
            .iter()
            .any(|s| s.state() == State::Live && s.window_ms().is_some())
        {
            return (1, None);
        }
        if !live.is_empty() {
            return (2, Some("Waiting for data".into()));
        }
        return (0, None);
    }
    if sc.source.trim().is_empty() {
        return (0, Some("Stream offline: Missing source parameter!".into()));
    }
    if let Some(kind) = pull::Kind::of(&sc.source) {
        return pull_status(hub, name, kind, &sc.source);
    }
    if !sc.source.starts_with('/') && sc.source.contains("://") {
        return (
            0,
            Some(format!(
                "Stream offline: mist cannot pull '{}'",
                scheme(&sc.source)
            )),
        );
    }
    // Variables ($wildcard ...) make the file depend on the name asked for: no one file to check.
    if !sc.source.contains('$') && !Path::new(&sc.source).exists() {
        return (0, Some(format!("Stream offline: Not found: {}", sc.source)));
    }
    if used {
        (1, None)
    } else {
        (2, Some("Available".into()))
    }
}

/// `online` and `error` of a pulled stream, from its pull's state.
fn pull_status(hub: &Hub, name: &str, kind: pull::Kind, source: &str) -> (u8, Option<String>) {
    let Some(h) = hub.pull(name) else {
        return if kind == pull::Kind::TsUdp || source.contains('$') {
            (2, Some("Available (pulled when first viewed)".into()))
        } else {
            (2, Some("Available (pulled on demand)".into()))
        };
    };
    let s = h.status();
    match s.phase {
        pull::Phase::Active => match hub.live_stream(name) {
            Some(l) if l.state() == State::Live && l.window_ms().is_some() => (1, None),
            _ => (2, Some("Waiting for data".into())),
        },
        pull::Phase::Connecting => (2, Some(format!("Connecting to {}", h.source))),
        pull::Phase::Retrying { at } => (
            0,
            Some(format!(
                "Stream offline: {}; retrying in {} ms",
                s.last_error.as_deref().unwrap_or("the source failed"),
                at.saturating_duration_since(std::time::Instant::now())
                    .as_millis()
            )),
        ),
    }
}

fn scheme(source: &str) -> &str {
    source.split("://").next().unwrap_or(source)
}

/// One stream as the API shows it: its configuration with `name`, `online` and `error`.
pub fn entry(hub: &Hub, clients: &[Arc<ClientRecord>], name: &str, sc: &StreamConfig) -> Value {
    let mut v = serde_json::to_value(sc).unwrap_or_else(|_| json!({}));
    let (online, error) = status(hub, clients, name, sc);
    if let Value::Object(m) = &mut v {
        m.insert("name".into(), json!(name));
        m.insert("online".into(), json!(online));
        if let Some(h) = hub.pull(name) {
            m.insert("pull".into(), h.to_json());
        }
        match error {
            Some(e) => m.insert("error".into(), json!(e)),
            None => m.remove("error"),
        };
    }
    v
}

/// The whole table.
pub fn table(hub: &Hub, clients: &[Arc<ClientRecord>]) -> Map<String, Value> {
    hub.config()
        .streams
        .iter()
        .map(|(name, sc)| (name.clone(), entry(hub, clients, name, sc)))
        .collect()
}

/// Reads `{NAME: {source, ...}, ...}` into stream configurations; what cannot be used is
/// reported in `errors` and left out.
pub fn parse_entries(
    call: &str,
    v: &Value,
    errors: &mut Vec<String>,
) -> Option<Vec<(String, StreamConfig)>> {
    let Value::Object(m) = v else {
        errors.push(format!(
            "{call}: expected an object of streams by name, like {{\"NAME\":{{\"source\":\"push://\"}}}}"
        ));
        return None;
    };
    let mut out = Vec::new();
    for (raw, body) in m {
        let name = match StreamName::parse(raw) {
            Some(n) if n.wildcard().is_none() => n.as_str().to_string(),
            _ => {
                errors.push(format!(
                    "{call}: '{}' is not a stream name (letters, digits, _ . - only)",
                    printable(raw)
                ));
                continue;
            }
        };
        let has_source = body
            .get("source")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty());
        if !has_source {
            errors.push(format!("{call}: stream '{name}' needs a source"));
            continue;
        }
        let mut body = body.clone();
        if let Value::Object(b) = &mut body {
            // Answer-only members never go into the configuration.
            b.remove("online");
            b.remove("error");
            b.insert("name".into(), json!(name));
        }
        match serde_json::from_value::<StreamConfig>(body) {
            Ok(sc) => out.push((name, sc)),
            Err(e) => errors.push(format!("{call}: stream '{name}': {e}")),
        }
    }
    Some(out)
}

/// The stream names a string, an array or an object's keys hold, sanitised (`deletestream`
/// accepts all three forms, as MistServer does).
pub fn names_in(v: &Value) -> Vec<String> {
    let raw: Vec<String> = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        Value::Object(m) => m.keys().cloned().collect(),
        _ => Vec::new(),
    };
    raw.into_iter()
        .map(|r| StreamName::parse(&r).map_or(r, |n| n.as_str().to_string()))
        .collect()
}

/// Ends the live streams of `name` (and its wildcard streams); returns how many.
pub fn stop_live(hub: &Hub, name: &str) -> usize {
    let mut n = 0;
    for s in hub.live_streams() {
        if belongs(s.name(), name) && hub.stop(s.name()) {
            n += 1;
        }
    }
    n
}

/// A name as it can appear in one error line.
pub fn printable(raw: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_checked_and_named() {
        let mut errors = Vec::new();
        let v = json!({
            "Cam": {"source": "push://", "DVR": 20000, "online": 1},
            "bad name+x": {"source": "push://"},
            "nosource": {"DVR": 1},
            "typed": {"source": 5}
        });
        let got = parse_entries("addstream", &v, &mut errors).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "cam");
        assert_eq!(got[0].1.name, "cam");
        assert_eq!(got[0].1.dvr, Some(20000));
        assert!(!got[0].1.extra.contains_key("online"));
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(parse_entries("streams", &json!([1]), &mut errors).is_none());
        assert_eq!(
            names_in(&json!(["A", "b"])),
            vec!["a".to_string(), "b".to_string()]
        );
        assert_eq!(names_in(&json!({"x": 1})), vec!["x".to_string()]);
        assert!(belongs("live+cam", "live") && !belongs("lively", "live"));
    }

    #[test]
    fn file_and_pull_sources_report_why_they_are_offline() {
        let hub = Hub::new(Default::default());
        let sc = |s: &str| StreamConfig {
            source: s.into(),
            ..StreamConfig::default()
        };
        let (o, e) = status(&hub, &[], "x", &sc("/no/such/file.flv"));
        assert_eq!(
            (o, e.as_deref()),
            (0, Some("Stream offline: Not found: /no/such/file.flv"))
        );
        let (o, e) = status(&hub, &[], "x", &sc(env!("CARGO_MANIFEST_DIR")));
        assert_eq!((o, e.as_deref()), (2, Some("Available")));
        let (o, e) = status(&hub, &[], "x", &sc("rtsp://cam/1"));
        assert_eq!(o, 0);
        assert!(e.unwrap().contains("rtsp"));
        assert_eq!(status(&hub, &[], "x", &sc("push://")), (0, None));
        let (o, e) = status(&hub, &[], "x", &sc("rtmp://origin/live/x"));
        assert_eq!((o, e.as_deref()), (2, Some("Available (pulled on demand)")));
    }
}
