//! AXFR and IXFR questions (the routing; the stream itself is [`crate::auth::transfer`]).
//!
//! The transfer ACL decides first (REFUSED or a silent drop when it denies, as for any ACL).
//! Then:
//! - a name that is not the apex of a zone served here: NOTAUTH (RFC 5936 §2.2.1, as NSD and
//!   Knot answer);
//! - AXFR over UDP never gets this far: it is FORMERR (RFC 5936 §4.2);
//! - IXFR (RFC 1995) must carry the client's SOA in the authority section (else FORMERR); a
//!   client whose serial is ours or newer gets our SOA alone (§4). An older serial the zone's
//!   history reaches gets the condensed difference since then (§4, `auth::transfer::ixfr_records`);
//!   one it does not reach gets the whole zone, as AXFR sends it (§4: "AXFR-form"). Over UDP
//!   (§2) the difference is sent when it fits in one message; otherwise, and for the whole
//!   zone, our SOA alone, which says "ask over TCP";
//! - AXFR over TCP: the whole zone, [`Outcome::Transfer`]; the I/O layer then writes the
//!   messages of [`Engine::transfer`].

use super::{dropped, Answered, Engine, Query};
use crate::auth::transfer::{ixfr_records, serial_greater, soa_serial_in, Transfer};
use crate::auth::Zone;
use crate::policy::tsig::Checked;
use crate::policy::{Action, ResponseKind};
use crate::reply::ReplyFrame;
use crate::request::{DropReason, Outcome, Request};
use portcullis_wire::message::{Message, Question, Section};
use portcullis_wire::tsig::Tsig;
use portcullis_wire::{Rcode, Rtype};

impl Engine {
    /// The answer to an AXFR or IXFR question for a name in `zone`.
    pub(super) fn transfer_answer(&self, query: &Query<'_>, request: &Request<'_>, zone: &Zone, question: &Question, out: &mut [u8]) -> Answered {
        let frame = &query.frame;
        query.trace.volatile();
        if let Some(denied) = self.denial(query, request, Action::Transfer, Some(zone.origin()), out) {
            return denied;
        }
        if !question.qname.as_wire().eq_ignore_ascii_case(zone.origin().as_wire()) {
            return self.error_reply(frame, Rcode::NOTAUTH, out);
        }
        if question.qtype == Rtype::IXFR {
            let Some(theirs) = ixfr_serial(request.bytes, zone) else { return self.error_reply(frame, Rcode::FORMERR, out) };
            let ours = zone.serial();
            let Some(ours) = ours else { return self.error_reply(frame, Rcode::SERVFAIL, out) };
            if !serial_greater(ours, theirs) {
                return self.soa_alone(frame, zone, out);
            }
            if !request.transport.carries_transfers() {
                return self.ixfr_over_udp(frame, zone, theirs, out);
            }
        }
        Answered { outcome: Outcome::Transfer, kind: ResponseKind::Answer, name_hash: 0 }
    }

    /// Our SOA alone in the answer section, authoritative.
    fn soa_alone(&self, frame: &ReplyFrame<'_>, zone: &Zone, out: &mut [u8]) -> Answered {
        let Some(mut writer) = frame.writer(out) else { return dropped(DropReason::NoBuffer) };
        frame.begin(&mut writer, &self.settings);
        writer.set_aa(true);
        if let Some(soa) = zone.soa() {
            if writer.push_rrset(Section::Answer, zone.origin(), Rtype::SOA, zone.class(), soa.ttl, zone.rdatas(&soa)).is_err() {
                writer.set_tc(true);
            }
        }
        let len = frame.finish(&mut writer, Rcode::NOERROR, &self.settings);
        Answered { outcome: Outcome::Reply(len), kind: ResponseKind::Answer, name_hash: 0 }
    }

    /// An IXFR over UDP (RFC 1995 §2): the condensed difference from `theirs` in one message
    /// when the history reaches it and it fits, else our SOA alone ("ask over TCP").
    fn ixfr_over_udp(&self, frame: &ReplyFrame<'_>, zone: &Zone, theirs: u32, out: &mut [u8]) -> Answered {
        let Some(Ok(change)) = zone.history().condensed_since(theirs) else { return self.soa_alone(frame, zone, out) };
        let fits = {
            let Some(mut writer) = frame.writer(out) else { return dropped(DropReason::NoBuffer) };
            frame.begin(&mut writer, &self.settings);
            writer.set_aa(true);
            let all = ixfr_records(&change).iter().all(|r| writer.push(Section::Answer, &r.owner, r.rtype, zone.class(), r.ttl, &r.rdata).is_ok());
            all.then(|| frame.finish(&mut writer, Rcode::NOERROR, &self.settings))
        };
        match fits {
            Some(len) => Answered { outcome: Outcome::Reply(len), kind: ResponseKind::Answer, name_hash: 0 },
            None => self.soa_alone(frame, zone, out),
        }
    }

