//! Smooth Streaming fragments ([MS-SSTR] 2.2.4): one track each,
//!
//! ```text
//! moof  mfhd  sequence number: the segment number + 1
//!       traf  tfhd  track id (no base data offset: data offsets count from the moof)
//!             tfdt  version 1: the first sample's decode time (ISO/IEC 14496-12 §8.8.12)
//!             trun  per sample duration, size, flags, composition offset (version 1 when
//!                   one is negative), data offset to the first byte of the mdat body
//!             tfxd  FragmentAbsoluteTime (= tfdt) and FragmentDuration (the samples' sum)
//!             tfrf  live only: the fragments that follow, as known when this one was made
//! mdat  the samples
//! ```
//! Times are 100 ns units, rescaled from each sample's absolute decode time (never summed
//! rounded durations). `tfdt` is not in MS-SSTR's ABNF; ISO readers (FFmpeg, ExoPlayer)
//! time fragments by it, and players of Smooth ignore it.

use bytes::Bytes;

use crate::dtsc::{Codec, Packet, Ticks, Track, TrackKind};
use crate::formats::error::{FormatError, Problem};
use crate::formats::mp4::boxes::fragment::{
    parse_mfhd, parse_tfdt, write_mfhd, write_tfdt, Tfhd, Trun, TrunSample, SAMPLE_NON_SYNC,
    SAMPLE_SYNC,
};
use crate::formats::mp4::boxes::{header_bytes, next_child, Writer};
use crate::io::Cursor;

use super::boxes::{
    parse_tfrf, parse_tfxd, write_tfrf, write_tfxd, FragmentTime, TFRF_UUID, TFXD_UUID,
};
use super::timebase;

/// The name errors carry.
pub const FORMAT: &str = "smooth";

/// What a fragment is made of.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The track (canonical framing).
    pub track: &'a Track,
    /// `mfhd` sequence number.
    pub sequence: u32,
    /// The track's packets of the segment, in decode order (at least one).
    pub packets: &'a [Packet],
    /// Where the last sample ends: the decode time of the track's next packet, when known.
    pub end: Option<Ticks>,
    /// Live: the fragments `tfrf` announces (`None`: no `tfrf`, on demand).
    pub lookahead: Option<&'a [FragmentTime]>,
}

/// A fragment and the time span it covers (100 ns).
#[derive(Clone, Debug)]
pub struct Written {
    /// The bytes.
    pub data: Bytes,
    /// Its `tfxd`.
    pub time: FragmentTime,
}

/// A sample's duration when nothing says how long it lasts: one AAC frame, or a 25 fps
/// video frame (only a lone last sample of a stream can need it).
fn default_duration(t: &Track) -> u64 {
    let tb = timebase();
    match (&t.codec, t.audio()) {
        (Codec::Aac, Some(a)) if a.rate > 0 => {
            (1024 * u64::from(tb.per_second())) / u64::from(a.rate)
        }
        _ => u64::from(tb.per_second()) / 25,
    }
}

/// The first decode time of `packets` in 100 ns units.
pub fn start_time(track: &Track, packets: &[Packet]) -> Option<u64> {
    let p = packets.first()?;
    u64::try_from(track.timebase.rescale(p.dts.0, timebase())).ok()
}

