#!/usr/bin/env bash
# Benchmarks mist's copy loop against the cheapest possible copies (cat, cp) and, where a
# format has one, `ffmpeg -c copy`. Prints MB/s, ratios and peak RSS per tool and appends one
# CSV line per timed run to bench/results/<date>-<host>.csv.
#
#   scripts/bench.sh                 # the DTSC benchmark (issue 3)
#   scripts/bench.sh dtsc flv ...    # several benchmarks: each NAME runs the function bench_NAME
#
# Environment: SIZE_MB (input size, default 1100, at least 1000 for the issue 3 number),
# RUNS (timed runs per tool, default 3; the best is reported), KEEP=1 keeps bench/work/.
#
# Adding a benchmark (FLV, TS, MP4 …): write `bench_NAME() { … }` below using the hooks:
#   make_input_ffmpeg FIXTURE OUT SIZE_MB    big input by looping a fixture with ffmpeg -c copy
#   warm FILE                                 read FILE once so every tool starts from the page cache
#   measure BENCH TOOL INPUT OUTPUT -- CMD…   time CMD (best of RUNS), record wall, MB/s, peak RSS
#   compare_to BENCH TOOL                     print TOOL's ratio against every other tool of BENCH
# and call `baseline BENCH INPUT` for the cat/cp rows. ffmpeg rows are e.g.
#   measure flv2flv ffmpeg "$in" "$out" -- ffmpeg -v error -y -i "$in" -map 0 -c copy "$out"
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

SIZE_MB=${SIZE_MB:-1100}
RUNS=${RUNS:-3}
KEEP=${KEEP:-0}
work=$root/bench/work
results_dir=$root/bench/results
host=$(hostname -s 2>/dev/null || hostname)
csv=$results_dir/$(date +%F)-$host.csv
target=${CARGO_TARGET_DIR:-$root/target}
mist=$target/release/mist
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | head -1)
[ -n "$dirty" ] && commit="$commit+dirty"

mkdir -p "$work" "$results_dir"
[ -f "$csv" ] || echo "date,host,commit,bench,tool,run,input_bytes,output_bytes,wall_s,mb_per_s,peak_rss_kb,load1" >"$csv"

cleanup() {
    if [ "$KEEP" != 1 ]; then
        rm -rf "$work"
    else
        echo "KEEP=1: inputs and outputs left in $work"
    fi
}
trap cleanup EXIT

# ---- hooks ----------------------------------------------------------------------------------

# Best wall time / RSS per "bench tool" (filled by measure).
declare -A BEST_WALL BEST_RSS BEST_MBS INPUT_BYTES
declare -a ORDER

# Times one command: prints "wall_seconds peak_rss_kb". Uses GNU time when present, else Python.
timed() {
    local tf
    tf=$(mktemp)
    local t0 t1
    if [ -x /usr/bin/time ]; then
        t0=$(date +%s%N)
        /usr/bin/time -f '%M' -o "$tf" "$@" >/dev/null
        t1=$(date +%s%N)
        echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", (b-a)/1e9}') $(tail -1 "$tf")"
    else
        python3 - "$@" <<'EOF'
import resource, subprocess, sys, time
t0 = time.monotonic()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
wall = time.monotonic() - t0
print(f"{wall:.4f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
EOF
    fi
    rm -f "$tf"
}

# Reads FILE once so the timed runs all start with it in the page cache.
warm() {
    cat "$1" >/dev/null
}

# measure BENCH TOOL INPUT OUTPUT -- CMD...   (OUTPUT may be /dev/null; it is removed between runs)
measure() {
    local bench=$1 tool=$2 input=$3 output=$4
    shift 4
    [ "$1" = "--" ] && shift
    local in_bytes out_bytes wall rss mbs run load
    in_bytes=$(stat -c %s "$input")
    for run in $(seq 1 "$RUNS"); do
        if [ "$output" != /dev/null ]; then rm -f "$output" "$output".*; fi
        sync
        read -r wall rss < <(timed "$@")
        out_bytes=0
        if [ "$output" != /dev/null ] && [ -f "$output" ]; then out_bytes=$(stat -c %s "$output"); fi
        mbs=$(awk -v b="$in_bytes" -v w="$wall" 'BEGIN{printf "%.1f", b/1e6/w}')
        load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo NA)
        echo "$(date -Iseconds),$host,$commit,$bench,$tool,$run,$in_bytes,$out_bytes,$wall,$mbs,$rss,$load" >>"$csv"
        printf '  %-10s %-8s run %d: %8.3f s %9.1f MB/s %8d kB peak RSS\n' "$bench" "$tool" "$run" "$wall" "$mbs" "$rss"
        local key="$bench $tool"
        if [ -z "${BEST_WALL[$key]:-}" ] || awk -v a="$wall" -v b="${BEST_WALL[$key]}" 'BEGIN{exit !(a<b)}'; then
            BEST_WALL[$key]=$wall
            BEST_MBS[$key]=$mbs
        fi
        if [ -z "${BEST_RSS[$key]:-}" ] || [ "$rss" -gt "${BEST_RSS[$key]}" ]; then
            BEST_RSS[$key]=$rss # the worst (highest) peak RSS over the runs
        fi
    done
    INPUT_BYTES[$bench]=$in_bytes
    ORDER+=("$key")
    if [ "$output" != /dev/null ]; then rm -f "$output" "$output".*; fi
}

