//! The damage policy, the same for every format (FLV, TS, MP4, MP3, AAC, H.264, DTSC): a
//! truncated file and a file with a corrupted region in the middle are refused by default
//! (exit 1, one line naming the file, the offset and the `--salvage` hint, nothing left
//! behind); `--salvage` writes everything readable with one warning line per damaged region;
//! plain `analyse` ends its summary with the count of errors.
//!
//! Oracle: the clean fixture's packet listing (offsets, in file order; equal to ffprobe's,
//! which tests/sidecars.rs checks) and the damaged byte range. A packet survives when the
//! bytes of its container unit are untouched; every other packet is lost. With the `interop`
//! feature ffprobe judges the salvaged output (its packet count must be the expected one) and
//! the damaged input (ffmpeg keeps the frames that lost bytes, as corrupt packets, so its
//! count is at least ours and at most ours plus the frames the damage touched).

mod util;

use std::ops::Range;
use std::path::{Path, PathBuf};

use util::{fixture, mist, TestDir};

/// How a file is damaged.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Cut at this offset.
    Cut(usize),
    /// These bytes overwritten with fixed-seed noise.
    Noise(usize, usize),
}

/// How the bytes of one packet's container unit are found.
#[derive(Clone, Copy, Debug)]
enum Units {
    /// Units follow each other: a packet's unit runs to the next packet's.
    Sequential,
    /// MPEG-TS: the 188-byte packets of the PES the packet's frame is in.
    Ts,
    /// MP4: the sample's own bytes (`offset`, `size`).
    Samples,
    /// Fragmented MP4 whose moof at the damage is lost: the samples of its fragment.
    Fragment,
}

struct Case {
    label: &'static str,
    clean: PathBuf,
    out_ext: &'static str,
    extra: &'static [&'static str],
    units: Units,
    /// Where the strict error's offset may lie relative to the damage: at the damage (the
    /// unit it hits), or anywhere before it (MP4 notices a cut at the box that overruns).
    offset_at_damage: bool,
    /// ffprobe reads the input format (not DTSC).
    ffprobe_reads_input: bool,
}

/// (offset, size) of every packet of a file in file order, from `mist analyse`.
fn listing(path: &Path) -> Vec<(u64, u64)> {
    let j = util::analyse_json(path, &["--detail", "1"]);
    let mut v: Vec<(u64, u64)> = j["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .map(|p| (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap()))
        .collect();
    v.sort();
    v
}

fn noise(d: &mut [u8], r: Range<usize>) {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ r.start as u64;
    for b in &mut d[r] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
}

/// TS: offsets of the transport packets of the PES starting at each PES start offset. A PES
/// without a length (PES_packet_length 0, video) also takes the next packet of its PID: when
/// that one is lost, the demuxer cannot tell whether it was the PES's end or the next one's
/// start, and drops the PES rather than write a frame that may be cut.
fn ts_pes_units(data: &[u8]) -> std::collections::HashMap<u64, Vec<u64>> {
    // PID -> (start of its open PES, that PES has no length).
    let mut open: std::collections::HashMap<u16, (u64, bool)> = Default::default();
    let mut units: std::collections::HashMap<u64, Vec<u64>> = Default::default();
    for (i, p) in data.chunks_exact(188).enumerate() {
        let at = (i * 188) as u64;
        let pid = u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]);
        if p[1] & 0x40 != 0 {
            if let Some((start, true)) = open.get(&pid) {
                units.entry(*start).or_default().push(at);
            }
            let payload = if p[3] & 0x20 != 0 {
                5 + usize::from(p[4])
            } else {
                4
            };
            let unbounded = p.get(payload + 4..payload + 6) == Some(&[0, 0]);
            open.insert(pid, (at, unbounded));
        }
        if let Some((start, _)) = open.get(&pid) {
            units.entry(*start).or_default().push(at);
        }
    }
    units
}

