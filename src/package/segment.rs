//! Segments and windows: what every packaging lists, and the one rule that cuts a stream into
//! segments.
//!
//! The rule is MistServer's fragments (dtsc-format.md §1.6.5, the Buffer's `segmentsize`):
//! the main track is the first video track (or, without video, the first audio track); a
//! segment starts at a key of the main track when at least `segment_ms` passed since the
//! previous segment started. Audio has no keyframes, so an audio main track is marked every
//! [`AUDIO_MARK_MS`], as the live hub marks it. Other tracks' packets belong to the segment
//! whose `[start, end)` holds their decode time in ms.
//!
//! A segment's identity is its number (counting from the stream's first segment; live streams
//! keep counting across publisher sessions) with its start and end in ms. The same media
//! time gives the same segment name, so caches and retries are safe.

use crate::dtsc::{Meta, Ticks, Timebase, TrackKind};

/// Without video, a point a segment may start at is marked this often on the audio track
/// (the live hub's `AUDIO_KEY_INTERVAL_MS`, so files and live streams cut alike).
pub const AUDIO_MARK_MS: i64 = 1000;

/// One segment of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Sequence number (`EXT-X-MEDIA-SEQUENCE` counts these).
    pub number: u64,
    /// Decode time (ms) where it starts: the main track's key.
    pub start_ms: i64,
    /// Where it ends: the next segment's start (the last one: its last packet's end).
    pub end_ms: i64,
    /// Publisher-session changes (discontinuities) from the stream's first segment up to and
    /// including this one; a segment whose count is higher than its predecessor's follows a
    /// discontinuity.
    pub discontinuities: u64,
}

impl Segment {
    /// Its duration in ms.
    pub fn duration_ms(&self) -> i64 {
        self.end_ms.saturating_sub(self.start_ms).max(0)
    }
}

/// The segments a playlist lists, and what it needs to know about the stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Complete segments, oldest first, numbers consecutive.
    pub segments: Vec<Segment>,
    /// A live stream (playlists are reloaded; no `EXT-X-PLAYLIST-TYPE:VOD`).
    pub live: bool,
    /// No segment will be added (`EXT-X-ENDLIST`).
    pub ended: bool,
    /// Wall-clock unix time (ms) of stream time 0, for `EXT-X-PROGRAM-DATE-TIME` on live.
    pub unix_zero_ms: Option<i64>,
    /// The target duration in whole seconds (at least every segment's duration, rounded).
    pub target_s: u64,
}

impl Window {
    /// The smallest target duration every listed segment fits: the longest duration rounded
    /// to the nearest second (RFC 8216 §4.3.3.1), at least 1.
    pub fn fitting_target(segments: &[Segment]) -> u64 {
        segments
            .iter()
            .map(|s| rounded_seconds(s.duration_ms()))
            .max()
            .unwrap_or(0)
            .max(1)
    }
}

/// `ms` rounded to the nearest whole second (half up).
pub fn rounded_seconds(ms: i64) -> u64 {
    (ms.max(0) as u64 + 500) / 1000
}

/// Decides, packet by packet of the main track, where segments start. Files and the live hub
/// follow the same rule.
#[derive(Clone, Debug)]
pub struct Marker {
    segment_ms: i64,
    video: bool,
    last_mark: Option<i64>,
    last_start: Option<i64>,
}

impl Marker {
    /// A marker for a main track that is video (`true`: cut at keyframes) or audio.
    pub fn new(segment_ms: i64, video: bool) -> Marker {
        Marker {
            segment_ms,
            video,
            last_mark: None,
            last_start: None,
        }
    }

    /// Takes the next main-track packet (decode time in ms, keyframe flag); true when a
    /// segment starts at it.
    pub fn push(&mut self, ms: i64, keyframe: bool) -> bool {
        let mark = if self.video {
            keyframe
        } else {
            self.last_mark.map_or(true, |m| ms - m >= AUDIO_MARK_MS)
        };
        if !mark {
            return false;
        }
        self.last_mark = Some(ms);
        let start = self
            .last_start
            .map_or(true, |s| ms.saturating_sub(s) >= self.segment_ms);
        if start {
            self.last_start = Some(ms);
        }
        start
    }
}

