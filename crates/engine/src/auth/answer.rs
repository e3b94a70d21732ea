//! Writes the authoritative answer for one question into a [`MessageWriter`]: RFC 1034 §4.3.2
//! with CNAME chains inside the zone, DNAME substitution (RFC 6672), wildcards (RFC 4592),
//! referrals with glue, negative answers with the SOA (RFC 2308 §3), minimal ANY (RFC 8482), and
//! additional-section addresses for NS/MX/SRV targets.
//!
//! An RRset that does not fit sets TC and ends the answer; nothing here allocates.

use super::lookup::{find, Found};
use super::zone::{Node, Rrset, Zone};
use portcullis_wire::message::Section;
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{NameBuf, Rcode, Rtype};

/// Most CNAME/DNAME links followed inside a zone for one answer.
pub const MAX_CHAIN: usize = 11;

/// How answers are shaped.
#[derive(Clone, Copy, Debug, Default)]
pub struct AnswerOptions {
    /// Leave out additional-section addresses of answer targets (referral glue stays).
    pub minimal_responses: bool,
    /// Answer ANY with a single RRset (RFC 8482 §4.2); used over UDP.
    pub minimal_any: bool,
}

/// What kind of answer was written: a label for counters and rate limiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerKind {
    /// Data in the answer section.
    Answer,
    /// The name exists, the type does not.
    NoData,
    /// The name does not exist.
    NxDomain,
    /// A referral to a child zone.
    Referral,
    /// The answer did not fit; TC is set.
    Truncated,
    /// DNAME substitution overflowed (YXDOMAIN).
    Error,
}

/// Writes the answer for (`qname`, `qtype`) from `zone`; the question is already in `writer`.
pub fn write_answer(zone: &Zone, qname: &NameBuf, qtype: Rtype, options: AnswerOptions, writer: &mut MessageWriter<'_>) -> AnswerKind {
    write_answer_traced(zone, qname, qtype, options, writer).0
}

/// [`write_answer`], also returning the wildcard node that synthesised the answer, if one did
/// (rate limiting accounts such answers to the wildcard, SECURITY-REFERENCE §3.1).
pub fn write_answer_traced<'z>(
    zone: &'z Zone,
    qname: &NameBuf,
    qtype: Rtype,
    options: AnswerOptions,
    writer: &mut MessageWriter<'_>,
) -> (AnswerKind, Option<&'z Node>) {
    let mut wildcard = None;
    let kind = answer_chain(zone, qname, qtype, options, writer, &mut wildcard);
    (kind, wildcard)
}

fn answer_chain<'z>(
    zone: &'z Zone,
    qname: &NameBuf,
    qtype: Rtype,
    options: AnswerOptions,
    writer: &mut MessageWriter<'_>,
    wildcard: &mut Option<&'z Node>,
) -> AnswerKind {
    writer.set_aa(true);
    // The name being answered: the question's, then each CNAME or DNAME target (kept in `target`).
    let mut target: Option<NameBuf> = None;
    let mut current = qname;
    // Hashes of the names visited; a repeat is a loop (RFC 2181 §5.5: no RRset appears twice).
    // Only needed once a link is followed.
    let mut visited = [0u64; MAX_CHAIN + 1];
    for link in 0..=MAX_CHAIN {
        if link > 0 {
            let seen = super::zone::hash(current.as_wire());
            if link == 1 {
                visited[0] = super::zone::hash(qname.as_wire());
            }
            if visited[..link].contains(&seen) {
                return AnswerKind::Answer;
            }
            visited[link] = seen;
        }
        let step = match find(zone, current, qtype) {
            Found::Node(node) => answer_node(zone, current, node, qtype, options, writer),
            Found::Wildcard(node) => {
                wildcard.get_or_insert(node);
                answer_node(zone, current, node, qtype, options, writer)
            }
            Found::Delegation(cut) => return refer(zone, cut, writer),
            Found::Dname(node) => match substitute(zone, current, node, writer) {
                // The synthesised CNAME is itself the answer to a CNAME question.
                Step::Follow(_) if qtype == Rtype::CNAME => Step::Done(AnswerKind::Answer),
                step => step,
            },
            Found::NxDomain => return negative(zone, Rcode::NXDOMAIN, writer),
        };
        match step {
            Step::Done(kind) => return kind,
            Step::Follow(next) if next.is_subdomain_of(zone.origin()) => current = target.insert(next),
            Step::Follow(_) => return AnswerKind::Answer,
        }
    }
    AnswerKind::Answer
}

/// What one link of the chain did. Large (an inline name), but boxing would allocate.
#[allow(clippy::large_enum_variant)]
enum Step {
    Done(AnswerKind),
    Follow(NameBuf),
}

fn answer_node(zone: &Zone, owner: &NameBuf, node: &Node, qtype: Rtype, options: AnswerOptions, writer: &mut MessageWriter<'_>) -> Step {
    if qtype == Rtype::ANY {
        return Step::Done(answer_any(zone, owner, node, options, writer));
    }
    if let Some(rrset) = zone.rrset(node, qtype) {
        if push_rrset(zone, Section::Answer, owner, &rrset, writer).is_err() {
            return Step::Done(truncate(writer));
        }
        if !options.minimal_responses {
            add_target_addresses(zone, &rrset, writer);
        }
        return Step::Done(AnswerKind::Answer);
    }
    if let Some(cname) = zone.rrset(node, Rtype::CNAME) {
        if push_rrset(zone, Section::Answer, owner, &cname, writer).is_err() {
            return Step::Done(truncate(writer));
        }
        return match NameBuf::from_wire(zone.first_rdata(&cname)) {
            Ok(target) => Step::Follow(target),
            Err(_) => Step::Done(AnswerKind::Answer),
        };
    }
    Step::Done(negative(zone, Rcode::NOERROR, writer))
}

