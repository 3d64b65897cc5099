//! The AAC `raw_data_block()` walked element by element (ISO/IEC 14496-3 4.4.2, 13818-7 8):
//! channel elements are parsed down to their last Huffman codeword so that the next element's
//! start is known, without dequantising anything.
//!
//! What this gives: each element's kind and bit span (the ADTS CRC covers the first bits of
//! each channel element, so checking it needs these spans), the channel count actually
//! carried, and the fill elements' extension types (an SBR payload there is how HE-AAC is
//! signalled implicitly). Covered: AAC Main, LC and LTP; AAC SSR's gain control data is not
//! parsed (an SSR block with gain control is reported as unsupported).

use super::huffman::{codebooks, ESC_FLAG, SPECTRAL_SHAPES};
use super::{object_type, read_pce, tables};
use crate::formats::error::{FormatError, Problem};
use crate::io::BitReader;

/// Syntactic element ids (`id_syn_ele`, 14496-3 Table 4.85).
mod id {
    pub const SCE: u32 = 0;
    pub const CPE: u32 = 1;
    pub const CCE: u32 = 2;
    pub const LFE: u32 = 3;
    pub const DSE: u32 = 4;
    pub const PCE: u32 = 5;
    pub const FIL: u32 = 6;
    // 7 is ID_END.
}

/// `window_sequence` value of eight short windows.
const EIGHT_SHORT_SEQUENCE: u32 = 2;
/// Section codebooks that carry no spectral data (zero, noise, intensity).
const ZERO_HCB: u8 = 0;
const NOISE_HCB: u8 = 13;
const INTENSITY_HCB2: u8 = 14;
const INTENSITY_HCB: u8 = 15;
/// Codebook 12 is reserved.
const RESERVED_HCB: u8 = 12;
/// Long-window LTP reaches at most this many bands (14496-3 4.6.7).
const MAX_LTP_LONG_SFB: u8 = 40;
/// Scalefactor codebook index of a difference of 0.
const SCALEFACTOR_DIFF_ZERO: i64 = 60;
/// Spectral lines of a long window.
const LONG_WINDOW_LINES: u32 = 1024;
/// An escape sequence has at most 8 prefix ones (values up to 8191).
const MAX_ESCAPE_PREFIX: u32 = 8;
/// Fill element extension types for SBR payloads (14496-3 Table 4.121).
pub const EXT_SBR_DATA: u8 = 13;
/// SBR payload with its own CRC.
pub const EXT_SBR_DATA_CRC: u8 = 14;

/// Kinds of syntactic elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementKind {
    /// single_channel_element.
    Sce,
    /// channel_pair_element.
    Cpe,
    /// coupling_channel_element.
    Cce,
    /// lfe_channel_element.
    Lfe,
    /// data_stream_element.
    Dse,
    /// program_config_element.
    Pce,
    /// fill_element.
    Fil,
}

impl ElementKind {
    /// The short name the spec uses.
    pub fn name(self) -> &'static str {
        match self {
            ElementKind::Sce => "SCE",
            ElementKind::Cpe => "CPE",
            ElementKind::Cce => "CCE",
            ElementKind::Lfe => "LFE",
            ElementKind::Dse => "DSE",
            ElementKind::Pce => "PCE",
            ElementKind::Fil => "FIL",
        }
    }
}

/// One element of a raw data block; bit positions count from the reader's first bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// What it is.
    pub kind: ElementKind,
    /// `element_instance_tag` (0 for fill elements, which have none).
    pub tag: u8,
    /// First bit after the 3-bit `id_syn_ele`.
    pub start: usize,
    /// First bit after the element.
    pub end: usize,
    /// In a channel pair: the first bit of the second channel's `individual_channel_stream`.
    pub second_channel: Option<usize>,
    /// In a fill element: `extension_type` of its payload, if it has one.
    pub extension: Option<u8>,
    /// In a fill element: the payload's bit span (from `extension_type` on).
    pub payload: Option<(usize, usize)>,
}

