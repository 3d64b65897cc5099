//! `DTSC` headers: stream metadata and, in files and `.dtsh` side files, the version-4 index
//! tables (dtsc-format.md §1.5–1.6).
//!
//! Index records, all big-endian (u24 = 3 bytes):
//! ```text
//! fragments 13 B: duration u32 | keys u8 | first key + 1 u32 | payload size u32
//! keys      25 B: bpos u64 | duration u24 | number u32 | parts u16 | time u64
//! keysizes   4 B: bytes of the key's whole DTP2 units u32
//! parts      9 B: payload size u24 | duration u24 | composition offset u24 (unsigned)
//! ```

use bytes::{BufMut, Bytes};

use super::value::{self, Value};
use super::{FORMAT, VERSION};
use crate::dtsc::index::{Fragment, Key, Part, TrackIndex};
use crate::dtsc::{Audio, Codec, Meta, Params, Ticks, Timebase, Track, TrackId, TrackKind, Video};
use crate::formats::error::FormatError;
use crate::io::Cursor;

/// Index tables with more entries than this are refused.
pub const MAX_INDEX_ENTRIES: usize = 50_000_000;

/// A parsed `DTSC` header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// The whole object as read (for `analyse --detail`).
    pub value: Value,
    /// `vod` flag.
    pub vod: bool,
    /// `live` flag.
    pub live: bool,
    /// `version` (absent in headers older than 2016).
    pub version: Option<i64>,
    /// `unixzero`: wall-clock ms of stream time 0.
    pub unix_zero: Option<i64>,
    /// `moreheader`: absolute offset of a later header that supersedes this one.
    pub more_header: Option<u64>,
    /// The tracks, in header order (packet ids in files are positions in this list).
    pub tracks: Vec<HeaderTrack>,
    /// The unit's length field (bytes after the 8-byte prefix).
    pub declared_len: u64,
    /// Bytes the object really took, from the magic to its end marker.
    pub encoded_len: u64,
}

/// One track of a header.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderTrack {
    /// Member name (informational: `video_H264_640x360_30fps_0`).
    pub name: String,
    /// `trackid`.
    pub trackid: u32,
    /// `type`: `video`, `audio`, `meta`, ...
    pub kind: String,
    /// `codec`: `H264`, `AAC`, ...
    pub codec: String,
    /// `init`.
    pub init: Bytes,
    /// `lang`, when set and not `und`.
    pub lang: Option<String>,
    /// `firstms`.
    pub firstms: i64,
    /// `lastms`.
    pub lastms: i64,
    /// `bps` (bytes per second, average).
    pub bps: i64,
    /// `maxbps` (bytes per second, peak).
    pub maxbps: i64,
    /// `rate` (audio).
    pub rate: i64,
    /// `size`: bits per sample (audio).
    pub size: i64,
    /// `channels` (audio).
    pub channels: i64,
    /// `width` (video).
    pub width: i64,
    /// `height` (video).
    pub height: i64,
    /// `fpks` (video).
    pub fpks: i64,
    /// `efpks` (video).
    pub efpks: i64,
    /// `missed_frags`.
    pub missed_frags: i64,
    /// True when all four index tables are present, non-empty, in a version-3/4 header.
    pub has_tables: bool,
    /// The index, when all four tables were present, non-empty and consistent.
    pub index: Option<TrackIndex>,
    /// Why present tables were not usable, if they were not.
    pub index_problem: Option<String>,
}

impl Header {
    /// Parses a complete `DTSC` unit (prefix included) at absolute offset `at`.
    pub fn parse(unit: Bytes, at: u64) -> Result<Header, FormatError> {
        let mut c = Cursor::new(unit, at, FORMAT);
        c.skip(4, "magic")?;
        let declared_len = u64::from(c.u32("header length")?);
        Self::parse_object(&mut c, at, declared_len)
    }

    /// Parses the header object at the cursor, structurally (a `.dtsh` may carry a wrong length,
    /// §1.11 Q8). `at` is where the unit started; `declared_len` its length field.
    pub fn parse_object(c: &mut Cursor, at: u64, declared_len: u64) -> Result<Header, FormatError> {
        Self::parse_object_with(c, at, declared_len, true)
    }

    /// As [`parse_object`](Self::parse_object); with `decode_index` false the index tables are
    /// only checked for presence ([`HeaderTrack::has_tables`]), not decoded.
    pub fn parse_object_with(
        c: &mut Cursor,
        at: u64,
        declared_len: u64,
        decode_index: bool,
    ) -> Result<Header, FormatError> {
        let start = c.offset();
        let value = Value::parse(c)?;
        let encoded_len = c.offset() - at;
        Self::from_value(value, start, declared_len, encoded_len, decode_index)
    }

