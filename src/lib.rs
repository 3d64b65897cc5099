//! mist: a media streaming toolkit modelled on MistServer.
//!
//! Every path goes through one stream model, DTSC (tracks + timed packets, [`dtsc`]):
//! container demuxers in [`formats`] produce it, muxers consume it, and the copy engine in
//! [`pipeline`] joins the two for `mist convert` and `mist remux`. [`analyse`] renders what the
//! format parsers expose; it never parses bytes itself.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![forbid(clippy::print_stdout, clippy::print_stderr)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod analyse;
pub mod codec;
pub mod dtsc;
pub mod formats;
pub mod io;
pub mod package;
pub mod pipeline;
pub mod serve;
