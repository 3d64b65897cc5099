//! Pushes and recordings of `mist serve` against real tools: ffmpeg publishes a live test
//! pattern over RTMP (and writes the very same packets to a local FLV through its `tee`
//! muxer: what was published, counted by ffprobe), mist records it to every container and
//! pushes it to nginx-rtmp, and ffprobe/ffmpeg read what came out.
//!
//! Oracles: ffprobe's packet counts of the recordings against ffprobe's count of what ffmpeg
//! published (within one GOP: a recording starts at a keyframe, and audio before it is left
//! out); ffmpeg decoding the recordings and nginx-rtmp's copy with no error line;
//! `mist analyse --validate`.
//!
//! Needs ffmpeg, ffprobe and nginx with libnginx-mod-rtmp (`.ci/run` installs them); fails
//! loudly without them.

#![cfg(feature = "interop")]

mod util;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use util::serve::Serve;
use util::*;

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Waits at most `limit` for the process to end on its own; true if it did, successfully.
    fn wait_ok(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.0.try_wait() {
                return st.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

/// GOP of the published pattern, in video frames (one second at 25 fps).
const GOP: usize = 25;

/// ffmpeg publishing a test pattern (25 fps, keyframe every second, `audio` = `aac` or
/// `mp3`) at real time to `url` for `secs` seconds (forever when `None`), and writing the
/// same packets to `copy` when given.
fn publish(url: &str, audio: &str, secs: Option<u32>, copy: Option<&Path>) -> Proc {
    require("ffmpeg");
    let codec = if audio == "mp3" { "libmp3lame" } else { "aac" };
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-v", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    if let Some(s) = secs {
        c.args(["-t", &s.to_string()]);
    }
    c.args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        codec,
        "-ar",
        "44100",
    ]);
    match copy {
        // The tee muxer does not ask encoders for global headers by itself: without them the
        // avcC would only come in-band, after the first keyframe.
        Some(p) => c
            .args([
                "-flags",
                "+global_header",
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-f",
                "tee",
            ])
            .arg(format!("[f=flv]{url}|[f=flv]{}", p.display())),
        None => c.args(["-f", "flv", url]),
    };
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ffmpeg");
    Proc(child)
}

/// `POST /api` on the API listener; the parsed answer.
fn api(addr: SocketAddr, req: &Value) -> Value {
    let body = req.to_string();
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "POST /api HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: \
         application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer")
        + 4;
    let v: Value = serde_json::from_slice(&raw[at..])
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&raw)));
    assert_eq!(v["authorize"]["status"], "OK", "{v}");
    v
}

