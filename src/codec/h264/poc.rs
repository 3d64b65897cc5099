//! Picture order count (H.264 8.2.1): the decoding process for POC types 0, 1 and 2,
//! across IDR pictures and `memory_management_control_operation` 5.

use super::slice::SliceHeader;
use super::sps::Sps;

/// The order counts of one picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PocPicture {
    /// `TopFieldOrderCnt` (equal to `poc` for a bottom field alone).
    pub top: i64,
    /// `BottomFieldOrderCnt` (equal to `poc` for a top field alone).
    pub bottom: i64,
    /// `PicOrderCnt(CurrPic)`: the smaller of the two for a frame, the field's own count
    /// for a field.
    pub poc: i64,
    /// True when this picture starts a new POC period (IDR) or ends one (MMCO 5): pictures
    /// after it are ordered independently of pictures before it.
    pub resets: bool,
}

/// Computes `PicOrderCnt` for each picture in decoding order. Feed it the first slice
/// header of every picture.
#[derive(Clone, Debug, Default)]
pub struct PocCalculator {
    prev_poc_msb: i64,
    prev_poc_lsb: i64,
    prev_frame_num_offset: i64,
    prev_frame_num: u32,
}

impl PocCalculator {
    /// A calculator for a stream that starts with an IDR picture.
    pub fn new() -> Self {
        Self::default()
    }

    /// The order counts of the picture whose first slice header is `sh`.
    pub fn next(&mut self, sps: &Sps, sh: &SliceHeader) -> PocPicture {
        let (top, bottom) = match sps.pic_order_cnt_type {
            0 => self.type0(sps, sh),
            1 => self.type1(sps, sh),
            _ => self.type2(sps, sh),
        };
        let poc = if !sh.field_pic {
            top.min(bottom)
        } else if sh.bottom_field {
            bottom
        } else {
            top
        };
        if sh.mmco5 {
            // 8.2.1: after MMCO 5 the picture's counts become relative to tempPicOrderCnt,
            // and it acts as frame_num 0 with FrameNumOffset 0 for what follows.
            let temp = poc;
            if sps.pic_order_cnt_type == 0 && sh.nal_ref_idc != 0 {
                self.prev_poc_msb = 0;
                self.prev_poc_lsb = if sh.field_pic && sh.bottom_field {
                    0
                } else {
                    top - temp
                };
            }
            self.prev_frame_num_offset = 0;
            self.prev_frame_num = 0;
        }
        PocPicture {
            top,
            bottom,
            poc,
            resets: sh.idr || sh.mmco5,
        }
    }

    /// 8.2.1.1.
    fn type0(&mut self, sps: &Sps, sh: &SliceHeader) -> (i64, i64) {
        if sh.idr {
            self.prev_poc_msb = 0;
            self.prev_poc_lsb = 0;
        }
        let max_lsb = 1i64 << sps.log2_max_pic_order_cnt_lsb;
        let lsb = i64::from(sh.pic_order_cnt_lsb);
        let (pm, pl) = (self.prev_poc_msb, self.prev_poc_lsb);
        let msb = if lsb < pl && pl - lsb >= max_lsb / 2 {
            pm + max_lsb
        } else if lsb > pl && lsb - pl > max_lsb / 2 {
            pm - max_lsb
        } else {
            pm
        };
        let top = msb + lsb;
        let bottom = if !sh.field_pic {
            top + i64::from(sh.delta_pic_order_cnt_bottom)
        } else {
            msb + lsb
        };
        if sh.nal_ref_idc != 0 {
            self.prev_poc_msb = msb;
            self.prev_poc_lsb = lsb;
        }
        (top, bottom)
    }

    fn frame_num_offset(&mut self, sps: &Sps, sh: &SliceHeader) -> i64 {
        let off = if sh.idr {
            0
        } else if self.prev_frame_num > sh.frame_num {
            self.prev_frame_num_offset + i64::from(sps.max_frame_num())
        } else {
            self.prev_frame_num_offset
        };
        self.prev_frame_num_offset = off;
        self.prev_frame_num = sh.frame_num;
        off
    }

    /// 8.2.1.2.
    fn type1(&mut self, sps: &Sps, sh: &SliceHeader) -> (i64, i64) {
        let frame_num_offset = self.frame_num_offset(sps, sh);
        let cycle = &sps.offset_for_ref_frame;
        let mut abs_frame_num = if cycle.is_empty() {
            0
        } else {
            frame_num_offset + i64::from(sh.frame_num)
        };
        if sh.nal_ref_idc == 0 && abs_frame_num > 0 {
            abs_frame_num -= 1;
        }
        let mut expected = 0i64;
        if abs_frame_num > 0 {
            let len = cycle.len() as i64;
            let delta_per_cycle: i64 = cycle.iter().map(|&o| i64::from(o)).sum();
            let cycle_cnt = (abs_frame_num - 1) / len;
            let in_cycle = ((abs_frame_num - 1) % len) as usize;
            expected = cycle_cnt * delta_per_cycle
                + cycle
                    .iter()
                    .take(in_cycle + 1)
                    .map(|&o| i64::from(o))
                    .sum::<i64>();
        }
        if sh.nal_ref_idc == 0 {
            expected += i64::from(sps.offset_for_non_ref_pic);
        }
        let d0 = i64::from(sh.delta_pic_order_cnt[0]);
        let d1 = i64::from(sh.delta_pic_order_cnt[1]);
        let t2b = i64::from(sps.offset_for_top_to_bottom_field);
        if !sh.field_pic {
            let top = expected + d0;
            (top, top + t2b + d1)
        } else if !sh.bottom_field {
            let top = expected + d0;
            (top, top)
        } else {
            let bottom = expected + t2b + d0;
            (bottom, bottom)
        }
    }

    /// 8.2.1.3.
    fn type2(&mut self, sps: &Sps, sh: &SliceHeader) -> (i64, i64) {
        let frame_num_offset = self.frame_num_offset(sps, sh);
        let temp = if sh.idr {
            0
        } else if sh.nal_ref_idc == 0 {
            2 * (frame_num_offset + i64::from(sh.frame_num)) - 1
        } else {
            2 * (frame_num_offset + i64::from(sh.frame_num))
        };
        (temp, temp)
    }
}
