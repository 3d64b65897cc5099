//! Pulls, in process: mist A pulls from mist B over `rtmp://`, from test servers that replay
//! bytes (HTTP progressive FLV/TS/MP4, MistServer's `dtsc://` capture), from a command's
//! stdout (`ts-exec:`) and from UDP datagrams (`tsudp://`); sources that fail are retried with
//! back-off and the API shows why. Oracles: the fixtures' own tags and the file demuxers'
//! packets; the capture's packet counts from its README.

mod util;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mist::dtsc::TrackKind;
use mist::serve::config::StreamConfig;
use mist::serve::hub::{Client, Hub, Role, ViewOptions, ViewerEvent};
use mist::serve::input::pull::Phase;
use mist::serve::rtmp::client::{ClientEvent, Mode};
use mist::serve::rtmp::client_conn::RtmpConn;
use mist::serve::rtmp::session::MediaKind;
use mist::serve::{Config, Server, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use util::{fixture, interop};

/// A config with one stream `name` whose source is `source`.
fn config(streams: &[(&str, &str, bool)]) -> Config {
    let mut c = Config::default();
    for (name, source, always) in streams {
        let mut sc = StreamConfig {
            name: name.to_string(),
            source: source.to_string(),
            ..StreamConfig::default()
        };
        if *always {
            sc.extra.insert("always_on".into(), true.into());
        }
        c.streams.insert(name.to_string(), sc);
    }
    c
}

/// Starts a server; returns its hub, bound addresses and a stop switch.
async fn start(
    settings: Settings,
) -> (
    Arc<Hub>,
    mist::serve::Bound,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let server = Server::bind(settings).await.unwrap();
    let hub = server.hub().clone();
    let bound = server.bound();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    (hub, bound, stop, task)
}

fn client() -> Client {
    Client {
        peer: "127.0.0.1:1".parse().unwrap(),
        protocol: "TEST",
    }
}

/// Packets a viewer of `name` gets (track kind, dts in ms, keyframe, payload) until `n` arrived
/// or `limit` passed.
async fn view(
    hub: &Arc<Hub>,
    name: &str,
    n: usize,
    limit: Duration,
) -> Vec<(TrackKind, i64, bool, Bytes)> {
    view_until(hub, name, limit, |got| got.len() >= n).await
}

/// Like [`view`], until each kind has as many packets as `want` has (a source that ends is
/// pulled again: what comes after the first round is not looked at).
async fn view_like(
    hub: &Arc<Hub>,
    name: &str,
    want: &[(TrackKind, Bytes)],
) -> Vec<(TrackKind, Bytes)> {
    let (v, a) = (
        by_kind(want, TrackKind::Video).len(),
        by_kind(want, TrackKind::Audio).len(),
    );
    let got = view_until(hub, name, Duration::from_secs(10), |got| {
        got.iter().filter(|g| g.0 == TrackKind::Video).count() >= v
            && got.iter().filter(|g| g.0 == TrackKind::Audio).count() >= a
    })
    .await;
    got.into_iter().map(|g| (g.0, g.3)).collect()
}

async fn view_until(
    hub: &Arc<Hub>,
    name: &str,
    limit: Duration,
    done: impl Fn(&[(TrackKind, i64, bool, Bytes)]) -> bool,
) -> Vec<(TrackKind, i64, bool, Bytes)> {
    // A first viewer starts the pull; once media is there, the viewer that counts starts at
    // the oldest keyframe of the window (a live viewer otherwise starts at the newest, and the
    // pull may deliver a whole file before a viewer first looks).
    let first = hub.view(name, client(), ViewOptions::default()).unwrap();
    let deadline = tokio::time::Instant::now() + limit;
    while hub.live_stream(name).and_then(|s| s.window_ms()).is_none() {
        if tokio::time::Instant::now() > deadline {
            return Vec::new();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let opts = ViewOptions {
        start_ms: Some(i64::MIN),
        ..ViewOptions::default()
    };
    let mut v = hub.view(name, client(), opts).unwrap();
    drop(first);
    let mut got = Vec::new();
    let mut kinds = std::collections::HashMap::new();
    while !done(&got) {
        let ev = match tokio::time::timeout_at(deadline, v.next()).await {
            Ok(ev) => ev,
            Err(_) => break,
        };
        match ev {
            ViewerEvent::Tracks(m) => {
                for t in &m.tracks {
                    kinds.insert(t.id, t.kind);
                }
            }
            ViewerEvent::Packets(es) => {
                for e in es {
                    let k = kinds
                        .get(&e.packet.track)
                        .copied()
                        .unwrap_or(TrackKind::Meta);
                    got.push((k, e.ms, e.packet.keyframe, e.packet.data.clone()));
                }
            }
            ViewerEvent::End => break,
        }
    }
    got
}

/// The packets of a file, by the file demuxer (the oracle): (track kind, payload).
fn file_packets(name: &str) -> Vec<(TrackKind, Bytes)> {
    let mut d = mist::pipeline::open(&fixture(name)).unwrap();
    let meta = d.meta();
    let kinds: std::collections::HashMap<_, _> =
        meta.tracks.iter().map(|t| (t.id, t.kind)).collect();
    let mut out = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        out.push((kinds[&p.track], p.data));
    }
    out
}

/// Per kind, the payloads in order (interleaving across tracks may differ between a file
/// demuxer's time order and a stream's file order).
fn by_kind(v: &[(TrackKind, Bytes)], k: TrackKind) -> Vec<Bytes> {
    v.iter().filter(|x| x.0 == k).map(|x| x.1.clone()).collect()
}

#[test]
fn rtmp_pull_from_mist_feeds_viewers_what_was_published() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_hub_b, bound_b, stop_b, task_b) = start(Settings {
            rtmp: Some("127.0.0.1:0".parse().unwrap()),
            ..Settings::default()
        })
        .await;
        let b = bound_b.rtmp.unwrap();
        let (hub_a, bound_a, stop_a, task_a) = start(Settings {
            rtmp: Some("127.0.0.1:0".parse().unwrap()),
            config: config(&[("cam", &format!("rtmp://{b}/live/src"), false)]),
            ..Settings::default()
        })
        .await;
        // Published in real time, three times over (timestamps running on).
        let tags = util_tags("h264_aac.flv");
        let publish_url = format!("rtmp://{b}/live/src");
        let publisher = tokio::spawn(async move {
            let mut p = RtmpConn::open(&publish_url, Mode::Publish, Duration::from_secs(5))
                .await
                .unwrap();
            let t0 = tokio::time::Instant::now();
            for round in 0..3u32 {
                for (kind, ts, body) in &tags {
                    let at = round * 2080 + ts;
                    tokio::time::sleep_until(t0 + Duration::from_millis(u64::from(at))).await;
                    p.send_media(*kind, at, body).await.unwrap();
                }
            }
            p.close().await;
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A viewer of A over RTMP: its play starts the pull.
        let a = bound_a.rtmp.unwrap();
        let mut player = RtmpConn::open(
            &format!("rtmp://{a}/live/cam"),
            Mode::Play,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let mut got: Vec<(MediaKind, u32, Bytes)> = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let want_all = util_tags("h264_aac.flv");
        let last = want_all.last().unwrap().2.clone();
        let mut lasts = 0;
        while lasts < 3 {
            let ev = match tokio::time::timeout_at(deadline, player.next_event()).await {
                Ok(Ok(Some(ev))) => ev,
                _ => break,
            };
            if let ClientEvent::Media(m) = ev {
                if m.body == last {
                    lasts += 1;
                }
                got.push((m.kind, m.timestamp, m.body));
            }
        }
        // The pull saw the stream live; the API shows it active.
        let h = hub_a.pull("cam").expect("the pull runs");
        assert!(h.status().connections >= 1);
        publisher.await.unwrap();
        // Oracle: the fixture's tags, three times over; from the first keyframe A's viewer
        // got, every message is the published one, in order (end-of-sequence messages are not
        // carried by the hub).
        // Sequence headers are compared by the tracks, not here: the server sends them once
        // per play, not each time the publisher repeats them.
        let frames = |v: &[(MediaKind, u32, Bytes)]| -> Vec<(MediaKind, u32, Bytes)> {
            v.iter()
                .filter(|(_, _, b)| b.get(1).is_some_and(|t| *t == 1))
                .cloned()
                .collect()
        };
        let media = frames(&want_all);
        let got = frames(&got);
        let want: Vec<_> = media.iter().chain(&media).chain(&media).cloned().collect();
        let first = got
            .iter()
            .position(|(k, _, b)| *k == MediaKind::Video && b[0] >> 4 == 1)
            .expect("a keyframe");
        let have = &got[first..];
        let at = want.iter().position(|w| w.2 == have[0].2).unwrap();
        assert!(have.len() > 100, "only {} messages", have.len());
        for (i, (h, w)) in have.iter().zip(&want[at..]).enumerate() {
            assert_eq!((h.0, &h.2), (w.0, &w.2), "message {i}");
        }
        // Timestamps never go back.
        assert!(have.windows(2).all(|w| w[1].1 + 50 >= w[0].1));
        let _ = stop_a.send(());
        let _ = stop_b.send(());
        let _ = task_a.await;
        let _ = task_b.await;
    });
}

fn util_tags(name: &str) -> Vec<(MediaKind, u32, Bytes)> {
    use mist::formats::flv::reader::{Item, TagReader};
    use mist::formats::flv::tag::TagType;
    let mut r = TagReader::new();
    r.feed(std::fs::read(fixture(name)).unwrap().into());
    let mut out = Vec::new();
    while let Some(item) = r.next_item().unwrap() {
        if let Item::Tag(t) = item {
            let kind = match t.header.tag_type {
                TagType::AUDIO => MediaKind::Audio,
                TagType::VIDEO => MediaKind::Video,
                _ => continue,
            };
            out.push((kind, t.header.timestamp_ms, t.body));
        }
    }
    out
}

/// A TCP server answering every connection with `answer(request bytes)`, then closing.
async fn replay_server(
    answer: impl Fn(Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        for _ in 0..100 {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let answer = answer.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut req = vec![0u8; 4096];
                let n = tokio::time::timeout(Duration::from_millis(300), s.read(&mut req))
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                    .unwrap_or(0);
                req.truncate(n);
                seen.lock().unwrap().push(req.clone());
                let _ = s.write_all(&answer(req)).await;
                let _ = s.shutdown().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            });
        }
    });
    (addr, seen)
}

