//! Scrubbing and classification of an accepted reply, before anything is cached
//! (SECURITY-REFERENCE §3.7, after Unbound's `iter_scrub.c`; RFC 2181 §5.4.1; RFC 1034 §5.3.3).
//!
//! Relative to the zone of the server asked ("the bailiwick"):
//! - answer: only the chain from the name asked: CNAMEs (RFC 1034 §3.6.2), DNAMEs strictly above
//!   the name and inside the zone with their CNAME synthesised (RFC 6672 §3.4, a disagreeing CNAME
//!   dropped; a substitution too long ends the chain, YXDOMAIN, RFC 6672 §2.2), then the RRset of the type asked; at most `max_chain` links; data for a CNAME
//!   target outside the zone is dropped (it is resolved separately); A/AAAA of the wrong length
//!   dropped; private addresses dropped under rebinding protection;
//! - authority: only SOA and NS owned at or below the zone and at or above the name; NS removed
//!   from positive answers (Unbound `iter-scrub-promiscuous`); NS clipped to 20 records;
//! - additional: only A/AAAA for targets of a kept NS RRset that lie inside the zone (glue);
//! - DNSSEC: each RRset keeps the RRSIGs that cover it at its owner (`Rrset::sigs`); NSEC and
//!   NSEC3 RRsets of the authority section owned inside the zone are kept as `proofs` (denials
//!   and wildcard answers, RFC 4035 §3.1.3), RRSIGs alone are dropped.

use super::settings::ResolverSettings;
use crate::cache::Rrset;
use portcullis_wire::message::{decompress_rdata, Message, Section};
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};

/// Most NS records kept from one RRset (SECURITY-REFERENCE §7).
pub const MAX_NS_RECORDS: usize = 20;

/// What a scrubbed reply says about the name asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// The chain ends in data of the type asked.
    Answer,
    /// The chain ends in a CNAME/DNAME target this server did not answer for.
    Partial,
    /// NXDOMAIN for the end of the chain (RFC 2308 §2.1).
    NxDomain,
    /// No data of the type at the end of the chain (RFC 2308 §2.2).
    NoData,
    /// A delegation to a zone below the one asked (RFC 1034 §4.3.2 step 3b).
    Referral,
    /// Nothing usable: an upward or sideways referral, or an empty non-authoritative reply.
    Lame,
    /// An error rcode.
    Error(Rcode),
}

/// A scrubbed reply.
#[derive(Clone, Debug)]
pub(super) struct Scrubbed {
    pub kind: Kind,
    /// Answer RRsets in chain order (DNAME, synthesised CNAME, CNAME, final data).
    pub chain: Vec<Rrset>,
    /// CNAME/DNAME links in `chain`.
    pub links: usize,
    /// The last name of the chain (the name asked when there is no chain).
    pub end: NameBuf,
    /// The SOA of a negative answer.
    pub soa: Option<Rrset>,
    /// The NS RRset of a referral, or of an authoritative answer's authority section.
    pub ns: Option<Rrset>,
    /// In-bailiwick addresses of NS targets.
    pub glue: Vec<Rrset>,
    /// AA was set.
    pub authoritative: bool,
    /// The chain ends in a DNAME whose substitution is too long (RFC 6672 §2.2: YXDOMAIN).
    pub overflow: bool,
    /// NSEC and NSEC3 RRsets of the authority section inside the zone, with their RRSIGs.
    pub proofs: Vec<Rrset>,
    /// The DS RRset at the owner of a referral's NS RRset (RFC 4035 §3.1.4), with its RRSIGs.
    pub ds: Option<Rrset>,
}

/// Scrubs `message`, the reply to (`qname`, `qtype`) from a server of `zone`.
pub(super) fn scrub(message: &Message<'_>, qname: &NameBuf, qtype: Rtype, zone: &NameBuf, settings: &ResolverSettings) -> Scrubbed {
    let class = message.question().map_or(Class::IN, |question| question.qclass);
    let answer = collect(message, Section::Answer, class);
    let mut chain = Vec::new();
    let (end, links, complete) = follow_chain(answer, qname, qtype, zone, settings, &mut chain);
    let positive = complete && !chain.is_empty();
    let header = message.header();
    let authority = collect(message, Section::Authority, class);
    let proofs: Vec<Rrset> =
        authority.iter().filter(|set| matches!(set.rtype, Rtype::NSEC | Rtype::NSEC3) && set.owner.is_subdomain_of(zone)).cloned().collect();
    if positive && message.rcode() == Rcode::NOERROR {
        // The kind is Answer whatever the authority section says; only its proofs are kept.
        let authoritative = header.aa();
        return Scrubbed { kind: Kind::Answer, chain, links, end, soa: None, ns: None, glue: Vec::new(), authoritative, overflow: false, proofs, ds: None };
    }
    let soa = authority.iter().find(|set| set.rtype == Rtype::SOA && set.owner.is_subdomain_of(zone) && end.is_subdomain_of(&set.owner)).cloned();
    let any_ns = authority.iter().any(|set| set.rtype == Rtype::NS);
    let ds_of = |ns: &Rrset| authority.iter().find(|set| set.rtype == Rtype::DS && set.owner == ns.owner).cloned();
    let ns = if positive { None } else { pick_ns(authority.clone(), &end, zone) };
    let ds = ns.as_ref().and_then(ds_of);
    let glue = ns.as_ref().map(|ns| pick_glue(message, ns, zone, class)).unwrap_or_default();
    let authoritative = header.aa();
    let authority = Authority { soa: soa.is_some(), ns: ns.as_ref(), foreign_ns: any_ns && ns.is_none() };
    let overflow = !positive && chain.last().is_some_and(|set| set.rtype == Rtype::DNAME);
    let kind = if overflow {
        Kind::Error(Rcode::YXDOMAIN)
    } else {
        classify(message.rcode(), positive, !chain.is_empty(), &authority, zone, (authoritative, header.ra()))
    };
    Scrubbed { kind, chain, links, end, soa, ns, glue, authoritative, overflow, proofs, ds }
}

