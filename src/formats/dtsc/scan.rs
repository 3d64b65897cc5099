//! Opening a DTSC input in whichever layout it has, and reading its units in order. The
//! demuxer and the analyser both stand on this.

use std::path::Path;

use bytes::Bytes;

use crate::dtsc::wire::{self, unit, Header, Unit, WirePacket, FORMAT, MAX_UNIT};
use crate::dtsc::{Meta, TrackId};
use crate::formats::error::{FormatError, Problem};
use crate::formats::Finding;
use crate::io::{ChunkReader, Cursor, Source};

/// How many packets at the start decide how packet track ids map to header tracks.
const MAPPING_SAMPLE: usize = 256;
/// How far into the data the mapping sample may look.
const MAPPING_WINDOW: usize = 4 << 20;

/// How packet track ids name header tracks (dtsc-format.md §1.3 "Which track id").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdMapping {
    /// Packet id = position in the header (what MistServer plays from files).
    Position,
    /// Packet id = the header's `trackid` (the `dtsc://` wire, DTSC output recordings).
    TrackId,
}

/// A DTSC input, opened: where its metadata came from and a reader positioned at its data.
pub struct Scanner {
    reader: ChunkReader<Source>,
    /// Metadata as the model sees it (tracks with ids = header `trackid`).
    pub meta: Meta,
    /// The header the metadata came from.
    pub header: Header,
    /// The header found at the start of the data file, if any.
    pub file_header: Option<(u64, Header)>,
    /// The side file's header, if a `.dtsh` was read.
    pub side_header: Option<Header>,
    /// How packet ids map to tracks.
    pub mapping: IdMapping,
    /// Offset where packets start.
    pub data_start: u64,
    /// Non-fatal problems found while opening or reading.
    pub findings: Vec<Finding>,
    seekable: bool,
}

/// One unit read from the data file.
pub struct Item {
    /// Offset of the unit.
    pub offset: u64,
    /// The unit.
    pub unit: Unit,
}

fn read_side_file(path: &Path) -> Option<std::io::Result<Vec<u8>>> {
    let mut p = path.as_os_str().to_owned();
    p.push(".dtsh");
    let p = std::path::PathBuf::from(p);
    if path.extension().is_some_and(|e| e == "dtsh") || !p.is_file() {
        return None;
    }
    let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
    if len > MAX_UNIT {
        return Some(Err(std::io::Error::other("side file is too large")));
    }
    Some(std::fs::read(&p))
}

/// Parses a whole `.dtsh` (or any buffer holding one header) structurally.
pub fn parse_side_header(data: Vec<u8>) -> Result<Header, FormatError> {
    let mut c = Cursor::new(Bytes::from(data), 0, FORMAT);
    let magic = c.slice(4, "magic")?;
    if magic != b"DTSC" {
        return Err(FormatError::new(
            FORMAT,
            0,
            Problem::BadValue {
                field: "side file magic",
                value: u64::from(u32::from_be_bytes([magic[0], magic[1], magic[2], magic[3]])),
            },
        ));
    }
    let declared = u64::from(c.u32("header length")?);
    Header::parse_object(&mut c, 0, declared)
}

