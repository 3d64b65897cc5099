//! HDS fragments (F4F, Adobe Flash Video File Format 10.1 Annex C): `afra`, an optional
//! `abst`, `moof`, `mdat`. The `mdat` holds FLV tags (header, audio/video tag header,
//! payload, `PreviousTagSize`; no FLV file header): the codecs' sequence headers first, then
//! every packet of the segment in decode order. That is what players read: OSMF and yt-dlp
//! take the `mdat` body and append it to an FLV header.
//!
//! The other boxes describe the same bytes the ISO way:
//! - `afra`: a random access point per video keyframe (without video: the first packet),
//!   its time in ms and the offset of its tag from the start of the fragment (the first
//!   one points at the sequence headers, which a decoder needs first);
//! - `moof`: `mfhd` with the fragment number, then per track a `traf` with `tfhd` (its
//!   base data offset the start of the `mdat` body) and one `trun` per sample (the samples
//!   are not contiguous: FLV tag headers sit between them), each giving the payload's
//!   offset, size, duration (ms), flags and, for video, the composition offset.

use bytes::{BufMut, Bytes};

use crate::dtsc::{Packet, Ticks, Timebase, Track, TrackId, TrackKind};
use crate::formats::error::{FormatError, Problem};
use crate::formats::flv::body;
use crate::formats::flv::tag::{TagHeader, TagType, MAX_DATA_SIZE};
use crate::formats::mp4::boxes::fragment::{
    write_mfhd, Tfhd, Trun, TrunSample, SAMPLE_NON_SYNC, SAMPLE_SYNC,
};
use crate::formats::mp4::boxes::{header_bytes, next_child, Writer};
use crate::io::Cursor;

use super::boxes::{Abst, Afra, AfraEntry, FORMAT};
use super::TIMESCALE;

/// One sample as the `moof` describes it.
#[derive(Clone, Copy, Debug)]
struct Sample {
    track: usize,
    /// Offset of the payload in the `mdat` body.
    offset: u64,
    size: u32,
    dts_ms: i64,
    cts_ms: i32,
    key: bool,
}

/// What a fragment is made of.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The variant's tracks (main first), in FLV framing.
    pub tracks: &'a [Track],
    /// The fragment number (`mfhd` sequence number).
    pub fragment: u32,
    /// The segment's packets of these tracks, in decode order.
    pub packets: &'a [Packet],
    /// Per track, the decode time of the packet after the segment, when known.
    pub next: &'a [(TrackId, Ticks)],
    /// An `abst` box to carry (live fragments), whole.
    pub bootstrap: Option<&'a [u8]>,
}

fn err(why: String) -> FormatError {
    FormatError::new(FORMAT, 0, Problem::Invalid(why))
}

fn put_tag(
    out: &mut Vec<u8>,
    kind: TagType,
    ts_ms: i64,
    head: &[u8],
    payload: &[u8],
) -> Result<u64, FormatError> {
    let size = head.len() + payload.len();
    if size > MAX_DATA_SIZE as usize {
        return Err(FormatError::new(
            FORMAT,
            0,
            Problem::Limit {
                what: "FLV tag data size",
                limit: u64::from(MAX_DATA_SIZE),
            },
        ));
    }
    let h = TagHeader::new(kind, size as u32, (ts_ms as u64 & 0xFFFF_FFFF) as u32);
    h.write(out);
    out.extend_from_slice(head);
    let at = out.len() as u64;
    out.extend_from_slice(payload);
    out.put_u32(h.tag_size());
    Ok(at)
}

