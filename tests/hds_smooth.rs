//! HDS and Smooth Streaming (issue 15): `mist remux IN DIR/ --to hds|smooth`, `mist serve`
//! of files under `/dynamic/`, `/smooth/STREAM.ism/` and `/cmaf/STREAM/Manifest`, and
//! `mist analyse` of the folders.
//!
//! Oracles: the equality the design promises (a folder written by remux and served by a
//! static file server answers byte for byte what `mist serve` answers, every file a player
//! reaches from the manifest, crawled over HTTP), ffprobe's packet counts for each fixture
//! (the committed sidecars) against the packets the fragments carry, and the specs' rules
//! as `mist analyse --validate` checks them (its parsers are tested against hand-computed
//! bytes in the library). Players' view (yt-dlp, ffprobe of what it downloads) is in
//! `tests/interop_hds_smooth.rs`.

mod util;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use mist::package::hds::bootstrap::listed;
use mist::package::hds::boxes::Abst;
use mist::package::hds::manifest as f4m;
use mist::package::smooth::manifest as ssm;
use util::serve::{get, Serve};
use util::statics::static_server;
use util::*;

fn exec(cmd: &mut std::process::Command) -> std::process::Output {
    cmd.output().expect("run mist")
}

fn fetch(addr: SocketAddr, path: &str) -> Vec<u8> {
    let r = get(addr, path, &[], 64 << 20, Duration::from_secs(60));
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.body
}

/// Every file a player reaches from `base/manifest.f4m`: the manifest, each media's
/// bootstrap (`ID.abst`, also when it is inline) and every fragment the bootstrap lists.
fn crawl_hds(addr: SocketAddr, base: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let text = fetch(addr, &format!("{base}/manifest.f4m"));
    let (m, problems) = f4m::parse(&text);
    assert!(problems.iter().all(|p| !p.error), "{base}: {problems:?}");
    let m = m.unwrap();
    for media in &m.media {
        let id = media.url.trim_end_matches('-');
        let abst_name = format!("{id}.abst");
        let abst = fetch(addr, &format!("{base}/{abst_name}"));
        if let Some(inline) = m.bootstrap_of(media).and_then(|b| b.inline.clone()) {
            assert_eq!(inline, abst, "{base}: the inline bootstrap is the file's");
        }
        let b = Abst::parse_box(&Bytes::from(abst.clone())).unwrap();
        let count = b.segment_tables[0].runs[0].fragments_per_segment;
        for l in listed(&b.fragment_tables[0], count, None) {
            let name = format!("{}Seg1-Frag{}", media.url, l.fragment);
            out.insert(name.clone(), fetch(addr, &format!("{base}/{name}")));
        }
        out.insert(abst_name, abst);
    }
    out.insert("manifest.f4m".into(), text);
    out
}

/// Every file a player reaches from `base/Manifest`.
fn crawl_smooth(addr: SocketAddr, base: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let text = fetch(addr, &format!("{base}/Manifest"));
    let (m, problems) = ssm::parse(&text);
    assert!(problems.iter().all(|p| !p.error), "{base}: {problems:?}");
    for s in &m.unwrap().streams {
        let url = s.url.clone().unwrap();
        for q in &s.qualities {
            let b = q.bitrate.unwrap().to_string();
            for c in &s.chunks {
                let rel = url
                    .replace("{bitrate}", &b)
                    .replace("{start time}", &c.time.to_string());
                out.insert(rel.clone(), fetch(addr, &format!("{base}/{rel}")));
            }
        }
    }
    out.insert("Manifest".into(), text);
    out
}

/// Files under `dir`, as `/`-separated relative paths.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out.sort();
    out
}

/// Codecs of a fixture per ffprobe's sidecar, when it has one.
fn sidecar_codecs(f: &str) -> Option<Vec<String>> {
    if !ffprobe::sidecar_path(f).exists() {
        return None;
    }
    Some(
        ffprobe::sidecar(f)
            .streams
            .iter()
            .map(|s| s.codec_name.clone())
            .collect(),
    )
}

