//! The query parameters MistServer's HTTP outputs understand: `start`/`stop` (ms),
//! `audio`/`video` track selectors, `rate` (playback speed; 0 = as fast as possible).

use crate::dtsc::{Track, TrackKind};

/// Parsed query parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    /// Start at the keyframe at or before this stream time (ms).
    pub start_ms: Option<i64>,
    /// Stop before this stream time (ms).
    pub stop_ms: Option<i64>,
    /// Pace delivery at this multiple of real time.
    pub rate: Option<f64>,
    /// How far (seconds) paced delivery may run ahead of real time (MistServer's `buffer`).
    pub buffer_s: Option<f64>,
    /// Video track selector.
    pub video: Option<String>,
    /// Audio track selector.
    pub audio: Option<String>,
}

/// Decodes `%XX` escapes (and `+` as space in query values); invalid escapes stay as written.
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    /// Parses a query string (without the `?`); unknown or malformed parameters are ignored,
    /// as MistServer ignores them.
    pub fn parse(q: Option<&str>) -> Query {
        let mut out = Query::default();
        for pair in q.unwrap_or("").split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v, true);
            match k {
                "start" => out.start_ms = v.parse::<i64>().ok().filter(|v| *v >= 0),
                "stop" => out.stop_ms = v.parse::<i64>().ok().filter(|v| *v >= 0),
                "rate" => {
                    out.rate = v
                        .parse::<f64>()
                        .ok()
                        .filter(|r| r.is_finite() && *r > 0.0 && *r <= 1000.0)
                }
                "buffer" => {
                    out.buffer_s = v
                        .parse::<f64>()
                        .ok()
                        .filter(|b| b.is_finite() && *b >= 0.0 && *b <= 3600.0)
                }
                "video" => out.video = Some(v),
                "audio" => out.audio = Some(v),
                _ => {}
            }
        }
        out
    }

    /// How far paced delivery may run ahead: `buffer=` or MistServer's 7.5 s.
    pub fn lead(&self) -> std::time::Duration {
        self.buffer_s
            .map_or(crate::pipeline::pace::DEFAULT_LEAD, |b| {
                std::time::Duration::from_secs_f64(b)
            })
    }

    /// Whether `t` is wanted by the selectors (`none`, `all`/`*`, a track id, or a codec
    /// name; several separated by commas). Without a selector for its kind, a track is kept.
    pub fn keeps(&self, t: &Track) -> bool {
        let sel = match t.kind {
            TrackKind::Video => &self.video,
            TrackKind::Audio => &self.audio,
            _ => return true,
        };
        let Some(sel) = sel else { return true };
        sel.split(',').any(|item| {
            let item = item.trim();
            match item {
                "all" | "*" => true,
                "none" | "" => false,
                _ => {
                    item.parse::<u32>().is_ok_and(|id| id == t.id.0)
                        || t.codec.ffprobe_name().eq_ignore_ascii_case(item)
                        || t.codec.mist_name().eq_ignore_ascii_case(item)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Codec, Timebase, TrackId};

    #[test]
    fn mistserver_parameters() {
        let q = Query::parse(Some(
            "start=2000&stop=5000&audio=none&video=1&rate=2&buffer=0.5&x=y",
        ));
        assert_eq!(q.start_ms, Some(2000));
        assert_eq!(q.lead(), std::time::Duration::from_millis(500));
        assert_eq!(
            Query::default().lead(),
            std::time::Duration::from_millis(7500)
        );
        assert_eq!(q.stop_ms, Some(5000));
        assert_eq!(q.rate, Some(2.0));
        let v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        let a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS);
        assert!(q.keeps(&v) && !q.keeps(&a));
        let q = Query::parse(Some("audio=aac&video=none"));
        assert!(q.keeps(&a) && !q.keeps(&v));
        assert_eq!(Query::parse(Some("start=-5&rate=nan")), Query::default());
    }

    #[test]
    fn escapes() {
        assert_eq!(percent_decode("%2e%2E%2fetc", false), "../etc");
        assert_eq!(percent_decode("a+b%", true), "a b%");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
    }
}
