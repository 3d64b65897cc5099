//! The PES header parser and the reassembler on arbitrary payload sequences: no panic, units
//! never exceed the limit, and a parsed header never points past its data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::ts::pes::{Assembler, PesHeader, MAX_PES};

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = PesHeader::parse(data, 0) {
        assert!(h.header_len <= data.len().max(9 + 255));
    }
    // Cut the input into "payloads" of up to 184 bytes; the first byte of each says PUSI.
    let mut a = Assembler::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut at = 0u64;
    while pos < data.len() {
        let flags = data[pos];
        let len = (usize::from(flags) % 185).min(data.len() - pos - 1);
        let payload = &data[pos + 1..pos + 1 + len];
        a.push(flags & 0x80 != 0, payload, at, flags & 0x40 != 0, &mut out);
        if flags & 0x20 != 0 {
            a.damage();
        }
        pos += 1 + len;
        at += 188;
    }
    a.flush(&mut out);
    for u in &out {
        assert!(u.data.len() <= MAX_PES);
        let _ = PesHeader::parse(&u.data, u.offset);
    }
});
