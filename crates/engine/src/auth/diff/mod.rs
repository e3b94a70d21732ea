//! Zone differences (RFC 1995 §4): what one change of a zone did, as the old SOA, the records
//! deleted, the new SOA and the records added. A reload of a primary, a dynamic update and an
//! IXFR received each make one [`ZoneDiff`]; the server's journal keeps them (encoded by
//! [`codec`]), and a [`History`] of them travels with the zone snapshot they end at, so that the
//! engine can answer IXFR (RFC 1995 §2) without any I/O.
//!
//! - [`diff`]: what changed between two versions of a zone;
//! - [`apply`]: a run of differences applied to a copy of a zone, checked: the serials must
//!   follow one another (each difference starts at the serial the one before ended at, and goes
//!   up, RFC 1982), a deleted record must be there and an added one must not;
//! - [`condense`]: a run of differences as one (RFC 1995 §4 allows a condensed answer);
//! - [`codec`]: the journal's encoding of one difference, with a checksum so that a torn tail
//!   is found.
//!
//! Records are [`ZoneRecord`]s: an owner, a type, a TTL and uncompressed wire rdata. Two records
//! are the same record when owner (any case), type and rdata are equal; the TTL is carried
//! along (a TTL change is the old record deleted and the new one added). The apex SOA is never
//! in `deleted` or `added`: it is `old_soa` and `new_soa`.

pub mod codec;
mod condense;
mod history;

pub use condense::condense;
pub use history::History;

use super::transfer::{serial_greater, soa_serial};
use super::zone::Zone;
use crate::load::build_checked;
use crate::zonefile::ZoneRecord;
use portcullis_wire::{NameBuf, Rtype};
use std::collections::BTreeMap;
use std::fmt;

/// One change of a zone (RFC 1995 §4: "the differences between two versions").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneDiff {
    /// The apex SOA before the change.
    pub old_soa: ZoneRecord,
    /// The apex SOA after it.
    pub new_soa: ZoneRecord,
    /// Records removed (never the apex SOA).
    pub deleted: Vec<ZoneRecord>,
    /// Records added (never the apex SOA).
    pub added: Vec<ZoneRecord>,
}

impl ZoneDiff {
    /// The serial the change starts from (0 when the old SOA is unreadable).
    pub fn old_serial(&self) -> u32 {
        soa_serial(&self.old_soa.rdata).unwrap_or(0)
    }

    /// The serial the change ends at.
    pub fn new_serial(&self) -> u32 {
        soa_serial(&self.new_soa.rdata).unwrap_or(0)
    }

    /// True when it changes nothing but the SOA.
    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty() && self.added.is_empty()
    }
}

/// Why differences could not be applied (or condensed): the zone served stays as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyError(pub String);

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ApplyError {}

/// What changed from `old` to `new` (two versions of the same zone). `None` when either has no
/// SOA.
pub fn diff(old: &Zone, new: &Zone) -> Option<ZoneDiff> {
    let old_soa = apex_soa(old)?;
    let new_soa = apex_soa(new)?;
    let mut before: BTreeMap<Vec<u8>, ZoneRecord> = records(old).map(|record| (key(&record), record)).collect();
    let mut added = Vec::new();
    for record in records(new) {
        match before.remove(&key(&record)) {
            Some(same) if same.ttl == record.ttl => {}
            Some(changed) => {
                before.insert(key(&changed), changed);
                added.push(record);
            }
            None => added.push(record),
        }
    }
    // What is left of the old zone was deleted (a changed TTL: deleted, then added).
    let deleted = before.into_values().collect();
    Some(ZoneDiff { old_soa, new_soa, deleted, added })
}

