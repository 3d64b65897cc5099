#!/usr/bin/env bash
# Serving benchmark: one 720p ~3 Mbit/s stream published over RTMP in real time; N RTMP
# viewers on `mist serve`, the same N RTMP viewers on nginx-rtmp (one worker process, its usual
# single-core deployment) when nginx with libnginx-mod-rtmp is installed, N HTTP-FLV viewers
# on `mist serve` (nginx-rtmp has no HTTP-FLV), and N HLS viewers on `mist serve` and on
# nginx-rtmp's HLS (served by the same nginx process's HTTP server).
#
#   MODES="rtmp flv hls" (default: all three) picks what runs.
#
#   scripts/serve_bench.sh [N ...]          (default: 100 1000 2000)
#   scripts/serve_bench.sh --table CSV      (the README table from a results file)
#
# The input is encoded once into $MIST_BENCH_DIR (default ~/.cache/mist-bench), never into the
# repository. Each run prints the load generator's report; the CSV lines go to
# bench/results/DATE-HOST-serve.csv. Runs are interleaved (mist, nginx, mist, nginx ...) so
# the machine's state hits both alike. Measure on a quiet machine and say if it was not.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--table" ]; then
    csv=${2:?--table needs a results CSV}
    echo "| server | viewers | kept up | CPU (cores) | CPU per viewer | RSS per viewer | publish→play latency (median / p95) |"
    echo "|---|---|---|---|---|---|---|"
    tail -n +2 "$csv" | awk -F, '{
        n = $3 + $4 + $5
        kind = ($3 > 0) ? "RTMP" : (($4 > 0) ? "HTTP-FLV" : "HLS")
        lat = (kind == "HLS") ? "—" : sprintf("%s / %s ms", $12, $13)
        printf "| %s | %d %s | %s / %d | %.2f | %.3f %% | %.1f KiB | %s |\n",
            $2, n, kind, $6, n, $7, $8 * 100, $11, lat
    }'
    echo
    echo "$(basename "$csv" .csv): $(tail -n +2 "$csv" | head -1 | cut -d, -f1 | cut -dT -f1), load average before each run $(tail -n +2 "$csv" | cut -d, -f14 | tr '\n' ' ' | sed 's/ $//')."
    exit 0
fi
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(100 1000 2000)
dir=${MIST_BENCH_DIR:-$HOME/.cache/mist-bench}
mkdir -p "$dir"
input=$dir/720p_3M.flv
if [ ! -s "$input" ]; then
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -t 20 \
        -c:v libx264 -preset veryfast -b:v 3M -maxrate 3M -bufsize 6M -g 60 -keyint_min 60 \
        -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 128k -f flv "$input"
fi
cargo build --release --bin mist --example serve_load </dev/null
mist=target/release/mist
load=target/release/examples/serve_load
out=bench/results/$(date +%F)-$(hostname)-serve.csv
[ -s "$out" ] || echo "date,server,rtmp_viewers,flv_viewers,hls_viewers,kept,cpu_cores,cpu_per_viewer,rss_idle_kib,rss_kib,rss_per_viewer_kib,latency_median_ms,latency_p95_ms,load_before" >"$out"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ulimit -n "$(ulimit -Hn)" || true
prewarm=${PREWARM:-55}
duration=${DURATION:-30}
modes=${MODES:-rtmp flv hls}

run_mist() {
    local nr=$1 nf=$2 nh=$3 rtmp http pid
    rtmp=$(free_port); http=$(free_port)
    # `exec` so that $! is the server itself, not a subshell (with job control on, bash forks
    # one for a redirected background command, and its CPU and RSS would be measured).
    (exec "$mist" serve "$dir" --rtmp "127.0.0.1:$rtmp" --http "127.0.0.1:$http" --api off \
        >"$dir/mist.log" 2>&1 </dev/null) &
    pid=$!
    sleep 1
    local load_before
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    echo "== mist: $nr RTMP + $nf HTTP-FLV + $nh HLS viewers (load $load_before)"
    "$load" --rtmp "127.0.0.1:$rtmp" --http "127.0.0.1:$http" --server-pid "$pid" \
        --input "$input" --rtmp-viewers "$nr" --flv-viewers "$nf" --hls-viewers "$nh" \
        --prewarm "$prewarm" --duration "$duration" </dev/null | tee "$dir/last.txt" || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    grep '^CSV,' "$dir/last.txt" | sed "s/^CSV,/$(date -Is),mist,/;s/\$/,$load_before/" >>"$out"
}

# nginx-rtmp: RTMP viewers (mode rtmp), or HLS viewers of its HLS output (mode hls), which the
# same single nginx process serves over HTTP from its fragment folder.
run_nginx() {
    local n=$1 mode=$2 rtmp http prefix pid mod load_before
    command -v nginx >/dev/null || { echo "(nginx not installed: skipping nginx-rtmp)"; return; }
    mod=$(ls /usr/lib/nginx/modules/ngx_rtmp_module.so 2>/dev/null || true)
    [ -n "$mod" ] || { echo "(libnginx-mod-rtmp not installed: skipping nginx-rtmp)"; return; }
    rtmp=$(free_port); http=$(free_port)
    prefix=$(mktemp -d)
    mkdir -p "$prefix/hls"
    cat >"$prefix/nginx.conf" <<CONF
load_module $mod;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log stderr warn;
pid $prefix/nginx.pid;
events { worker_connections 60000; }
rtmp { server { listen 127.0.0.1:$rtmp; chunk_size 4096; application live {
    live on; hls on; hls_path $prefix/hls; hls_fragment 2s; hls_playlist_length 10s; } } }
http {
    access_log off;
    server { listen 127.0.0.1:$http;
        location /hls { root $prefix; add_header Cache-Control no-cache;
            types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; } } }
}
CONF
    (exec nginx -p "$prefix" -c "$prefix/nginx.conf" >"$dir/nginx.log" 2>&1 </dev/null) &
    pid=$!
    sleep 1
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    local nr=0 nh=0 pre=5
    if [ "$mode" = hls ]; then nh=$n; pre=15; else nr=$n; fi
    echo "== nginx-rtmp: $nr RTMP + $nh HLS viewers (load $load_before)"
    "$load" --rtmp "127.0.0.1:$rtmp" --http "127.0.0.1:$http" --server-pid "$pid" \
        --input "$input" --rtmp-viewers "$nr" --hls-viewers "$nh" --hls-path /hls/bench.m3u8 \
        --prewarm "$pre" --duration "$duration" </dev/null | tee "$dir/last.txt" || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$prefix"
    grep '^CSV,' "$dir/last.txt" | sed "s/^CSV,/$(date -Is),nginx-rtmp,/;s/\$/,$load_before/" >>"$out"
}

has() { case " $modes " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
for n in "${counts[@]}"; do
    if has rtmp; then run_mist "$n" 0 0; run_nginx "$n" rtmp; fi
    if has flv; then run_mist 0 "$n" 0; fi
    if has hls; then run_mist 0 0 "$n"; run_nginx "$n" hls; fi
done
echo "results: $out"
