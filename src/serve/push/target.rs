//! Push targets as MistServer writes them: what a target URL or path means, its parameters,
//! and the variables it may hold.
//!
//! Kinds (MistServer's `push_urls`, see its capabilities answer):
//! - `rtmp://HOST[:PORT]/APP/STREAM` and `rtmps://…` (RTMP over TLS);
//! - `dtsc://HOST[:PORT]/STREAM` (MistServer's own protocol, port 4200);
//! - `tsudp://HOST:PORT[/INTERFACE]` (MPEG-TS in UDP datagrams, unicast or multicast);
//! - a file recording: an absolute path whose extension names a container mist writes
//!   (`/rec/$stream.flv`, `.ts`, `.mp4`, `.mp3`, `.dtsc` …), or `FORMAT:/path` to name the
//!   container explicitly (`flv:/rec/x`), as MistServer's `NAME:target` form does.
//!
//! Parameters follow `?`: `recstart`/`recstop` (stream time in ms), `split` (seconds),
//! `video`/`audio` (track selectors, as the HTTP outputs take them); others are kept in the
//! target text and ignored.
//!
//! Variables (MistServer's `Util::streamVariables`): `$stream`, `$basename`, `$wildcard`,
//! `$pluswildcard`, `$source`, `$datetime` (`$year.$month.$day.$hour.$minute.$second`),
//! `$year`, `$month`, `$day`, `$hour`, `$minute`, `$second`, `$wday` (1–7, Monday 1), `$yday`
//! (001–366), `$week` (ISO week, 01–53), and `$segmentCounter` (the file's number in a split
//! recording, from 1). Times are UTC: MistServer uses the server's local time zone, which a
//! server in UTC (the usual container) shares.

use std::path::PathBuf;

use crate::formats::{self, FormatSpec};
use crate::serve::http::query::Query;
use crate::serve::names::StreamName;

/// Longest target accepted (a path or URL; MistServer has no limit, a line of JSON does).
pub const MAX_TARGET: usize = 4096;
/// Shortest `split` interval in seconds (a split shorter than a keyframe interval would make a
/// file per key).
pub const MIN_SPLIT_S: u64 = 1;

/// What a target is.
#[derive(Clone, Debug)]
pub enum Kind {
    /// An RTMP server (`rtmp://`, `rtmps://` when `tls`).
    Rtmp {
        /// The URL without its parameters.
        url: String,
        /// `rtmps://`.
        tls: bool,
    },
    /// Another DTSC server (`dtsc://HOST[:PORT]/STREAM`).
    Dtsc {
        /// `HOST:PORT` (port 4200 when absent).
        addr: String,
        /// The stream name to push to (empty: the same name as here).
        stream: String,
        /// A push password (`dtsc://user:PASS@…` or `?pass=`).
        password: Option<String>,
    },
    /// MPEG-TS over UDP.
    TsUdp {
        /// `HOST:PORT`.
        addr: String,
        /// Interface address for multicast, when given.
        interface: Option<String>,
    },
    /// A file recording.
    File {
        /// The path (variables not yet expanded).
        path: String,
        /// The container it is written in.
        spec: &'static FormatSpec,
    },
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        match (self, other) {
            (Kind::Rtmp { url: a, tls: x }, Kind::Rtmp { url: b, tls: y }) => a == b && x == y,
            (
                Kind::Dtsc {
                    addr: a,
                    stream: s,
                    password: p,
                },
                Kind::Dtsc {
                    addr: b,
                    stream: t,
                    password: q,
                },
            ) => a == b && s == t && p == q,
            (
                Kind::TsUdp {
                    addr: a,
                    interface: i,
                },
                Kind::TsUdp {
                    addr: b,
                    interface: j,
                },
            ) => a == b && i == j,
            (Kind::File { path: a, spec: x }, Kind::File { path: b, spec: y }) => {
                a == b && x.name == y.name
            }
            _ => false,
        }
    }
}

/// A parsed target.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// What it is.
    pub kind: Kind,
    /// Start recording at this stream time (ms).
    pub recstart: Option<i64>,
    /// Stop recording at this stream time (ms).
    pub recstop: Option<i64>,
    /// Start a new file at the first keyframe after this many seconds.
    pub split: Option<u64>,
    /// Track selectors (`video=`, `audio=`).
    pub select: Query,
}

/// Why a target cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTarget(pub String);

