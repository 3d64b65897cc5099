//! Live segmented outputs: per stream and packaging, one [`LiveState`] holding the variants'
//! segmenters, the segments built so far (shared `Bytes`, kept while in the window) and the
//! playlists of the current window version.
//!
//! A segment is built when first asked for, by its variant's one segmenter, in order: when
//! segment `k` is asked and the segmenter last wrote `j < k`, segments `j+1..k` are built
//! first (only what the hub still holds), so continuity counters and sequence numbers run on.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use super::{find_segment, Caching};
use crate::dtsc::{Meta, Packet, Ticks, Timebase, Track, TrackId};
use crate::package::dash::mpd::{self, Live, Representation, Timing};
use crate::package::dash::{MPD, MPD_MIME};
use crate::package::hls::playlist::{self, Rates};
use crate::package::hls::{self, INIT, PLAYLIST, PLAYLIST_MIME};
use crate::package::ll::{
    advance_part_limit, cut_parts, parse_part_name, part_name, sequence, LowLatency, Part,
    MAX_PARTS, PART_LIST_TARGETS, PART_TARGET_MS,
};
use crate::package::segmenter::{self, Segmenter};
use crate::package::vod::rates_of;
use crate::package::{Packaging, Segment, Variant, Window};
use crate::pipeline::Adapter;
use crate::serve::hub::{LiveStream, State};

/// Built segments kept below the window's first segment: a player that read the playlist
/// just before the window moved can still fetch what it listed (RFC 8216 §6.2.2).
pub const LINGER_SEGMENTS: u64 = 3;
/// Segments behind the newest whose LL-HLS parts are kept (parts are listed for the last
/// three target durations and stay fetchable three more, §6.2.2).
pub const PART_SEGMENTS_KEPT: u64 = 6;
/// Most segments built in one go to catch a segmenter up to the one asked for; further back
/// the segmenter starts afresh at the segment asked for.
pub const MAX_CATCH_UP: u64 = 16;
/// Live playlists are listed once the window holds more than this many complete segments
/// without its oldest, which may leave the hub at any moment.
pub const KEEP_OLDEST_UNTIL: usize = 3;
/// Extra bytes TS adds to payloads (packet headers, PES headers, PSI), for `BANDWIDTH` before
/// any segment was built: about 5 %, and more for small audio frames.
const TS_OVERHEAD_PERCENT: u64 = 10;

/// The wall clock in unix ms.
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every live stream's state, by stream name and packaging.
#[derive(Debug, Default)]
pub struct LiveStates {
    states: Mutex<HashMap<(String, Packaging), Arc<LiveState>>>,
}

impl LiveStates {
    /// The state of `name` (live stream `stream`), made on first use; a stream that ended and
    /// came back under the same name gets a fresh one. States of ended streams are dropped.
    pub fn state(
        &self,
        name: &str,
        packaging: Packaging,
        stream: &Arc<LiveStream>,
        hub_started: Instant,
    ) -> Arc<LiveState> {
        let mut states = lock(&self.states);
        if let Some(s) = states.get(&(name.to_string(), packaging)) {
            if Arc::ptr_eq(&s.stream, stream) {
                return s.clone();
            }
        }
        states.retain(|_, s| s.stream.state() != State::Ended);
        let s = Arc::new(LiveState::new(packaging, stream.clone(), hub_started));
        states.insert((name.to_string(), packaging), s.clone());
        s
    }

