//! Low-latency HLS (draft-pantos-hls-rfc8216bis, §4.4.3.7–8, §4.4.4.9, §4.4.5.3, §6.2.5.2)
//! on the fMP4 variant: each live segment is also offered as partial segments, each one
//! `moof` + `mdat`, named `chunk_START.K.m4s` (MistServer's), so a player can start on a part
//! as soon as it exists instead of waiting for the whole segment.
//!
//! Parts follow a grid of [`PART_TARGET_MS`] from the segment's start: part `K` holds the
//! variant's packets whose decode time falls in `[start + K·P, start + (K+1)·P)` (the last
//! part ends with the segment), so every part lasts at most the part target (§4.4.3.7: MUST)
//! and all but a segment's last at least 85 % of it (SHOULD). A part is complete once the
//! variant's track has a packet past its end (or its segment is complete). A live fMP4
//! segment is the concatenation of its parts, so a player mixing parts and segments reads
//! the same bytes, and `mfhd` sequence numbers rise through both.

use std::fmt::Write as _;

use super::hls::playlist::seconds;
use super::segment::Segment;

/// Part target duration, ms: three parts a second, so `PART-HOLD-BACK` (three parts) is
/// 1 s and a 1 s GOP plays about a second behind its publisher.
pub const PART_TARGET_MS: i64 = 333;
/// Most parts one segment is cut into (a segment without keys for minutes ends its last part
/// late rather than numbering past this); also the `mfhd` sequence numbers one segment uses.
pub const MAX_PARTS: u32 = 1024;
/// Target durations from the end of the playlist within which segments list their parts
/// (§6.2.2: parts SHOULD be removed once further than three target durations from the end).
pub const PART_LIST_TARGETS: i64 = 3;

/// The part of a segment starting at `start_ms` that a packet at `ms` belongs to (packets
/// before the start, which arrive after the segment's key, go to the first part).
pub fn part_index(start_ms: i64, ms: i64, part_ms: i64) -> u32 {
    let k = ms.saturating_sub(start_ms).max(0) / part_ms.max(1);
    u32::try_from(k).unwrap_or(u32::MAX).min(MAX_PARTS - 1)
}

/// How many parts a complete segment has.
pub fn part_count(seg: &Segment, part_ms: i64) -> u32 {
    let d = seg.duration_ms().max(1);
    let n = (d + part_ms.max(1) - 1) / part_ms.max(1);
    u32::try_from(n).unwrap_or(MAX_PARTS).clamp(1, MAX_PARTS)
}

/// Start and end (ms) of part `k` of a segment from `start_ms` that ends at `end_ms` (when
/// complete).
pub fn part_span(start_ms: i64, end_ms: Option<i64>, k: u32, part_ms: i64) -> (i64, i64) {
    let a = start_ms + i64::from(k) * part_ms;
    let mut b = a + part_ms;
    if let Some(e) = end_ms {
        if k + 1 >= MAX_PARTS || b > e {
            b = e;
        }
    }
    (a, b.max(a + 1))
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

    fn seg(number: u64, a: i64, b: i64) -> Segment {
        Segment {
            number,
            start_ms: a,
            end_ms: b,
            discontinuities: 0,
        }
    }

    #[test]
    fn parts_follow_a_grid_from_the_segment_start() {
        // 2040 ms at 333: parts 0..=6, the last 2040 - 1998 = 42 ms.
        let s = seg(5, 4000, 6040);
        assert_eq!(part_count(&s, 333), 7);
        assert_eq!(part_span(4000, Some(6040), 0, 333), (4000, 4333));
        assert_eq!(part_span(4000, Some(6040), 6, 333), (5998, 6040));
        // While growing, a part ends on the grid.
        assert_eq!(part_span(4000, None, 6, 333), (5998, 6331));
        assert_eq!(part_index(4000, 4000, 333), 0);
        assert_eq!(part_index(4000, 4332, 333), 0);
        assert_eq!(part_index(4000, 4333, 333), 1);
        // Audio published after the key but timed before it: the first part.
        assert_eq!(part_index(4000, 3990, 333), 0);
        assert_eq!(part_index(0, i64::MAX, 333), MAX_PARTS - 1);
        assert_eq!(part_count(&seg(0, 0, 333), 333), 1);
        assert_eq!(part_count(&seg(0, 0, 334), 333), 2);
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
        assert_eq!(advance_part_limit(2000), 3);
    }
}
