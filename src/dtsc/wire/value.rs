//! DTMI, the binary JSON-like value encoding inside every DTSC unit (dtsc-format.md §1.1).
//!
//! ```text
//! 0x01 int     8 bytes BE two's complement
//! 0x02 string  u32 BE length, bytes
//! 0x03 null
//! 0x04 double  8 bytes BE IEEE-754
//! 0xE0 object  { u16 BE name length, name, value }* 00 00 EE   (0xFF: the same, "container")
//! 0x0A array   value* 00 00 EE
//! ```

use bytes::{BufMut, Bytes};

use crate::formats::error::{FormatError, Problem};
use crate::io::Cursor;

/// Type marker of a 64-bit integer.
pub const INT: u8 = 0x01;
/// Type marker of a string.
pub const STRING: u8 = 0x02;
/// Type marker of null.
pub const NULL: u8 = 0x03;
/// Type marker of a double.
pub const DOUBLE: u8 = 0x04;
/// Type marker of an object.
pub const OBJECT: u8 = 0xE0;
/// Alternative object marker ("container"), parsed like [`OBJECT`].
pub const CONTAINER: u8 = 0xFF;
/// Type marker of an array.
pub const ARRAY: u8 = 0x0A;
/// The three bytes that close an object or array.
pub const END: [u8; 3] = [0x00, 0x00, 0xEE];

/// Objects and arrays nested deeper than this are refused (a hostile file could otherwise
/// exhaust the stack).
pub const MAX_DEPTH: usize = 64;

/// A decoded DTMI value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// 64-bit signed integer (also booleans, as 0/1).
    Int(i64),
    /// Binary-safe string.
    Str(Bytes),
    /// Null.
    Null,
    /// Double (never written by mist; MistServer's writer is broken, §1.11 Q1).
    Double(f64),
    /// Object members in file order.
    Object(Vec<(String, Value)>),
    /// Array elements.
    Array(Vec<Value>),
}

impl Value {
    /// Parses one value at the cursor.
    pub fn parse(c: &mut Cursor) -> Result<Value, FormatError> {
        Self::parse_depth(c, 0)
    }

    fn parse_depth(c: &mut Cursor, depth: usize) -> Result<Value, FormatError> {
        if depth > MAX_DEPTH {
            return Err(c.error(Problem::Limit {
                what: "value nesting depth",
                limit: MAX_DEPTH as u64,
            }));
        }
        let marker = c.u8("type marker")?;
        Ok(match marker {
            INT => Value::Int(c.i64("integer")?),
            STRING => {
                let n = c.u32("string length")?;
                Value::Str(c.bytes(n as usize, "string")?)
            }
            NULL => Value::Null,
            DOUBLE => Value::Double(c.f64("double")?),
            OBJECT | CONTAINER => {
                let mut members = Vec::new();
                while !at_end_marker(c)? {
                    let name = member_name(c)?;
                    let v = Self::parse_depth(c, depth + 1)?;
                    members.push((name, v));
                }
                Value::Object(members)
            }
            ARRAY => {
                let mut items = Vec::new();
                while !at_end_marker(c)? {
                    items.push(Self::parse_depth(c, depth + 1)?);
                }
                Value::Array(items)
            }
            other => return Err(c.bad_value("type marker", u64::from(other), 1)),
        })
    }

    /// Skips one value without building it (for members a reader does not need).
    pub fn skip(c: &mut Cursor) -> Result<(), FormatError> {
        skip_depth(c, 0)
    }

