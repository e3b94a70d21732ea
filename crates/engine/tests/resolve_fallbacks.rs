//! Scenario tests of the resolver's fallbacks for servers that misbehave in ways seen in the
//! wild (RFC 9156 §2.3 relaxed minimisation, NS-name re-resolution, reply classification edge
//! cases), with the scripted world of `resolve_world`.

mod resolve_world;

/// Named after the file, so that `cargo test -p portcullis-engine resolve` selects these tests.
#[cfg(test)]
mod resolve_fallbacks {
    use super::resolve_world::*;
    use portcullis_wire::{Rcode, Rtype};

    fn a_rdatas(resolved: &portcullis_engine::resolve::Resolved) -> Vec<Vec<u8>> {
        resolved.answer.iter().filter(|set| set.rtype == Rtype::A).flat_map(|set| set.rdatas.clone()).collect()
    }

    #[test]
    fn rfc9156_minimised_a_query_unanswered_falls_back_to_ns_then_full_name() {
        let mut world = World::standard();
        // The com. server drops minimised A queries (a middlebox or a broken server).
        world.behave(
            "127.0.0.2",
            Behaviour::Script(Box::new(|query, honest| {
                let minimised = query.question.qname != name("www.example.com.");
                if minimised && query.question.qtype == Rtype::A {
                    return Vec::new();
                }
                vec![Delivery { from: query.server, bytes: honest }]
            })),
        );
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(a_rdatas(&resolved), [vec![192, 0, 2, 80], vec![192, 0, 2, 81]]);
        let sent: Vec<(String, Rtype)> = world.log.iter().map(|q| (q.question.qname.to_string().to_lowercase(), q.question.qtype)).collect();
        let expected = [("com.", Rtype::A), ("example.com.", Rtype::A), ("example.com.", Rtype::NS), ("www.example.com.", Rtype::A)];
        assert_eq!(sent, expected.map(|(n, t)| (n.to_string(), t)));
    }

    #[test]
    fn rfc9156_minimised_queries_all_unanswered_end_with_the_full_name() {
        let mut world = World::standard();
        world.behave(
            "127.0.0.2",
            Behaviour::Script(Box::new(|query, honest| {
                if query.question.qname != name("www.example.com.") {
                    return Vec::new();
                }
                vec![Delivery { from: query.server, bytes: honest }]
            })),
        );
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        let to_com: Vec<(String, Rtype)> =
            world.log.iter().filter(|q| q.server == addr("127.0.0.2")).map(|q| (q.question.qname.to_string().to_lowercase(), q.question.qtype)).collect();
        assert_eq!(to_com, [("example.com.".to_string(), Rtype::A), ("example.com.".to_string(), Rtype::NS), ("www.example.com.".to_string(), Rtype::A)]);
    }

    #[test]
    fn parent_side_glue_is_the_last_resort_when_the_child_address_fails() {
        let mut world = World::new();
        world.zone("127.0.0.1", ".", ROOT);
        world.zone("127.0.0.2", "com.", "com. 900 SOA a.gtld.test. h. 1 1 1 1 900\nexample.com. 3600 NS ns.example.net.\n");
        world.zone("127.0.0.2", "net.", "net. 900 SOA a.gtld.test. h. 1 1 1 1 900\nexample.net. 3600 NS ns.example.net.\nns.example.net. 3600 A 127.0.0.6\n");
        // The child zone gives its server another address, where nothing works.
        let child = "example.net. 300 SOA ns.example.net. h. 1 1 1 1 300\nexample.net. 300 NS ns.example.net.\nns.example.net. 300 A 127.0.0.9\n";
        world.zone("127.0.0.6", "example.net.", child);
        world.zone("127.0.0.6", "example.com.", "example.com. 300 SOA ns.example.net. h. 1 1 1 1 300\nwww.example.com. 300 A 192.0.2.1\n");
        world.behave("127.0.0.9", Behaviour::Script(Box::new(|query, _| vec![Delivery { from: query.server, bytes: error_reply(query, Rcode::SERVFAIL) }])));
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(a_rdatas(&resolved), [vec![192, 0, 2, 1]]);
        // The child's address first, the parent's glue after it failed.
        let asked: Vec<&Query> = world.log.iter().filter(|q| q.question.qname == name("www.example.com.")).collect();
        assert_eq!(asked.last().map(|q| q.server), Some(addr("127.0.0.6")));
        assert_eq!(world.queries_to("127.0.0.9"), 1);
    }

