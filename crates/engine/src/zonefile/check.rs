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
use crate::base::hash::FnvBuild;
use portcullis_wire::{NameBuf, Rtype};
use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};

/// Build-time maps keyed by our own names: a fast hash (the input is the operator's zone).
type HashMap<K, V> = StdHashMap<K, V, FnvBuild>;
/// See [`HashMap`].
type HashSet<K> = StdHashSet<K, FnvBuild>;
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

/// The in-zone records grouped by owner. Names are keyed by their lower-cased wire form, so an
/// ancestor's key is a slice of its descendant's.
struct Zone<'z> {
    origin: NameBuf,
    origin_key: Vec<u8>,
    /// Owners in the order they first appear.
    owners: Vec<Owner<'z>>,
    /// Key to index in `owners`.
    index: HashMap<Vec<u8>, usize>,
    /// Owners of NS records other than the apex.
    cuts: HashSet<Vec<u8>>,
    /// Owners of DNAME records.
    dnames: HashSet<Vec<u8>>,
    /// Targets of every NS record.
    ns_targets: HashSet<Vec<u8>>,
}

/// One owner name and its records.
struct Owner<'z> {
    name: NameBuf,
    key: Vec<u8>,
    records: Vec<&'z ZoneRecord>,
}

impl<'z> Zone<'z> {
    /// Groups the records, reporting those outside the zone.
    fn index(origin: &NameBuf, records: &'z [ZoneRecord], problems: &mut Vec<Problem>) -> Self {
        let mut zone = Self {
            origin: *origin,
            origin_key: key(origin),
            owners: Vec::new(),
            index: HashMap::default(),
            cuts: HashSet::default(),
            dnames: HashSet::default(),
            ns_targets: HashSet::default(),
        };
        let mut reported = HashSet::default();
        for record in records {
            if !record.owner.is_subdomain_of(origin) {
                if reported.insert(key(&record.owner)) {
                    problems.push(error(record.owner, format!("out of zone: not at or below {origin}")));
                }
                continue;
            }
            let owner_key = key(&record.owner);
            match record.rtype {
                Rtype::NS if owner_key != zone.origin_key => {
                    zone.cuts.insert(owner_key.clone());
                }
                Rtype::DNAME => {
                    zone.dnames.insert(owner_key.clone());
                }
                _ => {}
            }
            if let (Rtype::NS, Ok(target)) = (record.rtype, NameBuf::from_wire(&record.rdata)) {
                zone.ns_targets.insert(key(&target));
            }
            let next = zone.owners.len();
            let slot = *zone.index.entry(owner_key.clone()).or_insert(next);
            if slot == next {
                zone.owners.push(Owner { name: record.owner, key: owner_key, records: Vec::new() });
            }
            if let Some(owner) = zone.owners.get_mut(slot) {
                owner.records.push(record);
            }
        }
        zone
    }

    /// One SOA, at the apex; NS at the apex.
    fn check_apex(&self, problems: &mut Vec<Problem>) {
        let soa_count = distinct_rdata(self.at(&self.origin_key), Rtype::SOA);
        match soa_count {
            0 => problems.push(error(self.origin, "no SOA record at the zone apex".into())),
            1 => {}
            count => problems.push(error(self.origin, format!("{count} SOA records at the zone apex; there must be exactly one"))),
        }
        if !self.has(&self.origin_key, Rtype::NS) {
            problems.push(error(self.origin, "no NS records at the zone apex".into()));
        }
        for owner in self.owners.iter().filter(|owner| owner.key != self.origin_key) {
            if has(&owner.records, Rtype::SOA) {
                problems.push(error(owner.name, "SOA record not at the zone apex".into()));
            }
        }
    }

    /// CNAME alone at its name (RRSIG and NSEC aside), at most one CNAME and one DNAME.
    fn check_exclusive_types(&self, problems: &mut Vec<Problem>) {
        for owner in &self.owners {
            let records = &owner.records;
            if distinct_rdata(records, Rtype::CNAME) > 1 {
                problems.push(error(owner.name, "more than one CNAME record".into()));
            }
            if distinct_rdata(records, Rtype::DNAME) > 1 {
                problems.push(error(owner.name, "more than one DNAME record".into()));
            }
            if !has(records, Rtype::CNAME) {
                continue;
            }
            let others = distinct_types(records.iter().map(|r| r.rtype).filter(|t| !matches!(*t, Rtype::CNAME | Rtype::RRSIG | Rtype::NSEC)));
            if !others.is_empty() {
                problems.push(error(owner.name, format!("CNAME and other data ({})", join(&others))));
            }
        }
    }

