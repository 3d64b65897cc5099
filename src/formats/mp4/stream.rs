//! MP4 read as it arrives (an HTTP body, HLS fMP4 segments one after another), sans-IO: the
//! [`Reader`](crate::formats::Reader) of the format table's MP4 rows.
//!
//! Works for the two layouts that can be read front to back: `moov` before `mdat`
//! (faststart), and fragmented files (`moov` with the tracks, then `moof` + `mdat` pairs). The
//! sample tables say where each sample sits; as `mdat` bytes go by, every sample they cover
//! becomes a packet, in file order. Bytes of `mdat` no sample points at are skipped; only the
//! bytes from the first sample not yet complete are kept.
//!
//! Known gap: an `mdat` before `moov` (not faststart) cannot be read this way; it is an error
//! that says so (a file demuxer with ranges is what such files need).

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::boxes::{fourcc_str, parse_header, FORMAT};
use super::demux::{apply_edits, make_track, widen_nal_lengths, MAX_MOOF, MAX_MOOV, MAX_SAMPLE};
use super::reader::{self, FragTrack, Movie, MAX_SAMPLES};
use super::samples::{MoovTables, Sample, Table};
use crate::dtsc::{Packet, Ticks, TrackId};
use crate::formats::error::Problem;
use crate::formats::{Event, Finding, FormatError};
use crate::io::Cursor;

/// Largest box other than `mdat` the reader holds whole (`ftyp`, `free`, `sidx` ...).
const MAX_OTHER_BOX: u64 = 1 << 20;

/// One sample waiting for its bytes.
#[derive(Clone, Copy, Debug)]
struct Pending {
    track: usize,
    sample: Sample,
}

/// The incremental MP4 reader.
#[derive(Default)]
pub struct StreamReader {
    buf: BytesMut,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// Inside an `mdat` that ends at this offset.
    mdat_end: Option<u64>,
    /// A box being skipped: bytes still to drop.
    skip: u64,
    movie: Option<Movie>,
    frag: Vec<FragTrack>,
    /// Per `movie.traks` entry: the output track id and NAL length to widen, or `None` for
    /// tracks not listed.
    tracks: Vec<Option<(TrackId, Option<u8>)>>,
    /// Samples whose bytes have not all arrived, in file order.
    pending: VecDeque<Pending>,
    out: VecDeque<Event>,
    samples_seen: u64,
    /// Per `movie.traks` entry: the edit list's shift, which fragment samples get too.
    shifts: Vec<i64>,
}

impl StreamReader {
    /// A reader at the start of a file.
    pub fn new() -> StreamReader {
        StreamReader::default()
    }

    fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    fn drop_front(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.advance(n);
        self.base += n as u64;
    }

    fn on_moov(&mut self, c: Cursor, at: u64) -> Result<(), FormatError> {
        if self.movie.is_some() {
            self.out.push_back(Event::Finding(Finding::warning(
                at,
                "a second 'moov' box; ignored",
            )));
            return Ok(());
        }
        let mut m = reader::parse_moov(c)?;
        let mut findings = Vec::new();
        let mut tracks = Vec::new();
        let mut listed = Vec::new();
        let mut samples: Vec<Pending> = Vec::new();
        let mut budget = MAX_SAMPLES;
        let movie_ts = m.mvhd.timescale;
        self.shifts = vec![0; m.traks.len()];
        // The fragments continue where the moov tables end (taken before the tables go).
        let next_dts: Vec<i64> = m
            .traks
            .iter()
            .map(|t| {
                t.stts.entries.iter().fold(0i64, |a, (n, d)| {
                    a.saturating_add(i64::from(*n) * i64::from(*d))
                })
            })
            .collect();
        for (i, t) in m.traks.iter_mut().enumerate() {
            let Some((track, nal_len)) = make_track(t, &mut findings) else {
                listed.push(None);
                continue;
            };
            let moov = MoovTables::take(t);
            reader::check_tables(t.tkhd.track_id, t.stbl_offset, &moov, &mut findings);
            if moov.count > budget {
                return Err(FormatError::new(
                    FORMAT,
                    t.stbl_offset,
                    Problem::Limit {
                        what: "samples",
                        limit: MAX_SAMPLES,
                    },
                ));
            }
            budget -= moov.count;
            let mut table = Table::new(moov, Vec::new());
            apply_edits(t, movie_ts, &mut table, track.kind, &mut findings);
            self.shifts[i] = table.shift;
            samples.extend(table.iter().map(|sample| Pending { track: i, sample }));
            listed.push(Some((track.id, nal_len)));
            tracks.push(track);
        }
        self.frag = m
            .traks
            .iter()
            .enumerate()
            .map(|(i, t)| FragTrack {
                id: t.tkhd.track_id,
                trex: m
                    .trex
                    .iter()
                    .find(|x| x.track_id == t.tkhd.track_id)
                    .copied()
                    .unwrap_or_default(),
                next_dts: next_dts.get(i).copied().unwrap_or(0),
            })
            .collect();
        for f in findings {
            self.out.push_back(Event::Finding(f));
        }
        self.out.push_back(Event::Tracks(tracks));
        self.add_samples(samples, at)?;
        self.tracks = listed;
        self.movie = Some(m);
        Ok(())
    }

