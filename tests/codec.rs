//! The codec helpers on the generated fixtures, against their ffprobe sidecars.

mod util;

use bytes::Bytes;
use mist::codec::aac::AdtsHeader;
use mist::codec::h264::{
    annexb_to_length_prefixed, length_prefixed_to_annexb, AnnexBNals, AvcConfig, NalHeader,
    NalType, Pps, SliceHeader, Sps,
};
use util::ffprobe;

fn read(name: &str) -> Bytes {
    Bytes::from(std::fs::read(util::fixture(name)).expect("fixture"))
}

/// Oracle: aac_lc.aac's sidecar: 95 packets whose sizes are the ADTS frame lengths (header
/// included) at ffprobe's `pos`, profile LC, 48 kHz, 2 channels.
#[test]
fn adts_headers_of_aac_lc_match_ffprobe() {
    let data = read("aac_lc.aac");
    let want = ffprobe::sidecar("aac_lc.aac");
    let mut at = 0usize;
    let mut n = 0;
    while at < data.len() {
        let h = AdtsHeader::parse(&data[at..], at as u64).unwrap();
        let p = &want.packets[n];
        assert_eq!(
            (h.frame_length as u64, Some(at as u64)),
            (p.size, p.pos),
            "frame {n}"
        );
        assert_eq!(
            h.to_bytes(),
            data[at..at + h.header_len()].to_vec(),
            "frame {n}"
        );
        let asc = h.to_asc();
        assert_eq!(asc.profile_name(), want.streams[0].profile.as_deref());
        assert_eq!(
            Some(u64::from(asc.sampling_frequency)),
            want.streams[0].sample_rate
        );
        assert_eq!(asc.channels().map(u64::from), want.streams[0].channels);
        at += usize::from(h.frame_length);
        n += 1;
    }
    assert_eq!(n, want.packets.len());
}

/// Oracle: h264_bframes.h264's sidecar: 50 packets (access units, each starting with an
/// AUD) at ffprobe's `pos` with ffprobe's sizes; High profile, level 13, 320x240, 25 fps.
/// Every slice header of the stream parses with its SPS/PPS.
#[test]
fn annexb_access_units_and_sps_match_ffprobe() {
    let data = read("h264_bframes.h264");
    let want = ffprobe::sidecar("h264_bframes.h264");
    let nals: Vec<_> = AnnexBNals::new(data.clone(), 0).collect();
    let aud_starts: Vec<u64> = nals
        .iter()
        .filter(|n| NalHeader::type_of(&n.data) == NalType::AUD)
        .map(|n| n.start_code_offset)
        .collect();
    assert_eq!(aud_starts.len(), want.packets.len());
    for (i, &start) in aud_starts.iter().enumerate() {
        let end = aud_starts.get(i + 1).copied().unwrap_or(data.len() as u64);
        assert_eq!(
            (Some(start), end - start),
            (want.packets[i].pos, want.packets[i].size),
            "access unit {i}"
        );
    }
    let sps_nal = nals
        .iter()
        .find(|n| NalHeader::type_of(&n.data) == NalType::SPS)
        .unwrap();
    let sps = Sps::parse(&sps_nal.data, sps_nal.offset).unwrap();
    let s = &want.streams[0];
    assert_eq!(sps.profile_name(), s.profile.as_deref());
    assert_eq!(sps.level(), 13);
    assert_eq!(
        (Some(u64::from(sps.width())), Some(u64::from(sps.height()))),
        (s.width, s.height)
    );
    assert_eq!(sps.fps(), Some((25, 1)));
    let pps_nal = nals
        .iter()
        .find(|n| NalHeader::type_of(&n.data) == NalType::PPS)
        .unwrap();
    let pps = Pps::parse(&pps_nal.data, pps_nal.offset).unwrap();
    let mut slices = 0;
    for n in &nals {
        if NalHeader::type_of(&n.data).is_slice() {
            SliceHeader::parse(&n.data, n.offset, &sps, &pps).unwrap();
            slices += 1;
        }
    }
    assert!(slices >= 50);
    // avcC from the in-band parameter sets: its SPS gives the same answers.
    let cfg = AvcConfig::from_annexb_parameter_sets(&data, 0)
        .unwrap()
        .unwrap();
    assert_eq!(cfg.first_sps().unwrap(), sps);
    assert_eq!(AvcConfig::parse(&cfg.build().unwrap(), 0).unwrap(), cfg);
}

