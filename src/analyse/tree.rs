//! The structures `--detail` shows: one [`Node`] per box, tag, table, PES header or NAL unit,
//! with named, decoded fields and children. The same nodes are printed as indented text and,
//! with `--json --detail 2` or more, carried in the report's `structures` (field names are
//! documented in `docs/analyse-json.md`).
//!
//! Field values are decoded the way ffprobe and mediainfo show them: a `tkhd` width is 640,
//! not its 16.16 fixed-point 41943040; a language is `und`, not its packed 21956; an
//! enumeration is its name; a configuration record is its bytes (hex) and its decoded fields.

use std::io::{self, Write};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// Table entries the text output shows per list before `… N more` (JSON carries them all).
pub const TEXT_LIST_ITEMS: usize = 8;
/// Bytes shown inline as hex; longer byte strings become a hex dump block.
const INLINE_BYTES: usize = 24;
/// Bytes of a long byte string (other than a `data` payload) the text shows.
const TEXT_BYTES: usize = 64;
/// A node's fields stay on its line while the line is at most this long.
const INLINE_WIDTH: usize = 110;

/// A decoded field value.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// No value (AMF0 null, a DTMI null).
    Null,
    /// A flag: `yes` / `no` in text, `true` / `false` in JSON.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A byte people read in hex (stream types, stream ids, tags): a number in JSON,
    /// `0x1b` in text.
    Hex8(u8),
    /// A 16-bit value people read in hex (PIDs): a number in JSON, `0x0100` in text.
    Hex16(u16),
    /// A number with a fraction (fixed-point fields decoded, AMF0 numbers).
    Float(f64),
    /// Text: names of enumerations, four-character codes, strings.
    Str(String),
    /// Raw bytes: hex in text and JSON (`"0164001fffe1"`).
    Bytes(Vec<u8>),
    /// A table or array.
    List(Vec<Val>),
    /// Named members in order (a decoded record, an AMF0 object).
    Map(Vec<(String, Val)>),
}

macro_rules! int_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Val {
            fn from(v: $t) -> Val {
                Val::Int(i64::from(v))
            }
        }
    )*};
}
int_from!(u8, u16, u32, i8, i16, i32, i64);

impl From<u64> for Val {
    fn from(v: u64) -> Val {
        i64::try_from(v).map_or(Val::Float(v as f64), Val::Int)
    }
}

impl From<usize> for Val {
    fn from(v: usize) -> Val {
        Val::from(v as u64)
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::Float(v)
    }
}

impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Bool(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Str(v.to_string())
    }
}

impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Str(v)
    }
}

impl<T: Into<Val>> From<Vec<T>> for Val {
    fn from(v: Vec<T>) -> Val {
        Val::List(v.into_iter().map(Into::into).collect())
    }
}

/// Builds a [`Val::Map`] in order: `map().with("a", 1).with("b", "x")`.
pub fn map() -> Val {
    Val::Map(Vec::new())
}

impl Val {
    /// Adds a member to a map (no effect on other values).
    pub fn with(mut self, key: &str, v: impl Into<Val>) -> Val {
        if let Val::Map(m) = &mut self {
            m.push((key.to_string(), v.into()));
        }
        self
    }

    /// Adds a member when `v` is `Some`.
    pub fn with_opt<T: Into<Val>>(self, key: &str, v: Option<T>) -> Val {
        match v {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    fn is_scalar(&self) -> bool {
        match self {
            Val::List(_) | Val::Map(_) => false,
            Val::Bytes(b) => b.len() <= INLINE_BYTES,
            _ => true,
        }
    }
}

impl Serialize for Val {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Null => s.serialize_unit(),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::Int(i) => s.serialize_i64(*i),
            Val::Hex8(h) => s.serialize_u8(*h),
            Val::Hex16(h) => s.serialize_u16(*h),
            Val::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Val::Float(_) => s.serialize_unit(),
            Val::Str(t) => s.serialize_str(t),
            Val::Bytes(b) => s.serialize_str(&hex(b, "")),
            Val::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Val::Map(members) => serialize_members(members, s),
        }
    }
}

