//! AAC in ADTS (`.aac`): the frame scanner (sync, resync, truncation), the demuxer, the muxer
//! and the probe.
//!
//! Every ADTS frame is one packet: the raw AAC data with the 7-byte (9 with CRC) header
//! stripped, the track's AudioSpecificConfig built from the first header, times in samples
//! (timebase = sample rate, 1024 samples per raw data block).

use std::collections::VecDeque;

use bytes::Bytes;

use crate::codec::aac::frame::{config_of, AdtsFrame};
use crate::codec::aac::{AdtsHeader, AudioSpecificConfig, ADTS_HEADER_LEN};
use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::{
    Audio, Codec, Framing, Meta, Packet, Params, Ticks, Time, Timebase, Track, TrackId, TrackKind,
};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{
    Demuxer as DemuxerTrait, Finding, Finish, MuxOptions, Muxer as MuxerTrait, Score, Severity,
};
use crate::io::chunks::ChunkReader;
use crate::io::{ByteSink, Source};

/// Format name in errors.
pub const FORMAT: &str = "aac";
/// Samples in one raw data block (the 960-sample variant cannot be signalled in ADTS).
pub const SAMPLES_PER_BLOCK: i64 = 1024;
/// The first frame must start within this many bytes (after an ID3v2 tag).
pub const MAX_LEADING_GARBAGE: u64 = 64 << 10;
/// An ID3v2 tag larger than this is refused.
pub const MAX_ID3_SIZE: u64 = 16 << 20;
/// Frames a probe chains before it is sure.
const PROBE_FRAMES: usize = 4;

/// Length of the ID3v2 tag at the start of `data` (header, body and footer), if one is there.
pub fn id3v2_len(data: &[u8]) -> Option<u64> {
    let h = data.get(..10)?;
    if &h[..3] != b"ID3" || h[3] == 0xff || h[4] == 0xff || h[6..10].iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let size = h[6..10]
        .iter()
        .fold(0u64, |acc, &b| (acc << 7) | u64::from(b));
    let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

/// A header that parses and describes a frame a decoder can use.
/// The longest ADTS header: 7 bytes, plus with a CRC 2 bytes per extra raw data block
/// (up to 3) and the 2-byte CRC (ISO/IEC 13818-7 §6.2). A resync check that looks for the
/// next header must wait for this many bytes after a candidate frame, or its answer would
/// depend on how the input was cut.
const MAX_HEADER_LEN: usize = 7 + 2 * 3 + 2;

fn header_at(data: &[u8], offset: u64) -> Option<AdtsHeader> {
    let h = AdtsHeader::parse(data, offset).ok()?;
    (h.sampling_frequency() > 0).then_some(h)
}

/// One ADTS frame.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Absolute offset of the header.
    pub offset: u64,
    /// The header.
    pub header: AdtsHeader,
    /// The whole frame, header included (a slice of the read buffer).
    pub data: Bytes,
}

impl Frame {
    /// The raw AAC data after the header.
    pub fn payload(&self) -> Bytes {
        self.data
            .slice(self.header.header_len().min(self.data.len())..)
    }

    /// Samples the frame decodes to.
    pub fn samples(&self) -> i64 {
        SAMPLES_PER_BLOCK * (i64::from(self.header.number_of_raw_data_blocks) + 1)
    }

    /// The frame's raw data blocks, one packet's data each, with their absolute offsets.
    /// ADTS may pack up to four in a frame; every other container carries one per packet, so
    /// they are separated by walking the raw data (the block positions of a protected header
    /// are not trusted). `Err` when the raw data cannot be walked: the caller passes the
    /// payload whole.
    pub fn blocks(&self) -> Result<Vec<(u64, Bytes)>, FormatError> {
        if self.header.number_of_raw_data_blocks == 0 {
            let at = self.offset + self.header.header_len() as u64;
            return Ok(vec![(at, self.payload())]);
        }
        let parsed = AdtsFrame::parse(&self.data, &self.header, self.offset)?;
        Ok(parsed
            .block_ranges()
            .into_iter()
            .map(|r| (self.offset + r.start as u64, self.data.slice(r)))
            .collect())
    }

