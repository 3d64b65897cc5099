//! One ADTS frame taken apart: its raw data blocks walked element by element, and its
//! `crc_check` values verified (ISO/IEC 13818-7 6.2 / 14496-3 1.A.3.2.1).
//!
//! The CRC is CRC-16 with generator x^16 + x^15 + x^2 + 1, preset to all ones, fed most
//! significant bit first. With one raw data block per frame it covers the 56 header bits and,
//! of the raw data block, every program config and data stream element in full, the first
//! 192 bits of every channel element (SCE, LFE, CCE, CPE; counted after `id_syn_ele`, zero
//! padded when the element is shorter) and the first 128 bits of a channel pair's second
//! channel stream. Fill elements are not covered. With several blocks, the header's CRC covers
//! the header and the block positions, and each block is followed by its own CRC.

use super::sbr::SbrParser;
use super::syntax::{
    parse_raw_data_block, BlockConfig, ElementKind, RawDataBlock, EXT_SBR_DATA, EXT_SBR_DATA_CRC,
};
use super::{
    read_pce, sampling_frequency_index, AdtsHeader, AudioSpecificConfig, ProgramConfig,
    SbrSignalling,
};
use crate::formats::error::FormatError;
use crate::io::BitReader;

/// Bits of a channel element a CRC covers.
const CHANNEL_ELEMENT_CRC_BITS: usize = 192;
/// Bits of a channel pair's second channel stream a CRC covers.
const SECOND_CHANNEL_CRC_BITS: usize = 128;
/// Bits of the fixed and variable ADTS header.
const HEADER_BITS: usize = 56;

/// What the frame's CRC check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrcStatus {
    /// `protection_absent` is set: nothing to check.
    Absent,
    /// Every `crc_check` matched.
    Match,
    /// A `crc_check` did not match the data.
    Mismatch {
        /// Which check: `None` for the header's, `Some(i)` for raw data block `i`'s.
        block: Option<usize>,
        /// The value stored in the frame.
        stored: u16,
        /// The value computed from the frame.
        computed: u16,
    },
}

/// An ADTS frame's raw data blocks and CRC result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdtsFrame {
    /// The raw data blocks, bit positions counted from the frame's first byte.
    pub blocks: Vec<RawDataBlock>,
    /// The CRC check.
    pub crc: CrcStatus,
    /// First bit after the last block (and its `crc_check`, when blocks carry their own).
    pub end: usize,
}

impl AdtsFrame {
    /// Parses the raw data blocks of `frame` (the whole frame, header included, whose first
    /// byte is at absolute offset `offset`) and checks its CRCs.
    pub fn parse(frame: &[u8], header: &AdtsHeader, offset: u64) -> Result<AdtsFrame, FormatError> {
        let config = BlockConfig {
            object_type: header.profile + 1,
            sf_index: header.sampling_frequency_index,
        };
        let end = usize::from(header.frame_length).min(frame.len());
        let mut r = BitReader::new(&frame[..end], offset, "aac");
        r.skip(header.header_len() * 8, "adts header")?;
        let blocks_in_frame = usize::from(header.number_of_raw_data_blocks) + 1;
        let mut blocks = Vec::with_capacity(blocks_in_frame);
        let mut crc = if header.protection_absent {
            CrcStatus::Absent
        } else {
            CrcStatus::Match
        };
        if let (Some(stored), true) = (header.crc, blocks_in_frame > 1) {
            let header_bits = HEADER_BITS + 16 * (blocks_in_frame - 1);
            let computed = crc16(&frame[..end], &[(0, header_bits, header_bits)]);
            if computed != stored {
                crc = CrcStatus::Mismatch {
                    block: None,
                    stored,
                    computed,
                };
            }
        }
        for index in 0..blocks_in_frame {
            let block = parse_raw_data_block(&mut r, config)?;
            if let Some(stored_header_crc) = header.crc {
                let mut regions = Vec::new();
                if blocks_in_frame == 1 {
                    regions.push((0, HEADER_BITS, HEADER_BITS));
                }
                regions.extend(covered_regions(&block));
                let computed = crc16(&frame[..end], &regions);
                let stored = if blocks_in_frame == 1 {
                    stored_header_crc
                } else {
                    r.read_bits(16, "adts_raw_data_block_error_check")? as u16
                };
                if computed != stored && crc == CrcStatus::Match {
                    crc = CrcStatus::Mismatch {
                        block: (blocks_in_frame > 1).then_some(index),
                        stored,
                        computed,
                    };
                }
            }
            blocks.push(block);
        }
        Ok(AdtsFrame {
            blocks,
            crc,
            end: r.bit_position(),
        })
    }

