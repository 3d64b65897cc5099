//! Just enough XML (W3C XML 1.0) for the manifests mist writes and reads back: F4M (HDS) and
//! the Smooth Streaming client manifest. Writing needs only escaping; reading builds a small
//! element tree (names, attributes, text) and rejects what is not well-formed, with the line
//! where it went wrong. No DTDs, no namespaces resolution (prefixes stay part of the name),
//! no external entities: a manifest is data, never instructions to fetch anything.
//!
//! Text is taken as UTF-8, or UTF-16 when it starts with a byte order mark (MistServer and
//! IIS send Smooth manifests as UTF-16).

/// Most elements read from one document.
pub const MAX_ELEMENTS: usize = 1 << 20;
/// Deepest nesting read.
pub const MAX_DEPTH: usize = 64;

/// Text with `&`, `<`, `>`, `"` and `'` escaped, for attribute values and element text.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all are left out.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// One element: its name, attributes in document order, text and children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    /// The name as written (with any namespace prefix).
    pub name: String,
    /// Attributes, unescaped.
    pub attributes: Vec<(String, String)>,
    /// The element's own text (all its text pieces joined), unescaped.
    pub text: String,
    /// Child elements.
    pub children: Vec<Element>,
    /// The line (from 1) where the element starts.
    pub line: usize,
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The name without a namespace prefix.
    pub fn local_name(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    /// Children named `name` (local name).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.local_name() == name)
    }

    /// The first child named `name` (local name).
    pub fn first(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local_name() == name)
    }
}

/// Why a document could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct XmlError {
    /// Line (from 1).
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// The document's text: UTF-16 (little or big endian) after a byte order mark, else UTF-8
/// (a UTF-8 byte order mark is dropped).
pub fn decode(bytes: &[u8]) -> Result<String, XmlError> {
    let err = |m: &str| XmlError {
        line: 0,
        message: m.to_string(),
    };
    let utf16 = |b: &[u8], le: bool| -> Result<String, XmlError> {
        if b.len() % 2 != 0 {
            return Err(err("UTF-16 text with an odd number of bytes"));
        }
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).map_err(|_| err("not valid UTF-16"))
    };
    if let Some(b) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(b, true);
    }
    if let Some(b) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(b, false);
    }
    let b = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    String::from_utf8(b.to_vec()).map_err(|_| err("not UTF-8 text (and no UTF-16 byte order mark)"))
}

