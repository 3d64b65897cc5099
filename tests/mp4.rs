//! MP4 and fragmented MP4: packet listings against ffprobe sidecars, round trips through the
//! muxers, MistServer's index of src10.mp4, and hostile input.

mod util;

use std::path::Path;

use bytes::Bytes;
use mist::dtsc::index::{Builder, PartInfo};
use mist::dtsc::wire::Header;
use mist::dtsc::{Ticks, Timebase, TrackKind};
use mist::formats::mp4::demux::Demuxer;
use mist::formats::Demuxer as _;
use mist::io::Source;
use serde_json::Value;
use util::{analyse_json, fixture, interop, mist_ok, TestDir};

const FIXTURES: &[&str] = &[
    "faststart.mp4",
    "moov_end.mp4",
    "frag.mp4",
    "bframes_editlist.mp4",
    "two_audio.mp4",
    "ntsc_2997.mp4",
    "vfr.mp4",
    "aac_44k.mp4",
    "mp3_in.mp4",
    "aac_mono.mp4",
];

/// (dts, pts, size, key) per track, tracks in order.
type Listing = Vec<Vec<(i64, i64, u64, bool)>>;

fn mist_listing(path: &Path) -> Listing {
    let j = analyse_json(path, &["--detail", "1"]);
    let ids: Vec<u64> = j["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    let packets = j["packets"].as_array().unwrap();
    ids.iter()
        .map(|id| {
            packets
                .iter()
                .filter(|p| p["track"].as_u64() == Some(*id))
                .map(|p| {
                    (
                        p["dts"].as_i64().unwrap(),
                        p["pts"].as_i64().unwrap(),
                        p["size"].as_u64().unwrap(),
                        p["key"].as_bool().unwrap(),
                    )
                })
                .collect()
        })
        .collect()
}

fn ffprobe_listing(name: &str) -> Listing {
    let text = std::fs::read_to_string(fixture(&format!("{name}.ffprobe.json"))).unwrap();
    let j: Value = serde_json::from_str(&text).unwrap();
    let streams = j["streams"].as_array().unwrap().len();
    let packets = j["packets"].as_array().unwrap();
    (0..streams)
        .map(|s| {
            packets
                .iter()
                .filter(|p| p["stream_index"].as_u64() == Some(s as u64))
                .map(|p| {
                    (
                        p["dts"].as_i64().unwrap(),
                        p["pts"].as_i64().unwrap(),
                        p["size"].as_str().unwrap().parse().unwrap(),
                        p["flags"].as_str().unwrap().starts_with('K'),
                    )
                })
                .collect()
        })
        .collect()
}

#[test]
fn packet_listings_equal_ffprobe_show_packets() {
    // Oracle: the ffprobe -show_packets sidecars written by tests/fixtures/generate.sh.
    for name in FIXTURES {
        assert_eq!(
            mist_listing(&fixture(name)),
            ffprobe_listing(name),
            "{name}"
        );
    }
}

#[test]
fn edit_end_keeps_trailing_b_frames_when_every_sample_is_sync() {
    // Without `stss` every sample is a keyframe. The first one in decode order that reaches
    // the edit's end is then a P-frame with B-frames after it that are shown before it; as in
    // FFmpeg's mov_fix_index the cut waits for the next keyframe. Oracle: ffprobe lists the
    // patched file with the same dts, pts and sizes as the sidecar of the untouched one (checked
    // by hand: `ffprobe -show_entries packet=dts,pts,size` gives identical output for both).
    let mut data = std::fs::read(fixture("bframes_editlist.mp4")).unwrap();
    let at = data.windows(4).position(|w| w == b"stss").unwrap();
    data[at..at + 4].copy_from_slice(b"free");
    let dir = TestDir::new("mp4-no-stss");
    let path = dir.join("no_stss.mp4");
    std::fs::write(&path, &data).unwrap();
    let strip = |l: Listing| -> Vec<Vec<(i64, i64, u64)>> {
        l.into_iter()
            .map(|t| t.into_iter().map(|(d, p, s, _)| (d, p, s)).collect())
            .collect()
    };
    assert_eq!(
        strip(mist_listing(&path)),
        strip(ffprobe_listing("bframes_editlist.mp4"))
    );
}

#[test]
fn a_track_whose_sync_table_names_no_sample_keeps_its_flags_through_a_round_trip() {
    // An `stss` whose entries all point past the last sample: mist reads no keyframe (the
    // container's word; ffprobe flags the two IDR frames from its H.264 parser instead). Its
    // MP4 output must say the same, not promote the first sample to a sync sample because the
    // index always opens with a key. Oracle: the round trip of the flags.
    let mut data = std::fs::read(fixture("bframes_editlist.mp4")).unwrap();
    let at = data.windows(4).position(|w| w == b"stss").unwrap();
    let n = u32::from_be_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
    for k in 0..n {
        let o = at + 12 + 4 * k;
        data[o..o + 4].copy_from_slice(&(1025 + k as u32).to_be_bytes());
    }
    let dir = TestDir::new("mp4-no-sync");
    let (src, out) = (dir.join("in.mp4"), dir.join("out.mp4"));
    std::fs::write(&src, &data).unwrap();
    mist_ok(&[
        "convert",
        "-q",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    let keys = |l: Listing| -> Vec<Vec<bool>> {
        l.into_iter()
            .map(|t| t.into_iter().map(|(_, _, _, k)| k).collect())
            .collect()
    };
    let want = keys(mist_listing(&src));
    assert!(want[0].iter().all(|k| !k), "no video keyframe read");
    assert_eq!(keys(mist_listing(&out)), want);
}

#[test]
fn mp4_and_fmp4_outputs_keep_every_sample() {
    // Oracle: the source's ffprobe sidecar; mist's reading of its own output must equal it.
    let dir = TestDir::new("mp4-roundtrip");
    for name in FIXTURES {
        for to in ["mp4", "fmp4"] {
            let out = dir.join(&format!("{to}-{name}"));
            let src = fixture(name);
            mist_ok(&[
                "convert",
                "-q",
                src.to_str().unwrap(),
                out.to_str().unwrap(),
                "--to",
                to,
            ]);
            assert_eq!(mist_listing(&out), ffprobe_listing(name), "{name} -> {to}");
            if to == "mp4" {
                let data = std::fs::read(&out).unwrap();
                let moov = data.windows(4).position(|w| w == b"moov").unwrap();
                let mdat = data.windows(4).position(|w| w == b"mdat").unwrap();
                assert!(moov < mdat, "{name}: moov must come before mdat");
            }
        }
    }
}

#[test]
fn mp4_to_dtsc_to_mp4_keeps_millisecond_times() {
    // Oracle: the source sidecar's times rounded to ms (DTSC's clock); sizes and flags equal.
    let dir = TestDir::new("mp4-dtsc");
    let name = "frag.mp4";
    let dtsc = dir.join("x.dtsc");
    let back = dir.join("x.mp4");
    mist_ok(&[
        "convert",
        "-q",
        fixture(name).to_str().unwrap(),
        dtsc.to_str().unwrap(),
    ]);
    mist_ok(&[
        "convert",
        "-q",
        dtsc.to_str().unwrap(),
        back.to_str().unwrap(),
    ]);
    let want = ffprobe_listing(name);
    let got = mist_listing(&back);
    let src_scales = [12_800i64, 48_000];
    // ms video is written at 16000 ticks/s (1000 doubled to >= 10000), audio at its rate.
    let out_scales = [16_000i64, 48_000];
    for (t, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(w.len(), g.len());
        for (a, b) in w.iter().zip(g) {
            let ms = |v: i64, s: i64| (v * 1000 + s / 2).div_euclid(s);
            assert_eq!(
                ms(a.0, src_scales[t]),
                ms(b.0, out_scales[t]),
                "track {t} dts"
            );
            assert_eq!(
                ms(a.1, src_scales[t]),
                ms(b.1, out_scales[t]),
                "track {t} pts"
            );
            assert_eq!((a.2, a.3), (b.2, b.3));
        }
    }
}

#[test]
fn trimmed_progressive_output_is_indexed_from_the_window() {
    // Oracle: the source listing restricted to the window, counted from the input's start
    // (its first dts, -1024 at 12800 Hz): keyframe at or before -1024 + 12800, before
    // -1024 + 19200. The output's movie starts at its first presentation (as ffmpeg's does),
    // so every time moves by one constant: the video's times relative to its first dts.
    let dir = TestDir::new("mp4-trim");
    let out = dir.join("cut.mp4");
    let src = fixture("faststart.mp4");
    mist_ok(&[
        "convert",
        "-q",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--start",
        "1",
        "--end",
        "1.5",
    ]);
    let got = mist_listing(&out);
    let want = ffprobe_listing("faststart.mp4");
    let v: Vec<_> = want[0]
        .iter()
        .filter(|p| p.0 >= 11_776 && p.0 < 18_176)
        .copied()
        .collect();
    let rel = |l: &[(i64, i64, u64, bool)]| -> Vec<(i64, i64, u64, bool)> {
        l.iter()
            .map(|p| (p.0 - l[0].0, p.1 - l[0].0, p.2, p.3))
            .collect()
    };
    assert_eq!(rel(&got[0]), rel(&v));
    assert!(got[0][0].3, "starts on a keyframe");
}

#[test]
fn src10_index_equals_mistservers_dtsh() {
    // Oracle: MistServer's own index of src10.mp4 (interop/src10.mp4.dtsh). MistServer takes
    // the sample tables' times without the edit list, converts them to ms by integer division
    // (time * 1000 / timescale, and the offset on its own the same way), and bpos = sample offset.
    let data = std::fs::read(interop("src10.mp4.dtsh")).unwrap();
    let header = Header::parse(Bytes::from(data), 0).unwrap();
    let mut d = Demuxer::open(Source::open(&interop("src10.mp4")).unwrap()).unwrap();
    assert_eq!(d.tracks.len(), header.tracks.len());
    for (n, t) in d.tracks.iter().enumerate() {
        let kind = d.meta().tracks[n].kind;
        let ts = i64::from(t.timebase.per_second());
        let mut b = Builder::new(kind == TrackKind::Video, Timebase::MS);
        for s in t.table.moov_samples() {
            let ms = (s.dts * 1000).div_euclid(ts);
            let cts = (i64::from(s.cts) * 1000).div_euclid(ts);
            b.push(PartInfo {
                dts: Ticks(ms),
                cts: cts as i32,
                size: s.size,
                // MistServer marks only video samples as keyframes; audio keys are its virtual
                // 2047 ms keys.
                keyframe: s.sync && kind == TrackKind::Video,
                pos: s.offset,
                unit_size: u64::from(s.size),
            });
        }
        let mine = b.finish();
        let theirs = header.tracks[n].index.clone().expect("dtsh has an index");
        assert_eq!(mine.parts, theirs.parts, "track {n} parts");
        let strip = |k: &mist::dtsc::index::Key| (k.first_part, k.parts, k.time, k.duration, k.pos);
        assert_eq!(
            mine.keys.iter().map(strip).collect::<Vec<_>>(),
            theirs.keys.iter().map(strip).collect::<Vec<_>>(),
            "track {n} keys"
        );
        assert_eq!(mine.fragments, theirs.fragments, "track {n} fragments");
    }
    let _ = d.build_index();
}

fn open_bytes(data: &[u8]) -> Result<(), mist::formats::FormatError> {
    let mut d = Demuxer::open(Source::from_bytes("x.mp4", data.to_vec()))?;
    d.build_index()?;
    for _ in 0..10_000 {
        if d.next_packet()?.is_none() {
            break;
        }
    }
    Ok(())
}

#[test]
fn truncation_and_bit_flips_never_panic() {
    // Oracle: the robustness contract (Err with an offset inside the input, or fewer packets).
    for name in ["faststart.mp4", "frag.mp4", "moov_end.mp4"] {
        let data = std::fs::read(fixture(name)).unwrap();
        for cut in (0..data.len()).step_by(97) {
            if let Err(e) = open_bytes(&data[..cut]) {
                assert!(e.offset <= cut as u64, "{name} cut {cut}: {e}");
            }
        }
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..300 {
            let mut d = data.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed % d.len() as u64) as usize;
                d[i] ^= 1 << (seed >> 60 & 7);
            }
            if let Err(e) = open_bytes(&d) {
                assert!(e.offset <= d.len() as u64, "{name}: {e}");
            }
        }
    }
}

fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(payload);
    v
}

