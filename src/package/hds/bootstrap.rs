//! The bootstrap of a window of segments: what `ID.abst` holds, what F4M carries inline for
//! files, and what live fragments carry.
//!
//! - `asrt`: segment 1 holds every fragment: for files, exactly as many as there are
//!   (fragments 1..=N); for live streams 2^32 − 1, as MistServer writes it, since the window
//!   slides and the numbers keep counting.
//! - `afrt` in ms: runs of fragments of equal duration. A publisher session change between
//!   two segments adds a discontinuity entry (duration 0, indicator 2: the timestamps jump)
//!   before the run that follows it; a presentation that is over ends with the end entry
//!   (all zero, indicator 0).
//! - `CurrentMediaTime`: where the newest fragment ends (ms).

use crate::dtsc::Timebase;
use crate::package::Segment;

use super::boxes::{Abst, Afrt, Asrt, FragmentRun, SegmentRun, END_OF_PRESENTATION, TIMESTAMPS};
use super::{fragment_number, TIMESCALE};

/// What a bootstrap describes.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    /// The fragments it lists (consecutive numbers, oldest first).
    pub segments: &'a [Segment],
    /// A live stream.
    pub live: bool,
    /// No fragment will follow (a file, or a live stream that ended).
    pub ended: bool,
    /// `BootstrapinfoVersion`.
    pub version: u32,
}

/// The fragment run entries of `segments`.
pub fn fragment_runs(segments: &[Segment], ended: bool) -> Vec<FragmentRun> {
    let mut runs: Vec<FragmentRun> = Vec::new();
    let mut prev: Option<&Segment> = None;
    // The run being extended: its first segment and how many it holds.
    let mut open: Option<(usize, u32)> = None;
    for s in segments {
        let duration = u32::try_from(s.duration_ms().max(1)).unwrap_or(u32::MAX);
        let start = u64::try_from(s.start_ms.max(0)).unwrap_or(0);
        let disc = prev.is_some_and(|p| s.discontinuities > p.discontinuities);
        let contiguous = prev.is_some_and(|p| p.end_ms == s.start_ms);
        let extend = match open {
            Some((i, n)) => {
                !disc
                    && contiguous
                    && runs[i].duration == duration
                    && runs[i].first_fragment.checked_add(n) == Some(fragment_number(s.number))
            }
            None => false,
        };
        if extend {
            if let Some((_, n)) = &mut open {
                *n += 1;
            }
        } else {
            if disc {
                runs.push(FragmentRun {
                    first_fragment: fragment_number(s.number),
                    first_timestamp: start,
                    duration: 0,
                    discontinuity: Some(TIMESTAMPS),
                });
            }
            runs.push(FragmentRun {
                first_fragment: fragment_number(s.number),
                first_timestamp: start,
                duration,
                discontinuity: None,
            });
            open = Some((runs.len() - 1, 1));
        }
        prev = Some(s);
    }
    if ended && !segments.is_empty() {
        runs.push(FragmentRun {
            first_fragment: 0,
            first_timestamp: 0,
            duration: 0,
            discontinuity: Some(END_OF_PRESENTATION),
        });
    }
    runs
}

/// The bootstrap of `w` for the movie called `movie`.
pub fn bootstrap(w: &Window, movie: &str) -> Abst {
    let fragments = if w.live {
        u32::MAX
    } else {
        w.segments.last().map_or(0, |s| fragment_number(s.number))
    };
    let current = w
        .segments
        .last()
        .map_or(0, |s| u64::try_from(s.end_ms.max(0)).unwrap_or(0));
    Abst {
        info_version: w.version,
        profile: 0,
        live: w.live,
        update: false,
        timescale: TIMESCALE,
        current_media_time: current,
        smpte_offset: 0,
        movie_identifier: movie.to_string(),
        servers: Vec::new(),
        qualities: Vec::new(),
        drm_data: String::new(),
        metadata: String::new(),
        segment_tables: vec![Asrt {
            update: false,
            qualities: Vec::new(),
            runs: vec![SegmentRun {
                first_segment: 1,
                fragments_per_segment: fragments,
            }],
        }],
        fragment_tables: vec![Afrt {
            update: false,
            timescale: TIMESCALE,
            qualities: Vec::new(),
            runs: fragment_runs(w.segments, w.ended),
        }],
    }
}

/// One fragment as a fragment run table lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Fragment number.
    pub fragment: u32,
    /// Start (table timescale).
    pub start: u64,
    /// Duration (table timescale).
    pub duration: u32,
    /// A discontinuity entry comes before it.
    pub after_discontinuity: bool,
}

/// Most fragments [`listed`] expands a table into.
pub const MAX_LISTED: usize = 1 << 20;

