//! The TS packet parser on arbitrary 188-byte blocks: no panic, the payload start stays inside
//! the packet, and a written packet parses back to what was written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::ts::packet::{self, AfWrite, Pcr, PACKET_SIZE};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = packet::parse(data, 0) {
        assert!(p.payload_start <= PACKET_SIZE);
        let _ = p.af.and_then(|a| a.pcr).map(Pcr::ticks_27mhz);
    }
    let _ = packet::detect(data, true);
    let _ = packet::detect(data, false);
    // Round trip: PID, CC, PCR and payload length from the input bytes.
    if data.len() >= 8 {
        let pid = u16::from_be_bytes([data[0], data[1]]) & 0x1FFF;
        let cc = data[2] & 0x0F;
        let af = AfWrite {
            pcr: (data[3] & 1 == 1).then(|| Pcr {
                base: u64::from(u32::from_be_bytes([data[4], data[5], data[6], data[7]])),
                ext: 0,
            }),
            random_access: data[3] & 2 != 0,
            discontinuity: data[3] & 4 != 0,
        };
        let payload = &data[8..];
        let mut out = Vec::new();
        let took = packet::write(&mut out, pid, true, cc, af, payload);
        assert_eq!(out.len(), PACKET_SIZE);
        let p = packet::parse(&out, 0).expect("written packet parses");
        assert_eq!(p.header.pid, pid);
        assert_eq!(p.header.cc, cc);
        assert_eq!(PACKET_SIZE - p.payload_start.min(PACKET_SIZE), took);
        assert_eq!(&out[p.payload_start.min(PACKET_SIZE)..], &payload[..took]);
        assert_eq!(p.af.and_then(|a| a.pcr), af.pcr);
    }
});
