//! [`Resolution`]: the iterative algorithm of RFC 1034 §5.3.3 as a sans-IO state machine.
//!
//! A resolution is a stack of frames. The bottom frame resolves the client's question; a frame
//! above it resolves the address of an NS name that came without glue, for the frame below
//! (at most `max_depth` deep; a name already on the stack fails at once, which ends NS cycles
//! such as TsuNAME). Each frame (1) answers from the cache when it can, following cached CNAMEs,
//! (2) else finds the closest cached delegation (or the root hints), (3) asks that zone's servers,
//! one at a time, lowest SRTT first, (4) follows referrals down. One query is in flight at a time.
//!
//! Budgets shared by the whole resolution and never reset (SECURITY-REFERENCE §7): upstream
//! queries, referrals, failed NS-address lookups (NXNSAttack), and the wall-clock deadline. Every
//! query's outcome also counts for its zone's flood defence, shared by all resolutions
//! ([`ZoneRates`]): a zone whose servers fail at a flood's rate is held.
//!
//! [`ZoneRates`]: super::zone_rate::ZoneRates

use super::process::{Frame, FrameEnd};
use super::query::{build_query_with, check_reply, randomise_case, Match, Sent};
use super::stats::ServerStats;
use super::validate::{Fetched, Validation};
use super::{Failure, Outbound, QueryId, Random, Resolved, ResolverSettings, Step};
use crate::base::Instant;
use crate::cache::Cache;
use crate::Transport;
use portcullis_wire::message::Question;
use portcullis_wire::NameBuf;
use portcullis_wire::{Rcode, Rtype};
use std::net::SocketAddr;
use std::sync::Arc;

/// Internal steps of the machine between two driver calls.
pub(super) enum Next {
    /// Keep going.
    Continue,
    /// Hand this to the driver.
    Send(Outbound),
    /// The resolution is over.
    Done(Resolved),
}

/// A query to repeat at once (TC → TCP, EDNS or 0x20 fallback), to the same server.
#[derive(Clone, Copy, Debug)]
pub(super) struct Resend {
    pub server: SocketAddr,
    pub transport: Transport,
    pub edns: bool,
}

/// One client question being resolved.
pub struct Resolution {
    pub(super) question: Question,
    pub(super) settings: Arc<ResolverSettings>,
    pub(super) random: Box<dyn Random + Send>,
    deadline: Instant,
    pub(super) frames: Vec<Frame>,
    pending: Option<Sent>,
    pub(super) resend: Option<Resend>,
    pub(super) pending_end: Option<FrameEnd>,
    next_id: u32,
    pub(super) queries: u32,
    pub(super) referrals: u32,
    pub(super) nx_lookups: u32,
    unwanted: u32,
    /// Skip the cache for the question itself once (prefetch).
    pub(super) refresh: bool,
    pub(super) done: Option<Resolved>,
    /// Answers are validated (`ResolverSettings::validates`): queries say DO=1.
    pub(super) validating: bool,
    /// The answer being validated, once the client's frame has ended.
    pub(super) validation: Option<Validation>,
    /// What referrals said about DS at their zone cuts (the DS RRset or the proof of its
    /// absence), used by validation instead of asking again (RFC 4035 §3.1.4).
    pub(super) referral_ds: Vec<(NameBuf, Fetched)>,
    /// The client's frame as it was before its answer was validated, kept to ask another
    /// server when the answer is bogus (RFC 4035 §5.5), and the bogus result to give if that
    /// fails too.
    pub(super) retry: Option<Frame>,
    pub(super) bogus_result: Option<Resolved>,
    pub(super) bogus_retries: u32,
    /// The signature checks this question may still spend (KeyTrap).
    pub(super) budget: super::validate::verify::Budget,
    /// Wall-clock seconds at `started` (RRSIG validity windows).
    unix_at_start: u64,
    started: Instant,
}

