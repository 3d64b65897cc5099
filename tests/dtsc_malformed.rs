//! Truncated and bit-flipped DTSC: every case ends in an error naming the file and a byte
//! offset inside the input (exit 1, nothing left behind) or in a shorter valid result —
//! never a panic or a hang. Oracle: the input's own length and the list of files on disk.

mod util;

use std::path::Path;

use mist::formats::dtsc::demux::Demuxer;
use mist::formats::Demuxer as _;
use mist::io::Source;
use util::*;

/// A small header-first DTSC (0.1 s of both tracks of MistServer's clip), no side file.
fn small_dtsc(dir: &TestDir) -> Vec<u8> {
    let out = dir.join("small.dtsc");
    mist_ok(&[
        "convert",
        interop("vod_idx0.dtsc").to_str().unwrap(),
        out.to_str().unwrap(),
        "--end",
        "0.1",
        "-q",
    ]);
    std::fs::read(&out).unwrap()
}

/// Reads every packet in-process: Ok(count) or Err(offset).
fn read_all(data: &[u8]) -> Result<usize, u64> {
    let mut d = Demuxer::open(Source::from_bytes("x.dtsc", data.to_vec())).map_err(|e| e.offset)?;
    let mut n = 0;
    loop {
        match d.next_packet() {
            Ok(Some(_)) => n += 1,
            Ok(None) => return Ok(n),
            Err(e) => return Err(e.offset),
        }
    }
}

/// Runs the binary on `bytes`; checks the one-line error and that no output is left.
fn convert_checked(dir: &TestDir, bytes: &[u8], case: &str) {
    let input = dir.join("in.dtsc");
    std::fs::write(&input, bytes).unwrap();
    let out = dir.join("out.dtsc");
    let o = mist()
        .args([
            "convert",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "-q",
            "--force",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    match o.status.code() {
        Some(0) => assert!(out.exists(), "{case}: success without output"),
        Some(1) => {
            assert_eq!(stderr.lines().count(), 1, "{case}: not one line: {stderr}");
            assert!(stderr.starts_with("mist: "), "{case}: {stderr}");
            assert!(stderr.contains("in.dtsc"), "{case}: no file name: {stderr}");
            assert!(stderr.contains(" at byte "), "{case}: no offset: {stderr}");
            // The offset, before the `(--salvage ...)` hint when there is one.
            let at: u64 = stderr
                .rsplit(" at byte ")
                .next()
                .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{case}: offset not a number: {stderr}"));
            assert!(at <= bytes.len() as u64, "{case}: offset {at} past the end");
            let left: Vec<_> = dir
                .files()
                .into_iter()
                .filter(|f| f != "in.dtsc" && !f.starts_with("small.dtsc"))
                .collect();
            assert!(left.is_empty(), "{case}: left behind {left:?}");
        }
        other => panic!("{case}: exit {other:?}: {stderr}"),
    }
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(Path::new(&format!("{}.dtsh", out.display())));
}

#[test]
fn truncation_at_every_offset_errors_or_shortens() {
    let dir = TestDir::new("dtsc-trunc");
    let data = small_dtsc(&dir);
    let full = read_all(&data).expect("the whole file reads");
    assert!(full > 5, "fixture too small: {full} packets");
    for cut in 0..data.len() {
        match read_all(&data[..cut]) {
            Ok(n) => assert!(n <= full, "cut {cut}: {n} packets from a shorter file"),
            Err(at) => assert!(
                at <= cut as u64,
                "cut {cut}: error offset {at} past the end"
            ),
        }
    }
    // Through the binary on a stride: one line, the offset, exit 1, nothing left behind.
    for cut in (0..data.len())
        .step_by(997)
        .chain([1, 7, 8, 100, data.len() - 1])
    {
        convert_checked(&dir, &data[..cut], &format!("cut {cut}"));
    }
}

#[test]
fn bit_flips_error_or_read_never_panic() {
    let dir = TestDir::new("dtsc-flip");
    let data = small_dtsc(&dir);
    // Fixed-seed xorshift so failures reproduce.
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for i in 0..2000 {
        let mut bad = data.clone();
        let at = (next() % bad.len() as u64) as usize;
        bad[at] ^= 1 << (next() % 8);
        if let Err(off) = read_all(&bad) {
            assert!(off <= bad.len() as u64, "flip {i} at {at}: offset {off}");
        }
        if i % 50 == 0 {
            convert_checked(&dir, &bad, &format!("flip {i} at {at}"));
        }
    }
    // Flips in the first 600 bytes (header and first packet prefix), every one of them.
    for at in 0..600.min(data.len()) {
        let mut bad = data.clone();
        bad[at] ^= 0x80;
        if let Err(off) = read_all(&bad) {
            assert!(off <= bad.len() as u64, "flip at {at}: offset {off}");
        }
    }
}

#[test]
fn hostile_lengths_do_not_allocate_or_hang() {
    // A DTP2 claiming 400 MB in a 30-byte file: a truncation error, promptly.
    let mut b =
        b"DTSC\x00\x00\x00\x1b\xe0\x00\x07version\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\xee"
            .to_vec();
    b.extend_from_slice(b"DTP2\x18\x00\x00\x00\x00\x00\x00\x00");
    assert!(read_all(&b).is_err());
    // Objects nested far deeper than any real header.
    let mut deep = b"DTSC\x00\x01\x00\x00".to_vec();
    deep.extend(std::iter::repeat(0x0A).take(65_536));
    assert!(read_all(&deep).is_err());
    // Not DTSC at all.
    let dir = TestDir::new("dtsc-garbage");
    let f = dir.join("junk.dtsc");
    std::fs::write(&f, vec![0x42u8; 4096]).unwrap();
    let (code, err) = mist_err(&["analyse", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
}
