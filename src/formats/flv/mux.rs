//! The FLV muxer: header with flags from the tracks, `PreviousTagSize0`, `onMetaData`, the AVC
//! and AAC sequence headers, then one tag per packet; streams to any [`ByteSink`] (files,
//! HTTP-FLV bodies, RTMP will reuse the tag writing).
//!
//! **`onMetaData` and the `keyframes` index.** Players seek in FLV with the non-standard
//! `keyframes { times, filepositions }` object, which needs the byte position of every video
//! keyframe: known only after the tags are written. The muxer asks for the index
//! (`MuxCaps::needs_index`), which tells it *how many* keyframes there will be, reserves an
//! `onMetaData` of fixed size with that many slots, and at the end hands back a patch
//! ([`Finish::patches`]) with the real times, positions, duration and file size. Every patched
//! member is an AMF0 number (fixed 9 bytes); a trailing member `mist_padding` (a strict array of nulls)
//! absorbs any difference, so the patch never changes the tag's size. We chose this over
//! computing positions up front because the index gives per-track sizes but not the interleaved
//! order of the tags the pipeline will hand over. Without an index (trimmed conversions, stdin)
//! [`DEFAULT_KEY_SLOTS`] slots are reserved; live outputs get no `keyframes` at all. Outputs
//! that cannot seek keep the first version: index times, positions 0.

use bytes::{BufMut, Bytes};

use crate::dtsc::{Codec, Framing, Meta, Packet, Timebase, TrackId, TrackKind};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{Finish, MuxOptions, Muxer as MuxerTrait};
use crate::io::ByteSink;

use super::amf0::Value;
use super::body::{self, BodyHead};
use super::header::Header;
use super::tag::{TagHeader, TagType, MAX_DATA_SIZE, TAG_HEADER_LEN};
use super::FORMAT;

/// Keyframe slots reserved in `onMetaData` when the index is not known in advance.
pub const DEFAULT_KEY_SLOTS: usize = 1024;
/// Keyframe slots are never more than this (18 bytes each in the file header; the padding's
/// nulls must stay within what AMF0 readers accept, [`super::amf0::MAX_ITEMS`]).
pub const MAX_KEY_SLOTS: usize = 1 << 15;
/// The `encoder` value written into `onMetaData`.
const ENCODER: &str = concat!("mist ", env!("CARGO_PKG_VERSION"));

/// The framing the FLV muxer takes for a codec, `None` for codecs it refuses.
pub fn framing(c: &Codec) -> Option<Framing> {
    match c {
        Codec::H264 => Some(Framing::LengthPrefixed { size: 4 }),
        Codec::Aac | Codec::Mp3 => Some(Framing::Raw),
        _ => None,
    }
}

#[derive(Clone, Debug)]
struct Out {
    id: TrackId,
    codec: Codec,
    base: Timebase,
    /// The first byte of every audio tag (SoundFormat and the rate/size/type bits).
    audio_flags: u8,
    first_ms: Option<i64>,
    last_ms: i64,
    last_gap: i64,
}

/// Writes FLV.
#[derive(Default)]
pub struct Muxer {
    tracks: Vec<Out>,
    live: bool,
    video: Option<usize>,
    /// Milliseconds added to every time so the first is not negative.
    shift: Option<i64>,
    /// Where the `onMetaData` body starts, and how long it is.
    meta_at: u64,
    meta_len: usize,
    key_slots: usize,
    keys: Vec<(i64, u64)>,
    dropped_keys: usize,
    width: u32,
    height: u32,
    fpks: u32,
    rate: u32,
    channels: u32,
    scratch: Vec<u8>,
}

/// A new FLV muxer (the format table's `muxer`).
pub fn new(_: &MuxOptions) -> Box<dyn MuxerTrait> {
    Box::<Muxer>::default()
}

/// Bytes a padding member takes besides its elements: key length, key, strict-array marker
/// and count.
const PAD_MEMBER: usize = 2 + PAD_KEY.len() + 1 + 4;
const PAD_KEY: &str = "mist_padding";

/// One member taking exactly `bytes` bytes (0, or at least [`PAD_MEMBER`]): a strict array of
/// AMF0 nulls, one byte each. (A string would do too, but FFmpeg refuses metadata strings of
/// 256 bytes or more.)
fn padding(bytes: usize) -> Vec<(String, Value)> {
    if bytes < PAD_MEMBER {
        return Vec::new();
    }
    vec![(
        PAD_KEY.to_string(),
        Value::StrictArray(vec![Value::Null; bytes - PAD_MEMBER]),
    )]
}

fn io_err(at: u64) -> impl Fn(std::io::Error) -> FormatError {
    move |e| FormatError::io(FORMAT, at, e)
}

