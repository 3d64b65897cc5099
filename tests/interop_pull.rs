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
