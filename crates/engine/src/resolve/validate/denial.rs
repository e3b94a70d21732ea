//! Authenticated denial of existence (RFC 4035 §5.4 for NSEC, RFC 5155 §8 for NSEC3): the
//! proofs of NXDOMAIN, NODATA, wildcard expansion, and of a delegation without DS (secure,
//! insecure through opt-out, or not a zone cut at all). The proof RRsets given here are already
//! verified with the zone's keys.
//!
//! NSEC3 chains with more iterations than the limit (RFC 9276 §3.2) make a denial insecure with
//! EDE 27; an unknown NSEC3 hash algorithm makes it insecure too (RFC 5155 §8.1). Hashes are
//! bounded per proof ([`MAX_HASHES`], SECURITY-REFERENCE §2.2).

use super::{Bogus, Ede};
use crate::cache::aggressive::{cuts_above, nsec_closest_encloser};
use crate::cache::Rrset;
use portcullis_dnssec::bitmap::contains;
use portcullis_dnssec::canonical::nsec_covers;
use portcullis_dnssec::chain::{nsec3_covers, Nsec, Nsec3, OPT_OUT};
use portcullis_dnssec::nsec3::base32hex_decode;
use portcullis_wire::{NameBuf, Rtype};

/// Most NSEC3 hashes computed for one proof.
pub const MAX_HASHES: usize = 32;

/// What a denial proof established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proven {
    /// The denial is proven.
    Secure,
    /// Not provable by design (opt-out, iterations above the limit, unknown hash): insecure,
    /// with the EDE code to report (0 for none).
    Insecure(u16),
    /// The proof is missing or wrong.
    Bogus(Bogus),
}

/// What a denial of DS at a name says about the zone below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoDs {
    /// A delegation without DS (or covered by opt-out): the child zone is unsigned.
    InsecureCut,
    /// The name is no zone cut (no NS there, or an empty non-terminal).
    NotCut,
    /// Only provable by design as insecure (iterations above the limit).
    Insecure(u16),
    /// No valid proof.
    Bogus(Bogus),
}

/// The question a negative answer denies.
#[derive(Clone, Copy, Debug)]
pub struct Denied<'a> {
    /// The name (end of the CNAME chain).
    pub name: &'a NameBuf,
    /// The type; `None` for NXDOMAIN.
    pub rtype: Option<Rtype>,
    /// The zone whose keys signed the proofs.
    pub zone: &'a NameBuf,
}

/// One NSEC3 record of the proofs.
struct Hashed<'a> {
    hash: Vec<u8>,
    rdata: Nsec3<'a>,
}

/// The NSEC records among `proofs`: (owner, rdata view).
fn nsecs(proofs: &[Rrset]) -> Vec<(NameBuf, Nsec<'_>)> {
    proofs
        .iter()
        .filter(|set| set.rtype == Rtype::NSEC)
        .flat_map(|set| set.rdatas.iter().filter_map(|rdata| Some((set.owner, Nsec::parse(rdata).ok()?))))
        .collect()
}

/// The NSEC3 records among `proofs` owned directly below `zone`.
fn nsec3s<'a>(proofs: &'a [Rrset], zone: &NameBuf) -> Vec<Hashed<'a>> {
    let mut out = Vec::new();
    for set in proofs.iter().filter(|set| set.rtype == Rtype::NSEC3 && set.owner.parent().is_some_and(|parent| parent == *zone)) {
        let Some(label) = set.owner.labels().next() else { continue };
        let Ok(hash) = base32hex_decode(&String::from_utf8_lossy(label)) else { continue };
        out.extend(set.rdatas.iter().filter_map(|rdata| Some(Hashed { hash: hash.clone(), rdata: Nsec3::parse(rdata).ok()? })));
    }
    out
}

fn bogus(denied: &Denied<'_>, why: &str) -> Bogus {
    let what = denied.rtype.map_or_else(|| "NXDOMAIN".to_string(), |rtype| format!("NODATA {}", super::verify::type_text(rtype)));
    Bogus::new(Ede::NSEC_MISSING, format!("{} {what}: {why}", denied.name))
}

/// Checks the denial of `denied` by `proofs` (NSEC or NSEC3), `max_iterations` the NSEC3 limit.
pub fn prove(denied: &Denied<'_>, proofs: &[Rrset], max_iterations: u16) -> Proven {
    let nsec = nsecs(proofs);
    if !nsec.is_empty() {
        return prove_nsec(denied, &nsec);
    }
    let hashed = nsec3s(proofs, denied.zone);
    if hashed.is_empty() {
        return Proven::Bogus(bogus(denied, "no NSEC or NSEC3 proof"));
    }
    prove_nsec3(denied, &hashed, max_iterations)
}

