//! A track's samples in the compact form the file stores them: the runs of `stts`, `ctts` and
//! `stsc`, `stsz` (one constant or the file's own list), the chunk offsets, the sync sample
//! numbers, and per `trun` its defaults and only the per-sample fields the file carries.
//! Samples are produced one at a time by a [`Cursor`] walking those tables, so memory follows
//! the tables the file holds, not the number of samples they claim (a 12-byte `trun` or a
//! constant `stsz` may claim millions). The edit list is kept as a range of `moov` samples and
//! a shift of every decode time.

use super::boxes::stsc::StscEntry;
use super::boxes::stsz::Stsz;
use super::reader::Trak;

/// One sample, as the tables describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Absolute file offset of its data.
    pub offset: u64,
    /// Decode time in track ticks (edit list applied when it comes from a [`Table`]).
    pub dts: i64,
    /// Bytes.
    pub size: u32,
    /// Composition offset.
    pub cts: i32,
    /// Sync sample (random access point).
    pub sync: bool,
}

/// The sample tables of a track's `moov` part.
#[derive(Clone, Debug, Default)]
pub struct MoovTables {
    /// Decode durations: (count, delta) runs.
    pub stts: Vec<(u32, u32)>,
    /// Composition offsets: (count, offset) runs.
    pub ctts: Vec<(u32, i32)>,
    /// Sync sample numbers (1-based), sorted, without repeats; `None`: every sample is sync.
    pub stss: Option<Vec<u32>>,
    /// Sample-to-chunk runs.
    pub stsc: Vec<StscEntry>,
    /// Sample sizes.
    pub stsz: Stsz,
    /// Chunk offsets.
    pub stco: Vec<u64>,
    /// Samples the chunks place (at most `stsz`'s count).
    pub count: u64,
}

impl MoovTables {
    /// Takes the tables out of a parsed `trak` (leaving them empty there), counting the samples
    /// the chunks place.
    pub fn take(t: &mut Trak) -> MoovTables {
        let mut stss = t.stss.take().map(|s| s.samples);
        if let Some(s) = &mut stss {
            s.sort_unstable();
            s.dedup();
        }
        let mut m = MoovTables {
            stts: std::mem::take(&mut t.stts.entries),
            ctts: t.ctts.take().map(|c| c.entries).unwrap_or_default(),
            stss,
            stsc: std::mem::take(&mut t.stsc.entries),
            stsz: std::mem::take(&mut t.stsz),
            stco: std::mem::take(&mut t.stco.offsets),
            count: 0,
        };
        m.count = m.placed();
        m
    }

    /// Samples the chunks hold, capped at the `stsz` count.
    fn placed(&self) -> u64 {
        let n = u64::from(self.stsz.count);
        let mut placed = 0u64;
        let mut run = 0usize;
        for k in 0..self.stco.len() {
            let chunk_no = k as u64 + 1;
            while run + 1 < self.stsc.len() && u64::from(self.stsc[run + 1].first_chunk) <= chunk_no
            {
                run += 1;
            }
            let Some(e) = self.stsc.get(run) else { break };
            placed += u64::from(e.samples_per_chunk);
            if placed >= n {
                return n;
            }
        }
        placed
    }

    /// Decode time after `count` samples at the tables' deltas (the last delta repeating
    /// past the table's end, as the sample walk does).
    fn decode_end(&self) -> i64 {
        let mut left = self.count;
        let mut t = 0i64;
        for &(n, d) in &self.stts {
            let k = left.min(u64::from(n));
            t = t.saturating_add((k as i64).saturating_mul(i64::from(d)));
            left -= k;
        }
        let last = self.stts.last().map_or(0, |e| e.1);
        t.saturating_add((left as i64).saturating_mul(i64::from(last)))
    }
}

