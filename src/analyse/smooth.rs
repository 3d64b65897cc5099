//! `mist analyse` of a Smooth Streaming presentation (`Manifest`, or a folder holding one):
//! the client manifest checked against [MS-SSTR] 2.2.2, then against the fragments each
//! `StreamIndex` lists, read with mist's own box parsers:
//!
//! - every listed fragment is there, with one `traf`, its `tfxd` time and duration equal to
//!   the manifest's `c@t`/`c@d`, its `tfdt` equal to `c@t`, its samples lasting `c@d`
//!   together, and the next fragment starting where it ends; live fragments' `tfrf` agree
//!   with the manifest on the fragments they announce;
//! - the codec each `QualityLevel` declares (`FourCC`, `CodecPrivateData`, size, rate,
//!   channels) is consistent, and the samples are what it says: H.264 samples are whole
//!   4-byte length-prefixed NAL units and each fragment starts with an IDR picture.
//!
//! A manifest named by URL is fetched with its fragments through [`Loc`]; a live one
//! (`IsLive="TRUE"`) is followed: reloaded about every fragment duration (0.5–10 s) until
//! `IsLive` turns off, `--duration` passes or Ctrl-C; each version is checked against the one
//! before ([`super::smooth_reload`]), new fragments are checked as above as they appear (each
//! once), and a manifest that stops adding fragments is reported.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use crate::codec::aac::AudioSpecificConfig;
use crate::codec::h264::AvcConfig;
use crate::dtsc::{
    Audio, Codec, Meta, Packet, Params, Ticks, Timebase, Track, TrackId, TrackKind, Video,
};
use crate::formats::{Finding, Severity};
use crate::package::smooth::fragment::{self, Parsed};
use crate::package::smooth::manifest::{parse, QualityInfo, Ssm, StreamIndexInfo};
use crate::package::smooth::MANIFEST;
use crate::package::variant::resolution;

use super::follow::{reload_period, Follow, Stall};
use super::loc::Loc;
use super::smooth_reload::stream_name;
use super::{AnalyseError, Options, Report, Stats};

/// Largest manifest read.
const MAX_TEXT_BYTES: u64 = 16 << 20;
/// Largest fragment read.
const MAX_FRAGMENT_BYTES: u64 = 1 << 30;
/// Most fragments checked per quality level.
const MAX_FRAGMENTS: usize = 100_000;
/// Most quality levels checked.
const MAX_QUALITIES: usize = 64;

/// True when `path` is something this analyser reads: a folder holding a `Manifest`, or a
/// file named `Manifest` (any case, as IIS serves it).
pub fn is_packaged(path: &Path) -> bool {
    if path.is_dir() {
        return path.join(MANIFEST).is_file();
    }
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n.eq_ignore_ascii_case(MANIFEST) || n.to_ascii_lowercase().ends_with(".ismc")
    })
}

struct Ctx {
    findings: Vec<Finding>,
    meta: Meta,
    stats: Stats,
    /// Findings made so far: a live manifest's reloads repeat its faults, told once.
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
    fn problems(&mut self, problems: Vec<crate::package::smooth::manifest::Problem>) {
        for p in problems {
            let msg = if p.line > 0 {
                format!("Manifest line {}: {}", p.line, p.message)
            } else {
                format!("Manifest: {}", p.message)
            };
            if p.error {
                self.error(msg);
            } else {
                self.warning(msg);
            }
        }
    }
}

/// Analyses the Smooth Streaming presentation at `path`.
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
        meta: Meta::default(),
        stats: Stats::new(&Meta::default()),
        reported: BTreeSet::new(),
    };
    ctx.problems(problems);
    let Some(m) = m else {
        return Err(AnalyseError::Input(format!(
            "{top}: not a Smooth Streaming manifest"
        )));
    };
    let mut states = Vec::new();
    walk(&mut ctx, &m, &mut states, &top);
    if m.live && matches!(top, Loc::Url { .. }) {
        follow_live(&mut ctx, &top, m, &mut states, opts);
    }
    let file = path.to_string();
    let findings = ctx.findings;
    Ok(ctx
        .stats
        .into_report(file, "smooth", None, None, findings, opts.validate))
}

/// One quality level's checking state, kept across reloads.
struct QualityState {
    /// Stream type and name, and bit rate.
    key: (String, String, Option<u64>),
    /// The track it declares (`None`: not readable, reported).
    track: Option<Track>,
    counted: bool,
    /// Start times of the fragments checked, from the first still listed on.
    done: BTreeSet<u64>,
    /// The start time of the last fragment tried.
    tried: Option<u64>,
    /// The last fragment read: where it ends, its sequence number and track id.
    prev: Option<(u64, u32, Option<u32>)>,
}

