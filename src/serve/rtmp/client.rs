//! The client's side of one RTMP connection, sans-IO: what mist sends to pull a stream from
//! another server (`play`) or to push one to it (`publish`). Bytes in ([`ClientSession::feed`]),
//! events out ([`ClientSession::poll_event`]), bytes to send out
//! ([`ClientSession::take_output`]).
//!
//! The conversation, as FFmpeg's client (`rtmpproto.c`) has it, which nginx-rtmp, MistServer,
//! SRS and mist's own server all accept:
//!
//! ```text
//! C0 C1                    →
//!                          ←  S0 S1 S2
//! C2, Set Chunk Size, connect(app, tcUrl, flashVer ...)   →
//!                          ←  Window Ack Size, Set Peer Bandwidth, Set Chunk Size, _result
//! Window Ack Size          →
//! play:    createStream                              →  ← _result(stream id)
//!          play(name, -2000), SetBufferLength        →  ← StreamBegin, onStatus Play.Start, media
//! publish: releaseStream, FCPublish, createStream    →  ← _result(stream id)
//!          publish(name, "live")                     →  ← onStatus Publish.Start
//!          @setDataFrame onMetaData, audio, video    →
//! ```
//!
//! The session answers pings and sends acknowledgements by itself. A refusal (`_error` to
//! `connect` or `createStream`, an `onStatus` of level `error`) is an event, not an error: the
//! caller decides whether to retry. Protocol errors (bytes that are not RTMP) are errors.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::dtsc::time::Unwrapper;
use crate::formats::error::FormatError;
use crate::formats::flv::amf0::Value;

use super::chunk::{ChunkReader, ChunkWriter, Limits, DEFAULT_CHUNK_SIZE};
use super::command::{self, object, s, Command};
use super::handshake::{ClientHandshake, Scheme};
use super::message::{Control, Message, MessageType, UserControl};
use super::outbox::{csid, Outbox};
use super::session::{Media, MediaKind, OUT_CHUNK_SIZE, WINDOW_ACK_SIZE};
use super::FORMAT;

/// The default RTMP port.
pub const DEFAULT_PORT: u16 = 1935;
/// What mist says it is in `connect` (FFmpeg says `LNX 9,0,124,2` for the same reason: some
/// servers only talk to clients that look like a Flash Player).
pub const FLASH_VER: &str = "LNX 9,0,124,2";
/// The buffer length announced with `play`, in ms (FFmpeg's default).
pub const PLAY_BUFFER_MS: u32 = 3000;

/// Transaction ids of the commands whose `_result` matters.
mod txn {
    pub const CONNECT: f64 = 1.0;
    pub const RELEASE: f64 = 2.0;
    pub const FCPUBLISH: f64 = 3.0;
    pub const CREATE: f64 = 4.0;
    pub const PUBLISH: f64 = 5.0;
}

/// An `rtmp://` or `rtmps://` URL taken apart as FFmpeg does: the first path segment is the
/// application, the rest (with its query) the stream name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtmpUrl {
    /// `rtmps://`: the connection is TLS.
    pub tls: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (1935, or 443 for rtmps, unless given).
    pub port: u16,
    /// The application (`live`).
    pub app: String,
    /// The stream name to play or publish, with any `?query` (`key?token=1`).
    pub stream: String,
}

impl RtmpUrl {
    /// Parses `rtmp[s]://HOST[:PORT]/APP/STREAM[?QUERY]`; `None` when a part is missing.
    pub fn parse(url: &str) -> Option<RtmpUrl> {
        let (tls, rest) = if let Some(r) = strip_prefix_ci(url, "rtmp://") {
            (false, r)
        } else {
            (true, strip_prefix_ci(url, "rtmps://")?)
        };
        let (authority, path) = rest.split_once('/')?;
        let (host, port) = split_host_port(authority, if tls { 443 } else { DEFAULT_PORT })?;
        let (app, stream) = path.split_once('/')?;
        if app.is_empty() || stream.is_empty() {
            return None;
        }
        Some(RtmpUrl {
            tls,
            host,
            port,
            app: app.to_string(),
            stream: stream.to_string(),
        })
    }