/// NSEC proofs (RFC 4035 §5.4).
fn prove_nsec(denied: &Denied<'_>, nsec: &[(NameBuf, Nsec<'_>)]) -> Proven {
    let name = denied.name;
    if let Some(rtype) = denied.rtype {
        if let Some((_, matching)) = nsec.iter().find(|(owner, _)| owner == name) {
            return if contains(matching.bitmap, rtype) || contains(matching.bitmap, Rtype::CNAME) {
                Proven::Bogus(bogus(denied, "the NSEC at the name lists the type"))
            } else {
                Proven::Secure
            };
        }
        // An empty non-terminal: an NSEC covers the name and its next name lies below it.
        if nsec.iter().any(|(owner, rdata)| nsec_covers(owner, &rdata.next, name) && rdata.next.is_subdomain_of(name)) {
            return Proven::Secure;
        }
    }
    let Some((owner, cover)) = nsec.iter().find(|(owner, rdata)| nsec_covers(owner, &rdata.next, name)) else {
        return Proven::Bogus(bogus(denied, "no NSEC covers the name"));
    };
    if cuts_above(owner, cover.bitmap, name) {
        return Proven::Bogus(bogus(denied, "the covering NSEC is a delegation above the name"));
    }
    let encloser = nsec_closest_encloser(name, owner, &cover.next, denied.zone);
    let Some(wildcard) = encloser.wildcard_child() else { return Proven::Bogus(bogus(denied, "no wildcard name")) };
    match denied.rtype {
        None if nsec.iter().any(|(owner, rdata)| nsec_covers(owner, &rdata.next, &wildcard)) => Proven::Secure,
        None => Proven::Bogus(bogus(denied, "no NSEC denies the wildcard")),
        // NODATA from a wildcard: the wildcard exists without the type.
        Some(rtype) => match nsec.iter().find(|(owner, _)| *owner == wildcard) {
            Some((_, rdata)) if !contains(rdata.bitmap, rtype) && !contains(rdata.bitmap, Rtype::CNAME) => Proven::Secure,
            _ => Proven::Bogus(bogus(denied, "no NSEC at the name or its wildcard")),
        },
    }
}

/// Hashes names under the chain's parameters, counting against [`MAX_HASHES`].
struct Hasher<'a> {
    first: &'a Nsec3<'a>,
    count: usize,
}

impl Hasher<'_> {
    fn hash(&mut self, name: &NameBuf) -> Option<[u8; 20]> {
        self.count += 1;
        if self.count > MAX_HASHES {
            return None;
        }
        self.first.params.hash(name).ok()
    }
}

/// NSEC3 proofs (RFC 5155 §8.4-8.7).
fn prove_nsec3(denied: &Denied<'_>, hashed: &[Hashed<'_>], max_iterations: u16) -> Proven {
    let first = &hashed[0].rdata;
    if first.params.algorithm != portcullis_dnssec::nsec3::SHA1 {
        return Proven::Insecure(0);
    }
    if first.params.iterations > max_iterations {
        return Proven::Insecure(Ede::UNSUPPORTED_NSEC3_ITERATIONS);
    }
    let mut hasher = Hasher { first, count: 0 };
    let matching = |hash: &[u8]| hashed.iter().find(|h| h.hash == hash && h.rdata.params == first.params);
    let covering = |hash: &[u8]| hashed.iter().find(|h| h.rdata.params == first.params && nsec3_covers(&h.hash, h.rdata.next_hash, hash));
    let name = denied.name;
    if let Some(rtype) = denied.rtype {
        let Some(own) = hasher.hash(name) else { return Proven::Bogus(bogus(denied, "too many NSEC3 hashes")) };
        if let Some(found) = matching(&own) {
            let listed = contains(found.rdata.bitmap, rtype) || contains(found.rdata.bitmap, Rtype::CNAME);
            return if listed { Proven::Bogus(bogus(denied, "the NSEC3 of the name lists the type")) } else { Proven::Secure };
        }
    }
    let Some((encloser, next_closer)) = closest_encloser(name, denied.zone, &mut hasher, &matching) else {
        return Proven::Bogus(bogus(denied, "no closest encloser proof"));
    };
    let Some(next_hash) = hasher.hash(&next_closer) else { return Proven::Bogus(bogus(denied, "too many NSEC3 hashes")) };
    let Some(cover) = covering(&next_hash) else { return Proven::Bogus(bogus(denied, "no NSEC3 covers the next closer name")) };
    let opt_out = cover.rdata.flags & OPT_OUT != 0;
    let Some(wildcard) = encloser.wildcard_child().and_then(|wildcard| hasher.hash(&wildcard)) else {
        return Proven::Bogus(bogus(denied, "too many NSEC3 hashes"));
    };
    match denied.rtype {
        // RFC 5155 §8.6: a DS NODATA without a matching NSEC3 is proven by opt-out.
        Some(Rtype::DS) if opt_out => Proven::Insecure(0),
        Some(rtype) => match matching(&wildcard) {
            // A wildcard without the type, proven secure unless an opt-out span covers the
            // next closer name (an unsigned delegation may hide there; RFC 5155 §9.2).
            Some(found) if !contains(found.rdata.bitmap, rtype) && !contains(found.rdata.bitmap, Rtype::CNAME) => {
                if opt_out {
                    Proven::Insecure(0)
                } else {
                    Proven::Secure
                }
            }
            _ if opt_out => Proven::Insecure(0),
            _ => Proven::Bogus(bogus(denied, "no NSEC3 matches the name or its wildcard")),
        },
        None if covering(&wildcard).is_none() => Proven::Bogus(bogus(denied, "no NSEC3 denies the wildcard")),
        None if opt_out => Proven::Insecure(0),
        None => Proven::Secure,
    }
}

