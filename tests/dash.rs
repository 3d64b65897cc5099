//! MPEG-DASH (issue 15): `mist remux IN DIR/ --to dash`, `mist serve` of files and live
//! streams at `/cmaf/STREAM/index.mpd`, and `mist analyse` of MPDs.
//!
//! Oracles: the design's equality (a folder written by remux, served by a plain static file
//! server, answers byte for byte what `mist serve` answers, crawled from the MPD as a player
//! would), the source's own packets (every one of them in the segments, times as the timeline
//! says), and ISO/IEC 23009-1's rules for live MPDs checked on what is served (parsed by
//! mist's MPD reader, whose parser has its own tests).

mod util;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mist::dtsc::{Packet, Timebase, Track};
use mist::package::dash::parse::{parse, Mpd};
use mist::serve::config::{Config, StreamConfig};
use mist::serve::hub::{Client, Hub, Publisher};
use mist::serve::{Server, Settings};
use util::serve::{get, Response, Serve};
use util::statics::static_server;
use util::*;

/// An MPD as served, parsed, with no broken "shall".
fn read_mpd(what: &str, body: &[u8]) -> Mpd {
    let text = std::str::from_utf8(body).unwrap();
    let (m, problems) = parse(text);
    let errors: Vec<_> = problems.iter().filter(|p| p.error).collect();
    assert!(errors.is_empty(), "{what}: {errors:?}\n{text}");
    m.unwrap_or_else(|| panic!("{what}: not an MPD"))
}

