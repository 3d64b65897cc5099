//! The DTSC muxer: an index-less header, `DTP2` packets with track ids equal to header
//! positions, and the `.dtsh` side file with the full index built by MistServer's rules.
//!
//! The header at the start is written from the tracks before any packet and patched at the
//! end with the final totals (`firstms`, `lastms`, `bps`, `maxbps`); its size cannot change
//! because every patched member is a fixed-size integer.
//!
//! Memory: keys and fragments (one per ~2 s) stay in memory; parts (one per packet, 9 bytes
//! in the `.dtsh`) are spilled to an unlinked scratch file in `MuxOptions::scratch_dir` every
//! [`SPILL_EVERY`] packets, so a 10 GB input needs no more memory than a 10 MB one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::wire::header::encode_part;
use crate::dtsc::wire::{Header, HeaderTrack, WirePacket, VERSION};
use crate::dtsc::{Meta, Packet, Ticks, Timebase, TrackId, TrackKind};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{Chunk, Finish, MuxOptions, Muxer as MuxerTrait, SideFile};
use crate::io::ByteSink;

/// Parts kept in memory per track before they go to the scratch file.
pub const SPILL_EVERY: usize = 1 << 16;

/// Parts of one track already written to a scratch file.
struct Spill {
    file: BufWriter<File>,
    count: u64,
}

/// Writes DTSC.
#[derive(Default)]
pub struct Muxer {
    scratch: Option<PathBuf>,
    spill_every: usize,
    spills: Vec<Option<Spill>>,
    meta: Meta,
    ids: Vec<TrackId>,
    bases: Vec<Timebase>,
    builders: Vec<Builder>,
    head: Vec<u8>,
    header_len: usize,
    dropped: u64,
}

/// A new DTSC muxer (the format table's `muxer`).
pub fn new(opts: &MuxOptions) -> Box<dyn MuxerTrait> {
    Box::new(Muxer::with_options(opts))
}

impl Muxer {
    /// A muxer honouring `opts` (the scratch folder).
    pub fn with_options(opts: &MuxOptions) -> Muxer {
        Muxer {
            scratch: opts.scratch_dir.clone(),
            spill_every: SPILL_EVERY,
            ..Muxer::default()
        }
    }
}

/// An unlinked scratch file in `dir` (it vanishes when closed, even after a crash).
fn scratch_file(dir: &std::path::Path) -> std::io::Result<File> {
    crate::io::scratch::unlinked(dir)
}

impl Muxer {
    /// Moves all but the last part of track `i` to its scratch file (if a scratch folder was
    /// given; else they stay in memory).
    fn spill(&mut self, i: usize) -> std::io::Result<()> {
        let Some(dir) = &self.scratch else {
            return Ok(());
        };
        if self.spills[i].is_none() {
            self.spills[i] = Some(Spill {
                file: BufWriter::with_capacity(64 << 10, scratch_file(dir)?),
                count: 0,
            });
        }
        let parts = self.builders[i].drain_parts(1);
        if let Some(s) = self.spills[i].as_mut() {
            for p in &parts {
                s.file.write_all(&encode_part(p))?;
            }
            s.count += parts.len() as u64;
        }
        Ok(())
    }

    fn header(&self) -> Header {
        let index = self
            .builders
            .iter()
            .map(|b| b.index().clone())
            .collect::<Vec<_>>();
        Header {
            value: crate::dtsc::wire::Value::Null,
            vod: !self.meta.live,
            live: self.meta.live,
            version: Some(VERSION),
            unix_zero: self.meta.unix_zero,
            more_header: None,
            tracks: self
                .meta
                .tracks
                .iter()
                .enumerate()
                .map(|(i, t)| HeaderTrack::from_track(t, i, index.get(i)))
                .collect(),
            declared_len: 0,
            encoded_len: 0,
        }
    }
}

fn err(offset: u64, why: String) -> FormatError {
    FormatError::new("dtsc", offset, Problem::Invalid(why))
}

impl MuxerTrait for Muxer {
    fn start(&mut self, meta: &Meta, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        self.meta = meta.clone();
        self.meta.index = None;
        self.ids = meta.tracks.iter().map(|t| t.id).collect();
        self.bases = meta.tracks.iter().map(|t| t.timebase).collect();
        // DTSC is a millisecond format: every track is written in ms.
        for t in &mut self.meta.tracks {
            t.timebase = Timebase::MS;
        }
        self.builders = meta
            .tracks
            .iter()
            .map(|t| Builder::new(t.kind == TrackKind::Video, Timebase::MS))
            .collect();
        self.spills = meta.tracks.iter().map(|_| None).collect();
        let h = self.header().encode(false);
        self.header_len = h.len();
        out.put(&h)
            .map_err(|e| FormatError::io("dtsc", out.position(), e))
    }