fn bad(s: impl Into<String>) -> BadTarget {
    BadTarget(s.into())
}

impl Target {
    /// Parses a target as given to `push_start` or an automatic push.
    pub fn parse(target: &str) -> Result<Target, BadTarget> {
        if target.len() > MAX_TARGET {
            return Err(bad(format!("the target is over {MAX_TARGET} bytes")));
        }
        if target.chars().any(char::is_control) {
            return Err(bad("the target holds control characters"));
        }
        let (main, params) = match target.split_once('?') {
            Some((m, p)) => (m, Some(p)),
            None => (target, None),
        };
        let query = Query::parse(params);
        let mut t = Target {
            kind: Kind::TsUdp {
                addr: String::new(),
                interface: None,
            },
            recstart: None,
            recstop: None,
            split: None,
            select: Query {
                video: query.video.clone(),
                audio: query.audio.clone(),
                ..Query::default()
            },
        };
        let mut password = None;
        for pair in params.unwrap_or("").split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let num = || -> Result<u64, BadTarget> {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("{k}={v}: not a whole number")))
            };
            match k {
                "recstart" => t.recstart = Some(num()? as i64),
                "recstop" => t.recstop = Some(num()? as i64),
                "split" => {
                    let s = num()?;
                    if s < MIN_SPLIT_S {
                        return Err(bad(format!("split={v}: at least {MIN_SPLIT_S} s")));
                    }
                    t.split = Some(s);
                }
                "pass" | "pw" | "password" => {
                    password = Some(crate::serve::http::query::percent_decode(v, true))
                }
                _ => {}
            }
        }
        if let (Some(a), Some(b)) = (t.recstart, t.recstop) {
            if b <= a {
                return Err(bad(format!("recstop={b} is not after recstart={a}")));
            }
        }
        t.kind = parse_kind(main, password)?;
        if t.split.is_some() && !matches!(t.kind, Kind::File { .. }) {
            return Err(bad("split= applies to file recordings only"));
        }
        Ok(t)
    }

    /// True for a file recording.
    pub fn is_file(&self) -> bool {
        matches!(self.kind, Kind::File { .. })
    }
}

fn parse_kind(main: &str, password: Option<String>) -> Result<Kind, BadTarget> {
    let lower = main.to_ascii_lowercase();
    for (scheme, tls) in [("rtmp://", false), ("rtmps://", true)] {
        if lower.starts_with(scheme) {
            let rest = &main[scheme.len()..];
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            if host.is_empty() || path.split('/').filter(|p| !p.is_empty()).count() < 2 {
                return Err(bad(format!(
                    "{main}: an RTMP target is {scheme}HOST[:PORT]/APP/STREAM"
                )));
            }
            return Ok(Kind::Rtmp {
                url: main.to_string(),
                tls,
            });
        }
    }
    if lower.starts_with("dtsc://") {
        let rest = &main["dtsc://".len()..];
        let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host) = match auth.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, auth),
        };
        if host.is_empty() {
            return Err(bad(format!(
                "{main}: a DTSC target is dtsc://HOST[:PORT]/STREAM"
            )));
        }
        let addr = with_port(host, 4200);
        let from_url = userinfo.map(|u| u.split_once(':').map_or(u, |(_, p)| p).to_string());
        return Ok(Kind::Dtsc {
            addr,
            stream: path.to_string(),
            password: password.or(from_url),
        });
    }
    if lower.starts_with("tsudp://") {
        let rest = &main["tsudp://".len()..];
        let (hostport, iface) = match rest.split_once('/') {
            Some((h, i)) => (h, Some(i.to_string()).filter(|i| !i.is_empty())),
            None => (rest, None),
        };
        let port_ok = hostport
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(bad(format!("{main}: a TS/UDP target is tsudp://HOST:PORT")));
        }
        let hostport = if hostport.starts_with(':') {
            format!("127.0.0.1{hostport}")
        } else {
            hostport.to_string()
        };
        return Ok(Kind::TsUdp {
            addr: hostport,
            interface: iface,
        });
    }
    // `FORMAT:/path` names the container; otherwise the extension does.
    let (forced, path) = match main.split_once(':') {
        Some((name, p)) if p.starts_with('/') && !name.contains('/') => {
            let spec = formats::spec_by_name(&name.to_ascii_lowercase())
                .ok_or_else(|| bad(format!("{main}: no container named '{name}'")))?;
            (Some(spec), p)
        }
        _ => (None, main),
    };
    if !path.starts_with('/') {
        return Err(bad(format!(
            "no output for target '{main}': use rtmp://, rtmps://, dtsc://, tsudp:// or an \
             absolute file path ending in .flv, .ts, .mp4, .mp3 or .dtsc"
        )));
    }
    let spec = match forced {
        Some(s) => s,
        None => formats::spec_by_extension(&PathBuf::from(path)).ok_or_else(|| {
            bad(format!(
                "{path}: the extension names no container mist writes (.flv, .ts, .mp4, .mp3, \
                 .dtsc ...)"
            ))
        })?,
    };
    if spec.muxer.is_none() {
        return Err(bad(format!("{path}: mist does not write {}", spec.name)));
    }
    Ok(Kind::File {
        path: path.to_string(),
        spec,
    })
}

