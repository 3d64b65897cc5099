//! `/json_STREAM.js` and `/info_STREAM.js`: what a stream holds and where to play it, in
//! MistServer's shape (its `OutHTTP::getStatusJSON`), which MistServer's players and the
//! tools around it read:
//!
//! ```text
//! {"type": "live"|"vod", "width": W, "height": H, "selver": 2, "capa": {"selver": 2, "ssl": false},
//!  "meta": {"tracks": {NAME: {codec, codecstring, type, idx, trackid, init, firstms, lastms,
//!           bps, maxbps, rate/size/channels | width/height/fpks (+ bframes), nowms (live)}},
//!           "vod": 1 | "live": 1, "version": 4, "bframes": 1?, "buffer_window": ms (live)},
//!  "source": [{url, relurl, type, hrn, priority, simul_tracks, total_matches}, ...]}
//! ```
//!
//! - Track names are MistServer's (`video_H264_640x360_25fps_0`); `init` is the codec's
//!   initialisation data as a string of one character per byte (U+0000–U+00FF), which is
//!   what MistServer's raw bytes read as in JavaScript (`init.charCodeAt(i)` is byte `i`);
//!   `bps` is bytes per second, as in DTSC.
//! - `source` lists every output mist serves for the stream, each with MistServer's type,
//!   human name and priority, the number of track kinds it can carry at once
//!   (`simul_tracks`) and of tracks it can carry (`total_matches`), sorted as MistServer
//!   sorts them: most simultaneous tracks, then highest priority, then most matches, then
//!   URL. Outputs that can carry nothing of the stream are left out.
//! - An unknown or offline stream answers `{"error": "Stream is offline"}`, a live stream
//!   with no tracks yet `{"error": "Stream is waiting for data"}`, both with 200, as
//!   MistServer answers.
//! - `info_` wraps the same object in MistServer's JavaScript assignment
//!   (`mistvideo[NAME] = {...};`).
//!
//! One difference, on purpose: MistServer answers "offline" for a file until some media
//! request has loaded it; mist reads the file's index (once, then from a cache) and answers
//! with its tracks, so a player can start from the info alone.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::dtsc::wire::header::HeaderTrack;
use crate::dtsc::{Meta, Ticks, Time, Timebase, Track, TrackKind};
use crate::formats::FormatSpec;
use crate::serve::hub::stats::lock;

/// Files whose facts are kept.
pub const FACTS_ENTRIES: usize = 64;

/// What the info page says of one track besides its codec data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackFacts {
    /// Decode time (ms) of the first packet.
    pub first_ms: i64,
    /// Decode time (ms) of the last packet.
    pub last_ms: i64,
    /// Average bytes per second.
    pub bps: u64,
    /// Peak bytes per second.
    pub max_bps: u64,
    /// Frames per kilosecond measured from the packets (video).
    pub fpks: u64,
    /// Whether any packet has a composition offset.
    pub bframes: bool,
}

/// A file's tracks and their facts.
#[derive(Clone, Debug)]
pub struct FileFacts {
    /// Tracks (no index).
    pub meta: Meta,
    /// Per track, in the order of `meta.tracks`.
    pub tracks: Vec<TrackFacts>,
}

/// Reads `path`'s index once and sums it up per track, with times shifted as the file
/// viewers shift them (so that none is negative).
pub fn file_facts(path: &Path) -> Result<FileFacts, String> {
    let mut d = crate::pipeline::open(path).map_err(|e| e.to_string())?;
    d.build_index()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = d.meta();
    let earliest = meta.index.as_ref().and_then(|index| {
        meta.tracks
            .iter()
            .zip(&index.tracks)
            .filter(|(_, ti)| !ti.parts.is_empty())
            .map(|(t, ti)| Time::new(ti.first, t.timebase))
            .min()
    });
    let shift_ms = earliest.map_or(0, |e| (-e.as_ms()).max(0));
    let mut tracks = Vec::new();
    for (i, t) in meta.tracks.iter().enumerate() {
        let Some(ti) = meta.index.as_ref().and_then(|x| x.tracks.get(i)) else {
            tracks.push(TrackFacts::default());
            continue;
        };
        if ti.parts.is_empty() {
            tracks.push(TrackFacts::default());
            continue;
        }
        let ms = |x: Ticks| t.timebase.rescale(x.0, Timebase::MS) + shift_ms;
        let last_dur = ti.parts.last().map_or(0, |p| i64::from(p.duration));
        let (first_ms, last_ms) = (ms(ti.first), ms(ti.last));
        let span_ms = (ms(ti.last + last_dur) - first_ms).max(1) as u64;
        let bytes = ti.payload_bytes();
        let avg = bytes * 1000 / span_ms;
        let bps = if ti.bps > 0 { ti.bps } else { avg };
        tracks.push(TrackFacts {
            first_ms,
            last_ms,
            bps,
            max_bps: ti.max_bps.max(bps),
            fpks: if t.kind == TrackKind::Video {
                ti.parts.len() as u64 * 1_000_000 / span_ms
            } else {
                0
            },
            bframes: t.kind == TrackKind::Video && ti.parts.iter().any(|p| p.cts != 0),
        });
    }
    Ok(FileFacts {
        meta: Meta {
            tracks: meta.tracks.clone(),
            live: false,
            unix_zero: meta.unix_zero,
            index: None,
            tags: None,
        },
        tracks,
    })
}

