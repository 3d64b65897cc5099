//! `analyse` for raw elementary streams: every NAL unit of a `.h264` stream with its type and
//! decoded SPS/PPS/SEI/slice fields, every ADTS header of a `.aac` stream and its
//! AudioSpecificConfig; packet listings with the sizes ffprobe reports (the Annex B span of
//! an access unit, the whole ADTS frame); findings with byte offsets.

use std::io::Write;

use crate::codec::aac::frame::{AdtsFrame, CrcStatus};
use crate::codec::aac::syntax::ElementKind;
use crate::codec::h264::{Pps, Sps};
use crate::dtsc::Meta;
use crate::formats::error::{FormatError, Problem};
use crate::formats::raw::{aac, h264};
use crate::formats::Finding;
use crate::io::Source;

use super::decode;
use super::tree::{map, Detail, Node, Val};
use super::{render, AnalyseError, Options, PacketRow, Report, Stats};

/// Findings past this many are summarised in one line.
const MAX_FINDINGS: usize = 200;

fn cap(findings: &mut Vec<Finding>) {
    if findings.len() > MAX_FINDINGS {
        let more = findings.len() - MAX_FINDINGS;
        findings.truncate(MAX_FINDINGS);
        findings.push(Finding::general(
            crate::formats::Severity::Info,
            format!("{more} more findings not shown"),
        ));
    }
}

impl decode::ParamSets for h264::AuSplitter {
    fn pps(&self, id: u32) -> Option<&Pps> {
        h264::AuSplitter::pps(self, id).map(|p| p.as_ref())
    }
    fn sps(&self, id: u32) -> Option<&Sps> {
        h264::AuSplitter::sps(self, id).map(|s| s.as_ref())
    }
}

/// One access unit: its times and position, with its NAL units decoded as children.
fn au_node(split: &h264::AuSplitter, t: &h264::TimedAu, detail: u8) -> Node {
    let mut n = Node::new("access_unit", format!("access unit {}", t.number))
        .at(t.au.offset)
        .sized(t.au.size)
        .field("dts", t.dts.0)
        .field("pts", t.pts.0)
        .field("key", t.au.keyframe())
        .field_opt("poc", t.poc);
    for nal in &t.au.nals {
        let mut c = decode::nal(&nal.data, nal.data_offset(), Some(split));
        if detail >= 3 {
            c = c.field("data", Val::Bytes(nal.data.to_vec()));
        }
        n = n.child(c);
    }
    n
}