fn http_ok(body: Vec<u8>) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(&body);
    r
}

#[test]
fn http_progressive_pulls_of_flv_ts_and_mp4_give_the_demuxers_packets() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for file in ["h264_aac.flv", "h264_aac.ts", "faststart.mp4"] {
            let bytes = std::fs::read(fixture(file)).unwrap();
            let (addr, _) = replay_server(move |_| http_ok(bytes.clone())).await;
            let (hub, _, stop, task) = start(Settings {
                config: config(&[("p", &format!("http://{addr}/media/{file}"), false)]),
                ..Settings::default()
            })
            .await;
            let want = file_packets(file);
            let got = view_like(&hub, "p", &want).await;
            for k in [TrackKind::Video, TrackKind::Audio] {
                let (g, w) = (by_kind(&got, k), by_kind(&want, k));
                assert!(!w.is_empty(), "{file}");
                assert!(g.len() >= w.len(), "{file} {k:?}: {} of {} packets", g.len(), w.len());
                let first = (0..w.len()).find(|&i| g[i] != w[i]);
                assert!(
                    first.is_none(),
                    "{file} {k:?} payloads differ from {first:?} (got[0] is want[{:?}]): got sizes {:?}, want {:?}",
                    w.iter().position(|x| *x == g[0]),
                    g.iter().take(8).map(|b| b.len()).collect::<Vec<_>>(),
                    w.iter().take(8).map(|b| b.len()).collect::<Vec<_>>()
                );
            }
            let _ = stop.send(());
            let _ = task.await;
        }
    });
}