/// Checks the fragments of every quality level of `m` not checked before; returns how many.
fn walk(ctx: &mut Ctx, m: &Ssm, states: &mut Vec<QualityState>, top: &Loc) -> usize {
    let mut checked = 0;
    let mut new = 0;
    for (k, s) in m.streams.iter().enumerate() {
        for q in &s.qualities {
            if checked >= MAX_QUALITIES {
                ctx.warning(format!(
                    "more than {MAX_QUALITIES} quality levels; the rest not checked"
                ));
                return new;
            }
            checked += 1;
            let key = (s.kind.clone(), stream_name(s), q.bitrate);
            let i = match states.iter().position(|x| x.key == key) {
                Some(i) => i,
                None => {
                    let name = stream_name(s);
                    let what =
                        format!("StreamIndex {name} QualityLevel {}", q.bitrate.unwrap_or(0));
                    let track = match declared_track(k as u32 + 1, s, q) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            ctx.error(format!("{what}: {e}"));
                            None
                        }
                    };
                    states.push(QualityState {
                        key,
                        track,
                        counted: false,
                        done: BTreeSet::new(),
                        tried: None,
                        prev: None,
                    });
                    states.len() - 1
                }
            };
            new += check_quality(ctx, m, s, q, top, &mut states[i]);
        }
    }
    new
}

/// The newest fragment's duration across `m`'s streams, the shortest and the longest, in ms.
fn chunk_ms(m: &Ssm) -> (Option<i64>, i64) {
    let ms: Vec<i64> = m
        .streams
        .iter()
        .filter_map(|s| {
            let c = s.chunks.last()?;
            let tb = Timebase::new(u32::try_from(s.timescale).ok()?)?;
            Some(tb.rescale(i64::try_from(c.duration).ok()?, Timebase::MS))
        })
        .collect();
    (
        ms.iter().min().copied(),
        ms.iter().max().copied().unwrap_or(0),
    )
}

/// Reloads a live manifest about every fragment duration until `IsLive` turns off,
/// `--duration` passes or Ctrl-C.
fn follow_live(
    ctx: &mut Ctx,
    top: &Loc,
    mut old: Ssm,
    states: &mut Vec<QualityState>,
    opts: &Options,
) {
    let clock = Follow::new(opts);
    let mut stall = Stall::default();
    loop {
        let (shortest, longest) = chunk_ms(&old);
        let wait = reload_period(shortest, 2000);
        // Nothing new for three reloads and three fragment durations: stopped.
        let limit = wait.max(Duration::from_millis(longest.max(0) as u64)) * 3;
        if !clock.wait(wait) {
            return;
        }
        let bytes = match top.read(MAX_TEXT_BYTES) {
            Ok(b) => b,
            Err(e) => {
                ctx.error(format!("Manifest: reload: {e}"));
                return;
            }
        };
        let (new, problems) = parse(&bytes);
        ctx.problems(problems);
        let Some(new) = new else {
            ctx.error("Manifest: a reload is not a Smooth Streaming manifest".into());
            return;
        };
        for (error, msg) in super::smooth_reload::faults(&old, &new) {
            let msg = format!("Manifest: {msg}");
            if error {
                ctx.error(msg);
            } else {
                ctx.warning(msg);
            }
        }
        let advanced = walk(ctx, &new, states, top) > 0;
        if let Some(idle) = stall.reload(advanced, limit).filter(|_| new.live) {
            ctx.warning(format!(
                "Manifest: no new fragment in {:.1} s while IsLive is TRUE (the timeline stopped \
                 advancing)",
                idle.as_secs_f64()
            ));
        }
        let live = new.live;
        old = new;
        if !live {
            return;
        }
    }
}

