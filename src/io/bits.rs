//! The one bit reader and bit writer: MSB-first fields, Exp-Golomb codes (H.264 7.2 / 9.1),
//! and byte-alignment checks.
//!
//! Like [`Cursor`](super::Cursor), the reader knows where its buffer sits in the whole input
//! (`base`), so every error names the field and the absolute byte offset of the bit that
//! could not be read (`h264 sps: data ends early in pic_width_in_mbs_minus1 (need 1 more
//! bytes) at byte 1041`).

use crate::formats::error::{FormatError, Problem};

/// Exp-Golomb codes with more leading zero bits than this do not fit a `u32` (H.264 9.1).
const MAX_UE_LEADING_ZEROS: u32 = 31;

/// Reads MSB-first bit fields from a byte slice.
#[derive(Clone, Debug)]
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Next bit to read, counted from the first bit of `data`.
    bit: usize,
    base: u64,
    format: &'static str,
}

impl<'a> BitReader<'a> {
    /// A reader over `data`, whose first byte sits at absolute offset `base` of the input.
    pub fn new(data: &'a [u8], base: u64, format: &'static str) -> Self {
        BitReader {
            data,
            bit: 0,
            base,
            format,
        }
    }

    /// Absolute offset of the byte holding the next unread bit.
    pub fn offset(&self) -> u64 {
        self.base + (self.bit / 8) as u64
    }

    /// Bits read so far.
    pub fn bit_position(&self) -> usize {
        self.bit
    }

