//! The control API of `mist serve` (port 4242) against a running server: streams added,
//! seen live and viewed, deleted; the config file saved and read back across a restart;
//! requests from other addresses refused without MistServer's challenge-response or a bearer
//! token; bad requests answered with clear errors; `/metrics` parsed as the Prometheus text
//! format; `shutdown` ending the process with status 0.
//!
//! Oracles: MD5 from the system's `md5sum` (not the server's code), the Prometheus exposition
//! rules written out in [`parse_exposition`], the fixture's own packets, and the files on disk.

mod util;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use mist::dtsc::Packet;
use mist::serve::config::Config;
use mist::serve::hub::Client;
use mist::serve::{Server, Settings};
use serde_json::{json, Value};
use util::serve::{get, Serve};
use util::*;

const T: Duration = Duration::from_secs(10);

/// One HTTP exchange (`Connection: close`), optionally from a chosen local address.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    from: Option<IpAddr>,
) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    let mut s = match from {
        None => TcpStream::connect_timeout(&addr, T).expect("connect"),
        Some(ip) => connect_from(ip, addr),
    };
    s.set_read_timeout(Some(T)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    read_response(s)
}

fn read_response(mut s: TcpStream) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..at]).to_string();
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (code, headers, raw[at + 4..].to_vec())
}

/// A TCP connection whose local address is `from` (any address of 127/8 reaches the loopback
/// interface on Linux, so 127.0.0.2 is "another machine" that can still reach the server).
fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let s = rt
        .block_on(async {
            let sock = tokio::net::TcpSocket::new_v4()?;
            sock.bind(SocketAddr::new(from, 0))?;
            sock.connect(to).await
        })
        .unwrap_or_else(|e| panic!("cannot connect from {from} to {to}: {e}"));
    let s = s.into_std().unwrap();
    s.set_nonblocking(false).unwrap();
    s
}

/// `POST /api` with a JSON body; the status and the parsed answer.
fn api_from(
    addr: SocketAddr,
    req: &Value,
    headers: &[(&str, &str)],
    from: Option<IpAddr>,
) -> (u16, Value) {
    let mut h = vec![("Content-Type", "application/json")];
    h.extend_from_slice(headers);
    let (code, hd, body) = exchange(addr, "POST", "/api", &h, req.to_string().as_bytes(), from);
    assert_eq!(
        hd.get("content-type").map(String::as_str),
        Some("text/javascript")
    );
    assert_eq!(
        hd.get("access-control-allow-origin").map(String::as_str),
        Some("*")
    );
    let v = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    (code, v)
}

fn api(addr: SocketAddr, req: &Value) -> Value {
    let (code, v) = api_from(addr, req, &[], None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["authorize"]["status"], "OK", "{v}");
    v
}

/// Hex MD5 by the system's `md5sum`.
fn md5sum(s: &str) -> String {
    let mut child = std::process::Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("md5sum (coreutils) is needed as the MD5 oracle");
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..32].to_string()
}

