//! `mist analyse`: presentation and validation. Parsing stays in `formats/`; this module
//! gathers what the parsers expose into a [`Report`] and renders it as a table, as detail
//! lines or as JSON (the stable shape of DESIGN.md §1, documented in `docs/analyse-json.md`).

pub mod dash;
pub mod dash_reload;
pub mod decode;
pub mod dtsc;
pub mod dtsc_live;
pub mod flv;
pub mod follow;
pub mod hds;
pub mod hds_reload;
pub mod hls;
pub mod hls_reload;
pub mod loc;
pub mod mp3;
pub mod mp4;
pub mod payload;
pub mod raw;
pub mod render;
pub mod rtmp;
pub mod smooth;
pub mod smooth_reload;
pub mod stats;
pub mod streamed;
pub mod tree;
pub mod ts;

use std::io::Write;

use serde::Serialize;

use crate::dtsc::Packet;
use crate::formats::{Finding, FormatError, FormatSpec, Severity};
use crate::io::Source;

pub use stats::Stats;

/// What the user asked `analyse` for.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// 0 = summary only; 1 = structures and every packet; higher = more structure, then hex.
    pub detail: u8,
    /// Check the file against its spec and collect findings.
    pub validate: bool,
    /// The caller will print JSON: collect packets into the report instead of printing lines.
    pub json: bool,
    /// Only this PID (formats with PIDs; others ignore it).
    pub pid: Option<u16>,
    /// Live inputs: stop after this much wall-clock time (`None`: until the stream ends).
    pub duration: Option<std::time::Duration>,
    /// Live inputs: connect and read timeout (`None`: [`rtmp::DEFAULT_TIMEOUT`]).
    pub timeout: Option<std::time::Duration>,
    /// `rtmp://`: check that the server accepts a publish instead of playing.
    pub publish_check: bool,
    /// Live inputs: set (by Ctrl-C) to stop reading and report what came so far.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Live `--json`: each packet is written at once as one JSON line (`{"packet": {...}}`)
    /// instead of being kept for the report, which follows as the last line.
    pub json_lines: bool,
}

impl Options {
    /// Keeps a packet row for the report, or with [`Options::json_lines`] writes it at once.
    pub fn push_row(
        &self,
        rows: &mut Vec<PacketRow>,
        row: PacketRow,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        if !self.json_lines {
            rows.push(row);
            return Ok(());
        }
        #[derive(Serialize)]
        struct Line<'a> {
            packet: &'a PacketRow,
        }
        serde_json::to_writer(&mut *out, &Line { packet: &row })?;
        writeln!(out)?;
        // Scripts follow a live stream line by line.
        out.flush()
    }
}

/// Everything `analyse` found, in the shape `--json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The input as named on the command line.
    pub file: String,
    /// Format name from the table (`dtsc`, `flv` ...).
    pub format: String,
    /// Size of the input in bytes, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Longest track duration in ms.
    pub duration_ms: i64,
    /// Per-track summaries.
    pub tracks: Vec<TrackReport>,
    /// Every packet in file order (from `--detail 1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<Vec<PacketRow>>,
    /// Problems found (with `--validate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<Finding>>,
    /// The file's structures (boxes, tags, tables, headers, NAL units) with decoded fields,
    /// in file order (with `--json --detail 2` or more).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structures: Option<Vec<tree::Node>>,
    /// Lines about the container the summary prints under its first line (TS programs, MP4
    /// brands); text output only.
    #[serde(skip)]
    pub summary_lines: Vec<String>,
    /// Without `--validate`: how many errors and warnings reading met (when there were any);
    /// `--validate` lists them instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Problems>,
    /// What following a live input measured against the wall clock (live inputs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveReport>,
}

/// A live input's timing as it arrived.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveReport {
    /// Per media track, in the order of `tracks`.
    pub tracks: Vec<LiveTrack>,
    /// The last video timestamp minus the last audio timestamp, in ms (with both).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub av_drift_ms: Option<i64>,
}

/// One track's arrival against the wall clock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LiveTrack {
    /// The track `id`.
    pub id: u32,
    /// Media time from its first packet to its last, in ms.
    pub media_ms: i64,
    /// Wall-clock time between the arrival of those packets, in ms.
    pub wall_ms: i64,
    /// `wall_ms - media_ms`: how far the track fell behind the wall clock while it was
    /// followed (negative: it came faster than real time, as a buffer or VOD does).
    pub lag_ms: i64,
    /// Bitrate of each whole second of media from the track's first packet, in kbit/s.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bitrate_kbps: Vec<u64>,
}

