//! `tsudp://HOST:PORT[/INTERFACE]`: the stream as MPEG-TS in UDP datagrams of seven 188-byte
//! packets (1316 bytes, what ffmpeg, VLC and MistServer send), unicast or multicast.
//!
//! Datagrams go out as the viewer delivers packets, so a live stream is paced by its
//! publisher and a file by the viewer's real-time clock. UDP has no back-pressure and no
//! connection: a receiver that is not there loses the datagrams, and only a local error
//! (no route, an unusable address) fails the push.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;

use tokio::sync::watch;

use super::feed::Feed;
use super::status::{State, Status};
use super::target::{Kind, Target};
use super::Outcome;
use crate::formats::{self, MuxOptions};
use crate::serve::http::sink::PieceSink;
use crate::serve::hub::{Viewer, ViewerEvent};

/// TS packets per datagram.
pub const PACKETS_PER_DATAGRAM: usize = 7;
/// Bytes per datagram.
pub const DATAGRAM: usize = 188 * PACKETS_PER_DATAGRAM;
/// Hops a multicast datagram may take (MistServer's and ffmpeg's default is 1 for local
/// networks; a few routers' worth is more useful and still contained).
pub const MULTICAST_TTL: u32 = 8;

/// Resolves and opens the socket for a TS/UDP target.
pub fn open(target: &Target) -> Result<(UdpSocket, SocketAddr), String> {
    let Kind::TsUdp { addr, interface } = &target.kind else {
        return Err("not a tsudp:// target".into());
    };
    let to = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let bind: SocketAddr = match (interface, to) {
        (Some(i), _) => format!("{i}:0")
            .parse()
            .map_err(|_| format!("{i}: not an interface address"))?,
        (None, SocketAddr::V4(_)) => "0.0.0.0:0".parse().map_err(|_| "bind".to_string())?,
        (None, SocketAddr::V6(_)) => "[::]:0".parse().map_err(|_| "bind".to_string())?,
    };
    let sock = UdpSocket::bind(bind).map_err(|e| format!("bind {bind}: {e}"))?;
    if to.ip().is_multicast() {
        let r = match to {
            SocketAddr::V4(_) => sock.set_multicast_ttl_v4(MULTICAST_TTL),
            SocketAddr::V6(_) => Ok(()),
        };
        r.map_err(|e| format!("{to}: {e}"))?;
    }
    Ok((sock, to))
}

/// Sends the stream until it ends or `stop` flips. Blocks: run it on a thread of its own.
pub fn run(
    target: &Target,
    status: &Arc<Status>,
    mut viewer: Viewer,
    mut stop: watch::Receiver<bool>,
    rt: &tokio::runtime::Handle,
) -> Outcome {
    let (sock, to) = match open(target) {
        Ok(x) => x,
        Err(why) => {
            return Outcome::Failed { why, retry: true };
        }
    };
    status.set_resolved(&format!("tsudp://{to}"));
    let ts = formats::spec(formats::Format::Ts);
    let mut feed = Feed::new(ts, target.select.clone(), MuxOptions::default());
    let mut sink = PieceSink::default();
    let mut pending: Vec<u8> = Vec::with_capacity(DATAGRAM * 64);
    status.set_state(State::Waiting);
    let send = |pending: &mut Vec<u8>, all: bool, ms: i64| -> Result<(), String> {
        let whole = if all {
            pending.len()
        } else {
            pending.len() / DATAGRAM * DATAGRAM
        };
        let mut sent = 0;
        for d in pending[..whole].chunks(DATAGRAM) {
            sock.send_to(d, to).map_err(|e| format!("{to}: {e}"))?;
            sent += d.len();
        }
        pending.drain(..whole);
        if sent > 0 {
            status.progress(sent as u64, ms);
        }
        Ok(())
    };
    loop {
        let ev = rt.block_on(async {
            tokio::select! {
                ev = viewer.next() => Some(ev),
                _ = stop.wait_for(|s| *s) => None,
            }
        });
        let r = match ev {
            None | Some(ViewerEvent::End) => {
                let _ = feed.finish(&mut sink);
                for p in sink.take() {
                    pending.extend_from_slice(&p);
                }
                let _ = send(&mut pending, true, 0);
                return Outcome::Done(if ev.is_none() {
                    "stopped".into()
                } else {
                    "the stream ended".into()
                });
            }
            Some(ViewerEvent::Tracks(m)) => match feed.tracks(&m) {
                Ok(()) => {
                    status.set_tracks(feed.track_ids());
                    Ok(())
                }
                Err(why) => {
                    return Outcome::Failed { why, retry: false };
                }
            },
            Some(ViewerEvent::Packets(batch)) => (|| {
                let mut last = 0;
                for e in &batch {
                    if !feed.is_open() {
                        if !feed.is_start_point(e) {
                            continue;
                        }
                        feed.begin(e.ms, true, &mut sink)
                            .map_err(|e| e.to_string())?;
                        status.set_state(State::Active);
                    }
                    feed.write(e, &mut sink).map_err(|e| e.to_string())?;
                    last = e.ms;
                }
                for p in sink.take() {
                    pending.extend_from_slice(&p);
                }
                send(&mut pending, false, last)
            })(),
        };
        if let Err(why) = r {
            return Outcome::Failed { why, retry: true };
        }
    }
}
