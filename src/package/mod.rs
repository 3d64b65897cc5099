//! Segmented delivery: playlists, manifests and segments as pure functions of a stream's
//! [`Meta`](crate::dtsc::Meta), a window of segments and options. No I/O and no async here:
//! `mist remux IN DIR/ --to hls` (through `pipeline::package`) and `mist serve` (live and on
//! demand) call the very same functions, so a folder written by remux and the answers of the
//! server are byte for byte the same.
//!
//! The parts every packaging shares:
//! - [`segment`]: what a segment is (number, start and end in ms, discontinuities), the window
//!   a playlist lists, and the one segmentation rule (MistServer's fragments: cut at a key of
//!   the main track once at least `segment_ms` passed), for files from their index;
//! - [`variant`]: which tracks go together into one rendition, and their codec strings;
//! - [`segmenter`]: per variant, one in-order writer that keeps its muxer's state across
//!   segments (TS continuity counters and PCR, fMP4 sequence numbers and decode times);
//! - [`vod`]: a whole file packaged into files (playlists, init segments, media segments).
//!
//! Format-specific parts live in their own modules: [`hls`] (RFC 8216 playlists, with TS or
//! fMP4 segments), [`dash`] (MPDs over the same fMP4 segments), [`ll`] (low-latency HLS:
//! partial segments of the fMP4 variant), [`hds`] (Adobe HTTP Dynamic Streaming: F4M,
//! bootstraps, F4F fragments of FLV tags) and [`smooth`] (Microsoft Smooth Streaming: the
//! client manifest and `moof`/`mdat` fragments per track); [`xml`] reads and escapes the XML
//! manifests.

pub mod dash;
pub mod hds;
pub mod hls;
pub mod ll;
pub mod segment;
pub mod segmenter;
pub mod smooth;
pub mod span;
pub mod variant;
pub mod vod;
pub mod xml;

use crate::dtsc::{Codec, Framing};
use crate::formats::FormatError;

pub use segment::{Segment, Window};
pub use variant::Variant;

/// The shortest segment when none is asked for: MistServer's `segmentsize` (1.9 s; segments
/// are cut at the first key of the main track at least this long after the previous cut).
pub const DEFAULT_SEGMENT_MS: i64 = 1900;
/// Shortest segment duration accepted (a key per segment needs at least one frame).
pub const MIN_SEGMENT_MS: i64 = 100;
/// Longest segment duration accepted (players dislike segments much longer than a minute).
pub const MAX_SEGMENT_MS: i64 = 600_000;

/// A packaging format: a layout of playlists (or manifests) and segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Packaging {
    /// HLS with MPEG-TS segments (`/hls/STREAM/...`), RFC 8216.
    HlsTs,
    /// HLS version 7 with fragmented MP4 (CMAF) segments (`/cmaf/STREAM/...`).
    HlsFmp4,
    /// MPEG-DASH over the same fragmented MP4 segments (`/cmaf/STREAM/index.mpd`).
    Dash,
    /// Adobe HTTP Dynamic Streaming (`/dynamic/STREAM/manifest.f4m`).
    Hds,
    /// Microsoft Smooth Streaming (`/smooth/STREAM.ism/Manifest`, `/cmaf/STREAM/Manifest`).
    Smooth,
}

/// Every packaging, for `--to` and help texts.
pub const PACKAGINGS: &[Packaging] = &[
    Packaging::HlsTs,
    Packaging::HlsFmp4,
    Packaging::Dash,
    Packaging::Hds,
    Packaging::Smooth,
];

impl Packaging {
    /// The name `--to` takes.
    pub fn name(self) -> &'static str {
        match self {
            Packaging::HlsTs => "hls",
            Packaging::HlsFmp4 => "hls-fmp4",
            Packaging::Dash => "dash",
            Packaging::Hds => "hds",
            Packaging::Smooth => "smooth",
        }
    }

    /// True for the packagings of CMAF renditions (one track each, fMP4 segments named by
    /// their start): their segments are the same files under the same names.
    pub fn cmaf(self) -> bool {
        matches!(self, Packaging::HlsFmp4 | Packaging::Dash)
    }

    /// The packaging called `name` (`hls`, `hls-fmp4`, `dash`, `hds`, `smooth`; `cmaf` is
    /// another name for `hls-fmp4`, `mpd` for `dash`, `mss` and `ism` for `smooth`).
    pub fn by_name(name: &str) -> Option<Packaging> {
        match name.to_ascii_lowercase().as_str() {
            "hls" | "hls-ts" => Some(Packaging::HlsTs),
            "hls-fmp4" | "cmaf" => Some(Packaging::HlsFmp4),
            "dash" | "mpd" => Some(Packaging::Dash),
            "hds" => Some(Packaging::Hds),
            "smooth" | "mss" | "ism" => Some(Packaging::Smooth),
            _ => None,
        }
    }

    /// The URL prefix mist serve answers it under (`/hls/STREAM/`, `/cmaf/STREAM/`).
    pub fn url_prefix(self) -> &'static str {
        match self {
            Packaging::HlsTs => "hls",
            Packaging::HlsFmp4 | Packaging::Dash => "cmaf",
            Packaging::Hds => "dynamic",
            Packaging::Smooth => "smooth",
        }
    }

    /// The framing its segment muxer takes for a codec, or `None` when it cannot carry it.
    pub fn framing(self, c: &Codec) -> Option<Framing> {
        match self {
            Packaging::HlsTs => crate::formats::ts::mux::framing(c),
            Packaging::HlsFmp4 | Packaging::Dash => match c {
                Codec::H264 | Codec::Hevc | Codec::Aac | Codec::Mp3 => Some(c.canonical_framing()),
                _ => None,
            },
            Packaging::Hds => hds::framing(c),
            Packaging::Smooth => smooth::framing(c),
        }
    }
}

/// Names of every packaging, for `--to`.
pub fn names() -> Vec<&'static str> {
    PACKAGINGS.iter().map(|p| p.name()).collect()
}

/// Options of a packaging run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Options {
    /// Shortest segment, in ms.
    pub segment_ms: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_ms: DEFAULT_SEGMENT_MS,
        }
    }
}

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A segment muxer refused its input.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Nothing in the stream can be packaged.
    #[error("{0}")]
    Nothing(String),
}
