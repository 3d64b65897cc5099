//! Segmented outputs over HTTP: `/hls/STREAM/...` (HLS with MPEG-TS segments),
//! `/cmaf/STREAM/...` (HLS version 7 with fMP4 segments; `/cmaf/STREAM/Manifest` and its
//! fragments are Smooth Streaming), `/dynamic/STREAM/...` (HDS) and `/smooth/STREAM.ism/...`
//! (Smooth Streaming), MistServer's paths. Playlists, manifests and segments come from
//! `package/`; this module finds the stream, keeps what was built, and answers with the
//! headers caches need.
//!
//! HDS and Smooth live streams are served by [`fragments`] (their fragments need no muxer
//! state from one to the next); HLS by [`live`].
//!
//! - Live ([`live`]): per stream and packaging, segments are built once (in order, per
//!   variant, by one segmenter) and kept as shared `Bytes` while they are in the DVR window;
//!   playlists are rebuilt only when the hub's segment list changes. A segment outside the
//!   window or not complete yet is 404.
//! - Files ([`vod`]): the very remux `mist remux IN DIR/ --to hls` runs, once, into a cache
//!   folder (bounded, least recently used first out, removed at shutdown), then served as
//!   static files.
//!
//! Caching: segments `public, max-age=…, immutable` (a day for files, the DVR window live),
//! live playlists `max-age=1`, file playlists a day; `ETag` on everything, `Last-Modified` for
//! files, `Content-Length`, single `Range`s (206/416) and `If-None-Match` (304).

pub mod fragments;
pub mod live;
pub mod vod;

use std::net::SocketAddr;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::query::percent_decode;
use super::{full, hub_error, not_found, status, Body};
use crate::package::hls::{self, PLAYLIST_MIME};
use crate::package::{hds, smooth, Packaging};
use crate::serve::hub::Lookup;
use crate::serve::Shared;

pub use fragments::FragmentStates;
pub use live::{Block, LiveStates};
pub use vod::VodCache;

/// Longest path piece (stream name, variant or file name) accepted.
const MAX_PIECE: usize = 128;
/// `max-age` of file segments and playlists, in seconds (a day).
pub const VOD_MAX_AGE: u64 = 86_400;

/// What the segmented outputs keep between requests.
#[derive(Debug, Default)]
pub struct Registry {
    /// Live streams' built segments and playlists.
    pub live: LiveStates,
    /// Live streams' HDS and Smooth fragments and manifests.
    pub fragments: FragmentStates,
    /// Files packaged on demand.
    pub vod: VodCache,
}

impl Registry {
    /// Removes the file cache (server shutdown).
    pub fn shutdown(&self) {
        self.vod.remove_all();
    }
}

/// The packaging a URL prefix (`hls`, `cmaf`) serves.
pub fn packaging_for(prefix: &str) -> Option<Packaging> {
    match prefix {
        "hls" => Some(Packaging::HlsTs),
        "cmaf" => Some(Packaging::HlsFmp4),
        "dynamic" => Some(Packaging::Hds),
        "smooth" => Some(Packaging::Smooth),
        _ => None,
    }
}

/// A piece of a path as packaged folders name things: letters, digits, `_`, `-`, `.`, not
/// `.`/`..`.
fn plain(piece: &str) -> bool {
    !piece.is_empty()
        && piece.len() <= MAX_PIECE
        && piece != "."
        && piece != ".."
        && piece
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// How a response may be cached.
#[derive(Clone, Debug)]
pub struct Caching {
    /// `Cache-Control`.
    pub control: String,
    /// `ETag` (quoted).
    pub etag: String,
    /// `Last-Modified`, when known.
    pub modified: Option<String>,
}

/// True for the files of a packaged folder that list others (playlists, manifests,
/// bootstraps): long-lived for files, but not immutable.
pub fn is_manifest(name: &str) -> bool {
    name.ends_with(".m3u8")
        || name == hds::MANIFEST
        || name.ends_with(".abst")
        || name == smooth::MANIFEST
}

/// The MIME type of a packaged file, by its name.
pub fn mime_of(name: &str) -> &'static str {
    if name.ends_with(".m3u8") {
        PLAYLIST_MIME
    } else if name == hds::MANIFEST {
        hds::MANIFEST_MIME
    } else if name.ends_with(".abst") {
        hds::BOOTSTRAP_MIME
    } else if matches!(hds::parse_name(name), Some(hds::Request::Fragment(..))) {
        hds::FRAGMENT_MIME
    } else if name == smooth::MANIFEST {
        smooth::MANIFEST_MIME
    } else if name.starts_with("Fragments(") {
        smooth::FRAGMENT_MIME
    } else if name.ends_with(".mpd") {
        crate::package::dash::MPD_MIME
    } else if name.ends_with(".ts") {
        "video/mp2t"
    } else if name.ends_with(".m4s") || name.ends_with(".mp4") {
        "video/mp4"
    } else {
        "application/octet-stream"
    }
}

