//! Recursion in the pipeline (DESIGN §4.4 step f): a name in no served zone, asked with RD=1 by
//! a client the recursion ACL allows, is answered from the shared cache on the worker (no
//! allocation) or handed back as [`Outcome::Resolve`]; the resolver pool answers it later through
//! [`Engine::respond_resolved`], which sets up and finishes the reply as every other one.

use super::{dropped, Answered, Engine, Query, TsigUse};
use crate::cache::Security;
use crate::policy::tunnel::TunnelVerdict;
use crate::policy::{Action, ResponseKind, Verdict};
use crate::request::{DropReason, Outcome, Request};
use crate::resolve::validate::{Bogus, Ede};
use crate::resolve::Resolved;
use portcullis_wire::header::Header;
use portcullis_wire::message::{Message, Question, Section};
use portcullis_wire::{Class, Rcode, Rtype};

impl Engine {
    /// Writes the reply to `request` (a query for which [`Engine::handle`] returned
    /// [`Outcome::Resolve`]) from a finished resolution: the same header, OPT, cookie, TC and
    /// RRL finishing as every other reply. A SERVFAIL is replaced by stale cached data when
    /// serve-stale is on (RFC 8767).
    pub fn respond_resolved(&self, resolved: &Resolved, request: &Request<'_>, out: &mut [u8]) -> Outcome {
        let outcome = self.resolved_reply(resolved, request, out);
        match outcome {
            Outcome::Drop(reason) => self.counters.dropped(reason),
            Outcome::Reply(len) | Outcome::ReplyAndPrefetch(len) => {
                self.counters.resolved_answers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.count_rcode(request, &out[..len]);
            }
            Outcome::Resolve | Outcome::Transfer | Outcome::Update => {}
        }
        outcome
    }

    fn resolved_reply(&self, resolved: &Resolved, request: &Request<'_>, out: &mut [u8]) -> Outcome {
        let Ok((header, _)) = Header::split(request.bytes) else { return Outcome::Drop(DropReason::Malformed) };
        let Ok(message) = Message::parse(request.bytes) else { return Outcome::Drop(DropReason::Malformed) };
        let question = message.question();
        let mut query = self.query(request, header, question.as_ref(), Some(&message), TsigUse::Reanswered);
        self.respond(&message, &mut query, request, TsigUse::Reanswered, out, |engine, query, out| engine.write_resolved(resolved, query, request, out))
    }

    /// The reply a finished resolution makes, or stale cached data for its SERVFAIL when
    /// serve-stale is on (RFC 8767).
    fn write_resolved(&self, resolved: &Resolved, query: &Query<'_>, request: &Request<'_>, out: &mut [u8]) -> Answered {
        let Some(question) = query.frame.question() else { return dropped(DropReason::Malformed) };
        if let Some(answered) = self.rpz_resolved(resolved, query, request, out) {
            return answered;
        }
        let Some(mut writer) = query.frame.writer(out) else { return dropped(DropReason::NoBuffer) };
        query.frame.begin(&mut writer, &self.settings);
        let (dnssec_ok, checking_disabled) = dnssec_flags(&query.frame);
        if resolved.security == Security::Bogus && !checking_disabled {
            // RFC 4035 §5.5: bogus data is not given out; RFC 8914 says why.
            let ede = ede_payload(resolved.bogus.as_ref());
            let kind = recursive_kind(Rcode::SERVFAIL, false);
            let name_hash = self.rrl_hash(query, kind, &question.qname, question.qtype);
            let len = query.frame.finish_with_ede(&mut writer, Rcode::SERVFAIL, &self.settings, Some(&ede));
            return Answered { outcome: Outcome::Reply(len), kind, name_hash };
        }
        let mut rcode = resolved.rcode;
        if let Some(shadow) = self.recursion.as_ref().and_then(|recursion| recursion.shadow.as_deref()) {
            shadow.answer(request.now, question.qname.as_wire(), &addresses(resolved));
        }
        let detector = self.recursion.as_ref().and_then(|recursion| recursion.tunnel.as_deref());
        if let Some(detector) = detector.filter(|_| rcode == Rcode::NXDOMAIN) {
            detector.nxdomain(request.now, request.peer.ip(), question.qname.as_wire());
        }
        let stale = match (&self.recursion, rcode) {
            (Some(recursion), Rcode::SERVFAIL) if recursion.cache.settings().serve_stale => {
                recursion.cache.write_answer(question, request.now, true, &mut writer)
            }
            _ => None,
        };
        if let Some(hit) = stale {
            self.counters.stale_answers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            rcode = hit.rcode;
            writer.set_tc(hit.truncated);
        } else if !resolved.write_dnssec(dnssec_ok, &mut writer) {
            writer.set_tc(true);
        }
        // RFC 6840 §5.7-5.8: AD for secure data when the query had DO=1 or AD=1.
        let asked = dnssec_ok || query.frame.header().ad();
        writer.set_ad(stale.is_none() && resolved.security == Security::Secure && asked);
        let kind = recursive_kind(rcode, stale.is_some() || resolved.has_answer());
        let name_hash = self.rrl_hash(query, kind, &question.qname, question.qtype);
        let notice = resolved.notice.filter(|_| stale.is_none()).map(u16::to_be_bytes);
        let len = query.frame.finish_with_ede(&mut writer, rcode, &self.settings, notice.as_ref().map(|code| &code[..]));
        if let Some(answered) = self.rpz_chain(query, request, resolved.security == Security::Bogus, out, len) {
            return answered;
        }
        Answered { outcome: Outcome::Reply(len), kind, name_hash }
    }

