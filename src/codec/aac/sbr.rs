//! SBR payloads of fill elements (`sbr_extension_data()`, ISO/IEC 14496-3 4.4.2.8, semantics
//! 4.5.2.8 and 4.6.18), parsed down to their last bit so that what follows `sbr_data()` can be
//! read: `bs_extended_data`, where parametric stereo (HE-AAC v2) is signalled.
//!
//! Nothing is dequantised. What the syntax needs is the number of envelope and noise floor
//! values per channel, and those come from the frequency band tables that the last
//! `sbr_header()` defines together with the SBR sampling rate (4.6.18.3). A header is sent only
//! now and then, so [`SbrParser`] keeps the last one between frames, as decoders do.
//!
//! Not covered: the 10-bit `bs_sbr_crc_bits` of `EXT_SBR_DATA_CRC` payloads is read, not
//! checked; `ps_data()` is not parsed (its presence is known from `bs_extension_id`, and
//! `bs_extension_size` bounds it); envelope and noise values are not accumulated, so the range
//! checks decoders make on them are not made; the HF patch construction is not checked.

use std::sync::OnceLock;

use super::huffman::Codebook;
use super::sbr_tables as t;
use super::syntax::{EXT_SBR_DATA, EXT_SBR_DATA_CRC};
use crate::formats::error::FormatError;
use crate::io::BitReader;

/// Format name on errors.
const FORMAT: &str = "aac sbr";
/// `bs_extension_id` of parametric stereo data (`EXTENSION_ID_PS`).
pub const EXTENSION_ID_PS: u8 = 2;
/// SBR time slots of a 1024-sample core frame (`numTimeSlots`); ADTS frames are never 960.
const NUM_TIME_SLOTS: i32 = 16;
/// Most envelopes a `FIXFIX` frame may have (4.6.18.3.3 requirements).
const MAX_FIXFIX_ENVELOPES: usize = 4;
/// Most envelopes of any SBR frame (`VARVAR` with 3 + 1 + 1 is the largest allowed).
const MAX_ENVELOPES: usize = 5;
/// Most noise floor bands (`N_Q`, 4.6.18.3.6 requirements).
const MAX_NOISE_BANDS: usize = 5;
/// QMF subbands of the SBR filter bank.
const QMF_SUBBANDS: i32 = 64;
/// Highest `kx`, the first SBR subband (4.6.18.3.6 requirements).
const MAX_KX: i32 = 32;
/// Fill bits after `sbr_data()` must be fewer than this: the FIL element's byte count is the
/// payload rounded up. The reference decoder (Fraunhofer's) drops an SBR frame with more left.
const MAX_FILL_BITS: usize = 8;

/// Frame classes of `sbr_grid()`.
mod class {
    pub const FIXFIX: u32 = 0;
    pub const FIXVAR: u32 = 1;
    pub const VARFIX: u32 = 2;
    // 3 is VARVAR.
}

/// The fields of an `sbr_header()` that decide how later payloads parse; absent
/// optional fields hold their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SbrHeader {
    /// `bs_amp_res`: true for 3.0 dB envelope steps, false for 1.5 dB.
    pub amp_res: bool,
    /// `bs_start_freq` (0..=15).
    pub start_freq: u8,
    /// `bs_stop_freq` (0..=15).
    pub stop_freq: u8,
    /// `bs_xover_band` (0..=7).
    pub xover_band: u8,
    /// `bs_freq_scale` (0..=3, default 2).
    pub freq_scale: u8,
    /// `bs_alter_scale` (default true).
    pub alter_scale: bool,
    /// `bs_noise_bands` (0..=3, default 2).
    pub noise_bands: u8,
}

/// The frequency band tables a header defines at an SBR rate, as far as the syntax needs them
/// (14496-3 4.6.18.3.2–4.6.18.3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SbrBands {
    /// `f_master`: the master band table's QMF subband borders (`N_master` + 1 of them).
    pub master: Vec<u8>,
    /// `kx`: the first QMF subband SBR fills.
    pub kx: u8,
    /// `N_high`: bands of the high frequency resolution table.
    pub high: usize,
    /// `N_low`: bands of the low frequency resolution table.
    pub low: usize,
    /// `N_Q`: noise floor bands.
    pub noise: usize,
}

/// What one SBR payload held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SbrPayload {
    /// `extension_type`: 13 (`EXT_SBR_DATA`) or 14 (`EXT_SBR_DATA_CRC`).
    pub extension_type: u8,
    /// `bs_sbr_crc_bits` of an `EXT_SBR_DATA_CRC` payload (not checked).
    pub crc: Option<u16>,
    /// True when the payload carried an `sbr_header()`.
    pub header: bool,
    /// The first `bs_extension_id` of `bs_extended_data`, when it has one.
    pub extension_id: Option<u8>,
    /// First bit after `sbr_data()`, counted like the span (fill bits follow up to its end).
    pub end: usize,
}

