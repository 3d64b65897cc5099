//! The copy engine `convert` and `remux` share: open, select tracks, trim on keyframes,
//! adapt framing, mux, and publish the output only when everything succeeded.
//!
//! Memory stays bounded by the largest packet plus the read buffer: packets flow one at a
//! time from demuxer to muxer, and only indexes (a few bytes per packet) are kept.

pub mod adapt;
pub mod pace;
pub mod package;
pub mod select;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::{Meta, Packet, Time, TrackId, TrackKind};
use crate::formats::{
    self, DemuxOptions, Demuxer, Finish, FormatError, FormatSpec, MuxOptions, Muxer,
};
use crate::io::atomic::AtomicFile;
use crate::io::sink::FileSink;
use crate::io::{ByteSink, Source};

pub use adapt::Adapter;
pub use select::Selection;

/// A validated conversion: what to read, what to write, and what to keep.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Input path (`-` for stdin).
    pub input: PathBuf,
    /// Output path (`-` for stdout).
    pub output: PathBuf,
    /// Input format, when forced; else detected from content and extension.
    pub from: Option<&'static FormatSpec>,
    /// Output format.
    pub to: &'static FormatSpec,
    /// Tracks to keep.
    pub tracks: Selection,
    /// Start at the keyframe at or before this time (counted from the input's start).
    pub start: Option<Time>,
    /// Stop before this time (counted from the input's start).
    pub end: Option<Time>,
    /// Overwrite an existing output.
    pub force: bool,
    /// Options for the muxer.
    pub mux: MuxOptions,
    /// Options for the demuxer (`--fps` for raw H.264).
    pub demux: DemuxOptions,
}

/// Receives progress; the CLI shows a bar, tests and pipes show nothing.
pub trait Progress {
    /// Work begins; `total` bytes of input when known.
    fn begin(&self, total: Option<u64>);
    /// `done` bytes of input consumed.
    fn advance(&self, done: u64);
    /// Work ended (successfully or not).
    fn end(&self);
}

/// Progress that goes nowhere.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// What a finished conversion did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Packets written.
    pub packets: u64,
    /// Bytes of the main output.
    pub bytes: u64,
    /// Tracks written.
    pub tracks: usize,
}

/// Why a conversion failed; the message is the one line the user sees.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The input could not be opened.
    #[error("{path}: {err}")]
    Open {
        /// The input.
        path: String,
        /// Why.
        err: io::Error,
    },
    /// No probe recognised the input and its extension says nothing.
    #[error("{0}: unknown format (use --from to say which)")]
    UnknownFormat(String),
    /// The input format has no reader yet.
    #[error("{path}: reading {format} is not built yet")]
    CannotRead {
        /// The input.
        path: String,
        /// Format name.
        format: &'static str,
    },
    /// The output format has no writer yet.
    #[error("{path}: writing {format} is not built yet")]
    CannotWrite {
        /// The output.
        path: String,
        /// Format name.
        format: &'static str,
    },
    /// Bad input, or a muxer that cannot take what the input holds.
    #[error("{path}: {err}")]
    Format {
        /// The file the error is about.
        path: String,
        /// What went wrong, with the offset.
        err: FormatError,
    },
    /// The output format cannot carry the tracks asked for.
    #[error("{path}: {why}")]
    CannotCarry {
        /// The output.
        path: String,
        /// Which tracks, and why.
        why: String,
    },
    /// The selection kept nothing.
    #[error("{0}: no tracks left to write (check --tracks)")]
    NoTracks(String),
    /// Writing the output failed.
    #[error("{path}: {err}")]
    Output {
        /// The output.
        path: String,
        /// Why.
        err: io::Error,
    },
}

