//! The `.aac` ADTS demuxer and stream reader: never panic; errors point inside the input;
//! packets lie inside the input in order, with rising decode times; the probe never scores
//! an input the demuxer cannot open at 90; the stream reader gives the same events however
//! the input is cut, and the demuxer's packets when both read the input to its end.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mist::dtsc::Packet;
use mist::formats::raw::aac;
use mist::formats::{Demuxer as _, Event, Reader as _};
use mist::io::Source;

/// Packets and finding offsets from the stream reader fed in `pieces`, or the error offset.
fn stream(pieces: &[&[u8]]) -> Result<(Vec<Packet>, Vec<Option<u64>>), u64> {
    let mut r = aac::StreamReader::new();
    let (mut packets, mut findings) = (Vec::new(), Vec::new());
    let mut take = |r: &mut aac::StreamReader| -> Result<(), u64> {
        while let Some(e) = r.next_event().map_err(|e| e.offset)? {
            match e {
                Event::Packet(p) => packets.push(p),
                Event::Finding(f) => findings.push(f.offset),
                Event::Tracks(_) => {}
            }
        }
        Ok(())
    };
    for p in pieces {
        r.feed(Bytes::copy_from_slice(p));
        take(&mut r)?;
    }
    r.finish().map_err(|e| e.offset)?;
    take(&mut r)?;
    Ok((packets, findings))
}

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let score = aac::probe(data);
    let mut demuxed: Option<Vec<Packet>> = None;
    match aac::Demuxer::open(Source::from_bytes("f.aac", data.to_vec())) {
        Ok(mut d) => {
            let mut all = Vec::new();
            let mut last: Option<(i64, u64)> = None;
            loop {
                match d.next_packet() {
                    Ok(Some(p)) => {
                        let pos = p.pos.expect("ADTS packets have offsets");
                        assert!(pos + p.data.len() as u64 <= len);
                        if let Some((t, at)) = last {
                            assert!(p.dts.0 > t && pos > at);
                        }
                        last = Some((p.dts.0, pos));
                        all.push(p);
                    }
                    Ok(None) => {
                        demuxed = Some(all);
                        break;
                    }
                    Err(e) => {
                        assert!(e.offset <= len);
                        break;
                    }
                }
            }
            let _ = d.take_findings();
        }
        Err(e) => {
            assert!(e.offset <= len);
            assert!(score < 90, "probe scored {score} but open failed: {e}");
        }
    }
    let whole = stream(&[data]);
    if let Err(off) = &whole {
        assert!(*off <= len);
    }
    if !data.is_empty() {
        let cut = usize::from(data[0]) * data.len() / 256;
        assert_eq!(stream(&[&data[..cut], &data[cut..]]), whole, "cut at {cut}");
    }
    if let (Some(d), Ok((s, _))) = (demuxed, &whole) {
        if !d.is_empty() {
            assert_eq!(&d, s, "stream reader and demuxer differ");
        }
    }
});
