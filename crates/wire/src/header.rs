//! The fixed 12-byte message header (RFC 1035 §4.1.1), read from and written into byte slices.

use crate::error::{ParseError, ParseErrorKind};
use crate::types::{Opcode, Rcode};

/// Length of the header.
pub const HEADER_LEN: usize = 12;

/// The header, borrowed from a received message.
#[derive(Clone, Copy)]
pub struct Header<'a>(&'a [u8; HEADER_LEN]);

impl<'a> Header<'a> {
    /// Splits the header off the front of `bytes`. This is the only fallible step.
    pub fn split(bytes: &'a [u8]) -> Result<(Self, &'a [u8]), ParseError> {
        let (head, rest) = bytes.split_first_chunk::<HEADER_LEN>().ok_or(ParseError::new(0, ParseErrorKind::ShortInput))?;
        Ok((Self(head), rest))
    }

    /// The raw bytes.
    pub fn bytes(self) -> &'a [u8; HEADER_LEN] {
        self.0
    }

    /// Message ID.
    pub fn id(self) -> u16 {
        u16::from_be_bytes([self.0[0], self.0[1]])
    }

    /// QR: this is a response.
    pub fn is_response(self) -> bool {
        self.0[2] & 0x80 != 0
    }

    /// The opcode.
    pub fn opcode(self) -> Opcode {
        Opcode((self.0[2] >> 3) & 0x0F)
    }

    /// AA: authoritative answer.
    pub fn aa(self) -> bool {
        self.0[2] & 0x04 != 0
    }

    /// TC: truncated.
    pub fn tc(self) -> bool {
        self.0[2] & 0x02 != 0
    }

    /// RD: recursion desired.
    pub fn rd(self) -> bool {
        self.0[2] & 0x01 != 0
    }

    /// RA: recursion available.
    pub fn ra(self) -> bool {
        self.0[3] & 0x80 != 0
    }

    /// Z: the reserved bit.
    pub fn z(self) -> bool {
        self.0[3] & 0x40 != 0
    }

    /// AD: authentic data (RFC 4035).
    pub fn ad(self) -> bool {
        self.0[3] & 0x20 != 0
    }

    /// CD: checking disabled (RFC 4035).
    pub fn cd(self) -> bool {
        self.0[3] & 0x10 != 0
    }

    /// The low four bits of the rcode.
    pub fn rcode_bits(self) -> u8 {
        self.0[3] & 0x0F
    }

    /// QDCOUNT.
    pub fn qdcount(self) -> u16 {
        u16::from_be_bytes([self.0[4], self.0[5]])
    }

    /// ANCOUNT.
    pub fn ancount(self) -> u16 {
        u16::from_be_bytes([self.0[6], self.0[7]])
    }

    /// NSCOUNT.
    pub fn nscount(self) -> u16 {
        u16::from_be_bytes([self.0[8], self.0[9]])
    }

    /// ARCOUNT.
    pub fn arcount(self) -> u16 {
        u16::from_be_bytes([self.0[10], self.0[11]])
    }
}

/// Flag bits of the header's second 16-bit word, for building messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// QR.
    pub qr: bool,
    /// Opcode.
    pub opcode: u8,
    /// AA.
    pub aa: bool,
    /// TC.
    pub tc: bool,
    /// RD.
    pub rd: bool,
    /// RA.
    pub ra: bool,
    /// AD.
    pub ad: bool,
    /// CD.
    pub cd: bool,
    /// Low four bits of the rcode.
    pub rcode: u8,
}

impl Flags {
    /// Packs into the two header bytes.
    pub fn to_bytes(self) -> [u8; 2] {
        let high = (u8::from(self.qr) << 7) | ((self.opcode & 0xF) << 3) | (u8::from(self.aa) << 2) | (u8::from(self.tc) << 1) | u8::from(self.rd);
        let low = (u8::from(self.ra) << 7) | (u8::from(self.ad) << 5) | (u8::from(self.cd) << 4) | (self.rcode & 0xF);
        [high, low]
    }

    /// Unpacks from a header.
    pub fn from_header(header: Header<'_>) -> Self {
        Self {
            qr: header.is_response(),
            opcode: header.opcode().0,
            aa: header.aa(),
            tc: header.tc(),
            rd: header.rd(),
            ra: header.ra(),
            ad: header.ad(),
            cd: header.cd(),
            rcode: header.rcode_bits(),
        }
    }
}

/// Sets the rcode's low bits in a header being written.
pub fn set_rcode(header: &mut [u8], rcode: Rcode) {
    if let Some(byte) = header.get_mut(3) {
        *byte = (*byte & 0xF0) | rcode.header_bits();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "example.org. IN A" with RD set, id 0x1234 (layout per RFC 1035 §4.1.1).
    const QUERY_A: [u8; 29] = [
        0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'o', b'r', b'g', 0, 0x00,
        0x01, 0x00, 0x01,
    ];

    #[test]
    fn rfc1035_4_1_1_header_fields() {
        let (header, rest) = Header::split(&QUERY_A).unwrap();
        assert_eq!(header.id(), 0x1234);
        assert!(header.rd() && !header.is_response() && !header.aa() && !header.tc());
        assert_eq!(header.opcode(), Opcode::QUERY);
        assert_eq!((header.qdcount(), header.ancount(), header.nscount(), header.arcount()), (1, 0, 0, 0));
        assert_eq!(rest.len(), 17);
        let flags = Flags::from_header(header);
        assert_eq!(flags.to_bytes(), [0x01, 0x00]);
    }

    #[test]
    fn short_input_is_rejected() {
        assert!(Header::split(&QUERY_A[..11]).is_err());
    }
}
