//! Slice header (H.264 7.3.3) up to and including `dec_ref_pic_marking()`, enough for
//! access unit boundaries and picture order counts.

use crate::formats::error::{FormatError, Problem};
use crate::io::BitReader;

use super::nal::{remove_emulation_prevention, NalHeader, NalType};
use super::pps::{Pps, MAX_PPS_ID};
use super::sps::Sps;

/// At most this many `ref_pic_list_modification` or `memory_management_control_operation`
/// entries per list are read (the spec bounds them by the number of reference pictures,
/// at most 32, plus the terminator).
const MAX_SYNTAX_LOOP: usize = 66;

/// `slice_type` modulo 5 (H.264 Table 7-6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceType {
    /// P slice.
    P,
    /// B slice.
    B,
    /// I slice.
    I,
    /// SP slice.
    Sp,
    /// SI slice.
    Si,
}

impl SliceType {
    fn from_value(v: u32) -> SliceType {
        match v % 5 {
            0 => SliceType::P,
            1 => SliceType::B,
            2 => SliceType::I,
            3 => SliceType::Sp,
            _ => SliceType::Si,
        }
    }
}

/// The leading fields of a slice header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceHeader {
    /// `nal_ref_idc` of the slice's NAL unit.
    pub nal_ref_idc: u8,
    /// True for an IDR picture (NAL type 5).
    pub idr: bool,
    /// `first_mb_in_slice`.
    pub first_mb_in_slice: u32,
    /// `slice_type` as coded (0..=9; values 5..=9 say all slices of the picture share it).
    pub slice_type_raw: u32,
    /// `pic_parameter_set_id`.
    pub pps_id: u32,
    /// `colour_plane_id` (when `separate_colour_plane_flag`).
    pub colour_plane_id: Option<u8>,
    /// `frame_num`.
    pub frame_num: u32,
    /// `field_pic_flag`.
    pub field_pic: bool,
    /// `bottom_field_flag`.
    pub bottom_field: bool,
    /// `idr_pic_id` (IDR pictures).
    pub idr_pic_id: Option<u32>,
    /// `pic_order_cnt_lsb` (POC type 0).
    pub pic_order_cnt_lsb: u32,
    /// `delta_pic_order_cnt_bottom` (POC type 0).
    pub delta_pic_order_cnt_bottom: i32,
    /// `delta_pic_order_cnt[0..1]` (POC type 1).
    pub delta_pic_order_cnt: [i32; 2],
    /// True when `dec_ref_pic_marking()` holds `memory_management_control_operation` 5.
    pub mmco5: bool,
}

impl SliceHeader {
    /// The slice type.
    pub fn slice_type(&self) -> SliceType {
        SliceType::from_value(self.slice_type_raw)
    }

    /// Reads only `pic_parameter_set_id` of a slice NAL unit (to find the PPS to pass to
    /// [`SliceHeader::parse`]).
    pub fn pps_id_of(nal: &[u8], offset: u64) -> Result<u32, FormatError> {
        let head = nal.get(1..nal.len().min(16)).unwrap_or(&[]);
        let rbsp = remove_emulation_prevention(head);
        let mut r = BitReader::new(&rbsp, offset + 1, "h264 slice");
        r.read_ue("first_mb_in_slice")?;
        r.read_ue_max(9, "slice_type")?;
        r.read_ue_max(MAX_PPS_ID, "pic_parameter_set_id")
    }

