//! Per-track statistics gathered packet by packet: counts, bytes, time span, keyframe spacing,
//! and for live inputs the packets' arrival against the wall clock and the bitrate of every
//! second of media.

use std::time::Instant;

use crate::codec;
use crate::dtsc::{Codec, Meta, Packet, Params, Ticks, Time, Timebase, Track, TrackId};
use crate::formats::Finding;

use super::{PacketRow, Problems, Report, TrackReport};

#[derive(Clone, Debug, Default)]
struct TrackStats {
    packets: u64,
    keyframes: u64,
    bytes: u64,
    first_dts: Option<Ticks>,
    last_dts: Ticks,
    prev_dts: Ticks,
    min_pts: Option<Ticks>,
    max_pts: Ticks,
    first_key: Option<Ticks>,
    last_key: Ticks,
    /// When the first and the latest packet were counted.
    arrived: Option<(Instant, Instant)>,
    /// Bytes per whole second of media from the first packet (at most [`MAX_SECONDS`]).
    per_second: Vec<u64>,
}

/// Seconds of media whose bitrate is kept per track (a week; 8 bytes each).
const MAX_SECONDS: usize = 7 * 24 * 3600;

impl TrackStats {
    /// Counts one packet.
    fn count(&mut self, dts: Ticks, cts: i32, size: u64, keyframe: bool, base: Timebase) {
        let s = self;
        s.packets += 1;
        s.bytes += size;
        if s.first_dts.is_none() {
            s.first_dts = Some(dts);
            s.last_dts = dts;
        }
        s.prev_dts = s.last_dts;
        s.last_dts = dts;
        let pts = dts + i64::from(cts);
        let now = Instant::now();
        s.arrived = Some(s.arrived.map_or((now, now), |(first, _)| (first, now)));
        s.min_pts = Some(s.min_pts.map_or(pts, |m| m.min(pts)));
        s.max_pts = if s.packets == 1 {
            pts
        } else {
            s.max_pts.max(pts)
        };
        let first = s.first_dts.unwrap_or(dts);
        if let Ok(i) = usize::try_from(ms((dts - first).max(0), base) / 1000) {
            if i < MAX_SECONDS {
                if s.per_second.len() <= i {
                    s.per_second.resize(i + 1, 0);
                }
                s.per_second[i] += size;
            }
        }
        if keyframe {
            s.keyframes += 1;
            if s.first_key.is_none() {
                s.first_key = Some(dts);
            }
            s.last_key = dts;
        }
    }
}

/// Accumulates a [`Report`]'s track summaries from packets.
#[derive(Clone, Debug)]
pub struct Stats {
    tracks: Vec<(Track, TrackStats)>,
}

impl Stats {
    /// Empty statistics for the tracks of `meta`.
    pub fn new(meta: &Meta) -> Stats {
        Stats {
            tracks: meta
                .tracks
                .iter()
                .map(|t| (t.clone(), TrackStats::default()))
                .collect(),
        }
    }

    /// Replaces the track list (a track appeared or its configuration changed mid-stream):
    /// counts of tracks that stay are kept, new tracks start empty, the order is `meta`'s.
    pub fn update_tracks(&mut self, meta: &Meta) {
        let mut old = std::mem::take(&mut self.tracks);
        self.tracks = meta
            .tracks
            .iter()
            .map(|t| {
                let s = old
                    .iter()
                    .position(|(o, _)| o.id == t.id)
                    .map(|i| old.swap_remove(i).1)
                    .unwrap_or_default();
                (t.clone(), s)
            })
            .collect();
    }

    /// Takes the configuration of tracks that had none when they were added (a stream a later
    /// PMT added is described once its first frames were read).
    pub fn fill_configs(&mut self, meta: &Meta) {
        for (t, _) in &mut self.tracks {
            if t.init.is_empty() {
                if let Some(m) = meta.track(t.id).filter(|m| !m.init.is_empty()) {
                    *t = m.clone();
                }
            }
        }
    }

    /// Counts one packet (packets of unknown tracks are ignored).
    pub fn add(&mut self, p: &Packet) {
        let Some((t, s)) = self.tracks.iter_mut().find(|(t, _)| t.id == p.track) else {
            return;
        };
        if s.packets == 0 {
            learn_from_first_payload(t, &p.data);
        }
        s.count(p.dts, p.cts, p.data.len() as u64, p.keyframe, t.timebase);
    }

    /// How the packets arrived against the wall clock, and each track's bitrate per second of
    /// media: what a live input's report adds (`None` before any packet).
    pub fn live_report(&self) -> Option<super::LiveReport> {
        let mut tracks = Vec::new();
        let (mut video, mut audio) = (None, None);
        for (t, s) in &self.tracks {
            let (Some((first_at, last_at)), Some(first)) = (s.arrived, s.first_dts) else {
                continue;
            };
            let media_ms = ms(s.last_dts - first, t.timebase);
            let wall_ms = last_at.duration_since(first_at).as_millis() as i64;
            // The last second is still filling: left out.
            let whole = s.per_second.len().saturating_sub(1);
            tracks.push(super::LiveTrack {
                id: t.id.0,
                media_ms,
                wall_ms,
                lag_ms: wall_ms - media_ms,
                bitrate_kbps: s.per_second[..whole].iter().map(|b| b * 8 / 1000).collect(),
            });
            let last = Time::new(s.last_dts, t.timebase).as_ms();
            match t.kind {
                crate::dtsc::TrackKind::Video if video.is_none() => video = Some(last),
                crate::dtsc::TrackKind::Audio if audio.is_none() => audio = Some(last),
                _ => {}
            }
        }
        if tracks.is_empty() {
            return None;
        }
        Some(super::LiveReport {
            tracks,
            av_drift_ms: video.zip(audio).map(|(v, a)| v - a),
        })
    }

