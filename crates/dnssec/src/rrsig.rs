//! RRSIG rdata (RFC 4034 §3.1) and the data a signature covers (RFC 4034 §3.1.8.1, with the
//! wildcard rule of RFC 4035 §5.3.2).

use crate::canonical::canonical_rrset;
use crate::{Algorithm, Error};
use portcullis_wire::{Class, NameBuf, Rtype};

/// The fields of RRSIG rdata before the signature.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rrsig {
    /// The type of the RRset covered.
    pub type_covered: Rtype,
    /// The algorithm of the signing key.
    pub algorithm: Algorithm,
    /// Labels of the owner name, not counting the root nor a leading `*` label.
    pub labels: u8,
    /// The TTL of the RRset as signed.
    pub original_ttl: u32,
    /// Signature expiration, seconds since the epoch modulo 2^32 (RFC 4034 §3.1.5).
    pub expiration: u32,
    /// Signature inception, the same.
    pub inception: u32,
    /// The key tag of the signing DNSKEY.
    pub key_tag: u16,
    /// The signer's (zone's) name.
    pub signer: NameBuf,
}

impl Rrsig {
    /// Reads RRSIG rdata: the fields and the signature that follows them.
    pub fn parse(rdata: &[u8]) -> Result<(Self, &[u8]), Error> {
        let bad = Error::Malformed("RRSIG rdata");
        let fixed = rdata.get(..18).ok_or(bad)?;
        let (signer, used) = NameBuf::parse_uncompressed(rdata, 18).map_err(|_| bad)?;
        let u32_at = |i: usize| u32::from_be_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
        let fields = Self {
            type_covered: Rtype(u16::from_be_bytes([fixed[0], fixed[1]])),
            algorithm: Algorithm(fixed[2]),
            labels: fixed[3],
            original_ttl: u32_at(4),
            expiration: u32_at(8),
            inception: u32_at(12),
            key_tag: u16::from_be_bytes([fixed[16], fixed[17]]),
            signer,
        };
        Ok((fields, &rdata[used..]))
    }

    /// Appends the rdata fields without the signature, the signer's name lower-cased (the
    /// start of the signing input, and of the rdata once the signature is appended).
    pub fn write_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.type_covered.0.to_be_bytes());
        out.push(self.algorithm.0);
        out.push(self.labels);
        out.extend_from_slice(&self.original_ttl.to_be_bytes());
        out.extend_from_slice(&self.expiration.to_be_bytes());
        out.extend_from_slice(&self.inception.to_be_bytes());
        out.extend_from_slice(&self.key_tag.to_be_bytes());
        out.extend_from_slice(self.signer.to_lowercase().as_wire());
    }

    /// The whole RRSIG rdata: the fields and `signature`.
    pub fn to_rdata(&self, signature: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(18 + self.signer.len() + signature.len());
        self.write_fields(&mut out);
        out.extend_from_slice(signature);
        out
    }

    /// True when `now` (seconds since the epoch, modulo 2^32) lies in `[inception, expiration]`,
    /// compared in serial number arithmetic (RFC 4034 §3.1.5, RFC 1982).
    pub fn is_current(&self, now: u32) -> bool {
        serial_le(self.inception, now) && serial_le(now, self.expiration)
    }
}

/// `a <= b` in RFC 1982 serial arithmetic on 32 bits.
fn serial_le(a: u32, b: u32) -> bool {
    b.wrapping_sub(a) < 0x8000_0000
}

/// The label count an RRSIG for `owner` carries: labels without the root and without a leading
/// `*` (RFC 4034 §3.1.3).
pub fn label_count(owner: &NameBuf) -> u8 {
    let count = owner.label_count() - usize::from(owner.is_wildcard());
    count as u8
}