/// True when Smooth carries a track of the fixture (H.264 or AAC), by mist's own reading of
/// the file (every fixture has no more than these codecs and MP3).
fn smooth_carries(f: &str) -> bool {
    let d = mist::pipeline::open(&fixture(f)).unwrap();
    d.meta()
        .tracks
        .iter()
        .any(|t| matches!(t.codec, mist::dtsc::Codec::H264 | mist::dtsc::Codec::Aac))
}

#[test]
fn remux_output_served_statically_is_byte_identical_to_serve_vod_for_every_fixture() {
    let dir = TestDir::new("hds-smooth-vod");
    let fixtures = media_fixtures();
    let mut refused = Vec::new();
    for f in &fixtures {
        for to in ["hds", "smooth"] {
            let out = dir.join(&format!("{f}.{to}"));
            let o = exec(
                mist()
                    .args(["remux", fixture(f).to_str().unwrap()])
                    .arg(&out)
                    .args(["--to", to, "-q"]),
            );
            if to == "smooth" && !smooth_carries(f) {
                // MP3-only files: Smooth carries H.264 and AAC. One line, exit 1, no folder.
                assert_eq!(o.status.code(), Some(1), "{f}");
                let err = String::from_utf8_lossy(&o.stderr);
                assert!(
                    err.contains("cannot carry") && err.lines().count() == 1,
                    "{err}"
                );
                assert!(!out.exists());
                refused.push(f.clone());
                continue;
            }
            assert!(
                o.status.success(),
                "{f} {to}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    assert_eq!(refused, vec!["cbr_id3.mp3", "mono_32k.mp3", "vbr_xing.mp3"]);
    let st = static_server(dir.path().to_path_buf());
    let fixtures_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let serve = Serve::start(&[fixtures_dir.to_str().unwrap()]);
    let http = serve.http.unwrap();
    for f in &fixtures {
        let folder = format!("{f}.hds");
        let a = crawl_hds(st.addr, &format!("/{folder}"));
        let b = crawl_hds(http, &format!("/dynamic/{f}"));
        assert_eq!(
            a.keys().cloned().collect::<Vec<_>>(),
            files_under(&dir.join(&folder)),
            "{folder}: everything remux wrote is reachable"
        );
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (k, v) in &a {
            assert!(
                v == &b[k],
                "{folder}/{k}: bytes differ ({} vs {})",
                v.len(),
                b[k].len()
            );
        }
        if refused.contains(f) {
            let r = get(
                http,
                &format!("/smooth/{f}.ism/Manifest"),
                &[],
                1 << 20,
                Duration::from_secs(30),
            );
            assert_eq!(r.status, 415, "{f}: not a server fault");
            continue;
        }
        let folder = format!("{f}.smooth");
        let a = crawl_smooth(st.addr, &format!("/{folder}"));
        assert_eq!(
            a.keys().cloned().collect::<Vec<_>>(),
            files_under(&dir.join(&folder)),
            "{folder}: everything remux wrote is reachable"
        );
        for base in [format!("/smooth/{f}.ism"), format!("/cmaf/{f}")] {
            let b = crawl_smooth(http, &base);
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{base}"
            );
            for (k, v) in &a {
                assert!(
                    v == &b[k],
                    "{base}/{k}: bytes differ ({} vs {})",
                    v.len(),
                    b[k].len()
                );
            }
        }
    }
    assert!(serve.terminate(Duration::from_secs(10)).is_some());
}

/// `mist analyse DIR --validate --json`: exit status and the report.
fn analyse(dir: &Path) -> (bool, serde_json::Value) {
    let o = exec(mist().args(["analyse", "--validate", "--json"]).arg(dir));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}: {}", dir.display(), String::from_utf8_lossy(&o.stderr)));
    (o.status.success(), v)
}

#[test]
fn packaged_folders_hold_every_packet_and_pass_analyse() {
    // Segments of at least 0.5 s: the 2 s fixtures (a key every second) get two fragments,
    // so times and continuity between fragments are checked too.
    let dir = TestDir::new("hds-smooth-analyse");
    for f in media_fixtures() {
        let Some(codecs) = sidecar_codecs(&f) else {
            continue;
        };
        let probe = ffprobe::sidecar(&f);
        for to in ["hds", "smooth"] {
            if to == "smooth" && !smooth_carries(&f) {
                continue;
            }
            let out = dir.join(&format!("{f}.{to}"));
            let o = exec(
                mist()
                    .args(["remux", fixture(&f).to_str().unwrap()])
                    .arg(&out)
                    .args(["--to", to, "-q", "--segment-duration", "0.5"]),
            );
            assert!(
                o.status.success(),
                "{f} {to}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let (ok, report) = analyse(&out);
            let findings = report["findings"].as_array().cloned().unwrap_or_default();
            if f.starts_with("jump_back.") || f == "pmt_change.ts" {
                // A timestamp jump in the source (a splice) is bridged by moving later times every track
                // alike, which leaves a gap of a few frames in some track. The manifests do not
                // mark it as a discontinuity yet, so the analyser reports exactly that gap.
                assert!(
                    findings.iter().all(|x| x["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("without a discontinuity"))),
                    "{f} {to}: {findings:?}"
                );
                continue;
            }
            assert!(ok, "{f} {to}: {}", report["findings"]);
            assert_eq!(findings.len(), 0, "{f} {to}: {findings:?}");
            // Packets per carried track, against ffprobe's count of the source's streams: HDS
            // carries the first video (H.264) and first audio track (AAC or MP3); Smooth
            // every H.264 and AAC track.
            // A multi-program TS (two_programs.ts): mist reads one program (the first unless
            // --program says; tests/ts.rs checks it) while ffprobe lists every program's
            // streams, so only the streams whose PID mist reads count.
            let pids_read: Option<Vec<u64>> = f.ends_with(".ts").then(|| {
                analyse_json(&fixture(&f), &[])["tracks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_u64().unwrap())
                    .collect()
            });
            let raw: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(ffprobe::sidecar_path(&f)).unwrap())
                    .unwrap();
            let pid = |i: usize| {
                raw["streams"][i]["id"]
                    .as_str()
                    .and_then(|p| u64::from_str_radix(p.trim_start_matches("0x"), 16).ok())
            };
            let mut want: Vec<(String, usize)> = Vec::new();
            let mut seen_audio = false;
            for s in &probe.streams {
                if let Some(read) = &pids_read {
                    if !pid(s.index).is_some_and(|p| read.contains(&p)) {
                        continue;
                    }
                }
                let carried = match (to, s.codec_type.as_str(), s.codec_name.as_str()) {
                    ("hds", "video", "h264") => true,
                    ("hds", "audio", "aac" | "mp3") if !seen_audio => {
                        seen_audio = true;
                        true
                    }
                    ("smooth", _, "h264" | "aac") => true,
                    _ => false,
                };
                if carried {
                    want.push((s.codec_name.clone(), probe.stream_packets(s.index).len()));
                }
            }
            let got: Vec<(String, usize)> = report["tracks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["codec"].as_str().unwrap().to_string(),
                        t["packets"].as_u64().unwrap() as usize,
                    )
                })
                .collect();
            assert_eq!(got, want, "{f} {to} ({codecs:?})");
        }
    }
}

#[test]
fn analyse_finds_broken_hds_and_smooth_folders() {
    let dir = TestDir::new("hds-smooth-broken");
    let src = fixture("h264_aac.flv");
    for to in ["hds", "smooth"] {
        let out = dir.join(to);
        let o = exec(mist().arg("remux").arg(&src).arg(&out).args([
            "--to",
            to,
            "-q",
            "--segment-duration",
            "0.5",
        ]));
        assert!(o.status.success());
        assert!(analyse(&out).0);
    }
    let findings = |d: &Path| -> String {
        let (ok, r) = analyse(d);
        assert!(!ok, "{}", r["findings"]);
        r["findings"].to_string()
    };
    // HDS: a fragment gone, then one whose mfhd number is wrong, then a bootstrap that lies
    // about a fragment's start time.
    let hds = dir.join("hds");
    let frag2 = std::fs::read(hds.join("1-Seg1-Frag2")).unwrap();
    std::fs::remove_file(hds.join("1-Seg1-Frag2")).unwrap();
    assert!(findings(&hds).contains("1-Seg1-Frag2"));
    let mut bad = frag2.clone();
    // afra (33 bytes: one keyframe entry) then moof: size, 'moof', mfhd size, 'mfhd',
    // version/flags, sequence_number at bytes 33+20..33+24.
    assert_eq!(&bad[33 + 12..33 + 16], b"mfhd");
    bad[33 + 23] = 9;
    std::fs::write(hds.join("1-Seg1-Frag2"), &bad).unwrap();
    assert!(findings(&hds).contains("mfhd sequence number"));
    std::fs::write(hds.join("1-Seg1-Frag2"), &frag2).unwrap();
    assert!(analyse(&hds).0);
    // The bootstrap file and the inline copy no longer agree.
    let abst = std::fs::read(hds.join("1.abst")).unwrap();
    let mut b = abst.clone();
    let last = b.len() - 1;
    b[last] ^= 1;
    std::fs::write(hds.join("1.abst"), &b).unwrap();
    assert!(findings(&hds).contains("differs"));
    std::fs::write(hds.join("1.abst"), &abst).unwrap();
    // Smooth: the manifest's d of a fragment changed; then a sample cut short.
    let sm = dir.join("smooth");
    let text = std::fs::read_to_string(sm.join("Manifest")).unwrap();
    let changed = text.replacen("d=\"10000000\"", "d=\"10400000\"", 1);
    assert_ne!(changed, text);
    std::fs::write(sm.join("Manifest"), &changed).unwrap();
    let f = findings(&sm);
    assert!(
        f.contains("tfxd duration") && f.contains("samples last"),
        "{f}"
    );
    std::fs::write(sm.join("Manifest"), &text).unwrap();
    let q = std::fs::read_dir(&sm)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.is_dir()
                && std::fs::read_dir(p)
                    .unwrap()
                    .any(|e| e.unwrap().file_name().to_string_lossy().contains("video"))
        })
        .unwrap();
    let vf = q.join("Fragments(video=0)");
    let mut v = std::fs::read(&vf).unwrap();
    let n = v.len();
    v.truncate(n - 7);
    std::fs::write(&vf, &v).unwrap();
    assert!(findings(&sm).contains("Fragments(video=0)"));
}

