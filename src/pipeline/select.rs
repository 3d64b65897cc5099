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
    items: Vec<(bool, Item)>,
    implicit: bool,
}

impl Default for Selection {
    /// Every track, chosen by default rather than by the user: tracks the output cannot carry
    /// are then left out instead of failing the conversion.
    fn default() -> Self {
        Selection {
            items: vec![(true, Item::All)],
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
                w if w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
                    Item::Codec(w.to_string())
                }
                _ => return Err(BadSelection(raw.into())),
            };
            items.push((keep, item));
        }
        if items.is_empty() {
            return Err(BadSelection(s.into()));
        }
        // A list of only removals starts from everything.
        if items.iter().all(|(k, _)| !k) {
            items.insert(0, (true, Item::All));
        }
        Ok(Selection {
            items,
            implicit: false,
        })
    }

    /// True when the user did not choose (no `--tracks`).
    pub fn is_implicit(&self) -> bool {
        self.implicit
    }

    /// True when `t` is kept: the last matching item decides.
    pub fn keeps(&self, t: &Track) -> bool {
        let mut keep = false;
        for (k, item) in &self.items {
            if item.matches(t) {
                keep = *k;
            }
        }
        keep
    }
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
}