/// How many packets of `clean` survive `damage`.
fn expected(clean: &[u8], listing: &[(u64, u64)], damage: Damage, units: Units) -> usize {
    let (a, b) = match damage {
        Damage::Cut(at) => (at as u64, clean.len() as u64),
        Damage::Noise(at, len) => (at as u64, (at + len) as u64),
    };
    let hit = |s: u64, e: u64| s < b && a < e;
    let ts = matches!(units, Units::Ts).then(|| ts_pes_units(clean));
    // The fragment whose moof the noise hits: its samples lie between it and the next moof.
    let fragment = matches!(units, Units::Fragment).then(|| {
        let next_moof = clean
            .windows(4)
            .enumerate()
            .skip(b as usize)
            .find(|(_, w)| w == b"moof")
            .map_or(clean.len() as u64, |(i, _)| i as u64 - 4);
        (a, next_moof)
    });
    listing
        .iter()
        .enumerate()
        .filter(|&(i, &(off, size))| {
            let lost = match units {
                Units::Sequential => {
                    let end = listing
                        .get(i + 1)
                        .map_or(clean.len() as u64, |n| n.0.max(off + 1));
                    hit(off, end)
                }
                Units::Samples => hit(off, off + size),
                Units::Ts => ts.as_ref().unwrap()[&off].iter().any(|&p| hit(p, p + 188)),
                Units::Fragment => {
                    let (s, e) = fragment.unwrap();
                    (s..e).contains(&off) || hit(off, off + size)
                }
            };
            !lost
        })
        .count()
}

fn first_lost_unit(listing: &[(u64, u64)], a: u64) -> u64 {
    // The unit the damage starts in: the last packet offset at or before it.
    listing
        .iter()
        .map(|p| p.0)
        .filter(|&o| o <= a)
        .max()
        .unwrap_or(0)
}

/// The offset in a one-line error or warning: the number after its last "at byte ".
fn offset_in(line: &str) -> u64 {
    line.rsplit("at byte ")
        .next()
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {line:?}"))
}

fn check(case: &Case, damage: Damage) {
    let what = format!("{} {damage:?}", case.label);
    let dir = TestDir::new(&format!("damage-{}", case.label));
    let clean = std::fs::read(&case.clean).unwrap();
    let mut data = clean.clone();
    match damage {
        Damage::Cut(at) => data.truncate(at),
        Damage::Noise(at, len) => noise(&mut data, at..at + len),
    }
    let ext = case
        .clean
        .extension()
        .and_then(|e| e.to_str())
        .unwrap()
        .to_string();
    let input = dir.join(&format!("in.{ext}"));
    std::fs::write(&input, &data).unwrap();
    let list = listing(&case.clean);
    let want = expected(&clean, &list, damage, case.units);
    assert!(
        want > 0 && want < list.len(),
        "{what}: damage must cost some packets"
    );
    let (a, b) = match damage {
        Damage::Cut(at) => (at as u64, data.len() as u64),
        Damage::Noise(at, len) => (at as u64, (at + len) as u64),
    };
    let out = dir.join(&format!("out.{}", case.out_ext));
    let args = |salvage: bool| {
        let mut v = vec![
            "convert".to_string(),
            input.to_str().unwrap().to_string(),
            out.to_str().unwrap().to_string(),
            "-q".to_string(),
        ];
        v.extend(case.extra.iter().map(|s| s.to_string()));
        if salvage {
            v.push("--salvage".into());
        }
        v
    };

    // Default: refused, one line, the offset, the hint, nothing left behind.
    let o = mist().args(args(false)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{what}: {err}");
    assert_eq!(err.lines().count(), 1, "{what}: {err}");
    assert!(
        err.contains("in.") && err.contains("--salvage"),
        "{what}: {err}"
    );
    let at = offset_in(&err);
    assert!(at <= b, "{what}: offset {at} after the damage: {err}");
    if case.offset_at_damage {
        assert!(
            at >= first_lost_unit(&list, a).saturating_sub(4),
            "{what}: offset {at} before the damaged unit: {err}"
        );
    }
    assert_eq!(
        dir.files(),
        vec![format!("in.{ext}")],
        "{what}: output left"
    );

    // --salvage: exit 0, one warning for the one damaged region, what is readable written.
    let o = mist().args(args(true)).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{what}: {err}");
    let damaged: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("damaged at byte"))
        .collect();
    assert_eq!(damaged.len(), 1, "{what}: one region, one line: {err}");
    assert!(
        err.lines().all(|l| l.starts_with("mist: warning: ")),
        "{what}: {err}"
    );
    assert!(
        err.contains(&format!("salvaged {want} packets")),
        "{what}: want {want}: {err}"
    );
    let got = listing(&out).len();
    assert_eq!(got, want, "{what}: packets written: {err}");
    #[cfg(feature = "interop")]
    {
        util::require("ffprobe");
        let count = |p: &Path| util::ffprobe::run(p).packets.len();
        assert_eq!(count(&out), want, "{what}: ffprobe on the salvaged output");
        // ffmpeg keeps the frames that lost bytes (as corrupt packets) and, after some damage,
        // fewer of the rest (its FLV reader does not resync): it never keeps an untouched
        // frame that mist loses.
        if case.ffprobe_reads_input {
            let theirs = count(&input);
            let touched = list.len() - want;
            assert!(
                theirs <= want + touched,
                "{what}: ffprobe keeps {theirs} of the damaged input, mist {want} ({touched} touched)"
            );
        }
    }

    // Plain analyse: the summary, then the count.
    let o = mist()
        .args(["analyse", input.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.contains("error") && last.contains("while reading") && !last.starts_with("0 errors"),
        "{what}: {text}"
    );
}

/// A damage that starts `into` bytes inside the unit of the packet at `frac` of the file.
fn at_packet(path: &Path, frac: f64, into: u64) -> usize {
    let l = listing(path);
    let i = ((l.len() as f64) * frac) as usize;
    (l[i].0 + into) as usize
}

fn case(
    label: &'static str,
    clean: PathBuf,
    out_ext: &'static str,
    extra: &'static [&'static str],
    units: Units,
) -> Case {
    Case {
        label,
        clean,
        out_ext,
        extra,
        units,
        offset_at_damage: true,
        ffprobe_reads_input: true,
    }
}

