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

/// Whether opening keeps the stored index in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexPolicy {
    /// Keep it (analysis compares it with the packets).
    Load,
    /// Remember only where it is; [`Scanner::load_stored_index`] reads it when asked.
    /// A plain copy never needs it, and it grows with the file (9 bytes per packet).
    Defer,
}

/// Where a usable stored index lives.
#[derive(Clone, Debug)]
enum Stored {
    SideFile(std::path::PathBuf),
    InFile(u64),
}

/// A DTSC input, opened: where its metadata came from and a reader positioned at its data.
pub struct Scanner {
    stored: Option<Stored>,
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

fn side_path(path: &Path) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".dtsh");
    std::path::PathBuf::from(p)
}

/// Strings longer than this stay on disk when a side file is read without its index.
const SPARSE_INLINE_MAX: usize = 64 << 10;

/// Reads a side file's header without loading its index tables (they may be tens of MB).
fn read_side_header_sparse(path: &Path) -> Result<(Header, u64), FormatError> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| FormatError::io(FORMAT, 0, e))?;
    let file_len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = std::io::BufReader::with_capacity(64 << 10, f);
    let mut prefix = [0u8; 8];
    r.read_exact(&mut prefix).map_err(|_| {
        FormatError::new(
            FORMAT,
            0,
            Problem::Truncated {
                what: "side file header",
                need: 8,
            },
        )
    })?;
    if &prefix[..4] != b"DTSC" {
        return Err(FormatError::new(
            FORMAT,
            0,
            Problem::BadValue {
                field: "side file magic",
                value: u64::from(u32::from_be_bytes([
                    prefix[0], prefix[1], prefix[2], prefix[3],
                ])),
            },
        ));
    }
    let declared = u64::from(u32::from_be_bytes([
        prefix[4], prefix[5], prefix[6], prefix[7],
    ]));
    let mut offset = 8;
    let value = wire::value::parse_sparse(&mut r, &mut offset, SPARSE_INLINE_MAX)?;
    let h = Header::from_value(value, 8, declared, offset, false)?;
    Ok((h, file_len))
}

fn read_side_file(path: &Path) -> Option<std::io::Result<Vec<u8>>> {
    let p = side_path(path);
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
    parse_side_header_with(data, true)
}

/// As [`parse_side_header`], decoding the index tables only when asked.
fn parse_side_header_with(data: Vec<u8>, decode_index: bool) -> Result<Header, FormatError> {
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
    Header::parse_object_with(&mut c, 0, declared, decode_index)
}

