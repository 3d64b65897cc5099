//! The MP4 demuxer: finds the top-level boxes by their headers (seeking over `mdat`), parses
//! `moov` and every `moof` into per-track sample tables kept in the file's compact form
//! ([`Table`]), applies edit lists as FFmpeg does, and yields samples in decode order
//! interleaved across tracks by time, reading each payload from a small window over the file.
//!
//! Claims the file cannot back are refused at open with one error: more samples than the file
//! has bytes, or tables that place samples on top of each other (the data of two chunks
//! overlap: a few hundred kB of tables can otherwise claim gigabytes of samples from one
//! stretch of bytes). Samples placed beyond the end of the file (a truncated recording) are a
//! finding at open and an error when reached.

use std::io::{Read, Seek, SeekFrom};

use bytes::{Bytes, BytesMut};

use super::boxes::ftyp::Ftyp;
use super::boxes::media::unpack_language;
use super::boxes::sidx::Sidx;
use super::boxes::stsd::{EntryKind, SampleEntry};
use super::boxes::{fourcc_str, parse_header, BoxHeader, FORMAT};
use super::reader::{self, FragTrack, Movie, Trak, MAX_SAMPLES};
use super::samples::{self, Cursor as SampleCursor, FragRun, MoovTables, Sample, Samples, Table};
use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::{
    Codec, Index, Meta, Packet, Params, Ticks, Time, Timebase, Track, TrackId, TrackKind,
};
use crate::formats::error::Problem;
use crate::formats::{Demuxer as DemuxerTrait, Finding, FormatError};
use crate::io::{Cursor, Source};

/// Largest `moov` mist loads. Its sample tables stay in memory in the file's own form (about
/// 4 bytes per sample for `stsz`); a 4 GB file of 500-byte samples has a `moov` of about 40 MB.
pub const MAX_MOOV: u64 = 64 << 20;
/// Largest `moof` mist loads (real fragments have a few kB of tables).
pub const MAX_MOOF: u64 = 16 << 20;
/// Largest single sample.
pub const MAX_SAMPLE: u64 = 256 << 20;
/// Top-level boxes remembered for `analyse` (more are still read, just not listed).
pub const MAX_TOP_BOXES: usize = 100_000;
/// `sidx` boxes kept.
pub const MAX_SIDX: usize = 1024;
/// How much one payload read fetches ahead, so interleaved samples come from one read.
const WINDOW: u64 = 1 << 20;

/// What the top-level scan found.
#[derive(Clone, Debug, Default)]
pub struct FileInfo {
    /// The `ftyp`, when present.
    pub ftyp: Option<Ftyp>,
    /// Top-level boxes in file order.
    pub top: Vec<BoxHeader>,
    /// Offset of `moov`.
    pub moov_offset: Option<u64>,
    /// Offset of the first `mdat`.
    pub first_mdat: Option<u64>,
    /// `moof` boxes read.
    pub moofs: u64,
    /// `sidx` boxes read.
    pub sidx: Vec<(u64, Sidx)>,
    /// File length.
    pub len: u64,
    /// True when a top-level box runs past the end of the file (a cut recording).
    pub cut_short: bool,
}

impl FileInfo {
    /// True when `moov` comes before the first `mdat` (or there is no `mdat`).
    pub fn faststart(&self) -> bool {
        match (self.moov_offset, self.first_mdat) {
            (Some(m), Some(d)) => m < d,
            _ => true,
        }
    }
}

/// One output track of the demuxer.
#[derive(Clone, Debug)]
pub struct TrackSamples {
    /// Its id (`track_ID`).
    pub id: TrackId,
    /// Its clock.
    pub timebase: Timebase,
    /// Its samples in the file's compact form, edit list applied.
    pub table: Table,
    /// NAL length size of the source when it is not 4 (payloads are rewritten to 4).
    pub nal_len: Option<u8>,
    cursor: SampleCursor,
    peeked: Option<Sample>,
}

