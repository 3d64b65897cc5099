//! MPEG-DASH (ISO/IEC 23009-1): the MPD of a stream's CMAF renditions, over the very init and
//! media segments the fMP4 HLS variant uses (`/cmaf/STREAM/...`, MistServer's CMAF output).
//!
//! Layout, MistServer's names: `index.mpd` at the top; per track `T/init.m4s` and
//! `T/chunk_START.m4s` (START in ms), addressed by one `SegmentTemplate` with
//! `media="$RepresentationID$/chunk_$Time$.m4s"` and a `SegmentTimeline`.
//!
//! Timescale: the template's is 1000 (ms), as MistServer's, so `$Time$` is the segment's start
//! in ms and a DASH player asks for the same file name an HLS player does; the media keep their
//! own timescales inside (`mdhd`, `tfdt`). A timescale per track would make `$Time$` count in
//! that track's ticks, and `chunk_96000.m4s` would then name a segment at 2 s (48 kHz audio) to
//! DASH and one at 96 s to HLS in the same folder. The MPD's times are the segment cuts (exact
//! in ms: cuts are at main-track times in ms); a segment's media start within a frame of it.
//!
//! - Files: a `static` MPD with `mediaPresentationDuration`; the period's
//!   `presentationTimeOffset` is the first segment's start, so playback starts at 0.
//! - Live: a `dynamic` MPD whose `availabilityStartTime` is the wall clock of stream time 0,
//!   `timeShiftBufferDepth` the DVR window, `minimumUpdatePeriod` the segment length, and the
//!   timeline the complete segments of the window. A publisher reconnect keeps one period: the
//!   hub continues the stream's clock across it, so the timeline shows a gap (an `S` whose `t`
//!   jumps), which dash.js jumps and ffmpeg reads (ffmpeg's DASH reader follows one period only,
//!   and fails on a refresh whose representations differ).
//!
//! Known gaps: no content protection, no subtitles, no multi-period for a reconnect that
//! changes the tracks (the init segment keeps its URL), `UTCTiming` only as `direct`.

pub mod mpd;
pub mod parse;

/// Name of the MPD.
pub const MPD: &str = "index.mpd";
/// MIME type of the MPD.
pub const MPD_MIME: &str = "application/dash+xml";
