//! HDS and Smooth Streaming fetched by a real client (issue 15): yt-dlp downloads the HDS and
//! the Smooth presentations of VOD fixtures from `mist serve` and from a static server over
//! `mist remux` folders (two fragments per track there), and ffprobe and ffmpeg read what it
//! wrote.
//!
//! Oracles: ffprobe of the fixture itself (codecs, packets per stream, start time, duration)
//! against ffprobe of the download, and ffmpeg's decoders (`-v error` prints nothing). yt-dlp
//! joins HDS fragments' `mdat` bodies into one FLV and Smooth fragments behind a `moov` it
//! builds from the manifest (`CodecPrivateData`, `TimeScale`), so both the fragments and the
//! manifests are what is judged.
//!
//! Live: ffmpeg decodes the HDS fragments of a live window joined as yt-dlp joins them, and
//! a live Smooth video track's fragments behind an init segment made from its manifest's
//! `CodecPrivateData` (what a Smooth client does), with no error and every frame once.
//!
//! yt-dlp comes from PyPI at test time (`pip install --target` into a temporary folder;
//! `.ci/run` does the same, nothing is committed). Compiled only with `--features interop`;
//! needs python3 with pip, ffmpeg and ffprobe, and fails loudly without.
#![cfg(feature = "interop")]

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use mist::dtsc::{Packet, Timebase, Track};
use mist::serve::config::{Config, StreamConfig};
use mist::serve::hub::Client;
use mist::serve::{Server, Settings};
use serde_json::Value;
use util::serve::{get, Serve};
use util::statics::static_server;
use util::*;

/// yt-dlp from PyPI, installed once per test run into a temporary folder; its path for
/// `PYTHONPATH`.
fn yt_dlp() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pip-yt-dlp");
    if !dir.join("yt_dlp").is_dir() {
        let pip = Command::new("python3")
            .args(["-m", "pip", "--version"])
            .output();
        assert!(
            pip.is_ok_and(|o| o.status.success()),
            "interop test needs python3 with pip (Debian: apt-get install -y python3-pip)"
        );
        std::fs::create_dir_all(&dir).unwrap();
        let o = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&dir)
            .arg("yt-dlp")
            .output()
            .expect("run pip");
        assert!(
            o.status.success(),
            "pip install yt-dlp failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    dir
}

/// Runs yt-dlp on `url`, writing into `out` (formats kept apart: `-k`); returns the files it
/// left there.
fn download(url: &str, out: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(out).unwrap();
    let o = Command::new("python3")
        .env("PYTHONPATH", yt_dlp())
        .args([
            "-m",
            "yt_dlp",
            "--ignore-config",
            "--no-cache-dir",
            "--no-progress",
            "-k",
        ])
        .args(["-o", "%(format_id)s.%(ext)s", "-P"])
        .arg(out)
        .arg(url)
        .output()
        .expect("run yt-dlp");
    assert!(
        o.status.success(),
        "yt-dlp {url}:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut v: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.extension().is_some_and(|e| e == "part" || e == "ytdl"))
        .collect();
    v.sort();
    v
}

/// One stream as ffprobe sees it: codec, packets, and from the packets its first
/// presentation time and where its last packet ends (s).
#[derive(Debug)]
struct Stream {
    codec: String,
    kind: String,
    packets: u64,
    start: f64,
    end: f64,
}

fn probe(path: &Path) -> (Vec<Stream>, f64) {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-show_entries",
        ])
        .args(["packet=stream_index,pts_time,duration_time", "-of", "json"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        o.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let f = |x: &Value| x.as_str().and_then(|s| s.parse::<f64>().ok());
    let mut streams: Vec<Stream> = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Stream {
            codec: s["codec_name"].as_str().unwrap_or("").to_string(),
            kind: s["codec_type"].as_str().unwrap_or("").to_string(),
            packets: 0,
            start: f64::INFINITY,
            end: f64::NEG_INFINITY,
        })
        .collect();
    for p in v["packets"].as_array().unwrap() {
        let i = p["stream_index"].as_u64().unwrap() as usize;
        let s = &mut streams[i];
        s.packets += 1;
        if let Some(t) = f(&p["pts_time"]) {
            s.start = s.start.min(t);
            s.end = s.end.max(t + f(&p["duration_time"]).unwrap_or(0.0));
        }
    }
    (streams, f(&v["format"]["duration"]).unwrap_or(f64::NAN))
}

