//! The FLV demuxer: the sans-IO [`Reader`] over a [`Source`], a look-ahead at open so `meta()`
//! has every track with its configuration, an index built from tag headers alone (payloads are
//! seeked over), and seeking through that index.

use std::collections::VecDeque;
use std::io::{Seek, SeekFrom};

use bytes::Bytes;

use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::timeline::Timeline;
use crate::dtsc::{Index, Meta, Packet, Ticks, Time, Track, TrackKind};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{Demuxer as DemuxerTrait, Finding};
use crate::io::{ReadPool, Source};

use super::header::HEADER_LEN;
use super::reader::{Event, Reader, Script, Streams, Tag};
use super::tag::{TagHeader, TagType, PREV_TAG_SIZE_LEN, TAG_HEADER_LEN};
use super::FORMAT;

/// How much one read asks the source for.
const READ_CHUNK: usize = 1 << 20;
/// How far `open` reads ahead looking for tracks and sequence headers (FFmpeg probes ~5 MB).
pub const PROBE_BYTES: u64 = 4 << 20;
/// Script tags kept for `scripts()`; more are counted but dropped.
pub const MAX_SCRIPTS: usize = 64;
/// Body bytes the header scan reads of each tag (enough for every audio/video tag header).
pub const SCAN_PREFIX: usize = 16;
/// Bytes the header scan reads at once: small, since it seeks over payloads, yet enough to
/// hold a run of small audio tags.
const SCAN_WINDOW: usize = 2 << 10;

/// Reads an FLV input.
pub struct Demuxer {
    src: Source,
    pool: ReadPool,
    reader: Reader,
    meta: Meta,
    queue: VecDeque<Packet>,
    findings: Vec<Finding>,
    scripts: Vec<Script>,
    /// Each track as its first sequence header configured it.
    first_config: Vec<Track>,
    eof: bool,
    /// True once the end of input was reported.
    finished: bool,
    /// Absolute offset of the next byte to read from `src`.
    read_pos: u64,
    /// Offset of the first tag.
    data_start: u64,
    /// An error met during the look-ahead at open, given after the packets before it.
    late_error: Option<FormatError>,
    /// Packets of tracks that appeared after the look-ahead: (first offset, count) by track.
    late: std::collections::BTreeMap<crate::dtsc::TrackId, (u64, u64)>,
    /// Where the index scan met timestamp jumps: (tag offset, the file's clock there, the
    /// timeline after it), so a seek resumes with the shift in force at its place.
    jumps: Vec<(u64, Option<i64>, Timeline)>,
}

/// Opens `src` as FLV (the format table's `open`).
pub fn open(src: Source) -> Result<Box<dyn DemuxerTrait>, FormatError> {
    Ok(Box::new(Demuxer::open(src)?))
}

