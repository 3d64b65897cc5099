//! ISOBMFF boxes (ISO/IEC 14496-12 §4.2): the box header, a writer that fills in sizes, and
//! one module per box or box family, each able to parse its payload and write itself.
//!
//! Parsers take a [`Cursor`] over the box *payload* (after the header, and after version and
//! flags for full boxes: see [`full_header`]); errors carry absolute offsets. Every count read
//! from input is checked against the bytes that are actually there before anything is
//! allocated, and against a named limit.

pub mod edts;
pub mod fragment;
pub mod ftyp;
pub mod media;
pub mod movie;
pub mod mvex;
pub mod sidx;
pub mod stco;
pub mod stsc;
pub mod stsd;
pub mod stss;
pub mod stsz;
pub mod stts;

use crate::formats::error::{FormatError, Problem};
use crate::io::Cursor;

/// The format name errors carry.
pub const FORMAT: &str = "mp4";

/// Containers nest at most this deep (a real file needs 8: moov/trak/mdia/minf/stbl/stsd/avc1/avcC).
pub const MAX_DEPTH: usize = 16;
/// Entries in one sample table (stts, ctts, stss, stsc, stsz, stco ...).
pub const MAX_TABLE_ENTRIES: u64 = 1 << 27;
/// Children of one box that the tree walker lists before giving up.
pub const MAX_CHILDREN: usize = 1 << 16;

/// A four-character code.
pub type FourCC = [u8; 4];

/// A four-character code as text (`moov`; other bytes as `\xNN`).
pub fn fourcc_str(f: FourCC) -> String {
    f.iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// One box header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxHeader {
    /// The box type.
    pub kind: FourCC,
    /// Absolute offset of the first header byte.
    pub offset: u64,
    /// Header bytes (8, 16 with a 64-bit size, plus 16 for `uuid`).
    pub header_len: u64,
    /// Total size including the header (size 0 "to the end" is already resolved).
    pub size: u64,
    /// True when the size field was 0 (the box runs to the end of its parent or file).
    pub to_end: bool,
    /// The extended type of a `uuid` box.
    pub uuid: Option<[u8; 16]>,
}

impl BoxHeader {
    /// Payload bytes.
    pub fn payload_len(&self) -> u64 {
        self.size - self.header_len
    }
    /// Absolute offset of the first payload byte.
    pub fn payload_offset(&self) -> u64 {
        self.offset + self.header_len
    }
    /// Absolute offset just past the box.
    pub fn end(&self) -> u64 {
        self.offset + self.size
    }
}

/// Parses a box header from the start of `bytes` (which sits at absolute `offset`), given that
/// `avail` bytes remain in the parent (or file) from `offset` on. `Ok(None)` when `bytes` is too
/// short to hold the header (callers read more or report truncation).
pub fn parse_header(
    bytes: &[u8],
    offset: u64,
    avail: u64,
) -> Result<Option<BoxHeader>, FormatError> {
    if bytes.len() < 8 {
        return Ok(None);
    }
    let size32 = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let kind = [bytes[4], bytes[5], bytes[6], bytes[7]];
    let mut header_len = 8u64;
    let (size, to_end) = match size32 {
        0 => (avail, true),
        1 => {
            let Some(l) = bytes.get(8..16) else {
                return Ok(None);
            };
            header_len = 16;
            let mut a = [0u8; 8];
            a.copy_from_slice(l);
            (u64::from_be_bytes(a), false)
        }
        n => (u64::from(n), false),
    };
    let mut uuid = None;
    if &kind == b"uuid" {
        let at = header_len as usize;
        let Some(u) = bytes.get(at..at + 16) else {
            return Ok(None);
        };
        let mut a = [0u8; 16];
        a.copy_from_slice(u);
        uuid = Some(a);
        header_len += 16;
    }
    if size < header_len {
        return Err(FormatError::new(
            FORMAT,
            offset,
            Problem::Invalid(format!(
                "box '{}' size {size} is smaller than its header",
                fourcc_str(kind)
            )),
        ));
    }
    if size > avail {
        return Err(FormatError::new(
            FORMAT,
            offset,
            Problem::Invalid(format!(
                "box '{}' size {size} overruns its parent ({avail} bytes left)",
                fourcc_str(kind)
            )),
        ));
    }
    Ok(Some(BoxHeader {
        kind,
        offset,
        header_len,
        size,
        to_end,
        uuid,
    }))
}