impl LiveReport {
    /// The summary's line: per track its media against the wall clock and its bitrate
    /// range over whole seconds, and the A/V drift.
    pub fn summary_line(&self) -> Option<String> {
        let mut parts: Vec<String> = self
            .tracks
            .iter()
            .map(|t| {
                let mut s = format!(
                    "track {}: {} ms of media in {} ms (lag {} ms)",
                    t.id, t.media_ms, t.wall_ms, t.lag_ms
                );
                if let (Some(lo), Some(hi)) =
                    (t.bitrate_kbps.iter().min(), t.bitrate_kbps.iter().max())
                {
                    s.push_str(&format!(", {lo}-{hi} kbit/s per second"));
                }
                s
            })
            .collect();
        if let Some(d) = self.av_drift_ms {
            parts.push(format!("A/V drift {d} ms"));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

impl Report {
    /// True when a finding is an error (validate exits 1).
    pub fn has_errors(&self) -> bool {
        self.findings
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f.severity == Severity::Error))
    }
}

/// Errors and warnings counted, not listed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Problems {
    /// Findings of severity error (damage, spec violations).
    pub errors: u64,
    /// Findings of severity warning.
    pub warnings: u64,
}

impl Problems {
    /// The counts of `findings`, or `None` when there are neither errors nor warnings.
    pub fn count(findings: &[Finding]) -> Option<Problems> {
        let mut p = Problems::default();
        for f in findings {
            match f.severity {
                Severity::Error => p.errors += 1,
                Severity::Warning => p.warnings += 1,
                Severity::Info => {}
            }
        }
        (p != Problems::default()).then_some(p)
    }
}

/// One track's summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TrackReport {
    /// Track id as the container numbers it.
    pub id: u32,
    /// `video`, `audio`, `meta`, `subtitle`.
    #[serde(rename = "type")]
    pub kind: String,
    /// ffprobe's codec name (`h264`, `aac`, `mp3`).
    pub codec: String,
    /// `[1, ticks per second]` of `dts`/`pts` values.
    pub timebase: [u32; 2],
    /// Number of packets.
    pub packets: u64,
    /// Number of keyframes.
    pub keyframes: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// First decode time, in timebase ticks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// Duration in ms (last presentation end minus first presentation time).
    pub duration_ms: i64,
    /// Average bits per second over the duration.
    pub bitrate: u64,
    /// Mean distance between keyframes, in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyframe_interval_ms: Option<i64>,
    /// Picture width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Picture height.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Frames per second, as declared (or measured when undeclared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Codec profile (`High`, `LC`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Codec level (`3.0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Sample rate in Hz.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<u32>,
    /// Channel count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    /// ISO 639-2 language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// One packet of the listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PacketRow {
    /// Track id.
    pub track: u32,
    /// Decode time in timebase ticks.
    pub dts: i64,
    /// Presentation time in timebase ticks.
    pub pts: i64,
    /// Payload bytes (in the core framing).
    pub size: usize,
    /// Keyframe flag.
    pub key: bool,
    /// Byte offset of the packet's container unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

impl PacketRow {
    /// The listing row of a packet.
    pub fn of(p: &Packet) -> PacketRow {
        PacketRow {
            track: p.track.0,
            dts: p.dts.0,
            pts: p.pts().0,
            size: p.data.len(),
            key: p.keyframe,
            offset: p.pos,
        }
    }
}

/// Why an analysis could not finish.
#[derive(Debug, thiserror::Error)]
pub enum AnalyseError {
    /// The input is not valid for its format.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Writing the detail output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// The format has no reader yet.
    #[error("{0}: reading this format is not built yet")]
    NotBuilt(&'static str),
    /// The input (a playlist, a folder) cannot be read at all.
    #[error("{0}")]
    Input(String),
}

/// Analyses `src` as `spec`: the format's own analyser when it has one, else the generic one.
pub fn run(
    spec: &FormatSpec,
    src: Source,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<Report, AnalyseError> {
    match spec.analyse {
        Some(f) => f(src, opts, out),
        None => generic(spec, src, opts, out),
    }
}

/// Analysis through the format's demuxer alone: summary, packet listing and the findings the
/// demuxer reports.
pub fn generic(
    spec: &FormatSpec,
    src: Source,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<Report, AnalyseError> {
    let open = spec.open.ok_or(AnalyseError::NotBuilt(spec.name))?;
    let file = src.name().to_string();
    let size = src.len();
    let mut demux = open(src)?;
    let meta = demux.meta().clone();
    let mut stats = Stats::new(&meta);
    let mut payloads = payload::PayloadCheck::new(&meta);
    let mut rows = Vec::new();
    let mut findings = Vec::new();
    loop {
        match demux.next_packet() {
            Ok(Some(p)) => {
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
                    }
                }
                findings.extend(demux.take_findings());
            }
            Ok(None) => break,
            Err(e) => {
                findings.push(Finding::of_error(&e));
                break;
            }
        }
    }
    findings.extend(demux.take_findings());
    Ok(stats.into_report(
        file,
        spec.name,
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    ))
}
