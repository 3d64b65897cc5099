//! Program-specific information (H.222.0 §2.4.4): the long section syntax with its CRC-32,
//! the program association table (PAT, PID 0) and program map tables (PMT), with the
//! descriptors mist uses (ISO 639 language 0x0A, registration 0x05).
//!
//! ```text
//! table_id 8 | section_syntax 1 | '0' 1 | reserved 2 | section_length 12
//! | table_id_extension 16 | reserved 2 | version 5 | current_next 1 | section_number 8
//! | last_section_number 8 | body ... | CRC_32 32
//! ```

use crate::formats::error::{FormatError, Problem};

use super::FORMAT;

/// table_id of the PAT.
pub const TABLE_PAT: u8 = 0x00;
/// table_id of a PMT.
pub const TABLE_PMT: u8 = 0x02;
/// Largest section_length of a PAT/PMT section (§2.4.4.3: 1021).
pub const MAX_SECTION_LENGTH: usize = 1021;
/// Most programs a PAT may list that mist keeps.
pub const MAX_PROGRAMS: usize = 256;
/// Most elementary streams per PMT that mist keeps.
pub const MAX_STREAMS: usize = 64;
/// Descriptor tag: registration (format_identifier, e.g. `AC-3`, `HEVC`).
pub const DESC_REGISTRATION: u8 = 0x05;
/// Descriptor tag: ISO 639 language.
pub const DESC_LANGUAGE: u8 = 0x0A;

/// CRC-32/MPEG-2: polynomial 0x04C11DB7, initial 0xFFFFFFFF, no reflection, no final XOR.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ b) as usize];
    }
    crc
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04C1_1DB7
            } else {
                c << 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// A long-syntax section, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section<'a> {
    /// table_id.
    pub table_id: u8,
    /// table_id_extension (transport_stream_id for a PAT, program_number for a PMT).
    pub id_ext: u16,
    /// version_number.
    pub version: u8,
    /// current_next_indicator.
    pub current: bool,
    /// section_number.
    pub number: u8,
    /// last_section_number.
    pub last: u8,
    /// The bytes between the header and the CRC.
    pub body: &'a [u8],
    /// True when the CRC matched.
    pub crc_ok: bool,
}

/// Total bytes (3 + section_length) of the section at the start of `b`, once 3 bytes are known.
pub fn section_total(b: &[u8]) -> Option<usize> {
    let len = usize::from(*b.get(1)? & 0x0F) << 8 | usize::from(*b.get(2)?);
    Some(3 + len)
}

/// Parses one complete section at the start of `b` (at absolute offset `at`). A CRC mismatch
/// is not an error here: [`Section::crc_ok`] says it, so callers report and skip.
pub fn parse_section(b: &[u8], at: u64) -> Result<Section<'_>, FormatError> {
    let total = section_total(b).ok_or_else(|| {
        FormatError::new(
            FORMAT,
            at,
            Problem::Truncated {
                what: "section header",
                need: 3usize.saturating_sub(b.len()) as u64,
            },
        )
    })?;
    if total - 3 > MAX_SECTION_LENGTH || total < 3 + 9 {
        return Err(FormatError::new(
            FORMAT,
            at + 1,
            Problem::BadValue {
                field: "section_length",
                value: (total - 3) as u64,
            },
        ));
    }
    let Some(s) = b.get(..total) else {
        return Err(FormatError::new(
            FORMAT,
            at,
            Problem::Truncated {
                what: "section",
                need: (total - b.len()) as u64,
            },
        ));
    };
    if s[1] & 0x80 == 0 {
        return Err(FormatError::invalid(
            FORMAT,
            at + 1,
            "section_syntax_indicator is 0 in a PAT/PMT",
        ));
    }
    let crc = u32::from_be_bytes([s[total - 4], s[total - 3], s[total - 2], s[total - 1]]);
    Ok(Section {
        table_id: s[0],
        id_ext: u16::from_be_bytes([s[3], s[4]]),
        version: (s[5] >> 1) & 0x1F,
        current: s[5] & 1 != 0,
        number: s[6],
        last: s[7],
        body: &s[8..total - 4],
        crc_ok: crc32(&s[..total - 4]) == crc,
    })
}