/// Writes one fragment.
pub fn write(input: &Input) -> Result<Written, FormatError> {
    let t = input.track;
    let tb = timebase();
    if input.packets.is_empty() {
        return Err(FormatError::invalid(FORMAT, 0, "a fragment needs a sample"));
    }
    let to = |x: Ticks| t.timebase.rescale(x.0, tb);
    let dts: Vec<i64> = input.packets.iter().map(|p| to(p.dts)).collect();
    if dts[0] < 0 {
        return Err(FormatError::invalid(
            FORMAT,
            0,
            format!("track {}: decode time before the stream's start", t.id),
        ));
    }
    let end = input.end.map(to);
    let video = t.kind == TrackKind::Video;
    let mut samples = Vec::with_capacity(dts.len());
    let mut last = default_duration(t);
    let mut negative = false;
    for (k, p) in input.packets.iter().enumerate() {
        let d = match dts.get(k + 1).copied().or(end) {
            Some(n) => u64::try_from(n - dts[k]).unwrap_or(0),
            None => last,
        };
        last = d;
        let cto = to(p.pts()) - dts[k];
        let cto = i32::try_from(cto).map_err(|_| {
            FormatError::new(
                FORMAT,
                0,
                Problem::Invalid(format!("track {}: composition offset out of range", t.id)),
            )
        })?;
        negative |= cto < 0;
        samples.push(TrunSample {
            duration: Some(u32::try_from(d).unwrap_or(u32::MAX)),
            size: Some(p.data.len() as u32),
            flags: Some(if p.keyframe || !video {
                SAMPLE_SYNC
            } else {
                SAMPLE_NON_SYNC
            }),
            cto: video.then_some(cto),
        });
    }
    let start = dts[0] as u64;
    let duration: u64 = samples
        .iter()
        .map(|s| u64::from(s.duration.unwrap_or(0)))
        .sum();
    let time = FragmentTime {
        time: start,
        duration,
    };
    let payload: u64 = input.packets.iter().map(|p| p.data.len() as u64).sum();
    let mut trun = Trun {
        version: u8::from(negative),
        flags: 0,
        data_offset: Some(0),
        first_flags: None,
        samples,
    };
    let build = |trun: &Trun| {
        let mut w = Writer::new();
        w.begin(b"moof");
        write_mfhd(&mut w, input.sequence);
        w.begin(b"traf");
        Tfhd {
            flags: 0,
            track_id: t.id.0,
            ..Tfhd::default()
        }
        .write(&mut w);
        write_tfdt(&mut w, start);
        trun.write(&mut w);
        write_tfxd(&mut w, time);
        if let Some(next) = input.lookahead {
            write_tfrf(&mut w, next);
        }
        w.end();
        w.end();
        w.buf
    };
    let mdat_head = header_bytes(b"mdat", payload);
    let moof_len = build(&trun).len() + mdat_head.len();
    trun.data_offset = Some(i32::try_from(moof_len).map_err(|_| {
        FormatError::new(
            FORMAT,
            0,
            Problem::Limit {
                what: "moof bytes",
                limit: i32::MAX as u64,
            },
        )
    })?);
    let mut out = build(&trun);
    out.reserve(mdat_head.len() + payload as usize);
    out.extend_from_slice(&mdat_head);
    for p in input.packets {
        out.extend_from_slice(&p.data);
    }
    Ok(Written {
        data: Bytes::from(out),
        time,
    })
}

/// One sample of a parsed fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Decode time (100 ns, from `tfdt` and the durations before it).
    pub dts: u64,
    /// Composition offset.
    pub cto: i32,
    /// Duration.
    pub duration: u32,
    /// Sync sample.
    pub sync: bool,
    /// The payload.
    pub data: Bytes,
}

/// A fragment read back.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// `mfhd` sequence number.
    pub sequence: Option<u32>,
    /// `tfhd` track id.
    pub track: Option<u32>,
    /// `trafs` found (Smooth wants exactly one).
    pub trafs: usize,
    /// `tfdt`.
    pub tfdt: Option<u64>,
    /// `tfxd`.
    pub tfxd: Option<FragmentTime>,
    /// `tfrf`.
    pub tfrf: Option<Vec<FragmentTime>>,
    /// The samples, with their payloads from the `mdat`.
    pub samples: Vec<Sample>,
}

