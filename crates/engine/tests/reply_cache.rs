//! The reply cache (`engine/reply_cache.rs`) against the engine it stands in front of: for random
//! query streams (names in and out of the served zones, mixed case, EDNS on and off, DO, buffer
//! sizes, RD, several clients the ACL treats differently, RRL slipping and dropping, a filled
//! resolver cache), every outcome and every reply byte through the cache is what
//! `Engine::handle` gives, and so are the counters; across engine swaps and clock steps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Named after the file, so that `cargo test -p portcullis-engine reply_cache` selects these.
#[cfg(test)]
mod reply_cache {
    use portcullis_engine::auth::ZoneSet;
    use portcullis_engine::cache::{Cache, CacheSettings, Rrset, Trust};
    use portcullis_engine::engine::Policy;
    use portcullis_engine::load::load_zone_text;
    use portcullis_engine::metrics::EngineCounters;
    use portcullis_engine::policy::{Acl, AclSettings, ActionRules, Instant, QueryLimitSettings, QueryLimiter, Rrl, RrlSettings, ZoneRules};
    use portcullis_engine::zonefile::NoIncludes;
    use portcullis_engine::{DropReason, Engine, EngineSettings, Outcome, ReplyCache, Request, Transport};
    use portcullis_wire::{Class, NameBuf, Rtype};
    use std::net::SocketAddr;
    use std::sync::Arc;

    const ZONE: &str = "$TTL 300
@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@ IN NS ns1
@ IN NS ns2.other.net.
@ IN MX 10 mail
@ IN TXT \"v=spf1 -all\"
ns1 IN A 192.0.2.1
www IN A 192.0.2.10
www IN A 192.0.2.11
www IN AAAA 2001:db8::10
mail IN A 192.0.2.20
alias IN CNAME www
outside IN CNAME www.elsewhere.org.
*.wild IN A 192.0.2.30
sub IN NS ns.sub
dn IN DNAME dtarget
www.dtarget IN A 192.0.2.90
ns.sub IN A 192.0.2.40
big IN TXT \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"
big IN TXT \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"
big IN TXT \"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"
";

    const NAMES: &[&str] = &[
        "example.com.",
        "www.example.com.",
        "mail.example.com.",
        "alias.example.com.",
        "outside.example.com.",
        "x.wild.example.com.",
        "deep.y.wild.example.com.",
        "host.sub.example.com.",
        "sub.example.com.",
        "missing.example.com.",
        "big.example.com.",
        "ns1.example.com.",
        "www.dn.example.com.",
        "a.b.dn.example.com.",
        "cached.example.net.",
        "gone.example.net.",
        "version.bind.",
        "private.example.com.",
    ];
    const TYPES: &[u16] = &[1, 28, 15, 16, 2, 6, 255, 5, 99, 252, 0, 41];
    const CLIENTS: &[&str] = &["192.0.2.100:5353", "198.51.100.7:40000", "127.0.0.1:1234", "[2001:db8::5]:999", "203.0.113.9:19", "10.1.2.3:53"];

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    /// The zones: example.com with `serial`, and private.example.com whose queries only
    /// 10.0.0.0/8 may ask (others are refused).
    fn zones(serial: u32) -> ZoneSet {
        let text = ZONE.replace(" 1 7200", &format!(" {serial} 7200"));
        let zone = load_zone_text(&name("example.com."), &text, "t", &NoIncludes).unwrap();
        let private = "$TTL 60\n@ IN SOA ns1 h 1 1 1 1 1\n@ IN NS ns1\n@ IN A 192.0.2.99\nns1 IN A 192.0.2.1\n";
        let private = load_zone_text(&name("private.example.com."), private, "p", &NoIncludes).unwrap();
        ZoneSet::new(vec![Arc::new(zone), Arc::new(private)])
    }

    fn policy(rrl_rate: u32, limiter: bool) -> Policy {
        let global = ActionRules { recursion: Some(vec!["127.0.0.0/8".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]), ..ActionRules::default() };
        let private = ActionRules { query: Some(vec!["10.0.0.0/8".parse().unwrap()]), ..ActionRules::default() };
        let zones = vec![ZoneRules { zone: name("private.example.com."), rules: private }];
        let acl = Acl::new(&AclSettings { global, zones, ..AclSettings::default() }, None).unwrap();
        let rrl = RrlSettings { responses_per_second: rrl_rate, nxdomains_per_second: rrl_rate, errors_per_second: rrl_rate, slip: 2, ..RrlSettings::DEFAULT };
        let limit = QueryLimitSettings { enabled: limiter, ..QueryLimitSettings::DEFAULT };
        Policy { acl, rrl: Arc::new(Rrl::new(&rrl, [7; 16], Arc::default())), query_limit: QueryLimiter::new(&limit, [9; 16]), ..Policy::defaults() }
    }