impl TrackSamples {
    /// The samples in decode order, edit list applied.
    pub fn samples(&self) -> Samples<'_> {
        self.table.iter()
    }

    /// How many samples.
    pub fn len(&self) -> u64 {
        self.table.len()
    }

    /// True without samples.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn peek(&mut self) -> Option<Sample> {
        if self.peeked.is_none() {
            self.peeked = self.cursor.next(&self.table);
        }
        self.peeked
    }

    fn take(&mut self) -> Option<Sample> {
        let s = self.peek();
        self.peeked = None;
        s
    }

    /// Positions reading at sample `k`.
    fn rewind_to(&mut self, k: u64) {
        self.cursor = SampleCursor::at(&self.table, k);
        self.peeked = None;
    }
}

/// Reads MP4 and fragmented MP4.
pub struct Demuxer {
    src: Source,
    meta: Meta,
    /// What the scan found (for `analyse`).
    pub info: FileInfo,
    /// The parsed `moov` (for `analyse`).
    pub movie: Movie,
    /// Per output track, its samples.
    pub tracks: Vec<TrackSamples>,
    window: Bytes,
    window_at: u64,
    findings: Vec<Finding>,
    position: u64,
}

/// Opens `src` as MP4 (the format table's `open`).
pub fn open(src: Source) -> Result<Box<dyn DemuxerTrait>, FormatError> {
    Ok(Box::new(Demuxer::open(src)?))
}

/// How far past a broken box the reader looks for the next `moof`.
const RESYNC_LIMIT: u64 = 16 << 20;

/// The offset of the next `moof` box after `from` (its size field plausible), within
/// [`RESYNC_LIMIT`] bytes.
fn next_moof(src: &mut Source, from: u64, len: u64) -> Result<Option<u64>, FormatError> {
    let end = len.min(from.saturating_add(RESYNC_LIMIT));
    let mut at = from + 1;
    while at + 8 <= end {
        let n = (end - at).min(1 << 20) as usize;
        let buf = read_at(src, at, n, "fragment search")?;
        for i in 0..buf.len().saturating_sub(7) {
            if &buf[i + 4..i + 8] == b"moof" {
                let size = u64::from(u32::from_be_bytes([
                    buf[i],
                    buf[i + 1],
                    buf[i + 2],
                    buf[i + 3],
                ]));
                let p = at + i as u64;
                if size >= 16 && size <= len - p {
                    return Ok(Some(p));
                }
            }
        }
        if n < 8 {
            break;
        }
        at += (n - 7) as u64;
    }
    Ok(None)
}

/// The finding for a damaged stretch from `at` to the fragment at `next`.
fn skipped(at: u64, next: u64, what: &str) -> Finding {
    Finding::error(
        at,
        format!(
            "not a box ({what}): {} bytes skipped to the next fragment at byte {next}",
            next - at
        ),
    )
}

fn read_at(src: &mut Source, at: u64, n: usize, what: &'static str) -> Result<Bytes, FormatError> {
    src.seek(SeekFrom::Start(at))
        .map_err(|e| FormatError::io(FORMAT, at, e))?;
    let mut buf = BytesMut::zeroed(n);
    let mut got = 0;
    while got < n {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FormatError::io(FORMAT, at, e)),
        }
    }
    if got < n {
        return Err(FormatError::new(
            FORMAT,
            at + got as u64,
            Problem::Truncated {
                what,
                need: (n - got) as u64,
            },
        ));
    }
    Ok(buf.freeze())
}

fn too_big(at: u64, what: &'static str, limit: u64) -> FormatError {
    FormatError::new(FORMAT, at, Problem::Limit { what, limit })
}

