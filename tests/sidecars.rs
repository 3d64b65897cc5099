//! The ffprobe sidecar reader (`tests/util/ffprobe.rs`) on the committed sidecars, without
//! ffprobe installed.

mod util;

use util::ffprobe::{self, FfprobePacket};

/// Oracle: the file sizes on disk (every packet ffprobe lists lies inside its file), and the
/// first packet of h264_aac.flv.ffprobe.json as ffprobe printed it (`"size": "3147"` and
/// `"pos": "383"` as strings, `"pts": 80` as a number, `"flags": "K_"`), read by eye.
#[test]
fn every_sidecar_reads_and_fits_its_fixture() {
    let names = ffprobe::fixtures_with_sidecars();
    assert!(
        names.len() >= 20,
        "expected the generated fixtures, found {names:?}"
    );
    for name in &names {
        let probe = ffprobe::sidecar(name);
        let len = std::fs::metadata(util::fixture(name))
            .expect("fixture")
            .len();
        assert!(!probe.streams.is_empty(), "{name}: no streams");
        assert!(!probe.packets.is_empty(), "{name}: no packets");
        for (n, p) in probe.packets.iter().enumerate() {
            assert!(
                p.stream_index < probe.streams.len(),
                "{name} packet {n}: bad stream"
            );
            if let Some(pos) = p.pos {
                assert!(pos + p.size <= len, "{name} packet {n} ends past the file");
            }
        }
    }
    let flv = ffprobe::sidecar("h264_aac.flv");
    assert_eq!(flv.format_name, "flv");
    assert_eq!(flv.streams[0].time_base, (1, 1000));
    assert_eq!(
        flv.packets[0],
        FfprobePacket {
            stream_index: 0,
            pts: Some(80),
            dts: Some(0),
            size: 3147,
            key: true,
            pos: Some(383),
            duration: Some(40),
            data_hash: Some("CRC32:a2138524".into()),
        }
    );
}

/// Oracle: arithmetic by hand. 1024 samples at 48 kHz = 1920 ticks of 90 kHz; 40 ms = 512 ticks
/// of 1/12800; 21.333… ms is not whole milliseconds.
#[test]
fn same_time_is_exact() {
    assert!(ffprobe::same_time(1024, (1, 48000), 1920, (1, 90000)));
    assert!(ffprobe::same_time(40, (1, 1000), 512, (1, 12800)));
    assert!(!ffprobe::same_time(1024, (1, 48000), 21, (1, 1000)));
}

/// Oracle: the helper's contract: a missing tool is a loud failure, not a skip.
#[test]
#[should_panic(expected = "is missing or broken")]
fn require_panics_without_the_tool() {
    util::require("mist-no-such-tool-xyz");
}
