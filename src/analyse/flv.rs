//! `analyse` for FLV: the file header, every tag (type, size, timestamp, composition offset,
//! codec and frame type), `onMetaData` and other script tags pretty-printed, NAL unit types and
//! decoded configuration records at `--detail 2`, hex at `--detail 3`, and validation findings
//! at byte offsets. Parsing is `formats::flv`'s; this module only looks and prints.

use std::io::{Read, Write};

use crate::dtsc::{Meta, Ticks, TrackId};
use crate::formats::flv::amf0::Value;
use crate::formats::flv::demux::HeaderScan;
use crate::formats::flv::header::{Header, HEADER_LEN};
use crate::formats::flv::reader::{Event, Item, Streams, Tag, TagReader};
use crate::formats::flv::tag::{
    frame_type, AudioTagHeader, SoundFormat, TagType, VideoPacket, VideoTagHeader,
    PREV_TAG_SIZE_LEN, TAG_HEADER_LEN,
};
use crate::formats::flv::FORMAT;
use crate::formats::{Finding, FormatError};
use crate::io::{Cursor, Source};

use super::decode;
use super::payload::PayloadCheck;
use super::tree::{map, Detail, Node, Val};
use super::{AnalyseError, Options, PacketRow, Stats};

/// Findings past this many are summarised in one line.
const MAX_FINDINGS: usize = 500;
/// How much one read asks the source for.
const READ_CHUNK: usize = 1 << 20;
/// How much one read asks a pipe or a live stream for.
const LIVE_READ: usize = 64 << 10;

/// What the walk over the tags has gathered. The RTMP analyser walks its audio, video and data
/// messages through it too (they are FLV tag bodies).
pub(super) struct Walk<'o> {
    opts: &'o Options,
    pub(super) streams: Streams,
    pub(super) findings: Vec<Finding>,
    rows: Vec<PacketRow>,
    header: Option<Header>,
    events: Vec<Event>,
    last_dts: [Option<Ticks>; 2],
    meta: Meta,
    stats: Stats,
    /// An audio packet's whole payload has been seen (the summary learns from the first).
    audio_payload_seen: bool,
    /// `--validate`'s codec checks.
    payloads: PayloadCheck,
    /// The first video packet seen: (offset, keyframe).
    pub(super) first_video: Option<(u64, bool)>,
    /// The packets the last tag gave: (track, dts).
    pub(super) last_packets: Vec<(TrackId, Ticks)>,
}

