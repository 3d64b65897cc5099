//! H.264 / AVC bitstream helpers (ITU-T H.264, ISO/IEC 14496-15 for `avcC`).
//!
//! | part | spec |
//! |---|---|
//! | NAL unit types, emulation prevention | H.264 7.3.1, 7.4.1, Table 7-1 |
//! | [`Sps`] (incl. VUI, scaling lists skipped) | H.264 7.3.2.1.1, E.1.1 |
//! | [`Pps`] | H.264 7.3.2.2 (FMO is refused) |
//! | [`SliceHeader`] up to `dec_ref_pic_marking` | H.264 7.3.3 |
//! | [`PocCalculator`] | H.264 8.2.1 (POC types 0, 1, 2; IDR and MMCO 5) |
//! | [`AvcConfig`] (`avcC`) | ISO/IEC 14496-15 5.3.3.1 |
//! | Annex B / length-prefixed NAL iterators and conversions | H.264 Annex B; 14496-15 5.3.2 |
//!
//! Known gaps: SPS extensions, subset SPS (SVC/MVC) and slice data are not parsed; offsets in
//! errors from inside an SPS/PPS/slice header count bytes of the RBSP (after emulation
//! prevention bytes were removed), relative to the NAL unit's own offset.

mod annexb;
mod avcc;
mod nal;
mod poc;
mod pps;
mod slice;
mod sps;

pub use annexb::{
    annexb_to_length_prefixed, find_start_code, length_prefixed_to_annexb, AnnexBNal, AnnexBNals,
    LengthPrefixedNals,
};
pub use avcc::{AvcConfig, AvcConfigExt};
pub use nal::{add_emulation_prevention, remove_emulation_prevention, NalHeader, NalType};
pub use poc::{PocCalculator, PocPicture};
pub use pps::Pps;
pub use slice::{SliceHeader, SliceType};
pub use sps::{Sps, Vui};
