//! NOTIFY received (RFC 1996 §3.7, §4): for a zone this server is secondary for, from a client
//! the `notify` ACL allows, the answer is NOERROR with AA and the question echoed, and the zone's
//! refresh is asked for through the [`NotifyHook`] (the I/O layer's secondary manager). A NOTIFY
//! for any other zone is NOTIMP, and one the ACL denies gets the ACL's answer.

use super::{dropped, Answered, Engine, Query};
use crate::policy::{Action, ResponseKind};
use crate::request::{DropReason, Outcome, Request};
use portcullis_wire::{NameBuf, Rcode, Rtype};
use std::fmt;
use std::sync::Arc;

/// Called with a secondary zone's origin when an allowed NOTIFY for it arrives.
#[derive(Clone)]
pub struct NotifyHook(pub Arc<dyn Fn(&NameBuf) + Send + Sync>);

impl fmt::Debug for NotifyHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NotifyHook")
    }
}

/// The zones this server is secondary for, and whom to tell of a NOTIFY.
#[derive(Clone, Debug, Default)]
pub struct Secondaries {
    /// Their origins.
    pub origins: Arc<[NameBuf]>,
    /// Told of each allowed NOTIFY.
    pub hook: Option<NotifyHook>,
}

impl Engine {
    /// The answer to a NOTIFY (opcode 4).
    pub(super) fn notify_answer(&self, query: &Query<'_>, request: &Request<'_>, out: &mut [u8]) -> Answered {
        let frame = &query.frame;
        let question = frame.question().filter(|q| q.qtype == Rtype::SOA && frame.header().qdcount() == 1);
        let origin = question.and_then(|q| self.secondaries.origins.iter().find(|o| o.as_wire().eq_ignore_ascii_case(q.qname.as_wire())));
        let zone = origin.or_else(|| question.and_then(|q| self.zones.closest(&q.qname)).map(|z| z.origin()));
        if let Some(denied) = self.denial(query, request, Action::Notify, zone, out) {
            return denied;
        }
        let Some(origin) = origin else { return self.error_reply(frame, Rcode::NOTIMP, out) };
        if let Some(hook) = &self.secondaries.hook {
            (hook.0)(origin);
        }
        let Some(mut writer) = frame.writer(out) else { return dropped(DropReason::NoBuffer) };
        frame.begin(&mut writer, &self.settings);
        writer.set_aa(true);
        let len = frame.finish(&mut writer, Rcode::NOERROR, &self.settings);
        Answered { outcome: Outcome::Reply(len), kind: ResponseKind::Answer, name_hash: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ZoneSet;
    use crate::engine::{EngineSettings, Policy};
    use crate::metrics::EngineCounters;
    use crate::policy::{Acl, AclSettings, ActionRules, MatchElement};
    use portcullis_wire::header::Flags;
    use portcullis_wire::message::Message;
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::{Class, Opcode};
    use std::sync::Mutex;

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    /// An engine secondary for `sec.test.` that takes NOTIFY from 192.0.2.1 only, and the
    /// origins its hook was called with.
    fn engine() -> (Engine, Arc<Mutex<Vec<NameBuf>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let hook = NotifyHook(Arc::new(move |origin: &NameBuf| record.lock().unwrap().push(*origin)));
        let rules = ActionRules { notify: Some(vec!["192.0.2.1".parse::<MatchElement>().unwrap()]), ..Default::default() };
        let mut policy = Policy::defaults();
        policy.acl = Acl::new(&AclSettings { global: rules, ..Default::default() }, None).unwrap();
        let secondaries = Secondaries { origins: vec![name("sec.test.")].into(), hook: Some(hook) };
        let engine =
            Engine::with_policy(ZoneSet::default(), EngineSettings::default(), Arc::new(EngineCounters::default()), policy).with_secondaries(secondaries);
        (engine, seen)
    }

    fn notify(zone: &str) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.set_header(0x1111, Flags { opcode: Opcode::NOTIFY.0, aa: true, ..Flags::default() });
        writer.push_question(&name(zone), Rtype::SOA, Class::IN).unwrap();
        let len = writer.finish();
        buf.truncate(len);
        buf
    }

    fn ask(engine: &Engine, bytes: &[u8], from: [u8; 4]) -> Message<'static> {
        let mut out = vec![0u8; 512];
        let request = Request::at_zero(bytes, (from, 5300).into(), crate::Transport::Udp);
        let Outcome::Reply(len) = engine.handle(&request, &mut out) else { panic!("no reply") };
        out.truncate(len);
        Message::parse(out.leak()).unwrap()
    }

    #[test]
    fn an_allowed_notify_for_a_secondary_zone_is_answered_and_handed_on() {
        let (engine, seen) = engine();
        let reply = ask(&engine, &notify("SEC.test."), [192, 0, 2, 1]);
        let header = reply.header();
        assert_eq!((reply.rcode(), header.opcode(), header.aa(), header.id()), (Rcode::NOERROR, Opcode::NOTIFY, true, 0x1111));
        assert_eq!(reply.question().unwrap().qname, name("SEC.test."), "the question echoed");
        assert_eq!(*seen.lock().unwrap(), [name("sec.test.")]);
    }

    fn query(qname: &str) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.set_header(0x2222, Flags::default());
        writer.push_question(&name(qname), Rtype::SOA, Class::IN).unwrap();
        let len = writer.finish();
        buf.truncate(len);
        buf
    }

    #[test]
    fn names_of_a_secondary_zone_without_a_copy_get_servfail() {
        let (engine, _) = engine();
        assert_eq!(ask(&engine, &query("www.sec.test."), [192, 0, 2, 9]).rcode(), Rcode::SERVFAIL);
        assert_eq!(ask(&engine, &query("www.other.test."), [192, 0, 2, 9]).rcode(), Rcode::REFUSED, "outside every zone");
        // With a copy loaded, the zone answers.
        let mut soa = name("ns.sec.test.").as_wire().to_vec();
        soa.extend_from_slice(name("host.sec.test.").as_wire());
        soa.extend_from_slice(&[0; 20]);
        let origin = name("sec.test.");
        let copy = crate::auth::Zone::build(&origin, Class::IN, [crate::auth::zone::RecordData { owner: &origin, rtype: Rtype::SOA, ttl: 60, rdata: &soa }]);
        let loaded = engine.with_zones(ZoneSet::new(vec![Arc::new(copy)]));
        let reply = ask(&loaded, &query("sec.test."), [192, 0, 2, 9]);
        assert_eq!((reply.rcode(), reply.header().aa()), (Rcode::NOERROR, true));
    }

    #[test]
    fn other_sources_and_other_zones_change_nothing() {
        let (engine, seen) = engine();
        assert_eq!(ask(&engine, &notify("sec.test."), [192, 0, 2, 2]).rcode(), Rcode::REFUSED);
        assert_eq!(ask(&engine, &notify("other.test."), [192, 0, 2, 1]).rcode(), Rcode::NOTIMP);
        assert!(seen.lock().unwrap().is_empty());
    }
}