# cat and cp of INPUT: the floor every converter is compared with.
baseline() {
    local bench=$1 input=$2
    measure "$bench" cat "$input" /dev/null -- sh -c 'cat "$1" >/dev/null' sh "$input"
    measure "$bench" cp "$input" "$work/cp.out" -- cp "$input" "$work/cp.out"
}

# Prints TOOL's best throughput against every other tool of BENCH.
compare_to() {
    local bench=$1 tool=$2 key other
    key="$bench $tool"
    for other in "${ORDER[@]}"; do
        [ "${other%% *}" = "$bench" ] || continue
        [ "$other" = "$key" ] && continue
        awk -v t="$tool" -v o="${other#* }" -v a="${BEST_WALL[$key]}" -v b="${BEST_WALL[$other]}" \
            -v ra="${BEST_RSS[$key]}" -v rb="${BEST_RSS[$other]}" \
            'BEGIN{printf "  %s takes %.2fx the time of %s (throughput %.2fx), peak RSS %.2fx\n", t, a/b, o, b/a, ra/rb}'
    done
}

# make_input_ffmpeg FIXTURE OUT SIZE_MB: loops a fixture with `ffmpeg -stream_loop -c copy` until
# OUT is about SIZE_MB (for the FLV/TS/MP4 benchmarks; timestamps keep increasing).
make_input_ffmpeg() {
    local fixture=$1 out=$2 size=$3
    command -v ffmpeg >/dev/null || { echo "bench: ffmpeg needed to make $out" >&2; exit 1; }
    ffmpeg -v error -y -stream_loop -1 -i "$fixture" -map 0 -c copy -fs "$((size * 1000000))" "$out"
}

summary() {
    echo
    echo "summary (best of $RUNS runs; RSS is the highest peak seen):"
    printf '  %-10s %-8s %10s %12s %14s\n' bench tool wall_s MB/s peak_RSS_kB
    local key
    for key in "${ORDER[@]}"; do
        printf '  %-10s %-8s %10s %12s %14s\n' "${key%% *}" "${key#* }" "${BEST_WALL[$key]}" "${BEST_MBS[$key]}" "${BEST_RSS[$key]}"
    done
    echo "results appended to ${csv#"$root"/}"
}

# ---- benchmarks ---------------------------------------------------------------------------------

# Issue 3: DTSC → DTSC copy of a file of at least 1 GB made by repeating a MistServer-written
# clip (examples/synth_dtsc.rs), against cat and cp.
bench_dtsc() {
    local big=$work/big.dtsc
    echo "dtsc: synthesizing $SIZE_MB MB from tests/fixtures/interop/vod_idx0.dtsc"
    "$target/release/examples/synth_dtsc" tests/fixtures/interop/vod_idx0.dtsc "$big" "$SIZE_MB"
    warm "$big"
    baseline dtsc "$big"
    measure dtsc mist "$big" "$work/out.dtsc" -- "$mist" convert -q "$big" "$work/out.dtsc"
    compare_to dtsc mist
}