/// What the authority section of a reply holds, for [`classify`].
struct Authority<'a> {
    /// A SOA at or above the end of the chain, inside the zone.
    soa: bool,
    /// The NS RRset kept (inside the zone, at or above the end of the chain).
    ns: Option<&'a Rrset>,
    /// An NS RRset that is not kept: an upward or sideways referral.
    foreign_ns: bool,
}

/// The kind of a reply (after Unbound's `response_type_from_server`): a chain that stops short is
/// followed (its end asked anew, even when the authority section names the end's zone); an NS
/// RRset below the zone asked without a SOA is a referral even with AA set (a common server bug);
/// an upward or sideways NS RRset is lame even with AA set, the zone's own NS RRset without AA is
/// lame; an empty NOERROR is NODATA (RFC 2308 §2.2 type 3) unless it comes from a recursive server
/// (RA without AA: lame).
fn classify(rcode: Rcode, positive: bool, partial: bool, authority: &Authority<'_>, zone: &NameBuf, (aa, ra): (bool, bool)) -> Kind {
    let below = authority.ns.is_some_and(|ns| ns.owner != *zone);
    match rcode {
        Rcode::NXDOMAIN => Kind::NxDomain,
        Rcode::NOERROR if positive => Kind::Answer,
        Rcode::NOERROR if partial && authority.soa => Kind::NoData,
        Rcode::NOERROR if partial => Kind::Partial,
        Rcode::NOERROR if below && (!aa || !authority.soa) => Kind::Referral,
        Rcode::NOERROR if authority.soa => Kind::NoData,
        Rcode::NOERROR if aa && !authority.foreign_ns => Kind::NoData,
        Rcode::NOERROR if authority.foreign_ns || authority.ns.is_some() || ra => Kind::Lame,
        Rcode::NOERROR => Kind::NoData,
        other => Kind::Error(other),
    }
}

/// Follows the answer chain from `qname`; returns the last name, the links used and whether the
/// chain ended in data of `qtype`.
fn follow_chain(
    mut answer: Vec<Rrset>,
    qname: &NameBuf,
    qtype: Rtype,
    zone: &NameBuf,
    settings: &ResolverSettings,
    chain: &mut Vec<Rrset>,
) -> (NameBuf, usize, bool) {
    let mut name = *qname;
    let mut links = 0;
    loop {
        if let Some(index) = answer.iter().position(|set| set.owner == name && (set.rtype == qtype || qtype == Rtype::ANY)) {
            let mut data = answer.swap_remove(index);
            filter_addresses(&mut data, settings);
            if data.rdatas.is_empty() {
                return (name, links, false);
            }
            chain.push(data);
            return (name, links, true);
        }
        if links >= settings.max_cname_chain || !name.is_subdomain_of(zone) {
            return (name, links, false);
        }
        let Some(target) = next_link(&mut answer, &name, qtype, zone, chain) else { return (name, links, false) };
        links += 1;
        if chain.iter().filter(|set| set.rtype == Rtype::CNAME).any(|set| set.owner == target) {
            return (target, links, false);
        }
        name = target;
    }
}

