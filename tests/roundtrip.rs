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
