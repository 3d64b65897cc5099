//! Fragmented MP4 in a browser's Media Source Extensions (issue 6). Oracle: Chromium's own MSE
//! implementation (its MP4 stream parser, SourceBuffer and decoders), run headless on a page
//! (tests/interop_mse.html) that splits the file into the init segment and its moof+mdat
//! fragments by walking box headers, appends them in order to one SourceBuffer, calls
//! endOfStream() and plays the result muted. The page reports errors, `video.buffered`,
//! `mediaSource.duration` and how far playback got; the test reads that back from
//! `chromium --dump-dom`.
//!
//! ffmpeg's own fragmented output of the same fixture runs through the same page first, as a
//! control: if it fails too, the browser or the setup is at fault, not mist.
//!
//! Compiled only with `--features interop`; needs `chromium` (Debian package, installed by
//! `.ci/run`) and `ffmpeg`, and fails loudly without them.
#![cfg(feature = "interop")]

mod util;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use util::browser::{self, require_chromium, PageServer};
use util::{ffprobe, fixture, mist, run, TestDir};

/// The page, served as `/page.html`.
const PAGE: &str = include_str!("interop_mse.html");
/// Longest one browser run may take, page load to DOM dump (it takes a few seconds).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);
/// One frame of the 25 fps fixtures, the tolerance on buffered/played times.
const FRAME_S: f64 = 0.04;
/// How far past the last track's end (as ffprobe reads the file) `mediaSource.duration` may
/// be. Chromium ends each frame at its presentation time plus its `trun` duration, which is a
/// decode duration: in vfr.mp4 a reordered frame with a 0.16 s decode duration ends the range
/// 0.12 s after ffprobe's end, in ffmpeg's output and mist's alike.
const END_SLACK_S: f64 = 0.25;

// ---------------------------------------------------------------------------------------
// The codecs string, from the file's own sample descriptions (RFC 6381).

/// Child boxes of `buf[start..end]`: (type, body start, end).
fn children(buf: &[u8], start: usize, end: usize) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    while at + 8 <= end {
        let mut size = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = buf[at + 4..at + 8].try_into().unwrap();
        let mut head = 8;
        if size == 1 {
            size = u64::from_be_bytes(buf[at + 8..at + 16].try_into().unwrap()) as usize;
            head = 16;
        } else if size == 0 {
            size = end - at;
        }
        assert!(size >= head && at + size <= end, "bad box size at {at}");
        out.push((kind, at + head, at + size));
        at += size;
    }
    out
}

fn child(buf: &[u8], start: usize, end: usize, kind: &[u8; 4]) -> Option<(usize, usize)> {
    children(buf, start, end)
        .into_iter()
        .find(|(k, _, _)| k == kind)
        .map(|(_, s, e)| (s, e))
}

