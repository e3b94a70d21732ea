//! ZONEMD (RFC 8976): the digest a zone may carry of itself, checked on a zone received before
//! it replaces the copy served. Only the SIMPLE scheme (1) with SHA-384 (1) or SHA-512 (2) is
//! known; the digest is `ring`'s.
//!
//! The digest (§3.3) covers every record of the zone in canonical order (RFC 4034 §6: owners
//! in canonical name order, then RRsets by type, then records by canonical rdata), each in
//! canonical form (owner and the names §6.2 lists lower-cased, uncompressed), except the apex
//! ZONEMD RRset and the apex RRSIGs covering it (§3.3.1). Verification (§4): a ZONEMD record
//! whose serial is the SOA's, whose scheme and algorithm are known, and whose digest matches.

use super::diff::{apex_soa, records};
use super::zone::Zone;
use crate::zonefile::ZoneRecord;
use portcullis_dnssec::canonical::canonical_rdata;
use portcullis_wire::Rtype;

/// What checking a zone's ZONEMD found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZonemdCheck {
    /// The zone has no ZONEMD at its apex.
    Absent,
    /// Only schemes or algorithms not known here: not checked.
    Unsupported,
    /// A ZONEMD record verified.
    Verified,
    /// None verified: why.
    Mismatch(String),
}

/// Checks `zone`'s apex ZONEMD records (RFC 8976 §4).
pub fn check(zone: &Zone) -> ZonemdCheck {
    let zonemds: Vec<Vec<u8>> = match zone.apex().and_then(|apex| zone.rrset(apex, Rtype::ZONEMD)) {
        Some(rrset) => zone.rdatas(&rrset).map(<[u8]>::to_vec).collect(),
        None => return ZonemdCheck::Absent,
    };
    let serial = zone.serial().unwrap_or_default();
    let known: Vec<&Vec<u8>> = zonemds.iter().filter(|rdata| rdata.len() > 6 && rdata[4] == 1 && matches!(rdata[5], 1 | 2)).collect();
    if known.is_empty() {
        return ZonemdCheck::Unsupported;
    }
    let mut reasons = Vec::new();
    for rdata in known {
        let their_serial = u32::from_be_bytes([rdata[0], rdata[1], rdata[2], rdata[3]]);
        if their_serial != serial {
            reasons.push(format!("ZONEMD serial {their_serial} is not the SOA's {serial}"));
            continue;
        }
        let algorithm = if rdata[5] == 1 { &ring::digest::SHA384 } else { &ring::digest::SHA512 };
        match digest(zone, algorithm) {
            Some(ours) if ours.as_ref() == &rdata[6..] => return ZonemdCheck::Verified,
            Some(_) => reasons.push(format!("the zone's digest (hash algorithm {}) does not match its ZONEMD", rdata[5])),
            None => reasons.push("a record's rdata is malformed".into()),
        }
    }
    ZonemdCheck::Mismatch(reasons.join("; "))
}

/// The SIMPLE scheme's digest of `zone` (RFC 8976 §3.3); `None` for malformed rdata.
pub fn digest(zone: &Zone, algorithm: &'static ring::digest::Algorithm) -> Option<ring::digest::Digest> {
    let origin = *zone.origin();
    let included = |record: &ZoneRecord| {
        let apex = record.owner == origin;
        !(apex && (record.rtype == Rtype::ZONEMD || (record.rtype == Rtype::RRSIG && record.rdata.get(..2) == Some(&Rtype::ZONEMD.0.to_be_bytes()[..]))))
    };
    let mut all: Vec<(ZoneRecord, Vec<u8>)> = Vec::new();
    for record in apex_soa(zone).into_iter().chain(records(zone)).filter(included) {
        let canonical = canonical_rdata(record.rtype, &record.rdata).ok()?;
        all.push((ZoneRecord { owner: record.owner.to_lowercase(), ..record }, canonical));
    }
    all.sort_by(|(a, a_rdata), (b, b_rdata)| a.owner.canonical_cmp(&b.owner).then(a.rtype.0.cmp(&b.rtype.0)).then_with(|| a_rdata.cmp(b_rdata)));
    all.dedup_by(|(a, a_rdata), (b, b_rdata)| a.owner == b.owner && a.rtype == b.rtype && a_rdata == b_rdata);
    let mut context = ring::digest::Context::new(algorithm);
    for (record, rdata) in &all {
        context.update(record.owner.as_wire());
        context.update(&record.rtype.0.to_be_bytes());
        context.update(&record.class.0.to_be_bytes());
        context.update(&record.ttl.to_be_bytes());
        context.update(&(rdata.len() as u16).to_be_bytes());
        context.update(rdata);
    }
    Some(context.finish())
}
