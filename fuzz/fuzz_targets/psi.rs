//! PAT/PMT sections on arbitrary bytes: no panic, and every table that parses with a good CRC
//! encodes back to a section that parses to the same table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::ts::psi::{self, Pat, Pmt};

fuzz_target!(|data: &[u8]| {
    let _ = psi::parse_descriptors(data, 0);
    let Ok(s) = psi::parse_section(data, 0) else {
        return;
    };
    if let Ok(pat) = Pat::parse(&s, 0) {
        let b = pat.encode();
        let again = psi::parse_section(&b, 0).expect("encoded PAT parses");
        assert!(again.crc_ok);
        assert_eq!(Pat::parse(&again, 0).expect("PAT"), pat);
    }
    if let Ok(pmt) = Pmt::parse(&s, 0) {
        if pmt
            .streams
            .iter()
            .all(|x| x.descriptors.iter().all(|d| d.data.len() < 256))
        {
            let b = pmt.encode();
            if b.len() <= 1024 {
                let again = psi::parse_section(&b, 0).expect("encoded PMT parses");
                assert!(again.crc_ok);
                let back = Pmt::parse(&again, 0).expect("PMT");
                assert_eq!(back.streams.len(), pmt.streams.len());
            }
        }
        for st in &pmt.streams {
            let _ = st.language();
            let _ = st.registration();
        }
    }
});
