//! A byte source for demuxers: a file (seekable, with a length) or stdin (forward only), plus
//! the first bytes kept aside for format probing.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::formats::DemuxOptions;

/// How many bytes of the start of an input the probe looks at.
pub const PROBE_BYTES: usize = 64 << 10;

enum Inner {
    File(File),
    /// Forward-only: stdin, a named pipe, a character device. `head` is replayed first.
    Stream {
        head: Vec<u8>,
        head_pos: usize,
        reader: Box<dyn Read + Send>,
    },
    Memory(io::Cursor<Vec<u8>>),
}

/// An input a demuxer reads: `Read`, `Seek` where possible, a length where known, and a name.
pub struct Source {
    inner: Inner,
    name: String,
    path: Option<PathBuf>,
    len: Option<u64>,
    head: Vec<u8>,
    demux: DemuxOptions,
}

impl Source {
    /// Opens a file, or stdin when `path` is `-`. Named pipes and devices (`/dev/stdin`,
    /// `<(cmd)`) are read as streams, like stdin.
    pub fn open(path: &Path) -> io::Result<Source> {
        if path.as_os_str() == "-" {
            return Source::stream("-", Box::new(io::stdin()));
        }
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            ));
        }
        if !meta.is_file() {
            return Source::stream(&path.display().to_string(), Box::new(file));
        }
        let mut head = Vec::with_capacity(PROBE_BYTES);
        (&mut file)
            .take(PROBE_BYTES as u64)
            .read_to_end(&mut head)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Source {
            inner: Inner::File(file),
            name: path.display().to_string(),
            path: Some(path.to_path_buf()),
            len: Some(meta.len()),
            head,
            demux: DemuxOptions::default(),
        })
    }

    /// A forward-only source over any reader (stdin, a pipe, a socket): no seeking, no length.
    pub fn stream(name: &str, reader: Box<dyn Read + Send>) -> io::Result<Source> {
        Source::stream_probing(name, reader, PROBE_BYTES)
    }

    /// [`Source::stream`] probing only the first `probe` bytes: a live stream at a low
    /// bitrate would otherwise wait for a full [`PROBE_BYTES`] before anything is shown.
    pub fn stream_probing(
        name: &str,
        mut reader: Box<dyn Read + Send>,
        probe: usize,
    ) -> io::Result<Source> {
        let mut head = Vec::with_capacity(probe.min(PROBE_BYTES));
        (&mut reader).take(probe as u64).read_to_end(&mut head)?;
        Ok(Source {
            inner: Inner::Stream {
                head: head.clone(),
                head_pos: 0,
                reader,
            },
            name: name.into(),
            path: None,
            len: None,
            head,
            demux: DemuxOptions::default(),
        })
    }

    /// A seekable source over an open file that has no path to show (a spooled copy of a
    /// pipe); `name` is what messages call it.
    pub fn from_file(name: &str, mut file: File) -> io::Result<Source> {
        let len = file.metadata()?.len();
        let mut head = Vec::with_capacity(PROBE_BYTES);
        file.seek(SeekFrom::Start(0))?;
        (&mut file)
            .take(PROBE_BYTES as u64)
            .read_to_end(&mut head)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Source {
            inner: Inner::File(file),
            name: name.into(),
            path: None,
            len: Some(len),
            head,
            demux: DemuxOptions::default(),
        })
    }

    /// The same input in a seekable form: a pipe's bytes copied to an unlinked scratch file
    /// in `dir` (gone when the source is dropped, even if the process is killed), for
    /// demuxers and muxers that need to read it twice or out of order. A seekable source is
    /// returned as it is.
    pub fn spool(mut self, dir: &Path) -> io::Result<Source> {
        if self.is_seekable() {
            return Ok(self);
        }
        let mut file = crate::io::scratch::unlinked(dir)?;
        io::copy(&mut self, &mut file)?;
        let name = std::mem::take(&mut self.name);
        let demux = std::mem::take(&mut self.demux);
        Ok(Source::from_file(&name, file)?.with_demux_options(demux))
    }

    /// A source over bytes in memory (tests, fuzzing, HTTP bodies already received).
    pub fn from_bytes(name: &str, data: Vec<u8>) -> Source {
        let head = data[..data.len().min(PROBE_BYTES)].to_vec();
        Source {
            len: Some(data.len() as u64),
            inner: Inner::Memory(io::Cursor::new(data)),
            name: name.into(),
            path: None,
            head,
            demux: DemuxOptions::default(),
        }
    }

    /// The name to show in messages (the path as given, or `-`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file path, when the source is a file (side files such as `.dtsh` sit beside it).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Total length in bytes, when known.
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// True when the source is known to hold no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }

    /// The first bytes (up to [`PROBE_BYTES`]), for probing.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The source with options for the demuxer that will read it (`--fps`).
    pub fn with_demux_options(mut self, opts: DemuxOptions) -> Source {
        self.demux = opts;
        self
    }

    /// Options for the demuxer reading this source.
    pub fn demux_options(&self) -> &DemuxOptions {
        &self.demux
    }

    /// True when [`Seek`] works on this source.
    pub fn is_seekable(&self) -> bool {
        !matches!(self.inner, Inner::Stream { .. })
    }

    /// Fills `buf` from absolute offset `at` and returns how many bytes it got (fewer than
    /// `buf.len()` only at the end of the input). On files this is `pread`: one system call
    /// where a seek and a read are two, and the position [`Read`] uses stays where it was;
    /// other sources seek.
    pub fn read_at(&mut self, at: u64, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        if let Inner::File(f) = &self.inner {
            use std::os::unix::fs::FileExt;
            let mut got = 0;
            while got < buf.len() {
                match f.read_at(&mut buf[got..], at + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(got);
        }
        self.seek(SeekFrom::Start(at))?;
        let mut got = 0;
        while got < buf.len() {
            match self.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::File(f) => f.read(buf),
            Inner::Memory(m) => m.read(buf),
            Inner::Stream {
                head,
                head_pos,
                reader,
            } => {
                if *head_pos < head.len() {
                    let n = buf.len().min(head.len() - *head_pos);
                    buf[..n].copy_from_slice(&head[*head_pos..*head_pos + n]);
                    *head_pos += n;
                    Ok(n)
                } else {
                    reader.read(buf)
                }
            }
        }
    }
}

impl Seek for Source {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match &mut self.inner {
            Inner::File(f) => f.seek(pos),
            Inner::Memory(m) => m.seek(pos),
            Inner::Stream { .. } => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a pipe cannot seek",
            )),
        }
    }
}