impl Scanner {
    /// Opens `src`: reads a `.dtsh` beside it if there is one, the header chain at its start,
    /// and decides how packet ids map to tracks.
    pub fn open(src: Source) -> Result<Scanner, FormatError> {
        let mut findings = Vec::new();
        let side_header = match src.path().and_then(read_side_file) {
            None => None,
            Some(Err(e)) => {
                findings.push(Finding::warning(
                    0,
                    format!("cannot read .dtsh side file: {e}"),
                ));
                None
            }
            Some(Ok(data)) => {
                let file_len = data.len() as u64;
                match parse_side_header(data) {
                    Ok(h) => {
                        if h.declared_len + 8 != file_len || h.encoded_len != file_len {
                            findings.push(Finding::warning(
                                4,
                                format!(
                                    ".dtsh length field says {} bytes but the header object takes {} of the file's {} (MistServer ignores it; so do we)",
                                    h.declared_len,
                                    h.encoded_len.saturating_sub(8),
                                    file_len
                                ),
                            ));
                        }
                        Some(h)
                    }
                    Err(e) => {
                        findings.push(Finding::warning(
                            e.offset,
                            format!(".dtsh side file ignored: {e}"),
                        ));
                        None
                    }
                }
            }
        };
        let seekable = src.is_seekable();
        let mut reader = ChunkReader::new(src, 0);
        let mut file_header: Option<(u64, Header)> = None;
        // Leading units: commands (wire captures) and the header (chain).
        loop {
            let at = reader.offset();
            reader.fill(8).map_err(|e| FormatError::io(FORMAT, at, e))?;
            let Some((magic, size)) = unit::frame(reader.buffered(), at)? else {
                break;
            };
            if magic == unit::Magic::Packet || magic == unit::Magic::LegacyPacket {
                break;
            }
            let bytes = take_unit(&mut reader, size)?;
            match unit::parse(magic, bytes, at)? {
                Unit::Header(h) => {
                    if file_header.is_none() {
                        file_header = Some((at, *h));
                    }
                }
                Unit::Command(_) | Unit::Packet(_) => {}
            }
        }
        let data_start = reader.offset();

        // A header whose `moreheader` points further is superseded by the last of the chain.
        let mut chain_last: Option<Header> = None;
        if let Some((_, h)) = &file_header {
            let mut next = h.more_header;
            let mut hops = 0;
            while let Some(at) = next {
                hops += 1;
                if hops > 16 || !seekable {
                    break;
                }
                let h2 = read_header_at(&mut reader, at)?;
                next = h2.more_header.filter(|n| *n != at);
                chain_last = Some(h2);
            }
            if chain_last.is_some() {
                reader
                    .seek_to(data_start)
                    .map_err(|e| FormatError::io(FORMAT, data_start, e))?;
            }
        }

        let in_file = chain_last.or_else(|| file_header.as_ref().map(|(_, h)| h.clone()));
        let header = match (&side_header, &in_file) {
            (Some(s), Some(f)) => {
                let side_has_index = s.tracks.iter().all(|t| t.index.is_some());
                let file_has_index = f.tracks.iter().all(|t| t.index.is_some());
                if !side_has_index && file_has_index || s.tracks.is_empty() {
                    f.clone()
                } else {
                    s.clone()
                }
            }
            (Some(s), None) => s.clone(),
            (None, Some(f)) => f.clone(),
            (None, None) => {
                return Err(FormatError::invalid(
                    FORMAT,
                    0,
                    "no DTSC header in the file and no .dtsh side file: the tracks are unknown",
                ))
            }
        };
        for t in &header.tracks {
            if let Some(p) = &t.index_problem {
                findings.push(Finding::warning(0, format!("track {}: {p}", t.trackid)));
            }
        }
        let meta = header.to_meta();
        let mut s = Scanner {
            reader,
            meta,
            header,
            file_header,
            side_header,
            mapping: IdMapping::Position,
            data_start,
            findings,
            seekable,
        };
        s.mapping = s.decide_mapping()?;
        Ok(s)
    }

