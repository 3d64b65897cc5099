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
    muxer: Some(mux::new),
    mux_caps: MuxCaps {
        needs_index: false,
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
