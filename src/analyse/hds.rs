//! `mist analyse` of an HDS presentation (`manifest.f4m`, or a folder holding one): the
//! manifest checked against F4M 1.0, each bootstrap against the F4V spec's `abst`, and both
//! against the fragments, which are read with mist's own boxes and FLV demuxer:
//!
//! - the bootstrap inline in the manifest and the one at its URL are the same;
//! - every fragment the bootstrap lists is there, its `mfhd` says its number, its `trun`
//!   samples are exactly the payloads of its FLV tags, each `afra` entry points at a tag
//!   from which decoding can start at that time;
//! - the fragment run table's times against the fragments' real times (first packet,
//!   and the time to the next fragment), decode times continuous from one fragment to the
//!   next unless a discontinuity is marked, the first video frame of each a keyframe;
//! - the codecs and picture size the manifest's `<metadata>` and `<media>` declare against
//!   those found.
//!
//! A folder's manifest takes relative URLs only; a manifest named by URL is fetched with its
//! bootstraps and fragments through [`Loc`]. A live one (its bootstrap's `Live` flag, or
//! `streamType` live) is followed: each bootstrap is fetched again about every fragment
//! duration (0.5–10 s; the manifest again when the bootstrap is inline) until its `Live`
//! flag drops, `--duration` passes or Ctrl-C; each version is checked against the one before
//! ([`super::hds_reload`]), new fragments are checked as above as they appear (each once),
//! and a bootstrap that stops adding fragments is reported.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use crate::dtsc::{Codec, Meta, Packet, Timebase, TrackKind};
use crate::formats::flv::amf0::Value;
use crate::formats::{self, Finding, Severity};
use crate::io::{Cursor, Source};
use crate::package::hds::bootstrap::{listing, Listed};
use crate::package::hds::boxes::Abst;
use crate::package::hds::fragment::{self, flv_header};
use crate::package::hds::manifest::{parse, F4m, MediaInfo};
use crate::package::hds::MANIFEST;
use crate::package::variant::resolution;

use super::follow::{reload_period, Follow, Stall};
use super::loc::Loc;
use super::{AnalyseError, Options, Report, Stats};

/// Largest manifest or bootstrap read.
const MAX_TEXT_BYTES: u64 = 16 << 20;
/// Largest fragment read.
const MAX_FRAGMENT_BYTES: u64 = 1 << 30;
/// Most `<media>` followed.
const MAX_MEDIA: usize = 64;
/// Most fragments checked per media.
const MAX_FRAGMENTS: usize = 100_000;
/// Difference between a listed time or duration and the real one tolerated, beyond a frame.
const SLACK_MS: i64 = 50;

/// True when `path` is something this analyser reads: a folder holding a `manifest.f4m`, or
/// a file named `*.f4m`.
pub fn is_packaged(path: &Path) -> bool {
    if path.is_dir() {
        return path.join(MANIFEST).is_file();
    }
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("f4m"))
}

struct Ctx {
    findings: Vec<Finding>,
    stats: Option<Stats>,
    meta: Meta,
    /// Findings made so far: a live bootstrap's reloads repeat its tables' faults, told once.
    reported: BTreeSet<String>,
}

impl Ctx {
    fn error(&mut self, m: String) {
        if self.reported.insert(m.clone()) {
            self.findings.push(Finding::general(Severity::Error, m));
        }
    }
    fn warning(&mut self, m: String) {
        if self.reported.insert(m.clone()) {
            self.findings.push(Finding::general(Severity::Warning, m));
        }
    }
}

