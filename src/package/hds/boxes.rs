//! The boxes of Adobe HTTP Dynamic Streaming, as the Adobe Flash Video File Format
//! Specification 10.1 defines them (§2.11 `abst`, §2.11.2 `asrt`, §2.11.3 `afrt`, §2.12
//! `afra`): written by the packager, read back by `mist analyse`.
//!
//! ```text
//! abst  FullBox  BootstrapinfoVersion u32
//!                Profile u2 | Live u1 | Update u1 | Reserved u4
//!                TimeScale u32, CurrentMediaTime u64, SmpteTimeCodeOffset u64
//!                MovieIdentifier string, ServerEntryCount u8 + strings,
//!                QualityEntryCount u8 + strings, DrmData string, MetaData string,
//!                SegmentRunTableCount u8 + asrt boxes, FragmentRunTableCount u8 + afrt boxes
//! asrt  FullBox  QualityEntryCount u8 + strings, SegmentRunEntryCount u32,
//!                { FirstSegment u32, FragmentsPerSegment u32 }
//! afrt  FullBox  TimeScale u32, QualityEntryCount u8 + strings, FragmentRunEntryCount u32,
//!                { FirstFragment u32, FirstFragmentTimestamp u64, FragmentDuration u32,
//!                  DiscontinuityIndicator u8 only when FragmentDuration is 0 }
//! afra  FullBox  LongIDs u1 | LongOffsets u1 | GlobalEntries u1 | Reserved u5,
//!                TimeScale u32, EntryCount u32, { Time u64, Offset u32 or u64 },
//!                [GlobalEntryCount u32, { Time u64, Segment, Fragment u16 or u32,
//!                  AfraOffset, OffsetFromAfra u32 or u64 }]
//! ```
//! Strings are UTF-8 and end with a zero byte. The full-box flags of `asrt` and `afrt` say
//! whether the table replaces (0) or updates (1) an earlier one.

use bytes::Bytes;

use crate::formats::error::{FormatError, Problem};
use crate::formats::mp4::boxes::{check_count, full_header, next_child, Writer};
use crate::io::Cursor;

/// The name errors carry.
pub const FORMAT: &str = "hds";
/// Longest string read from a box.
pub const MAX_STRING: usize = 4096;

/// `DiscontinuityIndicator` 0: the end of the presentation.
pub const END_OF_PRESENTATION: u8 = 0;
/// `DiscontinuityIndicator` 1: the fragment numbers jump.
pub const FRAGMENT_NUMBERS: u8 = 1;
/// `DiscontinuityIndicator` 2: the timestamps jump.
pub const TIMESTAMPS: u8 = 2;
/// `DiscontinuityIndicator` 3: both jump.
pub const NUMBERS_AND_TIMESTAMPS: u8 = 3;

/// One entry of a segment run table: from `first_segment` on, each segment holds
/// `fragments_per_segment` fragments (until the next entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentRun {
    /// `FirstSegment`.
    pub first_segment: u32,
    /// `FragmentsPerSegment`.
    pub fragments_per_segment: u32,
}

/// The segment run table (`asrt`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Asrt {
    /// Flags: 1 when this table updates an earlier one.
    pub update: bool,
    /// `QualitySegmentUrlModifiers`.
    pub qualities: Vec<String>,
    /// `SegmentRunEntryTable`.
    pub runs: Vec<SegmentRun>,
}

/// One entry of a fragment run table: fragments from `first_fragment` on last `duration`
/// each, the first starting at `first_timestamp`. A `duration` of 0 marks a discontinuity
/// (`discontinuity` holds its `DiscontinuityIndicator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentRun {
    /// `FirstFragment`.
    pub first_fragment: u32,
    /// `FirstFragmentTimestamp`, in the table's timescale.
    pub first_timestamp: u64,
    /// `FragmentDuration`.
    pub duration: u32,
    /// `DiscontinuityIndicator`, present exactly when `duration` is 0.
    pub discontinuity: Option<u8>,
}

