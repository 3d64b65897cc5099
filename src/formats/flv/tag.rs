//! FLV tags: the 11-byte tag header (FLV v10.1, Annex E.4.1), the audio tag header (E.4.2.1),
//! the video tag header (E.4.3.1) and its Enhanced RTMP form (veovera enhanced-rtmp v1/v2,
//! "ExVideoTagHeader").
//!
//! ```text
//! tag header (11 bytes)
//!   UI8   bits 7..6 reserved, bit 5 Filter (encrypted), bits 4..0 TagType (8 audio, 9 video, 18 script)
//!   UI24  DataSize (bytes after the header, before PreviousTagSize)
//!   UI24  Timestamp (ms, low 24 bits)
//!   UI8   TimestampExtended (the upper 8 bits of the 32-bit ms timestamp)
//!   UI24  StreamID (always 0)
//! audio tag header
//!   UB4 SoundFormat, UB2 SoundRate, UB1 SoundSize, UB1 SoundType, [UI8 AACPacketType if format 10]
//! video tag header (legacy)
//!   UB4 FrameType, UB4 CodecID, [UI8 AVCPacketType, SI24 CompositionTime if codec 7]
//! video tag header (enhanced, IsExHeader = bit 7 of the first byte)
//!   UB1 IsExHeader, UB3 FrameType, UB4 PacketType, FOURCC,
//!   [SI24 CompositionTime for avc1/hvc1 PacketType 1 (CodedFrames)]
//! ```

use bytes::BufMut;

use crate::formats::error::FormatError;
use crate::io::Cursor;

/// Bytes in a tag header.
pub const TAG_HEADER_LEN: usize = 11;
/// Bytes of the `PreviousTagSize` field after every tag.
pub const PREV_TAG_SIZE_LEN: usize = 4;
/// The largest `DataSize` a UI24 can hold.
pub const MAX_DATA_SIZE: u32 = 0xFF_FFFF;

/// The tag type (5 bits). An open set: unknown values survive parsing so `analyse` can show
/// them.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagType(pub u8);

impl TagType {
    /// Audio data.
    pub const AUDIO: TagType = TagType(8);
    /// Video data.
    pub const VIDEO: TagType = TagType(9);
    /// Script data (AMF0).
    pub const SCRIPT: TagType = TagType(18);

    /// The spec's name, or `None` for an unknown type.
    pub fn name(self) -> Option<&'static str> {
        match self {
            TagType::AUDIO => Some("audio"),
            TagType::VIDEO => Some("video"),
            TagType::SCRIPT => Some("script"),
            _ => None,
        }
    }
}

impl std::fmt::Debug for TagType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "TagType({})", self.0),
        }
    }
}

/// A parsed tag header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagHeader {
    /// The two reserved bits (should be 0).
    pub reserved: u8,
    /// The Filter bit: the body is encrypted (or otherwise pre-processed).
    pub filter: bool,
    /// What the body holds.
    pub tag_type: TagType,
    /// Bytes of body.
    pub data_size: u32,
    /// The 32-bit ms timestamp (Timestamp | TimestampExtended << 24), still wrapping.
    pub timestamp_ms: u32,
    /// The stream id (should be 0).
    pub stream_id: u32,
}

impl TagHeader {
    /// Parses an 11-byte tag header. Never fails on values; only on missing bytes.
    pub fn parse(c: &mut Cursor) -> Result<TagHeader, FormatError> {
        let b = c.u8("tag type")?;
        let data_size = c.u24("tag data size")?;
        let low = c.u24("tag timestamp")?;
        let ext = c.u8("tag timestamp extended")?;
        let stream_id = c.u24("tag stream id")?;
        Ok(TagHeader {
            reserved: b >> 6,
            filter: b & 0x20 != 0,
            tag_type: TagType(b & 0x1F),
            data_size,
            timestamp_ms: u32::from(ext) << 24 | low,
            stream_id,
        })
    }

    /// Parses a header from exactly 11 bytes (used by the index scan, which holds them in an array).
    pub fn from_bytes(b: &[u8; TAG_HEADER_LEN]) -> TagHeader {
        TagHeader {
            reserved: b[0] >> 6,
            filter: b[0] & 0x20 != 0,
            tag_type: TagType(b[0] & 0x1F),
            data_size: u32::from_be_bytes([0, b[1], b[2], b[3]]),
            timestamp_ms: u32::from_be_bytes([b[7], b[4], b[5], b[6]]),
            stream_id: u32::from_be_bytes([0, b[8], b[9], b[10]]),
        }
    }

