//! mist's RTMP client ([`RtmpConn`]) over real sockets against mist's own server: it
//! publishes a fixture's tags and plays them back, and every audio/video body arrives as
//! sent. (Against a server that is not mist's, ffmpeg's, see `interop_pull.rs`.)

mod util;

use std::time::Duration;

use bytes::Bytes;
use mist::formats::flv::reader::{Item, TagReader};
use mist::formats::flv::tag::TagType;
use mist::serve::rtmp::client::{ClientEvent, Mode};
use mist::serve::rtmp::client_conn::{RtmpClientError, RtmpConn};
use mist::serve::rtmp::session::MediaKind;
use mist::serve::{Server, Settings};
use util::fixture;

/// Every audio/video tag of a fixture: (kind, timestamp, body).
pub fn flv_tags(name: &str) -> Vec<(MediaKind, u32, Bytes)> {
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

const SETUP: Duration = Duration::from_secs(5);

#[test]
fn publishes_to_and_plays_from_mists_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = Server::bind(Settings {
            rtmp: Some("127.0.0.1:0".parse().unwrap()),
            ..Settings::default()
        })
        .await
        .unwrap();
        let addr = server.bound().rtmp.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let url = format!("rtmp://{addr}/live/cam");
        let tags = flv_tags("h264_aac.flv");
        let mut publisher = RtmpConn::open(&url, Mode::Publish, SETUP).await.unwrap();
        // The viewer joins before any media, so it gets everything from the first keyframe.
        let mut player = RtmpConn::open(&url, Mode::Play, SETUP).await.unwrap();
        for (kind, ts, body) in &tags {
            publisher.send_media(*kind, *ts, body).await.unwrap();
        }
        publisher.close().await;
        let first_frame = |v: &[(MediaKind, u32, Bytes)]| {
            v.iter()
                .position(|(k, _, b)| *k == MediaKind::Video && b.len() > 1 && b[1] == 1)
        };
        // mist's hub does not carry AVC end-of-sequence messages (packet type 2, no media), so
        // they are not expected back.
        let media: Vec<_> = tags
            .iter()
            .filter(|(k, _, b)| !(*k == MediaKind::Video && b.get(1) == Some(&2)))
            .cloned()
            .collect();
        let want = &media[first_frame(&media).unwrap()..];
        let mut got: Vec<(MediaKind, u32, Bytes)> = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let ev = tokio::time::timeout_at(deadline, player.next_event())
                .await
                .unwrap_or_else(|_| panic!("all media within 10 s; got {}", got.len()))
                .unwrap();
            match ev {
                Some(ClientEvent::Media(m)) => got.push((m.kind, m.timestamp, m.body)),
                Some(ClientEvent::Ended(_)) | None => break,
                Some(_) => {}
            }
            if got.last().map(|g| &g.2) == media.last().map(|t| &t.2) {
                break;
            }
        }
        // Oracle: the fixture's own tags. A live viewer starts at the newest keyframe when it
        // first looks (the publisher may be ahead by then), after the sequence headers the
        // server re-sends: from that keyframe on, everything must arrive as sent.
        let have = &got[first_frame(&got).unwrap()..];
        let at = want
            .iter()
            .position(|w| w.2 == have[0].2)
            .expect("the first frame played is one of the published keyframes");
        let want = &want[at..];
        assert_eq!(
            have.len(),
            want.len(),
            "media messages after the first frame"
        );
        for (i, (h, w)) in have.iter().zip(want).enumerate() {
            assert_eq!((h.0, &h.2), (w.0, &w.2), "message {i}");
        }
        let _ = stop.send(());
        let _ = task.await;
    });
}

#[test]
fn a_refused_play_and_a_dead_port_are_errors_that_say_why() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = mist::serve::Config {
            accept_unconfigured_push: false,
            ..Default::default()
        };
        let server = Server::bind(Settings {
            rtmp: Some("127.0.0.1:0".parse().unwrap()),
            config,
            ..Settings::default()
        })
        .await
        .unwrap();
        let addr = server.bound().rtmp.unwrap();
        let task = tokio::spawn(server.run(std::future::pending()));
        let e = RtmpConn::open(&format!("rtmp://{addr}/live/nothing"), Mode::Play, SETUP)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, RtmpClientError::Refused(w) if w.contains("StreamNotFound")),
            "{e}"
        );
        let e = RtmpConn::open(&format!("rtmp://{addr}/live/x"), Mode::Publish, SETUP)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not configured"), "{e}");
        task.abort();
        // A port nobody listens on.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let e = RtmpConn::open(&format!("rtmp://127.0.0.1:{port}/a/b"), Mode::Play, SETUP)
            .await
            .unwrap_err();
        assert!(matches!(e, RtmpClientError::Io(_)), "{e}");
        let e = RtmpConn::open("rtmp://127.0.0.1/only-app", Mode::Play, SETUP)
            .await
            .unwrap_err();
        assert!(matches!(e, RtmpClientError::BadUrl(_)), "{e}");
    });
}
