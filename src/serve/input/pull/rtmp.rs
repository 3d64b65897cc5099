//! `rtmp://` and `rtmps://` pulls: the RTMP client plays the stream, and its audio/video
//! bodies become tracks and packets through the FLV reader's stream layer, as an RTMP
//! publisher's do.

use crate::formats::flv::reader::{Event as FlvEvent, Streams, Tag};
use crate::formats::flv::tag::TagHeader;
use crate::serve::rtmp::client::{ClientEvent, Mode};
use crate::serve::rtmp::client_conn::RtmpConn;

use super::{Feed, CONNECT_TIMEOUT, STALL};

/// Plays `url` into `feed` until the server ends the stream or the connection fails.
pub async fn pull(url: &str, feed: &mut Feed) -> Result<(), String> {
    let mut conn = RtmpConn::open(url, Mode::Play, CONNECT_TIMEOUT)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let mut streams = Streams::new();
    let mut scratch = Vec::new();
    let mut counted = 0u64;
    loop {
        let ev = match tokio::time::timeout(STALL, conn.next_event()).await {
            Err(_) => return Err(format!("{url}: no data for {} s", STALL.as_secs())),
            Ok(Err(e)) => return Err(format!("{url}: {e}")),
            Ok(Ok(None)) => return Err(format!("{url}: the server closed the connection")),
            Ok(Ok(Some(ev))) => ev,
        };
        feed.count_up(conn.bytes_in - counted);
        counted = conn.bytes_in;
        match ev {
            ClientEvent::Media(m) => {
                let tag = Tag {
                    offset: 0,
                    header: TagHeader::new(m.kind.tag_type(), m.body.len() as u32, m.timestamp),
                    body: m.body,
                };
                streams.handle(&tag, &mut scratch);
                for e in scratch.drain(..) {
                    match e {
                        FlvEvent::Tracks(t) => feed.tracks(t)?,
                        FlvEvent::Packet(p) => feed.packet(p)?,
                        FlvEvent::Finding(f) => {
                            tracing::debug!(stream = %feed.name(), "rtmp pull: {}", f.message)
                        }
                        FlvEvent::Script(_) => {}
                    }
                }
            }
            ClientEvent::Ended(why) => {
                conn.close().await;
                return Err(format!("{url}: the server ended the stream ({why})"));
            }
            ClientEvent::Refused(why) => return Err(format!("{url}: refused: {why}")),
            _ => {}
        }
    }
}