impl SbrPayload {
    /// True when `bs_extended_data` starts with parametric stereo data.
    pub fn parametric_stereo(&self) -> bool {
        self.extension_id == Some(EXTENSION_ID_PS)
    }
}

/// Parses SBR fill payloads of one stream, keeping the last sbr_header between frames.
#[derive(Clone, Debug)]
pub struct SbrParser {
    /// SBR output rate: twice the core rate (ADTS signals SBR implicitly, never downsampled).
    sbr_rate: u32,
    /// The last valid header and its band tables; `None` before one (or after a bad one).
    state: Option<(SbrHeader, SbrBands)>,
}

impl SbrParser {
    /// A parser for a stream whose AAC core runs at `core_sampling_frequency` Hz.
    pub fn new(core_sampling_frequency: u32) -> Self {
        SbrParser {
            sbr_rate: core_sampling_frequency.saturating_mul(2),
            state: None,
        }
    }

    /// The header in force and its band tables, once one has been seen.
    pub fn header(&self) -> Option<(&SbrHeader, &SbrBands)> {
        self.state.as_ref().map(|(h, b)| (h, b))
    }

    /// Parses one SBR payload and says whether it carries parametric stereo.
    ///
    /// `data` is the whole frame, `base` its absolute offset, `span` a FIL element's payload
    /// span (starting at its 4-bit extension_type, which must be 13 or 14); `pair` is true
    /// when the element the payload extends is a CPE. A payload before any sbr_header has been
    /// seen gives `Ok(false)` without error (decoders skip it too).
    pub fn parse_payload(
        &mut self,
        data: &[u8],
        base: u64,
        span: (usize, usize),
        pair: bool,
    ) -> Result<bool, FormatError> {
        Ok(self
            .parse_payload_detail(data, base, span, pair)?
            .is_some_and(|p| p.parametric_stereo()))
    }

    /// Like [`parse_payload`](Self::parse_payload), returning what the payload held, or `None`
    /// for a payload skipped because no header has been seen yet.
    pub fn parse_payload_detail(
        &mut self,
        data: &[u8],
        base: u64,
        span: (usize, usize),
        pair: bool,
    ) -> Result<Option<SbrPayload>, FormatError> {
        let (start, end) = span;
        // The reader stops within 7 bits of the span's end, so a desynchronised parse fails
        // near where it went wrong instead of wandering through the rest of the frame.
        let limit = end.div_ceil(8).min(data.len());
        let mut r = BitReader::new(&data[..limit], base, FORMAT);
        if start > end {
            return Err(r.invalid(format_args!("payload span {start}..{end} is reversed")));
        }
        r.skip(start, "fill element")?;
        let extension_type = r.read_bits(4, "extension_type")? as u8;
        let crc = match extension_type {
            EXT_SBR_DATA => None,
            EXT_SBR_DATA_CRC => Some(r.read_bits(10, "bs_sbr_crc_bits")? as u16),
            other => return Err(r.bad_value("extension_type", u64::from(other))),
        };
        let header = r.read_bit("bs_header_flag")?;
        if header {
            let h = sbr_header(&mut r)?;
            if self.state.as_ref().map(|(old, _)| old) != Some(&h) {
                // A header the tables cannot be built from turns SBR off until the next one,
                // as in decoders.
                self.state = None;
                let bands = SbrBands::derive(&h, self.sbr_rate).map_err(|why| r.invalid(why))?;
                self.state = Some((h, bands));
            }
        }
        let Some((h, bands)) = &self.state else {
            return Ok(None);
        };
        let c = Counts {
            amp_res: h.amp_res,
            high: bands.high,
            low: bands.low,
            noise: bands.noise,
        };
        if pair {
            channel_pair_element(&mut r, c)?;
        } else {
            single_channel_element(&mut r, c)?;
        }
        let extension_id = extended_data(&mut r)?;
        let at = r.bit_position();
        if at > end {
            return Err(r.invalid(format_args!(
                "sbr_data ends {} bits past its fill element",
                at - end
            )));
        }
        if end - at >= MAX_FILL_BITS {
            return Err(r.invalid(format_args!(
                "{} bits left after sbr_data, fewer than {MAX_FILL_BITS} fill bits expected",
                end - at
            )));
        }
        Ok(Some(SbrPayload {
            extension_type,
            crc,
            header,
            extension_id,
            end: at,
        }))
    }
}

