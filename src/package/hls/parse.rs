//! Reading HLS playlists (RFC 8216 §4) into their tags, with the syntax rules checked as it
//! goes: each broken rule is a [`Problem`] at a line, so `mist analyse --validate` can list
//! them. Unknown tags are ignored, as §4.1 asks of clients.

/// Most lines read from one playlist.
pub const MAX_LINES: usize = 1_000_000;

/// A broken rule, at a 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Line number (1-based; 0 for the playlist as a whole).
    pub line: usize,
    /// True for a MUST of the RFC, false for a SHOULD or an oddity.
    pub error: bool,
    /// What is wrong.
    pub message: String,
}

/// A master or a media playlist.
#[derive(Clone, Debug, PartialEq)]
pub enum Playlist {
    /// Variants and renditions.
    Master(Master),
    /// Segments.
    Media(Media),
}

/// A master playlist (§4.3.4).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Master {
    /// `EXT-X-VERSION`.
    pub version: Option<u64>,
    /// `EXT-X-STREAM-INF` entries.
    pub variants: Vec<StreamInf>,
    /// `EXT-X-MEDIA` entries.
    pub renditions: Vec<Attributes>,
}

/// One `EXT-X-STREAM-INF` and its URI.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamInf {
    /// Line of the tag.
    pub line: usize,
    /// Its attributes.
    pub attributes: Attributes,
    /// The URI line after it.
    pub uri: String,
}

/// A media playlist (§4.3.3).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Media {
    /// `EXT-X-VERSION`.
    pub version: Option<u64>,
    /// `EXT-X-TARGETDURATION`, seconds.
    pub target_duration: Option<u64>,
    /// `EXT-X-MEDIA-SEQUENCE` (0 when absent).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (0 when absent).
    pub discontinuity_sequence: u64,
    /// `EXT-X-PLAYLIST-TYPE`.
    pub playlist_type: Option<String>,
    /// `EXT-X-ENDLIST` seen.
    pub endlist: bool,
    /// `EXT-X-INDEPENDENT-SEGMENTS` seen.
    pub independent: bool,
    /// The segments.
    pub segments: Vec<MediaSegment>,
}

/// One media segment of a media playlist.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MediaSegment {
    /// Line of its `EXTINF`.
    pub line: usize,
    /// `EXTINF` duration in ms (exact to the millisecond).
    pub duration_ms: i64,
    /// Its URI.
    pub uri: String,
    /// Preceded by `EXT-X-DISCONTINUITY`.
    pub discontinuity: bool,
    /// `EXT-X-PROGRAM-DATE-TIME` given for it.
    pub program_date_time: Option<String>,
    /// URI of the `EXT-X-MAP` in force.
    pub map: Option<String>,
    /// Its media sequence number.
    pub number: u64,
}

/// An attribute list (§4.2), in order; quoted strings without their quotes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes(pub Vec<(String, String)>);

impl Attributes {
    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Parses `A=1,B="x,y",C=0x1F`; `None` when the list is malformed.
    pub fn parse(s: &str) -> Option<Attributes> {
        let mut out = Vec::new();
        let mut rest = s.trim();
        while !rest.is_empty() {
            let (name, after) = rest.split_once('=')?;
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
            {
                return None;
            }
            let (value, tail) = if let Some(q) = after.strip_prefix('"') {
                let end = q.find('"')?;
                (&q[..end], &q[end + 1..])
            } else {
                match after.find(',') {
                    Some(i) => (&after[..i], &after[i..]),
                    None => (after, ""),
                }
            };
            out.push((name.to_string(), value.to_string()));
            rest = match tail.strip_prefix(',') {
                Some(t) => t,
                None if tail.is_empty() => "",
                None => return None,
            };
        }
        Some(Attributes(out))
    }
}