impl Demuxer {
    /// Opens `src`: scans the top-level boxes, parses `moov` and fragments.
    pub fn open(mut src: Source) -> Result<Demuxer, FormatError> {
        if !src.is_seekable() {
            return Err(FormatError::whole(
                FORMAT,
                Problem::Unsupported("reading MP4 from a pipe (its moov may be at the end)".into()),
            ));
        }
        let len = src
            .len()
            .ok_or_else(|| FormatError::whole_invalid(FORMAT, "input length unknown"))?;
        let mut info = FileInfo {
            len,
            ..FileInfo::default()
        };
        let mut findings = Vec::new();
        let mut moov: Option<Movie> = None;
        let mut frag: Vec<FragTrack> = Vec::new();
        let mut lists: Vec<Vec<FragRun>> = Vec::new();
        let mut pending_moofs: Vec<(u64, Bytes)> = Vec::new();
        let mut pending_bytes = 0u64;
        // Samples the fragments may still add (a sample takes at least a byte of the file).
        let mut frag_budget = MAX_SAMPLES.min(len);
        let mut pos = 0u64;
        while pos < len {
            let head_len = (len - pos).min(32) as usize;
            let head = read_at(&mut src, pos, head_len, "box header")?;
            let h = match parse_header(&head, pos, u64::MAX) {
                Ok(Some(h)) => h,
                Ok(None) => {
                    findings.push(Finding::warning(
                        pos,
                        format!("{} trailing bytes that are not a box", len - pos),
                    ));
                    break;
                }
                Err(e) => {
                    if moov.is_some() {
                        if let Some(next) = next_moof(&mut src, pos, len)? {
                            findings.push(skipped(pos, next, &e.problem.to_string()));
                            pos = next;
                            continue;
                        }
                        findings.push(Finding::error(pos, e.to_string()));
                        break;
                    }
                    return Err(e);
                }
            };
            let mut h = h;
            if h.to_end {
                h.size = len - pos;
            }
            // A header of bytes that name no box, after the movie: damage in a fragmented
            // file. Reading goes on at the next fragment.
            let named = h
                .kind
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b' ');
            if moov.is_some() && (!named || h.size > len - pos) && &h.kind != b"mdat" {
                if let Some(next) = next_moof(&mut src, pos, len)? {
                    findings.push(skipped(
                        pos,
                        next,
                        &format!("box '{}' of {} bytes", fourcc_str(h.kind), h.size),
                    ));
                    pos = next;
                    continue;
                }
            }
            if h.size > len - pos {
                let msg = format!(
                    "box '{}' size {} overruns the file ({} bytes left)",
                    fourcc_str(h.kind),
                    h.size,
                    len - pos
                );
                if &h.kind == b"mdat" || moov.is_some() {
                    findings.push(Finding::error(
                        pos,
                        if named {
                            format!("{msg}: the file is cut short; samples past its end are lost")
                        } else {
                            format!(
                                "not a box ('{}'), and no fragment after it: the last {} bytes are not read",
                                fourcc_str(h.kind),
                                len - pos
                            )
                        },
                    ));
                    if !named {
                        break;
                    }
                    info.cut_short = true;
                    h.size = len - pos;
                    if h.size < h.header_len {
                        break;
                    }
                } else {
                    return Err(FormatError::invalid(FORMAT, pos, msg));
                }
            }
            if info.top.len() < MAX_TOP_BOXES {
                info.top.push(h);
            }
            let payload = h.payload_len();
            let load = |src: &mut Source, limit: u64, what: &'static str| {
                if payload > limit {
                    return Err(too_big(pos, what, limit));
                }
                let b = read_at(src, h.payload_offset(), payload as usize, what)?;
                Ok(Cursor::new(b, h.payload_offset(), FORMAT))
            };
            match &h.kind {
                b"ftyp" if info.ftyp.is_none() => {
                    let mut c = load(&mut src, 1 << 16, "ftyp")?;
                    info.ftyp = Some(Ftyp::parse(&mut c)?);
                }
                b"moov" if moov.is_none() => {
                    info.moov_offset = Some(pos);
                    let m = reader::parse_moov(load(&mut src, MAX_MOOV, "moov")?)?;
                    frag = m
                        .traks
                        .iter()
                        .map(|t| FragTrack {
                            id: t.tkhd.track_id,
                            trex: m
                                .trex
                                .iter()
                                .find(|x| x.track_id == t.tkhd.track_id)
                                .copied()
                                .unwrap_or_default(),
                            next_dts: t.stts.entries.iter().fold(0i64, |a, (n, d)| {
                                a.saturating_add(i64::from(*n).saturating_mul(i64::from(*d)))
                            }),
                        })
                        .collect();
                    lists = vec![Vec::new(); m.traks.len()];
                    moov = Some(m);
                }
                b"moof" => {
                    info.moofs += 1;
                    let c = load(&mut src, MAX_MOOF, "moof")?;
                    if moov.is_some() {
                        parse_moof_tolerant(
                            c,
                            pos,
                            &mut frag,
                            &mut lists,
                            &mut frag_budget,
                            &mut findings,
                        );
                    } else if pending_bytes + payload <= MAX_MOOF {
                        // Fragments before `moov` (rare) wait for it, up to one moof's worth.
                        pending_bytes += payload;
                        let b = c.peek_rest().to_vec();
                        pending_moofs.push((pos, Bytes::from(b)));
                    }
                }
                b"mdat" if info.first_mdat.is_none() => info.first_mdat = Some(pos),
                b"sidx" if info.sidx.len() < MAX_SIDX => {
                    let mut c = load(&mut src, 1 << 20, "sidx")?;
                    match Sidx::parse(&mut c) {
                        Ok(s) => info.sidx.push((pos, s)),
                        Err(e) => findings.push(Finding::warning(pos, e.to_string())),
                    }
                }
                _ => {}
            }
            pos += h.size;
        }
        let Some(mut movie) = moov else {
            return Err(FormatError::whole_invalid(FORMAT, "no 'moov' box"));
        };
        for (at, b) in pending_moofs {
            let c = Cursor::new(b, at + 8, FORMAT);
            parse_moof_tolerant(
                c,
                at,
                &mut frag,
                &mut lists,
                &mut frag_budget,
                &mut findings,
            );
        }
        info.moov_offset.get_or_insert(0);

        let mut tracks = Vec::new();
        let mut meta = Meta::default();
        // A sample takes at least one byte of the file, so a file cannot hold more samples than
        // bytes: tiny hostile files with huge counts are refused before anything is walked.
        // (What the fragments took is already off.)
        let mut budget = frag_budget;
        let mvhd_timescale = movie.mvhd.timescale;
        for (i, t) in movie.traks.iter_mut().enumerate() {
            let Some((track, nal_len)) = make_track(t, &mut findings) else {
                continue;
            };
            let moov = MoovTables::take(t);
            reader::check_tables(t.tkhd.track_id, t.stbl_offset, &moov, &mut findings);
            // The count stsz claims, even when the chunks place fewer.
            if u64::from(moov.stsz.count).max(moov.count) > budget {
                return Err(FormatError::new(
                    FORMAT,
                    t.stbl_offset,
                    Problem::Limit {
                        what: "samples (a file holds at most one per byte)",
                        limit: MAX_SAMPLES.min(len),
                    },
                ));
            }
            budget -= moov.count;
            let mut table = Table::new(moov, std::mem::take(&mut lists[i]));
            apply_edits(t, mvhd_timescale, &mut table, track.kind, &mut findings);
            let walk = walk(&table, len);
            // A cut-short file has its one finding already (the overrunning box); the samples it
            // lost are that same region, not another.
            if let (Some((k, s)), false) = (walk.first_outside, info.cut_short) {
                findings.push(Finding::error(
                    t.stbl_offset,
                    format!(
                        "track {}: {} of {} samples lie beyond the end of the file ({len} \
                         bytes), from sample {k} (data at {}+{})",
                        track.id, walk.outside, walk.count, s.offset, s.size
                    ),
                ));
            }
            let mut track = track;
            set_rate(&mut track, &walk);
            let cursor = SampleCursor::start(&table);
            tracks.push(TrackSamples {
                id: track.id,
                timebase: track.timebase,
                table,
                nal_len,
                cursor,
                peeked: None,
            });
            meta.tracks.push(track);
        }
        let tables: Vec<&Table> = tracks.iter().map(|t| &t.table).collect();
        if let Some(at) = samples::first_overlap(&tables) {
            return Err(FormatError::invalid(
                FORMAT,
                movie.traks.first().map_or(0, |t| t.stbl_offset),
                format!(
                    "the sample tables place samples on top of each other (the data of two \
                     chunks overlap from byte {at} on)"
                ),
            ));
        }
        Ok(Demuxer {
            src,
            meta,
            info,
            movie,
            tracks,
            window: Bytes::new(),
            window_at: 0,
            findings,
            position: 0,
        })
    }

    /// The payload of a top-level box (for `analyse`), up to `limit` bytes.
    pub fn read_box(&mut self, h: &BoxHeader, limit: u64) -> Result<Cursor, FormatError> {
        let n = h.payload_len();
        if n > limit {
            return Err(too_big(h.offset, "box size", limit));
        }
        let b = read_at(&mut self.src, h.payload_offset(), n as usize, "box payload")?;
        Ok(Cursor::new(b, h.payload_offset(), FORMAT))
    }

    /// Reads `size` bytes at `offset` through the read-ahead window.
    pub fn read_payload(&mut self, offset: u64, size: u32) -> Result<Bytes, FormatError> {
        let size = u64::from(size);
        if size > MAX_SAMPLE {
            // Reported inside the file, where the table that claims it can be looked at.
            return Err(too_big(
                offset.min(self.info.len),
                "sample size",
                MAX_SAMPLE,
            ));
        }
        let end = offset.saturating_add(size);
        let wend = self.window_at + self.window.len() as u64;
        if offset >= self.window_at && end <= wend {
            let s = (offset - self.window_at) as usize;
            return Ok(self.window.slice(s..s + size as usize));
        }
        let len = self.info.len;
        if end > len {
            // Reported where the file ends: the sample lies (partly) beyond it.
            return Err(FormatError::new(
                FORMAT,
                offset.min(len),
                Problem::Truncated {
                    what: "sample data",
                    need: end - offset.max(len),
                },
            ));
        }
        let want = size.max(WINDOW).min(len - offset);
        self.window = read_at(&mut self.src, offset, want as usize, "sample data")?;
        self.window_at = offset;
        Ok(self.window.slice(..size as usize))
    }

    /// The track whose next sample comes first in decode time (ties: lower file offset).
    fn pick(&mut self) -> Option<(usize, Sample)> {
        let mut best: Option<(usize, Sample, Time)> = None;
        for i in 0..self.tracks.len() {
            let Some(s) = self.tracks[i].peek() else {
                continue;
            };
            let time = Time::new(Ticks(s.dts), self.tracks[i].timebase);
            let better = match best {
                None => true,
                Some((_, b, bt)) => time < bt || (time == bt && s.offset < b.offset),
            };
            if better {
                best = Some((i, s, time));
            }
        }
        best.map(|b| (b.0, b.1))
    }

    /// The next sample in the order [`next_packet`](crate::formats::Demuxer::next_packet)
    /// gives packets, without reading its data: what a listing of a large file needs from
    /// `moov` alone.
    pub fn next_sample(&mut self) -> Option<(TrackId, Sample)> {
        let (i, s) = self.pick()?;
        self.tracks[i].take();
        Some((self.tracks[i].id, s))
    }

    /// The packet for sample `s` of track `i`.
    fn packet(&mut self, i: usize, s: Sample) -> Result<Packet, FormatError> {
        let (id, nal_len) = (self.tracks[i].id, self.tracks[i].nal_len);
        let mut data = self.read_payload(s.offset, s.size)?;
        if let Some(n) = nal_len {
            data = widen_nal_lengths(&data, n, s.offset)?;
        }
        self.position = self.position.max(s.offset + u64::from(s.size));
        Ok(Packet {
            track: id,
            dts: Ticks(s.dts),
            cts: s.cts,
            keyframe: s.sync,
            data,
            pos: Some(s.offset),
        })
    }

    /// Index built from the sample tables (payloads are read only for tracks whose NAL
    /// lengths are rewritten, to know the rewritten sizes). The last part of each track lasts
    /// as long as the tables say (the index's own rule would repeat the gap before it).
    pub fn make_index(&mut self) -> Result<Index, FormatError> {
        let mut out = Index::default();
        for i in 0..self.tracks.len() {
            let video = self.meta.tracks[i].kind == TrackKind::Video;
            let mut b = Builder::new(video, self.tracks[i].timebase);
            let mut cur = SampleCursor::start(&self.tracks[i].table);
            let mut last = None;
            while let Some(s) = cur.next(&self.tracks[i].table) {
                let size = match self.tracks[i].nal_len {
                    Some(_) => self.packet(i, s)?.data.len() as u32,
                    None => s.size,
                };
                b.push(PartInfo {
                    dts: Ticks(s.dts),
                    cts: s.cts,
                    size,
                    keyframe: s.sync,
                    pos: s.offset,
                    unit_size: u64::from(s.size),
                });
                last = Some(s.dts);
            }
            let mut ti = b.finish();
            let end = self.tracks[i].table.decode_end();
            if let (Some(l), Some(p)) = (last, ti.parts.last_mut()) {
                if let Ok(d) = u32::try_from(end - l) {
                    if d > 0 {
                        p.duration = d;
                    }
                }
            }
            out.tracks.push(ti);
        }
        Ok(out)
    }
}

