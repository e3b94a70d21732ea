//! [`Engine`]: the query pipeline of DESIGN §4.4 as one plain function, over an immutable
//! snapshot of zones, settings and policy. The I/O layer swaps whole engines on reload; counters
//! live in an `Arc` shared across versions.
//!
//! Order of the stages: header checks (drop) → parse (FORMERR) → cookies (RFC 7873) → query
//! limiter (TC=1 or drop; `limits.rs`) → TSIG → opcode, counts and EDNS version → class → zone
//! and ACL → answer → OPT → response rate limiting (`limits.rs`) → TSIG signature.
//!
//! One path sets up and finishes every reply: [`Engine::query`] builds the query's
//! [`ReplyFrame`] (question, EDNS, cookie, size limit, RA, keepalive) and what was decided about
//! its client; the TSIG check says [`tsig::TsigVerdict`]; the answer is written into the frame
//! (which closes it with OPT); [`Engine::finish`] applies RRL and signs. A resolved reply
//! (`recurse.rs`) takes the same path.
//!
//! Recursion (DESIGN §4.4 step f): a name in no served zone, asked with RD=1 by a client the
//! recursion ACL allows, is answered from the shared [`Cache`] on the worker (no allocation) or
//! handed back as [`Outcome::Resolve`]; the resolver pool answers it later through
//! [`Engine::respond_resolved`], which finishes the reply like any other (OPT, cookie, TC, RRL).
//! Clients the ACL does not allow get REFUSED with RA=0 (RFC 5358); allowed clients see RA=1 on
//! every reply, authoritative ones included.

use crate::auth::{write_answer_traced, AnswerKind, AnswerOptions, ZoneSet};
use crate::cache::Cache;
use crate::metrics::EngineCounters;
use crate::policy::tsig::Signer;
use crate::policy::{Acl, Action, CookieAction, CookieStatus, Cookies, Keyring, QueryLimiter, ResponseKind, Rrl, Verdict};
use crate::reply::{ReplyFrame, Shape, MIN_UDP_PAYLOAD};
use crate::request::{DropReason, Outcome, Request, Transport};
use portcullis_wire::edns::Edns;
use portcullis_wire::header::Header;
use portcullis_wire::message::{read_question, Message, Question, Section};
use portcullis_wire::{Class, NameBuf, Opcode, Rcode, Rtype};
use std::sync::Arc;

mod limits;
mod missing;
mod notify;
mod recurse;
mod replay;
mod reply_cache;
mod rpz;
mod transfer;
mod tsig;
mod update;

use tsig::{TsigUse, TsigVerdict};

pub use crate::settings::EngineSettings;
pub use notify::{NotifyHook, Secondaries};
use replay::{Trace, Tracer};
pub use reply_cache::ReplyCache;
pub use update::{UpdateZone, UpdateZones};

/// The policy units consulted by the pipeline.
#[derive(Debug)]
pub struct Policy {
    /// Who may do what, for listeners without rules of their own.
    pub acl: Acl,
    /// Per listener (by `Request::listener`), when listener rules are configured.
    pub listener_acls: Vec<Acl>,
    /// Response rate limiting, for clients outside the recursion ACL; shared, so that a reload
    /// with the same RRL settings keeps its accounts (the server hands the same one over).
    pub rrl: Arc<Rrl>,
    /// The per-prefix UDP query limiter, for clients outside the recursion ACL (off by default).
    pub query_limit: QueryLimiter,
    /// Server cookies; `None` when `answer-cookie` is off.
    pub cookies: Option<Cookies>,
    /// TSIG keys (none: every signed request is BADKEY).
    pub keys: Keyring,
}

impl Policy {
    /// The ACL for a listener.
    pub fn acl_for(&self, listener: u16) -> &Acl {
        self.listener_acls.get(usize::from(listener)).unwrap_or(&self.acl)
    }

