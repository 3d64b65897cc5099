//! The Flash Media Manifest (F4M 1.0, namespace `http://ns.adobe.com/f4m/1.0`): written for
//! `manifest.f4m`, read back by `mist analyse`.
//!
//! ```xml
//! <manifest xmlns="http://ns.adobe.com/f4m/1.0">
//!   <id>NAME</id> <mimeType>video/mp4</mimeType> <streamType>recorded|live</streamType>
//!   <deliveryType>streaming</deliveryType> <duration>SECONDS</duration>   (files)
//!   <bootstrapInfo profile="named" id="bootID">BASE64</bootstrapInfo>      (files: inline)
//!   <bootstrapInfo profile="named" id="bootID" url="ID.abst"/>             (live: by URL)
//!   <media streamId="ID" url="ID-" bitrate="KBPS" bootstrapInfoId="bootID" width=".." height="..">
//!     <metadata>BASE64 of the AMF0 onMetaData</metadata>
//!   </media>
//! </manifest>
//! ```
//! A player asks for `ID-` + `Seg1-FragN`. The `metadata` is what yt-dlp writes as the
//! script tag of the FLV it joins the fragments into.

use crate::dtsc::{Codec, Meta, TrackKind};
use crate::formats::flv::amf0::Value;
use crate::formats::flv::body;
use crate::package::variant::{resolution, Variant};
use crate::package::xml::{self, escape, Element};

use super::bootstrap_name;

/// The F4M 1.0 namespace.
pub const NS_1: &str = "http://ns.adobe.com/f4m/1.0";
/// The F4M 2.0 namespace (read, not written).
pub const NS_2: &str = "http://ns.adobe.com/f4m/2.0";

/// Where a variant's bootstrap is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bootstrap {
    /// Inside the manifest (base64 of this `abst`).
    Inline(Vec<u8>),
    /// At `ID.abst` beside the manifest.
    Url,
}

/// One `<media>` of the manifest.
#[derive(Clone, Debug)]
pub struct Media {
    /// The variant.
    pub variant: Variant,
    /// `bitrate` in kbit/s.
    pub bitrate_kbps: u64,
    /// `width`, `height`.
    pub size: Option<(u32, u32)>,
    /// The AMF0 `onMetaData` body.
    pub metadata: Vec<u8>,
    /// Its bootstrap.
    pub bootstrap: Bootstrap,
}

/// The manifest of a stream called `id`.
pub fn manifest(id: &str, live: bool, duration_ms: Option<i64>, media: &[Media]) -> String {
    let audio_only = media.iter().all(|m| m.size.is_none());
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    s.push_str(&format!("<manifest xmlns=\"{NS_1}\">\n"));
    s.push_str(&format!("  <id>{}</id>\n", escape(id)));
    s.push_str(&format!(
        "  <mimeType>{}</mimeType>\n",
        if audio_only { "audio/mp4" } else { "video/mp4" }
    ));
    s.push_str(&format!(
        "  <streamType>{}</streamType>\n",
        if live { "live" } else { "recorded" }
    ));
    s.push_str("  <deliveryType>streaming</deliveryType>\n");
    if let (false, Some(d)) = (live, duration_ms) {
        s.push_str(&format!(
            "  <duration>{}.{:03}</duration>\n",
            d / 1000,
            d % 1000
        ));
    }
    for m in media {
        let name = &m.variant.name;
        match &m.bootstrap {
            Bootstrap::Inline(abst) => s.push_str(&format!(
                "  <bootstrapInfo profile=\"named\" id=\"boot{name}\">{}</bootstrapInfo>\n",
                base64_encode(abst)
            )),
            Bootstrap::Url => s.push_str(&format!(
                "  <bootstrapInfo profile=\"named\" id=\"boot{name}\" url=\"{}\"/>\n",
                escape(&bootstrap_name(name))
            )),
        }
        s.push_str(&format!(
            "  <media streamId=\"{name}\" url=\"{name}-\" bitrate=\"{}\" bootstrapInfoId=\"boot{name}\"",
            m.bitrate_kbps
        ));
        if let Some((w, h)) = m.size {
            s.push_str(&format!(" width=\"{w}\" height=\"{h}\""));
        }
        s.push_str(">\n");
        s.push_str(&format!(
            "    <metadata>{}</metadata>\n",
            base64_encode(&m.metadata)
        ));
        s.push_str("  </media>\n");
    }
    s.push_str("</manifest>\n");
    s
}

