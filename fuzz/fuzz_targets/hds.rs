//! HDS parsers (bootstrap boxes, F4F fragments, F4M manifests): never panic, error offsets
//! stay inside the input, and a bootstrap that parses is written back to the same bytes and
//! parses again to the same value (parse∘write∘parse is stable).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mist::package::hds::bootstrap::listed;
use mist::package::hds::boxes::Abst;
use mist::package::hds::{fragment, manifest};

fuzz_target!(|data: &[u8]| {
    let b = Bytes::copy_from_slice(data);
    match Abst::parse_box(&b) {
        Ok(a) => {
            let again = Abst::parse_box(&a.to_bytes()).expect("written abst parses");
            assert_eq!(again, a);
            for t in &a.fragment_tables {
                let n = a
                    .segment_tables
                    .first()
                    .and_then(|s| s.runs.first())
                    .map_or(0, |r| r.fragments_per_segment);
                let _ = listed(t, n, Some(a.current_media_time));
            }
        }
        Err(e) => assert!(e.offset <= data.len() as u64),
    }
    match fragment::parse(&b) {
        Ok(p) => {
            for s in &p.samples {
                let _ = s.offset.checked_add(u64::from(s.size));
            }
        }
        Err(e) => assert!(e.offset <= data.len() as u64),
    }
    let (_, _) = manifest::parse(data);
});