fn serialize_members<S: Serializer>(members: &[(String, Val)], s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(members.len()))?;
    for (k, v) in members {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

/// Named fields in order, serialized as a JSON object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fields(pub Vec<(String, Val)>);

impl Fields {
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_members(&self.0, s)
    }
}

/// One structure of the file: what it is, where, its decoded fields and what it contains.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// What sort of structure: `box`, `tag`, `psi`, `pes`, `ts_packet`, `nal`, `config`,
    /// `adts`, `id3`, `frame`, `header`, `index` … (see `docs/analyse-json.md`).
    pub kind: &'static str,
    /// Which one: the box type (`tkhd`), the tag type (`video`), the table (`PMT`), the NAL
    /// unit type (`SPS`) …
    pub name: String,
    /// Byte offset in the input where it starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Its size in bytes, header included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Decoded fields, in the order the format defines them.
    #[serde(skip_serializing_if = "Fields::is_empty")]
    pub fields: Fields,
    /// Structures inside it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Node>,
}

impl Node {
    /// A node with no position, fields or children yet.
    pub fn new(kind: &'static str, name: impl Into<String>) -> Node {
        Node {
            kind,
            name: name.into(),
            offset: None,
            size: None,
            fields: Fields::default(),
            children: Vec::new(),
        }
    }

    /// Sets where it starts.
    pub fn at(mut self, offset: u64) -> Node {
        self.offset = Some(offset);
        self
    }

    /// Sets its size.
    pub fn sized(mut self, size: u64) -> Node {
        self.size = Some(size);
        self
    }

    /// Adds a field.
    pub fn field(mut self, key: &str, v: impl Into<Val>) -> Node {
        self.fields.0.push((key.to_string(), v.into()));
        self
    }

    /// Adds a field when `v` is `Some`.
    pub fn field_opt<T: Into<Val>>(self, key: &str, v: Option<T>) -> Node {
        match v {
            Some(v) => self.field(key, v),
            None => self,
        }
    }

    /// Adds a field in place.
    pub fn push_field(&mut self, key: &str, v: impl Into<Val>) {
        self.fields.0.push((key.to_string(), v.into()));
    }

    /// Adds a child.
    pub fn child(mut self, n: Node) -> Node {
        self.children.push(n);
        self
    }

    /// The node and its children without offsets: a record decoded from bytes that sit
    /// inside another encoding (a DTSC header string), where offsets would mislead.
    pub fn without_offsets(mut self) -> Node {
        self.offset = None;
        self.children = self
            .children
            .into_iter()
            .map(Node::without_offsets)
            .collect();
        self
    }

