//! Transport stream packets (H.222.0 §2.4.3.2–2.4.3.5): the 4-byte header, the adaptation
//! field with its PCR, and packet-size detection (188-byte TS, 192-byte M2TS/BDAV).
//!
//! ```text
//! sync_byte 8 | TEI 1 | PUSI 1 | priority 1 | PID 13 | scrambling 2 | AFC 2 | CC 4
//! adaptation_field_length 8 | discontinuity 1 | random_access 1 | es_priority 1 | PCR_flag 1
//!   | OPCR_flag 1 | splicing_point 1 | private_data 1 | extension 1 | [PCR 48] [OPCR 48] ...
//! ```

use crate::formats::error::{FormatError, Problem};

use super::FORMAT;

/// Bytes in a transport stream packet.
pub const PACKET_SIZE: usize = 188;
/// Bytes in an M2TS (BDAV) unit: a 4-byte arrival timestamp, then a 188-byte packet.
pub const M2TS_SIZE: usize = 192;
/// The sync byte every packet starts with.
pub const SYNC: u8 = 0x47;
/// The null packet PID (stuffing).
pub const NULL_PID: u16 = 0x1FFF;
/// Bytes of payload a packet without adaptation field holds.
pub const MAX_PAYLOAD: usize = PACKET_SIZE - 4;
/// How many consecutive sync bytes at the packet stride make a position trustworthy.
pub const SYNC_RUN: usize = 3;

/// The 4-byte packet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// transport_error_indicator.
    pub tei: bool,
    /// payload_unit_start_indicator.
    pub pusi: bool,
    /// transport_priority.
    pub priority: bool,
    /// The 13-bit PID.
    pub pid: u16,
    /// transport_scrambling_control (0 = clear).
    pub scrambling: u8,
    /// An adaptation field follows the header.
    pub has_af: bool,
    /// A payload follows.
    pub has_payload: bool,
    /// continuity_counter.
    pub cc: u8,
}

/// The 27 MHz program clock reference: a 33-bit 90 kHz base and a 9-bit extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pcr {
    /// program_clock_reference_base (90 kHz, 33 bits).
    pub base: u64,
    /// program_clock_reference_extension (27 MHz remainder, 0..300).
    pub ext: u16,
}

impl Pcr {
    /// The PCR for a 90 kHz time (extension 0), wrapped to 33 bits.
    pub fn from_90k(t: i64) -> Pcr {
        Pcr {
            base: (t as u64) & ((1 << 33) - 1),
            ext: 0,
        }
    }

    /// The value in 27 MHz ticks.
    pub fn ticks_27mhz(self) -> u64 {
        self.base * 300 + u64::from(self.ext)
    }

    /// Reads the 6-byte field.
    pub fn parse(b: &[u8; 6]) -> Pcr {
        let base = u64::from(b[0]) << 25
            | u64::from(b[1]) << 17
            | u64::from(b[2]) << 9
            | u64::from(b[3]) << 1
            | u64::from(b[4] >> 7);
        let ext = u16::from(b[4] & 1) << 8 | u16::from(b[5]);
        Pcr { base, ext }
    }

    /// The 6-byte field (reserved bits set).
    pub fn encode(self) -> [u8; 6] {
        let b = self.base & ((1 << 33) - 1);
        [
            (b >> 25) as u8,
            (b >> 17) as u8,
            (b >> 9) as u8,
            (b >> 1) as u8,
            ((b & 1) << 7) as u8 | 0x7E | (self.ext >> 8) as u8 & 1,
            self.ext as u8,
        ]
    }
}

/// The fields of an adaptation field that mist reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdaptationField {
    /// adaptation_field_length (bytes after the length byte).
    pub length: u8,
    /// discontinuity_indicator.
    pub discontinuity: bool,
    /// random_access_indicator.
    pub random_access: bool,
    /// elementary_stream_priority_indicator.
    pub es_priority: bool,
    /// The PCR, when present.
    pub pcr: Option<Pcr>,
    /// The OPCR, when present.
    pub opcr: Option<Pcr>,
    /// splice_countdown, when present.
    pub splice_countdown: Option<i8>,
    /// Bytes of transport_private_data.
    pub private_len: u8,
}

/// One parsed packet; the payload is a range of the packet bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The header.
    pub header: Header,
    /// The adaptation field, when present.
    pub af: Option<AdaptationField>,
    /// Where the payload starts within the 188 bytes (188 = no payload).
    pub payload_start: usize,
}

