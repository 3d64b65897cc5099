//! The sans-IO FLV reader: feed bytes as they arrive (a file, a socket, an HTTP body), take
//! events out. Two layers:
//!
//! - [`TagReader`] frames the input: the file header, then `PreviousTagSize` + tag, checking each
//!   `PreviousTagSize` against the tag before it (a mismatch is a [`Finding`]) and resyncing on
//!   garbage. It hands out whole tags as [`Tag`]s whose bodies are slices of the fed chunks.
//! - [`Streams`] turns tags into the stream model: tracks (created when the first tag of a kind
//!   appears, as FFmpeg's `flvdec.c` does, whatever the header flags say), codec configuration from
//!   sequence headers, and packets with unwrapped timestamps in canonical framing.
//!
//! [`Reader`] joins them; `analyse` uses the two layers apart to see every tag.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::dtsc::time::Unwrapper;
use crate::dtsc::timeline::Timeline;
use crate::dtsc::{Audio, Codec, Packet, Params, Ticks, Timebase, Track, TrackId, TrackKind};
use crate::formats::error::{FormatError, Problem};
use crate::formats::Finding;
use crate::io::Cursor;

use super::amf0;
use super::codecs;
use super::header::{Header, HEADER_LEN};
use super::tag::{
    codec_id, frame_type, AudioTagHeader, SoundFormat, TagHeader, TagType, VideoCodec, VideoPacket,
    VideoTagHeader, FOURCC_AV01, FOURCC_AVC1, FOURCC_HVC1, FOURCC_VP09, PREV_TAG_SIZE_LEN,
    TAG_HEADER_LEN,
};
use super::FORMAT;

/// Track id of the video track.
pub const VIDEO_TRACK: TrackId = TrackId(1);
/// Track id of the audio track.
pub const AUDIO_TRACK: TrackId = TrackId(2);
/// How far past a broken tag the reader looks for the next valid one before giving up.
pub const RESYNC_WINDOW: usize = 1 << 20;
/// Script tags whose AMF0 body is larger than this are not decoded (kept as bytes).
pub const MAX_SCRIPT_DECODE: usize = 1 << 20;

/// One tag as framed: where it starts, its header, and its body (a shared slice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// Absolute offset of the tag header.
    pub offset: u64,
    /// The 11-byte header.
    pub header: TagHeader,
    /// `DataSize` bytes of body.
    pub body: Bytes,
}

/// What the framing layer hands out.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// The file header.
    Header(Header),
    /// A whole tag.
    Tag(Tag),
    /// A problem the framing found (size mismatch, skipped bytes).
    Finding(Finding),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the 9-byte file header.
    Header,
    /// Skipping the rest of a `DataOffset` larger than 9.
    Padding(u64),
    /// Waiting for the `PreviousTagSize` that should equal this.
    PrevSize(u32),
    /// Waiting for a tag header (and then its body).
    Tag,
}

/// Bytes fed but not yet consumed, as the chunks they came in (no copies until a structure
/// straddles two chunks).
#[derive(Default, Debug)]
struct Chunks {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl Chunks {
    fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.chunks.push_back(b);
        }
    }

    /// Copies the first `N` bytes (if buffered) into an array.
    fn peek<const N: usize>(&self) -> Option<[u8; N]> {
        self.peek_at::<N>(0)
    }

    fn peek_at<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        if self.len < at + N {
            return None;
        }
        let mut out = [0u8; N];
        let mut skip = at;
        let mut filled = 0;
        for c in &self.chunks {
            if skip >= c.len() {
                skip -= c.len();
                continue;
            }
            let part = &c[skip..];
            skip = 0;
            let n = part.len().min(N - filled);
            out[filled..filled + n].copy_from_slice(&part[..n]);
            filled += n;
            if filled == N {
                break;
            }
        }
        Some(out)
    }

    /// Takes `n` buffered bytes (caller checked `len`).
    fn take(&mut self, n: usize) -> Bytes {
        if let Some(front) = self.chunks.front_mut() {
            if front.len() >= n {
                let out = front.split_to(n);
                if front.is_empty() {
                    self.chunks.pop_front();
                }
                self.len -= n;
                return out;
            }
        }
        // The structure straddles chunks: gathered into one buffer here (one copy per
        // straddling tag; tags inside a chunk stay slices of it).
        let mut out = BytesMut::with_capacity(n);
        let mut left = n;
        while left > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let k = left.min(front.len());
            out.extend_from_slice(&front.split_to(k));
            if front.is_empty() {
                self.chunks.pop_front();
            }
            left -= k;
        }
        self.len -= n - left;
        out.freeze()
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }
}

/// The framing layer: header, `PreviousTagSize` checks, whole tags.
///
/// A tag is handed out once the `PreviousTagSize` after it is read (or the input ends), so a
/// tag whose trailer is wrong *and* is followed by no valid tag is known to be part of a
/// damaged stretch and is dropped with it: one finding per damaged stretch, saying how many
/// bytes were skipped.
#[derive(Debug)]
pub struct TagReader {
    buf: Chunks,
    /// Absolute offset of the first unconsumed byte.
    offset: u64,
    state: State,
    pending: VecDeque<Item>,
    /// The last tag, waiting for its `PreviousTagSize`.
    held: Option<Tag>,
    /// A `PreviousTagSize` found wrong: (its offset, the value, the expected value). What
    /// follows decides whether it was only a bad field or the start of a damaged stretch.
    suspect: Option<(u64, u32, u32)>,
    /// The input has ended ([`finish`](Self::finish)).
    eof: bool,
    /// What the end of input left to say, handed out after the pending items.
    end_error: Option<FormatError>,
    ended: bool,
}

impl Default for TagReader {
    fn default() -> Self {
        Self::new()
    }
}

