//! FLV: golden packet listings against ffprobe sidecars, round trips, hand-computed layouts,
//! the sans-IO reader fed in pieces, and malformed input through the real binary.

mod util;

use std::path::Path;

use bytes::Bytes;
use mist::dtsc::{Codec, Meta, Packet, Ticks, Time, Track, TrackId, TrackKind};
use mist::formats::flv::amf0::Value;
use mist::formats::flv::header::Header;
use mist::formats::flv::reader::{Event, Reader};
use mist::formats::flv::tag::{put_u24, TagHeader, TagType};
use mist::formats::flv::{self, Demuxer};
use mist::formats::{Demuxer as _, Muxer as _};
use mist::io::{Source, VecSink};
use serde_json::Value as Json;
use util::{fixture, mist, mist_ok, TestDir};

const FIXTURES: [&str; 5] = [
    "h264_aac.flv",
    "h264_mp3.flv",
    "aac_only.flv",
    "h264_only.flv",
    "jump_back.flv",
];

/// CRC-32 as ffprobe's `-show_data_hash CRC32` computes it (IEEE, reflected, like zlib).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn sidecar(name: &str) -> Json {
    let p = fixture(&format!("{name}.ffprobe.json"));
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn open(path: &Path) -> Demuxer {
    Demuxer::open(Source::open(path).unwrap()).unwrap()
}

fn packets(d: &mut Demuxer) -> Vec<Packet> {
    let mut v = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        v.push(p);
    }
    v
}

fn num(v: &Json) -> i64 {
    match v {
        Json::String(s) => s.parse().unwrap(),
        other => other.as_i64().unwrap(),
    }
}

#[test]
fn packet_listing_equals_ffprobe_show_packets() {
    // Oracle: the ffprobe sidecars (-show_packets): stream by order, dts, pts, size (the tag
    // data minus its codec header), pos (the tag offset) and the key flag, for every packet.
    for name in FIXTURES {
        let probe = sidecar(name);
        let got = util::analyse_json(&fixture(name), &["--detail", "1"]);
        let tracks: Vec<u64> = got["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect();
        let want = probe["packets"].as_array().unwrap();
        let rows = got["packets"].as_array().unwrap();
        assert_eq!(rows.len(), want.len(), "{name}: packet count");
        for (i, (r, w)) in rows.iter().zip(want).enumerate() {
            let stream = tracks
                .iter()
                .position(|t| *t == r["track"].as_u64().unwrap())
                .unwrap() as i64;
            let ours = (
                stream,
                r["dts"].as_i64().unwrap(),
                r["pts"].as_i64().unwrap(),
                r["size"].as_i64().unwrap(),
                r["offset"].as_i64().unwrap(),
                r["key"].as_bool().unwrap(),
            );
            let theirs = (
                num(&w["stream_index"]),
                num(&w["dts"]),
                num(&w["pts"]),
                num(&w["size"]),
                num(&w["pos"]),
                w["flags"].as_str().unwrap().starts_with('K'),
            );
            assert_eq!(ours, theirs, "{name}: packet {i}");
        }
    }
}

#[test]
fn payloads_equal_ffprobe_data_hashes() {
    // Oracle: ffprobe's CRC32 of each packet's data, in the sidecar; our payloads are in
    // canonical framing, which for these files (4-byte NAL lengths) is the FLV payload itself.
    for name in FIXTURES {
        let probe = sidecar(name);
        let mut d = open(&fixture(name));
        let got = packets(&mut d);
        let want = probe["packets"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (p, w)) in got.iter().zip(want).enumerate() {
            let hash = format!("CRC32:{:08x}", crc32(&p.data));
            assert_eq!(hash, w["data_hash"].as_str().unwrap(), "{name}: packet {i}");
        }
    }
}

#[test]
fn streams_match_ffprobe() {
    // Oracle: ffprobe -show_streams in the sidecars: order, codec, rate, channels, time base.
    for name in FIXTURES {
        let probe = sidecar(name);
        let d = open(&fixture(name));
        let tracks = &d.meta().tracks;
        let streams = probe["streams"].as_array().unwrap();
        assert_eq!(tracks.len(), streams.len(), "{name}");
        for (t, s) in tracks.iter().zip(streams) {
            assert_eq!(t.codec.ffprobe_name(), s["codec_name"].as_str().unwrap());
            assert_eq!(t.kind.as_str(), s["codec_type"].as_str().unwrap());
            assert_eq!(s["time_base"].as_str().unwrap(), "1/1000");
            assert_eq!(t.timebase.per_second(), 1000);
            // Ids: 1 = video, 2 = audio.
            let want_id = if t.kind == TrackKind::Video { 1 } else { 2 };
            assert_eq!(t.id, TrackId(want_id));
            if let Some(a) = t.audio() {
                assert_eq!(a.rate.to_string(), s["sample_rate"].as_str().unwrap());
                assert_eq!(i64::from(a.channels), s["channels"].as_i64().unwrap());
            }
            if let Some(v) = t.video() {
                assert_eq!(i64::from(v.width), s["width"].as_i64().unwrap(), "{name}");
                assert_eq!(i64::from(v.height), s["height"].as_i64().unwrap(), "{name}");
                // r_frame_rate 25/1 = 25000 frames per kilo-second.
                let (n, d) = s["r_frame_rate"].as_str().unwrap().split_once('/').unwrap();
                let fpks = n.parse::<i64>().unwrap() * 1000 / d.parse::<i64>().unwrap();
                assert_eq!(i64::from(v.fpks), fpks, "{name}");
            }
            if let Some(p) = s["profile"].as_str() {
                assert_eq!(
                    mist::codec::describe(t).profile.as_deref(),
                    Some(p),
                    "{name}"
                );
            }
            if t.codec == Codec::H264 {
                assert_eq!(
                    t.init.len() as i64,
                    s["extradata_size"].as_i64().unwrap(),
                    "{name}: avcC is the extradata"
                );
            }
        }
    }
}

fn assert_same_packets(what: &str, a: &[Packet], b: &[Packet]) {
    assert_eq!(a.len(), b.len(), "{what}: packet count");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(
            (x.track, x.dts, x.pts(), x.keyframe),
            (y.track, y.dts, y.pts(), y.keyframe),
            "{what}: packet {i}"
        );
        assert!(x.data == y.data, "{what}: payload of packet {i} differs");
    }
}