    /// Output channels of the first block's channel elements.
    pub fn channels(&self) -> u32 {
        self.blocks.first().map_or(0, RawDataBlock::channels)
    }

    /// Byte ranges of the raw data blocks within the frame (each block ends byte-aligned;
    /// a block's own CRC, when it has one, is not included).
    pub fn block_ranges(&self) -> Vec<std::ops::Range<usize>> {
        self.blocks.iter().map(|b| b.start / 8..b.end / 8).collect()
    }

    /// True when a block carries an SBR payload.
    pub fn has_sbr(&self) -> bool {
        self.blocks.iter().any(RawDataBlock::has_sbr)
    }
}

/// The AudioSpecificConfig of an ADTS stream from its first frame (header included): the
/// header's, with SBR made explicit (hierarchical: object type 5 over the core, at twice the
/// core rate) when the first raw data block carries an SBR fill payload. ADTS signals HE-AAC
/// only implicitly, inside the raw data; containers with a config record say it outright, as
/// MP4Box and fdk-aac write it.
pub fn config_of(first: &AdtsHeader, frame: &[u8]) -> AudioSpecificConfig {
    let mut asc = first.to_asc();
    if let Ok(parsed) = AdtsFrame::parse(frame, first, 0) {
        if let Some(block) = parsed.blocks.first() {
            if asc.channel_configuration == 0 {
                asc.pce = pce_in_block(frame, block);
            }
            if let Some(ps) = sbr_in_block(frame, block, asc.sampling_frequency) {
                make_sbr_explicit(&mut asc, ps);
            }
        }
    }
    asc
}

/// The program config element of a raw data block, which channel configuration 0 puts in
/// the frame (as `aac_adtstoasc` expects it, and carries it over into the config).
fn pce_in_block(frame: &[u8], block: &RawDataBlock) -> Option<ProgramConfig> {
    let e = block.elements.iter().find(|e| e.kind == ElementKind::Pce)?;
    let mut r = BitReader::new(frame, 0, "aac");
    r.skip(e.start, "raw data").ok()?;
    read_pce(&mut r).ok()
}

/// The explicit HE-AAC config for a track whose config record (`asc`) signals no SBR but
/// whose first raw data block (`first_block`, one container packet) carries an SBR fill
/// payload: how ffmpeg's ADTS-to-MP4/FLV remux leaves HE-AAC, which decoders (and ffprobe)
/// find only by decoding. `None` when the record already says, or the block shows no SBR.
pub fn implicit_sbr_config(asc: &[u8], first_block: &[u8]) -> Option<AudioSpecificConfig> {
    let mut config = AudioSpecificConfig::parse(asc, 0).ok()?;
    if config.sbr != SbrSignalling::None || config.sampling_frequency_index > 12 {
        return None;
    }
    let block_config = BlockConfig {
        object_type: config.object_type,
        sf_index: config.sampling_frequency_index,
    };
    let mut r = BitReader::new(first_block, 0, "aac");
    let block = parse_raw_data_block(&mut r, block_config).ok()?;
    let ps = sbr_in_block(first_block, &block, config.sampling_frequency)?;
    make_sbr_explicit(&mut config, ps);
    Some(config)
}