impl Resolution {
    /// Starts resolving `question` at `now`; `random` supplies IDs, 0x20 bits and exploration.
    pub fn new(question: Question, settings: Arc<ResolverSettings>, now: Instant, random: Box<dyn Random + Send>) -> Self {
        let deadline = now.plus_millis(settings.total_time_ms);
        let frame = Frame::new(question.qname, question.qtype, question.qclass, false);
        let validating = settings.validates();
        Self {
            question,
            settings,
            random,
            deadline,
            frames: vec![frame],
            pending: None,
            resend: None,
            pending_end: None,
            next_id: 0,
            queries: 0,
            referrals: 0,
            nx_lookups: 0,
            unwanted: 0,
            refresh: false,
            done: None,
            validating,
            validation: None,
            referral_ds: Vec::new(),
            retry: None,
            bogus_result: None,
            bogus_retries: 0,
            budget: super::validate::verify::Budget::default(),
            unix_at_start: 0,
            started: now,
        }
    }

    /// Sets the wall-clock time (seconds since the epoch) at the start, which validation needs
    /// for RRSIG validity windows; the driver reads it with the start instant.
    pub fn with_unix_secs(mut self, unix: u64) -> Self {
        self.unix_at_start = unix;
        self
    }

    /// Wall-clock seconds at `now`.
    pub(super) fn unix_at(&self, now: Instant) -> u64 {
        self.unix_at_start + now.as_millis().saturating_sub(self.started.as_millis()) / 1000
    }

    /// A prefetch: the question itself is asked upstream even though the cache still holds its
    /// answer (about to expire); the reply replaces it.
    pub fn with_refresh(mut self) -> Self {
        self.refresh = true;
        self
    }

    /// The client's question.
    pub fn question(&self) -> &Question {
        &self.question
    }

    /// Upstream queries sent so far.
    pub fn upstream_queries(&self) -> u32 {
        self.queries
    }

    /// Replies discarded because they did not match the query in flight (RFC 5452 §9.1).
    pub fn unwanted_replies(&self) -> u32 {
        self.unwanted
    }

    /// The query in flight, if any.
    pub fn in_flight(&self) -> Option<QueryId> {
        self.pending.map(|sent| sent.id)
    }

    /// Advances: returns a query to send, a deadline to wait for, or the result.
    pub fn poll(&mut self, now: Instant, cache: &Cache, servers: &ServerStats) -> Step {
        if let Some(done) = &self.done {
            return Step::Done(done.clone());
        }
        if now >= self.deadline {
            return Step::Done(self.abort(Failure::Deadline, cache, now));
        }
        if let Some(sent) = self.pending {
            if now < sent.deadline {
                return Step::Wait(sent.deadline.min(self.deadline));
            }
            self.on_timeout(sent.id, now, servers);
        }
        // Each turn either sends, finishes, or consumes budget or stack; the bound is a backstop.
        for _ in 0..100_000 {
            match self.advance(now, cache, servers) {
                Next::Continue => {}
                Next::Send(outbound) => return Step::Send(outbound),
                Next::Done(resolved) => {
                    self.done = Some(resolved.clone());
                    return Step::Done(resolved);
                }
            }
        }
        Step::Done(self.abort(Failure::QueryLimit, cache, now))
    }

