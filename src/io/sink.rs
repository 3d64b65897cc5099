//! Where muxers put bytes. Headers are small and copied; payloads are handed over as shared
//! [`Bytes`], so a memory sink for a live viewer can keep them without copying.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

use bytes::Bytes;

/// A destination for muxed bytes.
///
/// For implementers: `put` and `put_shared` append in call order; `position` is the number of
/// bytes appended so far (muxers use it for byte positions in indexes).
pub trait ByteSink {
    /// Appends a copy of `bytes`.
    fn put(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Appends `bytes`, keeping the shared buffer where the sink can.
    fn put_shared(&mut self, bytes: Bytes) -> io::Result<()> {
        self.put(&bytes)
    }
    /// Bytes appended so far.
    fn position(&self) -> u64;
}

/// An in-memory sink (tests, segment buffers, small outputs).
#[derive(Default, Debug)]
pub struct VecSink {
    /// Everything written so far.
    pub data: Vec<u8>,
}

impl ByteSink for VecSink {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(bytes);
        Ok(())
    }
    fn position(&self) -> u64 {
        self.data.len() as u64
    }
}

/// Buffer size of [`FileSink`]: big writes keep syscalls few; bigger buys nothing.
const FILE_SINK_BUFFER: usize = 1 << 20;

/// Payloads at least this big skip the buffer: they go to the file together with what is
/// buffered in one vectored write, saving a copy.
const DIRECT_WRITE_MIN: usize = 32 << 10;

/// A buffered sink over a file (or any `Write`), counting what it wrote.
pub struct FileSink<W: Write = File> {
    out: W,
    buf: Vec<u8>,
    written: u64,
}

impl<W: Write> FileSink<W> {
    /// Wraps `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            buf: Vec::with_capacity(FILE_SINK_BUFFER),
            written: 0,
        }
    }

    /// Writes out everything buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.out.flush()
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush()?;
        Ok(self.out)
    }
}

impl<W: Write + Seek> FileSink<W> {
    /// Overwrites bytes already written at `offset` (e.g. a header whose totals are known only
    /// at the end), then returns to the end.
    pub fn patch(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.flush()?;
        self.out.seek(SeekFrom::Start(offset))?;
        self.out.write_all(bytes)?;
        self.out.seek(SeekFrom::End(0))?;
        Ok(())
    }
}

impl<W: Write> ByteSink for FileSink<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() >= DIRECT_WRITE_MIN {
            write_both(&mut self.out, &self.buf, bytes)?;
            self.buf.clear();
        } else {
            if self.buf.len() + bytes.len() > FILE_SINK_BUFFER {
                self.out.write_all(&self.buf)?;
                self.buf.clear();
            }
            self.buf.extend_from_slice(bytes);
        }
        self.written += bytes.len() as u64;
        Ok(())
    }
    fn position(&self) -> u64 {
        self.written
    }
}

/// Writes `a` then `b` with as few (vectored) writes as the writer allows.
fn write_both<W: Write>(out: &mut W, mut a: &[u8], mut b: &[u8]) -> io::Result<()> {
    while !a.is_empty() {
        let n = match out.write_vectored(&[io::IoSlice::new(a), io::IoSlice::new(b)]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n < a.len() {
            a = &a[n..];
        } else {
            b = &b[n - a.len()..];
            a = &[];
        }
    }
    out.write_all(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most 5 bytes per call, to exercise partial vectored writes.
    struct Dribble(Vec<u8>);
    impl Write for Dribble {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let n = b.len().min(5);
            self.0.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_vectored_writes_keep_every_byte_in_order() {
        let mut d = Dribble(Vec::new());
        let b: Vec<u8> = (0..50u8).collect();
        write_both(&mut d, b"0123456789abc", &b).unwrap();
        let mut want = b"0123456789abc".to_vec();
        want.extend_from_slice(&b);
        assert_eq!(d.0, want);
    }

    #[test]
    fn file_sink_keeps_order_across_direct_writes() {
        let mut s = FileSink::new(Vec::new());
        s.put(b"head").unwrap();
        let big = vec![7u8; DIRECT_WRITE_MIN];
        s.put_shared(Bytes::from(big.clone())).unwrap();
        s.put(b"tail").unwrap();
        assert_eq!(s.position(), 8 + big.len() as u64);
        let out = s.into_inner().unwrap();
        assert_eq!(&out[..4], b"head");
        assert_eq!(&out[4..4 + big.len()], &big[..]);
        assert_eq!(&out[4 + big.len()..], b"tail");
    }
}
