//! Raw elementary streams (`.h264` Annex B, `.aac` ADTS): listings against the ffprobe
//! sidecars, presentation order of B-frames, round trips through DTSC, `--fps`, trimming, and
//! malformed input. Each test names its oracle.

mod util;

use bytes::Bytes;
use mist::codec::h264::AnnexBNals;
use mist::formats::raw::{aac, h264};
use mist::formats::Demuxer as _;
use mist::io::Source;
use serde_json::Value;
use util::ffprobe;
use util::*;

fn packets_of(doc: &Value) -> Vec<Value> {
    doc["packets"].as_array().expect("packets").clone()
}

/// Oracle: the ffprobe sidecars. Raw H.264 packets there have no times, so count, size (the
/// Annex B bytes of each access unit), key flag and `pos` are compared; ADTS packets also
/// compare pts/dts as exact fractions of a second (1/28224000 there, 1/48000 here). The
/// fdk-aac files add CRC headers, mono, 5.1 and HE-AAC, whose profile and 44.1 kHz output rate
/// ffprobe only learns by decoding (ADTS signals SBR implicitly).
#[test]
fn listings_equal_the_ffprobe_sidecars() {
    for name in [
        "h264_bframes.h264",
        "h264_baseline.h264",
        "aac_lc.aac",
        "crc_lc_stereo.aac",
        "crc_lc_mono.aac",
        "crc_lc_51.aac",
        "crc_he.aac",
        "faac_is_pns.aac",
        "faac_short.aac",
    ] {
        let doc = analyse_json(&fixture(name), &["--detail", "1"]);
        let want = ffprobe::sidecar(name);
        let (got, bases) = ffprobe::from_mist_json(&doc);
        ffprobe::assert_same_packets(name, &got, &bases, &want);
        let got_pos: Vec<Option<u64>> = got.iter().map(|p| p.pos).collect();
        let want_pos: Vec<Option<u64>> = want.packets.iter().map(|p| p.pos).collect();
        assert_eq!(got_pos, want_pos, "{name}: packet offsets");
        let t = &doc["tracks"][0];
        let s = &want.streams[0];
        assert_eq!(t["codec"], s.codec_name.as_str(), "{name}");
        assert_eq!(t["profile"].as_str(), s.profile.as_deref(), "{name}");
        if s.codec_type == "video" {
            assert_eq!(t["width"].as_u64(), s.width, "{name}");
            assert_eq!(t["height"].as_u64(), s.height, "{name}");
        } else {
            assert_eq!(t["rate"].as_u64(), s.sample_rate, "{name}");
            assert_eq!(t["channels"].as_u64(), s.channels, "{name}");
        }
    }
}

/// Oracle: `h264_only.flv.ffprobe.json`. generate.sh encodes it with the same x264 settings
/// from the same source as `h264_bframes.h264` (bit-exact), and ffmpeg's FLV muxer wrote the
/// encoder's timestamps: dts 0, 40, 80 ms …, pts with the 2-frame B delay (80, 200, 120 …).
/// That the slices are the same is checked first: each access unit without its AUD, SPS and
/// PPS has exactly the FLV packet's AVCC size. Then mist's times for the raw stream (no
/// timestamps in the file: POC order + `max_num_reorder_frames` 2 from the VUI) must equal
/// FLV's, in the demuxer (90 kHz) and after conversion to DTSC (ms).
#[test]
fn bframe_presentation_order_equals_the_encoders() {
    let flv = ffprobe::sidecar("h264_only.flv");
    let data = std::fs::read(fixture("h264_bframes.h264")).unwrap();
    let mut d = h264::Demuxer::open(Source::from_bytes("b.h264", data)).unwrap();
    assert_eq!(d.meta().tracks[0].timebase.per_second(), 90_000);
    let mut got = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        let mut slice_bytes = 0;
        for n in mist::codec::h264::LengthPrefixedNals::new(p.data.clone(), 4, 0) {
            let (_, nal) = n.unwrap();
            if !matches!(nal[0] & 0x1f, 7..=9) {
                slice_bytes += 4 + nal.len() as u64;
            }
        }
        got.push((slice_bytes, p.dts.0, p.pts().0, p.keyframe));
    }
    assert_eq!(got.len(), flv.packets.len());
    for (n, (g, w)) in got.iter().zip(&flv.packets).enumerate() {
        assert_eq!(g.0, w.size, "packet {n}: not the same slices as the FLV");
        assert_eq!(g.1, w.dts.unwrap() * 90, "packet {n} dts");
        assert_eq!(g.2, w.pts.unwrap() * 90, "packet {n} pts");
        assert_eq!(g.3, w.key, "packet {n} key");
    }
    // Presentation times are all different: sorted, they rise strictly by one frame.
    let mut pts: Vec<i64> = got.iter().map(|g| g.2).collect();
    pts.sort_unstable();
    assert!(pts.windows(2).all(|w| w[1] - w[0] == 3600));

    let dir = TestDir::new("raw_bframes_dtsc");
    let out = dir.join("b.dtsc");
    mist_ok(&[
        "convert",
        fixture("h264_bframes.h264").to_str().unwrap(),
        out.to_str().unwrap(),
        "-q",
    ]);
    let doc = analyse_json(&out, &["--detail", "1"]);
    let ms: Vec<(i64, i64)> = packets_of(&doc)
        .iter()
        .map(|p| (p["dts"].as_i64().unwrap(), p["pts"].as_i64().unwrap()))
        .collect();
    let want: Vec<(i64, i64)> = flv
        .packets
        .iter()
        .map(|p| (p.dts.unwrap(), p.pts.unwrap()))
        .collect();
    assert_eq!(ms, want);
}