/// The main track of a stream: the first video track, else the first audio track (its
/// position in `meta.tracks`).
pub fn main_track(meta: &Meta) -> Option<usize> {
    meta.tracks
        .iter()
        .position(|t| t.kind == TrackKind::Video)
        .or_else(|| meta.tracks.iter().position(|t| t.kind == TrackKind::Audio))
}

/// Ms of `t` ticks of `base`, rounded to nearest.
pub fn ms_of(t: Ticks, base: Timebase) -> i64 {
    base.rescale(t.0, Timebase::MS)
}

/// The segments of a file, from its index (`meta.index`, one entry per track), with every
/// track's times moved by `shift` ticks (the pipeline's shift of negative times; empty for
/// none). Segment 0 starts at the earliest packet of any track, so nothing before the first
/// key is lost; the last segment ends where the longest track ends. Empty without an index
/// or a main track.
pub fn file_segments(meta: &Meta, shift: &[i64], segment_ms: i64) -> Vec<Segment> {
    let Some(index) = &meta.index else {
        return Vec::new();
    };
    let Some(main) = main_track(meta) else {
        return Vec::new();
    };
    let shift_of = |i: usize| shift.get(i).copied().unwrap_or(0);
    let track = &meta.tracks[main];
    let Some(ti) = index.tracks.get(main) else {
        return Vec::new();
    };
    let video = track.kind == TrackKind::Video;
    let mut marker = Marker::new(segment_ms, video);
    let mut starts: Vec<i64> = Vec::new();
    if video {
        for k in &ti.keys {
            let ms = ms_of(k.time + shift_of(main), track.timebase);
            if marker.push(ms, true) {
                starts.push(ms);
            }
        }
    } else {
        for t in ti.part_times() {
            let ms = ms_of(t + shift_of(main), track.timebase);
            if marker.push(ms, false) {
                starts.push(ms);
            }
        }
    }
    // Where the tracks start and end, in ms.
    let mut first: Option<i64> = None;
    let mut end: Option<i64> = None;
    for i in 0..meta.tracks.len() {
        let Some((s, e)) = track_span_ms(meta, i, shift_of(i)) else {
            continue;
        };
        first = Some(first.map_or(s, |f: i64| f.min(s)));
        end = Some(end.map_or(e, |x: i64| x.max(e)));
    }
    let (Some(first), Some(end)) = (first, end) else {
        return Vec::new();
    };
    if let Some(s0) = starts.first_mut() {
        *s0 = (*s0).min(first);
    }
    let mut out = Vec::with_capacity(starts.len());
    for (n, &s) in starts.iter().enumerate() {
        let e = starts.get(n + 1).copied().unwrap_or(end.max(s + 1));
        out.push(Segment {
            number: n as u64,
            start_ms: s,
            end_ms: e,
            discontinuities: 0,
        });
    }
    out
}

/// Where track `i` of an indexed file starts (first packet) and ends (last packet plus its
/// duration), in ms, with its times moved by `shift` ticks.
pub fn track_span_ms(meta: &Meta, i: usize, shift: i64) -> Option<(i64, i64)> {
    let t = meta.tracks.get(i)?;
    let ti = meta.index.as_ref()?.tracks.get(i)?;
    let k0 = ti.keys.first()?;
    let s = ms_of(k0.time + shift, t.timebase);
    let last_dur = ti.parts.last().map_or(0, |p| i64::from(p.duration));
    let e = ms_of(ti.last + shift + last_dur, t.timebase);
    Some((s, e))
}

