//! `stsd` (§8.5.2) and its sample entries: visual (`avc1`/`avc3` + `avcC`, `hvc1`/`hev1` +
//! `hvcC` kept opaque), audio (`mp4a` + `esds`, `.mp3`), `btrt` (§8.5.2.2) and the MPEG-4
//! descriptors inside `esds` (14496-1 §7.2.6; lengths of 1–4 bytes with a continuation bit).

use bytes::Bytes;

use super::{check_count, full_header, next_child, FourCC, Writer};
use crate::formats::error::Problem;
use crate::formats::FormatError;
use crate::io::Cursor;

/// Entries one `stsd` may list.
pub const MAX_ENTRIES: u64 = 64;

/// Bit rates of a sample entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Btrt {
    /// Decoding buffer size in bytes.
    pub buffer_size: u32,
    /// Peak bits per second over any one-second window.
    pub max_bitrate: u32,
    /// Average bits per second.
    pub avg_bitrate: u32,
}

impl Btrt {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Btrt, FormatError> {
        Ok(Btrt {
            buffer_size: c.u32("bufferSizeDB")?,
            max_bitrate: c.u32("maxBitrate")?,
            avg_bitrate: c.u32("avgBitrate")?,
        })
    }
    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin(b"btrt");
        w.u32(self.buffer_size);
        w.u32(self.max_bitrate);
        w.u32(self.avg_bitrate);
        w.end();
    }
}

/// The MPEG-4 elementary stream descriptor of `mp4a` (and friends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Esds {
    /// ES_ID.
    pub es_id: u16,
    /// objectTypeIndication: 0x40 MPEG-4 audio (AAC), 0x66–0x68 MPEG-2 AAC, 0x69/0x6B MP3.
    pub object_type: u8,
    /// streamType (5 = audio).
    pub stream_type: u8,
    /// bufferSizeDB.
    pub buffer_size: u32,
    /// maxBitrate.
    pub max_bitrate: u32,
    /// avgBitrate.
    pub avg_bitrate: u32,
    /// DecoderSpecificInfo (the AudioSpecificConfig for AAC), empty when absent.
    pub dsi: Bytes,
}

/// Descriptors nest at most this deep inside `esds`.
const MAX_DESCRIPTOR_DEPTH: usize = 4;

fn descriptor(c: &mut Cursor) -> Result<(u8, Cursor), FormatError> {
    let tag = c.u8("descriptor tag")?;
    let mut len: u32 = 0;
    for i in 0..4 {
        let b = c.u8("descriptor length")?;
        len = len << 7 | u32::from(b & 0x7F);
        if b & 0x80 == 0 {
            break;
        }
        if i == 3 {
            return Err(c.bad_value("descriptor length", u64::from(b), 1));
        }
    }
    let body = c.sub(len as usize, "descriptor")?;
    Ok((tag, body))
}

fn write_descriptor(w: &mut Writer, tag: u8, body: &[u8]) {
    w.u8(tag);
    // Always four length bytes, as many writers do: sizes stay fixed when bodies change.
    let n = body.len() as u32;
    w.u8(0x80 | (n >> 21 & 0x7F) as u8);
    w.u8(0x80 | (n >> 14 & 0x7F) as u8);
    w.u8(0x80 | (n >> 7 & 0x7F) as u8);
    w.u8((n & 0x7F) as u8);
    w.bytes(body);
}

impl Esds {
    /// An `esds` for AAC with this AudioSpecificConfig.
    pub fn aac(asc: Bytes, avg_bitrate: u32, max_bitrate: u32) -> Esds {
        Esds {
            es_id: 0,
            object_type: 0x40,
            stream_type: 5,
            buffer_size: 0,
            max_bitrate,
            avg_bitrate,
            dsi: asc,
        }
    }

