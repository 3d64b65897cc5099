//! Low-latency HLS on the live fMP4 variant (issue 15, point 4): parts, their playlists,
//! blocking playlist reloads and hinted parts, against draft-pantos-hls-rfc8216bis.
//!
//! The publisher is driven in-process packet by packet, so each test knows exactly which
//! parts exist when it asks. Oracles: the draft's rules checked on what is served (tags read
//! with mist's attribute-list reader, whose parser has its own RFC tests), mist's MP4 demuxer
//! on the parts (keyframes where INDEPENDENT says), the segment bytes against its parts, and
//! the wall clock for what must block and for how long.

mod util;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mist::dtsc::{Packet, Timebase, Track};
use mist::package::hls::parse::{parse_seconds_ms, Attributes};
use mist::serve::config::{Config, StreamConfig};
use mist::serve::hub::{Client, Hub, Publisher};
use mist::serve::{Server, Settings};
use util::serve::{get, Response};
use util::*;

const LOOP_MS: i64 = 2000;
const PLAYLIST: &str = "/cmaf/live/1/index.m3u8";

fn publisher_client() -> Client {
    Client {
        peer: "127.0.0.1:1".parse().unwrap(),
        protocol: "TEST",
    }
}

/// h264_aac.flv: 25 fps with a key every second, AAC at 48 kHz; 2 s of it, and the tracks.
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

/// The fixture looped, every packet with its time in ms, in publish order.
struct Feed {
    tracks: Vec<Track>,
    packets: Vec<Packet>,
    /// Packets published so far: loop and index in it.
    at: (i64, usize),
}

impl Feed {
    fn new() -> Feed {
        let (tracks, packets) = fixture_loop();
        Feed {
            tracks,
            packets,
            at: (0, 0),
        }
    }

    /// Publishes every packet whose decode time is below `until_ms`.
    fn until(&mut self, p: &mut Publisher, until_ms: i64) {
        loop {
            let (l, i) = self.at;
            let pk = &self.packets[i];
            let tb = self
                .tracks
                .iter()
                .find(|t| t.id == pk.track)
                .unwrap()
                .timebase;
            let ms = tb.rescale(pk.dts.0, Timebase::MS) + l * LOOP_MS;
            if ms >= until_ms {
                return;
            }
            let mut q = pk.clone();
            q.dts = q.dts + Timebase::MS.rescale(l * LOOP_MS, tb);
            assert!(p.push(q));
            self.at = if i + 1 == self.packets.len() {
                (l + 1, 0)
            } else {
                (l, i + 1)
            };
        }
    }
}

struct Live {
    _rt: tokio::runtime::Runtime,
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
    }
}

fn start() -> Live {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = Config::default();
    config.streams.insert(
        "live".into(),
        StreamConfig {
            name: "live".into(),
            source: "push://".into(),
            dvr: Some(30_000),
            grace: Some(60_000),
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
        _rt: rt,
        hub,
        http,
        stop: Some(stop),
    }
}

fn publish(live: &Live, tracks: &[Track]) -> Publisher {
    let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.to_vec());
    p
}

fn fetch(http: SocketAddr, path: &str) -> Response {
    get(http, path, &[], 64 << 20, Duration::from_secs(30))
}

/// A GET in a thread: its answer and when it came.
fn fetch_later(http: SocketAddr, path: &str) -> mpsc::Receiver<(Response, Instant)> {
    let (tx, rx) = mpsc::channel();
    let path = path.to_string();
    std::thread::spawn(move || {
        let r = fetch(http, &path);
        let _ = tx.send((r, Instant::now()));
    });
    rx
}

/// The LL lines of a media playlist.
#[derive(Debug, Default)]
struct Ll {
    part_target_ms: i64,
    part_hold_back_ms: i64,
    hold_back_ms: i64,
    target_s: i64,
    can_block: bool,
    /// (segment URI the parts belong to, or "" for the growing one; part attributes)
    parts: Vec<(String, Attributes)>,
    /// (URI, EXTINF ms)
    segments: Vec<(String, i64)>,
    hint: Option<String>,
}

fn read_ll(text: &str) -> Ll {
    let mut ll = Ll::default();
    let mut pending: Vec<Attributes> = Vec::new();
    let mut extinf: Option<i64> = None;
    for line in text.lines() {
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        match tag {
            "#EXT-X-TARGETDURATION" => ll.target_s = value.parse().unwrap(),
            "#EXT-X-PART-INF" => {
                let a = Attributes::parse(value).unwrap();
                ll.part_target_ms = parse_seconds_ms(a.get("PART-TARGET").unwrap()).unwrap();
            }
            "#EXT-X-SERVER-CONTROL" => {
                let a = Attributes::parse(value).unwrap();
                ll.can_block = a.get("CAN-BLOCK-RELOAD") == Some("YES");
                ll.part_hold_back_ms = parse_seconds_ms(a.get("PART-HOLD-BACK").unwrap()).unwrap();
                ll.hold_back_ms = parse_seconds_ms(a.get("HOLD-BACK").unwrap()).unwrap();
            }
            "#EXT-X-PART" => pending.push(Attributes::parse(value).unwrap()),
            "#EXT-X-PRELOAD-HINT" => {
                let a = Attributes::parse(value).unwrap();
                assert_eq!(a.get("TYPE"), Some("PART"));
                ll.hint = Some(a.get("URI").unwrap().to_string());
            }
            "#EXTINF" => {
                extinf = Some(parse_seconds_ms(value.trim_end_matches(',')).unwrap());
            }
            t if !t.starts_with('#') && !t.is_empty() => {
                for a in pending.drain(..) {
                    ll.parts.push((t.to_string(), a));
                }
                ll.segments.push((t.to_string(), extinf.take().unwrap()));
            }
            _ => {}
        }
    }
    for a in pending.drain(..) {
        ll.parts.push((String::new(), a));
    }
    ll
}