/// Oracle: round trip. Annex B → 4-byte lengths → Annex B keeps every NAL unit (the
/// baseline fixture mixes 3- and 4-byte start codes; the output uses 4-byte ones), and the
/// NAL count equals the number of units in the source.
#[test]
fn annexb_round_trip_keeps_nal_units() {
    for name in ["h264_bframes.h264", "h264_baseline.h264"] {
        let data = read(name);
        let orig: Vec<Bytes> = AnnexBNals::new(data.clone(), 0).map(|n| n.data).collect();
        let lp = annexb_to_length_prefixed(&data, 0).unwrap();
        let back = length_prefixed_to_annexb(&lp, 4, 0).unwrap();
        let again: Vec<Bytes> = AnnexBNals::new(back.clone(), 0).map(|n| n.data).collect();
        assert_eq!(orig, again, "{name}");
        assert_eq!(
            back.len(),
            lp.len(),
            "{name}: 4-byte lengths, 4-byte start codes"
        );
    }
    // The baseline stream's SPS: ffprobe says Constrained Baseline, level 13.
    let data = read("h264_baseline.h264");
    let sps = AnnexBNals::new(data, 0)
        .find(|n| NalHeader::type_of(&n.data) == NalType::SPS)
        .map(|n| Sps::parse(&n.data, n.offset).unwrap())
        .unwrap();
    let want = ffprobe::sidecar("h264_baseline.h264");
    assert_eq!(sps.profile_name(), want.streams[0].profile.as_deref());
    assert_eq!(sps.level(), 13);
}

mod properties {
    use super::*;
    use mist::codec::aac::AudioSpecificConfig;
    use mist::codec::h264::{LengthPrefixedNals, PocCalculator};
    use mist::codec::mp3::FrameHeader;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Oracle: the invariants the fuzz targets check, on random bytes (the fuzzers are
        /// only compiled in CI): no panic, errors inside the input, Annex B → lengths →
        /// Annex B → lengths is stable after the first step.
        #[test]
        fn annexb_conversions_are_stable(data in proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), Just(3u8), any::<u8>()], 0..300)) {
            let b = Bytes::from(data.clone());
            let lp = annexb_to_length_prefixed(&b, 0).unwrap();
            let back = length_prefixed_to_annexb(&lp, 4, 0).unwrap();
            prop_assert_eq!(annexb_to_length_prefixed(&back, 0).unwrap(), lp);
            for size in [1u8, 2, 4] {
                for r in LengthPrefixedNals::new(b.clone(), size, 7) {
                    if let Err(e) = r {
                        prop_assert!(e.offset <= 7 + data.len() as u64);
                    }
                }
            }
        }

        #[test]
        fn parameter_set_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut sps = vec![0x67];
            sps.extend(&data);
            if let Ok(s) = Sps::parse(&sps, 0) {
                prop_assert!(s.width() <= s.coded_width());
                let mut pps = vec![0x68, 0xce, 0x38, 0x80];
                pps.truncate(4);
                if let Ok(p) = Pps::parse(&pps, 0) {
                    let mut sl = vec![0x65];
                    sl.extend(&data);
                    if let Ok(h) = SliceHeader::parse(&sl, 0, &s, &p) {
                        let _ = PocCalculator::new().next(&s, &h);
                    }
                }
            } else if let Err(e) = Sps::parse(&sps, 0) {
                prop_assert!(e.offset <= sps.len() as u64);
            }
            if let Ok(a) = AudioSpecificConfig::parse(&data, 0) {
                if let Ok(b) = a.build() {
                    let again = AudioSpecificConfig::parse(&b, 0).unwrap();
                    prop_assert_eq!(again.build().unwrap(), b);
                }
            }
            if let Ok(h) = FrameHeader::parse(&data, 0) {
                prop_assert_eq!(&h.to_bytes()[..], &data[..4]);
            }
        }
    }
}
