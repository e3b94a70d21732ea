//! Numeric newtypes of the DNS: record types, classes, response codes, opcodes (RFC 1035 §3.2, IANA).
//!
//! Each is a transparent `u16`/`u8` with associated constants; unknown values are kept as they are
//! and printed in the RFC 3597 generic form (`TYPE65280`, `CLASS32`).

use core::fmt;

/// A resource record type (RFC 1035 §3.2.2; IANA "Resource Record (RR) TYPEs").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Rtype(pub u16);

macro_rules! rtypes {
    ($($name:ident = $value:expr),* $(,)?) => {
        impl Rtype {
            $(#[doc = concat!("The `", stringify!($name), "` type.")] pub const $name: Self = Self($value);)*
            /// The mnemonic of a known type, `None` for others.
            pub const fn mnemonic(self) -> Option<&'static str> {
                match self.0 { $($value => Some(stringify!($name)),)* _ => None }
            }
            /// Every type with a mnemonic, for tests and tables.
            pub const KNOWN: &'static [Rtype] = &[$(Self::$name),*];
        }
    };
}

rtypes! {
    A = 1, NS = 2, MD = 3, MF = 4, CNAME = 5, SOA = 6, MB = 7, MG = 8, MR = 9, NULL = 10, WKS = 11,
    PTR = 12, HINFO = 13, MINFO = 14, MX = 15, TXT = 16, RP = 17, AFSDB = 18, X25 = 19, ISDN = 20,
    RT = 21, NSAP = 22, SIG = 24, KEY = 25, PX = 26, GPOS = 27, AAAA = 28, LOC = 29, NXT = 30,
    SRV = 33, NAPTR = 35, KX = 36, CERT = 37, DNAME = 39, OPT = 41, APL = 42, DS = 43, SSHFP = 44,
    IPSECKEY = 45, RRSIG = 46, NSEC = 47, DNSKEY = 48, DHCID = 49, NSEC3 = 50, NSEC3PARAM = 51,
    TLSA = 52, SMIMEA = 53, HIP = 55, CDS = 59, CDNSKEY = 60, OPENPGPKEY = 61, CSYNC = 62,
    ZONEMD = 63, SVCB = 64, HTTPS = 65, SPF = 99, NID = 104, L32 = 105, L64 = 106, LP = 107,
    EUI48 = 108, EUI64 = 109, TKEY = 249, TSIG = 250, IXFR = 251, AXFR = 252, MAILB = 253,
    MAILA = 254, ANY = 255, URI = 256, CAA = 257, DLV = 32769,
}

impl Rtype {
    /// Parses a mnemonic (case-insensitive) or the RFC 3597 form `TYPEnnn`.
    pub fn from_text(text: &str) -> Option<Self> {
        // Fast path for the types zone files are made of (the lexer asks for every token).
        if text.as_bytes().first().is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let mut upper = [0u8; 10];
        if let Some(head) = upper.get_mut(..text.len()) {
            head.copy_from_slice(text.as_bytes());
            head.make_ascii_uppercase();
            let common = match &*head {
                b"A" => Some(Self::A),
                b"AAAA" => Some(Self::AAAA),
                b"NS" => Some(Self::NS),
                b"MX" => Some(Self::MX),
                b"TXT" => Some(Self::TXT),
                b"CNAME" => Some(Self::CNAME),
                b"SOA" => Some(Self::SOA),
                b"PTR" => Some(Self::PTR),
                b"SRV" => Some(Self::SRV),
                b"IN" | b"CH" | b"HS" => return None,
                _ => None,
            };
            if common.is_some() {
                return common;
            }
        }
        if let Some(rtype) = Self::KNOWN.iter().find(|t| t.mnemonic().is_some_and(|m| m.eq_ignore_ascii_case(text))) {
            return Some(*rtype);
        }
        let digits = strip_prefix_ignore_case(text, "TYPE")?;
        digits.parse().ok().map(Self)
    }

    /// Meta types and question-only types (RFC 6895 §3.1): never stored as data.
    pub const fn is_meta(self) -> bool {
        matches!(self.0, 0 | 41 | 128..=255)
    }

    /// Types whose rdata names may be compressed on output and must be decompressed on input
    /// (RFC 3597 §4: the RFC 1035 types).
    pub const fn has_compressible_names(self) -> bool {
        matches!(self.0, 2..=9 | 12 | 14 | 15)
    }
}

impl fmt::Display for Rtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mnemonic() {
            Some(name) => f.write_str(name),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

/// A class (RFC 1035 §3.2.4).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Class(pub u16);

impl Class {
    /// The Internet.
    pub const IN: Self = Self(1);
    /// Chaos.
    pub const CH: Self = Self(3);
    /// Hesiod.
    pub const HS: Self = Self(4);
    /// NONE (RFC 2136).
    pub const NONE: Self = Self(254);
    /// ANY / `*`.
    pub const ANY: Self = Self(255);

