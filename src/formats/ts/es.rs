//! Elementary streams inside PES packets: which codec a PMT stream type means, and how a PES
//! payload splits into the access units ffprobe counts (one H.264/HEVC access unit per PES;
//! every ADTS frame and every MPEG audio frame separately), with their times.
//!
//! Header parsing comes from `src/codec/` (ADTS, MPEG audio, avcC from in-band parameter
//! sets); the NAL walking here is the allocation-light split the TS layer needs per PES.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::h264::AvcConfig;
use crate::codec::{aac, mp3};
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
    /// Video: where each NAL unit of `data` lies (start codes and trailing zeros excluded),
    /// found once while splitting so that sizing and reframing need not scan again.
    pub nals: Vec<(usize, usize)>,
}

impl Frame {
    /// The NAL units of a video frame.
    pub fn nal_units(&self) -> impl Iterator<Item = &[u8]> + Clone {
        self.nals.iter().filter_map(|&(s, e)| self.data.get(s..e))
    }
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
    /// The sample rate `anchor`'s sample count is in.
    anchor_rate: u32,
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
            anchor_rate: 0,
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
                let (key, nals) = self.scan_video(&payload, random_access);
                if self.kind == Kind::H264
                    && self.learned.init.is_none()
                    && self.sps.is_some()
                    && self.pps.is_some()
                {
                    match AvcConfig::from_annexb_parameter_sets(&payload, offset)
                        .and_then(|c| c.map(|c| c.build()).transpose())
                    {
                        Ok(init) => self.learned.init = init,
                        Err(e) => {
                            findings.push(Finding::of_error(&e));
                            self.sps = None;
                            self.pps = None;
                        }
                    }
                }
                out.push(Frame {
                    offset,
                    dts,
                    pts,
                    key,
                    data: payload,
                    nals,
                });
            }
            Kind::Adts | Kind::Mpa | Kind::Ac3 => self.audio(offset, payload, times, out, findings),
            Kind::Latm | Kind::Other => {}
        }
    }

    fn scan_video(&mut self, au: &[u8], random_access: bool) -> (bool, Vec<(usize, usize)>) {
        let mut key = false;
        let mut spans = Vec::new();
        for (start, end) in nal_spans(au) {
            let nal = &au[start..end];
            let Some(&b0) = nal.first() else { continue };
            spans.push((start, end));
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
        let _ = random_access;
        (key, spans)
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
                Kind::Ac3 => ac3_header(rest).map(|h| (h.frame_len, h.samples, h.rate, h)),
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
                let ac3 = self.kind == Kind::Ac3;
                let skip = (1..rest.len())
                    .find(|&i| {
                        let next = rest.get(i + 1).copied().unwrap_or(0);
                        if ac3 {
                            rest[i] == 0x0B && next == 0x77
                        } else {
                            rest[i] == 0xFF && next & 0xE0 == 0xE0
                        }
                    })
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
            let mut rate_out = rate;
            if self.learned.init.is_none() && self.kind == Kind::Adts {
                // The first frame's raw data shows HE-AAC (SBR), which ADTS headers cannot say.
                let config = aac::AdtsHeader::parse(rest, 0)
                    .ok()
                    .map(|full| aac::frame::config_of(&full, &rest[..len]));
                rate_out = config
                    .as_ref()
                    .map_or(rate, |c| c.output_sampling_frequency());
                let built = config.and_then(|c| c.build().ok());
                self.learned.init = Some(match built {
                    Some(b) => Bytes::from(b),
                    None => Bytes::copy_from_slice(&h.asc),
                });
            }
            if self.learned.codec.is_none() && self.kind == Kind::Mpa {
                self.learned.codec = Some(match h.asc[0] {
                    3 => Codec::Mp3,
                    2 => Codec::Mp2,
                    _ => Codec::Other("MP1".into()),
                });
            }
            if self.learned.rate == 0 {
                self.learned.rate = rate_out;
                self.learned.channels = h.channels;
            }
            if pos >= new_start && !anchored {
                if let Some((_, pts)) = times {
                    self.anchor = Some((pts, 0));
                }
                anchored = true;
            }
            if let Some((mut base, mut n)) = self.anchor {
                // Samples counted since the anchor are in the rate they were counted in: on a
                // rate change the anchor moves to the end of them, so each frame starts where
                // the one before ends at that one's own rate.
                if self.anchor_rate != rate && n > 0 {
                    base += rescale_round(n as i64, 90_000, u64::from(self.anchor_rate.max(1)));
                    n = 0;
                }
                self.anchor_rate = rate;
                let whole = data.slice(pos..pos + len);
                // One frame per raw data block: an ADTS frame may hold up to four.
                let blocks = match self.kind {
                    Kind::Adts if samples > AAC_BLOCK_SAMPLES => split_adts_blocks(&whole),
                    _ => None,
                };
                let pieces = blocks.unwrap_or_else(|| vec![(whole, samples)]);
                for (piece, piece_samples) in pieces {
                    let t = base + rescale_round(n as i64, 90_000, u64::from(rate.max(1)));
                    n += u64::from(piece_samples);
                    out.push(Frame {
                        offset,
                        dts: t,
                        pts: t,
                        key: true,
                        data: piece,
                        nals: Vec::new(),
                    });
                }
                self.anchor = Some((base, n));
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

/// Samples of one AAC raw data block.
const AAC_BLOCK_SAMPLES: u32 = 1024;

/// An ADTS frame of several raw data blocks as single-block ADTS frames (new 7-byte headers),
/// each with its sample count; `None` when the raw data cannot be walked (the frame then
/// stays whole).
fn split_adts_blocks(frame: &Bytes) -> Option<Vec<(Bytes, u32)>> {
    let h = aac::AdtsHeader::parse(frame, 0).ok()?;
    let parsed = aac::frame::AdtsFrame::parse(frame, &h, 0).ok()?;
    let config = h.to_asc();
    parsed
        .block_ranges()
        .into_iter()
        .map(|r| {
            let block = frame.get(r)?;
            let header = aac::AdtsHeader::from_asc(&config, block.len()).ok()?;
            let mut out = Vec::with_capacity(aac::ADTS_HEADER_LEN + block.len());
            header.write(&mut out);
            out.extend_from_slice(block);
            Some((Bytes::from(out), AAC_BLOCK_SAMPLES))
        })
        .collect()
}

/// Offset just past the next `00 00 01` at or after `from`, if any.
fn next_start(b: &[u8], from: usize) -> Option<usize> {
    crate::codec::h264::find_start_code(b, from).map(|i| i + 3)
}

/// Where the NAL units of an Annex B buffer lie (start codes and trailing zero bytes
/// excluded), as `start..end` offsets.
pub fn nal_spans(b: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut next = next_start(b, 0);
    std::iter::from_fn(move || {
        let s = next?;
        next = next_start(b, s);
        let mut e = next.map_or(b.len(), |n| n - 3);
        while e > s && b[e - 1] == 0 {
            e -= 1;
        }
        Some((s, e))
    })
}

/// The NAL units of an Annex B buffer (start codes and trailing zero bytes removed).
pub fn nal_units(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    nal_spans(b).map(move |(s, e)| &b[s..e])
}

/// NAL units → 4-byte length-prefixed, dropping those `drop` selects.
pub fn units_to_length_prefixed<'a>(
    units: impl Iterator<Item = &'a [u8]> + Clone,
    drop: impl Fn(&[u8]) -> bool,
) -> Bytes {
    let size: usize = units
        .clone()
        .filter(|n| !n.is_empty() && !drop(n))
        .map(|n| 4 + n.len())
        .sum();
    let mut out = BytesMut::with_capacity(size);
    for nal in units {
        if nal.is_empty() || drop(nal) {
            continue;
        }
        out.put_u32(nal.len() as u32);
        out.extend_from_slice(nal);
    }
    out.freeze()
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

/// Reads an ADTS header (ISO/IEC 13818-7 §6.2) at the start of `b` (through
/// [`codec::aac::AdtsHeader`](crate::codec::aac::AdtsHeader)).
pub fn adts_header(b: &[u8]) -> Option<AdtsHeader> {
    let h = aac::AdtsHeader::parse(b, 0).ok()?;
    // The two-byte AudioSpecificConfig (14496-3 §1.6.2.1): 5 bits object type (ADTS profile
    // + 1), 4 bits sampling index, 4 bits channels, 3 zero bits. Built in place: this runs
    // once per audio frame.
    let aot = u16::from(h.profile) + 1;
    let v = aot << 11
        | u16::from(h.sampling_frequency_index & 0x0F) << 7
        | u16::from(h.channel_configuration & 0x0F) << 3;
    let asc = v.to_be_bytes();
    Some(AdtsHeader {
        frame_len: usize::from(h.frame_length),
        header_len: h.header_len(),
        samples: 1024 * (u32::from(h.number_of_raw_data_blocks) + 1),
        rate: h.sampling_frequency(),
        channels: u32::from(h.channel_configuration),
        asc,
    })
}

/// The ADTS header for a raw frame of `raw_len` bytes with AudioSpecificConfig `asc`.
pub fn adts_for(asc: &[u8], raw_len: usize) -> Option<Vec<u8>> {
    let c = aac::AudioSpecificConfig::parse(asc, 0).ok()?;
    let h = aac::AdtsHeader::from_asc(&c, raw_len).ok()?;
    let mut out = Vec::with_capacity(9);
    h.write(&mut out);
    Some(out)
}

/// `template` (an ADTS header from [`adts_for`]) with aac_frame_length set for a raw frame of
/// `raw_len` bytes: the 13 bits after the first 30 (ISO/IEC 13818-7 §6.2.2). The header is the
/// first `template.len()` bytes of the array.
pub fn adts_with_length(template: &[u8], raw_len: usize) -> Option<[u8; 9]> {
    let n = template.len();
    let total = raw_len.checked_add(n)?;
    if !(7..=9).contains(&n) || total > 0x1FFF {
        return None;
    }
    let mut h = [0u8; 9];
    h[..n].copy_from_slice(template);
    let total = total as u16;
    h[3] = (h[3] & 0xFC) | (total >> 11) as u8;
    h[4] = (total >> 3) as u8;
    h[5] = (h[5] & 0x1F) | ((total & 0x07) as u8) << 5;
    Some(h)
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

/// Reads an AC-3 syncframe header (ATSC A/52 §5.3.1, frame sizes from Table 5.18) at the
/// start of `b`; E-AC-3 (bsid > 10) is not split.
pub fn ac3_header(b: &[u8]) -> Option<AdtsHeader> {
    let h = b.get(..7)?;
    if h[0] != 0x0B || h[1] != 0x77 {
        return None;
    }
    let fscod = h[4] >> 6;
    let frmsizecod = usize::from(h[4] & 0x3F);
    let bsid = h[5] >> 3;
    if fscod == 3 || frmsizecod > 37 || bsid > 10 {
        return None;
    }
    const KBPS: [u32; 19] = [
        32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640,
    ];
    let kbps = KBPS[frmsizecod / 2];
    let (rate, words) = match fscod {
        0 => (48_000, 2 * kbps),
        1 => (44_100, kbps * 96_000 / 44_100 + (frmsizecod as u32 & 1)),
        _ => (32_000, 3 * kbps),
    };
    let acmod = usize::from(h[6] >> 5);
    let channels = [2, 1, 2, 3, 3, 4, 4, 5][acmod];
    Some(AdtsHeader {
        frame_len: 2 * words as usize,
        header_len: 0,
        samples: 1536,
        rate,
        channels,
        asc: [0, 0],
    })
}

/// Reads an MPEG-1/2/2.5 audio frame header (ISO/IEC 11172-3 §2.4.1.3) at the start of `b`
/// (through [`codec::mp3::FrameHeader`](crate::codec::mp3::FrameHeader)).
pub fn mpa_header(b: &[u8]) -> Option<MpaHeader> {
    let h = mp3::FrameHeader::parse(b, 0).ok()?;
    let frame_len = h.frame_len();
    if frame_len < 4 {
        return None;
    }
    Some(MpaHeader {
        layer: h.layer,
        frame_len,
        samples: h.samples_per_frame(),
        rate: h.sample_rate,
        channels: h.channels(),
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
    fn adts_frames_of_several_blocks_split_like_the_encoders_block_positions() {
        // Oracle: tests/fixtures/crc_lc_blocks_split.aac, the blocks of crc_lc_blocks.aac cut
        // where its headers' raw_data_block_position fields say (and checked by fdk-aac to
        // decode alike). Ten two-block frames in one PES give twenty one-block frames, 1024
        // samples apart at 44.1 kHz, each equal to the reference's frame.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let src = std::fs::read(dir.join("crc_lc_blocks.aac")).unwrap();
        let want = std::fs::read(dir.join("crc_lc_blocks_split.aac")).unwrap();
        let frames = |d: &[u8], n: usize| {
            let mut at = 0;
            let mut v = Vec::new();
            while v.len() < n {
                let len = adts_header(&d[at..]).unwrap().frame_len;
                v.push(d[at..at + len].to_vec());
                at += len;
            }
            v
        };
        let payload: Vec<u8> = frames(&src, 10).concat();
        let mut sp = Splitter::new(Kind::Adts);
        let (mut out, mut findings) = (Vec::new(), Vec::new());
        sp.push(
            0,
            Bytes::from(payload),
            Some((900, 900)),
            true,
            &mut out,
            &mut findings,
        );
        assert!(findings.is_empty(), "{findings:?}");
        let got: Vec<Vec<u8>> = out.iter().map(|f| f.data.to_vec()).collect();
        assert_eq!(got, frames(&want, 20));
        let times: Vec<i64> = out.iter().map(|f| f.dts).collect();
        let expect: Vec<i64> = (0..20)
            .map(|i| 900 + rescale_round(i * 1024, 90_000, 44_100))
            .collect();
        assert_eq!(times, expect);
    }

    #[test]
    fn a_rate_change_inside_a_pes_steps_by_each_frames_own_rate() {
        // Oracle: ffprobe on the fuzz input this came from (a 44.1 kHz header among 48 kHz
        // frames in one PES): each frame starts where the one before it ends at that one's
        // rate: 900, +1920 (48 kHz), +1920 (48 kHz), +2090 (1024 at 44.1 kHz).
        let frame = |asc: &[u8]| {
            let raw = [0x21u8, 0x10, 0x04, 0x60, 0x8C, 0x1C];
            let mut f = adts_for(asc, raw.len()).unwrap();
            f.extend_from_slice(&raw);
            f
        };
        let (f48, f44) = (frame(&[0x11, 0x90]), frame(&[0x12, 0x10]));
        let payload = [f48.clone(), f48, f44.clone(), f44].concat();
        let mut sp = Splitter::new(Kind::Adts);
        let (mut out, mut findings) = (Vec::new(), Vec::new());
        sp.push(
            0,
            Bytes::from(payload),
            Some((900, 900)),
            true,
            &mut out,
            &mut findings,
        );
        let times: Vec<i64> = out.iter().map(|f| f.dts).collect();
        assert_eq!(times, [900, 2820, 4740, 6830]);
    }

    #[test]
    fn ac3_frame_sizes_from_table_5_18() {
        // A/52 Table 5.18: 448 kbit/s (frmsizecod 30) is 896 words at 48 kHz; 640 kbit/s
        // odd code (37) is 1394 words at 44.1 kHz; 32 kbit/s (0) is 96 words at 32 kHz.
        let h = |fs: u8, code: u8| ac3_header(&[0x0B, 0x77, 0, 0, fs << 6 | code, 8 << 3, 0x40]);
        assert_eq!(h(0, 30).unwrap().frame_len, 2 * 896);
        assert_eq!(h(1, 37).unwrap().frame_len, 2 * 1394);
        assert_eq!(h(2, 0).unwrap().frame_len, 2 * 96);
        assert_eq!(h(0, 30).unwrap().channels, 2);
        assert!(h(3, 0).is_none());
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
    fn patched_adts_length_equals_a_freshly_built_header() {
        // Oracle: codec::aac's ADTS builder, frame by frame.
        for asc in [[0x11u8, 0x90], [0x12, 0x08], [0x13, 0x10]] {
            let template = adts_for(&asc, 0).unwrap();
            for raw in [0usize, 1, 7, 255, 256, 1000, 2047, 8183] {
                let fresh = adts_for(&asc, raw).unwrap();
                let patched = adts_with_length(&template, raw).unwrap();
                assert_eq!(&patched[..template.len()], &fresh[..], "{asc:?} {raw}");
            }
            assert!(adts_with_length(&template, 8185).is_none());
        }
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
