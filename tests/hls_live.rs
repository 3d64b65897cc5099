//! Live HLS (TS and fMP4) from the hub, with the publisher driven in-process and faster than
//! real time: the playlists follow RFC 8216's live rules (a sliding window of complete
//! segments, EXT-X-MEDIA-SEQUENCE rising by exactly the segments dropped, discontinuities
//! across publisher sessions), segments play as one stream across their boundaries, bad
//! segment requests get 4xx, and memory stays flat over a simulated hour.
//!
//! Oracles: the RFC's rules checked on the playlists as served (parsed by mist's playlist
//! reader, whose parser has its own tests against the RFC's examples), the packets published
//! (times and counts), ISO/IEC 13818-1's continuity-counter rule on the concatenated segments.

mod util;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mist::dtsc::{Packet, Timebase, Track, TrackKind};
use mist::package::hls::parse::{parse, Media, Playlist};
use mist::serve::config::{Config, StreamConfig};
use mist::serve::hub::{Client, Hub, Publisher};
use mist::serve::{Server, Settings};
use util::serve::{get, Response};
use util::*;

/// One loop of the fixture in ms.
const LOOP_MS: i64 = 2000;

fn publisher_client() -> Client {
    Client {
        peer: "127.0.0.1:1".parse().unwrap(),
        protocol: "TEST",
    }
}

/// The fixture's tracks and its packets cut to exactly [`LOOP_MS`], so loops can follow each
/// other with times that keep rising.
fn fixture_loop() -> (Vec<Track>, Vec<Packet>) {
    let mut d = mist::pipeline::open(&fixture("h264_aac.flv")).unwrap();
    let tracks = d.meta().tracks.clone();
    let mut v = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        let tb = tracks.iter().find(|t| t.id == p.track).unwrap().timebase;
        if tb.rescale(p.dts.0, Timebase::MS) < LOOP_MS {
            v.push(p);
        }
    }
    (tracks, v)
}

/// Loop `i` of the fixture: every time moved `i` loops on.
fn loop_packets(tracks: &[Track], packets: &[Packet], i: i64) -> Vec<Packet> {
    packets
        .iter()
        .map(|p| {
            let tb = tracks.iter().find(|t| t.id == p.track).unwrap().timebase;
            let mut q = p.clone();
            q.dts = q.dts + Timebase::MS.rescale(i * LOOP_MS, tb);
            q
        })
        .collect()
}

struct Live {
    rt: tokio::runtime::Runtime,
    hub: Arc<Hub>,
    http: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // Let the server finish its shutdown before the runtime goes.
        std::thread::sleep(Duration::from_millis(50));
        let _ = &self.rt;
    }
}