/// Analyses the HDS presentation at `path`.
pub fn analyse(path: &Loc, opts: &Options, _out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let top = if path.is_dir() {
        path.child(MANIFEST)
    } else {
        path.clone()
    };
    let bytes = top.read(MAX_TEXT_BYTES).map_err(AnalyseError::Input)?;
    let (m, problems) = parse(&bytes);
    let mut ctx = Ctx {
        findings: Vec::new(),
        stats: None,
        meta: Meta::default(),
        reported: BTreeSet::new(),
    };
    let mname = match top.file_name() {
        n if n.is_empty() => MANIFEST.to_string(),
        n => n,
    };
    for p in problems {
        let at = if p.line > 0 {
            format!("{mname} line {}", p.line)
        } else {
            mname.clone()
        };
        let msg = format!("{at}: {}", p.message);
        if p.error {
            ctx.error(msg);
        } else {
            ctx.warning(msg);
        }
    }
    let Some(m) = m else {
        return Err(AnalyseError::Input(format!("{top}: not an F4M manifest")));
    };
    if let Some(b) = &m.base_url {
        ctx.warning(format!(
            "{mname}: <baseURL> {b:?}: fragments looked for beside the manifest"
        ));
    }
    let mut states = Vec::new();
    for (k, media) in m.media.iter().enumerate().take(MAX_MEDIA) {
        let what = format!("<media url={:?}>", media.url);
        let Some((abst, url)) = bootstrap_of(&mut ctx, &m, media, &top, &what) else {
            continue;
        };
        if abst.live != m.live() {
            ctx.error(format!(
                "{what}: the bootstrap says live={}, the manifest's streamType {:?}",
                abst.live, m.stream_type
            ));
        }
        let mut st = MediaState::new(k, media.clone(), what, url, abst.live || m.live());
        st.take(&mut ctx, abst, &top);
        states.push(st);
    }
    if m.media.len() > MAX_MEDIA {
        ctx.warning(format!(
            "more than {MAX_MEDIA} <media>; the rest not checked"
        ));
    }
    if matches!(top, Loc::Url { .. }) {
        follow_live(&mut ctx, &top, &mname, &mut states, opts);
    }
    for st in states {
        st.finish(&mut ctx);
    }
    let file = path.to_string();
    let findings = ctx.findings;
    let stats = ctx.stats.unwrap_or_else(|| Stats::new(&Meta::default()));
    Ok(stats.into_report(file, "hds", None, None, findings, opts.validate))
}

/// The bootstrap of `media`: parsed, from its URL file and/or inline; and the URL it was read
/// from, if any (a live one is fetched from there again).
fn bootstrap_of(
    ctx: &mut Ctx,
    m: &F4m,
    media: &MediaInfo,
    top: &Loc,
    what: &str,
) -> Option<(Abst, Option<String>)> {
    let Some(b) = m.bootstrap_of(media) else {
        ctx.error(format!("{what}: no bootstrap; fragments not checked"));
        return None;
    };
    let mut from_url: Option<Vec<u8>> = None;
    // A bootstrap given inline may also sit beside the manifest as `ID.abst` (MistServer's
    // and mist's layout, for players that fetch it): then the two must agree.
    let beside = media
        .url
        .strip_suffix('-')
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .map(|id| format!("{id}.abst"));
    let url = b
        .url
        .clone()
        .or_else(|| beside.filter(|n| top.resolve(n).is_some_and(|l| l.is_file())));
    if let Some(url) = &url {
        match top.resolve(url) {
            None => ctx.warning(format!("{what}: bootstrap {url}: not a file; not checked")),
            Some(p) => match p.read(MAX_TEXT_BYTES) {
                Ok(v) => from_url = Some(v),
                Err(e) => ctx.error(format!("{what}: bootstrap {e}")),
            },
        }
    }
    if let (Some(u), Some(i)) = (&from_url, &b.inline) {
        if u != i {
            ctx.error(format!(
                "{what}: the bootstrap inline in the manifest differs from the one at {}",
                url.as_deref().unwrap_or("")
            ));
        }
    }
    let read_url = from_url.is_some().then_some(url).flatten();
    let raw = from_url.or_else(|| b.inline.clone())?;
    match Abst::parse_box(&Bytes::from(raw)) {
        Ok(a) => Some((a, read_url)),
        Err(e) => {
            ctx.error(format!("{what}: bootstrap: {e}"));
            None
        }
    }
}

/// What one fragment held: per FLV track, first and last decode time (ms) and the step
/// before the last; and the earliest time of any packet.
struct Seen {
    spans: Vec<(u32, TrackKind, i64, i64, i64)>,
    earliest: Option<i64>,
    main: Option<u32>,
}

