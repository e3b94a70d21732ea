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

#[cfg(test)]
mod tests {
    use crate::auth::update::{Grant, GrantMatch, UpdatePolicy};
    use crate::auth::ZoneSet;
    use crate::engine::{Engine, EngineSettings, Policy, Secondaries, UpdateZone, UpdateZones};
    use crate::load::load_zone_text;
    use crate::policy::tsig::Algorithm;
    use crate::policy::tsig_client::sign_request;
    use crate::policy::{Acl, AclSettings, ActionRules, Keyring, MatchElement, TsigKey};
    use crate::request::{Outcome, Request, Transport};
    use crate::zonefile::NoIncludes;
    use portcullis_wire::header::Flags;
    use portcullis_wire::message::Section;
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::{Class, NameBuf, Opcode, Rcode, Rtype};
    use std::sync::Arc;

    const NOW: u64 = 1_796_000_000;

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    fn key(text: &str) -> TsigKey {
        TsigKey::new(&name(text), Algorithm::HmacSha256, &[9; 32])
    }

    /// Primary for `example.` (open to updates: `k1.` below `dyn.example.` only), secondary for
    /// `sec.`; the update ACL allows the two keys.
    fn engine() -> Engine {
        let zone = load_zone_text(&name("example."), "@ 60 SOA ns host 1 2 3 4 5\n@ 60 NS ns\nns 60 A 192.0.2.1\n", "t", &NoIncludes).unwrap();
        let rules = ActionRules { update: Some(vec!["key k1.".parse::<MatchElement>().unwrap(), "key k2.".parse().unwrap()]), ..Default::default() };
        let acl = Acl::new(&AclSettings { global: rules, ..Default::default() }, None).unwrap();
        let policy = Policy { acl, keys: Keyring::new(vec![key("k1."), key("k2.")]), ..Policy::defaults() };
        let grant = Grant { allow: true, key: name("k1."), matching: GrantMatch::Subdomain, name: name("dyn.example."), types: vec![] };
        let updates = UpdateZones { zones: vec![UpdateZone { origin: name("example."), policy: Some(UpdatePolicy { grants: vec![grant] }) }].into() };
        let secondaries = Secondaries { origins: vec![name("sec.")].into(), hook: None };
        Engine::with_policy(ZoneSet::new(vec![Arc::new(zone)]), EngineSettings::default(), Arc::default(), policy)
            .with_secondaries(secondaries)
            .with_updates(updates)
    }

    fn update(zone: &str, owner: &str) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.set_header(0x5151, Flags { opcode: Opcode::UPDATE.0, ..Flags::default() });
        writer.push_question(&name(zone), Rtype::SOA, Class::IN).unwrap();
        writer.push(Section::Authority, &name(owner), Rtype::A, Class::IN, 60, &[192, 0, 2, 7]).unwrap();
        let len = writer.finish();
        buf.truncate(len);
        buf
    }

    fn handle(engine: &Engine, bytes: &[u8]) -> (Outcome, Option<Rcode>) {
        let request = Request { unix_secs: NOW, ..Request::at_zero(bytes, ([192, 0, 2, 9], 5300).into(), Transport::Tcp) };
        let mut out = vec![0u8; 4096];
        let outcome = engine.handle(&request, &mut out);
        let rcode = match outcome {
            Outcome::Reply(len) => portcullis_wire::message::Message::parse(&out[..len]).ok().map(|m| m.rcode()),
            _ => None,
        };
        (outcome, rcode)
    }

    #[test]
    fn rfc2136_3_checks_come_in_order_and_a_granted_update_goes_to_the_server() {
        let engine = engine();
        assert_eq!(handle(&engine, &update("example.", "a.dyn.example.")).1, Some(Rcode::REFUSED), "unsigned: the ACL lists keys only");
        let signed = |zone: &str, owner: &str, k: &str| {
            let mut bytes = update(zone, owner);
            sign_request(&key(k), &mut bytes, NOW);
            bytes
        };
        assert_eq!(handle(&engine, &signed("example.", "a.dyn.example.", "k1.")).0, Outcome::Update);
        assert_eq!(handle(&engine, &signed("example.", "www.example.", "k1.")).1, Some(Rcode::REFUSED), "outside the grant");
        assert_eq!(handle(&engine, &signed("example.", "a.dyn.example.", "k2.")).1, Some(Rcode::REFUSED), "another key");
        assert_eq!(handle(&engine, &signed("other.", "a.other.", "k1.")).1, Some(Rcode::NOTAUTH), "a zone not served");
        assert_eq!(handle(&engine, &signed("sec.", "a.sec.", "k1.")).1, Some(Rcode::REFUSED), "a secondary zone: not forwarded");
        assert_eq!(handle(&engine, &signed("example.", "a.dyn.other.", "k1.")).1, Some(Rcode::NOTZONE));
        let mut wrong = update("example.", "a.dyn.example.");
        sign_request(&TsigKey::new(&name("k1."), Algorithm::HmacSha256, &[1; 32]), &mut wrong, NOW);
        assert_eq!(handle(&engine, &wrong).1, Some(Rcode::NOTAUTH), "BADSIG before anything else");
    }

    #[test]
    fn the_answer_the_server_asks_for_is_signed_with_the_request_key() {
        let engine = engine();
        let mut bytes = update("example.", "a.dyn.example.");
        let mut verifier = sign_request(&key("k1."), &mut bytes, NOW);
        let request = Request { unix_secs: NOW, ..Request::at_zero(&bytes, ([192, 0, 2, 9], 5300).into(), Transport::Udp) };
        let mut out = vec![0u8; 4096];
        assert_eq!(engine.handle(&request, &mut out), Outcome::Update);
        let Outcome::Reply(len) = engine.update_reply(&request, Rcode::NXRRSET, &mut out) else { panic!("no reply") };
        let reply = portcullis_wire::message::Message::parse(&out[..len]).unwrap();
        assert_eq!((reply.rcode(), reply.header().opcode(), reply.header().id()), (Rcode::NXRRSET, Opcode::UPDATE, 0x5151));
        verifier.verify(&out[..len], NOW).unwrap();
    }

    #[test]
    fn hostile_updates_are_formerr_never_a_panic() {
        let engine = engine();
        let mut huge = update("example.", "a.dyn.example.");
        huge[6..8].copy_from_slice(&[0xFF, 0xFF]);
        assert_eq!(handle(&engine, &huge).1, Some(Rcode::FORMERR), "a prerequisite count the message does not hold");
        let mut two_zones = update("example.", "a.dyn.example.");
        two_zones[4..6].copy_from_slice(&[0, 2]);
        assert_eq!(handle(&engine, &two_zones).1, Some(Rcode::FORMERR));
        let mut cut = update("example.", "a.dyn.example.");
        cut.truncate(cut.len() - 2);
        assert_eq!(handle(&engine, &cut).1, Some(Rcode::FORMERR));
    }
}
