//! The sans-IO MP3 scanner: given the bytes from the current position (and whether the input
//! ends there), says what comes next — an ID3v2 tag, the Xing/Info/VBRI frame, an audio
//! frame, garbage up to the next plausible frame, or the ID3v1 tag at the end. The file
//! demuxer, the analyser and the incremental [`StreamReader`] all walk a stream with it.

use bytes::{Bytes, BytesMut};

use crate::codec::mp3::{FrameHeader, Id3v2Header, VbrHeader, HEADER_LEN, ID3V1_LEN};
use crate::dtsc::{Codec, Packet, Ticks, Timebase, Track, TrackId, TrackKind};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{Event, Finding, Reader};

/// The id mist gives the one MP3 track.
pub const TRACK_ID: TrackId = TrackId(1);

/// What comes next in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unit {
    /// An ID3v2 tag of `len` bytes (header, body, footer); it may run past the input's end.
    Id3v2 {
        /// The tag header.
        header: Id3v2Header,
        /// Bytes the whole tag takes.
        len: u64,
    },
    /// The 128-byte ID3v1 tag that ends the file.
    Id3v1,
    /// The first frame, holding a Xing/Info/VBRI header instead of audio (not a packet, as
    /// in FFmpeg).
    Vbr {
        /// Its frame header.
        header: FrameHeader,
        /// The VBR header.
        vbr: VbrHeader,
        /// Frame length in bytes.
        len: usize,
    },
    /// An audio frame.
    Frame {
        /// Its header.
        header: FrameHeader,
        /// Bytes of the frame present: the frame length, or less when the input ends inside it.
        len: usize,
        /// True when the input ends inside the frame.
        truncated: bool,
    },
    /// Bytes that are not MPEG audio, up to the next plausible frame or tag.
    Garbage {
        /// How many.
        len: usize,
    },
}

/// The scanner's answer for the bytes it was shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Show at least this many bytes (or say the input ends).
    Need(usize),
    /// The next unit starts at the first byte shown.
    Unit(Unit),
    /// Nothing left.
    End,
}

/// Walks an MP3 stream unit by unit (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct Scanner {
    seen_frame: bool,
    resync: bool,
    /// Sample rate and layer of the stream's frames: a candidate frame after garbage must
    /// agree (a false sync in random bytes rarely does).
    stream: Option<(u32, u8)>,
}

fn could_start_unit(b: &[u8]) -> bool {
    b.len() < HEADER_LEN
        || b.starts_with(b"ID3")
        || b.starts_with(b"TAG")
        || FrameHeader::is_valid(b)
}

impl Scanner {
    /// A scanner at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A scanner placed at a known frame boundary after the first frame (after a seek).
    pub fn at_frame_boundary() -> Self {
        Scanner {
            seen_frame: true,
            resync: false,
            stream: None,
        }
    }

