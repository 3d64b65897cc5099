//! MP3: packet listings against ffprobe's sidecars, round trips through DTSC and MP3,
//! malformed input, and the incremental reader cut at every offset.

mod util;

use bytes::Bytes;
use mist::dtsc::TrackKind;
use mist::formats::mp3::{demux, reader::StreamReader};
use mist::formats::{Demuxer as _, Event, Reader as _};
use mist::io::Source;
use util::ffprobe;

const FIXTURES: [&str; 3] = ["cbr_id3.mp3", "vbr_xing.mp3", "mono_32k.mp3"];

/// Oracle: the ffprobe sidecars (`-show_packets`): same packet count, pts/dts equal as
/// fractions of a second (ffprobe's 1/14112000 vs our sample-rate timebase), sizes, key
/// flags, and `pos` equal to our `offset`. The Xing/Info frame is not a packet in either.
#[test]
fn packet_listings_equal_ffprobe() {
    // A recording cut inside a frame lists like ffprobe too: its last packet is the part of
    // the frame that is there (convert leaves it out; see tests/damage.rs).
    for name in FIXTURES.into_iter().chain(["truncated.mp3"]) {
        let doc = util::analyse_json(&util::fixture(name), &["--detail", "1"]);
        let (got, bases) = ffprobe::from_mist_json(&doc);
        let want = ffprobe::sidecar(name);
        ffprobe::assert_same_packets(name, &got, &bases, &want);
        for (g, w) in got.iter().zip(&want.packets) {
            assert_eq!(g.pos, w.pos, "{name}: offset vs ffprobe pos");
        }
        // The track: ffprobe's sample rate and channels, codec mp3.
        let s = &want.streams[0];
        let t = &doc["tracks"][0];
        assert_eq!(t["codec"], "mp3");
        assert_eq!(t["rate"].as_u64(), s.sample_rate, "{name}");
        assert_eq!(t["channels"].as_u64(), s.channels, "{name}");
        assert_eq!(t["timebase"][1].as_u64(), s.sample_rate, "{name}");
    }
}

/// Oracle: the fixtures README and the sidecars: mono_32k is 32 kHz mono with an `Info`
/// frame of 288 bytes (ffprobe's first packet is at pos 288); vbr_xing has a `Xing` frame
/// (first packet at 192); cbr_id3 has a 60-byte ID3v2.4 tag (first packet at 60) and
/// validates without findings.
#[test]
fn analyse_detail_shows_tags_and_vbr_frames() {
    let out = util::mist_ok(&[
        "analyse",
        util::fixture("cbr_id3.mp3").to_str().unwrap(),
        "--detail",
        "2",
        "--validate",
    ]);
    assert!(out.contains("ID3v2.4.0 tag at byte 0, 60 bytes"), "{out}");
    assert!(out.contains("TIT2 (14 bytes): mist fixture"), "{out}");
    assert!(
        out.contains("frame at byte 60: MPEG-1 layer III 128 kbit/s 48000 Hz"),
        "{out}"
    );
    let out = util::mist_ok(&[
        "analyse",
        util::fixture("mono_32k.mp3").to_str().unwrap(),
        "--detail",
        "1",
    ]);
    assert!(out.contains("Info frame at byte 0, 288 bytes"), "{out}");
    let out = util::mist_ok(&[
        "analyse",
        util::fixture("vbr_xing.mp3").to_str().unwrap(),
        "--detail",
        "1",
    ]);
    assert!(out.contains("Xing frame at byte 0, 192 bytes"), "{out}");
    let doc = util::analyse_json(&util::fixture("cbr_id3.mp3"), &["--validate"]);
    assert_eq!(doc["findings"].as_array().map(Vec::len), Some(0));
}

fn frames_of(data: &[u8]) -> Vec<(i64, Bytes)> {
    let mut d = demux::Demuxer::open(Source::from_bytes("x.mp3", data.to_vec())).unwrap();
    let mut v = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        v.push((p.dts.0, p.data));
    }
    v
}

