//! Low-latency HLS (draft-pantos-hls-rfc8216bis, §4.4.3.7–8, §4.4.4.9, §4.4.5.3, §6.2.5.2)
//! on the fMP4 variant: each live segment is also offered as partial segments, each one
//! `moof` + `mdat`, named `chunk_START.K.m4s` (MistServer's), so a player can start on a part
//! as soon as it exists instead of waiting for the whole segment.
//!
//! Parts are cut from the variant's own samples: a part closes before the sample that would
//! end past the part target, so no part outlasts `PART-TARGET` (§4.4.3.7: MUST), whatever the
//! steps between samples, and none is empty. A sample's end is the next sample's start (the
//! segment's end for its last), so where a part closes is decided one sample late: a guess of
//! a sample's length from the step before it once let an irregular step (a publisher's loop,
//! a dropped frame) push a part past the target. A segment's first part starts with it, its
//! last ends with it. A part is complete once the next one has started (or its segment is
//! complete). A live fMP4 segment is the concatenation of its
//! parts, so a player mixing parts and segments reads the same bytes, and `mfhd` sequence
//! numbers rise through both.

use std::fmt::Write as _;

use super::hls::playlist::seconds;
use super::segment::Segment;

/// Part target duration, ms (`PART-TARGET`): three parts a second, so `PART-HOLD-BACK` (three
/// parts) is about 1 s and a 1 s GOP plays about a second behind its publisher.
pub const PART_TARGET_MS: i64 = 334;
/// Most parts one segment is cut into (a segment without keys for minutes ends its last part
/// late rather than numbering past this); also the `mfhd` sequence numbers one segment uses.
pub const MAX_PARTS: u32 = 1024;
/// Target durations from the end of the playlist within which segments list their parts
/// (§6.2.2: parts SHOULD be removed once further than three target durations from the end).
pub const PART_LIST_TARGETS: i64 = 3;

/// Where the parts of a segment begin: indices into `times`, the decode times (ms, rising)
/// of the variant's samples in the segment so far, for a segment starting at `start` and, once
/// complete, ending at `end`. The first part begins at the first sample; a sample begins a new
/// part when its end (the next sample's time, or `end` for the last) would be more than
/// `part_ms` past the current part's start. The last sample of a segment still growing is not
/// decided yet. At most [`MAX_PARTS`].
pub fn cut_parts(times: &[i64], start: i64, end: Option<i64>, part_ms: i64) -> Vec<usize> {
    let mut starts = Vec::new();
    let Some(&first) = times.first() else {
        return starts;
    };
    starts.push(0);
    // The first part starts with its segment.
    let mut a = start.min(first);
    for i in 1..times.len() {
        let Some(ends) = times.get(i + 1).copied().or(end) else {
            break;
        };
        if ends.saturating_sub(a) > part_ms && starts.len() < MAX_PARTS as usize {
            starts.push(i);
            a = times[i];
        }
    }
    starts
}

/// File name of part `k` of the segment starting at `start_ms`.
pub fn part_name(start_ms: i64, k: u32) -> String {
    format!("chunk_{start_ms}.{k}.m4s")
}

/// What a part file name says: segment start and part index; `None` for anything that is
/// not exactly a name [`part_name`] writes.
pub fn parse_part_name(name: &str) -> Option<(i64, u32)> {
    let (start, k) = name
        .strip_prefix("chunk_")?
        .strip_suffix(".m4s")?
        .split_once('.')?;
    let plain = |s: &str| {
        let d = s.strip_prefix('-').unwrap_or(s);
        !d.is_empty()
            && d.len() <= 19
            && d.bytes().all(|b| b.is_ascii_digit())
            && !(d.len() > 1 && d.starts_with('0'))
    };
    if !plain(start) || !plain(k) || k.starts_with('-') {
        return None;
    }
    let k: u32 = k.parse().ok()?;
    (k < MAX_PARTS).then_some((start.parse().ok()?, k))
}

