//! `mist serve` over HTTP beyond the byte streams: byte ranges of a file's MP4 (every range
//! assembles the whole, 416, validators, HEAD), `?rate=` pacing, the stream info in
//! MistServer's shape, the pages, and 415 answers.

mod util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mist::serve::config::{Config, StreamConfig};
use mist::serve::hub::Client;
use mist::serve::{Server, Settings};
use serde_json::Value;
use util::serve::{get, request, Response, Serve};
use util::*;

const T: Duration = Duration::from_secs(20);

fn serve_fixtures() -> Serve {
    Serve::start(&[fixture("").to_str().unwrap(), "--api", "off"])
}

/// What `mist convert FILE - --to EXT ARGS` writes.
fn converted(file: &str, ext: &str, args: &[&str]) -> Vec<u8> {
    let f = fixture(file);
    let mut a = vec!["convert", f.to_str().unwrap(), "-", "--to", ext, "-q"];
    a.extend_from_slice(args);
    let o = mist().args(&a).output().unwrap();
    assert!(
        o.status.success(),
        "{a:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn range(http: SocketAddr, path: &str, spec: &str) -> Response {
    get(http, path, &[("Range", spec)], 64 << 20, T)
}

#[test]
fn every_range_of_a_files_mp4_assembles_the_whole() {
    let s = serve_fixtures();
    let http = s.http.unwrap();
    for file in [
        "h264_aac.flv",
        "h264_aac.ts",
        "faststart.mp4",
        "aac_only.flv",
    ] {
        let path = format!("/{file}.mp4");
        let whole = converted(file, "mp4", &[]);
        let len = whole.len();
        let r = get(http, &path, &[], 64 << 20, T);
        assert_eq!(r.status, 200, "{path}");
        assert_same_bytes(&path, &r.body, &whole);
        assert_eq!(r.header("content-length"), Some(len.to_string().as_str()));
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert_eq!(r.header("content-type"), Some("video/mp4"));
        assert!(r
            .header("last-modified")
            .is_some_and(|d| d.ends_with(" GMT")));
        let etag = r.header("etag").expect("an ETag").to_string();

        // Consecutive ranges of changing sizes (so their edges fall in the head, on chunk
        // borders and inside samples) assemble the whole file, and each is its slice.
        let mut at = 0usize;
        let mut assembled = Vec::new();
        let mut size = 1usize;
        while at < len {
            let last = (at + size - 1).min(len - 1);
            let r = range(http, &path, &format!("bytes={at}-{last}"));
            assert_eq!(r.status, 206, "{path} bytes={at}-{last}");
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes {at}-{last}/{len}").as_str())
            );
            assert_eq!(
                r.header("content-length"),
                Some((last - at + 1).to_string().as_str())
            );
            assert_eq!(r.header("etag"), Some(etag.as_str()), "the tag is stable");
            assert_same_bytes(&format!("{path} {at}-{last}"), &r.body, &whole[at..=last]);
            assembled.extend_from_slice(&r.body);
            at = last + 1;
            size = size * 3 + 7;
            if size > len / 4 {
                size = 1 + size % 997;
            }
        }
        assert_same_bytes(&format!("{path} assembled"), &assembled, &whole);

        // Open-ended and suffix ranges from many places.
        for from in (0..len).step_by(len / 13 + 1) {
            let r = range(http, &path, &format!("bytes={from}-"));
            assert_eq!(r.status, 206);
            assert_same_bytes(&format!("{path} {from}-"), &r.body, &whole[from..]);
            let r = range(http, &path, &format!("bytes=-{}", len - from));
            assert_same_bytes(&format!("{path} -{}", len - from), &r.body, &whole[from..]);
        }
        // A last position past the end is cut to the end.
        let r = range(http, &path, &format!("bytes={}-{}", len - 10, len + 1000));
        assert_eq!(r.status, 206);
        assert_eq!(&r.body[..], &whole[len - 10..]);

        // Unsatisfiable: 416 with the length.
        for spec in [
            format!("bytes={len}-"),
            format!("bytes={}-", len + 5),
            "bytes=-0".into(),
        ] {
            let r = range(http, &path, &spec);
            assert_eq!(r.status, 416, "{path} {spec}");
            assert_eq!(
                r.header("content-range"),
                Some(format!("bytes */{len}").as_str()),
                "{spec}"
            );
            assert!(r.body.is_empty());
        }
        // A malformed or multiple range: the whole file with 200.
        for spec in ["bytes=9-3", "bytes=0-1,5-9", "lines=1-2"] {
            let r = range(http, &path, spec);
            assert_eq!(r.status, 200, "{spec}");
            assert_eq!(r.body.len(), len);
        }
        // Conditional requests: a matching tag is 304; If-Range with another tag is 200.
        let r = get(http, &path, &[("If-None-Match", &etag)], 1 << 20, T);
        assert_eq!(r.status, 304);
        assert!(r.body.is_empty());
        let r = get(
            http,
            &path,
            &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")],
            64 << 20,
            T,
        );
        assert_eq!(r.status, 200);
        let r = get(
            http,
            &path,
            &[("Range", "bytes=0-9"), ("If-Range", &etag)],
            64 << 20,
            T,
        );
        assert_eq!(r.status, 206);
        // HEAD: the same headers, no body.
        let r = request(http, "HEAD", &path, &[], 1 << 20, T);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some(len.to_string().as_str()));
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert!(r.body.is_empty());
        let r = request(http, "HEAD", &path, &[("Range", "bytes=5-14")], 1 << 20, T);
        assert_eq!(r.status, 206);
        assert_eq!(r.header("content-length"), Some("10"));
        assert!(r.body.is_empty());
    }
}

