//! The engine's side of recursion (DESIGN §4.4 step f): who may recurse (RFC 5358: REFUSED with
//! RA=0 for the others), RA=1 on every reply to allowed clients, cache hits answered on the
//! worker without allocating, misses handed off as `Outcome::Resolve`, and the client reply
//! written from a finished resolution (`Engine::respond_resolved`), serve-stale included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Named after the file, so that `cargo test -p portcullis-engine recursion` selects these tests.
#[cfg(test)]
mod recursion_engine {
    use portcullis_engine::auth::ZoneSet;
    use portcullis_engine::cache::{Cache, CacheSettings, Rrset, Trust};
    use portcullis_engine::load::load_zone_text;
    use portcullis_engine::policy::Instant;
    use portcullis_engine::resolve::{Failure, Resolved};
    use portcullis_engine::zonefile::NoIncludes;
    use portcullis_engine::{recursion_key, Engine, EngineSettings, Outcome, Request, Transport};
    use portcullis_wire::header::Flags;
    use portcullis_wire::message::{Message, Section};
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
    use std::net::SocketAddr;
    use std::sync::Arc;

    const ZONE: &str = "$TTL 300\n@ SOA ns hostmaster 1 3600 900 604800 300\n@ NS ns\nns A 192.0.2.53\nwww A 192.0.2.80\n";

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    fn engine(cache: Option<Arc<Cache>>) -> Engine {
        let origin = name("served.test.");
        let zone = load_zone_text(&origin, ZONE, "served.test", &NoIncludes).unwrap();
        let engine = Engine::new(ZoneSet::new(vec![Arc::new(zone)]), EngineSettings::default(), Arc::default());
        match cache {
            Some(cache) => engine.with_recursion(cache),
            None => engine,
        }
    }

    fn filled_cache(settings: CacheSettings) -> Arc<Cache> {
        let cache = Cache::new(settings);
        let mut a = Rrset::new(name("cached.example."), Rtype::A, Class::IN, 300);
        a.push(300, &[192, 0, 2, 7]);
        cache.insert_rrset(&a, Trust::Answer, Instant::ZERO);
        Arc::new(cache)
    }

