//! File recordings: a viewer's packets into a container file, on a thread of its own (file
//! writes block), with MistServer's `recstart`/`recstop`/`split` and crash-safe writing.
//!
//! **What survives a crash or a full disk.** Muxed bytes are gathered in memory and written
//! to the file at each keyframe of the main track (and at least once a second, or every
//! [`COMMIT_BYTES`]), always between two muxer writes: so what is on disk always ends with a
//! whole unit (complete FLV tags, whole TS packets, a whole `moof` + `mdat` fragment, whole
//! DTSC packets). A write that fails (the disk is full) is cut back to the last whole unit,
//! so the file stays playable up to the failure; the recording then stops with the error.
//!
//! **MP4.** A `.mp4` recording is written as fragmented MP4 while the stream runs (every
//! fragment playable as soon as it is written), and when the recording ends cleanly (the
//! stream ended, `recstop` was reached, the push was stopped, the server shut down) it is
//! remuxed to a faststart MP4 (`moov` first) that replaces the fragmented file atomically.
//!
//! **DTSC.** A `.dtsc` recording gets its `.dtsh` index beside it when it ends (the header at
//! the start of the `.dtsc` is patched with the final totals), as `mist convert` writes them.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::feed::Feed;
use super::status::{State, Status};
use super::target::{self, Target};
use super::Outcome;
use crate::formats::{self, Finish, FormatSpec, MuxOptions};
use crate::io::ByteSink;
use crate::pipeline;
use crate::serve::http::sink::PieceSink;
use crate::serve::hub::{Viewer, ViewerEvent};
use crate::serve::names::StreamName;

/// Bytes gathered at most before they are written, keyframe or not.
pub const COMMIT_BYTES: usize = 4 << 20;
/// Longest time gathered bytes wait to be written (audio-only streams have no keyframes).
pub const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// What a recording needs to know.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The target (a file kind).
    pub target: Target,
    /// The stream.
    pub stream: StreamName,
    /// The stream's configured source (`$source`).
    pub source: String,
    /// Whether the first start point the viewer gives may open the file even when it is
    /// before `recstart` (the viewer was placed at the key at or before it).
    pub accept_first: bool,
    /// Shared status for `push_list`.
    pub status: Arc<Status>,
}

/// A file being recorded: gathered bytes, written at whole-unit boundaries.
struct FileOut {
    file: File,
    path: PathBuf,
    buf: PieceSink,
    /// Bytes known to be in the file.
    durable: u64,
    last_commit: Instant,
}

impl FileOut {
    fn create(path: &Path) -> io::Result<FileOut> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(FileOut {
            file,
            path: path.to_path_buf(),
            buf: PieceSink::default(),
            durable: 0,
            last_commit: Instant::now(),
        })
    }

    /// Writes what is gathered. On failure the file is cut back to its last whole unit.
    fn commit(&mut self) -> io::Result<u64> {
        self.last_commit = Instant::now();
        let pieces = self.buf.take();
        if pieces.is_empty() {
            return Ok(0);
        }
        let n: u64 = pieces.iter().map(|p| p.len() as u64).sum();
        let slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
        match crate::io::sink::write_all_vectored(&mut self.file, &slices) {
            Ok(()) => {
                self.durable += n;
                Ok(n)
            }
            Err(e) => {
                use std::io::Seek;
                // Cutting a file shorter needs no space, even on a full disk.
                let _ = self.file.set_len(self.durable);
                let _ = self.file.seek(io::SeekFrom::Start(self.durable));
                Err(e)
            }
        }
    }

    fn due(&self) -> bool {
        self.buf.queued() >= COMMIT_BYTES || self.last_commit.elapsed() >= COMMIT_EVERY
    }
}

impl ByteSink for FileOut {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.put(bytes)
    }
    fn put_shared(&mut self, bytes: bytes::Bytes) -> io::Result<()> {
        self.buf.put_shared(bytes)
    }
    fn position(&self) -> u64 {
        self.buf.position()
    }
}

