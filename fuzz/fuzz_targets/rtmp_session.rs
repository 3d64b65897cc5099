//! The RTMP server session on arbitrary bytes after a real handshake (and, when the first
//! byte's low bit is set, a real `connect`, `createStream` and `publish`), fed in pieces
//! whose sizes come from the input: no panic, errors inside the input, the session answers
//! every request it raises (accepting or refusing by the input's bits), and what it holds
//! stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mist::formats::flv::amf0::Value;
use mist::serve::rtmp::chunk::{ChunkWriter, MAX_BUFFERED};
use mist::serve::rtmp::command::{object, s, Command};
use mist::serve::rtmp::handshake::ClientHandshake;
use mist::serve::rtmp::message::MessageType;
use mist::serve::rtmp::session::{Config, Event, Session};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, data)) = input.split_first() else {
        return;
    };
    let (_, c0c1) = ClientHandshake::new(u64::from(mode), None);
    let mut bytes = c0c1;
    bytes.extend_from_slice(&[0; 1536]);
    if mode & 1 == 1 {
        let mut w = ChunkWriter::new(128);
        for (sid, c) in [
            (
                0,
                Command::new("connect", 1.0, object(&[("app", s("live"))]), vec![]),
            ),
            (0, Command::new("createStream", 2.0, Value::Null, vec![])),
            (
                1,
                Command::new("publish", 3.0, Value::Null, vec![s("x"), s("live")]),
            ),
        ] {
            w.write(
                &mut bytes,
                3,
                0,
                MessageType::COMMAND_AMF0,
                sid,
                &c.encode(),
            );
        }
    }
    bytes.extend_from_slice(data);
    let mut session = Session::new(Config::default());
    let step = usize::from(mode >> 1).max(1) * 7;
    for (n, piece) in bytes.chunks(step).enumerate() {
        if let Err(e) = session.feed(piece) {
            assert!(e.offset <= bytes.len() as u64);
            assert!(session.feed(b"x").is_err());
            break;
        }
        let accept = data.get(n).map_or(true, |b| b & 1 == 0);
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::PublishRequested(p) if accept => assert!(session.accept_publish(p.id)),
                Event::PublishRequested(p) => assert!(session.reject_publish(p.id, "no")),
                Event::PlayRequested(p) if accept => assert!(session.accept_play(p.id, true)),
                Event::PlayRequested(p) => assert!(session.reject_play(p.id, true, "no")),
                Event::StreamLengthRequested { id, .. } => {
                    assert!(session.answer_stream_length(id, 1.0))
                }
                Event::Seek { stream_id, ms } => session.seek_done(stream_id, ms, true),
                _ => {}
            }
        }
        let _ = session.take_output();
        assert!(session.buffered() <= MAX_BUFFERED + step + 64);
    }
});