/// What identifies a version of a file: path, size, modification time.
type FileKey = (PathBuf, u64, SystemTime);

/// Facts of files, most recently used first, keyed by path, size and modification time.
#[derive(Debug, Default)]
pub struct FactsCache {
    entries: Mutex<VecDeque<(FileKey, Arc<FileFacts>)>>,
}

impl FactsCache {
    /// The facts of `path` (read on first use). Blocking: call it off the async threads.
    pub fn get(&self, path: &Path) -> Result<Arc<FileFacts>, String> {
        let md = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let key = (
            path.to_path_buf(),
            md.len(),
            md.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        );
        {
            let mut entries = lock(&self.entries);
            if let Some(i) = entries.iter().position(|(k, _)| *k == key) {
                let e = entries.remove(i).expect("position is in range");
                entries.push_front(e.clone());
                return Ok(e.1);
            }
        }
        let facts = Arc::new(file_facts(path)?);
        let mut entries = lock(&self.entries);
        entries.retain(|(k, _)| *k != key);
        entries.push_front((key, facts.clone()));
        entries.truncate(FACTS_ENTRIES);
        Ok(facts)
    }
}

/// Where the outputs are reachable, as the client addressed the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The host the client used (from `Host`, without the port).
    pub host: String,
    /// HTTP port.
    pub http_port: u16,
    /// RTMP port, when RTMP is served.
    pub rtmp_port: Option<u16>,
}

/// A stream as the info page describes it.
#[derive(Clone, Debug)]
pub struct Described<'a> {
    /// The stream's name.
    pub name: &'a str,
    /// Live or on demand.
    pub live: bool,
    /// Its tracks.
    pub tracks: &'a [Track],
    /// Per track, its facts.
    pub facts: &'a [TrackFacts],
    /// DVR window (ms) of a live stream.
    pub buffer_window: Option<u64>,
    /// Wall-clock ms of stream time 0, when known.
    pub unix_zero: Option<i64>,
}

/// One playback method: MistServer's connector `methods` entry.
struct Method {
    /// The output's URL extension (also which row of the format table carries it).
    ext: &'static str,
    kind: &'static str,
    hrn: &'static str,
    priority: i64,
    rtmp: bool,
}

/// The outputs mist serves, with MistServer's type, name and priority for each.
const METHODS: &[Method] = &[
    Method {
        ext: "mp4",
        kind: "html5/video/mp4",
        hrn: "MP4 progressive",
        priority: 9,
        rtmp: false,
    },
    Method {
        ext: "mp3",
        kind: "html5/audio/mp3",
        hrn: "MP3 progressive",
        priority: 8,
        rtmp: false,
    },
    Method {
        ext: "aac",
        kind: "html5/audio/aac",
        hrn: "AAC progressive",
        priority: 8,
        rtmp: false,
    },
    Method {
        ext: "flv",
        kind: "flash/10",
        hrn: "RTMP",
        priority: 7,
        rtmp: true,
    },
    Method {
        ext: "flv",
        kind: "flash/7",
        hrn: "FLV progressive",
        priority: 5,
        rtmp: false,
    },
    Method {
        ext: "ts",
        kind: "html5/video/mpeg",
        hrn: "TS HTTP progressive",
        priority: 1,
        rtmp: false,
    },
    Method {
        ext: "h264",
        kind: "html5/video/raw",
        hrn: "Raw progressive",
        priority: 1,
        rtmp: false,
    },
];

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// How many track kinds (video, audio) `spec` can carry at once, and how many tracks.
fn matches(spec: &FormatSpec, tracks: &[Track]) -> (usize, usize) {
    let carried: Vec<&Track> = tracks
        .iter()
        .filter(|t| (spec.mux_caps.framing)(&t.codec).is_some())
        .collect();
    let mut kinds: Vec<TrackKind> = carried.iter().map(|t| t.kind).collect();
    kinds.sort_by_key(|k| k.as_str());
    kinds.dedup();
    (kinds.len(), carried.len())
}