/// True for the tag types FLV defines, with the reserved bits clear.
fn plausible(h: &TagHeader) -> bool {
    matches!(
        h.tag_type,
        TagType::AUDIO | TagType::VIDEO | TagType::SCRIPT
    ) && h.reserved == 0
}

impl TagReader {
    /// A reader expecting the FLV header at offset 0.
    pub fn new() -> TagReader {
        TagReader {
            buf: Chunks::default(),
            offset: 0,
            state: State::Header,
            pending: VecDeque::new(),
            held: None,
            suspect: None,
            eof: false,
            end_error: None,
            ended: false,
        }
    }

    /// A reader resuming at a tag header at `offset` (after a seek).
    pub fn at_tag(offset: u64) -> TagReader {
        TagReader {
            state: State::Tag,
            offset,
            ..TagReader::new()
        }
    }

    /// Absolute offset of the next byte the reader has not consumed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes fed and not consumed yet.
    pub fn buffered(&self) -> usize {
        self.buf.len
    }

    /// Drops all buffered bytes and continues at a tag header at `offset`.
    pub fn reset_to_tag(&mut self, offset: u64) {
        self.buf.clear();
        self.pending.clear();
        self.held = None;
        self.offset = offset;
        self.state = State::Tag;
        self.suspect = None;
        self.eof = false;
        self.end_error = None;
        self.ended = false;
    }

    /// Hands over the next chunk of input.
    pub fn feed(&mut self, chunk: Bytes) {
        self.buf.push(chunk);
    }

    fn consume(&mut self, n: usize) -> Bytes {
        self.offset += n as u64;
        self.buf.take(n)
    }

    /// The next item, `Ok(None)` when more bytes are needed (or, after
    /// [`finish`](Self::finish), at the end). After `finish`, a stream that stopped inside a
    /// structure gives its last items and then that error.
    pub fn next_item(&mut self) -> Result<Option<Item>, FormatError> {
        loop {
            if let Some(i) = self.pending.pop_front() {
                return Ok(Some(i));
            }
            if self.ended {
                return match self.end_error.take() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
            if !self.step()? {
                if self.eof {
                    self.end();
                    continue;
                }
                return Ok(None);
            }
        }
    }

    /// One step of framing; false when more input is needed.
    fn step(&mut self) -> Result<bool, FormatError> {
        match self.state {
            State::Header => {
                let Some(h) = self.buf.peek::<{ HEADER_LEN as usize }>() else {
                    return Ok(false);
                };
                let header = Header::parse(&mut Cursor::from_slice(&h, self.offset, FORMAT))?;
                self.consume(HEADER_LEN as usize);
                let pad = u64::from(header.data_offset - HEADER_LEN);
                self.state = if pad > 0 {
                    State::Padding(pad)
                } else {
                    State::PrevSize(0)
                };
                self.pending.push_back(Item::Header(header));
            }
            State::Padding(left) => {
                let n = (left as usize).min(self.buf.len);
                if n == 0 {
                    return Ok(false);
                }
                self.consume(n);
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::PrevSize(0)
                } else {
                    State::Padding(left)
                };
            }
            State::PrevSize(want) => {
                let Some(b) = self.buf.peek::<PREV_TAG_SIZE_LEN>() else {
                    return Ok(false);
                };
                let got = u32::from_be_bytes(b);
                let at = self.offset;
                self.consume(PREV_TAG_SIZE_LEN);
                self.state = State::Tag;
                if got == want {
                    self.release();
                } else {
                    self.suspect = Some((at, got, want));
                }
            }
            State::Tag => {
                let Some(h) = self.buf.peek::<TAG_HEADER_LEN>() else {
                    return Ok(false);
                };
                let header = TagHeader::from_bytes(&h);
                if !plausible(&header) {
                    // An unknown tag type framed by a right PreviousTagSize is a tag (kept,
                    // and reported by the stream layer); anything else is garbage.
                    let total = TAG_HEADER_LEN + header.data_size as usize;
                    let framed = if self.suspect.is_some() || total > RESYNC_WINDOW {
                        Some(false)
                    } else {
                        self.buf
                            .peek_at::<PREV_TAG_SIZE_LEN>(total)
                            .map(|s| u32::from_be_bytes(s) == header.tag_size())
                    };
                    match framed {
                        Some(true) => {}
                        Some(false) => return self.resync(),
                        None if self.eof => return self.resync(),
                        None => return Ok(false),
                    }
                }
                let total = TAG_HEADER_LEN + header.data_size as usize;
                if self.buf.len < total {
                    return Ok(false);
                }
                // The tag before had a wrong trailer but this one is a tag: the field was bad,
                // the tag is kept.
                self.release();
                let offset = self.offset;
                let mut raw = self.consume(total);
                let body = raw.split_off(TAG_HEADER_LEN);
                self.state = State::PrevSize(header.tag_size());
                self.held = Some(Tag {
                    offset,
                    header,
                    body,
                });
            }
        }
        Ok(true)
    }

    /// Hands out the held tag, and the finding about a wrong `PreviousTagSize` after it.
    fn release(&mut self) {
        if let Some(t) = self.held.take() {
            self.pending.push_back(Item::Tag(t));
        }
        if let Some((at, got, want)) = self.suspect.take() {
            self.pending.push_back(Item::Finding(Finding::error(
                at,
                format!("PreviousTagSize is {got} but the tag before it takes {want} bytes"),
            )));
        }
    }