/// Runs a conversion. On failure nothing is left at `plan.output`.
pub fn convert(plan: &Plan, progress: &dyn Progress) -> Result<Outcome, PipelineError> {
    let in_name = plan.input.display().to_string();
    let out_name = plan.output.display().to_string();
    let mut mux_options = plan.mux.clone();
    if mux_options.scratch_dir.is_none() && plan.output.as_os_str() != "-" {
        mux_options.scratch_dir = Some(match plan.output.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        });
    }
    let (mut demux, mut muxer, total) = open_both(plan, &mux_options)?;

    progress.begin(total);
    let result = (|| {
        let mut job = Job::prepare(plan, demux.as_mut(), &in_name, &out_name)?;
        if plan.output.as_os_str() == "-" {
            let stdout = io::stdout();
            let mut sink = FileSink::new(stdout.lock());
            let outcome = job.run(
                demux.as_mut(),
                muxer.as_mut(),
                &mut sink,
                progress,
                &mut |_| {},
            )?;
            sink.flush().map_err(|err| PipelineError::Output {
                path: out_name.clone(),
                err,
            })?;
            return Ok(outcome.0);
        }
        let mut out =
            AtomicFile::create(&plan.output, plan.force).map_err(|err| PipelineError::Output {
                path: out_name.clone(),
                err,
            })?;
        let mut sink = FileSink::new(out.take_file());
        let (outcome, finish) = job.run(
            demux.as_mut(),
            muxer.as_mut(),
            &mut sink,
            progress,
            &mut |_| {},
        )?;
        let out_err = |err| PipelineError::Output {
            path: out_name.clone(),
            err,
        };
        for (at, bytes) in &finish.patches {
            sink.patch(*at, bytes).map_err(out_err)?;
        }
        out.put_back(sink.into_inner().map_err(out_err)?);
        let fresher_by = finish
            .side_files
            .iter()
            .map(|s| s.fresher_by)
            .max()
            .unwrap_or_default();
        if !fresher_by.is_zero() {
            let when = std::time::SystemTime::now()
                .checked_sub(fresher_by)
                .unwrap_or(std::time::UNIX_EPOCH);
            out.file().set_modified(when).map_err(out_err)?;
        }
        let mut sides = Vec::new();
        for side in finish.side_files {
            let path = side_path(&plan.output, side.suffix);
            let mut f =
                AtomicFile::create(&path, plan.force).map_err(|err| PipelineError::Output {
                    path: path.display().to_string(),
                    err,
                })?;
            write_chunks(f.file(), side.chunks).map_err(|err| PipelineError::Output {
                path: path.display().to_string(),
                err,
            })?;
            sides.push(f);
        }
        // The main output first, so side files (indexes) are never older than what they index.
        out.commit().map_err(out_err)?;
        for f in sides {
            let p = f.target().display().to_string();
            f.commit()
                .map_err(|err| PipelineError::Output { path: p, err })?;
        }
        Ok(outcome)
    })();
    progress.end();
    result
}

/// Runs a conversion into `sink` instead of a file (serve's progressive outputs): the same
/// selection, trims, framing and muxer as [`convert`] to a streaming output such as stdout,
/// so the bytes are the ones `convert` writes. `plan.output` only names the output in errors.
pub fn convert_into(plan: &Plan, sink: &mut dyn ByteSink) -> Result<Outcome, PipelineError> {
    convert_into_with(plan, sink, &mut |_| {})
}

/// [`convert_into`], calling `before_each` with every packet's decode time just before the
/// packet is written: the hook serve paces deliveries with (`?rate=`, see [`pace`]).
pub fn convert_into_with(
    plan: &Plan,
    sink: &mut dyn ByteSink,
    before_each: &mut dyn FnMut(Time),
) -> Result<Outcome, PipelineError> {
    let in_name = plan.input.display().to_string();
    let out_name = plan.output.display().to_string();
    let (mut demux, mut muxer, _) = open_both(plan, &plan.mux)?;
    let mut job = Job::prepare(plan, demux.as_mut(), &in_name, &out_name)?;
    let (outcome, _) = job.run(demux.as_mut(), muxer.as_mut(), sink, &Silent, before_each)?;
    Ok(outcome)
}