fn unsupported(why: String) -> FormatError {
    FormatError::new(FORMAT, 0, Problem::Unsupported(why))
}

/// Appends one whole tag (header, body parts, PreviousTagSize) to `out`.
fn put_tag(
    out: &mut dyn ByteSink,
    scratch: &mut Vec<u8>,
    kind: TagType,
    ts_ms: u32,
    head: &[u8],
    payload: Option<bytes::Bytes>,
) -> Result<(), FormatError> {
    let at = out.position();
    let body = head.len() + payload.as_ref().map_or(0, |p| p.len());
    if body > MAX_DATA_SIZE as usize {
        return Err(FormatError::new(
            FORMAT,
            at,
            Problem::Limit {
                what: "FLV tag data size",
                limit: u64::from(MAX_DATA_SIZE),
            },
        ));
    }
    scratch.clear();
    let h = TagHeader::new(kind, body as u32, ts_ms);
    h.write(scratch);
    scratch.extend_from_slice(head);
    match payload {
        Some(p) => {
            out.put(scratch).map_err(io_err(at))?;
            out.put_shared(p).map_err(io_err(at))?;
            out.put(&h.tag_size().to_be_bytes()).map_err(io_err(at))?;
        }
        None => {
            scratch.put_u32(h.tag_size());
            out.put(scratch).map_err(io_err(at))?;
        }
    }
    Ok(())
}

impl Muxer {
    /// The `onMetaData` arguments: the keyframes listed so far (at most `key_slots`), then
    /// padding members taking `pad` more bytes.
    fn metadata(&self, duration_ms: i64, filesize: u64, pad: usize) -> Vec<Value> {
        let mut p: Vec<(String, Value)> = Vec::new();
        let num = |v: f64| Value::Number(v);
        if !self.live {
            p.push(("duration".into(), num(duration_ms as f64 / 1000.0)));
        }
        let video = self.video.and_then(|i| self.tracks.get(i));
        if video.is_some() {
            // Unknown values are left out rather than written as 0.
            if self.width > 0 && self.height > 0 {
                p.push(("width".into(), num(f64::from(self.width))));
                p.push(("height".into(), num(f64::from(self.height))));
            }
            if self.fpks > 0 {
                p.push(("framerate".into(), num(f64::from(self.fpks) / 1000.0)));
            }
            p.push(("videocodecid".into(), num(7.0)));
        }
        if let Some(a) = self
            .tracks
            .iter()
            .find(|t| matches!(t.codec, Codec::Aac | Codec::Mp3))
        {
            p.push(("audiocodecid".into(), num(f64::from(a.audio_flags >> 4))));
            p.push(("audiosamplerate".into(), num(f64::from(self.rate))));
            p.push(("audiosamplesize".into(), num(16.0)));
            p.push(("stereo".into(), Value::Boolean(self.channels >= 2)));
        }
        if !self.live {
            p.push(("filesize".into(), num(filesize as f64)));
        }
        p.push(("encoder".into(), Value::String(ENCODER.into())));
        if !self.live && video.is_some() {
            let keys = &self.keys[..self.keys.len().min(self.key_slots)];
            let mut times: Vec<Value> = keys.iter().map(|(t, _)| num(*t as f64 / 1000.0)).collect();
            let mut pos: Vec<Value> = keys.iter().map(|(_, p)| num(*p as f64)).collect();
            // Unused slots (fewer keyframes than reserved) are left out; the padding grows.
            times.truncate(self.key_slots);
            pos.truncate(self.key_slots);
            p.push((
                "keyframes".into(),
                Value::Object(vec![
                    ("times".into(), Value::StrictArray(times)),
                    ("filepositions".into(), Value::StrictArray(pos)),
                ]),
            ));
        }
        if !self.live && video.is_some() {
            p.extend(padding(pad));
        }
        vec![Value::String("onMetaData".into()), Value::EcmaArray(p)]
    }

    fn encode(values: &[Value]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in values {
            v.write(&mut b);
        }
        b
    }

    fn duration_ms(&self) -> i64 {
        let first = self.tracks.iter().filter_map(|t| t.first_ms).min();
        let end = self
            .tracks
            .iter()
            .filter(|t| t.first_ms.is_some())
            .map(|t| t.last_ms + t.last_gap)
            .max();
        match (first, end) {
            (Some(f), Some(e)) => e - f,
            _ => 0,
        }
    }
}

/// One packet as an FLV tag before framing: what RTMP sends as a message body (`head()` then
/// `payload`) and what the file muxer wraps in a tag header and `PreviousTagSize`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagParts {
    /// Audio or video.
    pub tag_type: TagType,
    /// The 32-bit ms timestamp (wrapped).
    pub timestamp_ms: u32,
    head: BodyHead,
    /// The payload, shared with the packet.
    pub payload: Bytes,
}