/// The `source` list for a stream, sorted as MistServer sorts it.
pub fn sources(name: &str, tracks: &[Track], live: bool, place: &Place) -> Vec<Value> {
    let mut out: Vec<(usize, i64, usize, String, Value)> = Vec::new();
    for m in METHODS {
        let Some(mut spec) = super::output_spec(m.ext) else {
            continue;
        };
        if live {
            match super::live_spec(spec) {
                Some(s) => spec = s,
                None => continue,
            }
        }
        let (simul, total) = matches(spec, tracks);
        if simul == 0 {
            continue;
        }
        let (url, relurl) = if m.rtmp {
            let Some(port) = place.rtmp_port else {
                continue;
            };
            let rel = format!("play/{}", url_encode(name));
            (format!("rtmp://{}:{port}/{rel}", place.host), rel)
        } else {
            let rel = format!("{}.{}", url_encode(name), m.ext);
            (
                format!("http://{}:{}/{rel}", place.host, place.http_port),
                rel,
            )
        };
        let v = json!({
            "url": url,
            "relurl": relurl,
            "type": m.kind,
            "hrn": m.hrn,
            "priority": m.priority,
            "simul_tracks": simul,
            "total_matches": total,
        });
        out.push((simul, m.priority, total, url, v));
    }
    out.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.cmp(&a.1))
            .then(b.2.cmp(&a.2))
            .then(a.3.cmp(&b.3))
    });
    out.into_iter().map(|x| x.4).collect()
}