/// Oracle: round trip. ffmpeg wrote `aac_lc.aac` with 7-byte CRC-less headers, so rebuilding
/// each header from the AudioSpecificConfig gives back the same bytes.
#[test]
fn aac_through_dtsc_and_back_is_byte_identical() {
    let dir = TestDir::new("raw_aac_rt");
    let (mid, back) = (dir.join("a.dtsc"), dir.join("a.aac"));
    let src = fixture("aac_lc.aac");
    mist_ok(&[
        "convert",
        src.to_str().unwrap(),
        mid.to_str().unwrap(),
        "-q",
    ]);
    mist_ok(&[
        "convert",
        mid.to_str().unwrap(),
        back.to_str().unwrap(),
        "-q",
    ]);
    assert_same_bytes(
        "aac → dtsc → aac",
        &std::fs::read(&back).unwrap(),
        &std::fs::read(&src).unwrap(),
    );
}

fn nal_list(path: &std::path::Path) -> Vec<Bytes> {
    let data = Bytes::from(std::fs::read(path).unwrap());
    AnnexBNals::new(data, 0).map(|n| n.data).collect()
}

/// Oracle: round trip, compared as NAL unit lists (type and bytes of every NAL unit in
/// order). The bytes differ only in start codes: mist writes 4-byte start codes everywhere,
/// as ffmpeg's `-f h264` does, where x264 used 3-byte ones inside access units. Every NAL
/// unit (AUDs, parameter sets, SEI) is kept, none added: the keyframes carry their SPS/PPS.
#[test]
fn h264_through_dtsc_and_back_keeps_every_nal_unit() {
    let dir = TestDir::new("raw_h264_rt");
    for name in ["h264_bframes.h264", "h264_baseline.h264"] {
        let (mid, back) = (dir.join("v.dtsc"), dir.join("v.h264"));
        let src = fixture(name);
        mist_ok(&[
            "convert",
            src.to_str().unwrap(),
            mid.to_str().unwrap(),
            "-q",
            "--force",
        ]);
        mist_ok(&[
            "convert",
            mid.to_str().unwrap(),
            back.to_str().unwrap(),
            "-q",
            "--force",
        ]);
        let (want, got) = (nal_list(&src), nal_list(&back));
        assert_eq!(got.len(), want.len(), "{name}: NAL unit count");
        for (n, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{name}: NAL unit {n}");
        }
        // And reading the output again gives the same listing, except the sizes that grew by
        // one byte per 3-byte start code.
        let a = analyse_json(&src, &["--detail", "1"]);
        let b = analyse_json(&back, &["--detail", "1"]);
        let key = |d: &Value| -> Vec<(i64, i64, bool)> {
            packets_of(d)
                .iter()
                .map(|p| {
                    (
                        p["dts"].as_i64().unwrap(),
                        p["pts"].as_i64().unwrap(),
                        p["key"].as_bool().unwrap(),
                    )
                })
                .collect()
        };
        assert_eq!(
            key(&a),
            key(&b),
            "{name}: times and keys after the round trip"
        );
    }
}

/// Oracle: the definition of `--fps` (hand-computed ticks): 30000/1001 is 3003 ticks of
/// 90 kHz per frame; 24000/1001 is not a whole number of 90 kHz ticks (3753.75), so the
/// timebase becomes 1/24000 with 1001 ticks per frame; frame 49 of 25 fps ends at 2 s.
#[test]
fn fps_option_sets_exact_frame_times() {
    let f = fixture("h264_baseline.h264");
    let f = f.to_str().unwrap();
    let doc = analyse_json(
        std::path::Path::new(f),
        &["--detail", "1", "--fps", "30000/1001"],
    );
    assert_eq!(doc["tracks"][0]["timebase"], serde_json::json!([1, 90000]));
    let dts: Vec<i64> = packets_of(&doc)
        .iter()
        .map(|p| p["dts"].as_i64().unwrap())
        .collect();
    assert_eq!(dts, (0..50).map(|n| n * 3003).collect::<Vec<_>>());
    let doc = analyse_json(
        std::path::Path::new(f),
        &["--detail", "1", "--fps", "23.976"],
    );
    assert_eq!(doc["tracks"][0]["timebase"], serde_json::json!([1, 24000]));
    assert_eq!(packets_of(&doc)[49]["dts"], 49 * 1001);
    let (code, err) = mist_err(&["analyse", f, "--fps", "0"]);
    assert_eq!(code, 2, "{err}");
}

/// Oracle: the sidecars' key flags (frames 0 and 25 of 50 at 25 fps, so 1.0 s) and the
/// ADTS frame duration (1024/48000 s): `--start 1` begins at the keyframe at 1 s for video,
/// and for audio at the first frame at or after 1 s after starting from the index key before it.
#[test]
fn start_trims_on_keyframes() {
    let dir = TestDir::new("raw_trim");
    let out = dir.join("v.dtsc");
    mist_ok(&[
        "convert",
        fixture("h264_bframes.h264").to_str().unwrap(),
        out.to_str().unwrap(),
        "--start",
        "1",
        "-q",
    ]);
    let p = packets_of(&analyse_json(&out, &["--detail", "1"]));
    assert_eq!(p.len(), 25);
    assert_eq!(p[0]["key"], true);
    let out = dir.join("a.dtsc");
    mist_ok(&[
        "convert",
        fixture("aac_lc.aac").to_str().unwrap(),
        out.to_str().unwrap(),
        "--start",
        "1",
        "-q",
    ]);
    let p = packets_of(&analyse_json(&out, &["--detail", "1"]));
    // Frames 47 (1.0027 s) to 94: 48 frames; frame 46 starts at 0.981 s, before --start.
    assert_eq!(p.len(), 48);
}