#[test]
fn bad_requests_for_files_get_4xx_and_the_server_keeps_serving() {
    let fixtures_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let serve = Serve::start(&[fixtures_dir.to_str().unwrap()]);
    let http = serve.http.unwrap();
    // The presentations as served: one fragment each (2 s, keys every second, 1.9 s cuts).
    let hds = crawl_hds(http, "/dynamic/h264_aac.flv");
    assert!(hds.contains_key("1-Seg1-Frag1") && !hds.contains_key("1-Seg1-Frag2"));
    let sm = crawl_smooth(http, "/smooth/h264_aac.flv.ism");
    let video = sm.keys().find(|k| k.contains("video")).unwrap().clone();
    let q = video.split('/').next().unwrap().to_string();
    let long = "9".repeat(4000);
    for path in [
        "/dynamic/h264_aac.flv/1-Seg1-Frag0".to_string(),
        "/dynamic/h264_aac.flv/1-Seg1-Frag2".to_string(),
        "/dynamic/h264_aac.flv/1-Seg1-Frag18446744073709551616".to_string(),
        "/dynamic/h264_aac.flv/1-Seg1-Frag-1".to_string(),
        format!("/dynamic/h264_aac.flv/1-Seg1-Frag{long}"),
        "/dynamic/h264_aac.flv/2-Seg1-Frag1".to_string(),
        "/dynamic/h264_aac.flv/1-Seg2-Frag1".to_string(),
        "/dynamic/h264_aac.flv/7.abst".to_string(),
        "/dynamic/h264_aac.flv/../h264_aac.flv".to_string(),
        "/dynamic/nosuch.flv/manifest.f4m".to_string(),
        format!("/smooth/h264_aac.flv.ism/{q}/Fragments(video=1)"),
        format!("/smooth/h264_aac.flv.ism/{q}/Fragments(audio=0)"),
        format!("/smooth/h264_aac.flv.ism/{q}/Fragments(video=18446744073709551616)"),
        format!("/smooth/h264_aac.flv.ism/{q}/Fragments(video=-1)"),
        "/smooth/h264_aac.flv.ism/QualityLevels(1)/Fragments(video=0)".to_string(),
        format!("/smooth/h264_aac.flv.ism/QualityLevels({long})/Fragments(video=0)"),
        "/smooth/h264_aac.flv/Manifest".to_string(),
        "/smooth/h264_aac.flv.ism/manifest".to_string(),
        format!("/smooth/h264_aac.flv.ism/{q}"),
        "/cmaf/h264_aac.flv/QualityLevels(1)/Fragments(video=0)".to_string(),
    ] {
        let r = get(http, &path, &[], 1 << 20, Duration::from_secs(30));
        assert!((400..500).contains(&r.status), "{path}: {}", r.status);
    }
    // Still healthy, and the same bytes as before.
    assert_eq!(crawl_hds(http, "/dynamic/h264_aac.flv"), hds);
    assert_eq!(crawl_smooth(http, "/smooth/h264_aac.flv.ism"), sm);
    // Ranges and conditional requests on fragments, as for HLS segments.
    let path = "/dynamic/h264_aac.flv/1-Seg1-Frag1";
    let full = get(http, path, &[], 1 << 20, Duration::from_secs(30));
    let etag = full.header("etag").unwrap().to_string();
    let part = get(
        http,
        path,
        &[("Range", "bytes=4-7")],
        1 << 20,
        Duration::from_secs(30),
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, b"afra");
    let cached = get(
        http,
        path,
        &[("If-None-Match", &etag)],
        1 << 20,
        Duration::from_secs(30),
    );
    assert_eq!(cached.status, 304);
    assert!(full.header("cache-control").unwrap().contains("immutable"));
    let m = get(
        http,
        "/dynamic/h264_aac.flv/manifest.f4m",
        &[],
        1 << 20,
        Duration::from_secs(30),
    );
    assert!(!m.header("cache-control").unwrap().contains("immutable"));
    assert_eq!(m.header("content-type"), Some("application/f4m+xml"));
    assert!(serve.terminate(Duration::from_secs(10)).is_some());
}