#[test]
fn hostile_boxes_end_in_one_line_errors() {
    // Hand-built inputs: a moov whose size overruns the file, a sample count of 2^32-1 with a
    // constant size (must not allocate), and boxes nested deeper than any real file.
    let ftyp = boxed(b"ftyp", b"isom\0\0\0\0isom");
    let mut over = ftyp.clone();
    over.extend_from_slice(&[0, 0, 0x10, 0, b'm', b'o', b'o', b'v']);
    let e = open_bytes(&over).unwrap_err();
    assert_eq!(e.offset, ftyp.len() as u64);
    assert!(!e.to_string().contains('\n'));

    // stsz: version/flags, sample_size 1, sample_count 0xFFFFFFFF.
    let stsz = boxed(b"stsz", &[0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]);
    let stsd = boxed(b"stsd", &[0, 0, 0, 0, 0, 0, 0, 0]);
    let stbl = boxed(b"stbl", &[stsd, stsz].concat());
    let minf = boxed(b"minf", &stbl);
    let mut mdhd = vec![0u8; 24];
    mdhd[15] = 100; // timescale 100
    let hdlr = boxed(b"hdlr", &[&[0u8; 8][..], b"soun", &[0u8; 13]].concat());
    let mdia = boxed(b"mdia", &[boxed(b"mdhd", &mdhd), hdlr, minf].concat());
    let tkhd = boxed(b"tkhd", &[0u8; 84]);
    let trak = boxed(b"trak", &[tkhd, mdia].concat());
    let mvhd = boxed(b"mvhd", &[0u8; 100]);
    let moov = boxed(b"moov", &[mvhd, trak].concat());
    let e = open_bytes(&[ftyp.clone(), moov].concat()).unwrap_err();
    assert!(e.to_string().contains("exceeds the limit"), "{e}");

    // 10 000 nested udta boxes inside moov: parsed without recursion, no stack overflow.
    let mut inner = boxed(b"free", &[]);
    for _ in 0..10_000 {
        inner = boxed(b"udta", &inner);
    }
    let moov = boxed(b"moov", &[boxed(b"mvhd", &[0u8; 100]), inner].concat());
    let deep = [ftyp, moov].concat();
    let _ = open_bytes(&deep);
    let dir = TestDir::new("mp4-deep");
    let p = dir.join("deep.mp4");
    std::fs::write(&p, &deep).unwrap();
    let text = mist_ok(&["analyse", p.to_str().unwrap(), "--detail", "1"]);
    assert!(text.contains("nesting deeper than"));
}

