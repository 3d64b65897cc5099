//! A live viewer's packets into one container, as a push or recording writes them: the tracks
//! the target's selectors and container allow (one per kind, as progressive HTTP outputs
//! choose), framing adapted once per track, times rebased so the output starts at 0.
//!
//! The rebasing origin is the stream time (ms) of the keyframe the output starts at; packets
//! of other tracks from before it are left out (as `convert --start` trims), so every output
//! starts with a keyframe at time 0.

use crate::dtsc::{Meta, Packet, Timebase, TrackId, TrackKind};
use crate::formats::{Finish, FormatError, FormatSpec, MuxOptions, Muxer};
use crate::io::ByteSink;
use crate::pipeline::Adapter;
use crate::serve::http::progressive::choose_tracks;
use crate::serve::http::query::Query;
use crate::serve::hub::Entry;

/// One output container fed from hub entries.
pub struct Feed {
    spec: &'static FormatSpec,
    select: Query,
    mux_options: MuxOptions,
    adapters: Vec<(TrackId, Adapter)>,
    meta: Option<Meta>,
    /// The track whose keyframes are start (and split) points.
    main: Option<(TrackId, bool)>,
    muxer: Option<Box<dyn Muxer>>,
    origin_ms: i64,
    /// Per output track (same order as `adapters`): the origin in the track's ticks.
    origin_ticks: Vec<i64>,
    /// Packets written into the current container.
    pub packets: u64,
    /// The tracks chosen from the first announcement.
    chosen: Vec<TrackId>,
    /// A later announcement, taken when the next output begins.
    pending: Option<Meta>,
}

impl Feed {
    /// A feed writing `spec` (which must have a muxer) with the target's track selectors.
    pub fn new(spec: &'static FormatSpec, select: Query, mux_options: MuxOptions) -> Feed {
        Feed {
            spec,
            select,
            mux_options,
            adapters: Vec::new(),
            meta: None,
            main: None,
            muxer: None,
            origin_ms: 0,
            origin_ticks: Vec::new(),
            packets: 0,
            chosen: Vec::new(),
            pending: None,
        }
    }

    /// Takes the stream's tracks: the first time, chooses the output's tracks; later track
    /// changes keep the choice (a container under way cannot take new tracks), so packets of
    /// tracks not chosen are passed over. A later announcement still brings the chosen
    /// tracks' new codec configuration (a publisher announces its tracks before their
    /// sequence headers arrive): taken at once when no output is open, else by the next one.
    pub fn tracks(&mut self, meta: &Meta) -> Result<(), String> {
        if self.meta.is_some() {
            if self.is_open() {
                self.pending = Some(meta.clone());
            } else {
                self.rebuild(meta)?;
            }
            return Ok(());
        }
        let chosen: Vec<TrackId> = choose_tracks(meta, self.spec, &self.select)
            .iter()
            .map(|t| t.id)
            .collect();
        self.chosen = chosen;
        self.rebuild(meta)?;
        self.main = self
            .meta
            .as_ref()
            .and_then(|m| {
                m.tracks
                    .iter()
                    .find(|t| t.kind == TrackKind::Video)
                    .or_else(|| m.tracks.first())
            })
            .map(|t| (t.id, t.kind == TrackKind::Video));
        Ok(())
    }

    /// The output tracks and their adapters, for the chosen tracks as `meta` has them.
    fn rebuild(&mut self, meta: &Meta) -> Result<(), String> {
        let mut out = Meta::default();
        let mut adapters = Vec::new();
        for id in &self.chosen {
            let Some(t) = meta.track(*id) else { continue };
            let Some(want) = (self.spec.mux_caps.framing)(&t.codec) else {
                continue;
            };
            let a = Adapter::new(t, want).map_err(|e| e.to_string())?;
            out.tracks.push(a.track(t));
            adapters.push((t.id, a));
        }
        if out.tracks.is_empty() {
            return Err(format!(
                "{} cannot carry any track of this stream",
                self.spec.name
            ));
        }
        self.adapters = adapters;
        self.meta = Some(out);
        Ok(())
    }