/// A program association table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pat {
    /// transport_stream_id.
    pub ts_id: u16,
    /// version_number.
    pub version: u8,
    /// `(program_number, PMT PID)`; program 0 (the network PID) is left out.
    pub programs: Vec<(u16, u16)>,
}

impl Pat {
    /// Reads a PAT from its section.
    pub fn parse(s: &Section<'_>, at: u64) -> Result<Pat, FormatError> {
        if s.table_id != TABLE_PAT {
            return Err(bad(at, "table_id", s.table_id));
        }
        if s.body.len() % 4 != 0 {
            return Err(FormatError::invalid(
                FORMAT,
                at,
                "PAT body is not a whole number of 4-byte entries",
            ));
        }
        let mut programs = Vec::new();
        for e in s.body.chunks_exact(4) {
            let num = u16::from_be_bytes([e[0], e[1]]);
            let pid = u16::from(e[2] & 0x1F) << 8 | u16::from(e[3]);
            if num != 0 && programs.len() < MAX_PROGRAMS {
                programs.push((num, pid));
            }
        }
        Ok(Pat {
            ts_id: s.id_ext,
            version: s.version,
            programs,
        })
    }

    /// The whole section, CRC included.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.programs.len() * 4);
        for (num, pid) in &self.programs {
            body.extend_from_slice(&num.to_be_bytes());
            body.extend_from_slice(&(0xE000 | pid).to_be_bytes());
        }
        encode_section(TABLE_PAT, self.ts_id, self.version, &body)
    }
}

/// A descriptor: tag and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// descriptor_tag.
    pub tag: u8,
    /// The descriptor's bytes after the length.
    pub data: Vec<u8>,
}

impl Descriptor {
    /// The ISO 639 language code of a language descriptor (first entry).
    pub fn language(&self) -> Option<String> {
        if self.tag != DESC_LANGUAGE {
            return None;
        }
        let code = self.data.get(..3)?;
        if !code.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        Some(String::from_utf8_lossy(code).to_ascii_lowercase())
    }

    /// The format_identifier of a registration descriptor.
    pub fn registration(&self) -> Option<[u8; 4]> {
        if self.tag != DESC_REGISTRATION {
            return None;
        }
        self.data.get(..4)?.try_into().ok()
    }

    /// A language descriptor (audio_type 0, undefined).
    pub fn language_of(code: &str) -> Descriptor {
        let mut data: Vec<u8> = code.bytes().take(3).collect();
        data.resize(3, b' ');
        data.push(0);
        Descriptor {
            tag: DESC_LANGUAGE,
            data,
        }
    }
}

/// Reads a descriptor loop.
pub fn parse_descriptors(mut b: &[u8], at: u64) -> Result<Vec<Descriptor>, FormatError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let [tag, len, rest @ ..] = b else {
            return Err(FormatError::new(
                FORMAT,
                at,
                Problem::Truncated {
                    what: "descriptor",
                    need: 1,
                },
            ));
        };
        let Some(data) = rest.get(..usize::from(*len)) else {
            return Err(FormatError::new(
                FORMAT,
                at,
                Problem::Truncated {
                    what: "descriptor",
                    need: (usize::from(*len) - rest.len()) as u64,
                },
            ));
        };
        out.push(Descriptor {
            tag: *tag,
            data: data.to_vec(),
        });
        b = &rest[usize::from(*len)..];
    }
    Ok(out)
}

fn encode_descriptors(d: &[Descriptor], out: &mut Vec<u8>) {
    for x in d {
        out.push(x.tag);
        out.push(x.data.len() as u8);
        out.extend_from_slice(&x.data);
    }
}