    /// A name outside every served zone: REFUSED without recursion (RA=0 for clients the ACL does
    /// not allow, RFC 5358); else the cached answer, or a hand-off to the resolver pool.
    pub(super) fn recurse(&self, query: &Query<'_>, question: &Question, request: &Request<'_>, out: &mut [u8]) -> Answered {
        let frame = &query.frame;
        let Some(recursion) = &self.recursion else { return self.error_reply(frame, Rcode::REFUSED, out) };
        // Cache contents, detectors and policy zones change between identical queries.
        query.trace.volatile();
        // RA=1 already says the recursion ACL allows this client (`recursion_allowed`).
        let verdict = if frame.ra() {
            Verdict::Allow
        } else {
            self.policy.acl_for(request.listener).check_signed(request.peer.ip(), self.request_key(query), Action::Recursion, None)
        };
        match verdict {
            Verdict::Allow => {}
            Verdict::Refuse => {
                self.counters.recursion_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return self.error_reply(frame, Rcode::REFUSED, out);
            }
            Verdict::Drop => return dropped(DropReason::AclDeny),
        }
        if question.qclass != Class::IN || matches!(question.qtype, Rtype::AXFR | Rtype::IXFR | Rtype::MAILA | Rtype::MAILB) {
            return self.error_reply(frame, Rcode::REFUSED, out);
        }
        // The question name's cache key (lower-cased, keyed hash) is made once: the tunnelling
        // detector reads it, then the cache lookup.
        let owner = recursion.cache.owner(&question.qname);
        let detector = recursion.tunnel.as_deref();
        let checked = detector.map(|detector| detector.check_lowered(request.now, request.peer.ip(), owner.wire(), owner.hash, question.qtype.0));
        if checked.is_some_and(|(verdict, _)| verdict == TunnelVerdict::Block) {
            return self.blocked_reply(frame, out);
        }
        if let Some(answered) = self.rpz_query(recursion, query, question, request, out) {
            return answered;
        }
        let Some(mut writer) = frame.writer(out) else { return dropped(DropReason::NoBuffer) };
        frame.begin(&mut writer, &self.settings);
        let (dnssec_ok, checking_disabled) = dnssec_flags(frame);
        let hit = recursion.cache.write_answer_owned(question, &owner, request.now, false, dnssec_ok, &mut writer);
        // Bogus data in the cache: the resolver pool answers (SERVFAIL with its EDE, logged);
        // CD=1 gets the data (RFC 4035 §3.2.2).
        let hit = hit.filter(|hit| hit.security != Security::Bogus || checking_disabled);
        let Some(hit) = hit else {
            if !frame.header().rd() {
                // RD=0 and nothing cached: nothing to say (Unbound and BIND answer REFUSED).
                return self.error_reply(frame, Rcode::REFUSED, out);
            }
            return Answered { outcome: Outcome::Resolve, kind: ResponseKind::Answer, name_hash: 0 };
        };
        self.counters.cache_answer(request.worker);
        if let (Some(detector), Some((_, Some(account)))) = (detector, checked) {
            if hit.rcode == Rcode::NXDOMAIN {
                detector.nxdomain_in(request.now, account);
            }
        }
        if hit.truncated {
            writer.set_tc(true);
        }
        writer.set_ad(hit.security == Security::Secure && (dnssec_ok || frame.header().ad()));
        let kind = recursive_kind(hit.rcode, writer.count(Section::Answer) != 0);
        let name_hash = self.rrl_hash(query, kind, &question.qname, question.qtype);
        // An insecure answer with a reason (unsupported algorithm, NSEC3 iterations): its EDE.
        let notice = (hit.ede != 0 && hit.security != Security::Bogus).then(|| hit.ede.to_be_bytes());
        let len = frame.finish_with_ede(&mut writer, hit.rcode, &self.settings, notice.as_ref().map(|code| &code[..]));
        if let Some(answered) = self.rpz_chain(query, request, hit.security == Security::Bogus, out, len) {
            return answered;
        }
        let outcome = if hit.prefetch && frame.header().rd() { Outcome::ReplyAndPrefetch(len) } else { Outcome::Reply(len) };
        Answered { outcome, kind, name_hash }
    }
}

