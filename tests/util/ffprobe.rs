//! ffprobe as an oracle: reads the committed `<fixture>.ffprobe.json` sidecars (no ffprobe
//! needed), runs the installed ffprobe the same way (interop tests only), reads mist's own
//! `analyse --json --detail 1` packet list into the same shape, and compares the two with times
//! taken as exact fractions of a second.
//!
//! ```ignore
//! let want = util::ffprobe::sidecar("h264_aac.flv");
//! let got = util::ffprobe::from_mist_json(&util::analyse_json(&util::fixture("h264_aac.flv"), &["--detail", "1"]));
//! util::ffprobe::assert_same_packets("h264_aac.flv", &got, &want);
//! ```

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// One packet as ffprobe `-show_packets` lists it (or as mist's analyse JSON lists it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FfprobePacket {
    /// Stream index (ffprobe) or position of the track in mist's `tracks` list.
    pub stream_index: usize,
    /// Presentation time in ticks of the stream's time base (`None` when ffprobe says N/A).
    pub pts: Option<i64>,
    /// Decode time in ticks of the stream's time base (`None` when ffprobe says N/A).
    pub dts: Option<i64>,
    /// Payload size in bytes as ffprobe counts it.
    pub size: u64,
    /// Keyframe (`K` in ffprobe's flags).
    pub key: bool,
    /// Byte offset ffprobe reports (`pos`), if any.
    pub pos: Option<u64>,
    /// ffprobe's duration in ticks, if any.
    pub duration: Option<i64>,
    /// `CRC32:xxxxxxxx` of the payload (sidecars only).
    pub data_hash: Option<String>,
}

/// One stream as ffprobe `-show_streams` lists it (the fields tests compare).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FfprobeStream {
    /// Stream index.
    pub index: usize,
    /// `video`, `audio`, `data`, …
    pub codec_type: String,
    /// ffprobe's codec name (`h264`, `aac`, `mp3`, …).
    pub codec_name: String,
    /// Profile name (`High`, `LC`, …), if ffprobe gives one.
    pub profile: Option<String>,
    /// Time base as (numerator, denominator).
    pub time_base: (i64, i64),
    /// Width in pixels (video).
    pub width: Option<u64>,
    /// Height in pixels (video).
    pub height: Option<u64>,
    /// Sample rate in Hz (audio).
    pub sample_rate: Option<u64>,
    /// Channel count (audio).
    pub channels: Option<u64>,
    /// ISO-639 language tag, if any.
    pub language: Option<String>,
}

/// Everything read from one ffprobe JSON document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// `format.format_name` (e.g. `flv`, `mpegts`, `mov,mp4,m4a,3gp,3g2,mj2`).
    pub format_name: String,
    /// Streams in index order.
    pub streams: Vec<FfprobeStream>,
    /// Packets in the order ffprobe read them.
    pub packets: Vec<FfprobePacket>,
}

impl Probe {
    /// The packets of one stream, in order.
    pub fn stream_packets(&self, index: usize) -> Vec<&FfprobePacket> {
        self.packets
            .iter()
            .filter(|p| p.stream_index == index)
            .collect()
    }
}

/// A JSON value that ffprobe prints either as a number or as a string holding one; `None` for
/// a missing key or `"N/A"`.
pub fn num(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

/// Parses `"1/90000"` into (1, 90000).
pub fn parse_ratio(s: &str) -> Option<(i64, i64)> {
    let (a, b) = s.split_once('/')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Reads an ffprobe `-of json -show_format -show_streams -show_packets` document.
pub fn parse(doc: &Value) -> Probe {
    let format_name = doc["format"]["format_name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let streams = doc["streams"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|s| FfprobeStream {
            index: num(s.get("index")).expect("stream index") as usize,
            codec_type: text(s.get("codec_type")).unwrap_or_default(),
            codec_name: text(s.get("codec_name")).unwrap_or_default(),
            profile: text(s.get("profile")),
            time_base: s
                .get("time_base")
                .and_then(Value::as_str)
                .and_then(parse_ratio)
                .expect("stream time_base"),
            width: num(s.get("width")).map(|v| v as u64),
            height: num(s.get("height")).map(|v| v as u64),
            sample_rate: num(s.get("sample_rate")).map(|v| v as u64),
            channels: num(s.get("channels")).map(|v| v as u64),
            language: s.get("tags").and_then(|t| text(t.get("language"))),
        })
        .collect();
    let packets = doc["packets"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|p| FfprobePacket {
            stream_index: num(p.get("stream_index")).expect("packet stream_index") as usize,
            pts: num(p.get("pts")),
            dts: num(p.get("dts")),
            size: num(p.get("size")).expect("packet size") as u64,
            key: p
                .get("flags")
                .and_then(Value::as_str)
                .is_some_and(|f| f.contains('K')),
            pos: num(p.get("pos")).map(|v| v as u64),
            duration: num(p.get("duration")),
            data_hash: text(p.get("data_hash")),
        })
        .collect();
    Probe {
        format_name,
        streams,
        packets,
    }
}

/// Path of the sidecar of fixture `name` (`tests/fixtures/<name>.ffprobe.json`).
pub fn sidecar_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.ffprobe.json"))
}

/// Reads the committed sidecar of fixture `name` (e.g. `"h264_aac.flv"`). Needs no ffprobe.
pub fn sidecar(name: &str) -> Probe {
    let path = sidecar_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("sidecar {} unreadable: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("sidecar {} is not JSON: {e}", path.display()));
    parse(&doc)
}

/// Names of all fixtures that have a sidecar, sorted (`["aac_44k.mp4", …]`).
pub fn fixtures_with_sidecars() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .expect("read tests/fixtures")
        .filter_map(|e| {
            let name = e
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            name.strip_suffix(".ffprobe.json").map(str::to_owned)
        })
        .collect();
    v.sort();
    v
}

