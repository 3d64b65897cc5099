//! Buffered reading that hands out [`Bytes`] slices of large reads, so demuxers can keep
//! payloads as slices of the read buffer instead of copying each one.

use std::collections::VecDeque;
use std::io::{self, Read, Seek, SeekFrom};

use bytes::{Bytes, BytesMut};

/// How much one read asks the OS for (256 KiB stays in cache between the kernel's copy and
/// the parser's; 1 MiB was no faster and cost peak RSS).
const READ_CHUNK: usize = 256 << 10;
/// The buffer grows by at most this much per read, so a corrupt length field asking for
/// hundreds of megabytes costs nothing until the bytes really arrive.
const MAX_GROWTH: usize = 16 << 20;

/// A forward reader over any `Read` that knows the absolute offset of what it hands out.
pub struct ChunkReader<R> {
    inner: R,
    buf: BytesMut,
    /// Absolute offset of `buf[0]`.
    start: u64,
    eof: bool,
}

impl<R: Read> ChunkReader<R> {
    /// Starts reading `inner` at absolute offset `start`.
    pub fn new(inner: R, start: u64) -> Self {
        Self {
            inner,
            buf: BytesMut::new(),
            start,
            eof: false,
        }
    }

    /// Absolute offset of the next unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.start
    }

    /// The buffered, unconsumed bytes.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Makes at least `n` bytes available if the input has them; returns how many are buffered.
    pub fn fill(&mut self, n: usize) -> io::Result<usize> {
        while self.buf.len() < n && !self.eof {
            let want = (n - self.buf.len()).clamp(READ_CHUNK, MAX_GROWTH);
            self.buf.reserve(want);
            let len = self.buf.len();
            // Reading straight into spare capacity needs unsafe; zeroing a chunk is cheap next
            // to the read itself.
            self.buf.resize(len + want, 0);
            let got = loop {
                match self.inner.read(&mut self.buf[len..]) {
                    Ok(g) => break g,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(len);
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(len + got);
            if got == 0 {
                self.eof = true;
            }
        }
        Ok(self.buf.len())
    }

    /// Makes some bytes available with at most one read when none are buffered (up to `max`),
    /// so a slow pipe hands over what it has instead of being waited on until `max` bytes
    /// arrived; returns how many are buffered (0 only at the end).
    pub fn fill_some(&mut self, max: usize) -> io::Result<usize> {
        if self.buf.is_empty() && !self.eof {
            let want = max.clamp(1, MAX_GROWTH);
            self.buf.resize(want, 0);
            let got = loop {
                match self.inner.read(&mut self.buf[..]) {
                    Ok(g) => break g,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.clear();
                        return Err(e);
                    }
                }
            };
            self.buf.truncate(got);
            if got == 0 {
                self.eof = true;
            }
        }
        Ok(self.buf.len())
    }

    /// True when the input is exhausted and nothing is buffered.
    pub fn at_end(&mut self) -> io::Result<bool> {
        Ok(self.fill(1)? == 0)
    }

    /// Takes `n` buffered bytes as a shared slice (call [`fill`](Self::fill) first).
    pub fn take(&mut self, n: usize) -> Bytes {
        let n = n.min(self.buf.len());
        self.start += n as u64;
        self.buf.split_to(n).freeze()
    }

    /// Drops `n` bytes, reading past the buffer if needed; returns how many were skipped.
    pub fn skip(&mut self, n: u64) -> io::Result<u64> {
        let mut left = n;
        while left > 0 {
            if self.buf.is_empty() && self.fill(1)? == 0 {
                break;
            }
            let k = (left.min(self.buf.len() as u64)) as usize;
            let _ = self.buf.split_to(k);
            self.start += k as u64;
            left -= k as u64;
        }
        Ok(n - left)
    }

    /// The wrapped reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

impl<R: Read + Seek> ChunkReader<R> {
    /// Moves to absolute offset `to`, dropping the buffer.
    pub fn seek_to(&mut self, to: u64) -> io::Result<()> {
        self.inner.seek(SeekFrom::Start(to))?;
        self.buf.clear();
        self.start = to;
        self.eof = false;
        Ok(())
    }
}

/// Buffers a [`ReadPool`] keeps track of; when all are still in use, the oldest is forgotten
/// (its memory goes when its last slice does).
const MAX_LENT: usize = 8;

/// Read buffers handed out as [`Bytes`] and filled again once every slice of them is dropped.
///
/// Safe code must zero a new buffer before `read` fills it, or let `read_to_end` fill spare
/// capacity in growing steps (8 KiB, 16 KiB, … : eight system calls per MiB). A buffer that
/// comes back is initialised already, so one `read` refills it with neither cost, and the
/// memory it reuses is mapped and likely still in cache.
#[derive(Debug)]
pub struct ReadPool {
    size: usize,
    lent: VecDeque<Bytes>,
}

impl ReadPool {
    /// A pool of buffers of `size` bytes.
    pub fn new(size: usize) -> Self {
        Self {
            size: size.max(1),
            lent: VecDeque::new(),
        }
    }

    /// Reads up to `max` bytes (at most the pool's buffer size) from `src` into one buffer;
    /// fewer only at the end of the input, none after it.
    pub fn read<R: Read + ?Sized>(&mut self, src: &mut R, max: usize) -> io::Result<Bytes> {
        let max = max.clamp(1, self.size);
        let free = self
            .lent
            .iter()
            .position(|b| b.len() >= max && b.is_unique())
            .and_then(|i| self.lent.remove(i))
            .and_then(|b| b.try_into_mut().ok());
        // Small inputs get a buffer of their size, not a whole one.
        let mut buf = free.unwrap_or_else(|| BytesMut::zeroed(max));
        let mut got = 0;
        while got < max {
            match src.read(&mut buf[got..max]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let whole = buf.freeze();
        let chunk = whole.slice(..got);
        if got > 0 {
            if self.lent.len() == MAX_LENT {
                self.lent.pop_front();
            }
            self.lent.push_back(whole);
        }
        Ok(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_pool_reuses_a_buffer_only_when_every_slice_is_gone() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut src = io::Cursor::new(data.clone());
        let mut pool = ReadPool::new(4096);
        let a = pool.read(&mut src, 4096).unwrap();
        let held = a.slice(100..200);
        let a_ptr = a.as_ptr();
        drop(a);
        // `held` keeps the first buffer in use: the second read gets a new one.
        let b = pool.read(&mut src, 4096).unwrap();
        assert_ne!(b.as_ptr(), a_ptr);
        assert_eq!(&held[..], &data[100..200]);
        assert_eq!(&b[..], &data[4096..8192]);
        drop(held);
        // Now the first buffer is free again; the rest of the input is shorter than it.
        let c = pool.read(&mut src, 4096).unwrap();
        assert_eq!(c.as_ptr(), a_ptr);
        assert_eq!(&c[..], &data[8192..]);
        assert_eq!(
            &b[..],
            &data[4096..8192],
            "a buffer in use is never refilled"
        );
        assert!(pool.read(&mut src, 4096).unwrap().is_empty());
    }

    #[test]
    fn take_and_skip_track_offsets() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3 * READ_CHUNK + 17).collect();
        let mut r = ChunkReader::new(io::Cursor::new(data.clone()), 0);
        assert!(r.fill(4).unwrap() >= 4);
        assert_eq!(&r.take(4)[..], &data[..4]);
        assert_eq!(r.skip(READ_CHUNK as u64).unwrap(), READ_CHUNK as u64);
        assert_eq!(r.offset(), 4 + READ_CHUNK as u64);
        r.fill(10).unwrap();
        assert_eq!(r.buffered()[0], data[4 + READ_CHUNK]);
        let rest = data.len() as u64 - r.offset();
        assert_eq!(r.skip(u64::MAX).unwrap(), rest);
        assert!(r.at_end().unwrap());
    }
}