/// One `<media>` being checked: its bootstrap's tables and fragments, and, live, each
/// reload of its bootstrap checked against the one before.
struct MediaState {
    /// Its place in the manifest (the first one's packets are counted).
    k: usize,
    media: MediaInfo,
    what: String,
    /// Where the bootstrap was read from (`None`: inline in the manifest).
    url: Option<String>,
    /// Still followed.
    live: bool,
    /// The latest bootstrap read.
    abst: Option<Abst>,
    /// Fragments checked, from the first still listed on.
    done: BTreeSet<u32>,
    /// The last fragment tried, and the last one read with what it held.
    tried: Option<u32>,
    prev: Option<(Seen, Listed)>,
    found_codecs: Vec<(TrackKind, Codec)>,
    found_size: Option<(u32, u32)>,
    /// The newest fragment's listed duration, ms.
    last_ms: i64,
    stall: Stall,
}

impl MediaState {
    fn new(k: usize, media: MediaInfo, what: String, url: Option<String>, live: bool) -> Self {
        MediaState {
            k,
            media,
            what,
            url,
            live,
            abst: None,
            done: BTreeSet::new(),
            tried: None,
            prev: None,
            found_codecs: Vec::new(),
            found_size: None,
            last_ms: 0,
            stall: Stall::default(),
        }
    }

    /// Checks the tables of `abst` and the fragments it lists that were not checked before;
    /// keeps `abst` as the latest. Returns how many fragments were new.
    fn take(&mut self, ctx: &mut Ctx, abst: Abst, top: &Loc) -> usize {
        let what = self.what.clone();
        let frags = tables(ctx, &what, &abst);
        let to_ms = fragment_ms(&abst);
        if let Some(last) = frags.last() {
            self.last_ms = to_ms(u64::from(last.duration));
        }
        if let Some(first) = frags.first() {
            self.done = self.done.split_off(&first.fragment);
        }
        self.abst = Some(abst);
        let mut new = 0;
        for l in frags.iter().take(MAX_FRAGMENTS) {
            if !self.done.insert(l.fragment) {
                continue;
            }
            new += 1;
            // Fragments that came and went between two reloads break the chain.
            if self
                .tried
                .is_some_and(|t| t.checked_add(1) != Some(l.fragment))
            {
                self.prev = None;
            }
            self.tried = Some(l.fragment);
            self.fragment(ctx, top, l, &to_ms);
        }
        if frags.len() > MAX_FRAGMENTS {
            ctx.warning(format!(
                "{what}: more than {MAX_FRAGMENTS} fragments; the rest not checked"
            ));
        }
        new
    }

    /// Reads fragment `l` and checks it, and its boundary with the one before.
    fn fragment(&mut self, ctx: &mut Ctx, top: &Loc, l: &Listed, to_ms: &dyn Fn(u64) -> i64) {
        let what = &self.what;
        let name = format!("{}Seg1-Frag{}", self.media.url, l.fragment);
        let what_f = format!("{what} {name}");
        let Some(p) = top.resolve(&name) else {
            ctx.warning(format!("{what_f}: not a file; not checked"));
            return;
        };
        let data = match p.read(MAX_FRAGMENT_BYTES) {
            Ok(d) => Bytes::from(d),
            Err(e) => {
                ctx.error(format!("{what}: fragment {e}"));
                return;
            }
        };
        let Some((meta, packets)) = check_fragment(ctx, &what_f, &data, l.fragment) else {
            return;
        };
        for t in &meta.tracks {
            if !self
                .found_codecs
                .iter()
                .any(|(k, c)| *k == t.kind && *c == t.codec)
            {
                self.found_codecs.push((t.kind, t.codec.clone()));
            }
            if t.kind == TrackKind::Video && self.found_size.is_none() {
                self.found_size = resolution(t);
            }
        }
        count(ctx, self.k, &meta, &packets);
        let seen = spans(ctx, &what_f, &meta, &packets);
        // The table's start against the fragment's first packet.
        if let Some(e) = seen.earliest {
            let listed_ms = to_ms(l.start);
            if (e - listed_ms).abs() > SLACK_MS {
                ctx.error(format!(
                    "{what_f}: the bootstrap says it starts at {listed_ms} ms, its first packet is at {e} ms"
                ));
            }
        }
        if let Some((ps, pl)) = &self.prev {
            between(ctx, &what_f, (ps, pl), (&seen, l), to_ms);
        }
        self.prev = Some((seen, *l));
    }

