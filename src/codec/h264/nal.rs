//! NAL unit header and types (H.264 7.3.1, Table 7-1) and emulation prevention removal.

use std::borrow::Cow;
use std::fmt;

use crate::formats::error::{FormatError, Problem};

/// `nal_unit_type`: an open set of numbers with named constants (H.264 Table 7-1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NalType(pub u8);

impl NalType {
    /// Coded slice of a non-IDR picture.
    pub const SLICE: Self = Self(1);
    /// Coded slice data partition A.
    pub const SLICE_DPA: Self = Self(2);
    /// Coded slice data partition B.
    pub const SLICE_DPB: Self = Self(3);
    /// Coded slice data partition C.
    pub const SLICE_DPC: Self = Self(4);
    /// Coded slice of an IDR picture.
    pub const IDR: Self = Self(5);
    /// Supplemental enhancement information.
    pub const SEI: Self = Self(6);
    /// Sequence parameter set.
    pub const SPS: Self = Self(7);
    /// Picture parameter set.
    pub const PPS: Self = Self(8);
    /// Access unit delimiter.
    pub const AUD: Self = Self(9);
    /// End of sequence.
    pub const END_OF_SEQUENCE: Self = Self(10);
    /// End of stream.
    pub const END_OF_STREAM: Self = Self(11);
    /// Filler data.
    pub const FILLER: Self = Self(12);
    /// Sequence parameter set extension.
    pub const SPS_EXT: Self = Self(13);
    /// Prefix NAL unit (SVC/MVC).
    pub const PREFIX: Self = Self(14);
    /// Subset sequence parameter set.
    pub const SUBSET_SPS: Self = Self(15);
    /// Coded slice of an auxiliary picture without partitioning.
    pub const AUX_SLICE: Self = Self(19);
    /// Coded slice extension (SVC/MVC).
    pub const SLICE_EXT: Self = Self(20);

    /// The spec's short name, if the type is assigned.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "non-IDR slice",
            2 => "slice data partition A",
            3 => "slice data partition B",
            4 => "slice data partition C",
            5 => "IDR slice",
            6 => "SEI",
            7 => "SPS",
            8 => "PPS",
            9 => "access unit delimiter",
            10 => "end of sequence",
            11 => "end of stream",
            12 => "filler data",
            13 => "SPS extension",
            14 => "prefix NAL unit",
            15 => "subset SPS",
            16 => "depth parameter set",
            19 => "auxiliary slice",
            20 => "slice extension",
            21 => "depth slice extension",
            _ => return None,
        })
    }

    /// True for coded slices of a primary picture (types 1 to 5).
    pub fn is_slice(self) -> bool {
        (1..=5).contains(&self.0)
    }

    /// True for the VCL types (1 to 5), the ones that start a new access unit when
    /// `first_mb_in_slice` is 0.
    pub fn is_vcl(self) -> bool {
        self.is_slice()
    }
}

impl fmt::Debug for NalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} ({})", self.0),
            None => write!(f, "NalType({})", self.0),
        }
    }
}

impl fmt::Display for NalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The one-byte NAL unit header (H.264 7.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NalHeader {
    /// `nal_ref_idc` (0 = not used for reference).
    pub nal_ref_idc: u8,
    /// `nal_unit_type`.
    pub nal_unit_type: NalType,
}

impl NalHeader {
    /// Parses the first byte of `nal`; `offset` is its absolute position for errors.
    pub fn parse(nal: &[u8], offset: u64) -> Result<NalHeader, FormatError> {
        let Some(&b) = nal.first() else {
            return Err(FormatError::new(
                "h264",
                offset,
                Problem::Truncated {
                    what: "NAL unit header",
                    need: 1,
                },
            ));
        };
        if b & 0x80 != 0 {
            return Err(FormatError::new(
                "h264",
                offset,
                Problem::BadValue {
                    field: "forbidden_zero_bit",
                    value: 1,
                },
            ));
        }
        Ok(NalHeader {
            nal_ref_idc: (b >> 5) & 3,
            nal_unit_type: NalType(b & 0x1f),
        })
    }

    /// The type of a NAL unit from its first byte (0 for an empty unit).
    pub fn type_of(nal: &[u8]) -> NalType {
        NalType(nal.first().map_or(0, |b| b & 0x1f))
    }
}

/// Removes emulation prevention bytes: every `00 00 03` becomes `00 00` (H.264 7.4.1).
///
/// Returns the input unchanged (borrowed) when it holds none.
pub fn remove_emulation_prevention(data: &[u8]) -> Cow<'_, [u8]> {
    let has = data.windows(3).any(|w| w == [0, 0, 3]);
    if !has {
        return Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0usize;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        out.push(b);
        if b == 0 {
            zeros += 1;
        } else {
            zeros = 0;
        }
    }
    Cow::Owned(out)
}

/// Adds emulation prevention bytes to an RBSP so it can be carried in a NAL unit
/// (the inverse of [`remove_emulation_prevention`], H.264 7.4.1).
pub fn add_emulation_prevention(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64);
    let mut zeros = 0usize;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        if b == 0 {
            zeros += 1;
        } else {
            zeros = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emulation_prevention_removed() {
        // H.264 7.4.1: 00 00 03 0x -> 00 00 0x. Hand-made: the SPS tail from vod_idx0's avcC,
        // `11 00 00 03 00 01 00 00 03 00 3c` -> `11 00 00 00 01 00 00 00 3c`.
        let nal = [0x11, 0, 0, 3, 0, 1, 0, 0, 3, 0, 0x3c];
        assert_eq!(
            &*remove_emulation_prevention(&nal),
            &[0x11, 0, 0, 0, 1, 0, 0, 0, 0x3c]
        );
        // `00 00 03 03` keeps the second 03 (it is data).
        assert_eq!(&*remove_emulation_prevention(&[0, 0, 3, 3]), &[0, 0, 3]);
        // Nothing to remove: borrowed.
        assert!(matches!(
            remove_emulation_prevention(&[0, 0, 1, 3]),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn emulation_prevention_round_trip() {
        let rbsp = [0u8, 0, 0, 1, 0, 0, 2, 0, 0, 3, 5, 0, 0];
        let nal = add_emulation_prevention(&rbsp);
        assert!(!nal.windows(3).any(|w| w == [0, 0, 0] || w == [0, 0, 1]));
        assert_eq!(&*remove_emulation_prevention(&nal), &rbsp);
    }

    #[test]
    fn nal_header_fields() {
        // 0x67 = 0 11 00111: nal_ref_idc 3, SPS.
        let h = NalHeader::parse(&[0x67], 0).unwrap();
        assert_eq!(h.nal_ref_idc, 3);
        assert_eq!(h.nal_unit_type, NalType::SPS);
        assert!(NalHeader::parse(&[0x85], 9).is_err());
        assert_eq!(format!("{:?}", NalType(5)), "IDR slice (5)");
    }
}
