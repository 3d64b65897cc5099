//! `analyse` for MPEG-TS: programs, PIDs, stream types and PCR in the summary; PAT/PMT and
//! every PES and frame with `--detail 1`; every transport packet header and adaptation field
//! with `--detail 2`; payload hex with `--detail 3`; `--pid` to keep one PID; and validation
//! (continuity, CRC, PCR interval, timestamp jumps, missing PMT, PES lengths) with offsets.
//!
//! Packet sizes are the container's: a whole Annex B access unit, a whole ADTS frame (header
//! included), a whole MPEG audio frame, as ffprobe counts them.

use std::collections::BTreeMap;
use std::io::Write;

use crate::dtsc::{Meta, Packet, Ticks, TrackId};
use crate::formats::error::FormatError;
use crate::formats::ts::demux::{Program, PROBE_LIMIT};
use crate::formats::ts::es::{self, Frame};
use crate::formats::ts::packet::PACKET_SIZE;
use crate::formats::ts::pes::PesHeader;
use crate::formats::ts::psi::{Descriptor, Pat, Pmt};
use crate::formats::ts::reader::{Event, Reader};
use crate::formats::ts::FORMAT;
use crate::formats::{Finding, Severity};
use crate::io::{ChunkReader, Source};

use super::payload::PayloadCheck;
use super::tree::{map, Detail, Node, Val};
use super::{render, AnalyseError, Options, PacketRow, Report, Stats};

/// Findings past this many are summarised in one line.
const MAX_FINDINGS: usize = 500;
/// A PCR gap above this (100 ms, H.222.0 §2.7.2) is an error; 27 MHz ticks.
const MAX_PCR_GAP: u64 = 2_700_000;
/// A DTS step forward above this (1 s) on one track is reported as a jump.
const MAX_DTS_STEP: i64 = 90_000;
/// The PCR wraps with its 33-bit base: 2^33 × 300 ticks of 27 MHz.
const PCR_WRAP: u64 = (1 << 33) * 300;

#[derive(Default)]
struct PcrStats {
    last: Option<u64>,
    count: u64,
    max_gap: u64,
    sum_gap: u64,
}

struct State<'a> {
    opts: &'a Options,
    d: Detail<'a>,
    findings: Vec<Finding>,
    stats: Option<Stats>,
    /// `--validate`'s codec checks, once the tracks are known.
    payloads: PayloadCheck,
    meta: Meta,
    held: Vec<(u16, es::Kind, Frame)>,
    rows: Vec<PacketRow>,
    last_dts: BTreeMap<u16, i64>,
    pcr: BTreeMap<u16, PcrStats>,
    pat: Option<Pat>,
    pmts: BTreeMap<u16, Pmt>,
}