/// A conversion opened and planned but not run: the output's tracks (with the index of
/// exactly what will be written, when the output needs one) and its packets, in the
/// output's framing, from any time on. serve answers byte ranges of a file's MP4 with it:
/// the layout is computed once from [`meta`](Prepared::meta), and each range reads only the
/// packets it needs.
///
/// Packets come as the input has them: no shift of negative times, so this is for outputs
/// that store them ([`crate::formats::MuxCaps::negative_times`]); [`prepare`] refuses others.
pub struct Prepared {
    demux: Box<dyn Demuxer>,
    job: Job,
}

/// Opens and plans `plan` (selection, window, framing, index) without writing anything.
pub fn prepare(plan: &Plan) -> Result<Prepared, PipelineError> {
    let in_name = plan.input.display().to_string();
    let out_name = plan.output.display().to_string();
    if !plan.to.mux_caps.negative_times {
        return Err(PipelineError::CannotWrite {
            path: out_name,
            format: plan.to.name,
        });
    }
    let (mut demux, _) = open_input(plan)?;
    let mut job = Job::prepare(plan, demux.as_mut(), &in_name, &out_name)?;
    job.ended = vec![false; job.keep.len()];
    Ok(Prepared { demux, job })
}

impl Prepared {
    /// The output's tracks, and its index when the output needs one.
    pub fn meta(&self) -> &Meta {
        &self.job.meta
    }

    /// Forgets the output's index (a few bytes per packet) once it has been used.
    pub fn drop_index(&mut self) {
        self.job.meta.index = None;
    }

    /// Positions the reader so that every packet of the window at or after `to` is still
    /// ahead (earlier ones may come too; callers skip what they do not need).
    pub fn seek(&mut self, to: Time) -> Result<(), PipelineError> {
        let to = self.job.start.map_or(to, |s| s.max(to));
        self.demux.seek(to).map_err(|err| PipelineError::Format {
            path: self.job.in_name.clone(),
            err,
        })?;
        self.job.ended = vec![false; self.job.keep.len()];
        Ok(())
    }

    /// The next packet of the window, in the output's framing, or `None` at its end.
    pub fn next_packet(&mut self) -> Result<Option<Packet>, PipelineError> {
        Ok(self.job.next_kept(self.demux.as_mut())?.map(|(_, p)| p))
    }
}

/// An opened input, its output's muxer, and the input's length when known.
type Opened = (Box<dyn Demuxer>, Box<dyn Muxer>, Option<u64>);

/// Opens the plan's input (detecting its format unless forced) and creates its muxer;
/// also returns the input's length when known.
fn open_both(plan: &Plan, mux_options: &MuxOptions) -> Result<Opened, PipelineError> {
    let new_muxer = plan.to.muxer.ok_or(PipelineError::CannotWrite {
        path: plan.output.display().to_string(),
        format: plan.to.name,
    })?;
    let (demux, total) = open_input(plan)?;
    Ok((demux, new_muxer(mux_options), total))
}

/// Opens the plan's input (detecting its format unless forced), with its length when known.
fn open_input(plan: &Plan) -> Result<(Box<dyn Demuxer>, Option<u64>), PipelineError> {
    let in_name = plan.input.display().to_string();
    let src = Source::open(&plan.input)
        .map_err(|err| PipelineError::Open {
            path: in_name.clone(),
            err,
        })?
        .with_demux_options(plan.demux.clone());
    let from = match plan.from {
        Some(f) => f,
        None => formats::detect(src.head(), src.path())
            .ok_or_else(|| PipelineError::UnknownFormat(in_name.clone()))?,
    };
    let open = from.open.ok_or(PipelineError::CannotRead {
        path: in_name.clone(),
        format: from.name,
    })?;
    let total = src.len();
    let demux = open(src).map_err(|err| PipelineError::Format {
        path: in_name.clone(),
        err,
    })?;
    Ok((demux, total))
}