    /// What the bytes `buf` (from the current position) start with; `eof` says the input
    /// ends after `buf`.
    pub fn step(&mut self, buf: &[u8], eof: bool) -> Step {
        if buf.is_empty() {
            return if eof { Step::End } else { Step::Need(1) };
        }
        if buf.len() < 10 && !eof && b"ID3".starts_with(&buf[..buf.len().min(3)]) {
            return Step::Need(10);
        }
        if buf.starts_with(b"ID3") {
            if let Ok(Some(header)) = Id3v2Header::parse(buf, 0) {
                return Step::Unit(Unit::Id3v2 {
                    header,
                    len: header.total_len(),
                });
            }
        }
        if buf.len() < HEADER_LEN && !eof {
            return Step::Need(HEADER_LEN);
        }
        if buf.starts_with(b"TAG") {
            let tag = ID3V1_LEN as usize;
            if buf.len() <= tag && !eof {
                return Step::Need(tag + 1);
            }
            if eof && buf.len() == tag {
                return Step::Unit(Unit::Id3v1);
            }
        }
        if let Ok(header) = FrameHeader::parse(buf, 0) {
            let len = header.frame_len();
            let confirm = self.resync || !self.seen_frame;
            let mut plausible = true;
            if confirm {
                if buf.len() < len + HEADER_LEN && !eof {
                    return Step::Need(len + HEADER_LEN);
                }
                if self.resync
                    && self
                        .stream
                        .is_some_and(|s| s != (header.sample_rate, header.layer))
                {
                    plausible = false;
                }
                // The next unit must start right after this frame, unless the input ends;
                // after garbage, it must be a frame (a tag there is as likely to be noise).
                if let Some(next) = buf.get(len..) {
                    if !next.is_empty() && !could_start_unit(next) {
                        plausible = false;
                    }
                    if self.resync
                        && self.seen_frame
                        && next.len() >= HEADER_LEN
                        && !FrameHeader::is_valid(next)
                    {
                        plausible = false;
                    }
                    if let Ok(n) = FrameHeader::parse(next, 0) {
                        // After garbage, a false sync rarely agrees with the next one on
                        // these. At the very start a valid header right at the frame's end
                        // is proof enough: a stream may change rate at its second frame, and
                        // whether a tag stood between them must not decide whether the first
                        // frame is kept (a writer drops such tags).
                        if self.resync
                            && (n.sample_rate != header.sample_rate || n.layer != header.layer)
                        {
                            plausible = false;
                        }
                    }
                }
            }
            if plausible {
                self.stream
                    .get_or_insert((header.sample_rate, header.layer));
                if buf.len() < len {
                    if !eof {
                        return Step::Need(len);
                    }
                    self.seen_frame = true;
                    self.resync = false;
                    return Step::Unit(Unit::Frame {
                        header,
                        len: buf.len(),
                        truncated: true,
                    });
                }
                self.resync = false;
                if !self.seen_frame {
                    self.seen_frame = true;
                    if let Some(vbr) = VbrHeader::find(&header, &buf[..len]) {
                        return Step::Unit(Unit::Vbr { header, vbr, len });
                    }
                }
                return Step::Unit(Unit::Frame {
                    header,
                    len,
                    truncated: false,
                });
            }
        }
        // Not a frame here: skip to the next place where one could start.
        self.resync = true;
        let skip = (1..buf.len())
            .find(|&i| {
                let rest = &buf[i..];
                (rest[0] == 0xff || rest[0] == b'I' || rest[0] == b'T') && could_start_unit(rest)
            })
            .unwrap_or(buf.len());
        Step::Unit(Unit::Garbage { len: skip })
    }
}

/// The track an MP3 stream's first frame describes (timebase = sample rate).
pub fn track_of(h: &FrameHeader) -> Result<Track, FormatError> {
    let base = Timebase::new(h.sample_rate).ok_or_else(|| {
        FormatError::whole(
            "mp3",
            Problem::BadValue {
                field: "sampling_frequency",
                value: 0,
            },
        )
    })?;
    let mut t = Track::new(TRACK_ID, TrackKind::Audio, Codec::Mp3, base);
    if let crate::dtsc::Params::Audio(a) = &mut t.params {
        a.rate = h.sample_rate;
        a.channels = h.channels();
        a.sample_bits = 16;
    }
    Ok(t)
}

/// The finding for a unit that is not audio, or `None`.
/// Garbage is reported by [`GarbageRun`] once what follows it is known.
pub fn finding_for(unit: &Unit, at: u64, available: u64) -> Option<Finding> {
    match unit {
        Unit::Garbage { .. } => None,
        Unit::Frame {
            header,
            len,
            truncated: true,
        } => Some(Finding::error(
            at,
            format!(
                "last frame truncated: {len} of {} bytes",
                header.frame_len()
            ),
        )),
        Unit::Id3v2 { len, .. } if *len > available => Some(Finding::error(
            at,
            format!("ID3v2 tag of {len} bytes runs past the end of the input"),
        )),
        _ => None,
    }
}