/// One elementary stream of a PMT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PmtStream {
    /// stream_type.
    pub stream_type: u8,
    /// elementary_PID.
    pub pid: u16,
    /// ES_info descriptors.
    pub descriptors: Vec<Descriptor>,
}

impl PmtStream {
    /// The ISO 639 language, when a descriptor gives one other than `und`.
    pub fn language(&self) -> Option<String> {
        self.descriptors
            .iter()
            .find_map(Descriptor::language)
            .filter(|l| l != "und")
    }

    /// The registration format_identifier, when present.
    pub fn registration(&self) -> Option<[u8; 4]> {
        self.descriptors.iter().find_map(Descriptor::registration)
    }
}

/// A program map table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pmt {
    /// program_number.
    pub program: u16,
    /// version_number.
    pub version: u8,
    /// PCR_PID.
    pub pcr_pid: u16,
    /// program_info descriptors.
    pub descriptors: Vec<Descriptor>,
    /// Elementary streams, in table order.
    pub streams: Vec<PmtStream>,
}

impl Pmt {
    /// Reads a PMT from its section.
    pub fn parse(s: &Section<'_>, at: u64) -> Result<Pmt, FormatError> {
        if s.table_id != TABLE_PMT {
            return Err(bad(at, "table_id", s.table_id));
        }
        let b = s.body;
        let short = |need: usize| {
            FormatError::new(
                FORMAT,
                at,
                Problem::Truncated {
                    what: "PMT",
                    need: need as u64,
                },
            )
        };
        let [p0, p1, i0, i1, rest @ ..] = b else {
            return Err(short(4 - b.len().min(4)));
        };
        let pcr_pid = u16::from(p0 & 0x1F) << 8 | u16::from(*p1);
        let info_len = usize::from(i0 & 0x0F) << 8 | usize::from(*i1);
        let info = rest
            .get(..info_len)
            .ok_or_else(|| short(info_len - rest.len()))?;
        let descriptors = parse_descriptors(info, at + 12)?;
        let mut es = &rest[info_len..];
        let mut streams = Vec::new();
        while !es.is_empty() {
            let [st, a, b2, l0, l1, r @ ..] = es else {
                return Err(short(5 - es.len()));
            };
            let len = usize::from(l0 & 0x0F) << 8 | usize::from(*l1);
            let d = r.get(..len).ok_or_else(|| short(len - r.len()))?;
            if streams.len() >= MAX_STREAMS {
                return Err(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Limit {
                        what: "elementary streams in a PMT",
                        limit: MAX_STREAMS as u64,
                    },
                ));
            }
            streams.push(PmtStream {
                stream_type: *st,
                pid: u16::from(a & 0x1F) << 8 | u16::from(*b2),
                descriptors: parse_descriptors(d, at)?,
            });
            es = &r[len..];
        }
        Ok(Pmt {
            program: s.id_ext,
            version: s.version,
            pcr_pid,
            descriptors,
            streams,
        })
    }

    /// The whole section, CRC included.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(0xE000 | self.pcr_pid).to_be_bytes());
        let mut info = Vec::new();
        encode_descriptors(&self.descriptors, &mut info);
        body.extend_from_slice(&(0xF000 | info.len() as u16).to_be_bytes());
        body.extend_from_slice(&info);
        for s in &self.streams {
            body.push(s.stream_type);
            body.extend_from_slice(&(0xE000 | s.pid).to_be_bytes());
            let mut d = Vec::new();
            encode_descriptors(&s.descriptors, &mut d);
            body.extend_from_slice(&(0xF000 | d.len() as u16).to_be_bytes());
            body.extend_from_slice(&d);
        }
        encode_section(TABLE_PMT, self.program, self.version, &body)
    }
}

