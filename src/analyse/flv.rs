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

use super::payload::PayloadCheck;
use super::{render, AnalyseError, Options, PacketRow, Stats};

/// Findings past this many are summarised in one line.
const MAX_FINDINGS: usize = 500;
/// How much one read asks the source for.
const READ_CHUNK: usize = 1 << 20;
/// Strict array elements printed (keyframe lists and padding can be long).
const MAX_ITEMS_SHOWN: usize = 64;
/// NAL units listed per tag at `--detail 2`.
const MAX_NALS_LISTED: usize = 64;

/// What the walk over the tags has gathered.
struct Walk<'o> {
    opts: &'o Options,
    streams: Streams,
    findings: Vec<Finding>,
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
}

impl Walk<'_> {
    fn header(&mut self, h: Header, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.opts.json && self.opts.detail >= 1 {
            writeln!(
                out,
                "FLV header: version {}, flags {:#04x} (audio {}, video {}), DataOffset {}",
                h.version,
                h.flags,
                if h.has_audio() { "yes" } else { "no" },
                if h.has_video() { "yes" } else { "no" },
                h.data_offset
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
    fn tag(&mut self, tag: &Tag, missing: usize, out: &mut dyn Write) -> std::io::Result<()> {
        if !self.opts.json && self.opts.detail >= 1 {
            tag_lines(out, tag, self.opts.detail, self.streams.nal_len())?;
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
                        self.rows.push(row);
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
    let meta = Meta::default();
    let mut w = Walk {
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
    };
    if !opts.validate && opts.detail <= 1 && src.is_seekable() {
        scan_headers(&mut src, &mut w, out)?;
    } else {
        read_all(&mut src, &mut w, out)?;
    }
    let Walk {
        mut findings,
        rows,
        header,
        streams,
        stats,
        ..
    } = w;
    if let Some(h) = header {
        let has_v = streams.has(crate::dtsc::TrackKind::Video);
        let has_a = streams.has(crate::dtsc::TrackKind::Audio);
        if h.has_video() != has_v || h.has_audio() != has_a {
            findings.push(Finding::warning(
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
    if findings.len() > MAX_FINDINGS {
        let more = findings.len() - MAX_FINDINGS;
        findings.truncate(MAX_FINDINGS);
        findings.push(Finding::info(0, format!("{more} more findings not shown")));
    }
    Ok(stats.into_report(
        file,
        "flv",
        size,
        (opts.detail >= 1 && opts.json).then_some(rows),
        findings,
        opts.validate,
    ))
}

/// Tag headers only: the file header, then a [`HeaderScan`] that seeks over payloads.
fn scan_headers(src: &mut Source, w: &mut Walk, out: &mut dyn Write) -> Result<(), AnalyseError> {
    let mut hb = Vec::with_capacity(HEADER_LEN as usize);
    (&mut *src)
        .take(u64::from(HEADER_LEN))
        .read_to_end(&mut hb)
        .map_err(|e| FormatError::io(FORMAT, 0, e))?;
    let h = Header::parse(&mut Cursor::from_slice(&hb, 0, FORMAT))?;
    w.header(h, out)?;
    let start = u64::from(h.data_offset) + PREV_TAG_SIZE_LEN as u64;
    let mut scan = HeaderScan::new(src, start);
    loop {
        // The first audio frame is read whole: HE-AAC whose sequence header does not say so
        // shows only there.
        let whole_video = w.streams.nal_len().is_some_and(|l| l != 4);
        let Some(st) = scan.next(whole_video, !w.audio_payload_seen)? else {
            break;
        };
        w.tag(&st.tag, st.missing, out)?;
    }
    if let Some(e) = scan.damage.take() {
        w.findings.push(Finding::error(e.offset, e.to_string()));
    }
    Ok(())
}

/// Every byte, through the sans-IO tag reader (all checks, every payload).
fn read_all(src: &mut Source, w: &mut Walk, out: &mut dyn Write) -> Result<(), AnalyseError> {
    let mut tags = TagReader::new();
    let mut eof = false;
    let mut read_at = 0u64;
    loop {
        let item = match tags.next_item() {
            Ok(Some(i)) => i,
            Ok(None) if eof => return Ok(()),
            Ok(None) => {
                // `read_to_end` fills spare capacity without zeroing it first.
                let mut buf = Vec::with_capacity(READ_CHUNK);
                (&mut *src)
                    .take(READ_CHUNK as u64)
                    .read_to_end(&mut buf)
                    .map_err(|e| FormatError::io(FORMAT, read_at, e))?;
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
            Item::Header(h) => w.header(h, out)?,
            Item::Finding(f) => w.findings.push(f),
            Item::Tag(tag) => w.tag(&tag, 0, out)?,
        }
    }
}

/// A fatal error becomes the last finding: the summary shows what was read before it.
fn fail(e: FormatError, _opts: &Options, findings: &mut Vec<Finding>) -> Result<(), AnalyseError> {
    findings.push(Finding::error(e.offset, e.to_string()));
    Ok(())
}

/// One line per tag, plus what `detail` asks for below it.
fn tag_lines(
    out: &mut dyn Write,
    tag: &Tag,
    detail: u8,
    nal_len: Option<u8>,
) -> std::io::Result<()> {
    let h = &tag.header;
    let kind = match h.tag_type.name() {
        Some(n) => n.to_string(),
        None => format!("type {}", h.tag_type.0),
    };
    let mut line = format!(
        "tag at byte {}: {kind}, {} bytes, timestamp {} ms",
        tag.offset, h.data_size, h.timestamp_ms
    );
    if h.filter {
        line.push_str(", encrypted");
    }
    let body_at = tag.offset + TAG_HEADER_LEN as u64;
    let mut c = Cursor::new(tag.body.clone(), body_at, FORMAT);
    let mut nal_payload = None;
    let mut config = None;
    match h.tag_type {
        TagType::AUDIO if !tag.body.is_empty() => match AudioTagHeader::parse(&mut c) {
            Ok(a) => {
                line.push_str(&format!(", {}", a.sound_format.name()));
                if a.sound_format == SoundFormat::AAC {
                    match a.aac_packet_type {
                        Some(0) => {
                            line.push_str(" sequence header (AudioSpecificConfig)");
                            config = Some(("AudioSpecificConfig", c.peek_rest().to_vec()));
                        }
                        Some(1) => line.push_str(" raw frame"),
                        Some(t) => line.push_str(&format!(" AACPacketType {t}")),
                        None => {}
                    }
                } else {
                    line.push_str(&format!(
                        " {} Hz flag, {}-bit, {}",
                        a.rate_hz(),
                        if a.sound_size == 1 { 16 } else { 8 },
                        if a.sound_type == 1 { "stereo" } else { "mono" }
                    ));
                }
            }
            Err(e) => line.push_str(&format!(", broken: {}", e.problem)),
        },
        TagType::VIDEO if !tag.body.is_empty() => match VideoTagHeader::parse(&mut c) {
            Ok(v) => {
                line.push_str(&format!(
                    ", {}{} {}",
                    if v.ex_header { "enhanced " } else { "" },
                    v.codec.name(),
                    frame_type::name(v.frame_type)
                ));
                match v.packet {
                    VideoPacket::SequenceStart | VideoPacket::Mpeg2TsSequenceStart => {
                        line.push_str(", sequence header");
                        config = Some(("decoder configuration record", c.peek_rest().to_vec()));
                    }
                    VideoPacket::CodedFrames => {
                        line.push_str(&format!(
                            ", coded frames, composition offset {:+} ms",
                            v.composition_time
                        ));
                        nal_payload = Some(c.peek_rest().to_vec());
                    }
                    VideoPacket::SequenceEnd => line.push_str(", end of sequence"),
                    VideoPacket::Metadata => line.push_str(", metadata"),
                    VideoPacket::Unsupported(t) => {
                        line.push_str(&format!(", unsupported PacketType {t}"))
                    }
                    VideoPacket::Frame => {}
                }
            }
            Err(e) => line.push_str(&format!(", broken: {}", e.problem)),
        },
        _ => {}
    }
    writeln!(out, "{line}")?;
    if h.tag_type == TagType::SCRIPT {
        let mut c = Cursor::new(tag.body.clone(), body_at, FORMAT);
        match Value::parse_all(&mut c) {
            Ok(vals) => {
                for v in &vals {
                    pretty(out, None, v, 1)?;
                }
            }
            Err(e) => writeln!(out, "  bad AMF0: {e}")?,
        }
    }
    if detail >= 2 {
        if let Some(nals) = nal_payload {
            nal_lines(out, &nals, nal_len.unwrap_or(4))?;
        }
        if let Some((what, bytes)) = config {
            config_lines(out, what, &bytes)?;
        }
    }
    if detail >= 3 {
        render::hex_dump(out, &tag.body, 32)?;
    }
    Ok(())
}

/// NAL unit types and sizes of a length-prefixed payload.
fn nal_lines(out: &mut dyn Write, data: &[u8], n: u8) -> std::io::Result<()> {
    let n = usize::from(n);
    let mut p = 0usize;
    let mut listed = 0;
    while p + n <= data.len() && listed < MAX_NALS_LISTED {
        let len = data[p..p + n]
            .iter()
            .fold(0usize, |a, b| a << 8 | usize::from(*b));
        let Some(first) = data.get(p + n) else { break };
        let t = first & 0x1F;
        writeln!(out, "  NAL unit type {t} ({}), {len} bytes", nal_name(t))?;
        p += n + len;
        listed += 1;
    }
    if p < data.len() && listed < MAX_NALS_LISTED {
        writeln!(
            out,
            "  {} bytes left that do not form a NAL unit",
            data.len() - p
        )?;
    }
    Ok(())
}

fn nal_name(t: u8) -> &'static str {
    match t {
        1 => "non-IDR slice",
        2..=4 => "slice data partition",
        5 => "IDR slice",
        6 => "SEI",
        7 => "SPS",
        8 => "PPS",
        9 => "access unit delimiter",
        10 => "end of sequence",
        11 => "end of stream",
        12 => "filler",
        _ => "other",
    }
}

fn config_lines(out: &mut dyn Write, what: &str, b: &[u8]) -> std::io::Result<()> {
    writeln!(out, "  {what}, {} bytes", b.len())?;
    if what == "AudioSpecificConfig" {
        if let [b0, b1, ..] = *b {
            let aot = b0 >> 3;
            let idx = (b0 & 7) << 1 | b1 >> 7;
            let ch = (b1 >> 3) & 0xF;
            writeln!(
                out,
                "    audioObjectType {aot}, samplingFrequencyIndex {idx}, channelConfiguration {ch}"
            )?;
        }
    } else if let [1, profile, compat, level, ls, ns, ..] = *b {
        writeln!(
            out,
            "    avcC: profile {profile}, compatibility {compat:#04x}, level {level}, NAL length size {}, {} SPS",
            (ls & 3) + 1,
            ns & 0x1F
        )?;
    }
    render::hex_dump(out, b, 32)
}

/// Pretty-prints an AMF0 value, one member per line.
fn pretty(out: &mut dyn Write, key: Option<&str>, v: &Value, depth: usize) -> std::io::Result<()> {
    let pad = "  ".repeat(depth);
    let name = key.map(|k| format!("{k}: ")).unwrap_or_default();
    match v {
        Value::Object(p) | Value::EcmaArray(p) | Value::TypedObject { properties: p, .. } => {
            writeln!(out, "{pad}{name}{} ({} members)", v.type_name(), p.len())?;
            for (k, val) in p {
                pretty(out, Some(k), val, depth + 1)?;
            }
        }
        Value::StrictArray(items) => {
            writeln!(out, "{pad}{name}Strict Array ({} items)", items.len())?;
            for (i, val) in items.iter().enumerate().take(MAX_ITEMS_SHOWN) {
                pretty(out, Some(&format!("[{i}]")), val, depth + 1)?;
            }
            if items.len() > MAX_ITEMS_SHOWN {
                writeln!(out, "{pad}  … {} more", items.len() - MAX_ITEMS_SHOWN)?;
            }
        }
        Value::Number(n) => writeln!(out, "{pad}{name}{n}")?,
        Value::Boolean(b) => writeln!(out, "{pad}{name}{b}")?,
        Value::String(s) | Value::LongString(s) | Value::XmlDocument(s) => {
            if s.len() > 200 {
                writeln!(out, "{pad}{name}<{} characters>", s.chars().count())?
            } else {
                writeln!(out, "{pad}{name}{s:?}")?
            }
        }
        Value::Date { ms, timezone } => {
            writeln!(out, "{pad}{name}Date {ms} ms, time-zone {timezone}")?
        }
        Value::Reference(i) => writeln!(out, "{pad}{name}Reference {i}")?,
        Value::Null | Value::Undefined | Value::Unsupported => {
            writeln!(out, "{pad}{name}{}", v.type_name())?
        }
    }
    Ok(())
}
