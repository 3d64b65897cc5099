//! The streaming TS muxer (any [`ByteSink`]: files, HLS segments, `/STREAM.ts`).
//!
//! - PAT and PMT (program 1, PMT on PID 0x1000) at the start, before every video keyframe
//!   and at least every 100 ms; CRC-32/MPEG-2 on both.
//! - One PES per video access unit (PES_packet_length 0), with an access unit delimiter first
//!   and SPS/PPS from the avcC before each keyframe that lacks them; audio frames packed a few
//!   per PES (at most [`AUDIO_PACK_TICKS`] or [`AUDIO_PACK_BYTES`]), PTS of the first frame;
//!   AAC gets ADTS headers. DTS is written only when it differs from PTS.
//! - PCR on the video PID (the first audio PID without video), on the first packet of each of
//!   its PES packets, plus PCR-only packets so no gap exceeds 40 ms; PCR runs
//!   [`PCR_DELAY`] behind the DTS of what follows (never below 0 for inputs starting at 0).
//! - Continuity counters per PID, adaptation-field stuffing, random_access_indicator on
//!   keyframes, 33-bit wrapping of every timestamp, optional 192-byte M2TS units.

use crate::codec::h264::AvcConfig;
use crate::dtsc::{Codec, Framing, Meta, Packet, Timebase, TrackId, TrackKind};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{Finish, MuxOptions, Muxer as MuxerTrait};
use crate::io::ByteSink;

use super::es;
use super::packet::{self, AfWrite, Pcr};
use super::pes::PesHeader;
use super::psi::{Descriptor, Pat, Pmt, PmtStream};
use super::FORMAT;

/// PID of the PMT mist writes.
pub const PMT_PID: u16 = 0x1000;
/// First elementary stream PID when the track ids cannot be used as PIDs.
pub const FIRST_PID: u16 = 0x100;
/// Longest span of audio one PES carries, in 90 kHz ticks (40 ms).
pub const AUDIO_PACK_TICKS: i64 = 3600;
/// Most audio bytes one PES carries.
pub const AUDIO_PACK_BYTES: usize = 4000;
/// Largest gap between PCRs, in 90 kHz ticks (40 ms).
pub const PCR_INTERVAL: i64 = 3600;
/// Most PCR-only packets written to bridge one gap in the input's times.
pub const MAX_PCR_FILL: u32 = 50;
/// Largest gap between PAT/PMT repetitions, in 90 kHz ticks (100 ms).
pub const PSI_INTERVAL: i64 = 9000;
/// How far the PCR runs behind the DTS of the data after it (FFmpeg's default `max_delay`).
pub const PCR_DELAY: i64 = 63_000;

/// The framing the muxer wants per codec: the canonical ones (length-prefixed H.264/HEVC,
/// raw AAC with its AudioSpecificConfig), which it turns into Annex B and ADTS while copying
/// into PES packets, one copy instead of two (an adapter pass first cost MP4 -> TS a third
/// of its time). It also takes Annex B and ADTS, for callers that have them.
pub fn framing(c: &Codec) -> Option<Framing> {
    match c {
        Codec::H264 | Codec::Hevc => Some(Framing::LengthPrefixed { size: 4 }),
        Codec::Aac => Some(Framing::Raw),
        Codec::Mp3 | Codec::Mp2 | Codec::Ac3 => Some(Framing::Raw),
        _ => None,
    }
}

struct Pack {
    pts: i64,
    dts: i64,
    last_pts: i64,
    data: Vec<u8>,
}

struct Out {
    id: TrackId,
    pid: u16,
    stream_id: u8,
    kind: TrackKind,
    codec: Codec,
    framing: Framing,
    timebase: Timebase,
    param_sets: Vec<u8>,
    /// The ADTS header of this AAC track with frame_length 0, built once; each frame only
    /// patches its length in.
    adts: Option<Vec<u8>>,
    cc: u8,
    pack: Option<Pack>,
}

