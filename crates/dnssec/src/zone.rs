//! Signing a whole zone (RFC 4035 §2, RFC 5155 §7.1, RFC 9276): DNSKEY records for the keys,
//! an RRSIG for every authoritative RRset, and the NSEC or NSEC3 chain with its signatures.
//!
//! What is authoritative (RFC 4035 §2.2): every RRset at or below the origin except those below
//! a zone cut (glue) or below a DNAME (occluded); at a cut only the DS RRset is signed, not the
//! delegation's NS RRset. The DNSKEY, CDS and CDNSKEY RRsets are signed by the key-signing keys
//! (KSK or CSK; RFC 7344 §4.1), every other RRset by the zone-signing keys (ZSK or CSK); this holds per algorithm, since every
//! algorithm of the DNSKEY RRset must sign every RRset (RFC 4035 §2.2, RFC 6840 §5.11): when an
//! algorithm has no key of one kind, its keys of the other kind sign in its place.
//!
//! NSEC and NSEC3 records take the TTL `min(SOA TTL, SOA minimum)` (RFC 4034 §4 and RFC 5155 §3
//! as updated by RFC 9077). NSEC3 follows RFC 9276: SHA-1, no extra iterations, an empty salt;
//! with opt-out, delegations without DS get no NSEC3 record and every NSEC3 carries the opt-out
//! flag.

use crate::canonical::name_cmp;
use crate::chain::{nsec3_chain, nsec_chain, Nsec3Params, OPT_OUT};
use crate::key::Dnskey;
use crate::resign::Resign;
use crate::rrsig::{label_count, signing_input, Rrsig};
use crate::{nsec3, Error, SigningKey};
use portcullis_wire::{Class, NameBuf, Rtype};
use ring::rand::SecureRandom;
use std::collections::HashSet;

/// One resource record of a zone: owner, type, class, TTL and uncompressed wire rdata.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Record {
    /// The absolute owner name.
    pub owner: NameBuf,
    /// The record type.
    pub rtype: Rtype,
    /// The class.
    pub class: Class,
    /// The TTL in seconds.
    pub ttl: u32,
    /// The rdata, uncompressed wire form.
    pub rdata: Vec<u8>,
}

/// What a key signs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyRole {
    /// Key-signing key: signs the DNSKEY RRset; DNSKEY flags 257 (SEP).
    Ksk,
    /// Zone-signing key: signs every other RRset; DNSKEY flags 256.
    Zsk,
    /// Combined signing key: signs everything; DNSKEY flags 257.
    Csk,
}

impl KeyRole {
    /// The DNSKEY flags of a key of this role.
    pub const fn flags(self) -> u16 {
        match self {
            Self::Ksk | Self::Csk => Dnskey::ZONE | Dnskey::SEP,
            Self::Zsk => Dnskey::ZONE,
        }
    }
}

/// A key and its role in the zone.
#[derive(Debug)]
pub struct ZoneKey<'a> {
    /// The private key.
    pub key: &'a SigningKey,
    /// What it signs.
    pub role: KeyRole,
}

impl ZoneKey<'_> {
    /// The DNSKEY rdata of this key.
    pub fn dnskey_rdata(&self) -> Vec<u8> {
        let public_key = self.key.public_key();
        Dnskey { flags: self.role.flags(), protocol: 3, algorithm: self.key.algorithm(), public_key: &public_key }.to_rdata()
    }
}

/// The authenticated denial of existence to build.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Denial {
    /// An NSEC chain (RFC 4034 §4).
    Nsec,
    /// An NSEC3 chain with RFC 9276's parameters (`1 0 0 -`), optionally opt-out.
    Nsec3 {
        /// Leave delegations without DS out of the chain and set the opt-out flag.
        opt_out: bool,
    },
}

/// How the keys given to [`sign_zone`] are used: the published DNSKEY set and the signing keys
/// are the same set ([`KeyUse::PublishAll`], offline signing with key files) or separate inputs
/// ([`KeyUse::SignOnly`], the signer contract of [`crate::rollover`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyUse {
    /// Every key is published in the DNSKEY RRset and signs by its role per algorithm; an
    /// algorithm without a key of the role an RRset needs is signed by all its keys (every
    /// algorithm of the DNSKEY RRset signs every RRset, RFC 4035 §2.2).
    PublishAll,
    /// No key is published by the signer: the DNSKEY RRset is the input's DNSKEY records. Each
    /// key signs exactly the RRsets of its role, with no fallback: KSK the DNSKEY, CDS and
    /// CDNSKEY RRsets, ZSK every other RRset, CSK both. A key may so sign data unpublished (an
    /// algorithm rollover, RFC 6781 §4.1.4) and a published key may sign nothing
    /// (pre-publication).
    SignOnly,
}

