//! `mist analyse rtmp://…` (issue 14, point 1) without external tools.
//!
//! - Against `mist serve` playing a committed fixture: the oracle is the fixture's ffprobe
//!   sidecar (every packet's time, size and key flag, per track).
//! - Against a tiny test server (a thread with a `TcpListener`) that replays hand-built RTMP
//!   with one fault each: `--validate` names the fault and exits 1; the same server replaying
//!   the healthy script exits 0, so each fault test can only pass because of its fault.
//! - Hostile servers (a chunk size of 2^31, a message longer than the limit, endless messages
//!   that never start a stream): one error line, exit 1, peak memory bounded.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mist::formats::flv::amf0::Value;
use mist::formats::flv::reader::{Item, TagReader};
use mist::formats::flv::tag::TagType;
use mist::formats::rtmp::chunk::ChunkWriter;
use mist::formats::rtmp::command::{object, s, status_info, Command};
use mist::formats::rtmp::message::MessageType;
use util::serve::Serve;

/// Peak resident memory a hostile server may cost the analyser.
const MAX_RSS_KB: i64 = 100 * 1024;

/// The tags of a fixture: (type, timestamp, body).
fn tags(name: &str) -> Vec<(TagType, u32, Bytes)> {
    let mut r = TagReader::new();
    r.feed(Bytes::from(
        std::fs::read(util::fixture(name)).expect("fixture"),
    ));
    let mut v = Vec::new();
    while let Some(i) = r.next_item().expect("fixture parses") {
        if let Item::Tag(t) = i {
            v.push((t.header.tag_type, t.header.timestamp_ms, t.body));
        }
    }
    v
}

/// Video tags of `h264_only.flv`: the AVC sequence header, then frames (the first a keyframe).
fn video() -> (Bytes, Vec<(u32, Bytes)>) {
    let all: Vec<_> = tags("h264_only.flv")
        .into_iter()
        .filter(|t| t.0 == TagType::VIDEO)
        .collect();
    let seq = all[0].2.clone();
    assert_eq!(
        &seq[..2],
        &[0x17, 0x00],
        "the first video tag is the sequence header"
    );
    let frames: Vec<_> = all[1..].iter().map(|t| (t.1, t.2.clone())).collect();
    assert_eq!(frames[0].1[0] >> 4, 1, "the first frame is a keyframe");
    assert_ne!(frames[1].1[0] >> 4, 1, "the second frame is not a keyframe");
    (seq, frames)
}

/// What a fake server sends after the handshake, built message by message.
struct Script {
    w: ChunkWriter,
    out: Vec<u8>,
}

impl Script {
    fn new() -> Script {
        Script {
            w: ChunkWriter::new(128),
            out: Vec::new(),
        }
    }

    fn msg(&mut self, cs: u32, ts: u32, kind: MessageType, sid: u32, body: &[u8]) -> &mut Self {
        self.w.write(&mut self.out, cs, ts, kind, sid, body);
        self
    }

    fn command(&mut self, sid: u32, name: &str, txn: f64, obj: Value, args: Vec<Value>) {
        let body = Command::new(name, txn, obj, args).encode();
        self.msg(3, 0, MessageType::COMMAND_AMF0, sid, &body);
    }

    /// The answers to the analyser's connect (txn 1) and createStream (txn 2); the player
    /// sends them in that order, so they can be sent before they are asked.
    fn connect_and_create(&mut self) -> &mut Self {
        self.command(
            0,
            "_result",
            1.0,
            object(&[("fmsVer", s("FMS/3,0,1,123"))]),
            vec![status_info(
                "status",
                "NetConnection.Connect.Success",
                "ok",
                None,
            )],
        );
        self.command(0, "_result", 2.0, Value::Null, vec![Value::Number(1.0)]);
        self
    }

    fn play_start(&mut self) -> &mut Self {
        self.command(
            1,
            "onStatus",
            0.0,
            Value::Null,
            vec![status_info("status", "NetStream.Play.Start", "go", None)],
        );
        self
    }

    fn video(&mut self, ts: u32, body: &[u8]) -> &mut Self {
        self.msg(6, ts, MessageType::VIDEO, 1, body)
    }

    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }
}

