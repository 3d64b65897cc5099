//! A stream's metadata: its tracks, whether it is live, and (when built) its index.

use super::index::Index;
use super::track::{Track, TrackId};

/// Tracks plus what is known about the stream as a whole.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Meta {
    /// The tracks, in the source's order.
    pub tracks: Vec<Track>,
    /// True for a live stream (no fixed end), false for video on demand.
    pub live: bool,
    /// Wall-clock unix time in ms that corresponds to stream time 0, when known.
    pub unix_zero: Option<i64>,
    /// The per-track index, once built (same order as `tracks`).
    pub index: Option<Index>,
    /// The source's ID3v2 tag, whole (header included), for muxers that carry one (MP3).
    pub tags: Option<bytes::Bytes>,
}

impl Meta {
    /// The track with id `id`.
    pub fn track(&self, id: TrackId) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// Position of track `id` in `tracks`.
    pub fn position(&self, id: TrackId) -> Option<usize> {
        self.tracks.iter().position(|t| t.id == id)
    }
}
