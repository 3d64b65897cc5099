//! A whole file, packaged: the files of the packaging's layout (init segments first, media
//! segments in order as the packets arrive, playlists at the end), as pure data. The caller
//! (`pipeline::package`) writes them into a folder; `mist serve` serves that folder.
//!
//! Segments are the file's [`file_segments`] (computed once from the index, before any
//! packet). A packet belongs to the segment holding its decode time, so packets are gathered
//! until a segment is complete: every track has either moved past its end or delivered all
//! the packets its index counts. Interleaving in real files is close to time order, so few
//! segments wait at once; [`MAX_PENDING_SEGMENTS`] bounds them whatever the file does.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::dtsc::{Meta, Packet, Ticks, TrackId};

use super::dash::mpd::{self, Representation, Timing};
use super::dash::MPD;
use super::hls::playlist::{self, Rates};
use super::hls::{self, INIT, PLAYLIST};
use super::segment::{
    file_segments, main_track, ms_of, segment_at, track_span_ms, Segment, Window,
};
use super::segmenter::{self, Segmenter};
use super::variant::Variant;
use super::{Options, PackageError, Packaging};

/// Most segments gathered at once before the oldest is written anyway.
pub const MAX_PENDING_SEGMENTS: usize = 8;

/// A packaging whose segments and manifests its own module writes (HDS, Smooth): the
/// packager gathers each segment's packets and hands them over in order.
pub trait Writer: Send {
    /// The files of one segment, for every variant. `last` is true for the file's last
    /// segment; `packets` are in decode order; `next` holds, per track, the decode time of
    /// its packet after the segment, when there is one.
    fn segment(
        &mut self,
        seg: &Segment,
        last: bool,
        packets: &[Packet],
        next: &[(TrackId, Ticks)],
    ) -> Result<Vec<OutFile>, PackageError>;
    /// The files written at the end (manifests, bootstraps).
    fn finish(&mut self) -> Result<Vec<OutFile>, PackageError>;
}

/// One file of a packaged stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutFile {
    /// Path inside the package folder, `/`-separated (`1_2/0_2000.ts`).
    pub path: String,
    /// Its bytes.
    pub data: Bytes,
}

struct VariantOut {
    variant: Variant,
    segmenter: Box<dyn Segmenter>,
    /// Bytes of each segment written so far.
    sizes: Vec<u64>,
    /// Where the variant's own tracks end (ms): its last segment ends there, not where the
    /// stream's longest track does.
    end_ms: Option<i64>,
}

impl VariantOut {
    /// Segment `seg` as this variant lists it (the last one ends with the variant's tracks).
    fn own(&self, seg: &Segment, last: bool) -> Segment {
        let mut s = *seg;
        if last {
            if let Some(e) = self.end_ms {
                s.end_ms = e.max(s.start_ms + 1);
            }
        }
        s
    }
}

/// A packet waiting for its segment to complete, with its decode time in ms and whether it
/// is of the main track (which goes first among packets of the same ms).
struct Waiting {
    ms: i64,
    not_main: bool,
    packet: Packet,
}

/// Packages one file, packet by packet.
pub struct Packager {
    packaging: Packaging,
    meta: Meta,
    segments: Vec<Segment>,
    variants: Vec<VariantOut>,
    pending: BTreeMap<usize, Vec<Waiting>>,
    next_emit: usize,
    main: TrackId,
    received: Vec<u64>,
    totals: Vec<u64>,
    last_ms: Vec<i64>,
    /// The packaging's own writer (HDS, Smooth); HLS variants are written here.
    writer: Option<Box<dyn Writer>>,
}

impl Packager {
    /// A packager for a file of tracks `meta` (in the packaging's framing, with `meta.index`
    /// built) whose packets come shifted by `shift` ticks per track. Returns the files known
    /// before any packet (fMP4 init segments).
    pub fn new(
        packaging: Packaging,
        opts: Options,
        meta: &Meta,
        shift: &[i64],
    ) -> Result<(Packager, Vec<OutFile>), PackageError> {
        Self::named(packaging, opts, meta, shift, "")
    }

