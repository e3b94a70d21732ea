//! The documented rules that let two answers differ on one aspect and still both be right.
//!
//! - [`COMMON_RULES`] hold between any two servers.
//! - [`PEER_DIFFERENCES`]: how NSD and Knot differ (the NSD-vs-Knot tests allow exactly these).
//! - [`EXCEPTIONS`]: deliberate differences of portcullis from *both* peers. Empty so far; an
//!   entry needs an RFC reason (checked by `differential::rules_are_documented`).

use portcullis_wire::message::Section;
use portcullis_wire::{NameBuf, Rcode, Rtype};

use crate::answer::{Answer, Aspect, Reply, Rrset, RrsetKey, SectionSet};
use crate::differential::Case;

/// A documented rule allowing `candidate` to differ from `reference` on one aspect.
pub struct Rule {
    pub name: &'static str,
    pub reason: &'static str,
    pub allows: fn(&Case, Aspect, &Reply, &Reply) -> bool,
}

/// Rules applied between any two servers (peers included).
pub const COMMON_RULES: &[Rule] = &[
    Rule {
        name: "truncated-sections",
        reason: "RFC 2181 §9 / RFC 1035 §4.2.1: when both replies have TC set, what fitted is \
                 implementation-specific; the client retries over TCP, which is compared separately",
        allows: |_, aspect, candidate, reference| aspect.section().is_some() && candidate.tc && reference.tc,
    },
    Rule {
        name: "minimal-any",
        reason: "RFC 8482 §4.1: an ANY answer may be any non-empty subset of the RRsets at the name; \
                 each RRset given is checked against the answer to a query for its own type",
        allows: any_subset_is_correct,
    },
    Rule {
        name: "minimal-any-additional",
        reason: "RFC 8482 §4.1: with a different RRset chosen for ANY, the additional section holds the \
                 addresses for that RRset's names (RFC 1034 §4.3.2 step 6), so it may differ",
        allows: any_additional_belongs_to_answer,
    },
];

/// How NSD (the reference) and Knot (the candidate) are known to differ, in this harness's
/// configuration of both. Seen with NSD 4.6.1 and Knot 3.2.6.
pub const PEER_DIFFERENCES: &[Rule] = &[
    Rule {
        name: "authority-ns-in-positive-answers",
        reason: "RFC 1034 §4.3.2 step 3 and RFC 2181 §6.1 make the zone's NS RRset in the authority \
                 section of an authoritative answer optional; NSD adds it (its default \
                 minimal-responses: no), Knot does not",
        allows: authority_differs_only_by_ns,
    },
    Rule {
        name: "additional-addresses-of-authority-ns",
        reason: "RFC 1034 §4.3.2 step 6 / RFC 2181 §5.4.1: the addresses of name servers listed in the \
                 authority section go with them; present exactly when that NS RRset is",
        allows: additional_differs_only_by_ns_addresses,
    },
    Rule {
        name: "cname-into-another-served-zone",
        reason: "RFC 1034 §4.3.2 step 3a restarts the lookup at step 1, which may pick another zone the \
                 server is authoritative for: NSD follows a CNAME into it, Knot stops at the zone's edge \
                 (RFC 6604 §2 / RFC 2308 §2.2 allow both; the resolver restarts at the target)",
        allows: cname_followed_into_other_zone,
    },
    Rule {
        name: "yxdomain-soa",
        reason: "RFC 6672 §2.2 says only that the DNAME goes in the answer with YXDOMAIN; whether the \
                 zone's SOA is added to the authority section is not specified: Knot adds it, NSD not",
        allows: |_, aspect, candidate, reference| {
            aspect == Aspect::Authority
                && candidate.rcode == Rcode::YXDOMAIN
                && reference.rcode == Rcode::YXDOMAIN
                && symmetric_difference(candidate.section(Section::Authority), reference.section(Section::Authority)).iter().all(|(_, k)| k.1 == Rtype::SOA.0)
        },
    },
    Rule {
        name: "dname-loop-chain",
        reason: "RFC 6672 §3.2 synthesises a CNAME and RFC 1034 §4.3.2 step 3a restarts at its \
                 target, but when the DNAME's target lies below its owner each restart lands under \
                 the same DNAME (a loop, RFC 1034 §3.6.2): NSD stops after the first synthesised \
                 CNAME, Knot follows them up to its chain limit without repeating the DNAME",
        allows: dname_loop_followed_further,
    },
];

/// Deliberate differences of portcullis from both peers, with their reason.
pub const EXCEPTIONS: &[Rule] = &[];

/// RRsets of `a` not in `b` (compared as whole RRsets).
fn missing_from<'s>(a: &'s SectionSet, b: &SectionSet) -> Vec<(&'s RrsetKey, &'s Rrset)> {
    a.iter().filter(|(key, rrset)| b.get(*key) != Some(*rrset)).collect()
}

/// RRsets in exactly one of the two sections, tagged with the side (0: `a`, 1: `b`).
fn symmetric_difference<'s>(a: &'s SectionSet, b: &'s SectionSet) -> Vec<(usize, &'s RrsetKey)> {
    let left = missing_from(a, b).into_iter().map(|(k, _)| (0, k));
    let right = missing_from(b, a).into_iter().map(|(k, _)| (1, k));
    left.chain(right).collect()
}

fn authority_differs_only_by_ns(_: &Case, aspect: Aspect, candidate: &Reply, reference: &Reply) -> bool {
    if aspect != Aspect::Authority || !candidate.aa || !reference.aa || candidate.rcode != reference.rcode {
        return false;
    }
    let answered = |r: &Reply| !r.section(Section::Answer).is_empty();
    let diff = symmetric_difference(candidate.section(Section::Authority), reference.section(Section::Authority));
    answered(candidate) && answered(reference) && diff.iter().all(|(_, key)| key.1 == Rtype::NS.0)
}

