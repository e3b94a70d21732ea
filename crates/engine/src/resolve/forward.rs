//! [`Forwarding`]: a client question sent to an [`UpstreamGroup`] with RD=1 and the answer taken
//! as the upstream gives it, as a sans-IO state machine with the driver interface of
//! [`Resolution`](super::Resolution) (DESIGN §5.10), except that several queries may be in
//! flight (hedging).
//!
//! - Forward zones ([`ForwardZones`]): the longest zone suffix of the question's name wins;
//!   `.` forwards everything. `forward-only` answers SERVFAIL when the group fails;
//!   `forward-first` falls back to iterative resolution (the driver's job).
//! - Queries: random ID, 0x20 case (dropped for an upstream that does not echo it), OPT, RD=1;
//!   replies accepted only from the upstream asked with the ID and exact question
//!   (RFC 5452 §9.1); TC over UDP asks the same upstream over TCP (RFC 7766).
//! - Scrubbing: the answer keeps only the chain from the question (CNAME/DNAME links and the data
//!   at its end) and, for negative answers, the SOA at or above the end of the chain; nothing
//!   else from the reply is used or cached.
//! - Failures (timeout, unreachable, SERVFAIL, REFUSED, malformed, lame): reported to the group's
//!   passive health check, then the next upstream is asked, each at most once per question. A
//!   referral (an upstream that does not recurse) is passed on to the client with its glue, as
//!   Unbound does, and not cached.
//! - Hedging: when the group says so ([`UpstreamGroup::hedge_delay_ms`]), a second upstream is
//!   asked while the first is still silent; the first useful answer wins and the other query
//!   is abandoned.

use super::process::{lowercase_owner, negative_soa};
use super::query::{build_query, build_query_with, check_reply, randomise_case, Match, Sent};
use super::scrub::{scrub, Kind};
use super::stats::ServerStats;
use super::upstreams::{FailureKind, UpstreamGroup};
use super::{Failure, Outbound, QueryId, Random, Resolved, ResolverSettings, Step, Verbatim};
use crate::base::Instant;
use crate::cache::{Cache, Security, Trust};
use crate::Transport;
use portcullis_wire::message::{Message, Question};
use portcullis_wire::{NameBuf, Rcode, Rtype};
use smallvec::SmallVec;
use std::net::SocketAddr;
use std::sync::Arc;

/// What happens when every upstream of the group failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardMode {
    /// SERVFAIL.
    #[default]
    Only,
    /// Resolve iteratively from the root instead.
    First,
}

impl ForwardMode {
    /// `forward-only` or `forward-first`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "forward-only" => Some(Self::Only),
            "forward-first" => Some(Self::First),
            _ => None,
        }
    }
}

/// The forward zones, each with a value `T` (the driver keeps the zone's group in it).
#[derive(Debug)]
pub struct ForwardZones<T> {
    zones: Vec<(NameBuf, ForwardMode, T)>,
}

impl<T> Default for ForwardZones<T> {
    fn default() -> Self {
        Self { zones: Vec::new() }
    }
}

impl<T> ForwardZones<T> {
    /// An empty set (nothing forwarded).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `zone` (lower-cased); a zone added twice keeps its first entry.
    pub fn insert(&mut self, zone: NameBuf, mode: ForwardMode, value: T) {
        let zone = zone.to_lowercase();
        if !self.zones.iter().any(|(have, _, _)| *have == zone) {
            self.zones.push((zone, mode, value));
        }
    }

    /// The zone with the longest suffix of `qname`.
    pub fn lookup(&self, qname: &NameBuf) -> Option<(&NameBuf, ForwardMode, &T)> {
        self.zones
            .iter()
            .filter(|(zone, _, _)| qname.is_subdomain_of(zone))
            .max_by_key(|(zone, _, _)| zone.label_count())
            .map(|(zone, mode, value)| (zone, *mode, value))
    }

    /// Every zone.
    pub fn iter(&self) -> impl Iterator<Item = (&NameBuf, ForwardMode, &T)> {
        self.zones.iter().map(|(zone, mode, value)| (zone, *mode, value))
    }

