//! Reading an MP4's structure: the `moov` box tree into [`Movie`], and `moof` fragments into
//! compact runs ([`FragRun`]) per track. Works on bytes the caller has loaded (only `moov` and
//! `moof` are ever loaded; `mdat` never is). [`super::samples`] walks the tables sample by
//! sample.

use super::boxes::edts::Elst;
use super::boxes::fragment::{self, Tfhd, TrunColumns};
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

pub use super::samples::{FragRun, MoovTables, Sample};

/// Samples one file may hold. The tables cost nothing per sample, but the index convert builds
/// for MP4 and FLV output costs about 12 bytes per sample.
pub const MAX_SAMPLES: u64 = 1 << 24;
/// Tracks one `moov` may declare.
pub const MAX_TRACKS: usize = 256;

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

/// Findings about a track's `moov` tables that disagree with each other (the samples that the
/// chunks cannot place are dropped; missing times and offsets take defaults).
pub fn check_tables(id: u32, at: u64, m: &MoovTables, findings: &mut Vec<Finding>) {
    let n = u64::from(m.stsz.count);
    let stts_total: u64 = m.stts.iter().map(|e| u64::from(e.0)).sum();
    if stts_total != n {
        findings.push(Finding::error(
            at,
            format!("track {id}: stts covers {stts_total} samples but stsz lists {n}"),
        ));
    }
    if !m.ctts.is_empty() {
        let total: u64 = m.ctts.iter().map(|e| u64::from(e.0)).sum();
        if total != n {
            findings.push(Finding::warning(
                at,
                format!("track {id}: ctts covers {total} samples but stsz lists {n}"),
            ));
        }
    }
    if let Some(s) = &m.stss {
        if s.is_empty() && n > 0 {
            findings.push(Finding::warning(
                at,
                format!("track {id}: stss lists no sync sample"),
            ));
        }
        let beyond = s
            .iter()
            .filter(|&&k| k == 0 || u64::from(k) > m.count)
            .count();
        if let Some(&k) = s.iter().find(|&&k| k == 0 || u64::from(k) > m.count) {
            findings.push(Finding::warning(
                at,
                format!("track {id}: stss names {beyond} sample(s) that do not exist (first: {k})"),
            ));
        }
    }
    if m.count < n {
        findings.push(Finding::error(
            at,
            format!(
                "track {id}: chunks (stco/stsc) hold {} samples but stsz lists {n}; the rest are dropped",
                m.count
            ),
        ));
    }
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

/// Parses one `moof` (payload cursor, box at absolute `moof_offset`) and appends its runs to
/// the per-track lists (`runs[i]` belongs to `tracks[i]`). `budget` is how many more samples
/// the file may hold.
pub fn parse_moof(
    mut c: Cursor,
    moof_offset: u64,
    tracks: &mut [FragTrack],
    runs: &mut [Vec<FragRun>],
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
        let mut truns: Vec<(u64, TrunColumns)> = Vec::new();
        while let Some((h, mut b)) = next_child(&mut traf)? {
            match &h.kind {
                b"tfhd" => tfhd = Some(Tfhd::parse(&mut b)?),
                b"tfdt" => tfdt = Some(fragment::parse_tfdt(&mut b)?),
                b"trun" => truns.push((h.offset, TrunColumns::parse(&mut b)?)),
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
            let n = u64::from(trun.count);
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
            let run = FragRun {
                data_offset: pos,
                dts: tr.next_dts,
                count: trun.count,
                default_duration: tfhd.duration.unwrap_or(tr.trex.duration),
                default_size: tfhd.size.unwrap_or(tr.trex.size),
                default_flags: tfhd.sample_flags.unwrap_or(tr.trex.flags),
                first_flags: trun.first_flags,
                durations: trun.durations,
                sizes: trun.sizes,
                flags: trun.sample_flags,
                ctos: trun.ctos,
            };
            let bytes: u64 = if run.sizes.is_empty() {
                n.saturating_mul(u64::from(run.default_size))
            } else {
                run.sizes.iter().map(|&s| u64::from(s)).sum()
            };
            pos = pos.saturating_add(bytes);
            tr.next_dts = run.decode_end();
            runs[ti].push(run);
        }
        prev_end = Some(pos);
    }
    Ok(())
}

/// A name for a box type in messages.
pub fn name(kind: &[u8; 4]) -> String {
    fourcc_str(*kind)
}
