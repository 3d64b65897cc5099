//! Annex B splitter and both conversions: never panic; NAL units lie inside the input;
//! Annex B → length-prefixed → Annex B → length-prefixed is stable after the first step.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mist::codec::h264::{
    annexb_to_length_prefixed, length_prefixed_to_annexb, AnnexBNals, AvcConfig, LengthPrefixedNals,
};

fuzz_target!(|data: &[u8]| {
    let b = Bytes::copy_from_slice(data);
    for nal in AnnexBNals::new(b.clone(), 0) {
        assert!(nal.offset as usize + nal.data.len() <= data.len());
        assert!(!nal.data.is_empty());
    }
    let lp = annexb_to_length_prefixed(&b, 0).expect("small input converts");
    let back = length_prefixed_to_annexb(&lp, 4, 0).expect("our own output converts back");
    let lp2 = annexb_to_length_prefixed(&back, 0).expect("converts again");
    assert_eq!(lp, lp2);
    for size in [1u8, 2, 4] {
        for r in LengthPrefixedNals::new(b.clone(), size, 0) {
            if let Err(e) = r {
                assert!(e.offset <= data.len() as u64);
            }
        }
        let _ = length_prefixed_to_annexb(&b, size, 0);
    }
    if let Ok(Some(c)) = AvcConfig::from_annexb_parameter_sets(&b, 0) {
        let built = c.build().expect("builds");
        assert_eq!(AvcConfig::parse(&built, 0).expect("parses"), c);
    }
    if let Ok(c) = AvcConfig::parse(&b, 0) {
        if let Ok(built) = c.build() {
            assert_eq!(AvcConfig::parse(&built, 0).expect("parses"), c);
        }
    }
});
