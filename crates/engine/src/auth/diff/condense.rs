//! A run of differences as one (RFC 1995 §4: a server may send the condensed difference from
//! the client's serial to its own). A record added and later deleted again, or deleted and
//! added back with the same TTL, leaves no trace; a record deleted and added back with another
//! TTL stays a deletion and an addition.

use super::{check_sequence, key, ApplyError, ZoneDiff};
use crate::zonefile::ZoneRecord;
use std::collections::BTreeMap;

/// What the run did to one record so far.
enum Net {
    /// Deleted (the record as it was).
    Deleted(ZoneRecord),
    /// Added (the record as it is now).
    Added(ZoneRecord),
    /// Deleted, then added with another TTL: the record as it is now, and its old TTL.
    Replaced(ZoneRecord, u32),
}

/// The differences `diffs` (which must follow one another, [`check_sequence`]) as one, from the
/// first one's old SOA to the last one's new SOA. An error when the run is out of sequence,
/// deletes a record twice or adds one twice.
pub fn condense(diffs: &[ZoneDiff]) -> Result<ZoneDiff, ApplyError> {
    check_sequence(diffs)?;
    let (Some(first), Some(last)) = (diffs.first(), diffs.last()) else { return Err(ApplyError("no differences".into())) };
    if diffs.len() == 1 {
        return Ok(first.clone());
    }
    let mut net: BTreeMap<Vec<u8>, Net> = BTreeMap::new();
    for change in diffs {
        for record in &change.deleted {
            delete(&mut net, record)?;
        }
        for record in &change.added {
            add(&mut net, record)?;
        }
    }
    let (mut deleted, mut added) = (Vec::new(), Vec::new());
    for state in net.into_values() {
        match state {
            Net::Deleted(record) => deleted.push(record),
            Net::Added(record) => added.push(record),
            Net::Replaced(new, old_ttl) => {
                deleted.push(ZoneRecord { ttl: old_ttl, ..new.clone() });
                added.push(new);
            }
        }
    }
    Ok(ZoneDiff { old_soa: first.old_soa.clone(), new_soa: last.new_soa.clone(), deleted, added })
}

fn delete(net: &mut BTreeMap<Vec<u8>, Net>, record: &ZoneRecord) -> Result<(), ApplyError> {
    let record_key = key(record);
    match net.remove(&record_key) {
        None => {
            net.insert(record_key, Net::Deleted(record.clone()));
        }
        Some(Net::Added(_)) => {}
        Some(Net::Replaced(new, old_ttl)) => {
            net.insert(record_key, Net::Deleted(ZoneRecord { ttl: old_ttl, ..new }));
        }
        Some(Net::Deleted(_)) => return Err(ApplyError(format!("{} {} is deleted twice", record.owner, record.rtype))),
    }
    Ok(())
}

fn add(net: &mut BTreeMap<Vec<u8>, Net>, record: &ZoneRecord) -> Result<(), ApplyError> {
    let record_key = key(record);
    match net.remove(&record_key) {
        None => {
            net.insert(record_key, Net::Added(record.clone()));
        }
        Some(Net::Deleted(old)) if old.ttl == record.ttl => {}
        Some(Net::Deleted(old)) => {
            net.insert(record_key, Net::Replaced(record.clone(), old.ttl));
        }
        Some(Net::Added(_) | Net::Replaced(..)) => return Err(ApplyError(format!("{} {} is added twice", record.owner, record.rtype))),
    }
    Ok(())
}
