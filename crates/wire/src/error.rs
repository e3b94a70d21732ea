//! Error kinds of the codec: small, `Copy`, saying what was wrong with the peer's bytes.

use core::fmt;

/// Why received bytes were rejected, and where. The peer is at fault: we answer FORMERR or drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Offset in the message where the problem was found.
    pub offset: u16,
    /// What was wrong.
    pub kind: ParseErrorKind,
}

impl ParseError {
    /// A new error at `offset`.
    pub const fn new(offset: usize, kind: ParseErrorKind) -> Self {
        Self { offset: if offset > u16::MAX as usize { u16::MAX } else { offset as u16 }, kind }
    }
}

/// The kinds of malformed input (RFC 9267 and RFC 6891 rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The data ends before the structure does.
    ShortInput,
    /// A label type other than 00 or 11 (RFC 6891 §5).
    BadLabel,
    /// A name longer than 255 octets.
    NameTooLong,
    /// A compression pointer that does not point strictly backwards, or into the header.
    BadPointer,
    /// Too many compression pointers in one name.
    TooManyPointers,
    /// Bytes after the last counted record.
    TrailingData,
    /// RDATA shorter or longer than its type requires.
    BadRdata,
    /// An OPT record in the wrong place, twice, or with a bad owner.
    BadOpt,
    /// An EDNS option whose length is wrong for its code.
    BadOption,
    /// A count that does not make sense for the message (e.g. QDCOUNT > 1).
    BadCount,
    /// A meta type used as record data, or class mixing.
    BadRecord,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at offset {}", self.kind, self.offset)
    }
}

/// Why a write did not happen. The message under construction is left as it was before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// The record does not fit in the space left.
    NoSpace,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no space left in the message buffer")
    }
}
