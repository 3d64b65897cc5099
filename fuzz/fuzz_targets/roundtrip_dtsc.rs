//! Round trip through dtsc: demux → mux → demux gives the same packets (common/roundtrip.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common/roundtrip.rs"]
mod roundtrip;

fuzz_target!(|data: &[u8]| {
    let _ = roundtrip::check("dtsc", data);
});