/// `sbr_header()`.
fn sbr_header(r: &mut BitReader<'_>) -> Result<SbrHeader, FormatError> {
    let amp_res = r.read_bit("bs_amp_res")?;
    let start_freq = r.read_bits(4, "bs_start_freq")? as u8;
    let stop_freq = r.read_bits(4, "bs_stop_freq")? as u8;
    let xover_band = r.read_bits(3, "bs_xover_band")? as u8;
    r.skip(2, "bs_reserved")?;
    let extra_1 = r.read_bit("bs_header_extra_1")?;
    let extra_2 = r.read_bit("bs_header_extra_2")?;
    let mut h = SbrHeader {
        amp_res,
        start_freq,
        stop_freq,
        xover_band,
        freq_scale: 2,
        alter_scale: true,
        noise_bands: 2,
    };
    if extra_1 {
        h.freq_scale = r.read_bits(2, "bs_freq_scale")? as u8;
        h.alter_scale = r.read_bit("bs_alter_scale")?;
        h.noise_bands = r.read_bits(2, "bs_noise_bands")? as u8;
    }
    if extra_2 {
        // bs_limiter_bands, bs_limiter_gains, bs_interpol_freq, bs_smoothing_mode: they
        // shape the output only, never the syntax.
        r.skip(6, "bs_header_extra_2 fields")?;
    }
    Ok(h)
}

/// Rounds to the nearest integer, ties to even, as the reference decoders' `lrint` does.
fn nint(x: f64) -> i32 {
    x.round_ties_even() as i32
}

/// Band widths splitting `start..stop` into `bands` geometrically growing bands
/// (the `vDk` of 4.6.18.3.2: borders at NINT(start · (stop/start)^(k/bands))).
fn geometric_widths(start: i32, stop: i32, bands: i32) -> Vec<i32> {
    let base = (f64::from(stop) / f64::from(start)).powf(1.0 / f64::from(bands));
    let mut widths = Vec::with_capacity(bands as usize);
    let (mut prod, mut previous) = (f64::from(start), start);
    for _ in 0..bands - 1 {
        prod *= base;
        let present = nint(prod);
        widths.push(present - previous);
        previous = present;
    }
    widths.push(stop - previous);
    widths
}

/// Running sum of `widths` from `from`: band borders. Fails on a width that is not positive.
fn borders(from: i32, widths: &[i32], out: &mut Vec<i32>) -> Result<(), String> {
    let mut at = from;
    for &w in widths {
        if w <= 0 {
            return Err(format!("SBR band of width {w} in the master band table"));
        }
        at += w;
        out.push(at);
    }
    Ok(())
}

impl SbrBands {
    /// Builds the tables of header `h` at SBR rate `fs` (14496-3 4.6.18.3.2–4.6.18.3.4), with
    /// the requirements of 4.6.18.3.6 checked; the error says which one failed.
    pub fn derive(h: &SbrHeader, fs: u32) -> Result<SbrBands, String> {
        let offsets = match fs {
            16000 => &t::START_FREQ_OFFSETS[0],
            22050 => &t::START_FREQ_OFFSETS[1],
            24000 => &t::START_FREQ_OFFSETS[2],
            32000 => &t::START_FREQ_OFFSETS[3],
            44100 | 48000 | 64000 => &t::START_FREQ_OFFSETS[4],
            88200 | 96000 | 128000 | 176400 | 192000 => &t::START_FREQ_OFFSETS[5],
            _ => return Err(format!("no SBR start frequency table for {fs} Hz")),
        };
        let fs = fs as i32;
        let temp = if fs < 32000 {
            3000
        } else if fs < 64000 {
            4000
        } else {
            5000
        };
        let start_min = (temp * 128 + fs / 2) / fs;
        let stop_min = (temp * 256 + fs / 2) / fs;
        let k0 = start_min + i32::from(offsets[usize::from(h.start_freq & 15)]);
        let k2 = match h.stop_freq {
            0..=13 => {
                let mut dk = geometric_widths(stop_min, QMF_SUBBANDS, 13);
                dk.sort_unstable();
                stop_min + dk[..usize::from(h.stop_freq)].iter().sum::<i32>()
            }
            14 => 2 * k0,
            _ => 3 * k0,
        }
        .min(QMF_SUBBANDS);
        let max_span = if fs <= 32000 {
            48
        } else if fs <= 44100 {
            35
        } else {
            32
        };
        if k0 <= 0 || k2 <= k0 || k2 - k0 > max_span {
            return Err(format!(
                "SBR range k0 {k0} to k2 {k2} is not 1 to {max_span} subbands"
            ));
        }
        let xover = usize::from(h.xover_band);
        let mut master = vec![k0];
        if h.freq_scale == 0 {
            let dk = if h.alter_scale { 2 } else { 1 };
            // numBands: 2·INT((k2−k0)/2) without alter_scale, 2·NINT((k2−k0)/4) with it.
            let bands = ((k2 - k0 + (dk & 2)) >> dk) << 1;
            if bands <= 0 {
                return Err(format!("SBR master table of {bands} bands"));
            }
            let mut widths = vec![dk; bands as usize];
            // Spread the difference to k2 over the first (too wide) or last (too narrow) bands.
            let mut diff = k2 - k0 - bands * dk;
            let mut k = if diff < 0 { 0 } else { widths.len() - 1 };
            while diff != 0 {
                let step = diff.signum();
                widths[k] += step;
                diff -= step;
                k = if step < 0 {
                    (k + 1).min(widths.len() - 1)
                } else {
                    k.saturating_sub(1)
                };
            }
            borders(k0, &widths, &mut master)?;
        } else {
            let half_bands = 7 - i32::from(h.freq_scale.min(3));
            let two_regions = 49 * k2 > 110 * k0;
            let k1 = if two_regions { 2 * k0 } else { k2 };
            let bands0 = 2 * nint(f64::from(half_bands) * (f64::from(k1) / f64::from(k0)).log2());
            if bands0 <= 0 {
                return Err(format!("SBR master table of {bands0} low bands"));
            }
            let mut dk0 = geometric_widths(k0, k1, bands0);
            dk0.sort_unstable();
            borders(k0, &dk0, &mut master)?;
            if two_regions {
                let warp = if h.alter_scale { 1.0 / 1.3 } else { 1.0 };
                let bands1 =
                    2 * nint(f64::from(half_bands) * warp * (f64::from(k2) / f64::from(k1)).log2());
                if bands1 <= 0 {
                    return Err(format!("SBR master table of {bands1} high bands"));
                }
                let mut dk1 = geometric_widths(k1, k2, bands1);
                let dk0_max = dk0.last().copied().unwrap_or(0);
                if dk1.iter().min().is_some_and(|&m| m < dk0_max) {
                    // Widen the narrowest upper band to the widest lower one, taking the
                    // width from the widest upper band (at most half the difference).
                    dk1.sort_unstable();
                    let last = dk1.len() - 1;
                    let change = (dk0_max - dk1[0]).min((dk1[last] - dk1[0]) / 2);
                    dk1[0] += change;
                    dk1[last] -= change;
                }
                dk1.sort_unstable();
                borders(k1, &dk1, &mut master)?;
            }
        }
        let n_master = master.len() - 1;
        if xover >= n_master {
            return Err(format!(
                "bs_xover_band {xover} is not below the {n_master} master bands"
            ));
        }
        let kx = master[xover];
        let high = n_master - xover;
        if master[n_master] > QMF_SUBBANDS || kx > MAX_KX {
            return Err(format!(
                "SBR range {kx} to {} exceeds the QMF bank",
                master[n_master]
            ));
        }
        let noise = if h.noise_bands == 0 {
            1
        } else {
            let n = nint(f64::from(h.noise_bands) * (f64::from(k2) / f64::from(kx)).log2());
            n.max(1) as usize
        };
        if noise > MAX_NOISE_BANDS {
            return Err(format!(
                "{noise} SBR noise floor bands, at most {MAX_NOISE_BANDS}"
            ));
        }
        Ok(SbrBands {
            // Every border lies in 1..=64 here (k0 > 0, borders rise, the last is at most 64).
            master: master.iter().map(|&b| b as u8).collect(),
            kx: kx as u8,
            high,
            low: high.div_ceil(2),
            noise,
        })
    }
}

