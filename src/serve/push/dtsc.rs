//! `dtsc://HOST[:PORT]/STREAM`: pushing into another server (MistServer or mist) over the
//! DTSC protocol (dtsc-format.md §1.9):
//!
//! 1. the server greets with `DTCM {"cmd":"hi", ...}`;
//! 2. we ask `DTCM {"cmd":"push","stream":NAME,"version":...[,"password":...]}` and wait for
//!    `{"cmd":"ok"}` (or `{"cmd":"error","msg":...}`, which fails the push);
//! 3. we send a `DTSC` header without index (track ids: position + 1, as on every `dtsc://`
//!    wire), then `DTP2` packets with those ids, times in ms;
//! 4. while sending, the server's `ping` gets `ok`, its `error` ends the attempt.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::feed::Feed;
use super::status::{State, Status};
use super::target::{Kind, Target};
use super::Outcome;
use crate::dtsc::wire::{Header, HeaderTrack, Reader, Unit, Value, WirePacket, VERSION};
use crate::dtsc::{Meta, Packet, Timebase, TrackId, TrackKind};
use crate::formats::{self, Finish, FormatError, MuxOptions, Muxer};
use crate::io::ByteSink;
use crate::serve::http::sink::PieceSink;
use crate::serve::hub::{Viewer, ViewerEvent};
use crate::serve::names::StreamName;