/// Writes TS (or M2TS).
pub struct Muxer {
    m2ts: bool,
    outs: Vec<Out>,
    pcr_out: usize,
    pat: Vec<u8>,
    pmt: Vec<u8>,
    cc_pat: u8,
    cc_pmt: u8,
    last_pcr: Option<i64>,
    last_psi: Option<i64>,
    clock: i64,
    buf: Vec<u8>,
    pes: Vec<u8>,
}

/// A new TS muxer (the format table's `muxer`).
pub fn new(opts: &MuxOptions) -> Box<dyn MuxerTrait> {
    Box::new(Muxer::new(opts.m2ts))
}

impl Muxer {
    /// A muxer writing 188-byte packets, or 192-byte M2TS units when `m2ts`.
    pub fn new(m2ts: bool) -> Muxer {
        Muxer {
            m2ts,
            outs: Vec::new(),
            pcr_out: 0,
            pat: Vec::new(),
            pmt: Vec::new(),
            cc_pat: 0,
            cc_pmt: 0,
            last_pcr: None,
            last_psi: None,
            clock: 0,
            buf: Vec::with_capacity(64 << 10),
            pes: Vec::with_capacity(64 << 10),
        }
    }

    fn emit(&mut self, pid: u16, pusi: bool, cc: u8, af: AfWrite, payload: &[u8]) -> usize {
        if self.m2ts {
            let ats = ((self.clock.max(0) as u64) * 300) & 0x3FFF_FFFF;
            self.buf.extend_from_slice(&(ats as u32).to_be_bytes());
        }
        packet::write(&mut self.buf, pid, pusi, cc, af, payload)
    }

    fn write_psi(&mut self) {
        let pat = std::mem::take(&mut self.pat);
        let pmt = std::mem::take(&mut self.pmt);
        for (pid, sec) in [(0u16, &pat), (PMT_PID, &pmt)] {
            let mut payload = Vec::with_capacity(packet::MAX_PAYLOAD);
            payload.push(0); // pointer_field
            payload.extend_from_slice(sec);
            payload.resize(packet::MAX_PAYLOAD, 0xFF);
            let cc = if pid == 0 {
                let c = self.cc_pat;
                self.cc_pat = (c + 1) & 0x0F;
                c
            } else {
                let c = self.cc_pmt;
                self.cc_pmt = (c + 1) & 0x0F;
                c
            };
            self.emit(pid, true, cc, AfWrite::default(), &payload);
        }
        self.pat = pat;
        self.pmt = pmt;
        self.last_psi = Some(self.clock);
    }

    fn pcr_value(&self, dts: i64) -> i64 {
        let want = dts - PCR_DELAY;
        let want = if dts >= 0 { want.max(0) } else { want };
        self.last_pcr.map_or(want, |l| l.max(want))
    }

    fn pcr_only(&mut self) {
        let pcr = self.clock;
        let pid = self.outs[self.pcr_out].pid;
        // A packet without payload repeats the counter of the last one with payload.
        let cc = self.outs[self.pcr_out].cc.wrapping_sub(1) & 0x0F;
        let af = AfWrite {
            pcr: Some(Pcr::from_90k(pcr)),
            ..AfWrite::default()
        };
        self.emit(pid, false, cc, af, &[]);
        self.last_pcr = Some(pcr);
    }