/// Analyses a TS input (the format table's `analyse`).
pub fn analyse(src: Source, opts: &Options, out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let file = src.name().to_string();
    let size = src.len();
    let chosen = src.demux_options().program;
    let mut input = ChunkReader::new(src, 0);
    let mut reader = Reader::new();
    let d = Detail::new(out, opts);
    reader.set_packet_events(d.wants(opts.detail, 2));
    let mut program = Program::new(chosen);
    let mut st = State {
        opts,
        d,
        findings: Vec::new(),
        stats: None,
        payloads: PayloadCheck::default(),
        meta: Meta::default(),
        held: Vec::new(),
        rows: Vec::new(),
        last_dts: BTreeMap::new(),
        pcr: BTreeMap::new(),
        pat: None,
        pmts: BTreeMap::new(),
    };
    let mut frames = Vec::new();
    loop {
        let n = input
            // One read at a time: a live stream shows what has come instead of waiting for
            // a full buffer.
            .fill_some(1 << 20)
            .map_err(|e| FormatError::io(FORMAT, input.offset(), e))?;
        if n == 0 {
            reader.finish();
        } else {
            let b = input.take(n);
            reader.feed(&b);
        }
        while let Some(e) = reader.next_event() {
            st.event(&e)?;
            program.handle(e, &mut frames, &mut st.findings);
            // A later PMT version added streams: they are tracks too (as ffprobe lists them).
            if st.stats.is_some() && program.streams.len() != st.meta.tracks.len() {
                st.meta.tracks = program.tracks();
                if let Some(s) = st.stats.as_mut() {
                    s.update_tracks(&st.meta);
                }
                st.payloads.update(&st.meta);
            }
            for (i, f) in frames.drain(..) {
                if let Some(s) = program.streams.get(i) {
                    st.held.push((s.pid, s.splitter.kind(), f));
                }
            }
            if st.stats.is_none()
                && program.pmt.is_some()
                && (program.ready() || input.offset() > PROBE_LIMIT)
            {
                st.meta.tracks = program.tracks();
                st.stats = Some(Stats::new(&st.meta));
                st.payloads.update(&st.meta);
            }
            if st.stats.is_some() {
                st.drain()?;
            }
        }
        if n == 0 {
            break;
        }
    }
    if let Some(s) = st.stats.as_mut() {
        s.fill_configs(&Meta {
            tracks: program.tracks(),
            ..Meta::default()
        });
    }
    if st.stats.is_none() && program.pmt.is_some() {
        st.meta.tracks = program.tracks();
        st.stats = Some(Stats::new(&st.meta));
        st.payloads.update(&st.meta);
    }
    st.drain()?;
    st.finish_checks(&reader, &program);
    if program.pmt.is_none() && !opts.validate {
        let first = st
            .findings
            .iter()
            .find(|f| f.severity == crate::formats::Severity::Error);
        let why = "no program could be read";
        return Err(match first {
            Some(f) => match f.offset {
                Some(at) => FormatError::invalid(FORMAT, at, format!("{why}: {}", f.message)),
                None => FormatError::whole_invalid(FORMAT, format!("{why}: {}", f.message)),
            },
            None => FormatError::whole_invalid(FORMAT, why),
        }
        .into());
    }
    let summary_lines = st.summary(&reader, &program);
    let mut findings = std::mem::take(&mut st.findings);
    if findings.len() > MAX_FINDINGS {
        let more = findings.len() - MAX_FINDINGS;
        findings.truncate(MAX_FINDINGS);
        findings.push(Finding::general(
            crate::formats::Severity::Info,
            format!("{more} more findings not shown"),
        ));
    }
    let stats = st
        .stats
        .take()
        .unwrap_or_else(|| Stats::new(&Meta::default()));
    let mut report = stats.into_report(
        file,
        "ts",
        size,
        (opts.detail >= 1 && opts.json).then(|| std::mem::take(&mut st.rows)),
        findings,
        opts.validate,
    );
    report.summary_lines = summary_lines;
    report.structures = st.d.finish();
    Ok(report)
}

