//! Elementary streams inside PES packets: which codec a PMT stream type means, and how a PES
//! payload splits into the access units ffprobe counts (one H.264/HEVC access unit per PES;
//! every ADTS frame and every MPEG audio frame separately), with their times.
//!
//! The small bitstream helpers at the bottom (Annex B NAL walking, avcC from parameter sets,
//! ADTS and MPEG audio headers) stand in for `src/codec/` until it lands there; they read
//! only what the transport stream layer needs.

use bytes::{BufMut, Bytes, BytesMut};

use crate::dtsc::time::rescale_round;
use crate::dtsc::{Codec, TrackKind};
use crate::formats::Finding;

use super::pes::PRIVATE_STREAM_1;
use super::psi::PmtStream;

/// Most bytes an audio remainder may hold between PES packets before it is dropped.
pub const MAX_PENDING: usize = 1 << 16;
/// Most frames one PES packet may split into.
pub const MAX_FRAMES_PER_PES: usize = 4096;

/// What mist does with an elementary stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// H.264 (stream type 0x1B).
    H264,
    /// HEVC (0x24).
    Hevc,
    /// AAC in ADTS (0x0F).
    Adts,
    /// AAC in LATM/LOAS (0x11): detected, not read.
    Latm,
    /// MPEG-1/2 audio (0x03, 0x04): layer from the frame header.
    Mpa,
    /// AC-3 (0x81, or 0x06 with an `AC-3` registration or AC-3 descriptor): carried opaque.
    Ac3,
    /// Anything else: skipped.
    Other,
}

impl Kind {
    /// The kind of a PMT entry.
    pub fn of(s: &PmtStream) -> Kind {
        match s.stream_type {
            0x1B => Kind::H264,
            0x24 => Kind::Hevc,
            0x0F => Kind::Adts,
            0x11 => Kind::Latm,
            0x03 | 0x04 => Kind::Mpa,
            0x81 => Kind::Ac3,
            0x06 if s.registration() == Some(*b"AC-3")
                || s.descriptors.iter().any(|d| d.tag == 0x6A) =>
            {
                Kind::Ac3
            }
            _ => Kind::Other,
        }
    }

    /// Track kind, for streams mist reads.
    pub fn track_kind(self) -> Option<TrackKind> {
        match self {
            Kind::H264 | Kind::Hevc => Some(TrackKind::Video),
            Kind::Adts | Kind::Mpa | Kind::Ac3 => Some(TrackKind::Audio),
            Kind::Latm | Kind::Other => None,
        }
    }
}

/// A readable name for a stream type (analyse output).
pub fn stream_type_name(t: u8) -> &'static str {
    match t {
        0x01 => "MPEG-1 video",
        0x02 => "MPEG-2 video",
        0x03 => "MPEG-1 audio",
        0x04 => "MPEG-2 audio",
        0x06 => "private data",
        0x0F => "AAC (ADTS)",
        0x11 => "AAC (LATM)",
        0x15 => "metadata (ID3)",
        0x1B => "H.264",
        0x24 => "HEVC",
        0x81 => "AC-3",
        0x86 => "SCTE-35",
        0x87 => "E-AC-3",
        _ => "unknown",
    }
}

/// The stream type and PES stream_id mist writes for a codec.
pub fn stream_type_for(codec: &Codec) -> Option<(u8, u8)> {
    Some(match codec {
        Codec::H264 => (0x1B, 0xE0),
        Codec::Hevc => (0x24, 0xE0),
        Codec::Aac => (0x0F, 0xC0),
        Codec::Mp3 => (0x03, 0xC0),
        Codec::Mp2 => (0x04, 0xC0),
        Codec::Ac3 => (0x81, PRIVATE_STREAM_1),
        _ => return None,
    })
}