/// The fragment run table (`afrt`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Afrt {
    /// Flags: 1 when this table updates an earlier one.
    pub update: bool,
    /// `TimeScale`.
    pub timescale: u32,
    /// `QualitySegmentUrlModifiers`.
    pub qualities: Vec<String>,
    /// `FragmentRunEntryTable`.
    pub runs: Vec<FragmentRun>,
}

/// The bootstrap information box (`abst`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Abst {
    /// `BootstrapinfoVersion`: rises whenever the bootstrap changes.
    pub info_version: u32,
    /// `Profile` (0: named access, 1: range access).
    pub profile: u8,
    /// `Live`.
    pub live: bool,
    /// `Update`.
    pub update: bool,
    /// `TimeScale`.
    pub timescale: u32,
    /// `CurrentMediaTime`: the newest time available, in `timescale` units.
    pub current_media_time: u64,
    /// `SmpteTimeCodeOffset`.
    pub smpte_offset: u64,
    /// `MovieIdentifier`.
    pub movie_identifier: String,
    /// `ServerEntryTable`.
    pub servers: Vec<String>,
    /// `QualityEntryTable`.
    pub qualities: Vec<String>,
    /// `DrmData`.
    pub drm_data: String,
    /// `MetaData`.
    pub metadata: String,
    /// `SegmentRunTableEntries`.
    pub segment_tables: Vec<Asrt>,
    /// `FragmentRunTableEntries`.
    pub fragment_tables: Vec<Afrt>,
}

/// A random access point of an `afra`: a time and the byte offset (from the start of the
/// fragment) of the FLV tag to start decoding at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfraEntry {
    /// `Time`, in the box's timescale.
    pub time: u64,
    /// `Offset`.
    pub offset: u64,
}

/// A random access point in another fragment (`GLOBALAFRAENTRY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalAfraEntry {
    /// `Time`.
    pub time: u64,
    /// `Segment`.
    pub segment: u32,
    /// `Fragment`.
    pub fragment: u32,
    /// `AfraOffset`.
    pub afra_offset: u64,
    /// `OffsetFromAfra`.
    pub offset_from_afra: u64,
}

/// The fragment random access box (`afra`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Afra {
    /// `LongIDs`: segment and fragment numbers of global entries are 32-bit.
    pub long_ids: bool,
    /// `LongOffsets`: offsets are 64-bit.
    pub long_offsets: bool,
    /// `TimeScale`.
    pub timescale: u32,
    /// Local entries.
    pub entries: Vec<AfraEntry>,
    /// Global entries (`GlobalEntries` is set when there are any).
    pub global: Vec<GlobalAfraEntry>,
}

fn put_string(w: &mut Writer, s: &str) {
    // A zero byte would end the string early; none of ours hold one, and input is never
    // copied here unchecked.
    w.bytes(s.replace('\0', "").as_bytes());
    w.u8(0);
}

fn put_strings(w: &mut Writer, v: &[String]) {
    w.u8(v.len().min(255) as u8);
    for s in v.iter().take(255) {
        put_string(w, s);
    }
}

fn read_string(c: &mut Cursor, what: &'static str) -> Result<String, FormatError> {
    let rest = c.peek_rest();
    let Some(end) = rest.iter().take(MAX_STRING + 1).position(|&b| b == 0) else {
        if rest.len() > MAX_STRING {
            return Err(c.error(Problem::Limit {
                what,
                limit: MAX_STRING as u64,
            }));
        }
        return Err(c.error(Problem::Truncated { what, need: 1 }));
    };
    let s = String::from_utf8_lossy(&rest[..end]).into_owned();
    c.skip(end + 1, what)?;
    Ok(s)
}

fn read_strings(c: &mut Cursor, what: &'static str) -> Result<Vec<String>, FormatError> {
    let n = c.u8(what)?;
    let mut v = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        v.push(read_string(c, what)?);
    }
    Ok(v)
}