/// First packet of an init + fragment, as mist's MP4 demuxer reads it.
fn first_packet(init: &[u8], frag: &[u8]) -> Packet {
    let mut b = init.to_vec();
    b.extend_from_slice(frag);
    let src = mist::io::Source::from_bytes("part", b);
    let spec = mist::formats::detect(src.head(), None).unwrap();
    let mut d = (spec.open.unwrap())(src).unwrap();
    d.next_packet().unwrap().expect("a sample")
}

#[test]
fn ll_playlists_list_parts_at_the_edge_and_parts_make_their_segment() {
    let live = start();
    let mut feed = Feed::new();
    let mut p = publish(&live, &feed.tracks);
    // Segments 0, 2000, 4000, 6000 complete; 8000 growing with video to 8480: parts close
    // before the frame that would take them past 333 ms, so part 0 is 8000..8280 and part 1
    // began at 8320; it is complete once part 2 begins (at 8640).
    feed.until(&mut p, 8500);
    let r = fetch(live.http, PLAYLIST);
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    let ll = read_ll(&text);
    // §4.4.3.7-8: the part target, blocking reloads, hold-backs of at least 3 parts (MUST: 2)
    // and 3 target durations.
    assert_eq!(ll.part_target_ms, 334, "{text}");
    assert!(ll.can_block, "{text}");
    assert!(ll.part_hold_back_ms >= 3 * ll.part_target_ms, "{text}");
    assert!(ll.hold_back_ms >= 3 * 1000 * ll.target_s, "{text}");
    // The growing segment's complete part, and the hint for its next.
    let growing: Vec<&Attributes> = ll
        .parts
        .iter()
        .filter(|(s, _)| s.is_empty())
        .map(|(_, a)| a)
        .collect();
    assert_eq!(growing.len(), 1, "{text}");
    assert_eq!(growing[0].get("URI"), Some("chunk_8000.0.m4s"));
    assert_eq!(ll.hint.as_deref(), Some("chunk_8000.1.m4s"), "{text}");
    // Parts only near the edge (§6.2.2: within three target durations of the end): those of
    // the segments that end after 2000 ms.
    let with_parts: Vec<&str> = {
        let mut v: Vec<&str> = ll.parts.iter().map(|(s, _)| s.as_str()).collect();
        v.dedup();
        v
    };
    assert_eq!(
        with_parts,
        vec!["chunk_2000.m4s", "chunk_4000.m4s", "chunk_6000.m4s", ""],
        "{text}"
    );
    let init = fetch(live.http, "/cmaf/live/1/init.m4s").body;
    for (seg, extinf) in &ll.segments {
        let parts: Vec<&Attributes> = ll
            .parts
            .iter()
            .filter(|(s, _)| s == seg)
            .map(|(_, a)| a)
            .collect();
        if parts.is_empty() {
            continue;
        }
        let mut joined = Vec::new();
        let mut total = 0;
        for a in &parts {
            let d = parse_seconds_ms(a.get("DURATION").unwrap()).unwrap();
            // §4.4.4.9: no part longer than the part target.
            assert!(d <= ll.part_target_ms, "{seg}: {a:?}");
            total += d;
            let uri = a.get("URI").unwrap();
            let r = fetch(live.http, &format!("/cmaf/live/1/{uri}"));
            assert_eq!(r.status, 200, "{uri}");
            // INDEPENDENT=YES exactly where the part starts with a keyframe.
            let first = first_packet(&init, &r.body);
            assert_eq!(a.get("INDEPENDENT") == Some("YES"), first.keyframe, "{uri}");
            joined.extend_from_slice(&r.body);
        }
        // The parts last as long as their segment, and are its bytes.
        assert_eq!(total, *extinf, "{seg}");
        let whole = fetch(live.http, &format!("/cmaf/live/1/{seg}"));
        assert_eq!(whole.status, 200);
        assert!(whole.body == joined, "{seg}: the segment is its parts");
    }
    // The audio rendition has its own parts on the same grid.
    let r = fetch(live.http, "/cmaf/live/2/index.m3u8");
    let a = read_ll(&String::from_utf8(r.body).unwrap());
    assert!(a.parts.iter().any(|(s, p)| s.is_empty()
        && p.get("URI") == Some("chunk_8000.0.m4s")
        && p.get("INDEPENDENT") == Some("YES")));
    drop(p);
}