    /// A header from its already parsed object (which started at byte `start`).
    pub fn from_value(
        value: Value,
        start: u64,
        declared_len: u64,
        encoded_len: u64,
        decode_index: bool,
    ) -> Result<Header, FormatError> {
        if !matches!(value, Value::Object(_)) {
            return Err(FormatError::invalid(
                FORMAT,
                start,
                "header is not an object",
            ));
        }
        let int = |k: &str| value.get(k).and_then(Value::as_int);
        let version = int("version");
        let mut tracks = Vec::new();
        if let Some(Value::Object(members)) = value.get("tracks") {
            for (name, t) in members {
                tracks.push(HeaderTrack::from_value(name, t, version, decode_index));
            }
        }
        Ok(Header {
            vod: int("vod").unwrap_or(0) != 0,
            live: int("live").unwrap_or(0) != 0,
            version,
            unix_zero: int("unixzero"),
            more_header: int("moreheader").filter(|v| *v > 0).map(|v| v as u64),
            tracks,
            declared_len,
            encoded_len,
            value,
        })
    }

    /// The model's view: tracks (ids = `trackid`) and, if every track has one, the index.
    pub fn to_meta(&self) -> Meta {
        let tracks = self.tracks.iter().map(HeaderTrack::to_track).collect();
        let index = if !self.tracks.is_empty() && self.tracks.iter().all(|t| t.index.is_some()) {
            Some(crate::dtsc::Index {
                tracks: self.tracks.iter().filter_map(|t| t.index.clone()).collect(),
            })
        } else {
            None
        };
        Meta {
            tracks,
            live: self.live,
            unix_zero: self.unix_zero,
            index,
            tags: None,
        }
    }

    /// The canonical encoding, in MistServer's member order; with `with_index` the index
    /// tables of tracks that have one are included.
    pub fn encode(&self, with_index: bool) -> Vec<u8> {
        self.encode_split(with_index, &[]).concat()
    }

    /// The encoding in pieces, for writers that keep part tables outside memory:
    /// `spilled[i]` parts of track `i` (9-byte records, in order, before its in-memory parts)
    /// go between piece `i` and piece `i + 1`. With no spilled parts, the pieces joined are
    /// [`encode`](Self::encode)'s bytes.
    pub fn encode_split(&self, with_index: bool, spilled: &[u64]) -> Vec<Vec<u8>> {
        let mut pieces = Vec::with_capacity(self.tracks.len() + 1);
        let mut body = Vec::with_capacity(1024);
        body.put_u8(value::OBJECT);
        if self.vod {
            value::put_int(&mut body, "vod", 1);
        }
        if self.live {
            value::put_int(&mut body, "live", 1);
        }
        value::put_int(&mut body, "version", self.version.unwrap_or(VERSION));
        if let Some(u) = self.unix_zero {
            value::put_int(&mut body, "unixzero", u);
        }
        value::put_name(&mut body, "tracks");
        body.put_u8(value::OBJECT);
        let mut spilled_bytes = 0u64;
        for (i, t) in self.tracks.iter().enumerate() {
            value::put_name(&mut body, &t.name);
            let extra = spilled.get(i).copied().unwrap_or(0);
            if with_index && extra > 0 {
                spilled_bytes += extra * 9;
                let after = t.encode_around_spill(extra, &mut body);
                pieces.push(std::mem::take(&mut body));
                body = after;
            } else {
                t.encode(with_index, &mut body);
            }
        }
        body.put_slice(&value::END);
        body.put_slice(&value::END);
        pieces.push(body);
        // The length comes from the bytes, not MistServer's formula (which is wrong for
        // tracks without packets, §1.11 Q8).
        let len = pieces.iter().map(|p| p.len() as u64).sum::<u64>() + spilled_bytes;
        let mut head = Vec::with_capacity(pieces[0].len() + 8);
        head.put_slice(b"DTSC");
        head.put_u32(len as u32);
        head.extend_from_slice(&pieces[0]);
        pieces[0] = head;
        pieces
    }
}

