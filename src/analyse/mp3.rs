//! `analyse` for MP3: ID3v2 tags with their frames, the Xing/Info/VBRI frame, every frame
//! header (`--detail 2`), packets, and validation findings (bad sync / garbage, truncated
//! frames, sample rate, layer or channel changes, bitrate changes in a file that says it is
//! CBR, CRC mismatches of protected Layer III frames).

use std::io::Write;

use crate::codec::mp3::{ChannelMode, FrameHeader, VbrKind, Version};
use crate::dtsc::{Meta, Packet, Ticks};
use crate::formats::mp3::demux::Walker;
use crate::formats::mp3::id3;
use crate::formats::mp3::reader::{track_of, Unit, TRACK_ID};
use crate::formats::{Finding, FormatError};
use crate::io::Source;

use super::tree::{map, Detail, Node, Val};
use super::{render, AnalyseError, Options, PacketRow, Report, Stats};

/// Findings past this many are dropped (one summary finding says how many).
const MAX_FINDINGS: usize = 200;

/// A frame header's fields (11172-3 2.4.2.3, 13818-3), enumerations by name.
fn header_fields(n: Node, h: &FrameHeader) -> Node {
    let v = match h.version {
        Version::Mpeg1 => "MPEG-1",
        Version::Mpeg2 => "MPEG-2",
        Version::Mpeg25 => "MPEG-2.5",
    };
    let mode = match h.mode {
        ChannelMode::Stereo => "stereo",
        ChannelMode::JointStereo => "joint stereo",
        ChannelMode::DualChannel => "dual channel",
        ChannelMode::Mono => "mono",
    };
    let layer = ["I", "II", "III"]
        .get(usize::from(h.layer).saturating_sub(1))
        .copied()
        .unwrap_or("?");
    n.field("version", v)
        .field("layer", layer)
        .field("bitrate_kbps", h.bitrate_kbps)
        .field("sample_rate", h.sample_rate)
        .field("channel_mode", mode)
        .field("padding", h.padding)
        .field("crc", h.crc)
}

