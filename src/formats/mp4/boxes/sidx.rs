//! `sidx`: segment index (§8.16.3).

use super::{check_count, full_header, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// One reference of a segment index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SidxRef {
    /// True when it points at another `sidx`.
    pub reference_type: bool,
    /// Bytes referenced.
    pub size: u32,
    /// Duration in `timescale` ticks.
    pub duration: u32,
    /// Starts with a stream access point.
    pub starts_with_sap: bool,
    /// SAP type (1 = IDR).
    pub sap_type: u8,
    /// SAP delta time.
    pub sap_delta: u32,
}

/// A segment index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sidx {
    /// 0 or 1 (64-bit times).
    pub version: u8,
    /// The stream it indexes.
    pub reference_id: u32,
    /// Clock of the times.
    pub timescale: u32,
    /// Presentation time of the first sample.
    pub earliest_pts: u64,
    /// Bytes from the end of this box to the first referenced byte.
    pub first_offset: u64,
    /// The references.
    pub refs: Vec<SidxRef>,
}

impl Sidx {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Sidx, FormatError> {
        let (version, _) = full_header(c)?;
        let reference_id = c.u32("reference_ID")?;
        let timescale = c.u32("timescale")?;
        let (earliest_pts, first_offset) = if version == 0 {
            (
                u64::from(c.u32("earliest_presentation_time")?),
                u64::from(c.u32("first_offset")?),
            )
        } else {
            (c.u64("earliest_presentation_time")?, c.u64("first_offset")?)
        };
        c.skip(2, "reserved")?;
        let n = c.u16("reference_count")?;
        let n = check_count(c, u64::from(n), 12, "sidx references")?;
        let mut refs = Vec::with_capacity(n);
        for _ in 0..n {
            let a = c.u32("referenced_size")?;
            let duration = c.u32("subsegment_duration")?;
            let b = c.u32("SAP fields")?;
            refs.push(SidxRef {
                reference_type: a >> 31 != 0,
                size: a & 0x7FFF_FFFF,
                duration,
                starts_with_sap: b >> 31 != 0,
                sap_type: (b >> 28 & 7) as u8,
                sap_delta: b & 0x0FFF_FFFF,
            });
        }
        Ok(Sidx {
            version,
            reference_id,
            timescale,
            earliest_pts,
            first_offset,
            refs,
        })
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"sidx", self.version, 0);
        w.u32(self.reference_id);
        w.u32(self.timescale);
        if self.version == 0 {
            w.u32(self.earliest_pts as u32);
            w.u32(self.first_offset as u32);
        } else {
            w.u64(self.earliest_pts);
            w.u64(self.first_offset);
        }
        w.u16(0);
        w.u16(self.refs.len() as u16);
        for r in &self.refs {
            w.u32(u32::from(r.reference_type) << 31 | (r.size & 0x7FFF_FFFF));
            w.u32(r.duration);
            w.u32(
                u32::from(r.starts_with_sap) << 31
                    | u32::from(r.sap_type & 7) << 28
                    | (r.sap_delta & 0x0FFF_FFFF),
            );
        }
        w.end();
    }
}
