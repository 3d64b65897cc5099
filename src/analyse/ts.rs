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
use crate::formats::ts::psi::{Pat, Pmt};
use crate::formats::ts::reader::{Event, Reader};
use crate::formats::ts::FORMAT;
use crate::formats::Finding;
use crate::io::{ChunkReader, Source};

use super::payload::PayloadCheck;
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
    out: &'a mut dyn Write,
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
    let text = !opts.json;
    reader.set_packet_events(text && opts.detail >= 2);
    let mut program = Program::new(chosen);
    let mut st = State {
        opts,
        out,
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
            .fill(1 << 20)
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
            .find(|f| f.severity == crate::formats::Severity::Error)
            .map(|f| format!(" (first problem at byte {}: {})", f.offset, f.message))
            .unwrap_or_default();
        return Err(
            FormatError::invalid(FORMAT, 0, format!("no program could be read{first}")).into(),
        );
    }
    if text {
        st.summary(&reader, &program, size)?;
    }
    let mut findings = std::mem::take(&mut st.findings);
    if findings.len() > MAX_FINDINGS {
        let more = findings.len() - MAX_FINDINGS;
        findings.truncate(MAX_FINDINGS);
        findings.push(Finding::info(0, format!("{more} more findings not shown")));
    }
    let stats = st
        .stats
        .take()
        .unwrap_or_else(|| Stats::new(&Meta::default()));
    Ok(stats.into_report(
        file,
        "ts",
        size,
        (opts.detail >= 1 && opts.json).then(|| std::mem::take(&mut st.rows)),
        findings,
        opts.validate,
    ))
}

