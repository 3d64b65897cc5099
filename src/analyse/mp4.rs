//! `analyse` for MP4 and fragmented MP4: brands, faststart and fragmentation in the summary;
//! `--detail 1` prints the box tree with decoded fields, then every sample; `--validate`
//! checks box sizes, sample-table counts, chunk offsets, decode order and sync samples.

use std::io::Write;

use crate::dtsc::{Codec, Meta, Ticks, TrackId, TrackKind};
use crate::formats::mp4::boxes::edts::Elst;
use crate::formats::mp4::boxes::fragment::{self, Tfhd, Trun};
use crate::formats::mp4::boxes::ftyp::Ftyp;
use crate::formats::mp4::boxes::media::{Hdlr, Mdhd};
use crate::formats::mp4::boxes::movie::{Mvhd, Tkhd};
use crate::formats::mp4::boxes::mvex::{parse_mehd, Trex};
use crate::formats::mp4::boxes::sidx::Sidx;
use crate::formats::mp4::boxes::stco::Stco;
use crate::formats::mp4::boxes::stsc::Stsc;
use crate::formats::mp4::boxes::stsd::Stsd;
use crate::formats::mp4::boxes::stss::Stss;
use crate::formats::mp4::boxes::stsz::Stsz;
use crate::formats::mp4::boxes::stts::{Ctts, Stts};
use crate::formats::mp4::boxes::{fourcc_str, next_child, BoxHeader, MAX_CHILDREN, MAX_DEPTH};
use crate::formats::mp4::demux::{Demuxer, MAX_MOOF, MAX_MOOV};
use crate::formats::{Demuxer as _, Finding};
use crate::io::{Cursor, Source};

use super::{render, AnalyseError, Options, PacketRow, Report, Stats};

/// Table entries printed per box before "...".
const SHOW_ENTRIES: usize = 8;
/// Bytes of a first AAC sample read for the summary (an AAC frame is at most 6144 bits per
/// channel; 64 KiB covers 8 channels with room).
const FIRST_PAYLOAD_MAX: u32 = 64 << 10;

/// The file's duration as `mvhd` declares it (what players and ffprobe show: edit lists may
/// end a track before its last sample does), when it declares one.
fn declared_duration(demux: &Demuxer, report: &mut Report) {
    let h = &demux.movie.mvhd;
    if h.duration > 0 && h.timescale > 0 {
        let ms = crate::dtsc::time::rescale_round(
            i64::try_from(h.duration).unwrap_or(i64::MAX),
            1000,
            u64::from(h.timescale),
        );
        report.duration_ms = ms;
    }
}

