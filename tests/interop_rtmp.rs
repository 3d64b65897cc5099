//! `mist serve` over RTMP against real ffmpeg/ffprobe: ffmpeg publishes with `-re`, ffmpeg
//! and ffprobe play back, mist's own test client (tests/util/rtmp.rs) times the start and
//! sends hostile bytes. Compiled with `--features interop`; each test binds 127.0.0.1 on a
//! port the system picks and fails loudly if ffmpeg is missing.
#![cfg(feature = "interop")]

mod util;

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mist::formats::flv::amf0::Value;
use mist::serve::rtmp::command::{object, s, Command as RtmpCommand};
use mist::serve::rtmp::handshake::{ClientHandshake, Scheme};
use mist::serve::rtmp::message::MessageType;
use util::rtmp::RtmpClient;
use util::serve::Serve;

/// `mist serve ARGS` with RTMP on a port the system picks.
struct Server {
    serve: Serve,
    rtmp: SocketAddr,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let serve = Serve::start(args);
        let rtmp = serve.rtmp.expect("mist serve printed no RTMP address");
        Server { serve, rtmp }
    }

    fn url(&self, name: &str) -> String {
        format!("rtmp://{}/live/{name}", self.rtmp)
    }

    /// Resident memory of the server, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.serve.pid()))
            .expect("server status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    fn alive(&mut self) -> bool {
        self.serve.running()
    }
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// ffmpeg publishing a live test pattern (25 fps, keyframe every second) with `audio` (`aac`
/// or `mp3`) for `secs` seconds at real time.
fn publish(url: &str, audio: &str, secs: u32) -> Proc {
    util::require("ffmpeg");
    let codec = if audio == "mp3" { "libmp3lame" } else { "aac" };
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args(["-t", &secs.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args([
            "-g", "25", "-pix_fmt", "yuv420p", "-c:a", codec, "-ar", "44100",
        ])
        .args(["-f", "flv", url])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ffmpeg");
    Proc(child)
}

/// Plays `name` with mist's client until the first video keyframe arrives; returns how long
/// that took from the `play` command, or `None` within `timeout`. Checks that the stream
/// begins the way players need: sequence headers before the first frame, which is a keyframe.
fn first_keyframe(addr: SocketAddr, name: &str, timeout: Duration) -> Option<Duration> {
    let mut c = RtmpClient::connect(addr, "live").ok()?;
    let sid = c.create_stream().ok()?;
    let t0 = Instant::now();
    c.command(sid, "play", Value::Null, vec![s(name), Value::Number(-2.0)])
        .ok()?;
    let deadline = t0 + timeout;
    let mut seq_header = false;
    while let Some(m) = c.read_message(deadline).ok()? {
        if m.kind != MessageType::VIDEO || m.body.len() < 2 {
            continue;
        }
        if m.body[1] == 0 {
            seq_header = true;
            continue;
        }
        assert!(
            seq_header,
            "a video frame came before the AVC sequence header"
        );
        assert_eq!(m.body[0] >> 4, 1, "the first video frame is not a keyframe");
        return Some(t0.elapsed());
    }
    None
}

/// Waits (bounded) until `name` is live and serving keyframes.
fn wait_live(addr: SocketAddr, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if first_keyframe(addr, name, Duration::from_secs(3)).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("stream {name} never went live");
}

#[derive(Debug, serde::Deserialize)]
struct Probe {
    streams: Vec<ProbeStream>,
    packets: Vec<ProbePacket>,
}

#[derive(Debug, serde::Deserialize)]
struct ProbeStream {
    index: usize,
    codec_name: String,
}

#[derive(Debug, serde::Deserialize)]
struct ProbePacket {
    stream_index: usize,
    dts: Option<i64>,
    flags: String,
}

/// ffprobe's packets of the first `secs` seconds of an RTMP URL.
fn probe(url: &str, secs: u32) -> Probe {
    util::require("ffprobe");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-of",
            "json",
            "-show_streams",
            "-show_packets",
        ])
        .args(["-read_intervals", &format!("%+{secs}"), url])
        .stdin(Stdio::null())
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

fn check_playback(audio: &str) {
    let server = Server::start(&[]);
    let name = format!("cam_{audio}");
    let url = server.url(&name);
    let _pub = publish(&url, audio, 30);
    wait_live(server.rtmp, &name);

    // Starts within 1 s, with sequence headers and a keyframe first (mist's own client).
    let took = first_keyframe(server.rtmp, &name, Duration::from_secs(5)).expect("no keyframe");
    assert!(
        took < Duration::from_secs(1),
        "first keyframe after {took:?}"
    );

    // ffprobe: the publisher's codecs, a keyframe first, strictly increasing timestamps
    // without gaps, audio and video together.
    let p = probe(&url, 3);
    let codec = |want: &str| {
        p.streams
            .iter()
            .find(|st| st.codec_name == want)
            .unwrap_or_else(|| panic!("no {want} stream in {:?}", p.streams))
            .index
    };
    let v = codec("h264");
    let a = codec(audio);
    assert_eq!(
        p.streams.len(),
        2,
        "streams besides audio and video: {:?}",
        p.streams
    );
    let vpk: Vec<&ProbePacket> = p.packets.iter().filter(|k| k.stream_index == v).collect();
    let apk: Vec<&ProbePacket> = p.packets.iter().filter(|k| k.stream_index == a).collect();
    assert!(
        vpk.len() >= 40 && apk.len() >= 40,
        "{} video, {} audio packets",
        vpk.len(),
        apk.len()
    );
    assert!(
        vpk[0].flags.starts_with('K'),
        "first video packet is not a keyframe"
    );
    // One frame: 40 ms of video; 1024 (AAC) or 1152 (MP3) samples at 44.1 kHz, in whole ms.
    let frame_ms = if audio == "mp3" { 27 } else { 24 };
    for (what, pk, max) in [("video", &vpk, 41), ("audio", &apk, frame_ms)] {
        let d: Vec<i64> = pk.iter().map(|k| k.dts.expect("dts")).collect();
        for w in d.windows(2) {
            assert!(w[1] > w[0], "{what} timestamps not increasing: {w:?}");
            assert!(w[1] - w[0] <= max, "{what} gap of {} ms", w[1] - w[0]);
        }
    }
    let (v0, a0) = (vpk[0].dts.unwrap_or(0), apk[0].dts.unwrap_or(0));
    assert!(
        (v0 - a0).abs() <= 100,
        "audio starts at {a0} ms, video at {v0} ms"
    );

    // ffmpeg decodes 3 s with no error line (its digest handshake, checked by ffmpeg, too).
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-i",
            &url,
            "-t",
            "3",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("run ffmpeg");
    assert!(out.status.success(), "ffmpeg failed");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "ffmpeg printed errors"
    );
}

