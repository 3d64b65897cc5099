//! Live HDS and Smooth Streaming from the hub, with the publisher driven in-process and
//! faster than real time: bootstraps and manifests list the window of complete fragments,
//! fragment numbers and times keep counting as the window slides and across a publisher
//! reconnect (an HDS discontinuity entry), fragments are the same bytes on every fetch and
//! play as one stream, bad requests get 4xx, and memory stays flat.
//!
//! Oracles: the F4V spec's `abst`/`afrt` rules and MS-SSTR's manifest and `tfxd`/`tfrf`
//! rules checked on what is served (read by mist's parsers, which have their own tests
//! against hand-computed bytes), and the packets published (times and counts).

mod util;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mist::dtsc::{Packet, Timebase, Track, TrackKind};
use mist::package::hds::bootstrap::{listed, Listed};
use mist::package::hds::boxes::{Abst, TIMESTAMPS};
use mist::package::hds::fragment as hds_fragment;
use mist::package::hds::manifest as f4m;
use mist::package::smooth::fragment as smooth_fragment;
use mist::package::smooth::manifest::{self as ssm, Ssm};
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

/// The fixture's tracks and its packets cut to exactly [`LOOP_MS`].
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

fn ok(http: SocketAddr, path: &str) -> Vec<u8> {
    let r = fetch(http, path);
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.body
}

fn publish(live: &Live, tracks: &[Track]) -> Publisher {
    let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.to_vec());
    p
}

/// The live bootstrap of variant 1 and the fragments it lists.
fn hds_window(http: SocketAddr) -> (Abst, Vec<Listed>) {
    let b = Abst::parse_box(&Bytes::from(ok(http, "/dynamic/live/1.abst"))).unwrap();
    let l = listed(&b.fragment_tables[0], u32::MAX, Some(b.current_media_time));
    (b, l)
}

fn smooth_manifest(http: SocketAddr, path: &str) -> Ssm {
    let text = ok(http, path);
    let (m, problems) = ssm::parse(&text);
    let errors: Vec<_> = problems.iter().filter(|p| p.error).collect();
    assert!(
        errors.is_empty(),
        "{errors:?}\n{}",
        String::from_utf8_lossy(&text)
    );
    m.unwrap()
}

#[test]
fn live_hds_bootstraps_list_the_window_and_fragments_keep_their_numbers() {
    let (tracks, packets) = fixture_loop();
    let live = start(10_000, 0);
    let mut p = publish(&live, &tracks);
    let mut starts: HashMap<u32, u64> = HashMap::new();
    let mut first_numbers = Vec::new();
    for i in 0..25 {
        for pk in loop_packets(&tracks, &packets, i) {
            assert!(p.push(pk));
        }
        if i < 2 {
            continue;
        }
        let newest_ms = (i + 1) * LOOP_MS;
        // The manifest points at the bootstrap by URL, for players to reload.
        let text = ok(live.http, "/dynamic/live/manifest.f4m");
        let (m, problems) = f4m::parse(&text);
        assert!(problems.iter().all(|p| !p.error), "{problems:?}");
        let m = m.unwrap();
        assert!(m.live() && m.duration_ms.is_none());
        let b = m.bootstrap_of(&m.media[0]).unwrap();
        assert_eq!(b.url.as_deref(), Some("1.abst"));
        assert!(b.inline.is_none());
        let (abst, frags) = hds_window(live.http);
        assert!(abst.live);
        assert_eq!(
            abst.segment_tables[0].runs[0].fragments_per_segment,
            u32::MAX
        );
        // Never more than the window, and only complete fragments.
        let total: u64 = frags.iter().map(|f| u64::from(f.duration)).sum();
        assert!(total <= 10_000, "{total} ms listed");
        let last = frags.last().unwrap();
        assert!(last.start as i64 + i64::from(last.duration) <= newest_ms);
        assert_eq!(
            abst.current_media_time,
            last.start + u64::from(last.duration)
        );
        first_numbers.push(frags[0].fragment);
        for f in &frags {
            // A fragment number always means the same time.
            if let Some(s) = starts.insert(f.fragment, f.start) {
                assert_eq!(s, f.start, "fragment {} moved", f.fragment);
            }
            let path = format!("/dynamic/live/1-Seg1-Frag{}", f.fragment);
            let a = fetch(live.http, &path);
            assert_eq!(a.status, 200, "{path}");
            let parsed = hds_fragment::parse(&Bytes::from(a.body.clone())).unwrap();
            assert_eq!(parsed.sequence, Some(f.fragment));
            // Live fragments carry the bootstrap (F4V Annex C), live as well.
            assert!(parsed.abst.as_ref().is_some_and(|b| b.live));
            assert_eq!(parsed.boxes, vec![*b"afra", *b"abst", *b"moof", *b"mdat"]);
            // Built once: the same bytes and ETag on every fetch.
            let again = fetch(live.http, &path);
            assert_eq!(again.body, a.body);
            assert_eq!(again.header("etag"), a.header("etag"));
            assert!(a.header("cache-control").unwrap().contains("immutable"));
        }
    }
    // The window slid: its first fragment number rose, never fell.
    assert!(first_numbers.windows(2).all(|w| w[1] >= w[0]));
    assert!(
        first_numbers.last().unwrap() - first_numbers[0] >= 10,
        "{first_numbers:?}"
    );
    drop(p);
}

