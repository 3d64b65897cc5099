//! The sans-IO transport stream reader: feed bytes, take events (tables, PES packets, PCRs,
//! findings). It finds the packet size (188 or 192), resynchronises after garbage, checks
//! continuity counters and section CRCs, and follows PAT/PMT version changes.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use bytes::{Buf, Bytes, BytesMut};

use crate::formats::Finding;

use super::packet::{self, Pcr, PACKET_SIZE, SYNC};
use super::pes::{Assembler, Unit};
use super::psi::{self, Pat, Pmt, TABLE_PAT, TABLE_PMT};

/// Findings about continuity errors past this many per PID are counted, not listed.
pub const MAX_CC_FINDINGS: u32 = 100;

/// What the reader found.
#[derive(Clone, Debug)]
pub enum Event {
    /// A transport packet (only when [`Reader::set_packet_events`] is on).
    Packet {
        /// Offset of the sync byte.
        offset: u64,
        /// The parsed header and adaptation field.
        packet: packet::Packet,
        /// The payload bytes.
        payload: Bytes,
    },
    /// A PAT (every time a new version or the first one arrives).
    Pat {
        /// Offset of the packet where the section started.
        offset: u64,
        /// The table.
        pat: Pat,
    },
    /// A PMT (first and each new version).
    Pmt {
        /// Offset of the packet where the section started.
        offset: u64,
        /// Its PID.
        pid: u16,
        /// The table.
        pmt: Pmt,
    },
    /// A PCR on some PID.
    Pcr {
        /// Offset of the packet.
        offset: u64,
        /// The PID carrying it.
        pid: u16,
        /// The value.
        pcr: Pcr,
    },
    /// A reassembled PES packet of an elementary stream PID.
    Pes {
        /// Its PID.
        pid: u16,
        /// The unit.
        unit: Unit,
    },
    /// A problem, with its offset.
    Finding(Finding),
}

#[derive(Default)]
struct PsiBuf {
    buf: Vec<u8>,
    offset: u64,
    active: bool,
}

/// Hashes a PID with one multiplication: keys are 13-bit PIDs looked up once per 188-byte
/// packet, where SipHash's flood protection buys nothing and cost ~4% of a TS demux.
#[derive(Default, Clone, Copy)]
pub struct PidHasher(u64);