    /// Writes one PES packet of output `i`, starting with `header` then `data`.
    fn write_pes(&mut self, i: usize, dts: i64, key: bool) {
        self.clock = self.pcr_value(dts);
        let due_psi = self
            .last_psi
            .map_or(true, |l| self.clock - l >= PSI_INTERVAL);
        if due_psi || (key && self.outs[i].kind == TrackKind::Video) {
            self.write_psi();
        }
        let is_pcr = i == self.pcr_out;
        // PCR-only packets fill gaps in PCR_INTERVAL steps (a bounded number of them; a
        // longer jump in the input is a jump in the PCR too).
        let target = self.clock;
        let mut steps = 0;
        while let Some(l) = self.last_pcr {
            if target - l <= PCR_INTERVAL || steps >= MAX_PCR_FILL {
                break;
            }
            self.clock = l + PCR_INTERVAL;
            self.pcr_only();
            steps += 1;
        }
        self.clock = target;
        if !is_pcr
            && self
                .last_pcr
                .map_or(true, |l| self.clock - l >= PCR_INTERVAL)
        {
            self.pcr_only();
        }
        let pes = std::mem::take(&mut self.pes);
        let mut rest = &pes[..];
        let mut first = true;
        while !rest.is_empty() {
            let mut af = AfWrite::default();
            if first {
                // Every audio packet is a random access point (a DTSC source marks only some).
                af.random_access = key || self.outs[i].kind != TrackKind::Video;
                if is_pcr {
                    af.pcr = Some(Pcr::from_90k(self.clock));
                    self.last_pcr = Some(self.clock);
                }
            }
            let (pid, cc) = (self.outs[i].pid, self.outs[i].cc);
            let took = self.emit(pid, first, cc, af, rest);
            self.outs[i].cc = (cc + 1) & 0x0F;
            rest = &rest[took..];
            first = false;
        }
        self.pes = pes;
    }

    /// Writes every audio pack still open, earliest first.
    fn flush_packs(&mut self) {
        let mut order: Vec<(i64, usize)> = self
            .outs
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.pack.as_ref().map(|p| (p.dts, i)))
            .collect();
        order.sort_unstable();
        for (_, i) in order {
            self.flush_pack(i);
        }
    }

    fn flush_pack(&mut self, i: usize) {
        let Some(p) = self.outs[i].pack.take() else {
            return;
        };
        self.pes.clear();
        let sid = self.outs[i].stream_id;
        PesHeader::write(
            &mut self.pes,
            sid,
            p.pts as u64,
            Some(p.dts as u64),
            p.data.len(),
            false,
        );
        self.pes.extend_from_slice(&p.data);
        self.write_pes(i, p.dts, true);
    }
}

/// H.264 access unit delimiter (primary_pic_type 7: any slice type).
const H264_AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];
/// HEVC access unit delimiter (pic_type 2).
const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];

/// The start of the first NAL unit of an Annex B buffer (up to the end of the buffer).
fn first_nal(b: &[u8]) -> Option<&[u8]> {
    let zeros = b.iter().take_while(|x| **x == 0).count();
    (zeros >= 2 && b.get(zeros) == Some(&1)).then(|| &b[zeros + 1..])
}

/// An access unit in Annex B with an AUD first and, on keyframes without their own, the
/// SPS/PPS from the avcC.
fn video_payload(o: &Out, pkt: &Packet, into: &mut Vec<u8>) {
    let hevc = o.codec == Codec::Hevc;
    // The common case, Annex B from the pipeline without an AUD of its own and no parameter
    // sets to add: AUD, then the access unit as it is.
    if o.framing == Framing::AnnexB && !pkt.keyframe {
        // Only the first NAL header matters: don't scan the access unit for the second.
        let first = first_nal(&pkt.data);
        let has_aud = first.is_some_and(|n| {
            if hevc {
                es::is_hevc_aud(n)
            } else {
                es::is_h264_aud(n)
            }
        });
        if !has_aud && pkt.data.starts_with(&[0, 0, 0, 1]) {
            into.extend_from_slice(if hevc { &HEVC_AUD } else { &H264_AUD });
            into.extend_from_slice(&pkt.data);
            return;
        }
    }
    let nals: Vec<&[u8]> = match o.framing {
        Framing::AnnexB => es::nal_units(&pkt.data).collect(),
        Framing::LengthPrefixed { size } => es::length_prefixed_units(&pkt.data, size),
        _ => vec![&pkt.data[..]],
    };
    let is_aud = |n: &[u8]| {
        if hevc {
            es::is_hevc_aud(n)
        } else {
            es::is_h264_aud(n)
        }
    };
    let is_sps = |n: &[u8]| {
        n.first().is_some_and(|b| {
            if hevc {
                (b >> 1) & 0x3F == 33
            } else {
                b & 0x1F == 7
            }
        })
    };
    into.extend_from_slice(if hevc { &HEVC_AUD } else { &H264_AUD });
    if pkt.keyframe && !nals.iter().any(|n| is_sps(n)) {
        into.extend_from_slice(&o.param_sets);
    }
    for n in nals {
        if n.is_empty() || is_aud(n) {
            continue;
        }
        into.extend_from_slice(&[0, 0, 0, 1]);
        into.extend_from_slice(n);
    }
}