#[test]
fn ts_exec_pull_reads_a_commands_stdout() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let path = fixture("h264_aac.ts");
        let (hub, _, stop, task) = start(Settings {
            config: config(&[("x", &format!("ts-exec:cat '{}'", path.display()), false)]),
            ..Settings::default()
        })
        .await;
        let want = file_packets("h264_aac.ts");
        let got = view_like(&hub, "x", &want).await;
        for k in [TrackKind::Video, TrackKind::Audio] {
            let (g, w) = (by_kind(&got, k), by_kind(&want, k));
            assert!(
                g.len() >= w.len(),
                "{k:?}: {} of {} packets",
                g.len(),
                w.len()
            );
            assert!(g[..w.len()] == w[..], "{k:?} payloads differ");
        }
        let _ = stop.send(());
        let _ = task.await;
    });
}

#[test]
fn ts_udp_pull_reads_datagrams() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let port = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port()
        };
        let (hub, _, stop, task) = start(Settings {
            config: config(&[("u", &format!("tsudp://127.0.0.1:{port}"), false)]),
            ..Settings::default()
        })
        .await;
        let want = file_packets("h264_aac.ts");
        let data = std::fs::read(fixture("h264_aac.ts")).unwrap();
        let viewer = {
            let hub = hub.clone();
            let n = want.len();
            tokio::spawn(async move { view(&hub, "u", n, Duration::from_secs(10)).await })
        };
        // Let the pull bind, then send 7 TS packets per datagram, as ffmpeg does.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let tx = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for chunk in data.chunks(188 * 7) {
            tx.send_to(chunk, ("127.0.0.1", port)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let got = viewer.await.unwrap();
        let got: Vec<_> = got.into_iter().map(|g| (g.0, g.3)).collect();
        // The last packet of each track stays in the TS reader until the stream ends (a PES
        // ends at the next one): all but those arrive.
        for k in [TrackKind::Video, TrackKind::Audio] {
            let (g, w) = (by_kind(&got, k), by_kind(&want, k));
            assert!(
                g.len() + 1 >= w.len() && g.len() <= w.len(),
                "{k:?}: {} of {}; got[0] is want[{:?}]",
                g.len(),
                w.len(),
                w.iter().position(|x| *x == g[0])
            );
            assert_eq!(g[..], w[..g.len()], "{k:?}");
        }
        let _ = stop.send(());
        let _ = task.await;
    });
}

