//! `AVCDecoderConfigurationRecord` (`avcC`, ISO/IEC 14496-15 5.3.3.1).
//!
//! ```text
//! configurationVersion = 1          u8
//! AVCProfileIndication               u8   (SPS profile_idc)
//! profile_compatibility              u8   (SPS constraint flags)
//! AVCLevelIndication                 u8   (SPS level_idc)
//! 111111 lengthSizeMinusOne          u8
//! 111 numOfSequenceParameterSets     u8   then per SPS: u16 length + NAL unit
//! numOfPictureParameterSets          u8   then per PPS: u16 length + NAL unit
//! -- for profile_idc 100, 110, 122, 144 (often missing in the wild; tolerated):
//! 111111 chroma_format               u8
//! 11111 bit_depth_luma_minus8        u8
//! 11111 bit_depth_chroma_minus8      u8
//! numOfSequenceParameterSetExt       u8   then per SPS ext: u16 length + NAL unit
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::formats::error::{FormatError, Problem};
use crate::io::Cursor;

use super::annexb::AnnexBNals;
use super::nal::{NalHeader, NalType};
use super::sps::Sps;

/// The High-profile tail of an `avcC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvcConfigExt {
    /// `chroma_format` (the SPS `chroma_format_idc`).
    pub chroma_format: u8,
    /// `bit_depth_luma_minus8`.
    pub bit_depth_luma_minus8: u8,
    /// `bit_depth_chroma_minus8`.
    pub bit_depth_chroma_minus8: u8,
    /// SPS extension NAL units.
    pub sps_ext: Vec<Bytes>,
}

/// A parsed `avcC` record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvcConfig {
    /// `AVCProfileIndication`.
    pub profile_idc: u8,
    /// `profile_compatibility`.
    pub profile_compatibility: u8,
    /// `AVCLevelIndication`.
    pub level_idc: u8,
    /// `lengthSizeMinusOne + 1`: bytes in each NAL unit length (1, 2 or 4).
    pub length_size: u8,
    /// Sequence parameter set NAL units (header byte included).
    pub sps: Vec<Bytes>,
    /// Picture parameter set NAL units.
    pub pps: Vec<Bytes>,
    /// The High-profile tail, when present.
    pub ext: Option<AvcConfigExt>,
}

fn read_sets(c: &mut Cursor, count: usize, what: &'static str) -> Result<Vec<Bytes>, FormatError> {
    let mut v = Vec::with_capacity(count);
    for _ in 0..count {
        let len = c.u16(what)?;
        v.push(c.bytes(usize::from(len), what)?);
    }
    Ok(v)
}

impl AvcConfig {
    /// Parses an `avcC` body; `base` is its absolute offset in the input.
    pub fn parse(data: &Bytes, base: u64) -> Result<AvcConfig, FormatError> {
        let mut c = Cursor::new(data.clone(), base, "avcC");
        let version = c.u8("configurationVersion")?;
        if version != 1 {
            return Err(c.bad_value("configurationVersion", u64::from(version), 1));
        }
        let profile_idc = c.u8("AVCProfileIndication")?;
        let profile_compatibility = c.u8("profile_compatibility")?;
        let level_idc = c.u8("AVCLevelIndication")?;
        let b = c.u8("lengthSizeMinusOne")?;
        let length_size = (b & 3) + 1;
        if length_size == 3 {
            return Err(c.bad_value("lengthSizeMinusOne", u64::from(b & 3), 1));
        }
        let nsps = usize::from(c.u8("numOfSequenceParameterSets")? & 0x1f);
        let sps = read_sets(&mut c, nsps, "sequenceParameterSetNALUnit")?;
        let npps = usize::from(c.u8("numOfPictureParameterSets")?);
        let pps = read_sets(&mut c, npps, "pictureParameterSetNALUnit")?;
        // The tail is optional in practice (FFmpeg and others omit it); read it only when
        // it is all there.
        let mut ext = None;
        if c.remaining() >= 4 {
            let parsed = (|| -> Result<AvcConfigExt, FormatError> {
                let chroma_format = c.u8("chroma_format")? & 3;
                let bit_depth_luma_minus8 = c.u8("bit_depth_luma_minus8")? & 7;
                let bit_depth_chroma_minus8 = c.u8("bit_depth_chroma_minus8")? & 7;
                let n = usize::from(c.u8("numOfSequenceParameterSetExt")?);
                let sps_ext = read_sets(&mut c, n, "sequenceParameterSetExtNALUnit")?;
                Ok(AvcConfigExt {
                    chroma_format,
                    bit_depth_luma_minus8,
                    bit_depth_chroma_minus8,
                    sps_ext,
                })
            })();
            // A broken tail is ignored, as FFmpeg does.
            ext = parsed.ok();
        }
        Ok(AvcConfig {
            profile_idc,
            profile_compatibility,
            level_idc,
            length_size,
            sps,
            pps,
            ext,
        })
    }

