//! DNSSEC, pure and sans-IO (RFC 4033-4035, RFC 5155, RFC 6840): the parts that signing a zone
//! and validating an answer share.
//!
//! - [`canonical`]: canonical form of rdata and canonical RRset order (RFC 4034 §6.2-6.3); the
//!   canonical name order of §6.1 is `portcullis_wire::NameBuf::canonical_cmp`.
//! - [`rrsig`]: the RRSIG rdata fields and the signing input (RFC 4034 §3.1.8.1, RFC 4035 §5.3.2).
//! - [`crypto`]: verification for algorithms 5, 7, 8, 10, 13, 14 and 15 and signing with 8 to 15,
//!   all through `ring` (nothing hand-rolled); randomness is always the caller's argument.
//! - [`key`]: DNSKEY rdata, key tag (RFC 4034 App. B) and DS digests (RFC 4034 §5.1.4, RFC 4509,
//!   RFC 6605).
//! - [`nsec3`]: NSEC3 owner hashes (RFC 5155 §5) and base32hex (RFC 4648 §7).
//! - [`bitmap`]: NSEC/NSEC3 type bitmaps (RFC 4034 §4.1.2) for any type number.
//! - [`chain`]: NSEC and NSEC3 rdata views, chain builders and coverage (RFC 4034 §4, RFC 5155).
//! - [`keystate`]: one managed key's role and timeline (published, signing, CDS), and its text
//!   form in the key directory.
//! - [`rollover`]: key management as policy: which keys to make, publish, sign with and
//!   withdraw, and when.
//! - [`resign`]: signing again: which signatures of the previous version are kept, and the
//!   jitter of new expirations.
//! - [`zone`]: the zone signer: DNSKEYs, RRSIGs and the NSEC or NSEC3 chain of a whole zone.
//!
//! The crate reads no clock, no file and no random source: times and random generators are
//! arguments.

pub mod bitmap;
pub mod canonical;
pub mod chain;
pub mod crypto;
pub mod key;
pub mod keystate;
pub mod nsec3;
pub mod resign;
pub mod rollover;
pub mod rrsig;
pub mod zone;

pub use crypto::{verify, SigningKey};
pub use key::{ds_digest, key_tag, DigestType, Dnskey};
pub use keystate::KeyState;
pub use resign::Resign;
pub use rrsig::{signing_input, Rrsig};
pub use zone::{sign_zone, sign_zone_with, Denial, KeyRole, KeyUse, Record, SignOptions, ZoneKey};

use core::fmt;

/// A DNSSEC algorithm number (IANA "DNS Security Algorithm Numbers").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Algorithm(pub u8);

impl Algorithm {
    /// RSA/SHA-1 (RFC 3110): verified for validation only (RFC 8624 §3.1), never signed with.
    pub const RSASHA1: Self = Self(5);
    /// RSA/SHA-1 for NSEC3 zones (RFC 5155 §2): the same, under another number.
    pub const RSASHA1_NSEC3_SHA1: Self = Self(7);
    /// RSA/SHA-256 (RFC 5702).
    pub const RSASHA256: Self = Self(8);
    /// RSA/SHA-512 (RFC 5702).
    pub const RSASHA512: Self = Self(10);
    /// ECDSA P-256 with SHA-256 (RFC 6605).
    pub const ECDSAP256SHA256: Self = Self(13);
    /// ECDSA P-384 with SHA-384 (RFC 6605).
    pub const ECDSAP384SHA384: Self = Self(14);
    /// Ed25519 (RFC 8080).
    pub const ED25519: Self = Self(15);

    /// True for the algorithms [`verify`] supports.
    pub const fn is_supported(self) -> bool {
        matches!(self.0, 5 | 7 | 8 | 10 | 13 | 14 | 15)
    }
}

/// Why a DNSSEC operation failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Error {
    /// Wire data that does not parse (names the part).
    Malformed(&'static str),
    /// An algorithm this crate does not implement: a validator treats the zone as insecure.
    UnsupportedAlgorithm(u8),
    /// A DS digest type this crate does not implement.
    UnsupportedDigest(u8),
    /// A key `ring` refuses for its size (RSA below 1024 bits to verify, below 2048 to sign).
    UnsupportedKeySize,
    /// A public or private key that is not a valid key of its algorithm.
    BadKey,
    /// The signature does not verify.
    BadSignature,
    /// The signer failed (ring reported an error).
    SigningFailed,
    /// A zone that cannot be signed (names the reason).
    InvalidZone(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed {what}"),
            Self::UnsupportedAlgorithm(alg) => write!(f, "unsupported DNSSEC algorithm {alg}"),
            Self::UnsupportedDigest(digest) => write!(f, "unsupported DS digest type {digest}"),
            Self::UnsupportedKeySize => f.write_str("key size not supported"),
            Self::BadKey => f.write_str("invalid key"),
            Self::BadSignature => f.write_str("signature does not verify"),
            Self::SigningFailed => f.write_str("signing failed"),
            Self::InvalidZone(why) => write!(f, "cannot sign the zone: {why}"),
        }
    }
}

impl std::error::Error for Error {}
