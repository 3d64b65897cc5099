//! A file packaged as Smooth Streaming: a fragment per track and segment as the packager
//! completes them, then the manifest listing each track's fragments exactly as written.

use bytes::Bytes;

use crate::dtsc::{Meta, Packet, Ticks, TrackId};
use crate::package::segment::Segment;
use crate::package::span::Span;
use crate::package::vod::{OutFile, Writer};
use crate::package::PackageError;

use super::boxes::FragmentTime;
use super::fragment::{self, Input};
use super::manifest::{self, StreamInfo};
use super::{fragment_path, index_bitrate, streams, Stream, MANIFEST};

struct Out {
    stream: Stream,
    bitrate: u64,
    /// Where the track's last packet ends (its own timebase, shifted).
    end: Option<Ticks>,
    chunks: Vec<FragmentTime>,
}

/// Writes a file's Smooth Streaming presentation.
pub struct SmoothWriter {
    meta: Meta,
    outs: Vec<Out>,
    span: Span,
}

impl SmoothWriter {
    /// A writer for a file of tracks `meta` (canonical framing, index built) whose packets
    /// come shifted by `shift`.
    pub fn new(meta: &Meta, shift: &[i64]) -> Result<SmoothWriter, PackageError> {
        let ss = streams(meta);
        if ss.is_empty() {
            return Err(PackageError::Nothing(
                "smooth cannot carry any track of this input (it takes H.264 and AAC)".into(),
            ));
        }
        let outs = ss
            .into_iter()
            .filter_map(|s| {
                let i = meta.position(s.track)?;
                let ti = meta.index.as_ref()?.tracks.get(i)?;
                let last = ti.parts.last().map_or(0, |p| i64::from(p.duration));
                let end = (!ti.parts.is_empty())
                    .then(|| Ticks(ti.last.0 + last + shift.get(i).copied().unwrap_or(0)));
                Some(Out {
                    bitrate: index_bitrate(meta, i),
                    stream: s,
                    end,
                    chunks: Vec::new(),
                })
            })
            .collect();
        Ok(SmoothWriter {
            meta: Meta {
                index: None,
                ..meta.clone()
            },
            outs,
            span: Span::default(),
        })
    }
}

impl Writer for SmoothWriter {
    fn segment(
        &mut self,
        seg: &Segment,
        _last: bool,
        packets: &[Packet],
        next: &[(TrackId, Ticks)],
    ) -> Result<Vec<OutFile>, PackageError> {
        let mut files = Vec::new();
        for o in &mut self.outs {
            let Some(track) = self.meta.track(o.stream.track) else {
                continue;
            };
            let mine: Vec<Packet> = packets
                .iter()
                .filter(|p| p.track == o.stream.track)
                .cloned()
                .collect();
            if mine.is_empty() {
                continue;
            }
            self.span.add(std::slice::from_ref(track), &mine);
            let end = next
                .iter()
                .find(|(id, _)| *id == o.stream.track)
                .map(|(_, t)| *t)
                .or(o.end);
            let w = fragment::write(&Input {
                track,
                sequence: u32::try_from(seg.number + 1).unwrap_or(u32::MAX),
                packets: &mine,
                end,
                lookahead: None,
            })?;
            o.chunks.push(w.time);
            files.push(OutFile {
                path: fragment_path(o.bitrate, &o.stream.name, w.time.time),
                data: w.data,
            });
        }
        Ok(files)
    }

    fn finish(&mut self) -> Result<Vec<OutFile>, PackageError> {
        // Duration: the presentation's span (what ffprobe reports for the file).
        let (start, end) = self.span.bounds(super::timebase()).unwrap_or((0, 0));
        let duration = u64::try_from(end - start).unwrap_or(0);
        let infos: Vec<StreamInfo> = self
            .outs
            .iter()
            .filter(|o| !o.chunks.is_empty())
            .filter_map(|o| {
                Some(StreamInfo {
                    stream: &o.stream,
                    track: self.meta.track(o.stream.track)?,
                    bitrate: o.bitrate,
                    chunks: &o.chunks,
                })
            })
            .collect();
        Ok(vec![OutFile {
            path: MANIFEST.to_string(),
            data: Bytes::from(manifest::manifest(duration, None, &infos)),
        }])
    }
}
