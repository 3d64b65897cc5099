//! `mist serve`'s HTTP outputs judged by real clients (issue 12, "VOD" and "Browser"):
//!
//! - ffprobe reads every committed fixture through each progressive URL and finds the packets
//!   it finds in `mist convert`'s output of the fixture to the same container;
//! - `?start=` lands on the keyframe at or before the time asked (ffprobe of the source says
//!   which one that is);
//! - ffmpeg seeks inside `/STREAM.mp4` over HTTP byte ranges and decodes the frame it decodes
//!   from the converted file on disk;
//! - headless Chromium opens `/STREAM.html` of a file and of a live stream and plays them.
//!
//! Compiled only with `--features interop`; needs ffmpeg, ffprobe and chromium, and fails
//! loudly without them.
#![cfg(feature = "interop")]

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mist::dtsc::{Packet, Timebase, Track};
use mist::serve::config::Config;
use mist::serve::hub::{Client, Hub};
use mist::serve::{Server, Settings};
use serde_json::Value;
use util::browser::{self, require_chromium, PageServer};
use util::ffprobe::{self, Probe};
use util::serve::Serve;
use util::*;

/// Fixtures that are media files (not sidecars, scripts or folders).
fn media_fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            !(n.ends_with(".json")
                || n.ends_with(".txt")
                || n.ends_with(".sh")
                || n.ends_with(".md"))
        })
        .collect();
    v.sort();
    v
}

fn serve_fixtures() -> Serve {
    Serve::start(&[fixture("").to_str().unwrap(), "--api", "off"])
}

/// `mist convert SRC OUT --to EXT ARGS` (the streaming form, through stdout); `None` if mist
/// refuses.
fn convert_to(src: &Path, out: &Path, ext: &str, args: &[&str]) -> Option<()> {
    let o = mist()
        .args(["convert", src.to_str().unwrap(), "-", "--to", ext, "-q"])
        .args(args)
        .output()
        .unwrap();
    if !o.status.success() {
        return None;
    }
    std::fs::write(out, o.stdout).unwrap();
    Some(())
}

fn assert_same_probe(what: &str, got: &Probe, want: &Probe) {
    assert_eq!(got.streams, want.streams, "{what}: streams");
    assert_eq!(
        got.packets.len(),
        want.packets.len(),
        "{what}: packet count"
    );
    for (n, (g, w)) in got.packets.iter().zip(&want.packets).enumerate() {
        assert_eq!(g, w, "{what}: packet {n}");
    }
}

#[test]
fn every_fixture_through_every_progressive_url_gives_ffprobe_the_packets_of_its_conversion() {
    let s = serve_fixtures();
    let http = s.http.unwrap();
    let dir = TestDir::new("probe-urls");
    let mut compared = 0;
    for f in media_fixtures() {
        let file = f.file_name().unwrap().to_str().unwrap().to_string();
        let name = file.to_ascii_lowercase();
        for ext in ["flv", "ts", "mp4", "mp3"] {
            let local = dir.join(&format!("{name}.{ext}"));
            if convert_to(&f, &local, ext, &[]).is_none() {
                continue;
            }
            let url = format!("http://{http}/{name}.{ext}");
            let got = ffprobe::run(Path::new(&url));
            // MP4 of a file has a length and byte ranges: ffprobe seeks in the URL as in the
            // file. The others are streamed: ffprobe reads the file as a stream too.
            let want = if ext == "mp4" {
                ffprobe::run(&local)
            } else {
                ffprobe::run_piped(&local)
            };
            assert!(!want.packets.is_empty(), "{url}: no packets at all");
            assert_same_probe(&url, &got, &want);
            compared += 1;
        }
    }
    assert!(compared > 100, "only {compared} outputs compared");
}

#[test]
fn every_source_the_stream_info_lists_plays_in_ffprobe() {
    let s = serve_fixtures();
    let http = s.http.unwrap();
    for (file, want) in [
        ("h264_aac.flv", &["h264", "aac"][..]),
        ("h264_mp3.ts", &["h264", "mp3"][..]),
        ("cbr_id3.mp3", &["mp3"][..]),
    ] {
        let r = util::serve::get(
            http,
            &format!("/json_{file}.js"),
            &[],
            1 << 20,
            Duration::from_secs(20),
        );
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let sources = v["source"].as_array().unwrap();
        assert!(sources
            .iter()
            .any(|s| s["url"].as_str().unwrap().starts_with("rtmp://")));
        for src in sources {
            let url = src["url"].as_str().unwrap();
            let probe = ffprobe::run(Path::new(url));
            let mut codecs: Vec<&str> = probe
                .streams
                .iter()
                .map(|s| s.codec_name.as_str())
                .collect();
            codecs.sort_unstable();
            // A source carries the tracks it claims: as many kinds as `simul_tracks`, each
            // one of the stream's.
            assert_eq!(
                codecs.len() as i64,
                src["simul_tracks"].as_i64().unwrap(),
                "{url}: {codecs:?}"
            );
            assert!(codecs.iter().all(|c| want.contains(c)), "{url}: {codecs:?}");
            assert!(!probe.packets.is_empty(), "{url}");
        }
    }
}

