//! A file packaged as HDS: fragments as the packager completes its segments, then the
//! bootstraps (`ID.abst`) and the manifest (with each bootstrap inline).

use bytes::Bytes;

use crate::dtsc::{Meta, Packet, Ticks, Timebase, TrackId, TrackKind};
use crate::package::segment::{track_span_ms, Segment};
use crate::package::span::Span;
use crate::package::variant::{fpks, resolution, Variant};
use crate::package::vod::{rates_of, OutFile, Writer};
use crate::package::PackageError;

use super::bootstrap::{bootstrap, Window};
use super::fragment::{self, Input};
use super::manifest::{self, Bootstrap, Media};
use super::{bootstrap_name, fragment_name, fragment_number, variants, MANIFEST};

struct Out {
    variant: Variant,
    meta: Meta,
    end_ms: Option<i64>,
    segments: Vec<Segment>,
    sizes: Vec<u64>,
    span: Span,
}

/// Writes a file's HDS presentation.
pub struct HdsWriter {
    name: String,
    meta: Meta,
    outs: Vec<Out>,
}

impl HdsWriter {
    /// A writer for a file of tracks `meta` (FLV framing, index built) whose packets come
    /// shifted by `shift`, presented as `name`.
    pub fn new(meta: &Meta, shift: &[i64], name: &str) -> Result<HdsWriter, PackageError> {
        let vs = variants(meta);
        if vs.is_empty() {
            return Err(PackageError::Nothing(
                "hds cannot carry any track of this input (it takes H.264, AAC and MP3)".into(),
            ));
        }
        // Frame rates are measured now, while the index is there.
        let mut kept = Meta {
            index: None,
            ..meta.clone()
        };
        for (i, t) in kept.tracks.iter_mut().enumerate() {
            if let crate::dtsc::Params::Video(v) = &mut t.params {
                if v.fpks == 0 {
                    v.fpks = fpks(meta, i).unwrap_or(0);
                }
            }
        }
        let outs = vs
            .into_iter()
            .map(|v| {
                let end_ms = v
                    .tracks
                    .iter()
                    .filter_map(|id| {
                        let i = meta.position(*id)?;
                        track_span_ms(meta, i, shift.get(i).copied().unwrap_or(0)).map(|x| x.1)
                    })
                    .max();
                Out {
                    meta: crate::package::hls::variant_meta(&kept, &v),
                    variant: v,
                    end_ms,
                    segments: Vec::new(),
                    sizes: Vec::new(),
                    span: Span::default(),
                }
            })
            .collect();
        Ok(HdsWriter {
            name: name.to_string(),
            meta: kept,
            outs,
        })
    }
}

impl Writer for HdsWriter {
    fn segment(
        &mut self,
        seg: &Segment,
        last: bool,
        packets: &[Packet],
        next: &[(TrackId, Ticks)],
    ) -> Result<Vec<OutFile>, PackageError> {
        let mut files = Vec::with_capacity(self.outs.len());
        for o in &mut self.outs {
            let mut s = *seg;
            if last {
                if let Some(e) = o.end_ms {
                    s.end_ms = e.max(s.start_ms + 1);
                }
            }
            let mine: Vec<Packet> = packets
                .iter()
                .filter(|p| o.variant.has(p.track))
                .cloned()
                .collect();
            o.span.add(&o.meta.tracks, &mine);
            let n = fragment_number(s.number);
            let data = fragment::write(&Input {
                tracks: &o.meta.tracks,
                fragment: n,
                packets: &mine,
                next,
                bootstrap: None,
            })?;
            o.segments.push(s);
            o.sizes.push(data.len() as u64);
            files.push(OutFile {
                path: fragment_name(&o.variant.name, n),
                data,
            });
        }
        Ok(files)
    }

    fn finish(&mut self) -> Result<Vec<OutFile>, PackageError> {
        let mut files = Vec::new();
        let mut media = Vec::new();
        for o in &self.outs {
            let abst = bootstrap(
                &Window {
                    segments: &o.segments,
                    live: false,
                    ended: true,
                    version: 1,
                },
                &self.name,
            )
            .to_bytes();
            files.push(OutFile {
                path: bootstrap_name(&o.variant.name),
                data: abst.clone(),
            });
            let duration = presentation_ms(&o.span);
            let video = o
                .variant
                .tracks
                .iter()
                .filter_map(|id| self.meta.track(*id))
                .find(|t| t.kind == TrackKind::Video);
            media.push(Media {
                bitrate_kbps: rates_of(&o.segments, &o.sizes).peak.div_ceil(1000),
                size: video.and_then(resolution),
                metadata: manifest::metadata(&self.meta, &o.variant, duration),
                bootstrap: Bootstrap::Inline(abst.to_vec()),
                variant: o.variant.clone(),
            });
        }
        let duration = self
            .outs
            .iter()
            .filter_map(|o| presentation_ms(&o.span))
            .max();
        files.push(OutFile {
            path: MANIFEST.to_string(),
            data: Bytes::from(manifest::manifest(&self.name, false, duration, &media)),
        });
        Ok(files)
    }
}

/// From the first presentation time to the end of the last frame presented (ms).
fn presentation_ms(span: &Span) -> Option<i64> {
    span.bounds(Timebase::MS).map(|(a, b)| b - a)
}
