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
}
