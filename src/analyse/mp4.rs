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
use crate::formats::mp4::boxes::stsd::{Btrt, EntryKind, Esds, Stsd};
use crate::formats::mp4::boxes::stss::Stss;
use crate::formats::mp4::boxes::stsz::Stsz;
use crate::formats::mp4::boxes::stts::{Ctts, Stts};
use crate::formats::mp4::boxes::{fourcc_str, next_child, BoxHeader, MAX_CHILDREN, MAX_DEPTH};
use crate::formats::mp4::demux::{Demuxer, MAX_MOOF, MAX_MOOV};
use crate::formats::{Demuxer as _, Finding};
use crate::io::{Cursor, Source};

use super::decode::{self, fixed_16_16, fixed_8_8};
use super::tree::{map, Detail, Node, Val};
use super::{render, AnalyseError, Options, PacketRow, Report, Stats};

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
    let mut demux = match Demuxer::open(src) {
        Ok(d) => d,
        Err(e) if opts.validate => {
            let stats = Stats::new(&Meta::default());
            return Ok(stats.into_report(
                file,
                "mp4",
                size,
                None,
                vec![Finding::of_error(&e)],
                true,
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let meta = demux.meta().clone();
    let info = demux.info.clone();
    let mut findings = demux.take_findings();
    let mut summary_lines = Vec::new();
    {
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
        summary_lines.push(format!(
            "brands {brands}; {}",
            if demux.movie.fragmented {
                format!(
                    "fragmented ({})",
                    super::render::count(info.moofs as usize, "moof", "moofs")
                )
            } else if info.faststart() {
                "faststart (moov before mdat)".into()
            } else {
                "moov after mdat (not faststart)".into()
            }
        ));
    }
    let mut d = Detail::new(out, opts);
    if d.wants(opts.detail, 1) {
        for h in info.top.clone() {
            let limit = match &h.kind {
                b"moov" => MAX_MOOV,
                b"moof" => MAX_MOOF,
                b"mdat" => 0,
                _ => 1 << 20,
            };
            let node = if limit == 0 || h.payload_len() > limit {
                Node::new("box", fourcc_str(h.kind))
                    .at(h.offset)
                    .sized(h.size)
            } else {
                match demux.read_box(&h, limit) {
                    Ok(c) => box_node(&h, c, 0),
                    Err(e) => Node::new("box", fourcc_str(h.kind))
                        .at(h.offset)
                        .sized(h.size)
                        .field("error", e.to_string()),
                }
            };
            d.emit(node)?;
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
                    findings.push(Finding::general(
                        crate::formats::Severity::Error,
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
    if opts.detail <= 2 && !opts.validate {
        // The summary and the packet listing need only the sample tables (moov/moof), and
        // of the payloads only each AAC track's first (HE-AAC whose config does not say so
        // shows only there): mdat is not read.
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
        if opts.detail == 0 {
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
        } else {
            // In the order packets would come, sizes as stored (what ffprobe lists).
            while let Some((id, smp)) = demux.next_sample() {
                stats.add_sample(id, Ticks(smp.dts), smp.cts, u64::from(smp.size), smp.sync);
                let row = PacketRow {
                    track: id.0,
                    dts: smp.dts,
                    pts: smp.dts.saturating_add(i64::from(smp.cts)),
                    size: smp.size as usize,
                    key: smp.sync,
                    offset: Some(smp.offset),
                };
                if opts.json {
                    rows.push(row);
                } else {
                    render::row_line(d.out(), &meta, &row)?;
                }
            }
        }
        let mut report = stats.into_report(
            file,
            "mp4",
            size,
            (opts.detail >= 1 && opts.json).then_some(rows),
            findings,
            false,
        );
        declared_duration(&demux, &mut report);
        report.summary_lines = summary_lines;
        report.structures = d.finish();
        return Ok(report);
    }
    loop {
        let p = match demux.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                findings.push(Finding::of_error(&e));
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
                render::packet_line(d.out(), &meta, &p)?;
                if opts.detail >= 3 {
                    render::hex_dump(d.out(), &p.data, 32)?;
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
    report.summary_lines = summary_lines;
    report.structures = d.finish();
    Ok(report)
}

/// A box's node: header, decoded fields, children.
fn box_node(h: &BoxHeader, mut c: Cursor, depth: usize) -> Node {
    let mut n = Node::new("box", fourcc_str(h.kind))
        .at(h.offset)
        .sized(h.size);
    if h.to_end {
        n = n.field("extends_to_end", true);
    }
    if is_container(&h.kind) {
        if depth >= MAX_DEPTH {
            return n.field(
                "error",
                format!("nesting deeper than {MAX_DEPTH}: not shown"),
            );
        }
        return children(n, &mut c, depth);
    }
    let decoded = match &h.kind {
        b"ftyp" | b"styp" => Ftyp::parse(&mut c).map(|f| {
            n.clone()
                .field("major_brand", fourcc_str(f.major))
                .field("minor_version", f.minor)
                .field(
                    "compatible_brands",
                    f.compatible
                        .iter()
                        .map(|b| fourcc_str(*b))
                        .collect::<Vec<_>>(),
                )
        }),
        b"mvhd" => Mvhd::parse(&mut c).map(|v| {
            n.clone()
                .field("version", v.version)
                .field("creation_time", mp4_date(v.creation))
                .field("modification_time", mp4_date(v.modification))
                .field("timescale", v.timescale)
                .field("duration", v.duration)
                .field("duration_seconds", seconds(v.duration, v.timescale))
                .field("rate", fixed_16_16(v.rate))
                .field("volume", fixed_8_8(v.volume))
                .field("matrix", matrix(&v.matrix))
                .field("next_track_id", v.next_track_id)
        }),
        b"tkhd" => Tkhd::parse(&mut c).map(|v| {
            n.clone()
                .field("version", v.version)
                .field("flags", format!("{:#08x}", v.flags))
                .field("enabled", v.flags & 1 != 0)
                .field("in_movie", v.flags & 2 != 0)
                .field("in_preview", v.flags & 4 != 0)
                .field("creation_time", mp4_date(v.creation))
                .field("modification_time", mp4_date(v.modification))
                .field("track_id", v.track_id)
                .field("duration", v.duration)
                .field("layer", v.layer as i16)
                .field("alternate_group", v.alternate_group)
                .field("volume", fixed_8_8(v.volume))
                .field("matrix", matrix(&v.matrix))
                .field("width", fixed_16_16(v.width))
                .field("height", fixed_16_16(v.height))
        }),
        b"elst" => Elst::parse(&mut c).map(|v| {
            n.clone().field("version", v.version).field(
                "entries",
                Val::List(
                    v.entries
                        .iter()
                        .map(|e| {
                            map()
                                .with("segment_duration", e.segment_duration)
                                .with("media_time", e.media_time)
                                .with("media_rate", fixed_16_16(e.rate))
                        })
                        .collect(),
                ),
            )
        }),
        b"mdhd" => Mdhd::parse(&mut c).map(|v| {
            n.clone()
                .field("version", v.version)
                .field("creation_time", mp4_date(v.creation))
                .field("modification_time", mp4_date(v.modification))
                .field("timescale", v.timescale)
                .field("duration", v.duration)
                .field("duration_seconds", seconds(v.duration, v.timescale))
                .field(
                    "language",
                    crate::formats::mp4::boxes::media::unpack_language(v.language)
                        .unwrap_or_else(|| "und".into()),
                )
        }),
        b"hdlr" => Hdlr::parse(&mut c).map(|v| {
            n.clone()
                .field("handler_type", fourcc_str(v.handler))
                .field("handler", handler_name(&v.handler))
                .field("name", v.name.trim_end_matches('\0').to_string())
        }),
        b"stsd" => {
            let entries = c.clone();
            Stsd::parse(&mut c).map(|v| sample_entries(n.clone(), entries, &v))
        }
        b"stts" => Stts::parse(&mut c).map(|v| {
            n.clone().field("entry_count", v.entries.len()).field(
                "entries",
                Val::List(
                    v.entries
                        .iter()
                        .map(|(count, delta)| {
                            map()
                                .with("sample_count", *count)
                                .with("sample_delta", *delta)
                        })
                        .collect(),
                ),
            )
        }),
        b"ctts" => Ctts::parse(&mut c).map(|v| {
            n.clone()
                .field("version", v.version)
                .field("entry_count", v.entries.len())
                .field(
                    "entries",
                    Val::List(
                        v.entries
                            .iter()
                            .map(|(count, off)| {
                                map()
                                    .with("sample_count", *count)
                                    .with("sample_offset", *off)
                            })
                            .collect(),
                    ),
                )
        }),
        b"stss" => Stss::parse(&mut c).map(|v| {
            n.clone()
                .field("entry_count", v.samples.len())
                .field("sample_numbers", v.samples.clone())
        }),
        b"stsc" => Stsc::parse(&mut c).map(|v| {
            n.clone().field("entry_count", v.entries.len()).field(
                "entries",
                Val::List(
                    v.entries
                        .iter()
                        .map(|e| {
                            map()
                                .with("first_chunk", e.first_chunk)
                                .with("samples_per_chunk", e.samples_per_chunk)
                                .with("sample_description_index", e.description)
                        })
                        .collect(),
                ),
            )
        }),
        b"stsz" => Stsz::parse(&mut c).map(|v| {
            let n = n
                .clone()
                .field("sample_size", v.constant)
                .field("sample_count", v.count);
            if v.constant == 0 {
                n.field("entry_sizes", v.sizes.clone())
            } else {
                n
            }
        }),
        b"stz2" => Stsz::parse_compact(&mut c).map(|v| {
            n.clone()
                .field("sample_count", v.count)
                .field("entry_sizes", v.sizes.clone())
        }),
        b"stco" | b"co64" => Stco::parse(&mut c, h.kind == *b"co64").map(|v| {
            n.clone()
                .field("entry_count", v.offsets.len())
                .field("chunk_offsets", v.offsets.clone())
        }),
        b"trex" => Trex::parse(&mut c).map(|v| {
            n.clone()
                .field("track_id", v.track_id)
                .field("default_sample_description_index", v.description)
                .field("default_sample_duration", v.duration)
                .field("default_sample_size", v.size)
                .field("default_sample_flags", sample_flags(v.flags))
        }),
        b"mehd" => parse_mehd(&mut c).map(|v| n.clone().field("fragment_duration", v)),
        b"mfhd" => fragment::parse_mfhd(&mut c).map(|v| n.clone().field("sequence_number", v)),
        b"tfhd" => Tfhd::parse(&mut c).map(|v| {
            n.clone()
                .field("flags", format!("{:#08x}", v.flags))
                .field("track_id", v.track_id)
                .field_opt("base_data_offset", v.base_data_offset)
                .field_opt("sample_description_index", v.description)
                .field_opt("default_sample_duration", v.duration)
                .field_opt("default_sample_size", v.size)
                .field_opt("default_sample_flags", v.sample_flags.map(sample_flags))
                .field("duration_is_empty", v.flags & fragment::TFHD_EMPTY != 0)
                .field(
                    "default_base_is_moof",
                    v.flags & fragment::TFHD_BASE_IS_MOOF != 0,
                )
        }),
        b"tfdt" => {
            fragment::parse_tfdt(&mut c).map(|v| n.clone().field("base_media_decode_time", v))
        }
        b"trun" => Trun::parse(&mut c).map(|v| {
            n.clone()
                .field("version", v.version)
                .field("flags", format!("{:#08x}", v.flags))
                .field("sample_count", v.samples.len())
                .field_opt("data_offset", v.data_offset)
                .field_opt("first_sample_flags", v.first_flags.map(sample_flags))
                .field(
                    "samples",
                    Val::List(
                        v.samples
                            .iter()
                            .map(|s| {
                                map()
                                    .with_opt("duration", s.duration)
                                    .with_opt("size", s.size)
                                    .with_opt("flags", s.flags.map(sample_flags))
                                    .with_opt("composition_time_offset", s.cto)
                            })
                            .collect(),
                    ),
                )
        }),
        b"sidx" => Sidx::parse(&mut c).map(|v| {
            n.clone()
                .field("version", v.version)
                .field("reference_id", v.reference_id)
                .field("timescale", v.timescale)
                .field("earliest_presentation_time", v.earliest_pts)
                .field("first_offset", v.first_offset)
                .field(
                    "references",
                    Val::List(
                        v.refs
                            .iter()
                            .map(|r| {
                                map()
                                    .with(
                                        "reference_type",
                                        if r.reference_type { "index" } else { "media" },
                                    )
                                    .with("referenced_size", r.size)
                                    .with("subsegment_duration", r.duration)
                                    .with("starts_with_sap", r.starts_with_sap)
                                    .with("sap_type", r.sap_type)
                                    .with("sap_delta_time", r.sap_delta)
                            })
                            .collect(),
                    ),
                )
        }),
        _ => return n,
    };
    decoded.unwrap_or_else(|e| n.field("error", e.to_string()))
}

/// The child boxes of a container.
fn children(mut n: Node, c: &mut Cursor, depth: usize) -> Node {
    for _ in 0..MAX_CHILDREN {
        match next_child(c) {
            Ok(Some((ch, body))) => n = n.child(box_node(&ch, body, depth + 1)),
            Ok(None) => return n,
            Err(e) => return n.field("error", e.to_string()),
        }
    }
    n
}

/// The entries of an `stsd` (its payload in `c`), with their configuration boxes decoded.
fn sample_entries(n: Node, mut c: Cursor, stsd: &Stsd) -> Node {
    let mut n = n.field("entry_count", stsd.entries.len());
    if c.skip(8, "stsd header").is_err() {
        return n;
    }
    for parsed in &stsd.entries {
        let Ok(Some((h, mut body))) = next_child(&mut c) else {
            break;
        };
        let mut e = Node::new("box", fourcc_str(h.kind))
            .at(h.offset)
            .sized(h.size)
            .field("data_reference_index", parsed.data_ref);
        // Where the entry's own fields end and its boxes begin (14496-12 8.5.2.2,
        // QuickTime sound description versions 1 and 2).
        let fixed = match &parsed.kind {
            EntryKind::Visual(v) => {
                e = e.field("width", v.width).field("height", v.height);
                78
            }
            EntryKind::Audio(a) => {
                e = e
                    .field("channel_count", a.channels)
                    .field("sample_size", a.sample_size)
                    .field("sample_rate", a.rate);
                let qt = body
                    .peek(10)
                    .map_or(0, |b| u16::from_be_bytes([b[8], b[9]]));
                28 + match qt {
                    1 => 16,
                    2 => 36,
                    _ => 0,
                }
            }
            EntryKind::Other(_) => {
                n = n.child(e);
                continue;
            }
        };
        if body.skip(fixed, "sample entry fields").is_ok() {
            e = entry_boxes(e, &mut body, 0);
        }
        n = n.child(e);
    }
    n
}

/// The boxes inside a sample entry: configuration records decoded, `btrt`, QuickTime `wave`.
fn entry_boxes(mut e: Node, c: &mut Cursor, depth: usize) -> Node {
    while c.remaining() >= 8 {
        let Ok(Some((h, mut body))) = next_child(c) else {
            break;
        };
        let at = h.offset + h.header_len;
        let payload = body.peek_rest().to_vec();
        let mut b = Node::new("box", fourcc_str(h.kind))
            .at(h.offset)
            .sized(h.size);
        match &h.kind {
            b"avcC" => b = b.child(decode::avc_config(&payload, at)),
            b"hvcC" | b"av1C" | b"vpcC" => b = b.field("data", Val::Bytes(payload)),
            b"btrt" => {
                if let Ok(v) = Btrt::parse(&mut body) {
                    b = b
                        .field("buffer_size", v.buffer_size)
                        .field("max_bitrate", v.max_bitrate)
                        .field("avg_bitrate", v.avg_bitrate);
                }
            }
            b"esds" => match Esds::parse(&mut body) {
                Ok(v) => {
                    b = b
                        .field("es_id", v.es_id)
                        .field("object_type_indication", format!("{:#04x}", v.object_type))
                        .field("object_type", object_type_name(v.object_type))
                        .field("stream_type", v.stream_type)
                        .field("buffer_size", v.buffer_size)
                        .field("max_bitrate", v.max_bitrate)
                        .field("avg_bitrate", v.avg_bitrate);
                    if !v.dsi.is_empty() {
                        // The DecoderSpecificInfo ends the descriptor chain.
                        let dsi_at = payload
                            .windows(v.dsi.len())
                            .rposition(|w| w == &v.dsi[..])
                            .map_or(at, |p| at + p as u64);
                        b = b.child(decode::audio_specific_config(&v.dsi, dsi_at));
                    }
                }
                Err(err) => b = b.field("error", err.to_string()),
            },
            b"wave" if depth < 2 => b = entry_boxes(b, &mut body, depth + 1),
            _ => {}
        }
        e = e.child(b);
    }
    e
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
            | b"mfra"
    )
}

/// `Video`, `Sound` … for an `hdlr` handler type.
fn handler_name(h: &[u8; 4]) -> &'static str {
    match h {
        b"vide" => "video",
        b"soun" => "audio",
        b"hint" => "hint",
        b"meta" => "metadata",
        b"text" | b"sbtl" | b"subt" => "subtitle",
        b"tmcd" => "timecode",
        _ => "other",
    }
}

/// The `esds` objectTypeIndication (14496-1 Table 5, the MP4 registration authority).
fn object_type_name(t: u8) -> &'static str {
    match t {
        0x40 => "MPEG-4 Audio (AAC)",
        0x66 => "MPEG-2 AAC Main",
        0x67 => "MPEG-2 AAC LC",
        0x68 => "MPEG-2 AAC SSR",
        0x69 => "MPEG-2 Audio (MP3)",
        0x6B => "MPEG-1 Audio (MP3)",
        0x20 => "MPEG-4 Visual",
        0x21 => "H.264",
        0xA5 => "AC-3",
        _ => "other",
    }
}

/// Sample flags (14496-12 8.8.3.1): the dependency fields and the sync flag.
fn sample_flags(f: u32) -> Val {
    map()
        .with("value", format!("{f:#010x}"))
        .with("depends_on", (f >> 24) & 3)
        .with("is_depended_on", (f >> 22) & 3)
        .with("has_redundancy", (f >> 20) & 3)
        .with("non_sync", f & 0x1_0000 != 0)
}

/// The transformation matrix: `identity`, or its nine values decoded (16.16, and 2.30 for
/// the third column).
fn matrix(m: &[u32; 9]) -> Val {
    const IDENTITY: [u32; 9] = [0x1_0000, 0, 0, 0, 0x1_0000, 0, 0, 0, 0x4000_0000];
    if *m == IDENTITY {
        return Val::Str("identity".into());
    }
    Val::List(
        m.iter()
            .enumerate()
            .map(|(i, &v)| {
                let scale = if i % 3 == 2 {
                    (1u64 << 30) as f64
                } else {
                    65536.0
                };
                Val::Float(f64::from(v as i32) / scale)
            })
            .collect(),
    )
}

/// `duration / timescale` in seconds.
fn seconds(duration: u64, timescale: u32) -> Val {
    if timescale == 0 {
        return Val::Null;
    }
    Val::Float((duration as f64 / f64::from(timescale) * 1000.0).round() / 1000.0)
}

/// Seconds since 1904-01-01 (MP4's epoch) as an ISO 8601 UTC time.
fn mp4_date(secs: u64) -> String {
    // Days from 1904-01-01 to 1970-01-01.
    const TO_UNIX: i64 = 24_107;
    let days = (secs / 86_400) as i64 - TO_UNIX;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_from_1904() {
        assert_eq!(mp4_date(0), "1904-01-01T00:00:00Z");
        // 2082844800 s after 1904 is the Unix epoch.
        assert_eq!(mp4_date(2_082_844_800), "1970-01-01T00:00:00Z");
        assert_eq!(
            mp4_date(2_082_844_800 + 951_782_400 + 3661),
            "2000-02-29T01:01:01Z"
        );
    }
}
