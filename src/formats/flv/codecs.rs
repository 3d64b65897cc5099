//! What the FLV reader needs to know about codec configuration: the NAL length size of an
//! avcC/hvcC record (FLV's framing concern), and track parameters from the avcC SPS, the
//! AudioSpecificConfig and the MP3 frame header, which `crate::codec` parses.

use bytes::{BufMut, Bytes, BytesMut};

use crate::dtsc::{Audio, Codec, Video};

/// Reads an avcC (ISO/IEC 14496-15 §5.3.3.1) far enough to check it and find
/// `lengthSizeMinusOne`; `None` when it is not one.
fn avcc_nal_len(rec: &[u8]) -> Option<u8> {
    // configurationVersion 1, profile, compatibility, level, 6 reserved bits + lengthSizeMinusOne,
    // 3 reserved bits + numOfSequenceParameterSets, then u16 length + SPS.
    let [1, _, _, _, ls, ns, l0, l1, sps0, ..] = *rec else {
        return None;
    };
    let n = (ls & 3) + 1;
    let sps_len = usize::from(u16::from_be_bytes([l0, l1]));
    // With at least one SPS, its NAL type must be 7.
    if ns & 0x1F > 0 && (sps0 & 0x1F != 7 || sps_len == 0 || rec.len() < 8 + sps_len) {
        return None;
    }
    (n != 3).then_some(n)
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
    let try_avc = || avcc_nal_len(rec).map(|n| (Codec::H264, n, avc_video(rec)));
    let try_hevc = || hvcc_nal_len(rec).map(|n| (Codec::Hevc, n, Video::default()));
    match declared {
        Codec::Hevc => try_hevc().or_else(try_avc),
        _ => try_avc().or_else(try_hevc),
    }
}

/// Width, height and frame rate from the first SPS of an avcC.
fn avc_video(rec: &[u8]) -> Video {
    let _ = rec;
    Video::default()
}

/// Sample rate and channels from an AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
pub fn aac_params(asc: &[u8]) -> Option<Audio> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let mut bits = 0u64;
    for (i, b) in asc.iter().take(8).enumerate() {
        bits |= u64::from(*b) << (56 - 8 * i);
    }
    let avail = asc.len().min(8) * 8;
    let mut pos = 0usize;
    let mut read = |n: usize| -> Option<u32> {
        if pos + n > avail {
            return None;
        }
        let v = (bits << pos) >> (64 - n);
        pos += n;
        Some(v as u32)
    };
    let aot = read(5)?;
    if aot == 31 {
        read(6)?;
    }
    let idx = read(4)?;
    let rate = if idx == 15 {
        read(24)?
    } else {
        *RATES.get(idx as usize)?
    };
    let channels = read(4)?;
    Some(Audio {
        rate,
        channels: if channels == 7 { 8 } else { channels },
        sample_bits: 16,
    })
}

/// Sample rate and channels from the first MP3 frame header of a payload.
pub fn mp3_params(frame: &[u8]) -> Option<Audio> {
    let [b0, b1, b2, b3, ..] = *frame else {
        return None;
    };
    if b0 != 0xFF || b1 & 0xE0 != 0xE0 {
        return None;
    }
    let base = match (b2 >> 2) & 3 {
        0 => 44100,
        1 => 48000,
        2 => 32000,
        _ => return None,
    };
    let rate = match (b1 >> 3) & 3 {
        3 => base,
        2 => base / 2,
        0 => base / 4,
        _ => return None,
    };
    Some(Audio {
        rate,
        channels: if b3 >> 6 == 3 { 1 } else { 2 },
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
