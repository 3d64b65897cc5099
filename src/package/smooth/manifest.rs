//! The Smooth Streaming client manifest ([MS-SSTR] 2.2.2): written for `Manifest`, read back
//! by `mist analyse`.
//!
//! ```xml
//! <SmoothStreamingMedia MajorVersion="2" MinorVersion="0" TimeScale="10000000" Duration="D">
//!   (live: Duration="0" IsLive="TRUE" LookAheadFragmentCount="2" DVRWindowLength="W")
//!   <StreamIndex Type="video" Name="video" Chunks="N" QualityLevels="1" Url="QualityLevels({bitrate})/Fragments(video={start time})"
//!                MaxWidth=".." MaxHeight=".." DisplayWidth=".." DisplayHeight="..">
//!     <QualityLevel Index="0" Bitrate="B" FourCC="H264" MaxWidth=".." MaxHeight=".."
//!                   CodecPrivateData="00000001 SPS 00000001 PPS (hex)"/>
//!     <c t="T" d="D"/> ...
//!   </StreamIndex>
//!   <StreamIndex Type="audio" ...>
//!     <QualityLevel Index="0" Bitrate="B" FourCC="AACL" SamplingRate="48000" Channels="2"
//!                   BitsPerSample="16" PacketSize="4" AudioTag="255" CodecPrivateData="ASC (hex)"/>
//! ```
//! Every `c` carries both `t` and `d` (MS-SSTR lets `t` out when it follows on, but players
//! differ in how they fill it in).

use crate::codec::aac::{AudioSpecificConfig, SbrSignalling};
use crate::codec::h264::AvcConfig;
use crate::dtsc::{Codec, Track, TrackKind};
use crate::package::variant::resolution;
use crate::package::xml::{self, escape};

use super::boxes::FragmentTime;
use super::{url_template, Stream, TIMESCALE};

/// One stream of the manifest: its track, bit rate and fragments.
#[derive(Clone, Debug)]
pub struct StreamInfo<'a> {
    /// The stream.
    pub stream: &'a Stream,
    /// Its track.
    pub track: &'a Track,
    /// `Bitrate` (bit/s).
    pub bitrate: u64,
    /// Its fragments (`c`).
    pub chunks: &'a [FragmentTime],
}

/// What a live manifest says about its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Live {
    /// `DVRWindowLength` (100 ns).
    pub dvr_window: u64,
    /// `LookAheadFragmentCount`.
    pub lookahead: usize,
}

/// `FourCC` and `CodecPrivateData` of a track, `None` for codecs Smooth does not carry.
pub fn codec_fields(t: &Track) -> Option<(&'static str, String)> {
    match t.codec {
        Codec::H264 => {
            let c = AvcConfig::parse(&t.init, 0).ok()?;
            Some(("H264", hex(&c.to_annexb())))
        }
        Codec::Aac => {
            let he = AudioSpecificConfig::parse(&t.init, 0)
                .ok()
                .is_some_and(|a| {
                    matches!(a.sbr, SbrSignalling::Hierarchical { .. })
                        || a.object_type == 5
                        || a.object_type == 29
                });
            Some((if he { "AACH" } else { "AACL" }, hex(&t.init)))
        }
        _ => None,
    }
}

