//! The socket glue of the RTMP client: dials `rtmp://` (or `rtmps://`), drives a
//! [`ClientSession`] until `play` or `publish` is accepted, then hands out what the server
//! sends (playing) or writes media (publishing).
//!
//! A publisher must still read: servers ping (nginx-rtmp drops a client that does not answer
//! within its `ping_timeout`) and announce windows that want acknowledgements. Every write
//! therefore first takes whatever the socket already holds, without waiting for more.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

use crate::formats::flv::amf0::Value;
use crate::serve::net::{self, BoxStream};

use super::client::{ClientConfig, ClientEvent, ClientSession, Mode, RtmpUrl};
use super::session::MediaKind;

/// Bytes read from the socket at a time.
const READ_BUF: usize = 64 << 10;
/// Events held back while publishing, at most (a server that floods us with status messages
/// while we only write gets the oldest ones dropped).
const MAX_HELD_EVENTS: usize = 64;

/// One RTMP client connection after `play` or `publish` was accepted.
pub struct RtmpConn {
    io: BoxStream,
    session: ClientSession,
    buf: Vec<u8>,
    held: std::collections::VecDeque<ClientEvent>,
    eof: bool,
    /// Bytes read from the server.
    pub bytes_in: u64,
    /// Bytes written to the server.
    pub bytes_out: u64,
}

impl std::fmt::Debug for RtmpConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtmpConn")
            .field("stream_id", &self.session.stream_id())
            .finish()
    }
}

/// Why a connection could not be set up or broke down.
#[derive(Debug, thiserror::Error)]
pub enum RtmpClientError {
    /// The URL is not `rtmp[s]://HOST[:PORT]/APP/STREAM`.
    #[error("'{0}' is not an rtmp://HOST[:PORT]/APP/STREAM URL")]
    BadUrl(String),
    /// Connecting or reading/writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server sent something that is not RTMP.
    #[error("{0}")]
    Protocol(String),
    /// The server said no.
    #[error("refused: {0}")]
    Refused(String),
    /// Setup did not finish in time.
    #[error("no answer to {0} within {1} s")]
    Timeout(&'static str, u64),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
}

impl RtmpConn {
    /// Dials `url` and plays or publishes its stream; setup (TCP, TLS, handshake, connect,
    /// createStream, play/publish) must finish within `timeout`.
    pub async fn open(
        url: &str,
        mode: Mode,
        timeout: Duration,
    ) -> Result<RtmpConn, RtmpClientError> {
        let u = RtmpUrl::parse(url).ok_or_else(|| RtmpClientError::BadUrl(url.to_string()))?;
        let io = net::dial(&u.host, u.port, u.tls, timeout).await?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Self::start(io, ClientConfig::for_url(&u, mode, seed), timeout).await
    }

    /// Runs the setup over an already connected stream.
    pub async fn start(
        io: BoxStream,
        config: ClientConfig,
        timeout: Duration,
    ) -> Result<RtmpConn, RtmpClientError> {
        let mode = config.mode;
        let mut c = RtmpConn {
            io,
            session: ClientSession::new(config),
            buf: vec![0; READ_BUF],
            held: Default::default(),
            eof: false,
            bytes_in: 0,
            bytes_out: 0,
        };
        let what = if mode == Mode::Play {
            "play"
        } else {
            "publish"
        };
        let setup = async {
            loop {
                match c.next_raw().await? {
                    Some(ClientEvent::Started) => return Ok(()),
                    Some(ClientEvent::Refused(why)) => return Err(RtmpClientError::Refused(why)),
                    Some(ClientEvent::Ended(why)) => return Err(RtmpClientError::Refused(why)),
                    Some(other) => c.held.push_back(other),
                    None => return Err(RtmpClientError::Closed),
                }
            }
        };
        match tokio::time::timeout(timeout, setup).await {
            Ok(Ok(())) => Ok(c),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(RtmpClientError::Timeout(what, timeout.as_secs())),
        }
    }