fn bad(at: u64, field: &'static str, v: u8) -> FormatError {
    FormatError::new(
        FORMAT,
        at,
        Problem::BadValue {
            field,
            value: u64::from(v),
        },
    )
}

/// A long-syntax section (one section, current) around `body`, CRC included.
pub fn encode_section(table_id: u8, id_ext: u16, version: u8, body: &[u8]) -> Vec<u8> {
    let len = 5 + body.len() + 4;
    let mut s = Vec::with_capacity(3 + len);
    s.push(table_id);
    s.extend_from_slice(&(0xB000 | len as u16).to_be_bytes());
    s.extend_from_slice(&id_ext.to_be_bytes());
    s.push(0xC1 | (version & 0x1F) << 1);
    s.push(0);
    s.push(0);
    s.extend_from_slice(body);
    let crc = crc32(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        // CRC-32/MPEG-2 catalogue check value for "123456789" (reveng.sourceforge.io).
        assert_eq!(crc32(b"123456789"), 0x0376_E6E7);
    }

    #[test]
    fn pat_bytes_hand_computed() {
        // PAT of ts id 1, program 1 on PID 0x1000, version 0, as FFmpeg's muxer wrote it at
        // byte 193 of tests/fixtures/h264_aac.ts (read with xxd), fields checked by hand:
        // 00 | B0 0D | 00 01 | C1 | 00 00 | 00 01 F0 00 | CRC.
        let pat = Pat {
            ts_id: 1,
            version: 0,
            programs: vec![(1, 0x1000)],
        };
        let b = pat.encode();
        assert_eq!(
            b,
            [
                0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00, 0x2A, 0xB1,
                0x04, 0xB2
            ]
        );
        let s = parse_section(&b, 0).unwrap();
        assert!(s.crc_ok);
        assert_eq!(Pat::parse(&s, 0).unwrap(), pat);
    }

    #[test]
    fn pmt_bytes_hand_computed() {
        // The PMT FFmpeg wrote at byte 381 of tests/fixtures/h264_aac.ts (xxd): program 1,
        // PCR PID 0x100, H.264 on 0x100 and AAC on 0x101, no descriptors.
        let want = [
            0x02, 0xB0, 0x17, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x00, 0xF0, 0x00, 0x1B, 0xE1,
            0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00, 0x2F, 0x44, 0xB9, 0x9B,
        ];
        let pmt = Pmt {
            program: 1,
            version: 0,
            pcr_pid: 0x100,
            descriptors: vec![],
            streams: vec![
                PmtStream {
                    stream_type: 0x1B,
                    pid: 0x100,
                    descriptors: vec![],
                },
                PmtStream {
                    stream_type: 0x0F,
                    pid: 0x101,
                    descriptors: vec![],
                },
            ],
        };
        assert_eq!(pmt.encode(), want);
        let s = parse_section(&want, 0).unwrap();
        assert!(s.crc_ok);
        assert_eq!(Pmt::parse(&s, 0).unwrap(), pmt);
    }

    #[test]
    fn pmt_round_trip_with_language() {
        let pmt = Pmt {
            program: 1,
            version: 3,
            pcr_pid: 0x100,
            descriptors: vec![],
            streams: vec![
                PmtStream {
                    stream_type: 0x1B,
                    pid: 0x100,
                    descriptors: vec![],
                },
                PmtStream {
                    stream_type: 0x0F,
                    pid: 0x101,
                    descriptors: vec![Descriptor::language_of("fra")],
                },
            ],
        };
        let b = pmt.encode();
        let s = parse_section(&b, 0).unwrap();
        assert!(s.crc_ok);
        let back = Pmt::parse(&s, 0).unwrap();
        assert_eq!(back, pmt);
        assert_eq!(back.streams[1].language().as_deref(), Some("fra"));
        let mut bad = b.clone();
        bad[14] ^= 1;
        assert!(!parse_section(&bad, 0).unwrap().crc_ok);
    }
}