    /// Skips garbage up to the next offset where a plausible tag starts and is followed by the
    /// right `PreviousTagSize`; the held tag, when its own trailer was wrong, goes with it.
    /// Returns false when more input is needed to decide.
    fn resync(&mut self) -> Result<bool, FormatError> {
        let limit = self.buf.len.min(RESYNC_WINDOW);
        let mut found = None;
        for p in 1..limit {
            let Some(h) = self.buf.peek_at::<TAG_HEADER_LEN>(p) else {
                break;
            };
            let t = TagHeader::from_bytes(&h);
            if !plausible(&t) || t.stream_id != 0 {
                continue;
            }
            let end = p + TAG_HEADER_LEN + t.data_size as usize;
            match self.buf.peek_at::<PREV_TAG_SIZE_LEN>(end) {
                Some(s) if u32::from_be_bytes(s) == t.tag_size() => {
                    found = Some(p);
                    break;
                }
                Some(_) => continue,
                // Can't tell yet; more input may settle it.
                None if !self.eof && self.buf.len < RESYNC_WINDOW => return Ok(false),
                None => continue,
            }
        }
        if found.is_none() && !self.eof && self.buf.len < RESYNC_WINDOW {
            return Ok(false);
        }
        // Where the damaged stretch starts: the held tag when its trailer was wrong too.
        let (from, dropped) = match (self.suspect.take(), self.held.take()) {
            (Some(_), Some(t)) => (t.offset, true),
            (Some((at, _, _)), None) => (at, false),
            (None, held) => {
                if let Some(t) = held {
                    self.pending.push_back(Item::Tag(t));
                }
                (self.offset, false)
            }
        };
        let what = if dropped {
            "a tag with a wrong PreviousTagSize and no valid tag after it"
        } else {
            "no valid tag here"
        };
        match found {
            Some(p) => {
                self.consume(p);
                self.pending.push_back(Item::Finding(Finding::error(
                    from,
                    format!(
                        "{what}: {} bytes skipped to the next tag at byte {}",
                        self.offset - from,
                        self.offset
                    ),
                )));
                Ok(true)
            }
            None if self.buf.len >= RESYNC_WINDOW => Err(FormatError::invalid(
                FORMAT,
                from,
                format!("{what}, nor within {RESYNC_WINDOW} bytes after it"),
            )),
            None => {
                // The input ended before a valid tag came.
                let n = self.buf.len;
                self.consume(n);
                self.end_error = Some(FormatError::invalid(
                    FORMAT,
                    from,
                    format!(
                        "{what} before the end of the file ({} bytes skipped)",
                        self.offset - from
                    ),
                ));
                self.ended = true;
                Ok(true)
            }
        }
    }

    /// The input ended here: hand out the held tag and say what was cut short.
    fn end(&mut self) {
        self.ended = true;
        let left = self.buf.len;
        let at = self.offset;
        match self.state {
            State::PrevSize(want) if left == 0 && want != 0 => {
                // The tag is whole; only its trailer is missing (tolerated).
                if let Some(t) = self.held.take() {
                    self.pending.push_back(Item::Tag(t));
                }
                self.pending.push_back(Item::Finding(Finding::warning(
                    at,
                    "the file ends without the last PreviousTagSize",
                )));
            }
            State::PrevSize(_) | State::Tag if left == 0 => self.release(),
            State::Header => {
                self.end_error = Some(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Truncated {
                        what: "FLV header",
                        need: (HEADER_LEN as usize - left) as u64,
                    },
                ))
            }
            State::Padding(n) => {
                self.end_error = Some(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Truncated {
                        what: "FLV header padding",
                        need: n - left as u64,
                    },
                ))
            }
            State::PrevSize(_) => {
                // The tag is whole, its trailer cut: keep the tag, report the cut.
                if let Some(t) = self.held.take() {
                    self.pending.push_back(Item::Tag(t));
                }
                self.end_error = Some(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Truncated {
                        what: "PreviousTagSize",
                        need: (PREV_TAG_SIZE_LEN - left) as u64,
                    },
                ))
            }
            State::Tag => {
                self.release();
                let need = match self.buf.peek::<TAG_HEADER_LEN>() {
                    None => (TAG_HEADER_LEN - left) as u64,
                    Some(h) => {
                        let t = TagHeader::from_bytes(&h);
                        (TAG_HEADER_LEN + t.data_size as usize).saturating_sub(left) as u64
                    }
                };
                // Reported where the cut tag starts: everything from there on is lost.
                self.end_error = Some(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Truncated {
                        what: if left < TAG_HEADER_LEN {
                            "tag header"
                        } else {
                            "tag body (the tag runs past the end of the file)"
                        },
                        need,
                    },
                ));
            }
        }
    }

    /// End of input: what is buffered is framed, and [`next_item`](Self::next_item) then
    /// hands out the last items and, when the stream stopped inside a structure, the error.
    pub fn finish(&mut self) {
        self.eof = true;
    }
}

/// A script tag: its name (`onMetaData`) and decoded arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// Offset of the tag.
    pub offset: u64,
    /// Tag timestamp in ms.
    pub timestamp_ms: u32,
    /// The AMF0 values of the body (first is normally the name string).
    pub values: Vec<amf0::Value>,
}

impl Script {
    /// The name (first value, when it is a string).
    pub fn name(&self) -> Option<&str> {
        self.values.first().and_then(amf0::Value::as_str)
    }
}

/// What [`Streams`] makes of a tag.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The track list, when a track appears or its configuration changes.
    Tracks(Vec<Track>),
    /// A media packet.
    Packet(Packet),
    /// A script tag (`onMetaData` and others); not a track.
    Script(Script),
    /// A non-fatal problem.
    Finding(Finding),
}

#[derive(Clone, Debug)]
struct VideoState {
    track: Track,
    /// Bytes in each NAL length prefix (from the avcC/hvcC), when configured.
    nal_len: Option<u8>,
}

