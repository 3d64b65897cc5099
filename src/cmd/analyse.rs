//! `mist analyse`: picks the format, runs the analyser, prints the report; several files
//! one after the other (`--json`: an array).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use mist::analyse::loc::Loc;
use mist::analyse::{self, render, Options, Report};
use mist::formats::{self, Format, FormatSpec};
use mist::io::Source;

use super::UsageError;
use crate::cli::AnalyseArgs;

/// How much of a live HTTP body the format probe waits for: enough for several TS packets
/// or MP3 frames, little enough that a slow stream shows its first packets at once.
const LIVE_PROBE_BYTES: usize = 4 << 10;

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
        json_lines: false,
        stop: None,
        publish_check: a.publish_check,
    };
    if a.publish_check
        && !a
            .inputs
            .iter()
            .all(|i| analyse::rtmp::is_url(&i.display().to_string()))
    {
        return Err(UsageError("--publish-check only applies to rtmp:// URLs".into()).into());
    }
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
            // Arrival times and per-second bitrates mean something for live inputs only.
            Ok(mut r) if !is_live(&input.display().to_string()) => {
                r.live = None;
                r
            }
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
        let mut report = report;
        if a.json && !several && is_live(&input.display().to_string()) {
            // The packets went out as lines already.
            report.packets = None;
        }
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
            if is_live(&a.inputs[0].display().to_string()) {
                // The last of the JSON lines (after the packets'): one object on one line.
                serde_json::to_writer(&mut out, r)?;
            } else {
                serde_json::to_writer_pretty(&mut out, r)?;
            }
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
    let live = is_live(&name);
    // A live input with --json: packets as JSON lines as they arrive, the report last.
    let live_opts = Options {
        stop: live.then(ctrl_c),
        // With several inputs --json prints one array, so no lines.
        json_lines: opts.json && live && a.inputs.len() == 1,
        ..opts.clone()
    };
    let opts = if live { &live_opts } else { opts };
    if forced.is_none() && analyse::rtmp::is_url(&name) {
        return analyse::rtmp::analyse(&name, opts, out).with_context(|| name.clone());
    }
    // A packaged folder or its playlist or manifest, as files or URLs: the playlists and
    // their segments. A URL is told by its last path segment, as players tell it.
    let loc = Loc::of(input, a.timeout);
    let url_named = |f: &dyn Fn(&str) -> bool| {
        matches!(loc, Loc::Url { .. }) && f(&loc.file_name().to_ascii_lowercase())
    };
    if forced.is_none() {
        if url_named(&|n| n.ends_with(".mpd")) || analyse::dash::is_mpd(input) {
            return Ok(analyse::dash::analyse(&loc, opts, out)?);
        }
        if url_named(&|n| n.ends_with(".m3u8")) || analyse::hls::is_packaged(input) {
            return Ok(analyse::hls::analyse(&loc, opts, out)?);
        }
        if url_named(&|n| n.ends_with(".f4m")) || analyse::hds::is_packaged(input) {
            return Ok(analyse::hds::analyse(&loc, opts, out)?);
        }
        if url_named(&|n| n == "manifest" || n.ends_with(".ismc"))
            || analyse::smooth::is_packaged(input)
        {
            return Ok(analyse::smooth::analyse(&loc, opts, out)?);
        }
    }
    let mut cut = None;
    let src = if mist::io::http::is_url(&name) {
        // Progressive HTTP: the body is read as it arrives, as stdin is.
        let body =
            mist::io::http::HttpBody::get_until(&name, a.timeout, a.duration, opts.stop.clone())
                .with_context(|| name.clone())?;
        cut = Some(body.cut_flag());
        Source::stream_probing(&name, Box::new(body), LIVE_PROBE_BYTES)
            .with_context(|| name.clone())?
    } else if analyse::dtsc_live::is_url(&name) {
        // A DTSC play: the server's commands, header and packets as they arrive.
        let (wire, flag) =
            analyse::dtsc_live::open(&name, a.timeout, a.duration, opts.stop.clone())?;
        cut = Some(flag);
        Source::stream_probing(&name, wire, LIVE_PROBE_BYTES).with_context(|| name.clone())?
    } else {
        Source::open(input).with_context(|| name.clone())?
    };
    let src = src.with_demux_options(formats::DemuxOptions {
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
    // A live MP4 body whose `moov` comes first (fragmented, faststart) goes through the
    // format's incremental reader as it arrives. Any other reads its tables wherever they are:
    // the body is kept in a scratch file until it ends (or --duration says stop), then analysed.
    if let Some(reader) = spec
        .reader
        .filter(|_| live && spec.needs_seek)
        .filter(|_| matches!(spec.format, Format::Mp4 | Format::Fmp4))
        .filter(|_| analyse::streamed::mp4_reads_front_to_back(src.head()))
    {
        let run_opts = Options {
            validate: true,
            ..opts.clone()
        };
        let report = analyse::streamed::analyse(spec.name, reader(), src, &run_opts, out)
            .with_context(|| name.clone())?;
        return Ok(finish_live(report, cut, opts, live));
    }
    let src = if live && spec.needs_seek {
        src.spool(&std::env::temp_dir())
            .with_context(|| name.clone())?
    } else {
        src
    };
    // A live input is read with its findings listed, so one that --duration caused can be
    // told apart below; without --validate they are then only counted, as for files.
    let validating = Options {
        validate: true,
        ..opts.clone()
    };
    let run_opts = if live { &validating } else { opts };
    let report = analyse::run(spec, src, run_opts, out).with_context(|| name.clone())?;
    Ok(finish_live(report, cut, opts, live))
}

/// What a live input's report adds: the live summary line, a note when a stop cut the stream,
/// and (without --validate) findings only counted, as for files.
fn finish_live(
    mut report: analyse::Report,
    cut: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    opts: &Options,
    live: bool,
) -> analyse::Report {
    if let Some(line) = report
        .live
        .as_ref()
        .filter(|_| live)
        .and_then(|l| l.summary_line())
    {
        report.summary_lines.push(line);
    }
    if cut.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
        report
            .summary_lines
            .push("  stopped by --duration or Ctrl-C (the stream had not ended)".into());
        // Stopping cuts the last structure short; that is ours, not the stream's fault. The
        // readers report it as their last finding, about the data ending.
        if let Some(f) = report.findings.as_mut().and_then(|f| f.last_mut()) {
            let m = f.message.to_ascii_lowercase();
            if f.severity == mist::formats::Severity::Error
                && (m.contains("end") || m.contains("truncated"))
            {
                f.severity = mist::formats::Severity::Info;
                f.message = format!("cut by the stop: {}", f.message);
            }
        }
    }
    if live && !opts.validate {
        report.problems = report
            .findings
            .take()
            .and_then(|f| analyse::Problems::count(&f));
    }
    report
}

/// A flag Ctrl-C sets, so a live analysis stops reading and still prints its summary; a
/// second Ctrl-C ends the process at once (exit 130).
fn ctrl_c() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use signal_hook::consts::SIGINT;
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Registered in this order, the second signal finds the flag set and exits.
    let _ = signal_hook::flag::register_conditional_shutdown(SIGINT, 130, flag.clone());
    let _ = signal_hook::flag::register(SIGINT, flag.clone());
    flag
}

/// True for inputs read live from the network (`rtmp://`, `http://`).
fn is_live(name: &str) -> bool {
    analyse::rtmp::is_url(name) || mist::io::http::is_url(name) || analyse::dtsc_live::is_url(name)
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
