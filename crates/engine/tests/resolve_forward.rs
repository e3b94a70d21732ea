//! Scenario tests of the forwarder (`resolve::forward`, issue 5) with a fake clock and scripted
//! upstreams: each asserts the client's answer and the upstream queries sent.

mod resolve_world;

#[cfg(test)]
mod resolve_forward {
    use super::resolve_world::*;
    use portcullis_engine::auth::ZoneSet;
    use portcullis_engine::cache::Cached;
    use portcullis_engine::cache::Security;
    use portcullis_engine::metrics::EngineCounters;
    use portcullis_engine::policy::Instant;
    use portcullis_engine::resolve::upstreams::{GroupSettings, Hedge, Policy, UpstreamGroup};
    use portcullis_engine::resolve::validate::{anchors, ValidationSettings};
    use portcullis_engine::resolve::{Failure, ForwardMode, ForwardZones, Forwarding, Resolved, SeededRandom, Step};
    use portcullis_engine::{Engine, EngineSettings, Outcome, Request, Transport};
    use portcullis_wire::header::Flags;
    use portcullis_wire::message::Section;
    use portcullis_wire::message::{Message, Question};
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::{Class, Rcode, Rtype};
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::Arc;

    const ZONE: &str = "$TTL 300\n\
        example.com. SOA ns.example.com. host.example.com. 1 3600 900 604800 60\n\
        example.com. NS ns.example.com.\n\
        ns.example.com. A 192.0.2.53\n\
        www.example.com. A 192.0.2.80\n\
        alias.example.com. CNAME www.example.com.\n\
        sub.example.com. NS ns.sub.example.com.\n\
        ns.sub.example.com. A 192.0.2.99\n";

    /// How a fake upstream answers: the delay of its replies, or silence, or a script.
    #[derive(Clone, Copy, PartialEq)]
    enum Upstream {
        Answers(u64),
        Silent,
        ServFail,
        /// Adds records nobody asked for (answer, authority, additional).
        Poisons,
        /// Answers with 40 A records (over 512 bytes).
        Large,
        Truncates,
        /// Answers ANY with every RRset of the name (A, TXT, MX).
        WholeAny,
    }

    struct Bench {
        group: UpstreamGroup,
        upstreams: HashMap<SocketAddr, Upstream>,
        world: World,
        sent: Vec<(SocketAddr, Transport, bool)>,
        /// The zone's answers go to the cache (`cache = true`, the default).
        cache: bool,
        /// Answers are validated (with `world.settings`' anchors).
        validate: bool,
    }