impl HeaderTrack {
    fn from_value(name: &str, t: &Value, version: Option<i64>, decode: bool) -> HeaderTrack {
        let int = |k: &str| t.get(k).and_then(Value::as_int).unwrap_or(0);
        let text = |k: &str| t.get(k).and_then(Value::as_text).unwrap_or_default();
        let mut ht = HeaderTrack {
            name: name.to_string(),
            trackid: int("trackid") as u32,
            kind: text("type"),
            codec: text("codec"),
            init: t.get("init").and_then(Value::as_bytes).unwrap_or_default(),
            lang: t
                .get("lang")
                .and_then(Value::as_text)
                .filter(|l| !l.is_empty() && l != "und"),
            firstms: int("firstms"),
            lastms: int("lastms"),
            bps: int("bps"),
            maxbps: int("maxbps"),
            rate: int("rate"),
            size: int("size"),
            channels: int("channels"),
            width: int("width"),
            height: int("height"),
            fpks: int("fpks"),
            efpks: int("efpks"),
            missed_frags: int("missed_frags"),
            has_tables: false,
            index: None,
            index_problem: None,
        };
        let blob = |k: &str| match t.get(k) {
            Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        if let (Some(f), Some(k), Some(ks), Some(p)) = (
            blob("fragments"),
            blob("keys"),
            blob("keysizes"),
            blob("parts"),
        ) {
            ht.has_tables = matches!(version, Some(3) | Some(4));
            if decode {
                if matches!(version, Some(3) | Some(4)) {
                    match decode_index(&f, &k, &ks, &p) {
                        Ok(mut idx) => {
                            idx.first = Ticks(ht.firstms);
                            idx.last = Ticks(ht.lastms);
                            idx.bps = ht.bps.max(0) as u64;
                            idx.max_bps = ht.maxbps.max(0) as u64;
                            idx.missed_fragments = ht.missed_frags.max(0) as u32;
                            ht.index = Some(idx);
                        }
                        Err(why) => ht.index_problem = Some(why),
                    }
                } else {
                    ht.index_problem = Some(format!(
                        "index tables of header version {} are not read; rebuilding",
                        version.map_or("none".into(), |v| v.to_string())
                    ));
                }
            }
        }
        ht
    }

    /// The model track (timebase: milliseconds).
    pub fn to_track(&self) -> Track {
        let kind = match self.kind.as_str() {
            "video" => TrackKind::Video,
            "audio" => TrackKind::Audio,
            "subtitle" => TrackKind::Subtitle,
            _ => TrackKind::Meta,
        };
        let mut t = Track::new(
            TrackId(self.trackid),
            kind,
            Codec::from_mist_name(&self.codec),
            Timebase::MS,
        );
        t.init = self.init.clone();
        t.lang = self.lang.clone();
        // DTSC packets carry their own `keyframe` member; on video it marks keyframes, on
        // other tracks it is MistServer's key mark.
        t.marked_keys = kind != TrackKind::Video;
        t.params = match kind {
            TrackKind::Video => Params::Video(Video {
                width: clamp_u32(self.width),
                height: clamp_u32(self.height),
                fpks: clamp_u32(self.fpks),
            }),
            TrackKind::Audio => Params::Audio(Audio {
                rate: clamp_u32(self.rate),
                channels: clamp_u32(self.channels),
                sample_bits: clamp_u32(self.size),
            }),
            _ => Params::None,
        };
        t
    }

    /// A header track for `track` at `position`, with totals from `index` (in ms) when given.
    pub fn from_track(track: &Track, position: usize, index: Option<&TrackIndex>) -> HeaderTrack {
        let (firstms, lastms, bps, maxbps, missed) = match index {
            Some(i) => (
                i.first.0,
                i.last.0,
                i.bps as i64,
                i.max_bps as i64,
                i64::from(i.missed_fragments),
            ),
            None => (0, 0, 0, 0, 0),
        };
        let mut ht = HeaderTrack {
            name: String::new(),
            trackid: position as u32,
            kind: track.kind.as_str().to_string(),
            codec: track.codec.mist_name().to_string(),
            init: track.init.clone(),
            lang: track.lang.clone().filter(|l| l != "und"),
            firstms,
            lastms,
            bps,
            maxbps,
            rate: 0,
            size: 0,
            channels: 0,
            width: 0,
            height: 0,
            fpks: 0,
            efpks: 0,
            missed_frags: missed,
            has_tables: index.is_some(),
            index: index.cloned(),
            index_problem: None,
        };
        if let Some(v) = track.video() {
            ht.width = i64::from(v.width);
            ht.height = i64::from(v.height);
            ht.fpks = i64::from(v.fpks);
            ht.efpks = i64::from(v.fpks);
        }
        if let Some(a) = track.audio() {
            ht.rate = i64::from(a.rate);
            ht.channels = i64::from(a.channels);
            ht.size = i64::from(a.sample_bits);
        }
        ht.name = ht.mist_name(position);
        ht
    }

    /// MistServer's member name: `TYPE_CODEC_DETAILS_IDX` (`video_H264_640x360_30fps_0`,
    /// `audio_AAC_2ch_48000hz_1`, `meta_JSON__0`).
    pub fn mist_name(&self, position: usize) -> String {
        if self.kind.is_empty() {
            return format!("metadata_{position}");
        }
        let details = match self.kind.as_str() {
            // fps printed like a C++ stream prints a double: 30, 29.97, 23.976.
            "video" => format!(
                "{}x{}_{}fps",
                self.width,
                self.height,
                self.fpks as f64 / 1000.0
            ),
            "audio" => format!("{}ch_{}hz", self.channels, self.rate),
            _ => String::new(),
        };
        let lang = match &self.lang {
            Some(l) if l != "und" => format!("_{l}"),
            _ => String::new(),
        };
        format!("{}_{}_{details}{lang}_{position}", self.kind, self.codec)
    }

    fn encode(&self, with_index: bool, out: &mut Vec<u8>) {
        out.put_u8(value::OBJECT);
        let index = if with_index {
            self.index.as_ref()
        } else {
            None
        };
        if let Some(idx) = index {
            let (f, k, ks, p) = encode_index(idx);
            value::put_str(out, "fragments", &f);
            value::put_str(out, "keys", &k);
            value::put_str(out, "keysizes", &ks);
            value::put_str(out, "parts", &p);
        }
        self.encode_rest(index.is_some(), out);
    }

    /// Encodes up to the `parts` string's length (for `spilled` + in-memory parts), returns
    /// the bytes that follow the spilled records (the in-memory parts and the rest).
    fn encode_around_spill(&self, spilled: u64, out: &mut Vec<u8>) -> Vec<u8> {
        let empty = TrackIndex::default();
        let idx = self.index.as_ref().unwrap_or(&empty);
        out.put_u8(value::OBJECT);
        let (f, k, ks, p) = encode_index(idx);
        value::put_str(out, "fragments", &f);
        value::put_str(out, "keys", &k);
        value::put_str(out, "keysizes", &ks);
        value::put_name(out, "parts");
        out.put_u8(value::STRING);
        out.put_u32((spilled * 9 + p.len() as u64) as u32);
        let mut after = p;
        self.encode_rest(true, &mut after);
        after
    }

    fn encode_rest(&self, with_index: bool, out: &mut Vec<u8>) {
        let index = if with_index {
            self.index.as_ref()
        } else {
            None
        };
        value::put_int(out, "trackid", i64::from(self.trackid));
        if index.is_some() && self.missed_frags != 0 {
            value::put_int(out, "missed_frags", self.missed_frags);
        }
        value::put_int(out, "firstms", self.firstms);
        value::put_int(out, "lastms", self.lastms);
        value::put_int(out, "bps", self.bps);
        value::put_int(out, "maxbps", self.maxbps);
        value::put_str(out, "init", &self.init);
        value::put_str(out, "codec", self.codec.as_bytes());
        if let Some(l) = self.lang.as_ref().filter(|l| *l != "und") {
            value::put_str(out, "lang", l.as_bytes());
        }
        value::put_str(out, "type", self.kind.as_bytes());
        match self.kind.as_str() {
            "audio" => {
                value::put_int(out, "rate", self.rate);
                value::put_int(out, "size", self.size);
                value::put_int(out, "channels", self.channels);
            }
            "video" => {
                value::put_int(out, "width", self.width);
                value::put_int(out, "height", self.height);
                value::put_int(out, "fpks", self.fpks);
                value::put_int(out, "efpks", self.efpks);
            }
            _ => {}
        }
        out.put_slice(&value::END);
    }
}

fn clamp_u32(v: i64) -> u32 {
    v.clamp(0, i64::from(u32::MAX)) as u32
}

fn u24(b: &[u8]) -> u32 {
    u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2])
}

