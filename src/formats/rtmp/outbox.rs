//! What one end of an RTMP connection sends: its chunk writer and the bytes written, with the
//! messages every end sends (protocol and user control, AMF0 commands), each on the chunk
//! stream its kind goes on. The server session and the client both send through it.

use bytes::{Bytes, BytesMut};

use super::chunk::ChunkWriter;
use super::command::Command;
use super::message::{Control, MessageType, UserControl};

/// Spare room an outbox keeps after [`Outbox::take`]; more is let go.
const KEPT_CAPACITY: usize = 512;

/// The chunk stream ids mist sends on, one per kind of message.
pub mod csid {
    /// Protocol control and user control messages (the spec reserves 2 for them).
    pub const CONTROL: u32 = 2;
    /// Commands, their answers and status messages.
    pub const COMMAND: u32 = 3;
    /// Audio.
    pub const AUDIO: u32 = 4;
    /// Data messages (`onMetaData`, `|RtmpSampleAccess`).
    pub const DATA: u32 = 5;
    /// Video.
    pub const VIDEO: u32 = 6;
}

/// The sending half of a connection: chunks are written into `out` until taken.
#[derive(Debug)]
pub struct Outbox {
    /// Splits messages into chunks (and remembers each chunk stream's last header).
    pub writer: ChunkWriter,
    /// Bytes written and not yet taken.
    pub out: BytesMut,
}

impl Outbox {
    /// An outbox writing with `writer`, `out` already holding what goes first (a handshake).
    pub fn new(writer: ChunkWriter, out: BytesMut) -> Outbox {
        Outbox { writer, out }
    }

    /// A protocol control message (chunk stream 2, message stream 0).
    pub fn control(&mut self, c: Control) {
        let (kind, body) = c.encode();
        self.writer
            .write(&mut self.out, csid::CONTROL, 0, kind, 0, &body);
    }

    /// A user control message (chunk stream 2, message stream 0).
    pub fn user_control(&mut self, u: UserControl) {
        let body = u.encode();
        self.writer.write(
            &mut self.out,
            csid::CONTROL,
            0,
            MessageType::USER_CONTROL,
            0,
            &body,
        );
    }

    /// An AMF0 command on message stream `stream_id`.
    pub fn command(&mut self, stream_id: u32, c: &Command) {
        let body = c.encode();
        self.writer.write(
            &mut self.out,
            csid::COMMAND,
            0,
            MessageType::COMMAND_AMF0,
            stream_id,
            &body,
        );
    }

    /// Everything written so far, leaving the outbox empty.
    pub fn take(&mut self) -> Bytes {
        let taken = self.out.split().freeze();
        if self.out.capacity() > KEPT_CAPACITY {
            // The rest of a large buffer (the handshake's 3 KiB answer) would keep the whole
            // allocation alive for the connection's life, where control messages need little.
            self.out = BytesMut::new();
        }
        taken
    }
}