#[test]
fn flv_to_flv_and_through_dtsc_keep_every_packet() {
    // Oracle: round trip. FLV -> FLV and FLV -> DTSC -> FLV give back every payload,
    // timestamp and keyframe flag, and the same track configuration.
    for name in FIXTURES {
        let dir = TestDir::new("flv_round_trip");
        let src = fixture(name);
        let a = dir.join("a.flv");
        let b = dir.join("b.dtsc");
        let c = dir.join("c.flv");
        for (from, to) in [(&src, &a), (&a, &b), (&b, &c)] {
            mist_ok(&[
                "convert",
                from.to_str().unwrap(),
                to.to_str().unwrap(),
                "-q",
            ]);
        }
        let orig = packets(&mut open(&src));
        let mut da = open(&a);
        assert_same_packets(name, &orig, &packets(&mut da));
        let mut dc = open(&c);
        assert_same_packets(name, &orig, &packets(&mut dc));
        let inits = |d: &Demuxer| -> Vec<Bytes> {
            d.meta().tracks.iter().map(|t| t.init.clone()).collect()
        };
        assert_eq!(inits(&da), inits(&open(&src)));
        assert_eq!(inits(&dc), inits(&open(&src)));
        // FLV written by mist is stable: writing it again gives the same bytes.
        let a2 = dir.join("a2.flv");
        mist_ok(&["convert", a.to_str().unwrap(), a2.to_str().unwrap(), "-q"]);
        util::assert_same_bytes(
            name,
            &std::fs::read(&a2).unwrap(),
            &std::fs::read(&a).unwrap(),
        );
    }
}

#[test]
fn written_metadata_lists_keyframes_at_their_tags() {
    // Oracle: the file itself. Every `keyframes.filepositions` entry must be the offset of a
    // video keyframe tag whose timestamp equals the matching `times` entry, and `filesize`
    // is the file's length.
    let dir = TestDir::new("flv_keyframes");
    let out = dir.join("o.flv");
    mist_ok(&[
        "convert",
        fixture("h264_aac.flv").to_str().unwrap(),
        out.to_str().unwrap(),
        "-q",
    ]);
    let bytes = std::fs::read(&out).unwrap();
    let mut d = open(&out);
    let keys: Vec<(u64, i64)> = packets(&mut d)
        .iter()
        .filter(|p| p.track == TrackId(1) && p.keyframe)
        .map(|p| (p.pos.unwrap(), p.dts.0))
        .collect();
    let meta = &d.scripts()[0];
    assert_eq!(meta.name(), Some("onMetaData"));
    let m = &meta.values[1];
    let kf = m.get("keyframes").unwrap();
    let list = |k: &str| -> Vec<f64> {
        match kf.get(k).unwrap() {
            Value::StrictArray(v) => v.iter().map(|x| x.as_number().unwrap()).collect(),
            other => panic!("{other:?}"),
        }
    };
    let times = list("times");
    let pos = list("filepositions");
    assert_eq!(pos.len(), keys.len());
    for ((p, t), (kp, kt)) in pos.iter().zip(&times).zip(&keys) {
        assert_eq!(*p as u64, *kp);
        assert_eq!((*t * 1000.0).round() as i64, *kt);
    }
    assert_eq!(
        m.get("filesize").unwrap().as_number().unwrap() as usize,
        bytes.len()
    );
    assert_eq!(m.get("videocodecid").unwrap().as_number(), Some(7.0));
    assert_eq!(m.get("audiocodecid").unwrap().as_number(), Some(10.0));
    assert_eq!(m.get("audiosamplerate").unwrap().as_number(), Some(48000.0));
    assert_eq!(m.get("stereo"), Some(&Value::Boolean(true)));
}

