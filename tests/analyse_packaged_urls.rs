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
    mist_ok(&[
        "remux",
        "-q",
        fixture("audio_only.ts").to_str().unwrap(),
        dir.join("pkg").to_str().unwrap(),
        "--to",
        "hls",
        "--segment-duration",
        "0.25",
    ]);
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