/// Reads the next child box from a parent's payload cursor: its header and a cursor over its
/// payload. `Ok(None)` at the end of the parent; fewer than 8 bytes left is an error.
pub fn next_child(c: &mut Cursor) -> Result<Option<(BoxHeader, Cursor)>, FormatError> {
    if c.is_empty() {
        return Ok(None);
    }
    let offset = c.offset();
    let avail = c.remaining() as u64;
    let Some(h) = parse_header(c.peek_rest(), offset, avail)? else {
        return Err(c.error(Problem::Truncated {
            what: "box header",
            need: 8u64.saturating_sub(avail).max(1),
        }));
    };
    c.skip(h.header_len as usize, "box header")?;
    let body = c.sub(h.payload_len() as usize, "box payload")?;
    Ok(Some((h, body)))
}

/// Reads version and flags of a full box.
pub fn full_header(c: &mut Cursor) -> Result<(u8, u32), FormatError> {
    let v = c.u32("version and flags")?;
    Ok(((v >> 24) as u8, v & 0xFF_FFFF))
}

/// Checks a count read from input against the bytes left (each entry `entry` bytes) and a
/// limit, before anything is allocated for it.
pub fn check_count(
    c: &Cursor,
    count: u64,
    entry: u64,
    what: &'static str,
) -> Result<usize, FormatError> {
    if count > MAX_TABLE_ENTRIES {
        return Err(c.error(Problem::Limit {
            what,
            limit: MAX_TABLE_ENTRIES,
        }));
    }
    let need = count.saturating_mul(entry);
    if need > c.remaining() as u64 {
        return Err(c.error(Problem::Truncated {
            what,
            need: need - c.remaining() as u64,
        }));
    }
    Ok(count as usize)
}

/// Builds boxes into a byte vector, filling in each box's size when it ends.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    /// The bytes so far.
    pub buf: Vec<u8>,
    open: Vec<usize>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Writer {
        Writer::default()
    }
    /// Opens a box; close it with [`end`](Self::end).
    pub fn begin(&mut self, kind: &FourCC) {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(kind);
    }
    /// Opens a full box.
    pub fn begin_full(&mut self, kind: &FourCC, version: u8, flags: u32) {
        self.begin(kind);
        self.u32(u32::from(version) << 24 | (flags & 0xFF_FFFF));
    }
    /// Closes the innermost open box, writing its size.
    pub fn end(&mut self) {
        if let Some(start) = self.open.pop() {
            let size = (self.buf.len() - start) as u32;
            self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
        }
    }
    /// Appends a byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Appends a big-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian u24.
    pub fn u24(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes()[1..]);
    }
    /// Appends a big-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Appends a big-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// Appends bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// Appends `n` zero bytes.
    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// The header of an `mdat` (or any box) of `payload` bytes, 64-bit when it does not fit 32.
pub fn header_bytes(kind: &FourCC, payload: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    if payload + 8 <= u64::from(u32::MAX) {
        v.extend_from_slice(&((payload + 8) as u32).to_be_bytes());
        v.extend_from_slice(kind);
    } else {
        v.extend_from_slice(&1u32.to_be_bytes());
        v.extend_from_slice(kind);
        v.extend_from_slice(&(payload + 16).to_be_bytes());
    }
    v
}

/// The identity matrix of `mvhd`/`tkhd` (16.16 and 2.30 fixed point).
pub const MATRIX: [u32; 9] = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000];

/// Reads a 3×3 matrix.
pub fn read_matrix(c: &mut Cursor) -> Result<[u32; 9], FormatError> {
    let mut m = [0u32; 9];
    for v in &mut m {
        *v = c.u32("matrix")?;
    }
    Ok(m)
}

/// Writes a 3×3 matrix.
pub fn write_matrix(w: &mut Writer, m: &[u32; 9]) {
    for v in m {
        w.u32(*v);
    }
}