    /// [`new`](Self::new) for a stream called `name` (manifests that name their
    /// presentation, HDS's `<id>` and `MovieIdentifier`, say it).
    pub fn named(
        packaging: Packaging,
        opts: Options,
        meta: &Meta,
        shift: &[i64],
        name: &str,
    ) -> Result<(Packager, Vec<OutFile>), PackageError> {
        let segments = file_segments(meta, shift, opts.segment_ms);
        let main = main_track(meta)
            .map(|i| meta.tracks[i].id)
            .ok_or_else(|| PackageError::Nothing("no audio or video track to package".into()))?;
        if segments.is_empty() {
            return Err(PackageError::Nothing(
                "no packets to package (the input is empty)".into(),
            ));
        }
        let writer: Option<Box<dyn Writer>> = match packaging {
            Packaging::Hds => Some(Box::new(super::hds::vod::HdsWriter::new(
                meta, shift, name,
            )?)),
            Packaging::Smooth => Some(Box::new(super::smooth::vod::SmoothWriter::new(
                meta, shift,
            )?)),
            _ => None,
        };
        let variants = if writer.is_some() {
            Vec::new()
        } else {
            hls::variants(packaging, meta)
        };
        if variants.is_empty() && writer.is_none() {
            return Err(PackageError::Nothing(format!(
                "{} cannot carry any track of this input",
                packaging.name()
            )));
        }
        let mut outs = Vec::with_capacity(variants.len());
        let mut files = Vec::new();
        for v in variants {
            let s = segmenter::new(packaging, &hls::variant_meta(meta, &v))?;
            if let Some(init) = s.init() {
                files.push(OutFile {
                    path: format!("{}/{INIT}", v.name),
                    data: init,
                });
            }
            let end_ms = v
                .tracks
                .iter()
                .filter_map(|id| {
                    let i = meta.position(*id)?;
                    track_span_ms(meta, i, shift.get(i).copied().unwrap_or(0)).map(|x| x.1)
                })
                .max();
            outs.push(VariantOut {
                variant: v,
                segmenter: s,
                sizes: Vec::new(),
                end_ms,
            });
        }
        let totals = meta
            .tracks
            .iter()
            .enumerate()
            .map(|(i, _)| {
                meta.index
                    .as_ref()
                    .and_then(|x| x.tracks.get(i))
                    .map_or(0, |t| t.parts.len() as u64)
            })
            .collect();
        let n = meta.tracks.len();
        // The master playlist is written at the end, without the index (a few bytes per
        // packet, not kept through the run): measure frame rates now.
        let mut kept = Meta {
            index: None,
            ..meta.clone()
        };
        for (i, t) in kept.tracks.iter_mut().enumerate() {
            if let crate::dtsc::Params::Video(v) = &mut t.params {
                if v.fpks == 0 {
                    v.fpks = super::variant::fpks(meta, i).unwrap_or(0);
                }
            }
        }
        Ok((
            Packager {
                packaging,
                meta: kept,
                segments,
                variants: outs,
                pending: BTreeMap::new(),
                next_emit: 0,
                main,
                received: vec![0; n],
                totals,
                last_ms: vec![i64::MIN; n],
                writer,
            },
            files,
        ))
    }

    /// The segments the file is cut into.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Takes the next packet (decode order per track, times already shifted); returns the
    /// segments it completed.
    pub fn push(&mut self, packet: Packet) -> Result<Vec<OutFile>, PackageError> {
        let Some(pos) = self.meta.position(packet.track) else {
            return Ok(Vec::new());
        };
        let ms = ms_of(packet.dts, self.meta.tracks[pos].timebase);
        self.received[pos] += 1;
        self.last_ms[pos] = self.last_ms[pos].max(ms);
        // A packet for a segment already written (a file interleaved far out of time order)
        // goes into the first one still open rather than being lost.
        let seg = segment_at(&self.segments, ms).max(self.next_emit);
        if seg < self.segments.len() {
            self.pending.entry(seg).or_default().push(Waiting {
                ms,
                not_main: packet.track != self.main,
                packet,
            });
        }
        let mut files = Vec::new();
        while self.next_emit < self.segments.len()
            && (self.complete(self.next_emit) || self.pending.len() > MAX_PENDING_SEGMENTS)
        {
            self.emit(&mut files)?;
        }
        Ok(files)
    }

    /// True when no packet of segment `j` can still come.
    fn complete(&self, j: usize) -> bool {
        let end = self.segments[j].end_ms;
        (0..self.received.len())
            .all(|t| self.received[t] >= self.totals[t] || self.last_ms[t] >= end)
    }