/// One CNAME or DNAME link from `name`: pushes its RRset(s) and returns the target.
fn next_link(answer: &mut Vec<Rrset>, name: &NameBuf, qtype: Rtype, zone: &NameBuf, chain: &mut Vec<Rrset>) -> Option<NameBuf> {
    let dname = answer.iter().position(|set| {
        set.rtype == Rtype::DNAME && qtype != Rtype::DNAME && set.owner != *name && name.is_subdomain_of(&set.owner) && set.owner.is_subdomain_of(zone)
    });
    if let Some(index) = dname {
        let dname = answer.swap_remove(index);
        let Some(target) = name.replace_suffix(&dname.owner, &dname.name_at(0)?) else {
            // RFC 6672 §2.2: the substitution overflows; the chain ends with the DNAME.
            chain.push(dname);
            return None;
        };
        answer.retain(|set| !(set.rtype == Rtype::CNAME && set.owner == *name));
        let mut cname = Rrset::new(*name, Rtype::CNAME, dname.class, dname.ttl);
        cname.push(dname.ttl, target.as_wire());
        chain.extend([dname, cname]);
        return Some(target);
    }
    if qtype == Rtype::CNAME {
        return None;
    }
    let index = answer.iter().position(|set| set.rtype == Rtype::CNAME && set.owner == *name)?;
    let mut cname = answer.swap_remove(index);
    cname.rdatas.truncate(1);
    let target = cname.name_at(0)?;
    chain.push(cname);
    Some(target)
}

/// Rebinding protection: drops private addresses from an address RRset.
fn filter_addresses(set: &mut Rrset, settings: &ResolverSettings) {
    if set.rtype != Rtype::A && set.rtype != Rtype::AAAA {
        return;
    }
    set.rdatas.retain(|rdata| super::hints::address_of(set.rtype, rdata).is_some_and(|addr| !settings.blocks_rebinding(&set.owner, addr)));
}

/// The NS RRset of the authority section owned inside `zone` and at or above `name`.
fn pick_ns(authority: Vec<Rrset>, name: &NameBuf, zone: &NameBuf) -> Option<Rrset> {
    let mut ns = authority.into_iter().find(|set| set.rtype == Rtype::NS && set.owner.is_subdomain_of(zone) && name.is_subdomain_of(&set.owner))?;
    ns.rdatas.truncate(MAX_NS_RECORDS);
    Some(ns)
}

/// Address RRsets of the additional section for targets of `ns` inside `zone`.
fn pick_glue(message: &Message<'_>, ns: &Rrset, zone: &NameBuf, class: Class) -> Vec<Rrset> {
    let targets: Vec<NameBuf> = (0..ns.rdatas.len()).filter_map(|index| ns.name_at(index)).filter(|target| target.is_subdomain_of(zone)).collect();
    collect(message, Section::Additional, class)
        .into_iter()
        .filter(|set| (set.rtype == Rtype::A || set.rtype == Rtype::AAAA) && targets.contains(&set.owner))
        .collect()
}

/// The RRsets of one section, rdata decompressed, records of the wrong class or malformed
/// address length skipped, OPT/TSIG skipped; RRSIGs also attached to the RRset they cover.
fn collect(message: &Message<'_>, section: Section, class: Class) -> Vec<Rrset> {
    let mut sets = collect_all(message, section, class);
    // The RRSIG RRsets stay too (a question for type RRSIG is answered with them). At most
    // [`MAX_SIGS`] of them are copied to the set they cover: an answer stuffed with RRSIGs
    // (KeyTrap) costs no copy beyond those.
    for index in 0..sets.len() {
        if sets[index].rtype != Rtype::RRSIG {
            continue;
        }
        for at in 0..sets[index].rdatas.len() {
            let (owner, rdata) = (&sets[index].owner, &sets[index].rdatas[at]);
            let covered = rdata.get(..2).map(|bytes| Rtype(u16::from_be_bytes([bytes[0], bytes[1]])));
            let wanted =
                sets.iter().position(|set| Some(set.rtype) == covered && set.owner == *owner && set.sigs.len() < MAX_SIGS && !set.sigs.contains(rdata));
            if let Some(target) = wanted {
                let rdata = sets[index].rdatas[at].clone();
                sets[target].sigs.push(rdata);
            }
        }
    }
    sets
}

/// Most RRSIGs kept per RRset (KeyTrap: SECURITY-REFERENCE §2.2; more than a rollover needs).
pub const MAX_SIGS: usize = 8;

/// The RRsets of one section (RRSIGs as RRsets of their own).
fn collect_all(message: &Message<'_>, section: Section, class: Class) -> Vec<Rrset> {
    let mut sets: Vec<Rrset> = Vec::new();
    let mut rdata = Vec::new();
    for record in message.records(section) {
        let wrong_length = (record.rtype == Rtype::A && record.rdata.len() != 4) || (record.rtype == Rtype::AAAA && record.rdata.len() != 16);
        if record.class != class || wrong_length || record.rtype == Rtype::OPT || record.rtype == Rtype::TSIG || record.rtype.is_meta() {
            continue;
        }
        rdata.clear();
        if decompress_rdata(message.bytes(), &record, &mut rdata).is_err() {
            continue;
        }
        match sets.iter_mut().find(|set| set.owner == record.owner && set.rtype == record.rtype) {
            Some(set) => set.push(record.ttl, &rdata),
            None => {
                let mut set = Rrset::new(record.owner, record.rtype, record.class, record.ttl);
                set.push(record.ttl, &rdata);
                sets.push(set);
            }
        }
    }
    sets
}
