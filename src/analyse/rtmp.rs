//! `analyse rtmp://HOST[:PORT]/APP/STREAM`: connects as a player and reports what the server
//! sends, through the same sans-IO pieces the server uses ([`crate::formats::rtmp`]): the
//! handshake, every control message, user control event, AMF0 command and `onStatus` with its
//! decoded object (`--detail 1`), every chunk header (`--detail 2`), and the audio, video and
//! data messages as the FLV analyser shows tags (they are FLV tag bodies), with its summary,
//! packet listing and codec checks.
//!
//! `--validate` adds RTMP's own rules: a type-3 chunk that does not repeat its chunk stream's
//! extended timestamp (RTMP 1.0 §5.3.1.3), Set Chunk Size while another chunk stream is inside a
//! message, timestamp deltas that do not add up (a type-1 header with nothing before it on its
//! chunk stream, a delta of 2^31 or more: a negative step written unsigned), media before `onStatus NetStream.Play.Start`, a first video frame that is not a
//! keyframe; the FLV walk adds timestamps going back per track and AVC/AAC sequence headers
//! missing or changing.
//!
//! Bounds: a connect and read timeout (`--timeout`), a wall-clock cap (`--duration`), and the
//! chunk reader's [`Limits`] on message length and buffered bytes, so a hostile server (a chunk
//! size of 2^31, an endless message) ends the analysis with one error instead of eating memory.
//!
//! Offsets are absolute in what the server sent (the 3073 handshake bytes first). A media
//! message's body is spread over chunks, so inside one the FLV walk counts offsets as if the
//! message were one FLV tag at its first chunk's offset (the 11-byte tag header included):
//! good for telling structures apart, not for finding bytes in a capture.
//!
//! `--publish-check` publishes instead (`releaseStream`, `FCPublish`, `createStream`,
//! `publish NAME live`, as FFmpeg does), reports the server's answers, and leaves once it says
//! `NetStream.Publish.Start`, without sending media.
//!
//! Known gaps: RTMPS/RTMPE/RTMPT are not spoken;
//! the conversation is the analyser's own small player (`serve::rtmp::client` is the client
//! session mist pulls with, but it hides the messages an analyser must show).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::formats::flv::amf0::Value;
use crate::formats::flv::reader::Tag;
use crate::formats::flv::tag::{TagHeader, TagType, PREV_TAG_SIZE_LEN, TAG_HEADER_LEN};
use crate::formats::rtmp::chunk::{ChunkHeader, ChunkReader, ChunkWriter, Irregularity, Limits};
use crate::formats::rtmp::command::{self, object, s, Command};
use crate::formats::rtmp::handshake::{ClientHandshake, Scheme, PACKET_LEN};
use crate::formats::rtmp::message::{Control, Message, MessageType, UserControl};
use crate::formats::{Finding, Severity};

use super::flv::{amf0, Walk};
use super::tree::{Detail, Node, Val};
use super::{AnalyseError, Options, Report};

/// Connect and read timeout when the caller gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// RTMP's registered port.
pub const DEFAULT_PORT: u16 = 1935;
/// Bytes asked of the socket per read.
const READ_BUF: usize = 64 << 10;
/// How often a blocked read wakes to check the deadline.
const POLL: Duration = Duration::from_millis(100);
/// The acknowledgement window the player announces (FFmpeg's client sends 2 500 000).
const WINDOW: u32 = 2_500_000;
/// The buffer length the player announces after `play`, in ms (FFmpeg's default).
const BUFFER_MS: u32 = 3000;
/// Chunk stream of the player's commands (FFmpeg's `RTMP_SYSTEM_CHANNEL`+1).
const COMMAND_CSID: u32 = 3;
/// Chunk stream of control messages (§5.4: chunk stream 2).
const CONTROL_CSID: u32 = 2;
/// Chunk stream of `play` (FFmpeg's `RTMP_SOURCE_CHANNEL`).
const PLAY_CSID: u32 = 8;

/// True when `s` names an RTMP URL.
pub fn is_url(s: &str) -> bool {
    s.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("rtmp://"))
}

/// Where to connect and what to play.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The application (first path segment).
    pub app: String,
    /// The stream name (the rest of the path, query included).
    pub stream: String,
    /// `rtmp://host[:port]/app`, sent in `connect`.
    pub tc_url: String,
}

