//! Pulls that are a byte stream read with a format reader: HTTP progressive (FLV, TS, MP4,
//! whatever the format table recognises by content, the URL's extension breaking ties),
//! `tsudp://` (MPEG-TS datagrams, unicast or multicast) and `ts-exec:` (MPEG-TS on a
//! command's stdout).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;

use crate::formats::{Format, Reader};
pub use crate::io::http::join_url;
use crate::serve::net;

use super::{split_url, Feed, CONNECT_TIMEOUT, STALL};

/// Bytes a format is detected from (the first ones of the stream, or all of a shorter one).
const DETECT_BYTES: usize = 4096;
/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;
/// Largest UDP datagram.
const DATAGRAM: usize = 65536;

/// Reads chunks into the reader of the stream's format, found from its first bytes.
struct Detecting {
    head: Vec<u8>,
    path: String,
    reader: Option<Box<dyn Reader>>,
}

impl Detecting {
    fn new(path: &str) -> Detecting {
        Detecting {
            head: Vec::new(),
            path: path.split(['?', '#']).next().unwrap_or(path).to_string(),
            reader: None,
        }
    }

    fn with(format: Format) -> Result<Detecting, String> {
        let spec = crate::formats::probe::spec(format);
        let reader = spec
            .reader
            .ok_or_else(|| format!("{} cannot be read as a stream", spec.name))?;
        Ok(Detecting {
            head: Vec::new(),
            path: String::new(),
            reader: Some(reader()),
        })
    }

    fn start(&mut self) -> Result<(), String> {
        let spec = crate::formats::probe::detect(&self.head, Some(Path::new(&self.path)))
            .ok_or("the source sends no format mist recognises")?;
        let make = spec
            .reader
            .ok_or_else(|| format!("{} cannot be read as a stream", spec.name))?;
        let mut r = make();
        r.feed(Bytes::from(std::mem::take(&mut self.head)));
        self.reader = Some(r);
        Ok(())
    }

    fn feed(&mut self, chunk: Bytes, feed: &mut Feed) -> Result<(), String> {
        feed.count_up(chunk.len() as u64);
        match &mut self.reader {
            Some(r) => r.feed(chunk),
            None => {
                self.head.extend_from_slice(&chunk);
                if self.head.len() < DETECT_BYTES {
                    return Ok(());
                }
                self.start()?;
            }
        }
        match &mut self.reader {
            Some(r) => feed.drain(r.as_mut()),
            None => Ok(()),
        }
    }

    fn end(&mut self, feed: &mut Feed) -> Result<(), String> {
        if self.reader.is_none() {
            if self.head.is_empty() {
                return Err("the source sent nothing".into());
            }
            self.start()?;
        }
        if let Some(r) = &mut self.reader {
            feed.drain(r.as_mut())?;
            // Ending the input completes what was waiting for more (a TS reader's last PES).
            let end = r.finish().map_err(|e| e.to_string());
            feed.drain(r.as_mut())?;
            end?;
        }
        Ok(())
    }
}

