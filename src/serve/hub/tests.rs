//! The hub's rules, driven by hand-made packets with a manual waker.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::dtsc::{Codec, Meta, Ticks, Timebase, Track, TrackId, TrackKind};

fn client() -> Client {
    Client {
        peer: "127.0.0.1:5000".parse().unwrap(),
        protocol: "TEST",
    }
}

fn tracks() -> Vec<Track> {
    vec![
        Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS),
        Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS),
    ]
}

fn pkt(track: u32, ms: i64, key: bool, size: usize) -> Packet {
    Packet {
        track: TrackId(track),
        dts: Ticks(ms),
        cts: 0,
        keyframe: key,
        data: Bytes::from(vec![0u8; size]),
        pos: None,
    }
}

/// Publishes `secs` seconds of 25 fps video with a key every `gop` frames and 50 audio
/// packets a second, starting at `from_ms`.
fn feed(p: &mut Publisher, from_ms: i64, secs: i64, gop: i64) {
    for f in 0..secs * 25 {
        let t = from_ms + f * 40;
        p.push(pkt(1, t, f % gop == 0, 1000));
        p.push(pkt(2, t, true, 100));
        p.push(pkt(2, t + 20, true, 100));
    }
}

fn poll(v: &mut Viewer) -> Poll<ViewerEvent> {
    let mut cx = Context::from_waker(Waker::noop());
    v.poll_next(&mut cx)
}

fn packets(v: &mut Viewer) -> Vec<Arc<Entry>> {
    let mut out = Vec::new();
    while let Poll::Ready(ev) = poll(v) {
        match ev {
            ViewerEvent::Packets(p) => out.extend(p),
            ViewerEvent::Tracks(_) => {}
            ViewerEvent::End => break,
        }
    }
    out
}

#[test]
fn a_new_viewer_starts_with_the_tracks_then_the_newest_keyframe() {
    let hub = Hub::new(Config::default());
    let mut p = hub.publish("Cam1", client(), &[]).unwrap();
    assert_eq!(p.stream(), "cam1");
    p.set_tracks(tracks());
    feed(&mut p, 0, 5, 50); // keys at 0 and 2000 and 4000 ms
    let mut v = hub.view("cam1", client(), ViewOptions::default()).unwrap();
    match poll(&mut v) {
        Poll::Ready(ViewerEvent::Tracks(m)) => assert_eq!(m.tracks.len(), 2),
        other => panic!("expected tracks first, got {other:?}"),
    }
    let got = packets(&mut v);
    assert!(got[0].packet.keyframe && got[0].packet.track == TrackId(1));
    assert_eq!(got[0].ms, 4000);
    // Everything after the key, in publish order.
    assert_eq!(got.len(), 25 * 3);
    assert!(poll(&mut v).is_pending());
}

#[test]
fn the_window_is_bounded_by_the_dvr_time() {
    let mut config = Config::default();
    config.streams.insert(
        "live".into(),
        StreamConfig {
            name: "live".into(),
            source: "push://".into(),
            dvr: Some(10_000),
            ..StreamConfig::default()
        },
    );
    let hub = Hub::new(config);
    let mut p = hub.publish("live", client(), &[]).unwrap();
    p.set_tracks(tracks());
    feed(&mut p, 0, 120, 50);
    let s = hub.live_stream("live").unwrap();
    let (first, last) = s.window_ms().unwrap();
    // Whole 2 s key groups: the window starts at the newest key that still leaves >= 10 s.
    assert_eq!(last, 119_980);
    assert!(
        (10_000..12_000).contains(&(last - first)),
        "window {first}..{last}"
    );
    let (n, bytes) = s.buffered();
    assert!(
        n <= 12 * 75 && bytes <= 12 * 25 * 1200,
        "{n} packets, {bytes} bytes"
    );
}