    /// The session (stream id, counters).
    pub fn session(&self) -> &ClientSession {
        &self.session
    }

    /// The next event from the server (`None` once it closed the connection). Media events
    /// are what a player wants; status events are passed on too.
    pub async fn next_event(&mut self) -> Result<Option<ClientEvent>, RtmpClientError> {
        if let Some(e) = self.held.pop_front() {
            return Ok(Some(e));
        }
        self.next_raw().await
    }

    async fn next_raw(&mut self) -> Result<Option<ClientEvent>, RtmpClientError> {
        loop {
            self.flush().await?;
            if let Some(e) = self.session.poll_event() {
                return Ok(Some(e));
            }
            if self.eof {
                return Ok(None);
            }
            let n = self.io.read(&mut self.buf).await?;
            if n == 0 {
                self.eof = true;
                continue;
            }
            self.bytes_in += n as u64;
            self.session
                .feed(&self.buf[..n])
                .map_err(|e| RtmpClientError::Protocol(e.to_string()))?;
        }
    }

    /// Writes what the session has queued.
    pub async fn flush(&mut self) -> Result<(), RtmpClientError> {
        let out = self.session.take_output();
        if !out.is_empty() {
            self.io.write_all(&out).await?;
            self.bytes_out += out.len() as u64;
        }
        Ok(())
    }

    /// Reads what the socket already holds; `None` when it holds nothing now.
    async fn read_now(&mut self) -> io::Result<Option<usize>> {
        let (io, buf) = (&mut self.io, &mut self.buf);
        poll_fn(|cx| {
            let mut rb = ReadBuf::new(buf);
            match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(Some(rb.filled().len()))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                // Nothing there: the waker registered here is simply never used.
                Poll::Pending => Poll::Ready(Ok(None)),
            }
        })
        .await
    }

    /// Publishing: takes what the server already sent (answers pings, acknowledges) without
    /// waiting for more, and sends the answers. Events the caller has not asked for are kept
    /// (bounded) for [`next_event`](Self::next_event); the end of the stream or a refusal is
    /// an error.
    pub async fn keep_alive(&mut self) -> Result<(), RtmpClientError> {
        // Bounded: at most a few reads per call.
        for _ in 0..8 {
            if self.eof {
                break;
            }
            match self.read_now().await? {
                Some(0) => self.eof = true,
                Some(n) => {
                    self.bytes_in += n as u64;
                    self.session
                        .feed(&self.buf[..n])
                        .map_err(|e| RtmpClientError::Protocol(e.to_string()))?;
                }
                None => break,
            }
        }
        while let Some(e) = self.session.poll_event() {
            if let ClientEvent::Ended(why) | ClientEvent::Refused(why) = &e {
                return Err(RtmpClientError::Refused(why.clone()));
            }
            if self.held.len() >= MAX_HELD_EVENTS {
                self.held.pop_front();
            }
            self.held.push_back(e);
        }
        if self.eof {
            return Err(RtmpClientError::Closed);
        }
        self.flush().await
    }

    /// Publishing: sends `@setDataFrame onMetaData` with `values`.
    pub async fn send_metadata(&mut self, values: &[Value]) -> Result<(), RtmpClientError> {
        self.keep_alive().await?;
        self.session.send_metadata(values);
        self.flush().await
    }

    /// Publishing: sends one audio or video message (an FLV tag body).
    pub async fn send_media(
        &mut self,
        kind: MediaKind,
        timestamp: u32,
        body: &[u8],
    ) -> Result<(), RtmpClientError> {
        self.keep_alive().await?;
        self.session.send_media(kind, timestamp, body);
        self.flush().await
    }

    /// Ends politely (`FCUnpublish`, `deleteStream`) and closes the connection.
    pub async fn close(mut self) {
        self.session.close();
        let _ = self.flush().await;
        let _ = self.io.shutdown().await;
    }
}