/// A one-connection RTMP server: a plain handshake (S1 zeros, S2 = C1), then `script`, then
/// `tail` repeated until the client leaves or `for_at_most` passes.
fn fake_server(
    script: Vec<u8>,
    tail: Vec<u8>,
    for_at_most: Duration,
) -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let h = std::thread::spawn(move || {
        let deadline = Instant::now() + for_at_most;
        l.set_nonblocking(true).expect("nonblocking");
        let mut sock = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(_) => return,
            }
        };
        sock.set_nonblocking(false).expect("blocking");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut c0c1 = [0u8; 1537];
        if sock.read_exact(&mut c0c1).is_err() {
            return;
        }
        let mut s = vec![3u8];
        s.extend_from_slice(&[0u8; 1536]);
        s.extend_from_slice(&c0c1[1..]);
        let mut c2 = [0u8; 1536];
        if sock.write_all(&s).is_err() || sock.read_exact(&mut c2).is_err() {
            return;
        }
        if sock.write_all(&script).is_err() {
            return;
        }
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let mut sink = [0u8; 4096];
        while Instant::now() < deadline {
            if !tail.is_empty() && sock.write_all(&tail).is_err() {
                return;
            }
            match sock.read(&mut sink) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    });
    (addr, h)
}

/// `mist analyse URL ARGS`: (exit code, stdout, stderr).
fn analyse(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = util::mist()
        .arg("analyse")
        .arg(url)
        .args(args)
        .output()
        .expect("run mist");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the analyser with `--validate` against a fake server replaying `script`.
fn validate(script: &Script) -> (i32, String, String) {
    let (addr, h) = fake_server(script.out.clone(), Vec::new(), Duration::from_secs(2));
    let r = analyse(
        &format!("rtmp://{addr}/live/s"),
        &["--validate", "--timeout", "5"],
    );
    h.join().expect("server thread");
    r
}

/// The healthy script: connect, createStream, Play.Start, sequence header, frames 0..n.
fn healthy(n: usize) -> Script {
    let (seq, frames) = video();
    let mut s = Script::new();
    s.connect_and_create().play_start().video(0, &seq);
    for (ts, b) in frames.iter().take(n) {
        s.video(*ts, b);
    }
    s
}

#[test]
fn the_healthy_script_passes_validation() {
    let (code, out, err) = validate(&healthy(10));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("validation: 0 errors"), "{out}");
    assert!(out.contains("h264"), "{out}");
}

#[test]
fn backwards_timestamps_are_named() {
    let (seq, frames) = video();
    let mut s = Script::new();
    s.connect_and_create().play_start().video(0, &seq);
    for (ts, b) in frames.iter().take(4) {
        s.video(*ts, b);
    }
    // A frame 20 ms before the last one: within jitter, so a muxer's error.
    let back = frames[3].0 - 20;
    s.video(back, &frames[4].1);
    let (code, out, err) = validate(&s);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let want = format!("timestamp {back} ms goes back from {} ms", frames[3].0);
    assert!(out.contains(&want), "no '{want}' in:\n{out}");
}

#[test]
fn a_missing_extended_timestamp_on_a_type_3_chunk_is_named() {
    let (seq, frames) = video();
    let mut s = Script::new();
    s.connect_and_create().play_start().video(0, &seq);
    // A keyframe of more than one chunk at a timestamp that needs the extended field, cut by
    // hand: type 0 with 0xFFFFFF + extended, then type 3 chunks *without* the repeat.
    let body = &frames[0].1;
    assert!(body.len() > 128, "the keyframe spans several chunks");
    let ts: u32 = 0x0100_0000;
    let cut = |repeat: bool| {
        let mut b = vec![6u8]; // fmt 0, csid 6
        b.extend_from_slice(&[0xFF, 0xFF, 0xFF]);
        b.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        b.push(9);
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&ts.to_be_bytes());
        for (i, piece) in body.chunks(128).enumerate() {
            if i > 0 {
                b.push(0xC6); // fmt 3, csid 6
                if repeat {
                    b.extend_from_slice(&ts.to_be_bytes());
                }
            }
            b.extend_from_slice(piece);
        }
        b
    };
    let mut good = Script::new();
    good.connect_and_create()
        .play_start()
        .video(0, &seq)
        .raw(&cut(true));
    let (code, out, err) = validate(&good);
    assert_eq!(code, 0, "with the repeat: stdout:\n{out}\nstderr:\n{err}");
    s.raw(&cut(false));
    let (code, out, err) = validate(&s);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("does not repeat the extended timestamp"),
        "{out}"
    );
}

