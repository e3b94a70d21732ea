//! Writes the authoritative answer for one question into a [`MessageWriter`]: RFC 1034 §4.3.2
//! with CNAME chains inside the zone, DNAME substitution (RFC 6672), wildcards (RFC 4592),
//! referrals with glue, negative answers with the SOA (RFC 2308 §3), minimal ANY (RFC 8482), and
//! additional-section addresses for NS/MX/SRV targets. To a DO=1 query a signed zone's answer
//! also carries the RRSIGs and denial proofs of RFC 4035 §3.1 and RFC 5155 §7.2 ([`super::proof`]);
//! to DO=0 it carries no RRSIG, NSEC or NSEC3 the question did not ask for, and referrals no DS.
//!
//! An RRset (or a mandatory DNSSEC record) that does not fit sets TC and ends the answer; nothing
//! here allocates.

use super::lookup::{find, Found};
use super::proof::{Dnssec, NoRoom, Proofs, Unsigned};
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
    /// The query's DO bit (RFC 3225): add RRSIGs and denial proofs (RFC 4035 §3.1).
    pub dnssec_ok: bool,
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
    // Two copies of the writer: with DNSSEC records, and without (DO=0, or nothing to add), in
    // which the DNSSEC calls compile away.
    let kind = if options.dnssec_ok && zone.is_signed() {
        answer_chain(zone, qname, qtype, options, &mut Proofs::new(zone), writer, &mut wildcard)
    } else {
        answer_chain(zone, qname, qtype, options, &mut Unsigned, writer, &mut wildcard)
    };
    (kind, wildcard)
}

fn answer_chain<'z, D: Dnssec<'z>>(
    zone: &'z Zone,
    qname: &NameBuf,
    qtype: Rtype,
    options: AnswerOptions,
    proofs: &mut D,
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
                return finish(zone, current, End::Answer(None), options, proofs, writer);
            }
            visited[link] = seen;
        }
        let step = match find(zone, current, qtype) {
            Found::Node(node) => answer_node(zone, current, node, None, qtype, options, proofs, writer),
            Found::Wildcard(node) => {
                wildcard.get_or_insert(node);
                answer_node(zone, current, node, Some(node), qtype, options, proofs, writer)
            }
            Found::Delegation(cut) => Step::Done(End::Referral(cut)),
            Found::Dname(node) => match substitute(zone, current, node, proofs, writer) {
                // The synthesised CNAME is itself the answer to a CNAME question.
                Step::Follow(_) if qtype == Rtype::CNAME => Step::Done(End::Answer(None)),
                step => step,
            },
            Found::NxDomain(encloser) => Step::Done(End::NxDomain(encloser)),
        };
        match step {
            Step::Done(end) => return finish(zone, current, end, options, proofs, writer),
            Step::Follow(next) if next.is_subdomain_of(zone.origin()) => current = target.insert(next),
            Step::Follow(_) => return finish(zone, current, End::Answer(None), options, proofs, writer),
        }
    }
    finish(zone, current, End::Answer(None), options, proofs, writer)
}

/// What one link of the chain did. Large (an inline name), but boxing would allocate.
#[allow(clippy::large_enum_variant)]
enum Step<'z> {
    Done(End<'z>),
    Follow(NameBuf),
}