/// Answers `/PREFIX/STREAM/REST` (`rest` still percent-encoded).
pub async fn handle(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    shared: &Shared,
    _peer: SocketAddr,
    packaging: Packaging,
    rest: &str,
) -> Response<Body> {
    let mut pieces = rest.split('/');
    let Some(raw_name) = pieces.next() else {
        return not_found();
    };
    let mut name = percent_decode(raw_name, false);
    let mut packaging = packaging;
    if packaging == Packaging::Smooth {
        // `/smooth/STREAM.ism/...`.
        match name.strip_suffix(".ism") {
            Some(n) => name = n.to_string(),
            None => return not_found(),
        }
    }
    // Smooth pieces hold `(`, `)` and `=`; a client may have escaped them.
    let decoded: Vec<String> = pieces.map(|p| percent_decode(p, false)).collect();
    let path: Vec<&str> = decoded.iter().map(String::as_str).collect();
    if packaging == Packaging::HlsFmp4 && smooth::parse_name(&path).is_some() {
        packaging = Packaging::Smooth;
    }
    let valid = match packaging {
        Packaging::Smooth => smooth::parse_name(&path).is_some(),
        Packaging::Hds => path.len() == 1 && hds::parse_name(path[0]).is_some(),
        _ => !path.is_empty() && path.len() <= 2 && path.iter().all(|p| plain(p)),
    };
    if name.is_empty() || !valid {
        return not_found();
    }
    let hub = &shared.hub;
    match hub.lookup(&name) {
        Err(e) => hub_error(&e),
        Ok(Lookup::Live(_, stream)) if matches!(packaging, Packaging::Hds | Packaging::Smooth) => {
            let state = shared
                .segmented
                .fragments
                .state(&name, packaging, &stream, hub.started());
            match state.answer(&path) {
                Some((bytes, mime, caching)) => respond(method, headers, bytes, mime, &caching),
                None => not_found(),
            }
        }
        Ok(Lookup::Live(_, stream)) => {
            let state = shared
                .segmented
                .live
                .state(&name, packaging, &stream, hub.started());
            let directives = match directives(query) {
                Ok(d) => d,
                Err(why) => return status(StatusCode::BAD_REQUEST, &format!("{why}\n")),
            };
            // Blocking playlist reload (LL-HLS): wait until the playlist holds what was asked,
            // at most three target durations (draft-pantos-hls-rfc8216bis §6.2.5.2).
            if let (Some((msn, part)), [variant, p]) = (directives, path.as_slice()) {
                if *p == hls::PLAYLIST && packaging == Packaging::HlsFmp4 {
                    let deadline = tokio::time::Instant::now()
                        + std::time::Duration::from_millis(3 * state.target_ms());
                    loop {
                        let changed = stream.changed();
                        match state.block(variant, msn, part) {
                            Block::Ready => break,
                            Block::TooFar => {
                                return status(
                                    StatusCode::BAD_REQUEST,
                                    "_HLS_msn/_HLS_part too far ahead of the playlist\n",
                                )
                            }
                            Block::Unknown => return not_found(),
                            Block::Wait => {}
                        }
                        if tokio::time::timeout_at(deadline, changed).await.is_err() {
                            return status(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "the playlist did not get there in three target durations\n",
                            );
                        }
                    }
                }
            }
            // A part not complete yet that the playlist hinted: held until it is (§6.2.6),
            // within the same bound.
            let deadline = tokio::time::Instant::now()
                + std::time::Duration::from_millis(3 * state.target_ms());
            loop {
                let changed = stream.changed();
                if let Some((bytes, mime, caching)) = state.answer(&path) {
                    return respond(method, headers, bytes, mime, &caching);
                }
                let waits = match path.as_slice() {
                    [variant, file] => state.part_may_come(variant, file),
                    _ => false,
                };
                if !waits || tokio::time::timeout_at(deadline, changed).await.is_err() {
                    return not_found();
                }
            }
        }
        Ok(Lookup::File(_, file)) => {
            let packaging = vod_packaging(packaging, &path, &shared.segmented.vod, &file).await;
            let ready = match shared.segmented.vod.ensure(&file, packaging).await {
                Ok(r) => r,
                Err(e) if e.unsupported => {
                    return status(StatusCode::UNSUPPORTED_MEDIA_TYPE, &format!("{e}\n"));
                }
                Err(e) => {
                    tracing::warn!(file = %file.display(), "{e}");
                    return status(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n"));
                }
            };
            match ready.read(&path).await {
                Some((bytes, caching)) => {
                    let last = path.last().copied().unwrap_or("");
                    respond(method, headers, bytes, mime_of(last), &caching)
                }
                None => not_found(),
            }
        }
    }
}

/// The package a file request under `/cmaf/` reads: the MPD from the DASH one, playlists from
/// the HLS one, and init and media segments (the same bytes under the same names in both)
/// from whichever is ready, so a player of either does not package the file twice.
async fn vod_packaging(
    packaging: Packaging,
    path: &[&str],
    vod: &VodCache,
    file: &std::path::Path,
) -> Packaging {
    if !packaging.cmaf() {
        return packaging;
    }
    let last = path.last().copied().unwrap_or("");
    if last == crate::package::dash::MPD {
        Packaging::Dash
    } else if last.ends_with(".m3u8") {
        Packaging::HlsFmp4
    } else if !vod.is_ready(file, Packaging::HlsFmp4).await
        && vod.is_ready(file, Packaging::Dash).await
    {
        Packaging::Dash
    } else {
        Packaging::HlsFmp4
    }
}

/// LL-HLS delivery directives of a playlist request: `_HLS_msn` (a media sequence number)
/// with an optional `_HLS_part`; `Err` for values that are not decimal integers in range, or
/// a part without a sequence number (§6.2.5.2: 400). `_HLS_skip` is not offered, so ignored.
pub fn directives(query: Option<&str>) -> Result<Option<(u64, Option<u32>)>, &'static str> {
    let mut msn = None;
    let mut part = None;
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let digits = !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit());
        match k {
            "_HLS_msn" => {
                msn = Some(
                    v.parse::<u64>()
                        .ok()
                        .filter(|_| digits)
                        .ok_or("_HLS_msn is not a decimal integer")?,
                )
            }
            "_HLS_part" => {
                part = Some(
                    v.parse::<u32>()
                        .ok()
                        .filter(|_| digits)
                        .ok_or("_HLS_part is not a decimal integer")?,
                )
            }
            _ => {}
        }
    }
    match (msn, part) {
        (None, Some(_)) => Err("_HLS_part without _HLS_msn"),
        (None, None) => Ok(None),
        (Some(m), p) => Ok(Some((m, p))),
    }
}

