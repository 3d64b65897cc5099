//! ID3v2 tag frames (id3.org ID3v2.2.0, 2.3.0 and 2.4.0 §4), read for `analyse`: frame id,
//! size, and the text of text frames. Unsynchronisation, compression and encryption are
//! shown as flags, not undone.

use crate::codec::mp3::Id3v2Header;

/// At most this many frames of one tag are listed.
pub const MAX_FRAMES: usize = 256;

/// One frame of an ID3v2 tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Id3Frame {
    /// Absolute offset of the frame header.
    pub offset: u64,
    /// Frame id (`TIT2`, `TPE1`, `APIC` ...; three letters in ID3v2.2).
    pub id: String,
    /// Body size in bytes.
    pub size: u32,
    /// The text of a text frame (`T***` except `TXXX`), decoded.
    pub text: Option<String>,
}

fn decode_text(body: &[u8]) -> Option<String> {
    let (&enc, rest) = body.split_first()?;
    let s = match enc {
        0 => rest.iter().map(|&b| char::from(b)).collect(),
        3 => String::from_utf8_lossy(rest).into_owned(),
        1 | 2 => {
            let mut units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            let mut le = false;
            if enc == 1 {
                match units.first() {
                    Some(0xfffe) => {
                        le = true;
                        units.remove(0);
                    }
                    Some(0xfeff) => {
                        units.remove(0);
                    }
                    _ => {}
                }
            }
            if le {
                for u in &mut units {
                    *u = u.swap_bytes();
                }
            }
            String::from_utf16_lossy(&units)
        }
        _ => return None,
    };
    Some(s.trim_end_matches('\0').replace('\0', " / "))
}

/// The frames of a whole tag (`tag` starts with the 10-byte header); `offset` is the tag's
/// absolute offset. Stops quietly at padding or at a frame that does not fit.
pub fn frames(header: &Id3v2Header, tag: &[u8], offset: u64) -> Vec<Id3Frame> {
    let mut out = Vec::new();
    let end = (10 + header.size as usize).min(tag.len());
    let mut at = 10usize;
    // An extended header (flag 0x40) is skipped by its size.
    if header.flags & 0x40 != 0 && header.major >= 3 {
        if let Some(b) = tag.get(10..14) {
            let size = if header.major == 4 {
                b.iter()
                    .fold(0usize, |a, &x| (a << 7) | usize::from(x & 0x7f))
            } else {
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize + 4
            };
            at += size;
        }
    }
    let (id_len, head_len) = if header.major == 2 { (3, 6) } else { (4, 10) };
    while out.len() < MAX_FRAMES {
        let Some(h) = tag.get(at..at + head_len).filter(|_| at + head_len <= end) else {
            break;
        };
        if h[0] == 0 {
            break;
        }
        let id = &h[..id_len];
        if !id
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            break;
        }
        let size = match header.major {
            2 => u32::from_be_bytes([0, h[3], h[4], h[5]]),
            3 => u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            _ => h[4..8]
                .iter()
                .fold(0u32, |a, &x| (a << 7) | u32::from(x & 0x7f)),
        };
        let body_at = at + head_len;
        let Some(body) = tag.get(body_at..body_at + size as usize) else {
            break;
        };
        let id = String::from_utf8_lossy(id).into_owned();
        let text = (id.starts_with('T') && id != "TXXX" && id != "TXX")
            .then(|| decode_text(body))
            .flatten();
        out.push(Id3Frame {
            offset: offset + at as u64,
            id,
            size,
            text,
        });
        at = body_at + size as usize;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_frames_of_cbr_id3() {
        // tests/fixtures/cbr_id3.mp3 starts with a 60-byte ID3v2.4 tag (fixtures README):
        // TIT2 "mist fixture" (14-byte body: encoding 3 + text + NUL) and TPE1 "mist".
        let data = include_bytes!("../../../tests/fixtures/cbr_id3.mp3");
        let h = Id3v2Header::parse(data, 0).unwrap().unwrap();
        assert_eq!((h.major, h.total_len()), (4, 60));
        let f = frames(&h, &data[..60], 0);
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].id.as_str(), f[0].size), ("TIT2", 14));
        assert_eq!(f[0].text.as_deref(), Some("mist fixture"));
        assert_eq!(f[1].id, "TPE1");
        assert_eq!(f[1].text.as_deref(), Some("mist"));
        assert_eq!(f[1].offset, 34);
    }
}
