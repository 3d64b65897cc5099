//! Load generator for `mist serve` (and nginx-rtmp, for comparison): one publisher sends an FLV
//! file over RTMP in real time, in a loop; N RTMP viewers, N HTTP-FLV viewers and N HLS
//! viewers play it. An HLS viewer reloads its media playlist every half target duration and
//! fetches each new segment once, as players do (one keep-alive connection per viewer).
//!
//! Not a test: `scripts/serve_bench.sh` runs it and keeps the results. It reports, per run:
//! - whether every viewer kept at least 90 % of real time over the measured window (an HLS
//!   viewer: got every segment listed while it watched, each within its duration);
//! - the server's CPU (from /proc/PID/stat) per viewer, and RSS (VmRSS) above its idle value
//!   per viewer;
//! - the added latency from publish to play (a video keyframe's receive time minus the time
//!   the publisher sent it; one clock, since both sides live in this process).
//!
//! The viewers are lean on purpose (the client shares the machine with the server): RTMP
//! chunks and FLV tags are walked header by header and their payloads skipped, never
//! assembled.
//!
//! ```text
//! serve_load --rtmp 127.0.0.1:1935 [--http 127.0.0.1:8080] --server-pid PID --input in.flv
//!            [--rtmp-viewers N] [--flv-viewers N] [--hls-viewers N --hls-path /P.m3u8]
//!            [--warmup S] [--duration S] [--app live] [--stream bench] [--connect-rate N]
//!            [--prewarm S]
//! ```
//!
//! `--prewarm` publishes that long before the idle RSS is read and viewers connect: set it
//! past the server's buffer window (mist: the DVR, 50 s by default) so the buffer's own growth
//! is not counted per viewer.
//!
//! ```text
//! ```

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mist::formats::flv::amf0::Value;
use mist::serve::rtmp::chunk::{ChunkReader, ChunkWriter, Limits};
use mist::serve::rtmp::command::{object, s, Command};
use mist::serve::rtmp::handshake::ClientHandshake;
use mist::serve::rtmp::message::MessageType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Options from the command line.
#[derive(Clone, Debug)]
struct Opts {
    rtmp: SocketAddr,
    http: Option<SocketAddr>,
    server_pid: u32,
    input: String,
    rtmp_viewers: usize,
    flv_viewers: usize,
    hls_viewers: usize,
    /// The playlist HLS viewers start from (a master playlist's first variant is followed).
    hls_path: String,
    warmup: Duration,
    duration: Duration,
    app: String,
    stream: String,
    connect_rate: u32,
    prewarm: Duration,
}

