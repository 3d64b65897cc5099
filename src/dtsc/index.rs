//! The per-track index, shaped like MistServer's: *parts* (one per packet), *keys* (random
//! access points, and ~2 s chunks for audio) and *fragments* (groups of keys of at least
//! 1.9 s, the unit segmenters cut on). Column-wise, a few bytes per packet.
//!
//! [`Builder`] reproduces MistServer's `Meta::update` rules (dtsc-format.md §1.6.5), so a
//! `.dtsh` we write carries the same numbers MistServer computes for the same packets.

use super::time::{Ticks, Time, Timebase};

/// MistServer starts a new key on non-video tracks every 2047 ms.
pub const AUDIO_KEY_INTERVAL_MS: i64 = 2047;
/// MistServer's default minimum fragment duration (the inputs' `segmentsize`).
pub const MIN_FRAGMENT_MS: i64 = 1900;

/// One packet of a track, as the index remembers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Payload bytes.
    pub size: u32,
    /// Ticks until the next packet of the track (the last part repeats the previous gap).
    pub duration: u32,
    /// Composition offset in ticks.
    pub cts: i32,
}

/// A random access point and the packets up to the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// Index into the track's parts of this key's first packet.
    pub first_part: u32,
    /// Number of packets in this key.
    pub parts: u32,
    /// Decode time of the first packet.
    pub time: Ticks,
    /// Ticks from this key to the next (last key: to the last packet).
    pub duration: u64,
    /// Byte position of the first packet's container unit in the indexed file.
    pub pos: u64,
    /// Total bytes of the container units of this key's packets (DTSC `keysizes`).
    pub size: u64,
}

/// A group of keys, at least [`MIN_FRAGMENT_MS`] long except at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// Index of the first key.
    pub first_key: u32,
    /// Number of keys.
    pub keys: u32,
    /// Ticks from the first key to the next fragment's first key (0 for the last, open one).
    pub duration: u64,
    /// Payload bytes of all packets in the fragment.
    pub size: u64,
}

/// Parts, keys and fragments of one track, plus totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackIndex {
    /// One entry per packet, in decode order.
    pub parts: Vec<Part>,
    /// Random access points.
    pub keys: Vec<Key>,
    /// Groups of keys.
    pub fragments: Vec<Fragment>,
    /// Time of the first (still available) key.
    pub first: Ticks,
    /// Time of the last packet.
    pub last: Ticks,
    /// Average bytes per second over the closed fragments.
    pub bps: u64,
    /// Peak bytes per second of any closed fragment.
    pub max_bps: u64,
    /// Fragments dropped from the front of a live window.
    pub missed_fragments: u32,
    /// A video track whose first packet is not a keyframe: its first key (which always
    /// opens the index) is a place to start, not a sync sample a writer may flag.
    pub opens_without_keyframe: bool,
}

impl TrackIndex {
    /// The key at or before `t` (the first key when `t` is earlier than all of them).
    pub fn key_at_or_before(&self, t: Ticks) -> Option<&Key> {
        let i = self.keys.partition_point(|k| k.time <= t);
        self.keys.get(i.saturating_sub(1))
    }

    /// Decode time of every part, in order (key time plus the durations before it in the key).
    pub fn part_times(&self) -> Vec<Ticks> {
        let mut out = Vec::with_capacity(self.parts.len());
        for k in &self.keys {
            let mut t = k.time;
            let start = k.first_part as usize;
            let end = (start + k.parts as usize).min(self.parts.len());
            for p in self.parts.get(start..end).unwrap_or(&[]) {
                out.push(t);
                t = t + i64::from(p.duration);
            }
        }
        out
    }

    /// Total payload bytes.
    pub fn payload_bytes(&self) -> u64 {
        self.parts.iter().map(|p| u64::from(p.size)).sum()
    }
}

/// The index of every track of a stream, in the order of `Meta::tracks`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    /// Per track.
    pub tracks: Vec<TrackIndex>,
}