#[test]
fn dtsc_pull_reads_mistservers_capture() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // The capture starts with the server's `hi`; the test server sends it whatever the
        // client asked, and records what that was.
        let capture = std::fs::read(interop("dtsc_wire_pull_vod.bin")).unwrap();
        let (addr, seen) = replay_server(move |_| capture.clone()).await;
        let (hub, _, stop, task) = start(Settings {
            config: config(&[("vod", &format!("dtsc://{addr}/vod_idx0"), false)]),
            ..Settings::default()
        })
        .await;
        let got = view(&hub, "vod", 766, Duration::from_secs(10)).await;
        // README: 766 DTP2, track 1 (video) 298 with 5 keyframes, 0..9900 ms; track 2 (audio)
        // 468, 0..9962 ms.
        let video: Vec<_> = got.iter().filter(|g| g.0 == TrackKind::Video).collect();
        let audio: Vec<_> = got.iter().filter(|g| g.0 == TrackKind::Audio).collect();
        assert_eq!((video.len(), audio.len()), (298, 468));
        assert_eq!(video.iter().filter(|v| v.2).count(), 5);
        assert_eq!((video[0].1, video[297].1), (0, 9900));
        assert_eq!((audio[0].1, audio[467].1), (0, 9962));
        // What mist asked: one `play` of the stream named in the URL.
        let req = seen.lock().unwrap()[0].clone();
        let mut r = mist::dtsc::wire::Reader::new();
        r.feed(&req);
        match r.next_unit().unwrap() {
            Some((_, mist::dtsc::wire::Unit::Command(c))) => {
                assert_eq!(
                    c.get("cmd").and_then(|v| v.as_text()).as_deref(),
                    Some("play")
                );
                assert_eq!(
                    c.get("stream").and_then(|v| v.as_text()).as_deref(),
                    Some("vod_idx0")
                );
            }
            other => panic!("expected a DTCM play, got {other:?}"),
        }
        let _ = stop.send(());
        let _ = task.await;
    });
}

