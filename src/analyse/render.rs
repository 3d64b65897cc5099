//! Text output of `analyse`: the summary table, packet lines, hex dumps and findings.

use std::io::{self, Write};

use comfy_table::presets::{ASCII_FULL_CONDENSED, UTF8_FULL_CONDENSED};
use comfy_table::{Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};

use crate::dtsc::{Meta, Packet, Time};
use crate::formats::{Finding, Severity};

use super::Report;

/// How the summary table is drawn: to a width (the terminal's), with ASCII or UTF-8 lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStyle {
    /// Wrap the table to this many columns; `None` draws it at its natural width.
    pub width: Option<u16>,
    /// Draw borders with `+-|` instead of box-drawing characters (a terminal whose locale is
    /// not UTF-8 would show those as garbage).
    pub ascii: bool,
}

/// `1 track`, `2 tracks`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `54.9 kB`, `335.2 MB`: a byte count for people (the exact count is in `--json`).
pub fn bytes(n: u64) -> String {
    match n {
        0..=999 => count(n as usize, "byte", "bytes"),
        1000..=999_999 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}

/// `2.026 s`, `1:02.500`, `1:00:00.000`: a duration as people read it.
pub fn duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        format!("{sign}{h}:{m:02}:{s:02}.{frac:03}")
    } else if m > 0 {
        format!("{sign}{m}:{s:02}.{frac:03}")
    } else {
        format!("{sign}{s}.{frac:03} s")
    }
}

/// `142 kbit/s`, `17.9 Mbit/s`.
pub fn bitrate(bps: u64) -> String {
    if bps >= 10_000_000 {
        format!("{:.1} Mbit/s", bps as f64 / 1e6)
    } else {
        format!("{} kbit/s", (bps + 500) / 1000)
    }
}

/// The human summary: one line about the file, the container's own lines, then a table of
/// tracks (video first, then audio, then the rest, each in the file's order).
pub fn summary(r: &Report, style: TableStyle) -> String {
    let mut head = vec![
        r.format.clone(),
        count(r.tracks.len(), "track", "tracks"),
        duration(r.duration_ms),
    ];
    if let Some(size) = r.size {
        head.insert(1, bytes(size));
        if r.duration_ms > 0 {
            head.push(bitrate(size * 8 * 1000 / r.duration_ms as u64));
        }
    }
    let width = style.width.map_or(usize::MAX, usize::from);
    let mut s = wrap(
        &format!("{}: {}", r.file, head.join(", ")),
        width,
        "",
        "    ",
    );
    for l in &r.summary_lines {
        let text = l.trim_start();
        let indent = " ".repeat(2 + l.len() - text.len());
        s.push_str(&wrap(text, width, &indent, &format!("{indent}    ")));
    }
    if !r.tracks.is_empty() {
        let rows = track_rows(r);
        match table(&rows, style) {
            Some(t) => s.push_str(&t),
            None => s.push_str(&list(&rows, width)),
        }
    }
    if let Some(p) = r.problems {
        s.push_str(&format!(
            "{}, {} while reading (--validate lists them)\n",
            count(p.errors as usize, "error", "errors"),
            count(p.warnings as usize, "warning", "warnings")
        ));
    }
    s
}

/// One track's summary as the table's cells: id, type, codec, details, then the numbers
/// (duration, bitrate, keyframe interval when the file has video, packets).
struct Row {
    id: u32,
    kind: String,
    codec: String,
    details: String,
    numbers: Vec<(&'static str, String)>,
}

fn track_rows(r: &Report) -> Vec<Row> {
    let any_video = r.tracks.iter().any(|t| t.kind == "video");
    let rank = |kind: &str| match kind {
        "video" => 0,
        "audio" => 1,
        _ => 2,
    };
    let mut order: Vec<&super::TrackReport> = r.tracks.iter().collect();
    order.sort_by_key(|t| rank(&t.kind));
    order
        .into_iter()
        .map(|tr| {
            let mut details = Vec::new();
            if let (Some(w), Some(h)) = (tr.width, tr.height) {
                details.push(format!("{w}x{h}"));
            }
            if let Some(f) = tr.fps {
                details.push(format!("{} fps", trim_float(f)));
            }
            if let Some(rate) = tr.rate {
                details.push(format!("{rate} Hz"));
            }
            if let Some(c) = tr.channels {
                details.push(channels(c));
            }
            if let Some(p) = &tr.profile {
                details.push(p.clone());
            }
            if let Some(l) = &tr.level {
                details.push(format!("level {l}"));
            }
            if let Some(l) = &tr.lang {
                details.push(format!("language {l}"));
            }
            let mut numbers = vec![
                ("duration", duration(tr.duration_ms)),
                ("bitrate", bitrate(tr.bitrate)),
            ];
            if any_video {
                // Every audio frame is a keyframe: an interval says nothing there.
                let every = match tr.keyframe_interval_ms {
                    Some(k) if tr.kind == "video" => duration(k),
                    _ => String::new(),
                };
                numbers.push(("keys every", every));
            }
            numbers.push(("packets", tr.packets.to_string()));
            Row {
                id: tr.id,
                kind: tr.kind.clone(),
                codec: tr.codec.clone(),
                details: details.join(", "),
                numbers,
            }
        })
        .collect()
}

/// The table, or `None` when it cannot fit `style.width` with only the details column
/// wrapped (at least this many columns wide).
fn table(rows: &[Row], style: TableStyle) -> Option<String> {
    const MIN_DETAILS: u16 = 16;
    let mut t = Table::new();
    t.load_preset(if style.ascii {
        ASCII_FULL_CONDENSED
    } else {
        UTF8_FULL_CONDENSED
    });
    let mut header = vec!["track", "type", "codec", "details"];
    header.extend(rows[0].numbers.iter().map(|(h, _)| *h));
    t.set_header(header);
    for r in rows {
        let mut row = vec![
            Cell::new(r.id).set_alignment(CellAlignment::Right),
            Cell::new(&r.kind),
            Cell::new(&r.codec),
            Cell::new(&r.details),
        ];
        row.extend(
            r.numbers
                .iter()
                .map(|(_, v)| Cell::new(v).set_alignment(CellAlignment::Right)),
        );
        t.add_row(row);
    }
    let text = t.to_string();
    let Some(width) = style.width else {
        return Some(text + "\n");
    };
    if widest(&text) <= usize::from(width) {
        return Some(text + "\n");
    }
    // Only the details column wraps; the numbers stay whole.
    t.set_width(width);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    for (i, c) in t.column_iter_mut().enumerate() {
        c.set_constraint(if i == 3 {
            ColumnConstraint::LowerBoundary(Width::Fixed(MIN_DETAILS))
        } else {
            ColumnConstraint::ContentWidth
        });
    }
    let text = t.to_string();
    (widest(&text) <= usize::from(width)).then(|| text + "\n")
}

/// Tracks as short paragraphs, for terminals too narrow for the table.
fn list(rows: &[Row], width: usize) -> String {
    let mut s = String::new();
    for r in rows {
        let title = format!("track {}: {} {}", r.id, r.kind, r.codec);
        s.push_str(&wrap(&title, width, "", "  "));
        if !r.details.is_empty() {
            s.push_str(&wrap(&r.details, width, "  ", "  "));
        }
        let numbers: Vec<String> = r
            .numbers
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(h, v)| format!("{h} {v}"))
            .collect();
        s.push_str(&wrap(&numbers.join(", "), width, "  ", "  "));
    }
    s
}

