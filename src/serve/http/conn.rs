//! One HTTP/1.1 connection of the media port: request heads read into a buffer that lives
//! only while a head arrives, each answered by [`handle`](super::handle), bodies written as
//! the shared pieces they are, with vectored writes. The framing is [`h1`](super::h1)'s.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::SystemTime;

use bytes::Bytes;
use hyper::body::Body as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

use super::h1::{self, Framing, HeadError};
use super::range::http_date;
use super::{handle, Body, HttpState, HEADER_TIMEOUT, MAX_HEAD};
use crate::serve::guard::{write_all_vectored, StallGuard, WRITE_STALL};
use crate::serve::Shared;

/// Request body bytes read and dropped to keep a connection (GET and HEAD carry none; a
/// larger body closes the connection after the answer instead).
const MAX_DISCARD: u64 = 64 << 10;
/// Body pieces gathered into one vectored write at most.
const BATCH_PIECES: usize = 64;
/// Body bytes gathered into one vectored write at most.
const BATCH_BYTES: usize = 256 << 10;

/// Serves requests on `sock` until the client closes, asks to close, the server shuts down
/// (no new request is read; the answer under way is finished), or something fails.
pub async fn serve_connection(
    sock: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    state: Arc<HttpState>,
) -> Result<(), String> {
    let _ = sock.set_nodelay(true);
    let mut io = StallGuard::new(sock, WRITE_STALL);
    let mut shutdown = shared.shutdown.clone();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        let read = tokio::time::timeout(HEADER_TIMEOUT, read_head(&mut io, &mut buf));
        let head = tokio::select! {
            r = read => match r {
                // Idle between requests: a quiet close, as a keep-alive timeout.
                Err(_) if buf.is_empty() => return Ok(()),
                Err(_) => return Err(format!("no whole request head within {HEADER_TIMEOUT:?}")),
                Ok(r) => r?,
            },
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
        };
        let Some(head) = head else {
            return Ok(());
        };
        buf.drain(..head.len);
        let mut keep_alive = head.keep_alive;
        match head.body {
            Some(n) if n <= MAX_DISCARD => discard(&mut io, &mut buf, n).await?,
            _ => keep_alive = false,
        }
        if buf.is_empty() {
            // The head's buffer is not kept while the answer streams: a live viewer holds
            // a connection for hours.
            buf = Vec::new();
        }
        let method = head.request.method().clone();
        let version = head.request.version();
        // Boxed: routing's state is large and needed only until the answer is made, and a
        // future holds room for its largest state for as long as it lives.
        let resp = Box::pin(handle(head.request, &shared, &state, peer)).await;
        let exact = resp.body().size_hint().exact();
        let date = http_date(SystemTime::now());
        let (head_bytes, framing) =
            h1::response_head(&resp, &method, version, exact, &mut keep_alive, &date);
        write_body(&mut io, Bytes::from(head_bytes), resp.into_body(), framing).await?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Reads until `buf` starts with a whole request head: `None` when the client closed
/// before sending a byte of one. A refused head is answered before the error returns.
async fn read_head<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
) -> Result<Option<h1::Head>, String> {
    // Only a new line can complete a head, so only then is it parsed again.
    let mut scanned = 0;
    loop {
        if memchr::memchr(b'\n', &buf[scanned..]).is_some() {
            match h1::parse_request(buf) {
                Ok(Some(h)) => return Ok(Some(h)),
                Ok(None) => {}
                Err(e) => return Err(refuse(io, &e).await),
            }
        }
        scanned = buf.len();
        if buf.len() >= MAX_HEAD {
            let e = HeadError {
                status: http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                why: "request head larger than the limit",
            };
            return Err(refuse(io, &e).await);
        }
        let room = (MAX_HEAD - buf.len()).min(buf.len().max(1 << 10));
        buf.reserve(room);
        let n = io
            .take(room as u64)
            .read_buf(buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return if buf.iter().all(|b| b.is_ascii_whitespace()) {
                Ok(None)
            } else {
                Err("closed in the middle of a request head".into())
            };
        }
    }
}

async fn refuse<S: AsyncWrite + Unpin>(io: &mut S, e: &HeadError) -> String {
    let _ = write_all_vectored(io, &[h1::refusal(e)]).await;
    format!("{} ({})", e.why, e.status.as_u16())
}

/// Reads and drops `n` request body bytes, those already in `buf` first.
async fn discard<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    n: u64,
) -> Result<(), String> {
    let have = buf.len().min(n as usize);
    buf.drain(..have);
    let mut left = n - have as u64;
    let mut sink = Vec::new();
    while left > 0 {
        sink.clear();
        let got = (&mut *io)
            .take(left.min(8 << 10))
            .read_to_end(&mut sink)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if got == 0 {
            return Err("closed in the middle of a request body".into());
        }
        left -= got as u64;
    }
    Ok(())
}

/// What one poll of a body gave: pieces ready now, and whether it ended.
enum Batch {
    More(Vec<Bytes>),
    End(Vec<Bytes>),
    Failed(io::Error),
}

/// Waits for the body's next pieces and takes every one ready right after them, so one
/// vectored write carries them all.
async fn next_batch(body: &mut Body) -> Batch {
    poll_fn(|cx| {
        let mut got: Vec<Bytes> = Vec::new();
        let mut bytes = 0;
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(d) = frame.into_data() {
                        if !d.is_empty() {
                            bytes += d.len();
                            got.push(d);
                        }
                    }
                    if got.len() >= BATCH_PIECES || bytes >= BATCH_BYTES {
                        return Poll::Ready(Batch::More(got));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Batch::Failed(e)),
                Poll::Ready(None) => return Poll::Ready(Batch::End(got)),
                Poll::Pending if got.is_empty() => return Poll::Pending,
                Poll::Pending => return Poll::Ready(Batch::More(got)),
            }
        }
    })
    .await
}

/// Writes the response head and its body as `framing` says; the head goes out with the
/// body's first pieces.
async fn write_body<S: AsyncWrite + Unpin>(
    io: &mut S,
    head: Bytes,
    mut body: Body,
    framing: Framing,
) -> Result<(), String> {
    let write = |e: io::Error| format!("write: {e}");
    if framing == Framing::None {
        write_all_vectored(io, &[head]).await.map_err(write)?;
        return Ok(());
    }
    let mut head = Some(head);
    loop {
        let (pieces, end) = match next_batch(&mut body).await {
            Batch::More(p) => (p, false),
            Batch::End(p) => (p, true),
            Batch::Failed(e) => {
                // What was sent stands; the close tells the client the body is short.
                if let Some(h) = head.take() {
                    write_all_vectored(io, &[h]).await.map_err(write)?;
                }
                return Err(format!("body: {e}"));
            }
        };
        let mut out: Vec<Bytes> = Vec::with_capacity(pieces.len() + 4);
        out.extend(head.take());
        let len: usize = pieces.iter().map(Bytes::len).sum();
        if framing == Framing::Chunked && len > 0 {
            out.push(Bytes::from(h1::chunk_start(len)));
            out.extend(pieces);
            out.push(Bytes::from_static(h1::CHUNK_END));
        } else {
            out.extend(pieces);
        }
        if end && framing == Framing::Chunked {
            out.push(Bytes::from_static(h1::LAST_CHUNK));
        }
        if !out.is_empty() {
            write_all_vectored(io, &out).await.map_err(write)?;
        }
        if end {
            return Ok(());
        }
    }
}
