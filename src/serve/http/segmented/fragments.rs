//! Live HDS (`/dynamic/STREAM/...`) and Smooth Streaming (`/smooth/STREAM.ism/...`,
//! `/cmaf/STREAM/Manifest`) from the hub's segments.
//!
//! Their fragments carry absolute times and no muxer state runs from one to the next, so
//! each is built on its own (when first asked for) from the hub's packets, kept as shared
//! `Bytes` while it is in the window and served to every viewer. Manifests and bootstraps
//! are rebuilt only when the hub's segment list changes (its version).
//!
//! - HDS: the bootstrap lists the window's complete segments (without the oldest once there
//!   are enough, as HLS playlists do); a fragment is served when its segment is listed; a
//!   live fragment carries the bootstrap as it was when the fragment was made.
//! - Smooth: per track, a fragment is complete when the track's next fragment has started
//!   (its duration is then known). A fragment is listed and served once [`LOOKAHEAD`]
//!   complete fragments follow it, so its `tfrf` always announces that many (IIS's live
//!   model: the server holds fragments back by the lookahead); the ones it announces are
//!   404 until their own successors are there, as a segment not complete yet is. A track's
//!   `Bitrate`, part of its fragment URLs, is measured once and kept for the stream's life;
//!   the manifest is 404 until every track has one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use super::live::{KEEP_OLDEST_UNTIL, LINGER_SEGMENTS};
use super::Caching;
use crate::dtsc::{Meta, Packet, Ticks, Timebase, Track, TrackId};
use crate::package::hds::bootstrap::{bootstrap, Window as HdsWindow};
use crate::package::hds::manifest::{self as f4m, Bootstrap, Media};
use crate::package::hds::{self, fragment as hds_fragment};
use crate::package::smooth::boxes::FragmentTime;
use crate::package::smooth::manifest::{self as ssm, Live, StreamInfo};
use crate::package::smooth::{self, fragment as smooth_fragment, LOOKAHEAD};
use crate::package::variant::{resolution, Variant};
use crate::package::{Packaging, Segment};
use crate::pipeline::Adapter;
use crate::serve::hub::{LiveStream, SegmentInfo, State};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every live stream's HDS and Smooth state, by stream name and packaging.
#[derive(Debug, Default)]
pub struct FragmentStates {
    states: Mutex<HashMap<(String, Packaging), Arc<FragmentState>>>,
}

impl FragmentStates {
    /// The state of `name` (live stream `stream`) in `packaging`, made on first use; a stream
    /// that ended and came back under the same name gets a fresh one.
    pub fn state(
        &self,
        name: &str,
        packaging: Packaging,
        stream: &Arc<LiveStream>,
        hub_started: Instant,
    ) -> Arc<FragmentState> {
        let mut states = lock(&self.states);
        if let Some(s) = states.get(&(name.to_string(), packaging)) {
            if Arc::ptr_eq(&s.stream, stream) {
                return s.clone();
            }
        }
        states.retain(|_, s| s.stream.state() != State::Ended);
        let s = Arc::new(FragmentState {
            packaging,
            tag: stream
                .created()
                .saturating_duration_since(hub_started)
                .as_nanos(),
            stream: stream.clone(),
            inner: Mutex::new(Inner::default()),
        });
        states.insert((name.to_string(), packaging), s.clone());
        s
    }

    /// How many states are held.
    pub fn len(&self) -> usize {
        lock(&self.states).len()
    }

    /// True when none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One live stream in HDS or Smooth.
pub struct FragmentState {
    packaging: Packaging,
    stream: Arc<LiveStream>,
    tag: u128,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for FragmentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FragmentState")
            .field("stream", &self.stream.name())
            .field("packaging", &self.packaging)
            .finish()
    }
}

/// Where a track's packets of one segment start.
#[derive(Clone, Copy, Debug)]
struct First {
    ticks: Ticks,
    /// The same in 100 ns.
    t: u64,
}