/// What one walk over a track's samples found.
#[derive(Clone, Copy, Debug, Default)]
struct Walk {
    count: u64,
    /// Samples whose data does not lie inside the file.
    outside: u64,
    first_outside: Option<(u64, Sample)>,
    first_dts: Option<i64>,
    last_dts: Option<i64>,
}

/// Walks a track's samples once (nothing is kept per sample).
fn walk(t: &Table, len: u64) -> Walk {
    let mut w = Walk::default();
    for s in t.iter() {
        if s.offset.saturating_add(u64::from(s.size)) > len {
            w.outside += 1;
            w.first_outside.get_or_insert((w.count, s));
        }
        w.first_dts.get_or_insert(s.dts);
        w.last_dts = Some(s.dts);
        w.count += 1;
    }
    w
}

fn parse_moof_tolerant(
    c: Cursor,
    at: u64,
    frag: &mut [FragTrack],
    lists: &mut [Vec<FragRun>],
    budget: &mut u64,
    findings: &mut Vec<Finding>,
) {
    if let Err(e) = reader::parse_moof(c, at, frag, lists, budget, findings) {
        findings.push(Finding::of_error(&e));
    }
}

/// Rewrites NAL units with `n`-byte lengths to 4-byte lengths (the canonical framing).
pub fn widen_nal_lengths(data: &[u8], n: u8, at: u64) -> Result<Bytes, FormatError> {
    let mut c = Cursor::from_slice(data, at, FORMAT);
    let mut out = Vec::with_capacity(data.len() + 16);
    while !c.is_empty() {
        let len = match n {
            1 => u32::from(c.u8("NAL length")?),
            2 => u32::from(c.u16("NAL length")?),
            3 => c.u24("NAL length")?,
            _ => c.u32("NAL length")?,
        };
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(c.slice(len as usize, "NAL unit")?);
    }
    Ok(Bytes::from(out))
}