    #[test]
    fn a_cached_delegation_whose_in_zone_addresses_expired_is_asked_of_the_parent() {
        let mut world = World::new();
        world.zone("127.0.0.1", ".", ROOT);
        let com = "com. 900 SOA a.gtld.test. h. 1 1 1 1 900\nexample.com. 3600 NS ns1.example.com.\nns1.example.com. 10 A 127.0.0.3\n";
        world.zone("127.0.0.2", "com.", com);
        world.zone("127.0.0.3", "example.com.", EXAMPLE);
        assert_eq!(world.resolve("www.example.com.", Rtype::A).rcode, Rcode::NOERROR);
        // The NS RRset is still cached, the glue of its only (in-zone) name is not.
        world.now = world.now.plus_secs(20);
        let before = world.queries();
        let resolved = world.resolve("mail.example.com.", Rtype::MX);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        let sent: Vec<String> = world.log[before..].iter().map(|q| format!("{} {}", q.server.ip(), q.question.qname.to_string().to_lowercase())).collect();
        assert_eq!(sent, ["127.0.0.2 example.com.", "127.0.0.3 mail.example.com."]);
    }

    #[test]
    fn a_referral_with_aa_set_is_still_a_referral() {
        let mut world = World::standard();
        world.behave(
            "127.0.0.2",
            Behaviour::Script(Box::new(|query, mut honest| {
                honest[2] |= 0x04;
                vec![Delivery { from: query.server, bytes: honest }]
            })),
        );
        let resolved = world.resolve("www.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(a_rdatas(&resolved), [vec![192, 0, 2, 80], vec![192, 0, 2, 81]]);
    }

    #[test]
    fn a_cname_whose_authority_names_the_target_zone_is_followed() {
        let mut world = World::standard();
        let example = "sub.example.com. 300 NS ns.sub.example.com.\nns.sub.example.com. 300 A 127.0.0.8\n";
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.zone(ip, "example.com.", example);
            world.behave(
                ip,
                Behaviour::Script(Box::new(|query, honest| {
                    let bytes = if query.question.qname == name("alias.example.com.") {
                        let authority = "sub.example.com. 300 NS ns.sub.example.com.\n";
                        forge(
                            query,
                            Rcode::NOERROR,
                            false,
                            "alias.example.com. 300 CNAME www.sub.example.com.\n",
                            authority,
                            "ns.sub.example.com. 300 A 127.0.0.8\n",
                        )
                    } else {
                        honest
                    };
                    vec![Delivery { from: query.server, bytes }]
                })),
            );
        }
        world.zone("127.0.0.8", "sub.example.com.", "sub.example.com. 300 SOA ns.sub.example.com. h. 1 1 1 1 300\nwww.sub.example.com. 300 A 192.0.2.8\n");
        let resolved = world.resolve("alias.example.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        let types: Vec<Rtype> = resolved.answer.iter().map(|set| set.rtype).collect();
        assert_eq!(types, [Rtype::CNAME, Rtype::A]);
        assert_eq!(a_rdatas(&resolved), [vec![192, 0, 2, 8]]);
    }

    fn script_example(world: &mut World, make: impl Fn() -> Script) {
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.behave(ip, Behaviour::Script(make()));
        }
    }

    #[test]
    fn rfc2308_type3_nodata_holds_only_records_of_another_type() {
        let mut world = World::standard();
        script_example(&mut world, || {
            Box::new(|query, honest| {
                let bytes =
                    if query.question.qtype == Rtype::AAAA { forge(query, Rcode::NOERROR, false, "www.example.com. 0 A 192.0.2.99\n", "", "") } else { honest };
                vec![Delivery { from: query.server, bytes }]
            })
        });
        let resolved = world.resolve("www.example.com.", Rtype::AAAA);
        assert_eq!((resolved.rcode, resolved.failure, resolved.answer.len(), resolved.authority.len()), (Rcode::NOERROR, None, 0, 0));
    }

