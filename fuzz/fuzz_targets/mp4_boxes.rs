//! The MP4 box header and `moov` parser on arbitrary bytes: no panic, errors inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::mp4::boxes::next_child;
use mist::formats::mp4::reader::parse_moov;
use mist::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::from_slice(data, 0, "mp4");
    for _ in 0..10_000 {
        match next_child(&mut c) {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                assert!(e.offset <= data.len() as u64);
                break;
            }
        }
    }
    if let Err(e) = parse_moov(Cursor::from_slice(data, 0, "mp4")) {
        assert!(e.offset <= data.len() as u64);
    }
});
