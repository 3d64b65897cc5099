//! Pushes and recordings of live streams, driven in-process: the publisher feeds the hub
//! packets of a fixture (looped, times shifted), a push records or sends them, and what
//! arrives is read back with mist's own demuxers (and `mist analyse --validate`) and compared
//! with what was published.
//!
//! Oracles: the fixture's own packets (payloads, counts, times); the split and trim rules
//! replayed over the fixture's keyframe times in the test itself; the DTSC wire layout of
//! dtsc-format.md §1.9 (ids = position + 1, no index in the header); TS packets of 188 bytes
//! starting with 0x47 in datagrams of seven.

mod util;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mist::dtsc::{Packet, Timebase, Track, TrackKind};
use mist::serve::config::{Config, StreamConfig};
use mist::serve::hub::{Client, Hub};
use mist::serve::push::Pushes;
use mist::serve::{Server, Settings};
use util::*;

const T: Duration = Duration::from_secs(30);

fn publisher_client() -> Client {
    Client {
        peer: "127.0.0.1:1".parse().unwrap(),
        protocol: "TEST",
    }
}

/// A running server (in this process) with one `push://` stream `live`.
struct Live {
    rt: tokio::runtime::Runtime,
    hub: Arc<Hub>,
    pushes: Arc<Pushes>,
    http: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Live {
    fn start() -> Live {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut config = Config::default();
        config.streams.insert(
            "live".into(),
            StreamConfig {
                name: "live".into(),
                source: "push://".into(),
                grace: Some(0),
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
        let pushes = server.pushes().clone();
        let http = server.bound().http.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Live {
            rt,
            hub,
            pushes,
            http,
            stop: Some(stop),
        }
    }

    /// `push_start` of `live` to `target`; the push's id.
    fn push(&self, target: &str) -> u64 {
        let _g = self.rt.enter();
        let ids = self.pushes.start(&self.hub, "live", target).unwrap();
        assert_eq!(ids.len(), 1);
        ids[0]
    }

    /// Waits until push `id` reports `state` (in its `push_list` status object).
    fn wait_state(&self, id: u64, state: &str) {
        let deadline = Instant::now() + T;
        loop {
            let p = self.pushes.get(id).expect("push still running");
            if p.status.object()["state"] == state {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "push {id} never reached '{state}': {}",
                p.row()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until push `id` has its tracks: its viewer has taken its place in the stream.
    fn wait_viewing(&self, id: u64) {
        let deadline = Instant::now() + T;
        loop {
            let p = self.pushes.get(id).expect("push still running");
            if p.status.object()["tracks"]
                .as_array()
                .is_some_and(|t| !t.is_empty())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "push {id} never started viewing: {}",
                p.row()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until every push has ended.
    fn wait_idle(&self) {
        assert!(
            self.rt.block_on(self.pushes.wait_idle(T)),
            "pushes still running: {:?}",
            self.pushes
                .list()
                .iter()
                .map(|p| p.row())
                .collect::<Vec<_>>()
        );
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The packets of a fixture played `loops` times back to back (times shifted by the
/// fixture's length each time), as a publisher that loops a file sends them.
fn looped(name: &str, loops: usize) -> (Vec<Track>, Vec<Packet>) {
    let mut d = mist::pipeline::open(&fixture(name)).unwrap();
    let tracks = d.meta().tracks.clone();
    let mut one = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        one.push(p);
    }
    // One loop lasts until the last packet's time plus one more frame of its track.
    let span_ms = tracks
        .iter()
        .map(|t| {
            let mine: Vec<&Packet> = one.iter().filter(|p| p.track == t.id).collect();
            let n = mine.len() as i64;
            let last = t.timebase.rescale(mine[mine.len() - 1].dts.0, Timebase::MS);
            let first = t.timebase.rescale(mine[0].dts.0, Timebase::MS);
            last + (last - first) / (n - 1).max(1)
        })
        .max()
        .unwrap();
    let mut all = Vec::new();
    for l in 0..loops as i64 {
        for p in &one {
            let mut q = p.clone();
            let base = tracks.iter().find(|t| t.id == p.track).unwrap().timebase;
            q.dts.0 += Timebase::MS.rescale(l * span_ms, base);
            all.push(q);
        }
    }
    (tracks, all)
}

fn ms_of(tracks: &[Track], p: &Packet) -> i64 {
    let t = tracks.iter().find(|t| t.id == p.track).unwrap();
    t.timebase.rescale(p.dts.0, Timebase::MS)
}

fn is_key(tracks: &[Track], p: &Packet) -> bool {
    let t = tracks.iter().find(|t| t.id == p.track).unwrap();
    t.kind == TrackKind::Video && p.keyframe
}

/// Every packet of a file, with its tracks, read by mist.
fn read_file(p: &Path) -> (Vec<Track>, Vec<Packet>) {
    let mut d = mist::pipeline::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let tracks = d.meta().tracks.clone();
    let mut v = Vec::new();
    while let Some(pk) = d.next_packet().unwrap() {
        v.push(pk);
    }
    (tracks, v)
}

/// A payload without the NAL units containers add or drop on their own (AUD, SPS, PPS).
fn media_nals(data: &[u8], kind: TrackKind) -> Vec<u8> {
    if kind != TrackKind::Video {
        return data.to_vec();
    }
    let mut out = Vec::new();
    let mut b = data;
    while b.len() >= 4 {
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let nal = &b[4..(4 + n).min(b.len())];
        if !nal.is_empty() && !matches!(nal[0] & 0x1f, 7..=9) {
            out.extend_from_slice(&b[..4 + nal.len()]);
        }
        b = &b[(4 + n).min(b.len())..];
    }
    out
}

/// (kind, pts in ms, payload) of each packet, in file order per kind.
fn listing(
    tracks: &[Track],
    packets: &[Packet],
    kind: TrackKind,
    shift_ms: i64,
) -> Vec<(i64, Vec<u8>)> {
    let Some(t) = tracks.iter().find(|t| t.kind == kind) else {
        return Vec::new();
    };
    packets
        .iter()
        .filter(|p| p.track == t.id)
        .map(|p| {
            (
                t.timebase.rescale(p.pts().0, Timebase::MS) - shift_ms,
                media_nals(&p.data, kind),
            )
        })
        .collect()
}

/// Asserts a file holds exactly `want` (published packets, times in the source) rebased to
/// `origin_ms`, for the kinds the file has.
fn assert_holds(
    path: &Path,
    src_tracks: &[Track],
    want: &[Packet],
    origin_ms: i64,
    kinds: &[TrackKind],
) {
    let (tracks, got) = read_file(path);
    // An MP3 file has no timestamps: its times are frame counts, which cannot show the gap
    // where the looped fixture starts over.
    let timed = path.extension().is_some_and(|e| e != "mp3");
    // A faststart MP4 starts its movie timeline at the earliest presentation time of any
    // track (mist's MP4 writer, as for `mist convert x.flv x.mp4`): every track moves by the
    // same amount, which is measured on the first kind and then held for every other one.
    let mp4 = path.extension().is_some_and(|e| e == "mp4");
    let mut shift: Option<i64> = (!mp4).then_some(0);
    for &kind in kinds {
        let a = listing(src_tracks, want, kind, origin_ms);
        let first_got = listing(&tracks, &got, kind, 0).first().map(|x| x.0);
        let s = *shift.get_or_insert_with(|| {
            let d = a.first().map(|x| x.0).unwrap_or(0) - first_got.unwrap_or(0);
            assert!((0..1000).contains(&d), "{}: shift {d} ms", path.display());
            d
        });
        let b = listing(&tracks, &got, kind, -s);
        assert_eq!(
            a.len(),
            b.len(),
            "{}: {kind:?} packet count",
            path.display()
        );
        assert!(!a.is_empty(), "{}: no {kind:?} packets", path.display());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            // TS carries 90 kHz: AAC times come back within a millisecond.
            assert!(
                !timed || (x.0 - y.0).abs() <= 1,
                "{}: {kind:?} packet {i}: time {} vs {}",
                path.display(),
                x.0,
                y.0
            );
            assert!(
                x.1 == y.1,
                "{}: {kind:?} packet {i}: payload differs",
                path.display()
            );
        }
    }
}

fn validate(path: &Path) {
    let out = mist_ok(&["analyse", "--validate", path.to_str().unwrap()]);
    assert!(
        out.contains("validation: 0 errors"),
        "{}: {out}",
        path.display()
    );
}

/// The top-level boxes of an MP4 file, in order.
fn top_boxes(path: &Path) -> Vec<String> {
    let d = std::fs::read(path).unwrap();
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

/// Publishes up to and including the first video keyframe, starts the push (its viewer
/// starts at that keyframe), publishes the rest, ends the stream; returns the index of the
/// first keyframe.
fn record_whole(live: &Live, target: &str, tracks: &[Track], packets: &[Packet]) -> usize {
    let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.to_vec());
    let key = packets.iter().position(|p| is_key(tracks, p)).unwrap();
    for pk in &packets[..=key] {
        assert!(p.push(pk.clone()));
    }
    let id = live.push(target);
    live.wait_viewing(id);
    for pk in &packets[key + 1..] {
        assert!(p.push(pk.clone()));
    }
    drop(p);
    live.wait_idle();
    key
}

#[test]
fn a_recording_of_a_stream_that_ends_is_complete_in_every_container() {
    let dir = TestDir::new("push-record");
    for (fixture, ext, kinds) in [
        (
            "h264_aac.flv",
            "flv",
            &[TrackKind::Video, TrackKind::Audio][..],
        ),
        (
            "h264_aac.flv",
            "ts",
            &[TrackKind::Video, TrackKind::Audio][..],
        ),
        (
            "h264_aac.flv",
            "mp4",
            &[TrackKind::Video, TrackKind::Audio][..],
        ),
        (
            "h264_aac.flv",
            "dtsc",
            &[TrackKind::Video, TrackKind::Audio][..],
        ),
        ("h264_mp3.flv", "mp3", &[TrackKind::Audio][..]),
    ] {
        let live = Live::start();
        let (tracks, packets) = looped(fixture, 3);
        let target = format!("{}/$stream-{ext}.{ext}", dir.path().display());
        let key = record_whole(&live, &target, &tracks, &packets);
        let path = dir.join(&format!("live-{ext}.{ext}"));
        assert!(
            path.exists(),
            "{} was not written: {:?}",
            path.display(),
            dir.files()
        );
        // From the keyframe the viewer started at on; audio from before it is left out.
        let origin = ms_of(&tracks, &packets[key]);
        let want: Vec<Packet> = packets[key..]
            .iter()
            .filter(|p| ms_of(&tracks, p) >= origin)
            .cloned()
            .collect();
        let origin = if ext == "mp3" {
            // Audio only: the file starts at the first audio packet after the keyframe.
            want.iter()
                .find(|p| {
                    !is_key(&tracks, p)
                        && tracks
                            .iter()
                            .any(|t| t.id == p.track && t.kind == TrackKind::Audio)
                })
                .map(|p| ms_of(&tracks, p))
                .unwrap()
        } else {
            origin
        };
        assert_holds(&path, &tracks, &want, origin, kinds);
        validate(&path);
        match ext {
            // Finalised as faststart: the fragmented file was replaced.
            "mp4" => assert_eq!(
                top_boxes(&path),
                ["ftyp", "moov", "mdat"],
                "{}",
                path.display()
            ),
            "dtsc" => assert!(dir.join("live-dtsc.dtsc.dtsh").exists(), "no .dtsh"),
            _ => {}
        }
    }
    // Nothing else left behind (no temporary files).
    let mut files = dir.files();
    files.sort();
    assert_eq!(
        files,
        [
            "live-dtsc.dtsc",
            "live-dtsc.dtsc.dtsh",
            "live-flv.flv",
            "live-mp3.mp3",
            "live-mp4.mp4",
            "live-ts.ts"
        ]
    );
}

/// The split rule, replayed: a new file at the first video keyframe at least `split_ms`
/// after the current file's start. Returns the start index of each file.
fn split_points(tracks: &[Track], packets: &[Packet], from: usize, split_ms: i64) -> Vec<usize> {
    let mut starts = vec![from];
    let mut origin = ms_of(tracks, &packets[from]);
    for (i, p) in packets.iter().enumerate().skip(from + 1) {
        if is_key(tracks, p) && ms_of(tracks, p) - origin >= split_ms {
            starts.push(i);
            origin = ms_of(tracks, p);
        }
    }
    starts
}

#[test]
fn split_starts_a_new_file_at_the_first_keyframe_after_each_interval() {
    let dir = TestDir::new("push-split");
    let live = Live::start();
    let (tracks, packets) = looped("h264_aac.flv", 4);
    let target = format!(
        "{}/$stream-$segmentCounter.ts?split=2",
        dir.path().display()
    );
    let key = record_whole(&live, &target, &tracks, &packets);
    let starts = split_points(&tracks, &packets, key, 2000);
    assert!(
        starts.len() >= 3,
        "the stream is long enough for 3 files: {starts:?}"
    );
    assert_eq!(dir.files().len(), starts.len(), "{:?}", dir.files());
    for (n, &s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(packets.len());
        let origin = ms_of(&tracks, &packets[s]);
        // Each file: from its keyframe, every packet up to the next file's keyframe; audio
        // from before the keyframe belongs to no file (it is older than the file's start).
        let next_origin = starts.get(n + 1).map(|&i| ms_of(&tracks, &packets[i]));
        let want: Vec<Packet> = packets[s..end]
            .iter()
            .filter(|p| ms_of(&tracks, p) >= origin)
            .cloned()
            .collect();
        let _ = next_origin;
        let path = dir.join(&format!("live-{}.ts", n + 1));
        assert_holds(
            &path,
            &tracks,
            &want,
            origin,
            &[TrackKind::Video, TrackKind::Audio],
        );
        validate(&path);
        let (t, got) = read_file(&path);
        let v = t.iter().find(|t| t.kind == TrackKind::Video).unwrap().id;
        assert!(
            got.iter().find(|p| p.track == v).unwrap().keyframe,
            "{}: starts with a keyframe",
            path.display()
        );
    }
}

#[test]
fn recstart_and_recstop_cut_a_recording_from_the_dvr_window() {
    let dir = TestDir::new("push-trim");
    let live = Live::start();
    let (tracks, packets) = looped("h264_aac.flv", 4);
    let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.clone());
    for pk in &packets {
        assert!(p.push(pk.clone()));
    }
    // Everything is in the DVR window already: the recording starts at the keyframe at or
    // before 2000 ms and stops before 5000 ms, while the stream goes on.
    let target = format!(
        "{}/cut.flv?recstart=2000&recstop=5000",
        dir.path().display()
    );
    live.push(&target);
    live.wait_idle();
    assert!(p.is_current(), "the stream goes on");
    let start = packets
        .iter()
        .rposition(|q| is_key(&tracks, q) && ms_of(&tracks, q) <= 2000)
        .unwrap();
    let origin = ms_of(&tracks, &packets[start]);
    let want: Vec<Packet> = packets[start..]
        .iter()
        .take_while(|q| ms_of(&tracks, q) < 5000)
        .filter(|q| ms_of(&tracks, q) >= origin)
        .cloned()
        .collect();
    let path = dir.join("cut.flv");
    assert_holds(
        &path,
        &tracks,
        &want,
        origin,
        &[TrackKind::Video, TrackKind::Audio],
    );
    validate(&path);
    drop(p);
}

#[test]
fn push_stop_ends_a_recording_with_a_complete_file() {
    let dir = TestDir::new("push-stop");
    let live = Live::start();
    let (tracks, packets) = looped("h264_aac.flv", 2);
    let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.clone());
    let key = packets.iter().position(|q| is_key(&tracks, q)).unwrap();
    for pk in &packets[..=key] {
        p.push(pk.clone());
    }
    let id = live.push(&format!("{}/stopped.mp4", dir.path().display()));
    live.wait_state(id, "active");
    for pk in &packets[key + 1..] {
        p.push(pk.clone());
    }
    // Let the recorder take every packet, then stop it while the stream is still live.
    let deadline = Instant::now() + T;
    let last = ms_of(&tracks, packets.last().unwrap()) - ms_of(&tracks, &packets[key]);
    while live.pushes.get(id).unwrap().status.object()["mediatime"]
        .as_i64()
        .unwrap_or(0)
        < last - 1100
    {
        assert!(Instant::now() < deadline, "the recorder fell behind");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(live.pushes.stop(id));
    live.wait_idle();
    let path = dir.join("stopped.mp4");
    assert_eq!(top_boxes(&path), ["ftyp", "moov", "mdat"]);
    validate(&path);
    let (_, got) = read_file(&path);
    // Everything the recorder had taken when it was stopped: at least all but the last GOP.
    assert!(
        got.len() + 60 >= packets.len() - key,
        "{} of {}",
        got.len(),
        packets.len() - key
    );
    drop(p);
}

/// A test DTSC server: greets, answers the push command as told, then collects what comes.
fn dtsc_server(
    answer_ok: bool,
) -> (
    SocketAddr,
    std::sync::mpsc::Receiver<Vec<mist::dtsc::wire::Unit>>,
) {
    use mist::dtsc::wire::{Reader, Unit, Value};
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Bounded: at most 5 connections, each read for at most 20 s.
        for _ in 0..5 {
            let Ok((mut s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let cmd = |m: &[(&str, &str)]| {
                let v = Value::Object(
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.to_string(),
                                Value::Str(bytes::Bytes::copy_from_slice(v.as_bytes())),
                            )
                        })
                        .collect(),
                );
                mist::serve::push::dtsc::command(&v)
            };
            let _ = s.write_all(&cmd(&[("cmd", "hi"), ("version", "test")]));
            let mut r = Reader::new();
            let mut units = Vec::new();
            let mut buf = [0u8; 65536];
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut answered = false;
            while Instant::now() < deadline {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => r.feed(&buf[..n]),
                    Err(_) => {}
                }
                while let Ok(Some((_, u))) = r.next_unit() {
                    if !answered {
                        answered = true;
                        let reply = if answer_ok {
                            cmd(&[
                                ("cmd", "ok"),
                                ("msg", "You're cleared for pushing! DTSC_HEAD please?"),
                            ])
                        } else {
                            cmd(&[("cmd", "error"), ("msg", "not allowed here")])
                        };
                        let _ = s.write_all(&reply);
                    }
                    units.push(u);
                }
                if !answer_ok && answered {
                    break;
                }
                if units.iter().any(|u| matches!(u, Unit::Packet(_))) && units.len() > 400 {
                    break;
                }
            }
            let _ = tx.send(units);
            if !answer_ok {
                continue;
            }
            return;
        }
    });
    (addr, rx)
}

#[test]
fn dtsc_push_speaks_the_wire_protocol() {
    use mist::dtsc::wire::Unit;
    let live = Live::start();
    let (addr, got) = dtsc_server(true);
    let (tracks, packets) = looped("h264_aac.flv", 3);
    let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.clone());
    let key = packets.iter().position(|q| is_key(&tracks, q)).unwrap();
    for pk in &packets[..=key] {
        p.push(pk.clone());
    }
    let id = live.push(&format!("dtsc://{addr}/remote?pass=pw"));
    live.wait_state(id, "active");
    for pk in &packets[key + 1..] {
        p.push(pk.clone());
    }
    let units = got.recv_timeout(T).expect("the server got the push");
    // The push command, with the password and the remote name.
    let Unit::Command(c) = &units[0] else {
        panic!("first unit: {:?}", units[0])
    };
    assert_eq!(
        c.get("cmd").and_then(|v| v.as_text()).as_deref(),
        Some("push")
    );
    assert_eq!(
        c.get("stream").and_then(|v| v.as_text()).as_deref(),
        Some("remote")
    );
    assert_eq!(
        c.get("password").and_then(|v| v.as_text()).as_deref(),
        Some("pw")
    );
    // Then a live header without index, ids 1 and 2.
    let Unit::Header(h) = &units[1] else {
        panic!("second unit: {:?}", units[1])
    };
    assert!(h.live && !h.vod);
    let ids: Vec<u32> = h.tracks.iter().map(|t| t.trackid).collect();
    assert_eq!(ids, [1, 2]);
    assert!(h.tracks.iter().all(|t| !t.has_tables));
    // Then the packets from the keyframe on, ids as announced, payloads as published.
    let sent: Vec<&mist::dtsc::wire::WirePacket> = units[2..]
        .iter()
        .filter_map(|u| match u {
            Unit::Packet(p) => Some(p),
            _ => None,
        })
        .collect();
    let origin = ms_of(&tracks, &packets[key]);
    let want: Vec<&Packet> = packets[key..]
        .iter()
        .filter(|q| ms_of(&tracks, q) >= origin)
        .take(sent.len())
        .collect();
    assert!(sent.len() > 100, "only {} packets", sent.len());
    for (i, (s, w)) in sent.iter().zip(&want).enumerate() {
        let pos = tracks.iter().position(|t| t.id == w.track).unwrap() as u32;
        assert_eq!(s.track, pos + 1, "packet {i}: track id");
        assert_eq!(
            s.time as i64,
            ms_of(&tracks, w) - origin,
            "packet {i}: time"
        );
        assert_eq!(s.data, w.data, "packet {i}: payload");
        assert_eq!(s.keyframe, is_key(&tracks, w), "packet {i}: keyframe flag");
    }
    drop(p);
}

#[test]
fn a_target_that_refuses_is_retried_and_push_list_says_why() {
    let live = Live::start();
    let (tracks, packets) = looped("h264_aac.flv", 1);
    let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.clone());
    for pk in &packets {
        p.push(pk.clone());
    }
    // A closed port: bind one, note it, close it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let refused = live.push(&format!("dtsc://{closed}/x"));
    // A server that answers the push with an error.
    let (addr, _got) = dtsc_server(false);
    let rejected = live.push(&format!("dtsc://{addr}/x"));
    // RTMP: a closed port, and a server (mist's own) that refuses the publish.
    let rtmp_refused = live.push(&format!("rtmp://{closed}/live/x"));
    let strict = live
        .rt
        .block_on(Server::bind(Settings {
            rtmp: Some("127.0.0.1:0".parse().unwrap()),
            config: Config {
                accept_unconfigured_push: false,
                ..Config::default()
            },
            ..Settings::default()
        }))
        .unwrap();
    let strict_addr = strict.bound().rtmp.unwrap();
    let (stop_strict, strict_stopped) = tokio::sync::oneshot::channel::<()>();
    live.rt.spawn(strict.run(async move {
        let _ = strict_stopped.await;
    }));
    let rtmp_rejected = live.push(&format!("rtmp://{strict_addr}/live/nosuch"));
    let deadline = Instant::now() + T;
    for (id, says) in [
        (refused, "refused"),
        (rejected, "not allowed here"),
        (rtmp_refused, "refused"),
        (rtmp_rejected, "not configured for publishing"),
    ] {
        loop {
            let push = live.pushes.get(id).expect("a failing push keeps trying");
            let st = push.status.object();
            let row = push.row();
            if st["retries"].as_u64().unwrap_or(0) >= 2 {
                assert_eq!(st["state"], "retrying", "{row}");
                let err = st["error"].as_str().unwrap_or("");
                assert!(err.to_lowercase().contains(says), "{row}");
                // The log lines say it too, in MistServer's [time, kind, message] shape.
                let log = row[4].as_array().unwrap();
                assert!(
                    log.iter()
                        .any(|l| l[1] == "ERROR"
                            && l[2].as_str().unwrap().to_lowercase().contains(says)),
                    "{row}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "no second retry: {row}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Stopping a retrying push ends it at once.
    for id in [refused, rejected, rtmp_refused, rtmp_rejected] {
        assert!(live.pushes.stop(id));
    }
    live.wait_idle();
    let _ = stop_strict.send(());
    drop(p);
}

#[test]
fn tsudp_sends_whole_ts_packets_in_datagrams_of_seven() {
    let live = Live::start();
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = rx.local_addr().unwrap().port();
    let (tracks, packets) = looped("h264_aac.flv", 2);
    let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
    p.set_tracks(tracks.clone());
    let key = packets.iter().position(|q| is_key(&tracks, q)).unwrap();
    for pk in &packets[..=key] {
        p.push(pk.clone());
    }
    let id = live.push(&format!("tsudp://127.0.0.1:{port}"));
    live.wait_state(id, "active");
    let sender = std::thread::spawn(move || {
        // At a pace a receiver's socket buffer takes (UDP drops what does not fit).
        for chunk in packets[key + 1..].chunks(10) {
            for pk in chunk {
                p.push(pk.clone());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        packets
    });
    let mut ts = Vec::new();
    let mut buf = [0u8; 2048];
    let mut sizes = Vec::new();
    let deadline = Instant::now() + T;
    let mut quiet = 0;
    while Instant::now() < deadline && quiet < 10 {
        match rx.recv(&mut buf) {
            Ok(n) => {
                quiet = 0;
                sizes.push(n);
                ts.extend_from_slice(&buf[..n]);
            }
            Err(_) => {
                if live.pushes.list().is_empty() {
                    quiet += 1;
                }
            }
        }
    }
    let packets = sender.join().unwrap();
    live.wait_idle();
    assert!(!sizes.is_empty(), "no datagram arrived");
    // Every datagram but the last is seven whole TS packets.
    for s in &sizes[..sizes.len() - 1] {
        assert_eq!(*s, 1316);
    }
    assert_eq!(ts.len() % 188, 0);
    assert!(
        ts.chunks(188).all(|c| c[0] == 0x47),
        "every TS packet starts with 0x47"
    );
    let dir = TestDir::new("push-udp");
    let path = dir.join("got.ts");
    std::fs::write(&path, &ts).unwrap();
    let origin = ms_of(&tracks, &packets[key]);
    let want: Vec<Packet> = packets[key..]
        .iter()
        .filter(|q| ms_of(&tracks, q) >= origin)
        .cloned()
        .collect();
    assert_holds(
        &path,
        &tracks,
        &want,
        origin,
        &[TrackKind::Video, TrackKind::Audio],
    );
    validate(&path);
}

/// Starts stream `live` and a viewer of its progressive FLV over HTTP; returns bytes read.
fn http_flv_bytes(http: SocketAddr) -> usize {
    util::serve::get(http, "/live.flv", &[], 32 << 10, Duration::from_secs(5))
        .body
        .len()
}

#[test]
fn a_full_disk_stops_the_recording_and_leaves_a_playable_file() {
    let mnt = TestDir::new("push-full");
    let dir: PathBuf = mnt.join("tmpfs");
    std::fs::create_dir_all(&dir).unwrap();
    let st = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=2m",
            "tmpfs",
            dir.to_str().unwrap(),
        ])
        .status()
        .expect("run mount");
    assert!(
        st.success(),
        "\n\n*** this test needs to mount a 2 MB tmpfs (run it as root: CI does); \
         `mount -t tmpfs -o size=2m tmpfs {}` failed ***\n",
        dir.display()
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(dir.clone());
    for ext in ["mp4", "flv"] {
        let live = Live::start();
        // 60 loops of the fixture: about 6 MB, three times what the disk holds.
        let (tracks, packets) = looped("h264_aac.flv", 60);
        let mut p = live.hub.publish("live", publisher_client(), &[]).unwrap();
        p.set_tracks(tracks.clone());
        let key = packets.iter().position(|q| is_key(&tracks, q)).unwrap();
        for pk in &packets[..=key] {
            p.push(pk.clone());
        }
        let path = dir.join(format!("full.{ext}"));
        let id = live.push(path.to_str().unwrap());
        live.wait_state(id, "active");
        let push = live.pushes.get(id).unwrap();
        // Published a little at a time, so the recorder keeps up and fills the disk.
        for chunk in packets[key + 1..].chunks(50) {
            for pk in chunk {
                assert!(p.push(pk.clone()), "the stream took every packet");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        live.wait_idle();
        let err = push
            .status
            .error()
            .expect("the recording says why it stopped");
        assert!(
            err.contains("No space left on device") || err.contains("os error 28"),
            "{err}"
        );
        assert!(push.status.log_lines().iter().any(|l| l[1] == "ERROR"));
        // The stream keeps serving viewers.
        assert!(p.is_current());
        let key2 = packets.iter().rposition(|q| is_key(&tracks, q)).unwrap();
        let viewer = std::thread::spawn({
            let http = live.http;
            move || http_flv_bytes(http)
        });
        std::thread::sleep(Duration::from_millis(300));
        for pk in &packets[key2..] {
            let mut q = pk.clone();
            q.dts.0 += 1_000_000;
            p.push(q);
        }
        assert!(
            viewer.join().unwrap() > 1000,
            "a viewer still gets the stream"
        );
        // The file is playable up to the failure: whole units only, validated clean.
        let (_, got) = read_file(&path);
        assert!(
            got.len() > 500,
            "{}: only {} packets",
            path.display(),
            got.len()
        );
        validate(&path);
        std::fs::remove_file(&path).unwrap();
        drop(p);
    }
}
