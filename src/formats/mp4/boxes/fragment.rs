//! Movie fragments (§8.8.4–8.8.12): `moof`, `mfhd`, `traf`, `tfhd`, `tfdt`, `trun`.

use super::{check_count, full_header, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// Samples in one `trun` that mist accepts.
pub const MAX_TRUN_SAMPLES: u64 = 1 << 24;
/// Samples of a `trun` without per-sample fields that [`Trun::parse`] lists one by one.
pub const MAX_LISTED_DEFAULT_SAMPLES: u64 = 1 << 16;

/// `tfhd` flag: base-data-offset present.
pub const TFHD_BASE_DATA_OFFSET: u32 = 0x1;
/// `tfhd` flag: sample-description-index present.
pub const TFHD_DESCRIPTION: u32 = 0x2;
/// `tfhd` flag: default-sample-duration present.
pub const TFHD_DURATION: u32 = 0x8;
/// `tfhd` flag: default-sample-size present.
pub const TFHD_SIZE: u32 = 0x10;
/// `tfhd` flag: default-sample-flags present.
pub const TFHD_FLAGS: u32 = 0x20;
/// `tfhd` flag: duration-is-empty.
pub const TFHD_EMPTY: u32 = 0x1_0000;
/// `tfhd` flag: default-base-is-moof.
pub const TFHD_BASE_IS_MOOF: u32 = 0x2_0000;

/// `trun` flag: data-offset present.
pub const TRUN_DATA_OFFSET: u32 = 0x1;
/// `trun` flag: first-sample-flags present.
pub const TRUN_FIRST_FLAGS: u32 = 0x4;
/// `trun` flag: sample-duration present.
pub const TRUN_DURATION: u32 = 0x100;
/// `trun` flag: sample-size present.
pub const TRUN_SIZE: u32 = 0x200;
/// `trun` flag: sample-flags present.
pub const TRUN_FLAGS: u32 = 0x400;
/// `trun` flag: sample-composition-time-offset present.
pub const TRUN_CTO: u32 = 0x800;

/// Sample flags of a sync sample (depends on nothing).
pub const SAMPLE_SYNC: u32 = 0x0200_0000;
/// Sample flags of a non-sync sample (depends on others, is-non-sync-sample set).
pub const SAMPLE_NON_SYNC: u32 = 0x0101_0000;

/// True when sample flags mark a sync sample (`sample_is_non_sync_sample` clear).
pub fn is_sync(flags: u32) -> bool {
    flags & 0x0001_0000 == 0
}

/// Parses an `mfhd` payload: the sequence number.
pub fn parse_mfhd(c: &mut Cursor) -> Result<u32, FormatError> {
    full_header(c)?;
    c.u32("sequence_number")
}

/// Writes `mfhd`.
pub fn write_mfhd(w: &mut Writer, sequence: u32) {
    w.begin_full(b"mfhd", 0, 0);
    w.u32(sequence);
    w.end();
}

/// Track fragment header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tfhd {
    /// Flags (which optional fields are present, base-is-moof ...).
    pub flags: u32,
    /// The track.
    pub track_id: u32,
    /// Base data offset.
    pub base_data_offset: Option<u64>,
    /// Sample description index.
    pub description: Option<u32>,
    /// Default duration.
    pub duration: Option<u32>,
    /// Default size.
    pub size: Option<u32>,
    /// Default flags.
    pub sample_flags: Option<u32>,
}

impl Tfhd {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Tfhd, FormatError> {
        let (_, flags) = full_header(c)?;
        let track_id = c.u32("track_ID")?;
        let mut t = Tfhd {
            flags,
            track_id,
            ..Tfhd::default()
        };
        if flags & TFHD_BASE_DATA_OFFSET != 0 {
            t.base_data_offset = Some(c.u64("base_data_offset")?);
        }
        if flags & TFHD_DESCRIPTION != 0 {
            t.description = Some(c.u32("sample_description_index")?);
        }
        if flags & TFHD_DURATION != 0 {
            t.duration = Some(c.u32("default_sample_duration")?);
        }
        if flags & TFHD_SIZE != 0 {
            t.size = Some(c.u32("default_sample_size")?);
        }
        if flags & TFHD_FLAGS != 0 {
            t.sample_flags = Some(c.u32("default_sample_flags")?);
        }
        Ok(t)
    }

