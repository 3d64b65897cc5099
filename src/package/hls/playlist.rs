//! Writing HLS playlists (RFC 8216 §4): the master playlist of a stream's variants and the
//! media playlist of a window of segments. Times are printed from integer milliseconds with
//! three decimals, never through floats.

use std::fmt::Write as _;

use crate::dtsc::{Meta, TrackKind};

use super::super::ll::LowLatency;
use super::super::segment::{Segment, Window};
use super::super::variant::{codec_string, fpks, resolution, Variant};
use super::super::Packaging;
use super::{INIT, PLAYLIST};

/// Bit rates of a variant, for `BANDWIDTH` (peak) and `AVERAGE-BANDWIDTH`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rates {
    /// Peak bits per second over any segment, container overhead included.
    pub peak: u64,
    /// Average bits per second, when known.
    pub average: Option<u64>,
}

/// Milliseconds as decimal seconds with three decimals (`2.000`, `-0.040`).
pub fn seconds(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let a = ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

/// A unix time in ms as ISO 8601 / RFC 3339 UTC with milliseconds (`2024-05-01T12:00:00.000Z`).
pub fn date_time(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    format!(
        "{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{:02}.{:03}Z",
        rest / 1000,
        rest % 1000
    )
}

/// The `EXT-X-VERSION` of a packaging's playlists: 3 for TS (decimal `EXTINF`), 6 for fMP4
/// (`EXT-X-MAP` in a playlist that is not I-frames only, RFC 8216 §7).
pub fn version(packaging: Packaging) -> u8 {
    match packaging {
        Packaging::HlsFmp4 | Packaging::Dash => 6,
        // TS, and the packagings that are not HLS (never asked).
        _ => 3,
    }
}

/// Attributes a master playlist gives a rendition.
fn stream_inf(
    meta: &Meta,
    v: &Variant,
    rates: Rates,
    extra_codecs: &[String],
    audio_group: bool,
) -> String {
    let mut s = format!("#EXT-X-STREAM-INF:BANDWIDTH={}", rates.peak.max(1));
    if let Some(avg) = rates.average {
        let _ = write!(s, ",AVERAGE-BANDWIDTH={}", avg.max(1));
    }
    let mut codecs: Vec<String> = v
        .tracks
        .iter()
        .filter_map(|id| meta.track(*id).and_then(codec_string))
        .collect();
    for c in extra_codecs {
        if !codecs.contains(c) {
            codecs.push(c.clone());
        }
    }
    if !codecs.is_empty() {
        let _ = write!(s, ",CODECS=\"{}\"", codecs.join(","));
    }
    if let Some(i) = v
        .tracks
        .first()
        .and_then(|id| meta.position(*id))
        .filter(|&i| meta.tracks[i].kind == TrackKind::Video)
    {
        if let Some((w, h)) = resolution(&meta.tracks[i]) {
            let _ = write!(s, ",RESOLUTION={w}x{h}");
        }
        if let Some(f) = fpks(meta, i).filter(|f| *f > 0) {
            let _ = write!(s, ",FRAME-RATE={}.{:03}", f / 1000, f % 1000);
        }
    }
    if audio_group {
        s.push_str(",AUDIO=\"aud\"");
    }
    s
}

/// The master playlist: one `EXT-X-STREAM-INF` per variant whose main track is video (or per
/// variant without video); for fMP4, audio renditions as `EXT-X-MEDIA` of group `aud`.
/// `rates` gives each variant's bit rates.
pub fn master(
    packaging: Packaging,
    meta: &Meta,
    variants: &[Variant],
    rates: &dyn Fn(&Variant) -> Rates,
) -> String {
    let kind = |v: &Variant| {
        v.tracks
            .first()
            .and_then(|id| meta.track(*id))
            .map(|t| t.kind)
    };
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        version(packaging)
    );
    let video: Vec<&Variant> = variants
        .iter()
        .filter(|v| kind(v) == Some(TrackKind::Video))
        .collect();
    let audio: Vec<&Variant> = variants
        .iter()
        .filter(|v| kind(v) == Some(TrackKind::Audio))
        .collect();
    // Audio renditions beside video: fMP4 keeps every track in a rendition of its own.
    let grouped = packaging == Packaging::HlsFmp4 && !video.is_empty() && !audio.is_empty();
    let mut audio_codecs = Vec::new();
    let mut audio_peak = 0u64;
    let mut audio_avg = 0u64;
    if grouped {
        for (n, a) in audio.iter().enumerate() {
            let Some(t) = a.tracks.first().and_then(|id| meta.track(*id)) else {
                continue;
            };
            let r = rates(a);
            audio_peak = audio_peak.max(r.peak);
            audio_avg = audio_avg.max(r.average.unwrap_or(r.peak));
            if let Some(c) = codec_string(t) {
                if !audio_codecs.contains(&c) {
                    audio_codecs.push(c);
                }
            }
            let _ = write!(
                out,
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"{}-{}\"",
                t.codec.mist_name(),
                t.lang.as_deref().unwrap_or(&t.id.to_string())
            );
            if let Some(l) = &t.lang {
                let _ = write!(out, ",LANGUAGE=\"{l}\"");
            }
            if let Some(ch) = t.audio().map(|a| a.channels).filter(|c| *c > 0) {
                let _ = write!(out, ",CHANNELS=\"{ch}\"");
            }
            let default = if n == 0 { "YES" } else { "NO" };
            let _ = writeln!(
                out,
                ",DEFAULT={default},AUTOSELECT=YES,URI=\"{}/{PLAYLIST}\"",
                a.name
            );
        }
    }
    let listed: Vec<&Variant> = if video.is_empty() { audio } else { video };
    for v in listed {
        let mut r = rates(v);
        if grouped {
            r.peak += audio_peak;
            r.average = r.average.map(|a| a + audio_avg);
        }
        let _ = writeln!(
            out,
            "{}\n{}/{PLAYLIST}",
            stream_inf(meta, v, r, &audio_codecs, grouped),
            v.name
        );
    }
    out
}

