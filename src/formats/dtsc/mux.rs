//! The DTSC muxer: an index-less header, `DTP2` packets with track ids equal to header
//! positions, and the `.dtsh` side file with the full index built by MistServer's rules.
//!
//! The header at the start is written from the tracks before any packet and patched at the
//! end with the final totals (`firstms`, `lastms`, `bps`, `maxbps`); its size cannot change
//! because every patched member is a fixed-size integer.

use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::wire::{Header, HeaderTrack, WirePacket, VERSION};
use crate::dtsc::{Meta, Packet, Ticks, Timebase, TrackId, TrackKind};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{Finish, MuxOptions, Muxer as MuxerTrait, SideFile};
use crate::io::ByteSink;

/// Writes DTSC.
#[derive(Default)]
pub struct Muxer {
    meta: Meta,
    ids: Vec<TrackId>,
    bases: Vec<Timebase>,
    builders: Vec<Builder>,
    head: Vec<u8>,
    header_len: usize,
    dropped: u64,
}

/// A new DTSC muxer (the format table's `muxer`).
pub fn new(_: &MuxOptions) -> Box<dyn MuxerTrait> {
    Box::<Muxer>::default()
}

impl Muxer {
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
        let unit_size = WirePacket::encoded_size(pkt.data.len(), offset, 0, pkt.keyframe);
        if !self.builders[i].push(PartInfo {
            dts: Ticks(dts),
            cts: offset.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            size: pkt.data.len() as u32,
            keyframe: pkt.keyframe,
            pos: at,
            unit_size,
        }) {
            // MistServer drops packets that go back in time on a track; the index could not
            // describe them.
            self.dropped += 1;
            tracing::warn!(track = %pkt.track, dts, "dtsc: packet earlier than the previous one on its track dropped");
            return Ok(());
        }
        self.head.clear();
        let end = WirePacket::encode_parts(
            i as u32,
            dts as u64,
            offset,
            0,
            pkt.keyframe,
            pkt.data.len(),
            &mut self.head,
        );
        let io = |e| FormatError::io("dtsc", at, e);
        out.put(&self.head).map_err(io)?;
        out.put_shared(pkt.data.clone()).map_err(io)?;
        out.put(end).map_err(io)
    }

    fn finish(&mut self, _out: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        let h = self.header();
        let start = h.encode(false);
        debug_assert_eq!(
            start.len(),
            self.header_len,
            "patched header keeps its size"
        );
        Ok(Finish {
            patches: vec![(0, start)],
            side_files: vec![SideFile {
                suffix: ".dtsh",
                data: h.encode(true),
                // MistServer's rule is 15 s; a minute leaves room for clock granularity.
                fresher_by: std::time::Duration::from_secs(60),
            }],
        })
    }
}
