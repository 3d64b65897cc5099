//! Fragmented MP4 on any byte sink: an init segment (`ftyp` + `moov` with `mvex`/`trex` and
//! empty sample tables), then one `moof` + `mdat` per fragment. A fragment starts at a video
//! keyframe once the current one is at least `MuxOptions::fragment_ms` long (default: every
//! keyframe); without video it is cut every `fragment_ms` (default [`AUDIO_FRAGMENT_MS`]).
//!
//! `tfdt` is version 1 (64-bit) with the track's decode time; `trun` is version 1 (signed
//! composition offsets) with per-sample duration, size, flags (sync / non-sync) and offset.
//! `tfhd` uses default-base-is-moof, so every fragment stands alone (live, HLS-fMP4, DASH).
//!
//! Times are the input's own (`tfdt` is the decode time), unlike progressive MP4, whose
//! movie starts at its first presented frame: a live stream's fragments must keep counting
//! from where the stream is, whichever viewer or segment they are written for, and each track
//! keeps its place against the others exactly (FFmpeg's `frag_keyframe+empty_moov` starts
//! every track at 0 instead, which moves audio against video by the difference of their first
//! decode times). `tfdt` cannot be negative, so a track whose decode times start before 0 (the
//! B-frame shift of video, AAC priming, as an MP4 input's edit list gives them) is written
//! shifted up by that amount, with a single edit whose `media_time` takes it back, as FFmpeg and
//! Chromium's MSE read it. The init segment is therefore written with the first fragment, when
//! every track's first time is known. The last sample of each fragment lasts as long as the one
//! before it (the next fragment's `tfdt` is exact anyway).

use bytes::Bytes;

use super::boxes::edts::{Edit, Elst};
use super::boxes::fragment::{
    write_mfhd, write_tfdt, Tfhd, Trun, TrunSample, SAMPLE_NON_SYNC, SAMPLE_SYNC, TFHD_BASE_IS_MOOF,
};
use super::boxes::ftyp::Ftyp;
use super::boxes::media::{
    pack_language, write_dinf, write_nmhd, write_smhd, write_vmhd, Hdlr, Mdhd,
};
use super::boxes::movie::{Mvhd, Tkhd};
use super::boxes::mvex::{write_mvex, Trex};
use super::boxes::sidx::{Sidx, SidxRef};
use super::boxes::stco::Stco;
use super::boxes::stsc::Stsc;
use super::boxes::stsd::Stsd;
use super::boxes::stsz::Stsz;
use super::boxes::stts::Stts;
use super::boxes::{header_bytes, Writer, FORMAT, MATRIX};
use super::mux::{output_timescale, sample_entry, track_ids, MOVIE_TIMESCALE};
use crate::dtsc::{Codec, Meta, Packet, Time, Timebase, Track, TrackKind};
use crate::formats::error::Problem;
use crate::formats::{Finish, FormatError, MuxOptions, Muxer as MuxerTrait};
use crate::io::ByteSink;

/// Fragment length for tracks without video when no duration is asked for.
pub const AUDIO_FRAGMENT_MS: i64 = 2000;
/// A fragment is cut when its payload reaches this many bytes, keyframe or not.
pub const MAX_FRAGMENT_BYTES: u64 = 64 << 20;

#[derive(Clone, Debug)]
struct Sample {
    dts: i64,
    cts: i32,
    sync: bool,
    data: Bytes,
}

/// Writes fragmented MP4.
pub struct Muxer {
    fragment_ms: Option<i64>,
    tracks: Vec<Track>,
    ids: Vec<u32>,
    scales: Vec<Timebase>,
    /// Per track: added to decode times so the first is not negative (the edit's
    /// `media_time`, 0 without an edit list), set at the first fragment.
    offsets: Vec<Option<i64>>,
    /// Per track: last sample duration written (the estimate for a fragment's last sample).
    last_dur: Vec<u32>,
    /// Per track: the last decode time taken, in the output clock and in the source's.
    last_dts: Vec<Option<(i64, i64)>>,
    pending: Vec<Vec<Sample>>,
    pending_bytes: u64,
    start: Option<Time>,
    has_video: bool,
    sequence: u32,
    init_written: bool,
    /// Write a `sidx` before each fragment (DASH on-demand style, one reference each).
    sidx: bool,
}