    /// The frame as packets (one per raw data block, 1024 samples apart from `dts`), and a
    /// finding when its blocks could not be separated.
    pub fn packets(&self, dts: i64) -> (Vec<Packet>, Option<Finding>) {
        let packet = |i: usize, pos: u64, data: Bytes| Packet {
            track: TrackId(1),
            dts: Ticks(dts + SAMPLES_PER_BLOCK * i as i64),
            cts: 0,
            keyframe: true,
            data,
            pos: Some(pos),
        };
        match self.blocks() {
            // A frame's one packet starts at its header (as ffprobe's `pos`); a frame's
            // several blocks each at their own first byte.
            Ok(blocks) if blocks.len() == 1 => (
                blocks
                    .into_iter()
                    .map(|(_, b)| packet(0, self.offset, b))
                    .collect(),
                None,
            ),
            Ok(blocks) => (
                blocks
                    .into_iter()
                    .enumerate()
                    .map(|(i, (pos, b))| packet(i, pos, b))
                    .collect(),
                None,
            ),
            // The blocks cannot be told apart, so the payload is damaged. It is passed
            // whole, which keeps the frame's time only in containers with timestamps: an
            // ADTS writer heads it as one block, 1024 samples short. That loses time, so
            // it is an error (refused by default, written with --salvage), not a warning.
            Err(e) => (
                vec![packet(0, self.offset, self.payload())],
                Some(Finding::error(
                    self.offset,
                    format!(
                        "ADTS frame of {} raw data blocks passed as one packet: {e}",
                        self.header.number_of_raw_data_blocks + 1
                    ),
                )),
            ),
        }
    }
}

/// Reads ADTS frames one after the other, resynchronising on garbage.
pub struct Scanner {
    r: ChunkReader<Source>,
    /// Offset of the first frame (after an ID3v2 tag).
    pub data_start: u64,
    /// The first frame's header.
    pub first: AdtsHeader,
    /// The first frame, header included (what [`track_of`] reads).
    pub first_frame: Bytes,
    /// Bytes of the leading ID3v2 tag (0 if none).
    pub id3_len: u64,
    seekable: bool,
    findings: Vec<Finding>,
}

fn io_err(at: u64) -> impl Fn(std::io::Error) -> FormatError {
    move |e| FormatError::io(FORMAT, at, e)
}

impl Scanner {
    /// Opens `src`: skips an ID3v2 tag and finds the first frame.
    pub fn open(src: Source) -> Result<Scanner, FormatError> {
        let seekable = src.is_seekable();
        let mut r = ChunkReader::new(src, 0);
        r.fill(10).map_err(io_err(0))?;
        let mut findings = Vec::new();
        let mut id3_len = 0;
        if let Some(n) = id3v2_len(r.buffered()) {
            if n > MAX_ID3_SIZE {
                return Err(FormatError::new(
                    FORMAT,
                    6,
                    Problem::Limit {
                        what: "ID3v2 tag size",
                        limit: MAX_ID3_SIZE,
                    },
                ));
            }
            let skipped = r.skip(n).map_err(io_err(0))?;
            if skipped < n {
                return Err(FormatError::new(
                    FORMAT,
                    0,
                    Problem::Truncated {
                        what: "ID3v2 tag",
                        need: n - skipped,
                    },
                ));
            }
            findings.push(Finding::info(0, format!("ID3v2 tag of {n} bytes skipped")));
            id3_len = n;
        }
        let mut s = Scanner {
            r,
            data_start: id3_len,
            // Replaced by the first real header below (a valid 8-byte LC frame header).
            first: AdtsHeader::parse(&[0xff, 0xf1, 0x50, 0x80, 0x01, 0x1f, 0xfc], 0)?,
            first_frame: Bytes::new(),
            id3_len,
            seekable,
            findings,
        };
        let start = s.r.offset();
        match s.sync()? {
            Some(h) if s.r.offset() - start <= MAX_LEADING_GARBAGE => {
                s.first = h;
                let len = usize::from(h.frame_length).min(s.r.buffered().len());
                s.first_frame = Bytes::copy_from_slice(&s.r.buffered()[..len]);
                s.data_start = s.r.offset();
                Ok(s)
            }
            _ => Err(FormatError::invalid(
                FORMAT,
                start,
                "no ADTS frame (sync word 0xFFF with layer 0) found",
            )),
        }
    }

