//! `edts`/`elst`: the edit list (§8.6.6), which maps media time to presentation time.

use super::{check_count, full_header, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// One edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edit {
    /// Duration in movie ticks.
    pub segment_duration: u64,
    /// Start in media ticks; -1 is an empty edit (a delay).
    pub media_time: i64,
    /// Rate, 16.16 (integer part and fraction).
    pub rate: u32,
}

/// An edit list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elst {
    /// 0 or 1 (64-bit fields).
    pub version: u8,
    /// The edits.
    pub entries: Vec<Edit>,
}

impl Elst {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Elst, FormatError> {
        let (version, _) = full_header(c)?;
        let n = c.u32("entry_count")?;
        let each = if version == 1 { 20 } else { 12 };
        let n = check_count(c, u64::from(n), each, "elst entries")?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let (segment_duration, media_time) = if version == 1 {
                (c.u64("segment_duration")?, c.i64("media_time")?)
            } else {
                (
                    u64::from(c.u32("segment_duration")?),
                    i64::from(c.u32("media_time")? as i32),
                )
            };
            let rate = c.u32("media_rate")?;
            entries.push(Edit {
                segment_duration,
                media_time,
                rate,
            });
        }
        Ok(Elst { version, entries })
    }

    /// Writes `edts` holding this `elst`.
    pub fn write(&self, w: &mut Writer) {
        w.begin(b"edts");
        w.begin_full(b"elst", self.version, 0);
        w.u32(self.entries.len() as u32);
        for e in &self.entries {
            if self.version == 1 {
                w.u64(e.segment_duration);
                w.u64(e.media_time as u64);
            } else {
                w.u32(e.segment_duration as u32);
                w.u32(e.media_time as i32 as u32);
            }
            w.u32(e.rate);
        }
        w.end();
        w.end();
    }
}
