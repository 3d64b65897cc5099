//! FLV: read, write and analyse Flash Video files (and the tag layer RTMP and HTTP-FLV share).
//!
//! | spec | what mist uses |
//! |---|---|
//! | Adobe *Video File Format Specification* v10.1, Annex E | header (E.2), body and `PreviousTagSize` (E.3), tag header (E.4.1), audio (E.4.2) and video (E.4.3) tag headers, script data (E.4.4) |
//! | Adobe *AMF0 File Format Specification* (2006) | every AMF0 type in [`amf0`] |
//! | veovera *Enhanced RTMP* v1 and v2 | `ExVideoTagHeader`: IsExHeader, PacketType 0–5, FourCC `avc1`/`hvc1` (+ `av01`/`vp09` passed through) |
//! | ISO/IEC 14496-15 | `avcC`/`hvcC` in sequence headers: NAL length size |
//! | ISO/IEC 14496-3 | AudioSpecificConfig in AAC sequence headers |
//! | FFmpeg `libavformat/flvdec.c` (5.1) | behaviour where the spec is silent: streams appear in the order of their first tag, empty tags and video command frames are skipped, frames before a sequence header are kept, every audio packet is a keyframe, the tag type is the low 5 bits |
//!
//! Reading: [`reader`] is sans-IO (bytes in, events out); [`demux`] runs it over a file, reads
//! ahead at open so every track has its configuration, builds the index from tag headers
//! alone and seeks through it. Tracks: id 1 video, id 2 audio, timebase 1/1000, listed in the
//! order their first tags appear (as ffprobe lists them). H.264/HEVC payloads are normalised to
//! 4-byte NAL length prefixes; AAC is raw; MP3 frames are whole.
//!
//! Writing: [`mux`] writes H.264, AAC and MP3 (the tag-body prefixes come from [`body`], which
//! RTMP play shares) with a seekable `onMetaData` (see its docs for
//! how the `keyframes` object is reserved and patched).
//!
//! Known gaps:
//! - Script tags other than `onMetaData` (`onTextData`, `onCaption`, `onCuePoint`) are kept
//!   for `analyse` but not made into tracks; FFmpeg makes a data/subtitle stream of them.
//! - A second audio codec mid-stream is skipped with a finding; FFmpeg opens a second stream.
//! - Enhanced RTMP v2 audio (SoundFormat 9), multitrack and ModEx packets are reported and
//!   skipped; `av01`/`vp09` are passed through as opaque codecs.
//! - Encrypted tags (Filter bit) are skipped.
//! - The muxer writes legacy AVC tags only (no HEVC/E-FLV output yet) and no AMF3.
//! - HEVC tracks get no picture size or frame rate (no hvcC/SPS parser in `crate::codec`
//!   yet); H.264 ones get them from the avcC's SPS through `crate::codec`.
//! - Resync after garbage happens only where a `PreviousTagSize` was wrong and the next
//!   header is no tag; a candidate whose size check needs bytes past the end of the input is
//!   not skipped, so such a file ends with an error rather than a later valid tag.

pub mod amf0;
pub mod body;
mod codecs;
pub mod demux;
pub mod header;
pub mod mux;
pub mod reader;
pub mod tag;

use super::{Format, FormatSpec, MuxCaps, Score};

pub use demux::Demuxer;
pub use mux::Muxer;
pub use reader::Reader;

/// The format name errors carry.
pub const FORMAT: &str = "flv";

/// The format table row.
pub const SPEC: FormatSpec = FormatSpec {
    format: Format::Flv,
    name: "flv",
    description: "Adobe Flash Video",
    extensions: &["flv"],
    mime: "video/x-flv",
    probe,
    open: Some(demux::open),
    reader: Some(|| Box::new(reader::StreamReader::default())),
    needs_seek: false,
    muxer: Some(mux::new),
    mux_caps: MuxCaps {
        live: true,
        needs_index: true,
        one_per_kind: true,
        framing: mux::framing,
        // FLV times are unsigned: the pipeline shifts tracks so the earliest is 0.
        negative_times: false,
    },
    analyse: Some(crate::analyse::flv::analyse),
};

/// Certain when the input starts with a plausible FLV header (FFmpeg's `flv_probe` checks).
pub fn probe(head: &[u8]) -> Score {
    if header::looks_like_flv(head) {
        100
    } else {
        0
    }
}