#[test]
fn blocking_reloads_and_hinted_parts_answer_as_soon_as_the_part_exists() {
    let live = start();
    let mut feed = Feed::new();
    let mut p = publish(&live, &feed.tracks);
    feed.until(&mut p, 8500);
    // Segment 8000 is media sequence 4 (segments 0, 2000, 4000, 6000 before it); its part 1
    // is not complete. The request waits ...
    let waiting = fetch_later(live.http, &format!("{PLAYLIST}?_HLS_msn=4&_HLS_part=1"));
    let hinted = fetch_later(live.http, "/cmaf/live/1/chunk_8000.1.m4s");
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        waiting.try_recv().is_err(),
        "answered before the part existed"
    );
    assert!(
        hinted.try_recv().is_err(),
        "hinted part sent before it was complete"
    );
    // ... and is answered once the frame that begins part 2 (8640 ms) comes.
    feed.until(&mut p, 8700);
    let pushed = Instant::now();
    let (r, at) = waiting.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        at.duration_since(pushed) < Duration::from_millis(500),
        "{:?} after the part",
        at.duration_since(pushed)
    );
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.contains("URI=\"chunk_8000.1.m4s\""), "{text}");
    assert!(text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"chunk_8000.2.m4s\""));
    let (h, at) = hinted.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(h.status, 200);
    assert!(at.duration_since(pushed) < Duration::from_millis(500));
    assert_eq!(
        h.body,
        fetch(live.http, "/cmaf/live/1/chunk_8000.1.m4s").body
    );
    // A whole segment: msn 4 without a part waits for the segment to complete (the key at
    // 10000 ms ends it).
    let whole = fetch_later(live.http, &format!("{PLAYLIST}?_HLS_msn=4"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(whole.try_recv().is_err());
    feed.until(&mut p, 10_001);
    let (r, _) = whole.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.contains("#EXTINF:2.000,\nchunk_8000.m4s"), "{text}");
    // A part index past a complete segment's last is part 0 of the next (§6.2.5.2): segment
    // 4 has 7 parts; its part 7 is segment 5's part 0, not there yet (only the key at 10000).
    let next = fetch_later(live.http, &format!("{PLAYLIST}?_HLS_msn=4&_HLS_part=7"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(next.try_recv().is_err());
    feed.until(&mut p, 10_400);
    let (r, _) = next.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(r.status, 200);
    assert!(String::from_utf8(r.body)
        .unwrap()
        .contains("URI=\"chunk_10000.0.m4s\""));
    drop(p);
}

#[test]
fn a_blocking_reload_that_never_comes_times_out_with_503_and_bad_directives_get_400() {
    let live = start();
    let mut feed = Feed::new();
    let mut p = publish(&live, &feed.tracks);
    feed.until(&mut p, 8500);
    // Nothing more is published: part 2 of segment 4 never comes. §6.2.5.2: 503 after three
    // target durations (2 s each here).
    let t0 = Instant::now();
    let r = fetch(live.http, &format!("{PLAYLIST}?_HLS_msn=4&_HLS_part=2"));
    let took = t0.elapsed();
    assert_eq!(r.status, 503);
    assert!(
        took >= Duration::from_millis(5800) && took < Duration::from_secs(9),
        "{took:?}"
    );
    // Refused at once: malformed values, a part without msn, further ahead than the last
    // segment + 2, a part past the Advance Part Limit (3 / 0.334 s: 8 parts past the last).
    for (q, code) in [
        ("_HLS_msn=abc", 400),
        ("_HLS_msn=-1", 400),
        ("_HLS_msn=4.5", 400),
        ("_HLS_msn=18446744073709551616", 400),
        ("_HLS_part=1", 400),
        ("_HLS_msn=4&_HLS_part=x", 400),
        ("_HLS_msn=7", 400),
        ("_HLS_msn=18446744073709551615", 400),
        ("_HLS_msn=4&_HLS_part=11", 400),
    ] {
        let t0 = Instant::now();
        let r = fetch(live.http, &format!("{PLAYLIST}?{q}"));
        assert_eq!(r.status, code, "{q}");
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "{q}: answered at once"
        );
    }
    // What the playlist already holds, or held long ago, is answered at once.
    for q in ["_HLS_msn=3", "_HLS_msn=0", "_HLS_msn=4&_HLS_part=0"] {
        let t0 = Instant::now();
        let r = fetch(live.http, &format!("{PLAYLIST}?{q}"));
        assert_eq!(r.status, 200, "{q}");
        assert!(t0.elapsed() < Duration::from_secs(2), "{q}");
    }
    // An unknown rendition; a part that is neither there nor next.
    assert_eq!(
        fetch(live.http, "/cmaf/live/9/index.m3u8?_HLS_msn=4").status,
        404
    );
    let t0 = Instant::now();
    assert_eq!(
        fetch(live.http, "/cmaf/live/1/chunk_8000.5.m4s").status,
        404
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
    // Still serving.
    assert_eq!(fetch(live.http, PLAYLIST).status, 200);
    drop(p);
}
