//! The steps of a [`Resolution`]: answering a frame from the cache, choosing the next server or
//! NS name, and acting on a scrubbed reply (RFC 1034 §5.3.3 step 4: answer, referral, CNAME,
//! negative answer, lame server), with QNAME minimisation (RFC 9156 §3, relaxed or strict) and
//! caching by credibility (RFC 2181 §5.4.1), RFC 2308 and RFC 9520.

pub(super) use super::frame::Frame;
use super::frame::{delegation_from, find_delegation};
use super::hints::address_of;
use super::query::Sent;
use super::resolution::{Next, Resend, Resolution};
use super::scrub::{scrub, Kind, Scrubbed};
use super::stats::ServerStats;
use super::{Failure, Resolved};
use crate::base::Instant;
use crate::cache::{negative_ttl, Cache, Cached, Rrset, Security, Trust};
use crate::Transport;
use portcullis_wire::message::Message;
use portcullis_wire::{Rcode, Rtype};
use std::net::{IpAddr, SocketAddr};

/// What the cache said about the top frame.
enum FromCache {
    /// The frame is answered (or failed).
    End(FrameEnd),
    /// A cached CNAME moved the frame to its target.
    Followed,
    /// Ask upstream.
    Miss,
}

/// How a frame ended.
#[derive(Clone, Debug)]
pub(super) enum FrameEnd {
    /// An answer (positive or negative) with its authority section.
    Answered(Rcode, Vec<Rrset>),
    /// No answer.
    Failed(Failure),
}

impl Resolution {
    /// One turn of the machine for the top frame.
    pub(super) fn advance(&mut self, now: Instant, cache: &Cache, servers: &ServerStats) -> Next {
        if let Some(end) = self.pending_end.take() {
            return self.finish_frame(end, cache, now);
        }
        if let Some(resend) = self.resend.take() {
            return self.send(resend.server, resend.transport, resend.edns, now, cache, servers);
        }
        let settings = self.settings.clone();
        let Some(frame) = self.frames.last_mut() else { return Next::Done(self.abort(Failure::NoServers, cache, now)) };
        if frame.delegation.is_none() {
            match self.answer_from_cache(cache, now) {
                FromCache::End(end) => return self.finish_frame(end, cache, now),
                FromCache::Followed => return Next::Continue,
                FromCache::Miss => {
                    if let Some(end) = self.synthesise(cache, now) {
                        return self.finish_frame(end, cache, now);
                    }
                }
            }
            let Some(frame) = self.frames.last_mut() else { return Next::Continue };
            let delegation = find_delegation(cache, &frame.cut_name(), frame.qclass, now, &settings);
            frame.enter(delegation, &settings);
        }
        self.next_server(now, cache, servers)
    }

    /// Sends to the best untried server of the top frame, or starts an NS-name lookup, or fails.
    fn next_server(&mut self, now: Instant, cache: &Cache, servers: &ServerStats) -> Next {
        let Some(delegation) = self.frames.last().and_then(|frame| frame.delegation.as_ref()) else { return Next::Continue };
        let (candidates, edns) = delegation.candidates();
        if let Some(index) = servers.pick(&candidates, now, self.random.as_mut()) {
            return self.send(candidates[index], Transport::Udp, edns, now, cache, servers);
        }
        if !candidates.is_empty() {
            // Every remaining server is held down (RFC 9520): do not ask them now.
            if let Some(delegation) = self.frames.last_mut().and_then(|frame| frame.delegation.as_mut()) {
                delegation.servers.clear();
            }
        }
        self.lookup_ns_name(now, cache)
    }

