//! Progressive MP4 with `moov` first ("faststart"), written in one pass from the index.
//!
//! `start` lays the whole file out from `Meta::index` (every packet's time, size and keyframe
//! flag, in canonical framing): samples are grouped into chunks of at most [`CHUNK_MS`] or
//! [`CHUNK_BYTES`] per track, chunks are ordered by start time across tracks, `moov` is
//! sized (with `stco`, or `co64` when the end of `mdat` passes 4 GiB) and written, then the
//! `mdat` header. Packets then stream into `mdat` in that order; a packet that arrives before
//! its chunk's turn waits in a queue bounded by [`MAX_PENDING`] bytes (inputs interleaved by
//! time need about one chunk of the other tracks). Each packet is checked against the index.
//!
//! Timescales: a track keeps its clock when it is fine enough (MP4 → MP4 keeps every time);
//! millisecond video is doubled up to ≥ 10 000 like FFmpeg's movenc; audio uses its sample
//! rate. Absolute times are rescaled, never summed deltas.
//!
//! Composition offsets go into `ctts` version 0 when none is negative, else version 1 (signed).
//! Timing follows FFmpeg's movenc (and MP4Box): each track's samples start at media time 0,
//! and its edit list places them on the movie timeline. The movie starts at the earliest first
//! presentation time of any track (or at 0, when a track's first samples present before 0:
//! the pre-roll an input's own edit list cut, such as AAC priming). A track gets
//! - an empty edit when its first presentation comes later than the movie's start (a delay),
//! - then one edit whose `media_time` is the first composition offset (so the first presented
//!   frame lands where the delay ends; for a track starting before the movie, the media time
//!   where the movie starts) and whose duration spans the whole presentation (latest
//!   presentation end minus first presentation), not just the decode span.
//!
//! The movie timescale is the finest track timescale, so delays and durations are whole ticks
//! (nothing is rounded to a millisecond, which made players hide or misplace frames).
//!
//! The layout is a value of its own ([`Layout`]): what precedes the first sample (`ftyp`,
//! `moov`, the `mdat` header) and where every chunk lands. A muxer made by [`Muxer::resume`]
//! shares one layout and writes the file from any chunk on, which is how `mist serve` answers
//! a byte range of a file's MP4 without writing the bytes before it.

use std::collections::VecDeque;

use bytes::Bytes;

use super::boxes::edts::{Edit, Elst};
use super::boxes::ftyp::Ftyp;
use super::boxes::media::{
    pack_language, write_dinf, write_nmhd, write_smhd, write_vmhd, Hdlr, Mdhd,
};
use super::boxes::movie::{Mvhd, Tkhd};
use super::boxes::stco::Stco;
use super::boxes::stsc::Stsc;
use super::boxes::stsd::{Audio, Btrt, EntryKind, Esds, SampleEntry, Stsd, Visual};
use super::boxes::stss::Stss;
use super::boxes::stsz::Stsz;
use super::boxes::stts::{Ctts, Stts};
use super::boxes::{header_bytes, Writer, FORMAT, MATRIX};
use crate::dtsc::{Codec, Meta, Packet, Ticks, Time, Timebase, Track, TrackKind};
use crate::formats::error::Problem;
use crate::formats::{Finish, FormatError, MuxOptions, Muxer as MuxerTrait};
use crate::io::ByteSink;

/// Longest chunk, in ms.
pub const CHUNK_MS: i64 = 500;
/// Largest chunk, in bytes.
pub const CHUNK_BYTES: u64 = 1 << 20;
/// Bytes of packets that may wait for their chunk's turn.
pub const MAX_PENDING: u64 = 256 << 20;
/// The movie clock of fragmented MP4's `mvhd` (its durations are all 0).
pub const MOVIE_TIMESCALE: u32 = 1000;

/// One track as it will be written.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Output clock.
    pub timescale: u32,
    /// Decode times in the output clock.
    pub dts: Vec<i64>,
    /// Composition offsets in the output clock.
    pub cts: Vec<i32>,
    /// Sizes.
    pub sizes: Vec<u32>,
    /// Sync flags.
    pub sync: Vec<bool>,
    /// Durations (the last repeats the one before).
    pub durations: Vec<u32>,
}

impl Plan {
    /// Decode span plus the last duration.
    pub fn media_duration(&self) -> u64 {
        match (self.dts.first(), self.dts.last(), self.durations.last()) {
            (Some(f), Some(l), Some(d)) => (l - f) as u64 + u64::from(*d),
            _ => 0,
        }
    }
}

/// The `track_ID` each track gets: its own id when all are valid (non-zero, distinct), else
/// 1, 2, ... in order.
pub fn track_ids(meta: &Meta) -> Vec<u32> {
    let ids: Vec<u32> = meta.tracks.iter().map(|t| t.id.0).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() == ids.len() && !ids.contains(&0) {
        ids
    } else {
        (1..=ids.len() as u32).collect()
    }
}