/// What the builder needs to know about one packet.
#[derive(Clone, Copy, Debug)]
pub struct PartInfo {
    /// Decode time.
    pub dts: Ticks,
    /// Composition offset.
    pub cts: i32,
    /// Payload bytes.
    pub size: u32,
    /// Random access point.
    pub keyframe: bool,
    /// Byte position of the packet's container unit.
    pub pos: u64,
    /// Size of the whole container unit (counted into the key's `size`).
    pub unit_size: u64,
}

/// Builds a [`TrackIndex`] packet by packet with MistServer's rules.
#[derive(Clone, Debug)]
pub struct Builder {
    video: bool,
    base: Timebase,
    audio_key_interval: i64,
    min_fragment: i64,
    index: TrackIndex,
    last: Option<Ticks>,
    fragment_start: Ticks,
    drained: u64,
}

impl Builder {
    /// A builder for a track of clock `base`; `video` tracks get keys only on keyframes.
    pub fn new(video: bool, base: Timebase) -> Builder {
        Builder {
            video,
            base,
            audio_key_interval: Time::from_ms(AUDIO_KEY_INTERVAL_MS).ceil_in(base).0,
            min_fragment: Time::from_ms(MIN_FRAGMENT_MS).ceil_in(base).0,
            index: TrackIndex::default(),
            last: None,
            fragment_start: Ticks(0),
            drained: 0,
        }
    }

    /// The clock the index is built in.
    pub fn timebase(&self) -> Timebase {
        self.base
    }

    /// Adds one packet; returns false (and changes nothing) when its time goes backwards,
    /// which MistServer drops too.
    pub fn push(&mut self, p: PartInfo) -> bool {
        let t = p.dts;
        if let Some(last) = self.last {
            if t < last {
                return false;
            }
        }
        let gap = self.last.map_or(0, |l| t - l);
        let gap32 = u32::try_from(gap).unwrap_or(u32::MAX);
        let idx = &mut self.index;
        if let Some(prev) = idx.parts.last_mut() {
            prev.duration = gap32;
        }
        idx.parts.push(Part {
            size: p.size,
            duration: gap32,
            cts: p.cts,
        });
        // Keyframe flags count on video only: every audio packet is a random access point, and
        // a key per audio frame would bloat the index (MistServer's inputs never flag them).
        let new_key = (p.keyframe && self.video)
            || idx.keys.is_empty()
            || (!self.video
                && t.0 >= self.audio_key_interval
                && idx
                    .keys
                    .last()
                    .is_some_and(|k| t - k.time >= self.audio_key_interval));
        if idx.keys.is_empty() && self.video && !p.keyframe {
            idx.opens_without_keyframe = true;
        }
        if new_key {
            if let Some(prev) = idx.keys.last_mut() {
                prev.duration = (t - prev.time) as u64;
            }
            idx.keys.push(Key {
                first_part: (self.drained + idx.parts.len() as u64 - 1) as u32,
                parts: 0,
                time: t,
                duration: 0,
                pos: p.pos,
                size: 0,
            });
            let open_new = idx.fragments.is_empty()
                || (t.0 >= self.min_fragment && t.0 - self.min_fragment >= self.fragment_start.0);
            if open_new {
                if let Some(f) = idx.fragments.last_mut() {
                    f.duration = (t - self.fragment_start) as u64;
                    let ps = u64::from(self.base.per_second());
                    // Saturating: hostile files claim sizes whose product overflows.
                    if let Some(rate) = f.size.saturating_mul(ps).checked_div(f.duration) {
                        idx.max_bps = idx.max_bps.max(rate);
                    }
                    let (size, dur) = idx.fragments.iter().fold((0u64, 0u64), |(s, d), f| {
                        (s.saturating_add(f.size), d.saturating_add(f.duration))
                    });
                    if let Some(rate) = size.saturating_mul(ps).checked_div(dur) {
                        idx.bps = rate;
                    }
                }
                idx.fragments.push(Fragment {
                    first_key: (idx.keys.len() - 1) as u32,
                    keys: 1,
                    duration: 0,
                    size: 0,
                });
                self.fragment_start = t;
            } else if let Some(f) = idx.fragments.last_mut() {
                f.keys += 1;
            }
        } else if let Some(k) = idx.keys.last_mut() {
            k.duration = k.duration.saturating_add(gap as u64);
        }
        if let Some(k) = idx.keys.last_mut() {
            k.parts += 1;
            k.size = k.size.saturating_add(p.unit_size);
        }
        if let Some(f) = idx.fragments.last_mut() {
            f.size = f.size.saturating_add(u64::from(p.size));
        }
        if self.last.is_none() {
            idx.first = t;
        }
        idx.last = t;
        self.last = Some(t);
        true
    }