/// A parsed raw data block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawDataBlock {
    /// First bit of the block.
    pub start: usize,
    /// Elements in bitstream order (`ID_END` not included).
    pub elements: Vec<Element>,
    /// First bit after `ID_END` and the byte alignment that follows it.
    pub end: usize,
}

impl RawDataBlock {
    /// Output channels of the channel elements (SCE and LFE one, CPE two).
    pub fn channels(&self) -> u32 {
        self.elements
            .iter()
            .map(|e| match e.kind {
                ElementKind::Sce | ElementKind::Lfe => 1,
                ElementKind::Cpe => 2,
                _ => 0,
            })
            .sum()
    }

    /// True when a fill element carries an SBR payload (implicitly signalled HE-AAC).
    pub fn has_sbr(&self) -> bool {
        self.elements
            .iter()
            .any(|e| matches!(e.extension, Some(EXT_SBR_DATA | EXT_SBR_DATA_CRC)))
    }
}

/// What the block's syntax depends on: the audio object type and sampling frequency index.
#[derive(Clone, Copy, Debug)]
pub struct BlockConfig {
    /// Audio object type (1 Main, 2 LC, 3 SSR, 4 LTP).
    pub object_type: u8,
    /// `sampling_frequency_index` (0..=12).
    pub sf_index: u8,
}

/// Parses one `raw_data_block()` starting at the reader's position, leaving the reader after
/// its byte alignment (counted from where the block started).
pub fn parse_raw_data_block(
    r: &mut BitReader<'_>,
    config: BlockConfig,
) -> Result<RawDataBlock, FormatError> {
    if !matches!(
        config.object_type,
        object_type::MAIN | object_type::LC | object_type::SSR | object_type::LTP
    ) {
        return Err(r.error(Problem::Unsupported(format!(
            "raw_data_block of audio object type {}",
            config.object_type
        ))));
    }
    if usize::from(config.sf_index) >= tables::SWB_OFFSET_LONG.len() {
        return Err(r.bad_value("sampling_frequency_index", u64::from(config.sf_index)));
    }
    let block_start = r.bit_position();
    let mut elements = Vec::new();
    loop {
        let kind = r.read_bits(3, "id_syn_ele")?;
        let start = r.bit_position();
        let mut element = Element {
            kind: ElementKind::Fil,
            tag: 0,
            start,
            end: start,
            second_channel: None,
            extension: None,
            payload: None,
        };
        match kind {
            id::SCE | id::LFE => {
                element.kind = if kind == id::SCE {
                    ElementKind::Sce
                } else {
                    ElementKind::Lfe
                };
                element.tag = r.read_bits(4, "element_instance_tag")? as u8;
                individual_channel_stream(r, config, None)?;
            }
            id::CPE => {
                element.kind = ElementKind::Cpe;
                element.tag = r.read_bits(4, "element_instance_tag")? as u8;
                element.second_channel = Some(channel_pair(r, config)?);
            }
            id::CCE => {
                element.kind = ElementKind::Cce;
                element.tag = r.read_bits(4, "element_instance_tag")? as u8;
                coupling_channel(r, config)?;
            }
            id::DSE => {
                element.kind = ElementKind::Dse;
                element.tag = r.read_bits(4, "element_instance_tag")? as u8;
                let align = r.read_bit("data_byte_align_flag")?;
                let mut count = r.read_bits(8, "count")? as usize;
                if count == 255 {
                    count += r.read_bits(8, "esc_count")? as usize;
                }
                if align {
                    align_from(r, block_start, "data_stream_byte")?;
                }
                r.skip(count * 8, "data_stream_byte")?;
            }
            id::PCE => {
                element.kind = ElementKind::Pce;
                element.tag = r.clone().read_bits(4, "element_instance_tag")? as u8;
                // Its byte alignment counts from the reader's first bit, where every block
                // starts: containers and ADTS frames both begin raw data on a byte.
                read_pce(r)?;
            }
            id::FIL => {
                let mut count = r.read_bits(4, "count")? as usize;
                if count == 15 {
                    count += r.read_bits(8, "esc_count")? as usize;
                    count -= 1;
                }
                let payload_start = r.bit_position();
                if count > 0 {
                    element.extension = Some(r.read_bits(4, "extension_type")? as u8);
                    r.skip(count * 8 - 4, "extension_payload")?;
                }
                element.payload = Some((payload_start, r.bit_position()));
            }
            _ => {
                // ID_END, the only id left in 3 bits.
                align_from(r, block_start, "byte_alignment")?;
                return Ok(RawDataBlock {
                    start: block_start,
                    elements,
                    end: r.bit_position(),
                });
            }
        }
        element.end = r.bit_position();
        elements.push(element);
    }
}