impl Target {
    /// Parses `rtmp://HOST[:PORT]/APP/STREAM`.
    pub fn parse(url: &str) -> Result<Target, String> {
        if !is_url(url) {
            return Err("not an rtmp:// URL".into());
        }
        let rest = &url[7..];
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = crate::io::http::split_authority(authority, DEFAULT_PORT)?;
        let (app, stream) = path
            .split_once('/')
            .filter(|(a, s)| !a.is_empty() && !s.is_empty())
            .ok_or("the URL needs an application and a stream: rtmp://HOST[:PORT]/APP/STREAM")?;
        Ok(Target {
            host: host.to_string(),
            port,
            app: app.to_string(),
            stream: stream.to_string(),
            tc_url: format!("rtmp://{authority}/{app}"),
        })
    }
}

/// How the conversation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    /// `--duration` ran out.
    Duration,
    /// Ctrl-C.
    Interrupted,
    /// `--publish-check`: the server accepted the publish.
    Published,
    /// The server closed the connection.
    Closed,
    /// The server said the stream is over (`onStatus`, StreamEOF).
    Stopped(String),
}

/// The player's side of the conversation, sans-IO: messages in, bytes to send out, findings and
/// structures for the report.
struct Player<'o> {
    opts: &'o Options,
    target: Target,
    w: ChunkWriter,
    walk: Walk<'o>,
    txn: f64,
    connect_txn: f64,
    create_txn: Option<f64>,
    stream_id: Option<u32>,
    play_started: bool,
    /// `--publish-check`: publish instead of play, and stop once the server accepts.
    publish: bool,
    publish_started: bool,
    warned_early_media: bool,
    end: Option<End>,
    /// The server's acknowledgement window, and bytes received at the last acknowledgement.
    window: Option<u32>,
    acked: u64,
    messages: u64,
    media_messages: u64,
    /// Per track (video, audio): the first and last media message's arrival and timestamp.
    arrivals: [Option<(Arrival, Arrival)>; 2],
}

/// When a media message arrived and the timestamp it carried.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    at: Instant,
    ms: i64,
}

