//! `mist serve` over RTMP with mist's own test client only (no ffmpeg needed): what a
//! publisher sends comes back to a player byte for byte.

mod util;

use std::time::{Duration, Instant};

use bytes::Bytes;
use mist::formats::flv::amf0::Value;
use mist::formats::flv::reader::{Item, TagReader};
use mist::formats::flv::tag::TagType;
use mist::serve::rtmp::command::{encode_values, s};
use mist::serve::rtmp::message::MessageType;
use util::rtmp::RtmpClient;
use util::serve::Serve;

/// `mist serve ARGS` and its RTMP address.
fn start(args: &[&str]) -> (Serve, std::net::SocketAddr) {
    let s = Serve::start(args);
    let rtmp = s.rtmp.expect("mist serve printed no RTMP address");
    (s, rtmp)
}

/// The tags of a fixture: (type, timestamp, body).
fn tags(name: &str) -> Vec<(TagType, u32, Bytes)> {
    let mut r = TagReader::new();
    r.feed(Bytes::from(
        std::fs::read(util::fixture(name)).expect("fixture"),
    ));
    let mut v = Vec::new();
    while let Some(i) = r.next_item().expect("fixture parses") {
        if let Item::Tag(t) = i {
            v.push((t.header.tag_type, t.header.timestamp_ms, t.body));
        }
    }
    v
}

fn kind(t: TagType) -> MessageType {
    MessageType(t.0)
}

/// Oracle: the fixture's own tags. A publisher sends every tag of `h264_aac.flv` (as an
/// encoder would: sequence headers, then frames); a player that joins after the first
/// keyframe receives, from that keyframe on, every audio and video frame with the same
/// timestamp and the same body (the FLV tag body is rebuilt from the hub's packet, so this
/// checks the reader, the hub and the shared chunk encoder together).
#[test]
fn what_is_published_is_played_back_byte_for_byte() {
    let (_server, rtmp) = start(&["--stream", "rt=push://"]);
    let all = tags("h264_aac.flv");
    let mut publisher = RtmpClient::connect(rtmp, "live").expect("publisher connects");
    assert_eq!(
        publisher.publish("rt").expect("publish"),
        "NetStream.Publish.Start"
    );
    let sid = publisher.stream_id;
    let meta = encode_values(&[
        s("@setDataFrame"),
        s("onMetaData"),
        Value::EcmaArray(vec![("width".into(), Value::Number(320.0))]),
    ]);
    publisher
        .message(5, 0, MessageType::DATA_AMF0, sid, &meta)
        .expect("metadata");
    let send = |p: &mut RtmpClient, t: &(TagType, u32, Bytes)| {
        let cs = if t.0 == TagType::VIDEO { 6 } else { 4 };
        p.message(cs, t.1, kind(t.0), sid, &t.2).expect("send");
    };
    // Everything up to and including the first video keyframe frame, then a player joins.
    let first_key = all
        .iter()
        .position(|t| t.0 == TagType::VIDEO && t.2[0] >> 4 == 1 && t.2[1] == 1)
        .expect("a keyframe");
    for t in &all[..=first_key] {
        send(&mut publisher, t);
    }
    let mut player = RtmpClient::connect(rtmp, "live").expect("player connects");
    // Wait until the hub has the keyframe, then play.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match player.play("rt") {
            Ok(code) if code == "NetStream.Play.Start" => break,
            other => {
                assert!(Instant::now() < deadline, "play never started: {other:?}");
                std::thread::sleep(Duration::from_millis(100));
                player = RtmpClient::connect(rtmp, "live").expect("player connects");
            }
        }
    }
    for t in &all[first_key + 1..] {
        send(&mut publisher, t);
    }
    let want: Vec<(MessageType, u32, Bytes)> = all[first_key..]
        .iter()
        // Frames: AVC and AAC packet type 1 (not sequence headers or the end of sequence).
        .filter(|t| matches!(t.0, TagType::AUDIO | TagType::VIDEO) && t.2.get(1) == Some(&1))
        .map(|t| (kind(t.0), t.1, t.2.clone()))
        .collect();
    // The fixture's second GOP and its audio: dozens of frames.
    assert!(want.len() > 40, "only {} frames to compare", want.len());
    let mut got = Vec::new();
    let mut headers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < want.len() {
        let Some(m) = player.read_message(deadline).expect("read") else {
            break;
        };
        if !matches!(m.kind, MessageType::AUDIO | MessageType::VIDEO) {
            continue;
        }
        if m.body.get(1) == Some(&0) {
            headers.push((m.kind, m.body.clone()));
            continue;
        }
        assert!(
            !headers.is_empty(),
            "a frame came before the sequence headers"
        );
        got.push((m.kind, m.timestamp, m.body));
    }
    assert_eq!(got.len(), want.len(), "frames played back");
    for (n, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "frame {n} differs");
    }
    // The sequence headers are the fixture's, too.
    let seq: Vec<(MessageType, Bytes)> = all
        .iter()
        .filter(|t| t.2.len() > 1 && t.2[1] == 0 && t.1 == 0)
        .map(|t| (kind(t.0), t.2.clone()))
        .collect();
    assert_eq!(headers.len(), 2, "one AVC and one AAC sequence header");
    for h in &headers {
        assert!(
            seq.contains(h),
            "sequence header {h:?} is not the publisher's"
        );
    }
}

/// A second publisher to a live name takes it over; the first one's connection is closed.
#[test]
fn a_second_publisher_takes_over() {
    let (_server, rtmp) = start(&["--stream", "cam=push://"]);
    let mut first = RtmpClient::connect(rtmp, "live").expect("connect");
    assert_eq!(
        first.publish("cam").expect("publish"),
        "NetStream.Publish.Start"
    );
    let mut second = RtmpClient::connect(rtmp, "live").expect("connect");
    assert_eq!(
        second.publish("cam").expect("publish"),
        "NetStream.Publish.Start"
    );
    // The first connection ends (the server closes it) within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Ok(Some(_)) = first.read_message(deadline) {}
    assert!(
        Instant::now() < deadline,
        "the first publisher was not closed"
    );
}

/// Names that cannot be streams are refused with the codes clients know.
#[test]
fn bad_names_are_refused() {
    let (_server, rtmp) = start(&[]);
    let mut c = RtmpClient::connect(rtmp, "live").expect("connect");
    assert_eq!(
        c.publish("!!!").expect("answer"),
        "NetStream.Publish.BadName"
    );
    let mut c = RtmpClient::connect(rtmp, "live").expect("connect");
    assert_eq!(
        c.play("nothing_here").expect("answer"),
        "NetStream.Play.StreamNotFound"
    );
}