/// The `mfhd` sequence number of part `k` of segment `number` (a whole live segment starts
/// with its part 0's): rising through parts and segments, the same for the same media.
pub fn sequence(number: u64, k: u32) -> u32 {
    let n = number
        .wrapping_mul(u64::from(MAX_PARTS))
        .wrapping_add(u64::from(k))
        .wrapping_add(1);
    (n & u64::from(u32::MAX)) as u32
}

/// The Advance Part Limit (§6.2.5.2): how far past the last listed part a blocking request
/// may ask before it is refused (three target durations' worth of parts, at least 3).
pub fn advance_part_limit(part_ms: i64) -> u32 {
    u32::try_from((3000 / part_ms.max(1)).max(3)).unwrap_or(3)
}

/// One listed part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    /// Its index in its segment.
    pub index: u32,
    /// Its duration, ms.
    pub duration_ms: i64,
    /// It starts with a keyframe (`INDEPENDENT=YES`).
    pub independent: bool,
}

/// What a low-latency media playlist adds to the plain one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LowLatency {
    /// `PART-TARGET`, ms.
    pub part_target_ms: i64,
    /// Parts of listed complete segments near the live edge: (segment number, its parts).
    pub parts: Vec<(u64, Vec<Part>)>,
    /// The growing segment (its `end_ms` is meaningless) and its complete parts.
    pub growing: Option<(Segment, Vec<Part>)>,
    /// The part a player may ask for before it is complete (`EXT-X-PRELOAD-HINT`).
    pub hint: Option<String>,
}

impl LowLatency {
    /// The `EXT-X-SERVER-CONTROL` and `EXT-X-PART-INF` lines for a target duration of
    /// `target_s`: blocking reloads, `PART-HOLD-BACK` three parts (§4.4.3.8: at least twice
    /// the part target, three recommended), `HOLD-BACK` three target durations.
    pub fn header(&self, target_s: u64) -> String {
        let hold = i64::try_from(target_s).unwrap_or(i64::MAX / 3000) * 3000;
        format!(
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={},HOLD-BACK={}\n\
             #EXT-X-PART-INF:PART-TARGET={}\n",
            seconds(3 * self.part_target_ms),
            seconds(hold),
            seconds(self.part_target_ms)
        )
    }