/// `host` with `:port` added when it has none (IPv6 literals in brackets are understood).
fn with_port(host: &str, port: u16) -> String {
    let has_port = match host.rfind(']') {
        Some(end) => host[end..].contains(':'),
        None => host.contains(':'),
    };
    if has_port {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

/// A moment broken into the calendar fields the variables name (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
    /// Day of the week, 1–7, Monday 1 (`strftime %u`).
    pub wday: u32,
    /// Day of the year, 1–366 (`%j`).
    pub yday: u32,
    /// ISO 8601 week number, 1–53 (`%V`).
    pub week: u32,
}

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
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

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Civil {
    /// The calendar fields of unix time `secs` (UTC).
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday (4).
        let wday = ((days + 3).rem_euclid(7) + 1) as u32;
        let yday = (days - days_from_civil(year, 1, 1) + 1) as u32;
        // ISO week: the week (Monday to Sunday) holding the year's first Thursday is week 1.
        let thursday = days - i64::from(wday) + 4;
        let (iso_year, _, _) = civil_from_days(thursday);
        let week = ((thursday - days_from_civil(iso_year, 1, 1)) / 7 + 1) as u32;
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
            wday,
            yday,
            week,
        }
    }
}

/// What the variables stand for when a target is expanded.
#[derive(Clone, Debug)]
pub struct Vars<'a> {
    /// The stream.
    pub stream: &'a StreamName,
    /// The stream's configured source (`$source`).
    pub source: &'a str,
    /// Unix time (seconds) for the date variables.
    pub unix: i64,
    /// The file's number in a split recording (`$segmentCounter`).
    pub segment: u64,
}

