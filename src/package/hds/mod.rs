//! Adobe HTTP Dynamic Streaming (HDS), MistServer's `/dynamic/STREAM/` output.
//!
//! | spec | what mist takes from it |
//! |------|--------------------------|
//! | Flash Media Manifest (F4M) 1.0 | [`manifest`]: `manifest.f4m`, namespace `http://ns.adobe.com/f4m/1.0` |
//! | Adobe Flash Video File Format 10.1 §2.11–2.12, Annex C | [`boxes`]: `abst`, `asrt`, `afrt`, `afra`; [`fragment`]: F4F fragments |
//! | Adobe FLV 10.1 Annex E | the FLV tags inside each fragment's `mdat` (`formats::flv`) |
//!
//! Layout (MistServer's names), all in one folder:
//! - `manifest.f4m`: one `<media>` per variant; the bootstrap inline (base64) for files, by
//!   URL for live streams (players reload it);
//! - `ID.abst`: the bootstrap of variant `ID` (its main track's id; MistServer's video track
//!   index);
//! - `ID-Seg1-FragN`: fragment `N` (the segment numbered `N - 1`): `afra`, for live streams an
//!   `abst` (the window as it was when the fragment was made), `moof`, `mdat` with the FLV
//!   tags (sequence headers first, then every packet of the segment).
//!
//! Every fragment is in segment 1 (`asrt`: one run, segment 1 holding every fragment; for
//! live streams 2^32 − 1 fragments, as MistServer and Adobe's live packager write it, so a
//! player counts on from the window's first fragment). Variants: one per video track with the
//! first audio track muxed in, or one per audio track without video (HLS-TS's rule).
//!
//! Known gaps: no DRM, no multi-level (set-level) manifests, one segment only; codecs are
//! FLV's (H.264, AAC, MP3).

pub mod bootstrap;
pub mod boxes;
pub mod fragment;
pub mod manifest;
pub mod vod;

use crate::dtsc::{Codec, Framing, Meta};

use super::variant::{carried, Variant};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.f4m";
/// MIME type of F4M manifests.
pub const MANIFEST_MIME: &str = "application/f4m+xml";
/// MIME type of bootstraps (`binary/octet` is what Adobe's origin and FFmpeg's `hdsenc` use;
/// OSMF fails on some others).
pub const BOOTSTRAP_MIME: &str = "binary/octet";
/// MIME type of fragments.
pub const FRAGMENT_MIME: &str = "video/f4f";
/// Milliseconds: the timescale of every HDS box mist writes (FLV's clock).
pub const TIMESCALE: u32 = 1000;

/// The framing HDS fragments carry a codec in (FLV's), `None` for codecs FLV does not carry.
pub fn framing(c: &Codec) -> Option<Framing> {
    crate::formats::flv::mux::framing(c)
}

/// The variants of a stream: one per video track with the first audio track, or one per
/// audio track without video.
pub fn variants(meta: &Meta) -> Vec<Variant> {
    let (video, audio) = carried(meta, |t| framing(&t.codec).is_some());
    let id = |i: usize| meta.tracks[i].id;
    let mut out: Vec<Variant> = if video.is_empty() {
        audio.iter().map(|&a| Variant::of(vec![id(a)])).collect()
    } else {
        video
            .iter()
            .map(|&v| {
                let mut tracks = vec![id(v)];
                tracks.extend(audio.first().map(|&a| id(a)));
                Variant::of(tracks)
            })
            .collect()
    };
    // Named by the main track alone (MistServer's `IDX`).
    for v in &mut out {
        if let Some(first) = v.tracks.first() {
            v.name = first.0.to_string();
        }
    }
    out
}

/// The bootstrap file of variant `name`.
pub fn bootstrap_name(variant: &str) -> String {
    format!("{variant}.abst")
}

/// The fragment number (from 1) of segment `number`.
pub fn fragment_number(segment: u64) -> u32 {
    u32::try_from(segment.saturating_add(1)).unwrap_or(u32::MAX)
}

/// The file of fragment `fragment` (from 1) of variant `name`.
pub fn fragment_name(variant: &str, fragment: u32) -> String {
    format!("{variant}-Seg1-Frag{fragment}")
}

/// What a file name asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `manifest.f4m`.
    Manifest,
    /// `ID.abst`.
    Bootstrap(String),
    /// `ID-Seg1-FragN`: the variant and the fragment number.
    Fragment(String, u32),
}

/// Reads a file name as [`MANIFEST`], [`bootstrap_name`] or [`fragment_name`] write it;
/// `None` for anything else (another segment than 1, fragment 0, leading zeros, overflow).
pub fn parse_name(name: &str) -> Option<Request> {
    if name == MANIFEST {
        return Some(Request::Manifest);
    }
    let digits = |s: &str| -> Option<u32> {
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if s.len() > 1 && s.starts_with('0') {
            return None;
        }
        s.parse().ok()
    };
    if let Some(v) = name.strip_suffix(".abst") {
        digits(v)?;
        return Some(Request::Bootstrap(v.to_string()));
    }
    let (v, rest) = name.split_once("-Seg")?;
    digits(v)?;
    let (seg, frag) = rest.split_once("-Frag")?;
    if digits(seg)? != 1 {
        return None;
    }
    let n = digits(frag).filter(|&n| n > 0)?;
    Some(Request::Fragment(v.to_string(), n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Timebase, Track, TrackId, TrackKind};

    #[test]
    fn variants_are_named_by_their_main_track() {
        let meta = Meta {
            tracks: vec![
                Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS),
                Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS),
                Track::new(TrackId(3), TrackKind::Video, Codec::H264, Timebase::MS),
                Track::new(TrackId(4), TrackKind::Audio, Codec::Opus, Timebase::MS),
            ],
            ..Meta::default()
        };
        let v = variants(&meta);
        assert_eq!(
            v.iter()
                .map(|v| (v.name.as_str(), v.tracks.clone()))
                .collect::<Vec<_>>(),
            vec![
                ("1", vec![TrackId(1), TrackId(2)]),
                ("3", vec![TrackId(3), TrackId(2)])
            ]
        );
    }

    #[test]
    fn names_round_trip_and_garbage_is_refused() {
        assert_eq!(fragment_name("1", 7), "1-Seg1-Frag7");
        assert_eq!(
            parse_name("1-Seg1-Frag7"),
            Some(Request::Fragment("1".into(), 7))
        );
        assert_eq!(
            parse_name("256.abst"),
            Some(Request::Bootstrap("256".into()))
        );
        assert_eq!(parse_name("manifest.f4m"), Some(Request::Manifest));
        assert_eq!(fragment_number(0), 1);
        for bad in [
            "1-Seg1-Frag0",
            "1-Seg2-Frag1",
            "1-Seg1-Frag01",
            "1-Seg1-Frag4294967296",
            "1-Seg1-Frag18446744073709551616",
            "1-Seg1-Frag-1",
            "x-Seg1-Frag1",
            "-Seg1-Frag1",
            "1-Seg1-Frag",
            ".abst",
            "a.abst",
            "1-Seg1-Frag1x",
            "Manifest",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
