//! One cache entry in the handover format ([`super::handover`]): what [`Entry`] holds, written
//! field by field (never its packed memory layout), and read back with every length and value
//! checked, so that any input decodes to a [`Record`] or to an error, never a panic.
//!
//! ```text
//! record := kind u8 | trust u8 | security u8 | ede u16 | type u16 | class u16
//!           | remaining-ms u32 | original-ttl u32 | owner (wire name)
//!           | positive: list(rdatas) list(RRSIGs) proofs
//!           | negative: SOA owner (wire name) | SOA rdata (len u16, bytes) | proofs
//! list   := count u16, then (len u16, bytes) each
//! proofs := count u16, then (owner, type u16, list(rdatas), list(RRSIGs)) each
//! ```
//! Integers are big-endian. A negative entry's proofs start with its SOA's RRSIGs (type SOA,
//! no rdatas), as the cache keeps them.

use super::entry::{Entry, EntryKind};
use super::{Rrset, Security, Trust};
use crate::base::Instant;
use portcullis_wire::{Class, NameBuf, Rtype};

/// One decoded entry, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Record {
    pub kind: EntryKind,
    pub trust: Trust,
    pub security: Security,
    pub ede: u16,
    pub rtype: Rtype,
    pub class: Class,
    /// Milliseconds of TTL left when the record was written.
    pub remaining_ms: u32,
    pub original_ttl: u32,
    pub owner: NameBuf,
    pub rdatas: Vec<Vec<u8>>,
    pub sigs: Vec<Vec<u8>>,
    /// A negative entry's SOA owner and rdata.
    pub soa: Option<(NameBuf, Vec<u8>)>,
    /// Kept NSEC/NSEC3 proofs (and a negative entry's SOA RRSIGs first, under type SOA).
    pub proofs: Vec<Rrset>,
}

/// Appends `entry` as a record with the TTL left at `now`; false (nothing written) when it has
/// expired or is not well formed.
pub(super) fn write(entry: &Entry, now: Instant, out: &mut Vec<u8>) -> bool {
    let remaining = entry.expires_at.as_millis().saturating_sub(now.as_millis());
    if remaining == 0 {
        return false;
    }
    let start = out.len();
    let kind = match entry.kind {
        EntryKind::Positive => 0u8,
        EntryKind::NoData => 1,
        EntryKind::NxDomain => 2,
    };
    out.extend_from_slice(&[kind, entry.trust as u8, entry.security as u8]);
    for value in [entry.ede, entry.rtype.0, entry.class.0] {
        out.extend_from_slice(&value.to_be_bytes());
    }
    out.extend_from_slice(&u32::try_from(remaining).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&entry.original_ttl.to_be_bytes());
    out.extend_from_slice(entry.owner());
    if entry.kind == EntryKind::Positive {
        list(out, entry.rdatas());
        list(out, entry.sigs());
    } else {
        let Some((soa_owner, rdata)) = entry.soa() else {
            out.truncate(start);
            return false;
        };
        out.extend_from_slice(soa_owner.as_wire());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }
    let count_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let mut count = 0u16;
    for (owner, rtype, rdatas, sigs) in entry.proofs().take(usize::from(u16::MAX)) {
        out.extend_from_slice(owner.as_wire());
        out.extend_from_slice(&rtype.0.to_be_bytes());
        list(out, rdatas);
        list(out, sigs);
        count += 1;
    }
    out[count_at..count_at + 2].copy_from_slice(&count.to_be_bytes());
    true
}

/// Appends `count u16` and each item as `(len u16, bytes)` (rdatas are at most 65535 octets).
fn list<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a [u8]>) {
    let count_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let mut count = 0u16;
    for item in items.take(usize::from(u16::MAX)) {
        let len = item.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&item[..len]);
        count += 1;
    }
    out[count_at..count_at + 2].copy_from_slice(&count.to_be_bytes());
}

/// Reads one record that fills `payload` exactly; the reason when it does not.
pub(super) fn read(payload: &[u8]) -> Result<Record, &'static str> {
    let mut reader = Reader { rest: payload };
    let kind = match reader.u8()? {
        0 => EntryKind::Positive,
        1 => EntryKind::NoData,
        2 => EntryKind::NxDomain,
        _ => return Err("unknown entry kind"),
    };
    let trust = trust(reader.u8()?)?;
    let security = security(reader.u8()?)?;
    let (ede, rtype, class) = (reader.u16()?, Rtype(reader.u16()?), Class(reader.u16()?));
    let (remaining_ms, original_ttl) = (reader.u32()?, reader.u32()?);
    let owner = reader.name()?;
    let mut record = Record {
        kind,
        trust,
        security,
        ede,
        rtype,
        class,
        remaining_ms,
        original_ttl,
        owner,
        rdatas: Vec::new(),
        sigs: Vec::new(),
        soa: None,
        proofs: Vec::new(),
    };
    if kind == EntryKind::Positive {
        (record.rdatas, record.sigs) = (reader.list()?, reader.list()?);
        if record.rdatas.is_empty() || rtype.0 == 0 {
            return Err("a positive entry without records");
        }
    } else {
        let soa_owner = reader.name()?;
        let len = reader.u16()?;
        record.soa = Some((soa_owner, reader.bytes(usize::from(len))?.to_vec()));
        if (kind == EntryKind::NxDomain) != (rtype.0 == 0) {
            return Err("a negative entry of the wrong type");
        }
    }
    for _ in 0..reader.u16()? {
        let (owner, rtype) = (reader.name()?, Rtype(reader.u16()?));
        let (rdatas, sigs) = (reader.list()?, reader.list()?);
        record.proofs.push(Rrset { owner, rtype, class, ttl: 0, rdatas, sigs });
    }
    if !reader.rest.is_empty() {
        return Err("trailing bytes after an entry");
    }
    Ok(record)
}