    /// Positions the reader at the next frame header (a header whose frame is followed by
    /// another header or by the end of the input), skipping garbage with a finding.
    fn sync(&mut self) -> Result<Option<AdtsHeader>, FormatError> {
        let start = self.r.offset();
        loop {
            let have = self
                .r
                .fill(ADTS_HEADER_LEN + 2)
                .map_err(io_err(self.r.offset()))?;
            if have == 0 {
                if self.r.offset() > start {
                    self.findings.push(Finding::error(
                        start,
                        format!(
                            "{} bytes without an ADTS sync word at the end",
                            self.r.offset() - start
                        ),
                    ));
                }
                return Ok(None);
            }
            let at = self.r.offset();
            if let Some(h) = header_at(self.r.buffered(), at) {
                let len = usize::from(h.frame_length);
                let have = self.r.fill(len + MAX_HEADER_LEN).map_err(io_err(at))?;
                let confirmed = if at == start {
                    // In sync (the file start, or where the previous frame ended).
                    true
                } else if have <= len {
                    // The frame reaches (or runs past) the end: take it; a short one is
                    // reported by `next_frame`.
                    true
                } else {
                    header_at(&self.r.buffered()[len..], at + len as u64).is_some()
                };
                if confirmed {
                    if at > start {
                        self.findings.push(Finding::error(
                            start,
                            format!("no ADTS sync word: {} bytes skipped", at - start),
                        ));
                    }
                    return Ok(Some(h));
                }
            }
            self.r.skip(1).map_err(io_err(at))?;
        }
    }

    /// An ID3v1 tag (`TAG`, 128 bytes) as the last bytes: skipped with a note.
    fn trailing_id3v1(&mut self, start: u64) -> Result<bool, FormatError> {
        let at = self.r.offset();
        if at != start {
            return Ok(false);
        }
        let have = self.r.fill(129).map_err(io_err(at))?;
        if have == 128 && self.r.buffered().starts_with(b"TAG") {
            self.r.skip(128).map_err(io_err(at))?;
            self.findings
                .push(Finding::info(at, "ID3v1 tag at the end skipped"));
            return Ok(true);
        }
        Ok(false)
    }

    /// The next frame, `None` at the end; a frame cut short by the end of the input is an
    /// error at its header.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FormatError> {
        let at = self.r.offset();
        let have = self.r.fill(ADTS_HEADER_LEN + 2).map_err(io_err(at))?;
        if have == 0 {
            return Ok(None);
        }
        let h = match header_at(self.r.buffered(), at) {
            Some(h) => h,
            None => {
                if self.trailing_id3v1(at)? {
                    return Ok(None);
                }
                let buf = self.r.buffered();
                if buf.len() >= 2 && buf[0] == 0xff && buf[1] & 0xf6 == 0xf0 {
                    // A sync word with layer 0 whose header the input cuts short.
                    if let Err(e) = AdtsHeader::parse(buf, at) {
                        if e.is_truncation() {
                            return Err(FormatError::new(FORMAT, at, e.problem));
                        }
                    }
                }
                match self.sync()? {
                    Some(h) => h,
                    None => return Ok(None),
                }
            }
        };
        let at = self.r.offset();
        let len = usize::from(h.frame_length);
        let have = self.r.fill(len).map_err(io_err(at))?;
        if have < len {
            return Err(FormatError::new(
                FORMAT,
                at,
                Problem::Truncated {
                    what: "ADTS frame",
                    need: (len - have) as u64,
                },
            ));
        }
        if let Some(f) = parameter_change(&self.first, &h, at) {
            self.findings.push(f);
        }
        Ok(Some(Frame {
            offset: at,
            header: h,
            data: self.r.take(len),
        }))
    }

    /// Offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.r.offset()
    }

    /// Non-fatal problems met so far.
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    fn seek_to(&mut self, to: u64) -> Result<(), FormatError> {
        if !self.seekable {
            return Err(FormatError::new(
                FORMAT,
                to,
                Problem::Unsupported("seeking in a stream that cannot seek".into()),
            ));
        }
        self.r.seek_to(to).map_err(io_err(to))
    }
}

/// A warning when a frame's header describes other audio than the first frame's.
fn parameter_change(first: &AdtsHeader, h: &AdtsHeader, at: u64) -> Option<Finding> {
    let same = h.sampling_frequency_index == first.sampling_frequency_index
        && h.channel_configuration == first.channel_configuration
        && h.profile == first.profile;
    (!same).then(|| {
        Finding::warning(
            at,
            format!(
                "ADTS parameters change: {} Hz, channel configuration {}, profile {} (first \
                 frame: {} Hz, {}, {})",
                h.sampling_frequency(),
                h.channel_configuration,
                h.profile,
                first.sampling_frequency(),
                first.channel_configuration,
                first.profile
            ),
        )
    })
}

