//! SBR payload parser: never panics on arbitrary payload bytes; errors point inside the
//! payload; a parsed payload ends inside its span with fewer than 8 fill bits left; the short
//! and detailed forms agree; the header state carries over between payloads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::codec::aac::sbr::SbrParser;
use mist::codec::aac::SAMPLING_FREQUENCIES;

/// Absolute offset the payload bytes pretend to sit at.
const BASE: u64 = 1000;

fuzz_target!(|input: &[u8]| {
    let Some((&control, data)) = input.split_first() else {
        return;
    };
    // Low nibble: the core rate; bit 4: pair; bits 5–7: where the payload starts in the
    // first byte (the span of a real fill element need not be byte aligned).
    let core = SAMPLING_FREQUENCIES[usize::from(control & 15) % SAMPLING_FREQUENCIES.len()];
    let pair = control & 16 != 0;
    let start = usize::from(control >> 5);
    let end = data.len() * 8;
    if start > end {
        return;
    }
    let mut parser = SbrParser::new(core);
    // The same payload twice: the second parse runs with the header the first one left.
    for _ in 0..2 {
        let mut short = parser.clone();
        let detail = parser.parse_payload_detail(data, BASE, (start, end), pair);
        let quick = short.parse_payload(data, BASE, (start, end), pair);
        match &detail {
            Ok(Some(p)) => {
                assert!(p.end <= end && end - p.end < 8);
                assert!(matches!(p.extension_type, 13 | 14));
                assert_eq!(quick.ok(), Some(p.parametric_stereo()));
            }
            Ok(None) => assert_eq!(quick.ok(), Some(false)),
            Err(e) => {
                assert!(e.offset >= BASE && e.offset <= BASE + data.len() as u64);
                assert!(quick.is_err());
            }
        }
        if let Some((_, bands)) = parser.header() {
            assert!(bands.high >= 1 && bands.low == bands.high.div_ceil(2));
            assert!((1..=5).contains(&bands.noise));
            assert!(bands.master.windows(2).all(|w| w[0] < w[1]));
            assert!(bands.master.last().is_some_and(|&k| k <= 64) && bands.kx <= 32);
        }
    }
});