    /// How many states are held (for tests of memory use).
    pub fn len(&self) -> usize {
        lock(&self.states).len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One live stream in one packaging.
pub struct LiveState {
    packaging: Packaging,
    stream: Arc<LiveStream>,
    /// Distinguishes this stream's life in ETags (a stream of the same name later is another).
    tag: u128,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for LiveState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveState")
            .field("stream", &self.stream.name())
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    /// The tracks the variants were made for.
    tracks: Vec<Track>,
    variants: Vec<LiveVariant>,
    /// Never lowered during the stream's life (RFC 8216 §6.2.1).
    target_s: u64,
    /// Text of the master (`""`) and media playlists, with the window version they are of.
    playlists: HashMap<String, (u64, Bytes)>,
    /// Text of low-latency media playlists, with the window version, growing segment and
    /// parts of it they are of.
    ll_playlists: HashMap<String, ((u64, u64, usize), Bytes)>,
}

struct LiveVariant {
    variant: Variant,
    /// The tracks its segmenter was made for (a publisher's new session may bring others).
    tracks: Vec<Track>,
    segmenter: Option<Box<dyn Segmenter>>,
    adapters: Vec<(TrackId, Adapter)>,
    init: Option<Bytes>,
    /// The segment the segmenter writes next.
    next: Option<u64>,
    built: BTreeMap<u64, (Segment, Bytes)>,
    /// LL-HLS parts built so far (fMP4), by segment and part; a segment is its parts.
    parts: BTreeMap<(u64, u32), (Part, Bytes)>,
    /// The part the segmenter writes next (fMP4).
    part_next: Option<(u64, u32)>,
}

impl LiveVariant {
    /// A variant of `tracks` (the stream's), with its segmenter; `None` segmenter when the
    /// muxer refuses the tracks.
    fn new(packaging: Packaging, variant: Variant, all: &[Track]) -> LiveVariant {
        let mut v = LiveVariant {
            variant,
            tracks: Vec::new(),
            segmenter: None,
            adapters: Vec::new(),
            init: None,
            next: None,
            built: BTreeMap::new(),
            parts: BTreeMap::new(),
            part_next: None,
        };
        v.reset(packaging, all);
        v
    }

    /// Makes a new segmenter for `all` (the tracks of the segment about to be built).
    fn reset(&mut self, packaging: Packaging, all: &[Track]) {
        let tracks: Vec<Track> = self
            .variant
            .tracks
            .iter()
            .filter_map(|id| all.iter().find(|t| t.id == *id).cloned())
            .collect();
        let mut meta = Meta {
            live: true,
            ..Meta::default()
        };
        self.adapters.clear();
        for t in &tracks {
            let Some(want) = packaging.framing(&t.codec) else {
                continue;
            };
            match Adapter::new(t, want) {
                Ok(a) => {
                    meta.tracks.push(a.track(t));
                    self.adapters.push((t.id, a));
                }
                Err(e) => tracing::warn!(track = %t.id, "segmented output: {e}"),
            }
        }
        self.segmenter = match segmenter::new(packaging, &meta) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(variant = %self.variant.name, "segmented output: {e}");
                None
            }
        };
        self.init = self.segmenter.as_ref().and_then(|s| s.init());
        self.tracks = tracks;
        self.next = None;
    }
}

/// A complete segment of the hub's list, as packaging describes it.
fn complete(info: &crate::serve::hub::SegmentInfo) -> Option<Segment> {
    Some(Segment {
        number: info.number,
        start_ms: info.start_ms,
        end_ms: info.end_ms?,
        discontinuities: info.discontinuities,
    })
}

