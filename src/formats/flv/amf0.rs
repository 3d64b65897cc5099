//! AMF0, the value encoding of FLV script tags (`onMetaData`) and RTMP commands, as specified in
//! Adobe's *Action Message Format — AMF 0* (2006), §2.
//!
//! ```text
//! 0x00 number        f64 BE
//! 0x01 boolean       u8 (0 = false)
//! 0x02 string        u16 BE length, UTF-8 bytes
//! 0x03 object        { u16 length + key, value }* then 00 00 09
//! 0x05 null          —
//! 0x06 undefined     —
//! 0x07 reference     u16 BE index of an earlier complex value
//! 0x08 ECMA array    u32 BE associative-count (advisory), then properties as an object
//! 0x09 object end    (only after an empty key)
//! 0x0A strict array  u32 BE count, values
//! 0x0B date          f64 ms since the epoch, s16 time-zone (reserved, should be 0)
//! 0x0C long string   u32 BE length, UTF-8 bytes
//! 0x0D unsupported   —
//! 0x0F XML document  u32 BE length, UTF-8 bytes
//! 0x10 typed object  u16 length + class name, then properties as an object
//! ```
//!
//! Strings that are not valid UTF-8 are kept with replacement characters (lossy): AMF0 says
//! UTF-8, and nothing mist does with metadata needs the broken bytes back.

use bytes::BufMut;

use crate::formats::error::{FormatError, Problem};
use crate::io::Cursor;

/// Objects and arrays nested deeper than this are refused (a hostile file could otherwise
/// exhaust the stack).
pub const MAX_DEPTH: usize = 32;
/// Properties of one object or ECMA array, and elements of one strict array, beyond this are
/// refused.
pub const MAX_ITEMS: usize = 1 << 20;
/// Preallocation for counts read from input is capped here; vectors grow past it as needed.
const MAX_PREALLOC: usize = 1024;

/// AMF0 type markers (§2.1).
pub mod marker {
    /// Number (f64).
    pub const NUMBER: u8 = 0x00;
    /// Boolean.
    pub const BOOLEAN: u8 = 0x01;
    /// String (u16 length).
    pub const STRING: u8 = 0x02;
    /// Anonymous object.
    pub const OBJECT: u8 = 0x03;
    /// Movie clip (reserved, never valid).
    pub const MOVIECLIP: u8 = 0x04;
    /// Null.
    pub const NULL: u8 = 0x05;
    /// Undefined.
    pub const UNDEFINED: u8 = 0x06;
    /// Reference to an earlier complex value.
    pub const REFERENCE: u8 = 0x07;
    /// ECMA (associative) array.
    pub const ECMA_ARRAY: u8 = 0x08;
    /// End of an object's properties.
    pub const OBJECT_END: u8 = 0x09;
    /// Strict (dense) array.
    pub const STRICT_ARRAY: u8 = 0x0A;
    /// Date.
    pub const DATE: u8 = 0x0B;
    /// Long string (u32 length).
    pub const LONG_STRING: u8 = 0x0C;
    /// Unsupported.
    pub const UNSUPPORTED: u8 = 0x0D;
    /// Record set (reserved, never valid).
    pub const RECORDSET: u8 = 0x0E;
    /// XML document.
    pub const XML_DOCUMENT: u8 = 0x0F;
    /// Typed object.
    pub const TYPED_OBJECT: u8 = 0x10;
    /// Switch to AMF3.
    pub const AVMPLUS: u8 = 0x11;
}

/// One decoded AMF0 value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// 0x00: an IEEE-754 double.
    Number(f64),
    /// 0x01.
    Boolean(bool),
    /// 0x02: a string of at most 65535 bytes.
    String(String),
    /// 0x03: properties in file order.
    Object(Vec<(String, Value)>),
    /// 0x05.
    Null,
    /// 0x06.
    Undefined,
    /// 0x07: index into the table of complex values read so far (not resolved here).
    Reference(u16),
    /// 0x08: properties in file order (the count on the wire is advisory and recomputed).
    EcmaArray(Vec<(String, Value)>),
    /// 0x0A.
    StrictArray(Vec<Value>),
    /// 0x0B: milliseconds since 1970 (UTC) and the reserved time-zone field.
    Date {
        /// Milliseconds since the epoch.
        ms: f64,
        /// Time-zone offset in minutes (reserved; writers put 0).
        timezone: i16,
    },
    /// 0x0C: a string that may exceed 65535 bytes.
    LongString(String),
    /// 0x0D.
    Unsupported,
    /// 0x0F: an XML document as text.
    XmlDocument(String),
    /// 0x10: a class name and its properties.
    TypedObject {
        /// Registered class name.
        class: String,
        /// Properties in file order.
        properties: Vec<(String, Value)>,
    },
}