    /// Bits not read yet.
    pub fn bits_left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.bit)
    }

    /// True when the next bit starts a byte.
    pub fn is_byte_aligned(&self) -> bool {
        self.bit % 8 == 0
    }

    /// The format name errors from this reader carry.
    pub fn format(&self) -> &'static str {
        self.format
    }

    /// An error at the current position.
    pub fn error(&self, problem: Problem) -> FormatError {
        FormatError::new(self.format, self.offset(), problem)
    }

    /// An error for a bad value of `field` (reported at the current position).
    pub fn bad_value(&self, field: &'static str, value: u64) -> FormatError {
        self.error(Problem::BadValue { field, value })
    }

    /// An error describing an inconsistency, at the current position.
    pub fn invalid(&self, why: impl std::fmt::Display) -> FormatError {
        FormatError::invalid(self.format, self.offset(), why)
    }

    fn need(&self, n: usize, field: &'static str) -> Result<(), FormatError> {
        let left = self.bits_left();
        if left < n {
            Err(self.error(Problem::Truncated {
                what: field,
                need: (n - left).div_ceil(8) as u64,
            }))
        } else {
            Ok(())
        }
    }

    /// Reads `n` bits (0..=32) as an unsigned number, most significant bit first.
    pub fn read_bits(&mut self, n: u32, field: &'static str) -> Result<u32, FormatError> {
        debug_assert!(n <= 32, "read_bits takes at most 32 bits");
        Ok(self.read_bits64(n.min(32), field)? as u32)
    }

    /// Reads `n` bits (0..=64) as an unsigned number, most significant bit first.
    pub fn read_bits64(&mut self, n: u32, field: &'static str) -> Result<u64, FormatError> {
        let n = n.min(64);
        self.need(n as usize, field)?;
        let mut v: u64 = 0;
        let mut left = n;
        while left > 0 {
            let byte = self.data.get(self.bit / 8).copied().unwrap_or(0);
            let used = (self.bit % 8) as u32;
            let avail = 8 - used;
            let take = avail.min(left);
            let bits = (u32::from(byte) >> (avail - take)) & ((1u32 << take) - 1);
            v = (v << take) | u64::from(bits);
            self.bit += take as usize;
            left -= take;
        }
        Ok(v)
    }

    /// Reads one bit as a flag.
    pub fn read_bit(&mut self, field: &'static str) -> Result<bool, FormatError> {
        Ok(self.read_bits(1, field)? == 1)
    }

    /// Reads an unsigned Exp-Golomb code `ue(v)` (H.264 9.1).
    pub fn read_ue(&mut self, field: &'static str) -> Result<u32, FormatError> {
        let start = self.offset();
        let mut zeros = 0u32;
        while !self.read_bit(field)? {
            zeros += 1;
            if zeros > MAX_UE_LEADING_ZEROS {
                return Err(FormatError::new(
                    self.format,
                    start,
                    Problem::Invalid(format!("{field}: Exp-Golomb code longer than 32 bits")),
                ));
            }
        }
        if zeros == 0 {
            return Ok(0);
        }
        let rest = self.read_bits64(zeros, field)?;
        let v = (1u64 << zeros) - 1 + rest;
        u32::try_from(v).map_err(|_| {
            FormatError::new(self.format, start, Problem::BadValue { field, value: v })
        })
    }

    /// Reads a signed Exp-Golomb code `se(v)` (H.264 9.1.1).
    pub fn read_se(&mut self, field: &'static str) -> Result<i32, FormatError> {
        let k = i64::from(self.read_ue(field)?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        // k <= u32::MAX, so |v| <= 2^31 and only +2^31 does not fit.
        i32::try_from(v).map_err(|_| self.bad_value(field, k as u64))
    }

    /// Reads `ue(v)` and checks it is at most `max`.
    pub fn read_ue_max(&mut self, max: u32, field: &'static str) -> Result<u32, FormatError> {
        let v = self.read_ue(field)?;
        if v > max {
            return Err(self.bad_value(field, u64::from(v)));
        }
        Ok(v)
    }

    /// Reads `se(v)` and checks it lies in `min..=max`.
    pub fn read_se_range(
        &mut self,
        min: i32,
        max: i32,
        field: &'static str,
    ) -> Result<i32, FormatError> {
        let v = self.read_se(field)?;
        if v < min || v > max {
            return Err(self.bad_value(field, v as i64 as u64));
        }
        Ok(v)
    }

    /// Skips `n` bits.
    pub fn skip(&mut self, n: usize, field: &'static str) -> Result<(), FormatError> {
        self.need(n, field)?;
        self.bit += n;
        Ok(())
    }

    /// The next 8 bits without consuming them (bits past the end read as 0): for table
    /// lookups that then [`skip`](Self::skip) what they used.
    pub fn peek_byte(&self) -> u8 {
        let at = self.bit / 8;
        let shift = self.bit % 8;
        let hi = u16::from(self.data.get(at).copied().unwrap_or(0));
        let lo = u16::from(self.data.get(at + 1).copied().unwrap_or(0));
        (((hi << 8 | lo) << shift) >> 8) as u8
    }

    /// Skips to the next byte boundary (no-op when aligned).
    pub fn byte_align(&mut self) {
        let pad = (8 - self.bit % 8) % 8;
        self.bit = (self.bit + pad).min(self.data.len() * 8);
    }

    /// Fails unless the reader is on a byte boundary.
    pub fn expect_byte_aligned(&self, field: &'static str) -> Result<(), FormatError> {
        if self.is_byte_aligned() {
            Ok(())
        } else {
            Err(self.invalid(format!("{field} does not start on a byte boundary")))
        }
    }

    /// The unread whole bytes after aligning to the next byte boundary.
    pub fn rest_bytes(&self) -> &'a [u8] {
        let at = self.bit.div_ceil(8);
        self.data.get(at..).unwrap_or(&[])
    }

    /// H.264 7.2 `more_rbsp_data()`: true while bits other than the trailing
    /// `rbsp_stop_one_bit` + zero padding remain.
    pub fn more_rbsp_data(&self) -> bool {
        // Find the last 1 bit of the buffer: the stop bit.
        let Some((i, &b)) = self.data.iter().enumerate().rev().find(|(_, &b)| b != 0) else {
            return false;
        };
        let stop_bit = i * 8 + 7 - b.trailing_zeros() as usize;
        self.bit < stop_bit
    }
}

/// Writes MSB-first bit fields into a growing byte vector.
#[derive(Clone, Debug, Default)]
pub struct BitWriter {
    out: Vec<u8>,
    /// Bits used in the last byte of `out` (0 = the next bit starts a new byte).
    used: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the low `n` bits (0..=64) of `value`, most significant first.
    pub fn write_bits(&mut self, n: u32, value: u64) {
        let n = n.min(64);
        for i in (0..n).rev() {
            self.write_bit((value >> i) & 1 == 1);
        }
    }