/// Connecting and the greeting must be done within this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A write the server does not take within this fails the attempt.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A `DTCM` unit holding `v`.
pub fn command(v: &Value) -> Vec<u8> {
    let body = v.to_bytes();
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(b"DTCM");
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

fn text(s: &str) -> Value {
    Value::Str(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

/// The `push` command; members in byte order, as MistServer's JSON packer writes them.
pub fn push_command(stream: &str, password: Option<&str>) -> Vec<u8> {
    let mut m = vec![("cmd".to_string(), text("push"))];
    if let Some(p) = password {
        m.push(("password".into(), text(p)));
    }
    m.push(("stream".into(), text(stream)));
    m.push((
        "version".into(),
        text(concat!("mist ", env!("CARGO_PKG_VERSION"))),
    ));
    command(&Value::Object(m))
}

/// Writes the `dtsc://` wire form: a live header without index, then `DTP2` packets, ids
/// position + 1, times in ms.
#[derive(Default)]
pub struct WireMuxer {
    ids: Vec<TrackId>,
    bases: Vec<Timebase>,
    video: Vec<bool>,
    head: Vec<u8>,
}

impl Muxer for WireMuxer {
    fn start(&mut self, meta: &Meta, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        self.ids = meta.tracks.iter().map(|t| t.id).collect();
        self.bases = meta.tracks.iter().map(|t| t.timebase).collect();
        self.video = meta
            .tracks
            .iter()
            .map(|t| t.kind == TrackKind::Video)
            .collect();
        let tracks = meta
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut ms = t.clone();
                ms.timebase = Timebase::MS;
                let mut h = HeaderTrack::from_track(&ms, i, None);
                h.trackid = i as u32 + 1;
                h
            })
            .collect();
        let h = Header {
            value: Value::Null,
            vod: false,
            live: true,
            version: Some(VERSION),
            unix_zero: meta.unix_zero,
            more_header: None,
            tracks,
            declared_len: 0,
            encoded_len: 0,
        };
        out.put(&h.encode(false))
            .map_err(|e| FormatError::io("dtsc", out.position(), e))
    }

    fn write(&mut self, pkt: &Packet, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        let at = out.position();
        let Some(i) = self.ids.iter().position(|id| *id == pkt.track) else {
            return Err(FormatError::invalid(
                "dtsc",
                at,
                format!("packet for track {} not announced", pkt.track),
            ));
        };
        let dts = self.bases[i].rescale(pkt.dts.0, Timebase::MS).max(0);
        let pts = self.bases[i].rescale(pkt.pts().0, Timebase::MS);
        let keyframe = pkt.keyframe && self.video[i];
        self.head.clear();
        let end = WirePacket::encode_parts(
            i as u32 + 1,
            dts as u64,
            pts - dts,
            0,
            keyframe,
            pkt.data.len(),
            &mut self.head,
        );
        let io = |e| FormatError::io("dtsc", at, e);
        out.put(&self.head).map_err(io)?;
        out.put_shared(pkt.data.clone()).map_err(io)?;
        out.put(end).map_err(io)
    }

    fn finish(&mut self, _out: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        Ok(Finish::default())
    }
}

/// What the server said.
async fn next_command(
    sock: &mut TcpStream,
    reader: &mut Reader,
    buf: &mut [u8],
) -> Result<Value, String> {
    loop {
        match reader.next_unit().map_err(|e| e.to_string())? {
            Some((_, Unit::Command(v))) => return Ok(v),
            Some((_, other)) => {
                return Err(format!(
                    "the server sent {} where a command was expected",
                    match other {
                        Unit::Header(_) => "a header",
                        _ => "a packet",
                    }
                ))
            }
            None => {}
        }
        let n = sock.read(buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        reader.feed(&buf[..n]);
    }
}

fn cmd_of(v: &Value) -> String {
    v.get("cmd").and_then(Value::as_text).unwrap_or_default()
}

fn msg_of(v: &Value) -> String {
    v.get("msg").and_then(Value::as_text).unwrap_or_default()
}

/// One attempt at pushing to a DTSC server.
pub async fn run(
    target: &Target,
    stream: &StreamName,
    status: &std::sync::Arc<Status>,
    mut viewer: Viewer,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let Kind::Dtsc {
        addr,
        stream: remote,
        password,
    } = &target.kind
    else {
        return Outcome::Failed {
            why: "not a dtsc:// target".into(),
            retry: false,
        };
    };
    let remote = if remote.is_empty() {
        stream.as_str().to_string()
    } else {
        remote.clone()
    };
    status.set_resolved(&format!("dtsc://{addr}/{remote}"));
    status.set_state(State::Connecting);
    let fail = |why: String| Outcome::Failed { why, retry: true };
    let mut buf = vec![0u8; 64 << 10];
    let mut reader = Reader::new();
    let setup = async {
        let mut sock = TcpStream::connect(addr.as_str())
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let _ = sock.set_nodelay(true);
        let hi = next_command(&mut sock, &mut reader, &mut buf).await?;
        if cmd_of(&hi) != "hi" {
            return Err(format!(
                "{addr}: expected a greeting, got '{}'",
                cmd_of(&hi)
            ));
        }
        sock.write_all(&push_command(&remote, password.as_deref()))
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let answer = next_command(&mut sock, &mut reader, &mut buf).await?;
        match cmd_of(&answer).as_str() {
            "ok" => Ok(sock),
            "error" => Err(format!("{addr} refused the push: {}", msg_of(&answer))),
            other => Err(format!("{addr}: unexpected answer '{other}'")),
        }
    };
    let mut sock = match tokio::time::timeout(CONNECT_TIMEOUT, setup).await {
        Ok(Ok(s)) => s,
        Ok(Err(why)) => return fail(why),
        Err(_) => return fail(format!("{addr}: no answer within {CONNECT_TIMEOUT:?}")),
    };
    status.log(
        "INFO",
        format!("connected to {addr}, pushing as '{remote}'"),
    );
    let dtsc = formats::spec(formats::Format::Dtsc);
    let mut feed = Feed::new(dtsc, target.select.clone(), MuxOptions::default());
    let mut sink = PieceSink::default();
    status.set_state(State::Waiting);
    loop {
        let mut reply: Vec<u8> = Vec::new();
        enum Wake {
            Viewer(ViewerEvent),
            Read(std::io::Result<usize>),
            Stop,
        }
        let wake = tokio::select! {
            ev = viewer.next() => Wake::Viewer(ev),
            r = sock.read(&mut buf) => Wake::Read(r),
            _ = stop.wait_for(|s| *s) => Wake::Stop,
        };
        match wake {
            Wake::Viewer(ev) => match ev {
                ViewerEvent::End => {
                    let _ = sock.shutdown().await;
                    return Outcome::Done("the stream ended".into());
                }
                ViewerEvent::Tracks(m) => {
                    if let Err(why) = feed.tracks(&m) {
                        return Outcome::Failed { why, retry: false };
                    }
                    status.set_tracks(feed.track_ids());
                }
                ViewerEvent::Packets(batch) => {
                    let mut last = 0;
                    for e in &batch {
                        if !feed.is_open() {
                            if !feed.is_start_point(e) {
                                continue;
                            }
                            if let Err(err) =
                                feed.begin_with(Box::<WireMuxer>::default(), e.ms, true, &mut sink)
                            {
                                return Outcome::Failed {
                                    why: err.to_string(),
                                    retry: false,
                                };
                            }
                            status.set_state(State::Active);
                        }
                        if let Err(err) = feed.write(e, &mut sink) {
                            return Outcome::Failed {
                                why: err.to_string(),
                                retry: false,
                            };
                        }
                        last = e.ms;
                    }
                    let pieces = sink.take();
                    let n: usize = pieces.iter().map(|p| p.len()).sum();
                    let write = crate::serve::guard::write_all_vectored(&mut sock, &pieces);
                    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return fail(format!("{addr}: {e}")),
                        Err(_) => return fail(format!("{addr}: the server stopped taking data")),
                    }
                    if n > 0 {
                        status.progress(n as u64, last);
                    }
                }
            },
            Wake::Read(r) => match r {
                Ok(0) => return fail(format!("{addr} closed the connection")),
                Err(e) => return fail(format!("{addr}: {e}")),
                Ok(n) => {
                    reader.feed(&buf[..n]);
                    loop {
                        match reader.next_unit() {
                            Ok(Some((_, Unit::Command(v)))) => match cmd_of(&v).as_str() {
                                "ping" => reply.extend(command(&Value::Object(vec![
                                    ("cmd".into(), text("ok")),
                                    ("msg".into(), text("Pong!")),
                                ]))),
                                "error" => return fail(format!("{addr}: {}", msg_of(&v))),
                                _ => {}
                            },
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(e) => return fail(format!("{addr}: {e}")),
                        }
                    }
                }
            },
            Wake::Stop => {
                let _ = sock.shutdown().await;
                return Outcome::Done("stopped".into());
            }
        }
        if !reply.is_empty() {
            if let Err(e) = sock.write_all(&reply).await {
                return fail(format!("{addr}: {e}"));
            }
        }
    }
}