#[derive(Clone, Debug)]
struct AudioState {
    track: Track,
    format: SoundFormat,
    configured: bool,
}

/// Per-stream state: tracks, configuration, the timestamp unwrapper.
#[derive(Clone, Debug)]
pub struct Streams {
    video: Option<VideoState>,
    audio: Option<AudioState>,
    /// Track ids in the order the tracks appeared (FFmpeg lists streams in that order).
    order: Vec<TrackId>,
    /// The last unwrapped timestamp in ms.
    clock: Option<i64>,
    warned_early: [bool; 2],
    /// Bridges timestamp jumps (demuxing); `None` keeps the file's times (analysing).
    timeline: Option<Timeline>,
}

impl Default for Streams {
    fn default() -> Self {
        Self::new()
    }
}

impl Streams {
    /// No tracks yet.
    pub fn new() -> Streams {
        Streams {
            video: None,
            audio: None,
            order: Vec::new(),
            clock: None,
            warned_early: [false; 2],
            timeline: None,
        }
    }

    /// The tracks so far, in order of appearance.
    pub fn tracks(&self) -> Vec<Track> {
        self.order
            .iter()
            .filter_map(|id| match *id {
                VIDEO_TRACK => self.video.as_ref().map(|v| v.track.clone()),
                _ => self.audio.as_ref().map(|a| a.track.clone()),
            })
            .collect()
    }

    /// True when every track so far has the configuration its codec needs.
    pub fn configured(&self) -> bool {
        let v = self
            .video
            .as_ref()
            .is_none_or(|v| v.nal_len.is_some() || !needs_config(&v.track.codec));
        let a = self
            .audio
            .as_ref()
            .is_none_or(|a| a.configured || !needs_config(&a.track.codec));
        v && a
    }

    /// True when a track of `kind` exists.
    pub fn has(&self, kind: TrackKind) -> bool {
        match kind {
            TrackKind::Video => self.video.is_some(),
            TrackKind::Audio => self.audio.is_some(),
            _ => false,
        }
    }

    /// Continues the clock from a known time (after a seek; `None` restarts it), so
    /// unwrapping stays right.
    pub fn set_clock(&mut self, ms: Option<i64>) {
        self.clock = ms;
    }

    /// The last unwrapped timestamp, in the file's own time (ms).
    pub fn clock(&self) -> Option<i64> {
        self.clock
    }

    /// Runs packet times through `timeline` (discontinuities bridged or observed).
    pub fn set_timeline(&mut self, timeline: Option<Timeline>) {
        self.timeline = timeline;
    }

    /// The timeline, when one is set.
    pub fn timeline(&self) -> Option<&Timeline> {
        self.timeline.as_ref()
    }

    /// Hands a packet out through the timeline.
    fn emit(&mut self, mut p: Packet, out: &mut Vec<Event>) {
        if let Some(tl) = &mut self.timeline {
            let slot = usize::from(p.track != VIDEO_TRACK);
            let placed = tl.place(slot, Timebase::MS, p.dts);
            if let Some(f) = crate::formats::timeline_finding(&placed, p.pos.unwrap_or(0), p.track)
            {
                out.push(Event::Finding(f));
            }
            placed.apply(&mut p.dts, &mut p.cts);
        }
        out.push(Event::Packet(p));
    }

    /// Bytes per NAL length prefix of the video track, once its configuration is known.
    pub fn nal_len(&self) -> Option<u8> {
        self.video.as_ref().and_then(|v| v.nal_len)
    }

    /// Turns one tag into events (appended to `out`).
    pub fn handle(&mut self, tag: &Tag, out: &mut Vec<Event>) {
        let h = &tag.header;
        if h.filter {
            out.push(Event::Finding(Finding::warning(
                tag.offset,
                format!(
                    "{:?} tag is encrypted (Filter bit set); skipped",
                    h.tag_type
                ),
            )));
            return;
        }
        match h.tag_type {
            TagType::AUDIO => self.audio_tag(tag, out),
            TagType::VIDEO => self.video_tag(tag, out),
            TagType::SCRIPT => script_tag(tag, out),
            other => out.push(Event::Finding(Finding::warning(
                tag.offset,
                format!("unknown tag type {} skipped", other.0),
            ))),
        }
    }

    /// The tag's 32-bit timestamp unwrapped next to the previous one (one clock for all
    /// tracks: tags are interleaved in time order, so jitter between tracks stays small).
    fn time(&mut self, h: &TagHeader) -> Ticks {
        let raw = u64::from(h.timestamp_ms);
        let t = match self.clock {
            None => raw as i64,
            Some(last) => Unwrapper::place_near(32, raw, last),
        };
        self.clock = Some(t);
        Ticks(t)
    }

    fn note_order(&mut self, id: TrackId, out: &mut Vec<Event>) {
        if !self.order.contains(&id) {
            self.order.push(id);
        }
        out.push(Event::Tracks(self.tracks()));
    }