    /// Parses `IN`, `CH`, `HS`, `NONE`, `ANY` or `CLASSnnn`.
    pub fn from_text(text: &str) -> Option<Self> {
        let known = [("IN", Self::IN), ("CH", Self::CH), ("CS", Self(2)), ("HS", Self::HS), ("NONE", Self::NONE), ("ANY", Self::ANY)];
        if let Some((_, class)) = known.iter().find(|(name, _)| name.eq_ignore_ascii_case(text)) {
            return Some(*class);
        }
        strip_prefix_ignore_case(text, "CLASS")?.parse().ok().map(Self)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("IN"),
            2 => f.write_str("CS"),
            3 => f.write_str("CH"),
            4 => f.write_str("HS"),
            254 => f.write_str("NONE"),
            255 => f.write_str("ANY"),
            other => write!(f, "CLASS{other}"),
        }
    }
}

/// A response code, including the extended values carried in OPT (RFC 6891 §6.1.3).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Rcode(pub u16);

impl Rcode {
    /// No error.
    pub const NOERROR: Self = Self(0);
    /// Format error.
    pub const FORMERR: Self = Self(1);
    /// Server failure.
    pub const SERVFAIL: Self = Self(2);
    /// Name does not exist.
    pub const NXDOMAIN: Self = Self(3);
    /// Not implemented.
    pub const NOTIMP: Self = Self(4);
    /// Refused.
    pub const REFUSED: Self = Self(5);
    /// Name exists when it should not (RFC 2136).
    pub const YXDOMAIN: Self = Self(6);
    /// An RRset exists when it should not (RFC 2136).
    pub const YXRRSET: Self = Self(7);
    /// An RRset that should exist does not (RFC 2136).
    pub const NXRRSET: Self = Self(8);
    /// Not authoritative / not authorized (RFC 2136, RFC 8945).
    pub const NOTAUTH: Self = Self(9);
    /// Not in zone (RFC 2136).
    pub const NOTZONE: Self = Self(10);
    /// Bad OPT version (RFC 6891).
    pub const BADVERS: Self = Self(16);
    /// Bad or missing server cookie (RFC 7873).
    pub const BADCOOKIE: Self = Self(23);

    /// The low four bits, carried in the header.
    pub const fn header_bits(self) -> u8 {
        (self.0 & 0xF) as u8
    }

    /// The high eight bits, carried in the OPT TTL field.
    pub const fn extended_bits(self) -> u8 {
        (self.0 >> 4) as u8
    }

    /// The mnemonic, as dig prints it.
    pub const fn mnemonic(self) -> &'static str {
        match self.0 {
            0 => "NOERROR",
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            6 => "YXDOMAIN",
            7 => "YXRRSET",
            8 => "NXRRSET",
            9 => "NOTAUTH",
            10 => "NOTZONE",
            16 => "BADVERS",
            17 => "BADKEY",
            18 => "BADTIME",
            22 => "BADTRUNC",
            23 => "BADCOOKIE",
            _ => "RESERVED",
        }
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mnemonic() {
            "RESERVED" => write!(f, "RCODE{}", self.0),
            name => f.write_str(name),
        }
    }
}

/// An opcode (RFC 1035 §4.1.1, RFC 1996, RFC 2136).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Opcode(pub u8);

impl Opcode {
    /// A standard query.
    pub const QUERY: Self = Self(0);
    /// Inverse query (obsolete, RFC 3425).
    pub const IQUERY: Self = Self(1);
    /// Server status request.
    pub const STATUS: Self = Self(2);
    /// Zone change notification (RFC 1996).
    pub const NOTIFY: Self = Self(4);
    /// Dynamic update (RFC 2136).
    pub const UPDATE: Self = Self(5);

    /// The mnemonic, as dig prints it.
    pub const fn mnemonic(self) -> &'static str {
        match self.0 {
            0 => "QUERY",
            1 => "IQUERY",
            2 => "STATUS",
            4 => "NOTIFY",
            5 => "UPDATE",
            6 => "DSO",
            _ => "RESERVED",
        }
    }
}

fn strip_prefix_ignore_case<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..]).filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtype_text_round_trip() {
        for rtype in Rtype::KNOWN {
            assert_eq!(Rtype::from_text(&rtype.to_string()), Some(*rtype));
        }
        assert_eq!(Rtype::from_text("type65280"), Some(Rtype(65280)));
        assert_eq!(Rtype(65280).to_string(), "TYPE65280");
        assert_eq!(Rtype::from_text("TYPE"), None);
        assert_eq!(Rtype::from_text("aaaa"), Some(Rtype::AAAA));
    }

    #[test]
    fn class_text() {
        assert_eq!(Class::from_text("in"), Some(Class::IN));
        assert_eq!(Class::from_text("CLASS32"), Some(Class(32)));
        assert_eq!(Class(32).to_string(), "CLASS32");
    }

    #[test]
    fn rcode_split() {
        assert_eq!(Rcode::BADVERS.header_bits(), 0);
        assert_eq!(Rcode::BADVERS.extended_bits(), 1);
        assert_eq!(Rcode::BADCOOKIE.header_bits(), 7);
    }
}