impl Engine {
    /// REFUSED with EDE 15 (Blocked, RFC 8914 §5.16) and a text naming the detector: the
    /// tunnelling detector holds this client prefix's queries to this domain.
    fn blocked_reply(&self, frame: &crate::reply::ReplyFrame<'_>, out: &mut [u8]) -> Answered {
        const BLOCKED: &[u8] = b"\x00\x0fblocked by the tunnelling detector (portcullis)";
        let Some(mut writer) = frame.writer(out) else { return dropped(DropReason::NoBuffer) };
        frame.begin(&mut writer, &self.settings);
        let len = frame.finish_with_ede(&mut writer, Rcode::REFUSED, &self.settings, Some(BLOCKED));
        Answered { outcome: Outcome::Reply(len), kind: ResponseKind::Error, name_hash: 0 }
    }
}

/// The addresses (A, AAAA) of a resolved answer, for the shadowing detector.
pub(super) fn addresses(resolved: &Resolved) -> Vec<std::net::IpAddr> {
    let records = resolved.answer.iter().flat_map(|rrset| rrset.rdatas.iter().map(move |rdata| (rrset.rtype, rdata)));
    records
        .filter_map(|(rtype, rdata)| match (rtype, rdata.len()) {
            (Rtype::A, 4) => <[u8; 4]>::try_from(&rdata[..]).ok().map(std::net::IpAddr::from),
            (Rtype::AAAA, 16) => <[u8; 16]>::try_from(&rdata[..]).ok().map(std::net::IpAddr::from),
            _ => None,
        })
        .collect()
}

/// The query's DO bit (RFC 3225) and CD bit (RFC 4035 §3.2.2).
fn dnssec_flags(frame: &crate::reply::ReplyFrame<'_>) -> (bool, bool) {
    (frame.edns().is_some_and(|edns| edns.dnssec_ok), frame.header().cd())
}

/// The EDE option payload (RFC 8914 §2: info-code, then UTF-8 text) of a bogus answer.
fn ede_payload(bogus: Option<&Bogus>) -> Vec<u8> {
    let (code, why) = bogus.map_or((Ede::BOGUS, "validation failed"), |bogus| (bogus.ede, bogus.why.as_str()));
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(why.as_bytes().get(..why.len().min(200)).unwrap_or_default());
    payload
}

/// RRL's kind of a recursive reply: from its rcode and whether its answer section has records.
pub(super) fn recursive_kind(rcode: Rcode, has_answer: bool) -> ResponseKind {
    match rcode {
        Rcode::NXDOMAIN => ResponseKind::NxDomain,
        Rcode::NOERROR if has_answer => ResponseKind::Answer,
        Rcode::NOERROR => ResponseKind::NoData,
        _ => ResponseKind::Error,
    }
}
