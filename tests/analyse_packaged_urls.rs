//! `mist analyse` of HLS, DASH, HDS and Smooth presentations named by URL: the playlists or
//! manifests and every segment they name are fetched over HTTP and checked as a folder is.
//!
//! Oracles: the analysis of the folder `mist remux` writes for the same file (the tests of
//! tests/hls.rs, tests/dash.rs and tests/hds_smooth.rs show `mist serve` answers the same
//! bytes), whose packet counts those tests check against ffprobe; and folders broken on
//! purpose, served by a plain static server, whose faults must be named over HTTP as they
//! are on disk.

mod util;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use util::serve::Serve;
use util::statics::static_server;
use util::*;

/// `mist analyse ARGS`: the process output.
fn analyse(args: &[&str]) -> Output {
    mist().arg("analyse").args(args).output().expect("run mist")
}

/// (format, per track (codec, packets), number of findings) of a `--json` report.
fn summary(out: &Output) -> (String, Vec<(String, u64)>, usize) {
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let tracks = v["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["codec"].as_str().unwrap_or("").to_string(),
                t["packets"].as_u64().unwrap(),
            )
        })
        .collect();
    (
        v["format"].as_str().unwrap().to_string(),
        tracks,
        v["findings"].as_array().map_or(0, |f| f.len()),
    )
}

#[test]
fn served_presentations_analyse_as_their_remux_folders_do() {
    let dir = TestDir::new("analyse-urls");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let serve = Serve::start(&[fixtures.to_str().unwrap()]);
    let http = serve.http.unwrap();
    for f in ["h264_aac.ts", "h264_aac.flv"] {
        for (to, url) in [
            ("hls", format!("/hls/{f}/index.m3u8")),
            ("hls-fmp4", format!("/cmaf/{f}/index.m3u8")),
            ("dash", format!("/cmaf/{f}/index.mpd")),
            ("hds", format!("/dynamic/{f}/manifest.f4m")),
            ("smooth", format!("/smooth/{f}.ism/Manifest")),
        ] {
            let folder = dir.join(&format!("{f}.{to}"));
            mist_ok(&[
                "remux",
                "-q",
                fixture(f).to_str().unwrap(),
                folder.to_str().unwrap(),
                "--to",
                to,
            ]);
            let on_disk = analyse(&["--validate", "--json", folder.to_str().unwrap()]);
            let url = format!("http://{http}{url}");
            let over_http = analyse(&["--validate", "--json", &url]);
            assert!(
                over_http.status.success(),
                "{url}: {}{}",
                String::from_utf8_lossy(&over_http.stdout),
                String::from_utf8_lossy(&over_http.stderr)
            );
            let want = summary(&on_disk);
            assert!(!want.1.is_empty(), "{f} {to}: tracks found on disk");
            assert!(
                want.1.iter().all(|(_, n)| *n > 0),
                "{f} {to}: packets on disk {want:?}"
            );
            assert_eq!(summary(&over_http), want, "{url}");
        }
    }
    assert!(serve
        .terminate(std::time::Duration::from_secs(10))
        .is_some());
}