/// Skips to the next byte boundary counted from `anchor` (a bit position).
fn align_from(
    r: &mut BitReader<'_>,
    anchor: usize,
    field: &'static str,
) -> Result<(), FormatError> {
    let used = (r.bit_position() - anchor) % 8;
    if used != 0 {
        r.skip(8 - used, field)?;
    }
    Ok(())
}

/// `ics_info()`: window shape, bands in use and grouping.
#[derive(Clone, Copy, Debug)]
struct IcsInfo {
    short: bool,
    max_sfb: u8,
    groups: usize,
    group_len: [u8; 8],
}

impl IcsInfo {
    /// Band offsets of one window for this window shape.
    fn offsets(&self, config: BlockConfig) -> &'static [u16] {
        let i = usize::from(config.sf_index);
        if self.short {
            tables::SWB_OFFSET_SHORT[i]
        } else {
            tables::SWB_OFFSET_LONG[i]
        }
    }
}

fn ics_info(
    r: &mut BitReader<'_>,
    config: BlockConfig,
    common_window: bool,
) -> Result<IcsInfo, FormatError> {
    if r.read_bit("ics_reserved_bit")? {
        return Err(r.invalid("ics_reserved_bit is set"));
    }
    let window_sequence = r.read_bits(2, "window_sequence")?;
    r.read_bit("window_shape")?;
    let mut info = IcsInfo {
        short: window_sequence == EIGHT_SHORT_SEQUENCE,
        max_sfb: 0,
        groups: 1,
        group_len: [1, 0, 0, 0, 0, 0, 0, 0],
    };
    if info.short {
        info.max_sfb = r.read_bits(4, "max_sfb")? as u8;
        let grouping = r.read_bits(7, "scale_factor_grouping")?;
        for bit in (0..7).rev() {
            if grouping >> bit & 1 == 1 {
                info.group_len[info.groups - 1] += 1;
            } else {
                info.group_len[info.groups] = 1;
                info.groups += 1;
            }
        }
    } else {
        info.max_sfb = r.read_bits(6, "max_sfb")? as u8;
        if r.read_bit("predictor_data_present")? {
            match config.object_type {
                object_type::MAIN => {
                    if r.read_bit("predictor_reset")? {
                        r.read_bits(5, "predictor_reset_group_number")?;
                    }
                    let bands = info
                        .max_sfb
                        .min(tables::PRED_SFB_MAX[usize::from(config.sf_index)]);
                    r.skip(usize::from(bands), "prediction_used")?;
                }
                object_type::LTP => {
                    if r.read_bit("ltp_data_present")? {
                        ltp_data(r, info.max_sfb)?;
                    }
                    if common_window && r.read_bit("ltp_data_present")? {
                        ltp_data(r, info.max_sfb)?;
                    }
                }
                _ => return Err(r.invalid("predictor_data_present in an AAC LC/SSR stream")),
            }
        }
    }
    let bands = info.offsets(config).len() - 1;
    if usize::from(info.max_sfb) > bands {
        return Err(r.bad_value("max_sfb", u64::from(info.max_sfb)));
    }
    Ok(info)
}

