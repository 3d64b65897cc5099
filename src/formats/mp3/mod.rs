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

/// Scores MPEG audio: several consecutive valid frames, or an ID3v2 tag followed by a frame.
/// A lone sync word scores nothing (`FF Fx` happens in any binary data).
pub fn probe(head: &[u8]) -> Score {
    let mut start = 0usize;
    let mut tagged = false;
    if let Ok(Some(t)) = Id3v2Header::parse(head, 0) {
        tagged = true;
        match usize::try_from(t.total_len()) {
            Ok(l) if l < head.len() => start = l,
            // The tag is longer than what we were shown: ID3v2 alone (other formats carry
            // it too, e.g. ADTS AAC), so a modest score.
            _ => return 30,
        }
    }
    let search_end = head.len().min(start + PROBE_SEARCH);
    let mut best = 0u32;
    let mut best_at_start = false;
    let mut i = start;
    while i + 4 <= search_end {
        if head[i] == 0xff && FrameHeader::is_valid(&head[i..]) {
            let (n, hit_end) = run_of_frames(head, i);
            // A run cut short by the end of the probe bytes counts as whole.
            let n = if hit_end {
                n.max(1) + u32::from(n >= 2)
            } else {
                n
            };
            if n > best {
                best = n;
                best_at_start = i == start;
            }
            if n >= 4 {
                break;
            }
        }
        i += 1;
    }
    let score: Score = match best {
        0 => 0,
        1 => 5,
        2 => 25,
        3 => 50,
        4 => 75,
        _ => 90,
    };
    if best == 0 {
        return if tagged { 30 } else { 0 };
    }
    let score = if best_at_start {
        score.saturating_add(5)
    } else {
        score
    };
    if tagged && best >= 1 {
        score.max(80)
    } else {
        score
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
        assert_eq!(probe(&[0xff, 0xfb, 0x94, 0x64]), 5 + 5);
        assert!(probe(&frames(6)) >= 90);
        assert_eq!(probe(b"hello world, not audio"), 0);
        // One frame then garbage: weak.
        let mut v = frames(1);
        v.extend([1u8; 500]);
        assert!(probe(&v) <= 10);
        // An ID3v2 tag then a frame: high.
        let mut v = b"ID3\x04\x00\x00\x00\x00\x00\x02ab".to_vec();
        v.extend(frames(1));
        assert!(probe(&v) >= 80);
    }
}
