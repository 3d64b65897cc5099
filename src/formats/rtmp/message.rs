//! RTMP messages: the type ids (RTMP 1.0 §5.4, §6.2, §7.1), protocol control messages (§5.4)
//! and user control events (§6.2, §7.1.7).
//!
//! ```text
//! 1 Set Chunk Size        u32 (top bit 0)          §5.4.1
//! 2 Abort Message         u32 chunk stream id      §5.4.2
//! 3 Acknowledgement       u32 sequence number      §5.4.3
//! 4 User Control Message  u16 event type, data     §6.2
//! 5 Window Ack Size       u32                      §5.4.4
//! 6 Set Peer Bandwidth    u32 size, u8 limit type  §5.4.5
//! 8 audio, 9 video        FLV tag bodies           §7.1.5
//! 15/18 data (AMF3/AMF0), 16/19 shared object, 17/20 command (AMF3/AMF0), 22 aggregate
//! ```

use bytes::{BufMut, Bytes};

use crate::formats::error::FormatError;
use crate::io::Cursor;

use super::FORMAT;

/// The message type id. An open set: unknown types survive parsing and are skipped by the
/// session.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType(pub u8);

impl MessageType {
    /// Set Chunk Size (protocol control).
    pub const SET_CHUNK_SIZE: Self = Self(1);
    /// Abort Message (protocol control).
    pub const ABORT: Self = Self(2);
    /// Acknowledgement (protocol control).
    pub const ACKNOWLEDGEMENT: Self = Self(3);
    /// User Control Message.
    pub const USER_CONTROL: Self = Self(4);
    /// Window Acknowledgement Size (protocol control).
    pub const WINDOW_ACK_SIZE: Self = Self(5);
    /// Set Peer Bandwidth (protocol control).
    pub const SET_PEER_BANDWIDTH: Self = Self(6);
    /// Audio: an FLV audio tag body.
    pub const AUDIO: Self = Self(8);
    /// Video: an FLV video tag body.
    pub const VIDEO: Self = Self(9);
    /// Data message in AMF3.
    pub const DATA_AMF3: Self = Self(15);
    /// Shared object message in AMF3.
    pub const SHARED_OBJECT_AMF3: Self = Self(16);
    /// Command message in AMF3.
    pub const COMMAND_AMF3: Self = Self(17);
    /// Data message in AMF0 (`@setDataFrame`, `onMetaData`).
    pub const DATA_AMF0: Self = Self(18);
    /// Shared object message in AMF0.
    pub const SHARED_OBJECT_AMF0: Self = Self(19);
    /// Command message in AMF0 (`connect`, `publish`, `onStatus` ...).
    pub const COMMAND_AMF0: Self = Self(20);
    /// Aggregate: a run of FLV tags in one message.
    pub const AGGREGATE: Self = Self(22);

    /// The spec's name, or `None` for an unknown type.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "Set Chunk Size",
            2 => "Abort Message",
            3 => "Acknowledgement",
            4 => "User Control",
            5 => "Window Acknowledgement Size",
            6 => "Set Peer Bandwidth",
            8 => "audio",
            9 => "video",
            15 => "data (AMF3)",
            16 => "shared object (AMF3)",
            17 => "command (AMF3)",
            18 => "data (AMF0)",
            19 => "shared object (AMF0)",
            20 => "command (AMF0)",
            22 => "aggregate",
            _ => return None,
        })
    }
}

impl std::fmt::Debug for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "MessageType({})", self.0),
        }
    }
}

/// A whole message, reassembled from its chunks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The chunk stream it came on.
    pub csid: u32,
    /// The 32-bit ms timestamp (absolute, still wrapping).
    pub timestamp: u32,
    /// The type id.
    pub kind: MessageType,
    /// The message stream id (0 for the connection, 1.. for streams from `createStream`).
    pub stream_id: u32,
    /// The payload.
    pub body: Bytes,
    /// Absolute offset of its first chunk's header in the connection's input.
    pub offset: u64,
}

/// Set Peer Bandwidth's limit types (§5.4.5).
pub mod limit {
    /// Hard: limit output to the window size.
    pub const HARD: u8 = 0;
    /// Soft: limit to this window or the one in effect, whichever is smaller.
    pub const SOFT: u8 = 1;
    /// Dynamic: hard if the previous limit was hard, else ignore.
    pub const DYNAMIC: u8 = 2;
}