    fn upstream(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, n], 5300))
    }

    impl Bench {
        fn new(settings: GroupSettings, upstreams: &[Upstream]) -> Self {
            let mut world = World::new();
            world.zone("127.0.0.1", "example.com.", ZONE);
            let primaries: Vec<SocketAddr> = (1..=upstreams.len() as u8).map(upstream).collect();
            let group = UpstreamGroup::new(GroupSettings { primaries: primaries.clone(), ..settings });
            Self { group, upstreams: primaries.into_iter().zip(upstreams.iter().copied()).collect(), world, sent: Vec::new(), cache: true, validate: false }
        }

        fn forward(&mut self, qname: &str, qtype: Rtype) -> Resolved {
            self.world.seed += 1;
            let question = Question { qname: name(qname), qtype, qclass: Class::IN };
            let mut forwarding = Forwarding::new(question, Arc::new(self.world.settings.clone()), self.world.now, Box::new(SeededRandom::new(self.world.seed)))
                .with_cache(self.cache)
                .with_validation(self.validate, 1_700_000_000);
            let mut pending: Vec<(Instant, portcullis_engine::resolve::QueryId, SocketAddr, Vec<u8>)> = Vec::new();
            for _ in 0..1000 {
                match forwarding.poll(self.world.now, &self.world.cache, &mut self.group, &self.world.stats) {
                    Step::Send(outbound) => {
                        let message = Message::parse(&outbound.bytes).unwrap();
                        assert!(message.header().rd(), "forwarded queries ask for recursion");
                        let query = Query::of(&outbound);
                        self.sent.push((outbound.server, outbound.transport, query.edns));
                        let zones = &self.world.servers[&"127.0.0.1".parse().unwrap()].zones;
                        let reply = |delay: u64, bytes: Vec<u8>| Some((self.world.now.plus_millis(delay), outbound.id, outbound.server, bytes));
                        let delivery = match self.upstreams[&outbound.server] {
                            Upstream::Answers(delay) => reply(delay, respond(zones, &query, false)),
                            Upstream::Silent => None,
                            Upstream::ServFail => reply(1, error_reply(&query, Rcode::SERVFAIL)),
                            Upstream::Truncates if query.transport == Transport::Udp => reply(1, respond(zones, &query, true)),
                            Upstream::Truncates => reply(1, respond(zones, &query, false)),
                            Upstream::Large => {
                                let answer: String = (1..=40).map(|n| format!("www.example.com. 300 A 192.0.2.{n}\n")).collect();
                                reply(1, forge(&query, Rcode::NOERROR, false, &answer, "", ""))
                            }
                            Upstream::WholeAny => {
                                let answer = "www.example.com. 300 A 192.0.2.80\nwww.example.com. 300 TXT \"t\"\nwww.example.com. 300 MX 10 www.example.com.\n";
                                reply(1, forge(&query, Rcode::NOERROR, false, answer, "", ""))
                            }
                            Upstream::Poisons => reply(
                                1,
                                forge(
                                    &query,
                                    Rcode::NOERROR,
                                    false,
                                    "www.example.com. 300 A 192.0.2.80\nevil.example.net. 300 A 6.6.6.6\n",
                                    "example.com. 300 NS ns.evil.net.\n",
                                    "ns.evil.net. 300 A 6.6.6.6\n",
                                ),
                            ),
                        };
                        pending.extend(delivery);
                    }
                    Step::Wait(deadline) => {
                        pending.sort_by_key(|(at, ..)| *at);
                        match pending.first() {
                            Some((at, ..)) if *at <= deadline => {
                                let (at, id, from, bytes) = pending.remove(0);
                                self.world.now = at.max(self.world.now);
                                forwarding.on_reply(id, from, &bytes, self.world.now, &self.world.cache, &mut self.group, &self.world.stats);
                            }
                            _ => self.world.now = deadline,
                        }
                    }
                    Step::Done(resolved) => {
                        assert_eq!(resolved.upstream_queries, forwarding.upstream_queries());
                        assert!(self.group.snapshot().iter().all(|upstream| upstream.in_flight == 0), "every slot released");
                        return resolved;
                    }
                }
            }
            panic!("forwarding did not finish");
        }

        fn sent_to(&self, n: u8) -> usize {
            self.sent.iter().filter(|(server, ..)| *server == upstream(n)).count()
        }
    }

    fn settings(policy: Policy) -> GroupSettings {
        GroupSettings { policy, ..GroupSettings::default() }
    }

    #[test]
    fn a_referral_from_an_upstream_that_does_not_recurse_is_passed_on() {
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::Answers(5), Upstream::Answers(5)]);
        let resolved = bench.forward("www.sub.example.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.failure, resolved.answer.len()), (Rcode::NOERROR, None, 0));
        assert_eq!(resolved.authority.iter().map(|set| (set.owner.to_string(), set.rtype)).collect::<Vec<_>>(), [("sub.example.com.".to_string(), Rtype::NS)]);
        assert_eq!(resolved.additional.iter().map(|set| set.rdatas.clone()).collect::<Vec<_>>(), [vec![vec![192, 0, 2, 99]]]);
        assert_eq!((bench.sent_to(1), bench.sent_to(2)), (1, 0), "not a failure: no other upstream asked");
        assert_eq!(bench.group.snapshot()[0].failures, 0);
    }

    #[test]
    fn answers_are_taken_as_given_and_cached() {
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::Answers(5)]);
        let resolved = bench.forward("alias.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(resolved.answer.iter().map(|set| set.rtype).collect::<Vec<_>>(), [Rtype::CNAME, Rtype::A]);
        assert_eq!(resolved.upstream_queries, 1);
        let cached = bench.world.cache.get(&name("www.example.com."), Rtype::A, Class::IN, bench.world.now, false);
        assert!(matches!(cached, Some(Cached::Positive(..))));
        let nx = bench.forward("nope.example.com.", Rtype::A);
        assert_eq!((nx.rcode, nx.authority.len()), (Rcode::NXDOMAIN, 1), "NXDOMAIN with its SOA");
        let nodata = bench.forward("www.example.com.", Rtype::MX);
        assert_eq!((nodata.rcode, nodata.answer.len(), nodata.authority.len()), (Rcode::NOERROR, 0, 1));
    }

    /// An answer whose validation cannot finish (the upstream refuses the root's DNSKEY RRset,
    /// as a server authoritative for other zones only does) is SERVFAIL, and its cache entry,
    /// stored before validation, is bogus with EDE 5 (DNSSEC Indeterminate): no later cache hit
    /// serves it as good. An entry validated before keeps its status.
    #[test]
    fn an_answer_whose_validation_is_given_up_is_cached_bogus_not_good() {
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::Answers(1)]);
        bench.world.settings.dnssec = ValidationSettings::default().with_anchors(anchors::builtin_root(), false);
        bench.validate = true;
        let resolved = bench.forward("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::SERVFAIL);
        let now = bench.world.now;
        match bench.world.cache.get(&name("www.example.com."), Rtype::A, Class::IN, now, false) {
            Some(Cached::Positive(_, hit)) => assert_eq!((hit.security, hit.ede), (Security::Bogus, 5)),
            other => panic!("the unvalidated answer should be cached bogus: {other:?}"),
        }
        let nx = bench.forward("nope.example.com.", Rtype::A);
        assert_eq!(nx.rcode, Rcode::SERVFAIL);
        match bench.world.cache.get(&name("nope.example.com."), Rtype::A, Class::IN, bench.world.now, false) {
            Some(Cached::NxDomain(_, hit)) => assert_eq!((hit.security, hit.ede), (Security::Bogus, 5)),
            other => panic!("the unvalidated denial should be cached bogus: {other:?}"),
        }
        // Validated before: the status stands.
        bench.validate = false;
        bench.forward("ns.example.com.", Rtype::A);
        let rdatas = [vec![192, 0, 2, 53]];
        bench.world.cache.set_security(&name("ns.example.com."), Some(Rtype::A), Class::IN, Some(&rdatas), (Security::Insecure, 0), 300, bench.world.now);
        bench.world.cache.abandon_unvalidated(&name("ns.example.com."), Some(Rtype::A), Class::IN, Some(&rdatas), 5, bench.world.now);
        match bench.world.cache.get(&name("ns.example.com."), Rtype::A, Class::IN, bench.world.now, false) {
            Some(Cached::Positive(_, hit)) => assert_eq!(hit.security, Security::Insecure),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unrelated_records_are_scrubbed() {
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::Poisons]);
        let resolved = bench.forward("www.example.com.", Rtype::A);
        assert_eq!(resolved.answer.len(), 1);
        let now = bench.world.now;
        assert!(bench.world.cache.get(&name("evil.example.net."), Rtype::A, Class::IN, now, false).is_none());
        assert!(bench.world.cache.get(&name("ns.evil.net."), Rtype::A, Class::IN, now, false).is_none());
        assert!(bench.world.cache.get(&name("example.com."), Rtype::NS, Class::IN, now, false).is_none());
    }

    #[test]
    fn without_the_cache_a_plain_answer_is_passed_on_as_the_upstream_sent_it() {
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::Poisons]);
        bench.cache = false;
        let resolved = bench.forward("www.example.com.", Rtype::A);
        assert!(resolved.verbatim.is_some() && resolved.has_answer());
        // The client's reply: its ID, its question's case, our OPT, and every upstream record.
        let out = client_reply(&resolved, "WWW.example.COM.", true);
        let reply = Message::parse(&out).unwrap();
        assert_eq!((reply.header().id(), reply.rcode(), reply.header().tc()), (0x4242, Rcode::NOERROR, false));
        assert_eq!(reply.question().unwrap().qname.as_wire(), name("WWW.example.COM.").as_wire());
        let owners = |section| reply.records(section).filter(|r| r.rtype != Rtype::OPT).map(|r| r.owner.to_string().to_lowercase()).collect::<Vec<_>>();
        assert_eq!(owners(Section::Answer), ["www.example.com.", "evil.example.net."]);
        assert_eq!(owners(Section::Authority), ["example.com."]);
        assert_eq!(owners(Section::Additional), ["ns.evil.net."]);
        assert_eq!(reply.edns().map(|edns| edns.udp_size), Some(EngineSettings::default().udp_payload), "our OPT");
        let now = bench.world.now;
        assert!(bench.world.cache.get(&name("www.example.com."), Rtype::A, Class::IN, now, false).is_none(), "nothing cached");
        // An empty NOERROR is still read (NODATA, referral or lame server): not passed on as it is.
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::Answers(1)]);
        bench.cache = false;
        let nodata = bench.forward("www.example.com.", Rtype::MX);
        assert!(nodata.verbatim.is_none());
        assert_eq!((nodata.rcode, nodata.authority.len()), (Rcode::NOERROR, 1));
        let nx = bench.forward("nope.example.com.", Rtype::A);
        assert!(nx.verbatim.is_some() && !nx.has_answer());
        assert_eq!(nx.rcode, Rcode::NXDOMAIN);
    }

    #[test]
    fn an_answer_to_any_gives_one_rrset_with_or_without_the_cache() {
        // SECURITY-REFERENCE §6 row 64: never the whole set an upstream sends for ANY.
        for cache in [true, false] {
            let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::WholeAny]);
            bench.cache = cache;
            let resolved = bench.forward("www.example.com.", Rtype::ANY);
            assert!(resolved.verbatim.is_none(), "cache {cache}: ANY is read, not passed on");
            assert_eq!((resolved.rcode, resolved.answer.len()), (Rcode::NOERROR, 1), "cache {cache}: one RRset");
            assert_eq!(resolved.answer[0].rdatas.len(), 1, "cache {cache}");
        }
    }

    #[test]
    fn without_the_cache_an_answer_too_large_for_the_client_is_truncated() {
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::Large]);
        bench.cache = false;
        let resolved = bench.forward("www.example.com.", Rtype::A);
        assert!(resolved.verbatim.is_some());
        let small = client_reply(&resolved, "www.example.com.", false);
        let message = Message::parse(&small).unwrap();
        assert!(small.len() <= 512 && message.header().tc(), "no EDNS: 512 bytes at most, TC=1");
        assert_eq!((message.rcode(), message.header().ancount()), (Rcode::NOERROR, 0), "no partial copy");
        let large = client_reply(&resolved, "www.example.com.", true);
        let message = Message::parse(&large).unwrap();
        assert!(!message.header().tc());
        assert_eq!(message.records(Section::Answer).count(), 40);
    }

    /// The reply a client asking `qname` (type A, with or without EDNS) gets for `resolved`.
    fn client_reply(resolved: &Resolved, qname: &str, edns: bool) -> Vec<u8> {
        let engine = Engine::new(ZoneSet::default(), EngineSettings::default(), Arc::new(EngineCounters::default()));
        let mut query = [0u8; 512];
        let mut writer = MessageWriter::new(&mut query, 512).unwrap();
        writer.set_header(0x4242, Flags { rd: true, ..Flags::default() });
        writer.push_question(&name(qname), Rtype::A, Class::IN).unwrap();
        if edns {
            writer.push_opt(1232, Rcode::NOERROR, false, &[]).unwrap();
        }
        let len = writer.finish();
        let request = Request::at_zero(&query[..len], SocketAddr::from(([127, 0, 0, 9], 4000)), Transport::Udp);
        let mut out = [0u8; 4096];
        let Outcome::Reply(len) = engine.respond_resolved(resolved, &request, &mut out) else { panic!("no reply") };
        out[..len].to_vec()
    }

    #[test]
    fn a_silent_upstream_is_skipped_and_marked_down_after_fall() {
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::Silent, Upstream::Answers(2)]);
        for round in 1..=3 {
            let resolved = bench.forward("www.example.com.", Rtype::A);
            assert_eq!(resolved.rcode, Rcode::NOERROR, "round {round}: the retry on upstream 2 answers");
            assert_eq!(resolved.upstream_queries, 2);
            bench.world.cache = portcullis_engine::cache::Cache::new(portcullis_engine::cache::CacheSettings::DEFAULT);
        }
        assert!(!bench.group.snapshot()[0].up, "fall = 3 timeouts");
        let events = bench.group.take_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason.to_string(), "3 consecutive failures, the last: timeout");
        let resolved = bench.forward("www.example.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.upstream_queries), (Rcode::NOERROR, 1), "down: not asked any more");
        assert_eq!((bench.sent_to(1), bench.sent_to(2)), (3, 4));
    }

    #[test]
    fn servfail_moves_on_and_all_failing_is_servfail() {
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::ServFail, Upstream::Answers(1)]);
        assert_eq!(bench.forward("www.example.com.", Rtype::A).rcode, Rcode::NOERROR);
        let mut bench = Bench::new(settings(Policy::RoundRobin), &[Upstream::ServFail, Upstream::Silent]);
        let resolved = bench.forward("www.example.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.failure, resolved.upstream_queries), (Rcode::SERVFAIL, Some(Failure::NoServers), 2));
    }

    #[test]
    fn without_fail_open_a_down_group_fails_at_once() {
        let mut bench = Bench::new(GroupSettings { fall: 1, ..settings(Policy::Ordered) }, &[Upstream::Silent]);
        assert_eq!(bench.forward("www.example.com.", Rtype::A).rcode, Rcode::SERVFAIL);
        assert!(!bench.group.is_up(0));
        // forward-only (fail open): the down upstream is still asked.
        assert_eq!(bench.forward("www.example.com.", Rtype::A).upstream_queries, 1);
        // forward-first: no query, the caller falls back at once.
        bench.world.seed += 1;
        let question = Question { qname: name("www.example.com."), qtype: Rtype::A, qclass: Class::IN };
        let mut forwarding =
            Forwarding::new(question, Arc::new(bench.world.settings.clone()), bench.world.now, Box::new(SeededRandom::new(9))).with_fail_open(false);
        let step = forwarding.poll(bench.world.now, &bench.world.cache, &mut bench.group, &bench.world.stats);
        assert!(matches!(step, Step::Done(ref resolved) if resolved.failure == Some(Failure::NoServers) && resolved.upstream_queries == 0), "{step:?}");
        assert_eq!(bench.group.snapshot()[0].queries, 2, "nothing counted for the question that was not sent");
    }

    #[test]
    fn truncated_replies_are_asked_again_over_tcp() {
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::Truncates]);
        let resolved = bench.forward("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(bench.sent.iter().map(|(_, transport, _)| *transport).collect::<Vec<_>>(), [Transport::Udp, Transport::Tcp]);
    }

    #[test]
    fn hedging_asks_a_second_upstream_and_the_first_answer_wins() {
        let hedged = GroupSettings { hedge: Hedge::After(30), ..settings(Policy::Ordered) };
        let mut bench = Bench::new(hedged, &[Upstream::Answers(500), Upstream::Answers(5)]);
        let start = bench.world.now;
        let resolved = bench.forward("www.example.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.upstream_queries), (Rcode::NOERROR, 2));
        assert_eq!(bench.world.now.as_millis() - start.as_millis(), 35, "hedge after 30 ms, answered 5 ms later");
        let snapshot = bench.group.snapshot();
        assert_eq!((snapshot[0].queries, snapshot[1].queries, snapshot[0].failures), (1, 1, 0), "the abandoned query is no failure");
        // Without hedging the slow upstream is waited for.
        let mut bench = Bench::new(settings(Policy::Ordered), &[Upstream::Answers(500), Upstream::Answers(5)]);
        let resolved = bench.forward("www.example.com.", Rtype::A);
        assert_eq!(resolved.upstream_queries, 1);
    }

    #[test]
    fn forward_zones_match_the_longest_suffix() {
        let mut zones = ForwardZones::new();
        zones.insert(name("."), ForwardMode::First, 0);
        zones.insert(name("Example.COM."), ForwardMode::Only, 1);
        zones.insert(name("sub.example.com."), ForwardMode::Only, 2);
        let pick = |qname: &str| zones.lookup(&name(qname)).map(|(_, _, value)| *value);
        assert_eq!(pick("www.example.org."), Some(0));
        assert_eq!(pick("www.example.com."), Some(1));
        assert_eq!(pick("a.sub.EXAMPLE.com."), Some(2));
        assert_eq!(pick("example.com."), Some(1));
        let empty: ForwardZones<u8> = ForwardZones::new();
        assert!(empty.lookup(&name("example.com.")).is_none());
    }
}