/// The clock a track is written in.
///
/// Audio is written in its sample rate, as ffmpeg writes it, when that is a real audio rate;
/// a rate under 1 kHz (a damaged AudioSpecificConfig said 128 Hz) would round times by
/// several milliseconds, so such a track, like video, takes its source clock, doubled until it
/// is at least 10 kHz.
pub fn output_timescale(t: &Track) -> u32 {
    let src = t.timebase.per_second();
    if t.kind == TrackKind::Audio {
        if let Some(r) = t.audio().map(|a| a.rate).filter(|&r| r >= 1000) {
            return r;
        }
    }
    let mut ts = src.max(1);
    while ts < 10_000 {
        ts *= 2;
    }
    ts
}

fn err(why: impl std::fmt::Display) -> FormatError {
    FormatError::whole_invalid(FORMAT, why)
}

/// Builds a track's plan from its index (times rescaled from `t.timebase` to the output
/// clock). When that clock is coarser than the source's and two distinct source times would
/// land on one of its ticks (audio at 90 kHz with packets closer than one sample, say), the
/// track keeps the source's clock instead, where every time is exact: losing samples at the
/// edit's end, or refusing the file, would be worse than an unusual `mdhd` timescale.
pub fn plan_track(t: &Track, ti: &crate::dtsc::index::TrackIndex) -> Result<Plan, FormatError> {
    let preferred = output_timescale(t);
    match plan_in(t, ti, preferred)? {
        Some(p) => Ok(p),
        None => plan_in(t, ti, t.timebase.per_second())?.ok_or_else(|| {
            err(format!(
                "track {}: two packets share a decode time in its own clock",
                t.id
            ))
        }),
    }
}

/// A track's plan in `timescale`; `None` when two distinct source times collapse onto one
/// of its ticks.
fn plan_in(
    t: &Track,
    ti: &crate::dtsc::index::TrackIndex,
    timescale: u32,
) -> Result<Option<Plan>, FormatError> {
    let out = Timebase::new(timescale).ok_or_else(|| err("zero timescale"))?;
    let src = t.timebase;
    let times = ti.part_times();
    if times.len() != ti.parts.len() {
        return Err(err(format!(
            "track {}: index keys do not cover its parts",
            t.id
        )));
    }
    let mut keyframe = vec![t.kind != TrackKind::Video; ti.parts.len()];
    if t.kind == TrackKind::Video {
        for k in &ti.keys {
            if let Some(f) = keyframe.get_mut(k.first_part as usize) {
                *f = true;
            }
        }
        if ti.opens_without_keyframe {
            if let Some(f) = ti
                .keys
                .first()
                .and_then(|k| keyframe.get_mut(k.first_part as usize))
            {
                *f = false;
            }
        }
    }
    let mut p = Plan {
        timescale,
        ..Plan::default()
    };
    for (i, (part, dts)) in ti.parts.iter().zip(&times).enumerate() {
        let d = src.rescale(dts.0, out);
        let pts = src.rescale(dts.0 + i64::from(part.cts), out);
        let cts = i32::try_from(pts - d)
            .map_err(|_| err(format!("track {}: composition offset too large", t.id)))?;
        if let Some(&prev) = p.dts.last() {
            if d < prev {
                return Err(err(format!(
                    "track {}: decode time goes back at packet {i}",
                    t.id
                )));
            }
            // Two distinct source times landing on one output tick: this clock is too
            // coarse for the track's times, and writing on would lose samples at the
            // edit's end.
            if d == prev && i > 0 && times[i] != times[i - 1] {
                return Ok(None);
            }
        }
        p.dts.push(d);
        p.cts.push(cts);
        p.sizes.push(part.size);
        p.sync.push(keyframe[i]);
    }
    // The last sample lasts as long as the index says (an MP4 source's own last duration;
    // other sources repeat the last gap that is not zero, or one tick). Never zero: the edit
    // spans the presentation, and a last sample of no duration would fall outside it, together
    // with every sample sharing its time (a repeated tag in a damaged FLV did that).
    let last_end = match (times.last(), ti.parts.last()) {
        (Some(t), Some(part)) => Some(src.rescale(t.0 + i64::from(part.duration), out)),
        _ => None,
    };
    let last_gap = p
        .dts
        .windows(2)
        .rev()
        .map(|w| w[1] - w[0])
        .find(|&g| g > 0)
        .unwrap_or(1);
    for i in 0..p.dts.len() {
        let d = match (p.dts.get(i + 1), last_end) {
            (Some(n), _) => n - p.dts[i],
            (None, Some(e)) if e > p.dts[i] => e - p.dts[i],
            (None, _) => last_gap,
        };
        p.durations
            .push(u32::try_from(d).map_err(|_| err(format!("track {}: gap too long", t.id)))?);
    }
    Ok(Some(p))
}

