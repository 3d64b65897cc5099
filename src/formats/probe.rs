//! Finding a format: content first (scored probes over the first bytes), the extension as a
//! tie-breaker, and explicit names (`--to`, `--format`) over both.

use std::path::Path;

use super::{Format, FormatSpec, FORMATS};

/// The row for `format`.
pub fn spec(format: Format) -> &'static FormatSpec {
    FORMATS
        .iter()
        .find(|s| s.format == format)
        .expect("every Format has a row in FORMATS")
}

/// The row named `name` (case-insensitive), as `--to` and `--format` take it.
pub fn spec_by_name(name: &str) -> Option<&'static FormatSpec> {
    FORMATS.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

/// The row whose extensions include that of `path`.
pub fn spec_by_extension(path: &Path) -> Option<&'static FormatSpec> {
    let ext = path.extension()?.to_str()?;
    FORMATS
        .iter()
        .find(|s| s.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

/// The best format for an input: highest content score; the extension decides between equal
/// scores, and alone when no probe recognises the bytes.
pub fn detect(head: &[u8], path: Option<&Path>) -> Option<&'static FormatSpec> {
    let by_ext = path.and_then(spec_by_extension);
    let mut best: Option<(&'static FormatSpec, u8)> = None;
    for s in FORMATS {
        let score = (s.probe)(head);
        if score == 0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((b, bs)) => {
                score > bs
                    || (score == bs
                        && by_ext.is_some_and(|e| e.format == s.format)
                        && !by_ext.is_some_and(|e| e.format == b.format))
            }
        };
        if better {
            best = Some((s, score));
        }
    }
    best.map(|(s, _)| s).or(by_ext)
}

/// All format names, for help texts and shell completions.
pub fn names() -> Vec<&'static str> {
    FORMATS.iter().map(|s| s.name).collect()
}