    /// Data hidden by a delegation or a DNAME.
    fn check_occlusion(&self, problems: &mut Vec<Problem>) {
        for owner in &self.owners {
            let hidden = self.occluder(&owner.key);
            let at_cut = self.cuts.contains(&owner.key);
            let occluded = |rtype: Rtype| match hidden {
                Some((_, Occluder::Dname)) => true,
                Some((_, Occluder::Delegation)) => !self.is_glue(&owner.key, rtype),
                None if at_cut => !matches!(rtype, Rtype::NS | Rtype::DS | Rtype::RRSIG | Rtype::NSEC) && !self.is_glue(&owner.key, rtype),
                None => false,
            };
            let types = distinct_types(owner.records.iter().map(|r| r.rtype).filter(|&rtype| occluded(rtype)));
            if types.is_empty() {
                continue;
            }
            let message = match hidden {
                Some((above, Occluder::Delegation)) => format!("{} occluded by the delegation at {}", join(&types), self.name_of(above)),
                Some((above, Occluder::Dname)) => format!("{} occluded by the DNAME at {}", join(&types), self.name_of(above)),
                None => format!("{} at a delegation point is not authoritative (occluded)", join(&types)),
            };
            problems.push(warning(owner.name, message));
        }
    }

    /// Every in-zone name server has an address; below a cut, that address is glue.
    fn check_name_servers(&self, problems: &mut Vec<Problem>) {
        let mut reported = HashSet::default();
        for owner in &self.owners {
            for record in owner.records.iter().filter(|r| r.rtype == Rtype::NS) {
                let Ok(target) = NameBuf::from_wire(&record.rdata) else { continue };
                let target_key = key(&target);
                if !target.is_subdomain_of(&self.origin) || !reported.insert(target_key.clone()) {
                    continue;
                }
                if self.has(&target_key, Rtype::CNAME) {
                    problems.push(error(owner.name, format!("name server {target} is a CNAME (RFC 2181 §10.3)")));
                    continue;
                }
                let below_dname = self.occluder(&target_key).is_some_and(|(_, o)| o == Occluder::Dname);
                if self.has(&target_key, Rtype::A) || self.has(&target_key, Rtype::AAAA) || below_dname {
                    continue;
                }
                // Missing glue breaks the delegation: an error. An in-zone name server outside any
                // cut without addresses is only unreachable through this zone: a warning, as
                // NSD and Knot load such zones.
                if self.is_at_or_below_cut(&target_key) {
                    problems.push(error(owner.name, format!("missing glue: name server {target} is below a delegation and has no A or AAAA record")));
                } else {
                    problems.push(warning(owner.name, format!("name server {target} has no A or AAAA record in the zone")));
                }
            }
        }
    }

    /// The highest delegation or DNAME strictly above the in-zone name `name_key`, if any.
    fn occluder<'k>(&self, name_key: &'k [u8]) -> Option<(&'k [u8], Occluder)> {
        let mut found = None;
        let mut pos = 0;
        while name_key.len() - pos > self.origin_key.len() {
            pos += 1 + usize::from(*name_key.get(pos)?);
            let ancestor = name_key.get(pos..)?;
            if self.dnames.contains(ancestor) {
                found = Some((ancestor, Occluder::Dname));
            } else if ancestor.len() > self.origin_key.len() && self.cuts.contains(ancestor) {
                found = Some((ancestor, Occluder::Delegation));
            }
        }
        found
    }

    fn is_at_or_below_cut(&self, name_key: &[u8]) -> bool {
        self.cuts.contains(name_key) || self.occluder(name_key).is_some_and(|(_, o)| o == Occluder::Delegation)
    }

    fn is_glue(&self, owner_key: &[u8], rtype: Rtype) -> bool {
        matches!(rtype, Rtype::A | Rtype::AAAA) && self.ns_targets.contains(owner_key)
    }

    /// The owner's name as written, for messages.
    fn name_of(&self, name_key: &[u8]) -> NameBuf {
        match self.index.get(name_key).and_then(|&i| self.owners.get(i)) {
            Some(owner) => owner.name,
            None => NameBuf::from_wire(name_key).unwrap_or(self.origin),
        }
    }

    fn at(&self, name_key: &[u8]) -> &[&'z ZoneRecord] {
        self.index.get(name_key).and_then(|&i| self.owners.get(i)).map_or(&[], |owner| owner.records.as_slice())
    }

    fn has(&self, name_key: &[u8], rtype: Rtype) -> bool {
        has(self.at(name_key), rtype)
    }
}

/// The lower-cased wire form of a name: a map key whose suffixes are its ancestors' keys.
fn key(name: &NameBuf) -> Vec<u8> {
    name.to_lowercase().as_wire().to_vec()
}