    /// Pushes a frame for the next NS name without an address, within the NXNS and depth limits.
    fn lookup_ns_name(&mut self, now: Instant, cache: &Cache) -> Next {
        let Some(delegation) = self.frames.last_mut().and_then(|frame| frame.delegation.as_mut()) else { return Next::Continue };
        if delegation.unresolved.is_empty() || self.nx_lookups >= self.settings.max_nx_target_lookups {
            delegation.unresolved.clear();
            if delegation.use_last_resort() || self.ask_parent(cache, now) {
                return Next::Continue;
            }
            return self.finish_frame(FrameEnd::Failed(Failure::NoServers), cache, now);
        }
        let name = delegation.unresolved.remove(0);
        let class = self.question.qclass;
        let on_stack = self.frames.iter().any(|frame| frame.qname == name && frame.for_address);
        if on_stack || self.frames.len() >= self.settings.max_depth || cache.failed(&name, Rtype::A, class, now) {
            self.nx_lookups += 1;
            return Next::Continue;
        }
        self.frames.push(Frame::new(name, Rtype::A, class, true));
        Next::Continue
    }

    /// An NS-name lookup whose zone failed asks the zone's parent once: its referral brings the
    /// parent-side glue again, which the cache may have lost (Unbound's parent-side target
    /// queries). False when already done, when no server of the zone was asked, or for other
    /// frames.
    fn ask_parent(&mut self, cache: &Cache, now: Instant) -> bool {
        let settings = self.settings.clone();
        let Some(frame) = self.frames.last_mut().filter(|frame| frame.for_address && !frame.asked_parent) else { return false };
        // Only when servers of the zone were asked and failed (not when its NS names loop).
        let asked = frame.delegation.as_ref().filter(|delegation| !delegation.servers.is_empty());
        let Some(parent) = asked.and_then(|delegation| delegation.zone.parent()) else { return false };
        frame.asked_parent = true;
        let delegation = find_delegation(cache, &parent, frame.qclass, now, &settings);
        frame.enter(delegation, &settings);
        true
    }

    /// Answers the top frame from the cache, following cached CNAMEs (restarting the frame).
    fn answer_from_cache(&mut self, cache: &Cache, now: Instant) -> FromCache {
        let max_chain = self.settings.max_cname_chain;
        let validating = self.validating;
        if std::mem::take(&mut self.refresh) && self.frames.len() == 1 {
            return FromCache::Miss;
        }
        let Some(frame) = self.frames.last_mut() else { return FromCache::Miss };
        if !frame.for_address && cache.failed(&frame.qname, frame.qtype, frame.qclass, now) {
            return FromCache::End(FrameEnd::Failed(Failure::FailureCached));
        }
        let min_trust = if frame.for_address { Trust::Glue } else { Trust::Answer };
        // A denial never validated has no proofs cached: a validating resolution asks again.
        let for_address = frame.for_address;
        let unproven = |hit: &crate::cache::Hit| validating && !for_address && hit.security == Security::Indeterminate;
        match cache.get(&frame.qname, frame.qtype, frame.qclass, now, false) {
            Some(Cached::Positive(set, hit)) if hit.trust >= min_trust => {
                frame.chain.push(set);
                return FromCache::End(FrameEnd::Answered(Rcode::NOERROR, Vec::new()));
            }
            Some(Cached::NxDomain(soa, hit)) if !unproven(&hit) => {
                let soa = with_proofs(frame, soa, None, validating, cache, now);
                return FromCache::End(FrameEnd::Answered(Rcode::NXDOMAIN, soa));
            }
            Some(Cached::NoData(soa, hit)) if !unproven(&hit) => {
                let soa = with_proofs(frame, soa, Some(frame.qtype), validating, cache, now);
                return FromCache::End(FrameEnd::Answered(Rcode::NOERROR, soa));
            }
            Some(Cached::NxDomain(..) | Cached::NoData(..)) => return FromCache::Miss,
            _ => {}
        }
        if frame.qtype == Rtype::CNAME {
            return FromCache::Miss;
        }
        let Some(Cached::Positive(cname, hit)) = cache.get(&frame.qname, Rtype::CNAME, frame.qclass, now, false) else { return FromCache::Miss };
        let Some(target) = cname.name_at(0).filter(|_| hit.trust >= Trust::Answer) else { return FromCache::Miss };
        // A CNAME synthesised from a cached DNAME comes after that DNAME (RFC 6672 §3.4).
        let dname = cache.covering_dname(&frame.qname, &target, frame.qclass, now, false);
        frame.chain.extend(dname.and_then(|owner| match cache.get(&owner, Rtype::DNAME, frame.qclass, now, false) {
            Some(Cached::Positive(set, _)) => Some(set),
            _ => None,
        }));
        frame.chain.push(cname);
        frame.links += 1;
        if frame.links > max_chain {
            return FromCache::End(FrameEnd::Failed(Failure::ChainTooLong));
        }
        frame.restart(target);
        FromCache::Followed
    }

