//! PES packets (H.222.0 §2.4.3.6–2.4.3.7): the header with its 33-bit PTS/DTS, writing it,
//! and reassembling PES packets from the payloads of transport packets of one PID.
//!
//! ```text
//! 00 00 01 | stream_id 8 | PES_packet_length 16 | '10' scrambling 2 priority 1 alignment 1
//! copyright 1 original 1 | PTS_DTS_flags 2 ESCR 1 ES_rate 1 trick 1 copy_info 1 CRC 1 ext 1
//! | PES_header_data_length 8 | ['0010'/'0011' PTS 3 '1' PTS 15 '1' PTS 15 '1'] ['0001' DTS ...]
//! ```

use bytes::{Bytes, BytesMut};

use crate::formats::error::{FormatError, Problem};

use super::FORMAT;

/// Largest PES packet mist reassembles (video PES with length 0 are unbounded in the spec).
pub const MAX_PES: usize = 32 << 20;
/// The mask of a 33-bit timestamp.
pub const TS_MASK: u64 = (1 << 33) - 1;
/// stream_id of private_stream_1 (AC-3 and other private data).
pub const PRIVATE_STREAM_1: u8 = 0xBD;

/// A parsed PES header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PesHeader {
    /// stream_id.
    pub stream_id: u8,
    /// PES_packet_length (0 = unbounded, video only).
    pub packet_length: u16,
    /// data_alignment_indicator.
    pub data_alignment: bool,
    /// The 33-bit PTS, when present.
    pub pts: Option<u64>,
    /// The 33-bit DTS, when present.
    pub dts: Option<u64>,
    /// Bytes from the start code to the first payload byte.
    pub header_len: usize,
}

fn has_optional_header(stream_id: u8) -> bool {
    // program_stream_map, padding, private_stream_2, ECM, EMM, directory, DSMCC, H.222.1 E.
    !matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xFF | 0xF2 | 0xF8
    )
}

fn timestamp(b: &[u8]) -> u64 {
    (u64::from(b[0] >> 1) & 0x07) << 30
        | u64::from(b[1]) << 22
        | u64::from(b[2] >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4] >> 1)
}

/// Writes a 5-byte PTS/DTS field with the 4-bit `prefix` (`0010`, `0011` or `0001`).
pub fn write_timestamp(out: &mut Vec<u8>, prefix: u8, t: u64) {
    let t = t & TS_MASK;
    out.push(prefix << 4 | ((t >> 29) as u8 & 0x0E) | 1);
    out.push((t >> 22) as u8);
    out.push(((t >> 14) as u8 & 0xFE) | 1);
    out.push((t >> 7) as u8);
    out.push(((t << 1) as u8) | 1);
}