#[test]
fn consecutive_live_hds_fragments_play_as_one_flv() {
    let (tracks, packets) = fixture_loop();
    let live = start(30_000, 0);
    let mut p = publish(&live, &tracks);
    for i in 0..8 {
        for pk in loop_packets(&tracks, &packets, i) {
            p.push(pk);
        }
    }
    let (_, frags) = hds_window(live.http);
    // What OSMF and yt-dlp do: an FLV header, then every fragment's mdat body.
    let mut flv = hds_fragment::flv_header(true, true).to_vec();
    for f in &frags {
        let body = ok(
            live.http,
            &format!("/dynamic/live/1-Seg1-Frag{}", f.fragment),
        );
        flv.extend_from_slice(&hds_fragment::parse(&Bytes::from(body)).unwrap().mdat);
    }
    let dir = TestDir::new("hds-live-flv");
    let path = dir.join("all.flv");
    std::fs::write(&path, &flv).unwrap();
    let mut d = mist::pipeline::open(&path).unwrap();
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
    let listed_ms: u64 = frags.iter().map(|f| u64::from(f.duration)).sum();
    assert_eq!(
        frames as u64,
        listed_ms / 40,
        "25 fps over the listed fragments"
    );
    drop(p);
}

#[test]
fn live_smooth_lists_complete_fragments_and_announces_the_next_ones() {
    let (tracks, packets) = fixture_loop();
    let live = start(10_000, 0);
    let mut p = publish(&live, &tracks);
    let mut bitrates: Option<Vec<u64>> = None;
    for i in 0..20 {
        for pk in loop_packets(&tracks, &packets, i) {
            assert!(p.push(pk));
        }
        if i < 4 {
            continue;
        }
        for path in ["/smooth/live.ism/Manifest", "/cmaf/live/Manifest"] {
            let m = smooth_manifest(live.http, path);
            assert!(m.live);
            assert_eq!(m.dvr_window, Some(10_000 * 10_000));
            assert_eq!(m.lookahead, Some(2));
            assert_eq!(m.streams.len(), 2);
            // Bitrates are part of the URLs: fixed for the stream's life.
            let b: Vec<u64> = m
                .streams
                .iter()
                .map(|s| s.qualities[0].bitrate.unwrap())
                .collect();
            match &bitrates {
                Some(x) => assert_eq!(x, &b),
                None => bitrates = Some(b),
            }
            let base = path.trim_end_matches("Manifest");
            for s in &m.streams {
                assert!(!s.chunks.is_empty());
                for w in s.chunks.windows(2) {
                    assert_eq!(w[1].time, w[0].time + w[0].duration, "{}", s.kind);
                }
                let url = s.url.clone().unwrap();
                let bitrate = s.qualities[0].bitrate.unwrap().to_string();
                for (k, c) in s.chunks.iter().enumerate() {
                    let rel = url
                        .replace("{bitrate}", &bitrate)
                        .replace("{start time}", &c.time.to_string());
                    let body = ok(live.http, &format!("{base}{rel}"));
                    let f = smooth_fragment::parse(&Bytes::from(body)).unwrap();
                    assert_eq!(
                        f.tfxd.map(|x| (x.time, x.duration)),
                        Some((c.time, c.duration))
                    );
                    assert_eq!(f.tfdt, Some(c.time));
                    let sum: u64 = f.samples.iter().map(|x| u64::from(x.duration)).sum();
                    assert_eq!(sum, c.duration);
                    // tfrf announces the next fragments; a listed one has two after it.
                    let next = f.tfrf.unwrap_or_default();
                    assert_eq!(next.len(), 2, "{}", s.kind);
                    for (j, n) in next.iter().enumerate() {
                        if let Some(l) = s.chunks.get(k + 1 + j) {
                            assert_eq!(l, n);
                        }
                    }
                }
                // The one announced after the last listed one is not there yet: it waits for
                // its own successors (404, as a segment not complete yet is).
                let last = s.chunks.last().unwrap();
                let rel = url
                    .replace("{bitrate}", &bitrate)
                    .replace("{start time}", &(last.time + last.duration).to_string());
                assert_eq!(
                    fetch(live.http, &format!("{base}{rel}")).status,
                    404,
                    "{rel}"
                );
            }
        }
    }
    drop(p);
}

