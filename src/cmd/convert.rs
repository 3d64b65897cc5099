//! `mist convert` / `mist remux`: builds a [`Plan`] and runs the pipeline.

use std::process::ExitCode;

use anyhow::Context;
use mist::formats::{self, DemuxOptions, MuxOptions};
use mist::pipeline::{self, Plan, Selection};

use super::progress::Bar;
use super::UsageError;
use crate::cli::ConvertArgs;

/// Turns the arguments into a plan (validation, format choice, selectors).
pub fn plan(a: ConvertArgs) -> Result<(Plan, bool), UsageError> {
    let to = match &a.to {
        Some(n) => formats::spec_by_name(n),
        None => formats::spec_by_extension(&a.output),
    }
    .ok_or_else(|| {
        UsageError(format!(
            "cannot tell the output format from '{}' (use --to)",
            a.output.display()
        ))
    })?;
    let from = a.from.as_deref().and_then(formats::spec_by_name);
    // `.m2ts`/`.mts` outputs get 192-byte units (the TS muxer's M2TS option).
    let m2ts = to.name == "ts"
        && a.output
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("m2ts") || e.eq_ignore_ascii_case("mts"));
    let tracks = match &a.tracks {
        Some(t) => Selection::parse(t).map_err(|e| UsageError(e.to_string()))?,
        None => Selection::default(),
    };
    if let (Some(s), Some(e)) = (a.start, a.end) {
        if e <= s {
            return Err(UsageError(format!(
                "--end ({e}) must be after --start ({s})"
            )));
        }
    }
    if a.output.is_dir() || a.output.as_os_str().to_string_lossy().ends_with('/') {
        return Err(UsageError(format!(
            "'{}' is a folder: packaging to folders (HLS/DASH) is not built yet",
            a.output.display()
        )));
    }
    Ok((
        Plan {
            input: a.input,
            output: a.output,
            from,
            to,
            tracks,
            start: a.start,
            end: a.end,
            force: a.force,
            mux: MuxOptions {
                m2ts,
                strip_tags: a.strip_tags,
                sidx: a.sidx,
                fragment_ms: a.fragment_duration,
                ..MuxOptions::default()
            },
            demux: DemuxOptions {
                fps: a.fps,
                program: a.program,
            },
            salvage: a.salvage,
        },
        a.quiet,
    ))
}

/// Runs `convert` (or `remux`, the same engine).
pub fn run(a: ConvertArgs, _verb: &str) -> anyhow::Result<ExitCode> {
    let (plan, quiet) = plan(a)?;
    let bar = Bar::for_terminal(quiet);
    let outcome = pipeline::convert(&plan, &bar).context("")?;
    tracing::info!(
        packets = outcome.packets,
        bytes = outcome.bytes,
        tracks = outcome.tracks,
        "done"
    );
    Ok(ExitCode::SUCCESS)
}