    /// The value of a field, if set.
    pub fn get(&self, key: &str) -> Option<&Val> {
        self.fields.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Where `analyse` sends its structures: printed as text, kept for `--json`, or dropped.
pub struct Detail<'a> {
    out: &'a mut dyn Write,
    text: bool,
    keep: bool,
    nodes: Vec<Node>,
}

impl<'a> Detail<'a> {
    /// Text when not `--json`; kept for the report with `--json --detail 2` or more.
    pub fn new(out: &'a mut dyn Write, opts: &super::Options) -> Detail<'a> {
        Detail {
            out,
            text: !opts.json,
            keep: opts.json && opts.detail >= 2,
            nodes: Vec::new(),
        }
    }

    /// True when structures at `level` are wanted (printed or kept) for `detail`.
    pub fn wants(&self, detail: u8, level: u8) -> bool {
        detail >= level && (self.text || (self.keep && level <= 3))
    }

    /// True when the output is text.
    pub fn is_text(&self) -> bool {
        self.text
    }

    /// Prints or keeps one structure.
    pub fn emit(&mut self, node: Node) -> io::Result<()> {
        if self.text {
            write_node(self.out, &node, 0)
        } else {
            if self.keep {
                self.nodes.push(node);
            }
            Ok(())
        }
    }

    /// The text output, for packet lines and hex dumps between structures.
    pub fn out(&mut self) -> &mut dyn Write {
        self.out
    }

    /// The kept structures (`Some` with `--json --detail 2` or more).
    pub fn finish(self) -> Option<Vec<Node>> {
        self.keep.then_some(self.nodes)
    }
}

/// `00 01 ff` (with `sep` " ") or `0001ff` (with "").
pub fn hex(b: &[u8], sep: &str) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// A value on one line: `yes`, `640`, `29.97`, `und`, `01 64 00 1f`, `[1, 2, … 5 more]`.
pub fn inline(v: &Val) -> String {
    match v {
        Val::Null => "null".into(),
        Val::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Val::Int(i) => i.to_string(),
        Val::Hex8(h) => format!("{h:#04x}"),
        Val::Hex16(h) => format!("{h:#06x}"),
        Val::Float(f) => float(*f),
        Val::Str(s) => s.clone(),
        Val::Bytes(b) if b.len() <= INLINE_BYTES => hex(b, " "),
        Val::Bytes(b) => format!("{} … ({} bytes)", hex(&b[..INLINE_BYTES], " "), b.len()),
        Val::List(items) => {
            let mut parts: Vec<String> = items.iter().take(TEXT_LIST_ITEMS).map(inline).collect();
            if items.len() > TEXT_LIST_ITEMS {
                parts.push(format!("… {} more", items.len() - TEXT_LIST_ITEMS));
            }
            format!("[{}]", parts.join(", "))
        }
        Val::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k} {}", inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `25`, `29.97`, `1.5`: no trailing zeros, at most 6 decimals.
fn float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{f:.0}");
    }
    let s = format!("{f:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The node's first line: `[tkhd] at byte 171, 92 bytes` or `video tag at byte 13, …`.
fn title(n: &Node) -> String {
    let mut s = match n.kind {
        "box" => format!("[{}]", n.name),
        "tag" => format!("{} tag", n.name),
        _ => n.name.clone(),
    };
    if let Some(o) = n.offset {
        s.push_str(&format!(" at byte {o}"));
    }
    if let Some(z) = n.size {
        s.push_str(&format!(", {z} {}", if z == 1 { "byte" } else { "bytes" }));
    }
    s
}

/// Writes a node as indented text: its title with the short fields after a colon (or one per
/// line when they would not fit), tables, records and long byte strings below it, then its
/// children one level deeper.
pub fn write_node(out: &mut dyn Write, n: &Node, depth: usize) -> io::Result<()> {
    let pad = "  ".repeat(depth);
    let head = title(n);
    let short: Vec<String> = n
        .fields
        .0
        .iter()
        .filter(|(_, v)| v.is_scalar())
        .map(|(k, v)| format!("{k} {}", inline(v)))
        .collect();
    let line = if short.is_empty() {
        format!("{pad}{head}")
    } else {
        format!("{pad}{head}: {}", short.join(", "))
    };
    if line.chars().count() <= INLINE_WIDTH || short.is_empty() {
        writeln!(out, "{line}")?;
    } else {
        // As many fields per line as fit, under the title.
        writeln!(out, "{pad}{head}:")?;
        let mut l = String::new();
        for s in &short {
            if !l.is_empty() && pad.len() + 4 + l.len() + 2 + s.len() > INLINE_WIDTH {
                writeln!(out, "{pad}    {l}")?;
                l.clear();
            }
            if !l.is_empty() {
                l.push_str(", ");
            }
            l.push_str(s);
        }
        writeln!(out, "{pad}    {l}")?;
    }
    for (k, v) in n.fields.0.iter().filter(|(_, v)| !v.is_scalar()) {
        write_val(out, k, v, depth + 1)?;
    }
    for c in &n.children {
        write_node(out, c, depth + 1)?;
    }
    Ok(())
}

/// A field that does not fit a line: tables as `key (N): a, b, …`, records as nested lines,
/// long bytes as a hex dump.
fn write_val(out: &mut dyn Write, key: &str, v: &Val, depth: usize) -> io::Result<()> {
    let pad = "  ".repeat(depth);
    match v {
        Val::List(items)
            if items
                .iter()
                .all(|i| !matches!(i, Val::Map(_) | Val::List(_))) =>
        {
            writeln!(out, "{pad}{key} ({}): {}", items.len(), inline(v))
        }
        Val::List(items) => {
            writeln!(out, "{pad}{key} ({}):", items.len())?;
            for (i, item) in items.iter().take(TEXT_LIST_ITEMS).enumerate() {
                let line = inline(item);
                match item {
                    Val::Map(m)
                        if m.iter().all(|(_, x)| x.is_scalar())
                            && pad.len() + line.len() < INLINE_WIDTH =>
                    {
                        writeln!(out, "{pad}  [{i}] {}", line.trim_matches(['{', '}']))?
                    }
                    _ if item.is_scalar() => writeln!(out, "{pad}  [{i}] {}", inline(item))?,
                    _ => write_val(out, &format!("[{i}]"), item, depth + 1)?,
                }
            }
            if items.len() > TEXT_LIST_ITEMS {
                writeln!(out, "{pad}  … {} more", items.len() - TEXT_LIST_ITEMS)?;
            }
            Ok(())
        }
        Val::Map(m)
            if m.iter().all(|(_, x)| x.is_scalar())
                && pad.len() + key.len() + inline(v).len() < INLINE_WIDTH =>
        {
            writeln!(out, "{pad}{key}: {}", inline(v).trim_matches(['{', '}']))
        }
        Val::Map(m) => {
            writeln!(out, "{pad}{key}:")?;
            for (k, x) in m {
                if x.is_scalar() {
                    writeln!(out, "{pad}  {k}: {}", inline(x))?;
                } else {
                    write_val(out, k, x, depth + 1)?;
                }
            }
            Ok(())
        }
        Val::Bytes(b) => {
            writeln!(out, "{pad}{key} ({} bytes):", b.len())?;
            // A payload (`data`, asked for with --detail 3) in full; other byte strings
            // (packed index tables, opaque records) only their start.
            let shown = if key == "data" {
                b.len()
            } else {
                b.len().min(TEXT_BYTES)
            };
            for (i, chunk) in b[..shown].chunks(16).enumerate() {
                writeln!(out, "{pad}  {:08x}  {}", i * 16, hex(chunk, " "))?;
            }
            if shown < b.len() {
                let more = b.len() - shown;
                writeln!(
                    out,
                    "{pad}  … {more} more {}",
                    if more == 1 { "byte" } else { "bytes" }
                )?;
            }
            Ok(())
        }
        other => writeln!(out, "{pad}{key}: {}", inline(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_of_one_node() {
        let n = Node::new("box", "tkhd")
            .at(171)
            .sized(92)
            .field("track_id", 1u32)
            .field("width", 640.0)
            .field("enabled", true)
            .field("matrix", vec![1.0, 0.0, 0.0])
            .child(Node::new("box", "free").at(263).sized(8));
        let mut text = Vec::new();
        write_node(&mut text, &n, 0).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "[tkhd] at byte 171, 92 bytes: track_id 1, width 640, enabled yes\n  \
             matrix (3): [1, 0, 0]\n  [free] at byte 263, 8 bytes\n"
        );
        assert_eq!(
            serde_json::to_string(&n).unwrap(),
            r#"{"kind":"box","name":"tkhd","offset":171,"size":92,"fields":{"track_id":1,"width":640.0,"enabled":true,"matrix":[1.0,0.0,0.0]},"children":[{"kind":"box","name":"free","offset":263,"size":8}]}"#
        );
    }

    #[test]
    fn long_tables_are_cut_in_text_only() {
        let sizes: Vec<u32> = (1..=20).collect();
        let n = Node::new("box", "stsz").field("entries", sizes.clone());
        let mut text = Vec::new();
        write_node(&mut text, &n, 0).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "[stsz]\n  entries (20): [1, 2, 3, 4, 5, 6, 7, 8, … 12 more]\n"
        );
        let j: serde_json::Value = serde_json::to_value(&n).unwrap();
        assert_eq!(j["fields"]["entries"].as_array().unwrap().len(), 20);
        let b = Node::new("config", "avcC").field("data", Val::Bytes(vec![1, 0x64, 0, 0x1f]));
        assert_eq!(
            serde_json::to_value(&b).unwrap()["fields"]["data"],
            "0164001f"
        );
        assert_eq!(float(29.97), "29.97");
        assert_eq!(inline(&Val::Bool(false)), "no");
    }
}