/// One access unit as the container holds it (`data` in the container's own framing).
#[derive(Clone, Debug)]
pub struct Frame {
    /// Offset of the transport packet where its PES packet started.
    pub offset: u64,
    /// Decode time, 90 kHz, unwrapped.
    pub dts: i64,
    /// Presentation time, 90 kHz, unwrapped.
    pub pts: i64,
    /// Random access point.
    pub key: bool,
    /// Annex B access unit, whole ADTS frame, whole MPEG audio frame, or PES payload.
    pub data: Bytes,
}

/// Codec parameters learned from the stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Learned {
    /// The codec, once known (MPEG audio: from the first frame's layer).
    pub codec: Option<Codec>,
    /// avcC body or AudioSpecificConfig.
    pub init: Option<Bytes>,
    /// Sample rate.
    pub rate: u32,
    /// Channels.
    pub channels: u32,
}

/// The per-PID splitter from PES payloads to frames.
#[derive(Debug)]
pub struct Splitter {
    kind: Kind,
    pending: BytesMut,
    anchor: Option<(i64, u64)>,
    /// What the stream told so far.
    pub learned: Learned,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    resync_reported: bool,
}

impl Splitter {
    /// A splitter for a stream of `kind`.
    pub fn new(kind: Kind) -> Splitter {
        let codec = match kind {
            Kind::H264 => Some(Codec::H264),
            Kind::Hevc => Some(Codec::Hevc),
            Kind::Adts => Some(Codec::Aac),
            Kind::Ac3 => Some(Codec::Ac3),
            _ => None,
        };
        Splitter {
            kind,
            pending: BytesMut::new(),
            anchor: None,
            learned: Learned {
                codec,
                ..Learned::default()
            },
            sps: None,
            pps: None,
            resync_reported: false,
        }
    }

    /// The stream kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// True once the track can be described (codec and, where the codec needs it, init).
    pub fn ready(&self) -> bool {
        match self.kind {
            Kind::H264 | Kind::Adts => self.learned.init.is_some(),
            Kind::Mpa => self.learned.codec.is_some(),
            _ => true,
        }
    }