    /// Writes segment `next_emit` of every variant.
    fn emit(&mut self, files: &mut Vec<OutFile>) -> Result<(), PackageError> {
        let j = self.next_emit;
        self.next_emit += 1;
        let last = j + 1 == self.segments.len();
        let stream_seg = self.segments[j];
        let mut waiting = self.pending.remove(&j).unwrap_or_default();
        // Decode order across tracks, the main track's key first at equal times; a stable sort
        // keeps each track's own order.
        waiting.sort_by_key(|w| (w.ms, w.not_main));
        if let Some(w) = &mut self.writer {
            let packets: Vec<Packet> = waiting.into_iter().map(|w| w.packet).collect();
            // The next packet of every track, from the segments after this one.
            let next: Vec<(TrackId, Ticks)> = self
                .meta
                .tracks
                .iter()
                .filter_map(|t| {
                    self.pending
                        .values()
                        .flat_map(|ws| ws.iter())
                        .find(|w| w.packet.track == t.id)
                        .map(|w| (t.id, w.packet.dts))
                })
                .collect();
            files.extend(w.segment(&stream_seg, last, &packets, &next)?);
            return Ok(());
        }
        for v in &mut self.variants {
            let seg = v.own(&stream_seg, last);
            let packets: Vec<Packet> = waiting
                .iter()
                .filter(|w| v.variant.has(w.packet.track))
                .map(|w| w.packet.clone())
                .collect();
            // The next packet of each track, from the segments after this one.
            let next: Vec<(TrackId, Ticks)> = v
                .variant
                .tracks
                .iter()
                .filter_map(|id| {
                    self.pending
                        .values()
                        .flat_map(|ws| ws.iter())
                        .find(|w| w.packet.track == *id)
                        .map(|w| (*id, w.packet.dts))
                })
                .collect();
            let data = v.segmenter.segment(&seg, &packets, &next)?;
            v.sizes.push(data.len() as u64);
            files.push(OutFile {
                path: format!(
                    "{}/{}",
                    v.variant.name,
                    hls::segment_name(self.packaging, &seg)
                ),
                data,
            });
        }
        Ok(())
    }

    /// Writes what is left and the playlists.
    pub fn finish(mut self) -> Result<Vec<OutFile>, PackageError> {
        let mut files = Vec::new();
        while self.next_emit < self.segments.len() {
            self.emit(&mut files)?;
        }
        if let Some(w) = &mut self.writer {
            files.extend(w.finish()?);
            return Ok(files);
        }
        let n = self.segments.len();
        if self.packaging == Packaging::Dash {
            files.push(self.mpd());
            return Ok(files);
        }
        for v in &self.variants {
            let segments: Vec<Segment> = self
                .segments
                .iter()
                .enumerate()
                .map(|(j, s)| v.own(s, j + 1 == n))
                .collect();
            let window = Window {
                target_s: Window::fitting_target(&segments),
                segments,
                live: false,
                ended: true,
                unix_zero_ms: None,
            };
            let text = playlist::media(self.packaging, &window, &|s| {
                hls::segment_name(self.packaging, s)
            });
            files.push(OutFile {
                path: format!("{}/{PLAYLIST}", v.variant.name),
                data: Bytes::from(text),
            });
        }
        let rates = |v: &Variant| {
            self.variants
                .iter()
                .find(|o| o.variant == *v)
                .map_or_else(Rates::default, |o| {
                    let segs: Vec<Segment> = self
                        .segments
                        .iter()
                        .enumerate()
                        .map(|(j, s)| o.own(s, j + 1 == n))
                        .collect();
                    rates_of(&segs, &o.sizes)
                })
        };
        let variants: Vec<Variant> = self.variants.iter().map(|o| o.variant.clone()).collect();
        let master = playlist::master(self.packaging, &self.meta, &variants, &rates);
        files.push(OutFile {
            path: PLAYLIST.to_string(),
            data: Bytes::from(master),
        });
        Ok(files)
    }
}

impl Packager {
    /// The static MPD of the whole file (DASH).
    fn mpd(&self) -> OutFile {
        let n = self.segments.len();
        let reps: Vec<Representation> = self
            .variants
            .iter()
            .map(|o| {
                let segments: Vec<Segment> = self
                    .segments
                    .iter()
                    .enumerate()
                    .map(|(j, s)| o.own(s, j + 1 == n))
                    .collect();
                let rates = rates_of(&segments, &o.sizes);
                let fpks = o
                    .variant
                    .tracks
                    .first()
                    .and_then(|id| self.meta.track(*id))
                    .and_then(|t| t.video())
                    .map(|v| v.fpks)
                    .filter(|f| *f > 0);
                Representation {
                    variant: o.variant.clone(),
                    bandwidth: rates.peak,
                    fpks,
                    segments,
                }
            })
            .collect();
        OutFile {
            path: MPD.to_string(),
            data: Bytes::from(mpd::mpd(&self.meta, &reps, Timing::Static)),
        }
    }
}