/// A decimal number of seconds (`2`, `2.0`, `2.56`, `2.5555`) in ms, rounded to nearest.
pub fn parse_seconds_ms(s: &str) -> Option<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 20 {
        return None;
    }
    let mut ms: i64 = int.parse::<i64>().ok()?.checked_mul(1000)?;
    let digits: Vec<i64> = frac.bytes().map(|b| i64::from(b - b'0')).collect();
    for (i, d) in digits.iter().take(3).enumerate() {
        ms += d * 10_i64.pow(2 - i as u32);
    }
    if digits.get(3).is_some_and(|d| *d >= 5) {
        ms += 1;
    }
    Some(ms)
}

fn decimal_integer(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Reads a playlist. `None` when it is not one at all (no `#EXTM3U` first); problems found on
/// the way are returned either way.
pub fn parse(text: &str) -> (Option<Playlist>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut bad = |line: usize, error: bool, message: String| {
        problems.push(Problem {
            line,
            error,
            message,
        })
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().take(MAX_LINES);
    match lines.next() {
        Some((_, l)) if l.trim_end() == "#EXTM3U" => {}
        _ => {
            bad(1, true, "the first line is not #EXTM3U (§4.3.1.1)".into());
            return (None, problems);
        }
    }
    let mut master = Master::default();
    let mut media = Media::default();
    let (mut is_master, mut is_media) = (false, false);
    let mut version: Option<u64> = None;
    let mut pending_inf: Option<(usize, i64)> = None;
    let mut pending_stream: Option<(usize, Attributes)> = None;
    let mut discontinuity = false;
    let mut pdt: Option<String> = None;
    let mut map: Option<String> = None;
    let mut seen_sequence_after_segment = false;
    // Low-latency HLS (draft-pantos-hls-rfc8216bis): PART-TARGET, hold-backs, parts seen.
    let mut part_target: Option<i64> = None;
    let mut part_hold_back: Option<(usize, i64)> = None;
    let mut hold_back: Option<(usize, i64)> = None;
    let mut parts: Vec<(usize, i64)> = Vec::new();
    let mut number: u64 = 0;
    let mut media_sequence_seen = false;
    for (i, raw) in lines {
        let n = i + 1;
        let line = raw.trim_end();
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('#') {
            // A URI.
            if let Some((l, attributes)) = pending_stream.take() {
                master.variants.push(StreamInf {
                    line: l,
                    attributes,
                    uri: line.to_string(),
                });
            } else if let Some((l, ms)) = pending_inf.take() {
                media.segments.push(MediaSegment {
                    line: l,
                    duration_ms: ms,
                    uri: line.to_string(),
                    discontinuity,
                    program_date_time: pdt.take(),
                    map: map.clone(),
                    number,
                });
                number = number.saturating_add(1);
                discontinuity = false;
            } else {
                bad(
                    n,
                    true,
                    format!(
                        "URI line '{line}' without EXTINF or EXT-X-STREAM-INF before it (§4.3.2.1)"
                    ),
                );
            }
            continue;
        }
        if !line.starts_with("#EXT") {
            continue; // a comment
        }
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        if pending_stream.is_some() {
            bad(
                n,
                true,
                "EXT-X-STREAM-INF is not followed by its URI (§4.3.4.2)".into(),
            );
            pending_stream = None;
        }
        match tag {
            "#EXT-X-VERSION" => {
                if version.is_some() {
                    bad(n, true, "more than one EXT-X-VERSION (§4.3.1.2)".into());
                }
                match decimal_integer(value) {
                    Some(v) => version = Some(v),
                    None => bad(
                        n,
                        true,
                        format!("EXT-X-VERSION '{value}' is not an integer"),
                    ),
                }
            }
            "#EXTINF" => {
                is_media = true;
                let dur = value.split_once(',').map_or(value, |(d, _)| d).trim();
                match parse_seconds_ms(dur) {
                    Some(ms) => {
                        if dur.contains('.') && version.unwrap_or(1) < 3 {
                            bad(
                                n,
                                true,
                                "decimal EXTINF needs EXT-X-VERSION 3 or higher (§7)".into(),
                            );
                        }
                        if pending_inf.is_some() {
                            bad(
                                n,
                                true,
                                "EXTINF without a URI before the next EXTINF (§4.3.2.1)".into(),
                            );
                        }
                        pending_inf = Some((n, ms));
                    }
                    None => bad(
                        n,
                        true,
                        format!("EXTINF duration '{dur}' is not a decimal number"),
                    ),
                }
            }
            "#EXT-X-TARGETDURATION" => {
                is_media = true;
                if !media.segments.is_empty() || pending_inf.is_some() {
                    bad(
                        n,
                        true,
                        "EXT-X-TARGETDURATION after the first segment (§4.3.3)".into(),
                    );
                }
                match decimal_integer(value) {
                    Some(v) => media.target_duration = Some(v),
                    None => bad(
                        n,
                        true,
                        format!("EXT-X-TARGETDURATION '{value}' is not an integer"),
                    ),
                }
            }
            "#EXT-X-MEDIA-SEQUENCE" => {
                is_media = true;
                if !media.segments.is_empty() || pending_inf.is_some() {
                    seen_sequence_after_segment = true;
                }
                match decimal_integer(value) {
                    Some(v) => {
                        media.media_sequence = v;
                        number = v;
                        media_sequence_seen = true;
                    }
                    None => bad(
                        n,
                        true,
                        format!("EXT-X-MEDIA-SEQUENCE '{value}' is not an integer"),
                    ),
                }
            }
            "#EXT-X-DISCONTINUITY-SEQUENCE" => {
                is_media = true;
                if !media.segments.is_empty() || pending_inf.is_some() {
                    bad(
                        n,
                        true,
                        "EXT-X-DISCONTINUITY-SEQUENCE after the first segment (§4.3.3.3)".into(),
                    );
                }
                match decimal_integer(value) {
                    Some(v) => media.discontinuity_sequence = v,
                    None => bad(
                        n,
                        true,
                        format!("EXT-X-DISCONTINUITY-SEQUENCE '{value}' is not an integer"),
                    ),
                }
            }
            "#EXT-X-PLAYLIST-TYPE" => {
                is_media = true;
                if value != "VOD" && value != "EVENT" {
                    bad(
                        n,
                        true,
                        format!(
                            "EXT-X-PLAYLIST-TYPE '{value}' is neither VOD nor EVENT (§4.3.3.5)"
                        ),
                    );
                }
                media.playlist_type = Some(value.to_string());
            }
            "#EXT-X-ENDLIST" => {
                is_media = true;
                media.endlist = true;
            }
            "#EXT-X-DISCONTINUITY" => {
                is_media = true;
                discontinuity = true;
            }
            "#EXT-X-PROGRAM-DATE-TIME" => {
                is_media = true;
                pdt = Some(value.to_string());
            }
            "#EXT-X-MAP" => {
                is_media = true;
                match Attributes::parse(value).as_ref().and_then(|a| a.get("URI")) {
                    Some(u) => map = Some(u.to_string()),
                    None => bad(
                        n,
                        true,
                        "EXT-X-MAP without a URI attribute (§4.3.2.5)".into(),
                    ),
                }
                if version.unwrap_or(1) < 6 {
                    bad(
                        n,
                        true,
                        "EXT-X-MAP in a media playlist needs EXT-X-VERSION 6 or higher (§7)".into(),
                    );
                }
            }
            "#EXT-X-INDEPENDENT-SEGMENTS" => media.independent = true,
            "#EXT-X-PART-INF" => {
                is_media = true;
                match Attributes::parse(value)
                    .as_ref()
                    .and_then(|a| a.get("PART-TARGET"))
                    .and_then(parse_seconds_ms)
                {
                    Some(t) => part_target = Some(t),
                    None => bad(
                        n,
                        true,
                        "EXT-X-PART-INF without a PART-TARGET in seconds (§4.4.3.7)".into(),
                    ),
                }
            }
            "#EXT-X-SERVER-CONTROL" => {
                is_media = true;
                match Attributes::parse(value) {
                    Some(a) => {
                        part_hold_back = a
                            .get("PART-HOLD-BACK")
                            .and_then(parse_seconds_ms)
                            .map(|v| (n, v));
                        hold_back = a
                            .get("HOLD-BACK")
                            .and_then(parse_seconds_ms)
                            .map(|v| (n, v));
                    }
                    None => bad(
                        n,
                        true,
                        "EXT-X-SERVER-CONTROL attribute list is malformed (§4.2)".into(),
                    ),
                }
            }
            "#EXT-X-PART" => {
                is_media = true;
                let a = Attributes::parse(value);
                let d = a
                    .as_ref()
                    .and_then(|a| a.get("DURATION"))
                    .and_then(parse_seconds_ms);
                match (&a, d) {
                    (Some(a), Some(d)) if a.get("URI").is_some() => {
                        if a.get("INDEPENDENT").is_some_and(|v| v != "YES") {
                            bad(
                                n,
                                true,
                                "EXT-X-PART INDEPENDENT is not YES (§4.4.4.9)".into(),
                            );
                        }
                        parts.push((n, d));
                    }
                    _ => bad(
                        n,
                        true,
                        "EXT-X-PART without a DURATION and a URI (§4.4.4.9)".into(),
                    ),
                }
            }
            "#EXT-X-PRELOAD-HINT" => {
                is_media = true;
                let ok = Attributes::parse(value).is_some_and(|a| {
                    matches!(a.get("TYPE"), Some("PART" | "MAP")) && a.get("URI").is_some()
                });
                if !ok {
                    bad(
                        n,
                        true,
                        "EXT-X-PRELOAD-HINT needs TYPE=PART or MAP and a URI (§4.4.5.3)".into(),
                    );
                }
            }
            "#EXT-X-STREAM-INF" => {
                is_master = true;
                match Attributes::parse(value) {
                    Some(a) => {
                        match a.get("BANDWIDTH").map(decimal_integer) {
                            Some(Some(_)) => {}
                            Some(None) => bad(
                                n,
                                true,
                                "EXT-X-STREAM-INF BANDWIDTH is not an integer".into(),
                            ),
                            None => bad(
                                n,
                                true,
                                "EXT-X-STREAM-INF without BANDWIDTH (§4.3.4.2)".into(),
                            ),
                        }
                        if a.get("CODECS").is_none() {
                            bad(
                                n,
                                false,
                                "EXT-X-STREAM-INF without CODECS (SHOULD, §4.3.4.2)".into(),
                            );
                        }
                        pending_stream = Some((n, a));
                    }
                    None => bad(
                        n,
                        true,
                        "EXT-X-STREAM-INF attribute list is malformed (§4.2)".into(),
                    ),
                }
            }
            "#EXT-X-MEDIA" => {
                is_master = true;
                match Attributes::parse(value) {
                    Some(a) => {
                        for need in ["TYPE", "GROUP-ID", "NAME"] {
                            if a.get(need).is_none() {
                                bad(n, true, format!("EXT-X-MEDIA without {need} (§4.3.4.1)"));
                            }
                        }
                        master.renditions.push(a);
                    }
                    None => bad(
                        n,
                        true,
                        "EXT-X-MEDIA attribute list is malformed (§4.2)".into(),
                    ),
                }
            }
            _ => {}
        }
    }
    if pending_inf.is_some() {
        bad(0, true, "the last EXTINF has no URI (§4.3.2.1)".into());
    }
    if pending_stream.is_some() {
        bad(
            0,
            true,
            "the last EXT-X-STREAM-INF has no URI (§4.3.4.2)".into(),
        );
    }
    if is_master && is_media {
        bad(
            0,
            true,
            "master and media playlist tags in one playlist (§4.1)".into(),
        );
    }
    if is_master {
        master.version = version;
        return (Some(Playlist::Master(master)), problems);
    }
    media.version = version;
    if seen_sequence_after_segment {
        bad(
            0,
            true,
            "EXT-X-MEDIA-SEQUENCE after the first segment (§4.3.3.2)".into(),
        );
    }
    let _ = media_sequence_seen;
    match media.target_duration {
        None => bad(0, true, "no EXT-X-TARGETDURATION (§4.3.3.1)".into()),
        Some(t) => {
            for s in &media.segments {
                let rounded = (s.duration_ms.max(0) as u64 + 500) / 1000;
                if rounded > t {
                    bad(
                        s.line,
                        true,
                        format!(
                            "EXTINF {} s rounds to {rounded} s, above EXT-X-TARGETDURATION {t} (§4.3.3.1)",
                            super::playlist::seconds(s.duration_ms)
                        ),
                    );
                }
            }
        }
    }
    if !parts.is_empty() {
        match part_target {
            None => bad(
                0,
                true,
                "EXT-X-PART without EXT-X-PART-INF (§4.4.3.7)".into(),
            ),
            Some(t) => {
                for (line, d) in &parts {
                    if *d > t {
                        bad(
                            *line,
                            true,
                            format!(
                                "EXT-X-PART lasts {} s, above PART-TARGET {} s (§4.4.4.9)",
                                super::playlist::seconds(*d),
                                super::playlist::seconds(t)
                            ),
                        );
                    }
                }
            }
        }
    }
    if let Some(t) = part_target {
        match part_hold_back {
            None => bad(
                0,
                true,
                "EXT-X-PART-INF without PART-HOLD-BACK in EXT-X-SERVER-CONTROL (§4.4.3.8)".into(),
            ),
            Some((line, h)) if h < 2 * t => bad(
                line,
                true,
                "PART-HOLD-BACK below twice PART-TARGET (§4.4.3.8)".into(),
            ),
            Some((line, h)) if h < 3 * t => bad(
                line,
                false,
                "PART-HOLD-BACK below three times PART-TARGET (SHOULD, §4.4.3.8)".into(),
            ),
            _ => {}
        }
    }
    if let (Some((line, h)), Some(t)) = (hold_back, media.target_duration) {
        if h < i64::try_from(t).unwrap_or(i64::MAX / 3000) * 3000 {
            bad(
                line,
                true,
                "HOLD-BACK below three target durations (§4.4.3.8)".into(),
            );
        }
    }
    if media.playlist_type.as_deref() == Some("VOD") && !media.endlist {
        bad(
            0,
            false,
            "EXT-X-PLAYLIST-TYPE:VOD without EXT-X-ENDLIST".into(),
        );
    }
    (Some(Playlist::Media(media)), problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_lists_with_quoted_commas() {
        let a = Attributes::parse(
            "BANDWIDTH=1280000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720",
        )
        .unwrap();
        assert_eq!(a.get("BANDWIDTH"), Some("1280000"));
        assert_eq!(a.get("CODECS"), Some("avc1.64001f,mp4a.40.2"));
        assert_eq!(a.get("RESOLUTION"), Some("1280x720"));
        assert!(Attributes::parse("bandwidth=1").is_none());
        assert!(Attributes::parse("A=\"unterminated").is_none());
        assert!(Attributes::parse("A=\"x\"B=1").is_none());
    }

    #[test]
    fn low_latency_rules_of_the_draft() {
        // What mist writes parses clean (its shape: tests of playlist::media_ll).
        let good = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n\
            #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002,HOLD-BACK=6.000\n\
            #EXT-X-PART-INF:PART-TARGET=0.334\n#EXT-X-MEDIA-SEQUENCE:3\n\
            #EXT-X-PART:DURATION=0.320,URI=\"a.0.m4s\",INDEPENDENT=YES\n\
            #EXT-X-PART:DURATION=0.334,URI=\"a.1.m4s\"\n#EXTINF:0.654,\na.m4s\n\
            #EXT-X-PART:DURATION=0.320,URI=\"b.0.m4s\",INDEPENDENT=YES\n\
            #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"b.1.m4s\"\n";
        let (p, problems) = parse(good);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(matches!(p, Some(Playlist::Media(_))));
        let broken = |from: &str, to: &str| -> Vec<String> {
            parse(&good.replace(from, to))
                .1
                .into_iter()
                .filter(|p| p.error)
                .map(|p| p.message)
                .collect()
        };
        for (from, to, want) in [
            ("DURATION=0.334", "DURATION=0.340", "above PART-TARGET"),
            (
                "#EXT-X-PART-INF:PART-TARGET=0.334\n",
                "",
                "without EXT-X-PART-INF",
            ),
            (
                "PART-HOLD-BACK=1.002",
                "PART-HOLD-BACK=0.600",
                "below twice",
            ),
            (
                "HOLD-BACK=6.000",
                "HOLD-BACK=4.000",
                "three target durations",
            ),
            (",URI=\"a.1.m4s\"", "", "DURATION and a URI"),
            ("TYPE=PART", "TYPE=SEGMENT", "PRELOAD-HINT"),
            (
                "INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.334",
                "INDEPENDENT=NO\n#EXT-X-PART:DURATION=0.334",
                "INDEPENDENT",
            ),
        ] {
            let got = broken(from, to);
            assert!(got.iter().any(|m| m.contains(want)), "{want}: {got:?}");
        }
    }

    #[test]
    fn seconds_exactly() {
        assert_eq!(parse_seconds_ms("2"), Some(2000));
        assert_eq!(parse_seconds_ms("2.56"), Some(2560));
        assert_eq!(parse_seconds_ms("9.009"), Some(9009));
        assert_eq!(parse_seconds_ms("2.0005"), Some(2001));
        assert_eq!(parse_seconds_ms("-1"), None);
        assert_eq!(parse_seconds_ms("1e3"), None);
    }

    #[test]
    fn rfc_8216_section_8_examples_parse_clean() {
        // §8.1 simple media playlist.
        let (p, probs) = parse(
            "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-VERSION:3\n#EXTINF:9.009,\n\
             http://media.example.com/first.ts\n#EXTINF:9.009,\nhttp://media.example.com/second.ts\n\
             #EXTINF:3.003,\nhttp://media.example.com/third.ts\n#EXT-X-ENDLIST\n",
        );
        assert!(probs.is_empty(), "{probs:?}");
        let Some(Playlist::Media(m)) = p else {
            panic!()
        };
        assert_eq!(m.segments.len(), 3);
        assert_eq!(m.segments[2].duration_ms, 3003);
        assert!(m.endlist);
        // §8.4 master playlist.
        let (p, probs) = parse(
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1280000,AVERAGE-BANDWIDTH=1000000\n\
             http://example.com/low.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2560000,AVERAGE-BANDWIDTH=2000000\n\
             http://example.com/mid.m3u8\n",
        );
        // The example has no CODECS: a SHOULD, so warnings only.
        assert!(probs.iter().all(|p| !p.error), "{probs:?}");
        let Some(Playlist::Master(m)) = p else {
            panic!()
        };
        assert_eq!(m.variants.len(), 2);
        assert_eq!(m.variants[1].uri, "http://example.com/mid.m3u8");
    }

    #[test]
    fn broken_rules_are_reported_with_lines() {
        let (_, probs) = parse(
            "#EXTM3U\n#EXT-X-VERSION:2\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.6,\na.ts\n\
             #EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:1,\n",
        );
        let msgs: Vec<(usize, &str)> = probs.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert!(
            msgs.iter().any(|(l, m)| *l == 4 && m.contains("VERSION 3")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|(l, m)| *l == 4 && m.contains("above EXT-X-TARGETDURATION")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|(_, m)| m.contains("MEDIA-SEQUENCE after")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|(l, m)| *l == 7 && m.contains("VERSION 6")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter()
                .any(|(_, m)| m.contains("last EXTINF has no URI")),
            "{msgs:?}"
        );
        let (p, probs) = parse("not a playlist");
        assert!(p.is_none());
        assert_eq!(probs.len(), 1);
    }
}