fn has(records: &[&ZoneRecord], rtype: Rtype) -> bool {
    records.iter().any(|record| record.rtype == rtype)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zonefile::{parse_zone_text, NoIncludes};

    const APEX: &str = "$TTL 300\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n@ NS ns.other.net.\nns1 A 192.0.2.1\n";

    fn problems(body: &str) -> Vec<String> {
        let origin = NameBuf::from_text("example.org.", None).unwrap();
        let records = parse_zone_text(&origin, &format!("{APEX}{body}"), "z", &NoIncludes).unwrap();
        check_zone(&origin, &records).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_good_zone_has_no_problems() {
        let body = "www CNAME ns1\nwww RRSIG CNAME 8 3 300 20250101000000 20240101000000 12345 example.org. AAAA\nwww NSEC z.example.org. CNAME RRSIG NSEC\nsub NS ns.sub\nsub NS ns1\nsub DS 12345 8 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nns.sub A 192.0.2.2\nns.sub AAAA 2001:db8::2\nmail MX 10 ns1\n";
        assert_eq!(problems(body), Vec::<String>::new());
        assert!(!has_errors(&[]));
    }

    #[test]
    fn rfc1034_4_2_1_apex_needs_one_soa_and_ns() {
        let origin = NameBuf::from_text("example.org.", None).unwrap();
        let records = parse_zone_text(&origin, "$TTL 1\nwww A 192.0.2.1\n", "z", &NoIncludes).unwrap();
        let found = check_zone(&origin, &records);
        assert!(has_errors(&found));
        let found: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(found, ["error: example.org.: no SOA record at the zone apex", "error: example.org.: no NS records at the zone apex"]);
        assert_eq!(problems("@ SOA ns1 hostmaster 1 2 3 4 5\n"), Vec::<String>::new(), "an exact duplicate is one SOA");
        assert_eq!(problems("@ SOA ns1 hostmaster 2 2 3 4 5\n"), ["error: example.org.: 2 SOA records at the zone apex; there must be exactly one"]);
        assert_eq!(problems("x SOA ns1 hostmaster 2 2 3 4 5\n"), ["error: x.example.org.: SOA record not at the zone apex"]);
    }

    #[test]
    fn rfc2181_10_1_cname_stands_alone() {
        assert_eq!(problems("www CNAME ns1\nWWW TXT x\nwww MX 1 ns1\n"), ["error: www.example.org.: CNAME and other data (TXT, MX)"]);
        assert_eq!(problems("www CNAME ns1\nwww CNAME ns2\n"), ["error: www.example.org.: more than one CNAME record"]);
        assert_eq!(problems("d DNAME a.net.\nd DNAME b.net.\n"), ["error: d.example.org.: more than one DNAME record"]);
    }

    #[test]
    fn out_of_zone_data_is_an_error_once_per_owner() {
        assert_eq!(
            problems("a.example.net. A 192.0.2.1\na.example.net. TXT x\nexample.org.evil. A 192.0.2.1\n"),
            ["error: a.example.net.: out of zone: not at or below example.org.", "error: example.org.evil.: out of zone: not at or below example.org.",]
        );
    }

    #[test]
    fn name_servers_in_the_zone_need_addresses() {
        assert_eq!(
            problems("sub NS ns.sub\n"),
            ["error: sub.example.org.: missing glue: name server ns.sub.example.org. is below a delegation and has no A or AAAA record"]
        );
        assert_eq!(
            problems("sub NS sub\n"),
            ["error: sub.example.org.: missing glue: name server sub.example.org. is below a delegation and has no A or AAAA record"]
        );
        assert_eq!(problems("sub NS sub\nsub A 192.0.2.9\n"), Vec::<String>::new(), "glue at the cut itself");
        assert_eq!(problems("@ NS ns2\n"), ["warning: example.org.: name server ns2.example.org. has no A or AAAA record in the zone"]);
        assert_eq!(problems("@ NS alias\nalias CNAME ns1\n"), ["error: example.org.: name server alias.example.org. is a CNAME (RFC 2181 §10.3)"]);
        assert_eq!(problems("a NS ns.b\nb NS ns.b\nns.b A 192.0.2.7\n"), Vec::<String>::new(), "sibling glue");
    }

    #[test]
    fn occluded_data_is_a_warning() {
        let found = problems("sub NS ns.sub\nns.sub A 192.0.2.2\nwww.sub A 192.0.2.3\nns.sub TXT x\nsub TXT y\n");
        assert_eq!(
            found,
            [
                "warning: sub.example.org.: TXT at a delegation point is not authoritative (occluded)",
                "warning: ns.sub.example.org.: TXT occluded by the delegation at sub.example.org.",
                "warning: www.sub.example.org.: A occluded by the delegation at sub.example.org.",
            ]
        );
        let found = problems("d DNAME example.net.\nx.d A 192.0.2.1\n");
        assert_eq!(found, ["warning: x.d.example.org.: A occluded by the DNAME at d.example.org."]);
        let nested = problems("a NS ns1\nb.a NS ns1\nc.b.a TXT x\n");
        assert_eq!(
            nested,
            [
                "warning: b.a.example.org.: NS occluded by the delegation at a.example.org.",
                "warning: c.b.a.example.org.: TXT occluded by the delegation at a.example.org.",
            ]
        );
        let origin = NameBuf::from_text("example.org.", None).unwrap();
        let records = parse_zone_text(&origin, &format!("{APEX}a NS ns1\nx.a TXT x\n"), "z", &NoIncludes).unwrap();
        assert!(!has_errors(&check_zone(&origin, &records)));
    }
}