/// Analyses a raw H.264 stream (the format table's `analyse`).
pub fn analyse_h264(
    src: Source,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<Report, AnalyseError> {
    let file = src.name().to_string();
    let size = src.len();
    let mut scan = h264::Scan::open(src, true)?;
    let meta = Meta {
        tracks: vec![scan.track.clone()],
        ..Meta::default()
    };
    let mut d = Detail::new(out, opts);
    if d.wants(opts.detail, 1) {
        let ((num, den), from) = scan.fps;
        let mut config = decode::avc_config(&scan.track.init, 0).without_offsets();
        config.push_field("source", "built from the first parameter sets");
        d.emit(
            Node::new("stream", "raw H.264 stream")
                .field("frame_rate", format!("{num}/{den}"))
                .field("frame_rate_from", from.to_string())
                .field(
                    "timebase",
                    format!("1/{}", scan.track.timebase.per_second()),
                )
                .field("presentation_delay_frames", scan.timing.delay())
                .child(config),
        )?;
    }
    let mut stats = Stats::new(&meta);
    let mut rows = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    loop {
        let t = match scan.next_timed() {
            Ok(Some(t)) => t,
            Ok(None) => break,
            Err(e) => {
                findings.push(Finding::of_error(&e));
                break;
            }
        };
        // Statistics count payload bytes in the canonical framing, as the demuxer gives them.
        stats.add(&h264::to_packet(&t));
        if opts.detail >= 1 && opts.json {
            rows.push(PacketRow {
                track: 1,
                dts: t.dts.0,
                pts: t.pts.0,
                size: t.au.size as usize,
                key: t.au.keyframe(),
                offset: Some(t.au.offset),
            });
        }
        if d.wants(opts.detail, 1) {
            d.emit(au_node(&scan.split, &t, opts.detail))?;
        }
        findings.extend(scan.take_findings());
    }
    findings.extend(scan.take_findings());
    cap(&mut findings);
    let mut report = stats.into_report(
        file,
        "h264",
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    );
    report.structures = d.finish();
    Ok(report)
}

/// Analyses an ADTS stream (the format table's `analyse`).
pub fn analyse_aac(
    src: Source,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<Report, AnalyseError> {
    let file = src.name().to_string();
    let size = src.len();
    let mut scan = aac::Scanner::open(src)?;
    let track = aac::track_of(&scan.first, &scan.first_frame)?;
    let meta = Meta {
        tracks: vec![track.clone()],
        ..Meta::default()
    };
    let mut d = Detail::new(out, opts);
    if d.wants(opts.detail, 1) {
        let mut config = decode::audio_specific_config(&track.init, 0).without_offsets();
        config.push_field("source", "built from the first ADTS header");
        let mut n = Node::new("stream", "raw AAC (ADTS) stream").child(config);
        if scan.id3_len > 0 {
            n = n.field("id3v2_tag_size", scan.id3_len);
        }
        d.emit(n)?;
    }
    let mut stats = Stats::new(&meta);
    let mut rows = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut samples = 0i64;
    let mut unsupported_noted = false;
    let mut blocks_noted = false;
    loop {
        let f = match scan.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                findings.push(Finding::of_error(&e));
                break;
            }
        };
        // A frame whose blocks cannot be separated is reported by the raw data checks.
        let (packets, _) = f.packets(samples);
        samples += f.samples();
        for p in &packets {
            stats.add(p);
        }
        let h = &f.header;
        // The raw data is walked only when someone will see the result.
        let parsed =
            (opts.validate || opts.detail >= 2).then(|| AdtsFrame::parse(&f.data, h, f.offset));
        if opts.validate {
            if let Some(parsed) = &parsed {
                raw_data_findings(&f, parsed, &mut unsupported_noted, &mut findings);
            }
        }
        if h.number_of_raw_data_blocks > 0 && !blocks_noted {
            blocks_noted = true;
            findings.push(Finding::info(
                f.offset,
                format!(
                    "frames hold {} raw data blocks (one packet each)",
                    h.number_of_raw_data_blocks + 1
                ),
            ));
        }
        if opts.detail >= 1 && opts.json {
            // ffprobe's size for a one-block frame is the whole frame, header included.
            let whole = packets.len() == 1;
            rows.extend(packets.iter().map(|p| PacketRow {
                track: 1,
                dts: p.dts.0,
                pts: p.dts.0,
                size: if whole {
                    usize::from(h.frame_length)
                } else {
                    p.data.len()
                },
                key: true,
                offset: p.pos,
            }));
        }
        if d.wants(opts.detail, 1) {
            let mut n = Node::new("adts", "ADTS frame")
                .at(f.offset)
                .sized(u64::from(h.frame_length))
                .field("id", if h.mpeg2 { "MPEG-2" } else { "MPEG-4" })
                .field("profile", h.profile)
                .field(
                    "profile_name",
                    match h.profile {
                        0 => "Main",
                        1 => "LC",
                        2 => "SSR",
                        _ => "LTP",
                    },
                )
                .field("sampling_frequency", h.sampling_frequency())
                .field("channel_configuration", h.channel_configuration)
                .field("frame_length", h.frame_length)
                .field("header_length", h.header_len())
                .field(
                    "buffer_fullness",
                    if h.buffer_fullness == 0x7FF {
                        Val::Str("VBR".into())
                    } else {
                        Val::Int(i64::from(h.buffer_fullness))
                    },
                )
                .field("raw_data_blocks", h.number_of_raw_data_blocks + 1)
                .field_opt("crc", h.crc.map(|c| format!("{c:#06x}")));
            if let Some(parsed) = &parsed {
                n = raw_data_fields(n, parsed);
            }
            if opts.detail >= 3 {
                n = n.field("data", Val::Bytes(f.data.to_vec()));
            }
            d.emit(n)?;
            if d.is_text() {
                for p in &packets {
                    render::packet_line(d.out(), &meta, p)?;
                }
            }
        }
        findings.extend(scan.take_findings());
    }
    findings.extend(scan.take_findings());
    cap(&mut findings);
    let mut report = stats.into_report(
        file,
        "aac",
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    );
    report.structures = d.finish();
    Ok(report)
}

