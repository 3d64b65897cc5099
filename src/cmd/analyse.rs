//! `mist analyse`: picks the format, runs the analyser, prints the report.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use mist::analyse::{self, render, Options};
use mist::formats;
use mist::io::Source;

use super::UsageError;
use crate::cli::AnalyseArgs;

/// Runs `analyse`.
pub fn run(a: AnalyseArgs) -> anyhow::Result<ExitCode> {
    let name = a.input.display().to_string();
    let opts = Options {
        detail: a.detail,
        validate: a.validate,
        json: a.json,
        pid: a.pid,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    // An MPD or a packaged DASH folder: the MPD and its segments.
    if a.format.is_none() && analyse::dash::is_mpd(&a.input) {
        let report = analyse::dash::analyse(&a.input, &opts, &mut out)?;
        return print(a.json, report, out);
    }
    // A packaged folder or an HLS playlist: the playlists and their segments.
    if a.format.is_none() && analyse::hls::is_packaged(&a.input) {
        let report = analyse::hls::analyse(&a.input, &opts, &mut out)?;
        return print(a.json, report, out);
    }
    if a.format.is_none() && analyse::hds::is_packaged(&a.input) {
        let report = analyse::hds::analyse(&a.input, &opts, &mut out)?;
        return print(a.json, report, out);
    }
    if a.format.is_none() && analyse::smooth::is_packaged(&a.input) {
        let report = analyse::smooth::analyse(&a.input, &opts, &mut out)?;
        return print(a.json, report, out);
    }
    let src = Source::open(&a.input)
        .with_context(|| name.clone())?
        .with_demux_options(formats::DemuxOptions {
            fps: a.fps,
            program: a.program,
        });
    let spec = match &a.format {
        Some(f) => {
            formats::spec_by_name(f).ok_or_else(|| UsageError(format!("unknown format {f}")))?
        }
        None => formats::detect(src.head(), src.path())
            .ok_or_else(|| anyhow::anyhow!("{name}: unknown format (use --format to say which)"))?,
    };
    let report = analyse::run(spec, src, &opts, &mut out).with_context(|| name.clone())?;
    print(a.json, report, out)
}

/// Prints the report (table and findings, or JSON); exit 1 when a finding is an error.
fn print(json: bool, report: analyse::Report, mut out: impl Write) -> anyhow::Result<ExitCode> {
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", render::summary(&report))?;
        if let Some(f) = &report.findings {
            write!(out, "{}", render::findings(f))?;
        }
    }
    out.flush()?;
    Ok(if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
