//! What may change between two loads of a live Smooth Streaming client manifest ([MS-SSTR]
//! 2.2.2): the server appends fragments (`c`, 2.2.2.6 StreamFragmentElement) and drops the
//! oldest as its DVR window (`DVRWindowLength`, 2.2.2.1 SmoothStreamingMedia) slides, so a
//! fragment once listed keeps its `t` and `d` (clients request it by that exact time), the
//! window's start and its newest fragment only move forward; the streams (2.2.2.3
//! StreamElement) and their tracks (2.2.2.5 TrackElement, `QualityLevel`) stay, since a
//! client builds its decoders from them once; `IsLive` may turn off (the end), never on.
//! Pure: both versions in, findings out, so tests drive it with hand-written manifests.

use crate::package::smooth::manifest::{QualityInfo, Ssm, StreamIndexInfo};

/// One fault found between two versions: whether it is an error, and what it is.
pub type Fault = (bool, String);

/// How a stream is named in findings (and matched across versions).
pub fn stream_name(s: &StreamIndexInfo) -> String {
    s.name.clone().unwrap_or_else(|| s.kind.clone())
}

/// The faults of `new` as a reload of `old`.
pub fn faults(old: &Ssm, new: &Ssm) -> Vec<Fault> {
    let mut out = Vec::new();
    if !old.live && new.live {
        out.push((
            true,
            "IsLive went from FALSE to TRUE on reload (MS-SSTR 2.2.2.1: an on-demand \
             presentation is complete)"
                .to_string(),
        ));
    }
    if old.timescale != new.timescale {
        out.push((
            true,
            format!(
                "TimeScale changed from {} to {} on reload (MS-SSTR 2.2.2.1)",
                old.timescale, new.timescale
            ),
        ));
    }
    if old.dvr_window != new.dvr_window {
        out.push((
            false,
            format!(
                "DVRWindowLength changed from {} to {} on reload (MS-SSTR 2.2.2.1)",
                old.dvr_window.unwrap_or(0),
                new.dvr_window.unwrap_or(0)
            ),
        ));
    }
    for s in &old.streams {
        let name = stream_name(s);
        match new
            .streams
            .iter()
            .find(|x| x.kind == s.kind && stream_name(x) == name)
        {
            Some(x) => stream(&name, s, x, &mut out),
            None => out.push((
                true,
                format!(
                    "StreamIndex {name} went away on reload (MS-SSTR 2.2.2.3: a client keeps the \
                     streams of its first manifest)"
                ),
            )),
        }
    }
    for x in &new.streams {
        let name = stream_name(x);
        if !old
            .streams
            .iter()
            .any(|s| s.kind == x.kind && stream_name(s) == name)
        {
            out.push((
                true,
                format!(
                    "StreamIndex {name} appeared on reload (MS-SSTR 2.2.2.3: a client keeps the \
                     streams of its first manifest)"
                ),
            ));
        }
    }
    out
}

/// What identifies a track: its bit rate (part of its fragment URLs), codec and codec data.
fn track_of(q: &QualityInfo) -> (Option<u64>, Option<String>, Option<Vec<u8>>) {
    (q.bitrate, q.fourcc.clone(), q.private.clone())
}