impl TagParts {
    /// The audio/video tag header bytes that precede the payload.
    pub fn head(&self) -> &[u8] {
        self.head.as_slice()
    }
}

impl Muxer {
    /// The tag for `pkt` (times rescaled to ms, composition offset checked); `at` is the byte
    /// position the tag will have in the output, remembered for the `keyframes` list.
    pub fn tag_parts(&mut self, pkt: &Packet, at: u64) -> Result<TagParts, FormatError> {
        let i = self
            .tracks
            .iter()
            .position(|t| t.id == pkt.track)
            .ok_or_else(|| {
                FormatError::invalid(
                    FORMAT,
                    at,
                    format!("packet for track {} not announced", pkt.track),
                )
            })?;
        let t = &mut self.tracks[i];
        // Absolute times are rescaled, then differenced (never a rescaled offset).
        let dts = t.base.rescale(pkt.dts.0, Timebase::MS);
        let pts = t.base.rescale(pkt.pts().0, Timebase::MS);
        let shift = *self.shift.get_or_insert(if dts < 0 { -dts } else { 0 });
        let dts = dts + shift;
        if dts < 0 {
            return Err(FormatError::invalid(
                FORMAT,
                at,
                format!(
                    "track {}: time {} ms is before the start of the file",
                    pkt.track,
                    dts - shift
                ),
            ));
        }
        let cts = pts + shift - dts;
        if !(-(1 << 23)..(1 << 23)).contains(&cts) {
            return Err(FormatError::invalid(
                FORMAT,
                at,
                format!(
                    "track {}: composition offset {cts} ms does not fit FLV's 24 bits",
                    pkt.track
                ),
            ));
        }
        if t.first_ms.is_some() {
            t.last_gap = dts - t.last_ms;
        } else {
            t.first_ms = Some(dts);
        }
        t.last_ms = dts;
        let (tag_type, head) = body::packet_head(&t.codec, t.audio_flags, pkt.keyframe, cts as i32)
            .ok_or_else(|| unsupported(format!("{} in FLV", t.codec.ffprobe_name())))?;
        if t.codec == Codec::H264 && pkt.keyframe && self.video == Some(i) {
            if self.keys.len() < self.key_slots {
                self.keys.push((dts, at));
            } else {
                self.dropped_keys += 1;
            }
        }
        Ok(TagParts {
            tag_type,
            // FLV timestamps are 32-bit and wrap; the reader unwraps them again.
            timestamp_ms: (dts as u64 & 0xFFFF_FFFF) as u32,
            head,
            payload: pkt.data.clone(),
        })
    }
}

