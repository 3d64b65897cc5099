//! MPEG audio frame headers (ISO/IEC 11172-3 2.4.1.3, ISO/IEC 13818-3 for MPEG-2 and the
//! unofficial MPEG-2.5 extension), Xing/Info and VBRI headers, ID3v2/ID3v1 tag helpers, and
//! the CRC-16 of protected Layer III frames (11172-3 2.4.3.1).
//!
//! ```text
//! syncword 11 bits (all 1) | version 2 (00 = 2.5, 10 = 2, 11 = 1) | layer 2 (01 = III, 10 = II,
//! 11 = I) | protection_bit 1 (0 = CRC follows) | bitrate_index 4 | sampling_frequency 2 |
//! padding_bit 1 | private_bit 1 | mode 2 | mode_extension 2 | copyright 1 | original 1 |
//! emphasis 2
//! ```
//!
//! Known gaps: free-format streams (bitrate index 0) are refused; the CRC check covers
//! Layer III only (Layers I and II protect bit-allocation fields whose length needs parsing
//! of the audio data).

use crate::formats::error::{FormatError, Problem};

/// Size of an MPEG audio frame header.
pub const HEADER_LEN: usize = 4;
/// Size of an ID3v1 tag (`TAG` + 125 bytes) at the end of a file.
pub const ID3V1_LEN: u64 = 128;

/// MPEG audio version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// MPEG-1 (11172-3).
    Mpeg1,
    /// MPEG-2 low sampling frequencies (13818-3).
    Mpeg2,
    /// MPEG-2.5 (unofficial, 8 to 12 kHz).
    Mpeg25,
}

/// Channel mode (`mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelMode {
    /// Two independent channels.
    Stereo,
    /// Joint stereo (intensity / MS).
    JointStereo,
    /// Two mono channels.
    DualChannel,
    /// One channel.
    Mono,
}

/// Bitrates in kbit/s by bitrate_index (11172-3 Table 2.4.2.3; 13818-3 Table 2.4.2.3).
const BITRATES: [[u16; 15]; 5] = [
    // MPEG-1 Layer I
    [
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
    ],
    // MPEG-1 Layer II
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
    ],
    // MPEG-1 Layer III
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ],
    // MPEG-2/2.5 Layer I
    [
        0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
    ],
    // MPEG-2/2.5 Layers II and III
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

/// Sample rates by sampling_frequency index, per version.
const SAMPLE_RATES: [[u32; 3]; 3] = [
    [44100, 48000, 32000],
    [22050, 24000, 16000],
    [11025, 12000, 8000],
];

/// A parsed, valid MPEG audio frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// MPEG version.
    pub version: Version,
    /// Layer: 1, 2 or 3.
    pub layer: u8,
    /// True when a 16-bit CRC follows the header (`protection_bit` = 0).
    pub crc: bool,
    /// Bitrate in kbit/s.
    pub bitrate_kbps: u32,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// `padding_bit`.
    pub padding: bool,
    /// `private_bit`.
    pub private: bool,
    /// Channel mode.
    pub mode: ChannelMode,
    /// `mode_extension`.
    pub mode_extension: u8,
    /// `copyright`.
    pub copyright: bool,
    /// `original`.
    pub original: bool,
    /// `emphasis` (2 is reserved and refused).
    pub emphasis: u8,
}