#[test]
fn truncated_and_flipped_manifests_bootstraps_and_fragments_are_refused_without_panics() {
    // Every file of both folders, cut at every offset (a stride on the larger ones) and with
    // bits flipped (fixed seed): the parsers return an error or a value, never panic, and an
    // error's offset stays within the input.
    let dir = TestDir::new("hds-smooth-malformed");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for to in ["hds", "smooth"] {
        let out = dir.join(to);
        let o = exec(
            mist()
                .arg("remux")
                .arg(fixture("h264_aac.flv"))
                .arg(&out)
                .args(["--to", to, "-q", "--segment-duration", "0.5"]),
        );
        assert!(o.status.success());
        for f in files_under(&out) {
            files.push((f.clone(), std::fs::read(out.join(&f)).unwrap()));
        }
    }
    let check = |name: &str, data: &[u8]| {
        let b = Bytes::copy_from_slice(data);
        if let Err(e) = Abst::parse_box(&b) {
            assert!(e.offset <= data.len() as u64, "{name}");
        }
        if let Err(e) = mist::package::hds::fragment::parse(&b) {
            assert!(e.offset <= data.len() as u64, "{name}");
        }
        if let Err(e) = mist::package::smooth::fragment::parse(&b) {
            assert!(e.offset <= data.len() as u64, "{name}");
        }
        let _ = f4m::parse(data);
        let _ = ssm::parse(data);
    };
    let mut seed: u64 = 0x5eed;
    for (name, data) in &files {
        let stride = (data.len() / 2000).max(1);
        for cut in (0..data.len()).step_by(stride) {
            check(name, &data[..cut]);
        }
        for _ in 0..200 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut d = data.clone();
            let at = (seed >> 33) as usize % d.len();
            d[at] ^= 1 << ((seed >> 29) & 7);
            check(name, &d);
        }
    }
}
