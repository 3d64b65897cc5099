//! `mist completions SHELL`: prints a completion script (copies live in `completions/`).

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

/// Writes the script for the chosen shell to stdout.
pub fn run(a: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "mist", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
