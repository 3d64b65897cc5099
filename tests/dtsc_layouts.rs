//! Every DTSC layout MistServer has used (dtsc-format.md §1.7), built from MistServer's own
//! vod_idx0 files: index in the header, `moreheader` chains, headerless data with a side file,
//! and legacy `DTPD` packets. Oracle: each must read back the same packets as the original,
//! with an index whose positions agree with the packets (`--validate` finds no error).

mod util;

use bytes::Bytes;
use mist::dtsc::wire::{Header, Value};
use mist::formats::dtsc::demux::Demuxer;
use mist::formats::dtsc::scan::parse_side_header;
use mist::formats::Demuxer as _;
use mist::io::Source;
use util::*;

const HEADER_LEN: usize = 533;

fn original() -> (Vec<u8>, Header) {
    let data = std::fs::read(interop("vod_idx0.dtsc")).unwrap();
    let side = parse_side_header(std::fs::read(interop("vod_idx0.dtsc.dtsh")).unwrap()).unwrap();
    (data, side)
}

/// (position, dts, cts, key, payload) of one packet.
type Row = (usize, i64, i32, bool, Bytes);

/// Every packet, and whether the file carried an index.
fn read(path: &std::path::Path) -> (Vec<Row>, bool) {
    let mut d = Demuxer::open(Source::open(path).unwrap()).unwrap();
    let meta = d.meta().clone();
    let had_index = d.has_stored_index();
    let mut v = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        v.push((
            meta.position(p.track).unwrap(),
            p.dts.0,
            p.cts,
            p.keyframe,
            p.data,
        ));
    }
    (v, had_index)
}

fn shift_positions(h: &mut Header, by: i64) {
    for t in &mut h.tracks {
        for k in &mut t.index.as_mut().unwrap().keys {
            k.pos = (k.pos as i64 + by) as u64;
        }
    }
}

fn check(path: &std::path::Path, want_index: bool) {
    let (want, _) = read(&interop("vod_idx0.dtsc"));
    let (got, had_index) = read(path);
    assert_eq!(got.len(), want.len(), "{}", path.display());
    assert!(got == want, "{}: packets differ", path.display());
    assert_eq!(had_index, want_index, "{}: index present", path.display());
    let out = mist_ok(&["analyse", path.to_str().unwrap(), "--validate"]);
    assert!(out.contains("validation: 0 errors"), "{out}");
}

#[test]
fn header_with_index_first() {
    let (data, mut side) = original();
    let len = side.encode(true).len();
    shift_positions(&mut side, len as i64 - HEADER_LEN as i64);
    let mut file = side.encode(true);
    file.extend_from_slice(&data[HEADER_LEN..]);
    let dir = TestDir::new("layout-indexfirst");
    let p = dir.join("x.dtsc");
    std::fs::write(&p, file).unwrap();
    check(&p, true);
}

#[test]
fn moreheader_chain_to_a_trailing_index() {
    let (data, mut side) = original();
    // The small header at byte 0 gains `moreheader` (21 bytes: u16 name length, 10-byte name,
    // int marker, 8-byte value) pointing past the packets at the full header.
    let small = Header::parse(Bytes::copy_from_slice(&data[..HEADER_LEN]), 0).unwrap();
    let packets = &data[HEADER_LEN..];
    let grown = HEADER_LEN + 21;
    let trailer_at = (grown + packets.len()) as i64;
    let Value::Object(mut members) = small.value.clone() else {
        unreachable!()
    };
    members.insert(2, ("moreheader".into(), Value::Int(trailer_at)));
    let body = Value::Object(members).to_bytes();
    let mut file = b"DTSC".to_vec();
    file.extend_from_slice(&(body.len() as u32).to_be_bytes());
    file.extend_from_slice(&body);
    assert_eq!(file.len(), grown);
    file.extend_from_slice(packets);
    shift_positions(&mut side, 21);
    file.extend_from_slice(&side.encode(true));
    let dir = TestDir::new("layout-chain");
    let p = dir.join("x.dtsc");
    std::fs::write(&p, file).unwrap();
    check(&p, true);
}

#[test]
fn headerless_data_with_a_side_file() {
    let (data, mut side) = original();
    shift_positions(&mut side, -(HEADER_LEN as i64));
    let dir = TestDir::new("layout-headerless");
    let p = dir.join("x.dtsc");
    std::fs::write(&p, &data[HEADER_LEN..]).unwrap();
    std::fs::write(dir.join("x.dtsc.dtsh"), side.encode(true)).unwrap();
    check(&p, true);
    // Without the side file nothing says what the tracks are: one clear error line.
    std::fs::remove_file(dir.join("x.dtsc.dtsh")).unwrap();
    let (code, err) = mist_err(&["analyse", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("no DTSC header"), "{err}");
}

#[test]
fn legacy_dtpd_packets_read_and_get_an_index_by_scanning() {
    let (data, _) = original();
    let mut file = data[..HEADER_LEN].to_vec();
    let mut d = Demuxer::open(Source::open(&interop("vod_idx0.dtsc")).unwrap()).unwrap();
    let meta = d.meta().clone();
    while let Some(p) = d.next_packet().unwrap() {
        let mut m = vec![
            (
                "trackid".to_string(),
                Value::Int(meta.position(p.track).unwrap() as i64),
            ),
            ("time".to_string(), Value::Int(p.dts.0)),
        ];
        if p.cts != 0 {
            m.push(("offset".into(), Value::Int(i64::from(p.cts))));
        }
        if p.keyframe {
            m.push(("keyframe".into(), Value::Int(1)));
        }
        m.push(("data".into(), Value::Str(p.data)));
        let body = Value::Object(m).to_bytes();
        file.extend_from_slice(b"DTPD");
        file.extend_from_slice(&(body.len() as u32).to_be_bytes());
        file.extend_from_slice(&body);
    }
    let dir = TestDir::new("layout-dtpd");
    let p = dir.join("x.dtsc");
    std::fs::write(&p, file).unwrap();
    check(&p, false);
    // Converting gives a current-layout file with the same packets and MistServer's index.
    let out = dir.join("y.dtsc");
    mist_ok(&["convert", p.to_str().unwrap(), out.to_str().unwrap(), "-q"]);
    assert_same_bytes(
        "index of the converted DTPD file",
        &std::fs::read(dir.join("y.dtsc.dtsh")).unwrap(),
        &std::fs::read(interop("vod_idx0.dtsc.dtsh")).unwrap(),
    );
}
