//! The update section applied to a zone snapshot (RFC 2136 §3.4.2), in order, on an overlay of
//! the RRsets it touches; the result is the difference between the snapshot and the overlay
//! ([`ZoneDiff`]: old SOA, deleted records, new SOA, added records, as IXFR and the journal
//! carry it), or nothing when the update changes nothing (§3.4.2.7: NOERROR, the serial stays).
//!
//! The rules of §3.4.2.2-§3.4.2.4: an SOA is only replaced at the apex and by a greater serial
//! (RFC 1982), never deleted; the apex NS RRset is never deleted whole and its last record
//! stays; a CNAME is not added beside other data, nor other data beside a CNAME (RRSIG and NSEC
//! may share a CNAME's name, RFC 4035 §2.5); adding a CNAME replaces the one there. Records the
//! signer keeps (RRSIG, NSEC, NSEC3) are not changed by updates. Adding a record gives its
//! RRset the record's TTL (as BIND does). Without an explicit SOA the serial goes up by one.

use super::prerequisite::canonical;
use super::{Change, ZoneDiff, ZoneRecord};
use crate::auth::zone::RecordData;
use crate::auth::Zone;
use portcullis_wire::{NameBuf, Rtype};
use std::collections::{BTreeMap, BTreeSet};

/// What an update did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Nothing to change (NOERROR, no new serial).
    Unchanged,
    /// The zone changes by this difference.
    Changed(Box<ZoneDiff>),
}

/// An RRset of the overlay: its owner as given, TTL and rdatas.
#[derive(Clone, Debug)]
struct Slot {
    owner: NameBuf,
    ttl: u32,
    rdatas: Vec<Vec<u8>>,
}

/// The key of an RRset: lower-cased owner in wire form, type.
type Key = (Vec<u8>, u16);

/// Applies `changes` to `zone` (a zone with an SOA; without one nothing changes).
pub fn apply(zone: &Zone, changes: &[Change]) -> Applied {
    let Some(old_soa) = soa_of(zone) else { return Applied::Unchanged };
    let mut overlay = Overlay { zone, slots: BTreeMap::new() };
    for change in changes {
        overlay.change(change);
    }
    overlay.difference(old_soa)
}

/// The zone with `change` applied: its records without the deleted ones and the old SOA, with
/// the added ones and the new SOA (RRSIGs and NSEC records are carried as they are: a signed
/// zone is signed again by the server).
pub fn rebuild(zone: &Zone, change: &ZoneDiff) -> Zone {
    let deleted: BTreeSet<(Vec<u8>, u16, Vec<u8>)> =
        change.deleted.iter().map(|rr| (key(&rr.owner, rr.rtype).0, rr.rtype.0, canonical(rr.rtype, &rr.rdata))).collect();
    let mut kept: Vec<ZoneRecord> = Vec::new();
    for (part, node) in zone.all_nodes() {
        let owner = part.node_name(node);
        let lower = owner.to_lowercase().as_wire().to_vec();
        for rrset in part.rrsets(node) {
            if rrset.rtype == Rtype::SOA && std::ptr::eq(part, zone) {
                continue;
            }
            for rdata in part.rdatas(&rrset) {
                if !deleted.contains(&(lower.clone(), rrset.rtype.0, canonical(rrset.rtype, rdata))) {
                    kept.push(ZoneRecord { owner, rtype: rrset.rtype, class: zone.class(), ttl: rrset.ttl, rdata: rdata.to_vec() });
                }
            }
        }
    }
    let records = kept.iter().chain(&change.added).chain(std::iter::once(&change.new_soa));
    Zone::build(zone.origin(), zone.class(), records.map(|rr| RecordData { owner: &rr.owner, rtype: rr.rtype, ttl: rr.ttl, rdata: &rr.rdata }))
}

/// The zone's SOA as a record.
pub fn soa_of(zone: &Zone) -> Option<ZoneRecord> {
    let soa = zone.soa()?;
    Some(ZoneRecord { owner: *zone.origin(), rtype: Rtype::SOA, class: zone.class(), ttl: soa.ttl, rdata: zone.first_rdata(&soa).to_vec() })
}