    /// True when nothing is forwarded.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}

/// One query in flight to an upstream of the group.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    sent: Sent,
    upstream: usize,
}

/// A query to repeat at once to the same upstream (TC → TCP, no 0x20, no EDNS).
#[derive(Clone, Copy, Debug)]
struct Resend {
    upstream: usize,
    transport: Transport,
    edns: bool,
}

/// One client question being forwarded.
pub struct Forwarding {
    question: Question,
    settings: Arc<ResolverSettings>,
    random: Box<dyn Random + Send>,
    deadline: Instant,
    /// Inline: a question rarely has more than two queries out, or tries more than four upstreams.
    in_flight: SmallVec<[InFlight; 2]>,
    tried: SmallVec<[usize; 4]>,
    resend: Option<Resend>,
    hedge_at: Option<Instant>,
    hedged: bool,
    next_id: u32,
    queries: u32,
    unwanted: u32,
    fail_open: bool,
    cache_answers: bool,
    finished: bool,
    done: Option<Resolved>,
    /// Validation of the answers (`forward_validate.rs`).
    pub(super) check: super::forward_validate::Check,
}

impl Forwarding {
    /// Starts forwarding `question` at `now`.
    pub fn new(question: Question, settings: Arc<ResolverSettings>, now: Instant, random: Box<dyn Random + Send>) -> Self {
        let deadline = now.plus_millis(settings.total_time_ms);
        Self {
            question,
            settings,
            random,
            deadline,
            in_flight: SmallVec::new(),
            tried: SmallVec::new(),
            resend: None,
            hedge_at: None,
            hedged: false,
            next_id: 0,
            queries: 0,
            unwanted: 0,
            fail_open: true,
            cache_answers: true,
            finished: false,
            done: None,
            check: super::forward_validate::Check::new(now),
        }
    }

    /// With `false`, a question whose only untried upstreams are down fails at once instead of
    /// asking them anyway (`forward-first`: the fallback is better than a likely timeout).
    pub fn with_fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// With `false`, answers are not stored in the cache (the zone's `cache = false`: every
    /// client question goes to an upstream).
    pub fn with_cache(mut self, cache_answers: bool) -> Self {
        self.cache_answers = cache_answers;
        self
    }

    /// The client's question (also while validation asks for a DS or DNSKEY RRset).
    pub fn question(&self) -> &Question {
        self.check.client().unwrap_or(&self.question)
    }

    /// Upstream queries sent so far.
    pub fn upstream_queries(&self) -> u32 {
        self.queries
    }

    /// Replies discarded because they matched no query in flight.
    pub fn unwanted_replies(&self) -> u32 {
        self.unwanted
    }

    /// True while query `id` is in flight (a reply to it may still be taken).
    pub fn is_in_flight(&self, id: QueryId) -> bool {
        !self.finished && self.in_flight.iter().any(|query| query.sent.id == id)
    }

    /// Advances: a query to send, a deadline to wait for, or the result.
    pub fn poll(&mut self, now: Instant, cache: &Cache, group: &mut UpstreamGroup, servers: &ServerStats) -> Step {
        if self.finished {
            // The result once; a poll after that (none of the drivers does) says SERVFAIL.
            return Step::Done(self.done.take().unwrap_or_else(|| Resolved::servfail(Failure::NoServers, self.queries)));
        }
        if now >= self.deadline {
            return Step::Done(self.fail(Failure::Deadline, cache, now, group));
        }
        let expired: Vec<QueryId> = self.in_flight.iter().filter(|query| query.sent.deadline <= now).map(|query| query.sent.id).collect();
        for id in expired {
            self.on_failure(id, FailureKind::Timeout, now, group);
        }
        if let Some(resend) = self.resend.take() {
            return self.send(resend.upstream, (resend.transport, resend.edns), now, (cache, group), servers);
        }
        if self.in_flight.is_empty() {
            if self.queries >= self.settings.max_upstream_queries {
                return Step::Done(self.fail(Failure::QueryLimit, cache, now, group));
            }
            let allowed = self.fail_open || group.has_healthy(&self.tried);
            let Some(upstream) = allowed.then(|| group.pick(&self.tried, self.random.as_mut())).flatten() else {
                return Step::Done(self.fail(Failure::NoServers, cache, now, group));
            };
            self.tried.push(upstream);
            self.hedge_at = group.hedge_delay_ms().map(|delay| now.plus_millis(delay));
            let transport = group.settings().transport;
            return self.send(upstream, (transport, true), now, (cache, group), servers);
        }
        if !self.hedged && self.in_flight.len() == 1 && self.hedge_at.is_some_and(|at| at <= now) && self.queries < self.settings.max_upstream_queries {
            self.hedged = true;
            if let Some(upstream) = group.pick(&self.tried, self.random.as_mut()) {
                self.tried.push(upstream);
                let transport = group.settings().transport;
                return self.send(upstream, (transport, true), now, (cache, group), servers);
            }
        }
        let mut wake = self.in_flight.iter().map(|query| query.sent.deadline).min().unwrap_or(self.deadline).min(self.deadline);
        if let Some(at) = self.hedge_at.filter(|_| !self.hedged) {
            wake = wake.min(at);
        }
        Step::Wait(wake)
    }

