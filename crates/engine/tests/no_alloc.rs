//! The query path allocates nothing (DESIGN §4.4 "Zero allocation", §5.13): its own test binary,
//! so the counting allocator below is confined to it.
//!
//! Engines and requests are built first; then only `Engine::handle` runs while allocations are
//! counted by `allocation-counter` (a counting global allocator, per thread, so the test harness
//! and tests running in parallel threads are not counted).

mod common;

use common::*;
use portcullis_engine::{Engine, EngineSettings, Outcome, Request, Transport};
use portcullis_wire::edns::code;
use portcullis_wire::Rtype;

/// Allocations made by this thread while running `f`.
fn allocations_during(f: impl FnOnce()) -> u64 {
    allocation_counter::measure(f).count_total
}

/// Runs `query` through `engine` twice (a cold and a warm call) over `transport`, counting
/// allocations; panics with the counts when either call allocated.
fn assert_no_alloc(engine: &Engine, query: &Query, transport: Transport, expect_rcode: u16) {
    let bytes = query.build();
    let mut out = vec![0u8; 65_535];
    let request = Request::at_zero(&bytes, peer(), transport);
    let mut outcomes = [Outcome::Reply(0); 2];
    let counts = [0, 1].map(|i| allocations_during(|| outcomes[i] = engine.handle(&request, &mut out)));
    // Check the reply is the one meant, so a test cannot pass by taking another path.
    let Outcome::Reply(len) = outcomes[1] else { panic!("{transport:?}: no reply: {:?}", outcomes[1]) };
    assert_eq!(outcomes[0], outcomes[1]);
    let reply = Reply::new(out[..len].to_vec());
    assert_eq!(reply.rcode(), expect_rcode, "{transport:?}: rcode");
    assert_eq!(counts, [0, 0], "{transport:?}: allocations in handle() (cold, warm)");
}

/// Both transports.
fn both(engine: &Engine, query: &Query, expect_rcode: u16) {
    assert_no_alloc(engine, query, Transport::Udp, expect_rcode);
    assert_no_alloc(engine, query, Transport::Tcp, expect_rcode);
}

/// With and without EDNS (NSID asked, so the option path runs too), on both transports.
fn both_with_edns(engine: &Engine, query: Query, expect_rcode: u16) {
    both(engine, &query, expect_rcode);
    both(engine, &query.edns(Opt::new(1232).with(code::NSID, &[])), expect_rcode);
}

/// The engine over tricky.test., with NSID and version configured so those paths run too.
fn engine() -> Engine {
    tricky_with(EngineSettings { nsid: Some(b"ns-a".to_vec()), version: Some("portcullis-test".into()), ..EngineSettings::default() })
}

macro_rules! no_alloc_test {
    ($name:ident, $body:expr) => {
        #[test]
        fn $name() {
            $body
        }
    };
}

no_alloc_test!(exact_answer, both_with_edns(&engine(), Query::new("www.tricky.test.", Rtype::A), 0));
no_alloc_test!(nxdomain, both_with_edns(&engine(), Query::new("nothere.tricky.test.", Rtype::A), 3));
no_alloc_test!(nodata, both_with_edns(&engine(), Query::new("www.tricky.test.", Rtype::TXT), 0));
no_alloc_test!(wildcard, both_with_edns(&engine(), Query::new("a.b.wild.tricky.test.", Rtype::TXT), 0));
no_alloc_test!(wildcard_cname, both_with_edns(&engine(), Query::new("x.wcname.tricky.test.", Rtype::A), 0));
no_alloc_test!(cname_chain, both_with_edns(&engine(), Query::new("C1.tricky.test.", Rtype::A), 0));
no_alloc_test!(cname_loop, both_with_edns(&engine(), Query::new("loop1.tricky.test.", Rtype::A), 0));
no_alloc_test!(referral, both_with_edns(&engine(), Query::new("host.sub.tricky.test.", Rtype::A), 0));
no_alloc_test!(dname, both_with_edns(&engine(), Query::new("www.dn.tricky.test.", Rtype::A), 0));
no_alloc_test!(dname_yxdomain, both_with_edns(&engine(), Query::new(&format!("{}.long.tricky.test.", "a".repeat(63)), Rtype::A), 6));
no_alloc_test!(additional_addresses, both_with_edns(&engine(), Query::new("tricky.test.", Rtype::MX), 0));
no_alloc_test!(any, both_with_edns(&engine(), Query::new("multi.tricky.test.", Rtype::ANY), 0));
no_alloc_test!(tc_answer, {
    // Over UDP this truncates; over TCP the same query is the full 20-record answer.
    both_with_edns(&engine(), Query::new("big.tricky.test.", Rtype::TXT), 0);
});
no_alloc_test!(formerr_unparsable, {
    // A qname pointing into itself: the parse fails and the FORMERR path answers.
    let query = Query::empty().counts(1, 0, 0, 0).trailing(&[3, b'w', b'w', b'w', 0xC0, 0x0C, 0, 1, 0, 1]);
    both(&engine(), &query, 1);
});
no_alloc_test!(formerr_no_question, both_with_edns(&engine(), Query::empty(), 1));
no_alloc_test!(formerr_bad_option, both(&engine(), &Query::new("www.tricky.test.", Rtype::A).edns(Opt::new(1232).with(code::COOKIE, &[1; 3])), 1));
no_alloc_test!(refused_outside_zones, both_with_edns(&engine(), Query::new("www.elsewhere.example.", Rtype::A), 5));
no_alloc_test!(refused_class, both_with_edns(&engine(), Query::empty().question(&question(&wire("www.tricky.test."), 1, 4)), 5));
no_alloc_test!(notimp, both_with_edns(&engine(), Query::new("www.tricky.test.", Rtype::A).opcode(2), 4));
no_alloc_test!(badvers, {
    let mut opt = Opt::new(1232).with(code::NSID, &[]);
    opt.version = 1;
    both(&engine(), &Query::new("www.tricky.test.", Rtype::A).edns(opt), 16);
});
no_alloc_test!(chaos_version, both_with_edns(&engine(), Query::empty().question(&question(&wire("version.bind."), 16, 3)), 0));

