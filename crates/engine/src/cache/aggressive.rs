//! Aggressive use of DNSSEC-validated NSEC records (RFC 8198): every NSEC RRset that proved a
//! denial secure is kept per zone in canonical order (RFC 4034 §6.1), with the zone's SOA, so
//! that a later question for a name inside a proven gap is answered NXDOMAIN (or NODATA for a
//! name proven to lack the type) without asking upstream: the defence against
//! random-subdomain floods of signed zones (SECURITY-REFERENCE catalogue row 63).
//!
//! An NXDOMAIN needs both the NSEC covering the name and the one covering the wildcard at its
//! closest encloser (RFC 8198 §5.3); a wildcard that exists, a gap not cached, or a delegation
//! point is left to the resolver. NSEC3 records are kept and used the same way (by hash, the
//! closest encloser proof instead of canonical order: `aggressive_nsec3.rs`). Bounded
//! ([`MAX_RECORDS`] records in all, the index emptied when full).

use super::aggressive_nsec3::{self as nsec3, Kept};
use super::Rrset;
use crate::base::Instant;
use portcullis_dnssec::bitmap::contains;
use portcullis_dnssec::canonical::nsec_covers;
use portcullis_dnssec::chain::Nsec;
use portcullis_wire::{NameBuf, Rcode, Rtype};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Most NSEC records kept in all.
pub const MAX_RECORDS: usize = 20_000;

/// A name as a key that sorts in canonical order: its lower-cased labels, rightmost first.
type CanonicalKey = Vec<Vec<u8>>;

fn canonical_key(name: &NameBuf) -> CanonicalKey {
    let lower = name.to_lowercase();
    let mut labels: Vec<Vec<u8>> = lower.labels().map(<[u8]>::to_vec).collect();
    labels.reverse();
    labels
}

/// One zone's proven NSEC records and its SOA.
#[derive(Debug, Default)]
struct ZoneNsec {
    soa: Option<Rrset>,
    records: BTreeMap<CanonicalKey, (Rrset, Instant)>,
    /// The zone's NSEC3 RRsets, by the hash their owners name.
    nsec3: Vec<Kept>,
}

/// A denial made from cached NSEC records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Synthesised {
    /// NXDOMAIN, or NOERROR for NODATA.
    pub rcode: Rcode,
    /// The zone's SOA (with its RRSIGs), its TTL the time left.
    pub soa: Rrset,
    /// The NSEC RRsets that prove it (with their RRSIGs).
    pub proofs: Vec<Rrset>,
}

/// The index of proven NSEC records.
#[derive(Debug, Default)]
pub struct NsecIndex {
    zones: Mutex<BTreeMap<Vec<u8>, ZoneNsec>>,
}

impl NsecIndex {
    /// Keeps the NSEC RRsets of `proofs` (validated, secure) of `zone` with its `soa` for `ttl`
    /// seconds (RFC 8198 §5.4: the smaller of the NSEC's TTL and the SOA's negative TTL).
    pub fn insert(&self, zone: &NameBuf, soa: &Rrset, proofs: &[Rrset], ttl: u32, now: Instant) {
        let mut zones = self.zones.lock().unwrap_or_else(PoisonError::into_inner);
        if zones.values().map(|zone| zone.records.len() + zone.nsec3.len()).sum::<usize>() >= MAX_RECORDS {
            zones.clear();
        }
        let entry = zones.entry(zone.to_lowercase().as_wire().to_vec()).or_default();
        entry.soa = Some(soa.clone());
        let until = now.plus_secs(u64::from(ttl));
        for set in proofs.iter().filter(|set| set.rtype == Rtype::NSEC && set.owner.is_subdomain_of(zone) && set.rdatas.len() == 1) {
            entry.records.insert(canonical_key(&set.owner), (set.clone(), until));
        }
        for set in proofs {
            if let Some(hash) = nsec3::owner_hash(set, zone) {
                nsec3::keep(&mut entry.nsec3, hash, set, until);
            }
        }
    }

