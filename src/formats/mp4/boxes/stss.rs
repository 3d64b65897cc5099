//! `stss`: sync samples (§8.6.2), 1-based sample numbers; absent means every sample is sync.

use super::{check_count, full_header, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// The sync sample numbers (1-based, increasing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stss {
    /// Sample numbers.
    pub samples: Vec<u32>,
}

impl Stss {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Stss, FormatError> {
        full_header(c)?;
        let n = c.u32("entry_count")?;
        let n = check_count(c, u64::from(n), 4, "stss entries")?;
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            samples.push(c.u32("sample_number")?);
        }
        Ok(Stss { samples })
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"stss", 0, 0);
        w.u32(self.samples.len() as u32);
        for s in &self.samples {
            w.u32(*s);
        }
        w.end();
    }
}