/// Writes side-file chunks in order, copying scratch files through a bounded buffer.
pub fn write_chunks(out: &mut std::fs::File, chunks: Vec<formats::Chunk>) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 20, out);
    for c in chunks {
        match c {
            formats::Chunk::Bytes(b) => w.write_all(&b)?,
            formats::Chunk::File { mut file, len } => {
                use std::io::{Read, Seek};
                file.seek(io::SeekFrom::Start(0))?;
                let copied = io::copy(&mut (&mut file).take(len), &mut w)?;
                if copied != len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "scratch file shorter than expected",
                    ));
                }
            }
        }
    }
    w.flush()
}

/// `OUT` + `suffix` (`x.dtsc` → `x.dtsc.dtsh`).
pub fn side_path(output: &Path, suffix: &str) -> PathBuf {
    let mut s = output.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Per-conversion state: the output tracks, their adapters, the time window.
struct Job {
    meta: Meta,
    keep: Vec<(TrackId, Adapter)>,
    start: Option<Time>,
    end: Option<Time>,
    ended: Vec<bool>,
    negative_ok: bool,
    in_name: String,
    out_name: String,
}

/// What a job writes to: a name for messages and what its writer needs.
#[derive(Clone, Copy)]
struct Target<'a> {
    name: &'a str,
    caps: formats::MuxCaps,
}

impl Job {
    fn prepare(
        plan: &Plan,
        demux: &mut dyn Demuxer,
        in_name: &str,
        out_name: &str,
    ) -> Result<Job, PipelineError> {
        let target = Target {
            name: plan.to.name,
            caps: plan.to.mux_caps,
        };
        Job::prepare_for(plan, target, demux, in_name, out_name)
    }

    fn prepare_for(
        plan: &Plan,
        target: Target<'_>,
        demux: &mut dyn Demuxer,
        in_name: &str,
        out_name: &str,
    ) -> Result<Job, PipelineError> {
        let in_err = |err| PipelineError::Format {
            path: in_name.to_string(),
            err,
        };
        let source = demux.meta().clone();
        let mut meta = Meta {
            tracks: Vec::new(),
            // What convert writes is a file, even from a live recording: MistServer serves a
            // DTSC header that still says `live` as a live stream waiting for more.
            live: false,
            unix_zero: source.unix_zero,
            index: None,
            tags: source.tags.clone().filter(|_| !plan.mux.strip_tags),
        };
        let mut keep = Vec::new();
        let mut kept_positions = Vec::new();
        let mut skipped = Vec::new();
        for (i, t) in source.tracks.iter().enumerate() {
            if !plan.tracks.keeps(t) {
                continue;
            }
            let Some(want) = (target.caps.framing)(&t.codec) else {
                let what = format!(
                    "{} track {} ({})",
                    t.kind.as_str(),
                    t.id,
                    t.codec.ffprobe_name()
                );
                // Without --tracks, take what the output can carry (`x.flv` → `y.mp3` keeps
                // the audio), as ffmpeg picks streams; an explicit selection is honoured or
                // refused.
                if plan.tracks.is_implicit() {
                    tracing::info!("{what} left out: {} cannot carry it", target.name);
                    skipped.push(what);
                    continue;
                }
                return Err(PipelineError::CannotCarry {
                    path: out_name.to_string(),
                    why: format!("{} cannot carry {what}", target.name),
                });
            };
            let adapter = Adapter::new(t, want).map_err(|err| PipelineError::Format {
                path: out_name.to_string(),
                err,
            })?;
            meta.tracks.push(adapter.track(t));
            keep.push((t.id, adapter));
            kept_positions.push(i);
        }
        if keep.is_empty() {
            return Err(if skipped.is_empty() {
                PipelineError::NoTracks(in_name.to_string())
            } else {
                PipelineError::CannotCarry {
                    path: out_name.to_string(),
                    why: format!(
                        "{} cannot carry any track of {in_name}: {}",
                        target.name,
                        skipped.join(", ")
                    ),
                }
            });
        }

        // --start/--end count from the start of the input (its earliest decode time), as
        // ffmpeg's -ss/-to do: a TS that starts at 1.4 s cut with --start 2 begins near 3.4 s.
        let (mut start, mut end) = (plan.start, plan.end);
        if plan.start.is_some() || plan.end.is_some() {
            demux.build_index().map_err(in_err)?;
            let source = demux.meta();
            let origin = source.index.as_ref().and_then(|index| {
                kept_positions
                    .iter()
                    .filter_map(|&i| {
                        let ti = index.tracks.get(i)?;
                        (!ti.parts.is_empty() || !ti.keys.is_empty())
                            .then(|| Time::new(ti.first, source.tracks[i].timebase))
                    })
                    .min()
            });
            if let Some(o) = origin {
                let shift = |t: Time| Time::new(o.ticks + t.ceil_in(o.base).0, o.base);
                start = start.map(shift);
                end = end.map(shift);
            }
        }
        // Trimming on keyframes: start at the key at or before the start of the first kept
        // video track (every track from that time on), or exactly there without video.
        if let Some(want) = start {
            let source = demux.meta();
            let video = kept_positions
                .iter()
                .copied()
                .find(|&i| source.tracks[i].kind == TrackKind::Video);
            if let (Some(i), Some(index)) = (video, source.index.as_ref()) {
                let t = &source.tracks[i];
                if let Some(key) = index
                    .tracks
                    .get(i)
                    .and_then(|ti| ti.key_at_or_before(want.ceil_in(t.timebase)))
                {
                    start = Some(Time::new(key.time, t.timebase));
                }
            }
            if let Some(s) = start {
                demux.seek(s).map_err(in_err)?;
            }
        }
        let mut job = Job {
            meta,
            keep,
            start,
            end,
            ended: Vec::new(),
            negative_ok: target.caps.negative_times,
            in_name: in_name.to_string(),
            out_name: out_name.to_string(),
        };
        if target.caps.needs_index {
            demux.build_index().map_err(in_err)?;
            // Selection keeps whole tracks, so the source's index still describes each kept
            // track. A time window drops packets: then the index of exactly what will be
            // written is built by one pass over the window (payloads dropped), and the reader
            // is rewound.
            if plan.start.is_none() && plan.end.is_none() {
                if let Some(idx) = &demux.meta().index {
                    job.meta.index = Some(crate::dtsc::Index {
                        tracks: kept_positions
                            .iter()
                            .filter_map(|&i| idx.tracks.get(i).cloned())
                            .collect(),
                    });
                }
            } else {
                job.index_window(demux)?;
            }
        }
        Ok(job)
    }

