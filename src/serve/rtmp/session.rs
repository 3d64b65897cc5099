//! The server's side of one RTMP connection, sans-IO: bytes in ([`Session::feed`]), events
//! out ([`Session::poll_event`]), bytes to send out ([`Session::take_output`]).
//!
//! The session answers what needs no decision by itself (handshake, `connect`, `createStream`,
//! `releaseStream`, `FCPublish`, pings, acknowledgements, pause notices) and hands the rest to
//! the application as events: a publish or a play is accepted or refused by calling
//! [`Session::accept_publish`]/[`Session::reject_publish`] and
//! [`Session::accept_play`]/[`Session::reject_play`] with the request's id, since only the
//! application knows the streams (rml_rtmp's shape).
//!
//! What goes out, in the order nginx-rtmp and FMS use and FFmpeg and OBS expect:
//! - `connect` → Window Acknowledgement Size, Set Peer Bandwidth, Set Chunk Size
//!   ([`OUT_CHUNK_SIZE`]), `_result` with `NetConnection.Connect.Success`;
//! - publish accepted → StreamBegin, `onStatus NetStream.Publish.Start`;
//! - play accepted → (StreamIsRecorded for VOD), StreamBegin, `NetStream.Play.Reset`,
//!   `NetStream.Play.Start`, `|RtmpSampleAccess`; then the application sends metadata,
//!   sequence headers and media.
//!
//! Every message goes out with a type-0 chunk header on a fixed chunk stream per kind
//! ([`csid`](super::outbox::csid)), so the media chunks built once per stream by [`super::media`] can be written
//! between the session's own output on any connection.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};

use crate::dtsc::time::Unwrapper;
use crate::formats::error::{FormatError, Problem};
use crate::formats::flv::amf0::Value;
use crate::formats::flv::tag::{TagHeader, TagType, PREV_TAG_SIZE_LEN, TAG_HEADER_LEN};

use super::chunk::{ChunkReader, ChunkWriter, Limits, DEFAULT_CHUNK_SIZE};
use super::command::{self, code, object, on_status, s, status_info, Command};
use super::handshake::{HandshakeKind, ServerHandshake, PACKET_LEN};
use super::message::{limit, Control, Message, MessageType, UserControl};
use super::name::StreamName;
use super::outbox::{csid, Outbox};
use super::FORMAT;

/// The chunk size the server announces after `connect` and cuts every outgoing message to
/// (nginx-rtmp's `out_chunk_size` default; FFmpeg and OBS send 4096 too).
pub const OUT_CHUNK_SIZE: u32 = 4096;
/// The acknowledgement window announced to the peer (FFmpeg, nginx-rtmp and OBS use 2.5 MB).
pub const WINDOW_ACK_SIZE: u32 = 2_500_000;
/// Message streams one connection may create.
pub const MAX_STREAMS: usize = 16;
/// Publish/play/length requests waiting for the application's answer.
pub const MAX_PENDING: usize = 16;
/// The message stream id `createStream` hands out first (and the one shared media uses).
pub const FIRST_STREAM_ID: u32 = 1;
/// Bytes the client sends before its first chunk: C0, C1, C2.
const HANDSHAKE_LEN: u64 = 1 + 2 * PACKET_LEN as u64;

/// Settings of a session.
#[derive(Clone, Debug)]
pub struct Config {
    /// Window Acknowledgement Size announced after `connect`.
    pub window_ack_size: u32,
    /// Set Peer Bandwidth announced after `connect`.
    pub peer_bandwidth: u32,
    /// Bounds on buffered input.
    pub limits: Limits,
    /// Seed for the handshake's filler bytes.
    pub seed: u64,
    /// The server's epoch in ms, written into S1.
    pub epoch_ms: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            window_ack_size: WINDOW_ACK_SIZE,
            peer_bandwidth: WINDOW_ACK_SIZE,
            limits: Limits::default(),
            seed: 0,
            epoch_ms: 0,
        }
    }
}

/// Names a publish, play or length request until the application answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u32);

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Message type 8.
    Audio,
    /// Message type 9.
    Video,
}

impl MediaKind {
    /// The message type.
    pub fn message_type(self) -> MessageType {
        match self {
            MediaKind::Audio => MessageType::AUDIO,
            MediaKind::Video => MessageType::VIDEO,
        }
    }

    /// The FLV tag type of the body.
    pub fn tag_type(self) -> TagType {
        match self {
            MediaKind::Audio => TagType::AUDIO,
            MediaKind::Video => TagType::VIDEO,
        }
    }

    /// The chunk stream the server sends it on.
    pub fn csid(self) -> u32 {
        match self {
            MediaKind::Audio => csid::AUDIO,
            MediaKind::Video => csid::VIDEO,
        }
    }
}

/// An audio or video message from a publisher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Media {
    /// The message stream it came on.
    pub stream_id: u32,
    /// Audio or video.
    pub kind: MediaKind,
    /// The 32-bit timestamp as sent.
    pub timestamp: u32,
    /// The timestamp unwrapped past 2^32 ms (one clock per connection).
    pub ms: i64,
    /// The FLV tag body (audio/video tag header, then the payload).
    pub body: Bytes,
}

/// What `connect` said.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectInfo {
    /// The application name (`live` in `rtmp://host/live/stream`), as sent.
    pub app: String,
    /// The URL the client connected to.
    pub tc_url: Option<String>,
    /// The client's self-description (`FMLE/3.0 (compatible; FMSc/1.0)`, `LNX 9,0,124,2`).
    pub flash_ver: Option<String>,
    /// 0 for AMF0, 3 for AMF3 (echoed in the answer).
    pub object_encoding: f64,
}

/// A publish waiting for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRequest {
    /// Answer with this.
    pub id: RequestId,
    /// The message stream being published on.
    pub stream_id: u32,
    /// The publish name.
    pub name: StreamName,
    /// The application name from `connect`.
    pub app: String,
    /// `live`, `record` or `append`.
    pub mode: String,
}

impl PublishRequest {
    /// What a `push://HOST@PASSWORD` password or a stream key is compared with, as MistServer
    /// does: the application name and the stream key (each without `?` parameters).
    pub fn password_candidates(&self) -> [&str; 2] {
        [
            self.app.split('?').next().unwrap_or(""),
            self.name.key.as_str(),
        ]
    }
}

/// A play waiting for the application.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayRequest {
    /// Answer with this.
    pub id: RequestId,
    /// The message stream to play on.
    pub stream_id: u32,
    /// The play name.
    pub name: StreamName,
    /// The application name from `connect`.
    pub app: String,
    /// `start` as sent: -2 live or recorded, -1 live only, ≥ 0 a position in ms.
    pub start: f64,
    /// `duration` as sent: -1 to the end.
    pub duration: f64,
    /// Whether to reset (flush) playlists; `NetStream.Play.Reset` is sent when true.
    pub reset: bool,
}

impl PlayRequest {
    /// The start position in ms for a recorded stream (`None`: live, or from the start).
    pub fn start_ms(&self) -> Option<i64> {
        (self.start >= 0.0 && self.start.is_finite()).then_some(self.start as i64)
    }
}

