//! The MP4 demuxer on arbitrary bytes: no panic, no hang, errors inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::mp4::demux::Demuxer;
use mist::formats::Demuxer as _;
use mist::io::Source;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut d) = Demuxer::open(Source::from_bytes("fuzz.mp4", data.to_vec())) {
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
});