    /// Builds `meta.index` from the packets the window lets through, then rewinds the reader.
    fn index_window(&mut self, demux: &mut dyn Demuxer) -> Result<(), PipelineError> {
        let mut builders: Vec<Builder> = self
            .meta
            .tracks
            .iter()
            .map(|t| Builder::new(t.kind == TrackKind::Video, t.timebase))
            .collect();
        self.ended = vec![false; self.keep.len()];
        while let Some((slot, pkt)) = self.next_kept(demux)? {
            builders[slot].push(PartInfo {
                dts: pkt.dts,
                cts: pkt.cts,
                size: pkt.data.len() as u32,
                keyframe: pkt.keyframe,
                pos: pkt.pos.unwrap_or(0),
                unit_size: pkt.data.len() as u64,
            });
        }
        self.meta.index = Some(crate::dtsc::Index {
            tracks: builders.into_iter().map(Builder::finish).collect(),
        });
        let rewind = self.start.unwrap_or(Time::new(
            crate::dtsc::Ticks(i64::MIN / 4),
            crate::dtsc::Timebase::MS,
        ));
        demux.seek(rewind).map_err(|err| PipelineError::Format {
            path: self.in_name.clone(),
            err,
        })
    }

    /// The next packet to write: selected, inside the time window, in the muxer's framing.
    fn next_kept(
        &mut self,
        demux: &mut dyn Demuxer,
    ) -> Result<Option<(usize, Packet)>, PipelineError> {
        loop {
            let pkt = demux.next_packet().map_err(|err| PipelineError::Format {
                path: self.in_name.clone(),
                err,
            })?;
            let Some(pkt) = pkt else { return Ok(None) };
            let Some(slot) = self.keep.iter().position(|(id, _)| *id == pkt.track) else {
                continue;
            };
            let t = Time::new(pkt.dts, self.meta.tracks[slot].timebase);
            if self.start.is_some_and(|s| t < s) {
                continue;
            }
            if self.end.is_some_and(|e| t >= e) {
                self.ended[slot] = true;
                if self.ended.iter().all(|e| *e) {
                    return Ok(None);
                }
                continue;
            }
            let pkt = self.keep[slot]
                .1
                .apply(pkt)
                .map_err(|err| PipelineError::Format {
                    path: self.out_name.clone(),
                    err,
                })?;
            return Ok(Some((slot, pkt)));
        }
    }