    fn decide_mapping(&mut self) -> Result<IdMapping, FormatError> {
        let at = self.reader.offset();
        self.reader
            .fill(MAPPING_WINDOW)
            .map_err(|e| FormatError::io(FORMAT, at, e))?;
        let buf = self.reader.buffered();
        let mut pos = 0usize;
        let mut ids = Vec::new();
        while ids.len() < MAPPING_SAMPLE {
            let Some(rest) = buf.get(pos..) else { break };
            let Ok(Some((magic, size))) = unit::frame(rest, at + pos as u64) else {
                break;
            };
            if magic == unit::Magic::Packet && rest.len() >= 12 {
                ids.push(u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]));
            }
            pos = match pos.checked_add(size as usize) {
                Some(p) => p,
                None => break,
            };
        }
        let n = self.header.tracks.len() as u32;
        let by_pos = ids.iter().all(|i| *i < n);
        let by_id = ids
            .iter()
            .all(|i| self.header.tracks.iter().any(|t| t.trackid == *i));
        Ok(if by_id || !by_pos {
            IdMapping::TrackId
        } else {
            IdMapping::Position
        })
    }

    /// The model track id of a packet's wire id, if it names a header track.
    pub fn track_of(&self, wire_id: u32) -> Option<TrackId> {
        match self.mapping {
            IdMapping::TrackId => self
                .header
                .tracks
                .iter()
                .find(|t| t.trackid == wire_id)
                .map(|t| TrackId(t.trackid)),
            IdMapping::Position => self
                .header
                .tracks
                .get(wire_id as usize)
                .map(|t| TrackId(t.trackid)),
        }
        .or_else(|| {
            // Mixed files: fall back to the other rule before giving up.
            let by_id = self.header.tracks.iter().find(|t| t.trackid == wire_id);
            let by_pos = self.header.tracks.get(wire_id as usize);
            match self.mapping {
                IdMapping::Position => by_id,
                IdMapping::TrackId => by_pos,
            }
            .map(|t| TrackId(t.trackid))
        })
    }

    /// The next unit, or `None` at the end of the input.
    pub fn next_item(&mut self) -> Result<Option<Item>, FormatError> {
        let at = self.reader.offset();
        let have = self
            .reader
            .fill(8)
            .map_err(|e| FormatError::io(FORMAT, at, e))?;
        if have == 0 {
            return Ok(None);
        }
        let Some((magic, size)) = unit::frame(self.reader.buffered(), at)? else {
            return Err(FormatError::new(
                FORMAT,
                at,
                Problem::Truncated {
                    what: "unit prefix",
                    need: 8 - have as u64,
                },
            ));
        };
        let bytes = take_unit(&mut self.reader, size)?;
        let unit = unit::parse(magic, bytes, at)?;
        Ok(Some(Item { offset: at, unit }))
    }

    /// Offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.reader.offset()
    }

    /// Continues reading at absolute offset `to` (which must be a unit boundary).
    pub fn seek_to(&mut self, to: u64) -> Result<(), FormatError> {
        if !self.seekable {
            return Err(FormatError::new(
                FORMAT,
                to,
                Problem::Unsupported("seeking in a stream read from stdin".into()),
            ));
        }
        self.reader
            .seek_to(to)
            .map_err(|e| FormatError::io(FORMAT, to, e))
    }

    /// True when the input can seek.
    pub fn is_seekable(&self) -> bool {
        self.seekable
    }
}

/// Takes one whole unit of `size` bytes from the reader, or reports how much is missing.
fn take_unit(reader: &mut ChunkReader<Source>, size: u64) -> Result<Bytes, FormatError> {
    let at = reader.offset();
    let have = reader
        .fill(size as usize)
        .map_err(|e| FormatError::io(FORMAT, at, e))?;
    if (have as u64) < size {
        return Err(FormatError::new(
            FORMAT,
            at,
            Problem::Truncated {
                what: "unit",
                need: size - have as u64,
            },
        ));
    }
    Ok(reader.take(size as usize))
}

fn read_header_at(reader: &mut ChunkReader<Source>, at: u64) -> Result<Header, FormatError> {
    reader
        .seek_to(at)
        .map_err(|e| FormatError::io(FORMAT, at, e))?;
    reader.fill(8).map_err(|e| FormatError::io(FORMAT, at, e))?;
    match unit::frame(reader.buffered(), at)? {
        Some((unit::Magic::Header, size)) => {
            let bytes = take_unit(reader, size)?;
            Header::parse(bytes, at)
        }
        _ => Err(FormatError::invalid(
            FORMAT,
            at,
            "moreheader does not point at a DTSC header",
        )),
    }
}

/// The model packet of a wire packet (track already mapped).
pub fn to_packet(track: TrackId, p: WirePacket, offset: u64) -> crate::dtsc::Packet {
    crate::dtsc::Packet {
        track,
        dts: crate::dtsc::Ticks(p.time.min(i64::MAX as u64) as i64),
        cts: p.offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        keyframe: p.keyframe,
        data: p.data,
        pos: Some(offset),
    }
}

/// Re-exported so the analyser can name the wire module through the scanner.
pub use wire::Value;