/// A protocol control message (types 1, 2, 3, 5, 6), decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// The sender's chunk size from now on.
    SetChunkSize(u32),
    /// Discard the partly received message on this chunk stream.
    Abort(u32),
    /// Bytes received so far (mod 2^32).
    Acknowledgement(u32),
    /// Acknowledge every this many bytes.
    WindowAckSize(u32),
    /// The peer's output bandwidth limit.
    SetPeerBandwidth {
        /// Window size in bytes.
        size: u32,
        /// One of [`limit`].
        limit: u8,
    },
}

impl Control {
    /// Decodes a control message of `kind` (one of types 1, 2, 3, 5, 6) from `m`'s body.
    pub fn parse(m: &Message) -> Result<Control, FormatError> {
        let mut c = Cursor::new(m.body.clone(), m.offset, FORMAT);
        Ok(match m.kind {
            MessageType::SET_CHUNK_SIZE => {
                let v = c.u32("Set Chunk Size")?;
                // §5.4.1: the top bit must be 0; a size of 0 would never move.
                if v == 0 || v & 0x8000_0000 != 0 {
                    return Err(c.bad_value("Set Chunk Size", u64::from(v), 4));
                }
                Control::SetChunkSize(v)
            }
            MessageType::ABORT => Control::Abort(c.u32("Abort Message chunk stream id")?),
            MessageType::ACKNOWLEDGEMENT => {
                Control::Acknowledgement(c.u32("Acknowledgement sequence number")?)
            }
            MessageType::WINDOW_ACK_SIZE => {
                Control::WindowAckSize(c.u32("Window Acknowledgement Size")?)
            }
            MessageType::SET_PEER_BANDWIDTH => Control::SetPeerBandwidth {
                size: c.u32("Set Peer Bandwidth window size")?,
                // Some encoders send the 4-byte form without the limit type.
                limit: if c.is_empty() {
                    limit::DYNAMIC
                } else {
                    c.u8("Set Peer Bandwidth limit type")?
                },
            },
            other => {
                return Err(FormatError::invalid(
                    FORMAT,
                    m.offset,
                    format!("{other:?} is not a protocol control message"),
                ))
            }
        })
    }

    /// The message type and body.
    pub fn encode(&self) -> (MessageType, Vec<u8>) {
        let mut b = Vec::with_capacity(5);
        let kind = match *self {
            Control::SetChunkSize(v) => {
                b.put_u32(v & 0x7FFF_FFFF);
                MessageType::SET_CHUNK_SIZE
            }
            Control::Abort(v) => {
                b.put_u32(v);
                MessageType::ABORT
            }
            Control::Acknowledgement(v) => {
                b.put_u32(v);
                MessageType::ACKNOWLEDGEMENT
            }
            Control::WindowAckSize(v) => {
                b.put_u32(v);
                MessageType::WINDOW_ACK_SIZE
            }
            Control::SetPeerBandwidth { size, limit } => {
                b.put_u32(size);
                b.put_u8(limit);
                MessageType::SET_PEER_BANDWIDTH
            }
        };
        (kind, b)
    }
}

/// A user control event (message type 4): u16 event type, then its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserControl {
    /// 0: the stream is ready for use.
    StreamBegin(u32),
    /// 1: playback of the stream is over.
    StreamEof(u32),
    /// 2: no more data on the stream for now.
    StreamDry(u32),
    /// 3: the client's buffer length for a stream.
    SetBufferLength {
        /// Message stream id.
        stream_id: u32,
        /// Buffer in ms.
        ms: u32,
    },
    /// 4: the stream is recorded (VOD).
    StreamIsRecorded(u32),
    /// 6: asks for a PingResponse with this timestamp.
    PingRequest(u32),
    /// 7: the answer to a PingRequest.
    PingResponse(u32),
    /// Any other event type (Flash sends 31/32 buffer events), kept as bytes.
    Other {
        /// The event type.
        event: u16,
        /// The event data.
        data: Bytes,
    },
}