/// How to sign: the signatures' validity period, the denial chain and the use of the keys.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SignOptions {
    /// Signature inception, seconds since the epoch (modulo 2^32).
    pub inception: u32,
    /// Signature expiration, the same.
    pub expiration: u32,
    /// NSEC or NSEC3.
    pub denial: Denial,
    /// Whether the keys are published too.
    pub keys: KeyUse,
}

/// The record types a signer writes itself: removed from the input before signing again.
const GENERATED: [Rtype; 4] = [Rtype::RRSIG, Rtype::NSEC, Rtype::NSEC3, Rtype::NSEC3PARAM];

/// Signs the zone `origin` made of `records` with `keys` (see the module documentation).
/// Returns the whole signed zone in canonical order: the input records unchanged (less any old
/// RRSIG, NSEC, NSEC3 and NSEC3PARAM), the keys' DNSKEY records (with [`KeyUse::PublishAll`]),
/// NSEC3PARAM for NSEC3, the chain and every signature.
///
/// DNSKEY records in `records` stay in the DNSKEY RRset without signing anything: that is how a
/// key is published but not (or no longer) signing (RFC 6781 §4.1.1.1 pre-publication, a
/// retired key before its removal). CDS and CDNSKEY records (RFC 7344) in `records` are signed
/// like any apex RRset.
pub fn sign_zone(origin: &NameBuf, records: &[Record], keys: &[ZoneKey<'_>], options: &SignOptions, rng: &dyn SecureRandom) -> Result<Vec<Record>, Error> {
    sign_zone_with(origin, records, keys, options, &Resign::NONE, rng)
}

/// [`sign_zone`], reusing the still fresh signatures of a previous signed version of the zone
/// and spreading new expirations with jitter (see [`crate::resign`]).
pub fn sign_zone_with(
    origin: &NameBuf,
    records: &[Record],
    keys: &[ZoneKey<'_>],
    options: &SignOptions,
    resign: &Resign<'_>,
    rng: &dyn SecureRandom,
) -> Result<Vec<Record>, Error> {
    if keys.is_empty() {
        return Err(Error::InvalidZone("no signing key"));
    }
    let soa = records.iter().find(|r| r.rtype == Rtype::SOA && r.owner == *origin).ok_or(Error::InvalidZone("no SOA record at the origin"))?;
    if records.iter().any(|r| !r.owner.is_subdomain_of(origin)) {
        return Err(Error::InvalidZone("a record outside the zone"));
    }
    let minimum = soa.rdata.get(soa.rdata.len().saturating_sub(4)..).and_then(|b| <[u8; 4]>::try_from(b).ok()).ok_or(Error::Malformed("SOA rdata"))?;
    let denial_ttl = soa.ttl.min(u32::from_be_bytes(minimum));
    let (class, zone_ttl) = (soa.class, soa.ttl);
    let mut zone: Vec<Record> = records.iter().filter(|r| !GENERATED.contains(&r.rtype)).cloned().collect();
    let dnskey_ttl = zone.iter().find(|r| r.rtype == Rtype::DNSKEY && r.owner == *origin).map_or(zone_ttl, |r| r.ttl);
    for key in keys.iter().filter(|_| options.keys == KeyUse::PublishAll) {
        zone.push(Record { owner: *origin, rtype: Rtype::DNSKEY, class, ttl: dnskey_ttl, rdata: key.dnskey_rdata() });
    }
    if let Denial::Nsec3 { .. } = options.denial {
        zone.push(Record { owner: *origin, rtype: Rtype::NSEC3PARAM, class, ttl: denial_ttl, rdata: PARAMS.to_rdata() });
    }
    sort_records(&mut zone);
    zone.dedup_by(|a, b| a.owner == b.owner && a.rtype == b.rtype && a.class == b.class && a.rdata == b.rdata);
    let layout = Layout::new(origin, &zone);
    let chain = match options.denial {
        Denial::Nsec => nsec_chain(&layout.nsec_owners(&zone)),
        Denial::Nsec3 { opt_out } => nsec3_chain(origin, &PARAMS, if opt_out { OPT_OUT } else { 0 }, &layout.nsec3_owners(&zone, opt_out))?,
    };
    let chain_type = if options.denial == Denial::Nsec { Rtype::NSEC } else { Rtype::NSEC3 };
    zone.extend(chain.into_iter().map(|(owner, rdata)| Record { owner, rtype: chain_type, class, ttl: denial_ttl, rdata }));
    sort_records(&mut zone);
    let tags = keys.iter().map(|key| crate::key_tag(&key.dnskey_rdata())).collect();
    let signer = Signer { origin, keys, tags, options, resign, rng };
    let mut signatures = Vec::new();
    for set in zone.chunk_by(|a, b| a.owner == b.owner && a.rtype == b.rtype) {
        if layout.is_signed(&set[0]) {
            signer.sign(set, &mut signatures)?;
        }
    }
    zone.extend(signatures);
    sort_records(&mut zone);
    Ok(zone)
}

/// RFC 9276's NSEC3 parameters: SHA-1, 0 extra iterations, no salt.
const PARAMS: Nsec3Params<'static> = Nsec3Params { algorithm: nsec3::SHA1, iterations: 0, salt: &[] };

/// Sorts records by canonical owner name, then type, then rdata: the order [`sign_zone`]
/// returns, and the one [`crate::resign::Resign::previous`] must have.
pub fn sort_records(records: &mut [Record]) {
    records.sort_by(|a, b| name_cmp(&a.owner, &b.owner).then(a.rtype.0.cmp(&b.rtype.0)).then_with(|| a.rdata.cmp(&b.rdata)));
}

/// Where the zone cuts and DNAMEs are, and so which names are authoritative.
struct Layout {
    origin: NameBuf,
    /// Delegation points (names other than the origin with NS records).
    cuts: HashSet<NameBuf>,
    /// Delegation points with a DS RRset.
    signed_cuts: HashSet<NameBuf>,
    /// Owners of DNAME records (names below them are occluded).
    dnames: HashSet<NameBuf>,
}

impl Layout {
    fn new(origin: &NameBuf, zone: &[Record]) -> Self {
        let owners_of = |rtype: Rtype| zone.iter().filter(|r| r.rtype == rtype).map(|r| r.owner).collect::<HashSet<_>>();
        let cuts: HashSet<NameBuf> = owners_of(Rtype::NS).into_iter().filter(|n| n != origin).collect();
        let signed_cuts = owners_of(Rtype::DS).into_iter().filter(|n| cuts.contains(n)).collect();
        Self { origin: *origin, cuts, signed_cuts, dnames: owners_of(Rtype::DNAME) }
    }

    /// True when `name` lies below a zone cut or a DNAME: glue or occluded data.
    fn is_occluded(&self, name: &NameBuf) -> bool {
        let mut current = *name;
        while current != self.origin {
            let Some(parent) = current.parent() else { return false };
            if self.cuts.contains(&parent) || self.dnames.contains(&parent) {
                return true;
            }
            current = parent;
        }
        false
    }

    /// True when the RRset of `record` gets a signature.
    fn is_signed(&self, record: &Record) -> bool {
        if self.is_occluded(&record.owner) {
            return false;
        }
        !self.cuts.contains(&record.owner) || matches!(record.rtype, Rtype::DS | Rtype::NSEC | Rtype::NSEC3)
    }

    /// The authoritative types at each authoritative owner (at a cut: NS and DS only).
    fn owners(&self, zone: &[Record]) -> Vec<(NameBuf, Vec<Rtype>)> {
        let mut owners: Vec<(NameBuf, Vec<Rtype>)> = Vec::new();
        for record in zone.iter().filter(|r| !self.is_occluded(&r.owner)) {
            if self.cuts.contains(&record.owner) && !matches!(record.rtype, Rtype::NS | Rtype::DS) {
                continue;
            }
            match owners.last_mut() {
                Some((owner, types)) if *owner == record.owner => types.push(record.rtype),
                _ => owners.push((record.owner, vec![record.rtype])),
            }
        }
        for (_, types) in &mut owners {
            types.dedup();
        }
        owners
    }

    /// The owners and types for [`nsec_chain`] (which adds NSEC and RRSIG itself).
    fn nsec_owners(&self, zone: &[Record]) -> Vec<(NameBuf, Vec<Rtype>)> {
        self.owners(zone)
    }

    /// The owners and full type lists of the NSEC3 chain: RRSIG where the name has signed
    /// RRsets, empty non-terminals, and no unsigned delegation with opt-out.
    fn nsec3_owners(&self, zone: &[Record], opt_out: bool) -> Vec<(NameBuf, Vec<Rtype>)> {
        let mut owners = Vec::new();
        for (owner, mut types) in self.owners(zone) {
            let unsigned_cut = self.cuts.contains(&owner) && !self.signed_cuts.contains(&owner);
            if unsigned_cut && opt_out {
                continue;
            }
            if !unsigned_cut {
                types.push(Rtype::RRSIG);
            }
            owners.push((owner, types));
        }
        let mut seen: HashSet<NameBuf> = owners.iter().map(|(name, _)| *name).collect();
        let mut empty = Vec::new();
        for (name, _) in &owners {
            let mut current = *name;
            while let Some(parent) = current.parent().filter(|_| current != self.origin) {
                if seen.insert(parent) {
                    empty.push((parent, Vec::new()));
                }
                current = parent;
            }
        }
        owners.extend(empty);
        owners
    }
}

/// Signs RRsets with the zone's keys.
struct Signer<'a> {
    origin: &'a NameBuf,
    keys: &'a [ZoneKey<'a>],
    /// The key tag of each key of `keys`.
    tags: Vec<u16>,
    options: &'a SignOptions,
    resign: &'a Resign<'a>,
    rng: &'a dyn SecureRandom,
}