    /// Pops the top frame: the client frame ends the resolution, an NS-name frame gives its
    /// addresses (or a failed lookup) to the frame below.
    fn finish_frame(&mut self, end: FrameEnd, cache: &Cache, now: Instant) -> Next {
        let Some(frame) = self.frames.pop() else { return Next::Done(self.abort(Failure::NoServers, cache, now)) };
        if self.frames.is_empty() && (self.validating || self.validation.is_some()) {
            if let Some(next) = self.validate_frame(frame.clone(), &end, cache, now) {
                return next;
            }
        }
        if self.frames.is_empty() {
            return match end {
                FrameEnd::Answered(rcode, authority) => {
                    let answer = frame.chain.into_iter().map(lowercase_owner).collect();
                    Next::Done(Resolved { answer, authority, ..Resolved::empty(rcode, None, self.queries) })
                }
                FrameEnd::Failed(Failure::ChainTooLong) => Next::Done(self.abort_with_chain(frame.chain, cache, now)),
                FrameEnd::Failed(failure) => Next::Done(self.abort(failure, cache, now)),
            };
        }
        if let FrameEnd::Failed(failure) = end {
            if matches!(failure, Failure::QueryLimit | Failure::ReferralLimit | Failure::Deadline) {
                return Next::Done(self.abort(failure, cache, now));
            }
            if failure != Failure::FailureCached {
                cache.record_failure(&frame.qname, frame.qtype, frame.qclass, now);
            }
        }
        let usable: Vec<SocketAddr> = frame
            .addresses()
            .into_iter()
            .filter(|addr| self.settings.may_query(*addr))
            .map(|addr| SocketAddr::new(addr, self.settings.upstream_port))
            .collect();
        if usable.is_empty() {
            self.nx_lookups += 1;
        }
        let port = self.settings.upstream_port;
        let parent_side: Vec<SocketAddr> =
            frame.parent_side.iter().filter(|addr| self.settings.may_query(**addr)).map(|addr| SocketAddr::new(*addr, port)).collect();
        if let Some(delegation) = self.frames.last_mut().and_then(|parent| parent.delegation.as_mut()) {
            usable.into_iter().for_each(|addr| delegation.add(addr));
            parent_side.into_iter().for_each(|addr| delegation.add_last_resort(addr));
        }
        Next::Continue
    }

    /// SERVFAIL for a CNAME/DNAME chain that loops or is too long, showing the chain gathered
    /// (each RRset once) so that the client can see the loop.
    fn abort_with_chain(&mut self, chain: Vec<Rrset>, cache: &Cache, now: Instant) -> Resolved {
        let mut resolved = self.abort(Failure::ChainTooLong, cache, now);
        for set in chain.into_iter().map(lowercase_owner) {
            if !resolved.answer.iter().any(|have| have.owner == set.owner && have.rtype == set.rtype && have.rdatas == set.rdatas) {
                resolved.answer.push(set);
            }
        }
        self.done = Some(resolved.clone());
        resolved
    }