impl Muxer {
    /// Ends a segment (HLS): audio still waiting to be packed goes out now, and the next packet
    /// is preceded by PAT and PMT, so the segment that follows starts with them. Continuity
    /// counters and the PCR carry on, so consecutive segments play as one stream.
    pub fn end_segment(&mut self, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        self.flush_packs();
        self.last_psi = None;
        let at = out.position();
        out.put(&self.buf)
            .map_err(|e| FormatError::io(FORMAT, at, e))?;
        self.buf.clear();
        Ok(())
    }
}

fn err(offset: u64, why: String) -> FormatError {
    FormatError::new(FORMAT, offset, Problem::Invalid(why))
}

impl MuxerTrait for Muxer {
    fn start(&mut self, meta: &Meta, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        let ids_as_pids = {
            let mut seen = std::collections::HashSet::new();
            meta.tracks.iter().all(|t| {
                (0x20..0x1FFF).contains(&t.id.0)
                    && t.id.0 != u32::from(PMT_PID)
                    && seen.insert(t.id.0)
            })
        };
        let (mut n_video, mut n_audio) = (0u8, 0u8);
        let mut streams = Vec::new();
        for (i, t) in meta.tracks.iter().enumerate() {
            let (stream_type, base_id) = es::stream_type_for(&t.codec).ok_or_else(|| {
                FormatError::new(
                    FORMAT,
                    0,
                    Problem::Unsupported(format!("{} in MPEG-TS", t.codec.ffprobe_name())),
                )
            })?;
            let stream_id = match base_id {
                0xE0 => {
                    n_video += 1;
                    0xE0 + (n_video - 1).min(15)
                }
                0xC0 => {
                    n_audio += 1;
                    0xC0 + (n_audio - 1).min(31)
                }
                other => other,
            };
            let pid = if ids_as_pids {
                t.id.0 as u16
            } else {
                FIRST_PID + i as u16
            };
            let mut param_sets = Vec::new();
            if t.codec == Codec::H264 && !t.init.is_empty() {
                // SPS/PPS to repeat before keyframes that do not carry their own.
                match AvcConfig::parse(&t.init, 0) {
                    Ok(c) => param_sets.extend_from_slice(&c.to_annexb()),
                    Err(e) => {
                        tracing::warn!(track = %t.id, "ts: unusable avcC, parameter sets not repeated: {e}")
                    }
                }
            }
            if t.codec == Codec::Aac
                && t.framing == Framing::Raw
                && es::adts_for(&t.init, 0).is_none()
            {
                return Err(FormatError::new(
                    FORMAT,
                    0,
                    Problem::Unsupported(format!(
                        "AAC track {} without a usable AudioSpecificConfig",
                        t.id
                    )),
                ));
            }
            let mut descriptors = Vec::new();
            if let Some(l) = &t.lang {
                descriptors.push(Descriptor::language_of(l));
            }
            if t.codec == Codec::Ac3 {
                descriptors.push(Descriptor {
                    tag: super::psi::DESC_REGISTRATION,
                    data: b"AC-3".to_vec(),
                });
            }
            streams.push(PmtStream {
                stream_type,
                pid,
                descriptors,
            });
            self.outs.push(Out {
                id: t.id,
                pid,
                stream_id,
                kind: t.kind,
                codec: t.codec.clone(),
                framing: t.framing,
                timebase: t.timebase,
                param_sets,
                adts: if t.codec == Codec::Aac && t.framing == Framing::Raw {
                    es::adts_for(&t.init, 0)
                } else {
                    None
                },
                cc: 0,
                pack: None,
            });
        }
        self.pcr_out = self
            .outs
            .iter()
            .position(|o| o.kind == TrackKind::Video)
            .unwrap_or(0);
        let pcr_pid = self
            .outs
            .get(self.pcr_out)
            .map_or(packet::NULL_PID, |o| o.pid);
        self.pat = Pat {
            ts_id: 1,
            version: 0,
            programs: vec![(1, PMT_PID)],
        }
        .encode();
        self.pmt = Pmt {
            program: 1,
            version: 0,
            pcr_pid,
            descriptors: Vec::new(),
            streams,
        }
        .encode();
        self.buf.clear();
        let _ = out;
        Ok(())
    }