/// `ffmpeg -v error -i FILE -f null -` prints nothing.
fn decodes_cleanly(path: &Path) {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The download carries the fixture's stream of that kind: its codec, every packet, its
/// start time, and its end within `frame` (FLV keeps ms; a last packet's duration is
/// inferred differently by each container).
fn same_stream(what: &str, got: &Stream, want: &Stream, frame: f64) {
    assert_eq!(got.codec, want.codec, "{what}");
    assert_eq!(got.packets, want.packets, "{what}: packets");
    assert!(
        (got.start - want.start).abs() <= 0.001,
        "{what}: starts at {} s, the fixture at {} s",
        got.start,
        want.start
    );
    assert!(
        (got.end - want.end).abs() <= frame,
        "{what}: ends at {} s, the fixture at {} s",
        got.end,
        want.end
    );
}

/// Fixtures downloaded: H.264 + AAC from FLV (times from 0) and from TS (from 1.4 s).
const FIXTURES: [&str; 2] = ["h264_aac.flv", "h264_aac.ts"];

fn check_hds(name: &str, files: &[PathBuf], fixture_streams: &[Stream], fixture_span: f64) {
    assert_eq!(files.len(), 1, "{name}: {files:?}");
    let flv = &files[0];
    assert_eq!(flv.extension().unwrap(), "flv");
    let (streams, duration) = probe(flv);
    assert_eq!(streams.len(), 2, "{name}: {streams:?}");
    for want in fixture_streams {
        let got = streams.iter().find(|s| s.kind == want.kind).unwrap();
        same_stream(&format!("{name} HDS {}", want.kind), got, want, 0.05);
    }
    // The whole presentation (the manifest's onMetaData duration): from the fixture's first
    // presented packet to the end of its last (ffprobe's own format duration of a file is
    // defined differently per container: FLV counts from 0, TS from the start).
    assert!(
        (duration - fixture_span).abs() <= 0.002,
        "{name}: {duration} s vs {fixture_span} s"
    );
    decodes_cleanly(flv);
}

fn check_smooth(name: &str, files: &[PathBuf], fixture_streams: &[Stream]) {
    // One file per track (kept with -k) and the merge of both.
    let ismv = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "ismv"))
        .unwrap();
    let isma = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "isma"))
        .unwrap();
    for (file, kind) in [(ismv, "video"), (isma, "audio")] {
        let (streams, _) = probe(file);
        assert_eq!(streams.len(), 1, "{name}: {streams:?}");
        let want = fixture_streams.iter().find(|s| s.kind == kind).unwrap();
        same_stream(&format!("{name} Smooth {kind}"), &streams[0], want, 0.05);
        decodes_cleanly(file);
    }
    let merged = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "mp4"))
        .unwrap();
    let (streams, _) = probe(merged);
    for want in fixture_streams {
        let got = streams.iter().find(|s| s.kind == want.kind).unwrap();
        assert_eq!(
            (got.codec.as_str(), got.packets),
            (want.codec.as_str(), want.packets),
            "{name} merged"
        );
    }
    decodes_cleanly(merged);
}

