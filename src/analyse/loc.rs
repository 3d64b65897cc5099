//! Where the files of a packaged presentation are read from: a local path, or an `http(s)://`
//! URL fetched whole with the bounded GET of [`crate::io::http`]. The HLS, DASH, HDS and
//! Smooth analysers read playlists, manifests and segments through it, so
//! `mist analyse http://HOST/hls/STREAM/index.m3u8` makes the checks it makes on a folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::io::http;

/// A file, or a URL with the timeout its GETs use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loc {
    /// A local file or folder.
    File(PathBuf),
    /// An `http://` or `https://` URL.
    Url {
        /// The URL.
        url: String,
        /// Connect and read timeout of each GET.
        timeout: Duration,
    },
}

impl Loc {
    /// `input` as the user named it: a URL when it is one, else a path.
    pub fn of(input: &Path, timeout: Duration) -> Loc {
        let s = input.to_string_lossy();
        if http::is_url(&s) {
            Loc::Url {
                url: s.into_owned(),
                timeout,
            }
        } else {
            Loc::File(input.to_path_buf())
        }
    }

    /// A local folder (a URL never is one: it names a file).
    pub fn is_dir(&self) -> bool {
        matches!(self, Loc::File(p) if p.is_dir())
    }

    /// A local file that exists (a URL is not probed: `false`).
    pub fn is_file(&self) -> bool {
        matches!(self, Loc::File(p) if p.is_file())
    }

    /// The last path segment, without a query (`index.m3u8`, `Manifest`).
    pub fn file_name(&self) -> String {
        match self {
            Loc::File(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Loc::Url { url, .. } => {
                let path = url.split(['?', '#']).next().unwrap_or(url);
                let path = path.split_once("://").map_or(path, |(_, r)| r);
                match path.split_once('/') {
                    Some((_, p)) => p.rsplit('/').next().unwrap_or("").to_string(),
                    None => String::new(),
                }
            }
        }
    }

    /// `name` inside the folder `self` is (a path joined, or a URL's path extended).
    pub fn child(&self, name: &str) -> Loc {
        match self {
            Loc::File(p) => Loc::File(p.join(name)),
            Loc::Url { url, timeout } => {
                let base = url.split(['?', '#']).next().unwrap_or(url);
                Loc::Url {
                    url: format!("{}/{name}", base.trim_end_matches('/')),
                    timeout: *timeout,
                }
            }
        }
    }

    /// `uri` relative to the file `self` names. A file's base takes no URI with a scheme or
    /// an absolute path (they cannot be mapped to files: `None`); a query is dropped. A
    /// URL's base resolves anything as a browser would.
    pub fn resolve(&self, uri: &str) -> Option<Loc> {
        match self {
            Loc::File(base) => {
                if uri.contains("://") || uri.starts_with('/') {
                    return None;
                }
                let uri = uri.split(['?', '#']).next().unwrap_or(uri);
                Some(Loc::File(base.parent().unwrap_or(Path::new(".")).join(uri)))
            }
            Loc::Url { url, timeout } => {
                let to = http::join_url(url, uri);
                http::is_url(&to).then_some(Loc::Url {
                    url: to,
                    timeout: *timeout,
                })
            }
        }
    }

    /// The whole content, at most `limit` bytes (more is an error naming the limit).
    pub fn read(&self, limit: u64) -> Result<Vec<u8>, String> {
        match self {
            Loc::File(p) => {
                let md = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
                if md.len() > limit {
                    return Err(format!("{}: larger than {limit} bytes", p.display()));
                }
                std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
            }
            Loc::Url { url, timeout } => {
                http::fetch(url, *timeout, limit).map_err(|e| format!("{url}: {e}"))
            }
        }
    }

    /// How `self` is named relative to the folder of `top` (the presentation's first file),
    /// for messages: `1/index.m3u8` rather than a long path or URL.
    pub fn relative_to(&self, top: &Loc) -> String {
        let dir = |s: &str| match s.rfind('/') {
            Some(i) => s[..=i].to_string(),
            None => String::new(),
        };
        match (self, top) {
            (Loc::File(p), Loc::File(t)) => p
                .strip_prefix(t.parent().unwrap_or(Path::new("")))
                .unwrap_or(p)
                .display()
                .to_string(),
            (Loc::Url { url, .. }, Loc::Url { url: t, .. }) => {
                let base = dir(t.split(['?', '#']).next().unwrap_or(t));
                url.strip_prefix(&base).unwrap_or(url).to_string()
            }
            _ => self.to_string(),
        }
    }
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loc::File(p) => write!(f, "{}", p.display()),
            Loc::Url { url, .. } => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> Loc {
        Loc::Url {
            url: u.into(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn urls_resolve_and_name_themselves_as_a_browser_would() {
        let top = url("http://h:8080/hls/s/index.m3u8?t=1");
        assert_eq!(top.file_name(), "index.m3u8");
        let media = top.resolve("1_2/index.m3u8").unwrap();
        assert_eq!(media, url("http://h:8080/hls/s/1_2/index.m3u8"));
        assert_eq!(media.relative_to(&top), "1_2/index.m3u8");
        assert_eq!(
            media.resolve("../x.ts").unwrap(),
            url("http://h:8080/hls/s/1_2/../x.ts")
        );
        assert_eq!(top.resolve("/a.ts").unwrap(), url("http://h:8080/a.ts"));
        assert_eq!(
            url("http://h/smooth/s.ism").child("Manifest"),
            url("http://h/smooth/s.ism/Manifest")
        );
        assert_eq!(
            url("http://h/smooth/s.ism/Manifest").file_name(),
            "Manifest"
        );
        assert_eq!(url("http://h").file_name(), "");
    }

    #[test]
    fn files_take_relative_uris_only() {
        let top = Loc::File("/d/index.m3u8".into());
        assert_eq!(top.resolve("a/b.ts?x"), Some(Loc::File("/d/a/b.ts".into())));
        assert_eq!(top.resolve("http://h/a.ts"), None);
        assert_eq!(top.resolve("/a.ts"), None);
        assert_eq!(Loc::File("/d/x/1.ts".into()).relative_to(&top), "x/1.ts");
    }
}