/// A tiny hand-built FLV: header, PreviousTagSize0, then the given tags.
fn build(audio: bool, video: bool, tags: &[(u8, u32, Vec<u8>)]) -> Vec<u8> {
    let mut f = Vec::new();
    Header::new(audio, video).write(&mut f);
    f.extend_from_slice(&[0, 0, 0, 0]);
    for (t, ts, body) in tags {
        let h = TagHeader::new(TagType(*t), body.len() as u32, *ts);
        h.write(&mut f);
        f.extend_from_slice(body);
        f.extend_from_slice(&h.tag_size().to_be_bytes());
    }
    f
}

/// A minimal avcC: version 1, High profile 100, level 13, 4-byte lengths, one SPS, one PPS.
fn avcc() -> Vec<u8> {
    vec![
        1, 0x64, 0x00, 0x0d, 0xff,
        0xe1, // version, profile, compat, level, lengthSizeMinusOne=3, 1 SPS
        0, 4, 0x67, 0x64, 0x00, 0x0d, // SPS (header only)
        1, 0, 2, 0x68, 0xef, // 1 PPS
    ]
}

fn video_tag(key: bool, pt: u8, cts: i32, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![if key { 0x17 } else { 0x27 }, pt];
    put_u24(&mut b, cts as u32 & 0xFF_FFFF);
    b.extend_from_slice(payload);
    b
}

fn read_events(data: &[u8], split: Option<usize>) -> Result<Vec<Event>, String> {
    let mut r = Reader::new();
    let mut events = Vec::new();
    let parts: Vec<&[u8]> = match split {
        Some(s) => vec![&data[..s], &data[s..]],
        None => vec![data],
    };
    for part in parts {
        r.feed(Bytes::copy_from_slice(part));
        while let Some(e) = r.next_event().map_err(|e| e.to_string())? {
            events.push(e);
        }
    }
    r.finish();
    while let Some(e) = r.next_event().map_err(|e| e.to_string())? {
        events.push(e);
    }
    Ok(events)
}

#[test]
fn reader_fed_in_two_pieces_gives_the_same_events() {
    // Oracle: the one-piece feed of the same bytes (retina's split-point check).
    for name in FIXTURES {
        let data = std::fs::read(fixture(name)).unwrap();
        let whole = read_events(&data, None).unwrap();
        let stride = if data.len() > 20_000 { 97 } else { 13 };
        for s in (0..=data.len()).step_by(stride) {
            assert_eq!(
                read_events(&data, Some(s)).unwrap(),
                whole,
                "{name}: split at {s}"
            );
        }
    }
}

#[test]
fn timestamps_wrap_at_32_bits_and_keep_their_origin() {
    // Hand-built: AAC frames at 2^32 - 20 ms, then 2^32 - 1, then 5 (wrapped): unwrapped
    // they keep increasing past 2^32 (ffprobe sets pts_wrap_bits 32 for FLV); the first
    // time is kept as is, not shifted to 0.
    let wrap = 1u64 << 32;
    let f = build(
        true,
        false,
        &[
            (8, 0, vec![0xaf, 0, 0x11, 0x90]),
            (8, (wrap - 20) as u32, vec![0xaf, 1, 0xaa]),
            (8, (wrap - 1) as u32, vec![0xaf, 1, 0xbb]),
            (8, 5, vec![0xaf, 1, 0xcc]),
        ],
    );
    let mut d = Demuxer::open(Source::from_bytes("w.flv", f)).unwrap();
    let times: Vec<i64> = packets(&mut d).iter().map(|p| p.dts.0).collect();
    assert_eq!(
        times,
        vec![wrap as i64 - 20, wrap as i64 - 1, wrap as i64 + 5]
    );
}

#[test]
fn lying_flags_missing_and_repeated_sequence_headers() {
    // Hand-built, checked against FFmpeg's flvdec.c behaviour: header flags say audio only,
    // yet a video track appears (streams come from the tags); an AVC frame before the first
    // sequence header is kept as a packet with a finding; a changed sequence header
    // mid-stream is a finding and reading goes on.
    let mut other = avcc();
    other[3] = 0x1e;
    let f = build(
        true,
        false,
        &[
            (9, 0, video_tag(true, 1, 0, &[0, 0, 0, 1, 0x65])),
            (9, 0, video_tag(true, 0, 0, &avcc())),
            (9, 40, video_tag(false, 1, 40, &[0, 0, 0, 1, 0x41])),
            (9, 80, video_tag(true, 0, 0, &other)),
            (9, 80, video_tag(true, 1, -40, &[0, 0, 0, 1, 0x65])),
        ],
    );
    let ev = read_events(&f, None).unwrap();
    let findings: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Finding(x) => Some(x.message.clone()),
            _ => None,
        })
        .collect();
    assert!(
        findings
            .iter()
            .any(|m| m.contains("before the sequence header")),
        "{findings:?}"
    );
    assert!(
        findings.iter().any(|m| m.contains("mid-stream")),
        "{findings:?}"
    );
    let pk: Vec<(i64, i64, bool)> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Packet(p) => Some((p.dts.0, p.pts().0, p.keyframe)),
            _ => None,
        })
        .collect();
    assert_eq!(pk, vec![(0, 0, true), (40, 80, false), (80, 40, true)]);
    let mut d = Demuxer::open(Source::from_bytes("l.flv", f)).unwrap();
    assert_eq!(d.meta().tracks.len(), 1);
    assert_eq!(d.meta().tracks[0].codec, Codec::H264);
    assert_eq!(&d.meta().tracks[0].init[..], &avcc()[..]);
    assert_eq!(packets(&mut d).len(), 3);
}