#[test]
fn yt_dlp_downloads_hds_and_smooth_of_files_from_mist_serve_and_from_remux_folders() {
    let dir = TestDir::new("interop-hds-smooth");
    let fixtures_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let serve = Serve::start(&[fixtures_dir.to_str().unwrap()]);
    let base = serve.base();
    // Remux folders with 0.5 s segments (two fragments per track), served statically.
    let folders = dir.join("folders");
    std::fs::create_dir_all(&folders).unwrap();
    for f in FIXTURES {
        for to in ["hds", "smooth"] {
            let o = mist()
                .args(["remux", fixture(f).to_str().unwrap()])
                .arg(folders.join(format!("{f}.{to}")))
                .args(["--to", to, "-q", "--segment-duration", "0.5"])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let st = static_server(folders.clone());
    let static_base = format!("http://{}", st.addr);
    for f in FIXTURES {
        let (fixture_streams, _) = probe(&fixture(f));
        let span = fixture_streams
            .iter()
            .map(|s| s.end)
            .fold(f64::MIN, f64::max)
            - fixture_streams
                .iter()
                .map(|s| s.start)
                .fold(f64::MAX, f64::min);
        for (label, url) in [
            ("serve", format!("{base}/dynamic/{f}/manifest.f4m")),
            ("remux", format!("{static_base}/{f}.hds/manifest.f4m")),
        ] {
            let files = download(&url, &dir.join(&format!("{f}-{label}-hds")));
            check_hds(&format!("{f} ({label})"), &files, &fixture_streams, span);
        }
        for (label, url) in [
            ("serve", format!("{base}/smooth/{f}.ism/Manifest")),
            ("cmaf", format!("{base}/cmaf/{f}/Manifest")),
            ("remux", format!("{static_base}/{f}.smooth/Manifest")),
        ] {
            let files = download(&url, &dir.join(&format!("{f}-{label}-smooth")));
            check_smooth(&format!("{f} ({label})"), &files, &fixture_streams);
        }
    }
    assert!(serve.terminate(Duration::from_secs(10)).is_some());
}

/// Fetches `path` from `http` (200 expected).
fn fetch(http: std::net::SocketAddr, path: &str) -> Vec<u8> {
    let r = get(http, path, &[], 64 << 20, Duration::from_secs(20));
    assert_eq!(r.status, 200, "{path}");
    r.body
}

/// ffprobe's per-packet decode times of `path`: (stream index, dts).
fn dts_list(path: &Path) -> Vec<(u64, i64)> {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=stream_index,dts",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["stream_index"].as_u64()?, ffprobe::num(p.get("dts"))?)))
        .collect()
}

#[test]
fn ffmpeg_reads_live_hds_and_smooth_fragments_joined() {
    // A live stream published faster than real time: 10 loops of the 2 s fixture.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = Config::default();
    config.streams.insert(
        "live".into(),
        StreamConfig {
            name: "live".into(),
            source: "push://".into(),
            dvr: Some(60_000),
            ..StreamConfig::default()
        },
    );
    let server = rt
        .block_on(Server::bind(Settings {
            http: Some("127.0.0.1:0".parse().unwrap()),
            config,
            ..Settings::default()
        }))
        .unwrap();
    let hub = server.hub().clone();
    let http = server.bound().http.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let mut d = mist::pipeline::open(&fixture("h264_aac.flv")).unwrap();
    let tracks: Vec<Track> = d.meta().tracks.clone();
    let mut packets: Vec<Packet> = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        let tb = tracks.iter().find(|t| t.id == p.track).unwrap().timebase;
        if tb.rescale(p.dts.0, Timebase::MS) < 2000 {
            packets.push(p);
        }
    }
    let client = Client {
        peer: "127.0.0.1:1".parse().unwrap(),
        protocol: "TEST",
    };
    let mut publisher = hub.publish("live", client, &[]).unwrap();
    publisher.set_tracks(tracks.clone());
    for i in 0..10 {
        for p in &packets {
            let tb = tracks.iter().find(|t| t.id == p.track).unwrap().timebase;
            let mut q = p.clone();
            q.dts = q.dts + Timebase::MS.rescale(i * 2000, tb);
            assert!(publisher.push(q));
        }
    }
    let dir = TestDir::new("interop-hds-smooth-live");

    // HDS: FLV header + every listed fragment's mdat body.
    let abst = mist::package::hds::boxes::Abst::parse_box(&Bytes::from(fetch(
        http,
        "/dynamic/live/1.abst",
    )))
    .unwrap();
    let frags = mist::package::hds::bootstrap::listed(
        &abst.fragment_tables[0],
        u32::MAX,
        Some(abst.current_media_time),
    );
    assert!(frags.len() >= 6, "{frags:?}");
    let mut flv = mist::package::hds::fragment::flv_header(true, true).to_vec();
    for f in &frags {
        let body = fetch(http, &format!("/dynamic/live/1-Seg1-Frag{}", f.fragment));
        flv.extend_from_slice(
            &mist::package::hds::fragment::parse(&Bytes::from(body))
                .unwrap()
                .mdat,
        );
    }
    let path = dir.join("live.flv");
    std::fs::write(&path, &flv).unwrap();
    decodes_cleanly(&path);
    let listed_ms: u64 = frags.iter().map(|f| u64::from(f.duration)).sum();
    let dts = dts_list(&path);
    let video: Vec<i64> = dts
        .iter()
        .filter(|(s, _)| *s == 0)
        .map(|(_, d)| *d)
        .collect();
    assert_eq!(
        video.len() as u64,
        listed_ms / 40,
        "every frame of the window once"
    );
    assert!(video.windows(2).all(|w| w[1] > w[0]));

    // Smooth video: an init segment from the manifest's CodecPrivateData, then the fragments.
    let text = fetch(http, "/smooth/live.ism/Manifest");
    let (m, _) = mist::package::smooth::manifest::parse(&text);
    let m = m.unwrap();
    let v = m.streams.iter().find(|s| s.kind == "video").unwrap();
    let q = &v.qualities[0];
    let cfg = mist::codec::h264::AvcConfig::from_annexb_parameter_sets(
        &Bytes::from(q.private.clone().unwrap()),
        0,
    )
    .unwrap()
    .unwrap();
    let first = fetch(
        http,
        &format!(
            "/smooth/live.ism/QualityLevels({})/Fragments(video={})",
            q.bitrate.unwrap(),
            v.chunks[0].time
        ),
    );
    let track_id = mist::package::smooth::fragment::parse(&Bytes::from(first))
        .unwrap()
        .track
        .unwrap();
    let mut t = Track::new(
        mist::dtsc::TrackId(track_id),
        mist::dtsc::TrackKind::Video,
        mist::dtsc::Codec::H264,
        mist::package::smooth::timebase(),
    );
    t.init = cfg.build().unwrap();
    let meta = mist::dtsc::Meta {
        tracks: vec![t],
        ..mist::dtsc::Meta::default()
    };
    let mut mux = mist::formats::mp4::fmp4::Muxer::new(&mist::formats::MuxOptions::default());
    let mut mp4 = mux.start_segmented(&meta).unwrap();
    for c in &v.chunks {
        mp4.extend_from_slice(&fetch(
            http,
            &format!(
                "/smooth/live.ism/QualityLevels({})/Fragments(video={})",
                q.bitrate.unwrap(),
                c.time
            ),
        ));
    }
    let path = dir.join("live_video.mp4");
    std::fs::write(&path, &mp4).unwrap();
    decodes_cleanly(&path);
    let dts = dts_list(&path);
    let listed: u64 = v.chunks.iter().map(|c| c.duration).sum();
    assert_eq!(
        dts.len() as u64,
        listed / 400_000,
        "every frame of the listed fragments once"
    );
    assert!(dts.windows(2).all(|w| w[1].1 > w[0].1));
    drop(publisher);
    let _ = stop.send(());
    std::thread::sleep(Duration::from_millis(50));
}
