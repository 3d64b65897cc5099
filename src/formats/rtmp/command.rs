//! Command and data messages (RTMP 1.0 §7.1.1, §7.2): AMF0 values, a command being
//! `name, transaction id, command object, arguments...`, and the status answers clients wait
//! for.
//!
//! ```text
//! connect        "connect", 1, {app, tcUrl, flashVer, objectEncoding ...}
//! createStream   "createStream", n, null                       → "_result", n, null, stream id
//! publish        "publish", 0, null, name, "live"|"record"|"append"
//! play           "play", 0, null, name, start (-2 live or VOD, -1 live, ≥0 VOD ms), duration, reset
//! play2          "play2", 0, null, {streamName, start, len, transition ...}
//! pause          "pause", 0, null, pause (bool), ms
//! seek           "seek", 0, null, ms
//! deleteStream   "deleteStream", 0, null, stream id
//! status         "onStatus", 0, null, {level, code, description}
//! ```
//!
//! Type 17 (AMF3 command) and type 15 (AMF3 data) bodies start with a format byte; Flash sends
//! 0 there and AMF0 values after it, which is the only AMF3 form read.

use bytes::Bytes;

use crate::formats::error::{FormatError, Problem};
use crate::formats::flv::amf0::Value;
use crate::io::Cursor;

use super::message::{Message, MessageType};
use super::FORMAT;

/// Status codes and levels the session sends.
pub mod code {
    /// `connect` accepted.
    pub const CONNECT_SUCCESS: &str = "NetConnection.Connect.Success";
    /// `connect` refused.
    pub const CONNECT_REJECTED: &str = "NetConnection.Connect.Rejected";
    /// A method the server does not have.
    pub const CALL_FAILED: &str = "NetConnection.Call.Failed";
    /// `publish` accepted.
    pub const PUBLISH_START: &str = "NetStream.Publish.Start";
    /// `publish` refused: bad name, name taken, or not allowed.
    pub const PUBLISH_BAD_NAME: &str = "NetStream.Publish.BadName";
    /// The publisher stopped.
    pub const UNPUBLISH_SUCCESS: &str = "NetStream.Unpublish.Success";
    /// Playback restarts (sent before `Play.Start`).
    pub const PLAY_RESET: &str = "NetStream.Play.Reset";
    /// Playback starts.
    pub const PLAY_START: &str = "NetStream.Play.Start";
    /// Playback is over.
    pub const PLAY_STOP: &str = "NetStream.Play.Stop";
    /// No such stream.
    pub const PLAY_STREAM_NOT_FOUND: &str = "NetStream.Play.StreamNotFound";
    /// Playback refused (other reasons).
    pub const PLAY_FAILED: &str = "NetStream.Play.Failed";
    /// The live stream's publisher left.
    pub const PLAY_UNPUBLISH_NOTIFY: &str = "NetStream.Play.UnpublishNotify";
    /// A seek happened.
    pub const SEEK_NOTIFY: &str = "NetStream.Seek.Notify";
    /// A seek could not happen.
    pub const SEEK_FAILED: &str = "NetStream.Seek.Failed";
    /// Paused.
    pub const PAUSE_NOTIFY: &str = "NetStream.Pause.Notify";
    /// Resumed.
    pub const UNPAUSE_NOTIFY: &str = "NetStream.Unpause.Notify";
    /// Level of a normal status.
    pub const STATUS: &str = "status";
    /// Level of a failure.
    pub const ERROR: &str = "error";
}

/// A decoded command message.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// The procedure name (`connect`, `publish`, `_result` ...).
    pub name: String,
    /// The transaction id (0 when no answer is expected).
    pub transaction: f64,
    /// The command object (`null` for most commands after `connect`).
    pub object: Value,
    /// The remaining arguments.
    pub args: Vec<Value>,
}

/// The AMF0 values of a command or data message body (types 20/18, and 17/15 with their
/// leading format byte of 0).
pub fn values(m: &Message) -> Result<Vec<Value>, FormatError> {
    let mut body = m.body.clone();
    let mut at = m.offset;
    if matches!(m.kind, MessageType::COMMAND_AMF3 | MessageType::DATA_AMF3) {
        match body.first() {
            Some(0) => {
                body = body.slice(1..);
                at += 1;
            }
            Some(&b) => {
                return Err(FormatError::new(
                    FORMAT,
                    at,
                    Problem::Unsupported(format!("{:?} body in AMF3 (format byte {b})", m.kind)),
                ))
            }
            None => {}
        }
    }
    // Offsets in errors are those of the message's first chunk header: the body is reassembled
    // from chunks, so its bytes have no single position in the input.
    Value::parse_all(&mut Cursor::new(body, at, FORMAT))
}

