//! `rtmp://HOST[:PORT]/APP/STREAM` and `rtmps://…`: pushing into another RTMP server
//! (nginx-rtmp, MistServer, mist, a YouTube-style ingest) as a publishing client.
//!
//! The stream goes through the same [`Feed`] as an FLV recording (track choice, framing,
//! times rebased to start at 0 at a keyframe, `onMetaData` and sequence headers first), and
//! each FLV tag of that output becomes one RTMP message: the FLV tag body *is* the RTMP
//! audio/video message body, so the FLV muxer is the only place that builds them.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::feed::Feed;
use super::status::{State, Status};
use super::target::{Kind, Target};
use super::Outcome;
use crate::formats::flv::amf0::Value;
use crate::formats::flv::reader::{Item, TagReader};
use crate::formats::flv::tag::TagType;
use crate::formats::{self, MuxOptions};
use crate::io::Cursor;
use crate::serve::http::sink::PieceSink;
use crate::serve::hub::{Viewer, ViewerEvent};
use crate::serve::rtmp::client::Mode;
use crate::serve::rtmp::client_conn::{RtmpClientError, RtmpConn};
use crate::serve::rtmp::session::MediaKind;

/// Connecting and the RTMP setup (handshake, connect, createStream, publish) within this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A write the server does not take within this fails the attempt.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle push reads what the server sent (pings want answers).
const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// One attempt: connect, publish, send until the stream ends or the push is stopped.
pub async fn run(
    target: &Target,
    status: &Status,
    mut viewer: Viewer,
    mut stop: watch::Receiver<bool>,
) -> Outcome {
    let Kind::Rtmp { url, .. } = &target.kind else {
        return Outcome::Failed {
            why: "not an RTMP target".into(),
            retry: false,
        };
    };
    let fail = |why: String| Outcome::Failed { why, retry: true };
    status.set_resolved(url);
    status.set_state(State::Connecting);
    let mut conn = match RtmpConn::open(url, Mode::Publish, CONNECT_TIMEOUT).await {
        Ok(c) => c,
        Err(e) => return fail(format!("{url}: {e}")),
    };
    status.log("INFO", format!("publishing to {url}"));
    let flv = formats::spec(formats::Format::Flv);
    let mut feed = Feed::new(flv, target.select.clone(), MuxOptions::default());
    let mut sink = PieceSink::default();
    let mut tags = TagReader::new();
    let mut tick = tokio::time::interval(KEEP_ALIVE);
    status.set_state(State::Waiting);
    loop {
        enum Wake {
            Viewer(ViewerEvent),
            Tick,
            Stop,
        }
        let wake = tokio::select! {
            ev = viewer.next() => Wake::Viewer(ev),
            _ = tick.tick() => Wake::Tick,
            _ = stop.wait_for(|s| *s) => Wake::Stop,
        };
        match wake {
            Wake::Viewer(ViewerEvent::End) => {
                conn.close().await;
                return Outcome::Done("the stream ended".into());
            }
            Wake::Viewer(ViewerEvent::Tracks(m)) => {
                if let Err(why) = feed.tracks(&m) {
                    return Outcome::Failed { why, retry: false };
                }
                status.set_tracks(feed.track_ids());
            }
            Wake::Viewer(ViewerEvent::Packets(batch)) => {
                let mut last = 0;
                for e in &batch {
                    if !feed.is_open() {
                        if !feed.is_start_point(e) {
                            continue;
                        }
                        if let Err(err) = feed.begin(e.ms, true, &mut sink) {
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
                let before = conn.bytes_out;
                for piece in sink.take() {
                    tags.feed(piece);
                }
                let send = send_tags(&mut conn, &mut tags);
                match tokio::time::timeout(WRITE_TIMEOUT, send).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return fail(format!("{url}: {e}")),
                    Err(_) => return fail(format!("{url}: the server stopped taking data")),
                }
                let n = conn.bytes_out - before;
                if n > 0 {
                    status.progress(n, last);
                }
            }
            Wake::Tick => {
                let alive = tokio::time::timeout(WRITE_TIMEOUT, conn.keep_alive()).await;
                match alive {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return fail(format!("{url}: {e}")),
                    Err(_) => return fail(format!("{url}: the server stopped taking data")),
                }
            }
            Wake::Stop => {
                conn.close().await;
                return Outcome::Done("stopped".into());
            }
        }
    }
}

/// Sends every whole FLV tag the reader holds as one RTMP message.
async fn send_tags(conn: &mut RtmpConn, tags: &mut TagReader) -> Result<(), RtmpClientError> {
    loop {
        let item = tags
            .next_item()
            .map_err(|e| RtmpClientError::Protocol(format!("FLV from the muxer: {e}")))?;
        let Some(item) = item else { return Ok(()) };
        let Item::Tag(t) = item else { continue };
        let ts = t.header.timestamp_ms;
        match t.header.tag_type {
            TagType::AUDIO => conn.send_media(MediaKind::Audio, ts, &t.body).await?,
            TagType::VIDEO => conn.send_media(MediaKind::Video, ts, &t.body).await?,
            TagType::SCRIPT => {
                if let Some(values) = metadata_values(t.body) {
                    conn.send_metadata(&values).await?;
                }
            }
            _ => {}
        }
    }
}

/// The values of an `onMetaData` script tag (name first), for `@setDataFrame`.
fn metadata_values(body: Bytes) -> Option<Vec<Value>> {
    let mut c = Cursor::new(body, 0, "flv");
    let values = Value::parse_all(&mut c).ok()?;
    (values.first()?.as_str()? == "onMetaData").then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_onmetadata_is_passed_on() {
        let body = |name: &str| {
            let mut b = Vec::new();
            Value::String(name.into()).write(&mut b);
            Value::Number(1.0).write(&mut b);
            Bytes::from(b)
        };
        let v = metadata_values(body("onMetaData")).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].as_str(), Some("onMetaData"));
        assert_eq!(metadata_values(body("onCuePoint")), None);
        assert_eq!(metadata_values(Bytes::from_static(&[0xff])), None);
    }
}
