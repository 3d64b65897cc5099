//! `/STREAM.mp4` of a file: faststart progressive MP4 (what `mist convert x y.mp4` writes),
//! with byte ranges, so players seek in it over HTTP.
//!
//! Design: the output is never materialised. For each file (and window and track choice) the
//! pipeline is prepared once and the MP4 muxer lays the whole output out
//! ([`mp4::mux::Layout`]): `ftyp` + `moov` + the `mdat` header as bytes in memory, and where
//! every chunk of samples lands. Any byte range is then answered by copying from the head
//! and, for the part inside `mdat`, by seeking the input to the first chunk the range
//! touches and writing from there with a muxer resumed at that chunk, until the range ends.
//! The other choice, converting into a cache file and serving ranges from it, would cost the
//! whole conversion (and that much disk) before the first byte of a big file; this way the
//! first bytes go out as soon as `moov` is computed, memory holds only the layout (about 12
//! bytes per sample beside `moov`) and the packets of one chunk, and disk holds nothing.
//!
//! Layouts live in a small cache, least recently used first out, keyed by the file's path,
//! size and modification time and by the variant (window and tracks); each entry keeps up to
//! [`IDLE_READERS`] opened readers, so a range request does not pay for opening (and, for
//! FLV and TS, indexing) the file again. The entity tag names the same things, so it changes
//! when the file or the variant does.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::progressive::{pace_wait, Chunk, Failure, VOD_QUEUE};
use super::query::Query;
use super::range;
use super::sink::ChannelSink;
use crate::dtsc::{Ticks, Time};
use crate::formats::mp4::mux::{Layout, Muxer};
use crate::formats::{FormatSpec, Muxer as _};
use crate::io::ByteSink;
use crate::pipeline::{self, pace::Pacer, PipelineError, Plan, Prepared};
use crate::serve::hub::stats::lock;

/// Layouts kept.
pub const CACHE_ENTRIES: usize = 16;
/// Opened readers kept per layout for the next range request.
pub const IDLE_READERS: usize = 2;

/// One file's MP4 in one variant, laid out.
pub struct Entry {
    key: Key,
    plan: Plan,
    layout: Arc<Layout>,
    etag: String,
    modified: SystemTime,
    idle: Mutex<Vec<Prepared>>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("path", &self.key.path)
            .field("len", &self.layout.len())
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    path: PathBuf,
    size: u64,
    modified: SystemTime,
    variant: String,
}

impl Entry {
    /// Length of the whole output.
    pub fn len(&self) -> u64 {
        self.layout.len()
    }

    /// True when the output is empty (never: it has at least `ftyp` and `moov`).
    pub fn is_empty(&self) -> bool {
        self.layout.len() == 0
    }

    /// Its entity tag.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The file's modification time.
    pub fn modified(&self) -> SystemTime {
        self.modified
    }

    /// The layout.
    pub fn layout(&self) -> &Arc<Layout> {
        &self.layout
    }

    fn reader(&self) -> Result<Prepared, PipelineError> {
        if let Some(p) = lock(&self.idle).pop() {
            return Ok(p);
        }
        let mut p = pipeline::prepare(&self.plan)?;
        p.drop_index();
        Ok(p)
    }

    fn give_back(&self, p: Prepared) {
        let mut idle = lock(&self.idle);
        if idle.len() < IDLE_READERS {
            idle.push(p);
        }
    }
}

/// Laid-out MP4 outputs of files, most recently used first.
#[derive(Debug, Default)]
pub struct Cache {
    entries: Mutex<VecDeque<Arc<Entry>>>,
}

/// The variant part of a query: what changes the bytes of the output.
fn variant(spec: &FormatSpec, q: &Query) -> String {
    format!(
        "{}|start={:?}|stop={:?}|video={:?}|audio={:?}",
        spec.name, q.start_ms, q.stop_ms, q.video, q.audio
    )
}

