//! The shell completion scripts committed in `completions/` are what the current binary prints.

mod util;

use std::path::Path;

/// (shell argument, committed file), as scripts/completions.sh writes them.
const SHELLS: &[(&str, &str)] = &[
    ("bash", "mist.bash"),
    ("zsh", "_mist"),
    ("fish", "mist.fish"),
    ("elvish", "mist.elv"),
    ("powershell", "_mist.ps1"),
];

/// Oracle: the real binary's `mist completions SHELL` output (clap_complete) at test time; the
/// committed copy must equal it byte for byte.
#[test]
fn committed_completions_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let mut stale = Vec::new();
    for (shell, file) in SHELLS {
        let now = util::mist_ok(&["completions", shell]);
        let path = dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == now => {}
            Ok(_) => stale.push(format!("completions/{file} is stale")),
            Err(e) => stale.push(format!("completions/{file} is missing ({e})")),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nThe CLI changed: run scripts/completions.sh and commit completions/.",
        stale.join("\n")
    );
}