    /// The last fragment's listed duration against where its tracks end; the codecs and size
    /// declared against those found.
    fn finish(self, ctx: &mut Ctx) {
        let what = &self.what;
        if let (Some((seen, l)), Some(abst)) = (&self.prev, &self.abst) {
            let to_ms = fragment_ms(abst);
            if let (Some(e), Some(end)) =
                (seen.earliest, seen.spans.iter().map(|s| s.3 + s.4).max())
            {
                let real = end - e;
                let listed_ms = to_ms(u64::from(l.duration));
                if (real - listed_ms).abs()
                    > SLACK_MS.max(seen.spans.iter().map(|s| s.4).max().unwrap_or(0))
                {
                    ctx.warning(format!(
                        "{what}: the last fragment is listed for {listed_ms} ms, it lasts {real} ms"
                    ));
                }
            }
        }
        check_declared(ctx, what, &self.media, &self.found_codecs, self.found_size);
    }
}

/// A time or duration of `abst`'s fragment run table in ms.
fn fragment_ms(abst: &Abst) -> impl Fn(u64) -> i64 {
    let tb = abst
        .fragment_tables
        .first()
        .and_then(|t| Timebase::new(t.timescale));
    move |v: u64| {
        let v = i64::try_from(v).unwrap_or(i64::MAX);
        tb.map_or(v, |tb| tb.rescale(v, Timebase::MS))
    }
}

/// Checks a bootstrap's tables on their own; returns the fragments they list.
fn tables(ctx: &mut Ctx, what: &str, abst: &Abst) -> Vec<Listed> {
    if abst.timescale == 0 {
        ctx.error(format!("{what}: bootstrap TimeScale 0"));
        return Vec::new();
    }
    let (Some(asrt), Some(afrt)) = (abst.segment_tables.first(), abst.fragment_tables.first())
    else {
        ctx.error(format!(
            "{what}: the bootstrap has no segment or no fragment run table"
        ));
        return Vec::new();
    };
    if afrt.timescale == 0 {
        ctx.error(format!("{what}: afrt TimeScale 0"));
        return Vec::new();
    }
    if asrt.runs.len() != 1 || asrt.runs[0].first_segment != 1 {
        ctx.warning(format!(
            "{what}: segment runs {:?}: only segment 1 is checked",
            asrt.runs
        ));
    }
    let per_segment = asrt.runs.first().map_or(0, |r| r.fragments_per_segment);
    let finite = per_segment != u32::MAX;
    let frags = listing(abst);
    if frags.is_empty() {
        ctx.error(format!("{what}: the bootstrap lists no fragment"));
        return frags;
    }
    if finite && !abst.live {
        let first = frags[0].fragment;
        let n = frags.len() as u64;
        if u64::from(per_segment) != u64::from(first) - 1 + n {
            ctx.error(format!(
                "{what}: segment 1 holds {per_segment} fragments, the fragment run table lists {first}..{}",
                u64::from(first) + n - 1
            ));
        }
    }
    let to_ms = fragment_ms(abst);
    if let Some(last) = frags.last() {
        let end = to_ms(last.start + u64::from(last.duration));
        let cmt = Timebase::new(abst.timescale).map_or(0, |tb| {
            tb.rescale(abst.current_media_time as i64, Timebase::MS)
        });
        if cmt + 1 < to_ms(last.start) {
            ctx.error(format!(
                "{what}: CurrentMediaTime {cmt} ms is before the newest fragment ({} ms)",
                to_ms(last.start)
            ));
        } else if !abst.live && (cmt - end).abs() > 1 {
            ctx.warning(format!(
                "{what}: CurrentMediaTime {cmt} ms, the last fragment ends at {end} ms"
            ));
        }
    }
    for w in frags.windows(2) {
        let end = w[0].start + u64::from(w[0].duration);
        if w[1].start != end && !w[1].after_discontinuity {
            ctx.warning(format!(
                "{what}: fragment {} starts at {} ms, the one before ends at {} ms",
                w[1].fragment,
                to_ms(w[1].start),
                to_ms(end)
            ));
        }
    }
    frags
}