    fn write(&mut self, pkt: &Packet, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        let at = out.position();
        let i = self
            .outs
            .iter()
            .position(|o| o.id == pkt.track)
            .ok_or_else(|| err(at, format!("packet for track {} not announced", pkt.track)))?;
        let tb = self.outs[i].timebase;
        let dts = tb.rescale(pkt.dts.0, Timebase::MPEG);
        let pts = tb.rescale(pkt.pts().0, Timebase::MPEG);
        let o = &self.outs[i];
        match o.codec {
            Codec::H264 | Codec::Hevc => {
                // Video PES are unbounded (length 0), so the header goes first and the access
                // unit is written straight behind it.
                let mut pes = std::mem::take(&mut self.pes);
                pes.clear();
                PesHeader::write(&mut pes, o.stream_id, pts as u64, Some(dts as u64), 0, true);
                video_payload(o, pkt, &mut pes);
                self.pes = pes;
                self.write_pes(i, dts, pkt.keyframe);
            }
            Codec::Aac | Codec::Mp3 | Codec::Mp2 => {
                let flush = o.pack.as_ref().is_some_and(|p| {
                    pts < p.last_pts
                        || pts - p.pts >= AUDIO_PACK_TICKS
                        || p.data.len() + pkt.data.len() + 7 > AUDIO_PACK_BYTES
                });
                if flush {
                    self.flush_pack(i);
                }
                let o = &mut self.outs[i];
                let p = o.pack.get_or_insert(Pack {
                    pts,
                    dts,
                    last_pts: pts,
                    data: Vec::new(),
                });
                let gap = pts - p.last_pts;
                if let Some(template) = &o.adts {
                    let h = es::adts_with_length(template, pkt.data.len()).ok_or_else(|| {
                        err(
                            at,
                            format!("AAC frame of {} bytes too big for ADTS", pkt.data.len()),
                        )
                    })?;
                    p.data.extend_from_slice(&h[..template.len()]);
                }
                p.data.extend_from_slice(&pkt.data);
                p.last_pts = pts;
                if pts - p.pts + gap >= AUDIO_PACK_TICKS || p.data.len() >= AUDIO_PACK_BYTES {
                    self.flush_pack(i);
                }
            }
            _ => {
                self.pes.clear();
                PesHeader::write(
                    &mut self.pes,
                    o.stream_id,
                    pts as u64,
                    Some(dts as u64),
                    pkt.data.len(),
                    false,
                );
                self.pes.extend_from_slice(&pkt.data);
                self.write_pes(i, dts, pkt.keyframe);
            }
        }
        out.put(&self.buf)
            .map_err(|e| FormatError::io(FORMAT, at, e))?;
        self.buf.clear();
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        self.flush_packs();
        if self.last_psi.is_none() && !self.outs.is_empty() {
            // No packet at all: still a valid, empty program.
            self.write_psi();
        }
        let at = out.position();
        out.put(&self.buf)
            .map_err(|e| FormatError::io(FORMAT, at, e))?;
        self.buf.clear();
        Ok(Finish::default())
    }
}
