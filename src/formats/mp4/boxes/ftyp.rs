//! `ftyp` / `styp`: file type and compatible brands (14496-12 §4.3).

use super::{FourCC, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// Brands a file declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ftyp {
    /// Major brand.
    pub major: FourCC,
    /// Minor version.
    pub minor: u32,
    /// Compatible brands.
    pub compatible: Vec<FourCC>,
}

impl Ftyp {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Ftyp, FormatError> {
        let mut major = [0u8; 4];
        major.copy_from_slice(c.slice(4, "major_brand")?);
        let minor = c.u32("minor_version")?;
        let mut compatible = Vec::with_capacity(c.remaining() / 4);
        while c.remaining() >= 4 {
            let mut b = [0u8; 4];
            b.copy_from_slice(c.slice(4, "compatible_brands")?);
            compatible.push(b);
        }
        Ok(Ftyp {
            major,
            minor,
            compatible,
        })
    }

    /// Writes the box (`ftyp`; use [`write_as`](Self::write_as) for `styp`).
    pub fn write(&self, w: &mut Writer) {
        self.write_as(w, b"ftyp");
    }

    /// Writes the box under another type (`styp`).
    pub fn write_as(&self, w: &mut Writer, kind: &FourCC) {
        w.begin(kind);
        w.bytes(&self.major);
        w.u32(self.minor);
        for b in &self.compatible {
            w.bytes(b);
        }
        w.end();
    }
}