/// Upper-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// The manifest.
pub fn manifest(duration: u64, live: Option<Live>, streams: &[StreamInfo]) -> String {
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    s.push_str(&format!(
        "<SmoothStreamingMedia MajorVersion=\"2\" MinorVersion=\"0\" TimeScale=\"{TIMESCALE}\""
    ));
    match live {
        None => s.push_str(&format!(" Duration=\"{duration}\">\n")),
        Some(l) => s.push_str(&format!(
            " Duration=\"0\" IsLive=\"TRUE\" LookAheadFragmentCount=\"{}\" DVRWindowLength=\"{}\" CanSeek=\"TRUE\" CanPause=\"TRUE\">\n",
            l.lookahead, l.dvr_window
        )),
    }
    for si in streams {
        let Some((fourcc, private)) = codec_fields(si.track) else {
            continue;
        };
        let kind = si.stream.kind.as_str();
        let name = escape(&si.stream.name);
        s.push_str(&format!(
            "  <StreamIndex Type=\"{kind}\" Name=\"{name}\" Chunks=\"{}\" QualityLevels=\"1\" Url=\"{}\"",
            si.chunks.len(),
            escape(&url_template(&si.stream.name))
        ));
        let size = if si.track.kind == TrackKind::Video {
            resolution(si.track)
        } else {
            None
        };
        if let Some((w, h)) = size {
            s.push_str(&format!(
                " MaxWidth=\"{w}\" MaxHeight=\"{h}\" DisplayWidth=\"{w}\" DisplayHeight=\"{h}\""
            ));
        }
        if let Some(l) = si.track.lang.as_deref().filter(|l| !l.is_empty()) {
            s.push_str(&format!(" Language=\"{}\"", escape(l)));
        }
        s.push_str(">\n");
        s.push_str(&format!(
            "    <QualityLevel Index=\"0\" Bitrate=\"{}\" FourCC=\"{fourcc}\"",
            si.bitrate
        ));
        match si.track.kind {
            TrackKind::Video => {
                if let Some((w, h)) = size {
                    s.push_str(&format!(" MaxWidth=\"{w}\" MaxHeight=\"{h}\""));
                }
            }
            _ => {
                let a = si.track.audio().copied().unwrap_or_default();
                s.push_str(&format!(
                    " SamplingRate=\"{}\" Channels=\"{}\" BitsPerSample=\"16\" PacketSize=\"4\" AudioTag=\"255\"",
                    a.rate, a.channels
                ));
            }
        }
        s.push_str(&format!(" CodecPrivateData=\"{private}\"/>\n"));
        for c in si.chunks {
            s.push_str(&format!("    <c t=\"{}\" d=\"{}\"/>\n", c.time, c.duration));
        }
        s.push_str("  </StreamIndex>\n");
    }
    s.push_str("</SmoothStreamingMedia>\n");
    s
}

/// A quality level read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QualityInfo {
    /// `Bitrate`.
    pub bitrate: Option<u64>,
    /// `FourCC`.
    pub fourcc: Option<String>,
    /// `CodecPrivateData`, decoded.
    pub private: Option<Vec<u8>>,
    /// `MaxWidth`, `MaxHeight`.
    pub size: Option<(u32, u32)>,
    /// `SamplingRate`.
    pub rate: Option<u32>,
    /// `Channels`.
    pub channels: Option<u32>,
    /// Line.
    pub line: usize,
}

/// A stream index read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamIndexInfo {
    /// `Type`.
    pub kind: String,
    /// `Name`.
    pub name: Option<String>,
    /// `Url`.
    pub url: Option<String>,
    /// `TimeScale` (the manifest's when absent).
    pub timescale: u64,
    /// Quality levels.
    pub qualities: Vec<QualityInfo>,
    /// Fragments, `r` expanded and missing `t` filled in.
    pub chunks: Vec<FragmentTime>,
    /// Line.
    pub line: usize,
}

/// A manifest read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ssm {
    /// `MajorVersion`.
    pub major: Option<u32>,
    /// `TimeScale`.
    pub timescale: u64,
    /// `Duration`.
    pub duration: Option<u64>,
    /// `IsLive`.
    pub live: bool,
    /// `LookAheadFragmentCount`.
    pub lookahead: Option<u32>,
    /// `DVRWindowLength`.
    pub dvr_window: Option<u64>,
    /// Streams.
    pub streams: Vec<StreamIndexInfo>,
}

/// A finding about a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Line (0: the whole document).
    pub line: usize,
    /// An error (else a warning).
    pub error: bool,
    /// What.
    pub message: String,
}

fn problem(line: usize, error: bool, message: impl Into<String>) -> Problem {
    Problem {
        line,
        error,
        message: message.into(),
    }
}

/// Most fragments one `c` may repeat into.
pub const MAX_REPEAT: u64 = 1 << 20;

