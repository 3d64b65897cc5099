//! Every probe in the format table on arbitrary bytes: total, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::{detect, FORMATS};

fuzz_target!(|data: &[u8]| {
    for spec in FORMATS {
        let _ = (spec.probe)(data);
    }
    let _ = detect(data, None);
});