    /// Default ACL, no cookies, no RRL and no query limiter (they need a secret hash key: the
    /// server builds its policy with one, and RRL on by default).
    pub fn defaults() -> Self {
        let acl = Acl::new(&crate::policy::AclSettings::default(), None).unwrap_or_else(|_| unreachable_default_acl());
        let rrl = Arc::new(Rrl::new(&crate::policy::RrlSettings::OFF, [0; 16], Arc::default()));
        let query_limit = QueryLimiter::new(&crate::policy::QueryLimitSettings::DEFAULT, [0; 16]);
        Self { acl, listener_acls: Vec::new(), rrl, query_limit, cookies: None, keys: Keyring::default() }
    }
}

/// Everything needed to answer queries; immutable once built.
#[derive(Debug)]
pub struct Engine {
    zones: ZoneSet,
    settings: EngineSettings,
    counters: Arc<EngineCounters>,
    /// Shared by the engines [`Engine::with_zones`] makes (RRL state included).
    policy: Arc<Policy>,
    recursion: Option<Recursion>,
    secondaries: Secondaries,
    /// The zones that take dynamic updates, with their update policies.
    updates: UpdateZones,
    /// Primary zones configured whose file did not load ([`Engine::with_unloaded`]).
    unloaded: Arc<[NameBuf]>,
    /// Something asks who the client is: RRL, the query limiter or recursion is on (when
    /// none is, [`Engine::client_flags`] skips the ACL check).
    checks_client: bool,
}

/// The resolver's side of the engine: the cache, shared across reloads with the resolver pool.
#[derive(Clone)]
pub struct Recursion {
    /// The cache answered from on the worker and filled by resolutions.
    pub cache: Arc<Cache>,
    /// The tunnelling detector every recursive query passes, cache hits included (issue 16).
    pub tunnel: Option<Arc<crate::policy::tunnel::TunnelDetector>>,
    /// The domain shadowing detector every resolved answer passes.
    pub shadow: Option<Arc<crate::policy::shadow::ShadowDetector>>,
    /// Response policy zones and blocklists, consulted by every recursive query (`engine/rpz.rs`).
    pub rpz: Option<Arc<crate::policy::rpz::Rpz>>,
}

impl Recursion {
    /// The same unit for an engine over `zones`: policy zones whose snapshot changed are
    /// compiled again.
    fn over(&self, zones: &ZoneSet) -> Self {
        let rpz = self.rpz.as_ref().map(|rpz| rpz.refreshed(zones).map_or_else(|| rpz.clone(), Arc::new));
        Self { rpz, ..self.clone() }
    }
}

impl std::fmt::Debug for Recursion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recursion").field("cached", &self.cache.len()).finish()
    }
}

/// A reply before rate limiting: what it was, for RRL accounting and slips.
#[derive(Clone, Copy)]
struct Answered {
    outcome: Outcome,
    kind: ResponseKind,
    name_hash: u64,
}

/// One query on its way through the pipeline: the frame of its reply and what was decided about
/// its client. Built once per query by [`Engine::query`].
struct Query<'q> {
    frame: ReplyFrame<'q>,
    /// What the cookie check decided.
    cookie_action: CookieAction,
    /// The query's cookie verdict (`None` without a COOKIE option or with cookies off).
    cookie_status: Option<CookieStatus>,
    /// The client presented a valid server cookie.
    cookie_valid: bool,
    /// The request is signed with this TSIG key (its index in the keyring), verified.
    key: Option<u16>,
    /// Response rate limiting accounts this reply: RRL is on and the client is outside the
    /// recursion ACL.
    rate_limited: bool,
    /// The query limiter applies: UDP from outside the recursion ACL without a valid cookie.
    limited: bool,
    /// What the reply cache needs to know of how this reply was made (`replay.rs`).
    trace: Tracer,
}

impl Engine {
    /// An engine over `zones` with the default policy.
    pub fn new(zones: ZoneSet, settings: EngineSettings, counters: Arc<EngineCounters>) -> Self {
        Self::with_policy(zones, settings, counters, Policy::defaults())
    }

    /// An engine with its policy units.
    pub fn with_policy(zones: ZoneSet, settings: EngineSettings, counters: Arc<EngineCounters>, policy: Policy) -> Self {
        let checks_client = policy.rrl.settings().enabled || policy.query_limit.settings().enabled;
        let (policy, secondaries, unloaded) = (Arc::new(policy), Secondaries::default(), missing::none());
        let updates = UpdateZones::default();
        Self { zones, settings, counters, policy, recursion: None, secondaries, updates, unloaded, checks_client }
    }

