//! One timed media frame of one track.

use bytes::Bytes;

use super::time::Ticks;
use super::track::TrackId;

/// A media frame: decode time, composition offset, keyframe flag and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The track it belongs to.
    pub track: TrackId,
    /// Decode time in ticks of the track's timebase.
    pub dts: Ticks,
    /// Composition offset in ticks: presentation time = `dts + cts` (may be negative).
    pub cts: i32,
    /// True when decoding can start here (a random access point).
    pub keyframe: bool,
    /// The payload, in the track's framing; a slice of the input buffer where possible.
    pub data: Bytes,
    /// Byte offset in the source where this packet's container unit starts, when known.
    pub pos: Option<u64>,
}

impl Packet {
    /// Presentation time: `dts + cts`.
    pub fn pts(&self) -> Ticks {
        self.dts + i64::from(self.cts)
    }
}