/// The track a `trak` describes, or `None` for tracks mist does not list (hint, timecode).
pub(super) fn make_track(t: &Trak, findings: &mut Vec<Finding>) -> Option<(Track, Option<u8>)> {
    let id = TrackId(t.tkhd.track_id);
    let kind = match &t.hdlr.handler {
        b"vide" => TrackKind::Video,
        b"soun" => TrackKind::Audio,
        b"text" | b"sbtl" | b"subt" => TrackKind::Subtitle,
        b"meta" => TrackKind::Meta,
        other => {
            findings.push(Finding::info(
                t.offset,
                format!("track {id}: handler '{}' skipped", fourcc_str(*other)),
            ));
            return None;
        }
    };
    let timebase = Timebase::new(t.mdhd.timescale)?;
    let entry: Option<&SampleEntry> = t.stsd.entries.first();
    if t.stsd.entries.len() > 1 {
        findings.push(Finding::warning(
            t.offset,
            format!(
                "track {id}: {} sample descriptions; only the first is used",
                t.stsd.entries.len()
            ),
        ));
    }
    let mut nal_len = None;
    let (codec, init) = match entry {
        Some(e) => match (&e.format, &e.kind) {
            (b"avc1" | b"avc3", EntryKind::Visual(v)) => {
                let init = v.config.as_ref().map(|c| c.1.clone()).unwrap_or_default();
                let init = match init.get(4) {
                    Some(b) if b & 3 != 3 => {
                        nal_len = Some((b & 3) + 1);
                        let mut v = init.to_vec();
                        v[4] |= 3;
                        Bytes::from(v)
                    }
                    _ => init,
                };
                (Codec::H264, init)
            }
            (b"hvc1" | b"hev1", EntryKind::Visual(v)) => (
                Codec::Hevc,
                v.config.as_ref().map(|c| c.1.clone()).unwrap_or_default(),
            ),
            (b".mp3" | b"ms\0U", _) => (Codec::Mp3, Bytes::new()),
            (b"mp4a", EntryKind::Audio(a)) => match &a.esds {
                Some(es) => match es.object_type {
                    0x40 | 0x66..=0x68 => (Codec::Aac, es.dsi.clone()),
                    0x69 | 0x6B => (Codec::Mp3, Bytes::new()),
                    other => (Codec::Other(format!("mp4a.{other:02x}")), es.dsi.clone()),
                },
                None => (Codec::Other("mp4a".into()), Bytes::new()),
            },
            (b"ac-3", _) => (Codec::Ac3, Bytes::new()),
            (b"Opus", _) => (Codec::Opus, Bytes::new()),
            (f, _) => (Codec::Other(fourcc_str(*f)), Bytes::new()),
        },
        None => (Codec::Other("none".into()), Bytes::new()),
    };
    let mut track = Track::new(id, kind, codec, timebase);
    track.init = init;
    track.lang = unpack_language(t.mdhd.language);
    match (&mut track.params, entry.map(|e| &e.kind)) {
        (Params::Video(v), Some(EntryKind::Visual(e))) => {
            v.width = u32::from(e.width);
            v.height = u32::from(e.height);
        }
        (Params::Video(v), _) => {
            v.width = t.tkhd.width >> 16;
            v.height = t.tkhd.height >> 16;
        }
        (Params::Audio(a), Some(EntryKind::Audio(e))) => {
            a.rate = if e.rate > 0 { e.rate } else { t.mdhd.timescale };
            a.channels = u32::from(e.channels);
            a.sample_bits = if matches!(track.codec, Codec::Aac | Codec::Mp3) {
                16
            } else {
                u32::from(e.sample_size)
            };
            // For AAC the sample entry's channel count and rate are template fields (ffmpeg
            // writes 2 channels for mono; ISO/IEC 14496-14 leaves them to the decoder
            // configuration): the AudioSpecificConfig decides.
            if track.codec == Codec::Aac {
                if let Some(asc) = crate::codec::aac_audio(&track.init) {
                    if asc.rate > 0 {
                        a.rate = asc.rate;
                    }
                    if asc.channels > 0 {
                        a.channels = asc.channels;
                    }
                }
            }
        }
        _ => {}
    }
    Some((track, nal_len))
}

