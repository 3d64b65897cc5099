//! Framing conversions, decided once per track before the first packet (FFmpeg's
//! `check_bitstream`): demuxers hand out each codec's canonical framing, and when a muxer asks
//! for another one (Annex B for TS, ADTS for `.aac`), the packet is converted here.
//!
//! Supported: H.264/HEVC length-prefixed (1, 2 or 4 bytes) ⇄ Annex B (4-byte start codes),
//! length-prefixed size changes, and AAC raw ⇄ ADTS (one frame per packet). Parameter sets are
//! not inserted or removed: a muxer that needs them in band (TS before each IDR) adds them
//! from `init` itself.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::aac::{AdtsHeader, AudioSpecificConfig};
use crate::codec::h264::{
    annexb_to_length_prefixed, length_prefixed_to_annexb, AvcConfig, LengthPrefixedNals,
};
use crate::dtsc::{Codec, Framing, Packet, Track};
use crate::formats::{FormatError, Problem};

/// The conversion one track needs.
#[derive(Clone, Debug)]
enum Step {
    /// Nothing to do.
    Same,
    /// Length-prefixed NAL units (`from` bytes) to Annex B.
    ToAnnexB { from: u8 },
    /// Annex B to 4-byte length-prefixed NAL units.
    FromAnnexB,
    /// Length-prefixed with a different length size.
    Resize { from: u8, to: u8 },
    /// Raw AAC frames to ADTS using this configuration.
    ToAdts(Box<AudioSpecificConfig>),
    /// ADTS frames to raw AAC.
    FromAdts,
}

/// Converts one track's packets from its framing to the framing a muxer wants.
#[derive(Clone, Debug)]
pub struct Adapter {
    from: Framing,
    to: Framing,
    step: Step,
    /// The init data of the output track, when it changes (an `avcC` built from in-band
    /// parameter sets, an ASC read from the first ADTS header).
    init: Option<Bytes>,
}

fn unsupported(track: &Track, to: Framing, why: &str) -> FormatError {
    FormatError::whole(
        "pipeline",
        Problem::Unsupported(format!(
            "converting {} track {} from {} to {}{why}",
            track.codec.mist_name(),
            track.id,
            track.framing.describe(),
            to.describe()
        )),
    )
}

impl Adapter {
    /// An adapter from `track.framing` to `to`, or an error if mist cannot convert between them.
    pub fn new(track: &Track, to: Framing) -> Result<Adapter, FormatError> {
        let from = track.framing;
        let nal_codec = matches!(track.codec, Codec::H264 | Codec::Hevc);
        let step = match (from, to) {
            _ if from == to => Step::Same,
            (Framing::LengthPrefixed { size }, Framing::AnnexB) if nal_codec => {
                Step::ToAnnexB { from: size }
            }
            (Framing::AnnexB, Framing::LengthPrefixed { size: 4 }) if nal_codec => Step::FromAnnexB,
            (Framing::LengthPrefixed { size: a }, Framing::LengthPrefixed { size: b })
                if nal_codec && matches!(b, 1 | 2 | 4) =>
            {
                Step::Resize { from: a, to: b }
            }
            (Framing::Raw, Framing::Adts) if track.codec == Codec::Aac => {
                let asc = AudioSpecificConfig::parse(&track.init, 0).map_err(|e| {
                    unsupported(
                        track,
                        to,
                        &format!(": its AudioSpecificConfig is unusable ({e})"),
                    )
                })?;
                // Check once that ADTS can describe this configuration.
                AdtsHeader::from_asc(&asc, 0)
                    .map_err(|e| unsupported(track, to, &format!(": {e}")))?;
                Step::ToAdts(Box::new(asc))
            }
            (Framing::Adts, Framing::Raw) if track.codec == Codec::Aac => Step::FromAdts,
            _ => return Err(unsupported(track, to, "")),
        };
        let init = match (&step, track.codec.clone()) {
            // A length-prefixed H.264 track needs an avcC; build one from the Annex B init
            // (parameter sets as start-code separated NAL units) when that is what we have.
            (Step::FromAnnexB, Codec::H264) if AvcConfig::parse(&track.init, 0).is_err() => {
                AvcConfig::from_annexb_parameter_sets(&track.init, 0)
                    .ok()
                    .flatten()
                    .and_then(|c| c.build().ok())
            }
            (Step::Resize { to, .. }, Codec::H264) => {
                AvcConfig::parse(&track.init, 0).ok().and_then(|mut c| {
                    c.length_size = *to;
                    c.build().ok()
                })
            }
            _ => None,
        };
        Ok(Adapter {
            from,
            to,
            step,
            init,
        })
    }

    /// The track as the muxer will see it (framing changed, init rebuilt when needed).
    pub fn track(&self, t: &Track) -> Track {
        let mut t = t.clone();
        t.framing = self.to;
        if let Some(init) = &self.init {
            t.init = init.clone();
        }
        t
    }

    /// The framing packets come in.
    pub fn from(&self) -> Framing {
        self.from
    }

