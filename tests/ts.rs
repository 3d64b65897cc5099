//! MPEG-TS: listings against ffprobe sidecars, conversions that keep every time, trims,
//! and hostile input. Each test names its oracle.

mod util;

use std::path::Path;

use mist::dtsc::time::rescale_round;
use mist::formats::ts::demux::{Demuxer, Options};
use mist::formats::Demuxer as _;
use mist::io::Source;
use serde_json::Value;
use util::{analyse_json, fixture, mist, mist_ok, run, TestDir};

const FIXTURES: &[&str] = &[
    "h264_aac.ts",
    "two_audio.ts",
    "h264_mp3.ts",
    "wrap33.ts",
    "large_start.ts",
    "audio_only.ts",
    "h264_aac_subms.ts",
];

/// Fixtures that are not clean recordings (a PMT change, an encoder restart, a cut): their
/// listings equal ffprobe's too; converting them is tested in tests/discontinuity.rs and
/// tests/damage.rs.
const SPLICED: &[&str] = &["pmt_change.ts", "jump_back.ts", "truncated.ts"];

const WRAP: i64 = 1 << 33;

fn sidecar(name: &str) -> Value {
    let p = fixture(&format!("{name}.ffprobe.json"));
    serde_json::from_slice(&std::fs::read(p).expect("read sidecar")).expect("sidecar is JSON")
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().expect("integer"),
        Value::String(s) => s.parse().expect("integer string"),
        other => panic!("not an integer: {other}"),
    }
}

