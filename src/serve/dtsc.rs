//! The DTSC server (`mist serve --dtsc ADDR`, MistServer's port 4200): other servers pull
//! `dtsc://HOST/STREAM` from mist and push into it, in MistServer's wire protocol
//! (dtsc-format.md §1.9), so MistServer and mist pull from each other.
//!
//! The conversation, as MistServer's DTSC output has it: on accept the server says `hi`
//! (`cmd`, `pack_method` 2, `salt`, `version`, members sorted as MistServer's JSON packer
//! sorts them); a `play` gets a `DTSC` header without index tables (tracks numbered from 1,
//! members in MistServer's order) and then `DTP2` packets, a new header whenever the tracks
//! change; a `push` gets `ok` ("DTSC_HEAD please?"), then the client's header and packets
//! feed the hub as an RTMP publisher's do. `ping` is answered with `ok`; `error` and `reset`
//! are taken as MistServer takes them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::dtsc::wire::{unit, Header, HeaderTrack, Reader, Unit, Value, WirePacket};
use crate::dtsc::{Meta, Timebase, TrackId};
use crate::formats::dtsc::scan::to_packet;
use crate::serve::hub::{Client, Hub, Lookup, ViewOptions, ViewerEvent};
use crate::serve::input::pull::dtsc::version;
use crate::serve::Shared;

/// The protocol name in the client list.
pub const PROTOCOL: &str = "DTSC";
/// A client that says nothing for this long before `play`/`push` is dropped.
const IDLE: Duration = Duration::from_secs(30);
/// Bytes read at a time.
const READ_BUF: usize = 64 << 10;

fn text(s: &str) -> Value {
    Value::Str(Bytes::from(s.to_string()))
}

/// The greeting: `hi` with a salt for password hashing (MistServer's members, sorted).
pub fn hi(salt: &str) -> Vec<u8> {
    unit::command(&[
        ("cmd", text("hi")),
        ("pack_method", Value::Int(2)),
        ("salt", text(salt)),
        ("version", text(&version())),
    ])
}

/// An `ok` or `error` with its message.
fn reply(cmd: &str, msg: &str) -> Vec<u8> {
    unit::command(&[("cmd", text(cmd)), ("msg", text(msg))])
}

/// The header a player gets for `meta`: tracks numbered from 1, no index tables; `index`
/// gives per track (by position) the totals MistServer puts in (`firstms`, `lastms`, `bps`,
/// `maxbps`) when the stream is a file whose index was built.
pub fn play_header(meta: &Meta, index: Option<&crate::dtsc::Index>) -> Vec<u8> {
    let tracks = meta
        .tracks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ti = index.and_then(|x| x.tracks.get(i));
            let mut h = HeaderTrack::from_track(t, i, ti);
            h.trackid = i as u32 + 1;
            h.has_tables = false;
            h.index = None;
            h.missed_frags = 0;
            h
        })
        .collect();
    let h = Header {
        value: Value::Null,
        vod: !meta.live,
        live: meta.live,
        version: Some(crate::dtsc::wire::VERSION),
        unix_zero: meta.unix_zero,
        more_header: None,
        tracks,
        declared_len: 0,
        encoded_len: 0,
    };
    h.encode(false)
}