impl Value {
    /// Parses one value at the cursor.
    pub fn parse(c: &mut Cursor) -> Result<Value, FormatError> {
        parse_depth(c, 0)
    }

    /// Parses values until the cursor is empty (a script tag body: name, then arguments).
    pub fn parse_all(c: &mut Cursor) -> Result<Vec<Value>, FormatError> {
        let mut out = Vec::new();
        while !c.is_empty() {
            if out.len() >= MAX_ITEMS {
                return Err(c.error(Problem::Limit {
                    what: "AMF0 values in one body",
                    limit: MAX_ITEMS as u64,
                }));
            }
            out.push(Self::parse(c)?);
        }
        Ok(out)
    }

    /// Appends the encoding of this value.
    pub fn write(&self, out: &mut impl BufMut) {
        match self {
            Value::Number(n) => {
                out.put_u8(marker::NUMBER);
                out.put_f64(*n);
            }
            Value::Boolean(b) => {
                out.put_u8(marker::BOOLEAN);
                out.put_u8(u8::from(*b));
            }
            Value::String(s) => {
                if s.len() > usize::from(u16::MAX) {
                    // Too long for a short string: the long form is the only correct encoding.
                    out.put_u8(marker::LONG_STRING);
                    put_long_str(out, s);
                } else {
                    out.put_u8(marker::STRING);
                    put_str(out, s);
                }
            }
            Value::Object(props) => {
                out.put_u8(marker::OBJECT);
                put_props(out, props);
            }
            Value::Null => out.put_u8(marker::NULL),
            Value::Undefined => out.put_u8(marker::UNDEFINED),
            Value::Reference(i) => {
                out.put_u8(marker::REFERENCE);
                out.put_u16(*i);
            }
            Value::EcmaArray(props) => {
                out.put_u8(marker::ECMA_ARRAY);
                out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
                put_props(out, props);
            }
            Value::StrictArray(items) => {
                out.put_u8(marker::STRICT_ARRAY);
                out.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
                for v in items {
                    v.write(out);
                }
            }
            Value::Date { ms, timezone } => {
                out.put_u8(marker::DATE);
                out.put_f64(*ms);
                out.put_i16(*timezone);
            }
            Value::LongString(s) => {
                out.put_u8(marker::LONG_STRING);
                put_long_str(out, s);
            }
            Value::Unsupported => out.put_u8(marker::UNSUPPORTED),
            Value::XmlDocument(s) => {
                out.put_u8(marker::XML_DOCUMENT);
                put_long_str(out, s);
            }
            Value::TypedObject { class, properties } => {
                out.put_u8(marker::TYPED_OBJECT);
                put_str(out, class);
                put_props(out, properties);
            }
        }
    }

    /// The encoding as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write(&mut v);
        v
    }

    /// The property `key` of an object, ECMA array or typed object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(p) | Value::EcmaArray(p) | Value::TypedObject { properties: p, .. } => {
                p.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The text, if this is a string of either length.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The name of the value's type, as the AMF0 spec calls it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Number(_) => "Number",
            Value::Boolean(_) => "Boolean",
            Value::String(_) => "String",
            Value::Object(_) => "Object",
            Value::Null => "Null",
            Value::Undefined => "Undefined",
            Value::Reference(_) => "Reference",
            Value::EcmaArray(_) => "ECMA Array",
            Value::StrictArray(_) => "Strict Array",
            Value::Date { .. } => "Date",
            Value::LongString(_) => "Long String",
            Value::Unsupported => "Unsupported",
            Value::XmlDocument(_) => "XML Document",
            Value::TypedObject { .. } => "Typed Object",
        }
    }
}

fn put_str(out: &mut impl BufMut, s: &str) {
    // Callers pass keys and short strings; anything longer is cut at 65535 bytes on a char
    // boundary so the length field stays true.
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.put_u16(end as u16);
    out.put_slice(&s.as_bytes()[..end]);
}

fn put_long_str(out: &mut impl BufMut, s: &str) {
    out.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
    out.put_slice(s.as_bytes());
}

fn put_props(out: &mut impl BufMut, props: &[(String, Value)]) {
    for (k, v) in props {
        put_str(out, k);
        v.write(out);
    }
    out.put_slice(&[0, 0, marker::OBJECT_END]);
}

fn read_str(c: &mut Cursor, what: &'static str) -> Result<String, FormatError> {
    let n = c.u16(what)?;
    let b = c.slice(usize::from(n), what)?;
    Ok(String::from_utf8_lossy(b).into_owned())
}

