//! A file served on demand: one reader thread per viewer runs the file's demuxer (through the
//! format table) and hands packets to the viewer's async side over a bounded channel, so a
//! slow viewer slows only its own reader. Seeking restarts the reader at the keyframe at or
//! before the wanted time, found in the demuxer's index.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::dtsc::{Meta, Ticks, Time, Timebase, TrackKind};
use crate::serve::hub::entry::Entry;

/// Packets per message from the reader thread.
const BATCH_PACKETS: usize = 32;
/// Payload bytes per message, at most (a batch closes once it holds this much).
const BATCH_BYTES: usize = 256 << 10;
/// Messages queued between the reader thread and the viewer.
const QUEUE: usize = 8;

/// What the reader thread sends.
#[derive(Debug)]
pub enum VodMsg {
    /// The tracks (first message of every reader).
    Meta(Arc<Meta>),
    /// Packets in file order, times shifted so none is negative.
    Packets(Vec<Arc<Entry>>),
    /// The end of the file.
    End,
    /// The file could not be read; one line saying where and why.
    Failed(String),
}

/// Facts about a file, read once when a viewer opens it.
#[derive(Clone, Debug)]
pub struct FileInfo {
    /// Tracks (no index).
    pub meta: Arc<Meta>,
    /// Duration in ms.
    pub duration_ms: i64,
    /// Shift (in each track's ticks, per track position) applied so no time is negative.
    pub shift: Vec<i64>,
}

/// Opens `path`, builds its index and works out duration and shift.
pub fn probe(path: &Path) -> Result<(Box<dyn crate::formats::Demuxer>, FileInfo), String> {
    let mut demux = crate::pipeline::open(path).map_err(|e| e.to_string())?;
    demux
        .build_index()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = demux.meta();
    let mut earliest: Option<Time> = None;
    let mut end_ms = 0i64;
    if let Some(index) = &meta.index {
        for (t, ti) in meta.tracks.iter().zip(&index.tracks) {
            if ti.parts.is_empty() {
                continue;
            }
            let first = Time::new(ti.first, t.timebase);
            earliest = Some(earliest.map_or(first, |e| e.min(first)));
            let last_dur = ti.parts.last().map_or(0, |p| i64::from(p.duration));
            end_ms = end_ms.max(t.timebase.rescale(ti.last.0 + last_dur, Timebase::MS));
        }
    }
    let shift: Vec<i64> = match earliest.filter(|e| e.ticks.0 < 0) {
        Some(min) => {
            let by = Time::new(Ticks(-min.ticks.0), min.base);
            meta.tracks
                .iter()
                .map(|t| by.ceil_in(t.timebase).0)
                .collect()
        }
        None => vec![0; meta.tracks.len()],
    };
    let start_ms = earliest.map_or(0, |e| e.as_ms().max(0));
    let info = FileInfo {
        meta: Arc::new(Meta {
            tracks: meta.tracks.clone(),
            live: false,
            unix_zero: None,
            index: None,
            tags: meta.tags.clone(),
        }),
        duration_ms: (end_ms - start_ms).max(0),
        shift,
    };
    Ok((demux, info))
}

/// Starts a reader thread at `start_ms` (the keyframe at or before it); its messages arrive
/// on the returned receiver. The thread stops when the receiver is dropped.
pub fn spawn(path: PathBuf, start_ms: Option<i64>) -> mpsc::Receiver<VodMsg> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("mist-vod".into())
        .spawn(move || {
            if let Err(e) = read(&path, start_ms, &tx) {
                let _ = tx.blocking_send(VodMsg::Failed(e));
            }
        });
    if let Err(e) = spawned {
        // No thread: say so through a channel of our own (the one above was moved).
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(VodMsg::Failed(format!("cannot start a reader: {e}")));
        return rx;
    }
    rx
}

fn read(path: &Path, start_ms: Option<i64>, tx: &mpsc::Sender<VodMsg>) -> Result<(), String> {
    let (mut demux, info) = probe(path)?;
    let in_err = |e: crate::formats::FormatError| format!("{}: {e}", path.display());
    // Seeking: to the key at or before the time on the first video track (the pipeline's
    // trim rule), and every packet from that time on.
    let mut from: Option<Time> = None;
    if let Some(ms) = start_ms.filter(|&ms| ms > 0) {
        let meta = demux.meta();
        let mut at = Time::from_ms(ms);
        if let (Some(i), Some(index)) = (
            meta.tracks.iter().position(|t| t.kind == TrackKind::Video),
            meta.index.as_ref(),
        ) {
            let t = &meta.tracks[i];
            // Back into the file's own times (before the shift).
            let want = at.ceil_in(t.timebase).0 - info.shift[i];
            if let Some(key) = index
                .tracks
                .get(i)
                .and_then(|ti| ti.key_at_or_before(Ticks(want)))
            {
                at = Time::new(key.time, t.timebase);
            }
        }
        demux.seek(at).map_err(in_err)?;
        from = Some(at);
    }
    demux.drop_index();
    if tx.blocking_send(VodMsg::Meta(info.meta.clone())).is_err() {
        return Ok(());
    }
    let tracks = info.meta.tracks.clone();
    let mut batch = Vec::with_capacity(BATCH_PACKETS);
    let mut bytes = 0usize;
    while let Some(mut pkt) = demux.next_packet().map_err(in_err)? {
        let Some(i) = tracks.iter().position(|t| t.id == pkt.track) else {
            continue;
        };
        let base = tracks[i].timebase;
        if from.is_some_and(|f| Time::new(pkt.dts, base) < f) {
            continue;
        }
        pkt.dts = pkt.dts + info.shift[i];
        let ms = base.rescale(pkt.dts.0, Timebase::MS);
        bytes += pkt.data.len();
        batch.push(Arc::new(Entry::new(pkt, ms, info.meta.clone(), 0)));
        if batch.len() >= BATCH_PACKETS || bytes >= BATCH_BYTES {
            bytes = 0;
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_PACKETS));
            if tx.blocking_send(VodMsg::Packets(full)).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() && tx.blocking_send(VodMsg::Packets(batch)).is_err() {
        return Ok(());
    }
    let _ = tx.blocking_send(VodMsg::End);
    Ok(())
}
