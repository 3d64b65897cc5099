//! mist's DTSC server: a pull of the file MistServer served in the wire capture gets the same
//! conversation (the `hi` members in MistServer's order; the header byte for byte; the
//! packets byte for byte and in the capture's order up to the file's last video frame); two
//! edges pulling one origin over `dtsc://` with 100 viewers each cost the origin one pull per
//! edge, and survive losing the origin for 10 s.

mod util;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mist::dtsc::wire::{Reader, Unit};
use mist::serve::config::StreamConfig;
use mist::serve::hub::{Client, Hub, Role, ViewOptions, ViewerEvent};
use mist::serve::rtmp::client::Mode;
use mist::serve::rtmp::client_conn::RtmpConn;
use mist::serve::rtmp::session::MediaKind;
use mist::serve::{Config, Server, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use util::{fixture, interop};

/// The units of a byte string: (magic, whole unit bytes, parsed).
fn units(b: &[u8]) -> Vec<(Vec<u8>, Unit)> {
    let mut r = Reader::new();
    r.feed(b);
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some((off, u)) = r.next_unit().unwrap() {
        let end = r.offset() as usize;
        assert_eq!(off as usize, at);
        out.push((b[at..end].to_vec(), u));
        at = end;
    }
    out
}

fn config(streams: &[(&str, &str)]) -> Config {
    let mut c = Config::default();
    for (name, source) in streams {
        c.streams.insert(
            name.to_string(),
            StreamConfig {
                name: name.to_string(),
                source: source.to_string(),
                ..StreamConfig::default()
            },
        );
    }
    c
}

async fn start(
    settings: Settings,
) -> (
    Arc<Hub>,
    mist::serve::Bound,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let server = Server::bind(settings).await.unwrap();
    let hub = server.hub().clone();
    let bound = server.bound();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    (hub, bound, stop, task)
}

#[test]
fn a_pull_of_the_captured_file_gets_mistservers_layout() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let file = interop("vod_idx0.dtsc");
        let (_hub, bound, stop, task) = start(Settings {
            dtsc: Some("127.0.0.1:0".parse().unwrap()),
            config: config(&[("vod_idx0", file.to_str().unwrap())]),
            ..Settings::default()
        })
        .await;
        let capture = std::fs::read(interop("dtsc_wire_pull_vod.bin")).unwrap();
        let want = units(&capture);
        let mut s = tokio::net::TcpStream::connect(bound.dtsc.unwrap())
            .await
            .unwrap();
        s.write_all(&mist::serve::input::pull::dtsc::play_command("vod_idx0"))
            .await
            .unwrap();
        // Read until as many units as the capture holds arrived.
        let mut got_bytes = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let got = loop {
            let n = tokio::time::timeout_at(deadline, s.read(&mut buf))
                .await
                .expect("the capture's units within 10 s")
                .unwrap();
            assert!(n > 0, "closed early");
            got_bytes.extend_from_slice(&buf[..n]);
            let mut r = Reader::new();
            r.feed(&got_bytes);
            let mut count = 0;
            while let Ok(Some(_)) = r.next_unit() {
                count += 1;
            }
            if count >= want.len() {
                let u = units(&got_bytes[..r.offset() as usize]);
                break u[..want.len()].to_vec();
            }
        };
        // 1. hi: MistServer's members in its order (salt and version are the server's own).
        let (Unit::Command(g), Unit::Command(w)) = (&got[0].1, &want[0].1) else {
            panic!("both start with a command");
        };
        let names = |v: &mist::dtsc::wire::Value| -> Vec<String> {
            v.members().iter().map(|(k, _)| k.clone()).collect()
        };
        assert_eq!(names(g), names(w));
        assert_eq!(g.get("cmd"), w.get("cmd"));
        assert_eq!(g.get("pack_method"), w.get("pack_method"));
        assert_eq!(
            g.get("salt").and_then(|s| s.as_bytes()).map(|b| b.len()),
            Some(32)
        );
        // 2. The header: same members in the same order at every level, same values.
        let (Unit::Header(g), Unit::Header(w)) = (&got[1].1, &want[1].1) else {
            panic!("then a header");
        };
        assert_eq!(names(&g.value), names(&w.value));
        assert_eq!((g.vod, g.live, g.version), (w.vod, w.live, w.version));
        assert_eq!(g.tracks.len(), w.tracks.len());
        for (gt, wt) in g.tracks.iter().zip(&w.tracks) {
            assert_eq!(gt.name, wt.name);
            assert_eq!(
                (gt.trackid, &gt.kind, &gt.codec, &gt.init),
                (wt.trackid, &wt.kind, &wt.codec, &wt.init)
            );
            assert_eq!(
                (gt.width, gt.height, gt.fpks, gt.rate, gt.size, gt.channels),
                (wt.width, wt.height, wt.fpks, wt.rate, wt.size, wt.channels)
            );
            assert_eq!(
                (gt.firstms, gt.lastms),
                (wt.firstms, wt.lastms),
                "{}",
                gt.name
            );
        }
        let track_names = |v: &mist::dtsc::wire::Value| -> Vec<Vec<String>> {
            v.get("tracks")
                .map(|t| t.members().iter().map(|(_, m)| names(m)).collect())
                .unwrap_or_default()
        };
        assert_eq!(track_names(&g.value), track_names(&w.value));
        // And the whole unit: the totals (bps, maxbps) come from mist's index of the file and
        // agree with MistServer's, so the header is byte-identical.
        assert!(got[1].0 == want[1].0, "header bytes differ");
        // 3. Packets byte for byte, in the capture's order up to the file's last video
        // frame: mist sends the file's order, where that frame (9933 ms) comes before the
        // last 2.5 s of audio; MistServer held it back (the capture ends before it). From there
        // on every captured packet is still among mist's, byte for byte.
        let same_order = 598;
        for i in 2..same_order {
            assert!(
                got[i].0 == want[i].0,
                "unit {i} differs: {:?} vs {:?}",
                &got[i].0[..got[i].0.len().min(40)],
                &want[i].0[..want[i].0.len().min(40)]
            );
        }
        let rest: std::collections::HashSet<&Vec<u8>> =
            got[same_order..].iter().map(|u| &u.0).collect();
        let missing = want[same_order..]
            .iter()
            .filter(|u| !rest.contains(&u.0))
            .count();
        // mist's output was cut at the capture's unit count, so it holds one packet less of
        // the captured tail (it sent the 9933 ms frame in its place).
        assert!(missing <= 1, "{missing} captured packets not sent by mist");
        let _ = stop.send(());
        let _ = task.await;
    });
}