    /// The same engine over `zones` (a secondary zone transferred anew): settings, policy,
    /// counters, recursion and secondaries shared.
    pub fn with_zones(&self, zones: ZoneSet) -> Self {
        Self {
            recursion: self.recursion.as_ref().map(|recursion| recursion.over(&zones)),
            zones,
            settings: self.settings.clone(),
            counters: self.counters.clone(),
            policy: self.policy.clone(),
            secondaries: self.secondaries.clone(),
            updates: self.updates.clone(),
            unloaded: self.unloaded.clone(),
            checks_client: self.checks_client,
        }
    }

    /// The same engine with `rpz` consulted by every recursive query (no effect without
    /// recursion: call after [`Engine::with_recursion`]).
    pub fn with_rpz(mut self, rpz: Arc<crate::policy::rpz::Rpz>) -> Self {
        if let Some(recursion) = &mut self.recursion {
            recursion.rpz = Some(rpz);
        }
        self
    }

    /// The same engine, secondary for `secondaries`: a NOTIFY for one of them that the ACL
    /// allows is answered and handed to `hook` ([`Secondaries`]).
    pub fn with_secondaries(mut self, secondaries: Secondaries) -> Self {
        self.secondaries = secondaries;
        self
    }

    /// The same engine, taking dynamic updates for `updates` ([`UpdateZones`]).
    pub fn with_updates(mut self, updates: UpdateZones) -> Self {
        self.updates = updates;
        self
    }

    /// The same engine with recursion on, answering from and resolving into `cache`.
    pub fn with_recursion(mut self, cache: Arc<Cache>) -> Self {
        self.recursion = Some(Recursion { cache, tunnel: None, shadow: None, rpz: None });
        self.checks_client = true;
        self
    }

    /// The same engine with `detector` looking at every resolved answer (no effect without
    /// recursion).
    pub fn with_shadow_detector(mut self, detector: Arc<crate::policy::shadow::ShadowDetector>) -> Self {
        if let Some(recursion) = &mut self.recursion {
            recursion.shadow = Some(detector);
        }
        self
    }

    /// The same engine with `detector` looking at every recursive query (no effect without
    /// recursion: call after [`Engine::with_recursion`]).
    pub fn with_tunnel_detector(mut self, detector: Arc<crate::policy::tunnel::TunnelDetector>) -> Self {
        if let Some(recursion) = &mut self.recursion {
            recursion.tunnel = Some(detector);
        }
        self
    }

    /// The recursion unit, when recursion is on.
    pub fn recursion(&self) -> Option<&Recursion> {
        self.recursion.as_ref()
    }

    /// True when `request`'s client may recurse (recursion on and the ACL allows it).
    #[inline]
    pub fn recursion_allowed(&self, request: &Request<'_>) -> bool {
        self.recursion.is_some() && self.recursion_client(request)
    }

    /// True when the recursion ACL allows `request`'s address (whether recursion is on or not).
    #[inline]
    fn recursion_client(&self, request: &Request<'_>) -> bool {
        self.policy.acl_for(request.listener).allows(request.peer.ip(), Action::Recursion, None)
    }

    /// The zones served.
    pub fn zones(&self) -> &ZoneSet {
        &self.zones
    }

    /// The counters (shared across reloads).
    pub fn counters(&self) -> &Arc<EngineCounters> {
        &self.counters
    }

