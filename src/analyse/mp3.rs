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

use super::{render, AnalyseError, Options, PacketRow, Report, Stats};

/// Findings past this many are dropped (one summary finding says how many).
const MAX_FINDINGS: usize = 200;

fn describe(h: &FrameHeader) -> String {
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
    format!(
        "{v} layer {layer} {} kbit/s {} Hz {mode}{}{}",
        h.bitrate_kbps,
        h.sample_rate,
        if h.padding { ", padded" } else { "" },
        if h.crc { ", CRC" } else { "" },
    )
}

/// Analyses an MP3 input (the format table's `analyse`).
pub fn analyse(src: Source, opts: &Options, out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let file = src.name().to_string();
    let size = src.len();
    let text = !opts.json;
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
                note(&mut findings, Finding::error(e.offset, e.to_string()));
                break;
            }
        };
        if let Some(f) = item.finding.clone() {
            note(&mut findings, f);
        }
        match &item.unit {
            Unit::Id3v2 { header, len } => {
                if text && opts.detail >= 1 {
                    writeln!(
                        out,
                        "ID3v2.{}.{} tag at byte {}, {len} bytes{}",
                        header.major,
                        header.revision,
                        item.offset,
                        if header.has_footer() {
                            " (with footer)"
                        } else {
                            ""
                        }
                    )?;
                    if let Some(tag) = &item.data {
                        for f in id3::frames(header, tag, item.offset) {
                            match f.text {
                                Some(t) => writeln!(out, "  {} ({} bytes): {t}", f.id, f.size)?,
                                None => writeln!(out, "  {} ({} bytes)", f.id, f.size)?,
                            }
                        }
                    }
                }
            }
            Unit::Id3v1 => {
                if text && opts.detail >= 1 {
                    writeln!(out, "ID3v1 tag at byte {}", item.offset)?;
                }
            }
            Unit::Garbage { .. } => {}
            Unit::Vbr { header, vbr, len } => {
                cbr = vbr.kind == VbrKind::Info;
                if text && opts.detail >= 1 {
                    let kind = match vbr.kind {
                        VbrKind::Xing => "Xing",
                        VbrKind::Info => "Info",
                        VbrKind::Vbri => "VBRI",
                    };
                    writeln!(
                        out,
                        "{kind} frame at byte {}, {len} bytes ({}): frames {}, bytes {}",
                        item.offset,
                        describe(header),
                        vbr.frames.map_or("-".into(), |f| f.to_string()),
                        vbr.bytes.map_or("-".into(), |b| b.to_string()),
                    )?;
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
                if opts.detail >= 1 {
                    if opts.json {
                        rows.push(PacketRow::of(&p));
                    } else {
                        if opts.detail >= 2 {
                            writeln!(
                                out,
                                "frame at byte {}: {}, {len} bytes{}",
                                item.offset,
                                describe(header),
                                if *truncated { " (truncated)" } else { "" }
                            )?;
                        }
                        if let Some(m) = &meta {
                            render::packet_line(out, m, &p)?;
                        }
                        if opts.detail >= 3 {
                            render::hex_dump(out, &p.data, 32)?;
                        }
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
    Ok(stats.into_report(
        file,
        "mp3",
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    ))
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