/// The track an ADTS stream holds, from its first frame (header included). Times count core
/// samples; the track's rate is the output rate (twice the core rate with SBR).
pub fn track_of(first: &AdtsHeader, frame: &[u8]) -> Result<Track, FormatError> {
    let asc = config_of(first, frame);
    let tb = Timebase::new(first.sampling_frequency()).ok_or_else(|| {
        FormatError::whole(
            FORMAT,
            Problem::BadValue {
                field: "sampling_frequency_index",
                value: u64::from(first.sampling_frequency_index),
            },
        )
    })?;
    let mut t = Track::new(TrackId(1), TrackKind::Audio, Codec::Aac, tb);
    t.init = Bytes::from(asc.build()?);
    t.params = Params::Audio(Audio {
        rate: asc.output_sampling_frequency(),
        channels: asc.channels().unwrap_or(0),
        sample_bits: 16,
    });
    Ok(t)
}

/// Reads a `.aac` ADTS stream.
pub struct Demuxer {
    scan: Scanner,
    meta: Meta,
    samples: i64,
    /// Packets of a frame with several raw data blocks, not handed out yet.
    queue: VecDeque<Packet>,
    /// (offset, time) of frames with several blocks, from the index scan: an index key can
    /// fall on a later block of a frame, and reading resumes at the frame's start.
    multi_block_frames: Vec<(u64, i64)>,
    /// After such a seek: blocks before the key's time are dropped.
    skip_before: Option<i64>,
    /// Damaged frames the index scan met, not yet taken.
    index_errors: Vec<Finding>,
    /// Offsets of the damaged frames already reported.
    errors_reported: std::collections::BTreeSet<u64>,
}

/// Opens `src` as ADTS (the format table's `open`).
pub fn open(src: Source) -> Result<Box<dyn DemuxerTrait>, FormatError> {
    Ok(Box::new(Demuxer::open(src)?))
}

impl Demuxer {
    /// Opens `src`.
    pub fn open(src: Source) -> Result<Demuxer, FormatError> {
        let scan = Scanner::open(src)?;
        let meta = Meta {
            tracks: vec![track_of(&scan.first, &scan.first_frame)?],
            ..Meta::default()
        };
        Ok(Demuxer {
            scan,
            meta,
            samples: 0,
            queue: VecDeque::new(),
            multi_block_frames: Vec::new(),
            skip_before: None,
            index_errors: Vec::new(),
            errors_reported: Default::default(),
        })
    }
}

impl DemuxerTrait for Demuxer {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn next_packet(&mut self) -> Result<Option<Packet>, FormatError> {
        if let Some(p) = self.queue.pop_front() {
            return Ok(Some(p));
        }
        let Some(f) = self.scan.next_frame()? else {
            return Ok(None);
        };
        let dts = self.samples;
        self.samples += f.samples();
        let (packets, finding) = f.packets(dts);
        self.scan.findings.extend(finding);
        let from = self.skip_before.take().unwrap_or(i64::MIN);
        self.queue
            .extend(packets.into_iter().filter(|p| p.dts.0 >= from));
        Ok(self.queue.pop_front())
    }

    fn build_index(&mut self) -> Result<(), FormatError> {
        if self.meta.index.is_some() {
            return Ok(());
        }
        let resume = (self.scan.position(), self.samples);
        let base = self.meta.tracks[0].timebase;
        let mut b = Builder::new(false, base);
        self.scan.seek_to(self.scan.data_start)?;
        let mut samples = 0i64;
        let mut multi = Vec::new();
        let mut index_errors = Vec::new();
        let result = (|| -> Result<(), FormatError> {
            while let Some(f) = self.scan.next_frame()? {
                // The same packets reading gives: one part per raw data block. A frame whose
                // blocks cannot be separated is damage: kept, so a caller that indexes before
                // writing learns of it first (reading finds it again; reported once).
                let (packets, found) = f.packets(samples);
                index_errors.extend(found.filter(|e| e.severity == Severity::Error));
                if packets.len() > 1 {
                    multi.push((f.offset, samples));
                }
                for (i, p) in packets.iter().enumerate() {
                    b.push(PartInfo {
                        dts: p.dts,
                        cts: 0,
                        size: p.data.len() as u32,
                        keyframe: true,
                        pos: f.offset,
                        unit_size: if i == 0 {
                            u64::from(f.header.frame_length)
                        } else {
                            0
                        },
                    });
                }
                samples += f.samples();
            }
            Ok(())
        })();
        self.multi_block_frames = multi;
        self.index_errors = index_errors;
        self.scan.seek_to(resume.0)?;
        self.samples = resume.1;
        // Findings of the index scan repeat what reading will find again.
        let _ = self.scan.take_findings();
        result?;
        self.meta.index = Some(crate::dtsc::Index {
            tracks: vec![b.finish()],
        });
        Ok(())
    }

