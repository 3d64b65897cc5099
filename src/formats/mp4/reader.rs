//! Reading an MP4's structure: the `moov` box tree into [`Movie`], sample tables expanded into
//! a compact per-track sample list, and `moof` fragments appended to it. Works on bytes the
//! caller has loaded (only `moov` and `moof` are ever loaded; `mdat` never is).

use super::boxes::edts::Elst;
use super::boxes::fragment::{self, Tfhd, Trun};
use super::boxes::media::{Hdlr, Mdhd};
use super::boxes::movie::{Mvhd, Tkhd};
use super::boxes::mvex::Trex;
use super::boxes::stco::Stco;
use super::boxes::stsc::Stsc;
use super::boxes::stsd::Stsd;
use super::boxes::stss::Stss;
use super::boxes::stsz::Stsz;
use super::boxes::stts::{Ctts, Stts};
use super::boxes::{fourcc_str, next_child, FORMAT};
use crate::formats::error::Problem;
use crate::formats::{Finding, FormatError};
use crate::io::Cursor;

/// Samples mist keeps in memory for one file (about 32 bytes each).
pub const MAX_SAMPLES: u64 = 1 << 24;
/// Tracks one `moov` may declare.
pub const MAX_TRACKS: usize = 256;

/// One sample, as the tables describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Absolute file offset of its data.
    pub offset: u64,
    /// Decode time in track ticks (edit lists applied by the demuxer afterwards).
    pub dts: i64,
    /// Bytes.
    pub size: u32,
    /// Composition offset.
    pub cts: i32,
    /// Sync sample (random access point).
    pub sync: bool,
}

/// One `trak`, its boxes parsed.
#[derive(Clone, Debug)]
pub struct Trak {
    /// Offset of the `trak` box.
    pub offset: u64,
    /// Track header.
    pub tkhd: Tkhd,
    /// Edit list, when present.
    pub elst: Option<Elst>,
    /// Media header.
    pub mdhd: Mdhd,
    /// Handler.
    pub hdlr: Hdlr,
    /// Sample descriptions.
    pub stsd: Stsd,
    /// Decode durations.
    pub stts: Stts,
    /// Composition offsets.
    pub ctts: Option<Ctts>,
    /// Sync samples (absent: all sync).
    pub stss: Option<Stss>,
    /// Sample to chunk.
    pub stsc: Stsc,
    /// Sample sizes.
    pub stsz: Stsz,
    /// Chunk offsets.
    pub stco: Stco,
    /// Offset of the `stbl` box (for findings).
    pub stbl_offset: u64,
}

/// The parsed `moov`.
#[derive(Clone, Debug)]
pub struct Movie {
    /// Movie header.
    pub mvhd: Mvhd,
    /// Tracks, in file order.
    pub traks: Vec<Trak>,
    /// Fragment defaults (present when the file is fragmented).
    pub trex: Vec<Trex>,
    /// True when `mvex` is present.
    pub fragmented: bool,
}

fn missing(at: u64, what: &str) -> FormatError {
    FormatError::new(
        FORMAT,
        at,
        Problem::Invalid(format!("missing '{what}' box")),
    )
}

