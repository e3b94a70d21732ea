//! [`Prefix`]: an IPv4 or IPv6 network in CIDR notation ([RFC 4632] §3.1, [RFC 4291] §2.3),
//! used by the ACL and by RRL's exempt networks and client aggregation.
//!
//! Invariants: a prefix's host bits are zero, and an IPv4-mapped IPv6 address or prefix
//! (`::ffff:0:0/96`, [RFC 4291] §2.5.5.2) is stored as IPv4, so `::ffff:192.0.2.1` and
//! `192.0.2.1` are the same client. IPv4 and IPv6 prefixes never match each other's family.
//!
//! [RFC 4632]: https://www.rfc-editor.org/rfc/rfc4632
//! [RFC 4291]: https://www.rfc-editor.org/rfc/rfc4291

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address family and its leading `len` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The network, host bits zero; IPv4 addresses are never IPv4-mapped IPv6.
    addr: IpAddr,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    len: u8,
}

/// Why a prefix was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixError {
    /// The address part is not an IPv4 or IPv6 address.
    BadAddress,
    /// The length is not a number, or exceeds 32 (IPv4) or 128 (IPv6).
    BadLength,
    /// Bits after the prefix length are set (`192.0.2.1/24`): probably a typo.
    HostBitsSet,
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadAddress => "not an IPv4 or IPv6 address",
            Self::BadLength => "prefix length out of range",
            Self::HostBitsSet => "address has bits set after the prefix length",
        })
    }
}

impl std::error::Error for PrefixError {}

impl Prefix {
    /// Every IPv4 address, `0.0.0.0/0`.
    pub const ANY_V4: Self = Self { addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED), len: 0 };
    /// Every IPv6 address, `::/0` (IPv4-mapped clients count as IPv4 and do not match it).
    pub const ANY_V6: Self = Self { addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED), len: 0 };
    /// IPv4 loopback, `127.0.0.0/8`.
    pub const LOOPBACK_V4: Self = Self { addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), len: 8 };
    /// IPv6 loopback, `::1/128`.
    pub const LOOPBACK_V6: Self = Self { addr: IpAddr::V6(Ipv6Addr::LOCALHOST), len: 128 };

    /// The prefix `addr/len`; host bits must be zero.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixError> {
        let (addr, len) = match addr {
            IpAddr::V6(v6) if len >= 96 && v6.to_ipv4_mapped().is_some() => (canonical(addr), len - 96),
            other => (other, len),
        };
        if len > max_len(addr) {
            return Err(PrefixError::BadLength);
        }
        let prefix = Self::covering(addr, len);
        if prefix.addr != addr {
            return Err(PrefixError::HostBitsSet);
        }
        Ok(prefix)
    }

    /// The single address `addr` (`/32` or `/128`), IPv4-mapped IPv6 stored as IPv4.
    pub fn host(addr: IpAddr) -> Self {
        let addr = canonical(addr);
        Self { addr, len: max_len(addr) }
    }

    /// The prefix of length `len` (clamped to the family's width) that contains `addr`; this is
    /// how RRL aggregates clients (IPv4 /24, IPv6 /56).
    pub fn covering(addr: IpAddr, len: u8) -> Self {
        let addr = canonical(addr);
        let len = len.min(max_len(addr));
        let addr = match addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(len))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(len))),
        };
        Self { addr, len }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// True for `/0`, which matches every address of its family.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when `addr` (IPv4-mapped IPv6 counted as IPv4) lies within this prefix.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, canonical(addr)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => (u32::from(ip) ^ u32::from(net)) & mask32(self.len) == 0,
            (IpAddr::V6(net), IpAddr::V6(ip)) => (u128::from(ip) ^ u128::from(net)) & mask128(self.len) == 0,
            _ => false,
        }
    }

    /// The network as 16 bytes plus a family tag, for hashing: IPv4 in the first 4 bytes.
    pub fn to_key_bytes(&self) -> [u8; 18] {
        let mut out = [0u8; 18];
        match self.addr {
            IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => {
                out[..16].copy_from_slice(&v6.octets());
                out[16] = 6;
            }
        }
        out[17] = self.len;
        out
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// Parses `address` (a host prefix) or `address/length`.
    fn from_str(text: &str) -> Result<Self, PrefixError> {
        let (address, len) = match text.split_once('/') {
            Some((address, len)) => (address, Some(len)),
            None => (text, None),
        };
        let addr = IpAddr::from_str(address).map_err(|_| PrefixError::BadAddress)?;
        match len {
            None => Ok(Self::host(addr)),
            Some(len) => {
                let len = parse_len(len)?;
                Self::new(addr, len)
            }
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The address with IPv4-mapped IPv6 (`::ffff:a.b.c.d`) turned into IPv4.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// Decimal digits only, no sign or spaces.
fn parse_len(text: &str) -> Result<u8, PrefixError> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PrefixError::BadLength);
    }
    text.parse().map_err(|_| PrefixError::BadLength)
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn rfc4632_3_1_parse_and_contain() {
        let net: Prefix = "192.0.2.0/24".parse().unwrap();
        assert!(net.contains(ip("192.0.2.255")));
        assert!(!net.contains(ip("192.0.3.0")));
        assert_eq!(net.to_string(), "192.0.2.0/24");
        assert_eq!("10.1.2.3".parse::<Prefix>().unwrap().len(), 32);
        assert!("0.0.0.0/0".parse::<Prefix>().unwrap().contains(ip("203.0.113.1")));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!("192.0.2.1/24".parse::<Prefix>(), Err(PrefixError::HostBitsSet));
        assert_eq!("192.0.2.0/33".parse::<Prefix>(), Err(PrefixError::BadLength));
        assert_eq!("192.0.2.0/+8".parse::<Prefix>(), Err(PrefixError::BadLength));
        assert_eq!("2001:db8::/129".parse::<Prefix>(), Err(PrefixError::BadLength));
        assert_eq!("example/8".parse::<Prefix>(), Err(PrefixError::BadAddress));
    }

    #[test]
    fn rfc4291_2_5_5_2_mapped_is_ipv4() {
        let mapped: Prefix = "::ffff:192.0.2.0/120".parse().unwrap();
        assert_eq!(mapped, "192.0.2.0/24".parse().unwrap());
        let net: Prefix = "192.0.2.0/24".parse().unwrap();
        assert!(net.contains(ip("::ffff:192.0.2.7")));
        assert!(!Prefix::ANY_V6.contains(ip("::ffff:192.0.2.7")));
        assert!(!Prefix::ANY_V4.contains(ip("2001:db8::1")));
        assert_eq!(Prefix::host(ip("::ffff:10.0.0.1")), "10.0.0.1/32".parse().unwrap());
    }

    #[test]
    fn rfc4291_2_3_ipv6_prefixes() {
        let net: Prefix = "2001:db8:220::/48".parse().unwrap();
        assert!(net.contains(ip("2001:db8:220:1::53")));
        assert!(!net.contains(ip("2001:db8:221::1")));
        assert!(Prefix::LOOPBACK_V6.contains(ip("::1")));
        assert_eq!(Prefix::covering(ip("2001:db8:220:1:59de::1"), 56).to_string(), "2001:db8:220::/56");
        assert_eq!(Prefix::covering(ip("198.51.100.100"), 24).to_string(), "198.51.100.0/24");
        assert_eq!(Prefix::covering(ip("198.51.100.100"), 200).len(), 32);
    }
}
