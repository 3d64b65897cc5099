//! Streams between servers, against peers that are not mist: ffmpeg as an RTMP server
//! (`-listen 1`) for mist's RTMP client, and (below) mist pulling from ffmpeg, nginx-rtmp and
//! other mist servers. Compiled with `--features interop`; every server binds 127.0.0.1 on a
//! port chosen at run time, every wait has a deadline, and a missing tool fails the test.
#![cfg(feature = "interop")]

mod util;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mist::formats::flv::reader::{Item, TagReader};
use mist::formats::flv::tag::TagType;
use mist::serve::rtmp::client::{ClientEvent, Mode};
use mist::serve::rtmp::client_conn::RtmpConn;
use mist::serve::rtmp::session::MediaKind;
use util::*;

/// A child process killed (and reaped) when dropped.
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Audio/video tags of a file (kind, timestamp, body); AVC end-of-sequence tags left out
/// (mist does not carry them).
fn flv_tags(path: &Path) -> Vec<(MediaKind, u32, Bytes)> {
    let mut r = TagReader::new();
    r.feed(std::fs::read(path).unwrap().into());
    let mut out = Vec::new();
    while let Some(item) = r.next_item().unwrap() {
        if let Item::Tag(t) = item {
            let kind = match t.header.tag_type {
                TagType::AUDIO => MediaKind::Audio,
                TagType::VIDEO if t.body.get(1) != Some(&2) => MediaKind::Video,
                _ => continue,
            };
            out.push((kind, t.header.timestamp_ms, t.body));
        }
    }
    out
}

/// Compares tag lists by (kind, time, size, bytes), reporting the first difference briefly.
fn assert_same_tags(got: &[(MediaKind, u32, Bytes)], want: &[(MediaKind, u32, Bytes)]) {
    let brief = |t: &(MediaKind, u32, Bytes)| format!("{:?} {} ms {} bytes", t.0, t.1, t.2.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g == w, "tag {i}: got {}, want {}", brief(g), brief(w));
    }
    assert_eq!(got.len(), want.len(), "tag count");
}

/// Opens an RTMP connection, retrying while the server is not listening yet (each refused
/// attempt costs a server that accepts once, like `ffmpeg -listen 1`, nothing).
async fn open_retrying(url: &str, mode: Mode) -> RtmpConn {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match RtmpConn::open(url, mode, Duration::from_secs(5)).await {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{url}: {e}"),
        }
    }
}

#[test]
fn rtmp_client_publishes_to_ffmpeg_as_a_server() {
    require("ffmpeg");
    require("ffprobe");
    let dir = TestDir::new("rtmp-client-ffmpeg-in");
    let out = dir.join("got.flv");
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/x");
    let _ff = Kid(Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-listen", "1", "-i", &url])
        .args(["-c", "copy", "-f", "flv"])
        .arg(&out)
        .stdout(Stdio::null())
        .spawn()
        .expect("run ffmpeg"));
    let tags = flv_tags(&fixture("h264_aac.flv"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = open_retrying(&url, Mode::Publish).await;
        for (kind, ts, body) in &tags {
            c.send_media(*kind, *ts, body).await.unwrap();
        }
        c.close().await;
    });
    let mut ff = _ff;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && ff.0.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ff.0.try_wait().unwrap().is_some(), "ffmpeg did not finish");
    // Oracle: ffmpeg wrote what it received; its tags must be ours, body for body.
    let got = flv_tags(&out);
    let strip = |v: &[(MediaKind, u32, Bytes)]| -> Vec<(MediaKind, Bytes)> {
        v.iter().map(|(k, _, b)| (*k, b.clone())).collect()
    };
    assert_eq!(strip(&got), strip(&tags));
    let decode = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&out)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    assert!(
        decode.status.success() && decode.stderr.is_empty(),
        "{decode:?}"
    );
}

