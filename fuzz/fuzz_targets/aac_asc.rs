//! AudioSpecificConfig and ADTS header parsers: never panic; what parses and can be written
//! back parses again to the same value (parse∘build∘parse is stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::codec::aac::{AdtsHeader, AudioSpecificConfig};

fuzz_target!(|data: &[u8]| {
    match AudioSpecificConfig::parse(data, 0) {
        Ok(a) => {
            let _ = (a.profile_name(), a.channels(), a.samples_per_frame());
            let _ = a.output_sampling_frequency();
            if let Ok(b) = a.build() {
                let again = AudioSpecificConfig::parse(&b, 0).expect("built config parses");
                assert_eq!(again.build().expect("rebuilds"), b);
            }
            if let Ok(h) = AdtsHeader::from_asc(&a, 100) {
                let bytes = h.to_bytes();
                assert_eq!(
                    AdtsHeader::parse(&bytes, 0).expect("built header parses"),
                    h
                );
            }
        }
        Err(e) => assert!(e.offset <= data.len() as u64),
    }
    if let Ok(h) = AdtsHeader::parse(data, 0) {
        assert!(h.header_len() <= usize::from(h.frame_length));
        let b = h.to_bytes();
        let again = AdtsHeader::parse(&b, 0).expect("written header parses");
        assert_eq!(again.frame_length, h.frame_length);
        let _ = h.to_asc().build();
    }
});
