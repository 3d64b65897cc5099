//! Memory bounded by what a file holds, not by what its tables claim (issue 10, point 7).
//!
//! Hand-built MP4s whose sample tables claim 16 M samples from a few hundred kilobytes of
//! tables (a constant `stsz`, one `stts` run, 80 000 chunk offsets): `mist` refuses them or
//! reads them quickly, and its peak resident memory, as the kernel counts it for the child
//! process (`wait4`'s `ru_maxrss`), stays under 64 MB.

mod util;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use mist::dtsc::{Codec, Timebase, Track, TrackId, TrackKind};
use mist::formats::mp4::boxes::media::{write_dinf, write_smhd, Hdlr, Mdhd};
use mist::formats::mp4::boxes::movie::{Mvhd, Tkhd};
use mist::formats::mp4::boxes::stco::Stco;
use mist::formats::mp4::boxes::stsc::{Stsc, StscEntry};
use mist::formats::mp4::boxes::stsd::Stsd;
use mist::formats::mp4::boxes::stsz::Stsz;
use mist::formats::mp4::boxes::stts::Stts;
use mist::formats::mp4::boxes::{Writer, MATRIX};
use mist::formats::mp4::mux::sample_entry;
use util::TestDir;

/// The bound the issue sets for any input up to 4 GB.
const MAX_RSS_KB: i64 = 64 * 1024;
/// "Quickly", in CPU time (wall time depends on the machine's load): a debug build walks 16 M
/// samples in a few seconds, a release build in a few tenths.
const MAX_TIME: Duration = Duration::from_secs(20);
/// Samples the crafted files claim.
const CLAIMED: u32 = 16 << 20;

/// What a run of `mist` did: exit code, stderr, peak RSS in kB, CPU time (user + system).
struct Run {
    code: i32,
    stderr: String,
    peak_kb: i64,
    took: Duration,
}

fn cpu(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Runs `mist ARGS` and measures the child's own peak RSS with `wait4` (std's `Child::wait`
/// does not report resource usage).
// The child is reaped by `wait4`, which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn measured(args: &[&str]) -> Run {
    use std::io::Read;
    let mut child = util::mist()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn mist");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 writes into both out-parameters.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(got, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Run {
        code,
        stderr,
        peak_kb: usage.ru_maxrss,
        took: cpu(usage.ru_utime) + cpu(usage.ru_stime),
    }
}

/// An AAC-LC 48 kHz stereo track whose tables claim `count` samples of `size` bytes, `per_chunk`
/// to a chunk, at the chunk `offsets`. Returns the `moov` box.
fn moov(count: u32, size: u32, per_chunk: u32, offsets: Vec<u64>) -> Vec<u8> {
    let mut track = Track::new(
        TrackId(1),
        TrackKind::Audio,
        Codec::Aac,
        Timebase::new(48_000).unwrap(),
    );
    track.init = Bytes::from_static(&[0x11, 0x90]);
    if let mist::dtsc::Params::Audio(a) = &mut track.params {
        a.rate = 48_000;
        a.channels = 2;
    }
    let mut w = Writer::new();
    w.begin(b"moov");
    Mvhd::new(1000, 0, 2).write(&mut w);
    w.begin(b"trak");
    Tkhd {
        version: 0,
        flags: 3,
        creation: 0,
        modification: 0,
        track_id: 1,
        duration: 0,
        layer: 0,
        alternate_group: 1,
        volume: 0x100,
        matrix: MATRIX,
        width: 0,
        height: 0,
    }
    .write(&mut w);
    w.begin(b"mdia");
    Mdhd {
        version: 0,
        creation: 0,
        modification: 0,
        timescale: 48_000,
        duration: 0,
        language: 0,
    }
    .write(&mut w);
    Hdlr {
        handler: *b"soun",
        name: "SoundHandler".into(),
    }
    .write(&mut w);
    w.begin(b"minf");
    write_smhd(&mut w);
    write_dinf(&mut w);
    w.begin(b"stbl");
    Stsd {
        entries: vec![sample_entry(&track, None).unwrap()],
    }
    .write(&mut w);
    Stts {
        entries: vec![(count, 1024)],
    }
    .write(&mut w);
    Stsc {
        entries: vec![StscEntry {
            first_chunk: 1,
            samples_per_chunk: per_chunk,
            description: 1,
        }],
    }
    .write(&mut w);
    Stsz {
        constant: size,
        count,
        sizes: Vec::new(),
    }
    .write(&mut w);
    Stco {
        wide: false,
        offsets,
    }
    .write(&mut w);
    for _ in 0..5 {
        w.end(); // stbl, minf, mdia, trak, moov
    }
    w.buf
}

/// `ftyp` + `moov` + an `mdat` of `mdat_len` bytes (the file is extended with a hole, so a
/// large one costs no disk).
fn write_mp4(path: &Path, moov: &[u8], mdat_len: u64) -> u64 {
    let ftyp = [&[0u8, 0, 0, 16][..], b"ftyp", b"isom", &[0, 0, 2, 0][..]].concat();
    let mut head = ftyp;
    head.extend_from_slice(moov);
    let mdat_size = mdat_len + 8;
    head.extend_from_slice(&u32::try_from(mdat_size).unwrap().to_be_bytes());
    head.extend_from_slice(b"mdat");
    std::fs::write(path, &head).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(head.len() as u64 + mdat_len).unwrap();
    head.len() as u64
}

