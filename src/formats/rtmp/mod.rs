//! RTMP on the wire, sans-IO: the handshake, chunk streams, protocol/user control messages and
//! AMF0 commands (Adobe *RTMP Specification 1.0*, 2012, §5.2-§5.4, §6.2, §7.2). Both ends use
//! them: `serve::rtmp` builds the server session on top, `analyse::rtmp` a player that reports
//! what it sees. Nothing here touches a socket.

pub mod chunk;
pub mod command;
pub mod handshake;
pub mod message;
pub mod outbox;

/// The format name errors carry.
pub const FORMAT: &str = "rtmp";
