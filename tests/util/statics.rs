//! A static file server for tests: GET of a file under its root answers the file's bytes as
//! they are on disk, anything else 404; a few lines over `std::net` in a test thread, as a
//! stand-in for nginx or `python3 -m http.server` serving a packaged folder. A scripted
//! server also answers some paths with a list of versions, one more at each request (the
//! last one from then on): a live playlist as a server rewrites it, fault by fault.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running static server; stops when dropped.
pub struct Static {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Drop for Static {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Serves `root` on 127.0.0.1 (a port chosen by the system) for at most ten minutes.
pub fn static_server(root: PathBuf) -> Static {
    scripted_server::<Vec<u8>>(root, Vec::new())
}

/// [`static_server`], where each `(path, versions)` of `scripts` answers its versions (text
/// or bytes) in turn.
#[allow(dead_code)]
pub fn scripted_server<B: Into<Vec<u8>>>(root: PathBuf, scripts: Vec<(String, Vec<B>)>) -> Static {
    let mut scripts: HashMap<String, (usize, Vec<Vec<u8>>)> = scripts
        .into_iter()
        .map(|(p, v)| (p, (0, v.into_iter().map(Into::into).collect())))
        .collect();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(600);
        while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
            let Ok((mut c, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head);
            let path = text.split(' ').nth(1).unwrap_or("/").to_string();
            let file = root.join(path.trim_start_matches('/'));
            let ok = !path.contains("..");
            let scripted = scripts.get_mut(&path).and_then(|(k, v)| {
                let body = v.get((*k).min(v.len().checked_sub(1)?))?.clone();
                *k += 1;
                Some(body)
            });
            let resp = match scripted
                .ok_or(())
                .or_else(|()| std::fs::read(&file).map_err(|_| ()))
            {
                Ok(body) if ok => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = c.write_all(&resp);
        }
    });
    Static { addr, stop }
}
