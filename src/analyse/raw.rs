//! `analyse` for raw elementary streams: every NAL unit of a `.h264` stream with its type and
//! decoded SPS/PPS/SEI/slice fields, every ADTS header of a `.aac` stream and its
//! AudioSpecificConfig; packet listings with the sizes ffprobe reports (the Annex B span of
//! an access unit, the whole ADTS frame); findings with byte offsets.

use std::io::Write;

use crate::codec::aac::frame::{AdtsFrame, CrcStatus};
use crate::codec::aac::syntax::ElementKind;
use crate::codec::aac::AudioSpecificConfig;
use crate::codec::h264::{NalType, Pps, SliceHeader, Sps};
use crate::dtsc::{Meta, Time};
use crate::formats::error::{FormatError, Problem};
use crate::formats::raw::{aac, h264, sei};
use crate::formats::Finding;
use crate::io::Source;

use super::{render, AnalyseError, Options, PacketRow, Report, Stats};

/// Findings past this many are summarised in one line.
const MAX_FINDINGS: usize = 200;
/// Characters of SEI user data text shown.
const MAX_USER_DATA_TEXT: usize = 160;

fn cap(findings: &mut Vec<Finding>) {
    if findings.len() > MAX_FINDINGS {
        let more = findings.len() - MAX_FINDINGS;
        findings.truncate(MAX_FINDINGS);
        findings.push(Finding::info(0, format!("{more} more findings not shown")));
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The SPS fields `--detail` shows.
pub fn sps_lines(s: &Sps) -> Vec<String> {
    let mut v = vec![
        format!(
            "profile_idc {} ({}), constraint flags {:#04x}, level_idc {} ({})",
            s.profile_idc,
            s.profile_name().unwrap_or("unknown"),
            s.constraint_flags,
            s.level_idc,
            s.level_name()
        ),
        format!(
            "seq_parameter_set_id {}, chroma_format_idc {}, bit depth luma {} chroma {}",
            s.sps_id, s.chroma_format_idc, s.bit_depth_luma, s.bit_depth_chroma
        ),
        format!(
            "log2_max_frame_num {}, pic_order_cnt_type {}{}, max_num_ref_frames {}",
            s.log2_max_frame_num,
            s.pic_order_cnt_type,
            if s.pic_order_cnt_type == 0 {
                format!(
                    " (log2_max_pic_order_cnt_lsb {})",
                    s.log2_max_pic_order_cnt_lsb
                )
            } else {
                String::new()
            },
            s.max_num_ref_frames
        ),
        format!(
            "{}x{} (coded {}x{}, crop {:?}), frame_mbs_only {}, direct_8x8_inference {}",
            s.width(),
            s.height(),
            s.coded_width(),
            s.coded_height(),
            s.frame_crop.unwrap_or([0; 4]),
            yes(s.frame_mbs_only),
            yes(s.direct_8x8_inference)
        ),
    ];
    match &s.vui {
        Some(vui) => {
            let mut l = String::from("VUI:");
            if let Some((w, h)) = vui.sample_aspect_ratio {
                l.push_str(&format!(" SAR {w}:{h},"));
            }
            if let (Some(n), Some(t)) = (vui.num_units_in_tick, vui.time_scale) {
                l.push_str(&format!(
                    " num_units_in_tick {n}, time_scale {t}, fixed_frame_rate {},",
                    yes(vui.fixed_frame_rate)
                ));
            }
            if let Some((n, d)) = s.fps() {
                l.push_str(&format!(" {n}/{d} fps,"));
            }
            if let Some(r) = vui.max_num_reorder_frames {
                l.push_str(&format!(" max_num_reorder_frames {r},"));
            }
            if let Some(b) = vui.max_dec_frame_buffering {
                l.push_str(&format!(" max_dec_frame_buffering {b},"));
            }
            if let Some(f) = vui.video_full_range {
                l.push_str(&format!(" full range {},", yes(f)));
            }
            v.push(l.trim_end_matches(',').to_string());
        }
        None => v.push("no VUI".into()),
    }
    v
}

/// The PPS fields `--detail` shows.
pub fn pps_lines(p: &Pps) -> Vec<String> {
    vec![
        format!(
            "pic_parameter_set_id {}, seq_parameter_set_id {}, {}, slice groups {}",
            p.pps_id,
            p.sps_id,
            if p.entropy_coding_mode {
                "CABAC"
            } else {
                "CAVLC"
            },
            p.num_slice_groups
        ),
        format!(
            "num_ref_idx_default_active l0 {} l1 {}, weighted_pred {}, weighted_bipred_idc {}",
            p.num_ref_idx_l0_default_active_minus1 + 1,
            p.num_ref_idx_l1_default_active_minus1 + 1,
            yes(p.weighted_pred),
            p.weighted_bipred_idc
        ),
        format!(
            "pic_init_qp {}, chroma_qp_index_offset {}, transform_8x8_mode {}, \
             deblocking_filter_control {}",
            26 + p.pic_init_qp_minus26,
            p.chroma_qp_index_offset,
            yes(p.transform_8x8_mode),
            yes(p.deblocking_filter_control_present)
        ),
    ]
}

fn slice_line(sh: &SliceHeader) -> String {
    format!(
        "{:?} slice, first_mb {}, pps {}, frame_num {}{}{}, poc lsb {}",
        sh.slice_type(),
        sh.first_mb_in_slice,
        sh.pps_id,
        sh.frame_num,
        if sh.field_pic {
            if sh.bottom_field {
                ", bottom field"
            } else {
                ", top field"
            }
        } else {
            ""
        },
        sh.idr_pic_id
            .map(|i| format!(", idr_pic_id {i}"))
            .unwrap_or_default(),
        sh.pic_order_cnt_lsb
    )
}

fn nal_detail(
    out: &mut dyn Write,
    split: &h264::AuSplitter,
    nal: &h264::Nal,
    opts: &Options,
) -> std::io::Result<()> {
    let t = nal.kind();
    let ref_idc = nal.data.first().map_or(0, |b| (b >> 5) & 3);
    writeln!(
        out,
        "  NAL at byte {}: {} ({}), nal_ref_idc {}, {} bytes",
        nal.offset,
        t.name().unwrap_or("unspecified"),
        t.0,
        ref_idc,
        nal.data.len()
    )?;
    let at = nal.data_offset();
    let lines: Vec<String> = match t {
        NalType::SPS => match Sps::parse(&nal.data, at) {
            Ok(s) => sps_lines(&s),
            Err(e) => vec![format!("not readable: {e}")],
        },
        NalType::PPS => match Pps::parse(&nal.data, at) {
            Ok(p) => pps_lines(&p),
            Err(e) => vec![format!("not readable: {e}")],
        },
        NalType::SEI => match sei::parse(&nal.data, at) {
            Ok(msgs) => msgs
                .iter()
                .map(|m| {
                    let mut l = format!(
                        "SEI {} ({}), {} bytes",
                        m.payload_type.name(),
                        m.payload_type.0,
                        m.payload.len()
                    );
                    if let Some(r) = m.recovery_point {
                        l.push_str(&format!(
                            ": recovery_frame_cnt {}, exact_match {}, broken_link {}",
                            r.recovery_frame_cnt,
                            yes(r.exact_match),
                            yes(r.broken_link)
                        ));
                    }
                    if let Some((uuid, text)) = m.user_data() {
                        let text: String = text.chars().take(MAX_USER_DATA_TEXT).collect();
                        l.push_str(&format!(": uuid {uuid} \"{text}\""));
                    }
                    l
                })
                .collect(),
            Err(e) => vec![format!("not readable: {e}")],
        },
        NalType::AUD => vec![format!(
            "primary_pic_type {}",
            nal.data.get(1).map_or(0, |b| b >> 5)
        )],
        NalType::SLICE | NalType::IDR => {
            let header = SliceHeader::pps_id_of(&nal.data, at).ok().and_then(|id| {
                let pps = split.pps(id)?;
                let sps = split.sps(pps.sps_id)?;
                SliceHeader::parse(&nal.data, at, sps, pps).ok()
            });
            match header {
                Some(sh) => vec![slice_line(&sh)],
                None => vec!["slice header not readable (parameter sets missing?)".into()],
            }
        }
        _ => Vec::new(),
    };
    for l in lines {
        writeln!(out, "    {l}")?;
    }
    if opts.detail >= 3 {
        render::hex_dump(out, &nal.data, 32)?;
    }
    Ok(())
}

fn au_line(out: &mut dyn Write, meta: &Meta, t: &h264::TimedAu) -> std::io::Result<()> {
    let base = meta.tracks.first().map(|t| t.timebase);
    writeln!(
        out,
        "access unit {} at byte {}: dts {} pts {} ({}) size {}{}{}",
        t.number,
        t.au.offset,
        t.dts.0,
        t.pts.0,
        base.map(|b| Time::new(t.dts, b).to_string())
            .unwrap_or_default(),
        t.au.size,
        if t.au.keyframe() { " key" } else { "" },
        t.poc.map(|p| format!(" poc {p}")).unwrap_or_default()
    )
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
    let text = !opts.json;
    if text && opts.detail >= 1 {
        let ((n, d), from) = scan.fps;
        writeln!(
            out,
            "raw H.264: {n}/{d} fps (from {from}), timebase 1/{}, presentation delay {} frames",
            scan.track.timebase.per_second(),
            scan.timing.delay()
        )?;
        writeln!(
            out,
            "avcC built from the first parameter sets, {} bytes",
            scan.track.init.len()
        )?;
        if opts.detail >= 3 {
            render::hex_dump(out, &scan.track.init, 32)?;
        }
    }
    let mut stats = Stats::new(&meta);
    let mut rows = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    loop {
        let t = match scan.next_timed() {
            Ok(Some(t)) => t,
            Ok(None) => break,
            Err(e) => {
                findings.push(Finding::error(e.offset, e.to_string()));
                break;
            }
        };
        // Statistics count payload bytes in the canonical framing, as the demuxer gives them.
        stats.add(&h264::to_packet(&t));
        if opts.detail >= 1 {
            if opts.json {
                rows.push(PacketRow {
                    track: 1,
                    dts: t.dts.0,
                    pts: t.pts.0,
                    size: t.au.size as usize,
                    key: t.au.keyframe(),
                    offset: Some(t.au.offset),
                });
            } else {
                au_line(out, &meta, &t)?;
                for n in &t.au.nals {
                    nal_detail(out, &scan.split, n, opts)?;
                }
            }
        }
        findings.extend(scan.take_findings());
    }
    findings.extend(scan.take_findings());
    cap(&mut findings);
    Ok(stats.into_report(
        file,
        "h264",
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    ))
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
    let text = !opts.json;
    if text && opts.detail >= 1 {
        if scan.id3_len > 0 {
            writeln!(out, "ID3v2 tag at byte 0, {} bytes", scan.id3_len)?;
        }
        let hex: String = track.init.iter().map(|b| format!("{b:02x}")).collect();
        match AudioSpecificConfig::parse(&track.init, 0) {
            Ok(a) => writeln!(
                out,
                "AudioSpecificConfig {hex} (from the first header): object type {} ({}), {} Hz, \
                 channel configuration {}",
                a.object_type,
                a.profile_name().unwrap_or("?"),
                a.sampling_frequency,
                a.channel_configuration
            )?,
            Err(e) => writeln!(out, "AudioSpecificConfig {hex}: not readable: {e}")?,
        }
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
                findings.push(Finding::error(e.offset, e.to_string()));
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
        if opts.detail >= 1 {
            if opts.json {
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
            } else {
                writeln!(
                    out,
                    "ADTS frame at byte {}: {} profile {} ({}), {} Hz, channel configuration {}, \
                     frame length {} (header {}), buffer fullness {:#x}, raw data blocks {}, {}",
                    f.offset,
                    if h.mpeg2 { "MPEG-2" } else { "MPEG-4" },
                    h.profile,
                    match h.profile {
                        0 => "Main",
                        1 => "LC",
                        2 => "SSR",
                        _ => "LTP",
                    },
                    h.sampling_frequency(),
                    h.channel_configuration,
                    h.frame_length,
                    h.header_len(),
                    h.buffer_fullness,
                    h.number_of_raw_data_blocks + 1,
                    h.crc
                        .map(|c| format!("crc {c:#06x}"))
                        .unwrap_or_else(|| "no crc".into())
                )?;
                for p in &packets {
                    render::packet_line(out, &meta, p)?;
                }
                if let Some(parsed) = &parsed {
                    write_raw_data(out, parsed)?;
                }
                if opts.detail >= 3 {
                    render::hex_dump(out, &f.data, 32)?;
                }
            }
        }
        findings.extend(scan.take_findings());
    }
    findings.extend(scan.take_findings());
    cap(&mut findings);
    Ok(stats.into_report(
        file,
        "aac",
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    ))
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
fn write_raw_data(
    out: &mut dyn Write,
    parsed: &Result<AdtsFrame, FormatError>,
) -> std::io::Result<()> {
    let frame = match parsed {
        Ok(frame) => frame,
        Err(e) => return writeln!(out, "  raw data: not readable: {e}"),
    };
    for (i, block) in frame.blocks.iter().enumerate() {
        let elements: Vec<String> = block
            .elements
            .iter()
            .map(|e| {
                let bits = e.end - e.start + 3;
                match (e.kind, e.extension) {
                    (ElementKind::Fil, Some(t)) => format!("FIL ext {t} ({bits} bits)"),
                    (ElementKind::Fil, None) => format!("FIL ({bits} bits)"),
                    (kind, _) => format!("{}[{}] ({bits} bits)", kind.name(), e.tag),
                }
            })
            .collect();
        writeln!(out, "  raw data block {i}: {}, END", elements.join(", "))?;
    }
    match frame.crc {
        CrcStatus::Absent => Ok(()),
        CrcStatus::Match => writeln!(out, "  crc_check matches"),
        CrcStatus::Mismatch {
            stored, computed, ..
        } => writeln!(
            out,
            "  crc_check {stored:#06x} does not match the data ({computed:#06x})"
        ),
    }
}