#[test]
fn failing_sources_are_retried_with_back_off_and_the_api_says_why() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (garbage, _) = replay_server(|_| b"HTTP/1.1 200 OK\r\n\r\nthis is not media at all".to_vec()).await;
        let (mid, _) = replay_server(|_| {
            let c = std::fs::read(interop("dtsc_wire_pull_vod.bin")).unwrap();
            c[..200].to_vec()
        })
        .await;
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (hub, bound, stop, task) = start(Settings {
            api: Some("127.0.0.1:0".parse().unwrap()),
            config: config(&[
                ("garbage", &format!("http://{garbage}/x.flv"), true),
                ("mid", &format!("dtsc://{mid}/s"), true),
                ("dead", &format!("rtmp://{dead}/live/x"), true),
            ]),
            ..Settings::default()
        })
        .await;
        // Always-on pulls start within a second; back-off 0.5 s, 1 s, 2 s: at least 3 failed
        // attempts within 4.5 s, not many more.
        tokio::time::sleep(Duration::from_millis(4500)).await;
        for name in ["garbage", "mid", "dead"] {
            let s = hub.pull(name).expect(name).status();
            assert!((2..=5).contains(&s.failures), "{name}: {} failures", s.failures);
            assert!(matches!(s.phase, Phase::Retrying { .. } | Phase::Connecting), "{name}");
            assert!(s.last_error.is_some(), "{name}");
        }
        let err = |n: &str| hub.pull(n).unwrap().status().last_error.unwrap();
        // Nothing recognises the bytes; the URL's extension then says FLV, and the FLV reader
        // refuses them.
        assert!(err("garbage").contains("bad FLV signature"), "{}", err("garbage"));
        assert!(err("mid").contains("closed") || err("mid").contains("ends early"), "{}", err("mid"));
        assert!(err("dead").contains("refused") || err("dead").contains("Connection"), "{}", err("dead"));
        // The API's streams answer carries the state and the error.
        let api = bound.api.unwrap();
        let body = {
            let mut s = tokio::net::TcpStream::connect(api).await.unwrap();
            let q = "GET /api?command=%7B%22streams%22%3Atrue%7D HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            s.write_all(q.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
            String::from_utf8_lossy(&out).into_owned()
        };
        let json_start = body.find("\r\n\r\n").unwrap() + 4;
        let v: serde_json::Value = serde_json::from_str(body[json_start..].trim()).unwrap_or_else(|e| panic!("{e}: {body}"));
        let dead_entry = &v["streams"]["dead"];
        assert_eq!(dead_entry["online"], 0, "{dead_entry}");
        assert!(dead_entry["error"].as_str().unwrap().contains("retrying"), "{dead_entry}");
        assert!(dead_entry["pull"]["last_error"].is_string(), "{dead_entry}");
        let _ = stop.send(());
        let _ = task.await;
    });
}