    #[test]
    fn an_upward_referral_is_lame_even_with_aa() {
        let mut world = World::standard();
        script_example(&mut world, || {
            Box::new(|query, honest| {
                let bytes = if query.question.qtype == Rtype::AAAA {
                    forge(query, Rcode::NOERROR, true, "", ". 3600 NS a.root-servers.test.\n", "a.root-servers.test. 3600 A 127.0.0.1\n")
                } else {
                    honest
                };
                vec![Delivery { from: query.server, bytes }]
            })
        });
        let resolved = world.resolve("www.example.com.", Rtype::AAAA);
        assert_eq!((resolved.rcode, resolved.failure), (Rcode::SERVFAIL, Some(portcullis_engine::resolve::Failure::NoServers)));
        assert_eq!(world.resolve("www.example.com.", Rtype::A).rcode, Rcode::NOERROR);
    }

    #[test]
    fn rfc1034_a_cname_loop_is_servfail_showing_the_loop() {
        let mut world = World::standard();
        for ip in ["127.0.0.3", "127.0.0.4"] {
            world.zone(ip, "example.com.", "a.example.com. 300 CNAME b.example.com.\nb.example.com. 300 CNAME a.example.com.\n");
        }
        let resolved = world.resolve("a.example.com.", Rtype::A);
        assert_eq!((resolved.rcode, resolved.failure), (Rcode::SERVFAIL, Some(portcullis_engine::resolve::Failure::ChainTooLong)));
        let owners: Vec<String> = resolved.answer.iter().map(|set| format!("{} {:?}", set.owner, set.rtype)).collect();
        assert_eq!(owners, [format!("a.example.com. {:?}", Rtype::CNAME), format!("b.example.com. {:?}", Rtype::CNAME)]);
    }

    #[test]
    fn rfc6672_dname_substitution_too_long_is_yxdomain_with_the_dname() {
        let mut world = World::standard();
        let label = "x".repeat(63);
        let target = format!("{label}.{label}.{label}.example.org.");
        let dname = format!("long.example.com. 300 DNAME {target}\n");
        for ip in ["127.0.0.3", "127.0.0.4"] {
            let dname = dname.clone();
            world.behave(
                ip,
                Behaviour::Script(Box::new(move |query, honest| {
                    let long = query.question.qname.label_count() >= 4;
                    let bytes = if long { forge(query, Rcode::YXDOMAIN, true, &dname, "", "") } else { honest };
                    vec![Delivery { from: query.server, bytes }]
                })),
            );
        }
        let qname = format!("{}.long.example.com.", "y".repeat(60));
        let resolved = world.resolve(&qname, Rtype::A);
        assert_eq!((resolved.rcode, resolved.failure), (Rcode::YXDOMAIN, None));
        let types: Vec<Rtype> = resolved.answer.iter().map(|set| set.rtype).collect();
        assert_eq!(types, [Rtype::DNAME]);
    }

    #[test]
    fn an_ns_name_whose_zone_fails_is_asked_of_the_parent_again() {
        let mut world = World::new();
        world.zone("127.0.0.1", ".", ROOT);
        let com = "com. 900 SOA a.gtld.test. h. 1 1 1 1 900
example.com. 3600 NS ns.example.com.
example.com. 3600 NS ns2.example.com.
ns.example.com. 10 A 127.0.0.3
ns2.example.com. 3600 A 127.0.0.4
foo.com. 3600 NS ns.example.com.
foo.com. 3600 NS ns2.example.com.
";
        world.zone("127.0.0.2", "com.", com);
        world.zone("127.0.0.3", "example.com.", "example.com. 300 SOA ns.example.com. h. 1 1 1 1 300\nwww.example.com. 300 A 192.0.2.80\n");
        world.zone("127.0.0.3", "foo.com.", "foo.com. 300 SOA ns.example.com. h. 1 1 1 1 300\nwww.foo.com. 10 A 192.0.2.9\n");
        // The server with the long-lived address fails everything.
        world.behave("127.0.0.4", Behaviour::Script(Box::new(|query, _| vec![Delivery { from: query.server, bytes: error_reply(query, Rcode::SERVFAIL) }])));
        world.stats.record_rtt(addr("127.0.0.4"), 1);
        assert_eq!(world.resolve("www.example.com.", Rtype::A).rcode, Rcode::NOERROR);
        assert_eq!(world.resolve("www.foo.com.", Rtype::A).rcode, Rcode::NOERROR);
        // The working server's address expires; the failing one's is still cached.
        world.now = world.now.plus_secs(20);
        let resolved = world.resolve("www.foo.com.", Rtype::A);
        assert_eq!(resolved.rcode, Rcode::NOERROR);
        assert_eq!(a_rdatas(&resolved), [vec![192, 0, 2, 9]]);
    }
}