    fn write(&mut self, pkt: &Packet, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        let at = out.position();
        let i = self
            .ids
            .iter()
            .position(|id| *id == pkt.track)
            .ok_or_else(|| err(at, format!("packet for track {} not announced", pkt.track)))?;
        // Rescale absolute times (dts and pts separately), then take the difference.
        let from = self.bases[i];
        let dts = from.rescale(pkt.dts.0, Timebase::MS);
        let pts = from.rescale(pkt.pts().0, Timebase::MS);
        if dts < 0 {
            return Err(err(
                at,
                format!(
                    "track {}: negative time {dts} ms cannot be stored in DTSC",
                    pkt.track
                ),
            ));
        }
        let offset = pts - dts;
        // MistServer flags keyframes on video; on audio only its own key marks, which a DTSC
        // source carries (`Track::marked_keys`) and which are kept as they are. Other sources
        // call every audio packet a keyframe: a `keyframe` member on each would cost 19 bytes
        // and make MistServer build a key per audio frame.
        let t = &self.meta.tracks[i];
        let keyframe = pkt.keyframe && (t.kind == TrackKind::Video || t.marked_keys);
        let unit_size = WirePacket::encoded_size(pkt.data.len(), offset, 0, keyframe);
        if !self.builders[i].push(PartInfo {
            dts: Ticks(dts),
            cts: offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            size: pkt.data.len() as u32,
            keyframe,
            pos: at,
            unit_size,
        }) {
            // MistServer drops packets that go back in time on a track; the index could not
            // describe them.
            // Counted and reported once by the pipeline at the end.
            self.dropped += 1;
            return Ok(());
        }
        self.head.clear();
        let end = WirePacket::encode_parts(
            i as u32,
            dts as u64,
            offset,
            0,
            keyframe,
            pkt.data.len(),
            &mut self.head,
        );
        let io = |e| FormatError::io("dtsc", at, e);
        out.put(&self.head).map_err(io)?;
        out.put_shared(pkt.data.clone()).map_err(io)?;
        out.put(end).map_err(io)?;
        if self.builders[i].index().parts.len() >= self.spill_every.max(2) {
            self.spill(i).map_err(io)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        let h = self.header();
        let start = h.encode(false);
        debug_assert_eq!(
            start.len(),
            self.header_len,
            "patched header keeps its size"
        );
        let at = out.position();
        let io = |e| FormatError::io("dtsc", at, e);
        let counts: Vec<u64> = self
            .spills
            .iter()
            .map(|s| s.as_ref().map_or(0, |s| s.count))
            .collect();
        let mut pieces = h.encode_split(true, &counts).into_iter();
        let mut chunks = Vec::new();
        chunks.extend(pieces.next().map(Chunk::Bytes));
        for spill in self.spills.iter_mut().filter_map(Option::take) {
            let len = spill.count * 9;
            let file = spill.file.into_inner().map_err(|e| io(e.into_error()))?;
            chunks.push(Chunk::File { file, len });
            chunks.extend(pieces.next().map(Chunk::Bytes));
        }
        Ok(Finish {
            patches: vec![(0, start)],
            side_files: vec![SideFile {
                suffix: ".dtsh",
                chunks,
                // MistServer's rule is 15 s; a minute leaves room for clock granularity.
                fresher_by: std::time::Duration::from_secs(60),
            }],
            dropped: (self.dropped > 0)
                .then(|| {
                    (
                        self.dropped,
                        "DTSC cannot store a packet earlier than the one before it on its track"
                            .to_string(),
                    )
                })
                .into_iter()
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::Demuxer as _;
    use crate::io::{Source, VecSink};
    use std::io::{Read, Seek};

    fn side_bytes(f: Finish) -> Vec<u8> {
        let mut out = Vec::new();
        for side in f.side_files {
            for c in side.chunks {
                match c {
                    Chunk::Bytes(b) => out.extend(b),
                    Chunk::File { mut file, len } => {
                        file.seek(std::io::SeekFrom::Start(0)).unwrap();
                        let mut v = Vec::new();
                        (&mut file).take(len).read_to_end(&mut v).unwrap();
                        out.extend(v);
                    }
                }
            }
        }
        out
    }

    fn mux(spill_every: usize, scratch: Option<PathBuf>) -> (Vec<u8>, Vec<u8>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/interop/vod_idx0.dtsc");
        let mut d = super::super::demux::Demuxer::open(Source::open(&path).unwrap()).unwrap();
        let mut m = Muxer::with_options(&MuxOptions {
            scratch_dir: scratch,
            ..MuxOptions::default()
        });
        m.spill_every = spill_every;
        let mut sink = VecSink::default();
        m.start(d.meta(), &mut sink).unwrap();
        while let Some(p) = d.next_packet().unwrap() {
            m.write(&p, &mut sink).unwrap();
        }
        let f = m.finish(&mut sink).unwrap();
        (sink.data, side_bytes(f))
    }

    #[test]
    fn spilled_parts_give_the_same_side_file() {
        // Oracle: MistServer's own .dtsh for these packets, and the unspilled encoding.
        let dir = std::env::temp_dir().join(format!("mist-spill-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (data_a, side_a) = mux(SPILL_EVERY, None);
        let (data_b, side_b) = mux(10, Some(dir.clone()));
        assert_eq!(data_a, data_b);
        assert_eq!(side_a, side_b);
        let theirs = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/interop/vod_idx0.dtsc.dtsh"),
        )
        .unwrap();
        assert_eq!(side_b, theirs);
        // The scratch files were unlinked at once.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        let _ = std::fs::remove_dir(&dir);
    }
}