#[test]
fn a_missing_sequence_header_is_named() {
    let (_, frames) = video();
    let mut s = Script::new();
    s.connect_and_create().play_start();
    for (ts, b) in frames.iter().take(5) {
        s.video(*ts, b);
    }
    let (code, out, err) = validate(&s);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("video frame before the sequence header"),
        "{out}"
    );
}

#[test]
fn media_before_play_start_is_named() {
    let (seq, frames) = video();
    let mut s = Script::new();
    s.connect_and_create().video(0, &seq).video(0, &frames[0].1);
    s.play_start();
    for (ts, b) in frames.iter().take(4).skip(1) {
        s.video(*ts, b);
    }
    let (code, out, err) = validate(&s);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("video message before onStatus NetStream.Play.Start"),
        "{out}"
    );
}

#[test]
fn a_first_frame_that_is_not_a_keyframe_is_named() {
    let (seq, frames) = video();
    let mut s = Script::new();
    s.connect_and_create().play_start().video(0, &seq);
    for (ts, b) in frames.iter().take(5).skip(1) {
        s.video(*ts, b);
    }
    let (code, out, err) = validate(&s);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("the first video frame is not a keyframe"),
        "{out}"
    );
}

#[test]
fn a_chunk_size_change_mid_message_is_named() {
    let (seq, frames) = video();
    let mut s = Script::new();
    s.connect_and_create().play_start().video(0, &seq);
    // The keyframe's first 128-byte chunk, then Set Chunk Size 4096 on chunk stream 2, then
    // the rest of the keyframe in one type-3 chunk of the new size.
    let body = &frames[0].1;
    assert!(body.len() > 128 && body.len() - 128 <= 4096);
    let mut b = vec![6u8, 0, 0, 0];
    b.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    b.push(9);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&body[..128]);
    b.extend_from_slice(&[2, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0]);
    b.extend_from_slice(&4096u32.to_be_bytes());
    b.push(0xC6);
    b.extend_from_slice(&body[128..]);
    s.raw(&b);
    let (code, out, err) = validate(&s);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("chunk size changes from 128 to 4096 while a message on chunk stream 6"),
        "{out}"
    );
}

/// Runs `mist analyse` and measures its peak RSS (`wait4`'s `ru_maxrss`).
#[allow(clippy::zombie_processes)]
fn measured(url: &str, args: &[&str]) -> (i32, String, i64) {
    let mut child = util::mist()
        .arg("analyse")
        .arg(url)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn mist");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 writes into both out-parameters.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(got, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, stderr, usage.ru_maxrss)
}

/// A hostile server: exit 1, one line on stderr containing `want`, memory bounded.
fn hostile(script: Vec<u8>, tail: Vec<u8>, args: &[&str], want: &str) {
    let (addr, h) = fake_server(script, tail, Duration::from_secs(6));
    let (code, err, peak_kb) = measured(&format!("rtmp://{addr}/live/s"), args);
    h.join().expect("server thread");
    assert_eq!(code, 1, "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one error line: {err}");
    assert!(err.contains(want), "no '{want}' in: {err}");
    assert!(peak_kb < MAX_RSS_KB, "peak RSS {peak_kb} kB");
}

#[test]
fn a_chunk_size_of_2_pow_31_is_one_error() {
    let mut s = Script::new();
    s.connect_and_create().msg(
        2,
        0,
        MessageType::SET_CHUNK_SIZE,
        0,
        &0x8000_0000u32.to_be_bytes(),
    );
    hostile(s.out, Vec::new(), &["--timeout", "5"], "Set Chunk Size");
}

#[test]
fn a_message_longer_than_the_limit_is_one_error() {
    // Chunk size 2^31 - 1 (legal), then a message announcing 16 MiB - 1 and data without end.
    let mut s = Script::new();
    s.connect_and_create()
        .msg(
            2,
            0,
            MessageType::SET_CHUNK_SIZE,
            0,
            &0x7FFF_FFFFu32.to_be_bytes(),
        )
        .raw(&[6, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0]);
    hostile(
        s.out,
        vec![0x55; 64 << 10],
        &["--timeout", "5"],
        "message length",
    );
}