    /// Writes the record (reserved bits set to 1, as the spec asks).
    pub fn build(&self) -> Result<Bytes, FormatError> {
        let mut out = BytesMut::with_capacity(
            16 + self
                .sps
                .iter()
                .chain(&self.pps)
                .map(|s| s.len() + 2)
                .sum::<usize>(),
        );
        let too_many = |what: &'static str, limit: u64| {
            FormatError::whole("avcC", Problem::Limit { what, limit })
        };
        if !matches!(self.length_size, 1 | 2 | 4) {
            return Err(FormatError::whole(
                "avcC",
                Problem::BadValue {
                    field: "length size",
                    value: u64::from(self.length_size),
                },
            ));
        }
        out.put_u8(1);
        out.put_u8(self.profile_idc);
        out.put_u8(self.profile_compatibility);
        out.put_u8(self.level_idc);
        out.put_u8(0xfc | (self.length_size - 1));
        if self.sps.len() > 31 {
            return Err(too_many("SPS count", 31));
        }
        out.put_u8(0xe0 | self.sps.len() as u8);
        let put_sets = |out: &mut BytesMut, sets: &[Bytes]| -> Result<(), FormatError> {
            for s in sets {
                let len =
                    u16::try_from(s.len()).map_err(|_| too_many("parameter set size", 65535))?;
                out.put_u16(len);
                out.extend_from_slice(s);
            }
            Ok(())
        };
        put_sets(&mut out, &self.sps)?;
        if self.pps.len() > 255 {
            return Err(too_many("PPS count", 255));
        }
        out.put_u8(self.pps.len() as u8);
        put_sets(&mut out, &self.pps)?;
        if let Some(e) = &self.ext {
            out.put_u8(0xfc | (e.chroma_format & 3));
            out.put_u8(0xf8 | (e.bit_depth_luma_minus8 & 7));
            out.put_u8(0xf8 | (e.bit_depth_chroma_minus8 & 7));
            if e.sps_ext.len() > 255 {
                return Err(too_many("SPS extension count", 255));
            }
            out.put_u8(e.sps_ext.len() as u8);
            put_sets(&mut out, &e.sps_ext)?;
        }
        Ok(out.freeze())
    }

    /// The first SPS, parsed.
    pub fn first_sps(&self) -> Result<Sps, FormatError> {
        let Some(s) = self.sps.first() else {
            return Err(FormatError::whole_invalid(
                "avcC",
                "no sequence parameter set",
            ));
        };
        Sps::parse(s, 0)
    }

    /// Builds a record with 4-byte lengths from the SPS and PPS NAL units found in an
    /// Annex B buffer (in-band parameter sets); duplicates are kept once. The High-profile
    /// tail is written for profiles other than Baseline, Main and Extended, as FFmpeg does.
    /// `Ok(None)` when the buffer holds no SPS or no PPS.
    pub fn from_annexb_parameter_sets(
        data: &Bytes,
        base: u64,
    ) -> Result<Option<AvcConfig>, FormatError> {
        let mut sps: Vec<Bytes> = Vec::new();
        let mut pps: Vec<Bytes> = Vec::new();
        let mut first: Option<Sps> = None;
        let limit = |what: &'static str, limit: u64, at: u64| {
            FormatError::new("avcC", at, Problem::Limit { what, limit })
        };
        for nal in AnnexBNals::new(data.clone(), base) {
            match NalHeader::type_of(&nal.data) {
                NalType::SPS if !sps.contains(&nal.data) => {
                    if first.is_none() {
                        first = Some(Sps::parse(&nal.data, nal.offset)?);
                    }
                    if sps.len() == 31 {
                        return Err(limit("SPS count", 31, nal.offset));
                    }
                    sps.push(nal.data);
                }
                NalType::PPS if !pps.contains(&nal.data) => {
                    if pps.len() == 255 {
                        return Err(limit("PPS count", 255, nal.offset));
                    }
                    pps.push(nal.data);
                }
                _ => {}
            }
        }
        let Some(s) = first else {
            return Ok(None);
        };
        if pps.is_empty() {
            return Ok(None);
        }
        let ext = (!matches!(s.profile_idc, 66 | 77 | 88)).then(|| AvcConfigExt {
            chroma_format: s.chroma_format_idc as u8,
            bit_depth_luma_minus8: (s.bit_depth_luma - 8) as u8,
            bit_depth_chroma_minus8: (s.bit_depth_chroma - 8) as u8,
            sps_ext: Vec::new(),
        });
        Ok(Some(AvcConfig {
            profile_idc: s.profile_idc,
            profile_compatibility: s.constraint_flags,
            level_idc: s.level_idc,
            length_size: 4,
            sps,
            pps,
            ext,
        }))
    }

    /// The parameter sets as Annex B (4-byte start codes): SPS first, then PPS.
    pub fn to_annexb(&self) -> Bytes {
        let mut out = BytesMut::new();
        for s in self.sps.iter().chain(&self.pps) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(s);
        }
        out.freeze()
    }

    /// RFC 6381 codec string `avc1.PPCCLL`.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile_idc, self.profile_compatibility, self.level_idc
        )
    }
}