impl FrameHeader {
    /// Parses the 4-byte header at the start of `data`; `offset` is its absolute position.
    pub fn parse(data: &[u8], offset: u64) -> Result<FrameHeader, FormatError> {
        let Some(h) = data.get(..HEADER_LEN) else {
            return Err(FormatError::new(
                "mp3",
                offset,
                Problem::Truncated {
                    what: "frame header",
                    need: (HEADER_LEN - data.len()) as u64,
                },
            ));
        };
        let v = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        let bad = |field: &'static str, value: u32, at: u64| {
            FormatError::new(
                "mp3",
                offset + at,
                Problem::BadValue {
                    field,
                    value: u64::from(value),
                },
            )
        };
        if v >> 21 != 0x7ff {
            return Err(bad("frame sync", v >> 21, 0));
        }
        let version = match (v >> 19) & 3 {
            0 => Version::Mpeg25,
            2 => Version::Mpeg2,
            3 => Version::Mpeg1,
            x => return Err(bad("version", x, 1)),
        };
        let layer = match (v >> 17) & 3 {
            1 => 3,
            2 => 2,
            3 => 1,
            x => return Err(bad("layer", x, 1)),
        };
        let crc = (v >> 16) & 1 == 0;
        let bitrate_index = (v >> 12) & 15;
        if bitrate_index == 0 {
            return Err(FormatError::new(
                "mp3",
                offset + 2,
                Problem::Unsupported("free-format bitrate".into()),
            ));
        }
        if bitrate_index == 15 {
            return Err(bad("bitrate_index", 15, 2));
        }
        let sr_index = (v >> 10) & 3;
        if sr_index == 3 {
            return Err(bad("sampling_frequency", 3, 2));
        }
        let emphasis = (v & 3) as u8;
        if emphasis == 2 {
            return Err(bad("emphasis", 2, 3));
        }
        let table = match (version, layer) {
            (Version::Mpeg1, l) => usize::from(l - 1),
            (_, 1) => 3,
            _ => 4,
        };
        let vi = match version {
            Version::Mpeg1 => 0,
            Version::Mpeg2 => 1,
            Version::Mpeg25 => 2,
        };
        Ok(FrameHeader {
            version,
            layer,
            crc,
            bitrate_kbps: u32::from(BITRATES[table][bitrate_index as usize]),
            sample_rate: SAMPLE_RATES[vi][sr_index as usize],
            padding: (v >> 9) & 1 == 1,
            private: (v >> 8) & 1 == 1,
            mode: match (v >> 6) & 3 {
                0 => ChannelMode::Stereo,
                1 => ChannelMode::JointStereo,
                2 => ChannelMode::DualChannel,
                _ => ChannelMode::Mono,
            },
            mode_extension: ((v >> 4) & 3) as u8,
            copyright: (v >> 3) & 1 == 1,
            original: (v >> 2) & 1 == 1,
            emphasis,
        })
    }

    /// True when `data` starts with a valid header (cheap check for scanners).
    pub fn is_valid(data: &[u8]) -> bool {
        Self::parse(data, 0).is_ok()
    }

    /// Channels: 1 for mono, else 2.
    pub fn channels(&self) -> u32 {
        if self.mode == ChannelMode::Mono {
            1
        } else {
            2
        }
    }

    /// Samples per channel in one frame: 384 (Layer I), 1152 (Layer II, MPEG-1 Layer III),
    /// 576 (MPEG-2/2.5 Layer III).
    pub fn samples_per_frame(&self) -> u32 {
        match (self.layer, self.version) {
            (1, _) => 384,
            (2, _) => 1152,
            (_, Version::Mpeg1) => 1152,
            _ => 576,
        }
    }

    /// The whole frame's length in bytes, header included.
    pub fn frame_len(&self) -> usize {
        let br = self.bitrate_kbps as usize * 1000;
        let sr = self.sample_rate as usize;
        let pad = usize::from(self.padding);
        match self.layer {
            1 => (12 * br / sr + pad) * 4,
            2 => 144 * br / sr + pad,
            _ => {
                if self.version == Version::Mpeg1 {
                    144 * br / sr + pad
                } else {
                    72 * br / sr + pad
                }
            }
        }
    }

    /// Bytes of Layer III side information after the header (and CRC).
    pub fn side_info_len(&self) -> usize {
        match (self.version, self.mode) {
            (Version::Mpeg1, ChannelMode::Mono) => 17,
            (Version::Mpeg1, _) => 32,
            (_, ChannelMode::Mono) => 9,
            _ => 17,
        }
    }

    /// The header as 4 bytes (the inverse of [`FrameHeader::parse`]).
    pub fn to_bytes(&self) -> [u8; 4] {
        let version = match self.version {
            Version::Mpeg25 => 0,
            Version::Mpeg2 => 2,
            Version::Mpeg1 => 3,
        };
        let layer = 4 - u32::from(self.layer);
        let table = match (self.version, self.layer) {
            (Version::Mpeg1, l) => usize::from(l - 1),
            (_, 1) => 3,
            _ => 4,
        };
        let bi = BITRATES[table]
            .iter()
            .position(|&b| u32::from(b) == self.bitrate_kbps)
            .unwrap_or(0) as u32;
        let vi = match self.version {
            Version::Mpeg1 => 0,
            Version::Mpeg2 => 1,
            Version::Mpeg25 => 2,
        };
        let si = SAMPLE_RATES[vi]
            .iter()
            .position(|&r| r == self.sample_rate)
            .unwrap_or(3) as u32;
        let mode = match self.mode {
            ChannelMode::Stereo => 0,
            ChannelMode::JointStereo => 1,
            ChannelMode::DualChannel => 2,
            ChannelMode::Mono => 3,
        };
        let v = 0x7ffu32 << 21
            | version << 19
            | layer << 17
            | u32::from(!self.crc) << 16
            | bi << 12
            | si << 10
            | u32::from(self.padding) << 9
            | u32::from(self.private) << 8
            | mode << 6
            | u32::from(self.mode_extension & 3) << 4
            | u32::from(self.copyright) << 3
            | u32::from(self.original) << 2
            | u32::from(self.emphasis & 3);
        v.to_be_bytes()
    }

    /// For a protected Layer III frame, whether its CRC matches (CRC-16, polynomial 0x8005,
    /// initial 0xFFFF, over header bytes 2 and 3 and the side information); `None` when the
    /// frame is unprotected, not Layer III, or too short to check.
    pub fn check_crc(&self, frame: &[u8]) -> Option<bool> {
        if !self.crc || self.layer != 3 {
            return None;
        }
        let side = frame.get(6..6 + self.side_info_len())?;
        let stored = u16::from_be_bytes([*frame.get(4)?, *frame.get(5)?]);
        let c = crc16(crc16(0xffff, frame.get(2..4)?), side);
        Some(c == stored)
    }
}

