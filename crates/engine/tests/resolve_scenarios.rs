//! Scenario tests of the iterative resolver (RFC 1034 §5.3.3) with a fake clock and scripted
//! authoritative servers: each asserts the client-visible result and the number of upstream
//! queries.

mod resolve_world;

/// Named after the file, so that `cargo test -p portcullis-engine resolve` selects these tests.
#[cfg(test)]
mod resolve_scenarios {
    use super::resolve_world::*;
    use portcullis_engine::cache::Cached;
    use portcullis_engine::resolve::Failure;
    use portcullis_engine::Transport;
    use portcullis_wire::{Class, Rcode, Rtype};

    fn rdatas(resolved: &portcullis_engine::resolve::Resolved, rtype: Rtype) -> Vec<Vec<u8>> {
        resolved.answer.iter().filter(|set| set.rtype == rtype).flat_map(|set| set.rdatas.clone()).collect()
    }

    #[test]
    fn root_tld_authoritative_in_three_queries_then_cached() {
        let mut world = World::standard();
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(rdatas(&resolved, Rtype::A), [vec![192, 0, 2, 80], vec![192, 0, 2, 81]]);
        assert_eq!(world.queries(), 3);
        // QNAME minimisation (RFC 9156): the root sees "com.", the TLD "example.com.".
        let sent: Vec<String> = world.log.iter().map(|q| q.question.qname.to_string().to_lowercase()).collect();
        assert_eq!(sent, ["com.", "example.com.", "www.example.com."]);
        let again = world.resolve("WWW.Example.COM.", Rtype::A);
        assert_eq!((again.rcode, world.queries()), (Rcode::NOERROR, 3));
        // A sibling name needs only the authoritative server now.
        world.resolve("mail.example.com.", Rtype::MX);
        assert_eq!(world.queries(), 4);
    }

    #[test]
    fn a_prefetch_asks_the_authoritative_again_despite_the_cache() {
        let mut world = World::standard();
        world.resolve("www.example.com.", Rtype::A);
        assert_eq!(world.queries(), 3);
        let refreshed = world.resolve_with("www.example.com.", Rtype::A, true);
        assert_eq!(rdatas(&refreshed, Rtype::A), [vec![192, 0, 2, 80], vec![192, 0, 2, 81]]);
        assert_eq!((world.queries(), world.queries_to(&world.log[3].server.ip().to_string())), (4, 2), "only the zone's server, from the cached delegation");
        world.resolve("www.example.com.", Rtype::A);
        assert_eq!(world.queries(), 4, "a plain resolution answers from the cache");
    }

    #[test]
    fn without_minimisation_the_full_name_goes_everywhere() {
        let mut world = World::standard();
        world.settings.qname_minimisation = false;
        world.resolve("www.example.com.", Rtype::A);
        assert!(world.log.iter().all(|q| q.question.qname == name("www.example.com.") && q.question.qtype == Rtype::A));
        assert_eq!(world.queries(), 3);
    }

    /// example.org is served by ns.example.net, which has no glue in the org zone.
    fn world_without_glue() -> World {
        let mut world = World::standard();
        world.zone("127.0.0.5", "org.", "org. 900 SOA a.org. h.org. 1 1 1 1 900\nexample.org. 3600 NS ns.example.net.\n");
        world.zone("127.0.0.2", "net.", "net. 900 SOA a.net. h.net. 1 1 1 1 900\nexample.net. 3600 NS ns1.example.net.\nns1.example.net. 3600 A 127.0.0.6\n");
        world.zone("127.0.0.6", "example.net.", "example.net. 300 SOA ns1.example.net. h.example.net. 1 1 1 1 300\nns.example.net. 300 A 127.0.0.7\n");
        world.zone("127.0.0.7", "example.org.", "example.org. 300 SOA ns.example.net. h. 1 1 1 1 300\nwww.example.org. 300 A 192.0.2.7\n");
        world
    }

