//! `analyse` for DTSC: headers and commands pretty-printed, index tables, every packet, and
//! validation of the stored index against the packets (rebuilt with MistServer's rules).

use std::io::Write;

use crate::dtsc::index::{Builder, PartInfo, TrackIndex};
use crate::dtsc::wire::{Header, Unit, Value};
use crate::dtsc::{Ticks, TrackKind};
use crate::formats::dtsc::scan::{to_packet, IndexPolicy, Scanner};
use crate::formats::Finding;
use crate::io::Source;

use super::{render, AnalyseError, Options, PacketRow, Report, Stats};

/// Findings past this many are summarised in one line.
const MAX_FINDINGS: usize = 200;

/// Analyses a DTSC input (the format table's `analyse`).
pub fn analyse(src: Source, opts: &Options, out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let file = src.name().to_string();
    let size = src.len();
    let mut scan = Scanner::open(src, IndexPolicy::Load)?;
    let meta = scan.meta.clone();
    let text = !opts.json;
    let mut findings: Vec<Finding> = Vec::new();

    if text && opts.detail >= 1 {
        if let Some(h) = &scan.side_header {
            writeln!(
                out,
                "DTSC header (.dtsh side file), {} bytes:",
                h.encoded_len
            )?;
            pretty(out, &h.value, 1)?;
        }
        if let Some((at, h)) = &scan.file_header {
            writeln!(out, "DTSC header at byte {at}, {} bytes:", h.encoded_len)?;
            pretty(out, &h.value, 1)?;
        }
        writeln!(
            out,
            "packet track ids are {}",
            match scan.mapping {
                crate::formats::dtsc::scan::IdMapping::Position => "header positions",
                crate::formats::dtsc::scan::IdMapping::TrackId => "header trackid values",
            }
        )?;
    }
    if text && opts.detail >= 2 {
        if let Some(idx) = &meta.index {
            for (t, ti) in meta.tracks.iter().zip(&idx.tracks) {
                index_tables(out, t.id.0, ti)?;
            }
        } else {
            writeln!(out, "no stored index (it is rebuilt by scanning)")?;
        }
    }

    let mut stats = Stats::new(&meta);
    let mut payloads = super::payload::PayloadCheck::new(&meta);
    let mut rows = Vec::new();
    let mut builders: Vec<Builder> = meta
        .tracks
        .iter()
        .map(|t| Builder::new(t.kind == TrackKind::Video, t.timebase))
        .collect();
    let mut offsets: Vec<Vec<u64>> = vec![Vec::new(); meta.tracks.len()];
    let mut last_time: Vec<Option<Ticks>> = vec![None; meta.tracks.len()];
    let mut first_item = true;
    loop {
        let item = match scan.next_item() {
            Ok(Some(i)) => i,
            Ok(None) => break,
            Err(e) => {
                findings.push(Finding::error(e.offset, e.to_string()));
                break;
            }
        };
        match item.unit {
            Unit::Packet(p) => {
                let Some(id) = scan.track_of(p.track) else {
                    findings.push(Finding::error(
                        item.offset,
                        format!(
                            "packet for track id {} that the header does not list",
                            p.track
                        ),
                    ));
                    continue;
                };
                let i = meta.position(id).unwrap_or(0);
                let unit_size = p.unit_size;
                let pkt = to_packet(id, p, item.offset);
                if let Some(prev) = last_time[i] {
                    if pkt.dts < prev {
                        findings.push(Finding::error(
                            item.offset,
                            format!(
                                "track {id}: time {} ms goes back from {} ms",
                                pkt.dts.0, prev.0
                            ),
                        ));
                    }
                }
                last_time[i] = Some(pkt.dts);
                builders[i].push(PartInfo {
                    dts: pkt.dts,
                    cts: pkt.cts,
                    size: pkt.data.len() as u32,
                    keyframe: pkt.keyframe,
                    pos: item.offset,
                    unit_size,
                });
                offsets[i].push(item.offset);
                if opts.validate {
                    payloads.check(&pkt, &mut findings);
                }
                stats.add(&pkt);
                if opts.detail >= 1 {
                    if opts.json {
                        rows.push(PacketRow::of(&pkt));
                    } else {
                        render::packet_line(out, &meta, &pkt)?;
                        if opts.detail >= 3 {
                            render::hex_dump(out, &pkt.data, 32)?;
                        }
                    }
                }
            }
            Unit::Header(h) => {
                let skip_first = first_item
                    && scan
                        .file_header
                        .as_ref()
                        .is_some_and(|(a, _)| *a == item.offset);
                if text && opts.detail >= 1 && !skip_first {
                    writeln!(out, "DTSC header at byte {}:", item.offset)?;
                    pretty(out, &h.value, 1)?;
                }
            }
            Unit::Command(v) => {
                if text && opts.detail >= 1 {
                    writeln!(out, "DTCM command at byte {}:", item.offset)?;
                    pretty(out, &v, 1)?;
                }
            }
        }
        first_item = false;
    }
    findings.append(&mut scan.findings);

    if opts.validate {
        if let Some(idx) = &meta.index {
            for (i, (t, stored)) in meta.tracks.iter().zip(&idx.tracks).enumerate() {
                let built = builders[i].index();
                compare_index(t.id.0, stored, built, &offsets[i], &mut findings);
            }
        }
        check_header_totals(&scan.header, &builders, &meta, &mut findings);
        if findings.len() > MAX_FINDINGS {
            let more = findings.len() - MAX_FINDINGS;
            findings.truncate(MAX_FINDINGS);
            findings.push(Finding::info(0, format!("{more} more findings not shown")));
        }
    }
    Ok(stats.into_report(
        file,
        "dtsc",
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    ))
}