fn read_long_str(c: &mut Cursor, what: &'static str) -> Result<String, FormatError> {
    let n = c.u32(what)?;
    if n as usize > c.remaining() {
        return Err(c.error(Problem::Truncated {
            what,
            need: u64::from(n) - c.remaining() as u64,
        }));
    }
    let b = c.slice(n as usize, what)?;
    Ok(String::from_utf8_lossy(b).into_owned())
}

fn depth_check(c: &Cursor, depth: usize) -> Result<(), FormatError> {
    if depth >= MAX_DEPTH {
        return Err(c.error(Problem::Limit {
            what: "AMF0 nesting depth",
            limit: MAX_DEPTH as u64,
        }));
    }
    Ok(())
}

/// Properties up to the `00 00 09` end marker. An ECMA array whose end marker is missing but
/// whose bytes run out exactly at a property boundary is accepted (some writers omit it).
fn read_props(
    c: &mut Cursor,
    depth: usize,
    lenient_end: bool,
) -> Result<Vec<(String, Value)>, FormatError> {
    let mut props = Vec::new();
    loop {
        if lenient_end && c.is_empty() {
            return Ok(props);
        }
        if c.peek(3) == Some(&[0, 0, marker::OBJECT_END]) {
            c.skip(3, "AMF0 object end")?;
            return Ok(props);
        }
        if props.len() >= MAX_ITEMS {
            return Err(c.error(Problem::Limit {
                what: "AMF0 object properties",
                limit: MAX_ITEMS as u64,
            }));
        }
        let key = read_str(c, "AMF0 property name")?;
        let v = parse_depth(c, depth + 1)?;
        props.push((key, v));
    }
}

