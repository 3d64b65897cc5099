//! The small text parsers on serve's network edge: HTTP/1.1 request heads, `Range` headers,
//! HTTP dates, query strings, stream names, push targets and RTMP URLs. Never panics, and each
//! answer keeps its promise: a head lies inside the input and is not found in any shorter
//! prefix, a range lies inside the representation, a parsed date prints and parses back to
//! itself, a stream name can never leave a folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::serve::http::query::{percent_decode, Query};
use mist::serve::http::range::{self, RangeAnswer};
use mist::serve::names::{StreamName, MAX_NAME_LEN};
use mist::serve::push::target::{stream_matches, Target};
use mist::serve::rtmp::client::{split_host_port, RtmpUrl};

fuzz_target!(|data: &[u8]| {
    let Some((&len_byte, rest)) = data.split_first() else {
        return;
    };
    if let Ok(Some(h)) = mist::serve::http::h1::parse_request(rest) {
        assert!(h.len > 0 && h.len <= rest.len(), "head of {} bytes", h.len);
        assert!(matches!(
            mist::serve::http::h1::parse_request(&rest[..h.len - 1]),
            Ok(None)
        ));
    }
    let text = String::from_utf8_lossy(rest);
    let len = u64::from(len_byte) * 1000;
    match range::answer(Some(&text), len) {
        RangeAnswer::Part { start, end } => {
            assert!(start < end && end <= len, "{start}..{end} of {len}")
        }
        RangeAnswer::Whole | RangeAnswer::Unsatisfiable => {}
    }
    if let Some(t) = range::parse_http_date(&text) {
        assert_eq!(range::parse_http_date(&range::http_date(t)), Some(t));
    }
    let _ = range::not_modified_since(&text, std::time::SystemTime::UNIX_EPOCH);
    let _ = range::none_match(&text, "\"x\"");
    let _ = Query::parse(Some(&text));
    let _ = percent_decode(&text, true);
    if let Some(n) = StreamName::parse(&text) {
        let s = n.as_str();
        assert!(s.len() <= MAX_NAME_LEN);
        assert!(!s.contains(['/', '\\', '\0']), "name {s:?} can name a path");
        assert!(n.wildcard().is_none_or(|w| !w.starts_with('.')));
    }
    let _ = Target::parse(&text);
    let mid = (0..=text.len() / 2)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let (a, b) = text.split_at(mid);
    let _ = stream_matches(a, b);
    let _ = RtmpUrl::parse(&text);
    let _ = split_host_port(&text, 1935);
});
