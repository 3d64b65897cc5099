//! `mdhd` (media header, §8.4.2), `hdlr` (§8.4.3), `vmhd`/`smhd` (§12.1.2, §12.2.2) and
//! `dinf`/`dref` (§8.7.1–2, written as the one self-reference every file uses).

use super::{full_header, read_times, write_times, FourCC, Writer};
use crate::formats::FormatError;
use crate::io::Cursor;

/// Media header: the track's clock and language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mdhd {
    /// 0 or 1 (64-bit times).
    pub version: u8,
    /// Seconds since 1904.
    pub creation: u64,
    /// Seconds since 1904.
    pub modification: u64,
    /// Ticks per second of the track's sample times.
    pub timescale: u32,
    /// Duration in track ticks.
    pub duration: u64,
    /// ISO 639-2/T code packed as three 5-bit letters minus 0x60.
    pub language: u16,
}

/// Packs `eng` as `mdhd` stores it (`und` for anything that is not three lowercase letters).
pub fn pack_language(lang: Option<&str>) -> u16 {
    let l = lang.unwrap_or("und").as_bytes();
    if l.len() != 3 || !l.iter().all(u8::is_ascii_lowercase) {
        return pack_language(Some("und"));
    }
    (u16::from(l[0] - 0x60) << 10) | (u16::from(l[1] - 0x60) << 5) | u16::from(l[2] - 0x60)
}

/// Unpacks a language; `None` for `und` or invalid codes.
pub fn unpack_language(v: u16) -> Option<String> {
    let s: Vec<u8> = [(v >> 10) & 31, (v >> 5) & 31, v & 31]
        .iter()
        .map(|&x| x as u8 + 0x60)
        .collect();
    if s.iter().all(u8::is_ascii_lowercase) && s != b"und" {
        String::from_utf8(s).ok()
    } else {
        None
    }
}

impl Mdhd {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Mdhd, FormatError> {
        let (version, _) = full_header(c)?;
        let (creation, modification, timescale, duration) = read_times(c, version)?;
        let language = c.u16("language")? & 0x7FFF;
        c.skip(2, "pre_defined")?;
        Ok(Mdhd {
            version,
            creation,
            modification,
            timescale,
            duration,
            language,
        })
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"mdhd", self.version, 0);
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
        w.u16(self.language);
        w.u16(0);
        w.end();
    }
}

/// Handler reference: what kind of media the track holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hdlr {
    /// `vide`, `soun`, `meta`, `text`, `subt` ...
    pub handler: FourCC,
    /// Human-readable name (NUL-terminated in the file).
    pub name: String,
}

impl Hdlr {
    /// Parses the payload.
    pub fn parse(c: &mut Cursor) -> Result<Hdlr, FormatError> {
        full_header(c)?;
        c.skip(4, "pre_defined")?;
        let mut handler = [0u8; 4];
        handler.copy_from_slice(c.slice(4, "handler_type")?);
        c.skip(12, "reserved")?;
        let rest = c.rest();
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        Ok(Hdlr {
            handler,
            name: String::from_utf8_lossy(&rest[..end]).into_owned(),
        })
    }

    /// Writes the box.
    pub fn write(&self, w: &mut Writer) {
        w.begin_full(b"hdlr", 0, 0);
        w.u32(0);
        w.bytes(&self.handler);
        w.zeros(12);
        w.bytes(self.name.as_bytes());
        w.u8(0);
        w.end();
    }
}

/// Writes `vmhd` (video media header; flags 1 as the spec requires).
pub fn write_vmhd(w: &mut Writer) {
    w.begin_full(b"vmhd", 0, 1);
    w.zeros(8);
    w.end();
}

/// Writes `smhd` (sound media header, balance 0).
pub fn write_smhd(w: &mut Writer) {
    w.begin_full(b"smhd", 0, 0);
    w.zeros(4);
    w.end();
}

/// Writes `nmhd` (null media header, for tracks that are neither video nor audio).
pub fn write_nmhd(w: &mut Writer) {
    w.begin_full(b"nmhd", 0, 0);
    w.end();
}

/// Writes `dinf` with a `dref` holding one self-contained `url ` entry.
pub fn write_dinf(w: &mut Writer) {
    w.begin(b"dinf");
    w.begin_full(b"dref", 0, 0);
    w.u32(1);
    w.begin_full(b"url ", 0, 1);
    w.end();
    w.end();
    w.end();
}
