//! Writing MPDs (ISO/IEC 23009-1 §5.3): one period, one adaptation set per kind of media (and
//! per language for audio), one representation per CMAF rendition, each with a
//! `SegmentTemplate` + `SegmentTimeline` in ms. Times are printed from integer milliseconds,
//! never through floats.

use std::fmt::Write as _;

use crate::dtsc::{Meta, TrackKind};

use super::super::hls::playlist::date_time;
use super::super::segment::Segment;
use super::super::variant::{codec_string, resolution, Variant};

/// The template's timescale: ms (see the module documentation of [`super`]).
pub const TIMESCALE: u32 = 1000;
/// `media` of the segment template (MistServer's names).
pub const MEDIA_TEMPLATE: &str = "$RepresentationID$/chunk_$Time$.m4s";
/// `initialization` of the segment template.
pub const INIT_TEMPLATE: &str = "$RepresentationID$/init.m4s";
/// The profile: ISO base media file format live profile (§8.4), which on-demand files also
/// fit (segments addressed by a template, each starting with a SAP).
pub const PROFILE: &str = "urn:mpeg:dash:profile:isoff-live:2011";

/// One representation: a rendition with its timeline and rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Representation {
    /// The rendition (its name is the representation's `id`).
    pub variant: Variant,
    /// `bandwidth`, bits per second.
    pub bandwidth: u64,
    /// Frame rate in frames per 1000 s (video), when known.
    pub fpks: Option<u32>,
    /// Its segments, in order.
    pub segments: Vec<Segment>,
}

/// Whether the MPD is of a file or of a live stream, with what each needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// A file: `type="static"`.
    Static,
    /// A live stream: `type="dynamic"`.
    Dynamic(Live),
}

/// What a live MPD says about time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    /// Wall clock (unix ms) of stream time 0: `availabilityStartTime`.
    pub availability_start_ms: i64,
    /// Wall clock (unix ms) when this version of the MPD was made: `publishTime`.
    pub publish_ms: i64,
    /// `minimumUpdatePeriod`, ms.
    pub update_ms: i64,
    /// `timeShiftBufferDepth` (the DVR window), ms.
    pub time_shift_ms: i64,
    /// `suggestedPresentationDelay`, ms.
    pub delay_ms: i64,
}

/// `ms` as an `xs:duration` (`PT2.016S`, `PT1M0.500S`, `PT1H0M0.000S`, `PT0S`).
pub fn duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    if a == 0 {
        return "PT0S".into();
    }
    let (h, rest) = (a / 3_600_000, a % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let mut s = format!("{sign}PT");
    if h > 0 {
        let _ = write!(s, "{h}H");
    }
    if h > 0 || m > 0 {
        let _ = write!(s, "{m}M");
    }
    let _ = write!(s, "{}.{:03}S", rest / 1000, rest % 1000);
    s
}

/// Frames per 1000 s as a `FrameRateType` (`25`, `2997/100`).
pub fn frame_rate(fpks: u32) -> String {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = gcd(fpks, 1000).max(1);
    let (n, d) = (fpks / g, 1000 / g);
    if d == 1 {
        n.to_string()
    } else {
        format!("{n}/{d}")
    }
}

/// Text made safe for an XML attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// A `SegmentTimeline` of `segments` (ms): `t` on the first `S` and wherever the timeline
/// does not follow on (a gap after a publisher reconnect), `r` for runs of equal durations.
pub fn timeline(segments: &[Segment], indent: &str) -> String {
    let mut out = format!("{indent}<SegmentTimeline>\n");
    let mut i = 0;
    let mut expected: Option<i64> = None;
    while i < segments.len() {
        let s = &segments[i];
        let d = s.duration_ms();
        let mut r = 0;
        while let Some(n) = segments.get(i + 1 + r) {
            let prev = &segments[i + r];
            if n.duration_ms() == d && n.start_ms == prev.end_ms {
                r += 1;
            } else {
                break;
            }
        }
        let _ = write!(out, "{indent}  <S ");
        if expected != Some(s.start_ms) {
            let _ = write!(out, "t=\"{}\" ", s.start_ms);
        }
        let _ = write!(out, "d=\"{d}\"");
        if r > 0 {
            let _ = write!(out, " r=\"{r}\"");
        }
        out.push_str("/>\n");
        expected = Some(segments[i + r].end_ms);
        i += r + 1;
    }
    let _ = writeln!(out, "{indent}</SegmentTimeline>");
    out
}