    /// A message arrived from `from` for query `id`. (The same arguments as
    /// [`Resolution::on_reply`](super::Resolution::on_reply), plus the group.)
    #[allow(clippy::too_many_arguments)]
    pub fn on_reply(&mut self, id: QueryId, from: SocketAddr, bytes: &[u8], now: Instant, cache: &Cache, group: &mut UpstreamGroup, servers: &ServerStats) {
        let Some(position) = self.in_flight.iter().position(|query| query.sent.id == id).filter(|_| !self.finished) else {
            self.unwanted += 1;
            servers.record_stray();
            return;
        };
        let InFlight { sent, upstream } = self.in_flight[position];
        match check_reply(&sent, from, bytes) {
            Match::Stray => {
                self.unwanted += 1;
                servers.record_stray();
            }
            Match::NearMiss => {
                self.unwanted += 1;
                servers.record_unwanted(sent.server, self.settings.unwanted_to_tcp, now);
            }
            Match::CaseMismatch => {
                self.in_flight.swap_remove(position);
                // The resend keeps the upstream's in-flight slot.
                self.unwanted += 1;
                servers.set_no_0x20(sent.server, now);
                self.resend = Some(Resend { upstream, transport: sent.transport, edns: sent.edns });
            }
            Match::Malformed => self.on_failure(id, FailureKind::Malformed, now, group),
            Match::Accept(message) => self.accept(position, &message, now, cache, group, servers),
        }
    }

    /// Query `id` failed at once (unreachable, connection closed) or timed out.
    pub fn on_timeout(&mut self, id: QueryId, now: Instant, group: &mut UpstreamGroup) {
        let kind =
            if self.in_flight.iter().any(|query| query.sent.id == id && query.sent.deadline <= now) { FailureKind::Timeout } else { FailureKind::Unreachable };
        self.on_failure(id, kind, now, group);
    }

    fn on_failure(&mut self, id: QueryId, kind: FailureKind, now: Instant, group: &mut UpstreamGroup) {
        let Some(position) = self.in_flight.iter().position(|query| query.sent.id == id) else { return };
        let query = self.in_flight.swap_remove(position);
        group.on_failure(query.upstream, kind, now);
    }