impl Signer<'_> {
    /// The keys that sign RRsets of `rtype`: per algorithm (each algorithm of the DNSKEY RRset
    /// signs every RRset, RFC 4035 §2.2), KSK and CSK for DNSKEY, CDS and CDNSKEY, ZSK and CSK
    /// for the rest;
    /// with [`KeyUse::PublishAll`], when no key of an algorithm fits, every key of that algorithm.
    fn keys_for(&self, rtype: Rtype) -> Vec<(&ZoneKey<'_>, u16)> {
        // CDS and CDNSKEY are signed like DNSKEY, by a key the parent's DS names (RFC 7344 §4.1).
        let key_set = matches!(rtype, Rtype::DNSKEY | Rtype::CDS | Rtype::CDNSKEY);
        let wanted = |role: KeyRole| match role {
            KeyRole::Csk => true,
            KeyRole::Ksk => key_set,
            KeyRole::Zsk => !key_set,
        };
        let mut algorithms: Vec<_> = self.keys.iter().map(|k| k.key.algorithm()).collect();
        algorithms.sort_unstable();
        algorithms.dedup();
        let mut chosen = Vec::new();
        for algorithm in algorithms {
            let of_algorithm = self.keys.iter().zip(self.tags.iter().copied()).filter(|(k, _)| k.key.algorithm() == algorithm);
            let fitting: Vec<(&ZoneKey<'_>, u16)> = of_algorithm.clone().filter(|(k, _)| wanted(k.role)).collect();
            let fallback = fitting.is_empty() && self.options.keys == KeyUse::PublishAll;
            chosen.extend(if fallback { of_algorithm.collect() } else { fitting });
        }
        chosen
    }

    /// Appends the RRSIG records of one RRset (`set`: same owner and type, not empty).
    fn sign(&self, set: &[Record], out: &mut Vec<Record>) -> Result<(), Error> {
        let Some(first) = set.first() else { return Ok(()) };
        let ttl = set.iter().map(|r| r.ttl).min().unwrap_or(first.ttl);
        for (key, key_tag) in self.keys_for(first.rtype) {
            if let Some(old) = self.resign.reusable(set, key.key.algorithm(), key_tag, self.origin) {
                out.push(old);
                continue;
            }
            let rrsig = Rrsig {
                type_covered: first.rtype,
                algorithm: key.key.algorithm(),
                labels: label_count(&first.owner),
                original_ttl: ttl,
                expiration: self.resign.expiration(self.options.expiration, self.rng)?,
                inception: self.options.inception,
                key_tag,
                signer: *self.origin,
            };
            let mut input = Vec::new();
            signing_input(&rrsig, &first.owner, first.class, set.iter().map(|r| r.rdata.as_slice()), &mut input)?;
            let signature = key.key.sign(&input, self.rng)?;
            out.push(Record { owner: first.owner, rtype: Rtype::RRSIG, class: first.class, ttl, rdata: rrsig.to_rdata(&signature) });
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "zone_tests.rs"]
mod tests;
