//! Annex B byte streams (start codes) and length-prefixed NAL units (AVCC form), and the
//! conversions between them (H.264 Annex B; ISO/IEC 14496-15 5.3.2).
//!
//! The same framing carries HEVC, so these work for both codecs.

use bytes::{BufMut, Bytes, BytesMut};

use crate::formats::error::{FormatError, Problem};

/// One NAL unit found in an Annex B byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnexBNal {
    /// Absolute offset of the NAL unit's first byte (after the start code).
    pub offset: u64,
    /// Absolute offset of the start code (including leading zero bytes counted in it: 3 or 4).
    pub start_code_offset: u64,
    /// 3 (`00 00 01`) or 4 (`00 00 00 01`).
    pub start_code_len: u8,
    /// The NAL unit, trailing zero bytes removed; a slice of the input.
    pub data: Bytes,
}

/// Finds the next `00 00 01` at or after `from`; returns the index of its first zero.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 2 < data.len() {
        // Look at the third byte first: anything above 1 lets us jump 3 bytes.
        let c = data[i + 2];
        if c > 1 {
            i += 3;
        } else if c == 1 && data[i] == 0 && data[i + 1] == 0 {
            return Some(i);
        } else {
            i += 1;
        }
    }
    None
}

/// Iterates over the NAL units of an Annex B byte stream (3- and 4-byte start codes;
/// bytes before the first start code and trailing zero bytes are skipped; empty units are
/// skipped).
#[derive(Clone, Debug)]
pub struct AnnexBNals {
    data: Bytes,
    base: u64,
    /// Index of the next start code's first zero, if any.
    next: Option<usize>,
}

impl AnnexBNals {
    /// An iterator over `data`, whose first byte sits at absolute offset `base`.
    pub fn new(data: Bytes, base: u64) -> Self {
        let next = find_start_code(&data, 0);
        AnnexBNals { data, base, next }
    }

    /// Offset (relative to the buffer) of the first start code, if any: bytes before it are
    /// not part of any NAL unit.
    pub fn leading_garbage(data: &[u8]) -> usize {
        find_start_code(data, 0).map_or(data.len(), |i| {
            if i > 0 && data[i - 1] == 0 {
                i - 1
            } else {
                i
            }
        })
    }
}

impl Iterator for AnnexBNals {
    type Item = AnnexBNal;

    fn next(&mut self) -> Option<AnnexBNal> {
        loop {
            let sc = self.next?;
            let start = sc + 3;
            let after = find_start_code(&self.data, start);
            self.next = after;
            let mut end = after.unwrap_or(self.data.len());
            // Trailing zeros belong to the next start code (or trailing_zero_8bits).
            while end > start && self.data[end - 1] == 0 {
                end -= 1;
            }
            if end == start {
                continue;
            }
            let four = sc > 0 && self.data[sc - 1] == 0;
            let (sc_off, sc_len) = if four { (sc - 1, 4) } else { (sc, 3) };
            return Some(AnnexBNal {
                offset: self.base + start as u64,
                start_code_offset: self.base + sc_off as u64,
                start_code_len: sc_len,
                data: self.data.slice(start..end),
            });
        }
    }
}

/// Iterates over length-prefixed NAL units (each preceded by a big-endian length of 1, 2, 3
/// or 4 bytes). Yields `(absolute offset of the NAL unit, NAL unit)`; a length running past
/// the end is an error at the length field, after which iteration stops.
#[derive(Clone, Debug)]
pub struct LengthPrefixedNals {
    data: Bytes,
    pos: usize,
    base: u64,
    size: u8,
    failed: bool,
}

impl LengthPrefixedNals {
    /// An iterator over `data` with `size`-byte lengths; `base` is the absolute offset of
    /// `data`. A size outside 1..=4 yields one error.
    pub fn new(data: Bytes, size: u8, base: u64) -> Self {
        LengthPrefixedNals {
            data,
            pos: 0,
            base,
            size,
            failed: false,
        }
    }
}