#[test]
fn enhanced_hevc_and_short_nal_lengths() {
    // Hand-built E-FLV (Enhanced RTMP v1): hvc1 SequenceStart with a minimal hvcC
    // (lengthSizeMinusOne = 3, no arrays), CodedFrames with CompositionTime 40, CodedFramesX
    // (implicit 0). Then legacy AVC with 2-byte NAL lengths, normalised to 4 bytes.
    let mut hvcc = vec![1u8; 23];
    hvcc[21] = 0xff;
    hvcc[22] = 0;
    let ex = |ft: u8, pt: u8, rest: &[u8]| {
        let mut b = vec![0x80 | ft << 4 | pt];
        b.extend_from_slice(b"hvc1");
        b.extend_from_slice(rest);
        b
    };
    let f = build(
        false,
        true,
        &[
            (9, 0, ex(1, 0, &hvcc)),
            (9, 0, ex(1, 1, &[0, 0, 40, 0, 0, 0, 1, 0x26])),
            (9, 40, ex(2, 3, &[0, 0, 0, 1, 0x02])),
        ],
    );
    let mut d = Demuxer::open(Source::from_bytes("e.flv", f)).unwrap();
    assert_eq!(d.meta().tracks[0].codec, Codec::Hevc);
    let p = packets(&mut d);
    assert_eq!(
        (p[0].cts, p[0].keyframe, p[1].cts, p[1].keyframe),
        (40, true, 0, false)
    );
    assert_eq!(&p[1].data[..], &[0, 0, 0, 1, 0x02]);

    let mut short = avcc();
    short[4] = 0xfd; // lengthSizeMinusOne = 1
    let f = build(
        false,
        true,
        &[
            (9, 0, video_tag(true, 0, 0, &short)),
            (9, 0, video_tag(true, 1, 0, &[0, 2, 0x65, 0x88, 0, 1, 0x06])),
        ],
    );
    let mut d = Demuxer::open(Source::from_bytes("s.flv", f)).unwrap();
    let p = packets(&mut d);
    assert_eq!(&p[0].data[..], &[0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x06]);
    d.build_index().unwrap();
    let idx = d.meta().index.as_ref().unwrap();
    assert_eq!(
        idx.tracks[0].parts[0].size, 11,
        "index sizes are canonical sizes"
    );
}

#[test]
fn avc_sequence_header_tag_layout_hand_computed() {
    // Hand-computed from FLV v10.1 E.4.1 and E.4.3.1: after the header, PreviousTagSize0 and
    // the onMetaData tag, the muxer writes the AVC sequence header tag:
    let init = avcc();
    let mut want = vec![
        0x09, // TagType video
        0x00,
        0x00,
        5 + init.len() as u8, // DataSize: 5-byte video header + avcC
        0x00,
        0x00,
        0x00,
        0x00, // Timestamp 0, TimestampExtended 0
        0x00,
        0x00,
        0x00, // StreamID
        0x17, // FrameType 1 (key) << 4 | CodecID 7 (AVC)
        0x00, // AVCPacketType 0: sequence header
        0x00,
        0x00,
        0x00, // CompositionTime 0
    ];
    want.extend_from_slice(&init);
    want.extend_from_slice(&(11 + 5 + init.len() as u32).to_be_bytes()); // PreviousTagSize
    let mut t = Track::new(
        TrackId(1),
        TrackKind::Video,
        Codec::H264,
        mist::dtsc::Timebase::MS,
    );
    t.init = Bytes::from(init);
    let meta = Meta {
        tracks: vec![t],
        ..Meta::default()
    };
    let mut m = flv::Muxer::default();
    let mut sink = VecSink::default();
    m.start(&meta, &mut sink).unwrap();
    let out = &sink.data;
    assert_eq!(
        &out[..13],
        &[b'F', b'L', b'V', 1, 0x01, 0, 0, 0, 9, 0, 0, 0, 0]
    );
    // Skip the script tag (its size is in its header).
    assert_eq!(out[13], 18);
    let script = 11 + u32::from_be_bytes([0, out[14], out[15], out[16]]) as usize + 4;
    assert_eq!(&out[13 + script..], &want[..]);
}

