//! `dtsc://HOST[:4200]/STREAM` pulls, MistServer's wire protocol (dtsc-format.md §1.9): the
//! server greets with `DTCM hi`, the client asks `play`, the server sends a `DTSC` header
//! (tracks numbered from 1) and `DTP2` packets; `ping` is answered, `error` ends the pull,
//! a new header replaces the tracks.

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dtsc::wire::{unit, Reader, Unit, Value};
use crate::dtsc::TrackId;
use crate::formats::dtsc::scan::to_packet;
use crate::serve::net;

use super::{split_url, Feed, CONNECT_TIMEOUT, STALL};

/// MistServer's port for DTSC.
pub const DEFAULT_PORT: u16 = 4200;

pub use crate::dtsc::wire::unit::{peer_version as version, play_command};

/// The stream a `dtsc://` URL names (an empty path: the same name as the pulling stream).
pub fn stream_of(url: &str, own: &str) -> Option<(String, u16, String)> {
    let (host, port, path) = split_url(url, DEFAULT_PORT)?;
    let name = path
        .trim_start_matches('/')
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_string();
    Some((
        host,
        port,
        if name.is_empty() {
            own.to_string()
        } else {
            name
        },
    ))
}

/// Plays `url` into `feed`.
pub async fn pull(url: &str, feed: &mut Feed) -> Result<(), String> {
    let (host, port, stream) =
        stream_of(url, feed.name()).ok_or_else(|| format!("'{url}' is not a dtsc:// URL"))?;
    let mut io = net::dial(&host, port, false, CONNECT_TIMEOUT)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    io.write_all(&play_command(&stream))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let mut units = Reader::new();
    let mut ids: Vec<TrackId> = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match tokio::time::timeout(STALL, io.read(&mut buf)).await {
            Err(_) => return Err(format!("{url}: no data for {} s", STALL.as_secs())),
            Ok(Err(e)) => return Err(format!("{url}: {e}")),
            Ok(Ok(0)) => {
                units.finish().map_err(|e| format!("{url}: {e}"))?;
                return Err(format!("{url}: the server closed the connection"));
            }
            Ok(Ok(n)) => n,
        };
        feed.count_up(n as u64);
        units.feed(&buf[..n]);
        while let Some((at, u)) = units.next_unit().map_err(|e| format!("{url}: {e}"))? {
            match u {
                Unit::Header(h) => {
                    let tracks = h.to_meta().tracks;
                    ids = tracks.iter().map(|t| t.id).collect();
                    feed.tracks(tracks)?;
                }
                Unit::Packet(p) => {
                    let id = TrackId(p.track);
                    if !ids.contains(&id) {
                        return Err(format!(
                            "{url}: packet for track {} that no header announced",
                            p.track
                        ));
                    }
                    feed.packet(to_packet(id, p, at))?;
                }
                Unit::Command(c) => {
                    let cmd = c.get("cmd").and_then(Value::as_text).unwrap_or_default();
                    match cmd.as_str() {
                        "error" => {
                            let msg = c.get("msg").and_then(Value::as_text).unwrap_or_default();
                            return Err(format!("{url}: the server said: {msg}"));
                        }
                        "ping" => {
                            let pong = unit::command(&[
                                ("cmd", Value::Str(Bytes::from_static(b"ok"))),
                                ("msg", Value::Str(Bytes::from_static(b"Pong!"))),
                            ]);
                            io.write_all(&pong)
                                .await
                                .map_err(|e| format!("{url}: {e}"))?;
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_from_urls() {
        assert_eq!(
            stream_of("dtsc://origin/live", "x"),
            Some(("origin".into(), 4200, "live".into()))
        );
        assert_eq!(
            stream_of("dtsc://127.0.0.1:4300/", "mine"),
            Some(("127.0.0.1".into(), 4300, "mine".into()))
        );
    }

    #[test]
    fn play_command_bytes() {
        // Hand-built: DTCM, length, object with cmd/stream/version (sorted), end marker.
        let v = version();
        let mut want = Vec::new();
        let mut body = vec![0xE0];
        for (k, s) in [("cmd", "play"), ("stream", "live"), ("version", v.as_str())] {
            body.extend_from_slice(&(k.len() as u16).to_be_bytes());
            body.extend_from_slice(k.as_bytes());
            body.push(0x02);
            body.extend_from_slice(&(s.len() as u32).to_be_bytes());
            body.extend_from_slice(s.as_bytes());
        }
        body.extend_from_slice(&[0, 0, 0xEE]);
        want.extend_from_slice(b"DTCM");
        want.extend_from_slice(&(body.len() as u32).to_be_bytes());
        want.extend_from_slice(&body);
        assert_eq!(play_command("live"), want);
    }
}