impl Asrt {
    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"asrt", 0, u32::from(self.update));
        put_strings(w, &self.qualities);
        w.u32(self.runs.len() as u32);
        for r in &self.runs {
            w.u32(r.first_segment);
            w.u32(r.fragments_per_segment);
        }
        w.end();
    }

    /// Parses the payload (after the box header).
    pub fn parse(c: &mut Cursor) -> Result<Asrt, FormatError> {
        let (_, flags) = full_header(c)?;
        let qualities = read_strings(c, "asrt QualitySegmentUrlModifiers")?;
        let n = c.u32("SegmentRunEntryCount")?;
        let n = check_count(c, u64::from(n), 8, "asrt SegmentRunEntryTable")?;
        let mut runs = Vec::with_capacity(n);
        for _ in 0..n {
            runs.push(SegmentRun {
                first_segment: c.u32("FirstSegment")?,
                fragments_per_segment: c.u32("FragmentsPerSegment")?,
            });
        }
        Ok(Asrt {
            update: flags & 1 != 0,
            qualities,
            runs,
        })
    }
}

impl Afrt {
    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"afrt", 0, u32::from(self.update));
        w.u32(self.timescale);
        put_strings(w, &self.qualities);
        w.u32(self.runs.len() as u32);
        for r in &self.runs {
            w.u32(r.first_fragment);
            w.u64(r.first_timestamp);
            w.u32(r.duration);
            if r.duration == 0 {
                w.u8(r.discontinuity.unwrap_or(END_OF_PRESENTATION));
            }
        }
        w.end();
    }

    /// Parses the payload (after the box header).
    pub fn parse(c: &mut Cursor) -> Result<Afrt, FormatError> {
        let (_, flags) = full_header(c)?;
        let timescale = c.u32("afrt TimeScale")?;
        let qualities = read_strings(c, "afrt QualitySegmentUrlModifiers")?;
        let n = c.u32("FragmentRunEntryCount")?;
        let n = check_count(c, u64::from(n), 16, "afrt FragmentRunEntryTable")?;
        let mut runs = Vec::with_capacity(n);
        for _ in 0..n {
            let first_fragment = c.u32("FirstFragment")?;
            let first_timestamp = c.u64("FirstFragmentTimestamp")?;
            let duration = c.u32("FragmentDuration")?;
            let discontinuity = if duration == 0 {
                Some(c.u8("DiscontinuityIndicator")?)
            } else {
                None
            };
            runs.push(FragmentRun {
                first_fragment,
                first_timestamp,
                duration,
                discontinuity,
            });
        }
        Ok(Afrt {
            update: flags & 1 != 0,
            timescale,
            qualities,
            runs,
        })
    }
}

impl Abst {
    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"abst", 0, 0);
        w.u32(self.info_version);
        w.u8((self.profile & 3) << 6 | u8::from(self.live) << 5 | u8::from(self.update) << 4);
        w.u32(self.timescale);
        w.u64(self.current_media_time);
        w.u64(self.smpte_offset);
        put_string(w, &self.movie_identifier);
        put_strings(w, &self.servers);
        put_strings(w, &self.qualities);
        put_string(w, &self.drm_data);
        put_string(w, &self.metadata);
        w.u8(self.segment_tables.len().min(255) as u8);
        for t in self.segment_tables.iter().take(255) {
            t.write(w);
        }
        w.u8(self.fragment_tables.len().min(255) as u8);
        for t in self.fragment_tables.iter().take(255) {
            t.write(w);
        }
        w.end();
    }

    /// The whole box as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut w = Writer::new();
        self.write(&mut w);
        Bytes::from(w.buf)
    }

    /// Parses the payload (after the box header).
    pub fn parse(c: &mut Cursor) -> Result<Abst, FormatError> {
        full_header(c)?;
        let info_version = c.u32("BootstrapinfoVersion")?;
        let b = c.u8("Profile, Live, Update")?;
        let mut a = Abst {
            info_version,
            profile: b >> 6,
            live: b & 0x20 != 0,
            update: b & 0x10 != 0,
            timescale: c.u32("abst TimeScale")?,
            current_media_time: c.u64("CurrentMediaTime")?,
            smpte_offset: c.u64("SmpteTimeCodeOffset")?,
            movie_identifier: read_string(c, "MovieIdentifier")?,
            ..Abst::default()
        };
        a.servers = read_strings(c, "ServerEntryTable")?;
        a.qualities = read_strings(c, "QualityEntryTable")?;
        a.drm_data = read_string(c, "DrmData")?;
        a.metadata = read_string(c, "MetaData")?;
        let n = c.u8("SegmentRunTableCount")?;
        for _ in 0..n {
            let (h, mut body) = child(c, "asrt")?;
            if &h != b"asrt" {
                return Err(wrong_box(c, &h, "asrt"));
            }
            a.segment_tables.push(Asrt::parse(&mut body)?);
        }
        let n = c.u8("FragmentRunTableCount")?;
        for _ in 0..n {
            let (h, mut body) = child(c, "afrt")?;
            if &h != b"afrt" {
                return Err(wrong_box(c, &h, "afrt"));
            }
            a.fragment_tables.push(Afrt::parse(&mut body)?);
        }
        Ok(a)
    }

    /// Parses a whole `abst` box (header included) from `data`.
    pub fn parse_box(data: &Bytes) -> Result<Abst, FormatError> {
        let mut c = Cursor::new(data.clone(), 0, FORMAT);
        let (h, mut body) = child(&mut c, "abst")?;
        if &h != b"abst" {
            return Err(wrong_box(&c, &h, "abst"));
        }
        Abst::parse(&mut body)
    }
}