impl Command {
    /// Decodes a command message (type 20 or 17).
    pub fn parse(m: &Message) -> Result<Command, FormatError> {
        let mut v = values(m)?.into_iter();
        let name = match v.next() {
            Some(Value::String(s)) | Some(Value::LongString(s)) => s,
            other => {
                return Err(FormatError::invalid(
                    FORMAT,
                    m.offset,
                    format!(
                        "command message without a name (first value {})",
                        other.map_or("missing", |v| v.type_name())
                    ),
                ))
            }
        };
        // Some clients leave out the transaction id of notifications; 0 is what they mean.
        let transaction = v.next().and_then(|t| t.as_number()).unwrap_or(0.0);
        let object = v.next().unwrap_or(Value::Null);
        Ok(Command {
            name,
            transaction,
            object,
            args: v.collect(),
        })
    }

    /// A command with these parts.
    pub fn new(name: &str, transaction: f64, object: Value, args: Vec<Value>) -> Command {
        Command {
            name: name.to_string(),
            transaction,
            object,
            args,
        }
    }

    /// The AMF0 body (message type 20).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(128);
        Value::String(self.name.clone()).write(&mut b);
        Value::Number(self.transaction).write(&mut b);
        self.object.write(&mut b);
        for a in &self.args {
            a.write(&mut b);
        }
        b
    }

    /// Argument `i` (after the command object), if present.
    pub fn arg(&self, i: usize) -> Option<&Value> {
        self.args.get(i)
    }

    /// Argument `i` as a string.
    pub fn arg_str(&self, i: usize) -> Option<&str> {
        self.arg(i).and_then(Value::as_str)
    }

    /// Argument `i` as a number.
    pub fn arg_number(&self, i: usize) -> Option<f64> {
        self.arg(i).and_then(Value::as_number)
    }
}

/// An AMF0 object from string/value pairs.
pub fn object(props: &[(&str, Value)]) -> Value {
    Value::Object(
        props
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
    )
}

/// A string value.
pub fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// The info object of an `onStatus`: level, code, description, and `details` when given.
pub fn status_info(level: &str, code: &str, description: &str, details: Option<&str>) -> Value {
    let mut p = vec![
        ("level", s(level)),
        ("code", s(code)),
        ("description", s(description)),
    ];
    if let Some(d) = details {
        p.push(("details", s(d)));
    }
    object(&p)
}

/// `onStatus` with an info object (transaction 0, null command object).
pub fn on_status(info: Value) -> Command {
    Command::new("onStatus", 0.0, Value::Null, vec![info])
}

/// The AMF0 encoding of a data message's values.
pub fn encode_values(values: &[Value]) -> Bytes {
    let mut b = Vec::with_capacity(64);
    for v in values {
        v.write(&mut b);
    }
    b.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: MessageType, body: Vec<u8>) -> Message {
        Message {
            csid: 3,
            timestamp: 0,
            kind,
            stream_id: 0,
            body: body.into(),
            offset: 50,
        }
    }

    #[test]
    fn connect_round_trips_and_amf3_wrapper_is_read() {
        let c = Command::new(
            "connect",
            1.0,
            object(&[("app", s("live")), ("tcUrl", s("rtmp://h/live"))]),
            vec![],
        );
        let b = c.encode();
        // Hand-computed start: string marker, length 7, "connect", number marker, 1.0.
        assert_eq!(
            &b[..10],
            &[2, 0, 7, b'c', b'o', b'n', b'n', b'e', b'c', b't']
        );
        assert_eq!(&b[10..19], &[0, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            Command::parse(&msg(MessageType::COMMAND_AMF0, b.clone())).unwrap(),
            c
        );
        let mut amf3 = vec![0];
        amf3.extend_from_slice(&b);
        assert_eq!(
            Command::parse(&msg(MessageType::COMMAND_AMF3, amf3)).unwrap(),
            c
        );
        let e = Command::parse(&msg(MessageType::COMMAND_AMF3, vec![0x0a, 1])).unwrap_err();
        assert!(e.to_string().contains("AMF3"), "{e}");
    }

    #[test]
    fn truncated_and_nameless_commands_are_errors() {
        let b = Command::new("publish", 0.0, Value::Null, vec![s("x"), s("live")]).encode();
        for cut in 0..b.len() {
            let r = Command::parse(&msg(MessageType::COMMAND_AMF0, b[..cut].to_vec()));
            // Every cut either fails or (at a value boundary) parses with fewer arguments.
            if let Ok(c) = r {
                assert_eq!(c.name, "publish");
                assert!(c.args.len() < 2);
            }
        }
        assert!(Command::parse(&msg(
            MessageType::COMMAND_AMF0,
            vec![0, 0, 0, 0, 0, 0, 0, 0, 0]
        ))
        .is_err());
    }
}
