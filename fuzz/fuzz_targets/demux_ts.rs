//! The TS demuxer and its sans-IO reader on arbitrary bytes: no panic, errors point inside the
//! input, and the reader gives the same events whether fed whole or in two pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::ts::demux::{Demuxer, Options};
use mist::formats::ts::reader::Reader;
use mist::formats::Demuxer as _;
use mist::io::Source;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut d) = Demuxer::open(
        Source::from_bytes("fuzz.ts", data.to_vec()),
        Options::default(),
    ) {
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
        let _ = d.build_index();
    }
    let whole = events(&[data]);
    let split = data.len() / 2;
    assert_eq!(whole, events(&[&data[..split], &data[split..]]));
});

fn events(pieces: &[&[u8]]) -> Vec<String> {
    let mut r = Reader::new();
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