/// Compares the stored index of a track with the one rebuilt from its packets.
fn compare_index(
    track: u32,
    stored: &TrackIndex,
    built: &TrackIndex,
    offsets: &[u64],
    out: &mut Vec<Finding>,
) {
    let at = |part: usize| offsets.get(part).copied().unwrap_or(0);
    if stored.parts.len() != built.parts.len() {
        out.push(Finding::error(
            0,
            format!(
                "track {track}: index lists {} parts but the file holds {} packets",
                stored.parts.len(),
                built.parts.len()
            ),
        ));
    }
    for (n, (s, b)) in stored.parts.iter().zip(&built.parts).enumerate() {
        if s.size != b.size {
            out.push(Finding::error(
                at(n),
                format!(
                    "track {track} part {n}: index size {} but packet holds {} bytes",
                    s.size, b.size
                ),
            ));
        }
        if s.duration != b.duration {
            out.push(Finding::error(
                at(n),
                format!(
                    "track {track} part {n}: index duration {} ms but packets are {} ms apart",
                    s.duration, b.duration
                ),
            ));
        }
        // Stored offsets are unsigned 24-bit (§1.11 Q3).
        if (s.cts as u32 & 0xFF_FFFF) != (b.cts as u32 & 0xFF_FFFF) {
            out.push(Finding::error(
                at(n),
                format!(
                    "track {track} part {n}: index offset {} but packet offset {}",
                    s.cts, b.cts
                ),
            ));
        }
    }
    if stored.keys.len() != built.keys.len() {
        out.push(Finding::error(
            0,
            format!(
                "track {track}: index lists {} keys but the packets make {}",
                stored.keys.len(),
                built.keys.len()
            ),
        ));
    }
    for (n, (s, b)) in stored.keys.iter().zip(&built.keys).enumerate() {
        let mut diffs = Vec::new();
        if s.time != b.time {
            diffs.push(format!("time {} vs {}", s.time.0, b.time.0));
        }
        if s.parts != b.parts {
            diffs.push(format!("parts {} vs {}", s.parts, b.parts));
        }
        if s.pos != b.pos {
            diffs.push(format!("bpos {} vs {}", s.pos, b.pos));
        }
        if s.size != b.size {
            diffs.push(format!("key size {} vs {}", s.size, b.size));
        }
        if s.duration != b.duration {
            diffs.push(format!("duration {} vs {}", s.duration, b.duration));
        }
        if !diffs.is_empty() {
            out.push(Finding::error(
                b.pos,
                format!(
                    "track {track} key {n}: index and packets differ: {}",
                    diffs.join(", ")
                ),
            ));
        }
    }
    if stored.fragments != built.fragments {
        out.push(Finding::error(
            0,
            format!(
                "track {track}: fragment table differs from the one MistServer's rules give ({} stored, {} rebuilt)",
                stored.fragments.len(),
                built.fragments.len()
            ),
        ));
    }
}