/// CRC-16 with polynomial 0x8005, MSB first, no reflection, no final XOR (MPEG audio and
/// ADTS); feed `0xffff` as the first `crc`.
pub fn crc16(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Which VBR header a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VbrKind {
    /// `Xing` (VBR).
    Xing,
    /// `Info` (the same layout, written by LAME for CBR files).
    Info,
    /// Fraunhofer `VBRI`.
    Vbri,
}

/// A Xing/Info/VBRI header found in the first frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VbrHeader {
    /// Which header.
    pub kind: VbrKind,
    /// Number of frames in the file (Xing: excluding this one), when given.
    pub frames: Option<u32>,
    /// Number of bytes in the file, when given.
    pub bytes: Option<u32>,
}

impl VbrHeader {
    /// Looks for a Xing/Info header after the side information, or a VBRI header 32 bytes
    /// after the header, in `frame` (a whole frame starting with `header`).
    pub fn find(header: &FrameHeader, frame: &[u8]) -> Option<VbrHeader> {
        let at = HEADER_LEN + if header.crc { 2 } else { 0 } + header.side_info_len();
        if header.layer == 3 {
            if let Some(tag) = frame.get(at..at + 8) {
                let kind = match &tag[..4] {
                    b"Xing" => Some(VbrKind::Xing),
                    b"Info" => Some(VbrKind::Info),
                    _ => None,
                };
                if let Some(kind) = kind {
                    let flags = u32::from_be_bytes([tag[4], tag[5], tag[6], tag[7]]);
                    let mut p = at + 8;
                    let mut field = |present: bool| -> Option<u32> {
                        if !present {
                            return None;
                        }
                        let b = frame.get(p..p + 4)?;
                        p += 4;
                        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    };
                    let frames = field(flags & 1 != 0);
                    let bytes = field(flags & 2 != 0);
                    return Some(VbrHeader {
                        kind,
                        frames,
                        bytes,
                    });
                }
            }
        }
        let v = frame.get(36..36 + 18)?;
        if &v[..4] == b"VBRI" {
            return Some(VbrHeader {
                kind: VbrKind::Vbri,
                bytes: Some(u32::from_be_bytes([v[10], v[11], v[12], v[13]])),
                frames: Some(u32::from_be_bytes([v[14], v[15], v[16], v[17]])),
            });
        }
        None
    }
}

/// An ID3v2 tag header (id3.org ID3v2.4.0-structure 3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Id3v2Header {
    /// Major version (3 or 4 usually).
    pub major: u8,
    /// Revision.
    pub revision: u8,
    /// Flags byte (bit 4: footer present).
    pub flags: u8,
    /// Size of the tag body (synchsafe decoded), excluding header and footer.
    pub size: u32,
}