#[test]
fn validate_notes_moov_after_mdat() {
    // Oracle: moov_end.mp4 is written with moov last (generate.sh, no +faststart).
    let j = analyse_json(&fixture("moov_end.mp4"), &["--validate"]);
    let f = j["findings"].as_array().unwrap();
    assert!(f.iter().any(|x| x["message"]
        .as_str()
        .unwrap()
        .contains("moov comes after mdat")));
    assert!(f.iter().all(|x| x["severity"] != "error"));
}

/// `--detail 1` lists samples from `moov` alone. Oracle: ffprobe's listing of each fixture.
/// mist gets the same listing from a faststart copy (mist's own, or the fixture when it is
/// one) whose `mdat` payload was cut off: reading any sample would fail with a truncation
/// error.
#[test]
fn packet_listing_of_a_progressive_mp4_never_reads_mdat() {
    let dir = TestDir::new("mp4-moov-only");
    for name in FIXTURES.iter().filter(|n| **n != "frag.mp4") {
        let faststart = dir.join(&format!("fs-{name}"));
        mist_ok(&[
            "convert",
            "-q",
            fixture(name).to_str().unwrap(),
            faststart.to_str().unwrap(),
        ]);
        let data = std::fs::read(&faststart).unwrap();
        let boxes = top_boxes(&data);
        let (kind, mdat_at, mdat_size) = boxes.last().unwrap().clone();
        assert_eq!(
            (kind.as_str(), mdat_at + mdat_size),
            ("mdat", data.len()),
            "{name}"
        );
        let cut = dir.join(name);
        std::fs::write(&cut, &data[..mdat_at + 8]).unwrap();
        assert_eq!(
            mist_listing(&cut),
            ffprobe_listing(name),
            "{name} without mdat"
        );
    }
}