/// The track a quality level declares, or why it cannot be read.
fn declared_track(id: u32, s: &StreamIndexInfo, q: &QualityInfo) -> Result<Track, String> {
    let tb = crate::dtsc::Timebase::new(u32::try_from(s.timescale).unwrap_or(0))
        .ok_or_else(|| format!("TimeScale {} is not usable", s.timescale))?;
    let private = q.private.clone().unwrap_or_default();
    let fourcc = q.fourcc.clone().unwrap_or_default();
    match (s.kind.as_str(), fourcc.as_str()) {
        ("video", "H264" | "AVC1" | "avc1" | "h264") => {
            let cfg = AvcConfig::from_annexb_parameter_sets(&Bytes::from(private), 0)
                .map_err(|e| format!("CodecPrivateData: {e}"))?
                .ok_or("CodecPrivateData holds no SPS and PPS")?;
            let init = cfg.build().map_err(|e| format!("CodecPrivateData: {e}"))?;
            let mut t = Track::new(TrackId(id), TrackKind::Video, Codec::H264, tb);
            t.init = init;
            t.params = Params::Video(Video::default());
            if let Some((w, h)) = resolution(&t) {
                t.params = Params::Video(Video {
                    width: w,
                    height: h,
                    fpks: 0,
                });
                if let Some((mw, mh)) = q.size {
                    if (mw, mh) != (w, h) {
                        return Err(format!(
                            "MaxWidth/MaxHeight {mw}x{mh}, the SPS says {w}x{h}"
                        ));
                    }
                }
            }
            Ok(t)
        }
        ("audio", "AACL" | "AACH" | "mp4a") | ("audio", "") => {
            let asc = AudioSpecificConfig::parse(&private, 0)
                .map_err(|e| format!("CodecPrivateData: {e}"))?;
            let rate = asc
                .extension_sampling_frequency
                .unwrap_or(asc.sampling_frequency);
            // HE-AAC may signal SBR implicitly: the output rate is then twice the core's, and
            // parametric stereo makes two channels of a mono core.
            if let Some(r) = q.rate {
                if r != asc.sampling_frequency && r != rate && r != 2 * asc.sampling_frequency {
                    return Err(format!(
                        "SamplingRate {r}, the AudioSpecificConfig says {}",
                        asc.sampling_frequency
                    ));
                }
            }
            if let Some(c) = q.channels {
                let core = u32::from(asc.channel_configuration);
                if core != 0 && c != core && !(core == 1 && c == 2) {
                    return Err(format!(
                        "Channels {c}, the AudioSpecificConfig says {}",
                        asc.channel_configuration
                    ));
                }
            }
            let mut t = Track::new(TrackId(id), TrackKind::Audio, Codec::Aac, tb);
            t.init = Bytes::from(private);
            t.params = Params::Audio(Audio {
                rate: q.rate.unwrap_or(rate),
                channels: q.channels.unwrap_or(u32::from(asc.channel_configuration)),
                sample_bits: 16,
            });
            Ok(t)
        }
        (k, f) => Err(format!(
            "{k} FourCC {f:?} is not one mist reads (H264, AACL, AACH)"
        )),
    }
}

fn url_of(template: &str, bitrate: u64, time: u64) -> String {
    template
        .replace("{bitrate}", &bitrate.to_string())
        .replace("{Bitrate}", &bitrate.to_string())
        .replace("{start time}", &time.to_string())
        .replace("{start_time}", &time.to_string())
}

/// Checks the fragments of quality level `q` of stream `s` not checked before; returns how
/// many.
fn check_quality(
    ctx: &mut Ctx,
    m: &Ssm,
    s: &StreamIndexInfo,
    q: &QualityInfo,
    top: &Loc,
    st: &mut QualityState,
) -> usize {
    let name = stream_name(s);
    let what = format!("StreamIndex {name} QualityLevel {}", q.bitrate.unwrap_or(0));
    let (Some(url), Some(bitrate)) = (&s.url, q.bitrate) else {
        return 0;
    };
    // Fragments that left the DVR window are forgotten.
    if let Some(first) = s.chunks.first() {
        st.done = st.done.split_off(&first.time);
    }
    let mut new = 0;
    for (i, c) in s.chunks.iter().enumerate().take(MAX_FRAGMENTS) {
        if !st.done.insert(c.time) {
            continue;
        }
        new += 1;
        // Fragments that came and went between two reloads break the chain.
        let before = i
            .checked_sub(1)
            .and_then(|j| s.chunks.get(j))
            .map(|b| b.time);
        if st.tried.is_some() && before != st.tried {
            st.prev = None;
        }
        st.tried = Some(c.time);
        let rel = url_of(url, bitrate, c.time);
        let what_f = format!("{what} {rel}");
        let Some(p) = top.resolve(&rel) else {
            ctx.warning(format!("{what_f}: not a file; not checked"));
            continue;
        };
        let data = match p.read(MAX_FRAGMENT_BYTES) {
            Ok(d) => Bytes::from(d),
            Err(e) => {
                ctx.error(format!("{what}: {e}"));
                continue;
            }
        };
        let f = match fragment::parse(&data) {
            Ok(f) => f,
            Err(e) => {
                ctx.error(format!("{what_f}: {e}"));
                continue;
            }
        };
        check_fragment(ctx, &what_f, m, s, i, &f);
        // Continuity of sequence numbers and track ids across the quality level.
        if let Some((end, seq, tid)) = st.prev {
            let first = f.samples.first().map(|x| x.dts);
            if let Some(first) = first {
                if first != end {
                    ctx.error(format!(
                        "{what_f}: starts at {first}, the fragment before ends at {end}"
                    ));
                }
            }
            if f.sequence.is_some_and(|x| x <= seq) {
                ctx.warning(format!(
                    "{what_f}: mfhd sequence number {:?} does not rise",
                    f.sequence
                ));
            }
            if f.track != tid {
                ctx.warning(format!(
                    "{what_f}: tfhd track {:?}, earlier fragments {:?}",
                    f.track, tid
                ));
            }
        }
        let end = f
            .samples
            .last()
            .map_or(c.time + c.duration, |x| x.dts + u64::from(x.duration));
        st.prev = Some((end, f.sequence.unwrap_or(0), f.track));
        if let Some(t) = &st.track {
            if !st.counted {
                ctx.meta.tracks.push(t.clone());
                ctx.stats.update_tracks(&ctx.meta);
                st.counted = true;
            }
            check_samples(ctx, &what_f, t, &f);
            for smp in &f.samples {
                ctx.stats.add(&Packet {
                    track: t.id,
                    dts: Ticks(i64::try_from(smp.dts).unwrap_or(i64::MAX)),
                    cts: smp.cto,
                    keyframe: smp.sync,
                    data: smp.data.clone(),
                    pos: None,
                });
            }
        }
    }
    if s.chunks.len() > MAX_FRAGMENTS {
        ctx.warning(format!(
            "{what}: more than {MAX_FRAGMENTS} fragments; the rest not checked"
        ));
    }
    new
}

