//! The socket glue of the RTMP server: one task per connection drives a [`Session`] with the
//! bytes the socket gives, and turns its events into hub calls.
//!
//! - **Publish** → [`Hub::publish`](crate::serve::hub::Hub::publish) (with the app name and stream key as passwords); audio and
//!   video bodies become tracks and packets through [`Streams`], exactly as the FLV file reader
//!   makes them. Another publisher taking the stream over closes this connection.
//! - **Play** → [`Hub::view`](crate::serve::hub::Hub::view): at the first packets (and after every track change or seek)
//!   `onMetaData` and the sequence headers go out, then packets from a video keyframe on.
//!   Each packet's chunks come from the hub entry's shared encoding ([`Slot::Rtmp`]): built
//!   by the first viewer that needs them, then written by every viewer with vectored writes.
//! - A socket that stops draining fails its write after [`WRITE_STALL`] and the viewer is
//!   dropped (counted); the hub never waits for it. A protocol error ends this connection
//!   only and is logged with the peer.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::formats::flv::reader::{Event as FlvEvent, Streams, Tag};
use crate::formats::flv::tag::TagHeader;
use crate::serve::guard::{write_all_vectored, StallGuard, WRITE_STALL};
use crate::serve::hub::{
    Client, Encoded, Entry, HubError, Publisher, Slot, ViewOptions, Viewer, ViewerEvent,
};
use crate::serve::Shared;

use super::media::{self, PlayTracks};
use super::session::{Config, Event, Media, PlayRequest, PublishRequest, Session, FIRST_STREAM_ID};

/// The protocol name in statistics and logs.
pub const PROTOCOL: &str = "RTMP";
/// The handshake and `connect` must be done within this (slow or half handshakes end).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// A publisher that sends nothing for this long is gone.
pub const PUBLISH_IDLE: Duration = Duration::from_secs(30);
/// A connection that neither publishes nor plays is closed after this long.
pub const IDLE: Duration = Duration::from_secs(60);
/// Bytes read from the socket at a time by a publisher.
const READ_BUF: usize = 64 << 10;
/// Bytes read at a time before a publish: players send little (acks, commands), and a
/// viewer's memory is what limits how many one server holds. The handshake's 1536-byte
/// packets take a few reads more (heaptrack: 2 KiB here was a sixth of an RTMP viewer).
const SMALL_READ_BUF: usize = 512;
/// How far ahead of real time a VOD file may be sent to an RTMP player, in ms.
const VOD_LEAD_MS: i64 = 3000;

/// Accepts RTMP connections until the listener task is aborted.
pub async fn listen(l: tokio::net::TcpListener, shared: Arc<Shared>, live: Arc<()>) {
    loop {
        match l.accept().await {
            Ok((sock, peer)) => {
                let shared2 = shared.clone();
                crate::serve::guard::spawn_connection(
                    PROTOCOL,
                    peer,
                    shared.hub.stats.clone(),
                    live.clone(),
                    async move { serve(sock, peer, shared2).await },
                );
            }
            Err(e) => crate::serve::guard::accept_backoff(&e).await,
        }
    }
}

/// A publisher's side of the connection.
struct Publishing {
    publisher: Publisher,
    streams: Streams,
    stream_id: u32,
    scratch: Vec<FlvEvent>,
}

/// A player's side of the connection.
struct Playing {
    viewer: Viewer,
    stream_id: u32,
    tracks: PlayTracks,
    /// `onMetaData` and sequence headers go out before the next packet.
    headers_due: bool,
    /// Packets are held back until a video keyframe (or anything, without video).
    started: bool,
    /// A file ended: the player may still seek, so the connection stays (FFmpeg closes it).
    ended: bool,
}

/// Runs one connection to its end.
pub async fn serve(sock: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> Result<(), String> {
    let _ = sock.set_nodelay(true);
    let (rd, wr) = sock.into_split();
    let mut c = Conn {
        session: Session::new(Config {
            seed: seed(peer),
            epoch_ms: 0,
            ..Config::default()
        }),
        peer,
        shared,
        publishing: None,
        playing: None,
        wr: StallGuard::new(wr, WRITE_STALL),
    };
    let r = c.run(rd).await;
    if let Some(p) = &c.playing {
        if matches!(&r, Err(e) if e.contains("stopped reading")) {
            p.viewer.count_drop();
        }
    }
    r
}

/// A per-connection seed for the handshake's filler (nothing secret rides on it).
fn seed(peer: SocketAddr) -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(peer.port()) << 48
}

