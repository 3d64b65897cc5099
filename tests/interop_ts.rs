//! MPEG-TS against the real ffmpeg/ffprobe: what mist writes, ffprobe reads back as the same
//! streams, packet counts and keyframes, with strictly increasing DTS, and ffmpeg decodes it
//! without a message. Compiled only with `--features interop`.
#![cfg(feature = "interop")]

mod util;

use std::path::Path;
use std::process::Command;

use util::{ffprobe, fixture, mist, run, TestDir};

const FIXTURES: &[&str] = &[
    "h264_aac.ts",
    "two_audio.ts",
    "h264_mp3.ts",
    "wrap33.ts",
    "large_start.ts",
    "audio_only.ts",
];

fn convert(input: &Path, output: &Path) {
    run(
        mist().args([
            "convert",
            input.to_str().unwrap(),
            output.to_str().unwrap(),
            "-f",
            "-q",
        ]),
        true,
    );
}

fn decodes_silently(path: &Path) {
    util::require("ffmpeg");
    let out = Command::new("ffmpeg")
        .arg("-nostdin")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "{}: ffmpeg failed", path.display());
    assert!(
        out.stderr.is_empty() && out.stdout.is_empty(),
        "{}: ffmpeg said: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Oracle: ffprobe on the source (the sidecar) and on mist's output.
fn same_as_source(name: &str, out: &Path) {
    same_streams(name, out, "mpegts", true);
}

/// Same streams, codecs, languages, packet counts and keyframes; strictly increasing DTS;
/// audio frame sizes too when both sides count them the same way (ADTS headers or not).
fn same_streams(name: &str, out: &Path, format: &str, audio_sizes: bool) {
    let want = ffprobe::sidecar(name);
    let got = ffprobe::run(out);
    assert!(
        got.format_name.starts_with(format),
        "{name}: {}",
        got.format_name
    );
    assert_eq!(got.streams.len(), want.streams.len(), "{name}: streams");
    for (g, w) in got.streams.iter().zip(&want.streams) {
        assert_eq!(g.codec_name, w.codec_name, "{name}");
        assert_eq!(g.codec_type, w.codec_type, "{name}");
        // MP4 always stores a language; `und` says none, as an absent TS descriptor does.
        let lang = |l: &Option<String>| l.clone().filter(|l| l != "und");
        assert_eq!(lang(&g.language), lang(&w.language), "{name}");
        assert_eq!(
            (g.sample_rate, g.channels),
            (w.sample_rate, w.channels),
            "{name}"
        );
        assert_eq!((g.width, g.height), (w.width, w.height), "{name}");
        let gp = got.stream_packets(g.index);
        let wp = want.stream_packets(w.index);
        assert_eq!(
            gp.len(),
            wp.len(),
            "{name} stream {}: packet count",
            g.index
        );
        let dts: Vec<i64> = gp.iter().map(|p| p.dts.expect("dts")).collect();
        assert!(
            dts.windows(2).all(|d| d[1] > d[0]),
            "{name}: DTS strictly increasing"
        );
        let keys = |v: &[&ffprobe::FfprobePacket]| v.iter().map(|p| p.key).collect::<Vec<_>>();
        assert_eq!(keys(&gp), keys(&wp), "{name} stream {}: keyframes", g.index);
        let sizes = |v: &[&ffprobe::FfprobePacket]| v.iter().map(|p| p.size).collect::<Vec<_>>();
        if audio_sizes && g.codec_type == "audio" {
            assert_eq!(
                sizes(&gp),
                sizes(&wp),
                "{name} stream {}: frame sizes",
                g.index
            );
        }
    }
}

#[test]
fn ts_to_ts_reads_back_in_ffprobe_and_decodes() {
    let dir = TestDir::new("interop_ts");
    for name in FIXTURES {
        let out = dir.join(name);
        convert(&fixture(name), &out);
        same_as_source(name, &out);
        decodes_silently(&out);
    }
}

#[test]
fn ts_through_dtsc_and_m2ts_read_back_in_ffprobe() {
    let dir = TestDir::new("interop_ts_dtsc");
    for name in ["two_audio.ts", "h264_mp3.ts"] {
        let dtsc = dir.join("x.dtsc");
        convert(&fixture(name), &dtsc);
        let back = dir.join(&format!("back-{name}"));
        convert(&dtsc, &back);
        same_as_source(name, &back);
        decodes_silently(&back);
        let m2ts = dir.join("x.m2ts");
        convert(&fixture(name), &m2ts);
        same_as_source(name, &m2ts);
        decodes_silently(&m2ts);
    }
}

#[test]
fn ts_to_mp4_and_mp4_to_ts_read_back_in_ffprobe() {
    let dir = TestDir::new("interop_ts_mp4");
    for name in FIXTURES {
        let out = dir.join(&format!("{name}.mp4"));
        convert(&fixture(name), &out);
        // MP4 holds raw AAC (no ADTS header), so audio sizes differ by design.
        same_streams(name, &out, "mov,mp4", false);
        decodes_silently(&out);
    }
    for name in ["faststart.mp4", "two_audio.mp4", "mp3_in.mp4"] {
        let out = dir.join(&format!("{name}.ts"));
        convert(&fixture(name), &out);
        same_streams(name, &out, "mpegts", name == "mp3_in.mp4");
        decodes_silently(&out);
    }
}

#[test]
fn ts_to_flv_and_flv_to_ts_read_back_in_ffprobe() {
    let dir = TestDir::new("interop_ts_flv");
    // FLV carries one audio track, so two_audio.ts is left out.
    for name in ["h264_aac.ts", "h264_mp3.ts", "wrap33.ts", "audio_only.ts"] {
        let out = dir.join(&format!("{name}.flv"));
        convert(&fixture(name), &out);
        same_streams(name, &out, "flv", name == "h264_mp3.ts");
        decodes_silently(&out);
    }
    for name in ["h264_aac.flv", "h264_mp3.flv", "aac_only.flv"] {
        let out = dir.join(&format!("{name}.ts"));
        convert(&fixture(name), &out);
        same_streams(name, &out, "mpegts", name == "h264_mp3.flv");
        decodes_silently(&out);
    }
}

/// Oracle: ffprobe's `-show_programs` on a two-program TS that ffmpeg writes here: each
/// program's PIDs are what mist reads with `--program N`, on analyse and on convert.
#[test]
fn program_chooses_among_programs() {
    util::require("ffmpeg");
    util::require("ffprobe");
    let dir = TestDir::new("ts_programs");
    let src = dir.join("two.ts");
    let ok = Command::new("ffmpeg")
        .arg("-nostdin")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=25:duration=1",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=1",
        ])
        .args([
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-c:a", "aac",
        ])
        .args([
            "-program",
            "program_num=7:st=0",
            "-program",
            "program_num=9:st=1",
        ])
        .arg(&src)
        .status()
        .expect("run ffmpeg");
    assert!(ok.success());
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-show_programs"])
        .arg(&src)
        .output()
        .expect("run ffprobe");
    let probe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pids_of = |num: u64| -> Vec<u64> {
        let p = probe["programs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["program_num"].as_u64() == Some(num))
            .unwrap_or_else(|| panic!("program {num} in {probe}"));
        p["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                u64::from_str_radix(s["id"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
            })
            .collect()
    };
    for num in [7u64, 9] {
        let n = num.to_string();
        let a = run(
            mist().args(["analyse", src.to_str().unwrap(), "--json", "--program", &n]),
            true,
        );
        let j: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
        let ids: Vec<u64> = j["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, pids_of(num), "analyse --program {num}");
        let o = dir.join(&format!("p{num}.dtsc"));
        run(
            mist().args([
                "convert",
                src.to_str().unwrap(),
                o.to_str().unwrap(),
                "-q",
                "--program",
                &n,
            ]),
            true,
        );
        let j = util::analyse_json(&o, &[]);
        assert_eq!(
            j["tracks"].as_array().unwrap().len(),
            ids.len(),
            "convert --program {num}"
        );
    }
}
