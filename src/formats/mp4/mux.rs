//! Progressive MP4 muxer (stub).
use crate::formats::{MuxOptions, Muxer as MuxerTrait};
/// A new muxer.
pub fn new(_: &MuxOptions) -> Box<dyn MuxerTrait> {
    todo!()
}