/// The fragments an `afrt` lists, each run expanded up to where the next run starts; the
/// last one up to `last_fragment` (the last fragment the segment run table counts) and,
/// when given, to fragments starting before `until` (the bootstrap's `CurrentMediaTime`, in
/// the table's timescale: a live table's last run goes on to the newest fragment).
pub fn listed(afrt: &Afrt, last_fragment: u32, until: Option<u64>) -> Vec<Listed> {
    let mut out = Vec::new();
    let mut disc = false;
    let runs = &afrt.runs;
    for (i, r) in runs.iter().enumerate() {
        if r.duration == 0 {
            if r.discontinuity != Some(END_OF_PRESENTATION) {
                disc = true;
            }
            continue;
        }
        let next = runs[i + 1..]
            .iter()
            .find(|n| n.duration != 0 || n.first_fragment != 0)
            .map(|n| n.first_fragment);
        let end = next.unwrap_or(last_fragment.saturating_add(1));
        let mut f = r.first_fragment;
        let mut t = r.first_timestamp;
        let last_run = next.is_none();
        while f < end && out.len() < MAX_LISTED {
            if last_run && f > r.first_fragment && until.is_some_and(|u| t >= u) {
                break;
            }
            out.push(Listed {
                fragment: f,
                start: t,
                duration: r.duration,
                after_discontinuity: disc && f == r.first_fragment,
            });
            f += 1;
            t += u64::from(r.duration);
        }
        disc = false;
    }
    out
}

/// The fragments `abst` lists, from its first segment and fragment run tables: for a
/// finite segment up to its last fragment; for a live one (2^32 − 1 fragments) the last run
/// goes on to the fragments that start before `CurrentMediaTime`. Empty when either table
/// is missing or the fragment table's timescale is 0.
pub fn listing(abst: &Abst) -> Vec<Listed> {
    let (Some(asrt), Some(afrt)) = (abst.segment_tables.first(), abst.fragment_tables.first())
    else {
        return Vec::new();
    };
    if afrt.timescale == 0 {
        return Vec::new();
    }
    let per_segment = asrt.runs.first().map_or(0, |r| r.fragments_per_segment);
    // CurrentMediaTime is in the bootstrap's timescale, the runs in the table's.
    let until = (per_segment == u32::MAX).then(|| {
        let v = i64::try_from(abst.current_media_time).unwrap_or(i64::MAX);
        match (Timebase::new(abst.timescale), Timebase::new(afrt.timescale)) {
            (Some(a), Some(f)) => u64::try_from(a.rescale(v, f)).unwrap_or(0),
            _ => abst.current_media_time,
        }
    });
    listed(afrt, per_segment, until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(number: u64, a: i64, b: i64, d: u64) -> Segment {
        Segment {
            number,
            start_ms: a,
            end_ms: b,
            discontinuities: d,
        }
    }

    #[test]
    fn runs_group_equal_durations_and_mark_discontinuities() {
        // Three 2 s fragments, a 1.5 s one, then a publisher reconnect and a 2 s one.
        let segs = [
            seg(4, 8000, 10000, 0),
            seg(5, 10000, 12000, 0),
            seg(6, 12000, 14000, 0),
            seg(7, 14000, 15500, 0),
            seg(8, 15500, 17500, 1),
        ];
        let runs = fragment_runs(&segs, false);
        let r = |f, t, d, x| FragmentRun {
            first_fragment: f,
            first_timestamp: t,
            duration: d,
            discontinuity: x,
        };
        assert_eq!(
            runs,
            vec![
                r(5, 8000, 2000, None),
                r(8, 14000, 1500, None),
                r(9, 15500, 0, Some(TIMESTAMPS)),
                r(9, 15500, 2000, None),
            ]
        );
        // Expanded back, every fragment with its time.
        let afrt = Afrt {
            timescale: 1000,
            runs: runs.clone(),
            ..Afrt::default()
        };
        let l = listed(&afrt, 9, None);
        // Bounded by time instead: the last run ends where the current media time is.
        assert_eq!(listed(&afrt, u32::MAX, Some(17_500)), l);
        assert_eq!(
            l.iter().map(|x| (x.fragment, x.start)).collect::<Vec<_>>(),
            vec![(5, 8000), (6, 10000), (7, 12000), (8, 14000), (9, 15500)]
        );
        assert!(l[4].after_discontinuity && !l[3].after_discontinuity);
        // A file's table ends with the end entry, and says how many fragments it has.
        let b = bootstrap(
            &Window {
                segments: &segs[..2],
                live: false,
                ended: true,
                version: 1,
            },
            "m",
        );
        assert_eq!(
            b.fragment_tables[0].runs.last(),
            Some(&r(0, 0, 0, Some(END_OF_PRESENTATION)))
        );
        assert_eq!(b.segment_tables[0].runs[0].fragments_per_segment, 6);
        assert_eq!(b.current_media_time, 12000);
        assert!(!b.live);
        assert_eq!(listed(&b.fragment_tables[0], 6, None).len(), 2);
        let live = bootstrap(
            &Window {
                segments: &segs,
                live: true,
                ended: false,
                version: 3,
            },
            "m",
        );
        assert_eq!(
            live.segment_tables[0].runs[0].fragments_per_segment,
            u32::MAX
        );
        assert!(live.live);
    }
}
