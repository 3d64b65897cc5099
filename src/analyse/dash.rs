//! `mist analyse` of an MPD or a packaged DASH folder (`DIR/` holding `index.mpd`): the MPD
//! checked against ISO/IEC 23009-1 (by `package::dash::parse`), then against its segments,
//! read with mist's own demuxers (init segment + media segment):
//!
//! - every segment's first decode time (`tfdt`) where the timeline puts it, within one
//!   sample; media that overlaps the previous segment, or jumps where the timeline follows on;
//! - the first video frame of every segment a keyframe (`startWithSAP`);
//! - the `codecs` declared against the codec found in the init segment.
//!
//! A folder's MPD takes relative URLs only (one with a scheme is reported and left
//! unchecked); an MPD named by URL is fetched with its segments, through [`Loc`]. A dynamic
//! MPD named by URL is followed live: reloaded every `minimumUpdatePeriod` (0.5–10 s) until it
//! turns static, `--duration` passes or Ctrl-C; each update is checked against the one before
//! ([`super::dash_reload`]), new segments are checked as above as they appear, and an MPD that
//! stops adding segments is reported.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::dtsc::{Meta, Timebase, TrackKind};
use crate::package::dash::parse::{parse, Mpd, Problem, Representation};
use crate::package::dash::MPD;
use crate::package::variant::codec_string;

use super::follow::{reload_period, Follow, Stall};
use super::hls::{count, demux, read_text, same_codec, Ctx, MAX_SEGMENT_BYTES};
use super::loc::Loc;
use super::{AnalyseError, Options, Report, Stats};

/// True when `path` is an MPD or a folder holding `index.mpd` (and no HLS playlist, which
/// [`super::hls`] reads).
pub fn is_mpd(path: &Path) -> bool {
    if path.is_dir() {
        return path.join(MPD).is_file() && !path.join(crate::package::hls::PLAYLIST).is_file();
    }
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("mpd"))
}

/// Analyses the MPD or packaged folder at `path`.
pub fn analyse(path: &Loc, opts: &Options, _out: &mut dyn Write) -> Result<Report, AnalyseError> {
    let top = if path.is_dir() {
        path.child(MPD)
    } else {
        path.clone()
    };
    let text = read_text(&top)?;
    let file = match top.file_name() {
        n if n.is_empty() => top.to_string(),
        n => n,
    };
    let mut ctx = Ctx {
        findings: Vec::new(),
        stats: None,
        counted: BTreeSet::new(),
        meta: Meta::default(),
    };
    let (mpd, problems) = parse(&text);
    let mut reported = BTreeSet::new();
    report_problems(&mut ctx, &file, problems, &mut reported);
    let Some(mpd) = mpd else {
        return Err(AnalyseError::Input(format!("{top}: not an MPD")));
    };
    let mut reps = Vec::new();
    check_segments(&mut ctx, &top, &mpd, &mut reps);
    if mpd.dynamic && matches!(top, Loc::Url { .. }) {
        follow_live(&mut ctx, &top, &file, mpd, &mut reps, &mut reported, opts);
    }
    let findings = ctx.findings;
    let stats = ctx.stats.unwrap_or_else(|| Stats::new(&Meta::default()));
    Ok(stats.into_report(
        path.to_string(),
        "dash",
        None,
        None,
        findings,
        opts.validate,
    ))
}

/// Reports the MPD's broken rules, each once (a reload repeats them).
fn report_problems(
    ctx: &mut Ctx,
    file: &str,
    problems: Vec<Problem>,
    reported: &mut BTreeSet<String>,
) {
    for p in problems {
        let msg = if p.line > 0 {
            format!("{file} line {}: {}", p.line, p.message)
        } else {
            format!("{file}: {}", p.message)
        };
        if !reported.insert(msg.clone()) {
            continue;
        }
        if p.error {
            ctx.error(msg);
        } else {
            ctx.warning(msg);
        }
    }
}

/// Checks the segments of every representation not checked before; returns how many.
fn check_segments(ctx: &mut Ctx, top: &Loc, mpd: &Mpd, reps: &mut Vec<RepState>) -> usize {
    let mut new = 0;
    for period in &mpd.periods {
        for set in &period.sets {
            for r in &set.reps {
                let key = (period.id.clone(), r.id.clone());
                let i = match reps.iter().position(|s| s.key == key) {
                    Some(i) => i,
                    None => {
                        reps.push(RepState::new(key));
                        reps.len() - 1
                    }
                };
                new += representation(ctx, top, r, &mut reps[i]);
            }
        }
    }
    new
}

