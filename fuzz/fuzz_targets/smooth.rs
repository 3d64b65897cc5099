//! Smooth Streaming parsers (fragments, client manifests, the XML reader beneath): never
//! panic, error offsets stay inside the input, and every sample a fragment yields lies
//! inside it.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mist::package::smooth::{fragment, manifest, parse_name};
use mist::package::xml;

fuzz_target!(|data: &[u8]| {
    let b = Bytes::copy_from_slice(data);
    match fragment::parse(&b) {
        Ok(p) => {
            let total: usize = p.samples.iter().map(|s| s.data.len()).sum();
            assert!(p.samples.is_empty() || total <= data.len());
        }
        Err(e) => assert!(e.offset <= data.len() as u64),
    }
    let (m, _) = manifest::parse(data);
    if let Some(m) = m {
        for s in &m.streams {
            assert!(s.chunks.len() as u64 <= manifest::MAX_REPEAT);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = xml::parse(text);
        let pieces: Vec<&str> = text.split('/').collect();
        let _ = parse_name(&pieces);
    }
});
