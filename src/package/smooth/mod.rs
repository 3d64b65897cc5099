//! Microsoft Smooth Streaming ([MS-SSTR] 2.2), MistServer's `/smooth/STREAM.ism/` and
//! `/cmaf/STREAM/Manifest` outputs.
//!
//! | spec | what mist takes from it |
//! |------|--------------------------|
//! | MS-SSTR 2.2.2 Manifest Response | [`manifest`]: the client manifest (`SmoothStreamingMedia`, `StreamIndex`, `QualityLevel`, `c`) |
//! | MS-SSTR 2.2.3 Fragment Request | [`parse_name`]: `QualityLevels(BITRATE)/Fragments(NAME=TIME)` |
//! | MS-SSTR 2.2.4 Fragment Response | [`fragment`]: `moof` (`mfhd`, `traf` with `tfhd`, `tfdt`, `trun`, `tfxd`, `tfrf`) + `mdat` |
//! | ISO/IEC 14496-12 §8.8 | the `moof` boxes (`formats::mp4::boxes::fragment`) |
//!
//! Layout: `Manifest`, and per track `QualityLevels(BITRATE)/Fragments(NAME=TIME)` (a folder
//! per quality level, as a static server serves the URLs). Each track is a `StreamIndex` of
//! its own (`video`, `audio`; further tracks of a kind `video_ID`, `audio_ID`): Smooth wants
//! the quality levels of one stream cut at the same times, which tracks cut at another
//! track's keys do not promise. Times are in 100 ns units (`TimeScale` 10000000); a
//! fragment's time is its first sample's decode time, so `c@t`, `tfxd` and `tfdt` agree and
//! `c@d` is the time to the track's next fragment.
//!
//! The manifest is UTF-8 (MistServer sends UTF-16; yt-dlp, dash.js and ExoPlayer read
//! either, and UTF-8 is what the rest of mist's text is); `mist analyse` reads both.
//!
//! Known gaps: H.264 and AAC only (Smooth's `H264`/`AVC1`, `AACL`/`AACH`); no PlayReady;
//! no sparse (text) tracks.

pub mod boxes;
pub mod fragment;
pub mod manifest;
pub mod vod;

use crate::dtsc::{Codec, Framing, Meta, Timebase, TrackId, TrackKind};

/// The manifest's file name (and the last piece of its URL).
pub const MANIFEST: &str = "Manifest";
/// MIME type of the manifest.
pub const MANIFEST_MIME: &str = "text/xml; charset=utf-8";
/// MIME type of fragments.
pub const FRAGMENT_MIME: &str = "video/mp4";
/// 100 ns units: the timescale of every time in manifests and fragments.
pub const TIMESCALE: u32 = 10_000_000;
/// Fragments a live fragment announces in `tfrf` (`LookAheadFragmentCount`).
pub const LOOKAHEAD: usize = 2;

/// The 100 ns timebase.
pub fn timebase() -> Timebase {
    Timebase::new(TIMESCALE).unwrap_or(Timebase::MS)
}

/// The framing Smooth fragments carry a codec in, `None` for codecs Smooth does not carry.
pub fn framing(c: &Codec) -> Option<Framing> {
    match c {
        Codec::H264 | Codec::Aac => Some(c.canonical_framing()),
        _ => None,
    }
}

/// One `StreamIndex`: a track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stream {
    /// The track.
    pub track: TrackId,
    /// Video or audio.
    pub kind: TrackKind,
    /// `Name` (`video`, `audio`, `video_ID`, `audio_ID`), also the name in fragment URLs.
    pub name: String,
}

/// The streams of `meta`: its video and audio tracks Smooth carries, in track order.
pub fn streams(meta: &Meta) -> Vec<Stream> {
    let mut out: Vec<Stream> = Vec::new();
    for t in &meta.tracks {
        if framing(&t.codec).is_none() || !matches!(t.kind, TrackKind::Video | TrackKind::Audio) {
            continue;
        }
        let base = t.kind.as_str();
        let name = if out.iter().any(|s| s.kind == t.kind) {
            format!("{base}_{}", t.id)
        } else {
            base.to_string()
        };
        out.push(Stream {
            track: t.id,
            kind: t.kind,
            name,
        });
    }
    out
}

/// The quality level folder of `bitrate`.
pub fn quality_dir(bitrate: u64) -> String {
    format!("QualityLevels({bitrate})")
}

