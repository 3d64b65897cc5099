//! A big-endian byte cursor over [`Bytes`] that knows its absolute offset in the input.
//!
//! Every read names the field it reads, so an error says where and what
//! (`dtsc: data ends early in packet length (need 2 more bytes) at byte 1033`).

use bytes::Bytes;

use crate::formats::error::{FormatError, Problem};

/// Reads fields from one buffer, remembering where the buffer sits in the whole input.
#[derive(Clone, Debug)]
pub struct Cursor {
    buf: Bytes,
    pos: usize,
    base: u64,
    format: &'static str,
}

macro_rules! be_read {
    ($name:ident, $ty:ty, $n:expr) => {
        #[doc = concat!("Reads a big-endian `", stringify!($ty), "`.")]
        pub fn $name(&mut self, field: &'static str) -> Result<$ty, FormatError> {
            let s = self.slice($n, field)?;
            let mut a = [0u8; $n];
            a.copy_from_slice(s);
            Ok(<$ty>::from_be_bytes(a))
        }
    };
}

impl Cursor {
    /// A cursor over `buf`, whose first byte sits at absolute offset `base` of the input.
    pub fn new(buf: Bytes, base: u64, format: &'static str) -> Self {
        Self {
            buf,
            pos: 0,
            base,
            format,
        }
    }

    /// A cursor over a copy of `data` (for small structures held as plain slices).
    pub fn from_slice(data: &[u8], base: u64, format: &'static str) -> Self {
        Self::new(Bytes::copy_from_slice(data), base, format)
    }

    /// Absolute offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Position of the next unread byte relative to the start of this cursor's buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Number of unread bytes.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The format name errors from this cursor carry.
    pub fn format(&self) -> &'static str {
        self.format
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// The next `n` bytes without consuming them, if there are that many.
    pub fn peek(&self, n: usize) -> Option<&[u8]> {
        self.buf.get(self.pos..self.pos.checked_add(n)?)
    }

    /// An error at the current offset.
    pub fn error(&self, problem: Problem) -> FormatError {
        FormatError::new(self.format, self.offset(), problem)
    }

    /// An error for a bad field value that was just read (`width` bytes ago).
    pub fn bad_value(&self, field: &'static str, value: u64, width: usize) -> FormatError {
        let at = self.offset().saturating_sub(width as u64);
        FormatError::new(self.format, at, Problem::BadValue { field, value })
    }

    /// An error describing an inconsistency, at the current offset.
    pub fn invalid(&self, why: impl std::fmt::Display) -> FormatError {
        FormatError::invalid(self.format, self.offset(), why)
    }

    fn need(&self, n: usize, what: &'static str) -> Result<(), FormatError> {
        if self.remaining() < n {
            Err(self.error(Problem::Truncated {
                what,
                need: (n - self.remaining()) as u64,
            }))
        } else {
            Ok(())
        }
    }

    /// The next `n` bytes as a borrowed slice.
    pub fn slice(&mut self, n: usize, what: &'static str) -> Result<&[u8], FormatError> {
        self.need(n, what)?;
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..start + n])
    }

    /// The next `n` bytes as a shared slice of the input (no copy).
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<Bytes, FormatError> {
        self.need(n, what)?;
        let start = self.pos;
        self.pos += n;
        Ok(self.buf.slice(start..start + n))
    }

    /// Everything left, as a shared slice.
    pub fn rest(&mut self) -> Bytes {
        let b = self.buf.slice(self.pos..);
        self.pos = self.buf.len();
        b
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), FormatError> {
        self.need(n, what)?;
        self.pos += n;
        Ok(())
    }

    /// A sub-cursor over the next `n` bytes; errors inside it report absolute offsets.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Cursor, FormatError> {
        let base = self.offset();
        let buf = self.bytes(n, what)?;
        Ok(Cursor::new(buf, base, self.format))
    }

    /// Reads a `u8`.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, FormatError> {
        Ok(self.slice(1, field)?[0])
    }

    be_read!(u16, u16, 2);
    be_read!(u32, u32, 4);
    be_read!(u64, u64, 8);
    be_read!(i64, i64, 8);
    be_read!(f64, f64, 8);

    /// Reads a big-endian unsigned 24-bit integer.
    pub fn u24(&mut self, field: &'static str) -> Result<u32, FormatError> {
        let s = self.slice(3, field)?;
        Ok(u32::from(s[0]) << 16 | u32::from(s[1]) << 8 | u32::from(s[2]))
    }

    /// Reads a big-endian signed 24-bit integer (sign-extended).
    pub fn i24(&mut self, field: &'static str) -> Result<i32, FormatError> {
        let v = self.u24(field)?;
        Ok(((v << 8) as i32) >> 8)
    }

    /// Reads a little-endian `u32` (RTMP's message stream id is the one LE field we meet).
    pub fn u32_le(&mut self, field: &'static str) -> Result<u32, FormatError> {
        let s = self.slice(4, field)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_big_endian_and_tracks_offset() {
        // Hand-computed: 0x0102 as u16, 0x030405 as u24, then -1 as i24.
        let mut c = Cursor::from_slice(&[1, 2, 3, 4, 5, 0xff, 0xff, 0xff], 100, "test");
        assert_eq!(c.u16("a").unwrap(), 0x0102);
        assert_eq!(c.u24("b").unwrap(), 0x030405);
        assert_eq!(c.offset(), 105);
        assert_eq!(c.i24("c").unwrap(), -1);
        assert!(c.is_empty());
    }

    #[test]
    fn truncated_read_reports_offset_and_field() {
        let mut c = Cursor::from_slice(&[1, 2, 3], 40, "test");
        c.u8("first").unwrap();
        let e = c.u32("tag size").unwrap_err();
        assert_eq!(e.offset, 41);
        assert_eq!(
            e.to_string(),
            "test: data ends early in tag size (need 2 more bytes) at byte 41"
        );
    }

    #[test]
    fn sub_cursor_keeps_absolute_offsets() {
        let mut c = Cursor::from_slice(&[0; 10], 1000, "test");
        c.skip(4, "x").unwrap();
        let mut s = c.sub(3, "inner").unwrap();
        assert_eq!(s.offset(), 1004);
        let e = s.u32("too long").unwrap_err();
        assert_eq!(e.offset, 1004);
        assert_eq!(c.offset(), 1007);
    }
}
