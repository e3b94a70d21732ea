//! The domain shadowing detector, authoritative side (issue 16 item 2; SECURITY-REFERENCE
//! §4.2 (a)): whoever holds a zone's account (a registrar or hosting login, an update key, the
//! primary a secondary follows) can add subdomains in bulk without touching the records the
//! owner looks at. Every change of a served zone is one [`ZoneDiff`] (a reload, an incoming
//! AXFR compared with the copy it replaces, an IXFR, a dynamic update, RFC 1995 §4); this module
//! counts the names it creates under each parent name and reports the parents that gained at
//! least [`ShadowSettings::zone_names`](super::shadow::ShadowSettings::zone_names) of them.
//!
//! A name is new when the change adds records at it, deletes none there, and every record the
//! new version holds there is one it added (so a name that only had its TTL or address changed
//! is not new, and the old version of the zone is not needed). DNSSEC records (RRSIG, NSEC,
//! NSEC3, NSEC3PARAM, DNSKEY, CDS, CDNSKEY) and ZONEMD are not data: a re-signing or a new
//! NSEC3 chain creates no name. Empty non-terminals are not names either.
//!
//! Cost: one pass over the added records, then, only when at least the threshold of data
//! records was added, a sort of 24 octets per added record and one zone lookup per new owner:
//! small beside the change itself (the diff already holds every added record). Sans-IO.

use crate::auth::diff::{condense, ZoneDiff};
use crate::auth::Zone;
use crate::base::hash::Fnv;
use crate::zonefile::ZoneRecord;
use portcullis_wire::{NameBuf, Rtype};
use std::hash::Hasher;

/// Parents reported at most for one change (the largest first).
pub const PARENTS_REPORTED: usize = 16;

/// Names added in bulk under one parent by one change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkAdd {
    /// The parent name (lower-case).
    pub parent: NameBuf,
    /// New names directly under it.
    pub names: u32,
    /// One of them (lower-case).
    pub example: NameBuf,
}

/// The parents under which `diffs` (one change, in order, ending at `new`) created at least
/// `threshold` names, the largest first, at most [`PARENTS_REPORTED`]. Several differences (an
/// IXFR) are condensed first; a run that does not condense reports nothing.
pub fn bulk_additions(diffs: &[ZoneDiff], new: &Zone, threshold: u32) -> Vec<BulkAdd> {
    let data_added: usize = diffs.iter().map(|change| change.added.iter().filter(|record| is_data(record.rtype)).count()).sum();
    if data_added < threshold as usize {
        return Vec::new();
    }
    match diffs {
        [] => Vec::new(),
        [change] => bulk_in(change, new, threshold),
        several => condense(several).map(|change| bulk_in(&change, new, threshold)).unwrap_or_default(),
    }
}

/// [`bulk_additions`] for one difference.
fn bulk_in(change: &ZoneDiff, new: &Zone, threshold: u32) -> Vec<BulkAdd> {
    let mut deleted: Vec<u64> = change.deleted.iter().filter(|record| is_data(record.rtype)).map(|record| owner_hash(&record.owner)).collect();
    deleted.sort_unstable();
    // (owner, parent, index of one of its added records), grouped by owner.
    let mut owners: Vec<(u64, u64, usize)> = Vec::new();
    for (index, record) in change.added.iter().enumerate().filter(|(_, record)| is_data(record.rtype)) {
        if let Some(parent) = parent_wire(record.owner.as_wire()) {
            owners.push((owner_hash(&record.owner), name_hash(parent), index));
        }
    }
    owners.sort_unstable();
    let mut new_names: Vec<(u64, usize)> = Vec::new();
    for group in owners.chunk_by(|a, b| a.0 == b.0) {
        let (owner, parent, index) = group[0];
        let record = &change.added[index];
        if deleted.binary_search(&owner).is_err() && data_records(new, &record.owner) == group.len() {
            new_names.push((parent, index));
        }
    }
    new_names.sort_unstable();
    let mut found: Vec<BulkAdd> = new_names
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|group| group.len() >= threshold as usize)
        .filter_map(|group| report(&change.added[group[0].1], group.len()))
        .collect();
    found.sort_by(|a, b| b.names.cmp(&a.names).then_with(|| a.parent.as_wire().cmp(b.parent.as_wire())));
    found.truncate(PARENTS_REPORTED);
    found
}

/// The report of `count` new names under the parent of `example`.
fn report(example: &ZoneRecord, count: usize) -> Option<BulkAdd> {
    let example = example.owner.to_lowercase();
    let parent = NameBuf::from_wire(parent_wire(example.as_wire())?).ok()?;
    Some(BulkAdd { parent, names: u32::try_from(count).unwrap_or(u32::MAX), example })
}

/// True for records that are the zone's data, not its DNSSEC signatures, chain or keys.
fn is_data(rtype: Rtype) -> bool {
    ![Rtype::RRSIG, Rtype::NSEC, Rtype::NSEC3, Rtype::NSEC3PARAM, Rtype::DNSKEY, Rtype::CDS, Rtype::CDNSKEY, Rtype::ZONEMD].contains(&rtype)
}

/// Data records the zone holds at `owner`.
fn data_records(zone: &Zone, owner: &NameBuf) -> usize {
    let Some(node) = zone.node(owner) else { return 0 };
    zone.rrsets(node).filter(|rrset| is_data(rrset.rtype)).map(|rrset| zone.rdatas(&rrset).count()).sum()
}

/// The hash of a name in any case.
fn owner_hash(owner: &NameBuf) -> u64 {
    name_hash(owner.as_wire())
}

/// FNV-1a of the uncompressed wire name `wire`, case folded (the zone's own data: no key).
fn name_hash(wire: &[u8]) -> u64 {
    let mut hasher = Fnv::default();
    wire.iter().for_each(|byte| hasher.write_u8(byte.to_ascii_lowercase()));
    hasher.finish()
}

/// The wire form of the parent of the uncompressed wire name `wire` (`None` for the root).
fn parent_wire(wire: &[u8]) -> Option<&[u8]> {
    let first = usize::from(*wire.first()?);
    (first > 0).then(|| wire.get(first + 1..)).flatten()
}

#[cfg(test)]
#[path = "shadow_zone_tests.rs"]
mod tests;