/// One stream across the update.
fn stream(name: &str, old: &StreamIndexInfo, new: &StreamIndexInfo, out: &mut Vec<Fault>) {
    let what = format!("StreamIndex {name}");
    let (a, b): (Vec<_>, Vec<_>) = (
        old.qualities.iter().map(track_of).collect(),
        new.qualities.iter().map(track_of).collect(),
    );
    if a != b {
        let rates = |v: &[(Option<u64>, _, _)]| -> Vec<u64> {
            v.iter().map(|q| q.0.unwrap_or(0)).collect()
        };
        out.push((
            true,
            format!(
                "{what}: its QualityLevels changed on reload (bit rates {:?} became {:?}, or their \
                 FourCC or CodecPrivateData changed; MS-SSTR 2.2.2.5: a client builds its decoders \
                 from them once)",
                rates(&a),
                rates(&b)
            ),
        ));
    }
    if old.timescale != new.timescale {
        out.push((
            true,
            format!(
                "{what}: TimeScale changed from {} to {} on reload (MS-SSTR 2.2.2.3)",
                old.timescale, new.timescale
            ),
        ));
        return;
    }
    let (Some(a0), Some(b0), Some(a1), Some(b1)) = (
        old.chunks.first(),
        new.chunks.first(),
        old.chunks.last(),
        new.chunks.last(),
    ) else {
        return;
    };
    if b0.time < a0.time {
        out.push((
            true,
            format!(
                "{what}: the window's first fragment went back from t={} to t={} on reload \
                 (MS-SSTR 2.2.2.1 DVRWindowLength: the window slides forward)",
                a0.time, b0.time
            ),
        ));
    }
    if b1.time < a1.time {
        out.push((
            true,
            format!(
                "{what}: fragment times went back: the newest was t={}, now t={} (MS-SSTR \
                 2.2.2.6: a live manifest only adds fragments)",
                a1.time, b1.time
            ),
        ));
    }
    // Fragments listed in both, matched by their time, keep their duration; a time the old
    // list had, inside the span both cover, that the new one lacks moved. One report each.
    if let Some(a) = old.chunks.iter().find(|a| {
        new.chunks
            .binary_search_by_key(&a.time, |c| c.time)
            .is_ok_and(|i| new.chunks[i].duration != a.duration)
    }) {
        let d = new
            .chunks
            .iter()
            .find(|c| c.time == a.time)
            .map_or(0, |c| c.duration);
        out.push((
            true,
            format!(
                "{what}: the fragment at t={} changed its d from {} to {} on reload (MS-SSTR \
                 2.2.2.6: a listed fragment stays as it was)",
                a.time, a.duration, d
            ),
        ));
    }
    let gone = old
        .chunks
        .iter()
        .filter(|a| a.time >= b0.time && a.time <= b1.time)
        .find(|a| {
            new.chunks
                .binary_search_by_key(&a.time, |c| c.time)
                .is_err()
        });
    if let Some(a) = gone {
        out.push((
            true,
            format!(
                "{what}: the fragment at t={} is no longer listed though later ones are (its t \
                 changed; MS-SSTR 2.2.2.6: clients request fragments by their exact t)",
                a.time
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::smooth::manifest::parse;

    /// A live manifest (or, `live` false, an on-demand one) with a video stream whose
    /// fragments are `(t, d)` at `bitrate`, and `dvr` as DVRWindowLength.
    fn ssm(live: bool, dvr: u64, bitrate: u64, chunks: &[(u64, u64)]) -> Ssm {
        let c: String = chunks
            .iter()
            .map(|(t, d)| format!("<c t=\"{t}\" d=\"{d}\"/>"))
            .collect();
        let kind = if live {
            format!(
                r#"Duration="0" IsLive="TRUE" LookAheadFragmentCount="2" DVRWindowLength="{dvr}""#
            )
        } else {
            r#"Duration="60000000""#.to_string()
        };
        let text = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<SmoothStreamingMedia MajorVersion="2" MinorVersion="0" TimeScale="10000000" {kind}>
 <StreamIndex Type="video" Name="video" Chunks="{}" QualityLevels="1" Url="QualityLevels({{bitrate}})/Fragments(video={{start time}})">
  <QualityLevel Index="0" Bitrate="{bitrate}" FourCC="H264" MaxWidth="64" MaxHeight="64" CodecPrivateData="000000016764000AACD9"/>
  {c}
 </StreamIndex>
</SmoothStreamingMedia>"#,
            chunks.len()
        );
        let (m, problems) = parse(text.as_bytes());
        assert_eq!(problems, [], "{text}");
        m.expect("a manifest")
    }

    const S: u64 = 20_000_000;

    fn one(old: &Ssm, new: &Ssm) -> String {
        let f = faults(old, new);
        assert_eq!(f.len(), 1, "{f:?}");
        f[0].1.clone()
    }

    #[test]
    fn a_window_that_slides_on_is_no_fault() {
        // Oracle: 2.2.2.6 by hand: the first two 2 s fragments leave, three are added; then
        // the presentation ends (IsLive off, the same fragments).
        let a = ssm(true, 10 * S, 800, &[(0, S), (S, S), (2 * S, S), (3 * S, S)]);
        let b = ssm(
            true,
            10 * S,
            800,
            &[(2 * S, S), (3 * S, S), (4 * S, S), (5 * S, S), (6 * S, S)],
        );
        assert_eq!(faults(&a, &b), []);
        assert_eq!(faults(&a, &a), []);
        let end = ssm(
            false,
            0,
            800,
            &[(2 * S, S), (3 * S, S), (4 * S, S), (5 * S, S), (6 * S, S)],
        );
        // DVRWindowLength is left out on demand: a warning, not an error.
        let f = faults(&b, &end);
        assert!(f.iter().all(|(e, _)| !e), "{f:?}");
    }

    #[test]
    fn a_fragment_that_changes_is_named() {
        let a = ssm(true, 0, 800, &[(0, S), (S, S), (2 * S, S)]);
        // The second fragment first announced 2 s long, then 1.5 s (and the third moved).
        let b = ssm(
            true,
            0,
            800,
            &[(0, S), (S, 3 * S / 4), (7 * S / 4, S), (11 * S / 4, S)],
        );
        let f = faults(&a, &b);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f.iter().all(|(e, _)| *e), "{f:?}");
        assert!(f[0]
            .1
            .contains("the fragment at t=20000000 changed its d from 20000000 to 15000000"));
        assert!(f[1]
            .1
            .contains("the fragment at t=40000000 is no longer listed"));
    }

    #[test]
    fn times_going_back_are_named() {
        let a = ssm(true, 0, 800, &[(2 * S, S), (3 * S, S)]);
        let b = ssm(true, 0, 800, &[(S, S), (2 * S, S), (3 * S, S)]);
        assert!(one(&a, &b).contains("first fragment went back from t=40000000 to t=20000000"));
        let b = ssm(true, 0, 800, &[(2 * S, S)]);
        assert!(one(&a, &b).contains("the newest was t=60000000, now t=40000000"));
    }

    #[test]
    fn tracks_and_flags_that_change_are_named() {
        let a = ssm(true, 0, 800, &[(0, S)]);
        let b = ssm(true, 0, 900, &[(0, S)]);
        assert!(
            one(&a, &b).contains("QualityLevels changed on reload (bit rates [800] became [900]")
        );
        let vod = ssm(false, 0, 800, &[(0, S)]);
        let f = faults(&vod, &a);
        assert!(
            f.iter()
                .any(|(e, m)| *e && m.starts_with("IsLive went from FALSE to TRUE")),
            "{f:?}"
        );
        let b = ssm(true, 5 * S, 800, &[(0, S)]);
        let f = faults(&a, &b);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            !f[0].0
                && f[0]
                    .1
                    .contains("DVRWindowLength changed from 0 to 100000000")
        );
    }
}