fn trust(value: u8) -> Result<Trust, &'static str> {
    Ok(match value {
        1 => Trust::Glue,
        2 => Trust::Additional,
        3 => Trust::Authority,
        4 => Trust::Answer,
        5 => Trust::AuthAuthority,
        6 => Trust::AuthAnswer,
        _ => return Err("unknown credibility"),
    })
}

fn security(value: u8) -> Result<Security, &'static str> {
    Ok(match value {
        0 => Security::Indeterminate,
        1 => Security::Bogus,
        2 => Security::Insecure,
        3 => Security::Secure,
        _ => return Err("unknown validation status"),
    })
}

/// A checked reader over a record's bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, len: usize) -> Result<&'a [u8], &'static str> {
        if self.rest.len() < len {
            return Err("an entry cut short");
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        let bytes = self.bytes(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn name(&mut self) -> Result<NameBuf, &'static str> {
        let (name, end) = NameBuf::parse_uncompressed(self.rest, 0).map_err(|_| "a malformed owner name")?;
        self.bytes(end)?;
        Ok(name)
    }

    fn list(&mut self) -> Result<Vec<Vec<u8>>, &'static str> {
        let count = self.u16()?;
        let mut items = Vec::new();
        for _ in 0..count {
            let len = self.u16()?;
            items.push(self.bytes(usize::from(len))?.to_vec());
        }
        Ok(items)
    }
}

/// One kept NSEC or NSEC3 RRset of the RFC 8198 index, with its zone and the zone's SOA:
/// `zone (wire name) | SOA rrset | rrset | remaining-ms u32`, each rrset as
/// `owner | type u16 | class u16 | ttl u32 | list(rdatas) | list(RRSIGs)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct NsecRecord {
    pub zone: NameBuf,
    pub soa: Rrset,
    pub set: Rrset,
    pub remaining_ms: u32,
}

/// Appends one kept NSEC/NSEC3 RRset; false (nothing written) once it has expired.
pub(super) fn write_nsec((zone, soa, set, until): &(NameBuf, Rrset, Rrset, Instant), now: Instant, out: &mut Vec<u8>) -> bool {
    let remaining = until.as_millis().saturating_sub(now.as_millis());
    if remaining == 0 {
        return false;
    }
    out.extend_from_slice(zone.as_wire());
    for rrset in [soa, set] {
        out.extend_from_slice(rrset.owner.as_wire());
        out.extend_from_slice(&rrset.rtype.0.to_be_bytes());
        out.extend_from_slice(&rrset.class.0.to_be_bytes());
        out.extend_from_slice(&rrset.ttl.to_be_bytes());
        list(out, rrset.rdatas.iter().map(Vec::as_slice));
        list(out, rrset.sigs.iter().map(Vec::as_slice));
    }
    out.extend_from_slice(&u32::try_from(remaining).unwrap_or(u32::MAX).to_be_bytes());
    true
}

/// Reads one kept NSEC/NSEC3 RRset that fills `payload` exactly.
pub(super) fn read_nsec(payload: &[u8]) -> Result<NsecRecord, &'static str> {
    let mut reader = Reader { rest: payload };
    let zone = reader.name()?;
    let mut sets = [None, None];
    for set in &mut sets {
        let (owner, rtype, class, ttl) = (reader.name()?, Rtype(reader.u16()?), Class(reader.u16()?), reader.u32()?);
        *set = Some(Rrset { owner, rtype, class, ttl, rdatas: reader.list()?, sigs: reader.list()? });
    }
    let remaining_ms = reader.u32()?;
    let [Some(soa), Some(set)] = sets else { return Err("a kept NSEC record cut short") };
    if !reader.rest.is_empty() || soa.rtype != Rtype::SOA || !matches!(set.rtype, Rtype::NSEC | Rtype::NSEC3) {
        return Err("a malformed kept NSEC record");
    }
    Ok(NsecRecord { zone, soa, set, remaining_ms })
}