#[test]
fn rtmp_client_plays_from_ffmpeg_as_a_server() {
    require("ffmpeg");
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/x");
    let fx = fixture("h264_aac.flv");
    let _ff = Kid(Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&fx)
        .args(["-c", "copy", "-f", "flv", "-listen", "1", &url])
        .stdout(Stdio::null())
        .spawn()
        .expect("run ffmpeg"));
    let tags = flv_tags(&fx);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let got = rt.block_on(async {
        let mut c = open_retrying(&url, Mode::Play).await;
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout_at(deadline, c.next_event()).await {
                // The end-of-sequence tag ffmpeg sends last is left out, as `flv_tags` does.
                Ok(Ok(Some(ClientEvent::Media(m))))
                    if !(m.kind == MediaKind::Video && m.body.get(1) == Some(&2)) =>
                {
                    got.push((m.kind, m.timestamp, m.body))
                }
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None)) | Ok(Err(_)) => break,
                Err(_) => panic!("ffmpeg did not end the stream within 20 s"),
            }
        }
        got
    });
    // Oracle: the fixture's tags, as ffmpeg (a server that is not mist) sent them.
    assert_same_tags(&got, &tags);
}

// ---- mist pulling from nginx-rtmp, mist and ffmpeg; ffmpeg playing what mist pulled ----

use std::sync::Arc;

use mist::serve::config::StreamConfig;
use mist::serve::hub::{Client, Hub, ViewOptions, ViewerEvent};
use mist::serve::{Bound, Config, Server, Settings};

/// A mist server running on `rt` until the runtime is dropped.
fn serve(
    rt: &tokio::runtime::Runtime,
    streams: &[(&str, String)],
    dtsc: bool,
) -> (Arc<Hub>, Bound) {
    let mut config = Config::default();
    for (name, source) in streams {
        config.streams.insert(
            name.to_string(),
            StreamConfig {
                name: name.to_string(),
                source: source.clone(),
                ..StreamConfig::default()
            },
        );
    }
    let any: Option<std::net::SocketAddr> = Some("127.0.0.1:0".parse().unwrap());
    let server = rt
        .block_on(Server::bind(Settings {
            rtmp: any,
            http: any,
            dtsc: if dtsc { any } else { None },
            config,
            ..Settings::default()
        }))
        .unwrap();
    let out = (server.hub().clone(), server.bound());
    rt.spawn(server.run(std::future::pending()));
    out
}

