//! Sequence parameter set (H.264 7.3.2.1.1) with its VUI (Annex E.1.1).

use crate::formats::error::{FormatError, Problem};
use crate::io::BitReader;

use super::nal::{remove_emulation_prevention, NalHeader, NalType};

/// `seq_parameter_set_id` is at most 31 (H.264 7.4.2.1.1).
pub const MAX_SPS_ID: u32 = 31;
/// `num_ref_frames_in_pic_order_cnt_cycle` is at most 255.
pub const MAX_POC_CYCLE: u32 = 255;
/// `cpb_cnt_minus1` is at most 31 (E.2.2).
const MAX_CPB_CNT_MINUS1: u32 = 31;
/// Pictures wider or taller than this many macroblocks are refused (Level 6.2 allows
/// 139264 macroblocks per frame; 16384 px a side is far beyond any real stream).
const MAX_MBS_PER_SIDE: u32 = 1024;

/// Video usability information: the fields containers and players care about (E.1.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vui {
    /// Sample aspect ratio (`sar_width`, `sar_height`), when signalled.
    pub sample_aspect_ratio: Option<(u16, u16)>,
    /// `video_full_range_flag`, when `video_signal_type_present_flag`.
    pub video_full_range: Option<bool>,
    /// (`colour_primaries`, `transfer_characteristics`, `matrix_coefficients`).
    pub colour_description: Option<(u8, u8, u8)>,
    /// `num_units_in_tick`, when `timing_info_present_flag`.
    pub num_units_in_tick: Option<u32>,
    /// `time_scale`, when `timing_info_present_flag`.
    pub time_scale: Option<u32>,
    /// `fixed_frame_rate_flag`.
    pub fixed_frame_rate: bool,
    /// `pic_struct_present_flag`.
    pub pic_struct_present: bool,
    /// `max_num_reorder_frames`, when `bitstream_restriction_flag`.
    pub max_num_reorder_frames: Option<u32>,
    /// `max_dec_frame_buffering`, when `bitstream_restriction_flag`.
    pub max_dec_frame_buffering: Option<u32>,
}

/// A parsed sequence parameter set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sps {
    /// `profile_idc`.
    pub profile_idc: u8,
    /// The constraint flags byte: `constraint_set0_flag` is bit 7, ... `constraint_set5_flag`
    /// bit 2.
    pub constraint_flags: u8,
    /// `level_idc`.
    pub level_idc: u8,
    /// `seq_parameter_set_id`.
    pub sps_id: u32,
    /// `chroma_format_idc` (1 = 4:2:0 when not signalled).
    pub chroma_format_idc: u32,
    /// `separate_colour_plane_flag`.
    pub separate_colour_plane: bool,
    /// `bit_depth_luma_minus8 + 8`.
    pub bit_depth_luma: u32,
    /// `bit_depth_chroma_minus8 + 8`.
    pub bit_depth_chroma: u32,
    /// `qpprime_y_zero_transform_bypass_flag`.
    pub qpprime_y_zero_transform_bypass: bool,
    /// `seq_scaling_matrix_present_flag` (the lists themselves are skipped).
    pub scaling_matrix_present: bool,
    /// `log2_max_frame_num_minus4 + 4`.
    pub log2_max_frame_num: u32,
    /// `pic_order_cnt_type` (0, 1 or 2).
    pub pic_order_cnt_type: u32,
    /// `log2_max_pic_order_cnt_lsb_minus4 + 4` (POC type 0).
    pub log2_max_pic_order_cnt_lsb: u32,
    /// `delta_pic_order_always_zero_flag` (POC type 1).
    pub delta_pic_order_always_zero: bool,
    /// `offset_for_non_ref_pic` (POC type 1).
    pub offset_for_non_ref_pic: i32,
    /// `offset_for_top_to_bottom_field` (POC type 1).
    pub offset_for_top_to_bottom_field: i32,
    /// `offset_for_ref_frame[]` (POC type 1; its length is
    /// `num_ref_frames_in_pic_order_cnt_cycle`).
    pub offset_for_ref_frame: Vec<i32>,
    /// `max_num_ref_frames`.
    pub max_num_ref_frames: u32,
    /// `gaps_in_frame_num_value_allowed_flag`.
    pub gaps_in_frame_num_allowed: bool,
    /// `pic_width_in_mbs_minus1 + 1`.
    pub pic_width_in_mbs: u32,
    /// `pic_height_in_map_units_minus1 + 1`.
    pub pic_height_in_map_units: u32,
    /// `frame_mbs_only_flag`.
    pub frame_mbs_only: bool,
    /// `mb_adaptive_frame_field_flag`.
    pub mb_adaptive_frame_field: bool,
    /// `direct_8x8_inference_flag`.
    pub direct_8x8_inference: bool,
    /// `frame_crop_{left,right,top,bottom}_offset`, when `frame_cropping_flag`.
    pub frame_crop: Option<[u32; 4]>,
    /// The VUI, when present and readable. A truncated VUI is tolerated (as FFmpeg does) and
    /// leaves this `None`.
    pub vui: Option<Vui>,
}

