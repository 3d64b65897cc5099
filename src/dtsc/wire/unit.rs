//! Framing of DTSC units, and the sans-IO [`Reader`] that cuts a byte stream into them.

use bytes::{Buf, Bytes, BytesMut};

use super::header::Header;
use super::packet::WirePacket;
use super::value::Value;
use super::{FORMAT, MAX_UNIT};
use crate::formats::error::{FormatError, Problem};
use crate::io::Cursor;

/// The four unit kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Magic {
    /// `DTSC`: stream metadata.
    Header,
    /// `DTP2`: a data packet (track and time outside the object).
    Packet,
    /// `DTPD`: a legacy data packet (everything inside the object).
    LegacyPacket,
    /// `DTCM`: a command on the `dtsc://` wire.
    Command,
}

impl Magic {
    /// The magic of the four bytes, if they are one.
    pub fn of(b: &[u8]) -> Option<Magic> {
        match b.get(..4)? {
            b"DTSC" => Some(Magic::Header),
            b"DTP2" => Some(Magic::Packet),
            b"DTPD" => Some(Magic::LegacyPacket),
            b"DTCM" => Some(Magic::Command),
            _ => None,
        }
    }

    /// The four bytes.
    pub fn bytes(self) -> &'static [u8; 4] {
        match self {
            Magic::Header => b"DTSC",
            Magic::Packet => b"DTP2",
            Magic::LegacyPacket => b"DTPD",
            Magic::Command => b"DTCM",
        }
    }
}

/// Reads the 8-byte prefix at the start of `buf` (absolute offset `at`): the magic and the
/// unit's total size. `Ok(None)` when fewer than 8 bytes are there.
pub fn frame(buf: &[u8], at: u64) -> Result<Option<(Magic, u64)>, FormatError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let magic = Magic::of(buf).ok_or_else(|| {
        FormatError::new(
            FORMAT,
            at,
            Problem::BadValue {
                field: "unit magic",
                value: u64::from(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])),
            },
        )
    })?;
    let len = u64::from(u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]));
    if len > MAX_UNIT {
        return Err(FormatError::new(
            FORMAT,
            at + 4,
            Problem::Limit {
                what: "unit length",
                limit: MAX_UNIT,
            },
        ));
    }
    Ok(Some((magic, 8 + len)))
}

/// One parsed unit.
#[derive(Clone, Debug)]
pub enum Unit {
    /// Stream metadata.
    Header(Box<Header>),
    /// A data packet (DTP2 or DTPD).
    Packet(WirePacket),
    /// A command object.
    Command(Value),
}

/// Parses a complete unit (`bytes` holds exactly one, starting at absolute offset `at`).
pub fn parse(magic: Magic, bytes: Bytes, at: u64) -> Result<Unit, FormatError> {
    Ok(match magic {
        Magic::Header => Unit::Header(Box::new(Header::parse(bytes, at)?)),
        Magic::Packet => Unit::Packet(WirePacket::parse_dtp2(bytes, at)?),
        Magic::LegacyPacket => Unit::Packet(WirePacket::parse_dtpd(bytes, at)?),
        Magic::Command => {
            let mut c = Cursor::new(bytes, at, FORMAT);
            c.skip(8, "unit prefix")?;
            let v = Value::parse(&mut c)?;
            Unit::Command(v)
        }
    })
}

/// Incremental DTSC reader: feed bytes as they arrive (a file, a `dtsc://` socket), take
/// units out.
#[derive(Default)]
pub struct Reader {
    buf: BytesMut,
    offset: u64,
}

impl Reader {
    /// A reader whose first byte is at absolute offset 0.
    pub fn new() -> Reader {
        Reader::default()
    }

    /// Hands over the next bytes of input.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Absolute offset of the next unit.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next complete unit with its offset, `Ok(None)` if more bytes are needed.
    pub fn next_unit(&mut self) -> Result<Option<(u64, Unit)>, FormatError> {
        let Some((magic, size)) = frame(&self.buf, self.offset)? else {
            return Ok(None);
        };
        if (self.buf.len() as u64) < size {
            return Ok(None);
        }
        let at = self.offset;
        let bytes = self.buf.split_to(size as usize).freeze();
        self.offset += size;
        Ok(Some((at, parse(magic, bytes, at)?)))
    }

    /// End of input: an error if it stopped inside a unit.
    pub fn finish(&mut self) -> Result<(), FormatError> {
        if self.buf.has_remaining() {
            let need = match frame(&self.buf, self.offset)? {
                Some((_, size)) => size - self.buf.len() as u64,
                None => 8 - self.buf.len() as u64,
            };
            return Err(FormatError::new(
                FORMAT,
                self.offset,
                Problem::Truncated { what: "unit", need },
            ));
        }
        Ok(())
    }
}

/// A `DTCM` unit carrying `members` as one object, in the order given (MistServer packs its
/// commands from JSON objects, whose members come out sorted by name: pass them so to match
/// its bytes).
pub fn command(members: &[(&str, Value)]) -> Vec<u8> {
    let obj = Value::Object(
        members
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
    );
    let body = obj.to_bytes();
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(Magic::Command.bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// What mist says it is in its DTSC commands.
pub fn peer_version() -> String {
    concat!("mist/", env!("CARGO_PKG_VERSION")).to_string()
}

/// The `play` command a client sends for `stream` (members in MistServer's sorted order).
pub fn play_command(stream: &str) -> Vec<u8> {
    command(&[
        ("cmd", Value::Str(Bytes::from_static(b"play"))),
        ("stream", Value::Str(Bytes::from(stream.to_string()))),
        ("version", Value::Str(Bytes::from(peer_version()))),
    ])
}
