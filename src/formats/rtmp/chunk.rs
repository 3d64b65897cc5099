//! Chunk streams (RTMP 1.0 §5.3): messages are cut into chunks of at most the sender's chunk
//! size, each with a compressed header; chunks of different chunk streams interleave.
//!
//! ```text
//! basic header   fmt (2 bits) | csid (6 bits)        csid 2..=63
//!                fmt | 0, u8 (csid - 64)              csid 64..=319
//!                fmt | 1, u16 LE (csid - 64)          csid 64..=65599
//! message header fmt 0: timestamp u24, length u24, type u8, stream id u32 LE   (11 bytes)
//!                fmt 1: delta u24, length u24, type u8                        (7)
//!                fmt 2: delta u24                                             (3)
//!                fmt 3: nothing: same as the chunk stream's last header       (0)
//! extended ts    u32 BE when the 24-bit field is 0xFFFFFF
//! ```
//!
//! Rules the spec leaves loose, and what the reader does:
//! - **Extended timestamps on type-3 chunks.** The 2012 text says a type-3 chunk carries the
//!   extended field again when its chunk stream's last type 0/1/2 header did; the 2009 text
//!   and some old stacks do not repeat it. FFmpeg and librtmp repeat it. The reader peeks: if
//!   the next four bytes equal the extended value in force they are the repeat, otherwise they
//!   are payload (as SRS does). The writer always repeats it (FFmpeg's reader requires it).
//! - **A type-3 chunk starting a new message** adds the chunk stream's last timestamp field
//!   again, whichever header type set it (after a type 0 that is the absolute value): FFmpeg's
//!   reader and writer agree on this, and its writer does emit such chunks.
//! - **A type 1/2/3 chunk on a chunk stream that never had a header** cannot be read (no
//!   length); that is an error. Type 1 is tolerated with message stream id 0.
//! - **A type 0/1/2 header in the middle of a message** on the same chunk stream is an error
//!   (FFmpeg silently continues the old message; that hides broken senders).
//!
//! Limits: [`Limits`] bounds one message's length, the chunk streams with state and the bytes
//! held in partly received messages, so a connection's memory is bounded whatever it sends.
//! The input is consumed as it arrives (a chunk's payload need not be whole before it is
//! taken), so buffered input never exceeds one incomplete chunk header.

use std::collections::HashMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::formats::error::{FormatError, Problem};

use super::message::{Control, Message, MessageType};
use super::FORMAT;

/// The chunk size in each direction until Set Chunk Size says otherwise (§5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// The largest chunk size (31 bits, §5.4.1).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// Messages longer than this are refused (the length field allows 16 MiB − 1). A 4K keyframe
/// at broadcast bitrates stays well under it; nginx-rtmp's default is 1 MiB.
pub const MAX_MESSAGE_LEN: u32 = 8 << 20;
/// Chunk streams one connection may use at once (nginx-rtmp's default `max_streams` is 32;
/// encoders use fewer than ten).
pub const MAX_CHUNK_STREAMS: usize = 64;
/// Bytes one connection may hold in partly received messages, across chunk streams.
pub const MAX_BUFFERED: usize = 16 << 20;
/// The largest chunk stream id (3-byte basic header).
pub const MAX_CSID: u32 = 65599;
/// The 24-bit timestamp value that means "the extended timestamp follows".
pub const EXTENDED: u32 = 0xFF_FFFF;
/// Irregularities kept between drains (a peer repeating one on every chunk cannot grow it).
const MAX_IRREGULAR: usize = 1024;
/// Payload buffers start at most this large and grow as bytes arrive, so a header announcing a
/// large message costs nothing until its bytes come.
const PREALLOC: usize = 64 << 10;

/// Bounds on what one connection's reader keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest message accepted.
    pub max_message_len: u32,
    /// Chunk streams with state.
    pub max_chunk_streams: usize,
    /// Bytes in partly received messages.
    pub max_buffered: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_len: MAX_MESSAGE_LEN,
            max_chunk_streams: MAX_CHUNK_STREAMS,
            max_buffered: MAX_BUFFERED,
        }
    }
}

/// A message being reassembled.
///
/// Bodies are copied out of the input into a buffer of their own, exactly their length: a
/// publisher's messages live on in the hub for the whole DVR window, and slices of a shared
/// read buffer would keep every read buffer they touched alive with them.
#[derive(Debug)]
struct Partial {
    buf: Vec<u8>,
    len: u32,
    timestamp: u32,
    kind: MessageType,
    stream_id: u32,
    offset: u64,
}

/// What a chunk stream remembers from its last header.
#[derive(Debug)]
struct StreamState {
    /// Absolute timestamp of the last message started here.
    timestamp: u32,
    /// The last timestamp field (delta or absolute), with the extended value resolved.
    field: u32,
    /// The last type 0/1/2 header used the extended field.
    extended: bool,
    len: u32,
    kind: MessageType,
    stream_id: u32,
    partial: Option<Partial>,
}

/// One chunk header as read, for analysers (`ChunkReader::record`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Absolute offset of the basic header.
    pub offset: u64,
    /// Header type 0..=3.
    pub fmt: u8,
    /// Chunk stream id.
    pub csid: u32,
    /// The message header's timestamp field (absolute for type 0, a delta for 1/2; for type 3
    /// the field it repeats), the extended value resolved.
    pub field: u32,
    /// The extended timestamp read after this header (`None` when there was none).
    pub extended: Option<u32>,
    /// The message's length, type and stream id (declared here or inherited).
    pub len: u32,
    /// The message's type id.
    pub kind: MessageType,
    /// The message stream id.
    pub stream_id: u32,
    /// The message's absolute timestamp.
    pub timestamp: u32,
    /// True when this chunk starts a message.
    pub starts_message: bool,
}

