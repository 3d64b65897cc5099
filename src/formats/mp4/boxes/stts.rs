//! `stts` (decoding time to sample, §8.6.1.2) and `ctts` (composition offsets, §8.6.1.3; v0
//! is specified unsigned but writers put negative values in it, so both versions are read as
//! signed, as FFmpeg does).

use super::{check_count, full_header, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// Run-length decode durations: `(sample_count, sample_delta)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stts {
    /// The runs.
    pub entries: Vec<(u32, u32)>,
}

impl Stts {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Stts, FormatError> {
        full_header(c)?;
        let n = c.u32("entry_count")?;
        let n = check_count(c, u64::from(n), 8, "stts entries")?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            entries.push((c.u32("sample_count")?, c.u32("sample_delta")?));
        }
        Ok(Stts { entries })
    }

    /// Run-length encodes durations.
    pub fn from_durations(d: impl IntoIterator<Item = u32>) -> Stts {
        let mut entries: Vec<(u32, u32)> = Vec::new();
        for x in d {
            match entries.last_mut() {
                Some((n, v)) if *v == x && *n < u32::MAX => *n += 1,
                _ => entries.push((1, x)),
            }
        }
        Stts { entries }
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"stts", 0, 0);
        w.u32(self.entries.len() as u32);
        for (n, d) in &self.entries {
            w.u32(*n);
            w.u32(*d);
        }
        w.end();
    }
}

/// Run-length composition offsets: `(sample_count, offset)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ctts {
    /// 0 (unsigned by the spec) or 1 (signed).
    pub version: u8,
    /// The runs.
    pub entries: Vec<(u32, i32)>,
}

impl Ctts {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Ctts, FormatError> {
        let (version, _) = full_header(c)?;
        let n = c.u32("entry_count")?;
        let n = check_count(c, u64::from(n), 8, "ctts entries")?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            entries.push((c.u32("sample_count")?, c.u32("sample_offset")? as i32));
        }
        Ok(Ctts { version, entries })
    }

    /// Run-length encodes offsets; version 1 when one is negative.
    pub fn from_offsets(o: impl IntoIterator<Item = i32>) -> Ctts {
        let mut entries: Vec<(u32, i32)> = Vec::new();
        for x in o {
            match entries.last_mut() {
                Some((n, v)) if *v == x && *n < u32::MAX => *n += 1,
                _ => entries.push((1, x)),
            }
        }
        let version = u8::from(entries.iter().any(|(_, v)| *v < 0));
        Ctts { version, entries }
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"ctts", self.version, 0);
        w.u32(self.entries.len() as u32);
        for (n, o) in &self.entries {
            w.u32(*n);
            w.u32(*o as u32);
        }
        w.end();
    }
}