/// What `sbr_data()` needs from the header in force.
#[derive(Clone, Copy, Debug)]
struct Counts {
    amp_res: bool,
    high: usize,
    low: usize,
    noise: usize,
}

/// One channel's `sbr_grid()`: envelopes, noise floors and their frequency resolutions.
#[derive(Clone, Copy, Debug)]
struct Grid {
    envelopes: usize,
    noise_floors: usize,
    /// `bs_freq_res` per envelope (true: the high resolution table).
    freq_res: [bool; MAX_ENVELOPES],
    /// Envelope step size in force: the header's, except 1.5 dB for a single FIXFIX envelope.
    amp_res: bool,
}

/// One channel's `sbr_dtdf()`: delta coding direction of each envelope and noise floor.
#[derive(Clone, Copy, Debug)]
struct Dtdf {
    env: [bool; MAX_ENVELOPES],
    noise: [bool; 2],
}

/// `sbr_single_channel_element()`.
fn single_channel_element(r: &mut BitReader<'_>, c: Counts) -> Result<(), FormatError> {
    if r.read_bit("bs_data_extra")? {
        r.skip(4, "bs_reserved")?;
    }
    let g = sbr_grid(r, c.amp_res)?;
    let d = sbr_dtdf(r, &g)?;
    sbr_invf(r, c)?;
    sbr_envelope(r, c, &g, &d, false)?;
    sbr_noise(r, c, &g, &d, false)?;
    sinusoidal_coding(r, c)
}