impl Id3v2Header {
    /// Parses `ID3` + version + flags + synchsafe size at the start of `data`; `Ok(None)`
    /// when `data` does not start with `ID3`.
    pub fn parse(data: &[u8], offset: u64) -> Result<Option<Id3v2Header>, FormatError> {
        if data.len() < 3 || &data[..3] != b"ID3" {
            return Ok(None);
        }
        let Some(h) = data.get(..10) else {
            return Err(FormatError::new(
                "id3v2",
                offset,
                Problem::Truncated {
                    what: "ID3v2 header",
                    need: (10 - data.len()) as u64,
                },
            ));
        };
        if h[3] == 0xff || h[4] == 0xff {
            return Err(FormatError::new(
                "id3v2",
                offset + 3,
                Problem::BadValue {
                    field: "ID3v2 version",
                    value: u64::from(h[3]),
                },
            ));
        }
        let mut size = 0u32;
        for (i, &b) in h[6..10].iter().enumerate() {
            if b & 0x80 != 0 {
                return Err(FormatError::new(
                    "id3v2",
                    offset + 6 + i as u64,
                    Problem::BadValue {
                        field: "ID3v2 synchsafe size",
                        value: u64::from(b),
                    },
                ));
            }
            size = (size << 7) | u32::from(b);
        }
        Ok(Some(Id3v2Header {
            major: h[3],
            revision: h[4],
            flags: h[5],
            size,
        }))
    }

    /// True when a 10-byte footer follows the tag.
    pub fn has_footer(&self) -> bool {
        self.flags & 0x10 != 0
    }

    /// Bytes the whole tag occupies: header + body + optional footer.
    pub fn total_len(&self) -> u64 {
        10 + u64::from(self.size) + if self.has_footer() { 10 } else { 0 }
    }
}