    /// Forgets partial data (after a seek or a damaged PES).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.anchor = None;
    }

    /// Splits one PES payload; `times` is its unwrapped `(dts, pts)` when it carried a PTS.
    pub fn push(
        &mut self,
        offset: u64,
        payload: Bytes,
        times: Option<(i64, i64)>,
        random_access: bool,
        out: &mut Vec<Frame>,
        findings: &mut Vec<Finding>,
    ) {
        match self.kind {
            Kind::H264 | Kind::Hevc => {
                let Some((dts, pts)) = times.or(self.anchor.map(|(t, _)| (t, t))) else {
                    findings.push(Finding::warning(
                        offset,
                        "video PES without PTS before any timed one: dropped",
                    ));
                    return;
                };
                let key = self.scan_video(&payload, random_access);
                out.push(Frame {
                    offset,
                    dts,
                    pts,
                    key,
                    data: payload,
                });
            }
            Kind::Ac3 => {
                let Some((dts, pts)) = times else {
                    findings.push(Finding::warning(offset, "AC-3 PES without PTS: dropped"));
                    return;
                };
                out.push(Frame {
                    offset,
                    dts,
                    pts,
                    key: true,
                    data: payload,
                });
            }
            Kind::Adts | Kind::Mpa => self.audio(offset, payload, times, out, findings),
            Kind::Latm | Kind::Other => {}
        }
    }

    fn scan_video(&mut self, au: &[u8], random_access: bool) -> bool {
        let mut key = false;
        for nal in nal_units(au) {
            let Some(&b0) = nal.first() else { continue };
            if self.kind == Kind::H264 {
                match b0 & 0x1F {
                    5 => key = true,
                    7 if self.sps.is_none() => self.sps = Some(Bytes::copy_from_slice(nal)),
                    8 if self.pps.is_none() => self.pps = Some(Bytes::copy_from_slice(nal)),
                    _ => {}
                }
            } else if (16..=23).contains(&((b0 >> 1) & 0x3F)) {
                key = true;
            }
        }
        if self.kind == Kind::H264 && self.learned.init.is_none() {
            if let (Some(s), Some(p)) = (&self.sps, &self.pps) {
                self.learned.init = avcc(s, p);
            }
        }
        let _ = random_access;
        key
    }

    fn audio(
        &mut self,
        offset: u64,
        payload: Bytes,
        times: Option<(i64, i64)>,
        out: &mut Vec<Frame>,
        findings: &mut Vec<Finding>,
    ) {
        // Frames that began in an earlier PES finish with the first bytes of this one.
        let new_start = self.pending.len();
        let data: Bytes = if self.pending.is_empty() {
            payload
        } else {
            self.pending.extend_from_slice(&payload);
            std::mem::take(&mut self.pending).freeze()
        };
        let mut pos = 0;
        let mut anchored = false;
        let mut count = 0;
        while pos < data.len() && count < MAX_FRAMES_PER_PES {
            let rest = &data[pos..];
            let head = match self.kind {
                Kind::Adts => adts_header(rest).map(|h| (h.frame_len, h.samples, h.rate, h)),
                _ => mpa_header(rest).map(|h| {
                    (
                        h.frame_len,
                        h.samples,
                        h.rate,
                        AdtsHeader {
                            frame_len: h.frame_len,
                            header_len: 0,
                            samples: h.samples,
                            rate: h.rate,
                            channels: h.channels,
                            asc: [h.layer, 0],
                        },
                    )
                }),
            };
            let Some((len, samples, rate, h)) = head else {
                if rest.len() < 9 {
                    break; // maybe a header cut by the PES boundary
                }
                // Resync on the next sync word.
                let skip = (1..rest.len())
                    .find(|&i| rest[i] == 0xFF && rest.get(i + 1).is_some_and(|b| b & 0xE0 == 0xE0))
                    .unwrap_or(rest.len());
                if !self.resync_reported {
                    findings.push(Finding::error(
                        offset,
                        format!("{skip} bytes of audio data without a frame header skipped"),
                    ));
                    self.resync_reported = true;
                }
                pos += skip;
                continue;
            };
            if rest.len() < len {
                break;
            }
            if self.learned.init.is_none() && self.kind == Kind::Adts {
                self.learned.init = Some(Bytes::copy_from_slice(&h.asc));
            }
            if self.learned.codec.is_none() && self.kind == Kind::Mpa {
                self.learned.codec = Some(match h.asc[0] {
                    3 => Codec::Mp3,
                    2 => Codec::Mp2,
                    _ => Codec::Other("MP1".into()),
                });
            }
            if self.learned.rate == 0 {
                self.learned.rate = rate;
                self.learned.channels = h.channels;
            }
            if pos >= new_start && !anchored {
                if let Some((_, pts)) = times {
                    self.anchor = Some((pts, 0));
                }
                anchored = true;
            }
            if let Some((base, n)) = self.anchor {
                let t = base + rescale_round(n as i64, 90_000, u64::from(rate.max(1)));
                self.anchor = Some((base, n + u64::from(samples)));
                out.push(Frame {
                    offset,
                    dts: t,
                    pts: t,
                    key: true,
                    data: data.slice(pos..pos + len),
                });
            }
            pos += len;
            count += 1;
        }
        if pos < data.len() {
            if data.len() - pos > MAX_PENDING {
                findings.push(Finding::error(offset, "audio remainder too large: dropped"));
            } else {
                self.pending.extend_from_slice(&data[pos..]);
            }
        }
    }
}