#[test]
fn summary_from_sample_tables_equals_summary_from_packets() {
    // The summary (--detail 0) and the listing (--detail 1) read only moov/moof; reading every
    // packet (--validate does) must agree with both.
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
        let quick = analyse_json(&fixture(name), &[]);
        let listed = analyse_json(&fixture(name), &["--detail", "1"]);
        let full = analyse_json(&fixture(name), &["--detail", "1", "--validate"]);
        assert_eq!(quick["tracks"], full["tracks"], "{name}");
        assert_eq!(quick["duration_ms"], full["duration_ms"], "{name}");
        assert_eq!(listed["tracks"], full["tracks"], "{name}");
        assert_eq!(listed["packets"], full["packets"], "{name}");
    }
}

/// Top-level boxes of a file: (type, offset, size).
fn top_boxes(data: &[u8]) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= data.len() {
        let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        let kind = String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned();
        assert!(size >= 8, "box {kind} at {at} has size {size}");
        out.push((kind, at, size));
        at += size;
    }
    out
}

#[test]
fn sidx_before_each_fragment_indexes_it() {
    // Oracle: the boxes that follow each sidx (hand-parsed here, ISO/IEC 14496-12 §8.16.3)
    // and the sidecar: referenced_size = moof + mdat, the durations add up to the video
    // track's total (sum of ffprobe's packet durations), and each fragment starts where the
    // previous one's duration ends.
    let dir = TestDir::new("fmp4-sidx");
    let src = fixture("faststart.mp4");
    let plain = dir.join("plain.mp4");
    let with = dir.join("sidx.mp4");
    mist_ok(&[
        "convert",
        "-q",
        src.to_str().unwrap(),
        plain.to_str().unwrap(),
        "--to",
        "fmp4",
    ]);
    mist_ok(&[
        "convert",
        "-q",
        src.to_str().unwrap(),
        with.to_str().unwrap(),
        "--to",
        "fmp4",
        "--sidx",
    ]);
    let data = std::fs::read(&with).unwrap();
    let boxes = top_boxes(&data);
    let mut durations = Vec::new();
    let mut earliest = Vec::new();
    for (k, (kind, at, size)) in boxes.iter().enumerate() {
        if kind != "sidx" {
            continue;
        }
        let b = &data[*at..at + size];
        assert_eq!(b[8], 1, "version 1");
        let timescale = u32::from_be_bytes(b[16..20].try_into().unwrap());
        assert_eq!(
            timescale, 12800,
            "video timescale (sidecar time_base 1/12800)"
        );
        earliest.push(u64::from_be_bytes(b[20..28].try_into().unwrap()));
        assert_eq!(
            u16::from_be_bytes(b[38..40].try_into().unwrap()),
            1,
            "one reference"
        );
        let referenced = u32::from_be_bytes(b[40..44].try_into().unwrap()) & 0x7FFF_FFFF;
        durations.push(u64::from(u32::from_be_bytes(b[44..48].try_into().unwrap())));
        assert_eq!(b[48] & 0x80, 0x80, "starts with a SAP");
        let (m, _, moof) = &boxes[k + 1];
        let (d, _, mdat) = &boxes[k + 2];
        assert_eq!((m.as_str(), d.as_str()), ("moof", "mdat"));
        assert_eq!(referenced as usize, moof + mdat);
    }
    assert!(durations.len() >= 2, "{boxes:?}");
    let probe = util::ffprobe::sidecar("faststart.mp4");
    let video_total: i64 = probe
        .packets
        .iter()
        .filter(|p| p.stream_index == 0)
        .map(|p| p.duration.unwrap())
        .sum();
    assert_eq!(durations.iter().sum::<u64>() as i64, video_total);
    for k in 1..earliest.len() {
        assert_eq!(
            earliest[k] - earliest[k - 1],
            durations[k - 1],
            "fragment {k}"
        );
    }
    // The index changes nothing else: the same packets either way.
    assert_eq!(mist_listing(&with), mist_listing(&plain));
}