/// Something the reader tolerated that a strict sender does not do (reported to analysers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Irregularity {
    /// A type-3 chunk whose chunk stream uses extended timestamps did not repeat the extended
    /// field (RTMP 1.0 §5.3.1.3 says it must; FFmpeg and librtmp require it).
    MissingExtended {
        /// Offset of the chunk's basic header.
        offset: u64,
        /// Its chunk stream.
        csid: u32,
    },
    /// Set Chunk Size arrived while another chunk stream was inside a message: the rest of
    /// that message is cut at a different size than its start, which peers disagree on.
    ChunkSizeMidMessage {
        /// Offset of the Set Chunk Size message.
        offset: u64,
        /// The chunk stream whose message was in progress.
        csid: u32,
        /// Chunk size before.
        from: u32,
        /// Chunk size after.
        to: u32,
    },
    /// A type-1 header on a chunk stream that had none before: its delta has no timestamp to
    /// add to (RTMP 1.0 §5.3.1.2.2: type 1 follows a message on the same chunk stream), so
    /// readers take it from 0 and the times do not add up to what the sender meant.
    DeltaWithoutBase {
        /// Offset of the chunk's basic header.
        offset: u64,
        /// Its chunk stream.
        csid: u32,
        /// The delta.
        delta: u32,
    },
    /// A timestamp delta of 2^31 or more: a sender's negative step written unsigned (deltas
    /// cannot go back; a type-0 header with the absolute time must be sent instead), which
    /// readers add as a jump of weeks.
    BackwardsDelta {
        /// Offset of the chunk's basic header.
        offset: u64,
        /// Its chunk stream.
        csid: u32,
        /// The delta as written.
        delta: u32,
    },
}

/// Reassembles messages from chunk streams.
#[derive(Debug)]
pub struct ChunkReader {
    buf: BytesMut,
    /// Absolute offset of `buf[0]` in the connection's input.
    offset: u64,
    chunk_size: u32,
    limits: Limits,
    streams: HashMap<u32, StreamState>,
    /// Inside a chunk's payload: its chunk stream and the payload bytes still to come.
    current: Option<(u32, u32)>,
    /// Sum of the lengths of partly received messages.
    buffered: usize,
    /// Keep a [`ChunkHeader`] per chunk (analysers only).
    record: bool,
    chunks: Vec<ChunkHeader>,
    irregular: Vec<Irregularity>,
}