/// Decodes hex (either case); `None` when it is not.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads a manifest; `None` when it is not a Smooth Streaming manifest at all.
pub fn parse(bytes: &[u8]) -> (Option<Ssm>, Vec<Problem>) {
    let mut problems = Vec::new();
    let text = match xml::decode(bytes) {
        Ok(t) => t,
        Err(e) => return (None, vec![problem(0, true, e.to_string())]),
    };
    let root = match xml::parse(&text) {
        Ok(r) => r,
        Err(e) => return (None, vec![problem(e.line, true, e.message)]),
    };
    if root.name != "SmoothStreamingMedia" {
        return (
            None,
            vec![problem(
                root.line,
                true,
                format!("root element <{}> is not <SmoothStreamingMedia>", root.name),
            )],
        );
    }
    let num = |e: &xml::Element, k: &str, problems: &mut Vec<Problem>| -> Option<u64> {
        let v = e.attr(k)?;
        match v.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                problems.push(problem(
                    e.line,
                    true,
                    format!("<{}> {k}={v:?} is not a whole number", e.name),
                ));
                None
            }
        }
    };
    let mut m = Ssm {
        major: num(&root, "MajorVersion", &mut problems).and_then(|v| u32::try_from(v).ok()),
        timescale: num(&root, "TimeScale", &mut problems).unwrap_or(u64::from(TIMESCALE)),
        duration: num(&root, "Duration", &mut problems),
        live: root
            .attr("IsLive")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        lookahead: num(&root, "LookAheadFragmentCount", &mut problems)
            .and_then(|v| u32::try_from(v).ok()),
        dvr_window: num(&root, "DVRWindowLength", &mut problems),
        streams: Vec::new(),
    };
    match m.major {
        Some(2) => {}
        Some(v) => problems.push(problem(
            root.line,
            true,
            format!("MajorVersion {v}; MS-SSTR requires 2"),
        )),
        None => problems.push(problem(root.line, true, "no MajorVersion (required)")),
    }
    if m.timescale == 0 {
        problems.push(problem(root.line, true, "TimeScale 0"));
        m.timescale = u64::from(TIMESCALE);
    }
    if m.duration.is_none() {
        problems.push(problem(root.line, true, "no Duration (required)"));
    }
    for si in root.all("StreamIndex") {
        let kind = si.attr("Type").unwrap_or("").to_string();
        if !matches!(kind.as_str(), "video" | "audio" | "text") {
            problems.push(problem(
                si.line,
                true,
                format!("StreamIndex Type {kind:?} is not video, audio or text"),
            ));
        }
        let mut s = StreamIndexInfo {
            kind,
            name: si.attr("Name").map(String::from),
            url: si.attr("Url").map(String::from),
            timescale: num(si, "TimeScale", &mut problems).unwrap_or(m.timescale),
            line: si.line,
            ..StreamIndexInfo::default()
        };
        match &s.url {
            None => problems.push(problem(si.line, true, "StreamIndex without Url")),
            Some(u) => {
                if !u.contains("{bitrate}") && !u.contains("{Bitrate}") {
                    problems.push(problem(
                        si.line,
                        true,
                        format!("Url {u:?} has no {{bitrate}}"),
                    ));
                }
                if !u.contains("{start time}") && !u.contains("{start_time}") {
                    problems.push(problem(
                        si.line,
                        true,
                        format!("Url {u:?} has no {{start time}}"),
                    ));
                }
            }
        }
        for q in si.all("QualityLevel") {
            let private = q.attr("CodecPrivateData").and_then(|h| {
                let d = unhex(h.trim());
                if d.is_none() {
                    problems.push(problem(q.line, true, "CodecPrivateData is not hex"));
                }
                d
            });
            let w = num(q, "MaxWidth", &mut problems);
            let h = num(q, "MaxHeight", &mut problems);
            let bitrate = num(q, "Bitrate", &mut problems);
            if bitrate.is_none() {
                problems.push(problem(
                    q.line,
                    true,
                    "QualityLevel without Bitrate (required)",
                ));
            }
            s.qualities.push(QualityInfo {
                bitrate,
                fourcc: q.attr("FourCC").map(String::from),
                private,
                size: w
                    .zip(h)
                    .and_then(|(w, h)| Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))),
                rate: num(q, "SamplingRate", &mut problems).and_then(|v| u32::try_from(v).ok()),
                channels: num(q, "Channels", &mut problems).and_then(|v| u32::try_from(v).ok()),
                line: q.line,
            });
        }
        if let Some(n) = num(si, "QualityLevels", &mut problems) {
            if n != s.qualities.len() as u64 {
                problems.push(problem(
                    si.line,
                    false,
                    format!(
                        "QualityLevels=\"{n}\" but {} QualityLevel elements",
                        s.qualities.len()
                    ),
                ));
            }
        }
        let mut t = 0u64;
        let all: Vec<&xml::Element> = si.all("c").collect();
        for (k, c) in all.iter().enumerate() {
            let ct = num(c, "t", &mut problems);
            let d = num(c, "d", &mut problems);
            let r = num(c, "r", &mut problems).unwrap_or(1).clamp(1, MAX_REPEAT);
            if let Some(ct) = ct {
                if k > 0 && ct != t {
                    problems.push(problem(
                        c.line,
                        false,
                        format!(
                            "c t=\"{ct}\" does not follow on from the previous fragment's end {t}"
                        ),
                    ));
                }
                t = ct;
            }
            let d = match d {
                Some(d) => d,
                None => {
                    // Without d, a fragment lasts until the next one's t.
                    match all
                        .get(k + 1)
                        .and_then(|n| n.attr("t"))
                        .and_then(|v| v.parse::<u64>().ok())
                    {
                        Some(nt) if nt > t => (nt - t) / r,
                        _ => {
                            problems.push(problem(
                                c.line,
                                true,
                                "c without d, and no next t to tell its duration",
                            ));
                            0
                        }
                    }
                }
            };
            for _ in 0..r {
                if s.chunks.len() as u64 >= MAX_REPEAT {
                    break;
                }
                s.chunks.push(FragmentTime {
                    time: t,
                    duration: d,
                });
                t = t.saturating_add(d);
            }
        }
        if let Some(n) = num(si, "Chunks", &mut problems) {
            if n != s.chunks.len() as u64 {
                problems.push(problem(
                    si.line,
                    true,
                    format!(
                        "Chunks=\"{n}\" but the c elements list {} fragments",
                        s.chunks.len()
                    ),
                ));
            }
        }
        m.streams.push(s);
    }
    if m.streams.is_empty() {
        problems.push(problem(root.line, true, "no StreamIndex"));
    }
    (Some(m), problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Audio, Params, Timebase, TrackId, Video};
    use bytes::Bytes;

    #[test]
    fn manifest_text_hand_written_and_read_back() {
        let mut v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        // avcC: High 3.0, SPS 67 64 00 1E, PPS 68 EF.
        v.init = Bytes::from_static(&[
            0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1e, 0x01, 0x00,
            0x02, 0x68, 0xef,
        ]);
        v.params = Params::Video(Video {
            width: 320,
            height: 240,
            fpks: 25_000,
        });
        let mut a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS);
        a.init = Bytes::from_static(&[0x11, 0x90]);
        a.params = Params::Audio(Audio {
            rate: 48_000,
            channels: 2,
            sample_bits: 16,
        });
        let sv = Stream {
            track: TrackId(1),
            kind: TrackKind::Video,
            name: "video".into(),
        };
        let sa = Stream {
            track: TrackId(2),
            kind: TrackKind::Audio,
            name: "audio".into(),
        };
        let vc = [
            FragmentTime {
                time: 0,
                duration: 20_000_000,
            },
            FragmentTime {
                time: 20_000_000,
                duration: 20_400_000,
            },
        ];
        let ac = [FragmentTime {
            time: 0,
            duration: 40_106_667,
        }];
        let text = manifest(
            40_400_000,
            None,
            &[
                StreamInfo {
                    stream: &sv,
                    track: &v,
                    bitrate: 800_000,
                    chunks: &vc,
                },
                StreamInfo {
                    stream: &sa,
                    track: &a,
                    bitrate: 128_000,
                    chunks: &ac,
                },
            ],
        );
        let want = concat!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
            "<SmoothStreamingMedia MajorVersion=\"2\" MinorVersion=\"0\" TimeScale=\"10000000\" Duration=\"40400000\">\n",
            "  <StreamIndex Type=\"video\" Name=\"video\" Chunks=\"2\" QualityLevels=\"1\" Url=\"QualityLevels({bitrate})/Fragments(video={start time})\" MaxWidth=\"320\" MaxHeight=\"240\" DisplayWidth=\"320\" DisplayHeight=\"240\">\n",
            "    <QualityLevel Index=\"0\" Bitrate=\"800000\" FourCC=\"H264\" MaxWidth=\"320\" MaxHeight=\"240\" CodecPrivateData=\"000000016764001E0000000168EF\"/>\n",
            "    <c t=\"0\" d=\"20000000\"/>\n",
            "    <c t=\"20000000\" d=\"20400000\"/>\n",
            "  </StreamIndex>\n",
            "  <StreamIndex Type=\"audio\" Name=\"audio\" Chunks=\"1\" QualityLevels=\"1\" Url=\"QualityLevels({bitrate})/Fragments(audio={start time})\">\n",
            "    <QualityLevel Index=\"0\" Bitrate=\"128000\" FourCC=\"AACL\" SamplingRate=\"48000\" Channels=\"2\" BitsPerSample=\"16\" PacketSize=\"4\" AudioTag=\"255\" CodecPrivateData=\"1190\"/>\n",
            "    <c t=\"0\" d=\"40106667\"/>\n",
            "  </StreamIndex>\n",
            "</SmoothStreamingMedia>\n",
        );
        assert_eq!(text, want);
        let (m, problems) = parse(text.as_bytes());
        assert!(problems.is_empty(), "{problems:?}");
        let m = m.unwrap();
        assert_eq!(m.duration, Some(40_400_000));
        assert_eq!(m.streams.len(), 2);
        assert_eq!(m.streams[0].chunks, vc.to_vec());
        assert_eq!(
            m.streams[1].qualities[0].private.as_deref(),
            Some(&[0x11u8, 0x90][..])
        );
        // Live: the window attributes.
        let live = manifest(
            0,
            Some(Live {
                dvr_window: 500_000_000,
                lookahead: 2,
            }),
            &[],
        );
        assert!(live.contains("Duration=\"0\" IsLive=\"TRUE\" LookAheadFragmentCount=\"2\" DVRWindowLength=\"500000000\""));
    }

    #[test]
    fn repeats_and_missing_times_expand_and_broken_manifests_are_reported() {
        let doc = "<SmoothStreamingMedia MajorVersion=\"2\" Duration=\"60\"><StreamIndex Type=\"video\" Chunks=\"4\" Url=\"QualityLevels({bitrate})/Fragments(video={start time})\"><QualityLevel Bitrate=\"1\"/><c t=\"0\" d=\"10\" r=\"2\"/><c d=\"20\"/><c d=\"20\"/></StreamIndex></SmoothStreamingMedia>";
        let (m, p) = parse(doc.as_bytes());
        assert!(p.is_empty(), "{p:?}");
        let c: Vec<u64> = m.unwrap().streams[0]
            .chunks
            .iter()
            .map(|c| c.time)
            .collect();
        assert_eq!(c, vec![0, 10, 20, 40]);
        let (_, p) = parse(b"<SmoothStreamingMedia><StreamIndex Type=\"x\" Chunks=\"3\"><c t=\"5\" d=\"1\"/><c t=\"9\" d=\"1\"/></StreamIndex></SmoothStreamingMedia>");
        for needle in [
            "MajorVersion",
            "Duration",
            "Type",
            "Url",
            "Chunks",
            "follow on",
        ] {
            assert!(
                p.iter().any(|x| x.message.contains(needle)),
                "{needle}: {p:?}"
            );
        }
        // UTF-16 as MistServer sends it.
        let mut b = vec![0xFF, 0xFE];
        for u in doc.encode_utf16() {
            b.extend_from_slice(&u.to_le_bytes());
        }
        assert!(parse(&b).0.is_some());
        assert_eq!(unhex("0aFF"), Some(vec![10, 255]));
        assert_eq!(unhex("0g"), None);
    }
}