#[test]
fn h264_aac_published_and_played_back() {
    check_playback("aac");
}

#[test]
fn h264_mp3_published_and_played_back() {
    check_playback("mp3");
}

#[test]
fn digest_handshake_is_answered_in_kind() {
    let server = Server::start(&[]);
    for scheme in [Scheme::Offset8, Scheme::Offset772] {
        // The client checks the server's S1 digest and S2 signature.
        let (mut hs, c0c1) = ClientHandshake::new(3, Some(scheme));
        let mut sock = std::net::TcpStream::connect(server.rtmp).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        std::io::Write::write_all(&mut sock, &c0c1).expect("write");
        let mut answer = vec![0u8; 1 + 2 * 1536];
        sock.read_exact(&mut answer).expect("S0 S1 S2");
        let mut c2 = Vec::new();
        hs.feed(&answer, 0, &mut c2).expect("handshake");
        assert_eq!(hs.server_verified(), Some(true), "{scheme:?}");
    }
}

#[test]
fn a_publisher_that_reconnects_continues_for_a_viewer_that_stays() {
    let server = Server::start(&[]);
    let url = server.url("again");
    let first = publish(&url, "aac", 30);
    wait_live(server.rtmp, "again");
    let mut viewer = RtmpClient::connect(server.rtmp, "live").expect("viewer");
    assert_eq!(viewer.play("again").expect("play"), "NetStream.Play.Start");
    // Two seconds of the first publisher, then it is gone; a new one starts a second later.
    let video_until = |c: &mut RtmpClient, secs: u64| -> Vec<u32> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut ts = Vec::new();
        while let Ok(Some(m)) = c.read_message(deadline) {
            if m.kind == MessageType::VIDEO && m.body.get(1) == Some(&1) {
                ts.push(m.timestamp);
            }
            if m.kind == MessageType::COMMAND_AMF0 {
                let c = RtmpCommand::parse(&m).expect("command");
                let code = util::rtmp::status_code(&c);
                assert_ne!(
                    code.as_deref(),
                    Some("NetStream.Play.Stop"),
                    "playback stopped"
                );
            }
        }
        ts
    };
    let before = video_until(&mut viewer, 2);
    assert!(before.len() > 25, "{} frames before the drop", before.len());
    drop(first);
    std::thread::sleep(Duration::from_secs(1));
    let _second = publish(&url, "aac", 30);
    let after = video_until(&mut viewer, 6);
    assert!(
        after.len() > 50,
        "only {} frames after the publisher came back",
        after.len()
    );
    let last_before = *before.last().unwrap_or(&0);
    assert!(
        after.iter().rev().take(25).all(|&t| t > last_before),
        "timestamps went back after the reconnect"
    );
}