fn tags(name: &str) -> Vec<(MediaKind, u32, Bytes)> {
    use mist::formats::flv::reader::{Item, TagReader};
    use mist::formats::flv::tag::TagType;
    let mut r = TagReader::new();
    r.feed(std::fs::read(fixture(name)).unwrap().into());
    let mut out = Vec::new();
    while let Some(item) = r.next_item().unwrap() {
        if let Item::Tag(t) = item {
            let kind = match t.header.tag_type {
                TagType::AUDIO => MediaKind::Audio,
                TagType::VIDEO => MediaKind::Video,
                _ => continue,
            };
            out.push((kind, t.header.timestamp_ms, t.body));
        }
    }
    out
}

/// Publishes the fixture in real time, looping, from `from_ms` on, for `for_ms`.
async fn publish(rtmp: std::net::SocketAddr, from_ms: u32, for_ms: u32) {
    let mut p = RtmpConn::open(
        &format!("rtmp://{rtmp}/live/src"),
        Mode::Publish,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let tags = tags("h264_aac.flv");
    let t0 = tokio::time::Instant::now();
    let mut round = 0u32;
    'outer: loop {
        for (kind, ts, body) in &tags {
            let rel = round * 2080 + ts;
            if rel > for_ms {
                break 'outer;
            }
            tokio::time::sleep_until(t0 + Duration::from_millis(u64::from(rel))).await;
            if p.send_media(*kind, from_ms + rel, body).await.is_err() {
                return;
            }
        }
        round += 1;
    }
    p.close().await;
}