impl Hasher for PidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u16(&mut self, v: u16) {
        self.0 = u64::from(v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by PID.
pub type PidMap<V> = HashMap<u16, V, BuildHasherDefault<PidHasher>>;

/// The incremental reader.
pub struct Reader {
    buf: BytesMut,
    base: u64,
    unit: Option<usize>,
    eof: bool,
    packet_events: bool,
    events: VecDeque<Event>,
    cc: Vec<u8>,
    cc_errors: PidMap<u32>,
    psi: PidMap<PsiBuf>,
    pat: Option<Pat>,
    pmts: PidMap<Pmt>,
    es: PidMap<Assembler>,
    units: Vec<Unit>,
    lost_sync_at: Option<u64>,
    /// PIDs not seen since the last resync: their next continuity gap is part of the bytes
    /// the resync skipped (already reported), so it is not reported again.
    cc_quiet: Vec<bool>,
    /// PIDs whose packets are not looked at (a survey that only wants tables and new streams).
    ignored: Vec<bool>,
    packets: u64,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

const CC_UNSEEN: u8 = 0xFF;

impl Reader {
    /// A reader whose first byte will be at offset 0.
    pub fn new() -> Reader {
        Reader::at(0)
    }

    /// A reader whose first fed byte sits at absolute offset `base`.
    pub fn at(base: u64) -> Reader {
        let mut psi = PidMap::default();
        psi.insert(0, PsiBuf::default());
        Reader {
            buf: BytesMut::new(),
            base,
            unit: None,
            eof: false,
            packet_events: false,
            events: VecDeque::new(),
            cc: vec![CC_UNSEEN; 8192],
            cc_errors: PidMap::default(),
            psi,
            pat: None,
            pmts: PidMap::default(),
            es: PidMap::default(),
            units: Vec::new(),
            lost_sync_at: None,
            cc_quiet: vec![false; 8192],
            ignored: Vec::new(),
            packets: 0,
        }
    }

    /// Skips the packets of `pid` from now on (no continuity check, no PES).
    pub fn ignore_pid(&mut self, pid: u16) {
        if self.ignored.is_empty() {
            self.ignored = vec![false; 8192];
        }
        self.ignored[usize::from(pid & 0x1FFF)] = true;
    }

    /// Also report every transport packet as an [`Event::Packet`] (analyse `--detail 2`).
    pub fn set_packet_events(&mut self, on: bool) {
        self.packet_events = on;
    }

    /// Adds input bytes.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Says the input has ended: what is buffered is processed and open PES packets end.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Absolute offset of the next byte not yet consumed.
    pub fn offset(&self) -> u64 {
        self.base
    }

    /// Bytes per packet unit (188 or 192) once known.
    pub fn unit_size(&self) -> Option<usize> {
        self.unit
    }

    /// The current PAT.
    pub fn pat(&self) -> Option<&Pat> {
        self.pat.as_ref()
    }

    /// The current PMT of each program, by PMT PID.
    pub fn pmts(&self) -> &PidMap<Pmt> {
        &self.pmts
    }

    /// Transport packets read so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Forgets buffered bytes and partial units and continues at absolute `offset` (after a
    /// seek); tables and the packet size are kept.
    pub fn restart_at(&mut self, offset: u64) {
        self.buf.clear();
        self.base = offset;
        self.eof = false;
        self.events.clear();
        self.cc.fill(CC_UNSEEN);
        for a in self.es.values_mut() {
            a.reset();
        }
        for p in self.psi.values_mut() {
            *p = PsiBuf::default();
        }
        self.units.clear();
        self.lost_sync_at = None;
        self.cc_quiet.fill(false);
    }

    /// The next event, or `None` when more input is needed (or, after `finish`, at the end).
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if !self.step() {
                return self.events.pop_front();
            }
        }
    }

    /// Processes one packet (or a resync step); false when nothing more can be done now.
    fn step(&mut self) -> bool {
        let Some(unit) = self.unit else {
            // Decide only on as many bytes as `detect` may look at, so the outcome does not
            // depend on how the input was cut into pieces.
            let window = packet::SEARCH + 2 * packet::M2TS_SIZE + 4;
            if self.buf.len() < window && !self.eof {
                return false;
            }
            match packet::detect(&self.buf, self.eof) {
                Some((start, unit)) => {
                    let prefix = unit - PACKET_SIZE;
                    let skip = start.saturating_sub(prefix);
                    let lost = self.lost_sync_at.take().unwrap_or(self.base);
                    let total = self.base + skip as u64 - lost;
                    if total > 0 {
                        self.events.push_back(Event::Finding(Finding::warning(
                            lost,
                            format!("{total} bytes before the first sync byte skipped"),
                        )));
                    }
                    self.consume(skip);
                    self.unit = Some(unit);
                    return true;
                }
                None if self.eof => {
                    let lost = self.lost_sync_at.take().unwrap_or(self.base);
                    let total = self.base + self.buf.len() as u64 - lost;
                    if total > 0 {
                        self.events.push_back(Event::Finding(Finding::error(
                            lost,
                            format!("no transport stream sync byte found in {total} bytes"),
                        )));
                    }
                    let n = self.buf.len();
                    self.consume(n);
                    self.end();
                    return false;
                }
                None => {
                    // Nothing in the searched bytes: drop them and search on.
                    self.lost_sync_at.get_or_insert(self.base);
                    self.consume(packet::SEARCH);
                    return true;
                }
            }
        };
        let prefix = unit - PACKET_SIZE;
        if self.buf.len() < unit {
            if self.eof {
                if !self.buf.is_empty() {
                    // The file was cut: a PES still open may be cut too (the cut packet's,
                    // and any without a PES_packet_length to say it was complete). They go
                    // with the damage rather than out as short frames.
                    for a in self.es.values_mut() {
                        a.cut();
                    }
                    self.events.push_back(Event::Finding(Finding::error(
                        self.base,
                        format!(
                            "truncated packet: {} of {unit} bytes at the end",
                            self.buf.len()
                        ),
                    )));
                    let n = self.buf.len();
                    self.consume(n);
                }
                self.end();
            }
            return false;
        }
        if self.buf[prefix] != SYNC {
            // Lost sync: look for the next offset with sync bytes one and two units on.
            let lost = *self.lost_sync_at.get_or_insert(self.base);
            // A candidate is decided once the bytes two units on are there (or the input ended).
            let len = self.buf.len();
            let eof = self.eof;
            let mut found = None;
            let mut undecided = len;
            for i in 1..len {
                let last = i + prefix + 2 * unit;
                if last >= len && !eof {
                    undecided = i;
                    break;
                }
                let at = |k: usize| self.buf.get(i + prefix + k * unit).copied();
                let ok = |k: usize| match at(k) {
                    Some(b) => b == SYNC,
                    None => eof,
                };
                if at(0) == Some(SYNC) && ok(1) && ok(2) {
                    found = Some(i);
                    break;
                }
            }
            match found {
                Some(i) => {
                    self.consume(i);
                    self.events.push_back(Event::Finding(Finding::error(
                        lost,
                        format!("lost sync: {} bytes skipped", self.base - lost),
                    )));
                    self.lost_sync_at = None;
                    self.cc_quiet.fill(true);
                    true
                }
                None if eof => {
                    self.events.push_back(Event::Finding(Finding::error(
                        lost,
                        format!(
                            "lost sync: {} bytes at the end skipped",
                            self.base + len as u64 - lost
                        ),
                    )));
                    self.consume(len);
                    self.lost_sync_at = None;
                    self.end();
                    false
                }
                None => {
                    // Every offset before the first undecided one is not a packet start.
                    self.consume(undecided);
                    false
                }
            }
        } else {
            // A copy of 188 bytes costs less than sharing the buffer (no reference counts).
            let mut pk = [0u8; PACKET_SIZE];
            pk.copy_from_slice(&self.buf[prefix..unit]);
            let at = self.base + prefix as u64;
            self.consume(unit);
            self.packet(&pk, at);
            true
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.advance(n);
        self.base += n as u64;
    }

    fn end(&mut self) {
        let mut out = std::mem::take(&mut self.units);
        let mut pids: Vec<u16> = self.es.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            if let Some(a) = self.es.get_mut(&pid) {
                a.flush(&mut out);
            }
            for unit in out.drain(..) {
                self.events.push_back(Event::Pes { pid, unit });
            }
        }
        self.units = out;
        let counts: Vec<(u16, u32)> = self.cc_errors.drain().collect();
        for (pid, n) in counts {
            if n > MAX_CC_FINDINGS {
                self.events.push_back(Event::Finding(Finding::error(
                    self.base,
                    format!(
                        "PID {pid:#x}: {} more continuity errors not listed",
                        n - MAX_CC_FINDINGS
                    ),
                )));
            }
        }
    }

    fn packet(&mut self, b: &[u8; PACKET_SIZE], at: u64) {
        self.packets += 1;
        let pk = match packet::parse(b, at) {
            Ok(p) => p,
            Err(e) => {
                self.events
                    .push_back(Event::Finding(Finding::error(e.offset, e.to_string())));
                return;
            }
        };
        let h = pk.header;
        let payload = &b[pk.payload_start.min(PACKET_SIZE)..];
        if self.packet_events {
            self.events.push_back(Event::Packet {
                offset: at,
                packet: pk,
                payload: Bytes::copy_from_slice(payload),
            });
        }
        if h.pid == packet::NULL_PID || self.ignored.get(usize::from(h.pid)) == Some(&true) {
            return;
        }
        let af = pk.af.unwrap_or_default();
        if let Some(pcr) = af.pcr {
            self.events.push_back(Event::Pcr {
                offset: at,
                pid: h.pid,
                pcr,
            });
        }
        if af.discontinuity {
            self.events.push_back(Event::Finding(Finding::info(
                at,
                format!("PID {:#x}: discontinuity indicator set", h.pid),
            )));
        }
        let mut damaged = false;
        if h.tei {
            self.events.push_back(Event::Finding(Finding::error(
                at,
                format!("PID {:#x}: transport error indicator set", h.pid),
            )));
            damaged = true;
        }
        // Continuity: per PID, incremented only by packets with payload.
        let last = self.cc[usize::from(h.pid)];
        let quiet = std::mem::take(&mut self.cc_quiet[usize::from(h.pid)]);
        if h.has_payload {
            if last != CC_UNSEEN && !af.discontinuity {
                if h.cc == last {
                    // A duplicate packet (allowed once): its payload is already in.
                    return;
                }
                if h.cc != (last + 1) & 0x0F {
                    let n = self.cc_errors.entry(h.pid).or_insert(0);
                    *n += 1;
                    if *n <= MAX_CC_FINDINGS && !quiet {
                        self.events.push_back(Event::Finding(Finding::error(
                            at,
                            format!(
                                "PID {:#x}: continuity counter {} after {} ({} packets lost)",
                                h.pid,
                                h.cc,
                                last,
                                (h.cc + 16 - last - 1) & 0x0F
                            ),
                        )));
                    }
                    damaged = true;
                }
            }
            self.cc[usize::from(h.pid)] = h.cc;
        } else if last != CC_UNSEEN && h.cc != last && !af.discontinuity {
            self.events.push_back(Event::Finding(Finding::warning(
                at,
                format!(
                    "PID {:#x}: continuity counter changed ({} after {}) on a packet without payload",
                    h.pid, h.cc, last
                ),
            )));
        }
        if !h.has_payload || payload.is_empty() {
            return;
        }
        if h.scrambling != 0 {
            self.events.push_back(Event::Finding(Finding::error(
                at,
                format!("PID {:#x}: scrambled payload skipped", h.pid),
            )));
            return;
        }
        if self.psi.contains_key(&h.pid) {
            self.psi_payload(h.pid, h.pusi, payload, at, damaged);
        } else if let Some(a) = self.es.get_mut(&h.pid) {
            if damaged {
                a.damage();
            }
            let mut out = std::mem::take(&mut self.units);
            a.push(h.pusi, payload, at, af.random_access, &mut out);
            for unit in out.drain(..) {
                self.events.push_back(Event::Pes { pid: h.pid, unit });
            }
            self.units = out;
        }
    }

    fn psi_payload(&mut self, pid: u16, pusi: bool, payload: &[u8], at: u64, damaged: bool) {
        let mut sections: Vec<(u64, Vec<u8>)> = Vec::new();
        let Some(st) = self.psi.get_mut(&pid) else {
            return;
        };
        if damaged {
            st.active = false;
            st.buf.clear();
        }
        let mut data = payload;
        if pusi {
            let Some((&pointer, rest)) = data.split_first() else {
                return;
            };
            let pointer = usize::from(pointer);
            let Some(tail) = rest.get(..pointer) else {
                self.events.push_back(Event::Finding(Finding::error(
                    at,
                    format!("PID {pid:#x}: pointer_field {pointer} points past the packet"),
                )));
                st.active = false;
                st.buf.clear();
                return;
            };
            if st.active {
                st.buf.extend_from_slice(tail);
                take_sections(st, &mut sections);
            }
            st.buf.clear();
            st.active = true;
            st.offset = at;
            data = &rest[pointer..];
        } else if !st.active {
            return;
        }
        st.buf.extend_from_slice(data);
        take_sections(st, &mut sections);
        for (offset, s) in sections {
            self.section(pid, offset, &s);
        }
    }

    fn section(&mut self, pid: u16, offset: u64, s: &[u8]) {
        let sec = match psi::parse_section(s, offset) {
            Ok(s) => s,
            Err(e) => {
                self.events
                    .push_back(Event::Finding(Finding::error(e.offset, e.to_string())));
                return;
            }
        };
        let name = match sec.table_id {
            TABLE_PAT if pid == 0 => "PAT",
            TABLE_PMT if pid != 0 => "PMT",
            _ => return, // other tables (SDT, SCTE-35 ...) are not read
        };
        if !sec.crc_ok {
            self.events.push_back(Event::Finding(Finding::error(
                offset,
                format!("{name} on PID {pid:#x}: CRC-32 mismatch, table ignored"),
            )));
            return;
        }
        if !sec.current {
            return;
        }
        if sec.table_id == TABLE_PAT {
            match Pat::parse(&sec, offset) {
                Ok(pat) => {
                    if self.pat.as_ref() == Some(&pat) {
                        return;
                    }
                    if let Some(old) = &self.pat {
                        self.events.push_back(Event::Finding(Finding::info(
                            offset,
                            format!(
                                "PAT version {} replaces version {}",
                                pat.version, old.version
                            ),
                        )));
                    }
                    for (_, pmt_pid) in &pat.programs {
                        self.psi.entry(*pmt_pid).or_default();
                    }
                    self.pat = Some(pat.clone());
                    self.events.push_back(Event::Pat { offset, pat });
                }
                Err(e) => self
                    .events
                    .push_back(Event::Finding(Finding::error(e.offset, e.to_string()))),
            }
        } else {
            match Pmt::parse(&sec, offset) {
                Ok(pmt) => {
                    if self.pmts.get(&pid) == Some(&pmt) {
                        return;
                    }
                    if let Some(old) = self.pmts.get(&pid) {
                        self.events.push_back(Event::Finding(Finding::info(
                            offset,
                            format!(
                                "PMT on PID {pid:#x}: version {} replaces version {}",
                                pmt.version, old.version
                            ),
                        )));
                        // Streams the new version drops have ended: their last PES is whole
                        // now, and comes before the table that ends them. Their assemblers
                        // stay: a reader that seeks back before this table meets them again.
                        let mut gone: Vec<u16> = old
                            .streams
                            .iter()
                            .map(|s| s.pid)
                            .filter(|p| !pmt.streams.iter().any(|n| n.pid == *p))
                            .collect();
                        gone.sort_unstable();
                        for p in gone {
                            if let Some(a) = self.es.get_mut(&p) {
                                let mut out = Vec::new();
                                a.flush(&mut out);
                                for unit in out {
                                    self.events.push_back(Event::Pes { pid: p, unit });
                                }
                            }
                        }
                    }
                    for s in &pmt.streams {
                        if !self.psi.contains_key(&s.pid) && s.pid != packet::NULL_PID {
                            self.es.entry(s.pid).or_default();
                        }
                    }
                    self.pmts.insert(pid, pmt.clone());
                    self.events.push_back(Event::Pmt { offset, pid, pmt });
                }
                Err(e) => self
                    .events
                    .push_back(Event::Finding(Finding::error(e.offset, e.to_string()))),
            }
        }
    }
}

fn take_sections(st: &mut PsiBuf, out: &mut Vec<(u64, Vec<u8>)>) {
    loop {
        match st.buf.first() {
            None => return,
            Some(0xFF) => {
                st.buf.clear();
                st.active = false;
                return;
            }
            Some(_) => {}
        }
        let Some(total) = psi::section_total(&st.buf) else {
            return;
        };
        if total - 3 > psi::MAX_SECTION_LENGTH {
            // Garbage: hand it over so the parser reports it, then drop the rest.
            out.push((st.offset, st.buf.clone()));
            st.buf.clear();
            st.active = false;
            return;
        }
        if st.buf.len() < total {
            return;
        }
        let rest = st.buf.split_off(total);
        out.push((st.offset, std::mem::replace(&mut st.buf, rest)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(data: &[u8], split: usize) -> Vec<String> {
        let mut r = Reader::new();
        let mut out = Vec::new();
        for piece in [&data[..split], &data[split..]] {
            r.feed(piece);
            while let Some(e) = r.next_event() {
                out.push(format!("{e:?}"));
            }
        }
        r.finish();
        while let Some(e) = r.next_event() {
            out.push(format!("{e:?}"));
        }
        out
    }

    fn psi_packet(pid: u16, cc: u8, section: &[u8]) -> Vec<u8> {
        let mut payload = vec![0u8];
        payload.extend_from_slice(section);
        payload.resize(184, 0xFF);
        let mut out = Vec::new();
        packet::write(
            &mut out,
            pid,
            true,
            cc,
            packet::AfWrite::default(),
            &payload,
        );
        out
    }

    #[test]
    fn tables_and_cc_gap_and_garbage() {
        let pat = Pat {
            ts_id: 1,
            version: 0,
            programs: vec![(1, 0x1000)],
        };
        let mut data = b"garbage!".to_vec();
        data.extend(psi_packet(0, 0, &pat.encode()));
        data.extend(psi_packet(0, 1, &pat.encode()));
        data.extend(psi_packet(0, 3, &pat.encode()));
        let whole = events(&data, data.len());
        assert!(
            whole[0].contains("8 bytes before the first sync byte"),
            "{whole:?}"
        );
        assert!(whole.iter().filter(|e| e.starts_with("Pat")).count() == 1);
        assert!(whole
            .iter()
            .any(|e| e.contains("continuity counter 3 after 1")));
        // Feeding in two pieces gives the same events.
        for split in [1, 100, 200, 300] {
            assert_eq!(events(&data, split), whole);
        }
    }
}