fn check_header_totals(
    header: &Header,
    builders: &[Builder],
    meta: &crate::dtsc::Meta,
    out: &mut Vec<Finding>,
) {
    for ((ht, b), t) in header.tracks.iter().zip(builders).zip(&meta.tracks) {
        let built = b.index();
        if built.parts.is_empty() {
            continue;
        }
        if ht.lastms != built.last.0 {
            out.push(Finding::info(
                0,
                format!(
                    "track {}: header lastms {} but the last packet is at {} ms",
                    t.id, ht.lastms, built.last.0
                ),
            ));
        }
    }
}

fn index_tables(out: &mut dyn Write, track: u32, ti: &TrackIndex) -> std::io::Result<()> {
    writeln!(
        out,
        "index of track {track}: {} fragments, {} keys, {} parts, first {} last {}, bps {} maxbps {}",
        ti.fragments.len(),
        ti.keys.len(),
        ti.parts.len(),
        ti.first.0,
        ti.last.0,
        ti.bps,
        ti.max_bps
    )?;
    for (n, f) in ti.fragments.iter().enumerate() {
        writeln!(
            out,
            "  fragment {n}: first key {} keys {} duration {} size {}",
            f.first_key, f.keys, f.duration, f.size
        )?;
    }
    for (n, k) in ti.keys.iter().enumerate() {
        writeln!(
            out,
            "  key {n}: time {} duration {} parts {} (from part {}) bpos {} size {}",
            k.time.0, k.duration, k.parts, k.first_part, k.pos, k.size
        )?;
    }
    for (n, p) in ti.parts.iter().enumerate() {
        writeln!(
            out,
            "  part {n}: size {} duration {} offset {}",
            p.size, p.duration, p.cts
        )?;
    }
    Ok(())
}

/// Pretty-prints a DTMI value as indented JSON-like text; long or binary strings are shown
/// by length.
pub fn pretty(out: &mut dyn Write, v: &Value, depth: usize) -> std::io::Result<()> {
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                match val {
                    Value::Object(_) | Value::Array(_) => {
                        writeln!(out, "{pad}{k}:")?;
                        pretty(out, val, depth + 1)?;
                    }
                    _ => writeln!(out, "{pad}{k}: {}", scalar(val))?,
                }
            }
        }
        Value::Array(a) => {
            for (n, val) in a.iter().enumerate() {
                match val {
                    Value::Object(_) | Value::Array(_) => {
                        writeln!(out, "{pad}[{n}]:")?;
                        pretty(out, val, depth + 1)?;
                    }
                    _ => writeln!(out, "{pad}[{n}]: {}", scalar(val))?,
                }
            }
        }
        other => writeln!(out, "{pad}{}", scalar(other))?,
    }
    Ok(())
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Null => "null".into(),
        Value::Str(s) => {
            if s.len() <= 80 && s.iter().all(|b| (0x20..0x7f).contains(b)) {
                format!("{:?}", String::from_utf8_lossy(s))
            } else {
                let head: String = s.iter().take(16).map(|b| format!("{b:02x}")).collect();
                format!(
                    "<{} bytes: {head}{}>",
                    s.len(),
                    if s.len() > 16 { "…" } else { "" }
                )
            }
        }
        Value::Object(_) | Value::Array(_) => String::new(),
    }
}