    fn rrset(owner: &str, rtype: Rtype, rdata: &[u8], ttl: u32) -> Rrset {
        let mut rrset = Rrset::new(name(owner), rtype, Class::IN, ttl);
        rrset.push(ttl, rdata);
        rrset
    }

    /// An engine with recursion on over a cache holding `cached.example.net` (TTLs that cross
    /// seconds) and a negative entry.
    fn engine(serial: u32, rrl_rate: u32, limiter: bool) -> Arc<Engine> {
        let cache = Arc::new(Cache::new(CacheSettings::DEFAULT));
        cache.insert_rrset(&rrset("cached.example.net.", Rtype::A, &[192, 0, 2, 77], 3), Trust::AuthAnswer, Instant::from_millis(250));
        let soa = rrset("example.net.", Rtype::SOA, &[name("ns.example.net.").as_wire(), name("h.example.net.").as_wire(), &[0; 20]].concat(), 30);
        cache.insert_negative(&name("gone.example.net."), None, Class::IN, Some(&soa), Trust::AuthAuthority, Instant::ZERO);
        let settings = EngineSettings { version: Some("test".into()), ..EngineSettings::default() };
        let engine = Engine::with_policy(zones(serial), settings, Arc::new(EngineCounters::default()), policy(rrl_rate, limiter));
        Arc::new(engine.with_recursion(cache))
    }

    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[(self.next() % items.len() as u64) as usize]
        }
    }

    /// A query of one of 400 random shapes (so that they repeat), with a random ID and, now and
    /// then, its name in random case.
    fn random_query(rng: &mut Rng) -> Vec<u8> {
        let mut query = query_shape(&mut Rng(0x9e37_79b9 + rng.next() % 400));
        query[..2].copy_from_slice(&(rng.next() as u16).to_be_bytes());
        // A quarter of the queries spell their name anew (0x20), the others as their shape did.
        let mut at = if rng.next().is_multiple_of(4) { 12 } else { query.len() };
        while at < query.len() && query[at] != 0 && query[at] < 64 {
            let len = usize::from(query[at]);
            for byte in &mut query[at + 1..at + 1 + len] {
                if rng.next().is_multiple_of(3) {
                    byte.make_ascii_uppercase();
                }
            }
            at += len + 1;
        }
        query
    }

    /// A random query shape: mostly the plain shape, EDNS or not, DO, sizes; now and then a
    /// cookie, two questions, an opcode or a compression pointer.
    fn query_shape(rng: &mut Rng) -> Vec<u8> {
        rng.next();
        let qname = rng.pick(NAMES);
        let mut wire = name(qname).as_wire().to_vec();
        if rng.next().is_multiple_of(3) {
            wire.iter_mut().filter(|b| b.is_ascii_lowercase()).step_by(2).for_each(|b| b.make_ascii_uppercase());
        }
        let odd = rng.next() % 16;
        let flags: u8 = match rng.next() % 4 {
            0 => 0x00,
            1 | 2 => 0x01,
            _ => 0x01 | if rng.next().is_multiple_of(2) { 0x00 } else { 0x02 },
        };
        let opcode = if odd == 1 { 0x20 } else { 0 };
        let cd_ad = (rng.next() % 4) as u8 * 0x10;
        let edns = !rng.next().is_multiple_of(3);
        let mut query = vec![(rng.next() >> 8) as u8, rng.next() as u8, opcode | flags, cd_ad, 0, if odd == 2 { 2 } else { 1 }, 0, 0, 0, 0, 0, u8::from(edns)];
        query.extend_from_slice(&wire);
        let qtype = if rng.next().is_multiple_of(2) { 1 } else { rng.pick(TYPES) };
        let qclass: u16 = if qname == "version.bind." { 3 } else { 1 };
        query.extend_from_slice(&qtype.to_be_bytes());
        query.extend_from_slice(&qclass.to_be_bytes());
        if odd == 2 {
            query.extend_from_slice(&[0xC0, 12, 0, 28, 0, 1]);
        }
        if edns {
            let size: u16 = rng.pick(&[512, 1232, 4096, 600, 0, 1400]);
            let do_bit = if rng.next().is_multiple_of(2) { 0x80 } else { 0 };
            let version = if odd == 3 { 1 } else { 0 };
            query.extend_from_slice(&[0, 0, 41]);
            query.extend_from_slice(&size.to_be_bytes());
            query.extend_from_slice(&[0, version, do_bit, 0]);
            if odd == 4 {
                query.extend_from_slice(&[0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
            } else {
                query.extend_from_slice(&[0, 0]);
            }
        }
        query
    }

    fn counters(engine: &Engine) -> Vec<u64> {
        let counters = engine.counters();
        let mut all = vec![counters.requests(), counters.cache_answers()];
        all.extend((0..24).map(|rcode| counters.rcodes(rcode)));
        all.extend((0..6).map(|kind| counters.answers(kind)));
        all.extend(DropReason::ALL.iter().map(|&reason| counters.drops_of(reason)));
        all
    }

    /// Runs `count` random queries through a plain engine and, identically built, one behind a
    /// reply cache of `slots`; every outcome and reply must be the same. Swaps both engines every
    /// 2000 queries (a new zone serial) and steps the clock. Returns the cache's hits.
    fn differential(seed: u64, count: usize, slots: usize, rrl_rate: u32, limiter: bool) -> u64 {
        let mut rng = Rng(seed);
        let (mut plain, mut cached) = (engine(1, rrl_rate, limiter), engine(1, rrl_rate, limiter));
        let mut cache = ReplyCache::new(slots);
        let (mut out_plain, mut out_cached) = (vec![0u8; 4096], vec![0u8; 4096]);
        let mut now_ms = 0u64;
        let mut replies = 0;
        for index in 0..count {
            if index > 0 && index % 2000 == 0 {
                let serial = 2 + (index / 2000) as u32;
                (plain, cached) = (Arc::new(plain.with_zones(zones(serial))), Arc::new(cached.with_zones(zones(serial))));
            }
            now_ms += rng.next() % 40;
            let query = random_query(&mut rng);
            let peer: SocketAddr = rng.pick(CLIENTS).parse().unwrap();
            let request = Request {
                bytes: &query,
                peer,
                transport: Transport::Udp,
                now: Instant::from_millis(now_ms),
                unix_secs: 1_700_000_000 + now_ms / 1000,
                listener: 0,
                worker: 0,
            };
            let expected = plain.handle(&request, &mut out_plain);
            let got = cache.answer(&cached, &request, &mut out_cached);
            assert_eq!(got, expected, "query {index}: {query:02x?} from {peer}");
            if let Outcome::Reply(len) | Outcome::ReplyAndPrefetch(len) = expected {
                assert_eq!(out_cached[..len], out_plain[..len], "query {index}: {query:02x?} from {peer}");
                replies += 1;
            }
        }
        assert!(replies > count / 2, "{replies} replies");
        assert_eq!(counters(&cached), counters(&plain));
        cache.hits()
    }

    /// Mixed streams with RRL generous (most replies go out) and tight (slips and drops), the
    /// query limiter off: identical, and the cache answers a good part.
    #[test]
    fn replies_through_the_cache_are_byte_identical_to_the_engines() {
        for seed in [1, 0x5eed, 0xdead_beef] {
            let hits = differential(seed, 6000, 4096, 100_000, false);
            assert!(hits > 500, "seed {seed}: {hits} hits");
            let hits = differential(seed, 6000, 4096, 5, false);
            assert!(hits > 100, "seed {seed}: {hits} hits under tight RRL");
        }
    }

    /// A tiny cache (slots shared by many keys: every store evicts) and the query limiter on
    /// (its clients bypass the cache) keep the replies identical.
    #[test]
    fn a_crowded_cache_and_the_query_limiter_change_nothing() {
        differential(77, 4000, 2, 100_000, true);
        differential(78, 4000, 16, 3, true);
    }

    /// Off (0 slots): every query goes to the engine.
    #[test]
    fn zero_slots_is_off() {
        assert_eq!(ReplyCache::new(0).slots(), 0);
        assert_eq!(differential(5, 500, 0, 100_000, false), 0);
    }

    /// `query` asked `times` times by `peer` through `cache`; every reply checked against a
    /// plain engine built the same way. Returns the cache's hits.
    fn repeats(query: &[u8], peer: &str, times: usize, rrl_rate: u32) -> (u64, Vec<Outcome>) {
        let (plain, cached) = (engine(1, rrl_rate, false), engine(1, rrl_rate, false));
        let mut cache = ReplyCache::new(64);
        let (mut a, mut b) = (vec![0u8; 4096], vec![0u8; 4096]);
        let peer: SocketAddr = peer.parse().unwrap();
        let mut outcomes = Vec::new();
        for i in 0..times {
            let request = Request {
                bytes: query,
                peer,
                transport: Transport::Udp,
                now: Instant::from_millis(i as u64),
                unix_secs: 1_700_000_000,
                listener: 0,
                worker: 0,
            };
            let (expected, got) = (plain.handle(&request, &mut a), cache.answer(&cached, &request, &mut b));
            assert_eq!(got, expected);
            if let Outcome::Reply(len) = got {
                assert_eq!(a[..len], b[..len]);
            }
            outcomes.push(got);
        }
        (cache.hits(), outcomes)
    }

    /// A plain query: RD clear, `qtype`, an OPT of 1232 octets with `options` (or none).
    fn plain(qname: &str, qtype: u16, opt: Option<&[u8]>) -> Vec<u8> {
        let mut query = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(opt.is_some())];
        query.extend_from_slice(name(qname).as_wire());
        query.extend_from_slice(&qtype.to_be_bytes());
        query.extend_from_slice(&[0, 1]);
        if let Some(options) = opt {
            query.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0]);
            query.extend_from_slice(&(options.len() as u16).to_be_bytes());
            query.extend_from_slice(options);
        }
        query
    }

    /// An authoritative answer is stored and answered again from the cache (without OPT and
    /// with an empty OPT alike).
    #[test]
    fn a_repeated_authoritative_query_is_a_hit() {
        assert_eq!(repeats(&plain("www.example.com.", 1, None), "192.0.2.100:5353", 5, 100_000).0, 4);
        assert_eq!(repeats(&plain("www.example.com.", 1, Some(&[])), "192.0.2.100:5353", 5, 100_000).0, 4);
        assert_eq!(repeats(&plain("nothing.example.com.", 1, Some(&[])), "192.0.2.100:5353", 5, 100_000).0, 4, "NXDOMAIN");
    }

    /// Any EDNS option (a cookie, NSID, padding, client subnet) bypasses the cache.
    #[test]
    fn a_query_with_an_edns_option_bypasses() {
        let cookie = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(repeats(&plain("www.example.com.", 1, Some(&cookie)), "192.0.2.100:5353", 5, 100_000).0, 0);
        assert_eq!(repeats(&plain("www.example.com.", 1, Some(&[0, 3, 0, 0])), "192.0.2.100:5353", 5, 100_000).0, 0, "NSID");
    }

    /// Other opcodes, other counts, compression pointers and records after the question bypass.
    #[test]
    fn queries_of_other_shapes_bypass() {
        let mut notify = plain("example.com.", 6, None);
        notify[2] = 0x20;
        let mut two = plain("www.example.com.", 1, None);
        two[5] = 2;
        two.extend_from_slice(&[0xC0, 12, 0, 28, 0, 1]);
        let mut trailing = plain("www.example.com.", 1, None);
        trailing.push(0);
        let mut response = plain("www.example.com.", 1, None);
        response[2] = 0x80;
        for (what, query) in [("notify", notify), ("two questions", two), ("trailing", trailing), ("response", response)] {
            assert_eq!(repeats(&query, "192.0.2.100:5353", 4, 100_000).0, 0, "{what}");
        }
        // A reflection port is dropped by the engine, not looked up.
        assert_eq!(repeats(&plain("www.example.com.", 1, None), "192.0.2.100:19", 3, 100_000).0, 0);
    }

    /// The resolver's path (cache hits whose TTLs fall, negative answers, recursion refused
    /// or not) is never stored.
    #[test]
    fn recursive_answers_are_never_stored() {
        for client in ["127.0.0.1:999", "10.9.9.9:999"] {
            let mut query = plain("cached.example.net.", 1, Some(&[]));
            query[2] = 0x01;
            assert_eq!(repeats(&query, client, 5, 100_000).0, 0, "{client}");
            let mut query = plain("gone.example.net.", 1, None);
            query[2] = 0x01;
            assert_eq!(repeats(&query, client, 5, 100_000).0, 0, "{client}");
        }
    }

    /// Replies larger than a slot's room (here 3 long TXT strings, over TCP-less 4096 buffers)
    /// are answered by the engine every time.
    #[test]
    fn a_reply_too_large_for_a_slot_is_not_stored() {
        let query = [
            &plain("big.example.com.", 16, None)[..2],
            &[0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
            &plain("big.example.com.", 16, None)[12..],
            &[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0][..],
        ]
        .concat();
        assert_eq!(repeats(&query, "192.0.2.100:5353", 4, 100_000).0, 0);
    }

    /// Clients are told apart: the zone ACL refuses 192.0.2.100 and answers 10.1.2.3, each from
    /// its own entry.
    #[test]
    fn each_client_has_its_own_entry() {
        let query = plain("private.example.com.", 1, None);
        let (hits, outcomes) = repeats(&query, "192.0.2.100:5353", 3, 100_000);
        assert_eq!(hits, 2);
        assert!(matches!(outcomes[0], Outcome::Reply(_)));
        let (plain_engine, cached) = (engine(1, 100_000, false), engine(1, 100_000, false));
        let mut cache = ReplyCache::new(64);
        let (mut a, mut b) = (vec![0u8; 4096], vec![0u8; 4096]);
        for (i, client) in ["192.0.2.100:1", "10.1.2.3:1", "192.0.2.100:2", "10.1.2.3:2"].into_iter().enumerate() {
            let request =
                Request { bytes: &query, peer: client.parse().unwrap(), transport: Transport::Udp, now: Instant::ZERO, unix_secs: 0, listener: 0, worker: 0 };
            let (expected, got) = (plain_engine.handle(&request, &mut a), cache.answer(&cached, &request, &mut b));
            assert_eq!(got, expected);
            let Outcome::Reply(len) = got else { panic!("no reply") };
            assert_eq!(a[..len], b[..len]);
            assert_eq!(b[3] & 0x0F, if client.starts_with("10.") { 0 } else { 5 }, "{client}");
            assert_eq!(cache.hits(), if i < 2 { 0 } else { i as u64 - 1 });
        }
    }

    /// RRL still accounts every replayed reply: under a rate of 1 the repeats slip (TC=1) and
    /// drop as the engine's do.
    #[test]
    fn rate_limiting_applies_to_replayed_replies() {
        let (hits, outcomes) = repeats(&plain("www.example.com.", 1, None), "192.0.2.100:5353", 12, 1);
        assert!(hits >= 1, "{hits}");
        assert!(outcomes.iter().any(|o| matches!(o, Outcome::Drop(DropReason::RrlDrop))), "{outcomes:?}");
        assert!(outcomes.iter().filter(|o| matches!(o, Outcome::Reply(_))).count() >= 2, "{outcomes:?}");
    }

    /// A new engine (a reload, an update, a transfer) empties the cache: the next answer is the
    /// new engine's.
    #[test]
    fn an_engine_swap_is_a_miss() {
        let query = plain("example.com.", 6, None);
        let mut cache = ReplyCache::new(64);
        let mut out = vec![0u8; 4096];
        let request = Request::at_zero(&query, "192.0.2.100:5353".parse().unwrap(), Transport::Udp);
        let first = engine(1, 100_000, false);
        cache.answer(&first, &request, &mut out);
        let Outcome::Reply(old) = cache.answer(&first, &request, &mut out) else { panic!("no reply") };
        assert_eq!(cache.hits(), 1);
        let serial_at = old - 4 * 5;
        assert_eq!(out[serial_at..serial_at + 4], 1u32.to_be_bytes());
        let second = Arc::new(first.with_zones(zones(9)));
        let Outcome::Reply(len) = cache.answer(&second, &request, &mut out) else { panic!("no reply") };
        assert_eq!(cache.hits(), 1, "a miss");
        assert_eq!(out[len - 20..len - 16], 9u32.to_be_bytes());
        cache.answer(&second, &request, &mut out);
        assert_eq!(cache.hits(), 2);
    }

    /// A resolver serving no zone stores nothing (its REFUSED to strangers included): the
    /// cache stays out of the way.
    #[test]
    fn a_pure_resolver_stores_nothing() {
        let cache_data = Arc::new(Cache::new(CacheSettings::DEFAULT));
        let engine = Engine::with_policy(ZoneSet::new(Vec::new()), EngineSettings::default(), Arc::default(), policy(100_000, false));
        let engine = Arc::new(engine.with_recursion(cache_data));
        let mut cache = ReplyCache::new(64);
        let mut out = vec![0u8; 4096];
        let query = plain("www.example.org.", 1, None);
        let request = Request::at_zero(&query, "192.0.2.100:5353".parse().unwrap(), Transport::Udp);
        for _ in 0..3 {
            let Outcome::Reply(_) = cache.answer(&engine, &request, &mut out) else { panic!("no reply") };
            assert_eq!(out[3] & 0x0F, 5, "REFUSED");
        }
        assert_eq!(cache.hits(), 0);
    }
}
