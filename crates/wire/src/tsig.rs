//! TSIG (RFC 8945): the fields of a message's TSIG record, and the rdata of the unsigned error
//! record a server answers with when it cannot verify a request (§5.3.2). [`Message::parse`]
//! has already checked the record's place and class (§5.1, §4.2); its rdata is read here.
//!
//! [`Message::parse`]: crate::message::Message::parse

use crate::error::{ParseError, ParseErrorKind};
use crate::name::NameBuf;

/// TSIG error codes (RFC 8945 §3, the IANA DNS RCODE registry).
pub mod error {
    /// The MAC does not verify.
    pub const BADSIG: u16 = 16;
    /// The key is not known.
    pub const BADKEY: u16 = 17;
    /// The time signed is outside the fudge.
    pub const BADTIME: u16 = 18;
    /// The MAC is truncated too much.
    pub const BADTRUNC: u16 = 22;
}

/// Largest rdata of an unsigned error record: the algorithm name, then time signed (6),
/// fudge (2), MAC size (2), original ID (2), error (2) and other length (2).
pub const ERROR_RDATA_MAX: usize = 255 + 16;

/// A TSIG record (RFC 8945 §4.2), borrowed from its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tsig<'a> {
    /// The key's name (the record's owner).
    pub key: NameBuf,
    /// The MAC algorithm's name (`hmac-sha256.`...).
    pub algorithm: NameBuf,
    /// Seconds since the epoch when the message was signed (48 bits).
    pub time_signed: u64,
    /// Seconds of error allowed in `time_signed`.
    pub fudge: u16,
    /// The MAC.
    pub mac: &'a [u8],
    /// The ID of the message when it was signed.
    pub original_id: u16,
    /// The TSIG error (0 in a request).
    pub error: u16,
    /// Other data (the server's time in a BADTIME answer).
    pub other: &'a [u8],
}

impl<'a> Tsig<'a> {
    /// Reads the TSIG record at `offset` of `message` (the owner may be compressed; the
    /// algorithm name may not be, RFC 8945 §4.2). The rdata must hold exactly its fields.
    pub fn parse(message: &'a [u8], offset: usize) -> Result<Self, ParseError> {
        let (key, after) = NameBuf::parse_compressed(message, offset)?;
        let fixed = message.get(after..after + 10).ok_or(ParseError::new(after, ParseErrorKind::ShortInput))?;
        let start = after + 10;
        let end = start + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = message.get(..end).ok_or(ParseError::new(after + 8, ParseErrorKind::ShortInput))?;
        let (algorithm, pos) = NameBuf::parse_uncompressed(rdata, start)?;
        let bad = ParseError::new(start, ParseErrorKind::BadRdata);
        let field = |at: usize, len: usize| rdata.get(at..at + len).ok_or(bad);
        let time = field(pos, 6)?;
        let time_signed = time.iter().fold(0u64, |value, &byte| value << 8 | u64::from(byte));
        let fudge = u16_at(field(pos + 6, 2)?);
        let mac_len = usize::from(u16_at(field(pos + 8, 2)?));
        let mac = field(pos + 10, mac_len)?;
        let tail = pos + 10 + mac_len;
        let original_id = u16_at(field(tail, 2)?);
        let error = u16_at(field(tail + 2, 2)?);
        let other_len = usize::from(u16_at(field(tail + 4, 2)?));
        let other = field(tail + 6, other_len)?;
        if tail + 6 + other_len != end {
            return Err(bad);
        }
        Ok(Self { key, algorithm, time_signed, fudge, mac, original_id, error, other })
    }

    /// The rdata of the unsigned record answering this request with `error` (RFC 8945 §5.3.2):
    /// this record's algorithm, time signed, fudge and original ID, no MAC and no other data.
    /// Returns its length in `out`.
    pub fn error_rdata(&self, error: u16, out: &mut [u8; ERROR_RDATA_MAX]) -> usize {
        let algorithm = self.algorithm.as_wire();
        let mut pos = algorithm.len();
        out[..pos].copy_from_slice(algorithm);
        out[pos..pos + 6].copy_from_slice(&self.time_signed.to_be_bytes()[2..]);
        pos += 6;
        for value in [self.fudge, 0, self.original_id, error, 0] {
            out[pos..pos + 2].copy_from_slice(&value.to_be_bytes());
            pos += 2;
        }
        pos
    }
}