/// Oracle: the fixtures' own formats. The raw probes pick their own files by content even
/// under a neutral name, and say 0 for every other fixture (FLV, MP3, TS, MP4), so ADTS never
/// takes an MP3 file (their sync words differ in the layer bits).
/// A four-channel stream has no channel configuration: its ADTS headers say 0 and each frame
/// starts with a program config element. Oracle: ffmpeg's `-c copy` to MP4 (the
/// `aac_adtstoasc` filter) writes this AudioSpecificConfig for quad_pce.aac, PCE included,
/// and ffprobe counts 4 channels.
#[test]
fn adts_channel_configuration_0_takes_the_frames_program_config_into_the_track() {
    const FFMPEG_ASC: [u8; 13] = [
        0x11, 0x80, 0x04, 0xc4, 0x04, 0x00, 0x21, 0x10, 0x04, 0x4c, 0x61, 0x76, 0x63,
    ];
    let d = aac::Demuxer::open(Source::open(&fixture("quad_pce.aac")).unwrap()).unwrap();
    let t = &d.meta().tracks[0];
    assert_eq!(&t.init[..], &FFMPEG_ASC[..]);
    let want = ffprobe::sidecar("quad_pce.aac");
    let mist::dtsc::Params::Audio(a) = &t.params else {
        panic!("not audio: {:?}", t.params)
    };
    assert_eq!(Some(u64::from(a.channels)), want.streams[0].channels);
}

/// Channel configuration 0 with no program config element in the first frame: the stream
/// cannot be described, so the probe does not claim it outright and opening it says why.
/// Hand-built from quad_pce.aac by cutting each frame's PCE out: the 3-bit element id, the
/// element and its 4-byte comment ("Lavc") fill the first 11 bytes after the header, as the
/// 11 PCE bytes of ffmpeg's config above show.
#[test]
fn adts_channel_configuration_0_without_a_program_config_is_refused_in_one_line() {
    let data = std::fs::read(fixture("quad_pce.aac")).unwrap();
    let mut cut = Vec::new();
    let mut at = 0;
    while at + 7 <= data.len() {
        let len = (usize::from(data[at + 3] & 3) << 11)
            | (usize::from(data[at + 4]) << 3)
            | usize::from(data[at + 5] >> 5);
        let Some(frame) = data.get(at..at + len) else {
            break;
        };
        let short = len - 11;
        let mut h = frame[..7].to_vec();
        h[3] = (h[3] & !3) | (short >> 11) as u8;
        h[4] = (short >> 3) as u8;
        h[5] = (h[5] & 0x1f) | ((short & 7) << 5) as u8;
        cut.extend_from_slice(&h);
        cut.extend_from_slice(&frame[18..]);
        at += len;
    }
    assert!(aac::probe(&cut) < 90, "{}", aac::probe(&cut));
    let e = aac::Demuxer::open(Source::from_bytes("cut.aac", cut))
        .err()
        .expect("no program config element");
    assert!(e.to_string().contains("program config element"), "{e}");
}

#[test]
fn probes_recognise_their_own_content_only() {
    for name in ffprobe::fixtures_with_sidecars() {
        let head = std::fs::read(fixture(&name)).unwrap();
        let head = &head[..head.len().min(64 << 10)];
        let (h, a) = (h264::probe(head), aac::probe(head));
        match name.rsplit('.').next() {
            Some("h264") => assert!(h >= 80 && a == 0, "{name}: {h} {a}"),
            Some("aac") => assert!(a >= 80 && h == 0, "{name}: {h} {a}"),
            _ => assert!(h == 0 && a == 0, "{name}: h264 {h}, aac {a}"),
        }
        let found = mist::formats::detect(head, None).map(|s| s.name);
        match name.rsplit('.').next() {
            Some(ext @ ("h264" | "aac")) => assert_eq!(found, Some(ext), "{name}"),
            _ => assert!(!matches!(found, Some("h264" | "aac")), "{name}: {found:?}"),
        }
    }
}

