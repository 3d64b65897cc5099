//! `stco` (32-bit chunk offsets) and `co64` (64-bit, for files past 4 GiB), §8.7.5.

use super::{check_count, full_header, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// Absolute file offsets of each chunk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stco {
    /// True for `co64`.
    pub wide: bool,
    /// The offsets.
    pub offsets: Vec<u64>,
}

impl Stco {
    /// Parses an `stco` (`wide` false) or `co64` (`wide` true) payload.
    pub fn parse(c: &mut Cursor, wide: bool) -> Result<Stco, FormatError> {
        full_header(c)?;
        let n = c.u32("entry_count")?;
        let n = check_count(c, u64::from(n), if wide { 8 } else { 4 }, "chunk offsets")?;
        let mut offsets = Vec::with_capacity(n);
        for _ in 0..n {
            offsets.push(if wide {
                c.u64("chunk_offset")?
            } else {
                u64::from(c.u32("chunk_offset")?)
            });
        }
        Ok(Stco { wide, offsets })
    }

    /// Bytes the box takes for `n` chunks.
    pub fn box_size(n: usize, wide: bool) -> usize {
        16 + n * if wide { 8 } else { 4 }
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(if self.wide { b"co64" } else { b"stco" }, 0, 0);
        w.u32(self.offsets.len() as u32);
        for o in &self.offsets {
            if self.wide {
                w.u64(*o);
            } else {
                w.u32(*o as u32);
            }
        }
        w.end();
    }
}
