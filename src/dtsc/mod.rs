//! THE core model (DESIGN.md §2): tracks, timed packets, stream metadata and the per-track
//! index, plus [`wire`], the DTSC binary format itself.

pub mod index;
pub mod meta;
pub mod packet;
pub mod time;
pub mod timeline;
pub mod track;
pub mod wire;

pub use index::{Index, TrackIndex};
pub use meta::Meta;
pub use packet::Packet;
pub use time::{Ticks, Time, Timebase};
pub use track::{Audio, Codec, Framing, Params, Track, TrackId, TrackKind, Video};
