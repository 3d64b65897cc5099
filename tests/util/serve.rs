//! A running `mist serve` for tests: the real binary on 127.0.0.1 with ports chosen by the
//! system (read back from what it prints), killed when dropped; and a tiny HTTP/1.1 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A `mist serve` child process.
pub struct Serve {
    child: Child,
    /// HTTP address.
    pub http: Option<SocketAddr>,
    /// RTMP address.
    pub rtmp: Option<SocketAddr>,
    /// API address.
    pub api: Option<SocketAddr>,
    /// Lines it printed on stdout at startup.
    pub banner: Vec<String>,
}

impl Serve {
    /// Starts `mist serve ARGS` with every listener on 127.0.0.1:0 (unless ARGS set them).
    pub fn start(args: &[&str]) -> Serve {
        Self::start_in(None, args)
    }

    /// Same, with the working folder `dir`.
    pub fn start_in(dir: Option<&Path>, args: &[&str]) -> Serve {
        let mut cmd = super::mist();
        cmd.arg("serve");
        for (flag, _) in [("--http", 0), ("--rtmp", 0), ("--api", 0)] {
            if !args.contains(&flag) {
                cmd.args([flag, "127.0.0.1:0"]);
            }
        }
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null());
        if let Some(d) = dir {
            cmd.current_dir(d);
        }
        let mut child = cmd.spawn().expect("start mist serve");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Serve {
            child,
            http: None,
            rtmp: None,
            api: None,
            banner: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        // The banner ends with the publish hint, or with the addresses when RTMP is off.
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let addr = |l: &str, scheme: &str| -> Option<SocketAddr> {
                let rest = l.split(scheme).nth(1)?;
                rest.split('/').next()?.parse().ok()
            };
            if line.starts_with("  HTTP ") {
                s.http = addr(&line, "http://");
            } else if line.starts_with("  RTMP ") {
                s.rtmp = addr(&line, "rtmp://");
            } else if line.starts_with("  API ") {
                s.api = addr(&line, "http://");
            }
            let done = line.starts_with("Publish:") || line == "mist serve: ready";
            s.banner.push(line);
            if done {
                break;
            }
        }
        assert!(
            s.http.is_some() || s.rtmp.is_some(),
            "mist serve did not start: {:?}",
            s.banner
        );
        s
    }

    /// `http://HOST:PORT` of the HTTP listener.
    pub fn base(&self) -> String {
        format!("http://{}", self.http.expect("HTTP listener"))
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit status.
    pub fn terminate(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits (at most `limit`) for the process to exit on its own.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` with `Connection: close`, reading at most `limit` body bytes within `timeout`.
pub fn get(
    addr: SocketAddr,
    path: &str,
    extra: &[(&str, &str)],
    limit: usize,
    timeout: Duration,
) -> Response {
    request(addr, "GET", path, extra, limit, timeout)
}

/// A request without a body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    limit: usize,
    timeout: Duration,
) -> Response {
    let deadline = Instant::now() + timeout;
    let mut s = TcpStream::connect_timeout(&addr, timeout).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 << 10];
    let mut body_at = None;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
        if body_at.is_none() {
            body_at = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
        }
        if let Some(b) = body_at {
            if raw.len() - b >= limit + limit / 8 + 64 {
                break;
            }
        }
    }
    let b = body_at.unwrap_or_else(|| {
        panic!(
            "no response head from {addr}{path}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    });
    let head = String::from_utf8_lossy(&raw[..b]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let mut body = raw[b..].to_vec();
    if chunked {
        body = dechunk(&body);
    }
    body.truncate(limit);
    Response {
        status,
        headers,
        body,
    }
}

/// Undoes chunked transfer coding, keeping what is complete.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else { break };
        b = &b[eol + 2..];
        if size == 0 {
            break;
        }
        let take = size.min(b.len());
        out.extend_from_slice(&b[..take]);
        if take < size || b.len() < size + 2 {
            break;
        }
        b = &b[size + 2..];
    }
    out
}