/// Analyses an MP3 input (the format table's `analyse`).
pub fn analyse(src: Source, opts: &Options, out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let file = src.name().to_string();
    let size = src.len();
    let mut d = Detail::new(out, opts);
    let mut walk = Walker::new(src);
    let mut findings: Vec<Finding> = Vec::new();
    let mut dropped = 0usize;
    let mut note = |findings: &mut Vec<Finding>, f: Finding| {
        if findings.len() < MAX_FINDINGS {
            findings.push(f);
        } else {
            dropped += 1;
        }
    };
    let mut meta: Option<Meta> = None;
    let mut stats: Option<Stats> = None;
    let mut rows = Vec::new();
    let mut first: Option<FrameHeader> = None;
    let mut cbr = false;
    let mut samples = 0i64;
    loop {
        let item = match walk.next_item() {
            Ok(Some(i)) => i,
            Ok(None) => break,
            Err(e) => {
                note(&mut findings, Finding::of_error(&e));
                break;
            }
        };
        if let Some(f) = item.finding.clone() {
            note(&mut findings, f);
        }
        match &item.unit {
            Unit::Id3v2 { header, len } => {
                if d.wants(opts.detail, 1) {
                    let mut n = Node::new("id3", "ID3v2 tag")
                        .at(item.offset)
                        .sized(*len)
                        .field("version", format!("2.{}.{}", header.major, header.revision))
                        .field("footer", header.has_footer());
                    if let Some(tag) = &item.data {
                        let frames = id3::frames(header, tag, item.offset)
                            .into_iter()
                            .map(|f| {
                                map()
                                    .with("id", f.id.clone())
                                    .with("size", f.size)
                                    .with_opt("text", f.text.clone())
                            })
                            .collect();
                        n = n.field("frames", Val::List(frames));
                    }
                    d.emit(n)?;
                }
            }
            Unit::Id3v1 => {
                if d.wants(opts.detail, 1) {
                    d.emit(Node::new("id3", "ID3v1 tag").at(item.offset).sized(128))?;
                }
            }
            Unit::Garbage { .. } => {}
            Unit::Vbr { header, vbr, len } => {
                cbr = vbr.kind == VbrKind::Info;
                if d.wants(opts.detail, 1) {
                    let kind = match vbr.kind {
                        VbrKind::Xing => "Xing frame",
                        VbrKind::Info => "Info frame",
                        VbrKind::Vbri => "VBRI frame",
                    };
                    let n = Node::new("vbr", kind)
                        .at(item.offset)
                        .sized(*len as u64)
                        .field_opt("frames", vbr.frames)
                        .field_opt("bytes", vbr.bytes);
                    d.emit(header_fields(n, header))?;
                }
                if meta.is_none() {
                    let m = Meta {
                        tracks: vec![track_of(header)?],
                        ..Meta::default()
                    };
                    stats = Some(Stats::new(&m));
                    meta = Some(m);
                }
            }
            Unit::Frame {
                header,
                len,
                truncated,
            } => {
                if meta.is_none() {
                    let m = Meta {
                        tracks: vec![track_of(header)?],
                        ..Meta::default()
                    };
                    stats = Some(Stats::new(&m));
                    meta = Some(m);
                }
                match first {
                    Some(f) if opts.validate => {
                        check_change(&f, header, cbr, item.offset, &mut findings);
                    }
                    Some(_) => {}
                    None => first = Some(*header),
                }
                if opts.validate
                    && !truncated
                    && item.data.as_ref().and_then(|d| header.check_crc(d)) == Some(false)
                {
                    note(
                        &mut findings,
                        Finding::error(item.offset, "frame CRC does not match"),
                    );
                }
                let p = Packet {
                    track: TRACK_ID,
                    dts: Ticks(samples),
                    cts: 0,
                    keyframe: true,
                    data: item.data.clone().unwrap_or_default(),
                    pos: Some(item.offset),
                };
                samples += i64::from(header.samples_per_frame());
                if let Some(s) = stats.as_mut() {
                    s.add(&p);
                }
                if d.wants(opts.detail, 2) {
                    let mut n = header_fields(
                        Node::new("frame", "MPEG audio frame")
                            .at(item.offset)
                            .sized(*len as u64),
                        header,
                    );
                    if *truncated {
                        n = n.field("truncated", true);
                    }
                    if opts.detail >= 3 {
                        n = n.field("data", Val::Bytes(p.data.to_vec()));
                    }
                    d.emit(n)?;
                }
                if opts.detail >= 1 {
                    if opts.json {
                        opts.push_row(&mut rows, PacketRow::of(&p), d.out())?;
                    } else if let Some(m) = &meta {
                        render::packet_line(d.out(), m, &p)?;
                    }
                }
            }
        }
    }
    if dropped > 0 {
        findings.push(Finding::info(
            walk.offset(),
            format!("{dropped} more findings not listed"),
        ));
    }
    let Some(stats) = stats else {
        return Err(FormatError::invalid("mp3", walk.offset(), "no MPEG audio frame found").into());
    };
    let mut report = stats.into_report(
        file,
        "mp3",
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    );
    report.structures = d.finish();
    Ok(report)
}

fn check_change(
    first: &FrameHeader,
    h: &FrameHeader,
    cbr: bool,
    at: u64,
    findings: &mut Vec<Finding>,
) {
    if findings.len() >= MAX_FINDINGS {
        return;
    }
    if h.sample_rate != first.sample_rate || h.version != first.version {
        findings.push(Finding::error(
            at,
            format!(
                "sample rate changes from {} Hz to {} Hz",
                first.sample_rate, h.sample_rate
            ),
        ));
    } else if h.layer != first.layer {
        findings.push(Finding::error(
            at,
            format!("layer changes from {} to {}", first.layer, h.layer),
        ));
    } else if h.channels() != first.channels() {
        findings.push(Finding::warning(
            at,
            format!(
                "channel count changes from {} to {}",
                first.channels(),
                h.channels()
            ),
        ));
    } else if cbr && h.bitrate_kbps != first.bitrate_kbps {
        findings.push(Finding::warning(
            at,
            format!(
                "bitrate changes from {} to {} kbit/s in a file whose Info frame says CBR",
                first.bitrate_kbps, h.bitrate_kbps
            ),
        ));
    }
}
