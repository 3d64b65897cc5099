//! Per-variant segment writers. A segmenter writes the segments of one variant in order and
//! keeps its muxer between them, so what a player sees across segment boundaries is one
//! stream: TS continuity counters count on and the PCR runs on; fMP4 sequence numbers rise
//! and `tfdt` follows the previous fragment exactly.
//!
//! Callers hand each segment's packets in decode order, in the muxer's framing
//! ([`Packaging::framing`](super::Packaging::framing)), restricted to the variant's tracks.

use bytes::Bytes;

use crate::dtsc::{Meta, Packet, Ticks, TrackId};
use crate::formats::mp4::fmp4;
use crate::formats::ts;
use crate::formats::{FormatError, MuxOptions, Muxer as _};
use crate::io::VecSink;

use super::segment::Segment;
use super::Packaging;

/// Writes one variant's segments, in order.
pub trait Segmenter: Send {
    /// The init segment, for formats that have one (fMP4's `ftyp` + `moov`).
    fn init(&self) -> Option<Bytes>;
    /// The bytes of `seg` from its packets. `next` gives, per track, the decode time of the
    /// packet after the segment when it is known (fMP4 uses it for the last sample's
    /// duration).
    fn segment(
        &mut self,
        seg: &Segment,
        packets: &[Packet],
        next: &[(TrackId, Ticks)],
    ) -> Result<Bytes, FormatError>;

    /// One fragment of `packets` with sequence number `sequence`, for formats cut finer than
    /// segments (LL-HLS parts of fMP4); `None` for formats that are not.
    fn fragment(
        &mut self,
        _sequence: u32,
        _packets: &[Packet],
        _next: &[(TrackId, Ticks)],
    ) -> Option<Result<Bytes, FormatError>> {
        None
    }
}

/// A segmenter of `packaging` for the tracks of `meta` (already restricted to one variant and
/// in the muxer's framing).
pub fn new(packaging: Packaging, meta: &Meta) -> Result<Box<dyn Segmenter>, FormatError> {
    Ok(match packaging {
        Packaging::HlsTs => Box::new(TsSegmenter::new(meta)?),
        Packaging::HlsFmp4 | Packaging::Dash => Box::new(Fmp4Segmenter::new(meta)?),
        // HDS and Smooth write their fragments themselves (`package::hds`, `package::smooth`).
        other => {
            return Err(FormatError::new(
                "package",
                0,
                crate::formats::Problem::Unsupported(format!("{} segments here", other.name())),
            ))
        }
    })
}

/// MPEG-TS segments (HLS): each starts with PAT and PMT, then (with video) the keyframe.
pub struct TsSegmenter {
    muxer: ts::mux::Muxer,
}

impl TsSegmenter {
    /// A segmenter for `meta`'s tracks.
    pub fn new(meta: &Meta) -> Result<TsSegmenter, FormatError> {
        let mut muxer = ts::mux::Muxer::new(false);
        muxer.start(meta, &mut VecSink::default())?;
        Ok(TsSegmenter { muxer })
    }
}

impl Segmenter for TsSegmenter {
    fn init(&self) -> Option<Bytes> {
        None
    }

    fn segment(
        &mut self,
        _seg: &Segment,
        packets: &[Packet],
        _next: &[(TrackId, Ticks)],
    ) -> Result<Bytes, FormatError> {
        let mut out = VecSink::default();
        for p in packets {
            self.muxer.write(p, &mut out)?;
        }
        self.muxer.end_segment(&mut out)?;
        Ok(Bytes::from(out.data))
    }
}

/// Fragmented MP4 segments (CMAF, HLS-fMP4, DASH): one `moof` + `mdat` per segment, its
/// sequence number the segment number plus one.
pub struct Fmp4Segmenter {
    muxer: fmp4::Muxer,
    init: Bytes,
}

impl Fmp4Segmenter {
    /// A segmenter for `meta`'s tracks.
    pub fn new(meta: &Meta) -> Result<Fmp4Segmenter, FormatError> {
        let mut muxer = fmp4::Muxer::new(&MuxOptions::default());
        let init = Bytes::from(muxer.start_segmented(meta)?);
        Ok(Fmp4Segmenter { muxer, init })
    }
}

impl Segmenter for Fmp4Segmenter {
    fn init(&self) -> Option<Bytes> {
        Some(self.init.clone())
    }

    fn segment(
        &mut self,
        seg: &Segment,
        packets: &[Packet],
        next: &[(TrackId, Ticks)],
    ) -> Result<Bytes, FormatError> {
        // mfhd sequence numbers start at 1 and rise by one per fragment.
        let seq = u32::try_from(seg.number.wrapping_add(1) & u64::from(u32::MAX)).unwrap_or(1);
        self.fragment(seq, packets, next)
            .unwrap_or_else(|| Ok(Bytes::new()))
    }