/// A `Range:` that no byte of the body satisfies (416).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A byte range asked for by `Range:` against a body of `len` bytes: `Ok(None)` for the
/// whole body (no header, or one this server does not honour, such as several ranges),
/// `Err` when it cannot be satisfied.
pub fn range(value: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(v) = value else { return Ok(None) };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let num = |s: &str| -> Result<u64, Unsatisfiable> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Unsatisfiable);
        }
        s.parse().map_err(|_| Unsatisfiable)
    };
    let (start, end) = if a.is_empty() {
        // The last `b` bytes.
        let n = num(b)?;
        if n == 0 || len == 0 {
            return Err(Unsatisfiable);
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let s = num(a)?;
        let e = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            num(b)?
        };
        if e < s {
            return Err(Unsatisfiable);
        }
        (s, e.min(len.saturating_sub(1)))
    };
    if start >= len {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

/// The response for a whole file `body`, honouring `If-None-Match` and `Range`.
pub fn respond(
    method: &Method,
    headers: &HeaderMap,
    body: Bytes,
    mime: &'static str,
    caching: &Caching,
) -> Response<Body> {
    let len = body.len() as u64;
    let mut b = Response::builder()
        .header(header::CACHE_CONTROL, caching.control.as_str())
        .header(header::ETAG, caching.etag.as_str())
        .header(header::ACCEPT_RANGES, "bytes");
    if let Some(m) = &caching.modified {
        b = b.header(header::LAST_MODIFIED, m.as_str());
    }
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == caching.etag)
        });
    if matches {
        return b
            .status(StatusCode::NOT_MODIFIED)
            .body(full(Bytes::new()))
            .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""));
    }
    b = b.header(header::CONTENT_TYPE, mime);
    let asked = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (code, part) = match range(asked, len) {
        Ok(None) => (StatusCode::OK, body),
        Ok(Some((s, e))) => {
            b = b.header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{len}"));
            (
                StatusCode::PARTIAL_CONTENT,
                body.slice(s as usize..(e + 1) as usize),
            )
        }
        Err(Unsatisfiable) => {
            b = b.header(header::CONTENT_RANGE, format!("bytes */{len}"));
            (StatusCode::RANGE_NOT_SATISFIABLE, Bytes::new())
        }
    };
    let n = part.len();
    let part = if method == Method::HEAD {
        Bytes::new()
    } else {
        part
    };
    let mut resp = b
        .status(code)
        .body(full(part))
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR, ""));
    // A HEAD answer says how long the body would be.
    if let Ok(v) = HeaderValue::from_str(&n.to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, v);
    }
    resp
}