    /// A header for a tag mist writes (no filter, stream id 0).
    pub fn new(tag_type: TagType, data_size: u32, timestamp_ms: u32) -> TagHeader {
        TagHeader {
            reserved: 0,
            filter: false,
            tag_type,
            data_size,
            timestamp_ms,
            stream_id: 0,
        }
    }

    /// Appends the 11 bytes.
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_u8(self.reserved << 6 | u8::from(self.filter) << 5 | (self.tag_type.0 & 0x1F));
        put_u24(out, self.data_size);
        put_u24(out, self.timestamp_ms & 0xFF_FFFF);
        out.put_u8((self.timestamp_ms >> 24) as u8);
        put_u24(out, self.stream_id);
    }

    /// `11 + DataSize`: what the following `PreviousTagSize` should say.
    pub fn tag_size(&self) -> u32 {
        TAG_HEADER_LEN as u32 + self.data_size
    }
}

/// Appends a big-endian 24-bit value (the low 24 bits of `v`).
pub fn put_u24(out: &mut impl BufMut, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}

/// The audio codec of an audio tag (SoundFormat, 4 bits). An open set.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SoundFormat(pub u8);

impl SoundFormat {
    /// Linear PCM, platform endian.
    pub const PCM: SoundFormat = SoundFormat(0);
    /// ADPCM (Flash).
    pub const ADPCM: SoundFormat = SoundFormat(1);
    /// MP3.
    pub const MP3: SoundFormat = SoundFormat(2);
    /// Linear PCM, little endian.
    pub const PCM_LE: SoundFormat = SoundFormat(3);
    /// Nellymoser 16 kHz mono.
    pub const NELLYMOSER_16K: SoundFormat = SoundFormat(4);
    /// Nellymoser 8 kHz mono.
    pub const NELLYMOSER_8K: SoundFormat = SoundFormat(5);
    /// Nellymoser.
    pub const NELLYMOSER: SoundFormat = SoundFormat(6);
    /// G.711 A-law.
    pub const G711_ALAW: SoundFormat = SoundFormat(7);
    /// G.711 µ-law.
    pub const G711_MULAW: SoundFormat = SoundFormat(8);
    /// Enhanced RTMP v2 ExHeader (a FourCC follows).
    pub const EX_HEADER: SoundFormat = SoundFormat(9);
    /// AAC.
    pub const AAC: SoundFormat = SoundFormat(10);
    /// Speex.
    pub const SPEEX: SoundFormat = SoundFormat(11);
    /// MP3 at 8 kHz.
    pub const MP3_8K: SoundFormat = SoundFormat(14);
    /// Device-specific sound.
    pub const DEVICE: SoundFormat = SoundFormat(15);

    /// The spec's name of the format.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "Linear PCM, platform endian",
            1 => "ADPCM",
            2 => "MP3",
            3 => "Linear PCM, little endian",
            4 => "Nellymoser 16 kHz mono",
            5 => "Nellymoser 8 kHz mono",
            6 => "Nellymoser",
            7 => "G.711 A-law",
            8 => "G.711 mu-law",
            9 => "ExHeader",
            10 => "AAC",
            11 => "Speex",
            14 => "MP3 8 kHz",
            15 => "Device-specific sound",
            _ => "reserved",
        }
    }
}

impl std::fmt::Debug for SoundFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// The audio tag header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AudioTagHeader {
    /// The codec.
    pub sound_format: SoundFormat,
    /// 0 = 5.5 kHz, 1 = 11 kHz, 2 = 22 kHz, 3 = 44 kHz (meaningless for AAC).
    pub sound_rate: u8,
    /// 0 = 8-bit, 1 = 16-bit samples.
    pub sound_size: u8,
    /// 0 = mono, 1 = stereo.
    pub sound_type: u8,
    /// AAC only: 0 = sequence header (AudioSpecificConfig), 1 = raw frame.
    pub aac_packet_type: Option<u8>,
}

