//! What a track carries: codec, framing of its payloads, clock, init data and parameters.

use bytes::Bytes;

use super::time::Timebase;

/// A track's identifier within one stream (FLV 1/2, the TS PID, the MP4 `track_ID`, DTSC `trackid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackId(pub u32);

impl std::fmt::Display for TrackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The kind of media a track holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrackKind {
    /// Pictures.
    Video,
    /// Sound.
    Audio,
    /// Timed metadata (JSON, ID3, SCTE-35 ...).
    Meta,
    /// Timed text.
    Subtitle,
}

impl TrackKind {
    /// The word MistServer and ffprobe use (`video`, `audio`, `meta`, `subtitle`).
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Video => "video",
            TrackKind::Audio => "audio",
            TrackKind::Meta => "meta",
            TrackKind::Subtitle => "subtitle",
        }
    }
}

/// The codec of a track. New codecs are new variants or `Other`, never a redesign.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    Hevc,
    /// AAC (any object type).
    Aac,
    /// MPEG-1/2 audio layer III.
    Mp3,
    /// MPEG-1/2 audio layer II.
    Mp2,
    /// AC-3.
    Ac3,
    /// Opus.
    Opus,
    /// JSON metadata (MistServer's meta tracks).
    Json,
    /// Anything else, by its MistServer codec name.
    Other(String),
}

impl Codec {
    /// The name MistServer uses in DTSC headers (`H264`, `AAC`, `MP3`, `opus` ...).
    pub fn mist_name(&self) -> &str {
        match self {
            Codec::H264 => "H264",
            Codec::Hevc => "HEVC",
            Codec::Aac => "AAC",
            Codec::Mp3 => "MP3",
            Codec::Mp2 => "MP2",
            Codec::Ac3 => "AC3",
            Codec::Opus => "opus",
            Codec::Json => "JSON",
            Codec::Other(s) => s,
        }
    }

    /// The codec for a MistServer codec name (case matters, as in MistServer).
    pub fn from_mist_name(s: &str) -> Codec {
        match s {
            "H264" => Codec::H264,
            "HEVC" => Codec::Hevc,
            "AAC" => Codec::Aac,
            "MP3" => Codec::Mp3,
            "MP2" => Codec::Mp2,
            "AC3" => Codec::Ac3,
            "opus" => Codec::Opus,
            "JSON" => Codec::Json,
            other => Codec::Other(other.to_string()),
        }
    }

    /// The name ffprobe prints as `codec_name` (`h264`, `aac`, `mp3` ...).
    pub fn ffprobe_name(&self) -> String {
        match self {
            Codec::H264 => "h264".into(),
            Codec::Hevc => "hevc".into(),
            Codec::Aac => "aac".into(),
            Codec::Mp3 => "mp3".into(),
            Codec::Mp2 => "mp2".into(),
            Codec::Ac3 => "ac3".into(),
            Codec::Opus => "opus".into(),
            Codec::Json => "json".into(),
            Codec::Other(s) => s.to_ascii_lowercase(),
        }
    }

    /// The framing every demuxer normalises this codec's payloads to (MistServer's DTSC form).
    pub fn canonical_framing(&self) -> Framing {
        match self {
            Codec::H264 | Codec::Hevc => Framing::LengthPrefixed { size: 4 },
            _ => Framing::Raw,
        }
    }
}

/// How a codec's payload bytes are framed inside [`Packet::data`](super::Packet::data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// NAL units each preceded by a big-endian length of `size` bytes (AVCC/HVCC form).
    LengthPrefixed {
        /// Bytes in each length field (1, 2 or 4).
        size: u8,
    },
    /// NAL units separated by `00 00 01` / `00 00 00 01` start codes.
    AnnexB,
    /// One raw access unit (raw AAC frame, whole MP3 frame, ...).
    Raw,
    /// AAC frames each with their 7- or 9-byte ADTS header.
    Adts,
}

/// Parameters of a video track.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Video {
    /// Picture width in pixels (0 = unknown).
    pub width: u32,
    /// Picture height in pixels (0 = unknown).
    pub height: u32,
    /// Frames per kilo-second (fps × 1000), MistServer's unit; 0 = unknown.
    pub fpks: u32,
}

/// Parameters of an audio track.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Audio {
    /// Sample rate in Hz (0 = unknown).
    pub rate: u32,
    /// Channel count (0 = unknown).
    pub channels: u32,
    /// Bits per sample (MistServer writes 16 for AAC and MP3 by convention).
    pub sample_bits: u32,
}

/// Kind-specific parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Params {
    /// A video track.
    Video(Video),
    /// An audio track.
    Audio(Audio),
    /// Neither (metadata, subtitles).
    None,
}

/// One elementary stream of a [`Meta`](super::Meta).
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Identifier, as the source container numbers it.
    pub id: TrackId,
    /// Video, audio, metadata or subtitles.
    pub kind: TrackKind,
    /// The codec.
    pub codec: Codec,
    /// Framing of packet payloads (the codec's canonical framing inside the core).
    pub framing: Framing,
    /// The clock of this track's packet times.
    pub timebase: Timebase,
    /// Codec initialisation data: avcC body, AudioSpecificConfig, or empty.
    pub init: Bytes,
    /// Resolution or rate/channels.
    pub params: Params,
    /// ISO 639-2 language code, when known and not `und`.
    pub lang: Option<String>,
    /// True when the source itself marks which non-video packets are keys (DTSC's per-packet
    /// `keyframe` member, which MistServer's live recordings set on some audio packets): then
    /// `Packet::keyframe` on this track is that mark, and writers that can store it (DTSC)
    /// keep it. False for every other source: each non-video packet is a random access point
    /// and says so.
    pub marked_keys: bool,
}

impl Track {
    /// A track with no parameters yet, in the codec's canonical framing.
    pub fn new(id: TrackId, kind: TrackKind, codec: Codec, timebase: Timebase) -> Track {
        Track {
            id,
            kind,
            framing: codec.canonical_framing(),
            codec,
            timebase,
            init: Bytes::new(),
            params: match kind {
                TrackKind::Video => Params::Video(Video::default()),
                TrackKind::Audio => Params::Audio(Audio::default()),
                _ => Params::None,
            },
            lang: None,
            marked_keys: false,
        }
    }

    /// Video parameters, if this is a video track.
    pub fn video(&self) -> Option<&Video> {
        match &self.params {
            Params::Video(v) => Some(v),
            _ => None,
        }
    }

    /// Audio parameters, if this is an audio track.
    pub fn audio(&self) -> Option<&Audio> {
        match &self.params {
            Params::Audio(a) => Some(a),
            _ => None,
        }
    }
}