/// Publishes `tags` to `url` in real time, `rounds` times over (timestamps running on).
async fn publish_rounds(url: String, rounds: u32) {
    let tags = util_tags("h264_aac.flv");
    let mut p = RtmpConn::open(&url, Mode::Publish, Duration::from_secs(5))
        .await
        .unwrap();
    let t0 = tokio::time::Instant::now();
    for round in 0..rounds {
        for (kind, ts, body) in &tags {
            let at = round * 2080 + ts;
            tokio::time::sleep_until(t0 + Duration::from_millis(u64::from(at))).await;
            if p.send_media(*kind, at, body).await.is_err() {
                return;
            }
        }
    }
    p.close().await;
}

/// 4-byte length-prefixed NAL units without AUD (9), SPS (7) and PPS (8).
fn strip_nals(mut b: &[u8]) -> Bytes {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let Some(nal) = b.get(4..4 + n) else { break };
        if !matches!(nal.first().map(|h| h & 0x1f), Some(7..=9)) {
            out.extend_from_slice(&b[..4 + n]);
        }
        b = &b[4 + n..];
    }
    Bytes::from(out)
}

#[test]
fn hls_pull_of_a_live_playlist_served_by_mist() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_hub_b, bound_b, stop_b, task_b) = start(Settings {
            rtmp: Some("127.0.0.1:0".parse().unwrap()),
            http: Some("127.0.0.1:0".parse().unwrap()),
            ..Settings::default()
        })
        .await;
        let (b_rtmp, b_http) = (bound_b.rtmp.unwrap(), bound_b.http.unwrap());
        let publisher = tokio::spawn(publish_rounds(format!("rtmp://{b_rtmp}/live/src"), 6));
        // Let B cut a few segments before A pulls its playlist.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (hub_a, _, stop_a, task_a) = start(Settings {
            config: config(&[("h", &format!("http://{b_http}/hls/src/index.m3u8"), false)]),
            ..Settings::default()
        })
        .await;
        let got = view_until(&hub_a, "h", Duration::from_secs(15), |g| {
            g.iter().filter(|x| x.0 == TrackKind::Video).count() >= 60
        })
        .await;
        // Oracle: the published video frames (FLV AVC bodies after their 5-byte header; the
        // fixture's NAL lengths are 4 bytes, the hub's framing): what A's viewer got is a run
        // of them, in order, from a keyframe on.
        // The HLS segmenter adds access unit delimiters and repeats SPS/PPS in band: those NAL
        // types are left out on both sides.
        let published: Vec<Bytes> = util_tags("h264_aac.flv")
            .into_iter()
            .filter(|(k, _, b)| *k == MediaKind::Video && b.get(1) == Some(&1))
            .map(|(_, _, b)| strip_nals(&b[5..]))
            .collect();
        let video: Vec<(TrackKind, i64, bool, Bytes)> = got
            .iter()
            .filter(|x| x.0 == TrackKind::Video)
            .map(|x| (x.0, x.1, x.2, strip_nals(&x.3)))
            .collect();
        assert!(video.len() >= 60, "{} video packets", video.len());
        assert!(video[0].2, "starts at a keyframe");
        let at = published
            .iter()
            .position(|p| *p == video[0].3)
            .expect("a published frame");
        for (i, v) in video.iter().enumerate() {
            assert!(
                v.3 == published[(at + i) % published.len()],
                "video packet {i} is not the published frame"
            );
        }
        assert!(got.iter().any(|x| x.0 == TrackKind::Audio), "audio too");
        publisher.abort();
        let _ = stop_a.send(());
        let _ = stop_b.send(());
        let _ = task_a.await;
        let _ = task_b.await;
    });
}