/// The serial of SOA rdata (its last 20 octets: serial, refresh, retry, expire, minimum).
pub fn soa_serial(rdata: &[u8]) -> Option<u32> {
    let start = rdata.len().checked_sub(20)?;
    Some(u32::from_be_bytes(rdata.get(start..start + 4)?.try_into().ok()?))
}

/// SOA rdata with `serial`.
pub fn with_serial(rdata: &[u8], serial: u32) -> Vec<u8> {
    let mut out = rdata.to_vec();
    if let Some(start) = out.len().checked_sub(20) {
        out[start..start + 4].copy_from_slice(&serial.to_be_bytes());
    }
    out
}

/// Types only the signer writes.
fn signer_owned(rtype: Rtype) -> bool {
    matches!(rtype, Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3)
}

/// RRsets a delete of a whole RRset or name leaves: the apex SOA and NS (§3.4.2.3), and what the
/// signer writes.
fn protected(rtype: Rtype, apex: bool) -> bool {
    signer_owned(rtype) || (apex && matches!(rtype, Rtype::SOA | Rtype::NS))
}

fn key(owner: &NameBuf, rtype: Rtype) -> Key {
    (owner.to_lowercase().as_wire().to_vec(), rtype.0)
}

/// The RRsets an update touched, over the zone.
struct Overlay<'z> {
    zone: &'z Zone,
    slots: BTreeMap<Key, Slot>,
}