impl Iterator for LengthPrefixedNals {
    type Item = Result<(u64, Bytes), FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let at = self.base + self.pos as u64;
        if !(1..=4).contains(&self.size) {
            self.failed = true;
            return Some(Err(FormatError::new(
                "h264",
                at,
                Problem::BadValue {
                    field: "NAL length size",
                    value: u64::from(self.size),
                },
            )));
        }
        let n = usize::from(self.size);
        let Some(len_bytes) = self.data.get(self.pos..self.pos + n) else {
            self.failed = true;
            return Some(Err(FormatError::new(
                "h264",
                at,
                Problem::Truncated {
                    what: "NAL unit length",
                    need: (self.pos + n - self.data.len()) as u64,
                },
            )));
        };
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let start = self.pos + n;
        let left = self.data.len() - start;
        if len > left {
            self.failed = true;
            return Some(Err(FormatError::new(
                "h264",
                at,
                Problem::Truncated {
                    what: "NAL unit",
                    need: (len - left) as u64,
                },
            )));
        }
        self.pos = start + len;
        Some(Ok((
            self.base + start as u64,
            self.data.slice(start..start + len),
        )))
    }
}

/// Converts an Annex B access unit to NAL units with 4-byte lengths (empty NAL units and
/// bytes before the first start code are dropped).
pub fn annexb_to_length_prefixed(data: &Bytes, base: u64) -> Result<Bytes, FormatError> {
    let mut out = BytesMut::with_capacity(data.len() + 8);
    for nal in AnnexBNals::new(data.clone(), base) {
        let len = u32::try_from(nal.data.len()).map_err(|_| {
            FormatError::new(
                "h264",
                nal.offset,
                Problem::Limit {
                    what: "NAL unit size",
                    limit: u64::from(u32::MAX),
                },
            )
        })?;
        out.put_u32(len);
        out.extend_from_slice(&nal.data);
    }
    Ok(out.freeze())
}

/// Converts length-prefixed NAL units (`size`-byte lengths) to Annex B with 4-byte start
/// codes (empty NAL units are dropped).
pub fn length_prefixed_to_annexb(data: &Bytes, size: u8, base: u64) -> Result<Bytes, FormatError> {
    let mut out = BytesMut::with_capacity(data.len() + 16);
    for nal in LengthPrefixedNals::new(data.clone(), size, base) {
        let (_, nal) = nal?;
        if nal.is_empty() {
            continue;
        }
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&nal);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        // Hand-made stream: garbage, 4-byte SC + SPS-like unit, 3-byte SC + unit with a
        // trailing zero, 4-byte SC + unit, trailing zeros.
        let s = Bytes::from_static(&[
            0xaa, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 0, 0,
        ]);
        let nals: Vec<AnnexBNal> = AnnexBNals::new(s, 100).collect();
        assert_eq!(nals.len(), 3);
        assert_eq!(&nals[0].data[..], &[0x67, 1, 2]);
        assert_eq!((nals[0].offset, nals[0].start_code_len), (105, 4));
        assert_eq!(nals[0].start_code_offset, 101);
        assert_eq!(&nals[1].data[..], &[0x68, 3]);
        assert_eq!((nals[1].offset, nals[1].start_code_len), (111, 3));
        assert_eq!(&nals[2].data[..], &[0x65, 4]);
        assert_eq!(nals[2].start_code_len, 4);
        assert_eq!(AnnexBNals::leading_garbage(&[0xaa, 0, 0, 0, 1]), 1);
    }

    #[test]
    fn converts_both_ways() {
        let annexb = Bytes::from_static(&[0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x65, 9]);
        let lp = annexb_to_length_prefixed(&annexb, 0).unwrap();
        // Hand-computed: 00 00 00 03 67 01 02, 00 00 00 02 65 09.
        assert_eq!(&lp[..], &[0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x65, 9]);
        let back = length_prefixed_to_annexb(&lp, 4, 0).unwrap();
        assert_eq!(&back[..], &[0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x65, 9]);
        // 2-byte lengths.
        let lp2 = Bytes::from_static(&[0, 1, 0x09, 0, 2, 0x65, 7]);
        assert_eq!(
            &length_prefixed_to_annexb(&lp2, 2, 0).unwrap()[..],
            &[0, 0, 0, 1, 0x09, 0, 0, 0, 1, 0x65, 7]
        );
    }

    #[test]
    fn length_past_end_is_an_error_at_the_length_field() {
        let lp = Bytes::from_static(&[0, 0, 0, 1, 0x09, 0, 0, 0, 9, 0x65]);
        let e = length_prefixed_to_annexb(&lp, 4, 1000).unwrap_err();
        assert_eq!(e.offset, 1005);
        assert!(e.is_truncation());
        let e = length_prefixed_to_annexb(&Bytes::from_static(&[0, 0, 0]), 4, 0).unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(length_prefixed_to_annexb(&lp, 0, 0).is_err());
    }
}
