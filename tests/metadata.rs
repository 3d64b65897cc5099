//! True metadata in what mist writes (issue 10, point 5): picture size and frame rate from the
//! SPS for every input (TS declares none), AAC channels and rate from the AudioSpecificConfig
//! (not the MP4 sample entry's template values), a DTSC written from a live recording is a
//! file MistServer serves as VOD, and DTSC → DTSC keeps MistServer's per-packet key marks.
//! The written values are read back from the bytes and compared with ffprobe's (the committed
//! sidecars) or with the MistServer file itself.

mod util;

use std::path::Path;

use bytes::Bytes;
use mist::dtsc::wire::header::Header;
use serde_json::Value;
use util::{fixture, interop, mist_ok, TestDir};

fn convert(input: &Path, output: &Path) {
    mist_ok(&[
        "convert",
        "-q",
        "-f",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
    ]);
}

/// The header of a `.dtsc` (the file's own, at its start).
fn dtsc_header(path: &Path) -> Header {
    let data = std::fs::read(path).unwrap();
    assert_eq!(&data[..4], b"DTSC", "{}", path.display());
    let len = u32::from_be_bytes([data[4], data[5], data[6], data[7]]) as usize;
    Header::parse(Bytes::copy_from_slice(&data[..8 + len]), 0).unwrap()
}

/// ffprobe's streams (the sidecar): (codec_type, width, height, fps × 1000, rate, channels).
fn sidecar_streams(name: &str) -> Vec<(String, i64, i64, i64, i64, i64)> {
    let p = fixture(&format!("{name}.ffprobe.json"));
    let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    let int = |x: &Value| match x {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    };
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let fpks = s["r_frame_rate"]
                .as_str()
                .and_then(|r| r.split_once('/'))
                .map(|(n, d)| {
                    let (n, d): (i64, i64) = (n.parse().unwrap(), d.parse().unwrap());
                    if d == 0 {
                        0
                    } else {
                        (n * 1000 + d / 2) / d
                    }
                })
                .unwrap_or(0);
            (
                s["codec_type"].as_str().unwrap().to_string(),
                int(&s["width"]),
                int(&s["height"]),
                fpks,
                int(&s["sample_rate"]),
                int(&s["channels"]),
            )
        })
        .collect()
}

/// Oracle: ffprobe's width, height, frame rate, sample rate and channels (the sidecars) against
/// the DTSC header mist writes (MistServer's `width`, `height`, `fpks`, `rate`, `channels`),
/// for TS (which declares none of them), FLV and MP4 inputs, and mono AAC in MP4 (whose sample
/// entry says 2 channels).
#[test]
fn dtsc_headers_say_what_ffprobe_says() {
    let dir = TestDir::new("metadata-dtsc");
    for name in [
        "h264_aac.ts",
        "h264_aac_subms.ts",
        "two_audio.ts",
        "h264_aac.flv",
        "faststart.mp4",
        "ntsc_2997.mp4",
        "aac_44k.mp4",
        "aac_mono.mp4",
    ] {
        let out = dir.join(&format!("{name}.dtsc"));
        convert(&fixture(name), &out);
        let h = dtsc_header(&out);
        let want = sidecar_streams(name);
        assert_eq!(h.tracks.len(), want.len(), "{name}");
        for (t, w) in h.tracks.iter().zip(&want) {
            assert_eq!(t.kind, w.0, "{name}");
            if t.kind == "video" {
                assert_eq!(
                    (t.width, t.height, t.fpks),
                    (w.1, w.2, w.3),
                    "{name} {}: width, height, fpks",
                    t.name
                );
            } else {
                assert_eq!(
                    (t.rate, t.channels),
                    (w.4, w.5),
                    "{name} {}: rate, channels",
                    t.name
                );
            }
        }
    }
}

/// Oracle: ffprobe's channel count (the sidecar) against mist's summary and JSON.
#[test]
fn mono_aac_in_mp4_is_one_channel_everywhere() {
    let want = sidecar_streams("aac_mono.mp4");
    assert_eq!(want[0].5, 1);
    let j = util::analyse_json(&fixture("aac_mono.mp4"), &[]);
    assert_eq!(j["tracks"][0]["channels"], 1);
    let text = mist_ok(&["analyse", fixture("aac_mono.mp4").to_str().unwrap()]);
    assert!(
        text.lines()
            .any(|l| l.contains("aac") && l.contains("1 ch")),
        "{text}"
    );
}

/// The value of AMF0 number `key` in an FLV's onMetaData (read from the bytes: the key's
/// short string, then marker 0x00 and a big-endian double).
fn amf_number(data: &[u8], key: &str) -> Option<f64> {
    let mut pat = (key.len() as u16).to_be_bytes().to_vec();
    pat.extend_from_slice(key.as_bytes());
    let at = data.windows(pat.len()).position(|w| w == pat)? + pat.len();
    (data.get(at) == Some(&0)).then(|| f64::from_be_bytes(data[at + 1..at + 9].try_into().unwrap()))
}