impl Cache {
    /// The laid-out MP4 of file `path` for `query`, built on first use. Blocking (it opens
    /// and indexes the file): call it off the async threads.
    pub fn get(
        &self,
        path: &Path,
        spec: &'static FormatSpec,
        query: &Query,
    ) -> Result<Arc<Entry>, Failure> {
        let md = std::fs::metadata(path)
            .map_err(|e| Failure::internal(format!("{}: {e}", path.display())))?;
        let modified = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let key = Key {
            path: path.to_path_buf(),
            size: md.len(),
            modified,
            variant: variant(spec, query),
        };
        {
            let mut entries = lock(&self.entries);
            if let Some(i) = entries.iter().position(|e| e.key == key) {
                let e = entries.remove(i).expect("position is in range");
                entries.push_front(e.clone());
                return Ok(e);
            }
        }
        let mut plan = super::progressive::file_plan(path.to_path_buf(), spec, query);
        // The index the file states, as `convert` uses it; a file found damaged is laid out
        // from what a salvage pass reads of it instead (one read of the whole file).
        plan.salvage = false;
        let mut prepared = match pipeline::prepare(&plan) {
            Err(PipelineError::Damaged { .. }) => {
                plan.salvage = true;
                pipeline::prepare(&plan)
            }
            r => r,
        }
        .map_err(|e| Failure::of(&e))?;
        let layout = Layout::new(prepared.meta()).map_err(|err| {
            Failure::of(&PipelineError::Format {
                path: path.display().to_string(),
                err,
            })
        })?;
        prepared.drop_index();
        let etag = range::etag(md.len(), modified, &key.variant);
        let entry = Arc::new(Entry {
            key,
            plan,
            layout: Arc::new(layout),
            etag,
            modified,
            idle: Mutex::new(vec![prepared]),
        });
        let mut entries = lock(&self.entries);
        entries.retain(|e| e.key != entry.key);
        entries.push_front(entry.clone());
        entries.truncate(CACHE_ENTRIES);
        Ok(entry)
    }
}

/// Passes on the bytes of `[from, to)` of what is written into it, which starts at file
/// offset `pos`; notes when the range is complete.
struct RangeSink<'a> {
    inner: &'a mut ChannelSink,
    pos: u64,
    from: u64,
    to: u64,
}

impl RangeSink<'_> {
    fn full(&self) -> bool {
        self.pos >= self.to
    }

    /// The part of `len` bytes at `self.pos` inside the range, as offsets into them.
    fn window(&self, len: usize) -> Option<(usize, usize)> {
        let start = self.pos.max(self.from);
        let end = (self.pos + len as u64).min(self.to);
        (start < end).then(|| ((start - self.pos) as usize, (end - self.pos) as usize))
    }
}

impl ByteSink for RangeSink<'_> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Some((a, b)) = self.window(bytes.len()) {
            self.inner.put(&bytes[a..b])?;
        }
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn put_shared(&mut self, bytes: Bytes) -> io::Result<()> {
        if let Some((a, b)) = self.window(bytes.len()) {
            self.inner.put_shared(bytes.slice(a..b))?;
        }
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn position(&self) -> u64 {
        self.pos
    }
}

/// Starts writing bytes `[from, to)` of `entry`'s output on a thread; the pieces arrive on
/// the returned receiver. `pace` paces the packets (`?rate=`).
pub fn spawn_range(
    entry: Arc<Entry>,
    from: u64,
    to: u64,
    pace: Option<Pacer>,
) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel(VOD_QUEUE);
    let spawned = std::thread::Builder::new()
        .name("mist-http-mp4".into())
        .spawn(move || {
            let mut sink = ChannelSink::new(tx.clone());
            let r = write_range(&entry, from, to, pace, &mut sink);
            let r = r.and_then(|()| sink.flush().map_err(|e| Failure::internal(e.to_string())));
            if let Err(e) = r {
                if !tx.is_closed() {
                    tracing::warn!(path = %entry.key.path.display(), "MP4 range: {}", e.message);
                }
                let _ = tx.blocking_send(Err(e));
            }
        });
    if let Err(e) = spawned {
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Err(Failure::internal(format!(
            "cannot start a reader: {e}"
        ))));
        return rx;
    }
    rx
}