/// Parses the header and adaptation field of the 188-byte packet `b`, which starts at
/// absolute offset `at`.
pub fn parse(b: &[u8], at: u64) -> Result<Packet, FormatError> {
    let Some(b) = b.get(..PACKET_SIZE) else {
        return Err(FormatError::new(
            FORMAT,
            at,
            Problem::Truncated {
                what: "transport packet",
                need: (PACKET_SIZE - b.len()) as u64,
            },
        ));
    };
    if b[0] != SYNC {
        return Err(FormatError::new(
            FORMAT,
            at,
            Problem::BadValue {
                field: "sync_byte",
                value: u64::from(b[0]),
            },
        ));
    }
    let header = Header {
        tei: b[1] & 0x80 != 0,
        pusi: b[1] & 0x40 != 0,
        priority: b[1] & 0x20 != 0,
        pid: u16::from(b[1] & 0x1F) << 8 | u16::from(b[2]),
        scrambling: b[3] >> 6,
        has_af: b[3] & 0x20 != 0,
        has_payload: b[3] & 0x10 != 0,
        cc: b[3] & 0x0F,
    };
    let mut payload_start = 4;
    let mut af = None;
    if header.has_af {
        let len = b[4];
        // With a payload the field is 0..=182 bytes; without one it fills the packet (183).
        let max = if header.has_payload { 182 } else { 183 };
        if usize::from(len) > max {
            return Err(FormatError::new(
                FORMAT,
                at + 4,
                Problem::BadValue {
                    field: "adaptation_field_length",
                    value: u64::from(len),
                },
            ));
        }
        af = Some(parse_af(&b[5..5 + usize::from(len)], len, at + 5)?);
        payload_start = 5 + usize::from(len);
    }
    if !header.has_payload {
        payload_start = PACKET_SIZE;
    }
    Ok(Packet {
        header,
        af,
        payload_start,
    })
}

fn parse_af(f: &[u8], length: u8, at: u64) -> Result<AdaptationField, FormatError> {
    let mut af = AdaptationField {
        length,
        ..AdaptationField::default()
    };
    let Some((&flags, mut rest)) = f.split_first() else {
        return Ok(af);
    };
    af.discontinuity = flags & 0x80 != 0;
    af.random_access = flags & 0x40 != 0;
    af.es_priority = flags & 0x20 != 0;
    let short = |field: &'static str, need: usize, have: usize| {
        FormatError::new(
            FORMAT,
            at,
            Problem::Truncated {
                what: field,
                need: (need - have) as u64,
            },
        )
    };
    if flags & 0x10 != 0 {
        let Some((p, r)) = rest.split_first_chunk::<6>() else {
            return Err(short("PCR", 6, rest.len()));
        };
        af.pcr = Some(Pcr::parse(p));
        rest = r;
    }
    if flags & 0x08 != 0 {
        let Some((p, r)) = rest.split_first_chunk::<6>() else {
            return Err(short("OPCR", 6, rest.len()));
        };
        af.opcr = Some(Pcr::parse(p));
        rest = r;
    }
    if flags & 0x04 != 0 {
        let Some((&c, r)) = rest.split_first() else {
            return Err(short("splice_countdown", 1, 0));
        };
        af.splice_countdown = Some(c as i8);
        rest = r;
    }
    if flags & 0x02 != 0 {
        let Some((&n, _)) = rest.split_first() else {
            return Err(short("transport_private_data_length", 1, 0));
        };
        af.private_len = n;
    }
    Ok(af)
}

/// What an adaptation field written by [`write`] carries.
#[derive(Clone, Copy, Debug, Default)]
pub struct AfWrite {
    /// PCR to carry.
    pub pcr: Option<Pcr>,
    /// random_access_indicator.
    pub random_access: bool,
    /// discontinuity_indicator.
    pub discontinuity: bool,
}

impl AfWrite {
    fn needed(&self) -> bool {
        self.pcr.is_some() || self.random_access || self.discontinuity
    }
    /// Bytes the field takes with no stuffing (length byte included), 0 when not needed.
    pub fn size(&self) -> usize {
        if self.needed() {
            2 + if self.pcr.is_some() { 6 } else { 0 }
        } else {
            0
        }
    }
}

