//! One API request: every call in it, in MistServer's order (changes first, then what is
//! read), and the answer with `authorize` and, unless `minimal`, `config`, `streams` and
//! `log`.
//!
//! Requests and answers are MistServer's. mist's additions: an `errors` member listing calls
//! it does not know and parts it could not use (MistServer ignores them silently), and `save`
//! answering `"OK"` or why it could not.

use serde_json::{json, Map, Value};

use super::activity::Snapshot;
use super::auth::md5_hex;
use super::{capabilities, streams, Api};
use crate::serve::config::Account;
use crate::serve::log::RING;

/// Calls that only read; everything else needs authorisation to run (the object forms of
/// `streams`, `config` and `streamkeys` change things and are not in this list).
const READS: &[&str] = &[
    "minimal",
    "active_streams",
    "clients",
    "totals",
    "capabilities",
    "push_list",
    "push_auto_list",
    "log",
    "version",
    "stats_streams",
];

/// Calls mist answers (or members it understands).
const KNOWN: &[&str] = &[
    "authorize",
    "minimal",
    "config",
    "streams",
    "addstream",
    "deletestream",
    "streamkeys",
    "streamkey_add",
    "streamkey_del",
    "capabilities",
    "active_streams",
    "stats_streams",
    "clients",
    "totals",
    "push_list",
    "push_start",
    "push_stop",
    "push_stop_graceful",
    "push_auto_add",
    "push_auto_remove",
    "push_auto_list",
    "push_settings",
    "log",
    "clearstatlogs",
    "version",
    "save",
    "shutdown",
];

/// Whether a request would change anything if it were run.
pub fn is_mutating(req: &Map<String, Value>) -> bool {
    req.iter().any(|(k, v)| match k.as_str() {
        "authorize" => v.get("new_username").is_some() || v.get("new_password").is_some(),
        "streams" | "config" | "streamkeys" => v.is_object(),
        k => !READS.contains(&k),
    })
}

