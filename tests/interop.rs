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
        .arg("-nostdin")
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
                .arg("-nostdin")
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

/// `ffprobe -of json` with the given entries on a file, parsed.
fn raw_ffprobe(path: &std::path::Path, args: &[&str]) -> serde_json::Value {
    util::require("ffprobe");
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(out.status.success(), "ffprobe failed on {}", path.display());
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

/// Oracle: ffprobe. `ffprobe -show_frames` on the raw fixture decodes it and lists frames in
/// presentation order, each with the byte offset of its access unit (`pkt_pos`); the sidecar
/// lists the access units in decode order. So the presentation order of decode indices is
/// known without trusting mist. `mist convert h264_bframes.h264 x.mp4` (and `.flv`, `.ts`;
/// ffmpeg -c copy cannot time a raw stream with B-frames) must give 50 packets with strictly increasing DTS whose
/// PTS sort into exactly that order, and decode without a word from ffmpeg.
#[test]
fn raw_h264_with_bframes_converts_to_mp4_flv_ts_in_presentation_order() {
    let raw = util::fixture("h264_bframes.h264");
    let side = ffprobe::sidecar("h264_bframes.h264");
    let decode_index = |pos: u64| {
        side.packets
            .iter()
            .position(|p| p.pos == Some(pos))
            .unwrap_or_else(|| panic!("no access unit at {pos}"))
    };
    let frames = raw_ffprobe(&raw, &["-show_frames", "-show_entries", "frame=pkt_pos"]);
    let want: Vec<usize> = frames["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| decode_index(ffprobe::num(f.get("pkt_pos")).expect("pkt_pos") as u64))
        .collect();
    assert_eq!(want.len(), 50);
    assert_ne!(
        want,
        (0..50).collect::<Vec<_>>(),
        "the fixture has B-frames"
    );

    let dir = util::TestDir::new("interop_raw_bframes");
    for ext in ["mp4", "flv", "ts"] {
        let out = dir.join(&format!("x.{ext}"));
        util::mist_ok(&[
            "convert",
            raw.to_str().unwrap(),
            out.to_str().unwrap(),
            "-q",
        ]);
        let got = ffprobe::run(&out);
        let pk = got.stream_packets(0);
        assert_eq!(pk.len(), 50, "{ext}");
        let dts: Vec<i64> = pk.iter().map(|p| p.dts.expect("dts")).collect();
        assert!(
            dts.windows(2).all(|w| w[0] < w[1]),
            "{ext}: DTS not strictly rising: {dts:?}"
        );
        let mut order: Vec<usize> = (0..pk.len()).collect();
        order.sort_by_key(|&i| pk[i].pts.expect("pts"));
        let pts: Vec<i64> = order.iter().map(|&i| pk[i].pts.unwrap()).collect();
        assert!(
            pts.windows(2).all(|w| w[0] < w[1]),
            "{ext}: PTS repeat: {pts:?}"
        );
        assert_eq!(
            order, want,
            "{ext}: presentation order differs from ffprobe's frames"
        );
        assert!(
            pk.iter().zip(&dts).all(|(p, d)| p.pts.unwrap() >= *d),
            "{ext}"
        );
        let keys: Vec<bool> = pk.iter().map(|p| p.key).collect();
        let want_keys: Vec<bool> = side.packets.iter().map(|p| p.key).collect();
        assert_eq!(keys, want_keys, "{ext}");
        assert_eq!(ffmpeg_decode_errors(&out, &[]), "", "{ext}");
    }
}

/// Oracle: ffmpeg and ffprobe on what mist wrote. `.h264` and `.aac` outputs — from the raw
/// fixtures through DTSC, and from MP4 and FLV files whose H.264 has its parameter sets only
/// in the `avcC` (so mist must insert them before keyframes), and from TS — decode without a word, and ffprobe
/// counts the source's packets and keyframes.
#[test]
fn raw_outputs_decode_cleanly() {
    let dir = util::TestDir::new("interop_raw_outputs");
    let conv = |from: &std::path::Path, to: &str, extra: &[&str]| {
        let out = dir.join(to);
        let mut args = vec![
            "convert",
            from.to_str().unwrap(),
            out.to_str().unwrap(),
            "-q",
            "--force",
        ];
        args.extend_from_slice(extra);
        util::mist_ok(&args);
        out
    };
    let cases: Vec<(std::path::PathBuf, &str, usize)> = vec![
        {
            let mid = conv(&util::fixture("h264_bframes.h264"), "b.dtsc", &[]);
            (conv(&mid, "b.h264", &[]), "h264_bframes.h264", 0)
        },
        {
            let mid = conv(&util::fixture("aac_lc.aac"), "a.dtsc", &[]);
            (conv(&mid, "a.aac", &[]), "aac_lc.aac", 0)
        },
        (
            conv(
                &util::fixture("faststart.mp4"),
                "v.h264",
                &["--tracks", "video"],
            ),
            "faststart.mp4",
            0,
        ),
        (
            conv(
                &util::fixture("faststart.mp4"),
                "s.aac",
                &["--tracks", "audio"],
            ),
            "faststart.mp4",
            1,
        ),
        (
            conv(
                &util::fixture("h264_aac.flv"),
                "f.h264",
                &["--tracks", "video"],
            ),
            "h264_aac.flv",
            0,
        ),
        (
            conv(
                &util::fixture("h264_aac.flv"),
                "f.aac",
                &["--tracks", "audio"],
            ),
            "h264_aac.flv",
            1,
        ),
        (
            conv(
                &util::fixture("h264_aac.ts"),
                "t.h264",
                &["--tracks", "video"],
            ),
            "h264_aac.ts",
            0,
        ),
        (
            conv(
                &util::fixture("h264_aac.ts"),
                "t.aac",
                &["--tracks", "audio"],
            ),
            "h264_aac.ts",
            1,
        ),
    ];
    for (out, source, stream) in cases {
        assert_eq!(ffmpeg_decode_errors(&out, &[]), "", "{}", out.display());
        let want = ffprobe::sidecar(source);
        let got = ffprobe::run(&out);
        let (g, w) = (got.stream_packets(0), want.stream_packets(stream));
        assert_eq!(g.len(), w.len(), "{}: packet count", out.display());
        assert_eq!(
            g.iter().filter(|p| p.key).count(),
            if want.streams[stream].codec_type == "video" {
                w.iter().filter(|p| p.key).count()
            } else {
                g.len()
            },
            "{}: keyframes",
            out.display()
        );
        assert_eq!(got.streams[0].codec_name, want.streams[stream].codec_name);
        assert_eq!(got.streams[0].profile, want.streams[stream].profile);
    }
}

/// Decode indices of `raw`'s frames in presentation order, from ffprobe alone: `-show_frames`
/// lists decoded frames in output order with their access unit's offset, `-show_packets` the
/// access units in decode order.
fn raw_presentation_order(raw: &std::path::Path) -> Vec<usize> {
    let packets = raw_ffprobe(raw, &["-show_packets"]);
    let pos: Vec<i64> = packets["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .map(|p| ffprobe::num(p.get("pos")).expect("pos"))
        .collect();
    let frames = raw_ffprobe(raw, &["-show_frames", "-show_entries", "frame=pkt_pos"]);
    frames["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| {
            let at = ffprobe::num(f.get("pkt_pos")).expect("pkt_pos");
            pos.iter()
                .position(|&p| p == at)
                .expect("frame of a packet")
        })
        .collect()
}

/// Oracle: ffprobe on streams x264 writes at test time with the features that make access
/// unit splitting and timing hard: 4 slices per picture (`first_mb_in_slice` ≠ 0), periodic
/// intra refresh (no IDR after the first; keyframes only from recovery point SEI), MBAFF
/// interlacing with 3 B-frames, and open GOPs with a strict B-pyramid. For each, mist's
/// listing equals ffprobe's packets (offset, size, key flag), and its conversion to MP4 has
/// strictly increasing DTS, PTS in ffprobe's frame order, and decodes without a word.
#[test]
fn raw_h264_variants_split_and_time_like_ffmpeg() {
    util::require("ffmpeg");
    let dir = util::TestDir::new("interop_raw_variants");
    let variants: [(&str, &[&str]); 4] = [
        ("slices", &["-bf", "2", "-x264-params", "slices=4"]),
        (
            "irefresh",
            &["-bf", "0", "-x264-params", "intra-refresh=1:keyint=20"],
        ),
        (
            "mbaff",
            &["-bf", "3", "-flags", "+ildct+ilme", "-x264-params", "tff=1"],
        ),
        (
            "opengop",
            &[
                "-bf",
                "3",
                "-x264-params",
                "open-gop=1:keyint=25:b-pyramid=strict",
            ],
        ),
    ];
    for (name, opts) in variants {
        let raw = dir.join(&format!("{name}.h264"));
        let st = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi"])
            .args(["-i", "testsrc2=size=320x240:rate=25", "-t", "2"])
            .args(["-c:v", "libx264", "-preset", "veryfast"])
            .args(opts)
            .args(["-f", "h264"])
            .arg(&raw)
            .status()
            .expect("run ffmpeg");
        assert!(st.success(), "{name}: ffmpeg failed");
        let want = ffprobe::run(&raw);
        let doc = util::analyse_json(&raw, &["--detail", "1", "--validate"]);
        let (got, _) = ffprobe::from_mist_json(&doc);
        let g: Vec<(Option<u64>, u64, bool)> = got.iter().map(|p| (p.pos, p.size, p.key)).collect();
        let w: Vec<(Option<u64>, u64, bool)> = want
            .packets
            .iter()
            .map(|p| (p.pos, p.size, p.key))
            .collect();
        assert_eq!(g, w, "{name}: packets");
        assert_eq!(doc["findings"], serde_json::json!([]), "{name}: findings");

        let out = dir.join(&format!("{name}.mp4"));
        util::mist_ok(&[
            "convert",
            raw.to_str().unwrap(),
            out.to_str().unwrap(),
            "-q",
        ]);
        let mp4 = ffprobe::run(&out);
        let pk = mp4.stream_packets(0);
        assert_eq!(pk.len(), w.len(), "{name}");
        assert!(
            pk.windows(2).all(|p| p[0].dts < p[1].dts),
            "{name}: DTS not strictly increasing"
        );
        let mut order: Vec<usize> = (0..pk.len()).collect();
        order.sort_by_key(|&i| pk[i].pts);
        assert!(
            order.windows(2).all(|o| pk[o[0]].pts < pk[o[1]].pts),
            "{name}: PTS repeat"
        );
        assert_eq!(
            order,
            raw_presentation_order(&raw),
            "{name}: presentation order"
        );
        assert_eq!(ffmpeg_decode_errors(&out, &[]), "", "{name}");
    }
}

/// Oracle: ffprobe and ffmpeg (decoding). fdk-aac's HE-AAC (v2) in ADTS says LC at the core
/// rate in its headers; mist gives it an explicit HE-AAC (v2) config, and every container it
/// writes must be what ffprobe calls HE-AAC (v2) at the output rate, with the source's packet
/// count, decoding without a word. Both the config-record containers (MP4, FLV, fMP4) and the
/// ADTS ones (TS, .aac) are covered.
#[test]
fn he_aac_converts_to_every_audio_container() {
    util::require("ffprobe");
    let dir = util::TestDir::new("interop_he_aac");
    for (name, profile, rate) in [
        ("crc_he.aac", "HE-AAC", 44100),
        ("sbr_hev2_48k.aac", "HE-AACv2", 48000),
    ] {
        let src = util::fixture(name);
        let packets = ffprobe::sidecar(name).packets.len();
        for ext in ["mp4", "flv", "ts", "aac", "m4s"] {
            let out = dir.join(&format!("{name}.{ext}"));
            util::mist_ok(&[
                "convert",
                "-q",
                src.to_str().unwrap(),
                out.to_str().unwrap(),
            ]);
            let probe = ffprobe::run(&out);
            let s = &probe.streams[0];
            assert_eq!(s.profile.as_deref(), Some(profile), "{name} {ext}");
            assert_eq!(
                (s.sample_rate, s.channels),
                (Some(rate), Some(2)),
                "{name} {ext}"
            );
            assert_eq!(probe.packets.len(), packets, "{name} {ext}");
            assert_eq!(ffmpeg_decode_errors(&out, &[]), "", "{name} {ext}");
        }
    }
}

/// Oracle: ffmpeg. It refuses ADTS frames of several raw data blocks ("More than one AAC RDB
/// per ADTS frame is not implemented") and decodes nothing of `crc_lc_blocks.aac`; what mist
/// makes of that file, one block per packet, ffmpeg must decode in full (130 blocks of 1024
/// samples at 44.1 kHz stereo) without a word, in MP4, TS and ADTS.
#[test]
fn multi_block_adts_converts_to_what_ffmpeg_decodes() {
    util::require("ffmpeg");
    let dir = util::TestDir::new("interop_multi_block");
    let src = util::fixture("crc_lc_blocks.aac");
    for ext in ["mp4", "ts", "aac"] {
        let out = dir.join(&format!("blocks.{ext}"));
        util::mist_ok(&[
            "convert",
            "-q",
            src.to_str().unwrap(),
            out.to_str().unwrap(),
        ]);
        assert_eq!(ffmpeg_decode_errors(&out, &[]), "", "{ext}");
        let pcm = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(&out)
            .args(["-f", "s16le", "-"])
            .output()
            .expect("run ffmpeg");
        assert_eq!(
            pcm.stdout.len(),
            130 * 1024 * 2 * 2,
            "{ext}: decoded samples"
        );
    }
}
