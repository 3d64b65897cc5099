//! Access control: who may publish (stream keys, `push://HOST@PASSWORD`, per-stream publish
//! passwords, unconfigured names refused) and who may play (signed, expiring play tokens on
//! RTMP play, progressive HTTP and HLS), against a server running in this process and spoken
//! to over real sockets.
//!
//! Oracles: `openssl dgst -sha256 -hmac` computes the token signatures the server must accept
//! (the shell recipe of `src/serve/access.rs`); RTMP status codes and HTTP status codes as
//! the protocols define them.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mist::serve::config::{Config, StreamConfig};
use mist::serve::hub::Hub;
use mist::serve::{Server, Settings};
use serde_json::{json, Value};
use util::rtmp::{flv_tags, send_looped, RtmpClient};
use util::serve::get;
use util::*;

const T: Duration = Duration::from_secs(10);
const SECRET: &str = "s3cret key";

/// A server in this process with the streams of these tests.
struct Srv {
    _rt: tokio::runtime::Runtime,
    hub: Arc<Hub>,
    http: SocketAddr,
    rtmp: SocketAddr,
    api: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn stream(name: &str, source: &str) -> (String, StreamConfig) {
    (
        name.to_string(),
        StreamConfig {
            name: name.into(),
            source: source.into(),
            ..StreamConfig::default()
        },
    )
}

fn start() -> Srv {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = Config {
        accept_unconfigured_push: false,
        ..Config::default()
    };
    for (n, s) in [
        stream("open", "push://"),
        stream("hostonly", "push://10.9.9.9"),
        stream("pw", "push://10.9.9.9@sesame"),
        stream("keyed", "push://10.9.9.9"),
        stream("guarded", "push://"),
        stream("paid", "push://"),
    ] {
        config.streams.insert(n, s);
    }
    if let Some(s) = config.streams.get_mut("guarded") {
        s.publish_password = Some("letmein".into());
    }
    if let Some(s) = config.streams.get_mut("paid") {
        s.play_secret = Some(SECRET.into());
    }
    let any = "127.0.0.1:0".parse().ok();
    let server = rt
        .block_on(Server::bind(Settings {
            http: any,
            rtmp: any,
            api: any,
            config,
            ..Settings::default()
        }))
        .unwrap();
    let hub = server.hub().clone();
    let b = server.bound();
    let (http, rtmp, api) = (b.http.unwrap(), b.rtmp.unwrap(), b.api.unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Srv {
        _rt: rt,
        hub,
        http,
        rtmp,
        api,
        _stop: stop,
    }
}

/// `POST /api`; the parsed answer.
fn api(addr: SocketAddr, req: &Value) -> Value {
    let body = req.to_string();
    let mut s = TcpStream::connect_timeout(&addr, T).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(
        s,
        "POST /api HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: \
         application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    serde_json::from_slice(&raw[at..]).unwrap()
}

/// Publishes `name` on application `app`; the status code, and the client (kept open, so the
/// stream stays live while it lives).
fn publish(srv: &Srv, app: &str, name: &str) -> (String, RtmpClient) {
    let mut c = RtmpClient::connect(srv.rtmp, app).expect("connect");
    let code = c
        .publish(name)
        .unwrap_or_else(|e| format!("no answer: {e}"));
    (code, c)
}

fn play_code(srv: &Srv, name: &str) -> String {
    let mut c = RtmpClient::connect(srv.rtmp, "live").expect("connect");
    let sid = c.create_stream().expect("createStream");
    c.command(
        sid,
        "play",
        mist::formats::flv::amf0::Value::Null,
        vec![
            mist::serve::rtmp::command::s(name),
            mist::formats::flv::amf0::Value::Number(-2.0),
        ],
    )
    .expect("play");
    // Play.Reset comes before Play.Start; Play.Failed alone.
    for _ in 0..3 {
        match c.status(T, "NetStream.Play") {
            Ok(code) if code == "NetStream.Play.Reset" => continue,
            Ok(code) => return code,
            Err(e) => return format!("no answer: {e}"),
        }
    }
    "no answer".into()
}

const START: &str = "NetStream.Publish.Start";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The token for `stream` until `expires`, made by openssl (the independent oracle).
fn openssl_token(secret: &str, stream: &str, expires: u64) -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl (the test's oracle) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{stream}:{expires}").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.trim().rsplit(' ').next().unwrap().to_string();
    assert_eq!(hex.len(), 64, "{text}");
    format!("{expires}-{hex}")
}

#[test]
fn tokens_are_the_documented_hmac() {
    let t = mist::serve::access::sign(SECRET.as_bytes(), "paid", 1_900_000_000);
    assert_eq!(t, openssl_token(SECRET, "paid", 1_900_000_000));
}

#[test]
fn publishing_needs_a_key_a_host_or_a_password() {
    let srv = start();
    // Anyone may publish to an open push:// stream; nobody to a name not configured.
    assert_eq!(publish(&srv, "live", "open").0, START);
    assert_ne!(publish(&srv, "live", "nosuch").0, START);
    // push://10.9.9.9: only that host; this test connects from 127.0.0.1.
    assert_ne!(publish(&srv, "live", "hostonly").0, START);
    // push://10.9.9.9@sesame: the password as the application name or as ?password=.
    assert_ne!(publish(&srv, "live", "pw").0, START);
    assert_ne!(publish(&srv, "live", "pw?password=wrong").0, START);
    {
        let (code, _c) = publish(&srv, "sesame", "pw");
        assert_eq!(code, START);
    }
    // (The previous publisher is gone; its grace period does not block a new one.)
    assert_eq!(publish(&srv, "live", "pw?password=sesame").0, START);
    // A per-stream publish password on top of an open source.
    assert_ne!(publish(&srv, "live", "guarded").0, START);
    assert_eq!(publish(&srv, "live", "guarded?pass=letmein").0, START);
    // Stream keys through the API: the key publishes to its stream, whatever the host rule.
    assert_ne!(publish(&srv, "live", "k3y").0, START);
    let v = api(srv.api, &json!({"streamkey_add": {"k3y": "keyed"}}));
    assert_eq!(v["streamkey_add"]["added"], json!(["k3y"]), "{v}");
    let (code, _keeps_it_live) = publish(&srv, "live", "k3y");
    assert_eq!(code, START);
    assert!(srv.hub.lookup("keyed").is_ok(), "the key published 'keyed'");
    let v = api(srv.api, &json!({"streamkey_del": "k3y"}));
    assert_eq!(v["streamkey_del"]["deleted"], json!(["k3y"]), "{v}");
    assert_ne!(publish(&srv, "live", "k3y").0, START);
}

#[test]
fn a_stream_with_a_play_secret_plays_only_with_a_valid_token() {
    let srv = start();
    let (code, mut publisher) = publish(&srv, "live", "paid");
    assert_eq!(code, START);
    let tags = flv_tags(&fixture("h264_aac.flv"));
    send_looped(&mut publisher, &tags, 4).unwrap();
    let good = openssl_token(SECRET, "paid", now() + 600);
    let expired = openssl_token(SECRET, "paid", now() - 1);
    let other = openssl_token(SECRET, "open", now() + 600);
    let forged = openssl_token("not the secret", "paid", now() + 600);

    // RTMP play.
    assert_eq!(play_code(&srv, "paid"), "NetStream.Play.Failed");
    for bad in [&expired, &other, &forged] {
        assert_eq!(
            play_code(&srv, &format!("paid?tkn={bad}")),
            "NetStream.Play.Failed"
        );
    }
    assert_eq!(
        play_code(&srv, &format!("paid?tkn={good}")),
        "NetStream.Play.Start"
    );

    // Progressive HTTP: 403 without, with a bad token; the stream with a good one, by
    // query or cookie.
    let r = get(srv.http, "/paid.flv", &[], 1024, T);
    assert_eq!(r.status, 403);
    let r = get(srv.http, &format!("/paid.flv?tkn={expired}"), &[], 1024, T);
    assert_eq!(r.status, 403);
    let r = get(srv.http, &format!("/paid.flv?tkn={good}"), &[], 1024, T);
    assert_eq!(r.status, 200);
    assert!(
        r.body.starts_with(b"FLV"),
        "{:?}",
        &r.body[..r.body.len().min(16)]
    );
    let cookie = format!("tkn={good}");
    let r = get(srv.http, "/paid.flv", &[("Cookie", &cookie)], 1024, T);
    assert_eq!(r.status, 200);

    // HLS: every URI of the playlists carries the token, and the segments need it.
    let r = get(srv.http, "/hls/paid/index.m3u8", &[], 1 << 20, T);
    assert_eq!(r.status, 403);
    let r = get(
        srv.http,
        &format!("/hls/paid/index.m3u8?tkn={good}"),
        &[],
        1 << 20,
        T,
    );
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").is_some_and(|c| c.contains(&good)));
    let master = String::from_utf8(r.body).unwrap();
    let variant = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap_or_else(|| panic!("no variant: {master}"));
    assert!(variant.ends_with(&format!("tkn={good}")), "{variant}");
    let r = get(srv.http, &format!("/hls/paid/{variant}"), &[], 1 << 20, T);
    assert_eq!(r.status, 200, "{variant}");
    let media = String::from_utf8(r.body).unwrap();
    let seg = media
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap_or_else(|| panic!("no segment: {media}"));
    assert!(seg.contains(&format!("tkn={good}")), "{seg}");
    let dir = variant.rsplit_once('/').map_or("", |x| x.0);
    let r = get(
        srv.http,
        &format!("/hls/paid/{dir}/{seg}"),
        &[],
        16 << 20,
        T,
    );
    assert_eq!(r.status, 200, "{dir}/{seg}");
    assert!(!r.body.is_empty());
    let bare = seg.split('?').next().unwrap();
    let r = get(
        srv.http,
        &format!("/hls/paid/{dir}/{bare}"),
        &[],
        16 << 20,
        T,
    );
    assert_eq!(r.status, 403, "a segment without the token");

    // A stream without a secret plays for anyone.
    let (code, mut p2) = publish(&srv, "live", "open");
    assert_eq!(code, START);
    send_looped(&mut p2, &tags, 1).unwrap();
    assert_eq!(play_code(&srv, "open"), "NetStream.Play.Start");
}
