//! Smooth Streaming's own boxes inside a `traf` ([MS-SSTR] 2.2.4.4–2.2.4.5): `uuid` boxes
//! with version and flags.
//!
//! ```text
//! tfxd  uuid 6D1D9B05-42D5-44E6-80E2-141DAFF757B2, version u8, flags u24,
//!       FragmentAbsoluteTime, FragmentDuration (u64 each in version 1, u32 in version 0)
//! tfrf  uuid D4807EF2-CA39-4695-8E54-26CB9E46A79F, version u8, flags u24,
//!       FragmentCount u8, { FragmentAbsoluteTime, FragmentDuration } (u64 or u32)
//! ```
//! (MS-SSTR's prose calls `FragmentCount` 4 bytes wide; its ABNF, FFmpeg's `movenc`, mp4box.js
//! and MistServer all use one byte, which is what players read.)

use crate::formats::error::{FormatError, Problem};
use crate::formats::mp4::boxes::Writer;
use crate::io::Cursor;

/// `tfxd`'s extended type.
pub const TFXD_UUID: [u8; 16] = [
    0x6D, 0x1D, 0x9B, 0x05, 0x42, 0xD5, 0x44, 0xE6, 0x80, 0xE2, 0x14, 0x1D, 0xAF, 0xF7, 0x57, 0xB2,
];
/// `tfrf`'s extended type.
pub const TFRF_UUID: [u8; 16] = [
    0xD4, 0x80, 0x7E, 0xF2, 0xCA, 0x39, 0x46, 0x95, 0x8E, 0x54, 0x26, 0xCB, 0x9E, 0x46, 0xA7, 0x9F,
];

/// A fragment's absolute time and duration (`tfxd`), or one announced by `tfrf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentTime {
    /// `FragmentAbsoluteTime`.
    pub time: u64,
    /// `FragmentDuration`.
    pub duration: u64,
}

/// Writes a `tfxd` (version 1).
pub fn write_tfxd(w: &mut Writer, f: FragmentTime) {
    w.begin(b"uuid");
    w.bytes(&TFXD_UUID);
    w.u32(1 << 24);
    w.u64(f.time);
    w.u64(f.duration);
    w.end();
}

/// Writes a `tfrf` (version 1) announcing `next` (at most 255).
pub fn write_tfrf(w: &mut Writer, next: &[FragmentTime]) {
    w.begin(b"uuid");
    w.bytes(&TFRF_UUID);
    w.u32(1 << 24);
    let n = next.len().min(255);
    w.u8(n as u8);
    for f in &next[..n] {
        w.u64(f.time);
        w.u64(f.duration);
    }
    w.end();
}

fn pair(c: &mut Cursor, version: u8) -> Result<FragmentTime, FormatError> {
    Ok(if version == 1 {
        FragmentTime {
            time: c.u64("FragmentAbsoluteTime")?,
            duration: c.u64("FragmentDuration")?,
        }
    } else {
        FragmentTime {
            time: u64::from(c.u32("FragmentAbsoluteTime")?),
            duration: u64::from(c.u32("FragmentDuration")?),
        }
    })
}

/// Parses a `tfxd` body (after the extended type).
pub fn parse_tfxd(c: &mut Cursor) -> Result<FragmentTime, FormatError> {
    let v = c.u32("tfxd version and flags")?;
    pair(c, (v >> 24) as u8)
}

/// Parses a `tfrf` body (after the extended type).
pub fn parse_tfrf(c: &mut Cursor) -> Result<Vec<FragmentTime>, FormatError> {
    let v = c.u32("tfrf version and flags")?;
    let version = (v >> 24) as u8;
    let n = c.u8("FragmentCount")?;
    let each = if version == 1 { 16 } else { 8 };
    if c.remaining() < usize::from(n) * each {
        return Err(c.error(Problem::Truncated {
            what: "tfrf entries",
            need: (usize::from(n) * each - c.remaining()) as u64,
        }));
    }
    (0..n).map(|_| pair(c, version)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tfxd_layout_hand_computed() {
        let mut w = Writer::new();
        write_tfxd(
            &mut w,
            FragmentTime {
                time: 20_000_000,
                duration: 20_000_000,
            },
        );
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            0, 0, 0, 44, b'u', b'u', b'i', b'd',          // 8 + 16 + 4 + 16 = 44
            0x6D, 0x1D, 0x9B, 0x05, 0x42, 0xD5, 0x44, 0xE6,
            0x80, 0xE2, 0x14, 0x1D, 0xAF, 0xF7, 0x57, 0xB2, // MS-SSTR 2.2.4.4 TfxdBoxUUID
            1, 0, 0, 0,                                     // version 1, flags 0
            0, 0, 0, 0, 0x01, 0x31, 0x2D, 0x00,             // FragmentAbsoluteTime 2 s
            0, 0, 0, 0, 0x01, 0x31, 0x2D, 0x00,             // FragmentDuration 2 s
        ];
        assert_eq!(w.buf, want);
        let back = parse_tfxd(&mut Cursor::from_slice(&want[24..], 24, "smooth")).unwrap();
        assert_eq!(back.time, 20_000_000);
        // Version 0: 32-bit fields.
        let v0 = [0u8, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 7];
        let back = parse_tfxd(&mut Cursor::from_slice(&v0, 0, "smooth")).unwrap();
        assert_eq!((back.time, back.duration), (5, 7));
    }

    #[test]
    fn tfrf_layout_hand_computed() {
        let mut w = Writer::new();
        let next = [
            FragmentTime {
                time: 40_000_000,
                duration: 20_000_000,
            },
            FragmentTime {
                time: 60_000_000,
                duration: 19_000_000,
            },
        ];
        write_tfrf(&mut w, &next);
        #[rustfmt::skip]
        let head: Vec<u8> = vec![
            0, 0, 0, 61, b'u', b'u', b'i', b'd',          // 8 + 16 + 4 + 1 + 2 * 16 = 61
            0xD4, 0x80, 0x7E, 0xF2, 0xCA, 0x39, 0x46, 0x95,
            0x8E, 0x54, 0x26, 0xCB, 0x9E, 0x46, 0xA7, 0x9F, // MS-SSTR 2.2.4.5 TfrfBoxUUID
            1, 0, 0, 0,                                     // version 1, flags 0
            2,                                              // FragmentCount (one byte)
            0, 0, 0, 0, 0x02, 0x62, 0x5A, 0x00,             // 4 s
        ];
        assert_eq!(&w.buf[..head.len()], &head[..]);
        assert_eq!(w.buf.len(), 61);
        let back = parse_tfrf(&mut Cursor::from_slice(&w.buf[24..], 24, "smooth")).unwrap();
        assert_eq!(back, next.to_vec());
        // A count with nothing behind it.
        assert!(parse_tfrf(&mut Cursor::from_slice(&[1, 0, 0, 0, 200], 0, "smooth")).is_err());
    }
}
