//! The TS demuxer: the sans-IO [`Reader`] over a [`Source`], one program's elementary streams
//! split into frames, times unwrapped, payloads converted to each codec's canonical framing
//! (H.264/HEVC Annex B → 4-byte length-prefixed without access unit delimiters, ADTS → raw
//! AAC), and an index built by one scan for `--start`/`--end`.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::time::Unwrapper;
use crate::dtsc::timeline::Timeline;
use crate::dtsc::{
    Audio, Codec, Index, Meta, Packet, Params, Ticks, Time, Timebase, Track, TrackId, TrackKind,
};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{Demuxer as DemuxerTrait, Finding};
use crate::io::{ChunkReader, Source};

use super::es::{self, Frame, Kind, Splitter};
use super::packet::{PACKET_SIZE, SYNC};
use super::pes::PesHeader;
use super::psi::{Pat, Pmt};
use super::reader::{Event, Reader};
use super::FORMAT;

/// How far `open` reads to find the PMT and every stream's codec configuration.
pub const PROBE_LIMIT: u64 = 16 << 20;
/// Bytes handed to the reader at a time.
const CHUNK: usize = 256 << 10;

/// Demuxer choices.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// The program_number to read; the first one in the PAT when `None`.
    pub program: Option<u16>,
}

/// One elementary stream of the chosen program.
#[derive(Debug)]
pub struct Stream {
    /// Its PID.
    pub pid: u16,
    /// The track its frames belong to: its PID, or, when a later PMT moved a stream of the
    /// same kind and codec to this PID, the track that stream had.
    pub track: TrackId,
    /// stream_type from the PMT.
    pub stream_type: u8,
    /// ISO 639 language from the PMT.
    pub lang: Option<String>,
    /// The frame splitter.
    pub splitter: Splitter,
    /// PIDs this stream had before a later PMT moved it: a reader that seeks back before the
    /// move meets its frames there again.
    pub earlier_pids: Vec<u16>,
}

/// Where a program's times stood at some point: the unwrapping reference (the file's own
/// time) and the timeline, to resume with after a seek.
pub type ResumeState = (Option<i64>, Option<Timeline>);

/// One program followed through PAT and PMT: its streams, and the shared timestamp unwrapping.
#[derive(Debug, Default)]
pub struct Program {
    want: Option<u16>,
    /// The chosen program_number, once the PAT named it.
    pub number: Option<u16>,
    /// Its PMT PID.
    pub pmt_pid: Option<u16>,
    /// Its PMT, once read.
    pub pmt: Option<Pmt>,
    /// Streams mist reads, in PMT order.
    pub streams: Vec<Stream>,
    last: Option<i64>,
    /// A stream a later PMT moves to another PID (same kind and codec) goes on as the same
    /// track (demuxing); otherwise each PID is its own track (analysing, as ffprobe lists).
    pub carry_over: bool,
    /// Bridges timestamp jumps (demuxing); `None` keeps the file's times (analysing).
    pub timeline: Option<Timeline>,
    /// PES packets a truncated input cut are listed (analysing, as ffprobe does) rather than
    /// dropped (demuxing: a cut frame is not written).
    pub keep_cut: bool,
}

impl Program {
    /// Follows program `want` (the first one when `None`), each PID a track, times as the
    /// file has them (what `analyse` shows).
    pub fn new(want: Option<u16>) -> Program {
        Program {
            want,
            keep_cut: true,
            ..Program::default()
        }
    }

    /// Follows program `want` for demuxing: streams moved by a later PMT go on as their
    /// tracks, and timestamp jumps are bridged.
    pub fn demuxing(want: Option<u16>) -> Program {
        Program {
            want,
            carry_over: true,
            timeline: Some(Timeline::bridge()),
            ..Program::default()
        }
    }

