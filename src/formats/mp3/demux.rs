//! The MP3 file demuxer: frames as packets (times = sample counts at the sample rate),
//! tags and the Xing/Info frame skipped, garbage and a truncated last frame reported as
//! findings; an index built by one scan of frame headers, and seeking by it.

use bytes::Bytes;

use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::{Index, Meta, Packet, Ticks, Time};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{Demuxer as DemuxerTrait, Finding};
use crate::io::{ChunkReader, Source};

use super::reader::{finding_for, track_of, GarbageRun, Scanner, Step, Unit, TRACK_ID};

/// Garbage allowed before the first frame before the input is declared not MP3.
pub const MAX_LEADING_GARBAGE: u64 = 1 << 20;
/// ID3v2 tags up to this size are kept in memory for `analyse`; bigger ones are skipped.
pub const MAX_TAG_KEEP: u64 = 1 << 20;

/// One unit met while walking the file.
#[derive(Clone, Debug)]
pub struct Item {
    /// Absolute offset where the unit starts.
    pub offset: u64,
    /// What it is.
    pub unit: Unit,
    /// Its bytes: the whole frame for frames, the tag for ID3 tags (when small enough).
    pub data: Option<Bytes>,
    /// A non-fatal problem with it.
    pub finding: Option<Finding>,
}

/// Walks a source unit by unit (shared by the demuxer and `analyse`).
pub struct Walker {
    chunks: ChunkReader<Source>,
    scan: Scanner,
    eof: bool,
    garbage: GarbageRun,
    frames_seen: bool,
    /// The unit after a garbage stretch, handed out after the stretch's own item.
    stash: Option<Item>,
}

impl Walker {
    /// A walker at the start of `src`.
    pub fn new(src: Source) -> Walker {
        Walker {
            chunks: ChunkReader::new(src, 0),
            scan: Scanner::new(),
            eof: false,
            garbage: GarbageRun::default(),
            frames_seen: false,
            stash: None,
        }
    }

    /// Absolute offset of the next unit.
    pub fn offset(&self) -> u64 {
        self.chunks.offset()
    }

    fn io(&self, e: std::io::Error) -> FormatError {
        FormatError::io("mp3", self.chunks.offset(), e)
    }

    /// Moves to a frame boundary found earlier (an index position).
    pub fn seek_to_frame(&mut self, pos: u64) -> Result<(), FormatError> {
        self.chunks.seek_to(pos).map_err(|e| self.io(e))?;
        self.scan = Scanner::at_frame_boundary();
        self.eof = false;
        self.garbage = GarbageRun::default();
        self.frames_seen = true;
        self.stash = None;
        Ok(())
    }

    /// Moves to the start of the input, as if new.
    pub fn rewind(&mut self) -> Result<(), FormatError> {
        self.chunks.seek_to(0).map_err(|e| self.io(e))?;
        self.scan = Scanner::new();
        self.eof = false;
        self.garbage = GarbageRun::default();
        self.frames_seen = false;
        self.stash = None;
        Ok(())
    }

    /// The next unit, or `None` at the end. Consecutive garbage comes as one item, whose
    /// finding depends on what follows it ([`GarbageRun`]).
    pub fn next_item(&mut self) -> Result<Option<Item>, FormatError> {
        if let Some(i) = self.stash.take() {
            return Ok(Some(i));
        }
        loop {
            let Some(item) = self.next_unit()? else {
                return Ok(self.end_garbage(false, None));
            };
            if let Unit::Garbage { len } = item.unit {
                self.garbage.add(item.offset, len, self.frames_seen);
                // Before any frame, a long stretch is handed out at once: the caller decides
                // the input is not MP3 without reading all of it.
                if !self.frames_seen && self.garbage.len() > MAX_LEADING_GARBAGE {
                    return Ok(self.end_garbage(false, None));
                }
                continue;
            }
            let frame = matches!(item.unit, Unit::Frame { .. } | Unit::Vbr { .. });
            if matches!(item.unit, Unit::Frame { .. }) {
                self.frames_seen = true;
            }
            if self.garbage.is_open() {
                return Ok(self.end_garbage(frame, Some(item)));
            }
            return Ok(Some(item));
        }
    }