/// Validation findings from one ADTS frame's raw data: CRC mismatches, raw data that does not
/// parse or stops short of the frame's end, and channel elements that disagree with the
/// header's channel configuration.
fn raw_data_findings(
    f: &aac::Frame,
    parsed: &Result<AdtsFrame, FormatError>,
    unsupported_noted: &mut bool,
    findings: &mut Vec<Finding>,
) {
    let h = &f.header;
    let frame = match parsed {
        Ok(frame) => frame,
        Err(e) if matches!(e.problem, Problem::Unsupported(_)) => {
            if !*unsupported_noted {
                *unsupported_noted = true;
                findings.push(Finding::info(
                    e.offset,
                    format!("raw data not checked: {e}"),
                ));
            }
            return;
        }
        Err(e) => {
            let crc = if h.crc.is_some() {
                " (so its crc_check cannot match)"
            } else {
                ""
            };
            findings.push(Finding::error(
                f.offset,
                format!("ADTS frame's raw data does not parse{crc}: {e}"),
            ));
            return;
        }
    };
    if let CrcStatus::Mismatch {
        block,
        stored,
        computed,
    } = frame.crc
    {
        let which = match block {
            None => "crc_check".to_string(),
            Some(i) => format!("raw data block {i}'s crc_check"),
        };
        findings.push(Finding::error(
            f.offset,
            format!("ADTS {which} {stored:#06x} does not match the data ({computed:#06x})"),
        ));
    }
    let bits = f.data.len() * 8;
    if frame.end + 8 <= bits {
        findings.push(Finding::warning(
            f.offset + (frame.end / 8) as u64,
            format!(
                "raw data ends {} bytes before the ADTS frame does",
                (bits - frame.end) / 8
            ),
        ));
    }
    let expected = match h.channel_configuration {
        0 => None,
        7 => Some(8),
        c => Some(u32::from(c)),
    };
    if let Some(expected) = expected {
        let carried = frame.channels();
        if carried != expected {
            findings.push(Finding::warning(
                f.offset,
                format!(
                    "raw data carries {carried} channels, channel configuration {} says {expected}",
                    h.channel_configuration
                ),
            ));
        }
    }
}

/// `--detail 2`: the elements of each raw data block and the CRC result.
fn raw_data_fields(n: Node, parsed: &Result<AdtsFrame, FormatError>) -> Node {
    let frame = match parsed {
        Ok(frame) => frame,
        Err(e) => return n.field("raw_data_error", e.to_string()),
    };
    let blocks = frame
        .blocks
        .iter()
        .map(|block| {
            Val::List(
                block
                    .elements
                    .iter()
                    .map(|e| {
                        let bits = e.end - e.start + 3;
                        let m = map().with("element", e.kind.name());
                        let m = match (e.kind, e.extension) {
                            (ElementKind::Fil, Some(t)) => m.with("extension_type", t),
                            (ElementKind::Fil, None) => m,
                            (_, _) => m.with("instance_tag", e.tag),
                        };
                        m.with("bits", bits)
                    })
                    .collect(),
            )
        })
        .collect();
    let n = n.field("raw_data", Val::List(blocks));
    match frame.crc {
        CrcStatus::Absent => n,
        CrcStatus::Match => n.field("crc_check", "matches"),
        CrcStatus::Mismatch {
            stored, computed, ..
        } => n.field(
            "crc_check",
            format!("{stored:#06x} does not match the data ({computed:#06x})"),
        ),
    }
}
