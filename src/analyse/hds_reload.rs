//! What may change between two loads of a live HDS bootstrap (the Adobe Flash Video File
//! Format Specification 10.1, F4V boxes: the Bootstrap Info box `abst`, its Segment Run Table
//! box `asrt` and Fragment Run Table box `afrt`). A live bootstrap is a window that slides
//! on: `CurrentMediaTime` (the newest media) only grows; fragments leave from the front, so
//! the fragment run table's first fragment and its newest only rise; a fragment once listed
//! keeps its timestamp and duration; `BootstrapinfoVersion` does not go back (OSMF, Adobe's
//! player, takes an update only when it is newer); `Profile` and the timescale stay; `Live`
//! may drop (the presentation ended), never come back. Pure: both versions in, findings
//! out, so tests drive it with hand-built bootstraps.

use crate::dtsc::Timebase;
use crate::package::hds::bootstrap::{listing, Listed};
use crate::package::hds::boxes::Abst;

/// One fault found between two versions: whether it is an error, and what it is.
pub type Fault = (bool, String);

/// `CurrentMediaTime` of `a` in ms.
fn current_ms(a: &Abst) -> i64 {
    let v = i64::try_from(a.current_media_time).unwrap_or(i64::MAX);
    Timebase::new(a.timescale).map_or(v, |tb| tb.rescale(v, Timebase::MS))
}

/// The faults of `new` as a reload of `old`.
pub fn faults(old: &Abst, new: &Abst) -> Vec<Fault> {
    let mut out = Vec::new();
    if !old.live && new.live {
        out.push((
            true,
            "the bootstrap's Live flag went from 0 to 1 on reload (Bootstrap Info box: a \
             presentation that is not live is complete)"
                .to_string(),
        ));
    }
    if old.profile != new.profile {
        out.push((
            true,
            format!(
                "the bootstrap's Profile changed from {} to {} on reload (Bootstrap Info box)",
                old.profile, new.profile
            ),
        ));
    }
    if new.info_version < old.info_version {
        out.push((
            true,
            format!(
                "BootstrapinfoVersion went back from {} to {} on reload (Bootstrap Info box: a \
                 player keeps the newer version and ignores this one)",
                old.info_version, new.info_version
            ),
        ));
    }
    let (a, b) = (current_ms(old), current_ms(new));
    if b < a {
        out.push((
            true,
            format!(
                "CurrentMediaTime went back from {a} ms to {b} ms on reload (Bootstrap Info box: \
                 the newest media time of a live presentation only grows)"
            ),
        ));
    }
    if old.timescale != new.timescale {
        out.push((
            true,
            format!(
                "the bootstrap's TimeScale changed from {} to {} on reload (Bootstrap Info box)",
                old.timescale, new.timescale
            ),
        ));
    }
    let (ta, tb) = (
        old.fragment_tables.first().map(|t| t.timescale),
        new.fragment_tables.first().map(|t| t.timescale),
    );
    if ta != tb {
        out.push((
            true,
            format!(
                "the fragment run table's TimeScale changed from {} to {} on reload (Fragment \
                 Run Table box)",
                ta.unwrap_or(0),
                tb.unwrap_or(0)
            ),
        ));
        return out;
    }
    fragments(&listing(old), &listing(new), &mut out);
    out
}

