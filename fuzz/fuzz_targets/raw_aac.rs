//! The `.aac` ADTS demuxer: never panic; errors point inside the input; packets lie inside
//! the input in order, with rising decode times; the probe never scores an input the
//! demuxer cannot open at 90.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::raw::aac;
use mist::formats::Demuxer as _;
use mist::io::Source;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let score = aac::probe(data);
    match aac::Demuxer::open(Source::from_bytes("f.aac", data.to_vec())) {
        Ok(mut d) => {
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
                    }
                    Ok(None) => break,
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
});
