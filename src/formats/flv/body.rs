//! The bytes that precede a canonical packet's payload in an FLV audio/video tag body: the
//! audio tag header (FLV v10.1 E.4.2.1) or the AVC video tag header (E.4.3.1). An RTMP audio or
//! video message is exactly such a body, so the FLV muxer and RTMP play share these functions.
//!
//! Payloads are in the canonical framing the FLV muxer takes ([`super::mux::framing`]):
//! H.264 with 4-byte NAL lengths (avcC's `lengthSizeMinusOne` = 3), AAC raw, MP3 whole frames.

use bytes::Bytes;

use crate::dtsc::{Codec, Params, Track};

use super::tag::{write_avc_header, AudioTagHeader, SoundFormat, TagType};

/// Up to five bytes that go before a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyHead {
    bytes: [u8; 5],
    len: u8,
}

impl BodyHead {
    fn new(b: &[u8]) -> BodyHead {
        let mut bytes = [0u8; 5];
        let len = b.len().min(5);
        bytes[..len].copy_from_slice(&b[..len]);
        BodyHead {
            bytes,
            len: len as u8,
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The first byte of every audio tag of `track` (SoundFormat, SoundRate, SoundSize,
/// SoundType), or `None` for codecs FLV output does not carry.
pub fn audio_flags(track: &Track) -> Option<u8> {
    match (&track.codec, &track.params) {
        // AAC: the spec fixes the other bits at 44 kHz, 16-bit, stereo.
        (Codec::Aac, _) => Some(0xAF),
        (Codec::Mp3, Params::Audio(a)) => {
            let (fmt, rate) = match a.rate {
                8000 => (SoundFormat::MP3_8K, 0),
                11025 => (SoundFormat::MP3, 1),
                22050 => (SoundFormat::MP3, 2),
                5512 | 5513 => (SoundFormat::MP3, 0),
                // 44.1 kHz, and 48/32 kHz too: FFmpeg flags 48 kHz MP3 as 44 kHz; the frames
                // carry the real rate.
                _ => (SoundFormat::MP3, 3),
            };
            Some(
                AudioTagHeader {
                    sound_format: fmt,
                    sound_rate: rate,
                    sound_size: 1,
                    sound_type: u8::from(a.channels != 1),
                    aac_packet_type: None,
                }
                .to_byte(),
            )
        }
        (Codec::Mp3, _) => Some(0x2F),
        _ => None,
    }
}

/// The tag type and head of one packet: `audio_flags` is [`audio_flags`] of its track,
/// `cts_ms` the composition offset in ms (pts − dts, signed 24 bits). `None` for codecs FLV
/// output does not carry.
pub fn packet_head(
    codec: &Codec,
    audio_flags: u8,
    keyframe: bool,
    cts_ms: i32,
) -> Option<(TagType, BodyHead)> {
    match codec {
        Codec::H264 => {
            let mut h = Vec::with_capacity(5);
            write_avc_header(&mut h, keyframe, 1, cts_ms);
            Some((TagType::VIDEO, BodyHead::new(&h)))
        }
        Codec::Aac => Some((TagType::AUDIO, BodyHead::new(&[audio_flags, 1]))),
        Codec::Mp3 => Some((TagType::AUDIO, BodyHead::new(&[audio_flags]))),
        _ => None,
    }
}

/// The sequence header of `track`: its tag type, head and the configuration record (avcC for
/// H.264, AudioSpecificConfig for AAC). `None` for codecs without one or a track without
/// init data.
pub fn sequence_header(track: &Track) -> Option<(TagType, BodyHead, Bytes)> {
    if track.init.is_empty() {
        return None;
    }
    match track.codec {
        Codec::H264 => {
            let mut h = Vec::with_capacity(5);
            write_avc_header(&mut h, true, 0, 0);
            Some((TagType::VIDEO, BodyHead::new(&h), track.init.clone()))
        }
        Codec::Aac => Some((
            TagType::AUDIO,
            BodyHead::new(&[0xAF, 0]),
            track.init.clone(),
        )),
        _ => None,
    }
}

/// The AVC end-of-sequence head (AVCPacketType 2), as FFmpeg writes it at the end.
pub fn avc_end_of_sequence() -> BodyHead {
    let mut h = Vec::with_capacity(5);
    write_avc_header(&mut h, true, 2, 0);
    BodyHead::new(&h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Audio, Timebase, TrackId, TrackKind};

    #[test]
    fn heads_hand_computed() {
        // FLV v10.1 E.4.3.1: keyframe (1) << 4 | AVC (7), AVCPacketType 1, SI24 composition
        // time; an inter frame (2) with cts -40 = FF FF D8.
        let (t, h) = packet_head(&Codec::H264, 0, true, 67).unwrap();
        assert_eq!(
            (t, h.as_slice()),
            (TagType::VIDEO, &[0x17, 1, 0, 0, 67][..])
        );
        let (_, h) = packet_head(&Codec::H264, 0, false, -40).unwrap();
        assert_eq!(h.as_slice(), &[0x27, 1, 0xff, 0xff, 0xd8]);
        // E.4.2.1: AAC (10) << 4 | 44 kHz (3) << 2 | 16-bit << 1 | stereo = AF, then 1 (raw).
        let (t, h) = packet_head(&Codec::Aac, 0xAF, true, 0).unwrap();
        assert_eq!((t, h.as_slice()), (TagType::AUDIO, &[0xaf, 1][..]));
        assert_eq!(packet_head(&Codec::Hevc, 0, true, 0), None);
    }

    #[test]
    fn mp3_flags_follow_the_rate_and_channels() {
        let mut t = Track::new(TrackId(2), TrackKind::Audio, Codec::Mp3, Timebase::MS);
        t.params = Params::Audio(Audio {
            rate: 22050,
            channels: 1,
            sample_bits: 16,
        });
        // MP3 (2) << 4 | 22 kHz (2) << 2 | 16-bit (1) << 1 | mono (0) = 0x2A.
        assert_eq!(audio_flags(&t), Some(0x2A));
        t.params = Params::Audio(Audio {
            rate: 8000,
            channels: 2,
            sample_bits: 16,
        });
        // MP3 8 kHz (14) << 4 | 0 | 16-bit | stereo = 0xE3.
        assert_eq!(audio_flags(&t), Some(0xE3));
    }

    #[test]
    fn sequence_headers_need_init_data() {
        let mut t = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        assert_eq!(sequence_header(&t), None);
        t.init = Bytes::from_static(&[1, 0x64, 0, 0x1f]);
        let (ty, h, init) = sequence_header(&t).unwrap();
        assert_eq!(
            (ty, h.as_slice(), &init[..]),
            (
                TagType::VIDEO,
                &[0x17, 0, 0, 0, 0][..],
                &[1, 0x64, 0, 0x1f][..]
            )
        );
    }
}