/// `sbr_channel_pair_element()`.
fn channel_pair_element(r: &mut BitReader<'_>, c: Counts) -> Result<(), FormatError> {
    if r.read_bit("bs_data_extra")? {
        r.skip(8, "bs_reserved")?;
    }
    if r.read_bit("bs_coupling")? {
        // One grid and one set of inverse filtering modes for both; the second channel
        // carries the balance between the two.
        let g = sbr_grid(r, c.amp_res)?;
        let d0 = sbr_dtdf(r, &g)?;
        let d1 = sbr_dtdf(r, &g)?;
        sbr_invf(r, c)?;
        sbr_envelope(r, c, &g, &d0, false)?;
        sbr_noise(r, c, &g, &d0, false)?;
        sbr_envelope(r, c, &g, &d1, true)?;
        sbr_noise(r, c, &g, &d1, true)?;
    } else {
        let g0 = sbr_grid(r, c.amp_res)?;
        let g1 = sbr_grid(r, c.amp_res)?;
        let d0 = sbr_dtdf(r, &g0)?;
        let d1 = sbr_dtdf(r, &g1)?;
        sbr_invf(r, c)?;
        sbr_invf(r, c)?;
        sbr_envelope(r, c, &g0, &d0, false)?;
        sbr_envelope(r, c, &g1, &d1, false)?;
        sbr_noise(r, c, &g0, &d0, false)?;
        sbr_noise(r, c, &g1, &d1, false)?;
    }
    sinusoidal_coding(r, c)?;
    sinusoidal_coding(r, c)
}

/// `sbr_grid()`, with the time border checks of 4.6.18.3.3.
fn sbr_grid(r: &mut BitReader<'_>, header_amp_res: bool) -> Result<Grid, FormatError> {
    let frame_class = r.read_bits(2, "bs_frame_class")?;
    let mut g = Grid {
        envelopes: 1,
        noise_floors: 1,
        freq_res: [false; MAX_ENVELOPES],
        amp_res: header_amp_res,
    };
    // t_E, the envelope time borders in time slots.
    let mut t = [0i32; MAX_ENVELOPES + 1];
    let pointer;
    if frame_class == class::FIXFIX {
        let envelopes = 1usize << two(r, "bs_num_env")?;
        if envelopes > MAX_FIXFIX_ENVELOPES {
            return Err(r.bad_value("bs_num_env", envelopes as u64));
        }
        g.envelopes = envelopes;
        let res = r.read_bit("bs_freq_res")?;
        g.freq_res[..envelopes].fill(res);
        if envelopes == 1 {
            g.amp_res = false;
        }
        pointer = 0;
    } else {
        let (lead, trail) = match frame_class {
            class::FIXVAR => {
                t[0] = 0;
                let end = NUM_TIME_SLOTS + two(r, "bs_var_bord_1")?;
                (0, (end, two(r, "bs_num_rel_1")? as usize))
            }
            class::VARFIX => {
                t[0] = two(r, "bs_var_bord_0")?;
                let lead = two(r, "bs_num_rel_0")? as usize;
                (lead, (NUM_TIME_SLOTS, 0))
            }
            _ => {
                t[0] = two(r, "bs_var_bord_0")?;
                let end = NUM_TIME_SLOTS + two(r, "bs_var_bord_1")?;
                let lead = two(r, "bs_num_rel_0")? as usize;
                (lead, (end, two(r, "bs_num_rel_1")? as usize))
            }
        };
        let (end, trail) = trail;
        let envelopes = lead + trail + 1;
        if envelopes > MAX_ENVELOPES {
            return Err(r.bad_value("bs_num_env", envelopes as u64));
        }
        g.envelopes = envelopes;
        t[envelopes] = end;
        for i in 0..lead {
            t[i + 1] = t[i] + 2 * two(r, "bs_rel_bord_0")? + 2;
        }
        for i in 0..trail {
            t[envelopes - 1 - i] = t[envelopes - i] - 2 * two(r, "bs_rel_bord_1")? - 2;
        }
        // ceil(log2(envelopes + 1)) bits: the bit length of `envelopes`.
        let bits = usize::BITS - envelopes.leading_zeros();
        pointer = r.read_bits(bits, "bs_pointer")? as usize;
        for res in &mut g.freq_res[..envelopes] {
            *res = r.read_bit("bs_freq_res")?;
        }
        if frame_class == class::FIXVAR {
            // FIXVAR lists the resolutions from the last envelope back (the other classes
            // from the first), and which envelope is high resolution decides how many values it codes.
            g.freq_res[..envelopes].reverse();
        }
        if t[..=envelopes].windows(2).any(|w| w[0] >= w[1]) {
            return Err(r.invalid("SBR envelope time borders do not rise"));
        }
    }
    if pointer > g.envelopes + 1 {
        return Err(r.bad_value("bs_pointer", pointer as u64));
    }
    g.noise_floors = if g.envelopes > 1 { 2 } else { 1 };
    Ok(g)
}

/// Reads a 2-bit grid field.
fn two(r: &mut BitReader<'_>, field: &'static str) -> Result<i32, FormatError> {
    Ok(r.read_bits(2, field)? as i32)
}

/// `sbr_dtdf()`.
fn sbr_dtdf(r: &mut BitReader<'_>, g: &Grid) -> Result<Dtdf, FormatError> {
    let mut d = Dtdf {
        env: [false; MAX_ENVELOPES],
        noise: [false; 2],
    };
    for df in &mut d.env[..g.envelopes] {
        *df = r.read_bit("bs_df_env")?;
    }
    for df in &mut d.noise[..g.noise_floors] {
        *df = r.read_bit("bs_df_noise")?;
    }
    Ok(d)
}