/// Reads a fragment (a `moof` and its `mdat`).
pub fn parse(data: &Bytes) -> Result<Parsed, FormatError> {
    let mut c = Cursor::new(data.clone(), 0, FORMAT);
    let mut p = Parsed::default();
    let mut moof_at = None;
    let mut runs: Vec<(Tfhd, Trun)> = Vec::new();
    let mut saw_mdat = false;
    while let Some((h, mut body)) = next_child(&mut c)? {
        match &h.kind {
            b"moof" => {
                moof_at = Some(h.offset);
                while let Some((ch, mut cb)) = next_child(&mut body)? {
                    match &ch.kind {
                        b"mfhd" => p.sequence = Some(parse_mfhd(&mut cb)?),
                        b"traf" => {
                            p.trafs += 1;
                            let mut tfhd = None;
                            while let Some((th, mut tb)) = next_child(&mut cb)? {
                                match &th.kind {
                                    b"tfhd" => {
                                        let f = Tfhd::parse(&mut tb)?;
                                        p.track = Some(f.track_id);
                                        tfhd = Some(f);
                                    }
                                    b"tfdt" => p.tfdt = Some(parse_tfdt(&mut tb)?),
                                    b"trun" => {
                                        let r = Trun::parse(&mut tb)?;
                                        let f =
                                            tfhd.ok_or_else(|| tb.invalid("trun before tfhd"))?;
                                        runs.push((f, r));
                                    }
                                    b"uuid" if th.uuid == Some(TFXD_UUID) => {
                                        p.tfxd = Some(parse_tfxd(&mut tb)?)
                                    }
                                    b"uuid" if th.uuid == Some(TFRF_UUID) => {
                                        p.tfrf = Some(parse_tfrf(&mut tb)?)
                                    }
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            b"mdat" => saw_mdat = true,
            _ => {}
        }
    }
    let Some(moof_at) = moof_at else {
        return Err(FormatError::invalid(FORMAT, 0, "no moof box"));
    };
    if !saw_mdat {
        return Err(FormatError::invalid(
            FORMAT,
            data.len() as u64,
            "no mdat box",
        ));
    }
    let mut t = p.tfdt.or(p.tfxd.map(|x| x.time)).unwrap_or(0);
    for (f, r) in &runs {
        let base = f.base_data_offset.unwrap_or(moof_at);
        let mut at = base
            .checked_add_signed(i64::from(r.data_offset.unwrap_or(0)))
            .unwrap_or(u64::MAX);
        for (k, s) in r.samples.iter().enumerate() {
            let size = u64::from(s.size.or(f.size).unwrap_or(0));
            let end = at.checked_add(size).filter(|&e| e <= data.len() as u64);
            let Some(end) = end else {
                return Err(FormatError::invalid(
                    FORMAT,
                    at.min(data.len() as u64),
                    format!("sample {k} of {size} bytes at {at} runs past the fragment's end"),
                ));
            };
            let flags = if k == 0 {
                r.first_flags.or(s.flags)
            } else {
                s.flags
            };
            let duration = s.duration.or(f.duration).unwrap_or(0);
            p.samples.push(Sample {
                dts: t,
                cto: s.cto.unwrap_or(0),
                duration,
                sync: flags
                    .or(f.sample_flags)
                    .map_or(true, |x| x & 0x0001_0000 == 0),
                data: data.slice(at as usize..end as usize),
            });
            t += u64::from(duration);
            at = end;
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtsc::{Audio, Params, Timebase, TrackId};

    fn video() -> Track {
        Track::new(TrackId(1), TrackKind::Video, Codec::H264, Timebase::MPEG)
    }

    fn pkt(dts: i64, cts: i32, key: bool, len: usize) -> Packet {
        Packet {
            track: TrackId(1),
            dts: Ticks(dts),
            cts,
            keyframe: key,
            data: Bytes::from(vec![key as u8 + 1; len]),
            pos: None,
        }
    }

    #[test]
    fn a_video_fragment_hand_computed() {
        // Two frames at 90 kHz: 0.04 s apart; a B-frame style offset on the first.
        let t = video();
        let packets = [pkt(180_000, 7200, true, 5), pkt(183_600, -3600, false, 3)];
        let w = write(&Input {
            track: &t,
            sequence: 2,
            packets: &packets,
            end: Some(Ticks(187_200)),
            lookahead: None,
        })
        .unwrap();
        // 2 s = 20000000; 40 ms = 400000 (exact from 90 kHz).
        assert_eq!(
            w.time,
            FragmentTime {
                time: 20_000_000,
                duration: 800_000
            }
        );
        let f = &w.data;
        // moof 8 + mfhd 16 + traf 8 + tfhd 16 + tfdt 20 + trun (12 + 4 + 4 + 2*16 = 52) +
        // tfxd 44 = 164, then mdat 8 + 8.
        assert_eq!(&f[4..8], b"moof");
        assert_eq!(u32::from_be_bytes([f[0], f[1], f[2], f[3]]), 164);
        #[rustfmt::skip]
        let trun: Vec<u8> = vec![
            0, 0, 0, 52, b't', b'r', b'u', b'n',
            1, 0, 0x0F, 0x01,             // version 1 (a negative offset), flags: data offset,
                                          // duration, size, flags, composition offset
            0, 0, 0, 2,                   // sample_count
            0, 0, 0, 172,                 // data_offset: moof 164 + mdat header 8
            0, 0x06, 0x1A, 0x80,          // 400000
            0, 0, 0, 5,
            0x02, 0, 0, 0,                // sync
            0, 0x0C, 0x35, 0,             // +800000 (7200 ticks at 90 kHz)
            0, 0x06, 0x1A, 0x80,
            0, 0, 0, 3,
            0x01, 0x01, 0, 0,             // non-sync
            0xFF, 0xF9, 0xE5, 0x80,       // -400000
        ];
        let at = 8 + 16 + 8 + 16 + 20;
        assert_eq!(&f[at..at + 52], &trun[..]);
        assert_eq!(&f[at + 52 + 4..at + 52 + 8], b"uuid");
        assert_eq!(&f[164 + 4..164 + 8], b"mdat");
        let p = parse(f).unwrap();
        assert_eq!(p.sequence, Some(2));
        assert_eq!(p.track, Some(1));
        assert_eq!(p.trafs, 1);
        assert_eq!(p.tfdt, Some(20_000_000));
        assert_eq!(p.tfxd, Some(w.time));
        assert_eq!(p.tfrf, None);
        assert_eq!(p.samples.len(), 2);
        assert_eq!(p.samples[1].dts, 20_400_000);
        assert_eq!(p.samples[1].cto, -400_000);
        assert!(p.samples[0].sync && !p.samples[1].sync);
        assert_eq!(&p.samples[1].data[..], &[1, 1, 1]);
    }

    #[test]
    fn live_fragments_announce_what_follows() {
        let mut a = Track::new(
            TrackId(2),
            TrackKind::Audio,
            Codec::Aac,
            Timebase::new(48_000).unwrap(),
        );
        a.params = Params::Audio(Audio {
            rate: 48_000,
            channels: 2,
            sample_bits: 16,
        });
        let p = [Packet {
            track: TrackId(2),
            dts: Ticks(48_000),
            cts: 0,
            keyframe: true,
            data: Bytes::from_static(&[9; 4]),
            pos: None,
        }];
        let next = [FragmentTime {
            time: 10_213_333,
            duration: 1,
        }];
        let w = write(&Input {
            track: &a,
            sequence: 1,
            packets: &p,
            end: None,
            lookahead: Some(&next),
        })
        .unwrap();
        // A lone sample with nothing after it lasts one AAC frame: 1024/48000 s.
        assert_eq!(w.time.duration, 213_333);
        let back = parse(&w.data).unwrap();
        assert_eq!(back.tfrf, Some(next.to_vec()));
        assert_eq!(back.samples[0].data, Bytes::from_static(&[9; 4]));
    }
}