    fn seek(&mut self, to: Time) -> Result<(), FormatError> {
        self.build_index()?;
        let base = self.meta.tracks[0].timebase;
        let key = self
            .meta
            .index
            .as_ref()
            .and_then(|i| i.tracks.first())
            .and_then(|ti| ti.key_at_or_before(to.ceil_in(base)).copied());
        match key {
            Some(k) => {
                self.scan.seek_to(k.pos)?;
                // A key on a later block of a frame: reading starts at the frame, and the
                // blocks before the key are dropped.
                self.samples = match self
                    .multi_block_frames
                    .binary_search_by_key(&k.pos, |f| f.0)
                {
                    Ok(i) => self.multi_block_frames[i].1,
                    Err(_) => k.time.0,
                };
                self.skip_before = Some(k.time.0);
            }
            None => {
                self.scan.seek_to(self.scan.data_start)?;
                self.samples = 0;
                self.skip_before = None;
            }
        }
        self.queue.clear();
        Ok(())
    }

    fn position(&self) -> u64 {
        self.scan.position()
    }

    fn drop_index(&mut self) {
        self.meta.index = None;
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        let mut out = self.scan.take_findings();
        out.append(&mut self.index_errors);
        // A damaged frame is one region, whether the index scan or reading met it first.
        let reported = &mut self.errors_reported;
        out.retain(|f| {
            f.severity != Severity::Error || f.offset.is_none_or(|o| reported.insert(o))
        });
        out
    }
}

/// The incremental (sans-IO) ADTS reader for streams that arrive in pieces (pipes, HTTP
/// bodies): the same packets, times and findings as [`Demuxer`], as
/// [`Event`](crate::formats::Event)s; the track is announced with the first frame.
#[derive(Default)]
pub struct StreamReader {
    buf: bytes::BytesMut,
    /// Absolute offset of `buf[0]`.
    base: u64,
    started: bool,
    id3_left: u64,
    first: Option<AdtsHeader>,
    samples: i64,
    garbage_from: Option<u64>,
    finished: bool,
    /// Events to hand out before reading on (a frame's packets after the finding about it).
    queued: VecDeque<crate::formats::Event>,
}

impl StreamReader {
    /// A reader for a stream starting at byte 0.
    pub fn new() -> StreamReader {
        StreamReader::default()
    }

    fn skip(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        let _ = self.buf.split_to(n);
        self.base += n as u64;
    }
}

impl crate::formats::Reader for StreamReader {
    fn feed(&mut self, chunk: Bytes) {
        self.buf.extend_from_slice(&chunk);
    }