    fn run(
        &mut self,
        demux: &mut dyn Demuxer,
        muxer: &mut dyn Muxer,
        sink: &mut dyn ByteSink,
        progress: &dyn Progress,
        before_each: &mut dyn FnMut(Time),
    ) -> Result<(Outcome, Finish), PipelineError> {
        let out_name = self.out_name.clone();
        let out_err = |err| PipelineError::Format {
            path: out_name.clone(),
            err,
        };
        // Whatever index the muxer needed, it has now taken in: drop both copies (the
        // demuxer's and ours), a few bytes per packet each.
        demux.drop_index();
        muxer.start(&self.meta, sink).map_err(out_err)?;
        self.meta.index = None;
        let mut outcome = Outcome {
            tracks: self.meta.tracks.len(),
            ..Outcome::default()
        };
        self.ended = vec![false; self.keep.len()];

        let (mut pending, shift) = self.lookahead_shift(demux)?;

        let mut last_report = 0u64;
        loop {
            let next = match pending.pop_front() {
                Some(x) => Some(x),
                None => self.next_kept(demux)?,
            };
            let Some((slot, mut pkt)) = next else { break };
            pkt.dts = pkt.dts + shift[slot];
            before_each(Time::new(pkt.dts, self.meta.tracks[slot].timebase));
            muxer.write(&pkt, sink).map_err(out_err)?;
            outcome.packets += 1;
            let pos = demux.position();
            if pos.saturating_sub(last_report) >= 1 << 20 {
                progress.advance(pos);
                last_report = pos;
            }
        }
        let finish = muxer.finish(sink).map_err(out_err)?;
        outcome.bytes = sink.position();
        Ok((outcome, finish))
    }

    /// Containers that cannot store negative decode times (everything but MP4, whose edit
    /// lists can) get every track shifted by the same amount, decided from the first packets:
    /// what ffmpeg's avoid_negative_ts does, and what MistServer's inputs do. Returns the
    /// packets read ahead to decide it (to be written first) and the shift of each track in
    /// its own ticks.
    #[allow(clippy::type_complexity)]
    fn lookahead_shift(
        &mut self,
        demux: &mut dyn Demuxer,
    ) -> Result<(std::collections::VecDeque<(usize, Packet)>, Vec<i64>), PipelineError> {
        let mut pending = std::collections::VecDeque::new();
        let mut shift = vec![0i64; self.keep.len()];
        if !self.negative_ok {
            let mut seen = vec![false; self.keep.len()];
            while pending.len() < LOOKAHEAD_PACKETS && !seen.iter().all(|s| *s) {
                let Some((slot, p)) = self.next_kept(demux)? else {
                    break;
                };
                seen[slot] = true;
                pending.push_back((slot, p));
            }
            let earliest = pending
                .iter()
                .map(|(slot, p): &(usize, Packet)| {
                    Time::new(p.dts, self.meta.tracks[*slot].timebase)
                })
                .min();
            if let Some(min) = earliest.filter(|m| m.ticks.0 < 0) {
                let by = Time::new(crate::dtsc::Ticks(-min.ticks.0), min.base);
                for (slot, t) in self.meta.tracks.iter().enumerate() {
                    shift[slot] = by.ceil_in(t.timebase).0;
                }
            }
        }
        Ok((pending, shift))
    }
}

