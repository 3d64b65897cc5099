//! `mvhd` (movie header, §8.2.2) and `tkhd` (track header, §8.3.2).

use super::{full_header, read_matrix, read_times, write_matrix, write_times, Writer, MATRIX};
use crate::formats::FormatError;
use crate::io::Cursor;

/// Movie header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mvhd {
    /// 0 (32-bit times) or 1 (64-bit).
    pub version: u8,
    /// Seconds since 1904.
    pub creation: u64,
    /// Seconds since 1904.
    pub modification: u64,
    /// Ticks per second of the movie clock (durations of `mvhd`, `tkhd`, `elst`).
    pub timescale: u32,
    /// Duration in movie ticks.
    pub duration: u64,
    /// Preferred rate, 16.16.
    pub rate: u32,
    /// Preferred volume, 8.8.
    pub volume: u16,
    /// Transformation matrix.
    pub matrix: [u32; 9],
    /// Next free track id.
    pub next_track_id: u32,
}

impl Mvhd {
    /// A header with the usual defaults.
    pub fn new(timescale: u32, duration: u64, next_track_id: u32) -> Mvhd {
        Mvhd {
            version: u8::from(duration > u64::from(u32::MAX)),
            creation: 0,
            modification: 0,
            timescale,
            duration,
            rate: 0x10000,
            volume: 0x100,
            matrix: MATRIX,
            next_track_id,
        }
    }

    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Mvhd, FormatError> {
        let (version, _) = full_header(c)?;
        let (creation, modification, timescale, duration) = read_times(c, version)?;
        let rate = c.u32("rate")?;
        let volume = c.u16("volume")?;
        c.skip(10, "reserved")?;
        let matrix = read_matrix(c)?;
        c.skip(24, "pre_defined")?;
        let next_track_id = c.u32("next_track_ID")?;
        Ok(Mvhd {
            version,
            creation,
            modification,
            timescale,
            duration,
            rate,
            volume,
            matrix,
            next_track_id,
        })
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"mvhd", self.version, 0);
        write_times(
            w,
            self.version,
            (
                self.creation,
                self.modification,
                self.timescale,
                self.duration,
            ),
        );
        w.u32(self.rate);
        w.u16(self.volume);
        w.zeros(10);
        write_matrix(w, &self.matrix);
        w.zeros(24);
        w.u32(self.next_track_id);
        w.end();
    }
}

/// Track header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tkhd {
    /// 0 or 1 (64-bit times).
    pub version: u8,
    /// Flags: 1 enabled, 2 in movie, 4 in preview.
    pub flags: u32,
    /// Seconds since 1904.
    pub creation: u64,
    /// Seconds since 1904.
    pub modification: u64,
    /// The track id.
    pub track_id: u32,
    /// Duration in movie ticks.
    pub duration: u64,
    /// Layer.
    pub layer: u16,
    /// Alternate group (audio tracks that replace each other share one).
    pub alternate_group: u16,
    /// Volume, 8.8 (0x100 for audio, 0 otherwise).
    pub volume: u16,
    /// Matrix.
    pub matrix: [u32; 9],
    /// Width, 16.16.
    pub width: u32,
    /// Height, 16.16.
    pub height: u32,
}

impl Tkhd {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Tkhd, FormatError> {
        let (version, flags) = full_header(c)?;
        let (creation, modification, track_id, duration) = if version == 1 {
            let cr = c.u64("creation_time")?;
            let m = c.u64("modification_time")?;
            let id = c.u32("track_ID")?;
            c.skip(4, "reserved")?;
            (cr, m, id, c.u64("duration")?)
        } else {
            let cr = u64::from(c.u32("creation_time")?);
            let m = u64::from(c.u32("modification_time")?);
            let id = c.u32("track_ID")?;
            c.skip(4, "reserved")?;
            (cr, m, id, u64::from(c.u32("duration")?))
        };
        c.skip(8, "reserved")?;
        let layer = c.u16("layer")?;
        let alternate_group = c.u16("alternate_group")?;
        let volume = c.u16("volume")?;
        c.skip(2, "reserved")?;
        let matrix = read_matrix(c)?;
        let width = c.u32("width")?;
        let height = c.u32("height")?;
        Ok(Tkhd {
            version,
            flags,
            creation,
            modification,
            track_id,
            duration,
            layer,
            alternate_group,
            volume,
            matrix,
            width,
            height,
        })
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"tkhd", self.version, self.flags);
        if self.version == 1 {
            w.u64(self.creation);
            w.u64(self.modification);
            w.u32(self.track_id);
            w.u32(0);
            w.u64(self.duration);
        } else {
            w.u32(self.creation as u32);
            w.u32(self.modification as u32);
            w.u32(self.track_id);
            w.u32(0);
            w.u32(self.duration as u32);
        }
        w.zeros(8);
        w.u16(self.layer);
        w.u16(self.alternate_group);
        w.u16(self.volume);
        w.u16(0);
        write_matrix(w, &self.matrix);
        w.u32(self.width);
        w.u32(self.height);
        w.end();
    }
}
