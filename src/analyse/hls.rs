//! `mist analyse` of a packaged HLS folder or playlist (`DIR/`, `index.m3u8`): the playlists
//! checked against RFC 8216 (by `package::hls::parse`), then against their segments, which
//! are read with mist's own demuxers:
//!
//! - each segment's real duration (its main track, from its first decode time to the next
//!   segment's) against its `EXTINF`, and rounded against `EXT-X-TARGETDURATION`;
//! - decode times continuous from one segment to the next on every track, unless an
//!   `EXT-X-DISCONTINUITY` says otherwise;
//! - the first video frame of every segment a keyframe; TS segments opening with PAT/PMT;
//! - the codecs the master declares (`CODECS`) against those found in the segments.
//!
//! Only files are read: a URI with a scheme (`http://…`) is reported and left unchecked.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::dtsc::{Meta, Packet, Time, TrackId, TrackKind};
use crate::formats::{self, Finding};
use crate::io::Source;
use crate::package::hls::parse::{parse, Attributes, Media, MediaSegment, Playlist, Problem};
use crate::package::hls::PLAYLIST;
use crate::package::variant::codec_string;

use super::{AnalyseError, Options, Report, Stats};

/// Largest playlist read.
const MAX_PLAYLIST_BYTES: u64 = 16 << 20;
/// Most media playlists followed from one master.
const MAX_MEDIA_PLAYLISTS: usize = 64;
/// Difference between a segment's `EXTINF` and its real duration tolerated without a
/// warning, beyond one frame (players sum `EXTINF`s to find positions).
const DURATION_SLACK_MS: i64 = 50;

/// True when `path` is something this analyser reads: a folder holding an `index.m3u8`, or a
/// file named `*.m3u8`.
pub fn is_packaged(path: &Path) -> bool {
    if path.is_dir() {
        return path.join(PLAYLIST).is_file();
    }
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("m3u8"))
}

/// What an analysis of a packaged presentation gathers (shared with [`super::dash`]).
pub(crate) struct Ctx {
    pub(crate) findings: Vec<Finding>,
    pub(crate) stats: Option<Stats>,
    pub(crate) counted: BTreeSet<u32>,
    pub(crate) meta: Meta,
}

impl Ctx {
    pub(crate) fn error(&mut self, msg: String) {
        self.findings.push(Finding::error(0, msg));
    }
    pub(crate) fn warning(&mut self, msg: String) {
        self.findings.push(Finding::warning(0, msg));
    }
    fn problems(&mut self, file: &str, problems: Vec<Problem>) {
        for p in problems {
            let at = if p.line > 0 {
                format!("{file} line {}", p.line)
            } else {
                file.to_string()
            };
            let msg = format!("{at}: {}", p.message);
            if p.error {
                self.error(msg);
            } else {
                self.warning(msg);
            }
        }
    }
}

pub(crate) fn read_text(path: &Path) -> Result<String, AnalyseError> {
    let md = std::fs::metadata(path).map_err(|e| input(path, e))?;
    if md.len() > MAX_PLAYLIST_BYTES {
        return Err(AnalyseError::Input(format!(
            "{}: playlist larger than {MAX_PLAYLIST_BYTES} bytes",
            path.display()
        )));
    }
    let b = std::fs::read(path).map_err(|e| input(path, e))?;
    String::from_utf8(b)
        .map_err(|_| AnalyseError::Input(format!("{}: not UTF-8 text", path.display())))
}

fn input(path: &Path, e: std::io::Error) -> AnalyseError {
    AnalyseError::Input(format!("{}: {e}", path.display()))
}

/// `uri` relative to the folder of `base`; `None` for URIs with a scheme or a query we cannot
/// map to a file.
pub(crate) fn resolve(base: &Path, uri: &str) -> Option<PathBuf> {
    if uri.contains("://") || uri.starts_with('/') {
        return None;
    }
    let uri = uri.split(['?', '#']).next().unwrap_or(uri);
    Some(base.parent().unwrap_or(Path::new(".")).join(uri))
}

