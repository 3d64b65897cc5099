//! MPEG audio header, VBR header and ID3 helpers on arbitrary bytes: never panic; a parsed
//! header writes back to the same 4 bytes and gives a frame length above the header size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::codec::mp3::{FrameHeader, Id3v2Header, VbrHeader};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = FrameHeader::parse(data, 0) {
        assert_eq!(&h.to_bytes()[..], &data[..4]);
        assert!(h.frame_len() > 4);
        let _ = VbrHeader::find(&h, data);
        let _ = h.check_crc(data);
    }
    if let Ok(Some(t)) = Id3v2Header::parse(data, 0) {
        assert!(t.total_len() >= 10);
    }
});
