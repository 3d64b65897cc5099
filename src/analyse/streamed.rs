//! Analysis through a format's incremental [`Reader`]: the bytes of a live body go through the
//! same sans-IO reader serve's pull inputs use, as they arrive, so packets are listed and
//! counted live. Used for MP4 over HTTP, whose file demuxer needs to seek: a fragmented or
//! faststart body can be read front to back. The listing and summary are the demuxer-level
//! ones ([`super::generic`]'s); the box tree needs the whole file and is not shown.

use std::io::{Read, Write};

use bytes::Bytes;

use super::{payload, render, AnalyseError, Options, PacketRow, Report, Stats};
use crate::dtsc::Meta;
use crate::formats::{Event, Finding, FormatError, Reader};
use crate::io::Source;

/// Bytes read from the source per feed.
const CHUNK: usize = 64 * 1024;

/// Runs `reader` over all of `src` (until it ends or its body is cut by a stop).
pub fn analyse(
    format: &str,
    mut reader: Box<dyn Reader>,
    mut src: Source,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<Report, AnalyseError> {
    let file = src.name().to_string();
    let mut meta = Meta::default();
    let mut stats = Stats::new(&meta);
    let mut payloads = payload::PayloadCheck::new(&meta);
    let mut rows = Vec::new();
    let mut findings = Vec::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; CHUNK];
    let mut ended = false;
    loop {
        let event = match reader.next_event() {
            Ok(Some(e)) => e,
            Ok(None) if ended => break,
            Ok(None) => {
                let n = read_some(&mut src, &mut buf, size)?;
                if n == 0 {
                    ended = true;
                    if let Err(e) = reader.finish() {
                        findings.push(Finding::of_error(&e));
                    }
                } else {
                    size += n as u64;
                    reader.feed(Bytes::copy_from_slice(&buf[..n]));
                }
                continue;
            }
            Err(e) => {
                findings.push(Finding::of_error(&e));
                break;
            }
        };
        match event {
            Event::Tracks(tracks) => {
                meta.tracks = tracks;
                stats.update_tracks(&meta);
                payloads = payload::PayloadCheck::new(&meta);
            }
            Event::Packet(p) => {
                stats.add(&p);
                if opts.validate {
                    payloads.check(&p, &mut findings);
                }
                if opts.detail >= 1 {
                    if opts.json {
                        opts.push_row(&mut rows, PacketRow::of(&p), out)?;
                    } else {
                        render::packet_line(out, &meta, &p)?;
                        if opts.detail >= 3 {
                            render::hex_dump(out, &p.data, 32)?;
                        }
                        out.flush()?;
                    }
                }
            }
            Event::Finding(f) => findings.push(f),
        }
    }
    stats.fill_configs(&meta);
    Ok(stats.into_report(
        file,
        format,
        Some(size),
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    ))
}

/// One read, with a read error turned into the analysis error it is (at `at`).
fn read_some(src: &mut Source, buf: &mut [u8], at: u64) -> Result<usize, AnalyseError> {
    loop {
        match src.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(AnalyseError::from(FormatError::io("http", at, e))),
        }
    }
}

/// True when an MP4 starting with `head` can be read front to back: its top-level boxes reach
/// `moov` before any `mdat` (faststart or fragmented). `false` also when the head ends first.
pub fn mp4_reads_front_to_back(head: &[u8]) -> bool {
    let mut at = 0usize;
    while let Some(h) = head.get(at..at + 8) {
        let size32 = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        match &h[4..8] {
            b"moov" => return true,
            b"mdat" => return false,
            _ => {}
        }
        let size = match size32 {
            0 => return false,
            1 => match head.get(at + 8..at + 16) {
                Some(l) => u64::from_be_bytes([l[0], l[1], l[2], l[3], l[4], l[5], l[6], l[7]]),
                None => return false,
            },
            n => u64::from(n),
        };
        if size < 8 {
            return false;
        }
        match usize::try_from(size).ok().and_then(|s| at.checked_add(s)) {
            Some(next) => at = next,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::mp4_reads_front_to_back as front;

    fn boxed(kind: &[u8; 4], len: u32) -> Vec<u8> {
        let mut b = len.to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.resize(len as usize, 0);
        b
    }

    #[test]
    fn moov_before_mdat_reads_front_to_back() {
        let mut faststart = boxed(b"ftyp", 24);
        faststart.extend(boxed(b"moov", 16));
        assert!(front(&faststart));
        let mut moov_end = boxed(b"ftyp", 24);
        moov_end.extend(boxed(b"mdat", 16));
        moov_end.extend(boxed(b"moov", 16));
        assert!(!front(&moov_end));
        // A head that ends inside the first box says nothing yet: not front to back.
        assert!(!front(&boxed(b"ftyp", 24)[..12]));
        // A box header whose size runs past the head: unknown.
        let mut long = boxed(b"free", 8);
        long[3] = 200;
        assert!(!front(&long));
    }
}
