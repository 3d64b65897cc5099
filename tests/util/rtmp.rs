//! A small blocking RTMP client for tests, built from mist's own sans-IO pieces (handshake,
//! chunk writer and reader, AMF0 commands). It plays the parts ffmpeg cannot: a viewer that
//! times its first frame, and a hostile client that sends exactly the bytes a test wants.
//! Every wait is bounded by a deadline.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mist::formats::flv::amf0::Value;
use mist::serve::rtmp::chunk::{ChunkReader, ChunkWriter, Limits};
use mist::serve::rtmp::command::{object, s, Command};
use mist::serve::rtmp::handshake::{ClientHandshake, Scheme};
use mist::serve::rtmp::message::{Message, MessageType};

/// One client connection.
pub struct RtmpClient {
    /// The socket (tests write raw bytes to it).
    pub sock: TcpStream,
    /// Chunks what the client sends.
    pub w: ChunkWriter,
    r: ChunkReader,
    txn: f64,
    /// Stream id from the last `createStream`.
    pub stream_id: u32,
}

impl RtmpClient {
    /// Connects and does the handshake (plain, or with a digest in `scheme`).
    pub fn handshake(addr: SocketAddr, scheme: Option<Scheme>) -> io::Result<RtmpClient> {
        let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        sock.set_nodelay(true)?;
        let (mut hs, c0c1) = ClientHandshake::new(7, scheme);
        sock.write_all(&c0c1)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut c2 = Vec::new();
        let mut buf = [0u8; 4096];
        let mut rest = Vec::new();
        while !hs.is_done() {
            let n = read_some(&mut sock, &mut buf, deadline)?;
            let used = hs
                .feed(&buf[..n], 0, &mut c2)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            rest.extend_from_slice(&buf[used..n]);
        }
        sock.write_all(&c2)?;
        let mut r = ChunkReader::new(Limits::default(), 0);
        r.feed(&rest);
        Ok(RtmpClient {
            sock,
            w: ChunkWriter::new(128),
            r,
            txn: 1.0,
            stream_id: 0,
        })
    }

    /// Handshake and `connect` to `app`; waits for the `_result`.
    pub fn connect(addr: SocketAddr, app: &str) -> io::Result<RtmpClient> {
        let mut c = RtmpClient::handshake(addr, None)?;
        let url = format!("rtmp://{addr}/{app}");
        c.command(
            0,
            "connect",
            object(&[
                ("app", s(app)),
                ("tcUrl", s(&url)),
                ("flashVer", s("LNX 9,0,124,2")),
            ]),
            vec![],
        )?;
        match c.wait_command(Duration::from_secs(5), |c| {
            c.name == "_result" || c.name == "_error"
        })? {
            Some(r) if r.name == "_result" => Ok(c),
            other => Err(io::Error::other(format!("connect answered {other:?}"))),
        }
    }