    /// A datagram (or TCP message) arrived from `from` for query `id`. Anything that does not
    /// match the query in flight exactly is discarded and counted; the query keeps waiting.
    pub fn on_reply(&mut self, id: QueryId, from: SocketAddr, bytes: &[u8], now: Instant, cache: &Cache, servers: &ServerStats) {
        let Some(sent) = self.pending.filter(|sent| sent.id == id && self.done.is_none()) else {
            self.unwanted += 1;
            servers.record_stray();
            return;
        };
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
                self.pending = None;
                self.unwanted += 1;
                servers.set_no_0x20(sent.server, now);
                self.resend = Some(Resend { server: sent.server, transport: sent.transport, edns: sent.edns });
            }
            Match::Malformed => {
                self.pending = None;
                self.server_failed(sent.server, false);
            }
            Match::Accept(message) => {
                self.pending = None;
                let failed = matches!(message.rcode(), Rcode::NXDOMAIN | Rcode::SERVFAIL | Rcode::REFUSED);
                self.record_zone_outcome(failed, now, servers);
                servers.record_rtt(sent.server, now.as_millis().saturating_sub(sent.sent_at.as_millis()));
                self.process(&sent, &message, now, cache, servers);
            }
        }
    }

    /// Query `id` got no reply in time: the server's back-off grows and the next server is tried
    /// (a server that timed out with EDNS is retried once without it, after the others). A
    /// minimised query that timed out is asked again less minimised first (relaxed mode).
    pub fn on_timeout(&mut self, id: QueryId, now: Instant, servers: &ServerStats) {
        let Some(sent) = self.pending.filter(|sent| sent.id == id) else { return };
        self.pending = None;
        servers.record_timeout(sent.server, now);
        self.record_zone_outcome(true, now, servers);
        let relaxed = !self.settings.qname_minimisation_strict;
        match self.frames.last_mut() {
            Some(frame) if relaxed && sent.qname.label_count() < frame.qname.label_count() => frame.minimised_unanswered(),
            _ => self.server_failed(sent.server, sent.edns),
        }
    }

    /// Counts the end of a query to the top frame's zone for the flood defence (`zone_rate`).
    fn record_zone_outcome(&self, failed: bool, now: Instant, servers: &ServerStats) {
        if let Some(delegation) = self.frames.last().and_then(|frame| frame.delegation.as_ref()) {
            servers.zone_rates.record(&delegation.zone, failed, self.settings.zone_limits(), now);
        }
    }

    /// Ends the resolution with SERVFAIL, caching the failure (RFC 9520) unless it was our own
    /// limit on the zone's query rate, which says nothing about the name.
    /// A validation under way is given up ([`Validation::abandon`]).
    pub(super) fn abort(&mut self, failure: Failure, cache: &Cache, now: Instant) -> Resolved {
        self.pending = None;
        if let Some(validation) = self.validation.take() {
            validation.abandon(cache, now);
        }
        if !matches!(failure, Failure::FailureCached | Failure::ZoneRateLimited) {
            cache.record_failure(&self.question.qname, self.question.qtype, self.question.qclass, now);
        }
        let resolved = Resolved::servfail(failure, self.queries);
        self.done = Some(resolved.clone());
        resolved
    }

    /// Builds and records the query of the top frame to `server`.
    pub(super) fn send(&mut self, server: SocketAddr, transport: Transport, allow_edns: bool, now: Instant, cache: &Cache, servers: &ServerStats) -> Next {
        if self.queries >= self.settings.max_upstream_queries {
            return Next::Done(self.abort(Failure::QueryLimit, cache, now));
        }
        let Some(frame) = self.frames.last() else { return Next::Done(self.abort(Failure::NoServers, cache, now)) };
        if let Some(delegation) = &frame.delegation {
            if !servers.zone_rates.allow(&delegation.zone, self.settings.zone_limits(), now) {
                return Next::Done(self.abort(Failure::ZoneRateLimited, cache, now));
            }
        }
        let (mut qname, qtype) = frame.query_name();
        let state = servers.get_at(server, now);
        let transport = if state.tcp_only { Transport::Tcp } else { transport };
        let edns = allow_edns && self.settings.edns_payload > 0 && !state.no_edns;
        let case_randomised = self.settings.use_0x20 && !state.no_0x20 && qtype != Rtype::PTR;
        if case_randomised {
            qname = randomise_case(&qname, self.random.as_mut());
        }
        let mut id_bytes = [0u8; 2];
        self.random.fill(&mut id_bytes);
        let wire_id = u16::from_be_bytes(id_bytes);
        let dnssec_ok = edns && self.validating;
        let bytes = build_query_with(wire_id, &qname, qtype, frame.qclass, edns.then_some(self.settings.edns_payload), dnssec_ok);
        let id = QueryId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let deadline = now.plus_millis(state.timeout_ms()).min(self.deadline);
        let qclass = frame.qclass;
        self.pending = Some(Sent { id, wire_id, server, transport, qname, qtype, qclass, edns, case_randomised, sent_at: now, deadline });
        self.queries += 1;
        Next::Send(Outbound { id, server, transport, bytes, deadline })
    }

    /// Marks `server` as done for the top frame's current question (or as due for a retry
    /// without EDNS when it timed out with EDNS).
    pub(super) fn server_failed(&mut self, server: SocketAddr, timed_out_with_edns: bool) {
        if let Some(delegation) = self.frames.last_mut().and_then(|frame| frame.delegation.as_mut()) {
            delegation.mark_failed(server, timed_out_with_edns);
        }
    }
}
