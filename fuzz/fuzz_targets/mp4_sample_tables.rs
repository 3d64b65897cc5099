//! Every sample-table parser (stts, ctts, stss, stsc, stsz, stz2, stco, co64, elst, stsd,
//! trun, tfhd, sidx) on arbitrary bytes: no panic, errors inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::mp4::boxes::{edts, fragment, sidx, stco, stsc, stsd, stss, stsz, stts};
use mist::formats::FormatError;
use mist::io::Cursor;

fn check<T>(data: &[u8], r: Result<T, FormatError>) {
    if let Err(e) = r {
        assert!(e.offset <= data.len() as u64);
    }
}

fuzz_target!(|data: &[u8]| {
    let c = || Cursor::from_slice(data, 0, "mp4");
    check(data, stts::Stts::parse(&mut c()));
    check(data, stts::Ctts::parse(&mut c()));
    check(data, stss::Stss::parse(&mut c()));
    check(data, stsc::Stsc::parse(&mut c()));
    check(data, stsz::Stsz::parse(&mut c()));
    check(data, stsz::Stsz::parse_compact(&mut c()));
    check(data, stco::Stco::parse(&mut c(), false));
    check(data, stco::Stco::parse(&mut c(), true));
    check(data, edts::Elst::parse(&mut c()));
    check(data, stsd::Stsd::parse(&mut c()));
    check(data, fragment::Trun::parse(&mut c()));
    check(data, fragment::Tfhd::parse(&mut c()));
    check(data, sidx::Sidx::parse(&mut c()));
});