#[test]
fn a_publisher_without_keyframes_is_bounded_in_time_too() {
    let hub = Hub::new(Config::default());
    let mut p = hub.publish("x", client(), &[]).unwrap();
    p.set_tracks(tracks());
    for f in 0..200 * 25 {
        p.push(pkt(1, f * 40, false, 1000));
    }
    let (first, last) = hub.live_stream("x").unwrap().window_ms().unwrap();
    assert!(last - first <= 50_000);
}

#[test]
fn a_viewer_that_falls_behind_skips_to_the_newest_key_and_is_counted() {
    let hub = Hub::new(Config::default());
    let mut p = hub.publish("x", client(), &[]).unwrap();
    p.set_tracks(tracks());
    feed(&mut p, 0, 2, 50);
    let mut v = hub.view("x", client(), ViewOptions::default()).unwrap();
    assert!(matches!(poll(&mut v), Poll::Ready(ViewerEvent::Tracks(_))));
    // The viewer reads nothing while 60 s are published (more than maxkeepaway, 45 s).
    feed(&mut p, 2000, 60, 50);
    let got = packets(&mut v);
    assert_eq!(got[0].ms, 60_000, "moved to the newest key");
    assert!(got[0].packet.keyframe);
    assert_eq!(
        hub.stats.skips.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let s = hub.live_stream("x").unwrap();
    assert_eq!(
        s.counters.skips.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn a_publisher_that_comes_back_continues_the_stream_with_increasing_times() {
    let hub = Hub::new(Config::default());
    let mut p = hub.publish("x", client(), &[]).unwrap();
    p.set_tracks(tracks());
    feed(&mut p, 0, 2, 50);
    let mut v = hub.view("x", client(), ViewOptions::default()).unwrap();
    let before = packets(&mut v);
    drop(p);
    assert!(matches!(
        hub.live_stream("x").unwrap().state(),
        State::Waiting { .. }
    ));
    // The encoder restarts its clock at 0.
    let mut p2 = hub.publish("x", client(), &[]).unwrap();
    p2.set_tracks(tracks());
    feed(&mut p2, 0, 2, 50);
    let after = packets(&mut v);
    assert!(!after.is_empty());
    let last_before = before.iter().map(|e| e.ms).max().unwrap();
    assert!(
        after[0].ms > last_before,
        "{} after {}",
        after[0].ms,
        last_before
    );
    assert!(after[0].epoch > before[0].epoch);
    for w in after
        .windows(2)
        .filter(|w| w[0].packet.track == w[1].packet.track)
    {
        assert!(w[1].packet.dts > w[0].packet.dts);
    }
    // The A/V relation of the new session is kept: audio sits 0 and 20 ms after its frame.
    let v0 = after.iter().find(|e| e.packet.track == TrackId(1)).unwrap();
    let a0 = after.iter().find(|e| e.packet.track == TrackId(2)).unwrap();
    assert_eq!(a0.ms - v0.ms, 0);
}

#[test]
fn a_second_publisher_takes_over() {
    let hub = Hub::new(Config::default());
    let mut p1 = hub.publish("x", client(), &[]).unwrap();
    p1.set_tracks(tracks());
    let mut p2 = hub.publish("x", client(), &[]).unwrap();
    assert!(!p1.is_current());
    assert!(
        !p1.push(pkt(1, 0, true, 10)),
        "the old publisher is refused"
    );
    assert!(p2.set_tracks(tracks()) && p2.push(pkt(1, 0, true, 10)));
    // Its closed() resolves at once.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(1), p1.closed())
            .await
            .unwrap()
    });
    // Dropping the old publisher does not end the new one's stream.
    drop(p1);
    assert_eq!(hub.live_stream("x").unwrap().state(), State::Live);
}

#[test]
fn viewers_get_the_end_after_the_grace_period() {
    let mut config = Config::default();
    config.streams.insert(
        "x".into(),
        StreamConfig {
            source: "push://".into(),
            grace: Some(0),
            ..StreamConfig::default()
        },
    );
    let hub = Hub::new(config);
    let mut p = hub.publish("x", client(), &[]).unwrap();
    p.set_tracks(tracks());
    feed(&mut p, 0, 1, 25);
    let mut v = hub.view("x", client(), ViewOptions::default()).unwrap();
    packets(&mut v);
    drop(p);
    std::thread::sleep(Duration::from_millis(5));
    hub.tick();
    assert!(matches!(poll(&mut v), Poll::Ready(ViewerEvent::End)));
    assert!(hub.live_stream("x").is_none());
    assert_eq!(
        hub.view("x", client(), ViewOptions::default()).unwrap_err(),
        HubError::Offline("x".into())
    );
}

#[test]
fn push_rules_and_stream_keys() {
    let mut config = Config {
        accept_unconfigured_push: false,
        ..Config::default()
    };
    config.streams.insert(
        "secure".into(),
        StreamConfig {
            source: "push://@s3cret".into(),
            ..StreamConfig::default()
        },
    );
    config.streamkeys.insert("KEY123".into(), "secure".into());
    let hub = Hub::new(config);
    let c = Client {
        peer: "10.1.2.3:1000".parse().unwrap(),
        protocol: "RTMP",
    };
    assert!(matches!(
        hub.publish("secure", c, &["live"]),
        Err(HubError::Refused(_))
    ));
    assert_eq!(
        hub.publish("secure", c, &["s3cret"]).unwrap().stream(),
        "secure"
    );
    assert_eq!(hub.publish("KEY123", c, &[]).unwrap().stream(), "secure");
    assert!(matches!(
        hub.publish("other", c, &[]),
        Err(HubError::Refused(_))
    ));
    assert!(matches!(
        hub.publish("/?..", c, &[]),
        Err(HubError::BadName(_))
    ));
}

#[test]
fn track_changes_reach_viewers_in_order() {
    let hub = Hub::new(Config::default());
    let mut p = hub.publish("x", client(), &[]).unwrap();
    p.set_tracks(tracks());
    feed(&mut p, 0, 1, 25);
    let mut v = hub.view("x", client(), ViewOptions::default()).unwrap();
    packets(&mut v);
    let mut t = tracks();
    t[0].init = Bytes::from_static(b"new avcC");
    p.set_tracks(t);
    p.push(pkt(1, 1000, true, 10));
    match poll(&mut v) {
        Poll::Ready(ViewerEvent::Tracks(m)) => assert_eq!(&m.tracks[0].init[..], b"new avcC"),
        other => panic!("{other:?}"),
    }
    let got = packets(&mut v);
    assert_eq!(got.len(), 1);
    let _: &Meta = &got[0].meta;
}

#[test]
fn segments_start_at_keys_at_least_the_segment_size_apart_and_count_across_reconnects() {
    let hub = Hub::new(Config::default());
    let mut p = hub.publish("x", client(), &[]).unwrap();
    p.set_tracks(tracks());
    // Keys every 1 s: segments need two of them (1900 ms minimum).
    feed(&mut p, 0, 9, 25);
    let s = hub.live_stream("x").unwrap();
    let (segs, v1) = s.segments();
    let starts: Vec<i64> = segs.iter().map(|s| s.start_ms).collect();
    assert_eq!(starts, vec![0, 2000, 4000, 6000, 8000]);
    assert_eq!(
        segs.iter().map(|s| s.number).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(segs[3].end_ms, Some(8000));
    assert_eq!(segs[4].end_ms, None, "the newest segment is still growing");
    assert!(s.segment(4).is_none());
    let (info, entries) = s.segment(1).unwrap();
    assert_eq!((info.start_ms, info.end_ms), (2000, Some(4000)));
    assert!(entries[0].packet.keyframe && entries[0].ms == 2000);
    assert!(entries.iter().all(|e| (2000..4000).contains(&e.ms)));
    assert_eq!(entries.len(), 2 * 75);
    // A reconnect opens a new segment at once, and numbers go on.
    drop(p);
    let mut p = hub.publish("x", client(), &[]).unwrap();
    p.set_tracks(tracks());
    feed(&mut p, 0, 3, 25);
    let (segs, v2) = s.segments();
    assert_ne!(v1, v2);
    let last: Vec<(u64, u64)> = segs
        .iter()
        .rev()
        .take(3)
        .map(|s| (s.number, s.epoch))
        .collect();
    assert_eq!(last, vec![(6, 2), (5, 2), (4, 1)]);
    // One session change so far: counted from segment 5 on.
    let disc: Vec<u64> = segs.iter().map(|s| s.discontinuities).collect();
    assert_eq!(disc, vec![0, 0, 0, 0, 0, 1, 1]);
    assert!(
        segs[5].start_ms > 8960,
        "after the first session's last packet"
    );
    // The window drops whole segments from the front.
    feed(&mut p, 3000, 120, 25);
    let (segs, _) = s.segments();
    let (first, _) = s.window_ms().unwrap();
    assert!(segs[0].start_ms >= first);
    // The count is kept by segments after the one that changed session left the window.
    assert!(segs[0].number > 5);
    assert!(segs.iter().all(|s| s.discontinuities == 1));
    assert!(s.unix_zero_ms().is_some());
}

#[test]
fn the_growing_segment_is_readable_so_far_and_complete_ones_equal_segment() {
    let hub = Hub::new(Config::default());
    let mut p = hub.publish("x", client(), &[]).unwrap();
    p.set_tracks(tracks());
    // Keys every 1 s for 5 s: segments at 0, 2000, 4000; the last one grows from 4000.
    feed(&mut p, 0, 5, 25);
    let s = hub.live_stream("x").unwrap();
    // Complete segments: the same as segment().
    for n in 0..2 {
        let (a, ea) = s.segment(n).unwrap();
        let (b, eb) = s.segment_so_far(n).unwrap();
        assert_eq!(a, b);
        assert_eq!(ea.len(), eb.len());
        assert!(ea.iter().zip(&eb).all(|(x, y)| Arc::ptr_eq(x, y)));
    }
    // The growing one: from its key to the newest packet (25 frames and 50 audio packets of
    // 4000..4999), no end yet.
    let (info, entries) = s.segment_so_far(2).unwrap();
    assert_eq!((info.start_ms, info.end_ms), (4000, None));
    assert!(entries[0].packet.keyframe && entries[0].ms == 4000);
    assert_eq!(entries.len(), 75);
    assert_eq!(entries.last().unwrap().ms, 4980);
    // More packets grow it; a key 2 s on completes it and opens the next.
    p.push(pkt(1, 5000, false, 10));
    assert_eq!(s.segment_so_far(2).unwrap().1.len(), 76);
    feed(&mut p, 5040, 1, 1000);
    p.push(pkt(1, 6040, true, 10));
    let (info, _) = s.segment_so_far(2).unwrap();
    assert_eq!(info.end_ms, Some(6040));
    assert_eq!(s.segment_so_far(3).unwrap().1.len(), 1);
    assert!(s.segment_so_far(9).is_none());
}

#[test]
fn waiters_are_woken_by_the_next_packet_and_by_the_end() {
    let hub = Hub::new(Config::default());
    let mut p = hub.publish("x", client(), &[]).unwrap();
    p.set_tracks(tracks());
    let s = hub.live_stream("x").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    // Nothing happens: the wait times out.
    let quiet =
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(50), s.changed()).await });
    assert!(quiet.is_err());
    // A packet published after the future was made wakes it, polled or not yet.
    let fut = s.changed();
    p.push(pkt(1, 0, true, 10));
    assert!(rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), fut).await })
        .is_ok());
    let fut = s.changed();
    s.end();
    assert!(rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), fut).await })
        .is_ok());
}
