//! What may change between two loads of a dynamic MPD (ISO/IEC 23009-1 §5.4, MPD updates):
//! `availabilityStartTime` and a Period's `start` stay; a Period keeps its `id`; a segment
//! once announced keeps its time, duration and URL for as long as it is listed; segments leave
//! only from the front (the time-shift buffer), so the timeline's start never goes back; a
//! dynamic MPD may become static (the end), never the other way. Pure: both versions in,
//! findings out, so tests drive it with hand-written MPDs.

use crate::package::dash::parse::{Mpd, Representation};

/// One fault found between two versions: whether it is an error, and what it is.
pub type Fault = (bool, String);

/// The faults of `new` as an update of `old`.
pub fn faults(old: &Mpd, new: &Mpd) -> Vec<Fault> {
    let mut out = Vec::new();
    if !old.dynamic && new.dynamic {
        out.push((
            true,
            "MPD@type went from static to dynamic on reload (§5.4: a static MPD is final)".into(),
        ));
    }
    if old.availability_start != new.availability_start {
        out.push((
            true,
            format!(
                "availabilityStartTime changed from {} to {} on reload (§5.4: it stays, or every \
                 segment's availability moves)",
                old.availability_start.as_deref().unwrap_or("(none)"),
                new.availability_start.as_deref().unwrap_or("(none)")
            ),
        ));
    }
    for p in &old.periods {
        let Some(id) = &p.id else { continue };
        let Some(q) = new.periods.iter().find(|q| q.id.as_ref() == Some(id)) else {
            continue;
        };
        if p.start_ms != q.start_ms {
            out.push((
                true,
                format!(
                    "Period {id}: start changed from {} to {} on reload (§5.4)",
                    ms(p.start_ms),
                    ms(q.start_ms)
                ),
            ));
        }
        for r in p.sets.iter().flat_map(|s| &s.reps) {
            match q.sets.iter().flat_map(|s| &s.reps).find(|x| x.id == r.id) {
                Some(x) => representation(id, r, x, &mut out),
                None => out.push((
                    false,
                    format!("Period {id}: representation {} went away on reload", r.id),
                )),
            }
        }
    }
    out
}

fn ms(v: Option<i64>) -> String {
    v.map_or_else(|| "(none)".into(), |v| format!("{v} ms"))
}

/// One representation's segments across the update.
fn representation(period: &str, old: &Representation, new: &Representation, out: &mut Vec<Fault>) {
    let what = format!("Period {period} representation {}", old.id);
    if let (Some(a), Some(b)) = (old.segments.first(), new.segments.first()) {
        if b.t < a.t {
            out.push((
                true,
                format!(
                    "{what}: the timeline's first segment went back from t={} to t={} on reload \
                     (§5.4: segments leave only from the front)",
                    a.t, b.t
                ),
            ));
            return;
        }
    }
    if old.timescale != new.timescale {
        out.push((
            true,
            format!(
                "{what}: timescale changed from {} to {} on reload (§5.4)",
                old.timescale, new.timescale
            ),
        ));
        return;
    }
    // Segments listed in both, matched by their start time: the same duration and URL. One
    // report per representation is enough to name the fault.
    for a in &old.segments {
        let Ok(i) = new.segments.binary_search_by_key(&a.t, |s| s.t) else {
            continue;
        };
        let b = &new.segments[i];
        if a.d != b.d || a.url != b.url {
            out.push((
                true,
                format!(
                    "{what}: the segment at t={} changed on reload (d={} {} became d={} {}; §5.4: \
                     an announced segment stays as it was)",
                    a.t, a.d, a.url, b.d, b.url
                ),
            ));
            return;
        }
    }
    // A time the old timeline covered, inside the new one's span, that no segment starts at
    // any more while a new segment overlaps it: the timeline was rewritten.
    if let (Some(first), Some(last)) = (new.segments.first(), old.segments.last()) {
        let gone = old
            .segments
            .iter()
            .filter(|a| a.t >= first.t && a.t <= last.t)
            .find(|a| new.segments.binary_search_by_key(&a.t, |s| s.t).is_err());
        if let Some(a) = gone {
            out.push((
                true,
                format!(
                    "{what}: the segment at t={} is no longer listed though later ones are \
                     (§5.4: segments leave only from the front)",
                    a.t
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::dash::parse::parse;

    /// A dynamic MPD with one video representation on a `SegmentTimeline` of `s` (`t`, `d`,
    /// `r`) and the given availabilityStartTime.
    fn mpd(ast: &str, s: &[(u64, u64, u32)]) -> Mpd {
        let timeline: String = s
            .iter()
            .map(|(t, d, r)| format!(r#"<S t="{t}" d="{d}" r="{r}"/>"#))
            .collect();
        let text = format!(
            r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" profiles="urn:mpeg:dash:profile:isoff-live:2011" availabilityStartTime="{ast}" publishTime="{ast}" minimumUpdatePeriod="PT2S" minBufferTime="PT2S">
 <Period id="p0" start="PT0S">
  <AdaptationSet contentType="video" mimeType="video/mp4" startWithSAP="1">
   <SegmentTemplate timescale="1000" initialization="v/init.mp4" media="v/$Time$.m4s">
    <SegmentTimeline>{timeline}</SegmentTimeline>
   </SegmentTemplate>
   <Representation id="v" bandwidth="800000" codecs="avc1.64001f"/>
  </AdaptationSet>
 </Period>
</MPD>"#
        );
        parse(&text).0.expect("an MPD")
    }

    const AST: &str = "2026-12-07T10:00:00Z";

    #[test]
    fn a_window_that_slides_on_is_no_fault() {
        // Oracle: §5.4 by hand: the first two segments leave, three are added.
        let a = mpd(AST, &[(0, 2000, 4)]);
        let b = mpd(AST, &[(4000, 2000, 5)]);
        assert_eq!(faults(&a, &b), []);
    }

    #[test]
    fn each_rewrite_is_named() {
        let a = mpd(AST, &[(0, 2000, 4)]);
        let one = |b: &Mpd| {
            let f = faults(&a, b);
            assert_eq!(f.len(), 1, "{f:?}");
            assert!(f[0].0, "{f:?}");
            f[0].1.clone()
        };
        assert!(one(&mpd("2026-12-07T10:00:05Z", &[(0, 2000, 4)]))
            .starts_with("availabilityStartTime changed"));
        // The segment at 4000 became 1500 long, and the ones after moved.
        assert!(
            one(&mpd(AST, &[(0, 2000, 1), (4000, 1500, 0), (5500, 2000, 2)]))
                .contains("the segment at t=4000 changed")
        );
        // 6000 is missing between 4000 and 8000 (8000 keeps its own duration).
        assert!(one(&mpd(AST, &[(2000, 2000, 1), (8000, 2000, 1)]))
            .contains("the segment at t=6000 is no longer listed"));
    }

    #[test]
    fn the_timeline_start_going_back_is_named() {
        let a = mpd(AST, &[(4000, 2000, 4)]);
        let b = mpd(AST, &[(2000, 2000, 5)]);
        let f = faults(&a, &b);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].1.contains("went back from t=4000 to t=2000"), "{f:?}");
    }
}