    fn on_moof(&mut self, c: Cursor, at: u64) -> Result<(), FormatError> {
        if self.movie.is_none() {
            return Err(FormatError::invalid(FORMAT, at, "'moof' before 'moov'"));
        }
        let mut lists = vec![Vec::new(); self.frag.len()];
        let mut findings = Vec::new();
        let mut budget = MAX_SAMPLES.saturating_sub(self.samples_seen);
        reader::parse_moof(
            c,
            at,
            &mut self.frag,
            &mut lists,
            &mut budget,
            &mut findings,
        )?;
        for f in findings {
            self.out.push_back(Event::Finding(f));
        }
        let mut samples: Vec<Pending> = Vec::new();
        for (track, runs) in lists.into_iter().enumerate() {
            let mut table = Table::new(MoovTables::default(), runs);
            table.shift = self.shifts.get(track).copied().unwrap_or(0);
            samples.extend(table.iter().map(|sample| Pending { track, sample }));
        }
        samples.sort_by_key(|p| p.sample.offset);
        self.add_samples(samples, at)
    }

    fn add_samples(&mut self, mut samples: Vec<Pending>, at: u64) -> Result<(), FormatError> {
        samples.sort_by_key(|p| p.sample.offset);
        self.samples_seen += samples.len() as u64;
        // Bytes from `base` on are still buffered (or yet to come).
        let start = self.base;
        for p in samples {
            if u64::from(p.sample.size) > MAX_SAMPLE {
                return Err(FormatError::new(
                    FORMAT,
                    p.sample.offset,
                    Problem::Limit {
                        what: "sample size",
                        limit: MAX_SAMPLE,
                    },
                ));
            }
            if p.sample.offset < start {
                // Its bytes went by before the table that describes them (mdat before moov).
                return Err(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Unsupported(
                        "an MP4 whose 'mdat' comes before its sample tables, read as a stream"
                            .into(),
                    ),
                ));
            }
            self.pending.push_back(p);
        }
        Ok(())
    }

    /// Hands out every pending sample whose bytes are all buffered.
    fn take_samples(&mut self) -> Result<(), FormatError> {
        while let Some(p) = self.pending.front().copied() {
            let s = p.sample;
            let end = s.offset + u64::from(s.size);
            if s.offset < self.base {
                // Only possible with overlapping samples: their bytes are gone.
                self.pending.pop_front();
                self.out.push_back(Event::Finding(Finding::error(
                    s.offset,
                    "sample overlaps an earlier one; skipped",
                )));
                continue;
            }
            if end > self.end() {
                break;
            }
            self.pending.pop_front();
            let from = (s.offset - self.base) as usize;
            let mut data = Bytes::copy_from_slice(&self.buf[from..from + s.size as usize]);
            let Some(Some((id, nal_len))) = self.tracks.get(p.track).copied() else {
                continue;
            };
            if let Some(n) = nal_len {
                data = widen_nal_lengths(&data, n, s.offset)?;
            }
            self.out.push_back(Event::Packet(Packet {
                track: id,
                dts: Ticks(s.dts),
                cts: s.cts,
                keyframe: s.sync,
                data,
                pos: Some(s.offset),
            }));
        }
        Ok(())
    }

    fn step(&mut self) -> Result<bool, FormatError> {
        if self.skip > 0 {
            let n = (self.skip as usize).min(self.buf.len());
            self.drop_front(n);
            self.skip -= n as u64;
            return Ok(n > 0);
        }
        if let Some(end) = self.mdat_end {
            self.take_samples()?;
            // Keep bytes from the first sample still incomplete (or none, past the last).
            let keep_from = self
                .pending
                .front()
                .map_or(end, |p| p.sample.offset.min(end))
                .max(self.base);
            let drop = (keep_from.min(self.end()) - self.base) as usize;
            self.drop_front(drop);
            if self.base >= end {
                self.mdat_end = None;
                return Ok(true);
            }
            return Ok(drop > 0);
        }
        let Some(h) = parse_header(&self.buf, self.base, u64::MAX)? else {
            return Ok(false);
        };
        let at = self.base;
        match &h.kind {
            b"mdat" => {
                if self.movie.is_none() {
                    return Err(FormatError::new(
                        FORMAT,
                        at,
                        Problem::Unsupported(
                            "an MP4 whose 'mdat' comes before 'moov', read as a stream".into(),
                        ),
                    ));
                }
                let end = if h.to_end { u64::MAX } else { h.end() };
                self.drop_front(h.header_len as usize);
                self.mdat_end = Some(end);
                Ok(true)
            }
            b"moov" | b"moof" => {
                let limit = if &h.kind == b"moov" {
                    MAX_MOOV
                } else {
                    MAX_MOOF
                };
                if h.size > limit {
                    return Err(FormatError::new(
                        FORMAT,
                        at,
                        Problem::Limit {
                            what: if &h.kind == b"moov" { "moov" } else { "moof" },
                            limit,
                        },
                    ));
                }
                if (self.buf.len() as u64) < h.size {
                    return Ok(false);
                }
                let body = self.buf.split_to(h.size as usize).freeze();
                self.base += h.size;
                let c = Cursor::new(
                    body.slice(h.header_len as usize..),
                    h.payload_offset(),
                    FORMAT,
                );
                if &h.kind == b"moov" {
                    self.on_moov(c, at)?;
                } else {
                    self.on_moof(c, at)?;
                }
                Ok(true)
            }
            other => {
                if h.to_end {
                    return Err(FormatError::invalid(
                        FORMAT,
                        at,
                        format!("box '{}' runs to the end of the stream", fourcc_str(*other)),
                    ));
                }
                if h.size > MAX_OTHER_BOX && !matches!(other, b"free" | b"skip" | b"wide") {
                    self.out.push_back(Event::Finding(Finding::warning(
                        at,
                        format!("box '{}' of {} bytes skipped", fourcc_str(*other), h.size),
                    )));
                }
                self.skip = h.size;
                Ok(true)
            }
        }
    }
}