/// `sbr_invf()`: one 2-bit `bs_invf_mode` per noise floor band.
fn sbr_invf(r: &mut BitReader<'_>, c: Counts) -> Result<(), FormatError> {
    r.skip(2 * c.noise, "bs_invf_mode")
}

/// The SBR Huffman codebooks, in the order of [`book`]'s constants.
fn books() -> &'static [Codebook; 10] {
    static BOOKS: OnceLock<[Codebook; 10]> = OnceLock::new();
    BOOKS.get_or_init(|| {
        book::TABLES.map(|(codes, lens)| {
            Codebook::build(codes, lens).expect("the SBR codebooks are prefix codes (tested)")
        })
    })
}

/// Indexes into [`books`].
mod book {
    use super::t;

    pub const T_ENV_1_5DB: usize = 0;
    pub const F_ENV_1_5DB: usize = 1;
    pub const T_ENV_BAL_1_5DB: usize = 2;
    pub const F_ENV_BAL_1_5DB: usize = 3;
    pub const T_ENV_3_0DB: usize = 4;
    pub const F_ENV_3_0DB: usize = 5;
    pub const T_ENV_BAL_3_0DB: usize = 6;
    pub const F_ENV_BAL_3_0DB: usize = 7;
    pub const T_NOISE_3_0DB: usize = 8;
    pub const T_NOISE_BAL_3_0DB: usize = 9;

    /// Codewords and lengths of each codebook.
    pub const TABLES: [(&[u32], &[u8]); 10] = [
        (&t::T_ENV_1_5DB_CODES, &t::T_ENV_1_5DB_LENS),
        (&t::F_ENV_1_5DB_CODES, &t::F_ENV_1_5DB_LENS),
        (&t::T_ENV_BAL_1_5DB_CODES, &t::T_ENV_BAL_1_5DB_LENS),
        (&t::F_ENV_BAL_1_5DB_CODES, &t::F_ENV_BAL_1_5DB_LENS),
        (&t::T_ENV_3_0DB_CODES, &t::T_ENV_3_0DB_LENS),
        (&t::F_ENV_3_0DB_CODES, &t::F_ENV_3_0DB_LENS),
        (&t::T_ENV_BAL_3_0DB_CODES, &t::T_ENV_BAL_3_0DB_LENS),
        (&t::F_ENV_BAL_3_0DB_CODES, &t::F_ENV_BAL_3_0DB_LENS),
        (&t::T_NOISE_3_0DB_CODES, &t::T_NOISE_3_0DB_LENS),
        (&t::T_NOISE_BAL_3_0DB_CODES, &t::T_NOISE_BAL_3_0DB_LENS),
    ];
}

/// Reads `n` codewords of codebook `index`.
fn codewords(
    r: &mut BitReader<'_>,
    index: usize,
    n: usize,
    field: &'static str,
) -> Result<(), FormatError> {
    let book = &books()[index];
    for _ in 0..n {
        book.decode(r, field)?;
    }
    Ok(())
}

/// `sbr_envelope()`; `balance` for the second channel of a coupled pair.
fn sbr_envelope(
    r: &mut BitReader<'_>,
    c: Counts,
    g: &Grid,
    d: &Dtdf,
    balance: bool,
) -> Result<(), FormatError> {
    let (time, freq, start_bits) = match (balance, g.amp_res) {
        (false, false) => (book::T_ENV_1_5DB, book::F_ENV_1_5DB, 7),
        (false, true) => (book::T_ENV_3_0DB, book::F_ENV_3_0DB, 6),
        (true, false) => (book::T_ENV_BAL_1_5DB, book::F_ENV_BAL_1_5DB, 6),
        (true, true) => (book::T_ENV_BAL_3_0DB, book::F_ENV_BAL_3_0DB, 5),
    };
    for env in 0..g.envelopes {
        let bands = if g.freq_res[env] { c.high } else { c.low };
        if d.env[env] {
            codewords(r, time, bands, "bs_data_env")?;
        } else {
            r.read_bits(start_bits, "bs_env_start_value")?;
            codewords(r, freq, bands.saturating_sub(1), "bs_data_env")?;
        }
    }
    Ok(())
}

/// `sbr_noise()`; `balance` for the second channel of a coupled pair.
fn sbr_noise(
    r: &mut BitReader<'_>,
    c: Counts,
    g: &Grid,
    d: &Dtdf,
    balance: bool,
) -> Result<(), FormatError> {
    let (time, freq) = if balance {
        (book::T_NOISE_BAL_3_0DB, book::F_ENV_BAL_3_0DB)
    } else {
        (book::T_NOISE_3_0DB, book::F_ENV_3_0DB)
    };
    for floor in 0..g.noise_floors {
        if d.noise[floor] {
            codewords(r, time, c.noise, "bs_data_noise")?;
        } else {
            r.read_bits(5, "bs_noise_start_value")?;
            codewords(r, freq, c.noise - 1, "bs_data_noise")?;
        }
    }
    Ok(())
}