/// Oracle: round trip. MP3 → MP3 writes the same frames byte for byte (tags and the Xing
/// frame dropped); MP3 → DTSC → MP3 gives back the same frames and times.
#[test]
fn round_trips_keep_frames() {
    for name in FIXTURES {
        let dir = util::TestDir::new("mp3-rt");
        let src = util::fixture(name);
        let orig = frames_of(&std::fs::read(&src).unwrap());
        let out = dir.join("copy.mp3");
        // Frames only (the ID3v2 tag's pass-through has its own test).
        util::mist_ok(&[
            "convert",
            src.to_str().unwrap(),
            out.to_str().unwrap(),
            "-q",
            "--strip-tags",
        ]);
        let copied = std::fs::read(&out).unwrap();
        let concat: Vec<u8> = orig.iter().flat_map(|(_, b)| b.to_vec()).collect();
        util::assert_same_bytes(name, &copied, &concat);

        let dtsc = dir.join("x.dtsc");
        let back = dir.join("back.mp3");
        util::mist_ok(&[
            "convert",
            src.to_str().unwrap(),
            dtsc.to_str().unwrap(),
            "-q",
        ]);
        util::mist_ok(&[
            "convert",
            dtsc.to_str().unwrap(),
            back.to_str().unwrap(),
            "-q",
        ]);
        let again = frames_of(&std::fs::read(&back).unwrap());
        assert_eq!(again.len(), orig.len(), "{name}");
        for (a, b) in again.iter().zip(&orig) {
            assert_eq!(a, b, "{name}");
        }
    }
}

/// Oracle: hand-made damage. Garbage between frames is damage, skipped with an error at its
/// offset; a cut inside the last frame gives a shorter last packet and an error finding.
#[test]
fn garbage_and_truncation_are_findings() {
    let data = std::fs::read(util::fixture("cbr_id3.mp3")).unwrap();
    // 60-byte tag, then 384-byte frames. Insert 100 bytes of 0x55 after the second frame.
    let mut bad = data[..60 + 2 * 384].to_vec();
    bad.extend([0x55u8; 100]);
    bad.extend(&data[60 + 2 * 384..data.len() - 100]);
    let dir = util::TestDir::new("mp3-bad");
    let p = dir.join("bad.mp3");
    std::fs::write(&p, &bad).unwrap();
    // --validate exits 1 when a finding is an error; the JSON is still printed.
    let out = util::run(
        util::mist().args([
            "analyse",
            p.to_str().unwrap(),
            "--json",
            "--validate",
            "--detail",
            "1",
        ]),
        false,
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["offset"] == 60 + 2 * 384 && f["severity"] == "error"),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["severity"] == "error"
                && f["message"].as_str().unwrap().contains("truncated")),
        "{findings:?}"
    );
    let packets = doc["packets"].as_array().unwrap();
    // 85 frames minus the ~100 bytes cut at the end: the last one shorter than 384.
    assert_eq!(packets.len(), 85);
    assert_eq!(packets[2]["offset"], 60 + 2 * 384 + 100);
    assert_eq!(packets[84]["size"], 384 - 100);
    // The truncated file still converts; analyse without --validate succeeds.
    util::mist_ok(&["analyse", p.to_str().unwrap()]);
}

/// Oracle: no panic and no hang on any prefix or on bit flips (fixed seed); errors carry an
/// offset inside the input.
#[test]
fn truncated_and_flipped_inputs_never_panic() {
    let data = std::fs::read(util::fixture("mono_32k.mp3")).unwrap();
    let run = |d: &[u8]| match demux::Demuxer::open(Source::from_bytes("x.mp3", d.to_vec())) {
        Ok(mut dm) => {
            let mut n = 0;
            loop {
                match dm.next_packet() {
                    Ok(Some(_)) => n += 1,
                    Ok(None) => break,
                    Err(e) => {
                        assert!(e.offset <= d.len() as u64);
                        break;
                    }
                }
                assert!(n <= d.len());
            }
            let _ = dm.build_index();
        }
        Err(e) => assert!(e.offset <= d.len() as u64, "{e}"),
    };
    for cut in (0..data.len()).step_by(37) {
        run(&data[..cut]);
    }
    let mut seed = 0x1234_5678_9abc_def0_u64;
    for _ in 0..200 {
        let mut d = data.clone();
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let bit = (seed % (d.len() as u64 * 8)) as usize;
            d[bit / 8] ^= 1 << (bit % 8);
        }
        run(&d);
    }
}