/// Polls `f` until it gives `Some` (at most 10 s).
fn until<R>(what: &str, mut f: impl FnMut() -> Option<R>) -> R {
    let deadline = Instant::now() + T;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Parses a Prometheus text exposition (format 0.0.4) and checks it against the format's
/// rules, plus ours (every family has HELP and TYPE, names start with `mist_`, counters end
/// with `_total`). Returns every sample as `name{labels}` → value.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    fn name_ok(n: &str, label: bool) -> bool {
        let mut c = n.chars();
        let first = c
            .next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || (!label && f == ':'));
        first && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || (!label && ch == ':'))
    }
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut out = BTreeMap::new();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    let mut done: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kw = parts.next().unwrap();
            let name = parts.next().unwrap_or("").to_string();
            let arg = parts.next().unwrap_or("").to_string();
            match kw {
                "HELP" => {
                    assert!(name_ok(&name, false), "bad name in {line:?}");
                    assert!(helps.insert(name, arg).is_none(), "second HELP: {line:?}");
                }
                "TYPE" => {
                    assert!(name_ok(&name, false), "bad name in {line:?}");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"]
                            .contains(&arg.as_str()),
                        "bad type: {line:?}"
                    );
                    assert!(
                        !done.contains(&name) && current.as_deref() != Some(&name),
                        "TYPE after samples: {line:?}"
                    );
                    assert!(types.insert(name, arg).is_none(), "second TYPE: {line:?}");
                }
                _ => {}
            }
            continue;
        }
        assert!(!line.starts_with('#'), "comment without a space: {line:?}");
        // name, optional {labels}, value.
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value: {line:?}"));
        let name = &line[..name_end];
        assert!(name_ok(name, false), "bad metric name: {line:?}");
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            let mut r = r;
            loop {
                if let Some(after) = r.strip_prefix('}') {
                    r = after;
                    break;
                }
                let eq = r
                    .find('=')
                    .unwrap_or_else(|| panic!("label without '=': {line:?}"));
                let lname = &r[..eq];
                assert!(
                    name_ok(lname, true) && !lname.starts_with("__"),
                    "bad label name: {line:?}"
                );
                let v = r[eq + 1..]
                    .strip_prefix('"')
                    .unwrap_or_else(|| panic!("unquoted label value: {line:?}"));
                let mut value = String::new();
                let mut chars = v.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            Some((_, 'n')) => value.push('\n'),
                            other => panic!("bad escape {other:?}: {line:?}"),
                        },
                        Some((i, '"')) => break i,
                        Some((_, c)) => value.push(c),
                        None => panic!("unterminated label value: {line:?}"),
                    }
                };
                labels.push(format!("{lname}={value:?}"));
                r = &v[end + 1..];
                r = r.strip_prefix(',').unwrap_or(r);
            }
            rest = r;
        }
        let mut fields = rest.split_whitespace();
        let value = fields
            .next()
            .unwrap_or_else(|| panic!("no value: {line:?}"));
        let value: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line:?}")),
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .unwrap_or_else(|_| panic!("bad timestamp: {line:?}"));
        }
        assert!(fields.next().is_none(), "trailing text: {line:?}");
        // One group per family.
        if current.as_deref() != Some(name) {
            assert!(
                !done.contains(&name.to_string()),
                "{name} appears in two groups"
            );
            if let Some(c) = current.take() {
                done.push(c);
            }
            current = Some(name.to_string());
        }
        let ty = types
            .get(name)
            .unwrap_or_else(|| panic!("{name} has no TYPE"));
        assert!(helps.contains_key(name), "{name} has no HELP");
        assert!(name.starts_with("mist_"), "{name} is not prefixed mist_");
        assert_eq!(
            ty == "counter",
            name.ends_with("_total"),
            "{name}: counters and only counters end in _total"
        );
        let key = format!("{name}{{{}}}", labels.join(","));
        assert!(
            out.insert(key.clone(), value).is_none(),
            "duplicate series {key}"
        );
    }
    out
}

fn metrics(addr: SocketAddr) -> BTreeMap<String, f64> {
    let (code, h, body) = exchange(addr, "GET", "/metrics", &[], b"", None);
    assert_eq!(code, 200);
    assert!(
        h["content-type"].starts_with("text/plain; version=0.0.4"),
        "{h:?}"
    );
    parse_exposition(&String::from_utf8(body).unwrap())
}

fn read_all(name: &str) -> (Vec<mist::dtsc::Track>, Vec<Packet>) {
    let mut d = mist::pipeline::open(&fixture(name)).unwrap();
    let tracks = d.meta().tracks.clone();
    let mut v = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        v.push(p);
    }
    (tracks, v)
}

