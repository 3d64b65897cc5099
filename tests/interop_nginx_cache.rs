//! nginx with the committed caching-proxy configuration (`docs/nginx-cache.conf`) in front of
//! `mist serve`: 200 HLS viewers of a live stream fetch playlists and segments through nginx,
//! and mist's access log (`--access-log`) shows each segment fetched from mist once.
//!
//! Oracles: mist's own access log (what reached mist) against what the viewers were served
//! through nginx (every segment answered 200 with a body), and nginx's `X-Cache-Status`.
//! The configuration is the file in docs/, with only its ports, paths and worker count
//! swapped in (each swap is asserted to find its text, so the doc cannot drift from the test).
//!
//! Needs nginx and ffmpeg (`.ci/run` installs them); fails loudly without them.

#![cfg(feature = "interop")]

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use util::serve::{get, Serve};
use util::*;

const T: Duration = Duration::from_secs(10);
/// Viewers, run as `THREADS` threads of `VIEWERS / THREADS` viewers each.
const VIEWERS: usize = 200;
const THREADS: usize = 20;
/// How long the viewers watch.
const WATCH: Duration = Duration::from_secs(12);

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Replaces `from` (which must occur) with `to`.
fn swap(text: String, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "docs/nginx-cache.conf no longer has '{from}': update this test with it"
    );
    text.replace(from, to)
}

/// nginx running docs/nginx-cache.conf in `dir`, listening on `port`, proxying to `mist`.
fn start_nginx(dir: &Path, port: u16, mist: SocketAddr) -> Proc {
    require("nginx");
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/nginx-cache.conf"),
    )
    .expect("docs/nginx-cache.conf");
    let d = dir.display();
    let mut conf = doc;
    conf = swap(conf, "worker_processes auto;", "worker_processes 2;");
    conf = swap(
        conf,
        "pid /run/nginx-mist-cache.pid;",
        &format!("pid {d}/nginx.pid;"),
    );
    conf = swap(
        conf,
        "/var/log/nginx/mist-cache.error.log",
        &format!("{d}/error.log"),
    );
    conf = swap(
        conf,
        "/var/log/nginx/mist-cache.access.log",
        &format!("{d}/access.log"),
    );
    conf = swap(conf, "/var/cache/nginx/mist ", &format!("{d}/cache "));
    conf = swap(conf, "server 127.0.0.1:8080;", &format!("server {mist};"));
    conf = swap(conf, "listen 80;", &format!("listen 127.0.0.1:{port};"));
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    // Relative temp paths (client bodies, proxy temp) go under the prefix.
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nginx");
    let deadline = Instant::now() + T;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Proc(child)
}

fn publish(url: &str) -> Proc {
    require("ffmpeg");
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
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
            "aac",
            "-f",
            "flv",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ffmpeg");
    Proc(child)
}

/// The URI lines of a playlist.
fn uris(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn two_hundred_hls_viewers_behind_nginx_fetch_each_segment_from_mist_once() {
    let dir = TestDir::new("interop-nginx-cache");
    let log = dir.join("mist-access.log");
    let serve = Serve::start(&["--access-log", log.to_str().unwrap()]);
    let mist_http = serve.http.expect("HTTP address");
    let rtmp = serve.rtmp.expect("RTMP address");
    let _ffmpeg = publish(&format!("rtmp://{rtmp}/live/cached"));
    let port = free_port();
    std::fs::create_dir_all(dir.join("nginx")).unwrap();
    let _nginx = start_nginx(&dir.join("nginx"), port, mist_http);
    let front: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    // The master playlist through nginx, once the stream has a segment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (variant, first) = loop {
        let r = get(front, "/hls/cached/index.m3u8", &[], 1 << 20, T);
        if r.status == 200 {
            let v = uris(&String::from_utf8_lossy(&r.body));
            if let Some(v) = v.first() {
                let m = get(front, &format!("/hls/cached/{v}"), &[], 1 << 20, T);
                if m.status == 200 && !uris(&String::from_utf8_lossy(&m.body)).is_empty() {
                    break (v.clone(), m);
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no live playlist through nginx: {}",
            r.status
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        first.header("x-cache-status").is_some(),
        "not answered by the cache"
    );
    let media_path = format!("/hls/cached/{variant}");
    let seg_dir = media_path
        .rsplit_once('/')
        .map(|x| x.0.to_string())
        .unwrap();

    // 200 viewers: each polls the media playlist and fetches every segment it has not had.
    let served = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (media_path, seg_dir, served) =
                (media_path.clone(), seg_dir.clone(), served.clone());
            std::thread::spawn(move || {
                let mut seen: Vec<BTreeSet<String>> = vec![BTreeSet::new(); VIEWERS / THREADS];
                let mut errors = Vec::new();
                while start.elapsed() < WATCH {
                    for s in seen.iter_mut() {
                        let m = get(front, &media_path, &[], 1 << 20, T);
                        if m.status != 200 {
                            errors.push(format!("playlist {}", m.status));
                            continue;
                        }
                        for u in uris(&String::from_utf8_lossy(&m.body)) {
                            if s.contains(&u) {
                                continue;
                            }
                            let r = get(front, &format!("{seg_dir}/{u}"), &[], 64 << 20, T);
                            if r.status != 200 || r.body.is_empty() {
                                errors.push(format!("{u}: {}", r.status));
                            }
                            served.fetch_add(1, Ordering::Relaxed);
                            s.insert(u);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                errors
            })
        })
        .collect();
    let mut errors = Vec::new();
    for t in threads {
        errors.extend(t.join().expect("viewer thread"));
    }
    assert!(
        errors.is_empty(),
        "viewers saw errors: {:?}",
        &errors[..errors.len().min(10)]
    );
    let served = served.load(Ordering::Relaxed);

    // What reached mist: segments and playlists of the stream, per path.
    let text = std::fs::read_to_string(&log).expect("mist's access log");
    let mut fetched: BTreeMap<String, usize> = BTreeMap::new();
    for l in text.lines() {
        let Some(req) = l.split('"').nth(1) else {
            continue;
        };
        let mut parts = req.split(' ');
        let (Some("GET"), Some(path)) = (parts.next(), parts.next()) else {
            continue;
        };
        if path.starts_with("/hls/cached/") {
            *fetched.entry(path.to_string()).or_default() += 1;
        }
    }
    let segments: BTreeMap<&String, &usize> = fetched
        .iter()
        .filter(|(p, _)| !p.ends_with(".m3u8"))
        .collect();
    let from_mist: usize = segments.values().copied().sum();
    assert!(
        served >= VIEWERS * 3,
        "the viewers fetched only {served} segments"
    );
    for (p, n) in &segments {
        assert_eq!(**n, 1, "{p} was fetched from mist {n} times");
    }
    let hit_ratio = 1.0 - from_mist as f64 / served as f64;
    eprintln!(
        "nginx cache: {served} segment requests served, {from_mist} reached mist \
         ({} segments), hit ratio {:.4}; media playlist fetched from mist {} times in {:?}",
        segments.len(),
        hit_ratio,
        fetched.get(&media_path).copied().unwrap_or(0),
        WATCH
    );
    assert!(hit_ratio >= 0.99, "hit ratio {hit_ratio}");
    // Live playlists are max-age=1: mist sees about one refresh a second, not one per viewer.
    let playlist = fetched.get(&media_path).copied().unwrap_or(0);
    assert!(
        playlist <= 3 * WATCH.as_secs() as usize + 10,
        "the media playlist reached mist {playlist} times"
    );
}
