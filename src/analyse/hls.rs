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
//! A folder's playlists take relative URIs only (one with a scheme is reported and left
//! unchecked); a playlist named by URL (`http://HOST/hls/STREAM/index.m3u8`) is fetched with
//! everything it names, through [`Loc`].

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::dtsc::{Meta, Packet, Time, TrackId, TrackKind};
use crate::formats::{self, Finding, Severity};
use crate::io::Source;
use crate::package::hls::parse::{parse, Attributes, Media, MediaSegment, Playlist, Problem};
use crate::package::hls::PLAYLIST;
use crate::package::variant::codec_string;

use super::loc::Loc;
use super::{AnalyseError, Options, Report, Stats};

/// Largest playlist read.
const MAX_PLAYLIST_BYTES: u64 = 16 << 20;
/// Largest segment or init section read.
pub(crate) const MAX_SEGMENT_BYTES: u64 = 256 << 20;
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
        self.findings.push(Finding::general(Severity::Error, msg));
    }
    pub(crate) fn warning(&mut self, msg: String) {
        self.findings.push(Finding::general(Severity::Warning, msg));
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

/// A playlist or manifest as text (at most 16 MiB).
pub(crate) fn read_text(loc: &Loc) -> Result<String, AnalyseError> {
    let b = loc.read(MAX_PLAYLIST_BYTES).map_err(AnalyseError::Input)?;
    String::from_utf8(b).map_err(|_| AnalyseError::Input(format!("{loc}: not UTF-8 text")))
}

/// Analyses the packaged folder or playlist at `path` (a file, a folder or a URL).
pub fn analyse(path: &Loc, opts: &Options, _out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let top = if path.is_dir() {
        path.child(PLAYLIST)
    } else {
        path.clone()
    };
    let text = read_text(&top)?;
    let name = |p: &Loc| p.relative_to(&top);
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
            "{top}: not an HLS playlist (no #EXTM3U)"
        )));
    };
    let mut followers: Vec<Follower> = Vec::new();
    let mut variants: Vec<(String, Attributes)> = Vec::new();
    match playlist {
        Playlist::Media(m) => {
            let mut f = Follower::new(top.clone(), name(&top), None);
            f.take(&mut ctx, m);
            followers.push(f);
        }
        Playlist::Master(master) => {
            for r in &master.renditions {
                let Some(uri) = r.get("URI") else { continue };
                let Some(p) = top.resolve(uri) else {
                    ctx.warning(format!("{uri}: not a file; not checked"));
                    continue;
                };
                if followers.len() >= MAX_MEDIA_PLAYLISTS {
                    break;
                }
                let group = r.get("GROUP-ID").unwrap_or("").to_string();
                let mut f = Follower::new(p.clone(), name(&p), Some(group));
                f.load(&mut ctx);
                followers.push(f);
            }
            for v in &master.variants {
                let Some(p) = top.resolve(&v.uri) else {
                    ctx.warning(format!("{}: not a file; not checked", v.uri));
                    continue;
                };
                if followers.len() >= MAX_MEDIA_PLAYLISTS {
                    ctx.warning(format!(
                        "more than {MAX_MEDIA_PLAYLISTS} media playlists; the rest not checked"
                    ));
                    break;
                }
                let mut f = Follower::new(p.clone(), name(&p), None);
                f.load(&mut ctx);
                followers.push(f);
                variants.push((v.uri.clone(), v.attributes.clone()));
            }
        }
    }
    // A live playlist named by URL is followed: reloaded every half target duration until
    // it ends, --duration passes or Ctrl-C.
    if matches!(top, Loc::Url { .. }) {
        follow_live(&mut ctx, &mut followers, opts);
    }
    // Codecs of each audio group, added to the variants that use it.
    let mut group_codecs: Vec<(String, Vec<String>)> = Vec::new();
    let mut variant_codecs: Vec<Vec<String>> = Vec::new();
    for f in followers {
        let group = f.group.clone();
        let found = f.finish(&mut ctx);
        match group {
            Some(group) => match group_codecs.iter_mut().find(|(g, _)| *g == group) {
                Some((_, c)) => c.extend(found),
                None => group_codecs.push((group, found)),
            },
            None => variant_codecs.push(found),
        }
    }
    for ((uri, attrs), mut found) in variants.iter().zip(variant_codecs) {
        if let Some(g) = attrs.get("AUDIO") {
            if let Some((_, c)) = group_codecs.iter().find(|(x, _)| x == g) {
                found.extend(c.iter().cloned());
            }
        }
        check_codecs(&mut ctx, uri, attrs, &found);
    }
    let file = path.to_string();
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