/// Reads every packet in-process: Ok(count) or Err(offset).
fn read_all(name: &str, data: &[u8]) -> Result<usize, u64> {
    let src = Source::from_bytes(name, data.to_vec());
    let mut d: Box<dyn mist::formats::Demuxer> = if name.ends_with(".aac") {
        aac::open(src).map_err(|e| e.offset)?
    } else {
        h264::open(src).map_err(|e| e.offset)?
    };
    let mut n = 0;
    loop {
        match d.next_packet() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return Ok(n),
            Err(e) => return Err(e.offset),
        }
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Oracle: the inputs' own lengths. Every cut (at a stride) and every fixed-seed bit flip of
/// the raw fixtures ends in an error at an offset inside the input or in a valid, not longer
/// result, never a panic; through the binary, a failure is one line naming the byte offset,
/// exit 1, and no output file.
#[test]
fn truncated_and_flipped_raw_streams_fail_cleanly() {
    let dir = TestDir::new("raw_malformed");
    for name in ["aac_lc.aac", "h264_baseline.h264", "h264_bframes.h264"] {
        let data = std::fs::read(fixture(name)).unwrap();
        let full = read_all(name, &data).unwrap();
        let stride = (data.len() / 150).max(1);
        for cut in (0..data.len()).step_by(stride) {
            match read_all(name, &data[..cut]) {
                Ok(n) => assert!(n <= full, "{name} cut {cut}: {n} packets"),
                Err(off) => assert!(off <= cut as u64, "{name} cut {cut}: offset {off}"),
            }
        }
        let mut seed = 0x5eed_u64;
        for _ in 0..300 {
            let mut d = data.clone();
            for _ in 0..4 {
                let bit = (xorshift(&mut seed) as usize) % (d.len() * 8);
                d[bit / 8] ^= 0x80 >> (bit % 8);
            }
            if let Err(off) = read_all(name, &d) {
                assert!(off <= d.len() as u64, "{name}: offset {off}");
            }
        }
        // Through the binary: a cut inside the last ADTS frame, and a cut H.264 stream that
        // keeps only its first AUD and part of its SPS.
        let cut = if name.ends_with(".aac") {
            data.len() - 40
        } else {
            20
        };
        let input = dir.join(name);
        std::fs::write(&input, &data[..cut]).unwrap();
        let out = dir.join("out.dtsc");
        let (code, err) = mist_err(&[
            "convert",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "-q",
        ]);
        assert_eq!(code, 1, "{name}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
        assert!(
            err.contains(name) && err.contains("at byte"),
            "{name}: {err}"
        );
        let at: u64 = err
            .rsplit("at byte ")
            .next()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name}: no offset in {err}"));
        assert!(at <= cut as u64, "{name}: {err}");
        assert!(!out.exists(), "{name}: output left behind");
        assert_eq!(dir.files().iter().filter(|f| f.contains("out")).count(), 0);
    }
}

/// Baseline (no reordering) followed by the High stream with B-frames, then an AUD + SEI
/// with no picture.
fn concatenated() -> (Vec<u8>, usize, usize) {
    let mut data = std::fs::read(fixture("h264_baseline.h264")).unwrap();
    let first = data.len();
    data.extend(std::fs::read(fixture("h264_bframes.h264")).unwrap());
    let tail = data.len();
    // AUD, then an SEI (user data unregistered, 1 byte) and nothing else.
    data.extend_from_slice(&[
        0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x06, 0x05, 0x01, 0x00, 0x80,
    ]);
    (data, first, tail)
}

/// Oracle: the two fixtures' lengths (where the second SPS and the trailing AUD start) and
/// the definition of presentation order: when the second stream's SPS declares 2 reorder
/// frames after a first part with none, presentation times must stay strictly increasing and
/// never before decode times (mist raises the delay at the IDR, leaving a 2-frame gap), and
/// the findings name the SPS change and the picture-less access unit at their offsets.
#[test]
fn deeper_reordering_mid_stream_keeps_presentation_times_increasing() {
    let (data, first, tail) = concatenated();
    let dir = TestDir::new("raw_concat");
    let input = dir.join("cat.h264");
    std::fs::write(&input, &data).unwrap();
    let doc = analyse_json(&input, &["--detail", "1", "--validate"]);
    let p = packets_of(&doc);
    assert_eq!(p.len(), 100);
    let mut pts: Vec<i64> = p.iter().map(|p| p["pts"].as_i64().unwrap()).collect();
    assert!(p.iter().all(|p| p["pts"].as_i64() >= p["dts"].as_i64()));
    pts.sort_unstable();
    assert!(pts.windows(2).all(|w| w[0] < w[1]));
    let findings = doc["findings"].as_array().unwrap();
    let at = |text: &str| -> Option<u64> {
        findings
            .iter()
            .find(|f| f["message"].as_str().unwrap().contains(text))
            .and_then(|f| f["offset"].as_u64())
    };
    assert_eq!(at("SPS 0 changes mid-stream"), Some(first as u64 + 6));
    assert_eq!(at("without a coded slice"), Some(tail as u64));
}

/// Oracle: the demuxer's own full read. After `build_index` and a seek to 3 s, the packets
/// from the IDR at or before 3 s are exactly the ones a full read gives from there (same
/// times, flags and bytes), also for the concatenated stream whose delay changes.
#[test]
fn seeking_gives_the_packets_of_a_full_read() {
    let (cat, _, _) = concatenated();
    for (name, data) in [
        (
            "h264_bframes.h264",
            std::fs::read(fixture("h264_bframes.h264")).unwrap(),
        ),
        ("cat.h264", cat),
    ] {
        let all = {
            let mut d = h264::Demuxer::open(Source::from_bytes(name, data.clone())).unwrap();
            let mut v = Vec::new();
            while let Some(p) = d.next_packet().unwrap() {
                v.push(p);
            }
            v
        };
        let mut d = h264::Demuxer::open(Source::from_bytes(name, data)).unwrap();
        let _ = d.next_packet().unwrap();
        d.seek(mist::dtsc::Time::from_ms(3000)).unwrap();
        let first = d.next_packet().unwrap().unwrap();
        assert!(first.keyframe, "{name}");
        let from = all.iter().position(|p| p.dts == first.dts).unwrap();
        let mut rest = vec![first];
        while let Some(p) = d.next_packet().unwrap() {
            rest.push(p);
        }
        assert_eq!(rest, all[from..].to_vec(), "{name}");
        assert!(all[from].dts.0 <= 3 * 90_000, "{name}");
        assert!(all[from..].len() < all.len(), "{name}");
    }
}

/// Oracle: the sidecar (access unit 8 starts at byte 8044, keyframes are units 0 and 25).
/// A stream cut at unit 8 lists all 42 remaining units in `analyse` (as ffprobe would), but
/// the demuxer starts at the keyframe (unit 25, now the 18th) with decode time 0, and says
/// that 17 undecodable units were dropped, at the cut's first byte.
#[test]
fn a_stream_cut_mid_gop_starts_at_its_first_keyframe() {
    let side = ffprobe::sidecar("h264_bframes.h264");
    let at = side.packets[8].pos.unwrap() as usize;
    assert_eq!(at, 8044);
    let data = std::fs::read(fixture("h264_bframes.h264")).unwrap()[at..].to_vec();
    let dir = TestDir::new("raw_cut_gop");
    let input = dir.join("cut.h264");
    std::fs::write(&input, &data).unwrap();
    assert_eq!(
        packets_of(&analyse_json(&input, &["--detail", "1"])).len(),
        42
    );
    let mut d = h264::Demuxer::open(Source::from_bytes("cut.h264", data)).unwrap();
    let mut got = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        got.push(p);
    }
    assert_eq!(got.len(), 25);
    assert!(got[0].keyframe && got[0].dts.0 == 0);
    assert_eq!(got[0].pos, Some(side.packets[25].pos.unwrap() - at as u64));
    let f = d.take_findings();
    let dropped = f
        .iter()
        .find(|f| f.message.contains("before the first keyframe"))
        .expect("a finding about the dropped units");
    assert_eq!(dropped.offset, Some(0));
    assert!(dropped.message.starts_with("17 "), "{}", dropped.message);
}