/// Whether a raw data block carries SBR (`Some`) and, if so, parametric stereo (`Some(true)`):
/// PS rides inside the SBR payload of a mono stream, so the payload is parsed. A payload that
/// does not parse (or comes before any SBR header) counts as SBR without PS.
fn sbr_in_block(data: &[u8], block: &RawDataBlock, core_rate: u32) -> Option<bool> {
    let mut sbr = false;
    let mut ps = false;
    let mut parser = SbrParser::new(core_rate);
    let mut previous = None;
    for e in &block.elements {
        match (e.kind, e.extension, e.payload) {
            (ElementKind::Fil, Some(EXT_SBR_DATA | EXT_SBR_DATA_CRC), Some(span)) => {
                sbr = true;
                let pair = previous == Some(ElementKind::Cpe);
                ps |= parser.parse_payload(data, 0, span, pair).unwrap_or(false);
            }
            (ElementKind::Fil, _, _) => {}
            (kind, _, _) => previous = Some(kind),
        }
    }
    sbr.then_some(ps)
}

/// Signals SBR (and PS when `ps`) hierarchically, object type 5 (29) over the core, at twice
/// the core rate.
fn make_sbr_explicit(asc: &mut AudioSpecificConfig, ps: bool) {
    let rate = asc.sampling_frequency.saturating_mul(2);
    asc.sbr = SbrSignalling::Hierarchical { ps };
    asc.extension_sampling_frequency_index = Some(sampling_frequency_index(rate).unwrap_or(15));
    asc.extension_sampling_frequency = Some(rate);
}

/// The (start bit, bits present, bits covered) regions a block's CRC covers, in the order the
/// checksum takes them.
fn covered_regions(block: &RawDataBlock) -> Vec<(usize, usize, usize)> {
    let mut regions = Vec::new();
    for e in &block.elements {
        let len = e.end - e.start;
        match e.kind {
            ElementKind::Sce | ElementKind::Lfe | ElementKind::Cce | ElementKind::Cpe => {
                regions.push((
                    e.start,
                    len.min(CHANNEL_ELEMENT_CRC_BITS),
                    CHANNEL_ELEMENT_CRC_BITS,
                ));
                if let Some(second) = e.second_channel {
                    let len = e.end - second;
                    regions.push((
                        second,
                        len.min(SECOND_CHANNEL_CRC_BITS),
                        SECOND_CHANNEL_CRC_BITS,
                    ));
                }
            }
            ElementKind::Pce | ElementKind::Dse => regions.push((e.start, len, len)),
            ElementKind::Fil => {}
        }
    }
    regions
}

/// CRC-16 (x^16 + x^15 + x^2 + 1, preset 0xFFFF) over bit regions of `data`: each region
/// takes `present` bits from `start`, then zero bits up to `covered`.
fn crc16(data: &[u8], regions: &[(usize, usize, usize)]) -> u16 {
    let mut crc: u16 = 0xffff;
    let mut feed = |bit: u16| {
        let top = crc >> 15;
        crc <<= 1;
        if top ^ bit == 1 {
            crc ^= 0x8005;
        }
    };
    for &(start, present, covered) in regions {
        for i in start..start + present {
            let byte = data.get(i / 8).copied().unwrap_or(0);
            feed(u16::from(byte >> (7 - i % 8) & 1));
        }
        for _ in present..covered {
            feed(0);
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_check_value_of_its_parameters() {
        // CRC-16 with polynomial 0x8005, init 0xFFFF, no reflection, no final xor is the
        // catalogued "CRC-16/CMS": its check value over ASCII "123456789" is 0xAEE7.
        let data = b"123456789";
        assert_eq!(crc16(data, &[(0, 72, 72)]), 0xaee7);
        // Zero padding is the same as feeding zero bytes.
        let padded = b"123456789\0\0";
        assert_eq!(crc16(data, &[(0, 72, 88)]), crc16(padded, &[(0, 88, 88)]));
    }
}