    fn audio_tag(&mut self, tag: &Tag, out: &mut Vec<Event>) {
        // FFmpeg skips empty tags before looking at them.
        if tag.body.is_empty() {
            return;
        }
        let body_at = tag.offset + TAG_HEADER_LEN as u64;
        let mut c = Cursor::new(tag.body.clone(), body_at, FORMAT);
        let ah = match AudioTagHeader::parse(&mut c) {
            Ok(h) => h,
            Err(e) => return bad_tag(out, tag, &e),
        };
        let codec = audio_codec(ah.sound_format);
        if let Some(a) = &self.audio {
            if a.format != ah.sound_format && !same_codec(a.format, ah.sound_format) {
                out.push(Event::Finding(Finding::error(
                    tag.offset,
                    format!(
                        "audio codec changes from {} to {} mid-stream; tag skipped",
                        a.format.name(),
                        ah.sound_format.name()
                    ),
                )));
                return;
            }
        } else {
            let mut t = Track::new(AUDIO_TRACK, TrackKind::Audio, codec, Timebase::MS);
            t.params = Params::Audio(Audio {
                rate: if ah.sound_format == SoundFormat::MP3_8K {
                    8000
                } else {
                    ah.rate_hz()
                },
                channels: u32::from(ah.sound_type) + 1,
                sample_bits: if ah.sound_size == 1 { 16 } else { 8 },
            });
            self.audio = Some(AudioState {
                track: t,
                format: ah.sound_format,
                configured: false,
            });
            self.note_order(AUDIO_TRACK, out);
        }
        // Sequence headers do not move the clock (writers stamp them 0 whatever follows).
        let dts = if ah.aac_packet_type == Some(0) {
            Ticks(0)
        } else {
            self.time(&tag.header)
        };
        let payload = c.rest();
        let mut emit_tracks = false;
        let mut packet = None;
        if let Some(a) = self.audio.as_mut() {
            if ah.aac_packet_type == Some(0) && payload.is_empty() {
                // ffmpeg writes an empty one first when the config only comes with the first
                // frame (ADTS input through aac_adtstoasc); the real one follows.
                out.push(Event::Finding(Finding::info(
                    tag.offset,
                    "empty AAC sequence header skipped",
                )));
            } else if ah.aac_packet_type == Some(0) {
                let changed = a.configured && a.track.init != payload;
                if changed {
                    out.push(Event::Finding(Finding::warning(
                        tag.offset,
                        "new AAC sequence header mid-stream (audio configuration changes)",
                    )));
                }
                if !a.configured || changed {
                    match codecs::aac_params(&payload) {
                        Some(p) => a.track.params = Params::Audio(p),
                        None => out.push(Event::Finding(Finding::error(
                            body_at + 2,
                            "AudioSpecificConfig cannot be parsed",
                        ))),
                    }
                    a.track.init = payload;
                    a.configured = true;
                    emit_tracks = true;
                }
            } else if !payload.is_empty() {
                if a.track.codec == Codec::Mp3 && !a.configured {
                    // The MP3 frame header knows the rate better than the SoundRate bits
                    // (48 kHz MP3 is flagged as 44 kHz).
                    if let Some(p) = codecs::mp3_params(&payload) {
                        a.track.params = Params::Audio(p);
                        emit_tracks = true;
                    }
                    a.configured = true;
                }
                if needs_config(&a.track.codec) && !a.configured && !self.warned_early[1] {
                    self.warned_early[1] = true;
                    out.push(Event::Finding(Finding::error(
                        tag.offset,
                        "AAC frame before the AAC sequence header (kept, as FFmpeg does)",
                    )));
                }
                packet = Some(Packet {
                    track: AUDIO_TRACK,
                    dts,
                    cts: 0,
                    // FFmpeg marks every audio packet a keyframe.
                    keyframe: true,
                    data: payload,
                    pos: Some(tag.offset),
                });
            }
        }
        if emit_tracks {
            out.push(Event::Tracks(self.tracks()));
        }
        if let Some(p) = packet {
            self.emit(p, out);
        }
    }

    fn video_tag(&mut self, tag: &Tag, out: &mut Vec<Event>) {
        if tag.body.is_empty() {
            return;
        }
        let body_at = tag.offset + TAG_HEADER_LEN as u64;
        let mut c = Cursor::new(tag.body.clone(), body_at, FORMAT);
        let vh = match VideoTagHeader::parse(&mut c) {
            Ok(h) => h,
            Err(e) => return bad_tag(out, tag, &e),
        };
        // Command frames carry no picture; FFmpeg skips them.
        if vh.frame_type == frame_type::INFO {
            return;
        }
        let codec = match video_codec(&vh.codec) {
            Ok(c) => c,
            Err(why) => {
                out.push(Event::Finding(Finding::error(tag.offset, why)));
                return;
            }
        };
        if let VideoPacket::Unsupported(pt) = vh.packet {
            out.push(Event::Finding(Finding::warning(
                tag.offset,
                format!("video PacketType {pt} is not supported; tag skipped"),
            )));
            return;
        }
        if let Some(v) = &self.video {
            if v.track.codec != codec {
                out.push(Event::Finding(Finding::error(
                    tag.offset,
                    format!(
                        "video codec changes from {} to {} mid-stream; tag skipped",
                        v.track.codec.ffprobe_name(),
                        codec.ffprobe_name()
                    ),
                )));
                return;
            }
        } else {
            self.video = Some(VideoState {
                track: Track::new(VIDEO_TRACK, TrackKind::Video, codec, Timebase::MS),
                nal_len: None,
            });
            self.note_order(VIDEO_TRACK, out);
        }
        let dts = if matches!(vh.packet, VideoPacket::CodedFrames | VideoPacket::Frame) {
            self.time(&tag.header)
        } else {
            Ticks(0)
        };
        let payload = c.rest();
        let payload_at = c.offset() - payload.len() as u64;
        let Some(v) = self.video.as_mut() else { return };
        match vh.packet {
            VideoPacket::SequenceStart | VideoPacket::Mpeg2TsSequenceStart => {
                let mut params = None;
                let mut codec_now = v.track.codec.clone();
                if matches!(codec_now, Codec::H264 | Codec::Hevc) {
                    match codecs::video_config(&payload, &codec_now) {
                        Some((actual, nal_len, p)) => {
                            if actual != codec_now {
                                out.push(Event::Finding(Finding::warning(
                                    payload_at,
                                    format!(
                                        "the {} tag carries an {} configuration record; read as {}",
                                        codec_now.ffprobe_name(),
                                        actual.ffprobe_name(),
                                        actual.ffprobe_name()
                                    ),
                                )));
                                codec_now = actual;
                            }
                            v.nal_len = Some(nal_len);
                            params = Some(p);
                        }
                        None => {
                            out.push(Event::Finding(Finding::error(
                                payload_at,
                                "decoder configuration record cannot be parsed",
                            )));
                            return;
                        }
                    }
                } else {
                    v.nal_len = Some(4);
                }
                let first = v.track.init.is_empty();
                if !first && v.track.init == payload {
                    return;
                }
                if !first {
                    out.push(Event::Finding(Finding::warning(
                        tag.offset,
                        "new video sequence header mid-stream (parameter sets change)",
                    )));
                }
                v.track.codec = codec_now;
                v.track.framing = v.track.codec.canonical_framing();
                v.track.init = payload;
                if let Some(p) = params {
                    v.track.params = Params::Video(p);
                }
                out.push(Event::Tracks(self.tracks()));
            }
            VideoPacket::SequenceEnd | VideoPacket::Metadata => {}
            VideoPacket::CodedFrames | VideoPacket::Frame => {
                if payload.is_empty() {
                    return;
                }
                let data = if matches!(v.track.codec, Codec::H264 | Codec::Hevc) {
                    match v.nal_len {
                        None => {
                            if !self.warned_early[0] {
                                self.warned_early[0] = true;
                                out.push(Event::Finding(Finding::error(
                                    tag.offset,
                                    "video frame before the sequence header (kept, as FFmpeg does)",
                                )));
                            }
                            payload
                        }
                        Some(4) => payload,
                        Some(n) => match codecs::to_four_byte_lengths(&payload, n) {
                            Some(d) => d,
                            None => {
                                out.push(Event::Finding(Finding::error(
                                    payload_at,
                                    "NAL unit lengths run past the end of the tag",
                                )));
                                payload
                            }
                        },
                    }
                } else {
                    payload
                };
                let p = Packet {
                    track: VIDEO_TRACK,
                    dts,
                    cts: vh.composition_time,
                    keyframe: vh.is_key(),
                    data,
                    pos: Some(tag.offset),
                };
                self.emit(p, out);
            }
            VideoPacket::Unsupported(_) => {}
        }
    }
}