    /// The stream of a transfer [`Engine::handle`] answered with [`Outcome::Transfer`]: the
    /// zone named by the request's question, as it is now (a reload does not change a transfer
    /// under way). `None` when the request is not such a question (any more).
    pub fn transfer(&self, request: &Request<'_>) -> Option<Transfer> {
        let message = Message::parse(request.bytes).ok()?;
        let question = message.question()?;
        let zone = self.zones.iter().find(|zone| zone.origin().as_wire().eq_ignore_ascii_case(question.qname.as_wire()))?;
        let opt = message.edns().map(|_| self.settings.udp_payload);
        let id = message.header().id();
        // IXFR from a serial the history reaches: the condensed difference; else the whole zone.
        let change = (question.qtype == Rtype::IXFR)
            .then(|| soa_serial_in(&message, Section::Authority, zone.origin()))
            .flatten()
            .and_then(|theirs| zone.history().condensed_since(theirs))
            .and_then(Result::ok);
        let transfer = match change {
            Some(change) => Transfer::incremental(zone.clone(), id, question, opt, ixfr_records(&change)),
            None => Transfer::new(zone.clone(), id, question, opt),
        };
        let Some(offset) = message.tsig_offset() else { return Some(transfer) };
        let record = Tsig::parse(request.bytes, offset).ok()?;
        match self.policy.keys.check(request.bytes, offset, &record, request.unix_secs) {
            Checked::Signed(signer) if signer.error == 0 => Some(transfer.signed(signer, request.unix_secs)),
            _ => None,
        }
    }
}

/// The serial of the SOA for `zone`'s apex in the authority section of an IXFR query.
fn ixfr_serial(bytes: &[u8], zone: &Zone) -> Option<u32> {
    soa_serial_in(&Message::parse(bytes).ok()?, Section::Authority, zone.origin())
}

#[cfg(test)]
mod tests {
    use crate::auth::ZoneSet;
    use crate::engine::{Engine, EngineSettings, Policy};
    use crate::load::load_zone_text;
    use crate::policy::tsig::Algorithm;
    use crate::policy::tsig_client::sign_request;
    use crate::policy::{Acl, AclSettings, ActionRules, Keyring, MatchElement, TsigKey};
    use crate::request::{Outcome, Request, Transport};
    use crate::zonefile::NoIncludes;
    use portcullis_wire::header::Flags;
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::{Class, NameBuf, Rtype};
    use std::sync::Arc;

    const NOW: u64 = 1_796_000_000;

    /// A TSIG-signed AXFR goes through `auth::transfer::MessageSigner` (the zones' trait) to the
    /// pipeline's `Signer`: every message of the stream verifies with the client's verifier.
    #[test]
    fn every_message_of_a_signed_transfer_verifies() {
        let origin = NameBuf::from_text("example.", None).unwrap();
        let mut text = String::from("@ 60 SOA ns host 1 2 3 4 5\n@ 60 NS ns\nns 60 A 192.0.2.1\n");
        for n in 0..3000 {
            text.push_str(&format!("host{n} 60 TXT \"{}\"\n", "x".repeat(60)));
        }
        let zone = load_zone_text(&origin, &text, "test", &NoIncludes).unwrap();
        let key = TsigKey::new(&NameBuf::from_text("xfr.", None).unwrap(), Algorithm::HmacSha256, &[7; 32]);
        let rules = ActionRules { transfer: Some(vec!["any".parse::<MatchElement>().unwrap()]), ..Default::default() };
        let acl = Acl::new(&AclSettings { global: rules, ..Default::default() }, None).unwrap();
        let policy = Policy { acl, keys: Keyring::new(vec![key.clone()]), ..Policy::defaults() };
        let engine = Engine::with_policy(ZoneSet::new(vec![Arc::new(zone)]), EngineSettings::default(), Arc::default(), policy);
        let mut query = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut query, 512).unwrap();
        writer.set_header(0x4242, Flags::default());
        writer.push_question(&origin, Rtype::AXFR, Class::IN).unwrap();
        let len = writer.finish();
        query.truncate(len);
        let mut verifier = sign_request(&key, &mut query, NOW);
        let request = Request { unix_secs: NOW, ..Request::at_zero(&query, ([192, 0, 2, 9], 5300).into(), Transport::Tcp) };
        assert_eq!(engine.handle(&request, &mut [0u8; 65_535]), Outcome::Transfer);
        let mut transfer = engine.transfer(&request).expect("a signed transfer");
        let mut out = vec![0u8; crate::auth::transfer::MESSAGE_MAX];
        let mut messages = 0;
        while let Some(len) = transfer.next_message(&mut out) {
            verifier.verify(&out[..len], NOW).unwrap_or_else(|e| panic!("message {messages}: {e}"));
            messages += 1;
        }
        assert!(messages > 1 && verifier.ended_signed(), "{messages} messages");
    }
}
