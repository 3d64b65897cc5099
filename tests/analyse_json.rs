//! The `--json` shape against its documentation (`docs/analyse-json.md`): every fixture's
//! output, at every detail level, read into typed structures that refuse unknown fields and
//! written back unchanged; every field of every structure named in the page's tables.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use util::*;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Report {
    file: String,
    format: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    duration_ms: i64,
    tracks: Vec<Track>,
    #[serde(skip_serializing_if = "Option::is_none")]
    packets: Option<Vec<Packet>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<Vec<Finding>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problems: Option<Problems>,
    #[serde(skip_serializing_if = "Option::is_none")]
    structures: Option<Vec<Node>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Problems {
    errors: u64,
    warnings: u64,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Track {
    id: u32,
    #[serde(rename = "type")]
    kind: String,
    codec: String,
    timebase: [u32; 2],
    packets: u64,
    keyframes: u64,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<i64>,
    duration_ms: i64,
    bitrate: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    keyframe_interval_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channels: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lang: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Packet {
    track: u32,
    dts: i64,
    pts: i64,
    size: u64,
    key: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Finding {
    severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    message: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Node {
    kind: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    children: Option<Vec<Node>>,
}

/// Every committed media fixture (sidecars and scripts left out).
fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("flv" | "ts" | "mp4" | "mp3" | "h264" | "aac")
            )
        })
        .collect();
    v.push(interop("vod_idx0.dtsc"));
    v.push(interop("live_rec_short.dtsc"));
    v.sort();
    v
}

/// `analyse --json` of a file, parsed (failures are fine: damaged fixtures may fail
/// without --validate; then there is nothing to check).
fn json(path: &Path, extra: &[&str]) -> Option<Value> {
    let out = mist()
        .args(["analyse", "--json", path.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).ok()
}

/// Oracle: the documented shape. Every field the output has is in the typed structures
/// (they refuse unknown fields), and writing the typed value back gives the same JSON.
#[test]
fn every_output_reads_back_into_the_documented_shape() {
    for path in fixtures() {
        for extra in [
            &[][..],
            &["--detail", "1"][..],
            &["--detail", "2"][..],
            &["--detail", "3"][..],
            &["--validate"][..],
        ] {
            let Some(v) = json(&path, extra) else {
                continue;
            };
            let typed: Report = serde_json::from_value(v.clone())
                .unwrap_or_else(|e| panic!("{} {extra:?}: {e}", path.display()));
            assert_eq!(
                serde_json::to_value(&typed).unwrap(),
                v,
                "{} {extra:?}",
                path.display()
            );
            let detail: u8 = extra.get(1).and_then(|d| d.parse().ok()).unwrap_or(0);
            assert_eq!(typed.packets.is_some(), detail >= 1, "{}", path.display());
            assert_eq!(
                typed.structures.is_some(),
                detail >= 2,
                "{}",
                path.display()
            );
        }
    }
}

/// The structure tables of the page: (kind, name or `*`) → every backticked word of the
/// row's fields cell (field names, record members, and documented values).
fn documented() -> BTreeMap<(String, String), BTreeSet<String>> {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/analyse-json.md"))
            .unwrap();
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, w)| w.to_string())
            .collect()
    };
    let mut out: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let start = page
        .find("| kind | name | fields |")
        .expect("the structures table");
    for line in page[start..].lines().skip(2) {
        let cells: Vec<&str> = line.split(" | ").collect();
        if !line.starts_with("| `") || cells.len() < 3 {
            break;
        }
        let kind = ticked(cells[0]).remove(0);
        let mut names = ticked(cells[1]);
        if cells[1].trim() == "`*`" || cells[1].contains("`*` (") {
            names = vec!["*".into()];
        }
        let fields: BTreeSet<String> = ticked(cells[2]).into_iter().collect();
        for n in names {
            out.entry((kind.clone(), n))
                .or_default()
                .extend(fields.clone());
        }
    }
    out
}

/// Every field name a node carries, with the names of members of its records (but not of
/// AMF0 and DTMI values, whose keys are the file's own data).
fn field_names(fields: &Map<String, Value>, out: &mut BTreeSet<String>) {
    fn members(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    out.insert(k.clone());
                    members(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| members(x, out)),
            _ => {}
        }
    }
    for (k, v) in fields {
        out.insert(k.clone());
        if k != "values" && k != "value" {
            members(v, out);
        }
    }
}

