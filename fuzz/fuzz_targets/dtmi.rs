//! DTMI values: parse arbitrary bytes; whatever parses must re-encode to bytes that parse to
//! the same value (parse ∘ write ∘ parse is stable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::dtsc::wire::Value;
use mist::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::from_slice(data, 0, "dtsc");
    if let Ok(v) = Value::parse(&mut c) {
        let bytes = v.to_bytes();
        let again = Value::parse(&mut Cursor::from_slice(&bytes, 0, "dtsc"))
            .expect("re-encoded value parses");
        // NaN doubles compare unequal to themselves; compare encodings instead.
        assert_eq!(again.to_bytes(), bytes);
    }
    let mut c = Cursor::from_slice(data, 0, "dtsc");
    let _ = Value::skip(&mut c);
});