impl crate::formats::Reader for StreamReader {
    fn feed(&mut self, chunk: Bytes) {
        self.buf.extend_from_slice(&chunk);
    }

    fn next_event(&mut self) -> Result<Option<Event>, FormatError> {
        loop {
            if let Some(e) = self.out.pop_front() {
                return Ok(Some(e));
            }
            if !self.step()? {
                return Ok(None);
            }
        }
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        if let Some(p) = self.pending.front() {
            return Err(FormatError::new(
                FORMAT,
                self.end(),
                Problem::Truncated {
                    what: "sample data",
                    need: (p.sample.offset + u64::from(p.sample.size)).saturating_sub(self.end()),
                },
            ));
        }
        if self.mdat_end.is_none() && self.skip == 0 && !self.buf.is_empty() {
            return Err(FormatError::new(
                FORMAT,
                self.base,
                Problem::Truncated {
                    what: "box",
                    need: 1,
                },
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Reader as _;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
        )
        .unwrap()
    }

    fn events(pieces: &[&[u8]]) -> (Vec<String>, Option<String>) {
        let mut r = StreamReader::new();
        let mut out = Vec::new();
        for p in pieces {
            r.feed(Bytes::copy_from_slice(p));
            loop {
                match r.next_event() {
                    Ok(Some(Event::Tracks(t))) => out.push(format!("tracks {}", t.len())),
                    Ok(Some(Event::Packet(p))) => out.push(format!(
                        "{} {} {} {} {}",
                        p.track.0,
                        p.dts.0,
                        p.cts,
                        p.keyframe,
                        crc(&p.data)
                    )),
                    Ok(Some(Event::Finding(_))) => {}
                    Ok(None) => break,
                    Err(e) => return (out, Some(e.to_string())),
                }
            }
        }
        (out, r.finish().err().map(|e| e.to_string()))
    }

    fn crc(b: &[u8]) -> u32 {
        b.iter().fold(0u32, |a, &x| a.rotate_left(5) ^ u32::from(x))
    }

    /// Packets of the file demuxer (the oracle: it reads the same file with random access),
    /// in the stream reader's order (file order).
    fn from_demuxer(name: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        let mut d = crate::pipeline::open(&path).unwrap();
        let mut v = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            v.push((
                p.pos.unwrap(),
                format!(
                    "{} {} {} {} {}",
                    p.track.0,
                    p.dts.0,
                    p.cts,
                    p.keyframe,
                    crc(&p.data)
                ),
            ));
        }
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|x| x.1).collect()
    }

    #[test]
    fn faststart_and_fragmented_files_give_the_demuxers_packets_however_cut() {
        for name in ["faststart.mp4", "frag.mp4"] {
            let data = fixture(name);
            let (whole, err) = events(&[&data]);
            assert_eq!(err, None, "{name}");
            assert_eq!(whole[0], "tracks 2", "{name}");
            assert_eq!(&whole[1..], from_demuxer(name).as_slice(), "{name}");
            for split in [1, 8, 100, data.len() / 3, data.len() / 2, data.len() - 1] {
                assert_eq!(
                    events(&[&data[..split], &data[split..]]),
                    (whole.clone(), None),
                    "{name} split at {split}"
                );
            }
        }
    }

    #[test]
    fn moov_at_the_end_and_truncation_are_errors_that_say_so() {
        let data = fixture("moov_end.mp4");
        let (_, err) = events(&[&data]);
        assert!(err.unwrap().contains("before 'moov'"));
        let data = fixture("faststart.mp4");
        let (got, err) = events(&[&data[..data.len() - 10]]);
        assert!(got.len() > 10);
        assert!(err.unwrap().contains("ends early"), "truncated");
    }
}