#[test]
fn a_publisher_reconnect_is_an_hds_discontinuity_and_numbers_run_on() {
    let (tracks, packets) = fixture_loop();
    let live = start(30_000, 5_000);
    let mut p = publish(&live, &tracks);
    for i in 0..4 {
        for pk in loop_packets(&tracks, &packets, i) {
            p.push(pk);
        }
    }
    let (_, before) = hds_window(live.http);
    drop(p);
    // The new session starts its times at 0 again; the hub continues the clock.
    let mut p = publish(&live, &tracks);
    for i in 0..4 {
        for pk in loop_packets(&tracks, &packets, i) {
            p.push(pk);
        }
    }
    let (abst, after) = hds_window(live.http);
    let runs = &abst.fragment_tables[0].runs;
    let marks: Vec<_> = runs.iter().filter(|r| r.duration == 0).collect();
    assert_eq!(marks.len(), 1, "{runs:?}");
    assert_eq!(marks[0].discontinuity, Some(TIMESTAMPS));
    let first_new = after.iter().find(|f| f.after_discontinuity).unwrap();
    assert_eq!(first_new.fragment, marks[0].first_fragment);
    // Numbers continue from the first session's, never reset.
    assert!(first_new.fragment > before.last().unwrap().fragment);
    assert!(after.windows(2).all(|w| w[1].fragment == w[0].fragment + 1));
    for f in &after {
        assert_eq!(
            fetch(
                live.http,
                &format!("/dynamic/live/1-Seg1-Frag{}", f.fragment)
            )
            .status,
            200
        );
    }
    drop(p);
}