    /// Appends the encoding of this value.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => {
                out.put_u8(INT);
                out.put_i64(*i);
            }
            Value::Str(s) => {
                out.put_u8(STRING);
                out.put_u32(s.len() as u32);
                out.put_slice(s);
            }
            Value::Null => out.put_u8(NULL),
            Value::Double(d) => {
                out.put_u8(DOUBLE);
                out.put_f64(*d);
            }
            Value::Object(m) => {
                out.put_u8(OBJECT);
                for (k, v) in m {
                    put_name(out, k);
                    v.write(out);
                }
                out.put_slice(&END);
            }
            Value::Array(a) => {
                out.put_u8(ARRAY);
                for v in a {
                    v.write(out);
                }
                out.put_slice(&END);
            }
        }
    }

    /// The encoding as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write(&mut v);
        v
    }

    /// Member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as an integer, with MistServer's conversions (strings parsed like
    /// `strtoll(s, 0, 0)`, null as 0, doubles truncated).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Null => Some(0),
            Value::Double(d) => Some(*d as i64),
            Value::Str(s) => Some(strtoll(s)),
            _ => None,
        }
    }

    /// The value as string bytes (integers printed in decimal, as MistServer does).
    pub fn as_bytes(&self) -> Option<Bytes> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(Bytes::from(i.to_string())),
            Value::Null => Some(Bytes::from_static(b"null")),
            _ => None,
        }
    }

    /// The value as text (lossy for non-UTF-8 bytes).
    pub fn as_text(&self) -> Option<String> {
        self.as_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Member names and values, when this is an object.
    pub fn members(&self) -> &[(String, Value)] {
        match self {
            Value::Object(m) => m,
            _ => &[],
        }
    }
}

/// Reads one value from a stream, keeping strings longer than `max_inline` bytes out of
/// memory: they are skipped and stand as a one-byte placeholder (`Str(b"\0")`), so a reader
/// can see that e.g. an index table is present without holding it. `offset` is where the
/// value starts in the stream (for errors) and advances past it.
pub fn parse_sparse<R: std::io::Read + std::io::Seek>(
    r: &mut R,
    offset: &mut u64,
    max_inline: usize,
) -> Result<Value, FormatError> {
    sparse_depth(r, offset, max_inline, 0)
}

fn read_exact<R: std::io::Read>(
    r: &mut R,
    offset: &mut u64,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), FormatError> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FormatError::new(
                super::FORMAT,
                *offset,
                Problem::Truncated {
                    what,
                    need: buf.len() as u64,
                },
            )
        } else {
            FormatError::io(super::FORMAT, *offset, e)
        }
    })?;
    *offset += buf.len() as u64;
    Ok(())
}

fn sparse_depth<R: std::io::Read + std::io::Seek>(
    r: &mut R,
    offset: &mut u64,
    max_inline: usize,
    depth: usize,
) -> Result<Value, FormatError> {
    if depth > MAX_DEPTH {
        return Err(FormatError::new(
            super::FORMAT,
            *offset,
            Problem::Limit {
                what: "value nesting depth",
                limit: MAX_DEPTH as u64,
            },
        ));
    }
    let mut b1 = [0u8; 1];
    let at = *offset;
    read_exact(r, offset, &mut b1, "type marker")?;
    let mut b8 = [0u8; 8];
    Ok(match b1[0] {
        INT => {
            read_exact(r, offset, &mut b8, "integer")?;
            Value::Int(i64::from_be_bytes(b8))
        }
        DOUBLE => {
            read_exact(r, offset, &mut b8, "double")?;
            Value::Double(f64::from_be_bytes(b8))
        }
        NULL => Value::Null,
        STRING => {
            let mut b4 = [0u8; 4];
            read_exact(r, offset, &mut b4, "string length")?;
            let n = u32::from_be_bytes(b4) as usize;
            if n > max_inline {
                r.seek(std::io::SeekFrom::Current(n as i64))
                    .map_err(|e| FormatError::io(super::FORMAT, *offset, e))?;
                *offset += n as u64;
                Value::Str(Bytes::from_static(b"\0"))
            } else {
                let mut v = vec![0u8; n];
                read_exact(r, offset, &mut v, "string")?;
                Value::Str(Bytes::from(v))
            }
        }
        OBJECT | CONTAINER | ARRAY => {
            let object = b1[0] != ARRAY;
            let mut members = Vec::new();
            let mut items = Vec::new();
            loop {
                let mut b2 = [0u8; 2];
                read_exact(r, offset, &mut b2, "object member")?;
                if b2 == [0, 0] {
                    read_exact(r, offset, &mut b1, "end marker")?;
                    break;
                }
                if object {
                    let n = u16::from_be_bytes(b2) as usize;
                    let mut name = vec![0u8; n];
                    let name_at = *offset;
                    read_exact(r, offset, &mut name, "member name")?;
                    let name = String::from_utf8(name).map_err(|_| {
                        FormatError::invalid(super::FORMAT, name_at, "member name is not UTF-8")
                    })?;
                    members.push((name, sparse_depth(r, offset, max_inline, depth + 1)?));
                } else {
                    // The two bytes were the start of the next value: put them back.
                    r.seek(std::io::SeekFrom::Current(-2))
                        .map_err(|e| FormatError::io(super::FORMAT, *offset, e))?;
                    *offset -= 2;
                    items.push(sparse_depth(r, offset, max_inline, depth + 1)?);
                }
            }
            if object {
                Value::Object(members)
            } else {
                Value::Array(items)
            }
        }
        other => {
            return Err(FormatError::new(
                super::FORMAT,
                at,
                Problem::BadValue {
                    field: "type marker",
                    value: u64::from(other),
                },
            ))
        }
    })
}

