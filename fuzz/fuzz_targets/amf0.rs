//! AMF0 on arbitrary bytes: no panic, errors inside the input, and decode → encode → decode
//! is stable (the second encoding equals the first).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::flv::amf0::Value;
use mist::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::from_slice(data, 0, "flv");
    match Value::parse_all(&mut c) {
        Ok(values) => {
            let mut once = Vec::new();
            for v in &values {
                v.write(&mut once);
            }
            let again = Value::parse_all(&mut Cursor::from_slice(&once, 0, "flv"))
                .expect("what we encode decodes");
            let mut twice = Vec::new();
            for v in &again {
                v.write(&mut twice);
            }
            assert_eq!(once, twice);
        }
        Err(e) => assert!(e.offset <= data.len() as u64),
    }
});