// ---- ADTS raw data and CRC ------------------------------------------------------------------

/// The frames fdk-aac's decoder rejected, by byte offset, from a `<name>.fdk.txt` verdict
/// file that `generate_fdk.sh` wrote with `tools/fdk_adts.c check`.
fn fdk_rejected(name: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(fixture(&format!("{name}.fdk.txt"))).unwrap();
    let mut frames = 0;
    let rejected = text
        .lines()
        .filter_map(|line| {
            frames += 1;
            let mut f = line.split_whitespace();
            let (_, offset, verdict) = (f.next()?, f.next()?, f.next()?);
            (verdict != "ok").then(|| offset.parse().unwrap())
        })
        .collect();
    assert!(frames > 20, "{name}: verdict file has {frames} frames");
    rejected
}

/// Oracle: Fraunhofer's decoder (libfdk-aac), which checks `crc_check` itself. On the files
/// its encoder wrote, both accept every frame; on copies with one bit flipped in every third
/// frame (in a channel element's CRC-covered bits, a section or Huffman codeword, or outside
/// any check), mist's `--validate` errors fall on exactly the frames fdk rejects, and nowhere
/// else: a flipped bit either breaks the CRC or makes the raw data unreadable, and fdk
/// reports the same frame as a CRC error in both cases.
#[test]
fn adts_crc_verdicts_equal_fdk_aacs() {
    for name in [
        "crc_lc_stereo.aac",
        "crc_lc_mono.aac",
        "crc_lc_51.aac",
        "crc_he.aac",
        "crc_lc_blocks.aac",
        "crc_lc_stereo_damaged.aac",
        "crc_lc_mono_damaged.aac",
        "crc_lc_51_damaged.aac",
        "crc_he_damaged.aac",
        "crc_lc_blocks_damaged.aac",
    ] {
        // Validation errors make `analyse` exit 1: the damaged files must, the others must not.
        let path = fixture(name);
        let out = run(
            mist().args(["analyse", "--json", "--validate", path.to_str().unwrap()]),
            !name.contains("damaged"),
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        let findings = doc["findings"].as_array().expect("findings");
        let errors: Vec<u64> = findings
            .iter()
            .filter(|f| f["severity"] == "error")
            .map(|f| f["offset"].as_u64().unwrap())
            .collect();
        let want = fdk_rejected(name);
        assert_eq!(errors, want, "{name}: frames with CRC/raw data errors");
        if !name.contains("damaged") {
            assert!(
                want.is_empty(),
                "{name}: fdk rejected frames of its own file"
            );
            // The one finding allowed: that frames hold several raw data blocks.
            let others: Vec<_> = findings
                .iter()
                .filter(|f| !f["message"].as_str().unwrap().contains("raw data blocks"))
                .collect();
            assert!(others.is_empty(), "{name}: {others:?}");
        } else {
            let mismatches = findings
                .iter()
                .filter(|f| f["message"].as_str().unwrap().contains("does not match"))
                .count();
            assert!(
                mismatches > 0,
                "{name}: no frame parsed and failed only its CRC"
            );
        }
    }
}

/// Oracle: each raw data block's own end. A raw_data_block ends with ID_END and byte
/// alignment, and the container says where the frame ends, so walking every element
/// (Huffman codewords, sign bits, escapes, sections, TNS, pulses) must land exactly on the
/// frame's last byte. A wrong codebook entry or band table desynchronises the walk long
/// before. Covers ffmpeg's encoder (ADTS, and raw blocks in FLV, MP4 and TS), fdk-aac's
/// (one and two blocks per frame), and FAAC's with intensity stereo, noise substitution, TNS
/// and short windows only.
#[test]
fn every_raw_data_block_ends_where_its_frame_does() {
    use mist::codec::aac::frame::AdtsFrame;
    use mist::codec::aac::syntax::{parse_raw_data_block, BlockConfig};
    use mist::codec::aac::{AdtsHeader, AudioSpecificConfig};
    use mist::io::BitReader;

    for name in [
        "aac_lc.aac",
        "crc_lc_stereo.aac",
        "crc_lc_mono.aac",
        "crc_lc_51.aac",
        "crc_he.aac",
        "crc_lc_blocks.aac",
        "faac_is_pns.aac",
        "faac_short.aac",
    ] {
        // Also through the binary: --validate finds nothing but the several-blocks note.
        let findings = analyse_json(&fixture(name), &["--validate"])["findings"].clone();
        let findings = findings.as_array().unwrap();
        assert!(
            findings.iter().all(|f| f["severity"] == "info"),
            "{name}: {findings:?}"
        );
        let data = std::fs::read(fixture(name)).unwrap();
        let (mut pos, mut frames) = (0usize, 0);
        while pos < data.len() {
            let h = AdtsHeader::parse(&data[pos..], pos as u64).unwrap();
            let frame = &data[pos..pos + usize::from(h.frame_length)];
            let parsed = AdtsFrame::parse(frame, &h, pos as u64).unwrap();
            // After the last block: its CRC when each block has one, then the frame's end.
            assert_eq!(parsed.end, frame.len() * 8, "{name} at {pos}");
            assert_eq!(
                parsed.blocks.len(),
                usize::from(h.number_of_raw_data_blocks) + 1
            );
            assert_eq!(
                parsed.channels(),
                u32::from(h.channel_configuration).min(6),
                "{name}"
            );
            assert_eq!(parsed.has_sbr(), name == "crc_he.aac", "{name} at {pos}");
            pos += frame.len();
            frames += 1;
        }
        assert!(frames > 20, "{name}");
    }
    for name in [
        "h264_aac.flv",
        "two_audio.mp4",
        "h264_aac.ts",
        "aac_44k.mp4",
    ] {
        let meta_and_packets = demux_all(&fixture(name));
        let mut checked = 0;
        for (track, packets) in meta_and_packets {
            let asc = AudioSpecificConfig::parse(&track.init, 0).unwrap();
            let config = BlockConfig {
                object_type: asc.object_type,
                sf_index: asc.sampling_frequency_index,
            };
            for p in packets {
                let mut r = BitReader::new(&p, 0, "aac");
                let block = parse_raw_data_block(&mut r, config).unwrap();
                assert_eq!(block.end, p.len() * 8, "{name}");
                assert_eq!(block.channels(), 2, "{name}");
                checked += 1;
            }
        }
        assert!(checked > 80, "{name}: {checked} AAC packets");
    }
}

/// The AAC tracks of a file and their packets' payloads, through the format table.
fn demux_all(path: &std::path::Path) -> Vec<(mist::dtsc::Track, Vec<Bytes>)> {
    let head = std::fs::read(path).unwrap();
    let spec = mist::formats::probe::detect(&head[..head.len().min(4096)], Some(path)).unwrap();
    let mut d = (spec.open.unwrap())(Source::open(path).unwrap()).unwrap();
    let tracks: Vec<mist::dtsc::Track> = d
        .meta()
        .tracks
        .iter()
        .filter(|t| t.codec == mist::dtsc::Codec::Aac)
        .cloned()
        .collect();
    let mut out: Vec<(mist::dtsc::Track, Vec<Bytes>)> =
        tracks.into_iter().map(|t| (t, Vec::new())).collect();
    while let Some(p) = d.next_packet().unwrap() {
        if let Some((_, v)) = out.iter_mut().find(|(t, _)| t.id == p.track) {
            v.push(p.data);
        }
    }
    out
}

/// Oracle: ffprobe (decoding) calls `crc_he.aac` HE-AAC at 44.1 kHz, though its ADTS headers
/// say AAC LC at 22.05 kHz; mist finds the SBR payload in the first frame and writes the
/// config out explicitly (object type 5 over LC, extension rate 44.1 kHz). Round trip: back to
/// ADTS the headers say LC at 22.05 kHz again and every payload and time is unchanged.
#[test]
fn he_aac_in_adts_gets_an_explicit_config_and_survives_a_round_trip() {
    use mist::codec::aac::{AudioSpecificConfig, SbrSignalling};
    let src = fixture("crc_he.aac");
    let data = std::fs::read(&src).unwrap();
    let d = aac::Demuxer::open(Source::from_bytes("he.aac", data.clone())).unwrap();
    let asc = AudioSpecificConfig::parse(&d.meta().tracks[0].init, 0).unwrap();
    assert_eq!(asc.sbr, SbrSignalling::Hierarchical { ps: false });
    assert_eq!((asc.object_type, asc.sampling_frequency), (2, 22050));
    assert_eq!(asc.output_sampling_frequency(), 44100);

    let dir = TestDir::new("he_round_trip");
    let dtsc = dir.join("he.dtsc");
    let back = dir.join("back.aac");
    mist_ok(&[
        "convert",
        "-q",
        src.to_str().unwrap(),
        dtsc.to_str().unwrap(),
    ]);
    mist_ok(&[
        "convert",
        "-q",
        dtsc.to_str().unwrap(),
        back.to_str().unwrap(),
    ]);
    let frames = |bytes: &[u8]| {
        let mut d = aac::Demuxer::open(Source::from_bytes("x.aac", bytes.to_vec())).unwrap();
        let mut v = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            v.push((p.dts, p.data));
        }
        v
    };
    let back_data = std::fs::read(&back).unwrap();
    let first = mist::codec::aac::AdtsHeader::parse(&back_data, 0).unwrap();
    assert_eq!((first.profile, first.sampling_frequency()), (1, 22050));
    assert!(
        first.protection_absent,
        "mist writes ADTS without CRC, as ffmpeg does"
    );
    assert_eq!(frames(&back_data), frames(&data));

    // TS carries ADTS too: reading mist's TS back finds the SBR payload the same way, and
    // says what ffprobe's sidecar of the source says.
    let ts = dir.join("he.ts");
    mist_ok(&["convert", "-q", src.to_str().unwrap(), ts.to_str().unwrap()]);
    let doc = analyse_json(&ts, &[]);
    let want = &ffprobe::sidecar("crc_he.aac").streams[0];
    let t = &doc["tracks"][0];
    assert_eq!(t["profile"].as_str(), want.profile.as_deref());
    assert_eq!(t["rate"].as_u64(), want.sample_rate);
    assert_eq!(t["channels"].as_u64(), want.channels);
}