    /// Parses the `esds` payload (version/flags first).
    pub fn parse(c: &mut Cursor) -> Result<Esds, FormatError> {
        full_header(c)?;
        let mut out = Esds {
            es_id: 0,
            object_type: 0,
            stream_type: 0,
            buffer_size: 0,
            max_bitrate: 0,
            avg_bitrate: 0,
            dsi: Bytes::new(),
        };
        let (tag, mut es) = descriptor(c)?;
        if tag != 3 {
            return Err(c.bad_value("ES_Descriptor tag", u64::from(tag), 1));
        }
        out.es_id = es.u16("ES_ID")?;
        let flags = es.u8("ES flags")?;
        if flags & 0x80 != 0 {
            es.skip(2, "dependsOn_ES_ID")?;
        }
        if flags & 0x40 != 0 {
            let n = es.u8("URLlength")?;
            es.skip(usize::from(n), "URLstring")?;
        }
        if flags & 0x20 != 0 {
            es.skip(2, "OCR_ES_Id")?;
        }
        let mut depth = 0;
        while !es.is_empty() && depth < MAX_DESCRIPTOR_DEPTH {
            depth += 1;
            let (tag, mut d) = descriptor(&mut es)?;
            if tag != 4 {
                continue;
            }
            out.object_type = d.u8("objectTypeIndication")?;
            out.stream_type = d.u8("streamType")? >> 2;
            out.buffer_size = d.u24("bufferSizeDB")?;
            out.max_bitrate = d.u32("maxBitrate")?;
            out.avg_bitrate = d.u32("avgBitrate")?;
            while !d.is_empty() {
                let (tag, mut dsi) = descriptor(&mut d)?;
                if tag == 5 {
                    out.dsi = dsi.rest();
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        let mut dcd = Writer::new();
        dcd.u8(self.object_type);
        dcd.u8(self.stream_type << 2 | 1);
        dcd.u24(self.buffer_size);
        dcd.u32(self.max_bitrate);
        dcd.u32(self.avg_bitrate);
        if !self.dsi.is_empty() {
            write_descriptor(&mut dcd, 5, &self.dsi);
        }
        let mut es = Writer::new();
        es.u16(self.es_id);
        es.u8(0);
        write_descriptor(&mut es, 4, &dcd.buf);
        write_descriptor(&mut es, 6, &[2]);
        w.begin_full(b"esds", 0, 0);
        write_descriptor(w, 3, &es.buf);
        w.end();
    }
}

/// A video sample entry (§12.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visual {
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
    /// The decoder configuration box (`avcC`, `hvcC`) and its payload.
    pub config: Option<(FourCC, Bytes)>,
    /// Bit rates, when given.
    pub btrt: Option<Btrt>,
}

/// An audio sample entry (§12.2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audio {
    /// Channel count.
    pub channels: u16,
    /// Bits per sample.
    pub sample_size: u16,
    /// Sample rate in Hz (the integer part of the 16.16 field; 0 when it does not fit).
    pub rate: u32,
    /// The `esds` (found directly or inside a QuickTime `wave`).
    pub esds: Option<Esds>,
    /// Bit rates, when given.
    pub btrt: Option<Btrt>,
}

/// What a sample entry describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Video.
    Visual(Visual),
    /// Audio.
    Audio(Audio),
    /// Anything else, kept as its payload after the 8 common bytes.
    Other(Bytes),
}

/// One sample description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleEntry {
    /// The coding name (`avc1`, `mp4a` ...).
    pub format: FourCC,
    /// data_reference_index.
    pub data_ref: u16,
    /// The fields of its kind.
    pub kind: EntryKind,
}

fn is_visual(f: &FourCC) -> bool {
    matches!(
        f,
        b"avc1" | b"avc3" | b"hvc1" | b"hev1" | b"av01" | b"vp08" | b"vp09" | b"mp4v" | b"encv"
    )
}

fn is_audio(f: &FourCC) -> bool {
    matches!(
        f,
        b"mp4a" | b".mp3" | b"ms\0U" | b"ac-3" | b"ec-3" | b"Opus" | b"fLaC" | b"enca"
    )
}

