//! Reading and writing primitives, one of each: the cursor every parser reads through, the
//! bit reader, byte sinks muxers write into, sources demuxers read from, and the
//! temp-file-then-rename output.

pub mod atomic;
pub mod bits;
pub mod chunks;
pub mod cursor;
pub mod http;
pub mod scratch;
pub mod sink;
pub mod source;
pub mod tls;

pub use bits::{BitReader, BitWriter};
pub use chunks::{ChunkReader, ReadPool};
pub use cursor::Cursor;
pub use sink::{ByteSink, VecSink};
pub use source::Source;