fn parse_opts() -> Result<Opts, String> {
    let mut a = std::env::args().skip(1);
    let mut o = Opts {
        rtmp: "127.0.0.1:1935".parse().map_err(|_| "addr")?,
        http: None,
        server_pid: 0,
        input: String::new(),
        rtmp_viewers: 0,
        flv_viewers: 0,
        hls_viewers: 0,
        hls_path: String::new(),
        warmup: Duration::from_secs(5),
        duration: Duration::from_secs(30),
        app: "live".into(),
        stream: "bench".into(),
        connect_rate: 500,
        prewarm: Duration::from_secs(2),
    };
    while let Some(k) = a.next() {
        let mut v = || a.next().ok_or(format!("{k} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|_| format!("{k}: not a number"));
        match k.as_str() {
            "--rtmp" => o.rtmp = v()?.parse().map_err(|_| "--rtmp: not an address")?,
            "--http" => o.http = Some(v()?.parse().map_err(|_| "--http: not an address")?),
            "--server-pid" => o.server_pid = num(v()?)? as u32,
            "--input" => o.input = v()?,
            "--rtmp-viewers" => o.rtmp_viewers = num(v()?)? as usize,
            "--flv-viewers" => o.flv_viewers = num(v()?)? as usize,
            "--hls-viewers" => o.hls_viewers = num(v()?)? as usize,
            "--hls-path" => o.hls_path = v()?,
            "--warmup" => o.warmup = Duration::from_secs(num(v()?)?),
            "--duration" => o.duration = Duration::from_secs(num(v()?)?),
            "--app" => o.app = v()?,
            "--stream" => o.stream = v()?,
            "--connect-rate" => o.connect_rate = num(v()?)?.max(1) as u32,
            "--prewarm" => o.prewarm = Duration::from_secs(num(v()?)?.max(1)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.input.is_empty() || o.server_pid == 0 {
        return Err("--input and --server-pid are required".into());
    }
    if (o.flv_viewers > 0 || o.hls_viewers > 0) && o.http.is_none() {
        return Err("--flv-viewers and --hls-viewers need --http".into());
    }
    if o.hls_viewers > 0 && o.hls_path.is_empty() {
        o.hls_path = format!("/hls/{}/index.m3u8", o.stream);
    }
    Ok(o)
}

/// One FLV tag of the input: type, timestamp (ms) and body.
struct Tag {
    kind: u8,
    ts: u32,
    body: Vec<u8>,
}

fn read_flv(path: &str) -> io::Result<Vec<Tag>> {
    let mut b = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut b)?;
    if b.len() < 13 || &b[..3] != b"FLV" {
        return Err(io::Error::other(format!("{path}: not an FLV file")));
    }
    let mut at = u32::from_be_bytes([b[5], b[6], b[7], b[8]]) as usize + 4;
    let mut tags = Vec::new();
    while at + 11 <= b.len() {
        let kind = b[at] & 0x1f;
        let size = u32::from_be_bytes([0, b[at + 1], b[at + 2], b[at + 3]]) as usize;
        let ts = u32::from_be_bytes([b[at + 7], b[at + 4], b[at + 5], b[at + 6]]);
        let end = at + 11 + size;
        if end > b.len() {
            break;
        }
        if kind == 8 || kind == 9 {
            tags.push(Tag {
                kind,
                ts,
                body: b[at + 11..end].to_vec(),
            });
        }
        at = end + 4;
    }
    Ok(tags)
}

/// The measured window, set once every viewer has been started.
type Window = Arc<std::sync::OnceLock<(Instant, Instant)>>;

/// Whether `now` is inside the window, and whether the window is over.
fn window(w: &Window, now: Instant) -> (bool, bool) {
    match w.get() {
        Some((a, b)) => (now >= *a && now < *b, now >= *b),
        None => (false, false),
    }
}

/// When each video keyframe (by RTMP timestamp) left the publisher.
type SentKeys = Arc<Mutex<HashMap<u32, Instant>>>;

/// Per-viewer numbers, shared with the reporter.
#[derive(Default)]
struct ViewerStats {
    /// Media time (ms) of the first packet inside the measured window, and when it came.
    first: Mutex<Option<(u32, Instant)>>,
    /// Newest media time seen (ms).
    newest: AtomicU64,
    /// Bytes received.
    bytes: AtomicU64,
    /// Latency samples in µs (video keyframes).
    latency_us: Mutex<Vec<u64>>,
    /// Set when the connection ended early.
    failed: Mutex<Option<String>>,
    /// HLS: segments fetched in the measured window, and those missed (listed and gone
    /// before fetched, or fetched slower than their duration).
    segments: AtomicU64,
    missed: AtomicU64,
}

impl ViewerStats {
    fn media(&self, ts: u32, key: bool, sent: &SentKeys, measuring: bool) {
        let now = Instant::now();
        if measuring {
            let mut f = self.first.lock().unwrap_or_else(|p| p.into_inner());
            if f.is_none() {
                *f = Some((ts, now));
            }
        }
        self.newest.fetch_max(u64::from(ts), Ordering::Relaxed);
        if key && measuring {
            if let Some(at) = sent.lock().unwrap_or_else(|p| p.into_inner()).get(&ts) {
                let us = now.saturating_duration_since(*at).as_micros() as u64;
                self.latency_us
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(us);
            }
        }
    }
}

async fn handshake(addr: SocketAddr) -> io::Result<(TcpStream, Vec<u8>)> {
    let mut sock = TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    let (mut hs, c0c1) = ClientHandshake::new(7, None);
    sock.write_all(&c0c1).await?;
    let mut c2 = Vec::new();
    let mut rest = Vec::new();
    let mut buf = vec![0u8; 4096];
    while !hs.is_done() {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let used = hs
            .feed(&buf[..n], 0, &mut c2)
            .map_err(|e| io::Error::other(e.to_string()))?;
        rest.extend_from_slice(&buf[used..n]);
    }
    sock.write_all(&c2).await?;
    Ok((sock, rest))
}

fn command(
    w: &mut ChunkWriter,
    out: &mut Vec<u8>,
    sid: u32,
    txn: f64,
    name: &str,
    obj: Value,
    args: Vec<Value>,
) {
    let body = Command::new(name, txn, obj, args).encode();
    w.write(out, 3, 0, MessageType::COMMAND_AMF0, sid, &body);
}

fn connect_commands(o: &Opts, w: &mut ChunkWriter, out: &mut Vec<u8>) {
    let url = format!("rtmp://{}/{}", o.rtmp, o.app);
    command(
        w,
        out,
        0,
        1.0,
        "connect",
        object(&[
            ("app", s(&o.app)),
            ("tcUrl", s(&url)),
            ("flashVer", s("LNX 9,0,124,2")),
        ]),
        vec![],
    );
    command(w, out, 0, 2.0, "createStream", Value::Null, vec![]);
}

/// Publishes the input in a loop, paced at real time, until `stop`.
async fn publish(
    o: Opts,
    tags: Vec<Tag>,
    sent: SentKeys,
    stop: Arc<std::sync::OnceLock<Instant>>,
) -> io::Result<()> {
    let (mut sock, rest) = handshake(o.rtmp).await?;
    let mut w = ChunkWriter::new(128);
    let mut out = Vec::new();
    connect_commands(&o, &mut w, &mut out);
    sock.write_all(&out).await?;
    // Wait for createStream's answer (transaction 2), whatever comes before it.
    let mut r = ChunkReader::new(Limits::default(), 0);
    r.feed(&rest);
    let mut sid = None;
    let mut buf = vec![0u8; 16 << 10];
    let deadline = Instant::now() + Duration::from_secs(10);
    while sid.is_none() {
        while let Some(m) = r
            .next_message()
            .map_err(|e| io::Error::other(e.to_string()))?
        {
            if m.kind == MessageType::COMMAND_AMF0 {
                if let Ok(c) = Command::parse(&m) {
                    if c.name == "_result" && c.transaction == 2.0 {
                        sid = c.arg_number(0).map(|v| v as u32);
                    }
                }
            }
        }
        if sid.is_some() {
            break;
        }
        if Instant::now() > deadline {
            return Err(io::Error::other("publisher: no createStream answer"));
        }
        let n = tokio::time::timeout(Duration::from_secs(1), sock.read(&mut buf))
            .await
            .unwrap_or(Ok(0))?;
        r.feed(&buf[..n]);
    }
    let sid = sid.unwrap_or(1);
    let mut out = Vec::new();
    let mut w = ChunkWriter::new(128);
    command(
        &mut w,
        &mut out,
        sid,
        3.0,
        "publish",
        Value::Null,
        vec![s(&o.stream), s("live")],
    );
    // Set Chunk Size 4096 for the media.
    w.write(
        &mut out,
        2,
        0,
        MessageType::SET_CHUNK_SIZE,
        0,
        &4096u32.to_be_bytes(),
    );
    w.set_chunk_size(4096);
    sock.write_all(&out).await?;
    let file_ms = tags.last().map_or(1000, |t| t.ts) + 40;
    let start = Instant::now();
    let mut base = 0u32;
    // Drain whatever the server says (acks, status) so its writes never block.
    let (mut rd, mut wr) = sock.into_split();
    tokio::spawn(async move {
        let mut b = vec![0u8; 4096];
        while let Ok(n) = rd.read(&mut b).await {
            if n == 0 {
                break;
            }
        }
    });
    loop {
        for (i, t) in tags.iter().enumerate() {
            // Sequence headers once, at the start.
            let seq = is_sequence_header(t);
            if base > 0 && seq {
                continue;
            }
            let ts = base + t.ts;
            let due = start + Duration::from_millis(u64::from(ts));
            let now = Instant::now();
            if due > now {
                tokio::time::sleep_until(due.into()).await;
            }
            if stop.get().is_some_and(|s| Instant::now() > *s) {
                return Ok(());
            }
            let kind = if t.kind == 8 {
                MessageType::AUDIO
            } else {
                MessageType::VIDEO
            };
            let mut out = Vec::with_capacity(t.body.len() + 64);
            w.write(
                &mut out,
                if t.kind == 8 { 4 } else { 6 },
                ts,
                kind,
                sid,
                &t.body,
            );
            if t.kind == 9 && t.body.first().is_some_and(|b| b >> 4 == 1) && !seq {
                sent.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(ts, Instant::now());
            }
            wr.write_all(&out).await?;
            let _ = i;
        }
        base += file_ms;
    }
}

fn is_sequence_header(t: &Tag) -> bool {
    match t.kind {
        9 => t.body.len() > 1 && t.body[0] & 0x0f == 7 && t.body[1] == 0,
        8 => t.body.len() > 1 && t.body[0] >> 4 == 10 && t.body[1] == 0,
        _ => false,
    }
}

/// Per chunk stream: what the last header said.
#[derive(Clone, Copy, Default)]
struct Csid {
    ts: u32,
    delta: u32,
    len: u32,
    kind: u8,
    left: u32,
    extended: bool,
}

/// Walks the server-to-client chunk stream without assembling media payloads.
struct ChunkWalker {
    buf: Vec<u8>,
    chunk: u32,
    streams: HashMap<u32, Csid>,
    /// Control message bodies (small) being assembled: (csid → bytes).
    control: HashMap<u32, Vec<u8>>,
    received: u64,
    acked: u64,
    window: u64,
}

impl ChunkWalker {
    fn new() -> ChunkWalker {
        ChunkWalker {
            buf: Vec::with_capacity(8192),
            chunk: 128,
            streams: HashMap::new(),
            control: HashMap::new(),
            received: 0,
            acked: 0,
            window: 2_500_000,
        }
    }

    /// Consumes what it can of the buffer; calls `media(ts, keyframe)` at each audio/video
    /// message start. Returns an acknowledgement to send, if one is due.
    fn walk(&mut self, mut media: impl FnMut(u32, bool, bool)) -> Result<Option<Vec<u8>>, String> {
        let mut at = 0usize;
        loop {
            let b = &self.buf[at..];
            if b.is_empty() {
                break;
            }
            let fmt = b[0] >> 6;
            let (csid, mut p) = match b[0] & 0x3f {
                0 if b.len() >= 2 => (64 + u32::from(b[1]), 2),
                1 if b.len() >= 3 => (64 + u32::from(b[1]) + 256 * u32::from(b[2]), 3),
                0 | 1 => break,
                c => (u32::from(c), 1),
            };
            let hlen = [11, 7, 3, 0][fmt as usize];
            if b.len() < p + hlen {
                break;
            }
            let mut st = self.streams.get(&csid).copied().unwrap_or_default();
            let u24 = |x: &[u8]| u32::from_be_bytes([0, x[0], x[1], x[2]]);
            let field = if hlen >= 3 { u24(&b[p..]) } else { 0 };
            let starts = fmt != 3 || st.left == 0;
            if hlen >= 7 {
                st.len = u24(&b[p + 3..]);
                st.kind = b[p + 6];
            }
            p += hlen;
            let ext = if hlen >= 3 {
                field == 0xFF_FFFF
            } else {
                st.extended
            };
            let mut ts_field = field;
            if ext {
                if b.len() < p + 4 {
                    break;
                }
                ts_field = u32::from_be_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]);
                p += 4;
            }
            if hlen >= 3 {
                st.extended = ext;
            }
            if starts {
                match fmt {
                    0 => st.ts = ts_field,
                    1 | 2 => {
                        st.delta = ts_field;
                        st.ts = st.ts.wrapping_add(ts_field);
                    }
                    _ => st.ts = st.ts.wrapping_add(st.delta),
                }
                st.left = st.len;
            }
            let take = st.left.min(self.chunk) as usize;
            if b.len() < p + take {
                break;
            }
            let payload = &b[p..p + take];
            if starts && (st.kind == 8 || st.kind == 9) {
                let first = payload.first().copied().unwrap_or(0);
                let key = st.kind == 9 && first >> 4 == 1;
                let seq = payload.get(1) == Some(&0);
                media(st.ts, key, seq);
            }
            if st.kind <= 6 {
                let c = self.control.entry(csid).or_default();
                c.extend_from_slice(payload);
                if st.left as usize == take {
                    let body = std::mem::take(c);
                    match st.kind {
                        1 if body.len() >= 4 => {
                            self.chunk = u32::from_be_bytes([body[0], body[1], body[2], body[3]])
                                & 0x7fff_ffff;
                            if self.chunk == 0 {
                                return Err("chunk size 0".into());
                            }
                        }
                        5 if body.len() >= 4 => {
                            self.window =
                                u64::from(u32::from_be_bytes([body[0], body[1], body[2], body[3]]))
                                    .max(1);
                        }
                        _ => {}
                    }
                }
            }
            st.left -= take as u32;
            self.streams.insert(csid, st);
            at += p + take;
        }
        self.buf.drain(..at);
        if self.received - self.acked >= self.window / 2 {
            self.acked = self.received;
            let mut w = ChunkWriter::new(128);
            let mut out = Vec::new();
            w.write(
                &mut out,
                2,
                0,
                MessageType::ACKNOWLEDGEMENT,
                0,
                &(self.received as u32).to_be_bytes(),
            );
            return Ok(Some(out));
        }
        Ok(None)
    }
}

async fn rtmp_viewer(o: Arc<Opts>, st: Arc<ViewerStats>, sent: SentKeys, measure: Window) {
    let r = async {
        let (mut sock, rest) = handshake(o.rtmp).await?;
        let mut w = ChunkWriter::new(128);
        let mut out = Vec::new();
        connect_commands(&o, &mut w, &mut out);
        // Servers number the first stream 1 (mist and nginx-rtmp alike): no need to wait.
        command(
            &mut w,
            &mut out,
            1,
            3.0,
            "play",
            Value::Null,
            vec![s(&o.stream), Value::Number(-1000.0)],
        );
        sock.write_all(&out).await?;
        let mut cw = ChunkWalker::new();
        cw.buf.extend_from_slice(&rest);
        let mut tmp = vec![0u8; 64 << 10];
        loop {
            let n = sock.read(&mut tmp).await?;
            if n == 0 {
                return Err(io::Error::other("server closed"));
            }
            st.bytes.fetch_add(n as u64, Ordering::Relaxed);
            cw.received += n as u64;
            cw.buf.extend_from_slice(&tmp[..n]);
            let (measuring, over) = window(&measure, Instant::now());
            let ack = cw
                .walk(|ts, key, seq| {
                    if !seq {
                        st.media(ts, key, &sent, measuring)
                    }
                })
                .map_err(io::Error::other)?;
            if let Some(a) = ack {
                sock.write_all(&a).await?;
            }
            if over {
                return Ok::<(), io::Error>(());
            }
        }
    }
    .await;
    if let Err(e) = r {
        *st.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }
}

async fn flv_viewer(o: Arc<Opts>, st: Arc<ViewerStats>, sent: SentKeys, measure: Window) {
    let r = async {
        let addr = o.http.ok_or_else(|| io::Error::other("no --http"))?;
        let mut sock = TcpStream::connect(addr).await?;
        // HTTP/1.0: the body ends with the connection, so no chunked coding to undo.
        let req = format!("GET /{}.flv HTTP/1.0\r\nHost: {addr}\r\n\r\n", o.stream);
        sock.write_all(req.as_bytes()).await?;
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut tmp = vec![0u8; 64 << 10];
        let mut body = false;
        // Bytes of the current tag still to skip.
        let mut skip = 0usize;
        loop {
            let n = sock.read(&mut tmp).await?;
            if n == 0 {
                return Err(io::Error::other("server closed"));
            }
            st.bytes.fetch_add(n as u64, Ordering::Relaxed);
            let (measuring, over) = window(&measure, Instant::now());
            let mut data = &tmp[..n];
            if skip > 0 {
                let k = skip.min(data.len());
                skip -= k;
                data = &data[k..];
            }
            buf.extend_from_slice(data);
            if !body {
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                if !buf.starts_with(b"HTTP/1.1 200") && !buf.starts_with(b"HTTP/1.0 200") {
                    return Err(io::Error::other(
                        String::from_utf8_lossy(&buf[..end]).to_string(),
                    ));
                }
                buf.drain(..end + 4 + 13);
                body = true;
            }
            let mut at = 0;
            while buf.len() - at >= 11 {
                let h = &buf[at..at + 11];
                let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
                let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
                let kind = h[0] & 0x1f;
                // The first body byte says keyframe and sequence header.
                if buf.len() - at < 13 {
                    break;
                }
                let (b0, b1) = (buf[at + 11], buf[at + 12]);
                if kind == 8 || kind == 9 {
                    let key = kind == 9 && b0 >> 4 == 1;
                    if b1 != 0 {
                        st.media(ts, key, &sent, measuring);
                    }
                }
                let whole = 11 + size + 4;
                if buf.len() - at >= whole {
                    at += whole;
                } else {
                    skip = whole - (buf.len() - at);
                    at = buf.len();
                    break;
                }
            }
            buf.drain(..at);
            if over {
                return Ok::<(), io::Error>(());
            }
        }
    }
    .await;
    if let Err(e) = r {
        *st.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }
}

/// One HTTP/1.1 GET on a keep-alive connection: the body (`Content-Length` framing).
async fn get(
    sock: &mut TcpStream,
    host: SocketAddr,
    path: &str,
    buf: &mut Vec<u8>,
) -> io::Result<Vec<u8>> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    sock.write_all(req.as_bytes()).await?;
    let mut tmp = vec![0u8; 64 << 10];
    let end = loop {
        if let Some(e) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break e;
        }
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Err(io::Error::other("server closed"));
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!(
            "{path}: {}",
            head.lines().next().unwrap_or("")
        )));
    }
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| io::Error::other(format!("{path}: no Content-Length")))?;
    buf.drain(..end + 4);
    while buf.len() < len {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Err(io::Error::other("server closed"));
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Ok(buf.drain(..len).collect())
}

