//! The DTSC demuxer: packets in file order, the index from the file (or built by one scan),
//! and seeking by key positions.
//!
//! Times that jump (DTSC files spliced together, a recording across an encoder restart) are
//! bridged on the [timeline](crate::dtsc::timeline), as FLV and TS are: the packets and an
//! index this demuxer builds go through the same rule, so they agree. A stored index (the
//! file's header or its `.dtsh`) is trusted as MistServer trusts it.

use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::timeline::Timeline;
use crate::dtsc::wire::{Unit, FORMAT};
use crate::dtsc::{Index, Meta, Packet, Time, TrackKind};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{Demuxer as DemuxerTrait, Finding};
use crate::io::Source;

use super::scan::{to_packet, IndexPolicy, Scanner};

/// Reads a DTSC input.
pub struct Demuxer {
    scan: Scanner,
    /// What the packets handed out go through.
    timeline: Timeline,
    /// Where the index scan met each jump, with the timeline just after it, so a seek
    /// resumes with the shift in force at its place.
    jumps: Vec<(u64, Timeline)>,
}

/// Opens `src` as DTSC (the format table's `open`).
pub fn open(src: Source) -> Result<Box<dyn DemuxerTrait>, FormatError> {
    Ok(Box::new(Demuxer::open(src)?))
}

impl Demuxer {
    /// Opens `src`.
    pub fn open(src: Source) -> Result<Demuxer, FormatError> {
        Ok(Demuxer {
            scan: Scanner::open(src, IndexPolicy::Defer)?,
            timeline: Timeline::bridge(),
            jumps: Vec::new(),
        })
    }

    /// True when the input carries a usable index (it is read on `build_index`).
    pub fn has_stored_index(&self) -> bool {
        self.scan.has_stored_index()
    }

    /// Index built by reading every packet from the start of the data (payloads dropped).
    pub fn scan_index(&mut self) -> Result<Index, FormatError> {
        let meta = &self.scan.meta;
        let mut builders: Vec<Builder> = meta
            .tracks
            .iter()
            .map(|t| Builder::new(t.kind == TrackKind::Video, t.timebase))
            .collect();
        let resume = self.scan.position();
        // The packet pass reports what this pass meets again: keep only the findings before.
        let before = std::mem::take(&mut self.scan.findings);
        self.scan.seek_to(self.scan.data_start)?;
        let mut timeline = Timeline::bridge();
        self.jumps.clear();
        while let Some(item) = self.scan.next_item()? {
            let Unit::Packet(p) = item.unit else { continue };
            let Some(id) = self.scan.track_of(p.track) else {
                continue;
            };
            let Some(i) = self.scan.meta.position(id) else {
                continue;
            };
            let (keyframe, size, unit_size) = (p.keyframe, p.data.len() as u32, p.unit_size);
            let mut pkt = to_packet(id, p, item.offset);
            let placed = timeline.place(i, builders[i].timebase(), pkt.dts);
            placed.apply(&mut pkt.dts, &mut pkt.cts);
            if placed.jump.is_some() {
                self.jumps.push((item.offset, timeline.clone()));
            }
            builders[i].push(PartInfo {
                dts: pkt.dts,
                cts: pkt.cts,
                size,
                keyframe,
                pos: item.offset,
                unit_size,
            });
        }
        self.scan.seek_to(resume)?;
        self.scan.findings = before;
        Ok(Index {
            tracks: builders.into_iter().map(Builder::finish).collect(),
        })
    }
}

impl DemuxerTrait for Demuxer {
    fn meta(&self) -> &Meta {
        &self.scan.meta
    }

    fn next_packet(&mut self) -> Result<Option<Packet>, FormatError> {
        loop {
            let Some(item) = self.scan.next_item()? else {
                return Ok(None);
            };
            match item.unit {
                Unit::Packet(p) => match self.scan.track_of(p.track) {
                    Some(id) => {
                        let mut pkt = to_packet(id, p, item.offset);
                        if let Some(slot) = self.scan.meta.position(id) {
                            let base = self.scan.meta.tracks[slot].timebase;
                            let placed = self.timeline.place(slot, base, pkt.dts);
                            self.scan.findings.extend(crate::formats::timeline_finding(
                                &placed,
                                item.offset,
                                id,
                            ));
                            placed.apply(&mut pkt.dts, &mut pkt.cts);
                        }
                        return Ok(Some(pkt));
                    }
                    None => self.scan.findings.push(Finding::warning(
                        item.offset,
                        format!("packet for unknown track id {} skipped", p.track),
                    )),
                },
                // Superseding headers (moreheader targets) and wire commands carry no media.
                Unit::Header(_) | Unit::Command(_) => {}
            }
        }
    }

    fn build_index(&mut self) -> Result<(), FormatError> {
        if self.scan.meta.index.is_none() {
            let idx = match self.scan.load_stored_index()? {
                Some(i) => i,
                None => self.scan_index()?,
            };
            self.scan.meta.index = Some(idx);
        }
        Ok(())
    }

    fn seek(&mut self, to: Time) -> Result<(), FormatError> {
        self.build_index()?;
        let meta = &self.scan.meta;
        let Some(index) = &meta.index else {
            return Err(FormatError::whole(
                FORMAT,
                Problem::Unsupported("seeking without an index".into()),
            ));
        };
        let mut pos = u64::MAX;
        for (t, ti) in meta.tracks.iter().zip(&index.tracks) {
            if let Some(k) = ti.key_at_or_before(to.ceil_in(t.timebase)) {
                pos = pos.min(k.pos);
            }
        }
        let pos = if pos == u64::MAX || pos < self.scan.data_start {
            self.scan.data_start
        } else {
            pos
        };
        self.timeline = self
            .jumps
            .iter()
            .rev()
            .find(|j| j.0 <= pos)
            .map_or_else(Timeline::bridge, |j| j.1.clone());
        self.timeline.resume();
        self.scan.seek_to(pos)
    }

    fn rewind(&mut self) -> Result<(), FormatError> {
        let at = self.scan.data_start;
        self.timeline = Timeline::bridge();
        self.scan.seek_to(at)
    }

    fn position(&self) -> u64 {
        self.scan.position()
    }

    fn drop_index(&mut self) {
        self.scan.meta.index = None;
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.scan.findings)
    }
}