/// Oracle: the ffprobe sidecars of `he_remux.mp4` / `.flv` (ffmpeg's `-c copy` of
/// `crc_he.aac`), whose config records say AAC LC at 22.05 kHz: ffprobe decodes and reports
/// HE-AAC at 44.1 kHz, and so must mist's summary, both the quick one (sample tables / tag
/// headers plus the first AAC payload) and the full read (`--validate`). The packet listings
/// equal the sidecars too. Conversions keep the record as it is, as ffmpeg's do.
#[test]
fn implicit_he_aac_in_mp4_and_flv_is_summarised_as_ffprobe_decodes_it() {
    for name in ["he_remux.mp4", "he_remux.flv"] {
        let want = ffprobe::sidecar(name);
        let s = &want.streams[0];
        assert_eq!(s.profile.as_deref(), Some("HE-AAC"), "{name}: the oracle");
        for extra in [&[][..], &["--validate"][..], &["--detail", "1"][..]] {
            let doc = analyse_json(&fixture(name), extra);
            let t = &doc["tracks"][0];
            assert_eq!(
                t["profile"].as_str(),
                s.profile.as_deref(),
                "{name} {extra:?}"
            );
            assert_eq!(t["rate"].as_u64(), s.sample_rate, "{name} {extra:?}");
            assert_eq!(t["channels"].as_u64(), s.channels, "{name} {extra:?}");
            if extra.len() == 2 {
                let (got, bases) = ffprobe::from_mist_json(&doc);
                ffprobe::assert_same_packets(name, &got, &bases, &want);
            }
        }
    }
}