/// A new fragmented MP4 muxer (the format table's `muxer`).
pub fn new(opts: &MuxOptions) -> Box<dyn MuxerTrait> {
    Box::new(Muxer::new(opts))
}

fn io(out: &dyn ByteSink) -> impl Fn(std::io::Error) -> FormatError + '_ {
    move |e| FormatError::io(FORMAT, out.position(), e)
}

impl Muxer {
    /// A muxer with these options.
    pub fn new(opts: &MuxOptions) -> Muxer {
        Muxer {
            fragment_ms: opts.fragment_ms.map(i64::from),
            tracks: Vec::new(),
            ids: Vec::new(),
            scales: Vec::new(),
            offsets: Vec::new(),
            last_dur: Vec::new(),
            last_dts: Vec::new(),
            pending: Vec::new(),
            pending_bytes: 0,
            start: None,
            has_video: false,
            sequence: 0,
            init_written: false,
            sidx: opts.sidx,
        }
    }

    /// Decides, from the first fragment, each track's shift (see the module doc).
    fn place_tracks(&mut self) {
        for (i, p) in self.pending.iter().enumerate() {
            if self.offsets[i].is_none() {
                self.offsets[i] = p.first().map(|s| (-s.dts).max(0));
            }
        }
    }

    /// The init segment (`ftyp` + `moov`).
    pub fn init_segment(&self) -> Result<Vec<u8>, FormatError> {
        let mut w = Writer::new();
        let mut compatible = vec![*b"isom", *b"iso5", *b"iso6", *b"mp41"];
        if self.tracks.iter().any(|t| t.codec == Codec::H264) {
            compatible.push(*b"avc1");
        }
        Ftyp {
            major: *b"iso5",
            minor: 512,
            compatible,
        }
        .write(&mut w);
        w.begin(b"moov");
        // A track numbered 0xFFFFFFFF leaves next_track_ID at all ones, which 14496-12 allows
        // ("search for an unused identifier").
        let next = self
            .ids
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
            .saturating_add(1);
        Mvhd::new(MOVIE_TIMESCALE, 0, next).write(&mut w);
        for (i, t) in self.tracks.iter().enumerate() {
            let video = t.kind == TrackKind::Video;
            let audio = t.kind == TrackKind::Audio;
            let v = t.video().copied().unwrap_or_default();
            w.begin(b"trak");
            Tkhd {
                version: 0,
                flags: 3,
                creation: 0,
                modification: 0,
                track_id: self.ids[i],
                duration: 0,
                layer: 0,
                alternate_group: u16::from(audio),
                volume: if audio { 0x100 } else { 0 },
                matrix: MATRIX,
                width: if video { v.width << 16 } else { 0 },
                height: if video { v.height << 16 } else { 0 },
            }
            .write(&mut w);
            if let Some(off) = self.offsets[i].filter(|&o| o > 0) {
                Elst {
                    version: u8::from(off > i64::from(i32::MAX)),
                    entries: vec![Edit {
                        segment_duration: 0,
                        media_time: off,
                        rate: 0x10000,
                    }],
                }
                .write(&mut w);
            }
            w.begin(b"mdia");
            Mdhd {
                version: 0,
                creation: 0,
                modification: 0,
                timescale: self.scales[i].per_second(),
                duration: 0,
                language: pack_language(t.lang.as_deref()),
            }
            .write(&mut w);
            let (handler, name) = match t.kind {
                TrackKind::Video => (*b"vide", "VideoHandler"),
                TrackKind::Audio => (*b"soun", "SoundHandler"),
                TrackKind::Subtitle => (*b"text", "TextHandler"),
                TrackKind::Meta => (*b"meta", "MetaHandler"),
            };
            Hdlr {
                handler,
                name: name.into(),
            }
            .write(&mut w);
            w.begin(b"minf");
            match t.kind {
                TrackKind::Video => write_vmhd(&mut w),
                TrackKind::Audio => write_smhd(&mut w),
                _ => write_nmhd(&mut w),
            }
            write_dinf(&mut w);
            w.begin(b"stbl");
            Stsd {
                entries: vec![sample_entry(t, None)?],
            }
            .write(&mut w);
            Stts::default().write(&mut w);
            Stsc::default().write(&mut w);
            Stsz::default().write(&mut w);
            Stco::default().write(&mut w);
            w.end();
            w.end();
            w.end();
            w.end();
        }
        let trex: Vec<Trex> = self
            .ids
            .iter()
            .map(|&id| Trex {
                track_id: id,
                description: 1,
                ..Trex::default()
            })
            .collect();
        write_mvex(&mut w, &trex);
        w.end();
        Ok(w.buf)
    }