/// Parses a `moov` payload.
pub fn parse_moov(mut c: Cursor) -> Result<Movie, FormatError> {
    let start = c.offset();
    let mut mvhd = None;
    let mut traks = Vec::new();
    let mut trex = Vec::new();
    let mut fragmented = false;
    while let Some((h, mut body)) = next_child(&mut c)? {
        match &h.kind {
            b"mvhd" => mvhd = Some(Mvhd::parse(&mut body)?),
            b"trak" => {
                if traks.len() >= MAX_TRACKS {
                    return Err(FormatError::new(
                        FORMAT,
                        h.offset,
                        Problem::Limit {
                            what: "tracks",
                            limit: MAX_TRACKS as u64,
                        },
                    ));
                }
                traks.push(parse_trak(h.offset, body)?);
            }
            b"mvex" => {
                fragmented = true;
                while let Some((h, mut b)) = next_child(&mut body)? {
                    if &h.kind == b"trex" {
                        trex.push(Trex::parse(&mut b)?);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(Movie {
        mvhd: mvhd.ok_or_else(|| missing(start, "mvhd"))?,
        traks,
        trex,
        fragmented,
    })
}

fn parse_trak(at: u64, mut c: Cursor) -> Result<Trak, FormatError> {
    let mut tkhd = None;
    let mut elst = None;
    let mut mdhd = None;
    let mut hdlr = None;
    let mut stbl = None;
    while let Some((h, mut body)) = next_child(&mut c)? {
        match &h.kind {
            b"tkhd" => tkhd = Some(Tkhd::parse(&mut body)?),
            b"edts" => {
                while let Some((h, mut b)) = next_child(&mut body)? {
                    if &h.kind == b"elst" {
                        elst = Some(Elst::parse(&mut b)?);
                    }
                }
            }
            b"mdia" => {
                while let Some((h, mut b)) = next_child(&mut body)? {
                    match &h.kind {
                        b"mdhd" => mdhd = Some(Mdhd::parse(&mut b)?),
                        b"hdlr" => hdlr = Some(Hdlr::parse(&mut b)?),
                        b"minf" => {
                            while let Some((h, b)) = next_child(&mut b)? {
                                if &h.kind == b"stbl" {
                                    stbl = Some((h.offset, b));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (stbl_offset, mut s) = stbl.ok_or_else(|| missing(at, "stbl"))?;
    let mut stsd = None;
    let mut stts = None;
    let mut ctts = None;
    let mut stss = None;
    let mut stsc = None;
    let mut stsz = None;
    let mut stco = None;
    while let Some((h, mut b)) = next_child(&mut s)? {
        match &h.kind {
            b"stsd" => stsd = Some(Stsd::parse(&mut b)?),
            b"stts" => stts = Some(Stts::parse(&mut b)?),
            b"ctts" => ctts = Some(Ctts::parse(&mut b)?),
            b"stss" => stss = Some(Stss::parse(&mut b)?),
            b"stsc" => stsc = Some(Stsc::parse(&mut b)?),
            b"stsz" => stsz = Some(Stsz::parse(&mut b)?),
            b"stz2" => stsz = Some(Stsz::parse_compact(&mut b)?),
            b"stco" => stco = Some(Stco::parse(&mut b, false)?),
            b"co64" => stco = Some(Stco::parse(&mut b, true)?),
            _ => {}
        }
    }
    let mdhd = mdhd.ok_or_else(|| missing(at, "mdhd"))?;
    if mdhd.timescale == 0 {
        return Err(FormatError::new(
            FORMAT,
            at,
            Problem::BadValue {
                field: "mdhd timescale",
                value: 0,
            },
        ));
    }
    Ok(Trak {
        offset: at,
        tkhd: tkhd.ok_or_else(|| missing(at, "tkhd"))?,
        elst,
        mdhd,
        hdlr: hdlr.ok_or_else(|| missing(at, "hdlr"))?,
        stsd: stsd.ok_or_else(|| missing(stbl_offset, "stsd"))?,
        stts: stts.unwrap_or_default(),
        ctts,
        stss,
        stsc: stsc.unwrap_or_default(),
        stsz: stsz.unwrap_or_default(),
        stco: stco.unwrap_or_default(),
        stbl_offset,
    })
}

/// Expands a track's sample tables into one entry per sample, appending to `out`. `budget` is
/// how many more samples the file may hold; table inconsistencies become findings and the
/// samples that cannot be placed are dropped.
pub fn expand(
    t: &Trak,
    budget: u64,
    out: &mut Vec<Sample>,
    findings: &mut Vec<Finding>,
) -> Result<(), FormatError> {
    let id = t.tkhd.track_id;
    let at = t.stbl_offset;
    let n = u64::from(t.stsz.count);
    if n > budget {
        return Err(FormatError::new(
            FORMAT,
            at,
            Problem::Limit {
                what: "samples",
                limit: MAX_SAMPLES,
            },
        ));
    }
    let n = n as usize;
    let stts_total: u64 = t.stts.entries.iter().map(|e| u64::from(e.0)).sum();
    if stts_total != n as u64 {
        findings.push(Finding::error(
            at,
            format!("track {id}: stts covers {stts_total} samples but stsz lists {n}"),
        ));
    }
    if let Some(c) = &t.ctts {
        let total: u64 = c.entries.iter().map(|e| u64::from(e.0)).sum();
        if total != n as u64 {
            findings.push(Finding::warning(
                at,
                format!("track {id}: ctts covers {total} samples but stsz lists {n}"),
            ));
        }
    }
    if let Some(s) = &t.stss {
        if s.samples.is_empty() && n > 0 {
            findings.push(Finding::warning(
                at,
                format!("track {id}: stss lists no sync sample"),
            ));
        }
    }
    out.reserve(n);
    let base = out.len();
    // Chunks: offsets from stco, sample counts from stsc runs (first_chunk is 1-based).
    let mut placed = 0usize;
    let stsc = &t.stsc.entries;
    let mut run = 0usize;
    'chunks: for (k, &chunk_off) in t.stco.offsets.iter().enumerate() {
        let chunk_no = k as u64 + 1;
        while run + 1 < stsc.len() && u64::from(stsc[run + 1].first_chunk) <= chunk_no {
            run += 1;
        }
        let Some(e) = stsc.get(run) else { break };
        let mut off = chunk_off;
        for _ in 0..e.samples_per_chunk {
            if placed >= n {
                break 'chunks;
            }
            let size = t.stsz.size(placed).unwrap_or(0);
            out.push(Sample {
                offset: off,
                dts: 0,
                size,
                cts: 0,
                sync: t.stss.is_none(),
            });
            off = off.saturating_add(u64::from(size));
            placed += 1;
        }
    }
    if placed < n {
        findings.push(Finding::error(
            at,
            format!(
                "track {id}: chunks (stco/stsc) hold {placed} samples but stsz lists {n}; the rest are dropped"
            ),
        ));
    }
    let samples = &mut out[base..];
    // Decode times.
    let mut dts: i64 = 0;
    let mut i = 0usize;
    let mut last_delta = 0u32;
    for &(count, delta) in &t.stts.entries {
        for _ in 0..count {
            let Some(s) = samples.get_mut(i) else { break };
            s.dts = dts;
            dts = dts.saturating_add(i64::from(delta));
            i += 1;
        }
        last_delta = delta;
        if i >= samples.len() {
            break;
        }
    }
    for s in samples.iter_mut().skip(i) {
        s.dts = dts;
        dts = dts.saturating_add(i64::from(last_delta));
    }
    if let Some(c) = &t.ctts {
        let mut i = 0usize;
        'ctts: for &(count, off) in &c.entries {
            for _ in 0..count {
                let Some(s) = samples.get_mut(i) else {
                    break 'ctts;
                };
                s.cts = off;
                i += 1;
            }
        }
    }
    if let Some(ss) = &t.stss {
        for &k in &ss.samples {
            match (k as usize).checked_sub(1).and_then(|k| samples.get_mut(k)) {
                Some(s) => s.sync = true,
                None => findings.push(Finding::warning(
                    at,
                    format!("track {id}: stss names sample {k}, which does not exist"),
                )),
            }
        }
    }
    Ok(())
}

/// What fragments need to know about a track.
#[derive(Clone, Copy, Debug, Default)]
pub struct FragTrack {
    /// Track id.
    pub id: u32,
    /// Defaults from `trex`.
    pub trex: Trex,
    /// Decode time where the next fragment continues when it has no `tfdt`.
    pub next_dts: i64,
}

/// Parses one `moof` (payload cursor, box at absolute `moof_offset`) and appends its samples
/// to the per-track lists (`lists[i]` belongs to `tracks[i]`).
pub fn parse_moof(
    mut c: Cursor,
    moof_offset: u64,
    tracks: &mut [FragTrack],
    lists: &mut [Vec<Sample>],
    budget: &mut u64,
    findings: &mut Vec<Finding>,
) -> Result<(), FormatError> {
    let mut prev_end: Option<u64> = None;
    while let Some((h, mut traf)) = next_child(&mut c)? {
        if &h.kind != b"traf" {
            continue;
        }
        let mut tfhd: Option<Tfhd> = None;
        let mut tfdt = None;
        let mut truns: Vec<(u64, Trun)> = Vec::new();
        while let Some((h, mut b)) = next_child(&mut traf)? {
            match &h.kind {
                b"tfhd" => tfhd = Some(Tfhd::parse(&mut b)?),
                b"tfdt" => tfdt = Some(fragment::parse_tfdt(&mut b)?),
                b"trun" => truns.push((h.offset, Trun::parse(&mut b)?)),
                _ => {}
            }
        }
        let Some(tfhd) = tfhd else {
            return Err(missing(h.offset, "tfhd"));
        };
        let Some(ti) = tracks.iter().position(|t| t.id == tfhd.track_id) else {
            findings.push(Finding::warning(
                h.offset,
                format!("fragment for unknown track {} skipped", tfhd.track_id),
            ));
            continue;
        };
        let tr = &mut tracks[ti];
        let base = match tfhd.base_data_offset {
            Some(b) => b,
            None if tfhd.flags & fragment::TFHD_BASE_IS_MOOF != 0 => moof_offset,
            None => prev_end.unwrap_or(moof_offset),
        };
        if let Some(t) = tfdt {
            tr.next_dts = i64::try_from(t).unwrap_or(i64::MAX);
        }
        let dur_default = tfhd.duration.unwrap_or(tr.trex.duration);
        let size_default = tfhd.size.unwrap_or(tr.trex.size);
        let flags_default = tfhd.sample_flags.unwrap_or(tr.trex.flags);
        let mut pos = base;
        for (at, trun) in truns {
            if let Some(o) = trun.data_offset {
                pos = base.checked_add_signed(i64::from(o)).ok_or_else(|| {
                    FormatError::new(
                        FORMAT,
                        at,
                        Problem::BadValue {
                            field: "trun data_offset",
                            value: o as u32 as u64,
                        },
                    )
                })?;
            }
            let n = trun.samples.len() as u64;
            if n > *budget {
                return Err(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Limit {
                        what: "samples",
                        limit: MAX_SAMPLES,
                    },
                ));
            }
            *budget -= n;
            let list = &mut lists[ti];
            list.reserve(trun.samples.len());
            for (k, s) in trun.samples.iter().enumerate() {
                let flags = if k == 0 {
                    trun.first_flags.or(s.flags).unwrap_or(flags_default)
                } else {
                    s.flags.unwrap_or(flags_default)
                };
                let size = s.size.unwrap_or(size_default);
                list.push(Sample {
                    offset: pos,
                    dts: tr.next_dts,
                    size,
                    cts: s.cto.unwrap_or(0),
                    sync: fragment::is_sync(flags),
                });
                pos = pos.saturating_add(u64::from(size));
                tr.next_dts = tr
                    .next_dts
                    .saturating_add(i64::from(s.duration.unwrap_or(dur_default)));
            }
        }
        prev_end = Some(pos);
    }
    Ok(())
}

/// A name for a box type in messages.
pub fn name(kind: &[u8; 4]) -> String {
    fourcc_str(*kind)
}