fn answer_any(zone: &Zone, owner: &NameBuf, node: &Node, options: AnswerOptions, writer: &mut MessageWriter<'_>) -> AnswerKind {
    let rrsets = zone.rrsets(node);
    if rrsets.is_empty() {
        return negative(zone, Rcode::NOERROR, writer);
    }
    let chosen = if options.minimal_any { 1 } else { usize::MAX };
    for rrset in rrsets.take(chosen) {
        if push_rrset(zone, Section::Answer, owner, &rrset, writer).is_err() {
            return truncate(writer);
        }
    }
    AnswerKind::Answer
}

/// A referral (RFC 1034 §4.3.2 step 3b): NS in authority, AA clear unless the answer section
/// already holds authoritative data, glue addresses in additional.
fn refer(zone: &Zone, cut: &Node, writer: &mut MessageWriter<'_>) -> AnswerKind {
    let Some(ns) = zone.rrset(cut, Rtype::NS) else { return AnswerKind::Error };
    if writer.count(Section::Answer) == 0 {
        writer.set_aa(false);
    }
    let cut_name = zone.node_name(cut);
    if push_rrset(zone, Section::Authority, &cut_name, &ns, writer).is_err() {
        return truncate(writer);
    }
    add_target_addresses(zone, &ns, writer);
    AnswerKind::Referral
}

/// DNAME substitution (RFC 6672 §3.2): the DNAME, then a synthesised CNAME with the DNAME's TTL.
fn substitute(zone: &Zone, qname: &NameBuf, node: &Node, writer: &mut MessageWriter<'_>) -> Step {
    let Some(dname) = zone.rrset(node, Rtype::DNAME) else { return Step::Done(AnswerKind::Error) };
    let owner = zone.node_name(node);
    if push_rrset(zone, Section::Answer, &owner, &dname, writer).is_err() {
        return Step::Done(truncate(writer));
    }
    let Ok(target) = NameBuf::from_wire(zone.first_rdata(&dname)) else { return Step::Done(AnswerKind::Error) };
    let Some(synthesised) = qname.replace_suffix(&owner, &target) else {
        writer.set_rcode(Rcode::YXDOMAIN);
        return Step::Done(AnswerKind::Error);
    };
    if writer.push(Section::Answer, qname, Rtype::CNAME, zone.class(), dname.ttl, synthesised.as_wire()).is_err() {
        return Step::Done(truncate(writer));
    }
    // A target below the DNAME's own owner brings the name back under the same DNAME, and each
    // substitution makes it longer (a loop that ends only in YXDOMAIN): stop after the first
    // synthesised CNAME, whatever the question's type, as NSD does.
    if synthesised.is_subdomain_of(&owner) {
        return Step::Done(AnswerKind::Answer);
    }
    Step::Follow(synthesised)
}

/// NXDOMAIN or NODATA: the SOA in authority with TTL min(SOA TTL, MINIMUM) (RFC 2308 §3, §5).
fn negative(zone: &Zone, rcode: Rcode, writer: &mut MessageWriter<'_>) -> AnswerKind {
    writer.set_rcode(rcode);
    let kind = if rcode == Rcode::NXDOMAIN { AnswerKind::NxDomain } else { AnswerKind::NoData };
    let Some(soa) = zone.soa() else { return kind };
    let rdata = zone.first_rdata(&soa);
    let minimum = rdata.len().checked_sub(4).map_or(soa.ttl, |at| u32::from_be_bytes([rdata[at], rdata[at + 1], rdata[at + 2], rdata[at + 3]]));
    if writer.push(Section::Authority, zone.origin(), Rtype::SOA, zone.class(), soa.ttl.min(minimum), rdata).is_err() {
        return truncate(writer);
    }
    kind
}

/// Adds A and AAAA records of the names an NS, MX or SRV RRset points at, when they are in the
/// zone (glue included). Records that do not fit are left out without TC (RFC 2181 §9).
fn add_target_addresses(zone: &Zone, rrset: &Rrset, writer: &mut MessageWriter<'_>) {
    let skip = match rrset.rtype {
        Rtype::NS => 0,
        Rtype::MX => 2,
        Rtype::SRV => 6,
        _ => return,
    };
    for rdata in zone.rdatas(rrset) {
        let Some(Ok(target)) = rdata.get(skip..).map(NameBuf::from_wire) else { continue };
        if !target.is_subdomain_of(zone.origin()) {
            continue;
        }
        let Some(node) = zone.node(&target) else { continue };
        for rtype in [Rtype::A, Rtype::AAAA] {
            if let Some(addresses) = zone.rrset(node, rtype) {
                let _ = push_rrset(zone, Section::Additional, &target, &addresses, writer);
            }
        }
    }
}

/// Pushes a whole RRset or nothing.
fn push_rrset(zone: &Zone, section: Section, owner: &NameBuf, rrset: &Rrset, writer: &mut MessageWriter<'_>) -> Result<(), ()> {
    writer.push_rrset(section, owner, rrset.rtype, zone.class(), rrset.ttl, zone.rdatas(rrset)).map_err(|_| ())
}

fn truncate(writer: &mut MessageWriter<'_>) -> AnswerKind {
    writer.set_tc(true);
    AnswerKind::Truncated
}