/// Runs an authorised request. `local` is true for a trusted local client (only those may
/// shut the server down or create the first account); `authorize` is the answer's member.
pub async fn run(api: &Api, req: Map<String, Value>, local: bool, authorize: Value) -> Value {
    let hub = &api.shared.hub;
    let mut out = Map::new();
    let mut errors: Vec<String> = Vec::new();
    let mut changed = false;
    let minimal = req.contains_key("minimal");

    let mut authorize = authorize;
    if let Some(Value::Object(a)) = req.get("authorize") {
        let new_user = a.get("new_username").and_then(Value::as_str).unwrap_or("");
        let new_pass = a.get("new_password").and_then(Value::as_str).unwrap_or("");
        if !new_user.is_empty() && !new_pass.is_empty() {
            if !local {
                errors.push("authorize: accounts can only be created from this machine".into());
            } else {
                // Checked and made under one lock: two requests cannot both make the first.
                let made = hub.update_config(|c| {
                    let first = c.account.is_empty();
                    if first {
                        c.account.insert(
                            new_user.to_string(),
                            Account {
                                password: md5_hex(new_pass.as_bytes()),
                                ..Account::default()
                            },
                        );
                    }
                    first
                });
                if made {
                    tracing::info!(user = new_user, "account created through the API");
                    authorize = json!({"status": "ACC_MADE", "local": true});
                    changed = true;
                } else {
                    errors.push("authorize: an account exists already".into());
                }
            }
        }
    }
    out.insert("authorize".into(), authorize);

    if let Some(Value::Object(m)) = req.get("config") {
        hub.update_config(|cfg| {
            for (k, v) in m {
                // Answer-only members are not configuration.
                if !matches!(k.as_str(), "iid" | "version" | "time") {
                    cfg.config.insert(k.clone(), v.clone());
                }
            }
        });
        changed = true;
    }
    if let Some(v) = req.get("streams") {
        if v.is_object() {
            if let Some(entries) = streams::parse_entries("streams", v, &mut errors) {
                // Every name in the request stays: one that could not be used keeps its old
                // configuration rather than being deleted by a typo.
                let keep: std::collections::HashSet<String> =
                    streams::names_in(v).into_iter().collect();
                let removed = hub.update_config(|c| {
                    let removed: Vec<String> = c
                        .streams
                        .keys()
                        .filter(|k| !keep.contains(*k))
                        .cloned()
                        .collect();
                    for r in &removed {
                        c.streams.remove(r);
                    }
                    for (name, sc) in entries {
                        c.streams.insert(name, sc);
                    }
                    removed
                });
                for r in removed {
                    streams::stop_live(hub, &r);
                    tracing::info!(stream = %r, "stream deleted through the API");
                }
                changed = true;
            }
        }
    }
    let mut added = Vec::new();
    if let Some(v) = req.get("addstream") {
        if let Some(entries) = streams::parse_entries("addstream", v, &mut errors) {
            hub.update_config(|c| {
                for (name, sc) in entries {
                    added.push(name.clone());
                    c.streams.insert(name, sc);
                }
            });
            for name in &added {
                tracing::info!(stream = %name, "stream added through the API");
            }
            changed |= !added.is_empty();
        }
    }
    if let Some(v) = req.get("deletestream") {
        for name in streams::names_in(v) {
            let existed = hub.update_config(|c| c.streams.remove(&name).is_some());
            let stopped = streams::stop_live(hub, &name);
            if existed || stopped > 0 {
                tracing::info!(stream = %name, "stream deleted through the API");
                changed |= existed;
            } else {
                errors.push(format!(
                    "deletestream: no stream '{}'",
                    streams::printable(&name)
                ));
            }
        }
    }
    streamkeys(api, &req, &mut out, &mut errors, &mut changed);
    pushes(api, &req, &mut out, &mut errors, &mut changed);

    let explicit_save = req.contains_key("save");
    if changed || explicit_save {
        match api.save().await {
            Ok(()) => {
                if explicit_save {
                    out.insert("save".into(), json!("OK"));
                }
            }
            // Without a config file, changes live until the server stops; only an explicit
            // save is an error.
            Err(why) if explicit_save => {
                errors.push(format!("save: {why}"));
                out.insert("save".into(), json!(why));
            }
            Err(_) => {}
        }
    }

    if req.contains_key("capabilities") {
        let cpu = api.sampler().cpu_use();
        out.insert(
            "capabilities".into(),
            capabilities::answer(&api.shared.bound, cpu),
        );
    }
    let wants_activity = ["active_streams", "stats_streams", "clients", "totals"]
        .iter()
        .any(|k| req.contains_key(*k));
    if wants_activity {
        let sampler = api.sampler();
        let snap = Snapshot {
            hub,
            clients: hub.stats.clients(),
            sampler: &sampler,
            now: super::unix_now(),
            now_ms: super::unix_now_ms(),
        };
        if let Some(v) = req.get("active_streams") {
            out.insert("active_streams".into(), snap.active_streams(v));
        }
        if let Some(v) = req.get("stats_streams") {
            // Streams with statistics: the active ones (mist keeps no others).
            let v = if v.is_array() { v.clone() } else { json!([]) };
            out.insert("stats_streams".into(), snap.active_streams(&v));
        }
        let each = |v: &Value, f: &dyn Fn(&Value) -> Value| match v {
            Value::Array(list) => Value::Array(list.iter().map(f).collect()),
            r => f(r),
        };
        if let Some(v) = req.get("clients") {
            out.insert("clients".into(), each(v, &|r| snap.clients(r)));
        }
        if let Some(v) = req.get("totals") {
            out.insert("totals".into(), each(v, &|r| snap.totals(r)));
        }
    }
    if req.contains_key("push_list") {
        let rows: Vec<Value> = api.shared.pushes.list().iter().map(|p| p.row()).collect();
        out.insert("push_list".into(), Value::Array(rows));
    }
    if req.contains_key("version") {
        out.insert(
            "version".into(),
            json!({"version": env!("CARGO_PKG_VERSION"), "release": "mist"}),
        );
    }

    let table_asked = req.contains_key("streams");
    if !minimal || table_asked || req.contains_key("addstream") || req.contains_key("deletestream")
    {
        let clients = hub.stats.clients();
        let table = if !table_asked
            && (req.contains_key("addstream") || req.contains_key("deletestream"))
        {
            // MistServer's answer to a partial change: the changed streams only, marked.
            let mut m = Map::new();
            m.insert("incomplete list".into(), json!(1));
            let config = hub.config();
            for name in &added {
                if let Some(sc) = config.streams.get(name) {
                    m.insert(name.clone(), streams::entry(hub, &clients, name, sc));
                }
            }
            m
        } else {
            streams::table(hub, &clients)
        };
        out.insert("streams".into(), Value::Object(table));
    }
    if !minimal || req.contains_key("config") {
        out.insert("config".into(), api.config_answer());
    }
    if !minimal || req.contains_key("log") {
        let lines: Vec<Value> = RING
            .lines()
            .into_iter()
            .map(|l| json!([l.time, l.kind, l.message]))
            .collect();
        out.insert("log".into(), Value::Array(lines));
    }
    if req.contains_key("clearstatlogs") {
        RING.clear();
    }

    for k in req.keys() {
        if !KNOWN.contains(&k.as_str()) {
            errors.push(format!("unknown call '{}'", streams::printable(k)));
        }
    }
    if let Some(v) = req.get("shutdown") {
        if local {
            let reason = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            tracing::warn!("shutdown requested through the local API: {reason}");
            out.insert("shutdown".into(), json!("Shutting down"));
            api.shared.quit.notify_one();
        } else {
            out.insert(
                "shutdown".into(),
                json!("Ignored - only local users may request shutdown"),
            );
        }
    }
    if !errors.is_empty() {
        out.insert("errors".into(), json!(errors));
    }
    Value::Object(out)
}