/// The NAL units of an Annex B buffer (start codes and trailing zero bytes removed).
pub fn nal_units(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= b.len() {
        if b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else if b[i + 2] > 1 {
            i += 3;
        } else {
            i += 1;
        }
    }
    let n = starts.len();
    (0..n).map(move |k| {
        let s = starts[k];
        let mut e = if k + 1 < n {
            starts[k + 1] - 3
        } else {
            b.len()
        };
        while e > s && b[e - 1] == 0 {
            e -= 1;
        }
        &b[s..e]
    })
}

/// Annex B → 4-byte length-prefixed, dropping NAL units `drop` selects (access unit
/// delimiters: the TS muxer writes its own).
pub fn annexb_to_length_prefixed(b: &[u8], drop: impl Fn(&[u8]) -> bool) -> Bytes {
    let mut out = BytesMut::with_capacity(b.len() + 16);
    for nal in nal_units(b) {
        if nal.is_empty() || drop(nal) {
            continue;
        }
        out.put_u32(nal.len() as u32);
        out.extend_from_slice(nal);
    }
    out.freeze()
}

/// The NAL units of a length-prefixed buffer (`size`-byte lengths); stops at a bad length.
pub fn length_prefixed_units(b: &[u8], size: u8) -> Vec<&[u8]> {
    let size = usize::from(size.clamp(1, 4));
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + size <= b.len() {
        let len = b[pos..pos + size]
            .iter()
            .fold(0usize, |a, &x| a << 8 | usize::from(x));
        pos += size;
        let Some(nal) = b.get(pos..pos + len) else {
            break;
        };
        out.push(nal);
        pos += len;
    }
    out
}

/// True for an H.264 access unit delimiter.
pub fn is_h264_aud(nal: &[u8]) -> bool {
    nal.first().is_some_and(|b| b & 0x1F == 9)
}

/// True for an HEVC access unit delimiter.
pub fn is_hevc_aud(nal: &[u8]) -> bool {
    nal.first().is_some_and(|b| (b >> 1) & 0x3F == 35)
}

/// An AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) from one SPS and one PPS,
/// with the high-profile extension when the profile needs it.
pub fn avcc(sps: &[u8], pps: &[u8]) -> Option<Bytes> {
    let (profile, compat, level) = (*sps.get(1)?, *sps.get(2)?, *sps.get(3)?);
    let mut out = Vec::with_capacity(16 + sps.len() + pps.len());
    out.extend_from_slice(&[1, profile, compat, level, 0xFF, 0xE1]);
    out.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    out.extend_from_slice(pps);
    if matches!(profile, 100 | 110 | 122 | 144) {
        let (chroma, luma, chroma_depth) = sps_chroma(sps).unwrap_or((1, 0, 0));
        out.push(0xFC | chroma as u8 & 3);
        out.push(0xF8 | luma as u8 & 7);
        out.push(0xF8 | chroma_depth as u8 & 7);
        out.push(0);
    }
    Some(Bytes::from(out))
}

/// The SPS and PPS NAL units of an avcC body.
pub fn avcc_parameter_sets(avcc: &[u8]) -> Vec<&[u8]> {
    fn read<'a>(avcc: &'a [u8], count: usize, pos: &mut usize, out: &mut Vec<&'a [u8]>) {
        for _ in 0..count {
            let Some(l) = avcc.get(*pos..*pos + 2) else {
                return;
            };
            let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
            let Some(nal) = avcc.get(*pos + 2..*pos + 2 + len) else {
                return;
            };
            out.push(nal);
            *pos += 2 + len;
        }
    }
    let mut out = Vec::new();
    let Some(&n_sps) = avcc.get(5) else {
        return out;
    };
    let mut pos = 6;
    read(avcc, usize::from(n_sps & 0x1F), &mut pos, &mut out);
    if let Some(&n_pps) = avcc.get(pos) {
        pos += 1;
        read(avcc, usize::from(n_pps), &mut pos, &mut out);
    }
    out
}

