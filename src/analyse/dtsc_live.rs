//! `mist analyse dtsc://HOST[:4200]/STREAM`: plays the stream as a MistServer peer does (the
//! server's `hi`, our `play`, then a `DTSC` header and `DTP2` packets) and hands the bytes as
//! they arrive to the DTSC analyser, which shows the commands, the header and every packet
//! and validates them as it does a file's.
//!
//! Bounded: a connect and read timeout, `--duration` as a wall-clock cap and Ctrl-C (after
//! which the stream reads as ended and the summary is printed), and the DTSC reader's own
//! cap on a unit's size.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::dtsc::wire::unit::play_command;
use crate::io::http::{Watch, POLL};

use super::AnalyseError;

/// MistServer's DTSC port.
pub const DEFAULT_PORT: u16 = 4200;

/// True when `s` is a `dtsc://` URL.
pub fn is_url(s: &str) -> bool {
    s.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("dtsc://"))
}

/// `(host, port, stream)` of a `dtsc://HOST[:PORT]/STREAM` URL.
pub fn split(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .get(7..)
        .filter(|_| is_url(url))
        .ok_or("not a dtsc:// URL")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let stream = path.split(['?', '#']).next().unwrap_or("");
    if stream.is_empty() {
        return Err("the URL names no stream (dtsc://HOST[:PORT]/STREAM)".into());
    }
    let (host, port) = crate::io::http::split_authority(authority, DEFAULT_PORT)?;
    Ok((host, port, stream.to_string()))
}

/// The bytes of a DTSC play, read as they arrive.
struct Wire {
    sock: TcpStream,
    deadline: Option<Instant>,
    stop: Option<Arc<AtomicBool>>,
    timeout: Duration,
    last_data: Instant,
    cut: Arc<AtomicBool>,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let watch = Watch {
            deadline: self.deadline,
            stop: self.stop.as_deref(),
            timeout: self.timeout,
            cut: &self.cut,
        };
        watch.read(&mut self.sock, buf, &mut self.last_data)
    }
}

/// A connection to a DTSC server, playing one stream: the bytes as they arrive, and a flag
/// set when `duration` or `stop` ended it (it then reads as ended).
pub type Play = (Box<dyn Read + Send>, Arc<AtomicBool>);

/// Connects to `url` and asks to play its stream.
pub fn open(
    url: &str,
    timeout: Duration,
    duration: Option<Duration>,
    stop: Option<Arc<AtomicBool>>,
) -> Result<Play, AnalyseError> {
    let fail = |e: String| AnalyseError::Input(format!("{url}: {e}"));
    let (host, port, stream) = split(url).map_err(fail)?;
    let addr: SocketAddr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .next()
        .ok_or_else(|| fail(format!("{host} has no address")))?;
    let mut sock = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| fail(format!("connecting to {addr}: {e}")))?;
    sock.set_write_timeout(Some(timeout))
        .and_then(|()| sock.set_read_timeout(Some(POLL)))
        .and_then(|()| sock.write_all(&play_command(&stream)))
        .map_err(|e| fail(e.to_string()))?;
    let cut = Arc::new(AtomicBool::new(false));
    let wire = Wire {
        sock,
        deadline: duration.map(|d| Instant::now() + d),
        stop,
        timeout,
        last_data: Instant::now(),
        cut: cut.clone(),
    };
    Ok((Box::new(wire), cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_host_port_and_stream() {
        assert_eq!(
            split("dtsc://origin/live").unwrap(),
            ("origin".into(), 4200, "live".into())
        );
        assert_eq!(
            split("DTSC://127.0.0.1:4300/a+b.mp4?x=1").unwrap(),
            ("127.0.0.1".into(), 4300, "a+b.mp4".into())
        );
        assert_eq!(
            split("dtsc://[::1]:9/s").unwrap(),
            ("::1".into(), 9, "s".into())
        );
        assert!(split("dtsc://host/").is_err());
        assert!(split("dtsc://host:0/s").is_err());
        assert!(split("rtmp://host/s").is_err());
    }
}
