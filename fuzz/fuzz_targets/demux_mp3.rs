//! The MP3 demuxer, its index and the incremental reader on arbitrary bytes: never panic or
//! hang; errors point inside the input; packets are whole frames with increasing times; the
//! stream reader yields the same packets as the file demuxer.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mist::formats::mp3::{demux::Demuxer, reader::StreamReader};
use mist::formats::{Demuxer as _, Event, Reader as _};
use mist::io::Source;

fuzz_target!(|data: &[u8]| {
    let mut file = Vec::new();
    match Demuxer::open(Source::from_bytes("f.mp3", data.to_vec())) {
        Ok(mut d) => {
            let mut last = -1i64;
            while let Ok(Some(p)) = d.next_packet() {
                assert!(p.dts.0 > last);
                last = p.dts.0;
                assert!(p.data.len() <= data.len());
                file.push((p.dts.0, p.data.len()));
            }
            let _ = d.build_index();
        }
        Err(e) => assert!(e.offset <= data.len() as u64),
    }
    let mut r = StreamReader::new();
    let mut stream = Vec::new();
    let half = data.len() / 2;
    for piece in [&data[..half], &data[half..]] {
        r.feed(Bytes::copy_from_slice(piece));
        while let Ok(Some(e)) = r.next_event() {
            if let Event::Packet(p) = e {
                stream.push((p.dts.0, p.data.len()));
            }
        }
    }
    r.end();
    while let Ok(Some(e)) = r.next_event() {
        if let Event::Packet(p) = e {
            stream.push((p.dts.0, p.data.len()));
        }
    }
    if !file.is_empty() {
        assert_eq!(file, stream);
    }
});