#[derive(Default)]
struct Inner {
    /// Built fragments: (variant or stream name, segment number).
    built: BTreeMap<(String, u64), Bytes>,
    /// Manifests and bootstraps, with the window version they are of.
    texts: HashMap<String, (u64, Bytes)>,
    /// Smooth: per complete segment, where each track's packets start.
    firsts: BTreeMap<u64, Vec<(TrackId, First)>>,
    /// Smooth: each track's `Bitrate`, fixed at first use.
    bitrates: HashMap<TrackId, u64>,
    /// The tracks the texts were made for.
    tracks: Vec<Track>,
}

/// A complete segment of the hub's list.
fn complete(info: &SegmentInfo) -> Option<Segment> {
    Some(Segment {
        number: info.number,
        start_ms: info.start_ms,
        end_ms: info.end_ms?,
        discontinuities: info.discontinuities,
    })
}

/// The packets of `entries` on `tracks` (ids), adapted to `packaging`'s framing, with the
/// tracks as adapted.
fn adapted(
    packaging: Packaging,
    meta: &Meta,
    ids: &[TrackId],
    entries: &[Arc<crate::serve::hub::Entry>],
) -> (Vec<Track>, Vec<Packet>) {
    let mut tracks = Vec::new();
    let mut adapters: Vec<(TrackId, Adapter)> = Vec::new();
    for id in ids {
        let Some(t) = meta.track(*id) else { continue };
        let Some(want) = packaging.framing(&t.codec) else {
            continue;
        };
        match Adapter::new(t, want) {
            Ok(a) => {
                tracks.push(a.track(t));
                adapters.push((t.id, a));
            }
            Err(e) => tracing::warn!(track = %t.id, "segmented output: {e}"),
        }
    }
    let mut packets = Vec::new();
    for e in entries {
        let Some((_, a)) = adapters.iter_mut().find(|(id, _)| *id == e.packet.track) else {
            continue;
        };
        match a.apply(e.packet.clone()) {
            Ok(p) => packets.push(p),
            Err(err) => tracing::debug!("segmented output: packet left out: {err}"),
        }
    }
    (tracks, packets)
}

/// A Smooth stream's fragments: (segment number, start, duration), complete ones only.
type Chunks = Vec<(u64, First, u64)>;

