//! Response policy zones and blocklists in the resolver path (issue 16 item 3): the check before
//! the cache (client IP, QNAME, blocklists; answer-IP, NSDNAME and NSIP triggers settled from the
//! cache when it holds the answer) and the check of a finished resolution, and the rewritten
//! replies.
//!
//! EDE (RFC 8914): NXDOMAIN, NODATA and every blocklist answer carry 15 (Blocked); local data
//! (records or a CNAME rewrite) carries 17 (Filtered); a TCP-only TC=1 reply carries none; DROP
//! sends nothing. A rewritten reply never has AD set (BIND clears it too). A bogus resolution is
//! never rewritten: it stays SERVFAIL (RFC 4035 §5.5), and so does any SERVFAIL.

use super::recurse::recursive_kind;
use super::{dropped, Answered, Engine, Query, Recursion};
use crate::auth::zone::Node;
use crate::auth::Zone;
use crate::cache::{Cache, Cached, Security};
use crate::policy::rpz::{action, Facts, Hit, Rewrite};
use crate::request::{DropReason, Outcome, Request};
use crate::resolve::Resolved;
use portcullis_wire::message::{Question, Section};
use portcullis_wire::writer::MessageWriter;
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::net::IpAddr;

/// EDE info-codes (RFC 8914 §5.16, §5.18).
const BLOCKED: u16 = 15;
const FILTERED: u16 = 17;
/// The TTL of a blocklist's null answer.
const NULL_TTL: u32 = 60;
/// CNAMEs followed in the cache.
const MAX_CHAIN: usize = 8;

impl Engine {
    /// The check before the cache lookup: `Some` when a policy decides the reply.
    pub(super) fn rpz_query(&self, recursion: &Recursion, query: &Query<'_>, question: &Question, request: &Request<'_>, out: &mut [u8]) -> Option<Answered> {
        let rpz = recursion.rpz.as_deref()?;
        let client = request.peer.ip();
        let hit = match rpz.check_query(client, &question.qname) {
            crate::policy::rpz::Check::Miss => return None,
            crate::policy::rpz::Check::Hit(hit) => hit,
            crate::policy::rpz::Check::NeedAnswer => {
                // Settled now only when the cache holds the answer; else after resolution.
                let addresses = cached_addresses(&recursion.cache, question, request.now)?;
                let facts = Facts { addresses, ..ns_facts(&recursion.cache, &question.qname, request.now) };
                rpz.check_answer(client, &question.qname, &facts)?
            }
        };
        self.rpz_reply(Some(recursion), query, question, request, hit, &[], out)
    }

    /// QNAME (and client-IP) triggers on the targets of the CNAME chain of the reply written in
    /// `out[..len]` (BIND checks each name it restarts at): `Some` when one rewrites it; the
    /// chain up to that target is kept and the action applies to the target. Query type CNAME
    /// and bogus data (`bogus`, given out with CD=1) are left alone.
    pub(super) fn rpz_chain(&self, query: &Query<'_>, request: &Request<'_>, bogus: bool, out: &mut [u8], len: usize) -> Option<Answered> {
        let recursion = self.recursion.as_ref()?;
        let rpz = recursion.rpz.as_deref()?;
        let question = query.frame.question()?;
        if bogus || question.qtype == Rtype::CNAME {
            return None;
        }
        let chain = cname_chain(out.get(..len)?, &question.qname);
        for (index, link) in chain.iter().enumerate() {
            let crate::policy::rpz::Check::Hit(hit) = rpz.check_query(request.peer.ip(), &link.1) else { continue };
            return self.rpz_reply(Some(recursion), query, question, request, hit, chain.get(..=index)?, out);
        }
        None
    }

    /// The check of a finished resolution: `Some` when a policy rewrites it. Bogus answers and
    /// SERVFAILs are left alone.
    pub(super) fn rpz_resolved(&self, resolved: &Resolved, query: &Query<'_>, request: &Request<'_>, out: &mut [u8]) -> Option<Answered> {
        let recursion = self.recursion.as_ref()?;
        let rpz = recursion.rpz.as_deref()?;
        if resolved.rcode == Rcode::SERVFAIL || resolved.security == Security::Bogus {
            return None;
        }
        let question = query.frame.question()?;
        let facts = Facts { addresses: super::recurse::addresses(resolved), ..ns_facts(&recursion.cache, &question.qname, request.now) };
        let hit = rpz.check_answer(request.peer.ip(), &question.qname, &facts)?;
        self.rpz_reply(Some(recursion), query, question, request, hit, &[], out)
    }

