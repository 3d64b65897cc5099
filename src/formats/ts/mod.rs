//! MPEG-2 transport streams (ISO/IEC 13818-1 = ITU-T H.222.0; the ITU-T edition is free).
//!
//! - [`packet`]: 188-byte packets, adaptation fields and PCR (§2.4.3.2–2.4.3.5); 192-byte
//!   M2TS/BDAV units (a 4-byte arrival timestamp first) are detected and written on request.
//! - [`psi`]: PAT and PMT sections with CRC-32/MPEG-2 (§2.4.4), language (0x0A) and
//!   registration (0x05) descriptors.
//! - [`pes`]: PES headers with 33-bit PTS/DTS and reassembly (§2.4.3.6–2.4.3.7).
//! - [`reader`]: the sans-IO reader (bytes in, tables/PES/findings out, resync after garbage).
//! - [`es`]: stream types and splitting PES payloads into the access units ffprobe counts.
//! - [`demux`], [`mux`]: the `Demuxer` and the streaming `Muxer`.
//!
//! Times are 90 kHz ticks; track ids are PIDs; 33-bit PTS/DTS are unwrapped on input across
//! the program (PTS placed near its DTS) and wrapped again on output. The demuxer bridges
//! timestamp jumps ([`crate::dtsc::timeline`]) and reads a program whose PMT changes whole: a
//! stream a later version moves to another PID (same kind and codec) goes on as its track, a
//! stream it adds is a track from the start (a seekable input's tables are surveyed at open:
//! one read of the file looking at PIDs only; from a pipe, streams added after the first
//! 16 MiB are announced as the live reader does, but the file demuxer's track list is fixed).
//!
//! Known gaps: HEVC is carried (Annex B ⇄ length-prefixed, IRAP keyframes) but no `hvcC` is
//! built, so `Track::init` is empty for HEVC; AAC in LATM (0x11) is detected and skipped;
//! AC-3 is split into syncframes (E-AC-3 is not read); SPS/PPS/ADTS/MPEG-audio helpers live in [`es`] until
//! `src/codec/` provides them. (An ADTS frame of several raw data blocks becomes one frame per
//! block, as in the `.aac` reader; one whose raw data cannot be walked stays whole.)

pub mod demux;
pub mod es;
pub mod mux;
pub mod packet;
pub mod pes;
pub mod psi;
pub mod reader;

use super::{Format, FormatSpec, MuxCaps, Score};

/// The name errors from this format carry.
pub const FORMAT: &str = "ts";

/// The format table row.
pub const SPEC: FormatSpec = FormatSpec {
    format: Format::Ts,
    name: "ts",
    description: "MPEG-2 transport stream",
    extensions: &["ts", "m2ts", "mts"],
    mime: "video/mp2t",
    probe,
    open: Some(demux::open),
    reader: Some(|| Box::new(demux::StreamReader::default())),
    needs_seek: false,
    muxer: Some(mux::new),
    mux_caps: MuxCaps {
        live: true,
        needs_index: false,
        one_per_kind: false,
        framing: mux::framing,
        // 33-bit times cannot go below 0; the pipeline shifts such inputs.
        negative_times: false,
    },
    analyse: Some(crate::analyse::ts::analyse),
};

/// Scores a head: sure with several packets at the 188 or 192 stride from the first bytes,
/// less sure when the first sync byte comes after some garbage.
pub fn probe(head: &[u8]) -> Score {
    match packet::detect(head, false) {
        Some((start, unit)) => {
            let runs = (0..)
                .map(|i| start + i * unit)
                .take_while(|&p| p < head.len() && head[p] == packet::SYNC)
                .take(8)
                .count();
            let base: Score = if runs >= 5 { 90 } else { 60 };
            if start <= unit {
                base
            } else {
                base - 20
            }
        }
        None => 0,
    }
}