/// `ltp_data()` of a long window.
fn ltp_data(r: &mut BitReader<'_>, max_sfb: u8) -> Result<(), FormatError> {
    r.read_bits(11, "ltp_lag")?;
    r.read_bits(3, "ltp_coef")?;
    r.skip(usize::from(max_sfb.min(MAX_LTP_LONG_SFB)), "ltp_long_used")
}

/// A section: one codebook over bands `start..end` of window group `group`.
#[derive(Clone, Copy, Debug)]
struct Section {
    group: usize,
    codebook: u8,
    start: u8,
    end: u8,
}

/// Parses `channel_pair_element()` after its tag; returns where the second channel starts.
fn channel_pair(r: &mut BitReader<'_>, config: BlockConfig) -> Result<usize, FormatError> {
    let common = if r.read_bit("common_window")? {
        let info = ics_info(r, config, true)?;
        match r.read_bits(2, "ms_mask_present")? {
            1 => r.skip(info.groups * usize::from(info.max_sfb), "ms_used")?,
            3 => return Err(r.bad_value("ms_mask_present", 3)),
            _ => {}
        }
        Some(info)
    } else {
        None
    };
    individual_channel_stream(r, config, common)?;
    let second = r.bit_position();
    individual_channel_stream(r, config, common)?;
    Ok(second)
}

/// Parses `individual_channel_stream()`; `common` is the shared `ics_info` of a common
/// window channel pair.
fn individual_channel_stream(
    r: &mut BitReader<'_>,
    config: BlockConfig,
    common: Option<IcsInfo>,
) -> Result<(IcsInfo, Vec<u8>), FormatError> {
    let global_gain = r.read_bits(8, "global_gain")?;
    let info = match common {
        Some(info) => info,
        None => ics_info(r, config, false)?,
    };
    let (sections, band_codebooks) = section_data(r, &info)?;
    scale_factor_data(r, &info, &band_codebooks, global_gain)?;
    if r.read_bit("pulse_data_present")? {
        pulse_data(r, config, &info)?;
    }
    if r.read_bit("tns_data_present")? {
        tns_data(r, config, &info)?;
    }
    if r.read_bit("gain_control_data_present")? {
        if config.object_type != object_type::SSR {
            return Err(r.invalid("gain_control_data_present outside AAC SSR"));
        }
        return Err(r.error(Problem::Unsupported("AAC SSR gain_control_data".into())));
    }
    spectral_data(r, config, &info, &sections)?;
    Ok((info, band_codebooks))
}

/// `section_data()`: which codebook codes each band, per window group. Returns the sections
/// and the codebook of every (group, band), group-major.
fn section_data(
    r: &mut BitReader<'_>,
    info: &IcsInfo,
) -> Result<(Vec<Section>, Vec<u8>), FormatError> {
    let len_bits = if info.short { 3 } else { 5 };
    let escape = (1u32 << len_bits) - 1;
    let max_sfb = usize::from(info.max_sfb);
    let mut sections = Vec::new();
    let mut band_codebooks = vec![ZERO_HCB; info.groups * max_sfb];
    for group in 0..info.groups {
        let mut band = 0usize;
        while band < max_sfb {
            let codebook = r.read_bits(4, "sect_cb")? as u8;
            if codebook == RESERVED_HCB {
                return Err(r.bad_value("sect_cb", u64::from(codebook)));
            }
            let mut len = 0usize;
            loop {
                let incr = r.read_bits(len_bits, "sect_len_incr")?;
                len += incr as usize;
                if incr != escape {
                    break;
                }
            }
            let end = band + len;
            if end > max_sfb {
                return Err(r.invalid(format_args!(
                    "section ends at band {end}, past max_sfb {max_sfb}"
                )));
            }
            band_codebooks[group * max_sfb + band..group * max_sfb + end].fill(codebook);
            sections.push(Section {
                group,
                codebook,
                start: band as u8,
                end: end as u8,
            });
            band = end;
        }
    }
    Ok((sections, band_codebooks))
}

