//! Progressive HTTP outputs (`/STREAM.flv`, `.ts`, `.mp4`, `.mp3`): one container stream per
//! request, written by the format table's muxers.
//!
//! - Live: a hub viewer feeds the muxer (track choice and framing as `convert` does them),
//!   the body yields the muxer's pieces as hyper asks for them, so a viewer that reads slowly
//!   is simply polled less and falls behind in the hub, where the skip rules apply.
//! - Files: the pipeline's own conversion runs on a thread into a bounded channel, so the
//!   bytes are exactly what `mist convert` writes to that container. `?rate=` paces it
//!   through the pipeline's per-packet hook ([`pipeline::pace`]); without it a file goes as
//!   fast as the client reads (MistServer's default for on-demand streams). Progressive MP4
//!   of a file is not written here but by [`super::vod_mp4`], which serves byte ranges.
//!
//! These file outputs are sent chunked, without `Content-Length`: their length is known
//! only once the conversion has run, and running it twice to learn it is not cheap.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::StatusCode;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::query::Query;
use super::sink::{ChannelSink, PieceSink};
use crate::dtsc::{Meta, Timebase, TrackId, TrackKind};
use crate::formats::{FormatSpec, Muxer};
use crate::pipeline::{self, Adapter, PipelineError, Plan, Selection};
use crate::serve::hub::{Viewer, ViewerEvent};

/// Chunks queued between a file's conversion thread and the body.
pub const VOD_QUEUE: usize = 4;
/// Longest single sleep of a paced conversion thread, so it notices a viewer that left.
const PACE_SLICE: std::time::Duration = std::time::Duration::from_millis(200);

/// Why a file output failed, and the status it earns while no byte has been sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// 415 when the output cannot carry the stream's tracks, 500 otherwise.
    pub status: StatusCode,
    /// One line.
    pub message: String,
}