/// The container a recording is written in while it runs: `spec` itself when it streams,
/// else its live row (fragmented MP4 for `.mp4`), finalised into `spec` at the end.
pub fn writing_spec(spec: &'static FormatSpec) -> &'static FormatSpec {
    crate::serve::http::live_spec(spec).unwrap_or(spec)
}

/// Runs a recording until the stream ends, `recstop` is reached, `stop` flips, or writing
/// fails. Blocks: run it on a thread of its own. `rt` drives the viewer.
pub fn run(
    rec: &Recording,
    mut viewer: Viewer,
    mut stop: watch::Receiver<bool>,
    rt: &tokio::runtime::Handle,
) -> Outcome {
    let target::Kind::File { path, spec } = &rec.target.kind else {
        return Outcome::Failed {
            why: "not a file target".into(),
            retry: false,
        };
    };
    let writing = writing_spec(spec);
    let mut r = Recorder {
        rec,
        pattern: path.clone(),
        spec,
        feed: Feed::new(writing, rec.target.select.clone(), MuxOptions::default()),
        out: None,
        segment: 0,
        accept_first: rec.accept_first,
    };
    rec.status.set_state(State::Waiting);
    loop {
        let ev = rt.block_on(async {
            tokio::select! {
                ev = viewer.next() => Some(ev),
                _ = stop.wait_for(|s| *s) => None,
            }
        });
        let step = match ev {
            None => return r.close("stopped"),
            Some(ViewerEvent::End) => return r.close("the stream ended"),
            Some(ViewerEvent::Tracks(m)) => match r.feed.tracks(&m) {
                Ok(()) => {
                    rec.status.set_tracks(r.feed.track_ids());
                    Ok(None)
                }
                Err(why) => Err(why),
            },
            Some(ViewerEvent::Packets(batch)) => r.packets(&batch),
        };
        match step {
            Ok(None) => {}
            Ok(Some(done)) => return done,
            Err(why) => {
                rec.status.fatal(&why);
                tracing::error!(stream = %rec.stream, "recording stopped: {why}");
                return Outcome::Failed { why, retry: false };
            }
        }
    }
}

struct Recorder<'a> {
    rec: &'a Recording,
    pattern: String,
    spec: &'static FormatSpec,
    feed: Feed,
    out: Option<FileOut>,
    segment: u64,
    accept_first: bool,
}

