//! `--tracks`: which tracks a conversion keeps.
//!
//! A comma-separated list; a track is kept when any item matches it:
//! a number (track id), `video`/`v`, `audio`/`a`, `meta`/`m`, `subtitle`/`s`, a codec name
//! (`h264`, `aac`), or `all`/`*`. Items starting with `-` remove what they match instead
//! (`all,-meta`). Default: every track.

use std::fmt;

use crate::dtsc::{Track, TrackKind};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    All,
    Id(u32),
    Kind(TrackKind),
    Codec(String),
}

impl Item {
    fn matches(&self, t: &Track) -> bool {
        match self {
            Item::All => true,
            Item::Id(i) => t.id.0 == *i,
            Item::Kind(k) => t.kind == *k,
            Item::Codec(c) => t.codec.ffprobe_name().eq_ignore_ascii_case(c),
        }
    }
}

/// A parsed `--tracks` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// (keep, item, the word as the user wrote it).
    items: Vec<(bool, Item, String)>,
    implicit: bool,
}

impl Default for Selection {
    /// Every track, chosen by default rather than by the user: tracks the output cannot carry
    /// are then left out instead of failing the conversion.
    fn default() -> Self {
        Selection {
            items: vec![(true, Item::All, "all".into())],
            implicit: true,
        }
    }
}

/// A `--tracks` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSelection(pub String);

impl fmt::Display for BadSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad track selector '{}' (use ids, video, audio, meta, a codec name or all)",
            self.0
        )
    }
}

impl std::error::Error for BadSelection {}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.words())
    }
}

impl Selection {
    /// Parses `1,audio`, `v`, `all,-meta` ...
    pub fn parse(s: &str) -> Result<Selection, BadSelection> {
        let mut items = Vec::new();
        for raw in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let (keep, word) = match raw.strip_prefix('-') {
                Some(w) => (false, w),
                None => (true, raw),
            };
            let item = match word.to_ascii_lowercase().as_str() {
                "all" | "*" => Item::All,
                "video" | "v" => Item::Kind(TrackKind::Video),
                "audio" | "a" => Item::Kind(TrackKind::Audio),
                "meta" | "m" => Item::Kind(TrackKind::Meta),
                "subtitle" | "s" => Item::Kind(TrackKind::Subtitle),
                w if w.bytes().all(|b| b.is_ascii_digit()) => {
                    Item::Id(w.parse().map_err(|_| BadSelection(raw.into()))?)
                }
                // The other names users know the video codecs by.
                "avc" => Item::Codec("h264".into()),
                "h265" => Item::Codec("hevc".into()),
                w if w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
                    Item::Codec(w.to_string())
                }
                _ => return Err(BadSelection(raw.into())),
            };
            items.push((keep, item, raw.to_string()));
        }
        if items.is_empty() {
            return Err(BadSelection(s.into()));
        }
        // A list of only removals starts from everything.
        if items.iter().all(|(k, _, _)| !k) {
            items.insert(0, (true, Item::All, String::new()));
        }
        Ok(Selection {
            items,
            implicit: false,
        })
    }

    /// The selectors as the user wrote them (`all` for the default).
    pub fn words(&self) -> String {
        self.items
            .iter()
            .filter(|(_, _, w)| !w.is_empty())
            .map(|(_, _, w)| w.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// True when the user did not choose (no `--tracks`).
    pub fn is_implicit(&self) -> bool {
        self.implicit
    }

    /// True when `t` is kept: the last matching item decides.
    pub fn keeps(&self, t: &Track) -> bool {
        let mut keep = false;
        for (k, item, _) in &self.items {
            if item.matches(t) {
                keep = *k;
            }
        }
        keep
    }

    /// The selectors that keep something but match none of `tracks`, as the user wrote them
    /// (a misspelt `vidoe`, an id the file does not have), each with a suggestion when one
    /// is close. Removals that match nothing are harmless and not listed.
    pub fn unmatched(&self, tracks: &[Track]) -> Vec<String> {
        self.items
            .iter()
            .filter(|(keep, item, _)| *keep && !tracks.iter().any(|t| item.matches(t)))
            .map(|(_, _, word)| match suggest(word) {
                Some(s) => format!("'{word}' (did you mean '{s}'?)"),
                None => format!("'{word}'"),
            })
            .collect()
    }
}

/// The selector word closest to `word` (at most two edits away), if any.
fn suggest(word: &str) -> Option<&'static str> {
    const WORDS: &[&str] = &[
        "video", "audio", "meta", "subtitle", "all", "h264", "hevc", "aac", "mp3", "mp2", "ac3",
        "opus",
    ];
    let w = word.to_ascii_lowercase();
    WORDS
        .iter()
        .map(|c| (edit_distance(&w, c), *c))
        .filter(|(d, c)| *d > 0 && *d <= 2 && c.len() > 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, with a swap of two neighbours counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Codec, Timebase, TrackId};

    fn tracks() -> Vec<Track> {
        vec![
            Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS),
            Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS),
            Track::new(TrackId(3), TrackKind::Meta, Codec::Json, Timebase::MS),
        ]
    }

    fn kept(sel: &str) -> Vec<u32> {
        let s = Selection::parse(sel).unwrap();
        tracks()
            .iter()
            .filter(|t| s.keeps(t))
            .map(|t| t.id.0)
            .collect()
    }

    #[test]
    fn selectors_by_id_kind_codec_and_exclusion() {
        assert_eq!(kept("all"), vec![1, 2, 3]);
        assert_eq!(kept("v"), vec![1]);
        assert_eq!(kept("2,3"), vec![2, 3]);
        assert_eq!(kept("aac"), vec![2]);
        assert_eq!(kept("-meta"), vec![1, 2]);
        assert_eq!(kept("all,-1"), vec![2, 3]);
        assert!(Selection::parse("").is_err());
        assert!(Selection::parse("vid$eo").is_err());
    }

    #[test]
    fn selectors_that_match_nothing_are_named_with_a_suggestion() {
        let s = Selection::parse("vidoe,2,7,-subtitle,acc,avc").unwrap();
        assert_eq!(
            s.unmatched(&tracks()),
            vec![
                "'vidoe' (did you mean 'video'?)".to_string(),
                "'7'".to_string(),
                "'acc' (did you mean 'aac'?)".to_string(),
            ]
        );
        assert!(Selection::parse("all,-3")
            .unwrap()
            .unmatched(&tracks())
            .is_empty());
        assert_eq!(edit_distance("audoi", "audio"), 1);
        assert_eq!(edit_distance("", "all"), 3);
    }
}
