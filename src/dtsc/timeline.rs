//! Timestamp discontinuities, bridged in one place: an encoder restart or a spliced file
//! makes a container's times jump back (or far forward); every packet is kept and the times
//! after the jump are shifted so decode times stay monotonic, the same shift for every track
//! so audio and video keep their relation, as MistServer does for live input. Demuxers of
//! containers whose times can jump (TS, FLV) call it after unwrapping; live inputs can too.
//!
//! The rule, per track slot:
//! - a decode time earlier than the track's previous one by more than [`JITTER_MS`], or later
//!   than anything the stream has reached by more than [`THRESHOLD_MS`] (ffmpeg's default
//!   `dts_delta_threshold` for such formats) is a jump;
//! - the first track to jump opens a new *epoch*: its times continue right after the latest
//!   time any track has reached (plus the track's own packet spacing); the epoch's shift is
//!   what that takes;
//! - the other tracks, when their own times jump into that epoch's range, join it and take the
//!   same shift (no new warning): the relation between tracks after the jump is the source's;
//! - a step back of at most [`JITTER_MS`] is not a restart: less than the track's packet
//!   spacing (muxer jitter) is held at the previous time, the presentation time kept; more (a
//!   splice whose pieces overlap, a track whose packets come late) moves the rest of that track
//!   on so it continues after its own last packet, and says so ([`Placed::moved`]).
//!
//! [`Timeline::observe`] only detects (what `analyse` uses: it shows the file's own times).

use super::time::{Ticks, Time, Timebase};

/// A forward jump beyond this is a discontinuity (ffmpeg's `-dts_delta_threshold` default).
pub const THRESHOLD_MS: i64 = 10_000;
/// A step back up to this is jitter, held at the previous time; beyond it, a discontinuity.
pub const JITTER_MS: i64 = 1_000;

/// A jump found (and, unless observing, bridged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jump {
    /// The track's previous decode time, as the source had it.
    pub from: Time,
    /// The decode time the source jumped to.
    pub to: Time,
    /// What was added to the source's times from here on (zero when observing).
    pub shift: Time,
}

impl Jump {
    /// `to - from` in milliseconds (negative: backwards).
    pub fn ms(&self) -> i64 {
        self.to.as_ms().saturating_sub(self.from.as_ms())
    }
}

/// Where a packet's times land.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The decode time to use.
    pub dts: Ticks,
    /// What was added to the source's decode time; add it to the presentation time too,
    /// unless `held` says the decode time alone was held back.
    pub shift: i64,
    /// The decode time was held at the previous one (jitter): keep the source's presentation
    /// time (`pts + shift`) and take the composition offset from it.
    pub held: bool,
    /// A new discontinuity starts here.
    pub jump: Option<Jump>,
    /// This track's times overlapped its own earlier ones by more than its packet spacing:
    /// from here on it is moved later by this much more (ticks of its clock).
    pub moved: Option<i64>,
}

impl Placed {
    /// Moves a packet (decode time `dts`, composition offset `cts`) onto the timeline: the
    /// new decode time and the composition offset that keeps its presentation time.
    pub fn apply(&self, dts: &mut Ticks, cts: &mut i32) {
        let pts = dts
            .0
            .saturating_add(i64::from(*cts))
            .saturating_add(self.shift);
        *dts = self.dts;
        *cts = pts
            .saturating_sub(self.dts.0)
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    }
}

#[derive(Clone, Debug)]
struct Epoch {
    /// Added to the source's times.
    shift: Time,
    /// Earliest and latest source decode time seen in the epoch.
    raw_min: Time,
    raw_max: Time,
}

#[derive(Clone, Debug)]
struct Track {
    epoch: usize,
    /// Added to this track's times on top of the epoch's shift (overlaps resolved).
    extra: i64,
    last_raw: Option<i64>,
    last_out: Option<i64>,
    /// Spacing of the last two packets (the step a new epoch continues with).
    gap: i64,
}

/// The per-stream state of the discontinuity rule (see the module doc).
#[derive(Clone, Debug)]
pub struct Timeline {
    shift: bool,
    tracks: Vec<Option<Track>>,
    epochs: Vec<Epoch>,
    /// The latest output decode time of any track.
    reached: Option<Time>,
    /// After a seek: the next packet of each track is not checked for a forward jump.
    resumed: Vec<bool>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::bridge()
    }
}

impl Timeline {
    /// Detects and bridges jumps.
    pub fn bridge() -> Timeline {
        Timeline {
            shift: true,
            tracks: Vec::new(),
            epochs: Vec::new(),
            reached: None,
            resumed: Vec::new(),
        }
    }

    /// Only detects jumps; times pass unchanged.
    pub fn observe() -> Timeline {
        Timeline {
            shift: false,
            ..Timeline::bridge()
        }
    }

