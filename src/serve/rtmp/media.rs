//! Media for players: a canonical packet → the chunks of one RTMP audio/video message, built
//! once per stream and written to every viewer as they are (nginx-rtmp's shared buffers).
//!
//! That works because nothing in the chunks depends on the viewer:
//! - every viewer's chunk size is [`OUT_CHUNK_SIZE`] (announced after `connect`);
//! - a fixed chunk stream per kind ([`csid`](super::outbox::csid)) and message stream [`FIRST_STREAM_ID`];
//! - a type-0 header with the absolute timestamp on the first chunk, so no chunk depends on
//!   what the viewer was sent before (delta headers would); the extended timestamp is repeated
//!   on type-3 continuation chunks, which FFmpeg's reader requires;
//! - the pieces are small header buffers and slices of the packet's payload (`Bytes`), for a
//!   vectored write: the payload is never copied per viewer, nor per stream.
//!
//! A viewer that plays on another message stream (a client that did not use `createStream`'s
//! id 1) gets its chunks built for it with the same function.

use bytes::Bytes;

use crate::dtsc::{Codec, Meta, Packet, Timebase, TrackId, TrackKind};
use crate::formats::flv::amf0::Value;
use crate::formats::flv::body;
use crate::formats::flv::tag::TagType;

use super::chunk::chunk_pieces;
use super::command::s;
use super::session::{MediaKind, FIRST_STREAM_ID, OUT_CHUNK_SIZE};

/// How one track goes out over RTMP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackOut {
    /// The track.
    pub id: TrackId,
    /// Its codec (H.264, AAC or MP3).
    pub codec: Codec,
    /// Its packets' timebase.
    pub timebase: Timebase,
    /// Audio or video.
    pub kind: MediaKind,
    /// The audio tag flags byte (unused for video).
    pub audio_flags: u8,
}

/// The tracks of a stream that RTMP play sends: the first H.264 video track and the first AAC
/// or MP3 audio track (FLV bodies carry one of each).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlayTracks {
    tracks: Vec<TrackOut>,
}

/// The kind a track goes out as, if RTMP play carries its codec.
fn carried(t: &crate::dtsc::Track) -> Option<MediaKind> {
    match (t.kind, &t.codec) {
        (TrackKind::Video, Codec::H264) => Some(MediaKind::Video),
        (TrackKind::Audio, Codec::Aac | Codec::Mp3) => Some(MediaKind::Audio),
        _ => None,
    }
}

fn track_out(t: &crate::dtsc::Track, kind: MediaKind) -> TrackOut {
    TrackOut {
        id: t.id,
        codec: t.codec.clone(),
        timebase: t.timebase,
        kind,
        audio_flags: match kind {
            MediaKind::Audio => body::audio_flags(t).unwrap_or(0x2F),
            MediaKind::Video => 0,
        },
    }
}

impl PlayTracks {
    /// Picks the tracks of `meta` that RTMP can carry.
    pub fn new(meta: &Meta) -> PlayTracks {
        let mut tracks: Vec<TrackOut> = Vec::new();
        for t in &meta.tracks {
            if let Some(kind) = carried(t) {
                if !tracks.iter().any(|o| o.kind == kind) {
                    tracks.push(track_out(t, kind));
                }
            }
        }
        PlayTracks { tracks }
    }

    /// The chosen track `id` of `meta`, found without building the whole set (for encoding
    /// one packet of the hub, where the entry carries its `meta`).
    pub fn find(meta: &Meta, id: TrackId) -> Option<TrackOut> {
        let t = meta.track(id)?;
        let kind = carried(t)?;
        // Chosen only if it is the first track of its kind that RTMP carries.
        let first = meta.tracks.iter().find(|o| carried(o) == Some(kind))?;
        (first.id == id).then(|| track_out(t, kind))
    }

    /// The tracks chosen.
    pub fn tracks(&self) -> &[TrackOut] {
        &self.tracks
    }

    /// The chosen track with id `id`.
    pub fn get(&self, id: TrackId) -> Option<&TrackOut> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// The chunks of `pkt` (decode time `ms`) on message stream `stream_id`, or `None` for a
    /// packet of a track not sent.
    pub fn encode(&self, pkt: &Packet, ms: i64, stream_id: u32) -> Option<Vec<Bytes>> {
        let t = self.get(pkt.track)?;
        Some(encode_packet(t, pkt, ms, stream_id))
    }

    /// [`PlayTracks::encode`] on the shared message stream: what every viewer gets.
    pub fn encode_shared(&self, pkt: &Packet, ms: i64) -> Option<Vec<Bytes>> {
        self.encode(pkt, ms, FIRST_STREAM_ID)
    }
}