fn bad_tag(out: &mut Vec<Event>, tag: &Tag, e: &FormatError) {
    out.push(Event::Finding(Finding::error(
        e.offset,
        format!(
            "{:?} tag at byte {} is broken: {}",
            tag.header.tag_type, tag.offset, e.problem
        ),
    )));
}

fn script_tag(tag: &Tag, out: &mut Vec<Event>) {
    if tag.body.len() > MAX_SCRIPT_DECODE {
        out.push(Event::Finding(Finding::warning(
            tag.offset,
            format!("script tag of {} bytes not decoded", tag.body.len()),
        )));
        return;
    }
    let mut c = Cursor::new(tag.body.clone(), tag.offset + TAG_HEADER_LEN as u64, FORMAT);
    match amf0::Value::parse_all(&mut c) {
        Ok(values) => out.push(Event::Script(Script {
            offset: tag.offset,
            timestamp_ms: tag.header.timestamp_ms,
            values,
        })),
        Err(e) => out.push(Event::Finding(Finding::error(
            e.offset,
            format!(
                "bad AMF0 in script tag at byte {}: {}",
                tag.offset, e.problem
            ),
        ))),
    }
}

/// True for codecs whose frames cannot be decoded without a configuration record.
fn needs_config(c: &Codec) -> bool {
    matches!(c, Codec::H264 | Codec::Hevc | Codec::Aac)
}

/// MP3 and "MP3 8 kHz" are one codec.
fn same_codec(a: SoundFormat, b: SoundFormat) -> bool {
    let mp3 = |f| f == SoundFormat::MP3 || f == SoundFormat::MP3_8K;
    mp3(a) && mp3(b)
}

/// The model's codec for a SoundFormat; names for the others are FFmpeg's codec names.
pub fn audio_codec(f: SoundFormat) -> Codec {
    match f {
        SoundFormat::AAC => Codec::Aac,
        SoundFormat::MP3 | SoundFormat::MP3_8K => Codec::Mp3,
        SoundFormat::PCM => Codec::Other("pcm_u8_or_s16".into()),
        SoundFormat::ADPCM => Codec::Other("adpcm_swf".into()),
        SoundFormat::PCM_LE => Codec::Other("pcm_s16le".into()),
        SoundFormat::NELLYMOSER_16K | SoundFormat::NELLYMOSER_8K | SoundFormat::NELLYMOSER => {
            Codec::Other("nellymoser".into())
        }
        SoundFormat::G711_ALAW => Codec::Other("pcm_alaw".into()),
        SoundFormat::G711_MULAW => Codec::Other("pcm_mulaw".into()),
        SoundFormat::SPEEX => Codec::Other("speex".into()),
        other => Codec::Other(format!("flv_sound_format_{}", other.0)),
    }
}