    /// Writes the buffered fragment (and the init segment before the first one).
    fn flush(&mut self, out: &mut dyn ByteSink, next: &[(usize, i64)]) -> Result<(), FormatError> {
        if self.pending.iter().all(Vec::is_empty) {
            return Ok(());
        }
        if !self.init_written {
            self.place_tracks();
            let init = self.init_segment()?;
            out.put(&init).map_err(io(out))?;
            self.init_written = true;
        }
        self.sequence += 1;
        let mut trafs: Vec<(usize, u64, Trun)> = Vec::new();
        for (i, p) in self.pending.iter().enumerate() {
            if p.is_empty() {
                continue;
            }
            // A track first seen after the init segment keeps its times (no edit can be added
            // any more).
            let off = *self.offsets[i].get_or_insert(0);
            let base = p[0].dts + off;
            if base < 0 {
                return Err(FormatError::new(
                    FORMAT,
                    out.position(),
                    Problem::Invalid(format!(
                        "track {}: decode time {} is before the track's start",
                        self.ids[i], p[0].dts
                    )),
                ));
            }
            let mut samples = Vec::with_capacity(p.len());
            for (k, s) in p.iter().enumerate() {
                let d = match p.get(k + 1) {
                    Some(n) => u32::try_from(n.dts - s.dts).unwrap_or(0),
                    None => match next.iter().find(|(t, _)| *t == i) {
                        Some((_, dts)) => u32::try_from(dts - s.dts).unwrap_or(0),
                        None => self.last_dur[i],
                    },
                };
                self.last_dur[i] = d;
                samples.push(TrunSample {
                    duration: Some(d),
                    size: Some(s.data.len() as u32),
                    flags: Some(if s.sync { SAMPLE_SYNC } else { SAMPLE_NON_SYNC }),
                    cto: Some(s.cts),
                });
            }
            trafs.push((
                i,
                base as u64,
                Trun {
                    version: 1,
                    flags: 0,
                    data_offset: Some(0),
                    first_flags: None,
                    samples,
                },
            ));
        }
        // Two passes: the moof size fixes the data offsets, which do not change its size.
        let build = |trafs: &[(usize, u64, Trun)], ids: &[u32], seq: u32| {
            let mut w = Writer::new();
            w.begin(b"moof");
            write_mfhd(&mut w, seq);
            for (i, base, trun) in trafs {
                w.begin(b"traf");
                Tfhd {
                    flags: TFHD_BASE_IS_MOOF,
                    track_id: ids[*i],
                    ..Tfhd::default()
                }
                .write(&mut w);
                write_tfdt(&mut w, *base);
                trun.write(&mut w);
                w.end();
            }
            w.end();
            w.buf
        };
        let moof_len = build(&trafs, &self.ids, self.sequence).len() as u64;
        let payload: u64 = self.pending_bytes;
        let mdat_head = header_bytes(b"mdat", payload);
        let mut at = moof_len + mdat_head.len() as u64;
        for (i, _, trun) in &mut trafs {
            trun.data_offset = Some(i32::try_from(at).map_err(|_| {
                FormatError::whole(
                    FORMAT,
                    Problem::Limit {
                        what: "fragment bytes",
                        limit: i32::MAX as u64,
                    },
                )
            })?);
            at += self.pending[*i]
                .iter()
                .map(|s| s.data.len() as u64)
                .sum::<u64>();
        }
        let moof = build(&trafs, &self.ids, self.sequence);
        if self.sidx {
            // One reference covering this fragment, timed on the first video track (else the
            // first track) of the fragment (ISO/IEC 14496-12 §8.16.3).
            let pick = trafs
                .iter()
                .find(|(i, _, _)| self.tracks[*i].kind == TrackKind::Video)
                .or_else(|| trafs.first());
            if let Some((i, base, trun)) = pick {
                let mut t = *base as i64;
                let mut earliest = i64::MAX;
                let mut duration: u64 = 0;
                for smp in &trun.samples {
                    earliest = earliest.min(t + i64::from(smp.cto.unwrap_or(0)));
                    let d = i64::from(smp.duration.unwrap_or(0));
                    t += d;
                    duration += d as u64;
                }
                let first_sync = trun
                    .samples
                    .first()
                    .and_then(|smp| smp.flags)
                    .is_some_and(|f| f == SAMPLE_SYNC);
                let size = moof.len() as u64 + mdat_head.len() as u64 + payload;
                let mut w = Writer::new();
                Sidx {
                    version: 1,
                    reference_id: self.ids[*i],
                    timescale: self.scales[*i].per_second(),
                    earliest_pts: earliest.max(0) as u64,
                    first_offset: 0,
                    refs: vec![SidxRef {
                        reference_type: false,
                        size: u32::try_from(size).unwrap_or(u32::MAX) & 0x7FFF_FFFF,
                        duration: u32::try_from(duration).unwrap_or(u32::MAX),
                        starts_with_sap: first_sync,
                        sap_type: if first_sync { 1 } else { 0 },
                        sap_delta: 0,
                    }],
                }
                .write(&mut w);
                out.put(&w.buf).map_err(io(out))?;
            }
        }
        out.put(&moof).map_err(io(out))?;
        out.put(&mdat_head).map_err(io(out))?;
        for (i, _, _) in &trafs {
            for s in self.pending[*i].drain(..) {
                out.put_shared(s.data).map_err(io(out))?;
            }
        }
        self.pending_bytes = 0;
        self.start = None;
        Ok(())
    }
}

