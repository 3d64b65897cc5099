//! The AAC raw_data_block walker and ADTS frame CRC check: never panic, never read past the
//! input, and element spans stay ordered inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::codec::aac::frame::AdtsFrame;
use mist::codec::aac::syntax::{parse_raw_data_block, BlockConfig};
use mist::codec::aac::AdtsHeader;
use mist::io::BitReader;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let config = BlockConfig {
        object_type: 1 + (selector & 3),
        sf_index: (selector >> 2) % 13,
    };
    let mut r = BitReader::new(rest, 0, "aac");
    if let Ok(block) = parse_raw_data_block(&mut r, config) {
        assert!(block.end <= rest.len() * 8);
        let mut last = 0;
        for e in &block.elements {
            assert!(last <= e.start && e.start <= e.end && e.end <= block.end);
            last = e.end;
        }
    }
    if let Ok(h) = AdtsHeader::parse(rest, 0) {
        if let Ok(frame) = AdtsFrame::parse(rest, &h, 0) {
            let _ = (frame.channels(), frame.has_sbr(), frame.crc);
        }
    }
});