/// Decodes the four tables; any inconsistency makes the whole index unusable (it is then
/// rebuilt by scanning, as MistServer does).
pub fn decode_index(f: &[u8], k: &[u8], ks: &[u8], p: &[u8]) -> Result<TrackIndex, String> {
    if f.len() % 13 != 0 || k.len() % 25 != 0 || ks.len() % 4 != 0 || p.len() % 9 != 0 {
        return Err("index table lengths are not whole records".into());
    }
    let (nf, nk, np) = (f.len() / 13, k.len() / 25, p.len() / 9);
    if nk != ks.len() / 4 {
        return Err(format!("{nk} keys but {} key sizes", ks.len() / 4));
    }
    if nf.max(nk).max(np) > MAX_INDEX_ENTRIES {
        return Err("index tables are too large".into());
    }
    let parts: Vec<Part> = p
        .chunks_exact(9)
        .map(|r| Part {
            size: u24(&r[0..3]),
            duration: u24(&r[3..6]),
            cts: u24(&r[6..9]) as i32,
        })
        .collect();
    let mut keys = Vec::with_capacity(nk);
    let mut first_part: u64 = 0;
    for (r, s) in k.chunks_exact(25).zip(ks.chunks_exact(4)) {
        let n_parts = u32::from(u16::from_be_bytes([r[15], r[16]]));
        keys.push(Key {
            first_part: first_part as u32,
            parts: n_parts,
            time: Ticks(i64::from_be_bytes([
                r[17], r[18], r[19], r[20], r[21], r[22], r[23], r[24],
            ])),
            duration: u64::from(u24(&r[8..11])),
            pos: u64::from_be_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]),
            size: u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])),
        });
        first_part += u64::from(n_parts);
    }
    if first_part != np as u64 {
        return Err(format!(
            "keys cover {first_part} parts but {np} parts are listed"
        ));
    }
    let mut fragments = Vec::with_capacity(nf);
    for r in f.chunks_exact(13) {
        let first = u32::from_be_bytes([r[5], r[6], r[7], r[8]]);
        let keys_in = u32::from(r[4]);
        // `firstkey` is stored plus one (§1.6.1); derive the position, and check it.
        let first_key = first
            .checked_sub(1)
            .ok_or_else(|| "fragment with first key 0".to_string())?;
        if u64::from(first_key) + u64::from(keys_in) > nk as u64 {
            return Err("a fragment points past the last key".into());
        }
        fragments.push(Fragment {
            first_key,
            keys: keys_in,
            duration: u64::from(u32::from_be_bytes([r[0], r[1], r[2], r[3]])),
            size: u64::from(u32::from_be_bytes([r[9], r[10], r[11], r[12]])),
        });
    }
    Ok(TrackIndex {
        parts,
        keys,
        fragments,
        ..TrackIndex::default()
    })
}

