//! Writes a big DTSC file for benchmarks by repeating a small one: every packet of IN is
//! written again and again, its times shifted by the clip length each round, through mist's own
//! DTSC muxer, until OUT holds at least SIZE_MB megabytes. The `.dtsh` index is written beside
//! OUT, as `mist convert` does.
//!
//!     cargo run --release --example synth_dtsc -- IN.dtsc OUT.dtsc SIZE_MB

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use mist::dtsc::{Packet, Ticks};
use mist::formats::dtsc::demux::Demuxer;
use mist::formats::dtsc::mux::Muxer;
use mist::formats::{Demuxer as _, Muxer as _};
use mist::io::sink::FileSink;
use mist::io::{ByteSink, Source};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synth_dtsc: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, size_mb] = args.as_slice() else {
        bail!("usage: synth_dtsc IN.dtsc OUT.dtsc SIZE_MB");
    };
    let target: u64 = size_mb
        .parse::<u64>()
        .context("SIZE_MB is not a number")?
        .saturating_mul(1_000_000);

    let src = Source::open(Path::new(input)).with_context(|| format!("open {input}"))?;
    let mut demux = Demuxer::open(src).with_context(|| format!("read {input}"))?;
    let meta = demux.meta().clone();
    let mut packets: Vec<Packet> = Vec::new();
    while let Some(p) = demux
        .next_packet()
        .with_context(|| format!("read {input}"))?
    {
        packets.push(p);
    }
    if packets.is_empty() {
        bail!("{input} holds no packets");
    }
    let base = meta.tracks[0].timebase;
    if meta.tracks.iter().any(|t| t.timebase != base) {
        bail!("{input}: tracks have different timebases; this tool shifts all by one amount");
    }
    // The clip length: one past the last packet of the longest track, i.e. its last dts plus
    // the gap before it, so the next round continues the cadence without overlap.
    let mut clip = 0i64;
    for t in &meta.tracks {
        let times: Vec<i64> = packets
            .iter()
            .filter(|p| p.track == t.id)
            .map(|p| p.dts.0)
            .collect();
        if let [.., a, b] = times.as_slice() {
            clip = clip.max(b + (b - a));
        }
    }
    if clip <= 0 {
        bail!("{input}: cannot tell the clip length");
    }

    let out_path = PathBuf::from(output);
    let file = File::create(&out_path).with_context(|| format!("create {output}"))?;
    let mut sink = FileSink::new(file);
    let mut mux = Muxer::default();
    mux.start(&meta, &mut sink)?;
    let mut round = 0i64;
    while sink.position() < target {
        let shift = round * clip;
        for p in &packets {
            let mut q = p.clone();
            q.dts = Ticks(p.dts.0 + shift);
            q.pos = None;
            mux.write(&q, &mut sink)?;
        }
        round += 1;
    }
    let finish = mux.finish(&mut sink)?;
    for (at, bytes) in &finish.patches {
        sink.patch(*at, bytes)?;
    }
    let total = sink.position();
    sink.into_inner()?.sync_all()?;
    for side in finish.side_files {
        let mut name = out_path.clone().into_os_string();
        name.push(side.suffix);
        File::create(&name)
            .and_then(|mut f| mist::pipeline::write_chunks(&mut f, side.chunks))
            .with_context(|| format!("write {}", PathBuf::from(&name).display()))?;
    }
    println!(
        "{output}: {total} bytes, {round} rounds of {} packets, {} ms each",
        packets.len(),
        clip
    );
    Ok(())
}