struct Reader<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
    count: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, m: impl Into<String>) -> XmlError {
        XmlError {
            line: self.line,
            message: m.into(),
        }
    }

    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn advance(&mut self, n: usize) {
        let taken = &self.s[self.pos..self.pos + n];
        self.line += taken.bytes().filter(|&b| b == b'\n').count();
        self.pos += n;
    }

    fn skip_space(&mut self) {
        let n = self.rest().len() - self.rest().trim_start().len();
        self.advance(n);
    }

    /// Skips up to and including `end`.
    fn skip_past(&mut self, end: &str, what: &str) -> Result<(), XmlError> {
        match self.rest().find(end) {
            Some(i) => {
                self.advance(i + end.len());
                Ok(())
            }
            None => Err(self.err(format!("{what} never ends"))),
        }
    }

    /// Comments, processing instructions and the doctype between elements.
    fn skip_misc(&mut self) -> Result<(), XmlError> {
        loop {
            self.skip_space();
            let r = self.rest();
            if r.starts_with("<?") {
                self.skip_past("?>", "processing instruction")?;
            } else if r.starts_with("<!--") {
                self.skip_past("-->", "comment")?;
            } else if r.starts_with("<!DOCTYPE") || r.starts_with("<!doctype") {
                if r.contains('[') && r.find('[') < r.find('>') {
                    return Err(self.err("internal DTD subsets are not read"));
                }
                self.skip_past(">", "doctype")?;
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<String, XmlError> {
        let r = self.rest();
        let n = r
            .find(|c: char| c.is_whitespace() || matches!(c, '=' | '>' | '/' | '<' | '"' | '\''))
            .unwrap_or(r.len());
        if n == 0 {
            return Err(self.err("a name is missing"));
        }
        let name = r[..n].to_string();
        self.advance(n);
        Ok(name)
    }

    fn element(&mut self, depth: usize) -> Result<Element, XmlError> {
        if depth > MAX_DEPTH {
            return Err(self.err(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        self.count += 1;
        if self.count > MAX_ELEMENTS {
            return Err(self.err(format!("more than {MAX_ELEMENTS} elements")));
        }
        if !self.rest().starts_with('<') {
            return Err(self.err("an element was expected"));
        }
        let line = self.line;
        self.advance(1);
        let name = self.name()?;
        let mut e = Element {
            name,
            line,
            ..Element::default()
        };
        loop {
            self.skip_space();
            let r = self.rest();
            if r.starts_with("/>") {
                self.advance(2);
                return Ok(e);
            }
            if r.starts_with('>') {
                self.advance(1);
                break;
            }
            if r.is_empty() {
                return Err(self.err(format!("<{}> never closes", e.name)));
            }
            let key = self.name()?;
            self.skip_space();
            if !self.rest().starts_with('=') {
                return Err(self.err(format!("attribute {key} has no value")));
            }
            self.advance(1);
            self.skip_space();
            let q = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return Err(self.err(format!("attribute {key}: value not quoted"))),
            };
            self.advance(1);
            let Some(end) = self.rest().find(q) else {
                return Err(self.err(format!("attribute {key}: value never ends")));
            };
            let raw = &self.rest()[..end];
            if raw.contains('<') {
                return Err(self.err(format!("attribute {key}: '<' in a value")));
            }
            let v = unescape(raw).map_err(|m| self.err(m))?;
            self.advance(end + 1);
            if e.attributes.iter().any(|(k, _)| *k == key) {
                return Err(self.err(format!("attribute {key} given twice")));
            }
            e.attributes.push((key, v));
        }
        // Content.
        loop {
            let r = self.rest();
            if r.is_empty() {
                return Err(self.err(format!("<{}> is never closed", e.name)));
            }
            if r.starts_with("</") {
                self.advance(2);
                let n = self.name()?;
                if n != e.name {
                    return Err(self.err(format!("</{n}> closes <{}>", e.name)));
                }
                self.skip_space();
                if !self.rest().starts_with('>') {
                    return Err(self.err(format!("</{n} is not closed with '>'")));
                }
                self.advance(1);
                return Ok(e);
            }
            if r.starts_with("<!--") {
                self.skip_past("-->", "comment")?;
                continue;
            }
            if r.starts_with("<![CDATA[") {
                self.advance(9);
                let Some(end) = self.rest().find("]]>") else {
                    return Err(self.err("CDATA section never ends"));
                };
                e.text.push_str(&self.rest()[..end]);
                self.advance(end + 3);
                continue;
            }
            if r.starts_with("<?") {
                self.skip_past("?>", "processing instruction")?;
                continue;
            }
            if r.starts_with('<') {
                let child = self.element(depth + 1)?;
                e.children.push(child);
                continue;
            }
            let end = r.find('<').unwrap_or(r.len());
            let t = unescape(&r[..end]).map_err(|m| self.err(m))?;
            e.text.push_str(&t);
            self.advance(end);
        }
    }
}

/// Replaces the five predefined entities and character references.
fn unescape(s: &str) -> Result<String, String> {
    if !s.contains('&') {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            return Err("'&' that starts no entity".into());
        };
        let ent = &rest[..end];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = ent.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = ent.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{ent};"))?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a document: its root element.
pub fn parse(text: &str) -> Result<Element, XmlError> {
    let mut r = Reader {
        s: text,
        pos: 0,
        line: 1,
        count: 0,
    };
    r.skip_misc()?;
    let root = r.element(0)?;
    r.skip_misc()?;
    if !r.rest().trim().is_empty() {
        return Err(r.err("content after the root element"));
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_attributes_text_and_entities() {
        let doc = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- c -->\n<a x=\"1 &amp; 2\" y='&lt;'>\n  <b>t&#65;&#x42;</b><b/>\n  <ns:c/>\n</a>\n";
        let a = parse(doc).unwrap();
        assert_eq!(a.name, "a");
        assert_eq!(a.attr("x"), Some("1 & 2"));
        assert_eq!(a.attr("y"), Some("<"));
        assert_eq!(a.all("b").count(), 2);
        assert_eq!(a.first("b").unwrap().text, "tAB");
        assert_eq!(a.first("b").unwrap().line, 4);
        assert_eq!(a.first("c").unwrap().name, "ns:c");
    }

    #[test]
    fn refuses_what_is_not_well_formed() {
        for bad in [
            "<a>",
            "<a></b>",
            "<a x=1/>",
            "<a x=\"1\" x=\"2\"/>",
            "<a>&bogus;</a>",
            "<a/><b/>",
            "",
            "<!DOCTYPE a [<!ENTITY e \"x\">]><a/>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let e = parse("<a>\n\n<b></c></a>").unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn escapes_round_trip() {
        let s = "a<b>&\"c'\u{1}";
        let doc = format!("<x v=\"{}\">{}</x>", escape(s), escape(s));
        let e = parse(&doc).unwrap();
        assert_eq!(e.attr("v"), Some("a<b>&\"c'"));
        assert_eq!(e.text, "a<b>&\"c'");
    }

    #[test]
    fn utf16_with_a_byte_order_mark() {
        let text = "<?xml version=\"1.0\" encoding=\"utf-16\"?><S A=\"\u{e9}\"/>";
        let mut le = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode(&le).unwrap(), text);
        let mut be = vec![0xFE, 0xFF];
        for u in text.encode_utf16() {
            be.extend_from_slice(&u.to_be_bytes());
        }
        assert_eq!(decode(&be).unwrap(), text);
        assert_eq!(
            parse(&decode(&le).unwrap()).unwrap().attr("A"),
            Some("\u{e9}")
        );
        assert!(decode(&[0xFF, 0xFE, 0x41]).is_err());
        assert!(decode(&[0xC3, 0x28]).is_err());
    }
}