/// One `trun`: where its data starts, its first decode time, its defaults, and the per-sample
/// fields the file carries (each list empty or `count` long).
#[derive(Clone, Debug, Default)]
pub struct FragRun {
    /// File offset of the first sample's data.
    pub data_offset: u64,
    /// Decode time of the first sample.
    pub dts: i64,
    /// Samples.
    pub count: u32,
    /// Duration of samples without their own.
    pub default_duration: u32,
    /// Size of samples without their own.
    pub default_size: u32,
    /// Flags of samples without their own.
    pub default_flags: u32,
    /// Flags of the first sample, when the `trun` gives them.
    pub first_flags: Option<u32>,
    /// Per-sample durations.
    pub durations: Vec<u32>,
    /// Per-sample sizes.
    pub sizes: Vec<u32>,
    /// Per-sample flags.
    pub flags: Vec<u32>,
    /// Per-sample composition offsets.
    pub ctos: Vec<i32>,
}

impl FragRun {
    fn duration(&self, i: usize) -> u32 {
        self.durations
            .get(i)
            .copied()
            .unwrap_or(self.default_duration)
    }

    /// Decode time after the last sample.
    pub fn decode_end(&self) -> i64 {
        if self.durations.is_empty() {
            self.dts.saturating_add(
                i64::from(self.count).saturating_mul(i64::from(self.default_duration)),
            )
        } else {
            self.durations
                .iter()
                .fold(self.dts, |t, &d| t.saturating_add(i64::from(d)))
        }
    }

    fn sample(&self, i: usize, offset: u64, dts: i64) -> Sample {
        let flags = match (i, self.first_flags) {
            (0, Some(f)) => f,
            _ => self.flags.get(i).copied().unwrap_or(self.default_flags),
        };
        Sample {
            offset,
            dts,
            size: self.sizes.get(i).copied().unwrap_or(self.default_size),
            cts: self.ctos.get(i).copied().unwrap_or(0),
            sync: super::boxes::fragment::is_sync(flags),
        }
    }
}

/// A track's samples: the `moov` tables, the fragments, and the edit list's effect.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// The `moov` part.
    pub moov: MoovTables,
    /// The fragments, in file order.
    pub frags: Vec<FragRun>,
    /// Samples in the fragments.
    pub frag_count: u64,
    /// First `moov` sample the edit list keeps.
    pub first: u64,
    /// One past the last `moov` sample the edit list keeps.
    pub end: u64,
    /// Added to every decode time (the edit list's shift).
    pub shift: i64,
}

impl Table {
    /// A table of `moov` samples and fragments, every sample kept, no shift.
    pub fn new(moov: MoovTables, frags: Vec<FragRun>) -> Table {
        let frag_count = frags.iter().map(|f| u64::from(f.count)).sum();
        let end = moov.count;
        Table {
            moov,
            frags,
            frag_count,
            first: 0,
            end,
            shift: 0,
        }
    }

    /// Samples kept.
    pub fn len(&self) -> u64 {
        self.end - self.first + self.frag_count
    }

    /// True when no sample is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kept samples, in decode order, edit list applied.
    pub fn iter(&self) -> Samples<'_> {
        Samples {
            table: self,
            cur: Cursor::start(self),
        }
    }

    /// Every `moov` sample as the tables say, without the edit list.
    pub fn moov_samples(&self) -> impl Iterator<Item = Sample> + '_ {
        let mut m = MoovCursor::default();
        (0..self.moov.count).map_while(move |_| m.next(&self.moov))
    }

    /// The byte ranges of its chunks and runs.
    pub fn chunk_ranges(&self) -> ChunkRanges<'_> {
        ChunkRanges {
            table: self,
            chunk: 0,
            run: 0,
            placed: 0,
            frag: 0,
        }
    }

    /// The first kept sample.
    pub fn first_sample(&self) -> Option<Sample> {
        self.iter().next()
    }

    /// Decode time after the last kept sample (the end of its duration), edit list applied.
    pub fn decode_end(&self) -> i64 {
        let raw = match self.frags.last() {
            Some(f) => f.decode_end(),
            None if self.end < self.moov.count => {
                // The edit list dropped samples at the end: the first dropped one's time.
                let mut m = MoovCursor::default();
                let mut t = 0;
                for _ in 0..=self.end {
                    match m.next(&self.moov) {
                        Some(s) => t = s.dts,
                        None => break,
                    }
                }
                t
            }
            None => self.moov.decode_end(),
        };
        raw.saturating_add(self.shift)
    }
}