/// C's `strtoll(s, 0, 0)`: optional sign, `0x` hex, leading-0 octal, else decimal; stops at
/// the first bad digit.
fn strtoll(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let radix = if s.get(i) == Some(&b'0') && matches!(s.get(i + 1), Some(b'x') | Some(b'X')) {
        i += 2;
        16
    } else if s.get(i) == Some(&b'0') {
        8
    } else {
        10
    };
    let mut v: i64 = 0;
    while let Some(d) = s.get(i).and_then(|b| (*b as char).to_digit(radix)) {
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
        i += 1;
    }
    if neg {
        -v
    } else {
        v
    }
}

/// True (and the marker consumed) when the next bytes close an object or array.
pub fn at_end_marker(c: &mut Cursor) -> Result<bool, FormatError> {
    match c.peek(2) {
        Some([0, 0]) => {
            // MistServer does not check the third byte (§1.11 Q6); neither do we.
            c.skip(3, "end marker")?;
            Ok(true)
        }
        Some(_) => Ok(false),
        None => Err(c.error(Problem::Truncated {
            what: "object member",
            need: (2 - c.remaining()) as u64,
        })),
    }
}

/// Reads an object member name.
pub fn member_name(c: &mut Cursor) -> Result<String, FormatError> {
    let n = c.u16("member name length")?;
    let at = c.offset();
    let raw = c.slice(n as usize, "member name")?;
    String::from_utf8(raw.to_vec())
        .map_err(|_| FormatError::invalid(c.format(), at, "member name is not UTF-8"))
}

fn skip_depth(c: &mut Cursor, depth: usize) -> Result<(), FormatError> {
    if depth > MAX_DEPTH {
        return Err(c.error(Problem::Limit {
            what: "value nesting depth",
            limit: MAX_DEPTH as u64,
        }));
    }
    match c.u8("type marker")? {
        INT | DOUBLE => c.skip(8, "number"),
        STRING => {
            let n = c.u32("string length")?;
            c.skip(n as usize, "string")
        }
        NULL => Ok(()),
        OBJECT | CONTAINER => {
            while !at_end_marker(c)? {
                let n = c.u16("member name length")?;
                c.skip(n as usize, "member name")?;
                skip_depth(c, depth + 1)?;
            }
            Ok(())
        }
        ARRAY => {
            while !at_end_marker(c)? {
                skip_depth(c, depth + 1)?;
            }
            Ok(())
        }
        other => Err(c.bad_value("type marker", u64::from(other), 1)),
    }
}

/// Appends a member name (u16 length + bytes).
pub fn put_name(out: &mut Vec<u8>, name: &str) {
    out.put_u16(name.len() as u16);
    out.put_slice(name.as_bytes());
}

/// Appends an integer member.
pub fn put_int(out: &mut Vec<u8>, name: &str, v: i64) {
    put_name(out, name);
    out.put_u8(INT);
    out.put_i64(v);
}