/// A time as an HTTP date (RFC 9110 §5.6.7 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // The playlist writer's ISO 8601 form, re-cut: 1994-11-06T08:49:37.000Z.
    let iso = crate::package::hls::playlist::date_time(secs * 1000);
    let days = secs.div_euclid(86_400);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = WEEKDAYS[days.rem_euclid(7) as usize];
    let month: usize = iso[5..7].parse().unwrap_or(1);
    format!(
        "{wd}, {} {} {} {} GMT",
        &iso[8..10],
        MONTHS[month.clamp(1, 12) - 1],
        &iso[0..4],
        &iso[11..19]
    )
}

/// The segment of `segments` a file name asks for (start, and for TS the end, must match).
pub fn find_segment<'s>(
    packaging: Packaging,
    segments: &'s [crate::package::Segment],
    name: &str,
) -> Option<&'s crate::package::Segment> {
    let (start, end) = hls::parse_segment_name(packaging, name)?;
    let i = segments.partition_point(|s| s.start_ms < start);
    let s = segments.get(i).filter(|s| s.start_ms == start)?;
    match end {
        Some(e) if e != s.end_ms => None,
        _ => Some(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        assert_eq!(range(None, 100), Ok(None));
        assert_eq!(range(Some("bytes=0-9"), 100), Ok(Some((0, 9))));
        assert_eq!(range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(range(Some("bytes=-1000"), 100), Ok(Some((0, 99))));
        assert_eq!(range(Some("bytes=50-1000"), 100), Ok(Some((50, 99))));
        assert_eq!(range(Some("bytes=100-"), 100), Err(Unsatisfiable));
        assert_eq!(range(Some("bytes=9-0"), 100), Err(Unsatisfiable));
        assert_eq!(range(Some("bytes=x-1"), 100), Err(Unsatisfiable));
        assert_eq!(
            range(Some("bytes=99999999999999999999-"), 100),
            Err(Unsatisfiable)
        );
        assert_eq!(range(Some("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(range(Some("items=0-1"), 100), Ok(None));
    }

    #[test]
    fn http_dates() {
        // RFC 9110's example: 784111777 = Sun, 06 Nov 1994 08:49:37 GMT.
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            http_date(std::time::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    #[test]
    fn ll_hls_directives_parse_strictly() {
        assert_eq!(directives(None), Ok(None));
        assert_eq!(directives(Some("a=1&b")), Ok(None));
        assert_eq!(directives(Some("_HLS_msn=12")), Ok(Some((12, None))));
        assert_eq!(
            directives(Some("_HLS_msn=12&_HLS_part=3")),
            Ok(Some((12, Some(3))))
        );
        assert_eq!(
            directives(Some("_HLS_msn=18446744073709551615")),
            Ok(Some((u64::MAX, None)))
        );
        for bad in [
            "_HLS_msn=",
            "_HLS_msn=-1",
            "_HLS_msn=1.5",
            "_HLS_msn=+3",
            "_HLS_msn=18446744073709551616",
            "_HLS_msn=x",
            "_HLS_msn=1&_HLS_part=4294967296",
            "_HLS_msn=1&_HLS_part=-1",
            "_HLS_part=1",
        ] {
            assert!(directives(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_plain_pieces() {
        for ok in ["index.m3u8", "1_2", "0_2000.ts", "chunk_40.m4s"] {
            assert!(plain(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a%2fb", "x y", "\u{e9}"] {
            assert!(!plain(bad), "{bad}");
        }
    }
}
