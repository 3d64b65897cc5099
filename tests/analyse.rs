//! What `mist analyse` says about files ffmpeg wrote, against what ffprobe says about them
//! (the committed sidecars): codec, profile, resolution, rate, channels, and the duration
//! within one frame.

mod util;

use util::ffprobe::sidecar;
use util::*;

/// Every fixture with a sidecar (raw H.264 has no timestamps, so no duration to compare).
const FIXTURES: &[&str] = &[
    "h264_aac.flv",
    "h264_mp3.flv",
    "aac_only.flv",
    "h264_only.flv",
    "h264_aac.ts",
    "two_audio.ts",
    "h264_mp3.ts",
    "wrap33.ts",
    "large_start.ts",
    "faststart.mp4",
    "moov_end.mp4",
    "frag.mp4",
    "bframes_editlist.mp4",
    "two_audio.mp4",
    "ntsc_2997.mp4",
    "vfr.mp4",
    "aac_44k.mp4",
    "mp3_in.mp4",
    "cbr_id3.mp3",
    "vbr_xing.mp3",
    "mono_32k.mp3",
    "aac_lc.aac",
];

fn sidecar_json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture(&format!("{name}.ffprobe.json"))).unwrap())
        .unwrap()
}

#[test]
fn stream_parameters_equal_ffprobes() {
    for name in FIXTURES {
        let probe = sidecar(name);
        let j = analyse_json(&fixture(name), &[]);
        let tracks = j["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), probe.streams.len(), "{name}");
        for (t, s) in tracks.iter().zip(&probe.streams) {
            assert_eq!(t["codec"], s.codec_name.as_str(), "{name}");
            assert_eq!(t["type"], s.codec_type.as_str(), "{name}");
            if let Some(p) = &s.profile {
                assert_eq!(t["profile"], p.as_str(), "{name} profile");
            }
            for (ours, theirs) in [
                ("width", s.width),
                ("height", s.height),
                ("rate", s.sample_rate),
                ("channels", s.channels),
            ] {
                if let Some(v) = theirs {
                    assert_eq!(t[ours].as_u64(), Some(v), "{name} {ours}");
                }
            }
        }
    }
}

#[test]
fn file_duration_is_within_one_frame_of_ffprobes() {
    for name in FIXTURES {
        let doc = sidecar_json(name);
        // ffprobe's FLV duration is the writer's onMetaData claim, and for an audio-only TS it
        // estimates from the bitrate; both are hints, not measurements, so they are skipped.
        if name.ends_with(".flv") {
            continue;
        }
        let theirs: f64 = doc["format"]["duration"].as_str().unwrap().parse().unwrap();
        // One frame: the longest frame of any stream (video 1/fps, audio 1024 or 1152
        // samples), from the sidecar's stream parameters.
        let frame_ms = doc["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                if s["codec_type"] == "video" {
                    let (n, d) = s["avg_frame_rate"]
                        .as_str()
                        .unwrap()
                        .split_once('/')
                        .unwrap();
                    1000.0 * d.parse::<f64>().unwrap() / n.parse::<f64>().unwrap()
                } else {
                    let rate: f64 = s["sample_rate"].as_str().unwrap().parse().unwrap();
                    let samples = if s["codec_name"] == "mp3" {
                        1152.0
                    } else {
                        1024.0
                    };
                    1000.0 * samples / rate
                }
            })
            .fold(0.0, f64::max);
        let ours = analyse_json(&fixture(name), &[])["duration_ms"]
            .as_f64()
            .unwrap();
        assert!(
            (ours - theirs * 1000.0).abs() <= frame_ms,
            "{name}: mist {ours} ms, ffprobe {} ms, one frame {frame_ms:.1} ms",
            theirs * 1000.0
        );
    }
}

/// The positions of a file's audio packets that ffmpeg's decoder produced no frame for, from
/// its sidecars (`<name>.ffprobe.json` packets, `<name>.frames.json` frames' `pkt_pos`).
fn undecoded_audio_packets(name: &str) -> Vec<u64> {
    let probe: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture(&format!("{name}.ffprobe.json"))).unwrap())
            .unwrap();
    let frames: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture(&format!("{name}.frames.json"))).unwrap())
            .unwrap();
    let audio = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .unwrap()["index"]
        .clone();
    let decoded: std::collections::BTreeSet<u64> = frames["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["pkt_pos"].as_str()?.parse().ok())
        .collect();
    probe["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream_index"] == audio)
        .map(|p| p["pos"].as_str().unwrap().parse().unwrap())
        .filter(|pos| !decoded.contains(pos))
        .collect()
}

/// Oracle: ffmpeg's AAC decoder (its frames, in the sidecars). generate.sh flipped one bit in
/// every fourth AAC packet of an FLV and an MP4, leaving the containers intact. The packets
/// ffmpeg then rejects (no decoded frame, less those it drops in the undamaged file as well:
/// the MP4's priming frame) are exactly the ones `--validate` reports, by the container
/// offset ffprobe gives them; the undamaged files get no AAC finding at all. The flips ffmpeg
/// accepts (spectral values changed, syntax intact) pass here too.
#[test]
fn aac_payload_findings_fall_on_the_packets_ffmpeg_cannot_decode() {
    for (clean, damaged) in [
        ("aac_only.flv", "aac_only_damaged.flv"),
        ("aac_44k.mp4", "aac_44k_damaged.mp4"),
    ] {
        let priming = undecoded_audio_packets(clean);
        let want: Vec<u64> = undecoded_audio_packets(damaged)
            .into_iter()
            .filter(|p| !priming.contains(p))
            .collect();
        assert!(want.len() > 10, "{damaged}: {want:?}");
        let aac_findings = |name: &str, ok: bool| -> Vec<u64> {
            let path = fixture(name);
            let out = run(
                mist().args(["analyse", "--json", "--validate", path.to_str().unwrap()]),
                ok,
            );
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            doc["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["message"].as_str().unwrap().contains("AAC"))
                .map(|f| f["offset"].as_u64().unwrap())
                .collect()
        };
        assert_eq!(aac_findings(clean, true), Vec::<u64>::new(), "{clean}");
        assert_eq!(aac_findings(damaged, false), want, "{damaged}");
    }
}
