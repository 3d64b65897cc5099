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

/// Oracle: ffprobe and ffmpeg on mist's MP4 and fMP4 outputs of every MP4 fixture: the same
/// streams (codec, time base, size/rate, language) and, per stream, the same packets (dts, pts,
/// size, keyframe flag) as the source's sidecar; strictly increasing DTS; `ffmpeg -v error`
/// decodes without a word; progressive output has moov before mdat.
#[test]
fn mp4_outputs_play_in_ffmpeg_with_the_source_packets() {
    util::require("ffprobe");
    util::require("ffmpeg");
    let dir = util::TestDir::new("interop-mp4");
    for name in [
        "faststart.mp4",
        "moov_end.mp4",
        "frag.mp4",
        "bframes_editlist.mp4",
        "two_audio.mp4",
        "ntsc_2997.mp4",
        "vfr.mp4",
        "aac_44k.mp4",
        "mp3_in.mp4",
    ] {
        let want = ffprobe::sidecar(name);
        for to in ["mp4", "fmp4"] {
            let out = dir.join(&format!("{to}-{name}"));
            let src = util::fixture(name);
            util::mist_ok(&[
                "convert",
                "-q",
                src.to_str().unwrap(),
                out.to_str().unwrap(),
                "--to",
                to,
            ]);
            let got = ffprobe::run(&out);
            assert_eq!(got.streams.len(), want.streams.len(), "{name} -> {to}");
            for (g, w) in got.streams.iter().zip(&want.streams) {
                assert_eq!(
                    (
                        &g.codec_name,
                        g.time_base,
                        g.width,
                        g.height,
                        g.sample_rate,
                        &g.language
                    ),
                    (
                        &w.codec_name,
                        w.time_base,
                        w.width,
                        w.height,
                        w.sample_rate,
                        &w.language
                    ),
                    "{name} -> {to}"
                );
            }
            for s in 0..want.streams.len() {
                let key = |p: &&ffprobe::FfprobePacket| (p.dts, p.pts, p.size, p.key);
                let g: Vec<_> = got.stream_packets(s).iter().map(key).collect();
                let w: Vec<_> = want.stream_packets(s).iter().map(key).collect();
                assert_eq!(g, w, "{name} -> {to} stream {s}");
                assert!(
                    g.windows(2).all(|x| x[0].0 < x[1].0),
                    "{name}: DTS not increasing"
                );
            }
            let err = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&out)
                .args(["-f", "null", "-"])
                .output()
                .expect("run ffmpeg");
            assert!(
                err.stderr.is_empty(),
                "{name} -> {to}: ffmpeg says {}",
                String::from_utf8_lossy(&err.stderr)
            );
            if to == "mp4" {
                let data = std::fs::read(&out).unwrap();
                let at = |b: &[u8]| data.windows(4).position(|w| w == b).unwrap();
                assert!(at(b"moov") < at(b"mdat"), "{name}: not faststart");
            }
        }
    }
}