/// Oracle: the file's length. A crafted MP4 whose sample table points past the end of the file
/// (found by the demux_mp4 fuzz target, kept in its corpus) reports its errors and findings at
/// offsets inside the file.
#[test]
fn errors_on_samples_past_the_end_point_inside_the_file() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/demux_mp4/crash-bfdcb67b2fd3a2547b29e1d7eb54a2a6a2cce13f");
    let data = std::fs::read(&path).unwrap();
    let len = data.len() as u64;
    let mut d = mist::formats::mp4::demux::Demuxer::open(Source::from_bytes("c.mp4", data))
        .expect("the moov is readable");
    loop {
        match d.next_packet() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                assert!(e.offset <= len, "{e}");
                break;
            }
        }
    }
    let out = util::run(
        util::mist().args(["analyse", path.to_str().unwrap(), "--json", "--validate"]),
        false,
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for f in j["findings"].as_array().unwrap() {
        assert!(f["offset"].as_u64().unwrap() <= len, "{f}");
    }
}

/// One FLV tag (header, body, PreviousTagSize).
fn flv_tag(kind: u8, ms: u32, body: &[u8]) -> Vec<u8> {
    let mut t = vec![kind];
    t.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    t.extend_from_slice(&ms.to_be_bytes()[1..]);
    t.push((ms >> 24) as u8);
    t.extend_from_slice(&[0, 0, 0]);
    t.extend_from_slice(body);
    t.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
    t
}