    fn fragment(
        &mut self,
        sequence: u32,
        packets: &[Packet],
        next: &[(TrackId, Ticks)],
    ) -> Option<Result<Bytes, FormatError>> {
        let mut out = VecSink::default();
        for p in packets {
            if let Err(e) = self.muxer.write(p, &mut out) {
                return Some(Err(e));
            }
        }
        Some(
            self.muxer
                .fragment(sequence, next, &mut out)
                .map(|()| Bytes::from(out.data)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Codec, Timebase, Track, TrackKind};

    fn audio_meta() -> Meta {
        let mut a = Track::new(TrackId(1), TrackKind::Audio, Codec::Mp3, Timebase::MS);
        a.params = crate::dtsc::Params::Audio(crate::dtsc::Audio {
            rate: 48_000,
            channels: 2,
            sample_bits: 16,
        });
        Meta {
            tracks: vec![a],
            ..Meta::default()
        }
    }

    fn frame(ms: i64) -> Packet {
        // An MPEG-1 layer III header (0xFFFB, 128 kbit/s, 48 kHz) and zero padding: the muxers
        // copy payloads, they do not decode them.
        let mut d = vec![0u8; 384];
        d[..4].copy_from_slice(&[0xFF, 0xFB, 0x94, 0x00]);
        Packet {
            track: TrackId(1),
            dts: Ticks(ms),
            cts: 0,
            keyframe: true,
            data: Bytes::from(d),
            pos: None,
        }
    }

    fn seg(n: u64, a: i64, b: i64) -> Segment {
        Segment {
            number: n,
            start_ms: a,
            end_ms: b,
            discontinuities: 0,
        }
    }

    #[test]
    fn ts_segments_start_with_pat_pmt_and_counters_run_on() {
        let mut s = TsSegmenter::new(&audio_meta()).unwrap();
        let one: Vec<Packet> = (0..50).map(|i| frame(i * 24)).collect();
        let two: Vec<Packet> = (50..100).map(|i| frame(i * 24)).collect();
        let a = s.segment(&seg(0, 0, 1200), &one, &[]).unwrap();
        let b = s.segment(&seg(1, 1200, 2400), &two, &[]).unwrap();
        for bytes in [&a, &b] {
            assert_eq!(bytes.len() % 188, 0);
            // PID of the first two packets: 0 (PAT), then the PMT's 0x1000.
            let pid =
                |i: usize| u16::from_be_bytes([bytes[i * 188 + 1], bytes[i * 188 + 2]]) & 0x1FFF;
            assert_eq!((pid(0), pid(1)), (0, 0x1000));
        }
        // Continuity counters of the audio PID run on from the last packet of segment one
        // into segment two (ISO/IEC 13818-1 §2.4.3.3: +1 per packet with payload).
        let last_cc = |bytes: &Bytes, pid: u16| {
            bytes
                .chunks(188)
                .filter(|p| (u16::from_be_bytes([p[1], p[2]]) & 0x1FFF) == pid && p[3] & 0x10 != 0)
                .map(|p| p[3] & 0x0F)
                .collect::<Vec<u8>>()
        };
        // Track id 1 cannot be a PID, so the muxer numbers from FIRST_PID.
        let ca = last_cc(&a, ts::mux::FIRST_PID);
        let cb = last_cc(&b, ts::mux::FIRST_PID);
        assert_eq!((ca.last().unwrap() + 1) & 0x0F, cb[0]);
        // PAT counters run on too.
        let pa = last_cc(&a, 0);
        let pb = last_cc(&b, 0);
        assert_eq!((pa.last().unwrap() + 1) & 0x0F, pb[0]);
    }

    #[test]
    fn fmp4_init_once_and_sequence_is_number_plus_one() {
        let mut s = Fmp4Segmenter::new(&audio_meta()).unwrap();
        let init = s.init().unwrap();
        assert_eq!(&init[4..8], b"ftyp");
        let one: Vec<Packet> = (0..10).map(|i| frame(i * 24)).collect();
        let b = s
            .segment(&seg(41, 0, 240), &one, &[(TrackId(1), Ticks(240))])
            .unwrap();
        assert_eq!(&b[4..8], b"moof");
        // moof(8) mfhd: size(4) 'mfhd' version/flags(4) sequence_number(4).
        assert_eq!(&b[12..16], b"mfhd");
        assert_eq!(u32::from_be_bytes([b[20], b[21], b[22], b[23]]), 42);
    }
}