/// One fragment against the manifest's chunk `i` of stream `s`.
fn check_fragment(ctx: &mut Ctx, what: &str, m: &Ssm, s: &StreamIndexInfo, i: usize, f: &Parsed) {
    let c = s.chunks[i];
    if f.trafs != 1 {
        ctx.error(format!(
            "{what}: {} traf boxes; a Smooth fragment has one",
            f.trafs
        ));
    }
    match f.tfxd {
        Some(x) => {
            if x.time != c.time {
                ctx.error(format!(
                    "{what}: tfxd time {}, the manifest's t {}",
                    x.time, c.time
                ));
            }
            if x.duration != c.duration {
                ctx.error(format!(
                    "{what}: tfxd duration {}, the manifest's d {}",
                    x.duration, c.duration
                ));
            }
        }
        None if m.live => ctx.error(format!(
            "{what}: no tfxd (MS-SSTR 2.2.7.5: live fragments carry one)"
        )),
        None => {}
    }
    if let Some(t) = f.tfdt {
        if t != c.time {
            ctx.error(format!("{what}: tfdt {t}, the manifest's t {}", c.time));
        }
    }
    let total: u64 = f.samples.iter().map(|x| u64::from(x.duration)).sum();
    if total != c.duration {
        ctx.error(format!(
            "{what}: its samples last {total}, the manifest's d {}",
            c.duration
        ));
    }
    if let Some(next) = &f.tfrf {
        for (k, n) in next.iter().enumerate() {
            if let Some(listed) = s.chunks.get(i + 1 + k) {
                if listed != n {
                    ctx.error(format!(
                        "{what}: tfrf announces {}+{}, the manifest lists {}+{}",
                        n.time, n.duration, listed.time, listed.duration
                    ));
                }
            }
        }
    } else if m.live && m.lookahead.unwrap_or(0) > 0 && i + 1 < s.chunks.len() {
        ctx.warning(format!(
            "{what}: no tfrf in a live fragment with fragments after it"
        ));
    }
}

/// The samples are what the quality level declares.
fn check_samples(ctx: &mut Ctx, what: &str, t: &Track, f: &Parsed) {
    if t.codec != Codec::H264 {
        if f.samples.iter().any(|s| s.data.is_empty()) {
            ctx.error(format!("{what}: an empty audio sample"));
        }
        return;
    }
    let length_size = AvcConfig::parse(&t.init, 0).map_or(4, |c| usize::from(c.length_size));
    for (k, s) in f.samples.iter().enumerate() {
        let mut at = 0usize;
        let mut types = Vec::new();
        while at + length_size <= s.data.len() {
            let mut n = 0usize;
            for b in &s.data[at..at + length_size] {
                n = n << 8 | usize::from(*b);
            }
            at += length_size;
            if n == 0 || at + n > s.data.len() {
                at = usize::MAX;
                break;
            }
            types.push(s.data[at] & 0x1F);
            at += n;
        }
        if at != s.data.len() {
            ctx.error(format!(
                "{what}: sample {k} is not whole {length_size}-byte length-prefixed NAL units"
            ));
            return;
        }
        if k == 0 && !(s.sync && types.contains(&5)) {
            ctx.error(format!("{what}: does not start with an IDR picture"));
        }
    }
}