/// The shared chunks of `pkt` of a stream whose tracks are `meta` (what the hub caches in an
/// entry): `None` for packets of tracks RTMP play does not send.
pub fn encode_shared(meta: &Meta, pkt: &Packet, ms: i64) -> Option<Vec<Bytes>> {
    let t = PlayTracks::find(meta, pkt.track)?;
    Some(encode_packet(&t, pkt, ms, FIRST_STREAM_ID))
}

/// A stream time in ms as an RTMP timestamp: negative times (before a source's origin) are
/// sent as 0, later ones wrap at 2^32 as the protocol does.
pub fn rtmp_timestamp(ms: i64) -> u32 {
    (ms.max(0) as u64 & 0xFFFF_FFFF) as u32
}

/// The chunks of one packet of track `t` at decode time `ms`.
pub fn encode_packet(t: &TrackOut, pkt: &Packet, ms: i64, stream_id: u32) -> Vec<Bytes> {
    // Composition offset from rescaled absolute times (never a rescaled offset), clamped to
    // the signed 24 bits FLV has.
    let cts =
        t.timebase.rescale(pkt.pts().0, Timebase::MS) - t.timebase.rescale(pkt.dts.0, Timebase::MS);
    let cts = cts.clamp(-(1 << 23), (1 << 23) - 1) as i32;
    let head = body::packet_head(&t.codec, t.audio_flags, pkt.keyframe, cts).map(|(_, h)| h);
    let head = head.as_ref().map_or(&[][..], |h| h.as_slice());
    chunk_pieces(
        t.kind.csid(),
        rtmp_timestamp(ms),
        t.kind.message_type(),
        stream_id,
        head,
        &pkt.data,
        OUT_CHUNK_SIZE,
    )
}

/// The sequence header message bodies (avcC, AudioSpecificConfig) of the chosen tracks of
/// `meta`, video first: what a player needs before the first frame.
pub fn sequence_headers(meta: &Meta, tracks: &PlayTracks) -> Vec<(MediaKind, Bytes)> {
    let mut out = Vec::new();
    for kind in [MediaKind::Video, MediaKind::Audio] {
        for t in tracks.tracks().iter().filter(|t| t.kind == kind) {
            let Some(track) = meta.track(t.id) else {
                continue;
            };
            if let Some((_, head, init)) = body::sequence_header(track) {
                let mut b = Vec::with_capacity(head.as_slice().len() + init.len());
                b.extend_from_slice(head.as_slice());
                b.extend_from_slice(&init);
                out.push((kind, Bytes::from(b)));
            }
        }
    }
    out
}

/// An `onMetaData` for players from the chosen tracks (size, frame rate, codec ids, audio
/// rate and channels), for streams whose publisher sent none.
pub fn metadata(meta: &Meta, tracks: &PlayTracks) -> Vec<Value> {
    let mut p: Vec<(String, Value)> = Vec::new();
    let num = |v: f64| Value::Number(v);
    for t in tracks.tracks() {
        let Some(track) = meta.track(t.id) else {
            continue;
        };
        match t.kind {
            MediaKind::Video => {
                if let Some(v) = track.video().filter(|v| v.width > 0 && v.height > 0) {
                    p.push(("width".into(), num(f64::from(v.width))));
                    p.push(("height".into(), num(f64::from(v.height))));
                    if v.fpks > 0 {
                        p.push(("framerate".into(), num(f64::from(v.fpks) / 1000.0)));
                    }
                }
                p.push(("videocodecid".into(), num(7.0)));
            }
            MediaKind::Audio => {
                p.push(("audiocodecid".into(), num(f64::from(t.audio_flags >> 4))));
                if let Some(a) = track.audio() {
                    if a.rate > 0 {
                        p.push(("audiosamplerate".into(), num(f64::from(a.rate))));
                    }
                    p.push(("stereo".into(), Value::Boolean(a.channels >= 2)));
                }
            }
        }
    }
    p.push((
        "encoder".into(),
        s(concat!("mist ", env!("CARGO_PKG_VERSION"))),
    ));
    vec![s("onMetaData"), Value::EcmaArray(p)]
}