    fn next_event(&mut self) -> Result<Option<crate::formats::Event>, FormatError> {
        use crate::formats::Event;
        if let Some(e) = self.queued.pop_front() {
            return Ok(Some(e));
        }
        if !self.started {
            if self.buf.len() < 10 && !self.finished {
                return Ok(None);
            }
            self.started = true;
            if let Some(n) = id3v2_len(&self.buf) {
                if n > MAX_ID3_SIZE {
                    return Err(FormatError::new(
                        FORMAT,
                        6,
                        Problem::Limit {
                            what: "ID3v2 tag size",
                            limit: MAX_ID3_SIZE,
                        },
                    ));
                }
                self.id3_left = n;
                return Ok(Some(Event::Finding(Finding::info(
                    0,
                    format!("ID3v2 tag of {n} bytes skipped"),
                ))));
            }
        }
        if self.id3_left > 0 {
            let n = self.id3_left.min(self.buf.len() as u64);
            self.skip(n as usize);
            self.id3_left -= n;
            if self.id3_left > 0 {
                if self.finished {
                    return Err(FormatError::new(
                        FORMAT,
                        0,
                        Problem::Truncated {
                            what: "ID3v2 tag",
                            need: self.id3_left,
                        },
                    ));
                }
                return Ok(None);
            }
        }
        loop {
            if self.buf.is_empty() {
                if let (Some(from), true) = (self.garbage_from, self.finished) {
                    self.garbage_from = None;
                    return Ok(Some(Event::Finding(Finding::error(
                        from,
                        format!(
                            "{} bytes without an ADTS sync word at the end",
                            self.base - from
                        ),
                    ))));
                }
                return Ok(None);
            }
            let at = self.base;
            if self.finished
                && self.garbage_from.is_none()
                && self.buf.len() == 128
                && self.buf.starts_with(b"TAG")
            {
                self.skip(128);
                return Ok(Some(Event::Finding(Finding::info(
                    at,
                    "ID3v1 tag at the end skipped",
                ))));
            }
            let h = match AdtsHeader::parse(&self.buf, at) {
                Ok(h) if h.sampling_frequency() > 0 => h,
                Err(e) if e.is_truncation() && !self.finished => return Ok(None),
                Err(e)
                    if e.is_truncation()
                        && self.garbage_from.is_none()
                        && self.buf[0] == 0xff
                        && self.buf.get(1).is_some_and(|b| b & 0xf6 == 0xf0) =>
                {
                    return Err(FormatError::new(FORMAT, at, e.problem));
                }
                _ => {
                    self.garbage_from.get_or_insert(at);
                    self.skip(1);
                    if self.first.is_none()
                        && self
                            .garbage_from
                            .is_some_and(|g| at - g > MAX_LEADING_GARBAGE)
                    {
                        return Err(FormatError::whole_invalid(
                            FORMAT,
                            "no ADTS frame (sync word 0xFFF with layer 0) found",
                        ));
                    }
                    continue;
                }
            };
            let len = usize::from(h.frame_length);
            if self.garbage_from.is_some() {
                // Resynchronising: the next header must follow, or the input must end.
                if self.buf.len() < len + MAX_HEADER_LEN && !self.finished {
                    return Ok(None);
                }
                // As the demuxer: a frame that reaches or runs past the end is taken;
                // otherwise a header must follow it.
                let next = self.buf.get(len..).unwrap_or(&[]);
                if !next.is_empty() && header_at(next, at + len as u64).is_none() {
                    self.skip(1);
                    continue;
                }
                if let Some(from) = self.garbage_from.take() {
                    return Ok(Some(Event::Finding(Finding::error(
                        from,
                        format!("no ADTS sync word: {} bytes skipped", at - from),
                    ))));
                }
            }
            if self.buf.len() < len {
                if self.finished {
                    return Err(FormatError::new(
                        FORMAT,
                        at,
                        Problem::Truncated {
                            what: "ADTS frame",
                            need: (len - self.buf.len()) as u64,
                        },
                    ));
                }
                return Ok(None);
            }
            let Some(first) = self.first else {
                self.first = Some(h);
                return Ok(Some(Event::Tracks(vec![track_of(&h, &self.buf[..len])?])));
            };
            let frame = Frame {
                offset: at,
                header: h,
                data: self.buf.split_to(len).freeze(),
            };
            self.base += len as u64;
            let dts = self.samples;
            self.samples += frame.samples();
            let (packets, finding) = frame.packets(dts);
            self.queued
                .extend(parameter_change(&first, &h, at).map(Event::Finding));
            self.queued.extend(finding.map(Event::Finding));
            self.queued.extend(packets.into_iter().map(Event::Packet));
            return Ok(self.queued.pop_front());
        }
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        self.finished = true;
        Ok(())
    }
}

/// Scores the start of an input: consecutive ADTS frames (sync word with layer 0, so never
/// an MP3 frame, whose layer bits are never 0), after an optional ID3v2 tag.
pub fn probe(head: &[u8]) -> Score {
    let start = match id3v2_len(head) {
        Some(n) => match usize::try_from(n) {
            Ok(n) if n < head.len() => n,
            _ => return 0,
        },
        None => 0,
    };
    let mut pos = start;
    let mut frames = 0;
    let mut first_opens = true;
    while frames < PROBE_FRAMES {
        let Some(rest) = head.get(pos..) else { break };
        if rest.is_empty() {
            break;
        }
        let Some(h) = header_at(rest, pos as u64) else {
            return 0;
        };
        if frames == 0 && h.channel_configuration == 0 {
            // Channel configuration 0 needs a program config element in the first frame;
            // without one the stream is ADTS mist cannot describe.
            let frame = rest.get(..usize::from(h.frame_length)).unwrap_or(rest);
            first_opens = track_of(&h, frame).is_ok();
        }
        frames += 1;
        pos += usize::from(h.frame_length);
    }
    match frames {
        PROBE_FRAMES.. if first_opens => 90,
        PROBE_FRAMES.. => 50,
        // Fewer frames than that only when the input ends after them.
        n if n >= 2 && pos == head.len() => 70,
        1 if pos == head.len() => 30,
        _ => 0,
    }
}

/// Writes `.aac`: each packet (already ADTS-framed by the pipeline from the track's
/// AudioSpecificConfig) as it is.
#[derive(Default)]
pub struct Muxer {
    track: Option<TrackId>,
}

/// A new `.aac` muxer (the format table's `muxer`).
pub fn new_muxer(_: &MuxOptions) -> Box<dyn MuxerTrait> {
    Box::<Muxer>::default()
}

