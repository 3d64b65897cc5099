//! What the FLV reader needs to know about codec configuration: the NAL length size of an
//! avcC/hvcC record (FLV's framing concern), and track parameters from the avcC SPS, the
//! AudioSpecificConfig and the MP3 frame header, which `crate::codec` parses.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::h264::AvcConfig;
use crate::codec::mp3::FrameHeader;
use crate::dtsc::{Audio, Codec, Video};

/// Reads an avcC (ISO/IEC 14496-15 §5.3.3.1) with `crate::codec`: its NAL length size and
/// the picture size and frame rate of its first SPS; `None` when it is not an avcC.
fn avc_config(rec: &[u8]) -> Option<(u8, Video)> {
    let cfg = AvcConfig::parse(&Bytes::copy_from_slice(rec), 0).ok()?;
    // An avcC with an SPS whose NAL type is not 7 is some other record (an hvcC, say).
    if cfg
        .sps
        .iter()
        .any(|s| s.first().is_some_and(|b| b & 0x1F != 7))
    {
        return None;
    }
    let video = cfg
        .first_sps()
        .map(|sps| Video {
            width: sps.width(),
            height: sps.height(),
            fpks: sps.fpks().unwrap_or(0),
        })
        .unwrap_or_default();
    Some((cfg.length_size, video))
}

/// Reads an hvcC (ISO/IEC 14496-15 §8.3.3.1) far enough to check it and find
/// `lengthSizeMinusOne`.
fn hvcc_nal_len(rec: &[u8]) -> Option<u8> {
    if rec.len() < 23 || rec[0] != 1 {
        return None;
    }
    let n = (rec[21] & 3) + 1;
    let arrays = rec[22];
    let mut p = 23usize;
    for _ in 0..arrays {
        let t = rec.get(p)? & 0x3F;
        if !(32..=40).contains(&t) {
            return None;
        }
        let count = u16::from_be_bytes([*rec.get(p + 1)?, *rec.get(p + 2)?]);
        p += 3;
        for _ in 0..count {
            let len = usize::from(u16::from_be_bytes([*rec.get(p)?, *rec.get(p + 1)?]));
            p += 2 + len;
            if p > rec.len() {
                return None;
            }
        }
    }
    (n != 3).then_some(n)
}

/// The codec the configuration record really is, its NAL length size and the video
/// parameters from its SPS. An id-7 tag carrying an hvcC (early OBS builds, srs #3464) is HEVC.
pub fn video_config(rec: &[u8], declared: &Codec) -> Option<(Codec, u8, Video)> {
    let try_avc = || avc_config(rec).map(|(n, v)| (Codec::H264, n, v));
    let try_hevc = || hvcc_nal_len(rec).map(|n| (Codec::Hevc, n, Video::default()));
    match declared {
        Codec::Hevc => try_hevc().or_else(try_avc),
        _ => try_avc().or_else(try_hevc),
    }
}

/// Sample rate and channels from an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1); the
/// output rate, as ffprobe reports it (doubled for implicit SBR).
pub fn aac_params(asc: &[u8]) -> Option<Audio> {
    crate::codec::aac_audio(asc)
}

/// Sample rate and channels from the first MP3 frame header of a payload.
pub fn mp3_params(frame: &[u8]) -> Option<Audio> {
    let h = FrameHeader::parse(frame, 0).ok()?;
    Some(Audio {
        rate: h.sample_rate,
        channels: h.channels(),
        sample_bits: 16,
    })
}

/// Rewrites NAL units with `n`-byte length prefixes (1 or 2) to 4-byte prefixes, the
/// canonical framing; `None` if a length runs past the end.
pub fn to_four_byte_lengths(data: &[u8], n: u8) -> Option<Bytes> {
    let n = usize::from(n);
    let mut out = BytesMut::with_capacity(data.len() + data.len() / 8 + 8);
    let mut p = 0usize;
    while p < data.len() {
        let head = data.get(p..p + n)?;
        let len = head.iter().fold(0usize, |a, b| a << 8 | usize::from(*b));
        let nal = data.get(p + n..p + n + len)?;
        out.put_u32(len as u32);
        out.put_slice(nal);
        p += n + len;
    }
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_of_aac_lc_48k_stereo() {
        // 0x11 0x90: AOT 2 (00010), index 3 (0011) = 48 kHz, channels 2 (0010), then 000.
        let a = aac_params(&[0x11, 0x90]).unwrap();
        assert_eq!((a.rate, a.channels), (48000, 2));
    }

    #[test]
    fn mp3_header_44k_stereo() {
        // FF FB: MPEG-1 layer III, no CRC; 0x90: bitrate 9, rate index 0 (44.1 kHz); 0x64:
        // joint stereo.
        let a = mp3_params(&[0xff, 0xfb, 0x90, 0x64]).unwrap();
        assert_eq!((a.rate, a.channels), (44100, 2));
    }

    #[test]
    fn two_byte_lengths_become_four() {
        let got = to_four_byte_lengths(&[0, 2, 0x65, 0x88, 0, 1, 0x41], 2).unwrap();
        assert_eq!(&got[..], &[0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x41]);
        assert!(to_four_byte_lengths(&[0, 5, 1], 2).is_none());
    }
}