    /// Removes and returns the finished parts, keeping the last `keep` in the index (the
    /// last part's duration changes when the next packet arrives). Writers of long files
    /// spill parts this way so memory stays bounded; key positions keep counting them.
    pub fn drain_parts(&mut self, keep: usize) -> Vec<Part> {
        let n = self.index.parts.len().saturating_sub(keep);
        self.drained += n as u64;
        self.index.parts.drain(..n).collect()
    }

    /// Parts removed by [`drain_parts`](Self::drain_parts) so far.
    pub fn drained(&self) -> u64 {
        self.drained
    }

    /// The index so far (without drained parts).
    pub fn index(&self) -> &TrackIndex {
        &self.index
    }

    /// The finished index.
    pub fn finish(self) -> TrackIndex {
        self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(b: &mut Builder, ms: i64, key: bool, size: u32) {
        assert!(b.push(PartInfo {
            dts: Ticks(ms),
            cts: 0,
            size,
            keyframe: key,
            pos: ms as u64,
            unit_size: u64::from(size) + 35,
        }));
    }

    #[test]
    fn audio_gets_a_key_every_2047_ms_and_fragments_of_1900_ms() {
        // Hand-worked from §1.6.5: 48 kHz AAC frames every 21.333 ms (rounded as ms).
        let mut b = Builder::new(false, Timebase::MS);
        for i in 0..300i64 {
            push(&mut b, (i * 1024 * 1000 + 24_000) / 48_000, false, 100);
        }
        let idx = b.finish();
        let key_times: Vec<i64> = idx.keys.iter().map(|k| k.time.0).collect();
        assert_eq!(key_times, vec![0, 2048, 4096, 6144]);
        assert_eq!(idx.fragments.len(), 4);
        assert_eq!(idx.fragments[0].duration, 2048);
        assert_eq!(idx.fragments[3].duration, 0);
        // 96 frames of 100 bytes in 2048 ms: 9600*1000/2048 = 4687 bytes/s.
        assert_eq!(idx.max_bps, 4687);
        assert_eq!(idx.keys[0].parts, 96);
        assert_eq!(idx.keys[0].size, 96 * 135);
    }

    #[test]
    fn video_keys_only_on_keyframes_and_backwards_time_is_dropped() {
        let mut b = Builder::new(true, Timebase::MS);
        push(&mut b, 0, true, 10);
        push(&mut b, 40, false, 10);
        assert!(!b.push(PartInfo {
            dts: Ticks(20),
            cts: 0,
            size: 1,
            keyframe: true,
            pos: 0,
            unit_size: 1,
        }));
        push(&mut b, 2500, false, 10);
        push(&mut b, 3000, true, 10);
        let idx = b.finish();
        assert_eq!(idx.keys.len(), 2);
        assert_eq!(idx.keys[0].duration, 3000);
        assert_eq!(
            idx.parts.iter().map(|p| p.duration).collect::<Vec<_>>(),
            vec![40, 2460, 500, 500]
        );
        assert_eq!(
            idx.part_times(),
            vec![Ticks(0), Ticks(40), Ticks(2500), Ticks(3000)]
        );
        assert_eq!(idx.key_at_or_before(Ticks(2999)).unwrap().time, Ticks(0));
        assert_eq!(idx.key_at_or_before(Ticks(3000)).unwrap().time, Ticks(3000));
    }
}