/// The byte ranges `(start, end)` of a table's chunks (`moov` chunks in `stco` order, then
/// each `trun`), every sample the tables place included (the edit list does not move data).
pub struct ChunkRanges<'a> {
    table: &'a Table,
    chunk: usize,
    run: usize,
    placed: u64,
    frag: usize,
}

impl Iterator for ChunkRanges<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        let m = &self.table.moov;
        if self.placed < m.count {
            let off = *m.stco.get(self.chunk)?;
            let chunk_no = self.chunk as u64 + 1;
            while self.run + 1 < m.stsc.len()
                && u64::from(m.stsc[self.run + 1].first_chunk) <= chunk_no
            {
                self.run += 1;
            }
            let n = u64::from(m.stsc.get(self.run)?.samples_per_chunk).min(m.count - self.placed);
            let bytes = if m.stsz.constant != 0 {
                n.saturating_mul(u64::from(m.stsz.constant))
            } else {
                let from = self.placed as usize;
                m.stsz
                    .sizes
                    .get(from..from + n as usize)
                    .map_or(0, |s| s.iter().map(|&x| u64::from(x)).sum())
            };
            self.placed += n;
            self.chunk += 1;
            return Some((off, off.saturating_add(bytes)));
        }
        let f = self.table.frags.get(self.frag)?;
        self.frag += 1;
        let bytes = if f.sizes.is_empty() {
            u64::from(f.count).saturating_mul(u64::from(f.default_size))
        } else {
            f.sizes.iter().map(|&x| u64::from(x)).sum()
        };
        Some((f.data_offset, f.data_offset.saturating_add(bytes)))
    }
}

/// The first place where the data of two chunks or runs overlap (the tables put samples on
/// top of each other, which no muxer does): the byte where it happens. Memory stays constant
/// when each table's chunks come in increasing order, as muxers write them; a table whose
/// chunks do not is sorted first.
pub fn first_overlap(tables: &[&Table]) -> Option<u64> {
    let mut heads: Vec<Box<dyn Iterator<Item = (u64, u64)> + '_>> = Vec::new();
    for t in tables {
        let mut last = 0u64;
        let ordered = t.chunk_ranges().filter(|r| r.1 > r.0).all(|(a, b)| {
            let ok = a >= last;
            last = b;
            ok
        });
        if ordered {
            heads.push(Box::new(t.chunk_ranges().filter(|r| r.1 > r.0)));
        } else {
            let mut v: Vec<(u64, u64)> = t.chunk_ranges().filter(|r| r.1 > r.0).collect();
            v.sort_unstable();
            heads.push(Box::new(v.into_iter()));
        }
    }
    let mut cur: Vec<Option<(u64, u64)>> = heads.iter_mut().map(|h| h.next()).collect();
    let mut end = 0u64;
    loop {
        let (i, (a, b)) = cur
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (i, r)))
            .min_by_key(|(_, r)| r.0)?;
        if a < end {
            return Some(a);
        }
        end = b;
        cur[i] = heads[i].next();
    }
}

/// Where a walk over a [`Table`] is; it borrows nothing, so it can live beside its table.
#[derive(Clone, Debug, Default)]
pub struct Cursor {
    moov: MoovCursor,
    /// Index of the next sample among the kept ones.
    pub index: u64,
    frag: usize,
    frag_i: u32,
    frag_offset: u64,
    frag_dts: i64,
}

impl Cursor {
    /// At the first kept sample of `t`.
    pub fn start(t: &Table) -> Cursor {
        let mut c = Cursor::default();
        for _ in 0..t.first {
            if c.moov.next(&t.moov).is_none() {
                break;
            }
        }
        if let Some(f) = t.frags.first() {
            c.frag_offset = f.data_offset;
            c.frag_dts = f.dts;
        }
        c
    }

    /// At kept sample `k` of `t` (walks from the start).
    pub fn at(t: &Table, k: u64) -> Cursor {
        let mut c = Cursor::start(t);
        for _ in 0..k {
            if c.next(t).is_none() {
                break;
            }
        }
        c
    }

