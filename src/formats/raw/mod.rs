//! Raw elementary streams: H.264 in Annex B (`.h264`) and AAC in ADTS (`.aac`).
//!
//! | part | specification |
//! |---|---|
//! | byte stream format, start codes | ITU-T H.264 Annex B |
//! | access unit boundaries | ITU-T H.264 7.4.1.2.3 (order of NAL units), 7.4.1.2.4 (first slice of a new primary picture) |
//! | picture order count → presentation order | ITU-T H.264 8.2.1 (via `codec::h264::PocCalculator`); timing as MP4Box imports raw H.264 |
//! | SEI messages (recovery point, user data) | ITU-T H.264 7.3.2.3, D.1.7, D.1.8 |
//! | ADTS | ISO/IEC 13818-7 6.2 / ISO/IEC 14496-3 1.A.2 |
//! | ID3v2 tag before ADTS | id3.org ID3v2.4 structure §3.1 (synchsafe size) |
//!
//! **H.264 reading.** Each access unit is one packet holding every NAL unit of it (AUD,
//! parameter sets and SEI included) with 4-byte lengths; the track's `avcC` is built from the
//! first SPS and PPS of each id. Keyframes are IDR pictures and pictures with a recovery
//! point SEI (what ffmpeg's H.264 parser flags). Raw H.264 has no timestamps: frame `n` is
//! decoded at `n` frame durations, the rate taken from `--fps`, else the SPS VUI timing
//! (`time_scale / (2 × num_units_in_tick)`), else 25 fps; the timebase is 90 kHz when a
//! frame is a whole number of its ticks, else the rate's numerator, so every time is exact.
//! Presentation times come from the picture order count as MP4Box does it: a frame's rank
//! in POC order within its POC period (IDR to IDR), plus a constant delay of
//! `max_num_reorder_frames` (VUI; else `max_dec_frame_buffering`; else the deepest
//! reordering seen in the first [`h264::PREFETCH_AUS`] access units) so that pts ≥ dts. At
//! each later IDR the delay may grow to what that picture's SPS declares (or shows): the
//! previous period is presented by then, so presentation times stay strictly increasing,
//! with a gap of the added frames.
//!
//! Access units before the first keyframe (a stream cut mid-GOP) cannot be decoded: the
//! demuxer and the stream reader drop them with a finding, while `analyse` lists every
//! access unit of the file, as ffprobe does. [`h264::StreamReader`] and
//! [`aac::StreamReader`] are the sans-IO readers (`formats::Reader`) for streams arriving in
//! pieces; they give the same packets as the file demuxers.
//!
//! **H.264 writing** does what `ffmpeg -f h264` does (its `h264_mp4toannexb` filter): 4-byte
//! start codes, the `avcC` SPS/PPS inserted before the first slice of each keyframe that
//! lacks them, and no access unit delimiters added (those in the packets are kept).
//!
//! **AAC** reading strips the 7/9-byte ADTS headers; times are sample counts at the sample
//! rate (1024 per raw data block). Writing rebuilds 7-byte headers from the track's
//! AudioSpecificConfig (`pipeline::adapt`), so ADTS → anything → ADTS is byte-identical for
//! CRC-less, single-block input written by ffmpeg. HE-AAC, which ADTS only signals inside the
//! raw data, is recognised from the first frame's SBR fill element (HE-AAC v2 from the
//! parametric stereo inside its SBR payload) and given an explicit config
//! (`codec::aac::frame::config_of`). `analyse --validate` walks every raw data block
//! (`codec::aac::frame`): CRC mismatches, unreadable raw data, raw data shorter than its
//! frame and channel counts that disagree with the header are findings at the frame.
//!
//! Known gaps:
//! - Field-coded (PAFF/MBAFF field pair) streams: each field is its own access unit and is
//!   timed as a frame; ffmpeg pairs fields into one packet.
//! - Arbitrary slice order and redundant pictures (Baseline features) may split access
//!   units wrongly: a slice with `first_mb_in_slice` 0 always starts a new picture.
//! - A stream that reorders deeper than its SPS declares, or (without a declaration) deeper
//!   than the first 16 frames after an IDR show, gets presentation times clamped to decode
//!   times (with a finding), which can repeat a presentation time.
//! - Seeking restarts at IDR pictures only (recovery-point keyframes are not restart points).
//! - Access units with no coded slice (a stray AUD or SEI at the end) are dropped with a finding.
//! - Written ADTS never carries a CRC and always one raw data block per frame (as ffmpeg's).
//!   Frames of several blocks are read as one packet per block (found by walking the raw
//!   data); one whose raw data cannot be walked is passed whole, with an error finding.

pub mod aac;
pub mod h264;
pub mod sei;

use super::error::{FormatError, Problem};
use super::{Format, FormatSpec, MuxCaps};
use crate::dtsc::{Codec, Framing, Meta, Track};

/// The `.h264` row of the format table.
pub const H264_SPEC: FormatSpec = FormatSpec {
    format: Format::H264,
    name: "h264",
    description: "raw H.264 Annex B",
    extensions: &["h264", "264", "avc"],
    mime: "video/h264",
    probe: h264::probe,
    open: Some(h264::open),
    reader: Some(|| Box::new(h264::StreamReader::new(None))),
    needs_seek: false,
    muxer: Some(h264::new_muxer),
    mux_caps: MuxCaps {
        live: true,
        needs_index: false,
        one_per_kind: true,
        framing: |c| (*c == Codec::H264).then_some(Framing::AnnexB),
        negative_times: false,
    },
    analyse: Some(crate::analyse::raw::analyse_h264),
};

/// The `.aac` row of the format table.
pub const AAC_SPEC: FormatSpec = FormatSpec {
    format: Format::Aac,
    name: "aac",
    description: "raw AAC in ADTS",
    extensions: &["aac", "adts"],
    mime: "audio/aac",
    probe: aac::probe,
    open: Some(aac::open),
    reader: Some(|| Box::new(aac::StreamReader::new())),
    needs_seek: false,
    muxer: Some(aac::new_muxer),
    mux_caps: MuxCaps {
        live: true,
        needs_index: false,
        one_per_kind: true,
        framing: |c| (*c == Codec::Aac).then_some(Framing::Adts),
        negative_times: false,
    },
    analyse: Some(crate::analyse::raw::analyse_aac),
};

/// The one track a raw elementary stream muxer can write: exactly one track, of `codec` in
/// `framing`; `stream` names the output in errors ("an ADTS stream").
fn single_track<'m>(
    meta: &'m Meta,
    format: &'static str,
    stream: &str,
    codec: Codec,
    framing: Framing,
) -> Result<&'m Track, FormatError> {
    let unsupported = |what: String| FormatError::whole(format, Problem::Unsupported(what));
    let [t] = meta.tracks.as_slice() else {
        return Err(unsupported(format!(
            "{} tracks in {stream} (it holds one; choose with --tracks)",
            meta.tracks.len()
        )));
    };
    if t.codec != codec || t.framing != framing {
        return Err(unsupported(format!(
            "{} ({}) in {stream}",
            t.codec.ffprobe_name(),
            t.framing.describe()
        )));
    }
    Ok(t)
}
