//! Stream names as MistServer forms them: what a player or publisher asks for becomes a name
//! the hub, the config and the URLs agree on.
//!
//! Rules (MistServer `Util::sanitizeName`): everything after `?` is dropped; in the base part
//! only `[a-z0-9_.-]` is kept, letters lowercased; the part after the first `+` (or space) is
//! the *wildcard*, kept as written. mist is stricter about the wildcard, because it can name a
//! file in a folder source: no path separators, no control characters, no leading dot.

/// Longest base name MistServer keeps.
pub const MAX_BASE_LEN: usize = 100;
/// Longest whole name mist keeps (base + `+` + wildcard).
pub const MAX_NAME_LEN: usize = 255;

/// A sanitised stream name, split into its base and optional wildcard part.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamName {
    full: String,
    base_len: usize,
}

impl StreamName {
    /// Sanitises `raw`; `None` when nothing usable is left (an empty base, or a wildcard that
    /// could escape a folder).
    pub fn parse(raw: &str) -> Option<StreamName> {
        let raw = raw.split('?').next().unwrap_or("");
        let (base_raw, wild_raw) = match raw.find(['+', ' ']) {
            Some(i) => (&raw[..i], Some(&raw[i + 1..])),
            None => (raw, None),
        };
        let base: String = base_raw
            .chars()
            .filter_map(|c| {
                let c = c.to_ascii_lowercase();
                (c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
                    .then_some(c)
            })
            .take(MAX_BASE_LEN)
            .collect();
        if base.is_empty() {
            return None;
        }
        let mut full = base.clone();
        if let Some(w) = wild_raw {
            if w.is_empty()
                || w.starts_with('.')
                || w.chars().any(|c| c.is_control() || matches!(c, '/' | '\\'))
            {
                return None;
            }
            full.push('+');
            full.push_str(w);
            if full.len() > MAX_NAME_LEN {
                return None;
            }
        }
        Some(StreamName {
            base_len: base.len(),
            full,
        })
    }

    /// The whole name (`vod+movie.mp4`).
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The part before `+` (`vod`).
    pub fn base(&self) -> &str {
        &self.full[..self.base_len]
    }

    /// The part after `+` (`movie.mp4`), if any.
    pub fn wildcard(&self) -> Option<&str> {
        self.full.get(self.base_len + 1..)
    }
}

impl std::fmt::Display for StreamName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.full)
    }
}

/// Fills MistServer's source variables: `$stream`, `$basename`, `$wildcard`, `$pluswildcard`.
pub fn expand_source(source: &str, name: &StreamName) -> String {
    let wild = name.wildcard().unwrap_or("");
    let plus = name.wildcard().map(|w| format!("+{w}")).unwrap_or_default();
    source
        .replace("$pluswildcard", &plus)
        .replace("$wildcard", wild)
        .replace("$basename", name.base())
        .replace("$stream", name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistserver_rules() {
        // Examples worked from MistServer's sanitizeName: query dropped, base lowercased and
        // filtered, wildcard kept as written.
        let n = StreamName::parse("Live_Cam-1?key=abc").unwrap();
        assert_eq!(n.as_str(), "live_cam-1");
        let n = StreamName::parse("VOD+Movie File.mp4").unwrap();
        assert_eq!((n.base(), n.wildcard()), ("vod", Some("Movie File.mp4")));
        let n = StreamName::parse("a b").unwrap();
        assert_eq!(n.as_str(), "a+b");
        assert_eq!(
            StreamName::parse("h264_aac.flv").unwrap().as_str(),
            "h264_aac.flv"
        );
        assert_eq!(
            StreamName::parse("st%20ream!").unwrap().as_str(),
            "st20ream"
        );
    }

    #[test]
    fn hostile_names() {
        assert_eq!(StreamName::parse(""), None);
        assert_eq!(StreamName::parse("?x"), None);
        assert_eq!(StreamName::parse("///"), None);
        // `..` survives the base filter as dots only, which is a harmless name, never a path.
        assert_eq!(
            StreamName::parse("../../etc/passwd").unwrap().as_str(),
            "....etcpasswd"
        );
        assert_eq!(StreamName::parse("vod+../x"), None);
        assert_eq!(StreamName::parse("vod+a/b"), None);
        assert_eq!(StreamName::parse("vod+.hidden"), None);
        assert_eq!(StreamName::parse("vod+a\0b"), None);
        let long = "a".repeat(1000);
        assert_eq!(
            StreamName::parse(&long).unwrap().as_str().len(),
            MAX_BASE_LEN
        );
        assert_eq!(StreamName::parse(&format!("v+{long}")), None);
    }

    #[test]
    fn source_variables() {
        let n = StreamName::parse("vod+movie").unwrap();
        assert_eq!(
            expand_source("/media/$wildcard.mp4 $basename $stream [$pluswildcard]", &n),
            "/media/movie.mp4 vod vod+movie [+movie]"
        );
    }
}
