//! A viewer's cursor: into a live stream's buffer, or over a file's reader thread. Outputs
//! (RTMP play, HTTP progressive, segmenters) read both the same way: the tracks first, then
//! batches of packets, then the end.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::entry::Entry;
use super::live::{Found, LiveStream, MAX_BATCH};
use super::stats::{ClientGuard, Stats};
use crate::dtsc::Meta;
use crate::serve::input::file::{self, VodMsg};

/// How a viewer wants to be served.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ViewOptions {
    /// Start at the keyframe at or before this stream time (ms); live: inside the DVR window.
    pub start_ms: Option<i64>,
    /// Files only: deliver at this multiple of real time (`None`: as fast as it is read).
    pub rate: Option<f64>,
    /// Files only, with a rate: how far ahead of real time delivery may run, in ms.
    pub lead_ms: i64,
}

/// What a viewer gets next.
#[derive(Debug)]
pub enum ViewerEvent {
    /// The tracks: first, and again whenever they change.
    Tracks(Arc<Meta>),
    /// Packets in decode order, interleaved across tracks.
    Packets(Vec<Arc<Entry>>),
    /// The stream is over.
    End,
}

enum Inner {
    Live {
        stream: Arc<LiveStream>,
        id: u64,
        next: Option<u64>,
    },
    Vod {
        path: PathBuf,
        rx: Option<mpsc::Receiver<VodMsg>>,
        start_ms: Option<i64>,
        held: VecDeque<Arc<Entry>>,
        clock: Option<(Instant, i64)>,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
        ended: bool,
    },
}

/// One viewer of one stream.
pub struct Viewer {
    name: String,
    inner: Inner,
    seen: Option<Arc<Meta>>,
    opts: ViewOptions,
    paused: bool,
    guard: ClientGuard,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("stream", &self.name)
            .finish()
    }
}

impl Viewer {
    pub(super) fn live(
        name: String,
        stream: Arc<LiveStream>,
        opts: ViewOptions,
        guard: ClientGuard,
        stats: Arc<Stats>,
    ) -> Viewer {
        stream.counters.views.fetch_add(1, Ordering::Relaxed);
        let id = stream.cursor_id();
        let next = opts.start_ms.and_then(|ms| stream.start_seq(Some(ms)));
        Viewer {
            name,
            inner: Inner::Live { stream, id, next },
            seen: None,
            opts,
            paused: false,
            guard,
            stats,
        }
    }

    pub(super) fn file(
        name: String,
        path: PathBuf,
        opts: ViewOptions,
        guard: ClientGuard,
        stats: Arc<Stats>,
    ) -> Viewer {
        Viewer {
            name,
            inner: Inner::Vod {
                path,
                rx: None,
                start_ms: opts.start_ms,
                held: VecDeque::new(),
                clock: None,
                sleep: None,
                ended: false,
            },
            seen: None,
            opts,
            paused: false,
            guard,
            stats,
        }
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.name
    }

    /// True for a live stream.
    pub fn is_live(&self) -> bool {
        matches!(self.inner, Inner::Live { .. })
    }

    /// The tracks last announced (`None` before the first [`ViewerEvent::Tracks`]).
    pub fn meta(&self) -> Option<Arc<Meta>> {
        self.seen.clone()
    }

    /// Counts bytes sent to the viewer.
    pub fn count_down(&self, n: u64) {
        self.guard.count_down(n);
    }

    /// Counts bytes received from the viewer.
    pub fn count_up(&self, n: u64) {
        self.guard.count_up(n);
    }