impl Failure {
    /// The failure a pipeline error stands for.
    pub fn of(e: &PipelineError) -> Failure {
        let status = match e {
            PipelineError::CannotCarry { .. }
            | PipelineError::NoTracks(_)
            | PipelineError::CannotWrite { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure {
            status,
            message: e.to_string(),
        }
    }

    /// A 500 with `message`.
    pub fn internal(message: impl Into<String>) -> Failure {
        Failure {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

/// What a file's output thread sends: pieces of the body in order, or why it stopped.
pub type Chunk = Result<Vec<Bytes>, Failure>;

/// Sleeps out a pacer's delay for a packet of time `t` in slices, giving up early when the
/// viewer has gone (`gone()`): the next write then fails and ends the conversion.
pub fn pace_wait(pacer: &mut pipeline::pace::Pacer, t: crate::dtsc::Time, gone: &dyn Fn() -> bool) {
    let mut left = pacer.delay(t, std::time::Instant::now());
    while !left.is_zero() && !gone() {
        let step = left.min(PACE_SLICE);
        std::thread::sleep(step);
        left -= step;
    }
}

/// The body of a live progressive response.
pub struct LiveBody {
    viewer: Viewer,
    spec: &'static FormatSpec,
    query: Query,
    muxer: Box<dyn Muxer>,
    adapters: Vec<(TrackId, Adapter)>,
    started: bool,
    out: PieceSink,
    /// The sink's last batch, being handed out. Its allocation goes when it is used up: a
    /// queue kept across batches would keep the size of the largest (a viewer's first
    /// GOP) for the viewer's life.
    pending: std::vec::IntoIter<Bytes>,
    done: bool,
}

impl LiveBody {
    /// A body writing `spec`'s container from `viewer`.
    pub fn new(viewer: Viewer, spec: &'static FormatSpec, query: Query) -> Option<LiveBody> {
        let muxer = (spec.muxer?)(&Default::default());
        Some(LiveBody {
            viewer,
            spec,
            query,
            muxer,
            adapters: Vec::new(),
            started: false,
            out: PieceSink::default(),
            pending: Vec::new().into_iter(),
            done: false,
        })
    }

    fn start(&mut self, meta: &Meta) -> io::Result<()> {
        if self.started {
            // Tracks that appear later are not added to a container already under way.
            return Ok(());
        }
        let tracks = choose_tracks(meta, self.spec, &self.query);
        let mut out_meta = Meta {
            live: true,
            ..Meta::default()
        };
        for t in tracks {
            let Some(want) = (self.spec.mux_caps.framing)(&t.codec) else {
                continue;
            };
            let a = Adapter::new(t, want).map_err(io::Error::other)?;
            out_meta.tracks.push(a.track(t));
            self.adapters.push((t.id, a));
        }
        if out_meta.tracks.is_empty() {
            return Err(io::Error::other(format!(
                "{} cannot carry any track of this stream",
                self.spec.name
            )));
        }
        self.muxer
            .start(&out_meta, &mut self.out)
            .map_err(io::Error::other)?;
        self.started = true;
        Ok(())
    }

    fn step(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.viewer.poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(ViewerEvent::Tracks(m)) => Poll::Ready(self.start(&m)),
            Poll::Ready(ViewerEvent::Packets(batch)) => {
                for e in batch {
                    if self.query.stop_ms.is_some_and(|s| e.ms >= s) {
                        self.done = true;
                        self.muxer.finish(&mut self.out).map_err(io::Error::other)?;
                        break;
                    }
                    let Some((_, a)) = self
                        .adapters
                        .iter_mut()
                        .find(|(id, _)| *id == e.packet.track)
                    else {
                        continue;
                    };
                    let pkt = a.apply(e.packet.clone()).map_err(io::Error::other)?;
                    self.muxer
                        .write(&pkt, &mut self.out)
                        .map_err(io::Error::other)?;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(ViewerEvent::End) => {
                self.done = true;
                if self.started {
                    self.muxer.finish(&mut self.out).map_err(io::Error::other)?;
                }
                Poll::Ready(Ok(()))
            }
        }
    }
}

/// The tracks a progressive output sends: the selectors' choice, and of each kind only the
/// first track the container can carry (a player plays one video and one audio track).
pub fn choose_tracks<'m>(
    meta: &'m Meta,
    spec: &FormatSpec,
    query: &Query,
) -> Vec<&'m crate::dtsc::Track> {
    let mut seen: Vec<TrackKind> = Vec::new();
    meta.tracks
        .iter()
        .filter(|t| query.keeps(t) && (spec.mux_caps.framing)(&t.codec).is_some())
        .filter(|t| {
            if seen.contains(&t.kind) {
                false
            } else {
                seen.push(t.kind);
                true
            }
        })
        .collect()
}

impl Body for LiveBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(b) = this.pending.next() {
                this.viewer.count_down(b.len() as u64);
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.step(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Ok(())) => this.pending = this.out.take().into_iter(),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Starts converting file `path` to `spec` with the query's track choice and time window;
/// the first message says whether it started (`Err` with one line if not).
pub fn convert_file(
    path: PathBuf,
    spec: &'static FormatSpec,
    query: &Query,
) -> mpsc::Receiver<Chunk> {
    let (tx, rx) = mpsc::channel(VOD_QUEUE);
    let plan = file_plan(path, spec, query);
    let mut pacer = query
        .rate
        .map(|r| pipeline::pace::Pacer::new(r, query.lead()));
    let spawned = std::thread::Builder::new()
        .name("mist-http-vod".into())
        .spawn(move || {
            let mut sink = ChannelSink::new(tx.clone());
            let gone = || tx.is_closed();
            let mut each = |t| {
                if let Some(p) = pacer.as_mut() {
                    pace_wait(p, t, &gone);
                }
            };
            let r = pipeline::convert_into_with(&plan, &mut sink, &mut each).and_then(|_| {
                sink.flush().map_err(|err| pipeline::PipelineError::Output {
                    path: plan.output.display().to_string(),
                    err,
                })
            });
            if let Err(e) = r {
                let _ = tx.blocking_send(Err(Failure::of(&e)));
            }
        });
    if let Err(e) = spawned {
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Err(Failure::internal(format!(
            "cannot start a conversion: {e}"
        ))));
        return rx;
    }
    rx
}

/// The conversion plan of file `path` to `spec` for this query: its track selectors as one
/// explicit `--tracks` list, `start`/`stop` as `--start`/`--end`.
pub fn file_plan(path: PathBuf, spec: &'static FormatSpec, query: &Query) -> Plan {
    let mut tracks: Vec<String> = Vec::new();
    let mut selection = Selection::default();
    if query.video.is_some() || query.audio.is_some() {
        if let Ok(meta) = crate::pipeline::open(&path).map(|d| d.meta().clone()) {
            tracks = choose_tracks(&meta, spec, query)
                .iter()
                .map(|t| t.id.0.to_string())
                .collect();
        }
        // Nothing chosen: a selection that keeps nothing, so the answer is "no tracks".
        selection = Selection::parse(&tracks.join(",")).unwrap_or_default();
    }
    Plan {
        input: path,
        output: PathBuf::from(format!("HTTP {} output", spec.name)),
        from: None,
        to: spec,
        tracks: selection,
        start: query
            .start_ms
            .map(|ms| crate::dtsc::Time::new(crate::dtsc::Ticks(ms), Timebase::MS)),
        end: query
            .stop_ms
            .map(|ms| crate::dtsc::Time::new(crate::dtsc::Ticks(ms), Timebase::MS)),
        force: true,
        mux: Default::default(),
        demux: Default::default(),
        // A server plays what is readable of a damaged file (an interrupted recording), as
        // MistServer and players do; `convert` refuses unless asked.
        salvage: true,
    }
}

/// The body of a file's progressive response.
pub struct FileBody {
    rx: mpsc::Receiver<Chunk>,
    pending: VecDeque<Bytes>,
    stats: Option<Arc<crate::serve::hub::ClientGuard>>,
}

impl FileBody {
    /// A body that yields `first`, then what the conversion sends.
    pub fn new(
        first: Vec<Bytes>,
        rx: mpsc::Receiver<Chunk>,
        stats: Option<Arc<crate::serve::hub::ClientGuard>>,
    ) -> FileBody {
        FileBody {
            rx,
            pending: first.into(),
            stats,
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                if let Some(s) = &self.stats {
                    s.count_down(b.len() as u64);
                }
                return Poll::Ready(Some(Ok(Frame::data(b))));
            }
            match self.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Ok(pieces))) => self.pending.extend(pieces),
                // Headers are gone already: all that is left is to cut the response short.
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Some(Err(io::Error::other(e.message))))
                }
            }
        }
    }
}
