//! Picture parameter set (H.264 7.3.2.2), as far as slice headers need it.

use crate::formats::error::{FormatError, Problem};
use crate::io::BitReader;

use super::nal::{remove_emulation_prevention, NalHeader, NalType};
use super::sps::MAX_SPS_ID;

/// `pic_parameter_set_id` is at most 255 (H.264 7.4.2.2).
pub const MAX_PPS_ID: u32 = 255;
/// `num_ref_idx_l*_default_active_minus1` is at most 31.
const MAX_REF_IDX_MINUS1: u32 = 31;

/// A parsed picture parameter set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pps {
    /// `pic_parameter_set_id`.
    pub pps_id: u32,
    /// `seq_parameter_set_id`.
    pub sps_id: u32,
    /// `entropy_coding_mode_flag` (true = CABAC).
    pub entropy_coding_mode: bool,
    /// `bottom_field_pic_order_in_frame_present_flag`.
    pub bottom_field_pic_order_in_frame_present: bool,
    /// `num_slice_groups_minus1 + 1` (always 1: FMO is refused).
    pub num_slice_groups: u32,
    /// `num_ref_idx_l0_default_active_minus1`.
    pub num_ref_idx_l0_default_active_minus1: u32,
    /// `num_ref_idx_l1_default_active_minus1`.
    pub num_ref_idx_l1_default_active_minus1: u32,
    /// `weighted_pred_flag`.
    pub weighted_pred: bool,
    /// `weighted_bipred_idc`.
    pub weighted_bipred_idc: u32,
    /// `pic_init_qp_minus26`.
    pub pic_init_qp_minus26: i32,
    /// `pic_init_qs_minus26`.
    pub pic_init_qs_minus26: i32,
    /// `chroma_qp_index_offset`.
    pub chroma_qp_index_offset: i32,
    /// `deblocking_filter_control_present_flag`.
    pub deblocking_filter_control_present: bool,
    /// `constrained_intra_pred_flag`.
    pub constrained_intra_pred: bool,
    /// `redundant_pic_cnt_present_flag`.
    pub redundant_pic_cnt_present: bool,
    /// `transform_8x8_mode_flag` (false when the optional tail is absent).
    pub transform_8x8_mode: bool,
}

impl Pps {
    /// Parses a PPS NAL unit (header byte included); `offset` is its absolute offset.
    ///
    /// Slice groups (FMO, Baseline's `num_slice_groups_minus1 > 0`) are refused as
    /// unsupported.
    pub fn parse(nal: &[u8], offset: u64) -> Result<Pps, FormatError> {
        let h = NalHeader::parse(nal, offset)?;
        if h.nal_unit_type != NalType::PPS {
            return Err(FormatError::new(
                "h264 pps",
                offset,
                Problem::BadValue {
                    field: "nal_unit_type",
                    value: u64::from(h.nal_unit_type.0),
                },
            ));
        }
        let rbsp = remove_emulation_prevention(nal.get(1..).unwrap_or(&[]));
        let mut r = BitReader::new(&rbsp, offset + 1, "h264 pps");
        let pps_id = r.read_ue_max(MAX_PPS_ID, "pic_parameter_set_id")?;
        let sps_id = r.read_ue_max(MAX_SPS_ID, "seq_parameter_set_id")?;
        let entropy_coding_mode = r.read_bit("entropy_coding_mode_flag")?;
        let bottom_field_pic_order_in_frame_present =
            r.read_bit("bottom_field_pic_order_in_frame_present_flag")?;
        let groups_minus1 = r.read_ue("num_slice_groups_minus1")?;
        if groups_minus1 > 0 {
            return Err(r.error(Problem::Unsupported(format!(
                "flexible macroblock ordering ({} slice groups)",
                u64::from(groups_minus1) + 1
            ))));
        }
        let l0 = r.read_ue_max(MAX_REF_IDX_MINUS1, "num_ref_idx_l0_default_active_minus1")?;
        let l1 = r.read_ue_max(MAX_REF_IDX_MINUS1, "num_ref_idx_l1_default_active_minus1")?;
        let weighted_pred = r.read_bit("weighted_pred_flag")?;
        let weighted_bipred_idc = r.read_bits(2, "weighted_bipred_idc")?;
        let pic_init_qp_minus26 = r.read_se_range(-26 - 48, 25, "pic_init_qp_minus26")?;
        let pic_init_qs_minus26 = r.read_se_range(-26, 25, "pic_init_qs_minus26")?;
        let chroma_qp_index_offset = r.read_se_range(-12, 12, "chroma_qp_index_offset")?;
        let deblocking_filter_control_present =
            r.read_bit("deblocking_filter_control_present_flag")?;
        let constrained_intra_pred = r.read_bit("constrained_intra_pred_flag")?;
        let redundant_pic_cnt_present = r.read_bit("redundant_pic_cnt_present_flag")?;
        let transform_8x8_mode = if r.more_rbsp_data() {
            r.read_bit("transform_8x8_mode_flag")?
        } else {
            false
        };
        Ok(Pps {
            pps_id,
            sps_id,
            entropy_coding_mode,
            bottom_field_pic_order_in_frame_present,
            num_slice_groups: 1,
            num_ref_idx_l0_default_active_minus1: l0,
            num_ref_idx_l1_default_active_minus1: l1,
            weighted_pred,
            weighted_bipred_idc,
            pic_init_qp_minus26,
            pic_init_qs_minus26,
            chroma_qp_index_offset,
            deblocking_filter_control_present,
            constrained_intra_pred,
            redundant_pic_cnt_present,
            transform_8x8_mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vod_pps_fields() {
        // PPS from vod_idx0's avcC: 68 ef 8f cb. Hand decode of ef 8f cb =
        // 1110 1111 1000 1111 1100 1011:
        // 1 pps_id 0 | 1 sps_id 0 | 1 CABAC | 0 bottom_field_pic_order | 1 slice groups 1 |
        // 1 l0 0 | 1 l1 0 | 1 weighted_pred | 10 bipred 2 | 0 0 0 1 1 1 -> se(6)= -3 qp |
        // 1 qs 0 | 1 chroma 0 | 1 deblock | 0 constrained | 0 redundant |
        // 1 transform_8x8 | 011 = stop bit + padding? (see assertions)
        let p = Pps::parse(&[0x68, 0xef, 0x8f, 0xcb], 0).unwrap();
        assert_eq!((p.pps_id, p.sps_id), (0, 0));
        assert!(p.entropy_coding_mode);
        assert!(!p.bottom_field_pic_order_in_frame_present);
        assert!(p.weighted_pred);
        assert_eq!(p.weighted_bipred_idc, 2);
        assert_eq!(p.pic_init_qp_minus26, -3);
        assert!(p.deblocking_filter_control_present);
        assert!(p.transform_8x8_mode);
    }

    #[test]
    fn fmo_is_refused() {
        // 1 pps0 1 sps0 0 CAVLC 0 | 010 num_slice_groups_minus1 = 1 -> 1100 010(0)
        let e = Pps::parse(&[0x68, 0xc4], 0).unwrap_err();
        assert!(e.to_string().contains("slice groups"), "{e}");
    }
}