fn check(what: &str, r: &Run, ok: bool) {
    eprintln!(
        "{what}: exit {}, peak RSS {} kB, {:.2} s CPU, stderr: {}",
        r.code,
        r.peak_kb,
        r.took.as_secs_f64(),
        r.stderr.trim()
    );
    assert!(
        r.peak_kb < MAX_RSS_KB,
        "{what}: peak RSS {} kB, over {MAX_RSS_KB} kB",
        r.peak_kb
    );
    assert!(r.took < MAX_TIME, "{what}: took {:?}", r.took);
    if ok {
        assert_eq!(r.code, 0, "{what}: {}", r.stderr);
    } else {
        assert_eq!(r.code, 1, "{what}: {}", r.stderr);
        assert_eq!(r.stderr.trim().lines().count(), 1, "{what}: one line");
    }
}

/// Oracle: the kernel's count of the child's peak RSS, and the file sizes, which cannot hold
/// what the tables claim. 80 000 chunks of 210 samples of 200 bytes all start at the same byte
/// of a 324 kB file: 16 M samples, 3.2 GB of sample data claimed.
#[test]
fn claims_the_file_cannot_back_are_refused_quickly_in_little_memory() {
    let dir = TestDir::new("memory-claims");
    let small = dir.join("claims.mp4");
    // The mdat starts after ftyp + moov; every chunk offset points at its first byte.
    let probe = moov(CLAIMED, 200, 210, vec![0; 80_000]);
    let at = 16 + probe.len() as u64 + 8;
    let tables = moov(CLAIMED, 200, 210, vec![at; 80_000]);
    write_mp4(&small, &tables, 4096);
    let len = std::fs::metadata(&small).unwrap().len();
    assert!((300_000..350_000).contains(&len), "{len} bytes");
    let s = small.to_str().unwrap();
    let out = dir.join("out.ts");
    let o = out.to_str().unwrap();
    // More samples than bytes.
    let r = measured(&["convert", "-q", s, o]);
    check("324 kB file claiming 16 M samples: convert", &r, false);
    assert!(r.stderr.contains("samples"), "{}", r.stderr);
    check(
        "324 kB file claiming 16 M samples: analyse",
        &measured(&["analyse", s]),
        false,
    );
    assert!(!out.exists());

    // The same tables in a 64 MB file (a hole after the moov): enough bytes for 16 M samples,
    // but the samples lie on top of each other: 3.2 GB of them inside 64 MB.
    let big = dir.join("overlap.mp4");
    write_mp4(&big, &tables, 64 << 20);
    let b = big.to_str().unwrap();
    let r = measured(&["convert", "-q", b, o]);
    check(
        "64 MB file, 16 M samples on top of each other: convert",
        &r,
        false,
    );
    assert!(r.stderr.contains("on top of each other"), "{}", r.stderr);
    assert!(!out.exists());

    // One-byte samples, 210 to a chunk, every chunk at the same byte, in a 16 MB file: as
    // many samples as the file has bytes, but on top of each other (convert to TS would write
    // 3 GB of 188-byte packets).
    let ones = dir.join("ones.mp4");
    write_mp4(&ones, &moov(CLAIMED, 1, 210, vec![at; 80_000]), 16 << 20);
    let r = measured(&["convert", "-q", ones.to_str().unwrap(), o]);
    check(
        "16 MB file, 16 M one-byte samples on top of each other: convert",
        &r,
        false,
    );
    assert!(r.stderr.contains("on top of each other"), "{}", r.stderr);
    assert!(!out.exists());

    // Chunks side by side but past the end of the file: a finding at open, an error at the
    // first sample.
    let past = dir.join("past.mp4");
    let offsets = (0..80_000u64).map(|k| (1 << 28) + k * 210).collect();
    write_mp4(&past, &moov(CLAIMED, 1, 210, offsets), 16 << 20);
    let p = past.to_str().unwrap();
    let r = measured(&["convert", "-q", p, o]);
    check("16 M samples past the end of the file: convert", &r, false);
    assert!(!out.exists());
}

/// Oracle: the kernel's peak RSS count; the summary's packet count is the claim itself.
/// 16 M one-byte samples laid end to end in a 16 MB hole: a file that backs its claim, read in
/// the tables' compact form (a constant stsz, one stts run, one chunk).
#[test]
fn sixteen_million_backed_samples_are_summarised_in_little_memory() {
    let dir = TestDir::new("memory-backed");
    let path = dir.join("backed.mp4");
    let probe = moov(CLAIMED, 1, CLAIMED, vec![0]);
    let at = 16 + probe.len() as u64 + 8;
    write_mp4(
        &path,
        &moov(CLAIMED, 1, CLAIMED, vec![at]),
        u64::from(CLAIMED),
    );
    let p = path.to_str().unwrap();
    let r = measured(&["analyse", p]);
    check("16 M one-byte samples: analyse", &r, true);
    let r = measured(&["analyse", p, "--json"]);
    check("16 M one-byte samples: analyse --json", &r, true);
    let j = util::analyse_json(&path, &[]);
    assert_eq!(j["tracks"][0]["packets"], u64::from(CLAIMED));
}
