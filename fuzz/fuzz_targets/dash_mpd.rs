//! The MPD reader (ISO/IEC 23009-1 §5) as `mist analyse` uses it: never panics, expands no
//! timeline past its segment cap, and a segment template grows by a bounded amount per
//! identifier it replaces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::package::dash::parse::{self, MAX_SEGMENTS};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (mpd, _problems) = parse::parse(&text);
    if let Some(mpd) = mpd {
        for r in mpd
            .periods
            .iter()
            .flat_map(|p| &p.sets)
            .flat_map(|s| &s.reps)
        {
            assert!(r.segments.len() <= MAX_SEGMENTS, "timeline past the cap");
        }
    }
    let _ = parse::parse_duration_ms(&text);
    // A template from the input: each `$…$` becomes at most 32 digits or the id.
    let mid = (0..=text.len() / 2)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let (template, id) = text.split_at(mid);
    let out = parse::expand(template, id, u64::MAX, u64::MAX, u64::MAX);
    let ids = template.matches('$').count() / 2 + 1;
    assert!(
        out.len() <= template.len() + ids * (32 + id.len()),
        "template grew past bound"
    );
});