/// Fetches the bootstrap of `st` again: from its URL, or from the manifest when inline.
fn reload_bootstrap(ctx: &mut Ctx, top: &Loc, mname: &str, st: &MediaState) -> Option<Abst> {
    let what = &st.what;
    let raw = match &st.url {
        Some(url) => {
            let p = top.resolve(url)?;
            match p.read(MAX_TEXT_BYTES) {
                Ok(b) => b,
                Err(e) => {
                    ctx.error(format!("{what}: bootstrap reload: {e}"));
                    return None;
                }
            }
        }
        None => {
            let bytes = match top.read(MAX_TEXT_BYTES) {
                Ok(b) => b,
                Err(e) => {
                    ctx.error(format!("{mname}: reload: {e}"));
                    return None;
                }
            };
            let (m, _) = parse(&bytes);
            let Some(m) = m else {
                ctx.error(format!("{mname}: a reload is not an F4M manifest"));
                return None;
            };
            let inline = m
                .media
                .iter()
                .find(|x| x.url == st.media.url)
                .and_then(|x| m.bootstrap_of(x))
                .and_then(|b| b.inline.clone());
            let Some(b) = inline else {
                ctx.error(format!(
                    "{what}: a reload of {mname} has no inline bootstrap for it any more"
                ));
                return None;
            };
            b
        }
    };
    match Abst::parse_box(&Bytes::from(raw)) {
        Ok(a) => Some(a),
        Err(e) => {
            ctx.error(format!("{what}: bootstrap reload: {e}"));
            None
        }
    }
}

/// Fetches the bootstraps of the live `<media>` among `states` again, about every fragment
/// duration, until each has ended (its `Live` flag dropped), `--duration` has passed or
/// Ctrl-C was pressed.
fn follow_live(ctx: &mut Ctx, top: &Loc, mname: &str, states: &mut [MediaState], opts: &Options) {
    let clock = Follow::new(opts);
    loop {
        let Some(shortest) = states.iter().filter(|s| s.live).map(|s| s.last_ms).min() else {
            return;
        };
        let wait = reload_period(Some(shortest), 2000);
        if !clock.wait(wait) {
            return;
        }
        for st in states.iter_mut().filter(|s| s.live) {
            let Some(new) = reload_bootstrap(ctx, top, mname, st) else {
                // Unreadable: not followed any further.
                st.live = false;
                continue;
            };
            if let Some(old) = &st.abst {
                for (error, msg) in super::hds_reload::faults(old, &new) {
                    let msg = format!("{}: {msg}", st.what);
                    if error {
                        ctx.error(msg);
                    } else {
                        ctx.warning(msg);
                    }
                }
            }
            let live = new.live;
            let advanced = st.take(ctx, new, top) > 0;
            // Nothing new for three reloads and three fragment durations: stopped.
            let limit = wait.max(Duration::from_millis(st.last_ms.max(0) as u64)) * 3;
            if let Some(idle) = st.stall.reload(advanced, limit).filter(|_| live) {
                ctx.warning(format!(
                    "{}: no new fragment in {:.1} s while the bootstrap is live (the timeline \
                     stopped advancing)",
                    st.what,
                    idle.as_secs_f64()
                ));
            }
            st.live = live;
        }
    }
}