impl LiveState {
    fn new(packaging: Packaging, stream: Arc<LiveStream>, hub_started: Instant) -> LiveState {
        LiveState {
            packaging,
            tag: stream
                .created()
                .saturating_duration_since(hub_started)
                .as_nanos(),
            stream,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The answer to `path` (`[index.m3u8]`, `[VARIANT, index.m3u8]`, `[VARIANT, init.m4s]`,
    /// `[VARIANT, SEGMENT]`): bytes, MIME type and caching; `None` for 404.
    pub fn answer(&self, path: &[&str]) -> Option<(Bytes, &'static str, Caching)> {
        let (infos, version) = self.stream.segments();
        let mut inner = lock(&self.inner);
        let meta = self.stream.meta();
        self.ensure_variants(&mut inner, &meta);
        let segments: Vec<Segment> = infos.iter().filter_map(complete).collect();
        // Forget what is well below the window.
        let floor = infos
            .first()
            .map_or(0, |s| s.number.saturating_sub(LINGER_SEGMENTS));
        // Parts are for players at the live edge: those of the last few segments are kept.
        let part_floor = infos
            .last()
            .map_or(0, |s| s.number.saturating_sub(PART_SEGMENTS_KEPT));
        for v in &mut inner.variants {
            v.built = v.built.split_off(&floor);
            v.parts = v.parts.split_off(&(part_floor, 0));
        }
        let growing = infos.last().copied().filter(|s| s.end_ms.is_none());
        let live_control = "public, max-age=1".to_string();
        match path {
            [p] if *p == MPD && self.packaging.cmaf() => {
                let text = self.mpd(&mut inner, version, &segments, &meta)?;
                let now = unix_ms();
                let text = Bytes::from(mpd::with_time(&String::from_utf8_lossy(&text), now));
                // Each answer tells the time, so none is the same as another.
                Some((
                    text,
                    MPD_MIME,
                    self.caching(live_control, &format!("mpd{version}-{now}")),
                ))
            }
            [p] if *p == PLAYLIST => {
                let text = self.playlist(&mut inner, "", version, &segments, &meta)?;
                Some((
                    text,
                    PLAYLIST_MIME,
                    self.caching(live_control, &format!("m{version}")),
                ))
            }
            [v, p] if *p == PLAYLIST && self.low_latency() => {
                let (text, key) = self.ll_playlist(&mut inner, v, version, &segments, growing)?;
                Some((
                    text,
                    PLAYLIST_MIME,
                    self.caching(live_control, &format!("{v}-{}-{}-{}", key.0, key.1, key.2)),
                ))
            }
            [v, p] if *p == PLAYLIST => {
                let text = self.playlist(&mut inner, v, version, &segments, &meta)?;
                Some((
                    text,
                    PLAYLIST_MIME,
                    self.caching(live_control, &format!("{v}-{version}")),
                ))
            }
            [v, p] if *p == INIT && self.packaging.cmaf() => {
                let lv = inner.variants.iter().find(|x| x.variant.name == *v)?;
                let init = lv.init.clone()?;
                Some((
                    init,
                    "video/mp4",
                    self.caching(self.segment_control(), &format!("{v}-init")),
                ))
            }
            [v, name] if self.packaging.cmaf() && parse_part_name(name).is_some() => {
                let (start, k) = parse_part_name(name)?;
                let info = infos.iter().find(|i| i.start_ms == start)?;
                let lv = inner.variants.iter_mut().find(|x| x.variant.name == *v)?;
                self.build_parts(lv, (info.number, k));
                let (_, bytes) = lv.parts.get(&(info.number, k))?;
                Some((
                    bytes.clone(),
                    "video/mp4",
                    self.caching(self.segment_control(), &format!("{v}-{}.{k}", info.number)),
                ))
            }
            [v, name] => {
                let seg = *find_segment(self.packaging, &segments, name)?;
                let bytes = self.build(&mut inner, v, seg.number)?;
                let mime = if self.packaging == Packaging::HlsTs {
                    "video/mp2t"
                } else {
                    "video/mp4"
                };
                Some((
                    bytes,
                    mime,
                    self.caching(self.segment_control(), &format!("{v}-{}", seg.number)),
                ))
            }
            _ => None,
        }
    }

    fn caching(&self, control: String, what: &str) -> Caching {
        Caching {
            control,
            etag: format!("\"{:x}-{what}\"", self.tag),
            modified: None,
        }
    }

    /// Segment names are unique within the stream's life, so caches may keep them for the
    /// DVR window (MistServer's choice too).
    fn segment_control(&self) -> String {
        let secs = (self.stream.settings().dvr_ms / 1000).max(1);
        format!("public, max-age={secs}, immutable")
    }

    /// Variants for the stream's current tracks (made again when they change).
    fn ensure_variants(&self, inner: &mut Inner, meta: &Meta) {
        if inner.tracks == meta.tracks && !inner.variants.is_empty() {
            return;
        }
        let mut old: Vec<LiveVariant> = std::mem::take(&mut inner.variants);
        for v in hls::variants(self.packaging, meta) {
            match old.iter().position(|o| o.variant == v) {
                // Same tracks by id: keep what was built; the segmenter follows the tracks of
                // each segment it writes.
                Some(i) => inner.variants.push(old.swap_remove(i)),
                None => inner
                    .variants
                    .push(LiveVariant::new(self.packaging, v, &meta.tracks)),
            }
        }
        inner.tracks = meta.tracks.clone();
        inner.playlists.clear();
    }

    /// The window a media playlist lists: complete segments, without the oldest once there
    /// are enough (it may leave the hub any moment).
    fn window(&self, inner: &mut Inner, segments: &[Segment]) -> Window {
        let listed: Vec<Segment> = if segments.len() > KEEP_OLDEST_UNTIL {
            segments[1..].to_vec()
        } else {
            segments.to_vec()
        };
        inner.target_s = inner.target_s.max(Window::fitting_target(&listed));
        Window {
            segments: listed,
            live: true,
            ended: self.stream.state() == State::Ended,
            unix_zero_ms: self.stream.unix_zero_ms(),
            target_s: inner.target_s,
        }
    }

    /// The master (`variant` empty) or a media playlist, from the cache when the window has
    /// not changed.
    fn playlist(
        &self,
        inner: &mut Inner,
        variant: &str,
        version: u64,
        segments: &[Segment],
        meta: &Meta,
    ) -> Option<Bytes> {
        if !variant.is_empty() && !inner.variants.iter().any(|v| v.variant.name == variant) {
            return None;
        }
        if let Some((v, text)) = inner.playlists.get(variant) {
            if *v == version {
                return Some(text.clone());
            }
        }
        let text = if variant.is_empty() {
            if inner.variants.is_empty() {
                return None;
            }
            let variants: Vec<Variant> = inner.variants.iter().map(|v| v.variant.clone()).collect();
            let rates = |v: &Variant| self.rates(inner, v, segments, meta);
            playlist::master(self.packaging, meta, &variants, &rates)
        } else {
            let w = self.window(inner, segments);
            let packaging = self.packaging;
            playlist::media(packaging, &w, &|s| hls::segment_name(packaging, s))
        };
        let text = Bytes::from(text);
        inner
            .playlists
            .insert(variant.to_string(), (version, text.clone()));
        Some(text)
    }

    /// The live MPD of the window (without its `UTCTiming`), from the cache when the window
    /// has not changed.
    fn mpd(
        &self,
        inner: &mut Inner,
        version: u64,
        segments: &[Segment],
        meta: &Meta,
    ) -> Option<Bytes> {
        if let Some((v, text)) = inner.playlists.get(MPD) {
            if *v == version {
                return Some(text.clone());
            }
        }
        if inner.variants.is_empty() {
            return None;
        }
        let window = self.window(inner, segments);
        if window.segments.is_empty() {
            return None;
        }
        let longest = window
            .segments
            .iter()
            .map(|s| s.duration_ms())
            .max()
            .unwrap_or(0);
        let settings = self.stream.settings();
        // A segment before a publisher reconnect ends where its media does, so the timeline
        // shows the time nobody published as a gap (an S whose t jumps) rather than as a
        // segment that claims media it does not hold.
        let mut timeline = window.segments.clone();
        for i in 0..timeline.len().saturating_sub(1) {
            if timeline[i + 1].discontinuities > timeline[i].discontinuities {
                if let Some(end) = self.media_end(timeline[i].number) {
                    timeline[i].end_ms = end.clamp(timeline[i].start_ms + 1, timeline[i].end_ms);
                }
            }
        }
        let reps: Vec<Representation> = inner
            .variants
            .iter()
            .map(|lv| {
                let fpks = lv
                    .variant
                    .tracks
                    .first()
                    .and_then(|id| meta.track(*id))
                    .and_then(|t| t.video())
                    .map(|v| v.fpks)
                    .filter(|f| *f > 0);
                Representation {
                    variant: lv.variant.clone(),
                    bandwidth: self.rates(inner, &lv.variant, segments, meta).peak,
                    fpks,
                    segments: timeline.clone(),
                }
            })
            .collect();
        let timing = Timing::Dynamic(Live {
            availability_start_ms: self.stream.unix_zero_ms().unwrap_or(0),
            publish_ms: unix_ms(),
            update_ms: settings.segment_ms.max(1),
            time_shift_ms: i64::try_from(settings.dvr_ms).unwrap_or(i64::MAX),
            // Two segments behind the newest listed one: that one is complete, the next is
            // being written (MistServer says 5 s for its 2 s segments).
            delay_ms: 2 * longest.max(settings.segment_ms),
        });
        let text = Bytes::from(mpd::mpd(meta, &reps, timing));
        inner
            .playlists
            .insert(MPD.to_string(), (version, text.clone()));
        Some(text)
    }

    /// Where the media of complete segment `number` ends (ms): its main track's last packet
    /// plus that packet's step from the one before.
    fn media_end(&self, number: u64) -> Option<i64> {
        let (_, entries) = self.stream.segment(number)?;
        let main = entries.first().and_then(|e| {
            let m = &e.meta;
            m.tracks
                .iter()
                .find(|t| t.kind == crate::dtsc::TrackKind::Video)
                .or_else(|| {
                    m.tracks
                        .iter()
                        .find(|t| t.kind == crate::dtsc::TrackKind::Audio)
                })
                .map(|t| t.id)
        })?;
        let mut own = entries.iter().rev().filter(|e| e.packet.track == main);
        let last = own.next()?.ms;
        let step = own.next().map_or(0, |e| last - e.ms);
        Some(last + step.max(0))
    }

    /// A variant's bit rates: from the segments built so far, else from the payload of the
    /// newest complete segment plus the container's overhead.
    fn rates(&self, inner: &Inner, v: &Variant, segments: &[Segment], _meta: &Meta) -> Rates {
        if let Some(lv) = inner.variants.iter().find(|x| x.variant == *v) {
            if !lv.built.is_empty() {
                let (segs, sizes): (Vec<Segment>, Vec<u64>) =
                    lv.built.values().map(|(s, b)| (*s, b.len() as u64)).unzip();
                return rates_of(&segs, &sizes);
            }
        }
        let Some(last) = segments.last() else {
            return Rates::default();
        };
        let Some((_, entries)) = self.stream.segment(last.number) else {
            return Rates::default();
        };
        let payload: u64 = entries
            .iter()
            .filter(|e| v.has(e.packet.track))
            .map(|e| e.len() as u64)
            .sum();
        let overhead = match self.packaging {
            Packaging::HlsTs => TS_OVERHEAD_PERCENT,
            _ => 2,
        };
        let bytes = payload * (100 + overhead) / 100;
        rates_of(&[*last], &[bytes])
    }

    /// Segment `number` of variant `name`, built (with those before it, in order) if needed.
    fn build(&self, inner: &mut Inner, name: &str, number: u64) -> Option<Bytes> {
        let packaging = self.packaging;
        let lv = inner.variants.iter_mut().find(|v| v.variant.name == name)?;
        if let Some((_, b)) = lv.built.get(&number) {
            return Some(b.clone());
        }
        if packaging.cmaf() {
            // A live fMP4 segment is its parts, one after the other.
            self.build_parts(lv, (number, MAX_PARTS - 1));
            return lv.built.get(&number).map(|(_, b)| b.clone());
        }
        let from = match lv.next {
            Some(n) if n < number && number - n <= MAX_CATCH_UP => n,
            _ => number,
        };
        let mut answer = None;
        for k in from..=number {
            if lv.built.contains_key(&k) {
                continue;
            }
            let Some((info, entries)) = self.stream.segment(k) else {
                continue;
            };
            let Some(seg) = complete(&info) else { continue };
            // The tracks in force for this segment: a new publisher session may have brought
            // other ones than the segmenter was made for.
            if let Some(first) = entries.first() {
                let tracks: Vec<Track> = lv
                    .variant
                    .tracks
                    .iter()
                    .filter_map(|id| first.meta.track(*id).cloned())
                    .collect();
                if tracks != lv.tracks {
                    lv.reset(packaging, &first.meta.tracks);
                }
            }
            let mut packets: Vec<Packet> = Vec::with_capacity(entries.len());
            for e in &entries {
                let Some((_, a)) = lv.adapters.iter_mut().find(|(id, _)| *id == e.packet.track)
                else {
                    continue;
                };
                match a.apply(e.packet.clone()) {
                    Ok(p) => packets.push(p),
                    Err(err) => tracing::debug!("segmented output: packet left out: {err}"),
                }
            }
            // The main track's next packet is the next segment's key, at its end.
            let next: Vec<(TrackId, Ticks)> = lv
                .tracks
                .first()
                .map(|t| (t.id, Ticks(Timebase::MS.rescale(seg.end_ms, t.timebase))))
                .into_iter()
                .collect();
            let seg_out = lv.segmenter.as_mut()?;
            match seg_out.segment(&seg, &packets, &next) {
                Ok(bytes) => {
                    lv.next = Some(k + 1);
                    lv.built.insert(k, (seg, bytes.clone()));
                    if k == number {
                        answer = Some(bytes);
                    }
                }
                Err(e) => {
                    tracing::warn!(stream = %self.stream.name(), segment = k, "segment not built: {e}");
                    lv.next = None;
                }
            }
        }
        answer
    }

    /// Segments built and kept, over all variants (for tests of memory use).
    pub fn built(&self) -> usize {
        lock(&self.inner)
            .variants
            .iter()
            .map(|v| v.built.len())
            .sum()
    }
}

/// What a blocking playlist request (`_HLS_msn`, `_HLS_part`) finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// The playlist holds what was asked for (or never will: the stream ended, or the segment
    /// left the window): answer now.
    Ready,
    /// Not yet: wait for the stream.
    Wait,
    /// Further ahead than the draft lets a client ask (§6.2.5.2): 400.
    TooFar,
    /// No such variant: 404.
    Unknown,
}

impl LiveState {
    /// True when media playlists are low-latency HLS (fMP4, live).
    fn low_latency(&self) -> bool {
        self.packaging == Packaging::HlsFmp4 && self.stream.state() != State::Ended
    }

    /// The target duration (ms) blocking requests are bounded by: three of these (§6.2.5.2).
    pub fn target_ms(&self) -> u64 {
        let t = lock(&self.inner).target_s;
        // Before any playlist fixed it: the segment length rounded up to whole seconds.
        let seg = u64::try_from(self.stream.settings().segment_ms).unwrap_or(0);
        (t * 1000).max(seg.div_ceil(1000) * 1000).max(1000)
    }

    /// Builds variant `lv`'s parts in order, as far as the media goes, up to part `upto`
    /// (segment, part); every segment whose parts are all built becomes their concatenation.
    fn build_parts(&self, lv: &mut LiveVariant, upto: (u64, u32)) {
        let part_ms = PART_TARGET_MS;
        let packaging = self.packaging;
        // fMP4 parts do not depend on the muxer's past (decode times are absolute, sequence
        // numbers follow from the part), so one behind the cursor is built again alone and
        // the cursor kept.
        let saved = lv.part_next;
        let (mut n, mut k) = match saved {
            Some(c) if c > upto => {
                if lv.parts.contains_key(&upto) || lv.built.contains_key(&upto.0) {
                    return;
                }
                (upto.0, 0)
            }
            Some(c) if upto.0 - c.0 <= MAX_CATCH_UP => c,
            // Afresh: from the oldest segment of the window a few back, so the parts and
            // segments a playlist lists near the edge exist.
            _ => {
                let first = self
                    .stream
                    .segments()
                    .0
                    .first()
                    .map_or(upto.0, |s| s.number);
                (
                    upto.0
                        .saturating_sub(PART_SEGMENTS_KEPT)
                        .max(first)
                        .min(upto.0),
                    0,
                )
            }
        };
        // Each round builds a part or moves on a segment; bounded whatever the media.
        let mut rounds = 0u64;
        let limit = u64::from(MAX_PARTS) * (MAX_CATCH_UP + 2);
        while (n, k) <= upto && rounds < limit {
            rounds += 1;
            let Some((info, entries)) = self.stream.segment_so_far(n) else {
                // Gone from the window: start again at the segment asked for.
                let first = self.stream.segments().0.first().map(|s| s.number);
                match first {
                    Some(f) if n < f && n < upto.0 => {
                        n = upto.0.max(f);
                        k = 0;
                        lv.part_next = None;
                        continue;
                    }
                    _ => break,
                }
            };
            if k == 0 {
                // The tracks in force for this segment (a new session may bring others).
                if let Some(first) = entries.first() {
                    let tracks: Vec<Track> = lv
                        .variant
                        .tracks
                        .iter()
                        .filter_map(|id| first.meta.track(*id).cloned())
                        .collect();
                    if tracks != lv.tracks {
                        lv.reset(packaging, &first.meta.tracks);
                    }
                }
            }
            let Some(main) = lv.tracks.first().map(|t| (t.id, t.timebase)) else {
                break;
            };
            let seg = Segment {
                number: info.number,
                start_ms: info.start_ms,
                end_ms: info.end_ms.unwrap_or(info.start_ms),
                discontinuities: info.discontinuities,
            };
            let own: Vec<&Arc<crate::serve::hub::Entry>> = entries
                .iter()
                .filter(|e| e.packet.track == main.0)
                .collect();
            let times: Vec<i64> = own.iter().map(|e| e.ms).collect();
            let starts = cut_parts(&times, info.start_ms, info.end_ms, part_ms);
            let complete = info.end_ms.is_some();
            let count = if complete {
                u32::try_from(starts.len()).unwrap_or(MAX_PARTS)
            } else {
                MAX_PARTS
            };
            if k >= count {
                // Every part built: the segment is their concatenation.
                let mut whole = Vec::new();
                let all = (0..count).all(|j| match lv.parts.get(&(n, j)) {
                    Some((_, b)) => {
                        whole.extend_from_slice(b);
                        true
                    }
                    None => false,
                });
                if all {
                    lv.built.insert(n, (seg, Bytes::from(whole)));
                }
                n += 1;
                k = 0;
                lv.part_next = Some((n, 0));
                continue;
            }
            // Part k exists once it started and the next one did (or the segment is done).
            let ki = k as usize;
            let Some(&from) = starts.get(ki) else { break };
            let to = match starts.get(ki + 1) {
                Some(&t) => t,
                None if complete => own.len(),
                None => break,
            };
            let mut packets: Vec<Packet> = Vec::with_capacity(to - from);
            for e in &own[from..to] {
                let Some((_, a)) = lv.adapters.iter_mut().find(|(id, _)| *id == e.packet.track)
                else {
                    continue;
                };
                match a.apply(e.packet.clone()) {
                    Ok(p) => packets.push(p),
                    Err(err) => tracing::debug!("segmented output: packet left out: {err}"),
                }
            }
            // The next sample: the next part's first, else the next segment's first.
            let next_dts = own
                .get(to)
                .map(|e| e.packet.dts)
                .or_else(|| {
                    let (_, later) = self.stream.segment_so_far(n + 1)?;
                    later
                        .iter()
                        .find(|e| e.packet.track == main.0)
                        .map(|e| e.packet.dts)
                })
                .or_else(|| info.end_ms.map(|e| Ticks(Timebase::MS.rescale(e, main.1))));
            let next: Vec<(TrackId, Ticks)> = next_dts.map(|d| (main.0, d)).into_iter().collect();
            let independent = packets.first().is_some_and(|p| p.keyframe);
            let bytes = if packets.is_empty() {
                Bytes::new()
            } else {
                let Some(s) = lv.segmenter.as_mut() else {
                    break;
                };
                match s.fragment(sequence(n, k), &packets, &next) {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => {
                        tracing::warn!(stream = %self.stream.name(), segment = n, part = k, "part not built: {e}");
                        Bytes::new()
                    }
                    None => break,
                }
            };
            // A segment's first part starts with it, its last ends with it.
            let a = if k == 0 { info.start_ms } else { times[from] };
            let b = match own.get(to) {
                Some(e) if to < own.len() && starts.get(ki + 1).is_some() => e.ms,
                _ => info.end_ms.unwrap_or(a),
            };
            lv.parts.insert(
                (n, k),
                (
                    Part {
                        index: k,
                        duration_ms: (b - a).max(0),
                        independent,
                    },
                    bytes,
                ),
            );
            k += 1;
            lv.part_next = Some((n, k));
        }
        if let Some(c) = saved {
            if lv.part_next.is_none_or(|now| now < c) {
                lv.part_next = Some(c);
            }
        }
    }

    /// The low-latency media playlist of variant `name` and what it is of (window version,
    /// growing segment, its parts), from the cache when none of that changed.
    fn ll_playlist(
        &self,
        inner: &mut Inner,
        name: &str,
        version: u64,
        segments: &[Segment],
        growing: Option<crate::serve::hub::SegmentInfo>,
    ) -> Option<(Bytes, (u64, u64, usize))> {
        let upto = match (growing, segments.last()) {
            (Some(g), _) => (g.number, MAX_PARTS - 1),
            (None, Some(s)) => (s.number, MAX_PARTS - 1),
            (None, None) => return None,
        };
        let window = self.window(inner, segments);
        let lv = inner.variants.iter_mut().find(|v| v.variant.name == name)?;
        self.build_parts(lv, upto);
        let growing_parts: Vec<Part> = growing.map_or_else(Vec::new, |g| {
            (0..MAX_PARTS)
                .map_while(|k| lv.parts.get(&(g.number, k)).map(|(p, _)| *p))
                .collect()
        });
        let key = (
            version,
            growing.map_or(u64::MAX, |g| g.number),
            growing_parts.len(),
        );
        if let Some((k, text)) = inner.ll_playlists.get(name) {
            if *k == key {
                return Some((text.clone(), key));
            }
        }
        let lv = inner.variants.iter().find(|v| v.variant.name == name)?;
        // Parts of the segments within three target durations of the end.
        let target_ms = i64::try_from(window.target_s).unwrap_or(i64::MAX / 1000) * 1000;
        let end = growing
            .map(|g| g.start_ms)
            .or_else(|| window.segments.last().map(|s| s.end_ms))
            .unwrap_or(0);
        let parts: Vec<(u64, Vec<Part>)> = window
            .segments
            .iter()
            .filter(|s| end - s.end_ms < PART_LIST_TARGETS * target_ms)
            .filter(|s| lv.built.contains_key(&s.number))
            .filter_map(|s| {
                let ps: Vec<Part> = (0..MAX_PARTS)
                    .map_while(|k| lv.parts.get(&(s.number, k)).map(|(p, _)| *p))
                    .collect();
                (!ps.is_empty()).then_some((s.number, ps))
            })
            .collect();
        let ll = LowLatency {
            part_target_ms: PART_TARGET_MS,
            parts,
            growing: growing.map(|g| {
                (
                    Segment {
                        number: g.number,
                        start_ms: g.start_ms,
                        end_ms: g.start_ms,
                        discontinuities: g.discontinuities,
                    },
                    growing_parts.clone(),
                )
            }),
            hint: growing.map(|g| {
                part_name(
                    g.start_ms,
                    u32::try_from(growing_parts.len()).unwrap_or(MAX_PARTS - 1),
                )
            }),
        };
        let packaging = self.packaging;
        let text = Bytes::from(playlist::media_ll(
            packaging,
            &window,
            &|s| hls::segment_name(packaging, s),
            Some(&ll),
        ));
        inner
            .ll_playlists
            .insert(name.to_string(), (key, text.clone()));
        Some((text, key))
    }

    /// Whether variant `name`'s playlist holds segment `msn` (and its part `part`) yet
    /// (draft-pantos-hls-rfc8216bis §6.2.5.2).
    pub fn block(&self, name: &str, msn: u64, part: Option<u32>) -> Block {
        if !self.low_latency() {
            // A playlist with EXT-X-ENDLIST ignores the directives (§6.2.5.2).
            return Block::Ready;
        }
        let (infos, _) = self.stream.segments();
        let meta = self.stream.meta();
        let mut inner = lock(&self.inner);
        self.ensure_variants(&mut inner, &meta);
        let Some(lv) = inner.variants.iter_mut().find(|v| v.variant.name == name) else {
            return Block::Unknown;
        };
        let growing = infos.last().copied().filter(|s| s.end_ms.is_none());
        let last_complete = infos
            .iter()
            .rev()
            .find(|i| i.end_ms.is_some())
            .map(|i| i.number);
        if let Some(n) = growing.map(|g| g.number).or(last_complete) {
            self.build_parts(lv, (n, MAX_PARTS - 1));
        }
        let last_listed = growing.map(|g| g.number).or(last_complete).unwrap_or(0);
        if msn > last_listed.saturating_add(2) {
            return Block::TooFar;
        }
        if infos.first().is_some_and(|f| msn < f.number) {
            return Block::Ready;
        }
        let Some(mut p) = part else {
            return if last_complete.is_some_and(|l| msn <= l) {
                Block::Ready
            } else {
                Block::Wait
            };
        };
        let mut m = msn;
        // A part past a complete segment's last is part 0 of the next one (§6.2.5.2).
        if infos.iter().any(|i| i.number == m && i.end_ms.is_some()) {
            if !lv.built.contains_key(&m) {
                // Built long ago and let go, or never: it is in the playlist as a segment.
                return Block::Ready;
            }
            let count = (0..MAX_PARTS)
                .take_while(|k| lv.parts.contains_key(&(m, *k)))
                .count() as u32;
            if p < count {
                return Block::Ready;
            }
            m += 1;
            p = 0;
        }
        if last_complete.is_some_and(|l| m <= l) {
            return Block::Ready;
        }
        match growing {
            Some(g) if g.number == m => {
                let built = (0..MAX_PARTS)
                    .take_while(|k| lv.parts.contains_key(&(m, *k)))
                    .count() as u32;
                if p < built {
                    Block::Ready
                } else if p >= built.saturating_add(advance_part_limit(PART_TARGET_MS)) {
                    Block::TooFar
                } else {
                    Block::Wait
                }
            }
            _ => Block::Wait,
        }
    }

    /// Whether part file `name` of variant `variant` is one a player may ask for before it
    /// exists: a part of the growing segment up to the next one (the preload hint).
    pub fn part_may_come(&self, variant: &str, name: &str) -> bool {
        let Some((start, k)) = parse_part_name(name) else {
            return false;
        };
        if !self.low_latency() {
            return false;
        }
        let (infos, _) = self.stream.segments();
        let Some(g) = infos.last().filter(|s| s.end_ms.is_none()) else {
            return false;
        };
        let inner = lock(&self.inner);
        let Some(lv) = inner.variants.iter().find(|v| v.variant.name == variant) else {
            return false;
        };
        let built = (0..MAX_PARTS)
            .take_while(|j| lv.parts.contains_key(&(g.number, *j)))
            .count() as u32;
        start == g.start_ms && k <= built
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Codec, Packet, TrackKind};
    use crate::serve::config::Config;
    use crate::serve::hub::{Client, Hub};

    fn mp3(ms: i64) -> Packet {
        let mut d = vec![0u8; 384];
        d[..4].copy_from_slice(&[0xFF, 0xFB, 0x94, 0x00]);
        Packet {
            track: TrackId(1),
            dts: Ticks(ms),
            cts: 0,
            keyframe: true,
            data: Bytes::from(d),
            pos: None,
        }
    }

    #[test]
    fn a_segment_is_built_once_and_shared_and_playlists_follow_the_window_version() {
        let hub = Hub::new(Config::default());
        let client = Client {
            peer: "127.0.0.1:1".parse().unwrap(),
            protocol: "TEST",
        };
        let mut p = hub.publish("x", client, &[]).unwrap();
        p.set_tracks(vec![Track::new(
            TrackId(1),
            TrackKind::Audio,
            Codec::Mp3,
            Timebase::MS,
        )]);
        // 6 s of 24 ms frames: segments at 0, 2016, 4032 (marks every >= 1 s).
        for i in 0..250 {
            p.push(mp3(i * 24));
        }
        let stream = hub.live_stream("x").unwrap();
        let states = LiveStates::default();
        let s = states.state("x", Packaging::HlsTs, &stream, hub.started());
        let (a, mime, _) = s.answer(&["1", "0_2016.ts"]).unwrap();
        assert_eq!(mime, "video/mp2t");
        let (b, _, _) = s.answer(&["1", "0_2016.ts"]).unwrap();
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "the second viewer gets the same bytes"
        );
        assert_eq!(s.built(), 1);
        // Asking for the next one builds it in order from the segmenter's state.
        assert!(s.answer(&["1", "2016_4032.ts"]).is_some());
        assert_eq!(s.built(), 2);
        // The growing segment is not there yet.
        assert!(s.answer(&["1", "4032_6000.ts"]).is_none());
        let (p1, _, _) = s.answer(&["1", "index.m3u8"]).unwrap();
        let (p2, _, _) = s.answer(&["1", "index.m3u8"]).unwrap();
        assert_eq!(
            p1.as_ptr(),
            p2.as_ptr(),
            "cached while the window is the same"
        );
        for i in 250..340 {
            p.push(mp3(i * 24));
        }
        let (p3, _, _) = s.answer(&["1", "index.m3u8"]).unwrap();
        assert_ne!(p1, p3, "rebuilt when the window changed");
        // The same state for the same stream; another stream, another state.
        assert!(Arc::ptr_eq(
            &s,
            &states.state("x", Packaging::HlsTs, &stream, hub.started())
        ));
        assert_eq!(states.len(), 1);
    }
}
