//! The RTMP chunk reader on arbitrary bytes (small limits, so limit paths are reached): no
//! panic, errors inside the input, messages within the length limit, buffered bytes bounded,
//! the same messages whether fed whole or split at any point (from the first byte), and the
//! messages read, written again with the chunk writer, read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::serve::rtmp::chunk::{ChunkReader, ChunkWriter, Limits};
use mist::serve::rtmp::message::{Control, Message, MessageType};

const LIMITS: Limits = Limits {
    max_message_len: 4096,
    max_chunk_streams: 8,
    max_buffered: 8192,
};

fuzz_target!(|input: &[u8]| {
    let Some((&split, data)) = input.split_first() else {
        return;
    };
    let at = usize::from(split) * data.len() / 255;
    let whole = read(&[data]);
    assert_eq!(whole, read(&[&data[..at], &data[at..]]));
    let (msgs, err) = whole;
    if let Some(e) = err {
        assert!(e <= data.len() as u64);
    }
    // Round trip: write what was read (following its own chunk size changes), read it back.
    let mut w = ChunkWriter::new(128);
    let mut again = Vec::new();
    for m in &msgs {
        w.write(
            &mut again,
            m.csid,
            m.timestamp,
            m.kind,
            m.stream_id,
            &m.body,
        );
        if m.kind == MessageType::SET_CHUNK_SIZE {
            if let Ok(Control::SetChunkSize(n)) = Control::parse(m) {
                w.set_chunk_size(n);
            }
        }
    }
    let (back, err) = read(&[&again]);
    assert_eq!(err, None);
    let strip = |v: &[Message]| -> Vec<_> {
        v.iter()
            .map(|m| (m.csid, m.timestamp, m.kind, m.stream_id, m.body.clone()))
            .collect()
    };
    assert_eq!(strip(&back), strip(&msgs));
});

/// Messages until the end or the first error (its offset).
fn read(pieces: &[&[u8]]) -> (Vec<Message>, Option<u64>) {
    let mut r = ChunkReader::new(LIMITS, 0);
    let mut out = Vec::new();
    for p in pieces {
        r.feed(p);
        loop {
            match r.next_message() {
                Ok(Some(m)) => {
                    assert!(m.body.len() <= LIMITS.max_message_len as usize);
                    out.push(m);
                }
                Ok(None) => {
                    // Waiting for more: at most one incomplete chunk header (18 bytes) besides
                    // the partly received messages.
                    assert!(r.buffered() <= LIMITS.max_buffered + 18);
                    break;
                }
                Err(e) => return (out, Some(e.offset)),
            }
        }
    }
    (out, None)
}
