//! `mist serve`: the live hub, the protocol front ends and the glue between them.
//!
//! [`rtmp`] is the RTMP server: a sans-IO session (bytes in, events out) plus its socket glue.

pub mod rtmp;