#[test]
fn flv() {
    let c = case(
        "flv",
        fixture("h264_aac.flv"),
        "mp4",
        &[],
        Units::Sequential,
    );
    check(&c, Damage::Cut(at_packet(&c.clean, 0.7, 30)));
    // Noise from a tag header on: the tag and the ones the noise covers are lost.
    check(&c, Damage::Noise(at_packet(&c.clean, 0.5, 0), 700));
}

#[test]
fn ts() {
    let c = case("ts", fixture("h264_aac.ts"), "ts", &[], Units::Ts);
    check(&c, Damage::Cut(188 * 240 + 77));
    // Noise from a transport packet's sync byte on: sync is lost until the next good packet.
    // (Noise inside a payload, headers intact, is invisible to the container: the frame is
    // kept, as ffmpeg keeps it.)
    check(&c, Damage::Noise(188 * 150, 700));
}

#[test]
fn mp4() {
    let mut c = case("mp4", fixture("faststart.mp4"), "mp4", &[], Units::Samples);
    // A cut recording is noticed where the mdat box overruns the file.
    c.offset_at_damage = false;
    check(&c, Damage::Cut(at_packet(&c.clean, 0.6, 10)));
}

#[test]
fn fragmented_mp4() {
    let mut c = case(
        "fmp4",
        fixture("frag.mp4"),
        "mp4",
        &["--to", "fmp4"],
        Units::Samples,
    );
    c.offset_at_damage = false;
    check(&c, Damage::Cut(at_packet(&c.clean, 0.8, 10)));
    // Noise over the first fragment's moof: its samples cannot be found; reading goes on at
    // the next moof.
    let data = std::fs::read(&c.clean).unwrap();
    let moof = data.windows(4).position(|w| w == b"moof").unwrap() - 4;
    c.units = Units::Fragment;
    c.offset_at_damage = true;
    check(&c, Damage::Noise(moof + 8, 300));
}