impl<'o> Player<'o> {
    fn new(opts: &'o Options, target: Target) -> Player<'o> {
        Player {
            opts,
            target,
            w: ChunkWriter::new(crate::formats::rtmp::chunk::DEFAULT_CHUNK_SIZE),
            walk: Walk::new(opts),
            txn: 0.0,
            connect_txn: 1.0,
            create_txn: None,
            stream_id: None,
            play_started: false,
            publish: opts.publish_check,
            publish_started: false,
            warned_early_media: false,
            end: None,
            window: None,
            acked: 0,
            messages: 0,
            media_messages: 0,
            arrivals: [None, None],
        }
    }

    fn command(&mut self, out: &mut Vec<u8>, sid: u32, csid: u32, c: &Command) {
        self.w
            .write(out, csid, 0, MessageType::COMMAND_AMF0, sid, &c.encode());
    }

    fn next_txn(&mut self) -> f64 {
        self.txn += 1.0;
        self.txn
    }

    /// `connect`, with the properties FFmpeg's player sends.
    fn start(&mut self, out: &mut Vec<u8>) {
        self.connect_txn = self.next_txn();
        let c = Command::new(
            "connect",
            self.connect_txn,
            object(&[
                ("app", s(&self.target.app)),
                ("flashVer", s("LNX 9,0,124,2")),
                ("tcUrl", s(&self.target.tc_url)),
                ("fpad", Value::Boolean(false)),
                ("capabilities", Value::Number(15.0)),
                ("audioCodecs", Value::Number(4071.0)),
                ("videoCodecs", Value::Number(252.0)),
                ("videoFunction", Value::Number(1.0)),
            ]),
            vec![],
        );
        self.command(out, 0, COMMAND_CSID, &c);
    }

    /// Acknowledges received bytes when the server's window has filled (§5.4.3).
    fn acknowledge(&mut self, received: u64, out: &mut Vec<u8>) {
        if let Some(w) = self.window.filter(|w| *w > 0) {
            if received - self.acked >= u64::from(w) {
                self.acked = received;
                let (kind, body) = Control::Acknowledgement(received as u32).encode();
                self.w.write(out, CONTROL_CSID, 0, kind, 0, &body);
            }
        }
    }

    /// Chunk headers (`--detail 2`) and what the reader tolerated (`--validate`).
    fn chunks(
        &mut self,
        headers: Vec<ChunkHeader>,
        irregular: Vec<Irregularity>,
        d: &mut Detail,
    ) -> io::Result<()> {
        if d.wants(self.opts.detail, 2) {
            for h in headers {
                d.emit(chunk_node(&h))?;
            }
        }
        for i in irregular {
            self.walk.findings.push(match i {
                Irregularity::MissingExtended { offset, csid } => Finding::error(
                    offset,
                    format!(
                        "type-3 chunk on chunk stream {csid} does not repeat the extended \
                         timestamp (RTMP 1.0 §5.3.1.3)"
                    ),
                ),
                Irregularity::DeltaWithoutBase {
                    offset,
                    csid,
                    delta,
                } => Finding::error(
                    offset,
                    format!(
                        "type-1 chunk on chunk stream {csid} gives a timestamp delta ({delta}) \
                         with no earlier message there to add it to (RTMP 1.0 §5.3.1.2.2)"
                    ),
                ),
                Irregularity::BackwardsDelta {
                    offset,
                    csid,
                    delta,
                } => Finding::error(
                    offset,
                    format!(
                        "timestamp delta {delta} on chunk stream {csid} is {} ms as a signed \
                         number: deltas cannot go back (RTMP 1.0 §5.3.1.2.2), readers add it \
                         as a jump forward",
                        delta as i32
                    ),
                ),
                Irregularity::ChunkSizeMidMessage {
                    offset,
                    csid,
                    from,
                    to,
                } => Finding::error(
                    offset,
                    format!(
                        "chunk size changes from {from} to {to} while a message on chunk \
                         stream {csid} is half sent"
                    ),
                ),
            });
        }
        Ok(())
    }

    /// One whole message from the server.
    fn message(
        &mut self,
        m: Message,
        out: &mut Vec<u8>,
        d: &mut Detail,
    ) -> Result<(), AnalyseError> {
        self.messages += 1;
        let detail1 = d.wants(self.opts.detail, 1);
        match m.kind {
            MessageType::SET_CHUNK_SIZE
            | MessageType::ABORT
            | MessageType::ACKNOWLEDGEMENT
            | MessageType::WINDOW_ACK_SIZE
            | MessageType::SET_PEER_BANDWIDTH => {
                // Set Chunk Size was already parsed (and refused if bad) by the chunk reader.
                let c = Control::parse(&m)?;
                if let Control::WindowAckSize(w) = c {
                    self.window = Some(w);
                }
                if detail1 {
                    d.emit(control_node(&m, c))?;
                }
            }
            MessageType::USER_CONTROL => {
                let u = UserControl::parse(&m)?;
                if let UserControl::PingRequest(t) = u {
                    let body = UserControl::PingResponse(t).encode();
                    self.w
                        .write(out, CONTROL_CSID, 0, MessageType::USER_CONTROL, 0, &body);
                }
                if matches!(u, UserControl::StreamEof(_)) && self.play_started {
                    self.end = Some(End::Stopped("StreamEOF".into()));
                }
                if detail1 {
                    d.emit(user_control_node(&m, &u))?;
                }
            }
            MessageType::COMMAND_AMF0 | MessageType::COMMAND_AMF3 => {
                let c = Command::parse(&m)?;
                if detail1 {
                    d.emit(command_node(&m, &c))?;
                }
                self.on_command(&m, c, out)?;
            }
            MessageType::AUDIO | MessageType::VIDEO | MessageType::DATA_AMF0 => {
                let tag_type = match m.kind {
                    MessageType::AUDIO => TagType::AUDIO,
                    MessageType::VIDEO => TagType::VIDEO,
                    _ => TagType::SCRIPT,
                };
                self.media(m.offset, tag_type, m.timestamp, m.body, d)?;
            }
            MessageType::AGGREGATE => self.aggregate(&m, d)?,
            _ => {
                if detail1 {
                    d.emit(
                        Node::new("message", format!("{:?}", m.kind))
                            .at(m.offset)
                            .field("timestamp", m.timestamp)
                            .field("stream_id", m.stream_id)
                            .field("length", m.body.len()),
                    )?;
                }
            }
        }
        Ok(())
    }

    fn on_command(
        &mut self,
        m: &Message,
        c: Command,
        out: &mut Vec<u8>,
    ) -> Result<(), AnalyseError> {
        let refused = |what: &str, c: &Command| {
            let why = c
                .arg(0)
                .and_then(|i| i.get("description").or_else(|| i.get("code")))
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            AnalyseError::Input(format!("the server refused `{what}`: {why}"))
        };
        match c.name.as_str() {
            "_result" if c.transaction == self.connect_txn => {
                let (kind, body) = Control::WindowAckSize(WINDOW).encode();
                self.w.write(out, CONTROL_CSID, 0, kind, 0, &body);
                if self.publish {
                    for name in ["releaseStream", "FCPublish"] {
                        let txn = self.next_txn();
                        let c = Command::new(name, txn, Value::Null, vec![s(&self.target.stream)]);
                        self.command(out, 0, COMMAND_CSID, &c);
                    }
                }
                let txn = self.next_txn();
                self.create_txn = Some(txn);
                self.command(
                    out,
                    0,
                    COMMAND_CSID,
                    &Command::new("createStream", txn, Value::Null, vec![]),
                );
            }
            "_result" if Some(c.transaction) == self.create_txn => {
                let sid = c
                    .arg_number(0)
                    .filter(|n| n.is_finite() && *n >= 1.0 && *n <= f64::from(u32::MAX))
                    .ok_or_else(|| {
                        AnalyseError::Input(format!(
                            "byte {}: createStream's _result carries no stream id",
                            m.offset
                        ))
                    })? as u32;
                self.stream_id = Some(sid);
                if self.publish {
                    // What encoders send (FFmpeg's order), then wait for Publish.Start.
                    let publish = Command::new(
                        "publish",
                        0.0,
                        Value::Null,
                        vec![s(&self.target.stream), s("live")],
                    );
                    self.command(out, sid, PLAY_CSID, &publish);
                    return Ok(());
                }
                let play = Command::new(
                    "play",
                    0.0,
                    Value::Null,
                    vec![s(&self.target.stream), Value::Number(-2000.0)],
                );
                self.command(out, sid, PLAY_CSID, &play);
                let body = UserControl::SetBufferLength {
                    stream_id: sid,
                    ms: BUFFER_MS,
                }
                .encode();
                self.w
                    .write(out, CONTROL_CSID, 0, MessageType::USER_CONTROL, 0, &body);
            }
            "_error" if c.transaction == self.connect_txn => return Err(refused("connect", &c)),
            "_error" if Some(c.transaction) == self.create_txn => {
                return Err(refused("createStream", &c))
            }
            "onStatus" => {
                let info = c.arg(0);
                let field = |k: &str| info.and_then(|i| i.get(k)).and_then(Value::as_str);
                let code = field("code").unwrap_or("");
                if field("level") == Some(command::code::ERROR) {
                    let what = if self.publish { "publish" } else { "play" };
                    return Err(refused(what, &c));
                }
                match code {
                    command::code::PUBLISH_START if self.publish => {
                        self.publish_started = true;
                        self.end = Some(End::Published);
                        // Leave as an encoder does.
                        if let Some(sid) = self.stream_id {
                            let txn = self.next_txn();
                            let name = s(&self.target.stream);
                            let c = Command::new("FCUnpublish", txn, Value::Null, vec![name]);
                            self.command(out, 0, COMMAND_CSID, &c);
                            let txn = self.next_txn();
                            let c = Command::new(
                                "deleteStream",
                                txn,
                                Value::Null,
                                vec![Value::Number(f64::from(sid))],
                            );
                            self.command(out, 0, COMMAND_CSID, &c);
                        }
                    }
                    command::code::PLAY_START => self.play_started = true,
                    command::code::PLAY_STOP | command::code::PLAY_UNPUBLISH_NOTIFY
                        if self.play_started =>
                    {
                        self.end = Some(End::Stopped(code.to_string()));
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// An audio, video or data message, walked as an FLV tag.
    fn media(
        &mut self,
        offset: u64,
        tag_type: TagType,
        timestamp: u32,
        body: bytes::Bytes,
        d: &mut Detail,
    ) -> Result<(), AnalyseError> {
        if tag_type != TagType::SCRIPT {
            self.media_messages += 1;

            if !self.play_started && !self.warned_early_media {
                self.warned_early_media = true;
                self.walk.findings.push(Finding::error(
                    offset,
                    format!(
                        "{} message before onStatus NetStream.Play.Start",
                        if tag_type == TagType::AUDIO {
                            "audio"
                        } else {
                            "video"
                        }
                    ),
                ));
            }
        }
        let tag = Tag {
            offset,
            header: TagHeader {
                reserved: 0,
                filter: false,
                tag_type,
                data_size: body.len() as u32,
                timestamp_ms: timestamp,
                stream_id: 0,
            },
            body,
        };
        self.walk.last_packets.clear();
        self.walk.tag(&tag, 0, d)?;
        // Arrivals of packets only: sequence headers carry no media time.
        let at = Instant::now();
        for (track, dts) in self.walk.last_packets.drain(..) {
            let Some(slot) = self.arrivals.get_mut((track.0 as usize).wrapping_sub(1)) else {
                continue;
            };
            let now = Arrival { at, ms: dts.0 };
            match slot {
                Some((_, last)) => *last = now,
                None => *slot = Some((now, now)),
            }
        }
        Ok(())
    }

    /// An aggregate message: FLV tags whose timestamps count from the aggregate's own.
    fn aggregate(&mut self, m: &Message, d: &mut Detail) -> Result<(), AnalyseError> {
        let b = &m.body;
        let mut at = 0;
        let mut first: Option<u32> = None;
        while b.len() - at >= TAG_HEADER_LEN {
            let mut h = [0u8; TAG_HEADER_LEN];
            h.copy_from_slice(&b[at..at + TAG_HEADER_LEN]);
            let t = TagHeader::from_bytes(&h);
            let end = at + TAG_HEADER_LEN + t.data_size as usize;
            if end > b.len() {
                self.walk.findings.push(Finding::error(
                    m.offset,
                    "aggregate message: a tag runs past the end of the message",
                ));
                return Ok(());
            }
            let base = *first.get_or_insert(t.timestamp_ms);
            let ts = m.timestamp.wrapping_add(t.timestamp_ms.wrapping_sub(base));
            let body = b.slice(at + TAG_HEADER_LEN..end);
            self.media(m.offset, t.tag_type, ts, body, d)?;
            at = (end + PREV_TAG_SIZE_LEN).min(b.len());
        }
        Ok(())
    }
}

/// Analyses the stream at `url` (an `rtmp://` URL) as a player.
pub fn analyse(url: &str, opts: &Options, out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let target = Target::parse(url).map_err(AnalyseError::Input)?;
    let timeout = opts.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let started = Instant::now();
    let deadline = opts.duration.map(|d| started + d);
    let addr = resolve(&target)?;
    let net = |what: &str, e: io::Error| AnalyseError::Input(format!("{what} {addr}: {e}"));
    let mut sock =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| net("connecting to", e))?;
    sock.set_read_timeout(Some(POLL))
        .and_then(|()| sock.set_write_timeout(Some(timeout)))
        .and_then(|()| sock.set_nodelay(true))
        .map_err(|e| net("setting up the socket to", e))?;

    let mut d = Detail::new(out, opts);
    let mut player = Player::new(opts, target);
    let (mut hs, c0c1) =
        ClientHandshake::new(started.elapsed().as_nanos() as u64, Some(Scheme::Offset8));
    sock.write_all(&c0c1).map_err(|e| net("writing to", e))?;
    let hs_len = (1 + 2 * PACKET_LEN) as u64;
    let mut reader = ChunkReader::new(Limits::default(), hs_len);
    reader.record(d.wants(opts.detail, 2));
    let mut buf = vec![0u8; READ_BUF];
    let mut send = Vec::new();
    let mut received: u64 = 0;
    let mut last_data = Instant::now();
    let end = loop {
        if deadline.is_some_and(|t| Instant::now() >= t) {
            break End::Duration;
        }
        if opts
            .stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
        {
            break End::Interrupted;
        }
        if let Some(e) = player.end.take() {
            break e;
        }
        let n = match sock.read(&mut buf) {
            Ok(0) => break End::Closed,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if last_data.elapsed() >= timeout {
                    return Err(AnalyseError::Input(format!(
                        "no data from {addr} for {} s (after {received} bytes)",
                        timeout.as_secs_f64()
                    )));
                }
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(net("reading from", e)),
        };
        last_data = Instant::now();
        let mut input = &buf[..n];
        if !hs.is_done() {
            let used = hs.feed(input, received, &mut send)?;
            input = &input[used..];
            if hs.is_done() {
                if d.wants(opts.detail, 1) {
                    d.emit(handshake_node(hs.server_verified()))?;
                }
                player.start(&mut send);
            }
        }
        received += n as u64;
        if hs.is_done() && !input.is_empty() {
            reader.feed(input);
            while let Some(m) = reader.next_message()? {
                player.chunks(reader.take_chunks(), reader.take_irregularities(), &mut d)?;
                player.message(m, &mut send, &mut d)?;
            }
            player.chunks(reader.take_chunks(), reader.take_irregularities(), &mut d)?;
            player.acknowledge(received, &mut send);
        }
        if !send.is_empty() {
            sock.write_all(&send).map_err(|e| net("writing to", e))?;
            send.clear();
        }
    };
    if player.publish && !player.publish_started {
        return Err(AnalyseError::Input(match end {
            End::Interrupted => "interrupted before the server answered the publish".to_string(),
            _ => "the server did not answer the publish with NetStream.Publish.Start".to_string(),
        }));
    }
    if !player.publish && !player.play_started && player.media_messages == 0 {
        return Err(AnalyseError::Input(match end {
            End::Duration => format!(
                "the stream did not start within {} s",
                started.elapsed().as_secs_f64().round()
            ),
            End::Interrupted => "interrupted before the stream started".to_string(),
            _ => format!("{addr} closed the connection before the stream started"),
        }));
    }
    let elapsed = started.elapsed();
    let Player {
        mut walk,
        target,
        messages,
        media_messages,
        arrivals,
        publish,
        ..
    } = player;
    if let Some((at, false)) = walk.first_video {
        walk.findings.push(Finding::error(
            at,
            "the first video frame is not a keyframe (players cannot start decoding there)",
        ));
    }
    if media_messages == 0 && !publish {
        walk.findings.push(Finding::general(
            Severity::Warning,
            "the stream started but no audio or video arrived",
        ));
    }
    let mut report = walk.into_report(url.to_string(), "rtmp", None);
    let stats_live = report.live.take();
    report.summary_lines = vec![
        format!(
            "app {}, stream {}, {} messages ({} audio/video), {} bytes in {:.1} s",
            target.app,
            target.stream,
            messages,
            media_messages,
            received,
            elapsed.as_secs_f64()
        ),
        format!(
            "ended: {}",
            match end {
                End::Duration => "--duration reached".to_string(),
                End::Interrupted => "interrupted (Ctrl-C)".to_string(),
                End::Published => "the server accepted the publish (NetStream.Publish.Start); \
                                   left without sending media"
                    .to_string(),
                End::Closed => "the server closed the connection".to_string(),
                End::Stopped(why) => format!("the server ended the stream ({why})"),
            }
        ),
    ];
    let mut live = live_report(&arrivals);
    // Bitrates per second from the statistics, which saw every packet.
    if let Some(counted) = &stats_live {
        for t in &mut live.tracks {
            if let Some(c) = counted.tracks.iter().find(|c| c.id == t.id) {
                t.bitrate_kbps = c.bitrate_kbps.clone();
            }
        }
    }
    if let Some(line) = live.summary_line() {
        report.summary_lines.push(line);
    }
    report.live = Some(live);
    report.structures = d.finish();
    Ok(report)
}

/// Media time against arrival time per track (FLV's ids: video 1, audio 2).
fn live_report(arrivals: &[Option<(Arrival, Arrival)>; 2]) -> super::LiveReport {
    let tracks = arrivals
        .iter()
        .zip([1u32, 2])
        .filter_map(|(a, id)| {
            let (first, last) = (*a)?;
            let media_ms = last.ms - first.ms;
            let wall_ms = last.at.duration_since(first.at).as_millis() as i64;
            Some(super::LiveTrack {
                id,
                media_ms,
                wall_ms,
                lag_ms: wall_ms - media_ms,
                bitrate_kbps: Vec::new(),
            })
        })
        .collect();
    let av_drift_ms = match arrivals {
        [Some((_, v)), Some((_, a))] => Some(v.ms - a.ms),
        _ => None,
    };
    super::LiveReport {
        tracks,
        av_drift_ms,
    }
}

/// The first address the host resolves to.
fn resolve(t: &Target) -> Result<SocketAddr, AnalyseError> {
    (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| AnalyseError::Input(format!("resolving {}: {e}", t.host)))?
        .next()
        .ok_or_else(|| AnalyseError::Input(format!("{} has no address", t.host)))
}

fn handshake_node(verified: Option<bool>) -> Node {
    Node::new("handshake", "handshake")
        .at(0)
        .sized((1 + 2 * PACKET_LEN) as u64)
        .field("version", 3u32)
        .field(
            "kind",
            match verified {
                Some(true) => "digest (the server's digest verified)",
                Some(false) => "plain (the server did not answer the digest)",
                None => "plain",
            },
        )
}

fn chunk_node(h: &ChunkHeader) -> Node {
    let mut n = Node::new("chunk", format!("chunk type {}", h.fmt))
        .at(h.offset)
        .field("csid", h.csid)
        .field("fmt", u32::from(h.fmt))
        .field(if h.fmt == 0 { "timestamp" } else { "delta" }, h.field);
    if let Some(e) = h.extended {
        n = n.field("extended_timestamp", e);
    }
    n.field("message_length", h.len)
        .field("message_type", format!("{:?}", h.kind))
        .field("stream_id", h.stream_id)
        .field("message_timestamp", h.timestamp)
        .field("starts_message", h.starts_message)
}

fn control_node(m: &Message, c: Control) -> Node {
    let n = Node::new("control", format!("{:?}", m.kind)).at(m.offset);
    match c {
        Control::SetChunkSize(v) => n.field("chunk_size", v),
        Control::Abort(v) => n.field("csid", v),
        Control::Acknowledgement(v) => n.field("sequence_number", v),
        Control::WindowAckSize(v) => n.field("window", v),
        Control::SetPeerBandwidth { size, limit } => n.field("window", size).field(
            "limit",
            match limit {
                0 => "hard".to_string(),
                1 => "soft".to_string(),
                2 => "dynamic".to_string(),
                x => format!("type {x}"),
            },
        ),
    }
}

fn user_control_node(m: &Message, u: &UserControl) -> Node {
    let n = Node::new("user_control", "User Control").at(m.offset);
    match u {
        UserControl::StreamBegin(s) => n.field("event", "StreamBegin").field("stream_id", *s),
        UserControl::StreamEof(s) => n.field("event", "StreamEOF").field("stream_id", *s),
        UserControl::StreamDry(s) => n.field("event", "StreamDry").field("stream_id", *s),
        UserControl::SetBufferLength { stream_id, ms } => n
            .field("event", "SetBufferLength")
            .field("stream_id", *stream_id)
            .field("ms", *ms),
        UserControl::StreamIsRecorded(s) => {
            n.field("event", "StreamIsRecorded").field("stream_id", *s)
        }
        UserControl::PingRequest(t) => n.field("event", "PingRequest").field("timestamp", *t),
        UserControl::PingResponse(t) => n.field("event", "PingResponse").field("timestamp", *t),
        UserControl::Other { event, data } => n
            .field("event", u32::from(*event))
            .field("data", Val::Bytes(data.to_vec())),
    }
}

fn command_node(m: &Message, c: &Command) -> Node {
    Node::new("command", c.name.clone())
        .at(m.offset)
        .field("stream_id", m.stream_id)
        .field("transaction", c.transaction)
        .field("object", amf0(&c.object))
        .field("args", Val::List(c.args.iter().map(amf0).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("rtmp://example.com/live/cam1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.app.as_str(), t.stream.as_str()),
            ("example.com", 1935, "live", "cam1")
        );
        assert_eq!(t.tc_url, "rtmp://example.com/live");
        let t = Target::parse("RTMP://127.0.0.1:19350/app/a/b?k=1").unwrap();
        assert_eq!((t.port, t.stream.as_str()), (19350, "a/b?k=1"));
        let t = Target::parse("rtmp://[::1]:1936/live/s").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 1936));
        for bad in [
            "rtmp://host/live",
            "rtmp://host/",
            "rtmp://:1935/live/s",
            "rtmp://host:99999/live/s",
            "http://host/live/s",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