/// Fills the variables of `text` (longer names first, so `$datetime` is not read as `$day`).
pub fn expand(text: &str, v: &Vars<'_>) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    let c = Civil::from_unix(v.unix);
    let two = |n: u32| format!("{n:02}");
    let wild = v.stream.wildcard().unwrap_or("");
    let plus = v
        .stream
        .wildcard()
        .map(|w| format!("+{w}"))
        .unwrap_or_default();
    let table: [(&str, String); 17] = [
        ("$segmentCounter", v.segment.to_string()),
        ("$pluswildcard", plus),
        (
            "$datetime",
            format!(
                "{}.{}.{}.{}.{}.{}",
                c.year,
                two(c.month),
                two(c.day),
                two(c.hour),
                two(c.minute),
                two(c.second)
            ),
        ),
        ("$basename", v.stream.base().to_string()),
        ("$wildcard", wild.to_string()),
        ("$minute", two(c.minute)),
        ("$second", two(c.second)),
        ("$source", v.source.to_string()),
        ("$stream", v.stream.as_str().to_string()),
        ("$month", two(c.month)),
        ("$year", c.year.to_string()),
        ("$hour", two(c.hour)),
        ("$wday", c.wday.to_string()),
        ("$yday", format!("{:03}", c.yday)),
        ("$week", two(c.week)),
        ("$day", two(c.day)),
        ("$$", "$".to_string()),
    ];
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        match table.iter().find(|(k, _)| tail.starts_with(k)) {
            Some((k, val)) => {
                out.push_str(val);
                rest = &tail[k.len()..];
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether stream `name` is matched by an automatic push's `pattern`: the same name, or a
/// pattern ending in `+` that `name` starts with (`live+` matches `live+cam1`), as
/// MistServer's `streamMatches` has it (its `#tag` patterns are not supported).
pub fn stream_matches(name: &str, pattern: &str) -> bool {
    name == pattern || (pattern.ends_with('+') && name.starts_with(pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_scheme_and_extension() {
        let t = Target::parse("rtmp://example.com/live/key?video=1").unwrap();
        assert!(matches!(t.kind, Kind::Rtmp { tls: false, .. }));
        assert_eq!(t.select.video.as_deref(), Some("1"));
        assert!(matches!(
            Target::parse("rtmps://example.com:443/app/key")
                .unwrap()
                .kind,
            Kind::Rtmp { tls: true, .. }
        ));
        assert!(Target::parse("rtmp://example.com/live").is_err());
        assert_eq!(
            Target::parse("dtsc://u:pw@origin/other").unwrap().kind,
            Kind::Dtsc {
                addr: "origin:4200".into(),
                stream: "other".into(),
                password: Some("pw".into())
            }
        );
        assert_eq!(
            Target::parse("tsudp://239.1.2.3:5000/10.0.0.1")
                .unwrap()
                .kind,
            Kind::TsUdp {
                addr: "239.1.2.3:5000".into(),
                interface: Some("10.0.0.1".into())
            }
        );
        assert!(Target::parse("tsudp://host").is_err());
        for (path, fmt) in [
            ("/rec/$stream.flv", "flv"),
            ("/rec/a.ts", "ts"),
            ("/rec/a.mp4", "mp4"),
            ("/rec/a.mp3", "mp3"),
            ("/rec/a.dtsc", "dtsc"),
            ("flv:/rec/noext", "flv"),
        ] {
            match Target::parse(path).unwrap().kind {
                Kind::File { spec, .. } => assert_eq!(spec.name, fmt, "{path}"),
                k => panic!("{path}: {k:?}"),
            }
        }
        assert!(Target::parse("rec/relative.flv").is_err());
        assert!(Target::parse("/rec/a.webm").is_err());
        assert!(Target::parse("/rec/a.flv?split=0").is_err());
        assert!(Target::parse("rtmp://h/a/b?split=5").is_err());
        assert!(Target::parse("/rec/a.flv?recstart=5000&recstop=1000").is_err());
        let t = Target::parse("/rec/a.ts?recstart=1000&recstop=9000&split=60&append=1").unwrap();
        assert_eq!(
            (t.recstart, t.recstop, t.split),
            (Some(1000), Some(9000), Some(60))
        );
    }

    #[test]
    fn calendar_fields_match_strftime() {
        // Oracle: `date -u -d @SECS '+%Y %m %d %H %M %S %u %j %V'`.
        for (secs, want) in [
            (0, (1970, 1, 1, 0, 0, 0, 4, 1, 1)),
            (951_782_400, (2000, 2, 29, 0, 0, 0, 2, 60, 9)),
            (1_704_067_199, (2023, 12, 31, 23, 59, 59, 7, 365, 52)),
            (1_704_067_200, (2024, 1, 1, 0, 0, 0, 1, 1, 1)),
            (1_609_459_200, (2021, 1, 1, 0, 0, 0, 5, 1, 53)),
            (1_735_603_200, (2024, 12, 31, 0, 0, 0, 2, 366, 1)),
        ] {
            let c = Civil::from_unix(secs);
            assert_eq!(
                (c.year, c.month, c.day, c.hour, c.minute, c.second, c.wday, c.yday, c.week),
                want,
                "{secs}"
            );
        }
    }

    #[test]
    fn variables_expand_longest_first() {
        let n = StreamName::parse("live+cam1").unwrap();
        let v = Vars {
            stream: &n,
            source: "push://",
            unix: 1_704_067_199,
            segment: 3,
        };
        assert_eq!(
            expand(
                "/r/$basename/$wildcard$pluswildcard/$stream-$datetime-$segmentCounter.flv",
                &v
            ),
            "/r/live/cam1+cam1/live+cam1-2023.12.31.23.59.59-3.flv"
        );
        assert_eq!(
            expand(
                "$year$month$day $hour$minute$second $wday $yday $week $x $$",
                &v
            ),
            "20231231 235959 7 365 52 $x $"
        );
    }

    #[test]
    fn auto_push_patterns() {
        assert!(stream_matches("live", "live"));
        assert!(stream_matches("live+cam1", "live+"));
        assert!(!stream_matches("live+cam1", "live"));
        assert!(!stream_matches("livex", "live+"));
    }
}