/// A media playlist of `window`: `name` gives each segment's URI; `map` is the init segment's
/// URI for fMP4. Live playlists carry `EXT-X-DISCONTINUITY-SEQUENCE` and, when the wall clock
/// is known, `EXT-X-PROGRAM-DATE-TIME` on every segment; files are `EXT-X-PLAYLIST-TYPE:VOD`.
/// A segment that follows a publisher-session change gets `EXT-X-DISCONTINUITY`.
pub fn media(packaging: Packaging, window: &Window, name: &dyn Fn(&Segment) -> String) -> String {
    media_ll(packaging, window, name, None)
}

/// [`media`], with the parts, server control and preload hint of low-latency HLS when `ll`
/// is given (live fMP4 only).
pub fn media_ll(
    packaging: Packaging,
    window: &Window,
    name: &dyn Fn(&Segment) -> String,
    ll: Option<&LowLatency>,
) -> String {
    let target = window
        .target_s
        .max(Window::fitting_target(&window.segments));
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{target}\n",
        version(packaging),
    );
    if let Some(ll) = ll {
        out.push_str(&ll.header(target));
    }
    let first = window.segments.first();
    let _ = writeln!(
        out,
        "#EXT-X-MEDIA-SEQUENCE:{}",
        first.map_or(0, |s| s.number)
    );
    if window.live {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            first.map_or(0, |s| s.discontinuities)
        );
    } else {
        out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    if packaging == Packaging::HlsFmp4 {
        let _ = writeln!(out, "#EXT-X-MAP:URI=\"{INIT}\"");
    }
    let mut prev: Option<&Segment> = None;
    for s in &window.segments {
        if prev.is_some_and(|p| s.discontinuities > p.discontinuities) {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if window.live {
            if let Some(zero) = window.unix_zero_ms {
                let _ = writeln!(
                    out,
                    "#EXT-X-PROGRAM-DATE-TIME:{}",
                    date_time(zero.saturating_add(s.start_ms))
                );
            }
        }
        if let Some((_, parts)) = ll.and_then(|l| l.parts.iter().find(|(n, _)| *n == s.number)) {
            out.push_str(&LowLatency::part_lines(s.start_ms, parts));
        }
        let _ = writeln!(out, "#EXTINF:{},\n{}", seconds(s.duration_ms()), name(s));
        prev = Some(s);
    }
    if let Some(ll) = ll {
        if let Some((g, parts)) = &ll.growing {
            if !parts.is_empty() {
                if prev.is_some_and(|p| g.discontinuities > p.discontinuities) {
                    out.push_str("#EXT-X-DISCONTINUITY\n");
                }
                if let Some(zero) = window.unix_zero_ms {
                    let _ = writeln!(
                        out,
                        "#EXT-X-PROGRAM-DATE-TIME:{}",
                        date_time(zero.saturating_add(g.start_ms))
                    );
                }
                out.push_str(&LowLatency::part_lines(g.start_ms, parts));
            }
        }
        if let Some(h) = &ll.hint {
            let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{h}\"");
        }
    }
    if window.ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Audio, Codec, Params, Timebase, Track, TrackId, Video};
    use crate::package::hls::segment_name;
    use bytes::Bytes;

    fn seg(number: u64, a: i64, b: i64, disc: u64) -> Segment {
        Segment {
            number,
            start_ms: a,
            end_ms: b,
            discontinuities: disc,
        }
    }

    #[test]
    fn seconds_and_dates_in_integers() {
        assert_eq!(seconds(2000), "2.000");
        assert_eq!(seconds(1999), "1.999");
        assert_eq!(seconds(40), "0.040");
        assert_eq!(seconds(-40), "-0.040");
        // 0 is the epoch; 951782400000 is 2000-02-29 00:00:00 UTC (a leap day);
        // 1714564800123 is 2024-05-01T12:00:00.123Z.
        assert_eq!(date_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(date_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(date_time(1_714_564_800_123), "2024-05-01T12:00:00.123Z");
        assert_eq!(date_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn vod_media_playlist_as_rfc_8216_writes_it() {
        // RFC 8216 §8.2's shape: version, target duration (the longest segment, 2.56 s,
        // rounded: 3), media sequence 0, VOD type, segments, end list.
        let w = Window {
            segments: vec![
                seg(0, 0, 2000, 0),
                seg(1, 2000, 4560, 0),
                seg(2, 4560, 5000, 0),
            ],
            live: false,
            ended: true,
            unix_zero_ms: None,
            target_s: 0,
        };
        let got = media(Packaging::HlsTs, &w, &|s| segment_name(Packaging::HlsTs, s));
        assert_eq!(
            got,
            "#EXTM3U\n\
             #EXT-X-VERSION:3\n\
             #EXT-X-TARGETDURATION:3\n\
             #EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n\
             #EXTINF:2.000,\n0_2000.ts\n\
             #EXTINF:2.560,\n2000_4560.ts\n\
             #EXTINF:0.440,\n4560_5000.ts\n\
             #EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn live_media_playlist_with_a_discontinuity() {
        // A window starting at segment 7, after one session change that left the window
        // (DISCONTINUITY-SEQUENCE 1), then a second one before segment 9 (§6.2.1, §4.3.3.3).
        // Target duration kept at 4 although the listed segments would fit 3.
        let w = Window {
            segments: vec![
                seg(7, 14_000, 16_000, 1),
                seg(8, 16_000, 18_500, 1),
                seg(9, 19_000, 21_000, 2),
            ],
            live: true,
            ended: false,
            unix_zero_ms: Some(1_714_564_800_000),
            target_s: 4,
        };
        let got = media(Packaging::HlsFmp4, &w, &|s| {
            segment_name(Packaging::HlsFmp4, s)
        });
        assert_eq!(
            got,
            "#EXTM3U\n\
             #EXT-X-VERSION:6\n\
             #EXT-X-TARGETDURATION:4\n\
             #EXT-X-MEDIA-SEQUENCE:7\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:1\n\
             #EXT-X-MAP:URI=\"init.m4s\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:14.000Z\n\
             #EXTINF:2.000,\nchunk_14000.m4s\n\
             #EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:16.000Z\n\
             #EXTINF:2.500,\nchunk_16000.m4s\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:19.000Z\n\
             #EXTINF:2.000,\nchunk_19000.m4s\n"
        );
    }

    #[test]
    fn low_latency_playlist_lists_parts_at_the_edge_and_a_preload_hint() {
        use crate::package::ll::{LowLatency, Part};
        // Two complete segments, the second with its parts (near the edge); the growing
        // segment 9 from 4000 ms with two complete parts; the hint names its third part.
        let w = Window {
            segments: vec![seg(7, 0, 2000, 0), seg(8, 2000, 4000, 0)],
            live: true,
            ended: false,
            unix_zero_ms: None,
            target_s: 2,
        };
        let part = |index, duration_ms, independent| Part {
            index,
            duration_ms,
            independent,
        };
        let ll = LowLatency {
            part_target_ms: 500,
            parts: vec![(
                8,
                vec![
                    part(0, 500, true),
                    part(1, 500, false),
                    part(2, 500, false),
                    part(3, 500, false),
                ],
            )],
            growing: Some((
                seg(9, 4000, 4000, 0),
                vec![part(0, 500, true), part(1, 500, false)],
            )),
            hint: Some("chunk_4000.2.m4s".into()),
        };
        let got = media_ll(
            Packaging::HlsFmp4,
            &w,
            &|s| segment_name(Packaging::HlsFmp4, s),
            Some(&ll),
        );
        assert_eq!(
            got,
            "#EXTM3U\n\
             #EXT-X-VERSION:6\n\
             #EXT-X-TARGETDURATION:2\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500,HOLD-BACK=6.000\n\
             #EXT-X-PART-INF:PART-TARGET=0.500\n\
             #EXT-X-MEDIA-SEQUENCE:7\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:0\n\
             #EXT-X-MAP:URI=\"init.m4s\"\n\
             #EXTINF:2.000,\nchunk_0.m4s\n\
             #EXT-X-PART:DURATION=0.500,URI=\"chunk_2000.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.500,URI=\"chunk_2000.1.m4s\"\n\
             #EXT-X-PART:DURATION=0.500,URI=\"chunk_2000.2.m4s\"\n\
             #EXT-X-PART:DURATION=0.500,URI=\"chunk_2000.3.m4s\"\n\
             #EXTINF:2.000,\nchunk_2000.m4s\n\
             #EXT-X-PART:DURATION=0.500,URI=\"chunk_4000.0.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.500,URI=\"chunk_4000.1.m4s\"\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"chunk_4000.2.m4s\"\n"
        );
    }

    fn av_meta() -> Meta {
        let mut v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        v.init = Bytes::from_static(&[
            0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1f, 0x01, 0x00,
            0x02, 0x68, 0xef,
        ]);
        v.params = Params::Video(Video {
            width: 1280,
            height: 720,
            fpks: 29_970,
        });
        let mut a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS);
        a.init = Bytes::from_static(&[0x11, 0x90]);
        a.params = Params::Audio(Audio {
            rate: 48_000,
            channels: 2,
            sample_bits: 16,
        });
        Meta {
            tracks: vec![v, a],
            ..Meta::default()
        }
    }

    #[test]
    fn ts_master_lists_video_with_its_audio() {
        let meta = av_meta();
        let vs = crate::package::hls::variants(Packaging::HlsTs, &meta);
        let got = master(Packaging::HlsTs, &meta, &vs, &|_| Rates {
            peak: 2_000_000,
            average: Some(1_500_000),
        });
        assert_eq!(
            got,
            "#EXTM3U\n\
             #EXT-X-VERSION:3\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=1500000,\
             CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=29.970\n\
             1_2/index.m3u8\n"
        );
    }

    #[test]
    fn fmp4_master_groups_audio_and_adds_its_rate() {
        let meta = av_meta();
        let vs = crate::package::hls::variants(Packaging::HlsFmp4, &meta);
        let got = master(Packaging::HlsFmp4, &meta, &vs, &|v| Rates {
            peak: if v.name == "1" { 2_000_000 } else { 130_000 },
            average: None,
        });
        assert_eq!(
            got,
            "#EXTM3U\n\
             #EXT-X-VERSION:6\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"AAC-2\",CHANNELS=\"2\",\
             DEFAULT=YES,AUTOSELECT=YES,URI=\"2/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2130000,CODECS=\"avc1.64001f,mp4a.40.2\",\
             RESOLUTION=1280x720,FRAME-RATE=29.970,AUDIO=\"aud\"\n\
             1/index.m3u8\n"
        );
    }
}
