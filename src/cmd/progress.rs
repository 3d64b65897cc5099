//! The progress bar: shown on a terminal, hidden when stderr is piped or with `-q`.
//!
//! A file input shows MB done of the total, the mean throughput and an ETA; stdin (no total)
//! shows MB done and throughput only. A run that succeeds on a terminal ends with one line
//! of totals, as ffmpeg's final stats line does. Notes (tracks left out by default) print
//! whether or not stderr is a terminal, unless `-q`.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use mist::pipeline::{Outcome, Progress};

/// Before this much of the input is done, or this much time has passed, an ETA would be a
/// guess from a few reads (page cache, headers); it shows as `--:--` instead.
const ETA_MIN_FRACTION: f64 = 0.02;
const ETA_MIN_ELAPSED: Duration = Duration::from_millis(500);

/// An indicatif bar over input bytes.
pub struct Bar {
    bar: ProgressBar,
    quiet: bool,
    terminal: bool,
}

impl Bar {
    /// A bar that draws only when stderr is a terminal and `quiet` is off.
    pub fn for_terminal(quiet: bool) -> Bar {
        let terminal = std::io::stderr().is_terminal();
        let bar = ProgressBar::hidden();
        if !quiet && terminal {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Bar {
            bar,
            quiet,
            terminal,
        }
    }

    /// On a terminal, one line of totals after a successful run.
    pub fn summary(&self, o: &Outcome) {
        if self.quiet || !self.terminal {
            return;
        }
        let secs = self.bar.elapsed().as_secs_f64();
        let line = summary_line(o, secs);
        self.bar.suspend(|| eprintln!("{line}"));
    }
}

/// `done: 8437 packets, 335.2 MB written in 0.82 s (409.1 MB/s, 183x realtime)`.
pub fn summary_line(o: &Outcome, secs: f64) -> String {
    let mut s = format!(
        "done: {} {}, {} written in {:.2} s",
        o.packets,
        plural(o.packets, "packet", "packets"),
        mb(o.bytes),
        secs
    );
    if secs > 0.0 {
        let _ = write!(s, " ({:.1} MB/s", o.input_bytes as f64 / 1e6 / secs);
        if o.media_ms > 0 {
            let _ = write!(s, ", {:.0}x realtime", o.media_ms as f64 / 1000.0 / secs);
        }
        s.push(')');
    }
    s
}

/// `1 packet`, `2 packets`.
pub fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Bytes as MB with one decimal (`335.2 MB`); small counts in kB or bytes.
pub fn mb(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else if bytes >= 1000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}

/// Time left from the mean rate so far, or `--:--` while too little is known.
pub fn eta_text(elapsed: Duration, done: u64, total: u64) -> String {
    if done == 0 || total == 0 {
        return "--:--".into();
    }
    let fraction = done as f64 / total as f64;
    if fraction < ETA_MIN_FRACTION && elapsed < ETA_MIN_ELAPSED {
        return "--:--".into();
    }
    let left = elapsed.as_secs_f64() * (total.saturating_sub(done)) as f64 / done as f64;
    let left = left.round() as u64;
    if left >= 3600 {
        format!("{}:{:02}:{:02}", left / 3600, left / 60 % 60, left % 60)
    } else {
        format!("{}:{:02}", left / 60, left % 60)
    }
}

/// Mean throughput since the start, in MB/s.
fn rate_text(elapsed: Duration, done: u64) -> String {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return "-- MB/s".into();
    }
    format!("{:.1} MB/s", done as f64 / 1e6 / secs)
}

fn style(total: Option<u64>) -> ProgressStyle {
    let template = match total {
        Some(_) => "{bar:30} {done} / {total} MB  {rate}  ETA {eta_left}",
        None => "{spinner} {done} MB  {rate}",
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
        .tick_chars("|/-\\ ")
        .with_key("done", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}", s.pos() as f64 / 1e6);
        })
        .with_key("total", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}", s.len().unwrap_or(0) as f64 / 1e6);
        })
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&rate_text(s.elapsed(), s.pos()));
        })
        .with_key(
            "eta_left",
            |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&eta_text(s.elapsed(), s.pos(), s.len().unwrap_or(0)));
            },
        )
}

impl Progress for Bar {
    fn begin(&self, total: Option<u64>) {
        // The style first: setting a length draws, and the default style would show a frame.
        self.bar.set_style(style(total));
        if let Some(t) = total {
            self.bar.set_length(t);
        }
        self.bar.tick();
    }
    fn advance(&self, done: u64) {
        self.bar.set_position(done);
    }
    fn end(&self) {
        self.bar.finish_and_clear();
    }
    fn note(&self, line: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("mist: note: {line}"));
        }
    }
    fn warn(&self, line: &str) {
        // Warnings are shown even with -q: they say what was not written as it was read.
        self.bar.suspend(|| eprintln!("mist: warning: {line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_waits_for_enough_data_then_follows_the_mean_rate() {
        let ms = Duration::from_millis;
        // First read of a 335 MB file: no guess.
        assert_eq!(eta_text(ms(10), 1 << 20, 335_000_000), "--:--");
        assert_eq!(eta_text(ms(0), 0, 335_000_000), "--:--");
        // 10 % in 1 s: 9 s left.
        assert_eq!(eta_text(ms(1000), 33_500_000, 335_000_000), "0:09");
        // Slow start but half a second gone: 1 % in 0.6 s -> 59.4 s left.
        assert_eq!(eta_text(ms(600), 3_350_000, 335_000_000), "0:59");
        assert_eq!(eta_text(ms(5000), 1, 1000), "1:23:15");
    }

    #[test]
    fn summary_line_counts_and_speeds() {
        let o = Outcome {
            packets: 8437,
            bytes: 335_200_000,
            tracks: 2,
            input_bytes: 335_500_000,
            media_ms: 150_000,
            ..Outcome::default()
        };
        assert_eq!(
            summary_line(&o, 0.82),
            "done: 8437 packets, 335.2 MB written in 0.82 s (409.1 MB/s, 183x realtime)"
        );
        let one = Outcome {
            packets: 1,
            bytes: 900,
            ..Outcome::default()
        };
        assert_eq!(
            summary_line(&one, 0.0),
            "done: 1 packet, 900 bytes written in 0.00 s"
        );
    }
}
