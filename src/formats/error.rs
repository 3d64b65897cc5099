//! The one error type every parser returns: which format, where, and what was wrong.

use std::fmt;

/// A parse or write failure that a user can act on: `dtsc: bad type marker 0x7 at byte 1033`,
/// or, for a problem that no byte position explains (a muxer refusing a track, a file without
/// a `moov`), `mp4: no 'moov' box` with no position at all.
#[derive(Debug, thiserror::Error)]
pub struct FormatError {
    /// Short name of the format or structure being read (`dtsc`, `flv`, `h264 sps`).
    pub format: &'static str,
    /// Absolute byte offset in the input where the problem was found (0 when
    /// [`at_byte`](Self::at_byte) is false).
    pub offset: u64,
    /// True when `offset` points at the problem; false for problems about the whole input
    /// or output, whose message then names no byte.
    pub at_byte: bool,
    /// What was wrong.
    pub problem: Problem,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.format, self.problem)?;
        if self.at_byte {
            write!(f, " at byte {}", self.offset)?;
        }
        Ok(())
    }
}

/// What went wrong, without the position (that lives in [`FormatError`]).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The input stopped inside a structure.
    #[error("data ends early in {what} (need {need} more bytes)")]
    Truncated {
        /// The structure or field being read.
        what: &'static str,
        /// How many more bytes it needed.
        need: u64,
    },
    /// A field held a value the format does not allow.
    #[error("bad {field}: {value:#x}")]
    BadValue {
        /// The field, named as the spec names it.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// A structure is inconsistent in a way a number alone does not explain.
    #[error("{0}")]
    Invalid(String),
    /// Valid input that mist does not handle (yet).
    #[error("{0} is not supported")]
    Unsupported(String),
    /// A count or size read from the input is beyond what mist accepts.
    #[error("{what} exceeds the limit of {limit}")]
    Limit {
        /// What was counted.
        what: &'static str,
        /// The limit, in the unit of `what`.
        limit: u64,
    },
    /// Reading or writing failed underneath the parser.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl FormatError {
    /// Builds an error at `offset`.
    pub fn new(format: &'static str, offset: u64, problem: Problem) -> Self {
        Self {
            format,
            offset,
            at_byte: true,
            problem,
        }
    }

    /// An error about the input or output as a whole (no byte explains it): its message
    /// names no position.
    pub fn whole(format: &'static str, problem: Problem) -> Self {
        Self {
            format,
            offset: 0,
            at_byte: false,
            problem,
        }
    }

    /// [`whole`](Self::whole) for an inconsistency described in words.
    pub fn whole_invalid(format: &'static str, why: impl fmt::Display) -> Self {
        Self::whole(format, Problem::Invalid(why.to_string()))
    }

    /// The byte offset, when the problem has one.
    pub fn byte(&self) -> Option<u64> {
        self.at_byte.then_some(self.offset)
    }

    /// An error for an inconsistency described in words.
    pub fn invalid(format: &'static str, offset: u64, why: impl fmt::Display) -> Self {
        Self::new(format, offset, Problem::Invalid(why.to_string()))
    }

    /// An I/O failure at `offset`.
    pub fn io(format: &'static str, offset: u64, err: std::io::Error) -> Self {
        Self::new(format, offset, Problem::Io(err))
    }

    /// True when the input simply ended early (useful to tell "truncated" from "corrupt").
    pub fn is_truncation(&self) -> bool {
        matches!(self.problem, Problem::Truncated { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_byte_errors_name_a_byte() {
        let e = FormatError::invalid("flv", 13, "bad tag");
        assert_eq!(e.to_string(), "flv: bad tag at byte 13");
        assert_eq!(e.byte(), Some(13));
        let e = FormatError::whole_invalid("mp4", "no 'moov' box");
        assert_eq!(e.to_string(), "mp4: no 'moov' box");
        assert_eq!(e.byte(), None);
    }
}
