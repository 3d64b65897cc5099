//! `stsz` (sample sizes, §8.7.3.2) and `stz2` (compact sizes of 4, 8 or 16 bits, §8.7.3.3).

use super::{check_count, full_header, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// Sample sizes: one constant size, or one per sample.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stsz {
    /// Size of every sample when non-zero (then `sizes` is empty).
    pub constant: u32,
    /// Number of samples.
    pub count: u32,
    /// Per-sample sizes when `constant` is 0.
    pub sizes: Vec<u32>,
}

impl Stsz {
    /// Parses an `stsz` payload.
    pub fn parse(c: &mut Cursor) -> Result<Stsz, FormatError> {
        full_header(c)?;
        let constant = c.u32("sample_size")?;
        let count = c.u32("sample_count")?;
        let mut sizes = Vec::new();
        if constant == 0 {
            let n = check_count(c, u64::from(count), 4, "stsz entries")?;
            sizes.reserve_exact(n);
            for _ in 0..n {
                sizes.push(c.u32("entry_size")?);
            }
        }
        Ok(Stsz {
            constant,
            count,
            sizes,
        })
    }

    /// Parses an `stz2` payload.
    pub fn parse_compact(c: &mut Cursor) -> Result<Stsz, FormatError> {
        full_header(c)?;
        c.skip(3, "reserved")?;
        let field = c.u8("field_size")?;
        let count = c.u32("sample_count")?;
        let bytes = match field {
            4 => u64::from(count).div_ceil(2),
            8 => u64::from(count),
            16 => u64::from(count) * 2,
            other => return Err(c.bad_value("field_size", u64::from(other), 1)),
        };
        check_count(c, bytes, 1, "stz2 entries")?;
        let mut sizes = Vec::with_capacity(count as usize);
        match field {
            4 => {
                for _ in 0..bytes {
                    let b = c.u8("entry_size")?;
                    sizes.push(u32::from(b >> 4));
                    if sizes.len() < count as usize {
                        sizes.push(u32::from(b & 0xF));
                    }
                }
            }
            8 => {
                for _ in 0..count {
                    sizes.push(u32::from(c.u8("entry_size")?));
                }
            }
            _ => {
                for _ in 0..count {
                    sizes.push(u32::from(c.u16("entry_size")?));
                }
            }
        }
        Ok(Stsz {
            constant: 0,
            count,
            sizes,
        })
    }

    /// Size of sample `i` (0-based).
    pub fn size(&self, i: usize) -> Option<u32> {
        if self.constant != 0 {
            (i < self.count as usize).then_some(self.constant)
        } else {
            self.sizes.get(i).copied()
        }
    }

    /// Sizes as written: constant when all are equal.
    pub fn from_sizes(sizes: Vec<u32>) -> Stsz {
        let count = sizes.len() as u32;
        match sizes.first() {
            Some(&first) if first != 0 && sizes.iter().all(|&s| s == first) => Stsz {
                constant: first,
                count,
                sizes: Vec::new(),
            },
            _ => Stsz {
                constant: 0,
                count,
                sizes,
            },
        }
    }

    /// Writes an `stsz` box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"stsz", 0, 0);
        w.u32(self.constant);
        w.u32(self.count);
        if self.constant == 0 {
            for s in &self.sizes {
                w.u32(*s);
            }
        }
        w.end();
    }
}
