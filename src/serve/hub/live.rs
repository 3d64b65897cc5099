//! A live stream's buffer: the packets of its DVR window, a keyframe index, and the cursors
//! viewers read it with.
//!
//! One publisher writes; any number of viewers read through their own cursor (a sequence
//! number), so a packet is stored once and shared (moq-rs's latest-group fan-out). A viewer
//! that falls out of the window, or further behind live than `max_keep_away`, is moved to the
//! newest keyframe; it never holds the publisher back. Memory is bounded by the window in
//! time, and by a byte cap against a publisher that never sends a keyframe.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::entry::Entry;
use super::stats::lock;
use crate::dtsc::{Meta, Packet, Timebase, Track, TrackId, TrackKind};

/// Without video, a point viewers may start at is marked this often on the audio track.
pub const AUDIO_KEY_INTERVAL_MS: i64 = 1000;
/// Most packets a viewer takes in one batch.
pub const MAX_BATCH: usize = 256;
/// Shortest segment: MistServer's `segmentsize` default (fragments of at least 1.9 s, cut at
/// keys).
pub const DEFAULT_SEGMENT_MS: i64 = 1900;

/// Limits of one live stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveSettings {
    /// DVR window kept, in ms.
    pub dvr_ms: u64,
    /// How far behind live a viewer may fall, in ms.
    pub max_keep_away_ms: u64,
    /// How long the stream waits for a publisher that left.
    pub grace: Duration,
    /// Payload bytes kept at most, whatever the window says.
    pub max_bytes: usize,
    /// Shortest segment for segmented outputs, in ms.
    pub segment_ms: i64,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            dvr_ms: crate::serve::config::DEFAULT_DVR_MS,
            max_keep_away_ms: crate::serve::config::DEFAULT_MAX_KEEP_AWAY_MS,
            grace: Duration::from_millis(crate::serve::config::DEFAULT_GRACE_MS),
            max_bytes: 256 << 20,
            segment_ms: DEFAULT_SEGMENT_MS,
        }
    }
}

/// Where a stream is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// A publisher is connected.
    Live,
    /// The publisher left; viewers wait until the deadline for it to come back.
    Waiting {
        /// When the stream ends if nobody publishes.
        until: Instant,
    },
    /// Over: viewers get the end of the stream.
    Ended,
}

/// Counters of one stream.
#[derive(Debug, Default)]
pub struct StreamCounters {
    /// Viewers ever opened.
    pub views: AtomicU64,
    /// Viewers moved forward.
    pub skips: AtomicU64,
    /// Viewers disconnected for not reading.
    pub drops: AtomicU64,
    /// Packets published.
    pub packets_in: AtomicU64,
    /// Payload bytes published.
    pub bytes_in: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
struct KeyMark {
    seq: u64,
    ms: i64,
}

#[derive(Clone, Copy, Debug)]
struct SegMark {
    seq: u64,
    ms: i64,
    number: u64,
    epoch: u64,
    discontinuities: u64,
}

/// A segment of a live stream, for segmented outputs (HLS, DASH, HDS, Smooth).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Sequence number, counting from the stream's first segment, across publisher sessions.
    pub number: u64,
    /// Decode time (ms) of its first keyframe.
    pub start_ms: i64,
    /// Where it ends (the next segment's start); `None` while it is still growing.
    pub end_ms: Option<i64>,
    /// The publisher session it belongs to; a change from the previous segment is a
    /// discontinuity.
    pub epoch: u64,
    /// Session changes from the stream's first segment up to and including this one
    /// (`EXT-X-DISCONTINUITY-SEQUENCE` counts these, also after they left the window).
    pub discontinuities: u64,
}

/// One track's part of a live window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackWindow {
    /// The track.
    pub track: TrackId,
    /// Decode time (ms) of its oldest packet held.
    pub first_ms: i64,
    /// Decode time (ms) of its newest packet held.
    pub last_ms: i64,
    /// Packets held.
    pub packets: u64,
    /// Payload bytes held.
    pub bytes: u64,
    /// Whether any packet held has a composition offset (B-frames).
    pub reordered: bool,
}

struct Ring {
    entries: VecDeque<Arc<Entry>>,
    first_seq: u64,
    keys: VecDeque<KeyMark>,
    segments: VecDeque<SegMark>,
    next_segment: u64,
    /// Counts changes of the segment list (a segment completed or left the window).
    segments_version: u64,
    /// Session changes between segments so far.
    discontinuities: u64,
    /// Unix time (ms) of stream time 0, fixed at the stream's first packet.
    unix_zero_ms: Option<i64>,
    bytes: usize,
    meta: Arc<Meta>,
    main: Option<(TrackId, bool)>,
    state: State,
    epoch: u64,
    /// Shift (ms) for the current epoch, decided at its first packet.
    shift_ms: Option<i64>,
    newest_ms: Option<i64>,
    last_dts: HashMap<TrackId, i64>,
    last_push: Option<Instant>,
    wakers: HashMap<u64, Waker>,
}