/// An engine over a signed copy of one zone (`testdata/engine/signed-*.zone`, origin
/// `signed.test.`).
fn signed_engine(file: &str) -> Engine {
    engine_over(&[("signed.test.", file)], EngineSettings::default())
}

/// A DO=1 query (RFC 3225), both transports.
fn with_do(engine: &Engine, qname: &str, qtype: Rtype, expect_rcode: u16) {
    let mut opt = Opt::new(4096);
    opt.flags = 0x8000;
    both(engine, &Query::new(qname, qtype).edns(opt), expect_rcode);
}

/// Every kind of signed answer, with its RRSIGs and proofs, from an NSEC, an NSEC3 and an NSEC3
/// opt-out zone (NSEC3 hashes included).
fn signed_answers(file: &str) {
    let engine = signed_engine(file);
    for (qname, qtype, rcode) in [
        ("mail.signed.test.", Rtype::A, 0),
        ("signed.test.", Rtype::MX, 0),
        ("nothere.signed.test.", Rtype::A, 3),
        ("x.y.b.signed.test.", Rtype::A, 3),
        ("mail.signed.test.", Rtype::TXT, 0),
        ("b.signed.test.", Rtype::A, 0),
        ("x.w.signed.test.", Rtype::TXT, 0),
        ("x.w.signed.test.", Rtype::A, 0),
        ("host.secure.signed.test.", Rtype::A, 0),
        ("host.insecure.signed.test.", Rtype::A, 0),
        ("insecure.signed.test.", Rtype::DS, 0),
        ("www.signed.test.", Rtype::A, 0),
        ("x.c.signed.test.", Rtype::A, 0),
        ("dangling.signed.test.", Rtype::A, 3),
        ("x.moved.signed.test.", Rtype::A, 0),
        ("mail.signed.test.", Rtype::ANY, 0),
    ] {
        with_do(&engine, qname, qtype, rcode);
    }
}

no_alloc_test!(signed_nsec_answers, signed_answers("signed-nsec.zone"));
no_alloc_test!(signed_nsec3_answers, signed_answers("signed-nsec3.zone"));
no_alloc_test!(signed_nsec3_opt_out_answers, signed_answers("signed-optout.zone"));

/// The counter sees allocations at all (otherwise every test above would pass vacuously).
#[test]
fn the_counter_counts() {
    let count = allocations_during(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert_eq!(count, 1);
}

/// The reply cache's paths allocate nothing either: a miss that stores the reply and the hits
/// that replay it, with and without an OPT record.
#[test]
fn reply_cache_store_and_hit() {
    let engine = std::sync::Arc::new(engine());
    let mut cache = portcullis_engine::ReplyCache::new(64);
    let mut out = vec![0u8; 65_535];
    for query in [Query::new("www.tricky.test.", Rtype::A), Query::new("nothere.tricky.test.", Rtype::A), Query::new("host.sub.tricky.test.", Rtype::A)] {
        for query in [query.clone(), query.edns(Opt::new(1232))] {
            let bytes = query.build();
            let request = Request::at_zero(&bytes, peer(), Transport::Udp);
            let counts = [0, 1, 2].map(|_| allocations_during(|| assert!(matches!(cache.answer(&engine, &request, &mut out), Outcome::Reply(_)))));
            assert_eq!(counts, [0, 0, 0], "allocations (store, hit, hit)");
        }
    }
    assert_eq!(cache.hits(), 12, "the repeats were hits");
}