    /// Lets the summary learn from a track's first payload when packets are counted with
    /// [`add_sample`](Self::add_sample) (no payload otherwise read).
    pub fn first_payload(&mut self, track: TrackId, data: &[u8]) {
        if let Some((t, _)) = self.tracks.iter_mut().find(|(t, _)| t.id == track) {
            learn_from_first_payload(t, data);
        }
    }

    /// Counts one packet known only by its index entry (no payload read): analysers of
    /// containers with a sample table use this for the summary.
    pub fn add_sample(&mut self, track: TrackId, dts: Ticks, cts: i32, size: u64, keyframe: bool) {
        if let Some((t, s)) = self.tracks.iter_mut().find(|(t, _)| t.id == track) {
            s.count(dts, cts, size, keyframe, t.timebase);
        }
    }

    /// The finished report.
    pub fn into_report(
        self,
        file: String,
        format: &str,
        size: Option<u64>,
        packets: Option<Vec<PacketRow>>,
        findings: Vec<Finding>,
        listed: bool,
    ) -> Report {
        // The file lasts from its earliest presentation to its latest end, across tracks (what
        // ffprobe reports as the format duration): a B-frame delay on video and audio that
        // starts at 0 make it longer than either track alone.
        let live = self.live_report();
        let mut first: Option<Time> = None;
        let mut last: Option<Time> = None;
        for (t, s) in &self.tracks {
            if let Some(min) = s.min_pts {
                let end = s.max_pts + (s.last_dts - s.prev_dts);
                let (a, b) = (Time::new(min, t.timebase), Time::new(end, t.timebase));
                first = Some(first.map_or(a, |f| f.min(a)));
                last = Some(last.map_or(b, |l| l.max(b)));
            }
        }
        let tracks: Vec<TrackReport> = self
            .tracks
            .into_iter()
            .map(|(t, s)| track_report(&t, &s))
            .collect();
        let duration_ms = match (first, last) {
            (Some(f), Some(l)) => l.as_ms() - f.as_ms(),
            _ => 0,
        };
        Report {
            file,
            format: format.to_string(),
            size,
            duration_ms,
            tracks,
            packets,
            problems: (!listed).then(|| Problems::count(&findings)).flatten(),
            findings: listed.then_some(findings),
            structures: None,
            summary_lines: Vec::new(),
            // Meaningful for live inputs only: the caller drops it for files.
            live,
        }
    }
}

/// What only a payload tells: HE-AAC whose config record does not signal its SBR (the
/// summary then reports the profile and output rate a decoder, and ffprobe, finds).
fn learn_from_first_payload(t: &mut Track, data: &[u8]) {
    if t.codec != Codec::Aac {
        return;
    }
    if let Some(config) = codec::aac::frame::implicit_sbr_config(&t.init, data) {
        if let Ok(init) = config.build() {
            t.init = init.into();
            if let Params::Audio(a) = &mut t.params {
                a.rate = config.output_sampling_frequency();
            }
        }
    }
}

fn ms(t: i64, base: Timebase) -> i64 {
    Time::new(Ticks(t), base).as_ms()
}

fn track_report(t: &Track, s: &TrackStats) -> TrackReport {
    let base = t.timebase;
    // The last packet lasts as long as the gap before it, as ffprobe and MistServer assume.
    // Saturating (as `Ticks` subtraction is): a damaged file's times can lie at the ends of
    // the 64-bit range.
    let last_gap = s.last_dts - s.prev_dts;
    let duration_ticks = match s.min_pts {
        Some(min) => (s.max_pts - min).saturating_add(last_gap),
        None => 0,
    };
    let duration_ms = ms(duration_ticks, base);
    let bitrate = if duration_ticks > 0 {
        (u128::from(s.bytes) * 8 * u128::from(base.per_second()) / duration_ticks as u128) as u64
    } else {
        0
    };
    let keyframe_interval_ms = match s.first_key {
        Some(first) if s.keyframes > 1 => {
            Some(ms(s.last_key - first, base) / (s.keyframes as i64 - 1))
        }
        _ => None,
    };
    let info = codec::describe(t);
    let mut r = TrackReport {
        id: t.id.0,
        kind: t.kind.as_str().to_string(),
        codec: t.codec.ffprobe_name(),
        timebase: [1, base.per_second()],
        packets: s.packets,
        keyframes: s.keyframes,
        bytes: s.bytes,
        start: s.first_dts.map(|d| d.0),
        duration_ms,
        bitrate,
        keyframe_interval_ms,
        profile: info.profile,
        level: info.level,
        lang: t.lang.clone(),
        ..TrackReport::default()
    };
    if let Some(v) = t.video() {
        r.width = (v.width > 0).then_some(v.width).or(info.width);
        r.height = (v.height > 0).then_some(v.height).or(info.height);
        r.fps = if v.fpks > 0 {
            Some(f64::from(v.fpks) / 1000.0)
        } else if s.packets > 1 && duration_ticks > 0 {
            let fps = s.packets as f64 * f64::from(base.per_second()) / duration_ticks as f64;
            Some((fps * 1000.0).round() / 1000.0)
        } else {
            None
        };
    }
    if let Some(a) = t.audio() {
        r.rate = (a.rate > 0).then_some(a.rate).or(info.rate);
        r.channels = (a.channels > 0).then_some(a.channels).or(info.channels);
    }
    r
}
