//! MP3 elementary streams (MPEG-1/2/2.5 audio, any layer; named for Layer III).
//!
//! | part | spec |
//! |---|---|
//! | frame headers, frame lengths, samples per frame | ISO/IEC 11172-3 2.4.1.3, 2.4.2.3; ISO/IEC 13818-3 |
//! | Xing/Info, VBRI first frames | LAME / Fraunhofer conventions (the frame is not audio) |
//! | ID3v2 tags (skipped, shown by `analyse`) | id3.org ID3v2.3.0 / ID3v2.4.0 |
//! | ID3v1 tag at the end | id3.org ID3v1 |
//!
//! Packets are whole frames (header included), timed in samples: timebase = the first
//! frame's sample rate, `dts` = the number of samples before the frame, as ffprobe lists them
//! (ffprobe's own timebase is 1/14112000; the values are equal as fractions of a second).
//!
//! Known gaps: free-format streams (bitrate index 0) are refused; the muxer writes no
//! ID3v2 tag (Meta has no place for one yet); LAME encoder delay/padding are not applied.

pub mod demux;
pub mod id3;
pub mod mux;
pub mod reader;

use super::{Format, FormatSpec, Score};
use crate::codec::mp3::{FrameHeader, Id3v2Header};

/// The format table row.
pub const SPEC: FormatSpec = FormatSpec {
    format: Format::Mp3,
    name: "mp3",
    description: "MPEG audio layer III",
    extensions: &["mp3"],
    mime: "audio/mpeg",
    probe,
    open: Some(demux::open),
    reader: Some(|| Box::new(reader::StreamReader::new())),
    needs_seek: false,
    muxer: Some(mux::new),
    mux_caps: mux::CAPS,
    analyse: Some(crate::analyse::mp3::analyse),
};

/// Where probing looks for the first frame (after an ID3v2 tag).
const PROBE_SEARCH: usize = 4096;

/// Counts consecutive valid frames from `at` (they must agree on layer and sample rate);
/// the second value is true when the count stopped at the end of `head`.
fn run_of_frames(head: &[u8], mut at: usize) -> (u32, bool) {
    let mut n = 0;
    let mut first: Option<FrameHeader> = None;
    while let Some(rest) = head.get(at..) {
        if rest.len() < 4 {
            return (n, true);
        }
        let Ok(h) = FrameHeader::parse(rest, 0) else {
            return (n, false);
        };
        if let Some(f) = first {
            if f.sample_rate != h.sample_rate || f.layer != h.layer {
                return (n, false);
            }
        }
        first.get_or_insert(h);
        n += 1;
        at += h.frame_len();
    }
    (n, true)
}

/// Scores MPEG audio: at least three consecutive valid frames (two when they fill the
/// bytes shown), or an ID3v2 tag followed by frames. A lone sync word or a single frame scores
/// nothing (`FF Fx` happens in any binary data); frames found further in score less than
/// frames at the start, so containers that carry MP3 (MP4, FLV, TS) keep their own higher
/// scores.
pub fn probe(head: &[u8]) -> Score {
    let mut start = 0usize;
    let mut tagged = false;
    if let Ok(Some(t)) = Id3v2Header::parse(head, 0) {
        tagged = true;
        match usize::try_from(t.total_len()) {
            Ok(l) if l < head.len() => start = l,
            // The tag is longer than what we were shown (cover art): ID3v2 alone, which
            // other formats carry too (ADTS AAC), so a modest score.
            _ => return 30,
        }
    }
    let search_end = head.len().min(start + PROBE_SEARCH);
    let mut best: Score = 0;
    let mut i = start;
    while i + 4 <= search_end {
        if head[i] == 0xff && FrameHeader::is_valid(&head[i..]) {
            let (n, hit_end) = run_of_frames(head, i);
            let mut score: Score = match n {
                0 | 1 => 0,
                2 if hit_end => 25,
                2 => 0,
                3 => 50,
                4 => 75,
                _ => 90,
            };
            if i != start {
                score /= 2;
            } else if tagged && score > 0 {
                score = score.max(80);
            }
            best = best.max(score);
            if best >= 90 {
                break;
            }
        }
        i += 1;
    }
    if tagged {
        best.max(30)
    } else {
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize) -> Vec<u8> {
        // MPEG-1 Layer III 128 kbit/s 48 kHz: 384-byte frames (144 × 128000 / 48000).
        let mut v = Vec::new();
        for _ in 0..n {
            let mut f = vec![0u8; 384];
            f[..4].copy_from_slice(&[0xff, 0xfb, 0x94, 0x64]);
            v.extend(f);
        }
        v
    }

    #[test]
    fn probe_needs_several_frames() {
        assert_eq!(probe(&[0xff, 0xfb, 0x94, 0x64]), 0);
        assert!(probe(&frames(6)) >= 90);
        assert_eq!(probe(&frames(3)[..384 * 2 + 10]), 50);
        assert_eq!(probe(b"hello world, not audio"), 0);
        // One frame then garbage: weak.
        let mut v = frames(1);
        v.extend([1u8; 500]);
        assert_eq!(probe(&v), 0);
        // An ID3v2 tag then a frame: high.
        let mut v = b"ID3\x04\x00\x00\x00\x00\x00\x02ab".to_vec();
        v.extend(frames(2));
        assert!(probe(&v) >= 80);
        // Frames that start further in: half the score.
        let mut v = vec![0u8; 100];
        v.extend(frames(6));
        assert_eq!(probe(&v), 45);
    }
}
