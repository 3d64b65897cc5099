//! Containers: one folder per format, each with probe + reader + demux + mux, and the one
//! table ([`FORMATS`]) through which convert, remux, analyse and serve find them.
//!
//! Adding a format is adding one folder and one row. Nothing outside `formats/` matches on
//! [`Format`]; it asks the table.

pub mod dtsc;
pub mod error;
pub mod flv;
pub mod mp3;
pub mod mp4;
pub mod probe;
pub mod raw;
pub mod rtmp;
pub mod ts;

use std::fmt;

use crate::analyse;
use crate::dtsc::{Codec, Framing, Meta, Packet, Time};
use crate::io::{ByteSink, Source};

pub use error::{FormatError, Problem};
pub use probe::{detect, spec, spec_by_extension, spec_by_name};

/// The containers mist knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// MistServer's DTSC (`.dtsc` + `.dtsh`).
    Dtsc,
    /// Adobe FLV.
    Flv,
    /// MPEG-2 transport stream.
    Ts,
    /// Progressive MP4.
    Mp4,
    /// Fragmented MP4.
    Fmp4,
    /// MPEG audio layer III elementary stream.
    Mp3,
    /// H.264 Annex B elementary stream.
    H264,
    /// AAC in ADTS.
    Aac,
}

/// How sure a probe is that the bytes are its format: 0 = not it, 100 = certain.
pub type Score = u8;

/// A non-fatal problem found while reading, at a byte offset (`analyse --validate` lists them).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// `error`, `warning` or `info`.
    pub severity: Severity,
    /// Byte offset where it was found; `None` for findings about the file as a whole (a
    /// missing PAT, a count that does not add up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// What is wrong, in one line.
    pub message: String,
}

/// The warning for what the [timeline](crate::dtsc::timeline) did at `offset` on `track`:
/// a jump it found (and bridged), or a track it moved on past an overlap.
pub fn timeline_finding(
    placed: &crate::dtsc::timeline::Placed,
    offset: u64,
    track: impl fmt::Display,
) -> Option<Finding> {
    if let Some(j) = placed.jump {
        let dir = if j.ms() < 0 { "back" } else { "forward" };
        let shifted = if j.shift.ticks.0 != 0 {
            format!(
                "; later times moved by {} so decode times keep increasing, every track alike",
                j.shift
            )
        } else {
            String::new()
        };
        return Some(Finding::warning(
            offset,
            format!(
                "track {track}: timestamps jump {dir} by {} ({} to {}){shifted}",
                Time::from_ms(j.ms().saturating_abs()),
                j.from,
                j.to
            ),
        ));
    }
    placed.moved.map(|m| {
        Finding::warning(
            offset,
            format!(
                "track {track}: times overlap its earlier packets; this track is moved {m} ticks later from here on"
            ),
        )
    })
}

/// How bad a [`Finding`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; not wrong.
    Info,
    /// Unusual or tolerated, but playable.
    Warning,
    /// Against the spec or not playable as is.
    Error,
}

impl Finding {
    /// An error finding.
    pub fn error(offset: u64, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            offset: Some(offset),
            message: message.into(),
        }
    }
    /// A warning finding.
    pub fn warning(offset: u64, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            offset: Some(offset),
            message: message.into(),
        }
    }
    /// A finding about the file as a whole, at no particular byte.
    pub fn general(severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            severity,
            offset: None,
            message: message.into(),
        }
    }
    /// An error finding from a parse error (at its byte, when it has one).
    pub fn of_error(e: &FormatError) -> Finding {
        Finding {
            severity: Severity::Error,
            offset: e.byte(),
            message: e.to_string(),
        }
    }
    /// An informational finding.
    pub fn info(offset: u64, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Info,
            offset: Some(offset),
            message: message.into(),
        }
    }
}