    /// The reply `hit` asks for; `None` for PASSTHRU (and TCP-only over TCP): the normal answer.
    /// `chain` is the CNAME chain kept before the action, which then applies to its last target.
    #[allow(clippy::too_many_arguments)]
    fn rpz_reply(
        &self,
        recursion: Option<&Recursion>,
        query: &Query<'_>,
        question: &Question,
        request: &Request<'_>,
        hit: Hit<'_>,
        chain: &[Link],
        out: &mut [u8],
    ) -> Option<Answered> {
        match hit.rewrite {
            Rewrite::Passthru => return None,
            Rewrite::TcpOnly if request.transport.is_stream() => return None,
            Rewrite::Drop => return Some(dropped(DropReason::RpzDrop)),
            _ => {}
        }
        let frame = &query.frame;
        let Some(mut writer) = frame.writer(out) else { return Some(dropped(DropReason::NoBuffer)) };
        frame.begin(&mut writer, &self.settings);
        for (owner, target, ttl) in chain {
            if writer.push(Section::Answer, owner, Rtype::CNAME, Class::IN, *ttl, target.as_wire()).is_err() {
                writer.set_tc(true);
            }
        }
        let at = Question { qname: chain.last().map_or(question.qname, |link| link.1), ..*question };
        let question = &at;
        let (rcode, ede) = match (hit.rewrite, hit.zone) {
            (Rewrite::Nxdomain, _) => (Rcode::NXDOMAIN, Some(BLOCKED)),
            (Rewrite::Nodata, _) => (Rcode::NOERROR, Some(BLOCKED)),
            (Rewrite::Refused, _) => (Rcode::REFUSED, Some(BLOCKED)),
            (Rewrite::Null, _) => {
                write_null(question, &mut writer);
                (Rcode::NOERROR, Some(BLOCKED))
            }
            (Rewrite::LocalData(node), Some(zone)) => {
                let cache = recursion.map(|recursion| &*recursion.cache);
                (write_local(zone, &node, question, cache, request, &mut writer), Some(FILTERED))
            }
            _ => {
                writer.set_tc(true);
                (Rcode::NOERROR, None)
            }
        };
        writer.set_ad(false);
        let kind = recursive_kind(rcode, writer.count(Section::Answer) != 0);
        let name_hash = self.rrl_hash(query, kind, &question.qname, question.qtype);
        let payload = ede.map(|code| ede_text(code, &hit));
        let len = frame.finish_with_ede(&mut writer, rcode, &self.settings, payload.as_deref());
        Some(Answered { outcome: Outcome::Reply(len), kind, name_hash })
    }
}

/// A CNAME of an answer: owner, target, TTL.
type Link = (NameBuf, NameBuf, u32);

/// The CNAME chain from `qname` in the answer section of `reply` (at most [`MAX_CHAIN`] links;
/// empty when the reply has none or does not parse).
fn cname_chain(reply: &[u8], qname: &NameBuf) -> Vec<Link> {
    let Ok(message) = portcullis_wire::message::Message::parse(reply) else { return Vec::new() };
    if message.header().ancount() < 2 {
        return Vec::new(); // A chain and its end: at least two records.
    }
    let mut chain: Vec<Link> = Vec::new();
    let mut name = *qname;
    for record in message.records(Section::Answer).filter(|record| record.rtype == Rtype::CNAME).take(MAX_CHAIN) {
        if !record.owner.to_lowercase().as_wire().eq(name.to_lowercase().as_wire()) {
            break;
        }
        let Ok((target, _)) = NameBuf::parse_compressed(reply, record.rdata_offset) else { break };
        chain.push((record.owner, target, record.ttl));
        name = target;
    }
    chain
}

/// The EDE option's payload: the code, then which policy (RFC 8914 §2: EXTRA-TEXT).
fn ede_text(code: u16, hit: &Hit<'_>) -> Vec<u8> {
    // A list is named by its file name only: its directory is none of the client's business.
    let (what, source) = match hit.list {
        true => ("blocklist", hit.source.rsplit('/').next().unwrap_or(hit.source)),
        false => ("response policy zone", hit.source),
    };
    let mut payload = code.to_be_bytes().to_vec();
    let text = format!("{what} {source} ({} trigger, {})", hit.kind.as_str(), hit.rewrite.as_str());
    payload.extend_from_slice(text.as_bytes().get(..text.len().min(200)).unwrap_or_default());
    payload
}

/// A blocklist's null answer: 0.0.0.0 for A, :: for AAAA, nothing for other types.
fn write_null(question: &Question, writer: &mut MessageWriter<'_>) {
    let rdata: &[u8] = match question.qtype {
        Rtype::A => &[0; 4],
        Rtype::AAAA => &[0; 16],
        _ => return,
    };
    if writer.push(Section::Answer, &question.qname, question.qtype, Class::IN, NULL_TTL, rdata).is_err() {
        writer.set_tc(true);
    }
}