/// `streamkeys` (replace all with an object, answer the table), `streamkey_add` (object of
/// key: stream) and `streamkey_del` (key, list of keys, or object of key: stream).
fn streamkeys(
    api: &Api,
    req: &Map<String, Value>,
    out: &mut Map<String, Value>,
    errors: &mut Vec<String>,
    changed: &mut bool,
) {
    let hub = &api.shared.hub;
    if let Some(Value::Object(m)) = req.get("streamkeys") {
        hub.update_config(|c| {
            c.streamkeys = m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect();
        });
        *changed = true;
    }
    if let Some(v) = req.get("streamkey_add") {
        match v {
            Value::Object(m) => {
                let mut added = Vec::new();
                hub.update_config(|c| {
                    for (k, s) in m {
                        if let Some(s) = s.as_str() {
                            if c.streamkeys.get(k).map(String::as_str) != Some(s) {
                                c.streamkeys.insert(k.clone(), s.to_string());
                                added.push(json!(k));
                            }
                        }
                    }
                });
                *changed |= !added.is_empty();
                out.insert("streamkey_add".into(), json!({"added": added}));
            }
            _ => {
                errors.push("streamkey_add must be an object".into());
                out.insert(
                    "streamkey_add".into(),
                    json!({"error": "streamkey_add must be an object"}),
                );
            }
        }
    }
    if let Some(v) = req.get("streamkey_del") {
        let mut deleted = Vec::new();
        hub.update_config(|c| {
            let mut del = |k: &str, must_map: Option<&str>| {
                if c.streamkeys
                    .get(k)
                    .is_some_and(|s| must_map.is_none_or(|m| m == s))
                {
                    c.streamkeys.remove(k);
                    deleted.push(json!(k));
                }
            };
            match v {
                Value::String(k) => del(k, None),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .for_each(|k| del(k, None)),
                Value::Object(m) => m.iter().for_each(|(k, s)| del(k, s.as_str())),
                _ => {}
            }
        });
        *changed |= !deleted.is_empty();
        out.insert("streamkey_del".into(), json!({"deleted": deleted}));
    }
    if req.contains_key("streamkeys") {
        out.insert("streamkeys".into(), json!(hub.config().streamkeys));
    }
}