/// The fragment run tables' listings across the update.
fn fragments(old: &[Listed], new: &[Listed], out: &mut Vec<Fault>) {
    let (Some(a0), Some(b0), Some(a1), Some(b1)) =
        (old.first(), new.first(), old.last(), new.last())
    else {
        return;
    };
    if b0.fragment < a0.fragment {
        out.push((
            true,
            format!(
                "the fragment run table's first fragment went back from {} to {} on reload \
                 (Fragment Run Table box: fragments leave a live window from the front)",
                a0.fragment, b0.fragment
            ),
        ));
    }
    if b1.fragment < a1.fragment {
        out.push((
            true,
            format!(
                "fragment numbering went back: the newest fragment was {}, now {} (Fragment Run \
                 Table box: a live window only adds fragments)",
                a1.fragment, b1.fragment
            ),
        ));
    }
    // A fragment listed in both keeps its timestamp and duration; one report names it.
    for f in old {
        let Ok(i) = new.binary_search_by_key(&f.fragment, |g| g.fragment) else {
            continue;
        };
        let g = &new[i];
        if f.start != g.start || f.duration != g.duration {
            out.push((
                true,
                format!(
                    "fragment {} changed on reload (timestamp {} duration {} became timestamp \
                     {} duration {}; Fragment Run Table box: a listed fragment stays as it was)",
                    f.fragment, f.start, f.duration, g.start, g.duration
                ),
            ));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::hds::bootstrap::{bootstrap, Window};
    use crate::package::Segment;

    /// A live bootstrap (version 1) listing 2 s fragments `first..=last` (fragment `n` is
    /// segment `n - 1`, starting at `(n - 1) * 2000` ms).
    fn live(first: u64, last: u64) -> Abst {
        let segs: Vec<Segment> = (first - 1..last)
            .map(|n| Segment {
                number: n,
                start_ms: n as i64 * 2000,
                end_ms: n as i64 * 2000 + 2000,
                discontinuities: 0,
            })
            .collect();
        bootstrap(
            &Window {
                segments: &segs,
                live: true,
                ended: false,
                version: 1,
            },
            "m",
        )
    }

    /// The one fault of `new` after `old`, which must be an error.
    fn one(old: &Abst, new: &Abst) -> String {
        let f = faults(old, new);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].0, "{f:?}");
        f[0].1.clone()
    }

    #[test]
    fn a_window_that_slides_on_is_no_fault() {
        // Oracle: the rules above by hand: fragments 1-2 leave, 6-7 come, the time grows
        // from 10 s to 14 s, the version rises.
        let a = live(1, 5);
        let mut b = live(3, 7);
        b.info_version = 2;
        assert_eq!(a.current_media_time, 10_000);
        assert_eq!(b.current_media_time, 14_000);
        assert_eq!(faults(&a, &b), []);
        assert_eq!(faults(&a, &a), []);
        // The presentation ends: Live drops, nothing else changes. Not a fault.
        let mut end = live(3, 7);
        end.live = false;
        end.info_version = 3;
        assert_eq!(faults(&b, &end), []);
    }

    #[test]
    fn current_media_time_going_back_is_named() {
        let a = live(1, 5);
        let mut b = live(1, 5);
        b.current_media_time = 9_000;
        // The last fragment (9) starts at 8 s, before 9 s: still listed, nothing else moves.
        assert!(one(&a, &b).starts_with("CurrentMediaTime went back from 10000 ms to 9000 ms"));
    }

    #[test]
    fn flags_that_flip_are_named() {
        let a = live(1, 5);
        let mut b = live(1, 5);
        b.profile = 1;
        assert!(one(&a, &b).contains("Profile changed from 0 to 1"));
        let mut b = live(1, 5);
        b.info_version = 0;
        assert!(one(&a, &b).contains("BootstrapinfoVersion went back from 1 to 0"));
        let mut rec = live(1, 5);
        rec.live = false;
        assert!(one(&rec, &a).contains("Live flag went from 0 to 1"));
    }

    #[test]
    fn fragments_that_go_back_or_change_are_named() {
        let a = live(3, 7);
        // The window's front went back to fragment 2 (and its end stayed).
        let b = live(2, 7);
        assert!(one(&a, &b).contains("first fragment went back from 3 to 2"));
        // The newest fragment went back from 7 to 6 (CurrentMediaTime with it).
        let b = live(3, 6);
        let f = faults(&a, &b);
        assert!(
            f.iter()
                .any(|(e, m)| *e && m.contains("the newest fragment was 7, now 6")),
            "{f:?}"
        );
        // Fragment 3 announced at 4000 ms for 2000 ms, then moved (with all after it).
        let mut b = live(3, 7);
        b.fragment_tables[0].runs[0].first_timestamp += 500;
        b.current_media_time += 500;
        assert!(one(&a, &b).contains(
            "fragment 3 changed on reload (timestamp 4000 duration 2000 became timestamp 4500"
        ));
    }
}
