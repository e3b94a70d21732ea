//! EDNS(0): the OPT pseudo-record and its options (RFC 6891), with the option formats the server
//! understands: COOKIE (RFC 7873), NSID (RFC 5001), PADDING (RFC 7830), EDE (RFC 8914),
//! CLIENT-SUBNET (RFC 7871), TCP-KEEPALIVE (RFC 7828), KEY-TAG (RFC 8145), EXPIRE (RFC 7314).
//!
//! [`Edns::parse`] checks every option it reads (the rules of SECURITY-REFERENCE §6.3) and keeps
//! only views; nothing is allocated.

use crate::error::{ParseError, ParseErrorKind};

/// EDNS option codes (IANA "DNS EDNS0 Option Codes").
pub mod code {
    /// Client subnet (RFC 7871).
    pub const CLIENT_SUBNET: u16 = 8;
    /// Name server identifier (RFC 5001).
    pub const NSID: u16 = 3;
    /// EXPIRE (RFC 7314).
    pub const EXPIRE: u16 = 9;
    /// Cookie (RFC 7873).
    pub const COOKIE: u16 = 10;
    /// TCP keepalive (RFC 7828).
    pub const TCP_KEEPALIVE: u16 = 11;
    /// Padding (RFC 7830).
    pub const PADDING: u16 = 12;
    /// Key tag (RFC 8145).
    pub const KEY_TAG: u16 = 14;
    /// Extended DNS error (RFC 8914).
    pub const EDE: u16 = 15;
}

/// Most options parsed in one OPT record (SECURITY-REFERENCE §7).
pub const MAX_OPTIONS: usize = 64;

/// A checked view of a received OPT record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Edns<'a> {
    /// Requestor's UDP payload size, as sent (values below 512 are treated as 512 by users).
    pub udp_size: u16,
    /// The high eight bits of the extended rcode.
    pub extended_rcode: u8,
    /// EDNS version.
    pub version: u8,
    /// DO: DNSSEC OK.
    pub dnssec_ok: bool,
    /// The first COOKIE option's data (8 to 40 bytes).
    pub cookie: Option<&'a [u8]>,
    /// An NSID option was present.
    pub nsid: bool,
    /// A TCP-KEEPALIVE option was present (and its data, 0 or 2 bytes).
    pub tcp_keepalive: Option<&'a [u8]>,
    /// The first CLIENT-SUBNET option's data.
    pub client_subnet: Option<&'a [u8]>,
    /// A PADDING option was present (RFC 7830): the client asks for padded replies (RFC 8467).
    pub padding: bool,
    /// The whole option area, for iteration by clients.
    pub options: &'a [u8],
}

/// The DO bit of an OPT record's TTL (RFC 6891 §6.1.3: the top bit of the flags, which are the
/// TTL's low 16 bits).
pub fn dnssec_ok(ttl: u32) -> bool {
    ttl & 0x8000 != 0
}

impl<'a> Edns<'a> {
    /// Parses an OPT record's class, TTL and rdata. `offset` locates the rdata for errors.
    pub fn parse(class: u16, ttl: u32, rdata: &'a [u8], offset: usize) -> Result<Self, ParseError> {
        let [extended_rcode, version, _, _] = ttl.to_be_bytes();
        let mut edns = Self { udp_size: class, extended_rcode, version, dnssec_ok: dnssec_ok(ttl), options: rdata, ..Self::default() };
        let mut options = OptionIter { rest: rdata };
        for count in 0.. {
            let Some(option) = options.next() else { break };
            let (option_code, data) = option.map_err(|()| ParseError::new(offset, ParseErrorKind::BadOption))?;
            if count >= MAX_OPTIONS {
                return Err(ParseError::new(offset, ParseErrorKind::BadOption));
            }
            edns.absorb(option_code, data).map_err(|()| ParseError::new(offset, ParseErrorKind::BadOption))?;
        }
        Ok(edns)
    }