/// Reads one fragment: its boxes, then its FLV tags; checks that the two agree.
fn check_fragment(
    ctx: &mut Ctx,
    what: &str,
    data: &Bytes,
    number: u32,
) -> Option<(Meta, Vec<Packet>)> {
    let parsed = match fragment::parse(data) {
        Ok(p) => p,
        Err(e) => {
            ctx.error(format!("{what}: {e}"));
            return None;
        }
    };
    let order: Vec<String> = parsed
        .boxes
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    if parsed.afra.is_none() {
        ctx.warning(format!(
            "{what}: no afra box (F4V Annex C: first in a fragment)"
        ));
    } else if parsed.boxes.first() != Some(b"afra") {
        ctx.warning(format!(
            "{what}: boxes in the order {order:?}; afra belongs first"
        ));
    }
    if !parsed.boxes.iter().any(|b| b == b"moof") {
        ctx.warning(format!("{what}: no moof box"));
    } else if parsed.sequence != Some(number) {
        ctx.error(format!(
            "{what}: mfhd sequence number {:?}, the fragment's number is {number}",
            parsed.sequence
        ));
    }
    // Walk the tags: where each starts (in the fragment), its type and time.
    let mut tags: Vec<(u64, u8, u32, bool)> = Vec::new();
    let body = &parsed.mdat;
    let mut at = 0usize;
    while at + 15 <= body.len() {
        let size = u32::from_be_bytes([0, body[at + 1], body[at + 2], body[at + 3]]) as usize;
        let ts = u32::from_be_bytes([body[at + 7], body[at + 4], body[at + 5], body[at + 6]]);
        let kind = body[at] & 0x1F;
        // A sequence header (AVC packet type 0, AAC packet type 0) prepares decoding.
        let first = body.get(at + 11).copied().unwrap_or(0);
        let second = body.get(at + 12).copied().unwrap_or(0xFF);
        let header = (kind == 9 && first & 0x0F == 7 && second == 0)
            || (kind == 8 && first >> 4 == 10 && second == 0);
        tags.push((parsed.mdat_at + at as u64, kind, ts, header));
        at += 11 + size + 4;
    }
    if at != body.len() {
        ctx.error(format!(
            "{what}: the mdat does not end at a tag boundary ({at} of {} bytes)",
            body.len()
        ));
    }
    let mut flv = flv_header(true, true).to_vec();
    flv.extend_from_slice(body);
    let src = Source::from_bytes(what, flv);
    let spec = formats::spec_by_name("flv")?;
    let open = spec.open?;
    let mut d = match open(src) {
        Ok(d) => d,
        Err(e) => {
            ctx.error(format!("{what}: FLV tags: {e}"));
            return None;
        }
    };
    let mut packets = Vec::new();
    loop {
        match d.next_packet() {
            Ok(Some(p)) => packets.push(p),
            Ok(None) => break,
            Err(e) => {
                ctx.error(format!("{what}: FLV tags: {e}"));
                break;
            }
        }
    }
    for f in d.take_findings() {
        if f.severity == formats::Severity::Error {
            ctx.error(format!("{what}: FLV tags: {}", f.message));
        }
    }
    let meta = d.meta().clone();
    // trun samples, in file order, are exactly the tags' payloads.
    if !parsed.samples.is_empty() {
        let mut s = parsed.samples.clone();
        s.sort_by_key(|x| x.offset);
        if s.len() != packets.len() {
            ctx.error(format!(
                "{what}: the moof describes {} samples, the mdat holds {} media tags",
                s.len(),
                packets.len()
            ));
        } else {
            for (i, (smp, p)) in s.iter().zip(&packets).enumerate() {
                let a = smp.offset as usize;
                let ok = data
                    .get(a..a + smp.size as usize)
                    .is_some_and(|b| b == &p.data[..]);
                if !ok {
                    ctx.error(format!(
                        "{what}: trun sample {i} (at {}, {} bytes) is not the payload of tag {i}",
                        smp.offset, smp.size
                    ));
                    break;
                }
            }
        }
    }
    // afra entries: a tag boundary from which the first media tag (after sequence headers)
    // is a random access point at the entry's time.
    if let Some(afra) = &parsed.afra {
        let has_video = meta.tracks.iter().any(|t| t.kind == TrackKind::Video);
        for e in &afra.entries {
            let Some(i) = tags.iter().position(|t| t.0 == e.offset) else {
                ctx.error(format!(
                    "{what}: afra entry at {} ms points at byte {}, not a tag",
                    e.time, e.offset
                ));
                continue;
            };
            let media = tags[i..].iter().find(|t| !t.3 && (!has_video || t.1 == 9));
            let ok = media.is_some_and(|t| {
                let key = t.1 != 9 || data.get(t.0 as usize + 11).is_some_and(|b| b >> 4 == 1);
                key && u64::from(t.2) == e.time
            });
            if !ok {
                ctx.error(format!(
                    "{what}: afra entry at {} ms (byte {}) is not followed by a random access point at that time",
                    e.time, e.offset
                ));
            }
        }
    }
    Some((meta, packets))
}