/// Writes one fragment.
pub fn write(input: &Input) -> Result<Bytes, FormatError> {
    let tracks = input.tracks;
    let flags: Vec<u8> = tracks
        .iter()
        .map(|t| body::audio_flags(t).unwrap_or(0))
        .collect();
    let ms = |i: usize, t: Ticks| tracks[i].timebase.rescale(t.0, Timebase::MS);
    let first_ms = input
        .packets
        .iter()
        .filter_map(|p| {
            let i = tracks.iter().position(|t| t.id == p.track)?;
            Some(ms(i, p.dts))
        })
        .min()
        .unwrap_or(0)
        .max(0);
    let mut content: Vec<u8> = Vec::with_capacity(
        input
            .packets
            .iter()
            .map(|p| p.data.len() + 20)
            .sum::<usize>()
            + 256,
    );
    // Sequence headers: video first, as the FLV muxer writes them.
    let mut order: Vec<usize> = (0..tracks.len()).collect();
    order.sort_by_key(|&i| tracks[i].kind != TrackKind::Video);
    for &i in &order {
        if let Some((kind, head, init)) = body::sequence_header(&tracks[i]) {
            put_tag(&mut content, kind, first_ms, head.as_slice(), &init)?;
        }
    }
    let has_video = tracks.iter().any(|t| t.kind == TrackKind::Video);
    let mut samples: Vec<Sample> = Vec::with_capacity(input.packets.len());
    let mut access: Vec<AfraEntry> = Vec::new();
    for p in input.packets {
        let Some(i) = tracks.iter().position(|t| t.id == p.track) else {
            continue;
        };
        let t = &tracks[i];
        let dts = ms(i, p.dts);
        if dts < 0 {
            return Err(err(format!(
                "track {}: time {dts} ms is before the stream's start",
                t.id
            )));
        }
        let cts = ms(i, p.pts()) - dts;
        if !(-(1 << 23)..(1 << 23)).contains(&cts) {
            return Err(err(format!(
                "track {}: composition offset {cts} ms does not fit FLV's 24 bits",
                t.id
            )));
        }
        let Some((kind, head)) = body::packet_head(&t.codec, flags[i], p.keyframe, cts as i32)
        else {
            return Err(FormatError::new(
                FORMAT,
                0,
                Problem::Unsupported(format!("{} in HDS", t.codec.ffprobe_name())),
            ));
        };
        let tag_at = content.len() as u64;
        let random_access = if has_video {
            t.kind == TrackKind::Video && p.keyframe
        } else {
            access.is_empty()
        };
        if random_access {
            // The first access point starts at the sequence headers.
            let offset = if access.is_empty() { 0 } else { tag_at };
            access.push(AfraEntry {
                time: dts as u64,
                offset,
            });
        }
        let offset = put_tag(&mut content, kind, dts, head.as_slice(), &p.data)?;
        samples.push(Sample {
            track: i,
            offset,
            size: p.data.len() as u32,
            dts_ms: dts,
            cts_ms: cts as i32,
            key: p.keyframe || t.kind != TrackKind::Video,
        });
    }
    // Durations: to the track's next sample; the last one to the next packet after the
    // segment, else as long as the one before it.
    let mut durations = vec![0u32; samples.len()];
    for (i, track) in tracks.iter().enumerate() {
        let idx: Vec<usize> = (0..samples.len())
            .filter(|&k| samples[k].track == i)
            .collect();
        let next = input
            .next
            .iter()
            .find(|(id, _)| *id == track.id)
            .map(|(_, t)| ms(i, *t));
        let mut last = 0u32;
        for (n, &k) in idx.iter().enumerate() {
            let to = match idx.get(n + 1) {
                Some(&j) => Some(samples[j].dts_ms),
                None => next,
            };
            let d = match to {
                Some(e) => u32::try_from(e - samples[k].dts_ms).unwrap_or(0),
                None => last,
            };
            durations[k] = d;
            last = d;
        }
    }
    let abst = input.bootstrap.unwrap_or(&[]);
    let long_offsets = content.len() as u64 + abst.len() as u64 + (16 << 20) > u64::from(u32::MAX);
    let afra_len = Afra::size(access.len(), long_offsets) as u64;
    let mdat_head = header_bytes(b"mdat", content.len() as u64);
    let moof_len = moof(input, &samples, &durations, 0).len() as u64;
    let base = afra_len + abst.len() as u64 + moof_len + mdat_head.len() as u64;
    let moof = moof(input, &samples, &durations, base);
    let afra = Afra {
        long_ids: false,
        long_offsets,
        timescale: TIMESCALE,
        entries: access
            .iter()
            .map(|e| AfraEntry {
                time: e.time,
                offset: base + e.offset,
            })
            .collect(),
        global: Vec::new(),
    };
    let mut w = Writer::new();
    afra.write(&mut w);
    debug_assert_eq!(w.len() as u64, afra_len);
    let mut out = w.buf;
    out.reserve(abst.len() + moof.len() + mdat_head.len() + content.len());
    out.extend_from_slice(abst);
    out.extend_from_slice(&moof);
    out.extend_from_slice(&mdat_head);
    out.extend_from_slice(&content);
    Ok(Bytes::from(out))
}

/// The `moof` of the samples, their payloads found from `base` (the `mdat` body's offset in
/// the fragment).
fn moof(input: &Input, samples: &[Sample], durations: &[u32], base: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.begin(b"moof");
    write_mfhd(&mut w, input.fragment);
    for (i, t) in input.tracks.iter().enumerate() {
        if !samples.iter().any(|s| s.track == i) {
            continue;
        }
        let video = t.kind == TrackKind::Video;
        w.begin(b"traf");
        Tfhd {
            flags: 0,
            track_id: t.id.0,
            base_data_offset: Some(base),
            ..Tfhd::default()
        }
        .write(&mut w);
        for (k, s) in samples.iter().enumerate().filter(|(_, s)| s.track == i) {
            Trun {
                version: if video { 1 } else { 0 },
                flags: 0,
                data_offset: Some(i32::try_from(s.offset).unwrap_or(i32::MAX)),
                first_flags: None,
                samples: vec![TrunSample {
                    duration: Some(durations[k]),
                    size: Some(s.size),
                    flags: Some(if s.key { SAMPLE_SYNC } else { SAMPLE_NON_SYNC }),
                    cto: video.then_some(s.cts_ms),
                }],
            }
            .write(&mut w);
        }
        w.end();
    }
    w.end();
    w.buf
}