/// The time block `mvhd` and `mdhd` share (ISO/IEC 14496-12 §8.2.2, §8.4.2): creation and
/// modification times, timescale, duration; 64-bit times in version 1, 32-bit otherwise.
pub fn read_times(c: &mut Cursor, version: u8) -> Result<(u64, u64, u32, u64), FormatError> {
    Ok(if version == 1 {
        (
            c.u64("creation_time")?,
            c.u64("modification_time")?,
            c.u32("timescale")?,
            c.u64("duration")?,
        )
    } else {
        (
            u64::from(c.u32("creation_time")?),
            u64::from(c.u32("modification_time")?),
            c.u32("timescale")?,
            u64::from(c.u32("duration")?),
        )
    })
}

/// Writes the time block [`read_times`] reads: (creation, modification, timescale, duration).
pub fn write_times(w: &mut Writer, version: u8, times: (u64, u64, u32, u64)) {
    let (creation, modification, timescale, duration) = times;
    if version == 1 {
        w.u64(creation);
        w.u64(modification);
        w.u32(timescale);
        w.u64(duration);
    } else {
        w.u32(creation as u32);
        w.u32(modification as u32);
        w.u32(timescale);
        w.u32(duration as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        // Hand-computed: 32-bit size 16 'free'; size 1 with largesize 24 'mdat'; size 0.
        let h = parse_header(b"\0\0\0\x10free", 100, 50).unwrap().unwrap();
        assert_eq!((h.size, h.header_len, h.payload_offset()), (16, 8, 108));
        let h = parse_header(b"\0\0\0\x01mdat\0\0\0\0\0\0\0\x18", 0, 24)
            .unwrap()
            .unwrap();
        assert_eq!((h.size, h.header_len), (24, 16));
        let h = parse_header(b"\0\0\0\0mdat", 0, 1000).unwrap().unwrap();
        assert!(h.to_end && h.size == 1000);
        let e = parse_header(b"\0\0\x10\0moov", 7, 100).unwrap_err();
        assert_eq!(e.offset, 7);
        assert!(e.to_string().contains("overruns"));
        assert!(parse_header(b"\0\0\0\x04moov", 0, 100).is_err());
    }

    #[test]
    fn writer_patches_sizes() {
        let mut w = Writer::new();
        w.begin(b"moov");
        w.begin_full(b"mvhd", 1, 2);
        w.u8(9);
        w.end();
        w.end();
        assert_eq!(
            w.buf,
            b"\0\0\0\x15moov\0\0\0\x0dmvhd\x01\0\0\x02\x09".to_vec()
        );
        assert_eq!(header_bytes(b"mdat", 8), b"\0\0\0\x10mdat".to_vec());
        assert_eq!(
            header_bytes(b"mdat", 1 << 32),
            [
                &[0, 0, 0, 1][..],
                b"mdat",
                &((1u64 << 32) + 16).to_be_bytes()
            ]
            .concat()
        );
    }
}

#[cfg(test)]
mod round_trip {
    //! Every box mist writes: write → parse → write gives the same bytes; a few layouts are
    //! checked against bytes computed by hand from 14496-12.
    use super::edts::{Edit, Elst};
    use super::fragment::{Tfhd, Trun, TrunSample, TFHD_BASE_IS_MOOF};
    use super::ftyp::Ftyp;
    use super::media::{pack_language, Hdlr, Mdhd};
    use super::movie::{Mvhd, Tkhd};
    use super::mvex::Trex;
    use super::sidx::{Sidx, SidxRef};
    use super::stco::Stco;
    use super::stsc::Stsc;
    use super::stsd::{Audio, Btrt, EntryKind, Esds, SampleEntry, Stsd, Visual};
    use super::stss::Stss;
    use super::stsz::Stsz;
    use super::stts::{Ctts, Stts};
    use super::*;
    use bytes::Bytes;

    fn payload(w: &Writer) -> Cursor {
        Cursor::from_slice(&w.buf[8..], 8, FORMAT)
    }

    macro_rules! rt {
        ($v:expr, $parse:expr) => {{
            let mut a = Writer::new();
            $v.write(&mut a);
            let mut c = payload(&a);
            let back = $parse(&mut c).unwrap();
            assert!(c.is_empty(), "parser left bytes");
            let mut b = Writer::new();
            back.write(&mut b);
            assert_eq!(a.buf, b.buf);
            assert_eq!(back, $v);
        }};
    }

    #[test]
    fn every_box_round_trips() {
        rt!(
            Ftyp {
                major: *b"isom",
                minor: 512,
                compatible: vec![*b"isom", *b"avc1"]
            },
            Ftyp::parse
        );
        rt!(Mvhd::new(1000, 1 << 40, 3), Mvhd::parse);
        rt!(Mvhd::new(1000, 5000, 3), Mvhd::parse);
        let tkhd = Tkhd {
            version: 0,
            flags: 3,
            creation: 0,
            modification: 0,
            track_id: 7,
            duration: 99,
            layer: 0,
            alternate_group: 1,
            volume: 0x100,
            matrix: MATRIX,
            width: 320 << 16,
            height: 240 << 16,
        };
        rt!(tkhd, Tkhd::parse);
        rt!(
            Mdhd {
                version: 1,
                creation: 1,
                modification: 2,
                timescale: 48000,
                duration: 1 << 33,
                language: pack_language(Some("eng"))
            },
            Mdhd::parse
        );
        rt!(
            Hdlr {
                handler: *b"vide",
                name: "VideoHandler".into()
            },
            Hdlr::parse
        );
        rt!(
            Stts {
                entries: vec![(3, 512), (1, 1024)]
            },
            Stts::parse
        );
        rt!(
            Ctts {
                version: 1,
                entries: vec![(1, -512), (2, 1024)]
            },
            Ctts::parse
        );
        rt!(
            Stss {
                samples: vec![1, 26]
            },
            Stss::parse
        );
        rt!(Stsc::from_chunk_sizes([5, 5, 3]), Stsc::parse);
        rt!(Stsz::from_sizes(vec![10, 20, 30]), Stsz::parse);
        rt!(Stsz::from_sizes(vec![7, 7]), Stsz::parse);
        rt!(
            Stco {
                wide: false,
                offsets: vec![48, 4000]
            },
            |c: &mut Cursor| Stco::parse(c, false)
        );
        rt!(
            Stco {
                wide: true,
                offsets: vec![1 << 33]
            },
            |c: &mut Cursor| Stco::parse(c, true)
        );
        rt!(
            Trex {
                track_id: 1,
                description: 1,
                duration: 0,
                size: 0,
                flags: 0
            },
            Trex::parse
        );
        rt!(
            Tfhd {
                flags: TFHD_BASE_IS_MOOF | super::fragment::TFHD_DURATION,
                track_id: 2,
                duration: Some(1024),
                ..Tfhd::default()
            },
            Tfhd::parse
        );
        let trun = Trun {
            version: 1,
            flags: 0xF01,
            data_offset: Some(120),
            first_flags: None,
            samples: vec![TrunSample {
                duration: Some(512),
                size: Some(9),
                flags: Some(0x0200_0000),
                cto: Some(-512),
            }],
        };
        rt!(trun, Trun::parse);
        rt!(
            Sidx {
                version: 1,
                reference_id: 1,
                timescale: 1000,
                earliest_pts: 0,
                first_offset: 0,
                refs: vec![SidxRef {
                    reference_type: false,
                    size: 500,
                    duration: 2000,
                    starts_with_sap: true,
                    sap_type: 1,
                    sap_delta: 0
                }]
            },
            Sidx::parse
        );
        let btrt = Btrt {
            buffer_size: 10,
            max_bitrate: 20,
            avg_bitrate: 30,
        };
        let stsd = Stsd {
            entries: vec![
                SampleEntry {
                    format: *b"avc1",
                    data_ref: 1,
                    kind: EntryKind::Visual(Visual {
                        width: 320,
                        height: 240,
                        config: Some((
                            *b"avcC",
                            Bytes::from_static(&[1, 0x64, 0, 13, 0xff, 0xe0, 0]),
                        )),
                        btrt: Some(btrt),
                    }),
                },
                SampleEntry {
                    format: *b"mp4a",
                    data_ref: 1,
                    kind: EntryKind::Audio(Audio {
                        channels: 2,
                        sample_size: 16,
                        rate: 48000,
                        esds: Some(Esds::aac(
                            Bytes::from_static(&[0x11, 0x90]),
                            128_000,
                            130_000,
                        )),
                        btrt: None,
                    }),
                },
            ],
        };
        rt!(stsd, Stsd::parse);
        // elst writes edts around it.
        let elst = Elst {
            version: 0,
            entries: vec![Edit {
                segment_duration: 2000,
                media_time: 1024,
                rate: 0x10000,
            }],
        };
        let mut a = Writer::new();
        elst.write(&mut a);
        let mut c = Cursor::from_slice(&a.buf[16..], 16, FORMAT);
        assert_eq!(Elst::parse(&mut c).unwrap(), elst);
    }

    #[test]
    fn stts_and_mvhd_bytes_by_hand() {
        // stts: size 32, 'stts', v0 flags 0, 2 entries: (3, 512), (1, 1024).
        let mut w = Writer::new();
        Stts::from_durations([512, 512, 512, 1024]).write(&mut w);
        assert_eq!(
            w.buf,
            [
                &[0, 0, 0, 32][..],
                b"stts",
                &[0, 0, 0, 0],
                &[0, 0, 0, 2],
                &[0, 0, 0, 3],
                &[0, 0, 2, 0],
                &[0, 0, 0, 1],
                &[0, 0, 4, 0]
            ]
            .concat()
        );
        // mvhd v0 is 108 bytes: timescale at 20, duration at 24, rate at 28, volume at 32,
        // matrix at 44, next_track_ID at 104.
        let mut w = Writer::new();
        Mvhd::new(1000, 2040, 3).write(&mut w);
        let b = &w.buf;
        assert_eq!(b.len(), 108);
        assert_eq!(&b[20..24], &1000u32.to_be_bytes());
        assert_eq!(&b[24..28], &2040u32.to_be_bytes());
        assert_eq!(&b[28..32], &[0, 1, 0, 0]);
        assert_eq!(&b[32..34], &[1, 0]);
        assert_eq!(&b[44..48], &[0, 1, 0, 0]);
        assert_eq!(&b[76..80], &[0x40, 0, 0, 0]);
        assert_eq!(&b[104..108], &[0, 0, 0, 3]);
        // tkhd v0 is 92 bytes: flags 3 at 9..12, track_ID at 20, duration at 28, width at 84.
        let mut w = Writer::new();
        Tkhd {
            version: 0,
            flags: 3,
            creation: 0,
            modification: 0,
            track_id: 1,
            duration: 2000,
            layer: 0,
            alternate_group: 0,
            volume: 0,
            matrix: MATRIX,
            width: 320 << 16,
            height: 240 << 16,
        }
        .write(&mut w);
        let b = &w.buf;
        assert_eq!(b.len(), 92);
        assert_eq!(&b[9..12], &[0, 0, 3]);
        assert_eq!(&b[20..24], &[0, 0, 0, 1]);
        assert_eq!(&b[28..32], &2000u32.to_be_bytes());
        assert_eq!(&b[84..88], &[1, 0x40, 0, 0]);
        assert_eq!(&b[88..92], &[0, 0xF0, 0, 0]);
    }

    #[test]
    fn esds_reads_one_to_four_byte_lengths() {
        // Hand-built esds with 1-byte descriptor lengths: ES(3) > DCD(4, OTI 0x40) > DSI(5).
        let dsi = [0x12, 0x10];
        let dcd: Vec<u8> = [
            &[0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
            &[5, 2],
            &dsi,
        ]
        .concat();
        let es: Vec<u8> = [&[0, 1, 0][..], &[4, dcd.len() as u8], &dcd].concat();
        let body: Vec<u8> = [&[0, 0, 0, 0][..], &[3, es.len() as u8], &es].concat();
        let e = Esds::parse(&mut Cursor::from_slice(&body, 0, FORMAT)).unwrap();
        assert_eq!((e.object_type, &e.dsi[..]), (0x40, &dsi[..]));
    }
}