impl Scanner {
    /// Opens `src`: reads a `.dtsh` beside it if there is one, the header chain at its start,
    /// and decides how packet ids map to tracks.
    pub fn open(src: Source, policy: IndexPolicy) -> Result<Scanner, FormatError> {
        let mut findings = Vec::new();
        let side = src.path().map(side_path);
        let side_read = match (policy, src.path()) {
            (_, None) => None,
            (_, Some(p))
                if p.extension().is_some_and(|e| e == "dtsh") || !side_path(p).is_file() =>
            {
                None
            }
            (IndexPolicy::Defer, Some(p)) => Some(read_side_header_sparse(&side_path(p))),
            (IndexPolicy::Load, Some(p)) => read_side_file(p).map(|r| {
                let data = r.map_err(|e| FormatError::io(FORMAT, 0, e))?;
                let len = data.len() as u64;
                parse_side_header(data).map(|h| (h, len))
            }),
        };
        let side_header = match side_read {
            None => None,
            Some(Err(e)) => {
                findings.push(Finding::warning(
                    e.offset,
                    format!(".dtsh side file ignored: {e}"),
                ));
                None
            }
            Some(Ok((h, file_len))) => {
                if h.declared_len + 8 != file_len || h.encoded_len != file_len {
                    // MistServer's own files have it: a note, not a warning every convert shows.
                    findings.push(Finding::info(
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
        let mut chain_last: Option<(u64, Header)> = None;
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
                chain_last = Some((at, h2));
            }
            if chain_last.is_some() {
                reader
                    .seek_to(data_start)
                    .map_err(|e| FormatError::io(FORMAT, data_start, e))?;
            }
        }

        let in_file = chain_last.or_else(|| file_header.clone());
        let has_index = |h: &Header| {
            !h.tracks.is_empty()
                && h.tracks.iter().all(|t| match policy {
                    IndexPolicy::Load => t.index.is_some(),
                    IndexPolicy::Defer => t.has_tables,
                })
        };
        let (header, from_side) = match (&side_header, &in_file) {
            (Some(s), Some((_, f))) => {
                if !has_index(s) && has_index(f) || s.tracks.is_empty() {
                    (f.clone(), false)
                } else {
                    (s.clone(), true)
                }
            }
            (Some(s), None) => (s.clone(), true),
            (None, Some((_, f))) => (f.clone(), false),
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
        let stored = match (has_index(&header), from_side, &side, &in_file) {
            (false, ..) => None,
            (true, true, Some(p), _) => Some(Stored::SideFile(p.clone())),
            (true, false, _, Some((at, _))) => Some(Stored::InFile(*at)),
            _ => None,
        };
        let mut header = header;
        let mut file_header = file_header;
        let mut side_header = side_header;
        let mut meta = header.to_meta();
        if policy == IndexPolicy::Defer {
            meta.index = None;
            for h in [
                Some(&mut header),
                side_header.as_mut(),
                file_header.as_mut().map(|(_, h)| h),
            ]
            .into_iter()
            .flatten()
            {
                h.value = Value::Null;
                for t in &mut h.tracks {
                    t.index = None;
                }
            }
        }
        let mut s = Scanner {
            stored,
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

    /// True when the input carries a usable index (in a side file or a header).
    pub fn has_stored_index(&self) -> bool {
        self.stored.is_some()
    }

    /// Reads the stored index that [`IndexPolicy::Defer`] left on disk, if the input has a
    /// usable one; the read position is kept.
    pub fn load_stored_index(&mut self) -> Result<Option<crate::dtsc::Index>, FormatError> {
        let header = match self.stored.clone() {
            None => return Ok(None),
            Some(Stored::SideFile(p)) => {
                let data = std::fs::read(&p).map_err(|e| FormatError::io(FORMAT, 0, e))?;
                parse_side_header(data)?
            }
            Some(Stored::InFile(at)) => {
                let resume = self.reader.offset();
                let h = read_header_at(&mut self.reader, at)?;
                self.seek_to(resume)?;
                h
            }
        };
        let meta = header.to_meta();
        // The stored index must describe the same tracks, in the same order.
        if meta
            .tracks
            .iter()
            .map(|t| t.id)
            .ne(self.meta.tracks.iter().map(|t| t.id))
        {
            return Ok(None);
        }
        Ok(meta.index)
    }

    /// True when track `id` is a video track.
    pub fn is_video(&self, id: TrackId) -> bool {
        self.meta
            .track(id)
            .is_some_and(|t| t.kind == crate::dtsc::TrackKind::Video)
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
        let (magic, size) = match unit::frame(self.reader.buffered(), at) {
            Ok(Some(f)) => f,
            Ok(None) => {
                return Err(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Truncated {
                        what: "unit prefix",
                        need: 8 - have as u64,
                    },
                ))
            }
            // Not a unit here: damage in the middle of the file. Skip to the next unit,
            // as MistServer's reader looks for the next `DT` boundary.
            Err(e) => {
                self.resync(at, e)?;
                return self.next_item();
            }
        };
        let bytes = take_unit(&mut self.reader, size)?;
        let unit = unit::parse(magic, bytes, at)?;
        Ok(Some(Item { offset: at, unit }))
    }

    /// Skips from `at` (where `why` says no unit starts) to the next offset where a packet
    /// unit starts whose track is one of the header's, and notes the skipped stretch as one
    /// finding. Fails with `why` when none comes within [`RESYNC_LIMIT`] bytes.
    fn resync(&mut self, at: u64, why: FormatError) -> Result<(), FormatError> {
        let mut from = 1usize;
        loop {
            let have = self
                .reader
                .fill((from + RESYNC_STEP).min(RESYNC_LIMIT))
                .map_err(|e| FormatError::io(FORMAT, at, e))?;
            let buf = self.reader.buffered();
            let found = (from..have.saturating_sub(11)).find(|&p| {
                let b = &buf[p..];
                matches!(unit::frame(b, at + p as u64), Ok(Some((unit::Magic::Packet, n))) if n >= 20)
                    && self
                        .track_of(u32::from_be_bytes([b[8], b[9], b[10], b[11]]))
                        .is_some()
            });
            if let Some(p) = found {
                let _ = self.reader.take(p);
                self.findings.push(Finding::error(
                    at,
                    format!(
                        "not a DTSC unit ({}): {p} bytes skipped to the next packet at byte {}",
                        why.problem,
                        at + p as u64
                    ),
                ));
                return Ok(());
            }
            if have >= RESYNC_LIMIT || have < from + RESYNC_STEP {
                return Err(why);
            }
            from = have.saturating_sub(11).max(1);
        }
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

/// How far past a broken unit the reader looks for the next packet.
pub const RESYNC_LIMIT: usize = 16 << 20;
/// Bytes read at a time while looking.
const RESYNC_STEP: usize = 1 << 20;

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

/// The model packet of a wire packet (track already mapped). The `keyframe` member is kept as
/// the file has it: on video it marks keyframes; on other tracks (every packet of which is a
/// random access point) it is MistServer's own key mark, which DTSC tracks keep
/// (`Track::marked_keys`) so a DTSC → DTSC copy writes it back.
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
