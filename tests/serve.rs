//! `mist serve` over HTTP: routes, files on demand (byte for byte what `mist convert` writes),
//! live streams from the hub, and hostile requests.

mod util;

use std::path::{Path, PathBuf};
use std::time::Duration;

use util::serve::{get, request, Serve};
use util::*;

const T: Duration = Duration::from_secs(20);

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

#[test]
fn every_fixture_through_every_progressive_url_is_what_convert_writes() {
    let s = Serve::start(&[
        fixture("").to_str().unwrap(),
        "--rtmp",
        "off",
        "--api",
        "off",
    ]);
    let http = s.http.unwrap();
    let mut compared = 0;
    for f in media_fixtures() {
        let file = f.file_name().unwrap().to_str().unwrap().to_string();
        let name = file.to_ascii_lowercase();
        for ext in ["flv", "ts", "mp4", "mp3"] {
            // The streaming form: what convert writes to a pipe (no header patched afterwards),
            // of what is readable (the server plays damaged files as `--salvage` converts them).
            let converted = mist()
                .args([
                    "convert",
                    f.to_str().unwrap(),
                    "-",
                    "--to",
                    ext,
                    "-q",
                    "--salvage",
                ])
                .output()
                .unwrap();
            let r = get(http, &format!("/{name}.{ext}"), &[], 64 << 20, T);
            if converted.status.success() {
                assert_eq!(
                    r.status,
                    200,
                    "{name}.{ext}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                assert_same_bytes(&format!("/{name}.{ext}"), &r.body, &converted.stdout);
                compared += 1;
            } else {
                // What convert refuses, the server refuses too, in one line: 415 when the
                // container cannot carry the file's tracks (MistServer's answer for an
                // output that does not fit the stream), 500 for other failures.
                let why = String::from_utf8_lossy(&converted.stderr);
                let want = if why.contains("cannot carry any track") {
                    415
                } else {
                    500
                };
                assert_eq!(r.status, want, "{name}.{ext}: {why}");
                assert_eq!(String::from_utf8_lossy(&r.body).lines().count(), 1);
            }
        }
    }
    assert!(compared > 100, "only {compared} outputs compared");
}

#[test]
fn start_and_track_selectors_on_files() {
    let s = Serve::start(&[
        fixture("").to_str().unwrap(),
        "--rtmp",
        "off",
        "--api",
        "off",
    ]);
    let http = s.http.unwrap();
    let piped = |args: &[&str]| {
        let o = mist().args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}");
        o.stdout
    };
    // ?start= counts from the file's start, like --start; it lands on the key at or before.
    let ts = fixture("h264_aac.ts");
    let want = piped(&[
        "convert",
        ts.to_str().unwrap(),
        "-",
        "--to",
        "flv",
        "--start",
        "1",
    ]);
    let r = get(http, "/h264_aac.ts.flv?start=1000", &[], 64 << 20, T);
    assert_eq!(r.status, 200);
    assert_same_bytes("start=1000", &r.body, &want);
    // audio=none: the video track alone.
    let flv = fixture("h264_aac.flv");
    let want = piped(&[
        "convert",
        flv.to_str().unwrap(),
        "-",
        "--to",
        "ts",
        "--tracks",
        "video",
    ]);
    let r = get(http, "/h264_aac.flv.ts?audio=none", &[], 64 << 20, T);
    assert_same_bytes("audio=none", &r.body, &want);
}

#[test]
fn unknown_urls_and_hostile_paths_get_404_and_the_server_keeps_serving() {
    let s = Serve::start(&[
        fixture("").to_str().unwrap(),
        "--rtmp",
        "off",
        "--api",
        "off",
    ]);
    let http = s.http.unwrap();
    let long = format!("/{}.flv", "a".repeat(1000));
    let nul = "/a%00b.flv".to_string();
    for path in [
        "/nope.flv",
        "/h264_aac.flv.xyz",
        "/../../etc/passwd.flv",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd.flv",
        "/..%2f..%2fetc%2fpasswd.flv",
        "/x+..%2fh264_aac.flv.flv",
        "/h264_aac.flv",
        long.as_str(),
        nul.as_str(),
        "/a/b.flv",
    ] {
        let r = get(http, path, &[], 1 << 16, T);
        assert_eq!(r.status, 404, "{path}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("root:"),
            "{path}"
        );
    }
    let r = request(http, "POST", "/h264_aac.flv.flv", &[], 1 << 16, T);
    assert_eq!(r.status, 405);
    let r = request(http, "OPTIONS", "/h264_aac.flv.flv", &[], 1 << 16, T);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = get(http, "/h264_aac.flv.flv", &[], 64 << 20, T);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("video/x-flv"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn sigterm_stops_the_server_with_exit_0_within_5_s() {
    let s = Serve::start(&[
        fixture("").to_str().unwrap(),
        "--rtmp",
        "off",
        "--api",
        "off",
    ]);
    // A viewer in the middle of a response does not hold the shutdown up.
    let http = s.http.unwrap();
    let mut sock = std::net::TcpStream::connect(http).unwrap();
    use std::io::Write;
    sock.write_all(b"GET /h264_aac.flv.flv HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let st = s
        .terminate(Duration::from_secs(5))
        .expect("exited within 5 s");
    assert!(st.success(), "{st:?}");
}