/// `zone` with `diffs` applied, in order, as a new zone built with the checks of a zone file;
/// `zone` itself is not touched. An error says which rule was broken: a serial out of sequence,
/// a deleted record the zone does not have, an added record it already has, or a result that
/// is not servable.
pub fn apply(zone: &Zone, diffs: &[ZoneDiff]) -> Result<Zone, ApplyError> {
    let Some(first) = diffs.first() else { return Ok(zone.clone()) };
    let serial = zone.serial().ok_or_else(|| ApplyError("the zone has no SOA".into()))?;
    if first.old_serial() != serial {
        return Err(ApplyError(format!("the differences start at serial {}, the zone is at {serial}", first.old_serial())));
    }
    let change = condense(diffs)?;
    let mut deleting: BTreeMap<Vec<u8>, bool> = change.deleted.iter().map(|record| (key(record), false)).collect();
    let adding: BTreeMap<Vec<u8>, ()> = change.added.iter().map(|record| (key(record), ())).collect();
    let mut kept = Vec::with_capacity(zone.node_count() + change.added.len());
    kept.push(change.new_soa.clone());
    for record in records(zone) {
        let record_key = key(&record);
        if let Some(found) = deleting.get_mut(&record_key) {
            *found = true;
            continue;
        }
        if adding.contains_key(&record_key) {
            return Err(ApplyError(format!("adds {} {} which the zone already has", record.owner, record.rtype)));
        }
        kept.push(record);
    }
    if let Some(missing) = change.deleted.iter().find(|record| deleting.get(&key(record)) == Some(&false)) {
        return Err(ApplyError(format!("deletes {} {} which the zone does not have", missing.owner, missing.rtype)));
    }
    kept.extend(change.added);
    build_checked(zone.origin(), &kept).map_err(|error| ApplyError(format!("the zone after the differences is not servable: {error}")))
}

/// Checks that `diffs` follow one another: each starts at the serial the one before ended at,
/// and each goes up (RFC 1982 §3.2).
pub fn check_sequence(diffs: &[ZoneDiff]) -> Result<(), ApplyError> {
    for (index, change) in diffs.iter().enumerate() {
        let (old, new) = (change.old_serial(), change.new_serial());
        if !serial_greater(new, old) {
            return Err(ApplyError(format!("difference {} goes from serial {old} to {new}, not up", index + 1)));
        }
        if let Some(next) = diffs.get(index + 1) {
            if next.old_serial() != new {
                return Err(ApplyError(format!("difference {} starts at serial {}, the one before ended at {new}", index + 2, next.old_serial())));
            }
        }
    }
    Ok(())
}

/// Every record of `zone` but the apex SOA: the name tree, then a signed zone's NSEC3 table.
pub fn records(zone: &Zone) -> impl Iterator<Item = ZoneRecord> + '_ {
    let class = zone.class();
    zone.all_nodes().enumerate().flat_map(move |(index, (part, node))| {
        let owner = part.node_name(node);
        part.rrsets(node)
            .filter(move |rrset| !(index == 0 && rrset.rtype == Rtype::SOA))
            .flat_map(move |rrset| part.rdatas(&rrset).map(move |rdata| ZoneRecord { owner, rtype: rrset.rtype, class, ttl: rrset.ttl, rdata: rdata.to_vec() }))
    })
}

/// The apex SOA of `zone` as a record.
pub fn apex_soa(zone: &Zone) -> Option<ZoneRecord> {
    let soa = zone.soa()?;
    Some(ZoneRecord { owner: *zone.origin(), rtype: Rtype::SOA, class: zone.class(), ttl: soa.ttl, rdata: zone.first_rdata(&soa).to_vec() })
}

/// A record's identity: its lower-cased owner, type and rdata (the TTL is not part of it).
pub(crate) fn key(record: &ZoneRecord) -> Vec<u8> {
    let owner: NameBuf = record.owner.to_lowercase();
    let mut key = Vec::with_capacity(owner.len() + 2 + record.rdata.len());
    key.extend_from_slice(owner.as_wire());
    key.extend_from_slice(&record.rtype.0.to_be_bytes());
    key.extend_from_slice(&record.rdata);
    key
}

#[cfg(test)]
mod tests;