/// The fragment file of stream `name` at `time` (100 ns).
pub fn fragment_file(name: &str, time: u64) -> String {
    format!("Fragments({name}={time})")
}

/// The path of a fragment below the manifest's folder.
pub fn fragment_path(bitrate: u64, name: &str, time: u64) -> String {
    format!("{}/{}", quality_dir(bitrate), fragment_file(name, time))
}

/// The `Url` template of a stream (MS-SSTR 2.2.2.3).
pub fn url_template(name: &str) -> String {
    format!("QualityLevels({{bitrate}})/Fragments({name}={{start time}})")
}

/// What a path below the manifest's folder asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `Manifest`.
    Manifest,
    /// A fragment: bitrate, stream name, time.
    Fragment {
        /// `QualityLevels(N)`.
        bitrate: u64,
        /// The stream.
        name: String,
        /// The start time (100 ns).
        time: u64,
    },
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Reads a path as [`MANIFEST`] or [`fragment_path`] writes it (pieces already split at
/// `/`); `None` for anything else.
pub fn parse_name(path: &[&str]) -> Option<Request> {
    match path {
        [m] if *m == MANIFEST => Some(Request::Manifest),
        [q, f] => {
            let bitrate = number(q.strip_prefix("QualityLevels(")?.strip_suffix(')')?)?;
            let inner = f.strip_prefix("Fragments(")?.strip_suffix(')')?;
            let (name, time) = inner.split_once('=')?;
            if name.is_empty()
                || name.len() > 64
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return None;
            }
            Some(Request::Fragment {
                bitrate,
                name: name.to_string(),
                time: number(time)?,
            })
        }
        _ => None,
    }
}

/// A track's bit rate from the index: its payload bytes over its duration, in bit/s (at
/// least 1). Known before any packet is written, so fragment URLs can name it.
pub fn index_bitrate(meta: &Meta, i: usize) -> u64 {
    let (Some(t), Some(ti)) = (
        meta.tracks.get(i),
        meta.index.as_ref().and_then(|x| x.tracks.get(i)),
    ) else {
        return 1;
    };
    let bytes: u64 = ti.parts.iter().map(|p| u64::from(p.size)).sum();
    let span = (ti.last - ti.first) + ti.parts.last().map_or(0, |p| i64::from(p.duration));
    let ms = t.timebase.rescale(span, Timebase::MS).max(1) as u64;
    (bytes.saturating_mul(8000) / ms).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::Track;

    #[test]
    fn a_stream_per_track_named_by_kind() {
        let meta = Meta {
            tracks: vec![
                Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS),
                Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS),
                Track::new(TrackId(3), TrackKind::Audio, Codec::Aac, Timebase::MS),
                Track::new(TrackId(4), TrackKind::Audio, Codec::Mp3, Timebase::MS),
            ],
            ..Meta::default()
        };
        let names: Vec<String> = streams(&meta).into_iter().map(|s| s.name).collect();
        assert_eq!(names, vec!["video", "audio", "audio_3"]);
    }

    #[test]
    fn paths_round_trip_and_garbage_is_refused() {
        assert_eq!(
            fragment_path(812000, "video", 20000000),
            "QualityLevels(812000)/Fragments(video=20000000)"
        );
        assert_eq!(
            parse_name(&["QualityLevels(812000)", "Fragments(video=20000000)"]),
            Some(Request::Fragment {
                bitrate: 812000,
                name: "video".into(),
                time: 20000000
            })
        );
        assert_eq!(parse_name(&["Manifest"]), Some(Request::Manifest));
        assert_eq!(
            url_template("audio"),
            "QualityLevels({bitrate})/Fragments(audio={start time})"
        );
        for bad in [
            &["QualityLevels(1)", "Fragments(video=-1)"][..],
            &["QualityLevels(1)", "Fragments(video=18446744073709551616)"],
            &["QualityLevels(01)", "Fragments(video=1)"],
            &["QualityLevels(1)", "Fragments(=1)"],
            &["QualityLevels(1)", "Fragments(video=1"],
            &["QualityLevels(1)", "Fragments(vi/deo=1)"],
            &["QualityLevels()", "Fragments(video=1)"],
            &["QualityLevels(1,x)", "Fragments(video=1)"],
            &["manifest"],
            &["a", "b", "c"],
        ] {
            assert_eq!(parse_name(bad), None, "{bad:?}");
        }
    }
}