#[test]
fn index_from_headers_and_seek_to_a_keyframe() {
    // Oracle: the sidecar. The index built from tag headers has every packet ffprobe lists,
    // and seeking to 1.5 s resumes at the video keyframe at 1.0 s (GOP of 25 frames at 25 fps).
    let name = "h264_aac.flv";
    let probe = sidecar(name);
    let mut d = open(&fixture(name));
    d.build_index().unwrap();
    let idx = d.meta().index.clone().unwrap();
    let n: usize = idx.tracks.iter().map(|t| t.parts.len()).sum();
    assert_eq!(n, probe["packets"].as_array().unwrap().len());
    let want_sizes: Vec<u32> = probe["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream_index"].as_i64() == Some(0))
        .map(|p| num(&p["size"]) as u32)
        .collect();
    let got_sizes: Vec<u32> = idx.tracks[0].parts.iter().map(|p| p.size).collect();
    assert_eq!(got_sizes, want_sizes);
    assert_eq!(
        idx.tracks[0]
            .keys
            .iter()
            .map(|k| k.time)
            .collect::<Vec<_>>(),
        vec![Ticks(0), Ticks(1000)]
    );
    // Seeking promises only that nothing at or after the target is skipped (audio keys are
    // ~2 s apart, so reading may resume earlier); the video resumes on the 1.0 s keyframe.
    d.seek(Time::from_ms(1500)).unwrap();
    let first = std::iter::from_fn(|| d.next_packet().unwrap())
        .find(|p| p.track == TrackId(1) && p.dts >= Ticks(1000))
        .unwrap();
    assert_eq!((first.dts, first.keyframe), (Ticks(1000), true));
}