    /// Records that the viewer is being disconnected for not reading.
    pub fn count_drop(&self) {
        self.stats.drops.fetch_add(1, Ordering::Relaxed);
        if let Inner::Live { stream, .. } = &self.inner {
            stream.counters.drops.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Pauses or resumes delivery.
    pub fn pause(&mut self, paused: bool) {
        self.paused = paused;
        if let Inner::Vod { clock, .. } = &mut self.inner {
            // Real-time pacing restarts from wherever delivery resumes.
            *clock = None;
        }
    }

    /// Continues from the keyframe at or before `ms`.
    pub fn seek(&mut self, ms: i64) {
        match &mut self.inner {
            Inner::Live { stream, next, .. } => {
                if let Some(seq) = stream.start_seq(Some(ms)) {
                    *next = Some(seq);
                }
            }
            Inner::Vod {
                rx,
                start_ms,
                held,
                clock,
                sleep,
                ended,
                ..
            } => {
                *rx = None;
                *start_ms = Some(ms);
                held.clear();
                *clock = None;
                *sleep = None;
                *ended = false;
            }
        }
    }

    /// The next event.
    pub async fn next(&mut self) -> ViewerEvent {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next event, for hand-written futures and bodies. While paused it stays pending.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<ViewerEvent> {
        let r = self.poll_event(cx);
        if let Poll::Ready(ViewerEvent::Packets(batch)) = &r {
            if let Some(last) = batch.last() {
                self.guard.set_position(last.ms);
            }
        }
        r
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<ViewerEvent> {
        if self.paused {
            return Poll::Pending;
        }
        match &mut self.inner {
            Inner::Live { stream, id, next } => {
                let before = stream.counters.skips.load(Ordering::Relaxed);
                let r = stream.poll_read(cx, *id, next, &self.seen, MAX_BATCH);
                if stream.counters.skips.load(Ordering::Relaxed) != before {
                    self.stats.skips.fetch_add(1, Ordering::Relaxed);
                }
                match r {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Found::End) => Poll::Ready(ViewerEvent::End),
                    Poll::Ready(Found::Packets(p)) => Poll::Ready(ViewerEvent::Packets(p)),
                    Poll::Ready(Found::Tracks(m)) => {
                        self.seen = Some(m.clone());
                        Poll::Ready(ViewerEvent::Tracks(m))
                    }
                }
            }
            Inner::Vod {
                path,
                rx,
                start_ms,
                held,
                clock,
                sleep,
                ended,
            } => loop {
                if let Some(front) = held.front() {
                    let Some(rate) = self.opts.rate.filter(|r| *r > 0.0) else {
                        return Poll::Ready(ViewerEvent::Packets(held.drain(..).collect()));
                    };
                    let (t0, ms0) = *clock.get_or_insert((Instant::now(), front.ms));
                    let due = |e: &Entry| {
                        let ahead = ((e.ms - ms0 - self.opts.lead_ms).max(0) as f64) / rate;
                        t0 + Duration::from_secs_f64(ahead / 1000.0)
                    };
                    let now = Instant::now();
                    let n = held.iter().take_while(|e| due(e) <= now).count();
                    if n > 0 {
                        *sleep = None;
                        return Poll::Ready(ViewerEvent::Packets(held.drain(..n).collect()));
                    }
                    let when = due(front);
                    let s = sleep.get_or_insert_with(|| {
                        Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                            when,
                        )))
                    });
                    s.as_mut().reset(tokio::time::Instant::from_std(when));
                    match s.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(()) => continue,
                    }
                }
                if *ended {
                    return Poll::Ready(ViewerEvent::End);
                }
                // The reader thread starts at the first poll (and again after a seek).
                let rx = rx.get_or_insert_with(|| file::spawn(path.clone(), *start_ms));
                match rx.poll_recv(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) | Poll::Ready(Some(VodMsg::End)) => *ended = true,
                    Poll::Ready(Some(VodMsg::Failed(why))) => {
                        tracing::warn!(stream = %self.name, "{why}");
                        *ended = true;
                    }
                    Poll::Ready(Some(VodMsg::Meta(m))) => {
                        // A seek restarts the reader, which announces the same tracks again.
                        if self.seen.as_ref().is_some_and(|s| **s == *m) {
                            continue;
                        }
                        self.seen = Some(m.clone());
                        return Poll::Ready(ViewerEvent::Tracks(m));
                    }
                    Poll::Ready(Some(VodMsg::Packets(p))) => held.extend(p),
                }
            },
        }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        if let Inner::Live { stream, id, .. } = &self.inner {
            stream.forget(*id);
        }
    }
}
