//! DNSKEY rdata, the key tag (RFC 4034 App. B) and DS digests (RFC 4034 §5.1.4; SHA-256 RFC 4509,
//! SHA-384 RFC 6605).

use crate::{Algorithm, Error};
use portcullis_wire::NameBuf;
use ring::digest;

/// The fields of DNSKEY (or CDNSKEY) rdata (RFC 4034 §2.1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Dnskey<'a> {
    /// Flags: 256 for a zone key, 257 with the SEP bit.
    pub flags: u16,
    /// Always 3.
    pub protocol: u8,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The public key in the algorithm's DNSKEY format.
    pub public_key: &'a [u8],
}

impl<'a> Dnskey<'a> {
    /// The zone key flag (bit 7).
    pub const ZONE: u16 = 0x0100;
    /// The secure entry point flag (bit 15).
    pub const SEP: u16 = 0x0001;
    /// The revoke flag (RFC 5011).
    pub const REVOKE: u16 = 0x0080;

    /// Reads DNSKEY rdata.
    pub fn parse(rdata: &'a [u8]) -> Result<Self, Error> {
        match rdata {
            [f0, f1, protocol, algorithm, public_key @ ..] => {
                Ok(Self { flags: u16::from_be_bytes([*f0, *f1]), protocol: *protocol, algorithm: Algorithm(*algorithm), public_key })
            }
            _ => Err(Error::Malformed("DNSKEY rdata")),
        }
    }

    /// Writes the rdata.
    pub fn to_rdata(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.public_key.len());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.push(self.protocol);
        out.push(self.algorithm.0);
        out.extend_from_slice(self.public_key);
        out
    }
}

/// The key tag of DNSKEY rdata (RFC 4034 Appendix B; algorithm 1 is not special-cased since it
/// is long obsolete, RFC 8624).
pub fn key_tag(dnskey_rdata: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for (i, byte) in dnskey_rdata.iter().enumerate() {
        sum += if i % 2 == 0 { u32::from(*byte) << 8 } else { u32::from(*byte) };
    }
    sum += (sum >> 16) & 0xFFFF;
    (sum & 0xFFFF) as u16
}

/// A DS digest type (IANA "Delegation Signer (DS) Resource Record (RR) Type Digest Algorithms").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DigestType(pub u8);

impl DigestType {
    /// SHA-1 (RFC 4034): verification of old DS records only.
    pub const SHA1: Self = Self(1);
    /// SHA-256 (RFC 4509).
    pub const SHA256: Self = Self(2);
    /// SHA-384 (RFC 6605).
    pub const SHA384: Self = Self(4);

    fn algorithm(self) -> Result<&'static digest::Algorithm, Error> {
        match self.0 {
            1 => Ok(&digest::SHA1_FOR_LEGACY_USE_ONLY),
            2 => Ok(&digest::SHA256),
            4 => Ok(&digest::SHA384),
            other => Err(Error::UnsupportedDigest(other)),
        }
    }
}

/// The DS digest of a DNSKEY: `digest(canonical owner | DNSKEY rdata)` (RFC 4034 §5.1.4).
pub fn ds_digest(owner: &NameBuf, dnskey_rdata: &[u8], digest_type: DigestType) -> Result<Vec<u8>, Error> {
    let mut context = digest::Context::new(digest_type.algorithm()?);
    context.update(owner.to_lowercase().as_wire());
    context.update(dnskey_rdata);
    Ok(context.finish().as_ref().to_vec())
}

/// The whole DS rdata (key tag, algorithm, digest type, digest) for a DNSKEY.
pub fn ds_rdata(owner: &NameBuf, dnskey_rdata: &[u8], digest_type: DigestType) -> Result<Vec<u8>, Error> {
    let key = Dnskey::parse(dnskey_rdata)?;
    let digest = ds_digest(owner, dnskey_rdata, digest_type)?;
    let mut out = Vec::with_capacity(4 + digest.len());
    out.extend_from_slice(&key_tag(dnskey_rdata).to_be_bytes());
    out.push(key.algorithm.0);
    out.push(digest_type.0);
    out.extend_from_slice(&digest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tag_sums_words_and_folds_the_carry() {
        // 0x0101 + 0x0308 + 0xFFFF = 0x10408 -> 0x0408 + 0x1 = 0x0409.
        assert_eq!(key_tag(&[1, 1, 3, 8, 0xFF, 0xFF]), 0x0409);
        // An odd length: the last byte counts as a high byte.
        assert_eq!(key_tag(&[0, 0, 0, 0, 0x12]), 0x1200);
        assert_eq!(key_tag(&[]), 0);
    }

    #[test]
    fn dnskey_round_trips_and_rejects_short_rdata() {
        let rdata = [1, 1, 3, 13, 9, 9];
        let key = Dnskey::parse(&rdata).unwrap();
        assert_eq!((key.flags, key.protocol, key.algorithm, key.public_key), (257, 3, Algorithm::ECDSAP256SHA256, &[9u8, 9][..]));
        assert_eq!(key.to_rdata(), rdata);
        assert_eq!(Dnskey::parse(&[1, 1, 3]), Err(Error::Malformed("DNSKEY rdata")));
    }

    #[test]
    fn unknown_digest_types_are_refused() {
        assert_eq!(ds_digest(&NameBuf::ROOT, &[1, 1, 3, 8], DigestType(3)), Err(Error::UnsupportedDigest(3)));
    }
}
