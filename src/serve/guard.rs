//! Isolation helpers: one task per connection whose panic ends only that connection, accept
//! back-off when the process runs out of descriptors, and a socket wrapper that gives up on
//! a peer that stops reading, and vectored writes of shared pieces.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::hub::Stats;

/// How long a write may stay blocked on a peer that does not read before the connection is
/// dropped.
pub const WRITE_STALL: Duration = Duration::from_secs(10);

/// Runs `conn` as its own task; an error is logged with the peer, a panic is caught, logged
/// and counted, and neither reaches any other connection. `live` is held while it runs.
pub fn spawn_connection<F>(
    protocol: &'static str,
    peer: SocketAddr,
    stats: Arc<Stats>,
    live: Arc<()>,
    conn: F,
) where
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    // Boxed before the task is made: an `async` block holds what it captures, so a future
    // boxed inside it would be kept twice, once in the task for the connection's life.
    let conn = CatchUnwind(Box::pin(conn));
    tokio::spawn(async move {
        let _live = live;
        match conn.await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => {
                tracing::info!(%peer, protocol, "connection closed: {why}");
                stats.count_error(protocol);
            }
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                tracing::error!(%peer, protocol, "connection task panicked: {why}");
                stats.count_error(protocol);
            }
        }
    });
}

/// A future that turns a panic inside it into an `Err`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

/// Waits after a failed `accept`: out of descriptors or memory is a reason to slow down,
/// not to stop listening (axum's listener does the same).
pub async fn accept_backoff(e: &io::Error) {
    tracing::warn!("accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// A socket whose writes fail once they have been blocked for [`WRITE_STALL`]: the peer
/// stopped reading, and the hub must not keep feeding it.
pub struct StallGuard<T> {
    inner: T,
    stall: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<T> StallGuard<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, stall: Duration) -> Self {
        StallGuard {
            inner,
            stall,
            timer: None,
        }
    }

    fn check<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match r {
            Poll::Pending => {
                let stall = self.stall;
                let t = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                if t.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "peer stopped reading",
                    )));
                }
                Poll::Pending
            }
            ready => {
                self.timer = None;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.check(cx, r)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.check(cx, r)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.check(cx, r)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// IoSlices per vectored write call.
const MAX_IOV: usize = 64;

/// Writes every piece with vectored writes; returns the bytes written.
pub async fn write_all_vectored<W: AsyncWrite + Unpin, B: AsRef<[u8]>>(
    w: &mut W,
    pieces: &[B],
) -> io::Result<usize> {
    let piece = |i: usize| pieces[i].as_ref();
    let (mut i, mut off, mut total) = (0, 0, 0);
    let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(MAX_IOV.min(pieces.len()));
    while i < pieces.len() {
        if piece(i).len() == off {
            i += 1;
            off = 0;
            continue;
        }
        iov.clear();
        iov.push(IoSlice::new(&piece(i)[off..]));
        iov.extend(
            pieces[i + 1..]
                .iter()
                .map(|p| p.as_ref())
                .filter(|p| !p.is_empty())
                .take(MAX_IOV - 1)
                .map(IoSlice::new),
        );
        let mut n = w.write_vectored(&iov).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        total += n;
        // Move past what was written, piece by piece.
        while n > 0 {
            let left = piece(i).len() - off;
            if n >= left {
                n -= left;
                i += 1;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// Takes at most 5 bytes per call, vectored or not, like a socket under pressure.
    struct Trickle(Vec<u8>);

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(5);
            self.0.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(5 - n);
                self.0.extend_from_slice(&b[..k]);
                n += k;
                if n == 5 {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            true
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn vectored_writes_deliver_every_piece_in_order() {
        // 200 pieces (more than one vectored call takes), some empty, of varied sizes.
        let pieces: Vec<Bytes> = (0..200u32)
            .map(|i| Bytes::from(vec![i as u8; (i % 7) as usize]))
            .collect();
        let want: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
        let mut w = Trickle(Vec::new());
        let n = write_all_vectored(&mut w, &pieces).await.unwrap();
        assert_eq!(n, want.len());
        assert_eq!(w.0, want);
    }
}