impl Muxer {
    /// Starts a segmented output (HLS-fMP4, DASH, CMAF): returns the init segment at once, and
    /// from now on fragments are cut only by [`fragment`](Self::fragment), one per segment.
    /// Decode times must not be negative (no edit list is written), so the init segment does
    /// not depend on the packets and is the same for every segment of the stream.
    pub fn start_segmented(&mut self, meta: &Meta) -> Result<Vec<u8>, FormatError> {
        let mut empty = crate::io::VecSink::default();
        MuxerTrait::start(self, meta, &mut empty)?;
        self.fragment_ms = Some(i64::MAX);
        for o in &mut self.offsets {
            *o = Some(0);
        }
        self.init_written = true;
        self.init_segment()
    }

    /// Writes the samples given since the last call as one `moof` + `mdat` with sequence
    /// number `sequence`. `next` holds, per track, the decode time of the sample that follows
    /// (when known), so the last sample's duration is exact; otherwise it repeats the one
    /// before. Nothing is written when no sample is waiting.
    pub fn fragment(
        &mut self,
        sequence: u32,
        next: &[(crate::dtsc::TrackId, crate::dtsc::Ticks)],
        out: &mut dyn ByteSink,
    ) -> Result<(), FormatError> {
        let next: Vec<(usize, i64)> = next
            .iter()
            .filter_map(|(id, t)| {
                let i = self.tracks.iter().position(|tr| tr.id == *id)?;
                Some((i, self.tracks[i].timebase.rescale(t.0, self.scales[i])))
            })
            .collect();
        self.sequence = sequence.wrapping_sub(1);
        self.flush(out, &next)
    }
}

