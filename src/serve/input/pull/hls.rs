//! HLS pulls (`http(s)://...m3u8`): the playlist is read with the packager's parser; a master
//! playlist's variant with the highest `BANDWIDTH` is followed (alternative audio renditions
//! are not: the variant's own segments must carry audio); segments (MPEG-TS, or fMP4 after
//! their `EXT-X-MAP`) go through one format reader one after another, so their timestamps run
//! on as the source numbered them. Live playlists are reloaded every half target duration,
//! starting three segments from the live edge; VOD playlists (`EXT-X-ENDLIST`) are read from
//! the start, kept about [`VOD_LEAD_MS`] ahead of real time so viewers of the pulled stream
//! see it play rather than arrive at once.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::formats::{Format, Reader};
use crate::package::hls::parse::{self, Media, Playlist};

use super::bytes::{get, join_url, next_chunk};
use super::{Feed, STALL};

/// Largest playlist read.
const MAX_PLAYLIST: usize = 4 << 20;
/// Largest segment or init section read.
const MAX_SEGMENT: usize = 256 << 20;
/// Segments from the live edge a live pull starts at.
const LIVE_START_SEGMENTS: usize = 3;
/// How far ahead of real time a VOD playlist is read, in ms.
pub const VOD_LEAD_MS: i64 = 6000;

/// The whole body of `url` (at most `limit` bytes).
async fn fetch(url: &str, limit: usize) -> Result<Bytes, String> {
    let (url, resp) = get(url).await?;
    let mut body = resp.into_body();
    let mut out = BytesMut::new();
    while let Some(chunk) = next_chunk(&mut body, &url).await? {
        if out.len() + chunk.len() > limit {
            return Err(format!("{url}: more than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// The media playlist at `url` (following a master playlist to its best variant), with the
/// URL it was read from.
async fn media_playlist(url: &str) -> Result<(String, Media), String> {
    let mut url = url.to_string();
    for _ in 0..2 {
        let text = fetch(&url, MAX_PLAYLIST).await?;
        let text = String::from_utf8_lossy(&text);
        match parse::parse(&text).0 {
            Some(Playlist::Media(m)) => return Ok((url, m)),
            Some(Playlist::Master(m)) => {
                let best = m
                    .variants
                    .iter()
                    .max_by_key(|v| {
                        v.attributes
                            .get("BANDWIDTH")
                            .and_then(|b| b.parse::<u64>().ok())
                            .unwrap_or(0)
                    })
                    .ok_or_else(|| format!("{url}: a master playlist without variants"))?;
                url = join_url(&url, &best.uri);
            }
            None => return Err(format!("{url}: not an HLS playlist")),
        }
    }
    Err(format!(
        "{url}: a master playlist that points at another master playlist"
    ))
}

/// Plays the playlist at `url` into `feed`.
pub async fn pull(url: &str, feed: &mut Feed) -> Result<(), String> {
    let (mut media_url, mut playlist) = media_playlist(url).await?;
    let mut reader: Option<Box<dyn Reader>> = None;
    let mut map_done: Option<String> = None;
    let started = Instant::now();
    let mut played_ms: i64 = 0;
    // The next media sequence number to read.
    let mut next = if playlist.endlist {
        0
    } else {
        let n = playlist.segments.len();
        playlist
            .segments
            .get(n.saturating_sub(LIVE_START_SEGMENTS))
            .map_or(0, |s| s.number)
    };
    let mut last_new = Instant::now();
    loop {
        let from = next;
        for seg in playlist.segments.iter().filter(|s| s.number >= from) {
            if playlist.endlist {
                let ahead = played_ms - started.elapsed().as_millis() as i64;
                if ahead > VOD_LEAD_MS {
                    tokio::time::sleep(Duration::from_millis((ahead - VOD_LEAD_MS) as u64)).await;
                }
            }
            let seg_url = join_url(&media_url, &seg.uri);
            let data = fetch(&seg_url, MAX_SEGMENT).await?;
            feed.count_up(data.len() as u64);
            if reader.is_none() {
                let fmp4 = seg.map.is_some();
                let spec = crate::formats::probe::spec(if fmp4 { Format::Mp4 } else { Format::Ts });
                let make = spec.reader.ok_or("no stream reader for HLS segments")?;
                reader = Some(make());
            }
            let Some(r) = reader.as_mut() else {
                continue;
            };
            if let Some(map) = &seg.map {
                if map_done.as_deref() != Some(map.as_str()) {
                    let init = fetch(&join_url(&media_url, map), MAX_SEGMENT).await?;
                    r.feed(init);
                    map_done = Some(map.clone());
                }
            }
            r.feed(data);
            feed.drain(r.as_mut())
                .map_err(|e| format!("{seg_url}: {e}"))?;
            played_ms += seg.duration_ms;
            next = seg.number + 1;
            last_new = Instant::now();
        }
        if playlist.endlist {
            if let Some(r) = reader.as_mut() {
                let end = r.finish().map_err(|e| format!("{media_url}: {e}"));
                feed.drain(r.as_mut())?;
                end?;
            }
            return Ok(());
        }
        let target = playlist.target_duration.unwrap_or(2).max(1);
        if last_new.elapsed() > Duration::from_secs(3 * target).max(STALL) {
            return Err(format!(
                "{media_url}: no new segment for {} s",
                last_new.elapsed().as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(target * 500)).await;
        let (u, p) = media_playlist(&media_url).await?;
        media_url = u;
        if p.segments.first().is_some_and(|s| s.number > next) {
            // We fell behind the window: go on from the oldest segment still listed.
            tracing::debug!(stream = %feed.name(), "hls pull: segments skipped (fell behind)");
        }
        playlist = p;
    }
}