    /// The `EXT-X-PART` lines of `parts` of the segment starting at `start_ms`.
    pub fn part_lines(start_ms: i64, parts: &[Part]) -> String {
        let mut out = String::new();
        for p in parts {
            let _ = write!(
                out,
                "#EXT-X-PART:DURATION={},URI=\"{}\"",
                seconds(p.duration_ms),
                part_name(start_ms, p.index)
            );
            if p.independent {
                out.push_str(",INDEPENDENT=YES");
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_close_before_the_sample_that_would_pass_the_target() {
        // 25 fps from 2000 ms: a frame at t begins a new part when t - start + 40 > 333, so
        // parts of 8 frames (320 ms): 2000, 2320, ..., 3920; the last to 4000 is 80 ms.
        let times: Vec<i64> = (0..50).map(|i| 2000 + i * 40).collect();
        let starts = cut_parts(&times, 2000, Some(4000), 334);
        let at: Vec<i64> = starts.iter().map(|&i| times[i]).collect();
        assert_eq!(at, vec![2000, 2320, 2640, 2960, 3280, 3600, 3920]);
        assert!(cut_parts(&[], 0, None, 334).is_empty());
        // Uneven steps in ms (30 fps: 33/34/33; 48 kHz AAC: 21/22/21) over a segment of any
        // length: every part within the target (§4.4.3.7), all but the last at least 85 % of
        // it (SHOULD), none empty.
        for (n, step) in [
            (61, 1000.0 / 30.0),
            (94, 1024.0 / 48.0),
            (73, 1001.0 / 30.0),
        ] {
            let times: Vec<i64> = (0..n).map(|i| (i as f64 * step).round() as i64).collect();
            let end = ((n as f64) * step).round() as i64;
            let starts = cut_parts(&times, 0, Some(end), 334);
            let mut bounds: Vec<i64> = starts.iter().map(|&i| times[i]).collect();
            bounds.push(end);
            for (k, w) in bounds.windows(2).enumerate() {
                let d = w[1] - w[0];
                assert!(d <= 334, "{step}: part {k} lasts {d}");
                if k + 2 < bounds.len() {
                    assert!(d * 100 >= 334 * 85, "{step}: part {k} lasts {d}");
                }
            }
            assert!(starts.windows(2).all(|w| w[1] > w[0]));
        }
    }

    #[test]
    fn an_irregular_step_does_not_push_a_part_past_the_target() {
        // 48 kHz AAC in ms (21/22/21) with one 26 ms step where a publisher looped its file,
        // in a segment starting 5 ms before its first sample (the video key that cut it):
        // guessing a sample's length from the step before made a 336 ms part of this
        // (mist serve's own playlist, seen by `mist analyse`). Each part's end is the next
        // part's first sample, the segment's end for the last.
        let mut times: Vec<i64> = (0..30)
            .map(|i| 5 + (i as f64 * 21.333).round() as i64)
            .collect();
        let seam = *times.last().unwrap() + 26;
        times.extend((0..30).map(|i| seam + (i as f64 * 21.333).round() as i64));
        let end = *times.last().unwrap() + 21;
        let starts = cut_parts(&times, 0, Some(end), 334);
        let mut bounds: Vec<i64> = starts.iter().map(|&i| times[i]).collect();
        bounds[0] = 0;
        bounds.push(end);
        for w in bounds.windows(2) {
            assert!(
                w[1] - w[0] <= 334,
                "a part of {} ms: {bounds:?}",
                w[1] - w[0]
            );
        }
        // Still growing: the last sample's part is not decided before the next sample.
        let growing = cut_parts(&times[..16], 0, None, 334);
        assert_eq!(growing, vec![0], "{:?}", &times[..16]);
        assert_eq!(cut_parts(&times[..17], 0, None, 334), vec![0, 15]);
    }

    #[test]
    fn names_round_trip_and_garbage_is_refused() {
        assert_eq!(part_name(6000, 2), "chunk_6000.2.m4s");
        assert_eq!(parse_part_name("chunk_6000.2.m4s"), Some((6000, 2)));
        assert_eq!(parse_part_name("chunk_-40.0.m4s"), Some((-40, 0)));
        for bad in [
            "chunk_6000.m4s",
            "chunk_6000.02.m4s",
            "chunk_6000.-1.m4s",
            "chunk_6000.1024.m4s",
            "chunk_6000.4294967296.m4s",
            "chunk_.1.m4s",
            "chunk_6000.1.ts",
            "chunk_6000.1.2.m4s",
        ] {
            assert_eq!(parse_part_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn sequence_numbers_rise_through_parts_and_segments() {
        assert_eq!(sequence(0, 0), 1);
        assert_eq!(sequence(0, 6), 7);
        assert_eq!(sequence(1, 0), 1025);
        assert!(sequence(7, 3) < sequence(8, 0));
    }

    #[test]
    fn header_and_part_lines_as_the_draft_writes_them() {
        // §4.4.3.8: PART-HOLD-BACK at least twice PART-TARGET (three here), HOLD-BACK at least
        // three target durations; §4.4.4.9: DURATION, URI, INDEPENDENT.
        let ll = LowLatency {
            part_target_ms: 333,
            ..LowLatency::default()
        };
        assert_eq!(
            ll.header(2),
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.999,HOLD-BACK=6.000\n\
             #EXT-X-PART-INF:PART-TARGET=0.333\n"
        );
        let parts = [
            Part {
                index: 0,
                duration_ms: 333,
                independent: true,
            },
            Part {
                index: 1,
                duration_ms: 333,
                independent: false,
            },
        ];
        assert_eq!(
            LowLatency::part_lines(4000, &parts),
            "#EXT-X-PART:DURATION=0.333,URI=\"chunk_4000.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.333,URI=\"chunk_4000.1.m4s\"\n"
        );
        assert_eq!(advance_part_limit(333), 9);
        assert_eq!(advance_part_limit(PART_TARGET_MS), 8);
        assert_eq!(advance_part_limit(2000), 3);
    }
}