    /// Handles one reader event: tables choose the program and its streams, PES packets
    /// become frames (`(stream index, frame)` into `frames`), problems go to `findings`.
    pub fn handle(
        &mut self,
        e: Event,
        frames: &mut Vec<(usize, Frame)>,
        findings: &mut Vec<Finding>,
    ) {
        match e {
            Event::Pat { offset, pat } => self.pat(offset, &pat, findings),
            Event::Pmt { offset, pid, pmt } if Some(pid) == self.pmt_pid => {
                self.pmt(offset, pmt, findings)
            }
            Event::Pes { pid, unit } => {
                let Some(i) = self.streams.iter().position(|s| s.pid == pid).or_else(|| {
                    self.streams
                        .iter()
                        .position(|s| s.earlier_pids.contains(&pid))
                }) else {
                    return;
                };
                if let Some((want, got)) =
                    unit.length_mismatch.filter(|_| !unit.damaged && !unit.cut)
                {
                    findings.push(Finding::error(
                        unit.offset,
                        format!(
                            "PID {pid:#x}: PES_packet_length says {want} bytes, {got} were carried"
                        ),
                    ));
                }
                if unit.data.is_empty() {
                    return;
                }
                let s = &mut self.streams[i];
                if unit.cut && !self.keep_cut {
                    findings.push(Finding::warning(
                        unit.offset,
                        format!(
                            "PID {pid:#x}: the PES packet here was cut by the end of the file; its {} bytes of frames are dropped",
                            unit.data.len()
                        ),
                    ));
                    s.splitter.reset();
                    return;
                }
                if unit.damaged {
                    // A consequence of the damage reported where it is (a continuity gap, lost
                    // sync, a transport error): a warning saying what it cost.
                    findings.push(Finding::warning(
                        unit.offset,
                        format!(
                            "PID {pid:#x}: the PES packet here lost data; its {} bytes of frames are dropped",
                            unit.data.len()
                        ),
                    ));
                    s.splitter.reset();
                    return;
                }
                let h = match PesHeader::parse(&unit.data, unit.offset) {
                    Ok(h) => h,
                    Err(e) => {
                        findings.push(Finding::of_error(&e));
                        s.splitter.reset();
                        return;
                    }
                };
                let times = h.pts.map(|pts| {
                    let raw = h.dts.unwrap_or(pts);
                    let dts = match self.last {
                        None => raw as i64,
                        Some(l) => Unwrapper::place_near(33, raw, l),
                    };
                    self.last = Some(dts);
                    (dts, Unwrapper::place_near(33, pts, dts))
                });
                let payload = unit.data.slice(h.header_len.min(unit.data.len())..);
                let mut out = Vec::new();
                s.splitter.push(
                    unit.offset,
                    payload,
                    times,
                    unit.random_access,
                    &mut out,
                    findings,
                );
                let track = s.track;
                for mut f in out {
                    // Frame by frame (a PES may hold several): discontinuities bridged.
                    if let Some(tl) = &mut self.timeline {
                        let placed = tl.place(i, Timebase::MPEG, Ticks(f.dts));
                        findings.extend(crate::formats::timeline_finding(&placed, f.offset, track));
                        f.pts = (f.pts + placed.shift).max(placed.dts.0);
                        f.dts = placed.dts.0;
                    }
                    frames.push((i, f));
                }
            }
            Event::Finding(f) => findings.push(f),
            _ => {}
        }
    }