    /// The `tcUrl` sent in `connect`: the URL without the stream name.
    pub fn tc_url(&self) -> String {
        let scheme = if self.tls { "rtmps" } else { "rtmp" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}/{}", self.port, self.app)
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Splits `host[:port]` or `[v6]:port`; `None` for an empty host or a bad port.
pub fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    // Credentials (`user:pass@host`) are not a host.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, rest) = v6.split_once(']')?;
        match rest.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if rest.is_empty() => (h, None),
            None => return None,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host.to_string(), port))
}

/// Play or publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Receive a stream.
    Play,
    /// Send a stream.
    Publish,
}

/// What a client session needs to know.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Application name for `connect`.
    pub app: String,
    /// `tcUrl` for `connect`.
    pub tc_url: String,
    /// The stream name to play or publish (with any `?query`).
    pub stream: String,
    /// Play or publish.
    pub mode: Mode,
    /// Seed for the handshake filler.
    pub seed: u64,
    /// Digest handshake scheme (`None`: plain, which every server accepts).
    pub scheme: Option<Scheme>,
    /// Bounds on buffered input.
    pub limits: Limits,
}

impl ClientConfig {
    /// The settings to play or publish `url`.
    pub fn for_url(url: &RtmpUrl, mode: Mode, seed: u64) -> ClientConfig {
        ClientConfig {
            app: url.app.clone(),
            tc_url: url.tc_url(),
            stream: url.stream.clone(),
            mode,
            seed,
            scheme: None,
            limits: Limits::default(),
        }
    }
}

/// What the client session reports.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    /// `connect` was accepted.
    Connected,
    /// The server accepted `play` (`NetStream.Play.Start`) or `publish`
    /// (`NetStream.Publish.Start`): media may flow.
    Started,
    /// Audio or video from the server (play).
    Media(Media),
    /// A data message from the server (`onMetaData`, `|RtmpSampleAccess`), `@setDataFrame`
    /// removed.
    Data {
        /// The 32-bit timestamp as sent.
        timestamp: u32,
        /// The AMF0 values; the first is the handler name.
        values: Vec<Value>,
    },
    /// Any `onStatus` the server sent (also those that led to another event).
    Status {
        /// `status`, `warning` or `error`.
        level: String,
        /// `NetStream.Play.Start` ...
        code: String,
        /// The server's description.
        description: String,
    },
    /// The server refused (`connect` rejected, stream not found, bad name ...).
    Refused(String),
    /// The stream is over for now (`NetStream.Play.Stop`, `NetStream.Play.UnpublishNotify`,
    /// StreamEOF on the playing stream).
    Ended(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Handshake,
    Connecting,
    Creating,
    Starting,
    Started,
    Closed,
}

/// One client connection's RTMP conversation.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    handshake: ClientHandshake,
    phase: Phase,
    reader: ChunkReader,
    tx: Outbox,
    events: VecDeque<ClientEvent>,
    received: u64,
    last_ack: u64,
    peer_window: Option<u32>,
    stream_id: u32,
    clock: Option<i64>,
    failed: Option<String>,
}

impl ClientSession {
    /// A session; its first output is C0 C1.
    pub fn new(config: ClientConfig) -> ClientSession {
        let (handshake, c0c1) = ClientHandshake::new(config.seed, config.scheme);
        let mut out = BytesMut::with_capacity(4096);
        out.extend_from_slice(&c0c1);
        ClientSession {
            handshake,
            phase: Phase::Handshake,
            reader: ChunkReader::new(config.limits, 0),
            tx: Outbox::new(ChunkWriter::compressing(DEFAULT_CHUNK_SIZE, true), out),
            events: VecDeque::new(),
            received: 0,
            last_ack: 0,
            peer_window: None,
            stream_id: 0,
            clock: None,
            failed: None,
            config,
        }
    }

    /// Takes the server's bytes: answers go to the output, events to the queue. An error ends
    /// the session (later calls fail too).
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
        if self.phase == Phase::Handshake {
            let mut c2 = Vec::new();
            let used = self.handshake.feed(rest, start, &mut c2)?;
            rest = &rest[used..];
            self.tx.out.extend_from_slice(&c2);
            if self.handshake.is_done() {
                self.reader = ChunkReader::new(self.config.limits, start + used as u64);
                self.after_handshake();
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
                self.tx
                    .control(Control::Acknowledgement(self.received as u32));
            }
        }
        Ok(())
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
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

    /// True once `play` or `publish` was accepted.
    pub fn is_started(&self) -> bool {
        self.phase == Phase::Started
    }