/// Sends `GET url` and returns the response once its headers arrived (following redirects);
/// an error for anything but 2xx.
pub async fn get(url: &str) -> Result<(String, Response<Incoming>), String> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let https = url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        let (host, port, path) = split_url(&url, if https { 443 } else { 80 })
            .ok_or_else(|| format!("'{url}' is not a URL"))?;
        let io = net::dial(&host, port, https, CONNECT_TIMEOUT)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let (mut sender, conn) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            hyper::client::conn::http1::handshake(TokioIo::new(io)),
        )
        .await
        .map_err(|_| {
            format!(
                "{url}: no HTTP handshake within {} s",
                CONNECT_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| format!("{url}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let host_header = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, host_header)
            .header(
                hyper::header::USER_AGENT,
                concat!("mist/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("{url}: {e}"))?;
        let resp = tokio::time::timeout(CONNECT_TIMEOUT, sender.send_request(req))
            .await
            .map_err(|_| format!("{url}: no answer within {} s", CONNECT_TIMEOUT.as_secs()))?
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        if status.is_redirection() {
            if let Some(loc) = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
            {
                url = join_url(&url, loc);
                continue;
            }
        }
        if !status.is_success() {
            return Err(format!("{url}: HTTP {status}"));
        }
        return Ok((url, resp));
    }
    Err(format!("{url}: more than {MAX_REDIRECTS} redirects"))
}

/// The next body chunk, an error after [`STALL`] without one; `None` at the end.
pub async fn next_chunk(body: &mut Incoming, url: &str) -> Result<Option<Bytes>, String> {
    loop {
        let frame = match tokio::time::timeout(STALL, body.frame()).await {
            Err(_) => return Err(format!("{url}: no data for {} s", STALL.as_secs())),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(format!("{url}: {e}")),
            Ok(Some(Ok(f))) => f,
        };
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
    }
}

/// An HTTP progressive pull: the body read front to back with its format's reader.
pub async fn http(url: &str, feed: &mut Feed) -> Result<(), String> {
    let (url, resp) = get(url).await?;
    let mut body = resp.into_body();
    let mut d = Detecting::new(&url);
    while let Some(chunk) = next_chunk(&mut body, &url).await? {
        d.feed(chunk, feed).map_err(|e| format!("{url}: {e}"))?;
    }
    d.end(feed).map_err(|e| format!("{url}: {e}"))
}

/// `ts-exec:COMMAND`: MPEG-TS from the command's stdout (run by `sh -c`, killed when the
/// pull stops).
pub async fn ts_exec(source: &str, feed: &mut Feed) -> Result<(), String> {
    let cmd = source
        .split_once(':')
        .map(|(_, c)| c.trim())
        .filter(|c| !c.is_empty())
        .ok_or("ts-exec: needs a command")?;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("ts-exec: cannot run the command: {e}"))?;
    let mut out = child.stdout.take().ok_or("ts-exec: no stdout")?;
    let mut d = Detecting::with(Format::Ts)?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match tokio::time::timeout(STALL, out.read(&mut buf)).await {
            Err(_) => return Err(format!("ts-exec: no data for {} s", STALL.as_secs())),
            Ok(Err(e)) => return Err(format!("ts-exec: {e}")),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            break;
        }
        d.feed(Bytes::copy_from_slice(&buf[..n]), feed)
            .map_err(|e| format!("ts-exec: {e}"))?;
    }
    let status = child.wait().await.map_err(|e| format!("ts-exec: {e}"))?;
    d.end(feed).map_err(|e| format!("ts-exec: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("ts-exec: the command ended with {status}"))
    }
}

/// Where a `tsudp://[HOST]:PORT` source listens: the address to bind and the multicast group
/// to join, if HOST is one.
pub fn udp_addr(source: &str) -> Result<(SocketAddr, Option<Ipv4Addr>), String> {
    let rest = source
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or("")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h.trim_matches(['[', ']']), p),
        None => return Err(format!("'{source}' has no port (tsudp://[HOST]:PORT)")),
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{source}': bad port '{port}'"))?;
    let ip: IpAddr = if host.is_empty() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        host.parse()
            .map_err(|_| format!("'{source}': '{host}' is not an IP address"))?
    };
    Ok(match ip {
        IpAddr::V4(v4) if v4.is_multicast() => (
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            Some(v4),
        ),
        other => (SocketAddr::new(other, port), None),
    })
}

/// `tsudp://[HOST]:PORT`: MPEG-TS datagrams sent to this server (HOST: the local address to
/// listen on, or a multicast group to join).
pub async fn ts_udp(source: &str, feed: &mut Feed) -> Result<(), String> {
    let (bind, group) = udp_addr(source)?;
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| format!("{source}: cannot listen on {bind}: {e}"))?;
    if let Some(g) = group {
        sock.join_multicast_v4(g, Ipv4Addr::UNSPECIFIED)
            .map_err(|e| format!("{source}: cannot join {g}: {e}"))?;
    }
    let mut d = Detecting::with(Format::Ts)?;
    let mut buf = vec![0u8; DATAGRAM];
    loop {
        let n = match tokio::time::timeout(STALL, sock.recv(&mut buf)).await {
            Err(_) => return Err(format!("{source}: no data for {} s", STALL.as_secs())),
            Ok(Err(e)) => return Err(format!("{source}: {e}")),
            Ok(Ok(n)) => n,
        };
        d.feed(Bytes::copy_from_slice(&buf[..n]), feed)
            .map_err(|e| format!("{source}: {e}"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_sources_bind_or_join() {
        assert_eq!(
            udp_addr("tsudp://:9000").unwrap(),
            ("0.0.0.0:9000".parse().unwrap(), None)
        );
        assert_eq!(
            udp_addr("tsudp://127.0.0.1:9000").unwrap(),
            ("127.0.0.1:9000".parse().unwrap(), None)
        );
        assert_eq!(
            udp_addr("tsudp://239.1.2.3:5000").unwrap(),
            (
                "0.0.0.0:5000".parse().unwrap(),
                Some(Ipv4Addr::new(239, 1, 2, 3))
            )
        );
        assert!(udp_addr("tsudp://host").is_err());
    }
}