/// `scale_factor_data()`: one codeword per band that has data (a 9-bit PCM value for the
/// first noise band).
fn scale_factor_data(
    r: &mut BitReader<'_>,
    info: &IcsInfo,
    band_codebooks: &[u8],
    global_gain: u32,
) -> Result<(), FormatError> {
    let sf = &codebooks()[0];
    let mut noise_pcm = true;
    // Spectral scalefactors run from global_gain by differences and stay within 0..=255
    // (14496-3 4.6.2.3.2); decoders reject a frame that leaves the range (ffmpeg: "Scalefactor
    // out of range"). Noise energies and intensity positions have their own, unchecked runs.
    let mut scalefactor = i64::from(global_gain);
    for &codebook in &band_codebooks[..info.groups * usize::from(info.max_sfb)] {
        match codebook {
            ZERO_HCB => {}
            NOISE_HCB if noise_pcm => {
                noise_pcm = false;
                r.read_bits(9, "dpcm_noise_nrg")?;
            }
            NOISE_HCB | INTENSITY_HCB | INTENSITY_HCB2 => {
                sf.decode(r, "hcod_sf")?;
            }
            _ => {
                scalefactor += sf.decode(r, "hcod_sf")? as i64 - SCALEFACTOR_DIFF_ZERO;
                if !(0..=255).contains(&scalefactor) {
                    return Err(
                        r.invalid(format_args!("scalefactor {scalefactor} outside 0..=255"))
                    );
                }
            }
        }
    }
    Ok(())
}

/// `pulse_data()`: not allowed with short windows, and every pulse must land in the frame's
/// 1024 spectral lines (14496-3 4.6.3.2).
fn pulse_data(
    r: &mut BitReader<'_>,
    config: BlockConfig,
    info: &IcsInfo,
) -> Result<(), FormatError> {
    if info.short {
        return Err(r.invalid("pulse data in an eight-short-window frame"));
    }
    let pulses = r.read_bits(2, "number_pulse")? + 1;
    let start = r.read_bits(6, "pulse_start_sfb")? as usize;
    let offsets = info.offsets(config);
    let Some(&first) = offsets.get(start).filter(|_| start + 1 < offsets.len()) else {
        return Err(r.bad_value("pulse_start_sfb", start as u64));
    };
    let mut line = u32::from(first);
    for _ in 0..pulses {
        line += r.read_bits(5, "pulse_offset")?;
        r.read_bits(4, "pulse_amp")?;
        if line >= LONG_WINDOW_LINES {
            return Err(r.invalid(format_args!("pulse at spectral line {line}, past 1023")));
        }
    }
    Ok(())
}

/// `tns_data()`: filters per window.
fn tns_data(r: &mut BitReader<'_>, config: BlockConfig, info: &IcsInfo) -> Result<(), FormatError> {
    let (windows, filt_bits, length_bits, order_bits) = if info.short {
        (8, 1, 4, 3)
    } else {
        (1, 2, 6, 5)
    };
    // TNS_MAX_ORDER (14496-3 4.6.9.3): 7 for short windows, else 20 in AAC Main and 12 in
    // the other profiles; the 5-bit field can say more, decoders reject it.
    let max_order = match (info.short, config.object_type) {
        (true, _) => 7,
        (false, object_type::MAIN) => 20,
        (false, _) => 12,
    };
    for _ in 0..windows {
        let filters = r.read_bits(filt_bits, "n_filt")?;
        if filters == 0 {
            continue;
        }
        let coef_res = r.read_bits(1, "coef_res")?;
        for _ in 0..filters {
            r.read_bits(length_bits, "length")?;
            let order = r.read_bits(order_bits, "order")? as usize;
            if order > max_order {
                return Err(r.invalid(format_args!(
                    "TNS filter order {order} above the maximum {max_order}"
                )));
            }
            if order > 0 {
                r.read_bit("direction")?;
                let compress = r.read_bits(1, "coef_compress")?;
                let coef_bits = (3 + coef_res - compress) as usize;
                r.skip(order * coef_bits, "coef")?;
            }
        }
    }
    Ok(())
}