/// The model's codec for a video tag's codec, or why it is refused.
pub fn video_codec(c: &VideoCodec) -> Result<Codec, String> {
    Ok(match c {
        VideoCodec::Legacy(codec_id::AVC) => Codec::H264,
        VideoCodec::Legacy(codec_id::HEVC_NONSTANDARD) => Codec::Hevc,
        VideoCodec::Legacy(codec_id::H263) => Codec::Other("flv1".into()),
        VideoCodec::Legacy(codec_id::SCREEN) => Codec::Other("flashsv".into()),
        VideoCodec::Legacy(codec_id::VP6) => Codec::Other("vp6f".into()),
        VideoCodec::Legacy(codec_id::VP6_ALPHA) => Codec::Other("vp6a".into()),
        VideoCodec::Legacy(codec_id::SCREEN2) => Codec::Other("flashsv2".into()),
        VideoCodec::Legacy(other) => {
            return Err(format!("unknown video CodecID {other}; tag skipped"))
        }
        VideoCodec::FourCc(f) if *f == FOURCC_AVC1 => Codec::H264,
        VideoCodec::FourCc(f) if *f == FOURCC_HVC1 => Codec::Hevc,
        VideoCodec::FourCc(f) if *f == FOURCC_AV01 => Codec::Other("av1".into()),
        VideoCodec::FourCc(f) if *f == FOURCC_VP09 => Codec::Other("vp9".into()),
        VideoCodec::FourCc(f) => {
            return Err(format!(
                "unknown video FourCC {:?}; tag skipped",
                String::from_utf8_lossy(f)
            ))
        }
    })
}

/// The whole reader: framing plus streams, events out.
#[derive(Debug, Default)]
pub struct Reader {
    tags: TagReader,
    streams: Streams,
    out: VecDeque<Event>,
    scratch: Vec<Event>,
    header: Option<Header>,
}

impl Reader {
    /// A reader expecting an FLV file from its first byte.
    pub fn new() -> Reader {
        Reader::default()
    }

    /// The file header, once read.
    pub fn header(&self) -> Option<Header> {
        self.header
    }

    /// The stream state (tracks so far).
    pub fn streams(&self) -> &Streams {
        &self.streams
    }

    /// Continues at the tag at `offset` (after a seek): the tag parser starts over there and
    /// events parsed before the seek but not yet taken are dropped.
    pub fn restart_at(&mut self, offset: u64) {
        self.tags.reset_to_tag(offset);
        self.out.clear();
        self.scratch.clear();
    }

    /// Mutable stream state (the demuxer sets the clock after a seek).
    pub fn streams_mut(&mut self) -> &mut Streams {
        &mut self.streams
    }

    /// The framing layer.
    pub fn tags_mut(&mut self) -> &mut TagReader {
        &mut self.tags
    }

    /// Absolute offset of the next byte not yet consumed.
    pub fn offset(&self) -> u64 {
        self.tags.offset()
    }

    /// Hands over the next chunk of input.
    pub fn feed(&mut self, chunk: Bytes) {
        self.tags.feed(chunk);
    }

    /// The next event, `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<Event>, FormatError> {
        loop {
            if let Some(e) = self.out.pop_front() {
                return Ok(Some(e));
            }
            let Some(item) = self.tags.next_item()? else {
                return Ok(None);
            };
            match item {
                Item::Header(h) => self.header = Some(h),
                Item::Finding(f) => return Ok(Some(Event::Finding(f))),
                Item::Tag(t) => {
                    self.streams.handle(&t, &mut self.scratch);
                    self.out.extend(self.scratch.drain(..));
                }
            }
        }
    }

    /// End of input: [`next_event`](Self::next_event) then gives the last events and, when
    /// the stream stopped inside a structure, the error.
    pub fn finish(&mut self) {
        self.tags.finish();
    }
}

/// The FLV reader as the format table's [`crate::formats::Reader`] (live inputs: HTTP-FLV
/// pulls, pipes): script tags are dropped (tracks come from the sequence headers).
#[derive(Debug, Default)]
pub struct StreamReader {
    inner: Reader,
}

impl crate::formats::Reader for StreamReader {
    fn feed(&mut self, chunk: Bytes) {
        self.inner.feed(chunk);
    }

