//! One packet as the hub holds it: shared by every viewer, with encodings built once.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::dtsc::{Meta, Packet};

/// Pieces of one output unit, ready for one vectored write.
pub type Encoded = Arc<[Bytes]>;

/// Per-packet encodings an output may cache in the entry, so the work is done once per
/// stream instead of once per viewer (nginx-rtmp's shared buffers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The RTMP chunked form of the packet's message.
    Rtmp = 0,
    /// The FLV tag of the packet.
    Flv = 1,
}

const SLOTS: usize = 2;

/// A packet in the hub.
#[derive(Debug)]
pub struct Entry {
    /// The packet, in its track's canonical framing and timebase.
    pub packet: Packet,
    /// Its decode time in ms, for windows and lag (comparable across tracks).
    pub ms: i64,
    /// The tracks in force when it was published (viewers re-announce when this changes).
    pub meta: Arc<Meta>,
    /// Which publisher session it came from; a change is a discontinuity.
    pub epoch: u64,
    cache: [OnceLock<Encoded>; SLOTS],
}

impl Entry {
    /// Wraps a packet.
    pub fn new(packet: Packet, ms: i64, meta: Arc<Meta>, epoch: u64) -> Entry {
        Entry {
            packet,
            ms,
            meta,
            epoch,
            cache: Default::default(),
        }
    }

    /// The encoding for `slot`, built by `make` on first use and shared afterwards.
    pub fn encoded(&self, slot: Slot, make: impl FnOnce(&Packet, &Meta) -> Encoded) -> &Encoded {
        self.cache[slot as usize].get_or_init(|| make(&self.packet, &self.meta))
    }

    /// Payload bytes (for accounting).
    pub fn len(&self) -> usize {
        self.packet.data.len()
    }

    /// True for an empty payload.
    pub fn is_empty(&self) -> bool {
        self.packet.data.is_empty()
    }
}