impl PesHeader {
    /// Parses the header at the start of `b` (a whole or partial PES packet) found at `at`.
    pub fn parse(b: &[u8], at: u64) -> Result<PesHeader, FormatError> {
        let short = |what: &'static str, need: usize| {
            FormatError::new(
                FORMAT,
                at,
                Problem::Truncated {
                    what,
                    need: need.saturating_sub(b.len()) as u64,
                },
            )
        };
        let [0, 0, 1, stream_id, l0, l1, rest @ ..] = b else {
            if b.len() >= 3 && b[..3] != [0, 0, 1] {
                return Err(FormatError::invalid(
                    FORMAT,
                    at,
                    format!(
                        "PES start code missing (found {:02x} {:02x} {:02x})",
                        b[0], b[1], b[2]
                    ),
                ));
            }
            return Err(short("PES header", 6));
        };
        let mut h = PesHeader {
            stream_id: *stream_id,
            packet_length: u16::from_be_bytes([*l0, *l1]),
            data_alignment: false,
            pts: None,
            dts: None,
            header_len: 6,
        };
        if !has_optional_header(*stream_id) {
            return Ok(h);
        }
        let [f0, f1, hlen, opt @ ..] = rest else {
            return Err(short("PES optional header", 9));
        };
        if f0 >> 6 != 0b10 {
            return Err(FormatError::new(
                FORMAT,
                at + 6,
                Problem::BadValue {
                    field: "PES optional header marker",
                    value: u64::from(f0 >> 6),
                },
            ));
        }
        h.data_alignment = f0 & 0x04 != 0;
        let hlen = usize::from(*hlen);
        let opt = opt
            .get(..hlen)
            .ok_or_else(|| short("PES header data", 9 + hlen))?;
        h.header_len = 9 + hlen;
        match f1 >> 6 {
            0b10 => {
                let p = opt.get(..5).ok_or_else(|| short("PTS", 14))?;
                h.pts = Some(timestamp(p));
            }
            0b11 => {
                let p = opt.get(..10).ok_or_else(|| short("PTS and DTS", 19))?;
                h.pts = Some(timestamp(&p[..5]));
                h.dts = Some(timestamp(&p[5..]));
            }
            0b01 => {
                return Err(FormatError::new(
                    FORMAT,
                    at + 7,
                    Problem::BadValue {
                        field: "PTS_DTS_flags",
                        value: 1,
                    },
                ))
            }
            _ => {}
        }
        Ok(h)
    }

    /// Writes a PES header for `payload_len` bytes of payload; `packet_length` is 0 when
    /// `unbounded` (video) or when the packet would not fit 16 bits.
    pub fn write(
        out: &mut Vec<u8>,
        stream_id: u8,
        pts: u64,
        dts: Option<u64>,
        payload_len: usize,
        unbounded: bool,
    ) {
        let dts = dts.filter(|d| d & TS_MASK != pts & TS_MASK);
        let hdata = if dts.is_some() { 10 } else { 5 };
        let total = 3 + hdata + payload_len;
        let len = if unbounded || total > 0xFFFF {
            0
        } else {
            total as u16
        };
        out.extend_from_slice(&[0, 0, 1, stream_id]);
        out.extend_from_slice(&len.to_be_bytes());
        out.push(0x84); // '10', data_alignment_indicator
        out.push(if dts.is_some() { 0xC0 } else { 0x80 });
        out.push(hdata as u8);
        match dts {
            Some(d) => {
                write_timestamp(out, 0b0011, pts);
                write_timestamp(out, 0b0001, d);
            }
            None => write_timestamp(out, 0b0010, pts),
        }
    }
}

/// A reassembled PES packet (header and payload), as carried on one PID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Offset of the transport packet where it started (PUSI).
    pub offset: u64,
    /// The whole PES packet.
    pub data: Bytes,
    /// The first transport packet had random_access_indicator set.
    pub random_access: bool,
    /// Bytes were lost inside it (continuity error, transport error, overflow).
    pub damaged: bool,
    /// `(declared total, bytes collected)` when PES_packet_length disagrees with the data.
    pub length_mismatch: Option<(usize, usize)>,
    /// The input was cut while it was being collected: it may be incomplete.
    pub cut: bool,
}

/// Collects the payloads of one PID into PES packets.
#[derive(Debug, Default)]
pub struct Assembler {
    buf: BytesMut,
    offset: u64,
    expected: Option<usize>,
    active: bool,
    done: bool,
    random_access: bool,
    damaged: bool,
    overflow: bool,
    cut: bool,
    extra: usize,
}

impl Assembler {
    /// A new assembler.
    pub fn new() -> Assembler {
        Assembler::default()
    }

    /// Adds the payload of one transport packet (at `at`); completed units go to `out`.
    pub fn push(
        &mut self,
        pusi: bool,
        payload: &[u8],
        at: u64,
        random_access: bool,
        out: &mut Vec<Unit>,
    ) {
        if pusi {
            self.flush(out);
            self.active = true;
            self.done = false;
            self.offset = at;
            self.random_access = random_access;
            self.damaged = false;
            self.overflow = false;
            self.extra = 0;
            self.expected = None;
        } else if !self.active {
            return; // continuation of a unit whose start we never saw
        }
        if self.done {
            self.extra += payload.len();
            return;
        }
        if self.buf.len() + payload.len() > MAX_PES {
            self.overflow = true;
            self.damaged = true;
            return;
        }
        self.buf.extend_from_slice(payload);
        if self.expected.is_none() && self.buf.len() >= 6 {
            let len = usize::from(u16::from_be_bytes([self.buf[4], self.buf[5]]));
            if len != 0 {
                self.expected = Some(6 + len);
                // One allocation of the declared size, not a doubling from 184 bytes.
                self.buf.reserve((6 + len).saturating_sub(self.buf.len()));
            }
        }
        if let Some(n) = self.expected {
            if self.buf.len() >= n {
                self.extra = self.buf.len() - n;
                self.buf.truncate(n);
                self.emit(out);
                self.done = true;
            }
        }
    }

