//! H.264 Annex B elementary streams (`.h264`): the access-unit splitter (sans-IO), timing from
//! a frame rate and picture order counts, the demuxer, the muxer and the probe.
//!
//! Access units (H.264 7.4.1.2.3): a new one starts at an access unit delimiter, SPS, PPS, SEI
//! or NAL types 14–18 that follow a coded slice of the current one, and at the first slice of
//! a new primary picture (`first_mb_in_slice` 0, or a slice header that differs from the
//! previous one in a field 7.4.1.2.4 lists). Each access unit becomes one packet holding all
//! its NAL units (AUD, parameter sets and SEI included) with 4-byte lengths.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::h264::{
    AnnexBNal, AnnexBNals, AvcConfig, NalHeader, NalType, PocCalculator, Pps, SliceHeader, Sps,
};
use crate::dtsc::index::{Builder, PartInfo};
use crate::dtsc::{
    Codec, Framing, Meta, Packet, Params, Ticks, Time, Timebase, Track, TrackId, TrackKind, Video,
};
use crate::formats::error::{FormatError, Problem};
use crate::formats::{
    Demuxer as DemuxerTrait, Finding, Finish, MuxOptions, Muxer as MuxerTrait, Score,
};
use crate::io::{BitReader, ByteSink, Source};

use super::sei;

/// Format name in errors.
pub const FORMAT: &str = "h264";
/// A NAL unit larger than this is refused (a 4K intra frame is a few MB).
pub const MAX_NAL_SIZE: usize = 64 << 20;
/// An access unit with more NAL units than this is refused.
pub const MAX_NALS_PER_AU: usize = 4096;
/// Reorder window in frames: the DPB holds at most 16 frames (H.264 A.3.1), so no frame
/// waits for more than 16 others before output.
pub const REORDER_WINDOW: usize = 16;
/// Access units read at open to find the parameter sets and measure the reorder depth.
pub const PREFETCH_AUS: usize = 64;
/// Access units read at open, at most, while looking for the first SPS and PPS.
pub const MAX_AUS_BEFORE_PARAMETER_SETS: usize = 1024;
/// Frame rate when neither `--fps` nor the SPS gives one (ffmpeg's default for raw H.264).
pub const DEFAULT_FPS: (u32, u32) = (25, 1);
/// Bytes read from the source at a time.
const READ_CHUNK: usize = 1 << 20;

/// One NAL unit of an Annex B stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nal {
    /// Absolute offset of its start code.
    pub offset: u64,
    /// 3 or 4.
    pub start_code_len: u8,
    /// The NAL unit (header byte first), trailing zero bytes removed; a slice of the input.
    pub data: Bytes,
}

impl Nal {
    /// `nal_unit_type`.
    pub fn kind(&self) -> NalType {
        NalType(self.data.first().map_or(0, |b| b & 0x1f))
    }

    /// Absolute offset of the NAL unit's header byte.
    pub fn data_offset(&self) -> u64 {
        self.offset + u64::from(self.start_code_len)
    }
}

/// One access unit: the NAL units of one primary coded picture and what precedes it.
#[derive(Clone, Debug)]
pub struct AccessUnit {
    /// Absolute offset of the first NAL unit's start code.
    pub offset: u64,
    /// Bytes from `offset` to the next access unit's start code (ffprobe's packet size).
    pub size: u64,
    /// The NAL units in stream order.
    pub nals: Vec<Nal>,
    /// The first slice's header, when its SPS and PPS were known.
    pub slice: Option<SliceHeader>,
    /// The SPS the first slice refers to.
    pub sps: Option<Arc<Sps>>,
    /// True when it holds a coded slice.
    pub has_slice: bool,
    /// True when it holds an IDR slice.
    pub idr: bool,
    /// True when an SEI recovery point is in it.
    pub recovery_point: bool,
    /// True when its first slice header could not be read (a stream cut or damaged there):
    /// it can be neither timed nor decoded.
    pub unreadable: bool,
}

impl AccessUnit {
    fn new(offset: u64) -> AccessUnit {
        AccessUnit {
            offset,
            size: 0,
            nals: Vec::new(),
            slice: None,
            sps: None,
            has_slice: false,
            idr: false,
            recovery_point: false,
            unreadable: false,
        }
    }

    /// A random access point: an IDR picture, or a picture with a recovery point SEI (as
    /// ffmpeg's H.264 parser flags key frames).
    pub fn keyframe(&self) -> bool {
        self.idr || self.recovery_point
    }

    /// Bytes of the payload in 4-byte length-prefixed form.
    pub fn length_prefixed_len(&self) -> usize {
        self.nals.iter().map(|n| 4 + n.data.len()).sum()
    }

    /// The payload in the canonical framing: every NAL unit with a 4-byte length.
    pub fn to_length_prefixed(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.length_prefixed_len());
        for n in &self.nals {
            out.put_u32(n.data.len() as u32);
            out.extend_from_slice(&n.data);
        }
        out.freeze()
    }
}

/// The fields of a slice header that tell pictures apart (H.264 7.4.1.2.4).
fn same_picture(a: &SliceHeader, b: &SliceHeader, sps: &Sps) -> bool {
    a.frame_num == b.frame_num
        && a.pps_id == b.pps_id
        && a.field_pic == b.field_pic
        && a.bottom_field == b.bottom_field
        && (a.nal_ref_idc == 0) == (b.nal_ref_idc == 0)
        && a.idr == b.idr
        && (!a.idr || a.idr_pic_id == b.idr_pic_id)
        && match sps.pic_order_cnt_type {
            0 => {
                a.pic_order_cnt_lsb == b.pic_order_cnt_lsb
                    && a.delta_pic_order_cnt_bottom == b.delta_pic_order_cnt_bottom
            }
            1 => a.delta_pic_order_cnt == b.delta_pic_order_cnt,
            _ => true,
        }
}

/// `first_mb_in_slice` of a slice NAL unit.
fn first_mb(nal: &[u8], offset: u64) -> Result<u32, FormatError> {
    let head = nal.get(1..nal.len().min(8)).unwrap_or(&[]);
    let rbsp = crate::codec::h264::remove_emulation_prevention(head);
    BitReader::new(&rbsp, offset + 1, "h264 slice").read_ue("first_mb_in_slice")
}

/// Splits an Annex B byte stream into access units, sans-IO: feed bytes as they come, take
/// access units out; the result does not depend on how the input was cut.
#[derive(Default)]
pub struct AuSplitter {
    buf: BytesMut,
    /// Absolute offset of `buf[0]`.
    base: u64,
    /// Where to continue looking for a start code in `buf`.
    scan: usize,
    /// True once the first start code was found; `buf` then starts with a start code.
    started: bool,
    sc_len: u8,
    au: Option<AccessUnit>,
    last_slice: Option<SliceHeader>,
    /// `frame_num` of the last reference picture (`PrevRefFrameNum`), to see lost ones.
    prev_ref_frame_num: Option<u32>,
    /// The last slice header met could not be read.
    header_failed: bool,
    sps: HashMap<u32, (Bytes, Arc<Sps>)>,
    pps: HashMap<u32, (Bytes, Arc<Pps>)>,
    /// The first SPS and PPS NAL units seen (one per id), for the track's `avcC`.
    first_sets: Vec<Bytes>,
    ready: VecDeque<AccessUnit>,
    findings: Vec<Finding>,
    finished: bool,
}

impl AuSplitter {
    /// A splitter for a stream whose first byte is at absolute offset `base`.
    pub fn new(base: u64) -> AuSplitter {
        AuSplitter {
            base,
            ..AuSplitter::default()
        }
    }

    /// A splitter starting at `base` that already knows the parameter sets of `other` (for
    /// seeking into the middle of a stream).
    pub fn resume(base: u64, other: &AuSplitter) -> AuSplitter {
        AuSplitter {
            base,
            sps: other.sps.clone(),
            pps: other.pps.clone(),
            first_sets: other.first_sets.clone(),
            ..AuSplitter::default()
        }
    }