/// Every file a DASH player reaches from `base/index.mpd`, by its path below `base`.
fn crawl(addr: SocketAddr, base: &str) -> BTreeMap<String, Vec<u8>> {
    let fetch = |rel: &str| {
        let r = get(
            addr,
            &format!("{base}/{rel}"),
            &[],
            64 << 20,
            Duration::from_secs(60),
        );
        assert_eq!(
            r.status,
            200,
            "{base}/{rel}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.body
    };
    let mut out = BTreeMap::new();
    let body = fetch("index.mpd");
    let mpd = read_mpd(base, &body);
    out.insert("index.mpd".to_string(), body);
    for p in &mpd.periods {
        for s in &p.sets {
            for r in &s.reps {
                let urls = r.init.iter().chain(r.segments.iter().map(|s| &s.url));
                for u in urls {
                    if !out.contains_key(u) {
                        out.insert(u.clone(), fetch(u));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn remux_to_dash_served_statically_is_byte_identical_to_serve_vod_for_every_fixture() {
    let dir = TestDir::new("dash-vod");
    let fixtures = media_fixtures();
    for f in &fixtures {
        let out = dir.join(&format!("{f}.dash"));
        let o = mist()
            .args(["remux", fixture(f).to_str().unwrap()])
            .arg(&out)
            .args(["--to", "dash", "-q"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let st = static_server(dir.path().to_path_buf());
    let fixtures_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let serve = Serve::start(&[fixtures_dir.to_str().unwrap()]);
    let http = serve.http.unwrap();
    for f in &fixtures {
        let folder = format!("{f}.dash");
        let a = crawl(st.addr, &format!("/{folder}"));
        let b = crawl(http, &format!("/cmaf/{f}"));
        let mut on_disk = Vec::new();
        let mut stack = vec![dir.join(&folder)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    on_disk.push(
                        p.strip_prefix(dir.join(&folder))
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        on_disk.sort();
        // Everything remux wrote is reachable from the MPD, and serve has the same files.
        assert_eq!(a.keys().cloned().collect::<Vec<_>>(), on_disk, "{folder}");
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{folder}"
        );
        for (k, v) in &a {
            assert!(v == &b[k], "{folder}/{k}: bytes differ");
        }
        // The same segments as the HLS-fMP4 package, under the same names (one CMAF set).
        let hls = get(
            http,
            &format!("/cmaf/{f}/index.m3u8"),
            &[],
            1 << 20,
            Duration::from_secs(60),
        );
        assert_eq!(hls.status, 200, "{f}");
        for (k, v) in a.iter().filter(|(k, _)| k.ends_with(".m4s")) {
            let r = get(
                http,
                &format!("/cmaf/{f}/{k}"),
                &[],
                64 << 20,
                Duration::from_secs(60),
            );
            assert_eq!(&r.body, v, "{f}/{k}");
        }
    }
    assert!(serve.terminate(Duration::from_secs(10)).is_some());
}

#[test]
fn remux_to_dash_lists_every_packet_in_segments_timed_as_the_timeline_says() {
    // h264_aac.ts: 2 s at 25 fps with a key every second (segments of >= 1.9 s: one cut per
    // two keys), audio 48 kHz; its times start at 1.4 s.
    let dir = TestDir::new("dash-cut");
    for f in ["h264_aac.ts", "h264_aac.flv", "aac_lc.aac", "two_audio.mp4"] {
        let out = dir.join(&format!("{f}.dash"));
        mist_ok(&[
            "remux",
            fixture(f).to_str().unwrap(),
            out.to_str().unwrap(),
            "--to",
            "dash",
            "--segment-duration",
            "0.5",
            "-q",
        ]);
        let mpd = read_mpd(f, &std::fs::read(out.join("index.mpd")).unwrap());
        assert!(!mpd.dynamic);
        // What mist reads from the source: packets per track.
        let mut d = mist::pipeline::open(&fixture(f)).unwrap();
        let mut want: BTreeMap<u32, usize> = BTreeMap::new();
        while let Some(p) = d.next_packet().unwrap() {
            *want.entry(p.track.0).or_default() += 1;
        }
        let mut got: BTreeMap<u32, usize> = BTreeMap::new();
        let mut presentation_end = 0i64;
        for s in &mpd.periods[0].sets {
            for r in &s.reps {
                assert_eq!(r.timescale, 1000, "{f}");
                let init = std::fs::read(out.join(r.init.as_ref().unwrap())).unwrap();
                let id: u32 = r.id.parse().unwrap();
                for (k, seg) in r.segments.iter().enumerate() {
                    let mut bytes = init.clone();
                    bytes.extend(std::fs::read(out.join(&seg.url)).unwrap());
                    let src = mist::io::Source::from_bytes("seg", bytes);
                    let spec = mist::formats::detect(src.head(), None).unwrap();
                    let mut dm = (spec.open.unwrap())(src).unwrap();
                    let tb = dm.meta().tracks[0].timebase;
                    let mut packets: Vec<Packet> = Vec::new();
                    while let Some(p) = dm.next_packet().unwrap() {
                        packets.push(p);
                    }
                    assert!(!packets.is_empty(), "{f} {}", seg.url);
                    // Each segment starts with a keyframe (startWithSAP=1).
                    assert!(packets[0].keyframe, "{f} {}", seg.url);
                    // Its first sample is where the timeline says, within one sample (audio
                    // frames fall where they fall after the video's cut).
                    let first_ms = tb.rescale(packets[0].dts.0, Timebase::MS);
                    let step = packets
                        .get(1)
                        .map_or(1, |p| tb.rescale(p.dts.0 - packets[0].dts.0, Timebase::MS));
                    // A track that starts after the presentation does so inside its first
                    // segment.
                    let t = seg.t as i64;
                    let late = if k == 0 { seg.d as i64 } else { step + 1 };
                    assert!(
                        first_ms >= t - 1 && first_ms <= t + late,
                        "{f} {}: first sample at {first_ms} ms, timeline {t}",
                        seg.url
                    );
                    if k > 0 {
                        let prev = &r.segments[k - 1];
                        assert_eq!(prev.t + prev.d, seg.t, "{f}: a file's timeline follows on");
                    }
                    *got.entry(id).or_default() += packets.len();
                }
                let last = r.segments.last().unwrap();
                presentation_end = presentation_end.max((last.t + last.d - r.pto) as i64);
            }
        }
        assert_eq!(got, want, "{f}: every packet, once");
        assert_eq!(mpd.duration_ms, Some(presentation_end), "{f}");
    }
}

#[test]
fn analyse_reads_mpds_and_finds_what_is_broken() {
    let dir = TestDir::new("dash-analyse");
    let out = dir.join("pkg");
    mist_ok(&[
        "remux",
        fixture("h264_aac.flv").to_str().unwrap(),
        out.to_str().unwrap(),
        "--to",
        "dash",
        "--segment-duration",
        "0.5",
        "-q",
    ]);
    // Clean: the folder, and the MPD itself.
    for p in [out.clone(), out.join("index.mpd")] {
        let v = analyse_json(&p, &["--validate"]);
        let findings = v["findings"].as_array().unwrap();
        assert!(findings.is_empty(), "{}: {findings:?}", p.display());
        assert_eq!(v["format"], "dash");
        let tracks = v["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), 2, "{v}");
        // Every packet of the source counted once.
        let packets: u64 = tracks.iter().map(|t| t["packets"].as_u64().unwrap()).sum();
        let mut d = mist::pipeline::open(&fixture("h264_aac.flv")).unwrap();
        let mut want = 0;
        while d.next_packet().unwrap().is_some() {
            want += 1;
        }
        assert_eq!(packets, want, "{v}");
    }
    let text = std::fs::read_to_string(out.join("index.mpd")).unwrap();
    let broken = |name: &str, text: String, rename: Option<(String, String)>| {
        let p = dir.join(name);
        std::fs::create_dir_all(&p).unwrap();
        for e in std::fs::read_dir(&out).unwrap() {
            let e = e.unwrap();
            if e.path().is_dir() {
                let to = p.join(e.file_name());
                std::fs::create_dir_all(&to).unwrap();
                for f in std::fs::read_dir(e.path()).unwrap() {
                    let f = f.unwrap();
                    std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
                }
            }
        }
        std::fs::write(p.join("index.mpd"), text).unwrap();
        if let Some((a, b)) = rename {
            std::fs::rename(p.join(a), p.join(b)).unwrap();
        }
        let o = run(
            mist().arg("analyse").arg(&p).args(["--validate", "--json"]),
            false,
        );
        assert_eq!(o.status.code(), Some(1), "{name}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["message"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // The declared codec is not the one in the segments.
    let f = broken("codecs", text.replace("mp4a.40.2", "mp4a.40.34"), None);
    assert!(f.iter().any(|m| m.contains("mp4a.40.2")), "{f:?}");
    // A timeline that says a segment starts 300 ms later than its media.
    let (shifted, rename) = {
        let m = read_mpd("x", text.as_bytes());
        let segs = &m.periods[0].sets[0].reps[0].segments;
        assert!(segs.len() >= 2, "{text}");
        let rename = (
            segs[1].url.clone(),
            segs[1]
                .url
                .replace(&segs[1].t.to_string(), &(segs[1].t + 300).to_string()),
        );
        let mut tl = String::from("<SegmentTimeline>");
        for (k, s) in segs.iter().enumerate() {
            let t = if k == 1 { s.t + 300 } else { s.t };
            tl.push_str(&format!("<S t=\"{t}\" d=\"{}\"/>", s.d));
        }
        let a = text.find("<SegmentTimeline>").unwrap();
        let b = text.find("</SegmentTimeline>").unwrap();
        (format!("{}{tl}{}", &text[..a], &text[b..]), rename)
    };
    let f = broken("timeline", shifted, Some(rename));
    assert!(f.iter().any(|m| m.contains("timeline")), "{f:?}");
    // A missing mandatory attribute.
    let f = broken("nobw", text.replacen(" bandwidth=\"", " bw=\"", 1), None);
    assert!(f.iter().any(|m| m.contains("bandwidth")), "{f:?}");
}

// ---------------------------------------------------------------------------------------
// Live.

const LOOP_MS: i64 = 2000;

fn publisher_client() -> Client {
    Client {
        peer: "127.0.0.1:1".parse().unwrap(),
        protocol: "TEST",
    }
}

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

fn loop_packets(tracks: &[Track], packets: &[Packet], at_ms: i64) -> Vec<Packet> {
    packets
        .iter()
        .map(|p| {
            let tb = tracks.iter().find(|t| t.id == p.track).unwrap().timebase;
            let mut q = p.clone();
            q.dts = q.dts + Timebase::MS.rescale(at_ms, tb);
            q
        })
        .collect()
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

fn start(dvr_ms: u64) -> Live {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = Config::default();
    config.streams.insert(
        "live".into(),
        StreamConfig {
            name: "live".into(),
            source: "push://".into(),
            dvr: Some(dvr_ms),
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

fn fetch(http: SocketAddr, path: &str) -> Response {
    get(http, path, &[], 64 << 20, Duration::from_secs(20))
}

fn publish(live: &Live, tracks: &[Track]) -> Publisher {
    let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.to_vec());
    p
}

#[test]
fn live_mpd_lists_the_window_of_complete_segments_and_a_gap_after_a_reconnect() {
    let (tracks, packets) = fixture_loop();
    let live = start(10_000);
    let mut p = publish(&live, &tracks);
    let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut first_t_seen = Vec::new();
    let mut gap_seen = false;
    for i in 0..24 {
        if i == 14 {
            // A publisher reconnect: a new session whose clock starts at 0 again.
            drop(p);
            std::thread::sleep(Duration::from_millis(200));
            p = publish(&live, &tracks);
        }
        let session_ms = if i >= 14 {
            (i - 14) * LOOP_MS
        } else {
            i * LOOP_MS
        };
        for pk in loop_packets(&tracks, &packets, session_ms) {
            assert!(p.push(pk));
        }
        if i < 1 {
            continue;
        }
        let r = fetch(live.http, "/cmaf/live/index.mpd");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/dash+xml"));
        let text = String::from_utf8(r.body.clone()).unwrap();
        let mpd = read_mpd("live", &r.body);
        assert!(mpd.dynamic, "{text}");
        // After the reconnect, while both sessions are in the window: a t on the first S and
        // one after the gap, in each set (the parser refuses overlaps, so it is a gap: the hub
        // continued the clock by the time nobody published).
        gap_seen |= text.matches(" t=\"").count() >= 4;
        assert_eq!(mpd.time_shift_ms, Some(10_000), "{text}");
        assert!(mpd.availability_start.is_some());
        assert!(text.contains("urn:mpeg:dash:utc:direct:2014"), "{text}");
        assert_eq!(mpd.periods.len(), 1);
        let sets = &mpd.periods[0].sets;
        assert_eq!(sets.len(), 2, "{text}");
        for s in sets {
            for rep in &s.reps {
                let segs = &rep.segments;
                assert!(!segs.is_empty(), "{text}");
                // Never more than the DVR window.
                let listed: u64 = segs.iter().map(|s| s.d).sum();
                assert!(listed <= 10_000, "{listed} ms listed:\n{text}");
                // Only complete segments: the newest listed one ends at a cut that exists, and
                // every one is there to fetch.
                for sg in segs {
                    let path = format!("/cmaf/live/{}", sg.url);
                    let r = fetch(live.http, &path);
                    assert_eq!(r.status, 200, "{path}");
                    if let Some(old) = seen.insert(sg.url.clone(), r.body.clone()) {
                        assert_eq!(old, r.body, "{path} changed");
                    }
                }
                let init = fetch(
                    live.http,
                    &format!("/cmaf/live/{}", rep.init.as_ref().unwrap()),
                );
                assert_eq!(init.status, 200);
                first_t_seen.push(segs[0].t);
            }
        }
    }
    // The window moved on.
    assert!(
        first_t_seen.iter().max().unwrap() >= &10_000,
        "{first_t_seen:?}"
    );
    assert!(gap_seen, "the reconnect never showed as a timeline gap");
    // Not yet complete, or gone from the window: 404.
    let r = fetch(live.http, "/cmaf/live/index.mpd");
    let mpd = read_mpd("live", &r.body);
    let last = mpd.periods[0].sets[0].reps[0]
        .segments
        .last()
        .unwrap()
        .clone();
    let next = format!("/cmaf/live/1/chunk_{}.m4s", last.t + last.d);
    assert_eq!(fetch(live.http, &next).status, 404, "{next}");
    assert_eq!(fetch(live.http, "/cmaf/live/1/chunk_0.m4s").status, 404);
    drop(p);
}
