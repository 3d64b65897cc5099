//! The copy engine `convert` and `remux` share: open, select tracks, trim on keyframes,
//! adapt framing, mux, and publish the output only when everything succeeded.
//!
//! Memory stays bounded by the largest packet plus the read buffer: packets flow one at a
//! time from demuxer to muxer, and only indexes (a few bytes per packet) are kept.

pub mod adapt;
pub mod select;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::{Meta, Packet, Ticks, Time, Timebase, TrackId, TrackKind};
use crate::formats::{self, Demuxer, Finish, FormatError, FormatSpec, MuxOptions, Muxer};
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
    /// Start at the keyframe at or before this time.
    pub start: Option<Time>,
    /// Stop before this time.
    pub end: Option<Time>,
    /// Overwrite an existing output.
    pub force: bool,
    /// Options for the muxer.
    pub mux: MuxOptions,
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
    let src = Source::open(&plan.input).map_err(|err| PipelineError::Open {
        path: in_name.clone(),
        err,
    })?;
    let from = match plan.from {
        Some(f) => f,
        None => formats::detect(src.head(), src.path())
            .ok_or_else(|| PipelineError::UnknownFormat(in_name.clone()))?,
    };
    let open = from.open.ok_or(PipelineError::CannotRead {
        path: in_name.clone(),
        format: from.name,
    })?;
    let out_name = plan.output.display().to_string();
    let new_muxer = plan.to.muxer.ok_or(PipelineError::CannotWrite {
        path: out_name.clone(),
        format: plan.to.name,
    })?;
    let in_err = |err| PipelineError::Format {
        path: in_name.clone(),
        err,
    };
    let total = src.len();
    let mut demux = open(src).map_err(in_err)?;
    let mut muxer = new_muxer(&plan.mux);

    progress.begin(total);
    let result = (|| {
        let mut job = Job::prepare(plan, demux.as_mut(), &in_name, &out_name)?;
        if plan.output.as_os_str() == "-" {
            let stdout = io::stdout();
            let mut sink = FileSink::new(stdout.lock());
            let outcome = job.run(demux.as_mut(), muxer.as_mut(), &mut sink, progress)?;
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
        let (outcome, finish) = job.run(demux.as_mut(), muxer.as_mut(), &mut sink, progress)?;
        let out_err = |err| PipelineError::Output {
            path: out_name.clone(),
            err,
        };
        for (at, bytes) in &finish.patches {
            sink.patch(*at, bytes).map_err(out_err)?;
        }
        out.put_back(sink.into_inner().map_err(out_err)?);
        let mut sides = Vec::new();
        for side in &finish.side_files {
            let path = side_path(&plan.output, side.suffix);
            let mut f =
                AtomicFile::create(&path, plan.force).map_err(|err| PipelineError::Output {
                    path: path.display().to_string(),
                    err,
                })?;
            f.file()
                .write_all(&side.data)
                .map_err(|err| PipelineError::Output {
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
    in_name: String,
    out_name: String,
}

impl Job {
    fn prepare(
        plan: &Plan,
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
            live: source.live,
            unix_zero: source.unix_zero,
            index: None,
        };
        let mut keep = Vec::new();
        let mut kept_positions = Vec::new();
        for (i, t) in source.tracks.iter().enumerate() {
            if !plan.tracks.keeps(t) {
                continue;
            }
            let want =
                (plan.to.mux_caps.framing)(&t.codec).ok_or_else(|| PipelineError::Format {
                    path: out_name.to_string(),
                    err: FormatError::new(
                        plan.to.name,
                        0,
                        formats::Problem::Unsupported(format!(
                            "{} track {} ({}) in {}",
                            t.kind.as_str(),
                            t.id,
                            t.codec.ffprobe_name(),
                            plan.to.name
                        )),
                    ),
                })?;
            let adapter = Adapter::new(t, want).map_err(|err| PipelineError::Format {
                path: out_name.to_string(),
                err,
            })?;
            meta.tracks.push(adapter.track(t));
            keep.push((t.id, adapter));
            kept_positions.push(i);
        }
        if keep.is_empty() {
            return Err(PipelineError::NoTracks(in_name.to_string()));
        }

        // Trimming on keyframes: start at the key at or before --start of the first kept video
        // track (every track from that time on), or exactly at --start without video.
        let mut start = plan.start;
        if let Some(want) = plan.start {
            demux.build_index().map_err(in_err)?;
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
        if plan.to.mux_caps.needs_index {
            demux.build_index().map_err(in_err)?;
            // Selection keeps whole tracks, so the source's index still describes each kept
            // track; a time window drops packets, so then the index of exactly what will be
            // written is built by one pass over the window (payloads dropped), and the reader
            // is rewound.
            if plan.start.is_none() && plan.end.is_none() {
                if let Some(idx) = &demux.meta().index {
                    meta.index = Some(crate::dtsc::Index {
                        tracks: kept_positions
                            .iter()
                            .filter_map(|&i| idx.tracks.get(i).cloned())
                            .collect(),
                    });
                }
            } else {
                let mut window = Window::new(&keep, &meta, start, plan.end);
                let mut adapters: Vec<Adapter> = keep.iter().map(|(_, a)| a.clone()).collect();
                let mut builders: Vec<Builder> = meta
                    .tracks
                    .iter()
                    .map(|t| Builder::new(t.kind == TrackKind::Video, t.timebase))
                    .collect();
                let rewind = start.unwrap_or(Time::new(Ticks(i64::MIN / 4), Timebase::MS));
                while let Some(pkt) = demux.next_packet().map_err(in_err)? {
                    let slot = match window.admit(&pkt) {
                        Admit::Write(slot) => slot,
                        Admit::Skip => continue,
                        Admit::Stop => break,
                    };
                    let pos = pkt.pos.unwrap_or(0);
                    let pkt = adapters[slot].apply(pkt).map_err(|err| PipelineError::Format {
                        path: out_name.to_string(),
                        err,
                    })?;
                    builders[slot].push(PartInfo {
                        dts: pkt.dts,
                        cts: pkt.cts,
                        size: pkt.data.len() as u32,
                        keyframe: pkt.keyframe,
                        pos,
                        unit_size: pkt.data.len() as u64,
                    });
                }
                meta.index = Some(crate::dtsc::Index {
                    tracks: builders.into_iter().map(Builder::finish).collect(),
                });
                demux.seek(rewind).map_err(in_err)?;
            }
        }
        Ok(Job {
            meta,
            keep,
            start,
            end: plan.end,
            in_name: in_name.to_string(),
            out_name: out_name.to_string(),
        })
    }

    fn run(
        &mut self,
        demux: &mut dyn Demuxer,
        muxer: &mut dyn Muxer,
        sink: &mut dyn ByteSink,
        progress: &dyn Progress,
    ) -> Result<(Outcome, Finish), PipelineError> {
        let out_err = |err| PipelineError::Format {
            path: self.out_name.clone(),
            err,
        };
        muxer.start(&self.meta, sink).map_err(out_err)?;
        let mut outcome = Outcome {
            tracks: self.meta.tracks.len(),
            ..Outcome::default()
        };
        let mut window = Window::new(&self.keep, &self.meta, self.start, self.end);
        let mut last_report = 0u64;
        loop {
            let pkt = demux.next_packet().map_err(|err| PipelineError::Format {
                path: self.in_name.clone(),
                err,
            })?;
            let Some(pkt) = pkt else { break };
            let slot = match window.admit(&pkt) {
                Admit::Write(slot) => slot,
                Admit::Skip => continue,
                Admit::Stop => break,
            };
            let pkt = self.keep[slot].1.apply(pkt).map_err(out_err)?;
            muxer.write(&pkt, sink).map_err(out_err)?;
            outcome.packets += 1;
            let pos = demux.position();
            if pos - last_report >= 1 << 20 {
                progress.advance(pos);
                last_report = pos;
            }
        }
        let finish = muxer.finish(sink).map_err(out_err)?;
        outcome.bytes = sink.position();
        Ok((outcome, finish))
    }
}

/// What to do with a packet.
enum Admit {
    /// Write it, for the kept track at this slot.
    Write(usize),
    /// Leave it out.
    Skip,
    /// Every kept track has passed the end: stop reading.
    Stop,
}

/// The track selection and time window, applied packet by packet (the same way by the
/// index pass and by the copy).
struct Window {
    ids: Vec<TrackId>,
    bases: Vec<Timebase>,
    start: Option<Time>,
    end: Option<Time>,
    ended: Vec<bool>,
}

impl Window {
    fn new(keep: &[(TrackId, Adapter)], meta: &Meta, start: Option<Time>, end: Option<Time>) -> Window {
        Window {
            ids: keep.iter().map(|(id, _)| *id).collect(),
            bases: meta.tracks.iter().map(|t| t.timebase).collect(),
            start,
            end,
            ended: vec![false; keep.len()],
        }
    }

    fn admit(&mut self, pkt: &Packet) -> Admit {
        let Some(slot) = self.ids.iter().position(|id| *id == pkt.track) else {
            return Admit::Skip;
        };
        let t = Time::new(pkt.dts, self.bases[slot]);
        if self.start.is_some_and(|s| t < s) {
            return Admit::Skip;
        }
        if self.end.is_some_and(|e| t >= e) {
            self.ended[slot] = true;
            if self.ended.iter().all(|e| *e) {
                return Admit::Stop;
            }
            return Admit::Skip;
        }
        Admit::Write(slot)
    }
}

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