impl AudioTagHeader {
    /// Parses the header at the start of an audio tag body.
    pub fn parse(c: &mut Cursor) -> Result<AudioTagHeader, FormatError> {
        let b = c.u8("audio tag flags")?;
        let sound_format = SoundFormat(b >> 4);
        let aac_packet_type = if sound_format == SoundFormat::AAC {
            Some(c.u8("AACPacketType")?)
        } else {
            None
        };
        Ok(AudioTagHeader {
            sound_format,
            sound_rate: (b >> 2) & 3,
            sound_size: (b >> 1) & 1,
            sound_type: b & 1,
            aac_packet_type,
        })
    }

    /// Bytes the header takes (1, or 2 for AAC).
    pub fn len(&self) -> usize {
        if self.aac_packet_type.is_some() {
            2
        } else {
            1
        }
    }

    /// Never true: a header has at least its flags byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The sample rate the SoundRate bits say (5512, 11025, 22050, 44100 Hz).
    pub fn rate_hz(&self) -> u32 {
        match self.sound_rate {
            0 => 5512,
            1 => 11025,
            2 => 22050,
            _ => 44100,
        }
    }

    /// The first byte: SoundFormat, SoundRate, SoundSize, SoundType.
    pub fn to_byte(&self) -> u8 {
        self.sound_format.0 << 4
            | (self.sound_rate & 3) << 2
            | (self.sound_size & 1) << 1
            | (self.sound_type & 1)
    }

    /// Appends the header.
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_u8(self.to_byte());
        if let Some(t) = self.aac_packet_type {
            out.put_u8(t);
        }
    }
}

/// Video frame types (FrameType, 3 or 4 bits).
pub mod frame_type {
    /// A keyframe (seekable frame).
    pub const KEY: u8 = 1;
    /// An inter frame.
    pub const INTER: u8 = 2;
    /// A disposable inter frame (H.263 only).
    pub const DISPOSABLE: u8 = 3;
    /// A generated keyframe (server use only).
    pub const GENERATED_KEY: u8 = 4;
    /// A video info/command frame (no picture).
    pub const INFO: u8 = 5;

    /// The spec's name.
    pub fn name(t: u8) -> &'static str {
        match t {
            KEY => "keyframe",
            INTER => "inter frame",
            DISPOSABLE => "disposable inter frame",
            GENERATED_KEY => "generated keyframe",
            INFO => "video info/command frame",
            _ => "reserved frame type",
        }
    }
}

/// The legacy CodecID of a video tag (4 bits).
pub mod codec_id {
    /// Sorenson H.263.
    pub const H263: u8 = 2;
    /// Screen video.
    pub const SCREEN: u8 = 3;
    /// On2 VP6.
    pub const VP6: u8 = 4;
    /// On2 VP6 with alpha channel.
    pub const VP6_ALPHA: u8 = 5;
    /// Screen video version 2.
    pub const SCREEN2: u8 = 6;
    /// AVC (H.264).
    pub const AVC: u8 = 7;
    /// HEVC, as Chinese CDNs and FFmpeg's fork patches write it (not in the Adobe spec).
    pub const HEVC_NONSTANDARD: u8 = 12;

    /// A readable name.
    pub fn name(id: u8) -> &'static str {
        match id {
            1 => "JPEG",
            H263 => "Sorenson H.263",
            SCREEN => "Screen video",
            VP6 => "On2 VP6",
            VP6_ALPHA => "On2 VP6 with alpha",
            SCREEN2 => "Screen video v2",
            AVC => "AVC",
            HEVC_NONSTANDARD => "HEVC (non-standard id 12)",
            _ => "reserved codec id",
        }
    }
}

/// What a video tag's body holds, from AVCPacketType or the enhanced PacketType.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoPacket {
    /// A decoder configuration record (avcC, hvcC ...).
    SequenceStart,
    /// Coded frames (with a composition time for AVC/HEVC).
    CodedFrames,
    /// End of the sequence; no frame.
    SequenceEnd,
    /// Enhanced PacketType 4: AMF metadata (HDR colour info).
    Metadata,
    /// Enhanced PacketType 5: an MPEG-2 TS style sequence start (AV1 descriptor).
    Mpeg2TsSequenceStart,
    /// Enhanced PacketType 6 (multitrack) or 7 (ModEx), or a reserved value.
    Unsupported(u8),
    /// A codec without packet types (H.263, VP6 ...): the body is a frame.
    Frame,
}