    /// Acts on an accepted reply to `sent`.
    pub(super) fn process(&mut self, sent: &Sent, message: &Message<'_>, now: Instant, cache: &Cache, servers: &ServerStats) {
        if message.header().tc() && sent.transport == Transport::Udp {
            // RFC 2181 §9: the truncated data is not used; ask again over TCP.
            self.resend = Some(Resend { server: sent.server, transport: Transport::Tcp, edns: sent.edns });
            return;
        }
        let rcode = message.rcode();
        if sent.edns && (rcode == Rcode::FORMERR || rcode == Rcode::NOTIMP) {
            servers.set_no_edns(sent.server, now);
            self.resend = Some(Resend { server: sent.server, transport: sent.transport, edns: false });
            return;
        }
        let Some(frame) = self.frames.last_mut() else { return };
        frame.answered_by = Some(sent.server);
        let Some(zone) = frame.delegation.as_ref().map(|delegation| delegation.zone) else { return };
        let minimised = frame.minimised();
        let scrubbed = scrub(message, &sent.qname, sent.qtype, &zone, &self.settings);
        let end = if minimised { self.on_minimised(sent, scrubbed, now, cache) } else { self.on_full(sent, scrubbed, now, cache) };
        if let Some(end) = end {
            self.pending_end = Some(end);
        }
    }

    /// A reply to the full question.
    fn on_full(&mut self, sent: &Sent, scrubbed: Scrubbed, now: Instant, cache: &Cache) -> Option<FrameEnd> {
        let max_chain = self.settings.max_cname_chain;
        let negative_trust = if scrubbed.authoritative { Trust::AuthAuthority } else { Trust::Authority };
        if matches!(scrubbed.kind, Kind::Answer | Kind::Partial | Kind::NxDomain | Kind::NoData) || scrubbed.overflow {
            let trust = if scrubbed.authoritative { Trust::AuthAnswer } else { Trust::Answer };
            for set in &scrubbed.chain {
                cache.insert_rrset(set, trust, now);
            }
            let frame = self.frames.last_mut()?;
            frame.chain.extend(scrubbed.chain.iter().cloned());
            frame.proofs.extend(scrubbed.proofs.iter().cloned());
            frame.links += scrubbed.links;
            if frame.links > max_chain {
                return Some(FrameEnd::Failed(Failure::ChainTooLong));
            }
        }
        let soa = negative_authority(&scrubbed, cache);
        let frame = self.frames.last_mut()?;
        match scrubbed.kind {
            Kind::Answer => Some(FrameEnd::Answered(Rcode::NOERROR, Vec::new())),
            Kind::Partial if frame.chain.iter().any(|set| set.rtype == Rtype::CNAME && set.owner == scrubbed.end) => {
                // RFC 1034 §3.6.2: a CNAME loop is an error.
                Some(FrameEnd::Failed(Failure::ChainTooLong))
            }
            Kind::Partial => {
                frame.restart(scrubbed.end);
                None
            }
            Kind::NxDomain => {
                let denial = (scrubbed.soa.as_ref(), &scrubbed.proofs[..]);
                cache.insert_denial(&scrubbed.end, None, frame.qclass, denial, negative_trust, (Security::Indeterminate, 0), now);
                Some(FrameEnd::Answered(Rcode::NXDOMAIN, soa))
            }
            Kind::NoData => {
                let denial = (scrubbed.soa.as_ref(), &scrubbed.proofs[..]);
                cache.insert_denial(&scrubbed.end, Some(frame.qtype), frame.qclass, denial, negative_trust, (Security::Indeterminate, 0), now);
                Some(FrameEnd::Answered(Rcode::NOERROR, soa))
            }
            Kind::Referral => self.follow_referral(scrubbed, now, cache),
            Kind::Error(Rcode::YXDOMAIN) if scrubbed.overflow => Some(FrameEnd::Answered(Rcode::YXDOMAIN, Vec::new())),
            Kind::Lame | Kind::Error(_) => {
                self.server_failed(sent.server, false);
                None
            }
        }
    }