/// The `onMetaData`-free FLV header yt-dlp and OSMF put before the `mdat` bodies they
/// join: signature, version 1, audio and video flags, header size 9, `PreviousTagSize0`.
pub fn flv_header(audio: bool, video: bool) -> [u8; 13] {
    let flags = u8::from(audio) << 2 | u8::from(video);
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// One `trun` sample of a parsed fragment, with the track it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Described {
    /// `tfhd` track id.
    pub track: u32,
    /// Absolute offset of its payload in the fragment.
    pub offset: u64,
    /// Size.
    pub size: u32,
    /// Duration (ms).
    pub duration: u32,
    /// Sync sample.
    pub sync: bool,
}

/// A fragment read back.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// Top-level box types in order.
    pub boxes: Vec<[u8; 4]>,
    /// The `afra`.
    pub afra: Option<Afra>,
    /// The `abst`, when carried.
    pub abst: Option<Abst>,
    /// `mfhd` sequence number.
    pub sequence: Option<u32>,
    /// Samples the `moof` describes.
    pub samples: Vec<Described>,
    /// Offset of the `mdat` body in the fragment.
    pub mdat_at: u64,
    /// The `mdat` body: FLV tags.
    pub mdat: Bytes,
}

/// Reads a fragment's boxes.
pub fn parse(data: &Bytes) -> Result<Parsed, FormatError> {
    use crate::formats::mp4::boxes::fragment::parse_mfhd;
    let mut c = Cursor::new(data.clone(), 0, FORMAT);
    let mut p = Parsed::default();
    let mut saw_mdat = false;
    while let Some((h, mut body)) = next_child(&mut c)? {
        p.boxes.push(h.kind);
        match &h.kind {
            b"afra" => p.afra = Some(Afra::parse(&mut body)?),
            b"abst" => p.abst = Some(Abst::parse(&mut body)?),
            b"moof" => {
                while let Some((ch, mut cb)) = next_child(&mut body)? {
                    match &ch.kind {
                        b"mfhd" => p.sequence = Some(parse_mfhd(&mut cb)?),
                        b"traf" => {
                            let mut tfhd: Option<Tfhd> = None;
                            while let Some((th, mut tb)) = next_child(&mut cb)? {
                                match &th.kind {
                                    b"tfhd" => tfhd = Some(Tfhd::parse(&mut tb)?),
                                    b"trun" => {
                                        let trun = Trun::parse(&mut tb)?;
                                        let Some(f) = tfhd else {
                                            return Err(tb.invalid("trun before tfhd"));
                                        };
                                        let base = f.base_data_offset.unwrap_or(h.offset);
                                        let mut at = base
                                            .checked_add_signed(i64::from(
                                                trun.data_offset.unwrap_or(0),
                                            ))
                                            .unwrap_or(u64::MAX);
                                        for (k, s) in trun.samples.iter().enumerate() {
                                            let flags = if k == 0 {
                                                trun.first_flags.or(s.flags)
                                            } else {
                                                s.flags
                                            };
                                            let size = s.size.or(f.size).unwrap_or(0);
                                            p.samples.push(Described {
                                                track: f.track_id,
                                                offset: at,
                                                size,
                                                duration: s.duration.or(f.duration).unwrap_or(0),
                                                sync: flags
                                                    .or(f.sample_flags)
                                                    .is_some_and(|x| x & 0x0001_0000 == 0),
                                            });
                                            at = at.saturating_add(u64::from(size));
                                        }
                                    }
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            b"mdat" => {
                saw_mdat = true;
                p.mdat_at = h.payload_offset();
                p.mdat = body.rest();
            }
            _ => {}
        }
    }
    if !saw_mdat {
        return Err(FormatError::invalid(
            FORMAT,
            data.len() as u64,
            "no mdat box",
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Audio, Codec, Params};

    fn aac_track() -> Track {
        let mut a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS);
        a.init = Bytes::from_static(&[0x11, 0x90]);
        a.params = Params::Audio(Audio {
            rate: 48_000,
            channels: 2,
            sample_bits: 16,
        });
        a
    }

    fn frame(ms: i64, len: usize) -> Packet {
        Packet {
            track: TrackId(2),
            dts: Ticks(ms),
            cts: 0,
            keyframe: true,
            data: Bytes::from(vec![0xAB; len]),
            pos: None,
        }
    }

    #[test]
    fn an_audio_fragment_hand_computed() {
        // Two AAC frames at 1000 and 1021 ms, the next packet at 1043 ms; fragment 3.
        let tracks = [aac_track()];
        let packets = [frame(1000, 4), frame(1021, 3)];
        let next = [(TrackId(2), Ticks(1043))];
        let f = write(&Input {
            tracks: &tracks,
            fragment: 3,
            packets: &packets,
            next: &next,
            bootstrap: None,
        })
        .unwrap();
        // afra: one entry (no video: the first packet) = 33 bytes.
        assert_eq!(&f[4..8], b"afra");
        assert_eq!(u32::from_be_bytes([f[0], f[1], f[2], f[3]]), 33);
        // moof: 8 + mfhd 16 + traf (8 + tfhd 8+4+4+8 = 24 + two truns of 8+4+4+4+4+4+4 = 32).
        let moof_at = 33usize;
        assert_eq!(&f[moof_at + 4..moof_at + 8], b"moof");
        let moof_len = 8 + 16 + 8 + 24 + 2 * 32;
        assert_eq!(
            u32::from_be_bytes([f[moof_at], f[moof_at + 1], f[moof_at + 2], f[moof_at + 3]]),
            moof_len
        );
        let mdat_at = moof_at + moof_len as usize;
        assert_eq!(&f[mdat_at + 4..mdat_at + 8], b"mdat");
        let body = &f[mdat_at + 8..];
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            // AAC sequence header at 1000 ms: tag type 8, size 4, time 0x0003E8, ext 0, id 0
            8, 0, 0, 4, 0, 0x03, 0xE8, 0, 0, 0, 0,
            0xAF, 0,          // AAC, 44 kHz/16-bit/stereo flags, AACPacketType 0
            0x11, 0x90,       // AudioSpecificConfig
            0, 0, 0, 15,      // PreviousTagSize 11 + 4
            // frame 1
            8, 0, 0, 6, 0, 0x03, 0xE8, 0, 0, 0, 0,
            0xAF, 1, 0xAB, 0xAB, 0xAB, 0xAB,
            0, 0, 0, 17,
            // frame 2 at 1021 ms
            8, 0, 0, 5, 0, 0x03, 0xFD, 0, 0, 0, 0,
            0xAF, 1, 0xAB, 0xAB, 0xAB,
            0, 0, 0, 16,
        ];
        assert_eq!(body, &want[..]);
        let p = parse(&f).unwrap();
        assert_eq!(p.boxes, vec![*b"afra", *b"moof", *b"mdat"]);
        assert_eq!(p.sequence, Some(3));
        let base = mdat_at as u64 + 8;
        // afra: the first access point is the sequence header, at the start of the body.
        assert_eq!(
            p.afra.unwrap().entries,
            vec![AfraEntry {
                time: 1000,
                offset: base
            }]
        );
        // trun samples point at the payloads: after tag header (11) and AAC head (2).
        assert_eq!(
            p.samples,
            vec![
                Described {
                    track: 2,
                    offset: base + 19 + 13,
                    size: 4,
                    duration: 21,
                    sync: true
                },
                Described {
                    track: 2,
                    offset: base + 19 + 21 + 13,
                    size: 3,
                    duration: 22,
                    sync: true
                },
            ]
        );
        for s in &p.samples {
            let a = s.offset as usize;
            assert!(f[a..a + s.size as usize].iter().all(|&b| b == 0xAB));
        }
    }

    #[test]
    fn a_carried_bootstrap_moves_the_offsets() {
        let tracks = [aac_track()];
        let packets = [frame(0, 4)];
        let abst = super::super::bootstrap::bootstrap(
            &super::super::bootstrap::Window {
                segments: &[],
                live: true,
                ended: false,
                version: 1,
            },
            "x",
        )
        .to_bytes();
        let f = write(&Input {
            tracks: &tracks,
            fragment: 1,
            packets: &packets,
            next: &[],
            bootstrap: Some(&abst),
        })
        .unwrap();
        let p = parse(&f).unwrap();
        assert_eq!(p.boxes, vec![*b"afra", *b"abst", *b"moof", *b"mdat"]);
        assert!(p.abst.unwrap().live);
        let s = p.samples[0];
        assert!(f[s.offset as usize..][..4].iter().all(|&b| b == 0xAB));
        assert_eq!(p.afra.unwrap().entries[0].offset, p.mdat_at);
    }
}