/// The segment of `segments` (sorted, consecutive) that holds time `ms`: the last one starting
/// at or before it (the first one for earlier times).
pub fn segment_at(segments: &[Segment], ms: i64) -> usize {
    segments
        .partition_point(|s| s.start_ms <= ms)
        .saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::index::{Builder, PartInfo};
    use crate::dtsc::{Codec, Index, Track, TrackId};

    #[test]
    fn marker_cuts_at_the_first_key_at_least_segment_ms_later() {
        // Keys every 1 s with min 1900 ms: segments start at 0, 2000, 4000.
        let mut m = Marker::new(1900, true);
        let starts: Vec<i64> = (0..5)
            .map(|i| i * 1000)
            .filter(|&t| m.push(t, true))
            .collect();
        assert_eq!(starts, vec![0, 2000, 4000]);
        // Non-keys never start a segment.
        assert!(!m.push(9000, false));
    }

    #[test]
    fn audio_main_track_is_marked_every_second() {
        // 48 kHz AAC frames in ms (21.333 ms): marks at the first frame >= 1000 ms after the
        // previous mark, segments at the first mark >= 1900 ms after the previous start.
        let mut m = Marker::new(1900, false);
        let mut starts = Vec::new();
        for i in 0..300i64 {
            let ms = (i * 1024 * 1000 + 24_000) / 48_000;
            if m.push(ms, false) {
                starts.push(ms);
            }
        }
        // Marks: 0, 1003 (frame 47), 2005, 3008, 4011, 5013, 6016; starts every second mark.
        assert_eq!(starts, vec![0, 2005, 4011, 6016]);
    }

    fn indexed(tracks: Vec<(Track, Vec<(i64, bool)>)>) -> Meta {
        let mut meta = Meta::default();
        let mut index = Index::default();
        for (t, pkts) in tracks {
            let mut b = Builder::new(t.kind == TrackKind::Video, t.timebase);
            for (dts, key) in pkts {
                b.push(PartInfo {
                    dts: Ticks(dts),
                    cts: 0,
                    size: 10,
                    keyframe: key,
                    pos: 0,
                    unit_size: 10,
                });
            }
            index.tracks.push(b.finish());
            meta.tracks.push(t);
        }
        meta.index = Some(index);
        meta
    }

    #[test]
    fn file_segments_follow_video_keys_and_end_with_the_longest_track() {
        // Video 25 fps at 90 kHz with a key every 25 frames (1 s), 4 s; audio 48 kHz frames
        // to 4.0107 s. Hand-worked: starts 0, 2000; the end is the audio's last frame end,
        // 188 frames * 1024 / 48 = 4010.67 -> 4011 ms.
        let v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MPEG);
        let a = Track::new(
            TrackId(2),
            TrackKind::Audio,
            Codec::Aac,
            Timebase::new(48_000).unwrap(),
        );
        let video: Vec<(i64, bool)> = (0..100).map(|i| (i * 3600, i % 25 == 0)).collect();
        let audio: Vec<(i64, bool)> = (0..188).map(|i| (i * 1024, true)).collect();
        let meta = indexed(vec![(v, video), (a, audio)]);
        let segs = file_segments(&meta, &[], 1900);
        let spans: Vec<(i64, i64)> = segs.iter().map(|s| (s.start_ms, s.end_ms)).collect();
        assert_eq!(spans, vec![(0, 2000), (2000, 4011)]);
        assert_eq!(segment_at(&segs, 1999), 0);
        assert_eq!(segment_at(&segs, 2000), 1);
        assert_eq!(segment_at(&segs, -5), 0);
        // A shift of 0.5 s (45000 ticks at 90 kHz, 24000 at 48 kHz) moves everything.
        let segs = file_segments(&meta, &[45_000, 24_000], 1900);
        assert_eq!(segs[0].start_ms, 500);
        assert_eq!(segs[1].start_ms, 2500);
        assert_eq!(segs[1].end_ms, 4511);
    }

    #[test]
    fn audio_before_the_first_key_belongs_to_segment_zero() {
        // Video's first key at 100 ms, audio from 0: segment 0 starts at 0.
        let v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        let a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS);
        let meta = indexed(vec![
            (
                v,
                vec![(100, true), (140, false), (2100, true), (2140, false)],
            ),
            (a, vec![(0, true), (1000, true), (2000, true)]),
        ]);
        let segs = file_segments(&meta, &[], 1900);
        let spans: Vec<(i64, i64)> = segs.iter().map(|s| (s.start_ms, s.end_ms)).collect();
        // Ends: video 2140 + 40 = 2180; audio 2000 + 1000 = 3000.
        assert_eq!(spans, vec![(0, 2100), (2100, 3000)]);
    }

    #[test]
    fn target_is_the_longest_segment_rounded() {
        let s = |a, b| Segment {
            number: 0,
            start_ms: a,
            end_ms: b,
            discontinuities: 0,
        };
        // 10.4 s fits 10, 10.5 s needs 11 (format-traps §4.6).
        assert_eq!(Window::fitting_target(&[s(0, 10_400)]), 10);
        assert_eq!(Window::fitting_target(&[s(0, 10_400), s(0, 10_500)]), 11);
        assert_eq!(Window::fitting_target(&[]), 1);
    }
}