#[derive(Clone, Copy, Debug)]
struct Chunk {
    track: usize,
    /// Index (within its track) of the chunk's first sample.
    first: u32,
    count: u32,
    bytes: u64,
    offset: u64,
}

/// Where everything of a progressive MP4 goes: the bytes before the first sample and the
/// place of every chunk. Built once from `Meta::index`; shared by muxers that write the file
/// from its start ([`Muxer`]'s `start`) or from any chunk ([`Muxer::resume`]).
#[derive(Debug)]
pub struct Layout {
    tracks: Vec<Track>,
    /// Per track, only what writing samples checks (decode times and sizes); the rest of the
    /// plan went into `moov`.
    plans: Vec<Plan>,
    chunks: Vec<Chunk>,
    head: Bytes,
    len: u64,
}

/// Writes progressive MP4.
#[derive(Default)]
pub struct Muxer {
    layout: Option<std::sync::Arc<Layout>>,
    cur: usize,
    cur_done: u32,
    received: Vec<usize>,
    pending: Vec<VecDeque<Bytes>>,
    pending_bytes: u64,
    written: u64,
}

/// A new progressive MP4 muxer (the format table's `muxer`).
pub fn new(_: &MuxOptions) -> Box<dyn MuxerTrait> {
    Box::<Muxer>::default()
}

/// Splits each track into chunks and orders them by start time across tracks.
fn layout(tracks: &[Track], plans: &[Plan]) -> Vec<Chunk> {
    let mut per: Vec<Vec<(Time, Chunk)>> = Vec::new();
    for (ti, p) in plans.iter().enumerate() {
        let tb = Timebase::new(p.timescale).unwrap_or(Timebase::MS);
        let max_ticks = Time::from_ms(CHUNK_MS).ceil_in(tb).0;
        let mut v: Vec<(Time, Chunk)> = Vec::new();
        let mut start = 0i64;
        for i in 0..p.dts.len() {
            let first = i as u32;
            let size = u64::from(p.sizes[i]);
            let open = v.last().is_some_and(|(_, c)| {
                p.dts[i] - start < max_ticks && c.bytes + size <= CHUNK_BYTES
            });
            if open {
                if let Some((_, c)) = v.last_mut() {
                    c.count += 1;
                    c.bytes += size;
                }
            } else {
                start = p.dts[i];
                v.push((
                    Time::new(Ticks(p.dts[i]), tb),
                    Chunk {
                        track: ti,
                        first,
                        count: 1,
                        bytes: size,
                        offset: 0,
                    },
                ));
            }
        }
        per.push(v);
    }
    let _ = tracks;
    let mut heads = vec![0usize; per.len()];
    let mut out = Vec::new();
    loop {
        let mut best: Option<(usize, Time)> = None;
        for (t, v) in per.iter().enumerate() {
            if let Some((time, _)) = v.get(heads[t]) {
                if best.is_none_or(|(_, b)| *time < b) {
                    best = Some((t, *time));
                }
            }
        }
        let Some((t, _)) = best else { break };
        out.push(per[t][heads[t]].1);
        heads[t] += 1;
    }
    out
}

fn brands(tracks: &[Track]) -> Ftyp {
    let mut compatible = vec![*b"isom", *b"iso2"];
    if tracks.iter().any(|t| t.codec == Codec::H264) {
        compatible.push(*b"avc1");
    }
    compatible.push(*b"mp41");
    Ftyp {
        major: *b"isom",
        minor: 512,
        compatible,
    }
}

/// The sample entry for a track.
pub fn sample_entry(t: &Track, btrt: Option<Btrt>) -> Result<SampleEntry, FormatError> {
    let (format, kind) = match &t.codec {
        Codec::H264 | Codec::Hevc => {
            let v = t.video().copied().unwrap_or_default();
            let info = crate::codec::describe(t);
            let cfg = if t.codec == Codec::H264 {
                *b"avcC"
            } else {
                *b"hvcC"
            };
            (
                if t.codec == Codec::H264 {
                    *b"avc1"
                } else {
                    *b"hvc1"
                },
                EntryKind::Visual(Visual {
                    width: (if v.width > 0 {
                        v.width
                    } else {
                        info.width.unwrap_or(0)
                    }) as u16,
                    height: (if v.height > 0 {
                        v.height
                    } else {
                        info.height.unwrap_or(0)
                    }) as u16,
                    config: Some((cfg, t.init.clone())),
                    btrt,
                }),
            )
        }
        Codec::Aac | Codec::Mp3 => {
            let a = t.audio().copied().unwrap_or_default();
            let mut esds = Esds::aac(
                t.init.clone(),
                btrt.map_or(0, |b| b.avg_bitrate),
                btrt.map_or(0, |b| b.max_bitrate),
            );
            if t.codec == Codec::Mp3 {
                esds.object_type = 0x6B;
                esds.dsi = Bytes::new();
            }
            (
                *b"mp4a",
                EntryKind::Audio(Audio {
                    channels: a.channels.max(1) as u16,
                    sample_size: 16,
                    rate: if a.rate > 0 {
                        a.rate
                    } else {
                        t.timebase.per_second()
                    },
                    esds: Some(esds),
                    btrt,
                }),
            )
        }
        other => {
            return Err(FormatError::whole(
                FORMAT,
                Problem::Unsupported(format!("{} in MP4", other.ffprobe_name())),
            ))
        }
    };
    Ok(SampleEntry {
        format,
        data_ref: 1,
        kind,
    })
}