impl<'o> Walk<'o> {
    /// A walk with nothing seen yet.
    pub(super) fn new(opts: &'o Options) -> Walk<'o> {
        let meta = Meta::default();
        Walk {
            opts,
            streams: Streams::new(),
            findings: Vec::new(),
            rows: Vec::new(),
            header: None,
            events: Vec::new(),
            last_dts: [None, None],
            stats: Stats::new(&meta),
            meta,
            audio_payload_seen: false,
            payloads: PayloadCheck::default(),
            first_video: None,
            last_packets: Vec::new(),
        }
    }

    /// The report of what was walked (packets with `--json --detail 1`, findings capped).
    pub(super) fn into_report(
        self,
        file: String,
        format: &str,
        size: Option<u64>,
    ) -> super::Report {
        let Walk {
            mut findings,
            rows,
            stats,
            ..
        } = self;
        cap(&mut findings);
        stats.into_report(
            file,
            format,
            size,
            (self.opts.detail >= 1 && self.opts.json).then_some(rows),
            findings,
            self.opts.validate,
        )
    }

    fn header(&mut self, h: Header, d: &mut Detail) -> std::io::Result<()> {
        if d.wants(self.opts.detail, 1) {
            d.emit(
                Node::new("header", "FLV header")
                    .at(0)
                    .sized(u64::from(h.data_offset))
                    .field("version", h.version)
                    .field("flags", format!("{:#04x}", h.flags))
                    .field("has_audio", h.has_audio())
                    .field("has_video", h.has_video())
                    .field("data_offset", h.data_offset),
            )?;
        }
        if h.version != 1 {
            self.findings
                .push(Finding::warning(3, format!("FLV version {}", h.version)));
        }
        if h.flags & 0xFA != 0 {
            self.findings
                .push(Finding::warning(4, "reserved header flag bits are set"));
        }
        self.header = Some(h);
        Ok(())
    }

    /// One tag; `missing` body bytes were not read (header-only scan).
    pub(super) fn tag(&mut self, tag: &Tag, missing: usize, d: &mut Detail) -> std::io::Result<()> {
        if d.wants(self.opts.detail, 1) {
            d.emit(tag_node(tag, self.opts.detail, self.streams.nal_len()))?;
        }
        if tag.header.stream_id != 0 {
            self.findings.push(Finding::warning(
                tag.offset + 8,
                format!("StreamID is {} (should be 0)", tag.header.stream_id),
            ));
        }
        self.streams.handle(tag, &mut self.events);
        for e in self.events.drain(..) {
            match e {
                Event::Tracks(t) => {
                    self.meta.tracks = t;
                    self.stats.update_tracks(&self.meta);
                    self.payloads.update(&self.meta);
                }
                Event::Finding(f) => self.findings.push(f),
                Event::Script(_) => {}
                Event::Packet(p) => {
                    let is_video = self
                        .meta
                        .track(p.track)
                        .is_some_and(|t| t.kind == crate::dtsc::TrackKind::Video);
                    self.last_packets.push((p.track, p.dts));
                    if is_video && self.first_video.is_none() {
                        self.first_video = Some((tag.offset, p.keyframe));
                    }
                    let slot = usize::from(p.track != TrackId(1));
                    if let Some(prev) = self.last_dts[slot] {
                        // A step back beyond jitter is a discontinuity (an encoder restart,
                        // a splice): convert bridges it, so it is a warning; a small one is
                        // a muxer's error.
                        let jump = prev - p.dts > crate::dtsc::timeline::JITTER_MS;
                        if p.dts < prev {
                            let msg = format!(
                                "track {}: timestamp {} ms goes back from {} ms{}",
                                p.track,
                                p.dts.0,
                                prev.0,
                                if jump { " (a discontinuity)" } else { "" }
                            );
                            self.findings.push(if jump {
                                Finding::warning(tag.offset, msg)
                            } else {
                                Finding::error(tag.offset, msg)
                            });
                        }
                    }
                    self.last_dts[slot] = Some(p.dts);
                    if missing == 0
                        && !self.audio_payload_seen
                        && self
                            .meta
                            .track(p.track)
                            .is_some_and(|t| t.kind == crate::dtsc::TrackKind::Audio)
                    {
                        self.audio_payload_seen = true;
                        self.stats.first_payload(p.track, &p.data);
                    }
                    if self.opts.validate && missing == 0 {
                        self.payloads.check(&p, &mut self.findings);
                    }
                    let size = p.data.len() + missing;
                    self.stats
                        .add_sample(p.track, p.dts, p.cts, size as u64, p.keyframe);
                    if self.opts.detail >= 1 && self.opts.json {
                        let mut row = PacketRow::of(&p);
                        row.size = size;
                        self.opts.push_row(&mut self.rows, row, d.out())?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Analyses an FLV input (the format table's `analyse`). Without `--validate` and below
/// `--detail 2`, a seekable input is read by tag headers alone, seeking over payloads.
pub fn analyse(
    mut src: Source,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<super::Report, AnalyseError> {
    let file = src.name().to_string();
    let size = src.len();
    let mut w = Walk::new(opts);
    let mut d = Detail::new(out, opts);
    if !opts.validate && opts.detail <= 1 && src.is_seekable() {
        scan_headers(&mut src, &mut w, &mut d)?;
    } else {
        read_all(&mut src, &mut w, &mut d)?;
    }
    if let Some(h) = w.header {
        let has_v = w.streams.has(crate::dtsc::TrackKind::Video);
        let has_a = w.streams.has(crate::dtsc::TrackKind::Audio);
        if h.has_video() != has_v || h.has_audio() != has_a {
            w.findings.push(Finding::warning(
                4,
                format!(
                    "header flags say audio {}, video {}, but the file has audio {}, video {}",
                    h.has_audio(),
                    h.has_video(),
                    has_a,
                    has_v
                ),
            ));
        }
    }
    let mut report = w.into_report(file, "flv", size);
    report.structures = d.finish();
    Ok(report)
}

/// Findings past [`MAX_FINDINGS`] become one line saying how many more there were.
fn cap(findings: &mut Vec<Finding>) {
    if findings.len() > MAX_FINDINGS {
        let more = findings.len() - MAX_FINDINGS;
        findings.truncate(MAX_FINDINGS);
        findings.push(Finding::general(
            crate::formats::Severity::Info,
            format!("{more} more findings not shown"),
        ));
    }
}

/// Tag headers only: the file header, then a [`HeaderScan`] that seeks over payloads.
fn scan_headers(src: &mut Source, w: &mut Walk, d: &mut Detail) -> Result<(), AnalyseError> {
    let mut hb = Vec::with_capacity(HEADER_LEN as usize);
    (&mut *src)
        .take(u64::from(HEADER_LEN))
        .read_to_end(&mut hb)
        .map_err(|e| FormatError::io(FORMAT, 0, e))?;
    let h = Header::parse(&mut Cursor::from_slice(&hb, 0, FORMAT))?;
    w.header(h, d)?;
    let start = u64::from(h.data_offset) + PREV_TAG_SIZE_LEN as u64;
    let mut scan = HeaderScan::new(src, start);
    loop {
        // The first audio frame is read whole: HE-AAC whose sequence header does not say so
        // shows only there.
        let whole_video = w.streams.nal_len().is_some_and(|l| l != 4);
        let Some(st) = scan.next(whole_video, !w.audio_payload_seen)? else {
            break;
        };
        w.tag(&st.tag, st.missing, d)?;
    }
    if let Some(e) = scan.damage.take() {
        w.findings.push(Finding::of_error(&e));
    }
    Ok(())
}

/// Every byte, through the sans-IO tag reader (all checks, every payload).
fn read_all(src: &mut Source, w: &mut Walk, d: &mut Detail) -> Result<(), AnalyseError> {
    let mut tags = TagReader::new();
    let mut eof = false;
    let mut read_at = 0u64;
    loop {
        let item = match tags.next_item() {
            Ok(Some(i)) => i,
            Ok(None) if eof => return Ok(()),
            Ok(None) => {
                let mut buf = Vec::with_capacity(READ_CHUNK);
                if src.is_seekable() {
                    // `read_to_end` fills spare capacity without zeroing it first.
                    (&mut *src)
                        .take(READ_CHUNK as u64)
                        .read_to_end(&mut buf)
                        .map_err(|e| FormatError::io(FORMAT, read_at, e))?;
                } else {
                    // A pipe or a live stream: one read, so what has come is shown now.
                    buf.resize(LIVE_READ, 0);
                    let n = loop {
                        match src.read(&mut buf) {
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            r => break r.map_err(|e| FormatError::io(FORMAT, read_at, e))?,
                        }
                    };
                    buf.truncate(n);
                }
                if buf.is_empty() {
                    eof = true;
                    tags.finish();
                } else {
                    read_at += buf.len() as u64;
                    tags.feed(bytes::Bytes::from(buf));
                }
                continue;
            }
            Err(e) => {
                fail(e, w.opts, &mut w.findings)?;
                return Ok(());
            }
        };
        match item {
            Item::Header(h) => w.header(h, d)?,
            Item::Finding(f) => w.findings.push(f),
            Item::Tag(tag) => w.tag(&tag, 0, d)?,
        }
    }
}

/// A fatal error becomes the last finding: the summary shows what was read before it.
fn fail(e: FormatError, _opts: &Options, findings: &mut Vec<Finding>) -> Result<(), AnalyseError> {
    findings.push(Finding::of_error(&e));
    Ok(())
}

/// One tag: its header fields, the audio or video header decoded, script data as AMF0
/// values, configuration records decoded; NAL units at `--detail 2`, the body's bytes at 3.
fn tag_node(tag: &Tag, detail: u8, nal_len: Option<u8>) -> Node {
    let h = &tag.header;
    let name = match h.tag_type.name() {
        Some(n) => n.to_string(),
        None => format!("type {}", h.tag_type.0),
    };
    let mut n = Node::new("tag", name)
        .at(tag.offset)
        .sized(TAG_HEADER_LEN as u64 + u64::from(h.data_size))
        .field("timestamp_ms", h.timestamp_ms)
        .field("data_size", h.data_size);
    if h.stream_id != 0 {
        n = n.field("stream_id", h.stream_id);
    }
    if h.filter {
        n = n.field("encrypted", true);
    }
    let body_at = tag.offset + TAG_HEADER_LEN as u64;
    let mut c = Cursor::new(tag.body.clone(), body_at, FORMAT);
    match h.tag_type {
        TagType::AUDIO if !tag.body.is_empty() => match AudioTagHeader::parse(&mut c) {
            Ok(a) => {
                n = n.field("sound_format", a.sound_format.name());
                if a.sound_format == SoundFormat::AAC {
                    let packet = match a.aac_packet_type {
                        Some(0) => "sequence header".to_string(),
                        Some(1) => "raw".to_string(),
                        Some(t) => format!("type {t}"),
                        None => "missing".to_string(),
                    };
                    n = n.field("aac_packet_type", packet);
                    if a.aac_packet_type == Some(0) {
                        n = n.child(decode::audio_specific_config(c.peek_rest(), c.offset()));
                    }
                } else {
                    n = n
                        .field("sound_rate", a.rate_hz())
                        .field("sound_size", if a.sound_size == 1 { 16 } else { 8 })
                        .field(
                            "sound_type",
                            if a.sound_type == 1 { "stereo" } else { "mono" },
                        );
                }
            }
            Err(e) => n = n.field("error", e.problem.to_string()),
        },
        TagType::VIDEO if !tag.body.is_empty() => match VideoTagHeader::parse(&mut c) {
            Ok(v) => {
                n = n
                    .field("frame_type", frame_type::name(v.frame_type))
                    .field("codec", v.codec.name());
                if v.ex_header {
                    n = n.field("enhanced", true);
                }
                let packet = match v.packet {
                    VideoPacket::SequenceStart | VideoPacket::Mpeg2TsSequenceStart => {
                        "sequence header".to_string()
                    }
                    VideoPacket::CodedFrames => "coded frames".to_string(),
                    VideoPacket::SequenceEnd => "end of sequence".to_string(),
                    VideoPacket::Metadata => "metadata".to_string(),
                    VideoPacket::Unsupported(t) => format!("unsupported type {t}"),
                    VideoPacket::Frame => String::new(),
                };
                if !packet.is_empty() {
                    n = n.field("packet_type", packet);
                }
                match v.packet {
                    VideoPacket::SequenceStart | VideoPacket::Mpeg2TsSequenceStart => {
                        let (rest, at) = (c.peek_rest(), c.offset());
                        n = if v.codec.name() == "AVC" {
                            n.child(decode::avc_config(rest, at))
                        } else {
                            n.child(
                                Node::new("config", "decoder configuration record")
                                    .at(at)
                                    .sized(rest.len() as u64)
                                    .field("data", Val::Bytes(rest.to_vec())),
                            )
                        };
                    }
                    VideoPacket::CodedFrames => {
                        n = n.field("composition_time_ms", v.composition_time);
                        if detail >= 2 && v.codec.name() == "AVC" {
                            for nal in decode::length_prefixed_nals(
                                c.peek_rest(),
                                nal_len.unwrap_or(4),
                                c.offset(),
                            ) {
                                n = n.child(nal);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Err(e) => n = n.field("error", e.problem.to_string()),
        },
        TagType::SCRIPT => {
            let mut c = Cursor::new(tag.body.clone(), body_at, FORMAT);
            match Value::parse_all(&mut c) {
                Ok(vals) => n = n.field("values", Val::List(vals.iter().map(amf0).collect())),
                Err(e) => n = n.field("error", format!("bad AMF0: {e}")),
            }
        }
        _ => {}
    }
    if detail >= 3 {
        n = n.field("data", Val::Bytes(tag.body.to_vec()));
    }
    n
}

/// An AMF0 value as a field value: objects and ECMA arrays as records in order, strict
/// arrays as lists, dates as ISO text with the offset the file gives.
pub fn amf0(v: &Value) -> Val {
    let members =
        |p: &[(String, Value)]| Val::Map(p.iter().map(|(k, v)| (k.clone(), amf0(v))).collect());
    match v {
        Value::Number(n) => Val::Float(*n),
        Value::Boolean(b) => Val::Bool(*b),
        Value::String(s) | Value::LongString(s) | Value::XmlDocument(s) => Val::Str(s.clone()),
        Value::Object(p) | Value::EcmaArray(p) => members(p),
        Value::TypedObject { class, properties } => {
            let mut m = vec![("class".to_string(), Val::Str(class.clone()))];
            if let Val::Map(rest) = members(properties) {
                m.extend(rest);
            }
            Val::Map(m)
        }
        Value::StrictArray(items) => Val::List(items.iter().map(amf0).collect()),
        Value::Date { ms, timezone } => map().with("date_ms", *ms).with("timezone_min", *timezone),
        Value::Reference(i) => map().with("reference", *i),
        Value::Null | Value::Undefined | Value::Unsupported => Val::Null,
    }
}