/// The segment template of a timeline.
fn template(segments: &[Segment], pto: i64, indent: &str) -> String {
    let mut out = format!("{indent}<SegmentTemplate timescale=\"{TIMESCALE}\"");
    if pto != 0 {
        let _ = write!(out, " presentationTimeOffset=\"{pto}\"");
    }
    let _ = writeln!(
        out,
        " initialization=\"{INIT_TEMPLATE}\" media=\"{MEDIA_TEMPLATE}\">"
    );
    out.push_str(&timeline(segments, &format!("{indent}  ")));
    let _ = writeln!(out, "{indent}</SegmentTemplate>");
    out
}

/// An adaptation set: representations of one kind (and, for audio, one language).
struct Set<'r> {
    kind: TrackKind,
    lang: Option<String>,
    reps: Vec<&'r Representation>,
}

/// The MPD of `reps` (renditions of `meta`'s tracks). `now_ms` (unix ms) fills the `direct`
/// `UTCTiming` of a live MPD, so players share the server's clock.
pub fn mpd(meta: &Meta, reps: &[Representation], timing: Timing) -> String {
    let kind_of = |r: &Representation| {
        r.variant
            .tracks
            .first()
            .and_then(|id| meta.track(*id))
            .map(|t| (t.kind, t.lang.clone()))
    };
    let mut sets: Vec<Set> = Vec::new();
    for kind in [TrackKind::Video, TrackKind::Audio] {
        for r in reps {
            let Some((k, lang)) = kind_of(r) else {
                continue;
            };
            if k != kind {
                continue;
            }
            let lang = if kind == TrackKind::Audio { lang } else { None };
            match sets.iter_mut().find(|s| s.kind == kind && s.lang == lang) {
                Some(s) => s.reps.push(r),
                None => sets.push(Set {
                    kind,
                    lang,
                    reps: vec![r],
                }),
            }
        }
    }
    let all: Vec<&Segment> = reps.iter().flat_map(|r| r.segments.iter()).collect();
    let first = all.iter().map(|s| s.start_ms).min().unwrap_or(0);
    let last = all.iter().map(|s| s.end_ms).max().unwrap_or(first);
    let longest = all
        .iter()
        .map(|s| s.duration_ms())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"{PROFILE}\" "
    );
    match timing {
        Timing::Static => {
            let _ = writeln!(
                out,
                "type=\"static\" mediaPresentationDuration=\"{}\" minBufferTime=\"{}\">",
                duration(last - first),
                duration(longest)
            );
        }
        Timing::Dynamic(l) => {
            let _ = writeln!(
                out,
                "type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\" \
                 minimumUpdatePeriod=\"{}\" timeShiftBufferDepth=\"{}\" \
                 suggestedPresentationDelay=\"{}\" maxSegmentDuration=\"{}\" minBufferTime=\"{}\">",
                date_time(l.availability_start_ms),
                date_time(l.publish_ms),
                duration(l.update_ms),
                duration(l.time_shift_ms),
                duration(l.delay_ms),
                duration(longest),
                duration(longest)
            );
        }
    }
    // A file's presentation starts at its first segment; a live one at stream time 0, the
    // instant `availabilityStartTime` names.
    let pto = match timing {
        Timing::Static => first,
        Timing::Dynamic(_) => 0,
    };
    out.push_str("  <Period id=\"0\" start=\"PT0S\">\n");
    for (n, set) in sets.iter().enumerate() {
        let (content, mime) = match set.kind {
            TrackKind::Video => ("video", "video/mp4"),
            _ => ("audio", "audio/mp4"),
        };
        let _ = write!(
            out,
            "    <AdaptationSet id=\"{n}\" contentType=\"{content}\" mimeType=\"{mime}\" \
             segmentAlignment=\"true\" startWithSAP=\"1\""
        );
        if let Some(l) = &set.lang {
            let _ = write!(out, " lang=\"{}\"", escape(l));
        }
        out.push_str(">\n");
        // One template for the set when its representations share a timeline.
        let shared = set.reps.windows(2).all(|w| w[0].segments == w[1].segments);
        if shared {
            if let Some(r) = set.reps.first() {
                out.push_str(&template(&r.segments, pto, "      "));
            }
        }
        for r in &set.reps {
            let Some(t) = r.variant.tracks.first().and_then(|id| meta.track(*id)) else {
                continue;
            };
            let _ = write!(
                out,
                "      <Representation id=\"{}\" bandwidth=\"{}\"",
                escape(&r.variant.name),
                r.bandwidth.max(1)
            );
            if let Some(c) = codec_string(t) {
                let _ = write!(out, " codecs=\"{}\"", escape(&c));
            }
            match t.kind {
                TrackKind::Video => {
                    if let Some((w, h)) = resolution(t) {
                        let _ = write!(out, " width=\"{w}\" height=\"{h}\"");
                    }
                    if let Some(f) = r.fpks.filter(|f| *f > 0) {
                        let _ = write!(out, " frameRate=\"{}\"", frame_rate(f));
                    }
                }
                _ => {
                    if let Some(rate) = t.audio().map(|a| a.rate).filter(|r| *r > 0) {
                        let _ = write!(out, " audioSamplingRate=\"{rate}\"");
                    }
                }
            }
            let channels = t.audio().map(|a| a.channels).filter(|c| *c > 0);
            if shared && channels.is_none() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            if let Some(ch) = channels {
                let _ = writeln!(
                    out,
                    "        <AudioChannelConfiguration \
                     schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" \
                     value=\"{ch}\"/>"
                );
            }
            if !shared {
                out.push_str(&template(&r.segments, pto, "        "));
            }
            out.push_str("      </Representation>\n");
        }
        out.push_str("    </AdaptationSet>\n");
    }
    out.push_str("  </Period>\n");
    if let Timing::Dynamic(_) = timing {
        out.push_str(UTC_TIMING_PLACEHOLDER);
    }
    out.push_str("</MPD>\n");
    out
}

