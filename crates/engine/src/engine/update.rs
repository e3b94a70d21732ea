//! UPDATE (opcode 5, RFC 2136) in the pipeline. The request's TSIG was checked first (an
//! unverified one got NOTAUTH with BADSIG or BADKEY, `tsig.rs`). Then, in order:
//! - the zone section: one name of type SOA, else FORMERR (§3.1.1); a zone not served here is
//!   NOTAUTH, a zone served but not updated here (a secondary: updates are not forwarded, or a
//!   primary the server did not open to updates) REFUSED;
//! - the `update` ACL for that zone (address and `key NAME` elements): REFUSED or a drop;
//! - the prerequisite and update sections read whole ([`crate::auth::update::parse`]): FORMERR,
//!   NOTZONE;
//! - the zone's update policy, when it has one: REFUSED unless every record is granted to the
//!   request's key.
//!
//! An update that passes is [`Outcome::Update`]: the server evaluates the prerequisites and
//! applies it against its newest copy of the zone, one update of a zone at a time, makes the
//! change durable, then answers through [`Engine::update_reply`] (signed with the request's key).

use super::{Answered, Engine, Query, TsigUse};
use crate::auth::update::{parse, UpdatePolicy};
use crate::policy::{Action, ResponseKind};
use crate::request::{DropReason, Outcome, Request};
use portcullis_wire::header::Header;
use portcullis_wire::message::Message;
use portcullis_wire::{NameBuf, Rcode, Rtype};
use std::sync::Arc;

/// A zone that takes dynamic updates.
#[derive(Clone, Debug)]
pub struct UpdateZone {
    /// Its origin.
    pub origin: NameBuf,
    /// Its update policy (none: the `update` ACL alone decides).
    pub policy: Option<UpdatePolicy>,
}

/// The zones this server takes dynamic updates for (the server's primary zones, when it runs an
/// update service).
#[derive(Clone, Debug, Default)]
pub struct UpdateZones {
    /// The zones.
    pub zones: Arc<[UpdateZone]>,
}

impl UpdateZones {
    /// The zone named `origin`, if it takes updates.
    pub fn get(&self, origin: &NameBuf) -> Option<&UpdateZone> {
        self.zones.iter().find(|zone| zone.origin == *origin)
    }
}

impl Engine {
    /// The answer to an UPDATE: an error, or [`Outcome::Update`] (see the module).
    pub(super) fn update_answer(&self, query: &Query<'_>, request: &Request<'_>, out: &mut [u8]) -> Answered {
        let frame = &query.frame;
        let Some(zone_section) = frame.question().filter(|q| q.qtype == Rtype::SOA && frame.header().qdcount() == 1) else {
            return self.error_reply(&frame.without_question(), Rcode::FORMERR, out);
        };
        let origin = zone_section.qname;
        let served = self.zones.get(&origin).is_some_and(|zone| zone.class() == zone_section.qclass);
        let secondary = self.secondaries.origins.contains(&origin);
        if !served && !secondary {
            return self.error_reply(frame, Rcode::NOTAUTH, out);
        }
        if let Some(denied) = self.denial(query, request, Action::Update, Some(&origin), out) {
            return denied;
        }
        let Some(zone) = self.updates.get(&origin).filter(|_| served) else { return self.error_reply(frame, Rcode::REFUSED, out) };
        let Ok(message) = Message::parse(request.bytes) else { return self.error_reply(frame, Rcode::FORMERR, out) };
        let update = match parse(&message) {
            Ok(update) => update,
            Err(rcode) => return self.error_reply(frame, rcode, out),
        };
        if let Some(policy) = &zone.policy {
            if !policy.allows(self.request_key(query), &origin, &update.changes) {
                return self.error_reply(frame, Rcode::REFUSED, out);
            }
        }
        Answered { outcome: Outcome::Update, kind: ResponseKind::Answer, name_hash: 0 }
    }

    /// The reply to `request` (an UPDATE for which [`Engine::handle`] returned
    /// [`Outcome::Update`]) once the server has decided `rcode`: the header and zone section
    /// echoed, signed with the request's TSIG key (checked again, not against the replay cache).
    pub fn update_reply(&self, request: &Request<'_>, rcode: Rcode, out: &mut [u8]) -> Outcome {
        let Ok((header, _)) = Header::split(request.bytes) else { return Outcome::Drop(DropReason::Malformed) };
        let Ok(message) = Message::parse(request.bytes) else { return Outcome::Drop(DropReason::Malformed) };
        let question = message.question();
        // `Arrived` for the frame: an UPDATE's reply has RA=0 like any authoritative one.
        let mut query = self.query(request, header, question.as_ref(), Some(&message), TsigUse::Arrived);
        let outcome = self.respond(&message, &mut query, request, TsigUse::Reanswered, out, |engine, query, out| engine.error_reply(&query.frame, rcode, out));
        if let Outcome::Reply(len) = outcome {
            self.count_rcode(request, &out[..len]);
        }
        outcome
    }
}