/// Name-server names of the NS RRsets in `reply`'s authority section that `other`'s lacks.
fn own_authority_ns_targets(reply: &Reply, other: &Reply) -> Vec<String> {
    let theirs = other.section(Section::Authority);
    let ns = reply.section(Section::Authority).iter().filter(|(key, rrset)| key.1 == Rtype::NS.0 && theirs.get(*key) != Some(*rrset));
    ns.flat_map(|(_, rrset)| rrset.rdata.iter().filter_map(|rdata| NameBuf::from_wire(rdata).ok()).map(|n| n.to_lowercase().to_string())).collect()
}

/// Extra or missing addresses are fine only for name servers whose NS RRset only one side put
/// in its authority section (so missing glue in a referral is still a difference).
fn additional_differs_only_by_ns_addresses(_: &Case, aspect: Aspect, candidate: &Reply, reference: &Reply) -> bool {
    if aspect != Aspect::Additional {
        return false;
    }
    let targets = [own_authority_ns_targets(candidate, reference), own_authority_ns_targets(reference, candidate)];
    let diff = symmetric_difference(candidate.section(Section::Additional), reference.section(Section::Additional));
    diff.iter().all(|(side, key)| (key.1 == Rtype::A.0 || key.1 == Rtype::AAAA.0) && targets[*side].contains(&key.0))
}

/// The served zone a name is in: the longest origin it is a subdomain of.
fn zone_of<'o>(origins: &'o [String], name: &str) -> Option<&'o String> {
    let name = name.to_ascii_lowercase();
    origins.iter().filter(|o| name == **o || name.ends_with(&format!(".{o}"))).max_by_key(|o| o.len())
}

fn cname_followed_into_other_zone(case: &Case, aspect: Aspect, candidate: &Reply, reference: &Reply) -> bool {
    if aspect != Aspect::Answer {
        return false;
    }
    let (a, b) = (candidate.section(Section::Answer), reference.section(Section::Answer));
    let (shorter, longer) = if a.len() < b.len() { (a, b) } else { (b, a) };
    let home = zone_of(&case.origins, &case.query.qname);
    let extra = missing_from(longer, shorter);
    missing_from(shorter, longer).is_empty()
        && !extra.is_empty()
        && shorter.keys().any(|key| key.1 == Rtype::CNAME.0)
        && extra.iter().all(|(key, _)| zone_of(&case.origins, &key.0).is_some_and(|zone| Some(zone) != home))
}

/// The longer answer only adds CNAMEs owned below a DNAME both answers hold, whose target is
/// below its own owner.
fn dname_loop_followed_further(_: &Case, aspect: Aspect, candidate: &Reply, reference: &Reply) -> bool {
    if aspect != Aspect::Answer {
        return false;
    }
    let (a, b) = (candidate.section(Section::Answer), reference.section(Section::Answer));
    let (shorter, longer) = if a.len() < b.len() { (a, b) } else { (b, a) };
    let looping: Vec<&String> =
        shorter.iter().filter(|(key, rrset)| key.1 == Rtype::DNAME.0 && rrset.rdata.iter().any(|t| below(t, &key.0))).map(|(key, _)| &key.0).collect();
    let extra = missing_from(longer, shorter);
    missing_from(shorter, longer).is_empty()
        && !extra.is_empty()
        && extra.iter().all(|(key, _)| key.1 == Rtype::CNAME.0 && looping.iter().any(|owner| key.0.ends_with(&format!(".{owner}"))))
}

/// Whether the uncompressed name `rdata` is a proper subdomain of `owner` (lowercase text).
fn below(rdata: &[u8], owner: &str) -> bool {
    NameBuf::from_wire(rdata).is_ok_and(|name| name.to_lowercase().to_string().ends_with(&format!(".{owner}")))
}

/// Target names of the NS, MX, SRV records in the answer and authority sections.
fn target_names(reply: &Reply) -> Vec<String> {
    let mut out = Vec::new();
    for section in [Section::Answer, Section::Authority] {
        for ((_, rtype, _), rrset) in reply.section(section) {
            let skip = match Rtype(*rtype) {
                Rtype::NS => 0,
                Rtype::MX => 2,
                Rtype::SRV => 6,
                _ => continue,
            };
            let names = rrset.rdata.iter().filter_map(|rdata| NameBuf::parse_uncompressed(rdata, skip).ok());
            out.extend(names.map(|(name, _)| name.to_lowercase().to_string()));
        }
    }
    out
}

fn any_additional_belongs_to_answer(case: &Case, aspect: Aspect, candidate: &Reply, _reference: &Reply) -> bool {
    if case.query.qtype != Rtype::ANY || aspect != Aspect::Additional {
        return false;
    }
    let targets = target_names(candidate);
    candidate.section(Section::Additional).keys().all(|key| (key.1 == Rtype::A.0 || key.1 == Rtype::AAAA.0) && targets.contains(&key.0))
}

fn any_subset_is_correct(case: &Case, aspect: Aspect, candidate: &Reply, _reference: &Reply) -> bool {
    if case.query.qtype != Rtype::ANY || aspect != Aspect::Answer {
        return false;
    }
    let answer = candidate.section(Section::Answer);
    !answer.is_empty()
        && answer.iter().all(|(key, rrset)| {
            let expanded = case.any_expansion.get(&key.1).and_then(Answer::reply);
            expanded.is_some_and(|e| e.section(Section::Answer).get(key) == Some(rrset))
        })
}
