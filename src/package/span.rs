//! The presentation span of a stream: from its earliest presentation time to where its
//! latest presented frame ends, across tracks. What manifests give as a presentation's
//! duration (F4M `<duration>`, Smooth `Duration`), and what ffprobe reports as a file's.

use crate::dtsc::{Packet, Timebase, Track, TrackId};

/// Per track: the earliest presentation time, the latest one and the last decode step, in
/// the track's own ticks.
#[derive(Clone, Debug, Default)]
pub struct Span {
    tracks: Vec<(TrackId, Timebase, i64, i64, i64, i64)>,
}

impl Span {
    /// Takes packets (decode order per track) of the tracks in `tracks`.
    pub fn add(&mut self, tracks: &[Track], packets: &[Packet]) {
        for p in packets {
            let Some(t) = tracks.iter().find(|t| t.id == p.track) else {
                continue;
            };
            let pts = p.pts().0;
            match self.tracks.iter_mut().find(|x| x.0 == p.track) {
                Some((_, _, min, max, last_dts, step)) => {
                    *min = (*min).min(pts);
                    *max = (*max).max(pts);
                    *step = p.dts.0 - *last_dts;
                    *last_dts = p.dts.0;
                }
                None => self
                    .tracks
                    .push((p.track, t.timebase, pts, pts, p.dts.0, 0)),
            }
        }
    }

    /// Start and end in `to` units (the latest frame lasting as long as its track's last
    /// decode step), rounded to nearest; `None` before any packet.
    pub fn bounds(&self, to: Timebase) -> Option<(i64, i64)> {
        let start = self.tracks.iter().map(|x| x.1.rescale(x.2, to)).min()?;
        let end = self
            .tracks
            .iter()
            .map(|x| x.1.rescale(x.3 + x.5, to))
            .max()?;
        Some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Codec, Ticks, TrackKind};
    use bytes::Bytes;

    #[test]
    fn the_span_runs_from_the_first_presentation_to_the_last_frame_end() {
        // At 90 kHz: video decoding from 1.40 s every 40 ms, presented 80 ms later (a
        // B-frame delay); audio from 1.458667 s every 21.333 ms (1920 ticks).
        let v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MPEG);
        let a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MPEG);
        let pk = |id, dts: i64, cts: i32| Packet {
            track: TrackId(id),
            dts: Ticks(dts),
            cts,
            keyframe: true,
            data: Bytes::new(),
            pos: None,
        };
        let tracks = [v, a];
        let mut s = Span::default();
        s.add(
            &tracks,
            &[
                pk(1, 126_000, 7200),
                pk(2, 131_280, 0),
                pk(1, 129_600, 7200),
            ],
        );
        s.add(
            &tracks,
            &[pk(2, 133_200, 0), pk(1, 133_200, 7200), pk(2, 135_120, 0)],
        );
        // Start: the audio's 131280 (1458.667 ms -> 1459). End: the video's last pts
        // 140400 plus its step 3600 = 144000 (1600 ms), after the audio's 137040.
        let (start, end) = s.bounds(Timebase::MS).unwrap();
        assert_eq!((start, end), (1459, 1600));
    }
}