/// One media playlist being checked: its segments walked in order, and, live, each reload
/// checked against the one before.
struct Follower {
    loc: Loc,
    name: String,
    /// The `GROUP-ID` of a rendition; `None` for a variant or a lone media playlist.
    group: Option<String>,
    /// The latest version read.
    last: Option<Media>,
    walk: Walk,
    /// Sequence number of the newest segment walked.
    newest: Option<u64>,
    /// When a segment last appeared.
    last_new: Instant,
    /// Parse problems already reported (a reload repeats them).
    reported: BTreeSet<String>,
    stall_reported: bool,
}

impl Follower {
    fn new(loc: Loc, name: String, group: Option<String>) -> Follower {
        Follower {
            loc,
            name,
            group,
            last: None,
            walk: Walk::default(),
            newest: None,
            last_new: Instant::now(),
            reported: BTreeSet::new(),
            stall_reported: false,
        }
    }

    /// Reads the playlist (again), checks it against the previous version and walks the
    /// segments that are new.
    fn load(&mut self, ctx: &mut Ctx) {
        let name = self.name.clone();
        let text = match read_text(&self.loc) {
            Ok(t) => t,
            Err(e) => {
                ctx.error(format!("{name}: {e}"));
                // Unreadable: not followed any further.
                if let Some(m) = &mut self.last {
                    m.endlist = true;
                }
                return;
            }
        };
        let (pl, problems) = parse(&text);
        let fresh: Vec<Problem> = problems
            .into_iter()
            .filter(|p| self.reported.insert(p.message.clone()))
            .collect();
        ctx.problems(&name, fresh);
        match pl {
            Some(Playlist::Media(m)) => {
                if let Some(old) = &self.last {
                    for (error, msg) in super::hls_reload::faults(old, &m) {
                        let msg = format!("{name}: {msg}");
                        if error {
                            ctx.error(msg);
                        } else {
                            ctx.warning(msg);
                        }
                    }
                }
                self.take(ctx, m);
            }
            Some(Playlist::Master(_)) => {
                ctx.error(format!(
                    "{name}: a master playlist where a media playlist belongs"
                ));
            }
            None => ctx.error(format!("{name}: not an HLS playlist (no #EXTM3U)")),
        }
    }

    /// Walks the segments of `m` not walked yet, and keeps `m` as the latest version.
    fn take(&mut self, ctx: &mut Ctx, m: Media) {
        let loc = self.loc.clone();
        for s in &m.segments {
            if self.newest.is_some_and(|n| s.number <= n) {
                continue;
            }
            self.walk
                .segment(ctx, &loc, &self.name, s, m.target_duration);
            self.newest = Some(s.number);
            self.last_new = Instant::now();
            self.stall_reported = false;
        }
        self.last = Some(m);
    }

    /// True while the playlist may still grow.
    fn live(&self) -> bool {
        self.last
            .as_ref()
            .is_some_and(|m| !m.endlist && m.playlist_type.as_deref() != Some("VOD"))
    }

    /// A live playlist that stopped growing for more than one and a half target durations:
    /// its players run dry.
    fn stall_check(&mut self, ctx: &mut Ctx) {
        let Some(t) = self.last.as_ref().and_then(|m| m.target_duration) else {
            return;
        };
        let waited = self.last_new.elapsed();
        if !self.stall_reported && waited > Duration::from_millis(1500 * t.max(1)) {
            self.stall_reported = true;
            ctx.error(format!(
                "{}: no new segment for {:.1} s, over 1.5 x EXT-X-TARGETDURATION ({t} s): the live playlist is not advancing",
                self.name,
                waited.as_secs_f64()
            ));
        }
    }

