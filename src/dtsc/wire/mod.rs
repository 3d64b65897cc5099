//! The DTSC binary format itself (dtsc-format.md): DTMI values, the four unit kinds
//! (`DTSC` header, `DTP2`/`DTPD` packets, `DTCM` commands), headers with their version-4
//! index tables, byte-compatible with MistServer 3.x.
//!
//! ```text
//! offset 0  4  magic "DTSC" | "DTP2" | "DTPD" | "DTCM"
//!        4  4  u32 BE: bytes that follow
//!        8  .. body
//! ```

pub mod header;
pub mod packet;
pub mod unit;
pub mod value;

pub use header::{Header, HeaderTrack};
pub use packet::WirePacket;
pub use unit::{Magic, Reader, Unit};
pub use value::Value;

/// The format name errors carry.
pub const FORMAT: &str = "dtsc";

/// The DTSH version MistServer 3.x writes and mist writes.
pub const VERSION: i64 = 4;

/// Units bigger than this are refused (a corrupted length could otherwise ask for gigabytes).
/// The largest real units are headers of long files: 9 bytes per packet of index.
pub const MAX_UNIT: u64 = 512 << 20;