/// Hostile clients, one after the other; after each the server is alive and a viewer of a
/// healthy stream still gets its first keyframe quickly, and memory comes back near where it
/// started.
#[test]
fn bad_input_leaves_the_server_serving() {
    let mut server = Server::start(&[]);
    let url = server.url("healthy");
    let _pub = publish(&url, "aac", 60);
    wait_live(server.rtmp, "healthy");
    let baseline = server.rss_kib();
    let addr = server.rtmp;
    let raw = |bytes: &[u8]| {
        let mut sock = std::net::TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let _ = std::io::Write::write_all(&mut sock, bytes);
        // Read until the server closes (or 3 s): it must not hang or crash.
        let mut sink = Vec::new();
        let _ = sock.take(1 << 20).read_to_end(&mut sink);
    };
    let connected = || RtmpClient::connect(addr, "live").expect("connect");
    type Case<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let mut cases: Vec<Case> = Vec::new();
    cases.push((
        "random bytes",
        Box::new(|| {
            let mut x = 0x1234_5678u32;
            let b: Vec<u8> = (0..100_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            raw(&b);
        }),
    ));
    cases.push((
        "random bytes after a version byte",
        Box::new(|| {
            let mut b = vec![3u8];
            b.extend((0..5000u32).map(|i| (i * 31 % 251) as u8));
            raw(&b);
        }),
    ));
    cases.push((
        "half handshake",
        Box::new(|| {
            let (_, c0c1) = ClientHandshake::new(1, None);
            raw(&c0c1[..700]);
        }),
    ));
    cases.push((
        "chunk size 0",
        Box::new(|| {
            let mut c = connected();
            let _ = c.message(2, 0, MessageType::SET_CHUNK_SIZE, 0, &0u32.to_be_bytes());
            assert!(c
                .read_message(Instant::now() + Duration::from_secs(3))
                .map(|m| m.is_none())
                .unwrap_or(true));
        }),
    ));
    cases.push((
        "chunk size 2^31-1, then garbage",
        Box::new(|| {
            let mut c = connected();
            let _ = c.message(
                2,
                0,
                MessageType::SET_CHUNK_SIZE,
                0,
                &0x7fff_ffffu32.to_be_bytes(),
            );
            c.w.set_chunk_size(0x7fff_ffff);
            let _ = c
                .create_stream()
                .expect("still answers at chunk size 2^31-1");
            let _ = c.send_raw(&[0x55; 3000]);
        }),
    ));
    cases.push((
        "16 MiB message",
        Box::new(|| {
            let mut c = connected();
            let _ = c.send_raw(&[0x06, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0]);
            let _ = c.send_raw(&vec![0u8; 1 << 20]);
        }),
    ));
    cases.push((
        "unknown message types",
        Box::new(|| {
            let mut c = connected();
            for t in [7u8, 10, 11, 12, 13, 14, 21, 23, 99, 255] {
                let _ = c.message(5, 0, MessageType(t), 0, &[1, 2, 3, 4]);
            }
            c.create_stream()
                .expect("still answers after unknown types");
        }),
    ));
    cases.push((
        "truncated AMF0",
        Box::new(|| {
            let mut c = connected();
            let b =
                RtmpCommand::new("createStream", 2.0, object(&[("x", s("yyyy"))]), vec![]).encode();
            let _ = c.message(3, 0, MessageType::COMMAND_AMF0, 0, &b[..b.len() - 6]);
            let _ = c.read_message(Instant::now() + Duration::from_secs(3));
        }),
    ));
    cases.push((
        "garbage mid-publish",
        Box::new(|| {
            let mut c = connected();
            assert_eq!(
                c.publish("garbage").expect("publish"),
                "NetStream.Publish.Start"
            );
            let sid = c.stream_id;
            let _ = c.message(6, 0, MessageType::VIDEO, sid, &[0x17, 0, 0, 0, 0, 1, 2, 3]);
            let _ = c.message(
                6,
                40,
                MessageType::VIDEO,
                sid,
                &[0x17, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 9],
            );
            let _ = c.message(4, 40, MessageType::AUDIO, sid, &[0xaf]);
            let _ = c.send_raw(&[0xc6; 2000]);
            let _ = c.send_raw(
                &(0..4000u32)
                    .map(|i| (i * 7919 % 256) as u8)
                    .collect::<Vec<u8>>(),
            );
        }),
    ));
    for (what, case) in &cases {
        case();
        assert!(server.alive(), "the server died after: {what}");
        let took = first_keyframe(addr, "healthy", Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no healthy playback after: {what}"));
        assert!(
            took < Duration::from_secs(2),
            "after {what}: first keyframe took {took:?}"
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    let after = server.rss_kib();
    assert!(
        after < baseline + 32 * 1024,
        "RSS grew from {baseline} KiB to {after} KiB"
    );
}

/// A viewer that never reads fills its socket buffer; it is dropped, and another viewer and
/// the publisher carry on.
#[test]
fn a_viewer_that_never_reads_does_not_stall_others() {
    let server = Server::start(&[]);
    let url = server.url("busy");
    let _pub = publish(&url, "aac", 60);
    wait_live(server.rtmp, "busy");
    let mut stuck = RtmpClient::connect(server.rtmp, "live").expect("connect");
    assert_eq!(stuck.play("busy").expect("play"), "NetStream.Play.Start");
    // It never reads again. A healthy viewer keeps up in real time meanwhile: 12 s of frames.
    let mut ok = RtmpClient::connect(server.rtmp, "live").expect("connect");
    assert_eq!(ok.play("busy").expect("play"), "NetStream.Play.Start");
    let start = Instant::now();
    let mut frames = 0;
    while start.elapsed() < Duration::from_secs(12) {
        match ok.read_message(Instant::now() + Duration::from_secs(2)) {
            Ok(Some(m)) if m.kind == MessageType::VIDEO => frames += 1,
            Ok(Some(_)) => {}
            other => panic!("the healthy viewer stalled: {other:?}"),
        }
    }
    assert!(frames >= 25 * 10, "{frames} frames in 12 s");
    drop(stuck);
}

#[test]
fn vod_file_plays_and_seeks() {
    let dir = util::fixture("h264_aac.flv");
    let folder = dir
        .parent()
        .expect("fixtures folder")
        .to_str()
        .expect("utf-8 path")
        .to_string();
    let server = Server::start(&[&folder]);
    // ffmpeg plays the whole file with no error line.
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-i",
            &server.url("h264_aac.flv"),
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // Seek: the next video frame is a keyframe at or before the target.
    let mut c = RtmpClient::connect(server.rtmp, "live").expect("connect");
    assert_eq!(
        c.play("h264_aac.flv").expect("play"),
        "NetStream.Play.Start"
    );
    let sid = c.stream_id;
    c.command(sid, "seek", Value::Null, vec![Value::Number(1200.0)])
        .expect("seek");
    assert_eq!(
        c.status(Duration::from_secs(5), "NetStream.Seek")
            .expect("seek status"),
        "NetStream.Seek.Notify"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let frame = loop {
        let m = c
            .read_message(deadline)
            .expect("read")
            .expect("a frame after the seek");
        if m.kind == MessageType::VIDEO && m.body.get(1) == Some(&1) {
            break m;
        }
    };
    assert_eq!(frame.body[0] >> 4, 1, "not a keyframe after the seek");
    assert!(
        frame.timestamp <= 1200 && frame.timestamp >= 900,
        "landed at {} ms",
        frame.timestamp
    );
}