fn parse_depth(c: &mut Cursor, depth: usize) -> Result<Value, FormatError> {
    let m = c.u8("AMF0 type marker")?;
    Ok(match m {
        marker::NUMBER => Value::Number(c.f64("AMF0 number")?),
        marker::BOOLEAN => Value::Boolean(c.u8("AMF0 boolean")? != 0),
        marker::STRING => Value::String(read_str(c, "AMF0 string")?),
        marker::OBJECT => {
            depth_check(c, depth)?;
            Value::Object(read_props(c, depth, false)?)
        }
        marker::NULL => Value::Null,
        marker::UNDEFINED => Value::Undefined,
        marker::REFERENCE => Value::Reference(c.u16("AMF0 reference")?),
        marker::ECMA_ARRAY => {
            depth_check(c, depth)?;
            // The associative-count is advisory (often 0): the end marker decides.
            let _count = c.u32("AMF0 ECMA array count")?;
            Value::EcmaArray(read_props(c, depth, true)?)
        }
        marker::STRICT_ARRAY => {
            depth_check(c, depth)?;
            let n = c.u32("AMF0 strict array count")? as usize;
            // Each element takes at least one byte, so a count beyond the bytes left is a lie.
            if n > c.remaining() {
                return Err(c.bad_value("AMF0 strict array count", n as u64, 4));
            }
            if n > MAX_ITEMS {
                return Err(c.error(Problem::Limit {
                    what: "AMF0 strict array elements",
                    limit: MAX_ITEMS as u64,
                }));
            }
            let mut items = Vec::with_capacity(n.min(MAX_PREALLOC));
            for _ in 0..n {
                items.push(parse_depth(c, depth + 1)?);
            }
            Value::StrictArray(items)
        }
        marker::DATE => {
            let ms = c.f64("AMF0 date")?;
            let tz = c.u16("AMF0 date time-zone")? as i16;
            Value::Date { ms, timezone: tz }
        }
        marker::LONG_STRING => Value::LongString(read_long_str(c, "AMF0 long string")?),
        marker::UNSUPPORTED => Value::Unsupported,
        marker::XML_DOCUMENT => Value::XmlDocument(read_long_str(c, "AMF0 XML document")?),
        marker::TYPED_OBJECT => {
            depth_check(c, depth)?;
            let class = read_str(c, "AMF0 typed object class name")?;
            Value::TypedObject {
                class,
                properties: read_props(c, depth, false)?,
            }
        }
        other => return Err(c.bad_value("AMF0 type marker", u64::from(other), 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(b: &[u8]) -> Result<Value, FormatError> {
        Value::parse(&mut Cursor::from_slice(b, 0, "flv"))
    }

    #[test]
    fn on_metadata_start_hand_computed() {
        // Hand-computed from AMF0 §2.4 and §2.10: the string "onMetaData" then an ECMA array
        // with one property duration = 2.0.
        let want: &[u8] = &[
            0x02, 0x00, 0x0a, b'o', b'n', b'M', b'e', b't', b'a', b'D', b'a', b't',
            b'a', // string
            0x08, 0x00, 0x00, 0x00, 0x01, // ECMA array, count 1
            0x00, 0x08, b'd', b'u', b'r', b'a', b't', b'i', b'o', b'n', // key
            0x00, 0x40, 0x00, 0, 0, 0, 0, 0, 0, // number 2.0
            0x00, 0x00, 0x09, // object end
        ];
        let mut got = Value::String("onMetaData".into()).to_vec();
        Value::EcmaArray(vec![("duration".into(), Value::Number(2.0))]).write(&mut got);
        assert_eq!(got, want);
        let mut c = Cursor::from_slice(want, 0, "flv");
        let vals = Value::parse_all(&mut c).unwrap();
        assert_eq!(vals[0].as_str(), Some("onMetaData"));
        assert_eq!(
            vals[1].get("duration").and_then(Value::as_number),
            Some(2.0)
        );
    }

    #[test]
    fn ecma_count_is_advisory_and_missing_end_is_tolerated() {
        // Count says 0 but two properties follow; then the same without the end marker.
        let mut b = vec![0x08, 0, 0, 0, 0];
        b.extend_from_slice(&[0, 1, b'a', 0x05, 0, 1, b'b', 0x01, 1]);
        let v = parse(&[&b[..], &[0, 0, 9]].concat()).unwrap();
        assert_eq!(
            v,
            Value::EcmaArray(vec![
                ("a".into(), Value::Null),
                ("b".into(), Value::Boolean(true))
            ])
        );
        assert_eq!(parse(&b).unwrap(), v);
    }

    #[test]
    fn date_keeps_timezone_and_reference_is_kept() {
        // Date: marker, f64 1.0, s16 -60 (0xffc4).
        let b = [0x0b, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xff, 0xc4];
        assert_eq!(
            parse(&b).unwrap(),
            Value::Date {
                ms: 1.0,
                timezone: -60
            }
        );
        assert_eq!(parse(&[0x07, 0x00, 0x02]).unwrap(), Value::Reference(2));
    }

    #[test]
    fn hostile_inputs_are_errors_with_offsets() {
        // Strict array claiming 2^32-1 elements in 5 bytes.
        let e = parse(&[0x0a, 0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(e.offset, 1);
        // Deep nesting.
        let deep: Vec<u8> = std::iter::repeat_n([0x0a, 0, 0, 0, 1], MAX_DEPTH + 2)
            .flatten()
            .collect();
        assert!(matches!(
            parse(&deep).unwrap_err().problem,
            Problem::Limit { .. }
        ));
        // Unknown marker and AMF3 switch.
        assert_eq!(parse(&[0x04]).unwrap_err().offset, 0);
        assert!(parse(&[0x11]).is_err());
        // Object end marker where a value is expected.
        assert!(parse(&[0x09]).is_err());
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<f64>()
                .prop_filter("NaN never equals itself", |f| !f.is_nan())
                .prop_map(Value::Number),
            any::<bool>().prop_map(Value::Boolean),
            ".{0,20}".prop_map(Value::String),
            Just(Value::Null),
            Just(Value::Undefined),
            Just(Value::Unsupported),
            any::<u16>().prop_map(Value::Reference),
            (-1e15f64..1e15, any::<i16>()).prop_map(|(ms, timezone)| Value::Date { ms, timezone }),
            ".{0,20}".prop_map(Value::LongString),
            ".{0,20}".prop_map(Value::XmlDocument),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 64, 6, |inner| {
            let props = proptest::collection::vec(("[a-z]{1,8}", inner.clone()), 0..6);
            prop_oneof![
                props.clone().prop_map(Value::Object),
                props.clone().prop_map(Value::EcmaArray),
                proptest::collection::vec(inner, 0..6).prop_map(Value::StrictArray),
                ("[A-Z][a-z]{0,8}", props)
                    .prop_map(|(class, properties)| Value::TypedObject { class, properties }),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(v in value()) {
            // Oracle: round trip (decode ∘ encode = id), and the bytes are re-written exactly.
            let bytes = v.to_vec();
            let mut c = Cursor::from_slice(&bytes, 0, "flv");
            let back = Value::parse(&mut c).unwrap();
            prop_assert!(c.is_empty());
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(back.to_vec(), bytes);
        }

        #[test]
        fn decode_of_any_bytes_never_panics_and_is_stable(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut c = Cursor::from_slice(&b, 0, "flv");
            if let Ok(v) = Value::parse(&mut c) {
                // decode -> encode -> decode is stable (NaN payloads aside).
                let again = Value::parse(&mut Cursor::from_slice(&v.to_vec(), 0, "flv")).unwrap();
                prop_assert_eq!(again.to_vec(), v.to_vec());
            } else if let Err(e) = Value::parse(&mut Cursor::from_slice(&b, 0, "flv")) {
                prop_assert!(e.offset <= b.len() as u64);
            }
        }
    }
}
