#!/usr/bin/env bash
# Regenerates the shell completion scripts in completions/ from the current CLI.
# tests/completions.rs fails when a committed copy differs from what `mist completions` prints.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin mist
bin="${CARGO_TARGET_DIR:-target}/debug/mist"
for pair in bash:mist.bash zsh:_mist fish:mist.fish elvish:mist.elv powershell:_mist.ps1; do
    shell=${pair%%:*}
    file=completions/${pair#*:}
    "$bin" completions "$shell" >"$file"
    echo "wrote $file"
done