/// Counts packets a viewer gets, and whether its stream ended, until `stop` flips.
async fn watch(
    hub: Arc<Hub>,
    name: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (Vec<i64>, bool) {
    let client = Client {
        peer: "127.0.0.1:1".parse().unwrap(),
        protocol: "TEST",
    };
    let mut v = hub.view(name, client, ViewOptions::default()).unwrap();
    let mut times = Vec::new();
    let mut stop = stop;
    loop {
        tokio::select! {
            ev = v.next() => match ev {
                ViewerEvent::Packets(es) => times.extend(es.iter().map(|e| e.ms)),
                ViewerEvent::Tracks(_) => {}
                ViewerEvent::End => return (times, true),
            },
            _ = stop.changed() => return (times, false),
        }
    }
}

#[test]
fn two_edges_share_one_pull_each_and_survive_losing_the_origin() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (origin_hub, ob, stop_o, task_o) = start(Settings {
            rtmp: Some("127.0.0.1:0".parse().unwrap()),
            dtsc: Some("127.0.0.1:0".parse().unwrap()),
            ..Settings::default()
        })
        .await;
        let (orig_rtmp, orig_dtsc) = (ob.rtmp.unwrap(), ob.dtsc.unwrap());
        let publisher = tokio::spawn(publish(orig_rtmp, 0, 4000));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let source = format!("dtsc://{orig_dtsc}/src");
        let mut edges = Vec::new();
        for _ in 0..2 {
            edges.push(
                start(Settings {
                    config: config(&[("e", &source)]),
                    ..Settings::default()
                })
                .await,
            );
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut viewers = Vec::new();
        for (hub, ..) in &edges {
            for _ in 0..100 {
                viewers.push(tokio::spawn(watch(hub.clone(), "e", stop_rx.clone())));
            }
        }
        tokio::time::sleep(Duration::from_millis(2000)).await;
        // The origin sees exactly one DTSC client per edge, whatever their viewers.
        let dtsc_clients = |hub: &Hub| {
            hub.stats
                .clients()
                .iter()
                .filter(|c| c.protocol == "DTSC" && c.role == Role::Output)
                .count()
        };
        assert_eq!(dtsc_clients(&origin_hub), 2);
        publisher.await.unwrap();
        // The origin goes away for 10 s, then comes back on the same port.
        let _ = stop_o.send(());
        let _ = task_o.await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (origin2, ob2, stop_o2, task_o2) = start(Settings {
            rtmp: Some("127.0.0.1:0".parse().unwrap()),
            dtsc: Some(orig_dtsc),
            ..Settings::default()
        })
        .await;
        assert_eq!(ob2.dtsc, Some(orig_dtsc));
        let publisher = tokio::spawn(publish(ob2.rtmp.unwrap(), 0, 12000));
        // Back-off is at most 8 s: the edges are back within that and a little.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(12);
        while dtsc_clients(&origin2) < 2 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(dtsc_clients(&origin2), 2, "both edges reconnected");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let _ = stop_tx.send(true);
        let mut n = 0;
        for v in viewers {
            let (times, ended) = v.await.unwrap();
            assert!(!ended, "a viewer saw the stream end");
            // Packets from before the loss and after it, times never going back.
            assert!(times.len() > 50, "{} packets", times.len());
            assert!(
                times.windows(2).all(|w| w[1] >= w[0] - 100),
                "times go back"
            );
            // The loss is one jump in stream time (the hub continues times across the new
            // connection by the real time that passed), with packets on both sides.
            let (at, gap) = times
                .windows(2)
                .enumerate()
                .map(|(i, w)| (i, w[1] - w[0]))
                .max_by_key(|x| x.1)
                .unwrap();
            assert!(gap > 5000, "a {gap} ms jump for a 10 s loss");
            assert!(
                at > 20 && times.len() - at > 20,
                "packets before ({at}) and after"
            );
            n += 1;
        }
        assert_eq!(n, 200);
        publisher.abort();
        let _ = stop_o2.send(());
        let _ = task_o2.await;
        for (_, _, stop, task) in edges {
            let _ = stop.send(());
            let _ = task.await;
        }
    });
}

/// `mist analyse dtsc://…` plays a stream from mist's DTSC server and lists what it got.
/// Oracle: the analysis of the file the stream is served from; every packet the play listed
/// is that file's packet at the same place (track, time, size, key flag), the codecs are the
/// file's, and `--validate` finds no error.
#[test]
fn analyse_of_a_dtsc_url_lists_the_packets_the_file_holds() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let file = interop("vod_idx0.dtsc");
    let (_hub, bound, stop, task) = rt.block_on(start(Settings {
        dtsc: Some("127.0.0.1:0".parse().unwrap()),
        config: config(&[("vod_idx0", file.to_str().unwrap())]),
        ..Settings::default()
    }));
    let url = format!("dtsc://{}/vod_idx0", bound.dtsc.unwrap());
    let live = rt.block_on(async {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            util::mist()
                .args(["analyse", &url, "--validate", "--json", "--detail", "1"])
                .args(["--duration", "4"])
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    });
    // A stream that is not there: one error line naming it, exit 1.
    let missing = rt.block_on(async {
        let url = url.replace("vod_idx0", "nosuch");
        tokio::task::spawn_blocking(move || {
            util::mist()
                .args(["analyse", &url, "--duration", "4"])
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    });
    rt.block_on(async {
        let _ = stop.send(());
        let _ = task.await;
    });
    let text = String::from_utf8_lossy(&live.stdout);
    assert!(
        live.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let got = util::json_lines(&text);
    let want = util::analyse_json(&file, &["--detail", "1"]);
    assert_eq!(got["format"], "dtsc");
    let codecs = |v: &serde_json::Value| -> Vec<String> {
        v["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["codec"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codecs(&got), codecs(&want));
    // Tracks by their place in the header: the file numbers them from 0, the server from 1.
    let rows = |v: &serde_json::Value| -> Vec<(usize, i64, u64, bool)> {
        let ids: Vec<u64> = v["tracks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect();
        v["packets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    ids.iter()
                        .position(|i| Some(*i) == p["track"].as_u64())
                        .unwrap(),
                    p["dts"].as_i64().unwrap(),
                    p["size"].as_u64().unwrap(),
                    p["key"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let (g, w) = (rows(&got), rows(&want));
    assert!(g.len() > 10, "{} packets: {text}", g.len());
    for row in &g {
        assert!(w.contains(row), "{row:?} is not a packet of the file");
    }
    let errors: Vec<_> = got["findings"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["severity"] == "error").collect())
        .unwrap_or_default();
    assert!(errors.is_empty(), "{errors:?}");
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