/// Writes bytes `[from, to)` of the output into `out`.
fn write_range(
    entry: &Entry,
    from: u64,
    to: u64,
    mut pace: Option<Pacer>,
    out: &mut ChannelSink,
) -> Result<(), Failure> {
    let layout = &entry.layout;
    let to = to.min(layout.len());
    let io_fail = |e: io::Error| Failure::internal(e.to_string());
    let head = layout.head();
    let mut sink = RangeSink {
        inner: out,
        pos: 0,
        from,
        to,
    };
    if from < head.len() as u64 {
        sink.put_shared(head.clone()).map_err(io_fail)?;
    }
    if sink.full() || layout.is_empty() {
        return Ok(());
    }
    let Some(chunk) = layout.chunk_at(from.max(head.len() as u64)) else {
        return Ok(());
    };
    sink.pos = layout.chunk_offset(chunk).unwrap_or(0);

    // Per track, the first sample to write, and how many earlier packets share its time.
    let n = layout.tracks().len();
    let firsts = layout.first_samples_from(chunk);
    let wanted: Vec<Option<(i64, usize)>> = (0..n)
        .map(|t| {
            let s = firsts[t];
            (s < layout.samples(t)).then(|| {
                let at = layout.sample_time(t, s).map_or(0, |x| x.ticks.0);
                (at, layout.same_time_before(t, s))
            })
        })
        .collect();
    // Seek to a tick before the earliest of them: rescaling to the output clock rounds to
    // the nearest tick, so a source time may sit up to half a tick before its sample's.
    let seek_to = (0..n)
        .filter_map(|t| {
            let (at, _) = wanted[t]?;
            let base = layout.sample_time(t, firsts[t])?.base;
            Some(Time::new(Ticks(at - 1), base))
        })
        .min();
    let Some(seek_to) = seek_to else {
        return Ok(());
    };
    let fail = |e: PipelineError| Failure::of(&e);
    let mut reader = entry.reader().map_err(fail)?;
    reader.seek(seek_to).map_err(fail)?;
    let mut mux = Muxer::resume(layout.clone(), chunk);
    let mut skip: Vec<usize> = wanted.iter().map(|w| w.map_or(0, |(_, k)| k)).collect();
    let mut started = vec![false; n];
    let format_fail = |err| {
        Failure::of(&PipelineError::Format {
            path: entry.key.path.display().to_string(),
            err,
        })
    };
    loop {
        let Some(pkt) = reader.next_packet().map_err(fail)? else {
            break;
        };
        let Some(t) = layout.tracks().iter().position(|x| x.id == pkt.track) else {
            continue;
        };
        if !started[t] {
            let Some((at, _)) = wanted[t] else {
                // This track has nothing left in the range's chunks.
                continue;
            };
            let ticks = layout.output_ticks(t, &pkt).unwrap_or(i64::MIN);
            if ticks < at {
                continue;
            }
            if ticks == at && skip[t] > 0 {
                skip[t] -= 1;
                continue;
            }
            started[t] = true;
        }
        if let Some(p) = pace.as_mut() {
            let base = layout.tracks()[t].timebase;
            let gone = || sink.inner.is_closed();
            pace_wait(p, Time::new(pkt.dts, base), &gone);
        }
        mux.write(&pkt, &mut sink).map_err(|e| {
            if sink.inner.is_closed() {
                Failure::internal("viewer went away")
            } else {
                format_fail(e)
            }
        })?;
        if sink.full() {
            entry.give_back(reader);
            return Ok(());
        }
    }
    mux.finish(&mut sink).map_err(format_fail)?;
    entry.give_back(reader);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{self, Format};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    /// Every range's bytes, gathered from the channel.
    fn range_bytes(entry: &Arc<Entry>, from: u64, to: u64) -> Vec<u8> {
        let mut rx = spawn_range(entry.clone(), from, to, None);
        let mut out = Vec::new();
        while let Some(m) = rx.blocking_recv() {
            for b in m.expect("range written") {
                out.extend_from_slice(&b);
            }
        }
        out
    }

    #[test]
    fn ranges_anywhere_are_the_slices_of_the_whole_conversion() {
        let spec = formats::spec(Format::Mp4);
        let cache = Cache::default();
        for name in [
            "h264_mp3.flv",
            "h264_aac.flv",
            "h264_aac.ts",
            "bframes_editlist.mp4",
            // A later PMT moves streams to new PIDs and adds one; timestamps jump back.
            "pmt_change.ts",
            "jump_back.ts",
            "jump_back.flv",
        ] {
            let path = fixture(name);
            // The oracle: the pipeline's own conversion, as `convert` writes it.
            let plan = super::super::progressive::file_plan(path.clone(), spec, &Query::default());
            let mut whole = crate::io::VecSink::default();
            pipeline::convert_into(&plan, &mut whole).unwrap();
            let whole = whole.data;
            let entry = cache.get(&path, spec, &Query::default()).unwrap();
            assert_eq!(entry.len(), whole.len() as u64, "{name}");
            assert_eq!(range_bytes(&entry, 0, entry.len()), whole, "{name}");
            // Ranges that start in the head, on chunk borders, inside samples, and the tail.
            let len = whole.len() as u64;
            let head = entry.layout().head().len() as u64;
            let mut cuts = vec![0, 1, head - 1, head, head + 1, len / 3, len / 2, len - 1];
            for c in 0..entry.layout().chunk_count() {
                let o = entry.layout().chunk_offset(c).unwrap();
                cuts.extend([o.saturating_sub(1), o, o + 7]);
            }
            for &a in &cuts {
                for size in [1u64, 100, 5000, len] {
                    let b = (a + size).min(len);
                    if a >= b {
                        continue;
                    }
                    assert_eq!(
                        range_bytes(&entry, a, b),
                        &whole[a as usize..b as usize],
                        "{name} bytes {a}..{b}"
                    );
                }
            }
        }
    }
}
