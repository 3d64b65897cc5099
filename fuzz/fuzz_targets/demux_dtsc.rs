//! The DTSC demuxer and its sans-IO unit reader on arbitrary bytes: no panic, errors point
//! inside the input, and the reader gives the same units whether fed whole or in two pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::dtsc::wire::Reader;
use mist::formats::dtsc::demux::Demuxer;
use mist::formats::Demuxer as _;
use mist::io::Source;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut d) = Demuxer::open(Source::from_bytes("fuzz.dtsc", data.to_vec())) {
        let _ = d.build_index();
        for _ in 0..100_000 {
            match d.next_packet() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    assert!(e.offset <= data.len() as u64);
                    break;
                }
            }
        }
    }
    let whole = units(&[data]);
    let split = data.len() / 2;
    assert_eq!(whole, units(&[&data[..split], &data[split..]]));
});

fn units(pieces: &[&[u8]]) -> Vec<u64> {
    let mut r = Reader::new();
    let mut out = Vec::new();
    for p in pieces {
        r.feed(p);
        loop {
            match r.next_unit() {
                Ok(Some((at, _))) => out.push(at),
                Ok(None) => break,
                Err(_) => return out,
            }
        }
    }
    out
}