/// `init` as MistServer's JSON writes it: one character per byte.
fn init_string(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// The `meta.tracks` member of one track: its name and object.
fn track_entry(t: &Track, idx: usize, f: &TrackFacts, live: bool) -> (String, Value) {
    let mut ht = HeaderTrack::from_track(t, idx, None);
    let info = crate::codec::describe(t);
    let mut o = Map::new();
    o.insert("codec".into(), json!(t.codec.mist_name()));
    if let Some(cs) = crate::codec::codec_string(t) {
        o.insert("codecstring".into(), json!(cs));
    }
    o.insert("type".into(), json!(t.kind.as_str()));
    o.insert("idx".into(), json!(idx));
    o.insert("trackid".into(), json!(t.id.0));
    o.insert("init".into(), json!(init_string(&t.init)));
    o.insert("firstms".into(), json!(f.first_ms));
    o.insert("lastms".into(), json!(f.last_ms));
    if live {
        o.insert("nowms".into(), json!(f.last_ms));
    }
    o.insert("bps".into(), json!(f.bps));
    o.insert("maxbps".into(), json!(f.max_bps));
    if let Some(l) = t.lang.as_deref().filter(|l| *l != "und") {
        o.insert("lang".into(), json!(l));
    }
    match t.kind {
        TrackKind::Video => {
            if ht.width == 0 {
                ht.width = i64::from(info.width.unwrap_or(0));
            }
            if ht.height == 0 {
                ht.height = i64::from(info.height.unwrap_or(0));
            }
            if ht.fpks == 0 {
                ht.fpks = f.fpks as i64;
            }
            o.insert("width".into(), json!(ht.width));
            o.insert("height".into(), json!(ht.height));
            o.insert("fpks".into(), json!(ht.fpks));
            o.insert("efpks".into(), json!(f.fpks));
            if f.bframes {
                o.insert("bframes".into(), json!(1));
            }
        }
        TrackKind::Audio => {
            if ht.rate == 0 {
                ht.rate = i64::from(info.rate.unwrap_or(0));
            }
            if ht.channels == 0 {
                ht.channels = i64::from(info.channels.unwrap_or(0));
            }
            o.insert("rate".into(), json!(ht.rate));
            o.insert("size".into(), json!(if ht.size > 0 { ht.size } else { 16 }));
            o.insert("channels".into(), json!(ht.channels));
        }
        _ => {}
    }
    (ht.mist_name(idx), Value::Object(o))
}

/// The whole answer for a stream.
pub fn describe(d: &Described<'_>, place: &Place) -> Value {
    let mut tracks = Map::new();
    let (mut width, mut height, mut has_video) = (0i64, 0i64, false);
    let mut bframes = false;
    for (i, t) in d.tracks.iter().enumerate() {
        let f = d.facts.get(i).copied().unwrap_or_default();
        let (name, v) = track_entry(t, i, &f, d.live);
        if t.kind == TrackKind::Video {
            has_video = true;
            width = width.max(v["width"].as_i64().unwrap_or(0));
            height = height.max(v["height"].as_i64().unwrap_or(0));
            bframes |= f.bframes;
        }
        tracks.insert(name, v);
    }
    // MistServer's defaults for a size the tracks do not give.
    if width < 1 || height < 1 {
        width = 640;
        height = if has_video { 480 } else { 20 };
    }
    let mut meta = Map::new();
    meta.insert("tracks".into(), Value::Object(tracks));
    meta.insert("version".into(), json!(4));
    meta.insert(if d.live { "live" } else { "vod" }.into(), json!(1));
    if bframes {
        meta.insert("bframes".into(), json!(1));
    }
    if let Some(w) = d.buffer_window {
        meta.insert("buffer_window".into(), json!(w));
    }
    let mut out = Map::new();
    out.insert("type".into(), json!(if d.live { "live" } else { "vod" }));
    out.insert("width".into(), json!(width));
    out.insert("height".into(), json!(height));
    if let Some(z) = d.unix_zero {
        out.insert("unixoffset".into(), json!(z));
    }
    out.insert("meta".into(), Value::Object(meta));
    out.insert(
        "source".into(),
        Value::Array(sources(d.name, d.tracks, d.live, place)),
    );
    out.insert("selver".into(), json!(2));
    out.insert("capa".into(), json!({"selver": 2, "ssl": false}));
    Value::Object(out)
}

/// An error answer.
pub fn error(message: &str) -> Value {
    json!({ "error": message })
}

/// The `info_` form: MistServer's JavaScript assignment around the object.
pub fn as_script(name: &str, v: &Value) -> String {
    // The name as a JSON string (a valid JavaScript string), with `<` escaped so the text
    // can sit inside a <script> element.
    let quoted = serde_json::to_string(name)
        .unwrap_or_else(|_| "\"\"".into())
        .replace('<', "\\u003c");
    let body = v.to_string().replace('<', "\\u003c");
    format!(
        "// Generating info code for stream {}\n\nif (!mistvideo){{var mistvideo ={{}};}}\nmistvideo[{quoted}] = {body};\n",
        name.replace(['\n', '\r'], " ").replace('<', "\\u003c")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Audio, Codec, Params, TrackId, Video};
    use bytes::Bytes;

    fn place(rtmp: bool) -> Place {
        Place {
            host: "example.org".into(),
            http_port: 8080,
            rtmp_port: rtmp.then_some(1935),
        }
    }

    fn h264_aac() -> Vec<Track> {
        let mut v = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MS);
        v.params = Params::Video(Video {
            width: 640,
            height: 360,
            fpks: 25_000,
        });
        v.init = Bytes::from_static(&[0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x00]);
        let mut a = Track::new(TrackId(2), TrackKind::Audio, Codec::Aac, Timebase::MS);
        a.params = Params::Audio(Audio {
            rate: 48_000,
            channels: 2,
            sample_bits: 16,
        });
        a.init = Bytes::from_static(&[0x11, 0x90]);
        vec![v, a]
    }

    #[test]
    fn sources_are_sorted_as_mistserver_sorts_them() {
        let tracks = h264_aac();
        let s = sources("cam+one", &tracks, false, &place(true));
        let got: Vec<(&str, i64, i64)> = s
            .iter()
            .map(|v| {
                (
                    v["hrn"].as_str().unwrap(),
                    v["simul_tracks"].as_i64().unwrap(),
                    v["priority"].as_i64().unwrap(),
                )
            })
            .collect();
        // Two kinds first by priority (MP4 9, RTMP 7, FLV 5, TS 1); then the one-kind
        // outputs (AAC 8, Raw H.264 1). MP3 carries nothing of H.264+AAC: left out.
        assert_eq!(
            got,
            vec![
                ("MP4 progressive", 2, 9),
                ("RTMP", 2, 7),
                ("FLV progressive", 2, 5),
                ("TS HTTP progressive", 2, 1),
                ("AAC progressive", 1, 8),
                ("Raw progressive", 1, 1),
            ]
        );
        assert_eq!(s[0]["url"], "http://example.org:8080/cam%2Bone.mp4");
        assert_eq!(s[0]["relurl"], "cam%2Bone.mp4");
        assert_eq!(s[0]["type"], "html5/video/mp4");
        assert_eq!(s[0]["total_matches"], 2);
        assert_eq!(s[1]["url"], "rtmp://example.org:1935/play/cam%2Bone");
        assert_eq!(s[1]["type"], "flash/10");
        assert_eq!(s[2]["type"], "flash/7");
        assert_eq!(s[3]["type"], "html5/video/mpeg");
        // No RTMP listener: no RTMP source.
        let s = sources("x", &tracks, false, &place(false));
        assert!(s.iter().all(|v| v["hrn"] != "RTMP"));
    }

    #[test]
    fn the_answer_has_mistservers_fields() {
        let tracks = h264_aac();
        let facts = [
            TrackFacts {
                first_ms: 0,
                last_ms: 1960,
                bps: 20_000,
                max_bps: 25_000,
                fpks: 25_000,
                bframes: true,
            },
            TrackFacts {
                first_ms: 0,
                last_ms: 1984,
                bps: 4_000,
                max_bps: 4_100,
                fpks: 0,
                bframes: false,
            },
        ];
        let v = describe(
            &Described {
                name: "x",
                live: false,
                tracks: &tracks,
                facts: &facts,
                buffer_window: None,
                unix_zero: None,
            },
            &place(false),
        );
        assert_eq!(v["type"], "vod");
        assert_eq!(
            (v["width"].as_i64(), v["height"].as_i64()),
            (Some(640), Some(360))
        );
        assert_eq!(v["selver"], 2);
        assert_eq!(v["capa"], json!({"selver": 2, "ssl": false}));
        assert_eq!(v["meta"]["vod"], 1);
        assert_eq!(v["meta"]["version"], 4);
        assert_eq!(v["meta"]["bframes"], 1);
        let vt = &v["meta"]["tracks"]["video_H264_640x360_25fps_0"];
        assert_eq!(vt["codec"], "H264");
        assert_eq!(vt["codecstring"], "avc1.64001e");
        assert_eq!(vt["type"], "video");
        assert_eq!(
            (vt["idx"].as_i64(), vt["trackid"].as_i64()),
            (Some(0), Some(1))
        );
        assert_eq!(vt["fpks"], 25_000);
        assert_eq!(vt["bframes"], 1);
        assert_eq!(vt["lastms"], 1960);
        assert_eq!(
            (vt["bps"].as_i64(), vt["maxbps"].as_i64()),
            (Some(20_000), Some(25_000))
        );
        // init: one character per byte, so 0x64 is "d" and 0xff is U+00FF.
        let init: Vec<u32> = vt["init"]
            .as_str()
            .unwrap()
            .chars()
            .map(u32::from)
            .collect();
        assert_eq!(init, vec![0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x00]);
        let at = &v["meta"]["tracks"]["audio_AAC_2ch_48000hz_1"];
        assert_eq!(at["codecstring"], "mp4a.40.2");
        assert_eq!(
            (
                at["rate"].as_i64(),
                at["channels"].as_i64(),
                at["size"].as_i64()
            ),
            (Some(48_000), Some(2), Some(16))
        );
        assert!(at.get("nowms").is_none() && at.get("width").is_none());
        // Audio alone: MistServer's 640x20.
        let v = describe(
            &Described {
                name: "a",
                live: true,
                tracks: &tracks[1..],
                facts: &facts[1..],
                buffer_window: Some(50_000),
                unix_zero: None,
            },
            &place(false),
        );
        assert_eq!(
            (v["width"].as_i64(), v["height"].as_i64()),
            (Some(640), Some(20))
        );
        assert_eq!(v["type"], "live");
        assert_eq!(v["meta"]["live"], 1);
        assert_eq!(v["meta"]["buffer_window"], 50_000);
        assert_eq!(
            v["meta"]["tracks"]["audio_AAC_2ch_48000hz_0"]["nowms"],
            1984
        );
    }

    #[test]
    fn the_script_form_is_mistservers_assignment() {
        let s = as_script("a</script>", &json!({"x": "</script>"}));
        assert!(s.starts_with("// Generating info code for stream a\\u003c/script>\n\nif (!mistvideo){var mistvideo ={};}\nmistvideo[\"a\\u003c/script>\"] = "), "{s}");
        assert!(!s.contains("</script>"), "{s}");
        assert!(s.ends_with(";\n"));
    }

    #[test]
    fn url_encoding_keeps_only_unreserved_characters() {
        assert_eq!(url_encode("a.b-c_d~e"), "a.b-c_d~e");
        assert_eq!(url_encode("a+b c/é"), "a%2Bb%20c%2F%C3%A9");
    }
}