fn child(c: &mut Cursor, what: &'static str) -> Result<([u8; 4], Cursor), FormatError> {
    match next_child(c)? {
        Some((h, body)) => Ok((h.kind, body)),
        None => Err(c.error(Problem::Truncated { what, need: 8 })),
    }
}

fn wrong_box(c: &Cursor, got: &[u8; 4], want: &str) -> FormatError {
    c.invalid(format!(
        "'{}' where '{want}' belongs",
        String::from_utf8_lossy(got)
    ))
}

impl Afra {
    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"afra", 0, 0);
        w.u8(u8::from(self.long_ids) << 7
            | u8::from(self.long_offsets) << 6
            | u8::from(!self.global.is_empty()) << 5);
        w.u32(self.timescale);
        w.u32(self.entries.len() as u32);
        let off = |w: &mut Writer, v: u64| {
            if self.long_offsets {
                w.u64(v)
            } else {
                w.u32(v as u32)
            }
        };
        for e in &self.entries {
            w.u64(e.time);
            off(w, e.offset);
        }
        if !self.global.is_empty() {
            w.u32(self.global.len() as u32);
            for g in &self.global {
                w.u64(g.time);
                if self.long_ids {
                    w.u32(g.segment);
                    w.u32(g.fragment);
                } else {
                    w.u16(g.segment as u16);
                    w.u16(g.fragment as u16);
                }
                off(w, g.afra_offset);
                off(w, g.offset_from_afra);
            }
        }
        w.end();
    }

    /// The size of the box with `entries` local entries (no global ones).
    pub fn size(entries: usize, long_offsets: bool) -> usize {
        8 + 4 + 1 + 4 + 4 + entries * if long_offsets { 16 } else { 12 }
    }

    /// Parses the payload (after the box header).
    pub fn parse(c: &mut Cursor) -> Result<Afra, FormatError> {
        full_header(c)?;
        let b = c.u8("LongIDs, LongOffsets, GlobalEntries")?;
        let long_ids = b & 0x80 != 0;
        let long_offsets = b & 0x40 != 0;
        let has_global = b & 0x20 != 0;
        let timescale = c.u32("afra TimeScale")?;
        let n = c.u32("EntryCount")?;
        let each = if long_offsets { 16 } else { 12 };
        let n = check_count(c, u64::from(n), each, "afra entries")?;
        let off = |c: &mut Cursor, what| -> Result<u64, FormatError> {
            if long_offsets {
                c.u64(what)
            } else {
                c.u32(what).map(u64::from)
            }
        };
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let time = c.u64("afra Time")?;
            let offset = off(c, "afra Offset")?;
            entries.push(AfraEntry { time, offset });
        }
        let mut global = Vec::new();
        if has_global {
            let n = c.u32("GlobalEntryCount")?;
            let ids = if long_ids { 8 } else { 4 };
            let offs = if long_offsets { 16 } else { 8 };
            let n = check_count(c, u64::from(n), 8 + ids + offs, "afra global entries")?;
            global.reserve(n);
            for _ in 0..n {
                let time = c.u64("afra global Time")?;
                let (segment, fragment) = if long_ids {
                    (c.u32("Segment")?, c.u32("Fragment")?)
                } else {
                    (u32::from(c.u16("Segment")?), u32::from(c.u16("Fragment")?))
                };
                let afra_offset = off(c, "AfraOffset")?;
                let offset_from_afra = off(c, "OffsetFromAfra")?;
                global.push(GlobalAfraEntry {
                    time,
                    segment,
                    fragment,
                    afra_offset,
                    offset_from_afra,
                });
            }
        }
        Ok(Afra {
            long_ids,
            long_offsets,
            timescale,
            entries,
            global,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(f: impl Fn(&mut Writer)) -> Vec<u8> {
        let mut w = Writer::new();
        f(&mut w);
        w.buf
    }

    #[test]
    fn asrt_layout_hand_computed() {
        // F4V 10.1 §2.11.2: one run, segment 1 holding 3 fragments.
        let a = Asrt {
            update: false,
            qualities: vec![],
            runs: vec![SegmentRun {
                first_segment: 1,
                fragments_per_segment: 3,
            }],
        };
        let got = boxed(|w| a.write(w));
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            0, 0, 0, 25, b'a', b's', b'r', b't', // size 8+4+1+4+8 = 25, type
            0, 0, 0, 0,                          // version 0, flags 0 (not an update)
            0,                                   // QualityEntryCount
            0, 0, 0, 1,                          // SegmentRunEntryCount
            0, 0, 0, 1,                          // FirstSegment
            0, 0, 0, 3,                          // FragmentsPerSegment
        ];
        assert_eq!(got, want);
        let back = Asrt::parse(&mut Cursor::from_slice(&got[8..], 8, FORMAT)).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn afrt_layout_with_a_discontinuity_hand_computed() {
        // Two runs: fragments from 1 at 0 ms lasting 2000 ms, then a timestamp discontinuity
        // (duration 0 and its indicator byte).
        let a = Afrt {
            update: false,
            timescale: 1000,
            qualities: vec![],
            runs: vec![
                FragmentRun {
                    first_fragment: 1,
                    first_timestamp: 0,
                    duration: 2000,
                    discontinuity: None,
                },
                FragmentRun {
                    first_fragment: 4,
                    first_timestamp: 6000,
                    duration: 0,
                    discontinuity: Some(TIMESTAMPS),
                },
            ],
        };
        let got = boxed(|w| a.write(w));
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            0, 0, 0, 54, b'a', b'f', b'r', b't', // 8+4+4+1+4+16+17 = 54
            0, 0, 0, 0,                          // version, flags
            0, 0, 0x03, 0xE8,                    // TimeScale 1000
            0,                                   // QualityEntryCount
            0, 0, 0, 2,                          // FragmentRunEntryCount
            0, 0, 0, 1,                          // FirstFragment 1
            0, 0, 0, 0, 0, 0, 0, 0,              // FirstFragmentTimestamp 0
            0, 0, 0x07, 0xD0,                    // FragmentDuration 2000
            0, 0, 0, 4,                          // FirstFragment 4
            0, 0, 0, 0, 0, 0, 0x17, 0x70,        // FirstFragmentTimestamp 6000
            0, 0, 0, 0,                          // FragmentDuration 0 ...
            2,                                   // ... so DiscontinuityIndicator: timestamps
        ];
        assert_eq!(got, want);
        let back = Afrt::parse(&mut Cursor::from_slice(&got[8..], 8, FORMAT)).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn abst_layout_hand_computed_and_read_as_yt_dlp_reads_it() {
        let a = Abst {
            info_version: 7,
            profile: 0,
            live: true,
            update: false,
            timescale: 1000,
            current_media_time: 8000,
            smpte_offset: 0,
            movie_identifier: "x".into(),
            servers: vec![],
            qualities: vec![],
            drm_data: String::new(),
            metadata: String::new(),
            segment_tables: vec![Asrt {
                update: false,
                qualities: vec![],
                runs: vec![SegmentRun {
                    first_segment: 1,
                    fragments_per_segment: u32::MAX,
                }],
            }],
            fragment_tables: vec![Afrt {
                update: false,
                timescale: 1000,
                qualities: vec![],
                runs: vec![FragmentRun {
                    first_fragment: 3,
                    first_timestamp: 4000,
                    duration: 2000,
                    discontinuity: None,
                }],
            }],
        };
        let got = a.to_bytes();
        #[rustfmt::skip]
        let head: Vec<u8> = vec![
            0, 0, 0, 0, b'a', b'b', b's', b't', // size patched below, type
            0, 0, 0, 0,                          // version, flags
            0, 0, 0, 7,                          // BootstrapinfoVersion
            0x20,                                // Profile 0, Live 1, Update 0
            0, 0, 0x03, 0xE8,                    // TimeScale 1000
            0, 0, 0, 0, 0, 0, 0x1F, 0x40,        // CurrentMediaTime 8000
            0, 0, 0, 0, 0, 0, 0, 0,              // SmpteTimeCodeOffset
            b'x', 0,                             // MovieIdentifier
            0,                                   // ServerEntryCount
            0,                                   // QualityEntryCount
            0,                                   // DrmData ""
            0,                                   // MetaData ""
            1,                                   // SegmentRunTableCount
        ];
        // abst up to SegmentRunTableCount 44 bytes + asrt 25 + count 1 + afrt 37 = 107.
        assert_eq!(head.len(), 44);
        assert_eq!(got.len(), 44 + 25 + 1 + 37);
        assert_eq!(&got[..4], &107u32.to_be_bytes());
        assert_eq!(&got[4..44], &head[4..]);
        assert_eq!(&got[44 + 25], &1u8, "FragmentRunTableCount");
        // yt-dlp's FlvReader.read_abst: `live = flags & 0x20 != 0` on the byte after
        // BootstrapinfoVersion.
        assert_eq!(got[16] & 0x20, 0x20);
        assert_eq!(Abst::parse_box(&got).unwrap(), a);
    }

    #[test]
    fn afra_layout_hand_computed() {
        let a = Afra {
            long_ids: false,
            long_offsets: false,
            timescale: 1000,
            entries: vec![AfraEntry {
                time: 2000,
                offset: 300,
            }],
            global: vec![],
        };
        let got = boxed(|w| a.write(w));
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            0, 0, 0, 33, b'a', b'f', b'r', b'a', // 8+4+1+4+4+12 = 33
            0, 0, 0, 0,                          // version, flags
            0,                                   // LongIDs 0, LongOffsets 0, GlobalEntries 0
            0, 0, 0x03, 0xE8,                    // TimeScale 1000
            0, 0, 0, 1,                          // EntryCount
            0, 0, 0, 0, 0, 0, 0x07, 0xD0,        // Time 2000
            0, 0, 0x01, 0x2C,                    // Offset 300 (32-bit)
        ];
        assert_eq!(got, want);
        assert_eq!(Afra::size(1, false), want.len());
        let back = Afra::parse(&mut Cursor::from_slice(&got[8..], 8, FORMAT)).unwrap();
        assert_eq!(back, a);
        let long = Afra {
            long_offsets: true,
            ..a
        };
        let got = boxed(|w| long.write(w));
        assert_eq!(got.len(), Afra::size(1, true));
        assert_eq!(got[12], 0x40);
        assert_eq!(
            Afra::parse(&mut Cursor::from_slice(&got[8..], 8, FORMAT)).unwrap(),
            long
        );
    }

    #[test]
    fn hostile_counts_are_refused_before_allocating() {
        // An afrt claiming 2^32-1 entries with none present.
        let mut p = vec![0, 0, 0, 0, 0, 0, 0x03, 0xE8, 0];
        p.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(Afrt::parse(&mut Cursor::from_slice(&p, 0, FORMAT)).is_err());
        // A string with no end.
        let mut p = vec![0, 0, 0, 0, 0, 0, 0, 1, 0x20, 0, 0, 0, 1];
        p.extend_from_slice(&[0; 16]);
        p.extend_from_slice(b"no terminator");
        assert!(Abst::parse(&mut Cursor::from_slice(&p, 0, FORMAT)).is_err());
    }
}