#[test]
fn mp3() {
    let c = case("mp3", fixture("cbr_id3.mp3"), "mp3", &[], Units::Sequential);
    check(&c, Damage::Cut(at_packet(&c.clean, 0.6, 100)));
    check(&c, Damage::Noise(at_packet(&c.clean, 0.4, 0), 700));
}

#[test]
fn aac() {
    let c = case("aac", fixture("aac_lc.aac"), "aac", &[], Units::Sequential);
    check(&c, Damage::Cut(at_packet(&c.clean, 0.6, 40)));
    check(&c, Damage::Noise(at_packet(&c.clean, 0.4, 0), 500));
}

#[test]
fn h264() {
    let c = case(
        "h264",
        fixture("h264_bframes.h264"),
        "h264",
        &[],
        Units::Sequential,
    );
    // Annex B shows a cut only where a header is cut: here, inside a slice header (12 bytes
    // into an access unit: its AUD, a start code, the NAL header and one byte).
    check(&c, Damage::Cut(at_packet(&c.clean, 0.8, 12)));
    // Noise over a reference picture: the next picture's frame_num shows it is missing.
    let l = listing(&c.clean);
    let j = util::analyse_json(&c.clean, &["--detail", "1"]);
    let keys: std::collections::HashSet<u64> = j["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["key"] == true)
        .map(|p| p["offset"].as_u64().unwrap())
        .collect();
    // A P picture: the largest non-key access unit of the second GOP (B pictures are small).
    let (i, &(off, _)) = l
        .iter()
        .enumerate()
        .filter(|(i, p)| *i > 26 && *i + 1 < l.len() && !keys.contains(&p.0))
        .max_by_key(|(_, p)| p.1)
        .unwrap();
    let next = l[i + 1].0 as usize;
    check(&c, Damage::Noise(off as usize + 2, next - off as usize - 2));
}

#[test]
fn dtsc() {
    let dir = TestDir::new("damage-dtsc-src");
    let clean = dir.join("clean.dtsc");
    util::mist_ok(&[
        "convert",
        fixture("h264_aac.flv").to_str().unwrap(),
        clean.to_str().unwrap(),
        "-q",
    ]);
    // Without its index beside it, so the damaged copies are read as they are.
    std::fs::remove_file(dir.join("clean.dtsc.dtsh")).unwrap();
    let mut c = case("dtsc", clean, "flv", &[], Units::Sequential);
    c.ffprobe_reads_input = false;
    check(&c, Damage::Cut(at_packet(&c.clean, 0.7, 30)));
    check(&c, Damage::Noise(at_packet(&c.clean, 0.5, 0), 300));
}

/// An ADTS frame of two raw data blocks that cannot be told apart would be written to ADTS
/// as one block, 1024 samples short: time lost, so it is damage like any other. Oracle:
/// fdk-aac's verdict file for the fixture, which rejects the frame at byte 1751 (the first
/// frame whose raw data mist cannot walk).
#[test]
fn adts_frame_whose_blocks_cannot_be_separated_is_damage() {
    let src = fixture("crc_lc_blocks_damaged.aac");
    let verdicts = std::fs::read_to_string(fixture("crc_lc_blocks_damaged.aac.fdk.txt")).unwrap();
    assert!(
        verdicts.lines().any(|l| l == "4 1751 crc"),
        "fdk rejects byte 1751"
    );
    let dir = TestDir::new("damage-adts-blocks");
    let out = dir.join("out.aac");
    let args = ["convert", src.to_str().unwrap(), out.to_str().unwrap()];
    let strict = mist().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&strict.stderr);
    assert_eq!(strict.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--salvage") && err.contains("at byte 1751"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written by the refused run");
    let salvaged = mist().args(args).arg("--salvage").output().unwrap();
    let err = String::from_utf8_lossy(&salvaged.stderr);
    assert_eq!(salvaged.status.code(), Some(0), "{err}");
    assert!(err.contains("damaged at byte 1751"), "{err}");
    assert!(out.exists());
}