impl MuxerTrait for Muxer {
    fn start(&mut self, meta: &Meta, _: &mut dyn ByteSink) -> Result<(), FormatError> {
        let t = super::single_track(meta, FORMAT, "an ADTS stream", Codec::Aac, Framing::Adts)?;
        // The pipeline built the headers from this configuration; check it once here too.
        AudioSpecificConfig::parse(&t.init, 0)?;
        self.track = Some(t.id);
        Ok(())
    }

    fn write(&mut self, pkt: &Packet, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        if Some(pkt.track) != self.track {
            return Ok(());
        }
        let at = out.position();
        out.put_shared(pkt.data.clone())
            .map_err(|e| FormatError::io(FORMAT, at, e))
    }

    fn finish(&mut self, _: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        Ok(Finish::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: usize) -> Vec<u8> {
        // Hand-built 7-byte header: MPEG-4, LC (profile 1), index 3 (48 kHz), 2 channels.
        let asc = AudioSpecificConfig::new(2, 48000, 2);
        let mut v = AdtsHeader::from_asc(&asc, payload).unwrap().to_bytes();
        v.extend(std::iter::repeat_n(0x21, payload));
        v
    }

    /// Fuzz finding (raw_aac, 2026-11-25): a resync candidate whose following header has a
    /// CRC and several raw data blocks (13 bytes) was judged on 12 bytes when the input was
    /// cut there, and on 13 when whole. Oracle: the whole-input result, for every cut.
    #[test]
    fn r_fuzz_resync_does_not_depend_on_the_cut() {
        use crate::formats::Reader as _;
        let data: &[u8] = &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9f, 0x04, 0xff, 0x00, 0x04, 0x00, 0xff, 0xf0,
            0x00, 0x00, 0x02, 0x00, 0xf0, 0x75, 0xff, 0xf0, 0x00, 0x00, 0x00, 0x04, 0xff, 0x00,
            0xff, 0xf0, 0x00, 0xff, 0x00, 0xff, 0x7a, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff,
        ];
        let run = |cut: usize| {
            let mut r = StreamReader::new();
            let mut out = Vec::new();
            for piece in [&data[..cut], &data[cut..]] {
                r.feed(Bytes::copy_from_slice(piece));
                loop {
                    match r.next_event() {
                        Ok(Some(e)) => out.push(format!("{e:?}")),
                        Ok(None) => break,
                        Err(e) => return (out, Some(e.offset)),
                    }
                }
            }
            r.finish().unwrap();
            loop {
                match r.next_event() {
                    Ok(Some(e)) => out.push(format!("{e:?}")),
                    Ok(None) => return (out, None),
                    Err(e) => return (out, Some(e.offset)),
                }
            }
        };
        let whole = run(data.len());
        for cut in 0..data.len() {
            assert_eq!(run(cut), whole, "cut at {cut}");
        }
    }