#[test]
fn truncated_files_fail_with_one_line_and_leave_nothing() {
    // Every cut (stride 211) of a fixture: either a clean shorter file (cut at a tag
    // boundary) or exit 1 with one stderr line naming a byte offset within the input, and no
    // output file left behind.
    let data = std::fs::read(fixture("h264_aac.flv")).unwrap();
    let dir = TestDir::new("flv_truncated");
    for cut in (0..data.len()).step_by(211) {
        let input = dir.join("in.flv");
        std::fs::write(&input, &data[..cut]).unwrap();
        let out = dir.join("out.flv");
        let o = mist()
            .args([
                "convert",
                input.to_str().unwrap(),
                out.to_str().unwrap(),
                "-q",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        match o.status.code() {
            Some(0) => {
                std::fs::remove_file(&out).unwrap();
            }
            Some(1) => {
                assert_eq!(err.lines().count(), 1, "cut {cut}: {err}");
                // Salvage can help once a track is known (the first tags end before 1000).
                assert!(err.contains("--salvage") || cut < 1000, "cut {cut}: {err}");
                let at: u64 = err
                    .rsplit("at byte ")
                    .next()
                    .and_then(|s| {
                        s.split(|c: char| !c.is_ascii_digit())
                            .next()
                            .and_then(|d| d.parse().ok())
                    })
                    .unwrap_or_else(|| panic!("cut {cut}: no offset in {err}"));
                assert!(at <= cut as u64, "cut {cut}: offset {at}");
                assert_eq!(dir.files(), vec!["in.flv".to_string()], "cut {cut}");
            }
            other => panic!("cut {cut}: exit {other:?}: {err}"),
        }
    }
}

#[test]
fn truncation_at_every_offset_in_the_library() {
    // In-process, every offset of the small audio fixture: Err with an offset <= the
    // length, or a valid shorter stream; never a panic.
    let data = std::fs::read(fixture("aac_only.flv")).unwrap();
    for cut in 0..data.len() {
        let r =
            Demuxer::open(Source::from_bytes("t.flv", data[..cut].to_vec())).and_then(|mut d| {
                let mut n = 0;
                while d.next_packet()?.is_some() {
                    n += 1;
                }
                Ok(n)
            });
        if let Err(e) = r {
            assert!(e.offset <= cut as u64, "cut {cut}: {e}");
        }
    }
}

#[test]
fn flipped_bits_never_panic() {
    // Fixed-seed bit flips (xorshift64, seed 0x5eed): each corrupted file converts, or
    // fails with exit 1 and one line, leaving no output; never a panic (exit 101).
    let data = std::fs::read(fixture("h264_aac.flv")).unwrap();
    let dir = TestDir::new("flv_flips");
    let mut x: u64 = 0x5eed;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..40 {
        let mut d = data.clone();
        for _ in 0..(1 + round % 8) {
            let bit = (next() % (d.len() as u64 * 8)) as usize;
            d[bit / 8] ^= 1 << (bit % 8);
        }
        let input = dir.join("in.flv");
        std::fs::write(&input, &d).unwrap();
        let out = dir.join("out.flv");
        let o = mist()
            .args([
                "convert",
                input.to_str().unwrap(),
                out.to_str().unwrap(),
                "-q",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        match o.status.code() {
            Some(0) => std::fs::remove_file(&out).unwrap(),
            Some(1) => {
                assert_eq!(err.lines().count(), 1, "round {round}: {err}");
                assert!(err.contains("at byte"), "round {round}: {err}");
                assert_eq!(dir.files(), vec!["in.flv".to_string()]);
            }
            other => panic!("round {round}: exit {other:?}: {err}"),
        }
        // analyse --validate never panics either.
        let o = mist()
            .args(["analyse", input.to_str().unwrap(), "--validate"])
            .output()
            .unwrap();
        assert!(matches!(o.status.code(), Some(0 | 1)), "round {round}");
    }
}

#[test]
fn validate_reports_findings_at_offsets() {
    // Hand-built: a wrong PreviousTagSize after the first tag, an unknown tag type 7, a
    // script tag with bad AMF0, a timestamp going back on the audio track, and a tag running
    // past the end of the file.
    let mut f = build(
        true,
        false,
        &[
            (8, 0, vec![0xaf, 0, 0x11, 0x90]),
            (8, 100, vec![0xaf, 1, 1]),
            (7, 100, vec![1, 2, 3]),
            (18, 100, vec![0x04]),
            (8, 50, vec![0xaf, 1, 2]),
        ],
    );
    // First tag is at 13 and takes 15 bytes: its PreviousTagSize is at 28.
    f[28..32].copy_from_slice(&99u32.to_be_bytes());
    f.extend_from_slice(&[8, 0, 0, 50, 0, 0, 0, 0, 0, 0, 0, 0xaf]);
    let dir = TestDir::new("flv_validate");
    let p = dir.join("bad.flv");
    std::fs::write(&p, &f).unwrap();
    let o = mist()
        .args(["analyse", p.to_str().unwrap(), "--validate", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let j: Json = serde_json::from_slice(&o.stdout).unwrap();
    let findings: Vec<(u64, String)> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["offset"].as_u64().unwrap(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |at: u64, word: &str| findings.iter().any(|(o, m)| *o == at && m.contains(word));
    assert!(has(28, "PreviousTagSize"), "{findings:?}");
    let tag3 = 13 + 15 + 4 + 14 + 4;
    assert!(has(tag3, "unknown tag type 7"), "{findings:?}");
    let tag4 = tag3 + 14 + 4;
    assert!(has(tag4 + 11, "AMF0"), "{findings:?}");
    let tag5 = tag4 + 12 + 4;
    assert!(has(tag5, "goes back"), "{findings:?}");
    // Reported where the cut tag starts (its 12 bytes are all there is of it).
    assert!(
        findings
            .iter()
            .any(|(o, m)| *o == f.len() as u64 - 12 && m.contains("past the end")),
        "{findings:?}"
    );
}

#[test]
fn detail_output_shows_tags_and_metadata() {
    // Oracle: the fixture's own bytes (first video tag at 383 with CompositionTime 80, as
    // ffprobe's pos/pts say) and its onMetaData, which ffmpeg wrote with width 320.
    let out = mist_ok(&[
        "analyse",
        fixture("h264_aac.flv").to_str().unwrap(),
        "--detail",
        "2",
    ]);
    assert!(out.contains("FLV header: version 1, flags 0x05"), "{out}");
    assert!(out.contains("\"onMetaData\""), "{out}");
    assert!(out.contains("width: 320"), "{out}");
    assert!(out.contains("tag at byte 383: video"), "{out}");
    assert!(out.contains("composition offset +80 ms"), "{out}");
    assert!(out.contains("NAL unit type 5 (IDR slice)"), "{out}");
    assert!(
        out.contains("audioObjectType 2, samplingFrequencyIndex 3, channelConfiguration 2"),
        "{out}"
    );
}

/// Events of a feed until the first error, and that error's offset.
fn events_until_error(data: &[u8], split: usize) -> (Vec<Event>, Option<u64>) {
    let mut r = Reader::new();
    let mut out = Vec::new();
    for part in [&data[..split], &data[split..]] {
        r.feed(Bytes::copy_from_slice(part));
        loop {
            match r.next_event() {
                Ok(Some(e)) => out.push(e),
                Ok(None) => break,
                Err(e) => return (out, Some(e.offset)),
            }
        }
    }
    r.finish();
    loop {
        match r.next_event() {
            Ok(Some(e)) => out.push(e),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e.offset)),
        }
    }
}

#[test]
fn corrupted_input_gives_the_same_events_however_it_is_split() {
    // Oracle: the one-piece feed (what the demux_flv fuzz target checks), on fixed-seed
    // corruptions of a fixture: flipped bits and overwritten runs.
    let data = std::fs::read(fixture("h264_aac.flv")).unwrap();
    let mut x: u64 = 0xf1f0;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..30 {
        let mut d = data.clone();
        for _ in 0..(1 + round % 5) {
            let at = (next() % d.len() as u64) as usize;
            let run = if round % 3 == 0 { 8 } else { 1 };
            for b in d.iter_mut().skip(at).take(run) {
                *b ^= next() as u8 | 1;
            }
        }
        let whole = events_until_error(&d, d.len());
        for k in 0..12 {
            let split = (next() % (d.len() as u64 + 1)) as usize;
            assert_eq!(
                events_until_error(&d, split),
                whole,
                "round {round} k {k} split {split}"
            );
        }
    }
}

#[test]
fn summary_counts_and_parameters_match_ffprobe() {
    // Oracle: the sidecars: packets per stream, and the stream parameters ffprobe reports.
    for name in FIXTURES {
        let probe = sidecar(name);
        let got = util::analyse_json(&fixture(name), &[]);
        let streams = probe["streams"].as_array().unwrap();
        let tracks = got["tracks"].as_array().unwrap();
        assert_eq!(tracks.len(), streams.len(), "{name}");
        for (i, (t, s)) in tracks.iter().zip(streams).enumerate() {
            let n = probe["packets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["stream_index"].as_u64() == Some(i as u64))
                .count();
            assert_eq!(
                t["packets"].as_u64().unwrap() as usize,
                n,
                "{name} stream {i}"
            );
            assert_eq!(t["codec"], s["codec_name"], "{name} stream {i}");
            for (ours, theirs) in [
                ("width", "width"),
                ("height", "height"),
                ("channels", "channels"),
            ] {
                if s.get(theirs).is_some() {
                    assert_eq!(t[ours], s[theirs], "{name} stream {i} {ours}");
                }
            }
            if let Some(p) = s.get("profile") {
                assert_eq!(&t["profile"], p, "{name} stream {i}");
            }
        }
    }
}

#[test]
fn muxer_refuses_codecs_flv_cannot_carry() {
    // FLV output takes H.264, AAC and MP3 only (legacy tags); HEVC is refused by name.
    let t = Track::new(
        TrackId(1),
        TrackKind::Video,
        Codec::Hevc,
        mist::dtsc::Timebase::MS,
    );
    let meta = Meta {
        tracks: vec![t],
        ..Meta::default()
    };
    let e = flv::Muxer::default()
        .start(&meta, &mut VecSink::default())
        .unwrap_err();
    assert!(e.to_string().contains("hevc"), "{e}");
    assert_eq!(flv::mux::framing(&Codec::Hevc), None);
    assert_eq!(
        flv::mux::framing(&Codec::H264),
        Some(mist::dtsc::Framing::LengthPrefixed { size: 4 })
    );
}

#[test]
fn header_scan_and_full_read_list_the_same_packets() {
    // Oracle: the full read of every byte. `analyse --json --detail 1` reads tag headers only
    // and seeks over payloads; with `--validate` it reads everything. Both must agree, also
    // on a hand-built file with 2-byte NAL lengths (sizes are canonical, 4-byte, sizes).
    let dir = TestDir::new("flv_scan_vs_full");
    let mut short = avcc();
    short[4] = 0xfd;
    let f = build(
        false,
        true,
        &[
            (9, 0, video_tag(true, 0, 0, &short)),
            (9, 0, video_tag(true, 1, 0, &[0, 2, 0x65, 0x88, 0, 1, 0x06])),
            (9, 40, video_tag(false, 1, 0, &[0; 40])),
        ],
    );
    let hand = dir.join("short.flv");
    std::fs::write(&hand, f).unwrap();
    let mut files: Vec<_> = FIXTURES.iter().map(|n| fixture(n)).collect();
    files.push(hand);
    for p in files {
        let fast = util::analyse_json(&p, &["--detail", "1"]);
        let full = util::analyse_json(&p, &["--detail", "1", "--validate"]);
        assert_eq!(fast["packets"], full["packets"], "{}", p.display());
        assert_eq!(fast["tracks"], full["tracks"], "{}", p.display());
    }
}

#[test]
fn mp3_at_48k_goes_through_flv_with_its_real_rate() {
    // Oracle: the MP3 fixture's sidecar (48000 Hz, stereo) and a round trip. FLV's SoundRate
    // bits cannot say 48 kHz (the muxer flags 44 kHz, as FFmpeg does); the reader takes the
    // rate from the MP3 frame header, and MP3 -> FLV -> DTSC keeps every frame.
    let probe = sidecar("cbr_id3.mp3");
    let dir = TestDir::new("flv_mp3_48k");
    let a = dir.join("a.flv");
    let b = dir.join("b.dtsc");
    let src = fixture("cbr_id3.mp3");
    mist_ok(&["convert", src.to_str().unwrap(), a.to_str().unwrap(), "-q"]);
    mist_ok(&["convert", a.to_str().unwrap(), b.to_str().unwrap(), "-q"]);
    let mut d = open(&a);
    let t = &d.meta().tracks[0];
    assert_eq!(t.codec, Codec::Mp3);
    let s = &probe["streams"][0];
    assert_eq!(
        t.audio().unwrap().rate.to_string(),
        s["sample_rate"].as_str().unwrap()
    );
    assert_eq!(
        i64::from(t.audio().unwrap().channels),
        s["channels"].as_i64().unwrap()
    );
    let flv_packets = packets(&mut d);
    assert_eq!(
        flv_packets.len(),
        probe["packets"].as_array().unwrap().len()
    );
    for (p, w) in flv_packets.iter().zip(probe["packets"].as_array().unwrap()) {
        assert_eq!(
            format!("CRC32:{:08x}", crc32(&p.data)),
            w["data_hash"].as_str().unwrap()
        );
    }
    let mut back = mist::pipeline::open(&b).unwrap();
    let mut n = 0;
    while let Some(p) = back.next_packet().unwrap() {
        assert!(
            p.data == flv_packets[n].data && p.dts == flv_packets[n].dts,
            "packet {n}"
        );
        n += 1;
    }
    assert_eq!(n, flv_packets.len());
}

#[test]
fn tag_parts_are_what_rtmp_would_send() {
    // Hand-computed (FLV v10.1 E.4.2/E.4.3): an AAC raw frame has head AF 01; an H.264 inter
    // frame at dts 40, pts 0 has head 27 01 FF FF D8 (CompositionTime -40 as SI24).
    let mut v = Track::new(
        TrackId(1),
        TrackKind::Video,
        Codec::H264,
        mist::dtsc::Timebase::MS,
    );
    v.init = Bytes::from(avcc());
    let mut a = Track::new(
        TrackId(2),
        TrackKind::Audio,
        Codec::Aac,
        mist::dtsc::Timebase::MS,
    );
    a.init = Bytes::from_static(&[0x11, 0x90]);
    let meta = Meta {
        tracks: vec![v, a],
        ..Meta::default()
    };
    let mut m = flv::Muxer::default();
    m.start(&meta, &mut VecSink::default()).unwrap();
    let pkt = |track, dts, cts, key| Packet {
        track: TrackId(track),
        dts: Ticks(dts),
        cts,
        keyframe: key,
        data: Bytes::from_static(&[1, 2, 3]),
        pos: None,
    };
    let p = m.tag_parts(&pkt(2, 21, 0, true), 0).unwrap();
    assert_eq!(
        (p.tag_type, p.timestamp_ms, p.head()),
        (TagType::AUDIO, 21, &[0xaf, 0x01][..])
    );
    let p = m.tag_parts(&pkt(1, 40, -40, false), 0).unwrap();
    assert_eq!((p.tag_type, p.timestamp_ms), (TagType::VIDEO, 40));
    assert_eq!(p.head(), &[0x27, 0x01, 0xff, 0xff, 0xd8]);
    assert_eq!(&p.payload[..], &[1, 2, 3]);
}

#[test]
fn streams_are_listed_in_order_of_their_first_tag_and_hevc_in_id_7_is_found() {
    // FFmpeg's flvdec.c creates streams as their first tags appear (checked with ffprobe 5.1
    // on this very layout: stream 0 audio, stream 1 video). And an id-7 sequence header that
    // holds an hvcC (early OBS builds, ossrs/srs #3464) is HEVC: the record decides.
    let mut hvcc = vec![1u8; 23];
    hvcc[21] = 0xff;
    hvcc[22] = 0;
    let f = build(
        true,
        true,
        &[
            (8, 0, vec![0xaf, 0, 0x11, 0x90]),
            (8, 0, vec![0xaf, 1, 0x21]),
            (9, 0, video_tag(true, 0, 0, &hvcc)),
            (9, 0, video_tag(true, 1, 0, &[0, 0, 0, 1, 0x26])),
        ],
    );
    let d = Demuxer::open(Source::from_bytes("o.flv", f)).unwrap();
    let ids: Vec<u32> = d.meta().tracks.iter().map(|t| t.id.0).collect();
    assert_eq!(ids, vec![2, 1]);
    assert_eq!(d.meta().tracks[1].codec, Codec::Hevc);
}

#[test]
fn seeking_to_the_start_right_after_open_gives_each_packet_once() {
    // Regression: events the reader had parsed during open's look-ahead (here the first MP3
    // packet) came out again after a seek. Oracle: a fresh open's packets, in order.
    for name in ["h264_mp3.flv", "h264_aac.flv"] {
        let fresh = {
            let mut d = mist::pipeline::open(&fixture(name)).unwrap();
            let mut v = Vec::new();
            while let Some(p) = d.next_packet().unwrap() {
                v.push((p.track, p.dts, p.data.len()));
            }
            v
        };
        let mut d = mist::pipeline::open(&fixture(name)).unwrap();
        d.build_index().unwrap();
        d.seek(mist::dtsc::Time::from_ms(-1)).unwrap();
        let mut v = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            v.push((p.track, p.dts, p.data.len()));
        }
        assert_eq!(v, fresh, "{name}");
    }
}