    /// The client cookie (first 8 bytes of the COOKIE option).
    pub fn client_cookie(&self) -> Option<&'a [u8]> {
        self.cookie.and_then(|c| c.get(..8))
    }

    /// Iterates over (code, data) of every option.
    pub fn iter_options(&self) -> impl Iterator<Item = (u16, &'a [u8])> {
        OptionIter { rest: self.options }.map_while(Result::ok)
    }

    fn absorb(&mut self, option_code: u16, data: &'a [u8]) -> Result<(), ()> {
        match option_code {
            code::COOKIE => {
                if !(data.len() == 8 || (16..=40).contains(&data.len())) {
                    return Err(());
                }
                self.cookie.get_or_insert(data);
            }
            code::NSID => self.nsid = true,
            code::PADDING => self.padding = true,
            code::TCP_KEEPALIVE => {
                if !(data.is_empty() || data.len() == 2) {
                    return Err(());
                }
                self.tcp_keepalive.get_or_insert(data);
            }
            code::CLIENT_SUBNET => {
                check_client_subnet(data)?;
                self.client_subnet.get_or_insert(data);
            }
            code::KEY_TAG if data.is_empty() || !data.len().is_multiple_of(2) => return Err(()),
            code::EXPIRE if !(data.is_empty() || data.len() == 4) => return Err(()),
            _ => {}
        }
        Ok(())
    }
}

/// Checks a CLIENT-SUBNET option (RFC 7871 §6): family, prefix bounds, address length, and no
/// bits set beyond the source prefix.
fn check_client_subnet(data: &[u8]) -> Result<(), ()> {
    let [family_high, family_low, source, _scope, address @ ..] = data else { return Err(()) };
    let max = match u16::from_be_bytes([*family_high, *family_low]) {
        1 => 32,
        2 => 128,
        0 if *source == 0 => 0,
        _ => return Err(()),
    };
    if *source > max || address.len() != usize::from(*source).div_ceil(8) {
        return Err(());
    }
    let spare_bits = address.len() * 8 - usize::from(*source);
    match address.last() {
        Some(last) if spare_bits > 0 && last & ((1u8 << spare_bits) - 1) != 0 => Err(()),
        _ => Ok(()),
    }
}

/// Iterates over options; yields `Err` once when an option overruns the data.
struct OptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<(u16, &'a [u8]), ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((head, body)) = self.rest.split_first_chunk::<4>() else {
            self.rest = &[];
            return Some(Err(()));
        };
        let option_code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let Some(data) = body.get(..len) else {
            self.rest = &[];
            return Some(Err(()));
        };
        self.rest = &body[len..];
        Some(Ok((option_code, data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(code: u16, data: &[u8]) -> Vec<u8> {
        let mut out = code.to_be_bytes().to_vec();
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn rfc6891_6_1_3_fields() {
        let edns = Edns::parse(4096, 0x0001_8000, &[], 0).unwrap();
        assert_eq!((edns.udp_size, edns.extended_rcode, edns.version, edns.dnssec_ok), (4096, 0, 1, true));
    }

    #[test]
    fn rfc7873_5_2_2_cookie_lengths() {
        for len in [8usize, 16, 40] {
            assert!(Edns::parse(1232, 0, &option(code::COOKIE, &vec![1; len]), 0).is_ok(), "{len}");
        }
        for len in [0usize, 7, 9, 15, 41] {
            assert!(Edns::parse(1232, 0, &option(code::COOKIE, &vec![1; len]), 0).is_err(), "{len}");
        }
    }

    #[test]
    fn overrunning_option_is_rejected() {
        let mut data = option(code::NSID, &[]);
        data.extend_from_slice(&[0, 10, 0, 9, 1]);
        assert!(Edns::parse(1232, 0, &data, 0).is_err());
    }

    #[test]
    fn rfc7871_client_subnet_rules() {
        assert!(check_client_subnet(&[0, 1, 24, 0, 192, 0, 2]).is_ok());
        assert!(check_client_subnet(&[0, 1, 33, 0, 1, 2, 3, 4, 5]).is_err());
        assert!(check_client_subnet(&[0, 1, 24, 0, 192, 0]).is_err());
        assert!(check_client_subnet(&[0, 1, 23, 0, 192, 0, 3]).is_err());
        assert!(check_client_subnet(&[0, 0, 1, 0]).is_err());
        assert!(check_client_subnet(&[0, 3, 0, 0]).is_err());
    }

    #[test]
    fn too_many_options_are_rejected() {
        let data: Vec<u8> = (0..MAX_OPTIONS + 1).flat_map(|_| option(65001, &[])).collect();
        assert!(Edns::parse(1232, 0, &data, 0).is_err());
        let data: Vec<u8> = (0..MAX_OPTIONS).flat_map(|_| option(65001, &[])).collect();
        assert!(Edns::parse(1232, 0, &data, 0).is_ok());
    }
}