/// Accepts DTSC connections until the task is aborted.
pub async fn listen(l: TcpListener, shared: Arc<Shared>, live: Arc<()>) {
    loop {
        let Ok((sock, peer)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let shared = shared.clone();
        let live = live.clone();
        tokio::spawn(async move {
            let _live = live;
            if let Err(e) = serve(sock, peer, shared).await {
                tracing::debug!(%peer, "dtsc: {e}");
            }
        });
    }
}

async fn serve(mut sock: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> Result<(), String> {
    let _ = sock.set_nodelay(true);
    let salt = format!(
        "{:032x}",
        u128::from(std::process::id()) << 64
            | u128::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
            )
    );
    sock.write_all(&hi(&salt))
        .await
        .map_err(|e| e.to_string())?;
    let mut units = Reader::new();
    let mut buf = vec![0u8; READ_BUF];
    loop {
        while let Some((_, u)) = units.next_unit().map_err(|e| e.to_string())? {
            let Unit::Command(c) = u else {
                return Err("media before play or push".into());
            };
            let cmd = c.get("cmd").and_then(Value::as_text).unwrap_or_default();
            let stream = c.get("stream").and_then(Value::as_text).unwrap_or_default();
            match cmd.as_str() {
                "play" => return play(sock, peer, &shared.hub, &stream, units).await,
                "push" => {
                    let pw = c
                        .get("password")
                        .and_then(Value::as_text)
                        .unwrap_or_default();
                    return push(sock, peer, &shared.hub, &stream, &pw, units).await;
                }
                "ping" => sock
                    .write_all(&reply("ok", "Pong!"))
                    .await
                    .map_err(|e| e.to_string())?,
                _ => {}
            }
        }
        let n = tokio::time::timeout(IDLE, sock.read(&mut buf))
            .await
            .map_err(|_| "no command within 30 s".to_string())?
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        units.feed(&buf[..n]);
    }
}

async fn play(
    mut sock: TcpStream,
    peer: SocketAddr,
    hub: &Arc<Hub>,
    stream: &str,
    mut units: Reader,
) -> Result<(), String> {
    let client = Client {
        peer,
        protocol: PROTOCOL,
    };
    // A file's header carries its totals, as MistServer's does: they come from its index.
    let index = match hub.lookup(stream) {
        Ok(Lookup::File(_, path)) => tokio::task::spawn_blocking(move || {
            crate::serve::input::file::probe(&path)
                .ok()
                .and_then(|(d, _)| d.meta().index.clone())
        })
        .await
        .ok()
        .flatten(),
        _ => None,
    };
    let mut viewer = match hub.view(stream, client, ViewOptions::default()) {
        Ok(v) => v,
        Err(e) => {
            let _ = sock.write_all(&reply("error", &e.to_string())).await;
            return Err(e.to_string());
        }
    };
    // Track id -> (wire id, timebase).
    let mut ids: HashMap<TrackId, (u32, Timebase)> = HashMap::new();
    let mut buf = vec![0u8; 4096];
    let mut head = Vec::with_capacity(128);
    loop {
        tokio::select! {
            ev = viewer.next() => match ev {
                ViewerEvent::Tracks(meta) => {
                    ids = meta
                        .tracks
                        .iter()
                        .enumerate()
                        .map(|(i, t)| (t.id, (i as u32 + 1, t.timebase)))
                        .collect();
                    let h = play_header(&meta, index.as_ref());
                    sock.write_all(&h).await.map_err(|e| e.to_string())?;
                    viewer.count_down(h.len() as u64);
                }
                ViewerEvent::Packets(batch) => {
                    let mut out = Vec::with_capacity(batch.len() * 3);
                    let mut n = 0u64;
                    for e in &batch {
                        let Some(&(id, tb)) = ids.get(&e.packet.track) else {
                            continue;
                        };
                        let offset = tb.rescale(i64::from(e.packet.cts), Timebase::MS);
                        head.clear();
                        let end = WirePacket::encode_parts(
                            id,
                            e.ms.max(0) as u64,
                            offset,
                            0,
                            e.packet.keyframe,
                            e.packet.data.len(),
                            &mut head,
                        );
                        n += (head.len() + e.packet.data.len() + 3) as u64;
                        out.push(Bytes::copy_from_slice(&head));
                        out.push(e.packet.data.clone());
                        out.push(Bytes::from_static(end));
                    }
                    for piece in out {
                        sock.write_all(&piece).await.map_err(|e| e.to_string())?;
                    }
                    viewer.count_down(n);
                }
                ViewerEvent::End => {
                    let _ = sock.shutdown().await;
                    return Ok(());
                }
            },
            r = sock.read(&mut buf) => {
                let n = r.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Ok(());
                }
                units.feed(&buf[..n]);
                while let Some((_, u)) = units.next_unit().map_err(|e| e.to_string())? {
                    if let Unit::Command(c) = u {
                        match c.get("cmd").and_then(Value::as_text).as_deref() {
                            Some("ping") => sock
                                .write_all(&reply("ok", "Pong!"))
                                .await
                                .map_err(|e| e.to_string())?,
                            Some("error") => return Ok(()),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}

async fn push(
    mut sock: TcpStream,
    peer: SocketAddr,
    hub: &Arc<Hub>,
    stream: &str,
    password: &str,
    mut units: Reader,
) -> Result<(), String> {
    let client = Client {
        peer,
        protocol: PROTOCOL,
    };
    let mut publisher = match hub.publish(stream, client, &[password]) {
        Ok(p) => p,
        Err(e) => {
            let _ = sock.write_all(&reply("error", &e.to_string())).await;
            return Err(e.to_string());
        }
    };
    sock.write_all(&reply(
        "ok",
        "You're cleared for pushing! DTSC_HEAD please?",
    ))
    .await
    .map_err(|e| e.to_string())?;
    let mut ids: Vec<TrackId> = Vec::new();
    let mut buf = vec![0u8; READ_BUF];
    loop {
        while let Some((at, u)) = units.next_unit().map_err(|e| e.to_string())? {
            match u {
                Unit::Header(h) => {
                    let tracks = h.to_meta().tracks;
                    ids = tracks.iter().map(|t| t.id).collect();
                    let summary = format!("Received {} tracks", tracks.len());
                    publisher.set_tracks(tracks);
                    sock.write_all(&reply("ok", &summary))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Unit::Packet(p) => {
                    let id = TrackId(p.track);
                    if !ids.contains(&id) {
                        let why = format!("packet for track {} that no header announced", p.track);
                        let _ = sock.write_all(&reply("error", &why)).await;
                        return Err(why);
                    }
                    if !publisher.push(to_packet(id, p, at)) {
                        return Ok(());
                    }
                }
                Unit::Command(c) => {
                    if c.get("cmd").and_then(Value::as_text).as_deref() == Some("ping") {
                        sock.write_all(&reply("ok", "Pong!"))
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        let n = tokio::select! {
            r = tokio::time::timeout(IDLE, sock.read(&mut buf)) => r
                .map_err(|_| "the pusher sent nothing for 30 s".to_string())?
                .map_err(|e| e.to_string())?,
            _ = publisher.closed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        publisher.count_up(n as u64);
        units.feed(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hi_has_mistservers_members_in_its_order() {
        let b = hi("0123456789abcdef0123456789abcdef");
        let mut r = Reader::new();
        r.feed(&b);
        let Some((_, Unit::Command(c))) = r.next_unit().unwrap() else {
            panic!("a command")
        };
        let names: Vec<_> = c.members().iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["cmd", "pack_method", "salt", "version"]);
        assert_eq!(c.get("pack_method").and_then(Value::as_int), Some(2));
    }
}
