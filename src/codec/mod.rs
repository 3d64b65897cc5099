//! Bitstream helpers containers share: H.264 (SPS, avcC, Annex B ⇄ length-prefixed),
//! AAC (AudioSpecificConfig ⇄ ADTS) and MP3 frame headers.

pub mod aac;
pub mod h264;
pub mod mp3;

use crate::dtsc::{Audio, Codec, Track, Video};

/// What can be read from a track's codec data for display: profile, level, and parameters
/// the container did not declare.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodecInfo {
    /// Profile name as ffprobe prints it (`High`, `LC`).
    pub profile: Option<String>,
    /// Level (`3.0`).
    pub level: Option<String>,
    /// Width from the SPS.
    pub width: Option<u32>,
    /// Height from the SPS.
    pub height: Option<u32>,
    /// Sample rate from the config.
    pub rate: Option<u32>,
    /// Channels from the config.
    pub channels: Option<u32>,
}

/// Picture size and frame rate from the first SPS of an avcC (the frame rate when its VUI has
/// timing information, else 0): what every container's H.264 track declares, whatever the
/// container says (TS says nothing at all).
pub fn h264_video(avcc: &[u8]) -> Option<Video> {
    let cfg = h264::AvcConfig::parse(&bytes::Bytes::copy_from_slice(avcc), 0).ok()?;
    let sps = cfg.first_sps().ok()?;
    Some(Video {
        width: sps.width(),
        height: sps.height(),
        fpks: sps.fpks().unwrap_or(0),
    })
}

/// Sample rate (the output rate, as ffprobe reports it: doubled for implicit SBR) and
/// channels from an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1); channels 0 when the
/// config leaves them to a program config element.
pub fn aac_audio(asc: &[u8]) -> Option<Audio> {
    let a = aac::AudioSpecificConfig::parse(asc, 0).ok()?;
    Some(Audio {
        rate: a.output_sampling_frequency(),
        channels: a.channels().unwrap_or(0),
        sample_bits: 16,
    })
}

/// Reads what it can from `track.init`; unknown or unparsable data gives an empty answer.
pub fn describe(track: &Track) -> CodecInfo {
    match track.codec {
        Codec::H264 => h264::AvcConfig::parse(&track.init, 0)
            .and_then(|c| c.first_sps())
            .map(|s| CodecInfo {
                profile: s.profile_name().map(str::to_string),
                level: Some(s.level_name()),
                width: Some(s.width()),
                height: Some(s.height()),
                ..CodecInfo::default()
            })
            .unwrap_or_default(),
        Codec::Aac => aac::AudioSpecificConfig::parse(&track.init, 0)
            .map(|a| CodecInfo {
                profile: a.profile_name().map(str::to_string),
                rate: Some(a.output_sampling_frequency()),
                channels: a.channels(),
                ..CodecInfo::default()
            })
            .unwrap_or_default(),
        _ => CodecInfo::default(),
    }
}