    fn next_event(&mut self) -> Result<Option<crate::formats::Event>, FormatError> {
        use crate::formats::Event as E;
        loop {
            return Ok(Some(match self.inner.next_event()? {
                None => return Ok(None),
                Some(Event::Tracks(t)) => E::Tracks(t),
                Some(Event::Packet(p)) => E::Packet(p),
                Some(Event::Finding(f)) => E::Finding(f),
                Some(Event::Script(_)) => continue,
            }));
        }
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        // The inner reader reports a cut structure from `next_event` after this.
        self.inner.finish();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(data: &[u8], split: usize) -> (Vec<Event>, Option<u64>) {
        let mut r = Reader::new();
        let mut out = Vec::new();
        for part in [&data[..split], &data[split..]] {
            r.feed(Bytes::copy_from_slice(part));
            loop {
                match r.next_event() {
                    Ok(Some(e)) => out.push(e),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e.offset)),
                }
            }
        }
        r.finish();
        loop {
            match r.next_event() {
                Ok(Some(e)) => out.push(e),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.offset)),
            }
        }
    }

    /// Every item of a whole input, and the error at its end.
    fn items(f: &[u8]) -> (Vec<Item>, Option<FormatError>) {
        let mut r = TagReader::new();
        r.feed(Bytes::from(f.to_vec()));
        r.finish();
        let mut items = Vec::new();
        loop {
            match r.next_item() {
                Ok(Some(i)) => items.push(i),
                Ok(None) => return (items, None),
                Err(e) => return (items, Some(e)),
            }
        }
    }

    proptest! {
        #[test]
        fn any_bytes_after_a_header_never_panic_and_split_feeds_agree(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            tags in proptest::collection::vec((prop_oneof![Just(8u8), Just(9u8), Just(18u8), any::<u8>()], 0u32..40, any::<u32>()), 0..6),
            split in any::<prop::sample::Index>(),
        ) {
            // Oracle: the one-piece feed; plus: errors point inside the input.
            let mut f = Vec::new();
            Header::new(true, true).write(&mut f);
            f.extend_from_slice(&[0, 0, 0, 0]);
            let mut rest = body.as_slice();
            for (t, size, ts) in tags {
                let n = (size as usize).min(rest.len());
                TagHeader::new(TagType(t), size, ts).write(&mut f);
                f.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
                f.extend_from_slice(&(11 + size).to_be_bytes());
            }
            f.extend_from_slice(rest);
            let whole = run(&f, f.len());
            if let Some(at) = whole.1 {
                prop_assert!(at <= f.len() as u64);
            }
            let at = split.index(f.len() + 1);
            prop_assert_eq!(run(&f, at), whole);
        }
    }

    #[test]
    fn previous_tag_size_mismatch_is_a_finding_and_reading_goes_on() {
        // Hand-built: header, PreviousTagSize0 = 0, a script tag of 1 byte (null), then a
        // wrong PreviousTagSize (99 instead of 12), then an empty audio tag.
        let mut f = Vec::new();
        Header::new(true, false).write(&mut f);
        f.extend_from_slice(&[0, 0, 0, 0]);
        TagHeader::new(TagType::SCRIPT, 1, 0).write(&mut f);
        f.push(amf0::marker::NULL);
        f.extend_from_slice(&99u32.to_be_bytes());
        TagHeader::new(TagType::AUDIO, 0, 5).write(&mut f);
        f.extend_from_slice(&11u32.to_be_bytes());
        let (items, end) = items(&f);
        assert!(end.is_none());
        assert_eq!(items.len(), 4, "{items:?}");
        match &items[2] {
            Item::Finding(fd) => assert_eq!(fd.offset, Some(9 + 4 + 12)),
            other => panic!("{other:?}"),
        }
        match &items[3] {
            Item::Tag(t) => assert_eq!((t.offset, t.header.timestamp_ms), (29, 5)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_after_a_wrong_size_ends_in_an_error_not_a_panic() {
        // A wrong PreviousTagSize, then bytes that are no tag (type 0x3f, small size) and
        // nothing valid after them: the reader waits for a resync point and, at the end,
        // reports the broken stretch from the bad size on.
        let mut f = Vec::new();
        Header::new(true, false).write(&mut f);
        f.extend_from_slice(&[0, 0, 0, 7]);
        f.extend_from_slice(&[0x3f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&[0x55; 40]);
        let (items, end) = items(&f);
        assert_eq!(items.len(), 1, "the header: {items:?}");
        let e = end.unwrap();
        assert_eq!(e.offset, 9);
        assert!(e.to_string().contains("55 bytes skipped"), "{e}");
    }

    #[test]
    fn garbage_between_tags_is_one_finding_and_reading_goes_on() {
        // Hand-built: two audio tags with 50 bytes of 0x55 between them (inserted after the
        // first tag's PreviousTagSize): one finding at the garbage, both tags kept.
        let mut f = Vec::new();
        Header::new(false, true).write(&mut f);
        f.extend_from_slice(&[0, 0, 0, 0]);
        TagHeader::new(TagType::AUDIO, 3, 0).write(&mut f);
        f.extend_from_slice(&[0xaf, 1, 1]);
        f.extend_from_slice(&14u32.to_be_bytes());
        let garbage_at = f.len() as u64;
        f.extend_from_slice(&[0x55; 50]);
        TagHeader::new(TagType::AUDIO, 3, 23).write(&mut f);
        f.extend_from_slice(&[0xaf, 1, 2]);
        f.extend_from_slice(&14u32.to_be_bytes());
        let (items, end) = items(&f);
        assert!(end.is_none());
        let got: Vec<String> = items
            .iter()
            .map(|i| match i {
                Item::Header(_) => "header".to_string(),
                Item::Tag(t) => format!("tag {}", t.offset),
                Item::Finding(x) => format!("finding {} {}", x.offset.unwrap_or(0), x.message),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                "header".to_string(),
                "tag 13".into(),
                format!("finding {garbage_at} no valid tag here: 50 bytes skipped to the next tag at byte {}", garbage_at + 50),
                format!("tag {}", garbage_at + 50),
            ]
        );
    }

    #[test]
    fn a_tag_whose_trailer_and_successor_are_garbage_goes_with_the_damage() {
        // A tag header claiming 20 bytes where only 3 of its body came before garbage: its
        // PreviousTagSize is wrong and no tag follows, so the tag is part of the damaged
        // stretch, reported once from its offset.
        let mut f = Vec::new();
        Header::new(false, true).write(&mut f);
        f.extend_from_slice(&[0, 0, 0, 0]);
        TagHeader::new(TagType::AUDIO, 20, 0).write(&mut f);
        f.extend_from_slice(&[0xaf, 1, 1]);
        f.extend_from_slice(&[0x55; 60]);
        let next = f.len() as u64;
        TagHeader::new(TagType::AUDIO, 3, 23).write(&mut f);
        f.extend_from_slice(&[0xaf, 1, 2]);
        f.extend_from_slice(&14u32.to_be_bytes());
        let (items, end) = items(&f);
        assert!(end.is_none());
        assert_eq!(items.len(), 3, "{items:?}");
        match &items[1] {
            Item::Finding(x) => {
                assert_eq!(x.offset, Some(13));
                assert!(
                    x.message.contains(&format!("{} bytes skipped", next - 13)),
                    "{x:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&items[2], Item::Tag(t) if t.offset == next));
    }

    #[test]
    fn truncated_tag_is_an_error_where_the_tag_starts() {
        let mut f = Vec::new();
        Header::new(true, false).write(&mut f);
        f.extend_from_slice(&[0, 0, 0, 0]);
        TagHeader::new(TagType::AUDIO, 10, 0).write(&mut f);
        f.extend_from_slice(&[0xaf, 1, 2]);
        let (_, end) = items(&f);
        let e = end.unwrap();
        assert_eq!(e.offset, 13);
        assert!(e.is_truncation());
    }
}