    /// Writes the box (flags for the optional fields are derived from which are present).
    pub fn write(&self, w: &mut Writer) {
        let mut flags = self.flags & (TFHD_EMPTY | TFHD_BASE_IS_MOOF);
        let opt = [
            (self.base_data_offset.is_some(), TFHD_BASE_DATA_OFFSET),
            (self.description.is_some(), TFHD_DESCRIPTION),
            (self.duration.is_some(), TFHD_DURATION),
            (self.size.is_some(), TFHD_SIZE),
            (self.sample_flags.is_some(), TFHD_FLAGS),
        ];
        for (on, f) in opt {
            if on {
                flags |= f;
            }
        }
        w.begin_full(b"tfhd", 0, flags);
        w.u32(self.track_id);
        if let Some(v) = self.base_data_offset {
            w.u64(v);
        }
        for v in [
            self.description,
            self.duration,
            self.size,
            self.sample_flags,
        ]
        .into_iter()
        .flatten()
        {
            w.u32(v);
        }
        w.end();
    }
}

/// Parses a `tfdt` payload: baseMediaDecodeTime.
pub fn parse_tfdt(c: &mut Cursor) -> Result<u64, FormatError> {
    let (v, _) = full_header(c)?;
    Ok(if v == 1 {
        c.u64("baseMediaDecodeTime")?
    } else {
        u64::from(c.u32("baseMediaDecodeTime")?)
    })
}

/// Writes `tfdt` (version 1, 64-bit).
pub fn write_tfdt(w: &mut Writer, time: u64) {
    w.begin_full(b"tfdt", 1, 0);
    w.u64(time);
    w.end();
}

/// One `trun` sample; absent fields fall back to `tfhd`/`trex` defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrunSample {
    /// Duration.
    pub duration: Option<u32>,
    /// Size.
    pub size: Option<u32>,
    /// Flags.
    pub flags: Option<u32>,
    /// Composition offset (signed in v1; v0 values are read as signed too, like FFmpeg).
    pub cto: Option<i32>,
}

/// A track run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trun {
    /// 0 or 1 (signed composition offsets).
    pub version: u8,
    /// Flags (which fields are present).
    pub flags: u32,
    /// Offset of the first sample's data from the base offset.
    pub data_offset: Option<i32>,
    /// Flags of the first sample, overriding the defaults.
    pub first_flags: Option<u32>,
    /// The samples.
    pub samples: Vec<TrunSample>,
}

/// A track run as columns: the per-sample fields the box carries, each list empty (the field
/// is absent) or one entry per sample. A `trun` without per-sample fields costs nothing per
/// sample, however many it claims.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrunColumns {
    /// 0 or 1 (signed composition offsets).
    pub version: u8,
    /// Flags (which fields are present).
    pub flags: u32,
    /// Samples.
    pub count: u32,
    /// Offset of the first sample's data from the base offset.
    pub data_offset: Option<i32>,
    /// Flags of the first sample, overriding the defaults.
    pub first_flags: Option<u32>,
    /// Per-sample durations.
    pub durations: Vec<u32>,
    /// Per-sample sizes.
    pub sizes: Vec<u32>,
    /// Per-sample flags.
    pub sample_flags: Vec<u32>,
    /// Per-sample composition offsets.
    pub ctos: Vec<i32>,
}