#[test]
fn the_etag_names_the_file_and_the_variant() {
    let dir = TestDir::new("etag");
    let copy = dir.copy_in(&fixture("h264_aac.flv"), "clip.flv");
    let tag = |s: &Serve, path: &str| {
        let r = request(s.http.unwrap(), "HEAD", path, &[], 1 << 20, T);
        assert_eq!(r.status, 200, "{path}");
        r.header("etag").unwrap().to_string()
    };
    let s = Serve::start(&[
        dir.path().to_str().unwrap(),
        "--api",
        "off",
        "--rtmp",
        "off",
    ]);
    let a = tag(&s, "/clip.flv.mp4");
    assert_eq!(a, tag(&s, "/clip.flv.mp4"));
    // The same file in another window or track choice is another representation.
    let windowed = tag(&s, "/clip.flv.mp4?start=1000");
    let video = tag(&s, "/clip.flv.mp4?audio=none");
    assert!(a != windowed && a != video && windowed != video);
    // A window's MP4 is what convert --start writes, and its ranges are its slices.
    let want = converted("h264_aac.flv", "mp4", &["--start", "1"]);
    let r = get(
        s.http.unwrap(),
        "/clip.flv.mp4?start=1000",
        &[],
        64 << 20,
        T,
    );
    assert_same_bytes("start=1000", &r.body, &want);
    let r = range(s.http.unwrap(), "/clip.flv.mp4?start=1000", "bytes=1000-");
    assert_same_bytes("start=1000 from 1000", &r.body, &want[1000..]);
    // Another server process gives the same tag for the same file.
    drop(s);
    let s = Serve::start(&[
        dir.path().to_str().unwrap(),
        "--api",
        "off",
        "--rtmp",
        "off",
    ]);
    assert_eq!(a, tag(&s, "/clip.flv.mp4"));
    // A changed file gets a new tag.
    let f = std::fs::File::options().write(true).open(&copy).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(f);
    assert_ne!(a, tag(&s, "/clip.flv.mp4"));
}