/// The push calls: `push_start` (`{"stream", "target"}` or `[stream, target]`),
/// `push_stop` and `push_stop_graceful` (an id, a list of ids, or a stream name),
/// `push_auto_add`, `push_auto_remove`, `push_auto_list` (answered with `auto_push` and
/// `push_auto_list`, as MistServer answers), `push_settings` (`wait`, `maxspeed`: stored and
/// shown; mist starts automatic pushes at once and without a rate limit).
fn pushes(
    api: &Api,
    req: &Map<String, Value>,
    out: &mut Map<String, Value>,
    errors: &mut Vec<String>,
    changed: &mut bool,
) {
    let hub = &api.shared.hub;
    let pushes = &api.shared.pushes;
    if let Some(v) = req.get("push_auto_add") {
        let r = hub.update_config(|c| crate::serve::push::auto_add(c, v));
        match r {
            Ok(_) => {
                *changed = true;
                // Matching streams that are live now start at once (MistServer does too).
                for s in hub.live_streams() {
                    pushes.auto_start(hub, s.name());
                }
            }
            Err(why) => errors.push(why),
        }
    }
    if let Some(v) = req.get("push_auto_remove") {
        let n = hub.update_config(|c| crate::serve::push::auto_remove(c, v));
        *changed |= n > 0;
    }
    if ["push_auto_list", "push_auto_add", "push_auto_remove"]
        .iter()
        .any(|k| req.contains_key(*k))
    {
        let (object, list) = crate::serve::push::auto_answer(&hub.config());
        out.insert("auto_push".into(), object);
        out.insert("push_auto_list".into(), list);
    }
    if let Some(v) = req.get("push_start") {
        let (stream, target) = match v {
            Value::Array(a) => (
                a.first().and_then(Value::as_str),
                a.get(1).and_then(Value::as_str),
            ),
            Value::Object(o) => (
                o.get("stream").and_then(Value::as_str),
                o.get("target").and_then(Value::as_str),
            ),
            _ => (None, None),
        };
        match (stream, target) {
            (Some(s), Some(t)) if !s.is_empty() => {
                if let Err(why) = pushes.start(hub, s, t) {
                    errors.push(format!("push_start: {why}"));
                }
            }
            _ => errors.push(
                "push_start: expected {\"stream\": NAME, \"target\": URL} or [NAME, URL]".into(),
            ),
        }
    }
    for key in ["push_stop", "push_stop_graceful"] {
        let Some(v) = req.get(key) else { continue };
        let mut stop = |v: &Value| match v {
            Value::String(name) => {
                if let Ok(id) = name.parse::<u64>() {
                    pushes.stop(id);
                } else if let Some(n) = crate::serve::names::StreamName::parse(name) {
                    pushes.stop_stream(n.as_str());
                }
            }
            v => {
                if let Some(id) = v.as_u64() {
                    if !pushes.stop(id) {
                        errors.push(format!("{key}: no push {id}"));
                    }
                }
            }
        };
        match v {
            Value::Array(a) => a.iter().for_each(&mut stop),
            v => stop(v),
        }
    }
    if let Some(v) = req.get("push_settings") {
        if let Value::Object(m) = v {
            hub.update_config(|c| {
                let e = c.extra.entry("push_settings").or_insert_with(|| json!({}));
                if let Value::Object(stored) = e {
                    for k in ["wait", "maxspeed"] {
                        if let Some(x) = m.get(k).and_then(Value::as_i64) {
                            stored.insert(k.into(), json!(x));
                        }
                    }
                }
            });
            *changed = true;
        }
        let stored = hub
            .config()
            .extra
            .get("push_settings")
            .cloned()
            .unwrap_or_else(|| json!({"wait": 0, "maxspeed": 0}));
        out.insert("push_settings".into(), stored);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_changes_are_told_apart() {
        let m = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        assert!(!is_mutating(&m(json!({}))));
        assert!(!is_mutating(&m(
            json!({"active_streams": true, "clients": {}, "totals": [{}], "minimal": 1, "streams": true, "config": true})
        )));
        assert!(!is_mutating(&m(
            json!({"authorize": {"username": "a", "password": "b"}})
        )));
        for change in [
            json!({"addstream": {}}),
            json!({"deletestream": "x"}),
            json!({"streams": {}}),
            json!({"config": {"debug": 4}}),
            json!({"save": true}),
            json!({"shutdown": true}),
            json!({"authorize": {"new_username": "a", "new_password": "b"}}),
            json!({"something_new": 1}),
        ] {
            assert!(is_mutating(&m(change.clone())), "{change}");
        }
    }
}