/// The codec a video tag names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    /// A legacy 4-bit CodecID.
    Legacy(u8),
    /// An Enhanced RTMP FourCC (`avc1`, `hvc1`, `av01`, `vp09`).
    FourCc([u8; 4]),
}

/// The FourCC of H.264 in Enhanced RTMP.
pub const FOURCC_AVC1: [u8; 4] = *b"avc1";
/// The FourCC of HEVC in Enhanced RTMP.
pub const FOURCC_HVC1: [u8; 4] = *b"hvc1";
/// The FourCC of AV1 in Enhanced RTMP.
pub const FOURCC_AV01: [u8; 4] = *b"av01";
/// The FourCC of VP9 in Enhanced RTMP.
pub const FOURCC_VP09: [u8; 4] = *b"vp09";

impl VideoCodec {
    /// A readable name.
    pub fn name(&self) -> String {
        match self {
            VideoCodec::Legacy(id) => codec_id::name(*id).to_string(),
            VideoCodec::FourCc(f) => String::from_utf8_lossy(f).into_owned(),
        }
    }
}

/// The video tag header, legacy or enhanced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoTagHeader {
    /// True for the Enhanced RTMP form.
    pub ex_header: bool,
    /// The FrameType.
    pub frame_type: u8,
    /// The codec.
    pub codec: VideoCodec,
    /// What the body holds.
    pub packet: VideoPacket,
    /// The raw AVCPacketType / PacketType, when there is one.
    pub packet_type: Option<u8>,
    /// CompositionTime in ms (signed 24-bit), 0 when the form has none.
    pub composition_time: i32,
    /// Bytes the header takes.
    pub len: usize,
}

impl VideoTagHeader {
    /// Parses the header at the start of a video tag body.
    pub fn parse(c: &mut Cursor) -> Result<VideoTagHeader, FormatError> {
        let start = c.pos();
        let b = c.u8("video tag flags")?;
        if b & 0x80 != 0 {
            let frame_type = (b >> 4) & 7;
            let pt = b & 0x0F;
            let mut fourcc = [0u8; 4];
            // A command frame (FrameType 5) without a PacketType still carries the FourCC.
            fourcc.copy_from_slice(c.slice(4, "video FourCC")?);
            let packet = match pt {
                0 => VideoPacket::SequenceStart,
                1 => VideoPacket::CodedFrames,
                2 => VideoPacket::SequenceEnd,
                3 => VideoPacket::CodedFrames,
                4 => VideoPacket::Metadata,
                5 => VideoPacket::Mpeg2TsSequenceStart,
                other => VideoPacket::Unsupported(other),
            };
            let has_cts =
                pt == 1 && frame_type != frame_type::INFO && matches!(&fourcc, b"avc1" | b"hvc1");
            let composition_time = if has_cts {
                c.i24("CompositionTime")?
            } else {
                0
            };
            return Ok(VideoTagHeader {
                ex_header: true,
                frame_type,
                codec: VideoCodec::FourCc(fourcc),
                packet,
                packet_type: Some(pt),
                composition_time,
                len: c.pos() - start,
            });
        }
        let frame_type = b >> 4;
        let id = b & 0x0F;
        let (packet, packet_type, composition_time) = if (id == codec_id::AVC
            || id == codec_id::HEVC_NONSTANDARD)
            && frame_type != frame_type::INFO
        {
            let pt = c.u8("AVCPacketType")?;
            let cts = c.i24("CompositionTime")?;
            let packet = match pt {
                0 => VideoPacket::SequenceStart,
                1 => VideoPacket::CodedFrames,
                2 => VideoPacket::SequenceEnd,
                other => VideoPacket::Unsupported(other),
            };
            (packet, Some(pt), cts)
        } else {
            (VideoPacket::Frame, None, 0)
        };
        Ok(VideoTagHeader {
            ex_header: false,
            frame_type,
            codec: VideoCodec::Legacy(id),
            packet,
            packet_type,
            composition_time,
            len: c.pos() - start,
        })
    }

