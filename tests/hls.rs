//! `mist remux IN DIR/ --to hls|hls-fmp4`, `mist serve` of files under `/hls/` and `/cmaf/`,
//! and `mist analyse` of packaged folders.
//!
//! The main oracle is an equality the design promises: a folder written by remux and served
//! by any static file server answers byte for byte what `mist serve` answers for the same
//! file, for every committed fixture. Both are crawled over HTTP from the master playlist, so
//! every playlist, init segment and media segment a player would fetch is compared. The
//! static server here is a few lines over `std::net` that sends files as they are on disk.
//! The segments themselves are judged by mist's demuxers (PAT/PMT first, keyframes, packet
//! counts equal to the source's) and, with `--features interop`, by ffmpeg and hls.js.

mod util;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mist::package::hls::parse::{parse, Playlist};
use util::serve::{get, Serve};
use util::statics::static_server;
use util::*;

/// Runs a command to its end.
fn exec(cmd: &mut std::process::Command) -> std::process::Output {
    cmd.output().expect("run mist")
}

/// Every file a player reaches from `base/index.m3u8`, by its path below `base`.
fn crawl(addr: SocketAddr, base: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut queue = vec!["index.m3u8".to_string()];
    while let Some(rel) = queue.pop() {
        if out.contains_key(&rel) {
            continue;
        }
        let r = get(
            addr,
            &format!("{base}/{rel}"),
            &[],
            64 << 20,
            Duration::from_secs(60),
        );
        assert_eq!(
            r.status,
            200,
            "{base}/{rel}: {}",
            String::from_utf8_lossy(&r.body)
        );
        if rel.ends_with(".m3u8") {
            let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
            let text = String::from_utf8(r.body.clone()).unwrap();
            let (p, problems) = parse(&text);
            assert!(
                problems.iter().all(|p| !p.error),
                "{base}/{rel}: {problems:?}"
            );
            let mut uris: Vec<String> = Vec::new();
            match p.unwrap() {
                Playlist::Master(m) => {
                    uris.extend(m.variants.iter().map(|v| v.uri.clone()));
                    uris.extend(
                        m.renditions
                            .iter()
                            .filter_map(|r| r.get("URI").map(String::from)),
                    );
                }
                Playlist::Media(m) => {
                    for s in &m.segments {
                        uris.push(s.uri.clone());
                        uris.extend(s.map.clone());
                    }
                }
            }
            for u in uris {
                queue.push(if dir.is_empty() {
                    u
                } else {
                    format!("{dir}/{u}")
                });
            }
        }
        out.insert(rel, r.body);
    }
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
                let rel = p
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn remux_output_served_statically_is_byte_identical_to_serve_vod_for_every_fixture() {
    let dir = TestDir::new("hls-vod");
    let fixtures = media_fixtures();
    for f in &fixtures {
        for to in ["hls", "hls-fmp4"] {
            let out = dir.join(&format!("{f}.{to}"));
            let o = exec(
                mist()
                    .args(["remux", fixture(f).to_str().unwrap()])
                    .arg(&out)
                    .args(["--to", to, "-q"]),
            );
            assert!(
                o.status.success(),
                "{f} {to}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
    let st = static_server(dir.path().to_path_buf());
    let fixtures_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let serve = Serve::start(&[fixtures_dir.to_str().unwrap()]);
    let http = serve.http.unwrap();
    for f in &fixtures {
        for (to, prefix) in [("hls", "hls"), ("hls-fmp4", "cmaf")] {
            let folder = format!("{f}.{to}");
            let a = crawl(st.addr, &format!("/{folder}"));
            let b = crawl(http, &format!("/{prefix}/{f}"));
            // Everything remux wrote is reachable from the master playlist.
            assert_eq!(
                a.keys().cloned().collect::<Vec<_>>(),
                files_under(&dir.join(&folder)),
                "{folder}"
            );
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{folder}: the same files"
            );
            for (k, v) in &a {
                assert!(
                    v == &b[k],
                    "{folder}/{k}: bytes differ ({} vs {})",
                    v.len(),
                    b[k].len()
                );
            }
        }
    }
    // SIGTERM: the server removes its cache folder on the way out.
    assert!(serve.terminate(Duration::from_secs(10)).is_some());
}

#[test]
fn remux_to_hls_cuts_at_keyframes_and_keeps_every_packet() {
    // h264_aac.ts: 2 s at 25 fps with a key every second, audio 48 kHz; from 1.4 s.
    let dir = TestDir::new("hls-cut");
    let out = dir.join("out");
    let o = exec(
        mist()
            .args(["remux", fixture("h264_aac.ts").to_str().unwrap()])
            .arg(&out)
            .args(["--to", "hls", "--segment-duration", "0.5"]),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Nothing beside the folder: the temporary one was renamed.
    assert_eq!(dir.files(), vec!["out"]);
    let media = std::fs::read_to_string(out.join("256_257/index.m3u8")).unwrap();
    let (p, problems) = parse(&media);
    assert!(problems.is_empty(), "{problems:?}");
    let Some(Playlist::Media(m)) = p else {
        panic!()
    };
    // Keys at 1.4 s and 2.4 s (ffprobe of the fixture): two segments, named by their times.
    let uris: Vec<&str> = m.segments.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(uris[0], "1400_2400.ts");
    assert!(uris[1].starts_with("2400_"), "{uris:?}");
    assert_eq!(m.playlist_type.as_deref(), Some("VOD"));
    assert!(m.endlist);
    // Each segment: PAT, PMT, then a keyframe; together every packet of the source.
    let src = ffprobe::sidecar("h264_aac.ts").packets;
    let mut total = 0usize;
    for s in &m.segments {
        let bytes = std::fs::read(out.join("256_257").join(&s.uri)).unwrap();
        let pid = |k: usize| u16::from_be_bytes([bytes[k * 188 + 1], bytes[k * 188 + 2]]) & 0x1FFF;
        assert_eq!((pid(0), pid(1)), (0, 0x1000));
        let f = dir.join("seg.ts");
        std::fs::write(&f, &bytes).unwrap();
        let mut d = mist::pipeline::open(&f).unwrap();
        let video = d.meta().tracks[0].id;
        let mut first_video = None;
        while let Some(pk) = d.next_packet().unwrap() {
            if pk.track == video && first_video.is_none() {
                first_video = Some(pk.keyframe);
            }
            total += 1;
        }
        assert_eq!(first_video, Some(true), "{}", s.uri);
    }
    assert_eq!(total, src.len(), "every packet of the source, once");
}

#[test]
fn remux_to_a_folder_refuses_what_it_should_and_leaves_nothing_on_failure() {
    let dir = TestDir::new("hls-cli");
    let input = fixture("h264_aac.flv");
    let out = dir.join("out");
    // No packaging named: a usage error.
    let o = exec(mist().args([
        "remux",
        input.to_str().unwrap(),
        &format!("{}/", out.display()),
    ]));
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = exec(
        mist()
            .args(["remux", input.to_str().unwrap()])
            .arg(&out)
            .args(["--to", "hls", "--segment-duration", "0"]),
    );
    assert_eq!(o.status.code(), Some(2));
    // Bad input: exit 1 with one line, and no folder, temporary or final.
    let bad = dir.join("bad.flv");
    std::fs::write(
        &bad,
        b"FLV\x01\x05\x00\x00\x00\x09garbage that is not a tag",
    )
    .unwrap();
    let o = exec(
        mist()
            .args(["remux", bad.to_str().unwrap()])
            .arg(&out)
            .args(["--to", "hls"]),
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).lines().count(),
        1,
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(dir.files(), vec!["bad.flv"]);
    // A folder that holds something is kept unless --force.
    let o = exec(
        mist()
            .args(["remux", input.to_str().unwrap()])
            .arg(&out)
            .args(["--to", "hls"]),
    );
    assert!(o.status.success());
    let o = exec(
        mist()
            .args(["remux", input.to_str().unwrap()])
            .arg(&out)
            .args(["--to", "hls-fmp4"]),
    );
    // An existing output is a usage error (exit 2), for folders as for files.
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("exists (use --force to overwrite)"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.join("1_2/index.m3u8").exists());
    let o = exec(
        mist()
            .args(["remux", input.to_str().unwrap()])
            .arg(&out)
            .args(["--to", "hls-fmp4", "--force"]),
    );
    assert!(o.status.success());
    assert!(out.join("1/init.m4s").exists() && !out.join("1_2").exists());
    assert_eq!(dir.files(), vec!["bad.flv", "out"]);
}

#[test]
fn analyse_validates_packaged_folders_and_finds_what_is_broken() {
    let dir = TestDir::new("hls-analyse");
    let out = dir.join("pkg");
    let o = exec(
        mist()
            .args(["remux", fixture("h264_aac.ts").to_str().unwrap()])
            .arg(&out)
            .args(["--to", "hls", "--segment-duration", "0.5"]),
    );
    assert!(o.status.success());
    let o = exec(
        mist()
            .arg("analyse")
            .arg(&out)
            .args(["--validate", "--json"]),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format"], "hls");
    assert_eq!(v["findings"].as_array().unwrap().len(), 0, "{v}");
    // Packet counts as ffprobe gives them for the source (tracks counted once).
    let src = ffprobe::sidecar("h264_aac.ts").packets;
    let counted: u64 = v["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["packets"].as_u64().unwrap())
        .sum();
    assert_eq!(counted as usize, src.len());

    // An EXTINF above the target duration: an error of the playlist (RFC 8216 §4.3.3.1).
    let media = out.join("256_257/index.m3u8");
    let good = std::fs::read_to_string(&media).unwrap();
    std::fs::write(&media, good.replacen("#EXTINF:1.000,", "#EXTINF:1.600,", 1)).unwrap();
    let o = exec(
        mist()
            .arg("analyse")
            .arg(out.join("index.m3u8"))
            .arg("--validate"),
    );
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("above EXT-X-TARGETDURATION"), "{text}");
    assert!(
        text.contains("EXTINF says 1600 ms, the segment lasts 1000 ms"),
        "{text}"
    );
    // The second segment swapped for the first: time goes back, and the CODECS check still
    // passes.
    std::fs::write(&media, &good).unwrap();
    let segs: Vec<String> = good
        .lines()
        .filter(|l| l.ends_with(".ts"))
        .map(String::from)
        .collect();
    std::fs::copy(
        out.join("256_257").join(&segs[0]),
        out.join("256_257").join(&segs[1]),
    )
    .unwrap();
    let o = exec(mist().arg("analyse").arg(&out).arg("--validate"));
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("not after the previous segment's last packet"),
        "{text}"
    );
    // A declared codec that the segments do not hold.
    let master = out.join("index.m3u8");
    let m = std::fs::read_to_string(&master).unwrap();
    std::fs::write(&master, m.replace("avc1.64000d", "avc1.42e01e")).unwrap();
    let o = exec(mist().arg("analyse").arg(&out).arg("--validate"));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("which CODECS"), "{text}");
    // A missing segment.
    std::fs::remove_file(out.join("256_257").join(&segs[1])).unwrap();
    let o = exec(mist().arg("analyse").arg(&out).arg("--validate"));
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn served_segments_answer_ranges_and_conditional_requests() {
    let serve = Serve::start(&[Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .to_str()
        .unwrap()]);
    let http = serve.http.unwrap();
    let path = "/hls/h264_aac.flv/1_2/0_2085.ts";
    let whole = get(http, path, &[], 1 << 20, Duration::from_secs(30));
    assert_eq!(whole.status, 200);
    assert_eq!(whole.header("content-type"), Some("video/mp2t"));
    assert_eq!(
        whole.header("content-length"),
        Some(whole.body.len().to_string().as_str())
    );
    assert!(whole.header("cache-control").unwrap().contains("immutable"));
    assert!(whole.header("last-modified").unwrap().ends_with(" GMT"));
    let etag = whole.header("etag").unwrap().to_string();
    let part = get(
        http,
        path,
        &[("Range", "bytes=188-375")],
        1 << 20,
        Duration::from_secs(10),
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.body, whole.body[188..376]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 188-375/{}", whole.body.len()).as_str())
    );
    let past = get(
        http,
        path,
        &[("Range", "bytes=99999999-")],
        1 << 20,
        Duration::from_secs(10),
    );
    assert_eq!(past.status, 416);
    let same = get(
        http,
        path,
        &[("If-None-Match", &etag)],
        1 << 20,
        Duration::from_secs(10),
    );
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());
    let pl = get(
        http,
        "/hls/h264_aac.flv/index.m3u8",
        &[],
        1 << 20,
        Duration::from_secs(10),
    );
    assert_eq!(
        pl.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert!(!pl.header("cache-control").unwrap().contains("immutable"));
    let head = util::serve::request(http, "HEAD", path, &[], 1 << 20, Duration::from_secs(10));
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(whole.body.len().to_string().as_str())
    );
    assert!(head.body.is_empty());
    // Not there: 404s, and the server goes on.
    for bad in [
        "/hls/h264_aac.flv/1_2/0_1.ts",
        "/hls/h264_aac.flv/9/index.m3u8",
        "/hls/nope.flv/index.m3u8",
        "/cmaf/h264_aac.flv/1/../../x",
    ] {
        assert_eq!(
            get(http, bad, &[], 1 << 20, Duration::from_secs(10)).status,
            404,
            "{bad}"
        );
    }
    assert_eq!(
        get(http, path, &[], 1 << 20, Duration::from_secs(10)).status,
        200
    );
    assert!(serve.terminate(Duration::from_secs(10)).is_some());
}

#[test]
fn damaged_files_are_packaged_from_what_salvage_reads_by_remux_and_serve_alike() {
    // Oracle: `convert --salvage` of the same file, whose packets tests/damage.rs checks
    // against the bytes the damage left untouched. The segments of `remux --salvage` hold
    // the same packets, and `mist serve` answers the same bytes as that folder (a damaged
    // file is packaged from a salvage pass instead of answering 500).
    let dir = TestDir::new("hls-damaged");
    let names = ["truncated.ts", "truncated.mp3", "crc_lc_blocks_damaged.aac"];
    for name in names {
        let src = fixture(name);
        let out = dir.join(&format!("{name}.hls"));
        let strict = exec(
            mist()
                .args(["remux", src.to_str().unwrap()])
                .arg(&out)
                .args(["--to", "hls"]),
        );
        let err = String::from_utf8_lossy(&strict.stderr);
        assert_eq!(strict.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("--salvage"), "{name}: {err}");
        assert!(!out.exists(), "{name}: nothing written when refused");
        let o = exec(
            mist()
                .args(["remux", src.to_str().unwrap()])
                .arg(&out)
                .args(["--to", "hls", "--salvage"]),
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{name}: {err}");
        assert!(err.contains("salvaged"), "{name}: {err}");
        // Every media segment, in playlist order, concatenated: a TS stream.
        let mut joined = Vec::new();
        for f in files_under(&out) {
            if f.ends_with("index.m3u8") && f.contains('/') {
                let text = std::fs::read_to_string(out.join(&f)).unwrap();
                let Some(Playlist::Media(m)) = parse(&text).0 else {
                    panic!("{f}")
                };
                let folder = out.join(f.rsplit_once('/').unwrap().0);
                for s in &m.segments {
                    joined.extend(std::fs::read(folder.join(&s.uri)).unwrap());
                }
            }
        }
        let seg = dir.join(&format!("{name}.segments.ts"));
        std::fs::write(&seg, &joined).unwrap();
        let whole = dir.join(&format!("{name}.salvaged.ts"));
        mist_ok(&[
            "convert",
            "-q",
            src.to_str().unwrap(),
            whole.to_str().unwrap(),
            "--salvage",
        ]);
        let count = |p: &Path| {
            analyse_json(p, &["--detail", "1"])["packets"]
                .as_array()
                .unwrap()
                .len()
        };
        let want = count(&whole);
        assert!(want > 0, "{name}");
        assert_eq!(count(&seg), want, "{name}: packets of the segments");
    }
    let st = static_server(dir.path().to_path_buf());
    let fixtures_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let serve = Serve::start(&[fixtures_dir.to_str().unwrap()]);
    let http = serve.http.unwrap();
    for name in names {
        let a = crawl(st.addr, &format!("/{name}.hls"));
        let b = crawl(http, &format!("/hls/{name}"));
        assert!(!a.is_empty(), "{name}");
        assert_eq!(a, b, "{name}: served as remux wrote it");
    }
    assert!(serve.terminate(Duration::from_secs(10)).is_some());
}