    /// A reply to a minimised question (RFC 9156 §3).
    fn on_minimised(&mut self, sent: &Sent, scrubbed: Scrubbed, now: Instant, cache: &Cache) -> Option<FrameEnd> {
        let settings = self.settings.clone();
        let frame = self.frames.last_mut()?;
        match scrubbed.kind {
            Kind::Referral => return self.follow_referral(scrubbed, now, cache),
            Kind::Answer | Kind::Partial | Kind::NoData => frame.next_label(&settings),
            Kind::NxDomain if settings.qname_minimisation_strict => {
                // RFC 8020: nothing exists below a name that does not exist.
                let negative_trust = if scrubbed.authoritative { Trust::AuthAuthority } else { Trust::Authority };
                cache.insert_negative(&frame.qname, None, frame.qclass, scrubbed.soa.as_ref(), negative_trust, now);
                return Some(FrameEnd::Answered(Rcode::NXDOMAIN, negative_soa(scrubbed.soa, cache)));
            }
            Kind::Lame | Kind::Error(_) if settings.qname_minimisation_strict => self.server_failed(sent.server, false),
            Kind::NxDomain | Kind::Lame | Kind::Error(_) => frame.minimise = None,
        }
        None
    }

    /// Follows a referral: caches the NS RRset (authority rank) and glue (glue rank), enters the
    /// child zone.
    fn follow_referral(&mut self, scrubbed: Scrubbed, now: Instant, cache: &Cache) -> Option<FrameEnd> {
        self.referrals += 1;
        if self.referrals > self.settings.max_referrals {
            return Some(FrameEnd::Failed(Failure::ReferralLimit));
        }
        let ns = scrubbed.ns?;
        cache.insert_rrset(&ns, Trust::Authority, now);
        if self.validating {
            self.note_referral(&ns.owner, scrubbed.ds.clone(), scrubbed.proofs.clone());
        }
        for set in &scrubbed.glue {
            cache.insert_rrset(set, Trust::Glue, now);
        }
        let delegation = delegation_from(&ns, &scrubbed.glue, cache, now, &self.settings);
        let settings = self.settings.clone();
        let frame = self.frames.last_mut()?;
        if frame.for_address {
            let own = scrubbed.glue.iter().filter(|set| set.owner == frame.qname);
            let addresses: Vec<IpAddr> = own.flat_map(|set| set.rdatas.iter().filter_map(|rdata| address_of(set.rtype, rdata))).collect();
            for addr in addresses {
                if !frame.parent_side.contains(&addr) {
                    frame.parent_side.push(addr);
                }
            }
        }
        frame.enter(delegation, &settings);
        None
    }
}

/// The authority section of a cached denial; when validating, the SOA gets its RRSIGs back and
/// the frame the denial's NSEC/NSEC3 RRsets.
fn with_proofs(frame: &mut Frame, soa: Option<Rrset>, rtype: Option<Rtype>, validating: bool, cache: &Cache, now: Instant) -> Vec<Rrset> {
    let mut soa: Vec<Rrset> = soa.into_iter().collect();
    if validating {
        let (sigs, proofs) = cache.denial_proofs(&frame.qname, rtype, frame.qclass, now);
        soa.iter_mut().for_each(|soa| soa.sigs.clone_from(&sigs));
        frame.proofs = proofs;
    }
    soa
}

/// The SOA for a negative answer's authority section, its TTL the negative TTL (RFC 2308 §3).
pub(super) fn negative_soa(soa: Option<Rrset>, cache: &Cache) -> Vec<Rrset> {
    soa.map(|mut soa| {
        soa.ttl = negative_ttl(&soa).min(cache.settings().max_negative_ttl);
        soa
    })
    .into_iter()
    .collect()
}

/// The authority section of a negative answer: the SOA and, when the reply carried it, the zone's
/// NS RRset (RFC 2308 §3 allows both; shown to the client, not cached: a child's NS RRset must not
/// refresh the parent's delegation).
fn negative_authority(scrubbed: &Scrubbed, cache: &Cache) -> Vec<Rrset> {
    let mut authority = negative_soa(scrubbed.soa.clone(), cache);
    let zone_ns = scrubbed.ns.as_ref().filter(|ns| scrubbed.soa.as_ref().is_some_and(|soa| soa.owner == ns.owner));
    authority.extend(zone_ns.cloned().map(lowercase_owner));
    authority
}

/// The RRset with its owner lower-cased.
pub(super) fn lowercase_owner(mut set: Rrset) -> Rrset {
    set.owner = set.owner.to_lowercase();
    set
}
