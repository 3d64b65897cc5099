//! `mist analyse http://…` (issue 14, point 2): progressive FLV/TS/MP4 read as the bytes
//! arrive, `--duration`, `--json` as lines, and hostile HTTP servers.
//!
//! Oracles: the fixture's ffprobe sidecar (what a slow test server sends is the committed
//! file, so every packet listed must be the file's, in order); the packet counts of the
//! fixture for what `mist serve` remuxes.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use util::serve::Serve;

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

/// A one-request HTTP server: reads the request head, then writes `pieces` with `pause`
/// between them, until done, the client leaves, or `for_at_most` passes.
fn server(
    pieces: Vec<Vec<u8>>,
    pause: Duration,
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
        let mut req = Vec::new();
        let mut b = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
            match sock.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&b[..n]),
            }
        }
        for p in pieces {
            if Instant::now() >= deadline || sock.write_all(&p).is_err() {
                return;
            }
            std::thread::sleep(pause);
        }
    });
    (addr, h)
}

/// The FLV fixture sent as an endless-looking live stream: the header and each tag in two
/// halves, `pause` apart, so `--duration` stops the body in the middle of a tag.
fn slow_flv() -> Vec<Vec<u8>> {
    let data = std::fs::read(util::fixture("h264_aac.flv")).expect("fixture");
    let mut pieces = vec![b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\n\r\n".to_vec()];
    // Header (9) + PreviousTagSize0 (4), then tags of 11 + size + 4 bytes.
    pieces.push(data[..13].to_vec());
    let mut at = 13;
    while at + 11 <= data.len() {
        let size = u32::from_be_bytes([0, data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let end = (at + 11 + size + 4).min(data.len());
        let mid = at + (end - at) / 2;
        pieces.push(data[at..mid].to_vec());
        pieces.push(data[mid..end].to_vec());
        at = end;
    }
    pieces
}

/// A stream that has not ended is followed for `--duration` and read as it arrives: the
/// analyser stops after about 2 s of a stream that would take 30 s, lists a prefix of the
/// file's packets exactly as ffprobe lists them, as JSON lines, and the stop cutting a tag in
/// half is not an error.
#[test]
fn a_slow_flv_stream_is_followed_for_the_duration() {
    let (addr, h) = server(
        slow_flv(),
        Duration::from_millis(100),
        Duration::from_secs(10),
    );
    let t = Instant::now();
    let (code, out, err) = analyse(
        &format!("http://{addr}/live.flv"),
        &["--validate", "--json", "--detail", "1", "--duration", "2"],
    );
    let took = t.elapsed();
    h.join().expect("server");
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let doc = util::json_lines(&out);
    assert_eq!(doc["format"], "flv");
    let errors: Vec<_> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let probe = util::ffprobe::sidecar("h264_aac.flv");
    let (packets, _) = util::ffprobe::from_mist_json(&doc);
    let all = probe.packets.len();
    assert!(
        packets.len() > 5 && packets.len() < all / 2,
        "{} of {all} packets in 2 s",
        packets.len()
    );
    // File order across tracks: the n-th packet listed is the file's n-th packet.
    for (n, (g, w)) in packets.iter().zip(&probe.packets).enumerate() {
        assert_eq!(
            (g.stream_index, g.dts, g.size, g.key),
            (w.stream_index, w.dts, w.size, w.key),
            "packet {n}"
        );
    }
}

/// The live report of a stream followed to its end: per track the media time, the wall-clock
/// time of the arrivals and their difference, and the bitrate of every whole second of media.
/// Oracle: the ffprobe sidecar of the fixture (FLV times are ms), whose packet sizes summed
/// per second of decode time from each track's first packet give the bitrates; the server
/// sends the 2 s file in about 3 s, so both tracks lag.
#[test]
fn the_live_report_gives_lag_and_the_bitrate_of_every_second() {
    let (addr, h) = server(
        slow_flv(),
        Duration::from_millis(10),
        Duration::from_secs(20),
    );
    let (code, out, err) = analyse(
        &format!("http://{addr}/live.flv"),
        &["--json", "--duration", "15"],
    );
    h.join().expect("server");
    assert_eq!(code, 0, "{err}\n{out}");
    let doc: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    let live = &doc["live"];
    let probe = util::ffprobe::sidecar("h264_aac.flv");
    for (index, id) in [(0usize, 1u64), (1, 2)] {
        let t = live["tracks"]
            .as_array()
            .expect("live tracks")
            .iter()
            .find(|t| t["id"] == id)
            .expect("track");
        let packets = probe.stream_packets(index);
        let first = packets[0].dts.unwrap();
        let last = packets.last().unwrap().dts.unwrap();
        assert_eq!(t["media_ms"].as_i64(), Some(last - first), "track {id}");
        let wall = t["wall_ms"].as_i64().unwrap();
        assert_eq!(t["lag_ms"].as_i64(), Some(wall - (last - first)));
        assert!(wall > last - first, "track {id}: {wall} ms of arrivals");
        let mut per_second = vec![0u64; ((last - first) / 1000 + 1) as usize];
        for p in &packets {
            per_second[((p.dts.unwrap() - first) / 1000) as usize] += p.size;
        }
        per_second.pop();
        let want: Vec<u64> = per_second.iter().map(|b| b * 8 / 1000).collect();
        let got: Vec<u64> = t["bitrate_kbps"]
            .as_array()
            .expect("bitrate_kbps")
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(got, want, "track {id}");
    }
    assert!(live["av_drift_ms"].is_i64());
}

/// Packets are shown as they arrive, not at the end: the first JSON line comes long before
/// the 4 s `--duration` is over.
#[test]
fn packets_are_printed_as_they_arrive() {
    use std::io::BufRead;
    // About 15 kB/s: the 4 kB the format probe waits for come in well under a second.
    let (addr, h) = server(
        slow_flv(),
        Duration::from_millis(30),
        Duration::from_secs(10),
    );
    let t = Instant::now();
    let mut child = util::mist()
        .arg("analyse")
        .arg(format!("http://{addr}/live.flv"))
        .args(["--json", "--detail", "1", "--duration", "4"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run mist");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("read");
    let first_at = t.elapsed();
    assert!(first.starts_with(r#"{"packet":"#), "{first}");
    let rest = lines.count();
    let status = child.wait().expect("wait");
    h.join().expect("server");
    assert!(status.success());
    assert!(rest > 5, "{rest} more lines");
    assert!(
        first_at < Duration::from_secs(3),
        "the first packet line came after {first_at:?}"
    );
}

/// A fragmented MP4 body goes through the MP4 reader as it arrives (it used to be kept in a
/// scratch file until the stop): the first packet line comes long before the 5 s
/// `--duration`, and the packets listed equal ffprobe's listing of the fixture, in order.
#[test]
fn a_fragmented_mp4_body_is_listed_as_it_arrives() {
    use std::io::BufRead;
    let data = std::fs::read(util::fixture("frag.mp4")).expect("fixture");
    let mut pieces = vec![b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n\r\n".to_vec()];
    pieces.extend(data.chunks(2000).map(<[u8]>::to_vec));
    // About 65 kB/s and then silence: the body never ends, so only the stop ends it.
    let (addr, h) = server(pieces, Duration::from_millis(30), Duration::from_secs(8));
    let t = Instant::now();
    let mut child = util::mist()
        .arg("analyse")
        .arg(format!("http://{addr}/live.mp4"))
        .args(["--json", "--detail", "1", "--duration", "5"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run mist");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("read");
    let first_at = t.elapsed();
    let mut rows: Vec<serde_json::Value> = vec![serde_json::from_str(&first).expect("JSON")];
    for l in lines {
        rows.push(serde_json::from_str(&l.expect("read")).expect("JSON"));
    }
    let status = child.wait().expect("wait");
    h.join().expect("server");
    assert!(status.success());
    assert!(
        first_at < Duration::from_secs(3),
        "the first packet line came after {first_at:?}"
    );
    let got: Vec<(u64, i64)> = rows
        .iter()
        .filter_map(|r| r.get("packet"))
        .map(|p| (p["track"].as_u64().unwrap(), p["dts"].as_i64().unwrap()))
        .collect();
    let probe = util::ffprobe::sidecar("frag.mp4");
    let mut want: Vec<(u64, i64)> = Vec::new();
    for s in 0..2 {
        want.extend(
            probe
                .stream_packets(s)
                .iter()
                .map(|p| (s as u64 + 1, p.dts.expect("dts"))),
        );
    }
    want.sort_by_key(|&(t, d)| (t, d));
    let mut sorted = got.clone();
    sorted.sort_by_key(|&(t, d)| (t, d));
    assert_eq!(
        sorted, want,
        "every packet of the fixture, with ffprobe's times"
    );
}

/// `mist serve` remuxes `h264_aac.flv` to progressive FLV, TS and MP4 over HTTP; each is
/// analysed from its URL with the fixture's tracks and packet counts (ffprobe: 50 video,
/// 95 audio) and no errors.
#[test]
fn progressive_outputs_of_mist_serve_are_analysed_from_their_urls() {
    let fixture = util::fixture("h264_aac.flv");
    let arg = format!("vod={}", fixture.display());
    let server = Serve::start(&["--stream", &arg]);
    let probe = util::ffprobe::sidecar("h264_aac.flv");
    let want: Vec<usize> = (0..2).map(|s| probe.stream_packets(s).len()).collect();
    assert_eq!(want, [50, 95]);
    for ext in ["flv", "ts", "mp4"] {
        let url = format!("{}/vod.{ext}", server.base());
        let (code, out, err) = analyse(&url, &["--validate", "--json"]);
        assert_eq!(code, 0, "{ext}: {err}\n{out}");
        let doc: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(doc["format"], ext, "{ext}");
        let got: Vec<(String, u64)> = doc["tracks"]
            .as_array()
            .expect("tracks")
            .iter()
            .map(|t| {
                (
                    t["codec"].as_str().unwrap_or("").to_string(),
                    t["packets"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(
            got,
            [("h264".to_string(), 50), ("aac".to_string(), 95)],
            "{ext}"
        );
        assert!(
            doc["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .all(|f| f["severity"] != "error"),
            "{ext}: {:#}",
            doc["findings"]
        );
    }
}

/// One error line and exit 1, in bounded time.
fn one_error(url: &str, args: &[&str], want: &str) {
    let t = Instant::now();
    let (code, out, err) = analyse(url, args);
    assert_eq!(code, 1, "{err}\n{out}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(want), "no '{want}' in {err}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn an_endless_response_head_is_one_error() {
    let mut pieces = vec![b"HTTP/1.1 200 OK\r\n".to_vec()];
    pieces.extend((0..200).map(|i| format!("X-Filler-{i}: {}\r\n", "a".repeat(1000)).into_bytes()));
    let (addr, h) = server(pieces, Duration::ZERO, Duration::from_secs(5));
    one_error(
        &format!("http://{addr}/x.flv"),
        &[],
        "response head is longer",
    );
    h.join().expect("server");
}

#[test]
fn a_redirect_loop_is_one_error() {
    // Each server answers once; a chain of six redirects is one more than allowed.
    let mut next: Option<String> = None;
    let mut handles = Vec::new();
    for _ in 0..7 {
        let to = next.clone().unwrap_or_else(|| "/nowhere".into());
        let resp = format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n");
        let (addr, h) = server(
            vec![resp.into_bytes()],
            Duration::ZERO,
            Duration::from_secs(5),
        );
        next = Some(format!("http://{addr}/r"));
        handles.push(h);
    }
    one_error(&next.expect("url"), &[], "redirects");
    drop(handles);
}

#[test]
fn a_404_is_one_error() {
    let (addr, h) = server(
        vec![b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()],
        Duration::ZERO,
        Duration::from_secs(5),
    );
    one_error(&format!("http://{addr}/x.flv"), &[], "HTTP 404 Not Found");
    h.join().expect("server");
}

/// `https://`: the certificate is verified (a self-signed one made for this run, trusted
/// through `SSL_CERT_FILE`); the right name reads the fixture, an address the certificate
/// does not name is one error about the certificate.
#[test]
fn https_verifies_the_certificate_and_reads_the_stream() {
    use std::sync::Arc;
    let dir = util::TestDir::new("analyse-https");
    let rcgen::CertifiedKey { cert, key_pair } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, cert.pem()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into()),
            )
            .unwrap(),
    );
    let body = std::fs::read(util::fixture("h264_aac.flv")).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    // Two connections: the good one, then the one refused for its name.
    let h = std::thread::spawn(move || {
        for _ in 0..2 {
            let Ok((sock, _)) = l.accept() else { return };
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut req = [0u8; 4096];
            if tls.read(&mut req).is_err() {
                continue;
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            let _ = tls.write_all(head.as_bytes());
            let _ = tls.write_all(&body);
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    let run = |host: &str| {
        util::mist()
            .arg("analyse")
            .arg(format!("https://{host}:{port}/a.flv"))
            .args(["--validate", "--json", "--timeout", "5"])
            .env("SSL_CERT_FILE", &pem)
            .output()
            .unwrap()
    };
    let ok = run("localhost");
    let err = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{err}");
    let doc: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&ok.stdout).trim()).unwrap();
    let counts: Vec<u64> = doc["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["packets"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [50, 95]);
    let bad = run("127.0.0.1");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    h.join().unwrap();
}

/// Ctrl-C (SIGINT) stops following an HTTP stream and the summary is still printed.
#[test]
fn ctrl_c_stops_and_prints_the_summary() {
    let (addr, h) = server(
        slow_flv(),
        Duration::from_millis(30),
        Duration::from_secs(10),
    );
    let child = util::mist()
        .arg("analyse")
        .arg(format!("http://{addr}/live.flv"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run mist");
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    h.join().expect("server");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}\n{text}", out.status);
    assert!(text.contains("stopped by --duration or Ctrl-C"), "{text}");
    assert!(text.contains("h264"), "{text}");
}