/// Rows `(dts, pts, size, key, pos)` of one stream of an ffprobe sidecar.
fn ffprobe_rows(sc: &Value, stream: usize) -> Vec<(i64, i64, i64, bool, Option<i64>)> {
    sc["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .filter(|p| p["stream_index"].as_u64() == Some(stream as u64))
        .map(|p| {
            (
                int(&p["dts"]),
                int(&p["pts"]),
                int(&p["size"]),
                p["flags"].as_str().unwrap_or("").contains('K'),
                p.get("pos").map(int),
            )
        })
        .collect()
}

/// Rows `(dts, pts, size, key, offset)` of one track of a mist listing.
fn mist_rows(j: &Value, track: u64) -> Vec<(i64, i64, i64, bool, Option<i64>)> {
    j["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .filter(|p| p["track"].as_u64() == Some(track))
        .map(|p| {
            (
                int(&p["dts"]),
                int(&p["pts"]),
                int(&p["size"]),
                p["key"].as_bool().expect("key"),
                p.get("offset").map(int),
            )
        })
        .collect()
}

fn track_ids(j: &Value) -> Vec<u64> {
    j["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .map(|t| t["id"].as_u64().expect("id"))
        .collect()
}

/// Oracle: ffprobe -show_packets (the sidecars). Streams map to tracks by order; track ids are
/// the PIDs ffprobe prints as `id`. Times match exactly, except that near the 33-bit wrap
/// FFmpeg's wrap reference subtracts 2^33 from everything before the wrap while mist keeps the
/// source's times and unwraps forward: there, every time differs by exactly 2^33.
#[test]
fn listings_equal_ffprobe_packets() {
    for name in FIXTURES.iter().chain(SPLICED) {
        let sc = sidecar(name);
        let j = analyse_json(&fixture(name), &["--detail", "1"]);
        let ids = track_ids(&j);
        let streams = sc["streams"].as_array().expect("streams");
        assert_eq!(ids.len(), streams.len(), "{name}: track count");
        let mut shift = None;
        for (i, (id, s)) in ids.iter().zip(streams).enumerate() {
            let pid =
                i64::from_str_radix(s["id"].as_str().expect("id").trim_start_matches("0x"), 16)
                    .expect("hex pid");
            assert_eq!(*id as i64, pid, "{name}: track {i} id is the PID");
            let want = ffprobe_rows(&sc, i);
            let got = mist_rows(&j, *id);
            assert_eq!(got.len(), want.len(), "{name} stream {i}: packet count");
            for (n, (g, w)) in got.iter().zip(&want).enumerate() {
                let d = g.0 - w.0;
                let k = *shift.get_or_insert(d);
                assert!(k == 0 || k == WRAP, "{name}: shift {k}");
                assert_eq!(
                    (g.0 - k, g.1 - k),
                    (w.0, w.1),
                    "{name} stream {i} packet {n}: dts/pts"
                );
                assert_eq!(
                    (g.2, g.3),
                    (w.2, w.3),
                    "{name} stream {i} packet {n}: size/key"
                );
                if let Some(pos) = w.4 {
                    assert_eq!(g.4, Some(pos), "{name} stream {i} packet {n}: offset");
                }
            }
            // Times keep increasing across the wrap (the restart jumps back: analyse shows
            // the file's own times).
            assert!(
                *name == "jump_back.ts" || got.windows(2).all(|w| w[1].0 > w[0].0),
                "{name}: dts increasing"
            );
        }
        if *name == "wrap33.ts" {
            assert_eq!(shift, Some(WRAP), "wrap33.ts crosses 2^33 and is unwrapped");
        }
    }
}

/// Oracle: the sidecars' streams (codec_name, language tags, sample_rate, channels).
#[test]
fn tracks_match_ffprobe_streams() {
    for name in FIXTURES {
        let sc = sidecar(name);
        let j = analyse_json(&fixture(name), &[]);
        for (t, s) in j["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .zip(sc["streams"].as_array().unwrap())
        {
            assert_eq!(t["codec"], s["codec_name"], "{name}");
            assert_eq!(t["type"], s["codec_type"], "{name}");
            assert_eq!(
                t.get("lang").and_then(Value::as_str),
                s["tags"]["language"].as_str(),
                "{name}"
            );
            if let Some(rate) = s.get("sample_rate") {
                assert_eq!(t["rate"].as_i64(), Some(int(rate)), "{name}");
                assert_eq!(t["channels"], s["channels"], "{name}");
            }
        }
    }
}

fn convert(input: &Path, output: &Path, extra: &[&str]) {
    let mut c = mist();
    c.args([
        "convert",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "-f",
        "-q",
    ]);
    c.args(extra);
    run(&mut c, true);
}

fn validate_clean(path: &Path) {
    let j = analyse_json(path, &["--validate"]);
    let f = j["findings"].as_array().expect("findings");
    assert!(f.is_empty(), "{}: findings {f:#?}", path.display());
}

/// Oracle: the input's own listing (round trip). TS → TS keeps every PTS/DTS and keyframe
/// flag, and the output validates clean (CRC, continuity, PCR interval, PES lengths).
#[test]
fn ts_to_ts_keeps_every_time_and_validates() {
    let dir = TestDir::new("ts_to_ts");
    for name in FIXTURES {
        let out = dir.join(name);
        convert(&fixture(name), &out, &[]);
        validate_clean(&out);
        let a = analyse_json(&fixture(name), &["--detail", "1"]);
        let b = analyse_json(&out, &["--detail", "1"]);
        assert_eq!(track_ids(&a), track_ids(&b), "{name}: PIDs kept");
        for id in track_ids(&a) {
            let times = |j: &Value| -> Vec<(i64, i64, bool)> {
                mist_rows(j, id).iter().map(|r| (r.0, r.1, r.3)).collect()
            };
            assert_eq!(times(&a), times(&b), "{name} track {id}");
        }
        // Audio frames keep their bytes (ADTS frames re-packed, not changed).
        for id in track_ids(&a).iter().skip(1) {
            let sizes = |j: &Value| -> Vec<i64> { mist_rows(j, *id).iter().map(|r| r.2).collect() };
            assert_eq!(sizes(&a), sizes(&b), "{name} track {id} sizes");
        }
    }
}

/// Oracle: ffprobe's times in the sidecar, rounded to ms by the rule DESIGN.md §2 gives
/// (nearest, ties away from zero) for DTS and PTS separately; DTSC → TS is exact (× 90).
#[test]
fn ts_dtsc_round_trip_follows_the_ms_rounding_rule() {
    let dir = TestDir::new("ts_dtsc");
    let name = "two_audio.ts";
    let dtsc = dir.join("a.dtsc");
    convert(&fixture(name), &dtsc, &[]);
    let back = dir.join("b.ts");
    convert(&dtsc, &back, &[]);
    validate_clean(&back);
    let sc = sidecar(name);
    let d = analyse_json(&dtsc, &["--detail", "1"]);
    let t = analyse_json(&back, &["--detail", "1"]);
    for (i, (did, tid)) in track_ids(&d).iter().zip(track_ids(&t)).enumerate() {
        let want: Vec<(i64, i64)> = ffprobe_rows(&sc, i)
            .iter()
            .map(|r| (rescale_round(r.0, 1, 90), rescale_round(r.1, 1, 90)))
            .collect();
        let got: Vec<(i64, i64)> = mist_rows(&d, *did).iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(got, want, "stream {i} in DTSC");
        let ts: Vec<(i64, i64)> = mist_rows(&t, tid).iter().map(|r| (r.0, r.1)).collect();
        let ms90: Vec<(i64, i64)> = want.iter().map(|(a, b)| (a * 90, b * 90)).collect();
        if i == 0 {
            assert_eq!(ts, ms90, "video back in TS");
        } else {
            // Several audio frames share a PES and its one PTS; readers (FFmpeg too) time the
            // later ones by sample count, so they come back sample-exact, within a
            // millisecond of the rounded DTSC times, never drifting.
            assert_eq!(ts.len(), ms90.len());
            for (g, w) in ts.iter().zip(&ms90) {
                assert!((g.0 - w.0).abs() <= 90, "stream {i}: {g:?} vs {w:?}");
            }
        }
    }
}

/// Earliest dts of a sidecar (unwrapped: ffprobe shows pre-wrap times minus 2^33).
fn origin(sc: &Value, unwrap: bool) -> i64 {
    sc["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["dts"].as_i64())
        .map(|d| if unwrap && d < 0 { d + WRAP } else { d })
        .min()
        .unwrap()
}

/// `--start`/`--end` take seconds from the input's start: the argument for an absolute
/// 90 kHz time (microsecond precision, exact for the values used here).
fn from_start(abs: i64, origin: i64) -> String {
    let us = (abs - origin) * 100 / 9;
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// Oracle: the sidecar, filtered by the trim rule (start at the video key at or before
/// --start, every packet from that DTS on, and before --end; both counted from the input's
/// earliest dts).
#[test]
fn start_end_trims_work_on_ts_input() {
    let dir = TestDir::new("ts_trim");
    let out = dir.join("cut.ts");
    // The file's video starts at 1.4 s with keys every second: 2.5 s absolute starts at 2.4 s.
    let o = origin(&sidecar("h264_aac.ts"), false);
    convert(
        &fixture("h264_aac.ts"),
        &out,
        &[
            "--start",
            &from_start(225_000, o),
            "--end",
            &from_start(270_000, o),
        ],
    );
    validate_clean(&out);
    let sc = sidecar("h264_aac.ts");
    let j = analyse_json(&out, &["--detail", "1"]);
    for (i, id) in track_ids(&j).iter().enumerate() {
        let want: Vec<(i64, i64)> = ffprobe_rows(&sc, i)
            .iter()
            .filter(|r| r.0 >= 216_000 && r.0 < 270_000)
            .map(|r| (r.0, r.1))
            .collect();
        let got: Vec<(i64, i64)> = mist_rows(&j, *id).iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(got, want, "track {id}");
    }
    assert!(mist_rows(&j, 256)[0].3, "starts on a keyframe");
}

/// Oracle: the unwrapped times of wrap33.ts (sidecar + 2^33 after the wrap); seeking across
/// the wrap uses the index built from unwrapped times.
#[test]
fn trims_work_across_the_33_bit_wrap() {
    let dir = TestDir::new("ts_trim_wrap");
    let out = dir.join("cut.ts");
    // Video DTS runs from 2^33 - 98792 ticks; the key 1 s later is past the wrap.
    let start_ticks = WRAP - 98_792 + 90_000;
    let start = from_start(start_ticks, origin(&sidecar("wrap33.ts"), true));
    convert(&fixture("wrap33.ts"), &out, &["--start", &start]);
    let j = analyse_json(&out, &["--detail", "1"]);
    let v = mist_rows(&j, 256);
    assert_eq!(v.len(), 25);
    assert_eq!(v[0].0, start_ticks, "first video dts");
    assert!(v[0].3);
}

/// Oracle: the position of the garbage we put in front; the listing behind it is unchanged.
#[test]
fn garbage_before_the_first_sync_byte_is_skipped_and_reported() {
    let dir = TestDir::new("ts_garbage");
    let mut data = b"this is not a transport stream; ".repeat(5);
    let garbage = data.len() as i64;
    data.extend(std::fs::read(fixture("h264_aac.ts")).unwrap());
    let p = dir.join("g.ts");
    std::fs::write(&p, &data).unwrap();
    let out = run(
        mist().args([
            "analyse",
            p.to_str().unwrap(),
            "--validate",
            "--json",
            "--detail",
            "1",
        ]),
        true,
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = j["findings"].as_array().unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(int(&f[0]["offset"]), 0);
    assert!(f[0]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("{garbage} bytes before")));
    let clean = analyse_json(&fixture("h264_aac.ts"), &["--detail", "1"]);
    let shift =
        |r: &(i64, i64, i64, bool, Option<i64>)| (r.0, r.1, r.2, r.3, r.4.map(|o| o + garbage));
    assert_eq!(
        mist_rows(&j, 256),
        mist_rows(&clean, 256).iter().map(shift).collect::<Vec<_>>()
    );
}

/// Oracle: which packet we damaged. A bad continuity counter in the middle of one video PES
/// loses that frame only; every other frame of every track is still read.
#[test]
fn a_corrupt_packet_loses_only_its_frame() {
    let dir = TestDir::new("ts_corrupt");
    let mut data = std::fs::read(fixture("h264_aac.ts")).unwrap();
    // The 3rd packet of the video PES at byte 564 (ffprobe pos of video packet 0): bump its CC.
    let at = 564 + 2 * 188;
    assert_eq!(data[at], 0x47);
    assert_eq!(
        u16::from(data[at + 1] & 0x1F) << 8 | u16::from(data[at + 2]),
        0x100
    );
    data[at + 3] = (data[at + 3] & 0xF0) | ((data[at + 3] + 5) & 0x0F);
    let p = dir.join("c.ts");
    std::fs::write(&p, &data).unwrap();
    let out = run(
        mist().args([
            "analyse",
            p.to_str().unwrap(),
            "--validate",
            "--json",
            "--detail",
            "1",
        ]),
        false,
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = j["findings"].as_array().unwrap();
    assert!(
        f.iter().any(|x| int(&x["offset"]) == at as i64
            && x["message"].as_str().unwrap().contains("continuity")),
        "{f:#?}"
    );
    assert_eq!(mist_rows(&j, 256).len(), 49);
    assert_eq!(mist_rows(&j, 257).len(), 95);
    // Converting refuses the damaged file by default, naming the lost packets' offset ...
    let out_ts = dir.join("o.ts");
    let (code, err) = util::mist_err(&[
        "convert",
        p.to_str().unwrap(),
        out_ts.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--salvage") && err.contains(&format!("at byte {at}")),
        "{err}"
    );
    assert!(!out_ts.exists());
    // ... and --salvage keeps every other frame.
    convert(&p, &out_ts, &["--salvage"]);
    let o = analyse_json(&out_ts, &["--detail", "1"]);
    assert_eq!(mist_rows(&o, 256).len(), 49);
}

/// Oracle: the cut position. A file cut inside a packet reports the truncated packet.
#[test]
fn truncated_last_packet_is_reported() {
    let dir = TestDir::new("ts_trunc");
    let data = std::fs::read(fixture("h264_aac.ts")).unwrap();
    let cut = 188 * 200 + 77;
    let p = dir.join("t.ts");
    std::fs::write(&p, &data[..cut]).unwrap();
    let out = run(
        mist().args(["analyse", p.to_str().unwrap(), "--validate", "--json"]),
        false,
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = j["findings"].as_array().unwrap();
    assert!(
        f.iter().any(|x| int(&x["offset"]) == 188 * 200
            && x["message"].as_str().unwrap().contains("truncated packet")),
        "{f:#?}"
    );
}

fn drain(data: Vec<u8>) -> Result<usize, u64> {
    let len = data.len() as u64;
    let mut d = match Demuxer::open(Source::from_bytes("x.ts", data), Options::default()) {
        Ok(d) => d,
        Err(e) => {
            assert!(e.offset <= len, "error offset {} past {len}", e.offset);
            return Err(e.offset);
        }
    };
    let mut n = 0;
    loop {
        match d.next_packet() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return Ok(n),
            Err(e) => {
                assert!(e.offset <= len);
                return Err(e.offset);
            }
        }
    }
}

/// Oracle: none needed: hostile input must give an error or fewer packets, never a panic.
#[test]
fn truncation_at_a_stride_and_bit_flips_never_panic() {
    let data = std::fs::read(fixture("two_audio.ts")).unwrap();
    let full = drain(data.clone()).expect("fixture reads");
    for cut in (0..data.len()).step_by(97) {
        if let Ok(n) = drain(data[..cut].to_vec()) {
            assert!(n <= full);
        }
    }
    // Fixed-seed xorshift flips.
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200 {
        let mut d = data.clone();
        for _ in 0..8 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let i = (s % d.len() as u64) as usize;
            d[i] ^= 1 << ((s >> 32) % 8);
        }
        let _ = drain(d);
    }
    // And analyse on a flipped file gives findings, not a crash.
    let dir = TestDir::new("ts_flip");
    let mut d = data.clone();
    for i in (1000..d.len()).step_by(3001) {
        d[i] ^= 0x55;
    }
    let p = dir.join("f.ts");
    std::fs::write(&p, &d).unwrap();
    let out = mist()
        .args(["analyse", p.to_str().unwrap(), "--validate"])
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
}

/// Oracle: the PMT of the fixture (ffprobe: eng on 0x101, fra on 0x102). `--pid` keeps one PID.
#[test]
fn detail_output_pretty_prints_tables_and_filters_by_pid() {
    let p = fixture("two_audio.ts");
    let s = mist_ok(&["analyse", p.to_str().unwrap(), "--detail", "1"]);
    assert!(s.contains("PAT at byte 188"), "{s}");
    assert!(
        s.contains("stream PID 0x0101: type 0x0f (AAC (ADTS)) language eng"),
        "{s}"
    );
    assert!(
        s.contains("stream PID 0x0102: type 0x0f (AAC (ADTS)) language fra"),
        "{s}"
    );
    let s = mist_ok(&[
        "analyse",
        p.to_str().unwrap(),
        "--detail",
        "2",
        "--pid",
        "0x102",
    ]);
    assert!(s.contains("TS packet at byte"));
    assert!(!s.contains("PID 0x0100 cc"), "other PIDs filtered");
    assert!(!s.contains("packet track 256"), "other tracks filtered");
    assert!(s.contains("packet track 258"));
}

/// Oracle: H.222.0's M2TS layout (4-byte prefix + 188-byte packet) and the source listing.
#[test]
fn m2ts_output_by_extension() {
    let dir = TestDir::new("ts_m2ts");
    let out = dir.join("x.m2ts");
    convert(&fixture("h264_mp3.ts"), &out, &[]);
    let data = std::fs::read(&out).unwrap();
    assert_eq!(data.len() % 192, 0);
    assert!(data.chunks(192).all(|c| c[4] == 0x47));
    validate_clean(&out);
    let a = analyse_json(&fixture("h264_mp3.ts"), &["--detail", "1"]);
    let b = analyse_json(&out, &["--detail", "1"]);
    for id in [256, 257] {
        let t = |j: &Value| {
            mist_rows(j, id)
                .iter()
                .map(|r| (r.0, r.1, r.2))
                .collect::<Vec<_>>()
        };
        assert_eq!(t(&a).len(), t(&b).len());
        if id == 257 {
            assert_eq!(t(&a), t(&b));
        }
    }
}

fn reader_events(pieces: &[&[u8]]) -> Vec<String> {
    let mut r = mist::formats::ts::reader::Reader::new();
    let mut out = Vec::new();
    for p in pieces {
        r.feed(p);
        while let Some(e) = r.next_event() {
            out.push(format!("{e:?}"));
        }
    }
    r.finish();
    while let Some(e) = r.next_event() {
        out.push(format!("{e:?}"));
    }
    out
}

/// Oracle: the reader fed the whole input at once. Any two-piece cut of a damaged stream
/// (garbage in front, lost sync in the middle, flipped bytes) gives the same events.
#[test]
fn reader_events_do_not_depend_on_chunking() {
    let mut data = vec![0x47u8; 300];
    data.extend(std::fs::read(fixture("two_audio.ts")).unwrap());
    let mid = data.len() / 2;
    data.splice(mid..mid, b"junk in the middle".iter().copied());
    for i in (5000..data.len()).step_by(7919) {
        data[i] ^= 0xA5;
    }
    let whole = reader_events(&[&data]);
    assert!(
        whole.iter().any(|e| e.contains("lost sync")),
        "damage is seen"
    );
    for cut in (0..data.len())
        .step_by(1733)
        .chain([1, 188, 300, mid, mid + 5])
    {
        assert_eq!(
            reader_events(&[&data[..cut], &data[cut..]]),
            whole,
            "cut at {cut}"
        );
    }
}

/// Oracle: the file demuxer on the same bytes. The streaming reader (live inputs) announces
/// the same tracks and yields the same packets, however the input is cut.
#[test]
fn stream_reader_matches_the_file_demuxer() {
    use mist::formats::{Event, Reader as _};
    let data = std::fs::read(fixture("two_audio.ts")).unwrap();
    let mut d =
        Demuxer::open(Source::from_bytes("a.ts", data.clone()), Options::default()).unwrap();
    let want_tracks = d.meta().tracks.clone();
    let mut want = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        want.push(p);
    }
    for chunk in [188, 1000, 4096, data.len()] {
        let mut r = mist::formats::ts::demux::StreamReader::default();
        let mut tracks = None;
        let mut got = Vec::new();
        let mut take = |r: &mut mist::formats::ts::demux::StreamReader| {
            while let Some(e) = r.next_event().unwrap() {
                match e {
                    Event::Tracks(t) => tracks = Some(t),
                    Event::Packet(p) => got.push(p),
                    Event::Finding(f) => panic!("finding {f:?}"),
                }
            }
        };
        for c in data.chunks(chunk) {
            r.feed(bytes::Bytes::copy_from_slice(c));
            take(&mut r);
        }
        r.finish().unwrap();
        take(&mut r);
        assert_eq!(tracks.as_ref(), Some(&want_tracks), "chunk {chunk}");
        assert_eq!(got, want, "chunk {chunk}");
    }
}

/// Oracle: the packets the demuxer yields. The index it builds (which faststart MP4 output
/// uses) records those packets' sizes, times and keyframes, not the container's.
#[test]
fn index_describes_the_packets_the_demuxer_yields() {
    let data = std::fs::read(fixture("two_audio.ts")).unwrap();
    let mut d = Demuxer::open(Source::from_bytes("a.ts", data), Options::default()).unwrap();
    d.build_index().unwrap();
    let meta = d.meta().clone();
    let index = meta.index.clone().expect("index");
    let mut per_track: Vec<Vec<(i64, u32, bool)>> = vec![Vec::new(); meta.tracks.len()];
    while let Some(p) = d.next_packet().unwrap() {
        let i = meta.position(p.track).unwrap();
        per_track[i].push((p.dts.0, p.data.len() as u32, p.keyframe));
    }
    for (i, ti) in index.tracks.iter().enumerate() {
        let times = ti.part_times();
        let sizes: Vec<u32> = ti.parts.iter().map(|p| p.size).collect();
        let want_sizes: Vec<u32> = per_track[i].iter().map(|p| p.1).collect();
        assert_eq!(sizes, want_sizes, "track {i} sizes");
        let want_times: Vec<i64> = per_track[i].iter().map(|p| p.0).collect();
        assert_eq!(
            times.iter().map(|t| t.0).collect::<Vec<_>>(),
            want_times,
            "track {i} times"
        );
        if i == 0 {
            let keys: Vec<i64> = per_track[i].iter().filter(|p| p.2).map(|p| p.0).collect();
            assert_eq!(ti.keys.iter().map(|k| k.time.0).collect::<Vec<_>>(), keys);
        }
    }
}