    /// True when decoding can start at this frame.
    pub fn is_key(&self) -> bool {
        self.frame_type == frame_type::KEY || self.frame_type == frame_type::GENERATED_KEY
    }
}

/// Appends a legacy AVC video tag header: FrameType/CodecID, AVCPacketType, CompositionTime.
pub fn write_avc_header(out: &mut impl BufMut, key: bool, avc_packet_type: u8, cts_ms: i32) {
    let ft = if key {
        frame_type::KEY
    } else {
        frame_type::INTER
    };
    out.put_u8(ft << 4 | codec_id::AVC);
    out.put_u8(avc_packet_type);
    put_u24(out, cts_ms as u32 & 0xFF_FFFF);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_header_layout_hand_computed() {
        // A video tag of 300 bytes at 0x12345678 ms: type 9, size 0x00012c, timestamp low 24
        // bits 0x345678, extended byte 0x12 (the upper 8 bits), stream id 0.
        let want = [
            0x09, // TagType video
            0x00, 0x01, 0x2c, // DataSize 300
            0x34, 0x56, 0x78, // Timestamp (low 24 bits)
            0x12, // TimestampExtended (upper 8 bits)
            0x00, 0x00, 0x00, // StreamID
        ];
        let h = TagHeader::new(TagType::VIDEO, 300, 0x1234_5678);
        let mut got = Vec::new();
        h.write(&mut got);
        assert_eq!(got, want);
        assert_eq!(
            TagHeader::parse(&mut Cursor::from_slice(&want, 0, "flv")).unwrap(),
            h
        );
        assert_eq!(TagHeader::from_bytes(&want), h);
        assert_eq!(h.tag_size(), 311);
    }

    #[test]
    fn filter_bit_is_separate_from_the_type() {
        // 0x28 = Filter bit (0x20) + audio (8).
        let h = TagHeader::from_bytes(&[0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert!(h.filter);
        assert_eq!(h.tag_type, TagType::AUDIO);
    }

    #[test]
    fn avc_header_with_negative_composition_time() {
        // Inter frame (2), AVC (7), NALU (1), CompositionTime -40 = 0xffffd8 as SI24.
        let b = [0x27, 0x01, 0xff, 0xff, 0xd8];
        let h = VideoTagHeader::parse(&mut Cursor::from_slice(&b, 0, "flv")).unwrap();
        assert_eq!(h.composition_time, -40);
        assert_eq!(h.packet, VideoPacket::CodedFrames);
        assert!(!h.is_key());
        assert_eq!(h.len, 5);
        let mut w = Vec::new();
        write_avc_header(&mut w, false, 1, -40);
        assert_eq!(w, b);
    }

    #[test]
    fn enhanced_header_coded_frames_x_has_no_composition_time() {
        // IsExHeader | FrameType 1 << 4 | PacketType 3, then 'hvc1'.
        let b = [0x80 | 0x10 | 3, b'h', b'v', b'c', b'1'];
        let h = VideoTagHeader::parse(&mut Cursor::from_slice(&b, 0, "flv")).unwrap();
        assert!(h.ex_header && h.is_key());
        assert_eq!(h.codec, VideoCodec::FourCc(FOURCC_HVC1));
        assert_eq!(h.packet, VideoPacket::CodedFrames);
        assert_eq!((h.composition_time, h.len), (0, 5));
        // PacketType 1 carries SI24 CompositionTime = 33.
        let b = [0x80 | 0x20 | 1, b'a', b'v', b'c', b'1', 0, 0, 33];
        let h = VideoTagHeader::parse(&mut Cursor::from_slice(&b, 0, "flv")).unwrap();
        assert_eq!((h.composition_time, h.len), (33, 8));
    }

    #[test]
    fn aac_audio_header() {
        // 0xAF: SoundFormat 10, rate 3, size 1, stereo; AACPacketType 0.
        let h = AudioTagHeader::parse(&mut Cursor::from_slice(&[0xaf, 0x00], 0, "flv")).unwrap();
        assert_eq!(h.sound_format, SoundFormat::AAC);
        assert_eq!(h.aac_packet_type, Some(0));
        assert_eq!(h.len(), 2);
        let mut w = Vec::new();
        h.write(&mut w);
        assert_eq!(w, [0xaf, 0x00]);
    }
}
