//! Time in the model: integer ticks of each track's own clock, exact rescaling, comparison
//! across clocks, and unwrapping of the 32/33-bit timestamps containers carry.
//!
//! Rules (DESIGN.md §2): rescale absolute times, never sums of rounded deltas; round to
//! nearest with ties away from zero (FFmpeg's `av_rescale_q`); unwrap once, at input.

use std::cmp::Ordering;
use std::fmt;
use std::num::NonZeroU32;
use std::ops::{Add, Sub};

/// An instant in ticks of a track's clock; the rate lives in the track's [`Timebase`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticks(pub i64);

impl Add<i64> for Ticks {
    type Output = Ticks;
    /// Saturates: a hostile file's times may sit next to `i64::MAX`.
    fn add(self, rhs: i64) -> Ticks {
        Ticks(self.0.saturating_add(rhs))
    }
}

impl Sub for Ticks {
    type Output = i64;
    /// Saturates, as `add` does.
    fn sub(self, rhs: Ticks) -> i64 {
        self.0.saturating_sub(rhs.0)
    }
}

/// Ticks per second of a clock: 1000 for FLV/DTSC, 90 000 for TS, the `mdhd` timescale for MP4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timebase(NonZeroU32);

impl Timebase {
    /// Milliseconds: FLV, RTMP and DTSC.
    pub const MS: Timebase = Timebase::constant(1000);
    /// The 90 kHz clock of MPEG-TS PTS/DTS.
    pub const MPEG: Timebase = Timebase::constant(90_000);

    const fn constant(v: u32) -> Timebase {
        match NonZeroU32::new(v) {
            Some(n) => Timebase(n),
            None => panic!("zero timebase"),
        }
    }

    /// A clock of `per_second` ticks per second; `None` for 0.
    pub fn new(per_second: u32) -> Option<Timebase> {
        NonZeroU32::new(per_second).map(Timebase)
    }

    /// Ticks per second.
    pub fn per_second(self) -> u32 {
        self.0.get()
    }

    /// Converts `ticks` of this clock to the nearest tick of `to` (ties away from zero).
    pub fn rescale(self, ticks: i64, to: Timebase) -> i64 {
        rescale_round(
            ticks,
            u64::from(to.per_second()),
            u64::from(self.per_second()),
        )
    }

    /// Converts to the nearest tick of `to`, as [`Ticks`].
    pub fn rescale_ticks(self, t: Ticks, to: Timebase) -> Ticks {
        Ticks(self.rescale(t.0, to))
    }
}

impl fmt::Display for Timebase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1/{}", self.per_second())
    }
}

