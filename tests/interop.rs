//! Tests that drive the real ffmpeg/ffprobe. Compiled only with `--features interop` (which
//! `.ci/run` enables after installing ffmpeg); each one panics loudly if a tool is missing.
//!
//! Other formats add their interop tests here; the shared helpers are in `tests/util/`
//! (`util::require`, `util::ffprobe::{run, sidecar, from_mist_json, assert_same_packets}`).
#![cfg(feature = "interop")]

mod util;

use util::ffprobe;

/// Oracle: the installed ffprobe itself. Every committed sidecar must still say what ffprobe
/// says about its fixture — packet count and, per packet, stream, pts, dts, size, flags, pos,
/// duration and payload CRC — so the sidecars other tests compare against are trustworthy and
/// nobody edits a fixture without regenerating its sidecar.
#[test]
fn sidecars_match_installed_ffprobe() {
    util::require("ffprobe");
    let names = ffprobe::fixtures_with_sidecars();
    assert!(
        names.len() >= 20,
        "expected the generated fixtures, found {names:?}"
    );
    let mut stale = Vec::new();
    for name in &names {
        let want = ffprobe::sidecar(name);
        let got = ffprobe::run(&util::fixture(name));
        if got.streams != want.streams {
            stale.push(format!(
                "{name}: streams differ\n  ffprobe now: {:?}\n  sidecar:     {:?}",
                got.streams, want.streams
            ));
            continue;
        }
        if got.packets.len() != want.packets.len() {
            stale.push(format!(
                "{name}: ffprobe now lists {} packets, the sidecar {}",
                got.packets.len(),
                want.packets.len()
            ));
            continue;
        }
        if let Some((n, (g, w))) = got
            .packets
            .iter()
            .zip(&want.packets)
            .enumerate()
            .find(|(_, (g, w))| g != w)
        {
            stale.push(format!(
                "{name}: packet {n} differs\n  ffprobe now: {g:?}\n  sidecar:     {w:?}"
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{} of {} sidecars disagree with the installed ffprobe (regenerate with \
         tests/fixtures/generate.sh if ffmpeg changed):\n{}",
        stale.len(),
        names.len(),
        stale.join("\n")
    );
}

// ---- FLV -----------------------------------------------------------------------------------

/// Runs a tool and returns (success, stderr).
fn tool(cmd: &str, args: &[&str]) -> (bool, String) {
    util::require(cmd);
    let o = std::process::Command::new(cmd)
        .args(args)
        .output()
        .expect("run tool");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// ffprobe of `out` shows the streams of `src` (codec, profile, size, rate, channels) and the
/// same packet count per stream, DTS strictly increases per stream, and ffmpeg decodes `out`
/// without a word.
fn assert_flv_output_like(what: &str, out: &std::path::Path, src: &ffprobe::Probe) {
    let got = ffprobe::run(out);
    assert_eq!(got.format_name, "flv", "{what}");
    assert_eq!(got.streams.len(), src.streams.len(), "{what}: streams");
    for (g, w) in got.streams.iter().zip(&src.streams) {
        let fields = |s: &ffprobe::FfprobeStream| {
            (
                s.codec_type.clone(),
                s.codec_name.clone(),
                s.profile.clone(),
                s.width,
                s.height,
                s.sample_rate,
                s.channels,
            )
        };
        assert_eq!(fields(g), fields(w), "{what}: stream {}", w.index);
        assert_eq!(
            got.stream_packets(g.index).len(),
            src.stream_packets(w.index).len(),
            "{what}: packets of stream {}",
            w.index
        );
        let dts: Vec<i64> = got
            .stream_packets(g.index)
            .iter()
            .map(|p| p.dts.expect("dts"))
            .collect();
        assert!(
            dts.windows(2).all(|w| w[0] < w[1]),
            "{what}: DTS of stream {} not strictly increasing",
            g.index
        );
    }
    let (ok, err) = tool(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            out.to_str().unwrap(),
            "-f",
            "null",
            "-",
        ],
    );
    assert!(ok && err.trim().is_empty(), "{what}: ffmpeg says: {err}");
}

/// Oracle: ffprobe and ffmpeg on what mist wrote. FLV → FLV and FLV → DTSC → FLV keep the
/// streams and packet counts of every FLV fixture, and the result decodes cleanly.
#[test]
fn flv_outputs_read_back_in_ffmpeg() {
    for name in [
        "h264_aac.flv",
        "h264_mp3.flv",
        "aac_only.flv",
        "h264_only.flv",
    ] {
        let dir = util::TestDir::new("interop_flv");
        let src = util::fixture(name);
        let want = ffprobe::sidecar(name);
        let a = dir.join("a.flv");
        let b = dir.join("b.dtsc");
        let c = dir.join("c.flv");
        for (from, to) in [(&src, &a), (&a, &b), (&b, &c)] {
            util::mist_ok(&[
                "convert",
                from.to_str().unwrap(),
                to.to_str().unwrap(),
                "-q",
            ]);
        }
        assert_flv_output_like(&format!("{name} -> flv"), &a, &want);
        // Without an index in advance (input from stdin) the muxer reserves keyframe slots
        // and pads what it does not use; ffmpeg must read that metadata silently too.
        let piped = dir.join("piped.flv");
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_mist"))
            .args([
                "convert",
                "-",
                piped.to_str().unwrap(),
                "--from",
                "flv",
                "-q",
            ])
            .stdin(std::fs::File::open(&src).unwrap())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_flv_output_like(&format!("{name} | mist -> flv"), &piped, &want);
        assert_flv_output_like(&format!("{name} -> dtsc -> flv"), &c, &want);
    }
}

/// Oracle: ffprobe on a file ffmpeg writes at run time, whose times start at 1000 s (kept as
/// they are, not shifted to 0) and with B-frames: mist's packet listing equals ffprobe's.
#[test]
fn flv_from_ffmpeg_with_late_start_lists_like_ffprobe() {
    let dir = util::TestDir::new("interop_flv_late");
    let out = dir.join("late.flv");
    let (ok, err) = tool(
        "ffmpeg",
        &[
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=30:duration=1",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=300:sample_rate=44100:duration=1",
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-g",
            "15",
            "-c:a",
            "aac",
            "-output_ts_offset",
            "1000",
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "ffmpeg failed: {err}");
    let want = ffprobe::run(&out);
    let doc = util::analyse_json(&out, &["--detail", "1"]);
    let (got, bases) = ffprobe::from_mist_json(&doc);
    ffprobe::assert_same_packets("late.flv", &got, &bases, &want);
    // The first video DTS is two frames before 1000 s (B-frames); nothing is shifted to 0.
    assert!(got[0].dts.unwrap() > 999_000, "times keep their origin");
}