/// Oracles: the ffprobe sidecars of fdk-aac's HE-AAC and HE-AAC v2 files (profile, output
/// rate, channels, and the packet listing), and for mono HE-AAC the encoder's own settings.
/// ADTS signals neither SBR nor PS; mist finds SBR in the first frame's fill element and PS
/// inside that SBR payload. ffprobe calls *every* mono stream with implicit SBR "HE-AACv2,
/// 2 channels": ffmpeg's decoder switches PS on for a mono stream the moment it sees SBR,
/// before any PS data (libavcodec/aacdec_template.c, decode_extension_payload), so that it can
/// output stereo if PS turns up. fdk encoded `sbr_he_mono_*` as AOT 5 (SBR, no PS) and no
/// payload carries PS (tests/aac_sbr.rs), so mist reports HE-AAC, 1 channel there.
#[test]
fn he_aac_v1_and_v2_in_adts_are_told_apart() {
    for (name, mono) in [
        ("sbr_he_stereo_16k.aac", false),
        ("sbr_he_stereo_44k.aac", false),
        ("sbr_he_stereo_48k.aac", false),
        ("sbr_hev2_24k.aac", false),
        ("sbr_hev2_48k.aac", false),
        ("sbr_he_mono_32k.aac", true),
        ("sbr_he_mono_96k.aac", true),
    ] {
        let doc = analyse_json(&fixture(name), &["--detail", "1"]);
        let want = ffprobe::sidecar(name);
        let (got, bases) = ffprobe::from_mist_json(&doc);
        ffprobe::assert_same_packets(name, &got, &bases, &want);
        let t = &doc["tracks"][0];
        let s = &want.streams[0];
        assert_eq!(t["rate"].as_u64(), s.sample_rate, "{name}");
        if mono {
            assert_eq!(
                s.profile.as_deref(),
                Some("HE-AACv2"),
                "{name}: ffmpeg's assumption"
            );
            assert_eq!(t["profile"].as_str(), Some("HE-AAC"), "{name}");
            assert_eq!(t["channels"].as_u64(), Some(1), "{name}");
        } else {
            assert_eq!(t["profile"].as_str(), s.profile.as_deref(), "{name}");
            assert_eq!(t["channels"].as_u64(), s.channels, "{name}");
        }
    }
}

