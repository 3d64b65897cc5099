//! Live streams over HTTP, with the publisher driven in-process through the hub (the RTMP
//! tests drive it over the wire): what a viewer receives is parsed back with mist's own
//! demuxers and compared with the packets published.

mod util;

use std::net::SocketAddr;
use std::time::Duration;

use mist::dtsc::{Packet, Timebase, TrackKind};
use mist::serve::config::{Config, StreamConfig};
use mist::serve::hub::{Client, Hub};
use mist::serve::{Server, Settings};
use util::serve::get;
use util::*;

fn publisher_client() -> Client {
    Client {
        peer: "127.0.0.1:1".parse().unwrap(),
        protocol: "TEST",
    }
}

/// Every packet of a fixture, with its tracks.
fn read_all(name: &str) -> (Vec<mist::dtsc::Track>, Vec<Packet>) {
    let mut d = mist::pipeline::open(&fixture(name)).unwrap();
    let tracks = d.meta().tracks.clone();
    let mut v = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        v.push(p);
    }
    (tracks, v)
}

/// Packets of a container's bytes, read back by mist.
fn demux(bytes: Vec<u8>, ext: &str) -> (Vec<mist::dtsc::Track>, Vec<Packet>) {
    let dir = TestDir::new("live-out");
    let p = dir.join(&format!("out.{ext}"));
    std::fs::write(&p, bytes).unwrap();
    let mut d = mist::pipeline::open(&p).unwrap();
    let tracks = d.meta().tracks.clone();
    let mut v = Vec::new();
    while let Some(pk) = d.next_packet().unwrap() {
        v.push(pk);
    }
    (tracks, v)
}

/// A packet's payload without the NAL units containers add or drop on their own (access unit
/// delimiters, parameter sets repeated before keyframes in TS); audio as it is.
fn media_nals(data: &[u8], kind: TrackKind) -> Vec<u8> {
    if kind != TrackKind::Video {
        return data.to_vec();
    }
    let mut out = Vec::new();
    let mut b = data;
    while b.len() >= 4 {
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let nal = &b[4..(4 + n).min(b.len())];
        if !nal.is_empty() && !matches!(nal[0] & 0x1f, 7..=9) {
            out.extend_from_slice(&b[..4 + nal.len()]);
        }
        b = &b[(4 + n).min(b.len())..];
    }
    out
}

fn start_server(
    rt: &tokio::runtime::Runtime,
    grace_ms: u64,
) -> (
    std::sync::Arc<Hub>,
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
) {
    let mut config = Config::default();
    config.streams.insert(
        "live".into(),
        StreamConfig {
            name: "live".into(),
            source: "push://".into(),
            grace: Some(grace_ms),
            ..StreamConfig::default()
        },
    );
    let server = rt
        .block_on(Server::bind(Settings {
            http: Some("127.0.0.1:0".parse().unwrap()),
            config,
            ..Settings::default()
        }))
        .unwrap();
    let hub = server.hub().clone();
    let http = server.bound().http.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(server.run(async move {
        let _ = stopped.await;
    }));
    (hub, http, stop)
}