impl Recorder<'_> {
    /// Handles a batch; `Ok(Some(outcome))` when the recording is over.
    fn packets(
        &mut self,
        batch: &[Arc<crate::serve::hub::Entry>],
    ) -> Result<Option<Outcome>, String> {
        if !self.feed.has_tracks() {
            return Ok(None);
        }
        let t = &self.rec.target;
        for e in batch {
            if t.recstop.is_some_and(|s| e.ms >= s) {
                return Ok(Some(self.close("recstop reached")));
            }
            let start_point = self.feed.is_start_point(e);
            if self.out.is_none() {
                let wanted = match t.recstart {
                    None => true,
                    Some(s) => e.ms >= s || self.accept_first,
                };
                self.accept_first = false;
                if !start_point || !wanted {
                    continue;
                }
                self.open(e.ms)?;
            } else if start_point
                && t.split
                    .is_some_and(|s| e.ms - self.feed.origin_ms() >= s as i64 * 1000)
            {
                if let Some(Outcome::Failed { why, .. }) = self.finish_file() {
                    return Err(why);
                }
                self.open(e.ms)?;
            }
            let Some(out) = self.out.as_mut() else {
                continue;
            };
            let written = self
                .feed
                .write(e, out)
                .map_err(|err| format!("{}: {err}", out.path.display()))?;
            if written && (start_point || out.due()) {
                self.commit(e.ms)?;
            }
        }
        if self.out.as_ref().is_some_and(FileOut::due) {
            let ms = batch.last().map_or(0, |e| e.ms);
            self.commit(ms)?;
        }
        Ok(None)
    }

    fn commit(&mut self, ms: i64) -> Result<(), String> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        match out.commit() {
            Ok(n) => {
                self.rec.status.progress(n, ms);
                Ok(())
            }
            Err(e) => {
                let why = format!(
                    "{}: {e}; the file keeps what was written up to stream time {} ms",
                    out.path.display(),
                    self.rec.status_media_ms().unwrap_or(self.feed.origin_ms())
                );
                self.feed.abandon();
                self.out = None;
                Err(why)
            }
        }
    }

    /// Opens the next file, starting at stream time `ms`.
    fn open(&mut self, ms: i64) -> Result<(), String> {
        self.segment += 1;
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let path = target::expand(
            &self.pattern,
            &target::Vars {
                stream: &self.rec.stream,
                source: &self.rec.source,
                unix,
                segment: self.segment,
            },
        );
        let path = PathBuf::from(path);
        self.rec.status.set_state(State::Connecting);
        let mut out = FileOut::create(&path)
            .map_err(|e| format!("cannot record to {}: {e}", path.display()))?;
        self.feed
            .begin(ms, false, &mut out)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let shown = path.display().to_string();
        self.rec.status.new_file(&shown);
        self.rec.status.log("INFO", format!("recording to {shown}"));
        self.rec.status.set_state(State::Active);
        tracing::info!(stream = %self.rec.stream, file = %shown, "recording");
        self.out = Some(out);
        Ok(())
    }

    /// Ends the current file; `Some(Failed)` when ending it went wrong.
    fn finish_file(&mut self) -> Option<Outcome> {
        let mut out = self.out.take()?;
        self.rec.status.set_state(State::Finishing);
        let packets = self.feed.packets;
        let shown = out.path.display().to_string();
        let r = self.end_file(&mut out, &shown);
        drop(out);
        match r {
            Ok(()) => {
                self.rec
                    .status
                    .log("INFO", format!("recorded {shown} ({packets} packets)"));
                tracing::info!(stream = %self.rec.stream, file = %shown, packets, "recording complete");
                None
            }
            Err(why) => {
                self.rec.status.fatal(&why);
                tracing::error!(stream = %self.rec.stream, "recording: {why}");
                Some(Outcome::Failed { why, retry: false })
            }
        }
    }

    /// Ends the muxer, writes the rest, applies patches and side files, finalises MP4.
    fn end_file(&mut self, out: &mut FileOut, shown: &str) -> Result<(), String> {
        let finish = self.feed.finish(out).map_err(|e| format!("{shown}: {e}"))?;
        out.commit().map_err(|e| format!("{shown}: {e}"))?;
        apply_finish(&out.file, &out.path, finish).map_err(|e| format!("{shown}: {e}"))?;
        let writing = writing_spec(self.spec);
        if !std::ptr::eq(writing, self.spec) {
            finalise(&out.path, self.spec).map_err(|e| format!("{shown}: {e}"))?;
        }
        Ok(())
    }

    fn close(&mut self, why: &str) -> Outcome {
        if let Some(failed) = self.finish_file() {
            return failed;
        }
        Outcome::Done(why.to_string())
    }
}

impl Recording {
    fn status_media_ms(&self) -> Option<i64> {
        self.status
            .object()
            .get("mediatime")
            .and_then(serde_json::Value::as_i64)
    }
}

/// Applies what a muxer handed back at the end: patches in place, side files beside (each
/// written whole under a temporary name, then renamed), and the main file's time set back
/// when a side file must look newer (MistServer rebuilds a `.dtsh` that does not).
fn apply_finish(file: &File, path: &Path, finish: Finish) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    for (at, bytes) in &finish.patches {
        file.write_all_at(bytes, *at)?;
    }
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
        file.set_modified(when)?;
    }
    for side in finish.side_files {
        let side_path = pipeline::side_path(path, side.suffix);
        let mut f = crate::io::atomic::AtomicFile::create(&side_path, true)?;
        pipeline::write_chunks(f.file(), side.chunks)?;
        f.commit()?;
    }
    Ok(())
}

/// Remuxes the fragmented recording at `path` into `spec` (faststart MP4), replacing it.
fn finalise(path: &Path, spec: &'static FormatSpec) -> Result<(), String> {
    let plan = pipeline::Plan {
        input: path.to_path_buf(),
        output: path.to_path_buf(),
        from: Some(formats::spec(formats::Format::Fmp4)),
        to: spec,
        tracks: pipeline::Selection::default(),
        start: None,
        end: None,
        force: true,
        salvage: false,
        mux: MuxOptions::default(),
        demux: Default::default(),
    };
    pipeline::convert(&plan, &pipeline::Silent)
        .map(|_| ())
        .map_err(|e| format!("finalising as {}: {e}", spec.name))
}