/// A container reader over a [`Source`].
///
/// For implementers: `meta()` is complete after opening (tracks with init data);
/// `next_packet` yields packets in decode order as the file interleaves them, in each
/// codec's canonical framing ([`Codec::canonical_framing`]), times in the track's own
/// timebase with wraps already unwrapped; bad input is an `Err` with the offset, never a panic.
pub trait Demuxer: Send {
    /// Tracks and, once built, the index.
    fn meta(&self) -> &Meta;
    /// The next packet in file order, or `None` at the end.
    fn next_packet(&mut self) -> Result<Option<Packet>, FormatError>;
    /// Builds the full index (every packet's time, size, keyframe flag, position) if the
    /// container does not carry one, without keeping payloads. Reading continues from where
    /// it was.
    fn build_index(&mut self) -> Result<(), FormatError>;
    /// Positions the reader so that every packet of every track with a time at or after `to`
    /// is still ahead (packets before it may come too; callers filter).
    fn seek(&mut self, to: Time) -> Result<(), FormatError>;
    /// Goes back to the first packet (a second pass over the input). The default seeks to
    /// the earliest time; demuxers whose seeking needs an index they may not be able to build
    /// (a damaged file) override it.
    fn rewind(&mut self) -> Result<(), FormatError> {
        self.seek(Time::new(
            crate::dtsc::Ticks(i64::MIN / 4),
            crate::dtsc::Timebase::MS,
        ))
    }
    /// Bytes of the source consumed so far (for progress).
    fn position(&self) -> u64;
    /// Non-fatal problems met since the last call.
    fn take_findings(&mut self) -> Vec<Finding> {
        Vec::new()
    }
    /// Forgets an index built by [`build_index`](Self::build_index) (it holds a few bytes per
    /// packet); a later `seek` or `build_index` builds it again. Demuxers whose index is free
    /// (read from the file's own tables) may ignore this.
    fn drop_index(&mut self) {}
}

/// What an incremental [`Reader`] hands out.
#[derive(Clone, Debug)]
pub enum Event {
    /// The track list, at the start and again whenever it changes (a new PMT, a new sequence
    /// header with other parameters); consumers re-check their muxer setup on each one.
    Tracks(Vec<crate::dtsc::Track>),
    /// A media packet.
    Packet(Packet),
    /// A non-fatal problem at a byte offset.
    Finding(Finding),
}

/// An incremental (sans-IO) container parser: feed bytes as they arrive from a file, a socket
/// or an HTTP body, take events out. Live inputs use it; file demuxers may stand on it.
///
/// For implementers: `next_event` returns `Ok(None)` when it needs more bytes, never an
/// error for that; the events of a stream must not depend on how it was cut into chunks.
pub trait Reader: Send {
    /// Hands over the next chunk of input.
    fn feed(&mut self, chunk: bytes::Bytes);
    /// The next complete event, `Ok(None)` if more bytes are needed.
    fn next_event(&mut self) -> Result<Option<Event>, FormatError>;
    /// End of input: an error if the stream stopped inside a structure.
    fn finish(&mut self) -> Result<(), FormatError>;
}

/// Options a demuxer may honour. They travel with the [`Source`] (see
/// [`Source::with_demux_options`]), so [`OpenFn`] keeps its one argument.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DemuxOptions {
    /// Frame rate (numerator, denominator) for inputs that carry no timestamps (raw H.264);
    /// it overrides what the stream declares.
    pub fps: Option<(u32, u32)>,
    /// The program to read from a multi-program input (MPEG-TS `program_number`); the first
    /// one when `None`.
    pub program: Option<u16>,
}

/// Options a muxer may honour.
#[derive(Clone, Debug, Default)]
pub struct MuxOptions {
    /// Target fragment/segment duration in ms for fragmented outputs.
    pub fragment_ms: Option<u32>,
    /// Write 192-byte M2TS units (4-byte arrival timestamp + TS packet) instead of 188-byte TS.
    pub m2ts: bool,
    /// Leave the source's tags (`Meta::tags`) out of the output.
    pub strip_tags: bool,
    /// Fragmented MP4: write a `sidx` (segment index) before each fragment.
    pub sidx: bool,
    /// A folder where a muxer may keep scratch files (index tables of long outputs), so its
    /// memory stays bounded whatever the input size. `None`: keep everything in memory.
    pub scratch_dir: Option<std::path::PathBuf>,
}

/// A piece of a side file: bytes in memory, or the start of a scratch file.
#[derive(Debug)]
pub enum Chunk {
    /// Bytes held in memory.
    Bytes(Vec<u8>),
    /// The first `len` bytes of a scratch file.
    File {
        /// The scratch file (read from its start).
        file: std::fs::File,
        /// How many bytes of it.
        len: u64,
    },
}

/// A file written next to the main output (`OUT.dtsh` beside `OUT.dtsc`).
#[derive(Debug)]
pub struct SideFile {
    /// Appended to the output path: `.dtsh`.
    pub suffix: &'static str,
    /// Its content, in order.
    pub chunks: Vec<Chunk>,
    /// How much newer than the main output the side file's mtime must look. MistServer
    /// rebuilds a `.dtsh` that is not at least 15 s newer than its media file, so the
    /// pipeline backdates the main output by this much.
    pub fresher_by: std::time::Duration,
}

/// What a muxer hands back at the end besides the bytes it streamed.
#[derive(Debug, Default)]
pub struct Finish {
    /// Bytes to overwrite at an offset, if the output can seek (headers whose totals are known
    /// only at the end). Streaming outputs skip them; what was written first is still valid.
    pub patches: Vec<(u64, Vec<u8>)>,
    /// Files to write beside the output.
    pub side_files: Vec<SideFile>,
    /// Packets the muxer received but could not write: (how many, why). The pipeline reports
    /// them; nothing is left out in silence.
    pub dropped: Vec<(u64, String)>,
}