/// How the chain ended: what the authority and additional sections still need.
enum End<'z> {
    /// Data written; the RRset whose targets get additional addresses, if any.
    Answer(Option<Rrset>),
    /// The name exists (at the node, possibly synthesised from the wildcard) without the type.
    NoData(&'z Node, Option<&'z Node>),
    /// The name does not exist; its closest encloser.
    NxDomain(Option<&'z Node>),
    /// A zone cut.
    Referral(&'z Node),
    /// Finished already (truncated, or an error).
    Written(AnswerKind),
}

/// Writes the authority and additional sections for how the chain ended at `current`.
#[inline(always)]
fn finish<'z, D: Dnssec<'z>>(
    zone: &'z Zone,
    current: &NameBuf,
    end: End<'z>,
    options: AnswerOptions,
    proofs: &mut D,
    writer: &mut MessageWriter<'_>,
) -> AnswerKind {
    if let End::Written(kind) = end {
        return kind;
    }
    if proofs.write_wildcards(writer).is_err() {
        return truncate(writer);
    }
    let written = match end {
        End::Answer(rrset) => {
            if let Some(rrset) = rrset.filter(|_| !options.minimal_responses) {
                add_target_addresses(zone, &rrset, proofs, writer);
            }
            Ok(AnswerKind::Answer)
        }
        End::NoData(node, wildcard) => {
            negative(zone, Rcode::NOERROR, proofs, writer).and_then(|kind| proofs.nodata(current, node, wildcard, writer).map(|()| kind))
        }
        End::NxDomain(encloser) => negative(zone, Rcode::NXDOMAIN, proofs, writer).and_then(|kind| proofs.nxdomain(current, encloser, writer).map(|()| kind)),
        End::Referral(cut) => refer(zone, cut, proofs, writer),
        End::Written(kind) => Ok(kind),
    };
    written.unwrap_or_else(|NoRoom| truncate(writer))
}

#[allow(clippy::too_many_arguments)]
fn answer_node<'z, D: Dnssec<'z>>(
    zone: &'z Zone,
    owner: &NameBuf,
    node: &'z Node,
    wildcard: Option<&'z Node>,
    qtype: Rtype,
    options: AnswerOptions,
    proofs: &mut D,
    writer: &mut MessageWriter<'_>,
) -> Step<'z> {
    let answered = match qtype {
        Rtype::ANY => answer_any(zone, owner, node, options, proofs, writer),
        Rtype::RRSIG => answer_rrsigs(zone, owner, node, writer),
        _ => match zone.rrset(node, qtype) {
            Some(rrset) => {
                if proofs.push(zone, Section::Answer, owner, node, &rrset, writer).is_err() {
                    return Step::Done(End::Written(truncate(writer)));
                }
                if !proofs.on() {
                    // Nothing goes into the authority section: the addresses at once.
                    if !options.minimal_responses {
                        add_target_addresses(zone, &rrset, proofs, writer);
                    }
                    return Step::Done(End::Written(AnswerKind::Answer));
                }
                Ok(Some(Some(rrset)))
            }
            None => Ok(None),
        },
    };
    match answered {
        Err(NoRoom) => return Step::Done(End::Written(truncate(writer))),
        Ok(Some(rrset)) => {
            if let Some(wildcard) = wildcard {
                proofs.wildcard_answer(owner, wildcard);
            }
            return Step::Done(End::Answer(rrset));
        }
        Ok(None) => {}
    }
    if let Some(cname) = zone.rrset(node, Rtype::CNAME) {
        if proofs.push(zone, Section::Answer, owner, node, &cname, writer).is_err() {
            return Step::Done(End::Written(truncate(writer)));
        }
        if let Some(wildcard) = wildcard {
            proofs.wildcard_answer(owner, wildcard);
        }
        return match NameBuf::from_wire(zone.first_rdata(&cname)) {
            Ok(target) => Step::Follow(target),
            Err(_) => Step::Done(End::Answer(None)),
        };
    }
    Step::Done(End::NoData(node, wildcard))
}

/// True for the types DO=0 answers leave out unless asked for by type (RFC 4035 §3.2.1).
fn is_dnssec_type(rtype: Rtype) -> bool {
    matches!(rtype, Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3)
}

/// ANY: every RRset (one over UDP, RFC 8482 §4.2), each with its RRSIGs when DO is set; with
/// DO clear no RRSIG or NSEC. `Ok(None)` when the node has none to give (NODATA).
fn answer_any<'z>(
    zone: &Zone,
    owner: &NameBuf,
    node: &Node,
    options: AnswerOptions,
    proofs: &impl Dnssec<'z>,
    writer: &mut MessageWriter<'_>,
) -> Result<Option<Option<Rrset>>, NoRoom> {
    let chosen = if options.minimal_any { 1 } else { usize::MAX };
    let mut count = 0;
    for rrset in zone.rrsets(node).filter(|rrset| rrset.rtype != Rtype::RRSIG && (proofs.on() || !is_dnssec_type(rrset.rtype))).take(chosen) {
        proofs.push(zone, Section::Answer, owner, node, &rrset, writer)?;
        count += 1;
    }
    Ok((count > 0).then_some(None))
}

/// Qtype RRSIG: every RRSIG of the name, whatever the DO bit (the question asks for them).
fn answer_rrsigs(zone: &Zone, owner: &NameBuf, node: &Node, writer: &mut MessageWriter<'_>) -> Result<Option<Option<Rrset>>, NoRoom> {
    let mut count = 0;
    for rrset in zone.rrsets(node).filter(|rrset| rrset.rtype == Rtype::RRSIG) {
        push_rrset(zone, Section::Answer, owner, &rrset, writer).map_err(|()| NoRoom)?;
        count += 1;
    }
    Ok((count > 0).then_some(None))
}