/// Reloads a dynamic MPD until it turns static, `--duration` passes or Ctrl-C.
fn follow_live(
    ctx: &mut Ctx,
    top: &Loc,
    file: &str,
    mut old: Mpd,
    reps: &mut Vec<RepState>,
    reported: &mut BTreeSet<String>,
    opts: &Options,
) {
    let clock = Follow::new(opts);
    let mut stall = Stall::default();
    loop {
        let wait = reload_period(old.update_ms, 2000);
        // A timeline that adds nothing for three update periods (and at least the longest
        // segment thrice) has stopped, whatever the MPD still says.
        let longest = reps.iter().map(|r| r.longest_ms).max().unwrap_or(0);
        let limit = wait.max(Duration::from_millis(longest.max(0) as u64)) * 3;
        if !clock.wait(wait) {
            return;
        }
        let text = match read_text(top) {
            Ok(t) => t,
            Err(e) => {
                ctx.error(format!("{file}: reload: {e}"));
                return;
            }
        };
        let (new, problems) = parse(&text);
        report_problems(ctx, file, problems, reported);
        let Some(new) = new else {
            ctx.error(format!("{file}: a reload is not an MPD"));
            return;
        };
        for (error, msg) in super::dash_reload::faults(&old, &new) {
            let msg = format!("{file}: {msg}");
            if reported.insert(msg.clone()) {
                if error {
                    ctx.error(msg);
                } else {
                    ctx.warning(msg);
                }
            }
        }
        let advanced = check_segments(ctx, top, &new, reps) > 0;
        if let Some(idle) = stall.reload(advanced, limit).filter(|_| new.dynamic) {
            ctx.warning(format!(
                "{file}: no new segment in {:.1} s while the MPD is dynamic (the timeline stopped \
                 advancing)",
                idle.as_secs_f64()
            ));
        }
        let ended = !new.dynamic;
        old = new;
        if ended {
            return;
        }
    }
}

/// One representation's checking state, kept across reloads.
struct RepState {
    /// Period id and representation id.
    key: (Option<String>, String),
    /// The last checked segment's span, time and duration.
    prev: Option<(Span, u64, u64)>,
    codec_checked: bool,
    init: Option<Vec<u8>>,
    /// Start times (`t`) of the segments checked, from the first still listed on.
    done: BTreeSet<u64>,
    /// The longest segment seen, ms.
    longest_ms: i64,
}

impl RepState {
    fn new(key: (Option<String>, String)) -> RepState {
        RepState {
            key,
            prev: None,
            codec_checked: false,
            init: None,
            done: BTreeSet::new(),
            longest_ms: 0,
        }
    }
}

/// The media of one segment: its first decode time and the step to its second sample, its
/// last decode time (ms).
struct Span {
    first_ms: i64,
    step_ms: i64,
    last_ms: i64,
}