/// The closest encloser proof (RFC 5155 §8.3): the longest ancestor of `name` (inside `zone`)
/// with a matching NSEC3, and the next closer name (one label longer, towards `name`).
fn closest_encloser<'h>(
    name: &NameBuf,
    zone: &NameBuf,
    hasher: &mut Hasher<'_>,
    matching: &dyn Fn(&[u8]) -> Option<&'h Hashed<'h>>,
) -> Option<(NameBuf, NameBuf)> {
    let mut next_closer = *name;
    let mut candidate = name.parent();
    while let Some(ancestor) = candidate.filter(|ancestor| ancestor.is_subdomain_of(zone)) {
        if matching(&hasher.hash(&ancestor)?).is_some() {
            return Some((ancestor, next_closer));
        }
        next_closer = ancestor;
        candidate = ancestor.parent();
    }
    None
}

/// Checks a wildcard expansion (RFC 4035 §5.3.4, RFC 5155 §8.8): `name` does not exist, the
/// answer having been made from `*.` and its rightmost `labels` labels.
pub fn prove_wildcard(name: &NameBuf, labels: u8, zone: &NameBuf, proofs: &[Rrset], max_iterations: u16) -> Proven {
    let denied = Denied { name, rtype: None, zone };
    let Some(encloser) = name.suffix(name.label_count().saturating_sub(usize::from(labels))) else {
        return Proven::Bogus(bogus(&denied, "bad wildcard label count"));
    };
    let nsec = nsecs(proofs);
    if !nsec.is_empty() {
        let covered = nsec.iter().any(|(owner, rdata)| nsec_covers(owner, &rdata.next, name));
        return if covered { Proven::Secure } else { Proven::Bogus(bogus(&denied, "no NSEC proves the wildcard expansion")) };
    }
    let hashed = nsec3s(proofs, zone);
    let Some(first) = hashed.first() else { return Proven::Bogus(bogus(&denied, "no proof of the wildcard expansion")) };
    if first.rdata.params.iterations > max_iterations {
        return Proven::Insecure(Ede::UNSUPPORTED_NSEC3_ITERATIONS);
    }
    let Some(next_closer) = name.suffix(name.label_count().saturating_sub(encloser.label_count() + 1)) else {
        return Proven::Bogus(bogus(&denied, "bad wildcard label count"));
    };
    let mut hasher = Hasher { first: &first.rdata, count: 0 };
    let Some(hash) = hasher.hash(&next_closer) else { return Proven::Bogus(bogus(&denied, "NSEC3 hash")) };
    let cover = hashed.iter().find(|h| h.rdata.params == first.rdata.params && nsec3_covers(&h.hash, h.rdata.next_hash, &hash));
    match cover {
        // An opt-out span may hide an unsigned delegation at the name (RFC 5155 §9.2).
        Some(cover) if cover.rdata.flags & OPT_OUT != 0 => Proven::Insecure(0),
        Some(_) => Proven::Secure,
        None => Proven::Bogus(bogus(&denied, "no NSEC3 proves the wildcard expansion")),
    }
}

/// Checks the denial of DS at `name` (a NODATA for DS from the parent `zone`) and says whether
/// `name` is an unsigned delegation or no zone cut (RFC 4035 §5.2, RFC 5155 §8.9).
pub fn prove_no_ds(name: &NameBuf, zone: &NameBuf, proofs: &[Rrset], max_iterations: u16) -> NoDs {
    let denied = Denied { name, rtype: Some(Rtype::DS), zone };
    let nsec = nsecs(proofs);
    let own_bitmap = if nsec.is_empty() {
        let hashed = nsec3s(proofs, zone);
        let own = hashed.first().and_then(|first| first.rdata.params.hash(name).ok());
        own.and_then(|own| hashed.iter().find(|h| h.hash == own).map(|h| h.rdata.bitmap))
    } else {
        nsec.iter().find(|(owner, _)| owner == name).map(|(_, rdata)| rdata.bitmap)
    };
    match prove(&denied, proofs, max_iterations) {
        Proven::Secure => match own_bitmap {
            Some(bitmap) if contains(bitmap, Rtype::NS) && !contains(bitmap, Rtype::SOA) => NoDs::InsecureCut,
            Some(bitmap) if contains(bitmap, Rtype::SOA) => NoDs::Bogus(bogus(&denied, "the denial comes from the child zone")),
            _ => NoDs::NotCut,
        },
        Proven::Insecure(0) => NoDs::InsecureCut,
        Proven::Insecure(ede) => NoDs::Insecure(ede),
        Proven::Bogus(why) => NoDs::Bogus(why),
    }
}