impl Overlay<'_> {
    fn change(&mut self, change: &Change) {
        let apex = change.owner() == self.zone.origin();
        match change {
            Change::Add(rr) => self.add(rr, apex),
            Change::DeleteRrset(name, rtype) => {
                if !protected(*rtype, apex) {
                    self.slot(name, *rtype).rdatas.clear();
                }
            }
            Change::DeleteName(name) => {
                for rtype in self.types_at(name) {
                    if !protected(rtype, apex) {
                        self.slot(name, rtype).rdatas.clear();
                    }
                }
            }
            Change::DeleteRr(name, rtype, rdata) => self.delete_rr(name, *rtype, rdata, apex),
        }
    }

    fn add(&mut self, rr: &ZoneRecord, apex: bool) {
        if signer_owned(rr.rtype) {
            return;
        }
        if rr.rtype == Rtype::SOA {
            let current = self.slot(&rr.owner, Rtype::SOA).rdatas.first().and_then(|rdata| soa_serial(rdata));
            let newer = matches!((current, soa_serial(&rr.rdata)), (Some(old), Some(new)) if crate::auth::transfer::serial_greater(new, old));
            if apex && newer {
                *self.slot(&rr.owner, Rtype::SOA) = Slot { owner: rr.owner, ttl: rr.ttl, rdatas: vec![rr.rdata.clone()] };
            }
            return;
        }
        let others = self.types_at(&rr.owner).into_iter().filter(|t| !matches!(*t, Rtype::RRSIG | Rtype::NSEC));
        let mut others = others.filter(|t| *t != rr.rtype);
        let conflict = if rr.rtype == Rtype::CNAME { others.next().is_some() } else { others.any(|t| t == Rtype::CNAME) };
        if conflict {
            return;
        }
        let slot = self.slot(&rr.owner, rr.rtype);
        slot.ttl = rr.ttl;
        if rr.rtype == Rtype::CNAME {
            slot.rdatas = vec![rr.rdata.clone()];
            return;
        }
        let wanted = canonical(rr.rtype, &rr.rdata);
        if !slot.rdatas.iter().any(|rdata| canonical(rr.rtype, rdata) == wanted) {
            slot.rdatas.push(rr.rdata.clone());
        }
    }

    fn delete_rr(&mut self, name: &NameBuf, rtype: Rtype, rdata: &[u8], apex: bool) {
        if rtype == Rtype::SOA || signer_owned(rtype) {
            return;
        }
        let wanted = canonical(rtype, rdata);
        let slot = self.slot(name, rtype);
        let keep: Vec<Vec<u8>> = slot.rdatas.iter().filter(|r| canonical(rtype, r) != wanted).cloned().collect();
        if apex && rtype == Rtype::NS && keep.is_empty() {
            return;
        }
        slot.rdatas = keep;
    }

    /// The overlay's RRset of `rtype` at `name`, read from the zone the first time.
    fn slot(&mut self, name: &NameBuf, rtype: Rtype) -> &mut Slot {
        let zone = self.zone;
        self.slots.entry(key(name, rtype)).or_insert_with(|| {
            let found = zone.node(name).and_then(|node| zone.rrset(node, rtype));
            match found {
                Some(rrset) => Slot { owner: *name, ttl: rrset.ttl, rdatas: zone.rdatas(&rrset).map(<[u8]>::to_vec).collect() },
                None => Slot { owner: *name, ttl: 0, rdatas: Vec::new() },
            }
        })
    }

    /// The types with records at `name` now (zone and overlay).
    fn types_at(&self, name: &NameBuf) -> Vec<Rtype> {
        let lower = name.to_lowercase().as_wire().to_vec();
        let mut types: BTreeSet<u16> = BTreeSet::new();
        if let Some(node) = self.zone.node(name) {
            types.extend(self.zone.rrsets(node).map(|rrset| rrset.rtype.0));
        }
        for ((owner, rtype), slot) in self.slots.range((lower.clone(), 0)..=(lower.clone(), u16::MAX)) {
            if *owner == lower {
                if slot.rdatas.is_empty() {
                    types.remove(rtype);
                } else {
                    types.insert(*rtype);
                }
            }
        }
        types.into_iter().map(Rtype).collect()
    }

    /// The difference between the zone and the overlay, the SOA's serial raised.
    fn difference(mut self, old_soa: ZoneRecord) -> Applied {
        let soa_key = key(self.zone.origin(), Rtype::SOA);
        let explicit_soa = self.slots.remove(&soa_key).filter(|slot| slot.rdatas.first() != Some(&old_soa.rdata));
        let (mut deleted, mut added) = (Vec::new(), Vec::new());
        for ((_, rtype), slot) in &self.slots {
            self.rrset_difference(Rtype(*rtype), slot, &mut deleted, &mut added);
        }
        let new_soa = match explicit_soa {
            Some(slot) => ZoneRecord { ttl: slot.ttl, rdata: slot.rdatas[0].clone(), ..old_soa.clone() },
            None if deleted.is_empty() && added.is_empty() => return Applied::Unchanged,
            None => {
                let serial = soa_serial(&old_soa.rdata).unwrap_or(0).wrapping_add(1);
                ZoneRecord { rdata: with_serial(&old_soa.rdata, serial), ..old_soa.clone() }
            }
        };
        Applied::Changed(Box::new(ZoneDiff { old_soa, new_soa, deleted, added }))
    }

    /// One RRset's deleted and added records; a new TTL replaces every record of the RRset.
    fn rrset_difference(&self, rtype: Rtype, slot: &Slot, deleted: &mut Vec<ZoneRecord>, added: &mut Vec<ZoneRecord>) {
        let zone = self.zone;
        let (old_ttl, old): (u32, Vec<Vec<u8>>) = match zone.node(&slot.owner).and_then(|node| zone.rrset(node, rtype)) {
            Some(rrset) => (rrset.ttl, zone.rdatas(&rrset).map(<[u8]>::to_vec).collect()),
            None => (0, Vec::new()),
        };
        let owner = zone.node(&slot.owner).map_or(slot.owner, |node| zone.node_name(node));
        let ttl_changed = !old.is_empty() && !slot.rdatas.is_empty() && old_ttl != slot.ttl;
        let old_set: BTreeSet<Vec<u8>> = old.iter().map(|r| canonical(rtype, r)).collect();
        let new_set: BTreeSet<Vec<u8>> = slot.rdatas.iter().map(|r| canonical(rtype, r)).collect();
        for rdata in &old {
            if ttl_changed || !new_set.contains(&canonical(rtype, rdata)) {
                deleted.push(ZoneRecord { owner, rtype, class: zone.class(), ttl: old_ttl, rdata: rdata.clone() });
            }
        }
        for rdata in &slot.rdatas {
            if ttl_changed || !old_set.contains(&canonical(rtype, rdata)) {
                added.push(ZoneRecord { owner: slot.owner, rtype, class: zone.class(), ttl: slot.ttl, rdata: rdata.clone() });
            }
        }
    }
}
