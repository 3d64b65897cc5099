#!/usr/bin/env python3
"""Benchmarks mist against ffmpeg/ffprobe, cat and cp on one realistic input.

The input is encoded once (H.264 1080p at about 18 Mbit/s with B-frames, AAC 128 kbit/s) and
copied by ffmpeg into MP4 (faststart), MPEG-TS and FLV, so every container holds the same
packets. It is cached outside the repository ($MIST_BENCH_CACHE, else $XDG_CACHE_HOME/mist-bench,
else ~/.cache/mist-bench) and never committed.

Every conversion is timed against its like-for-like rival: `ffmpeg -c copy` to the same output
format (for MP4 outputs, ffmpeg both without and with `-movflags +faststart`, since mist always
writes faststart), and `cat` and `cp` of the same input. `mist analyse` is timed against
`ffprobe -show_packets` (its default writer). A second, separately labelled TS row repeats the
old small-packet case (the 320x240 TS fixture looped to the same size), where per-packet costs
dominate. Rounds are interleaved (every command once per round, the order rotating), the
page cache is warm, and the report gives medians of wall time and the largest peak RSS.

    scripts/bench.sh                  # full run: 150 s input, 5 rounds; writes bench/results/
    scripts/bench.sh --quick          # 10 s input, 1 round, nothing written (checks the script)
    scripts/bench.sh --prepare        # only encode the inputs (minutes; cached for later runs)
    scripts/bench.sh --table FILE     # print the README table from a results file
    scripts/bench.sh --readme FILE    # put that table into README.md between the bench markers

Results go to bench/results/<date>-<host>.md (machine, load, table) and .csv (every run).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def cache_dir() -> Path:
    if os.environ.get("MIST_BENCH_CACHE"):
        return Path(os.environ["MIST_BENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mist-bench"


def sh(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def ffmpeg(*args):
    sh("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args)


def make_inputs(cache: Path, seconds: int, rate: str) -> dict:
    """The encode and its copies; reused when already in the cache."""
    tag = f"1080p-{rate}-{seconds}s"
    src = cache / f"src-{tag}.mp4"
    files = {
        "mp4": src,
        "ts": cache / f"src-{tag}.ts",
        "flv": cache / f"src-{tag}.flv",
        "dtsc": cache / f"src-{tag}.dtsc",
    }
    cache.mkdir(parents=True, exist_ok=True)
    if not src.exists():
        print(f"encoding {seconds} s of 1080p at {rate} (once; cached in {cache})", flush=True)
        tmp = src.with_suffix(".part.mp4")
        # Film grain-like noise keeps the encoder at its target rate, as camera footage does;
        # a plain test pattern would undershoot to a few Mbit/s.
        ffmpeg(
            "-f", "lavfi", "-i",
            f"testsrc2=size=1920x1080:rate=25:duration={seconds},noise=alls=12:allf=t",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "50",
            "-b:v", rate, "-maxrate", rate, "-bufsize", rate, "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", "-ac", "2",
            "-movflags", "+faststart", str(tmp),
        )
        tmp.rename(src)
    for kind in ("ts", "flv"):
        if not files[kind].exists():
            tmp = files[kind].with_name(files[kind].stem + ".part." + kind)
            ffmpeg("-i", str(src), "-map", "0", "-c", "copy", str(tmp))
            tmp.rename(files[kind])
    return files


def make_small_ts(cache: Path, size_mb: int) -> Path:
    """The small-packet case: the 320x240, 270 kbit/s TS fixture looped to about size_mb."""
    out = cache / f"small-packets-{size_mb}MB.ts"
    if not out.exists():
        tmp = out.with_suffix(".part.ts")
        ffmpeg(
            "-stream_loop", "-1", "-i", str(ROOT / "tests/fixtures/h264_aac.ts"),
            "-map", "0", "-c", "copy", "-fs", str(size_mb * 1_000_000), str(tmp),
        )
        tmp.rename(out)
    return out


def timed(argv):
    """Runs argv; returns (wall seconds, peak RSS in kB) of that process alone.

    The peak RSS comes from GNU time, not from this process's wait4: a child forked from
    Python inherits Python's resident size as its starting high-water mark (about 17 MB),
    which would hide the few MB that cat, cp and mist use. GNU time is about 1.5 MB itself.
    """
    with tempfile.NamedTemporaryFile() as rss, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv],
                           stdout=subprocess.DEVNULL, stderr=err)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            err.seek(0)
            why = err.read().decode(errors="replace").strip()
            sys.exit(f"bench: {' '.join(map(str, argv))} failed ({p.returncode}): {why}")
        peak = int(Path(rss.name).read_text().split()[-1])
    return wall, peak


def plan(mist: Path, files: dict, small: Path, out: Path):
    """Every measured command: (group, row, tool, input, argv, output file or None)."""
    cmds = []

    def add(group, row, tool, src, argv, target=None):
        cmds.append((group, row, tool, src, [str(a) for a in argv], target))

    ext = {"mp4": "mp4", "ts": "ts", "flv": "flv", "fmp4": "mp4", "dtsc": "dtsc"}
    pairs = [
        ("ts", "ts"), ("ts", "flv"), ("ts", "mp4"),
        ("flv", "flv"), ("flv", "ts"), ("flv", "mp4"),
        ("mp4", "mp4"), ("mp4", "ts"), ("mp4", "flv"), ("mp4", "fmp4"),
    ]
    for kind in ("ts", "flv", "mp4"):
        src = files[kind]
        add("baseline", kind, "cat", src, ["cat", src])
        add("baseline", kind, "cp", src, ["cp", src, out / f"cp.{kind}"], out / f"cp.{kind}")
    for a, b in pairs:
        src = files[a]
        row = f"{a} → {b}"
        o = out / f"mist.{ext[b]}"
        to = ["--to", "fmp4"] if b == "fmp4" else []
        add("convert", row, "mist", src, [mist, "convert", "-q", "--force", src, o, *to], o)
        f = out / f"ffmpeg.{ext[b]}"
        fmt = {
            "fmp4": ["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof"],
            "ts": ["-f", "mpegts"],
            "flv": ["-f", "flv"],
            "mp4": ["-f", "mp4"],
        }[b]
        add("convert", row, "ffmpeg", src,
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", src, "-map", "0", "-c", "copy",
             *fmt, f], f)
        if b == "mp4":
            add("convert", row, "ffmpeg +faststart", src,
                ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", src, "-map", "0", "-c",
                 "copy", "-f", "mp4", "-movflags", "+faststart", f], f)
    # DTSC: no rival writes it; mist against cp.
    add("convert", "mp4 → dtsc", "mist", files["mp4"],
        [mist, "convert", "-q", "--force", files["mp4"], out / "mist.dtsc"], out / "mist.dtsc")
    for kind in ("ts", "flv", "mp4"):
        src = files[kind]
        add("analyse", kind, "mist summary", src, [mist, "analyse", src])
        add("analyse", kind, "mist --json --detail 1", src,
            [mist, "analyse", "--json", "--detail", "1", src])
        add("analyse", kind, "mist --validate", src, [mist, "analyse", "--validate", src])
        add("analyse", kind, "ffprobe -show_packets", src,
            ["ffprobe", "-v", "error", "-show_packets", src])
    # The small-packet TS, labelled as such.
    add("small", "ts → ts", "cat", small, ["cat", small])
    add("small", "ts → ts", "cp", small, ["cp", small, out / "cp-small.ts"], out / "cp-small.ts")
    add("small", "ts → ts", "mist", small,
        [mist, "convert", "-q", "--force", small, out / "mist-small.ts"], out / "mist-small.ts")
    add("small", "ts → ts", "ffmpeg", small,
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", small, "-map", "0", "-c", "copy",
         "-f", "mpegts", out / "ffmpeg-small.ts"], out / "ffmpeg-small.ts")
    add("small", "analyse", "mist summary", small, [mist, "analyse", small])
    add("small", "analyse", "ffprobe -show_packets", small,
        ["ffprobe", "-v", "error", "-show_packets", small])
    return cmds


def machine(mist: Path) -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024} MB"
    except OSError:
        pass

    def version(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "missing"

    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "ffmpeg": version("ffmpeg", "-version"),
        "mist": version(str(mist), "--version"),
    }


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "unknown"


def run(args):
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    print(f"building mist (release) into {target}", flush=True)
    sh("cargo", "build", "--release", "--quiet", "--bin", "mist", cwd=ROOT)
    mist = target / "release" / "mist"
    for tool in ("ffmpeg", "ffprobe", "cat", "cp", "/usr/bin/time"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is needed (Debian: apt-get install ffmpeg coreutils time)")
    cache = cache_dir()
    files = make_inputs(cache, args.seconds, args.rate)
    sh(str(mist), "convert", "-q", "--force", str(files["mp4"]), str(files["dtsc"]))
    size_mb = max(1, files["ts"].stat().st_size // 1_000_000)
    small = make_small_ts(cache, size_mb)
    out = cache / "out"
    out.mkdir(exist_ok=True)
    cmds = plan(mist, files, small, out)
    if args.only:
        cmds = [c for c in cmds if re.search(args.only, f"{c[0]} {c[1]} {c[2]}")]
    for f in {c[3] for c in cmds}:
        sh("cat", str(f), stdout=subprocess.DEVNULL)  # warm the page cache
    load_before = loadavg()
    samples = {}  # (group, row, tool) -> list of (wall, rss)
    rows = []
    started = datetime.datetime.now(datetime.timezone.utc)
    for r in range(args.rounds):
        # Interleaved: every command once per round; the order rotates so no command always
        # follows the same one.
        k = (r * 7) % len(cmds)
        order = cmds[k:] + cmds[:k]
        for group, row, tool, src, argv, target_file in order:
            if target_file is not None and Path(target_file).exists():
                Path(target_file).unlink()
            wall, rss = timed(argv)
            # Outputs are about the size of the input: keep at most one on the disk.
            if target_file is not None:
                for f in Path(target_file).parent.glob(Path(target_file).name + "*"):
                    f.unlink()
            samples.setdefault((group, row, tool), []).append((wall, rss))
            rows.append({
                "round": r + 1, "group": group, "row": row, "tool": tool,
                "input": str(src), "input_bytes": Path(src).stat().st_size,
                "wall_s": round(wall, 4), "peak_rss_kb": rss, "load1": loadavg().split()[0],
            })
            print(f"  round {r + 1}  {group:8} {row:12} {tool:24} {wall:7.3f} s {rss:8d} kB",
                  flush=True)
    load_after = loadavg()
    summary = []
    for (group, row, tool), v in samples.items():
        walls = [w for w, _ in v]
        src_bytes = next(x["input_bytes"] for x in rows
                         if (x["group"], x["row"], x["tool"]) == (group, row, tool))
        med = statistics.median(walls)
        summary.append({
            "group": group, "row": row, "tool": tool, "median_s": round(med, 4),
            "min_s": round(min(walls), 4), "max_s": round(max(walls), 4),
            "mb_per_s": round(src_bytes / 1e6 / med, 1),
            "peak_rss_kb": max(r for _, r in v), "runs": len(v), "input_bytes": src_bytes,
        })
    result = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(mist),
        "load_before": load_before,
        "load_after": load_after,
        "rounds": args.rounds,
        "input": {
            "seconds": args.seconds, "video": f"H.264 1920x1080 25 fps, {args.rate}, B-frames",
            "audio": "AAC LC 48 kHz stereo 128 kbit/s",
            "sizes": {k: v.stat().st_size for k, v in files.items()},
            "small_packets": small.stat().st_size,
        },
        "note": args.note,
        "summary": summary,
        "runs": rows,
    }
    for f in out.iterdir():
        f.unlink()
    text = report(result)
    print()
    print(text)
    if args.quick:
        print("(--quick: nothing written)")
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"{started.date()}-{socket.gethostname()}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{stem}.md").write_text(text)
    print(f"wrote bench/results/{stem}.json and .md")


def med(summary, group, row, tool):
    for s in summary:
        if (s["group"], s["row"], s["tool"]) == (group, row, tool):
            return s
    return None


def fmt_ratio(x):
    return f"{x:.2f}×" if x is not None else "—"


def table(result) -> str:
    """The README table: conversions, then analyse, then the small-packet row."""
    s = result["summary"]
    mb = lambda kind: result["input"]["sizes"][kind] / 1e6  # noqa: E731
    lines = [
        "| conversion | mist | ffmpeg -c copy | mist vs ffmpeg | mist vs cp (time) "
        "| peak RSS mist / ffmpeg |",
        "|---|---|---|---|---|---|",
    ]
    for row in sorted({x["row"] for x in s if x["group"] == "convert"},
                      key=lambda r: (["ts", "flv", "mp4"].index(r.split(" ")[0]), r)):
        m = med(s, "convert", row, "mist")
        f = med(s, "convert", row, "ffmpeg")
        fs = med(s, "convert", row, "ffmpeg +faststart")
        cp = med(s, "baseline", row.split(" ")[0], "cp")
        if m is None:
            continue
        ff = "—"
        speed = "—"
        if f:
            ff = f"{f['mb_per_s']:.0f} MB/s"
            speed = fmt_ratio(f["median_s"] / m["median_s"])
            if fs:
                ff += f" ({fs['mb_per_s']:.0f} with +faststart)"
                speed += f" ({fmt_ratio(fs['median_s'] / m['median_s'])})"
        vs_cp = fmt_ratio(m["median_s"] / cp["median_s"]) if cp else "—"
        rss = f"{m['peak_rss_kb'] // 1024} / {f['peak_rss_kb'] // 1024} MB" if f else \
            f"{m['peak_rss_kb'] // 1024} MB"
        lines.append(f"| {row} | {m['mb_per_s']:.0f} MB/s | {ff} | {speed} | {vs_cp} | {rss} |")
    lines.append("")
    lines.append("| analyse | ffprobe -show_packets | mist summary | mist --json --detail 1 "
                 "| mist --validate |")
    lines.append("|---|---|---|---|---|")
    for kind in ("ts", "flv", "mp4"):
        p = med(s, "analyse", kind, "ffprobe -show_packets")
        if p is None:
            continue
        cells = []
        for tool in ("mist summary", "mist --json --detail 1", "mist --validate"):
            m = med(s, "analyse", kind, tool)
            cells.append(f"{m['median_s']:.2f} s ({fmt_ratio(p['median_s'] / m['median_s'])})"
                         if m else "—")
        lines.append(f"| {kind} ({mb(kind):.0f} MB) | {p['median_s']:.2f} s | "
                     + " | ".join(cells) + " |")
    sm = med(s, "small", "ts → ts", "mist")
    sf = med(s, "small", "ts → ts", "ffmpeg")
    sc = med(s, "small", "ts → ts", "cp")
    sa = med(s, "small", "analyse", "mist summary")
    sp = med(s, "small", "analyse", "ffprobe -show_packets")
    if sm and sf and sc:
        lines.append("")
        lines.append(
            f"Small-packet TS (the 320×240, 270 kbit/s fixture looped to "
            f"{result['input']['small_packets'] / 1e6:.0f} MB; per-packet costs dominate): "
            f"ts → ts mist {sm['mb_per_s']:.0f} MB/s, ffmpeg {sf['mb_per_s']:.0f} MB/s "
            f"({fmt_ratio(sf['median_s'] / sm['median_s'])}), "
            f"{fmt_ratio(sm['median_s'] / sc['median_s'])} the time of cp"
            + (f"; analyse {fmt_ratio(sp['median_s'] / sa['median_s'])} ffprobe."
               if sa and sp else "."))
    mach = result["machine"]
    lines.append("")
    lines.append(
        f"Measured {result['date'][:10]} on {mach['cpu']}, {mach['cores']} cores, "
        f"{mach['memory']}, Linux {mach['kernel']}, {mach['ffmpeg']}; input "
        f"{result['input']['seconds']} s of {result['input']['video']}, "
        f"{result['input']['audio']} ({mb('ts'):.0f} MB as TS); {result['rounds']} interleaved "
        f"rounds, medians, warm page cache; load average {result['load_before']} before, "
        f"{result['load_after']} after."
        + (f" {result['note']}" if result.get("note") else ""))
    return "\n".join(lines) + "\n"


def report(result) -> str:
    mach = result["machine"]
    head = [
        f"# Benchmark {result['date']}",
        "",
        f"- machine: {mach['host']}, {mach['cpu']}, {mach['cores']} cores, {mach['memory']}, "
        f"Linux {mach['kernel']}",
        f"- tools: {mach['mist']}; {mach['ffmpeg']}",
        f"- load average (1/5/15 min): {result['load_before']} before, "
        f"{result['load_after']} after",
        f"- rounds: {result['rounds']}, interleaved; medians of wall time; peak RSS is the "
        f"largest seen",
    ]
    if result.get("note"):
        head.append(f"- note: {result['note']}")
    head += ["", table(result), "## Every command (median, min, max)", "",
             "| group | row | tool | median s | min s | max s | MB/s | peak RSS kB |",
             "|---|---|---|---|---|---|---|---|"]
    for x in result["summary"]:
        head.append(f"| {x['group']} | {x['row']} | {x['tool']} | {x['median_s']} | "
                    f"{x['min_s']} | {x['max_s']} | {x['mb_per_s']} | {x['peak_rss_kb']} |")
    return "\n".join(head) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=150, help="input duration (default 150)")
    ap.add_argument("--rate", default="18M", help="video bitrate (default 18M)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--only", help="regex over 'group row tool' to run a subset")
    ap.add_argument("--note", default="", help="a sentence for the results (machine sharing…)")
    ap.add_argument("--quick", action="store_true", help="10 s input, 1 round, write nothing")
    ap.add_argument("--prepare", action="store_true",
                    help="only encode the inputs into the cache (slow: do it ahead of a run)")
    ap.add_argument("--table", metavar="RESULT_JSON", help="print the README table")
    ap.add_argument("--readme", metavar="RESULT_JSON", help="put the table into README.md")
    args = ap.parse_args()
    if args.table or args.readme:
        result = json.loads(Path(args.table or args.readme).read_text())
        t = table(result)
        if args.table:
            print(t, end="")
            return
        readme = ROOT / "README.md"
        text = readme.read_text()
        a, b = text.index(BEGIN), text.index(END)
        readme.write_text(text[: a + len(BEGIN)] + "\n" + t + text[b:])
        print("README.md table updated")
        return
    if args.quick:
        args.seconds, args.rounds = 10, 1
    if args.prepare:
        files = make_inputs(cache_dir(), args.seconds, args.rate)
        size_mb = max(1, files["ts"].stat().st_size // 1_000_000)
        make_small_ts(cache_dir(), size_mb)
        for k, f in files.items():
            if f.exists():
                print(f"{k}: {f} ({f.stat().st_size / 1e6:.0f} MB)")
        return
    run(args)


if __name__ == "__main__":
    main()