    /// The packet in the target framing.
    pub fn apply(&mut self, mut p: Packet) -> Result<Packet, FormatError> {
        let base = p.pos.unwrap_or(0);
        p.data = match &self.step {
            Step::Same => return Ok(p),
            Step::ToAnnexB { from } => length_prefixed_to_annexb(&p.data, *from, base)?,
            Step::FromAnnexB => annexb_to_length_prefixed(&p.data, base)?,
            Step::Resize { from, to } => resize(&p.data, *from, *to, base)?,
            Step::ToAdts(asc) => {
                let h = AdtsHeader::from_asc(asc, p.data.len())
                    .map_err(|e| FormatError::new("adts", base, e.problem))?;
                let mut out = BytesMut::with_capacity(h.header_len() + p.data.len());
                let mut head = Vec::with_capacity(9);
                h.write(&mut head);
                out.extend_from_slice(&head);
                out.extend_from_slice(&p.data);
                out.freeze()
            }
            Step::FromAdts => {
                let h = AdtsHeader::parse(&p.data, base)?;
                if h.number_of_raw_data_blocks != 0 {
                    return Err(FormatError::new(
                        "adts",
                        base,
                        Problem::Unsupported(format!(
                            "{} raw data blocks in one ADTS frame",
                            u32::from(h.number_of_raw_data_blocks) + 1
                        )),
                    ));
                }
                let end = usize::from(h.frame_length);
                if end > p.data.len() {
                    return Err(FormatError::new(
                        "adts",
                        base,
                        Problem::Truncated {
                            what: "ADTS frame",
                            need: (end - p.data.len()) as u64,
                        },
                    ));
                }
                p.data.slice(h.header_len()..end)
            }
        };
        Ok(p)
    }
}

/// Rewrites NAL unit lengths from `from` to `to` bytes.
fn resize(data: &Bytes, from: u8, to: u8, base: u64) -> Result<Bytes, FormatError> {
    let mut out = BytesMut::with_capacity(data.len() + 16);
    let limit = if to >= 4 {
        u64::from(u32::MAX)
    } else {
        (1u64 << (8 * u32::from(to))) - 1
    };
    for nal in LengthPrefixedNals::new(data.clone(), from, base) {
        let (at, nal) = nal?;
        if nal.len() as u64 > limit {
            return Err(FormatError::new(
                "h264",
                at,
                Problem::Limit {
                    what: "NAL unit size for the output length field",
                    limit,
                },
            ));
        }
        out.put_uint(nal.len() as u64, usize::from(to));
        out.extend_from_slice(&nal);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Ticks, Timebase, TrackId, TrackKind};

    fn packet(data: &'static [u8]) -> Packet {
        Packet {
            track: TrackId(1),
            dts: Ticks(0),
            cts: 0,
            keyframe: true,
            data: Bytes::from_static(data),
            pos: Some(0),
        }
    }

    fn track(codec: Codec, kind: TrackKind, framing: Framing, init: &'static [u8]) -> Track {
        let mut t = Track::new(TrackId(1), kind, codec, Timebase::MS);
        t.framing = framing;
        t.init = Bytes::from_static(init);
        t
    }

    #[test]
    fn h264_length_prefixed_to_annexb_and_back() {
        let t = track(
            Codec::H264,
            TrackKind::Video,
            Framing::LengthPrefixed { size: 4 },
            &[],
        );
        let mut a = Adapter::new(&t, Framing::AnnexB).unwrap();
        assert_eq!(a.track(&t).framing, Framing::AnnexB);
        // 00 00 00 02 65 88 -> 00 00 00 01 65 88 (hand-computed).
        let p = a.apply(packet(&[0, 0, 0, 2, 0x65, 0x88])).unwrap();
        assert_eq!(&p.data[..], &[0, 0, 0, 1, 0x65, 0x88]);
        let t2 = a.track(&t);
        let mut b = Adapter::new(&t2, Framing::LengthPrefixed { size: 4 }).unwrap();
        assert_eq!(&b.apply(p).unwrap().data[..], &[0, 0, 0, 2, 0x65, 0x88]);
        // Resize 4 -> 2.
        let mut c = Adapter::new(&t, Framing::LengthPrefixed { size: 2 }).unwrap();
        let p = c.apply(packet(&[0, 0, 0, 2, 0x65, 0x88])).unwrap();
        assert_eq!(&p.data[..], &[0, 2, 0x65, 0x88]);
    }

    #[test]
    fn aac_raw_to_adts_and_back() {
        // ASC 11 90: LC 48 kHz stereo; a 2-byte frame gives frame_length 9:
        // ff f1 4c 80 | 01 (9 >> 3 = 1) | 3f (9 & 7 = 001, fullness top 11111) | fc.
        let t = track(Codec::Aac, TrackKind::Audio, Framing::Raw, &[0x11, 0x90]);
        let mut a = Adapter::new(&t, Framing::Adts).unwrap();
        let p = a.apply(packet(&[0xde, 0xad])).unwrap();
        assert_eq!(
            &p.data[..],
            &[0xff, 0xf1, 0x4c, 0x80, 0x01, 0x3f, 0xfc, 0xde, 0xad]
        );
        let t2 = a.track(&t);
        let mut b = Adapter::new(&t2, Framing::Raw).unwrap();
        assert_eq!(&b.apply(p).unwrap().data[..], &[0xde, 0xad]);
    }

    #[test]
    fn unsupported_pairs_still_error() {
        let t = track(Codec::Mp3, TrackKind::Audio, Framing::Raw, &[]);
        assert!(Adapter::new(&t, Framing::Adts).is_err());
        let t = track(Codec::Aac, TrackKind::Audio, Framing::Raw, &[]);
        assert!(Adapter::new(&t, Framing::Adts).is_err(), "no ASC, no ADTS");
        let t = track(Codec::H264, TrackKind::Video, Framing::AnnexB, &[]);
        assert!(Adapter::new(&t, Framing::Adts).is_err());
    }
}