    /// Parses the slice header of a slice NAL unit (types 1 or 5, header byte included).
    pub fn parse(
        nal: &[u8],
        offset: u64,
        sps: &Sps,
        pps: &Pps,
    ) -> Result<SliceHeader, FormatError> {
        let h = NalHeader::parse(nal, offset)?;
        if !matches!(h.nal_unit_type, NalType::SLICE | NalType::IDR) {
            return Err(FormatError::new(
                "h264 slice",
                offset,
                Problem::BadValue {
                    field: "nal_unit_type",
                    value: u64::from(h.nal_unit_type.0),
                },
            ));
        }
        // The header is short; a bounded prefix avoids copying whole slices when
        // removing emulation prevention bytes. Headers with long reordering / weight tables
        // may need more, so fall back to the whole unit.
        let body = nal.get(1..).unwrap_or(&[]);
        match Self::parse_body(
            body.get(..body.len().min(256)).unwrap_or(body),
            offset,
            h,
            sps,
            pps,
        ) {
            Err(e) if e.is_truncation() && body.len() > 256 => {
                Self::parse_body(body, offset, h, sps, pps)
            }
            other => other,
        }
    }

    fn parse_body(
        body: &[u8],
        offset: u64,
        h: NalHeader,
        sps: &Sps,
        pps: &Pps,
    ) -> Result<SliceHeader, FormatError> {
        let rbsp = remove_emulation_prevention(body);
        let mut r = BitReader::new(&rbsp, offset + 1, "h264 slice");
        let idr = h.nal_unit_type == NalType::IDR;
        let first_mb_in_slice = r.read_ue("first_mb_in_slice")?;
        let slice_type_raw = r.read_ue_max(9, "slice_type")?;
        let pps_id = r.read_ue_max(MAX_PPS_ID, "pic_parameter_set_id")?;
        if pps_id != pps.pps_id {
            return Err(r.invalid(format!(
                "slice refers to PPS {pps_id}, given PPS {}",
                pps.pps_id
            )));
        }
        let colour_plane_id = if sps.separate_colour_plane {
            Some(r.read_bits(2, "colour_plane_id")? as u8)
        } else {
            None
        };
        let frame_num = r.read_bits(sps.log2_max_frame_num, "frame_num")?;
        let mut field_pic = false;
        let mut bottom_field = false;
        if !sps.frame_mbs_only {
            field_pic = r.read_bit("field_pic_flag")?;
            if field_pic {
                bottom_field = r.read_bit("bottom_field_flag")?;
            }
        }
        let idr_pic_id = if idr {
            Some(r.read_ue_max(65535, "idr_pic_id")?)
        } else {
            None
        };
        let mut pic_order_cnt_lsb = 0;
        let mut delta_pic_order_cnt_bottom = 0;
        let mut delta_pic_order_cnt = [0; 2];
        if sps.pic_order_cnt_type == 0 {
            pic_order_cnt_lsb = r.read_bits(sps.log2_max_pic_order_cnt_lsb, "pic_order_cnt_lsb")?;
            if pps.bottom_field_pic_order_in_frame_present && !field_pic {
                delta_pic_order_cnt_bottom = r.read_se("delta_pic_order_cnt_bottom")?;
            }
        }
        if sps.pic_order_cnt_type == 1 && !sps.delta_pic_order_always_zero {
            delta_pic_order_cnt[0] = r.read_se("delta_pic_order_cnt[0]")?;
            if pps.bottom_field_pic_order_in_frame_present && !field_pic {
                delta_pic_order_cnt[1] = r.read_se("delta_pic_order_cnt[1]")?;
            }
        }
        let mut sh = SliceHeader {
            nal_ref_idc: h.nal_ref_idc,
            idr,
            first_mb_in_slice,
            slice_type_raw,
            pps_id,
            colour_plane_id,
            frame_num,
            field_pic,
            bottom_field,
            idr_pic_id,
            pic_order_cnt_lsb,
            delta_pic_order_cnt_bottom,
            delta_pic_order_cnt,
            mmco5: false,
        };
        sh.mmco5 = sh.read_to_mmco(&mut r, sps, pps)?;
        Ok(sh)
    }