# Issue 5: MPEG-TS → TS and → DTSC against `ffmpeg -c copy` (TS), cat and cp, and
# `mist analyse --json --detail 1` against `ffprobe -show_packets`. The input loops the
# h264_aac.ts fixture (B-frames, AAC) with ffmpeg to TS_SIZE_MB (default 300).
bench_ts() {
    local big=$work/big.ts size=${TS_SIZE_MB:-300}
    echo "ts: looping tests/fixtures/h264_aac.ts to $size MB with ffmpeg -c copy"
    make_input_ffmpeg tests/fixtures/h264_aac.ts "$big" "$size"
    warm "$big"
    baseline ts "$big"
    measure ts mist "$big" "$work/out.ts" -- "$mist" convert -q "$big" "$work/out.ts"
    measure ts ffmpeg "$big" "$work/out.ts" -- ffmpeg -v error -y -i "$big" -map 0 -c copy -f mpegts "$work/out.ts"
    compare_to ts mist
    measure ts2flv mist "$big" "$work/out.flv" -- "$mist" convert -q "$big" "$work/out.flv"
    measure ts2flv ffmpeg "$big" "$work/ff.flv" -- ffmpeg -v error -y -i "$big" -map 0 -c copy "$work/ff.flv"
    compare_to ts2flv mist
    measure ts2dtsc mist "$big" "$work/out.dtsc" -- "$mist" convert -q "$big" "$work/out.dtsc"
    measure ts2dtsc ffmpeg-nut "$big" "$work/out.nut" -- ffmpeg -v error -y -i "$big" -map 0 -c copy -f nut "$work/out.nut"
    compare_to ts2dtsc mist
    measure tsanalyse mist "$big" /dev/null -- sh -c '"$1" analyse --json --detail 1 "$2" >/dev/null' sh "$mist" "$big"
    measure tsanalyse ffprobe "$big" /dev/null -- sh -c 'ffprobe -v error -of json -show_packets "$1" >/dev/null' sh "$big"
    compare_to tsanalyse mist
}

# Issue 4: FLV. A large FLV made by ffmpeg (FLV_SECONDS of 1280x720 testsrc2 + sine at
# FLV_VIDEO_BITRATE, H.264 ultrafast + AAC; about 300 MB by default), then FLV -> FLV, FLV -> DTSC
# and DTSC -> FLV with mist against `ffmpeg -c copy` where ffmpeg has the conversion, and
# `mist analyse --json --detail 1` (tag headers only) against `ffprobe -show_packets`.
bench_flv() {
    local big=$work/big.flv secs=${FLV_SECONDS:-150} rate=${FLV_VIDEO_BITRATE:-16M}
    command -v ffmpeg >/dev/null || { echo "bench: ffmpeg needed to make $big" >&2; exit 1; }
    echo "flv: encoding ${secs}s of 720p at $rate with ffmpeg"
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=25:duration=$secs" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$secs" \
        -c:v libx264 -preset ultrafast -b:v "$rate" -maxrate "$rate" -bufsize "$rate" -g 50 \
        -c:a aac -b:a 128k "$big"
    warm "$big"
    baseline flv2flv "$big"
    measure flv2flv mist "$big" "$work/out.flv" -- "$mist" convert -q "$big" "$work/out.flv"
    measure flv2flv ffmpeg "$big" "$work/ff.flv" -- ffmpeg -v error -y -i "$big" -map 0 -c copy "$work/ff.flv"
    compare_to flv2flv mist
    measure flv2dtsc mist "$big" "$work/out.dtsc" -- "$mist" convert -q "$big" "$work/out.dtsc"
    "$mist" convert -q "$big" "$work/mid.dtsc"
    warm "$work/mid.dtsc"
    measure dtsc2flv mist "$work/mid.dtsc" "$work/back.flv" -- "$mist" convert -q "$work/mid.dtsc" "$work/back.flv"
    measure flvprobe mist "$big" /dev/null -- "$mist" analyse --json --detail 1 "$big"
    measure flvprobe ffprobe "$big" /dev/null -- ffprobe -v error -of json -show_packets "$big"
    compare_to flvprobe mist
}