/// `reference` relative to the folder of `base` (both absolute paths on one server).
fn beside(base: &str, reference: &str) -> String {
    if reference.starts_with('/') {
        return reference.to_string();
    }
    let dir = base.rfind('/').map_or("/", |i| &base[..=i]);
    format!("{dir}{reference}")
}

/// An HLS viewer: the media playlist reloaded every half target duration, each new segment
/// fetched once. A segment missed (gone from the window before it was fetched, or fetched
/// slower than it lasts) while measuring is counted.
async fn hls_viewer(o: Arc<Opts>, st: Arc<ViewerStats>, measure: Window) {
    let r = async {
        let addr = o.http.ok_or_else(|| io::Error::other("no --http"))?;
        let mut sock = TcpStream::connect(addr).await?;
        let mut buf = Vec::new();
        let mut path = o.hls_path.clone();
        let mut next: Option<u64> = None;
        loop {
            let text = get(&mut sock, addr, &path, &mut buf).await?;
            st.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
            let text = String::from_utf8_lossy(&text).to_string();
            if text.contains("#EXT-X-STREAM-INF") {
                let uri = text
                    .lines()
                    .find(|l| !l.is_empty() && !l.starts_with('#'))
                    .ok_or_else(|| io::Error::other("a master playlist without variants"))?;
                path = beside(&path, uri);
                continue;
            }
            let target = text
                .lines()
                .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(2);
            let mut seq = text
                .lines()
                .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let mut dur = 0.0f64;
            let mut segs = Vec::new();
            for l in text.lines() {
                if let Some(d) = l.strip_prefix("#EXTINF:") {
                    dur = d
                        .split(',')
                        .next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0.0);
                } else if !l.is_empty() && !l.starts_with('#') {
                    segs.push((seq, l.to_string(), dur));
                    seq += 1;
                }
            }
            // A new viewer starts at the live edge, as players do (three segments back).
            let from = next.unwrap_or_else(|| seq.saturating_sub(3));
            let (measuring, over) = window(&measure, Instant::now());
            if over {
                return Ok::<(), io::Error>(());
            }
            if measuring && segs.first().is_some_and(|(first, _, _)| *first > from) {
                let gone = segs[0].0 - from;
                st.missed.fetch_add(gone, Ordering::Relaxed);
            }
            for (n, uri, d) in segs.into_iter().filter(|(n, _, _)| *n >= from) {
                let t = Instant::now();
                let body = get(&mut sock, addr, &beside(&path, &uri), &mut buf).await?;
                st.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                let (measuring, _) = window(&measure, Instant::now());
                if measuring {
                    st.segments.fetch_add(1, Ordering::Relaxed);
                    if t.elapsed().as_secs_f64() > d {
                        st.missed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                next = Some(n + 1);
            }
            if next.is_none() {
                next = Some(from);
            }
            tokio::time::sleep(Duration::from_millis(target * 500)).await;
        }
    }
    .await;
    if let Err(e) = r {
        *st.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("serve_load: {e}");
            std::process::exit(2);
        }
    };
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(run(o));
    std::process::exit(code);
}

