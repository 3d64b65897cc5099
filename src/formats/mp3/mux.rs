//! The MP3 muxer: frames written as they come (each packet is a whole frame with its
//! header), no tags.

use crate::dtsc::{Codec, Framing, Meta, Packet};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{Finish, MuxCaps, MuxOptions, Muxer as MuxerTrait};
use crate::io::ByteSink;

/// What the MP3 muxer takes: MP3 frames, raw (with their own headers).
pub const CAPS: MuxCaps = MuxCaps {
    live: true,
    needs_index: false,
    framing: |c| (*c == Codec::Mp3).then_some(Framing::Raw),
    negative_times: false,
};

/// Writes an MP3 elementary stream.
#[derive(Default)]
pub struct Muxer {
    track: Option<crate::dtsc::TrackId>,
}

/// A new MP3 muxer (the format table's `muxer`).
pub fn new(_: &MuxOptions) -> Box<dyn MuxerTrait> {
    Box::new(Muxer::default())
}

impl MuxerTrait for Muxer {
    fn start(&mut self, meta: &Meta, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        let mut mp3 = meta.tracks.iter().filter(|t| t.codec == Codec::Mp3);
        let Some(t) = mp3.next() else {
            return Err(FormatError::new(
                "mp3",
                0,
                Problem::Unsupported("an MP3 output without an MP3 track".into()),
            ));
        };
        if mp3.next().is_some() {
            return Err(FormatError::new(
                "mp3",
                0,
                Problem::Unsupported("more than one track in an MP3 output".into()),
            ));
        }
        self.track = Some(t.id);
        // The source's ID3v2 tag goes first, as it came (the pipeline leaves it out with
        // --strip-tags). Only a tag that starts like one is written.
        if let Some(tag) = meta.tags.as_ref().filter(|t| t.starts_with(b"ID3")) {
            out.put(tag).map_err(|e| FormatError::io("mp3", 0, e))?;
        }
        Ok(())
    }

    fn write(&mut self, pkt: &Packet, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        if Some(pkt.track) != self.track {
            return Ok(());
        }
        let at = out.position();
        out.put_shared(pkt.data.clone())
            .map_err(|e| FormatError::io("mp3", at, e))
    }

    fn finish(&mut self, _: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        Ok(Finish::default())
    }
}