impl State<'_> {
    fn shown(&self, pid: u16) -> bool {
        self.opts.pid.map_or(true, |p| p == pid)
    }

    fn text(&self, level: u8) -> bool {
        !self.opts.json && self.opts.detail >= level
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
                let mut line = format!(
                    "TS packet at byte {offset}: PID {:#06x} cc {}{}{}{}",
                    h.pid,
                    h.cc,
                    if h.pusi { " PUSI" } else { "" },
                    if h.tei { " TEI" } else { "" },
                    if h.scrambling != 0 { " scrambled" } else { "" },
                );
                if let Some(af) = packet.af {
                    line.push_str(&format!(" | adaptation field {} bytes", af.length));
                    if af.discontinuity {
                        line.push_str(" discontinuity");
                    }
                    if af.random_access {
                        line.push_str(" random_access");
                    }
                    if af.es_priority {
                        line.push_str(" es_priority");
                    }
                    if let Some(p) = af.pcr {
                        line.push_str(&format!(
                            " PCR {} ({}+{}/300)",
                            p.ticks_27mhz(),
                            p.base,
                            p.ext
                        ));
                    }
                    if let Some(p) = af.opcr {
                        line.push_str(&format!(" OPCR {}", p.ticks_27mhz()));
                    }
                    if let Some(c) = af.splice_countdown {
                        line.push_str(&format!(" splice_countdown {c}"));
                    }
                }
                line.push_str(&format!(" | payload {} bytes", payload.len()));
                writeln!(self.out, "{line}")?;
                if self.opts.detail >= 3 {
                    render::hex_dump(self.out, payload, 32)?;
                }
            }
            Event::Pat { offset, pat } => {
                if self.text(1) {
                    writeln!(
                        self.out,
                        "PAT at byte {offset}: transport_stream_id {} version {}",
                        pat.ts_id, pat.version
                    )?;
                    for (num, pid) in &pat.programs {
                        writeln!(self.out, "  program {num}: PMT PID {pid:#06x}")?;
                    }
                }
                self.pat = Some(pat.clone());
            }
            Event::Pmt { offset, pid, pmt } => {
                if self.text(1) {
                    writeln!(
                        self.out,
                        "PMT at byte {offset} on PID {pid:#06x}: program {} version {} PCR PID {:#06x}",
                        pmt.program, pmt.version, pmt.pcr_pid
                    )?;
                    for d in &pmt.descriptors {
                        writeln!(
                            self.out,
                            "  program descriptor {:#04x}: {}",
                            d.tag,
                            hex(&d.data)
                        )?;
                    }
                    for s in &pmt.streams {
                        let mut extra = String::new();
                        if let Some(l) = s.language() {
                            extra.push_str(&format!(" language {l}"));
                        }
                        if let Some(r) = s.registration() {
                            extra.push_str(&format!(
                                " registration {:?}",
                                String::from_utf8_lossy(&r)
                            ));
                        }
                        writeln!(
                            self.out,
                            "  stream PID {:#06x}: type {:#04x} ({}){extra}",
                            s.pid,
                            s.stream_type,
                            es::stream_type_name(s.stream_type)
                        )?;
                        for d in &s.descriptors {
                            writeln!(self.out, "    descriptor {:#04x}: {}", d.tag, hex(&d.data))?;
                        }
                    }
                }
                self.pmts.insert(*pid, pmt.clone());
            }
            Event::Pes { pid, unit } => {
                if self.text(1) && self.shown(*pid) && !unit.data.is_empty() {
                    match PesHeader::parse(&unit.data, unit.offset) {
                        Ok(h) => writeln!(
                            self.out,
                            "PES at byte {} on PID {pid:#06x}: stream_id {:#04x} PTS {} DTS {} length {} payload {}{}{}",
                            unit.offset,
                            h.stream_id,
                            h.pts.map_or("-".into(), |v| v.to_string()),
                            h.dts.map_or("-".into(), |v| v.to_string()),
                            h.packet_length,
                            unit.data.len().saturating_sub(h.header_len),
                            if unit.random_access { " random_access" } else { "" },
                            if unit.damaged { " DAMAGED" } else { "" },
                        )?,
                        Err(e) => writeln!(self.out, "PES on PID {pid:#06x}: {e}")?,
                    }
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
            if !(self.opts.pid.map_or(true, |x| x == pid)) || self.opts.detail < 1 {
                continue;
            }
            if self.opts.json {
                self.rows.push(PacketRow::of(&p));
            } else {
                render::packet_line(self.out, &self.meta, &p)?;
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
                .push(Finding::error(0, "no PAT in the stream")),
            Some(pat) => {
                for (num, pid) in &pat.programs {
                    if !self.pmts.contains_key(pid) {
                        self.findings.push(Finding::error(
                            0,
                            format!("program {num}: no PMT found on PID {pid:#x}"),
                        ));
                    }
                }
            }
            None => {}
        }
        if let Some(pmt) = &program.pmt {
            if !self.pcr.contains_key(&pmt.pcr_pid) && pmt.pcr_pid != 0x1FFF {
                self.findings.push(Finding::error(
                    0,
                    format!(
                        "program {}: no PCR found on PCR PID {:#x}",
                        pmt.program, pmt.pcr_pid
                    ),
                ));
            }
        }
    }

    fn summary(
        &mut self,
        reader: &Reader,
        program: &Program,
        size: Option<u64>,
    ) -> Result<(), AnalyseError> {
        let unit = reader.unit_size().unwrap_or(PACKET_SIZE);
        writeln!(
            self.out,
            "{} packets of {unit} bytes{}",
            reader.packets(),
            if unit != PACKET_SIZE { " (M2TS)" } else { "" }
        )?;
        if let Some(pat) = &self.pat {
            for (num, pmt_pid) in &pat.programs {
                let chosen = program.number == Some(*num);
                writeln!(
                    self.out,
                    "program {num}{}: PMT PID {pmt_pid:#06x}",
                    if chosen { " (read)" } else { "" }
                )?;
                if let Some(pmt) = self.pmts.get(pmt_pid) {
                    let pcr = self.pcr.get(&pmt.pcr_pid);
                    match pcr.filter(|p| p.count > 1) {
                        Some(p) => writeln!(
                            self.out,
                            "  PCR PID {:#06x}: {} PCRs, mean interval {:.1} ms, max {:.1} ms",
                            pmt.pcr_pid,
                            p.count,
                            p.sum_gap as f64 / (p.count - 1) as f64 / 27_000.0,
                            p.max_gap as f64 / 27_000.0
                        )?,
                        _ => writeln!(self.out, "  PCR PID {:#06x}", pmt.pcr_pid)?,
                    }
                    for s in &pmt.streams {
                        writeln!(
                            self.out,
                            "  PID {:#06x}: stream type {:#04x} ({}){}",
                            s.pid,
                            s.stream_type,
                            es::stream_type_name(s.stream_type),
                            s.language()
                                .map(|l| format!(", language {l}"))
                                .unwrap_or_default()
                        )?;
                    }
                }
            }
        }
        if let (Some(bytes), Some(stats)) = (size, &self.stats) {
            let r = stats
                .clone()
                .into_report(String::new(), "ts", size, None, Vec::new(), false);
            if r.duration_ms > 0 {
                writeln!(
                    self.out,
                    "overall bitrate {} kbit/s",
                    bytes * 8 / r.duration_ms as u64
                )?;
            }
        }
        Ok(())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
