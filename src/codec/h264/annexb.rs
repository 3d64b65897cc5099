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
///
/// memchr's vectorised substring search tests two bytes of the pattern per position at once,
/// so it stops only at `00 01` pairs. On 18 Mbit/s 1080p H.264 it runs at about 23 GB/s where
/// the byte-at-a-time scan ran at 4 GB/s, and a search for the `01` byte alone gained little
/// (one in 67 bytes of coded data is `01`).
pub fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    let rest = data.get(from..)?;
    Some(from + memchr::memmem::find(rest, &[0, 0, 1])?)
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

    /// The plain definition: the first `i >= from` with `data[i..i + 3] == 00 00 01`.
    fn naive_start_code(data: &[u8], from: usize) -> Option<usize> {
        (from..data.len().saturating_sub(2)).find(|&i| data[i..i + 3] == [0, 0, 1])
    }

    /// Every start code of `data` from every starting point, as the naive scan finds them.
    fn agrees_with_naive(data: &[u8]) {
        for from in 0..=data.len() + 1 {
            assert_eq!(
                find_start_code(data, from),
                naive_start_code(data, from),
                "from {from} in {data:02x?}"
            );
        }
    }

    #[test]
    fn start_code_scan_matches_the_definition_on_adversarial_buffers() {
        // Runs of zeros and ones, start codes at both ends, overlapping `00 00 00 01`,
        // `00 01` without its second zero, and `01` at offsets 0 and 1.
        let cases: [&[u8]; 12] = [
            &[],
            &[1],
            &[0, 1],
            &[0, 0, 1],
            &[0, 0, 0, 1],
            &[1, 1, 1, 0, 0, 1],
            &[0, 1, 0, 1, 0, 0, 1, 0, 0],
            &[0, 0, 0, 0, 0, 0, 0, 0],
            &[0, 0, 1, 0, 0, 1, 0, 0, 1],
            &[1, 0, 0, 2, 0, 0, 3, 0, 0],
            &[0xff, 0, 0, 1, 0xff, 0, 0],
            &[0, 0, 3, 0, 0, 1, 1, 0, 0, 0, 1],
        ];
        for c in cases {
            agrees_with_naive(c);
        }
        // Long enough for the vectorised path: start codes around 16/32/64-byte boundaries.
        for at in [0usize, 13, 14, 15, 29, 30, 31, 61, 62, 63, 125, 126, 127] {
            let mut v = vec![0x55u8; 130];
            v[at..at + 3].copy_from_slice(&[0, 0, 1]);
            agrees_with_naive(&v);
            let mut w = vec![1u8; 130];
            w[at..at + 3].copy_from_slice(&[0, 0, 1]);
            agrees_with_naive(&w);
        }
    }

    proptest::proptest! {
        #[test]
        fn start_code_scan_matches_the_definition_on_random_buffers(
            // Bytes drawn mostly from {0, 1, 2} so that start codes and near misses are common;
            // a few arbitrary bytes keep the general case covered.
            data in proptest::collection::vec(
                proptest::prop_oneof![4 => 0u8..=2, 1 => proptest::num::u8::ANY],
                0..300,
            )
        ) {
            agrees_with_naive(&data);
        }

        #[test]
        fn nal_iterator_is_unchanged_by_the_fast_scan(
            data in proptest::collection::vec(
                proptest::prop_oneof![4 => 0u8..=2, 1 => proptest::num::u8::ANY],
                0..300,
            )
        ) {
            // The units the iterator yields, rebuilt from the naive scan.
            let mut want = Vec::new();
            let mut next = naive_start_code(&data, 0);
            while let Some(sc) = next {
                let start = sc + 3;
                next = naive_start_code(&data, start);
                let mut end = next.unwrap_or(data.len());
                while end > start && data[end - 1] == 0 {
                    end -= 1;
                }
                if end > start {
                    want.push(data[start..end].to_vec());
                }
            }
            let got: Vec<Vec<u8>> = AnnexBNals::new(Bytes::from(data.clone()), 0)
                .map(|n| n.data.to_vec())
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
