//! Variants: the tracks that go together into one rendition (one media playlist, one run of
//! segments), named as MistServer names them, and what a master playlist says about them.

use crate::codec::aac::{AudioSpecificConfig, SbrSignalling};
use crate::codec::h264::AvcConfig;
use crate::dtsc::{Codec, Meta, Track, TrackId, TrackKind};

/// One rendition: its tracks (the first is the one its segments are timed on) and its name,
/// which is also its folder in URLs and packaged folders.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Variant {
    /// Folder name: track ids joined by `_` (`1_2`), MistServer's.
    pub name: String,
    /// The tracks, main first.
    pub tracks: Vec<TrackId>,
}

impl Variant {
    /// A variant of `tracks`, named after them.
    pub fn of(tracks: Vec<TrackId>) -> Variant {
        let name = tracks
            .iter()
            .map(|t| t.0.to_string())
            .collect::<Vec<_>>()
            .join("_");
        Variant { name, tracks }
    }

    /// True when it carries track `id`.
    pub fn has(&self, id: TrackId) -> bool {
        self.tracks.contains(&id)
    }
}

/// The RFC 6381 codec string of a track, as `CODECS` lists it: `avc1.PPCCLL` from the avcC,
/// `mp4a.40.N` with the AudioSpecificConfig's first object type (2 LC, 5 HE, 29 HE v2),
/// `mp4a.40.34` for MP3 (Apple's HLS authoring spec), `hvc1.…` from the hvcC.
pub fn codec_string(t: &Track) -> Option<String> {
    match &t.codec {
        Codec::H264 => AvcConfig::parse(&t.init, 0).ok().map(|c| c.codec_string()),
        Codec::Aac => {
            let aot = match AudioSpecificConfig::parse(&t.init, 0) {
                Ok(asc) => match asc.sbr {
                    SbrSignalling::Hierarchical { ps: true } => 29,
                    SbrSignalling::Hierarchical { ps: false } => 5,
                    _ => asc.object_type,
                },
                Err(_) => 2,
            };
            Some(format!("mp4a.40.{aot}"))
        }
        Codec::Mp3 => Some("mp4a.40.34".to_string()),
        Codec::Mp2 => Some("mp4a.40.33".to_string()),
        Codec::Ac3 => Some("ac-3".to_string()),
        Codec::Hevc => hevc_codec_string(&t.init),
        _ => None,
    }
}

/// `hvc1.P.C.TL.CC` from an `hvcC` (ISO/IEC 14496-15 Annex E.3): profile space and idc,
/// compatibility flags (bit-reversed, hex), tier and level, constraint bytes without trailing
/// zeros.
fn hevc_codec_string(init: &[u8]) -> Option<String> {
    let b = init.get(..13)?;
    let space = match b[1] >> 6 {
        0 => "",
        1 => "A",
        2 => "B",
        _ => "C",
    };
    let tier = if b[1] & 0x20 != 0 { 'H' } else { 'L' };
    let profile = b[1] & 0x1F;
    let compat = u32::from_be_bytes([b[2], b[3], b[4], b[5]]).reverse_bits();
    let level = b[12];
    let mut cons: Vec<u8> = b[6..12].to_vec();
    while cons.last() == Some(&0) {
        cons.pop();
    }
    let mut s = format!("hvc1.{space}{profile}.{compat:X}.{tier}{level}");
    for c in cons {
        s.push_str(&format!(".{c:X}"));
    }
    Some(s)
}

/// Picture size of a video track: declared, else read from its SPS.
pub fn resolution(t: &Track) -> Option<(u32, u32)> {
    let v = t.video()?;
    if v.width > 0 && v.height > 0 {
        return Some((v.width, v.height));
    }
    let d = crate::codec::describe(t);
    Some((d.width?, d.height?))
}

/// Frame rate of a video track in frames per 1000 s: declared, else measured from the index
/// (packets over the time they span).
pub fn fpks(meta: &Meta, i: usize) -> Option<u32> {
    let t = meta.tracks.get(i)?;
    let v = t.video()?;
    if v.fpks > 0 {
        return Some(v.fpks);
    }
    let ti = meta.index.as_ref()?.tracks.get(i)?;
    let n = ti.parts.len() as u64;
    let span = (ti.last - ti.first) + ti.parts.last().map_or(0, |p| i64::from(p.duration));
    let ticks = u64::try_from(span).ok().filter(|s| *s > 0)?;
    let per_s = u64::from(t.timebase.per_second());
    u32::try_from(n * per_s * 1000 / ticks).ok()
}

/// Tracks the packaging can carry, in stream order: `(video, audio)` positions.
pub fn carried(meta: &Meta, can: impl Fn(&Track) -> bool) -> (Vec<usize>, Vec<usize>) {
    let mut video = Vec::new();
    let mut audio = Vec::new();
    for (i, t) in meta.tracks.iter().enumerate() {
        if !can(t) {
            continue;
        }
        match t.kind {
            TrackKind::Video => video.push(i),
            TrackKind::Audio => audio.push(i),
            _ => {}
        }
    }
    (video, audio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::Timebase;
    use bytes::Bytes;

    #[test]
    fn names_join_track_ids() {
        assert_eq!(Variant::of(vec![TrackId(1), TrackId(2)]).name, "1_2");
        assert_eq!(Variant::of(vec![TrackId(257)]).name, "257");
    }

    #[test]
    fn codec_strings_from_init_data() {
        // avcC: version 1, profile 0x64 (High), compat 0x00, level 0x1e (3.0).
        let mut v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        v.init = Bytes::from_static(&[
            0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1e, 0x01, 0x00,
            0x02, 0x68, 0xef,
        ]);
        assert_eq!(codec_string(&v).as_deref(), Some("avc1.64001e"));
        // ASC 0x11 0x90: object type 2 (LC), 48 kHz, stereo.
        let mut a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS);
        a.init = Bytes::from_static(&[0x11, 0x90]);
        assert_eq!(codec_string(&a).as_deref(), Some("mp4a.40.2"));
        // ASC starting with object type 5 (explicit hierarchical SBR): 0x2b 0x92 0x08 0x00 =
        // 00101 (5) 0111 (22.05 kHz) 0010 (stereo) 0100 (ext 44.1 kHz) 00010 (core LC) ...
        a.init = Bytes::from_static(&[0x2b, 0x92, 0x08, 0x00]);
        assert_eq!(codec_string(&a).as_deref(), Some("mp4a.40.5"));
        let m = Track::new(TrackId(3), TrackKind::Audio, Codec::Mp3, Timebase::MS);
        assert_eq!(codec_string(&m).as_deref(), Some("mp4a.40.34"));
    }

    #[test]
    fn hevc_codec_string_from_hvcc() {
        // Main profile (1), compat flags 0x60000000 (bits 1 and 2), tier L, level 93,
        // constraint 0x90: Apple's example `hvc1.1.6.L93.90`.
        let hvcc = [
            0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 93,
        ];
        assert_eq!(hevc_codec_string(&hvcc).as_deref(), Some("hvc1.1.6.L93.90"));
    }
}
