//! Configured zones with no copy to answer from: a secondary not transferred yet (or expired),
//! a primary whose file did not load. The server is authoritative for their names, so they get
//! SERVFAIL, as BIND answers: never REFUSED, and never recursion, which would answer for the
//! zone with what the rest of the world says.

use super::Engine;
use crate::auth::Zone;
use portcullis_wire::NameBuf;
use std::sync::Arc;

impl Engine {
    /// The same engine, with `origins` the primary zones configured whose file did not load.
    pub fn with_unloaded(mut self, origins: Vec<NameBuf>) -> Self {
        self.unloaded = origins.into();
        self
    }

    /// Origins of the primary zones configured whose file did not load.
    pub fn unloaded(&self) -> &[NameBuf] {
        &self.unloaded
    }

    /// True when `qname` belongs to a configured zone without a copy: a secondary zone with no
    /// copy loaded or a primary zone that did not load, whose origin encloses `qname` and is
    /// deeper than `closest`, the loaded zone that would answer.
    #[inline]
    pub(super) fn lacks_copy(&self, qname: &NameBuf, closest: Option<&Zone>) -> bool {
        if self.secondaries.origins.is_empty() && self.unloaded.is_empty() {
            return false;
        }
        let depth = closest.map_or(0, |zone| zone.origin().label_count());
        let encloses = |origin: &NameBuf| origin.label_count() > depth && qname.is_subdomain_of(origin);
        self.secondaries.origins.iter().any(encloses) || self.unloaded.iter().any(encloses)
    }
}

/// No zone is without its copy.
pub(super) fn none() -> Arc<[NameBuf]> {
    Arc::from(Vec::new())
}

#[cfg(test)]
mod tests {
    use crate::auth::zone::RecordData;
    use crate::auth::{Zone, ZoneSet};
    use crate::engine::{Engine, EngineSettings};
    use crate::metrics::EngineCounters;
    use crate::request::{Outcome, Request, Transport};
    use portcullis_wire::header::Flags;
    use portcullis_wire::message::Message;
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
    use std::sync::Arc;

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    fn rcode(engine: &Engine, qname: &str) -> Rcode {
        let mut buf = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.set_header(0x3333, Flags { rd: true, ..Flags::default() });
        writer.push_question(&name(qname), Rtype::A, Class::IN).unwrap();
        let len = writer.finish();
        let mut out = vec![0u8; 512];
        let request = Request::at_zero(&buf[..len], ([127, 0, 0, 1], 5300).into(), Transport::Udp);
        let Outcome::Reply(len) = engine.handle(&request, &mut out) else { panic!("{qname}: not answered at once") };
        Message::parse(&out[..len]).unwrap().rcode()
    }

    /// A zone holding only its SOA.
    fn zone(origin: &str) -> Arc<Zone> {
        let origin = name(origin);
        let mut soa = name("ns.test.").as_wire().to_vec();
        soa.extend_from_slice(name("host.test.").as_wire());
        soa.extend_from_slice(&[0; 20]);
        Arc::new(Zone::build(&origin, Class::IN, [RecordData { owner: &origin, rtype: Rtype::SOA, ttl: 60, rdata: &soa }]))
    }

    #[test]
    fn names_of_a_primary_zone_that_did_not_load_get_servfail_not_recursion() {
        let zones = ZoneSet::new(vec![zone("parent.test."), zone("loaded.test.")]);
        let cache = Arc::new(crate::cache::Cache::new(crate::cache::CacheSettings::default()));
        let engine = Engine::new(zones, EngineSettings::default(), Arc::new(EngineCounters::default()))
            .with_recursion(cache)
            .with_unloaded(vec![name("broken.test."), name("child.parent.test.")]);
        assert_eq!(engine.unloaded(), [name("broken.test."), name("child.parent.test.")]);
        for qname in ["broken.test.", "www.BROKEN.test.", "a.child.parent.test."] {
            assert_eq!(rcode(&engine, qname), Rcode::SERVFAIL, "{qname}");
        }
        assert_eq!(rcode(&engine, "parent.test."), Rcode::NOERROR, "the loaded parent answers for itself");
        assert_eq!(rcode(&engine, "loaded.test."), Rcode::NOERROR);
        // A name outside every configured zone still goes to recursion.
        let mut out = vec![0u8; 512];
        let mut buf = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.set_header(1, Flags { rd: true, ..Flags::default() });
        writer.push_question(&name("www.elsewhere."), Rtype::A, Class::IN).unwrap();
        let len = writer.finish();
        let request = Request::at_zero(&buf[..len], ([127, 0, 0, 1], 5300).into(), Transport::Udp);
        assert!(matches!(engine.handle(&request, &mut out), Outcome::Resolve));
        // A copy of the zone (a later reload) answers again, through with_zones too.
        let reloaded = engine.with_zones(ZoneSet::new(vec![zone("parent.test."), zone("broken.test.")]));
        assert_eq!(rcode(&reloaded, "broken.test."), Rcode::NOERROR);
    }
}
