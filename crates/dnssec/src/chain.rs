//! NSEC and NSEC3 records and chains (RFC 4034 §4, RFC 5155 §3 and §7.1): the rdata views a
//! validator reads and the chain builders a signer uses.
//!
//! Chains are built from the complete list of owner names the chain must cover, each with the
//! types present there; which names that is (authoritative names, delegations, empty
//! non-terminals, and which opt-out leaves out) is the signer's decision, not this module's.

use crate::canonical::name_cmp;
use crate::{bitmap, nsec3, Error};
use portcullis_wire::{NameBuf, Rtype};

/// NSEC rdata (RFC 4034 §4.1): the next owner name and the type bitmap.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Nsec<'a> {
    /// The next owner name in canonical order (the apex for the last record).
    pub next: NameBuf,
    /// The type bitmap, still encoded.
    pub bitmap: &'a [u8],
}

impl<'a> Nsec<'a> {
    /// Reads NSEC rdata.
    pub fn parse(rdata: &'a [u8]) -> Result<Self, Error> {
        let (next, used) = NameBuf::parse_uncompressed(rdata, 0).map_err(|_| Error::Malformed("NSEC rdata"))?;
        Ok(Self { next, bitmap: &rdata[used..] })
    }
}

/// NSEC3 rdata (RFC 5155 §3.2).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Nsec3<'a> {
    /// The chain's parameters.
    pub params: Nsec3Params<'a>,
    /// The flags: bit 0 is Opt-Out.
    pub flags: u8,
    /// The next hashed owner name, raw (not base32hex).
    pub next_hash: &'a [u8],
    /// The type bitmap, still encoded.
    pub bitmap: &'a [u8],
}

/// The NSEC3 flag bit for Opt-Out (RFC 5155 §3.1.2.1).
pub const OPT_OUT: u8 = 1;

/// The hash parameters of an NSEC3 chain (also the NSEC3PARAM rdata, RFC 5155 §4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Nsec3Params<'a> {
    /// The hash algorithm: 1, SHA-1.
    pub algorithm: u8,
    /// Additional iterations (RFC 9276 asks for 0).
    pub iterations: u16,
    /// The salt (RFC 9276 asks for none).
    pub salt: &'a [u8],
}

impl<'a> Nsec3<'a> {
    /// Reads NSEC3 rdata.
    pub fn parse(rdata: &'a [u8]) -> Result<Self, Error> {
        let bad = Error::Malformed("NSEC3 rdata");
        let [algorithm, flags, i0, i1, salt_len, rest @ ..] = rdata else { return Err(bad) };
        let (salt, rest) = rest.split_at_checked(usize::from(*salt_len)).ok_or(bad)?;
        let (hash_len, rest) = rest.split_first().ok_or(bad)?;
        let (next_hash, bitmap) = rest.split_at_checked(usize::from(*hash_len)).ok_or(bad)?;
        if next_hash.is_empty() {
            return Err(bad);
        }
        let params = Nsec3Params { algorithm: *algorithm, iterations: u16::from_be_bytes([*i0, *i1]), salt };
        Ok(Self { params, flags: *flags, next_hash, bitmap })
    }
}

impl Nsec3Params<'_> {
    /// The NSEC3PARAM rdata (flags 0).
    pub fn to_rdata(&self) -> Vec<u8> {
        let mut out = vec![self.algorithm, 0];
        self.write_tail(&mut out);
        out
    }

    /// Iterations, salt length and salt.
    fn write_tail(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.iterations.to_be_bytes());
        out.push(self.salt.len() as u8);
        out.extend_from_slice(self.salt);
    }

    /// The hash of `name` under these parameters.
    pub fn hash(&self, name: &NameBuf) -> Result<[u8; 20], Error> {
        nsec3::hash(name, self.algorithm, self.salt, self.iterations)
    }
}

/// NSEC3 rdata from its parts.
pub fn nsec3_rdata(params: &Nsec3Params<'_>, flags: u8, next_hash: &[u8], types: &[Rtype]) -> Vec<u8> {
    let mut out = vec![params.algorithm, flags];
    params.write_tail(&mut out);
    out.push(next_hash.len() as u8);
    out.extend_from_slice(next_hash);
    out.extend_from_slice(&bitmap::encode(types.iter().copied()));
    out
}

/// The NSEC chain of a zone: for each owner (any order; types as present at that name), its NSEC
/// rdata, in canonical order, the last pointing back to the first (the apex). NSEC and RRSIG are
/// added to every bitmap, as every owner of a signed zone has both (RFC 4035 §2.3).
pub fn nsec_chain(owners: &[(NameBuf, Vec<Rtype>)]) -> Vec<(NameBuf, Vec<u8>)> {
    let mut sorted: Vec<&(NameBuf, Vec<Rtype>)> = owners.iter().collect();
    sorted.sort_by(|a, b| name_cmp(&a.0, &b.0));
    sorted.dedup_by(|a, b| a.0 == b.0);
    let count = sorted.len();
    (0..count)
        .map(|i| {
            let (owner, types) = sorted[i];
            let next = &sorted[(i + 1) % count].0;
            let mut rdata = next.as_wire().to_vec();
            let extra = [Rtype::NSEC, Rtype::RRSIG];
            rdata.extend_from_slice(&bitmap::encode(types.iter().chain(&extra).copied()));
            (*owner, rdata)
        })
        .collect()
}

/// The NSEC3 chain of zone `zone`: each owner (types exactly as the record must list them, an
/// empty list for an empty non-terminal) hashed, the records in hash order, each pointing to the
/// next hash and the last to the first. Returns the hashed owner names and their rdata, all with
/// `flags`.
pub fn nsec3_chain(zone: &NameBuf, params: &Nsec3Params<'_>, flags: u8, owners: &[(NameBuf, Vec<Rtype>)]) -> Result<Vec<(NameBuf, Vec<u8>)>, Error> {
    let mut hashed = owners.iter().map(|(name, types)| Ok((params.hash(name)?, types))).collect::<Result<Vec<_>, Error>>()?;
    hashed.sort_by_key(|entry| entry.0);
    hashed.dedup_by(|a, b| a.0 == b.0);
    let count = hashed.len();
    (0..count)
        .map(|i| {
            let (hash, types) = &hashed[i];
            let next = &hashed[(i + 1) % count].0;
            Ok((nsec3::hashed_owner(hash, zone)?, nsec3_rdata(params, flags, next, types)))
        })
        .collect()
}

/// True when an NSEC3 record from `owner_hash` to `next_hash` covers `hash`: strictly between
/// them, or past the owner or before the next for the last record of the chain.
pub fn nsec3_covers(owner_hash: &[u8], next_hash: &[u8], hash: &[u8]) -> bool {
    if owner_hash < next_hash {
        owner_hash < hash && hash < next_hash
    } else {
        owner_hash < hash || hash < next_hash
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