    /// Marks the unit being collected as missing bytes.
    pub fn damage(&mut self) {
        if self.active && !self.done {
            self.damaged = true;
        }
    }

    /// Marks the unit being collected as cut by the end of a truncated input (unless its
    /// PES_packet_length says it is complete).
    pub fn cut(&mut self) {
        if self.active && !self.done {
            self.cut = true;
        }
    }

    /// Ends the unit being collected (next PUSI or end of input).
    pub fn flush(&mut self, out: &mut Vec<Unit>) {
        if self.active && !self.done {
            self.emit(out);
        } else if self.done && self.extra > 0 {
            // Payload after the declared end: report it with the unit's offset.
            out.push(Unit {
                offset: self.offset,
                data: Bytes::new(),
                random_access: false,
                damaged: true,
                length_mismatch: self.expected.map(|n| (n, n + self.extra)),
                cut: false,
            });
        }
        self.active = false;
        self.done = false;
        self.extra = 0;
    }

    /// Drops what is being collected (after a seek).
    pub fn reset(&mut self) {
        *self = Assembler::default();
    }

    fn emit(&mut self, out: &mut Vec<Unit>) {
        let data = std::mem::take(&mut self.buf).freeze();
        let mismatch = match self.expected {
            Some(n) if n != data.len() || self.extra > 0 => Some((n, data.len() + self.extra)),
            _ => None,
        };
        out.push(Unit {
            offset: self.offset,
            data,
            random_access: self.random_access,
            damaged: self.damaged || self.overflow,
            length_mismatch: mismatch,
            cut: std::mem::take(&mut self.cut),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_of_fixture_video_pes() {
        // First video PES of tests/fixtures/h264_aac.ts (xxd at byte 568): PTS 133200 and
        // DTS 126000, as ffprobe lists for that packet.
        let b = [
            0x00, 0x00, 0x01, 0xE0, 0x00, 0x00, 0x80, 0xC0, 0x0A, 0x31, 0x00, 0x09, 0x10, 0xA1,
            0x11, 0x00, 0x07, 0xD8, 0x61,
        ];
        let h = PesHeader::parse(&b, 0).unwrap();
        assert_eq!(h.stream_id, 0xE0);
        assert_eq!(h.packet_length, 0);
        assert_eq!(h.pts, Some(133_200));
        assert_eq!(h.dts, Some(126_000));
        assert_eq!(h.header_len, 19);
    }

    proptest! {
        #[test]
        fn header_encode_decode(pts in 0u64..(1 << 33), dts in 0u64..(1 << 33), len in 0usize..70_000, video: bool, id in 0xC0u8..0xF0) {
            let mut out = Vec::new();
            PesHeader::write(&mut out, id, pts, Some(dts), len, video);
            let h = PesHeader::parse(&out, 0).unwrap();
            prop_assert_eq!(h.pts, Some(pts));
            prop_assert_eq!(h.dts, (dts != pts).then_some(dts));
            prop_assert_eq!(h.header_len, out.len());
            let total = out.len() - 6 + len;
            let want = if video || total > 0xFFFF { 0 } else { total as u16 };
            prop_assert_eq!(h.packet_length, want);
        }
    }

    #[test]
    fn assembler_completes_bounded_units_and_reports_short_ones() {
        let mut out = Vec::new();
        let mut pes = Vec::new();
        PesHeader::write(&mut pes, 0xC0, 90_000, None, 300, false);
        pes.extend(std::iter::repeat_n(7u8, 300));
        let mut a = Assembler::new();
        a.push(true, &pes[..184], 0, true, &mut out);
        assert!(out.is_empty());
        a.push(false, &pes[184..], 188, false, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), pes.len());
        assert_eq!(out[0].length_mismatch, None);
        // A unit cut short by the next start reports its declared and actual sizes.
        out.clear();
        a.push(true, &pes[..184], 376, false, &mut out);
        a.push(true, &pes[..184], 564, false, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].length_mismatch, Some((pes.len(), 184)));
    }
}