/// Counts a fragment's packets for the summary, from the first `<media>` only: the others are
/// other renditions of the same presentation (sharing its audio).
fn count(ctx: &mut Ctx, media: usize, meta: &Meta, packets: &[Packet]) {
    if media != 0 {
        return;
    }
    for t in &meta.tracks {
        if ctx.meta.track(t.id).is_none() {
            ctx.meta.tracks.push(t.clone());
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

fn spans(ctx: &mut Ctx, what: &str, meta: &Meta, packets: &[Packet]) -> Seen {
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
        .map(|t| t.id.0);
    let mut spans = Vec::new();
    let mut earliest: Option<i64> = None;
    for t in &meta.tracks {
        let times: Vec<i64> = packets
            .iter()
            .filter(|p| p.track == t.id)
            .map(|p| t.timebase.rescale(p.dts.0, Timebase::MS))
            .collect();
        let (Some(&a), Some(&b)) = (times.first(), times.last()) else {
            continue;
        };
        for w in times.windows(2) {
            if w[1] < w[0] {
                ctx.error(format!(
                    "{what}: track {} decode time goes back ({} after {})",
                    t.id, w[1], w[0]
                ));
                break;
            }
        }
        let step = if times.len() >= 2 {
            b - times[times.len() - 2]
        } else {
            0
        };
        earliest = Some(earliest.map_or(a, |e| e.min(a)));
        spans.push((t.id.0, t.kind, a, b, step));
    }
    Seen {
        spans,
        earliest,
        main,
    }
}

fn between(
    ctx: &mut Ctx,
    what: &str,
    (prev, pl): (&Seen, &Listed),
    (next, nl): (&Seen, &Listed),
    to_ms: &dyn Fn(u64) -> i64,
) {
    if nl.after_discontinuity {
        return;
    }
    if let (Some(a), Some(b)) = (prev.earliest, next.earliest) {
        let real = b - a;
        let listed = to_ms(u64::from(pl.duration));
        let frame = prev.spans.iter().map(|s| s.4).max().unwrap_or(0);
        if (real - listed).abs() > SLACK_MS.max(frame) {
            ctx.warning(format!(
                "{what}: the fragment before is listed for {listed} ms, it lasts {real} ms"
            ));
        }
    }
    let _ = (prev.main, next.main);
    for (id, kind, first, _, _) in &next.spans {
        let Some((_, _, _, last, step)) = prev.spans.iter().find(|s| s.0 == *id && s.1 == *kind)
        else {
            continue;
        };
        let gap = first - last;
        if gap <= 0 {
            ctx.error(format!(
                "{what}: track {id} starts at {first} ms, not after the previous fragment's last packet at {last} ms"
            ));
        } else if gap > (*step).max(1) * 2 + 1 {
            ctx.error(format!(
                "{what}: track {id} jumps {gap} ms after the previous fragment without a discontinuity"
            ));
        }
    }
}

/// The codecs and size the manifest declares against those found.
fn check_declared(
    ctx: &mut Ctx,
    what: &str,
    media: &MediaInfo,
    found: &[(TrackKind, Codec)],
    size: Option<(u32, u32)>,
) {
    if let (Some(w), Some(h), Some((fw, fh))) = (media.width, media.height, size) {
        if (w, h) != (fw, fh) {
            ctx.error(format!(
                "{what}: width/height {w}x{h}, the video is {fw}x{fh}"
            ));
        }
    }
    let Some(md) = &media.metadata else { return };
    let mut c = Cursor::new(Bytes::from(md.clone()), 0, "hds metadata");
    let values = match Value::parse_all(&mut c) {
        Ok(v) => v,
        Err(e) => {
            ctx.error(format!("{what}: <metadata> is not AMF0: {e}"));
            return;
        }
    };
    let Some(props) = values.get(1) else {
        ctx.warning(format!("{what}: <metadata> holds no onMetaData object"));
        return;
    };
    let num = |k: &str| props.get(k).and_then(Value::as_number);
    let flv_video = |c: &Codec| match c {
        Codec::H264 => Some(7.0),
        _ => None,
    };
    let flv_audio = |c: &Codec| match c {
        Codec::Aac => Some(10.0),
        Codec::Mp3 => Some(2.0),
        _ => None,
    };
    for (kind, key, map) in [
        (
            TrackKind::Video,
            "videocodecid",
            &flv_video as &dyn Fn(&Codec) -> Option<f64>,
        ),
        (TrackKind::Audio, "audiocodecid", &flv_audio),
    ] {
        let got: Vec<f64> = found
            .iter()
            .filter(|(k, _)| *k == kind)
            .filter_map(|(_, c)| map(c))
            .collect();
        match num(key) {
            Some(d) if !got.is_empty() && !got.contains(&d) => ctx.error(format!(
                "{what}: <metadata> {key} {d}, the fragments hold {got:?}"
            )),
            None if !got.is_empty() => ctx.warning(format!("{what}: <metadata> has no {key}")),
            Some(d) if got.is_empty() => {
                ctx.warning(format!("{what}: <metadata> {key} {d}, no such track found"))
            }
            _ => {}
        }
    }
}
