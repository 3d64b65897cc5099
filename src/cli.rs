//! Command-line arguments ("low args"): clap structs only. `cmd/` turns them into plans.

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};

use mist::dtsc::Time;
use mist::formats::probe;

const EXAMPLES: &str = "\
Examples:
  mist convert in.dtsc out.dtsc            copy a DTSC file (writes out.dtsc and out.dtsc.dtsh)
  mist convert in.dtsc out.dtsc --tracks video --start 4 --end 8
  mist analyse in.dtsc                     summary table of tracks
  mist analyse in.dtsc --detail 1 --json   every packet, machine-readable
  mist analyse in.dtsc --validate          check the index against the packets
  mist completions bash > /etc/bash_completion.d/mist";

/// mist: convert, remux, analyse and serve media (FLV, MPEG-TS, MP4, MP3, DTSC, H.264, AAC).
#[derive(Debug, Parser)]
#[command(name = "mist", version, about, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert media from one container to another (packets are copied, never re-encoded).
    #[command(after_help = "\
Examples:
  mist convert in.dtsc out.dtsc
  mist convert in.dtsc out.dtsc --tracks audio
  mist convert in.dtsc - --to dtsc | other-tool     (stdout; the .dtsh index is not written)
  mist convert in.dtsc cut.dtsc --start 2 --end 0:06.5 --force")]
    Convert(ConvertArgs),
    /// Remux a file (same engine as convert), or package it into a folder (HLS, DASH, HDS,
    /// Smooth).
    #[command(after_help = "\
