//! The server's recent log lines, for the API's `log` answer: a small ring filled by a
//! `tracing` layer, in MistServer's shape (`[unix_time, "KIND", "message"]`).
//!
//! The ring is process-wide because the `tracing` subscriber is: `mist serve` installs
//! [`layer`] next to its stderr writer; without it (library use, tests) the ring stays empty.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

/// Lines kept (MistServer keeps a short list too; the API is no log archive).
pub const LOG_LINES: usize = 100;
/// Longest message kept, in bytes.
pub const MAX_LINE: usize = 1024;

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Unix time in seconds.
    pub time: u64,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub kind: &'static str,
    /// The message with its fields (`peer=1.2.3.4:5 connection closed: ...`).
    pub message: String,
}

/// The ring of recent lines.
#[derive(Debug)]
pub struct LogRing {
    lines: Mutex<VecDeque<LogLine>>,
    count: AtomicU64,
}

/// The process's ring.
pub static RING: LogRing = LogRing {
    lines: Mutex::new(VecDeque::new()),
    count: AtomicU64::new(0),
};

impl LogRing {
    /// Adds a line, forgetting the oldest past [`LOG_LINES`].
    pub fn push(&self, kind: &'static str, mut message: String) {
        if message.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("...");
        }
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() >= LOG_LINES {
            lines.pop_front();
        }
        lines.push_back(LogLine {
            time,
            kind,
            message,
        });
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The lines kept, oldest first.
    pub fn lines(&self) -> Vec<LogLine> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().cloned().collect()
    }

    /// Forgets every line (the API's `clearstatlogs`).
    pub fn clear(&self) {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Lines logged since the process started (kept or not).
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// A `tracing` layer that copies events into [`RING`]; give it a level filter.
pub fn layer() -> RingLayer {
    RingLayer
}

/// See [`layer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RingLayer;

impl<S: Subscriber> tracing_subscriber::Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // Access lines (one per session) would push everything else out of a short ring.
        if event.metadata().target() == "access" {
            return;
        }
        let kind = match *event.metadata().level() {
            Level::ERROR => "ERROR",
            Level::WARN => "WARN",
            Level::INFO => "INFO",
            Level::DEBUG => "DEBUG",
            Level::TRACE => "TRACE",
        };
        let mut v = Line::default();
        event.record(&mut v);
        let message = if v.fields.is_empty() {
            v.message
        } else if v.message.is_empty() {
            v.fields
        } else {
            format!("{} {}", v.fields, v.message)
        };
        RING.push(kind, message);
    }
}

/// Gathers an event's message and fields into one line.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.field(field, format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }
}

impl Line {
    fn field(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if self.fields.len() > MAX_LINE {
            return;
        }
        if !self.fields.is_empty() {
            self.fields.push(' ');
        }
        let _ = write!(self.fields, "{}={}", field.name(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_land_in_the_ring_with_their_fields() {
        let subscriber = tracing_subscriber::registry().with(layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(peer = "1.2.3.4:5", "connection closed: {}", "bad chunk");
            tracing::info!(target: "access", "not kept");
        });
        let last = RING.lines().pop().unwrap();
        assert_eq!(last.kind, "WARN");
        assert_eq!(last.message, "peer=1.2.3.4:5 connection closed: bad chunk");
    }

    #[test]
    fn the_ring_is_bounded_and_long_lines_are_cut() {
        let ring = LogRing {
            lines: Mutex::new(VecDeque::new()),
            count: AtomicU64::new(0),
        };
        for i in 0..LOG_LINES + 5 {
            ring.push("INFO", format!("line {i}"));
        }
        let lines = ring.lines();
        assert_eq!(lines.len(), LOG_LINES);
        assert_eq!(lines[0].message, "line 5");
        assert_eq!(ring.count(), (LOG_LINES + 5) as u64);
        ring.push("INFO", "é".repeat(MAX_LINE));
        let last = ring.lines().pop().unwrap();
        assert!(last.message.len() <= MAX_LINE + 3 && last.message.ends_with("..."));
    }
}