impl TrunColumns {
    /// Parses a `trun` payload.
    pub fn parse(c: &mut Cursor) -> Result<TrunColumns, FormatError> {
        let (version, flags) = full_header(c)?;
        let n = c.u32("sample_count")?;
        let mut t = TrunColumns {
            version,
            flags,
            count: n,
            ..TrunColumns::default()
        };
        if flags & TRUN_DATA_OFFSET != 0 {
            t.data_offset = Some(c.u32("data_offset")? as i32);
        }
        if flags & TRUN_FIRST_FLAGS != 0 {
            t.first_flags = Some(c.u32("first_sample_flags")?);
        }
        let each = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTO]
            .iter()
            .filter(|&&f| flags & f != 0)
            .count() as u64
            * 4;
        if u64::from(n) > MAX_TRUN_SAMPLES {
            return Err(c.error(crate::formats::Problem::Limit {
                what: "trun samples",
                limit: MAX_TRUN_SAMPLES,
            }));
        }
        let n = if each == 0 {
            0
        } else {
            check_count(c, u64::from(n), each, "trun samples")?
        };
        let column = |f: u32| if flags & f != 0 { n } else { 0 };
        t.durations.reserve_exact(column(TRUN_DURATION));
        t.sizes.reserve_exact(column(TRUN_SIZE));
        t.sample_flags.reserve_exact(column(TRUN_FLAGS));
        t.ctos.reserve_exact(column(TRUN_CTO));
        for _ in 0..n {
            if flags & TRUN_DURATION != 0 {
                t.durations.push(c.u32("sample_duration")?);
            }
            if flags & TRUN_SIZE != 0 {
                t.sizes.push(c.u32("sample_size")?);
            }
            if flags & TRUN_FLAGS != 0 {
                t.sample_flags.push(c.u32("sample_flags")?);
            }
            if flags & TRUN_CTO != 0 {
                t.ctos.push(c.u32("sample_composition_time_offset")? as i32);
            }
        }
        Ok(t)
    }
}

impl Trun {
    /// Parses the payload. A `trun` without per-sample fields is listed only up to
    /// [`MAX_LISTED_DEFAULT_SAMPLES`] samples (each would be an empty entry; the demuxer reads
    /// such runs through [`TrunColumns`] instead).
    pub fn parse(c: &mut Cursor) -> Result<Trun, FormatError> {
        let at = c.offset();
        let col = TrunColumns::parse(c)?;
        let fields = col.flags & (TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | TRUN_CTO);
        if fields == 0 && u64::from(col.count) > MAX_LISTED_DEFAULT_SAMPLES {
            return Err(FormatError::new(
                super::FORMAT,
                at,
                crate::formats::Problem::Limit {
                    what: "trun samples without fields of their own",
                    limit: MAX_LISTED_DEFAULT_SAMPLES,
                },
            ));
        }
        let n = col.count as usize;
        let samples = (0..n)
            .map(|i| TrunSample {
                duration: col.durations.get(i).copied(),
                size: col.sizes.get(i).copied(),
                flags: col.sample_flags.get(i).copied(),
                cto: col.ctos.get(i).copied(),
            })
            .collect();
        Ok(Trun {
            version: col.version,
            flags: col.flags,
            data_offset: col.data_offset,
            first_flags: col.first_flags,
            samples,
        })
    }

    /// Writes the box; the fields present in the first sample decide the flags.
    pub fn write(&self, w: &mut Writer) {
        let mut flags = 0;
        if self.data_offset.is_some() {
            flags |= TRUN_DATA_OFFSET;
        }
        if self.first_flags.is_some() {
            flags |= TRUN_FIRST_FLAGS;
        }
        if let Some(s) = self.samples.first() {
            for (on, f) in [
                (s.duration.is_some(), TRUN_DURATION),
                (s.size.is_some(), TRUN_SIZE),
                (s.flags.is_some(), TRUN_FLAGS),
                (s.cto.is_some(), TRUN_CTO),
            ] {
                if on {
                    flags |= f;
                }
            }
        }
        w.begin_full(b"trun", self.version, flags);
        w.u32(self.samples.len() as u32);
        if let Some(o) = self.data_offset {
            w.u32(o as u32);
        }
        if let Some(f) = self.first_flags {
            w.u32(f);
        }
        for s in &self.samples {
            for (bit, v) in [
                (TRUN_DURATION, s.duration),
                (TRUN_SIZE, s.size),
                (TRUN_FLAGS, s.flags),
                (TRUN_CTO, s.cto.map(|c| c as u32)),
            ] {
                if flags & bit != 0 {
                    w.u32(v.unwrap_or(0));
                }
            }
        }
        w.end();
    }

    /// Bytes of this box when written.
    pub fn box_size(&self) -> usize {
        let mut w = Writer::new();
        self.write(&mut w);
        w.len()
    }
}