#[test]
fn faults_are_named_over_http_as_on_disk() {
    let dir = TestDir::new("analyse-urls-broken");
    let out = dir.join("pkg");
    mist_ok(&[
        "remux",
        "-q",
        fixture("h264_aac.ts").to_str().unwrap(),
        out.to_str().unwrap(),
        "--to",
        "hls",
        "--segment-duration",
        "0.5",
    ]);
    let st = static_server(dir.path().to_path_buf());
    let url = format!("http://{}/pkg/index.m3u8", st.addr);
    let o = analyse(&["--validate", &url]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // A declared codec the segments do not hold (RFC 8216 §4.3.4.2: CODECS lists every one).
    let master = out.join("index.m3u8");
    let good = std::fs::read_to_string(&master).unwrap();
    std::fs::write(&master, good.replace("avc1.64000d", "avc1.42e01e")).unwrap();
    let o = analyse(&["--validate", &url]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("which CODECS"), "{text}");
    std::fs::write(&master, &good).unwrap();
    // An EXTINF above the target duration (RFC 8216 §4.3.3.1), named with the media
    // playlist's path relative to the master.
    let media = out.join("256_257/index.m3u8");
    let good_media = std::fs::read_to_string(&media).unwrap();
    std::fs::write(
        &media,
        good_media.replacen("#EXTINF:1.000,", "#EXTINF:1.600,", 1),
    )
    .unwrap();
    let o = analyse(&["--validate", &url]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("256_257/index.m3u8"), "{text}");
    assert!(text.contains("above EXT-X-TARGETDURATION"), "{text}");
    std::fs::write(&media, &good_media).unwrap();
    // A segment the server does not have: an error naming it and the HTTP status.
    let seg = good_media.lines().find(|l| l.ends_with(".ts")).unwrap();
    std::fs::remove_file(out.join("256_257").join(seg)).unwrap();
    let o = analyse(&["--validate", &url]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains(seg) && text.contains("404"), "{text}");
    // A playlist past the 16 MiB bound: one error line, exit 1, nothing more read.
    let huge = dir.join("huge.m3u8");
    let mut body = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:2\n");
    while body.len() <= 17 << 20 {
        body.push_str("#EXTINF:1.0,\nsegment-with-a-long-name-to-fill-the-playlist.ts\n");
    }
    std::fs::write(&huge, body).unwrap();
    let o = analyse(&[&format!("http://{}/huge.m3u8", st.addr)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("more than 16777216 bytes"), "{err}");
    // Nothing listens: one error line naming the address.
    let o = analyse(&["--timeout", "2", "http://127.0.0.1:9/x/index.m3u8"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

// ---- live HLS followed over reloads -----------------------------------------------------

/// The three segments of `audio_only.ts` packaged as HLS with 0.25 s asked for (1400_2403.ts, 2403_3405.ts and
/// 3405_3427.ts, about 1 s, 1 s and 22 ms of continuous audio) in `DIR/pkg/256/`.
const SEGS: [(&str, f64); 3] = [
    ("1400_2403.ts", 1.003),
    ("2403_3405.ts", 1.002),
    ("3405_3427.ts", 0.022),
];

/// `audio_only.ts` remuxed `--to` `to` with 0.25 s segments asked for, into `DIR/pkg`.
fn package_audio_only(dir: &TestDir, to: &str) -> std::path::PathBuf {
    let pkg = dir.join("pkg");
    mist_ok(&[
        "remux",
        "-q",
        fixture("audio_only.ts").to_str().unwrap(),
        pkg.to_str().unwrap(),
        "--to",
        to,
        "--segment-duration",
        "0.25",
    ]);
    pkg
}

/// A media playlist: `(segment index, discontinuity before it)` from [`SEGS`].
fn version(seq: u64, disc_seq: u64, segs: &[(usize, bool)], end: bool) -> String {
    let mut t = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:{seq}\n\
         #EXT-X-DISCONTINUITY-SEQUENCE:{disc_seq}\n"
    );
    for (i, d) in segs {
        if *d {
            t.push_str("#EXT-X-DISCONTINUITY\n");
        }
        t.push_str(&format!("#EXTINF:{:.3},\n{}\n", SEGS[*i].1, SEGS[*i].0));
    }
    if end {
        t.push_str("#EXT-X-ENDLIST\n");
    }
    t
}

/// `mist analyse --validate` of a live playlist whose server answers `versions` in turn
/// (one more at each reload, the last from then on): exit code and report.
fn follow(label: &str, versions: Vec<String>) -> (Option<i32>, String) {
    let dir = TestDir::new(&format!("analyse-live-{label}"));
    package_audio_only(&dir, "hls");
    for (s, _) in SEGS {
        assert!(dir.join("pkg/256").join(s).is_file(), "{s}");
    }
    let st = util::statics::scripted_server(
        dir.join("pkg"),
        vec![("/256/live.m3u8".to_string(), versions)],
    );
    let url = format!("http://{}/256/live.m3u8", st.addr);
    let o = analyse(&["--validate", "--duration", "4", &url]);
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn a_live_playlist_growing_by_the_rules_passes_and_every_segment_is_read() {
    // Oracle: the packets of the three segments (95 AAC frames, ffprobe's count for the
    // source in its sidecar), each read once however many reloads list it.
    let (code, text) = follow(
        "a_live_playlist_growing_by_the_rules_pas",
        vec![
            version(0, 0, &[(0, false)], false),
            version(0, 0, &[(0, false), (1, false)], false),
            version(0, 0, &[(0, false), (1, false), (2, false)], true),
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("0 errors"), "{text}");
    let src = ffprobe::sidecar("audio_only.ts").packets.len();
    assert!(
        text.lines().any(|l| l.contains("aac")
            && l.trim_end_matches(['│', '|', ' '])
                .ends_with(&src.to_string())),
        "{src} packets: {text}"
    );
}

#[test]
fn a_media_sequence_that_goes_back_is_an_error() {
    let (code, text) = follow(
        "a_media_sequence_that_goes_back_is_an_er",
        vec![
            version(1, 0, &[(1, false)], false),
            version(0, 0, &[(0, false), (1, false)], true),
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("EXT-X-MEDIA-SEQUENCE went back from 1 to 0 on reload (RFC 8216 §6.2.1)"),
        "{text}"
    );
}

#[test]
fn a_sequence_number_that_names_another_segment_is_an_error() {
    let (code, text) = follow(
        "a_sequence_number_that_names_another_seg",
        vec![
            version(0, 0, &[(0, false), (1, false)], false),
            version(0, 0, &[(1, false), (2, false)], true),
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("media sequence number 0 named 1400_2403.ts and now names 2403_3405.ts"),
        "{text}"
    );
}

#[test]
fn a_discontinuity_leaving_without_the_sequence_rising_is_an_error() {
    let (code, text) = follow(
        "a_discontinuity_leaving_without_the_sequ",
        vec![
            version(0, 0, &[(0, false), (1, true), (2, false)], false),
            version(2, 0, &[(2, false)], true),
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("EXT-X-DISCONTINUITY-SEQUENCE is 0 after 1 discontinuity left the playlist; it must be 1 (RFC 8216 §6.2.2)"),
        "{text}"
    );
}

#[test]
fn time_going_back_without_a_discontinuity_tag_is_an_error() {
    let (code, text) = follow(
        "time_going_back_without_a_discontinuity_",
        vec![
            version(0, 0, &[(1, false)], false),
            version(0, 0, &[(1, false), (0, false)], true),
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("not after the previous segment's last packet"),
        "{text}"
    );
}

#[test]
fn a_target_duration_too_short_is_an_error() {
    let (code, text) = follow(
        "a_target_duration_too_short_is_an_error",
        vec![
            version(0, 0, &[(0, false)], false),
            version(0, 0, &[(0, false), (1, false)], true)
                .replace("#EXTINF:1.002,", "#EXTINF:1.600,"),
        ],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("above EXT-X-TARGETDURATION"), "{text}");
}

/// [`version`] as a low-latency playlist: server control with `part_hold_back`, a part
/// target of 1.1 s, and each segment also listed as one part of its own length.
fn ll_version(seq: u64, segs: &[usize], end: bool, part_hold_back: &str) -> String {
    let mut t = format!(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:1\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={part_hold_back},HOLD-BACK=3.0\n\
         #EXT-X-PART-INF:PART-TARGET=1.1\n#EXT-X-MEDIA-SEQUENCE:{seq}\n"
    );
    for i in segs {
        let (name, d) = SEGS[*i];
        t.push_str(&format!(
            "#EXT-X-PART:DURATION={d:.3},URI=\"{name}\",INDEPENDENT=YES\n#EXTINF:{d:.3},\n{name}\n"
        ));
    }
    if end {
        t.push_str("#EXT-X-ENDLIST\n");
    }
    t
}

#[test]
fn low_latency_part_rules_are_checked_on_every_reload() {
    // draft-pantos-hls-rfc8216bis §4.4.3.8: PART-HOLD-BACK at least twice PART-TARGET. The
    // same playlists with 3.3 s (three part targets) pass; with 2.0 s the error names the
    // rule and the playlist.
    let versions = |hold: &str| {
        vec![
            ll_version(0, &[0], false, hold),
            ll_version(0, &[0, 1], false, hold),
            ll_version(0, &[0, 1, 2], true, hold),
        ]
    };
    let (code, text) = follow("low_latency_part_rules_pass", versions("3.3"));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("0 errors"), "{text}");
    let (code, text) = follow("low_latency_part_rules_fail", versions("2.0"));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("live.m3u8")
            && text.contains("PART-HOLD-BACK below twice PART-TARGET (§4.4.3.8)"),
        "{text}"
    );
}

#[test]
fn a_live_playlist_that_stops_advancing_is_an_error() {
    let (code, text) = follow(
        "a_live_playlist_that_stops_advancing_is_",
        vec![version(0, 0, &[(0, false)], false)],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("no new segment for") && text.contains("not advancing"),
        "{text}"
    );
}

// ---- live DASH followed over MPD updates --------------------------------------------------

/// A dynamic MPD over the three DASH segments of `audio_only.ts` (0.25 s asked for: chunks at
/// 1400, 2403 and 3405 ms lasting 1003, 1002 and 22 ms), listing those of `segs`, with
/// `ast` as availabilityStartTime; `end` makes it static (the stream ended).
fn mpd_version(ast: &str, segs: &[(u64, u64)], end: bool) -> String {
    let timeline: String = segs
        .iter()
        .map(|(t, d)| format!(r#"<S t="{t}" d="{d}"/>"#))
        .collect();
    let kind = if end {
        r#"type="static" mediaPresentationDuration="PT2.027S""#
    } else {
        r#"type="dynamic" minimumUpdatePeriod="PT0.5S""#
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" {kind} availabilityStartTime="{ast}" publishTime="{ast}" minBufferTime="PT1S">
  <Period id="0" start="PT0S">
    <AdaptationSet id="0" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1">
      <SegmentTemplate timescale="1000" presentationTimeOffset="1400" initialization="$RepresentationID$/init.m4s" media="$RepresentationID$/chunk_$Time$.m4s">
        <SegmentTimeline>{timeline}</SegmentTimeline>
      </SegmentTemplate>
      <Representation id="256" bandwidth="72047" codecs="mp4a.40.2" audioSamplingRate="48000"/>
    </AdaptationSet>
  </Period>
</MPD>"#
    )
}

const AST: &str = "2026-12-07T10:00:00Z";
const DASH_SEGS: [(u64, u64); 3] = [(1400, 1003), (2403, 1002), (3405, 22)];

/// `mist analyse --validate --json` of a dynamic MPD whose server answers `versions` in turn:
/// exit code and the report.
fn follow_mpd(label: &str, versions: Vec<String>) -> (Option<i32>, serde_json::Value) {
    let dir = TestDir::new(&format!("analyse-live-dash-{label}"));
    mist_ok(&[
        "remux",
        "-q",
        fixture("audio_only.ts").to_str().unwrap(),
        dir.join("pkg").to_str().unwrap(),
        "--to",
        "dash",
        "--segment-duration",
        "0.25",
    ]);
    for (t, _) in DASH_SEGS {
        assert!(dir.join(&format!("pkg/256/chunk_{t}.m4s")).is_file(), "{t}");
    }
    let st =
        util::statics::scripted_server(dir.join("pkg"), vec![("/live.mpd".to_string(), versions)]);
    let url = format!("http://{}/live.mpd", st.addr);
    let o = analyse(&["--validate", "--json", "--duration", "4", &url]);
    let doc = util::json_lines(&String::from_utf8_lossy(&o.stdout));
    (o.status.code(), doc)
}

fn errors(doc: &serde_json::Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["message"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_live_mpd_growing_by_the_rules_passes_and_every_segment_is_read() {
    // Oracle: ffprobe's packet count of the source (its sidecar): the three segments, each
    // read once however many updates list them, and the MPD turning static ends the follow.
    let (code, doc) = follow_mpd(
        "grows",
        vec![
            mpd_version(AST, &DASH_SEGS[..1], false),
            mpd_version(AST, &DASH_SEGS[..2], false),
            mpd_version(AST, &DASH_SEGS, true),
        ],
    );
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(errors(&doc), Vec::<String>::new());
    let src = ffprobe::sidecar("audio_only.ts").packets.len() as u64;
    assert_eq!(doc["tracks"][0]["packets"].as_u64(), Some(src));
}

#[test]
fn an_availability_start_that_moves_is_named() {
    let (code, doc) = follow_mpd(
        "ast",
        vec![
            mpd_version(AST, &DASH_SEGS[..1], false),
            mpd_version("2026-12-07T10:00:01Z", &DASH_SEGS[..2], false),
        ],
    );
    assert_eq!(code, Some(1), "{doc:#}");
    let e = errors(&doc);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].contains("availabilityStartTime changed from 2026-12-07T10:00:00Z"),
        "{e:#?}"
    );
}

#[test]
fn an_announced_segment_that_changes_is_named() {
    // The second segment first announced 1002 ms long, then 900.
    let (code, doc) = follow_mpd(
        "rewrite",
        vec![
            mpd_version(AST, &DASH_SEGS[..2], false),
            mpd_version(AST, &[(1400, 1003), (2403, 900)], false),
        ],
    );
    assert_eq!(code, Some(1), "{doc:#}");
    let e = errors(&doc);
    assert!(
        e.iter()
            .any(|m| m.contains("the segment at t=2403 changed")),
        "{e:#?}"
    );
}

#[test]
fn an_mpd_that_stops_advancing_is_named() {
    // Dynamic, one segment, never more: after three update periods (and thrice its 1 s
    // segment) the follow says the timeline stopped.
    let (_, doc) = follow_mpd("stall", vec![mpd_version(AST, &DASH_SEGS[..1], false)]);
    let f = doc["findings"].as_array().expect("findings");
    assert!(
        f.iter().any(|f| f["message"]
            .as_str()
            .unwrap_or("")
            .contains("the timeline stopped advancing")),
        "{f:#?}"
    );
}

/// Publishes `h264_aac.flv` to `rtmp` as stream `name`, paced in real time, for about `secs`
/// seconds, from a thread (mist's own RTMP test client: no ffmpeg needed). Each track is
/// looped on its own clock so neither has a gap or an overlap a validator would rightly flag:
/// video every 2 s (50 frames at 25 fps), audio frame after frame at 1024 samples of 48 kHz.
fn publish_live(rtmp: std::net::SocketAddr, name: &str, secs: u32) -> std::thread::JoinHandle<()> {
    use mist::formats::flv::tag::TagType;
    use mist::formats::rtmp::message::MessageType;
    let tags = util::rtmp::flv_tags(&fixture("h264_aac.flv"));
    let name = name.to_string();
    std::thread::spawn(move || {
        let mut c = util::rtmp::RtmpClient::connect(rtmp, "live").expect("connect");
        c.publish(&name).expect("publish");
        let sid = c.stream_id;
        let is_header = |t: &(TagType, u32, bytes::Bytes)| t.2.get(1) == Some(&0);
        let of = |k: TagType| -> Vec<_> {
            tags.iter()
                .filter(|t| t.0 == k && t.2.get(1) == Some(&1))
                .cloned()
                .collect()
        };
        // Frames only (AVC NALU and AAC raw packets: packet type 1), no end-of-sequence.
        let (video, audio) = (of(TagType::VIDEO), of(TagType::AUDIO));
        assert_eq!(video.len(), 50, "2 s of 25 fps video");
        let a0 = audio.first().map_or(0, |t| t.1);
        // (time ms, chunk stream, type, body), in time order.
        let mut plan: Vec<(u32, u32, TagType, bytes::Bytes)> = Vec::new();
        for t in tags.iter().filter(|t| is_header(t)) {
            plan.push((
                0,
                if t.0 == TagType::VIDEO { 6 } else { 4 },
                t.0,
                t.2.clone(),
            ));
        }
        let end = secs * 1000;
        for i in 0.. {
            let v = &video[i % video.len()];
            let at = (i / video.len()) as u32 * 2000 + v.1;
            if at > end {
                break;
            }
            plan.push((at, 6, TagType::VIDEO, v.2.clone()));
        }
        for k in 0u64.. {
            let at = a0 + u32::try_from(k * 1024 * 1000 / 48_000).unwrap_or(u32::MAX);
            if at > end {
                break;
            }
            plan.push((
                at,
                4,
                TagType::AUDIO,
                audio[k as usize % audio.len()].2.clone(),
            ));
        }
        plan.sort_by_key(|p| p.0);
        let start = std::time::Instant::now();
        for (at, cs, kind, body) in plan {
            let due = start + std::time::Duration::from_millis(u64::from(at));
            if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
                std::thread::sleep(wait);
            }
            if c.message(cs, at, MessageType(kind.0), sid, &body).is_err() {
                return;
            }
        }
    })
}

#[test]
fn a_live_mpd_of_mist_serve_is_followed_as_it_grows() {
    // Oracle: the publish rate, under §5.4's update rules (see `follow_mist_serve`).
    follow_mist_serve("/cmaf/cam/index.mpd");
}

// ---- live HDS followed over bootstrap reloads ---------------------------------------------

use mist::package::hds::bootstrap::{bootstrap, listing, Listed, Window};
use mist::package::hds::boxes::Abst;
use mist::package::Segment;

/// `audio_only.ts` packaged as HDS with 0.25 s asked for in `DIR/pkg` (three fragments:
/// 1400, 2403 and 3405 ms lasting 1003, 1002 and 22 ms), with `live.f4m` beside it: the
/// file's manifest made live, its bootstrap by URL at `live.abst`. Returns the fragments as
/// the file's own bootstrap lists them.
fn hds_package(dir: &TestDir) -> Vec<Listed> {
    let pkg = package_audio_only(dir, "hds");
    let raw = std::fs::read(pkg.join("256.abst")).unwrap();
    let all = listing(&Abst::parse_box(&bytes::Bytes::from(raw)).unwrap());
    assert_eq!(
        all.iter()
            .map(|l| (l.fragment, l.start, l.duration))
            .collect::<Vec<_>>(),
        [(1, 1400, 1003), (2, 2403, 1002), (3, 3405, 22)]
    );
    let f4m = std::fs::read_to_string(pkg.join("manifest.f4m")).unwrap();
    let live: String = f4m
        .lines()
        .filter(|l| !l.contains("<duration>"))
        .map(|l| {
            if l.contains("<bootstrapInfo") {
                r#"  <bootstrapInfo profile="named" id="boot256" url="live.abst"/>"#.to_string()
            } else {
                l.replace("recorded", "live")
            }
        })
        .map(|l| l + "\n")
        .collect();
    assert!(live.contains("<streamType>live</streamType>"), "{live}");
    std::fs::write(pkg.join("live.f4m"), live).unwrap();
    all
}

/// A bootstrap listing fragments `frags` (indices into `all`) with `version`: live, or
/// (`live` false) the presentation ended.
fn hds_abst(all: &[Listed], frags: &[usize], live: bool, version: u32) -> Abst {
    let segs: Vec<Segment> = frags
        .iter()
        .map(|&i| Segment {
            number: u64::from(all[i].fragment) - 1,
            start_ms: all[i].start as i64,
            end_ms: (all[i].start + u64::from(all[i].duration)) as i64,
            discontinuities: 0,
        })
        .collect();
    bootstrap(
        &Window {
            segments: &segs,
            live,
            ended: !live,
            version,
        },
        "audio_only.ts",
    )
}

/// `mist analyse --validate --json --duration SECS` of `live.f4m` whose bootstrap answers
/// the versions `make` builds in turn: exit code, report and how long it ran.
fn follow_f4m(
    label: &str,
    secs: &str,
    make: impl Fn(&[Listed]) -> Vec<Abst>,
) -> (Option<i32>, Value, std::time::Duration) {
    let dir = TestDir::new(&format!("analyse-live-hds-{label}"));
    let all = hds_package(&dir);
    let versions: Vec<Vec<u8>> = make(&all).iter().map(|a| a.to_bytes().to_vec()).collect();
    // Bootstraps inline in the manifest: each version is the manifest carrying one.
    let script = if label.starts_with("inline") {
        let f4m = std::fs::read_to_string(dir.join("pkg/live.f4m")).unwrap();
        let texts = versions
            .iter()
            .map(|b| {
                f4m.replace(
                    r#"url="live.abst"/>"#,
                    &format!(
                        ">{}</bootstrapInfo>",
                        mist::package::hds::manifest::base64_encode(b)
                    ),
                )
                .into_bytes()
            })
            .collect();
        ("/live.f4m".to_string(), texts)
    } else {
        ("/live.abst".to_string(), versions)
    };
    let st = util::statics::scripted_server(dir.join("pkg"), vec![script]);
    let url = format!("http://{}/live.f4m", st.addr);
    let t = std::time::Instant::now();
    let o = analyse(&["--validate", "--json", "--duration", secs, &url]);
    let took = t.elapsed();
    let doc = util::json_lines(&String::from_utf8_lossy(&o.stdout));
    (o.status.code(), doc, took)
}

#[test]
fn a_live_hds_bootstrap_growing_by_the_rules_passes_and_every_fragment_is_read() {
    // Oracle: ffprobe's packet count of the source (its sidecar): the three fragments, each
    // read once however many reloads list them; the Live flag dropping ends the follow long
    // before --duration.
    let (code, doc, took) = follow_f4m("grows", "20", |all| {
        vec![
            hds_abst(all, &[0], true, 1),
            hds_abst(all, &[0, 1], true, 2),
            hds_abst(all, &[0, 1, 2], true, 3),
            hds_abst(all, &[0, 1, 2], false, 4),
        ]
    });
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(errors(&doc), Vec::<String>::new());
    let src = ffprobe::sidecar("audio_only.ts").packets.len() as u64;
    assert_eq!(doc["tracks"][0]["packets"].as_u64(), Some(src), "{doc:#}");
    assert!(took < std::time::Duration::from_secs(12), "{took:?}");
}

#[test]
fn a_live_hds_bootstrap_inline_in_the_manifest_is_followed_through_the_manifest() {
    // The same growth with the bootstrap inline: the manifest itself is reloaded.
    let (code, doc, took) = follow_f4m("inline-grows", "20", |all| {
        vec![
            hds_abst(all, &[0], true, 1),
            hds_abst(all, &[0, 1], true, 2),
            hds_abst(all, &[1, 2], true, 3),
            hds_abst(all, &[1, 2], false, 4),
        ]
    });
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(errors(&doc), Vec::<String>::new());
    let src = ffprobe::sidecar("audio_only.ts").packets.len() as u64;
    assert_eq!(doc["tracks"][0]["packets"].as_u64(), Some(src), "{doc:#}");
    assert!(took < std::time::Duration::from_secs(12), "{took:?}");
}

#[test]
fn a_live_hds_current_media_time_going_back_is_named() {
    let (code, doc, _) = follow_f4m("cmt", "4", |all| {
        let a = hds_abst(all, &[0, 1], true, 1);
        let mut b = hds_abst(all, &[0, 1], true, 2);
        b.current_media_time = 2500;
        vec![a, b]
    });
    assert_eq!(code, Some(1), "{doc:#}");
    let e = errors(&doc);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].contains("<media url=\"256-\">: CurrentMediaTime went back from 3405 ms to 2500 ms"),
        "{e:#?}"
    );
}

#[test]
fn a_live_hds_fragment_that_changes_is_named() {
    // Fragment 2 first listed at 2403 ms for 1002 ms, then for 900 ms.
    let (code, doc, _) = follow_f4m("changed", "4", |all| {
        let a = hds_abst(all, &[0, 1], true, 1);
        let mut b = hds_abst(all, &[0, 1], true, 2);
        b.fragment_tables[0].runs[1].duration = 900;
        b.current_media_time = 3303;
        vec![a, b]
    });
    assert_eq!(code, Some(1), "{doc:#}");
    let e = errors(&doc);
    assert!(
        e.iter().any(|m| m.contains(
            "fragment 2 changed on reload (timestamp 2403 duration 1002 became timestamp 2403 \
             duration 900"
        )),
        "{e:#?}"
    );
}

#[test]
fn a_live_hds_window_going_back_is_named() {
    let (code, doc, _) = follow_f4m("back", "4", |all| {
        vec![
            hds_abst(all, &[1, 2], true, 1),
            hds_abst(all, &[0, 1, 2], true, 2),
        ]
    });
    assert_eq!(code, Some(1), "{doc:#}");
    let e = errors(&doc);
    assert!(
        e.iter()
            .any(|m| m.contains("the fragment run table's first fragment went back from 2 to 1")),
        "{e:#?}"
    );
}

#[test]
fn a_live_hds_profile_that_flips_is_named() {
    let (code, doc, _) = follow_f4m("profile", "4", |all| {
        let mut b = hds_abst(all, &[0, 1], true, 2);
        b.profile = 1;
        vec![hds_abst(all, &[0], true, 1), b]
    });
    assert_eq!(code, Some(1), "{doc:#}");
    let e = errors(&doc);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].contains("the bootstrap's Profile changed from 0 to 1"),
        "{e:#?}"
    );
}

#[test]
fn a_live_hds_bootstrap_that_stops_advancing_is_named() {
    // Live, one fragment, never more: after three reloads (and thrice its 1 s) the follow
    // says the timeline stopped.
    let (_, doc, _) = follow_f4m("stall", "6", |all| vec![hds_abst(all, &[0], true, 1)]);
    let f = doc["findings"].as_array().expect("findings");
    assert!(
        f.iter().any(|f| f["message"]
            .as_str()
            .unwrap_or("")
            .contains("no new fragment in")
            && f["message"]
                .as_str()
                .unwrap_or("")
                .contains("the timeline stopped advancing")),
        "{f:#?}"
    );
    assert_eq!(errors(&doc), Vec::<String>::new());
}

// ---- live Smooth Streaming followed over manifest reloads ---------------------------------

/// `audio_only.ts` packaged as Smooth Streaming with 0.25 s asked for in `DIR/pkg` (three
/// fragments at t=14000000, 24026667 and 34053333); returns its manifest's `QualityLevel`
/// line and `c` lines.
fn smooth_package(dir: &TestDir) -> (String, Vec<String>) {
    let pkg = package_audio_only(dir, "smooth");
    let text = std::fs::read_to_string(pkg.join("Manifest")).unwrap();
    let quality = text
        .lines()
        .find(|l| l.contains("<QualityLevel "))
        .expect("a QualityLevel")
        .to_string();
    let chunks: Vec<String> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("<c "))
        .map(String::from)
        .collect();
    assert_eq!(
        chunks.iter().map(|c| c.trim()).collect::<Vec<_>>(),
        [
            r#"<c t="14000000" d="10026667"/>"#,
            r#"<c t="24026667" d="10026666"/>"#,
            r#"<c t="34053333" d="213334"/>"#
        ]
    );
    (quality, chunks)
}

/// A client manifest over the audio stream of [`smooth_package`] listing `chunks`: live
/// (IIS's live attributes) or on demand.
fn smooth_version(quality: &str, chunks: &[&str], live: bool) -> String {
    let kind = if live {
        r#"Duration="0" IsLive="TRUE" LookAheadFragmentCount="2" DVRWindowLength="0""#
    } else {
        r#"Duration="20266667""#
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<SmoothStreamingMedia MajorVersion=\"2\" \
         MinorVersion=\"0\" TimeScale=\"10000000\" {kind}>\n  <StreamIndex Type=\"audio\" \
         Name=\"audio\" Chunks=\"{}\" QualityLevels=\"1\" \
         Url=\"QualityLevels({{bitrate}})/Fragments(audio={{start time}})\">\n{quality}\n{}\n  \
         </StreamIndex>\n</SmoothStreamingMedia>\n",
        chunks.len(),
        chunks.join("\n")
    )
}

/// `mist analyse --validate --json --duration SECS` of a live manifest whose server answers
/// the versions `make` writes (from the QualityLevel line and the `c` lines) in turn: exit
/// code, report and how long it ran.
fn follow_ssm(
    label: &str,
    secs: &str,
    make: impl Fn(&str, &[&str]) -> Vec<String>,
) -> (Option<i32>, Value, std::time::Duration) {
    let dir = TestDir::new(&format!("analyse-live-smooth-{label}"));
    let (quality, chunks) = smooth_package(&dir);
    let c: Vec<&str> = chunks.iter().map(String::as_str).collect();
    let versions = make(&quality, &c);
    let st =
        util::statics::scripted_server(dir.join("pkg"), vec![("/Manifest".to_string(), versions)]);
    let url = format!("http://{}/Manifest", st.addr);
    let t = std::time::Instant::now();
    let o = analyse(&["--validate", "--json", "--duration", secs, &url]);
    let took = t.elapsed();
    let doc = util::json_lines(&String::from_utf8_lossy(&o.stdout));
    (o.status.code(), doc, took)
}

#[test]
fn a_live_smooth_manifest_growing_by_the_rules_passes_and_every_fragment_is_read() {
    // Oracle: ffprobe's packet count of the source (its sidecar): the three fragments, each
    // read once however many reloads list them; IsLive turning off ends the follow long
    // before --duration.
    let (code, doc, took) = follow_ssm("grows", "20", |q, c| {
        vec![
            smooth_version(q, &c[..1], true),
            smooth_version(q, &c[..2], true),
            smooth_version(q, c, true),
            smooth_version(q, c, false),
        ]
    });
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(errors(&doc), Vec::<String>::new());
    let src = ffprobe::sidecar("audio_only.ts").packets.len() as u64;
    assert_eq!(doc["tracks"][0]["packets"].as_u64(), Some(src), "{doc:#}");
    assert!(took < std::time::Duration::from_secs(12), "{took:?}");
}

#[test]
fn a_live_smooth_fragment_that_changes_is_named() {
    // The second fragment first announced 10026666 long, then 9000000.
    let (code, doc, _) = follow_ssm("changed", "4", |q, c| {
        let short = c[1].replace("10026666", "9000000");
        vec![
            smooth_version(q, &c[..2], true),
            smooth_version(q, &[c[0], &short], true),
        ]
    });
    assert_eq!(code, Some(1), "{doc:#}");
    let e = errors(&doc);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].contains(
            "StreamIndex audio: the fragment at t=24026667 changed its d from 10026666 to \
             9000000 on reload (MS-SSTR 2.2.2.6"
        ),
        "{e:#?}"
    );
}

#[test]
fn a_live_smooth_window_going_back_is_named() {
    let (code, doc, _) = follow_ssm("back", "4", |q, c| {
        vec![smooth_version(q, &c[1..], true), smooth_version(q, c, true)]
    });
    assert_eq!(code, Some(1), "{doc:#}");
    let e = errors(&doc);
    assert!(
        e.iter().any(|m| m.contains(
            "the window's first fragment went back from t=24026667 to t=14000000 on reload \
             (MS-SSTR 2.2.2.1 DVRWindowLength"
        )),
        "{e:#?}"
    );
}

#[test]
fn a_live_smooth_track_that_changes_is_named() {
    let (code, doc, _) = follow_ssm("tracks", "4", |q, c| {
        let other = q.replace("Bitrate=\"", "Bitrate=\"1");
        vec![
            smooth_version(q, &c[..1], true),
            smooth_version(&other, &c[..2], true),
        ]
    });
    assert_eq!(code, Some(1), "{doc:#}");
    let e = errors(&doc);
    assert!(
        e.iter().any(
            |m| m.contains("StreamIndex audio: its QualityLevels changed on reload")
                && m.contains("MS-SSTR 2.2.2.5")
        ),
        "{e:#?}"
    );
}

#[test]
fn a_live_smooth_manifest_that_stops_advancing_is_named() {
    let (_, doc, _) = follow_ssm("stall", "6", |q, c| vec![smooth_version(q, &c[..1], true)]);
    let f = doc["findings"].as_array().expect("findings");
    assert!(
        f.iter().any(|f| f["message"]
            .as_str()
            .unwrap_or("")
            .contains("the timeline stopped advancing")),
        "{f:#?}"
    );
    assert_eq!(errors(&doc), Vec::<String>::new());
}

// ---- mist serve's live HDS and Smooth followed under a paced publish ----------------------

/// Video packets of a `--json` report.
fn video_packets(d: &Value) -> u64 {
    d["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .find(|t| t["codec"] == "h264")
        .and_then(|t| t["packets"].as_u64())
        .unwrap_or(0)
}

/// Follows `path` of a `mist serve` that a paced publish feeds: a 0.5 s look, then 6 s; both
/// without error (the manifest's update rules hold), the second seeing at least 3 s more of
/// 25 fps video, the publish rate's oracle (fragments appear whole, up to a fragment late,
/// and Smooth holds two back as its lookahead).
fn follow_mist_serve(path: &str) {
    let server = Serve::start(&["--stream", "cam=push://"]);
    let rtmp = server.rtmp.expect("RTMP address");
    let _pub = publish_live(rtmp, "cam", 20);
    let url = format!("{}{path}", server.base());
    // A few fragments exist before the manifest is read (Smooth lists one once two follow).
    std::thread::sleep(std::time::Duration::from_secs(8));
    let look = |secs: &str| {
        let o = analyse(&["--validate", "--json", "--duration", secs, &url]);
        let doc = util::json_lines(&String::from_utf8_lossy(&o.stdout));
        (o.status.code(), doc)
    };
    let (code, first) = look("0.5");
    assert_eq!(code, Some(0), "{first:#}");
    assert_eq!(errors(&first), Vec::<String>::new());
    let (code, doc) = look("6");
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(errors(&doc), Vec::<String>::new());
    let (a, b) = (video_packets(&first), video_packets(&doc));
    assert!(a > 0, "{first:#}");
    assert!(
        b >= a + 75,
        "{a} video packets at first, {b} after following for 6 s"
    );
}

#[test]
fn a_live_ll_hls_playlist_of_mist_serve_is_followed_as_it_grows() {
    // mist's fMP4 HLS is low-latency: its media playlists carry parts, so the draft's part
    // rules are checked on every reload besides RFC 8216's.
    follow_mist_serve("/cmaf/cam/index.m3u8");
}

#[test]
fn a_live_f4m_of_mist_serve_is_followed_as_it_grows() {
    follow_mist_serve("/dynamic/cam/manifest.f4m");
}

#[test]
fn a_live_smooth_manifest_of_mist_serve_is_followed_as_it_grows() {
    follow_mist_serve("/smooth/cam.ism/Manifest");
}
