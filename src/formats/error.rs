//! The one error type every parser returns: which format, where, and what was wrong.

use std::fmt;

/// A parse or write failure that a user can act on: `dtsc: bad type marker 0x7 at byte 1033`.
#[derive(Debug, thiserror::Error)]
#[error("{format}: {problem} at byte {offset}")]
pub struct FormatError {
    /// Short name of the format or structure being read (`dtsc`, `flv`, `h264 sps`).
    pub format: &'static str,
    /// Absolute byte offset in the input where the problem was found.
    pub offset: u64,
    /// What was wrong.
    pub problem: Problem,
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
            problem,
        }
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
