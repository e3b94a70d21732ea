//! Consistency checks of a parsed zone, as `named-checkzone` and `kzonecheck` make them.
//!
//! Errors (the zone must not be served):
//! - no SOA at the apex, more than one, or an SOA elsewhere (RFC 1035 §5.2, RFC 1034 §4.2.1);
//! - no NS at the apex (RFC 1034 §4.2.1);
//! - a CNAME beside other data, RRSIG and NSEC excepted, or two CNAMEs at one name (RFC 1034
//!   §3.6.2, RFC 2181 §10.1, RFC 4035 §2.5); two DNAMEs at one name (RFC 6672 §2.4);
//! - data outside the zone;
//! - an in-zone name server with no A or AAAA record: missing glue when the name is at or below a
//!   delegation, a missing address otherwise; a name server that is a CNAME (RFC 2181 §10.3).
//!
//! Warnings (the data is served as the DNS rules say, probably not as meant):
//! - data occluded by a delegation: below a zone cut, or at it other than NS, DS, RRSIG, NSEC and
//!   glue addresses (RFC 1034 §4.2.1);
//! - data below a DNAME (RFC 6672 §2.3).
//!
//! Problems come in a fixed order: apex first, then owners in the order of the records.

use super::ZoneRecord;
use portcullis_wire::{NameBuf, Rtype};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The zone is wrong and must not be loaded.
    Error,
    /// The zone works, but probably not as its author meant.
    Warning,
}

/// One problem found in a zone, at an owner name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The name the problem is at.
    pub owner: NameBuf,
    /// What is wrong, for the operator.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{severity}: {}: {}", self.owner, self.message)
    }
}

/// Checks the records of the zone at `origin`; an empty list means the zone is fine.
pub fn check_zone(origin: &NameBuf, records: &[ZoneRecord]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let zone = Zone::index(origin, records, &mut problems);
    zone.check_apex(&mut problems);
    zone.check_exclusive_types(&mut problems);
    zone.check_occlusion(&mut problems);
    zone.check_name_servers(&mut problems);
    problems
}

/// True when any problem is an error.
pub fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(|problem| problem.severity == Severity::Error)
}

/// The in-zone records grouped by owner.
struct Zone<'z> {
    origin: NameBuf,
    /// Owners in the order they first appear.
    owners: Vec<NameBuf>,
    by_owner: HashMap<NameBuf, Vec<&'z ZoneRecord>>,
    /// Owners of NS records other than the apex.
    cuts: HashSet<NameBuf>,
    /// Owners of DNAME records.
    dnames: HashSet<NameBuf>,
    /// Targets of every NS record.
    ns_targets: HashSet<NameBuf>,
}

impl<'z> Zone<'z> {
    /// Groups the records, reporting those outside the zone.
    fn index(origin: &NameBuf, records: &'z [ZoneRecord], problems: &mut Vec<Problem>) -> Self {
        let mut zone = Self {
            origin: *origin,
            owners: Vec::new(),
            by_owner: HashMap::new(),
            cuts: HashSet::new(),
            dnames: HashSet::new(),
            ns_targets: HashSet::new(),
        };
        let mut reported = HashSet::new();
        for record in records {
            if !record.owner.is_subdomain_of(origin) {
                if reported.insert(record.owner) {
                    problems.push(error(record.owner, format!("out of zone: not at or below {origin}")));
                }
                continue;
            }
            let list = zone.by_owner.entry(record.owner).or_default();
            if list.is_empty() {
                zone.owners.push(record.owner);
            }
            list.push(record);
            match record.rtype {
                Rtype::NS if record.owner != *origin => {
                    zone.cuts.insert(record.owner);
                }
                Rtype::DNAME => {
                    zone.dnames.insert(record.owner);
                }
                _ => {}
            }
            if let (Rtype::NS, Ok(target)) = (record.rtype, NameBuf::from_wire(&record.rdata)) {
                zone.ns_targets.insert(target);
            }
        }
        zone
    }

    /// One SOA, at the apex; NS at the apex.
    fn check_apex(&self, problems: &mut Vec<Problem>) {
        let soa_count = distinct_rdata(self.at(&self.origin), Rtype::SOA);
        match soa_count {
            0 => problems.push(error(self.origin, "no SOA record at the zone apex".into())),
            1 => {}
            count => problems.push(error(self.origin, format!("{count} SOA records at the zone apex; there must be exactly one"))),
        }
        if !self.has(&self.origin, Rtype::NS) {
            problems.push(error(self.origin, "no NS records at the zone apex".into()));
        }
        for owner in self.owners.iter().filter(|owner| **owner != self.origin) {
            if self.has(owner, Rtype::SOA) {
                problems.push(error(*owner, "SOA record not at the zone apex".into()));
            }
        }
    }

    /// CNAME alone at its name (RRSIG and NSEC aside), at most one CNAME and one DNAME.
    fn check_exclusive_types(&self, problems: &mut Vec<Problem>) {
        for owner in &self.owners {
            let records = self.at(owner);
            if distinct_rdata(records, Rtype::CNAME) > 1 {
                problems.push(error(*owner, "more than one CNAME record".into()));
            }
            if distinct_rdata(records, Rtype::DNAME) > 1 {
                problems.push(error(*owner, "more than one DNAME record".into()));
            }
            if !self.has(owner, Rtype::CNAME) {
                continue;
            }
            let others = distinct_types(records.iter().map(|r| r.rtype).filter(|t| !matches!(*t, Rtype::CNAME | Rtype::RRSIG | Rtype::NSEC)));
            if !others.is_empty() {
                problems.push(error(*owner, format!("CNAME and other data ({})", join(&others))));
            }
        }
    }