    /// The message stream id `createStream` gave (0 before).
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Publishing: sends `@setDataFrame onMetaData` with these values (the handler name and
    /// the metadata object, as the server's [`super::media::metadata`] builds them).
    pub fn send_metadata(&mut self, values: &[Value]) {
        let mut all = Vec::with_capacity(values.len() + 1);
        all.push(s("@setDataFrame"));
        all.extend_from_slice(values);
        let body = command::encode_values(&all);
        self.tx.writer.write(
            &mut self.tx.out,
            csid::DATA,
            0,
            MessageType::DATA_AMF0,
            self.stream_id,
            &body,
        );
    }

    /// Publishing: sends one audio or video message (an FLV tag body).
    pub fn send_media(&mut self, kind: MediaKind, timestamp: u32, body: &[u8]) {
        self.tx.writer.write(
            &mut self.tx.out,
            kind.csid(),
            timestamp,
            kind.message_type(),
            self.stream_id,
            body,
        );
    }

    /// Ends politely: `FCUnpublish` (publishing) and `deleteStream`. The caller sends the
    /// output and closes the connection.
    pub fn close(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.stream_id != 0 {
            if self.config.mode == Mode::Publish {
                let name = self.config.stream.clone();
                self.tx.command(
                    0,
                    &Command::new("FCUnpublish", 0.0, Value::Null, vec![s(&name)]),
                );
            }
            let id = f64::from(self.stream_id);
            self.tx.command(
                0,
                &Command::new("deleteStream", 0.0, Value::Null, vec![Value::Number(id)]),
            );
        }
        self.phase = Phase::Closed;
    }

    // ---- internals ------------------------------------------------------------------------

    fn after_handshake(&mut self) {
        // Our chunk size first, so `connect` and everything after it go out in large chunks.
        self.tx.control(Control::SetChunkSize(OUT_CHUNK_SIZE));
        self.tx.writer.set_chunk_size(OUT_CHUNK_SIZE);
        let c = &self.config;
        let mut props = vec![
            ("app", s(&c.app)),
            ("flashVer", s(FLASH_VER)),
            ("tcUrl", s(&c.tc_url)),
        ];
        if c.mode == Mode::Publish {
            props.push(("type", s("nonprivate")));
        } else {
            props.push(("fpad", Value::Boolean(false)));
            props.push(("capabilities", Value::Number(15.0)));
            props.push(("audioCodecs", Value::Number(4071.0)));
            props.push(("videoCodecs", Value::Number(252.0)));
            props.push(("videoFunction", Value::Number(1.0)));
        }
        let connect = Command::new("connect", txn::CONNECT, object(&props), vec![]);
        self.tx.command(0, &connect);
        self.phase = Phase::Connecting;
    }

    fn handle(&mut self, m: Message) -> Result<(), FormatError> {
        match m.kind {
            MessageType::SET_CHUNK_SIZE | MessageType::ABORT | MessageType::ACKNOWLEDGEMENT => {}
            MessageType::WINDOW_ACK_SIZE => {
                if let Control::WindowAckSize(n) = Control::parse(&m)? {
                    self.peer_window = (n > 0).then_some(n);
                }
            }
            MessageType::SET_PEER_BANDWIDTH => {
                Control::parse(&m)?;
            }
            MessageType::USER_CONTROL => match UserControl::parse(&m)? {
                UserControl::PingRequest(t) => self.tx.user_control(UserControl::PingResponse(t)),
                UserControl::StreamEof(id)
                    if id == self.stream_id
                        && self.phase == Phase::Started
                        && self.config.mode == Mode::Play =>
                {
                    self.events
                        .push_back(ClientEvent::Ended("the server sent StreamEOF".into()));
                }
                _ => {}
            },
            MessageType::AUDIO => self.media(&m, MediaKind::Audio),
            MessageType::VIDEO => self.media(&m, MediaKind::Video),
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => self.data(&m),
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let c = Command::parse(&m)?;
                self.on_command(c);
            }
            MessageType::AGGREGATE => self.aggregate(&m),
            other => tracing::debug!(kind = ?other, "rtmp client: message skipped"),
        }
        Ok(())
    }

    fn media(&mut self, m: &Message, kind: MediaKind) {
        self.media_at(m.stream_id, kind, m.timestamp, m.body.clone());
    }

