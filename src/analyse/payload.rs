//! `--validate` checks inside packet payloads, where containers cannot see: every AAC packet's
//! raw data block is walked element by element (`codec::aac::syntax`), so a damaged audio
//! frame is a finding at its container offset even in FLV, MP4, TS or DTSC, whose own
//! structure is intact. (`.aac` files get the same walk, with their CRCs, in `raw`.)

use crate::codec::aac::syntax::{parse_raw_data_block, BlockConfig};
use crate::codec::aac::AudioSpecificConfig;
use crate::dtsc::{Codec, Meta, Packet, TrackId};
use crate::formats::error::Problem;
use crate::formats::Finding;
use crate::io::BitReader;

/// Payload checks for the tracks of one input.
#[derive(Debug, Default)]
pub struct PayloadCheck {
    /// AAC tracks whose raw data can be walked, with what the walk needs.
    aac: Vec<(TrackId, BlockConfig)>,
    /// An "unsupported syntax" note was given already.
    unsupported_noted: bool,
}

impl PayloadCheck {
    /// Checks for the tracks of `meta`.
    pub fn new(meta: &Meta) -> PayloadCheck {
        let mut c = PayloadCheck::default();
        c.update(meta);
        c
    }

    /// Takes a new track list (a track appeared, or its configuration changed).
    pub fn update(&mut self, meta: &Meta) {
        self.aac = meta
            .tracks
            .iter()
            .filter(|t| t.codec == Codec::Aac)
            .filter_map(|t| {
                let asc = AudioSpecificConfig::parse(&t.init, 0).ok()?;
                (asc.sampling_frequency_index <= 12).then_some((
                    t.id,
                    BlockConfig {
                        object_type: asc.object_type,
                        sf_index: asc.sampling_frequency_index,
                    },
                ))
            })
            .collect();
    }

    /// Checks one packet (canonical framing: an AAC packet is one raw data block).
    pub fn check(&mut self, p: &Packet, findings: &mut Vec<Finding>) {
        let Some(&(_, config)) = self.aac.iter().find(|(id, _)| *id == p.track) else {
            return;
        };
        let at = p.pos.unwrap_or(0);
        let mut r = BitReader::new(&p.data, 0, "aac");
        match parse_raw_data_block(&mut r, config) {
            Ok(block) => {
                let bits = p.data.len() * 8;
                if block.end + 8 <= bits {
                    findings.push(Finding::warning(
                        at,
                        format!(
                            "track {}: AAC raw data ends {} bytes before its packet does",
                            p.track,
                            (bits - block.end) / 8
                        ),
                    ));
                }
            }
            Err(e) if matches!(e.problem, Problem::Unsupported(_)) => {
                if !self.unsupported_noted {
                    self.unsupported_noted = true;
                    findings.push(Finding::info(
                        at,
                        format!("track {}: AAC raw data not checked: {}", p.track, e.problem),
                    ));
                }
            }
            Err(e) => findings.push(Finding::error(
                at,
                format!(
                    "track {}: AAC raw data does not parse ({} at byte {} of the packet)",
                    p.track, e.problem, e.offset
                ),
            )),
        }
    }
}