#[test]
fn bad_fragment_requests_get_4xx_and_the_server_keeps_serving() {
    let (tracks, packets) = fixture_loop();
    let live = start(10_000, 0);
    let mut p = publish(&live, &tracks);
    for i in 0..20 {
        for pk in loop_packets(&tracks, &packets, i) {
            p.push(pk);
        }
    }
    let (_, frags) = hds_window(live.http);
    let first = frags[0].fragment;
    let last = frags.last().unwrap().fragment;
    assert!(first > 2);
    let m = smooth_manifest(live.http, "/smooth/live.ism/Manifest");
    let v = &m.streams[0];
    let vb = v.qualities[0].bitrate.unwrap();
    let end = v.chunks.last().unwrap();
    let long = "9".repeat(4000);
    let bad = vec![
        // HDS: before the window, after the live edge, 0, 2^32, 2^64, negative, garbage.
        "/dynamic/live/1-Seg1-Frag1".to_string(),
        format!("/dynamic/live/1-Seg1-Frag{}", last + 1),
        format!("/dynamic/live/1-Seg1-Frag{}", last + 50),
        "/dynamic/live/1-Seg1-Frag0".to_string(),
        "/dynamic/live/1-Seg1-Frag4294967296".to_string(),
        "/dynamic/live/1-Seg1-Frag18446744073709551616".to_string(),
        "/dynamic/live/1-Seg1-Frag-1".to_string(),
        format!("/dynamic/live/1-Seg1-Frag{long}"),
        format!("/dynamic/live/1-Seg2-Frag{first}"),
        format!("/dynamic/live/2-Seg1-Frag{first}"),
        "/dynamic/live/2.abst".to_string(),
        "/dynamic/live/manifest.f4m/x".to_string(),
        "/dynamic/live/".to_string(),
        "/dynamic/nosuch/manifest.f4m".to_string(),
        "/dynamic/live/..%2f..%2fetc%2fpasswd".to_string(),
        // Smooth: a time that is no fragment's, before the window, after the edge, a wrong
        // bitrate or stream name, 2^64, negative, missing `.ism`, other shapes.
        format!(
            "/smooth/live.ism/QualityLevels({vb})/Fragments(video={})",
            end.time + 1
        ),
        format!("/smooth/live.ism/QualityLevels({vb})/Fragments(video=0)"),
        format!(
            "/smooth/live.ism/QualityLevels({vb})/Fragments(video={})",
            end.time + 40 * end.duration
        ),
        format!(
            "/smooth/live.ism/QualityLevels({})/Fragments(video={})",
            vb + 1,
            end.time
        ),
        format!(
            "/smooth/live.ism/QualityLevels({vb})/Fragments(vidéo={})",
            end.time
        ),
        format!(
            "/smooth/live.ism/QualityLevels({vb})/Fragments(text={})",
            end.time
        ),
        format!("/smooth/live.ism/QualityLevels({vb})/Fragments(video=18446744073709551616)"),
        format!("/smooth/live.ism/QualityLevels({vb})/Fragments(video=-1)"),
        format!(
            "/smooth/live/QualityLevels({vb})/Fragments(video={})",
            end.time
        ),
        "/smooth/live/Manifest".to_string(),
        "/smooth/live.ism/manifest".to_string(),
        format!("/smooth/live.ism/QualityLevels({vb})"),
        format!("/smooth/live.ism/QualityLevels({long})/Fragments(video=0)"),
        "/smooth/nosuch.ism/Manifest".to_string(),
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
    // Still healthy.
    assert_eq!(
        fetch(live.http, &format!("/dynamic/live/1-Seg1-Frag{last}")).status,
        200
    );
    let rel = v
        .url
        .clone()
        .unwrap()
        .replace("{bitrate}", &vb.to_string())
        .replace("{start time}", &end.time.to_string());
    assert_eq!(
        fetch(live.http, &format!("/smooth/live.ism/{rel}")).status,
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
fn memory_stays_flat_over_a_simulated_half_hour_of_live_hds_and_smooth() {
    let (tracks, packets) = fixture_loop();
    let live = start(50_000, 0);
    let mut p = publish(&live, &tracks);
    let loops = 1800 * 1000 / LOOP_MS;
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut rss_early = 0;
    let mut fetched = 0u64;
    for i in 0..loops {
        for pk in loop_packets(&tracks, &packets, i) {
            assert!(p.push(pk));
        }
        // A viewer of each kind reads the bootstrap or manifest and every new fragment.
        let (_, frags) = hds_window(live.http);
        for f in &frags {
            let path = format!("/dynamic/live/1-Seg1-Frag{}", f.fragment);
            if seen.insert(path.clone()) {
                assert_eq!(fetch(live.http, &path).status, 200, "{path}");
                fetched += 1;
            }
        }
        // The manifest is there once every track's bit rate is measured.
        if i < 2 && fetch(live.http, "/smooth/live.ism/Manifest").status == 404 {
            continue;
        }
        let m = smooth_manifest(live.http, "/smooth/live.ism/Manifest");
        for s in &m.streams {
            let url = s.url.clone().unwrap();
            let b = s.qualities[0].bitrate.unwrap().to_string();
            for c in &s.chunks {
                let rel = url
                    .replace("{bitrate}", &b)
                    .replace("{start time}", &c.time.to_string());
                let path = format!("/smooth/live.ism/{rel}");
                if seen.insert(path.clone()) {
                    assert_eq!(fetch(live.http, &path).status, 200, "{path}");
                    fetched += 1;
                }
            }
        }
        if i == loops / 3 {
            rss_early = rss_kib();
        }
    }
    let rss_late = rss_kib();
    // Every fragment of the half hour was fetched: HDS, Smooth video and audio.
    assert!(fetched as i64 >= 3 * (loops - 30), "{fetched}");
    // Built fragments and manifests leave with the window.
    assert!(
        rss_late <= rss_early + 8 * 1024,
        "RSS {rss_early} KiB at 10 min, {rss_late} KiB at 30 min"
    );
    drop(p);
}