/// Oracle: the encoder's own block positions. `crc_lc_blocks_split.aac` was cut from
/// `crc_lc_blocks.aac` (two raw data blocks per ADTS frame) where its headers'
/// `raw_data_block_position` fields say the blocks start, by `tools/split_adts.py`, and
/// generate_fdk.sh checked that fdk-aac decodes both to the same PCM. mist finds the blocks by
/// walking the raw data instead; converting to ADTS must give that file byte for byte (one
/// block per frame: what every other container and ffmpeg's decoder need), and so must a
/// trimmed conversion from 2.5 s: the seek goes to the index key at or before it, the first
/// block at or after 2047 ms (block 89, 2.067 s: the *second* block of frame 44), reading
/// restarts at that frame with its time, and the trim then starts at the first block at or
/// after 2.5 s (block 108). A wrong time for the restarted frame shifts every block after it
/// and the cut by a block.
#[test]
fn multi_block_frames_become_one_packet_per_block() {
    let dir = TestDir::new("multi_block");
    let src = fixture("crc_lc_blocks.aac");
    let want = fixture("crc_lc_blocks_split.aac");
    let out = dir.join("split.aac");
    mist_ok(&[
        "convert",
        "-q",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_same_bytes(
        "split",
        &std::fs::read(&out).unwrap(),
        &std::fs::read(&want).unwrap(),
    );
    // Each block packet's `pos` is where its bytes are in the file (so positions increase).
    let data = std::fs::read(&src).unwrap();
    let mut d = aac::Demuxer::open(Source::from_bytes("b.aac", data.clone())).unwrap();
    let mut last = None;
    while let Some(p) = d.next_packet().unwrap() {
        let at = p.pos.unwrap() as usize;
        assert_eq!(&data[at..at + p.data.len()], &p.data[..]);
        assert!(last < Some(at), "positions increase");
        last = Some(at);
    }

    let cut = dir.join("cut.aac");
    let want_cut = dir.join("want_cut.aac");
    for (from, to) in [(&src, &cut), (&want, &want_cut)] {
        mist_ok(&[
            "convert",
            "-q",
            from.to_str().unwrap(),
            to.to_str().unwrap(),
            "--start",
            "2.5",
        ]);
    }
    let cut_bytes = std::fs::read(&cut).unwrap();
    assert_same_bytes("trimmed", &cut_bytes, &std::fs::read(&want_cut).unwrap());
    // The first block kept: ceil(2.5 s · 44100 / 1024) = 108.
    let first = aac::Demuxer::open(Source::from_bytes("c.aac", cut_bytes))
        .unwrap()
        .next_packet()
        .unwrap()
        .unwrap();
    let want_first = aac::Demuxer::open(Source::from_bytes("w.aac", std::fs::read(&want).unwrap()))
        .map(|mut d| {
            (0..=108)
                .map(|_| d.next_packet().unwrap().unwrap())
                .last()
                .unwrap()
        })
        .unwrap();
    assert_eq!(first.data, want_first.data);
}

/// A stream cut mid-GOP whose parameter sets change before its first keyframe: the baseline
/// fixture's SPS and PPS with its sixth picture (a P-frame), then the B-frame fixture's SPS and PPS with
/// its units 8 to 24 (no keyframe), then its units 25 on with unit 25's own SPS and PPS
/// taken out.
/// All the dropped units carry SPS 0 and PPS 0. Oracle: the B-frame fixture's own bytes and
/// its sidecar's offsets. The IDR must be written with the B-frame fixture's sets, the ones in
/// force at it; with the first ones seen (the baseline's) its slices cannot even be parsed.
#[test]
fn parameter_sets_of_dropped_units_go_with_the_first_keyframe() {
    let side = ffprobe::sidecar("h264_bframes.h264");
    let (u8_at, u25_at) = (
        side.packets[8].pos.unwrap() as usize,
        side.packets[25].pos.unwrap() as usize,
    );
    let of_kind = |nals: &[Bytes], k: u8| -> Bytes {
        nals.iter().find(|n| n[0] & 0x1f == k).unwrap().clone()
    };
    let base = nal_list(&fixture("h264_baseline.h264"));
    let bf = nal_list(&fixture("h264_bframes.h264"));
    let annexb = |nals: &[&Bytes]| -> Vec<u8> {
        nals.iter()
            .flat_map(|n| [&[0u8, 0, 0, 1][..], &n[..]].concat())
            .collect()
    };
    let (sps_b, pps_b) = (of_kind(&bf, 7), of_kind(&bf, 8));
    let bframes = std::fs::read(fixture("h264_bframes.h264")).unwrap();
    // The baseline's sixth picture (frame_num 5): unit 8 of the B-frame fixture has frame_num
    // 6, so the cut shows no frame_num gap.
    let p5 = base.iter().filter(|n| n[0] & 0x1f == 1).nth(4).unwrap();
    let mut data = annexb(&[&of_kind(&base, 7), &of_kind(&base, 8), p5]);
    data.extend(annexb(&[&sps_b, &pps_b]));
    data.extend_from_slice(&bframes[u8_at..u25_at]);
    let rest: Vec<Bytes> = AnnexBNals::new(Bytes::from(bframes[u25_at..].to_vec()), 0)
        .map(|n| n.data)
        .collect();
    // Unit 25 is AUD, SPS, PPS, IDR, ...: its own sets are taken out.
    assert_eq!(
        rest[..4].iter().map(|n| n[0] & 0x1f).collect::<Vec<_>>(),
        [9, 7, 8, 5]
    );
    let stripped: Vec<&Bytes> = rest
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches!(i, 1 | 2))
        .map(|(_, n)| n)
        .collect();
    data.extend(annexb(&stripped));
    let dir = TestDir::new("raw_sets_before_key");
    let input = dir.join("cut.h264");
    let output = dir.join("out.h264");
    std::fs::write(&input, &data).unwrap();
    mist_ok(&[
        "convert",
        "-q",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
    ]);
    // The output is the B-frame fixture from unit 25 on, its sets back in place.
    let got = nal_list(&output);
    assert_eq!(got.len(), rest.len());
    assert!(
        got == rest,
        "the output is the B-frame fixture from unit 25"
    );
    assert_eq!((&rest[1], &rest[2]), (&sps_b, &pps_b));
    let doc = analyse_json(&output, &["--validate"]);
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["severity"] != "error"),
        "{findings:#?}"
    );
    // The track's configuration is the one in force too (an MP4 gets it as its avcC): the
    // profile ffprobe gives the B-frame fixture, not the baseline's "Constrained Baseline".
    let mp4 = dir.join("out.mp4");
    mist_ok(&[
        "convert",
        "-q",
        input.to_str().unwrap(),
        mp4.to_str().unwrap(),
    ]);
    let want = side.streams[0].profile.clone().unwrap();
    assert_eq!(want, "High");
    assert_eq!(
        analyse_json(&mp4, &[])["tracks"][0]["profile"],
        want.as_str()
    );
}