# Issue 6: MP4. A large MP4 made by ffmpeg (MP4_SECONDS of 720p at MP4_VIDEO_BITRATE, B-frames),
# converted to TS and FLV, and a large TS and FLV (made from it by ffmpeg) converted to MP4, each
# against `ffmpeg -c copy` of the same conversion; MP4 -> MP4 and MP4 -> fMP4 too, and the
# `mist analyse` summary (moov only) against `ffprobe -show_packets`.
bench_mp4() {
    local big=$work/big.mp4 secs=${MP4_SECONDS:-120} rate=${MP4_VIDEO_BITRATE:-18M}
    command -v ffmpeg >/dev/null || { echo "bench: ffmpeg needed to make $big" >&2; exit 1; }
    echo "mp4: encoding ${secs}s of 720p at $rate with ffmpeg"
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=$secs" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$secs" \
        -c:v libx264 -preset ultrafast -bf 2 -b:v "$rate" -g 60 -c:a aac -b:a 128k "$big"
    ffmpeg -v error -y -i "$big" -map 0 -c copy "$work/src.ts"
    ffmpeg -v error -y -i "$big" -map 0 -c copy "$work/src.flv"
    warm "$big"
    baseline mp4 "$big"
    local pair from to ext
    for pair in mp4:mp4 mp4:ts mp4:flv ts:mp4 flv:mp4; do
        from=${pair%%:*}; to=${pair##*:}
        local in=$big
        [ "$from" = mp4 ] || in=$work/src.$from
        warm "$in"
        measure "${from}2${to}" mist "$in" "$work/out.$to" -- "$mist" convert -q --force "$in" "$work/out.$to"
        measure "${from}2${to}" ffmpeg "$in" "$work/ff.$to" -- ffmpeg -v error -y -i "$in" -map 0 -c copy "$work/ff.$to"
        if [ "$to" = mp4 ]; then
            # mist's MP4 is faststart (moov first); ffmpeg's is not unless asked, which costs
            # it a rewrite pass: the like-for-like comparison.
            measure "${from}2${to}" ffmpeg-faststart "$in" "$work/ffs.$to" -- ffmpeg -v error -y -i "$in" -map 0 -c copy -movflags +faststart "$work/ffs.$to"
        fi
        compare_to "${from}2${to}" mist
    done
    measure mp42fmp4 mist "$big" "$work/out.fmp4" -- "$mist" convert -q --force --to fmp4 "$big" "$work/out.fmp4"
    measure mp42fmp4 ffmpeg "$big" "$work/ff.fmp4" -- ffmpeg -v error -y -i "$big" -map 0 -c copy -f mp4 -movflags frag_keyframe+empty_moov+default_base_moof "$work/ff.fmp4"
    compare_to mp42fmp4 mist
    measure mp4probe mist "$big" /dev/null -- "$mist" analyse "$big"
    measure mp4probe ffprobe "$big" /dev/null -- ffprobe -v error -of json -show_packets "$big"
    compare_to mp4probe mist
}

# Issue 4: FLV -> MP3 (the audio of an FLV with MP3 sound), against ffmpeg's extraction.
bench_flvmp3() {
    local big=$work/big_mp3.flv secs=${FLV_SECONDS:-150}
    command -v ffmpeg >/dev/null || { echo "bench: ffmpeg needed to make $big" >&2; exit 1; }
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=25:duration=$secs" \
        -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=$secs" \
        -c:v libx264 -preset ultrafast -b:v 16M -g 50 -c:a libmp3lame -b:a 192k "$big"
    warm "$big"
    measure flv2mp3 mist "$big" "$work/out.mp3" -- "$mist" convert -q --force "$big" "$work/out.mp3"
    measure flv2mp3 ffmpeg "$big" "$work/ff.mp3" -- ffmpeg -v error -y -i "$big" -map 0:a -c copy "$work/ff.mp3"
    compare_to flv2mp3 mist
}

# ---- main ---------------------------------------------------------------------------------------

echo "building mist (release) into $target"
cargo build --release --quiet --bin mist --example synth_dtsc
[ -x /usr/bin/time ] || echo "note: /usr/bin/time not found (apt-get install -y time); using Python for peak RSS"

benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(dtsc)
for b in "${benches[@]}"; do
    if ! declare -F "bench_$b" >/dev/null; then
        echo "bench: no benchmark named '$b' (define bench_$b in scripts/bench.sh)" >&2
        exit 2
    fi
    echo
    echo "=== $b"
    "bench_$b"
done
summary