    /// Writes one bit.
    pub fn write_bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.out.push(0);
        }
        if bit {
            if let Some(last) = self.out.last_mut() {
                *last |= 0x80 >> self.used;
            }
        }
        self.used = (self.used + 1) % 8;
    }

    /// Writes an unsigned Exp-Golomb code `ue(v)`.
    pub fn write_ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        self.write_bits(len - 1, 0);
        self.write_bits(len, x);
    }

    /// Writes a signed Exp-Golomb code `se(v)`.
    pub fn write_se(&mut self, v: i32) {
        let k = if v > 0 {
            2 * i64::from(v) - 1
        } else {
            -2 * i64::from(v)
        };
        self.write_ue(k as u32);
    }

    /// Pads with zero bits to the next byte boundary.
    pub fn byte_align(&mut self) {
        self.used = 0;
    }

    /// True when the next bit starts a byte.
    pub fn is_byte_aligned(&self) -> bool {
        self.used == 0
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> usize {
        if self.used == 0 {
            self.out.len() * 8
        } else {
            (self.out.len() - 1) * 8 + self.used as usize
        }
    }

    /// Appends whole bytes (the writer must be byte-aligned; otherwise it aligns first).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        self.byte_align();
        self.out.extend_from_slice(bytes);
    }

    /// The bytes written, the last one zero-padded.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn peek_byte_reads_across_bytes_and_pads_past_the_end() {
        // 0b1010_1100 0b0101_0011: after 3 bits the next 8 are 0110_0010 (hand-computed);
        // after 12 bits only 0011 is left, then zeros.
        let data = [0b1010_1100, 0b0101_0011];
        let mut r = BitReader::new(&data, 0, "t");
        assert_eq!(r.peek_byte(), 0b1010_1100);
        r.skip(3, "x").unwrap();
        assert_eq!(r.peek_byte(), 0b0110_0010);
        assert_eq!(r.bit_position(), 3, "peeking consumes nothing");
        r.skip(9, "x").unwrap();
        assert_eq!(r.peek_byte(), 0b0011_0000);
    }
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_fields_across_bytes() {
        // Hand-computed: 1010 1100 0011 0101 -> 3 bits 101, 7 bits 0110000, 6 bits 110101.
        let mut r = BitReader::new(&[0xac, 0x35], 0, "test");
        assert_eq!(r.read_bits(3, "a").unwrap(), 0b101);
        assert_eq!(r.read_bits(7, "b").unwrap(), 0b0110000);
        assert_eq!(r.read_bits(6, "c").unwrap(), 0b110101);
        assert_eq!(r.bits_left(), 0);
    }

    #[test]
    fn exp_golomb_table_9_2() {
        // H.264 Table 9-2: 1 -> 0, 010 -> 1, 011 -> 2, 00100 -> 3, 00111 -> 6;
        // bits: 1 010 011 00100 00111 + pad = 1010 0110 0100 0011 1(000 0000)
        let mut r = BitReader::new(&[0xa6, 0x43, 0x80], 0, "test");
        let got: Vec<u32> = (0..5).map(|_| r.read_ue("v").unwrap()).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 6]);
        // Table 9-3: codeNum 1 -> +1, 2 -> -1, 3 -> +2.
        let mut r = BitReader::new(&[0b0100_1100, 0b1000_0000], 0, "test");
        assert_eq!(r.read_se("a").unwrap(), 1);
        assert_eq!(r.read_se("b").unwrap(), -1);
        assert_eq!(r.read_se("c").unwrap(), 2);
    }

    #[test]
    fn truncated_read_names_field_and_absolute_offset() {
        let mut r = BitReader::new(&[0xff, 0x00], 500, "h264 sps");
        r.read_bits(12, "x").unwrap();
        let e = r.read_bits(8, "level_idc").unwrap_err();
        assert_eq!(e.offset, 501);
        assert_eq!(
            e.to_string(),
            "h264 sps: data ends early in level_idc (need 1 more bytes) at byte 501"
        );
        // 32 zero bits and more: an Exp-Golomb code that cannot fit.
        let mut r = BitReader::new(&[0, 0, 0, 0, 0, 1], 7, "t");
        assert!(r.read_ue("big").is_err());
    }

    #[test]
    fn more_rbsp_data_stops_at_stop_bit() {
        // 1 (ue 0), then stop bit 1 and zero padding: 11000000.
        let mut r = BitReader::new(&[0xc0], 0, "t");
        assert!(r.more_rbsp_data());
        r.read_ue("x").unwrap();
        assert!(!r.more_rbsp_data());
    }

    proptest! {
        #[test]
        fn writer_reader_round_trip(fields in proptest::collection::vec((1u32..=32, any::<u32>(), any::<i32>()), 0..40)) {
            let mut w = BitWriter::new();
            for &(n, v, s) in &fields {
                let v = u64::from(v) & ((1u64 << n) - 1);
                w.write_bits(n, v);
                w.write_ue(v as u32 & 0xffff);
                w.write_se(s.clamp(-100_000, 100_000));
            }
            let bytes = w.into_bytes();
            let mut r = BitReader::new(&bytes, 0, "t");
            for &(n, v, s) in &fields {
                let v = u64::from(v) & ((1u64 << n) - 1);
                prop_assert_eq!(u64::from(r.read_bits(n, "v").unwrap()), v);
                prop_assert_eq!(r.read_ue("u").unwrap(), v as u32 & 0xffff);
                prop_assert_eq!(r.read_se("s").unwrap(), s.clamp(-100_000, 100_000));
            }
        }
    }
}