    /// Reads on from `redundant_pic_cnt` to `dec_ref_pic_marking()`; true when it holds
    /// `memory_management_control_operation` 5.
    fn read_to_mmco(
        &self,
        r: &mut BitReader<'_>,
        sps: &Sps,
        pps: &Pps,
    ) -> Result<bool, FormatError> {
        let st = self.slice_type();
        if pps.redundant_pic_cnt_present {
            r.read_ue("redundant_pic_cnt")?;
        }
        if st == SliceType::B {
            r.skip(1, "direct_spatial_mv_pred_flag")?;
        }
        let mut l0 = pps.num_ref_idx_l0_default_active_minus1;
        let mut l1 = pps.num_ref_idx_l1_default_active_minus1;
        if matches!(st, SliceType::P | SliceType::Sp | SliceType::B)
            && r.read_bit("num_ref_idx_active_override_flag")?
        {
            l0 = r.read_ue_max(31, "num_ref_idx_l0_active_minus1")?;
            if st == SliceType::B {
                l1 = r.read_ue_max(31, "num_ref_idx_l1_active_minus1")?;
            }
        }
        // ref_pic_list_modification() (7.3.3.1).
        let lists = match st {
            SliceType::I | SliceType::Si => 0,
            SliceType::B => 2,
            _ => 1,
        };
        for _ in 0..lists {
            if r.read_bit("ref_pic_list_modification_flag")? {
                let mut n = 0;
                loop {
                    let idc = r.read_ue_max(5, "modification_of_pic_nums_idc")?;
                    if idc == 3 {
                        break;
                    }
                    r.read_ue("abs_diff_pic_num_minus1 / long_term_pic_num")?;
                    n += 1;
                    if n > MAX_SYNTAX_LOOP {
                        return Err(r.invalid("ref_pic_list_modification does not end"));
                    }
                }
            }
        }
        // pred_weight_table() (7.3.3.2).
        if (pps.weighted_pred && matches!(st, SliceType::P | SliceType::Sp))
            || (pps.weighted_bipred_idc == 1 && st == SliceType::B)
        {
            r.read_ue("luma_log2_weight_denom")?;
            let chroma = sps.chroma_array_type() != 0;
            if chroma {
                r.read_ue("chroma_log2_weight_denom")?;
            }
            let mut counts = vec![l0];
            if st == SliceType::B {
                counts.push(l1);
            }
            for count in counts {
                for _ in 0..=count {
                    if r.read_bit("luma_weight_flag")? {
                        r.read_se("luma_weight")?;
                        r.read_se("luma_offset")?;
                    }
                    if chroma && r.read_bit("chroma_weight_flag")? {
                        for _ in 0..2 {
                            r.read_se("chroma_weight")?;
                            r.read_se("chroma_offset")?;
                        }
                    }
                }
            }
        }
        // dec_ref_pic_marking() (7.3.3.3).
        let mut mmco5 = false;
        if self.nal_ref_idc != 0 {
            if self.idr {
                r.skip(2, "no_output_of_prior_pics_flag, long_term_reference_flag")?;
            } else if r.read_bit("adaptive_ref_pic_marking_mode_flag")? {
                let mut n = 0;
                loop {
                    let op = r.read_ue_max(6, "memory_management_control_operation")?;
                    match op {
                        0 => break,
                        1 => {
                            r.read_ue("difference_of_pic_nums_minus1")?;
                        }
                        2 => {
                            r.read_ue("long_term_pic_num")?;
                        }
                        3 => {
                            r.read_ue("difference_of_pic_nums_minus1")?;
                            r.read_ue("long_term_frame_idx")?;
                        }
                        4 => {
                            r.read_ue("max_long_term_frame_idx_plus1")?;
                        }
                        5 => mmco5 = true,
                        _ => {
                            r.read_ue("long_term_frame_idx")?;
                        }
                    }
                    n += 1;
                    if n > MAX_SYNTAX_LOOP {
                        return Err(r.invalid("dec_ref_pic_marking does not end"));
                    }
                }
            }
        }
        Ok(mmco5)
    }
}
