//! One file per subcommand: args → plan → library → print. Thin.

pub mod analyse;
pub mod completions;
pub mod convert;
pub mod progress;
pub mod serve;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// A mistake in how the command was called (exit 2), found after clap's own checks.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Convert(a) => convert::run(a, "convert"),
        Command::Remux(a) => convert::run(a, "remux"),
        Command::Analyse(a) => analyse::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Completions(a) => completions::run(a),
    }
}