/// Seconds of `t` ticks in `tb`.
fn secs(t: i64, tb: (i64, i64)) -> f64 {
    t as f64 * tb.0 as f64 / tb.1 as f64
}

#[test]
fn start_lands_on_the_keyframe_at_or_before_it() {
    let s = serve_fixtures();
    let http = s.http.unwrap();
    let mut checked = 0;
    for file in [
        "h264_aac.flv",
        "h264_aac.ts",
        "faststart.mp4",
        "bframes_editlist.mp4",
        "h264_mp3.flv",
        "ntsc_2997.mp4",
    ] {
        // The oracle: ffprobe of the source. --start counts from the file's earliest decode
        // time (as ffmpeg's -ss does); the output starts at the last keyframe whose decode
        // time is at or before that point.
        let src = ffprobe::run(&fixture(file));
        let origin = src
            .streams
            .iter()
            .filter_map(|st| {
                let p = src.stream_packets(st.index);
                Some(secs(p.first()?.dts?, st.time_base))
            })
            .fold(f64::MAX, f64::min);
        let sv = src
            .streams
            .iter()
            .find(|s| s.codec_type == "video")
            .unwrap();
        let video: Vec<_> = src.stream_packets(sv.index);
        for start_ms in [300i64, 1000, 1500] {
            let at = origin + start_ms as f64 / 1000.0 + 1e-9;
            let key = video
                .iter()
                .rposition(|p| p.key && secs(p.dts.unwrap(), sv.time_base) <= at)
                .unwrap_or(0);
            for ext in ["flv", "ts", "mp4"] {
                let url = format!("http://{http}/{file}.{ext}?start={start_ms}");
                let got = ffprobe::run(Path::new(&url));
                let gv = got
                    .streams
                    .iter()
                    .find(|s| s.codec_type == "video")
                    .unwrap();
                let out: Vec<_> = got.stream_packets(gv.index);
                assert!(out[0].key, "{url}: begins with a keyframe");
                // Every video packet from that keyframe on, none before it.
                assert_eq!(
                    out.len(),
                    video.len() - key,
                    "{url}: starts at source video packet {key} (the key at or before {at:.3} s)"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6 * 3 * 3);
}

/// `ffmpeg -ss SS -i INPUT -frames:v 1 -f framemd5 -`, and its debug log.
fn first_frame_after(input: &str, ss: &str) -> (String, String) {
    require("ffmpeg");
    let o = Command::new("ffmpeg")
        .args(["-v", "debug", "-nostdin", "-ss", ss, "-i", input])
        .args(["-frames:v", "1", "-an", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "ffmpeg -ss {ss} -i {input}: {log}");
    let md5: String = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!md5.is_empty(), "{input}: no frame");
    (md5, log)
}

/// Byte offsets of the ranged requests ffmpeg's HTTP client made (its debug log prints each
/// request head).
fn ranged_requests(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.trim().strip_prefix("Range: bytes="))
        .filter_map(|r| r.split('-').next()?.parse().ok())
        .collect()
}

#[test]
fn ffmpeg_seeks_inside_a_files_mp4_over_http_ranges() {
    let dir = TestDir::new("seek-ranges");
    // Every fixture with video: the frame at 1 s through HTTP is the frame from the file.
    {
        let s = serve_fixtures();
        let http = s.http.unwrap();
        let mut compared = 0;
        for f in media_fixtures() {
            let name = f
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_ascii_lowercase();
            let local = dir.join(&format!("{name}.mp4"));
            if convert_to(&f, &local, "mp4", &[]).is_none() {
                continue;
            }
            if !ffprobe::run(&local)
                .streams
                .iter()
                .any(|s| s.codec_type == "video")
            {
                continue;
            }
            let (want, _) = first_frame_after(local.to_str().unwrap(), "1");
            let (got, _) = first_frame_after(&format!("http://{http}/{name}.mp4"), "1");
            assert_eq!(got, want, "{name}: the frame after -ss 1");
            compared += 1;
        }
        assert!(compared >= 10, "only {compared} files compared");
    }
    // The fixtures fit in ffmpeg's read-ahead, so it reads on instead of seeking. A longer
    // file (made here by ffmpeg, 12 s at about 1 Mbit/s) makes it seek: the seek must be a
    // ranged request far into the file, and give the same frame.
    require("ffmpeg");
    let long = dir.join("long.flv");
    let o = Command::new("ffmpeg")
        .arg("-nostdin")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=640x360:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            "12",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "1M",
        ])
        .args(["-g", "25", "-c:a", "aac", "-b:a", "64k"])
        .arg(&long)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let local = dir.join("long.mp4");
    convert_to(&long, &local, "mp4", &[]).unwrap();
    let s = Serve::start(&[long.to_str().unwrap(), "--api", "off", "--rtmp", "off"]);
    let url = format!("http://{}/long.flv.mp4", s.http.unwrap());
    for ss in ["6", "10.5"] {
        let (want, _) = first_frame_after(local.to_str().unwrap(), ss);
        let (got, log) = first_frame_after(&url, ss);
        assert_eq!(got, want, "-ss {ss}: the frame after the seek");
        let ranges = ranged_requests(&log);
        assert!(
            ranges.iter().any(|&r| r > 500_000),
            "-ss {ss}: ffmpeg should have asked for a range far into the file, asked {ranges:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The player page in Chromium.

/// The page the test serves: mist's player page in a frame (another origin), hearing the
/// player's state through postMessage; it reports once playback advanced `ADVANCE_S` with
/// frames decoded, or an error, or a timeout. The report goes to `/result` (the rig) and into
/// the DOM between SERVE-RESULT and SERVE-END.
const WRAP: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pending</title></head>
<body>
<iframe id="f" src="PLAYER_URL" width="640" height="420" allow="autoplay"></iframe>
<pre id="result">pending</pre>
<script>
'use strict';
const ADVANCE_S = 1.5;
const t0 = performance.now();
const r = { states: 0, first: null, last: null };
let done = false;
function finish(status) {
  if (done) return;
  done = true;
  r.status = status;
  r.elapsed_ms = Math.round(performance.now() - t0);
  const s = JSON.stringify(r);
  document.getElementById('result').textContent = 'SERVE-RESULT ' + s + ' SERVE-END';
  fetch('/result', { method: 'POST', body: s }).catch(() => {});
}
window.addEventListener('message', (e) => {
  const s = e.data && e.data.mist;
  if (!s || done) return;
  r.states++;
  r.last = s;
  if (s.status === 'error') { finish('error'); return; }
  if (!r.first && s.currentTime > 0 && s.frames > 0) r.first = s;
  if (r.first && s.currentTime - r.first.currentTime >= ADVANCE_S && s.frames > r.first.frames) finish('ok');
});
setTimeout(() => finish('timeout'), TIMEOUT_MS);
</script>
<script src="/hold.js"></script>
</body></html>
"#;

/// Longest one browser run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// Opens mist's `/NAME.html` (at `mist`, `http://HOST:PORT`) in Chromium and returns what
/// the player reported.
fn watch(dir: &TestDir, name: &str, mist: &str) -> Value {
    require_chromium();
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let page = WRAP
        .replace("PLAYER_URL", &format!("{mist}/{name}.html"))
        .replace("TIMEOUT_MS", "45000");
    let server = PageServer::start(
        vec![(
            "/wrap.html".into(),
            "text/html; charset=utf-8",
            page.into_bytes(),
        )],
        deadline,
    );
    let url = format!("http://127.0.0.1:{}/wrap.html", server.port());
    let run = browser::chromium(dir, name, &url, deadline);
    let (posted, requests) = server.stop();
    let text = browser::between(&run.dom, "SERVE-RESULT ", " SERVE-END")
        .or(posted)
        .unwrap_or_else(|| {
            panic!(
                "{name}: no report from the page\nrequests: {requests:?}\nDOM:\n{}\nlog:\n{}",
                run.dom, run.log_tail
            )
        });
    let v: Value = serde_json::from_str(&text).unwrap();
    eprintln!("browser: {name}: {v}");
    v
}

/// The checks: playing, `currentTime` advanced, frames decoded, no error.
fn assert_played(name: &str, v: &Value) {
    assert_eq!(v["status"], "ok", "{name}: {v:#}");
    let (first, last) = (&v["first"], &v["last"]);
    assert!(last["error"].is_null(), "{name}: {v:#}");
    assert!(
        last["currentTime"].as_f64().unwrap() - first["currentTime"].as_f64().unwrap() >= 1.5,
        "{name}: currentTime advanced: {v:#}"
    );
    assert!(
        last["frames"].as_u64().unwrap() > 0,
        "{name}: frames decoded: {v:#}"
    );
}

#[test]
fn chromium_plays_the_player_page_of_a_file() {
    let dir = TestDir::new("browser-vod");
    let s = serve_fixtures();
    let mist = format!("http://{}", s.http.unwrap());
    let v = watch(&dir, "faststart.mp4", &mist);
    assert_played("faststart.mp4", &v);
    assert_eq!(v["last"]["type"], "vod");
}

/// Publishes `packets` into the hub in real time, looping, every time shifted by `offset_ms`
/// plus the loops before, until `stop`.
fn publish_looping(
    hub: Arc<Hub>,
    name: &str,
    tracks: Vec<Track>,
    packets: Vec<Packet>,
    offset_ms: i64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let name = name.to_string();
    std::thread::spawn(move || {
        let client = Client {
            peer: "127.0.0.1:1".parse().unwrap(),
            protocol: "TEST",
        };
        let mut p = hub.publish(&name, client, &[]).unwrap();
        p.set_tracks(tracks.clone());
        let ms = |pk: &Packet| {
            let t = tracks.iter().find(|t| t.id == pk.track).unwrap();
            t.timebase.rescale(pk.dts.0, Timebase::MS)
        };
        let first = packets.iter().map(ms).min().unwrap();
        // One loop lasts from the first packet to one frame past the last.
        let span = packets.iter().map(ms).max().unwrap() - first + 40;
        let started = Instant::now();
        // Bounded: at most 60 loops (two minutes of a 2 s fixture).
        for n in 0..60i64 {
            for pk in &packets {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let at = ms(pk) - first + n * span;
                let due = started + Duration::from_millis(at as u64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let t = tracks.iter().find(|t| t.id == pk.track).unwrap();
                let mut pk = pk.clone();
                pk.dts = pk.dts + Timebase::MS.rescale(offset_ms + n * span, t.timebase);
                if !p.push(pk) {
                    return;
                }
            }
        }
    })
}

#[test]
fn chromium_plays_the_player_page_of_live_streams_that_start_late() {
    let dir = TestDir::new("browser-live");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(Server::bind(Settings {
            http: Some("127.0.0.1:0".parse().unwrap()),
            config: Config::default(),
            ..Settings::default()
        }))
        .unwrap();
    let hub = server.hub().clone();
    let http = server.bound().http.unwrap();
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(server.run(async move {
        let _ = stopped.await;
    }));
    // H.264+AAC, and H.264+MP3 (Chromium's MSE takes no MP3 in MP4: the player falls back to
    // the video alone).
    for (stream, file, want_mime) in [
        (
            "live",
            "h264_aac.flv",
            "video/mp4; codecs=\"avc1.64000d,mp4a.40.2\"",
        ),
        (
            "withmp3",
            "h264_mp3.flv",
            "video/mp4; codecs=\"avc1.64000d\"",
        ),
    ] {
        let mut d = mist::pipeline::open(&fixture(file)).unwrap();
        let tracks = d.meta().tracks.clone();
        let mut packets = Vec::new();
        while let Some(p) = d.next_packet().unwrap() {
            packets.push(p);
        }
        // The stream's clock starts at 60 s, and the browser comes 3 s later: the player
        // must move to where the buffer starts (about 62 s), not wait at 0.
        let stop = Arc::new(AtomicBool::new(false));
        let publisher = publish_looping(hub.clone(), stream, tracks, packets, 60_000, stop.clone());
        std::thread::sleep(Duration::from_secs(3));
        let v = watch(&dir, stream, &format!("http://{http}"));
        stop.store(true, Ordering::SeqCst);
        let _ = publisher.join();
        assert_played(stream, &v);
        assert_eq!(v["last"]["type"], "live");
        assert!(
            v["first"]["currentTime"].as_f64().unwrap() >= 60.0,
            "{stream}: the player started at the buffered start: {v:#}"
        );
        assert_eq!(v["last"]["mime"], want_mime, "{stream}: {v:#}");
    }
    let _ = stop_server.send(());
}