/// Peak and average bits per second of segments of `sizes` bytes. The peak is over segments
/// of at least half a second, so a short last segment does not decide it alone.
pub fn rates_of(segments: &[Segment], sizes: &[u64]) -> Rates {
    let rate = |bytes: u64, ms: i64| bytes.saturating_mul(8000) / (ms.max(1) as u64);
    let mut peak = 0;
    let mut total_bytes = 0u64;
    let mut total_ms = 0i64;
    for (s, &b) in segments.iter().zip(sizes) {
        let d = s.duration_ms();
        total_bytes += b;
        total_ms += d;
        if d >= 500 || segments.len() == 1 {
            peak = peak.max(rate(b, d));
        }
    }
    if peak == 0 {
        peak = rate(total_bytes, total_ms);
    }
    Rates {
        peak,
        average: Some(rate(total_bytes, total_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::index::{Builder, PartInfo};
    use crate::dtsc::{Codec, Index, Timebase, Track, TrackKind};

    fn mp3(ms: i64) -> Packet {
        let mut d = vec![0u8; 384];
        d[..4].copy_from_slice(&[0xFF, 0xFB, 0x94, 0x00]);
        Packet {
            track: TrackId(1),
            dts: Ticks(ms),
            cts: 0,
            keyframe: true,
            data: Bytes::from(d),
            pos: None,
        }
    }

    #[test]
    fn an_audio_file_becomes_segments_and_playlists() {
        // 250 MP3 frames of 24 ms: 6 s. Marks every >= 1000 ms (0, 1008, 2016, ...), segments
        // from >= 1900 ms: 0, 2016, 4032 -> three segments, the last to 6000.
        let a = Track::new(TrackId(1), TrackKind::Audio, Codec::Mp3, Timebase::MS);
        let mut b = Builder::new(false, Timebase::MS);
        let packets: Vec<Packet> = (0..250).map(|i| mp3(i * 24)).collect();
        for p in &packets {
            b.push(PartInfo {
                dts: p.dts,
                cts: 0,
                size: 384,
                keyframe: true,
                pos: 0,
                unit_size: 384,
            });
        }
        let meta = Meta {
            tracks: vec![a],
            index: Some(Index {
                tracks: vec![b.finish()],
            }),
            ..Meta::default()
        };
        let (mut p, init) =
            Packager::new(Packaging::HlsTs, Options::default(), &meta, &[]).unwrap();
        assert!(init.is_empty());
        let mut files = Vec::new();
        for pk in packets {
            files.extend(p.push(pk).unwrap());
        }
        // Segments are written as soon as they are complete, the last one when every packet
        // the index counts has come.
        assert_eq!(files.len(), 3);
        files.extend(p.finish().unwrap());
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "1/0_2016.ts",
                "1/2016_4032.ts",
                "1/4032_6000.ts",
                "1/index.m3u8",
                "index.m3u8"
            ]
        );
        let media = std::str::from_utf8(&files[3].data).unwrap();
        assert!(media.contains("#EXTINF:2.016,\n0_2016.ts\n"), "{media}");
        assert!(
            media.contains("#EXTINF:1.968,\n4032_6000.ts\n#EXT-X-ENDLIST\n"),
            "{media}"
        );
        assert!(media.contains("#EXT-X-TARGETDURATION:2\n"), "{media}");
        // Every segment is whole TS packets, and the master lists the one variant.
        for f in &files[..3] {
            assert_eq!(f.data.len() % 188, 0);
        }
        let master = std::str::from_utf8(&files[4].data).unwrap();
        assert!(
            master.contains("CODECS=\"mp4a.40.34\"\n1/index.m3u8\n"),
            "{master}"
        );
    }

    #[test]
    fn rates_take_the_peak_over_real_segments() {
        let s = |a, b| Segment {
            number: 0,
            start_ms: a,
            end_ms: b,
            discontinuities: 0,
        };
        // 250 kB in 2 s = 1 Mbit/s; 500 kB in 2 s = 2 Mbit/s; a 100 ms tail of 50 kB (4 Mbit/s)
        // does not count for the peak.
        let r = rates_of(
            &[s(0, 2000), s(2000, 4000), s(4000, 4100)],
            &[250_000, 500_000, 50_000],
        );
        assert_eq!(r.peak, 2_000_000);
        assert_eq!(r.average, Some(800_000 * 8000 / 4100));
    }
}
