//! The FLV demuxer and its sans-IO reader on arbitrary bytes: no panic, errors point inside
//! the input, and the reader gives the same events whether fed whole or in two pieces split
//! at any point (the split point comes from the input's first byte).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mist::formats::flv::reader::{Event, Reader};
use mist::formats::flv::Demuxer;
use mist::formats::Demuxer as _;
use mist::io::Source;

fuzz_target!(|input: &[u8]| {
    let Some((&split, data)) = input.split_first() else {
        return;
    };
    if let Ok(mut d) = Demuxer::open(Source::from_bytes("fuzz.flv", data.to_vec())) {
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
    let at = if data.is_empty() {
        0
    } else {
        usize::from(split) * data.len() / 255
    };
    // Compared as text: script data may hold NaN, which is not equal to itself, so `==` on
    // the events would report two identical runs as different.
    let whole = format!("{:?}", events(&[data]));
    let split = format!("{:?}", events(&[&data[..at], &data[at..]]));
    assert_eq!(whole, split);
});

/// Events until the end or the first error (its offset), as one list.
fn events(pieces: &[&[u8]]) -> (Vec<Event>, Option<u64>) {
    let mut r = Reader::new();
    let mut out = Vec::new();
    for p in pieces {
        r.feed(Bytes::copy_from_slice(p));
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