    fn accept(&mut self, position: usize, message: &Message<'_>, now: Instant, cache: &Cache, group: &mut UpstreamGroup, servers: &ServerStats) {
        let InFlight { sent, upstream } = self.in_flight[position];
        let rtt = now.as_millis().saturating_sub(sent.sent_at.as_millis());
        if message.header().tc() && sent.transport == Transport::Udp {
            self.in_flight.swap_remove(position);
            // The resend keeps the upstream's in-flight slot.
            self.resend = Some(Resend { upstream, transport: Transport::Tcp, edns: sent.edns });
            return;
        }
        let rcode = message.rcode();
        if sent.edns && (rcode == Rcode::FORMERR || rcode == Rcode::NOTIMP) {
            self.in_flight.swap_remove(position);
            // The resend keeps the upstream's in-flight slot.
            servers.set_no_edns(sent.server, now);
            self.resend = Some(Resend { upstream, transport: sent.transport, edns: false });
            return;
        }
        if let Some(verbatim) = self.verbatim(message) {
            self.in_flight.swap_remove(position);
            group.on_success(upstream, rtt, now);
            let resolved = Resolved { verbatim: Some(verbatim), ..Resolved::empty(rcode, None, self.queries) };
            return self.finish_later(resolved, group);
        }
        let scrubbed = scrub(message, &sent.qname, sent.qtype, &NameBuf::ROOT, &self.settings);
        let failure = match scrubbed.kind {
            Kind::Error(Rcode::SERVFAIL) => Some(FailureKind::ServFail),
            Kind::Error(Rcode::REFUSED) => Some(FailureKind::Refused),
            Kind::Error(_) => Some(FailureKind::Malformed),
            Kind::Lame => Some(FailureKind::Lame),
            Kind::Answer | Kind::Partial | Kind::NxDomain | Kind::NoData | Kind::Referral => None,
        };
        if let Some(kind) = failure {
            self.on_failure(sent.id, kind, now, group);
            return;
        }
        self.in_flight.swap_remove(position);
        group.on_success(upstream, rtt, now);
        if self.cache_answers {
            for set in &scrubbed.chain {
                cache.insert_rrset(set, Trust::Answer, now);
            }
        }
        let negative_type = match scrubbed.kind {
            Kind::NxDomain => Some(None),
            Kind::NoData => Some(Some(self.question.qtype)),
            _ => None,
        };
        if let (Some(qtype), true) = (negative_type, self.cache_answers) {
            let denial = (scrubbed.soa.as_ref(), &scrubbed.proofs[..]);
            cache.insert_denial(&scrubbed.end, qtype, self.question.qclass, denial, Trust::Authority, (Security::Indeterminate, 0), now);
        }
        let proofs = scrubbed.proofs;
        let (rcode, authority, additional) = match (negative_type, scrubbed.kind) {
            (Some(None), _) => (Rcode::NXDOMAIN, negative_soa(scrubbed.soa, cache), Vec::new()),
            (Some(Some(_)), _) => (Rcode::NOERROR, negative_soa(scrubbed.soa, cache), Vec::new()),
            // An upstream that does not recurse: its referral is passed on, as Unbound does (not cached).
            (None, Kind::Referral) => {
                (Rcode::NOERROR, scrubbed.ns.into_iter().map(lowercase_owner).collect(), scrubbed.glue.into_iter().map(lowercase_owner).collect())
            }
            (None, _) => (Rcode::NOERROR, Vec::new(), Vec::new()),
        };
        let answer = scrubbed.chain.into_iter().map(lowercase_owner).collect();
        let resolved = Resolved { answer, authority, additional, ..Resolved::empty(rcode, None, self.queries) };
        if self.check.validating {
            return self.validate(resolved, proofs, cache, now, group);
        }
        self.finish_later(resolved, group);
    }

    /// The reply as it is, when this zone does not cache and the reply is plainly good: an
    /// answer, or NXDOMAIN. Nothing is cached, so nothing needs scrubbing; the client gets what
    /// the upstream said, as from dnsdist. Empty NOERROR replies (NODATA, referrals, lame
    /// servers) are classified as usual, and rebinding protection needs the records read. So
    /// is an answer to ANY: the client gets one RRset of it, as from the cache (RFC 8482 §4,
    /// SECURITY-REFERENCE §6 row 64), never the whole set an upstream may send.
    fn verbatim(&self, message: &Message<'_>) -> Option<Verbatim> {
        let plain = match message.rcode() {
            Rcode::NXDOMAIN => true,
            Rcode::NOERROR => message.header().ancount() > 0,
            _ => false,
        };
        let any = self.question.qtype == Rtype::ANY;
        if self.cache_answers || !plain || any || self.settings.rebinding_protection || self.check.validating {
            return None;
        }
        Verbatim::of(message)
    }