    /// True when times are shifted.
    pub fn bridges(&self) -> bool {
        self.shift
    }

    /// How many jumps were found so far.
    pub fn jumps(&self) -> usize {
        self.epochs.len().saturating_sub(1)
    }

    /// Continue after a seek: state is kept (restore a clone taken at the place sought to),
    /// and each track's next packet is not taken for a forward jump.
    pub fn resume(&mut self) {
        self.resumed = vec![true; self.tracks.len()];
    }

    /// Places a packet of track `slot` (clock `base`) with source decode time `dts`. The
    /// arithmetic saturates: DTSC times reach `i64::MAX`.
    pub fn place(&mut self, slot: usize, base: Timebase, dts: Ticks) -> Placed {
        if self.tracks.len() <= slot {
            self.tracks.resize(slot + 1, None);
        }
        if self.epochs.is_empty() {
            let t = Time::new(dts, base);
            self.epochs.push(Epoch {
                shift: Time::new(Ticks(0), base),
                raw_min: t,
                raw_max: t,
            });
        }
        let raw = Time::new(dts, base);
        let threshold = Time::from_ms(THRESHOLD_MS).ceil_in(base).0;
        let jitter = Time::from_ms(JITTER_MS).ceil_in(base).0;
        let resumed = self.resumed.get_mut(slot).map(std::mem::take) == Some(true);
        let newest = self.epochs.len() - 1;
        let mut jump = None;
        let track = match &mut self.tracks[slot] {
            Some(t) => t,
            // A track's first packet joins the newest epoch its time fits, else the newest.
            none => {
                let fits = (0..self.epochs.len()).rev().find(|&k| {
                    let e = &self.epochs[k];
                    raw.in_base(base).0 >= e.raw_min.in_base(base).0.saturating_sub(threshold)
                        && raw.in_base(base).0
                            <= e.raw_max.in_base(base).0.saturating_add(threshold)
                });
                none.insert(Track {
                    extra: 0,
                    epoch: fits.unwrap_or(newest),
                    last_raw: None,
                    last_out: None,
                    gap: 0,
                })
            }
        };
        let e = &self.epochs[track.epoch];
        let back = track
            .last_raw
            .is_some_and(|l| dts.0 < l.saturating_sub(jitter));
        let ahead = !resumed
            && track.last_raw.is_some()
            && dts.0 > e.raw_max.in_base(base).0.saturating_add(threshold);
        if back || ahead {
            let from = Time::new(Ticks(track.last_raw.unwrap_or(dts.0)), base);
            // Another track jumped here first: join its epoch.
            let join = (track.epoch + 1..self.epochs.len()).find(|&k| {
                let e = &self.epochs[k];
                dts.0 >= e.raw_min.in_base(base).0.saturating_sub(threshold)
                    && dts.0 <= e.raw_max.in_base(base).0.saturating_add(threshold)
            });
            match join {
                Some(k) => {
                    track.epoch = k;
                    track.extra = 0;
                }
                None => {
                    let shift = if self.shift {
                        // Continue right after the latest time reached, one step on.
                        let reached = self
                            .reached
                            .map_or(dts.0, |r| r.ceil_in(base).0)
                            .max(track.last_out.unwrap_or(i64::MIN));
                        reached
                            .saturating_add(track.gap.max(1))
                            .saturating_sub(dts.0)
                    } else {
                        0
                    };
                    let shift = Time::new(Ticks(shift), base);
                    self.epochs.push(Epoch {
                        shift,
                        raw_min: raw,
                        raw_max: raw,
                    });
                    track.epoch = self.epochs.len() - 1;
                    track.extra = 0;
                    jump = Some(Jump {
                        from,
                        to: raw,
                        shift,
                    });
                }
            }
        }
        let e = &mut self.epochs[track.epoch];
        if raw > e.raw_max {
            e.raw_max = raw;
        }
        if raw < e.raw_min {
            e.raw_min = raw;
        }
        let mut shift = if self.shift {
            e.shift.in_base(base).0.saturating_add(track.extra)
        } else {
            0
        };
        let mut out = dts.0.saturating_add(shift);
        let mut held = false;
        let mut moved = None;
        if self.shift {
            if let Some(l) = track.last_out {
                if out < l && l.saturating_sub(out) < track.gap.max(1) {
                    out = l;
                    held = true;
                } else if out < l {
                    let more = l.saturating_add(track.gap.max(1)).saturating_sub(out);
                    track.extra = track.extra.saturating_add(more);
                    shift = shift.saturating_add(more);
                    out = out.saturating_add(more);
                    moved = Some(more);
                }
            }
        }
        if let Some(l) = track.last_out {
            if out > l {
                track.gap = out.saturating_sub(l);
            }
        }
        track.last_raw = Some(dts.0);
        track.last_out = Some(out);
        let t = Time::new(Ticks(out), base);
        if self.reached.is_none_or(|r| t > r) {
            self.reached = Some(t);
        }
        Placed {
            dts: Ticks(out),
            shift,
            held,
            jump,
            moved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Timebase = Timebase::MS;

    /// Feeds (slot, dts) and returns the output decode times and the jumps' (slot index, ms).
    fn run(tl: &mut Timeline, input: &[(usize, i64)]) -> (Vec<i64>, Vec<(usize, i64)>) {
        let mut out = Vec::new();
        let mut jumps = Vec::new();
        for (i, &(slot, dts)) in input.iter().enumerate() {
            let p = tl.place(slot, MS, Ticks(dts));
            out.push(p.dts.0);
            if let Some(j) = p.jump {
                jumps.push((i, j.ms()));
            }
        }
        (out, jumps)
    }

    #[test]
    fn an_encoder_restart_continues_after_the_latest_time_and_keeps_the_av_relation() {
        // Hand-worked: video every 40 ms and audio every 20 ms up to 2000/2025, then both
        // restart at 0 (audio 5 ms after video, as before the restart: 5 ms apart).
        let mut input = Vec::new();
        for i in 0..=50 {
            input.push((0, i * 40));
            input.push((1, i * 40 + 5));
            input.push((1, i * 40 + 25));
        }
        let before = input.len();
        input.push((0, 0));
        input.push((1, 5));
        input.push((0, 40));
        input.push((1, 25));
        let mut tl = Timeline::bridge();
        let (out, jumps) = run(&mut tl, &input);
        // Until the jump, unchanged.
        assert_eq!(
            out[..before],
            input[..before].iter().map(|x| x.1).collect::<Vec<_>>()
        );
        // Reached 2025 (audio); video continues one video step on: 2065. Shift 2065 for all.
        assert_eq!(out[before..], [2065, 2070, 2105, 2090]);
        assert_eq!(jumps, vec![(before, -2000)]);
        // The video/audio distance after the jump is the source's: 5 ms.
        assert_eq!(out[before + 1] - out[before], 5);
    }

    #[test]
    fn a_far_forward_jump_is_closed_and_small_gaps_are_not() {
        let mut tl = Timeline::bridge();
        let (out, jumps) = run(
            &mut tl,
            &[(0, 0), (0, 40), (0, 5000), (0, 60_000), (0, 60_040)],
        );
        assert_eq!(out, vec![0, 40, 5000, 9960, 10000]);
        assert_eq!(jumps, vec![(3, 55_000)]);
    }

    #[test]
    fn jitter_is_held_and_observing_changes_nothing() {
        let mut tl = Timeline::bridge();
        let (out, jumps) = run(&mut tl, &[(0, 0), (0, 40), (0, 30), (0, 80)]);
        assert_eq!(out, vec![0, 40, 40, 80]);
        assert!(jumps.is_empty());
        let mut tl = Timeline::observe();
        let input = [(0, 5000), (1, 5000), (0, 0), (1, 0)];
        let (out, jumps) = run(&mut tl, &input);
        assert_eq!(out, vec![5000, 5000, 0, 0]);
        assert_eq!(jumps, vec![(2, -5000)]);
    }

    #[test]
    fn an_overlap_longer_than_a_packet_moves_the_track_on() {
        // Audio every 20 ms to 200, then a spliced piece starting 60 ms back (180): the rest
        // of the track goes on after 200 (+20), moved by 40; one step back of 5 ms is held.
        let mut tl = Timeline::bridge();
        let mut moved = Vec::new();
        let mut out = Vec::new();
        for dts in [160, 180, 200, 140, 160, 180, 175, 200] {
            let p = tl.place(0, MS, Ticks(dts));
            out.push(p.dts.0);
            moved.extend(p.moved);
            assert!(p.jump.is_none());
        }
        assert_eq!(out, vec![160, 180, 200, 220, 240, 260, 260, 280]);
        assert_eq!(moved, vec![80]);
    }

    #[test]
    fn different_clocks_share_one_shift() {
        // Video at 90 kHz, audio at 48 kHz; restart from 20 s to 0.
        let mut tl = Timeline::bridge();
        let v = Timebase::MPEG;
        let a = Timebase::new(48_000).unwrap();
        tl.place(0, v, Ticks(20 * 90_000));
        tl.place(1, a, Ticks(20 * 48_000));
        let p = tl.place(0, v, Ticks(0));
        assert!(p.jump.is_some());
        let q = tl.place(1, a, Ticks(0));
        assert!(q.jump.is_none());
        // The same instant before the jump lands on the same instant after it.
        assert_eq!(Time::new(p.dts, v).as_ms(), Time::new(q.dts, a).as_ms(),);
    }
}