impl State<'_> {
    fn shown(&self, pid: u16) -> bool {
        self.opts.pid.is_none_or(|p| p == pid)
    }

    fn wants(&self, level: u8) -> bool {
        self.d.wants(self.opts.detail, level)
    }

    fn event(&mut self, e: &Event) -> Result<(), AnalyseError> {
        match e {
            Event::Packet {
                offset,
                packet,
                payload,
            } => {
                let h = packet.header;
                if !self.shown(h.pid) {
                    return Ok(());
                }
                let mut n = Node::new("ts_packet", "TS packet")
                    .at(*offset)
                    .sized(PACKET_SIZE as u64)
                    .field("pid", Val::Hex16(h.pid))
                    .field("continuity_counter", h.cc)
                    .field("payload_unit_start", h.pusi);
                if h.tei {
                    n = n.field("transport_error", true);
                }
                if h.priority {
                    n = n.field("transport_priority", true);
                }
                if h.scrambling != 0 {
                    n = n.field("scrambling", h.scrambling);
                }
                if let Some(af) = packet.af {
                    let mut m = map().with("length", af.length);
                    if af.discontinuity {
                        m = m.with("discontinuity", true);
                    }
                    if af.random_access {
                        m = m.with("random_access", true);
                    }
                    if af.es_priority {
                        m = m.with("es_priority", true);
                    }
                    if let Some(p) = af.pcr {
                        m = m
                            .with("pcr", p.ticks_27mhz())
                            .with("pcr_base", p.base)
                            .with("pcr_ext", p.ext);
                    }
                    if let Some(p) = af.opcr {
                        m = m.with("opcr", p.ticks_27mhz());
                    }
                    if let Some(c) = af.splice_countdown {
                        m = m.with("splice_countdown", c);
                    }
                    n = n.field("adaptation_field", m);
                }
                n = n.field("payload_size", payload.len());
                if self.opts.detail >= 3 {
                    n = n.field("data", Val::Bytes(payload.to_vec()));
                }
                self.d.emit(n)?;
            }
            Event::Pat { offset, pat } => {
                if self.wants(1) {
                    let programs = pat
                        .programs
                        .iter()
                        .map(|(num, pid)| {
                            map()
                                .with("program_number", *num)
                                .with("pmt_pid", Val::Hex16(*pid))
                        })
                        .collect();
                    self.d.emit(
                        Node::new("psi", "PAT")
                            .at(*offset)
                            .field("pid", Val::Hex16(0))
                            .field("transport_stream_id", pat.ts_id)
                            .field("version", pat.version)
                            .field("programs", Val::List(programs)),
                    )?;
                }
                self.pat = Some(pat.clone());
            }
            Event::Pmt { offset, pid, pmt } => {
                if self.wants(1) {
                    let streams = pmt
                        .streams
                        .iter()
                        .map(|s| {
                            map()
                                .with("pid", Val::Hex16(s.pid))
                                .with("stream_type", Val::Hex8(s.stream_type))
                                .with("stream_type_name", es::stream_type_name(s.stream_type))
                                .with_opt("language", s.language())
                                .with_opt(
                                    "registration",
                                    s.registration()
                                        .map(|r| String::from_utf8_lossy(&r).into_owned()),
                                )
                                .with("descriptors", descriptors(&s.descriptors))
                        })
                        .collect();
                    self.d.emit(
                        Node::new("psi", "PMT")
                            .at(*offset)
                            .field("pid", Val::Hex16(*pid))
                            .field("program_number", pmt.program)
                            .field("version", pmt.version)
                            .field("pcr_pid", Val::Hex16(pmt.pcr_pid))
                            .field("descriptors", descriptors(&pmt.descriptors))
                            .field("streams", Val::List(streams)),
                    )?;
                }
                self.pmts.insert(*pid, pmt.clone());
            }
            Event::Pes { pid, unit } => {
                if self.wants(1) && self.shown(*pid) && !unit.data.is_empty() {
                    let n = Node::new("pes", "PES")
                        .at(unit.offset)
                        .field("pid", Val::Hex16(*pid));
                    let n = match PesHeader::parse(&unit.data, unit.offset) {
                        Ok(h) => n
                            .field("stream_id", Val::Hex8(h.stream_id))
                            .field("packet_length", h.packet_length)
                            .field("data_alignment", h.data_alignment)
                            .field_opt("pts", h.pts)
                            .field_opt("dts", h.dts)
                            .field("header_length", h.header_len)
                            .field("payload_size", unit.data.len().saturating_sub(h.header_len))
                            .field("random_access", unit.random_access)
                            .field("damaged", unit.damaged),
                        Err(e) => n.field("error", e.to_string()),
                    };
                    self.d.emit(n)?;
                }
            }
            Event::Pcr { offset, pid, pcr } => {
                let s = self.pcr.entry(*pid).or_default();
                let v = pcr.ticks_27mhz();
                if let Some(last) = s.last {
                    let gap = (v + PCR_WRAP - last) % PCR_WRAP;
                    s.max_gap = s.max_gap.max(gap);
                    s.sum_gap += gap;
                    if gap > MAX_PCR_GAP && self.opts.validate {
                        let msg = if gap > PCR_WRAP / 2 {
                            format!(
                                "PID {pid:#x}: PCR goes back by {} ms",
                                (PCR_WRAP - gap) / 27_000
                            )
                        } else {
                            format!(
                                "PID {pid:#x}: PCR interval {} ms (over 100 ms)",
                                gap / 27_000
                            )
                        };
                        self.findings.push(Finding::error(*offset, msg));
                    }
                }
                s.last = Some(v);
                s.count += 1;
            }
            Event::Finding(_) => {}
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<(), AnalyseError> {
        let Some(stats) = self.stats.as_mut() else {
            return Ok(());
        };
        for (pid, kind, f) in self.held.drain(..) {
            if self.opts.validate && kind == es::Kind::Adts {
                // The check takes the canonical payload (ADTS header stripped).
                let canonical = crate::formats::ts::demux::to_packet(
                    crate::dtsc::TrackId(u32::from(pid)),
                    kind,
                    f.clone(),
                );
                self.payloads.check(&canonical, &mut self.findings);
            }
            let p = Packet {
                track: TrackId(u32::from(pid)),
                dts: Ticks(f.dts),
                cts: (f.pts - f.dts).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
                keyframe: f.key,
                data: f.data,
                pos: Some(f.offset),
            };
            stats.add(&p);
            if self.opts.validate {
                if let Some(&last) = self.last_dts.get(&pid) {
                    let step = p.dts.0 - last;
                    if step < 0 {
                        self.findings.push(Finding::error(
                            f.offset,
                            format!(
                                "PID {pid:#x}: DTS goes back by {} ticks ({} → {})",
                                -step, last, p.dts.0
                            ),
                        ));
                    } else if step > MAX_DTS_STEP {
                        self.findings.push(Finding::warning(
                            f.offset,
                            format!(
                                "PID {pid:#x}: DTS jumps forward by {step} ticks ({} ms)",
                                step / 90
                            ),
                        ));
                    }
                }
                if f.pts < f.dts {
                    self.findings.push(Finding::error(
                        f.offset,
                        format!("PID {pid:#x}: PTS {} is before DTS {}", f.pts, f.dts),
                    ));
                }
            }
            self.last_dts.insert(pid, p.dts.0);
            if self.opts.pid.is_some_and(|x| x != pid) || self.opts.detail < 1 {
                continue;
            }
            if self.opts.json {
                self.opts
                    .push_row(&mut self.rows, PacketRow::of(&p), self.d.out())?;
            } else {
                render::packet_line(self.d.out(), &self.meta, &p)?;
            }
        }
        Ok(())
    }

    fn finish_checks(&mut self, reader: &Reader, program: &Program) {
        if !self.opts.validate {
            return;
        }
        match &self.pat {
            None if reader.unit_size().is_some() => self
                .findings
                .push(Finding::general(Severity::Error, "no PAT in the stream")),
            Some(pat) => {
                for (num, pid) in &pat.programs {
                    if !self.pmts.contains_key(pid) {
                        self.findings.push(Finding::general(
                            crate::formats::Severity::Error,
                            format!("program {num}: no PMT found on PID {pid:#x}"),
                        ));
                    }
                }
            }
            None => {}
        }
        if let Some(pmt) = &program.pmt {
            if !self.pcr.contains_key(&pmt.pcr_pid) && pmt.pcr_pid != 0x1FFF {
                self.findings.push(Finding::general(
                    crate::formats::Severity::Error,
                    format!(
                        "program {}: no PCR found on PCR PID {:#x}",
                        pmt.program, pmt.pcr_pid
                    ),
                ));
            }
        }
    }

    /// The summary's lines about the transport stream: unit size, programs, PCR, streams.
    fn summary(&self, reader: &Reader, program: &Program) -> Vec<String> {
        let mut lines = Vec::new();
        let unit = reader.unit_size().unwrap_or(PACKET_SIZE);
        lines.push(format!(
            "{} of {unit} bytes{}",
            super::render::count(reader.packets() as usize, "packet", "packets"),
            if unit != PACKET_SIZE { " (M2TS)" } else { "" }
        ));
        if let Some(pat) = &self.pat {
            for (num, pmt_pid) in &pat.programs {
                let chosen = program.number == Some(*num) && pat.programs.len() > 1;
                let mut l = format!(
                    "program {num}{}: PMT on PID {pmt_pid:#06x}",
                    if chosen { " (the one read)" } else { "" }
                );
                if let Some(pmt) = self.pmts.get(pmt_pid) {
                    match self.pcr.get(&pmt.pcr_pid).filter(|p| p.count > 1) {
                        Some(p) => l.push_str(&format!(
                            ", PCR on PID {:#06x} every {:.1} ms (max {:.1} ms)",
                            pmt.pcr_pid,
                            p.sum_gap as f64 / (p.count - 1) as f64 / 27_000.0,
                            p.max_gap as f64 / 27_000.0
                        )),
                        _ => l.push_str(&format!(", PCR on PID {:#06x}", pmt.pcr_pid)),
                    }
                    lines.push(l);
                    for s in &pmt.streams {
                        lines.push(format!(
                            "  PID {:#06x}: stream type {:#04x} ({}){}",
                            s.pid,
                            s.stream_type,
                            es::stream_type_name(s.stream_type),
                            s.language()
                                .map(|l| format!(", language {l}"))
                                .unwrap_or_default()
                        ));
                    }
                } else {
                    lines.push(l);
                }
            }
        }
        lines
    }
}

/// Descriptors (13818-1 2.6) by tag name, with their bytes.
fn descriptors(list: &[Descriptor]) -> Val {
    Val::List(
        list.iter()
            .map(|d| {
                map()
                    .with("tag", Val::Hex8(d.tag))
                    .with("name", descriptor_name(d.tag))
                    .with("data", Val::Bytes(d.data.clone()))
            })
            .collect(),
    )
}

/// 13818-1 Table 2-45 and the DVB (EN 300 468) tags seen in practice.
fn descriptor_name(tag: u8) -> &'static str {
    match tag {
        0x02 => "video_stream",
        0x03 => "audio_stream",
        0x05 => "registration",
        0x06 => "data_stream_alignment",
        0x0A => "ISO_639_language",
        0x0E => "maximum_bitrate",
        0x1B => "MPEG-4_video",
        0x1C => "MPEG-4_audio",
        0x26 => "metadata",
        0x28 => "AVC_video",
        0x2A => "AVC_timing_and_HRD",
        0x2B => "MPEG-2_AAC_audio",
        0x38 => "HEVC_video",
        0x48 => "service",
        0x52 => "stream_identifier",
        0x56 => "teletext",
        0x59 => "subtitling",
        0x6A => "AC-3",
        0x7A => "enhanced_AC-3",
        0x7C => "AAC",
        0x81 => "ATSC AC-3",
        _ => "other",
    }
}