    /// Writes raw bytes.
    pub fn send_raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.sock.write_all(b)
    }

    /// Sends one message.
    pub fn message(
        &mut self,
        cs: u32,
        ts: u32,
        kind: MessageType,
        sid: u32,
        body: &[u8],
    ) -> io::Result<()> {
        let mut b = Vec::with_capacity(body.len() + 64);
        self.w.write(&mut b, cs, ts, kind, sid, body);
        self.sock.write_all(&b)
    }

    /// Sends a command with the next transaction id.
    pub fn command(
        &mut self,
        sid: u32,
        name: &str,
        obj: Value,
        args: Vec<Value>,
    ) -> io::Result<f64> {
        self.txn += 1.0;
        let body = Command::new(name, self.txn, obj, args).encode();
        self.message(3, 0, MessageType::COMMAND_AMF0, sid, &body)?;
        Ok(self.txn)
    }

    /// The next message from the server, `None` at the deadline or when the server closed.
    pub fn read_message(&mut self, deadline: Instant) -> io::Result<Option<Message>> {
        let mut buf = [0u8; 16 << 10];
        loop {
            if let Some(m) = self
                .r
                .next_message()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
            {
                return Ok(Some(m));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            match self.sock.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => self.r.feed(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until a command for which `pred` holds (within `timeout`).
    pub fn wait_command(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Command) -> bool,
    ) -> io::Result<Option<Command>> {
        let deadline = Instant::now() + timeout;
        while let Some(m) = self.read_message(deadline)? {
            if m.kind == MessageType::COMMAND_AMF0 {
                if let Ok(c) = Command::parse(&m) {
                    if pred(&c) {
                        return Ok(Some(c));
                    }
                }
            }
        }
        Ok(None)
    }

    /// `createStream`; returns the stream id.
    pub fn create_stream(&mut self) -> io::Result<u32> {
        let txn = self.command(0, "createStream", Value::Null, vec![])?;
        let r = self.wait_command(Duration::from_secs(5), |c| c.transaction == txn)?;
        let id = r
            .and_then(|c| c.arg_number(0))
            .ok_or_else(|| io::Error::other("no createStream answer"))?;
        self.stream_id = id as u32;
        Ok(self.stream_id)
    }

    /// `createStream` + `publish`; returns the status code the server answered.
    pub fn publish(&mut self, name: &str) -> io::Result<String> {
        let sid = self.create_stream()?;
        self.command(sid, "publish", Value::Null, vec![s(name), s("live")])?;
        self.status(Duration::from_secs(5), "NetStream.Publish")
    }

    /// `createStream` + `play`; returns the status code the server answered.
    pub fn play(&mut self, name: &str) -> io::Result<String> {
        let sid = self.create_stream()?;
        self.command(sid, "play", Value::Null, vec![s(name), Value::Number(-2.0)])?;
        self.status(Duration::from_secs(5), "NetStream.Play.St")
    }

    /// The first `onStatus` code starting with `prefix`.
    pub fn status(&mut self, timeout: Duration, prefix: &str) -> io::Result<String> {
        let c = self.wait_command(timeout, |c| {
            c.name == "onStatus" && status_code(c).is_some_and(|k| k.starts_with(prefix))
        })?;
        c.and_then(|c| status_code(&c))
            .ok_or_else(|| io::Error::other(format!("no {prefix}* status")))
    }
}

/// The `code` of a status command.
pub fn status_code(c: &Command) -> Option<String> {
    c.args
        .iter()
        .find_map(|a| a.get("code").and_then(Value::as_str))
        .map(str::to_string)
}

fn read_some(sock: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        match sock.read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => return Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if Instant::now() >= deadline {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The tags of a FLV file: (type, timestamp in ms, body).
pub fn flv_tags(
    path: &std::path::Path,
) -> Vec<(mist::formats::flv::tag::TagType, u32, bytes::Bytes)> {
    use mist::formats::flv::reader::{Item, TagReader};
    let mut r = TagReader::new();
    r.feed(bytes::Bytes::from(std::fs::read(path).expect("read FLV")));
    let mut v = Vec::new();
    while let Some(i) = r.next_item().expect("the FLV parses") {
        if let Item::Tag(t) = i {
            v.push((t.header.tag_type, t.header.timestamp_ms, t.body));
        }
    }
    v
}

/// Sends the media tags of `tags` `loops` times back to back on a publishing client's stream
/// (times shifted by the fixture's length each loop; sequence headers in the first loop
/// only), as an encoder looping a file does. Returns the audio and video frames sent.
pub fn send_looped(
    c: &mut RtmpClient,
    tags: &[(mist::formats::flv::tag::TagType, u32, bytes::Bytes)],
    loops: u32,
) -> io::Result<usize> {
    use mist::formats::flv::tag::TagType;
    let media: Vec<_> = tags
        .iter()
        .filter(|t| matches!(t.0, TagType::AUDIO | TagType::VIDEO))
        .collect();
    let last = media.iter().map(|t| t.1).max().unwrap_or(0);
    // One loop lasts until the last tag plus one video frame (40 ms at 25 fps).
    let span = last + 40;
    let sid = c.stream_id;
    let mut frames = 0;
    for l in 0..loops {
        for t in &media {
            // AVC (codec 7) and AAC (sound format 10) sequence headers: packet type 0.
            let avc_or_aac = match t.0 {
                TagType::VIDEO => t.2.first().is_some_and(|b| b & 0x0f == 7),
                _ => t.2.first().is_some_and(|b| b >> 4 == 10),
            };
            let header = avc_or_aac && t.2.get(1) == Some(&0);
            if header && l > 0 {
                continue;
            }
            let cs = if t.0 == TagType::VIDEO { 6 } else { 4 };
            c.message(cs, t.1 + l * span, MessageType(t.0 .0), sid, &t.2)?;
            if !header {
                frames += 1;
            }
        }
    }
    Ok(frames)
}