/// A container writer. It never touches files or sockets; the caller drains the sink.
///
/// For implementers: `start` gets the tracks (and the index when [`MuxCaps::needs_index`]);
/// `write` gets packets in decode order interleaved across tracks, in the framing
/// `MuxCaps::framing` asked for; `finish` ends the stream.
pub trait Muxer: Send {
    /// Writes whatever precedes the first packet.
    fn start(&mut self, meta: &Meta, out: &mut dyn ByteSink) -> Result<(), FormatError>;
    /// Writes one packet.
    fn write(&mut self, pkt: &Packet, out: &mut dyn ByteSink) -> Result<(), FormatError>;
    /// Ends the stream.
    fn finish(&mut self, out: &mut dyn ByteSink) -> Result<Finish, FormatError>;
}

/// What a muxer needs from the pipeline.
#[derive(Clone, Copy)]
pub struct MuxCaps {
    /// True when the muxer can write a stream as packets arrive, with no index and no going
    /// back (live outputs, pipes). Progressive MP4 cannot; FLV can (its `onMetaData` then
    /// lacks the keyframe positions).
    pub live: bool,
    /// True when the muxer needs (or, for FLV's `onMetaData`, makes use of) `Meta::index`
    /// filled before `start`.
    pub needs_index: bool,
    /// The framing the muxer wants for a codec, or `None` when it cannot carry the codec.
    pub framing: fn(&Codec) -> Option<Framing>,
    /// True when the container holds at most one track of each kind (FLV: one audio and one
    /// video; MP3, ADTS and raw H.264: their one stream). Without `--tracks` the pipeline
    /// then keeps the first of each kind, as ffmpeg's default stream choice does.
    pub one_per_kind: bool,
    /// True when the container can store negative decode times (MP4, through edit lists).
    /// Otherwise the pipeline shifts every track so the earliest decode time is 0.
    pub negative_times: bool,
}

/// Opens a demuxer on a source.
pub type OpenFn = fn(Source) -> Result<Box<dyn Demuxer>, FormatError>;
/// Creates an incremental reader.
pub type ReaderFn = fn() -> Box<dyn Reader>;
/// Creates a muxer.
pub type MuxerFn = fn(&MuxOptions) -> Box<dyn Muxer>;
/// A format's own analyser (structure detail and validation); formats without one get the
/// generic, demuxer-based analysis.
pub type AnalyseFn = fn(
    Source,
    &analyse::Options,
    &mut dyn std::io::Write,
) -> Result<analyse::Report, analyse::AnalyseError>;

/// One row of the format table: everything convert, remux, analyse and serve need to know.
pub struct FormatSpec {
    /// Which format.
    pub format: Format,
    /// Short name, as `--to`/`--format` take it (`flv`).
    pub name: &'static str,
    /// One line for help texts.
    pub description: &'static str,
    /// File extensions, without the dot; the first is the one outputs get.
    pub extensions: &'static [&'static str],
    /// MIME type for HTTP.
    pub mime: &'static str,
    /// Scores the first bytes of an input (total, cheap, never fails).
    pub probe: fn(&[u8]) -> Score,
    /// Opens a demuxer, when reading is built.
    pub open: Option<OpenFn>,
    /// Creates the incremental reader live inputs feed from a socket (pulls over HTTP, pipes,
    /// UDP), when the format can be read front to back.
    pub reader: Option<ReaderFn>,
    /// True when the demuxer needs a seekable input (MP4 reads its tables wherever they
    /// are): from a pipe, the input is spooled to a temporary file first.
    pub needs_seek: bool,
    /// Creates a muxer, when writing is built.
    pub muxer: Option<MuxerFn>,
    /// What the muxer needs.
    pub mux_caps: MuxCaps,
    /// The format's own analyser, when it has one.
    pub analyse: Option<AnalyseFn>,
}

impl fmt::Debug for FormatSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FormatSpec")
            .field("name", &self.name)
            .finish()
    }
}

/// A probe that never claims an input (for rows that share another row's probe, like
/// fragmented MP4, which the MP4 probe finds).
pub fn never(_: &[u8]) -> Score {
    0
}

/// Every format mist knows, in probe order.
pub static FORMATS: &[FormatSpec] = &[
    dtsc::SPEC,
    flv::SPEC,
    ts::SPEC,
    mp4::SPEC,
    mp4::FMP4_SPEC,
    mp3::SPEC,
    raw::H264_SPEC,
    raw::AAC_SPEC,
];