fn file_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn a_stream_is_added_published_viewed_counted_and_deleted() {
    let dir = TestDir::new("api-life");
    let config_path = dir.join("mist.json");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(Server::bind(Settings {
            http: Some("127.0.0.1:0".parse().unwrap()),
            api: Some("127.0.0.1:0".parse().unwrap()),
            config: Config::default(),
            config_path: Some(config_path.clone()),
            ..Settings::default()
        }))
        .unwrap();
    let hub = server.hub().clone();
    let (http, a) = (server.bound().http.unwrap(), server.bound().api.unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = rt.spawn(server.run(async move {
        let _ = stopped.await;
    }));

    // Added: in the answer, in the table, in the file.
    let v = api(
        a,
        &json!({"addstream": {"cam": {"source": "push://", "DVR": 30000}}}),
    );
    assert_eq!(v["authorize"]["local"], true);
    assert_eq!(v["streams"]["incomplete list"], 1);
    assert_eq!(v["streams"]["cam"]["online"], 0);
    assert_eq!(v["streams"]["cam"]["DVR"], 30000);
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        file_json(&config_path)["streams"]["cam"]["source"],
        "push://"
    );
    // `streams` with an object is the whole table (MistServer): left out means deleted; an
    // entry that cannot be used keeps its old configuration.
    api(
        a,
        &json!({"addstream": {"tmp1": {"source": "push://"}, "tmp2": {"source": "push://"}}}),
    );
    let v = api(
        a,
        &json!({"streams": {"cam": {"source": "push://", "DVR": 30000}, "tmp1": {}}}),
    );
    let names: Vec<&String> = v["streams"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["cam", "tmp1"]);
    assert_eq!(v["errors"][0], "streams: stream 'tmp1' needs a source");
    api(a, &json!({"deletestream": ["tmp1"]}));
    let v = api(a, &json!({}));
    assert_eq!(v["streams"]["cam"]["name"], "cam");
    assert_eq!(v["streams"].as_object().unwrap().len(), 1);
    assert!(v["config"]["iid"].is_string() && v["log"].is_array(), "{v}");
    assert_eq!(
        api(a, &json!({"active_streams": []}))["active_streams"],
        json!([])
    );
    let before = metrics(a);
    assert_eq!(
        before
            .get("mist_viewers{protocol=\"HTTP-FLV\"}")
            .copied()
            .unwrap_or(0.0),
        0.0
    );
    assert_eq!(before["mist_streams_configured{}"], 1.0);

    // Published (in-process; the RTMP tests publish over the wire).
    let (tracks, packets) = read_all("h264_aac.flv");
    let publisher = Client {
        peer: "127.0.0.1:1".parse().unwrap(),
        protocol: "TEST",
    };
    let mut p = hub.publish("cam", publisher, &[]).unwrap();
    p.set_tracks(tracks.clone());
    let half = packets.len() / 2;
    for pk in &packets[..half] {
        assert!(p.push(pk.clone()));
    }
    let v = api(
        a,
        &json!({"active_streams": ["status", "inputs", "viewers", "tracks", "firstms", "lastms", "zerounix"]}),
    );
    let row = &v["active_streams"]["cam"];
    assert_eq!(row[0], "Online", "{v}");
    assert_eq!(
        (row[1].clone(), row[2].clone(), row[3].clone()),
        (json!(1), json!(0), json!(tracks.len()))
    );
    assert!(row[5].as_i64().unwrap() > row[4].as_i64().unwrap(), "{row}");
    assert!(row[6].as_i64().unwrap() > 1_600_000_000, "{row}");
    assert_eq!(
        api(a, &json!({"streams": true}))["streams"]["cam"]["online"],
        1
    );

    // Viewed: an HTTP-FLV viewer shows in `clients`, `active_streams` and the metrics.
    let viewer = std::thread::spawn(move || {
        let t0 = Instant::now();
        let r = get(http, "/cam.flv", &[], 64 << 20, Duration::from_secs(30));
        (r, t0.elapsed())
    });
    let row = until("the viewer in clients", || {
        let v = api(a, &json!({"clients": {"protocols": ["HTTP-FLV"]}}));
        let fields = v["clients"]["fields"].clone();
        let rows = v["clients"]["data"].as_array()?.clone();
        let row = rows.first()?.clone();
        let get = |f: &str| {
            row[fields
                .as_array()
                .unwrap()
                .iter()
                .position(|x| x == f)
                .unwrap()]
            .clone()
        };
        if get("down").as_u64()? == 0 {
            return None;
        }
        assert_eq!(get("host"), "127.0.0.1");
        assert_eq!(get("stream"), "cam");
        assert_eq!(get("protocol"), "HTTP-FLV");
        assert!(get("conntime").as_i64().unwrap() >= 0);
        assert!(get("sessid").is_string());
        Some(row.clone())
    });
    assert_eq!(row.as_array().unwrap().len(), 13, "every field by default");
    for pk in &packets[half..] {
        assert!(p.push(pk.clone()));
    }
    let v = api(
        a,
        &json!({"clients": [{"protocols": ["TEST"], "fields": ["stream", "up"]}, {"streams": ["nope"]}]}),
    );
    assert_eq!(v["clients"][0]["data"][0][0], "cam");
    assert_eq!(v["clients"][1]["data"], Value::Null);
    let v = api(
        a,
        &json!({"active_streams": {"fields": ["viewers", "downbytes", "views"], "longform": true}}),
    );
    assert_eq!(v["active_streams"]["cam"]["viewers"], 1);
    assert_eq!(v["active_streams"]["cam"]["views"], 1);
    let after = until("the viewer in the metrics", || {
        let m = metrics(a);
        (m.get("mist_bytes_sent_total{protocol=\"HTTP-FLV\"}")
            .copied()
            .unwrap_or(0.0)
            > 0.0)
            .then_some(m)
    });
    assert_eq!(after["mist_viewers{protocol=\"HTTP-FLV\"}"], 1.0);
    assert_eq!(after["mist_stream_viewers{stream=\"cam\"}"], 1.0);
    assert_eq!(after["mist_inputs{protocol=\"TEST\"}"], 1.0);
    assert_eq!(after["mist_streams{state=\"live\"}"], 1.0);
    assert!(after["mist_stream_buffer_ms{stream=\"cam\"}"] > 0.0);
    assert_eq!(
        after["mist_stream_packets_received_total{stream=\"cam\"}"],
        packets.len() as f64
    );
    // Totals: one row per second with the viewer in it.
    let t = until("a totals row with the viewer", || {
        let v = api(
            a,
            &json!({"totals": {"fields": ["clients", "inputs", "downbps"]}}),
        );
        let t = v["totals"].clone();
        (t["data"].as_array()?.last()?[0] == 1).then_some(t)
    });
    assert_eq!(t["fields"], json!(["clients", "inputs", "downbps"]));
    assert!(t["end"].as_i64().unwrap() >= t["start"].as_i64().unwrap());
    assert_eq!(t["data"].as_array().unwrap().last().unwrap()[1], 1);

    // Deleted: out of the table and the file, the live stream ends, its viewer gets the end.
    let v = api(a, &json!({"deletestream": "cam"}));
    assert_eq!(v["streams"], json!({"incomplete list": 1}));
    let (r, took) = viewer.join().unwrap();
    assert!(
        took < Duration::from_secs(20),
        "the viewer was not ended: {took:?}"
    );
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..3], b"FLV");
    assert!(!p.push(packets[0].clone()), "the publisher is cut off");
    drop(p);
    until("no active streams", || {
        (api(a, &json!({"active_streams": true}))["active_streams"] == json!([])).then_some(())
    });
    assert!(api(a, &json!({}))
        .get("streams")
        .unwrap()
        .get("cam")
        .is_none());
    assert!(file_json(&config_path)["streams"].get("cam").is_none());

    let _ = stop.send(());
    rt.block_on(running).unwrap();
}