#[test]
fn a_live_viewer_gets_the_stream_from_the_newest_keyframe_in_every_container() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tracks, packets) = read_all("h264_aac.flv");
    for ext in ["flv", "ts", "mp4"] {
        let (hub, http, stop) = start_server(&rt, 0);
        let mut p = hub.publish("live", publisher_client(), &[]).unwrap();
        p.set_tracks(tracks.clone());
        // Half the stream is published before the viewer comes.
        let half = packets.len() / 2;
        for pk in &packets[..half] {
            assert!(p.push(pk.clone()));
        }
        let viewer = std::thread::spawn(move || {
            get(
                http,
                &format!("/live.{ext}"),
                &[],
                64 << 20,
                Duration::from_secs(20),
            )
        });
        std::thread::sleep(Duration::from_millis(300));
        for pk in &packets[half..] {
            p.push(pk.clone());
        }
        // The publisher leaves; with no grace the stream ends and so does the response.
        drop(p);
        let r = viewer.join().unwrap();
        assert_eq!(r.status, 200, "{ext}: {}", String::from_utf8_lossy(&r.body));
        let (got_tracks, got) = demux(r.body, ext);
        assert_eq!(got_tracks.len(), 2, "{ext}");
        // The newest keyframe published before the viewer came, and everything after it.
        let video = tracks
            .iter()
            .find(|t| t.kind == TrackKind::Video)
            .unwrap()
            .id;
        let key = packets[..half]
            .iter()
            .rposition(|p| p.track == video && p.keyframe)
            .unwrap();
        let want: Vec<_> = packets[key..].iter().collect();
        let gv = got_tracks
            .iter()
            .find(|t| t.kind == TrackKind::Video)
            .unwrap();
        let first_video = got.iter().find(|p| p.track == gv.id).unwrap();
        assert!(first_video.keyframe, "{ext}: starts with a keyframe");
        for kind in [TrackKind::Video, TrackKind::Audio] {
            let src = tracks.iter().find(|t| t.kind == kind).unwrap();
            let out = got_tracks.iter().find(|t| t.kind == kind).unwrap();
            let a: Vec<(i64, Vec<u8>)> = want
                .iter()
                .filter(|p| p.track == src.id)
                .map(|p| {
                    (
                        src.timebase.rescale(p.pts().0, Timebase::MS),
                        media_nals(&p.data, kind),
                    )
                })
                .collect();
            let b: Vec<(i64, Vec<u8>)> = got
                .iter()
                .filter(|p| p.track == out.id)
                .map(|p| {
                    (
                        out.timebase.rescale(p.pts().0, Timebase::MS),
                        media_nals(&p.data, kind),
                    )
                })
                .collect();
            let (a_n, b_n) = (a.len(), b.len());
            // TS rounds AAC times to 90 kHz and back; payload and order must be identical.
            assert_eq!(a_n, b_n, "{ext} {kind:?}: packet count");
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x.0 - y.0).abs() <= 1,
                    "{ext} {kind:?}: time {} vs {}",
                    x.0,
                    y.0
                );
                assert!(x.1 == y.1, "{ext} {kind:?}: payload at {}", x.0);
            }
        }
        let _ = stop.send(());
    }
}

#[test]
fn a_publisher_that_reconnects_within_the_grace_period_continues_for_the_viewer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tracks, packets) = read_all("h264_aac.flv");
    let (hub, http, stop) = start_server(&rt, 3000);
    let mut p = hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.clone());
    for pk in &packets {
        p.push(pk.clone());
    }
    let viewer =
        std::thread::spawn(move || get(http, "/live.flv", &[], 64 << 20, Duration::from_secs(20)));
    std::thread::sleep(Duration::from_millis(300));
    drop(p);
    std::thread::sleep(Duration::from_millis(500));
    // The encoder comes back and starts its clock at 0 again.
    let mut p = hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.clone());
    for pk in &packets {
        p.push(pk.clone());
    }
    hub.stop("live");
    let r = viewer.join().unwrap();
    let (got_tracks, got) = demux(r.body, "flv");
    let vid = got_tracks
        .iter()
        .find(|t| t.kind == TrackKind::Video)
        .unwrap()
        .id;
    let times: Vec<i64> = got
        .iter()
        .filter(|p| p.track == vid)
        .map(|p| p.dts.0)
        .collect();
    let src_video = packets
        .iter()
        .filter(|p| {
            p.track == tracks[0].id
                || tracks
                    .iter()
                    .any(|t| t.id == p.track && t.kind == TrackKind::Video)
        })
        .count();
    assert!(
        times.len() > src_video,
        "the second session reached the viewer: {} frames",
        times.len()
    );
    assert!(
        times.windows(2).all(|w| w[1] > w[0]),
        "decode times increase across the reconnect"
    );
    let _ = stop.send(());
}