/// The AMF0 `onMetaData` of a variant's tracks (`meta` holds them).
pub fn metadata(meta: &Meta, variant: &Variant, duration_ms: Option<i64>) -> Vec<u8> {
    let mut p: Vec<(String, Value)> = Vec::new();
    let num = |v: f64| Value::Number(v);
    if let Some(d) = duration_ms {
        p.push(("duration".into(), num(d as f64 / 1000.0)));
    }
    for id in &variant.tracks {
        let Some(t) = meta.track(*id) else { continue };
        match t.kind {
            TrackKind::Video => {
                if let Some((w, h)) = resolution(t) {
                    p.push(("width".into(), num(f64::from(w))));
                    p.push(("height".into(), num(f64::from(h))));
                }
                if let Some(v) = t.video().filter(|v| v.fpks > 0) {
                    p.push(("framerate".into(), num(f64::from(v.fpks) / 1000.0)));
                }
                if t.codec == Codec::H264 {
                    p.push(("videocodecid".into(), num(7.0)));
                }
            }
            TrackKind::Audio => {
                if let Some(flags) = body::audio_flags(t) {
                    p.push(("audiocodecid".into(), num(f64::from(flags >> 4))));
                }
                if let Some(a) = t.audio() {
                    p.push(("audiosamplerate".into(), num(f64::from(a.rate))));
                    p.push(("audiosamplesize".into(), num(16.0)));
                    p.push(("stereo".into(), Value::Boolean(a.channels >= 2)));
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    Value::String("onMetaData".into()).write(&mut out);
    Value::EcmaArray(p).write(&mut out);
    out
}

/// A `<bootstrapInfo>` read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapInfo {
    /// `id`.
    pub id: Option<String>,
    /// `url`.
    pub url: Option<String>,
    /// The inline bootstrap, decoded.
    pub inline: Option<Vec<u8>>,
    /// `profile`.
    pub profile: Option<String>,
    /// Line in the manifest.
    pub line: usize,
}

/// A `<media>` read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaInfo {
    /// `url`.
    pub url: String,
    /// `bitrate` (kbit/s).
    pub bitrate: Option<u64>,
    /// `width`.
    pub width: Option<u32>,
    /// `height`.
    pub height: Option<u32>,
    /// `bootstrapInfoId`.
    pub bootstrap_id: Option<String>,
    /// `<metadata>`, decoded.
    pub metadata: Option<Vec<u8>>,
    /// Line in the manifest.
    pub line: usize,
}

/// A manifest read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct F4m {
    /// `<id>`.
    pub id: Option<String>,
    /// `<streamType>`.
    pub stream_type: Option<String>,
    /// `<deliveryType>`.
    pub delivery_type: Option<String>,
    /// `<mimeType>`.
    pub mime_type: Option<String>,
    /// `<duration>` in ms.
    pub duration_ms: Option<i64>,
    /// `<baseURL>`.
    pub base_url: Option<String>,
    /// Bootstraps.
    pub bootstraps: Vec<BootstrapInfo>,
    /// Media.
    pub media: Vec<MediaInfo>,
}

impl F4m {
    /// The bootstrap `m` refers to (by `bootstrapInfoId`, else the only one).
    pub fn bootstrap_of(&self, m: &MediaInfo) -> Option<&BootstrapInfo> {
        match &m.bootstrap_id {
            Some(id) => self.bootstraps.iter().find(|b| b.id.as_deref() == Some(id)),
            None if self.bootstraps.len() == 1 => self.bootstraps.first(),
            None => None,
        }
    }

    /// True for a live manifest.
    pub fn live(&self) -> bool {
        self.stream_type.as_deref() == Some("live")
    }
}

/// A finding about a manifest: the line, and whether it breaks the spec (error) or only
/// something players rely on (warning).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Line (0: the whole document).
    pub line: usize,
    /// An error (else a warning).
    pub error: bool,
    /// What.
    pub message: String,
}

fn problem(line: usize, error: bool, message: impl Into<String>) -> Problem {
    Problem {
        line,
        error,
        message: message.into(),
    }
}