/// True when `tail` (the last 128 bytes of a file) is an ID3v1 tag.
pub fn is_id3v1(tail: &[u8]) -> bool {
    tail.len() as u64 == ID3V1_LEN && tail.starts_with(b"TAG")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_ff_fb_90_64() {
        // Hand decode: FFFB = sync, 11 (MPEG-1), 01 (Layer III), 1 (no CRC);
        // 90 = 1001 (128 kbit/s, Table 2.4.2.3 Layer III) 00 (44100) 0 (no padding) 0;
        // 64 = 01 (joint stereo) 10 (mode ext) 0 1 (original) 00.
        // Frame length = floor(144 × 128000 / 44100) = 417; 1152 samples.
        let h = FrameHeader::parse(&[0xff, 0xfb, 0x90, 0x64], 0).unwrap();
        assert_eq!(h.version, Version::Mpeg1);
        assert_eq!(h.layer, 3);
        assert!(!h.crc);
        assert_eq!(h.bitrate_kbps, 128);
        assert_eq!(h.sample_rate, 44100);
        assert_eq!(h.mode, ChannelMode::JointStereo);
        assert_eq!(h.mode_extension, 2);
        assert!(h.original);
        assert_eq!(h.channels(), 2);
        assert_eq!(h.frame_len(), 417);
        assert_eq!(h.samples_per_frame(), 1152);
        assert_eq!(h.to_bytes(), [0xff, 0xfb, 0x90, 0x64]);
    }

    #[test]
    fn mpeg2_and_layer_tables() {
        // FF F3 = MPEG-2 Layer III no CRC; 0x48 = 0100 (32 kbit/s in the MPEG-2 L3 table)
        // 10 (16000) 0 0; 0xc4 = 11 (mono) ... Frame = floor(72 × 32000 / 16000) = 144.
        let h = FrameHeader::parse(&[0xff, 0xf3, 0x48, 0xc4], 0).unwrap();
        assert_eq!(
            (h.version, h.bitrate_kbps, h.sample_rate),
            (Version::Mpeg2, 32, 16000)
        );
        assert_eq!(
            (h.channels(), h.samples_per_frame(), h.frame_len()),
            (1, 576, 144)
        );
        // FF FC = MPEG-1 Layer II with CRC (protection_bit 0); 0xa2 = 1010 (192 kbit/s L2) 00 (44100) 1 (pad) 0:
        // floor(144 × 192000 / 44100) + 1 = 626 + 1 = 627.
        let h = FrameHeader::parse(&[0xff, 0xfc, 0xa2, 0x00], 0).unwrap();
        assert!(h.crc);
        assert_eq!((h.layer, h.bitrate_kbps, h.frame_len()), (2, 192, 627));
        // FF FF = MPEG-1 Layer I; 0x10 = 0001 (32 kbit/s) 00 (44100): (12 × 32000 / 44100) × 4 = 32.
        let h = FrameHeader::parse(&[0xff, 0xff, 0x10, 0x00], 0).unwrap();
        assert_eq!(
            (h.layer, h.frame_len(), h.samples_per_frame()),
            (1, 32, 384)
        );
        // MPEG-2.5: FF E3 + 0x18 = 0001 (8 kbit/s) 10 (8000): 72 × 8000 / 8000 = 72.
        let h = FrameHeader::parse(&[0xff, 0xe3, 0x18, 0xc0], 0).unwrap();
        assert_eq!(
            (h.version, h.sample_rate, h.frame_len()),
            (Version::Mpeg25, 8000, 72)
        );
    }

    #[test]
    fn refuses_free_format_and_reserved_values() {
        let e = FrameHeader::parse(&[0xff, 0xfb, 0x00, 0x64], 10).unwrap_err();
        assert!(e.to_string().contains("free-format"), "{e}");
        assert_eq!(e.offset, 12);
        assert!(FrameHeader::parse(&[0xff, 0xfb, 0xf0, 0x64], 0).is_err()); // bitrate 15
        assert!(FrameHeader::parse(&[0xff, 0xfb, 0x9c, 0x64], 0).is_err()); // rate 3
        assert!(FrameHeader::parse(&[0xff, 0xeb, 0x90, 0x64], 0).is_err()); // version 01
        assert!(FrameHeader::parse(&[0xff, 0xf9, 0x90, 0x64], 0).is_err()); // layer 00
        assert!(FrameHeader::parse(&[0xff, 0xfb, 0x90], 0)
            .unwrap_err()
            .is_truncation());
    }

    #[test]
    fn crc16_known_value() {
        // CRC-16/CMS check value (poly 0x8005, init 0xFFFF, no reflection, no xorout)
        // for "123456789" is 0xAEE7 (the reveng catalogue).
        assert_eq!(crc16(0xffff, b"123456789"), 0xaee7);
    }

    #[test]
    fn id3v2_synchsafe_size_and_footer() {
        // Size bytes 00 00 02 01 = (2 << 7) | 1 = 257; no footer: 267 bytes in all.
        let h = Id3v2Header::parse(b"ID3\x04\x00\x00\x00\x00\x02\x01", 0)
            .unwrap()
            .unwrap();
        assert_eq!((h.major, h.size, h.total_len()), (4, 257, 267));
        let h = Id3v2Header::parse(b"ID3\x04\x00\x10\x00\x00\x00\x0a", 0)
            .unwrap()
            .unwrap();
        assert_eq!(h.total_len(), 30);
        assert!(Id3v2Header::parse(b"ID3\x04\x00\x00\x00\x80\x00\x00", 0).is_err());
        assert_eq!(Id3v2Header::parse(b"\xff\xfb\x90\x64", 0).unwrap(), None);
        assert!(Id3v2Header::parse(b"ID3\x04", 0)
            .unwrap_err()
            .is_truncation());
        let mut tail = vec![0u8; 128];
        tail[..3].copy_from_slice(b"TAG");
        assert!(is_id3v1(&tail));
    }

    #[test]
    fn xing_header_found_after_side_info() {
        // MPEG-1 stereo: side info 32 bytes, so "Xing" at 4 + 32 = 36; flags 3 (frames,
        // bytes), frames 100, bytes 41700.
        let h = FrameHeader::parse(&[0xff, 0xfb, 0x90, 0x64], 0).unwrap();
        let mut f = vec![0u8; h.frame_len()];
        f[..4].copy_from_slice(&[0xff, 0xfb, 0x90, 0x64]);
        f[36..40].copy_from_slice(b"Xing");
        f[40..44].copy_from_slice(&3u32.to_be_bytes());
        f[44..48].copy_from_slice(&100u32.to_be_bytes());
        f[48..52].copy_from_slice(&41700u32.to_be_bytes());
        let v = VbrHeader::find(&h, &f).unwrap();
        assert_eq!(
            v,
            VbrHeader {
                kind: VbrKind::Xing,
                frames: Some(100),
                bytes: Some(41700)
            }
        );
        f[36..40].copy_from_slice(b"Info");
        assert_eq!(VbrHeader::find(&h, &f).unwrap().kind, VbrKind::Info);
        f[36..40].copy_from_slice(b"abcd");
        assert_eq!(VbrHeader::find(&h, &f), None);
    }
}