/// `spectral_data()`: Huffman codewords, sign bits and escapes of every section with data.
fn spectral_data(
    r: &mut BitReader<'_>,
    config: BlockConfig,
    info: &IcsInfo,
    sections: &[Section],
) -> Result<(), FormatError> {
    let offsets = info.offsets(config);
    let books = codebooks();
    for s in sections {
        if matches!(
            s.codebook,
            ZERO_HCB | NOISE_HCB | INTENSITY_HCB | INTENSITY_HCB2
        ) {
            continue;
        }
        let cb = usize::from(s.codebook);
        let shape = SPECTRAL_SHAPES[cb - 1];
        let width = usize::from(offsets[usize::from(s.end)] - offsets[usize::from(s.start)]);
        let coefficients = width * usize::from(info.group_len[s.group]);
        for _ in 0..coefficients / shape.dim {
            let index = books[cb].decode(r, "hcod")?;
            if !shape.unsigned {
                continue;
            }
            let mut rest = index;
            let mut values = [0usize; 4];
            for v in values[..shape.dim].iter_mut().rev() {
                *v = rest % shape.modulo;
                rest /= shape.modulo;
            }
            let values = &values[..shape.dim];
            let signs = values.iter().filter(|&&v| v != 0).count();
            r.skip(signs, "sign_bits")?;
            if cb == 11 {
                for _ in values.iter().filter(|&&v| v == ESC_FLAG) {
                    escape_sequence(r)?;
                }
            }
        }
    }
    Ok(())
}

/// `hcod_esc`: N ones, a zero, then an (N + 4)-bit word.
fn escape_sequence(r: &mut BitReader<'_>) -> Result<(), FormatError> {
    let mut prefix = 0u32;
    while r.read_bit("escape_prefix")? {
        prefix += 1;
        if prefix > MAX_ESCAPE_PREFIX {
            return Err(r.invalid("escape sequence longer than 8 prefix bits"));
        }
    }
    r.read_bits(prefix + 4, "escape_word")?;
    Ok(())
}

/// `coupling_channel_element()` after its tag.
fn coupling_channel(r: &mut BitReader<'_>, config: BlockConfig) -> Result<(), FormatError> {
    let ind_sw = r.read_bit("ind_sw_cce_flag")?;
    let coupled = r.read_bits(3, "num_coupled_elements")? + 1;
    let mut gain_lists = 0;
    for _ in 0..coupled {
        gain_lists += 1;
        let is_cpe = r.read_bit("cc_target_is_cpe")?;
        r.read_bits(4, "cc_target_tag_select")?;
        if is_cpe {
            let left = r.read_bit("cc_l")?;
            let right = r.read_bit("cc_r")?;
            if left && right {
                gain_lists += 1;
            }
        }
    }
    r.read_bit("cc_domain")?;
    r.read_bit("gain_element_sign")?;
    r.read_bits(2, "gain_element_scale")?;
    // The coupled channel's own stream; its bands shape the gain element lists.
    let (_, band_codebooks) = individual_channel_stream(r, config, None)?;
    let sf = &codebooks()[0];
    for _ in 1..gain_lists {
        let common_gain = ind_sw || r.read_bit("common_gain_element_present")?;
        if common_gain {
            sf.decode(r, "hcod_sf")?;
        } else {
            for &codebook in &band_codebooks {
                if codebook != ZERO_HCB {
                    sf.decode(r, "hcod_sf")?;
                }
            }
        }
    }
    Ok(())
}
