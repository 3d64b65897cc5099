//! The HLS playlist reader (RFC 8216 §4) as `mist analyse` and the HLS pull input use it: never
//! panics, and what it returns is bounded by the text (no more segments or variants than
//! lines, problems on lines that exist).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::package::hls::parse::{self, Attributes, Playlist};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    let (playlist, problems) = parse::parse(&text);
    for p in &problems {
        assert!(p.line <= lines + 1, "problem on line {} of {lines}", p.line);
    }
    match playlist {
        Some(Playlist::Media(m)) => {
            assert!(m.segments.len() <= lines, "more segments than lines");
            for s in &m.segments {
                assert!(s.line >= 1 && s.line <= lines);
                assert!(s.duration_ms >= 0, "negative EXTINF kept");
            }
        }
        Some(Playlist::Master(m)) => assert!(m.variants.len() <= lines),
        None => {}
    }
    for line in text.lines() {
        if let Some(a) = Attributes::parse(line) {
            assert!(a.0.len() <= line.len());
        }
        let _ = parse::parse_seconds_ms(line);
    }
});
