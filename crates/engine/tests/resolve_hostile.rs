//! Row 63 (resolver side) and the hostile-upstream rows of SECURITY-REFERENCE §6.7 (66-71, 75-78) against the iterative
//! resolver: each asserts the client-visible result, the number of upstream queries and, where
//! the row is about poisoning, what the cache holds afterwards.

mod resolve_world;

/// Named after the file, so that `cargo test -p portcullis-engine resolve` selects these tests.
#[cfg(test)]
mod resolve_hostile {
    use super::resolve_world::*;
    use portcullis_engine::cache::Cached;
    use portcullis_engine::policy::Instant;
    use portcullis_engine::resolve::Failure;
    use portcullis_engine::Transport;
    use portcullis_wire::{Class, Rcode, Rtype};
    use std::net::SocketAddr;

    const FORGED: [u8; 4] = [6, 6, 6, 6];

    fn a_rdatas(world: &World, owner: &str) -> Option<Vec<Vec<u8>>> {
        match world.cache.get(&name(owner), Rtype::A, Class::IN, world.now, false) {
            Some(Cached::Positive(set, _)) => Some(set.rdatas),
            _ => None,
        }
    }

    fn www_answer(resolved: &portcullis_engine::resolve::Resolved) -> Vec<Vec<u8>> {
        resolved.answer.iter().filter(|set| set.rtype == Rtype::A).flat_map(|set| set.rdatas.clone()).collect()
    }

