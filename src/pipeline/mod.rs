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
    self, DemuxOptions, Demuxer, Finish, FormatError, FormatSpec, MuxOptions, Muxer, Severity,
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
    /// Write what is readable of a damaged input (one warning per damaged region) instead of
    /// refusing it.
    pub salvage: bool,
}

/// Receives progress; the CLI shows a bar, tests and pipes show nothing.
pub trait Progress {
    /// Work begins; `total` bytes of input when known.
    fn begin(&self, total: Option<u64>);
    /// `done` bytes of input consumed.
    fn advance(&self, done: u64);
    /// Work ended (successfully or not).
    fn end(&self);
    /// One line the user should read (a track left out by default); the CLI prints it
    /// unless `-q`.
    fn note(&self, _line: &str) {}
    /// One line the user must see: a damaged region salvaged, a timestamp jump bridged,
    /// packets that were not written.
    fn warn(&self, _line: &str) {}
}

/// Progress that goes nowhere.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
}

/// Progress that only collects the warnings (tests, fuzzing).
#[derive(Default)]
pub struct Collect {
    /// The warning lines, in order.
    pub warnings: std::sync::Mutex<Vec<String>>,
}

impl Progress for Collect {
    fn begin(&self, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn end(&self) {}
    fn warn(&self, line: &str) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(line.to_string());
        }
    }
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
    /// Bytes of input read.
    pub input_bytes: u64,
    /// Media time written, in ms: the longest track's span of decode times.
    pub media_ms: i64,
    /// Damaged regions of the input that `--salvage` skipped.
    pub damaged: u64,
    /// Packets read from the input but not written (reported in the warnings).
    pub not_written: u64,
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
    /// The input holds no track at all.
    #[error("{0}: no audio, video or data tracks found")]
    NoTracks(String),
    /// An option that cannot do what it says on this input or output (`--fps` on a file
    /// with timestamps, `--start` past the end, a `--tracks` selector that matches nothing):
    /// the caller reports it as a usage error.
    #[error("{0}")]
    Usage(String),
    /// The input is damaged and `--salvage` was not asked for.
    #[error("{path} is damaged (--salvage writes what is readable): {message}{}", at_byte(*.offset))]
    Damaged {
        /// The input.
        path: String,
        /// Where the damage starts; `None` when it is about the input as a whole.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },
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
    let (mut demux, mut muxer, total, seekable) = open_both(plan, &mux_options, None)?;

    progress.begin(total);
    let result = (|| {
        let mut job = Job::prepare(plan, demux.as_mut(), &in_name, &out_name, total, seekable);
        if let Ok(j) = &mut job {
            j.flush_warnings(progress);
        }
        let mut job = job?;
        if let Some(note) = &job.note {
            progress.note(note);
        }
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

/// Refuses demuxer options that the input's format would ignore.
pub fn check_demux_options(
    opts: &DemuxOptions,
    from: &FormatSpec,
    in_name: &str,
) -> Result<(), PipelineError> {
    if opts.fps.is_some() && from.format != formats::Format::H264 {
        return Err(PipelineError::Usage(format!(
            "--fps only applies to raw H.264 input; {in_name} is {} (its packets carry their own times)",
            from.name
        )));
    }
    if opts.program.is_some() && from.format != formats::Format::Ts {
        return Err(PipelineError::Usage(format!(
            "--program only applies to MPEG-TS input; {in_name} is {}",
            from.name
        )));
    }
    Ok(())
}

/// `1 video h264, 2 audio aac`: the tracks of an input, for messages.
pub fn describe_tracks(tracks: &[crate::dtsc::Track]) -> String {
    tracks
        .iter()
        .map(|t| format!("{} {} {}", t.id, t.kind.as_str(), t.codec.ffprobe_name()))
        .collect::<Vec<_>>()
        .join(", ")
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
    let (mut demux, mut muxer, total, seekable) = open_both(plan, &plan.mux, None)?;
    let mut job = Job::prepare(plan, demux.as_mut(), &in_name, &out_name, total, seekable)?;
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
    let (mut demux, total, seekable) = open_input(plan, None)?;
    let mut job = Job::prepare(plan, demux.as_mut(), &in_name, &out_name, total, seekable)?;
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

/// Runs a conversion of bytes in memory into bytes in memory (fuzzing, tests): the same
/// detection, damage policy, selection, trims, framing and muxer as [`convert`], with the
/// muxer's end-of-stream patches applied. `plan.input` and `plan.output` only name the two
/// in errors; side files (a `.dtsh`) are not kept.
pub fn convert_bytes(
    plan: &Plan,
    input: Vec<u8>,
    progress: &dyn Progress,
) -> Result<(Vec<u8>, Outcome), PipelineError> {
    let in_name = plan.input.display().to_string();
    let out_name = plan.output.display().to_string();
    let src = Source::from_bytes(&in_name, input);
    let (mut demux, mut muxer, total, seekable) = open_both(plan, &plan.mux, Some(src))?;
    let mut job = Job::prepare(plan, demux.as_mut(), &in_name, &out_name, total, seekable)?;
    job.flush_warnings(progress);
    let mut sink = crate::io::VecSink::default();
    let (outcome, finish) = job.run(
        demux.as_mut(),
        muxer.as_mut(),
        &mut sink,
        progress,
        &mut |_| {},
    )?;
    for (at, bytes) in finish.patches {
        let at = at as usize;
        if let Some(dst) = sink.data.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(&bytes);
        }
    }
    Ok((sink.data, outcome))
}

/// An opened input, the input's length when known, and whether it can seek.
type Input = (Box<dyn Demuxer>, Option<u64>, bool);

/// An opened input, its output's muxer, the input's length when known, and whether the input
/// can seek.
type Opened = (Box<dyn Demuxer>, Box<dyn Muxer>, Option<u64>, bool);

/// Opens the plan's input (detecting its format unless forced; spooling a pipe that must be
/// read out of order) and creates its muxer; also returns the input's length when known and
/// whether it can seek.
fn open_both(
    plan: &Plan,
    mux_options: &MuxOptions,
    src: Option<Source>,
) -> Result<Opened, PipelineError> {
    let new_muxer = plan.to.muxer.ok_or(PipelineError::CannotWrite {
        path: plan.output.display().to_string(),
        format: plan.to.name,
    })?;
    let (demux, total, seekable) = open_input(plan, src)?;
    Ok((demux, new_muxer(mux_options), total, seekable))
}

/// Opens the plan's input (detecting its format unless forced; spooling a pipe that must be
/// read out of order), with its length when known and whether it can seek.
fn open_input(plan: &Plan, src: Option<Source>) -> Result<Input, PipelineError> {
    let in_name = plan.input.display().to_string();
    let src = match src {
        Some(s) => s,
        None => Source::open(&plan.input).map_err(|err| PipelineError::Open {
            path: in_name.clone(),
            err,
        })?,
    }
    .with_demux_options(plan.demux.clone());
    let from = match plan.from {
        Some(f) => f,
        None => formats::detect(src.head(), src.path())
            .ok_or_else(|| PipelineError::UnknownFormat(in_name.clone()))?,
    };
    check_demux_options(&plan.demux, from, &in_name)?;
    let open = from.open.ok_or(PipelineError::CannotRead {
        path: in_name.clone(),
        format: from.name,
    })?;
    // From a pipe, an input that must be read out of order (MP4's tables, an index for a
    // muxer that cannot do without one, a time window, a salvage pass) is spooled to a scratch
    // file beside the output (the temporary folder for stdout), as muxers spool their indexes.
    let caps = plan.to.mux_caps;
    let src = if !src.is_seekable()
        && (from.needs_seek
            || (caps.needs_index && (!caps.live || plan.salvage))
            || plan.start.is_some()
            || plan.end.is_some())
    {
        let dir = match plan.output.parent() {
            _ if plan.output.as_os_str() == "-" => std::env::temp_dir(),
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        src.spool(&dir).map_err(|err| PipelineError::Open {
            path: in_name.clone(),
            err,
        })?
    } else {
        src
    };
    let seekable = src.is_seekable();
    let total = src.len();
    let demux = open(src).map_err(|err| PipelineError::Format {
        path: in_name.clone(),
        err,
    })?;
    Ok((demux, total, seekable))
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

/// Per-conversion state: the output tracks, their adapters, the time window, and what the
/// damage policy has seen.
struct Job {
    meta: Meta,
    keep: Vec<(TrackId, Adapter)>,
    start: Option<Time>,
    end: Option<Time>,
    ended: Vec<bool>,
    negative_ok: bool,
    in_name: String,
    out_name: String,
    /// What the default track choice left out, for the user.
    note: Option<String>,
    in_len: Option<u64>,
    salvage: bool,
    /// Damaged regions met (and, under `--salvage`, skipped).
    damaged: u64,
    /// True after the input became unreadable and salvage ended it there.
    cut_short: bool,
    /// Findings were already reported by an earlier pass over the same input (the index
    /// pass): a second pass drops them.
    replay: bool,
    /// Lines for the user, shown by [`Job::flush_warnings`].
    warnings: Vec<String>,
    /// The input's tracks when the job was planned.
    source_tracks: Vec<TrackId>,
    /// Packets of tracks the input announced only after the job was planned (a stream added
    /// late in a pipe): counted, reported at the end.
    late: std::collections::BTreeMap<TrackId, u64>,
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
        in_len: Option<u64>,
        seekable: bool,
    ) -> Result<Job, PipelineError> {
        let target = Target {
            name: plan.to.name,
            caps: plan.to.mux_caps,
        };
        Job::prepare_for(plan, target, demux, in_name, out_name, in_len, seekable)
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_for(
        plan: &Plan,
        target: Target<'_>,
        demux: &mut dyn Demuxer,
        in_name: &str,
        out_name: &str,
        in_len: Option<u64>,
        seekable: bool,
    ) -> Result<Job, PipelineError> {
        let in_err = |err| damaged(in_name, err);
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
        if source.tracks.is_empty() {
            return Err(PipelineError::NoTracks(in_name.to_string()));
        }
        let implicit = plan.tracks.is_implicit();
        let unmatched = plan.tracks.unmatched(&source.tracks);
        if !unmatched.is_empty() {
            return Err(PipelineError::Usage(format!(
                "--tracks: {} {} no track of {in_name} (it has {}); selectors are track ids, \
                 video, audio, meta, subtitle, a codec name or all",
                unmatched.join(", "),
                if unmatched.len() == 1 {
                    "matches"
                } else {
                    "match"
                },
                describe_tracks(&source.tracks)
            )));
        }
        let to = target.name;
        let one_per_kind = target.caps.one_per_kind;
        let mut keep = Vec::new();
        let mut kept_positions: Vec<usize> = Vec::new();
        // (what, why) of each track the default choice left out.
        let mut skipped: Vec<(String, String)> = Vec::new();
        for (i, t) in source.tracks.iter().enumerate() {
            if !plan.tracks.keeps(t) {
                continue;
            }
            let what = format!(
                "{} track {} ({})",
                t.kind.as_str(),
                t.id,
                t.codec.ffprobe_name()
            );
            let Some(want) = (target.caps.framing)(&t.codec) else {
                // Without --tracks, take what the output can carry (`x.flv` → `y.mp3` keeps
                // the audio), as ffmpeg picks streams; an explicit selection is honoured or
                // refused.
                if implicit {
                    skipped.push((
                        what,
                        format!("{to} cannot carry {}", t.codec.ffprobe_name()),
                    ));
                    continue;
                }
                return Err(PipelineError::Usage(format!(
                    "--tracks {}: {to} cannot carry {what}",
                    plan.tracks
                )));
            };
            if one_per_kind {
                if let Some(&first) = kept_positions
                    .iter()
                    .find(|&&k| source.tracks[k].kind == t.kind)
                {
                    let kind = t.kind.as_str();
                    if implicit {
                        skipped.push((what, format!("{to} holds one {kind} track")));
                        continue;
                    }
                    let same: Vec<String> = source
                        .tracks
                        .iter()
                        .filter(|x| x.kind == t.kind && plan.tracks.keeps(x))
                        .map(|x| x.id.to_string())
                        .collect();
                    return Err(PipelineError::Usage(format!(
                        "--tracks {}: keeps {} {kind} tracks ({}) but {to} holds one; \
                         choose one, e.g. --tracks {}",
                        plan.tracks,
                        same.len(),
                        same.join(", "),
                        source.tracks[first].id
                    )));
                }
            }
            let adapter = Adapter::new(t, want).map_err(|err| PipelineError::Format {
                path: out_name.to_string(),
                err,
            })?;
            meta.tracks.push(adapter.track(t));
            keep.push((t.id, adapter));
            kept_positions.push(i);
        }
        let left_out = || {
            skipped
                .iter()
                .map(|(what, why)| format!("{what}: {why}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if keep.is_empty() {
            return Err(if implicit {
                PipelineError::CannotCarry {
                    path: out_name.to_string(),
                    why: format!("{to} cannot carry any track of {in_name} ({})", left_out()),
                }
            } else {
                PipelineError::Usage(format!(
                    "--tracks {}: keeps no track of {in_name} (it has {})",
                    plan.tracks,
                    describe_tracks(&source.tracks)
                ))
            });
        }
        let note = (!skipped.is_empty())
            .then(|| format!("{out_name}: left out {} (choose with --tracks)", left_out()));

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
            // A start past the last packet of every kept track would write an empty file.
            let last = source.index.as_ref().and_then(|index| {
                kept_positions
                    .iter()
                    .filter_map(|&i| {
                        let ti = index.tracks.get(i)?;
                        (!ti.parts.is_empty())
                            .then(|| Time::new(ti.last, source.tracks[i].timebase))
                    })
                    .max()
            });
            if let (Some(s), Some(l), Some(o), Some(asked)) = (start, last, origin, plan.start) {
                if s > l {
                    return Err(PipelineError::Usage(format!(
                        "--start {asked} is past the end of {in_name} (its last packet starts at {})",
                        Time::from_ms(l.as_ms() - o.as_ms())
                    )));
                }
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
            note,
            in_len,
            salvage: plan.salvage,
            damaged: 0,
            cut_short: false,
            replay: false,
            warnings: Vec::new(),
            source_tracks: source.tracks.iter().map(|t| t.id).collect(),
            late: Default::default(),
        };
        // What opening (and indexing) the input found.
        job.absorb(demux)?;
        // A muxer that can stream goes without its index from a pipe (not spooled).
        let caps = target.caps;
        if caps.needs_index && (seekable || !caps.live) {
            if !plan.salvage {
                demux.build_index().map_err(in_err)?;
                // Damage the index scan met refuses the input before anything is written.
                job.absorb(demux)?;
            }
            // Selection keeps whole tracks, so the source's index still describes each kept
            // track. A time window drops packets: then the index of exactly what will be
            // written is built by one pass over the window (payloads dropped), and the reader
            // is rewound.
            // Under --salvage the index is built from the packets themselves, so it describes
            // exactly what survives the damage.
            let whole = plan.start.is_none() && plan.end.is_none();
            if whole && !plan.salvage {
                job.index_from_source(demux, &kept_positions);
            } else {
                job.index_window(demux)?;
                // A salvage pass that met no damage: the source's own index (exact durations
                // of last samples), so salvaging a clean file writes what converting it does.
                if whole && job.damaged == 0 && !job.cut_short && demux.build_index().is_ok() {
                    let found = demux.take_findings();
                    if found.iter().all(|f| f.severity != Severity::Error) {
                        job.index_from_source(demux, &kept_positions);
                    }
                }
            }
        }
        Ok(job)
    }

    /// Takes the source's index of the kept tracks as the output's.
    fn index_from_source(&mut self, demux: &dyn Demuxer, kept_positions: &[usize]) {
        if let Some(idx) = &demux.meta().index {
            self.meta.index = Some(crate::dtsc::Index {
                tracks: kept_positions
                    .iter()
                    .filter_map(|&i| idx.tracks.get(i).cloned())
                    .collect(),
            });
        }
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
        self.replay = true;
        self.cut_short = false;
        match self.start {
            Some(s) => demux.seek(s),
            None => demux.rewind(),
        }
        .map_err(|err| damaged(&self.in_name, err))
    }

    /// Applies the damage policy to what the demuxer found since the last call: an error
    /// finding is a damaged region, refused by default and reported once under `--salvage`;
    /// warnings are shown; notes are not.
    fn absorb(&mut self, demux: &mut dyn Demuxer) -> Result<(), PipelineError> {
        self.absorb_found(demux.take_findings())
    }

    /// [`absorb`](Self::absorb) of findings already taken from the demuxer.
    fn absorb_found(&mut self, found: Vec<formats::Finding>) -> Result<(), PipelineError> {
        for f in found {
            if self.replay {
                continue;
            }
            match f.severity {
                Severity::Error if !self.salvage => {
                    return Err(PipelineError::Damaged {
                        path: self.in_name.clone(),
                        offset: f.offset,
                        message: f.message,
                    })
                }
                Severity::Error => {
                    self.damaged += 1;
                    self.warnings.push(format!(
                        "{}: damaged{}: {}",
                        self.in_name,
                        at_byte(f.offset),
                        f.message
                    ));
                }
                Severity::Warning => self.warnings.push(match f.offset {
                    Some(at) => format!("{}: at byte {at}: {}", self.in_name, f.message),
                    None => format!("{}: {}", self.in_name, f.message),
                }),
                Severity::Info => {}
            }
        }
        Ok(())
    }

    /// The demuxer cannot go on: an error, or under `--salvage` the end of what is readable.
    fn unreadable(&mut self, err: FormatError) -> Result<(), PipelineError> {
        let io = matches!(err.problem, formats::Problem::Io(_));
        if !self.salvage || io {
            return Err(damaged(&self.in_name, err));
        }
        self.cut_short = true;
        if !self.replay {
            self.damaged += 1;
            let rest = self
                .in_len
                .zip(err.byte())
                .map(|(l, at)| format!("; the last {} bytes are lost", l.saturating_sub(at)))
                .unwrap_or_else(|| "; the rest of the input is lost".into());
            self.warnings.push(format!(
                "{}: damaged{}: {}: {}{rest}",
                self.in_name,
                at_byte(err.byte()),
                err.format,
                err.problem
            ));
        }
        Ok(())
    }

    /// Under `--salvage`, the closing line that counts what was kept and what was damaged.
    fn salvage_summary(&self, packets: u64, progress: &dyn Progress) {
        if self.damaged > 0 {
            progress.warn(&format!(
                "{}: salvaged {packets} packets from {} ({} damaged region{} skipped)",
                self.out_name,
                self.in_name,
                self.damaged,
                if self.damaged == 1 { "" } else { "s" }
            ));
        }
    }

    /// Shows the warnings gathered so far.
    fn flush_warnings(&mut self, progress: &dyn Progress) {
        for w in self.warnings.drain(..) {
            progress.warn(&w);
        }
    }

    /// The next packet to write: selected, inside the time window, in the muxer's framing.
    fn next_kept(
        &mut self,
        demux: &mut dyn Demuxer,
    ) -> Result<Option<(usize, Packet)>, PipelineError> {
        loop {
            if self.cut_short {
                return Ok(None);
            }
            let pkt = match demux.next_packet() {
                Ok(p) => p,
                Err(err) => {
                    self.absorb(demux)?;
                    return self.unreadable(err).map(|()| None);
                }
            };
            self.absorb(demux)?;
            let Some(pkt) = pkt else { return Ok(None) };
            let Some(slot) = self.keep.iter().position(|(id, _)| *id == pkt.track) else {
                // Left out on purpose (--tracks), or a track that was not there when the
                // output was started: that is media lost, and said at the end.
                if !self.source_tracks.contains(&pkt.track) && !self.replay {
                    *self.late.entry(pkt.track).or_default() += 1;
                }
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
        let mut span: Vec<Option<(crate::dtsc::Ticks, crate::dtsc::Ticks)>> =
            vec![None; self.keep.len()];
        loop {
            let next = match pending.pop_front() {
                Some(x) => Some(x),
                None => {
                    let n = self.next_kept(demux);
                    self.flush_warnings(progress);
                    n?
                }
            };
            let Some((slot, mut pkt)) = next else { break };
            pkt.dts = pkt.dts + shift[slot];
            before_each(Time::new(pkt.dts, self.meta.tracks[slot].timebase));
            if let Err(e) = muxer.write(&pkt, sink) {
                // A muxer that disagrees with the input (an index built before the damage
                // showed) is explained by the damage, when there is some.
                self.absorb(demux)?;
                return Err(out_err(e));
            }
            outcome.packets += 1;
            let s = &mut span[slot];
            *s = Some(s.map_or((pkt.dts, pkt.dts), |(a, _)| (a, pkt.dts)));
            let pos = demux.position();
            if pos.saturating_sub(last_report) >= 1 << 20 {
                progress.advance(pos);
                last_report = pos;
            }
        }
        let finish = muxer.finish(sink).map_err(out_err)?;
        outcome.bytes = sink.position();
        outcome.input_bytes = demux.position();
        outcome.media_ms = span
            .iter()
            .zip(&self.meta.tracks)
            .filter_map(|(s, t)| {
                s.map(|(a, b)| Time::new(crate::dtsc::Ticks(b - a), t.timebase).as_ms())
            })
            .max()
            .unwrap_or(0);
        outcome.damaged = self.damaged;
        for (track, n) in std::mem::take(&mut self.late) {
            outcome.not_written += n;
            progress.warn(&format!(
                "{}: {n} packets of track {track} not written: the track appeared after the output was started",
                self.in_name
            ));
        }
        for (n, why) in &finish.dropped {
            outcome.not_written += n;
            outcome.packets = outcome.packets.saturating_sub(*n);
            progress.warn(&format!(
                "{}: {n} packets not written: {why}",
                self.out_name
            ));
        }
        self.salvage_summary(outcome.packets, progress);
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

/// An error of the input: damage (with the `--salvage` hint) when salvaging could help, the
/// plain error otherwise (I/O, unsupported features).
/// ` at byte N` for a position, nothing for a problem about the whole input.
fn at_byte(offset: Option<u64>) -> String {
    offset.map(|o| format!(" at byte {o}")).unwrap_or_default()
}

fn damaged(path: &str, err: FormatError) -> PipelineError {
    use formats::Problem;
    match err.problem {
        Problem::Truncated { .. }
        | Problem::BadValue { .. }
        | Problem::Invalid(_)
        | Problem::Limit { .. } => PipelineError::Damaged {
            path: path.to_string(),
            offset: err.byte(),
            message: format!("{}: {}", err.format, err.problem),
        },
        _ => PipelineError::Format {
            path: path.to_string(),
            err,
        },
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
    fn packets_a_muxer_cannot_write_are_counted_and_reported_once() {
        // DTSC cannot store a packet earlier than the one before it on its track: of 0, 40,
        // 20, 60 ms the third is not written, and the run says so in one line.
        let v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        let mut d = Listed {
            meta: Meta {
                tracks: vec![v],
                ..Meta::default()
            },
            packets: [
                pkt(1, 0, 0, true),
                pkt(1, 40, 0, false),
                pkt(1, 20, 0, false),
                pkt(1, 60, 0, false),
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
            salvage: false,
        };
        let mut job = Job::prepare(&plan, &mut d, "in", "out", None, true).unwrap();
        let mut m = crate::formats::dtsc::mux::Muxer::with_options(&MuxOptions::default());
        let mut sink = VecSink::default();
        let seen = Collect::default();
        let (outcome, _) = job
            .run(&mut d, &mut m, &mut sink, &seen, &mut |_| {})
            .unwrap();
        assert_eq!((outcome.packets, outcome.not_written), (3, 1));
        let w = seen.warnings.lock().unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("1 packets not written"), "{w:?}");
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
            salvage: false,
        };
        let mut job = Job::prepare(&plan, &mut d, "in", "out", None, true).unwrap();
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
