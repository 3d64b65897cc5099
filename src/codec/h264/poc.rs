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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::h264::{AnnexBNals, NalHeader, NalType, Pps, SliceHeader};
    use bytes::Bytes;

    #[test]
    fn poc_order_matches_ffprobe_display_order() {
        // Oracle: `ffprobe -show_frames -show_entries frame=coded_picture_number
        // tests/fixtures/h264_bframes.h264` lists frames in display order with their decode
        // index: 0 2 3 1 5 6 4 ... (I P B B pattern, an IDR at 25).
        let display: Vec<u32> = {
            let mut v = vec![0, 2, 3, 1];
            for g in 0..7 {
                let p = 1 + 3 * g;
                v.extend([p + 4, p + 5, p + 3]);
            }
            v.push(25);
            v.extend([27, 28, 26]);
            for g in 0..7 {
                let p = 26 + 3 * g;
                v.extend([p + 4, p + 5, p + 3]);
            }
            v
        };
        assert_eq!(&display[..10], &[0, 2, 3, 1, 5, 6, 4, 8, 9, 7]);
        assert_eq!(&display[22..28], &[23, 24, 22, 25, 27, 28]);
        assert_eq!(display.len(), 50);

        let data = Bytes::from_static(include_bytes!("../../../tests/fixtures/h264_bframes.h264"));
        let mut sps = None;
        let mut pps = None;
        let mut calc = PocCalculator::new();
        let mut period = 0u32;
        let mut pics: Vec<(u32, i64, u32)> = Vec::new(); // (period, poc, decode index)
        for nal in AnnexBNals::new(data, 0) {
            let h = NalHeader::parse(&nal.data, nal.offset).unwrap();
            match h.nal_unit_type {
                NalType::SPS => sps = Some(Sps::parse(&nal.data, nal.offset).unwrap()),
                NalType::PPS => pps = Some(Pps::parse(&nal.data, nal.offset).unwrap()),
                NalType::SLICE | NalType::IDR => {
                    let (s, p) = (sps.as_ref().unwrap(), pps.as_ref().unwrap());
                    let sh = SliceHeader::parse(&nal.data, nal.offset, s, p).unwrap();
                    if sh.first_mb_in_slice != 0 {
                        continue;
                    }
                    let pic = calc.next(s, &sh);
                    if sh.idr && !pics.is_empty() {
                        period += 1;
                    }
                    pics.push((period, pic.poc, pics.len() as u32));
                }
                _ => {}
            }
        }
        assert_eq!(pics.len(), 50);
        pics.sort();
        let ours: Vec<u32> = pics.iter().map(|p| p.2).collect();
        assert_eq!(ours, display);
    }

    fn sps_type(t: u32) -> Sps {
        // A minimal SPS to drive the calculator: MaxFrameNum 16, MaxPicOrderCntLsb 16.
        let mut s = Sps::parse(&[0x67, 0x42, 0xc0, 0x1e, 0xf4, 0x0a, 0x0f, 0x88], 0).unwrap();
        s.pic_order_cnt_type = t;
        s.log2_max_frame_num = 4;
        s.log2_max_pic_order_cnt_lsb = 4;
        s
    }

    fn sh(idr: bool, ref_idc: u8, frame_num: u32, lsb: u32) -> SliceHeader {
        SliceHeader {
            nal_ref_idc: ref_idc,
            idr,
            first_mb_in_slice: 0,
            slice_type_raw: if idr { 7 } else { 5 },
            pps_id: 0,
            colour_plane_id: None,
            frame_num,
            field_pic: false,
            bottom_field: false,
            idr_pic_id: idr.then_some(0),
            pic_order_cnt_lsb: lsb,
            delta_pic_order_cnt_bottom: 0,
            delta_pic_order_cnt: [0, 0],
            mmco5: false,
        }
    }

    #[test]
    fn type0_lsb_wrap_and_mmco5() {
        // H.264 8.2.1.1 worked by hand with MaxPicOrderCntLsb = 16: lsb 0, 6, 12, then 2
        // (wrapped: 12 - 2 >= 8, so msb += 16 -> 18), then 8 -> 24.
        let s = sps_type(0);
        let mut c = PocCalculator::new();
        let pocs: Vec<i64> = [(true, 0), (false, 6), (false, 12), (false, 2), (false, 8)]
            .iter()
            .enumerate()
            .map(|(i, &(idr, lsb))| c.next(&s, &sh(idr, 1, i as u32, lsb)).poc)
            .collect();
        assert_eq!(pocs, vec![0, 6, 12, 18, 24]);
        // MMCO 5 on a picture with lsb 10 (poc 26 after msb 16): prevLsb becomes
        // TopFieldOrderCnt - tempPicOrderCnt = 0, prevMsb 0, so the next lsb 4 gives poc 4.
        let mut m = sh(false, 1, 5, 10);
        m.mmco5 = true;
        let p = c.next(&s, &m);
        assert_eq!((p.poc, p.resets), (26, true));
        assert_eq!(c.next(&s, &sh(false, 1, 1, 4)).poc, 4);
    }

    #[test]
    fn type2_counts_from_frame_num() {
        // 8.2.1.3: tempPicOrderCnt = 2 × (FrameNumOffset + frame_num), minus 1 for
        // non-reference pictures; frame_num wraps at MaxFrameNum 16 into FrameNumOffset.
        let s = sps_type(2);
        let mut c = PocCalculator::new();
        assert_eq!(c.next(&s, &sh(true, 1, 0, 0)).poc, 0);
        assert_eq!(c.next(&s, &sh(false, 1, 1, 0)).poc, 2);
        assert_eq!(c.next(&s, &sh(false, 0, 2, 0)).poc, 3);
        assert_eq!(c.next(&s, &sh(false, 1, 15, 0)).poc, 30);
        assert_eq!(c.next(&s, &sh(false, 1, 0, 0)).poc, 32);
    }

    #[test]
    fn type1_expected_deltas() {
        // 8.2.1.2 with offset_for_ref_frame = [4, 2] (ExpectedDeltaPerPicOrderCntCycle 6),
        // offset_for_non_ref_pic = -3: frame_num 1 ref -> absFrameNum 1 -> cycle 0, index 0
        // -> 4; frame_num 2 ref -> 4 + 2 = 6; frame_num 3 ref -> cycle 1, index 0 -> 6 + 4 =
        // 10; non-ref frame_num 3 -> absFrameNum 2 -> 6 - 3 = 3.
        let mut s = sps_type(1);
        s.offset_for_ref_frame = vec![4, 2];
        s.offset_for_non_ref_pic = -3;
        let mut c = PocCalculator::new();
        assert_eq!(c.next(&s, &sh(true, 1, 0, 0)).poc, 0);
        assert_eq!(c.next(&s, &sh(false, 1, 1, 0)).poc, 4);
        assert_eq!(c.next(&s, &sh(false, 1, 2, 0)).poc, 6);
        assert_eq!(c.next(&s, &sh(false, 1, 3, 0)).poc, 10);
        assert_eq!(c.next(&s, &sh(false, 0, 3, 0)).poc, 3);
    }
}