    /// Builds and records a query to `upstream`.
    fn send(
        &mut self,
        upstream: usize,
        (transport, allow_edns): (Transport, bool),
        now: Instant,
        (cache, group): (&Cache, &mut UpstreamGroup),
        servers: &ServerStats,
    ) -> Step {
        let Some(server) = group.addr(upstream) else { return Step::Done(self.fail(Failure::NoServers, cache, now, group)) };
        let state = servers.get_at(server, now);
        // An encrypted transport is never traded for cleartext TCP (RFC 8310 §5: strict).
        let transport = if state.tcp_only && transport == Transport::Udp { Transport::Tcp } else { transport };
        let edns = allow_edns && self.settings.edns_payload > 0 && !state.no_edns;
        let qtype = self.question.qtype;
        let case_randomised = self.settings.use_0x20 && !state.no_0x20 && qtype != Rtype::PTR;
        let qname = if case_randomised { randomise_case(&self.question.qname, self.random.as_mut()) } else { self.question.qname };
        let mut id_bytes = [0u8; 2];
        self.random.fill(&mut id_bytes);
        let wire_id = u16::from_be_bytes(id_bytes);
        let dnssec_ok = edns && self.check.validating;
        let mut bytes = build_query_with(wire_id, &qname, qtype, self.question.qclass, edns.then_some(self.settings.edns_payload), dnssec_ok);
        if let Some(flags) = bytes.get_mut(2) {
            *flags |= 0x01; // RD: the upstream recurses for us.
        }
        let id = QueryId(self.next_id);
        self.next_id += 1;
        let deadline = now.plus_millis(group.timeout_ms(upstream)).min(self.deadline);
        let sent = Sent { id, wire_id, server, transport, qname, qtype, qclass: self.question.qclass, edns, case_randomised, sent_at: now, deadline };
        self.in_flight.push(InFlight { sent, upstream });
        self.queries += 1;
        Step::Send(Outbound { id, server, transport, bytes, deadline })
    }

    /// Gives the question up (the driver hands it to another one): the upstreams' in-flight
    /// slots are released; the forwarding answers nothing after this.
    pub fn abandon(&mut self, group: &mut UpstreamGroup) {
        if let Some(resend) = self.resend.take() {
            group.release(resend.upstream);
        }
        self.end(group);
    }

    /// Ends the forwarding in SERVFAIL for `failure`, abandoning the queries still in flight; a
    /// validation under way is given up ([`Validation::abandon`](super::validate::Validation::abandon):
    /// the answer it was validating, cached already, is not served as good).
    fn fail(&mut self, failure: Failure, cache: &Cache, now: Instant, group: &mut UpstreamGroup) -> Resolved {
        self.check.abandon(cache, now);
        self.end(group);
        Resolved::servfail(failure, self.queries)
    }

    /// Asks `question` next, from the start of the group (a DS or DNSKEY RRset validation
    /// needs); the queries still in flight are abandoned, the budget goes on.
    pub(super) fn restart(&mut self, question: Question, group: &mut UpstreamGroup) {
        for query in self.in_flight.drain(..) {
            group.release(query.upstream);
        }
        if let Some(resend) = self.resend.take() {
            group.release(resend.upstream);
        }
        self.question = question;
        self.tried.clear();
        self.hedge_at = None;
        self.hedged = false;
    }

    /// The settings in force.
    pub(super) fn settings(&self) -> &ResolverSettings {
        &self.settings
    }

    /// The question being asked now (the client's, or a lookup of the validation).
    pub(super) fn asking(&self) -> Question {
        self.question
    }

    /// Ends the forwarding with `resolved`, kept for the next poll.
    pub(super) fn finish_later(&mut self, resolved: Resolved, group: &mut UpstreamGroup) {
        self.end(group);
        self.done = Some(resolved);
    }

    /// Releases the queries still in flight; nothing is accepted after this.
    fn end(&mut self, group: &mut UpstreamGroup) {
        for query in self.in_flight.drain(..) {
            group.release(query.upstream);
        }
        self.finished = true;
    }
}