    fn media_at(&mut self, stream_id: u32, kind: MediaKind, timestamp: u32, body: Bytes) {
        if self.config.mode != Mode::Play || self.phase != Phase::Started {
            return;
        }
        let ms = match self.clock {
            None => i64::from(timestamp),
            Some(last) => Unwrapper::place_near(32, u64::from(timestamp), last),
        };
        self.clock = Some(ms);
        self.events.push_back(ClientEvent::Media(Media {
            stream_id,
            kind,
            timestamp,
            ms,
            body,
        }));
    }

    fn data(&mut self, m: &Message) {
        let mut values = match command::values(m) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "rtmp client: data message skipped");
                return;
            }
        };
        if values.first().and_then(Value::as_str) == Some("@setDataFrame") {
            values.remove(0);
        }
        if !values.is_empty() {
            self.events.push_back(ClientEvent::Data {
                timestamp: m.timestamp,
                values,
            });
        }
    }

    /// An aggregate message: FLV tags whose timestamps are offsets from the first one,
    /// re-based on the aggregate's own timestamp (nginx-rtmp and Wowza send these).
    fn aggregate(&mut self, m: &Message) {
        use crate::formats::flv::tag::{TagHeader, TagType, PREV_TAG_SIZE_LEN, TAG_HEADER_LEN};
        let b = &m.body;
        let mut at = 0;
        let mut first: Option<u32> = None;
        while b.len() - at >= TAG_HEADER_LEN {
            let mut h = [0u8; TAG_HEADER_LEN];
            h.copy_from_slice(&b[at..at + TAG_HEADER_LEN]);
            let t = TagHeader::from_bytes(&h);
            let end = at + TAG_HEADER_LEN + t.data_size as usize;
            if end > b.len() {
                return;
            }
            let base = *first.get_or_insert(t.timestamp_ms);
            let ts = m.timestamp.wrapping_add(t.timestamp_ms.wrapping_sub(base));
            let body = b.slice(at + TAG_HEADER_LEN..end);
            match t.tag_type {
                TagType::AUDIO => self.media_at(m.stream_id, MediaKind::Audio, ts, body),
                TagType::VIDEO => self.media_at(m.stream_id, MediaKind::Video, ts, body),
                _ => {}
            }
            at = (end + PREV_TAG_SIZE_LEN).min(b.len());
        }
    }

    fn on_command(&mut self, c: Command) {
        match c.name.as_str() {
            "_result" => self.on_result(&c),
            "_error" => {
                let why = info_text(c.args.first()).unwrap_or_else(|| "refused".into());
                let what = match c.transaction {
                    t if t == txn::CONNECT => "connect",
                    t if t == txn::CREATE => "createStream",
                    t if t == txn::RELEASE || t == txn::FCPUBLISH => return,
                    _ => "a command",
                };
                if matches!(self.phase, Phase::Connecting | Phase::Creating) {
                    self.phase = Phase::Closed;
                    self.events
                        .push_back(ClientEvent::Refused(format!("{what}: {why}")));
                }
            }
            "onStatus" => {
                let info = c.args.first();
                let field = |k: &str| {
                    info.and_then(|i| i.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                let (level, code, description) =
                    (field("level"), field("code"), field("description"));
                self.events.push_back(ClientEvent::Status {
                    level: level.clone(),
                    code: code.clone(),
                    description: description.clone(),
                });
                self.on_status(&level, &code, &description);
            }
            // Answers to calls the server makes of a Flash client: nothing to do.
            "onBWDone" | "onFCPublish" | "onFCUnpublish" | "onFCSubscribe" | "_onbwcheck"
            | "_onbwdone" | "close" => {
                if c.name == "close" {
                    self.events
                        .push_back(ClientEvent::Ended("the server closed the stream".into()));
                }
            }
            other => tracing::debug!(command = other, "rtmp client: command ignored"),
        }
    }

    fn on_result(&mut self, c: &Command) {
        match (self.phase, c.transaction) {
            (Phase::Connecting, t) if t == txn::CONNECT => {
                self.tx.control(Control::WindowAckSize(WINDOW_ACK_SIZE));
                self.events.push_back(ClientEvent::Connected);
                let name = self.config.stream.clone();
                if self.config.mode == Mode::Publish {
                    self.tx.command(
                        0,
                        &Command::new("releaseStream", txn::RELEASE, Value::Null, vec![s(&name)]),
                    );
                    self.tx.command(
                        0,
                        &Command::new("FCPublish", txn::FCPUBLISH, Value::Null, vec![s(&name)]),
                    );
                }
                self.tx.command(
                    0,
                    &Command::new("createStream", txn::CREATE, Value::Null, vec![]),
                );
                self.phase = Phase::Creating;
            }
            (Phase::Creating, t) if t == txn::CREATE => {
                let id = c
                    .args
                    .first()
                    .and_then(Value::as_number)
                    .filter(|v| *v >= 0.0 && *v <= f64::from(u32::MAX))
                    .map_or(1, |v| v as u32);
                self.stream_id = id;
                let name = self.config.stream.clone();
                match self.config.mode {
                    Mode::Play => {
                        // -2000: live or recorded, as FFmpeg sends it (start is in ms * 1000 of
                        // its `-rtmp_live` value, -2 = any).
                        let play = Command::new(
                            "play",
                            0.0,
                            Value::Null,
                            vec![s(&name), Value::Number(-2000.0)],
                        );
                        self.tx.command(id, &play);
                        self.tx.user_control(UserControl::SetBufferLength {
                            stream_id: id,
                            ms: PLAY_BUFFER_MS,
                        });
                    }
                    Mode::Publish => {
                        let publish = Command::new(
                            "publish",
                            txn::PUBLISH,
                            Value::Null,
                            vec![s(&name), s("live")],
                        );
                        self.tx.command(id, &publish);
                    }
                }
                self.phase = Phase::Starting;
            }
            _ => {}
        }
    }

    fn on_status(&mut self, level: &str, code: &str, description: &str) {
        use super::command::code as k;
        let text = || {
            if description.is_empty() {
                code.to_string()
            } else {
                format!("{code}: {description}")
            }
        };
        if level == k::ERROR {
            if self.phase != Phase::Started {
                self.phase = Phase::Closed;
                self.events.push_back(ClientEvent::Refused(text()));
            } else {
                self.events.push_back(ClientEvent::Ended(text()));
            }
            return;
        }
        match code {
            k::PLAY_START | k::PUBLISH_START if self.phase == Phase::Starting => {
                let want = if self.config.mode == Mode::Play {
                    k::PLAY_START
                } else {
                    k::PUBLISH_START
                };
                if code == want {
                    self.phase = Phase::Started;
                    self.events.push_back(ClientEvent::Started);
                }
            }
            k::PLAY_STOP | k::PLAY_UNPUBLISH_NOTIFY if self.phase == Phase::Started => {
                self.events.push_back(ClientEvent::Ended(text()));
            }
            _ => {}
        }
    }
}

/// The `description` (or `code`) of an `_error`'s info object.
fn info_text(v: Option<&Value>) -> Option<String> {
    let v = v?;
    let get = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    match (get("code"), get("description")) {
        (Some(c), Some(d)) => Some(format!("{c}: {d}")),
        (c, d) => d.or(c),
    }
}

#[cfg(test)]
mod tests {
    use super::super::session::{Config, Event, Session};
    use super::*;

    #[test]
    fn urls_as_ffmpeg_splits_them() {
        let u = RtmpUrl::parse("rtmp://example.com/live/cam1?key=abc").unwrap();
        assert_eq!(
            (
                u.tls,
                u.host.as_str(),
                u.port,
                u.app.as_str(),
                u.stream.as_str()
            ),
            (false, "example.com", 1935, "live", "cam1?key=abc")
        );
        assert_eq!(u.tc_url(), "rtmp://example.com:1935/live");
        let u = RtmpUrl::parse("RTMPS://[::1]:4443/app/a/b").unwrap();
        assert_eq!(
            (
                u.tls,
                u.host.as_str(),
                u.port,
                u.app.as_str(),
                u.stream.as_str()
            ),
            (true, "::1", 4443, "app", "a/b")
        );
        assert_eq!(u.tc_url(), "rtmps://[::1]:4443/app");
        assert_eq!(RtmpUrl::parse("rtmps://h/a/s").unwrap().port, 443);
        for bad in [
            "rtmp://host/live",
            "rtmp://host/live/",
            "rtmp:///live/x",
            "http://h/a/b",
            "rtmp://h:99999/a/b",
            "rtmp://h/",
        ] {
            assert_eq!(RtmpUrl::parse(bad), None, "{bad}");
        }
    }

    /// Runs a client session against mist's own server session in memory, the server
    /// accepting everything; returns the events of both sides.
    fn converse(
        mode: Mode,
        server_media: impl Fn(&mut Session, u32),
    ) -> (Vec<ClientEvent>, Vec<Event>, ClientSession, Session) {
        let url = RtmpUrl::parse("rtmp://127.0.0.1/live/cam?k=1").unwrap();
        let mut client = ClientSession::new(ClientConfig::for_url(&url, mode, 5));
        let mut server = Session::new(Config::default());
        let mut cev = Vec::new();
        let mut sev = Vec::new();
        let mut sent_media = false;
        // Bounded: the conversation is a few round trips.
        for _ in 0..20 {
            let c_out = client.take_output();
            server.feed(&c_out).unwrap();
            while let Some(e) = server.poll_event() {
                match &e {
                    Event::PublishRequested(p) => assert!(server.accept_publish(p.id)),
                    Event::PlayRequested(p) => assert!(server.accept_play(p.id, false)),
                    _ => {}
                }
                sev.push(e);
            }
            if !sent_media && sev.iter().any(|e| matches!(e, Event::PlayRequested(_))) {
                sent_media = true;
                let sid = match sev.iter().find(|e| matches!(e, Event::PlayRequested(_))) {
                    Some(Event::PlayRequested(p)) => p.stream_id,
                    _ => unreachable!(),
                };
                server_media(&mut server, sid);
            }
            let s_out = server.take_output();
            client.feed(&s_out).unwrap();
            while let Some(e) = client.poll_event() {
                cev.push(e);
            }
            if c_out.is_empty() && s_out.is_empty() {
                break;
            }
        }
        (cev, sev, client, server)
    }

    #[test]
    fn plays_from_mists_server_session() {
        let (cev, sev, client, _) = converse(Mode::Play, |srv, sid| {
            srv.send_media(sid, MediaKind::Video, 0, &[0x17, 0, 0, 0, 0, 1, 2]);
            srv.send_media(sid, MediaKind::Audio, 23, &[0xaf, 1, 9]);
        });
        // The server saw connect, then a play of the name with its query.
        assert!(matches!(&sev[0], Event::Connected(ci) if ci.app == "live"
            && ci.tc_url.as_deref() == Some("rtmp://127.0.0.1:1935/live")));
        let play = sev.iter().find_map(|e| match e {
            Event::PlayRequested(p) => Some(p),
            _ => None,
        });
        let play = play.expect("play requested");
        assert_eq!(play.name.raw, "cam?k=1");
        assert_eq!(play.start, -2000.0);
        assert!(client.is_started());
        assert_eq!(client.stream_id(), play.stream_id);
        let kinds: Vec<String> = cev
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Connected => Some("connected".into()),
                ClientEvent::Started => Some("started".into()),
                ClientEvent::Media(m) => Some(format!("{:?} {} {}", m.kind, m.ms, m.body.len())),
                ClientEvent::Data { values, .. } => {
                    Some(format!("data {}", values[0].as_str().unwrap_or("?")))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "connected",
                "started",
                "data |RtmpSampleAccess",
                "Video 0 7",
                "Audio 23 3"
            ]
        );
    }

    #[test]
    fn publishes_to_mists_server_session() {
        let url = RtmpUrl::parse("rtmp://127.0.0.1/live/out").unwrap();
        let mut client = ClientSession::new(ClientConfig::for_url(&url, Mode::Publish, 9));
        let mut server = Session::new(Config::default());
        let mut sev = Vec::new();
        let mut cev = Vec::new();
        for _ in 0..20 {
            if client.is_started() && !cev.iter().any(|e| matches!(e, ClientEvent::Data { .. })) {
                client.send_metadata(&[s("onMetaData"), object(&[("width", Value::Number(2.0))])]);
                client.send_media(MediaKind::Video, 0, &[0x17, 0, 0, 0, 0]);
                client.send_media(MediaKind::Video, 0x0100_0000, &[0x27, 1, 0, 0, 0, 5]);
                client.close();
                cev.push(ClientEvent::Data {
                    timestamp: 0,
                    values: vec![],
                });
            }
            let c_out = client.take_output();
            server.feed(&c_out).unwrap();
            while let Some(e) = server.poll_event() {
                if let Event::PublishRequested(p) = &e {
                    assert!(server.accept_publish(p.id));
                }
                sev.push(e);
            }
            let s_out = server.take_output();
            client.feed(&s_out).unwrap();
            while let Some(e) = client.poll_event() {
                cev.push(e);
            }
            if c_out.is_empty() && s_out.is_empty() {
                break;
            }
        }
        let said: Vec<String> = sev
            .iter()
            .map(|e| match e {
                Event::Connected(_) => "connected".into(),
                Event::PublishRequested(p) => format!("publish {} {}", p.name.name, p.mode),
                Event::Data { values, .. } => format!("data {}", values[0].as_str().unwrap()),
                Event::Media(m) => format!("{:?} {} {}", m.kind, m.ms, m.body.len()),
                Event::Unpublished { .. } => "unpublished".into(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            said,
            [
                "connected",
                "publish out live",
                "data onMetaData",
                "Video 0 5",
                // Past the 24-bit field: the extended timestamp went out and came back whole.
                "Video 16777216 6",
                "unpublished"
            ]
        );
        assert!(cev.contains(&ClientEvent::Started));
    }

    #[test]
    fn refusals_are_events_with_the_servers_words() {
        let url = RtmpUrl::parse("rtmp://127.0.0.1/live/none").unwrap();
        let mut client = ClientSession::new(ClientConfig::for_url(&url, Mode::Play, 1));
        let mut server = Session::new(Config::default());
        let mut cev = Vec::new();
        for _ in 0..20 {
            let c_out = client.take_output();
            server.feed(&c_out).unwrap();
            while let Some(e) = server.poll_event() {
                if let Event::PlayRequested(p) = &e {
                    assert!(server.reject_play(p.id, true, "stream 'none' not found"));
                }
            }
            let s_out = server.take_output();
            client.feed(&s_out).unwrap();
            while let Some(e) = client.poll_event() {
                cev.push(e);
            }
            if c_out.is_empty() && s_out.is_empty() {
                break;
            }
        }
        assert!(
            cev.contains(&ClientEvent::Refused(
                "NetStream.Play.StreamNotFound: stream 'none' not found".into()
            )),
            "{cev:?}"
        );
        assert!(!client.is_started());
    }

    #[test]
    fn answers_pings_and_acknowledges_the_window() {
        let url = RtmpUrl::parse("rtmp://h/live/x").unwrap();
        let mut client = ClientSession::new(ClientConfig::for_url(&url, Mode::Play, 1));
        let mut server = Session::new(Config::default());
        server.feed(&client.take_output()).unwrap();
        let hs = server.take_output();
        client.feed(&hs).unwrap();
        let _ = client.take_output();
        // A server message stream: window of 100 bytes, then a ping.
        let mut w = ChunkWriter::new(128);
        let mut b = BytesMut::new();
        let (k, body) = Control::WindowAckSize(100).encode();
        w.write(&mut b, 2, 0, k, 0, &body);
        w.write(
            &mut b,
            2,
            0,
            MessageType::USER_CONTROL,
            0,
            &UserControl::PingRequest(77).encode(),
        );
        client.feed(&b).unwrap();
        let out = client.take_output();
        let mut r = ChunkReader::new(Limits::default(), 0);
        r.feed(&out);
        let mut got = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            got.push(m);
        }
        assert!(got.iter().any(|m| m.kind == MessageType::USER_CONTROL
            && UserControl::parse(m).unwrap() == UserControl::PingResponse(77)));
        // Handshake (1 + 2 * 1536) and these messages are more than 100 bytes: one ack with
        // the byte count so far.
        let acks: Vec<u32> = got
            .iter()
            .filter(|m| m.kind == MessageType::ACKNOWLEDGEMENT)
            .map(|m| match Control::parse(m).unwrap() {
                Control::Acknowledgement(n) => n,
                _ => 0,
            })
            .collect();
        assert_eq!(acks, [client.received() as u32]);
    }

    #[test]
    fn garbage_from_the_server_is_an_error_with_an_offset() {
        let url = RtmpUrl::parse("rtmp://h/live/x").unwrap();
        let mut client = ClientSession::new(ClientConfig::for_url(&url, Mode::Play, 1));
        let e = client.feed(b"HTTP/1.1 400 Bad Request\r\n").unwrap_err();
        assert!(e.to_string().contains("at byte 0"), "{e}");
        assert!(client.feed(&[3]).is_err());
    }
}