/// `text` on lines of at most `width` characters, the first starting with `first`, the others
/// with `rest`. Lines break after a comma where they can (`2.000 s` stays whole), else
/// between words (a longer word gets its own line).
fn wrap(text: &str, width: usize, first: &str, rest: &str) -> String {
    let room = width.saturating_sub(rest.len());
    let pieces: Vec<&str> = text
        .split_inclusive(", ")
        .flat_map(|p| {
            let p = p.trim_end();
            if p.chars().count() > room {
                p.split(' ').collect::<Vec<_>>()
            } else {
                vec![p]
            }
        })
        .collect();
    let mut out = String::new();
    let mut line = String::from(first);
    let mut indent = first.len();
    for word in pieces {
        let len = line.chars().count();
        if len > indent && len + 1 + word.chars().count() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from(rest);
            indent = rest.len();
        }
        if line.len() > indent {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// The longest line, in characters.
fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// `mono`, `stereo`, `5.1`, or `N channels`.
fn channels(n: u32) -> String {
    match n {
        1 => "mono".into(),
        2 => "stereo".into(),
        6 => "5.1".into(),
        8 => "7.1".into(),
        n => format!("{n} channels"),
    }
}

/// `25`, `29.97`: no trailing zeros.
fn trim_float(f: f64) -> String {
    let s = format!("{f:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One line per finding, then a count.
pub fn findings(f: &[Finding]) -> String {
    let mut s = String::new();
    for x in f {
        let sev = match x.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        match x.offset {
            Some(at) => s.push_str(&format!("{sev} at byte {at}: {}\n", x.message)),
            None => s.push_str(&format!("{sev}: {}\n", x.message)),
        }
    }
    let errors = f.iter().filter(|x| x.severity == Severity::Error).count();
    s.push_str(&format!(
        "validation: {}, {}\n",
        count(errors, "error", "errors"),
        count(f.len() - errors, "other finding", "other findings")
    ));
    s
}

/// `packet track 1 dts 33 pts 99 (0.033s) size 4067 key offset 9067`
pub fn packet_line(out: &mut dyn Write, meta: &Meta, p: &Packet) -> io::Result<()> {
    row_line(out, meta, &super::PacketRow::of(p))
}

/// [`packet_line`] for a listing row (a packet known from an index, payload not read).
pub fn row_line(out: &mut dyn Write, meta: &Meta, r: &super::PacketRow) -> io::Result<()> {
    let when = meta
        .track(crate::dtsc::TrackId(r.track))
        .map(|t| Time::new(crate::dtsc::Ticks(r.dts), t.timebase).to_string())
        .unwrap_or_default();
    writeln!(
        out,
        "packet track {} dts {} pts {} ({}) size {}{}{}",
        r.track,
        r.dts,
        r.pts,
        when,
        r.size,
        if r.key { " key" } else { "" },
        r.offset.map(|o| format!(" offset {o}")).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_units() {
        assert_eq!(duration(2026), "2.026 s");
        assert_eq!(duration(62_500), "1:02.500");
        assert_eq!(duration(3_600_000), "1:00:00.000");
        assert_eq!(bytes(1), "1 byte");
        assert_eq!(bytes(54_915), "54.9 kB");
        assert_eq!(bitrate(142_499), "142 kbit/s");
        assert_eq!(bitrate(17_900_000), "17.9 Mbit/s");
        assert_eq!(count(1, "track", "tracks"), "1 track");
        assert_eq!(trim_float(29.97), "29.97");
        assert_eq!(trim_float(25.0), "25");
    }
}
