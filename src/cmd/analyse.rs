//! `mist analyse`: picks the format, runs the analyser, prints the report; several files
//! one after the other (`--json`: an array).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use mist::analyse::{self, render, Options, Report};
use mist::formats::{self, Format, FormatSpec};
use mist::io::Source;

use super::UsageError;
use crate::cli::AnalyseArgs;

/// Runs `analyse`.
pub fn run(a: AnalyseArgs) -> anyhow::Result<ExitCode> {
    let forced = match &a.format {
        Some(f) => Some(
            formats::spec_by_name(f).ok_or_else(|| UsageError(format!("unknown format {f}")))?,
        ),
        None => None,
    };
    let opts = Options {
        detail: a.detail,
        validate: a.validate,
        json: a.json,
        pid: a.pid,
        duration: a.duration,
        timeout: Some(a.timeout),
    };
    let style = table_style();
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let several = a.inputs.len() > 1;
    let mut reports = Vec::new();
    let mut failed = false;
    let mut findings_with_errors = false;
    for (n, input) in a.inputs.iter().enumerate() {
        if several && !a.json && n > 0 {
            writeln!(out)?;
        }
        let report = match analyse_one(&a, input, forced, &opts, &mut out) {
            Ok(r) => r,
            Err(e) if e.is::<UsageError>() => return Err(e),
            Err(e) if several => {
                // One unreadable file does not stop the others (as mediainfo does); the exit
                // status says that something failed.
                out.flush()?;
                eprintln!("mist: {e:#}");
                failed = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        findings_with_errors |= report.has_errors();
        if a.json {
            reports.push(report);
        } else {
            write!(out, "{}", render::summary(&report, style))?;
            if let Some(f) = &report.findings {
                write!(out, "{}", render::findings(f))?;
            }
        }
    }
    if a.json {
        if several {
            serde_json::to_writer_pretty(&mut out, &reports)?;
        } else if let Some(r) = reports.first() {
            serde_json::to_writer_pretty(&mut out, r)?;
        }
        if !reports.is_empty() || !several {
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(if failed || findings_with_errors {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Analyses one input; options that cannot apply to its format are usage errors.
fn analyse_one(
    a: &AnalyseArgs,
    input: &std::path::Path,
    forced: Option<&'static FormatSpec>,
    opts: &Options,
    out: &mut dyn Write,
) -> anyhow::Result<Report> {
    let name = input.display().to_string();
    if forced.is_none() && analyse::rtmp::is_url(&name) {
        return analyse::rtmp::analyse(&name, opts, out).with_context(|| name.clone());
    }
    // A packaged folder or its playlist or manifest: the playlists and their segments.
    // An MPD or a packaged DASH folder: the MPD and its segments.
    if forced.is_none() && analyse::dash::is_mpd(input) {
        return Ok(analyse::dash::analyse(input, opts, out)?);
    }
    if forced.is_none() && analyse::hls::is_packaged(input) {
        return Ok(analyse::hls::analyse(input, opts, out)?);
    }
    if forced.is_none() && analyse::hds::is_packaged(input) {
        return Ok(analyse::hds::analyse(input, opts, out)?);
    }
    if forced.is_none() && analyse::smooth::is_packaged(input) {
        return Ok(analyse::smooth::analyse(input, opts, out)?);
    }
    let src = Source::open(input)
        .with_context(|| name.clone())?
        .with_demux_options(formats::DemuxOptions {
            fps: a.fps,
            program: a.program,
        });
    let spec = match forced {
        Some(s) => s,
        None => formats::detect(src.head(), src.path())
            .ok_or_else(|| anyhow::anyhow!("{name}: unknown format (use --format to say which)"))?,
    };
    if a.pid.is_some() && spec.format != Format::Ts {
        return Err(UsageError(format!(
            "--pid only applies to MPEG-TS input; {name} is {}",
            spec.name
        ))
        .into());
    }
    mist::pipeline::check_demux_options(src.demux_options(), spec, &name)
        .map_err(|e| UsageError(e.to_string()))?;
    analyse::run(spec, src, opts, out).with_context(|| name.clone())
}

/// The summary table's width and borders: `COLUMNS` when set, else the terminal's width
/// when stdout is one (no wrapping into a pipe); ASCII borders unless the locale says UTF-8.
fn table_style() -> render::TableStyle {
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|w| *w > 0)
        .or_else(|| {
            let term = console::Term::stdout();
            io::stdout()
                .is_terminal()
                .then(|| term.size_checked().map(|(_, cols)| cols))
                .flatten()
        });
    render::TableStyle {
        width,
        ascii: !locale_is_utf8(),
    }
}

/// POSIX: the first of `LC_ALL`, `LC_CTYPE`, `LANG` that is set decides the character set.
fn locale_is_utf8() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}