impl Demuxer {
    /// Opens `src` and reads ahead until every track is known with its configuration.
    pub fn open(src: Source) -> Result<Demuxer, FormatError> {
        let mut d = Demuxer {
            src,
            pool: ReadPool::new(READ_CHUNK),
            reader: Reader::new(),
            meta: Meta::default(),
            queue: VecDeque::new(),
            findings: Vec::new(),
            scripts: Vec::new(),
            first_config: Vec::new(),
            eof: false,
            finished: false,
            read_pos: 0,
            data_start: u64::from(HEADER_LEN) + PREV_TAG_SIZE_LEN as u64,
            late_error: None,
            late: Default::default(),
            jumps: Vec::new(),
        };
        d.reader
            .streams_mut()
            .set_timeline(Some(Timeline::bridge()));
        loop {
            if let Some(h) = d.reader.header() {
                d.data_start = u64::from(h.data_offset) + PREV_TAG_SIZE_LEN as u64;
                let s = d.reader.streams();
                let announced = (!h.has_video() || s.has(TrackKind::Video))
                    && (!h.has_audio() || s.has(TrackKind::Audio));
                let any = s.has(TrackKind::Video) || s.has(TrackKind::Audio);
                if any && s.configured() && announced {
                    break;
                }
                if d.reader.offset() > d.data_start + PROBE_BYTES {
                    break;
                }
            }
            match d.next_event() {
                Ok(None) => break,
                Ok(Some(Event::Packet(p))) => d.queue.push_back(p),
                Ok(Some(other)) => d.note(other),
                // Damage inside the look-ahead: the tracks found so far stand, the packets
                // before it are delivered, then the error (so salvage keeps them).
                Err(e)
                    if d.reader.streams().has(TrackKind::Video)
                        || d.reader.streams().has(TrackKind::Audio) =>
                {
                    d.late_error = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if d.reader.header().is_none() {
            return Err(FormatError::new(
                FORMAT,
                d.reader.offset(),
                Problem::Truncated {
                    what: "FLV header",
                    need: u64::from(HEADER_LEN),
                },
            ));
        }
        // Tracks as first configured: a sequence header that changes later (even within the
        // look-ahead) is a finding, not the stream's configuration.
        let mut tracks = d.reader.streams().tracks();
        for t in &mut tracks {
            if let Some(first) = d.first_config.iter().find(|f| f.id == t.id) {
                *t = first.clone();
            }
        }
        d.meta = Meta {
            tracks,
            ..Meta::default()
        };
        Ok(d)
    }

    /// Script tags read so far (`onMetaData` first, normally).
    pub fn scripts(&self) -> &[Script] {
        &self.scripts
    }

    fn note(&mut self, e: Event) {
        match e {
            Event::Finding(f) => self.findings.push(f),
            Event::Script(s) if self.scripts.len() < MAX_SCRIPTS => self.scripts.push(s),
            Event::Tracks(ts) => {
                for t in ts {
                    if !t.init.is_empty() && !self.first_config.iter().any(|f| f.id == t.id) {
                        self.first_config.push(t);
                    }
                }
            }
            Event::Script(_) | Event::Packet(_) => {}
        }
    }

    fn fill(&mut self) -> Result<(), FormatError> {
        // Small inputs get a buffer of their size, not a whole chunk.
        let want = match self.src.len() {
            Some(len) => len
                .saturating_sub(self.read_pos)
                .clamp(1, READ_CHUNK as u64),
            None => READ_CHUNK as u64,
        };
        let buf = self
            .pool
            .read(&mut self.src, want as usize)
            .map_err(|e| FormatError::io(FORMAT, self.read_pos, e))?;
        if buf.is_empty() {
            self.eof = true;
            return Ok(());
        }
        self.read_pos += buf.len() as u64;
        self.reader.feed(buf);
        Ok(())
    }

    fn next_event(&mut self) -> Result<Option<Event>, FormatError> {
        loop {
            if let Some(e) = self.reader.next_event()? {
                return Ok(Some(e));
            }
            if self.eof {
                if self.finished {
                    return Ok(None);
                }
                // The reader now hands out what the end of input completes (the last tag,
                // findings, or the error of a cut structure).
                self.finished = true;
                self.reader.finish();
                continue;
            }
            self.fill()?;
        }
    }

    /// Index of every track from tag headers alone: payloads are seeked over, except the
    /// few bodies the stream state needs (sequence headers, NAL lengths other than 4 bytes).
    pub fn scan_index(&mut self) -> Result<Index, FormatError> {
        let mut builders: Vec<Builder> = self
            .meta
            .tracks
            .iter()
            .map(|t| Builder::new(t.kind == TrackKind::Video, t.timebase))
            .collect();
        let resume = self.read_pos;
        let mut streams = Streams::new();
        // The same timeline as the packets get, so index and packets agree.
        streams.set_timeline(Some(Timeline::bridge()));
        let mut events = Vec::new();
        let mut jumps = Vec::new();
        let mut scan = HeaderScan::new(&mut self.src, self.data_start);
        while let Some(st) = scan.next(streams.nal_len().is_some_and(|l| l != 4), false)? {
            let before = streams.timeline().map_or(0, Timeline::jumps);
            streams.handle(&st.tag, &mut events);
            if let Some(tl) = streams.timeline().filter(|t| t.jumps() > before) {
                jumps.push((st.tag.offset, streams.clock(), tl.clone()));
            }
            for e in events.drain(..) {
                let Event::Packet(p) = e else { continue };
                let Some(i) = self.meta.position(p.track) else {
                    continue;
                };
                builders[i].push(PartInfo {
                    dts: p.dts,
                    cts: p.cts,
                    size: (p.data.len() + st.missing) as u32,
                    keyframe: p.keyframe,
                    pos: st.tag.offset,
                    unit_size: u64::from(st.tag.header.tag_size()) + PREV_TAG_SIZE_LEN as u64,
                });
            }
        }
        let damage = scan.damage.take();
        self.jumps = jumps;
        self.src
            .seek(SeekFrom::Start(resume))
            .map_err(|e| FormatError::io(FORMAT, resume, e))?;
        // An index that stops at damage would disagree with the packets the reader finds
        // after it: refuse rather than describe part of the file.
        if let Some(e) = damage {
            return Err(e);
        }
        Ok(Index {
            tracks: builders.into_iter().map(Builder::finish).collect(),
        })
    }
}

/// A tag as the header scan sees it: the body is whole, or only its first bytes.
#[derive(Clone, Debug)]
pub struct ScanTag {
    /// The tag, with the whole body or its first [`SCAN_PREFIX`] bytes.
    pub tag: Tag,
    /// Body bytes not read (0 when the body is whole).
    pub missing: usize,
}

/// Walks the tags of a seekable source reading only their headers and first bytes: small
/// windows of the file around each header (one `pread` each), skipping over payloads.
/// Sequence headers, script tags and (when asked) video bodies are read whole. Each tag's
/// `PreviousTagSize` is checked as the next header is read (same window); at a damaged stretch
/// or a tag cut short the scan stops and says why in [`damage`](Self::damage), since only the
/// full reader can find the next valid tag.
pub struct HeaderScan<'a> {
    src: &'a mut Source,
    /// `win[..win_len]` holds the bytes at `win_start`; the rest is reusable space.
    win: Vec<u8>,
    win_len: usize,
    win_start: u64,
    at: u64,
    /// What the `PreviousTagSize` before `at` must say.
    prev_size: u32,
    /// Why the scan stopped before the end of the input, when it did.
    pub damage: Option<FormatError>,
}

impl<'a> HeaderScan<'a> {
    /// A scan from the tag header at `at` (just after the file's first `PreviousTagSize`).
    pub fn new(src: &'a mut Source, at: u64) -> Self {
        HeaderScan {
            src,
            win: Vec::new(),
            win_len: 0,
            win_start: 0,
            at,
            prev_size: 0,
            damage: None,
        }
    }

    /// `n` bytes at `at` (fewer at the end of the input), from the window or a new read.
    fn bytes_at(&mut self, at: u64, n: usize) -> Result<&[u8], FormatError> {
        let in_window =
            at >= self.win_start && at + n as u64 <= self.win_start + self.win_len as u64;
        if !in_window {
            // Never more than the input still holds: a corrupt size costs no memory.
            let left = self.src.len().map_or(u64::MAX, |l| l.saturating_sub(at));
            let want = n
                .max(SCAN_WINDOW)
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            if self.win.len() < want {
                self.win.resize(want, 0);
            }
            self.win_len = 0;
            self.win_len = self
                .src
                .read_at(at, &mut self.win[..want])
                .map_err(|e| FormatError::io(FORMAT, at, e))?;
            self.win_start = at;
        }
        let from = (at - self.win_start) as usize;
        let to = (from + n).min(self.win_len);
        Ok(self.win.get(from..to).unwrap_or(&[]))
    }

    /// The next tag, or `None` at the end (or where the scan found damage: see
    /// [`damage`](Self::damage)). Sequence headers are always read whole; other video
    /// (audio) tags when `whole_video` (`whole_audio`) asks for it.
    pub fn next(
        &mut self,
        whole_video: bool,
        whole_audio: bool,
    ) -> Result<Option<ScanTag>, FormatError> {
        if self.damage.is_some() {
            return Ok(None);
        }
        let at = self.at;
        let trailer = at.saturating_sub(PREV_TAG_SIZE_LEN as u64);
        const LOOK: usize = PREV_TAG_SIZE_LEN + TAG_HEADER_LEN + SCAN_PREFIX;
        let mut look = [0u8; LOOK];
        let got = {
            let b = self.bytes_at(trailer, LOOK)?;
            look[..b.len()].copy_from_slice(b);
            b.len()
        };
        let (prev, head) = look[..got].split_at(got.min(PREV_TAG_SIZE_LEN));
        if head.is_empty() {
            // The end: a missing last PreviousTagSize is tolerated, a cut one is not.
            if !prev.is_empty() && prev.len() < PREV_TAG_SIZE_LEN {
                self.damage = Some(FormatError::new(
                    FORMAT,
                    trailer,
                    Problem::Truncated {
                        what: "PreviousTagSize",
                        need: (PREV_TAG_SIZE_LEN - prev.len()) as u64,
                    },
                ));
            }
            return Ok(None);
        }
        let prev = prev
            .try_into()
            .map(u32::from_be_bytes)
            .unwrap_or(self.prev_size);
        let Some(hb) = head.get(..TAG_HEADER_LEN) else {
            self.damage = Some(FormatError::new(
                FORMAT,
                at,
                Problem::Truncated {
                    what: "tag header",
                    need: (TAG_HEADER_LEN - head.len()) as u64,
                },
            ));
            return Ok(None);
        };
        let mut hbuf = [0u8; TAG_HEADER_LEN];
        hbuf.copy_from_slice(hb);
        let h = TagHeader::from_bytes(&hbuf);
        let known = matches!(
            h.tag_type,
            TagType::AUDIO | TagType::VIDEO | TagType::SCRIPT
        ) && h.reserved == 0;
        if prev != self.prev_size || !known {
            self.damage = Some(FormatError::invalid(
                FORMAT,
                if prev != self.prev_size { trailer } else { at },
                if prev != self.prev_size {
                    format!(
                        "PreviousTagSize is {prev} but the tag before it takes {} bytes",
                        self.prev_size
                    )
                } else {
                    format!("no valid tag here (type {})", h.tag_type.0)
                },
            ));
            return Ok(None);
        }
        let size = h.data_size as usize;
        let prefix = &head[TAG_HEADER_LEN..];
        let prefix = &prefix[..prefix.len().min(size)];
        let whole = match h.tag_type {
            TagType::SCRIPT => size <= super::reader::MAX_SCRIPT_DECODE,
            TagType::VIDEO => whole_video || is_config(&h, prefix),
            TagType::AUDIO => whole_audio || is_config(&h, prefix),
            _ => false,
        } || size <= SCAN_PREFIX;
        let end = at + u64::from(h.tag_size());
        if self.src.len().is_some_and(|l| end > l) {
            self.damage = Some(FormatError::new(
                FORMAT,
                at,
                Problem::Truncated {
                    what: "tag body (the tag runs past the end of the file)",
                    need: end - self.src.len().unwrap_or(end),
                },
            ));
            return Ok(None);
        }
        let prefix = Bytes::copy_from_slice(prefix);
        let body = if whole {
            let b = self.bytes_at(at + TAG_HEADER_LEN as u64, size)?;
            if b.len() < size {
                self.damage = Some(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Truncated {
                        what: "tag body (the tag runs past the end of the file)",
                        need: (size - b.len()) as u64,
                    },
                ));
                return Ok(None);
            }
            Bytes::copy_from_slice(b)
        } else {
            prefix
        };
        self.prev_size = h.tag_size();
        self.at = end + PREV_TAG_SIZE_LEN as u64;
        Ok(Some(ScanTag {
            missing: size - body.len(),
            tag: Tag {
                offset: at,
                header: h,
                body,
            },
        }))
    }
}

/// True when a tag is a sequence header whose whole body the stream state needs.
fn is_config(h: &TagHeader, prefix: &[u8]) -> bool {
    match (h.tag_type, prefix) {
        (TagType::AUDIO, [f, 0, ..]) => f >> 4 == 10,
        (TagType::VIDEO, [f, pt, ..]) if f & 0x80 == 0 => *pt == 0 && matches!(f & 0x0F, 7 | 12),
        (TagType::VIDEO, [f, ..]) => matches!(f & 0x0F, 0 | 5),
        _ => false,
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
        if let Some(e) = self.late_error.take() {
            return Err(e);
        }
        loop {
            match self.next_event()? {
                None => {
                    // Counted, and said once at the end.
                    for (track, (at, n)) in std::mem::take(&mut self.late) {
                        self.findings.push(Finding::warning(
                            at,
                            format!(
                                "track {track} first appears here, after the look-ahead at open: its {n} packets are not read"
                            ),
                        ));
                    }
                    return Ok(None);
                }
                Some(Event::Packet(p)) => {
                    if self.meta.track(p.track).is_some() {
                        return Ok(Some(p));
                    }
                    self.late
                        .entry(p.track)
                        .or_insert((p.pos.unwrap_or(0), 0))
                        .1 += 1;
                }
                Some(other) => self.note(other),
            }
        }
    }

    fn build_index(&mut self) -> Result<(), FormatError> {
        if self.meta.index.is_none() && self.src.is_seekable() {
            let idx = self.scan_index()?;
            self.meta.index = Some(idx);
        }
        Ok(())
    }

    fn seek(&mut self, to: Time) -> Result<(), FormatError> {
        self.build_index()?;
        let Some(index) = &self.meta.index else {
            return Err(FormatError::new(
                FORMAT,
                0,
                Problem::Unsupported("seeking in FLV from a stream that cannot seek".into()),
            ));
        };
        let mut best: Option<(u64, Ticks)> = None;
        for (t, ti) in self.meta.tracks.iter().zip(&index.tracks) {
            if let Some(k) = ti.key_at_or_before(to.ceil_in(t.timebase)) {
                if best.map_or(true, |(p, _)| k.pos < p) {
                    best = Some((k.pos, k.time));
                }
            }
        }
        let (pos, time) = best.unwrap_or((self.data_start, Ticks(0)));
        self.src
            .seek(SeekFrom::Start(pos))
            .map_err(|e| FormatError::io(FORMAT, pos, e))?;
        self.read_pos = pos;
        self.eof = false;
        self.finished = false;
        self.queue.clear();
        self.late_error = None;
        // Events parsed before the seek (the read-ahead of `open`) must not come out after it.
        self.reader.restart_at(pos);
        // Index times are on the timeline: resume it as it was at the last jump before `pos`
        // (the file's own clock from there), or from the start.
        let (clock, mut timeline) = match self.jumps.iter().rev().find(|j| j.0 <= pos) {
            Some((_, clock, tl)) => (*clock, tl.clone()),
            None => (best.is_some().then_some(time.0), Timeline::bridge()),
        };
        timeline.resume();
        let streams = self.reader.streams_mut();
        streams.set_clock(clock);
        streams.set_timeline(Some(timeline));
        Ok(())
    }

    fn rewind(&mut self) -> Result<(), FormatError> {
        let pos = self.data_start;
        self.src
            .seek(SeekFrom::Start(pos))
            .map_err(|e| FormatError::io(FORMAT, pos, e))?;
        self.read_pos = pos;
        self.eof = false;
        self.finished = false;
        self.queue.clear();
        self.late_error = None;
        self.reader.restart_at(pos);
        self.reader.streams_mut().set_clock(None);
        self.reader
            .streams_mut()
            .set_timeline(Some(Timeline::bridge()));
        Ok(())
    }

    fn position(&self) -> u64 {
        self.reader.offset()
    }

    fn drop_index(&mut self) {
        self.meta.index = None;
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }
}
