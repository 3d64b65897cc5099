//! Headless Chromium for tests, and the small page server that hears back from it.
//!
//! How a page reports: it POSTs its result (JSON) to `/result` on the page server and writes
//! it into its DOM. The page also loads `/hold.js`, which the server holds until the result
//! has been posted, so the page's load event, and with it `chromium --dump-dom`, waits for
//! the result in real time (virtual time would not wait for the media pipeline). Every wait
//! is bounded by the deadline.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::TestDir;

/// Connections the page server accepts in one run before it stops accepting.
const MAX_CONNECTIONS: usize = 64;
/// Largest request head or body the page server reads.
const MAX_REQUEST: usize = 1 << 20;

/// Panics loudly unless Chromium runs (`chromium --version`); returns its version line.
pub fn require_chromium() -> String {
    let out = Command::new("chromium").arg("--version").output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        _ => panic!(
            "\n\n*** interop test needs `chromium` on PATH and it is missing or broken. \
             Install it (Debian: apt-get install -y chromium) or run `cargo test` without \
             --features interop. ***\n"
        ),
    }
}

/// A file the page server serves: path, content type, bytes.
pub type Route = (String, &'static str, Vec<u8>);

#[derive(Default)]
struct Shared {
    /// The JSON the page posted to `/result`.
    result: Mutex<Option<String>>,
    posted: Condvar,
    /// Paths requested, for failure messages.
    log: Mutex<Vec<String>>,
}

/// A small HTTP server on 127.0.0.1:0, in test threads: the routes, `/hold.js` and
/// `/result`.
pub struct PageServer {
    port: u16,
    stop: Arc<AtomicBool>,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl PageServer {
    /// Serves `routes` until stopped or `deadline`.
    pub fn start(routes: Vec<Route>, deadline: Instant) -> PageServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::default());
        let routes = Arc::new(routes);
        let (st, sh) = (stop.clone(), shared.clone());
        let accept = std::thread::spawn(move || {
            let mut handlers = Vec::new();
            while !st.load(Ordering::SeqCst)
                && Instant::now() < deadline
                && handlers.len() < MAX_CONNECTIONS
            {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (sh, routes, st) = (sh.clone(), routes.clone(), st.clone());
                        handlers.push(std::thread::spawn(move || {
                            let _ = handle(conn, &sh, &routes, &st, deadline);
                        }));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => break,
                }
            }
            st.store(true, Ordering::SeqCst);
            sh.posted.notify_all();
            for h in handlers {
                let _ = h.join();
            }
        });
        PageServer {
            port,
            stop,
            shared,
            accept: Some(accept),
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting, waits for the connection threads (each bounded by its timeouts) and
    /// returns what the page posted, if anything, and the requests it saw.
    pub fn stop(mut self) -> (Option<String>, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        self.shared.posted.notify_all();
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        let result = self.shared.result.lock().unwrap().take();
        let log = std::mem::take(&mut *self.shared.log.lock().unwrap());
        (result, log)
    }
}

/// Answers one request on `conn` (`Connection: close`).
fn handle(
    mut conn: TcpStream,
    shared: &Shared,
    routes: &[Route],
    stop: &AtomicBool,
    deadline: Instant,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    // A connection the browser opened ahead of time may never send anything: give up on it
    // after a while (or when the server stops), not at the first read timeout.
    let head_end = loop {
        if let Some(p) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if req.len() > MAX_REQUEST || stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            return Ok(());
        }
        match conn.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => req.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    };
    let head = String::from_utf8_lossy(&req[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("").to_string();
    let path = target.split('?').next().unwrap_or("").to_string();
    shared.log.lock().unwrap().push(format!("{method} {path}"));
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
        .min(MAX_REQUEST);
    let mut body = req[head_end..].to_vec();
    while body.len() < length {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    let (status, kind, payload): (&str, &str, &[u8]) = match (method.as_str(), path.as_str()) {
        ("GET", "/hold.js") => {
            // Held until the page has posted its result: the page's load event, and so
            // chromium's --dump-dom, wait for it.
            let mut r = shared.result.lock().unwrap();
            while r.is_none() && !stop.load(Ordering::SeqCst) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                r = shared
                    .posted
                    .wait_timeout(r, left.min(Duration::from_millis(200)))
                    .unwrap()
                    .0;
            }
            ("200 OK", "text/javascript", b"")
        }
        ("POST", "/result") => {
            *shared.result.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
            shared.posted.notify_all();
            ("204 No Content", "text/plain", b"")
        }
        ("GET", p) => match routes.iter().find(|(n, _, _)| n == p) {
            Some((_, kind, bytes)) => ("200 OK", *kind, bytes.as_slice()),
            None => ("404 Not Found", "text/plain", b""),
        },
        _ => ("405 Method Not Allowed", "text/plain", b""),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(payload)?;
    conn.flush()
}

/// One headless Chromium run.
pub struct Run {
    /// Its exit status, `None` if it was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// The DOM it dumped (empty if none).
    pub dom: String,
    /// Wall-clock time of the run.
    pub took: Duration,
    /// The first lines of its log (D-Bus noise left out).
    pub log_tail: String,
}

/// Runs headless Chromium on `url` with `--dump-dom` until it exits or `deadline`; `name`
/// names its profile and log in `dir`.
pub fn chromium(dir: &TestDir, name: &str, url: &str, deadline: Instant) -> Run {
    let profile = dir.join(&format!("profile-{name}"));
    let stderr_path = dir.join(&format!("chromium-{name}.log"));
    let stderr = std::fs::File::create(&stderr_path).expect("create log");
    let started = Instant::now();
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--mute-audio",
        // Without a user gesture play() would be refused for unmuted media; pages mute,
        // this makes sure.
        "--autoplay-policy=no-user-gesture-required",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg("--dump-dom")
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(stderr);
    // Its own process group, so a timeout can end the browser and its helpers together.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        let _ = tx.send(s);
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait chromium") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            // Ends the process group of the chromium this test started (by its id).
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let log_tail: String = log
        .lines()
        .filter(|l| !l.contains("dbus"))
        .take(40)
        .collect::<Vec<_>>()
        .join("\n");
    // The DOM is all written once the browser has exited; a helper process still holding the
    // pipe must not hang the test.
    let dom = if status.is_some() {
        rx.recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{name}: chromium exited but its stdout did not close"))
    } else {
        String::new()
    };
    Run {
        status,
        dom,
        took,
        log_tail,
    }
}

/// The text between `start` and `end` in `dom`, with the dump's HTML escaping undone.
pub fn between(dom: &str, start: &str, end: &str) -> Option<String> {
    let (_, rest) = dom.split_once(start)?;
    let (inner, _) = rest.split_once(end)?;
    Some(
        inner
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}