/// `value * num / den` rounded to nearest, ties away from zero, saturating at the `i64` range.
pub fn rescale_round(value: i64, num: u64, den: u64) -> i64 {
    let den = i128::from(den.max(1));
    let p = i128::from(value) * i128::from(num);
    let half = den / 2;
    let q = if p >= 0 {
        (p + half) / den
    } else {
        -((-p + half) / den)
    };
    // `den` even: (p + den/2)/den rounds .5 up (away from zero for positives) as wanted.
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// `value * num / den` rounded down (toward negative infinity).
pub fn rescale_floor(value: i64, num: u64, den: u64) -> i64 {
    let p = i128::from(value) * i128::from(num);
    let q = p.div_euclid(i128::from(den.max(1)));
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A time that carries its clock, for work across tracks (interleaving, windows, seeking).
/// Ordering cross-multiplies in `i128`; it never goes through floats.
#[derive(Clone, Copy, Debug)]
pub struct Time {
    /// The instant, in `base` ticks.
    pub ticks: Ticks,
    /// The clock of `ticks`.
    pub base: Timebase,
}

impl Time {
    /// `ticks` of clock `base`.
    pub fn new(ticks: Ticks, base: Timebase) -> Time {
        Time { ticks, base }
    }

    /// A time in milliseconds.
    pub fn from_ms(ms: i64) -> Time {
        Time::new(Ticks(ms), Timebase::MS)
    }

    /// This time in another clock, rounded to nearest.
    pub fn in_base(self, to: Timebase) -> Ticks {
        self.base.rescale_ticks(self.ticks, to)
    }

    /// This time in whole milliseconds, rounded to nearest.
    pub fn as_ms(self) -> i64 {
        self.base.rescale(self.ticks.0, Timebase::MS)
    }

    /// The first tick of clock `to` that is not earlier than this time (for "from T on" bounds).
    pub fn ceil_in(self, to: Timebase) -> Ticks {
        let num = u64::from(to.per_second());
        let den = u64::from(self.base.per_second());
        let f = rescale_floor(self.ticks.0, num, den);
        // f/to <= self; step up once if it falls short.
        if Time::new(Ticks(f), to) < self {
            Ticks(f.saturating_add(1))
        } else {
            Ticks(f)
        }
    }

    /// Parses seconds as the CLI takes them: `12`, `12.5`, `1:02.5`, `01:00:00` (exact, no floats).
    pub fn parse_seconds(s: &str) -> Option<Time> {
        let s = s.trim();
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let mut whole: i64 = 0;
        let parts: Vec<&str> = s.split(':').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        let (last, heads) = parts.split_last()?;
        for h in heads {
            if h.is_empty() || !h.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            whole = whole.checked_mul(60)?.checked_add(h.parse::<i64>().ok()?)?;
        }
        let (int, frac) = match last.split_once('.') {
            Some((i, f)) => (i, f),
            None => (*last, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let int_v: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let secs = if heads.is_empty() {
            int_v
        } else {
            whole.checked_mul(60)?.checked_add(int_v)?
        };
        // Microsecond resolution is plenty for a CLI bound; more digits are cut off.
        let mut micros: i64 = 0;
        for (i, d) in frac.bytes().take(6).enumerate() {
            micros += i64::from(d - b'0') * 10_i64.pow(5 - i as u32);
        }
        let total = secs.checked_mul(1_000_000)?.checked_add(micros)?;
        let base = Timebase::new(1_000_000)?;
        Some(Time::new(Ticks(if neg { -total } else { total }), base))
    }
}

impl PartialEq for Time {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Time {}
impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Time {
    fn cmp(&self, other: &Self) -> Ordering {
        let a = i128::from(self.ticks.0) * i128::from(other.base.per_second());
        let b = i128::from(other.ticks.0) * i128::from(self.base.per_second());
        a.cmp(&b)
    }
}

impl fmt::Display for Time {
    /// Seconds with millisecond precision, computed in integers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.as_ms();
        let sign = if ms < 0 { "-" } else { "" };
        let ms = ms.unsigned_abs();
        write!(f, "{sign}{}.{:03}s", ms / 1000, ms % 1000)
    }
}

/// Turns wrapping N-bit timestamps (TS: 33 bits, FLV/RTMP: 32 bits) into a continuous `i64`.
///
/// A new raw value is placed in the wrap cycle that puts it nearest to the previous value
/// (within half the range), so forward wraps add 2^N and small backward steps (B-frame PTS,
/// interleaving jitter) stay small.
#[derive(Clone, Debug)]
pub struct Unwrapper {
    bits: u32,
    last: Option<i64>,
}

impl Unwrapper {
    /// An unwrapper for `bits`-bit timestamps (1..=62).
    pub fn new(bits: u32) -> Unwrapper {
        assert!(
            (1..=62).contains(&bits),
            "timestamp width must be 1..=62 bits"
        );
        Unwrapper { bits, last: None }
    }

    /// The continuous value for `raw` (only its low `bits` bits are used).
    pub fn unwrap(&mut self, raw: u64) -> i64 {
        let v = self.place(raw);
        self.last = Some(v);
        v
    }

    /// Where `raw` would land, without moving the reference (for PTS placed near a DTS).
    pub fn place(&self, raw: u64) -> i64 {
        let range = 1i64 << self.bits;
        let raw = (raw & (range as u64 - 1)) as i64;
        match self.last {
            None => raw,
            Some(last) => {
                let base = last - last.rem_euclid(range);
                let mut best = base + raw;
                for cand in [base - range + raw, base + range + raw] {
                    if (cand - last).abs() < (best - last).abs() {
                        best = cand;
                    }
                }
                best
            }
        }
    }

    /// Places `raw` near `reference` (a value already unwrapped), not near the last value.
    pub fn place_near(bits: u32, raw: u64, reference: i64) -> i64 {
        let mut u = Unwrapper::new(bits);
        u.last = Some(reference);
        u.place(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rescale_rounds_to_nearest_ties_away_from_zero() {
        // 1 tick of 1/3 s in ms is 333.33 -> 333; 2 ticks 666.67 -> 667.
        let third = Timebase::new(3).unwrap();
        assert_eq!(third.rescale(1, Timebase::MS), 333);
        assert_eq!(third.rescale(2, Timebase::MS), 667);
        // 1.5 ms in 1/2000 -> 3 ticks exactly; 3 ticks of 1/2000 in ms is 1.5 -> 2 (away from 0).
        let half_ms = Timebase::new(2000).unwrap();
        assert_eq!(half_ms.rescale(3, Timebase::MS), 2);
        assert_eq!(half_ms.rescale(-3, Timebase::MS), -2);
        // 48 kHz AAC frame (1024 samples) is exactly 1920 ticks at 90 kHz.
        assert_eq!(
            Timebase::new(48_000).unwrap().rescale(1024, Timebase::MPEG),
            1920
        );
    }

    #[test]
    fn unwrap_33_bit_crossing_keeps_increasing() {
        let mut u = Unwrapper::new(33);
        let max = (1u64 << 33) - 1;
        assert_eq!(u.unwrap(max - 3000), (max - 3000) as i64);
        assert_eq!(u.unwrap(2000), (1i64 << 33) + 2000);
        // A small step back (B-frame PTS) stays in the same cycle.
        assert_eq!(u.unwrap(max - 10), max as i64 - 10);
    }

    #[test]
    fn parse_seconds_forms() {
        let t = Time::parse_seconds("12.5").unwrap();
        assert_eq!(t.as_ms(), 12_500);
        assert_eq!(Time::parse_seconds("1:02.25").unwrap().as_ms(), 62_250);
        assert_eq!(Time::parse_seconds("1:00:00").unwrap().as_ms(), 3_600_000);
        assert!(Time::parse_seconds("abc").is_none());
        assert!(Time::parse_seconds("1.2.3").is_none());
    }

    #[test]
    fn ceil_in_rounds_up_only_when_needed() {
        let t = Time::new(Ticks(1), Timebase::new(3).unwrap()); // 333.33 ms
        assert_eq!(t.ceil_in(Timebase::MS), Ticks(334));
        let exact = Time::from_ms(500);
        assert_eq!(exact.ceil_in(Timebase::new(2).unwrap()), Ticks(1));
    }

    proptest! {
        #[test]
        fn round_trip_through_finer_base_is_identity(
            t in -(1i64 << 40)..(1i64 << 40),
            a in 1u32..200_000,
            mult in 1u32..50,
        ) {
            // b at least as fine as a: a -> b -> a recovers every value (DESIGN.md §2).
            let a_tb = Timebase::new(a).unwrap();
            let b_tb = Timebase::new(a.saturating_mul(mult).max(a)).unwrap();
            let there = a_tb.rescale(t, b_tb);
            prop_assert_eq!(b_tb.rescale(there, a_tb), t);
        }

        #[test]
        fn round_trip_into_any_finer_base_is_identity(
            t in -(1i64 << 40)..(1i64 << 40),
            a in 1u32..100_000,
            extra in 0u32..1_000_000,
        ) {
            let a_tb = Timebase::new(a).unwrap();
            let b_tb = Timebase::new(a + extra).unwrap();
            prop_assert_eq!(b_tb.rescale(a_tb.rescale(t, b_tb), a_tb), t);
        }

        #[test]
        fn rescale_error_is_at_most_half_a_tick(t in -(1i64 << 42)..(1i64 << 42), a in 1u32..1_000_000, b in 1u32..1_000_000) {
            let r = Timebase::new(a).unwrap().rescale(t, Timebase::new(b).unwrap());
            // |r/b - t/a| <= 1/(2b)  <=>  |2*(r*a - t*b)| <= a
            let err = 2 * (i128::from(r) * i128::from(a) - i128::from(t) * i128::from(b));
            prop_assert!(err.abs() <= i128::from(a));
        }

        #[test]
        fn time_order_matches_exact_fractions(x in -(1i64<<40)..(1i64<<40), y in -(1i64<<40)..(1i64<<40), a in 1u32..1_000_000, b in 1u32..1_000_000) {
            let tx = Time::new(Ticks(x), Timebase::new(a).unwrap());
            let ty = Time::new(Ticks(y), Timebase::new(b).unwrap());
            let exact = (i128::from(x) * i128::from(b)).cmp(&(i128::from(y) * i128::from(a)));
            prop_assert_eq!(tx.cmp(&ty), exact);
        }

        #[test]
        fn unwrap_follows_a_monotonic_sequence(start in 0u64..(1u64 << 33), steps in proptest::collection::vec(0i64..(1i64 << 31), 1..50)) {
            let mut u = Unwrapper::new(33);
            let mut truth = start as i64;
            prop_assert_eq!(u.unwrap(start), truth);
            for s in steps {
                truth += s;
                prop_assert_eq!(u.unwrap(truth as u64 & ((1u64 << 33) - 1)), truth);
            }
        }

        #[test]
        fn unwrap_32_bit_tolerates_small_backsteps(start in 0i64..(1i64 << 34), back in 0i64..(1i64 << 30)) {
            let mut u = Unwrapper::new(32);
            let m = (1u64 << 32) - 1;
            // Seed in the right cycle, then step back a little.
            let seen = u.unwrap(start as u64 & m);
            let back_v = u.unwrap((seen - back) as u64 & m);
            prop_assert_eq!(back_v, seen - back);
        }
    }
}