/// Checks one representation's init segment and the segments not checked before against the
/// MPD; returns how many it checked.
fn representation(ctx: &mut Ctx, top: &Loc, r: &Representation, st: &mut RepState) -> usize {
    let what = format!("representation {}", r.id);
    if st.init.is_none() {
        let Some(init_url) = &r.init else {
            ctx.warning(format!("{what}: no init segment; segments not checked"));
            return 0;
        };
        let Some(init_path) = top.resolve(init_url) else {
            ctx.warning(format!("{what}: {init_url}: not a file; not checked"));
            return 0;
        };
        match init_path.read(MAX_SEGMENT_BYTES) {
            Ok(b) => st.init = Some(b),
            Err(e) => {
                ctx.error(format!("{what}: init {init_url}: {e}"));
                return 0;
            }
        }
    }
    let Some(init) = st.init.clone() else {
        return 0;
    };
    // Segments that left the time-shift buffer are forgotten.
    if let Some(first) = r.segments.first() {
        st.done = st.done.split_off(&first.t);
    }
    let scale = Timebase::new(u32::try_from(r.timescale).unwrap_or(1)).unwrap_or(Timebase::MS);
    let mut checked = 0;
    let mut prev = st.prev.take();
    let mut codec_checked = st.codec_checked;
    for seg in &r.segments {
        if !st.done.insert(seg.t) {
            continue;
        }
        checked += 1;
        st.longest_ms = st
            .longest_ms
            .max(scale.rescale(i64::try_from(seg.d).unwrap_or(0), Timebase::MS));
        let seg_what = format!("{what}: {}", seg.url);
        let Some(p) = top.resolve(&seg.url) else {
            ctx.warning(format!("{seg_what}: not a file; not checked"));
            continue;
        };
        let mut bytes = init.clone();
        match p.read(MAX_SEGMENT_BYTES) {
            Ok(b) => bytes.extend_from_slice(&b),
            Err(e) => {
                ctx.error(format!("{seg_what}: {e}"));
                prev = None;
                continue;
            }
        }
        let Some((meta, packets)) = demux(ctx, &seg_what, bytes) else {
            prev = None;
            continue;
        };
        let Some(track) = meta.tracks.first() else {
            ctx.error(format!("{seg_what}: no track in the init segment"));
            continue;
        };
        if meta.tracks.len() > 1 {
            ctx.warning(format!(
                "{seg_what}: {} tracks in one representation (CMAF wants one)",
                meta.tracks.len()
            ));
        }
        if !codec_checked {
            codec_checked = true;
            let found = codec_string(track);
            match (&r.codecs, &found) {
                (Some(d), Some(f)) if !same_codec(d, f) => ctx.error(format!(
                    "{what}: codecs says {d}, the init segment holds {f}"
                )),
                (None, Some(f)) => ctx.warning(format!(
                    "{what}: no codecs attribute (the segments hold {f})"
                )),
                _ => {}
            }
        }
        count(ctx, &meta, &packets);
        let own: Vec<_> = packets.iter().filter(|p| p.track == track.id).collect();
        let Some(first) = own.first() else {
            ctx.error(format!("{seg_what}: no samples"));
            prev = None;
            continue;
        };
        if track.kind == TrackKind::Video && !first.keyframe {
            ctx.error(format!(
                "{seg_what}: does not start with a keyframe (startWithSAP)"
            ));
        }
        let ms = |t: i64| track.timebase.rescale(t, Timebase::MS);
        let span = Span {
            first_ms: ms(first.dts.0),
            step_ms: own.get(1).map_or(0, |p| ms(p.dts.0) - ms(first.dts.0)),
            last_ms: own.last().map_or(0, |p| ms(p.dts.0)),
        };
        // Where the timeline puts it, in ms of media time.
        let t_ms = scale.rescale(i64::try_from(seg.t).unwrap_or(i64::MAX), Timebase::MS);
        let slack = span.step_ms.max(0) + 1;
        // A track that starts after the presentation does may start late in its first
        // segment (a file's audio a few ms after its video).
        let late = if prev.is_none() && seg.number == r.segments.first().map_or(0, |s| s.number) {
            let d = scale.rescale(i64::try_from(seg.d).unwrap_or(0), Timebase::MS);
            span.first_ms >= t_ms - slack && span.first_ms < t_ms + d
        } else {
            false
        };
        if (span.first_ms - t_ms).abs() > slack && !late {
            // 23009-1 §6.3.4.2 (ISO BMFF media segments): the segment's earliest time is its
            // MPD start time; a player looking for a time would fetch the wrong segment.
            ctx.error(format!(
                "{seg_what}: the timeline starts it at {t_ms} ms, its media (tfdt) at {} ms",
                span.first_ms
            ));
        }
        if let Some((p, pt, pd)) = &prev {
            if span.first_ms <= p.last_ms {
                ctx.error(format!(
                    "{seg_what}: media starts at {} ms, not after the previous segment's last \
                     sample at {} ms (overlap)",
                    span.first_ms, p.last_ms
                ));
            } else if pt + pd == seg.t {
                let step = p.step_ms.max(1);
                let gap = span.first_ms - p.last_ms - step;
                if gap > step + 1 {
                    ctx.error(format!(
                        "{seg_what}: media jumps {gap} ms after the previous segment though the \
                         timeline follows on"
                    ));
                }
            }
        }
        prev = Some((span, seg.t, seg.d));
    }
    st.prev = prev;
    st.codec_checked = codec_checked;
    checked
}