    /// Closes an open garbage stretch: its item now, `next` after it.
    fn end_garbage(&mut self, frame_follows: bool, next: Option<Item>) -> Option<Item> {
        match self.garbage.end(frame_follows) {
            Some((offset, len, f)) => {
                self.stash = next;
                Some(Item {
                    offset,
                    unit: Unit::Garbage {
                        len: usize::try_from(len).unwrap_or(usize::MAX),
                    },
                    data: None,
                    finding: Some(f),
                })
            }
            None => next,
        }
    }

    fn next_unit(&mut self) -> Result<Option<Item>, FormatError> {
        loop {
            let step = self.scan.step(self.chunks.buffered(), self.eof);
            let unit = match step {
                Step::End => return Ok(None),
                Step::Need(n) => {
                    let got = self.chunks.fill(n).map_err(|e| self.io(e))?;
                    if got < n {
                        self.eof = true;
                    }
                    continue;
                }
                Step::Unit(u) => u,
            };
            let offset = self.chunks.offset();
            let mut finding = finding_for(&unit, offset, u64::MAX);
            let data = match &unit {
                Unit::Id3v2 { len, .. } => {
                    let len = *len;
                    if len <= MAX_TAG_KEEP {
                        let got = self.chunks.fill(len as usize).map_err(|e| self.io(e))?;
                        let tag = self.chunks.take(got.min(len as usize));
                        if (tag.len() as u64) < len {
                            finding = finding_for(&unit, offset, tag.len() as u64);
                            self.eof = true;
                        }
                        Some(tag)
                    } else {
                        let skipped = self.chunks.skip(len).map_err(|e| self.io(e))?;
                        if skipped < len {
                            finding = finding_for(&unit, offset, skipped);
                            self.eof = true;
                        }
                        None
                    }
                }
                Unit::Id3v1 => {
                    self.chunks.take(crate::codec::mp3::ID3V1_LEN as usize);
                    None
                }
                Unit::Garbage { len } => {
                    self.chunks.take(*len);
                    None
                }
                Unit::Vbr { len, .. } | Unit::Frame { len, .. } => Some(self.chunks.take(*len)),
            };
            return Ok(Some(Item {
                offset,
                unit,
                data,
                finding,
            }));
        }
    }
}

/// Reads an MP3 input.
pub struct Demuxer {
    walk: Walker,
    meta: Meta,
    samples: i64,
    /// Offset of the first audio frame (after tags and the Xing/Info frame).
    data_start: u64,
    pending: Option<Packet>,
    findings: Vec<Finding>,
}

/// Opens `src` as MP3 (the format table's `open`).
pub fn open(src: Source) -> Result<Box<dyn DemuxerTrait>, FormatError> {
    Ok(Box::new(Demuxer::open(src)?))
}

impl Demuxer {
    /// Opens `src`, reading up to the first audio frame.
    pub fn open(src: Source) -> Result<Demuxer, FormatError> {
        let mut walk = Walker::new(src);
        let mut findings = Vec::new();
        let mut garbage = 0u64;
        let mut tags: Option<bytes::Bytes> = None;
        loop {
            let Some(item) = walk.next_item()? else {
                return Err(FormatError::invalid(
                    "mp3",
                    walk.offset(),
                    "no MPEG audio frame found",
                ));
            };
            findings.extend(item.finding.clone());
            match item.unit {
                Unit::Garbage { len } => {
                    garbage += len as u64;
                    if garbage > MAX_LEADING_GARBAGE {
                        return Err(FormatError::invalid(
                            "mp3",
                            item.offset,
                            format!("no MPEG audio frame in the first {MAX_LEADING_GARBAGE} bytes"),
                        ));
                    }
                }
                Unit::Id3v2 { .. } => {
                    // The first tag, whole, for muxers that pass it through.
                    if tags.is_none() {
                        tags = item.data.clone();
                    }
                }
                Unit::Id3v1 => {}
                Unit::Vbr { header, .. } => {
                    let track = track_of(&header)?;
                    return Ok(Demuxer {
                        data_start: walk.offset(),
                        walk,
                        meta: Meta {
                            tracks: vec![track],
                            tags: tags.clone(),
                            ..Meta::default()
                        },
                        samples: 0,
                        pending: None,
                        findings,
                    });
                }
                Unit::Frame {
                    header, truncated, ..
                } => {
                    let track = track_of(&header)?;
                    let data = item.data.unwrap_or_default();
                    // A first frame cut by the end of the input describes the track but is
                    // not a packet (as any cut frame).
                    let pending = (!truncated).then_some(Packet {
                        track: TRACK_ID,
                        dts: Ticks(0),
                        cts: 0,
                        keyframe: true,
                        data,
                        pos: Some(item.offset),
                    });
                    return Ok(Demuxer {
                        data_start: item.offset,
                        walk,
                        meta: Meta {
                            tracks: vec![track],
                            tags: tags.clone(),
                            ..Meta::default()
                        },
                        samples: i64::from(header.samples_per_frame()),
                        pending,
                        findings,
                    });
                }
            }
        }
    }

