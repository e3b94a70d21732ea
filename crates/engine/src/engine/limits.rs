//! Who is limited, and how: the per-prefix query limiter in front of the answer
//! ([`crate::policy::QueryLimiter`], Knot-style, off by default) and response rate limiting behind
//! it ([`crate::policy::Rrl`], BIND semantics, on by default). Both spare the clients of the
//! recursion ACL (localhost by default); the limiter also spares TCP and valid server cookies.

use super::{Answered, Engine, Query};
use crate::policy::{LimitVerdict, RrlKey, RrlVerdict, SlipReply};
use crate::reply::ReplyFrame;
use crate::request::{DropReason, Outcome, Request, Transport};
use portcullis_wire::Rcode;

impl Engine {
    /// RA, whether RRL accounts the reply, and whether the query limiter applies: both limits
    /// apply only to clients outside the recursion ACL (so localhost, by default, is never
    /// limited), the limiter only to UDP without a valid server cookie. One ACL check serves
    /// all three.
    #[inline(always)]
    pub(super) fn client_flags(&self, request: &Request<'_>, cookie_valid: bool) -> (bool, bool, bool) {
        if !self.checks_client {
            return (false, false, false);
        }
        let rrl = self.policy.rrl.settings().enabled;
        let limiter = self.policy.query_limit.settings().enabled && request.transport == Transport::Udp;
        let client = (rrl || limiter || self.recursion.is_some()) && self.recursion_client(request);
        (self.recursion.is_some() && client, rrl && !client, limiter && !client && !cookie_valid)
    }

    /// The query limiter's verdict on a UDP query from outside the recursion ACL: `None` to
    /// answer it, else a TC=1 reply with only the question, or a drop.
    #[inline]
    pub(super) fn limit_query(&self, frame: &ReplyFrame<'_>, request: &Request<'_>, out: &mut [u8]) -> Option<Outcome> {
        match self.policy.query_limit.check(request.peer.ip(), request.now) {
            LimitVerdict::Pass => None,
            LimitVerdict::Slip => Some(frame.truncated(out, &self.settings).map_or(Outcome::Drop(DropReason::NoBuffer), Outcome::Reply)),
            LimitVerdict::Drop => Some(Outcome::Drop(DropReason::QueryLimit)),
        }
    }

    /// Response rate limiting (SECURITY-REFERENCE §3.1): send, slip (TC=1 or BADCOOKIE) or drop;
    /// clients of the recursion ACL are not accounted (`Query::rate_limited`).
    pub(super) fn rate_limit(&self, request: &Request<'_>, query: &Query<'_>, answered: Answered, out: &mut [u8]) -> Outcome {
        if !matches!(answered.outcome, Outcome::Reply(_) | Outcome::ReplyAndPrefetch(_)) || !query.rate_limited {
            return answered.outcome;
        }
        let frame = &query.frame;
        let cookie = match (query.cookie_valid, frame.edns().and_then(|e| e.cookie)) {
            (true, _) => crate::policy::QueryCookie::Verified,
            (false, Some(_)) => crate::policy::QueryCookie::Unverified,
            (false, None) => crate::policy::QueryCookie::Absent,
        };
        let key = RrlKey { client: request.peer.ip(), kind: answered.kind, name_hash: answered.name_hash, transport: request.transport, cookie };
        match self.policy.rrl.account(key, request.now) {
            RrlVerdict::Send => answered.outcome,
            RrlVerdict::Drop => Outcome::Drop(DropReason::RrlDrop),
            RrlVerdict::Slip(SlipReply::Truncate) => frame.truncated(out, &self.settings).map_or(Outcome::Drop(DropReason::NoBuffer), Outcome::Reply),
            RrlVerdict::Slip(SlipReply::BadCookie) => self.error_reply(frame, Rcode::BADCOOKIE, out).outcome,
        }
    }
}