    /// The next kept sample, edit list applied.
    pub fn next(&mut self, t: &Table) -> Option<Sample> {
        let kept_moov = t.end - t.first;
        let mut s = if self.index < kept_moov {
            self.moov.next(&t.moov)?
        } else {
            loop {
                let f = t.frags.get(self.frag)?;
                if self.frag_i < f.count {
                    let s = f.sample(self.frag_i as usize, self.frag_offset, self.frag_dts);
                    self.frag_offset = self.frag_offset.saturating_add(u64::from(s.size));
                    self.frag_dts = self
                        .frag_dts
                        .saturating_add(i64::from(f.duration(self.frag_i as usize)));
                    self.frag_i += 1;
                    break s;
                }
                self.frag += 1;
                self.frag_i = 0;
                if let Some(n) = t.frags.get(self.frag) {
                    self.frag_offset = n.data_offset;
                    self.frag_dts = n.dts;
                }
            }
        };
        self.index += 1;
        s.dts = s.dts.saturating_add(t.shift);
        Some(s)
    }
}

/// The kept samples of a table, in order.
pub struct Samples<'a> {
    table: &'a Table,
    cur: Cursor,
}

impl Iterator for Samples<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        self.cur.next(self.table)
    }
}

/// Where a walk over the `moov` tables is.
#[derive(Clone, Debug, Default)]
struct MoovCursor {
    k: u64,
    /// Next chunk to open (0-based).
    chunk: usize,
    run: usize,
    left: u32,
    offset: u64,
    dts: i64,
    stts_run: usize,
    stts_used: u32,
    ctts_run: usize,
    ctts_used: u32,
    stss_at: usize,
}

