//! RTMP: the server and client sides of Adobe's Real-Time Messaging Protocol, sans-IO.
//!
//! | spec | what mist uses |
//! |---|---|
//! | Adobe *RTMP Specification 1.0* (2012) | handshake (§5.2), chunking (§5.3), protocol control messages (§5.4), user control (§6.2, §7.1.7), commands (§7.2) |
//! | Adobe *AMF0* (2006) | command and data message bodies, through [`crate::formats::flv::amf0`] |
//! | Adobe *Video File Format Specification* v10.1, Annex E | audio/video message bodies are FLV tag bodies, read by [`crate::formats::flv::reader::Streams`] |
//! | FFmpeg `libavformat/rtmpproto.c`, `rtmppkt.c` (5.1) | the digest handshake, type-3 timestamp rules, the status codes its client waits for |
//!
//! Layers, each bytes in and values out, with no sockets (the first four in
//! [`crate::formats::rtmp`]):
//! [`handshake`] (C0-C2/S0-S2, plain and digest) → [`chunk`] (chunk streams → messages) →
//! [`message`] (protocol control, user control) and [`command`] (AMF0 commands) →
//! [`session`] (the server's conversation: connect, publish, play; events out, answers in)
//! and [`client`] (the client's: mist pulling from or pushing to another server).
//! [`name`] turns publish/play names into stream names by MistServer's rules. [`media`]
//! builds the chunked form of a packet once per stream so every viewer shares it. [`conn`] is
//! the only part of the server that touches sockets: one tokio task per connection, between
//! the session and the hub; [`client_conn`] is the same for the client session.
//!
//! Known gaps:
//! - RTMPE/RTMPS/RTMPT are not served (no encoder in use needs them).
//! - AMF3 bodies are read only in the AMF0-in-AMF3 form Flash uses (a leading 0 byte);
//!   a command written in real AMF3 ends the connection with an error.
//! - Shared objects (types 16/19) are ignored.
//! - Enhanced RTMP codecs pass through as FLV tag bodies; the session does not negotiate
//!   `fourCcList`. Play sends H.264, AAC and MP3 only (legacy FLV bodies).
//! - A publisher's `onMetaData` is read and dropped: the hub has no place for it yet, so
//!   players get an `onMetaData` made from the tracks (size, frame rate, codecs, rate).
//! - `getStreamLength` is answered with 0, as MistServer does.

pub mod client;
pub mod client_conn;
pub mod conn;
pub mod media;
pub mod name;
pub mod session;

// The wire layers live in `formats::rtmp` so `analyse` can read RTMP without depending on
// `serve`; the old paths stay valid.
pub use crate::formats::rtmp::{chunk, command, handshake, message, outbox, FORMAT};
pub use session::{Event, Session};
