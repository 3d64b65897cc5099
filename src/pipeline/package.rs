//! `mist remux IN DIR/ --to hls|hls-fmp4`: the copy engine's selection, trims, framing and
//! time shift feeding [`package::vod::Packager`], whose files go into a temporary folder that
//! is renamed onto `DIR` only when everything succeeded. `mist serve` packages files on demand
//! with this same function, so what it serves is what remux writes.

use std::path::PathBuf;

use crate::formats::{self, DemuxOptions, MuxCaps};
use crate::io::atomic::AtomicDir;
use crate::package::vod::Packager;
use crate::package::{Options, PackageError, Packaging};

use super::{Job, Outcome, PipelineError, Progress, Selection, Target};

/// A packaging run: what to read, where the folder goes, and how to cut it.
#[derive(Clone, Debug)]
pub struct PackagePlan {
    /// Input path.
    pub input: PathBuf,
    /// The folder to write.
    pub output: PathBuf,
    /// Input format, when forced.
    pub from: Option<&'static formats::FormatSpec>,
    /// The packaging.
    pub packaging: Packaging,
    /// Segment options.
    pub options: Options,
    /// Tracks to keep.
    pub tracks: Selection,
    /// Start at the keyframe at or before this time.
    pub start: Option<crate::dtsc::Time>,
    /// Stop before this time.
    pub end: Option<crate::dtsc::Time>,
    /// Replace an existing output folder.
    pub force: bool,
    /// Options for the demuxer.
    pub demux: DemuxOptions,
    /// Package what is readable of a damaged input, with a warning per damaged region
    /// (`--salvage`); otherwise damage refuses the input and nothing is written.
    pub salvage: bool,
}

/// What the segment muxers of `packaging` need from the copy engine: their framing, the
/// index (segments are cut from it), and times that are never negative.
fn caps(packaging: Packaging) -> MuxCaps {
    fn ts(c: &crate::dtsc::Codec) -> Option<crate::dtsc::Framing> {
        Packaging::HlsTs.framing(c)
    }
    fn fmp4(c: &crate::dtsc::Codec) -> Option<crate::dtsc::Framing> {
        Packaging::HlsFmp4.framing(c)
    }
    fn hds(c: &crate::dtsc::Codec) -> Option<crate::dtsc::Framing> {
        Packaging::Hds.framing(c)
    }
    fn smooth(c: &crate::dtsc::Codec) -> Option<crate::dtsc::Framing> {
        Packaging::Smooth.framing(c)
    }
    MuxCaps {
        live: true,
        needs_index: true,
        // Variants and renditions choose their tracks themselves.
        one_per_kind: false,
        framing: match packaging {
            Packaging::HlsTs => ts,
            Packaging::HlsFmp4 | Packaging::Dash => fmp4,
            Packaging::Hds => hds,
            Packaging::Smooth => smooth,
        },
        negative_times: false,
    }
}

/// Packages `plan.input` into the folder `plan.output`. On failure nothing is left there.
pub fn package(plan: &PackagePlan, progress: &dyn Progress) -> Result<Outcome, PipelineError> {
    let in_name = plan.input.display().to_string();
    let out_name = plan.output.display().to_string();
    let out_err = |err| PipelineError::Output {
        path: out_name.clone(),
        err,
    };
    // The copy engine's plan; `to` only names the segment container in messages.
    let seg_format = match plan.packaging {
        Packaging::HlsTs => "ts",
        Packaging::HlsFmp4 | Packaging::Dash | Packaging::Smooth => "fmp4",
        Packaging::Hds => "flv",
    };
    let to = formats::spec_by_name(seg_format).ok_or(PipelineError::CannotWrite {
        path: out_name.clone(),
        format: seg_format,
    })?;
    let base = super::Plan {
        input: plan.input.clone(),
        output: plan.output.clone(),
        from: plan.from,
        to,
        tracks: plan.tracks.clone(),
        start: plan.start,
        end: plan.end,
        force: plan.force,
        mux: Default::default(),
        demux: plan.demux.clone(),
        salvage: plan.salvage,
    };
    let (mut demux, _, total, seekable) = super::open_both(&base, &base.mux, None)?;
    let dir = AtomicDir::create(&plan.output, plan.force).map_err(out_err)?;
    progress.begin(total);
    let result = (|| {
        let target = Target {
            name: plan.packaging.name(),
            caps: caps(plan.packaging),
        };
        let mut job = Job::prepare_for(
            &base,
            target,
            demux.as_mut(),
            &in_name,
            &out_name,
            total,
            seekable,
        )?;
        if let Some(note) = &job.note {
            progress.note(note);
        }
        demux.drop_index();
        job.ended = vec![false; job.keep.len()];
        let (mut pending, shift) = job.lookahead_shift(demux.as_mut())?;
        let pkg_err = |e: PackageError| match e {
            PackageError::Format(err) => PipelineError::Format {
                path: out_name.clone(),
                err,
            },
            PackageError::Nothing(why) => PipelineError::CannotCarry {
                path: in_name.clone(),
                why,
            },
        };
        // Manifests that name the presentation (HDS) call it by the input's file name, which
        // is also the stream name `mist serve` gives a file.
        let name = plan
            .input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (mut packager, first) =
            Packager::named(plan.packaging, plan.options, &job.meta, &shift, &name)
                .map_err(pkg_err)?;
        job.meta.index = None;
        let mut outcome = Outcome {
            tracks: job.meta.tracks.len(),
            ..Outcome::default()
        };
        let mut write = |files: Vec<crate::package::vod::OutFile>| -> Result<(), PipelineError> {
            for f in files {
                dir.write(&f.path, &f.data).map_err(out_err)?;
                outcome.bytes += f.data.len() as u64;
            }
            Ok(())
        };
        write(first)?;
        let mut last_report = 0u64;
        let mut packets = 0u64;
        loop {
            let next = match pending.pop_front() {
                Some(x) => Some(x),
                None => job.next_kept(demux.as_mut())?,
            };
            let Some((slot, mut pkt)) = next else { break };
            pkt.dts = pkt.dts + shift[slot];
            write(packager.push(pkt).map_err(pkg_err)?)?;
            packets += 1;
            job.flush_warnings(progress);
            let pos = demux.position();
            if pos.saturating_sub(last_report) >= 1 << 20 {
                progress.advance(pos);
                last_report = pos;
            }
        }
        write(packager.finish().map_err(pkg_err)?)?;
        outcome.packets = packets;
        outcome.damaged = job.damaged;
        job.flush_warnings(progress);
        job.salvage_summary(packets, progress);
        Ok(outcome)
    })();
    progress.end();
    let outcome = result?;
    dir.commit().map_err(out_err)?;
    Ok(outcome)
}