#[test]
fn the_config_is_saved_and_read_back_across_a_restart_and_shutdown_exits_0() {
    let dir = TestDir::new("api-restart");
    let cfg = dir.join("mist.json");
    std::fs::write(
        &cfg,
        json!({
            "config": {"serverid": "test-1"},
            "streams": {"old": {"name": "old", "source": "push://"}},
            "auto_push": {"1": ["old", "/tmp/x.flv"]},
            "ui_settings": {"theme": "dark"}
        })
        .to_string(),
    )
    .unwrap();
    let movie = fixture("h264_aac.flv");
    let movie = movie.to_str().unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let mut s = Serve::start(&["--config", cfg_s]);
    let a = s.api.expect("API address in the banner");
    let v = api(
        a,
        &json!({"addstream": {"movie": {"source": movie}}, "config": {"debug": 4}}),
    );
    assert_eq!(v["streams"]["movie"]["online"], 2);
    assert_eq!(v["streams"]["movie"]["error"], "Available");
    assert_eq!(v["config"]["serverid"], "test-1");
    assert_eq!(v["config"]["debug"], 4);
    let on_disk = file_json(&cfg);
    assert_eq!(on_disk["streams"]["movie"]["source"], movie);
    assert_eq!(on_disk["config"]["debug"], 4);
    // What mist does not use is written back as it was.
    assert_eq!(on_disk["auto_push"]["1"][1], "/tmp/x.flv");
    assert_eq!(on_disk["ui_settings"]["theme"], "dark");
    assert!(on_disk["streams"]["movie"].get("online").is_none());
    assert_eq!(api(a, &json!({"save": true}))["save"], "OK");
    // Atomic writes leave no temporary files behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["mist.json".to_string()]);

    let v = api(a, &json!({"shutdown": "test over"}));
    assert_eq!(v["shutdown"], "Shutting down");
    let st = s
        .wait(Duration::from_secs(5))
        .expect("mist serve exits after shutdown");
    assert!(st.success(), "{st:?}");

    let s2 = Serve::start(&["--config", cfg_s]);
    let v = api(s2.api.unwrap(), &json!({}));
    assert_eq!(v["streams"]["movie"]["source"], movie);
    assert_eq!(v["streams"]["old"]["source"], "push://");
    assert_eq!(v["config"]["serverid"], "test-1");
    assert_eq!(v["config"]["debug"], 4);
    // The restarted server serves the stream that was added through the API.
    let r = get(s2.http.unwrap(), "/movie.flv", &[], 1 << 20, T);
    assert_eq!((r.status, &r.body[..3]), (200, &b"FLV"[..]));
}

