#!/usr/bin/env bash
# The benchmark: mist against ffmpeg -c copy, ffprobe, cat and cp on one realistic 1080p input.
# The harness is scripts/bench.py (see its header for what it measures and how); this wrapper
# keeps the old name working. `scripts/bench.sh --help` lists the options.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "bench: python3 is needed" >&2; exit 1; }
exec python3 scripts/bench.py "$@"