/// Validated settings of one forward zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardSettings {
    /// The zone (`.` for everything).
    pub zone: NameBuf,
    /// What happens when the group fails.
    pub mode: ForwardMode,
    /// The upstream group.
    pub group: super::upstreams::GroupSettings,
    /// The query sent to a down upstream to see whether it is back.
    pub probe: Question,
    /// Store the group's answers in the cache (and so answer repeats from it).
    pub cache: bool,
    /// Validate the group's answers (DNSSEC), fetching DS and DNSKEY RRsets from the group.
    pub validate: bool,
    /// How the upstreams of an encrypted group (`transport` TLS, HTTPS or QUIC) are
    /// authenticated; `None` for UDP and TCP groups.
    pub tls: Option<UpstreamTls>,
}

/// The authentication of encrypted upstreams (RFC 8310 §8: strict privacy): the name the
/// certificate must be valid for (sent as SNI, never the address), the roots it must chain to,
/// and optional SPKI pins (RFC 7858 §4.2). Plain data: the I/O layer makes the TLS client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamTls {
    /// The upstream's name (`tls-name`).
    pub name: String,
    /// The trusted roots, DER (from `tls-ca`, or the system's roots).
    pub roots: Vec<Vec<u8>>,
    /// SHA-256 digests of the accepted SubjectPublicKeyInfo (`tls-pin`); empty: any key.
    pub pins: Vec<[u8; 32]>,
}

/// A probe query: the probe question with `wire_id`, RD=1, no EDNS, no 0x20.
pub fn probe_query(probe: &Question, wire_id: u16) -> Vec<u8> {
    let mut bytes = build_query(wire_id, &probe.qname, probe.qtype, probe.qclass, None);
    if let Some(flags) = bytes.get_mut(2) {
        *flags |= 0x01;
    }
    bytes
}

/// True when `reply` shows that the upstream asked `query` (a [`probe_query`]) is alive: it
/// answers the query (same ID, QR, same question, or a bare error; [`Message::answers`]) with any
/// rcode but SERVFAIL, as dnsdist's default health check judges. An authoritative server that
/// REFUSES the probe's name is alive; whether its answers are good is for passive health to say.
pub fn probe_reply_ok(query: &[u8], reply: &[u8]) -> bool {
    let (Ok(query), Ok(reply)) = (Message::parse(query), Message::parse(reply)) else { return false };
    reply.answers(&query) && reply.rcode() != Rcode::SERVFAIL
}

#[cfg(test)]
mod tests {
    use super::{probe_query, probe_reply_ok};
    use portcullis_wire::message::Question;
    use portcullis_wire::{Class, NameBuf, Rcode, Rtype};

    fn root_soa() -> Question {
        Question { qname: NameBuf::ROOT, qtype: Rtype::SOA, qclass: Class::IN }
    }

    /// `query` turned into a reply with `rcode` (QR set, the question kept).
    fn reply(query: &[u8], rcode: Rcode) -> Vec<u8> {
        let mut bytes = query.to_vec();
        bytes[2] |= 0x80;
        bytes[3] = (bytes[3] & 0xf0) | (rcode.0 as u8 & 0x0f);
        bytes
    }

    #[test]
    fn any_matching_reply_but_servfail_proves_the_upstream_alive() {
        let query = probe_query(&root_soa(), 0x4242);
        for rcode in [Rcode::NOERROR, Rcode::NXDOMAIN, Rcode::REFUSED, Rcode::NOTIMP, Rcode::FORMERR] {
            assert!(probe_reply_ok(&query, &reply(&query, rcode)), "{rcode}");
        }
        assert!(!probe_reply_ok(&query, &reply(&query, Rcode::SERVFAIL)));
    }

    #[test]
    fn a_reply_to_something_else_proves_nothing() {
        let query = probe_query(&root_soa(), 0x4242);
        let other_id = probe_query(&root_soa(), 0x4243);
        let other_question = probe_query(&Question { qtype: Rtype::NS, ..root_soa() }, 0x4242);
        assert!(!probe_reply_ok(&query, &reply(&other_id, Rcode::NOERROR)));
        assert!(!probe_reply_ok(&query, &reply(&other_question, Rcode::REFUSED)));
        assert!(!probe_reply_ok(&query, &query), "QR=0");
        assert!(!probe_reply_ok(&query, &reply(&query, Rcode::REFUSED)[..11]), "shorter than a header");
    }
}
