//! MP4 / ISOBMFF: progressive files (`moov` before or after `mdat`) and fragmented ones
//! (`moov` + `mvex`, then `moof` + `mdat` pairs).
//!
//! Specs: ISO/IEC 14496-12 (ISOBMFF: boxes, sample tables, edit lists, fragments, `sidx`),
//! 14496-14 (MP4 file format: `esds`), 14496-15 (`avcC`/`hvcC`, `avc1`/`avc3`, `hvc1`/`hev1`),
//! 14496-1 §7.2.6 (descriptor lengths inside `esds`). format-traps.md §4.3 lists the traps.
//!
//! Layout: [`boxes`] holds one module per box or box family, each parsing its payload and
//! writing itself; [`reader`] parses `moov` and turns each `moof` into compact runs;
//! [`samples`] keeps a track's tables in the file's own compact form and walks them sample by
//! sample (memory follows the tables, not the samples they claim); [`demux`] reads samples in decode order interleaved across tracks by time (payloads read per
//! sample, `mdat` never loaded); [`mux`] writes progressive MP4 with `moov` first in one pass
//! from the index; [`fmp4`] writes fragmented MP4 to any byte sink.
//!
//! Time: every track keeps its `mdhd` timescale. Edit lists are applied as FFmpeg applies them
//! for the usual shapes (one optional empty edit, then one edit at rate 1): times shift by the
//! empty duration minus `media_time`, which gives FFmpeg's negative DTS with B-frames and AAC
//! priming. The muxer writes edit lists as FFmpeg's movenc does (see [`mux`]), so MP4 → MP4
//! keeps every time ffprobe reports.
//!
//! Known gaps: edit lists with several non-empty edits or a rate other than 1 are reduced to
//! their first edit (a warning finding says so); only the first sample description of a track
//! is used; HEVC is carried as opaque `hvcC`; encrypted entries, `saio`/`saiz`, `sbgp` and
//! `udta` metadata are passed over; input must be seekable (a file or bytes in memory), since
//! `moov` may sit at the end; fragments are read from files, not from a growing live input.

pub mod boxes;
pub mod demux;
pub mod fmp4;
pub mod mux;
pub mod reader;
pub mod samples;
pub mod stream;

use super::{Format, FormatSpec, MuxCaps, Score};
use crate::dtsc::{Codec, Framing};

/// Which codecs MP4 carries, in which framing (the canonical one for each).
fn framing(c: &Codec) -> Option<Framing> {
    match c {
        Codec::H264 | Codec::Hevc | Codec::Aac | Codec::Mp3 => Some(c.canonical_framing()),
        _ => None,
    }
}

/// The incremental reader (faststart and fragmented files).
fn stream_reader() -> Box<dyn crate::formats::Reader> {
    Box::new(stream::StreamReader::new())
}

/// The format table row for progressive MP4.
pub const SPEC: FormatSpec = FormatSpec {
    format: Format::Mp4,
    name: "mp4",
    description: "MP4 (progressive, faststart)",
    extensions: &["mp4", "m4v", "m4a", "mov"],
    mime: "video/mp4",
    probe,
    open: Some(demux::open),
    reader: Some(stream_reader),
    needs_seek: true,
    muxer: Some(mux::new),
    mux_caps: MuxCaps {
        live: false,
        needs_index: true,
        one_per_kind: false,
        framing,
        negative_times: true,
    },
    analyse: Some(crate::analyse::mp4::analyse),
};

/// The format table row for fragmented MP4.
pub const FMP4_SPEC: FormatSpec = FormatSpec {
    format: Format::Fmp4,
    name: "fmp4",
    description: "fragmented MP4",
    extensions: &["fmp4", "cmfv", "m4s"],
    mime: "video/mp4",
    probe: super::never,
    open: Some(demux::open),
    reader: Some(stream_reader),
    needs_seek: true,
    muxer: Some(fmp4::new),
    mux_caps: MuxCaps {
        live: true,
        needs_index: false,
        one_per_kind: false,
        framing,
        negative_times: true,
    },
    analyse: Some(crate::analyse::mp4::analyse),
};

/// Certain for a leading `ftyp`/`styp`; likely for other top-level boxes MP4 files start with.
pub fn probe(head: &[u8]) -> Score {
    let Some(kind) = head.get(4..8) else { return 0 };
    let size = head
        .get(..4)
        .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
    let plausible = size == 1 || size >= 8;
    match kind {
        b"ftyp" | b"styp" if plausible => 100,
        b"moov" | b"moof" | b"sidx" | b"mdat" | b"free" | b"skip" | b"wide" if plausible => 60,
        _ => 0,
    }
}
