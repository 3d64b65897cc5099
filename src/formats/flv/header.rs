//! The FLV file header (FLV v10.1, Annex E.2) and the `PreviousTagSize0` after it.
//!
//! ```text
//! 'F' 'L' 'V'   signature
//! UI8           version (1)
//! UI8           flags: bits 7..3 reserved (0), bit 2 TypeFlagsAudio, bit 1 reserved, bit 0 TypeFlagsVideo
//! UI32 BE       DataOffset: header length (9 in version 1)
//! ```
//!
//! Players ignore the flags, and so does the reader (streams are found from the tags); the
//! muxer sets them from the tracks it writes.

use bytes::BufMut;

use crate::formats::error::FormatError;
use crate::io::Cursor;

/// Bytes in a version-1 header.
pub const HEADER_LEN: u32 = 9;
/// The `TypeFlagsAudio` bit.
pub const FLAG_AUDIO: u8 = 0x04;
/// The `TypeFlagsVideo` bit.
pub const FLAG_VIDEO: u8 = 0x01;
/// A `DataOffset` beyond this is refused (nothing but padding could fill it).
pub const MAX_DATA_OFFSET: u32 = 1 << 20;

/// A parsed FLV header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// File version (1 for every FLV in the wild).
    pub version: u8,
    /// The raw flags byte.
    pub flags: u8,
    /// Offset of `PreviousTagSize0` (= the header length).
    pub data_offset: u32,
}

impl Header {
    /// A version-1 header for a file with audio and/or video.
    pub fn new(audio: bool, video: bool) -> Header {
        Header {
            version: 1,
            flags: if audio { FLAG_AUDIO } else { 0 } | if video { FLAG_VIDEO } else { 0 },
            data_offset: HEADER_LEN,
        }
    }

    /// Parses the 9-byte header; the signature must be `FLV` and `DataOffset` at least 9.
    pub fn parse(c: &mut Cursor) -> Result<Header, FormatError> {
        let sig = c.slice(3, "FLV signature")?;
        if sig != b"FLV" {
            let v = u64::from(sig[0]) << 16 | u64::from(sig[1]) << 8 | u64::from(sig[2]);
            return Err(c.bad_value("FLV signature", v, 3));
        }
        let version = c.u8("FLV version")?;
        let flags = c.u8("FLV header flags")?;
        let data_offset = c.u32("FLV DataOffset")?;
        if !(HEADER_LEN..=MAX_DATA_OFFSET).contains(&data_offset) {
            return Err(c.bad_value("FLV DataOffset", u64::from(data_offset), 4));
        }
        Ok(Header {
            version,
            flags,
            data_offset,
        })
    }

    /// True when the header claims audio.
    pub fn has_audio(&self) -> bool {
        self.flags & FLAG_AUDIO != 0
    }

    /// True when the header claims video.
    pub fn has_video(&self) -> bool {
        self.flags & FLAG_VIDEO != 0
    }

    /// Appends the 9-byte header (a `data_offset` other than 9 is written as 9: mist never pads).
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_slice(b"FLV");
        out.put_u8(self.version);
        out.put_u8(self.flags);
        out.put_u32(HEADER_LEN);
    }
}

/// True when `head` starts like an FLV file: signature, a small version, reserved flag bits
/// clear and a sane `DataOffset` (the checks of FFmpeg's `flv_probe`).
pub fn looks_like_flv(head: &[u8]) -> bool {
    match head {
        [b'F', b'L', b'V', version, flags, o0, o1, o2, o3, ..] => {
            let offset = u32::from_be_bytes([*o0, *o1, *o2, *o3]);
            *version > 0 && *version < 5 && flags & 0xF8 == 0 && offset >= HEADER_LEN
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_hand_computed() {
        // 'F' 'L' 'V', version 1, flags audio|video = 0b101, DataOffset 9.
        let want = [0x46, 0x4c, 0x56, 0x01, 0x05, 0, 0, 0, 9];
        let mut got = Vec::new();
        Header::new(true, true).write(&mut got);
        assert_eq!(got, want);
        let h = Header::parse(&mut Cursor::from_slice(&want, 0, "flv")).unwrap();
        assert!(h.has_audio() && h.has_video());
        assert!(looks_like_flv(&want));
    }

    #[test]
    fn bad_signature_and_offset_name_the_field() {
        let e =
            Header::parse(&mut Cursor::from_slice(b"FLX\x01\x05\0\0\0\x09", 0, "flv")).unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.to_string().contains("FLV signature"), "{e}");
        let e =
            Header::parse(&mut Cursor::from_slice(b"FLV\x01\x05\0\0\0\x03", 0, "flv")).unwrap_err();
        assert_eq!(e.offset, 5);
    }
}