/// Appends a string member.
pub fn put_str(out: &mut Vec<u8>, name: &str, v: &[u8]) {
    put_name(out, name);
    out.put_u8(STRING);
    out.put_u32(v.len() as u32);
    out.put_slice(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Value, FormatError> {
        Value::parse(&mut Cursor::from_slice(b, 0, "dtsc"))
    }

    #[test]
    fn encodes_the_worked_layouts_of_section_1_1() {
        // int: marker + 8 bytes BE
        assert_eq!(Value::Int(4).to_bytes(), [1, 0, 0, 0, 0, 0, 0, 0, 4]);
        // string: marker + u32 length + bytes
        assert_eq!(
            Value::Str(Bytes::from_static(b"H264")).to_bytes(),
            [2, 0, 0, 0, 4, b'H', b'2', b'6', b'4']
        );
        // object {"vod": 1}: E0, 00 03 'v' 'o' 'd', int, 00 00 EE
        let o = Value::Object(vec![("vod".into(), Value::Int(1))]);
        assert_eq!(
            o.to_bytes(),
            [0xE0, 0, 3, b'v', b'o', b'd', 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xEE]
        );
        // array [null]: 0A 03 00 00 EE
        assert_eq!(
            Value::Array(vec![Value::Null]).to_bytes(),
            [0x0A, 3, 0, 0, 0xEE]
        );
    }

    #[test]
    fn parses_what_it_writes_and_the_container_marker() {
        let v = Value::Object(vec![
            (
                "a".into(),
                Value::Array(vec![Value::Int(-2), Value::Double(1.5)]),
            ),
            ("b".into(), Value::Str(Bytes::from_static(b"\x00\xff"))),
        ]);
        let mut bytes = v.to_bytes();
        assert_eq!(parse(&bytes).unwrap(), v);
        bytes[0] = CONTAINER;
        assert_eq!(parse(&bytes).unwrap(), v);
        let mut c = Cursor::from_slice(&bytes, 0, "dtsc");
        Value::skip(&mut c).unwrap();
        assert!(c.is_empty());
    }

    #[test]
    fn sparse_parse_equals_full_parse_for_small_strings_and_skips_big_ones() {
        let v = Value::Object(vec![
            ("small".into(), Value::Str(Bytes::from_static(b"abc"))),
            ("big".into(), Value::Str(Bytes::from(vec![7u8; 1000]))),
            (
                "list".into(),
                Value::Array(vec![Value::Int(1), Value::Null, Value::Double(2.5)]),
            ),
        ]);
        let bytes = v.to_bytes();
        let mut off = 0;
        let full = parse_sparse(&mut std::io::Cursor::new(&bytes), &mut off, usize::MAX).unwrap();
        assert_eq!(full, v);
        assert_eq!(off, bytes.len() as u64);
        let mut off = 0;
        let sparse = parse_sparse(&mut std::io::Cursor::new(&bytes), &mut off, 100).unwrap();
        assert_eq!(
            sparse.get("big"),
            Some(&Value::Str(Bytes::from_static(b"\0")))
        );
        assert_eq!(sparse.get("list"), v.get("list"));
        assert_eq!(off, bytes.len() as u64);
        let mut off = 0;
        assert!(parse_sparse(&mut std::io::Cursor::new(&bytes[..30]), &mut off, 100).is_err());
    }

    #[test]
    fn conversions_follow_mistserver() {
        assert_eq!(Value::Str(Bytes::from_static(b"0x1F")).as_int(), Some(31));
        assert_eq!(Value::Str(Bytes::from_static(b"017")).as_int(), Some(15));
        assert_eq!(
            Value::Str(Bytes::from_static(b"-12abc")).as_int(),
            Some(-12)
        );
        assert_eq!(Value::Null.as_int(), Some(0));
        assert_eq!(Value::Int(7).as_text().unwrap(), "7");
    }

    #[test]
    fn hostile_input_errors_with_offsets() {
        let e = parse(&[0x07]).unwrap_err();
        assert_eq!(e.offset, 0);
        let e = parse(&[2, 0xff, 0xff, 0xff, 0xff, 1]).unwrap_err();
        assert!(e.is_truncation());
        let deep = vec![ARRAY; 10_000];
        assert!(parse(&deep).is_err());
    }
}