/// The arguments the sidecars were made with (see tests/fixtures/generate.sh).
pub const SIDECAR_ARGS: &[&str] = &[
    "-v",
    "error",
    "-of",
    "json",
    "-show_format",
    "-show_streams",
    "-show_packets",
    "-show_data_hash",
    "CRC32",
];

/// Runs the installed ffprobe on `path` with the sidecar arguments and returns the raw JSON.
/// Panics (loudly) if ffprobe is missing or fails. Interop tests only.
pub fn run_json(path: &Path) -> Value {
    super::require("ffprobe");
    let out = Command::new("ffprobe")
        .args(SIDECAR_ARGS)
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe prints JSON")
}

/// Runs the installed ffprobe on `path` and parses its streams and packets. Interop tests only.
pub fn run(path: &Path) -> Probe {
    parse(&run_json(path))
}

/// Runs ffprobe on `path` read through a pipe (`-i pipe:0`), as it reads a stream it cannot
/// seek in (an HTTP response without a length): ffprobe guesses some timestamps differently
/// when it cannot seek, so a streamed URL is compared with its file read this way.
pub fn run_piped(path: &Path) -> Probe {
    super::require("ffprobe");
    let out = Command::new("ffprobe")
        .args(SIDECAR_ARGS)
        .args(["-i", "pipe:0"])
        .stdin(std::fs::File::open(path).expect("open file for ffprobe"))
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe < {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&serde_json::from_slice(&out.stdout).expect("ffprobe prints JSON"))
}

/// Reads mist's `analyse --json --detail 1` output into the same shape: tracks are mapped to
/// stream indices by their order in `tracks`. Also returns each track's `timebase`.
pub fn from_mist_json(doc: &Value) -> (Vec<FfprobePacket>, Vec<(i64, i64)>) {
    let tracks = doc["tracks"].as_array().expect("analyse JSON has tracks");
    let ids: Vec<i64> = tracks
        .iter()
        .map(|t| num(t.get("id")).expect("track id"))
        .collect();
    let bases: Vec<(i64, i64)> = tracks
        .iter()
        .map(|t| {
            let tb = t["timebase"].as_array().expect("track timebase [num, den]");
            (
                num(tb.first()).expect("timebase num"),
                num(tb.get(1)).expect("timebase den"),
            )
        })
        .collect();
    let packets = doc["packets"]
        .as_array()
        .expect("analyse JSON has packets (use --detail 1)")
        .iter()
        .map(|p| {
            let id = num(p.get("track")).expect("packet track");
            FfprobePacket {
                stream_index: ids
                    .iter()
                    .position(|&t| t == id)
                    .unwrap_or_else(|| panic!("packet of unknown track {id}")),
                pts: num(p.get("pts")),
                dts: num(p.get("dts")),
                size: num(p.get("size")).expect("packet size") as u64,
                key: p.get("key").and_then(Value::as_bool).unwrap_or(false),
                pos: num(p.get("offset")).map(|v| v as u64),
                duration: None,
                data_hash: None,
            }
        })
        .collect();
    (packets, bases)
}

/// `a` ticks of `ta` equals `b` ticks of `tb`, exactly.
pub fn same_time(a: i64, ta: (i64, i64), b: i64, tb: (i64, i64)) -> bool {
    i128::from(a) * i128::from(ta.0) * i128::from(tb.1)
        == i128::from(b) * i128::from(tb.0) * i128::from(ta.1)
}

/// Compares mist's packets (`got`, in `got_bases` time bases per stream) with ffprobe's
/// (`want`), stream by stream in order: count, pts, dts (exact fractions of a second; a side
/// with no time is not compared), size and keyframe flag. Panics naming the first difference.
pub fn assert_same_packets(
    what: &str,
    got: &[FfprobePacket],
    got_bases: &[(i64, i64)],
    want: &Probe,
) {
    assert_eq!(
        got_bases.len(),
        want.streams.len(),
        "{what}: mist lists {} tracks, ffprobe {} streams",
        got_bases.len(),
        want.streams.len()
    );
    for (s, stream) in want.streams.iter().enumerate() {
        let g: Vec<&FfprobePacket> = got.iter().filter(|p| p.stream_index == s).collect();
        let w = want.stream_packets(s);
        for (n, (gp, wp)) in g.iter().zip(&w).enumerate() {
            let times = [("pts", gp.pts, wp.pts), ("dts", gp.dts, wp.dts)];
            for (field, gt, wt) in times {
                if let (Some(gt), Some(wt)) = (gt, wt) {
                    assert!(
                        same_time(gt, got_bases[s], wt, stream.time_base),
                        "{what}: stream {s} packet {n}: {field} {gt} in {:?} != ffprobe {wt} in {:?}\n got  {gp:?}\n want {wp:?}",
                        got_bases[s],
                        stream.time_base
                    );
                }
            }
            assert_eq!(
                (gp.size, gp.key),
                (wp.size, wp.key),
                "{what}: stream {s} packet {n}: (size, key) differ\n got  {gp:?}\n want {wp:?}"
            );
        }
        assert_eq!(
            g.len(),
            w.len(),
            "{what}: stream {s}: mist lists {} packets, ffprobe {}",
            g.len(),
            w.len()
        );
    }
}