#[test]
fn a_last_sample_sharing_its_time_stays_inside_the_edit() {
    // A repeated audio tag (as a damaged FLV holds) gives the last two samples one time. The
    // last sample used to last 0 ticks, so the edit ended at its time and both fell outside:
    // ffprobe and mist read 1 of 3 samples. Oracle: a hand-built FLV (AAC LC 48 kHz stereo,
    // raw frames at 0, 21 and 21 ms); every sample must be read back from the MP4.
    let mut flv = b"FLV\x01\x04\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
    flv.extend(flv_tag(8, 0, &[0xAF, 0x00, 0x11, 0x90]));
    for ms in [0, 21, 21] {
        flv.extend(flv_tag(
            8,
            ms,
            &[0xAF, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8C, 0x1C],
        ));
    }
    let dir = TestDir::new("mp4-last-shared-time");
    let src = dir.join("dup.flv");
    std::fs::write(&src, &flv).unwrap();
    let out = dir.join("dup.mp4");
    mist_ok(&[
        "convert",
        "-q",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    let listing = mist_listing(&out);
    let times: Vec<i64> = listing[0].iter().map(|p| p.0).collect();
    assert_eq!(
        times,
        [0, 1008, 1008],
        "48 kHz decode times of the three samples"
    );
}

/// Audio packets closer together than one sample of the track's rate (a 90 kHz source with
/// packets 5 ticks apart, written at 8 kHz): each still becomes a sample of its own with a
/// rising decode time, one tick apart, never a zero-length sample whose decode time a reader
/// sees twice. Hand-computed: 0 and 5 of 90 kHz round to tick 0 of 8 kHz and 10 to tick 1,
/// so they are written at 0, 1 and 2 (before, at 0, 0 and 1); the fourth, at 1800 (20 ms),
/// is tick 160 as it was.
#[test]
fn fragmented_audio_never_writes_two_samples_at_one_decode_time() {
    use mist::dtsc::{Audio, Codec, Meta, Packet, Params, Track, TrackId};
    use mist::formats::{MuxOptions, Muxer as _};
    use mist::io::VecSink;
    let mut t = Track::new(
        TrackId(1),
        TrackKind::Audio,
        Codec::Aac,
        Timebase::new(90_000).unwrap(),
    );
    t.init = Bytes::from_static(&[0x15, 0x88]); // AAC LC, 8 kHz, mono
    t.params = Params::Audio(Audio {
        rate: 8000,
        channels: 1,
        sample_bits: 16,
    });
    let meta = Meta {
        tracks: vec![t],
        ..Meta::default()
    };
    let mut mux = mist::formats::mp4::fmp4::Muxer::new(&MuxOptions::default());
    let mut out = VecSink::default();
    mux.start(&meta, &mut out).unwrap();
    for dts in [0, 5, 10, 1800] {
        let p = Packet {
            track: TrackId(1),
            dts: Ticks(dts),
            cts: 0,
            keyframe: true,
            data: Bytes::from_static(&[0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c]),
            pos: None,
        };
        mux.write(&p, &mut out).unwrap();
    }
    mux.finish(&mut out).unwrap();
    let mut d =
        mist::formats::mp4::demux::Demuxer::open(Source::from_bytes("a.mp4", out.data)).unwrap();
    let tb = d.meta().tracks[0].timebase;
    assert_eq!(tb.per_second(), 8000);
    let mut dts = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        dts.push(p.dts.0);
    }
    assert_eq!(dts, [0, 1, 2, 160]);
}