/// Writes one 188-byte packet into `out`: header, adaptation field (with stuffing so the
/// payload fills the packet exactly), then `payload` (at most what fits; returns how many
/// payload bytes were taken).
pub fn write(
    out: &mut Vec<u8>,
    pid: u16,
    pusi: bool,
    cc: u8,
    af: AfWrite,
    payload: &[u8],
) -> usize {
    let room = MAX_PAYLOAD - af.size();
    let take = payload.len().min(room);
    let stuff = room - take;
    let has_af = af.needed() || stuff > 0;
    let has_payload = take > 0;
    out.push(SYNC);
    out.push(if pusi { 0x40 } else { 0 } | (pid >> 8) as u8 & 0x1F);
    out.push(pid as u8);
    out.push(if has_af { 0x20 } else { 0 } | if has_payload { 0x10 } else { 0 } | (cc & 0x0F));
    if has_af {
        // Field body: flags byte (if any room), PCR, stuffing.
        let body = af.size().saturating_sub(1) + stuff;
        let len = if af.needed() { body } else { stuff - 1 };
        out.push(len as u8);
        if len > 0 {
            let mut flags = 0u8;
            if af.discontinuity {
                flags |= 0x80;
            }
            if af.random_access {
                flags |= 0x40;
            }
            if af.pcr.is_some() {
                flags |= 0x10;
            }
            out.push(flags);
            if let Some(p) = af.pcr {
                out.extend_from_slice(&p.encode());
            }
            let written = 1 + af.pcr.map_or(0, |_| 6);
            out.resize(out.len() + (len - written), 0xFF);
        }
    }
    out.extend_from_slice(&payload[..take]);
    take
}

/// Finds the packet layout of `b`: `(first sync offset, unit size)` where unit size is 188 or
/// 192 and the sync byte sits 0 or 4 bytes into each unit. `None` when no offset in the
/// first [`SEARCH`] bytes has [`SYNC_RUN`] sync bytes in a row at either stride. With
/// `complete` (`b` is the whole input), fewer are enough when the input holds fewer packets.
pub fn detect(b: &[u8], complete: bool) -> Option<(usize, usize)> {
    for start in 0..b.len().min(SEARCH) {
        if b[start] != SYNC {
            continue;
        }
        for unit in [PACKET_SIZE, M2TS_SIZE] {
            let prefix = unit - PACKET_SIZE;
            let fits = (b.len() - start.saturating_sub(prefix)) / unit;
            let need = if complete {
                SYNC_RUN.min(fits)
            } else {
                SYNC_RUN
            };
            if need == 0 || start < prefix {
                continue;
            }
            let ok = (0..need).all(|i| b.get(start + i * unit) == Some(&SYNC));
            if ok {
                return Some((start, unit));
            }
        }
    }
    None
}

/// How far into an input [`detect`] looks for the first sync byte.
pub const SEARCH: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_from_hand_built_packet() {
        // 47 41 00 30: PUSI, PID 0x100, AF + payload, CC 0; AF length 7, PCR flag, PCR base 1.
        let mut p = vec![0x47, 0x41, 0x00, 0x30, 7, 0x50, 0, 0, 0, 0, 0x80 | 0x7E, 0];
        p.resize(188, 0xAB);
        let pk = parse(&p, 0).unwrap();
        assert!(pk.header.pusi);
        assert_eq!(pk.header.pid, 0x100);
        let af = pk.af.unwrap();
        assert!(af.random_access);
        assert_eq!(af.pcr, Some(Pcr { base: 1, ext: 0 }));
        assert_eq!(pk.payload_start, 12);
    }

    #[test]
    fn written_packets_parse_back() {
        for (len, pcr) in [
            (0usize, None),
            (1, Some(123_456u64)),
            (183, None),
            (184, None),
            (300, Some(5)),
        ] {
            let payload = vec![0x5A; len];
            let mut out = Vec::new();
            let af = AfWrite {
                pcr: pcr.map(|b| Pcr { base: b, ext: 7 }),
                random_access: pcr.is_some(),
                discontinuity: false,
            };
            let took = write(&mut out, 0x101, true, 5, af, &payload);
            assert_eq!(out.len(), 188, "len {len}");
            let pk = parse(&out, 0).unwrap();
            assert_eq!(pk.header.pid, 0x101);
            assert_eq!(pk.header.cc, 5);
            assert_eq!(188 - pk.payload_start.min(188), took);
            assert_eq!(pk.af.and_then(|a| a.pcr).map(|p| p.base), pcr);
        }
    }

    #[test]
    fn detects_m2ts_and_garbage() {
        let mut b = vec![0u8; 10];
        for _ in 0..4 {
            b.extend_from_slice(&[0, 0, 0, 0]);
            let mut p = vec![0x47];
            p.resize(188, 0);
            b.extend_from_slice(&p);
        }
        assert_eq!(detect(&b, false), Some((14, 192)));
        // One lone packet is a stream only when it is the whole input.
        let one = &b[14..202];
        assert_eq!(detect(one, false), None);
        assert_eq!(detect(one, true), Some((0, 188)));
    }
}
