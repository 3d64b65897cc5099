//! What may change between two loads of a live media playlist (RFC 8216 §6.2.1–6.2.2): the
//! server only appends segments, removes them from the front while raising
//! `EXT-X-MEDIA-SEQUENCE` by as many, raises `EXT-X-DISCONTINUITY-SEQUENCE` by the
//! discontinuities it removes, and may add `EXT-X-ENDLIST`. Pure: both versions in, findings
//! out, so tests drive it with hand-written playlists.

use crate::package::hls::parse::Media;

/// One fault found between two versions: whether it is an error, and what it is.
pub type Fault = (bool, String);

/// The faults of `new` as a reload of `old`.
pub fn faults(old: &Media, new: &Media) -> Vec<Fault> {
    let mut out = Vec::new();
    if old.endlist && !new.endlist {
        out.push((
            true,
            "EXT-X-ENDLIST went away on reload (RFC 8216 §6.2.1: a server may add it, never remove it)"
                .to_string(),
        ));
    }
    if let (Some(a), Some(b)) = (old.target_duration, new.target_duration) {
        if a != b {
            out.push((
                true,
                format!("EXT-X-TARGETDURATION changed from {a} to {b} on reload (RFC 8216 §6.2.1)"),
            ));
        }
    }
    if new.media_sequence < old.media_sequence {
        out.push((
            true,
            format!(
                "EXT-X-MEDIA-SEQUENCE went back from {} to {} on reload (RFC 8216 §6.2.1)",
                old.media_sequence, new.media_sequence
            ),
        ));
        return out;
    }
    // A number names one segment for as long as the playlist lists it.
    if let Some((n, was, now)) = new.segments.iter().find_map(|s| {
        let o = old.segments.iter().find(|o| o.number == s.number)?;
        (o.uri != s.uri).then(|| (s.number, o.uri.clone(), s.uri.clone()))
    }) {
        out.push((
            true,
            format!(
                "media sequence number {n} named {was} and now names {now} (RFC 8216 §6.2.1: \
                 segments leave from the front and the sequence number rises by as many)"
            ),
        ));
    }
    let old_end = old.media_sequence + old.segments.len() as u64;
    let removed: Vec<_> = old
        .segments
        .iter()
        .filter(|s| s.number < new.media_sequence)
        .collect();
    if new.media_sequence > old_end {
        out.push((
            false,
            format!(
                "{} segments came and went between two reloads (EXT-X-MEDIA-SEQUENCE {} to {}): not seen",
                new.media_sequence - old_end,
                old.media_sequence,
                new.media_sequence
            ),
        ));
    } else {
        let dropped = removed.iter().filter(|s| s.discontinuity).count() as u64;
        let want = old.discontinuity_sequence + dropped;
        if new.discontinuity_sequence != want {
            out.push((
                true,
                format!(
                    "EXT-X-DISCONTINUITY-SEQUENCE is {} after {dropped} discontinuit{} left the \
                     playlist; it must be {want} (RFC 8216 §6.2.2)",
                    new.discontinuity_sequence,
                    if dropped == 1 { "y" } else { "ies" }
                ),
            ));
        }
    }
    if !removed.is_empty() && !new.endlist {
        let total: i64 = new.segments.iter().map(|s| s.duration_ms).sum();
        if let Some(t) = new.target_duration {
            if total < 3 * 1000 * t as i64 {
                out.push((
                    false,
                    format!(
                        "segments were removed while the playlist lasts {:.3} s, under three \
                         target durations (RFC 8216 §6.2.2)",
                        total as f64 / 1000.0
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::hls::parse::{parse, Playlist};

    fn media(text: &str) -> Media {
        match parse(text).0 {
            Some(Playlist::Media(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    fn playlist(seq: u64, disc: u64, segs: &[(&str, bool)], end: bool) -> Media {
        let mut t = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:{seq}\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:{disc}\n"
        );
        for (uri, d) in segs {
            if *d {
                t.push_str("#EXT-X-DISCONTINUITY\n");
            }
            t.push_str(&format!("#EXTINF:2.000,\n{uri}\n"));
        }
        if end {
            t.push_str("#EXT-X-ENDLIST\n");
        }
        media(&t)
    }

    #[test]
    fn a_window_sliding_by_the_rules_has_no_fault() {
        let a = playlist(
            0,
            0,
            &[("a", false), ("b", true), ("c", false), ("d", false)],
            false,
        );
        let b = playlist(
            1,
            0,
            &[("b", true), ("c", false), ("d", false), ("e", false)],
            false,
        );
        let c = playlist(
            2,
            1,
            &[("c", false), ("d", false), ("e", false), ("f", false)],
            true,
        );
        assert_eq!(faults(&a, &b), vec![]);
        assert_eq!(faults(&b, &c), vec![]);
        assert_eq!(faults(&a, &a), vec![]);
    }

    #[test]
    fn each_fault_is_named() {
        let a = playlist(
            5,
            0,
            &[("a", false), ("b", true), ("c", false), ("d", false)],
            false,
        );
        let back = playlist(4, 0, &[("z", false), ("a", false)], false);
        assert!(faults(&a, &back)[0].1.contains("went back from 5 to 4"));
        let renamed = playlist(5, 0, &[("x", false), ("b", true)], false);
        assert!(faults(&a, &renamed)[0]
            .1
            .contains("number 5 named a and now names x"));
        let no_disc = playlist(7, 0, &[("c", false), ("d", false), ("e", false)], false);
        let f = faults(&a, &no_disc);
        assert!(
            f[0].0 && f[0].1.contains("is 0 after 1 discontinuity"),
            "{f:?}"
        );
        let short = playlist(6, 0, &[("b", true), ("c", false)], false);
        let f = faults(&a, &short);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(!f[0].0 && f[0].1.contains("under three target durations"));
        let ended = playlist(5, 0, &[("a", false)], true);
        assert!(faults(&ended, &a)[0].1.contains("EXT-X-ENDLIST went away"));
        let skipped = playlist(20, 3, &[("q", false)], false);
        let f = faults(&a, &skipped);
        assert!(
            f.iter()
                .any(|(e, m)| !e && m.contains("11 segments came and went")),
            "{f:?}"
        );
    }
}
