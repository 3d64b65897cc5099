//! The `.h264` access-unit splitter and demuxer: never panic; access units lie inside the
//! input, in order, and do not overlap; feeding the input in two pieces (cut anywhere) gives
//! the same access units as one piece; the demuxer's errors point inside the input and its
//! decode times rise, and the stream reader gives the demuxer's packets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::dtsc::Packet;
use mist::formats::raw::h264::{AuSplitter, StreamReader};
use mist::formats::{Demuxer as _, Event, Reader as _};
use mist::io::Source;

fn split(pieces: &[&[u8]]) -> Result<Vec<(u64, u64, Vec<u64>)>, u64> {
    let mut s = AuSplitter::new(0);
    let mut out = Vec::new();
    let drain = |s: &mut AuSplitter, out: &mut Vec<_>| -> Result<(), u64> {
        while let Some(au) = s.next_au().map_err(|e| e.offset)? {
            out.push((
                au.offset,
                au.size,
                au.nals.iter().map(|n| n.offset).collect(),
            ));
        }
        Ok(())
    };
    for p in pieces {
        s.feed(p);
        drain(&mut s, &mut out)?;
    }
    s.finish();
    drain(&mut s, &mut out)?;
    Ok(out)
}

/// Packets from the stream reader fed in two pieces, or the error offset.
fn stream(data: &[u8], cut: usize) -> Result<Vec<Packet>, u64> {
    let mut r = StreamReader::new(None);
    let mut packets = Vec::new();
    let mut take = |r: &mut StreamReader| -> Result<(), u64> {
        while let Some(e) = r.next_event().map_err(|e| e.offset)? {
            if let Event::Packet(p) = e {
                packets.push(p);
            }
        }
        Ok(())
    };
    for p in [&data[..cut], &data[cut..]] {
        r.feed(bytes::Bytes::copy_from_slice(p));
        take(&mut r)?;
    }
    r.finish().map_err(|e| e.offset)?;
    take(&mut r)?;
    Ok(packets)
}

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let whole = split(&[data]);
    match &whole {
        Ok(aus) => {
            let mut end = 0;
            for (offset, size, nals) in aus {
                assert!(*offset >= end && offset + size <= len);
                assert!(nals.iter().all(|n| n >= offset && *n < offset + size));
                end = offset + size;
            }
        }
        Err(off) => assert!(*off <= len),
    }
    if !data.is_empty() {
        let cut = usize::from(data[0]) * data.len() / 256;
        let two = split(&[&data[..cut], &data[cut..]]);
        if let (Ok(a), Ok(b)) = (&whole, &two) {
            assert_eq!(a, b, "cut at {cut}");
        }
    }
    let cut = data
        .first()
        .map_or(0, |&b| usize::from(b) * data.len() / 256);
    match mist::formats::raw::h264::Demuxer::open(Source::from_bytes("f.h264", data.to_vec())) {
        Ok(mut d) => {
            let mut last = None;
            let mut all = Vec::new();
            loop {
                match d.next_packet() {
                    Ok(Some(p)) => {
                        assert!(last.map_or(true, |l| p.dts.0 > l));
                        assert!(p.cts >= 0);
                        last = Some(p.dts.0);
                        all.push(p);
                    }
                    Ok(None) => {
                        assert_eq!(stream(data, cut), Ok(all), "stream reader differs");
                        break;
                    }
                    Err(e) => {
                        assert!(e.offset <= len);
                        break;
                    }
                }
            }
        }
        Err(e) => assert!(e.offset <= len),
    }
});