/// Reads a manifest; `None` when it is not F4M at all.
pub fn parse(bytes: &[u8]) -> (Option<F4m>, Vec<Problem>) {
    let mut problems = Vec::new();
    let text = match xml::decode(bytes) {
        Ok(t) => t,
        Err(e) => return (None, vec![problem(0, true, e.to_string())]),
    };
    let root = match xml::parse(&text) {
        Ok(r) => r,
        Err(e) => return (None, vec![problem(e.line, true, e.message)]),
    };
    if root.local_name() != "manifest" {
        return (
            None,
            vec![problem(
                root.line,
                true,
                format!("root element <{}> is not <manifest>", root.name),
            )],
        );
    }
    match root.attr("xmlns") {
        Some(NS_1) | Some(NS_2) => {}
        other => problems.push(problem(
            root.line,
            true,
            format!("namespace {other:?} is not F4M's ({NS_1})"),
        )),
    }
    let text_of = |name: &str| root.first(name).map(|e| e.text.trim().to_string());
    let mut m = F4m {
        id: text_of("id"),
        stream_type: text_of("streamType"),
        delivery_type: text_of("deliveryType"),
        mime_type: text_of("mimeType"),
        base_url: text_of("baseURL"),
        ..F4m::default()
    };
    if let Some(d) = root.first("duration") {
        match d.text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => m.duration_ms = Some((v * 1000.0).round() as i64),
            _ => problems.push(problem(
                d.line,
                true,
                format!("<duration> {:?} is not a number of seconds", d.text.trim()),
            )),
        }
    }
    match m.stream_type.as_deref() {
        Some("live" | "recorded" | "liveOrRecorded") | None => {}
        Some(o) => problems.push(problem(
            0,
            true,
            format!("<streamType> {o:?} is not live, recorded or liveOrRecorded"),
        )),
    }
    if m.stream_type.as_deref() == Some("recorded") && m.duration_ms.is_none() {
        problems.push(problem(0, false, "a recorded stream without <duration>"));
    }
    for b in root.all("bootstrapInfo") {
        let inline_text: String = b.text.split_whitespace().collect();
        let inline = if inline_text.is_empty() {
            None
        } else {
            match base64_decode(&inline_text) {
                Some(v) => Some(v),
                None => {
                    problems.push(problem(
                        b.line,
                        true,
                        "<bootstrapInfo> content is not base64",
                    ));
                    None
                }
            }
        };
        if b.attr("url").is_none() && inline.is_none() {
            problems.push(problem(
                b.line,
                true,
                "<bootstrapInfo> with neither a url nor inline content",
            ));
        }
        m.bootstraps.push(BootstrapInfo {
            id: b.attr("id").map(String::from),
            url: b.attr("url").map(String::from),
            inline,
            profile: b.attr("profile").map(String::from),
            line: b.line,
        });
    }
    for e in root.all("media") {
        let Some(url) = e.attr("url").or_else(|| e.attr("href")) else {
            problems.push(problem(e.line, true, "<media> without url"));
            continue;
        };
        let num = |k: &str, problems: &mut Vec<Problem>| -> Option<u64> {
            let v = e.attr(k)?;
            match v.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(problem(
                        e.line,
                        true,
                        format!("<media> {k}={v:?} is not a whole number"),
                    ));
                    None
                }
            }
        };
        let bitrate = num("bitrate", &mut problems);
        let width = num("width", &mut problems).and_then(|v| u32::try_from(v).ok());
        let height = num("height", &mut problems).and_then(|v| u32::try_from(v).ok());
        let metadata = e.first("metadata").and_then(|md| {
            let t: String = md.text.split_whitespace().collect();
            if t.is_empty() {
                return None;
            }
            let d = base64_decode(&t);
            if d.is_none() {
                problems.push(problem(md.line, true, "<metadata> is not base64"));
            }
            d
        });
        let mi = MediaInfo {
            url: url.to_string(),
            bitrate,
            width,
            height,
            bootstrap_id: e.attr("bootstrapInfoId").map(String::from),
            metadata,
            line: e.line,
        };
        if m.bootstrap_of(&mi).is_none() {
            problems.push(problem(
                e.line,
                true,
                format!(
                    "<media url={url:?}> refers to bootstrap {:?}, which the manifest does not hold",
                    mi.bootstrap_id
                ),
            ));
        }
        if bitrate.is_none() && root.all("media").count() > 1 {
            problems.push(problem(
                e.line,
                false,
                "<media> without bitrate among several",
            ));
        }
        m.media.push(mi);
    }
    if m.media.is_empty() {
        problems.push(problem(0, true, "no <media>"));
    }
    (Some(m), problems)
}

