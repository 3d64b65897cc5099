//! Framing conversions, decided once per track before the first packet (FFmpeg's
//! `check_bitstream`): demuxers hand out each codec's canonical framing, and when a muxer asks
//! for another one (Annex B for TS, ADTS for `.aac`), the packet is converted here.

use crate::dtsc::{Framing, Packet, Track};
use crate::formats::{FormatError, Problem};

/// Converts one track's packets from its framing to the framing a muxer wants.
#[derive(Clone, Debug)]
pub struct Adapter {
    from: Framing,
    to: Framing,
}

impl Adapter {
    /// An adapter from `track.framing` to `to`, or an error if mist cannot convert between them.
    pub fn new(track: &Track, to: Framing) -> Result<Adapter, FormatError> {
        if track.framing != to {
            return Err(FormatError::new(
                "pipeline",
                0,
                Problem::Unsupported(format!(
                    "converting {} track {} from {:?} to {:?}",
                    track.codec.mist_name(),
                    track.id,
                    track.framing,
                    to
                )),
            ));
        }
        Ok(Adapter {
            from: track.framing,
            to,
        })
    }

    /// The track as the muxer will see it (framing changed).
    pub fn track(&self, t: &Track) -> Track {
        let mut t = t.clone();
        t.framing = self.to;
        t
    }

    /// The packet in the target framing.
    pub fn apply(&mut self, p: Packet) -> Result<Packet, FormatError> {
        debug_assert_eq!(self.from, self.to);
        Ok(p)
    }
}