/// `sbr_sinusoidal_coding()` behind `bs_add_harmonic_flag`.
fn sinusoidal_coding(r: &mut BitReader<'_>, c: Counts) -> Result<(), FormatError> {
    if r.read_bit("bs_add_harmonic_flag")? {
        r.skip(c.high, "bs_add_harmonic")?;
    }
    Ok(())
}

/// `bs_extended_data` and its `sbr_extension()`s; returns the first `bs_extension_id`.
///
/// Only the first id matters for what the payload is: any other extension consumes the rest
/// as fill bits, and `ps_data()`, which could be followed by another, is skipped
/// whole because `bs_extension_size` bounds it.
fn extended_data(r: &mut BitReader<'_>) -> Result<Option<u8>, FormatError> {
    if !r.read_bit("bs_extended_data")? {
        return Ok(None);
    }
    let mut size = r.read_bits(4, "bs_extension_size")? as usize;
    if size == 15 {
        size += r.read_bits(8, "bs_esc_count")? as usize;
    }
    let bits = size * 8;
    // sbr_extension()s are read while more than 7 bits are left.
    if bits < 8 {
        r.skip(bits, "bs_fill_bits")?;
        return Ok(None);
    }
    let id = r.read_bits(2, "bs_extension_id")? as u8;
    r.skip(bits - 2, "sbr_extension")?;
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::BitWriter;

    #[test]
    fn every_codebook_is_a_complete_prefix_code_of_odd_size() {
        // A transcription slip breaks prefix-freeness or the Kraft equality; each codebook
        // codes differences -LAV..=LAV, an odd count.
        for (i, (codes, lens)) in book::TABLES.iter().enumerate() {
            let b = Codebook::build(codes, lens);
            assert!(
                b.as_ref().is_ok_and(Codebook::is_complete),
                "book {i}: {b:?}"
            );
            assert_eq!(codes.len() % 2, 1, "book {i}");
        }
    }

    #[test]
    fn decodes_each_codeword_back_to_its_index() {
        for (i, (codes, lens)) in book::TABLES.iter().enumerate() {
            let mut w = BitWriter::new();
            for (&c, &l) in codes.iter().zip(lens.iter()) {
                w.write_bits(u32::from(l), u64::from(c));
            }
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes, 0, "test");
            for k in 0..codes.len() {
                assert_eq!(books()[i].decode(&mut r, "x").expect("codeword"), k);
            }
        }
    }

    fn header(start: u8, stop: u8, xover: u8, scale: u8, alter: bool, noise: u8) -> SbrHeader {
        SbrHeader {
            amp_res: true,
            start_freq: start,
            stop_freq: stop,
            xover_band: xover,
            freq_scale: scale,
            alter_scale: alter,
            noise_bands: noise,
        }
    }

    #[test]
    fn linear_master_table_by_hand() {
        // 4.6.18.3.2 with bs_freq_scale 0 at 48 kHz: startMin = NINT(4000·128/48000) = 11,
        // k0 = 11 + offset[5] (2) = 13; bs_stop_freq 14 gives k2 = 2·k0 = 26. Without
        // alter_scale the 13 subbands make 2·INT(13/2) = 12 bands of 1, the last widened to 2.
        let b = SbrBands::derive(&header(5, 14, 0, 0, false, 0), 48000).expect("tables");
        let expect: Vec<u8> = (13..=24).chain([26]).collect();
        assert_eq!(b.master, expect);
        assert_eq!((b.kx, b.high, b.low, b.noise), (13, 12, 6, 1));
        // With alter_scale: 2·NINT(13/4) = 6 bands of 2, one subband short: the last band
        // widens to 3. bs_xover_band 1 starts SBR at the second border; bs_noise_bands 1
        // gives NINT(log2(26/15)) = 1 noise band.
        let b = SbrBands::derive(&header(5, 14, 1, 0, true, 1), 48000).expect("tables");
        assert_eq!(b.master, vec![13, 15, 17, 19, 21, 23, 26]);
        assert_eq!((b.kx, b.high, b.low, b.noise), (15, 5, 3, 1));
    }

    #[test]
    fn rejects_headers_outside_the_requirements() {
        // bs_xover_band past the master table.
        assert!(SbrBands::derive(&header(5, 14, 7, 0, true, 2), 48000).is_err());
        // An SBR rate without a start frequency table.
        assert!(SbrBands::derive(&header(5, 9, 0, 2, true, 2), 50000).is_err());
        // Too wide at 48 kHz: bs_start_freq 15 (k0 = 11 + 20 = 31) with bs_stop_freq 15
        // (k2 = 3·31, clipped to 64) spans 33 > 32 subbands.
        assert!(SbrBands::derive(&header(15, 15, 0, 2, true, 2), 48000).is_err());
        // bs_start_freq 0 (k0 = 7), bs_stop_freq 15 (k2 = 21): the first region 7..14 in
        // 10 bands of about 1.07 subbands each rounds some bands to width 0.
        assert!(SbrBands::derive(&header(0, 15, 0, 2, true, 2), 48000).is_err());
    }

    /// A mono (SCE) payload: a header with default extras, one FIXFIX envelope, everything
    /// delta coded over frequency; `extended` adds `bs_extended_data` (id, size in bytes).
    fn minimal_payload(extended: Option<(u8, usize)>) -> (Vec<u8>, usize) {
        let mut w = BitWriter::new();
        w.write_bits(4, 13); // extension_type
        w.write_bits(1, 1); // bs_header_flag
                            // bs_amp_res 1, bs_start_freq 5, bs_stop_freq 14, bs_xover_band 0, bs_reserved, no
                            // extra fields (so bs_freq_scale 2, bs_alter_scale 1, bs_noise_bands 2).
        w.write_bits(1, 1);
        w.write_bits(4, 5);
        w.write_bits(4, 14);
        w.write_bits(3, 0);
        w.write_bits(2, 0);
        w.write_bits(2, 0);
        w.write_bits(1, 0); // bs_data_extra
        w.write_bits(2, 0); // FIXFIX
        w.write_bits(2, 0); // one envelope
        w.write_bits(1, 0); // low resolution
        w.write_bits(1, 0); // bs_df_env
        w.write_bits(1, 0); // bs_df_noise
        let b = SbrBands::derive(&header(5, 14, 0, 2, true, 2), 48000).expect("tables");
        w.write_bits(2 * b.noise as u32, 0); // invf
                                             // One FIXFIX envelope forces 1.5 dB: 7-bit start, then the zero-difference codeword
                                             // of the 1.5 dB frequency table per remaining band.
        w.write_bits(7, 40);
        let zero = 60; // LAV of the 1.5 dB tables
        for _ in 1..b.low {
            w.write_bits(
                u32::from(t::F_ENV_1_5DB_LENS[zero]),
                u64::from(t::F_ENV_1_5DB_CODES[zero]),
            );
        }
        w.write_bits(5, 10); // noise start
        for _ in 1..b.noise {
            let zero = 31; // LAV of the 3.0 dB tables
            w.write_bits(
                u32::from(t::F_ENV_3_0DB_LENS[zero]),
                u64::from(t::F_ENV_3_0DB_CODES[zero]),
            );
        }
        w.write_bits(1, 0); // bs_add_harmonic_flag
        match extended {
            None => w.write_bits(1, 0),
            Some((id, bytes)) => {
                w.write_bits(1, 1);
                w.write_bits(4, bytes as u64);
                w.write_bits(2, u64::from(id));
                w.write_bits(bytes as u32 * 8 - 2, 0);
            }
        }
        let end = w.bit_len();
        w.byte_align();
        (w.into_bytes(), end)
    }

    #[test]
    fn finds_parametric_stereo_and_checks_the_end() {
        for (ext, ps) in [(None, false), (Some((2, 3)), true), (Some((0, 2)), false)] {
            let (bytes, end) = minimal_payload(ext);
            let span = (0, bytes.len() * 8);
            let mut p = SbrParser::new(24000);
            let got = p.parse_payload_detail(&bytes, 100, span, false);
            let got = got.expect("parses").expect("has a header");
            assert_eq!(
                (got.end, got.parametric_stereo(), got.header),
                (end, ps, true)
            );
            // One more byte in the span is more fill than a FIL count allows.
            let mut longer = bytes.clone();
            longer.push(0);
            let e = p.parse_payload(&longer, 100, (0, longer.len() * 8), false);
            assert!(e.is_err());
            // One byte less and sbr_data runs past the span.
            let short = (0, (bytes.len() - 1) * 8);
            assert!(SbrParser::new(24000)
                .parse_payload(&bytes, 100, short, false)
                .is_err());
        }
    }

    #[test]
    fn payload_without_header_is_skipped_until_one_arrives() {
        let (bytes, _) = minimal_payload(Some((2, 1)));
        let mut p = SbrParser::new(24000);
        // Clear bs_header_flag (bit 4): sbr_data cannot be read without a header yet.
        let mut no_header = bytes.clone();
        no_header[0] &= !0x08;
        let span = (0, bytes.len() * 8);
        assert_eq!(
            p.parse_payload_detail(&no_header, 0, span, false).ok(),
            Some(None)
        );
        assert!(p.parse_payload(&bytes, 0, span, false).expect("parses"));
        assert!(p.header().is_some());
    }

    #[test]
    fn other_extension_types_are_rejected_with_their_offset() {
        let mut p = SbrParser::new(24000);
        let e = p
            .parse_payload(&[0x00, 0x10, 0x00], 1000, (8, 24), false)
            .unwrap_err();
        assert_eq!(e.offset, 1001);
        assert!(e.to_string().contains("extension_type"), "{e}");
    }
}