/// The element tree of `bytes`, for callers that want more than [`parse`] keeps.
pub fn tree(bytes: &[u8]) -> Option<Element> {
    xml::parse(&xml::decode(bytes).ok()?).ok()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 (RFC 4648 §4, with padding).
pub fn base64_encode(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= c.len() {
                s.push(B64[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Decodes base64 with padding (whitespace already removed); `None` when it is not.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 4 != 0 {
        return None;
    }
    let val = |c: u8| B64.iter().position(|&x| x == c).map(|v| v as u32);
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (i, q) in b.chunks(4).enumerate() {
        let last = i + 1 == b.len() / 4;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for (k, &c) in q.iter().enumerate() {
            let v = if k >= 4 - pad { 0 } else { val(c)? };
            n = n << 6 | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::TrackId;

    #[test]
    fn base64_as_rfc_4648_section_10() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw.as_bytes()), enc);
            assert_eq!(base64_decode(enc).as_deref(), Some(raw.as_bytes()));
        }
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9*", "Zm9v="] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
        // MistServer's fixed metadata string decodes to an onMetaData with an empty ECMA array.
        assert_eq!(
            base64_decode("AgAKb25NZXRhRGF0YQMAAAk=").unwrap(),
            b"\x02\x00\x0aonMetaData\x03\x00\x00\x09"
        );
    }

    #[test]
    fn manifest_text_and_read_back() {
        let v = Variant {
            name: "1".into(),
            tracks: vec![TrackId(1), TrackId(2)],
        };
        let text = manifest(
            "a&b.mp4",
            false,
            Some(4011),
            &[Media {
                variant: v.clone(),
                bitrate_kbps: 812,
                size: Some((320, 240)),
                metadata: vec![1, 2, 3],
                bootstrap: Bootstrap::Inline(vec![0, 0, 0, 8, b'a', b'b', b's', b't']),
            }],
        );
        let want = concat!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
            "<manifest xmlns=\"http://ns.adobe.com/f4m/1.0\">\n",
            "  <id>a&amp;b.mp4</id>\n",
            "  <mimeType>video/mp4</mimeType>\n",
            "  <streamType>recorded</streamType>\n",
            "  <deliveryType>streaming</deliveryType>\n",
            "  <duration>4.011</duration>\n",
            "  <bootstrapInfo profile=\"named\" id=\"boot1\">AAAACGFic3Q=</bootstrapInfo>\n",
            "  <media streamId=\"1\" url=\"1-\" bitrate=\"812\" bootstrapInfoId=\"boot1\" width=\"320\" height=\"240\">\n",
            "    <metadata>AQID</metadata>\n",
            "  </media>\n",
            "</manifest>\n",
        );
        assert_eq!(text, want);
        let (m, problems) = parse(text.as_bytes());
        assert!(problems.is_empty(), "{problems:?}");
        let m = m.unwrap();
        assert_eq!(m.id.as_deref(), Some("a&b.mp4"));
        assert_eq!(m.duration_ms, Some(4011));
        assert!(!m.live());
        assert_eq!(m.media[0].url, "1-");
        assert_eq!(m.media[0].bitrate, Some(812));
        assert_eq!(m.media[0].metadata.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(
            m.bootstrap_of(&m.media[0]).unwrap().inline.as_deref(),
            Some(&b"\0\0\0\x08abst"[..])
        );
        // Live: the bootstrap by URL, no duration.
        let live = manifest(
            "s",
            true,
            None,
            &[Media {
                variant: v,
                bitrate_kbps: 1,
                size: None,
                metadata: vec![],
                bootstrap: Bootstrap::Url,
            }],
        );
        assert!(live.contains("<bootstrapInfo profile=\"named\" id=\"boot1\" url=\"1.abst\"/>"));
        assert!(live.contains("<streamType>live</streamType>"));
        assert!(live.contains("<mimeType>audio/mp4</mimeType>"));
        assert!(!live.contains("<duration>"));
    }

    #[test]
    fn broken_manifests_are_reported() {
        let (m, p) = parse(b"<manifest xmlns=\"http://ns.adobe.com/f4m/1.0\"><media url=\"x\" bootstrapInfoId=\"nope\"/></manifest>");
        assert!(m.is_some());
        assert!(
            p.iter().any(|p| p.error && p.message.contains("nope")),
            "{p:?}"
        );
        let (m, _) = parse(b"<SmoothStreamingMedia/>");
        assert!(m.is_none());
        let (_, p) = parse(b"<manifest xmlns=\"http://ns.adobe.com/f4m/1.0\"><bootstrapInfo id=\"b\">!!!!</bootstrapInfo></manifest>");
        assert!(p.iter().any(|p| p.message.contains("base64")), "{p:?}");
        assert!(p.iter().any(|p| p.message.contains("no <media>")), "{p:?}");
    }
}
