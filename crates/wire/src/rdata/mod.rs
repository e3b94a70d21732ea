//! Record data in presentation format (RFC 1035 §5 and each type's RFC), both directions.
//! (Being written; see the helper's task.)

use crate::name::NameBuf;
use crate::types::Rtype;
use core::fmt;

/// One token of a zone-file line, as the tokenizer found it: escapes still in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// The raw text (without the surrounding quotes when `quoted`).
    pub text: &'a str,
    /// True when the token was a quoted string.
    pub quoted: bool,
}

/// Why rdata text was rejected: a message for the user, naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RdataTextError(pub String);

impl fmt::Display for RdataTextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Converts presentation-format rdata to uncompressed wire form, appended to `out`.
pub fn rdata_from_text(rtype: Rtype, tokens: &[Token<'_>], origin: &NameBuf, out: &mut Vec<u8>) -> Result<(), RdataTextError> {
    let _ = (rtype, tokens, origin, out);
    Err(RdataTextError("not yet implemented".into()))
}

/// Writes uncompressed wire rdata in presentation format; malformed rdata is written in the RFC 3597
/// generic form `\# len hex`.
pub fn rdata_to_text(rtype: Rtype, rdata: &[u8], out: &mut dyn fmt::Write) -> fmt::Result {
    let _ = rtype;
    write!(out, "\\# {}", rdata.len())
}
