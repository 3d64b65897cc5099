//! DTSC files (dtsc-format.md §1.7): `NAME.dtsc` with its `NAME.dtsc.dtsh` index, and every
//! older layout — index in the header, `moreheader` chains, headerless data with a side file,
//! legacy `DTPD` packets, and captures of the `dtsc://` wire.
//!
//! What mist writes is what MistServer 3.x plays: an index-less header, then `DTP2` packets
//! with track ids equal to header positions (0, 1, ...), plus a `.dtsh` holding one header
//! with the full version-4 index whose `bpos` values point into the `.dtsc`.
//!
//! Known gaps: `inputLocalVars` is not carried; doubles are read but never written
//! (MistServer's writer for them is broken, §1.11 Q1).

pub mod demux;
pub mod mux;
pub mod scan;

use super::{Format, FormatSpec, MuxCaps, Score};
use crate::dtsc::wire::{unit, MAX_UNIT};

/// The format table row.
pub const SPEC: FormatSpec = FormatSpec {
    format: Format::Dtsc,
    name: "dtsc",
    description: "MistServer DTSC (with its .dtsh index)",
    extensions: &["dtsc", "dtsh"],
    mime: "application/octet-stream",
    probe,
    open: Some(demux::open),
    reader: Some(|| Box::new(StreamReader::default())),
    needs_seek: false,
    muxer: Some(mux::new),
    mux_caps: MuxCaps {
        live: true,
        needs_index: false,
        one_per_kind: false,
        framing: |c| Some(c.canonical_framing()),
        negative_times: false,
    },
    analyse: Some(crate::analyse::dtsc::analyse),
};

/// Certain when the input starts with a DTSC unit of plausible length.
pub fn probe(head: &[u8]) -> Score {
    match unit::frame(head, 0) {
        Ok(Some((_, size))) if size <= MAX_UNIT => 100,
        _ => 0,
    }
}

/// The incremental DTSC reader for streams (`dtsc://` pulls, pipes): headers become
/// [`Event::Tracks`](super::Event::Tracks), packets are mapped to tracks by the header's
/// `trackid` values as the wire protocol numbers them (dtsc-format.md §1.3).
#[derive(Default)]
pub struct StreamReader {
    units: crate::dtsc::wire::Reader,
    tracks: Vec<crate::dtsc::Track>,
}

impl super::Reader for StreamReader {
    fn feed(&mut self, chunk: bytes::Bytes) {
        self.units.feed(&chunk);
    }

    fn next_event(&mut self) -> Result<Option<super::Event>, super::FormatError> {
        use crate::dtsc::wire::Unit;
        loop {
            let Some((at, unit)) = self.units.next_unit()? else {
                return Ok(None);
            };
            match unit {
                Unit::Header(h) => {
                    self.tracks = h.to_meta().tracks;
                    return Ok(Some(super::Event::Tracks(self.tracks.clone())));
                }
                Unit::Packet(p) => {
                    let id = crate::dtsc::TrackId(p.track);
                    if self.tracks.iter().any(|t| t.id == id) {
                        return Ok(Some(super::Event::Packet(scan::to_packet(id, p, at))));
                    }
                    return Ok(Some(super::Event::Finding(super::Finding::error(
                        at,
                        format!("packet for track {} that no header announced", p.track),
                    ))));
                }
                Unit::Command(_) => {}
            }
        }
    }

    fn finish(&mut self) -> Result<(), super::FormatError> {
        self.units.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Event, Reader as _};
    use super::*;

    fn events(pieces: &[&[u8]]) -> Vec<String> {
        let mut r = StreamReader::default();
        let mut out = Vec::new();
        for p in pieces {
            r.feed(bytes::Bytes::copy_from_slice(p));
            while let Some(e) = r.next_event().unwrap() {
                out.push(match e {
                    Event::Tracks(t) => format!("tracks {}", t.len()),
                    Event::Packet(p) => format!("{} {} {}", p.track, p.dts.0, p.data.len()),
                    Event::Finding(f) => format!("finding {:?}", f.offset),
                });
            }
        }
        if r.finish().is_err() {
            out.push("truncated".into());
        }
        out
    }

    #[test]
    fn wire_capture_gives_the_same_events_however_it_is_cut() {
        // MistServer's dtsc:// capture: DTCM, header, 766 packets with 1-based ids (README).
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/interop/dtsc_wire_pull_vod.bin");
        let data = std::fs::read(path).unwrap();
        let whole = events(&[&data]);
        assert_eq!(whole[0], "tracks 2");
        assert_eq!(whole.len(), 1 + 766);
        assert!(whole.iter().all(|e| !e.starts_with("finding")));
        for split in [
            1,
            7,
            121,
            130,
            654,
            655,
            8859,
            data.len() / 2,
            data.len() - 3,
        ] {
            assert_eq!(
                events(&[&data[..split], &data[split..]]),
                whole,
                "split at {split}"
            );
        }
        // Byte by byte, over a prefix that ends inside a packet.
        let bytes: Vec<&[u8]> = data[..20_000].chunks(1).collect();
        let prefix = events(&[&data[..20_000]]);
        assert_eq!(prefix.last().map(String::as_str), Some("truncated"));
        assert_eq!(events(&bytes), prefix);
    }
}