/// Frames per kilo-second from the samples' span (video only).
fn set_rate(track: &mut Track, w: &Walk) {
    let tb = u128::from(track.timebase.per_second());
    if let (Params::Video(v), Some(first), Some(last)) =
        (&mut track.params, w.first_dts, w.last_dts)
    {
        let n = u128::from(w.count);
        let span = (last - first) as u128;
        if n > 1 && span > 0 {
            // (n - 1) intervals over the span.
            v.fpks = ((n - 1) * tb * 1000 * 2 / span).div_ceil(2) as u32;
        }
    }
}

/// Applies the edit list as FFmpeg's `mov_fix_index` does for the usual shapes: an optional
/// leading empty edit (a delay) and one edit at rate 1 whose `media_time` shifts times back.
/// Samples from the last keyframe at or before the edit start are kept (audio: from one second
/// before, for decoder priming); samples past the edit end are dropped from the first keyframe
/// (any audio sample) that reaches it, or with B-frames from the second. Fragment samples only
/// shift.
pub(super) fn apply_edits(
    t: &Trak,
    movie_ts: u32,
    table: &mut Table,
    kind: TrackKind,
    findings: &mut Vec<Finding>,
) {
    let Some(elst) = &t.elst else { return };
    let id = t.tkhd.track_id;
    let mut empty: u64 = 0;
    let mut main = None;
    for (n, e) in elst.entries.iter().enumerate() {
        if e.media_time == -1 {
            if main.is_none() && n == 0 {
                empty = empty.saturating_add(e.segment_duration);
            }
            continue;
        }
        if main.is_some() {
            findings.push(Finding::warning(
                t.offset,
                format!("track {id}: edit list has more than one edit; only the first is applied"),
            ));
            break;
        }
        if e.rate != 0x10000 {
            findings.push(Finding::warning(
                t.offset,
                format!("track {id}: edit rate {:#x} is ignored", e.rate),
            ));
        }
        main = Some(*e);
    }
    let ts = u64::from(t.mdhd.timescale);
    let mts = u64::from(movie_ts.max(1));
    let empty_ticks = crate::dtsc::time::rescale_round(empty.min(i64::MAX as u64) as i64, ts, mts);
    let Some(e) = main else {
        table.shift = empty_ticks;
        return;
    };
    let media_time = e.media_time;
    table.shift = empty_ticks.saturating_sub(media_time);
    let from_moov = table.moov.count;
    let total = table.moov.count + table.frag_count;
    let mut start = 0u64;
    if from_moov > 0 {
        let first_dts = table.moov_samples().next().map_or(0, |s| s.dts);
        let search = if kind == TrackKind::Audio {
            (media_time - ts as i64).max(first_dts)
        } else {
            media_time
        };
        // The last sync sample at or before `search` (decode and presentation time), but
        // never past the first sample shown inside the edit: with reordering, a sample
        // decoded before that sync sample may be presented after the edit starts.
        let shown = table
            .moov_samples()
            .position(|s| s.dts.saturating_add(i64::from(s.cts)) >= media_time)
            .map_or(u64::MAX, |i| i as u64);
        for (k, s) in table.moov_samples().enumerate() {
            if s.dts > search || k as u64 > shown {
                break;
            }
            if s.sync && s.dts.saturating_add(i64::from(s.cts)) <= search {
                start = k as u64;
            }
        }
    }
    let mut end = from_moov;
    if e.segment_duration > 0 && from_moov > 0 {
        let dur = crate::dtsc::time::rescale_round(
            e.segment_duration.min(i64::MAX as u64) as i64,
            ts,
            mts,
        );
        let limit = media_time.saturating_add(dur);
        // With composition offsets, the first keyframe that reaches the end may be followed
        // in decode order by B-frames shown before it: as FFmpeg does, the cut waits for the
        // next keyframe that also reaches the end.
        let reordered = kind != TrackKind::Audio && table.moov_samples().any(|s| s.cts != 0);
        let mut waited = false;
        let mut it = table.moov_samples().skip(start as usize).peekable();
        let mut k = start;
        while let Some(s) = it.next() {
            // The next sample's time; the last sample of the whole track lasts 0.
            let d = match it.peek() {
                Some(n) => n.dts.saturating_sub(s.dts),
                None if k + 1 < total => table
                    .frags
                    .first()
                    .map_or(0, |f| f.dts.saturating_sub(s.dts)),
                None => 0,
            };
            let pts = s.dts.saturating_add(i64::from(s.cts));
            if pts.saturating_add(d) >= limit && (s.sync || kind == TrackKind::Audio) {
                if reordered && !waited {
                    waited = true;
                } else {
                    end = k + 1;
                    break;
                }
            }
            k += 1;
        }
    }
    table.first = start;
    table.end = end.max(start);
}