impl FragmentState {
    /// The answer to `path` (pieces below `/dynamic/STREAM/` or the Smooth folder): bytes,
    /// MIME type and caching; `None` for 404.
    pub fn answer(&self, path: &[&str]) -> Option<(Bytes, &'static str, Caching)> {
        let (infos, version) = self.stream.segments();
        let meta = self.stream.meta();
        let mut inner = lock(&self.inner);
        if inner.tracks != meta.tracks {
            inner.texts.clear();
            inner.tracks = meta.tracks.clone();
        }
        let floor = infos
            .first()
            .map_or(0, |s| s.number.saturating_sub(LINGER_SEGMENTS));
        inner.built.retain(|(_, n), _| *n >= floor);
        inner.firsts = inner.firsts.split_off(&floor);
        let segments: Vec<Segment> = infos.iter().filter_map(complete).collect();
        match self.packaging {
            Packaging::Hds => self.hds(&mut inner, path, &segments, version, &meta),
            Packaging::Smooth => self.smooth(&mut inner, path, &segments, version, &meta),
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

    fn manifest_caching(&self, what: &str) -> Caching {
        self.caching("public, max-age=1".into(), what)
    }

    fn fragment_caching(&self, what: &str) -> Caching {
        let secs = (self.stream.settings().dvr_ms / 1000).max(1);
        self.caching(format!("public, max-age={secs}, immutable"), what)
    }

    /// Payload bit rate of `ids` over the newest complete segment (at least 1 bit/s).
    fn measured_bitrate(&self, segments: &[Segment], ids: &[TrackId]) -> u64 {
        let Some(last) = segments.last() else {
            return 1;
        };
        let Some((_, entries)) = self.stream.segment(last.number) else {
            return 1;
        };
        let bytes: u64 = entries
            .iter()
            .filter(|e| ids.contains(&e.packet.track))
            .map(|e| e.len() as u64)
            .sum();
        (bytes.saturating_mul(8000) / last.duration_ms().max(1) as u64).max(1)
    }

    // -------------------------------------------------------------------------------------
    // HDS

    /// The segments a bootstrap lists: complete ones, without the oldest once there are
    /// enough (it may leave the hub at any moment).
    fn hds_listed(segments: &[Segment]) -> &[Segment] {
        if segments.len() > KEEP_OLDEST_UNTIL {
            &segments[1..]
        } else {
            segments
        }
    }

    fn hds_bootstrap(
        &self,
        inner: &mut Inner,
        variant: &str,
        segments: &[Segment],
        version: u64,
    ) -> Bytes {
        let key = format!("abst:{variant}");
        if let Some((v, b)) = inner.texts.get(&key) {
            if *v == version {
                return b.clone();
            }
        }
        let b = bootstrap(
            &HdsWindow {
                segments: Self::hds_listed(segments),
                live: true,
                ended: self.stream.state() == State::Ended,
                version: (version & 0xFFFF_FFFF) as u32,
            },
            self.stream.name(),
        )
        .to_bytes();
        inner.texts.insert(key, (version, b.clone()));
        b
    }

    fn hds(
        &self,
        inner: &mut Inner,
        path: &[&str],
        segments: &[Segment],
        version: u64,
        meta: &Meta,
    ) -> Option<(Bytes, &'static str, Caching)> {
        let [name] = path else { return None };
        let variants: Vec<Variant> = hds::variants(meta);
        match hds::parse_name(name)? {
            hds::Request::Manifest => {
                if variants.is_empty() {
                    return None;
                }
                let key = "f4m".to_string();
                let cached = inner.texts.get(&key).filter(|(v, _)| *v == version);
                let text = match cached {
                    Some((_, b)) => b.clone(),
                    None => {
                        let media: Vec<Media> = variants
                            .iter()
                            .map(|v| Media {
                                bitrate_kbps: self
                                    .measured_bitrate(segments, &v.tracks)
                                    .div_ceil(1000),
                                size: v
                                    .tracks
                                    .iter()
                                    .filter_map(|id| meta.track(*id))
                                    .find(|t| t.kind == crate::dtsc::TrackKind::Video)
                                    .and_then(resolution),
                                metadata: f4m::metadata(meta, v, None),
                                bootstrap: Bootstrap::Url,
                                variant: v.clone(),
                            })
                            .collect();
                        let b = Bytes::from(f4m::manifest(self.stream.name(), true, None, &media));
                        inner.texts.insert(key, (version, b.clone()));
                        b
                    }
                };
                Some((
                    text,
                    hds::MANIFEST_MIME,
                    self.manifest_caching(&format!("f4m-{version}")),
                ))
            }
            hds::Request::Bootstrap(v) => {
                variants.iter().find(|x| x.name == v)?;
                let b = self.hds_bootstrap(inner, &v, segments, version);
                Some((
                    b,
                    hds::BOOTSTRAP_MIME,
                    self.manifest_caching(&format!("abst{v}-{version}")),
                ))
            }
            hds::Request::Fragment(v, n) => {
                let variant = variants.iter().find(|x| x.name == v)?;
                let number = u64::from(n) - 1;
                let listed = Self::hds_listed(segments);
                let i = listed.iter().position(|s| s.number == number)?;
                let what = format!("f{v}-{number}");
                if let Some(b) = inner.built.get(&(v.clone(), number)) {
                    return Some((b.clone(), hds::FRAGMENT_MIME, self.fragment_caching(&what)));
                }
                let (_, entries) = self.stream.segment(number)?;
                let seg_meta = entries
                    .first()
                    .map_or_else(|| Arc::new(meta.clone()), |e| e.meta.clone());
                let (tracks, packets) =
                    adapted(Packaging::Hds, &seg_meta, &variant.tracks, &entries);
                if tracks.is_empty() {
                    return None;
                }
                let next = self.next_times(&tracks, listed, i, segments);
                let abst = self.hds_bootstrap(inner, &v, segments, version);
                let bytes = match hds_fragment::write(&hds_fragment::Input {
                    tracks: &tracks,
                    fragment: n,
                    packets: &packets,
                    next: &next,
                    bootstrap: Some(&abst),
                }) {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(stream = %self.stream.name(), fragment = n, "HDS fragment not built: {e}");
                        return None;
                    }
                };
                inner.built.insert((v, number), bytes.clone());
                Some((bytes, hds::FRAGMENT_MIME, self.fragment_caching(&what)))
            }
        }
    }

    /// Per track, the decode time of its first packet after segment `listed[i]`: from the
    /// next complete segment, else (the main track) the segment's end.
    fn next_times(
        &self,
        tracks: &[Track],
        listed: &[Segment],
        i: usize,
        all: &[Segment],
    ) -> Vec<(TrackId, Ticks)> {
        let this = listed[i].number;
        let mut out = Vec::new();
        if let Some(n) = all.iter().find(|s| s.number == this + 1) {
            if let Some((_, entries)) = self.stream.segment(n.number) {
                for t in tracks {
                    if let Some(e) = entries.iter().find(|e| e.packet.track == t.id) {
                        out.push((t.id, e.packet.dts));
                    }
                }
            }
        }
        if let Some(main) = tracks.first() {
            if !out.iter().any(|(id, _)| *id == main.id) {
                out.push((
                    main.id,
                    Ticks(Timebase::MS.rescale(listed[i].end_ms, main.timebase)),
                ));
            }
        }
        out
    }

    // -------------------------------------------------------------------------------------
    // Smooth

    /// Where each track starts in each complete segment (cached per segment).
    fn firsts(&self, inner: &mut Inner, segments: &[Segment]) {
        let tb = smooth::timebase();
        for s in segments {
            if inner.firsts.contains_key(&s.number) {
                continue;
            }
            let Some((_, entries)) = self.stream.segment(s.number) else {
                continue;
            };
            let mut v: Vec<(TrackId, First)> = Vec::new();
            for e in &entries {
                if v.iter().any(|(id, _)| *id == e.packet.track) {
                    continue;
                }
                let Some(t) = e.meta.track(e.packet.track) else {
                    continue;
                };
                let t100 = t.timebase.rescale(e.packet.dts.0, tb);
                if let Ok(t100) = u64::try_from(t100) {
                    v.push((
                        e.packet.track,
                        First {
                            ticks: e.packet.dts,
                            t: t100,
                        },
                    ));
                }
            }
            inner.firsts.insert(s.number, v);
        }
    }

    /// A track's complete fragments: segments holding its packets, each lasting until the
    /// track's next such segment.
    fn chunks(inner: &Inner, segments: &[Segment], track: TrackId) -> Chunks {
        let starts: Vec<(u64, First)> = segments
            .iter()
            .filter_map(|s| {
                let f = inner.firsts.get(&s.number)?;
                f.iter()
                    .find(|(id, _)| *id == track)
                    .map(|(_, x)| (s.number, *x))
            })
            .collect();
        starts
            .windows(2)
            .filter(|w| w[1].1.t > w[0].1.t)
            .map(|w| (w[0].0, w[0].1, w[1].1.t - w[0].1.t))
            .collect()
    }

    fn smooth(
        &self,
        inner: &mut Inner,
        path: &[&str],
        segments: &[Segment],
        version: u64,
        meta: &Meta,
    ) -> Option<(Bytes, &'static str, Caching)> {
        let streams = smooth::streams(meta);
        if streams.is_empty() {
            return None;
        }
        self.firsts(inner, segments);
        if !segments.is_empty() {
            for s in &streams {
                if let std::collections::hash_map::Entry::Vacant(e) = inner.bitrates.entry(s.track)
                {
                    e.insert(self.measured_bitrate(segments, &[s.track]));
                }
            }
        }
        if streams
            .iter()
            .any(|s| !inner.bitrates.contains_key(&s.track))
        {
            return None;
        }
        match smooth::parse_name(path)? {
            smooth::Request::Manifest => {
                let key = "ssm".to_string();
                if let Some((v, b)) = inner.texts.get(&key) {
                    if *v == version {
                        return Some((
                            b.clone(),
                            smooth::MANIFEST_MIME,
                            self.manifest_caching(&format!("ssm-{version}")),
                        ));
                    }
                }
                let lists: Vec<Vec<FragmentTime>> = streams
                    .iter()
                    .map(|s| {
                        let c = Self::chunks(inner, segments, s.track);
                        let keep = c.len().saturating_sub(LOOKAHEAD);
                        c[..keep]
                            .iter()
                            .map(|(_, f, d)| FragmentTime {
                                time: f.t,
                                duration: *d,
                            })
                            .collect()
                    })
                    .collect();
                let infos: Vec<StreamInfo> = streams
                    .iter()
                    .zip(&lists)
                    .filter_map(|(s, chunks)| {
                        Some(StreamInfo {
                            stream: s,
                            track: meta.track(s.track)?,
                            bitrate: *inner.bitrates.get(&s.track)?,
                            chunks,
                        })
                    })
                    .collect();
                let text = ssm::manifest(
                    0,
                    Some(Live {
                        dvr_window: self.stream.settings().dvr_ms.saturating_mul(10_000),
                        lookahead: LOOKAHEAD,
                    }),
                    &infos,
                );
                let b = Bytes::from(text);
                inner.texts.insert(key, (version, b.clone()));
                Some((
                    b,
                    smooth::MANIFEST_MIME,
                    self.manifest_caching(&format!("ssm-{version}")),
                ))
            }
            smooth::Request::Fragment {
                bitrate,
                name,
                time,
            } => {
                let stream = streams.iter().find(|s| s.name == name)?;
                if inner.bitrates.get(&stream.track) != Some(&bitrate) {
                    return None;
                }
                let chunks = Self::chunks(inner, segments, stream.track);
                let k = chunks.iter().position(|(_, f, _)| f.t == time)?;
                if k + LOOKAHEAD >= chunks.len() {
                    return None;
                }
                let (number, _, _) = chunks[k];
                let what = format!("{name}-{number}");
                if let Some(b) = inner.built.get(&(name.clone(), number)) {
                    return Some((
                        b.clone(),
                        smooth::FRAGMENT_MIME,
                        self.fragment_caching(&what),
                    ));
                }
                let (_, entries) = self.stream.segment(number)?;
                let seg_meta = entries
                    .first()
                    .map_or_else(|| Arc::new(meta.clone()), |e| e.meta.clone());
                let (tracks, packets) =
                    adapted(Packaging::Smooth, &seg_meta, &[stream.track], &entries);
                let track = tracks.first()?;
                let next = chunks.get(k + 1).map(|(_, f, _)| f.ticks);
                let lookahead: Vec<FragmentTime> = chunks[k + 1..]
                    .iter()
                    .take(LOOKAHEAD)
                    .map(|(_, f, d)| FragmentTime {
                        time: f.t,
                        duration: *d,
                    })
                    .collect();
                let written = match smooth_fragment::write(&smooth_fragment::Input {
                    track,
                    sequence: u32::try_from(number + 1).unwrap_or(u32::MAX),
                    packets: &packets,
                    end: next,
                    lookahead: (!lookahead.is_empty()).then_some(&lookahead[..]),
                }) {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!(stream = %self.stream.name(), fragment = number, "Smooth fragment not built: {e}");
                        return None;
                    }
                };
                inner.built.insert((name, number), written.data.clone());
                Some((
                    written.data,
                    smooth::FRAGMENT_MIME,
                    self.fragment_caching(&what),
                ))
            }
        }
    }

    /// Fragments built and kept (for tests of memory use).
    pub fn built(&self) -> usize {
        lock(&self.inner).built.len()
    }
}