/// Bit rates of a plan: average, peak over one-second windows, largest sample.
fn bitrates(p: &Plan) -> Btrt {
    let ts = i64::from(p.timescale.max(1));
    let total: u64 = p.sizes.iter().map(|&s| u64::from(s)).sum();
    let dur = p.media_duration();
    let avg = if dur > 0 {
        (u128::from(total) * 8 * u128::from(p.timescale) / u128::from(dur)) as u32
    } else {
        0
    };
    let mut max = 0u64;
    let mut lo = 0usize;
    let mut sum = 0u64;
    for i in 0..p.dts.len() {
        sum += u64::from(p.sizes[i]);
        while p.dts[i] - p.dts[lo] >= ts {
            sum -= u64::from(p.sizes[lo]);
            lo += 1;
        }
        max = max.max(sum * 8);
    }
    Btrt {
        buffer_size: p.sizes.iter().copied().max().unwrap_or(0),
        max_bitrate: max.min(u64::from(u32::MAX)) as u32,
        avg_bitrate: avg,
    }
}

/// Where the movie starts and the clock of its edit lists, `mvhd` and `tkhd`.
#[derive(Clone, Copy, Debug)]
pub struct Timeline {
    /// Movie time 0: the earliest first presentation time of any track, or 0 when that is
    /// negative (pre-roll the input's edit list cut stays cut).
    pub origin: Time,
    /// Movie timescale: the finest track timescale.
    pub timescale: u32,
}

impl Timeline {
    /// The timeline of a movie made of `plans`.
    pub fn of(plans: &[Plan]) -> Timeline {
        let zero = Time::new(Ticks(0), Timebase::MS);
        let origin = plans
            .iter()
            .filter_map(Plan::first_pts)
            .min()
            .map_or(zero, |t| t.max(zero));
        let timescale = plans
            .iter()
            .map(|p| p.timescale)
            .max()
            .unwrap_or(1000)
            .max(1);
        Timeline { origin, timescale }
    }
}