/// Consecutive garbage units (a false sync can split one damaged stretch) joined into one
/// stretch, reported once what follows is known: between frames it is damage (an error);
/// before the first frame or at the end (junk ahead of the audio, trailing tags mist does
/// not know) players skip it, so it is a warning.
#[derive(Clone, Copy, Debug, Default)]
pub struct GarbageRun {
    /// (offset, bytes, frames came before it).
    run: Option<(u64, u64, bool)>,
}

impl GarbageRun {
    /// Adds `len` garbage bytes at `at`; `after_frames` says an audio frame came before.
    pub fn add(&mut self, at: u64, len: usize, after_frames: bool) {
        match &mut self.run {
            Some((_, n, _)) => *n += len as u64,
            None => self.run = Some((at, len as u64, after_frames)),
        }
    }

    /// True while a stretch is open.
    pub fn is_open(&self) -> bool {
        self.run.is_some()
    }

    /// Bytes in the open stretch.
    pub fn len(&self) -> u64 {
        self.run.map_or(0, |r| r.1)
    }

    /// True when no stretch is open.
    pub fn is_empty(&self) -> bool {
        self.run.is_none()
    }

    /// Ends the stretch; `frame_follows` says an audio frame comes right after it (false at
    /// the end of the input). Returns its offset, length and finding.
    pub fn end(&mut self, frame_follows: bool) -> Option<(u64, u64, Finding)> {
        let (at, len, after) = self.run.take()?;
        let f = if after && frame_follows {
            Finding::error(
                at,
                format!("{len} bytes that are not MPEG audio frames skipped"),
            )
        } else if after {
            Finding::warning(
                at,
                format!("{len} trailing bytes that are not MPEG audio frames skipped"),
            )
        } else {
            Finding::warning(
                at,
                format!("{len} bytes before the first MPEG audio frame skipped"),
            )
        };
        Some((at, len, f))
    }
}

/// The incremental MP3 reader for streams (HTTP pulls, pipes): the same units as the file
/// demuxer, as events. Payloads are copied once into the reader's buffer (chunks arrive in
/// arbitrary pieces); call [`StreamReader::end`] when the input is over to get a truncated
/// last frame.
#[derive(Default)]
pub struct StreamReader {
    scan: Scanner,
    buf: BytesMut,
    /// Absolute offset of `buf[0]`.
    offset: u64,
    /// Bytes of an ID3v2 tag still to drop.
    skipping: u64,
    eof: bool,
    tracks_sent: bool,
    samples: i64,
    pending: std::collections::VecDeque<Event>,
    garbage: GarbageRun,
    frames_seen: bool,
}

impl StreamReader {
    /// A reader at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the end of input, so the next events include a truncated last frame.
    pub fn end(&mut self) {
        self.eof = true;
    }

    fn take(&mut self, n: usize) -> Bytes {
        let n = n.min(self.buf.len());
        self.offset += n as u64;
        self.buf.split_to(n).freeze()
    }
}

impl Reader for StreamReader {
    fn feed(&mut self, chunk: Bytes) {
        let mut chunk = chunk;
        if self.skipping > 0 {
            let k = (self.skipping.min(chunk.len() as u64)) as usize;
            self.skipping -= k as u64;
            self.offset += k as u64;
            chunk = chunk.slice(k..);
        }
        self.buf.extend_from_slice(&chunk);
    }