    /// Data hidden by a delegation or a DNAME.
    fn check_occlusion(&self, problems: &mut Vec<Problem>) {
        for owner in &self.owners {
            let hidden = self.occluder(owner);
            let at_cut = *owner != self.origin && self.cuts.contains(owner);
            let occluded = |rtype: Rtype| match hidden {
                Some((_, Occluder::Dname)) => true,
                Some((_, Occluder::Delegation)) => !self.is_glue(owner, rtype),
                None if at_cut => !matches!(rtype, Rtype::NS | Rtype::DS | Rtype::RRSIG | Rtype::NSEC) && !self.is_glue(owner, rtype),
                None => false,
            };
            let types = distinct_types(self.at(owner).iter().map(|r| r.rtype).filter(|&rtype| occluded(rtype)));
            if types.is_empty() {
                continue;
            }
            let message = match hidden {
                Some((above, Occluder::Delegation)) => format!("{} occluded by the delegation at {above}", join(&types)),
                Some((above, Occluder::Dname)) => format!("{} occluded by the DNAME at {above}", join(&types)),
                None => format!("{} at a delegation point is not authoritative (occluded)", join(&types)),
            };
            problems.push(warning(*owner, message));
        }
    }

    /// Every in-zone name server has an address; below a cut, that address is glue.
    fn check_name_servers(&self, problems: &mut Vec<Problem>) {
        let mut reported = HashSet::new();
        for owner in &self.owners {
            for record in self.at(owner).iter().filter(|r| r.rtype == Rtype::NS) {
                let Ok(target) = NameBuf::from_wire(&record.rdata) else { continue };
                if !target.is_subdomain_of(&self.origin) || !reported.insert(target) {
                    continue;
                }
                if self.has(&target, Rtype::CNAME) {
                    problems.push(error(*owner, format!("name server {target} is a CNAME (RFC 2181 §10.3)")));
                    continue;
                }
                if self.has(&target, Rtype::A) || self.has(&target, Rtype::AAAA) || self.occluder(&target).is_some_and(|(_, o)| o == Occluder::Dname) {
                    continue;
                }
                let message = if self.is_at_or_below_cut(&target) {
                    format!("missing glue: name server {target} is below a delegation and has no A or AAAA record")
                } else {
                    format!("name server {target} has no A or AAAA record in the zone")
                };
                problems.push(error(*owner, message));
            }
        }
    }

    /// The highest delegation or DNAME strictly above `name` (within the zone), if any.
    fn occluder(&self, name: &NameBuf) -> Option<(NameBuf, Occluder)> {
        let depth = name.label_count().checked_sub(self.origin.label_count())?;
        let mut found = None;
        for skip in 1..=depth {
            let Some(ancestor) = name.suffix(skip) else { break };
            if self.dnames.contains(&ancestor) {
                found = Some((ancestor, Occluder::Dname));
            } else if skip < depth && self.cuts.contains(&ancestor) {
                found = Some((ancestor, Occluder::Delegation));
            }
        }
        found
    }

    fn is_at_or_below_cut(&self, name: &NameBuf) -> bool {
        self.cuts.contains(name) || self.occluder(name).is_some_and(|(_, o)| o == Occluder::Delegation)
    }

    fn is_glue(&self, owner: &NameBuf, rtype: Rtype) -> bool {
        matches!(rtype, Rtype::A | Rtype::AAAA) && self.ns_targets.contains(owner)
    }

    fn at(&self, owner: &NameBuf) -> &[&'z ZoneRecord] {
        self.by_owner.get(owner).map_or(&[], Vec::as_slice)
    }

    fn has(&self, owner: &NameBuf, rtype: Rtype) -> bool {
        self.at(owner).iter().any(|record| record.rtype == rtype)
    }
}

/// What hides data below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Occluder {
    Delegation,
    Dname,
}

fn error(owner: NameBuf, message: String) -> Problem {
    Problem { severity: Severity::Error, owner, message }
}

fn warning(owner: NameBuf, message: String) -> Problem {
    Problem { severity: Severity::Warning, owner, message }
}

/// Records of `rtype` with different rdata (exact duplicates count once).
fn distinct_rdata(records: &[&ZoneRecord], rtype: Rtype) -> usize {
    let set: HashSet<&[u8]> = records.iter().filter(|r| r.rtype == rtype).map(|r| r.rdata.as_slice()).collect();
    set.len()
}

/// The types in order of first appearance, each once.
fn distinct_types(types: impl Iterator<Item = Rtype>) -> Vec<Rtype> {
    let mut out: Vec<Rtype> = Vec::new();
    for rtype in types {
        if !out.contains(&rtype) {
            out.push(rtype);
        }
    }
    out
}

fn join(types: &[Rtype]) -> String {
    types.iter().map(Rtype::to_string).collect::<Vec<_>>().join(", ")
}