fn events(pieces: &[&[u8]]) -> Vec<String> {
    let mut r = StreamReader::new();
    let mut out = Vec::new();
    let drain = |r: &mut StreamReader, out: &mut Vec<String>| {
        while let Some(e) = r.next_event().unwrap() {
            out.push(match e {
                Event::Tracks(t) => format!("tracks {}", t.len()),
                Event::Packet(p) => format!("{} {} {:?}", p.dts.0, p.data.len(), p.pos),
                Event::Finding(f) => format!("finding {} {}", f.offset, f.message),
            });
        }
    };
    for p in pieces {
        r.feed(Bytes::copy_from_slice(p));
        drain(&mut r, &mut out);
    }
    r.end();
    drain(&mut r, &mut out);
    r.finish().unwrap();
    out
}

/// Oracle: the file demuxer (one piece) and the sidecar count; the stream reader gives the
/// same events however the input is cut.
#[test]
fn stream_reader_events_do_not_depend_on_cuts() {
    for name in FIXTURES {
        let data = std::fs::read(util::fixture(name)).unwrap();
        let whole = events(&[&data]);
        let want = ffprobe::sidecar(name);
        assert_eq!(whole[0], "tracks 1");
        assert_eq!(whole.len(), 1 + want.packets.len(), "{name}");
        for split in (0..data.len()).step_by(7) {
            assert_eq!(
                events(&[&data[..split], &data[split..]]),
                whole,
                "{name} split at {split}"
            );
        }
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(events(&bytes), whole, "{name} byte by byte");
    }
}

/// Oracle: the file demuxer. On a recording cut inside a frame the incremental reader gives
/// the same packets as the file demuxer: the whole frames, not the cut one (which ffprobe
/// lists, and analyse too). Found by the demux_mp3 fuzz target.
#[test]
fn stream_reader_and_file_demuxer_agree_on_a_cut_frame() {
    let data = std::fs::read(util::fixture("truncated.mp3")).unwrap();
    let mut d = demux::Demuxer::open(Source::from_bytes("x.mp3", data.clone())).unwrap();
    let mut file = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        file.push(format!("{} {} {:?}", p.dts.0, p.data.len(), p.pos));
    }
    let want = ffprobe::sidecar("truncated.mp3");
    assert_eq!(
        file.len(),
        want.packets.len() - 1,
        "the cut frame is left out"
    );
    let stream: Vec<String> = events(&[&data])
        .into_iter()
        .filter(|e| !e.starts_with("tracks") && !e.starts_with("finding"))
        .collect();
    assert_eq!(stream, file);
}

/// Oracle: the file's bytes (an ID3 tag, then the first frame cut short). A first frame cut by
/// the end of the input is no packet for the file demuxer either. Found by the demux_mp3 fuzz
/// target (kept in its corpus).
#[test]
fn a_cut_first_frame_is_no_packet() {
    let data = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/demux_mp3/crash-be0323cee6188beed7a0f786b5f29136e55ba100"),
    )
    .unwrap();
    let mut d = demux::Demuxer::open(Source::from_bytes("x.mp3", data.clone())).unwrap();
    assert!(d.next_packet().unwrap().is_none());
    assert!(d
        .take_findings()
        .iter()
        .any(|f| f.message.contains("last frame truncated")));
    assert!(!events(&[&data])
        .iter()
        .any(|e| !e.starts_with("finding") && !e.starts_with("tracks")));
}

/// Oracle: the sidecar's times. Seeking to 1.0 s lands on the frame at or before 1.0 s (an
/// index key), and the packets after it keep their times.
#[test]
fn index_and_seek() {
    let data = std::fs::read(util::fixture("cbr_id3.mp3")).unwrap();
    let mut d = demux::Demuxer::open(Source::from_bytes("x.mp3", data)).unwrap();
    d.build_index().unwrap();
    let idx = d.meta().index.clone().unwrap();
    assert_eq!(idx.tracks[0].parts.len(), 85);
    assert_eq!(d.meta().tracks[0].kind, TrackKind::Audio);
    let first = d.next_packet().unwrap().unwrap();
    assert_eq!((first.dts.0, first.pos), (0, Some(60)));
    d.seek(mist::dtsc::Time::from_ms(1000)).unwrap();
    let p = d.next_packet().unwrap().unwrap();
    assert!(p.dts.0 <= 48000, "{}", p.dts.0);
    // Frame n starts at 60 + 384 n and has dts 1152 n.
    let n = p.dts.0 / 1152;
    assert_eq!(p.pos, Some(60 + 384 * n as u64));
    let q = d.next_packet().unwrap().unwrap();
    assert_eq!(q.dts.0, p.dts.0 + 1152);
}