#[test]
fn dtsc_push_into_mist_feeds_the_stream() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (hub, bound, stop, task) = start(Settings {
            dtsc: Some("127.0.0.1:0".parse().unwrap()),
            ..Settings::default()
        })
        .await;
        let mut s = tokio::net::TcpStream::connect(bound.dtsc.unwrap())
            .await
            .unwrap();
        let push = mist::dtsc::wire::unit::command(&[
            (
                "cmd",
                mist::dtsc::wire::Value::Str(Bytes::from_static(b"push")),
            ),
            (
                "stream",
                mist::dtsc::wire::Value::Str(Bytes::from_static(b"in")),
            ),
        ]);
        s.write_all(&push).await.unwrap();
        // hi, then ok.
        let mut got = Vec::new();
        let mut buf = vec![0u8; 4096];
        let mut cmds = Vec::new();
        while cmds.len() < 2 {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
            let mut r = mist::dtsc::wire::Reader::new();
            r.feed(&got);
            cmds.clear();
            while let Ok(Some((_, mist::dtsc::wire::Unit::Command(c)))) = r.next_unit() {
                cmds.push(c.get("cmd").and_then(|v| v.as_text()).unwrap_or_default());
            }
        }
        assert_eq!(cmds, ["hi", "ok"]);
        // The capture's header and packets (MistServer's own bytes) as the pushed stream.
        let capture = std::fs::read(interop("dtsc_wire_pull_vod.bin")).unwrap();
        let hi_len = 8 + u32::from_be_bytes(capture[4..8].try_into().unwrap()) as usize;
        let viewer = {
            let hub = hub.clone();
            tokio::spawn(async move { view(&hub, "in", 766, Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.write_all(&capture[hi_len..]).await.unwrap();
        let got = viewer.await.unwrap();
        let video = got.iter().filter(|g| g.0 == TrackKind::Video).count();
        let audio = got.iter().filter(|g| g.0 == TrackKind::Audio).count();
        assert_eq!((video, audio), (298, 468));
        let _ = stop.send(());
        let _ = task.await;
    });
}

#[test]
fn a_source_that_stalls_is_dropped_and_retried() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Accepts, reads, never answers, holds the connection for a minute.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            for _ in 0..10 {
                let Ok((s, _)) = l.accept().await else { return };
                held.push(s);
                if held.len() > 5 {
                    held.remove(0);
                }
            }
        });
        let (hub, _, stop, task) = start(Settings {
            config: config(&[("s", &format!("dtsc://{addr}/x"), true)]),
            ..Settings::default()
        })
        .await;
        let stall = mist::serve::input::pull::STALL;
        tokio::time::sleep(stall + Duration::from_secs(2)).await;
        let s = hub.pull("s").unwrap().status();
        assert!(s.failures >= 1, "the stall was noticed");
        let e = s.last_error.unwrap();
        assert!(
            e.contains(&format!("no data for {} s", stall.as_secs())),
            "{e}"
        );
        let _ = stop.send(());
        let _ = task.await;
    });
}

/// Open file descriptors and resident memory (kB) of this process.
fn fds_and_rss() -> (usize, u64) {
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    (fds, rss)
}

#[test]
fn a_hundred_pulls_of_one_source_stay_within_bounds() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (hub_b, bound_b, stop_b, task_b) = start(Settings {
            rtmp: Some("127.0.0.1:0".parse().unwrap()),
            ..Settings::default()
        })
        .await;
        let b = bound_b.rtmp.unwrap();
        let publisher = tokio::spawn(publish_rounds(format!("rtmp://{b}/live/src"), 5));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (fds0, rss0) = fds_and_rss();
        let names: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
        let source = format!("rtmp://{b}/live/src");
        let streams: Vec<(&str, &str, bool)> = names
            .iter()
            .map(|n| (n.as_str(), source.as_str(), true))
            .collect();
        let (hub_a, _, stop_a, task_a) = start(Settings {
            config: config(&streams),
            ..Settings::default()
        })
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let active = || {
            names
                .iter()
                .filter(|n| {
                    hub_a
                        .pull(n)
                        .is_some_and(|h| h.status().phase == Phase::Active)
                })
                .count()
        };
        while active() < 100 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(active(), 100, "every pull is active");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (fds1, rss1) = fds_and_rss();
        // One connection per pull on each side (both servers live in this process), and
        // the listeners and runtime of server A.
        let viewers_on_b = hub_b
            .stats
            .clients()
            .iter()
            .filter(|c| c.protocol == "RTMP" && c.role == Role::Output)
            .count();
        assert_eq!(viewers_on_b, 100);
        eprintln!(
            "100 pulls: {} more descriptors, {} kB more memory",
            fds1 - fds0,
            rss1.saturating_sub(rss0)
        );
        assert!(
            fds1 - fds0 <= 2 * 100 + 20,
            "{} more descriptors",
            fds1 - fds0
        );
        // Each pulled stream buffers a few seconds of a 270 kbit/s stream.
        assert!(
            rss1.saturating_sub(rss0) < 200 * 1024,
            "{} kB more memory for 100 pulls",
            rss1 - rss0
        );
        publisher.abort();
        let _ = stop_a.send(());
        let _ = task_a.await;
        let _ = stop_b.send(());
        let _ = task_b.await;
    });
}