Examples:
  mist remux in.dtsc out.dtsc --tracks 1,2
  mist remux in.mp4 out/ --to hls                   (index.m3u8, V_A/index.m3u8, V_A/*.ts)
  mist remux in.flv out/ --to hls-fmp4 --segment-duration 4
  mist remux in.mp4 out/ --to dash                  (index.mpd, T/init.m4s, T/chunk_*.m4s)
  mist remux in.mp4 out/ --to hds                   (manifest.f4m, ID.abst, ID-Seg1-FragN)
  mist remux in.mp4 out.ism/ --to smooth            (Manifest, QualityLevels(B)/Fragments(..))
  mist analyse out/index.m3u8 --validate            (check the playlists and segments)
  mist analyse out/index.mpd --validate             (check the MPD and its segments)")]
    Remux(ConvertArgs),
    /// Print what a file holds: tracks, codecs, timing, and with --detail every structure.
    #[command(
        visible_alias = "analyze",
        after_help = "\
Detail levels: 0 summary; 1 structures (boxes, tags, PSI and PES headers) and every packet;
2 also TS packet headers, NAL units and index tables (with --json: every structure, nested);
3 also the bytes of payloads.
Examples:
  mist analyse in.dtsc
  mist analyse a.mp4 b.ts c.flv                 (one summary each; --json gives an array)
  mist analyse in.dtsc --detail 2
  mist analyse in.dtsc --json --detail 1 | jq '.packets | length'
  mist analyse in.dtsc --validate               (exit 1 if errors are found)"
    )]
    Analyse(AnalyseArgs),
    /// Serve live and on-demand streams (RTMP, HLS, HTTP progressive, API).
    #[command(after_help = "\
Examples:
  mist serve                                   (push:// streams + the files of this folder)
  mist serve tests/fixtures --http 127.0.0.1:8080
  mist serve --stream live=push:// --stream movie=/media/movie.mp4
  mist serve --config mist.json --api 0.0.0.0:4242 --account admin:secret
  ffmpeg -re -i in.mp4 -c copy -f flv rtmp://127.0.0.1/live/cam   (publish)
  ffplay http://127.0.0.1:8080/cam.flv                            (play)")]
    Serve(ServeArgs),
    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  mist completions bash > ~/.local/share/bash-completion/completions/mist
  mist completions zsh > ~/.zfunc/_mist
  mist completions fish > ~/.config/fish/completions/mist.fish")]
    Completions(CompletionsArgs),
}

fn format_names() -> PossibleValuesParser {
    PossibleValuesParser::new(probe::names())
}

/// What `--to` takes: a container, or a packaging written to a folder.
fn output_names() -> PossibleValuesParser {
    let mut v = probe::names();
    v.extend(mist::package::names());
    PossibleValuesParser::new(v)
}

fn parse_segment_duration(s: &str) -> Result<Time, String> {
    let t = parse_time(s)?;
    let ms = t.as_ms();
    if !(mist::package::MIN_SEGMENT_MS..=mist::package::MAX_SEGMENT_MS).contains(&ms) {
        return Err(format!(
            "'{s}' is outside {}..{} seconds",
            mist::package::MIN_SEGMENT_MS as f64 / 1000.0,
            mist::package::MAX_SEGMENT_MS / 1000
        ));
    }
    Ok(t)
}

/// `25`, `29.97`, `30000/1001`: a frame rate as an exact fraction.
fn parse_fps(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("'{s}' is not a frame rate (25, 29.97, 30000/1001)");
    let (num, den) = match s.split_once('/') {
        Some((n, d)) => (
            n.trim().parse::<u32>().map_err(|_| bad())?,
            d.trim().parse::<u32>().map_err(|_| bad())?,
        ),
        None => {
            let (int, frac) = s.split_once('.').unwrap_or((s, ""));
            if frac.len() > 3 || !frac.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let den = 10u32.pow(frac.len() as u32);
            let int: u32 = int.parse().map_err(|_| bad())?;
            let frac: u32 = if frac.is_empty() {
                0
            } else {
                frac.parse().map_err(|_| bad())?
            };
            let num = int
                .checked_mul(den)
                .and_then(|n| n.checked_add(frac))
                .ok_or_else(bad)?;
            // 29.97 and 23.976 mean the NTSC rates, as ffmpeg reads them.
            match (num, den) {
                (2997, 100) => (30000, 1001),
                (23976, 1000) => (24000, 1001),
                (5994, 100) => (60000, 1001),
                x => x,
            }
        }
    };
    if num == 0 || den == 0 || num / den > 1000 {
        return Err(bad());
    }
    Ok((num, den))
}

fn parse_time(s: &str) -> Result<Time, String> {
    Time::parse_seconds(s)
        .ok_or_else(|| format!("'{s}' is not a time (seconds: 12, 12.5, 1:02.5, 1:00:00)"))
}

/// Arguments of `convert` and `remux`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Input file (`-` for stdin).
    pub input: PathBuf,
    /// Output file (`-` for stdout).
    pub output: PathBuf,
    /// Output format (default: from the output's extension); `hls` (TS segments),
    /// `hls-fmp4` (CMAF segments), `dash` (an MPD over CMAF segments), `hds` and `smooth`
    /// write a folder of playlists or manifests and segments.
    #[arg(long, value_parser = output_names())]
    pub to: Option<String>,
    /// Input format (default: detected from the content, then the extension).
    #[arg(long, value_parser = format_names())]
    pub from: Option<String>,
    /// Tracks to keep: ids, video, audio, meta, a codec name, all; `-x` removes (all,-meta).
    /// Default: every track the output format can carry.
    #[arg(long)]
    pub tracks: Option<String>,
    /// Start at the keyframe at or before this time (seconds from the start of the input, or
    /// [h:]m:s).
    #[arg(long, value_parser = parse_time)]
    pub start: Option<Time>,
    /// Stop before this time (seconds from the start of the input, or [h:]m:s).
    #[arg(long, value_parser = parse_time)]
    pub end: Option<Time>,
    /// Overwrite the output if it exists.
    #[arg(short, long)]
    pub force: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream's
    /// VUI timing, else 25.
    #[arg(long, value_parser = parse_fps)]
    pub fps: Option<(u32, u32)>,
    /// The program to read from a multi-program MPEG-TS (its program_number); default: the
    /// first in the PAT.
    #[arg(long)]
    pub program: Option<u16>,
    /// Leave the source's tags (an MP3's ID3v2 tag) out of the output.
    #[arg(long)]
    pub strip_tags: bool,
    /// Fragmented MP4: write a segment index (`sidx`) before each fragment.
    #[arg(long)]
    pub sidx: bool,
    /// Write what is readable of a damaged input (an interrupted recording, a corrupt
    /// region), with one warning per damaged region, instead of refusing it.
    #[arg(long)]
    pub salvage: bool,
    /// Fragmented MP4: cut fragments of about this many milliseconds (at keyframes), instead
    /// of one per keyframe group.
    #[arg(long, value_name = "MS")]
    pub fragment_duration: Option<u32>,
    /// Packaging (`--to hls|hls-fmp4|dash|hds|smooth`): shortest segment in seconds; segments start at the
    /// first keyframe at least this long after the previous start (default 1.9, MistServer's).
    #[arg(long, value_name = "S", value_parser = parse_segment_duration)]
    pub segment_duration: Option<Time>,
}

/// Arguments of `analyse`.
#[derive(Debug, Args)]
pub struct AnalyseArgs {
    /// Input files (`-` for stdin), or packaged folders or manifests (`index.m3u8`,
    /// `manifest.f4m`, Smooth's `Manifest`); with several, `--json` prints an array.
    #[arg(required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps.
    #[arg(short, long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub detail: u8,
    /// Check the file against its spec; exit 1 if an error is found.
    #[arg(long)]
    pub validate: bool,
    /// Print JSON (shape documented in docs/analyse-json.md).
    #[arg(long)]
    pub json: bool,
    /// Input format (default: detected from the content, then the extension).
    #[arg(long, value_parser = format_names())]
    pub format: Option<String>,
    /// Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream's
    /// VUI timing, else 25.
    #[arg(long, value_parser = parse_fps)]
    pub fps: Option<(u32, u32)>,
    /// Only this PID (MPEG-TS; decimal or 0x hex).
    #[arg(long, value_parser = parse_pid)]
    pub pid: Option<u16>,
    /// The program to read from a multi-program MPEG-TS (its program_number); default: the
    /// first in the PAT.
    #[arg(long)]
    pub program: Option<u16>,
}

fn parse_pid(s: &str) -> Result<u16, String> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16),
        None => s.parse(),
    };
    v.ok()
        .filter(|p| *p < 0x2000)
        .ok_or_else(|| format!("'{s}' is not a PID (0 to 8191, or 0x0 to 0x1fff)"))
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A folder whose files are served as streams named after them, or one file
    /// (default: the current folder).
    pub path: Option<PathBuf>,
    /// Configuration file (JSON, MistServer's shape); the API saves changes to it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// HTTP listen address ("off" to disable).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub http: String,
    /// RTMP listen address ("off" to disable).
    #[arg(long, default_value = "0.0.0.0:1935")]
    pub rtmp: String,
    /// API listen address ("off" to disable).
    #[arg(long, default_value = "127.0.0.1:4242")]
    pub api: String,
    /// DTSC listen address, MistServer's server-to-server protocol (MistServer uses
    /// 0.0.0.0:4200; "off" to disable).
    #[arg(long, default_value = "off")]
    pub dtsc: String,
    /// A stream: NAME=SOURCE (push://, push://HOST@PASSWORD, a file, a folder/, or a URL to
    /// pull: rtmp://, dtsc://, http(s)://, tsudp://, ts-exec:COMMAND).
    #[arg(long = "stream", value_name = "NAME=SOURCE")]
    pub streams: Vec<String>,
    /// Create (or replace) an API account: USER:PASSWORD. Other addresses than this
    /// machine's must log in with it (MistServer's challenge-response).
    #[arg(long, value_name = "USER:PASSWORD")]
    pub account: Option<String>,
    /// Accept API requests from anywhere that send "Authorization: Bearer TOKEN".
    #[arg(long, value_name = "TOKEN")]
    pub api_token: Option<String>,
    /// Log every HTTP request to FILE (Common Log Format, appended).
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::collections::BTreeMap;

    /// One meaning per short flag across every subcommand, and none shadowing the top level's
    /// `-V` (version) or `-h` (help).
    #[test]
    fn short_flags_mean_one_thing_everywhere() {
        let cli = Cli::command();
        let mut seen: BTreeMap<char, String> = BTreeMap::new();
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments() {
                let Some(short) = arg.get_short() else {
                    continue;
                };
                let long = arg.get_long().unwrap_or("").to_string();
                assert!(
                    short != 'V' && short != 'h',
                    "{} -{short} shadows the top-level flag",
                    sub.get_name()
                );
                if let Some(prev) = seen.insert(short, long.clone()) {
                    assert_eq!(prev, long, "-{short} means --{prev} and --{long}");
                }
            }
        }
        assert_eq!(seen.get(&'q').map(String::as_str), Some("quiet"));
        assert_eq!(seen.get(&'d').map(String::as_str), Some("detail"));
    }
}