/// The rows of `push_list`.
fn push_list(addr: SocketAddr) -> Vec<Value> {
    api(addr, &json!({"push_list": true}))["push_list"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until `push_list` is empty.
fn wait_no_pushes(addr: SocketAddr, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let l = push_list(addr);
        if l.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "pushes still running: {l:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// (video, audio) packet counts by ffprobe.
fn counts(path: &Path) -> (usize, usize) {
    require("ffprobe");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ffprobe");
    assert!(out.status.success(), "ffprobe {}", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    // Packets with side data print a trailing separator ("video,").
    let kind = |l: &str| l.trim().trim_end_matches(',').to_string();
    let v = text.lines().filter(|l| kind(l) == "video").count();
    let a = text.lines().filter(|l| kind(l) == "audio").count();
    (v, a)
}

/// ffmpeg decodes the whole file with no error line.
fn decodes_cleanly(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("run ffmpeg");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "{}: ffmpeg decode: {err}",
        path.display()
    );
}

fn validate(path: &Path) {
    let out = mist_ok(&["analyse", "--validate", path.to_str().unwrap()]);
    assert!(
        out.contains("validation: 0 errors"),
        "{}: {out}",
        path.display()
    );
}

/// Asserts `got` holds what was published (`sent`), within one GOP: at most one GOP of video
/// (and one GOP's time of audio, ~43 AAC/MP3 frames at 44.1 kHz... plus slack of one frame)
/// missing at the start, none extra.
fn within_a_gop(what: &str, got: (usize, usize), sent: (usize, usize), audio_only: bool) {
    let audio_gop = 44_100 / 1024 + 2;
    if !audio_only {
        assert!(
            got.0 <= sent.0 && got.0 + GOP >= sent.0,
            "{what}: {} video packets recorded, {} published",
            got.0,
            sent.0
        );
        assert!(got.0 > 0, "{what}: no video");
    }
    // MP3 frames are 1152 samples: fewer of them per second than AAC's 1024.
    assert!(
        got.1 <= sent.1 + 1 && got.1 + audio_gop >= sent.1,
        "{what}: {} audio packets recorded, {} published",
        got.1,
        sent.1
    );
    assert!(got.1 > 0, "{what}: no audio");
}

#[test]
fn recordings_in_every_container_hold_what_was_published() {
    let dir = TestDir::new("interop-record");
    let serve = Serve::start(&[]);
    let rtmp = serve.rtmp.expect("RTMP address");
    let api_addr = serve.api.expect("API address");
    // Automatic pushes: they start when each stream goes live, at its first keyframe.
    for ext in ["flv", "ts", "mp4", "dtsc"] {
        let target = format!("{}/$stream-rec.{ext}", dir.path().display());
        let v = api(api_addr, &json!({"push_auto_add": ["camaac", target]}));
        assert!(v.get("error").is_none(), "{v}");
    }
    let target = format!("{}/$stream-rec.mp3", dir.path().display());
    api(api_addr, &json!({"push_auto_add": ["cammp3", target]}));
    let sent_aac = dir.join("sent-aac.flv");
    let sent_mp3 = dir.join("sent-mp3.flv");
    let mut a = publish(
        &format!("rtmp://{rtmp}/live/camaac"),
        "aac",
        Some(6),
        Some(&sent_aac),
    );
    let mut b = publish(
        &format!("rtmp://{rtmp}/live/cammp3"),
        "mp3",
        Some(6),
        Some(&sent_mp3),
    );
    assert!(a.wait_ok(Duration::from_secs(60)), "ffmpeg (aac) failed");
    assert!(b.wait_ok(Duration::from_secs(60)), "ffmpeg (mp3) failed");
    wait_no_pushes(api_addr, Duration::from_secs(60));
    let sent = counts(&sent_aac);
    assert!(sent.0 >= 100, "ffmpeg published {sent:?}");
    for ext in ["flv", "ts", "mp4"] {
        let p = dir.join(&format!("camaac-rec.{ext}"));
        assert!(p.exists(), "{} missing: {:?}", p.display(), dir.files());
        within_a_gop(&p.display().to_string(), counts(&p), sent, false);
        decodes_cleanly(&p);
        validate(&p);
    }
    // ffprobe cannot read DTSC: mist's own reading, through a remux to FLV, is counted.
    let dtsc = dir.join("camaac-rec.dtsc");
    assert!(dir.join("camaac-rec.dtsc.dtsh").exists(), "no .dtsh");
    validate(&dtsc);
    let back = dir.join("dtsc-back.flv");
    mist_ok(&["convert", dtsc.to_str().unwrap(), back.to_str().unwrap()]);
    within_a_gop("dtsc (as flv)", counts(&back), sent, false);
    decodes_cleanly(&back);
    // MP3: the audio of the second stream.
    let sent = counts(&sent_mp3);
    let p = dir.join("cammp3-rec.mp3");
    assert!(p.exists(), "{} missing: {:?}", p.display(), dir.files());
    within_a_gop("mp3", (0, counts(&p).1), (0, sent.1), true);
    decodes_cleanly(&p);
    validate(&p);
}

#[test]
fn a_recording_interrupted_by_sigterm_is_playable() {
    interrupted(false);
}

#[test]
fn a_recording_cut_by_sigkill_plays_up_to_its_last_whole_unit() {
    interrupted(true);
}

/// Records a live stream to FLV, TS and MP4, ends the server while recording (SIGTERM, or
/// SIGKILL when `kill`), and checks that every file plays.
fn interrupted(kill: bool) {
    let dir = TestDir::new(if kill {
        "interop-sigkill"
    } else {
        "interop-sigterm"
    });
    let serve = Serve::start(&[]);
    let rtmp = serve.rtmp.expect("RTMP address");
    let api_addr = serve.api.expect("API address");
    for ext in ["flv", "ts", "mp4"] {
        let target = format!("{}/$stream.{ext}", dir.path().display());
        api(api_addr, &json!({"push_auto_add": ["cut", target]}));
    }
    let _pub = publish(&format!("rtmp://{rtmp}/live/cut"), "aac", None, None);
    // Until every recording has written something past its first keyframe.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sizes: Vec<u64> = ["flv", "ts", "mp4"]
            .iter()
            .map(|e| {
                std::fs::metadata(dir.join(&format!("cut.{e}")))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .collect();
        if sizes.iter().all(|&s| s > 100_000) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "recordings did not grow: {sizes:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    if kill {
        // Dropping the Serve kills it (SIGKILL): nothing is finished, the files are as the
        // last whole unit left them (the MP4 still fragmented).
        drop(serve);
    } else {
        let st = serve.terminate(Duration::from_secs(30));
        assert!(st.is_some(), "mist serve did not exit on SIGTERM");
    }
    // SIGTERM finishes the MP4 as faststart; after SIGKILL it is still fragmented.
    let boxes = top_boxes(&dir.join("cut.mp4"));
    if kill {
        assert!(boxes.iter().any(|b| b == "moof"), "{boxes:?}");
    } else {
        assert_eq!(boxes, ["ftyp", "moov", "mdat"]);
    }
    for ext in ["flv", "ts", "mp4"] {
        let p = dir.join(&format!("cut.{ext}"));
        let (v, a) = counts(&p);
        assert!(v >= GOP && a > 0, "{}: {v} video, {a} audio", p.display());
        decodes_cleanly(&p);
        validate(&p);
    }
}

/// The top-level box types of an MP4 file, in order.
fn top_boxes(path: &Path) -> Vec<String> {
    let d = std::fs::read(path).expect("read MP4");
    let mut out = Vec::new();
    let mut i = 0usize;
    while i + 8 <= d.len() {
        let n = u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]) as usize;
        out.push(String::from_utf8_lossy(&d[i + 4..i + 8]).into_owned());
        if n < 8 {
            break;
        }
        i += n;
    }
    out
}

#[test]
fn a_push_to_nginx_rtmp_plays_back_from_nginx() {
    let dir = TestDir::new("interop-push-nginx");
    let nginx = util::nginx::start();
    let serve = Serve::start(&[]);
    let rtmp = serve.rtmp.expect("RTMP address");
    let api_addr = serve.api.expect("API address");
    let _pub = publish(&format!("rtmp://{rtmp}/live/up"), "aac", None, None);
    let target = format!("rtmp://127.0.0.1:{}/live/down", nginx.rtmp);
    let v = api(
        api_addr,
        &json!({"push_start": {"stream": "up", "target": target}}),
    );
    assert!(v.get("error").is_none(), "{v}");
    // ffmpeg plays 4 s of it from nginx (retrying while the push connects).
    let out = dir.join("from-nginx.flv");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-nostdin",
                "-v",
                "error",
                "-rw_timeout",
                "5000000",
            ])
            .args(["-i", &format!("rtmp://127.0.0.1:{}/live/down", nginx.rtmp)])
            .args(["-t", "4", "-c", "copy", "-y"])
            .arg(&out)
            .stdin(Stdio::null())
            .output()
            .expect("run ffmpeg");
        if r.status.success() && counts(&out).0 >= 75 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ffmpeg could not play the push from nginx: {} / push_list {:?}",
            String::from_utf8_lossy(&r.stderr),
            push_list(api_addr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    decodes_cleanly(&out);
    let (v, a) = counts(&out);
    assert!(
        v >= 75 && a >= 100,
        "from nginx: {v} video, {a} audio packets"
    );
    // push_list shows it active, with bytes sent.
    let rows = push_list(api_addr);
    assert_eq!(rows.len(), 1, "{rows:?}");
}