#[test]
fn other_addresses_need_the_challenge_response_or_the_token() {
    let mut s = Serve::start(&["--account", "admin:secret", "--api-token", "tok123"]);
    let a = s.api.unwrap();
    let xff = ("X-Forwarded-For", "203.0.113.7");
    let add = |name: &str| json!({"addstream": {name: {"source": "push://"}}});

    // Forwarded: a change is refused with 403 and a challenge; a read gets only the challenge.
    let (code, v) = api_from(a, &add("x1"), &[xff], None);
    assert_eq!(code, 403, "{v}");
    assert_eq!(v["authorize"]["status"], "CHALL");
    let chall = v["authorize"]["challenge"].as_str().unwrap().to_string();
    assert!(chall.len() == 32 && chall.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(v.get("streams").is_none() && v.get("config").is_none());
    let (code, v) = api_from(a, &json!({"active_streams": true}), &[xff], None);
    assert_eq!(code, 200);
    assert_eq!(
        v,
        json!({"authorize": {"status": "CHALL", "challenge": chall}})
    );
    // From a second loopback address, not forwarded: refused too.
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let (code, v) = api_from(a, &add("x2"), &[], Some(other));
    assert_eq!(code, 403, "{v}");
    let chall2 = v["authorize"]["challenge"].as_str().unwrap().to_string();
    assert_ne!(chall2, chall, "challenges are per client address");
    let (code, _, _) = exchange(a, "GET", "/metrics", &[], b"", Some(other));
    assert_eq!(code, 403);

    // Challenge-response: md5(md5(password) + challenge), computed by md5sum.
    let response = md5sum(&format!("{}{chall}", md5sum("secret")));
    let login = json!({"username": "admin", "password": response});
    let mut req = add("x3");
    req["authorize"] = login.clone();
    let (code, v) = api_from(a, &req, &[xff], None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["authorize"], json!({"status": "OK"}));
    assert_eq!(v["streams"]["x3"]["source"], "push://");
    let response2 = md5sum(&format!("{}{chall2}", md5sum("secret")));
    let mut req = add("x4");
    req["authorize"] = json!({"username": "admin", "password": response2});
    assert_eq!(api_from(a, &req, &[], Some(other)).0, 200);
    // MistServer's header form.
    let header = format!("json {login}");
    let (code, v) = api_from(a, &add("x5"), &[xff, ("Authorization", &header)], None);
    assert_eq!((code, &v["authorize"]["status"]), (200, &json!("OK")));
    // A wrong password is refused.
    let mut req = add("x6");
    req["authorize"] =
        json!({"username": "admin", "password": md5sum(&format!("{}{chall}", md5sum("guess")))});
    let (code, v) = api_from(a, &req, &[xff], None);
    assert_eq!((code, &v["authorize"]["status"]), (403, &json!("CHALL")));

    // Bearer token.
    let (code, v) = api_from(
        a,
        &add("x7"),
        &[xff, ("Authorization", "Bearer tok123")],
        None,
    );
    assert_eq!((code, &v["authorize"]["status"]), (200, &json!("OK")));
    let (code, _) = api_from(
        a,
        &add("x8"),
        &[xff, ("Authorization", "Bearer nope")],
        None,
    );
    assert_eq!(code, 403);
    let (code, _, body) = exchange(
        a,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer tok123")],
        b"",
        Some(other),
    );
    assert_eq!(code, 200);
    parse_exposition(&String::from_utf8(body).unwrap());
    // Only local users may stop the server.
    let (code, v) = api_from(
        a,
        &json!({"shutdown": true}),
        &[xff, ("Authorization", "Bearer tok123")],
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(
        v["shutdown"],
        "Ignored - only local users may request shutdown"
    );
    assert!(s.running());

    let names: Vec<String> = api(a, &json!({}))["streams"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(names, ["x3", "x4", "x5", "x7"]);
}

#[test]
fn the_first_account_can_be_made_from_this_machine_only() {
    let dir = TestDir::new("api-account");
    let cfg = dir.join("mist.json");
    let s = Serve::start(&["--config", cfg.to_str().unwrap()]);
    let a = s.api.unwrap();
    let xff = ("X-Real-IP", "198.51.100.1");
    let (code, v) = api_from(a, &json!({}), &[xff], None);
    assert_eq!((code, v), (200, json!({"authorize": {"status": "NOACC"}})));
    let make = json!({"authorize": {"new_username": "boss", "new_password": "pw"}});
    let (code, _) = api_from(a, &make, &[xff], None);
    assert_eq!(code, 403);
    let (code, v) = api_from(a, &make, &[], None);
    assert_eq!((code, &v["authorize"]["status"]), (200, &json!("ACC_MADE")));
    assert_eq!(file_json(&cfg)["account"]["boss"]["password"], md5sum("pw"));
    let (_, v) = api_from(a, &json!({}), &[xff], None);
    assert_eq!(v["authorize"]["status"], "CHALL");
    // A second one is not made.
    let v = api(
        a,
        &json!({"authorize": {"new_username": "eve", "new_password": "x"}}),
    );
    assert!(v["errors"][0].as_str().unwrap().contains("exists"), "{v}");
}

#[test]
fn bad_requests_get_clear_errors_and_the_server_keeps_serving() {
    let s = Serve::start(&[fixture("h264_aac.flv").parent().unwrap().to_str().unwrap()]);
    let a = s.api.unwrap();
    let post = |body: &[u8], ctype: &str| {
        let (code, _, b) = exchange(a, "POST", "/api", &[("Content-Type", ctype)], body, None);
        (code, String::from_utf8_lossy(&b).into_owned())
    };
    let (code, b) = post(b"{\"streams\":", "application/json");
    assert_eq!(code, 400);
    assert!(b.contains("not valid JSON"), "{b}");
    let (code, b) = post(b"[1,2]", "application/json");
    assert_eq!(code, 400);
    assert!(b.contains("JSON object"), "{b}");
    let (code, b) = post(b"\xff\xfe{", "application/json");
    assert_eq!(code, 400, "{b}");
    // A huge body is refused from its length alone.
    let mut sock = TcpStream::connect(a).unwrap();
    sock.write_all(b"POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\nConnection: close\r\n\r\n")
        .unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    let (code, _, body) = read_response(sock);
    assert_eq!(code, 413, "{}", String::from_utf8_lossy(&body));
    // Unknown calls are named; the known ones in the same request are answered.
    let v = api(
        a,
        &json!({"frobnicate": 1, "push_start": ["a", "b"], "push_list": true, "deletestream": "nosuch"}),
    );
    let errors: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(errors.contains(&"unknown call 'frobnicate'"), "{errors:?}");
    // push_start is known: its bad target is named instead.
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("push_start:") && e.contains("'b'")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("nosuch")), "{errors:?}");
    assert_eq!(v["push_list"], json!([]));
    let v = api(
        a,
        &json!({"addstream": {"Bad Name!": {"source": "push://"}, "nosource": {}}}),
    );
    assert_eq!(v["errors"].as_array().unwrap().len(), 2, "{v}");
    // GET with command=, JSONP; form POST; curl's JSON-as-form; /api2.
    let (code, h, body) = exchange(
        a,
        "GET",
        "/api?command=%7B%22active_streams%22%3Atrue%7D&callback=cb_1",
        &[],
        b"",
        None,
    );
    let body = String::from_utf8(body).unwrap();
    assert_eq!((code, h["content-type"].as_str()), (200, "text/javascript"));
    let inner = body
        .strip_prefix("cb_1(")
        .and_then(|b| b.strip_suffix(");\n\n"))
        .unwrap_or_else(|| panic!("{body}"));
    let v: Value = serde_json::from_str(inner).unwrap();
    assert_eq!(v["active_streams"], json!([]));
    let (code, _, _) = exchange(a, "GET", "/api?callback=alert(1)", &[], b"", None);
    assert_eq!(code, 400);
    let (code, b) = post(
        b"command=%7B%22push_list%22%3Atrue%7D",
        "application/x-www-form-urlencoded",
    );
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["push_list"],
        json!([])
    );
    let (code, b) = post(
        br#"{"push_list":true}"#,
        "application/x-www-form-urlencoded",
    );
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["push_list"],
        json!([])
    );
    let (_, _, body) = exchange(a, "GET", "/api2", &[], b"", None);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, json!({"authorize": {"status": "OK", "local": true}}));
    let (_, _, body) = exchange(a, "GET", "/api", &[], b"", None);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert!(v["config"]["version"]
        .as_str()
        .unwrap()
        .starts_with("mist "));
    assert!(v["streams"].is_object() && v["log"].is_array());
    assert_eq!(exchange(a, "GET", "/nothing", &[], b"", None).0, 404);
    assert_eq!(exchange(a, "PUT", "/api", &[], b"{}", None).0, 405);
    let (code, h, _) = exchange(
        a,
        "OPTIONS",
        "/api",
        &[
            ("Origin", "http://x"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
        None,
    );
    assert_eq!(code, 204);
    assert!(h["access-control-allow-headers"].contains("Authorization"));
    // Capabilities describe what this mist has.
    let c = &api(a, &json!({"capabilities": true}))["capabilities"];
    assert_eq!(c["connectors"]["RTMP"]["online"], 1);
    assert_eq!(c["connectors"]["FLV"]["url_match"][0], "/$.flv");
    assert_eq!(c["inputs"]["Buffer"]["source_match"][0], "push://*");
    assert!(c["mem"]["total"].as_u64().unwrap() > 0, "{c}");
    assert!(c["load"]["one"].is_u64() && c["cpu"][0]["threads"].as_u64().unwrap() > 0);
    // Still serving: a file stream plays (the folder's file h264_aac.flv is stream
    // "h264_aac.flv").
    let r = get(s.http.unwrap(), "/h264_aac.flv.flv", &[], 1 << 20, T);
    assert_eq!((r.status, &r.body[..3]), (200, &b"FLV"[..]));
    assert_eq!(api(a, &json!({"push_list": true}))["push_list"], json!([]));
}

#[test]
fn the_exposition_checker_rejects_what_prometheus_rejects() {
    let ok = "# HELP mist_a_total A.\n# TYPE mist_a_total counter\nmist_a_total{x=\"q\\\"\"} 1\n";
    assert_eq!(parse_exposition(ok)["mist_a_total{x=\"q\\\"\"}"], 1.0);
    for bad in [
        "# HELP mist_a A.\n# TYPE mist_a gauge\nmist_a{x=\"1} 1\n",
        "# HELP mist_a A.\n# TYPE mist_a gauge\nmist_a 1\n# HELP mist_b B.\n# TYPE mist_b gauge\nmist_b 1\nmist_a 2\n",
        "mist_a 1\n",
        "# HELP mist_a A.\n# TYPE mist_a gauge\nmist_a one\n",
        "# HELP mist_a A.\n# TYPE mist_a gauge\nmist_a{1x=\"a\"} 1\n",
        "# HELP mist_a A.\n# TYPE mist_a gauge\nmist_a 1\nmist_a 1\n",
        "# HELP mist_a A.\n# TYPE mist_a counter\nmist_a 1\n",
    ] {
        assert!(std::panic::catch_unwind(|| parse_exposition(bad)).is_err(), "accepted: {bad:?}");
    }
}

/// Oracle: the fixture's bytes as sent. A stream added through the API takes an RTMP
/// publisher, which shows in `clients` (protocol RTMP, the bytes it sent) and in
/// `active_streams`; deleting the stream closes the publisher's connection.
#[test]
fn an_rtmp_publisher_of_an_api_stream_is_counted_and_cut_off_by_deletestream() {
    use mist::formats::flv::reader::{Item, TagReader};
    use mist::formats::flv::tag::TagType;
    use mist::serve::rtmp::message::MessageType;
    use util::rtmp::RtmpClient;

    let s = Serve::start(&[]);
    let (a, rtmp) = (s.api.unwrap(), s.rtmp.unwrap());
    api(a, &json!({"addstream": {"studio": {"source": "push://"}}}));
    let mut r = TagReader::new();
    r.feed(bytes::Bytes::from(
        std::fs::read(fixture("h264_aac.flv")).unwrap(),
    ));
    let mut publisher = RtmpClient::connect(rtmp, "live").expect("connect");
    assert_eq!(
        publisher.publish("studio").unwrap(),
        "NetStream.Publish.Start"
    );
    let sid = publisher.stream_id;
    let mut sent = 0u64;
    while let Some(i) = r.next_item().unwrap() {
        if let Item::Tag(t) = i {
            let cs = if t.header.tag_type == TagType::VIDEO {
                6
            } else {
                4
            };
            let kind = MessageType(t.header.tag_type.0);
            publisher
                .message(cs, t.header.timestamp_ms, kind, sid, &t.body)
                .unwrap();
            sent += t.body.len() as u64;
        }
    }
    let up = until("the publisher's bytes in clients", || {
        let v = api(
            a,
            &json!({"clients": {"protocols": ["RTMP"], "fields": ["stream", "up"]}}),
        );
        let row = v["clients"]["data"].get(0)?.clone();
        assert_eq!(row[0], "studio");
        let up = row[1].as_u64()?;
        (up >= sent).then_some(up)
    });
    // Chunk headers and the commands come on top of the media.
    assert!(
        up < sent + sent / 5 + 4096,
        "{up} bytes for {sent} of media"
    );
    let v = api(
        a,
        &json!({"active_streams": {"fields": ["inputs", "status", "tracks"], "longform": true}}),
    );
    assert_eq!(
        v["active_streams"]["studio"],
        json!({"inputs": 1, "status": "Online", "tracks": 2})
    );
    api(a, &json!({"deletestream": "studio"}));
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Ok(Some(_)) = publisher.read_message(deadline) {}
    assert!(Instant::now() < deadline, "the publisher was not cut off");
}