impl MuxerTrait for Muxer {
    fn start(&mut self, meta: &Meta, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        self.live = meta.live;
        let mut has_audio = false;
        for t in &meta.tracks {
            let want = framing(&t.codec).ok_or_else(|| {
                unsupported(format!(
                    "{} ({} track {}) in FLV; FLV output takes H.264, AAC and MP3",
                    t.codec.ffprobe_name(),
                    t.kind.as_str(),
                    t.id
                ))
            })?;
            if t.framing != want {
                return Err(unsupported(format!(
                    "track {} in {:?} framing (FLV takes {:?})",
                    t.id, t.framing, want
                )));
            }
            // Video tracks have no audio flags; 0 is never read for them.
            let audio_flags = body::audio_flags(t).unwrap_or(0);
            match t.kind {
                TrackKind::Video => {
                    if self.video.is_some() {
                        return Err(unsupported(
                            "more than one video track in FLV (choose one with --tracks)".into(),
                        ));
                    }
                    self.video = Some(self.tracks.len());
                    if let Some(v) = t.video() {
                        self.width = v.width;
                        self.height = v.height;
                        self.fpks = v.fpks;
                    }
                }
                _ => {
                    if has_audio {
                        return Err(unsupported(
                            "more than one audio track in FLV (choose one with --tracks)".into(),
                        ));
                    }
                    has_audio = true;
                    if let Some(a) = t.audio() {
                        self.rate = a.rate;
                        self.channels = a.channels;
                    }
                }
            }
            if matches!(t.codec, Codec::H264 | Codec::Aac) && t.init.is_empty() {
                return Err(FormatError::invalid(
                    FORMAT,
                    0,
                    format!(
                        "{} track {} has no {} to write as the FLV sequence header",
                        t.codec.ffprobe_name(),
                        t.id,
                        if t.codec == Codec::H264 {
                            "avcC"
                        } else {
                            "AudioSpecificConfig"
                        }
                    ),
                ));
            }
            self.tracks.push(Out {
                id: t.id,
                codec: t.codec.clone(),
                base: t.timebase,
                audio_flags,
                first_ms: None,
                last_ms: 0,
                last_gap: 0,
            });
        }

        // Keyframe slots and the first duration guess from the index, when there is one.
        let mut duration_guess = 0i64;
        self.key_slots = DEFAULT_KEY_SLOTS;
        if let Some(idx) = &meta.index {
            let mut first = i64::MAX;
            let mut end = i64::MIN;
            for (t, ti) in meta.tracks.iter().zip(&idx.tracks) {
                if ti.parts.is_empty() {
                    continue;
                }
                let f = t.timebase.rescale(ti.first.0, Timebase::MS);
                let last_dur = ti.parts.last().map_or(0, |p| i64::from(p.duration));
                let e = t
                    .timebase
                    .rescale(ti.last.0.saturating_add(last_dur), Timebase::MS);
                first = first.min(f);
                end = end.max(e);
            }
            if end > first {
                duration_guess = end - first;
            }
            if let Some(vi) = meta.tracks.iter().position(|t| t.kind == TrackKind::Video) {
                if let Some(ti) = idx.tracks.get(vi) {
                    self.key_slots = ti.keys.len().min(MAX_KEY_SLOTS);
                    self.keys = ti
                        .keys
                        .iter()
                        .map(|k| (meta.tracks[vi].timebase.rescale(k.time.0, Timebase::MS), 0))
                        .collect();
                }
            }
        }

        let mut head = Vec::with_capacity(13);
        Header::new(has_audio, self.video.is_some()).write(&mut head);
        head.put_u32(0);
        out.put(&head).map_err(io_err(0))?;

        // Slots the index did not fill (no index: all of them) are reserved as padding: each
        // keyframe takes two AMF0 numbers of 9 bytes.
        let video_listed = !self.live && self.video.is_some();
        let free_slots = if video_listed {
            self.key_slots - self.keys.len().min(self.key_slots)
        } else {
            0
        };
        let body = Self::encode(&self.metadata(duration_guess, 0, PAD_MEMBER + free_slots * 18));
        self.meta_at = out.position() + TAG_HEADER_LEN as u64;
        self.meta_len = body.len();
        let mut scratch = std::mem::take(&mut self.scratch);
        put_tag(out, &mut scratch, TagType::SCRIPT, 0, &body, None)?;
        // Index times were a first guess; the real ones come with the packets.
        self.keys.clear();

        for t in &meta.tracks {
            if let Some((kind, head, init)) = body::sequence_header(t) {
                put_tag(out, &mut scratch, kind, 0, head.as_slice(), Some(init))?;
            }
        }
        self.scratch = scratch;
        Ok(())
    }

    fn write(&mut self, pkt: &Packet, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        let at = out.position();
        let parts = self.tag_parts(pkt, at)?;
        let mut scratch = std::mem::take(&mut self.scratch);
        let r = put_tag(
            out,
            &mut scratch,
            parts.tag_type,
            parts.timestamp_ms,
            parts.head(),
            Some(parts.payload.clone()),
        );
        self.scratch = scratch;
        r
    }

    fn finish(&mut self, out: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        // AVC end of sequence, as FFmpeg writes it.
        if let Some(v) = self.video.and_then(|i| self.tracks.get(i)) {
            if v.first_ms.is_some() {
                let ts = (v.last_ms as u64 & 0xFFFF_FFFF) as u32;
                let h = body::avc_end_of_sequence();
                let mut scratch = std::mem::take(&mut self.scratch);
                put_tag(out, &mut scratch, TagType::VIDEO, ts, h.as_slice(), None)?;
                self.scratch = scratch;
            }
        }
        if self.dropped_keys > 0 {
            tracing::warn!(
                slots = self.key_slots,
                more = self.dropped_keys,
                "flv: more keyframes than reserved onMetaData slots; the last ones are not listed"
            );
        }
        let filesize = out.position();
        let duration = self.duration_ms();
        let bare = Self::encode(&self.metadata(duration, filesize, 0));
        let patch = if bare.len() == self.meta_len || bare.len() + PAD_MEMBER <= self.meta_len {
            let b = Self::encode(&self.metadata(duration, filesize, self.meta_len - bare.len()));
            debug_assert_eq!(b.len(), self.meta_len, "patched onMetaData keeps its size");
            (b.len() == self.meta_len).then_some(b)
        } else {
            None
        };
        Ok(Finish {
            patches: patch.map(|b| vec![(self.meta_at, b)]).unwrap_or_default(),
            side_files: Vec::new(),
            dropped: Vec::new(),
        })
    }
}