impl MoovCursor {
    fn next(&mut self, m: &MoovTables) -> Option<Sample> {
        if self.k >= m.count {
            return None;
        }
        while self.left == 0 {
            let off = *m.stco.get(self.chunk)?;
            let chunk_no = self.chunk as u64 + 1;
            while self.run + 1 < m.stsc.len()
                && u64::from(m.stsc[self.run + 1].first_chunk) <= chunk_no
            {
                self.run += 1;
            }
            self.left = m.stsc.get(self.run)?.samples_per_chunk;
            self.offset = off;
            self.chunk += 1;
        }
        let size = m.stsz.size(self.k as usize).unwrap_or(0);
        // Decode duration of this sample: its stts run, or the last run's past the table.
        while m
            .stts
            .get(self.stts_run)
            .is_some_and(|e| self.stts_used >= e.0)
        {
            self.stts_run += 1;
            self.stts_used = 0;
        }
        let delta = match m.stts.get(self.stts_run) {
            Some(e) => {
                self.stts_used += 1;
                e.1
            }
            None => m.stts.last().map_or(0, |e| e.1),
        };
        while m
            .ctts
            .get(self.ctts_run)
            .is_some_and(|e| self.ctts_used >= e.0)
        {
            self.ctts_run += 1;
            self.ctts_used = 0;
        }
        let cts = match m.ctts.get(self.ctts_run) {
            Some(e) => {
                self.ctts_used += 1;
                e.1
            }
            None => 0,
        };
        let number = self.k + 1;
        let sync = match &m.stss {
            None => true,
            Some(list) => {
                while list
                    .get(self.stss_at)
                    .is_some_and(|&n| u64::from(n) < number)
                {
                    self.stss_at += 1;
                }
                list.get(self.stss_at)
                    .is_some_and(|&n| u64::from(n) == number)
            }
        };
        let s = Sample {
            offset: self.offset,
            dts: self.dts,
            size,
            cts,
            sync,
        };
        self.offset = self.offset.saturating_add(u64::from(size));
        self.dts = self.dts.saturating_add(i64::from(delta));
        self.left -= 1;
        self.k += 1;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> MoovTables {
        // 7 samples in chunks of 3, 3, 1 at 1000, 2000, 3000; sizes 10..16; durations
        // 512 x4 then 256 x3; ctts 1024, 0, 512, then none; sync samples 1 and 5 (listed out
        // of order and twice).
        let mut t = MoovTables {
            stts: vec![(4, 512), (3, 256)],
            ctts: vec![(1, 1024), (1, 0), (1, 512)],
            stss: Some(vec![1, 5]),
            stsc: vec![
                StscEntry {
                    first_chunk: 1,
                    samples_per_chunk: 3,
                    description: 1,
                },
                StscEntry {
                    first_chunk: 3,
                    samples_per_chunk: 1,
                    description: 1,
                },
            ],
            stsz: Stsz {
                constant: 0,
                count: 7,
                sizes: (10..17).collect(),
            },
            stco: vec![1000, 2000, 3000],
            count: 0,
        };
        t.count = t.placed();
        t
    }

    /// Oracle: the tables above walked by hand.
    #[test]
    fn walks_the_tables_sample_by_sample() {
        let t = Table::new(tables(), Vec::new());
        let got: Vec<_> = t.iter().collect();
        let s = |offset, dts, size, cts, sync| Sample {
            offset,
            dts,
            size,
            cts,
            sync,
        };
        assert_eq!(
            got,
            vec![
                s(1000, 0, 10, 1024, true),
                s(1010, 512, 11, 0, false),
                s(1021, 1024, 12, 512, false),
                s(2000, 1536, 13, 0, false),
                s(2013, 2048, 14, 0, true),
                s(2027, 2304, 15, 0, false),
                s(3000, 2560, 16, 0, false),
            ]
        );
        assert_eq!(t.decode_end(), 2816);
        assert_eq!(t.moov.decode_end(), 2816);
    }

    /// Oracle: the same walk with the first two and the last sample cut and every time
    /// shifted; and fragments after the `moov` samples (a 12-byte `trun` claiming many
    /// samples costs no memory per sample).
    #[test]
    fn edits_and_fragments() {
        let mut t = Table::new(
            tables(),
            vec![FragRun {
                data_offset: 5000,
                dts: 4000,
                count: 1_000_000,
                default_duration: 10,
                default_size: 3,
                default_flags: 0x0101_0000,
                first_flags: Some(0x0200_0000),
                ..FragRun::default()
            }],
        );
        t.first = 2;
        t.end = 6;
        t.shift = -100;
        assert_eq!(t.len(), 1_000_004);
        let got: Vec<_> = t
            .iter()
            .take(6)
            .map(|s| (s.offset, s.dts, s.sync))
            .collect();
        assert_eq!(
            got,
            vec![
                (1021, 924, false),
                (2000, 1436, false),
                (2013, 1948, true),
                (2027, 2204, false),
                (5000, 3900, true),
                (5003, 3910, false),
            ]
        );
        assert_eq!(t.decode_end(), 4000 + 10_000_000 - 100);
        let mut c = Cursor::at(&t, 5);
        assert_eq!(c.next(&t).map(|s| s.offset), Some(5003));
        assert_eq!(t.iter().count() as u64, t.len());
    }

    /// Oracle: the chunk ranges of the tables above by hand (sizes 10+11+12, 13+14+15, 16),
    /// then overlaps placed on purpose.
    #[test]
    fn chunk_ranges_and_overlaps() {
        let t = Table::new(tables(), Vec::new());
        assert_eq!(
            t.chunk_ranges().collect::<Vec<_>>(),
            vec![(1000, 1033), (2000, 2042), (3000, 3016)]
        );
        assert_eq!(first_overlap(&[&t]), None);
        // A second track interleaved between them, then one that runs into chunk 2.
        let mut other = tables();
        other.stco = vec![1033, 2042, 3016];
        let o = Table::new(other, Vec::new());
        assert_eq!(first_overlap(&[&t, &o]), None);
        let mut bad = tables();
        bad.stco = vec![100, 1990, 5000];
        let b = Table::new(bad, Vec::new());
        assert_eq!(first_overlap(&[&t, &b]), Some(2000));
        // Chunks out of order within a track, overlapping each other.
        let mut shuffled = tables();
        shuffled.stco = vec![3000, 1000, 1020];
        let s = Table::new(shuffled, Vec::new());
        assert_eq!(first_overlap(&[&s]), Some(1020));
    }
}