fn u24(b: &[u8]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

fn u32be(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl ChunkReader {
    /// A reader whose first byte sits at absolute offset `offset` (after the handshake).
    pub fn new(limits: Limits, offset: u64) -> ChunkReader {
        ChunkReader {
            buf: BytesMut::new(),
            offset,
            chunk_size: DEFAULT_CHUNK_SIZE,
            limits,
            streams: HashMap::new(),
            current: None,
            buffered: 0,
            record: false,
            chunks: Vec::new(),
            irregular: Vec::new(),
        }
    }

    /// Keeps every chunk header for [`ChunkReader::take_chunks`] (an analyser's `--detail 2`).
    /// The caller drains them after each message; one message's chunks are bounded by
    /// `max_message_len` / chunk size.
    pub fn record(&mut self, on: bool) {
        self.record = on;
    }

    /// The chunk headers read since the last call (with [`ChunkReader::record`]).
    pub fn take_chunks(&mut self) -> Vec<ChunkHeader> {
        std::mem::take(&mut self.chunks)
    }

    /// What the reader tolerated since the last call.
    pub fn take_irregularities(&mut self) -> Vec<Irregularity> {
        std::mem::take(&mut self.irregular)
    }

    /// The peer's chunk size in force.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Absolute offset of the next byte not yet consumed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes held: unconsumed input plus partly received messages (what memory bounds cover).
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.buffered
    }

    /// Hands over input.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole message, `Ok(None)` when more input is needed. Set Chunk Size and Abort
    /// take effect here, before the next chunk is read, and are returned too.
    pub fn next_message(&mut self) -> Result<Option<Message>, FormatError> {
        loop {
            if let Some((csid, left)) = self.current {
                match self.payload(csid, left)? {
                    Step::More => return Ok(None),
                    Step::Chunk => continue,
                    Step::Message(m) => {
                        self.apply(&m)?;
                        return Ok(Some(m));
                    }
                }
            }
            if !self.header()? {
                return Ok(None);
            }
        }
    }

    fn apply(&mut self, m: &Message) -> Result<(), FormatError> {
        match m.kind {
            MessageType::SET_CHUNK_SIZE => {
                if let Control::SetChunkSize(n) = Control::parse(m)? {
                    let mut busy: Vec<u32> = self
                        .streams
                        .iter()
                        .filter(|(_, s)| s.partial.is_some())
                        .map(|(c, _)| *c)
                        .collect();
                    busy.sort_unstable();
                    if let Some(&csid) = busy.first().filter(|_| n != self.chunk_size) {
                        // Bounded: only while someone drains; one entry per control message.
                        if self.irregular.len() < MAX_IRREGULAR {
                            self.irregular.push(Irregularity::ChunkSizeMidMessage {
                                offset: m.offset,
                                csid,
                                from: self.chunk_size,
                                to: n,
                            });
                        }
                    }
                    self.chunk_size = n;
                }
            }
            MessageType::ABORT => {
                if let Control::Abort(csid) = Control::parse(m)? {
                    if let Some(p) = self.streams.get_mut(&csid).and_then(|s| s.partial.take()) {
                        self.buffered -= p.len as usize;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads one chunk header if it is all buffered; `Ok(false)` when more input is needed.
    fn header(&mut self) -> Result<bool, FormatError> {
        let b = &self.buf[..];
        let Some(&b0) = b.first() else {
            return Ok(false);
        };
        let at = self.offset;
        let fmt = b0 >> 6;
        let (csid, mut p) = match b0 & 0x3F {
            0 if b.len() < 2 => return Ok(false),
            0 => (64 + u32::from(b[1]), 2),
            1 if b.len() < 3 => return Ok(false),
            1 => (64 + u32::from(b[1]) + 256 * u32::from(b[2]), 3),
            n => (u32::from(n), 1),
        };
        let len_of = [11, 7, 3, 0][usize::from(fmt)];
        if b.len() < p + len_of {
            return Ok(false);
        }
        let known = self.streams.get(&csid);
        if known.is_none() && fmt >= 2 {
            return Err(FormatError::invalid(
                FORMAT,
                at,
                format!(
                    "type-{fmt} chunk on chunk stream {csid}, which has had no header giving a \
                     message length"
                ),
            ));
        }
        if fmt < 3 && known.is_some_and(|s| s.partial.is_some()) {
            return Err(FormatError::invalid(
                FORMAT,
                at,
                format!(
                    "type-{fmt} chunk header in the middle of a message on chunk stream {csid}"
                ),
            ));
        }
        if known.is_none() && self.streams.len() >= self.limits.max_chunk_streams {
            return Err(FormatError::new(
                FORMAT,
                at,
                Problem::Limit {
                    what: "RTMP chunk streams in use",
                    limit: self.limits.max_chunk_streams as u64,
                },
            ));
        }
        let h = &b[p..p + len_of];
        let ts_field = if fmt < 3 { u24(h) } else { 0 };
        p += len_of;
        // The extended timestamp: always after a 0xFFFFFF field; on type 3, peeked.
        let mut value = ts_field;
        let mut ext_read = None;
        let mut ext_missing = false;
        if fmt < 3 && ts_field == EXTENDED {
            if b.len() < p + 4 {
                return Ok(false);
            }
            value = u32be(&b[p..]);
            ext_read = Some(value);
            p += 4;
        } else if let Some(st) = known.filter(|s| fmt == 3 && s.extended) {
            if b.len() < p + 4 {
                return Ok(false);
            }
            if u32be(&b[p..]) == st.field {
                ext_read = Some(st.field);
                p += 4;
            } else {
                ext_missing = true;
            }
        }
        let extended = ts_field == EXTENDED;
        let fresh = known.is_none();
        let st = self.streams.entry(csid).or_insert(StreamState {
            timestamp: 0,
            field: 0,
            extended: false,
            len: 0,
            kind: MessageType(0),
            stream_id: 0,
            partial: None,
        });
        let timestamp = match fmt {
            0 => {
                st.len = u24(&h[3..]);
                st.kind = MessageType(h[6]);
                st.stream_id = u32::from_le_bytes([h[7], h[8], h[9], h[10]]);
                st.field = value;
                st.extended = extended;
                value
            }
            1 | 2 => {
                if fmt == 1 {
                    st.len = u24(&h[3..]);
                    st.kind = MessageType(h[6]);
                }
                if self.irregular.len() < MAX_IRREGULAR && st.partial.is_none() {
                    if fresh {
                        self.irregular.push(Irregularity::DeltaWithoutBase {
                            offset: at,
                            csid,
                            delta: value,
                        });
                    } else if value >= 1 << 31 {
                        self.irregular.push(Irregularity::BackwardsDelta {
                            offset: at,
                            csid,
                            delta: value,
                        });
                    }
                }
                st.field = value;
                st.extended = extended;
                st.timestamp.wrapping_add(value)
            }
            _ => st.timestamp.wrapping_add(st.field),
        };
        if st.partial.is_none() {
            let len = st.len;
            if len > self.limits.max_message_len {
                return Err(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Limit {
                        what: "RTMP message length",
                        limit: u64::from(self.limits.max_message_len),
                    },
                ));
            }
            if self.buffered + len as usize > self.limits.max_buffered {
                return Err(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Limit {
                        what: "bytes in partly received RTMP messages",
                        limit: self.limits.max_buffered as u64,
                    },
                ));
            }
            st.timestamp = timestamp;
            st.partial = Some(Partial {
                buf: Vec::new(),
                len,
                timestamp,
                kind: st.kind,
                stream_id: st.stream_id,
                offset: at,
            });
            self.buffered += len as usize;
        }
        let got = st.partial.as_ref().map_or(0, |p| p.buf.len() as u32);
        let left = (st.len - got).min(self.chunk_size);
        if ext_missing && self.irregular.len() < MAX_IRREGULAR {
            self.irregular
                .push(Irregularity::MissingExtended { offset: at, csid });
        }
        if self.record {
            self.chunks.push(ChunkHeader {
                offset: at,
                fmt,
                csid,
                field: if fmt < 3 { value } else { st.field },
                extended: ext_read,
                len: st.len,
                kind: st.kind,
                stream_id: st.stream_id,
                timestamp: st.timestamp,
                starts_message: got == 0,
            });
        }
        self.buf.advance(p);
        self.offset += p as u64;
        self.current = Some((csid, left));
        Ok(true)
    }

    /// Takes payload bytes of the chunk in progress.
    fn payload(&mut self, csid: u32, left: u32) -> Result<Step, FormatError> {
        let n = (left as usize).min(self.buf.len());
        if n == 0 && left > 0 {
            return Ok(Step::More);
        }
        let Some(p) = self.streams.get_mut(&csid).and_then(|s| s.partial.as_mut()) else {
            // Unreachable by construction (a header always leaves a partial); an error rather
            // than a panic all the same.
            return Err(FormatError::invalid(
                FORMAT,
                self.offset,
                "chunk without a message",
            ));
        };
        if p.buf.capacity() - p.buf.len() < n {
            // Grow geometrically but never past the message length, so the last growth lands
            // exactly on it and large messages are not copied over and over.
            let len = p.len as usize;
            let want = (p.buf.len() + n)
                .max(2 * p.buf.capacity())
                .max(PREALLOC)
                .min(len);
            p.buf.reserve_exact(want - p.buf.len());
        }
        p.buf.extend_from_slice(&self.buf[..n]);
        self.buf.advance(n);
        self.offset += n as u64;
        let left = left - n as u32;
        self.current = (left > 0).then_some((csid, left));
        if left > 0 || p.buf.len() < p.len as usize {
            return Ok(Step::Chunk);
        }
        let Some(p) = self.streams.get_mut(&csid).and_then(|s| s.partial.take()) else {
            return Err(FormatError::invalid(
                FORMAT,
                self.offset,
                "chunk without a message",
            ));
        };
        self.buffered -= p.len as usize;
        Ok(Step::Message(Message {
            csid,
            timestamp: p.timestamp,
            kind: p.kind,
            stream_id: p.stream_id,
            body: Bytes::from(p.buf),
            offset: p.offset,
        }))
    }
}

enum Step {
    More,
    Chunk,
    Message(Message),
}

/// Appends a basic header (`csid` in 2..=65599; others are clamped into that range).
pub fn put_basic_header(out: &mut impl BufMut, fmt: u8, csid: u32) {
    let csid = csid.clamp(2, MAX_CSID);
    let f = (fmt & 3) << 6;
    match csid {
        2..=63 => out.put_u8(f | csid as u8),
        64..=319 => {
            out.put_u8(f);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            out.put_u8(f | 1);
            out.put_u16_le((csid - 64) as u16);
        }
    }
}

/// Appends a whole type-0 header: basic header, absolute timestamp (or 0xFFFFFF and the
/// extended field), length, type and message stream id (little-endian).
pub fn put_type0(
    out: &mut impl BufMut,
    csid: u32,
    timestamp: u32,
    len: u32,
    kind: MessageType,
    stream_id: u32,
) {
    put_basic_header(out, 0, csid);
    out.put_slice(&timestamp.min(EXTENDED).to_be_bytes()[1..]);
    out.put_slice(&len.to_be_bytes()[1..]);
    out.put_u8(kind.0);
    out.put_u32_le(stream_id);
    if timestamp >= EXTENDED {
        out.put_u32(timestamp);
    }
}

/// Appends a type-3 header, with the extended field repeated when `extended` is given.
pub fn put_type3(out: &mut impl BufMut, csid: u32, extended: Option<u32>) {
    put_basic_header(out, 3, csid);
    if let Some(v) = extended {
        out.put_u32(v);
    }
}

#[derive(Clone, Copy, Debug)]
struct Sent {
    timestamp: u32,
    value: u32,
    len: u32,
    kind: MessageType,
    stream_id: u32,
}

/// Cuts messages into chunks.
///
/// [`ChunkWriter::new`] writes every message with a type-0 header (absolute timestamp): each
/// message then stands alone, so messages written by different writers (the per-connection
/// session, the per-stream shared media encoder) can be sent in any order on one connection.
/// [`ChunkWriter::compressing`] writes type 1/2/3 headers where FFmpeg's writer would; the
/// tests use it to produce every header type, and a client can use it.
#[derive(Clone, Debug)]
pub struct ChunkWriter {
    chunk_size: u32,
    compress: bool,
    repeat_extended: bool,
    sent: HashMap<u32, Sent>,
}

impl ChunkWriter {
    /// Type-0 headers only, extended timestamps repeated on continuation chunks.
    pub fn new(chunk_size: u32) -> ChunkWriter {
        ChunkWriter {
            chunk_size: chunk_size.clamp(1, MAX_CHUNK_SIZE),
            compress: false,
            repeat_extended: true,
            sent: HashMap::new(),
        }
    }

    /// Header compression as FFmpeg does it (deltas when the timestamp does not go back,
    /// type 3 when length, type and delta repeat); `repeat_extended: false` writes the old
    /// form without the extended field on type-3 chunks.
    pub fn compressing(chunk_size: u32, repeat_extended: bool) -> ChunkWriter {
        ChunkWriter {
            compress: true,
            repeat_extended,
            ..ChunkWriter::new(chunk_size)
        }
    }

    /// The chunk size messages are cut to.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes the chunk size (after sending Set Chunk Size).
    pub fn set_chunk_size(&mut self, n: u32) {
        self.chunk_size = n.clamp(1, MAX_CHUNK_SIZE);
    }

    /// Appends `body` as one message on chunk stream `csid`.
    pub fn write(
        &mut self,
        out: &mut impl BufMut,
        csid: u32,
        timestamp: u32,
        kind: MessageType,
        stream_id: u32,
        body: &[u8],
    ) {
        let len = body.len().min(0xFF_FFFF) as u32;
        let body = &body[..len as usize];
        let prev = self.sent.get(&csid).copied();
        let delta =
            prev.filter(|p| self.compress && p.stream_id == stream_id && timestamp >= p.timestamp);
        let value = delta.map_or(timestamp, |p| timestamp - p.timestamp);
        let fmt = match delta {
            None => 0,
            Some(p) if p.kind != kind || p.len != len => 1,
            Some(p) if p.value == value && (value < EXTENDED || self.repeat_extended) => 3,
            Some(_) => 2,
        };
        put_basic_header(out, fmt, csid);
        if fmt < 3 {
            out.put_slice(&value.min(EXTENDED).to_be_bytes()[1..]);
        }
        if fmt < 2 {
            out.put_slice(&len.to_be_bytes()[1..]);
            out.put_u8(kind.0);
        }
        if fmt == 0 {
            out.put_u32_le(stream_id);
        }
        let ext = (value >= EXTENDED).then_some(value);
        if let Some(v) = ext {
            if fmt < 3 || self.repeat_extended {
                out.put_u32(v);
            }
        }
        let cs = self.chunk_size as usize;
        let first = body.len().min(cs);
        out.put_slice(&body[..first]);
        for piece in body[first..].chunks(cs) {
            put_type3(out, csid, ext.filter(|_| self.repeat_extended));
            out.put_slice(piece);
        }
        self.sent.insert(
            csid,
            Sent {
                timestamp,
                value,
                len,
                kind,
                stream_id,
            },
        );
    }
}

/// Appends `body` cut into chunks with a type-0 header, as [`ChunkWriter::new`] writes it, and
/// returns the pieces for a vectored write: header bytes are small fresh buffers, payload
/// pieces are slices of `head` + `payload` (no copy of the payload). `head` is the few bytes
/// that precede the payload (an FLV audio/video tag prefix); together they are the message body.
pub fn chunk_pieces(
    csid: u32,
    timestamp: u32,
    kind: MessageType,
    stream_id: u32,
    head: &[u8],
    payload: &Bytes,
    chunk_size: u32,
) -> Vec<Bytes> {
    let cs = chunk_size.clamp(1, MAX_CHUNK_SIZE) as usize;
    let total = (head.len() + payload.len()).min(0xFF_FFFF);
    let payload = payload.slice(..total.saturating_sub(head.len()).min(payload.len()));
    let head = &head[..head.len().min(total)];
    let chunks = total.div_ceil(cs).max(1);
    let mut pieces = Vec::with_capacity(2 * chunks);
    // The first chunk's header and the head bytes in one buffer.
    let mut first = BytesMut::with_capacity(18 + head.len().min(cs));
    put_type0(&mut first, csid, timestamp, total as u32, kind, stream_id);
    let head_in_first = head.len().min(cs);
    first.put_slice(&head[..head_in_first]);
    let ext = (timestamp >= EXTENDED).then_some(timestamp);
    let mut cont = BytesMut::with_capacity(7);
    put_type3(&mut cont, csid, ext);
    let cont = cont.freeze();
    // Chunk boundaries over the concatenation head ++ payload.
    let mut pos = head_in_first; // bytes of the body emitted so far
    let mut room = cs - head_in_first; // bytes left in the current chunk
    pieces.push(first.freeze());
    if head_in_first < head.len() {
        // A head longer than a chunk (only with tiny chunk sizes): copied, it is a few bytes.
        let mut rest = &head[head_in_first..];
        while !rest.is_empty() {
            pieces.push(cont.clone());
            let n = rest.len().min(cs);
            pieces.push(Bytes::copy_from_slice(&rest[..n]));
            rest = &rest[n..];
            pos += n;
            room = cs - n;
        }
    }
    let mut off = 0;
    while off < payload.len() {
        if room == 0 {
            pieces.push(cont.clone());
            room = cs;
        }
        let n = room.min(payload.len() - off);
        pieces.push(payload.slice(off..off + n));
        off += n;
        pos += n;
        room -= n;
    }
    debug_assert_eq!(pos, total);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(r: &mut ChunkReader) -> Result<Vec<Message>, FormatError> {
        let mut v = Vec::new();
        while let Some(m) = r.next_message()? {
            v.push(m);
        }
        Ok(v)
    }

    fn read(bytes: &[u8]) -> Result<Vec<Message>, FormatError> {
        let mut r = ChunkReader::new(Limits::default(), 0);
        r.feed(bytes);
        read_all(&mut r)
    }

    /// Hand-cut bytes (RTMP 1.0 §5.3.1): a 200-byte message at timestamp 0x01000000 in two
    /// chunks, the type-3 one with or without the repeated extended timestamp.
    fn extended_message(repeat: bool) -> Vec<u8> {
        let mut b = vec![0x06, 0xFF, 0xFF, 0xFF, 0, 0, 200, 9, 1, 0, 0, 0, 1, 0, 0, 0];
        b.extend_from_slice(&[0xAA; 128]);
        b.push(0xC6);
        if repeat {
            b.extend_from_slice(&[1, 0, 0, 0]);
        }
        b.extend_from_slice(&[0xBB; 72]);
        b
    }

    #[test]
    fn chunk_headers_are_recorded_and_a_missing_extended_repeat_is_reported() {
        for repeat in [true, false] {
            let mut r = ChunkReader::new(Limits::default(), 3073);
            r.record(true);
            r.feed(&extended_message(repeat));
            let m = read_all(&mut r).unwrap();
            assert_eq!(m.len(), 1);
            assert_eq!((m[0].timestamp, m[0].body.len()), (0x0100_0000, 200));
            let h = r.take_chunks();
            assert_eq!(h.len(), 2);
            assert_eq!(
                (
                    h[0].offset,
                    h[0].fmt,
                    h[0].csid,
                    h[0].extended,
                    h[0].starts_message
                ),
                (3073, 0, 6, Some(0x0100_0000), true)
            );
            assert_eq!(
                (h[1].offset, h[1].fmt, h[1].extended, h[1].starts_message),
                (3073 + 16 + 128, 3, repeat.then_some(0x0100_0000), false)
            );
            let irregular = r.take_irregularities();
            if repeat {
                assert!(irregular.is_empty(), "{irregular:?}");
            } else {
                assert_eq!(
                    irregular,
                    [Irregularity::MissingExtended {
                        offset: 3073 + 16 + 128,
                        csid: 6
                    }]
                );
            }
        }
    }

    #[test]
    fn a_chunk_size_change_mid_message_is_reported() {
        // 200 bytes on csid 6: the first 128-byte chunk, Set Chunk Size 4096 on csid 2, the
        // other 72 bytes.
        let mut b = vec![0x06, 0, 0, 0, 0, 0, 200, 9, 1, 0, 0, 0];
        b.extend_from_slice(&[0xAA; 128]);
        b.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0]);
        b.push(0xC6);
        b.extend_from_slice(&[0xBB; 72]);
        let mut r = ChunkReader::new(Limits::default(), 0);
        r.feed(&b);
        let m = read_all(&mut r).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            r.take_irregularities(),
            [Irregularity::ChunkSizeMidMessage {
                offset: 140,
                csid: 6,
                from: 128,
                to: 4096
            }]
        );
    }

    #[test]
    fn basic_headers_hand_computed() {
        // §5.3.1.1: csid 2..63 in one byte; 64..319 as 0 + (csid-64); above as 1 + LE u16.
        let mut b = Vec::new();
        put_basic_header(&mut b, 0, 3);
        put_basic_header(&mut b, 1, 64);
        put_basic_header(&mut b, 2, 319);
        put_basic_header(&mut b, 3, 320);
        put_basic_header(&mut b, 3, 65599);
        assert_eq!(
            b,
            [0x03, 0x40, 0x00, 0x80, 0xff, 0xc1, 0x00, 0x01, 0xc1, 0xff, 0xff]
        );
    }

    #[test]
    fn type0_header_hand_computed() {
        // csid 4, ts 0x010203, length 0x000105, type 9, stream id 1 (little-endian).
        let mut b = Vec::new();
        put_type0(&mut b, 4, 0x01_0203, 0x105, MessageType::VIDEO, 1);
        assert_eq!(b, [0x04, 1, 2, 3, 0, 1, 5, 9, 1, 0, 0, 0]);
        // At or past 0xFFFFFF the field says so and the 32-bit value follows.
        let mut b = Vec::new();
        put_type0(&mut b, 4, 0x0100_0000, 1, MessageType::AUDIO, 1);
        assert_eq!(
            b,
            [0x04, 0xff, 0xff, 0xff, 0, 0, 1, 8, 1, 0, 0, 0, 1, 0, 0, 0]
        );
    }

    /// The spec's example 1 (§5.3.2.1): an audio stream of 32-byte messages, timestamps 1000,
    /// 1020, 1040, 1060: type 0, type 2 (delta 20), then type 3 twice. Bytes written out by
    /// hand from the table.
    #[test]
    fn spec_example_1_every_header_type() {
        let body = [0xAAu8; 32];
        let mut want = vec![0x03, 0x00, 0x03, 0xe8, 0, 0, 32, 8, 0x0c, 0x34, 0x56, 0x12];
        // (message stream id 0x1256340c: the only little-endian field in RTMP.)
        want.extend_from_slice(&body);
        want.extend_from_slice(&[0x83, 0, 0, 20]);
        want.extend_from_slice(&body);
        want.push(0xc3);
        want.extend_from_slice(&body);
        want.push(0xc3);
        want.extend_from_slice(&body);
        let mut w = ChunkWriter::compressing(128, true);
        let mut got = Vec::new();
        for ts in [1000, 1020, 1040, 1060] {
            w.write(&mut got, 3, ts, MessageType::AUDIO, 0x1256_340c, &body);
        }
        assert_eq!(got, want);
        let msgs = read(&want).unwrap();
        let ts: Vec<u32> = msgs.iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, [1000, 1020, 1040, 1060]);
        assert!(msgs
            .iter()
            .all(|m| m.stream_id == 0x1256_340c && m.body.len() == 32));
    }

    /// The spec's example 2 (§5.3.2.2): one 307-byte video message at chunk size 128 is a
    /// type-0 chunk and two type-3 continuation chunks.
    #[test]
    fn spec_example_2_continuation_chunks() {
        let body: Vec<u8> = (0..307u32).map(|i| i as u8).collect();
        let mut got = Vec::new();
        ChunkWriter::new(128).write(&mut got, 4, 1000, MessageType::VIDEO, 1, &body);
        let mut want = vec![0x04, 0x00, 0x03, 0xe8, 0x00, 0x01, 0x33, 0x09, 1, 0, 0, 0];
        want.extend_from_slice(&body[..128]);
        want.push(0xc4);
        want.extend_from_slice(&body[128..256]);
        want.push(0xc4);
        want.extend_from_slice(&body[256..]);
        assert_eq!(got, want);
        let m = read(&got).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].body, body);
        assert_eq!(
            (m[0].timestamp, m[0].kind, m[0].offset),
            (1000, MessageType::VIDEO, 0)
        );
    }

    #[test]
    fn extended_timestamp_repeated_on_type3_hand_computed() {
        // 200 bytes at 0x12345678 ms, chunk size 128: the continuation chunk repeats it.
        let body = [7u8; 200];
        let mut got = Vec::new();
        ChunkWriter::new(128).write(&mut got, 6, 0x1234_5678, MessageType::VIDEO, 1, &body);
        let mut want = vec![
            0x06, 0xff, 0xff, 0xff, 0, 0, 200, 9, 1, 0, 0, 0, 0x12, 0x34, 0x56, 0x78,
        ];
        want.extend_from_slice(&body[..128]);
        want.extend_from_slice(&[0xc6, 0x12, 0x34, 0x56, 0x78]);
        want.extend_from_slice(&body[128..]);
        assert_eq!(got, want);
        let m = read(&got).unwrap();
        assert_eq!((m[0].timestamp, &m[0].body[..]), (0x1234_5678, &body[..]));
        // The old form without the repeat reads the same.
        let mut old = Vec::new();
        ChunkWriter::compressing(128, false).write(
            &mut old,
            6,
            0x1234_5678,
            MessageType::VIDEO,
            1,
            &body,
        );
        assert_eq!(old.len(), want.len() - 4);
        assert_eq!(read(&old).unwrap(), m);
    }

    #[test]
    fn repeat_detection_reads_payload_that_is_not_the_timestamp() {
        // Old form, and the continuation's payload starts with bytes that are not the
        // timestamp: they stay payload.
        let mut body = vec![0u8; 130];
        body[128..].copy_from_slice(&[1, 2]);
        let mut b = Vec::new();
        ChunkWriter::compressing(128, false).write(
            &mut b,
            6,
            EXTENDED,
            MessageType::VIDEO,
            1,
            &body,
        );
        // 4 more bytes so the reader can peek past the 2-byte continuation.
        b.extend_from_slice(&[0x02, 0, 0, 0]);
        let mut r = ChunkReader::new(Limits::default(), 0);
        r.feed(&b);
        let m = r.next_message().unwrap().unwrap();
        assert_eq!(m.body, body);
    }

    #[test]
    fn type1_and_type2_deltas_and_a_type3_after_type0() {
        // Video 100 B at 40, then 120 B at 80 (type 1, delta 40), then 120 B at 120 (type 3:
        // delta 40 equals the last field). Then audio on its own chunk stream.
        let mut w = ChunkWriter::compressing(4096, true);
        let mut b = Vec::new();
        w.write(&mut b, 6, 40, MessageType::VIDEO, 1, &[1; 100]);
        w.write(&mut b, 6, 80, MessageType::VIDEO, 1, &[2; 120]);
        w.write(&mut b, 6, 120, MessageType::VIDEO, 1, &[3; 120]);
        w.write(&mut b, 4, 5, MessageType::AUDIO, 1, &[4; 10]);
        w.write(&mut b, 4, 10, MessageType::AUDIO, 1, &[5; 10]);
        // Headers: 12-byte, 8-byte (fmt 1), 1-byte (fmt 3), 12-byte, 1-byte (fmt 3: delta 5
        // equals the type-0 field 5).
        assert_eq!(b[0], 0x06);
        assert_eq!(b[12 + 100], 0x46);
        assert_eq!(b[12 + 100 + 8 + 120], 0xc6);
        let at = 12 + 100 + 8 + 120 + 1 + 120;
        assert_eq!(b[at], 0x04);
        assert_eq!(b[at + 12 + 10], 0xc4);
        let m = read(&b).unwrap();
        let got: Vec<(u32, u32, usize)> = m
            .iter()
            .map(|m| (m.csid, m.timestamp, m.body.len()))
            .collect();
        assert_eq!(
            got,
            [
                (6, 40, 100),
                (6, 80, 120),
                (6, 120, 120),
                (4, 5, 10),
                (4, 10, 10)
            ]
        );
    }

    #[test]
    fn set_chunk_size_applies_to_what_follows_and_bad_sizes_are_errors() {
        let mut b = Vec::new();
        let mut w = ChunkWriter::new(128);
        w.write(
            &mut b,
            2,
            0,
            MessageType::SET_CHUNK_SIZE,
            0,
            &MAX_CHUNK_SIZE.to_be_bytes(),
        );
        w.set_chunk_size(MAX_CHUNK_SIZE);
        w.write(&mut b, 6, 0, MessageType::VIDEO, 1, &[9; 5000]);
        let m = read(&b).unwrap();
        assert_eq!(m[1].body.len(), 5000);
        for size in [0u32, 0x8000_0000] {
            let mut b = Vec::new();
            ChunkWriter::new(128).write(
                &mut b,
                2,
                0,
                MessageType::SET_CHUNK_SIZE,
                0,
                &size.to_be_bytes(),
            );
            assert!(read(&b).is_err(), "chunk size {size:#x}");
        }
    }

    #[test]
    fn abort_discards_the_partial_message() {
        let mut b = Vec::new();
        // First chunk of a 300-byte message, then Abort for its chunk stream, then a new one.
        let mut part = Vec::new();
        ChunkWriter::new(128).write(&mut part, 6, 0, MessageType::VIDEO, 1, &[1; 300]);
        b.extend_from_slice(&part[..12 + 128]);
        ChunkWriter::new(128).write(&mut b, 2, 0, MessageType::ABORT, 0, &6u32.to_be_bytes());
        ChunkWriter::new(128).write(&mut b, 6, 7, MessageType::VIDEO, 1, &[2; 10]);
        let mut r = ChunkReader::new(Limits::default(), 0);
        r.feed(&b);
        let m = read_all(&mut r).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!((m[1].timestamp, &m[1].body[..]), (7, &[2u8; 10][..]));
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn limits_refuse_cleanly_before_buffering() {
        // A 16 MiB − 1 message: refused at its header, nothing held.
        let mut b = vec![0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0];
        b.extend_from_slice(&[0; 100]);
        let mut r = ChunkReader::new(Limits::default(), 3073);
        r.feed(&b);
        let e = r.next_message().unwrap_err();
        assert_eq!(e.offset, 3073);
        assert!(matches!(e.problem, Problem::Limit { .. }), "{e}");
        // Exactly the limit is fine.
        let lim = Limits {
            max_message_len: 1000,
            max_chunk_streams: 3,
            max_buffered: 1500,
        };
        let mut ok = Vec::new();
        ChunkWriter::new(128).write(&mut ok, 6, 0, MessageType::VIDEO, 1, &[0; 1000]);
        let mut r = ChunkReader::new(lim, 0);
        r.feed(&ok);
        assert_eq!(read_all(&mut r).unwrap()[0].body.len(), 1000);
        // Two partial messages of 1000 exceed 1500 buffered.
        let mut two = Vec::new();
        let mut w = ChunkWriter::new(128);
        for cs in [4, 5] {
            let mut one = Vec::new();
            w.write(&mut one, cs, 0, MessageType::VIDEO, 1, &[0; 1000]);
            two.extend_from_slice(&one[..12 + 128]);
        }
        let mut r = ChunkReader::new(lim, 0);
        r.feed(&two);
        assert!(matches!(
            r.next_message().unwrap_err().problem,
            Problem::Limit { .. }
        ));
        // A fourth chunk stream is one too many.
        let mut many = Vec::new();
        for cs in 2..6 {
            ChunkWriter::new(128).write(&mut many, cs, 0, MessageType(99), 1, &[]);
        }
        let mut r = ChunkReader::new(lim, 0);
        r.feed(&many);
        let mut n = 0;
        let e = loop {
            match r.next_message() {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("no error"),
                Err(e) => break e,
            }
        };
        assert_eq!(n, 3);
        assert!(matches!(e.problem, Problem::Limit { .. }));
    }

    #[test]
    fn protocol_violations_are_errors_with_offsets() {
        // Type 2 on a fresh chunk stream.
        let e = read(&[0x85, 0, 0, 1]).unwrap_err();
        assert_eq!(e.offset, 0);
        // A type-1 header in the middle of a message on the same chunk stream.
        let mut b = Vec::new();
        ChunkWriter::new(128).write(&mut b, 6, 0, MessageType::VIDEO, 1, &[0; 200]);
        b.truncate(12 + 128);
        b.extend_from_slice(&[0x46, 0, 0, 0, 0, 0, 1, 9, 0]);
        let e = read(&b).unwrap_err();
        assert_eq!(e.offset, 140);
    }

    #[test]
    fn chunk_pieces_equal_the_writer_bytes() {
        for (ts, len, cs) in [
            (0u32, 0usize, 128u32),
            (40, 300, 128),
            (EXTENDED, 9000, 4096),
            (u32::MAX, 4091, 4096),
            (5, 3, 1),
        ] {
            let payload: Bytes = (0..len).map(|i| (i * 7) as u8).collect::<Vec<u8>>().into();
            let head = [0x17, 1, 0, 0, 0];
            let pieces = chunk_pieces(6, ts, MessageType::VIDEO, 1, &head, &payload, cs);
            let joined: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
            let mut body = head.to_vec();
            body.extend_from_slice(&payload);
            let mut want = Vec::new();
            ChunkWriter::new(cs).write(&mut want, 6, ts, MessageType::VIDEO, 1, &body);
            assert_eq!(joined, want, "ts {ts} len {len} chunk size {cs}");
        }
    }

    fn messages() -> impl Strategy<Value = Vec<(u32, u32, u8, u32, Vec<u8>)>> {
        proptest::collection::vec(
            (
                prop_oneof![2u32..8, 60u32..70, 318u32..322, Just(65599u32)],
                prop_oneof![
                    0u32..100_000,
                    (EXTENDED - 3)..=(EXTENDED + 3),
                    Just(u32::MAX)
                ],
                prop_oneof![Just(8u8), Just(9u8), Just(18u8), Just(20u8), Just(99u8)],
                0u32..3,
                proptest::collection::vec(any::<u8>(), 0..700),
            ),
            1..12,
        )
    }

    proptest! {
        #[test]
        fn every_split_point_gives_the_same_messages(
            msgs in messages(),
            chunk in prop_oneof![Just(1u32), 2u32..300, Just(4096u32)],
            compress in any::<bool>(),
            repeat in any::<bool>(),
            splits in proptest::collection::vec(any::<prop::sample::Index>(), 1..4),
        ) {
            // Oracle: what was written. Timestamps are made non-decreasing per chunk stream
            // only when compressing (deltas); type-0 writes take any order.
            let mut w = if compress { ChunkWriter::compressing(chunk, repeat) } else { ChunkWriter::new(chunk) };
            let mut want = vec![(2u32, 0u32, MessageType::SET_CHUNK_SIZE, 0u32, chunk.to_be_bytes().to_vec())];
            // The announcement itself goes at the default size the reader starts with.
            let mut bytes = Vec::new();
            ChunkWriter::new(128).write(&mut bytes, 2, 0, MessageType::SET_CHUNK_SIZE, 0, &chunk.to_be_bytes());
            for (cs, ts, kind, sid, body) in &msgs {
                w.write(&mut bytes, *cs, *ts, MessageType(*kind), *sid, body);
                want.push((*cs, *ts, MessageType(*kind), *sid, body.clone()));
            }
            let mut cuts: Vec<usize> = splits.iter().map(|s| s.index(bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut r = ChunkReader::new(Limits::default(), 0);
            let mut got = Vec::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                r.feed(&bytes[last..c]);
                last = c;
                while let Some(m) = r.next_message().unwrap() {
                    got.push((m.csid, m.timestamp, m.kind, m.stream_id, m.body.to_vec()));
                }
            }
            if got.len() < want.len() {
                // The old form's last type-3 chunk may wait for 4 more bytes to decide.
                r.feed(&[0x02, 0, 0, 0]);
                while let Some(m) = r.next_message().unwrap() {
                    got.push((m.csid, m.timestamp, m.kind, m.stream_id, m.body.to_vec()));
                }
            }
            // The old (no repeat) form is ambiguous when a payload starts with the very
            // timestamp value; the generator's payloads rarely do, so compare in full.
            prop_assert_eq!(got, want);
            prop_assert_eq!(r.buffered() <= 4, true);
        }

        #[test]
        fn random_bytes_never_panic_and_stay_bounded(b in proptest::collection::vec(any::<u8>(), 0..4000)) {
            let lim = Limits { max_message_len: 2000, max_chunk_streams: 8, max_buffered: 4000 };
            let mut r = ChunkReader::new(lim, 0);
            r.feed(&b);
            loop {
                match r.next_message() {
                    Ok(Some(m)) => prop_assert!(m.body.len() <= 2000),
                    Ok(None) => break,
                    Err(e) => { prop_assert!(e.offset <= b.len() as u64); break }
                }
            }
            prop_assert!(r.buffered() <= b.len() + 4000);
        }
    }
}
