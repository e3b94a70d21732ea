//! Root hints (RFC 1034 §5.3.2 "SBELT", RFC 9609): the IANA root servers built in
//! ([`IANA_ROOT_SERVERS`], from `named.root` of 2023-11, with b.root's 2023 renumbering), and a
//! parser for a root-hints file in master-file format ([`parse_root_hints`]) for private roots
//! and tests.

use crate::zonefile::{parse_zone_text, NoIncludes};
use portcullis_wire::{NameBuf, Rtype};
use std::net::IpAddr;

/// The thirteen root servers: name, IPv4 address, IPv6 address (IANA `named.root`).
pub const IANA_ROOT_SERVERS: [(&str, &str, &str); 13] = [
    ("a.root-servers.net.", "198.41.0.4", "2001:503:ba3e::2:30"),
    ("b.root-servers.net.", "170.247.170.2", "2801:1b8:10::b"),
    ("c.root-servers.net.", "192.33.4.12", "2001:500:2::c"),
    ("d.root-servers.net.", "199.7.91.13", "2001:500:2d::d"),
    ("e.root-servers.net.", "192.203.230.10", "2001:500:a8::e"),
    ("f.root-servers.net.", "192.5.5.241", "2001:500:2f::f"),
    ("g.root-servers.net.", "192.112.36.4", "2001:500:12::d0d"),
    ("h.root-servers.net.", "198.97.190.53", "2001:500:1::53"),
    ("i.root-servers.net.", "192.36.148.17", "2001:7fe::53"),
    ("j.root-servers.net.", "192.58.128.30", "2001:503:c27::2:30"),
    ("k.root-servers.net.", "193.0.14.129", "2001:7fd::1"),
    ("l.root-servers.net.", "199.7.83.42", "2001:500:9f::42"),
    ("m.root-servers.net.", "202.12.27.33", "2001:dc3::35"),
];

/// Every address of the built-in root servers, IPv4 first.
pub fn iana_root_addresses() -> Vec<IpAddr> {
    let v4 = IANA_ROOT_SERVERS.iter().filter_map(|(_, v4, _)| v4.parse().ok());
    let v6 = IANA_ROOT_SERVERS.iter().filter_map(|(_, _, v6)| v6.parse().ok());
    v4.chain(v6).collect()
}

/// Why a root-hints file was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HintsError {
    /// The text is not a valid master file.
    Syntax(String),
    /// No NS record at the root with an address for its target.
    NoServers,
}

impl core::fmt::Display for HintsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Syntax(message) => write!(f, "root hints: {message}"),
            Self::NoServers => f.write_str("root hints: no root NS with an address"),
        }
    }
}

impl std::error::Error for HintsError {}

/// Root servers read from a hints file: the addresses of the targets of `. NS` records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootHints {
    /// (server name, address) pairs, in file order.
    pub servers: Vec<(NameBuf, IpAddr)>,
}

impl RootHints {
    /// Only the addresses, for [`super::ResolverSettings::root_servers`].
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.servers.iter().map(|(_, addr)| *addr).collect()
    }
}

/// Parses a root-hints file (`named.root` format); `$INCLUDE` is refused.
pub fn parse_root_hints(text: &str, file_label: &str) -> Result<RootHints, HintsError> {
    let records = parse_zone_text(&NameBuf::ROOT, text, file_label, &NoIncludes).map_err(|error| HintsError::Syntax(error.to_string()))?;
    let targets: Vec<NameBuf> = records
        .iter()
        .filter(|record| record.rtype == Rtype::NS && record.owner.is_root())
        .filter_map(|record| NameBuf::from_wire(&record.rdata).ok())
        .collect();
    let servers: Vec<(NameBuf, IpAddr)> = records
        .iter()
        .filter(|record| targets.contains(&record.owner))
        .filter_map(|record| Some((record.owner, address_of(record.rtype, &record.rdata)?)))
        .collect();
    if servers.is_empty() {
        return Err(HintsError::NoServers);
    }
    Ok(RootHints { servers })
}

/// The address in an A or AAAA rdata.
pub fn address_of(rtype: Rtype, rdata: &[u8]) -> Option<IpAddr> {
    match rtype {
        Rtype::A => <[u8; 4]>::try_from(rdata).ok().map(IpAddr::from),
        Rtype::AAAA => <[u8; 16]>::try_from(rdata).ok().map(IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_hints_have_26_addresses() {
        let addresses = iana_root_addresses();
        assert_eq!(addresses.len(), 26);
        assert_eq!(addresses[0], "198.41.0.4".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn hints_file_is_parsed() {
        let text = ".  3600000 NS A.ROOT.test.\nA.ROOT.test. 3600000 A 127.0.0.1\nA.ROOT.test. 3600000 AAAA ::1\nother.test. 1 A 10.0.0.1\n";
        let hints = parse_root_hints(text, "root.hints").unwrap();
        assert_eq!(hints.addresses(), ["127.0.0.1".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]);
        assert_eq!(parse_root_hints("other.test. 1 A 10.0.0.1\n", "x"), Err(HintsError::NoServers));
        assert!(matches!(parse_root_hints(". NS\n", "x"), Err(HintsError::Syntax(_))));
    }
}