/// The message kind of an FLV tag type, if it is audio or video.
pub fn media_kind(t: TagType) -> Option<MediaKind> {
    match t {
        TagType::AUDIO => Some(MediaKind::Audio),
        TagType::VIDEO => Some(MediaKind::Video),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Ticks, Track};
    use crate::serve::rtmp::chunk::{ChunkReader, Limits};
    use crate::serve::rtmp::message::MessageType;

    fn meta() -> Meta {
        let mut v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        v.init = Bytes::from_static(&[1, 0x64, 0, 0x1f, 0xff]);
        let mut a = Track::new(
            TrackId(2),
            TrackKind::Audio,
            Codec::Aac,
            Timebase::new(48_000).unwrap(),
        );
        a.init = Bytes::from_static(&[0x11, 0x90]);
        Meta {
            tracks: vec![v, a],
            ..Meta::default()
        }
    }

    fn read(pieces: &[Bytes]) -> Vec<crate::serve::rtmp::message::Message> {
        let mut r = ChunkReader::new(Limits::default(), 0);
        // The viewer was told the chunk size at connect.
        let mut cs = Vec::new();
        crate::serve::rtmp::chunk::ChunkWriter::new(128).write(
            &mut cs,
            2,
            0,
            MessageType::SET_CHUNK_SIZE,
            0,
            &OUT_CHUNK_SIZE.to_be_bytes(),
        );
        r.feed(&cs);
        for p in pieces {
            r.feed(p);
        }
        let mut v = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            v.push(m);
        }
        v.remove(0);
        v
    }

    #[test]
    fn a_video_packet_becomes_one_message_with_its_flv_body() {
        let m = meta();
        let pt = PlayTracks::new(&m);
        let payload = Bytes::from(vec![0x42u8; 10_000]);
        let pkt = Packet {
            track: TrackId(1),
            dts: Ticks(0x0100_0000),
            cts: 80,
            keyframe: true,
            data: payload.clone(),
            pos: None,
        };
        let pieces = pt.encode_shared(&pkt, 0x0100_0000).unwrap();
        // 10005 bytes at 4096 per chunk: 3 chunks; header, payload, (type 3, payload) × 2.
        assert_eq!(pieces.len(), 6);
        // The payload pieces are slices of the packet's buffer, not copies.
        assert_eq!(pieces[1].as_ptr(), payload.as_ptr());
        // Type-0 header with the extended timestamp, then the AVC head 17 01 00 00 50.
        assert_eq!(
            &pieces[0][..],
            &[0x06, 0xff, 0xff, 0xff, 0, 0x27, 0x15, 9, 1, 0, 0, 0, 1, 0, 0, 0, 0x17, 1, 0, 0, 80]
        );
        // Continuations repeat the extended timestamp.
        assert_eq!(&pieces[2][..], &[0xc6, 1, 0, 0, 0]);
        let msgs = read(&pieces);
        assert_eq!(msgs.len(), 1);
        assert_eq!(
            (msgs[0].kind, msgs[0].timestamp, msgs[0].stream_id),
            (MessageType::VIDEO, 0x0100_0000, 1)
        );
        assert_eq!(&msgs[0].body[5..], &payload[..]);
    }

    #[test]
    fn audio_in_its_own_timebase_and_sequence_headers() {
        let m = meta();
        let pt = PlayTracks::new(&m);
        let pkt = Packet {
            track: TrackId(2),
            dts: Ticks(1024),
            cts: 0,
            keyframe: true,
            data: Bytes::from_static(&[1, 2, 3]),
            pos: None,
        };
        // 1024 ticks at 48 kHz = 21.33 ms; the caller gives the hub's ms.
        let msgs = read(&pt.encode_shared(&pkt, 21).unwrap());
        assert_eq!((msgs[0].kind, msgs[0].timestamp), (MessageType::AUDIO, 21));
        assert_eq!(&msgs[0].body[..], &[0xaf, 1, 1, 2, 3]);
        let sh = sequence_headers(&m, &pt);
        assert_eq!(sh.len(), 2);
        assert_eq!(
            (sh[0].0, &sh[0].1[..5]),
            (MediaKind::Video, &[0x17, 0, 0, 0, 0][..])
        );
        assert_eq!(
            (sh[1].0, &sh[1].1[..]),
            (MediaKind::Audio, &[0xaf, 0, 0x11, 0x90][..])
        );
        assert_eq!(
            pt.encode_shared(
                &Packet {
                    track: TrackId(9),
                    ..pkt
                },
                0
            ),
            None
        );
    }

    #[test]
    fn negative_times_are_sent_as_zero_and_big_ones_wrap() {
        assert_eq!(rtmp_timestamp(-5), 0);
        assert_eq!(rtmp_timestamp(1 << 32), 0);
        assert_eq!(rtmp_timestamp((1 << 32) + 7), 7);
    }
}
