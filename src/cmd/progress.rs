//! The progress bar: shown on a terminal, hidden when stderr is piped or with `-q`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mist::pipeline::Progress;

/// An indicatif bar over input bytes.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    /// A bar that draws only when stderr is a terminal and `quiet` is off.
    pub fn for_terminal(quiet: bool) -> Bar {
        let bar = ProgressBar::hidden();
        if !quiet && std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Bar { bar }
    }
}

impl Progress for Bar {
    fn begin(&self, total: Option<u64>) {
        if let Some(t) = total {
            self.bar.set_length(t);
            self.bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        }
    }
    fn advance(&self, done: u64) {
        self.bar.set_position(done);
    }
    fn end(&self) {
        self.bar.finish_and_clear();
    }
    fn warn(&self, line: &str) {
        // Warnings are shown even with -q: they say what was not written as it was read.
        self.bar.suspend(|| eprintln!("mist: warning: {line}"));
    }
}