    fn pat(&mut self, offset: u64, pat: &Pat, findings: &mut Vec<Finding>) {
        let chosen = match self.want {
            Some(n) => pat.programs.iter().find(|(p, _)| *p == n),
            None => pat.programs.first(),
        };
        match chosen {
            Some(&(num, pid)) => {
                if self.pmt_pid.is_some_and(|p| p != pid) {
                    findings.push(Finding::warning(
                        offset,
                        format!("program {num} moved its PMT to PID {pid:#x}"),
                    ));
                }
                self.number = Some(num);
                self.pmt_pid = Some(pid);
            }
            None if self.want.is_some() => findings.push(Finding::error(
                offset,
                format!(
                    "program {} is not in the PAT (programs: {})",
                    self.want.unwrap_or(0),
                    pat.programs
                        .iter()
                        .map(|p| p.0.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            None => findings.push(Finding::error(offset, "PAT lists no program")),
        }
    }

    fn pmt(&mut self, offset: u64, pmt: Pmt, findings: &mut Vec<Finding>) {
        let later = self.pmt.is_some();
        for s in &pmt.streams {
            if self.streams.iter().any(|x| x.pid == s.pid) {
                continue;
            }
            let kind = Kind::of(s);
            match kind {
                Kind::Latm => findings.push(Finding::warning(
                    offset,
                    format!(
                        "PID {:#x}: AAC in LATM (stream type 0x11) is not supported; stream skipped",
                        s.pid
                    ),
                )),
                Kind::Other => findings.push(Finding::info(
                    offset,
                    format!(
                        "PID {:#x}: stream type {:#04x} ({}) is not read",
                        s.pid,
                        s.stream_type,
                        es::stream_type_name(s.stream_type)
                    ),
                )),
                _ => {
                    // A stream of the same kind and codec that this version no longer lists
                    // moved here: its track goes on.
                    let moved = (later && self.carry_over)
                        .then(|| {
                            self.streams.iter().position(|x| {
                                x.splitter.kind() == kind
                                    && !pmt.streams.iter().any(|n| n.pid == x.pid)
                            })
                        })
                        .flatten();
                    match moved {
                        Some(k) => {
                            let x = &mut self.streams[k];
                            findings.push(Finding::info(
                                offset,
                                format!(
                                    "PID {:#x} moves to PID {:#x} (PMT version {}): track {} goes on",
                                    x.pid, s.pid, pmt.version, x.track
                                ),
                            ));
                            if !x.earlier_pids.contains(&x.pid) {
                                x.earlier_pids.push(x.pid);
                            }
                            x.pid = s.pid;
                            x.stream_type = s.stream_type;
                            x.lang = s.language().or(x.lang.take());
                            x.splitter.reset();
                        }
                        None => {
                            if later {
                                findings.push(Finding::info(
                                    offset,
                                    format!(
                                        "PID {:#x}: a new stream in PMT version {}",
                                        s.pid, pmt.version
                                    ),
                                ));
                            }
                            self.streams.push(Stream {
                                pid: s.pid,
                                track: TrackId(u32::from(s.pid)),
                                stream_type: s.stream_type,
                                lang: s.language(),
                                splitter: Splitter::new(kind),
                                earlier_pids: Vec::new(),
                            });
                        }
                    }
                }
            }
        }
        self.pmt = Some(pmt);
    }

    /// True when the PMT is known and every stream can be described.
    pub fn ready(&self) -> bool {
        self.pmt.is_some() && self.streams.iter().all(|s| s.splitter.ready())
    }

    /// Forgets partial frames and anchors unwrapping at `near` (after a seek).
    pub fn restart(&mut self, near: Option<i64>) {
        for s in &mut self.streams {
            s.splitter.reset();
        }
        self.last = near;
        if let Some(tl) = &mut self.timeline {
            *tl = Timeline::bridge();
            tl.resume();
        }
    }

    /// Jumps the timeline found so far.
    pub fn jumps(&self) -> usize {
        self.timeline.as_ref().map_or(0, Timeline::jumps)
    }

    /// What [`resume`](Self::resume) needs to continue from here after a seek: the unwrapping
    /// reference (the file's own time) and the timeline.
    pub fn resume_state(&self) -> ResumeState {
        (self.last, self.timeline.clone())
    }

    /// Forgets partial frames and continues with a state taken by
    /// [`resume_state`](Self::resume_state) (after a seek past a timestamp jump).
    pub fn resume(&mut self, state: &ResumeState) {
        for s in &mut self.streams {
            s.splitter.reset();
        }
        self.last = state.0;
        self.timeline = state.1.clone();
        if let Some(tl) = &mut self.timeline {
            tl.resume();
        }
    }

    /// The tracks, in PMT order.
    pub fn tracks(&self) -> Vec<Track> {
        self.streams
            .iter()
            .filter_map(|s| {
                let kind = s.splitter.kind().track_kind()?;
                let learned = &s.splitter.learned;
                // Before its first frame, the codec the stream type names.
                let codec = learned.codec.clone().unwrap_or(match s.splitter.kind() {
                    Kind::H264 => Codec::H264,
                    Kind::Hevc => Codec::Hevc,
                    Kind::Adts => Codec::Aac,
                    Kind::Ac3 => Codec::Ac3,
                    _ if s.stream_type == 0x04 => Codec::Mp2,
                    _ => Codec::Mp3,
                });
                let mut t = Track::new(s.track, kind, codec, Timebase::MPEG);
                t.init = learned.init.clone().unwrap_or_default();
                t.lang = s.lang.clone();
                if kind == TrackKind::Audio {
                    t.params = Params::Audio(Audio {
                        rate: learned.rate,
                        channels: learned.channels,
                        sample_bits: 16,
                    });
                }
                // TS declares no picture size or rate: the SPS does.
                if t.codec == Codec::H264 {
                    if let Some(v) = crate::codec::h264_video(&t.init) {
                        t.params = Params::Video(v);
                    }
                }
                Some(t)
            })
            .collect()
    }
}

/// A frame in the core's form: the track's canonical framing.
pub fn to_packet(track: TrackId, kind: Kind, f: Frame) -> Packet {
    let data = match kind {
        Kind::H264 => es::units_to_length_prefixed(f.nal_units(), es::is_h264_aud),
        Kind::Hevc => es::units_to_length_prefixed(f.nal_units(), es::is_hevc_aud),
        Kind::Adts => match es::adts_header(&f.data) {
            Some(h) => f.data.slice(h.header_len.min(f.data.len())..),
            None => Bytes::new(),
        },
        _ => f.data,
    };
    Packet {
        track,
        dts: Ticks(f.dts),
        cts: (f.pts - f.dts).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        keyframe: f.key,
        data,
        pos: Some(f.offset),
    }
}

/// Bytes the frame's packet holds after [`to_packet`] (the index records packet sizes).
pub fn canonical_size(kind: Kind, f: &Frame) -> usize {
    let nal_sum = |aud: fn(&[u8]) -> bool| {
        f.nal_units()
            .filter(|n| !n.is_empty() && !aud(n))
            .map(|n| 4 + n.len())
            .sum()
    };
    match kind {
        Kind::H264 => nal_sum(es::is_h264_aud),
        Kind::Hevc => nal_sum(es::is_hevc_aud),
        Kind::Adts => {
            es::adts_header(&f.data).map_or(0, |h| f.data.len().saturating_sub(h.header_len))
        }
        _ => f.data.len(),
    }
}

/// Reads a transport stream.
pub struct Demuxer {
    src: ChunkReader<Source>,
    seekable: bool,
    reader: Reader,
    program: Program,
    meta: Meta,
    queue: VecDeque<Packet>,
    frames: Vec<(usize, Frame)>,
    findings: Vec<Finding>,
    done: bool,
    opts: Options,
    /// Where the index scan met timestamp jumps, and the state to resume with after each.
    jumps: Vec<(u64, ResumeState)>,
}

/// Opens `src` as TS, first program (the format table's `open`).
pub fn open(src: Source) -> Result<Box<dyn DemuxerTrait>, FormatError> {
    let opts = Options {
        program: src.demux_options().program,
    };
    Ok(Box::new(Demuxer::open(src, opts)?))
}

impl Demuxer {
    /// Opens `src`, reading ahead until the tracks are known.
    pub fn open(src: Source, opts: Options) -> Result<Demuxer, FormatError> {
        let seekable = src.is_seekable();
        let mut d = Demuxer {
            src: ChunkReader::new(src, 0),
            seekable,
            reader: Reader::new(),
            program: Program::demuxing(opts.program),
            meta: Meta::default(),
            queue: VecDeque::new(),
            frames: Vec::new(),
            findings: Vec::new(),
            done: false,
            opts,
            jumps: Vec::new(),
        };
        while !d.program.ready() && !d.done && d.src.offset() < PROBE_LIMIT {
            d.pump()?;
        }
        if d.program.pmt.is_none() {
            let why = match (d.reader.unit_size(), d.reader.pat()) {
                (None, _) => "no transport stream packets found".to_string(),
                (Some(_), None) => "no PAT found".to_string(),
                (Some(_), Some(_)) => match d.program.number {
                    Some(n) => format!("no PMT found for program {n}"),
                    None => "no usable program in the PAT".to_string(),
                },
            };
            let first = d
                .findings
                .iter()
                .find(|f| f.severity == crate::formats::Severity::Error);
            return Err(match first {
                Some(f) => match f.offset {
                    Some(at) => FormatError::invalid(FORMAT, at, format!("{why}: {}", f.message)),
                    None => FormatError::whole_invalid(FORMAT, format!("{why}: {}", f.message)),
                },
                None => FormatError::whole_invalid(FORMAT, why),
            });
        }
        d.meta.tracks = d.program.tracks();
        if seekable {
            d.survey()?;
        }
        for s in &d.program.streams {
            if !s.splitter.ready() {
                d.findings.push(Finding::general(
                    crate::formats::Severity::Warning,
                    format!(
                        "PID {:#x}: codec configuration not found in the first {} bytes",
                        s.pid,
                        d.src.offset()
                    ),
                ));
            }
        }
        Ok(d)
    }

    /// The program being read.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Reads the rest of the file for streams a later PMT version adds (they become tracks,
    /// with the configuration their first frames carry), so every packet has a track from the
    /// start. Streams already known are not assembled; the read position is kept.
    fn survey(&mut self) -> Result<(), FormatError> {
        let Some(unit) = self.reader.unit_size() else {
            return Ok(());
        };
        let prefix = unit - PACKET_SIZE;
        let resume = self.src.offset();
        let io = |e| FormatError::io(FORMAT, 0, e);
        self.src.seek_to(0).map_err(io)?;
        // Only the tables and streams not known yet are handed to a reader: a look at each
        // packet's PID, no copy of the rest.
        let known: Vec<u16> = self.program.streams.iter().map(|s| s.pid).collect();
        let mut wanted = vec![false; 8192];
        wanted[0] = true;
        if let Some(p) = self.program.pmt_pid {
            wanted[usize::from(p)] = true;
        }
        let mut reader = Reader::new();
        let mut program = Program::demuxing(self.opts.program);
        let (mut frames, mut findings) = (Vec::new(), Vec::new());
        let pid_at = |b: &[u8]| usize::from(b[1] & 0x1F) << 8 | usize::from(b[2]);
        loop {
            let mut n = self.src.fill_some(CHUNK).map_err(io)?;
            if n < unit {
                n = self.src.fill(unit).map_err(io)?;
                if n < unit {
                    break;
                }
            }
            let buf = self.src.buffered();
            let mut i = 0;
            let mut fed = false;
            while i + unit <= buf.len() {
                if buf[i + prefix] != SYNC {
                    // Out of step (garbage): on to the next sync byte.
                    i += buf[i + 1..]
                        .iter()
                        .position(|&b| b == SYNC)
                        .map_or(buf.len() - i, |k| (k + 1).saturating_sub(prefix).max(1));
                    continue;
                }
                let pid = pid_at(&buf[i + prefix..]);
                if wanted[pid] {
                    reader.feed(&buf[i..i + unit]);
                    fed = true;
                }
                i += unit;
            }
            self.src.take(i);
            if fed {
                while let Some(e) = reader.next_event() {
                    program.handle(e, &mut frames, &mut findings);
                }
                frames.clear();
                findings.clear();
                if let Some(p) = program.pmt_pid {
                    wanted[usize::from(p)] = true;
                }
                for s in &program.streams {
                    if !known.contains(&s.pid) {
                        wanted[usize::from(s.pid)] = true;
                    }
                }
            }
        }
        reader.finish();
        while let Some(e) = reader.next_event() {
            program.handle(e, &mut frames, &mut findings);
        }
        for t in program.tracks() {
            if self.meta.track(t.id).is_none() {
                self.meta.tracks.push(t);
            }
        }
        self.src.seek_to(resume).map_err(io)
    }

    /// Reads one chunk and turns its events into queued packets.
    fn pump(&mut self) -> Result<(), FormatError> {
        let n = self
            .src
            .fill_some(CHUNK)
            .map_err(|e| FormatError::io(FORMAT, self.src.offset(), e))?;
        if n == 0 {
            self.reader.finish();
            self.done = true;
        } else {
            let b = self.src.take(n);
            self.reader.feed(&b);
        }
        while let Some(e) = self.reader.next_event() {
            self.program.handle(e, &mut self.frames, &mut self.findings);
        }
        for (i, f) in self.frames.drain(..) {
            if let Some(s) = self.program.streams.get(i) {
                if s.splitter.kind().track_kind().is_some() {
                    self.queue
                        .push_back(to_packet(s.track, s.splitter.kind(), f));
                }
            }
        }
        Ok(())
    }

    /// The index, by one scan over the whole input with a separate reader (no payloads kept).
    pub fn scan_index(&mut self) -> Result<Index, FormatError> {
        let resume = self.src.offset();
        let io = |e| FormatError::whole(FORMAT, Problem::Io(e));
        self.src.seek_to(0).map_err(io)?;
        let mut reader = Reader::new();
        let mut program = Program::demuxing(self.opts.program);
        let mut jumps = Vec::new();
        let mut builders: Vec<Builder> = self
            .meta
            .tracks
            .iter()
            .map(|t| Builder::new(t.kind == TrackKind::Video, t.timebase))
            .collect();
        let mut frames = Vec::new();
        let mut findings = Vec::new();
        loop {
            let n = self.src.fill(CHUNK).map_err(io)?;
            if n == 0 {
                reader.finish();
            } else {
                let b = self.src.take(n);
                reader.feed(&b);
            }
            while let Some(e) = reader.next_event() {
                let at = match &e {
                    Event::Pes { unit, .. } => unit.offset,
                    _ => reader.offset(),
                };
                let before = program.jumps();
                program.handle(e, &mut frames, &mut findings);
                if program.jumps() > before {
                    jumps.push((at, program.resume_state()));
                }
            }
            for (i, f) in frames.drain(..) {
                let Some(s) = program.streams.get(i) else {
                    continue;
                };
                let Some(t) = self.meta.position(s.track) else {
                    continue;
                };
                let size = canonical_size(s.splitter.kind(), &f) as u32;
                builders[t].push(PartInfo {
                    dts: Ticks(f.dts),
                    cts: (f.pts - f.dts).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
                    size,
                    keyframe: f.key,
                    pos: f.offset,
                    unit_size: f.data.len() as u64,
                });
            }
            if n == 0 {
                break;
            }
            findings.clear();
        }
        self.src.seek_to(resume).map_err(io)?;
        self.jumps = jumps;
        Ok(Index {
            tracks: builders.into_iter().map(Builder::finish).collect(),
        })
    }
}

impl DemuxerTrait for Demuxer {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn next_packet(&mut self) -> Result<Option<Packet>, FormatError> {
        loop {
            if let Some(p) = self.queue.pop_front() {
                return Ok(Some(p));
            }
            if self.done {
                return Ok(None);
            }
            self.pump()?;
        }
    }

    fn build_index(&mut self) -> Result<(), FormatError> {
        if self.meta.index.is_none() {
            if !self.seekable {
                return Err(FormatError::whole(
                    FORMAT,
                    Problem::Unsupported("indexing a transport stream read from a pipe".into()),
                ));
            }
            let idx = self.scan_index()?;
            self.meta.index = Some(idx);
        }
        Ok(())
    }

    fn seek(&mut self, to: Time) -> Result<(), FormatError> {
        self.build_index()?;
        let Some(index) = &self.meta.index else {
            return Ok(());
        };
        let mut best: Option<(u64, Ticks)> = None;
        for (t, ti) in self.meta.tracks.iter().zip(&index.tracks) {
            if let Some(k) = ti.key_at_or_before(to.ceil_in(t.timebase)) {
                if best.is_none_or(|(p, _)| k.pos < p) {
                    best = Some((k.pos, k.time));
                }
            }
        }
        let (pos, near) = match best {
            Some((p, t)) => (p, Some(t.0)),
            None => (0, None),
        };
        // Offsets are those of sync bytes; an M2TS unit starts 4 bytes earlier.
        let prefix = self
            .reader
            .unit_size()
            .map_or(0, |u| u - super::packet::PACKET_SIZE) as u64;
        let start = pos.saturating_sub(prefix);
        self.src
            .seek_to(start)
            .map_err(|e| FormatError::io(FORMAT, start, e))?;
        self.reader.restart_at(start);
        // Index times are on the timeline: go on as it was at the last jump before `start`.
        match self.jumps.iter().rev().find(|j| j.0 <= start) {
            Some((_, state)) => self.program.resume(state),
            None => self.program.restart(near),
        }
        self.queue.clear();
        self.done = false;
        // What was read ahead from `start` on is read again and found again: opening reads a
        // whole chunk, so a small file's jump was reported once from there and once more
        // after a seek back before it.
        self.findings
            .retain(|f| f.offset.is_none_or(|at| at < start));
        Ok(())
    }

    fn position(&self) -> u64 {
        self.src.offset()
    }

    fn drop_index(&mut self) {
        self.meta.index = None;
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }
}

/// The incremental TS reader for streams (TS over HTTP/TCP, pipes), on the project's sans-IO
/// [`Reader`](crate::formats::Reader) contract: the first program's tracks are announced once
/// the PMT and every stream's codec configuration are known (or [`PROBE_LIMIT`] bytes in,
/// or at the end); packets read before that are held and follow the announcement.
pub struct StreamReader {
    reader: Reader,
    program: Program,
    announced: bool,
    eof: bool,
    held: Vec<Packet>,
    out: VecDeque<crate::formats::Event>,
    frames: Vec<(usize, Frame)>,
    findings: Vec<Finding>,
    streams_announced: usize,
}

impl StreamReader {
    /// A reader for program `opts.program` (the first one by default).
    pub fn new(opts: Options) -> StreamReader {
        StreamReader {
            reader: Reader::new(),
            program: Program::demuxing(opts.program),
            announced: false,
            eof: false,
            held: Vec::new(),
            out: VecDeque::new(),
            frames: Vec::new(),
            findings: Vec::new(),
            streams_announced: 0,
        }
    }

    fn announce(&mut self) {
        self.announced = true;
        self.streams_announced = self.program.streams.len();
        self.out
            .push_back(crate::formats::Event::Tracks(self.program.tracks()));
        for p in self.held.drain(..) {
            self.out.push_back(crate::formats::Event::Packet(p));
        }
    }
}

impl Default for StreamReader {
    fn default() -> Self {
        StreamReader::new(Options::default())
    }
}

impl crate::formats::Reader for StreamReader {
    fn feed(&mut self, chunk: Bytes) {
        self.reader.feed(&chunk);
    }

    fn next_event(&mut self) -> Result<Option<crate::formats::Event>, FormatError> {
        use crate::formats::Event as E;
        loop {
            if let Some(e) = self.out.pop_front() {
                return Ok(Some(e));
            }
            let Some(ev) = self.reader.next_event() else {
                if self.eof && !self.announced && self.program.pmt.is_some() {
                    self.announce();
                    continue;
                }
                return Ok(None);
            };
            self.program
                .handle(ev, &mut self.frames, &mut self.findings);
            for f in self.findings.drain(..) {
                self.out.push_back(E::Finding(f));
            }
            // A later PMT added a stream: announce the new track list before its packets.
            if self.announced && self.program.streams.len() > self.streams_announced {
                self.streams_announced = self.program.streams.len();
                self.out.push_back(E::Tracks(self.program.tracks()));
            }
            for (i, f) in self.frames.drain(..) {
                let Some(s) = self.program.streams.get(i) else {
                    continue;
                };
                if s.splitter.kind().track_kind().is_none() {
                    continue;
                }
                let p = to_packet(s.track, s.splitter.kind(), f);
                if self.announced {
                    self.out.push_back(E::Packet(p));
                } else {
                    self.held.push(p);
                }
            }
            if !self.announced
                && self.program.pmt.is_some()
                && (self.program.ready() || self.reader.offset() > PROBE_LIMIT)
            {
                self.announce();
            }
        }
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        self.reader.finish();
        self.eof = true;
        Ok(())
    }
}