/// chroma_format_idc and bit depths (minus 8) of a high-profile SPS.
fn sps_chroma(sps: &[u8]) -> Option<(u32, u32, u32)> {
    // Remove emulation prevention bytes (00 00 03).
    let mut rbsp = Vec::with_capacity(sps.len());
    let mut zeros = 0;
    for &b in sps.get(1..)? {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    let mut bits = Bits { b: &rbsp, pos: 24 };
    bits.ue()?; // seq_parameter_set_id
    let chroma = bits.ue()?;
    if chroma == 3 {
        bits.bit()?;
    }
    Some((chroma, bits.ue()?, bits.ue()?))
}

struct Bits<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.b.get(self.pos / 8)?;
        let v = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(v))
    }
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let mut v = 0u32;
        for _ in 0..zeros {
            v = v << 1 | self.bit()?;
        }
        Some((1u32 << zeros) - 1 + v)
    }
}

/// AAC sampling frequencies by index (ISO/IEC 14496-3 Table 1.18).
pub const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// The fields of an ADTS header mist uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdtsHeader {
    /// aac_frame_length: header included.
    pub frame_len: usize,
    /// 7, or 9 with CRC.
    pub header_len: usize,
    /// Samples in the frame (1024 per raw data block).
    pub samples: u32,
    /// Sample rate.
    pub rate: u32,
    /// Channel configuration.
    pub channels: u32,
    /// The 2-byte AudioSpecificConfig it implies (for MPEG audio: `[layer, 0]`).
    pub asc: [u8; 2],
}

/// Reads an ADTS header (ISO/IEC 13818-7 §6.2) at the start of `b`.
pub fn adts_header(b: &[u8]) -> Option<AdtsHeader> {
    let h = b.get(..7)?;
    if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
        return None;
    }
    let header_len = if h[1] & 1 == 1 { 7 } else { 9 };
    let profile = h[2] >> 6;
    let sfi = (h[2] >> 2) & 0x0F;
    let channels = (h[2] & 1) << 2 | h[3] >> 6;
    let frame_len = usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
    let blocks = u32::from(h[6] & 3) + 1;
    let rate = *AAC_RATES.get(usize::from(sfi))?;
    if frame_len < header_len {
        return None;
    }
    let aot = profile + 1;
    Some(AdtsHeader {
        frame_len,
        header_len,
        samples: 1024 * blocks,
        rate,
        channels: u32::from(channels),
        asc: [aot << 3 | sfi >> 1, (sfi & 1) << 7 | channels << 3],
    })
}

/// The 7-byte ADTS header for a raw frame of `raw_len` bytes with AudioSpecificConfig `asc`.
pub fn adts_for(asc: &[u8], raw_len: usize) -> Option<[u8; 7]> {
    let a0 = *asc.first()?;
    let a1 = *asc.get(1)?;
    let aot = a0 >> 3;
    let sfi = (a0 & 7) << 1 | a1 >> 7;
    let ch = (a1 >> 3) & 0x0F;
    if aot == 0 || aot == 31 || sfi == 15 {
        return None;
    }
    // HE-AAC (5, 29) goes out as LC with implicit SBR: profile = AOT − 1 of the core.
    let profile = if matches!(aot, 5 | 29) {
        1
    } else {
        (aot - 1).min(3)
    };
    let len = raw_len + 7;
    if len > 0x1FFF {
        return None;
    }
    Some([
        0xFF,
        0xF1,
        profile << 6 | sfi << 2 | (ch >> 2) & 1,
        (ch & 3) << 6 | (len >> 11) as u8 & 3,
        (len >> 3) as u8,
        ((len & 7) as u8) << 5 | 0x1F,
        0xFC,
    ])
}

/// The fields of an MPEG audio frame header mist uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpaHeader {
    /// 1, 2 or 3.
    pub layer: u8,
    /// Bytes in the frame, header included.
    pub frame_len: usize,
    /// Samples per frame.
    pub samples: u32,
    /// Sample rate.
    pub rate: u32,
    /// 1 or 2.
    pub channels: u32,
}