/// Analyses the packaged folder or playlist at `path`.
pub fn analyse(path: &Path, opts: &Options, _out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let top = if path.is_dir() {
        path.join(PLAYLIST)
    } else {
        path.to_path_buf()
    };
    let text = read_text(&top)?;
    let name = |p: &Path| {
        p.strip_prefix(top.parent().unwrap_or(Path::new("")))
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let mut ctx = Ctx {
        findings: Vec::new(),
        stats: None,
        counted: BTreeSet::new(),
        meta: Meta::default(),
    };
    let (playlist, problems) = parse(&text);
    ctx.problems(&name(&top), problems);
    let Some(playlist) = playlist else {
        return Err(AnalyseError::Input(format!(
            "{}: not an HLS playlist (no #EXTM3U)",
            top.display()
        )));
    };
    match playlist {
        Playlist::Media(m) => {
            media(&mut ctx, &top, &name(&top), &m, None);
        }
        Playlist::Master(master) => {
            // Codecs of each audio group, to add to the variants that use it.
            let mut followed = 0;
            let mut group_codecs: Vec<(String, Vec<String>)> = Vec::new();
            for r in &master.renditions {
                let Some(uri) = r.get("URI") else { continue };
                let Some(p) = resolve(&top, uri) else {
                    ctx.warning(format!("{uri}: not a file; not checked"));
                    continue;
                };
                if followed >= MAX_MEDIA_PLAYLISTS {
                    break;
                }
                followed += 1;
                let found = follow(&mut ctx, &p, &name(&p), None);
                let group = r.get("GROUP-ID").unwrap_or("").to_string();
                match group_codecs.iter_mut().find(|(g, _)| *g == group) {
                    Some((_, c)) => c.extend(found),
                    None => group_codecs.push((group, found)),
                }
            }
            for v in &master.variants {
                let Some(p) = resolve(&top, &v.uri) else {
                    ctx.warning(format!("{}: not a file; not checked", v.uri));
                    continue;
                };
                if followed >= MAX_MEDIA_PLAYLISTS {
                    ctx.warning(format!(
                        "more than {MAX_MEDIA_PLAYLISTS} media playlists; the rest not checked"
                    ));
                    break;
                }
                followed += 1;
                let mut found = follow(&mut ctx, &p, &name(&p), Some(&v.attributes));
                if let Some(g) = v.attributes.get("AUDIO") {
                    if let Some((_, c)) = group_codecs.iter().find(|(x, _)| x == g) {
                        found.extend(c.iter().cloned());
                    }
                }
                check_codecs(&mut ctx, &v.uri, &v.attributes, &found);
            }
        }
    }
    let file = path.display().to_string();
    let findings = ctx.findings;
    let report = match ctx.stats {
        Some(s) => s.into_report(file, "hls", None, None, findings, opts.validate),
        None => Stats::new(&Meta::default()).into_report(
            file,
            "hls",
            None,
            None,
            findings,
            opts.validate,
        ),
    };
    Ok(report)
}

/// Reads media playlist `p` and checks it; returns the codec strings found in its segments.
fn follow(ctx: &mut Ctx, p: &Path, name: &str, _attrs: Option<&Attributes>) -> Vec<String> {
    let text = match read_text(p) {
        Ok(t) => t,
        Err(e) => {
            ctx.error(format!("{name}: {e}"));
            return Vec::new();
        }
    };
    let (pl, problems) = parse(&text);
    ctx.problems(name, problems);
    match pl {
        Some(Playlist::Media(m)) => media(ctx, p, name, &m, None),
        Some(Playlist::Master(_)) => {
            ctx.error(format!(
                "{name}: a master playlist where a media playlist belongs"
            ));
            Vec::new()
        }
        None => Vec::new(),
    }
}

/// Whether codec strings `a` and `b` name the same thing. AAC's object types 2, 5 and 29
/// (LC, HE, HE v2) count as one: ADTS cannot signal SBR or PS explicitly, so a reader of a TS
/// segment infers them (or not) whatever the source's AudioSpecificConfig said.
pub(crate) fn same_codec(a: &str, b: &str) -> bool {
    let aac = |s: &str| matches!(s, "mp4a.40.2" | "mp4a.40.5" | "mp4a.40.29");
    a.eq_ignore_ascii_case(b) || aac(&a.to_ascii_lowercase()) && aac(&b.to_ascii_lowercase())
}

/// Declared `CODECS` against those found.
fn check_codecs(ctx: &mut Ctx, uri: &str, attrs: &Attributes, found: &[String]) {
    let Some(declared) = attrs.get("CODECS") else {
        return;
    };
    let declared: Vec<String> = declared
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    for f in found {
        if !declared.iter().any(|d| same_codec(d, f)) {
            ctx.error(format!(
                "{uri}: the segments hold {f}, which CODECS (\"{}\") does not declare",
                declared.join(",")
            ));
        }
    }
    for d in &declared {
        if !found.iter().any(|f| same_codec(f, d)) {
            ctx.warning(format!(
                "{uri}: CODECS declares {d}, not found in the segments"
            ));
        }
    }
}

/// What one segment held.
struct Seen {
    /// Per track: first and last decode time, and the last packet's duration estimate.
    spans: Vec<(TrackId, Time, Time, Time)>,
    main: Option<TrackId>,
}

/// Checks a media playlist against its segments; returns the codecs found.
fn media(
    ctx: &mut Ctx,
    path: &Path,
    name: &str,
    m: &Media,
    _attrs: Option<&Attributes>,
) -> Vec<String> {
    let mut codecs: Vec<String> = Vec::new();
    let mut prev: Option<(Seen, &MediaSegment)> = None;
    let mut init_cache: Option<(String, Vec<u8>)> = None;
    for s in &m.segments {
        let Some(seg_path) = resolve(path, &s.uri) else {
            ctx.warning(format!("{name}: {}: not a file; not checked", s.uri));
            continue;
        };
        let what = format!("{name}: {}", s.uri);
        let mut bytes = Vec::new();
        if let Some(map) = &s.map {
            if init_cache.as_ref().map_or(true, |(u, _)| u != map) {
                let Some(ip) = resolve(path, map) else {
                    ctx.warning(format!("{name}: init {map}: not a file; not checked"));
                    continue;
                };
                match std::fs::read(&ip) {
                    Ok(b) => init_cache = Some((map.clone(), b)),
                    Err(e) => {
                        ctx.error(format!("{name}: init {map}: {e}"));
                        continue;
                    }
                }
            }
            if let Some((_, b)) = &init_cache {
                bytes.extend_from_slice(b);
            }
        }
        match std::fs::read(&seg_path) {
            Ok(b) => {
                if s.map.is_none() && b.len() >= 376 {
                    let pid =
                        |k: usize| u16::from_be_bytes([b[k * 188 + 1], b[k * 188 + 2]]) & 0x1FFF;
                    if b[0] == 0x47 && pid(0) != 0 {
                        ctx.warning(format!(
                            "{what}: does not start with a PAT (RFC 8216 §3.2: SHOULD)"
                        ));
                    }
                }
                bytes.extend_from_slice(&b);
            }
            Err(e) => {
                ctx.error(format!("{what}: {e}"));
                continue;
            }
        }
        let Some((meta, packets)) = demux(ctx, &what, bytes) else {
            continue;
        };
        for t in &meta.tracks {
            if let Some(c) = codec_string(t) {
                if !codecs.contains(&c) {
                    codecs.push(c);
                }
            }
        }
        count(ctx, &meta, &packets);
        let seen = check_segment(ctx, &what, &meta, &packets);
        if let Some((p, ps)) = &prev {
            let prev_what = format!("{name}: {}", ps.uri);
            between(
                ctx,
                (&prev_what, &what),
                (p, ps),
                (&seen, s),
                m.target_duration,
            );
        }
        prev = Some((seen, s));
    }
    // The last segment: from its first main-track time to the end of whichever track ends
    // last (nothing follows it).
    if let Some((seen, s)) = prev {
        if let Some(main) = seen.main {
            let end = seen.spans.iter().map(|x| x.3).max();
            if let (Some((_, first, _, _)), Some(end)) =
                (seen.spans.iter().find(|x| x.0 == main), end)
            {
                let real = end.as_ms() - first.as_ms();
                duration_check(
                    ctx,
                    &format!("{name}: {}", s.uri),
                    s,
                    real,
                    m.target_duration,
                );
            }
        }
    }
    codecs
}

pub(crate) fn demux(ctx: &mut Ctx, what: &str, bytes: Vec<u8>) -> Option<(Meta, Vec<Packet>)> {
    let src = Source::from_bytes(what, bytes);
    let Some(spec) = formats::detect(src.head(), None) else {
        ctx.error(format!("{what}: not a format mist reads"));
        return None;
    };
    let Some(open) = spec.open else {
        ctx.error(format!("{what}: {} cannot be read", spec.name));
        return None;
    };
    let mut d = match open(src) {
        Ok(d) => d,
        Err(e) => {
            ctx.error(format!("{what}: {e}"));
            return None;
        }
    };
    let mut packets = Vec::new();
    loop {
        match d.next_packet() {
            Ok(Some(p)) => packets.push(p),
            Ok(None) => break,
            Err(e) => {
                ctx.error(format!("{what}: {e}"));
                break;
            }
        }
    }
    for f in d.take_findings() {
        if f.severity == formats::Severity::Error {
            ctx.error(format!("{what}: {}", f.message));
        }
    }
    Some((d.meta().clone(), packets))
}

/// Adds a segment's packets to the summary (each track counted from one playlist only).
pub(crate) fn count(ctx: &mut Ctx, meta: &Meta, packets: &[Packet]) {
    for t in &meta.tracks {
        if ctx.meta.track(t.id).is_none() && !ctx.counted.contains(&t.id.0) {
            ctx.meta.tracks.push(t.clone());
            ctx.counted.insert(t.id.0);
            match &mut ctx.stats {
                Some(s) => s.update_tracks(&ctx.meta),
                None => ctx.stats = Some(Stats::new(&ctx.meta)),
            }
        }
    }
    let Some(stats) = &mut ctx.stats else { return };
    for p in packets {
        stats.add(p);
    }
}

/// First video frame a keyframe; the spans of every track.
fn check_segment(ctx: &mut Ctx, what: &str, meta: &Meta, packets: &[Packet]) -> Seen {
    let video = meta.tracks.iter().find(|t| t.kind == TrackKind::Video);
    if let Some(v) = video {
        if let Some(first) = packets.iter().find(|p| p.track == v.id) {
            if !first.keyframe {
                ctx.error(format!("{what}: the first video frame is not a keyframe"));
            }
        }
    }
    let main = video
        .or_else(|| meta.tracks.iter().find(|t| t.kind == TrackKind::Audio))
        .map(|t| t.id);
    let mut spans = Vec::new();
    for t in &meta.tracks {
        let times: Vec<i64> = packets
            .iter()
            .filter(|p| p.track == t.id)
            .map(|p| p.dts.0)
            .collect();
        let (Some(&a), Some(&b)) = (times.first(), times.last()) else {
            continue;
        };
        for w in times.windows(2) {
            if w[1] <= w[0] {
                ctx.error(format!(
                    "{what}: track {} decode time goes back ({} after {})",
                    t.id, w[1], w[0]
                ));
                break;
            }
        }
        // The last packet lasts as long as the one before it.
        let last_dur = if times.len() >= 2 {
            b - times[times.len() - 2]
        } else {
            0
        };
        spans.push((
            t.id,
            Time::new(crate::dtsc::Ticks(a), t.timebase),
            Time::new(crate::dtsc::Ticks(b), t.timebase),
            Time::new(crate::dtsc::Ticks(b + last_dur), t.timebase),
        ));
    }
    Seen { spans, main }
}

/// EXTINF against a real duration.
fn duration_check(ctx: &mut Ctx, what: &str, s: &MediaSegment, real_ms: i64, target: Option<u64>) {
    let slack = DURATION_SLACK_MS;
    if (real_ms - s.duration_ms).abs() > slack {
        ctx.warning(format!(
            "{what}: EXTINF says {} ms, the segment lasts {real_ms} ms",
            s.duration_ms
        ));
    }
    if let Some(t) = target {
        if (real_ms.max(0) as u64 + 500) / 1000 > t {
            ctx.error(format!(
                "{what}: lasts {real_ms} ms, above EXT-X-TARGETDURATION {t} s when rounded (§4.3.3.1)"
            ));
        }
    }
}

/// Checks between a segment and the next: the first one's real duration, and continuity.
fn between(
    ctx: &mut Ctx,
    (prev_what, what): (&str, &str),
    (prev, prev_seg): (&Seen, &MediaSegment),
    (next, next_seg): (&Seen, &MediaSegment),
    target: Option<u64>,
) {
    if next_seg.discontinuity {
        return;
    }
    if let Some(main) = prev.main {
        let a = prev.spans.iter().find(|x| x.0 == main);
        let b = next.spans.iter().find(|x| x.0 == main);
        if let (Some(a), Some(b)) = (a, b) {
            let real = b.1.as_ms() - a.1.as_ms();
            duration_check(ctx, prev_what, prev_seg, real, target);
        }
    }
    for (id, first, _, _) in &next.spans {
        let Some((_, _, last, end)) = prev.spans.iter().find(|x| x.0 == *id) else {
            continue;
        };
        let step = end.as_ms() - last.as_ms();
        let gap = first.as_ms() - end.as_ms();
        if *first <= *last {
            ctx.error(format!(
                "{what}: track {id} starts at {} ms, not after the previous segment's last packet at {} ms",
                first.as_ms(),
                last.as_ms()
            ));
        } else if gap > step.max(1) + 1 {
            ctx.error(format!(
                "{what}: track {id} jumps {gap} ms after the previous segment without EXT-X-DISCONTINUITY"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_resolve_beside_their_playlist() {
        let base = Path::new("/x/pkg/1_2/index.m3u8");
        assert_eq!(
            resolve(base, "0_2000.ts"),
            Some(PathBuf::from("/x/pkg/1_2/0_2000.ts"))
        );
        assert_eq!(
            resolve(base, "a.ts?x=1"),
            Some(PathBuf::from("/x/pkg/1_2/a.ts"))
        );
        assert_eq!(resolve(base, "http://h/a.ts"), None);
        assert_eq!(resolve(base, "/abs.ts"), None);
    }
}