impl DemuxerTrait for Demuxer {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn next_packet(&mut self) -> Result<Option<Packet>, FormatError> {
        loop {
            let Some((i, s)) = self.pick() else {
                return Ok(None);
            };
            self.tracks[i].take();
            match self.packet(i, s) {
                // A file cut short (reported at open: its last box overruns the end): the
                // samples past the end are skipped, those of other tracks still inside the
                // file still come.
                Err(e) if e.is_truncation() && self.info.cut_short => continue,
                r => return r.map(Some),
            }
        }
    }

    fn build_index(&mut self) -> Result<(), FormatError> {
        if self.meta.index.is_none() {
            let idx = self.make_index()?;
            self.meta.index = Some(idx);
        }
        Ok(())
    }

    fn drop_index(&mut self) {
        self.meta.index = None;
    }

    fn seek(&mut self, to: Time) -> Result<(), FormatError> {
        for t in &mut self.tracks {
            let want = to.ceil_in(t.timebase).0;
            // The last sync sample at or before `want` (walks the tables; nothing is kept).
            let mut at = 0u64;
            for (k, s) in t.table.iter().enumerate() {
                if s.dts > want {
                    break;
                }
                if s.sync {
                    at = k as u64;
                }
            }
            t.rewind_to(at);
        }
        Ok(())
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }
}