fn check_node(n: &Node, doc: &BTreeMap<(String, String), BTreeSet<String>>, file: &str) {
    let any = doc.get(&(n.kind.clone(), "*".into()));
    let named = doc.get(&(n.kind.clone(), n.name.clone()));
    // Access units are named by their number; tags of unknown type by theirs.
    let numbered = (n.kind == "tag" && n.name.starts_with("type "))
        .then(|| doc.get(&("tag".into(), "type N".into())))
        .flatten();
    assert!(
        any.is_some() || named.is_some() || numbered.is_some(),
        "{file}: node kind {} name {:?} is not documented",
        n.kind,
        n.name
    );
    let mut names = BTreeSet::new();
    if let Some(f) = &n.fields {
        field_names(f, &mut names);
    }
    for name in names {
        let known = ["error", "data"].contains(&name.as_str())
            || [any, named, numbered]
                .iter()
                .flatten()
                .any(|set| set.contains(&name));
        assert!(
            known,
            "{file}: field {name:?} of {} {:?} is not in docs/analyse-json.md",
            n.kind, n.name
        );
    }
    for c in n.children.iter().flatten() {
        check_node(c, doc, file);
    }
}

/// Oracle: the documentation's tables. Every node kind, name and field that any fixture
/// produces at `--detail 2` and `3` is documented there.
#[test]
fn every_structure_field_is_documented() {
    let doc = documented();
    assert!(doc.len() > 40, "tables read: {}", doc.len());
    let mut kinds = BTreeSet::new();
    for path in fixtures() {
        for detail in ["2", "3"] {
            let Some(v) = json(&path, &["--detail", detail]) else {
                continue;
            };
            let r: Report = serde_json::from_value(v).unwrap();
            for n in r.structures.iter().flatten() {
                kinds.insert(n.kind.clone());
                check_node(n, &doc, &path.display().to_string());
            }
        }
    }
    // Every container's structures were seen.
    for k in [
        "box",
        "tag",
        "header",
        "psi",
        "pes",
        "ts_packet",
        "adts",
        "frame",
        "id3",
        "stream",
        "access_unit",
        "index",
    ] {
        assert!(
            kinds.contains(k),
            "no fixture produced a {k} node: {kinds:?}"
        );
    }
}

/// Decoded as people read them: the values ffprobe shows for faststart.mp4 (tkhd 320x240,
/// language und, timescale 12800) and FLV's onMetaData as an object.
#[test]
fn structures_carry_decoded_values() {
    let v = json(&fixture("faststart.mp4"), &["--detail", "2"]).unwrap();
    let r: Report = serde_json::from_value(v).unwrap();
    let mut tkhd = Vec::new();
    let mut mdhd = Vec::new();
    fn walk<'a>(n: &'a Node, name: &str, out: &mut Vec<&'a Map<String, Value>>) {
        if n.name == name {
            out.extend(n.fields.as_ref());
        }
        for c in n.children.iter().flatten() {
            walk(c, name, out);
        }
    }
    for n in r.structures.as_ref().unwrap() {
        walk(n, "tkhd", &mut tkhd);
        walk(n, "mdhd", &mut mdhd);
    }
    let probe = util::ffprobe::sidecar("faststart.mp4");
    assert_eq!(tkhd[0]["width"], probe.streams[0].width.unwrap());
    assert_eq!(tkhd[0]["height"], probe.streams[0].height.unwrap());
    assert_eq!(mdhd[0]["language"], "und");
    assert_eq!(mdhd[0]["timescale"], probe.streams[0].time_base.1);
    let text = mist_ok(&[
        "analyse",
        fixture("faststart.mp4").to_str().unwrap(),
        "-d",
        "1",
    ]);
    assert!(text.contains("width 320, height 240"), "{text}");
    assert!(
        !text.contains("Tkhd {") && !text.contains("Some("),
        "no Debug dumps: {text}"
    );

    let v = json(&fixture("h264_aac.flv"), &["--detail", "2"]).unwrap();
    let script = &v["structures"][1];
    assert_eq!(script["name"], "script");
    assert_eq!(script["fields"]["values"][0], "onMetaData");
    assert_eq!(script["fields"]["values"][1]["width"], 320.0);
}