/// Packets read ahead to find the earliest decode time when a muxer cannot store negative
/// times (a B-frame shift affects only the first few video packets).
const LOOKAHEAD_PACKETS: usize = 256;

/// Opens an input for reading packets directly (tests, serve's file inputs).
pub fn open(path: &Path) -> Result<Box<dyn Demuxer>, PipelineError> {
    let name = path.display().to_string();
    let src = Source::open(path).map_err(|err| PipelineError::Open {
        path: name.clone(),
        err,
    })?;
    let spec = formats::detect(src.head(), src.path())
        .ok_or_else(|| PipelineError::UnknownFormat(name.clone()))?;
    let open = spec.open.ok_or(PipelineError::CannotRead {
        path: name.clone(),
        format: spec.name,
    })?;
    open(src).map_err(|err| PipelineError::Format { path: name, err })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Codec, Packet, Ticks, Timebase, Track, TrackKind};
    use crate::formats::Format;
    use crate::io::VecSink;
    use bytes::Bytes;

    /// Packets from a list, as a demuxer would give them.
    struct Listed {
        meta: Meta,
        packets: std::collections::VecDeque<Packet>,
    }

    impl Demuxer for Listed {
        fn meta(&self) -> &Meta {
            &self.meta
        }
        fn next_packet(&mut self) -> Result<Option<Packet>, FormatError> {
            Ok(self.packets.pop_front())
        }
        fn build_index(&mut self) -> Result<(), FormatError> {
            Ok(())
        }
        fn seek(&mut self, _: Time) -> Result<(), FormatError> {
            Ok(())
        }
        fn position(&self) -> u64 {
            0
        }
    }

    fn pkt(track: u32, dts: i64, cts: i32, key: bool) -> Packet {
        Packet {
            track: TrackId(track),
            dts: Ticks(dts),
            cts,
            keyframe: key,
            data: Bytes::from_static(b"x"),
            pos: None,
        }
    }

    #[test]
    fn negative_decode_times_shift_every_track_alike() {
        // Video at 90 kHz starting two frames early (an MP4 B-frame shift: dts -6000, pts 0),
        // audio at 48 kHz from 0. Shifting by 6000/90000 s moves audio by exactly 3200 ticks.
        let v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MPEG);
        let a = Track::new(
            TrackId(2),
            TrackKind::Audio,
            Codec::Aac,
            Timebase::new(48_000).unwrap(),
        );
        let mut d = Listed {
            meta: Meta {
                tracks: vec![v, a],
                ..Meta::default()
            },
            packets: [
                pkt(1, -6000, 6000, true),
                pkt(2, 0, 0, true),
                pkt(1, -3000, 12000, false),
                pkt(2, 1024, 0, true),
                pkt(1, 0, 3000, false),
            ]
            .into(),
        };
        let plan = Plan {
            input: "in".into(),
            output: "out".into(),
            from: None,
            to: formats::spec(Format::Dtsc),
            tracks: Selection::default(),
            start: None,
            end: None,
            force: false,
            mux: MuxOptions::default(),
            demux: DemuxOptions::default(),
        };
        let mut job = Job::prepare(&plan, &mut d, "in", "out").unwrap();
        let mut m = crate::formats::dtsc::mux::Muxer::with_options(&MuxOptions::default());
        let mut sink = VecSink::default();
        job.run(&mut d, &mut m, &mut sink, &Silent, &mut |_| {})
            .unwrap();
        let _ = m.finish(&mut sink);
        let mut back =
            crate::formats::dtsc::demux::Demuxer::open(Source::from_bytes("o", sink.data)).unwrap();
        let mut got = Vec::new();
        while let Some(p) = back.next_packet().unwrap() {
            got.push((p.track.0, p.dts.0, p.pts().0));
        }
        // In ms: video dts 0, 33, 67 (pts 67, 167, 100); audio 67 and 67 + 21.333 = 88.
        assert_eq!(
            got,
            vec![
                (0, 0, 67),
                (1, 67, 67),
                (0, 33, 167),
                (1, 88, 88),
                (0, 67, 100)
            ]
        );
    }
}
