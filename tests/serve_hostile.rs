//! Hostile HTTP clients against a running `mist serve`: each is refused or dropped, and a
//! healthy viewer is still served afterwards with the server's memory back near its baseline.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use util::serve::{get, Serve};
use util::*;

const T: Duration = Duration::from_secs(20);

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn healthy(s: &Serve) {
    let r = get(s.http.unwrap(), "/h264_aac.flv.flv", &[], 64 << 20, T);
    assert_eq!(r.status, 200);
    assert!(r.body.len() > 10_000);
}

fn serve() -> Serve {
    Serve::start(&[
        fixture("").to_str().unwrap(),
        "--rtmp",
        "off",
        "--api",
        "off",
    ])
}

#[test]
fn a_request_head_of_1_mib_is_refused() {
    let s = serve();
    let mut c = TcpStream::connect(s.http.unwrap()).unwrap();
    c.set_read_timeout(Some(T)).unwrap();
    let line = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(1 << 20));
    // The server may close before reading it all; a failed write is an answer too.
    let _ = c.write_all(line.as_bytes());
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf);
    assert!(
        head.is_empty() || head.starts_with("HTTP/1.1 4"),
        "{}",
        &head[..head.len().min(200)]
    );
    // A header line of 1 MiB too.
    let mut c = TcpStream::connect(s.http.unwrap()).unwrap();
    c.set_read_timeout(Some(T)).unwrap();
    let req = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "b".repeat(1 << 20));
    let _ = c.write_all(req.as_bytes());
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf);
    assert!(
        head.is_empty() || head.starts_with("HTTP/1.1 4"),
        "{}",
        &head[..head.len().min(200)]
    );
    healthy(&s);
}

#[test]
fn slowloris_is_cut_off_after_the_header_timeout() {
    let s = serve();
    let mut c = TcpStream::connect(s.http.unwrap()).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    c.write_all(b"GET /h264_aac.flv.flv HTTP/1.1\r\n").unwrap();
    let start = Instant::now();
    let mut closed = false;
    // One header byte a second: the whole head never arrives within the 10 s limit.
    while start.elapsed() < Duration::from_secs(16) {
        if c.write_all(b"X").is_err() {
            closed = true;
            break;
        }
        let mut b = [0u8; 512];
        match c.read(&mut b) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {
                closed = true; // an error response, then close
                break;
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(closed, "still open after {:?}", start.elapsed());
    assert!(
        start.elapsed() >= Duration::from_secs(9),
        "{:?}",
        start.elapsed()
    );
    healthy(&s);
}

#[test]
fn a_thousand_idle_connections_do_not_stop_a_viewer_and_memory_comes_back() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let s = serve();
    healthy(&s);
    let base = rss_kib(s.pid());
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(s.http.unwrap()).unwrap());
    }
    // Half of them start a request and stop.
    for c in idle.iter_mut().step_by(2) {
        let _ = c.write_all(b"GET /h264_aac.flv.flv HTTP/1.1\r\nHo");
    }
    healthy(&s);
    let loaded = rss_kib(s.pid());
    drop(idle);
    std::thread::sleep(Duration::from_millis(500));
    healthy(&s);
    let after = rss_kib(s.pid());
    eprintln!(
        "RSS: {base} KiB at rest, {loaded} KiB with 1000 idle connections, {after} KiB after"
    );
    assert!(
        loaded < base + 64 * 1024,
        "1000 idle connections cost {} KiB",
        loaded - base
    );
    assert!(after < base + 16 * 1024, "after: {after} KiB vs {base} KiB");
}