fn has_chroma_fields(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// Skips one `scaling_list()` (H.264 7.3.2.1.1.1).
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), FormatError> {
    let mut last: i32 = 8;
    let mut next: i32 = 8;
    for _ in 0..size {
        if next != 0 {
            let delta = r.read_se_range(-128, 127, "delta_scale")?;
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

fn parse_hrd(r: &mut BitReader<'_>) -> Result<(), FormatError> {
    let cpb_cnt_minus1 = r.read_ue_max(MAX_CPB_CNT_MINUS1, "cpb_cnt_minus1")?;
    r.skip(8, "bit_rate_scale, cpb_size_scale")?;
    for _ in 0..=cpb_cnt_minus1 {
        r.read_ue("bit_rate_value_minus1")?;
        r.read_ue("cpb_size_value_minus1")?;
        r.skip(1, "cbr_flag")?;
    }
    r.skip(20, "hrd delay lengths")?;
    Ok(())
}

fn parse_vui(r: &mut BitReader<'_>) -> Result<Vui, FormatError> {
    let mut v = Vui::default();
    if r.read_bit("aspect_ratio_info_present_flag")? {
        let idc = r.read_bits(8, "aspect_ratio_idc")?;
        // Table E-1.
        const SAR: [(u16, u16); 17] = [
            (0, 1),
            (1, 1),
            (12, 11),
            (10, 11),
            (16, 11),
            (40, 33),
            (24, 11),
            (20, 11),
            (32, 11),
            (80, 33),
            (18, 11),
            (15, 11),
            (64, 33),
            (160, 99),
            (4, 3),
            (3, 2),
            (2, 1),
        ];
        if idc == 255 {
            let w = r.read_bits(16, "sar_width")? as u16;
            let h = r.read_bits(16, "sar_height")? as u16;
            v.sample_aspect_ratio = Some((w, h));
        } else if let Some(&sar) = SAR.get(idc as usize).filter(|_| idc > 0) {
            v.sample_aspect_ratio = Some(sar);
        }
    }
    if r.read_bit("overscan_info_present_flag")? {
        r.skip(1, "overscan_appropriate_flag")?;
    }
    if r.read_bit("video_signal_type_present_flag")? {
        r.skip(3, "video_format")?;
        v.video_full_range = Some(r.read_bit("video_full_range_flag")?);
        if r.read_bit("colour_description_present_flag")? {
            let p = r.read_bits(8, "colour_primaries")? as u8;
            let t = r.read_bits(8, "transfer_characteristics")? as u8;
            let m = r.read_bits(8, "matrix_coefficients")? as u8;
            v.colour_description = Some((p, t, m));
        }
    }
    if r.read_bit("chroma_loc_info_present_flag")? {
        r.read_ue("chroma_sample_loc_type_top_field")?;
        r.read_ue("chroma_sample_loc_type_bottom_field")?;
    }
    if r.read_bit("timing_info_present_flag")? {
        v.num_units_in_tick = Some(r.read_bits(32, "num_units_in_tick")?);
        v.time_scale = Some(r.read_bits(32, "time_scale")?);
        v.fixed_frame_rate = r.read_bit("fixed_frame_rate_flag")?;
    }
    let nal_hrd = r.read_bit("nal_hrd_parameters_present_flag")?;
    if nal_hrd {
        parse_hrd(r)?;
    }
    let vcl_hrd = r.read_bit("vcl_hrd_parameters_present_flag")?;
    if vcl_hrd {
        parse_hrd(r)?;
    }
    if nal_hrd || vcl_hrd {
        r.skip(1, "low_delay_hrd_flag")?;
    }
    v.pic_struct_present = r.read_bit("pic_struct_present_flag")?;
    if r.read_bit("bitstream_restriction_flag")? {
        r.skip(1, "motion_vectors_over_pic_boundaries_flag")?;
        r.read_ue("max_bytes_per_pic_denom")?;
        r.read_ue("max_bits_per_mb_denom")?;
        r.read_ue("log2_max_mv_length_horizontal")?;
        r.read_ue("log2_max_mv_length_vertical")?;
        v.max_num_reorder_frames = Some(r.read_ue("max_num_reorder_frames")?);
        v.max_dec_frame_buffering = Some(r.read_ue("max_dec_frame_buffering")?);
    }
    Ok(v)
}

impl Sps {
    /// Parses an SPS NAL unit (header byte included, emulation prevention bytes still in);
    /// `offset` is the absolute offset of the NAL unit for errors.
    pub fn parse(nal: &[u8], offset: u64) -> Result<Sps, FormatError> {
        let h = NalHeader::parse(nal, offset)?;
        if h.nal_unit_type != NalType::SPS {
            return Err(FormatError::new(
                "h264 sps",
                offset,
                Problem::BadValue {
                    field: "nal_unit_type",
                    value: u64::from(h.nal_unit_type.0),
                },
            ));
        }
        let rbsp = remove_emulation_prevention(nal.get(1..).unwrap_or(&[]));
        Self::parse_rbsp(&rbsp, offset + 1)
    }

    /// Parses the SPS RBSP (after the header byte, emulation prevention removed).
    pub fn parse_rbsp(rbsp: &[u8], offset: u64) -> Result<Sps, FormatError> {
        let mut r = BitReader::new(rbsp, offset, "h264 sps");
        let profile_idc = r.read_bits(8, "profile_idc")? as u8;
        let constraint_flags = r.read_bits(8, "constraint_set flags")? as u8;
        let level_idc = r.read_bits(8, "level_idc")? as u8;
        let sps_id = r.read_ue_max(MAX_SPS_ID, "seq_parameter_set_id")?;
        let mut s = Sps {
            profile_idc,
            constraint_flags,
            level_idc,
            sps_id,
            chroma_format_idc: 1,
            separate_colour_plane: false,
            bit_depth_luma: 8,
            bit_depth_chroma: 8,
            qpprime_y_zero_transform_bypass: false,
            scaling_matrix_present: false,
            log2_max_frame_num: 4,
            pic_order_cnt_type: 0,
            log2_max_pic_order_cnt_lsb: 4,
            delta_pic_order_always_zero: false,
            offset_for_non_ref_pic: 0,
            offset_for_top_to_bottom_field: 0,
            offset_for_ref_frame: Vec::new(),
            max_num_ref_frames: 0,
            gaps_in_frame_num_allowed: false,
            pic_width_in_mbs: 0,
            pic_height_in_map_units: 0,
            frame_mbs_only: true,
            mb_adaptive_frame_field: false,
            direct_8x8_inference: false,
            frame_crop: None,
            vui: None,
        };
        if has_chroma_fields(profile_idc) {
            s.chroma_format_idc = r.read_ue_max(3, "chroma_format_idc")?;
            if s.chroma_format_idc == 3 {
                s.separate_colour_plane = r.read_bit("separate_colour_plane_flag")?;
            }
            s.bit_depth_luma = r.read_ue_max(6, "bit_depth_luma_minus8")? + 8;
            s.bit_depth_chroma = r.read_ue_max(6, "bit_depth_chroma_minus8")? + 8;
            s.qpprime_y_zero_transform_bypass =
                r.read_bit("qpprime_y_zero_transform_bypass_flag")?;
            s.scaling_matrix_present = r.read_bit("seq_scaling_matrix_present_flag")?;
            if s.scaling_matrix_present {
                let lists = if s.chroma_format_idc != 3 { 8 } else { 12 };
                for i in 0..lists {
                    if r.read_bit("seq_scaling_list_present_flag")? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        s.log2_max_frame_num = r.read_ue_max(12, "log2_max_frame_num_minus4")? + 4;
        s.pic_order_cnt_type = r.read_ue_max(2, "pic_order_cnt_type")?;
        match s.pic_order_cnt_type {
            0 => {
                s.log2_max_pic_order_cnt_lsb =
                    r.read_ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")? + 4;
            }
            1 => {
                s.delta_pic_order_always_zero = r.read_bit("delta_pic_order_always_zero_flag")?;
                s.offset_for_non_ref_pic = r.read_se("offset_for_non_ref_pic")?;
                s.offset_for_top_to_bottom_field = r.read_se("offset_for_top_to_bottom_field")?;
                let n = r.read_ue_max(MAX_POC_CYCLE, "num_ref_frames_in_pic_order_cnt_cycle")?;
                for _ in 0..n {
                    s.offset_for_ref_frame
                        .push(r.read_se("offset_for_ref_frame")?);
                }
            }
            _ => {}
        }
        s.max_num_ref_frames = r.read_ue("max_num_ref_frames")?;
        s.gaps_in_frame_num_allowed = r.read_bit("gaps_in_frame_num_value_allowed_flag")?;
        s.pic_width_in_mbs = r.read_ue_max(MAX_MBS_PER_SIDE - 1, "pic_width_in_mbs_minus1")? + 1;
        s.pic_height_in_map_units =
            r.read_ue_max(MAX_MBS_PER_SIDE - 1, "pic_height_in_map_units_minus1")? + 1;
        s.frame_mbs_only = r.read_bit("frame_mbs_only_flag")?;
        if !s.frame_mbs_only {
            s.mb_adaptive_frame_field = r.read_bit("mb_adaptive_frame_field_flag")?;
        }
        s.direct_8x8_inference = r.read_bit("direct_8x8_inference_flag")?;
        if r.read_bit("frame_cropping_flag")? {
            let crop_at = r.offset();
            let mut c = [0u32; 4];
            for (v, field) in c.iter_mut().zip([
                "frame_crop_left_offset",
                "frame_crop_right_offset",
                "frame_crop_top_offset",
                "frame_crop_bottom_offset",
            ]) {
                *v = r.read_ue(field)?;
            }
            let (ux, uy) = s.crop_units();
            let w = u64::from(s.coded_width());
            let h = u64::from(s.coded_height());
            if (u64::from(c[0]) + u64::from(c[1])) * ux >= w
                || (u64::from(c[2]) + u64::from(c[3])) * uy >= h
            {
                return Err(FormatError::invalid(
                    "h264 sps",
                    crop_at,
                    format!(
                        "cropping {}/{}/{}/{} leaves no picture of {w}x{h}",
                        c[0], c[1], c[2], c[3]
                    ),
                ));
            }
            s.frame_crop = Some(c);
        }
        if r.read_bit("vui_parameters_present_flag")? {
            // FFmpeg tolerates truncated VUI ("Overread VUI"); so do we, dropping it.
            s.vui = parse_vui(&mut r).ok();
        }
        Ok(s)
    }

    /// `ChromaArrayType` (H.264 7.4.2.1.1).
    pub fn chroma_array_type(&self) -> u32 {
        if self.separate_colour_plane {
            0
        } else {
            self.chroma_format_idc
        }
    }

    /// (`CropUnitX`, `CropUnitY`) from H.264 equations 7-19 to 7-22.
    fn crop_units(&self) -> (u64, u64) {
        let field = if self.frame_mbs_only { 1 } else { 2 };
        match self.chroma_array_type() {
            0 => (1, field),
            1 => (2, 2 * field),
            2 => (2, field),
            _ => (1, field),
        }
    }

    /// Width of the decoded picture before cropping (whole macroblocks).
    pub fn coded_width(&self) -> u32 {
        self.pic_width_in_mbs * 16
    }

    /// Height of the decoded picture before cropping (whole macroblocks, both fields).
    pub fn coded_height(&self) -> u32 {
        let field = if self.frame_mbs_only { 1 } else { 2 };
        field * self.pic_height_in_map_units * 16
    }

    /// Width after cropping (ffprobe's `width`).
    pub fn width(&self) -> u32 {
        let (ux, _) = self.crop_units();
        let crop = self
            .frame_crop
            .map_or(0, |c| (u64::from(c[0]) + u64::from(c[1])) * ux);
        // Checked at parse time to be below the coded width.
        (u64::from(self.coded_width()).saturating_sub(crop)) as u32
    }

    /// Height after cropping (ffprobe's `height`).
    pub fn height(&self) -> u32 {
        let (_, uy) = self.crop_units();
        let crop = self
            .frame_crop
            .map_or(0, |c| (u64::from(c[2]) + u64::from(c[3])) * uy);
        (u64::from(self.coded_height()).saturating_sub(crop)) as u32
    }

    /// `constraint_set<n>_flag`, n in 0..=5.
    pub fn constraint_set(&self, n: u8) -> bool {
        n < 8 && self.constraint_flags & (0x80 >> n) != 0
    }

    /// The profile as ffprobe names it (libavcodec `ff_h264_profiles`), or `None` when
    /// ffprobe has no name for it.
    pub fn profile_name(&self) -> Option<&'static str> {
        let intra = self.constraint_set(3);
        Some(match self.profile_idc {
            66 if self.constraint_set(1) => "Constrained Baseline",
            66 => "Baseline",
            77 => "Main",
            88 => "Extended",
            100 => "High",
            110 if intra => "High 10 Intra",
            110 => "High 10",
            122 if intra => "High 4:2:2 Intra",
            122 => "High 4:2:2",
            244 if intra => "High 4:4:4 Intra",
            244 => "High 4:4:4 Predictive",
            144 => "High 4:4:4",
            44 => "CAVLC 4:4:4",
            118 => "Multiview High",
            128 => "Stereo High",
            _ => return None,
        })
    }

    /// `level_idc` as ffprobe prints `level` (30 for level 3.0; 9 for level 1b).
    pub fn level(&self) -> u8 {
        self.level_idc
    }

    /// The level for display: `3.0`, `3.1`, `1b`.
    pub fn level_name(&self) -> String {
        let lb = self.level_idc == 9
            || (self.level_idc == 11
                && self.constraint_set(3)
                && matches!(self.profile_idc, 66 | 77 | 88));
        if lb {
            "1b".to_string()
        } else {
            format!("{}.{}", self.level_idc / 10, self.level_idc % 10)
        }
    }

    /// Frame rate from VUI timing as an exact fraction (`time_scale`,
    /// `2 × num_units_in_tick`) in lowest terms, as ffprobe reports `r_frame_rate` for
    /// progressive streams; `None` without timing info.
    pub fn fps(&self) -> Option<(u32, u32)> {
        let v = self.vui.as_ref()?;
        let num = u64::from(v.time_scale?);
        let den = 2 * u64::from(v.num_units_in_tick?);
        if num == 0 || den == 0 {
            return None;
        }
        let g = gcd(num, den);
        // 2 × num_units_in_tick may need 33 bits; a ratio that does not fit is no rate.
        Some((u32::try_from(num / g).ok()?, u32::try_from(den / g).ok()?))
    }

    /// Frames per kilo-second (fps × 1000, rounded), MistServer's unit; `None` without
    /// timing info.
    pub fn fpks(&self) -> Option<u32> {
        let (n, d) = self.fps()?;
        u32::try_from((u64::from(n) * 1000 + u64::from(d) / 2) / u64::from(d)).ok()
    }

    /// `MaxFrameNum` = 2^log2_max_frame_num.
    pub fn max_frame_num(&self) -> u32 {
        1 << self.log2_max_frame_num
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SPS from tests/fixtures/interop/vod_idx0.dtsc's avcC (= src10.mp4's).
    pub(crate) const VOD_SPS: [u8; 26] = [
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03,
        0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
    ];

    #[test]
    fn vod_sps_matches_ffprobe() {
        // Oracle: ffprobe on src10.mp4 (the same SPS): profile=High, level=30, 640x360,
        // r_frame_rate 30/1. By hand: 64 = profile 100, 1e = level 30; then ac =
        // 1 (sps id 0) 010 (chroma_format_idc 1) 1 1 (8-bit luma/chroma) 0 (no bypass)
        // 0 (no scaling matrix); 640x368 coded (40 x 23 macroblocks) with
        // frame_crop_bottom_offset 4 x CropUnitY 2 = 8 rows cropped.
        let s = Sps::parse(&VOD_SPS, 100).unwrap();
        assert_eq!(s.profile_idc, 100);
        assert_eq!(s.profile_name(), Some("High"));
        assert_eq!(s.level(), 30);
        assert_eq!(s.level_name(), "3.0");
        assert_eq!(s.chroma_format_idc, 1);
        assert_eq!((s.bit_depth_luma, s.bit_depth_chroma), (8, 8));
        assert_eq!((s.coded_width(), s.coded_height()), (640, 368));
        assert_eq!((s.width(), s.height()), (640, 360));
        assert_eq!(s.frame_crop, Some([0, 0, 0, 4]));
        assert_eq!(s.fps(), Some((30, 1)));
        assert_eq!(s.fpks(), Some(30000));
        assert!(s.frame_mbs_only);
        assert_eq!(s.pic_order_cnt_type, 0);
    }

    #[test]
    fn sps_1080p_with_cropping() {
        // x264 Main 1920x1080 25 fps (made with `ffmpeg -f lavfi -i testsrc2=s=1920x1080:r=25
        // -c:v libx264 -profile:v main`). Oracle: ffprobe: profile=Main, level=40, 1920x1080,
        // r_frame_rate 25/1. By hand: 4d = 77 Main, 40 = constraint_set1, 28 = level 40;
        // d9 = 1 (sps 0) 1 (log2_max_frame_num 4) 011 (poc type 2) 001.. (max refs 3); coded
        // 120 x 68 macroblocks = 1920x1088, cropped by frame_crop_bottom_offset 4 × CropUnitY 2.
        let nal = [
            0x67, 0x4d, 0x40, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00,
            0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc9, 0x20,
        ];
        let s = Sps::parse(&nal, 0).unwrap();
        assert_eq!(s.profile_name(), Some("Main"));
        assert_eq!((s.level(), s.level_name().as_str()), (40, "4.0"));
        assert_eq!((s.pic_order_cnt_type, s.max_num_ref_frames), (2, 3));
        assert_eq!((s.coded_width(), s.coded_height()), (1920, 1088));
        assert_eq!(s.frame_crop, Some([0, 0, 0, 4]));
        assert_eq!((s.width(), s.height()), (1920, 1080));
        assert_eq!(s.fps(), Some((25, 1)));
    }

    #[test]
    fn constrained_baseline_and_level_1b_names() {
        // ffmpeg's get_profile(): Baseline with constraint_set1 is "Constrained Baseline";
        // level_idc 11 with constraint_set3 in Baseline is level 1b (H.264 A.3.1).
        let mut s = Sps::parse(&[0x67, 0x42, 0xc0, 0x0b, 0xf4, 0x0a, 0x0f, 0x88], 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.profile_name(), Some("Constrained Baseline"));
        s.constraint_flags = 0x10;
        assert_eq!(s.level_name(), "1b");
        s.constraint_flags = 0;
        assert_eq!(s.profile_name(), Some("Baseline"));
        assert_eq!(s.level_name(), "1.1");
    }

    /// SPSs written by x264 (`ffmpeg -f lavfi -i testsrc2=r=30000/1001 -c:v libx264` with
    /// the options named); oracle: ffprobe on each stream (profile, level, width, height,
    /// r_frame_rate 30000/1001).
    #[test]
    fn x264_variants_match_ffprobe() {
        // (options, SPS NAL, profile, level, width, height)
        type Case<'a> = (&'a str, &'a [u8], &'a str, u8, u32, u32);
        let cases: [Case; 4] = [
            (
                "-x264-params cqm=jvt -s 720x480",
                &[
                    0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xb4, 0x3d, 0xbf, 0xf0, 0x00, 0x80,
                    0x00, 0x91, 0x00, 0x00, 0x03, 0x03, 0xe9, 0x00, 0x00, 0xea, 0x60, 0x0f, 0x16,
                    0x2d, 0x96,
                ],
                "High",
                30,
                720,
                480,
            ),
            (
                "-pix_fmt yuv444p -s 352x288",
                &[
                    0x67, 0xf4, 0x00, 0x0d, 0x91, 0x9b, 0x28, 0x2c, 0x12, 0xd8, 0x10, 0x80, 0x00,
                    0x01, 0xf4, 0x80, 0x00, 0x75, 0x30, 0x07, 0x8a, 0x14, 0xcb,
                ],
                "High 4:4:4 Predictive",
                13,
                352,
                288,
            ),
            (
                "-pix_fmt yuv420p10le -s 640x360",
                &[
                    0x67, 0x6e, 0x00, 0x1e, 0xa6, 0xcd, 0x94, 0x0a, 0x02, 0xff, 0x97, 0xff, 0x00,
                    0x03, 0x00, 0x04, 0x10, 0x00, 0x00, 0x3e, 0x90, 0x00, 0x0e, 0xa6, 0x00, 0xf1,
                    0x62, 0xd9, 0x60,
                ],
                "High 10",
                30,
                640,
                360,
            ),
            (
                "-flags +ildct+ilme -x264-params interlaced=1 -s 1920x1080",
                &[
                    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x04, 0x4f, 0xdf, 0xfe, 0x00,
                    0x06, 0x00, 0x08, 0x20, 0x00, 0x00, 0x7d, 0x20, 0x00, 0x1d, 0x4c, 0x03, 0xe2,
                    0xc5, 0xb2, 0xc0,
                ],
                "High",
                40,
                1920,
                1080,
            ),
        ];
        for (what, nal, profile, level, w, h) in cases {
            let s = Sps::parse(nal, 0).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(s.profile_name(), Some(profile), "{what}");
            assert_eq!(s.level(), level, "{what}");
            assert_eq!((s.width(), s.height()), (w, h), "{what}");
            assert_eq!(s.fps(), Some((30000, 1001)), "{what}");
        }
        let s = Sps::parse(cases[1].1, 0).unwrap();
        assert_eq!((s.chroma_format_idc, s.chroma_array_type()), (3, 3));
        let s = Sps::parse(cases[2].1, 0).unwrap();
        assert_eq!((s.bit_depth_luma, s.bit_depth_chroma), (10, 10));
        // Interlaced: frame_mbs_only 0, 68 map units of 2 fields x 16 = 1088 coded rows,
        // frame_crop_bottom_offset 2 x CropUnitY 4 = 8 rows cropped.
        let s = Sps::parse(cases[3].1, 0).unwrap();
        assert!(!s.frame_mbs_only && s.mb_adaptive_frame_field);
        assert_eq!((s.pic_height_in_map_units, s.coded_height()), (34, 1088));
        assert_eq!(s.frame_crop, Some([0, 0, 0, 2]));
    }

    /// Hand-built High-profile SPS with a scaling matrix (H.264 7.3.2.1.1.1): list 0 present
    /// with deltas 8, -8 (nextScale 16 then 8), then delta -8 again making nextScale 0 (the
    /// rest of the list repeats: no more deltas); list 6 (8x8) present with delta -8 at once
    /// (nextScale 0: "use default"); the rest absent. Then the ordinary fields: 1280x720.
    #[test]
    fn scaling_lists_are_skipped() {
        use crate::io::BitWriter;
        let mut w = BitWriter::new();
        w.write_bits(8, 100); // profile_idc High
        w.write_bits(8, 0);
        w.write_bits(8, 31);
        w.write_ue(0); // sps id
        w.write_ue(1); // chroma 4:2:0
        w.write_ue(0);
        w.write_ue(0);
        w.write_bit(false); // bypass
        w.write_bit(true); // seq_scaling_matrix_present_flag
        for i in 0..8 {
            match i {
                0 => {
                    w.write_bit(true);
                    w.write_se(8); // 8 + 8 = 16
                    w.write_se(-8); // 16 - 8 = 8
                    w.write_se(-8); // 8 - 8 = 0: stop reading deltas
                }
                6 => {
                    w.write_bit(true);
                    w.write_se(-8); // nextScale 0 at j = 0
                }
                _ => w.write_bit(false),
            }
        }
        w.write_ue(0); // log2_max_frame_num_minus4
        w.write_ue(2); // poc type 2
        w.write_ue(1); // max_num_ref_frames
        w.write_bit(false);
        w.write_ue(79); // 80 MBs = 1280
        w.write_ue(44); // 45 MBs = 720
        w.write_bit(true); // frame_mbs_only
        w.write_bit(true); // direct_8x8
        w.write_bit(false); // no cropping
        w.write_bit(false); // no VUI
        w.write_bit(true); // rbsp_stop_one_bit
        let rbsp = w.into_bytes();
        let s = Sps::parse_rbsp(&rbsp, 0).unwrap();
        assert!(s.scaling_matrix_present);
        assert_eq!(
            (s.width(), s.height(), s.level_name().as_str()),
            (1280, 720, "3.1")
        );
        assert_eq!((s.pic_order_cnt_type, s.max_num_ref_frames), (2, 1));
        assert_eq!(s.fps(), None);
    }

    /// Regression (fuzz): VUI timing with num_units_in_tick 2^31 makes 2 × num_units_in_tick
    /// 2^32, which does not fit the u32 fraction; it was truncated to 0 and `fpks` divided
    /// by it. No such rate exists: `fps` is `None`. The same SPS with a representable
    /// fraction (1001 / 60000) gives 30000/1001 (H.264 E.2.1: time_scale / 2·num_units).
    #[test]
    fn vui_timing_that_overflows_32_bits_is_no_frame_rate() {
        use crate::io::BitWriter;
        let sps = |units: u32, scale: u32| {
            let mut w = BitWriter::new();
            w.write_bits(8, 66); // Baseline
            w.write_bits(8, 0);
            w.write_bits(8, 30);
            w.write_ue(0); // sps id
            w.write_ue(0); // log2_max_frame_num_minus4
            w.write_ue(2); // poc type 2
            w.write_ue(1); // max_num_ref_frames
            w.write_bit(false);
            w.write_ue(19); // 320
            w.write_ue(14); // 240
            w.write_bit(true); // frame_mbs_only
            w.write_bit(true); // direct_8x8
            w.write_bit(false); // no cropping
            w.write_bit(true); // VUI
            for _ in 0..4 {
                w.write_bit(false); // aspect, overscan, video signal, chroma loc
            }
            w.write_bit(true); // timing_info_present_flag
            w.write_bits(32, u64::from(units));
            w.write_bits(32, u64::from(scale));
            w.write_bit(true); // fixed_frame_rate_flag
            for _ in 0..4 {
                w.write_bit(false); // nal hrd, vcl hrd, pic_struct, bitstream_restriction
            }
            w.write_bit(true); // rbsp_stop_one_bit
            Sps::parse_rbsp(&w.into_bytes(), 0).unwrap()
        };
        let s = sps(1 << 31, 3);
        assert_eq!((s.fps(), s.fpks()), (None, None));
        let s = sps(1001, 60000);
        assert_eq!((s.fps(), s.fpks()), (Some((30000, 1001)), Some(29970)));
    }
}