fn start(dvr_ms: u64, grace_ms: u64) -> Live {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = Config::default();
    config.streams.insert(
        "live".into(),
        StreamConfig {
            name: "live".into(),
            source: "push://".into(),
            dvr: Some(dvr_ms),
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
    Live {
        rt,
        hub,
        http,
        stop: Some(stop),
    }
}

fn fetch(http: SocketAddr, path: &str) -> Response {
    get(http, path, &[], 64 << 20, Duration::from_secs(20))
}

/// A media playlist as served, parsed, with no broken MUST of the RFC.
fn media(http: SocketAddr, path: &str) -> (Media, String) {
    let r = fetch(http, path);
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let text = String::from_utf8(r.body).unwrap();
    let (p, problems) = parse(&text);
    let errors: Vec<_> = problems.iter().filter(|p| p.error).collect();
    assert!(errors.is_empty(), "{path}: {errors:?}\n{text}");
    match p {
        Some(Playlist::Media(m)) => (m, text),
        other => panic!("{path}: not a media playlist: {other:?}"),
    }
}

fn publish(live: &Live, tracks: &[Track]) -> Publisher {
    let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.to_vec());
    p
}

#[test]
fn live_playlists_list_the_window_of_complete_segments_and_count_what_they_drop() {
    let (tracks, packets) = fixture_loop();
    for (prefix, variant) in [("hls", "1_2"), ("cmaf", "1")] {
        let live = start(10_000, 0);
        let mut p = publish(&live, &tracks);
        let path = format!("/{prefix}/live/{variant}/index.m3u8");
        // Sequence number of every segment URI seen, across all playlists.
        let mut numbers: HashMap<String, u64> = HashMap::new();
        let mut last_seq = 0;
        let mut dropped_seen = 0;
        for i in 0..30 {
            for pk in loop_packets(&tracks, &packets, i) {
                assert!(p.push(pk));
            }
            let newest_ms = (i + 1) * LOOP_MS;
            if i < 1 {
                continue;
            }
            let (m, text) = media(live.http, &path);
            assert!(m.playlist_type.is_none() && !m.endlist, "{text}");
            assert!(!m.segments.is_empty(), "{text}");
            // Never more than the DVR window.
            let listed: i64 = m.segments.iter().map(|s| s.duration_ms).sum();
            assert!(listed <= 10_000, "{prefix}: {listed} ms listed:\n{text}");
            // Only complete segments: each one ends before the newest packet, and is there.
            for s in &m.segments {
                let r = fetch(live.http, &format!("/{prefix}/live/{variant}/{}", s.uri));
                assert_eq!(r.status, 200, "{prefix}: {}", s.uri);
                assert!(!r.body.is_empty());
                if let Some(n) = numbers.insert(s.uri.clone(), s.number) {
                    assert_eq!(
                        n, s.number,
                        "{prefix}: {} changed its sequence number",
                        s.uri
                    );
                }
            }
            let start_of = |uri: &str| -> i64 {
                let digits: String = uri
                    .trim_start_matches("chunk_")
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                digits.parse().unwrap()
            };
            let last = m.segments.last().unwrap();
            assert!(
                start_of(&last.uri) + last.duration_ms <= newest_ms,
                "{prefix}: a segment not yet complete is listed:\n{text}"
            );
            // EXT-X-MEDIA-SEQUENCE rises by exactly the segments that left the front.
            assert!(m.media_sequence >= last_seq);
            dropped_seen += m.media_sequence - last_seq;
            last_seq = m.media_sequence;
            // TARGETDURATION: every segment fits (the parser checked it) and it is 2 here.
            assert_eq!(m.target_duration, Some(2), "{text}");
            // Live playlists carry the wall clock of each segment.
            assert!(m.segments.iter().all(|s| s.program_date_time.is_some()));
        }
        assert!(
            dropped_seen >= 8,
            "{prefix}: the window moved: {dropped_seen}"
        );
        drop(p);
    }
}

/// Continuity counters of every PID in `ts`, checked across the whole buffer (13818-1
/// §2.4.3.3: +1 mod 16 per packet with payload; PAT, PMT and media PIDs alike).
fn assert_cc_continuous(ts: &[u8]) {
    let mut last: HashMap<u16, u8> = HashMap::new();
    for (i, p) in ts.chunks(188).enumerate() {
        assert_eq!(p[0], 0x47, "sync byte of packet {i}");
        let pid = u16::from_be_bytes([p[1], p[2]]) & 0x1FFF;
        if p[3] & 0x10 == 0 {
            continue;
        }
        let cc = p[3] & 0x0F;
        if let Some(prev) = last.insert(pid, cc) {
            assert_eq!(cc, (prev + 1) & 0x0F, "PID {pid:#x} at packet {i}");
        }
    }
}

#[test]
fn consecutive_live_segments_play_as_one_stream() {
    let (tracks, packets) = fixture_loop();
    let live = start(30_000, 0);
    let mut p = publish(&live, &tracks);
    for i in 0..8 {
        for pk in loop_packets(&tracks, &packets, i) {
            p.push(pk);
        }
    }
    let (m, _) = media(live.http, "/hls/live/1_2/index.m3u8");
    let mut all = Vec::new();
    for s in &m.segments {
        let r = fetch(live.http, &format!("/hls/live/1_2/{}", s.uri));
        assert_eq!(r.status, 200);
        // Every segment starts with PAT and PMT.
        let pid =
            |k: usize| u16::from_be_bytes([r.body[k * 188 + 1], r.body[k * 188 + 2]]) & 0x1FFF;
        assert_eq!((pid(0), pid(1)), (0, 0x1000), "{}", s.uri);
        all.extend_from_slice(&r.body);
    }
    assert_cc_continuous(&all);
    // Read back as one file: decode times rise, and every video frame of those segments is
    // there once.
    let dir = TestDir::new("hls-live-concat");
    let f = dir.join("all.ts");
    std::fs::write(&f, &all).unwrap();
    let mut d = mist::pipeline::open(&f).unwrap();
    let meta = d.meta().clone();
    let video = meta
        .tracks
        .iter()
        .find(|t| t.kind == TrackKind::Video)
        .unwrap()
        .id;
    let mut last: HashMap<u32, i64> = HashMap::new();
    let mut frames = 0;
    while let Some(pk) = d.next_packet().unwrap() {
        if let Some(l) = last.insert(pk.track.0, pk.dts.0) {
            assert!(pk.dts.0 > l, "track {} goes back at {}", pk.track, pk.dts.0);
        }
        if pk.track == video {
            frames += 1;
        }
    }
    let listed_ms: i64 = m.segments.iter().map(|s| s.duration_ms).sum();
    assert_eq!(
        frames as i64,
        listed_ms / 40,
        "25 fps over the listed segments"
    );

    // fMP4: init + segments read back as one fragmented file, times continuous.
    let (m, _) = media(live.http, "/cmaf/live/1/index.m3u8");
    let mut mp4 = fetch(live.http, "/cmaf/live/1/init.m4s").body;
    let mut seqs = Vec::new();
    for s in &m.segments {
        let b = fetch(live.http, &format!("/cmaf/live/1/{}", s.uri)).body;
        // moof, then mfhd's sequence_number at bytes 20..24.
        assert_eq!(&b[12..16], b"mfhd");
        seqs.push(u32::from_be_bytes([b[20], b[21], b[22], b[23]]));
        mp4.extend_from_slice(&b);
    }
    // Sequence numbers rise (ISO/IEC 14496-12 §8.8.5); live segments are LL-HLS parts one
    // after the other, numbered through parts, so they rise by more than one.
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
    let f = dir.join("all.mp4");
    std::fs::write(&f, &mp4).unwrap();
    let mut d = mist::pipeline::open(&f).unwrap();
    let tb = d.meta().tracks[0].timebase;
    let mut times = Vec::new();
    while let Some(pk) = d.next_packet().unwrap() {
        times.push(tb.rescale(pk.dts.0, Timebase::MS));
    }
    assert_eq!(times.len() as i64, listed_ms / 40);
    // 40 ms apart throughout: tfdt of each fragment follows the one before exactly.
    assert!(times.windows(2).all(|w| w[1] - w[0] == 40), "{times:?}");
    drop(p);
}

#[test]
fn a_publisher_reconnect_is_a_discontinuity_counted_after_it_leaves_the_window() {
    let (tracks, packets) = fixture_loop();
    let live = start(12_000, 5_000);
    let mut p = publish(&live, &tracks);
    for i in 0..4 {
        for pk in loop_packets(&tracks, &packets, i) {
            p.push(pk);
        }
    }
    drop(p);
    // The new session starts its times at 0 again; the hub continues the clock.
    let mut p = publish(&live, &tracks);
    for i in 0..4 {
        for pk in loop_packets(&tracks, &packets, i) {
            p.push(pk);
        }
    }
    for prefix in ["hls/live/1_2", "cmaf/live/1"] {
        let (m, text) = media(live.http, &format!("/{prefix}/index.m3u8"));
        assert_eq!(m.discontinuity_sequence, 0, "{text}");
        let marked: Vec<usize> = m
            .segments
            .iter()
            .enumerate()
            .filter(|(_, s)| s.discontinuity)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(marked.len(), 1, "one discontinuity:\n{text}");
        // Media times go on across it (the hub shifts the new session).
        let k = marked[0];
        assert!(m.segments[k - 1].number + 1 == m.segments[k].number);
    }
    // Once the first session left the window, the tag is gone and the count says so.
    for i in 4..14 {
        for pk in loop_packets(&tracks, &packets, i) {
            p.push(pk);
        }
    }
    for prefix in ["hls/live/1_2", "cmaf/live/1"] {
        let (m, text) = media(live.http, &format!("/{prefix}/index.m3u8"));
        assert_eq!(m.discontinuity_sequence, 1, "{text}");
        assert!(m.segments.iter().all(|s| !s.discontinuity), "{text}");
    }
    drop(p);
}

#[test]
fn bad_segment_requests_get_4xx_and_the_server_keeps_serving() {
    let (tracks, packets) = fixture_loop();
    let live = start(10_000, 0);
    let mut p = publish(&live, &tracks);
    for i in 0..20 {
        for pk in loop_packets(&tracks, &packets, i) {
            p.push(pk);
        }
    }
    let (m, text) = media(live.http, "/hls/live/1_2/index.m3u8");
    let last = m.segments.last().unwrap().uri.clone();
    let end: i64 = last
        .trim_end_matches(".ts")
        .split('_')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(m.media_sequence > 2, "{text}");
    let long = "9".repeat(4000);
    let bad = [
        // Before the window (segment 0 left long ago).
        "/hls/live/1_2/0_2000.ts".to_string(),
        // The growing segment after the live edge, and one further on.
        format!("/hls/live/1_2/{end}_{}.ts", end + 2000),
        format!("/hls/live/1_2/{}_{}.ts", end + 2000, end + 4000),
        // Negative, 2^64, past i64, garbage, other shapes.
        "/hls/live/1_2/-2000_0.ts".to_string(),
        "/hls/live/1_2/18446744073709551616_18446744073709553616.ts".to_string(),
        "/hls/live/1_2/99999999999999999999_1.ts".to_string(),
        format!("/hls/live/1_2/{long}_1.ts"),
        "/hls/live/1_2/abc.ts".to_string(),
        "/hls/live/1_2/.ts".to_string(),
        "/hls/live/1_2/".to_string(),
        "/hls/live/".to_string(),
        "/hls/live".to_string(),
        "/hls/live/9_9/index.m3u8".to_string(),
        "/hls/live/1_2/../../../etc/passwd".to_string(),
        "/hls/live/..%2f..%2fetc%2fpasswd/index.m3u8".to_string(),
        "/hls/nosuch/index.m3u8".to_string(),
        "/hls/live/1_2/init.m4s".to_string(),
        "/cmaf/live/1/chunk_0.m4s".to_string(),
        "/cmaf/live/1/chunk_-1.m4s".to_string(),
        "/cmaf/live/1/chunk_18446744073709551616.m4s".to_string(),
        "/cmaf/live/7/init.m4s".to_string(),
        "/cmaf/live/1/a/b/c".to_string(),
    ];
    for path in &bad {
        let r = fetch(live.http, path);
        assert!(
            (400..500).contains(&r.status),
            "{path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    // Still healthy: the playlist and its newest segment are served.
    let (m2, _) = media(live.http, "/hls/live/1_2/index.m3u8");
    assert_eq!(m2.media_sequence, m.media_sequence);
    assert_eq!(
        fetch(live.http, &format!("/hls/live/1_2/{last}")).status,
        200
    );
    drop(p);
}

/// Resident memory of this process in KiB.
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn memory_stays_flat_over_a_simulated_hour_of_live_hls() {
    let (tracks, packets) = fixture_loop();
    // MistServer's default window (50 s).
    let live = start(50_000, 0);
    let mut p = publish(&live, &tracks);
    let loops = 3600 * 1000 / LOOP_MS;
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut rss_early = 0;
    let mut buffered_early = 0;
    let mut fetched = 0u64;
    for i in 0..loops {
        for pk in loop_packets(&tracks, &packets, i) {
            assert!(p.push(pk));
        }
        // A viewer of each kind reads the playlist and every new segment, as players do.
        for prefix in ["hls/live/1_2", "cmaf/live/1"] {
            let (m, _) = media(live.http, &format!("/{prefix}/index.m3u8"));
            let listed: i64 = m.segments.iter().map(|s| s.duration_ms).sum();
            assert!(listed <= 50_000);
            for s in &m.segments {
                let key = format!("{prefix}/{}", s.uri);
                if seen.insert(key.clone()) {
                    let r = fetch(live.http, &format!("/{key}"));
                    assert_eq!(r.status, 200, "{key}");
                    fetched += 1;
                }
            }
        }
        if i == loops / 6 {
            rss_early = rss_kib();
            buffered_early = live.hub.live_stream("live").unwrap().buffered().1;
        }
    }
    let rss_late = rss_kib();
    let buffered_late = live.hub.live_stream("live").unwrap().buffered().1;
    // Every segment of the hour was fetched once per packaging.
    assert!(fetched as i64 >= 2 * (loops - 30), "{fetched}");
    // The hub holds the window, not the hour.
    assert!(
        buffered_late <= buffered_early + buffered_early / 4,
        "hub {buffered_early} -> {buffered_late} bytes"
    );
    // Built segments and playlists are dropped with the window: memory after 10 minutes and
    // after 60 differs by less than the window's worth of media (the fixture is ~140 kB per
    // 2 s loop; 50 s of it is 3.5 MB).
    assert!(
        rss_late <= rss_early + 8 * 1024,
        "RSS {rss_early} KiB at 10 min, {rss_late} KiB at 60 min"
    );
    drop(p);
}