    /// The settings.
    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// The policy units.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Reads ahead the zone data that answering `queries` (a batch of raw received queries)
    /// will read, so that its cache misses overlap ([`crate::auth::warm`]).
    pub fn warm<'q>(&self, queries: impl Iterator<Item = &'q [u8]>) {
        crate::auth::warm::warm(&self.zones, queries);
    }

    /// Answers one request into `out`. Never panics, never allocates for authoritative answers.
    pub fn handle(&self, request: &Request<'_>, out: &mut [u8]) -> Outcome {
        self.handle_traced(request, out).0
    }

    /// [`Engine::handle`], and how the reply was made (for the reply cache).
    #[inline(always)]
    fn handle_traced(&self, request: &Request<'_>, out: &mut [u8]) -> (Outcome, Trace) {
        if self.counters.request(request.worker, request.transport, crate::metrics::QueryType::of_request(request.bytes)) {
            self.counters.sample(request.worker, request.bytes, request.peer.ip());
        }
        let (outcome, trace) = self.process(request, out);
        match outcome {
            Outcome::Drop(reason) => self.counters.dropped(reason),
            Outcome::Reply(len) | Outcome::ReplyAndPrefetch(len) => self.count_rcode(request, &out[..len]),
            Outcome::Resolve => {
                self.counters.resolutions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Outcome::Transfer => {
                self.counters.transfers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Outcome::Update => {}
        }
        (outcome, trace)
    }

    #[inline(always)]
    fn process(&self, request: &Request<'_>, out: &mut [u8]) -> (Outcome, Trace) {
        let untraced = |outcome| (outcome, Trace::VOLATILE);
        let Ok((header, _)) = Header::split(request.bytes) else { return untraced(Outcome::Drop(DropReason::Malformed)) };
        if header.is_response() {
            return untraced(Outcome::Drop(DropReason::IsResponse));
        }
        if request.from_reflection_port() {
            return untraced(Outcome::Drop(DropReason::ReflectionPort));
        }
        let Ok(message) = Message::parse(request.bytes) else { return untraced(self.unparsed(request, header, out)) };
        // Read into a slot held here: the name is copied once, not moved out through options.
        let mut slot = Question { qname: NameBuf::root(), qtype: Rtype(0), qclass: Class(0) };
        let question = message.question_into(&mut slot).then_some(&slot);
        let mut query = self.query(request, header, question, Some(&message), TsigUse::Arrived);
        if query.limited {
            // The limiter's state decides each query anew: its replies are not stored.
            query.trace.volatile();
            if let Some(restricted) = self.limit_query(&query.frame, request, out) {
                return untraced(restricted);
            }
        }
        let outcome = self.respond(&message, &mut query, request, TsigUse::Arrived, out, |engine, query, out| match engine.check_query(query, request, out) {
            Some(answered) => answered,
            None => engine.route(query, request, out),
        });
        (outcome, query.trace.trace())
    }

    /// FORMERR for a query that does not parse, with its question when that reads.
    #[cold]
    #[inline(never)]
    fn unparsed(&self, request: &Request<'_>, header: Header<'_>, out: &mut [u8]) -> Outcome {
        let question = if header.qdcount() == 1 { read_question(request.bytes, 12).ok().map(|(q, _)| q) } else { None };
        let query = self.query(request, header, question.as_ref(), None, TsigUse::Arrived);
        let answered = self.error_reply(&query.frame, Rcode::FORMERR, out);
        self.finish(request, &query, answered, None, out)
    }

    /// The one set-up of every reply's frame: `question`, EDNS and cookie (from `message`, when
    /// the query parsed), size limit, RA, keepalive, and whether the limits apply. A query
    /// answered again after its resolution (`usage`) has RA=1.
    #[inline(always)]
    fn query<'q>(
        &self,
        request: &Request<'q>,
        header: Header<'q>,
        question: Option<&'q Question>,
        message: Option<&'q Message<'q>>,
        usage: TsigUse,
    ) -> Query<'q> {
        let edns = message.and_then(Message::edns_ref);
        let cookies = match (message, &self.policy.cookies) {
            (Some(_), Some(cookies)) => Some(cookies.process(edns.and_then(|e| e.cookie), request.peer.ip(), request.transport, request.unix_secs)),
            _ => None,
        };
        let cookie_valid = cookies.is_some_and(|c| c.rrl_cookie() == crate::policy::QueryCookie::Verified);
        let (ra, rate_limited, limited) = self.client_flags(request, cookie_valid);
        let shape = Shape {
            limit: self.reply_limit(request.transport, edns, cookie_valid),
            ra: ra || usage == TsigUse::Reanswered,
            keepalive: request.transport.has_keepalive() && edns.is_some_and(|e| e.tcp_keepalive.is_some()),
            pad: request.transport.is_encrypted() && edns.is_some_and(|e| e.padding),
            cookie: cookies.and_then(|c| c.reply),
        };
        Query {
            frame: ReplyFrame::new(header, question, edns, shape),
            cookie_action: cookies.map_or(CookieAction::Ignore, |c| c.action),
            cookie_status: cookies.and_then(|c| c.status),
            cookie_valid,
            key: None,
            rate_limited,
            limited,
            trace: Tracer::default(),
        }
    }

    /// Answers a parsed query: its TSIG checked first (an unverified request gets only the TSIG
    /// error), then `answer` writes the reply, then [`Engine::finish`].
    #[inline(always)]
    fn respond<'q>(
        &self,
        message: &Message<'q>,
        query: &mut Query<'q>,
        request: &Request<'_>,
        usage: TsigUse,
        out: &mut [u8],
        answer: impl FnOnce(&Self, &Query<'q>, &mut [u8]) -> Answered,
    ) -> Outcome {
        let signer = match self.check_tsig(message, query, request, usage, out) {
            TsigVerdict::Unsigned => None,
            TsigVerdict::Verified(signer) => Some(signer),
            TsigVerdict::Reply(answered, signer) => return self.finish(request, query, answered, signer, out),
        };
        let answered = answer(self, query, out);
        self.finish(request, query, answered, signer, out)
    }

    /// Finishes every reply (its OPT is already written by the frame): response rate limiting,
    /// then the TSIG record of a signed request.
    #[inline(always)]
    fn finish(&self, request: &Request<'_>, query: &Query<'_>, answered: Answered, signer: Option<Box<Signer>>, out: &mut [u8]) -> Outcome {
        query.trace.answered(answered);
        // The flag is checked here so that a client RRL does not account costs no call.
        let outcome = if query.rate_limited { self.rate_limit(request, query, answered, out) } else { answered.outcome };
        self.sign_reply(signer, outcome, request, out)
    }

    /// The keyed hash of RRL's account for a reply of `kind` about `name`; 0 (not computed)
    /// when RRL does not account this client.
    #[inline]
    fn rrl_hash(&self, query: &Query<'_>, kind: ResponseKind, name: &NameBuf, qtype: Rtype) -> u64 {
        if query.rate_limited {
            self.policy.rrl.name_hash(kind, name, qtype)
        } else {
            0
        }
    }

    /// The checks before routing; `Some` is the reply when one fails.
    fn check_query(&self, query: &Query<'_>, request: &Request<'_>, out: &mut [u8]) -> Option<Answered> {
        let (header, frame) = (query.frame.header(), &query.frame);
        match header.opcode() {
            Opcode::QUERY => {}
            Opcode::NOTIFY => return Some(self.notify_answer(query, request, out)),
            Opcode::UPDATE => return Some(self.update_answer(query, request, out)),
            _ => return Some(self.error_reply(frame, Rcode::NOTIMP, out)),
        }
        if header.qdcount() == 0 && query.cookie_action != CookieAction::Ignore && self.policy.cookies.is_some() {
            // RFC 7873 §5.4: a cookie-only query gets the server cookie: BADCOOKIE when it sent a
            // server cookie that is not valid, NOERROR otherwise (even under require-cookie).
            let invalid = matches!(query.cookie_status, Some(CookieStatus::Invalid | CookieStatus::Expired | CookieStatus::Future));
            let rcode = if invalid { Rcode::BADCOOKIE } else { Rcode::NOERROR };
            return Some(self.error_reply(frame, rcode, out));
        }
        if header.qdcount() != 1 {
            return Some(self.error_reply(&frame.without_question(), Rcode::FORMERR, out));
        }
        let ixfr = frame.question().is_some_and(|q| q.qtype == Rtype::IXFR);
        if header.tc() || header.ancount() != 0 || (header.nscount() != 0 && !ixfr) || query.cookie_action == CookieAction::FormErr {
            return Some(self.error_reply(frame, Rcode::FORMERR, out));
        }
        if frame.edns().is_some_and(|edns| edns.version > 0) {
            return Some(self.error_reply(frame, Rcode::BADVERS, out));
        }
        // RFC 7828 §3.2.1: a query's edns-tcp-keepalive carries no timeout.
        if request.transport.has_keepalive() && frame.edns().and_then(|e| e.tcp_keepalive).is_some_and(|data| !data.is_empty()) {
            return Some(self.error_reply(frame, Rcode::FORMERR, out));
        }
        if query.cookie_action == CookieAction::BadCookie {
            return Some(self.error_reply(frame, Rcode::BADCOOKIE, out));
        }
        None
    }

    /// Picks the answer for a well-formed query.
    fn route(&self, query: &Query<'_>, request: &Request<'_>, out: &mut [u8]) -> Answered {
        let frame = &query.frame;
        let Some(question) = frame.question() else { return self.error_reply(frame, Rcode::FORMERR, out) };
        if matches!(question.qtype, Rtype::OPT | Rtype::TSIG | Rtype::TKEY) || question.qtype.0 == 0 {
            return self.error_reply(frame, Rcode::FORMERR, out);
        }
        match question.qclass {
            Class::IN | Class::ANY => {}
            Class::CH => return self.chaos(frame, question, out),
            _ => return self.error_reply(frame, Rcode::REFUSED, out),
        }
        if question.qtype == Rtype::AXFR && !request.transport.carries_transfers() {
            // RFC 5936 §4.2: AXFR is not defined over UDP (FORMERR, as BIND answers), whatever
            // the name and the ACL; nor over DoH, whose every exchange carries one message.
            return self.error_reply(frame, Rcode::FORMERR, out);
        }
        let zone = self.zones.closest(&question.qname);
        if self.lacks_copy(&question.qname, zone) {
            // A configured zone without a copy (engine/missing.rs): SERVFAIL, as BIND answers.
            return self.error_reply(frame, Rcode::SERVFAIL, out);
        }
        let Some(zone) = zone else { return self.recurse(query, question, request, out) };
        if matches!(question.qtype, Rtype::AXFR | Rtype::IXFR) {
            return self.transfer_answer(query, request, zone, question, out);
        }
        if let Some(denied) = self.denial(query, request, Action::Query, Some(zone.origin()), out) {
            return denied;
        }
        let Some(mut writer) = frame.writer(out) else { return dropped(DropReason::NoBuffer) };
        frame.begin(&mut writer, &self.settings);
        let options = AnswerOptions {
            minimal_responses: self.settings.minimal_responses,
            minimal_any: request.transport == Transport::Udp,
            // RFC 3225 §3: DNSSEC records only to a query that set DO (the reply's OPT echoes it).
            dnssec_ok: frame.edns().is_some_and(|edns| edns.dnssec_ok),
        };
        let (kind, wildcard) = write_answer_traced(zone, &question.qname, question.qtype, options, &mut writer);
        self.counters.answer(request.worker, kind);
        query.trace.counted(kind);
        let kind = response_kind(kind);
        // NXDOMAIN is accounted per zone, wildcard answers per wildcard (BIND's RRL).
        let name_hash = match (kind, wildcard) {
            (ResponseKind::NxDomain, _) => self.rrl_hash(query, kind, zone.origin(), question.qtype),
            (_, Some(node)) if query.rate_limited => self.rrl_hash(query, kind, &zone.node_name(node), question.qtype),
            _ => self.rrl_hash(query, kind, &question.qname, question.qtype),
        };
        let len = frame.finish(&mut writer, Rcode::NOERROR, &self.settings);
        Answered { outcome: Outcome::Reply(len), kind, name_hash }
    }

    /// The ACL's answer when it denies `action` (within `zone`) to the request's client and key:
    /// REFUSED, or a silent drop; `None` when it allows.
    #[inline]
    fn denial(&self, query: &Query<'_>, request: &Request<'_>, action: Action, zone: Option<&NameBuf>, out: &mut [u8]) -> Option<Answered> {
        match self.policy.acl_for(request.listener).check_signed(request.peer.ip(), self.request_key(query), action, zone) {
            Verdict::Allow => None,
            Verdict::Refuse => Some(self.error_reply(&query.frame, Rcode::REFUSED, out)),
            Verdict::Drop => Some(dropped(DropReason::AclDeny)),
        }
    }

    /// CHAOS-class identity queries: answered only when configured.
    fn chaos(&self, frame: &ReplyFrame<'_>, question: &Question, out: &mut [u8]) -> Answered {
        let lower = question.qname.to_lowercase();
        let text = match lower.as_wire() {
            b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => self.settings.version.as_deref(),
            b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => self.settings.identity.as_deref(),
            _ => None,
        };
        let Some(text) = text else { return self.error_reply(frame, Rcode::REFUSED, out) };
        let Some(mut writer) = frame.writer(out) else { return dropped(DropReason::NoBuffer) };
        frame.begin(&mut writer, &self.settings);
        writer.set_aa(true);
        if matches!(question.qtype, Rtype::TXT | Rtype::ANY) {
            let bytes = text.as_bytes();
            let mut rdata = [0u8; 256];
            let len = bytes.len().min(255);
            rdata[0] = len as u8;
            rdata[1..=len].copy_from_slice(&bytes[..len]);
            if writer.push(Section::Answer, &question.qname, Rtype::TXT, Class::CH, 0, &rdata[..=len]).is_err() {
                writer.set_tc(true);
            }
        }
        let len = frame.finish(&mut writer, Rcode::NOERROR, &self.settings);
        Answered { outcome: Outcome::Reply(len), kind: ResponseKind::Answer, name_hash: 0 }
    }

    fn error_reply(&self, frame: &ReplyFrame<'_>, rcode: Rcode, out: &mut [u8]) -> Answered {
        let Some(mut writer) = frame.writer(out) else { return dropped(DropReason::NoBuffer) };
        frame.begin(&mut writer, &self.settings);
        let len = frame.finish(&mut writer, rcode, &self.settings);
        Answered { outcome: Outcome::Reply(len), kind: ResponseKind::Error, name_hash: 0 }
    }

    /// Largest reply for this transport and client (RFC 6891 §6.2.3-6.2.5), capped for UDP
    /// clients without a valid server cookie.
    fn reply_limit(&self, transport: Transport, edns: Option<&Edns<'_>>, cookie_valid: bool) -> usize {
        let ours = self.settings.udp_payload.max(MIN_UDP_PAYLOAD);
        let cap = if cookie_valid { ours } else { ours.min(self.settings.nocookie_udp_payload.max(MIN_UDP_PAYLOAD)) };
        match (transport, edns) {
            (Transport::Tcp | Transport::Tls | Transport::Https | Transport::Quic, _) => 65_535,
            (Transport::Udp, None) => usize::from(MIN_UDP_PAYLOAD),
            (Transport::Udp, Some(edns)) => usize::from(edns.udp_size.clamp(MIN_UDP_PAYLOAD, cap)),
        }
    }

    fn count_rcode(&self, request: &Request<'_>, reply: &[u8]) {
        if let Some(byte) = reply.get(3) {
            self.counters.rcode(request.worker, u16::from(byte & 0x0F));
        }
    }
}

fn dropped(reason: DropReason) -> Answered {
    Answered { outcome: Outcome::Drop(reason), kind: ResponseKind::Error, name_hash: 0 }
}

fn response_kind(kind: AnswerKind) -> ResponseKind {
    match kind {
        AnswerKind::Answer | AnswerKind::Truncated => ResponseKind::Answer,
        AnswerKind::NoData => ResponseKind::NoData,
        AnswerKind::NxDomain => ResponseKind::NxDomain,
        AnswerKind::Referral => ResponseKind::Referral,
        AnswerKind::Error => ResponseKind::Error,
    }
}

#[allow(clippy::panic)]
fn unreachable_default_acl() -> Acl {
    panic!("the default ACL settings are valid")
}

/// A question for tests and tools.
pub fn question(qname: &str, qtype: Rtype) -> Option<Question> {
    let qname = NameBuf::from_text(qname, None).ok()?;
    Some(Question { qname, qtype, qclass: Class::IN })
}
