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
use crate::package::hls::playlist::{self, Rates};
use crate::package::hls::{self, INIT, PLAYLIST, PLAYLIST_MIME};
use crate::package::segmenter::{self, Segmenter};
use crate::package::vod::rates_of;
use crate::package::{Packaging, Segment, Variant, Window};
use crate::pipeline::Adapter;
use crate::serve::hub::{LiveStream, State};

/// Built segments kept below the window's first segment: a player that read the playlist
/// just before the window moved can still fetch what it listed (RFC 8216 §6.2.2).
pub const LINGER_SEGMENTS: u64 = 3;
/// Most segments built in one go to catch a segmenter up to the one asked for; further back
/// the segmenter starts afresh at the segment asked for.
pub const MAX_CATCH_UP: u64 = 16;
/// Live playlists are listed once the window holds more than this many complete segments
/// without its oldest, which may leave the hub at any moment.
pub const KEEP_OLDEST_UNTIL: usize = 3;
/// Extra bytes TS adds to payloads (packet headers, PES headers, PSI), for `BANDWIDTH` before
/// any segment was built: about 5 %, and more for small audio frames.
const TS_OVERHEAD_PERCENT: u64 = 10;

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
        for v in &mut inner.variants {
            v.built = v.built.split_off(&floor);
        }
        let live_control = "public, max-age=1".to_string();
        match path {
            [p] if *p == PLAYLIST => {
                let text = self.playlist(&mut inner, "", version, &segments, &meta)?;
                Some((
                    text,
                    PLAYLIST_MIME,
                    self.caching(live_control, &format!("m{version}")),
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
            [v, p] if *p == INIT && self.packaging == Packaging::HlsFmp4 => {
                let lv = inner.variants.iter().find(|x| x.variant.name == *v)?;
                let init = lv.init.clone()?;
                Some((
                    init,
                    "video/mp4",
                    self.caching(self.segment_control(), &format!("{v}-init")),
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
