//! `analyse` for DTSC: headers and commands pretty-printed, index tables, every packet, and
//! validation of the stored index against the packets (rebuilt with MistServer's rules).

use std::io::Write;

use crate::dtsc::index::{Builder, PartInfo, TrackIndex};
use crate::dtsc::wire::{Header, Unit, Value};
use crate::dtsc::{Ticks, TrackKind};
use crate::formats::dtsc::scan::{to_packet, IndexPolicy, Scanner};
use crate::formats::Finding;
use crate::io::Source;

use super::decode;
use super::tree::{map, Detail, Node, Val};
use super::{render, AnalyseError, Options, PacketRow, Report, Stats};

/// Findings past this many are summarised in one line.
const MAX_FINDINGS: usize = 200;

/// Analyses a DTSC input (the format table's `analyse`).
pub fn analyse(src: Source, opts: &Options, out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let file = src.name().to_string();
    let size = src.len();
    let mut scan = Scanner::open(src, IndexPolicy::Load)?;
    let meta = scan.meta.clone();
    let mut findings: Vec<Finding> = Vec::new();
    let mut d = Detail::new(out, opts);

    if d.wants(opts.detail, 1) {
        let ids = match scan.mapping {
            crate::formats::dtsc::scan::IdMapping::Position => "header positions",
            crate::formats::dtsc::scan::IdMapping::TrackId => "header trackid values",
        };
        if let Some(h) = &scan.side_header {
            d.emit(with_configs(
                Node::new("header", "DTSC header (.dtsh side file)")
                    .sized(h.encoded_len)
                    .field("packet_track_ids", ids)
                    .field("value", dtmi(&h.value)),
                h,
            ))?;
        }
        if let Some((at, h)) = &scan.file_header {
            d.emit(with_configs(
                Node::new("header", "DTSC header")
                    .at(*at)
                    .sized(h.encoded_len)
                    .field("packet_track_ids", ids)
                    .field("value", dtmi(&h.value)),
                h,
            ))?;
        }
    }
    if d.wants(opts.detail, 2) {
        if let Some(idx) = &meta.index {
            for (t, ti) in meta.tracks.iter().zip(&idx.tracks) {
                d.emit(index_node(t.id.0, ti))?;
            }
        } else {
            d.emit(
                Node::new("index", "no stored index")
                    .field("note", "the index is rebuilt by scanning the packets"),
            )?;
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
                findings.push(Finding::of_error(&e));
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
                        opts.push_row(&mut rows, PacketRow::of(&pkt), d.out())?;
                    } else {
                        render::packet_line(d.out(), &meta, &pkt)?;
                        if opts.detail >= 3 {
                            render::hex_dump(d.out(), &pkt.data, 32)?;
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
                if d.wants(opts.detail, 1) && !skip_first {
                    d.emit(
                        Node::new("header", "DTSC header")
                            .at(item.offset)
                            .sized(h.encoded_len)
                            .field("value", dtmi(&h.value)),
                    )?;
                }
            }
            Unit::Command(v) => {
                if d.wants(opts.detail, 1) {
                    d.emit(
                        Node::new("command", "DTCM command")
                            .at(item.offset)
                            .field("value", dtmi(&v)),
                    )?;
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
            findings.push(Finding::general(
                crate::formats::Severity::Info,
                format!("{more} more findings not shown"),
            ));
        }
    }
    let mut report = stats.into_report(
        file,
        "dtsc",
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    );
    report.structures = d.finish();
    Ok(report)
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
        out.push(Finding::general(
            crate::formats::Severity::Error,
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
        out.push(Finding::general(
            crate::formats::Severity::Error,
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
        out.push(Finding::general(
            crate::formats::Severity::Error,
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
            out.push(Finding::general(
                crate::formats::Severity::Info,
                format!(
                    "track {}: header lastms {} but the last packet is at {} ms",
                    t.id, ht.lastms, built.last.0
                ),
            ));
        }
    }
}

/// The header's tracks' `init` strings decoded as the codec's configuration record (they
/// are in the header's `value` as bytes).
fn with_configs(mut n: Node, h: &Header) -> Node {
    for t in &h.tracks {
        if t.init.is_empty() {
            continue;
        }
        let mut c = match t.codec.as_str() {
            "H264" => decode::avc_config(&t.init, 0),
            "AAC" => decode::audio_specific_config(&t.init, 0),
            _ => continue,
        };
        // The bytes sit inside the header's encoding: no offsets of their own.
        c = c.without_offsets();
        c.push_field("track", t.trackid);
        n = n.child(c);
    }
    n
}

/// A track's stored index: MistServer's fragments, keys and parts tables.
fn index_node(track: u32, ti: &TrackIndex) -> Node {
    Node::new("index", "track index")
        .field("track", track)
        .field("first", ti.first.0)
        .field("last", ti.last.0)
        .field("bps", ti.bps)
        .field("max_bps", ti.max_bps)
        .field(
            "fragments",
            Val::List(
                ti.fragments
                    .iter()
                    .map(|f| {
                        map()
                            .with("first_key", f.first_key)
                            .with("keys", f.keys)
                            .with("duration", f.duration)
                            .with("size", f.size)
                    })
                    .collect(),
            ),
        )
        .field(
            "keys",
            Val::List(
                ti.keys
                    .iter()
                    .map(|k| {
                        map()
                            .with("time", k.time.0)
                            .with("duration", k.duration)
                            .with("parts", k.parts)
                            .with("first_part", k.first_part)
                            .with("bpos", k.pos)
                            .with("size", k.size)
                    })
                    .collect(),
            ),
        )
        .field(
            "parts",
            Val::List(
                ti.parts
                    .iter()
                    .map(|p| {
                        map()
                            .with("size", p.size)
                            .with("duration", p.duration)
                            .with("offset", p.cts)
                    })
                    .collect(),
            ),
        )
}

/// A DTMI value as a field value: objects as records in order, strings as text when they
/// are printable, else as bytes.
pub fn dtmi(v: &Value) -> Val {
    match v {
        Value::Int(i) => Val::Int(*i),
        Value::Double(d) => Val::Float(*d),
        Value::Null => Val::Null,
        Value::Str(s) => match std::str::from_utf8(s) {
            Ok(t) if t.chars().all(|c| !c.is_control() || c == '\n' || c == '\t') => {
                Val::Str(t.to_string())
            }
            _ => Val::Bytes(s.to_vec()),
        },
        Value::Object(m) => Val::Map(m.iter().map(|(k, v)| (k.clone(), dtmi(v))).collect()),
        Value::Array(a) => Val::List(a.iter().map(dtmi).collect()),
    }
}
