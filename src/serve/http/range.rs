//! Byte ranges and validators for whole-file responses (RFC 9110 §13, §14): the `Range`
//! header, `If-Range`, `If-None-Match`, `If-Modified-Since`, entity tags and HTTP dates.
//! Sans-IO: headers in, decisions out.
//!
//! One range per request is served. A request for several ranges (`bytes=0-1,5-9`) gets the
//! whole representation with 200, which RFC 9110 §14.2 allows ("a server MAY ignore the
//! Range header"); players ask for one range at a time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No usable range: send everything with 200.
    Whole,
    /// Send bytes `start..end` (end exclusive) with 206.
    Part {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// A well-formed range that selects nothing: 416.
    Unsatisfiable,
}

/// Decides how to answer `header` (the `Range` value, if any) for `len` bytes.
pub fn answer(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(h) = header else {
        return RangeAnswer::Whole;
    };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        // Another unit: ignored (§14.2).
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if a.is_empty() {
        // Suffix: the last N bytes.
        if !digits(b) {
            return RangeAnswer::Whole;
        }
        let Ok(n) = b.parse::<u64>() else {
            // More digits than u64 holds: the whole representation is "the last N".
            return whole_or_empty(len);
        };
        if n == 0 || len == 0 {
            return RangeAnswer::Unsatisfiable;
        }
        return RangeAnswer::Part {
            start: len.saturating_sub(n),
            end: len,
        };
    }
    if !digits(a) || !(b.is_empty() || digits(b)) {
        return RangeAnswer::Whole;
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeAnswer::Unsatisfiable;
    };
    let last = if b.is_empty() {
        u64::MAX
    } else {
        // More digits than u64 holds: past any end.
        b.parse::<u64>().unwrap_or(u64::MAX)
    };
    if last < start {
        // Syntactically invalid (§14.1.1): ignore the header.
        return RangeAnswer::Whole;
    }
    if start >= len {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Part {
        start,
        end: last.saturating_add(1).min(len),
    }
}

fn whole_or_empty(len: u64) -> RangeAnswer {
    if len == 0 {
        RangeAnswer::Unsatisfiable
    } else {
        RangeAnswer::Part { start: 0, end: len }
    }
}

/// `Content-Range` of a part: `bytes START-LAST/LEN`.
pub fn content_range(start: u64, end: u64, len: u64) -> String {
    format!("bytes {start}-{}/{len}", end.saturating_sub(1))
}

/// `Content-Range` of a 416: `bytes */LEN`.
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

/// FNV-1a, 64 bits: a stable hash for entity tags (the same input gives the same tag in
/// every process and build, which `std`'s hasher does not promise).
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separate parts, so ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A strong entity tag for a file's representation: its size, its modification time and the
/// variant (output format, window, tracks), so a change to any of them changes the tag.
pub fn etag(len: u64, modified: SystemTime, variant: &str) -> String {
    let since = modified
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let h = fnv1a(&[
        &len.to_be_bytes(),
        &since.as_secs().to_be_bytes(),
        &since.subsec_nanos().to_be_bytes(),
        variant.as_bytes(),
    ]);
    format!("\"{len:x}-{:x}-{h:016x}\"", since.as_secs())
}

/// Whether an `If-None-Match` value matches `tag` (weak comparison, §13.1.2).
pub fn none_match(header: &str, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let want = bare(tag);
    header.trim() == "*" || header.split(',').any(|t| bare(t) == want)
}

/// Whether an `If-Range` value still designates this representation (strong comparison for
/// tags, exact date for dates, §13.1.5): if not, the whole representation is sent.
pub fn if_range_holds(header: &str, tag: &str, modified: SystemTime) -> bool {
    let h = header.trim();
    if h.starts_with('"') {
        return h == tag;
    }
    if h.starts_with("W/") {
        return false;
    }
    parse_http_date(h).is_some_and(|d| d == whole_seconds(modified))
}

/// Whether `If-Modified-Since` says the client's copy is current.
pub fn not_modified_since(header: &str, modified: SystemTime) -> bool {
    parse_http_date(header.trim()).is_some_and(|d| whole_seconds(modified) <= d)
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    let s = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    UNIX_EPOCH + Duration::from_secs(s.as_secs())
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil`]).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form `Last-Modified` uses.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses an IMF-fixdate; other (obsolete) forms give `None`, which callers treat as "no
/// condition", as §13.1.3 allows for dates a server cannot parse.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let mut w = s.split_whitespace();
    let _day = w.next()?.strip_suffix(',')?;
    let d: u32 = w.next()?.parse().ok()?;
    let mon = w.next()?;
    let m = MONTHS.iter().position(|x| *x == mon)? as u32 + 1;
    // RFC 9110 §5.6.7: the year is four digits (a longer one overflowed the day count).
    let year = w.next()?;
    if year.len() != 4 {
        return None;
    }
    let y: i64 = year.parse().ok()?;
    let mut hms = w.next()?.split(':');
    let h: u8 = hms.next()?.parse().ok()?;
    let mi: u8 = hms.next()?.parse().ok()?;
    let se: u8 = hms.next()?.parse().ok()?;
    if w.next()? != "GMT" || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let (h, mi, se) = (i64::from(h), i64::from(mi), i64::from(se));
    let secs = days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + se;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_rfc_9110_defines_them() {
        use RangeAnswer::*;
        let len = 10_000;
        assert_eq!(answer(None, len), Whole);
        assert_eq!(
            answer(Some("bytes=0-499"), len),
            Part { start: 0, end: 500 }
        );
        assert_eq!(
            answer(Some("bytes=500-999"), len),
            Part {
                start: 500,
                end: 1000
            }
        );
        // §14.1.2's examples: the final 500 bytes, two ways.
        assert_eq!(
            answer(Some("bytes=-500"), len),
            Part {
                start: 9500,
                end: 10_000
            }
        );
        assert_eq!(
            answer(Some("bytes=9500-"), len),
            Part {
                start: 9500,
                end: 10_000
            }
        );
        // A last position past the end is cut to the end; a suffix longer than the file
        // is the whole file.
        assert_eq!(
            answer(Some("bytes=9000-20000"), len),
            Part {
                start: 9000,
                end: 10_000
            }
        );
        assert_eq!(
            answer(Some("bytes=-20000"), len),
            Part {
                start: 0,
                end: 10_000
            }
        );
        assert_eq!(
            answer(Some("bytes=0-99999999999999999999999"), len),
            Part {
                start: 0,
                end: 10_000
            }
        );
        // Unsatisfiable: starting at or past the end, an empty suffix.
        assert_eq!(answer(Some("bytes=10000-"), len), Unsatisfiable);
        assert_eq!(answer(Some("bytes=10000-10005"), len), Unsatisfiable);
        assert_eq!(answer(Some("bytes=-0"), len), Unsatisfiable);
        assert_eq!(answer(Some("bytes=0-"), 0), Unsatisfiable);
        // Invalid or not ours: ignored.
        for h in [
            "bytes=5-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=1-2,4-5",
            "items=0-1",
            "bytes=--1",
            "bytes=+1-2",
        ] {
            assert_eq!(answer(Some(h), len), Whole, "{h}");
        }
        assert_eq!(content_range(0, 500, len), "bytes 0-499/10000");
        assert_eq!(unsatisfied_range(len), "bytes */10000");
    }

    #[test]
    fn http_dates_round_trip_and_match_the_rfc_example() {
        // RFC 9110 §5.6.7: 784111777 = Sun, 06 Nov 1994 08:49:37 GMT.
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        // A leap day and a far date.
        for secs in [951_782_400u64, 4_107_542_399, 1_709_164_800] {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{secs}");
        }
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "Tue, 29 Feb 2000 00:00:00 GMT"
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("garbage"), None);
        // Years are four digits: a fuzzed date with a 15-digit year overflowed the day count.
        assert_eq!(
            parse_http_date(", 06 Nov 444444444444199 08:49:37 GMT"),
            None
        );
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 -8:49:37 GMT"), None);
    }

    #[test]
    fn validators() {
        let t = UNIX_EPOCH + Duration::from_millis(784_111_777_500);
        let tag = etag(1234, t, "mp4");
        assert_eq!(tag, etag(1234, t, "mp4"), "stable");
        assert_ne!(tag, etag(1235, t, "mp4"));
        assert_ne!(tag, etag(1234, t + Duration::from_millis(1), "mp4"));
        assert_ne!(tag, etag(1234, t, "mp4?start=1000"));
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert!(none_match(&tag, &tag));
        assert!(none_match(&format!("\"x\", W/{tag}"), &tag));
        assert!(none_match("*", &tag));
        assert!(!none_match("\"other\"", &tag));
        assert!(if_range_holds(&tag, &tag, t));
        assert!(!if_range_holds(&format!("W/{tag}"), &tag, t));
        assert!(!if_range_holds("\"other\"", &tag, t));
        assert!(if_range_holds("Sun, 06 Nov 1994 08:49:37 GMT", &tag, t));
        assert!(!if_range_holds("Sun, 06 Nov 1994 08:49:36 GMT", &tag, t));
        assert!(not_modified_since("Sun, 06 Nov 1994 08:49:37 GMT", t));
        assert!(!not_modified_since("Sun, 06 Nov 1994 08:49:36 GMT", t));
    }
}