impl SampleEntry {
    fn parse(format: FourCC, c: &mut Cursor) -> Result<SampleEntry, FormatError> {
        c.skip(6, "reserved")?;
        let data_ref = c.u16("data_reference_index")?;
        let kind = if is_visual(&format) {
            c.skip(16, "pre_defined")?;
            let width = c.u16("width")?;
            let height = c.u16("height")?;
            c.skip(50, "visual sample entry fields")?;
            let mut v = Visual {
                width,
                height,
                config: None,
                btrt: None,
            };
            while c.remaining() >= 8 {
                let Some((h, mut body)) = next_child(c)? else {
                    break;
                };
                match &h.kind {
                    b"avcC" | b"hvcC" | b"av1C" | b"vpcC" if v.config.is_none() => {
                        v.config = Some((h.kind, body.rest()))
                    }
                    b"btrt" => v.btrt = Some(Btrt::parse(&mut body)?),
                    _ => {}
                }
            }
            EntryKind::Visual(v)
        } else if is_audio(&format) {
            let qt_version = c.u16("version")?;
            c.skip(6, "reserved")?;
            let channels = c.u16("channelcount")?;
            let sample_size = c.u16("samplesize")?;
            c.skip(4, "pre_defined")?;
            let rate = c.u32("samplerate")? >> 16;
            match qt_version {
                1 => c.skip(16, "QuickTime v1 fields")?,
                2 => c.skip(36, "QuickTime v2 fields")?,
                _ => {}
            }
            let mut a = Audio {
                channels,
                sample_size,
                rate,
                esds: None,
                btrt: None,
            };
            find_esds(c, &mut a, 0)?;
            EntryKind::Audio(a)
        } else {
            EntryKind::Other(c.rest())
        };
        Ok(SampleEntry {
            format,
            data_ref,
            kind,
        })
    }

    /// Writes the entry box.
    pub fn write(&self, w: &mut Writer) {
        w.begin(&self.format);
        w.zeros(6);
        w.u16(self.data_ref);
        match &self.kind {
            EntryKind::Visual(v) => {
                w.zeros(16);
                w.u16(v.width);
                w.u16(v.height);
                w.u32(0x0048_0000);
                w.u32(0x0048_0000);
                w.u32(0);
                w.u16(1);
                w.zeros(32);
                w.u16(0x18);
                w.u16(0xFFFF);
                if let Some((kind, body)) = &v.config {
                    w.begin(kind);
                    w.bytes(body);
                    w.end();
                }
                if let Some(b) = &v.btrt {
                    b.write(w);
                }
            }
            EntryKind::Audio(a) => {
                w.zeros(8);
                w.u16(a.channels);
                w.u16(a.sample_size);
                w.u32(0);
                w.u32(if a.rate <= 0xFFFF { a.rate << 16 } else { 0 });
                if let Some(e) = &a.esds {
                    e.write(w);
                }
                if let Some(b) = &a.btrt {
                    b.write(w);
                }
            }
            EntryKind::Other(b) => w.bytes(b),
        }
        w.end();
    }
}

fn find_esds(c: &mut Cursor, a: &mut Audio, depth: usize) -> Result<(), FormatError> {
    while c.remaining() >= 8 {
        let Some((h, mut body)) = next_child(c)? else {
            break;
        };
        match &h.kind {
            b"esds" if a.esds.is_none() => a.esds = Some(Esds::parse(&mut body)?),
            b"btrt" => a.btrt = Some(Btrt::parse(&mut body)?),
            // QuickTime puts esds inside `wave`.
            b"wave" if depth < 2 => find_esds(&mut body, a, depth + 1)?,
            _ => {}
        }
    }
    Ok(())
}

/// The sample descriptions of a track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stsd {
    /// The entries (samples name theirs by 1-based index in `stsc`).
    pub entries: Vec<SampleEntry>,
}

impl Stsd {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Stsd, FormatError> {
        full_header(c)?;
        let n = c.u32("entry_count")?;
        if u64::from(n) > MAX_ENTRIES {
            return Err(c.error(Problem::Limit {
                what: "stsd entries",
                limit: MAX_ENTRIES,
            }));
        }
        let n = check_count(c, u64::from(n), 8, "stsd entries")?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let Some((h, mut body)) = next_child(c)? else {
                break;
            };
            entries.push(SampleEntry::parse(h.kind, &mut body)?);
        }
        Ok(Stsd { entries })
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"stsd", 0, 0);
        w.u32(self.entries.len() as u32);
        for e in &self.entries {
            e.write(w);
        }
        w.end();
    }
}