    /// The last segment's checks; returns the codecs found.
    fn finish(self, ctx: &mut Ctx) -> Vec<String> {
        let target = self.last.as_ref().and_then(|m| m.target_duration);
        self.walk.finish(ctx, &self.name, target)
    }
}

/// Reloads the live playlists among `followers` until each has ended, `--duration` has
/// passed or Ctrl-C (`opts.stop`) was pressed.
fn follow_live(ctx: &mut Ctx, followers: &mut [Follower], opts: &Options) {
    let clock = super::follow::Follow::new(opts);
    loop {
        let live: Vec<u64> = followers
            .iter()
            .filter(|f| f.live())
            .map(|f| f.last.as_ref().and_then(|m| m.target_duration).unwrap_or(2))
            .collect();
        let Some(target) = live.iter().min() else {
            return;
        };
        // Half the target duration between reloads (RFC 8216 §6.3.4).
        let wait = Duration::from_millis((target * 500).clamp(200, 5000));
        if !clock.wait(wait) {
            return;
        }
        for f in followers.iter_mut().filter(|f| f.live()) {
            f.load(ctx);
            f.stall_check(ctx);
        }
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

/// The state of checking one media playlist's segments in order, kept across reloads.
#[derive(Default)]
struct Walk {
    codecs: Vec<String>,
    prev: Option<(Seen, MediaSegment)>,
    init_cache: Option<(String, Vec<u8>)>,
}

impl Walk {
    /// Reads segment `s` of the playlist at `path` and checks it, and its boundary with the
    /// segment before.
    fn segment(
        &mut self,
        ctx: &mut Ctx,
        path: &Loc,
        name: &str,
        s: &MediaSegment,
        target: Option<u64>,
    ) {
        let Some(seg_path) = path.resolve(&s.uri) else {
            ctx.warning(format!("{name}: {}: not a file; not checked", s.uri));
            return;
        };
        let what = format!("{name}: {}", s.uri);
        let mut bytes = Vec::new();
        if let Some(map) = &s.map {
            if self.init_cache.as_ref().is_none_or(|(u, _)| u != map) {
                let Some(ip) = path.resolve(map) else {
                    ctx.warning(format!("{name}: init {map}: not a file; not checked"));
                    return;
                };
                match ip.read(MAX_SEGMENT_BYTES) {
                    Ok(b) => self.init_cache = Some((map.clone(), b)),
                    Err(e) => {
                        ctx.error(format!("{name}: init {map}: {e}"));
                        return;
                    }
                }
            }
            if let Some((_, b)) = &self.init_cache {
                bytes.extend_from_slice(b);
            }
        }
        match seg_path.read(MAX_SEGMENT_BYTES) {
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
                return;
            }
        }
        let Some((meta, packets)) = demux(ctx, &what, bytes) else {
            return;
        };
        for t in &meta.tracks {
            if let Some(c) = codec_string(t) {
                if !self.codecs.contains(&c) {
                    self.codecs.push(c);
                }
            }
        }
        count(ctx, &meta, &packets);
        let seen = check_segment(ctx, &what, &meta, &packets);
        if let Some((p, ps)) = &self.prev {
            let prev_what = format!("{name}: {}", ps.uri);
            between(ctx, (&prev_what, &what), (p, ps), (&seen, s), target);
        }
        self.prev = Some((seen, s.clone()));
    }

    /// The last segment: from its first main-track time to the end of whichever track ends
    /// last (nothing follows it). Returns the codecs found.
    fn finish(self, ctx: &mut Ctx, name: &str, target: Option<u64>) -> Vec<String> {
        if let Some((seen, s)) = self.prev {
            if let Some(main) = seen.main {
                let end = seen.spans.iter().map(|x| x.3).max();
                if let (Some((_, first, _, _)), Some(end)) =
                    (seen.spans.iter().find(|x| x.0 == main), end)
                {
                    let real = end.as_ms() - first.as_ms();
                    duration_check(ctx, &format!("{name}: {}", s.uri), &s, real, target);
                }
            }
        }
        self.codecs
    }
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