fn u16_at(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[0], bytes[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the record's RDLENGTH sits: after the owner (13 octets), type, class and TTL.
    const RDLENGTH_AT: usize = 13 + 8;

    /// A TSIG record of key `key.example.` (owner at offset 0), algorithm `hmac-sha256.`.
    fn record(mac: &[u8], other: &[u8]) -> Vec<u8> {
        let mut rdata = NameBuf::from_text("hmac-sha256.", None).unwrap().as_wire().to_vec();
        rdata.extend_from_slice(&[0, 0, 0x69, 0x2a, 0x4e, 0x91, 1, 44]);
        rdata.extend_from_slice(&u16::try_from(mac.len()).unwrap().to_be_bytes());
        rdata.extend_from_slice(mac);
        rdata.extend_from_slice(&[0xbe, 0xef, 0, 0]);
        rdata.extend_from_slice(&u16::try_from(other.len()).unwrap().to_be_bytes());
        rdata.extend_from_slice(other);
        let mut bytes = NameBuf::from_text("key.example.", None).unwrap().as_wire().to_vec();
        bytes.extend_from_slice(&[0, 250, 0, 255, 0, 0, 0, 0]);
        bytes.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(&rdata);
        bytes
    }

    #[test]
    fn every_field_is_read() {
        let bytes = record(&[7; 32], &[1, 2]);
        let tsig = Tsig::parse(&bytes, 0).unwrap();
        assert_eq!(tsig.key, NameBuf::from_text("key.example.", None).unwrap());
        assert_eq!(tsig.algorithm, NameBuf::from_text("hmac-sha256.", None).unwrap());
        assert_eq!((tsig.time_signed, tsig.fudge, tsig.original_id, tsig.error), (0x692a_4e91, 300, 0xbeef, 0));
        assert_eq!((tsig.mac, tsig.other), (&[7u8; 32][..], &[1u8, 2][..]));
    }

    #[test]
    fn rdata_that_does_not_hold_exactly_the_fields_is_an_error() {
        let good = record(&[7; 32], &[]);
        for cut in 1..good.len() - RDLENGTH_AT - 2 {
            // Shorter rdata (the length says so) and a message that ends early.
            let mut short = good.clone();
            short.truncate(good.len() - cut);
            let rdlength = u16::from_be_bytes([good[RDLENGTH_AT], good[RDLENGTH_AT + 1]]) - u16::try_from(cut).unwrap();
            short[RDLENGTH_AT..RDLENGTH_AT + 2].copy_from_slice(&rdlength.to_be_bytes());
            assert!(Tsig::parse(&short, 0).is_err(), "rdata cut by {cut}");
            assert!(Tsig::parse(&good[..good.len() - cut], 0).is_err(), "message cut by {cut}");
        }
        let mut long = good.clone();
        long.push(0);
        let rdlength = u16::from_be_bytes([good[RDLENGTH_AT], good[RDLENGTH_AT + 1]]) + 1;
        long[RDLENGTH_AT..RDLENGTH_AT + 2].copy_from_slice(&rdlength.to_be_bytes());
        assert_eq!(Tsig::parse(&long, 0).unwrap_err().kind, ParseErrorKind::BadRdata);
    }

    proptest::proptest! {
        /// Any bytes at any offset: a record or an error, never a panic.
        #[test]
        fn any_bytes_read_as_a_record_or_an_error(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400), at in 0usize..400) {
            if let Ok(tsig) = Tsig::parse(&bytes, at) {
                let mut out = [0u8; ERROR_RDATA_MAX];
                let len = tsig.error_rdata(error::BADSIG, &mut out);
                proptest::prop_assert!(len <= ERROR_RDATA_MAX);
            }
        }
    }

    #[test]
    fn the_error_rdata_keeps_the_request_fields_without_a_mac() {
        let bytes = record(&[7; 32], &[1, 2]);
        let tsig = Tsig::parse(&bytes, 0).unwrap();
        let mut out = [0u8; ERROR_RDATA_MAX];
        let len = tsig.error_rdata(error::BADKEY, &mut out);
        let mut answer = bytes[..RDLENGTH_AT + 2].to_vec();
        answer[RDLENGTH_AT..RDLENGTH_AT + 2].copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        answer.extend_from_slice(&out[..len]);
        let parsed = Tsig::parse(&answer, 0).unwrap();
        assert_eq!(parsed, Tsig { mac: &[], error: error::BADKEY, other: &[], ..tsig });
    }
}