#[test]
fn endless_messages_that_never_start_a_stream_end_at_the_duration() {
    let s = Script::new();
    let mut tail = Script::new();
    tail.msg(4, 0, MessageType(99), 0, &[0xAB; 1000]);
    hostile(
        s.out,
        tail.out,
        &["--timeout", "5", "--duration", "2"],
        "did not start",
    );
}

#[test]
fn a_silent_server_times_out() {
    let (addr, h) = fake_server(Vec::new(), Vec::new(), Duration::from_secs(4));
    let t = Instant::now();
    let (code, _, err) = analyse(&format!("rtmp://{addr}/live/s"), &["--timeout", "1"]);
    h.join().expect("server thread");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no data from"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[test]
fn a_closed_port_is_one_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let (code, _, err) = analyse(&format!("rtmp://127.0.0.1:{port}/live/s"), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("connecting to"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// Oracle: the fixture's ffprobe sidecar. `mist serve` plays `h264_aac.flv` as a VOD stream;
/// the analyser, as a player, lists every packet with the time, size and key flag ffprobe
/// reads from the file, sees the commands of a play conversation, and finds no errors.
#[test]
fn a_vod_stream_from_mist_serve_matches_ffprobe_of_the_file() {
    let fixture = util::fixture("h264_aac.flv");
    let arg = format!("vod={}", fixture.display());
    let server = Serve::start(&["--stream", &arg]);
    let rtmp = server.rtmp.expect("RTMP address");
    let url = format!("rtmp://{rtmp}/live/vod");
    let (code, out, err) = analyse(&url, &["--validate", "--json", "--detail", "1"]);
    assert_eq!(code, 0, "{err}");
    let doc = util::json_lines(&out);
    assert_eq!(doc["format"], "rtmp");
    assert!(
        doc["findings"].as_array().expect("findings").is_empty(),
        "{:#}",
        doc["findings"]
    );
    let probe = util::ffprobe::sidecar("h264_aac.flv");
    let (packets, bases) = util::ffprobe::from_mist_json(&doc);
    util::ffprobe::assert_same_packets("rtmp play of h264_aac.flv", &packets, &bases, &probe);
    let codecs: Vec<_> = doc["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .map(|t| t["codec"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(codecs, ["h264", "aac"]);
    // The live timing: media time per track and the A/V drift come from the timestamps
    // ffprobe lists (dts in ms: FLV's timebase); VOD comes faster than real time.
    let dts = |s: usize| -> Vec<i64> {
        probe
            .stream_packets(s)
            .iter()
            .map(|p| p.dts.expect("dts"))
            .collect()
    };
    let (v, a) = (dts(0), dts(1));
    let live = &doc["live"];
    assert_eq!(live["tracks"][0]["id"], 1);
    assert_eq!(live["tracks"][0]["media_ms"], v[v.len() - 1] - v[0]);
    assert_eq!(live["tracks"][1]["media_ms"], a[a.len() - 1] - a[0]);
    assert_eq!(live["av_drift_ms"], v[v.len() - 1] - a[a.len() - 1]);
    let lag = live["tracks"][0]["lag_ms"].as_i64().expect("lag");
    assert!(
        lag < 0,
        "VOD over RTMP arrives faster than real time: lag {lag}"
    );

    // Detail 1 shows the conversation; detail 2 shows chunk headers too.
    let (code, out, err) = analyse(&url, &["--detail", "2"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "handshake at byte 0",
        "Set Chunk Size",
        "Window Acknowledgement Size",
        "_result",
        "NetConnection.Connect.Success",
        "NetStream.Play.Start",
        "onMetaData",
        "AVCDecoderConfigurationRecord",
        "chunk type 0 at byte",
        "packet_type sequence header",
    ] {
        assert!(out.contains(want), "no '{want}' in:\n{out}");
    }
    drop(server);
}

#[test]
fn a_stream_that_does_not_exist_is_one_error() {
    let server = Serve::start(&[]);
    let rtmp = server.rtmp.expect("RTMP address");
    let (code, _, err) = analyse(&format!("rtmp://{rtmp}/live/nothing_here"), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("refused `play`"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// Ctrl-C (SIGINT) stops a live analysis that has no `--duration` and still prints the
/// summary of what came, with exit status 0.
#[test]
fn ctrl_c_stops_and_prints_the_summary() {
    let (_, frames) = video();
    let mut tail = Script::new();
    tail.video(frames[1].0, &frames[1].1);
    let (addr, h) = fake_server(healthy(3).out, tail.out, Duration::from_secs(8));
    let child = util::mist()
        .arg("analyse")
        .arg(format!("rtmp://{addr}/live/s"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run mist");
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let t = Instant::now();
    let out = child.wait_with_output().expect("wait");
    h.join().expect("server thread");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{text}", out.status);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(text.contains("interrupted (Ctrl-C)"), "{text}");
    assert!(text.contains("h264"), "{text}");
}

/// `--publish-check` against `mist serve`: the publish conversation is shown and accepted.
#[test]
fn publish_check_against_mist_serve_is_accepted() {
    let server = Serve::start(&["--stream", "live=push://"]);
    let rtmp = server.rtmp.expect("RTMP address");
    let (code, out, err) = analyse(
        &format!("rtmp://{rtmp}/live/live"),
        &["--publish-check", "--detail", "1"],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    for want in [
        "NetConnection.Connect.Success",
        "code NetStream.Publish.Start",
        "the server accepted the publish",
    ] {
        assert!(out.contains(want), "no '{want}' in:\n{out}");
    }
}

/// `--publish-check` against a server that refuses the name: one error naming the reason.
#[test]
fn a_refused_publish_is_one_error() {
    let mut s = Script::new();
    // Answers to connect (1), releaseStream (2), FCPublish (3), createStream (4).
    s.command(0, "_result", 1.0, Value::Null, vec![]);
    s.command(0, "_result", 4.0, Value::Null, vec![Value::Number(1.0)]);
    s.command(
        1,
        "onStatus",
        0.0,
        Value::Null,
        vec![status_info(
            "error",
            "NetStream.Publish.BadName",
            "the name is taken",
            None,
        )],
    );
    let (addr, h) = fake_server(s.out, Vec::new(), Duration::from_secs(3));
    let (code, _, err) = analyse(
        &format!("rtmp://{addr}/live/s"),
        &["--publish-check", "--timeout", "5"],
    );
    h.join().expect("server thread");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("refused `publish`: the name is taken"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// One small video message with a hand-made type-1 header on `csid`: `delta` as the
/// timestamp field (the extended field when it needs one), no continuation chunks.
fn type1_video(csid: u8, delta: u32) -> Vec<u8> {
    // An inter frame: AVC NALU packet with one 2-byte NAL unit.
    let body = [0x27, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a];
    let mut b = vec![0x40 | csid];
    let field = if delta >= 0xFF_FFFF { 0xFF_FFFF } else { delta };
    b.extend_from_slice(&field.to_be_bytes()[1..]);
    b.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    b.push(9);
    if field == 0xFF_FFFF {
        b.extend_from_slice(&delta.to_be_bytes());
    }
    b.extend_from_slice(&body);
    b
}

#[test]
fn a_negative_delta_written_unsigned_is_named() {
    // Oracle: RTMP 1.0 §5.3.1.2.2 (a delta is unsigned; -20 ms written as 2^32 - 20 is a jump
    // of 49 days to every reader). Type 1 on chunk stream 6, which the frames before used.
    let mut s = healthy(4);
    s.raw(&type1_video(6, 20));
    let (code, out, err) = validate(&s);
    assert_eq!(code, 0, "a delta of 20: stdout:\n{out}\nstderr:\n{err}");
    let mut s = healthy(4);
    s.raw(&type1_video(6, 20u32.wrapping_neg()));
    let (code, out, err) = validate(&s);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("timestamp delta 4294967276 on chunk stream 6 is -20 ms as a signed number"),
        "{out}"
    );
}

#[test]
fn a_delta_with_nothing_before_it_is_named() {
    // Oracle: RTMP 1.0 §5.3.1.2.2 (type 1 takes the stream id, and the time base, of the
    // previous message on its chunk stream). Chunk stream 7 has carried nothing.
    let mut s = healthy(4);
    s.raw(&type1_video(7, 40));
    let (code, out, err) = validate(&s);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(
            "type-1 chunk on chunk stream 7 gives a timestamp delta (40) with no earlier message"
        ),
        "{out}"
    );
}