/// The owner name an RRset is signed under (RFC 4035 §5.3.2): lower-cased, and when the RRSIG has
/// fewer labels than `owner` (an answer synthesised from a wildcard), `*.` and the rightmost
/// `labels` labels of `owner`.
pub fn signed_owner(owner: &NameBuf, labels: u8) -> Result<NameBuf, Error> {
    let count = owner.label_count();
    let labels = usize::from(labels);
    match count.cmp(&labels) {
        core::cmp::Ordering::Less => Err(Error::Malformed("RRSIG label count above the owner's")),
        core::cmp::Ordering::Equal => Ok(owner.to_lowercase()),
        core::cmp::Ordering::Greater => {
            let closest = owner.suffix(count - labels).ok_or(Error::Malformed("owner name"))?;
            closest.wildcard_child().map(|n| n.to_lowercase()).ok_or(Error::Malformed("owner name"))
        }
    }
}

/// Builds the signing input of RFC 4034 §3.1.8.1 into `out`: the RRSIG fields (signer
/// lower-cased), then each record of the RRset in canonical form and order (RFC 4034 §6.2-6.3):
/// the signed owner name ([`signed_owner`]), type, class, the original TTL, rdata length and
/// canonical rdata. The type signed is `rrsig.type_covered`.
pub fn signing_input<'a>(rrsig: &Rrsig, owner: &NameBuf, class: Class, rdatas: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<u8>) -> Result<(), Error> {
    let name = signed_owner(owner, rrsig.labels)?;
    let set = canonical_rrset(rrsig.type_covered, rdatas)?;
    rrsig.write_fields(out);
    for rdata in &set {
        let len = u16::try_from(rdata.len()).map_err(|_| Error::Malformed("rdata longer than 65535"))?;
        out.extend_from_slice(name.as_wire());
        out.extend_from_slice(&rrsig.type_covered.0.to_be_bytes());
        out.extend_from_slice(&class.0.to_be_bytes());
        out.extend_from_slice(&rrsig.original_ttl.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(rdata);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    fn sample() -> Rrsig {
        Rrsig {
            type_covered: Rtype::A,
            algorithm: Algorithm::ED25519,
            labels: 2,
            original_ttl: 3600,
            expiration: 20,
            inception: 10,
            key_tag: 4242,
            signer: name("Example.COM."),
        }
    }

    #[test]
    fn rdata_round_trips_with_the_signer_lowercased() {
        let rdata = sample().to_rdata(&[1, 2, 3]);
        let (parsed, signature) = Rrsig::parse(&rdata).unwrap();
        assert_eq!(signature, [1, 2, 3]);
        assert_eq!(parsed.signer.as_wire(), name("example.com.").as_wire());
        assert_eq!(Rrsig { signer: sample().signer, ..parsed }, sample());
        assert!(Rrsig::parse(&rdata[..17]).is_err());
    }

    #[test]
    fn wildcard_expansion_signs_under_the_wildcard_name() {
        let owner = name("a.b.Example.com.");
        assert_eq!(signed_owner(&owner, 2).unwrap().as_wire(), name("*.example.com.").as_wire());
        assert_eq!(signed_owner(&owner, 4).unwrap().as_wire(), name("a.b.example.com.").as_wire());
        assert!(signed_owner(&owner, 5).is_err());
        assert_eq!(label_count(&name("*.example.com.")), 2);
        assert_eq!(label_count(&NameBuf::ROOT), 0);
    }

    #[test]
    fn signing_input_is_fields_then_sorted_records() {
        let rrsig = Rrsig { labels: 3, ..sample() };
        let mut out = Vec::new();
        let records: [&[u8]; 2] = [&[192, 0, 2, 9], &[192, 0, 2, 1]];
        signing_input(&rrsig, &name("WWW.example.com."), Class::IN, records, &mut out).unwrap();
        let mut expected = Vec::new();
        rrsig.write_fields(&mut expected);
        for rdata in [[192, 0, 2, 1], [192, 0, 2, 9]] {
            expected.extend_from_slice(name("www.example.com.").as_wire());
            expected.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4]);
            expected.extend_from_slice(&rdata);
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn validity_uses_serial_arithmetic() {
        let rrsig = Rrsig { inception: u32::MAX - 5, expiration: 10, ..sample() };
        assert!(rrsig.is_current(u32::MAX) && rrsig.is_current(0) && rrsig.is_current(10));
        assert!(!rrsig.is_current(11) && !rrsig.is_current(u32::MAX - 6));
    }
}