/// What the session reports to the application.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `connect` was answered.
    Connected(ConnectInfo),
    /// A client wants to publish: answer with `accept_publish` or `reject_publish`.
    PublishRequested(PublishRequest),
    /// A client wants to play: answer with `accept_play` or `reject_play`.
    PlayRequested(PlayRequest),
    /// Audio or video from a publisher.
    Media(Media),
    /// A data message from a publisher (`onMetaData` ..., with `@setDataFrame` removed).
    Data {
        /// The message stream it came on.
        stream_id: u32,
        /// The 32-bit timestamp as sent.
        timestamp: u32,
        /// The AMF0 values; the first is the handler name.
        values: Vec<Value>,
    },
    /// A player paused or resumed (the notice has been sent).
    Pause {
        /// The message stream.
        stream_id: u32,
        /// True to pause, false to resume.
        paused: bool,
        /// The position the client gave, in ms.
        ms: i64,
    },
    /// A player asked to seek: answer with `seek_done` or `seek_failed`.
    Seek {
        /// The message stream.
        stream_id: u32,
        /// The position, in ms (negative values are made 0).
        ms: i64,
    },
    /// A client asked for a stream's length: answer with `answer_stream_length`.
    StreamLengthRequested {
        /// Answer with this.
        id: RequestId,
        /// The name asked about.
        name: StreamName,
    },
    /// A publisher stopped publishing on this stream (FCUnpublish, closeStream, deleteStream).
    Unpublished {
        /// The message stream.
        stream_id: u32,
    },
    /// A player stopped playing on this stream (closeStream, deleteStream).
    PlayStopped {
        /// The message stream.
        stream_id: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Use {
    Idle,
    Publishing(String),
    Playing,
}

#[derive(Clone, Debug)]
enum Pending {
    Publish {
        stream_id: u32,
        name: String,
    },
    Play {
        stream_id: u32,
        reset: bool,
        name: String,
    },
    Length {
        stream_id: u32,
        transaction: f64,
    },
}

/// One connection's RTMP conversation.
#[derive(Debug)]
pub struct Session {
    config: Config,
    handshake: Option<ServerHandshake>,
    handshake_kind: Option<HandshakeKind>,
    reader: ChunkReader,
    tx: Outbox,
    events: VecDeque<Event>,
    received: u64,
    last_ack: u64,
    peer_window: Option<u32>,
    peer_acked: u32,
    connect: Option<ConnectInfo>,
    next_stream: u32,
    streams: HashMap<u32, Use>,
    pending: HashMap<RequestId, Pending>,
    next_request: u32,
    clock: Option<i64>,
    failed: Option<String>,
}

impl Session {
    /// A session waiting for the client's C0.
    pub fn new(config: Config) -> Session {
        Session {
            handshake: Some(ServerHandshake::new(config.seed, config.epoch_ms)),
            handshake_kind: None,
            reader: ChunkReader::new(config.limits, HANDSHAKE_LEN),
            tx: Outbox::new(ChunkWriter::new(DEFAULT_CHUNK_SIZE), BytesMut::new()),
            events: VecDeque::new(),
            received: 0,
            last_ack: 0,
            peer_window: None,
            peer_acked: 0,
            connect: None,
            next_stream: FIRST_STREAM_ID,
            streams: HashMap::new(),
            pending: HashMap::new(),
            next_request: 0,
            clock: None,
            failed: None,
            config,
        }
    }

    /// Takes the client's bytes: answers go to the output, events to the queue. An error ends
    /// the session (every later call fails too); the caller sends what output is left and
    /// closes the connection.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), FormatError> {
        if let Some(why) = &self.failed {
            return Err(FormatError::invalid(FORMAT, self.received, why.clone()));
        }
        let r = self.feed_inner(data);
        if let Err(e) = &r {
            self.failed = Some(format!("session ended after an error: {e}"));
        }
        r
    }

    fn feed_inner(&mut self, data: &[u8]) -> Result<(), FormatError> {
        let start = self.received;
        self.received += data.len() as u64;
        let mut rest = data;
        if let Some(hs) = self.handshake.as_mut() {
            let used = hs.feed(rest, start, &mut self.tx.out)?;
            rest = &rest[used..];
            self.handshake_kind = hs.kind();
            if hs.is_done() {
                self.handshake = None;
            }
        }
        if !rest.is_empty() {
            self.reader.feed(rest);
        }
        while let Some(m) = self.reader.next_message()? {
            self.handle(m)?;
        }
        if let Some(w) = self.peer_window {
            if self.received - self.last_ack >= u64::from(w) {
                self.last_ack = self.received;
                // The sequence number is the byte count mod 2^32 (§5.4.3).
                self.tx
                    .control(Control::Acknowledgement(self.received as u32));
            }
        }
        Ok(())
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes to send, taken out of the session (empty when there are none).
    pub fn take_output(&mut self) -> Bytes {
        self.tx.take()
    }

    /// Bytes waiting to be sent.
    pub fn output_len(&self) -> usize {
        self.tx.out.len()
    }

    /// How the handshake was answered, once C1 has arrived.
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.handshake_kind
    }

    /// What `connect` said, once it came.
    pub fn connect_info(&self) -> Option<&ConnectInfo> {
        self.connect.as_ref()
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The peer's last Acknowledgement (bytes it has received from us, mod 2^32).
    pub fn peer_acked(&self) -> u32 {
        self.peer_acked
    }

    /// Bytes the session holds of the client's input (bounded by [`Limits`]).
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }

    // ---- answers from the application -----------------------------------------------------

    /// Accepts a publish: StreamBegin and `NetStream.Publish.Start`. False when `id` is not a
    /// pending publish.
    pub fn accept_publish(&mut self, id: RequestId) -> bool {
        let Some(Pending::Publish { stream_id, name }) = self.take_pending(id, "publish") else {
            return false;
        };
        self.tx.user_control(UserControl::StreamBegin(stream_id));
        self.status(
            stream_id,
            code::STATUS,
            code::PUBLISH_START,
            &format!("{name} is now published"),
            Some(&name),
        );
        true
    }

    /// Refuses a publish with `NetStream.Publish.BadName` and `why` as the description.
    pub fn reject_publish(&mut self, id: RequestId, why: &str) -> bool {
        let Some(Pending::Publish { stream_id, name }) = self.take_pending(id, "publish") else {
            return false;
        };
        self.streams.insert(stream_id, Use::Idle);
        self.status(
            stream_id,
            code::ERROR,
            code::PUBLISH_BAD_NAME,
            why,
            Some(&name),
        );
        true
    }

    /// Accepts a play; `recorded` is true for VOD (StreamIsRecorded is sent first).
    pub fn accept_play(&mut self, id: RequestId, recorded: bool) -> bool {
        let Some(Pending::Play {
            stream_id,
            reset,
            name,
        }) = self.take_pending(id, "play")
        else {
            return false;
        };
        if recorded {
            self.tx
                .user_control(UserControl::StreamIsRecorded(stream_id));
        }
        self.tx.user_control(UserControl::StreamBegin(stream_id));
        if reset {
            self.status(
                stream_id,
                code::STATUS,
                code::PLAY_RESET,
                &format!("Playing and resetting {name}"),
                Some(&name),
            );
        }
        self.status(
            stream_id,
            code::STATUS,
            code::PLAY_START,
            &format!("Started playing {name}"),
            Some(&name),
        );
        self.send_data(
            stream_id,
            0,
            &[
                s("|RtmpSampleAccess"),
                Value::Boolean(true),
                Value::Boolean(true),
            ],
        );
        true
    }

    /// Refuses a play: `NetStream.Play.StreamNotFound` when `not_found`, else
    /// `NetStream.Play.Failed`, with `why` as the description.
    pub fn reject_play(&mut self, id: RequestId, not_found: bool, why: &str) -> bool {
        let Some(Pending::Play {
            stream_id, name, ..
        }) = self.take_pending(id, "play")
        else {
            return false;
        };
        self.streams.insert(stream_id, Use::Idle);
        let c = if not_found {
            code::PLAY_STREAM_NOT_FOUND
        } else {
            code::PLAY_FAILED
        };
        self.status(stream_id, code::ERROR, c, why, Some(&name));
        true
    }

    /// Answers `getStreamLength` with a length in seconds (0 for live or unknown).
    pub fn answer_stream_length(&mut self, id: RequestId, seconds: f64) -> bool {
        let Some(Pending::Length {
            stream_id,
            transaction,
        }) = self.take_pending(id, "length")
        else {
            return false;
        };
        let c = Command::new(
            "_result",
            transaction,
            Value::Null,
            vec![Value::Number(seconds)],
        );
        self.tx.command(stream_id, &c);
        true
    }

    /// A seek was done: StreamEOF, (StreamIsRecorded), StreamBegin, `NetStream.Seek.Notify`
    /// and `NetStream.Play.Start` (FMS's order); media from `ms` follows.
    pub fn seek_done(&mut self, stream_id: u32, ms: i64, recorded: bool) {
        self.tx.user_control(UserControl::StreamEof(stream_id));
        if recorded {
            self.tx
                .user_control(UserControl::StreamIsRecorded(stream_id));
        }
        self.tx.user_control(UserControl::StreamBegin(stream_id));
        self.status(
            stream_id,
            code::STATUS,
            code::SEEK_NOTIFY,
            &format!("Seeking {ms} (stream ID: {stream_id})"),
            None,
        );
        self.status(stream_id, code::STATUS, code::PLAY_START, "Playing", None);
    }

    /// A seek could not be done: `NetStream.Seek.Failed`.
    pub fn seek_failed(&mut self, stream_id: u32, why: &str) {
        self.status(stream_id, code::ERROR, code::SEEK_FAILED, why, None);
    }

    /// Playback is over (file ended, live stream gone): StreamEOF and `NetStream.Play.Stop`.
    pub fn play_ended(&mut self, stream_id: u32) {
        self.tx.user_control(UserControl::StreamEof(stream_id));
        self.status(
            stream_id,
            code::STATUS,
            code::PLAY_STOP,
            "Stopped playing",
            None,
        );
    }

    /// Sends one audio or video message (copied into the output; shared media goes around
    /// the session, see [`super::media`]).
    pub fn send_media(&mut self, stream_id: u32, kind: MediaKind, timestamp: u32, body: &[u8]) {
        let mt = kind.message_type();
        self.tx.writer.write(
            &mut self.tx.out,
            kind.csid(),
            timestamp,
            mt,
            stream_id,
            body,
        );
    }

    /// Sends a data message (AMF0 values, e.g. `onMetaData`).
    pub fn send_data(&mut self, stream_id: u32, timestamp: u32, values: &[Value]) {
        let body = command::encode_values(values);
        self.tx.writer.write(
            &mut self.tx.out,
            csid::DATA,
            timestamp,
            MessageType::DATA_AMF0,
            stream_id,
            &body,
        );
    }

    // ---- internals ------------------------------------------------------------------------

    /// Removes and returns request `id` if it is of the kind named (`publish`, `play` or
    /// `length`); a mismatched kind leaves it pending.
    fn take_pending(&mut self, id: RequestId, kind: &str) -> Option<Pending> {
        let matches = match self.pending.get(&id)? {
            Pending::Publish { .. } => kind == "publish",
            Pending::Play { .. } => kind == "play",
            Pending::Length { .. } => kind == "length",
        };
        if matches {
            self.pending.remove(&id)
        } else {
            None
        }
    }

    fn new_request(&mut self, p: Pending, at: u64) -> Result<RequestId, FormatError> {
        if self.pending.len() >= MAX_PENDING {
            return Err(FormatError::new(
                FORMAT,
                at,
                Problem::Limit {
                    what: "RTMP requests waiting for an answer",
                    limit: MAX_PENDING as u64,
                },
            ));
        }
        let id = RequestId(self.next_request);
        self.next_request = self.next_request.wrapping_add(1);
        self.pending.insert(id, p);
        Ok(id)
    }

    fn status(
        &mut self,
        stream_id: u32,
        level: &str,
        code: &str,
        desc: &str,
        details: Option<&str>,
    ) {
        self.tx.command(
            stream_id,
            &on_status(status_info(level, code, desc, details)),
        );
    }

    fn handle(&mut self, m: Message) -> Result<(), FormatError> {
        match m.kind {
            // Applied by the chunk reader already.
            MessageType::SET_CHUNK_SIZE | MessageType::ABORT => {}
            MessageType::ACKNOWLEDGEMENT => {
                if let Control::Acknowledgement(n) = Control::parse(&m)? {
                    self.peer_acked = n;
                }
            }
            MessageType::WINDOW_ACK_SIZE => {
                if let Control::WindowAckSize(n) = Control::parse(&m)? {
                    // A window of 0 would ask for an ack after every byte: ignored.
                    self.peer_window = (n > 0).then_some(n);
                }
            }
            MessageType::SET_PEER_BANDWIDTH => {
                Control::parse(&m)?;
            }
            MessageType::USER_CONTROL => match UserControl::parse(&m)? {
                UserControl::PingRequest(t) => self.tx.user_control(UserControl::PingResponse(t)),
                other => tracing::trace!(?other, "rtmp: user control event"),
            },
            MessageType::AUDIO => self.media(&m, MediaKind::Audio, m.timestamp, m.body.clone()),
            MessageType::VIDEO => self.media(&m, MediaKind::Video, m.timestamp, m.body.clone()),
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => self.data(&m),
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let c = Command::parse(&m)?;
                self.on_command(&m, c)?;
            }
            MessageType::AGGREGATE => self.aggregate(&m),
            other => tracing::debug!(kind = ?other, len = m.body.len(), "rtmp: message skipped"),
        }
        Ok(())
    }

    fn publishing(&self, stream_id: u32) -> bool {
        matches!(self.streams.get(&stream_id), Some(Use::Publishing(_)))
    }

    fn media(&mut self, m: &Message, kind: MediaKind, timestamp: u32, body: Bytes) {
        if !self.publishing(m.stream_id) {
            tracing::debug!(
                stream = m.stream_id,
                "rtmp: media on a stream not being published; skipped"
            );
            return;
        }
        let ms = match self.clock {
            None => i64::from(timestamp),
            Some(last) => Unwrapper::place_near(32, u64::from(timestamp), last),
        };
        self.clock = Some(ms);
        self.events.push_back(Event::Media(Media {
            stream_id: m.stream_id,
            kind,
            timestamp,
            ms,
            body,
        }));
    }

    fn data(&mut self, m: &Message) {
        if !self.publishing(m.stream_id) {
            return;
        }
        let mut values = match command::values(m) {
            Ok(v) => v,
            Err(e) => {
                // Metadata is advisory; a broken one is not worth the connection.
                tracing::debug!(error = %e, "rtmp: data message skipped");
                return;
            }
        };
        if values.first().and_then(Value::as_str) == Some("@setDataFrame") {
            values.remove(0);
        }
        if values.is_empty() {
            return;
        }
        self.events.push_back(Event::Data {
            stream_id: m.stream_id,
            timestamp: m.timestamp,
            values,
        });
    }

    /// An aggregate message: FLV tags (header, body, PreviousTagSize) whose timestamps are
    /// offsets from the first one, re-based on the aggregate's own timestamp.
    fn aggregate(&mut self, m: &Message) {
        let b = &m.body;
        let mut at = 0;
        let mut first: Option<u32> = None;
        while b.len() - at >= TAG_HEADER_LEN {
            let mut h = [0u8; TAG_HEADER_LEN];
            h.copy_from_slice(&b[at..at + TAG_HEADER_LEN]);
            let t = TagHeader::from_bytes(&h);
            let end = at + TAG_HEADER_LEN + t.data_size as usize;
            if end > b.len() {
                tracing::debug!("rtmp: aggregate message cut short; rest skipped");
                return;
            }
            let base = *first.get_or_insert(t.timestamp_ms);
            let ts = m.timestamp.wrapping_add(t.timestamp_ms.wrapping_sub(base));
            let body = b.slice(at + TAG_HEADER_LEN..end);
            match t.tag_type {
                TagType::AUDIO => self.media(m, MediaKind::Audio, ts, body),
                TagType::VIDEO => self.media(m, MediaKind::Video, ts, body),
                TagType::SCRIPT => {
                    let sub = Message {
                        kind: MessageType::DATA_AMF0,
                        timestamp: ts,
                        body,
                        ..m.clone()
                    };
                    self.data(&sub);
                }
                _ => {}
            }
            at = (end + PREV_TAG_SIZE_LEN).min(b.len());
        }
    }

    fn on_command(&mut self, m: &Message, c: Command) -> Result<(), FormatError> {
        let sid = m.stream_id;
        let txn = c.transaction;
        if c.name != "connect" && self.connect.is_none() && !is_reply(&c.name) {
            return Err(FormatError::invalid(
                FORMAT,
                m.offset,
                format!("`{}` before `connect`", c.name),
            ));
        }
        match c.name.as_str() {
            "connect" => self.on_connect(&c),
            "createStream" => {
                if self.streams.len() >= MAX_STREAMS {
                    let info =
                        status_info(code::ERROR, code::CALL_FAILED, "too many streams", None);
                    self.tx
                        .command(0, &Command::new("_error", txn, Value::Null, vec![info]));
                } else {
                    let id = self.next_stream;
                    self.next_stream += 1;
                    self.streams.insert(id, Use::Idle);
                    let r = Command::new(
                        "_result",
                        txn,
                        Value::Null,
                        vec![Value::Number(f64::from(id))],
                    );
                    self.tx.command(0, &r);
                }
            }
            "releaseStream" => {
                let r = Command::new("_result", txn, Value::Null, vec![Value::Undefined]);
                self.tx.command(sid, &r);
            }
            "FCPublish" => {
                let name = c.arg_str(0).unwrap_or("").to_string();
                let info = object(&[("code", s(code::PUBLISH_START)), ("description", s(&name))]);
                self.tx.command(
                    sid,
                    &Command::new("onFCPublish", 0.0, Value::Null, vec![info]),
                );
            }
            "publish" => {
                let raw = c.arg_str(0).unwrap_or("");
                let name = StreamName::from_rtmp(raw);
                let mode = c.arg_str(1).unwrap_or("live").to_string();
                if matches!(
                    self.streams.get(&sid),
                    Some(Use::Publishing(_) | Use::Playing)
                ) {
                    self.status(
                        sid,
                        code::ERROR,
                        code::PUBLISH_BAD_NAME,
                        "stream already in use",
                        Some(raw),
                    );
                    return Ok(());
                }
                let id = self.new_request(
                    Pending::Publish {
                        stream_id: sid,
                        name: name.name.clone(),
                    },
                    m.offset,
                )?;
                self.streams.insert(sid, Use::Publishing(name.name.clone()));
                let app = self
                    .connect
                    .as_ref()
                    .map_or(String::new(), |ci| ci.app.clone());
                self.events
                    .push_back(Event::PublishRequested(PublishRequest {
                        id,
                        stream_id: sid,
                        name,
                        app,
                        mode,
                    }));
            }
            "play" | "play2" => {
                let (raw, start, duration, reset) = if c.name == "play2" {
                    let o = c.arg(0).cloned().unwrap_or(Value::Null);
                    let num = |k: &str, d: f64| o.get(k).and_then(Value::as_number).unwrap_or(d);
                    let raw = o
                        .get("streamName")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    (raw, num("start", -2.0), num("len", -1.0), true)
                } else {
                    let reset = match c.arg(3) {
                        Some(Value::Boolean(b)) => *b,
                        Some(Value::Number(n)) => *n != 0.0,
                        _ => true,
                    };
                    (
                        c.arg_str(0).unwrap_or("").to_string(),
                        c.arg_number(1).unwrap_or(-2.0),
                        c.arg_number(2).unwrap_or(-1.0),
                        reset,
                    )
                };
                let name = StreamName::from_rtmp(&raw);
                if self.publishing(sid) {
                    self.status(
                        sid,
                        code::ERROR,
                        code::PLAY_FAILED,
                        "stream is being published",
                        Some(&raw),
                    );
                    return Ok(());
                }
                let id = self.new_request(
                    Pending::Play {
                        stream_id: sid,
                        reset,
                        name: name.name.clone(),
                    },
                    m.offset,
                )?;
                self.streams.insert(sid, Use::Playing);
                let app = self
                    .connect
                    .as_ref()
                    .map_or(String::new(), |ci| ci.app.clone());
                self.events.push_back(Event::PlayRequested(PlayRequest {
                    id,
                    stream_id: sid,
                    name,
                    app,
                    start,
                    duration,
                    reset,
                }));
            }
            "pause" | "pauseRaw" => {
                if self.streams.get(&sid) != Some(&Use::Playing) {
                    return Ok(());
                }
                let paused = match c.arg(0) {
                    Some(Value::Boolean(b)) => *b,
                    Some(Value::Number(n)) => *n != 0.0,
                    _ => true,
                };
                let ms = c
                    .arg_number(1)
                    .filter(|v| v.is_finite())
                    .unwrap_or(0.0)
                    .max(0.0) as i64;
                if paused {
                    self.tx.user_control(UserControl::StreamEof(sid));
                    self.status(sid, code::STATUS, code::PAUSE_NOTIFY, "Paused", None);
                } else {
                    self.tx.user_control(UserControl::StreamBegin(sid));
                    self.status(sid, code::STATUS, code::UNPAUSE_NOTIFY, "Unpaused", None);
                }
                self.events.push_back(Event::Pause {
                    stream_id: sid,
                    paused,
                    ms,
                });
            }
            "seek" => {
                if self.streams.get(&sid) != Some(&Use::Playing) {
                    return Ok(());
                }
                let ms = c
                    .arg_number(0)
                    .filter(|v| v.is_finite())
                    .unwrap_or(0.0)
                    .max(0.0) as i64;
                self.events.push_back(Event::Seek { stream_id: sid, ms });
            }
            "FCUnpublish" => {
                let name = c.arg_str(0).unwrap_or("").to_string();
                let info = object(&[
                    ("code", s(code::UNPUBLISH_SUCCESS)),
                    ("description", s(&name)),
                ]);
                self.tx.command(
                    sid,
                    &Command::new("onFCUnpublish", 0.0, Value::Null, vec![info]),
                );
                // FCUnpublish names the stream, not the message stream: end the one publishing
                // under that name (or the only one).
                let wanted = StreamName::from_rtmp(&name).name;
                let mut ids: Vec<u32> = self
                    .streams
                    .iter()
                    .filter(|(_, u)| matches!(u, Use::Publishing(n) if *n == wanted))
                    .map(|(id, _)| *id)
                    .collect();
                if ids.is_empty() {
                    ids = self
                        .streams
                        .iter()
                        .filter(|(_, u)| matches!(u, Use::Publishing(_)))
                        .map(|(id, _)| *id)
                        .collect();
                    if ids.len() > 1 {
                        ids.clear();
                    }
                }
                for id in ids {
                    self.end_stream(id, false);
                }
            }
            "closeStream" => self.end_stream(sid, false),
            "deleteStream" => {
                let id = c
                    .arg_number(0)
                    .filter(|v| *v >= 0.0 && *v <= f64::from(u32::MAX))
                    .map_or(sid, |v| v as u32);
                self.end_stream(id, true);
            }
            "getStreamLength" | "getMovLen" => {
                let name = StreamName::from_rtmp(c.arg_str(0).unwrap_or(""));
                let id = self.new_request(
                    Pending::Length {
                        stream_id: sid,
                        transaction: txn,
                    },
                    m.offset,
                )?;
                self.events
                    .push_back(Event::StreamLengthRequested { id, name });
            }
            "checkBandwidth" | "_checkbw" => {
                self.tx.command(
                    sid,
                    &Command::new("_result", txn, Value::Null, vec![Value::Null]),
                );
            }
            "receiveAudio" | "receiveVideo" | "onBWDone" | "_result" | "_error" | "onStatus"
            | "FCSubscribe" | "FCUnsubscribe" => {}
            other => {
                tracing::debug!(command = other, "rtmp: unknown command");
                if txn > 0.0 {
                    // What FMS answers a call to a method it does not have.
                    let info = status_info(
                        code::ERROR,
                        code::CALL_FAILED,
                        &format!("Method not found ({other})"),
                        None,
                    );
                    self.tx
                        .command(sid, &Command::new("_error", txn, Value::Null, vec![info]));
                }
            }
        }
        Ok(())
    }

    fn on_connect(&mut self, c: &Command) {
        if self.connect.is_some() {
            let info = status_info(
                code::ERROR,
                code::CONNECT_REJECTED,
                "already connected",
                None,
            );
            self.tx.command(
                0,
                &Command::new("_error", c.transaction, Value::Null, vec![info]),
            );
            return;
        }
        let o = &c.object;
        let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let info = ConnectInfo {
            app: text("app").unwrap_or_default(),
            tc_url: text("tcUrl"),
            flash_ver: text("flashVer"),
            object_encoding: o
                .get("objectEncoding")
                .and_then(Value::as_number)
                .unwrap_or(0.0),
        };
        self.tx
            .control(Control::WindowAckSize(self.config.window_ack_size));
        self.tx.control(Control::SetPeerBandwidth {
            size: self.config.peer_bandwidth,
            limit: limit::DYNAMIC,
        });
        self.tx.control(Control::SetChunkSize(OUT_CHUNK_SIZE));
        self.tx.writer.set_chunk_size(OUT_CHUNK_SIZE);
        let props = object(&[
            ("fmsVer", s("FMS/3,5,7,7009")),
            ("capabilities", Value::Number(31.0)),
            ("mode", Value::Number(1.0)),
        ]);
        let mut status = status_info(
            code::STATUS,
            code::CONNECT_SUCCESS,
            "Connection succeeded.",
            None,
        );
        if let Value::Object(p) = &mut status {
            p.push(("objectEncoding".into(), Value::Number(info.object_encoding)));
        }
        self.tx.command(
            0,
            &Command::new("_result", c.transaction, props, vec![status]),
        );
        self.connect = Some(info.clone());
        self.events.push_back(Event::Connected(info));
    }

    /// A stream stops being published or played; `delete` also forgets it.
    fn end_stream(&mut self, id: u32, delete: bool) {
        let was = if delete {
            self.streams.remove(&id)
        } else {
            self.streams.insert(id, Use::Idle)
        };
        // A request the application has not answered yet is dropped with it.
        self.pending.retain(|_, p| match p {
            Pending::Publish { stream_id, .. } | Pending::Play { stream_id, .. } => {
                *stream_id != id
            }
            Pending::Length { .. } => true,
        });
        match was {
            Some(Use::Publishing(_)) => {
                self.status(
                    id,
                    code::STATUS,
                    code::UNPUBLISH_SUCCESS,
                    "Stopped publishing",
                    None,
                );
                self.events.push_back(Event::Unpublished { stream_id: id });
            }
            Some(Use::Playing) => self.events.push_back(Event::PlayStopped { stream_id: id }),
            _ => {}
        }
    }
}