/// MPEG-4 descriptor at `at`: (tag, body start, body end).
fn descriptor(buf: &[u8], mut at: usize) -> (u8, usize, usize) {
    let tag = buf[at];
    at += 1;
    let mut len = 0usize;
    for _ in 0..4 {
        let b = buf[at];
        at += 1;
        len = len << 7 | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    (tag, at, at + len)
}

/// `mp4a.OO.A`: object type indication (hex) and the AudioSpecificConfig's audio object type.
fn mp4a_codec(buf: &[u8], esds: (usize, usize)) -> String {
    let (tag, mut at, _) = descriptor(buf, esds.0 + 4);
    // ES_ID (2), flags (1), then what the flags announce.
    assert_eq!(tag, 3, "esds: ES_Descriptor");
    let flags = buf[at + 2];
    at += 3;
    if flags & 0x80 != 0 {
        at += 2;
    }
    if flags & 0x40 != 0 {
        at += 1 + usize::from(buf[at]);
    }
    if flags & 0x20 != 0 {
        at += 2;
    }
    let (tag, at, _) = descriptor(buf, at);
    assert_eq!(tag, 4, "esds: DecoderConfigDescriptor");
    let oti = buf[at];
    if oti != 0x40 {
        // MPEG-1/2 audio and the like: the object type alone (e.g. mp4a.6b for MP3).
        return format!("mp4a.{oti:02x}");
    }
    // objectTypeIndication, streamType, bufferSizeDB (3), maxBitrate, avgBitrate: 13 bytes.
    let (tag, asc, _) = descriptor(buf, at + 13);
    assert_eq!(tag, 5, "esds: DecoderSpecificInfo");
    let mut aot = buf[asc] >> 3;
    if aot == 31 {
        aot = 32 + ((buf[asc] & 7) << 3 | buf[asc + 1] >> 5);
    }
    format!("mp4a.{oti:02x}.{aot}")
}

/// The RFC 6381 codecs of every track in the init segment, in track order: `avc1.PPCCLL` from
/// the avcC's profile, compatibility and level bytes, `mp4a.40.A` from the esds.
fn codecs(file: &[u8]) -> Vec<String> {
    let (ms, me) = child(file, 0, file.len(), b"moov").expect("moov");
    let mut out = Vec::new();
    for (kind, ts, te) in children(file, ms, me) {
        if &kind != b"trak" {
            continue;
        }
        let stsd = child(file, ts, te, b"mdia")
            .and_then(|(s, e)| child(file, s, e, b"minf"))
            .and_then(|(s, e)| child(file, s, e, b"stbl"))
            .and_then(|(s, e)| child(file, s, e, b"stsd"))
            .expect("trak/mdia/minf/stbl/stsd");
        // Full box header (4) and entry count (4), then the sample entries.
        for (entry, es, ee) in children(file, stsd.0 + 8, stsd.1) {
            match &entry {
                // VisualSampleEntry: 78 bytes of fields before its child boxes.
                b"avc1" | b"avc3" => {
                    let (a, _) = child(file, es + 78, ee, b"avcC").expect("avcC");
                    out.push(format!(
                        "{}.{:02x}{:02x}{:02x}",
                        String::from_utf8_lossy(&entry),
                        file[a + 1],
                        file[a + 2],
                        file[a + 3]
                    ));
                }
                // AudioSampleEntry: 28 bytes of fields.
                b"mp4a" => {
                    let esds = child(file, es + 28, ee, b"esds").expect("esds");
                    out.push(mp4a_codec(file, esds));
                }
                other => panic!("no codecs string for {}", String::from_utf8_lossy(other)),
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The browser.

/// What one page run reported, parsed from the dumped DOM.
struct Report {
    json: Value,
    /// Wall-clock time of the chromium run.
    took: Duration,
}

/// Runs headless Chromium on the page for `name` (served from `file`) and returns the
/// page's report.
fn browse(dir: &TestDir, name: &str, file: &Path, codecs: &str) -> Report {
    let bytes = std::fs::read(file).expect("read media");
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let server = PageServer::start(
        vec![
            (
                "/page.html".into(),
                "text/html; charset=utf-8",
                PAGE.as_bytes().to_vec(),
            ),
            (format!("/m/{name}"), "video/mp4", bytes),
        ],
        deadline,
    );
    let url = format!(
        "http://127.0.0.1:{}/page.html?media=/m/{name}&codecs={codecs}",
        server.port()
    );
    let run = browser::chromium(dir, name, &url, deadline);
    let (posted, requests) = server.stop();
    let log_tail = &run.log_tail;
    let Some(status) = run.status else {
        panic!(
            "{name}: chromium did not finish within {BROWSER_TIMEOUT:?}\nrequests: \
             {requests:?}\nposted: {posted:?}\nchromium log:\n{log_tail}"
        );
    };
    assert!(
        status.success(),
        "{name}: chromium exited with {status}\nchromium log:\n{log_tail}"
    );
    // In the <pre>, not in the script's own text further down.
    let Some(text) = browser::between(&run.dom, "<pre id=\"result\">MSE-RESULT ", " MSE-END")
    else {
        panic!(
            "{name}: no result in the dumped DOM\nrequests: {requests:?}\nposted: \
             {posted:?}\nDOM:\n{}\nchromium log:\n{log_tail}",
            run.dom
        );
    };
    let json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name}: result is not JSON ({e}): {text}"));
    if let Some(p) = posted {
        let p: Value = serde_json::from_str(&p).expect("posted JSON");
        assert_eq!(p, json, "{name}: posted and dumped results differ");
    }
    Report {
        json,
        took: run.took,
    }
}

// ---------------------------------------------------------------------------------------

/// What ffprobe reads in `file` (edit lists applied), in seconds: where the browser's
/// buffered range should begin and end.
struct Span {
    /// The latest first presentation time of any stream.
    first: f64,
    /// The earliest end (last pts + duration) of any stream.
    end: f64,
    /// The latest end of any stream.
    latest: f64,
    /// Video packets: every one should be decoded by the end of playback.
    video_frames: u64,
}

/// `video.buffered` is the intersection of the tracks' ranges (after endOfStream() each
/// extended to the latest end).
fn probe_span(file: &Path) -> Span {
    let probe = ffprobe::run(file);
    let (mut start, mut end, mut latest) = (f64::MIN, f64::MAX, f64::MIN);
    let mut video_frames = 0;
    for s in &probe.streams {
        if s.codec_type == "video" {
            video_frames += probe.stream_packets(s.index).len() as u64;
        }
        let (num, den) = s.time_base;
        let secs = |t: i64| t as f64 * num as f64 / den as f64;
        let packets = probe.stream_packets(s.index);
        let first = packets
            .iter()
            .filter_map(|p| p.pts)
            .min()
            .expect("a packet");
        let last = packets
            .iter()
            .filter_map(|p| Some(p.pts? + p.duration.unwrap_or(0)))
            .max()
            .expect("a packet");
        start = start.max(secs(first));
        end = end.min(secs(last));
        latest = latest.max(secs(last));
    }
    Span {
        first: start,
        end,
        latest,
        video_frames,
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// What a run must show beyond "no error".
#[derive(Clone, Copy, PartialEq)]
enum Has {
    AudioVideo,
    Video,
    Audio,
}

/// The assertions: no error; one buffered range that covers the file from its first
/// presentation time (or 0) to the end of its shortest track, as ffprobe reads the same file,
/// within a frame; mediaSource.duration no later than its longest track's end (plus
/// [`END_SLACK_S`]); playback past 1 s and on to `ended` at the buffered end without
/// `video.error`, with every video frame
/// (ffprobe's packet count) decoded at 320x240 when there is video.
///
/// The range may start before the first presentation time: Chromium starts a track's range at
/// the fragment's decode time (`tfdt`), so ffmpeg's output, whose video has no edit list and
/// presents its first frame at 0.08 s, is buffered from 0.
fn check(name: &str, file: &Path, r: &Report, has: Has) -> Result<(), String> {
    let j = &r.json;
    eprintln!(
        "mse: {name}: chromium run {:.2} s, page {} ms: {} status {} buffered {} duration {} \
         currentTime {} frames {}",
        r.took.as_secs_f64(),
        j["elapsed_ms"],
        j["mime"],
        j["status"],
        j["buffered"],
        j["duration"],
        j["current_time"],
        j["frames"]
    );
    let support = &j["supported"];
    if support["mime"] != Value::Bool(true) {
        return Err(format!(
            "{name}: Chromium's MediaSource.isTypeSupported refuses {} (per codec: {}): this \
             chromium cannot play these codecs in MSE (H.264/AAC need a build with \
             proprietary codecs), so nothing about the file was tested",
            j["mime"], support["parts"]
        ));
    }
    let errors = j["errors"].as_array().cloned().unwrap_or_default();
    if !errors.is_empty() || j["status"] != "ok" {
        return Err(format!(
            "{name}: the browser reported errors: {errors:?}\nfull report: {j:#}"
        ));
    }
    let Span {
        first,
        end,
        latest,
        video_frames,
    } = probe_span(file);
    let buffered = j["buffered"].as_array().cloned().unwrap_or_default();
    if buffered.len() != 1 {
        return Err(format!(
            "{name}: video.buffered should be one range, is {buffered:?}\nfull report: {j:#}"
        ));
    }
    let (b0, b1) = (f(&buffered[0][0]), f(&buffered[0][1]));
    if !(b0 >= -FRAME_S && b0 <= first.max(0.0) + FRAME_S) {
        return Err(format!(
            "{name}: buffered starts at {b0}, ffprobe's first presentation time is {first}\n{j:#}"
        ));
    }
    if !(b1 >= end - FRAME_S && b1 >= 1.9) {
        return Err(format!(
            "{name}: buffered ends at {b1}, ffprobe's shortest track ends at {end}\n{j:#}"
        ));
    }
    let duration = f(&j["duration"]);
    if !(duration >= b1 - 1e-6 && duration <= latest + END_SLACK_S) {
        return Err(format!(
            "{name}: mediaSource.duration {duration}, buffered end {b1}, ffprobe's tracks end \
             at {end}..{latest}\n{j:#}"
        ));
    }
    let t = f(&j["current_time"]);
    if j["passed_1s"].is_null() || j["ended"] != Value::Bool(true) || t < b1 - FRAME_S {
        return Err(format!(
            "{name}: playback did not pass 1 s and reach the end: currentTime {t}, ended {}\n{j:#}",
            j["ended"]
        ));
    }
    let frames = j["frames"]["total"].as_u64().unwrap_or(0);
    if has == Has::Audio {
        if frames != 0 || j["video_size"] != serde_json::json!([0, 0]) {
            return Err(format!("{name}: video in an audio-only file?\n{j:#}"));
        }
    } else if frames != video_frames || j["video_size"] != serde_json::json!([320, 240]) {
        return Err(format!(
            "{name}: {frames} video frames decoded (presented or dropped) of {video_frames}, \
             size {}\n{j:#}",
            j["video_size"]
        ));
    }
    if has == Has::Video && j["mime"].as_str().unwrap_or("").contains("mp4a") {
        return Err(format!("{name}: audio in a video-only file?\n{j:#}"));
    }
    Ok(())
}

fn ffmpeg_fragmented(input: &Path, output: &Path, extra: &[&str]) {
    util::require("ffmpeg");
    let out = Command::new("ffmpeg")
        .arg("-nostdin")
        .args(["-v", "error", "-y", "-i"])
        .arg(input)
        .args(extra)
        .args([
            "-c",
            "copy",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
        ])
        .arg(output)
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mist_fmp4(input: &Path, output: &Path, extra: &[&str]) {
    run(
        mist()
            .args(["convert", input.to_str().unwrap(), output.to_str().unwrap()])
            .args(["--to", "fmp4", "-f", "-q"])
            .args(extra),
        true,
    );
}

/// Plays `file` through the page and checks it; `codecs` as the file's init segment says.
fn play(dir: &TestDir, name: &str, file: &Path, has: Has) -> Result<Vec<String>, String> {
    let bytes = std::fs::read(file).expect("read output");
    let c = codecs(&bytes);
    let report = browse(dir, name, file, &c.join(","));
    check(name, file, &report, has).map(|()| c)
}

/// For each case, ffmpeg's fragmented output of the fixture (the control), then mist's; a
/// mist failure is reported only where the control passed.
fn mist_and_control(cases: &[(&str, &[&str], &[&str], Has)]) -> Vec<Vec<String>> {
    let version = require_chromium();
    eprintln!("mse: {version}");
    let dir = TestDir::new("mse");
    let mut failures = Vec::new();
    let mut all_codecs = Vec::new();
    for (fixture_name, mist_args, ffmpeg_args, has) in cases {
        let src = fixture(fixture_name);
        let stem = fixture_name.trim_end_matches(".mp4");
        let tag = mist_args.join("").replace(['-', ','], "");
        let ff = dir.join(&format!("{stem}{tag}.ffmpeg.mp4"));
        ffmpeg_fragmented(&src, &ff, ffmpeg_args);
        let ours = dir.join(&format!("{stem}{tag}.mist.mp4"));
        mist_fmp4(&src, &ours, mist_args);
        let control = play(&dir, &format!("{stem}{tag}.ffmpeg.mp4"), &ff, *has);
        let got = play(&dir, &format!("{stem}{tag}.mist.mp4"), &ours, *has);
        match (control, got) {
            (Err(c), _) => {
                failures.push(format!("CONTROL FAILED (browser or setup, not mist): {c}"))
            }
            (Ok(_), Err(e)) => failures.push(format!("MIST FAILED where ffmpeg plays: {e}")),
            (Ok(want), Ok(c)) => {
                assert_eq!(c, want, "{fixture_name}: mist and ffmpeg codecs strings");
                all_codecs.push(c);
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
    all_codecs
}

/// H.264 High + AAC LC, both tracks in one init segment and one SourceBuffer (Chromium accepts
/// a muxed init): ffmpeg's fragmented output (the control), then mist's.
#[test]
fn fmp4_plays_in_chromium_mse() {
    // The sidecar says what the fixture is: avcC profile_idc 100 (High), level_idc 13; ASC
    // object type 2 (AAC LC).
    let want = ffprobe::sidecar("faststart.mp4");
    let kinds: Vec<(&str, &str, Option<&str>)> = want
        .streams
        .iter()
        .map(|s| {
            (
                s.codec_type.as_str(),
                s.codec_name.as_str(),
                s.profile.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("video", "h264", Some("High")),
            ("audio", "aac", Some("LC"))
        ]
    );
    let c = mist_and_control(&[("faststart.mp4", &[], &[], Has::AudioVideo)]);
    assert_eq!(c, [["avc1.64000d", "mp4a.40.2"]]);
}

/// One track per file, as a player with a SourceBuffer per track would use them
/// (`--tracks video`, `--tracks audio`; audio alone is fragmented every 2 s, not at keyframes).
#[test]
fn single_track_fmp4_plays_in_chromium_mse() {
    let c = mist_and_control(&[
        (
            "faststart.mp4",
            &["--tracks", "video"],
            &["-an"],
            Has::Video,
        ),
        (
            "faststart.mp4",
            &["--tracks", "audio"],
            &["-vn"],
            Has::Audio,
        ),
    ]);
    assert_eq!(c, [vec!["avc1.64000d"], vec!["mp4a.40.2"]]);
}

/// The other 2 s H.264 fixtures: B-frames behind an edit list, 29.97 fps, variable frame
/// rate, AAC at 44.1 kHz, two audio tracks in one SourceBuffer. (Not mp3_in.mp4: this
/// Chromium's MediaSource.isTypeSupported refuses MP3 in MP4 — mp4a.6b, mp4a.6B, mp4a.69 —
/// for ffmpeg's output as for mist's.)
#[test]
fn other_fixtures_fmp4_play_in_chromium_mse() {
    mist_and_control(&[
        ("bframes_editlist.mp4", &[], &[], Has::Video),
        ("ntsc_2997.mp4", &[], &[], Has::AudioVideo),
        ("vfr.mp4", &[], &[], Has::Video),
        ("aac_44k.mp4", &[], &[], Has::AudioVideo),
        ("two_audio.mp4", &[], &["-map", "0"], Has::AudioVideo),
    ]);
}

/// Top-level box `kind` number `nth` (0-based): (body start, end).
fn nth_box(file: &[u8], kind: &[u8; 4], nth: usize) -> (usize, usize) {
    children(file, 0, file.len())
        .into_iter()
        .filter(|(k, _, _)| k == kind)
        .nth(nth)
        .map(|(_, s, e)| (s, e))
        .expect("box")
}

/// The harness can say no: mist's faststart output with one thing broken on purpose fails
/// the same checks. Oracle: the same page and checks as above, on hand-made damage.
#[test]
fn broken_fmp4_fails_the_checks() {
    require_chromium();
    let dir = TestDir::new("mse-broken");
    let good = dir.join("good.mp4");
    mist_fmp4(&fixture("faststart.mp4"), &good, &[]);
    let bytes = std::fs::read(&good).unwrap();
    // The second fragment's first traf (video) starts 1 s late: a gap in the timeline.
    let mut gap = bytes.clone();
    let (ms, me) = nth_box(&bytes, b"moof", 1);
    let (ts, te) = child(&bytes, ms, me, b"traf").expect("traf");
    let (ds, _) = child(&bytes, ts, te, b"tfdt").expect("tfdt");
    assert_eq!(bytes[ds], 1, "tfdt version 1 (64-bit)");
    let t = u64::from_be_bytes(bytes[ds + 4..ds + 12].try_into().unwrap());
    gap[ds + 4..ds + 12].copy_from_slice(&(t + 12800).to_be_bytes());
    // The first fragment's mdat is zeroed: the video cannot be decoded.
    let mut zero = bytes.clone();
    let (ds, de) = nth_box(&bytes, b"mdat", 0);
    zero[ds..de].fill(0);
    for (name, data) in [("gap.mp4", gap), ("zeroed.mp4", zero)] {
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        let has = Has::AudioVideo;
        match play(&dir, name, &path, has) {
            Ok(_) => panic!("{name}: broken on purpose, yet it passed the checks"),
            Err(e) => eprintln!(
                "mse: {name} fails as it should: {}",
                e.lines().next().unwrap_or("")
            ),
        }
    }
}