struct Conn<W> {
    session: Session,
    peer: SocketAddr,
    shared: Arc<Shared>,
    publishing: Option<Publishing>,
    playing: Option<Playing>,
    wr: StallGuard<W>,
}

/// What woke the connection up.
enum Wake {
    Read(io::Result<usize>),
    Viewer(ViewerEvent),
    TakenOver,
    Timeout(&'static str),
    Shutdown,
}

impl<W: AsyncWrite + Unpin> Conn<W> {
    fn client(&self) -> Client {
        Client {
            peer: self.peer,
            protocol: PROTOCOL,
        }
    }

    async fn run(&mut self, mut rd: impl AsyncRead + Unpin) -> Result<(), String> {
        let mut buf = vec![0u8; SMALL_READ_BUF];
        let mut shutdown = self.shared.shutdown.clone();
        let started = Instant::now();
        let mut last_read = Instant::now();
        loop {
            self.flush().await?;
            if self.publishing.is_some() && buf.len() < READ_BUF {
                buf.resize(READ_BUF, 0);
            }
            let deadline = if self.session.connect_info().is_none() {
                Some((
                    started + SETUP_TIMEOUT,
                    "no handshake and connect within 10 s",
                ))
            } else if self.publishing.is_some() {
                Some((last_read + PUBLISH_IDLE, "publisher sent nothing for 30 s"))
            } else if self.playing.as_ref().is_none_or(|p| p.ended) {
                Some((last_read + IDLE, "nothing published or played for 60 s"))
            } else {
                None
            };
            let wake = tokio::select! {
                r = rd.read(&mut buf) => Wake::Read(r),
                ev = async {
                    match self.playing.as_mut().filter(|p| !p.ended) {
                        Some(p) => p.viewer.next().await,
                        None => std::future::pending().await,
                    }
                } => Wake::Viewer(ev),
                () = async {
                    match self.publishing.as_ref() {
                        Some(p) => p.publisher.closed().await,
                        None => std::future::pending().await,
                    }
                } => Wake::TakenOver,
                () = async {
                    match deadline {
                        Some((at, _)) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => Wake::Timeout(deadline.map_or("", |d| d.1)),
                _ = shutdown.wait_for(|s| *s) => Wake::Shutdown,
            };
            match wake {
                Wake::Read(Ok(0)) => return Ok(()),
                Wake::Read(Ok(n)) => {
                    last_read = Instant::now();
                    self.feed(&buf[..n])?;
                }
                Wake::Read(Err(e)) => return Err(format!("read: {e}")),
                Wake::Viewer(ev) => {
                    if !self.on_viewer(ev).await? {
                        return Ok(());
                    }
                }
                Wake::TakenOver => return Err("another publisher took the stream over".into()),
                Wake::Timeout(why) => return Err(why.into()),
                Wake::Shutdown => {
                    if let Some(p) = &self.playing {
                        self.session.play_ended(p.stream_id);
                        let _ = self.flush().await;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Sends what the session has queued.
    async fn flush(&mut self) -> Result<(), String> {
        let out = self.session.take_output();
        if out.is_empty() {
            return Ok(());
        }
        self.count_down(out.len());
        self.wr
            .write_all(&out)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    fn count_down(&self, n: usize) {
        if let Some(p) = &self.playing {
            p.viewer.count_down(n as u64);
        }
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        if let Some(p) = &self.publishing {
            p.publisher.count_up(data.len() as u64);
        } else if let Some(p) = &self.playing {
            p.viewer.count_up(data.len() as u64);
        }
        let r = self.session.feed(data);
        while let Some(ev) = self.session.poll_event() {
            self.on_event(ev);
        }
        r.map_err(|e| e.to_string())
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Connected(info) => {
                tracing::debug!(peer = %self.peer, app = %info.app, "rtmp connect");
            }
            Event::PublishRequested(req) => self.on_publish(req),
            Event::PlayRequested(req) => self.on_play(req),
            Event::Media(m) => self.on_media(m),
            Event::Data { .. } => {
                // onMetaData is advisory: tracks come from the sequence headers and the SPS.
            }
            Event::Pause {
                stream_id, paused, ..
            } => {
                if let Some(p) = self.playing.as_mut().filter(|p| p.stream_id == stream_id) {
                    p.viewer.pause(paused);
                }
            }
            Event::Seek { stream_id, ms } => {
                if let Some(p) = self.playing.as_mut().filter(|p| p.stream_id == stream_id) {
                    p.viewer.seek(ms);
                    p.headers_due = true;
                    p.started = false;
                    p.ended = false;
                    let recorded = !p.viewer.is_live();
                    self.session.seek_done(stream_id, ms, recorded);
                }
            }
            Event::StreamLengthRequested { id, name } => {
                // Files know their length once opened; RTMP players ask before that, and
                // MistServer answers 0 too.
                let _ = name;
                self.session.answer_stream_length(id, 0.0);
            }
            Event::Unpublished { stream_id } => {
                if self
                    .publishing
                    .as_ref()
                    .is_some_and(|p| p.stream_id == stream_id)
                {
                    self.publishing = None;
                }
            }
            Event::PlayStopped { stream_id } => {
                if self
                    .playing
                    .as_ref()
                    .is_some_and(|p| p.stream_id == stream_id)
                {
                    self.playing = None;
                }
            }
        }
    }

    fn on_publish(&mut self, req: PublishRequest) {
        if self.publishing.is_some() || self.playing.is_some() {
            self.session
                .reject_publish(req.id, "this connection already publishes or plays");
            return;
        }
        // The application name, the stream key part, and a `?password=` (or `pass`, `pw`)
        // on the publish name or the application.
        let mut passwords: Vec<String> = req
            .password_candidates()
            .iter()
            .map(|s| s.to_string())
            .collect();
        for q in [
            req.name.params.as_deref(),
            req.app.split_once('?').map(|x| x.1),
        ] {
            for pair in q.unwrap_or("").split('&') {
                if let Some((k, v)) = pair.split_once('=') {
                    if matches!(k, "password" | "pass" | "pw") {
                        passwords.push(super::name::url_decode(v));
                    }
                }
            }
        }
        let passwords: Vec<&str> = passwords.iter().map(String::as_str).collect();
        match self
            .shared
            .hub
            .publish(&req.name.rewritten, self.client(), &passwords)
        {
            Ok(publisher) => {
                self.session.accept_publish(req.id);
                self.publishing = Some(Publishing {
                    publisher,
                    streams: Streams::new(),
                    stream_id: req.stream_id,
                    scratch: Vec::new(),
                });
            }
            Err(e) => {
                tracing::info!(peer = %self.peer, name = %req.name.raw, "rtmp publish refused: {e}");
                self.session.reject_publish(req.id, &e.to_string());
            }
        }
    }

    fn on_play(&mut self, req: PlayRequest) {
        if self.publishing.is_some() || self.playing.is_some() {
            self.session
                .reject_play(req.id, false, "this connection already publishes or plays");
            return;
        }
        let opts = ViewOptions {
            start_ms: req.start_ms(),
            // Players get files at real time (with a lead), as MistServer paces them.
            rate: Some(1.0),
            lead_ms: VOD_LEAD_MS,
        };
        let hub = &self.shared.hub;
        // A signed play token rides on the play name (`STREAM?tkn=...`) or the application.
        let token = crate::serve::access::token_in_query(req.name.params.as_deref())
            .or_else(|| crate::serve::access::token_in_query(req.app.split_once('?').map(|x| x.1)));
        if let Err(e) = hub.check_play(&req.name.rewritten, token.as_deref()) {
            tracing::info!(peer = %self.peer, name = %req.name.raw, "rtmp play refused: {e}");
            self.session.reject_play(req.id, false, &e.to_string());
            return;
        }
        let mut found = hub.view(&req.name.rewritten, self.client(), opts);
        if matches!(found, Err(HubError::NotFound(_))) && !req.name.rewritten.contains('.') {
            // A bare name is an FLV file, as Flash Media Server has it; FFmpeg also strips
            // `.flv` from the URL's play path (`rtmp://host/live/clip.flv` plays `clip`).
            let flv = format!("{}.flv", req.name.rewritten);
            if let Ok(v) = hub.view(&flv, self.client(), opts) {
                found = Ok(v);
            }
        }
        match found {
            Ok(viewer) => {
                self.session.accept_play(req.id, !viewer.is_live());
                self.playing = Some(Playing {
                    viewer,
                    stream_id: req.stream_id,
                    tracks: PlayTracks::default(),
                    headers_due: true,
                    started: false,
                    ended: false,
                });
            }
            Err(e) => {
                let not_found = matches!(
                    e,
                    HubError::NotFound(_) | HubError::Offline(_) | HubError::BadName(_)
                );
                self.session.reject_play(req.id, not_found, &e.to_string());
            }
        }
    }

    fn on_media(&mut self, m: Media) {
        let Some(p) = self.publishing.as_mut() else {
            return;
        };
        if m.stream_id != p.stream_id {
            return;
        }
        // An RTMP audio/video body is an FLV tag body: the FLV reader's stream layer makes the
        // tracks and packets, with its own timestamp unwrapping.
        let tag = Tag {
            offset: 0,
            header: TagHeader::new(m.kind.tag_type(), m.body.len() as u32, m.timestamp),
            body: m.body,
        };
        p.streams.handle(&tag, &mut p.scratch);
        for e in p.scratch.drain(..) {
            match e {
                FlvEvent::Tracks(t) => {
                    p.publisher.set_tracks(t);
                }
                FlvEvent::Packet(pkt) => {
                    p.publisher.push(pkt);
                }
                FlvEvent::Finding(f) => {
                    tracing::debug!(peer = %self.peer, "rtmp publish: {}", f.message);
                }
                FlvEvent::Script(_) => {}
            }
        }
    }

    /// Handles what the viewer delivered; false when playback is over.
    async fn on_viewer(&mut self, ev: ViewerEvent) -> Result<bool, String> {
        let Some(p) = self.playing.as_mut() else {
            return Ok(true);
        };
        match ev {
            ViewerEvent::Tracks(meta) => {
                p.tracks = PlayTracks::new(&meta);
                p.headers_due = true;
                Ok(true)
            }
            ViewerEvent::Packets(entries) => {
                let pieces = self.pieces(&entries);
                self.write_pieces(&pieces).await?;
                Ok(true)
            }
            ViewerEvent::End => {
                let sid = p.stream_id;
                let live = p.viewer.is_live();
                p.ended = true;
                self.session.play_ended(sid);
                self.flush().await?;
                if live {
                    // The stream is over for good: nothing more to play here.
                    let _ = self.wr.shutdown().await;
                    return Ok(false);
                }
                Ok(true)
            }
        }
    }

    /// What to write for a batch, in order: session output (headers) and each packet's
    /// chunks. Shared encodings are taken as they are (one reference count per packet, not
    /// per piece).
    fn pieces(&mut self, entries: &[Arc<Entry>]) -> Vec<Encoded> {
        let own = |b: Bytes| -> Encoded { Arc::from(vec![b]) };
        let mut out: Vec<Encoded> = Vec::new();
        let Some(p) = self.playing.as_mut() else {
            return out;
        };
        let has_video = p
            .tracks
            .tracks()
            .iter()
            .any(|t| t.kind == super::session::MediaKind::Video);
        for e in entries {
            let Some(t) = p.tracks.get(e.packet.track) else {
                continue;
            };
            if !p.started {
                let starts =
                    !has_video || (t.kind == super::session::MediaKind::Video && e.packet.keyframe);
                if !starts {
                    continue;
                }
                p.started = true;
            }
            if p.headers_due {
                p.headers_due = false;
                let ts = media::rtmp_timestamp(e.ms);
                let meta = e.meta.clone();
                // At time 0: FFmpeg's FLV reader takes `onMetaData` at any other time for a
                // subtitle packet and opens a text stream for it.
                self.session
                    .send_data(p.stream_id, 0, &media::metadata(&meta, &p.tracks));
                for (kind, body) in media::sequence_headers(&meta, &p.tracks) {
                    self.session.send_media(p.stream_id, kind, ts, &body);
                }
                let head = self.session.take_output();
                if !head.is_empty() {
                    out.push(own(head));
                }
            }
            if p.stream_id == FIRST_STREAM_ID {
                let ms = e.ms;
                let enc: &Encoded = e.encoded(Slot::Rtmp, |pkt, meta| {
                    media::encode_shared(meta, pkt, ms)
                        .unwrap_or_default()
                        .into()
                });
                out.push(enc.clone());
            } else if let Some(v) = p.tracks.encode(&e.packet, e.ms, p.stream_id) {
                out.push(v.into());
            }
        }
        let rest = self.session.take_output();
        if !rest.is_empty() {
            out.push(own(rest));
        }
        out
    }

    async fn write_pieces(&mut self, parts: &[Encoded]) -> Result<(), String> {
        let flat: Vec<&Bytes> = parts.iter().flat_map(|p| p.iter()).collect();
        let n = write_all_vectored(&mut self.wr, &flat)
            .await
            .map_err(|e| format!("write: {e}"))?;
        self.count_down(n);
        Ok(())
    }
}
