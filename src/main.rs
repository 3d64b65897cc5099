//! The `mist` binary: parse the command line, run a command, map the outcome to an exit code
//! (0 success, 1 bad input or failed work, 2 usage).

mod cli;
mod cmd;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// On SIGINT or SIGTERM: remove every temp output still being written, then exit with
/// 128 + the signal's number (130, 143), as shells report a process ended by it. A thread
/// waits for the signals (signal-hook's iterator), so the cleanup runs as ordinary code, even
/// while the main thread is blocked reading a slow pipe.
fn handle_signals() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return; // Without the handler the default action ends the process: no worse than before.
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            mist::io::atomic::remove_pending();
            std::process::exit(128 + sig);
        }
    });
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Commands that write temporary outputs clean up on a signal; `serve` shuts down
    // gracefully on its own.
    if matches!(
        cli.command,
        cli::Command::Convert(_) | cli::Command::Remux(_)
    ) {
        handle_signals();
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter);
    // The server keeps its recent log lines (info and up) for the API's `log` answer.
    let ring = matches!(cli.command, cli::Command::Serve(_)).then(|| {
        mist::serve::log::layer().with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    tracing_subscriber::registry()
        .with(stderr)
        .with(ring)
        .init();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`mist analyse x --detail 3 | head`) is how readers say "enough".
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let usage = e.downcast_ref::<cmd::UsageError>().is_some();
            let msg = format!("{e:#}");
            let msg = msg.trim_start_matches(": ");
            eprintln!("mist: {msg}");
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}
