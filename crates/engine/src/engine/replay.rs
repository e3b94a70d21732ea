//! The engine's side of the reply cache ([`super::ReplyCache`]): what a reply's making leaves
//! for the cache ([`Trace`]), and the replay of a stored reply with every per-query effect the
//! full pipeline has (request and answer counters, top-talker samples, response rate limiting,
//! rcode counters), so that a replayed query is indistinguishable from an answered one.

use super::{Answered, Engine, TsigUse};
use crate::auth::AnswerKind;
use crate::policy::{QueryCookie, ResponseKind, RrlKey, RrlVerdict, SlipReply};
use crate::request::{DropReason, Outcome, Request};
use portcullis_wire::header::Header;
use portcullis_wire::message::{Message, Question};
use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
use std::cell::Cell;

/// How a reply was made, as far as the reply cache cares.
#[derive(Clone, Copy)]
pub(super) struct Trace {
    /// The reply depends on more than the query, the client and the engine's snapshot (the
    /// resolver's cache, detectors, policy zones, transfers): never stored.
    pub volatile: bool,
    /// The reply before response rate limiting (set by `Engine::finish`).
    pub answered: Option<Answered>,
    /// The authoritative answer counter it counted (`Engine::route`).
    pub counted: Option<AnswerKind>,
}

impl Trace {
    /// A reply that is not to be stored.
    pub const VOLATILE: Self = Self { volatile: true, answered: None, counted: None };
}

/// A query's [`Trace`] as the pipeline writes it, one field at a time (each a plain store).
#[derive(Default)]
pub(super) struct Tracer {
    volatile: Cell<bool>,
    answered: Cell<Option<Answered>>,
    counted: Cell<Option<AnswerKind>>,
}

impl Tracer {
    /// The reply depends on more than the query, the client and the snapshot.
    #[inline(always)]
    pub fn volatile(&self) {
        self.volatile.set(true);
    }

    /// The reply before rate limiting.
    #[inline(always)]
    pub fn answered(&self, answered: Answered) {
        self.answered.set(Some(answered));
    }

    /// The answer counter counted.
    #[inline(always)]
    pub fn counted(&self, kind: AnswerKind) {
        self.counted.set(Some(kind));
    }

    /// What was written.
    #[inline(always)]
    pub fn trace(&self) -> Trace {
        Trace { volatile: self.volatile.get(), answered: self.answered.get(), counted: self.counted.get() }
    }
}

/// What the reply cache stores besides the bytes: what replaying them must do again.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stored {
    /// RRL's class of the reply.
    pub kind: ResponseKind,
    /// RRL's account name hash (0 when RRL does not account this client).
    pub name_hash: u64,
    /// The authoritative answer counter to count.
    pub counted: Option<AnswerKind>,
}

impl Stored {
    /// What to store of a reply of `len` bytes that went out as `outcome` (as written: RRL let
    /// it through); `None` when the reply is not to be stored.
    pub fn of(trace: Trace, outcome: Outcome) -> Option<Self> {
        let answered = trace.answered.filter(|_| !trace.volatile)?;
        match (answered.outcome, outcome) {
            (Outcome::Reply(written), Outcome::Reply(sent)) if written == sent => {
                Some(Self { kind: answered.kind, name_hash: answered.name_hash, counted: trace.counted })
            }
            _ => None,
        }
    }
}

impl Engine {
    /// [`Engine::handle`] with what the reply cache needs to store the reply.
    pub(super) fn handle_for_cache(&self, request: &Request<'_>, out: &mut [u8]) -> (Outcome, Option<Stored>) {
        let (outcome, trace) = self.handle_traced(request, out);
        (outcome, Stored::of(trace, outcome))
    }

    /// Whether the query limiter applies to `request`'s client and RRL accounts its replies
    /// (a query without a cookie).
    #[inline]
    pub(super) fn client_limits(&self, request: &Request<'_>) -> (bool, bool) {
        let (_, rate_limited, limited) = self.client_flags(request, false);
        (rate_limited, limited)
    }

    /// False when this engine makes no reply worth storing: a resolver serving no zone (its
    /// answers come from the resolver's path, never stored; the reply cache then stays out of
    /// the way).
    pub(super) fn stores_replies(&self) -> bool {
        !self.zones.is_empty() || self.recursion.is_none()
    }

    /// The effects of answering `request` with the `len` bytes already in `out` (a stored
    /// reply, its ID and question name patched; `qtype` the query's type): the counters
    /// [`Engine::handle`] counts and response rate limiting, as `Engine::finish` applies it.
    pub(super) fn replay(&self, request: &Request<'_>, qtype: u16, stored: &Stored, rate_limited: bool, len: usize, out: &mut [u8]) -> Outcome {
        if self.counters.request(request.worker, request.transport, crate::metrics::QueryType::of(qtype)) {
            self.counters.sample(request.worker, request.bytes, request.peer.ip());
        }
        if let Some(kind) = stored.counted {
            self.counters.answer(request.worker, kind);
        }
        let outcome = if rate_limited { self.rate_limit_stored(request, stored, len, out) } else { Outcome::Reply(len) };
        match outcome {
            Outcome::Drop(reason) => self.counters.dropped(reason),
            Outcome::Reply(len) => self.count_rcode(request, &out[..len]),
            _ => {}
        }
        outcome
    }

    /// RRL's verdict on a replayed reply (no cookie: the reply cache takes no query with one).
    #[inline]
    fn rate_limit_stored(&self, request: &Request<'_>, stored: &Stored, len: usize, out: &mut [u8]) -> Outcome {
        let key =
            RrlKey { client: request.peer.ip(), kind: stored.kind, name_hash: stored.name_hash, transport: request.transport, cookie: QueryCookie::Absent };
        match self.policy.rrl.account(key, request.now) {
            RrlVerdict::Send => Outcome::Reply(len),
            RrlVerdict::Drop => Outcome::Drop(DropReason::RrlDrop),
            RrlVerdict::Slip(slip) => self.slipped(request, slip, out),
        }
    }

    /// The slipped reply of `Engine::rate_limit`, from the query's frame set up again.
    #[cold]
    #[inline(never)]
    fn slipped(&self, request: &Request<'_>, slip: SlipReply, out: &mut [u8]) -> Outcome {
        let Ok((header, _)) = Header::split(request.bytes) else { return Outcome::Drop(DropReason::Malformed) };
        let Ok(message) = Message::parse(request.bytes) else { return Outcome::Drop(DropReason::Malformed) };
        let mut slot = Question { qname: NameBuf::root(), qtype: Rtype(0), qclass: Class(0) };
        let question = message.question_into(&mut slot).then_some(&slot);
        let query = self.query(request, header, question, Some(&message), TsigUse::Arrived);
        match slip {
            SlipReply::Truncate => query.frame.truncated(out, &self.settings).map_or(Outcome::Drop(DropReason::NoBuffer), Outcome::Reply),
            SlipReply::BadCookie => self.error_reply(&query.frame, Rcode::BADCOOKIE, out).outcome,
        }
    }
}
