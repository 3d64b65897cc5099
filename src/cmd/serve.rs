//! `mist serve`: not built yet; says so instead of pretending.

use std::process::ExitCode;

use crate::cli::ServeArgs;

/// Refuses clearly until the server exists.
pub fn run(_: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("serve is not built yet (convert and analyse work today)")
}
