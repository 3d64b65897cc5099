//! The whole copy engine on arbitrary input: format detection, the damage policy (both ways),
//! track selection, --start/--end trims, framing conversion and every muxer. No panic; a
//! conversion that succeeds writes what the output's demuxer reads back, as many packets as
//! the pipeline says it wrote.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::dtsc::Time;
use mist::formats::{self, DemuxOptions, MuxOptions};
use mist::io::Source;
use mist::pipeline::{self, Plan, Selection, Silent};

const OUTPUTS: [&str; 8] = ["flv", "ts", "mp4", "fmp4", "mp3", "dtsc", "h264", "aac"];
const SELECTIONS: [&str; 6] = ["all", "video", "audio", "1", "all,-audio", "2,1"];

fuzz_target!(|data: &[u8]| {
    let [out, sel, start, end, flags, rest @ ..] = data else {
        return;
    };
    let Some(to) = formats::spec_by_name(OUTPUTS[usize::from(*out) % OUTPUTS.len()]) else {
        return;
    };
    let tracks = if flags & 1 == 0 {
        Selection::default()
    } else {
        match Selection::parse(SELECTIONS[usize::from(*sel) % SELECTIONS.len()]) {
            Ok(s) => s,
            Err(_) => return,
        }
    };
    // Times in tenths of a second; 0 = not given.
    let at = |b: u8| (b != 0).then(|| Time::from_ms(i64::from(b) * 100));
    let (start, end) = (at(*start), at(*end));
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return;
        }
    }
    let plan = Plan {
        input: "in".into(),
        output: format!("out.{}", to.name).into(),
        from: None,
        to,
        tracks,
        start,
        end,
        force: true,
        mux: MuxOptions {
            sidx: flags & 4 != 0,
            fragment_ms: (flags & 8 != 0).then_some(500),
            ..MuxOptions::default()
        },
        demux: DemuxOptions::default(),
        salvage: flags & 2 != 0,
    };
    let Ok((bytes, outcome)) = pipeline::convert_bytes(&plan, rest.to_vec(), &Silent) else {
        return;
    };
    let open = to.open.expect("every writable format is readable");
    let mut d = open(Source::from_bytes("out", bytes)).expect("mist reads what it wrote");
    let mut n = 0u64;
    while let Some(_p) = d
        .next_packet()
        .expect("mist reads what it wrote, to the end")
    {
        n += 1;
        assert!(n <= outcome.packets, "more packets read back than written");
    }
    assert_eq!(n, outcome.packets, "packets read back");
});
