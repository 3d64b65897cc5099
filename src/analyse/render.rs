//! Text output of `analyse`: the summary table, packet lines, hex dumps and findings.

use std::io::{self, Write};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};

use crate::dtsc::{Meta, Packet, Time};
use crate::formats::Finding;

use super::Report;

/// The human summary: one line about the file, then a table of tracks.
pub fn summary(r: &Report) -> String {
    let mut s = format!(
        "{}: {}, {}{} tracks, duration {}\n",
        r.file,
        r.format,
        r.size.map(|b| format!("{b} bytes, ")).unwrap_or_default(),
        r.tracks.len(),
        Time::from_ms(r.duration_ms)
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "track",
        "type",
        "codec",
        "details",
        "duration",
        "bitrate",
        "key interval",
        "packets",
    ]);
    for tr in &r.tracks {
        let mut details = Vec::new();
        if let (Some(w), Some(h)) = (tr.width, tr.height) {
            details.push(format!("{w}x{h}"));
        }
        if let Some(f) = tr.fps {
            details.push(format!("{f} fps"));
        }
        if let Some(rate) = tr.rate {
            details.push(format!("{rate} Hz"));
        }
        if let Some(c) = tr.channels {
            details.push(format!("{c} ch"));
        }
        if let Some(p) = &tr.profile {
            details.push(p.clone());
        }
        if let Some(l) = &tr.level {
            details.push(format!("level {l}"));
        }
        if let Some(l) = &tr.lang {
            details.push(l.clone());
        }
        t.add_row(vec![
            Cell::new(tr.id).set_alignment(CellAlignment::Right),
            Cell::new(&tr.kind),
            Cell::new(&tr.codec),
            Cell::new(details.join(", ")),
            Cell::new(Time::from_ms(tr.duration_ms)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{} kbit/s", tr.bitrate / 1000)).set_alignment(CellAlignment::Right),
            Cell::new(
                tr.keyframe_interval_ms
                    .map(|k| Time::from_ms(k).to_string())
                    .unwrap_or_else(|| "-".into()),
            )
            .set_alignment(CellAlignment::Right),
            Cell::new(tr.packets).set_alignment(CellAlignment::Right),
        ]);
    }
    s.push_str(&t.to_string());
    s.push('\n');
    if let Some(p) = r.problems {
        s.push_str(&format!(
            "{} error{}, {} warning{} while reading (--validate lists them)\n",
            p.errors,
            if p.errors == 1 { "" } else { "s" },
            p.warnings,
            if p.warnings == 1 { "" } else { "s" }
        ));
    }
    s
}

/// One line per finding, then a count.
pub fn findings(f: &[Finding]) -> String {
    let mut s = String::new();
    for x in f {
        let sev = match x.severity {
            crate::formats::Severity::Error => "error",
            crate::formats::Severity::Warning => "warning",
            crate::formats::Severity::Info => "info",
        };
        s.push_str(&format!("{sev} at byte {}: {}\n", x.offset, x.message));
    }
    let errors = f
        .iter()
        .filter(|x| x.severity == crate::formats::Severity::Error)
        .count();
    s.push_str(&format!(
        "validation: {errors} error(s), {} other finding(s)\n",
        f.len() - errors
    ));
    s
}

/// `packet track 1 dts 33 pts 99 (0.033s) size 4067 key offset 9067`
pub fn packet_line(out: &mut dyn Write, meta: &Meta, p: &Packet) -> io::Result<()> {
    let when = meta
        .track(p.track)
        .map(|t| Time::new(p.dts, t.timebase).to_string())
        .unwrap_or_default();
    writeln!(
        out,
        "packet track {} dts {} pts {} ({}) size {}{}{}",
        p.track,
        p.dts.0,
        p.pts().0,
        when,
        p.data.len(),
        if p.keyframe { " key" } else { "" },
        p.pos.map(|o| format!(" offset {o}")).unwrap_or_default()
    )
}

/// Hex dump, `width` bytes per line, each line starting with its offset in `data`.
pub fn hex_dump(out: &mut dyn Write, data: &[u8], width: usize) -> io::Result<()> {
    for (i, chunk) in data.chunks(width.max(1)).enumerate() {
        let mut line = format!("  {:08x} ", i * width);
        for b in chunk {
            line.push_str(&format!(" {b:02x}"));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}