/// Answers a client sends to us (never a reason to refuse it before `connect`).
fn is_reply(name: &str) -> bool {
    matches!(name, "_result" | "_error" | "onStatus" | "onBWDone")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::rtmp::chunk::ChunkWriter;
    use crate::serve::rtmp::handshake::{ClientHandshake, Scheme};
    use proptest::prelude::*;

    /// Builds what a client sends: handshake, then messages chunked as FFmpeg chunks them.
    struct Client {
        w: ChunkWriter,
        bytes: Vec<u8>,
    }

    impl Client {
        fn new() -> Client {
            let (_, c0c1) = ClientHandshake::new(1, None);
            let mut bytes = c0c1;
            bytes.extend_from_slice(&[0; PACKET_LEN]); // C2: never checked
            Client {
                w: ChunkWriter::compressing(128, true),
                bytes,
            }
        }

        fn msg(&mut self, cs: u32, ts: u32, kind: MessageType, sid: u32, body: &[u8]) -> &mut Self {
            self.w.write(&mut self.bytes, cs, ts, kind, sid, body);
            self
        }

        fn cmd(
            &mut self,
            sid: u32,
            name: &str,
            txn: f64,
            obj: Value,
            args: Vec<Value>,
        ) -> &mut Self {
            let b = Command::new(name, txn, obj, args).encode();
            self.msg(3, 0, MessageType::COMMAND_AMF0, sid, &b)
        }

        fn connect(&mut self) -> &mut Self {
            self.cmd(
                0,
                "connect",
                1.0,
                object(&[
                    ("app", s("live")),
                    ("tcUrl", s("rtmp://127.0.0.1/live")),
                    ("flashVer", s("FMLE/3.0")),
                ]),
                vec![],
            )
        }

        fn publish_setup(&mut self) -> &mut Self {
            self.connect()
                .cmd(0, "releaseStream", 2.0, Value::Null, vec![s("Test?key=1")])
                .cmd(0, "FCPublish", 3.0, Value::Null, vec![s("Test?key=1")])
                .cmd(0, "createStream", 4.0, Value::Null, vec![])
                .cmd(
                    1,
                    "publish",
                    5.0,
                    Value::Null,
                    vec![s("Test?key=1"), s("live")],
                )
        }
    }

    /// The messages in the server's output (after S0 S1 S2).
    fn server_messages(out: &[u8]) -> Vec<Message> {
        assert!(out.len() > 2 * PACKET_LEN, "no handshake answer");
        let mut r = ChunkReader::new(Limits::default(), 0);
        r.feed(&out[1 + 2 * PACKET_LEN..]);
        let mut v = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            v.push(m);
        }
        assert_eq!(r.buffered(), 0, "output ends inside a message");
        v
    }

    /// Each command message as `name` or `name code`.
    fn said(msgs: &[Message]) -> Vec<String> {
        msgs.iter()
            .filter(|m| m.kind == MessageType::COMMAND_AMF0)
            .map(|m| {
                let c = Command::parse(m).unwrap();
                let code = c
                    .args
                    .iter()
                    .find_map(|a| a.get("code").and_then(Value::as_str));
                match code {
                    Some(k) => format!("{} {k}", c.name),
                    None => c.name,
                }
            })
            .collect()
    }

    /// Feeds `bytes` in pieces at `cuts`, accepting every request; returns events and output.
    fn run(bytes: &[u8], cuts: &[usize]) -> (Vec<Event>, Vec<u8>) {
        let mut s = Session::new(Config::default());
        let mut events = Vec::new();
        let mut out = Vec::new();
        let mut last = 0;
        for &c in cuts.iter().chain([&bytes.len()]) {
            s.feed(&bytes[last..c]).unwrap();
            last = c;
            while let Some(e) = s.poll_event() {
                match &e {
                    Event::PublishRequested(p) => assert!(s.accept_publish(p.id)),
                    Event::PlayRequested(p) => assert!(s.accept_play(p.id, false)),
                    _ => {}
                }
                events.push(e);
            }
            out.extend_from_slice(&s.take_output());
        }
        (events, out)
    }

    #[test]
    fn publish_conversation_as_ffmpeg_has_it() {
        let mut c = Client::new();
        c.publish_setup();
        c.msg(
            4,
            0,
            MessageType::DATA_AMF0,
            1,
            &command::encode_values(&[
                s("@setDataFrame"),
                s("onMetaData"),
                Value::EcmaArray(vec![("width".into(), Value::Number(320.0))]),
            ]),
        );
        c.msg(6, 0, MessageType::VIDEO, 1, &[0x17, 0, 0, 0, 0, 1, 0x64]);
        c.msg(4, 0, MessageType::AUDIO, 1, &[0xaf, 0, 0x11, 0x90]);
        c.msg(6, 40, MessageType::VIDEO, 1, &[0x27, 1, 0, 0, 0, 9]);
        c.cmd(1, "FCUnpublish", 6.0, Value::Null, vec![s("Test?key=1")]);
        c.cmd(
            0,
            "deleteStream",
            7.0,
            Value::Null,
            vec![Value::Number(1.0)],
        );
        // Fed in two parts, as a client waits for Publish.Start before sending media.
        let setup = Client::new().publish_setup().bytes.len();
        let (events, out) = run(&c.bytes, &[setup]);
        let msgs = server_messages(&out);
        // Protocol control first, in nginx-rtmp's order, then the answers.
        let kinds: Vec<MessageType> = msgs.iter().take(3).map(|m| m.kind).collect();
        assert_eq!(
            kinds,
            [
                MessageType::WINDOW_ACK_SIZE,
                MessageType::SET_PEER_BANDWIDTH,
                MessageType::SET_CHUNK_SIZE
            ]
        );
        assert_eq!(
            Control::parse(&msgs[2]).unwrap(),
            Control::SetChunkSize(OUT_CHUNK_SIZE)
        );
        assert_eq!(
            said(&msgs),
            [
                "_result NetConnection.Connect.Success",
                "_result",
                "onFCPublish NetStream.Publish.Start",
                "_result",
                "onStatus NetStream.Publish.Start",
                "onFCUnpublish NetStream.Unpublish.Success",
                "onStatus NetStream.Unpublish.Success",
            ]
        );
        // createStream's answer is stream id 1; StreamBegin 1 precedes Publish.Start.
        let results: Vec<Command> = msgs
            .iter()
            .filter(|m| m.kind == MessageType::COMMAND_AMF0)
            .map(|m| Command::parse(m).unwrap())
            .collect();
        assert_eq!(
            (results[3].transaction, results[3].arg_number(0)),
            (4.0, Some(1.0))
        );
        assert!(msgs.iter().any(|m| m.kind == MessageType::USER_CONTROL
            && UserControl::parse(m).unwrap() == UserControl::StreamBegin(1)));
        let publish = events
            .iter()
            .find_map(|e| match e {
                Event::PublishRequested(p) => Some(p.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            (
                publish.name.name.as_str(),
                publish.app.as_str(),
                publish.mode.as_str()
            ),
            ("test", "live", "live")
        );
        assert_eq!(publish.password_candidates(), ["live", "Test"]);
        let media: Vec<(MediaKind, u32, usize)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Media(m) => Some((m.kind, m.timestamp, m.body.len())),
                _ => None,
            })
            .collect();
        assert_eq!(
            media,
            [
                (MediaKind::Video, 0, 7),
                (MediaKind::Audio, 0, 4),
                (MediaKind::Video, 40, 6)
            ]
        );
        let data = events
            .iter()
            .find_map(|e| match e {
                Event::Data { values, .. } => Some(values.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            data[0].as_str(),
            Some("onMetaData"),
            "@setDataFrame is removed"
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Event::Unpublished { stream_id: 1 }))
                .count(),
            1
        );
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let mut c = Client::new();
        c.publish_setup();
        c.msg(2, 0, MessageType::SET_CHUNK_SIZE, 0, &60u32.to_be_bytes());
        c.w.set_chunk_size(60);
        for i in 0..4u32 {
            c.msg(
                6,
                0xFFFF_F000u32.wrapping_add(i * 0x800),
                MessageType::VIDEO,
                1,
                &[0x27, 1, 0, 0, 0, i as u8].repeat(30),
            );
        }
        let (whole, out) = run(&c.bytes, &[]);
        let whole_msgs = server_messages(&out);
        for cut in 0..c.bytes.len() {
            let (ev, out) = run(&c.bytes, &[cut]);
            assert_eq!(ev, whole, "split at {cut}");
            assert_eq!(
                server_messages(&out).len(),
                whole_msgs.len(),
                "split at {cut}"
            );
        }
        // Byte by byte too.
        let cuts: Vec<usize> = (1..c.bytes.len()).collect();
        assert_eq!(run(&c.bytes, &cuts).0, whole);
        // The 32-bit timestamps wrapped; the unwrapped ones keep increasing.
        let ms: Vec<i64> = whole
            .iter()
            .filter_map(|e| match e {
                Event::Media(m) => Some(m.ms),
                _ => None,
            })
            .collect();
        assert_eq!(ms, [0xFFFF_F000, 0xFFFF_F800, 0x1_0000_0000, 0x1_0000_0800]);
    }

    #[test]
    fn play_accepted_sends_what_players_wait_for() {
        let mut c = Client::new();
        c.connect()
            .cmd(0, "createStream", 2.0, Value::Null, vec![])
            .cmd(
                1,
                "play",
                3.0,
                Value::Null,
                vec![s("mp4:Movie"), Value::Number(-2.0)],
            );
        let mut s = Session::new(Config::default());
        s.feed(&c.bytes).unwrap();
        let req = std::iter::from_fn(|| s.poll_event())
            .find_map(|e| match e {
                Event::PlayRequested(p) => Some(p),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            (req.name.name.as_str(), req.start, req.start_ms(), req.reset),
            ("movie.mp4", -2.0, None, true)
        );
        assert!(!s.accept_publish(req.id), "a play request is not a publish");
        assert!(s.accept_play(req.id, true));
        assert!(!s.accept_play(req.id, true), "answered once");
        s.send_media(1, MediaKind::Video, 0, &[0x17, 0, 0, 0, 0, 1]);
        s.play_ended(1);
        let msgs = server_messages(&s.take_output());
        let tail: Vec<String> = msgs
            .iter()
            .skip_while(|m| m.kind != MessageType::USER_CONTROL)
            .map(|m| match m.kind {
                MessageType::USER_CONTROL => format!("{:?}", UserControl::parse(m).unwrap()),
                MessageType::COMMAND_AMF0 => said(std::slice::from_ref(m))[0].clone(),
                MessageType::DATA_AMF0 => {
                    command::values(m).unwrap()[0].as_str().unwrap().to_string()
                }
                k => format!("{k:?}"),
            })
            .collect();
        assert_eq!(
            tail,
            [
                "StreamIsRecorded(1)",
                "StreamBegin(1)",
                "onStatus NetStream.Play.Reset",
                "onStatus NetStream.Play.Start",
                "|RtmpSampleAccess",
                "video",
                "StreamEof(1)",
                "onStatus NetStream.Play.Stop",
            ]
        );
        assert!(msgs
            .iter()
            .filter(|m| m.kind != MessageType::SET_CHUNK_SIZE)
            .skip(2)
            .all(|m| m.kind.0 < 3 || m.kind.0 > 6 || m.kind == MessageType::USER_CONTROL));
    }

    #[test]
    fn rejections_carry_the_codes_clients_know() {
        let mut c = Client::new();
        c.publish_setup();
        // A play on a stream being published is refused at once.
        c.cmd(1, "play", 6.0, Value::Null, vec![s("x")]);
        let mut s = Session::new(Config::default());
        s.feed(&c.bytes).unwrap();
        let id = std::iter::from_fn(|| s.poll_event())
            .find_map(|e| match e {
                Event::PublishRequested(p) => Some(p.id),
                _ => None,
            })
            .unwrap();
        assert!(s.reject_publish(id, "wrong key"));
        // A play on the (now idle) stream, refused as not found.
        let mut c2 = Client {
            w: c.w.clone(),
            bytes: Vec::new(),
        };
        c2.cmd(1, "play", 7.0, Value::Null, vec![command::s("nothere")]);
        s.feed(&c2.bytes).unwrap();
        let id = std::iter::from_fn(|| s.poll_event())
            .find_map(|e| match e {
                Event::PlayRequested(p) => Some(p.id),
                _ => None,
            })
            .unwrap();
        assert!(s.reject_play(id, true, "no such stream"));
        let codes = said(&server_messages(&s.take_output()));
        assert!(
            codes.ends_with(&[
                "onStatus NetStream.Play.Failed".to_string(),
                "onStatus NetStream.Publish.BadName".to_string(),
                "onStatus NetStream.Play.StreamNotFound".to_string(),
            ]),
            "{codes:?}"
        );
    }

    #[test]
    fn pause_seek_length_ping_and_acknowledgements() {
        let mut c = Client::new();
        c.connect()
            .msg(
                2,
                0,
                MessageType::WINDOW_ACK_SIZE,
                0,
                &5000u32.to_be_bytes(),
            )
            .cmd(0, "createStream", 2.0, Value::Null, vec![])
            .cmd(
                1,
                "play",
                0.0,
                Value::Null,
                vec![s("vod.flv"), Value::Number(1500.0)],
            );
        let mut s = Session::new(Config::default());
        s.feed(&c.bytes).unwrap();
        let req = std::iter::from_fn(|| s.poll_event())
            .find_map(|e| match e {
                Event::PlayRequested(p) => Some(p),
                _ => None,
            })
            .unwrap();
        assert_eq!(req.start_ms(), Some(1500));
        s.accept_play(req.id, true);
        s.take_output();
        let mut c2 = Client {
            w: c.w.clone(),
            bytes: Vec::new(),
        };
        c2.cmd(
            1,
            "pause",
            0.0,
            Value::Null,
            vec![Value::Boolean(true), Value::Number(2000.0)],
        )
        .cmd(
            1,
            "pause",
            0.0,
            Value::Null,
            vec![Value::Boolean(false), Value::Number(2000.0)],
        )
        .cmd(1, "seek", 0.0, Value::Null, vec![Value::Number(-7.0)])
        .cmd(
            0,
            "getStreamLength",
            9.0,
            Value::Null,
            vec![command::s("vod.flv")],
        )
        .msg(
            2,
            0,
            MessageType::USER_CONTROL,
            0,
            &UserControl::PingRequest(77).encode(),
        )
        .msg(2, 0, MessageType(99), 0, &[0x55; 3000]) // unknown types are skipped
        .msg(
            6,
            0,
            MessageType::VIDEO,
            1,
            b"media from a player is ignored",
        );
        s.feed(&c2.bytes).unwrap();
        let ev: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
        assert_eq!(
            ev[0],
            Event::Pause {
                stream_id: 1,
                paused: true,
                ms: 2000
            }
        );
        assert_eq!(
            ev[1],
            Event::Pause {
                stream_id: 1,
                paused: false,
                ms: 2000
            }
        );
        assert_eq!(
            ev[2],
            Event::Seek {
                stream_id: 1,
                ms: 0
            }
        );
        let Event::StreamLengthRequested { id, name } = &ev[3] else {
            panic!("{ev:?}")
        };
        assert_eq!(name.name, "vod.flv");
        assert_eq!(ev.len(), 4);
        s.seek_done(1, 0, true);
        assert!(s.answer_stream_length(*id, 12.5));
        let msgs =
            server_messages(&[vec![0; 1 + 2 * PACKET_LEN], s.take_output().to_vec()].concat());
        let codes = said(&msgs);
        assert_eq!(
            codes,
            [
                "onStatus NetStream.Pause.Notify",
                "onStatus NetStream.Unpause.Notify",
                "onStatus NetStream.Seek.Notify",
                "onStatus NetStream.Play.Start",
                "_result",
            ]
        );
        assert!(msgs.iter().any(|m| m.kind == MessageType::USER_CONTROL
            && UserControl::parse(m).unwrap() == UserControl::PingResponse(77)));
        // The window (5000) has been passed: one acknowledgement of everything received.
        let acks: Vec<Control> = msgs
            .iter()
            .filter(|m| m.kind == MessageType::ACKNOWLEDGEMENT)
            .map(|m| Control::parse(m).unwrap())
            .collect();
        assert_eq!(acks, [Control::Acknowledgement(s.received() as u32)]);
    }

    #[test]
    fn digest_handshake_through_the_session() {
        let (mut client, c0c1) = ClientHandshake::new(5, Some(Scheme::Offset772));
        let mut s = Session::new(Config::default());
        s.feed(&c0c1).unwrap();
        assert_eq!(
            s.handshake_kind(),
            Some(HandshakeKind::Digest(Scheme::Offset772))
        );
        let mut c2 = Vec::new();
        client.feed(&s.take_output(), 0, &mut c2).unwrap();
        assert_eq!(client.server_verified(), Some(true));
        s.feed(&c2).unwrap();
    }

    #[test]
    fn hostile_input_ends_the_session_with_an_error() {
        // Commands before connect; a truncated AMF0 command; chunk size 0; a 16 MiB message.
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut c = Client::new();
        c.cmd(0, "publish", 0.0, Value::Null, vec![s("x")]);
        cases.push(("publish before connect", c.bytes.clone()));
        let mut c = Client::new();
        let b = Command::new("connect", 1.0, object(&[("app", s("live"))]), vec![]).encode();
        c.msg(3, 0, MessageType::COMMAND_AMF0, 0, &b[..b.len() - 5]);
        cases.push(("truncated AMF0", c.bytes.clone()));
        let mut c = Client::new();
        c.connect()
            .msg(2, 0, MessageType::SET_CHUNK_SIZE, 0, &0u32.to_be_bytes());
        cases.push(("chunk size 0", c.bytes.clone()));
        let mut c = Client::new();
        c.connect();
        c.bytes
            .extend_from_slice(&[0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0]);
        cases.push(("16 MiB message", c.bytes.clone()));
        for (what, bytes) in cases {
            let mut s = Session::new(Config::default());
            let e = s.feed(&bytes).expect_err(what);
            assert!(e.offset <= bytes.len() as u64, "{what}: {e}");
            assert!(s.feed(&[0]).is_err(), "{what}: the session stays failed");
            assert!(
                s.buffered() < 64 << 10,
                "{what}: {} bytes held",
                s.buffered()
            );
        }
        // Chunk size 2^31 − 1 is legal, and a message still reads after it.
        let mut c = Client::new();
        c.connect().msg(
            2,
            0,
            MessageType::SET_CHUNK_SIZE,
            0,
            &MAX_CHUNK.to_be_bytes(),
        );
        c.w.set_chunk_size(MAX_CHUNK);
        c.cmd(0, "createStream", 2.0, Value::Null, vec![]);
        let (_, out) = run(&c.bytes, &[]);
        assert_eq!(said(&server_messages(&out)).len(), 2);
    }

    #[test]
    fn aggregate_and_amf3_data_messages() {
        // An aggregate of two FLV tags stamped 1000 and 1040, sent at 5000: they come out at
        // 5000 and 5040 (offsets from the first tag, re-based). Then an AMF3 data message in
        // Flash's form (format byte 0, AMF0 values).
        let mut agg = Vec::new();
        for (ts, body) in [
            (1000u32, vec![0xaf, 1, 7]),
            (1040, vec![0x27, 1, 0, 0, 0, 8]),
        ] {
            TagHeader::new(
                TagType(if body[0] == 0xaf { 8 } else { 9 }),
                body.len() as u32,
                ts,
            )
            .write(&mut agg);
            agg.extend_from_slice(&body);
            agg.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
        }
        // A tag cut short at the end is skipped.
        agg.extend_from_slice(&[9, 0, 0, 50, 0, 0, 0, 0]);
        let mut c = Client::new();
        c.publish_setup();
        let setup = c.bytes.len();
        c.msg(7, 5000, MessageType::AGGREGATE, 1, &agg);
        let mut amf3 = vec![0];
        amf3.extend_from_slice(&command::encode_values(&[
            s("onTextData"),
            object(&[("text", s("hi"))]),
        ]));
        c.msg(5, 5050, MessageType::DATA_AMF3, 1, &amf3);
        let (events, _) = run(&c.bytes, &[setup]);
        let got: Vec<(MediaKind, u32, Vec<u8>)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Media(m) => Some((m.kind, m.timestamp, m.body.to_vec())),
                _ => None,
            })
            .collect();
        assert_eq!(
            got,
            [
                (MediaKind::Audio, 5000, vec![0xaf, 1, 7]),
                (MediaKind::Video, 5040, vec![0x27, 1, 0, 0, 0, 8])
            ]
        );
        let data = events.iter().find_map(|e| match e {
            Event::Data {
                values, timestamp, ..
            } => Some((values[0].as_str().map(str::to_string), *timestamp)),
            _ => None,
        });
        assert_eq!(data, Some((Some("onTextData".to_string()), 5050)));
    }

    const MAX_CHUNK: u32 = super::super::chunk::MAX_CHUNK_SIZE;

    #[test]
    fn half_handshake_holds_little() {
        let mut s = Session::new(Config::default());
        s.feed(&[3; 1000]).unwrap();
        assert_eq!(s.output_len(), 0);
        assert!(s.poll_event().is_none());
    }

    proptest! {
        #[test]
        fn random_bytes_after_a_handshake_never_panic(b in proptest::collection::vec(any::<u8>(), 0..3000), connect in any::<bool>()) {
            let mut c = Client::new();
            if connect {
                c.connect();
            }
            c.bytes.extend_from_slice(&b);
            let mut s = Session::new(Config::default());
            match s.feed(&c.bytes) {
                Ok(()) => {}
                Err(e) => prop_assert!(e.offset <= c.bytes.len() as u64 + 1),
            }
            while s.poll_event().is_some() {}
            prop_assert!(s.buffered() <= MAX_BUFFERED_TEST);
        }
    }

    const MAX_BUFFERED_TEST: usize = super::super::chunk::MAX_BUFFERED + 4096;
}
