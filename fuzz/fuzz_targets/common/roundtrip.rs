//! Round trips shared by the `roundtrip_*` targets: demux → mux → demux gives the same
//! packets. An input mist reads cleanly (no damage: the default policy refuses damaged ones)
//! is converted into the same format through the real pipeline; what it wrote must read back
//! (a muxer never writes what its demuxer refuses) with, per track, the same number of
//! packets, the same payload bytes in the same order, the same decode-time steps (to the
//! millisecond: the same-format conversions keep every time) and, on video, the same
//! keyframes. H.264 and HEVC payloads are compared without their parameter sets and access
//! unit delimiters: Annex B writers put the parameter sets before every keyframe, as
//! ffmpeg's `h264_mp4toannexb` does.

use mist::dtsc::{Codec, Packet, Time, TrackKind};
use mist::formats::{self, Severity};
use mist::io::Source;
use mist::pipeline::{self, Plan, Selection, Silent};

/// What one read gives: per track (in `Meta::tracks` order) its kind, codec and packets.
type Read = Vec<(TrackKind, Codec, Vec<Packet>)>;

/// A payload without the NAL units writers may add or drop (parameter sets, delimiters), for
/// H.264 and HEVC in their canonical 4-byte length-prefixed framing; others as they are.
fn essence(codec: &Codec, data: &[u8]) -> Vec<u8> {
    let skip = |nal: &[u8]| match codec {
        Codec::H264 => nal.first().is_some_and(|b| matches!(b & 0x1F, 7..=9)),
        Codec::Hevc => nal
            .first()
            .is_some_and(|b| matches!((b >> 1) & 0x3F, 32..=35)),
        _ => false,
    };
    if !matches!(codec, Codec::H264 | Codec::Hevc) {
        return data.to_vec();
    }
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(nal) = rest.get(4..4 + n) else {
            // Not length-prefixed as expected: compare as it is.
            return data.to_vec();
        };
        if !skip(nal) {
            out.extend_from_slice(&rest[..4 + n]);
        }
        rest = &rest[4 + n..];
    }
    out.extend_from_slice(rest);
    out
}

/// Every packet of `data` read as `format`, or `None` when it is not clean input.
fn read(format: &str, data: &[u8]) -> Option<Read> {
    let spec = formats::spec_by_name(format)?;
    let mut d = (spec.open?)(Source::from_bytes(&format!("in.{format}"), data.to_vec())).ok()?;
    let tracks: Vec<_> = d.meta().tracks.clone();
    let mut out: Read = tracks
        .iter()
        .map(|t| (t.kind, t.codec.clone(), Vec::new()))
        .collect();
    for _ in 0..200_000 {
        let p = d.next_packet().ok()?;
        if d.take_findings()
            .iter()
            .any(|f| f.severity == Severity::Error)
        {
            return None;
        }
        let Some(p) = p else {
            return Some(out);
        };
        let i = tracks.iter().position(|t| t.id == p.track)?;
        out[i].2.push(p);
    }
    None
}

/// Runs the round trip of `data` through `format`; panics when it breaks. Returns whether a
/// round trip was made (false: the input is not clean, or the pipeline refused it).
pub fn check(format: &str, data: &[u8]) -> bool {
    let Some(spec) = formats::spec_by_name(format) else {
        return false;
    };
    let Some(first) = read(format, data) else {
        return false;
    };
    if first.iter().all(|(_, _, p)| p.is_empty()) {
        return false;
    }
    let plan = Plan {
        input: format!("in.{format}").into(),
        output: format!("out.{format}").into(),
        from: Some(spec),
        to: spec,
        tracks: Selection::parse("all").expect("selector"),
        start: None,
        end: None,
        force: true,
        mux: formats::MuxOptions::default(),
        demux: formats::DemuxOptions::default(),
        salvage: false,
    };
    // Inputs the pipeline refuses (damage, a track the format cannot carry) are not round
    // trips; what it writes must be.
    let Ok((bytes, outcome)) = pipeline::convert_bytes(&plan, data.to_vec(), &Silent) else {
        return false;
    };
    // Packets the writer cannot store (a DTSC track whose times go back, say) are counted and
    // named to the user, never dropped in silence; such an input is not a round trip either.
    if outcome.not_written > 0 {
        return false;
    }
    let again = read(format, &bytes).expect("mist reads back cleanly what it wrote");
    assert_eq!(first.len(), again.len(), "track count");
    for (t, ((kind, codec, a), (_, _, b))) in first.iter().zip(&again).enumerate() {
        assert_eq!(a.len(), b.len(), "track {t}: packet count");
        for (n, (x, y)) in a.iter().zip(b).enumerate() {
            assert_eq!(
                essence(codec, &x.data),
                essence(codec, &y.data),
                "track {t} packet {n}: payload"
            );
            if *kind == TrackKind::Video {
                assert_eq!(x.keyframe, y.keyframe, "track {t} packet {n}: keyframe");
            }
        }
    }
    // Decode-time steps, in ms, per track (the pipeline may shift a whole stream). A raw
    // H.264 stream stores no times: they are derived from its picture order and frame rate,
    // which the parameter sets the writer repeats may state differently; not compared.
    if format == "h264" {
        return true;
    }
    // Decode times that go back are re-timed on purpose (jitter held at the previous time, a
    // restart bridged: `dtsc::timeline`; a held time is then moved on by writers that need
    // rising times), so an input whose read gives times that do not rise is not a round trip
    // of times; its packets, payloads and keyframes above still are.
    let goes_back = first
        .iter()
        .any(|(_, _, p)| p.windows(2).any(|w| w[1].dts <= w[0].dts));
    if goes_back {
        return true;
    }
    let steps = |r: &Read, bases: &[mist::dtsc::Timebase]| -> Vec<Vec<i64>> {
        r.iter()
            .zip(bases)
            .map(|((_, _, p), tb)| {
                let ms = |q: &Packet| Time::new(q.dts, *tb).as_ms();
                p.windows(2).map(|w| ms(&w[1]) - ms(&w[0])).collect()
            })
            .collect()
    };
    let bases = |format: &str, data: &[u8]| -> Vec<mist::dtsc::Timebase> {
        formats::spec_by_name(format)
            .and_then(|s| s.open)
            .and_then(|open| open(Source::from_bytes("x", data.to_vec())).ok())
            .map(|d| d.meta().tracks.iter().map(|t| t.timebase).collect())
            .unwrap_or_default()
    };
    let (sa, sb) = (
        steps(&first, &bases(format, data)),
        steps(&again, &bases(format, &bytes)),
    );
    for (t, (a, b)) in sa.iter().zip(&sb).enumerate() {
        for (n, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= 1, "track {t} step {n}: {x} ms vs {y} ms");
        }
    }
    true
}
