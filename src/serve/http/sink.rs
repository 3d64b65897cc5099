//! A [`ByteSink`] that collects a muxer's output as pieces for an HTTP body: headers the
//! muxer writes are copied into small buffers, payloads stay the shared `Bytes` they are.

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::progressive::Chunk;
use crate::io::ByteSink;

/// Bytes a thread writing into a [`ChannelSink`] gathers before handing them over.
pub const CHANNEL_CHUNK: usize = 256 << 10;

/// Small writes are gathered up to this size before they become a piece of their own.
const GATHER: usize = 16 << 10;
/// Small writes go into blocks of this size. A live viewer keeps its block's unused rest
/// between batches, and blocks still queued in hyper stay alive whole: blocks of `GATHER`
/// made an HTTP-FLV viewer cost 45 KiB (500 viewers; 1 KiB blocks: 33 KiB, measured with
/// `scripts/serve_bench.sh`), for one allocation per KiB of headers and small packets.
const SMALL_BLOCK: usize = 1 << 10;

/// Muxer output waiting to be sent.
#[derive(Debug, Default)]
pub struct PieceSink {
    small: BytesMut,
    pieces: Vec<Bytes>,
    written: u64,
    queued: usize,
}

impl PieceSink {
    /// Takes what is queued, in order.
    pub fn take(&mut self) -> Vec<Bytes> {
        self.close_small();
        self.queued = 0;
        std::mem::take(&mut self.pieces)
    }

    /// Bytes queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.queued
    }

    fn close_small(&mut self) {
        if !self.small.is_empty() {
            self.pieces.push(self.small.split().freeze());
        }
    }
}

impl ByteSink for PieceSink {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.small.len() + bytes.len() > GATHER {
            self.close_small();
        }
        if bytes.len() >= GATHER {
            self.pieces.push(Bytes::copy_from_slice(bytes));
        } else {
            if self.small.capacity() - self.small.len() < bytes.len() {
                self.small.reserve(bytes.len().max(SMALL_BLOCK));
            }
            self.small.extend_from_slice(bytes);
        }
        self.written += bytes.len() as u64;
        self.queued += bytes.len();
        Ok(())
    }

    fn put_shared(&mut self, bytes: Bytes) -> std::io::Result<()> {
        if bytes.len() < 512 {
            return self.put(&bytes);
        }
        self.close_small();
        self.written += bytes.len() as u64;
        self.queued += bytes.len();
        self.pieces.push(bytes);
        Ok(())
    }

    fn position(&self) -> u64 {
        self.written
    }
}

/// A sink that hands a muxer's output from a worker thread to an HTTP body in chunks of
/// about [`CHANNEL_CHUNK`] bytes; a write fails once the body is gone (the viewer left).
pub struct ChannelSink {
    tx: mpsc::Sender<Chunk>,
    buf: PieceSink,
}

impl ChannelSink {
    /// A sink sending on `tx`.
    pub fn new(tx: mpsc::Sender<Chunk>) -> ChannelSink {
        ChannelSink {
            tx,
            buf: PieceSink::default(),
        }
    }

    /// Sends what is gathered (blocking while the body's queue is full).
    pub fn flush(&mut self) -> std::io::Result<()> {
        let pieces = self.buf.take();
        if pieces.is_empty() {
            return Ok(());
        }
        self.tx
            .blocking_send(Ok(pieces))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "viewer went away"))
    }

    /// Whether the body is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl ByteSink for ChannelSink {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.put(bytes)?;
        if self.buf.queued() >= CHANNEL_CHUNK {
            self.flush()?;
        }
        Ok(())
    }
    fn put_shared(&mut self, bytes: Bytes) -> std::io::Result<()> {
        self.buf.put_shared(bytes)?;
        if self.buf.queued() >= CHANNEL_CHUNK {
            self.flush()?;
        }
        Ok(())
    }
    fn position(&self) -> u64 {
        self.buf.position()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_order_and_share_payloads() {
        let mut s = PieceSink::default();
        let payload = Bytes::from(vec![7u8; 4096]);
        s.put(b"head").unwrap();
        s.put_shared(payload.clone()).unwrap();
        s.put(b"tail").unwrap();
        assert_eq!(s.position(), 4104);
        let p = s.take();
        assert_eq!(p.len(), 3);
        assert_eq!(&p[0][..], b"head");
        assert_eq!(p[1].as_ptr(), payload.as_ptr(), "the payload is not copied");
        assert_eq!(&p[2][..], b"tail");
        assert!(s.take().is_empty());
    }
}
