//! Data packets: `DTP2` (track id and time in front of the object) and legacy `DTPD`.
//!
//! ```text
//! "DTP2" len:u32 track:u32 time:u64  E0
//!     ["offset"   int]        only when non-zero
//!     ["bpos"     int]        only when non-zero
//!     ["keyframe" int 1]      only on keyframes
//!      "data"     string      the payload
//! 00 00 EE
//! ```

use bytes::{BufMut, Bytes};

use super::value::{self, at_end_marker, Value, END};
use super::FORMAT;
use crate::formats::error::FormatError;
use crate::io::Cursor;

/// A data packet as it is on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WirePacket {
    /// Track id as written (a header position in files, position + 1 on the wire).
    pub track: u32,
    /// Decode time in ms.
    pub time: u64,
    /// Composition offset in ms.
    pub offset: i64,
    /// Byte position in the source file (0 = none).
    pub bpos: u64,
    /// Keyframe flag.
    pub keyframe: bool,
    /// The payload.
    pub data: Bytes,
    /// Size of the whole unit, prefix included.
    pub unit_size: u64,
}

impl WirePacket {
    /// Parses a complete `DTP2` unit starting at absolute offset `at`.
    pub fn parse_dtp2(bytes: Bytes, at: u64) -> Result<WirePacket, FormatError> {
        let unit_size = bytes.len() as u64;
        let mut c = Cursor::new(bytes, at, FORMAT);
        c.skip(8, "unit prefix")?;
        let track = c.u32("track id")?;
        let time = c.u64("time")?;
        let mut p = WirePacket {
            track,
            time,
            offset: 0,
            bpos: 0,
            keyframe: false,
            data: Bytes::new(),
            unit_size,
        };
        let marker = c.u8("object marker")?;
        if marker != value::OBJECT && marker != value::CONTAINER {
            return Err(c.bad_value("object marker", u64::from(marker), 1));
        }
        let mut has_data = false;
        while !at_end_marker(&mut c)? {
            let n = c.u16("member name length")? as usize;
            let member = match c.slice(n, "member name")? {
                b"data" => Member::Data,
                b"offset" => Member::Offset,
                b"bpos" => Member::Bpos,
                b"keyframe" => Member::Keyframe,
                _ => Member::Other,
            };
            match member {
                Member::Data => match Value::parse(&mut c)? {
                    Value::Str(s) => {
                        p.data = s;
                        has_data = true;
                    }
                    _ => return Err(c.invalid("packet data is not a string")),
                },
                Member::Other => Value::skip(&mut c)?,
                m => {
                    let v = Value::parse(&mut c)?
                        .as_int()
                        .ok_or_else(|| c.invalid("packet member is not a number"))?;
                    match m {
                        Member::Offset => p.offset = v,
                        Member::Bpos => p.bpos = v as u64,
                        _ => p.keyframe = v != 0,
                    }
                }
            }
        }
        if !has_data {
            return Err(FormatError::invalid(FORMAT, at, "packet without data"));
        }
        Ok(p)
    }

    /// Parses a complete legacy `DTPD` unit (track and time inside the object).
    pub fn parse_dtpd(bytes: Bytes, at: u64) -> Result<WirePacket, FormatError> {
        let unit_size = bytes.len() as u64;
        let mut c = Cursor::new(bytes, at, FORMAT);
        c.skip(8, "unit prefix")?;
        let v = Value::parse(&mut c)?;
        let int = |k: &str| v.get(k).and_then(Value::as_int);
        let track = match int("trackid") {
            Some(t) => t as u32,
            // The single-track era named the track by type (§1.4).
            None => match v.get("datatype").and_then(Value::as_text).as_deref() {
                Some("video") => 1,
                Some("audio") => 2,
                Some("meta") => 3,
                _ => {
                    return Err(FormatError::invalid(
                        FORMAT,
                        at,
                        "DTPD packet without trackid",
                    ))
                }
            },
        };
        let data = match v.get("data") {
            Some(Value::Str(s)) => s.clone(),
            _ => return Err(FormatError::invalid(FORMAT, at, "packet without data")),
        };
        Ok(WirePacket {
            track,
            time: int("time").unwrap_or(0) as u64,
            offset: int("offset").unwrap_or(0),
            bpos: int("bpos").unwrap_or(0) as u64,
            keyframe: int("keyframe").unwrap_or(0) != 0,
            data,
            unit_size,
        })
    }

    /// Size of the canonical `DTP2` encoding of a packet (dtsc-format.md §1.3).
    pub fn encoded_size(data_len: usize, offset: i64, bpos: u64, keyframe: bool) -> u64 {
        35 + data_len as u64
            + if offset != 0 { 17 } else { 0 }
            + if bpos != 0 { 15 } else { 0 }
            + if keyframe { 19 } else { 0 }
    }

    /// The bytes before the payload of a canonical `DTP2`, in MistServer's member order, and
    /// the three bytes after it. Payloads are passed separately so they need not be copied.
    pub fn encode_parts(
        track: u32,
        time: u64,
        offset: i64,
        bpos: u64,
        keyframe: bool,
        data_len: usize,
        head: &mut Vec<u8>,
    ) -> &'static [u8; 3] {
        let total = Self::encoded_size(data_len, offset, bpos, keyframe);
        head.put_slice(b"DTP2");
        head.put_u32((total - 8) as u32);
        head.put_u32(track);
        head.put_u64(time);
        head.put_u8(value::OBJECT);
        if offset != 0 {
            value::put_int(head, "offset", offset);
        }
        if bpos != 0 {
            value::put_int(head, "bpos", bpos as i64);
        }
        if keyframe {
            value::put_int(head, "keyframe", 1);
        }
        value::put_name(head, "data");
        head.put_u8(value::STRING);
        head.put_u32(data_len as u32);
        &END
    }

    /// The whole canonical `DTP2` encoding (tests and small outputs).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        let end = Self::encode_parts(
            self.track,
            self.time,
            self.offset,
            self.bpos,
            self.keyframe,
            self.data.len(),
            &mut v,
        );
        v.extend_from_slice(&self.data);
        v.extend_from_slice(end);
        v
    }
}

/// The members a packet reader acts on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Member {
    Data,
    Offset,
    Bpos,
    Keyframe,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_of_section_1_3() {
        // A 1000-byte keyframe with a 66 ms composition offset and no bpos is 1071 bytes,
        // length field 1063 (00 00 04 27), data starting at byte 68.
        let p = WirePacket {
            track: 0,
            time: 0,
            offset: 66,
            bpos: 0,
            keyframe: true,
            data: Bytes::from(vec![0xAB; 1000]),
            unit_size: 1071,
        };
        let b = p.encode();
        assert_eq!(b.len(), 1071);
        assert_eq!(&b[4..8], &[0, 0, 4, 0x27]);
        assert_eq!(&b[68..70], &[0xAB, 0xAB]);
        assert_eq!(&b[64..68], &1000u32.to_be_bytes());
        assert_eq!(WirePacket::parse_dtp2(Bytes::from(b), 0).unwrap(), p);
    }
}