#[test]
fn rate_paces_files_at_a_multiple_of_real_time() {
    let s = serve_fixtures();
    let http = s.http.unwrap();
    // h264_aac.flv spans about 2 s (ffprobe: start 0.059, duration 2.08).
    for (ext, want) in [
        ("flv", converted("h264_aac.flv", "flv", &[])),
        ("mp4", converted("h264_aac.flv", "mp4", &[])),
    ] {
        let timed = |q: &str| {
            let t = Instant::now();
            let r = get(http, &format!("/h264_aac.flv.{ext}{q}"), &[], 64 << 20, T);
            assert_eq!(r.status, 200);
            assert_same_bytes(&format!("{ext}{q}"), &r.body, &want);
            t.elapsed()
        };
        // Real time with no lead: the last packet (about 1.9 s after the first) is not
        // sent before its time.
        let paced = timed("?rate=1&buffer=0");
        assert!(
            paced >= Duration::from_millis(1800),
            "{ext} rate=1: {paced:?}"
        );
        // Four times real time: about 0.5 s.
        let fast = timed("?rate=4&buffer=0");
        assert!(fast >= Duration::from_millis(400), "{ext} rate=4: {fast:?}");
        // MistServer's default lead (7.5 s) covers the whole file: no wait.
        let led = timed("?rate=1");
        assert!(
            led < paced,
            "{ext}: with the lead {led:?}, without {paced:?}"
        );
    }
}

/// Fields every `meta.tracks` entry has, and per kind, as MistServer's `json_` documents them.
fn check_track_shape(name: &str, t: &Value, live: bool) {
    for f in [
        "codec", "type", "idx", "trackid", "init", "firstms", "lastms", "bps", "maxbps",
    ] {
        assert!(t.get(f).is_some(), "{name}: no {f}: {t}");
    }
    assert!(t["init"].is_string() && t["codec"].is_string());
    assert_eq!(
        t.get("nowms").is_some(),
        live,
        "{name}: nowms only when live"
    );
    let kind = t["type"].as_str().unwrap();
    let fields: &[&str] = match kind {
        "video" => &["width", "height", "fpks"],
        "audio" => &["rate", "size", "channels"],
        _ => &[],
    };
    for f in fields {
        assert!(t[*f].is_i64(), "{name}: {f} should be a number: {t}");
    }
    // The name: TYPE_CODEC_DETAILS_IDX.
    let idx = t["idx"].as_i64().unwrap();
    assert!(
        name.starts_with(&format!("{kind}_{}_", t["codec"].as_str().unwrap()))
            && name.ends_with(&format!("_{idx}")),
        "{name}"
    );
}