/// Oracle: ffprobe's picture size and frame rate of the TS source (its sidecar), against the
/// MP4 `tkhd` (16.16 fixed point) and the FLV onMetaData mist writes from it.
#[test]
fn mp4_and_flv_written_from_ts_declare_the_picture() {
    let dir = TestDir::new("metadata-ts");
    let name = "h264_aac_subms.ts";
    let want = &sidecar_streams(name)[0];
    let mp4 = dir.join("out.mp4");
    convert(&fixture(name), &mp4);
    let data = std::fs::read(&mp4).unwrap();
    let at = data.windows(4).position(|w| w == b"tkhd").unwrap() + 4;
    // Version 0 tkhd payload: 4 flags, 20 times/ids, 8 reserved, 8 layer..volume, 36 matrix.
    let be = |i: usize| u32::from_be_bytes(data[i..i + 4].try_into().unwrap());
    assert_eq!(data[at], 0, "tkhd version 0");
    let (w, h) = (be(at + 76) >> 16, be(at + 80) >> 16);
    assert_eq!((i64::from(w), i64::from(h)), (want.1, want.2));
    let flv = dir.join("out.flv");
    convert(&fixture(name), &flv);
    let data = std::fs::read(&flv).unwrap();
    assert_eq!(amf_number(&data, "width"), Some(want.1 as f64));
    assert_eq!(amf_number(&data, "height"), Some(want.2 as f64));
    let fps = amf_number(&data, "framerate").unwrap();
    assert!(
        (fps * 1000.0 - want.3 as f64).abs() < 1.0,
        "framerate {fps}, ffprobe {}",
        want.3
    );
}

/// DTP2 packets of a `.dtsc`: (track id, time, the rest of the packet object as written).
fn dtp2_packets(path: &Path) -> Vec<(u32, u64, Vec<u8>)> {
    let d = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 8 <= d.len() {
        let len = u32::from_be_bytes(d[i + 4..i + 8].try_into().unwrap()) as usize;
        if &d[i..i + 4] == b"DTP2" {
            let track = u32::from_be_bytes(d[i + 8..i + 12].try_into().unwrap());
            let time = u64::from_be_bytes(d[i + 12..i + 20].try_into().unwrap());
            out.push((track, time, d[i + 20..i + 8 + len].to_vec()));
        }
        i += 8 + len;
    }
    out
}

/// Oracle: MistServer's own live recording (interop/live_rec_short.dtsc, `live` 1, no index,
/// 3 of its audio packets carry a `keyframe` member). mist's copy is a file: `vod` instead of
/// `live`, an index (in the `.dtsh`) whose parts count every packet and whose first/last times
/// are those of the packets; and every packet is MistServer's, byte for byte, keyframe members
/// included, with track ids numbered by position (0, 1, 2: what MistServer needs to play a
/// `.dtsc`).
#[test]
fn live_recording_copies_to_a_vod_file_with_the_same_packets() {
    let dir = TestDir::new("metadata-live");
    let src = interop("live_rec_short.dtsc");
    let src_header = dtsc_header(&src);
    assert!(src_header.live && !src_header.vod);
    let out = dir.join("rec.dtsc");
    convert(&src, &out);
    let h = dtsc_header(&out);
    assert!(h.vod && !h.live, "vod {} live {}", h.vod, h.live);
    assert_eq!(h.unix_zero, src_header.unix_zero);

    let theirs = dtp2_packets(&src);
    let ours = dtp2_packets(&out);
    assert_eq!(ours.len(), theirs.len());
    let position = |id: u32| {
        src_header
            .tracks
            .iter()
            .position(|t| t.trackid == id)
            .unwrap() as u32
    };
    for (n, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!((a.0, a.1), (position(b.0), b.1), "packet {n}");
        assert_eq!(a.2, b.2, "packet {n}: members differ");
    }
    let marked_audio = theirs
        .iter()
        .filter(|p| p.0 == 3 && p.2.windows(10).any(|w| w == b"\x00\x08keyframe"))
        .count();
    assert_eq!(marked_audio, 3);

    let dtsh = std::fs::read(dir.join("rec.dtsc.dtsh")).unwrap();
    let side = Header::parse(Bytes::from(dtsh), 0).unwrap();
    assert!(side.vod && !side.live);
    for (pos, t) in side.tracks.iter().enumerate() {
        let mine: Vec<&(u32, u64, Vec<u8>)> = ours.iter().filter(|p| p.0 == pos as u32).collect();
        if mine.is_empty() {
            continue;
        }
        let index = t
            .index
            .as_ref()
            .expect("an index for every track with packets");
        assert_eq!(index.parts.len(), mine.len(), "track {pos} parts");
        assert!(!index.keys.is_empty());
        assert_eq!(t.firstms, mine[0].1 as i64, "track {pos} firstms");
        assert_eq!(
            t.lastms,
            mine.last().unwrap().1 as i64,
            "track {pos} lastms"
        );
    }
}