/// Where a live MPD's `UTCTiming` goes; [`with_time`] puts the time of each answer in, so the
/// rest of the text can be kept while the window does not change.
pub const UTC_TIMING_PLACEHOLDER: &str = "  <!--UTCTiming-->\n";

/// `text` (an MPD from [`mpd`]) with a `direct` `UTCTiming` saying it is `now_ms` (unix ms).
pub fn with_time(text: &str, now_ms: i64) -> String {
    text.replacen(
        UTC_TIMING_PLACEHOLDER,
        &format!(
            "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"{}\"/>\n",
            date_time(now_ms)
        ),
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Audio, Codec, Params, Timebase, Track, TrackId, Video};
    use bytes::Bytes;

    fn seg(number: u64, a: i64, b: i64) -> Segment {
        Segment {
            number,
            start_ms: a,
            end_ms: b,
            discontinuities: 0,
        }
    }

    #[test]
    fn durations_as_xs_duration() {
        assert_eq!(duration(0), "PT0S");
        assert_eq!(duration(2016), "PT2.016S");
        assert_eq!(duration(60_500), "PT1M0.500S");
        assert_eq!(duration(3_723_004), "PT1H2M3.004S");
        assert_eq!(duration(3_600_000), "PT1H0M0.000S");
        assert_eq!(frame_rate(25_000), "25");
        assert_eq!(frame_rate(29_970), "2997/100");
        assert_eq!(frame_rate(23_976), "2997/125");
        assert_eq!(escape("a<b&\"c\""), "a&lt;b&amp;&quot;c&quot;");
    }

    #[test]
    fn timeline_runs_and_gaps_as_23009_1_table_20_reads_them() {
        // §5.3.9.6: S@t is the start, S@d the duration, S@r the number of repeats after the
        // first; t may be left out where the segment follows on from the one before.
        // 0-2000, 2000-4000, 4000-6000 (a run of 3: r=2), 6000-7500, then a publisher gap to
        // 9000-11000 (t again).
        let segs = vec![
            seg(0, 0, 2000),
            seg(1, 2000, 4000),
            seg(2, 4000, 6000),
            seg(3, 6000, 7500),
            seg(4, 9000, 11_000),
        ];
        assert_eq!(
            timeline(&segs, ""),
            "<SegmentTimeline>\n  <S t=\"0\" d=\"2000\" r=\"2\"/>\n  <S d=\"1500\"/>\n  \
             <S t=\"9000\" d=\"2000\"/>\n</SegmentTimeline>\n"
        );
        // A start that is not 0 is written.
        assert_eq!(
            timeline(&segs[4..], ""),
            "<SegmentTimeline>\n  <S t=\"9000\" d=\"2000\"/>\n</SegmentTimeline>\n"
        );
    }

    fn av_meta() -> Meta {
        let mut v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        v.init = Bytes::from_static(&[
            0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f, 0x01, 0x00,
            0x02, 0x68, 0xef,
        ]);
        v.params = Params::Video(Video {
            width: 1280,
            height: 720,
            fpks: 25_000,
        });
        let mut a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS);
        a.init = Bytes::from_static(&[0x11, 0x90]);
        a.params = Params::Audio(Audio {
            rate: 48_000,
            channels: 2,
            sample_bits: 16,
        });
        Meta {
            tracks: vec![v, a],
            ..Meta::default()
        }
    }

    #[test]
    fn static_mpd_of_a_file() {
        // A 5 s file starting at 100 ms: presentationTimeOffset 100 puts it at 0; the audio's
        // last segment ends with the audio at 5110 ms, so the sets keep their own timelines
        // and the duration runs to the latest end (5110 - 100 = 5.010 s).
        let meta = av_meta();
        let video = Representation {
            variant: Variant::of(vec![TrackId(1)]),
            bandwidth: 2_000_000,
            fpks: Some(25_000),
            segments: vec![seg(0, 100, 2100), seg(1, 2100, 4100), seg(2, 4100, 5100)],
        };
        let audio = Representation {
            variant: Variant::of(vec![TrackId(2)]),
            bandwidth: 130_000,
            fpks: None,
            segments: vec![seg(0, 100, 2100), seg(1, 2100, 4100), seg(2, 4100, 5110)],
        };
        let got = mpd(&meta, &[video, audio], Timing::Static);
        let want = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" \
type=\"static\" mediaPresentationDuration=\"PT5.010S\" minBufferTime=\"PT2.000S\">\n  \
<Period id=\"0\" start=\"PT0S\">\n    \
<AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">\n      \
<SegmentTemplate timescale=\"1000\" presentationTimeOffset=\"100\" initialization=\"$RepresentationID$/init.m4s\" media=\"$RepresentationID$/chunk_$Time$.m4s\">\n        \
<SegmentTimeline>\n          <S t=\"100\" d=\"2000\" r=\"1\"/>\n          <S d=\"1000\"/>\n        </SegmentTimeline>\n      \
</SegmentTemplate>\n      \
<Representation id=\"1\" bandwidth=\"2000000\" codecs=\"avc1.64001f\" width=\"1280\" height=\"720\" frameRate=\"25\"/>\n    \
</AdaptationSet>\n    \
<AdaptationSet id=\"1\" contentType=\"audio\" mimeType=\"audio/mp4\" segmentAlignment=\"true\" startWithSAP=\"1\">\n      \
<SegmentTemplate timescale=\"1000\" presentationTimeOffset=\"100\" initialization=\"$RepresentationID$/init.m4s\" media=\"$RepresentationID$/chunk_$Time$.m4s\">\n        \
<SegmentTimeline>\n          <S t=\"100\" d=\"2000\" r=\"1\"/>\n          <S d=\"1010\"/>\n        </SegmentTimeline>\n      \
</SegmentTemplate>\n      \
<Representation id=\"2\" bandwidth=\"130000\" codecs=\"mp4a.40.2\" audioSamplingRate=\"48000\">\n        \
<AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"2\"/>\n      \
</Representation>\n    \
</AdaptationSet>\n  \
</Period>\n\
</MPD>\n";
        assert_eq!(got, want);
    }

    #[test]
    fn dynamic_mpd_of_a_live_window() {
        // availabilityStartTime is stream time 0 on the wall clock; the window starts at
        // segment 7 (14 s), so its first S carries t; no presentationTimeOffset.
        let meta = av_meta();
        let segs = vec![seg(7, 14_000, 16_000), seg(8, 16_000, 18_000)];
        let video = Representation {
            variant: Variant::of(vec![TrackId(1)]),
            bandwidth: 2_000_000,
            fpks: Some(25_000),
            segments: segs,
        };
        let got = mpd(
            &meta,
            &[video],
            Timing::Dynamic(Live {
                availability_start_ms: 1_714_564_800_000,
                publish_ms: 1_714_564_818_250,
                update_ms: 1900,
                time_shift_ms: 50_000,
                delay_ms: 4000,
            }),
        );
        assert!(
            got.contains(
                "type=\"dynamic\" availabilityStartTime=\"2024-05-01T12:00:00.000Z\" \
                 publishTime=\"2024-05-01T12:00:18.250Z\" minimumUpdatePeriod=\"PT1.900S\" \
                 timeShiftBufferDepth=\"PT50.000S\" suggestedPresentationDelay=\"PT4.000S\" \
                 maxSegmentDuration=\"PT2.000S\" minBufferTime=\"PT2.000S\">\n"
            ),
            "{got}"
        );
        assert!(got.contains("<SegmentTemplate timescale=\"1000\" initialization="));
        assert!(got.contains("<S t=\"14000\" d=\"2000\" r=\"1\"/>"), "{got}");
        // The clock goes in per answer.
        let timed = with_time(&got, 1_714_564_819_000);
        assert!(timed.contains(
            "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" \
             value=\"2024-05-01T12:00:19.000Z\"/>\n</MPD>\n"
        ));
        assert!(!timed.contains(UTC_TIMING_PLACEHOLDER));
    }
}
