//! `stsc`: sample to chunk (§8.7.4). `first_chunk` is 1-based.

use super::{check_count, full_header, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// One run of chunks with the same sample count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StscEntry {
    /// First chunk of the run (1-based).
    pub first_chunk: u32,
    /// Samples in each chunk of the run.
    pub samples_per_chunk: u32,
    /// Sample description (1-based index into `stsd`).
    pub description: u32,
}

/// Sample-to-chunk runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stsc {
    /// The runs, by increasing `first_chunk`.
    pub entries: Vec<StscEntry>,
}

impl Stsc {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Stsc, FormatError> {
        full_header(c)?;
        let n = c.u32("entry_count")?;
        let n = check_count(c, u64::from(n), 12, "stsc entries")?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            entries.push(StscEntry {
                first_chunk: c.u32("first_chunk")?,
                samples_per_chunk: c.u32("samples_per_chunk")?,
                description: c.u32("sample_description_index")?,
            });
        }
        Ok(Stsc { entries })
    }

    /// Run-length encodes per-chunk sample counts (description 1).
    pub fn from_chunk_sizes(sizes: impl IntoIterator<Item = u32>) -> Stsc {
        let mut entries: Vec<StscEntry> = Vec::new();
        for (i, n) in sizes.into_iter().enumerate() {
            if entries.last().is_some_and(|e| e.samples_per_chunk == n) {
                continue;
            }
            entries.push(StscEntry {
                first_chunk: i as u32 + 1,
                samples_per_chunk: n,
                description: 1,
            });
        }
        Stsc { entries }
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"stsc", 0, 0);
        w.u32(self.entries.len() as u32);
        for e in &self.entries {
            w.u32(e.first_chunk);
            w.u32(e.samples_per_chunk);
            w.u32(e.description);
        }
        w.end();
    }
}
