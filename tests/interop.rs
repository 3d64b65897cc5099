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
