//! What every live manifest follow shares (HLS, DASH, HDS, Smooth): the wall-clock bounds
//! (`--duration`, Ctrl-C), the wait between reloads watched in short steps so either ends it
//! at once, and the rule for a timeline that stopped advancing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Options;

/// Shortest wait between two reloads of a live manifest.
pub const MIN_RELOAD: Duration = Duration::from_millis(500);
/// Longest wait between two reloads of a live manifest.
pub const MAX_RELOAD: Duration = Duration::from_secs(10);
/// Step in which a wait looks at the deadline and Ctrl-C.
const STEP: Duration = Duration::from_millis(50);

/// The bounds of one follow: `--duration` from its start, and Ctrl-C.
pub struct Follow {
    deadline: Option<Instant>,
    stop: Option<Arc<AtomicBool>>,
}

impl Follow {
    /// Starts the clock of `opts.duration` now.
    pub fn new(opts: &Options) -> Follow {
        Follow {
            deadline: opts.duration.map(|d| Instant::now() + d),
            stop: opts.stop.clone(),
        }
    }

    /// True once `--duration` has passed or Ctrl-C was pressed.
    pub fn over(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Waits `d`; false (at once) when the follow is over before it has passed.
    pub fn wait(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.over() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep(STEP.min(until - now));
        }
    }
}

/// `ms` (a fragment or update period) as a wait between reloads, within
/// [`MIN_RELOAD`]..=[`MAX_RELOAD`]; `None` or nonsense waits `fallback_ms`.
pub fn reload_period(ms: Option<i64>, fallback_ms: u64) -> Duration {
    let ms = ms
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(fallback_ms);
    Duration::from_millis(ms).clamp(MIN_RELOAD, MAX_RELOAD)
}

/// Whether a live timeline still advances: reloads that added nothing are counted from the
/// last one that did.
#[derive(Debug)]
pub struct Stall {
    last_new: Instant,
    idle_reloads: u32,
    reported: bool,
}

impl Default for Stall {
    fn default() -> Stall {
        Stall {
            last_new: Instant::now(),
            idle_reloads: 0,
            reported: false,
        }
    }
}

/// Reloads in a row that add nothing before a timeline counts as stopped.
pub const STALL_RELOADS: u32 = 3;

impl Stall {
    /// Notes one reload; returns, once, how long the timeline has not advanced when that is
    /// [`STALL_RELOADS`] reloads or more and longer than `limit`.
    pub fn reload(&mut self, advanced: bool, limit: Duration) -> Option<Duration> {
        if advanced {
            self.last_new = Instant::now();
            self.idle_reloads = 0;
            self.reported = false;
            return None;
        }
        self.idle_reloads = self.idle_reloads.saturating_add(1);
        let idle = self.last_new.elapsed();
        if self.reported || self.idle_reloads < STALL_RELOADS || idle <= limit {
            return None;
        }
        self.reported = true;
        Some(idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_clamped_and_fall_back() {
        assert_eq!(reload_period(Some(2000), 9), Duration::from_secs(2));
        assert_eq!(reload_period(Some(10), 9), MIN_RELOAD);
        assert_eq!(reload_period(Some(60_000), 9), MAX_RELOAD);
        assert_eq!(reload_period(None, 1500), Duration::from_millis(1500));
        assert_eq!(reload_period(Some(-5), 1500), Duration::from_millis(1500));
    }

    #[test]
    fn a_stall_needs_idle_reloads_and_time_and_is_told_once() {
        let mut s = Stall::default();
        // Time alone is not enough: three idle reloads are.
        assert_eq!(s.reload(false, Duration::ZERO), None);
        assert_eq!(s.reload(false, Duration::ZERO), None);
        assert!(s.reload(false, Duration::ZERO).is_some());
        assert_eq!(s.reload(false, Duration::ZERO), None);
        // A reload that adds something starts the count again.
        assert_eq!(s.reload(true, Duration::ZERO), None);
        for _ in 0..5 {
            assert_eq!(s.reload(false, Duration::from_secs(3600)), None);
        }
    }

    #[test]
    fn a_wait_ends_at_once_when_stopped() {
        let stop = Arc::new(AtomicBool::new(true));
        let f = Follow::new(&Options {
            stop: Some(stop.clone()),
            ..Options::default()
        });
        let t = Instant::now();
        assert!(!f.wait(Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(1));
        stop.store(false, Ordering::Relaxed);
        assert!(f.wait(Duration::from_millis(60)));
        let g = Follow::new(&Options {
            duration: Some(Duration::from_millis(100)),
            ..Options::default()
        });
        assert!(!g.wait(Duration::from_secs(5)));
        assert!(g.over());
    }
}
