//! `mist convert` / `mist remux`: builds a [`Plan`] and runs the pipeline.

use std::io::ErrorKind;
use std::process::ExitCode;

use anyhow::Context;
use mist::formats::{self, DemuxOptions, Format, MuxOptions};
use mist::package::{self, Packaging};
use mist::pipeline::package::PackagePlan;
use mist::pipeline::{self, PipelineError, Plan, Selection};

use super::progress::Bar;
use super::UsageError;
use crate::cli::ConvertArgs;

/// What a `convert`/`remux` command line asks for.
#[derive(Debug)]
pub enum Work {
    /// One output file (or stdout).
    Convert(Plan),
    /// A folder of playlists and segments.
    Package(PackagePlan),
}

/// Turns the arguments into a plan (validation, format choice, selectors).
pub fn plan(a: ConvertArgs) -> Result<(Work, bool), UsageError> {
    if let Some(packaging) = a.to.as_deref().and_then(Packaging::by_name) {
        return package_plan(a, packaging);
    }
    if a.segment_duration.is_some() {
        return Err(UsageError(
            "--segment-duration is for packaging (--to hls, hls-fmp4, hds or smooth)".into(),
        ));
    }
    if a.output.is_dir() || a.output.as_os_str().to_string_lossy().ends_with('/') {
        return Err(UsageError(format!(
            "'{}' is a folder: say what to package into it (--to hls, hls-fmp4, hds or smooth)",
            a.output.display()
        )));
    }
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
    let out_name = a.output.display().to_string();
    // Options for one kind of output are refused elsewhere rather than silently ignored.
    if to.format != Format::Fmp4 {
        let what = if to.format == Format::Mp4 {
            "progressive mp4 (add --to fmp4)".to_string()
        } else {
            to.name.to_string()
        };
        if a.sidx {
            return Err(UsageError(format!(
                "--sidx only applies to fragmented MP4 output; {out_name} is {what}"
            )));
        }
        if a.fragment_duration.is_some() {
            return Err(UsageError(format!(
                "--fragment-duration only applies to fragmented MP4 output; {out_name} is {what}"
            )));
        }
    }
    if a.fragment_duration == Some(0) {
        return Err(UsageError(
            "--fragment-duration must be at least 1 ms".to_string(),
        ));
    }
    // `.m2ts`/`.mts` outputs get 192-byte units (the TS muxer's M2TS option).
    let m2ts = to.name == "ts"
        && a.output
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("m2ts") || e.eq_ignore_ascii_case("mts"));
    let tracks = selection(&a)?;
    if a.end.is_some_and(|e| e.as_ms() <= 0) {
        return Err(UsageError(
            "--end 0 leaves nothing to write (it counts from the start of the input)".into(),
        ));
    }
    if let (Some(s), Some(e)) = (a.start, a.end) {
        if e <= s {
            return Err(UsageError(format!(
                "--end ({e}) must be after --start ({s})"
            )));
        }
    }
    if !a.force && a.output.as_os_str() != "-" && a.output.exists() {
        return Err(UsageError(format!(
            "{out_name}: exists (use --force to overwrite)"
        )));
    }
    Ok((
        Work::Convert(Plan {
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
        }),
        a.quiet,
    ))
}

fn selection(a: &ConvertArgs) -> Result<Selection, UsageError> {
    match &a.tracks {
        Some(t) => Selection::parse(t).map_err(|e| UsageError(e.to_string())),
        None => Ok(Selection::default()),
    }
}

/// The plan of `--to hls|hls-fmp4|hds|smooth`: the output is a folder.
fn package_plan(a: ConvertArgs, packaging: Packaging) -> Result<(Work, bool), UsageError> {
    if a.output.as_os_str() == "-" {
        return Err(UsageError(format!(
            "{} writes a folder, not a stream: name the folder",
            packaging.name()
        )));
    }
    if a.output.is_file() && !a.force {
        return Err(UsageError(format!(
            "'{}' is a file: {} writes a folder",
            a.output.display(),
            packaging.name()
        )));
    }
    if let (Some(s), Some(e)) = (a.start, a.end) {
        if e <= s {
            return Err(UsageError(format!(
                "--end ({e}) must be after --start ({s})"
            )));
        }
    }
    let tracks = selection(&a)?;
    let from = a.from.as_deref().and_then(formats::spec_by_name);
    let mut options = package::Options::default();
    if let Some(d) = a.segment_duration {
        options.segment_ms = d.as_ms();
    }
    Ok((
        Work::Package(PackagePlan {
            input: a.input,
            output: a.output,
            from,
            packaging,
            options,
            tracks,
            start: a.start,
            end: a.end,
            force: a.force,
            demux: DemuxOptions {
                fps: a.fps,
                program: a.program,
            },
            salvage: a.salvage,
        }),
        a.quiet,
    ))
}

/// Runs `convert` (or `remux`, the same engine).
pub fn run(a: ConvertArgs, _verb: &str) -> anyhow::Result<ExitCode> {
    let (work, quiet) = plan(a)?;
    let bar = Bar::for_terminal(quiet);
    let result = match work {
        Work::Convert(plan) => pipeline::convert(&plan, &bar),
        Work::Package(plan) => pipeline::package::package(&plan, &bar),
    };
    let outcome = match result {
        Ok(o) => o,
        Err(PipelineError::Usage(why)) => return Err(UsageError(why).into()),
        // Another process created the output (or its side file) after the early check.
        Err(PipelineError::Output { path, err }) if err.kind() == ErrorKind::AlreadyExists => {
            return Err(UsageError(format!("{path}: exists (use --force to overwrite)")).into())
        }
        Err(e) => return Err(e).context(""),
    };
    bar.summary(&outcome);
    tracing::info!(
        packets = outcome.packets,
        bytes = outcome.bytes,
        tracks = outcome.tracks,
        "done"
    );
    Ok(ExitCode::SUCCESS)
}