/// A referral (RFC 1034 §4.3.2 step 3b): NS in authority, AA clear unless the answer section
/// already holds authoritative data, glue addresses in additional. With DO set, the DS and its
/// RRSIGs, or the proof that there is no DS (RFC 4035 §3.1.4).
#[inline]
fn refer<'z>(zone: &'z Zone, cut: &'z Node, proofs: &mut impl Dnssec<'z>, writer: &mut MessageWriter<'_>) -> Result<AnswerKind, NoRoom> {
    let Some(ns) = zone.rrset(cut, Rtype::NS) else { return Ok(AnswerKind::Error) };
    if writer.count(Section::Answer) == 0 {
        writer.set_aa(false);
    }
    let cut_name = zone.node_name(cut);
    push_rrset(zone, Section::Authority, &cut_name, &ns, writer).map_err(|()| NoRoom)?;
    if proofs.on() {
        match zone.rrset(cut, Rtype::DS) {
            Some(ds) => proofs.push(zone, Section::Authority, &cut_name, cut, &ds, writer)?,
            None => proofs.no_ds(&cut_name, cut, writer)?,
        }
    }
    add_target_addresses(zone, &ns, proofs, writer);
    Ok(AnswerKind::Referral)
}

/// DNAME substitution (RFC 6672 §3.2): the DNAME (with its RRSIGs), then a synthesised CNAME
/// with the DNAME's TTL (unsigned: RFC 6672 §5.3.1).
fn substitute<'z, 's>(zone: &Zone, qname: &NameBuf, node: &Node, proofs: &impl Dnssec<'s>, writer: &mut MessageWriter<'_>) -> Step<'z> {
    let Some(dname) = zone.rrset(node, Rtype::DNAME) else { return Step::Done(End::Written(AnswerKind::Error)) };
    let owner = zone.node_name(node);
    if proofs.push(zone, Section::Answer, &owner, node, &dname, writer).is_err() {
        return Step::Done(End::Written(truncate(writer)));
    }
    let Ok(target) = NameBuf::from_wire(zone.first_rdata(&dname)) else { return Step::Done(End::Written(AnswerKind::Error)) };
    let Some(synthesised) = qname.replace_suffix(&owner, &target) else {
        writer.set_rcode(Rcode::YXDOMAIN);
        return Step::Done(End::Written(AnswerKind::Error));
    };
    if writer.push(Section::Answer, qname, Rtype::CNAME, zone.class(), dname.ttl, synthesised.as_wire()).is_err() {
        return Step::Done(End::Written(truncate(writer)));
    }
    // A target below the DNAME's own owner brings the name back under the same DNAME, and each
    // substitution makes it longer (a loop that ends only in YXDOMAIN): stop after the first
    // synthesised CNAME, whatever the question's type, as NSD does.
    if synthesised.is_subdomain_of(&owner) {
        return Step::Done(End::Answer(None));
    }
    Step::Follow(synthesised)
}

/// NXDOMAIN or NODATA: the SOA in authority with TTL min(SOA TTL, MINIMUM) (RFC 2308 §3, §5),
/// its RRSIGs with it when DO is set.
fn negative<'z>(zone: &Zone, rcode: Rcode, proofs: &impl Dnssec<'z>, writer: &mut MessageWriter<'_>) -> Result<AnswerKind, NoRoom> {
    writer.set_rcode(rcode);
    let kind = if rcode == Rcode::NXDOMAIN { AnswerKind::NxDomain } else { AnswerKind::NoData };
    let Some(apex) = zone.apex() else { return Ok(kind) };
    let Some(soa) = zone.rrset(apex, Rtype::SOA) else { return Ok(kind) };
    let rdata = zone.first_rdata(&soa);
    let minimum = rdata.len().checked_sub(4).map_or(soa.ttl, |at| u32::from_be_bytes([rdata[at], rdata[at + 1], rdata[at + 2], rdata[at + 3]]));
    let ttl = soa.ttl.min(minimum);
    if proofs.on() {
        proofs.push_with_ttl(zone, Section::Authority, zone.origin(), apex, &soa, ttl, writer)?;
    } else {
        // The one record alone (cheaper than an RRset push).
        writer.push(Section::Authority, zone.origin(), Rtype::SOA, zone.class(), ttl, rdata).map_err(|_| NoRoom)?;
    }
    Ok(kind)
}

/// Adds A and AAAA records of the names an NS, MX or SRV RRset points at, when they are in the
/// zone (glue included), with their RRSIGs when DO is set and the zone signed them (glue is
/// not signed). Records that do not fit are left out without TC (RFC 2181 §9).
fn add_target_addresses<'z>(zone: &Zone, rrset: &Rrset, proofs: &impl Dnssec<'z>, writer: &mut MessageWriter<'_>) {
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
                let _ = proofs.push(zone, Section::Additional, &target, node, &addresses, writer);
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