    /// A denial of (`qname`, `qtype`) made from the records of the closest zone above `qname`
    /// that has some, when they prove it.
    /// A DS question looks from the parent down (DS lives on the parent side, RFC 4035
    /// §3.1.4.1): the name's own zone never denies its DS.
    pub fn synthesise(&self, qname: &NameBuf, qtype: Rtype, now: Instant) -> Option<Synthesised> {
        let zones = self.zones.lock().unwrap_or_else(PoisonError::into_inner);
        let mut above = if qtype == Rtype::DS { qname.parent() } else { Some(*qname) };
        let (zone, index) = loop {
            let candidate = above?;
            if let Some(index) = zones.get(candidate.to_lowercase().as_wire()) {
                break (candidate, index);
            }
            above = candidate.parent();
        };
        let soa = index.soa.clone()?;
        if !index.nsec3.is_empty() {
            let (rcode, proofs, left) = nsec3::synthesise(&index.nsec3, &zone, qname, qtype, now)?;
            return Some(with_ttl(rcode, soa, proofs, left));
        }
        let (owner, nsec) = closest_before(index, qname, now)?;
        let view = Nsec::parse(nsec.rdatas.first()?).ok()?;
        if owner == *qname {
            // NODATA: the name exists without the type (never at a delegation, unless for DS).
            let delegation = contains(view.bitmap, Rtype::NS) && !contains(view.bitmap, Rtype::SOA);
            let listed = contains(view.bitmap, qtype) || contains(view.bitmap, Rtype::CNAME);
            return (!listed && (!delegation || qtype == Rtype::DS)).then(|| answer(Rcode::NOERROR, soa, vec![nsec.clone()], now, index));
        }
        if !nsec_covers(&owner, &view.next, qname) || cuts_above(&owner, view.bitmap, qname) {
            return None;
        }
        if view.next.is_subdomain_of(qname) {
            // An empty non-terminal: NODATA.
            return Some(answer(Rcode::NOERROR, soa, vec![nsec.clone()], now, index));
        }
        let encloser = nsec_closest_encloser(qname, &owner, &view.next, &zone);
        let wildcard = encloser.wildcard_child()?;
        let (wild_owner, wild_nsec) = closest_before(index, &wildcard, now)?;
        let wild_view = Nsec::parse(wild_nsec.rdatas.first()?).ok()?;
        if wild_owner == wildcard || !nsec_covers(&wild_owner, &wild_view.next, &wildcard) {
            return None;
        }
        let mut proofs = vec![nsec.clone()];
        if wild_owner != owner {
            proofs.push(wild_nsec.clone());
        }
        Some(answer(Rcode::NXDOMAIN, soa, proofs, now, index))
    }

    /// Every kept NSEC and NSEC3 RRset with its zone, the zone's SOA and its expiry: a copy for
    /// the upgrade's cache handover (`handover.rs`).
    pub(super) fn snapshot(&self) -> Vec<(NameBuf, Rrset, Rrset, Instant)> {
        let zones = self.zones.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all = Vec::new();
        for (zone, index) in zones.iter() {
            let (Ok(zone), Some(soa)) = (NameBuf::from_wire(zone), index.soa.as_ref()) else { continue };
            let nsec3 = index.nsec3.iter().map(Kept::parts);
            for (set, until) in index.records.values().map(|(set, until)| (set, *until)).chain(nsec3) {
                all.push((zone, soa.clone(), set.clone(), until));
            }
        }
        all
    }

    /// NSEC and NSEC3 records kept in all.
    pub fn len(&self) -> usize {
        self.zones.lock().unwrap_or_else(PoisonError::into_inner).values().map(|zone| zone.records.len() + zone.nsec3.len()).sum()
    }

    /// True when no record is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.zones.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// True when the NSEC at `owner` (types `bitmap`) is a delegation or DNAME above `name`: names
/// below it belong to another zone, which this NSEC says nothing about (RFC 4035 §5.4).
pub fn cuts_above(owner: &NameBuf, bitmap: &[u8], name: &NameBuf) -> bool {
    let delegation = contains(bitmap, Rtype::NS) && !contains(bitmap, Rtype::SOA);
    owner != name && name.is_subdomain_of(owner) && (delegation || contains(bitmap, Rtype::DNAME))
}

/// The unexpired NSEC with the greatest owner at or before `name` in canonical order, or the
/// zone's last one (whose span wraps to the apex) when none is before it.
fn closest_before<'a>(index: &'a ZoneNsec, name: &NameBuf, now: Instant) -> Option<(NameBuf, &'a Rrset)> {
    let key = canonical_key(name);
    let (_, (set, until)) = index.records.range(..=key).next_back().or_else(|| index.records.iter().next_back())?;
    (*until > now).then_some((set.owner, set))
}

/// The closest encloser of `name` that an NSEC from `owner` to `next` proves: the longest
/// ancestor of `name` that is an ancestor of either (never above the zone).
pub fn nsec_closest_encloser(name: &NameBuf, owner: &NameBuf, next: &NameBuf, zone: &NameBuf) -> NameBuf {
    let mut candidate = name.parent();
    while let Some(ancestor) = candidate.filter(|ancestor| ancestor.is_subdomain_of(zone)) {
        if owner.is_subdomain_of(&ancestor) || next.is_subdomain_of(&ancestor) {
            return ancestor;
        }
        candidate = ancestor.parent();
    }
    *zone
}

/// The synthesised denial; TTLs are the time left of the shortest record used.
fn answer(rcode: Rcode, soa: Rrset, proofs: Vec<Rrset>, now: Instant, index: &ZoneNsec) -> Synthesised {
    let left = proofs
        .iter()
        .filter_map(|set| index.records.get(&canonical_key(&set.owner)).map(|(_, until)| until.as_millis().saturating_sub(now.as_millis()) / 1000))
        .min()
        .unwrap_or(0) as u32;
    with_ttl(rcode, soa, proofs, left)
}

/// The denial with every TTL at most `left` seconds.
fn with_ttl(rcode: Rcode, mut soa: Rrset, mut proofs: Vec<Rrset>, left: u32) -> Synthesised {
    soa.ttl = soa.ttl.min(left);
    for set in &mut proofs {
        set.ttl = set.ttl.min(left);
    }
    Synthesised { rcode, soa, proofs }
}