#[test]
fn stream_info_has_mistservers_shape() {
    let s = serve_fixtures();
    let http = s.http.unwrap();
    let rtmp_port = s.rtmp.unwrap().port();
    let r = get(http, "/json_h264_aac.flv.js", &[], 1 << 20, T);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    // Oracle for the values: ffprobe on h264_aac.flv (tests/fixtures/*.ffprobe.json):
    // h264 320x240 at 25 fps, aac 48000 Hz stereo.
    let probe = util::ffprobe::sidecar("h264_aac.flv");
    let pv = probe
        .streams
        .iter()
        .find(|s| s.codec_type == "video")
        .unwrap();
    let pa = probe
        .streams
        .iter()
        .find(|s| s.codec_type == "audio")
        .unwrap();
    assert_eq!(v["type"], "vod");
    assert_eq!(v["width"].as_u64(), pv.width);
    assert_eq!(v["height"].as_u64(), pv.height);
    assert_eq!(v["selver"], 2);
    assert_eq!(v["capa"]["selver"], 2);
    assert_eq!(v["capa"]["ssl"], false);
    assert_eq!(v["meta"]["vod"], 1);
    assert_eq!(v["meta"]["version"], 4);
    let tracks = v["meta"]["tracks"].as_object().unwrap();
    assert_eq!(tracks.len(), 2);
    for (name, t) in tracks {
        check_track_shape(name, t, false);
    }
    let (vn, vt) = tracks.iter().find(|(_, t)| t["type"] == "video").unwrap();
    assert_eq!(vn, "video_H264_320x240_25fps_0");
    assert_eq!(vt["codec"], "H264");
    assert_eq!(vt["width"].as_u64(), pv.width);
    assert_eq!(vt["fpks"], 25_000);
    // The codecs string is the avcC's profile, constraints and level bytes: init[1..4].
    let init: Vec<u8> = vt["init"]
        .as_str()
        .unwrap()
        .chars()
        .map(|c| c as u8)
        .collect();
    assert_eq!(init[0], 1, "configurationVersion");
    assert_eq!(
        vt["codecstring"],
        format!("avc1.{:02x}{:02x}{:02x}", init[1], init[2], init[3])
    );
    let profile = pv.profile.as_deref().unwrap();
    assert_eq!(
        init[1],
        match profile {
            "High" => 100,
            "Main" => 77,
            _ => 66,
        },
        "{profile}"
    );
    let at = tracks.values().find(|t| t["type"] == "audio").unwrap();
    assert_eq!(at["codec"], "AAC");
    assert_eq!(at["codecstring"], "mp4a.40.2");
    assert_eq!(at["rate"].as_u64(), pa.sample_rate);
    assert_eq!(at["channels"].as_u64(), pa.channels);
    assert!(at["lastms"].as_i64().unwrap() > 1900 && at["bps"].as_i64().unwrap() > 0);

    // Sources: sorted by simultaneous tracks, then priority, then matches; every HTTP URL
    // answers, the RTMP one names the listener.
    let src = v["source"].as_array().unwrap();
    let order: Vec<(i64, i64, i64)> = src
        .iter()
        .map(|s| {
            for f in [
                "url",
                "relurl",
                "type",
                "hrn",
                "priority",
                "simul_tracks",
                "total_matches",
            ] {
                assert!(s.get(f).is_some(), "source without {f}: {s}");
            }
            (
                s["simul_tracks"].as_i64().unwrap(),
                s["priority"].as_i64().unwrap(),
                s["total_matches"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(order, sorted, "MistServer's order");
    assert_eq!(src[0]["type"], "html5/video/mp4");
    let types: Vec<&str> = src.iter().map(|s| s["type"].as_str().unwrap()).collect();
    for t in [
        "html5/video/mp4",
        "flash/10",
        "flash/7",
        "html5/video/mpeg",
        "html5/audio/aac",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    assert!(!types.contains(&"html5/audio/mp3"), "MP3 cannot carry AAC");
    for s in src {
        let url = s["url"].as_str().unwrap();
        if let Some(rest) = url.strip_prefix("rtmp://") {
            assert_eq!(rest, format!("127.0.0.1:{rtmp_port}/play/h264_aac.flv"));
            continue;
        }
        let path = url.strip_prefix(&format!("http://{http}")).unwrap();
        assert_eq!(path, format!("/{}", s["relurl"].as_str().unwrap()));
        let r = request(http, "HEAD", path, &[], 1 << 20, T);
        assert_eq!(r.status, 200, "{url}");
    }

    // info_: the same object in MistServer's script.
    let r = get(http, "/info_h264_aac.flv.js", &[], 1 << 20, T);
    assert_eq!(r.header("content-type"), Some("application/javascript"));
    let text = String::from_utf8(r.body).unwrap();
    let json = text
        .split_once("mistvideo[\"h264_aac.flv\"] = ")
        .and_then(|(_, rest)| rest.strip_suffix(";\n"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(serde_json::from_str::<Value>(json).unwrap(), v);

    // Unknown streams: MistServer's error object, with 200.
    for path in ["/json_nope.js", "/json_nope.flv.js"] {
        let r = get(http, path, &[], 1 << 20, T);
        assert_eq!(r.status, 200);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": "Stream is offline"}),
            "{path}"
        );
    }
    // A file's B-frames show (bframes_editlist.mp4 reorders its frames).
    let r = get(http, "/json_bframes_editlist.mp4.js", &[], 1 << 20, T);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["meta"]["bframes"], 1, "{v}");
}

#[test]
fn pages_and_refusals() {
    let s = serve_fixtures();
    let http = s.http.unwrap();
    let r = get(http, "/", &[], 1 << 20, T);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(r.body).unwrap();
    for link in [
        "href=\"h264_aac.flv.html\"",
        "href=\"h264_aac.flv.mp4\"",
        "href=\"h264_aac.flv.ts\"",
        "href=\"h264_aac.flv.flv\"",
        "href=\"cbr_id3.mp3.mp3\"",
    ] {
        assert!(html.contains(link), "{link}");
    }
    assert!(html.contains(&format!(
        "rtmp://127.0.0.1:{}/live/",
        s.rtmp.unwrap().port()
    )));
    let r = get(http, "/h264_aac.flv.html", &[], 1 << 20, T);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(String::from_utf8_lossy(&r.body).contains("player.js"));
    let r = get(http, "/player.js", &[], 1 << 20, T);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/javascript; charset=utf-8")
    );
    assert!(String::from_utf8_lossy(&r.body).contains("mistPlay"));
    // HEAD everywhere: headers, no body.
    for path in [
        "/",
        "/h264_aac.flv.html",
        "/player.js",
        "/json_h264_aac.flv.js",
        "/h264_aac.flv.flv",
        "/h264_aac.flv.ts",
        "/h264_aac.flv.mp4",
    ] {
        let r = request(http, "HEAD", path, &[], 1 << 20, T);
        assert_eq!(r.status, 200, "HEAD {path}");
        assert!(r.body.is_empty(), "HEAD {path}");
        assert!(r.header("content-type").is_some(), "HEAD {path}");
    }
    assert_eq!(
        request(http, "HEAD", "/nope.flv", &[], 1 << 20, T).status,
        404
    );
    // Outputs MistServer routes but mist does not write, and outputs that cannot carry the
    // stream's tracks: 415. Unknown extensions: 404.
    for path in [
        "/h264_aac.flv.webm",
        "/h264_aac.flv.ogg",
        "/h264_aac.flv.mp3",
    ] {
        let r = get(http, path, &[], 1 << 20, T);
        assert_eq!(r.status, 415, "{path}");
    }
    assert_eq!(
        request(http, "HEAD", "/h264_aac.flv.mp3", &[], 1 << 20, T).status,
        415
    );
    assert_eq!(get(http, "/h264_aac.flv.xyz", &[], 1 << 20, T).status, 404);
    // `.fmp4` of a file: fragmented MP4, what convert --to fmp4 writes.
    let r = get(http, "/h264_aac.flv.fmp4", &[], 64 << 20, T);
    assert_same_bytes(".fmp4", &r.body, &converted("h264_aac.flv", "fmp4", &[]));
}

#[test]
fn live_stream_info_and_the_player_page() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut config = Config::default();
    config.streams.insert(
        "cam".into(),
        StreamConfig {
            name: "cam".into(),
            source: "push://".into(),
            dvr: Some(20_000),
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
    // Configured and not published: offline.
    let r = get(http, "/json_cam.js", &[], 1 << 20, T);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v, serde_json::json!({"error": "Stream is offline"}));
    // Published: live, with the window's times.
    let mut d = mist::pipeline::open(&fixture("h264_aac.flv")).unwrap();
    let tracks = d.meta().tracks.clone();
    let client = Client {
        peer: "127.0.0.1:1".parse().unwrap(),
        protocol: "TEST",
    };
    let mut p = hub.publish("cam", client, &[]).unwrap();
    p.set_tracks(tracks);
    while let Some(pk) = d.next_packet().unwrap() {
        p.push(pk);
    }
    let r = get(http, "/json_cam.js", &[], 1 << 20, T);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["type"], "live", "{v}");
    assert_eq!(v["meta"]["live"], 1);
    assert_eq!(v["meta"]["buffer_window"], 20_000);
    for (name, t) in v["meta"]["tracks"].as_object().unwrap() {
        check_track_shape(name, t, true);
        assert_eq!(t["nowms"], t["lastms"]);
        assert!(t["lastms"].as_i64() > t["firstms"].as_i64(), "{t}");
    }
    let src = v["source"].as_array().unwrap();
    assert_eq!(src[0]["type"], "html5/video/mp4");
    assert_eq!(src[0]["url"], format!("http://{http}/cam.mp4"));
    let r = get(http, "/cam.html", &[], 1 << 20, T);
    assert_eq!(r.status, 200);
    // The index lists it as live.
    let r = get(http, "/", &[], 1 << 20, T);
    let html = String::from_utf8(r.body).unwrap();
    assert!(
        html.contains("<td><a href=\"cam.html\">cam</a></td><td>live</td>"),
        "{html}"
    );
    drop(p);
    let _ = stop.send(());
}
