//! Publish and play names → stream names, by MistServer's rules (`output_rtmp.cpp`,
//! `Util::sanitizeName`):
//!
//! 1. the name is URL-decoded;
//! 2. everything from `?` on is parameters, not name;
//! 3. anything from a further `/` on is dropped;
//! 4. a short prefix before `:` is a type: `mp4:movie` becomes `movie.mp4`, and `mp4:movie.mp4`
//!    stays `movie.mp4` (FFmpeg adds `mp4:` itself when a URL ends in `.mp4`);
//! 5. sanitised by [`crate::serve::names::StreamName`], the one sanitiser the hub, the config
//!    and the URLs share: only `[a-z0-9_.-]` kept, letters lowercased; the part after the
//!    first `+` (or space) is a wildcard, kept as written unless it could escape a folder.
//!
//! So `ffmpeg ... rtmp://host/live/test` publishes stream `test`, and the application name
//! (`live`) only matters as a password candidate (`push://HOST@PASSWORD`).

/// Prefixes before `:` shorter than this are types (`mp4:`, `flv:`, `mp3:`).
const MAX_TYPE_PREFIX: usize = 6;

/// A name from `publish` or `play`, as sent and as a stream name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamName {
    /// Exactly as the client sent it.
    pub raw: String,
    /// After rules 1–4, not yet sanitised: what the hub is asked for (it sanitises).
    pub rewritten: String,
    /// The sanitised stream name (empty when nothing usable was left).
    pub name: String,
    /// What followed `?` (URL-decoded), if anything.
    pub params: Option<String>,
    /// The name before `?`, URL-decoded but not sanitised: what a stream key is matched
    /// against.
    pub key: String,
}

impl StreamName {
    /// Applies the rules above to a publish or play name.
    pub fn from_rtmp(raw: &str) -> StreamName {
        let decoded = url_decode(raw);
        let (key, params) = match decoded.split_once('?') {
            Some((k, p)) => (k.to_string(), Some(p.to_string())),
            None => (decoded.clone(), None),
        };
        let mut name = key.as_str();
        if let Some(slash) = name.find('/') {
            name = &name[..slash];
        }
        let typed = match name.find(':') {
            Some(colon) if colon < MAX_TYPE_PREFIX => {
                let (kind, rest) = (&name[..colon], &name[colon + 1..]);
                let suffix = format!(".{kind}");
                if rest.len() > suffix.len() && rest.ends_with(&suffix) {
                    rest.to_string()
                } else {
                    format!("{rest}{suffix}")
                }
            }
            _ => name.to_string(),
        };
        StreamName {
            raw: raw.to_string(),
            name: crate::serve::names::StreamName::parse(&typed)
                .map(|n| n.to_string())
                .unwrap_or_default(),
            rewritten: typed,
            params,
            key,
        }
    }
}

/// `%XX` decoding; a `%` not followed by two hex digits stays as it is. Invalid UTF-8 after
/// decoding is replaced (names are text).
pub fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> String {
        StreamName::from_rtmp(s).name
    }

    #[test]
    fn mistserver_rules() {
        assert_eq!(name("test"), "test");
        assert_eq!(name("Test_1?key=abc"), "test_1");
        assert_eq!(
            StreamName::from_rtmp("x?key=abc").params.as_deref(),
            Some("key=abc")
        );
        assert_eq!(name("mp4:movie"), "movie.mp4");
        assert_eq!(name("mp4:movie.mp4"), "movie.mp4");
        assert_eq!(name("flv:clip"), "clip.flv");
        assert_eq!(name("cam/extra/parts"), "cam");
        assert_eq!(name("My%20Cam"), "my+Cam");
        assert_eq!(name("live+Cam 1"), "live+Cam 1");
        assert_eq!(name("a!b@c#d"), "abcd");
        // Cut at the first `/`: what is left is dots, a name and never a path.
        assert_eq!(name("../../etc/passwd"), "..");
        assert_eq!(name("nul\0here"), "nulhere");
        assert_eq!(
            name("live+nul\0here"),
            "",
            "a wildcard with a NUL is refused"
        );
        assert_eq!(name("verylongprefix:x"), "verylongprefixx");
        assert_eq!(
            name(&"a".repeat(1000)).len(),
            crate::serve::names::MAX_BASE_LEN
        );
        assert_eq!(name(""), "");
    }

    #[test]
    fn key_is_the_name_before_params_unsanitised() {
        let n = StreamName::from_rtmp("Secret-Key_9?x=1");
        assert_eq!(n.key, "Secret-Key_9");
        assert_eq!(
            StreamName::from_rtmp("mp4:Dir%2FMovie/x?y").rewritten,
            "Dir.mp4"
        );
        assert_eq!(n.name, "secret-key_9");
    }

    #[test]
    fn url_decode_leaves_broken_escapes() {
        assert_eq!(url_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(url_decode("%"), "%");
    }
}