    #[test]
    fn referral_without_glue_resolves_the_ns_name() {
        let mut world = world_without_glue();
        let resolved = world.resolve("www.example.org.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(rdatas(&resolved, Rtype::A), [vec![192, 0, 2, 7]]);
        // org., example.org. (no glue) | net., example.net., ns.example.net. | www.example.org.
        assert_eq!(world.queries(), 6);
        assert_eq!(world.queries_to("127.0.0.7"), 1);
    }

    #[test]
    fn cname_across_zones() {
        let mut world = world_without_glue();
        world.zone("127.0.0.3", "example.com.", "elsewhere.example.com. 300 CNAME www.example.org.\n");
        world.zone("127.0.0.4", "example.com.", "elsewhere.example.com. 300 CNAME www.example.org.\n");
        let resolved = world.resolve("elsewhere.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        let types: Vec<Rtype> = resolved.answer.iter().map(|set| set.rtype).collect();
        assert_eq!(types, [Rtype::CNAME, Rtype::A]);
        assert_eq!(rdatas(&resolved, Rtype::A), [vec![192, 0, 2, 7]]);
        // com., example.com., elsewhere.example.com. | org., example.org. | net., example.net., ns | www
        assert_eq!(world.queries(), 9);
    }

    #[test]
    fn dname_is_followed_into_another_zone() {
        let mut world = world_without_glue();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.zone(ip, "example.com.", "legacy.example.com. 300 DNAME example.org.\n");
        }
        let resolved = world.resolve("www.legacy.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        let types: Vec<Rtype> = resolved.answer.iter().map(|set| set.rtype).collect();
        assert_eq!(types, [Rtype::DNAME, Rtype::CNAME, Rtype::A]);
        assert_eq!(rdatas(&resolved, Rtype::A), [vec![192, 0, 2, 7]]);
        // Again, from the cache: the same chain, DNAME first (RFC 6672 §3.4), no upstream query.
        let queries = world.queries();
        let again = world.resolve("www.legacy.example.com.", Rtype::A);
        assert_eq!(again.answer.iter().map(|set| set.rtype).collect::<Vec<_>>(), [Rtype::DNAME, Rtype::CNAME, Rtype::A]);
        assert_eq!(world.queries(), queries);
    }

    #[test]
    fn rfc2308_nxdomain_is_cached() {
        let mut world = World::standard();
        let resolved = world.resolve("nope.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NXDOMAIN);
        assert_eq!(resolved.authority.len(), 1);
        assert_eq!(resolved.authority[0].rtype, Rtype::SOA);
        assert_eq!(resolved.authority[0].ttl, 300);
        assert_eq!(world.queries(), 3);
        let again = world.resolve("nope.example.com.", Rtype::TXT);
        assert_eq!((again.rcode, world.queries()), (Rcode::NXDOMAIN, 3));
    }

    #[test]
    fn rfc2308_negative_answer_shows_the_zone_ns_of_the_reply_without_caching_it() {
        let mut world = World::standard();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.behave(
                ip,
                Behaviour::Script(Box::new(|query, honest| {
                    let bytes = if query.question.qname == name("nope.example.com.") {
                        let soa = "example.com. 3600 SOA ns1.example.com. admin.example.com. 1 7200 3600 1209600 300\n";
                        let authority = format!("{soa}example.com. 7200 NS ns9.example.com.\n");
                        forge(query, Rcode::NXDOMAIN, true, "", &authority, "")
                    } else {
                        honest
                    };
                    vec![Delivery { from: query.server, bytes }]
                })),
            );
        }
        let resolved = world.resolve("nope.example.com.", Rtype::A);
        let types: Vec<Rtype> = resolved.authority.iter().map(|set| set.rtype).collect();
        assert_eq!((resolved.rcode, types), (Rcode::NXDOMAIN, vec![Rtype::SOA, Rtype::NS]));
        // The delegation in the cache is still the parent's.
        let Some(Cached::Positive(ns, _)) = world.cache.get(&name("example.com."), Rtype::NS, Class::IN, world.now, false) else { panic!("no NS") };
        assert_eq!(ns.name_at(0), Some(name("ns1.example.com.")));
    }

    #[test]
    fn rfc2308_nodata_is_cached() {
        let mut world = World::standard();
        let resolved = world.resolve("www.example.com.", Rtype::AAAA);
        assert_eq!((resolved.rcode, resolved.answer.len(), resolved.authority.len()), (Rcode::NOERROR, 0, 1));
        assert_eq!(world.queries(), 3);
        let again = world.resolve("www.example.com.", Rtype::AAAA);
        assert_eq!((again.rcode, again.authority.len(), world.queries()), (Rcode::NOERROR, 1, 3));
        assert!(matches!(world.cache.get(&name("www.example.com."), Rtype::AAAA, Class::IN, world.now, false), Some(Cached::NoData(Some(_), _))));
    }

    #[test]
    fn truncated_udp_answer_is_retried_over_tcp() {
        let mut world = World::standard();
        let big: String = (0..120).map(|i| format!("big.example.com. 300 TXT \"{i:0>30}\"\n")).collect();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.zone(ip, "example.com.", &big);
        }
        let resolved = world.resolve("big.example.com.", Rtype::TXT);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(rdatas(&resolved, Rtype::TXT).len(), 120);
        assert_eq!(world.queries(), 4);
        assert_eq!(world.log[3].transport, Transport::Tcp);
        assert_eq!(world.log[2].server, world.log[3].server);
    }

    #[test]
    fn timeout_moves_to_the_next_server() {
        let mut world = World::standard();
        world.behave("127.0.0.3", Behaviour::Silent);
        world.stats.record_rtt(addr("127.0.0.3"), 5);
        let start = world.now;
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!((world.queries(), world.queries_to("127.0.0.3"), world.queries_to("127.0.0.4")), (4, 1, 1));
        // The silent server's timeout was 4 x SRTT, clamped to 200 ms.
        assert!(world.now.as_millis() - start.as_millis() < 300);
        assert_eq!(world.stats.get(addr("127.0.0.3")).consecutive_timeouts, 1);
    }

    #[test]
    fn rfc6891_formerr_falls_back_to_plain_dns() {
        let mut world = World::standard();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.behave(ip, Behaviour::FormerrOnEdns);
        }
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(world.queries(), 4);
        assert!(world.log[2].edns && !world.log[3].edns);
        let server = world.log[3].server;
        assert!(world.stats.get(server).no_edns);
        // Remembered: the next query to that server goes without OPT at once.
        world.resolve("mail.example.com.", Rtype::MX);
        assert!(world.log.iter().skip(4).filter(|q| q.server == server).all(|q| !q.edns));
    }

    #[test]
    fn servers_silent_with_edns_are_retried_without_it() {
        let mut world = World::standard();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.behave(ip, Behaviour::SilentOnEdns);
        }
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        // two timeouts with EDNS, then one plain query answers
        assert_eq!(world.queries(), 5);
        assert!(!world.log[4].edns);
    }

    #[test]
    fn failure_is_cached_and_backs_off() {
        let mut world = World::standard();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.behave(ip, Behaviour::Script(Box::new(|query, _| vec![Delivery { from: query.server, bytes: error_reply(query, Rcode::SERVFAIL) }])));
        }
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.failure), (Rcode::SERVFAIL, Some(Failure::NoServers)));
        // com., example.com. minimised, then the full name at both servers (relaxed minimisation
        // retries the minimised step in full) — bounded either way.
        let first = world.queries();
        assert!(first <= 6, "{first}");
        let again = world.resolve("www.example.com.", Rtype::A);
        assert_eq!((again.failure, world.queries()), (Some(Failure::FailureCached), first));
        world.now = world.now.plus_secs(6);
        world.resolve("www.example.com.", Rtype::A);
        assert!(world.queries() > first);
    }
}
