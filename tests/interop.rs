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

/// Runs `ffmpeg -v error [extra] -i path -f null -` and returns what it printed.
fn ffmpeg_decode_errors(path: &std::path::Path, extra: &[&str]) -> String {
    util::require("ffmpeg");
    let mut args = vec!["-nostdin", "-v", "error"];
    args.extend_from_slice(extra);
    let p = path.to_str().expect("utf-8 path");
    args.extend_from_slice(&["-i", p, "-f", "null", "-"]);
    let out = std::process::Command::new("ffmpeg")
        .args(&args)
        .output()
        .expect("run ffmpeg");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Oracle: ffprobe and ffmpeg on what mist wrote. MP3 → MP3 and MP3 → DTSC → MP3 give files
/// whose packet count equals the source sidecar's, with ffprobe's sample rate and channels,
/// and which ffmpeg decodes without a word.
#[test]
fn mp3_outputs_probe_and_decode_cleanly() {
    util::require("ffprobe");
    for name in ["cbr_id3.mp3", "vbr_xing.mp3", "mono_32k.mp3"] {
        let dir = util::TestDir::new("interop-mp3");
        let src = util::fixture(name);
        let want = ffprobe::sidecar(name);
        let direct = dir.join("direct.mp3");
        let dtsc = dir.join("mid.dtsc");
        let back = dir.join("back.mp3");
        let s = src.to_str().unwrap();
        util::mist_ok(&["convert", s, direct.to_str().unwrap(), "-q"]);
        util::mist_ok(&["convert", s, dtsc.to_str().unwrap(), "-q"]);
        util::mist_ok(&[
            "convert",
            dtsc.to_str().unwrap(),
            back.to_str().unwrap(),
            "-q",
        ]);
        for out in [&direct, &back] {
            let got = ffprobe::run(out);
            assert_eq!(got.packets.len(), want.packets.len(), "{name} → {out:?}");
            assert_eq!(got.streams[0].codec_name, "mp3");
            assert_eq!(got.streams[0].sample_rate, want.streams[0].sample_rate);
            assert_eq!(got.streams[0].channels, want.streams[0].channels);
            let dts: Vec<i64> = got.packets.iter().filter_map(|p| p.dts).collect();
            assert!(
                dts.windows(2).all(|w| w[0] < w[1]),
                "{name}: dts not increasing"
            );
            let errors = ffmpeg_decode_errors(out, &[]);
            assert!(
                errors.is_empty(),
                "{name} → {out:?}: ffmpeg said:\n{errors}"
            );
        }
    }
}

/// Oracle: FFmpeg's MP3 decoder with `-err_detect crccheck`. Frames protected with the CRC
/// mist computes (`codec::mp3::crc16` over header bytes 2–3 and the side information) decode
/// silently; the same frames with one CRC bit flipped make FFmpeg print "CRC mismatch", and
/// `mist analyse --validate` flags exactly those.
#[test]
fn mp3_crc_agrees_with_ffmpeg() {
    use mist::codec::mp3::{crc16, FrameHeader};
    let data = std::fs::read(util::fixture("cbr_id3.mp3")).unwrap();
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    // After the 60-byte tag: 85 frames of 384 bytes, MPEG-1 stereo (32 bytes of side info).
    for f in data[60..].chunks_exact(384) {
        let mut head = f[..4].to_vec();
        head[1] &= 0xfe; // protection_bit 0: a CRC follows
        let side = &f[4..36];
        let crc = crc16(crc16(0xffff, &head[2..4]), side);
        // The CRC takes two bytes of the frame: drop the last two bytes of main data.
        for (out, c) in [(&mut good, crc), (&mut bad, crc ^ 1)] {
            out.extend_from_slice(&head);
            out.extend_from_slice(&c.to_be_bytes());
            out.extend_from_slice(side);
            out.extend_from_slice(&f[36..382]);
        }
        let h = FrameHeader::parse(&good[good.len() - 384..], 0).unwrap();
        assert_eq!(h.check_crc(&good[good.len() - 384..]), Some(true));
    }
    let dir = util::TestDir::new("interop-mp3-crc");
    let (g, b) = (dir.join("good.mp3"), dir.join("bad.mp3"));
    std::fs::write(&g, &good).unwrap();
    std::fs::write(&b, &bad).unwrap();
    let said = ffmpeg_decode_errors(&g, &["-err_detect", "crccheck"]);
    assert!(said.is_empty(), "ffmpeg on our CRCs:\n{said}");
    let said = ffmpeg_decode_errors(&b, &["-err_detect", "crccheck"]);
    assert!(
        said.contains("CRC mismatch"),
        "ffmpeg on flipped CRCs:\n{said}"
    );
    let doc = util::analyse_json(&g, &["--validate"]);
    assert_eq!(doc["findings"].as_array().map(Vec::len), Some(0));
    let out = util::run(
        util::mist().args(["analyse", b.to_str().unwrap(), "--json", "--validate"]),
        false,
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let crc_errors = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["message"].as_str().unwrap_or("").contains("CRC"))
        .count();
    assert_eq!(crc_errors, 85);
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