/// The RFC 6381 codecs parameter of a track, as MSE and `<video>` take it: `avc1.PPCCLL` from
/// the avcC (profile, constraint flags, level bytes, as MistServer's `Util::codecString`
/// reads them), `mp4a.40.N` with N the object type the AudioSpecificConfig signals (2 for
/// AAC-LC, 5 for explicit HE-AAC), `mp4a.40.34` for MP3 (MistServer's choice). `None` when
/// the codec or its init data says nothing usable.
pub fn codec_string(track: &Track) -> Option<String> {
    match track.codec {
        Codec::H264 => {
            let b = track.init.get(1..4)?;
            Some(format!("avc1.{:02x}{:02x}{:02x}", b[0], b[1], b[2]))
        }
        Codec::Aac => {
            let b = track.init.first()?;
            let mut aot = b >> 3;
            if aot == 31 {
                let next = *track.init.get(1)?;
                aot = 32 + (((b & 7) << 3) | (next >> 5));
            }
            (aot > 0).then(|| format!("mp4a.40.{aot}"))
        }
        Codec::Mp3 => Some("mp4a.40.34".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Timebase, TrackId, TrackKind};
    use bytes::Bytes;

    /// avcC of tests/fixtures/interop/vod_idx0.dtsc (= src10.mp4's, 45 bytes).
    const VOD_AVCC: [u8; 45] = [
        0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40,
        0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c,
        0x0f, 0x16, 0x2d, 0x96, 0x01, 0x00, 0x04, 0x68, 0xef, 0x8f, 0xcb, 0xfd, 0xf8, 0xf8, 0x00,
    ];

    #[test]
    fn describe_reads_avcc_and_asc() {
        // Oracle: ffprobe on src10.mp4: h264 High level 30 640x360; aac LC 48000 Hz 1 channel.
        let mut v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        v.init = Bytes::from_static(&VOD_AVCC);
        let i = describe(&v);
        assert_eq!(i.profile.as_deref(), Some("High"));
        assert_eq!(i.level.as_deref(), Some("3.0"));
        assert_eq!((i.width, i.height), (Some(640), Some(360)));
        let mut a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS);
        a.init = Bytes::from_static(&[0x11, 0x88, 0x56, 0xe5, 0x00]);
        let i = describe(&a);
        assert_eq!(i.profile.as_deref(), Some("LC"));
        assert_eq!((i.rate, i.channels), (Some(48000), Some(1)));
    }

    #[test]
    fn codec_strings_from_the_config_records() {
        // Oracle: the bytes themselves (avcC: profile 0x64, constraints 0x00, level 0x1e;
        // ASC: the first five bits are the object type) and MistServer's MP3 string.
        let mut v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        v.init = Bytes::from_static(&VOD_AVCC);
        assert_eq!(codec_string(&v).as_deref(), Some("avc1.64001e"));
        let mut a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS);
        a.init = Bytes::from_static(&[0x11, 0x88]);
        assert_eq!(codec_string(&a).as_deref(), Some("mp4a.40.2"));
        // Explicit HE-AAC: object type 5 (0x2B = 00101 011).
        a.init = Bytes::from_static(&[0x2B, 0x92, 0x08, 0x00]);
        assert_eq!(codec_string(&a).as_deref(), Some("mp4a.40.5"));
        // Escape: 31 then six more bits (0xF8 0x20 → 32 + 1 = 33).
        a.init = Bytes::from_static(&[0xF8, 0x20]);
        assert_eq!(codec_string(&a).as_deref(), Some("mp4a.40.33"));
        a.init = Bytes::new();
        assert_eq!(codec_string(&a), None);
        let m = Track::new(TrackId(3), TrackKind::Audio, Codec::Mp3, Timebase::MS);
        assert_eq!(codec_string(&m).as_deref(), Some("mp4a.40.34"));
    }

    #[test]
    fn vod_avcc_round_trips_byte_identical() {
        // The record has the High-profile tail fd f8 f8 00 (chroma 1, 8-bit, no SPS ext).
        let b = Bytes::from_static(&VOD_AVCC);
        let c = h264::AvcConfig::parse(&b, 0).unwrap();
        assert_eq!((c.profile_idc, c.level_idc, c.length_size), (100, 30, 4));
        assert_eq!((c.sps.len(), c.pps.len()), (1, 1));
        let ext = c.ext.clone().unwrap();
        assert_eq!(
            (
                ext.chroma_format,
                ext.bit_depth_luma_minus8,
                ext.sps_ext.len()
            ),
            (1, 0, 0)
        );
        assert_eq!(&c.build().unwrap()[..], &VOD_AVCC[..]);
        assert_eq!(c.codec_string(), "avc1.64001e");
        // Without the tail (as some writers emit it): still parses, ext None.
        let short = Bytes::copy_from_slice(&VOD_AVCC[..41]);
        let c2 = h264::AvcConfig::parse(&short, 0).unwrap();
        assert!(c2.ext.is_none());
        assert_eq!(&c2.build().unwrap()[..], &VOD_AVCC[..41]);
        // From in-band parameter sets: the same record (FFmpeg writes the tail for High).
        let annexb = c.to_annexb();
        let c3 = h264::AvcConfig::from_annexb_parameter_sets(&annexb, 0)
            .unwrap()
            .unwrap();
        assert_eq!(&c3.build().unwrap()[..], &VOD_AVCC[..]);
    }

    /// A fixed-seed xorshift, so the corruption cases are the same on every run.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn truncated_and_flipped_configs_never_panic() {
        let inputs: [&[u8]; 4] = [
            &VOD_AVCC,
            &[0x11, 0x88, 0x56, 0xe5, 0x00],
            &[0xff, 0xf1, 0x4c, 0x80, 0x2e, 0x7f, 0xfc],
            &[0xff, 0xfb, 0x90, 0x64],
        ];
        let check = |d: &[u8]| {
            let b = Bytes::copy_from_slice(d);
            if let Err(e) = h264::AvcConfig::parse(&b, 0) {
                assert!(e.offset <= d.len() as u64);
            }
            if let Ok(c) = h264::AvcConfig::parse(&b, 0) {
                for s in &c.sps {
                    let _ = h264::Sps::parse(s, 0);
                }
                for p in &c.pps {
                    let _ = h264::Pps::parse(p, 0);
                }
            }
            if let Err(e) = h264::Sps::parse(d, 0) {
                assert!(e.offset <= d.len() as u64);
            }
            if let Err(e) = aac::AudioSpecificConfig::parse(d, 0) {
                assert!(e.offset <= d.len() as u64);
            }
            if let Err(e) = aac::AdtsHeader::parse(d, 0) {
                assert!(e.offset <= d.len() as u64);
            }
            if let Err(e) = mp3::FrameHeader::parse(d, 0) {
                assert!(e.offset <= d.len() as u64);
            }
        };
        let mut seed = 0x5eed_u64;
        for input in inputs {
            for cut in 0..input.len() {
                check(&input[..cut]);
            }
            check(&input[8.min(input.len())..]);
            for _ in 0..2000 {
                let mut d = input.to_vec();
                let bit = (xorshift(&mut seed) as usize) % (d.len() * 8);
                d[bit / 8] ^= 0x80 >> (bit % 8);
                check(&d);
            }
        }
    }
}