/// Oracle: what the fixtures are (generate.sh): no FLV, TS, MP4, ADTS or H.264 fixture
/// scores as MP3, except that containers carrying MP3 frames may score at most the "frames
/// further in" half score, below any container's own certain probe.
#[test]
fn probe_does_not_claim_other_formats() {
    for entry in std::fs::read_dir(util::fixture("")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".json")
            || name.ends_with(".sh")
            || name.ends_with(".md")
            || path.is_dir()
        {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let head = &data[..data.len().min(mist::io::source::PROBE_BYTES)];
        let score = mist::formats::mp3::probe(head);
        if name.ends_with(".mp3") {
            assert!(score >= 80, "{name}: {score}");
        } else if name.contains("mp3") {
            assert!(score <= 45, "{name}: {score}");
        } else {
            assert_eq!(score, 0, "{name}");
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Oracle: the file demuxer. Garbage spliced in at random places: the stream reader
        /// (cut at a random point) yields the same packets as the demuxer, times increase,
        /// and every frame of the source whose bytes were not touched is still found.
        #[test]
        fn garbage_anywhere_keeps_readers_in_step(
            at in 0usize..32_000, junk in proptest::collection::vec(any::<u8>(), 1..400),
            cut in 0usize..33_000,
        ) {
            let mut data = std::fs::read(util::fixture("cbr_id3.mp3")).unwrap();
            let at = at.min(data.len());
            data.splice(at..at, junk.iter().copied());
            let file = frames_of(&data);
            let mut last = -1;
            for (dts, _) in &file {
                prop_assert!(*dts > last);
                last = *dts;
            }
            prop_assert!(file.len() >= 84 - junk.len() / 384 - 1);
            let cut = cut.min(data.len());
            let mut r = StreamReader::new();
            let mut stream = Vec::new();
            for piece in [&data[..cut], &data[cut..]] {
                r.feed(Bytes::copy_from_slice(piece));
                while let Some(e) = r.next_event().unwrap() {
                    if let Event::Packet(p) = e {
                        stream.push((p.dts.0, p.data));
                    }
                }
            }
            r.end();
            while let Some(e) = r.next_event().unwrap() {
                if let Event::Packet(p) = e {
                    stream.push((p.dts.0, p.data));
                }
            }
            prop_assert_eq!(stream, file);
        }
    }
}

#[test]
fn id3v2_tag_passes_through_unless_stripped() {
    // Oracle: the fixture's own bytes. cbr_id3.mp3 starts with a 60-byte ID3v2.4 tag (fixtures
    // README); MP3 -> MP3 writes that tag and then the same frames; --strip-tags writes only
    // the frames, which start with the frame sync.
    use util::{assert_same_bytes, fixture, mist_ok, TestDir};
    let src = std::fs::read(fixture("cbr_id3.mp3")).unwrap();
    let tag_len = 10
        + (((src[6] as usize) << 21)
            | ((src[7] as usize) << 14)
            | ((src[8] as usize) << 7)
            | src[9] as usize);
    assert_eq!(&src[..3], b"ID3");
    let dir = TestDir::new("mp3-id3");
    let kept = dir.join("kept.mp3");
    let bare = dir.join("bare.mp3");
    let s = fixture("cbr_id3.mp3");
    mist_ok(&["convert", s.to_str().unwrap(), kept.to_str().unwrap(), "-q"]);
    mist_ok(&[
        "convert",
        s.to_str().unwrap(),
        bare.to_str().unwrap(),
        "-q",
        "--strip-tags",
    ]);
    let kept = std::fs::read(&kept).unwrap();
    let bare = std::fs::read(&bare).unwrap();
    assert_same_bytes("tag", &kept[..tag_len], &src[..tag_len]);
    assert_same_bytes("frames after the tag", &kept[tag_len..], &bare);
    assert_eq!(bare[0], 0xFF);
    assert_eq!(bare[1] & 0xE0, 0xE0);
}