    /// Whether the tracks are known.
    pub fn has_tracks(&self) -> bool {
        self.meta.is_some()
    }

    /// The ids of the tracks written.
    pub fn track_ids(&self) -> Vec<u32> {
        self.adapters.iter().map(|(id, _)| id.0).collect()
    }

    /// Whether an output may start (or a new file begin) at this entry: a keyframe of the main
    /// video track, or any packet of the main track without video.
    pub fn is_start_point(&self, e: &Entry) -> bool {
        match self.main {
            Some((id, true)) => e.packet.track == id && e.packet.keyframe,
            Some((id, false)) => e.packet.track == id,
            None => false,
        }
    }

    /// Whether an output is under way.
    pub fn is_open(&self) -> bool {
        self.muxer.is_some()
    }

    /// The stream time (ms) the current output starts at.
    pub fn origin_ms(&self) -> i64 {
        self.origin_ms
    }

    /// Starts a new output at stream time `origin_ms` (a start point's time). `live` tells
    /// the muxer whether the output is a live stream (no duration, no index) or a file.
    pub fn begin(
        &mut self,
        origin_ms: i64,
        live: bool,
        out: &mut dyn ByteSink,
    ) -> Result<(), FormatError> {
        let new = self.spec.muxer.ok_or_else(|| {
            FormatError::invalid(self.spec.name, 0, "this container has no writer")
        })?;
        let m = new(&self.mux_options);
        self.begin_with(m, origin_ms, live, out)
    }

    /// [`begin`](Self::begin) with a muxer of the caller's (a wire protocol's framing) that
    /// takes the same framing as the feed's container.
    pub fn begin_with(
        &mut self,
        mut m: Box<dyn Muxer>,
        origin_ms: i64,
        live: bool,
        out: &mut dyn ByteSink,
    ) -> Result<(), FormatError> {
        if let Some(p) = self.pending.take() {
            self.rebuild(&p)
                .map_err(|e| FormatError::invalid(self.spec.name, 0, e))?;
        }
        let Some(meta) = &self.meta else {
            return Err(FormatError::invalid(
                self.spec.name,
                0,
                "no tracks announced before the first packet",
            ));
        };
        let mut meta = meta.clone();
        meta.live = live;
        m.start(&meta, out)?;
        self.origin_ms = origin_ms;
        self.origin_ticks = meta
            .tracks
            .iter()
            .map(|t| Timebase::MS.rescale(origin_ms, t.timebase))
            .collect();
        self.muxer = Some(m);
        self.packets = 0;
        Ok(())
    }

    /// Writes one entry into the current output (rebased, adapted). Entries of tracks not
    /// written and entries from before the origin are passed over; returns whether it was
    /// written.
    pub fn write(&mut self, e: &Entry, out: &mut dyn ByteSink) -> Result<bool, FormatError> {
        let Some(m) = self.muxer.as_mut() else {
            return Ok(false);
        };
        if e.ms < self.origin_ms {
            return Ok(false);
        }
        let Some(i) = self
            .adapters
            .iter()
            .position(|(id, _)| *id == e.packet.track)
        else {
            return Ok(false);
        };
        let mut pkt: Packet = e.packet.clone();
        // Rounding the origin to this track's ticks may put the first packet a tick early.
        pkt.dts.0 = (pkt.dts.0 - self.origin_ticks[i]).max(0);
        let pkt = self.adapters[i].1.apply(pkt)?;
        m.write(&pkt, out)?;
        self.packets += 1;
        Ok(true)
    }

    /// Ends the current output; what the muxer hands back (patches, side files).
    pub fn finish(&mut self, out: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        match self.muxer.take() {
            Some(mut m) => m.finish(out),
            None => Ok(Finish::default()),
        }
    }

    /// Drops the current output without ending it (after a write error).
    pub fn abandon(&mut self) {
        self.muxer = None;
    }
}