/// One live stream.
pub struct LiveStream {
    name: String,
    settings: LiveSettings,
    ring: Mutex<Ring>,
    next_cursor: AtomicU64,
    /// Its counters.
    pub counters: StreamCounters,
    created: Instant,
    /// Woken at every packet and at the end, for requests that wait for media (LL-HLS
    /// blocking playlist reloads and parts not complete yet).
    changed: tokio::sync::Notify,
}

impl std::fmt::Debug for LiveStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveStream")
            .field("name", &self.name)
            .finish()
    }
}

/// What a viewer's cursor found.
#[derive(Debug)]
pub enum Found {
    /// The tracks changed (or are announced for the first time).
    Tracks(Arc<Meta>),
    /// Packets, in order.
    Packets(Vec<Arc<Entry>>),
    /// The stream is over.
    End,
}

impl LiveStream {
    /// A stream with no publisher yet.
    pub fn new(name: &str, settings: LiveSettings) -> LiveStream {
        LiveStream {
            name: name.to_string(),
            settings,
            ring: Mutex::new(Ring {
                entries: VecDeque::new(),
                first_seq: 0,
                keys: VecDeque::new(),
                segments: VecDeque::new(),
                next_segment: 0,
                segments_version: 0,
                discontinuities: 0,
                unix_zero_ms: None,
                bytes: 0,
                meta: Arc::new(Meta {
                    live: true,
                    ..Meta::default()
                }),
                main: None,
                state: State::Waiting {
                    until: Instant::now() + settings.grace,
                },
                epoch: 0,
                shift_ms: None,
                newest_ms: None,
                last_dts: HashMap::new(),
                last_push: None,
                wakers: HashMap::new(),
            }),
            next_cursor: AtomicU64::new(1),
            counters: StreamCounters::default(),
            created: Instant::now(),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its limits.
    pub fn settings(&self) -> LiveSettings {
        self.settings
    }

    /// When it was created.
    pub fn created(&self) -> Instant {
        self.created
    }

    /// Starts a publisher session; the previous one (if any) is superseded. Returns its epoch.
    pub fn begin_epoch(&self) -> u64 {
        let mut r = lock(&self.ring);
        r.epoch += 1;
        r.state = State::Live;
        r.shift_ms = None;
        r.epoch
    }

    /// The current publisher session.
    pub fn epoch(&self) -> u64 {
        lock(&self.ring).epoch
    }

    /// The state.
    pub fn state(&self) -> State {
        lock(&self.ring).state
    }

    /// The current tracks.
    pub fn meta(&self) -> Arc<Meta> {
        lock(&self.ring).meta.clone()
    }

    /// Unix time (ms) that stream time 0 corresponds to, fixed when the first packet came
    /// (later sessions continue the stream's clock, so it holds for them too).
    pub fn unix_zero_ms(&self) -> Option<i64> {
        lock(&self.ring).unix_zero_ms
    }

    /// Stream times (ms) of the oldest and newest packet held.
    pub fn window_ms(&self) -> Option<(i64, i64)> {
        let r = lock(&self.ring);
        Some((r.entries.front()?.ms, r.entries.back()?.ms))
    }

    /// What the window holds of each track that has packets in it (stream info pages).
    pub fn track_windows(&self) -> Vec<TrackWindow> {
        let r = lock(&self.ring);
        let mut out: Vec<TrackWindow> = Vec::new();
        for e in &r.entries {
            let id = e.packet.track;
            let i = match out.iter().position(|w| w.track == id) {
                Some(i) => i,
                None => {
                    out.push(TrackWindow {
                        track: id,
                        first_ms: e.ms,
                        last_ms: e.ms,
                        packets: 0,
                        bytes: 0,
                        reordered: false,
                    });
                    out.len() - 1
                }
            };
            let w = &mut out[i];
            w.last_ms = w.last_ms.max(e.ms);
            w.packets += 1;
            w.bytes += e.packet.data.len() as u64;
            w.reordered |= e.packet.cts != 0;
        }
        out
    }

    /// Packets and payload bytes held.
    pub fn buffered(&self) -> (usize, usize) {
        let r = lock(&self.ring);
        (r.entries.len(), r.bytes)
    }

    /// Replaces the track list (publisher `epoch` only).
    pub fn set_tracks(&self, epoch: u64, tracks: Vec<Track>) -> bool {
        let mut r = lock(&self.ring);
        if r.epoch != epoch || r.state == State::Ended {
            return false;
        }
        let main = tracks
            .iter()
            .find(|t| t.kind == TrackKind::Video)
            .or_else(|| tracks.iter().find(|t| t.kind == TrackKind::Audio))
            .map(|t| (t.id, t.kind == TrackKind::Video));
        r.main = main;
        r.meta = Arc::new(Meta {
            tracks,
            live: true,
            ..Meta::default()
        });
        true
    }

    /// Adds a packet from publisher `epoch`; false when that publisher was superseded.
    pub fn push(&self, epoch: u64, mut pkt: Packet) -> bool {
        let wakers = {
            let mut r = lock(&self.ring);
            if r.epoch != epoch || r.state == State::Ended {
                return false;
            }
            let Some(track) = r.meta.track(pkt.track) else {
                // A packet of a track never announced cannot be described to viewers.
                return true;
            };
            let base = track.timebase;
            let now = Instant::now();
            // A new publisher session continues the timeline where the last one ended, plus
            // the time nobody published, with one shift for every track so the A/V relation
            // of the new session is kept (MistServer does the same for live input).
            let ms_raw = base.rescale(pkt.dts.0, Timebase::MS);
            let shift_ms = match r.shift_ms {
                Some(s) => s,
                None => {
                    let s = match (r.newest_ms, r.last_push) {
                        (Some(newest), Some(at)) => {
                            let gap = now.duration_since(at).as_millis().max(1) as i64;
                            newest.saturating_add(gap).saturating_sub(ms_raw)
                        }
                        _ => 0,
                    };
                    r.shift_ms = Some(s);
                    s
                }
            };
            if shift_ms != 0 {
                pkt.dts = pkt.dts + Timebase::MS.rescale(shift_ms, base);
            }
            // Decode times stay increasing per track whatever the publisher sends.
            if let Some(&last) = r.last_dts.get(&pkt.track) {
                if pkt.dts.0 <= last {
                    pkt.dts.0 = last + 1;
                }
            }
            r.last_dts.insert(pkt.track, pkt.dts.0);
            let ms = base.rescale(pkt.dts.0, Timebase::MS);
            if r.unix_zero_ms.is_none() {
                let unix_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                r.unix_zero_ms = Some(unix_ms - ms);
            }
            r.newest_ms = Some(r.newest_ms.map_or(ms, |n| n.max(ms)));
            r.last_push = Some(now);
            let seq = r.first_seq + r.entries.len() as u64;
            let is_key = match r.main {
                Some((id, true)) => id == pkt.track && pkt.keyframe,
                Some((id, false)) => {
                    id == pkt.track
                        && r.keys
                            .back()
                            .map_or(true, |k| ms - k.ms >= AUDIO_KEY_INTERVAL_MS)
                }
                None => false,
            };
            if is_key {
                r.keys.push_back(KeyMark { seq, ms });
                let epoch = r.epoch;
                let new_segment = r.segments.back().map_or(true, |s| {
                    s.epoch != epoch || ms - s.ms >= self.settings.segment_ms
                });
                if new_segment {
                    let number = r.next_segment;
                    r.next_segment += 1;
                    if number > 0 && r.segments.back().map_or(true, |s| s.epoch != epoch) {
                        r.discontinuities += 1;
                    }
                    let discontinuities = r.discontinuities;
                    r.segments.push_back(SegMark {
                        seq,
                        ms,
                        number,
                        epoch,
                        discontinuities,
                    });
                    r.segments_version += 1;
                }
            }
            self.counters.packets_in.fetch_add(1, Ordering::Relaxed);
            self.counters
                .bytes_in
                .fetch_add(pkt.data.len() as u64, Ordering::Relaxed);
            r.bytes += pkt.data.len();
            let entry = Arc::new(Entry::new(pkt, ms, r.meta.clone(), r.epoch));
            r.entries.push_back(entry);
            self.trim(&mut r);
            std::mem::take(&mut r.wakers)
        };
        for (_, w) in wakers {
            w.wake();
        }
        self.changed.notify_waiters();
        true
    }

    /// Drops what the window no longer needs: whole key groups while the window from the
    /// next key still covers the DVR time, and anything past the byte cap.
    fn trim(&self, r: &mut Ring) {
        let newest = r.newest_ms.unwrap_or(0);
        let dvr = self.settings.dvr_ms as i64;
        while r.keys.len() >= 2 {
            let next = r.keys[1];
            if newest - next.ms >= dvr || r.bytes > self.settings.max_bytes {
                drop_until(r, next.seq);
            } else {
                break;
            }
        }
        // Packets before the first key serve nobody once the window is past them; without any
        // key the window is trimmed by time alone.
        while let Some(front) = r.entries.front() {
            let first_key = r.keys.front().map(|k| k.seq);
            let before_key = first_key.is_some_and(|k| r.first_seq < k);
            let too_old = newest - front.ms > dvr;
            if (first_key.is_none() || before_key) && too_old
                || r.bytes > self.settings.max_bytes && r.entries.len() > 1
            {
                let seq = r.first_seq + 1;
                drop_until(r, seq);
            } else {
                break;
            }
        }
    }

    /// Ends publisher `epoch`: viewers wait for a new publisher until the grace period ends.
    pub fn unpublish(&self, epoch: u64) {
        let mut r = lock(&self.ring);
        if r.epoch == epoch && r.state == State::Live {
            r.state = State::Waiting {
                until: Instant::now() + self.settings.grace,
            };
        }
    }

    /// The segments in the window, oldest first, and a version number that changes whenever
    /// the list does (playlists are rebuilt only then).
    pub fn segments(&self) -> (Vec<SegmentInfo>, u64) {
        let r = lock(&self.ring);
        let ended = r.state == State::Ended;
        let end_of_stream = r.entries.back().map(|e| e.ms + 1);
        let mut out: Vec<SegmentInfo> = Vec::with_capacity(r.segments.len());
        for (i, s) in r.segments.iter().enumerate() {
            let end_ms = match r.segments.get(i + 1) {
                Some(n) => Some(n.ms),
                None if ended => end_of_stream,
                None => None,
            };
            out.push(SegmentInfo {
                number: s.number,
                start_ms: s.ms,
                end_ms,
                epoch: s.epoch,
                discontinuities: s.discontinuities,
            });
        }
        (out, r.segments_version)
    }

    /// The packets of complete segment `number`, in publish order, with the tracks in force
    /// at its start; `None` when it is not in the window or not complete.
    pub fn segment(&self, number: u64) -> Option<(SegmentInfo, Vec<Arc<Entry>>)> {
        let r = lock(&self.ring);
        let i = r.segments.iter().position(|s| s.number == number)?;
        let s = r.segments[i];
        let (end_seq, end_ms) = match r.segments.get(i + 1) {
            Some(n) => (n.seq, n.ms),
            None if r.state == State::Ended => (
                r.first_seq + r.entries.len() as u64,
                r.entries.back().map_or(s.ms, |e| e.ms + 1),
            ),
            None => return None,
        };
        let from = (s.seq - r.first_seq) as usize;
        let to = (end_seq - r.first_seq) as usize;
        let entries: Vec<Arc<Entry>> = r.entries.range(from..to).cloned().collect();
        Some((
            SegmentInfo {
                number: s.number,
                start_ms: s.ms,
                end_ms: Some(end_ms),
                epoch: s.epoch,
                discontinuities: s.discontinuities,
            },
            entries,
        ))
    }

    /// The packets of segment `number` so far, in publish order, with the tracks in force at
    /// its start: the whole segment once complete (`end_ms` set), else what the growing
    /// newest segment holds until now (`end_ms` `None`; LL-HLS cuts its parts from these).
    /// `None` when it is not in the window.
    pub fn segment_so_far(&self, number: u64) -> Option<(SegmentInfo, Vec<Arc<Entry>>)> {
        let r = lock(&self.ring);
        let i = r.segments.iter().position(|s| s.number == number)?;
        let s = r.segments[i];
        let end_of_buffer = r.first_seq + r.entries.len() as u64;
        let (end_seq, end_ms) = match r.segments.get(i + 1) {
            Some(n) => (n.seq, Some(n.ms)),
            None if r.state == State::Ended => (
                end_of_buffer,
                Some(r.entries.back().map_or(s.ms, |e| e.ms + 1)),
            ),
            None => (end_of_buffer, None),
        };
        let from = (s.seq - r.first_seq) as usize;
        let to = (end_seq - r.first_seq) as usize;
        let entries: Vec<Arc<Entry>> = r.entries.range(from..to).cloned().collect();
        Some((
            SegmentInfo {
                number: s.number,
                start_ms: s.ms,
                end_ms,
                epoch: s.epoch,
                discontinuities: s.discontinuities,
            },
            entries,
        ))
    }

    /// Ends the stream now.
    pub fn end(&self) {
        let wakers = {
            let mut r = lock(&self.ring);
            if r.state != State::Ended {
                r.segments_version += 1;
            }
            r.state = State::Ended;
            std::mem::take(&mut r.wakers)
        };
        for (_, w) in wakers {
            w.wake();
        }
        self.changed.notify_waiters();
    }

    /// A future that completes at the next packet or at the end of the stream. Made before
    /// looking at the stream, it misses nothing that happens after (tokio's `Notify`).
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Applies deadlines; true once the stream has ended.
    pub fn tick(&self, now: Instant) -> bool {
        let over = match self.state() {
            State::Waiting { until } => now >= until,
            State::Ended => true,
            State::Live => false,
        };
        if over {
            self.end();
        }
        over
    }

    /// A new cursor id (for waker registration).
    pub fn cursor_id(&self) -> u64 {
        self.next_cursor.fetch_add(1, Ordering::Relaxed)
    }

    /// Forgets a cursor's waker.
    pub fn forget(&self, cursor: u64) {
        lock(&self.ring).wakers.remove(&cursor);
    }

    /// Where a new viewer starts: the newest key, or the key at or before `start_ms` inside
    /// the window. `None` while the stream has no key yet.
    pub fn start_seq(&self, start_ms: Option<i64>) -> Option<u64> {
        let r = lock(&self.ring);
        start_in(&r, start_ms)
    }

    /// Reads from `*next` for cursor `id`: moves it forward past what the window lost or
    /// what is too far behind live, then takes up to `max` packets or the track change
    /// before them. `seen` is the track list the viewer last announced.
    pub fn poll_read(
        &self,
        cx: &mut Context<'_>,
        id: u64,
        next: &mut Option<u64>,
        seen: &Option<Arc<Meta>>,
        max: usize,
    ) -> Poll<Found> {
        let mut r = lock(&self.ring);
        if next.is_none() {
            *next = start_in(&r, None);
        }
        let Some(mut at) = *next else {
            if r.state == State::Ended {
                return Poll::Ready(Found::End);
            }
            r.wakers.insert(id, cx.waker().clone());
            return Poll::Pending;
        };
        let newest = r.keys.back().map(|k| k.seq);
        let end_seq = r.first_seq + r.entries.len() as u64;
        let behind = at < r.first_seq
            || at < end_seq
                && r.entries.get((at - r.first_seq) as usize).is_some_and(|e| {
                    r.entries
                        .back()
                        .is_some_and(|b| b.ms - e.ms > self.settings.max_keep_away_ms as i64)
                });
        if behind {
            if let Some(k) = newest.filter(|&k| k > at || at < r.first_seq) {
                at = k;
                self.counters.skips.fetch_add(1, Ordering::Relaxed);
            } else {
                at = at.max(r.first_seq);
            }
        }
        *next = Some(at);
        let from = (at - r.first_seq) as usize;
        if from >= r.entries.len() {
            if r.state == State::Ended {
                return Poll::Ready(Found::End);
            }
            r.wakers.insert(id, cx.waker().clone());
            return Poll::Pending;
        }
        let first = &r.entries[from];
        if !seen.as_ref().is_some_and(|m| Arc::ptr_eq(m, &first.meta)) {
            return Poll::Ready(Found::Tracks(first.meta.clone()));
        }
        let mut out = Vec::with_capacity((r.entries.len() - from).min(max));
        for e in r.entries.range(from..).take(max) {
            if !Arc::ptr_eq(&e.meta, &first.meta) {
                break;
            }
            out.push(e.clone());
        }
        *next = Some(at + out.len() as u64);
        Poll::Ready(Found::Packets(out))
    }
}

fn start_in(r: &Ring, start_ms: Option<i64>) -> Option<u64> {
    match start_ms {
        None => r.keys.back().map(|k| k.seq),
        Some(ms) => r
            .keys
            .iter()
            .rev()
            .find(|k| k.ms <= ms)
            .or(r.keys.front())
            .map(|k| k.seq),
    }
}

fn drop_until(r: &mut Ring, seq: u64) {
    while r.first_seq < seq {
        let Some(e) = r.entries.pop_front() else {
            break;
        };
        r.bytes -= e.len();
        r.first_seq += 1;
    }
    while r.keys.front().is_some_and(|k| k.seq < r.first_seq) {
        r.keys.pop_front();
    }
    // A segment whose start left the window is no longer whole.
    while r.segments.front().is_some_and(|s| s.seq < r.first_seq) {
        r.segments.pop_front();
        r.segments_version += 1;
    }
}