async fn run(o: Opts) -> i32 {
    let tags = match read_flv(&o.input) {
        Ok(t) if !t.is_empty() => t,
        Ok(_) => {
            eprintln!("serve_load: {}: no audio or video tags", o.input);
            return 1;
        }
        Err(e) => {
            eprintln!("serve_load: {e}");
            return 1;
        }
    };
    let o = Arc::new(o);
    let sent: SentKeys = Arc::new(Mutex::new(HashMap::new()));
    let n = o.rtmp_viewers + o.flv_viewers + o.hls_viewers;
    let t0 = Instant::now();
    let measure: Window = Arc::new(std::sync::OnceLock::new());
    let stop = Arc::new(std::sync::OnceLock::<Instant>::new());
    let publisher = {
        let (o, sent, stop) = ((*o).clone(), sent.clone(), stop.clone());
        tokio::spawn(async move { publish(o, tags, sent, stop).await })
    };
    tokio::time::sleep(o.prewarm).await;
    let rss_idle = rss_kib(o.server_pid);
    let mut viewers = Vec::with_capacity(n);
    // Connections go out in bursts, `connect_rate` a second.
    let burst = (o.connect_rate as usize / 10).max(1);
    for i in 0..n {
        let st = Arc::new(ViewerStats::default());
        let (o2, s2, m2, st2) = (o.clone(), sent.clone(), measure.clone(), st.clone());
        let hls = i >= o.rtmp_viewers + o.flv_viewers;
        if i < o.rtmp_viewers {
            tokio::spawn(rtmp_viewer(o2, st2, s2, m2));
        } else if !hls {
            tokio::spawn(flv_viewer(o2, st2, s2, m2));
        } else {
            tokio::spawn(hls_viewer(o2, st2, m2));
        }
        viewers.push((hls, st));
        if (i + 1) % burst == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The window starts after the warm-up that follows the last connection.
    let measure_start = Instant::now() + o.warmup;
    let measure_end = measure_start + o.duration;
    let _ = measure.set((measure_start, measure_end));
    let _ = stop.set(measure_end + Duration::from_secs(2));
    tokio::time::sleep_until(measure_start.into()).await;
    let cpu0 = cpu_seconds(o.server_pid);
    let w0 = Instant::now();
    tokio::time::sleep_until(measure_end.into()).await;
    let cpu1 = cpu_seconds(o.server_pid);
    let wall = w0.elapsed().as_secs_f64();
    let rss = rss_kib(o.server_pid);
    tokio::time::sleep(Duration::from_millis(300)).await;
    publisher.abort();

    let mut kept = 0usize;
    let mut failed = 0usize;
    let mut worst = f64::INFINITY;
    let mut lat: Vec<u64> = Vec::new();
    let mut bytes = 0u64;
    let mut why: HashMap<String, usize> = HashMap::new();
    let (mut segments, mut missed) = (0u64, 0u64);
    for (hls, st) in &viewers {
        bytes += st.bytes.load(Ordering::Relaxed);
        if let Some(e) = st.failed.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            failed += 1;
            *why.entry(e).or_default() += 1;
            continue;
        }
        if *hls {
            let (got, lost) = (
                st.segments.load(Ordering::Relaxed),
                st.missed.load(Ordering::Relaxed),
            );
            segments += got;
            missed += lost;
            // Every segment of the window, each in time: real time kept.
            let ratio = if got > 0 && lost == 0 { 1.0 } else { 0.0 };
            worst = worst.min(ratio);
            if ratio >= 0.9 {
                kept += 1;
            }
            continue;
        }
        let first = *st.first.lock().unwrap_or_else(|p| p.into_inner());
        let ratio = match first {
            Some((ts, at)) => {
                let media = st
                    .newest
                    .load(Ordering::Relaxed)
                    .saturating_sub(u64::from(ts)) as f64
                    / 1000.0;
                let wall = measure_end.saturating_duration_since(at).as_secs_f64();
                if wall > 0.0 {
                    media / wall
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        worst = worst.min(ratio);
        if ratio >= 0.9 {
            kept += 1;
        }
        lat.extend(
            st.latency_us
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter(),
        );
    }
    lat.sort_unstable();
    let pct = |q: f64| {
        lat.get(((lat.len() as f64 - 1.0) * q).round() as usize)
            .map_or(f64::NAN, |v| *v as f64 / 1000.0)
    };
    let cpu = (cpu1 - cpu0) / wall;
    let per = |x: f64| if n > 0 { x / n as f64 } else { f64::NAN };
    println!(
        "viewers: {} RTMP + {} HTTP-FLV + {} HLS = {n}",
        o.rtmp_viewers, o.flv_viewers, o.hls_viewers
    );
    if o.hls_viewers > 0 {
        println!("HLS segments fetched while measuring: {segments}, missed or late: {missed}");
    }
    println!(
        "kept >= 90% of real time: {kept}/{n} (worst {:.2}x), failed: {failed}",
        if worst.is_finite() { worst } else { 0.0 }
    );
    for (e, c) in &why {
        println!("  {c} failed: {e}");
    }
    println!(
        "server CPU: {:.1}% of a core ({:.4}% per viewer)",
        cpu * 100.0,
        per(cpu * 100.0)
    );
    println!(
        "server RSS: {} KiB idle, {} KiB loaded ({:.1} KiB per viewer)",
        rss_idle,
        rss,
        per(rss.saturating_sub(rss_idle) as f64)
    );
    println!(
        "latency publish->play (video keyframes, ms): median {:.1}, p95 {:.1}, max {:.1} ({} samples)",
        pct(0.5),
        pct(0.95),
        pct(1.0),
        lat.len()
    );
    println!(
        "received: {:.1} Mbit/s per viewer",
        per(bytes as f64 * 8.0 / 1e6 / (measure_end - t0).as_secs_f64())
    );
    println!(
        "CSV,{},{},{},{},{:.4},{:.5},{},{},{:.2},{:.1},{:.1}",
        o.rtmp_viewers,
        o.flv_viewers,
        o.hls_viewers,
        kept,
        cpu,
        per(cpu),
        rss_idle,
        rss,
        per(rss.saturating_sub(rss_idle) as f64),
        pct(0.5),
        pct(0.95)
    );
    if kept == n {
        0
    } else {
        1
    }
}
