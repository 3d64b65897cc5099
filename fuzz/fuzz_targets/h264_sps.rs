//! SPS, PPS and slice header parsers on arbitrary bytes: never panic; a parsed SPS gives
//! sane derived values; errors point inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::codec::h264::{NalType, PocCalculator, Pps, SliceHeader, Sps};

fuzz_target!(|data: &[u8]| {
    // First byte picks how the rest is split: SPS | PPS | slice.
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let a = (usize::from(split) * rest.len() / 255).min(rest.len());
    let (sps_bytes, tail) = rest.split_at(a);
    let b = tail.len() / 2;
    let (pps_bytes, slice_bytes) = tail.split_at(b);
    let mut sps_nal = vec![0x67];
    sps_nal.extend_from_slice(sps_bytes);
    match Sps::parse(&sps_nal, 0) {
        Ok(s) => {
            assert!(s.width() <= s.coded_width() && s.height() <= s.coded_height());
            let _ = (s.profile_name(), s.level_name(), s.fps(), s.fpks());
            let mut pps_nal = vec![0x68];
            pps_nal.extend_from_slice(pps_bytes);
            if let Ok(p) = Pps::parse(&pps_nal, 0) {
                for t in [NalType::SLICE, NalType::IDR] {
                    let mut nal = vec![0x60 | t.0];
                    nal.extend_from_slice(slice_bytes);
                    if let Ok(sh) = SliceHeader::parse(&nal, 0, &s, &p) {
                        let mut poc = PocCalculator::new();
                        let _ = poc.next(&s, &sh);
                        let _ = poc.next(&s, &sh);
                    }
                }
            }
        }
        Err(e) => assert!(e.offset <= sps_nal.len() as u64),
    }
    let _ = Pps::parse(data, 0);
});
