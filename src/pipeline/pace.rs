//! Delivery at a multiple of real time (MistServer's `rate=`): a packet of stream time `t` is
//! due `(t - t0) / rate` after the first packet was sent, less a lead the receiver may run
//! ahead by (MistServer's `maxSkipAhead`, `buffer=`). Sans-IO: [`Pacer::delay`] says how long
//! to wait; the caller sleeps.

use std::time::{Duration, Instant};

use crate::dtsc::{Time, Timebase};

/// MistServer's default lead: outputs may run this far ahead of real time.
pub const DEFAULT_LEAD: Duration = Duration::from_millis(7500);

/// Paces packets at `rate` times real time.
#[derive(Clone, Debug)]
pub struct Pacer {
    rate: f64,
    lead: Duration,
    origin: Option<(i64, Instant)>,
}

/// Microseconds, the unit pacing computes in.
fn micros(t: Time) -> i64 {
    let us = Timebase::new(1_000_000).unwrap_or(Timebase::MS);
    t.base.rescale(t.ticks.0, us)
}

impl Pacer {
    /// A pacer at `rate` (> 0; 1 = real time) that lets delivery run `lead` ahead.
    pub fn new(rate: f64, lead: Duration) -> Pacer {
        Pacer {
            rate: if rate.is_finite() && rate > 0.0 {
                rate
            } else {
                1.0
            },
            lead,
            origin: None,
        }
    }

    /// How long to wait at `now` before sending a packet of time `t`. The first packet sets
    /// the origin; packets earlier than it (another track's) are due at once.
    pub fn delay(&mut self, t: Time, now: Instant) -> Duration {
        let (t0, i0) = *self.origin.get_or_insert((micros(t), now));
        let media_us = (micros(t) - t0).max(0) as f64 / self.rate;
        let due = i0 + Duration::from_micros(media_us as u64);
        due.checked_sub(self.lead)
            .unwrap_or(i0)
            .saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::Ticks;

    #[test]
    fn packets_are_due_at_their_time_over_the_rate_less_the_lead() {
        let start = Instant::now();
        let mut p = Pacer::new(2.0, Duration::ZERO);
        // The first packet (at 10 s of stream time) goes at once and sets the origin.
        assert_eq!(p.delay(Time::from_ms(10_000), start), Duration::ZERO);
        // 3 s of stream later at rate 2: due 1.5 s after the start.
        assert_eq!(
            p.delay(Time::from_ms(13_000), start),
            Duration::from_millis(1500)
        );
        assert_eq!(
            p.delay(Time::from_ms(13_000), start + Duration::from_millis(1000)),
            Duration::from_millis(500)
        );
        // In another timebase: 90 kHz ticks of 12 s = 1 s after the start.
        let ts = Time::new(Ticks(12 * 90_000), Timebase::MPEG);
        assert_eq!(p.delay(ts, start), Duration::from_millis(1000));
        // Earlier than the origin: at once.
        assert_eq!(p.delay(Time::from_ms(9_000), start), Duration::ZERO);
        // A lead of 1 s moves everything 1 s earlier.
        let mut p = Pacer::new(1.0, Duration::from_secs(1));
        p.delay(Time::from_ms(0), start);
        assert_eq!(
            p.delay(Time::from_ms(3000), start),
            Duration::from_millis(2000)
        );
        assert_eq!(p.delay(Time::from_ms(500), start), Duration::ZERO);
    }
}