/// `to - from` in ticks of `per_second`, rounded to nearest, or up when `up` (i128, exact).
fn span_ticks(from: Time, to: Time, per_second: u32, up: bool) -> i64 {
    let (fb, tb) = (
        i128::from(from.base.per_second()),
        i128::from(to.base.per_second()),
    );
    let num =
        (i128::from(to.ticks.0) * fb - i128::from(from.ticks.0) * tb) * i128::from(per_second);
    let den = fb * tb;
    let q = if up {
        num.div_euclid(den) + i128::from(num.rem_euclid(den) != 0)
    } else {
        (2 * num + den).div_euclid(2 * den)
    };
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

impl Plan {
    /// Presentation time of the first sample in decode order (where FFmpeg starts the track).
    pub fn first_pts(&self) -> Option<Time> {
        let tb = Timebase::new(self.timescale)?;
        Some(Time::new(
            Ticks(*self.dts.first()? + i64::from(*self.cts.first()?)),
            tb,
        ))
    }

    /// Where the presentation ends, in the output clock: the latest presentation time plus
    /// the last sample's duration. (A frame's decode duration says nothing about how long it
    /// is shown: with B-frames and variable frame rate, the frame presented last is often not
    /// the one that precedes a long decode gap.)
    pub fn end_pts(&self) -> Option<i64> {
        let last = i64::from(*self.durations.last()?);
        (0..self.dts.len())
            .map(|i| self.dts[i] + i64::from(self.cts[i]))
            .max()
            .map(|p| p + last)
    }
}

/// The edit list for a plan on `movie`: an empty edit for a track that starts after the
/// movie does, then the media edit (see the module doc). `None` for a track without samples.
pub fn edit_for(p: &Plan, movie: &Timeline) -> Option<Elst> {
    let d0 = *p.dts.first()?;
    let tb = Timebase::new(p.timescale)?;
    let first = p.first_pts()?;
    let end = p.end_pts()?;
    let (delay, media_time) = if first > movie.origin {
        let delay = span_ticks(movie.origin, first, movie.timescale, false);
        (delay, i64::from(p.cts[0]).max(0))
    } else {
        // The movie starts at or after this track's first presentation: the media time where
        // it starts. `origin` is this track's own first pts or 0, both whole ticks of `tb`.
        (0, (movie.origin.in_base(tb).0 - d0).max(0))
    };
    let media_end = end - d0;
    let dur = span_ticks(
        Time::new(Ticks(media_time), tb),
        Time::new(Ticks(media_end.max(media_time)), tb),
        movie.timescale,
        true,
    ) as u64;
    let mut entries = Vec::new();
    if delay > 0 {
        entries.push(Edit {
            segment_duration: delay as u64,
            media_time: -1,
            rate: 0x10000,
        });
    }
    entries.push(Edit {
        segment_duration: dur,
        media_time,
        rate: 0x10000,
    });
    let wide = entries
        .iter()
        .any(|e| e.segment_duration > u64::from(u32::MAX) || e.media_time > i64::from(i32::MAX));
    Some(Elst {
        version: u8::from(wide),
        entries,
    })
}

/// Presentation duration of a track in movie ticks (edits included).
fn movie_duration(p: &Plan, movie: &Timeline) -> u64 {
    edit_for(p, movie).map_or(0, |e| e.entries.iter().map(|x| x.segment_duration).sum())
}

/// Writes the `trak` of a progressive track; `chunk_offsets` and `chunk_sizes` per chunk.
#[allow(clippy::too_many_arguments)]
pub fn write_trak(
    w: &mut Writer,
    t: &Track,
    id: u32,
    p: &Plan,
    chunk_sizes: &[u32],
    chunk_offsets: Vec<u64>,
    wide: bool,
    movie: &Timeline,
) -> Result<(), FormatError> {
    let video = t.kind == TrackKind::Video;
    let audio = t.kind == TrackKind::Audio;
    w.begin(b"trak");
    let v = t.video().copied().unwrap_or_default();
    let dur = movie_duration(p, movie);
    Tkhd {
        version: u8::from(dur > u64::from(u32::MAX)),
        flags: 3,
        creation: 0,
        modification: 0,
        track_id: id,
        duration: dur,
        layer: 0,
        alternate_group: u16::from(audio),
        volume: if audio { 0x100 } else { 0 },
        matrix: MATRIX,
        width: if video { v.width << 16 } else { 0 },
        height: if video { v.height << 16 } else { 0 },
    }
    .write(w);
    if let Some(e) = edit_for(p, movie) {
        e.write(w);
    }
    w.begin(b"mdia");
    let md = p.media_duration();
    Mdhd {
        version: u8::from(md > u64::from(u32::MAX)),
        creation: 0,
        modification: 0,
        timescale: p.timescale,
        duration: md,
        language: pack_language(t.lang.as_deref()),
    }
    .write(w);
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
    .write(w);
    w.begin(b"minf");
    match t.kind {
        TrackKind::Video => write_vmhd(w),
        TrackKind::Audio => write_smhd(w),
        _ => write_nmhd(w),
    }
    write_dinf(w);
    w.begin(b"stbl");
    Stsd {
        entries: vec![sample_entry(t, Some(bitrates(p)))?],
    }
    .write(w);
    Stts::from_durations(p.durations.iter().copied()).write(w);
    if p.cts.iter().any(|&c| c != 0) {
        Ctts::from_offsets(p.cts.iter().copied()).write(w);
    }
    if video && p.sync.iter().any(|s| !s) {
        Stss {
            samples: p
                .sync
                .iter()
                .enumerate()
                .filter(|(_, s)| **s)
                .map(|(i, _)| i as u32 + 1)
                .collect(),
        }
        .write(w);
    }
    Stsc::from_chunk_sizes(chunk_sizes.iter().copied()).write(w);
    Stsz::from_sizes(p.sizes.clone()).write(w);
    Stco {
        wide,
        offsets: chunk_offsets,
    }
    .write(w);
    w.end(); // stbl
    w.end(); // minf
    w.end(); // mdia
    w.end(); // trak
    Ok(())
}

/// Builds `moov` for these tracks, plans and placed chunks.
fn moov(
    tracks: &[Track],
    ids: &[u32],
    plans: &[Plan],
    chunks: &[Chunk],
    wide: bool,
) -> Result<Vec<u8>, FormatError> {
    let mut w = Writer::new();
    w.begin(b"moov");
    let movie = Timeline::of(plans);
    let dur = plans
        .iter()
        .map(|p| movie_duration(p, &movie))
        .max()
        .unwrap_or(0);
    // A track numbered 0xFFFFFFFF leaves next_track_ID at all ones, which 14496-12 allows
    // ("search for an unused identifier").
    let next = ids.iter().copied().max().unwrap_or(0).saturating_add(1);
    Mvhd::new(movie.timescale, dur, next).write(&mut w);
    for (ti, (t, p)) in tracks.iter().zip(plans).enumerate() {
        let mine: Vec<&Chunk> = chunks.iter().filter(|c| c.track == ti).collect();
        write_trak(
            &mut w,
            t,
            ids[ti],
            p,
            &mine.iter().map(|c| c.count).collect::<Vec<_>>(),
            mine.iter().map(|c| c.offset).collect(),
            wide,
            &movie,
        )?;
    }
    w.end();
    Ok(w.buf)
}

/// Gives each chunk its offset from `data_start` on; returns the end of the last one.
fn place(chunks: &mut [Chunk], data_start: u64) -> u64 {
    let mut at = data_start;
    for c in chunks {
        c.offset = at;
        at += c.bytes;
    }
    at
}

impl Layout {
    /// Lays out the file for `meta` (tracks plus their index).
    pub fn new(meta: &Meta) -> Result<Layout, FormatError> {
        let index = meta
            .index
            .as_ref()
            .ok_or_else(|| err("progressive MP4 is written from the index, and none was given"))?;
        if index.tracks.len() != meta.tracks.len() {
            return Err(err("the index does not cover every track"));
        }
        let tracks = meta.tracks.clone();
        let ids = track_ids(meta);
        let mut plans: Vec<Plan> = meta
            .tracks
            .iter()
            .zip(&index.tracks)
            .map(|(t, ti)| plan_track(t, ti))
            .collect::<Result<_, _>>()?;
        for t in &tracks {
            sample_entry(t, None)?;
        }
        let mut chunks = layout(&tracks, &plans);
        let mut ftyp = Writer::new();
        brands(&tracks).write(&mut ftyp);
        let payload: u64 = chunks.iter().map(|c| c.bytes).sum();
        let mdat_head = header_bytes(b"mdat", payload);
        let head_len = (ftyp.len() + mdat_head.len()) as u64;
        // Chunk offsets do not change the size of moov, only stco vs co64 does.
        let mut wide = false;
        let narrow = moov(&tracks, &ids, &plans, &chunks, false)?.len() as u64;
        let mut len = place(&mut chunks, head_len + narrow);
        if len > u64::from(u32::MAX) {
            wide = true;
            let grown = moov(&tracks, &ids, &plans, &chunks, true)?.len() as u64;
            len = place(&mut chunks, head_len + grown);
        }
        let moov = moov(&tracks, &ids, &plans, &chunks, wide)?;
        let mut head = Vec::with_capacity(ftyp.len() + moov.len() + mdat_head.len());
        head.extend_from_slice(&ftyp.buf);
        head.extend_from_slice(&moov);
        head.extend_from_slice(&mdat_head);
        if chunks.is_empty() {
            len = head.len() as u64;
        }
        // What moov needed is written; writing samples checks only times and sizes.
        for p in &mut plans {
            p.cts = Vec::new();
            p.sync = Vec::new();
            p.durations = Vec::new();
        }
        Ok(Layout {
            tracks,
            plans,
            chunks,
            head: Bytes::from(head),
            len,
        })
    }

    /// `ftyp`, `moov` and the `mdat` header: the bytes before the first sample.
    pub fn head(&self) -> &Bytes {
        &self.head
    }

    /// Length of the whole file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the file holds no sample.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The tracks, as written.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Byte offset of chunk `c` in the file.
    pub fn chunk_offset(&self, c: usize) -> Option<u64> {
        self.chunks.get(c).map(|ch| ch.offset)
    }

    /// The chunk whose bytes hold file offset `at` (`None` inside the head or past the end).
    pub fn chunk_at(&self, at: u64) -> Option<usize> {
        let i = self.chunks.partition_point(|c| c.offset <= at);
        let c = self.chunks.get(i.checked_sub(1)?)?;
        (at < c.offset + c.bytes).then_some(i - 1)
    }

    /// For each track, the first sample written at or after chunk `c` (the track's sample
    /// count when none is).
    pub fn first_samples_from(&self, c: usize) -> Vec<usize> {
        let mut out: Vec<Option<usize>> = vec![None; self.tracks.len()];
        for ch in self.chunks.iter().skip(c) {
            let slot = &mut out[ch.track];
            if slot.is_none() {
                *slot = Some(ch.first as usize);
                if out.iter().all(Option::is_some) {
                    break;
                }
            }
        }
        out.iter()
            .zip(&self.plans)
            .map(|(s, p)| s.unwrap_or(p.sizes.len()))
            .collect()
    }

    /// Number of samples of track `t`.
    pub fn samples(&self, t: usize) -> usize {
        self.plans.get(t).map_or(0, |p| p.sizes.len())
    }

    /// Decode time of sample `s` of track `t`, in the track's output clock.
    pub fn sample_time(&self, t: usize, s: usize) -> Option<Time> {
        let p = self.plans.get(t)?;
        let tb = Timebase::new(p.timescale)?;
        Some(Time::new(Ticks(*p.dts.get(s)?), tb))
    }

    /// How many samples of track `t` before sample `s` share its decode time.
    pub fn same_time_before(&self, t: usize, s: usize) -> usize {
        let Some(p) = self.plans.get(t) else { return 0 };
        let Some(&d) = p.dts.get(s) else { return 0 };
        p.dts[..s].iter().rev().take_while(|&&x| x == d).count()
    }

    /// A packet's decode time (in its source timebase) in track `t`'s output clock.
    pub fn output_ticks(&self, t: usize, pkt: &Packet) -> Option<i64> {
        let p = self.plans.get(t)?;
        let tb = Timebase::new(p.timescale)?;
        Some(self.tracks.get(t)?.timebase.rescale(pkt.dts.0, tb))
    }
}

impl Muxer {
    /// A muxer that writes the file of `layout` from chunk `chunk` on (the bytes from
    /// `layout.chunk_offset(chunk)`): `start` writes nothing, and `write` expects, per track,
    /// the packets from [`Layout::first_samples_from`]`(chunk)` on.
    pub fn resume(layout: std::sync::Arc<Layout>, chunk: usize) -> Muxer {
        let received = layout.first_samples_from(chunk);
        let n = layout.tracks.len();
        Muxer {
            cur: chunk.min(layout.chunks.len()),
            cur_done: 0,
            received,
            pending: vec![VecDeque::new(); n],
            pending_bytes: 0,
            written: 0,
            layout: Some(layout),
        }
    }

    fn drain(&mut self, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        let Some(layout) = self.layout.as_ref() else {
            return Ok(());
        };
        while let Some(c) = layout.chunks.get(self.cur).copied() {
            let Some(data) = self.pending[c.track].pop_front() else {
                break;
            };
            self.pending_bytes -= data.len() as u64;
            self.written += data.len() as u64;
            out.put_shared(data)
                .map_err(|e| FormatError::io(FORMAT, out.position(), e))?;
            self.cur_done += 1;
            if self.cur_done == c.count {
                self.cur += 1;
                self.cur_done = 0;
            }
        }
        Ok(())
    }
}

impl MuxerTrait for Muxer {
    fn start(&mut self, meta: &Meta, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        if self.layout.is_some() {
            // Resumed: the head and the chunks before the first one are not ours to write.
            return Ok(());
        }
        let layout = Layout::new(meta)?;
        let io = |e| FormatError::whole(FORMAT, Problem::Io(e));
        out.put(&layout.head).map_err(io)?;
        let n = layout.tracks.len();
        self.received = vec![0; n];
        self.pending = vec![VecDeque::new(); n];
        self.layout = Some(std::sync::Arc::new(layout));
        Ok(())
    }

    fn write(&mut self, pkt: &Packet, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        let Some(layout) = self.layout.as_ref() else {
            return Err(err("packet before start"));
        };
        let Some(ti) = layout.tracks.iter().position(|t| t.id == pkt.track) else {
            return Err(err(format!("packet for unknown track {}", pkt.track)));
        };
        let k = self.received[ti];
        let p = &layout.plans[ti];
        let Some(&size) = p.sizes.get(k) else {
            return Err(err(format!(
                "track {}: more packets than the index announced ({})",
                pkt.track,
                p.sizes.len()
            )));
        };
        if pkt.data.len() as u64 != u64::from(size) {
            return Err(err(format!(
                "track {} packet {k}: {} bytes but the index says {size}",
                pkt.track,
                pkt.data.len()
            )));
        }
        let tb = Timebase::new(p.timescale).unwrap_or(Timebase::MS);
        let src = layout.tracks[ti].timebase;
        if src.rescale(pkt.dts.0, tb) != p.dts[k] {
            return Err(err(format!(
                "track {} packet {k}: time {} differs from the index",
                pkt.track, pkt.dts.0
            )));
        }
        self.received[ti] += 1;
        self.pending_bytes += pkt.data.len() as u64;
        if self.pending_bytes > MAX_PENDING {
            return Err(FormatError::whole(
                FORMAT,
                Problem::Limit {
                    what: "bytes waiting for their chunk (input not interleaved by time)",
                    limit: MAX_PENDING,
                },
            ));
        }
        self.pending[ti].push_back(pkt.data.clone());
        self.drain(out)
    }

    fn finish(&mut self, _out: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        let Some(layout) = self.layout.as_ref() else {
            return Err(err("finish before start"));
        };
        if self.cur < layout.chunks.len() {
            let want: usize = layout.plans.iter().map(|p| p.sizes.len()).sum();
            let got: usize = self.received.iter().sum();
            return Err(err(format!(
                "the input ended after {got} of the {want} packets the index announced"
            )));
        }
        Ok(Finish::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(timescale: u32, dts: &[i64], cts: &[i32], dur: u32) -> Plan {
        Plan {
            timescale,
            dts: dts.to_vec(),
            cts: cts.to_vec(),
            sizes: vec![1; dts.len()],
            sync: vec![true; dts.len()],
            durations: vec![dur; dts.len()],
        }
    }

    fn edits(p: &Plan, m: &Timeline) -> Vec<(u64, i64)> {
        edit_for(p, m)
            .unwrap()
            .entries
            .iter()
            .map(|e| (e.segment_duration, e.media_time))
            .collect()
    }

    /// Oracle: arithmetic by hand on h264_aac.ts's first frames. Video I P B at 90 kHz from
    /// dts 126000 (pts 133200, 144000, 136800), audio at 48 kHz from 70016 (1.458667 s, the
    /// movie's start). Video: delay 133200 - 131280 = 1920 ticks (21.333 ms, exact in the
    /// 90 kHz movie clock), media_time = the first composition offset 7200, duration = latest
    /// pts + 3600 - first pts = 14400. Audio: no delay, media_time 0, two frames = 2048 ticks of
    /// 48 kHz = 3840 of 90 kHz.
    #[test]
    fn delays_and_media_times_as_ffmpeg_writes_them() {
        let v = plan(
            90_000,
            &[126_000, 129_600, 133_200],
            &[7200, 14_400, 3600],
            3600,
        );
        let a = plan(48_000, &[70_016, 71_040], &[0, 0], 1024);
        let m = Timeline::of(&[v.clone(), a.clone()]);
        assert_eq!(m.timescale, 90_000);
        assert_eq!(edits(&v, &m), vec![(1920, -1), (14_400, 7200)]);
        assert_eq!(edits(&a, &m), vec![(3840, 0)]);
        assert_eq!(movie_duration(&v, &m), 16_320);
    }

    /// A 90 kHz audio track at 8 kHz: planned in its sample rate, as ffmpeg writes audio; but
    /// when two packets sit 5 ticks of 90 kHz apart (less than one 8 kHz sample, as a damaged
    /// TS can have them), the track keeps its 90 kHz clock so no two samples share a time.
    /// Times computed by hand: 11520 ticks of 90 kHz = 1024 samples of 8 kHz.
    #[test]
    fn a_clock_too_coarse_for_the_times_gives_way_to_the_sources() {
        use crate::dtsc::index::{Builder, PartInfo};
        use crate::dtsc::{Codec, Params, TrackId};
        let mut t = Track::new(TrackId(1), TrackKind::Audio, Codec::Aac, Timebase::MPEG);
        if let Params::Audio(a) = &mut t.params {
            a.rate = 8000;
        }
        let index = |times: &[i64]| {
            let mut b = Builder::new(false, Timebase::MPEG);
            for &d in times {
                assert!(b.push(PartInfo {
                    dts: Ticks(d),
                    cts: 0,
                    size: 10,
                    keyframe: true,
                    pos: 0,
                    unit_size: 10,
                }));
            }
            b.finish()
        };
        let p = plan_track(&t, &index(&[0, 11_520, 23_040])).unwrap();
        assert_eq!((p.timescale, p.dts), (8000, vec![0, 1024, 2048]));
        let p = plan_track(&t, &index(&[0, 5, 11_525])).unwrap();
        assert_eq!((p.timescale, &p.dts[..]), (90_000, &[0, 5, 11_525][..]));
        assert_eq!(&p.durations[..2], &[5, 11_520]);
        // A damaged AudioSpecificConfig's 128 Hz is no clock for 21 ms frames: the source's.
        if let Params::Audio(a) = &mut t.params {
            a.rate = 128;
        }
        let p = plan_track(&t, &index(&[0, 1920, 3840])).unwrap();
        assert_eq!((p.timescale, p.dts), (90_000, vec![0, 1920, 3840]));
    }

    /// Oracle: faststart.mp4 as ffmpeg reads it: video from dts -1024 (12.8 kHz, B-frame
    /// shift), pts 0; AAC priming from pts -1024 (48 kHz). The movie starts at 0, not at the
    /// priming: both tracks get media_time 1024 and no delay, as in the source's edit lists.
    #[test]
    fn pre_roll_stays_cut() {
        let v = plan(12_800, &[-1024, -512, 0], &[1024, 2048, 512], 512);
        let a = plan(48_000, &[-1024, 0, 1024], &[0, 0, 0], 1024);
        let m = Timeline::of(&[v.clone(), a.clone()]);
        assert_eq!(m.timescale, 48_000);
        // Video: latest pts 1536 + 512 = 2048, media time 2048 + 1024 = 3072; from media
        // time 1024 that is 2048 ticks of 12.8 kHz = 7680 of 48 kHz.
        assert_eq!(edits(&v, &m), vec![(7680, 1024)]);
        assert_eq!(edits(&a, &m), vec![(2048, 1024)]);
    }
}