/// ffmpeg publishing `fixture` in real time, looped, to `url` (`-f flv` or `-f mpegts`).
fn ffmpeg_publish(fixture_name: &str, format: &str, url: &str) -> Kid {
    Kid(Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-stream_loop", "-1", "-i"])
        .arg(fixture(fixture_name))
        .args(["-c", "copy", "-f", format, url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ffmpeg"))
}

/// ffmpeg decodes 3 s of `url`: the frames it decoded; it must say nothing on stderr (no
/// decode error) and succeed.
fn decode(url: &str) -> usize {
    let mut c = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-rw_timeout",
            "15000000",
            "-i",
            url,
        ])
        .args(["-t", "3", "-f", "framemd5", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ffmpeg");
    let deadline = Instant::now() + Duration::from_secs(40);
    while c.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "ffmpeg playing {url} did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = c.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "{url}: {stderr}"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count()
}

#[test]
fn mist_pulls_rtmp_and_hls_from_nginx_rtmp_and_ffmpeg_plays_them() {
    require("ffmpeg");
    let ngx = util::nginx::start();
    let _pub = ffmpeg_publish(
        "h264_aac.flv",
        "flv",
        &format!("rtmp://127.0.0.1:{}/live/src", ngx.rtmp),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_hub, a) = serve(
        &rt,
        &[
            ("r", format!("rtmp://127.0.0.1:{}/live/src", ngx.rtmp)),
            ("h", format!("http://127.0.0.1:{}/hls/src.m3u8", ngx.http)),
        ],
        false,
    );
    // nginx-rtmp's playlist needs a few fragments first.
    std::thread::sleep(Duration::from_secs(4));
    let a = a.rtmp.unwrap();
    let frames = decode(&format!("rtmp://{a}/live/r"));
    assert!(frames > 60, "{frames} frames from the RTMP pull");
    let frames = decode(&format!("rtmp://{a}/live/h"));
    assert!(frames > 60, "{frames} frames from the HLS pull");
}

#[test]
fn mist_pulls_rtmp_and_http_ts_flv_from_mist_with_little_added_latency() {
    require("ffmpeg");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (hub_b, b) = serve(&rt, &[], false);
    let (b_rtmp, b_http) = (b.rtmp.unwrap(), b.http.unwrap());
    let _pub = ffmpeg_publish("h264_aac.flv", "flv", &format!("rtmp://{b_rtmp}/live/src"));
    let (hub_a, a) = serve(
        &rt,
        &[
            ("r", format!("rtmp://{b_rtmp}/live/src")),
            ("f", format!("http://{b_http}/src.flv")),
            ("t", format!("http://{b_http}/src.ts")),
        ],
        false,
    );
    std::thread::sleep(Duration::from_secs(1));
    // Latency: the same frames reach a viewer of B and a viewer of A's pull; A's arrive
    // later by what the pull adds.
    let arrivals = |hub: Arc<Hub>, name: &'static str| {
        rt.spawn(async move {
            let client = Client {
                peer: "127.0.0.1:1".parse().unwrap(),
                protocol: "TEST",
            };
            let mut v = hub.view(name, client, ViewOptions::default()).unwrap();
            let mut seen = std::collections::HashMap::new();
            let end = tokio::time::Instant::now() + Duration::from_secs(5);
            while let Ok(ev) = tokio::time::timeout_at(end, v.next()).await {
                match ev {
                    ViewerEvent::Packets(es) => {
                        for e in es {
                            seen.entry(e.packet.data.clone())
                                .or_insert_with(Instant::now);
                        }
                    }
                    ViewerEvent::End => break,
                    ViewerEvent::Tracks(_) => {}
                }
            }
            seen
        })
    };
    let at_a = arrivals(hub_a.clone(), "r");
    std::thread::sleep(Duration::from_millis(1500));
    let at_b = arrivals(hub_b.clone(), "src");
    let (at_a, at_b) = rt.block_on(async { (at_a.await.unwrap(), at_b.await.unwrap()) });
    let mut lat: Vec<i128> = at_b
        .iter()
        .filter_map(|(k, tb)| {
            at_a.get(k)
                .map(|ta| ta.duration_since(*tb).as_millis() as i128)
        })
        .collect();
    assert!(lat.len() > 50, "{} frames seen by both", lat.len());
    lat.sort_unstable();
    let p95 = lat[lat.len() * 95 / 100];
    eprintln!(
        "the pull adds {p95} ms (95th percentile of {} frames)",
        lat.len()
    );
    assert!(p95 < 500, "A adds {p95} ms (95th percentile)");
    let a = a.rtmp.unwrap();
    for name in ["r", "f", "t"] {
        let frames = decode(&format!("rtmp://{a}/live/{name}"));
        assert!(frames > 60, "{name}: {frames} frames");
    }
}

#[test]
fn mist_pulls_tsudp_from_ffmpeg_and_runs_ts_exec_ffmpeg() {
    require("ffmpeg");
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let ts = fixture("h264_aac.ts");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_hub, a) = serve(
        &rt,
        &[
            ("u", format!("tsudp://127.0.0.1:{port}")),
            (
                "x",
                format!(
                    "ts-exec:ffmpeg -nostdin -v error -re -stream_loop -1 -i '{}' -c copy -f mpegts -",
                    ts.display()
                ),
            ),
        ],
        false,
    );
    let _udp = ffmpeg_publish(
        "h264_aac.ts",
        "mpegts",
        &format!("udp://127.0.0.1:{port}?pkt_size=1316"),
    );
    let a = a.rtmp.unwrap();
    for name in ["u", "x"] {
        let frames = decode(&format!("rtmp://{a}/live/{name}"));
        assert!(frames > 60, "{name}: {frames} frames");
    }
}