/// One `parts` record: size u24, duration u24, composition offset u24.
pub fn encode_part(part: &Part) -> [u8; 9] {
    let mut r = [0u8; 9];
    r[0..3].copy_from_slice(&part.size.min(0xFF_FFFF).to_be_bytes()[1..]);
    r[3..6].copy_from_slice(&part.duration.min(0xFF_FFFF).to_be_bytes()[1..]);
    // Written as unsigned 24-bit: negative offsets do not survive (§1.11 Q3).
    r[6..9].copy_from_slice(&((part.cts as u32) & 0xFF_FFFF).to_be_bytes()[1..]);
    r
}

/// Encodes the four tables (key numbers 0-based, as MistServer 3.x writes them).
pub fn encode_index(idx: &TrackIndex) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut f = Vec::with_capacity(idx.fragments.len() * 13);
    for fr in &idx.fragments {
        f.put_u32(fr.duration.min(u64::from(u32::MAX)) as u32);
        f.put_u8(fr.keys.min(255) as u8);
        f.put_u32(fr.first_key + 1);
        f.put_u32(fr.size.min(u64::from(u32::MAX)) as u32);
    }
    let mut k = Vec::with_capacity(idx.keys.len() * 25);
    let mut ks = Vec::with_capacity(idx.keys.len() * 4);
    for (n, key) in idx.keys.iter().enumerate() {
        k.put_u64(key.pos);
        put_u24(&mut k, key.duration.min(0xFF_FFFF) as u32);
        k.put_u32(n as u32);
        k.put_u16(key.parts.min(0xFFFF) as u16);
        k.put_u64(key.time.0 as u64);
        ks.put_u32(key.size.min(u64::from(u32::MAX)) as u32);
    }
    let mut p = Vec::with_capacity(idx.parts.len() * 9);
    for part in &idx.parts {
        p.put_slice(&encode_part(part));
    }
    (f, k, ks, p)
}

fn put_u24(out: &mut Vec<u8>, v: u32) {
    out.put_slice(&v.to_be_bytes()[1..]);
}
