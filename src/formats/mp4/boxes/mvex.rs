//! `mvex` (§8.8.1) with `mehd` (§8.8.2) and `trex` (§8.8.3): the defaults fragments inherit.

use super::{full_header, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// Per-track defaults for fragments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trex {
    /// The track.
    pub track_id: u32,
    /// Default sample description index (1-based).
    pub description: u32,
    /// Default sample duration.
    pub duration: u32,
    /// Default sample size.
    pub size: u32,
    /// Default sample flags.
    pub flags: u32,
}

impl Trex {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Trex, FormatError> {
        full_header(c)?;
        Ok(Trex {
            track_id: c.u32("track_ID")?,
            description: c.u32("default_sample_description_index")?,
            duration: c.u32("default_sample_duration")?,
            size: c.u32("default_sample_size")?,
            flags: c.u32("default_sample_flags")?,
        })
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"trex", 0, 0);
        w.u32(self.track_id);
        w.u32(self.description);
        w.u32(self.duration);
        w.u32(self.size);
        w.u32(self.flags);
        w.end();
    }
}

/// Parses an `mehd` payload: the duration of the whole fragmented movie.
pub fn parse_mehd(c: &mut Cursor) -> Result<u64, FormatError> {
    let (v, _) = full_header(c)?;
    Ok(if v == 1 {
        c.u64("fragment_duration")?
    } else {
        u64::from(c.u32("fragment_duration")?)
    })
}

/// Writes `mvex` with one `trex` per track (and no `mehd`: the length is open).
pub fn write_mvex(w: &mut Writer, trex: &[Trex]) {
    w.begin(b"mvex");
    for t in trex {
        t.write(w);
    }
    w.end();
}