    fn query(qname: &str, qtype: Rtype, rd: bool, dnssec_ok: bool) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.set_header(0x4242, Flags { rd, ..Flags::default() });
        writer.push_question(&name(qname), qtype, Class::IN).unwrap();
        writer.push_opt(1232, Rcode::NOERROR, dnssec_ok, &[]).unwrap();
        let len = writer.finish();
        buf.truncate(len);
        buf
    }

    fn from(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 5300)
    }

    fn request<'a>(bytes: &'a [u8], peer: SocketAddr, now_secs: u64) -> Request<'a> {
        Request { bytes, peer, transport: Transport::Udp, now: Instant::from_secs(now_secs), unix_secs: 0, listener: 0, worker: 0 }
    }

    /// (rcode, RA, answer count) of a reply.
    fn summary(reply: &[u8]) -> (Rcode, bool, u16) {
        let message = Message::parse(reply).unwrap();
        (message.rcode(), message.header().ra(), message.header().ancount())
    }

    #[test]
    fn clients_outside_the_acl_are_refused_with_ra_clear() {
        let engine = engine(Some(filled_cache(CacheSettings::DEFAULT)));
        let mut out = vec![0u8; 4096];
        let bytes = query("elsewhere.example.", Rtype::A, true, false);
        let Outcome::Reply(len) = engine.handle(&request(&bytes, from("192.0.2.1"), 1), &mut out) else { panic!("no reply") };
        assert_eq!(summary(&out[..len]), (Rcode::REFUSED, false, 0));
        // Authoritative answers to them keep RA=0; to localhost they carry RA=1.
        let bytes = query("www.served.test.", Rtype::A, true, false);
        let Outcome::Reply(len) = engine.handle(&request(&bytes, from("192.0.2.1"), 1), &mut out) else { panic!("no reply") };
        assert_eq!(summary(&out[..len]), (Rcode::NOERROR, false, 1));
        let Outcome::Reply(len) = engine.handle(&request(&bytes, from("127.0.0.1"), 1), &mut out) else { panic!("no reply") };
        assert_eq!(summary(&out[..len]), (Rcode::NOERROR, true, 1));
        assert_eq!(engine.counters().recursion_refused.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn without_recursion_names_outside_the_zones_are_refused() {
        let engine = engine(None);
        let mut out = vec![0u8; 4096];
        let bytes = query("elsewhere.example.", Rtype::A, true, false);
        let Outcome::Reply(len) = engine.handle(&request(&bytes, from("127.0.0.1"), 1), &mut out) else { panic!("no reply") };
        assert_eq!(summary(&out[..len]), (Rcode::REFUSED, false, 0));
    }

    #[test]
    fn hits_about_to_expire_ask_for_a_prefetch() {
        // TTL 300, prefetch below 10%: at 269 s (31 s left) a plain reply, at 271 s (29 s left)
        // the reply and a prefetch; RD=0 never prefetches.
        let off = engine(Some(filled_cache(CacheSettings { prefetch_percent: 0, ..CacheSettings::DEFAULT })));
        let engine = engine(Some(filled_cache(CacheSettings::DEFAULT)));
        let mut out = vec![0u8; 4096];
        let hit = query("cached.example.", Rtype::A, true, false);
        assert!(matches!(engine.handle(&request(&hit, from("127.0.0.1"), 269), &mut out), Outcome::Reply(_)));
        let Outcome::ReplyAndPrefetch(len) = engine.handle(&request(&hit, from("127.0.0.1"), 271), &mut out) else { panic!("no prefetch") };
        assert_eq!(summary(&out[..len]), (Rcode::NOERROR, true, 1));
        let no_rd = query("cached.example.", Rtype::A, false, false);
        assert!(matches!(engine.handle(&request(&no_rd, from("127.0.0.1"), 271), &mut out), Outcome::Reply(_)));
        assert!(matches!(off.handle(&request(&hit, from("127.0.0.1"), 299), &mut out), Outcome::Reply(_)));
    }

    #[test]
    fn misses_are_handed_off_and_hits_answered_without_allocating() {
        let engine = engine(Some(filled_cache(CacheSettings::DEFAULT)));
        let mut out = vec![0u8; 4096];
        let miss = query("elsewhere.example.", Rtype::A, true, false);
        assert_eq!(engine.handle(&request(&miss, from("127.0.0.1"), 1), &mut out), Outcome::Resolve);
        // RD=0 and nothing cached: REFUSED (RA=1: recursion is available to this client).
        let no_rd = query("elsewhere.example.", Rtype::A, false, false);
        let Outcome::Reply(len) = engine.handle(&request(&no_rd, from("127.0.0.1"), 1), &mut out) else { panic!("no reply") };
        assert_eq!(summary(&out[..len]), (Rcode::REFUSED, true, 0));
        let hit = query("CACHED.example.", Rtype::A, true, false);
        let mut outcome = Outcome::Resolve;
        let counts = allocation_counter::measure(|| outcome = engine.handle(&request(&hit, from("127.0.0.1"), 10), &mut out));
        let Outcome::Reply(len) = outcome else { panic!("no reply: {outcome:?}") };
        assert_eq!(counts.count_total, 0, "a cache hit allocated");
        assert_eq!(summary(&out[..len]), (Rcode::NOERROR, true, 1));
        let message = Message::parse(&out[..len]).unwrap();
        let record = message.records(Section::Answer).next().unwrap();
        assert_eq!(record.ttl, 290, "the TTL counts down");
        assert_eq!(message.header().id(), 0x4242);
    }

    #[test]
    fn the_tunnelling_detector_on_cache_hits_allocates_nothing_and_blocks_one_account() {
        use portcullis_engine::policy::tunnel::{TunnelDetector, TunnelMode, TunnelSettings};
        let detector = Arc::new(TunnelDetector::new(TunnelSettings::new(TunnelMode::Block), [7; 16]));
        let engine = engine(Some(filled_cache(CacheSettings::DEFAULT))).with_tunnel_detector(detector.clone());
        let mut out = vec![0u8; 4096];
        let hit = query("CACHED.example.", Rtype::A, true, false);
        for now in [10, 11] {
            let mut outcome = Outcome::Resolve;
            let counts = allocation_counter::measure(|| outcome = engine.handle(&request(&hit, from("127.0.0.1"), now), &mut out));
            let Outcome::Reply(len) = outcome else { panic!("no reply: {outcome:?}") };
            assert_eq!(counts.count_total, 0, "a cache hit with the detector on allocated");
            assert_eq!(summary(&out[..len]), (Rcode::NOERROR, true, 1));
        }
        // A tunnel from ::1 (loopback is watched too) to example.: refused with EDE 15, cache
        // hits included; 127.0.0.1 still gets its answer.
        let mut refused = 0;
        for i in 0..200u32 {
            let name = format!(
                "{:060x}.{:060x}.cached.example.",
                u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834),
                u128::from(i) << 64 | 0x1234_5678_9abc_def1
            );
            let bytes = query(&name, Rtype::TXT, true, false);
            if let Outcome::Reply(len) = engine.handle(&request(&bytes, from("::1"), 20), &mut out) {
                refused += usize::from(summary(&out[..len]).0 == Rcode::REFUSED);
            }
        }
        assert!(refused > 100, "only {refused} of the tunnel's queries refused");
        let Outcome::Reply(len) = engine.handle(&request(&hit, from("::1"), 21), &mut out) else { panic!("no reply") };
        assert_eq!(summary(&out[..len]).0, Rcode::REFUSED, "the blocked client's cache hit is refused too");
        let message = Message::parse(&out[..len]).unwrap();
        let edns = message.edns().expect("OPT");
        assert!(
            edns.iter_options().any(|(code, data)| code == 15 && data.starts_with(&[0, 15]) && data.ends_with(b"(portcullis)")),
            "EDE 15 with the detector's text"
        );
        let Outcome::Reply(len) = engine.handle(&request(&hit, from("127.0.0.1"), 21), &mut out) else { panic!("no reply") };
        assert_eq!(summary(&out[..len]), (Rcode::NOERROR, true, 1), "another client is untouched");
        assert_eq!(detector.drain_events()[0].client.to_string(), "::/64");
    }

    #[test]
    fn resolved_answers_are_finished_like_any_reply() {
        let engine = engine(Some(filled_cache(CacheSettings::DEFAULT)));
        let mut out = vec![0u8; 4096];
        let bytes = query("Elsewhere.example.", Rtype::A, true, true);
        let mut a = Rrset::new(name("elsewhere.example."), Rtype::A, Class::IN, 60);
        a.push(60, &[198, 51, 100, 1]);
        let resolved = Resolved { answer: vec![a], ..Resolved::empty(Rcode::NOERROR, None, 3) };
        let Outcome::Reply(len) = engine.respond_resolved(&resolved, &request(&bytes, from("127.0.0.1"), 1), &mut out) else { panic!("no reply") };
        let message = Message::parse(&out[..len]).unwrap();
        assert_eq!(summary(&out[..len]), (Rcode::NOERROR, true, 1));
        assert_eq!(message.header().id(), 0x4242);
        assert!(message.header().rd() && message.header().is_response());
        assert_eq!(message.question().unwrap().qname.as_wire(), name("Elsewhere.example.").as_wire(), "question echoed with its case");
        assert!(message.edns().is_some_and(|edns| edns.dnssec_ok), "OPT with DO echoed");
        let failed = Resolved::servfail(Failure::NoServers, 4);
        let Outcome::Reply(len) = engine.respond_resolved(&failed, &request(&bytes, from("127.0.0.1"), 1), &mut out) else { panic!("no reply") };
        assert_eq!(summary(&out[..len]), (Rcode::SERVFAIL, true, 0));
    }

    #[test]
    fn serve_stale_replaces_a_servfail() {
        let settings = CacheSettings { serve_stale: true, ..CacheSettings::DEFAULT };
        let engine = engine(Some(filled_cache(settings)));
        let mut out = vec![0u8; 4096];
        let bytes = query("cached.example.", Rtype::A, true, false);
        // Expired at 300 s: the worker hands it off; the resolution fails; stale data answers.
        assert_eq!(engine.handle(&request(&bytes, from("127.0.0.1"), 400), &mut out), Outcome::Resolve);
        let failed = Resolved::servfail(Failure::NoServers, 4);
        let Outcome::Reply(len) = engine.respond_resolved(&failed, &request(&bytes, from("127.0.0.1"), 400), &mut out) else { panic!("no reply") };
        assert_eq!(summary(&out[..len]), (Rcode::NOERROR, true, 1));
        let message = Message::parse(&out[..len]).unwrap();
        assert_eq!(message.records(Section::Answer).next().unwrap().ttl, 30, "RFC 8767 stale TTL");
    }

    #[test]
    fn recursion_key_ignores_case_and_keeps_the_do_bit() {
        let lower = recursion_key(&query("www.example.", Rtype::A, true, false)).unwrap();
        let upper = recursion_key(&query("WWW.Example.", Rtype::A, true, false)).unwrap();
        let with_do = recursion_key(&query("www.example.", Rtype::A, true, true)).unwrap();
        assert_eq!(lower, upper);
        assert_eq!(lower.question.qname.as_wire(), name("www.example.").as_wire());
        assert_ne!(lower, with_do);
        assert!(recursion_key(&[0u8; 5]).is_none());
    }

    /// A query with the given DO, AD and CD bits.
    fn flagged(qname: &str, dnssec_ok: bool, ad: bool, cd: bool) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.set_header(0x4343, Flags { rd: true, ad, cd, ..Flags::default() });
        writer.push_question(&name(qname), Rtype::A, Class::IN).unwrap();
        writer.push_opt(1232, Rcode::NOERROR, dnssec_ok, &[]).unwrap();
        let len = writer.finish();
        buf.truncate(len);
        buf
    }

    /// (rcode, AD, answer types, EDE code) of a reply.
    fn dnssec_summary(reply: &[u8]) -> (Rcode, bool, Vec<Rtype>, Option<u16>) {
        let message = Message::parse(reply).unwrap();
        let types = message.records(Section::Answer).map(|record| record.rtype).collect();
        let ede = message.edns().and_then(|edns| edns.iter_options().find(|(code, _)| *code == 15).map(|(_, data)| u16::from_be_bytes([data[0], data[1]])));
        (message.rcode(), message.header().ad(), types, ede)
    }

    #[test]
    fn validated_answers_carry_ad_rrsigs_and_extended_errors_rfc4035_rfc8914() {
        use portcullis_engine::cache::Security;
        use portcullis_engine::resolve::validate::Bogus;
        let engine = engine(Some(filled_cache(CacheSettings::DEFAULT)));
        let mut out = vec![0u8; 4096];
        let mut a = Rrset::new(name("signed.example."), Rtype::A, Class::IN, 60);
        a.push(60, &[198, 51, 100, 2]);
        a.sigs.push(vec![0, 1, 13, 2, 0, 0, 0, 60, 0, 0, 0, 9, 0, 0, 0, 1, 0, 7, 0]);
        let secure = Resolved { answer: vec![a], security: Security::Secure, ..Resolved::empty(Rcode::NOERROR, None, 3) };
        let peer = from("127.0.0.1");
        let mut ask = |resolved: &Resolved, bytes: &[u8]| {
            let Outcome::Reply(len) = engine.respond_resolved(resolved, &request(bytes, peer, 1), &mut out) else { panic!("no reply") };
            dnssec_summary(&out[..len])
        };
        // RFC 6840 §5.7-5.8: AD with DO=1 or AD=1; RRSIGs only with DO=1.
        assert_eq!(ask(&secure, &flagged("signed.example.", true, false, false)), (Rcode::NOERROR, true, vec![Rtype::A, Rtype::RRSIG], None));
        assert_eq!(ask(&secure, &flagged("signed.example.", false, true, false)), (Rcode::NOERROR, true, vec![Rtype::A], None));
        assert_eq!(ask(&secure, &flagged("signed.example.", false, false, false)), (Rcode::NOERROR, false, vec![Rtype::A], None));
        let insecure = Resolved { security: Security::Insecure, ..secure.clone() };
        assert!(!ask(&insecure, &flagged("signed.example.", true, false, false)).1, "insecure: no AD");
        // Bogus: SERVFAIL with the EDE, no data; CD=1 gets the data (RFC 4035 §3.2.2), without AD.
        let bogus = Resolved { security: Security::Bogus, bogus: Some(Bogus::new(7, "signed.example. A: signature expired".into())), ..secure };
        assert_eq!(ask(&bogus, &flagged("signed.example.", true, false, false)), (Rcode::SERVFAIL, false, vec![], Some(7)));
        assert_eq!(ask(&bogus, &flagged("signed.example.", true, false, true)), (Rcode::NOERROR, false, vec![Rtype::A, Rtype::RRSIG], None));
    }

    #[test]
    fn a_bogus_cache_hit_goes_to_the_pool_unless_cd_is_set() {
        use portcullis_engine::cache::Security;
        let cache = filled_cache(CacheSettings::DEFAULT);
        let mut a = Rrset::new(name("bogus.example."), Rtype::A, Class::IN, 300);
        a.push(300, &[192, 0, 2, 66]);
        cache.insert_checked(&a, Trust::AuthAnswer, (Security::Bogus, 6), Instant::ZERO);
        let mut secure = Rrset::new(name("secure.example."), Rtype::A, Class::IN, 300);
        secure.push(300, &[192, 0, 2, 1]);
        cache.insert_checked(&secure, Trust::AuthAnswer, (Security::Secure, 0), Instant::ZERO);
        let engine = engine(Some(cache));
        let mut out = vec![0u8; 4096];
        let peer = from("127.0.0.1");
        let bytes = flagged("bogus.example.", true, false, false);
        assert_eq!(engine.handle(&request(&bytes, peer, 1), &mut out), Outcome::Resolve, "answered (SERVFAIL, EDE, logged) by the pool");
        let bytes = flagged("bogus.example.", true, false, true);
        let Outcome::Reply(len) = engine.handle(&request(&bytes, peer, 1), &mut out) else { panic!("CD=1: answered from the cache") };
        assert_eq!(dnssec_summary(&out[..len]), (Rcode::NOERROR, false, vec![Rtype::A], None));
        let bytes = flagged("secure.example.", true, false, false);
        let Outcome::Reply(len) = engine.handle(&request(&bytes, peer, 1), &mut out) else { panic!("a cache hit") };
        assert_eq!(dnssec_summary(&out[..len]), (Rcode::NOERROR, true, vec![Rtype::A], None), "secure from the cache: AD");
    }
}