    /// Offset of the first audio frame.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// The index from one scan of the frames (payloads are not kept).
    pub fn scan_index(&mut self) -> Result<Index, FormatError> {
        let base = self.meta.tracks.first().map(|t| t.timebase);
        let Some(base) = base else {
            return Ok(Index::default());
        };
        let mut b = Builder::new(false, base);
        let resume = self.walk.offset();
        let scan = self.walk.scan.clone();
        let result = (|| -> Result<(), FormatError> {
            self.walk.seek_to_frame(self.data_start)?;
            let mut samples = 0i64;
            while let Some(item) = self.walk.next_item()? {
                if let Unit::Frame {
                    header,
                    len,
                    truncated: false,
                } = item.unit
                {
                    b.push(PartInfo {
                        dts: Ticks(samples),
                        cts: 0,
                        size: len as u32,
                        keyframe: false,
                        pos: item.offset,
                        unit_size: len as u64,
                    });
                    samples += i64::from(header.samples_per_frame());
                }
            }
            Ok(())
        })();
        // Return to where reading was, whatever happened.
        self.walk.seek_to_frame(resume)?;
        self.walk.scan = scan;
        result?;
        Ok(Index {
            tracks: vec![b.finish()],
        })
    }
}

impl DemuxerTrait for Demuxer {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn next_packet(&mut self) -> Result<Option<Packet>, FormatError> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        loop {
            let Some(item) = self.walk.next_item()? else {
                return Ok(None);
            };
            self.findings.extend(item.finding.clone());
            match item.unit {
                // A frame cut by the end of the input cannot be decoded whole: it goes with
                // the damage its finding reports (analyse still lists it, as ffprobe does).
                Unit::Frame {
                    truncated: true, ..
                } => {}
                Unit::Frame { header, .. } => {
                    let dts = self.samples;
                    self.samples += i64::from(header.samples_per_frame());
                    return Ok(Some(Packet {
                        track: TRACK_ID,
                        dts: Ticks(dts),
                        cts: 0,
                        keyframe: true,
                        data: item.data.unwrap_or_default(),
                        pos: Some(item.offset),
                    }));
                }
                // A VBR header frame after the start (concatenated files) carries no audio.
                Unit::Vbr { .. } | Unit::Id3v2 { .. } | Unit::Id3v1 | Unit::Garbage { .. } => {}
            }
        }
    }

    fn build_index(&mut self) -> Result<(), FormatError> {
        if self.meta.index.is_none() {
            let idx = self.scan_index()?;
            self.meta.index = Some(idx);
        }
        Ok(())
    }

    fn seek(&mut self, to: Time) -> Result<(), FormatError> {
        self.build_index()?;
        let (Some(track), Some(index)) = (self.meta.tracks.first(), &self.meta.index) else {
            return Err(FormatError::new(
                "mp3",
                0,
                Problem::Unsupported("seeking without an index".into()),
            ));
        };
        let target = to.ceil_in(track.timebase);
        let (pos, time) = match index
            .tracks
            .first()
            .and_then(|t| t.key_at_or_before(target))
        {
            Some(k) => (k.pos, k.time.0),
            None => (self.data_start, 0),
        };
        self.pending = None;
        self.samples = time;
        self.walk.seek_to_frame(pos)
    }

    fn position(&self) -> u64 {
        self.walk.offset()
    }

    fn drop_index(&mut self) {
        self.meta.index = None;
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }
}