    fn script_both(world: &mut World, make: impl Fn() -> Script) {
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.behave(ip, Behaviour::Script(make()));
        }
    }

    #[test]
    fn row63_a_random_subdomain_flood_is_capped_per_zone() {
        let mut world = World::standard();
        world.settings.zone_failure_rate = 5;
        world.settings.zone_query_rate = 5;
        world.settings.zone_query_rate_factor = 10;
        world.rtt_ms = 1;
        world.resolve("www.example.com.", Rtype::A);
        // A fresh second: 30 random names under example.com., each a cache miss for its servers.
        world.now = Instant::from_secs(1001);
        world.log.clear();
        let results: Vec<_> = (0..30).map(|n| world.resolve(&format!("r{n}.example.com."), Rtype::A)).collect();
        let sent: Vec<bool> = results.iter().map(|resolved| resolved.failure != Some(Failure::ZoneRateLimited)).collect();
        // 5 NXDOMAIN hold the zone; then 5 within the query rate, and one in 10 past it (the
        // 20th and 30th).
        let expected: Vec<bool> = (1..=30).map(|n| n <= 10 || (n - 10) % 10 == 0).collect();
        assert_eq!(sent, expected);
        assert_eq!(world.queries(), 12, "{:?}", world.log);
        assert!(results.iter().filter(|resolved| resolved.failure == Some(Failure::ZoneRateLimited)).all(|resolved| resolved.rcode == Rcode::SERVFAIL));
        assert!(results.iter().zip(&sent).filter(|(_, sent)| **sent).all(|(resolved, _)| resolved.rcode == Rcode::NXDOMAIN));
        // Cached names still answer, from the cache, in the same second.
        let cached = world.resolve("www.example.com.", Rtype::A);
        assert_eq!((cached.rcode, cached.upstream_queries), (Rcode::NOERROR, 0));
        // The next second: a limited name is asked again (its failure was not cached).
        world.now = Instant::from_secs(1002);
        let again = world.resolve("r11.example.com.", Rtype::A);
        assert_eq!((again.rcode, again.upstream_queries), (Rcode::NXDOMAIN, 1));
        assert_eq!(world.stats.zone_rates.limited.load(std::sync::atomic::Ordering::Relaxed), 18);
        assert_eq!(world.stats.zone_rates.holds.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn row63_answered_queries_never_hold_a_zone() {
        let mut world = World::standard();
        world.settings.zone_failure_rate = 5;
        world.settings.zone_query_rate = 5;
        world.rtt_ms = 1;
        world.now = Instant::from_secs(1001);
        // Many questions in one second whose answers exist: NOERROR and NODATA, none limited.
        let qtypes = [Rtype::A, Rtype::AAAA, Rtype::MX, Rtype::TXT, Rtype::NS, Rtype::SOA, Rtype::SRV, Rtype::CAA];
        for qtype in qtypes {
            for name in ["www.example.com.", "example.com."] {
                let resolved = world.resolve(name, qtype);
                assert_ne!(resolved.failure, Some(Failure::ZoneRateLimited), "{name} {qtype}");
            }
        }
        assert!(world.queries() > 5, "{:?}", world.log);
        assert_eq!(world.stats.zone_rates.holds.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    #[test]
    fn row66_wrong_id_and_wrong_source_are_discarded() {
        let mut world = World::standard();
        script_both(&mut world, || {
            Box::new(|query, honest| {
                let forged = forge(query, Rcode::NOERROR, true, "www.example.com. 300 A 6.6.6.6", "", "");
                let mut wrong_id = forged.clone();
                wrong_id[..2].copy_from_slice(&query.id.wrapping_add(1).to_be_bytes());
                let other_port = SocketAddr::new(query.server.ip(), 5353);
                let other_host = SocketAddr::new("127.0.0.66".parse().unwrap(), 53);
                vec![
                    Delivery { from: query.server, bytes: wrong_id },
                    Delivery { from: other_port, bytes: forged.clone() },
                    Delivery { from: other_host, bytes: forged },
                    Delivery { from: query.server, bytes: honest },
                ]
            })
        });
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(www_answer(&resolved), [vec![192, 0, 2, 80], vec![192, 0, 2, 81]]);
        assert_eq!(world.queries(), 3);
        let server = world.log[2].server;
        // The near miss (right source, wrong ID) switched the server to TCP (spoof-nearmiss-max 1).
        assert!(world.stats.get(server).tcp_only);
        assert!(world.stats.unwanted_total.load(std::sync::atomic::Ordering::Relaxed) >= 3);
        world.resolve("mail.example.com.", Rtype::MX);
        assert!(world.log.iter().skip(3).filter(|q| q.server == server).all(|q| q.transport == Transport::Tcp));
        assert!(!a_rdatas(&world, "www.example.com.").unwrap().contains(&FORGED.to_vec()));
    }

    #[test]
    fn row67_question_mismatch_is_discarded() {
        let mut world = World::standard();
        script_both(&mut world, || {
            Box::new(|query, honest| {
                let mut other = query.clone();
                other.question.qname = name("evil.example.com.");
                let wrong_name = forge(&other, Rcode::NOERROR, true, "evil.example.com. 300 A 6.6.6.6", "", "");
                other = query.clone();
                other.question.qtype = Rtype::TXT;
                let wrong_type = forge(&other, Rcode::NOERROR, true, "", "", "");
                vec![
                    Delivery { from: query.server, bytes: wrong_name },
                    Delivery { from: query.server, bytes: wrong_type },
                    Delivery { from: query.server, bytes: honest },
                ]
            })
        });
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(www_answer(&resolved), [vec![192, 0, 2, 80], vec![192, 0, 2, 81]]);
        assert_eq!(world.queries(), 3);
        assert!(a_rdatas(&world, "evil.example.com.").is_none());
    }

    #[test]
    fn row67_case_mismatch_falls_back_without_0x20() {
        let mut world = World::standard();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.behave(ip, Behaviour::LowercaseQuestion);
        }
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(www_answer(&resolved).len(), 2);
        // The mixed-case query is refused, the same server is asked again without 0x20.
        assert_eq!(world.queries(), 4);
        assert_eq!(world.log[2].server, world.log[3].server);
        assert_ne!(world.log[2].question.qname.as_wire(), name("www.example.com.").as_wire());
        assert_eq!(world.log[3].question.qname.as_wire(), name("www.example.com.").as_wire());
        assert!(world.stats.get(world.log[3].server).no_0x20);
    }

    #[test]
    fn row68_out_of_bailiwick_data_is_scrubbed_before_caching() {
        let mut world = World::standard();
        script_both(&mut world, || {
            Box::new(|query, _| {
                if query.question.qname.to_lowercase() != name("www.example.com.") {
                    return Vec::new();
                }
                let answer = "www.example.com. 300 A 192.0.2.80\nvictim.net. 300 A 6.6.6.6\nother.example.com. 300 A 6.6.6.6";
                let authority = "com. 300 NS ns.evil.test.\nexample.com. 300 NS ns.evil.test.\nvictim.net. 300 NS ns.evil.test.";
                let additional =
                    "a.gtld.test. 300 A 6.6.6.6\nns.evil.test. 300 A 6.6.6.6\nns1.example.com. 300 A 6.6.6.6\nunrelated.example.com. 300 A 6.6.6.6";
                vec![Delivery { from: query.server, bytes: forge(query, Rcode::NOERROR, true, answer, authority, additional) }]
            })
        });
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(www_answer(&resolved), [vec![192, 0, 2, 80]]);
        assert_eq!(resolved.answer.len(), 1);
        assert_eq!(world.queries(), 3);
        for owner in ["victim.net.", "other.example.com.", "ns.evil.test.", "unrelated.example.com."] {
            assert!(a_rdatas(&world, owner).is_none(), "{owner} was cached");
        }
        assert_eq!(a_rdatas(&world, "a.gtld.test.").unwrap(), [vec![127, 0, 0, 2]]);
        assert_eq!(a_rdatas(&world, "ns1.example.com.").unwrap(), [vec![127, 0, 0, 3]]);
        for zone in ["com.", "example.com.", "victim.net."] {
            if let Some(Cached::Positive(ns, _)) = world.cache.get(&name(zone), Rtype::NS, Class::IN, world.now, false) {
                assert!(!ns.rdatas.contains(&name("ns.evil.test.").as_wire().to_vec()), "{zone} NS poisoned");
            }
        }
    }

    #[test]
    fn row69_nxns_hundred_ns_names_without_glue() {
        let mut world = World::standard();
        let ns: String = (0..100).map(|i| format!("attack.com. 300 NS ns{i}.victim.net.\n")).collect();
        world.zone("127.0.0.2", "com.", &ns);
        world.zone("127.0.0.2", "net.", "net. 900 SOA a. h. 1 1 1 1 900\nvictim.net. 300 NS ns.victim.net.\nns.victim.net. 300 A 127.0.0.8\n");
        world.zone("127.0.0.8", "victim.net.", "victim.net. 300 SOA ns.victim.net. h. 1 1 1 1 300\nns.victim.net. 300 A 127.0.0.8\n");
        let resolved = world.resolve("www.attack.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.failure), (Rcode::SERVFAIL, Some(Failure::NoServers)));
        // Five NS-address lookups fail (MAX_TARGET_NX), then the resolver gives up.
        assert_eq!(world.queries_to("127.0.0.8"), 5);
        // com., attack.com. | net., victim.net., ns0 | ns1..ns4
        assert_eq!(world.queries(), 9);
    }

    #[test]
    fn row70_cname_chain_of_twenty_is_servfail() {
        let mut world = World::standard();
        let chain: String =
            (0..20).map(|i| format!("c{i}.example.com. 300 CNAME c{}.example.com.\n", i + 1)).collect::<String>() + "c20.example.com. 300 A 192.0.2.20\n";
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.zone(ip, "example.com.", &chain);
        }
        let resolved = world.resolve("c0.example.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.failure), (Rcode::SERVFAIL, Some(Failure::ChainTooLong)));
        // com., example.com., c0 (clipped at 11 links), c11 (too many)
        assert_eq!(world.queries(), 4);
    }

    #[test]
    fn row70_cname_loop_is_servfail() {
        let mut world = World::standard();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.zone(ip, "example.com.", "a.example.com. 300 CNAME b.example.com.\nb.example.com. 300 CNAME a.example.com.\n");
        }
        let resolved = world.resolve("a.example.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.failure), (Rcode::SERVFAIL, Some(Failure::ChainTooLong)));
        assert_eq!(world.queries(), 3);
    }

    #[test]
    fn row71_ns_cycle_is_servfail_bounded_and_cached() {
        let mut world = World::standard();
        world.zone("127.0.0.2", "com.", "cycle1.com. 300 NS ns.cycle2.com.\ncycle2.com. 300 NS ns.cycle1.com.\n");
        let resolved = world.resolve("www.cycle1.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::SERVFAIL);
        // com., cycle1.com. (no glue) | cycle2.com. (no glue) | the cycle is seen on the stack.
        assert_eq!(world.queries(), 3);
        let again = world.resolve("www.cycle1.com.", Rtype::A);
        assert_eq!((again.failure, world.queries()), (Some(Failure::FailureCached), 3));
        // A sibling name in the cycle costs no more than the first time.
        world.resolve("mail.cycle1.com.", Rtype::A);
        assert!(world.queries() <= 6);
    }

    #[test]
    fn row75_huge_rrset_is_answered_but_not_cached() {
        let mut world = World::standard();
        let big: String = (0..4000).map(|i| format!("big.example.com. 300 A 10.{}.{}.1\n", i / 256, i % 256)).collect();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.zone(ip, "example.com.", &big);
        }
        let resolved = world.resolve("big.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(www_answer(&resolved).len(), 4000);
        assert_eq!(world.queries(), 4); // UDP truncated, then TCP
        assert!(a_rdatas(&world, "big.example.com.").is_none());
        assert!(world.cache.counters.refused.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    }

    #[test]
    fn row76_silent_servers_end_in_servfail_and_are_cached() {
        let mut world = World::standard();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.behave(ip, Behaviour::Silent);
        }
        let start = world.now;
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.failure), (Rcode::SERVFAIL, Some(Failure::NoServers)));
        // Each server with EDNS, then each without; back-off doubles the second wait.
        assert_eq!(world.queries(), 6);
        assert!(world.now.as_millis() - start.as_millis() <= 10_000);
        world.resolve("www.example.com.", Rtype::A);
        assert_eq!(world.queries(), 6);
    }

    #[test]
    fn row76_total_deadline_is_ten_seconds() {
        let mut world = World::standard();
        let ns: String = (0..13).map(|i| format!("slow.com. 300 NS ns{i}.slow.com.\nns{i}.slow.com. 300 A 127.0.1.{i}\n")).collect();
        world.zone("127.0.0.2", "com.", &ns);
        let start = world.now;
        let resolved = world.resolve("www.slow.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.failure), (Rcode::SERVFAIL, Some(Failure::Deadline)));
        assert_eq!(world.now, Instant::from_millis(start.as_millis() + 10_000));
        assert_eq!(world.queries(), 2 + 10);
    }

    #[test]
    fn row77_glue_on_the_do_not_query_list_is_never_asked() {
        let mut world = World::standard();
        world.zone(
            "127.0.0.2",
            "com.",
            "zero.com. 300 NS ns.zero.com.\nns.zero.com. 300 A 0.0.0.0\nzero.com. 300 NS ns6.zero.com.\nns6.zero.com. 300 AAAA ::\n",
        );
        let resolved = world.resolve("www.zero.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::SERVFAIL);
        assert_eq!(world.queries_to("0.0.0.0") + world.queries_to("::"), 0);
        assert_eq!(world.queries(), 2);
        // With the default settings localhost is refused too: the 127.0.0.1 root is never asked.
        let mut strict = World::standard();
        strict.settings.do_not_query_localhost = true;
        let resolved = strict.resolve("www.example.com.", Rtype::A);
        assert_eq!((resolved.rcode, strict.queries()), (Rcode::SERVFAIL, 0));
    }

    #[test]
    fn row78_truncated_partial_data_is_ignored() {
        let mut world = World::standard();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.zone(ip, "example.com.", "three.example.com. 300 A 192.0.2.1\nthree.example.com. 300 A 192.0.2.2\nthree.example.com. 300 A 192.0.2.3\n");
            world.behave(ip, Behaviour::TruncateUdp);
        }
        let resolved = world.resolve("three.example.com.", Rtype::A);
        assert_eq!(www_answer(&resolved).len(), 3);
        assert_eq!(world.queries(), 4);
        assert_eq!(world.log[3].transport, Transport::Tcp);
        assert_eq!(a_rdatas(&world, "three.example.com.").unwrap().len(), 3);
    }

    #[test]
    fn mangled_replies_never_panic_and_always_finish() {
        for seed in 0..300u64 {
            let mut world = World::standard();
            world.seed = seed;
            script_both(&mut world, move || {
                let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                Box::new(move |query, mut honest| {
                    for _ in 0..1 + state % 8 {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        let at = (state as usize) % honest.len();
                        honest[at] ^= (state >> 32) as u8 | 1;
                    }
                    vec![Delivery { from: query.server, bytes: honest }]
                })
            });
            let resolved = world.resolve("www.example.com.", Rtype::A);
            assert!(world.queries() <= 100, "{seed}: {} queries", world.queries());
            assert!(resolved
                .answer
                .iter()
                .flat_map(|set| set.rdatas.iter())
                .all(|rdata| rdata.len() == 4 || resolved.answer.iter().any(|s| s.rtype != Rtype::A)));
        }
    }
}