/// Reads an MPEG-1/2/2.5 audio frame header (ISO/IEC 11172-3 §2.4.1.3) at the start of `b`.
pub fn mpa_header(b: &[u8]) -> Option<MpaHeader> {
    let h = b.get(..4)?;
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0 = 2.5, 2 = 2, 3 = 1
    let layer = match (h[1] >> 1) & 3 {
        1 => 3,
        2 => 2,
        3 => 1,
        _ => return None,
    };
    let bri = usize::from(h[2] >> 4);
    let sri = usize::from((h[2] >> 2) & 3);
    if version == 1 || bri == 0 || bri == 15 || sri == 3 {
        return None;
    }
    let pad = usize::from((h[2] >> 1) & 1);
    const V1: [[u32; 15]; 3] = [
        [
            0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ],
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ],
        [
            0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ],
    ];
    const V2: [[u32; 15]; 2] = [
        [
            0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ],
        [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    ];
    let kbps = if version == 3 {
        V1[usize::from(layer - 1)][bri]
    } else {
        V2[usize::from(layer.min(2) - 1)][bri]
    };
    let rate = [
        [11025, 12000, 8000],
        [0, 0, 0],
        [22050, 24000, 16000],
        [44100, 48000, 32000],
    ][usize::from(version)][sri];
    let br = kbps as usize * 1000;
    let r = rate as usize;
    let (frame_len, samples) = match layer {
        1 => ((12 * br / r + pad) * 4, 384),
        2 => (144 * br / r + pad, 1152),
        _ if version == 3 => (144 * br / r + pad, 1152),
        _ => (72 * br / r + pad, 576),
    };
    if frame_len < 4 {
        return None;
    }
    Some(MpaHeader {
        layer,
        frame_len,
        samples,
        rate,
        channels: if h[3] >> 6 == 3 { 1 } else { 2 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adts_header_of_fixture() {
        // First ADTS header in tests/fixtures/h264_aac.ts (xxd): fff14c80137f.. LC, 48 kHz
        // (index 3), stereo, 155-byte frame, as ffprobe reports (size 155, 48000 Hz, 2 ch).
        let h = adts_header(&[0xFF, 0xF1, 0x4C, 0x80, 0x13, 0x7F, 0xFC]).unwrap();
        assert_eq!(h.frame_len, 155);
        assert_eq!((h.rate, h.channels, h.header_len), (48000, 2, 7));
        // AudioSpecificConfig: AOT 2, index 3, 2 channels = 0x11 0x90 (14496-3 §1.6.2.1).
        assert_eq!(h.asc, [0x11, 0x90]);
        assert_eq!(
            adts_for(&h.asc, 148).unwrap()[..6],
            [0xFF, 0xF1, 0x4C, 0x80, 0x13, 0x7F]
        );
    }

    #[test]
    fn mp3_frame_length() {
        // MPEG-1 layer III, 96 kbit/s, 48 kHz, no padding: 144 * 96000 / 48000 = 288 bytes,
        // the size ffprobe lists for every frame of tests/fixtures/h264_mp3.ts.
        let h = mpa_header(&[0xFF, 0xFB, 0x74, 0x00]).unwrap();
        assert_eq!(
            (h.layer, h.frame_len, h.samples, h.rate),
            (3, 288, 1152, 48000)
        );
    }

    #[test]
    fn nal_units_split_on_3_and_4_byte_start_codes() {
        let b = [
            0, 0, 0, 1, 9, 0xF0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3,
        ];
        let n: Vec<&[u8]> = nal_units(&b).collect();
        assert_eq!(n, vec![&[9u8, 0xF0][..], &[0x67, 1, 2][..], &[0x68, 3][..]]);
        let lp = annexb_to_length_prefixed(&b, is_h264_aud);
        assert_eq!(&lp[..], &[0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 3]);
    }
}