impl UserControl {
    /// Decodes a User Control message body.
    pub fn parse(m: &Message) -> Result<UserControl, FormatError> {
        let mut c = Cursor::new(m.body.clone(), m.offset, FORMAT);
        let event = c.u16("User Control event type")?;
        Ok(match event {
            0 => UserControl::StreamBegin(c.u32("StreamBegin stream id")?),
            1 => UserControl::StreamEof(c.u32("StreamEOF stream id")?),
            2 => UserControl::StreamDry(c.u32("StreamDry stream id")?),
            3 => UserControl::SetBufferLength {
                stream_id: c.u32("SetBufferLength stream id")?,
                ms: c.u32("SetBufferLength buffer length")?,
            },
            4 => UserControl::StreamIsRecorded(c.u32("StreamIsRecorded stream id")?),
            6 => UserControl::PingRequest(c.u32("PingRequest timestamp")?),
            7 => UserControl::PingResponse(c.u32("PingResponse timestamp")?),
            _ => UserControl::Other {
                event,
                data: c.rest(),
            },
        })
    }

    /// The message body.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(10);
        let (event, a, more) = match self {
            UserControl::StreamBegin(s) => (0, *s, None),
            UserControl::StreamEof(s) => (1, *s, None),
            UserControl::StreamDry(s) => (2, *s, None),
            UserControl::SetBufferLength { stream_id, ms } => (3, *stream_id, Some(*ms)),
            UserControl::StreamIsRecorded(s) => (4, *s, None),
            UserControl::PingRequest(t) => (6, *t, None),
            UserControl::PingResponse(t) => (7, *t, None),
            UserControl::Other { event, data } => {
                b.put_u16(*event);
                b.put_slice(data);
                return b;
            }
        };
        b.put_u16(event);
        b.put_u32(a);
        if let Some(m) = more {
            b.put_u32(m);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: MessageType, body: &[u8]) -> Message {
        Message {
            csid: 2,
            timestamp: 0,
            kind,
            stream_id: 0,
            body: Bytes::copy_from_slice(body),
            offset: 100,
        }
    }

    #[test]
    fn control_layouts_hand_computed() {
        // §5.4.1: Set Chunk Size 4096 = 00 00 10 00; §5.4.5: 2500000 = 00 26 25 a0, dynamic.
        assert_eq!(
            Control::SetChunkSize(4096).encode(),
            (MessageType::SET_CHUNK_SIZE, vec![0, 0, 0x10, 0])
        );
        assert_eq!(
            Control::SetPeerBandwidth {
                size: 2_500_000,
                limit: limit::DYNAMIC
            }
            .encode(),
            (
                MessageType::SET_PEER_BANDWIDTH,
                vec![0, 0x26, 0x25, 0xa0, 2]
            )
        );
        assert_eq!(
            Control::parse(&msg(MessageType::SET_CHUNK_SIZE, &[0x7f, 0xff, 0xff, 0xff])).unwrap(),
            Control::SetChunkSize(0x7FFF_FFFF)
        );
    }

    #[test]
    fn chunk_size_zero_and_top_bit_are_refused() {
        for b in [[0, 0, 0, 0], [0x80, 0, 0, 1], [0xff, 0xff, 0xff, 0xff]] {
            let e = Control::parse(&msg(MessageType::SET_CHUNK_SIZE, &b)).unwrap_err();
            assert_eq!(e.offset, 100, "{e}");
        }
        assert!(Control::parse(&msg(MessageType::SET_CHUNK_SIZE, &[0, 0])).is_err());
    }

    #[test]
    fn user_control_layouts_hand_computed() {
        // §7.1.7: event type u16 then stream id u32; SetBufferLength adds the ms.
        assert_eq!(UserControl::StreamBegin(1).encode(), [0, 0, 0, 0, 0, 1]);
        assert_eq!(
            UserControl::SetBufferLength {
                stream_id: 1,
                ms: 3000
            }
            .encode(),
            [0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8]
        );
        for u in [
            UserControl::StreamEof(7),
            UserControl::PingRequest(0xdead_beef),
            UserControl::PingResponse(5),
            UserControl::StreamIsRecorded(1),
            UserControl::Other {
                event: 31,
                data: Bytes::from_static(&[0, 0, 0, 1]),
            },
        ] {
            let back = UserControl::parse(&msg(MessageType::USER_CONTROL, &u.encode())).unwrap();
            assert_eq!(back, u);
        }
        assert!(UserControl::parse(&msg(MessageType::USER_CONTROL, &[0, 6, 1])).is_err());
    }
}
