//! HTTP Live Streaming (RFC 8216): playlists and the layout of names, with MPEG-TS segments
//! (`/hls/STREAM/...`, MistServer's HLS output) or fragmented MP4 ones (`/cmaf/STREAM/...`,
//! MistServer's CMAF output in its HLS version 7 form).
//!
//! Layout, MistServer's names:
//! - TS: master `index.m3u8`; one variant per video track with the first audio track muxed in
//!   (`V_A/index.m3u8`, MistServer's `V_A`), or per audio track without video (`A/...`);
//!   segments `V_A/START_END.ts` (decode times in ms).
//! - fMP4: master `index.m3u8`; one rendition per track (`T/index.m3u8`): video tracks as
//!   variants, audio tracks as `EXT-X-MEDIA` alternatives of group `aud` (variants of their
//!   own without video); init segments `T/init.m4s`, media segments `T/chunk_START.m4s`.
//!
//! [`playlist`] writes playlists; [`parse`] reads them back (for `mist analyse`).
//!
//! Known gaps: TS variants carry only the first audio track (further audio tracks are left
//! out, as MistServer's TS HLS did before it grew alternate renditions); no encryption, no
//! I-frame playlists, no subtitles; LL-HLS parts are not built yet.

pub mod parse;
pub mod playlist;

use crate::dtsc::{Meta, TrackId};

use super::segment::Segment;
use super::variant::{carried, Variant};
use super::Packaging;

/// Name of every playlist: the master at the top, a media playlist in each variant's folder.
pub const PLAYLIST: &str = "index.m3u8";
/// Name of an fMP4 variant's init segment.
pub const INIT: &str = "init.m4s";
/// MIME type of playlists.
pub const PLAYLIST_MIME: &str = "application/vnd.apple.mpegurl";

/// The variants of a stream.
pub fn variants(packaging: Packaging, meta: &Meta) -> Vec<Variant> {
    let (video, audio) = carried(meta, |t| packaging.framing(&t.codec).is_some());
    let id = |i: usize| meta.tracks[i].id;
    match packaging {
        Packaging::HlsTs => {
            if video.is_empty() {
                return audio.iter().map(|&a| Variant::of(vec![id(a)])).collect();
            }
            video
                .iter()
                .map(|&v| {
                    let mut tracks = vec![id(v)];
                    tracks.extend(audio.first().map(|&a| id(a)));
                    Variant::of(tracks)
                })
                .collect()
        }
        Packaging::HlsFmp4 | Packaging::Dash => video
            .iter()
            .chain(&audio)
            .map(|&i| Variant::of(vec![id(i)]))
            .collect(),
        // Not HLS: their own modules say what their variants are.
        _ => Vec::new(),
    }
}

/// The file name of a segment (inside its variant's folder).
pub fn segment_name(packaging: Packaging, seg: &Segment) -> String {
    match packaging {
        Packaging::HlsTs => format!("{}_{}.ts", seg.start_ms, seg.end_ms),
        Packaging::HlsFmp4 | Packaging::Dash => format!("chunk_{}.m4s", seg.start_ms),
        _ => String::new(),
    }
}

/// What a segment file name says: its start and (TS) end in ms; `None` for anything that is
/// not exactly a name [`segment_name`] writes.
pub fn parse_segment_name(packaging: Packaging, name: &str) -> Option<(i64, Option<i64>)> {
    match packaging {
        Packaging::HlsTs => {
            let (a, b) = name.strip_suffix(".ts")?.split_once('_')?;
            Some((decimal(a)?, Some(decimal(b)?)))
        }
        Packaging::HlsFmp4 | Packaging::Dash => Some((
            decimal(name.strip_prefix("chunk_")?.strip_suffix(".m4s")?)?,
            None,
        )),
        _ => None,
    }
}

/// A decimal `i64` as [`segment_name`] writes it: optional `-`, digits, no leading zeros,
/// no overflow.
fn decimal(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty()
        || digits.len() > 19
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// The variant of `variants` called `name`.
pub fn variant_named<'v>(variants: &'v [Variant], name: &str) -> Option<&'v Variant> {
    variants.iter().find(|v| v.name == name)
}

/// `meta` with only the tracks of `variant`, in the variant's order (main first).
pub fn variant_meta(meta: &Meta, variant: &Variant) -> Meta {
    let tracks = variant
        .tracks
        .iter()
        .filter_map(|id: &TrackId| meta.track(*id).cloned())
        .collect();
    Meta {
        tracks,
        live: meta.live,
        unix_zero: meta.unix_zero,
        index: None,
        tags: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Codec, Timebase, Track, TrackKind};

    fn meta(kinds: &[(u32, TrackKind, Codec)]) -> Meta {
        Meta {
            tracks: kinds
                .iter()
                .map(|(id, k, c)| Track::new(TrackId(*id), *k, c.clone(), Timebase::MS))
                .collect(),
            ..Meta::default()
        }
    }

    #[test]
    fn ts_variants_mux_the_first_audio_into_each_video() {
        let m = meta(&[
            (1, TrackKind::Video, Codec::H264),
            (2, TrackKind::Audio, Codec::Aac),
            (3, TrackKind::Audio, Codec::Aac),
            (4, TrackKind::Video, Codec::H264),
        ]);
        let names: Vec<String> = variants(Packaging::HlsTs, &m)
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names, vec!["1_2", "4_2"]);
        let cmaf: Vec<String> = variants(Packaging::HlsFmp4, &m)
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(cmaf, vec!["1", "4", "2", "3"]);
        let audio = meta(&[
            (2, TrackKind::Audio, Codec::Aac),
            (3, TrackKind::Audio, Codec::Mp3),
        ]);
        let names: Vec<String> = variants(Packaging::HlsTs, &audio)
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names, vec!["2", "3"]);
        // Tracks a packaging cannot carry are left out (Opus in TS).
        let odd = meta(&[(1, TrackKind::Audio, Codec::Opus)]);
        assert!(variants(Packaging::HlsTs, &odd).is_empty());
    }

    #[test]
    fn segment_names_round_trip_and_garbage_is_refused() {
        let s = Segment {
            number: 3,
            start_ms: 6000,
            end_ms: 8040,
            discontinuities: 0,
        };
        assert_eq!(segment_name(Packaging::HlsTs, &s), "6000_8040.ts");
        assert_eq!(segment_name(Packaging::HlsFmp4, &s), "chunk_6000.m4s");
        assert_eq!(
            parse_segment_name(Packaging::HlsTs, "6000_8040.ts"),
            Some((6000, Some(8040)))
        );
        assert_eq!(
            parse_segment_name(Packaging::HlsFmp4, "chunk_6000.m4s"),
            Some((6000, None))
        );
        for bad in [
            "6000_8040.m4s",
            "06000_8040.ts",
            "6000-8040.ts",
            "_8040.ts",
            "18446744073709551616_1.ts",
            "99999999999999999999_1.ts",
            "1_2_3.ts",
            "+1_2.ts",
            "1 _2.ts",
        ] {
            assert_eq!(parse_segment_name(Packaging::HlsTs, bad), None, "{bad}");
        }
        assert_eq!(
            parse_segment_name(Packaging::HlsTs, "-5_10.ts"),
            Some((-5, Some(10)))
        );
        assert_eq!(parse_segment_name(Packaging::HlsFmp4, "chunk_.m4s"), None);
    }
}