#[test]
fn hls_pull_of_a_vod_playlist_served_by_mist_gives_the_files_frames() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let file = fixture("faststart.mp4");
        let (_hub_b, bound_b, stop_b, task_b) = start(Settings {
            http: Some("127.0.0.1:0".parse().unwrap()),
            config: config(&[("v", file.to_str().unwrap(), false)]),
            ..Settings::default()
        })
        .await;
        let b = bound_b.http.unwrap();
        let (hub_a, _, stop_a, task_a) = start(Settings {
            config: config(&[("hv", &format!("http://{b}/hls/v/index.m3u8"), false)]),
            ..Settings::default()
        })
        .await;
        let want = file_packets("faststart.mp4");
        let got = view_like(&hub_a, "hv", &want).await;
        // Oracle: the file demuxer's frames (parameter sets and delimiters the segmenter
        // adds left out on both sides), every one, in order.
        let strip = |v: Vec<Bytes>| -> Vec<Bytes> { v.iter().map(|b| strip_nals(b)).collect() };
        let (g, w) = (
            strip(by_kind(&got, TrackKind::Video)),
            strip(by_kind(&want, TrackKind::Video)),
        );
        assert!(
            g.len() >= w.len(),
            "{} of {} video frames",
            g.len(),
            w.len()
        );
        assert!(g[..w.len()] == w[..], "video frames differ");
        let (g, w) = (
            by_kind(&got, TrackKind::Audio),
            by_kind(&want, TrackKind::Audio),
        );
        assert!(
            g.len() >= w.len(),
            "{} of {} audio frames",
            g.len(),
            w.len()
        );
        assert!(g[..w.len()] == w[..], "audio frames differ");
        let _ = stop_a.send(());
        let _ = stop_b.send(());
        let _ = task_a.await;
        let _ = task_b.await;
    });
}

#[test]
fn an_on_demand_pull_stops_once_its_viewers_are_gone() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_hub_o, bo, stop_o, task_o) = start(Settings {
            rtmp: Some("127.0.0.1:0".parse().unwrap()),
            ..Settings::default()
        })
        .await;
        let o = bo.rtmp.unwrap();
        let publisher = tokio::spawn(publish_rounds(format!("rtmp://{o}/live/src"), 20));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (hub, _, stop, task) = start(Settings {
            config: config(&[("e", &format!("rtmp://{o}/live/src"), false)]),
            ..Settings::default()
        })
        .await;
        assert!(hub.pull("e").is_none(), "nothing pulled before a viewer");
        let got = view(&hub, "e", 20, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 20);
        // The viewers are gone: the pull lasts IDLE longer, then stops and the stream ends.
        let idle = mist::serve::input::pull::IDLE;
        tokio::time::sleep(idle - Duration::from_secs(2)).await;
        assert!(
            hub.pull("e").is_some(),
            "still pulling before {} s",
            idle.as_secs()
        );
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            hub.pull("e").is_none(),
            "stopped after {} s without viewers",
            idle.as_secs()
        );
        assert!(hub.live_stream("e").is_none());
        publisher.abort();
        let _ = stop.send(());
        let _ = stop_o.send(());
        let _ = task.await;
        let _ = task_o.await;
    });
}