    /// Hands over the next bytes.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// End of input: the last NAL unit and access unit are complete.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Non-fatal problems met so far.
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// The first SPS/PPS NAL units seen, one per id, in order.
    pub fn first_parameter_sets(&self) -> &[Bytes] {
        &self.first_sets
    }

    /// True once an SPS and a PPS were seen.
    pub fn has_parameter_sets(&self) -> bool {
        !self.sps.is_empty() && !self.pps.is_empty()
    }

    /// The SPS with this id, when seen.
    pub fn sps(&self, id: u32) -> Option<&Arc<Sps>> {
        self.sps.get(&id).map(|(_, s)| s)
    }

    /// The PPS with this id, when seen.
    pub fn pps(&self, id: u32) -> Option<&Arc<Pps>> {
        self.pps.get(&id).map(|(_, p)| p)
    }

    /// The next complete access unit, `Ok(None)` when more bytes are needed (or, after
    /// [`finish`](Self::finish), at the end).
    pub fn next_au(&mut self) -> Result<Option<AccessUnit>, FormatError> {
        loop {
            if let Some(au) = self.ready.pop_front() {
                return Ok(Some(au));
            }
            match self.next_nal()? {
                Some(nal) => self.push_nal(nal)?,
                None => {
                    if self.finished {
                        if let Some(mut au) = self.au.take() {
                            au.size = self.base + self.buf.len() as u64 - au.offset;
                            self.close(au);
                            continue;
                        }
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Finds the next start code at or after `from`; the index of its `00 00 01`.
    fn find_start_code(&self, from: usize) -> Option<usize> {
        crate::codec::h264::find_start_code(&self.buf, from)
    }

    /// The next complete NAL unit, if the buffer holds one.
    fn next_nal(&mut self) -> Result<Option<Nal>, FormatError> {
        loop {
            if !self.started {
                match self.find_start_code(self.scan) {
                    Some(p) => {
                        let sc = if p > 0 && self.buf[p - 1] == 0 {
                            p - 1
                        } else {
                            p
                        };
                        if self.buf[..sc].iter().any(|&b| b != 0) {
                            self.findings.push(Finding::warning(
                                self.base,
                                format!("{sc} bytes before the first start code skipped"),
                            ));
                        }
                        let _ = self.buf.split_to(sc);
                        self.base += sc as u64;
                        self.sc_len = (p + 3 - sc) as u8;
                        self.scan = usize::from(self.sc_len);
                        self.started = true;
                    }
                    None => {
                        // Keep the last three bytes: they may begin a 4-byte start code.
                        let keep = if self.finished { 0 } else { 3 };
                        let drop = self.buf.len().saturating_sub(keep);
                        if self.buf[..drop].iter().any(|&b| b != 0) {
                            self.findings.push(Finding::warning(
                                self.base,
                                format!("{drop} bytes without a start code skipped"),
                            ));
                        }
                        let _ = self.buf.split_to(drop);
                        self.base += drop as u64;
                        self.scan = 0;
                        return Ok(None);
                    }
                }
            }
            let sc = usize::from(self.sc_len);
            let (end, next_sc) = match self.find_start_code(self.scan) {
                Some(p) => {
                    let next = if p > sc && self.buf[p - 1] == 0 {
                        p - 1
                    } else {
                        p
                    };
                    (next, Some((next, (p + 3 - next) as u8)))
                }
                None if self.finished => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    (self.buf.len(), None)
                }
                None => {
                    if self.buf.len() - sc > MAX_NAL_SIZE {
                        return Err(FormatError::new(
                            FORMAT,
                            self.base,
                            Problem::Limit {
                                what: "NAL unit size",
                                limit: MAX_NAL_SIZE as u64,
                            },
                        ));
                    }
                    self.scan = self.buf.len().saturating_sub(2).max(sc);
                    return Ok(None);
                }
            };
            let offset = self.base;
            let chunk = self.buf.split_to(end).freeze();
            self.base += end as u64;
            let mut stop = chunk.len();
            while stop > sc && chunk[stop - 1] == 0 {
                stop -= 1;
            }
            let nal = Nal {
                offset,
                start_code_len: self.sc_len,
                data: chunk.slice(sc.min(stop)..stop),
            };
            match next_sc {
                Some((_, len)) => {
                    self.sc_len = len;
                    self.scan = usize::from(len);
                }
                None => {
                    self.scan = 0;
                    self.started = false;
                }
            }
            if nal.data.is_empty() {
                // Only zeros between two start codes: no NAL unit; the bytes stay in the span.
                continue;
            }
            return Ok(Some(nal));
        }
    }

    /// Ends `au` and queues it, noting access units without a picture and reference
    /// pictures missing before it.
    fn close(&mut self, au: AccessUnit) {
        if let (Some(sh), Some(sps)) = (&au.slice, &au.sps) {
            // 7.4.3: without gaps_in_frame_num_value_allowed_flag, frame_num is the previous
            // reference picture's or one more: anything else means reference pictures were
            // lost (what decoders report as a frame_num gap).
            if let Some(prev) = self.prev_ref_frame_num.filter(|_| !sh.idr) {
                let max = sps.max_frame_num().max(1);
                if !sps.gaps_in_frame_num_allowed
                    && sh.frame_num != prev
                    && sh.frame_num != (prev + 1) % max
                {
                    // `prev` may come from an SPS with a longer frame_num: taken modulo this one's.
                    let lost = (sh.frame_num % max + max - prev % max - 1) % max;
                    self.findings.push(Finding::error(
                        au.offset,
                        format!(
                            "frame_num jumps from {prev} to {}: {lost} reference picture{} lost before this access unit",
                            sh.frame_num,
                            if lost == 1 { "" } else { "s" }
                        ),
                    ));
                }
            }
            if sh.nal_ref_idc != 0 {
                self.prev_ref_frame_num = Some(sh.frame_num);
            }
        }
        if au.unreadable {
            // Reported where its slice header failed; nothing downstream could use it.
            return;
        }
        if !au.has_slice {
            self.findings.push(Finding::warning(
                au.offset,
                format!(
                    "access unit without a coded slice ({} NAL units) dropped",
                    au.nals.len()
                ),
            ));
            return;
        }
        self.ready.push_back(au);
    }

    fn push_nal(&mut self, nal: Nal) -> Result<(), FormatError> {
        let t = nal.kind();
        let at = nal.data_offset();
        if nal.data.first().is_some_and(|b| b & 0x80 != 0) {
            self.findings.push(Finding::error(
                at,
                format!("NAL unit ({t}) with forbidden_zero_bit set"),
            ));
        }
        let has_vcl = self.au.as_ref().is_some_and(|a| a.has_slice);
        let mut slice: Option<(SliceHeader, Arc<Sps>)> = None;
        let starts_new = match t.0 {
            6..=9 | 14..=18 => has_vcl,
            1 | 2 | 5 => {
                let mb = first_mb(&nal.data, at);
                if matches!(t.0, 1 | 5) {
                    slice = self.slice_header(&nal);
                }
                let new_picture = match (&slice, &self.last_slice) {
                    (Some((sh, sps)), Some(prev)) => !same_picture(sh, prev, sps),
                    _ => false,
                };
                has_vcl && (matches!(mb, Ok(0)) || new_picture)
            }
            _ => false,
        };
        match t {
            NalType::SPS => self.store_sps(&nal, has_vcl),
            NalType::PPS => self.store_pps(&nal),
            _ => {}
        }
        if starts_new {
            if let Some(mut au) = self.au.take() {
                au.size = nal.offset - au.offset;
                self.close(au);
            }
        }
        let au = self.au.get_or_insert_with(|| AccessUnit::new(nal.offset));
        if au.nals.len() >= MAX_NALS_PER_AU {
            return Err(FormatError::new(
                FORMAT,
                at,
                Problem::Limit {
                    what: "NAL units in one access unit",
                    limit: MAX_NALS_PER_AU as u64,
                },
            ));
        }
        if t.is_slice() {
            if !au.has_slice {
                if let Some((sh, sps)) = &slice {
                    au.slice = Some(sh.clone());
                    au.sps = Some(sps.clone());
                }
                au.unreadable = std::mem::take(&mut self.header_failed);
            }
            au.has_slice = true;
            au.idr |= t == NalType::IDR;
            if let Some((sh, _)) = slice {
                self.last_slice = Some(sh);
            }
        }
        if t == NalType::SEI {
            match sei::parse(&nal.data, at) {
                Ok(msgs) => {
                    if msgs.iter().any(|m| m.recovery_point.is_some()) {
                        au.recovery_point = true;
                    }
                }
                Err(e) => self.findings.push(Finding::warning(
                    e.offset,
                    format!("SEI not readable: {}", e.problem),
                )),
            }
        }
        au.nals.push(nal);
        Ok(())
    }

    fn slice_header(&mut self, nal: &Nal) -> Option<(SliceHeader, Arc<Sps>)> {
        let at = nal.data_offset();
        let pps_id = SliceHeader::pps_id_of(&nal.data, at).ok()?;
        let Some((_, pps)) = self.pps.get(&pps_id) else {
            self.findings.push(Finding::error(
                at,
                format!("slice refers to PPS {pps_id}, which has not been seen"),
            ));
            return None;
        };
        let Some((_, sps)) = self.sps.get(&pps.sps_id) else {
            self.findings.push(Finding::error(
                at,
                format!(
                    "PPS {pps_id} refers to SPS {}, which has not been seen",
                    pps.sps_id
                ),
            ));
            return None;
        };
        match SliceHeader::parse(&nal.data, at, sps, pps) {
            Ok(sh) => Some((sh, sps.clone())),
            Err(e) => {
                self.findings.push(Finding::error(
                    e.offset,
                    format!("slice header not readable: {}", e.problem),
                ));
                self.header_failed = true;
                None
            }
        }
    }

    fn store_sps(&mut self, nal: &Nal, mid_stream: bool) {
        match Sps::parse(&nal.data, nal.data_offset()) {
            Ok(s) => {
                let id = s.sps_id;
                match self.sps.get(&id) {
                    Some((old, _)) if *old != nal.data => {
                        let seen_slices = mid_stream || self.last_slice.is_some();
                        self.findings.push(Finding::warning(
                            nal.offset,
                            format!(
                                "SPS {id} changes{}",
                                if seen_slices { " mid-stream" } else { "" }
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => self.first_sets.push(nal.data.clone()),
                }
                self.sps.insert(id, (nal.data.clone(), Arc::new(s)));
            }
            Err(e) => self.findings.push(Finding::error(
                e.offset,
                format!("SPS not readable: {}", e.problem),
            )),
        }
    }

    fn store_pps(&mut self, nal: &Nal) {
        match Pps::parse(&nal.data, nal.data_offset()) {
            Ok(p) => {
                let id = p.pps_id;
                if !self.pps.contains_key(&id) {
                    self.first_sets.push(nal.data.clone());
                }
                self.pps.insert(id, (nal.data.clone(), Arc::new(p)));
            }
            Err(e) => self.findings.push(Finding::error(
                e.offset,
                format!("PPS not readable: {}", e.problem),
            )),
        }
    }
}

/// Drops the access units before the first keyframe (a stream cut mid-GOP): nothing can
/// decode them. Reports how many, once.
#[derive(Clone, Debug, Default)]
pub struct LeadingFilter {
    /// Still dropping.
    active: bool,
    dropped: u64,
    first_at: u64,
    /// SPS and PPS NAL units of the dropped access units, the latest per kind and id, for
    /// the first kept one.
    carried: Vec<Nal>,
    /// The SPS and PPS in force at the first kept keyframe when units were dropped before it
    /// (the carried ones, then its own): what the track's configuration is built from.
    in_force: Vec<Bytes>,
}

/// `(nal_unit_type, id)` of an SPS or PPS NAL unit, when readable.
fn set_id(n: &Nal) -> Option<(NalType, u32)> {
    match n.kind() {
        NalType::SPS => Sps::parse(&n.data, 0)
            .ok()
            .map(|s| (NalType::SPS, s.sps_id)),
        NalType::PPS => Pps::parse(&n.data, 0)
            .ok()
            .map(|p| (NalType::PPS, p.pps_id)),
        _ => None,
    }
}

/// Most parameter sets carried from dropped access units (the latest are kept).
const MAX_CARRIED_SETS: usize = 64;

impl LeadingFilter {
    /// A filter that drops (`true`) or keeps everything (`false`).
    pub fn new(drop: bool) -> LeadingFilter {
        LeadingFilter {
            active: drop,
            ..LeadingFilter::default()
        }
    }

    /// Whether `au` passes; a finding when the first keyframe ends a run of dropped ones.
    /// The SPS and PPS of dropped access units go into the first one kept (before its own),
    /// so it decodes with the sets in force at it, not with the ones first seen.
    pub fn admit(&mut self, au: &mut AccessUnit) -> (bool, Option<Finding>) {
        if !self.active {
            return (true, None);
        }
        if !au.keyframe() {
            if self.dropped == 0 {
                self.first_at = au.offset;
            }
            self.dropped += 1;
            for n in &au.nals {
                if let Some(id) = set_id(n) {
                    self.carried.retain(|c| set_id(c) != Some(id));
                    self.carried.push(n.clone());
                }
            }
            let over = self.carried.len().saturating_sub(MAX_CARRIED_SETS);
            self.carried.drain(..over);
            return (false, None);
        }
        self.active = false;
        if !self.carried.is_empty() {
            let own: Vec<_> = au.nals.iter().filter_map(set_id).collect();
            self.carried
                .retain(|c| set_id(c).is_some_and(|id| !own.contains(&id)));
            self.in_force = self
                .carried
                .iter()
                .chain(au.nals.iter().filter(|n| set_id(n).is_some()))
                .map(|n| n.data.clone())
                .collect();
            // After an access unit delimiter, which must stay first (H.264 §7.4.1.2.3).
            let at = au
                .nals
                .iter()
                .position(|n| n.kind() != NalType::AUD)
                .unwrap_or(au.nals.len());
            au.nals.splice(at..at, std::mem::take(&mut self.carried));
        }
        let f = (self.dropped > 0).then(|| {
            Finding::warning(
                self.first_at,
                format!(
                    "{} access units before the first keyframe dropped (not decodable)",
                    self.dropped
                ),
            )
        });
        (true, f)
    }
}

/// A frame rate as a clock: the timebase and the ticks per frame, chosen so that every
/// frame time is exact (90 kHz when the frame duration is a whole number of its ticks, else
/// the rate's numerator).
pub fn clock(fps: (u32, u32)) -> (Timebase, i64) {
    let (num, den) = fps;
    if num > 0 && (90_000u64 * u64::from(den)) % u64::from(num) == 0 {
        return (Timebase::MPEG, (90_000 * i64::from(den)) / i64::from(num));
    }
    match Timebase::new(num) {
        Some(tb) => (tb, i64::from(den.max(1))),
        None => (Timebase::MPEG, 3600),
    }
}

/// An access unit with its times.
#[derive(Clone, Debug)]
pub struct TimedAu {
    /// The access unit.
    pub au: AccessUnit,
    /// Decode order number (0 = first).
    pub number: i64,
    /// Decode time.
    pub dts: Ticks,
    /// Presentation time.
    pub pts: Ticks,
    /// Picture order count, when the slice header could be read.
    pub poc: Option<i64>,
}

struct Pending {
    au: AccessUnit,
    number: i64,
    period: u64,
    poc: Option<i64>,
}

/// Times access units the way MP4Box does: decode times from the frame index, presentation
/// times from the frame's rank in picture order count within its POC period (between IDRs /
/// MMCO 5), plus a constant delay of `delay` frames so that pts ≥ dts.
pub struct Timing {
    dur: i64,
    delay: i64,
    calc: PocCalculator,
    next_number: i64,
    period: u64,
    window: VecDeque<Pending>,
    history: VecDeque<(u64, Option<i64>)>,
    findings: Vec<Finding>,
    clamped: bool,
    last_period: Option<u64>,
}

impl Timing {
    /// Frames of `dur` ticks, numbered from `first`.
    pub fn new(dur: i64, first: i64) -> Timing {
        Timing {
            dur,
            delay: 0,
            calc: PocCalculator::new(),
            next_number: first,
            period: 0,
            window: VecDeque::new(),
            history: VecDeque::new(),
            findings: Vec::new(),
            clamped: false,
            last_period: None,
        }
    }

    /// The presentation delay in frames.
    pub fn delay(&self) -> i64 {
        self.delay
    }

    /// Sets the presentation delay in frames (before the first [`pop`](Self::pop)).
    pub fn set_delay(&mut self, frames: i64) {
        self.delay = frames.clamp(0, REORDER_WINDOW as i64);
    }

    /// Access units waiting for their presentation time.
    pub fn waiting(&self) -> usize {
        self.window.len()
    }

    /// Non-fatal problems (reordering deeper than the delay).
    pub fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// Adds the next access unit in decode order.
    pub fn push(&mut self, au: AccessUnit) {
        let poc = match (&au.slice, &au.sps) {
            (Some(sh), Some(sps)) => {
                let p = self.calc.next(sps, sh);
                if p.resets {
                    // An IDR or MMCO 5 picture is output after every picture before it
                    // (C.4.4: the DPB is emptied first) and starts a new order: after MMCO 5
                    // its own count becomes 0 (8.2.1, tempPicOrderCnt).
                    self.period += 1;
                }
                Some(if sh.mmco5 { 0 } else { p.poc })
            }
            _ => None,
        };
        self.window.push_back(Pending {
            au,
            number: self.next_number,
            period: self.period,
            poc,
        });
        self.next_number += 1;
    }

    /// The largest number of frames that precede a frame in decode order and follow it in
    /// presentation order, among the access units waiting now (`max_num_reorder_frames` as
    /// the stream shows it).
    pub fn measured_reorder_depth(&self) -> i64 {
        let w: Vec<&Pending> = self.window.iter().collect();
        let mut depth = 0i64;
        for (i, p) in w.iter().enumerate() {
            let Some(poc) = p.poc else { continue };
            let from = i.saturating_sub(REORDER_WINDOW);
            let n = w[from..i]
                .iter()
                .filter(|q| q.period == p.period && q.poc.is_some_and(|x| x > poc))
                .count() as i64;
            depth = depth.max(n);
        }
        depth
    }

    /// The reorder depth the frames of `first`'s POC period show among `first` and the
    /// access units waiting after it.
    fn depth_from(&self, first: &Pending) -> i64 {
        let frames: Vec<&Pending> = std::iter::once(first)
            .chain(self.window.iter().take(REORDER_WINDOW))
            .filter(|q| q.period == first.period)
            .collect();
        let mut depth = 0;
        for (i, q) in frames.iter().enumerate() {
            let Some(poc) = q.poc else { continue };
            let n = frames[..i]
                .iter()
                .filter(|e| e.poc.is_some_and(|x| x > poc))
                .count() as i64;
            depth = depth.max(n);
        }
        depth
    }

    /// The next access unit with its times, once enough later ones are known (or at the end
    /// when `finished`).
    ///
    /// At the first picture of each POC period (an IDR) the delay may grow (never shrink) to what that picture's SPS
    /// declares or, without a declaration, to the reordering seen in the frames after it: the
    /// previous period has been presented by then, so presentation times stay strictly
    /// increasing (with a gap of the added frames).
    pub fn pop(&mut self, finished: bool) -> Option<TimedAu> {
        if self.window.is_empty() || (!finished && self.window.len() <= REORDER_WINDOW) {
            return None;
        }
        let p = self.window.pop_front()?;
        if self.last_period != Some(p.period) {
            self.last_period = Some(p.period);
            let declared = p.au.sps.as_ref().and_then(|s| {
                let v = s.vui.as_ref()?;
                v.max_num_reorder_frames.or(v.max_dec_frame_buffering)
            });
            let want = declared.map_or_else(|| self.depth_from(&p), i64::from);
            if want > self.delay {
                self.set_delay(want);
            }
        }
        let mut rank_shift = 0i64;
        if let Some(poc) = p.poc {
            let smaller_later = self
                .window
                .iter()
                .take(REORDER_WINDOW)
                .filter(|q| q.period == p.period && q.poc.is_some_and(|x| x < poc))
                .count() as i64;
            let greater_earlier = self
                .history
                .iter()
                .filter(|(period, x)| *period == p.period && x.is_some_and(|x| x > poc))
                .count() as i64;
            rank_shift = smaller_later - greater_earlier;
        }
        let mut pts_frame = p.number + self.delay + rank_shift;
        if pts_frame < p.number {
            if !self.clamped {
                self.clamped = true;
                self.findings.push(Finding::warning(
                    p.au.offset,
                    format!(
                        "frames are reordered deeper than the {}-frame delay: presentation \
                         times clamped to decode times",
                        self.delay
                    ),
                ));
            }
            pts_frame = p.number;
        }
        self.history.push_back((p.period, p.poc));
        if self.history.len() > REORDER_WINDOW {
            self.history.pop_front();
        }
        Some(TimedAu {
            number: p.number,
            dts: Ticks(p.number * self.dur),
            pts: Ticks(pts_frame * self.dur),
            poc: p.poc,
            au: p.au,
        })
    }
}

/// The SPS of the first access unit that has one (for the delay and the frame rate).
fn first_sps(t: &Timing) -> Option<Arc<Sps>> {
    t.window.iter().find_map(|p| p.au.sps.clone())
}

/// The presentation delay the stream declares (VUI `max_num_reorder_frames`, else
/// `max_dec_frame_buffering`), else the depth measured over the first access units.
fn choose_delay(t: &Timing) -> i64 {
    let declared = first_sps(t).and_then(|s| {
        let v = s.vui.as_ref()?;
        v.max_num_reorder_frames.or(v.max_dec_frame_buffering)
    });
    match declared {
        Some(d) => i64::from(d),
        None => t.measured_reorder_depth(),
    }
}

/// The opening part both the demuxer and the analyser do: read until the parameter sets are
/// known and enough access units are waiting to choose the delay; build the track.
pub struct Scan {
    src: Source,
    /// The splitter.
    pub split: AuSplitter,
    /// The timing stage.
    pub timing: Timing,
    eof: bool,
    /// True once the source and the splitter are both exhausted.
    drained: bool,
    leading: LeadingFilter,
    read_pos: u64,
    chunk: Vec<u8>,
    /// The track the stream holds.
    pub track: Track,
    /// Frame rate used, and where it came from (`--fps`, `VUI`, `default`).
    pub fps: FpsSource,
    findings: Vec<Finding>,
}

/// Where the frame rate came from.
pub type FpsSource = ((u32, u32), &'static str);

/// The track and the timing of a stream, once `split` has seen the parameter sets and
/// `prefetched` holds the first access units (their POCs computed with a placeholder clock):
/// the `avcC` from the first SPS/PPS of each id, the frame rate (`forced`, else VUI, else
/// 25), the clock, the delay, and the prefetched access units re-timed with them.
fn setup(
    split: &AuSplitter,
    leading: &LeadingFilter,
    prefetched: &Timing,
    forced: Option<(u32, u32)>,
) -> Result<(Track, Timing, FpsSource), FormatError> {
    let mut annexb = BytesMut::new();
    // The sets in force at the first keyframe when units with other sets were dropped before
    // it, else the first ones seen.
    let sets = if leading.in_force.is_empty() {
        split.first_parameter_sets()
    } else {
        &leading.in_force[..]
    };
    for n in sets {
        annexb.extend_from_slice(&[0, 0, 0, 1]);
        annexb.extend_from_slice(n);
    }
    let cfg = AvcConfig::from_annexb_parameter_sets(&annexb.freeze(), 0)?
        .ok_or_else(|| FormatError::whole_invalid(FORMAT, "no usable SPS and PPS"))?;
    let sps = cfg.first_sps()?;
    let fps = match (forced, sps.fps()) {
        (Some(f), _) => (f, "--fps"),
        (None, Some(f)) => (f, "VUI"),
        (None, None) => (DEFAULT_FPS, "default"),
    };
    let (tb, dur) = clock(fps.0);
    let mut timing = Timing::new(dur, 0);
    timing.set_delay(choose_delay(prefetched));
    for p in &prefetched.window {
        timing.push(p.au.clone());
    }
    let mut track = Track::new(TrackId(1), TrackKind::Video, Codec::H264, tb);
    track.init = cfg.build()?;
    let (num, den) = fps.0;
    let fpks = u32::try_from((u64::from(num) * 1000 + u64::from(den) / 2) / u64::from(den.max(1)))
        .unwrap_or(0);
    track.params = Params::Video(Video {
        width: sps.width(),
        height: sps.height(),
        fpks,
    });
    Ok((track, timing, fps))
}

impl Scan {
    /// Opens `src` (reading from its current position as absolute offset 0). With
    /// `keep_leading`, access units before the first keyframe are kept (the analyser lists
    /// every access unit, as ffprobe does); else they are dropped with a finding.
    pub fn open(src: Source, keep_leading: bool) -> Result<Scan, FormatError> {
        let forced = src.demux_options().fps;
        let mut s = Scan {
            src,
            split: AuSplitter::new(0),
            timing: Timing::new(1, 0),
            eof: false,
            drained: false,
            leading: LeadingFilter::new(!keep_leading),
            read_pos: 0,
            chunk: vec![0; READ_CHUNK],
            track: Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MPEG),
            fps: (DEFAULT_FPS, "default"),
            findings: Vec::new(),
        };
        let mut aus = 0usize;
        while aus < PREFETCH_AUS || !s.split.has_parameter_sets() {
            if aus >= MAX_AUS_BEFORE_PARAMETER_SETS {
                break;
            }
            match s.pull()? {
                Some(au) => {
                    s.timing.push(au);
                    aus += 1;
                }
                None => break,
            }
        }
        if !s.split.has_parameter_sets() {
            let what = if aus == 0 && s.leading.dropped > 0 {
                format!("no keyframe in {} access units", s.leading.dropped)
            } else if aus == 0 {
                "no access unit (not an H.264 Annex B stream)".to_string()
            } else {
                format!("no SPS and PPS in the first {aus} access units")
            };
            return Err(FormatError::invalid(
                FORMAT,
                s.read_pos.min(s.split.base),
                what,
            ));
        }
        let (track, timing, fps) = setup(&s.split, &s.leading, &s.timing, forced)?;
        s.track = track;
        s.timing = timing;
        s.fps = fps;
        Ok(s)
    }

    /// Reads the next access unit from the source.
    fn pull(&mut self) -> Result<Option<AccessUnit>, FormatError> {
        loop {
            if let Some(mut au) = self.split.next_au()? {
                self.findings.extend(self.split.take_findings());
                let (pass, finding) = self.leading.admit(&mut au);
                self.findings.extend(finding);
                if pass {
                    return Ok(Some(au));
                }
                continue;
            }
            self.findings.extend(self.split.take_findings());
            if self.eof {
                return Ok(None);
            }
            let n = loop {
                match self.src.read(&mut self.chunk) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(FormatError::io(FORMAT, self.read_pos, e)),
                }
            };
            if n == 0 {
                self.eof = true;
                self.split.finish();
            } else {
                self.split.feed(&self.chunk[..n]);
                self.read_pos += n as u64;
            }
        }
    }

    /// The next access unit with its times, in decode order.
    pub fn next_timed(&mut self) -> Result<Option<TimedAu>, FormatError> {
        loop {
            if let Some(t) = self.timing.pop(self.drained) {
                self.findings.extend(self.timing.take_findings());
                return Ok(Some(t));
            }
            match self.pull()? {
                Some(au) => self.timing.push(au),
                None => {
                    // Every access unit is known: the last ones can be timed now.
                    self.drained = true;
                    if self.timing.waiting() == 0 {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Findings met so far.
    pub fn take_findings(&mut self) -> Vec<Finding> {
        let mut f = std::mem::take(&mut self.findings);
        f.extend(self.split.take_findings());
        f.extend(self.timing.take_findings());
        f
    }

    /// Bytes read from the source.
    pub fn position(&self) -> u64 {
        self.read_pos
    }

    /// Restarts reading at `pos` (a keyframe's start code) as frame number `number`,
    /// keeping the parameter sets known so far.
    fn restart(&mut self, pos: u64, number: i64, delay: i64) -> Result<(), FormatError> {
        self.src
            .seek(SeekFrom::Start(pos))
            .map_err(|e| FormatError::io(FORMAT, pos, e))?;
        self.split = AuSplitter::resume(pos, &self.split);
        self.timing = Timing::new(self.timing.dur, number);
        self.timing.set_delay(delay);
        self.eof = false;
        self.drained = false;
        self.read_pos = pos;
        Ok(())
    }
}

/// The packet of a timed access unit.
pub fn to_packet(t: &TimedAu) -> Packet {
    Packet {
        track: TrackId(1),
        dts: t.dts,
        cts: i32::try_from(t.pts.0 - t.dts.0).unwrap_or(i32::MAX),
        keyframe: t.au.keyframe(),
        data: t.au.to_length_prefixed(),
        pos: Some(t.au.offset),
    }
}

/// A keyframe where reading can restart with exact times (an IDR picture).
#[derive(Clone, Copy, Debug)]
struct Restart {
    pos: u64,
    number: i64,
    dts: Ticks,
    /// The presentation delay in effect there.
    delay: i64,
}

/// Reads a `.h264` Annex B stream.
pub struct Demuxer {
    scan: Scan,
    meta: Meta,
    restarts: Vec<Restart>,
    initial_delay: i64,
}

/// Opens `src` as raw H.264 (the format table's `open`).
pub fn open(src: Source) -> Result<Box<dyn DemuxerTrait>, FormatError> {
    Ok(Box::new(Demuxer::open(src)?))
}

impl Demuxer {
    /// Opens `src`.
    pub fn open(src: Source) -> Result<Demuxer, FormatError> {
        let scan = Scan::open(src, false)?;
        let meta = Meta {
            tracks: vec![scan.track.clone()],
            ..Meta::default()
        };
        Ok(Demuxer {
            initial_delay: scan.timing.delay(),
            scan,
            meta,
            restarts: Vec::new(),
        })
    }
}

impl DemuxerTrait for Demuxer {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn next_packet(&mut self) -> Result<Option<Packet>, FormatError> {
        Ok(self.scan.next_timed()?.map(|t| to_packet(&t)))
    }

    fn build_index(&mut self) -> Result<(), FormatError> {
        if self.meta.index.is_some() {
            return Ok(());
        }
        if !self.scan.src.is_seekable() {
            return Err(FormatError::whole(
                FORMAT,
                Problem::Unsupported("indexing a raw H.264 stream that cannot seek".into()),
            ));
        }
        let resume = self.scan.read_pos;
        self.scan
            .src
            .seek(SeekFrom::Start(0))
            .map_err(|e| FormatError::whole(FORMAT, Problem::Io(e)))?;
        let mut opts = self.scan.src.demux_options().clone();
        opts.fps = Some(self.scan.fps.0);
        // A second scan over the same source: the source is handed over and back.
        let src = std::mem::replace(&mut self.scan.src, Source::from_bytes("", Vec::new()));
        let mut index_scan = Scan::open(src.with_demux_options(opts), false)?;
        let mut b = Builder::new(true, self.scan.track.timebase);
        let mut restarts = Vec::new();
        let result = (|| -> Result<(), FormatError> {
            while let Some(t) = index_scan.next_timed()? {
                if t.au.idr {
                    restarts.push(Restart {
                        pos: t.au.offset,
                        number: t.number,
                        dts: t.dts,
                        delay: index_scan.timing.delay(),
                    });
                }
                b.push(PartInfo {
                    dts: t.dts,
                    cts: i32::try_from(t.pts.0 - t.dts.0).unwrap_or(i32::MAX),
                    size: t.au.length_prefixed_len() as u32,
                    keyframe: t.au.keyframe(),
                    pos: t.au.offset,
                    unit_size: t.au.size,
                });
            }
            Ok(())
        })();
        let Scan { src, .. } = index_scan;
        self.scan.src = src;
        self.scan
            .src
            .seek(SeekFrom::Start(resume))
            .map_err(|e| FormatError::io(FORMAT, resume, e))?;
        result?;
        self.restarts = restarts;
        self.meta.index = Some(crate::dtsc::Index {
            tracks: vec![b.finish()],
        });
        Ok(())
    }

    fn seek(&mut self, to: Time) -> Result<(), FormatError> {
        self.build_index()?;
        let want = to.ceil_in(self.scan.track.timebase);
        let r = self
            .restarts
            .iter()
            .rev()
            .find(|r| r.dts <= want)
            .copied()
            .unwrap_or(Restart {
                pos: 0,
                number: 0,
                dts: Ticks(0),
                delay: self.initial_delay,
            });
        self.scan.restart(r.pos, r.number, r.delay)
    }

    fn position(&self) -> u64 {
        self.scan.position()
    }

    fn drop_index(&mut self) {
        self.meta.index = None;
    }

    fn take_findings(&mut self) -> Vec<Finding> {
        self.scan.take_findings()
    }
}

/// The incremental (sans-IO) `.h264` reader for streams that arrive in pieces (pipes,
/// HTTP bodies): the same access units and times as [`Demuxer`], as
/// [`Event`](crate::formats::Event)s. The track is announced once the parameter sets and
/// [`PREFETCH_AUS`] access units (or the end) have been seen.
pub struct StreamReader {
    split: AuSplitter,
    forced: Option<(u32, u32)>,
    /// Access units before the track is decided (POCs with a placeholder clock).
    prefetch: Timing,
    prefetched: usize,
    timing: Option<Timing>,
    leading: LeadingFilter,
    finished: bool,
    /// True once finished and every access unit is out of the splitter.
    drained: bool,
    events: VecDeque<crate::formats::Event>,
}

impl StreamReader {
    /// A reader; `fps` overrides the stream's frame rate.
    pub fn new(fps: Option<(u32, u32)>) -> StreamReader {
        StreamReader {
            split: AuSplitter::new(0),
            forced: fps,
            prefetch: Timing::new(1, 0),
            prefetched: 0,
            timing: None,
            leading: LeadingFilter::new(true),
            finished: false,
            drained: false,
            events: VecDeque::new(),
        }
    }

    fn queue_findings(&mut self) {
        let mut f = self.split.take_findings();
        if let Some(t) = self.timing.as_mut() {
            f.extend(t.take_findings());
        }
        self.events
            .extend(f.into_iter().map(crate::formats::Event::Finding));
    }
}

impl crate::formats::Reader for StreamReader {
    fn feed(&mut self, chunk: Bytes) {
        self.split.feed(&chunk);
    }

    fn next_event(&mut self) -> Result<Option<crate::formats::Event>, FormatError> {
        use crate::formats::Event;
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            if let Some(t) = self.timing.as_mut() {
                if let Some(au) = t.pop(self.drained) {
                    self.queue_findings();
                    self.events.push_front(Event::Packet(to_packet(&au)));
                    continue;
                }
                let Some(mut au) = self.split.next_au()? else {
                    if self.finished && !self.drained {
                        self.drained = true;
                        continue;
                    }
                    self.queue_findings();
                    if self.events.is_empty() {
                        return Ok(None);
                    }
                    continue;
                };
                let (pass, finding) = self.leading.admit(&mut au);
                self.events.extend(finding.map(Event::Finding));
                if let (true, Some(t)) = (pass, self.timing.as_mut()) {
                    t.push(au);
                }
                continue;
            }
            let au = self.split.next_au()?;
            self.queue_findings();
            let au = match au {
                Some(mut au) => {
                    let (pass, finding) = self.leading.admit(&mut au);
                    self.events.extend(finding.map(Event::Finding));
                    if !pass {
                        continue;
                    }
                    Some(au)
                }
                None => None,
            };
            let ready = match au {
                Some(au) => {
                    self.prefetch.push(au);
                    self.prefetched += 1;
                    self.split.has_parameter_sets() && self.prefetched >= PREFETCH_AUS
                }
                None if self.finished => {
                    if !self.split.has_parameter_sets() {
                        if self.prefetched == 0 {
                            return Ok(None);
                        }
                        return Err(FormatError::whole_invalid(
                            FORMAT,
                            format!("no SPS and PPS in {} access units", self.prefetched),
                        ));
                    }
                    true
                }
                None => return Ok(None),
            };
            if !ready {
                if self.prefetched >= MAX_AUS_BEFORE_PARAMETER_SETS {
                    return Err(FormatError::whole_invalid(
                        FORMAT,
                        format!(
                            "no SPS and PPS in the first {} access units",
                            self.prefetched
                        ),
                    ));
                }
                continue;
            }
            let (track, timing, _) =
                setup(&self.split, &self.leading, &self.prefetch, self.forced)?;
            self.prefetch = Timing::new(1, 0);
            self.timing = Some(timing);
            self.events.push_back(Event::Tracks(vec![track]));
        }
    }

    fn finish(&mut self) -> Result<(), FormatError> {
        self.split.finish();
        self.finished = true;
        Ok(())
    }
}

/// Scores the start of an input: a start code at the very beginning (after zero bytes),
/// then NAL units with the forbidden bit clear that include an SPS, a PPS and a slice (or an
/// AUD followed by a slice).
pub fn probe(head: &[u8]) -> Score {
    let zeros = head.iter().take_while(|&&b| b == 0).count();
    if !(2..=8).contains(&zeros) || head.get(zeros) != Some(&1) {
        return 0;
    }
    let (mut sps, mut pps, mut slice, mut aud, mut bad) = (false, false, false, false, 0);
    for (i, n) in AnnexBNals::new(Bytes::copy_from_slice(head), 0).enumerate() {
        if i >= 64 {
            break;
        }
        let Some(&b) = n.data.first() else { continue };
        if b & 0x80 != 0 {
            bad += 1;
            continue;
        }
        let (ref_idc, t) = ((b >> 5) & 3, b & 0x1f);
        match t {
            7 if ref_idc != 0 && Sps::parse(&n.data, 0).is_ok() => sps = true,
            8 if ref_idc != 0 => pps = true,
            1 | 5 => slice = true,
            9 => aud = true,
            0 | 24..=31 => bad += 1,
            _ => {}
        }
    }
    if bad > 0 {
        return 0;
    }
    match (sps, pps, slice, aud) {
        (true, true, true, _) => 90,
        (true, true, false, _) => 60,
        (_, _, true, true) => 50,
        _ => 0,
    }
}

/// Writes `.h264` Annex B the way ffmpeg's `-f h264` does (its `h264_mp4toannexb` filter):
/// packets as they are, with the SPS and PPS in force inserted before the first slice of
/// every keyframe that does not carry them before it, and the SPSs before a PPS that comes
/// before any SPS. No access unit delimiters are added (ffmpeg adds none either); those the
/// packets hold are kept.
///
/// "In force" is where this parts from ffmpeg, which always inserts the `avcC`'s sets: here
/// a set the packets carried replaces the `avcC`'s of its kind and id, so a keyframe after
/// an in-band SPS change is not handed the stale SPS its slices cannot be read with.
#[derive(Default)]
pub struct Muxer {
    /// The SPSs, then the PPSs, in force: the `avcC`'s, replaced by id by in-band ones.
    sets: Vec<Bytes>,
    track: Option<TrackId>,
}

/// `(is an SPS, id)` of a parameter set NAL unit; `None` for other NAL units, and an id of
/// `None` when the set cannot be read.
fn set_kind_id(d: &Bytes) -> Option<(bool, Option<u32>)> {
    match NalHeader::type_of(d) {
        NalType::SPS => Some((true, Sps::parse(d, 0).ok().map(|s| s.sps_id))),
        NalType::PPS => Some((false, Pps::parse(d, 0).ok().map(|p| p.pps_id))),
        _ => None,
    }
}

impl Muxer {
    /// Makes an in-band SPS or PPS the one in force for its id. A set whose id cannot be
    /// read is not kept: what it would replace is unknown. Ids bound the list (32 SPSs,
    /// 256 PPSs).
    fn remember(&mut self, d: &Bytes) {
        let Some((sps, Some(id))) = set_kind_id(d) else {
            return;
        };
        let same = |s: &Bytes| set_kind_id(s) == Some((sps, Some(id)));
        if let Some(slot) = self.sets.iter_mut().find(|s| same(s)) {
            if slot != d {
                *slot = d.clone();
            }
            return;
        }
        let at = if sps {
            self.sets
                .iter()
                .position(|s| NalHeader::type_of(s) == NalType::PPS)
                .unwrap_or(self.sets.len())
        } else {
            self.sets.len()
        };
        self.sets.insert(at, d.clone());
    }

    /// Remembers the parameter sets a packet carries.
    fn remember_all(&mut self, nals: impl IntoIterator<Item = AnnexBNal>) {
        for n in nals {
            if matches!(NalHeader::type_of(&n.data), NalType::SPS | NalType::PPS) {
                self.remember(&n.data);
            }
        }
    }
}

/// A new `.h264` muxer (the format table's `muxer`).
pub fn new_muxer(_: &MuxOptions) -> Box<dyn MuxerTrait> {
    Box::<Muxer>::default()
}

/// The parameter sets of a track's init data: an `avcC`, or Annex B NAL units.
fn parameter_sets(init: &Bytes) -> Vec<Bytes> {
    if let Ok(c) = AvcConfig::parse(init, 0) {
        return c.sps.into_iter().chain(c.pps).collect();
    }
    AnnexBNals::new(init.clone(), 0)
        .map(|n| n.data)
        .filter(|d| matches!(NalHeader::type_of(d), NalType::SPS | NalType::PPS))
        .collect()
}

impl MuxerTrait for Muxer {
    fn start(&mut self, meta: &Meta, _: &mut dyn ByteSink) -> Result<(), FormatError> {
        let t = super::single_track(
            meta,
            FORMAT,
            "a raw H.264 stream",
            Codec::H264,
            Framing::AnnexB,
        )?;
        self.sets = parameter_sets(&t.init);
        self.track = Some(t.id);
        Ok(())
    }

    fn write(&mut self, pkt: &Packet, out: &mut dyn ByteSink) -> Result<(), FormatError> {
        if Some(pkt.track) != self.track {
            return Ok(());
        }
        let at = out.position();
        let io = |e| FormatError::io(FORMAT, at, e);
        if !pkt.keyframe || self.sets.is_empty() {
            self.remember_all(AnnexBNals::new(pkt.data.clone(), 0));
            return out.put_shared(pkt.data.clone()).map_err(io);
        }
        let nals: Vec<_> = AnnexBNals::new(pkt.data.clone(), 0).collect();
        // As h264_mp4toannexb: a PPS met before any SPS gets the SPSs in force before it,
        // and the first slice gets the sets in force the packet has not carried before it.
        // Sets are told apart by their ids, so a keyframe carrying PPS 1 still gets PPS 0;
        // a set whose id cannot be read counts for every id of its kind, as ffmpeg counts it.
        let id = set_kind_id;
        let mut carried: Vec<(bool, Option<u32>)> = Vec::new();
        let mut sps_seen = false;
        let mut sliced = false;
        let mut buf = BytesMut::with_capacity(pkt.data.len() + 256);
        let put = |buf: &mut BytesMut, d: &[u8]| {
            buf.extend_from_slice(&[0, 0, 0, 1]);
            buf.extend_from_slice(d);
        };
        let mut changed = false;
        for n in &nals {
            let t = NalHeader::type_of(&n.data);
            if t == NalType::SPS || t == NalType::PPS {
                if t == NalType::PPS && !sps_seen {
                    for d in self
                        .sets
                        .iter()
                        .filter(|d| NalHeader::type_of(d) == NalType::SPS)
                    {
                        put(&mut buf, d);
                        carried.extend(id(d));
                        changed = true;
                    }
                }
                sps_seen = true;
                carried.extend(id(&n.data));
            } else if t.is_slice() && !sliced {
                sliced = true;
                // SPSs first, then PPSs, as an avcC lists them.
                for d in &self.sets {
                    let covered = id(d).is_some_and(|(kind, n)| {
                        carried
                            .iter()
                            .any(|&(k, c)| k == kind && (c.is_none() || c == n))
                    });
                    if !covered {
                        put(&mut buf, d);
                        carried.extend(id(d));
                        changed = true;
                    }
                }
            }
            put(&mut buf, &n.data);
        }
        self.remember_all(nals);
        if !changed {
            return out.put_shared(pkt.data.clone()).map_err(io);
        }
        out.put_shared(buf.freeze()).map_err(io)
    }

    fn finish(&mut self, _: &mut dyn ByteSink) -> Result<Finish, FormatError> {
        Ok(Finish::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pieces: &[&[u8]]) -> Vec<(u64, u64, usize)> {
        let mut s = AuSplitter::new(0);
        let mut out = Vec::new();
        for p in pieces {
            s.feed(p);
            while let Some(au) = s.next_au().unwrap() {
                out.push((au.offset, au.size, au.nals.len()));
            }
        }
        s.finish();
        while let Some(au) = s.next_au().unwrap() {
            out.push((au.offset, au.size, au.nals.len()));
        }
        out
    }

    #[test]
    fn clock_is_exact() {
        // Hand-computed: 25 fps = 3600 ticks of 90 kHz; 30000/1001 = 3003; 24000/1001 is not
        // whole in 90 kHz (3753.75), so its own numerator: 1001 ticks of 1/24000.
        assert_eq!(clock((25, 1)), (Timebase::MPEG, 3600));
        assert_eq!(clock((30000, 1001)), (Timebase::MPEG, 3003));
        assert_eq!(clock((24000, 1001)), (Timebase::new(24000).unwrap(), 1001));
    }

    #[test]
    fn aud_starts_access_units_however_the_input_is_cut() {
        // Hand-made: AUD, non-IDR slice (first_mb 0: `1` ue = 0x80), AUD, slice, trailing zero.
        let s: &[u8] = &[
            0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 0x80, 0x11, 0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1,
            0x41, 0x80, 0x22, 0,
        ];
        let whole = split(&[s]);
        // AU 0: bytes 0..12 (up to the 4-byte start code of the second AUD), 2 NAL units;
        // AU 1: the 13 bytes after, its trailing zero included.
        assert_eq!(whole, vec![(0, 12, 2), (12, 13, 2)]);
        for cut in 0..s.len() {
            assert_eq!(split(&[&s[..cut], &s[cut..]]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn fixture_splits_the_same_however_it_is_cut() {
        // Oracle: the one-piece split of the same bytes (the sans-IO contract), and the
        // sidecar's count (50 access units).
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/h264_bframes.h264");
        let data = std::fs::read(path).unwrap();
        let whole = split(&[&data]);
        assert_eq!(whole.len(), 50);
        for cut in (0..data.len())
            .step_by(997)
            .chain([1, 2, 3, 4, 5, 3188, 3189, 3190])
        {
            assert_eq!(split(&[&data[..cut], &data[cut..]]), whole, "cut at {cut}");
        }
    }

    /// A started muxer for one H.264 track whose avcC holds `sets` (SPS then PPS).
    fn muxer_with(sets: &[&[u8]]) -> (Muxer, crate::io::sink::VecSink) {
        let mut annexb = BytesMut::new();
        for n in sets {
            annexb.extend_from_slice(&[0, 0, 0, 1]);
            annexb.extend_from_slice(n);
        }
        let mut t = Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MPEG);
        t.framing = Framing::AnnexB;
        t.init = AvcConfig::from_annexb_parameter_sets(&annexb.freeze(), 0)
            .unwrap()
            .unwrap()
            .build()
            .unwrap();
        let meta = Meta {
            tracks: vec![t],
            ..Meta::default()
        };
        let mut m = Muxer::default();
        let mut out = crate::io::sink::VecSink::default();
        m.start(&meta, &mut out).unwrap();
        (m, out)
    }

    /// A packet of the track [`muxer_with`] writes.
    fn h264_packet(data: Bytes, keyframe: bool) -> Packet {
        Packet {
            track: TrackId(1),
            dts: Ticks(0),
            cts: 0,
            keyframe,
            data,
            pos: None,
        }
    }

    #[test]
    fn muxer_inserts_parameter_sets_before_the_first_slice_of_a_bare_keyframe() {
        // Oracle: what `ffmpeg -i h264_only.flv -c copy -f h264` writes for the first frame
        // (observed NAL types 6, 7, 8, 5: SEI, then SPS and PPS from the avcC, then the IDR
        // slice); a later keyframe that carries its own SPS/PPS is left alone.
        let sps = Bytes::from_static(&[0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40]);
        let pps = Bytes::from_static(&[0x68, 0xce, 0x06, 0x72]);
        let (mut m, mut out) = muxer_with(&[&sps, &pps]);
        let pkt = |data: &'static [u8], keyframe| h264_packet(Bytes::from_static(data), keyframe);
        m.write(
            &pkt(&[0, 0, 0, 1, 0x06, 5, 0x80, 0, 0, 0, 1, 0x65, 0x88], true),
            &mut out,
        )
        .unwrap();
        m.write(&pkt(&[0, 0, 0, 1, 0x41, 0x9a], false), &mut out)
            .unwrap();
        let types: Vec<u8> = AnnexBNals::new(Bytes::from(out.data.clone()), 0)
            .map(|n| n.data[0] & 0x1f)
            .collect();
        assert_eq!(types, vec![6, 7, 8, 5, 1]);
        let nals: Vec<Bytes> = AnnexBNals::new(Bytes::from(out.data), 0)
            .map(|n| n.data)
            .collect();
        assert_eq!((&nals[1], &nals[2]), (&sps, &pps));
        // h264_mp4toannexb's other two rules (libavcodec/bsf/h264_mp4toannexb.c): a PPS that
        // comes before any SPS gets the avcC's SPS before it, and a keyframe with its own SPS
        // but no PPS gets the avcC's PPS before its slice. Types 6, 7, 8, 5 and 7, 8, 5.
        let mut out = crate::io::sink::VecSink::default();
        m.write(
            &pkt(&[0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88], true),
            &mut out,
        )
        .unwrap();
        m.write(
            &pkt(&[0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x65, 0x88], true),
            &mut out,
        )
        .unwrap();
        let types: Vec<u8> = AnnexBNals::new(Bytes::from(out.data.clone()), 0)
            .map(|n| n.data[0] & 0x1f)
            .collect();
        assert_eq!(types, vec![7, 8, 5, 7, 8, 5]);
        // A keyframe carrying only PPS 1 (hand-encoded: pps_id 1, sps_id 0, CAVLC, all
        // defaults) still needs the avcC's PPS 0 its slice may refer to: types 7, 8, 8, 5.
        let pps1: &'static [u8] = &[0, 0, 0, 1, 0x68, 0x53, 0x8e, 0x20, 0, 0, 0, 1, 0x65, 0x88];
        assert_eq!(Pps::parse(&pps1[4..8], 0).unwrap().pps_id, 1);
        let mut out = crate::io::sink::VecSink::default();
        m.write(&pkt(pps1, true), &mut out).unwrap();
        let nals: Vec<Bytes> = AnnexBNals::new(Bytes::from(out.data), 0)
            .map(|n| n.data)
            .collect();
        let types: Vec<u8> = nals.iter().map(|n| n[0] & 0x1f).collect();
        assert_eq!(types, vec![7, 8, 8, 5]);
        assert_eq!(nals[2], pps);
    }

    #[test]
    fn muxer_inserts_the_sets_in_force_not_the_avccs_after_an_in_band_change() {
        // The avcC holds SPS 0 at level 1.3 and PPS 0; a non-keyframe then carries a new
        // SPS 0 (level 3.0) and PPS 0 (CABAC) in band. A bare keyframe after it must get
        // those: its slices were coded against them. Layout computed by hand: the in-band
        // pair, then the IDR slice.
        let sps = Bytes::from_static(&[0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40]);
        let pps = Bytes::from_static(&[0x68, 0xce, 0x06, 0x72]);
        let sps2 =
            Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1e, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40]);
        let pps2 = Bytes::from_static(&[0x68, 0xee, 0x3c, 0x80]);
        assert_eq!(Sps::parse(&sps2, 0).unwrap().sps_id, 0);
        assert_eq!(Pps::parse(&pps2, 0).unwrap().pps_id, 0);
        assert_ne!(Pps::parse(&pps2, 0).unwrap(), Pps::parse(&pps, 0).unwrap());
        let annexb = |nals: &[&[u8]]| {
            let mut b = BytesMut::new();
            for n in nals {
                b.extend_from_slice(&[0, 0, 0, 1]);
                b.extend_from_slice(n);
            }
            b.freeze()
        };
        let (mut m, mut out) = muxer_with(&[&sps, &pps]);
        let pkt = h264_packet;
        m.write(&pkt(annexb(&[&[0x65, 0x88]]), true), &mut out)
            .unwrap();
        m.write(
            &pkt(annexb(&[&sps2, &pps2, &[0x41, 0x9a]]), false),
            &mut out,
        )
        .unwrap();
        let before = out.data.len();
        m.write(&pkt(annexb(&[&[0x65, 0x88]]), true), &mut out)
            .unwrap();
        assert_eq!(
            &out.data[before..],
            &annexb(&[&sps2, &pps2, &[0x65, 0x88]])[..]
        );
        // The first keyframe still got the avcC's own pair.
        assert_eq!(
            &out.data[..22],
            &annexb(&[&sps, &pps])[..],
            "the avcC's sets before the first keyframe"
        );
    }

    #[test]
    fn stream_reader_gives_the_demuxers_packets_however_the_input_is_cut() {
        // Oracle: the file demuxer on the same bytes (and the sans-IO contract: the events
        // do not depend on the cuts).
        use crate::formats::{Event, Reader as _};
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/h264_bframes.h264");
        let data = std::fs::read(path).unwrap();
        let mut want = Vec::new();
        let mut d = Demuxer::open(Source::from_bytes("b.h264", data.clone())).unwrap();
        while let Some(p) = d.next_packet().unwrap() {
            want.push(p);
        }
        for piece in [1usize, 7, 1000, 4096, data.len()] {
            let mut r = StreamReader::new(None);
            let (mut tracks, mut got) = (Vec::new(), Vec::new());
            let mut take = |r: &mut StreamReader| {
                while let Some(e) = r.next_event().unwrap() {
                    match e {
                        Event::Tracks(t) => tracks.push(t),
                        Event::Packet(p) => got.push(p),
                        Event::Finding(f) => panic!("finding {f:?}"),
                    }
                }
            };
            for c in data.chunks(piece) {
                r.feed(Bytes::copy_from_slice(c));
                take(&mut r);
            }
            r.finish().unwrap();
            take(&mut r);
            assert_eq!(tracks, vec![d.meta().tracks.clone()], "pieces of {piece}");
            assert_eq!(got, want, "pieces of {piece}");
        }
    }
}
