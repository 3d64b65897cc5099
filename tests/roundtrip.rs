//! The round trips of the `roundtrip_*` fuzz targets on every writable format, run on small
//! fixtures as ordinary tests (the fuzz targets run them on mutated inputs): demux → mux →
//! demux gives the same packets (fuzz/fuzz_targets/common/roundtrip.rs says what "same" is).

mod util;

#[path = "../fuzz/fuzz_targets/common/roundtrip.rs"]
mod roundtrip;

#[test]
fn every_writable_format_round_trips_its_own_output() {
    for (format, fixture) in [
        ("flv", "h264_aac.flv"),
        ("ts", "h264_aac.ts"),
        ("ts", "two_audio.ts"),
        ("mp4", "faststart.mp4"),
        ("mp4", "bframes_editlist.mp4"),
        ("fmp4", "frag.mp4"),
        ("mp3", "cbr_id3.mp3"),
        ("h264", "h264_bframes.h264"),
        ("aac", "aac_lc.aac"),
        ("dtsc", "interop/vod_rec.dtsc"),
    ] {
        let data = std::fs::read(util::fixture(fixture)).unwrap();
        assert!(
            roundtrip::check(format, &data),
            "{fixture} as {format}: no round trip made"
        );
    }
}

/// Oracle: no panic, and the round trip holds. Inputs the roundtrip fuzz targets found (kept in
/// their corpus): an H.264 stream whose second keyframe carries no parameter sets (the Annex B
/// writer adds them, which the comparison allows), one whose derived frame times change when the
/// writer repeats its parameter sets (raw H.264 stores no times: not compared), and an MP4
/// whose `stts` claims a duration past i64 (the sum overflowed).
#[test]
fn fuzz_finds_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (format, name) in [
        (
            "h264",
            "roundtrip_h264/crash-8ddf608118528b424d1d945459c6448d1e4a02c7",
        ),
        (
            "h264",
            "roundtrip_h264/crash-0668b7b8bfdd31999edb24b5f940b4afb348ff2b",
        ),
        (
            "mp4",
            "roundtrip_mp4/crash-8d39abeb943b0214aef39d3d2b7bf1e2e261edbc",
        ),
    ] {
        let data = std::fs::read(dir.join(name)).unwrap();
        let _ = roundtrip::check(format, &data);
    }
}