/// The trigger's records as the answer, owned by the query name: the RRsets of the query type
/// (every type for ANY), or the CNAME (its target's answer added from the cache when cached);
/// a name with other types only is NODATA.
fn write_local(zone: &Zone, node: &Node, question: &Question, cache: Option<&Cache>, request: &Request<'_>, writer: &mut MessageWriter<'_>) -> Rcode {
    if let Some(cname) = zone.rrset(node, Rtype::CNAME) {
        let target = NameBuf::from_wire(zone.first_rdata(&cname)).ok().and_then(|target| action::cname_target(&target, &question.qname));
        let Some(target) = target else { return Rcode::NXDOMAIN };
        if writer.push(Section::Answer, &question.qname, Rtype::CNAME, Class::IN, cname.ttl, target.as_wire()).is_err() {
            writer.set_tc(true);
            return Rcode::NOERROR;
        }
        if question.qtype == Rtype::CNAME {
            return Rcode::NOERROR;
        }
        let next = Question { qname: target, qtype: question.qtype, qclass: question.qclass };
        return cache.and_then(|cache| cache.write_answer(&next, request.now, false, writer)).map_or(Rcode::NOERROR, |hit| hit.rcode);
    }
    for rrset in zone.rrsets(node).filter(|rrset| rrset.rtype == question.qtype || (question.qtype == Rtype::ANY && !is_dnssec(rrset.rtype))) {
        for rdata in zone.rdatas(&rrset) {
            if writer.push(Section::Answer, &question.qname, rrset.rtype, Class::IN, rrset.ttl, rdata).is_err() {
                writer.set_tc(true);
                return Rcode::NOERROR;
            }
        }
    }
    Rcode::NOERROR
}

fn is_dnssec(rtype: Rtype) -> bool {
    matches!(rtype, Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3 | Rtype::DNSKEY)
}

/// The A/AAAA addresses of the cached answer to `question` (CNAMEs followed); `None` when the
/// cache does not hold the whole answer, or holds bogus data (left to the resolver pool, which
/// answers SERVFAIL: bogus data is never rewritten into an answer). Other query types have no
/// answer addresses.
fn cached_addresses(cache: &Cache, question: &Question, now: crate::base::Instant) -> Option<Vec<IpAddr>> {
    let mut name = question.qname;
    for _ in 0..MAX_CHAIN {
        let wanted = question.qtype;
        match cache.get(&name, wanted, Class::IN, now, false) {
            Some(Cached::Positive(_, hit) | Cached::NxDomain(_, hit) | Cached::NoData(_, hit)) if hit.security == Security::Bogus => return None,
            Some(Cached::Positive(rrset, _)) => return Some(rrset_addresses(&rrset)),
            Some(Cached::NxDomain(..) | Cached::NoData(..)) => return Some(Vec::new()),
            None => {}
        }
        match cache.get(&name, Rtype::CNAME, Class::IN, now, false) {
            Some(Cached::Positive(_, hit)) if hit.security == Security::Bogus => return None,
            Some(Cached::Positive(rrset, _)) => name = NameBuf::from_wire(rrset.rdatas.first()?).ok()?,
            _ => return None,
        }
    }
    None
}

fn rrset_addresses(rrset: &crate::cache::Rrset) -> Vec<IpAddr> {
    rrset
        .rdatas
        .iter()
        .filter_map(|rdata| match (rrset.rtype, rdata.len()) {
            (Rtype::A, 4) => <[u8; 4]>::try_from(&rdata[..]).ok().map(IpAddr::from),
            (Rtype::AAAA, 16) => <[u8; 16]>::try_from(&rdata[..]).ok().map(IpAddr::from),
            _ => None,
        })
        .collect()
}

/// The NS names and their cached addresses of the closest enclosing zone of `qname` whose NS
/// RRset the cache holds (names of two labels or more: BIND's `min-ns-dots 1` leaves the root
/// and top-level domains out).
fn ns_facts(cache: &Cache, qname: &NameBuf, now: crate::base::Instant) -> Facts {
    let mut facts = Facts::default();
    let labels = qname.label_count();
    for skip in 0..labels.saturating_sub(1) {
        let Some(owner) = qname.suffix(skip) else { break };
        let Some(Cached::Positive(ns, _)) = cache.get(&owner, Rtype::NS, Class::IN, now, false) else { continue };
        facts.ns_names = ns.rdatas.iter().filter_map(|rdata| NameBuf::from_wire(rdata).ok()).collect();
        facts.ns_names.sort_by(NameBuf::canonical_cmp);
        for name in &facts.ns_names {
            for rtype in [Rtype::A, Rtype::AAAA] {
                if let Some(Cached::Positive(rrset, _)) = cache.get(name, rtype, Class::IN, now, false) {
                    facts.ns_addresses.extend(rrset_addresses(&rrset));
                }
            }
        }
        break;
    }
    facts
}
