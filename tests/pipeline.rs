//! The copy engine across formats: track choice when the output cannot carry everything.
//! Oracles: the fixtures' ffprobe sidecars.

mod util;

use util::ffprobe::sidecar;
use util::*;

#[test]
fn without_tracks_the_output_keeps_what_it_can_carry() {
    // mp3_in.mp4 holds H.264 + MP3 (sidecar); an .mp3 output takes the audio alone.
    let dir = TestDir::new("pipe-implicit");
    let out = dir.join("a.mp3");
    mist_ok(&[
        "convert",
        fixture("mp3_in.mp4").to_str().unwrap(),
        out.to_str().unwrap(),
        "-q",
    ]);
    let j = analyse_json(&out, &[]);
    let tracks = j["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0]["codec"], "mp3");
    let want = sidecar("mp3_in.mp4")
        .packets
        .iter()
        .filter(|p| p.stream_index == 1)
        .count();
    assert_eq!(tracks[0]["packets"].as_u64().unwrap() as usize, want);
}

/// An explicit `--tracks` the output cannot honour is a usage error (2); the default choice
/// that finds nothing to write is failed work on this input (1).
#[test]
fn an_explicit_selection_the_output_cannot_carry_is_refused_in_one_line() {
    let dir = TestDir::new("pipe-explicit");
    let out = dir.join("v.mp3");
    let (code, err) = mist_err(&[
        "convert",
        fixture("mp3_in.mp4").to_str().unwrap(),
        out.to_str().unwrap(),
        "--tracks",
        "video",
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        "mist: --tracks video: mp3 cannot carry video track 1 (h264)\n"
    );
    assert!(dir.files().is_empty(), "{:?}", dir.files());
    let (code, err) = mist_err(&[
        "convert",
        fixture("faststart.mp4").to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot carry any track"), "{err}");
}

#[test]
fn start_and_end_count_from_the_start_of_the_input() {
    // h264_aac.ts starts near 1.48 s (ffmpeg's TS offset). Oracle: its ffprobe sidecar —
    // origin = earliest dts; the cut starts at the last video keyframe at or before
    // origin + 1 s and ends before origin + 1.5 s, all in 90 kHz ticks.
    let probe = sidecar("h264_aac.ts");
    let origin = probe.packets.iter().map(|p| p.dts.unwrap()).min().unwrap();
    let video = probe
        .streams
        .iter()
        .position(|s| s.codec_type == "video")
        .unwrap();
    let key = probe
        .packets
        .iter()
        .filter(|p| p.stream_index == video && p.key && p.dts.unwrap() <= origin + 90_000)
        .map(|p| p.dts.unwrap())
        .max()
        .unwrap();
    let end = origin + 135_000;
    let want = probe
        .packets
        .iter()
        .filter(|p| (key..end).contains(&p.dts.unwrap()))
        .count();
    let dir = TestDir::new("pipe-relative");
    let out = dir.join("cut.ts");
    mist_ok(&[
        "convert",
        fixture("h264_aac.ts").to_str().unwrap(),
        out.to_str().unwrap(),
        "--start",
        "1",
        "--end",
        "1.5",
        "-q",
    ]);
    let j = analyse_json(&out, &["--detail", "1"]);
    let packets = j["packets"].as_array().unwrap();
    assert_eq!(packets.len(), want);
    let vid = j["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "video")
        .unwrap()["id"]
        .clone();
    let first_video = packets.iter().find(|p| p["track"] == vid).unwrap();
    assert_eq!(first_video["key"], true);
    assert_eq!(first_video["dts"].as_i64().unwrap(), key);
}
