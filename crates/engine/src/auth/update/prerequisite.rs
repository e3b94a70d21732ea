//! The prerequisite section evaluated against a zone snapshot (RFC 2136 §3.2), in order, the
//! first that fails deciding the rcode (§3.2.5): NXDOMAIN (a name that must be in use is not),
//! YXDOMAIN (a name that must not be in use is), NXRRSET (an RRset that must exist, or exist
//! with exactly these records, does not), YXRRSET (an RRset that must not exist does). Rdatas are
//! compared in canonical form (RFC 4034 §6.2: embedded names lower-cased), as sets.

use super::Prerequisite;
use crate::auth::Zone;
use portcullis_wire::{NameBuf, Rcode, Rtype};

/// NOERROR when every prerequisite holds in `zone`, else the rcode of the first that fails.
pub fn check(zone: &Zone, prerequisites: &[Prerequisite]) -> Rcode {
    for prerequisite in prerequisites {
        let holds = match prerequisite {
            Prerequisite::NameInUse(name) => in_use(zone, name),
            Prerequisite::NameNotInUse(name) => !in_use(zone, name),
            Prerequisite::RrsetExists(name, rtype) => rdatas(zone, name, *rtype).is_some(),
            Prerequisite::RrsetDoesNotExist(name, rtype) => rdatas(zone, name, *rtype).is_none(),
            Prerequisite::RrsetEquals(name, rtype, wanted) => rdatas(zone, name, *rtype)
                .is_some_and(|found| canonical_set(*rtype, found.iter().map(Vec::as_slice)) == canonical_set(*rtype, wanted.iter().map(Vec::as_slice))),
        };
        if !holds {
            return failure(prerequisite);
        }
    }
    Rcode::NOERROR
}

/// The rcode §3.2.5 gives a prerequisite that does not hold.
fn failure(prerequisite: &Prerequisite) -> Rcode {
    match prerequisite {
        Prerequisite::NameInUse(_) => Rcode::NXDOMAIN,
        Prerequisite::NameNotInUse(_) => Rcode::YXDOMAIN,
        Prerequisite::RrsetExists(..) | Prerequisite::RrsetEquals(..) => Rcode::NXRRSET,
        Prerequisite::RrsetDoesNotExist(..) => Rcode::YXRRSET,
    }
}

/// True when `name` owns at least one record (an empty non-terminal owns none, §2.4.4).
pub fn in_use(zone: &Zone, name: &NameBuf) -> bool {
    zone.node(name).is_some_and(|node| !zone.rrsets(node).is_empty())
}

/// The rdatas of the RRset of `rtype` at `name`, when there is one.
pub fn rdatas(zone: &Zone, name: &NameBuf, rtype: Rtype) -> Option<Vec<Vec<u8>>> {
    let node = zone.node(name)?;
    let rrset = zone.rrset(node, rtype)?;
    Some(zone.rdatas(&rrset).map(<[u8]>::to_vec).collect())
}

/// The rdatas in canonical form, sorted, without duplicates (rdata whose names cannot be read
/// is kept as it is).
pub fn canonical_set<'a>(rtype: Rtype, rdatas: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let mut set: Vec<Vec<u8>> = rdatas.map(|rdata| canonical(rtype, rdata)).collect();
    set.sort();
    set.dedup();
    set
}

/// One rdata in canonical form.
pub fn canonical(rtype: Rtype, rdata: &[u8]) -> Vec<u8> {
    portcullis_dnssec::canonical::canonical_rdata(rtype, rdata).unwrap_or_else(|_| rdata.to_vec())
}