impl MuxerTrait for Muxer {
    fn start(&mut self, meta: &Meta, _out: &mut dyn ByteSink) -> Result<(), FormatError> {
        self.tracks = meta.tracks.clone();
        for t in &self.tracks {
            sample_entry(t, None)?;
        }
        self.ids = track_ids(meta);
        self.scales = self
            .tracks
            .iter()
            .map(|t| Timebase::new(output_timescale(t)).unwrap_or(Timebase::MS))
            .collect();
        let n = self.tracks.len();
        self.offsets = vec![None; n];
        self.last_dur = vec![0; n];
        self.last_dts = vec![None; n];
        self.pending = vec![Vec::new(); n];
        self.has_video = self.tracks.iter().any(|t| t.kind == TrackKind::Video);
        Ok(())
    }

    fn write(&mut self, pkt: &Packet, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        let Some(i) = self.tracks.iter().position(|t| t.id == pkt.track) else {
            return Err(FormatError::invalid(
                FORMAT,
                out.position(),
                format!("packet for unknown track {}", pkt.track),
            ));
        };
        let src = self.tracks[i].timebase;
        let to = self.scales[i];
        let mut dts = src.rescale(pkt.dts.0, to);
        let mut pts = src.rescale(pkt.pts().0, to);
        // Two decode times one tick of the output clock cannot tell apart (audio at 90 kHz
        // with packets closer than one sample, say) would make a zero-length sample, and
        // readers then see a decode time twice. The later one moves on by a tick, with its
        // presentation time; the shift is gone at the next time the clock can tell apart.
        // A progressive MP4 plans its clock from the index instead (`mux::plan_track`); a
        // fragment stream has no index ahead.
        // Only times the source tells apart are moved; a source whose times go back keeps
        // them (a new fragment's `tfdt` carries them exactly, below).
        if let Some((last, last_src)) = self.last_dts[i] {
            if dts <= last && pkt.dts.0 > last_src {
                let shift = last.saturating_add(1).saturating_sub(dts);
                dts = dts.saturating_add(shift);
                pts = pts.saturating_add(shift);
            }
        }
        self.last_dts[i] = Some((dts, pkt.dts.0));
        let time = Time::new(pkt.dts, src);
        let video = self.tracks[i].kind == TrackKind::Video;
        let long_enough = |min: i64| {
            self.start
                .is_some_and(|s| time >= s && time.as_ms() - s.as_ms() >= min)
        };
        let cut = if self.has_video {
            video && pkt.keyframe && long_enough(self.fragment_ms.unwrap_or(0))
        } else {
            long_enough(self.fragment_ms.unwrap_or(AUDIO_FRAGMENT_MS))
        } || self.pending_bytes + pkt.data.len() as u64 > MAX_FRAGMENT_BYTES
            // A step a 32-bit sample duration cannot hold (a jump, or time going back): the
            // sample opens a fragment, whose 64-bit tfdt carries its time exactly.
            || self.pending[i]
                .last()
                .is_some_and(|l| u32::try_from(dts.saturating_sub(l.dts)).is_err());
        if cut {
            self.flush(out, &[(i, dts)])?;
        }
        if self.start.is_none() {
            self.start = Some(time);
        }
        self.pending_bytes += pkt.data.len() as u64;
        self.pending[i].push(Sample {
            dts,
            cts: i32::try_from(pts - dts).unwrap_or(0),
            sync: pkt.keyframe || !video,
            data: pkt.data.clone(),
        });
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        self.flush(out, &[])?;
        if !self.init_written {
            self.place_tracks();
            let init = self.init_segment()?;
            out.put(&init).map_err(io(out))?;
            self.init_written = true;
        }
        Ok(Finish::default())
    }
}
