//! The MP4 demuxer and analyser on arbitrary bytes: no panic, no hang, and every error and
//! every finding points inside the input (an offset taken from a table, a chunk offset or a
//! sample position past the end is a bug: the message must name where in *this* file).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::analyse::{AnalyseError, Options};
use mist::formats::mp4::demux::Demuxer;
use mist::formats::Demuxer as _;
use mist::io::Source;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let inside = |what: &str, offset: u64, message: &str| {
        assert!(
            offset <= len,
            "{what} at {offset} in a {len}-byte input: {message}"
        );
    };
    match Demuxer::open(Source::from_bytes("fuzz.mp4", data.to_vec())) {
        Err(e) => inside("open error", e.offset, &e.to_string()),
        Ok(mut d) => {
            if let Err(e) = d.build_index() {
                inside("index error", e.offset, &e.to_string());
            }
            for _ in 0..100_000 {
                match d.next_packet() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        inside("packet error", e.offset, &e.to_string());
                        break;
                    }
                }
            }
            for f in d.take_findings() {
                inside("finding", f.offset, &f.message);
            }
        }
    }
    // The analyser's own checks (--validate) add findings of their own.
    let opts = Options {
        validate: true,
        json: true,
        ..Options::default()
    };
    let src = Source::from_bytes("fuzz.mp4", data.to_vec());
    match mist::analyse::mp4::analyse(src, &opts, &mut std::io::sink()) {
        Ok(report) => {
            for f in report.findings.unwrap_or_default() {
                inside("analyse finding", f.offset, &f.message);
            }
        }
        Err(AnalyseError::Format(e)) => inside("analyse error", e.offset, &e.to_string()),
        Err(_) => {}
    }
});
