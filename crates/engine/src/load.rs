//! Loading a zone from its file: parse, check, build. Errors are strings for the operator's log.

use crate::auth::zone::{RecordData, Zone};
use crate::zonefile::{parse_zone_text, IncludeResolver, Problem, Severity, ZoneRecord};
use portcullis_wire::{Class, NameBuf, Rtype};
use std::fmt;

/// Why a zone could not be loaded.
#[derive(Debug, Clone)]
pub enum LoadError {
    /// The file could not be read or parsed.
    Syntax(String),
    /// The zone's content fails a check that makes it unservable.
    Check(Vec<Problem>),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(message) => f.write_str(message),
            Self::Check(problems) => {
                let errors: Vec<String> = problems.iter().filter(|p| p.severity == Severity::Error).map(|p| p.to_string()).collect();
                write!(f, "{}", errors.join("; "))
            }
        }
    }
}

/// Parses, checks and builds a zone from text (an embedded zone, tests).
pub fn load_zone_text(origin: &NameBuf, text: &str, label: &str, includes: &dyn IncludeResolver) -> Result<Zone, LoadError> {
    let records = parse_zone_text(origin, text, label, includes).map_err(|e| LoadError::Syntax(e.to_string()))?;
    build_checked(origin, &records)
}

/// Builds the zone and runs the checks a server must run before serving it (as NSD and Knot
/// do on load): exactly one SOA and some NS at the apex, no SOA elsewhere, CNAME alone at its
/// name and single, one DNAME per name, nothing outside the zone. The other checks of
/// `check-zone` (glue, occlusion) only warn there and are left to it, so loading stays fast.
pub fn build_checked(origin: &NameBuf, records: &[ZoneRecord]) -> Result<Zone, LoadError> {
    let outside = records.iter().find(|r| !r.owner.is_subdomain_of(origin)).map(|r| r.owner);
    let class = records.first().map_or(Class::IN, |r| r.class);
    let data = records.iter().map(|r| RecordData { owner: &r.owner, rtype: r.rtype, ttl: r.ttl, rdata: &r.rdata });
    let zone = Zone::build(origin, class, data);
    let problems = mandatory_problems(&zone, outside);
    if problems.is_empty() {
        Ok(zone)
    } else {
        Err(LoadError::Check(problems))
    }
}

/// The load-time checks, on the built zone: one pass over the nodes.
fn mandatory_problems(zone: &Zone, outside: Option<NameBuf>) -> Vec<Problem> {
    let origin = *zone.origin();
    let mut problems = Vec::new();
    let error = |owner: NameBuf, message: String| Problem { severity: Severity::Error, owner, message };
    if let Some(owner) = outside {
        problems.push(error(owner, format!("out of zone: not at or below {origin}")));
    }
    let apex = zone.apex();
    match apex.and_then(|node| zone.rrset(node, Rtype::SOA)).map(|soa| soa.len()) {
        None => problems.push(error(origin, "no SOA record at the zone apex".into())),
        Some(1) => {}
        Some(count) => problems.push(error(origin, format!("{count} SOA records at the zone apex; there must be exactly one"))),
    }
    if apex.and_then(|node| zone.rrset(node, Rtype::NS)).is_none() {
        problems.push(error(origin, "no NS records at the zone apex".into()));
    }
    for node in zone.nodes() {
        let rrsets = zone.rrsets(node);
        let is_apex = apex.is_some_and(|a| std::ptr::eq(a, node));
        let has = |rtype: Rtype| rrsets.clone().find(|r| r.rtype == rtype);
        if !is_apex && has(Rtype::SOA).is_some() {
            problems.push(error(zone.node_name(node), "SOA record not at the zone apex".into()));
        }
        if has(Rtype::DNAME).is_some_and(|r| r.len() > 1) {
            problems.push(error(zone.node_name(node), "more than one DNAME record".into()));
        }
        let Some(cname) = has(Rtype::CNAME) else { continue };
        if cname.len() > 1 {
            problems.push(error(zone.node_name(node), "more than one CNAME record".into()));
        }
        let others: Vec<String> =
            rrsets.clone().filter(|r| !matches!(r.rtype, Rtype::CNAME | Rtype::RRSIG | Rtype::NSEC)).map(|r| r.rtype.to_string()).collect();
        if !others.is_empty() {
            problems.push(error(zone.node_name(node), format!("CNAME and other data ({})", others.join(", "))));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zonefile::NoIncludes;

    fn load(text: &str) -> Result<Zone, LoadError> {
        let origin = NameBuf::from_text("example.", None).unwrap();
        load_zone_text(&origin, text, "test.zone", &NoIncludes)
    }

    const APEX: &str = "$ORIGIN example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

    #[test]
    fn a_sound_zone_loads() {
        assert!(load(APEX).is_ok());
        // Missing glue and occlusion are check-zone's warnings, not load errors (NSD, Knot).
        assert!(load(&format!("{APEX}sub NS ns.sub\nx.sub A 192.0.2.9\n")).is_ok());
    }

    #[test]
    fn load_time_checks_name_the_problem() {
        let message = |text: &str| load(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message("$ORIGIN example.\n@ 60 NS ns\n").contains("no SOA record at the zone apex"));
        assert!(message(&format!("{APEX}www CNAME ns\nwww A 192.0.2.2\n")).contains("www.example.: CNAME and other data (A)"));
        assert!(message(&format!("{APEX}www CNAME ns\nwww CNAME h\n")).contains("more than one CNAME record"));
        assert!(message(&format!("{APEX}sub SOA ns h 1 2 3 4 5\n")).contains("SOA record not at the zone apex"));
        assert!(message(&format!("{APEX}other.net. A 192.0.2.3\n")).contains("out of zone"));
        assert!(message("$ORIGIN example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n").contains("no NS records at the zone apex"));
    }
}
