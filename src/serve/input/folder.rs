//! Files of a folder as streams: a file is found by the sanitised form of its name, and
//! never outside the folder (no separators or dot-files in a wildcard, symlinks resolved and
//! checked).

use std::path::{Path, PathBuf};

use crate::serve::names::StreamName;

/// Media files of `dir` that mist can read, as (stream name, path), sorted by name.
pub fn list(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .filter_map(|e| {
            let file = e.file_name().to_str()?.to_string();
            if file.starts_with('.') || !readable(&file) {
                return None;
            }
            let name = StreamName::parse(&file)?;
            Some((name.as_str().to_string(), e.path()))
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Whether the file's extension is one the format table reads (`.dtsh` indexes are not
/// streams of their own).
fn readable(file: &str) -> bool {
    let Some((_, ext)) = file.rsplit_once('.') else {
        return false;
    };
    let ext = ext.to_ascii_lowercase();
    crate::formats::FORMATS
        .iter()
        .any(|f| f.open.is_some() && f.extensions.contains(&ext.as_str()))
}

/// The file of `dir` whose sanitised name is `name`.
pub fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    list(dir)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, p)| p)
}

/// The file `file` (a wildcard, as written) inside `dir`, if it is a readable file there.
pub fn file_in(dir: &Path, file: &str) -> Option<PathBuf> {
    if file.is_empty() || file.starts_with('.') || file.contains(['/', '\\', '\0']) {
        return None;
    }
    let p = dir.join(file);
    let real = p.canonicalize().ok()?;
    let root = dir.canonicalize().ok()?;
    (real.starts_with(&root) && real.is_file()).then_some(p)
}