    fn next_event(&mut self) -> Result<Option<Event>, FormatError> {
        if let Some(e) = self.pending.pop_front() {
            return Ok(Some(e));
        }
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Some(e));
            }
            if self.skipping > 0 {
                return Ok(None);
            }
            let at = self.offset;
            let unit = match self.scan.step(&self.buf, self.eof) {
                Step::End => {
                    if let Some((_, _, f)) = self.garbage.end(false) {
                        return Ok(Some(Event::Finding(f)));
                    }
                    return Ok(None);
                }
                Step::Need(_) => return Ok(None),
                Step::Unit(u) => u,
            };
            let finding = finding_for(
                &unit,
                at,
                if self.eof {
                    self.buf.len() as u64
                } else {
                    u64::MAX
                },
            );
            if !matches!(unit, Unit::Garbage { .. }) {
                let frame = matches!(unit, Unit::Frame { .. } | Unit::Vbr { .. });
                if let Some((_, _, f)) = self.garbage.end(frame) {
                    self.pending.push_back(Event::Finding(f));
                }
            }
            match unit {
                Unit::Id3v2 { len, .. } => {
                    let have = self.buf.len() as u64;
                    if len <= have {
                        self.take(len as usize);
                    } else {
                        self.take(have as usize);
                        self.skipping = len - have;
                    }
                }
                Unit::Garbage { len } => {
                    self.garbage.add(at, len, self.frames_seen);
                    self.take(len);
                    continue;
                }
                Unit::Id3v1 => {
                    self.take(ID3V1_LEN as usize);
                }
                Unit::Vbr { header, len, .. } => {
                    self.take(len);
                    if !self.tracks_sent {
                        self.tracks_sent = true;
                        return Ok(Some(Event::Tracks(vec![track_of(&header)?])));
                    }
                }
                Unit::Frame {
                    truncated: true,
                    len,
                    ..
                } => {
                    // A frame cut by the end of the input is not a packet (as the file
                    // demuxer): its finding says it was lost.
                    self.take(len);
                }
                Unit::Frame { header, len, .. } => {
                    self.frames_seen = true;
                    let data = self.take(len);
                    let p = Packet {
                        track: TRACK_ID,
                        dts: Ticks(self.samples),
                        cts: 0,
                        keyframe: true,
                        data,
                        pos: Some(at),
                    };
                    self.samples += i64::from(header.samples_per_frame());
                    if !self.tracks_sent {
                        self.tracks_sent = true;
                        self.pending
                            .push_back(Event::Tracks(vec![track_of(&header)?]));
                    }
                    if let Some(f) = finding {
                        self.pending.push_back(Event::Finding(f));
                    }
                    self.pending.push_back(Event::Packet(p));
                    return Ok(self.pending.pop_front());
                }
            }
            if let Some(f) = finding {
                return Ok(Some(Event::Finding(f)));
            }
        }
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        if self.skipping > 0 {
            return Err(FormatError::new(
                "mp3",
                self.offset,
                Problem::Truncated {
                    what: "ID3v2 tag",
                    need: self.skipping,
                },
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MPEG-1 Layer III 128 kbit/s frame: 417 bytes at 44.1 kHz, 384 at 48 kHz
    /// (144 × 128000 / rate, rounded down; no padding).
    fn frame(rate_48k: bool) -> Vec<u8> {
        let len = if rate_48k { 384 } else { 417 };
        let mut f = vec![0u8; len];
        f[..4].copy_from_slice(&[0xff, 0xfb, if rate_48k { 0x94 } else { 0x90 }, 0x64]);
        f
    }

    fn units(buf: &[u8]) -> Vec<(bool, usize)> {
        let mut s = Scanner::new();
        let mut at = 0;
        let mut out = Vec::new();
        loop {
            match s.step(&buf[at..], true) {
                Step::Unit(Unit::Frame { len, .. }) => {
                    out.push((true, len));
                    at += len;
                }
                Step::Unit(Unit::Garbage { len }) => {
                    out.push((false, len));
                    at += len;
                }
                Step::Unit(u) => panic!("{u:?}"),
                Step::Need(_) | Step::End => return out,
            }
        }
    }

    #[test]
    fn a_rate_change_at_the_second_frame_keeps_the_first() {
        // Hand-built: 44.1 kHz then 48 kHz frames, nothing between them.
        let mut v = frame(false);
        v.extend(frame(true));
        assert_eq!(units(&v), vec![(true, 417), (true, 384)]);
        // After garbage the first candidate must agree with the next frame, so a lone
        // 44.1 kHz frame there is taken for noise.
        let mut g = vec![1u8; 10];
        g.extend(&v);
        let u = units(&g);
        assert_eq!(u.last(), Some(&(true, 384)), "{u:?}");
        assert!(!u.contains(&(true, 417)), "{u:?}");
    }
}