/// Analyses an MP4 input (the format table's `analyse`).
pub fn analyse(src: Source, opts: &Options, out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let file = src.name().to_string();
    let size = src.len();
    let text = !opts.json;
    let mut demux = match Demuxer::open(src) {
        Ok(d) => d,
        Err(e) if opts.validate => {
            let stats = Stats::new(&Meta::default());
            return Ok(stats.into_report(
                file,
                "mp4",
                size,
                None,
                vec![Finding::error(e.offset, e.to_string())],
                true,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let meta = demux.meta().clone();
    let info = demux.info.clone();
    let mut findings = demux.take_findings();
    if text {
        let brands = match &info.ftyp {
            Some(f) => format!(
                "{} (minor {}; compatible {})",
                fourcc_str(f.major),
                f.minor,
                f.compatible
                    .iter()
                    .map(|b| fourcc_str(*b))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            None => "none (no ftyp)".into(),
        };
        writeln!(
            out,
            "brands: {brands}; faststart: {}; fragmented: {}",
            if info.faststart() { "yes" } else { "no" },
            if demux.movie.fragmented {
                format!("yes ({} moof)", info.moofs)
            } else {
                "no".into()
            }
        )?;
    }
    if text && opts.detail >= 1 {
        for h in info.top.clone() {
            let limit = match &h.kind {
                b"moov" => MAX_MOOV,
                b"moof" => MAX_MOOF,
                b"mdat" => 0,
                _ => 1 << 20,
            };
            print_header(out, &h, 0)?;
            if limit == 0 || h.payload_len() > limit {
                continue;
            }
            match demux.read_box(&h, limit) {
                Ok(c) => print_payload(out, &h, c, 1)?,
                Err(e) => writeln!(out, "  (cannot read: {e})")?,
            }
        }
    }
    if opts.validate {
        if !info.faststart() {
            findings.push(Finding::info(
                info.moov_offset.unwrap_or(0),
                "moov comes after mdat: players must seek to the end before playing",
            ));
        }
        // (Samples placed beyond the end of the file are the demuxer's finding.)
        for (t, ts) in meta.tracks.iter().zip(&demux.tracks) {
            if let (TrackKind::Video, Some(first)) = (t.kind, ts.table.first_sample()) {
                if !ts.samples().any(|s| s.sync) {
                    findings.push(Finding::error(
                        0,
                        format!("track {}: no sync sample (keyframe) at all", t.id),
                    ));
                } else if !first.sync {
                    findings.push(Finding::warning(
                        first.offset.min(info.len),
                        format!("track {}: the first sample is not a sync sample", t.id),
                    ));
                }
            }
        }
    }
    let mut stats = Stats::new(&meta);
    let mut payloads = super::payload::PayloadCheck::new(&meta);
    let mut rows = Vec::new();
    let mut last = vec![None; meta.tracks.len()];
    if opts.detail == 0 && !opts.validate {
        // The summary needs only the sample tables (moov/moof), and of the payloads only
        // each AAC track's first (HE-AAC whose config does not say so shows only there).
        let firsts: Vec<(TrackId, u64, u32)> = demux
            .tracks
            .iter()
            .filter(|ts| meta.track(ts.id).is_some_and(|t| t.codec == Codec::Aac))
            .filter_map(|ts| ts.table.first_sample().map(|s| (ts.id, s.offset, s.size)))
            .collect();
        for (id, offset, size) in firsts {
            if let Ok(data) = demux.read_payload(offset, size.min(FIRST_PAYLOAD_MAX)) {
                stats.first_payload(id, &data);
            }
        }
        for ts in &demux.tracks {
            for smp in ts.samples() {
                stats.add_sample(
                    ts.id,
                    Ticks(smp.dts),
                    smp.cts,
                    u64::from(smp.size),
                    smp.sync,
                );
            }
        }
        let mut report = stats.into_report(file, "mp4", size, None, findings, false);
        declared_duration(&demux, &mut report);
        return Ok(report);
    }
    loop {
        let p = match demux.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                findings.push(Finding::error(e.offset, e.to_string()));
                break;
            }
        };
        if let Some(i) = meta.position(p.track) {
            if let Some(prev) = last[i] {
                if opts.validate && p.dts <= prev {
                    findings.push(Finding::error(
                        p.pos.unwrap_or(0),
                        format!(
                            "track {}: decode time {} does not increase (previous {})",
                            p.track, p.dts.0, prev.0
                        ),
                    ));
                }
            }
            last[i] = Some(p.dts);
        }
        if opts.validate {
            payloads.check(&p, &mut findings);
        }
        stats.add(&p);
        if opts.detail >= 1 {
            if opts.json {
                rows.push(PacketRow::of(&p));
            } else {
                render::packet_line(out, &meta, &p)?;
                if opts.detail >= 3 {
                    render::hex_dump(out, &p.data, 32)?;
                }
            }
        }
    }
    findings.extend(demux.take_findings());
    let mut report = stats.into_report(
        file,
        "mp4",
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    );
    declared_duration(&demux, &mut report);
    Ok(report)
}

fn print_header(out: &mut dyn Write, h: &BoxHeader, depth: usize) -> std::io::Result<()> {
    writeln!(
        out,
        "{}[{}] at {} size {}{}",
        "  ".repeat(depth),
        fourcc_str(h.kind),
        h.offset,
        h.size,
        if h.to_end { " (to end)" } else { "" }
    )
}

fn is_container(kind: &[u8; 4]) -> bool {
    matches!(
        kind,
        b"moov"
            | b"trak"
            | b"mdia"
            | b"minf"
            | b"stbl"
            | b"edts"
            | b"dinf"
            | b"mvex"
            | b"moof"
            | b"traf"
            | b"udta"
    )
}

fn list<T: std::fmt::Debug>(v: &[T]) -> String {
    let shown: Vec<String> = v
        .iter()
        .take(SHOW_ENTRIES)
        .map(|x| format!("{x:?}"))
        .collect();
    format!(
        "{} entries: {}{}",
        v.len(),
        shown.join(" "),
        if v.len() > SHOW_ENTRIES { " ..." } else { "" }
    )
}

/// Prints the decoded fields of a box and, for containers, its children.
fn print_payload(
    out: &mut dyn Write,
    h: &BoxHeader,
    mut c: Cursor,
    depth: usize,
) -> std::io::Result<()> {
    let pad = "  ".repeat(depth);
    if is_container(&h.kind) {
        if depth >= MAX_DEPTH {
            return writeln!(out, "{pad}(nesting deeper than {MAX_DEPTH}: not shown)");
        }
        for _ in 0..MAX_CHILDREN {
            match next_child(&mut c) {
                Ok(Some((ch, body))) => {
                    print_header(out, &ch, depth)?;
                    print_payload(out, &ch, body, depth + 1)?;
                }
                Ok(None) => return Ok(()),
                Err(e) => return writeln!(out, "{pad}error: {e}"),
            }
        }
        return Ok(());
    }
    let line = match &h.kind {
        b"ftyp" | b"styp" => Ftyp::parse(&mut c).map(|f| {
            format!(
                "major {} minor {} compatible {}",
                fourcc_str(f.major),
                f.minor,
                f.compatible
                    .iter()
                    .map(|b| fourcc_str(*b))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }),
        b"mvhd" => Mvhd::parse(&mut c).map(|v| format!("{v:?}")),
        b"tkhd" => Tkhd::parse(&mut c).map(|v| format!("{v:?}")),
        b"elst" => {
            Elst::parse(&mut c).map(|v| format!("version {} {}", v.version, list(&v.entries)))
        }
        b"mdhd" => Mdhd::parse(&mut c).map(|v| {
            format!(
                "{v:?} language {}",
                crate::formats::mp4::boxes::media::unpack_language(v.language)
                    .unwrap_or_else(|| "und".into())
            )
        }),
        b"hdlr" => Hdlr::parse(&mut c)
            .map(|v| format!("handler {} name {:?}", fourcc_str(v.handler), v.name)),
        b"stsd" => Stsd::parse(&mut c).map(|v| {
            v.entries
                .iter()
                .map(|e| format!("{} {:?}", fourcc_str(e.format), e.kind))
                .collect::<Vec<_>>()
                .join("; ")
        }),
        b"stts" => Stts::parse(&mut c).map(|v| list(&v.entries)),
        b"ctts" => {
            Ctts::parse(&mut c).map(|v| format!("version {} {}", v.version, list(&v.entries)))
        }
        b"stss" => Stss::parse(&mut c).map(|v| list(&v.samples)),
        b"stsc" => Stsc::parse(&mut c).map(|v| list(&v.entries)),
        b"stsz" => Stsz::parse(&mut c).map(|v| {
            format!(
                "constant {} count {} {}",
                v.constant,
                v.count,
                list(&v.sizes)
            )
        }),
        b"stz2" => {
            Stsz::parse_compact(&mut c).map(|v| format!("count {} {}", v.count, list(&v.sizes)))
        }
        b"stco" => Stco::parse(&mut c, false).map(|v| list(&v.offsets)),
        b"co64" => Stco::parse(&mut c, true).map(|v| list(&v.offsets)),
        b"trex" => Trex::parse(&mut c).map(|v| format!("{v:?}")),
        b"mehd" => parse_mehd(&mut c).map(|v| format!("fragment_duration {v}")),
        b"mfhd" => fragment::parse_mfhd(&mut c).map(|v| format!("sequence {v}")),
        b"tfhd" => Tfhd::parse(&mut c).map(|v| format!("{v:?}")),
        b"tfdt" => fragment::parse_tfdt(&mut c).map(|v| format!("baseMediaDecodeTime {v}")),
        b"trun" => Trun::parse(&mut c).map(|v| {
            format!(
                "version {} flags {:#x} data_offset {:?} first_flags {:?} {}",
                v.version,
                v.flags,
                v.data_offset,
                v.first_flags,
                list(&v.samples)
            )
        }),
        b"sidx" => Sidx::parse(&mut c).map(|v| {
            format!(
                "reference_ID {} timescale {} earliest_pts {} first_offset {} {}",
                v.reference_id,
                v.timescale,
                v.earliest_pts,
                v.first_offset,
                list(&v.refs)
            )
        }),
        _ => return Ok(()),
    };
    match line {
        Ok(l) => writeln!(out, "{pad}{l}"),
        Err(e) => writeln!(out, "{pad}error: {e}"),
    }
}