    #[test]
    fn garbage_is_skipped_with_a_finding_at_its_offset() {
        let mut data = frame(10);
        data.extend_from_slice(&[1, 2, 3]);
        data.extend(frame(12));
        data.extend(frame(5));
        let mut d = Demuxer::open(Source::from_bytes("x.aac", data)).unwrap();
        let mut got = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            got.push((p.dts.0, p.data.len(), p.pos));
        }
        assert_eq!(
            got,
            vec![(0, 10, Some(0)), (1024, 12, Some(20)), (2048, 5, Some(39))]
        );
        let f = d.take_findings();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].offset, Some(17));
    }

    #[test]
    fn a_cut_last_frame_is_an_error_at_its_header() {
        let mut data = frame(10);
        data.extend(frame(30));
        data.truncate(17 + 20);
        let mut d = Demuxer::open(Source::from_bytes("x.aac", data)).unwrap();
        assert!(d.next_packet().unwrap().is_some());
        let e = d.next_packet().unwrap_err();
        assert_eq!(e.offset, 17);
        assert!(e.is_truncation());
    }

    #[test]
    fn probe_never_takes_mp3() {
        // An MPEG-1 layer III header (ff fb: layer bits 01) is not ADTS.
        assert_eq!(probe(&[0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0, 0]), 0);
        let mut three = frame(10);
        three.extend(frame(10));
        three.extend(frame(10));
        three.extend(frame(10));
        assert_eq!(probe(&three), 90);
    }

    #[test]
    fn crc_protected_frames_lose_their_nine_byte_header() {
        // Hand-built: protection_absent 0 makes the header 9 bytes (7 + crc_check, ISO/IEC
        // 13818-7 6.2); the packet is the raw data after it, and the track is the same as for
        // 7-byte headers. The CRC itself is not verified (a known gap).
        let asc = AudioSpecificConfig::new(2, 44100, 1);
        let mut data = Vec::new();
        for payload in [6usize, 9, 4] {
            let mut h = AdtsHeader::from_asc(&asc, payload).unwrap();
            h.protection_absent = false;
            h.crc = Some(0xbeef);
            h.frame_length = (payload + 9) as u16;
            h.write(&mut data);
            data.extend(std::iter::repeat_n(0x42, payload));
        }
        assert_eq!(probe(&data), 70);
        let mut d = Demuxer::open(Source::from_bytes("c.aac", data)).unwrap();
        let t = &d.meta().tracks[0];
        assert_eq!(
            (t.timebase.per_second(), t.audio().unwrap().channels),
            (44100, 1)
        );
        let mut got = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            assert!(p.data.iter().all(|&b| b == 0x42));
            got.push((p.dts.0, p.data.len(), p.pos.unwrap()));
        }
        assert_eq!(got, vec![(0, 6, 0), (1024, 9, 15), (2048, 4, 33)]);
    }

    #[test]
    fn stream_reader_gives_the_demuxers_packets_however_the_input_is_cut() {
        // Oracle: the file demuxer on the same bytes, and the sans-IO contract (the events do
        // not depend on the cuts). One input has garbage in the middle; one has two raw data
        // blocks per frame (two packets per frame); one is HE-AAC (the track's config comes
        // from the first frame's raw data).
        use crate::formats::{Event, Reader as _};
        for (name, garbage_at) in [
            ("aac_lc.aac", Some(155)),
            ("crc_lc_blocks.aac", None),
            ("crc_he.aac", None),
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name);
            let mut data = std::fs::read(path).unwrap();
            if let Some(at) = garbage_at {
                data.splice(at..at, [1u8, 2, 3, 0xff, 0xf1]);
            }
            let mut d = Demuxer::open(Source::from_bytes("a.aac", data.clone())).unwrap();
            let mut want = Vec::new();
            while let Some(p) = d.next_packet().unwrap() {
                want.push(p);
            }
            let want_findings: Vec<Option<u64>> =
                d.take_findings().iter().map(|f| f.offset).collect();
            let garbage: Vec<Option<u64>> = garbage_at.iter().map(|&at| Some(at as u64)).collect();
            assert_eq!(want_findings, garbage);
            for piece in [1usize, 5, 155, 4096, data.len()] {
                let mut r = StreamReader::new();
                let (mut tracks, mut got, mut findings) = (Vec::new(), Vec::new(), Vec::new());
                let mut take = |r: &mut StreamReader| {
                    while let Some(e) = r.next_event().unwrap() {
                        match e {
                            Event::Tracks(t) => tracks.push(t),
                            Event::Packet(p) => got.push(p),
                            Event::Finding(f) => findings.push(f.offset),
                        }
                    }
                };
                for c in data.chunks(piece) {
                    r.feed(Bytes::copy_from_slice(c));
                    take(&mut r);
                }
                r.finish().unwrap();
                take(&mut r);
                assert_eq!(
                    tracks,
                    vec![d.meta().tracks.clone()],
                    "{name}: pieces of {piece}"
                );
                assert_eq!(got, want, "{name}: pieces of {piece}");
                assert_eq!(findings, want_findings, "{name}: pieces of {piece}");
            }
        }
    }

    #[test]
    fn resync_rules_agree_between_demuxer_and_stream_reader() {
        // Regression (fuzz): after garbage, a header is only taken when another header follows
        // its frame or the frame reaches the end; five stray bytes after it are neither, so
        // both readers drop it and report the bytes from the garbage on. Oracle: the rule.
        use crate::formats::{Event, Reader as _};
        let mut data = frame(10);
        data.extend_from_slice(&[1, 2, 3]);
        data.extend(frame(12));
        data.extend_from_slice(&[9; 5]);
        let mut d = Demuxer::open(Source::from_bytes("x.aac", data.clone())).unwrap();
        let mut a = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            a.push(p);
        }
        let fa: Vec<Option<u64>> = d.take_findings().iter().map(|f| f.offset).collect();
        let mut r = StreamReader::new();
        r.feed(Bytes::from(data));
        r.finish().unwrap();
        let (mut b, mut fb) = (Vec::new(), Vec::new());
        while let Some(e) = r.next_event().unwrap() {
            match e {
                Event::Packet(p) => b.push(p),
                Event::Finding(f) => fb.push(f.offset),
                Event::Tracks(_) => {}
            }
        }
        assert_eq!(a.len(), 1);
        assert_eq!((a, fa), (b, fb));
    }
}
