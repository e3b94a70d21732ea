//! RRL behaviour with a fake clock: BIND 9's system test burst table (SECURITY-REFERENCE §3.1,
//! `bin/tests/system/rrl`) row by row, slip, window credit and debt, exemptions, log-only mode,
//! aggregation by prefix, concurrent use through `&self`, the defaults (on, NSD's rates), and the
//! engine's exemption of the recursion ACL's clients.

/// Named after the file, so that `cargo test -p portcullis-engine policy` selects these tests.
#[cfg(test)]
mod policy_rrl {
    use portcullis_engine::policy::rrl::{QueryCookie, ResponseKind, Rrl, RrlCounters, RrlEvent, RrlKey, RrlSettings, RrlVerdict, SlipReply};
    use portcullis_engine::policy::Instant;
    use portcullis_engine::Transport;
    use portcullis_wire::{NameBuf, Rtype};
    use std::net::IpAddr;
    use std::sync::Arc;

    const HASH_KEY: [u8; 16] = *b"rrl test hashkey";

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    fn enabled() -> RrlSettings {
        RrlSettings { enabled: true, ..RrlSettings::OFF }
    }

    fn rrl(settings: RrlSettings) -> Rrl {
        Rrl::new(&settings, HASH_KEY, Arc::new(RrlCounters::default()))
    }

    /// BIND's system test server: `responses-per-second 2; all-per-second 50; slip 3;
    /// exempt-clients { 10.53.0.7; };` (the other rates default to responses-per-second).
    fn bind_system_test() -> Rrl {
        rrl(RrlSettings {
            responses_per_second: 2,
            nxdomains_per_second: 2,
            nodata_per_second: 2,
            referrals_per_second: 2,
            errors_per_second: 2,
            all_per_second: 50,
            slip: 3,
            exempt: vec!["10.53.0.7".parse().unwrap()],
            table_size: 1024,
            ..enabled()
        })
    }

    /// Answered, truncated (TC=1 slips), dropped.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Tally {
        answered: u32,
        truncated: u32,
        dropped: u32,
    }

    impl Tally {
        fn count(&mut self, verdict: RrlVerdict) {
            match verdict {
                RrlVerdict::Send => self.answered += 1,
                RrlVerdict::Slip(SlipReply::Truncate) => self.truncated += 1,
                RrlVerdict::Slip(SlipReply::BadCookie) => panic!("no cookies in this burst"),
                RrlVerdict::Drop => self.dropped += 1,
            }
        }
    }

    fn tally(answered: u32, truncated: u32, dropped: u32) -> Tally {
        Tally { answered, truncated, dropped }
    }

    /// Accounts one response per (kind, name, qtype) at `now` from `client` over `transport`.
    fn burst(rrl: &Rrl, client: &str, transport: Transport, now: Instant, responses: &[(ResponseKind, &str, Rtype)]) -> Tally {
        let mut result = Tally::default();
        for &(kind, owner, qtype) in responses {
            let key = RrlKey { transport, ..RrlKey::new(ip(client), kind, rrl.name_hash(kind, &name(owner), qtype)) };
            result.count(rrl.account(key, now));
        }
        result
    }

    fn same(count: usize, kind: ResponseKind, owner: &'static str) -> Vec<(ResponseKind, &'static str, Rtype)> {
        vec![(kind, owner, Rtype::A); count]
    }

    #[test]
    fn bind_burst_table() {
        let rrl = bind_system_test();
        let udp = Transport::Udp;
        let client = "10.53.0.2";
        let second = |n: u64| Instant::from_secs(100 * n).plus_millis(5);

        // 3 × a1.tld2, then one second later 10 × a1.tld2: 3 answered, 4 TC, 6 dropped.
        let first = burst(&rrl, client, udp, second(1), &same(3, ResponseKind::Answer, "a1.tld2."));
        let later = burst(&rrl, client, udp, second(1).plus_secs(1), &same(10, ResponseKind::Answer, "a1.tld2."));
        let total = tally(first.answered + later.answered, first.truncated + later.truncated, first.dropped + later.dropped);
        assert_eq!(total, tally(3, 4, 6), "a1.tld2: {first:?} then {later:?}");

        // 30 names under a wildcard all count against `*.a2.tld2`: 2, 10 TC, 18 dropped.
        let wildcard = same(30, ResponseKind::Answer, "*.a2.tld2.");
        assert_eq!(burst(&rrl, client, udp, second(2), &wildcard), tally(2, 10, 18));

        // 10 identical recursive responses: 2, 3 TC, 5 dropped.
        assert_eq!(burst(&rrl, client, udp, second(3), &same(10, ResponseKind::Answer, "a3.tld3.")), tally(2, 3, 5));

        // 10 different recursive names: not limited.
        let names: Vec<String> = (0..10).map(|i| format!("x{i}.a3.tld3.")).collect();
        let different: Vec<_> = names.iter().map(|n| (ResponseKind::Answer, n.as_str(), Rtype::A)).collect();
        assert_eq!(burst(&rrl, client, udp, second(4), &different), tally(10, 0, 0));

        // 10 NXDOMAIN names under a4.tld2 share the zone's account: 2, 3 TC, 5 dropped.
        assert_eq!(burst(&rrl, client, udp, second(5), &same(10, ResponseKind::NxDomain, "a4.tld2.")), tally(2, 3, 5));

        // 10 over TCP: all answered.
        assert_eq!(burst(&rrl, client, Transport::Tcp, second(6), &same(10, ResponseKind::Answer, "a1.tld2.")), tally(10, 0, 0));

        // 10 from the exempt client: all answered.
        assert_eq!(burst(&rrl, "10.53.0.7", udp, second(7), &same(10, ResponseKind::Answer, "a1.tld2.")), tally(10, 0, 0));

        // 10 SERVFAIL: 2 SERVFAIL, 8 dropped (errors are never slipped).
        assert_eq!(burst(&rrl, client, udp, second(8), &same(10, ResponseKind::Error, "a5.tld2.")), tally(2, 0, 8));

        // NODATA for AAAA, TXT, SPF on one name, 2 each: one account across qtypes: 2, 2 TC, 2 dropped.
        let qtypes = [Rtype::AAAA, Rtype::AAAA, Rtype::TXT, Rtype::TXT, Rtype::SPF, Rtype::SPF];
        let nodata: Vec<_> = qtypes.iter().map(|&qtype| (ResponseKind::NoData, "a6.tld2.", qtype)).collect();
        assert_eq!(burst(&rrl, client, udp, second(9), &nodata), tally(2, 2, 2));

        // 60 unique names from one client, all-per-second 50: 50 answered, 10 dropped, no TC.
        let names: Vec<String> = (0..60).map(|i| format!("all{i}.tld4.")).collect();
        let unique: Vec<_> = names.iter().map(|n| (ResponseKind::Answer, n.as_str(), Rtype::A)).collect();
        assert_eq!(burst(&rrl, client, udp, second(10), &unique), tally(50, 0, 10));
        assert_eq!(rrl.counters().all_limited.load(std::sync::atomic::Ordering::Relaxed), 10);
    }

    #[test]
    fn design_5_4_eleventh_response_in_one_second_is_limited() {
        let rrl = rrl(RrlSettings { responses_per_second: 10, ..enabled() });
        let key = RrlKey::new(ip("192.0.2.1"), ResponseKind::Answer, rrl.name_hash(ResponseKind::Answer, &name("example.org."), Rtype::A));
        for _ in 0..10 {
            assert_eq!(rrl.account(key, Instant::ZERO), RrlVerdict::Send);
        }
        assert_ne!(rrl.account(key, Instant::ZERO), RrlVerdict::Send);
    }

    fn limited_sequence(rrl: &Rrl, cookie: QueryCookie, count: usize) -> Vec<RrlVerdict> {
        let hash = rrl.name_hash(ResponseKind::Answer, &name("slip.example."), Rtype::A);
        let key = RrlKey { cookie, ..RrlKey::new(ip("192.0.2.1"), ResponseKind::Answer, hash) };
        (0..count).map(|_| rrl.account(key, Instant::ZERO)).collect::<Vec<_>>().split_off(1)
    }

    #[test]
    fn bind_slip_every_nth_limited_response() {
        use RrlVerdict::{Drop, Slip};
        let tc = Slip(SlipReply::Truncate);
        let settings = |slip| RrlSettings { responses_per_second: 1, slip, ..enabled() };
        assert_eq!(limited_sequence(&rrl(settings(0)), QueryCookie::Absent, 5), [Drop; 4], "slip 0 never slips");
        assert_eq!(limited_sequence(&rrl(settings(1)), QueryCookie::Absent, 5), [tc; 4], "slip 1 always slips");
        assert_eq!(limited_sequence(&rrl(settings(2)), QueryCookie::Absent, 5), [tc, Drop, tc, Drop]);
        assert_eq!(limited_sequence(&rrl(settings(3)), QueryCookie::Absent, 8), [tc, Drop, Drop, tc, Drop, Drop, tc]);
    }

    #[test]
    fn rfc7873_slip_as_badcookie_when_client_sent_a_cookie() {
        let rrl = rrl(RrlSettings { responses_per_second: 1, slip: 2, ..enabled() });
        let bad_cookie = RrlVerdict::Slip(SlipReply::BadCookie);
        assert_eq!(limited_sequence(&rrl, QueryCookie::Unverified, 5), [bad_cookie, RrlVerdict::Drop, bad_cookie, RrlVerdict::Drop]);
        let verified = limited_sequence(&rrl, QueryCookie::Verified, 5);
        assert_eq!(verified, [RrlVerdict::Send; 4], "a valid server cookie is exempt");
        assert_eq!(rrl.counters().get(ResponseKind::Answer, RrlEvent::Exempt), 5);
        assert_eq!(rrl.counters().get(ResponseKind::Answer, RrlEvent::Slipped), 2);
    }

    fn flood_then(settings: RrlSettings, flood: usize, later: Instant) -> RrlVerdict {
        let rrl = rrl(settings);
        let key = RrlKey::new(ip("192.0.2.1"), ResponseKind::Answer, 7);
        for _ in 0..flood {
            rrl.account(key, Instant::ZERO);
        }
        rrl.account(key, later)
    }

    #[test]
    fn bind_window_bounds_debt_and_staleness() {
        let settings = RrlSettings { responses_per_second: 2, window: 5, slip: 0, ..enabled() };
        // After a flood the debt is capped at window × rate = 10: at 5 s the balance is back to 0.
        assert_eq!(flood_then(settings.clone(), 1000, Instant::from_secs(5)), RrlVerdict::Drop);
        // An account older than the window starts afresh.
        assert_eq!(flood_then(settings.clone(), 1000, Instant::from_secs(6)), RrlVerdict::Send);
        // Smaller debts are repaid sooner: 2 credits, 6 responses → -4, repaid after 2 s, +1 to spend.
        assert_eq!(flood_then(settings.clone(), 6, Instant::from_secs(2)), RrlVerdict::Drop);
        assert_eq!(flood_then(settings.clone(), 6, Instant::from_secs(3)), RrlVerdict::Send);
        // Time runs in whole seconds: 999 ms later earns nothing.
        assert_eq!(flood_then(settings, 2, Instant::from_millis(999)), RrlVerdict::Drop);
    }

    #[test]
    fn bind_credit_is_capped_at_one_second() {
        let rrl = rrl(RrlSettings { responses_per_second: 3, window: 15, slip: 0, ..enabled() });
        let key = RrlKey::new(ip("192.0.2.1"), ResponseKind::Answer, 9);
        rrl.account(key, Instant::ZERO);
        let after_idle = Instant::from_secs(10);
        let sent = (0..10).filter(|_| rrl.account(key, after_idle) == RrlVerdict::Send).count();
        assert_eq!(sent, 3, "ten idle seconds do not bank thirty responses");
    }

    #[test]
    fn bind_exempt_clients_tcp_and_mapped() {
        let settings = RrlSettings { responses_per_second: 1, exempt: vec!["192.0.2.0/28".parse().unwrap(), "2001:db8::/32".parse().unwrap()], ..enabled() };
        let rrl = rrl(settings);
        let answers = same(5, ResponseKind::Answer, "www.example.");
        for client in ["192.0.2.1", "::ffff:192.0.2.15", "2001:db8:5::1"] {
            assert_eq!(burst(&rrl, client, Transport::Udp, Instant::ZERO, &answers).answered, 5, "{client}");
        }
        assert_eq!(burst(&rrl, "192.0.2.16", Transport::Udp, Instant::ZERO, &answers).answered, 1);
        assert_eq!(burst(&rrl, "192.0.2.16", Transport::Tcp, Instant::ZERO, &answers).answered, 5);
    }

    #[test]
    fn bind_log_only_counts_but_sends() {
        let rrl = rrl(RrlSettings { nxdomains_per_second: 2, log_only: true, ..enabled() });
        let result = burst(&rrl, "192.0.2.1", Transport::Udp, Instant::ZERO, &same(10, ResponseKind::NxDomain, "example."));
        assert_eq!(result, tally(10, 0, 0));
        let counters = rrl.counters();
        assert_eq!(counters.get(ResponseKind::NxDomain, RrlEvent::Sent), 2);
        assert_eq!(counters.get(ResponseKind::NxDomain, RrlEvent::WouldLimit), 8);
        assert_eq!(counters.get(ResponseKind::NxDomain, RrlEvent::Dropped) + counters.get(ResponseKind::NxDomain, RrlEvent::Slipped), 0);
    }

    #[test]
    fn bind_nxdomain_per_zone_and_prefix_aggregation() {
        let rrl = rrl(RrlSettings { nxdomains_per_second: 2, slip: 0, ..enabled() });
        let zone_a = same(3, ResponseKind::NxDomain, "zone-a.example.");
        let now = Instant::ZERO;
        assert_eq!(burst(&rrl, "198.51.100.1", Transport::Udp, now, &zone_a), tally(2, 0, 1));
        assert_eq!(burst(&rrl, "198.51.100.200", Transport::Udp, now, &zone_a), tally(0, 0, 3), "same /24, same account");
        assert_eq!(burst(&rrl, "198.51.101.1", Transport::Udp, now, &zone_a), tally(2, 0, 1), "another /24");
        let upper = same(3, ResponseKind::NxDomain, "ZONE-B.example.");
        let lower = same(3, ResponseKind::NxDomain, "zone-b.EXAMPLE.");
        assert_eq!(burst(&rrl, "198.51.100.1", Transport::Udp, now, &upper), tally(2, 0, 1), "another zone");
        assert_eq!(burst(&rrl, "198.51.100.1", Transport::Udp, now, &lower), tally(0, 0, 3), "names are case-insensitive");
        assert_eq!(burst(&rrl, "2001:db8:0:ff::1", Transport::Udp, now, &zone_a), tally(2, 0, 1));
        assert_eq!(burst(&rrl, "2001:db8:0:1::9", Transport::Udp, now, &zone_a), tally(0, 0, 3), "same /56");
        assert_eq!(burst(&rrl, "2001:db8:0:100::1", Transport::Udp, now, &zone_a), tally(2, 0, 1), "another /56");
    }

    #[test]
    fn prefix_lengths_are_configurable() {
        let rrl = rrl(RrlSettings { nxdomains_per_second: 1, ipv4_prefix_length: 32, ipv6_prefix_length: 128, ..enabled() });
        let one = same(1, ResponseKind::NxDomain, "example.");
        for client in ["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2"] {
            assert_eq!(burst(&rrl, client, Transport::Udp, Instant::ZERO, &one), tally(1, 0, 0), "{client}");
        }
    }

    #[test]
    fn kinds_use_their_own_rates() {
        let settings = RrlSettings {
            responses_per_second: 4,
            nxdomains_per_second: 1,
            nodata_per_second: 2,
            referrals_per_second: 3,
            errors_per_second: 0,
            slip: 0,
            ..enabled()
        };
        let rrl = rrl(settings);
        let count = |kind| burst(&rrl, "192.0.2.1", Transport::Udp, Instant::ZERO, &same(10, kind, "k.example.")).answered;
        assert_eq!(count(ResponseKind::Answer), 4);
        assert_eq!(count(ResponseKind::NxDomain), 1);
        assert_eq!(count(ResponseKind::NoData), 2);
        assert_eq!(count(ResponseKind::Referral), 3);
        assert_eq!(count(ResponseKind::Error), 10, "rate 0 is unlimited");
    }

    #[test]
    fn on_by_default_with_nsd_rates_and_no_all_per_second() {
        let defaults = RrlSettings::default();
        assert!(defaults.enabled, "on by default, as NSD ships it");
        let rates = ResponseKind::ALL.map(|kind| defaults.rate(kind));
        assert_eq!((rates, defaults.all_per_second), ([200; 5], 0), "NSD's 200 a second; all-per-second off, as in BIND");
        assert_eq!((defaults.window, defaults.slip, defaults.ipv4_prefix_length, defaults.ipv6_prefix_length, defaults.table_size), (15, 2, 24, 56, 65_536));
        // One name asked 400 times in one second from a /24: 200 answered, then slip 2.
        let limiter = rrl(RrlSettings::DEFAULT);
        assert_eq!(burst(&limiter, "192.0.2.1", Transport::Udp, Instant::from_secs(10), &same(400, ResponseKind::Answer, "x.")), tally(200, 100, 100));
        // 1000 different names from one /24 in one second: no per-prefix cap.
        let names: Vec<String> = (0..1000).map(|i| format!("n{i}.x.")).collect();
        let different: Vec<_> = names.iter().map(|n| (ResponseKind::Answer, n.as_str(), Rtype::A)).collect();
        assert_eq!(burst(&limiter, "192.0.2.2", Transport::Udp, Instant::from_secs(20), &different), tally(1000, 0, 0));
    }

    #[test]
    fn off_allocates_nothing_and_limits_nothing() {
        let rrl = rrl(RrlSettings::OFF);
        assert!(!rrl.settings().enabled);
        assert_eq!(rrl.capacity(), 0, "nothing allocated");
        assert_eq!(burst(&rrl, "192.0.2.1", Transport::Udp, Instant::ZERO, &same(1000, ResponseKind::Error, "x.")).answered, 1000);
    }

    #[test]
    fn out_of_range_settings_are_clamped() {
        let rrl = rrl(RrlSettings { window: 0, slip: 200, ipv4_prefix_length: 99, table_size: 1, ..enabled() });
        assert_eq!((rrl.settings().window, rrl.settings().slip, rrl.settings().ipv4_prefix_length), (1, 10, 32));
        assert!(rrl.capacity() >= 1024);
    }

    #[test]
    fn shared_across_threads_without_losing_debits() {
        let rrl = rrl(RrlSettings { responses_per_second: 1000, all_per_second: 0, ..enabled() });
        let key = RrlKey::new(ip("192.0.2.1"), ResponseKind::Answer, 1);
        let sent: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4).map(|_| scope.spawn(|| (0..2000).filter(|_| rrl.account(key, Instant::ZERO) == RrlVerdict::Send).count())).collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!(sent, 1000);
        let counters = rrl.counters();
        let total: u64 = [RrlEvent::Sent, RrlEvent::Slipped, RrlEvent::Dropped].iter().map(|&e| counters.get(ResponseKind::Answer, e)).sum();
        assert_eq!(total, 8000);
    }
}

/// The engine with the server's default RRL: clients outside the recursion ACL are limited,
/// clients inside it (localhost by default) never are.
#[cfg(test)]
mod policy_rrl_engine {
    use portcullis_engine::auth::ZoneSet;
    use portcullis_engine::engine::Policy;
    use portcullis_engine::load::load_zone_text;
    use portcullis_engine::metrics::EngineCounters;
    use portcullis_engine::policy::{Acl, AclSettings, QueryLimitSettings, QueryLimiter, Rrl, RrlCounters, RrlSettings};
    use portcullis_engine::zonefile::NoIncludes;
    use portcullis_engine::{Engine, EngineSettings, Outcome, Request, Transport};
    use portcullis_wire::NameBuf;
    use std::net::SocketAddr;
    use std::sync::Arc;

    const ZONE: &str = "$ORIGIN rrl.test.\n$TTL 300\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.80\n";

    /// `rrl.test.` with RRL at `settings` and the recursion ACL `recursion`.
    fn served(settings: &RrlSettings, recursion: &[&str]) -> Engine {
        let origin = NameBuf::from_text("rrl.test.", None).unwrap();
        let zone = load_zone_text(&origin, ZONE, "rrl.zone", &NoIncludes).unwrap();
        let mut acl = AclSettings::default();
        acl.global.recursion = Some(recursion.iter().map(|text| text.parse().unwrap()).collect());
        let policy = Policy {
            acl: Acl::new(&acl, None).unwrap(),
            rrl: Arc::new(Rrl::new(settings, *b"rrl engine tests", Arc::new(RrlCounters::default()))),
            ..Policy::defaults()
        };
        Engine::with_policy(ZoneSet::new(vec![Arc::new(zone)]), EngineSettings::default(), Arc::new(EngineCounters::default()), policy)
    }

    /// `rrl.test.` without RRL, with the query limiter (instant 100, slip 2) and the recursion
    /// ACL 127.0.0.1/32.
    fn limited() -> Engine {
        let origin = NameBuf::from_text("rrl.test.", None).unwrap();
        let zone = load_zone_text(&origin, ZONE, "rrl.zone", &NoIncludes).unwrap();
        let mut acl = AclSettings::default();
        acl.global.recursion = Some(vec!["127.0.0.1/32".parse().unwrap()]);
        let settings = QueryLimitSettings { enabled: true, instant_limit: 100, slip: 2, ..QueryLimitSettings::DEFAULT };
        let policy = Policy { acl: Acl::new(&acl, None).unwrap(), query_limit: QueryLimiter::new(&settings, [9; 16]), ..Policy::defaults() };
        Engine::with_policy(ZoneSet::new(vec![Arc::new(zone)]), EngineSettings::default(), Arc::new(EngineCounters::default()), policy)
    }

    /// `www.rrl.test. A`, no EDNS, RD=0.
    fn query(id: u16) -> Vec<u8> {
        let mut bytes = id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(b"\x03www\x03rrl\x04test\x00\x00\x01\x00\x01");
        bytes
    }

    /// (answered in full, TC=1 slips, dropped) for 600 queries from `client` in one second.
    fn flood(engine: &Engine, client: [u8; 4]) -> (u32, u32, u32) {
        flood_over(engine, client, Transport::Udp)
    }

    /// [`flood`] over `transport`.
    fn flood_over(engine: &Engine, client: [u8; 4], transport: Transport) -> (u32, u32, u32) {
        let peer = SocketAddr::from((client, 40_000));
        let mut out = vec![0u8; 4096];
        let mut tally = (0, 0, 0);
        for id in 0..600 {
            match engine.handle(&Request::at_zero(&query(id), peer, transport), &mut out) {
                Outcome::Reply(len) if out[2] & 0x02 != 0 && out[6..8] == [0, 0] && len > 12 => tally.1 += 1,
                Outcome::Reply(_) => tally.0 += 1,
                Outcome::Drop(_) => tally.2 += 1,
                other => panic!("{other:?}"),
            }
        }
        tally
    }

    #[test]
    fn clients_outside_the_recursion_acl_are_limited_by_default() {
        let engine = served(&RrlSettings::default(), &["127.0.0.1/32"]);
        assert_eq!(flood(&engine, [127, 0, 0, 2]), (200, 200, 200), "127.0.0.2 is outside the recursion ACL: 200, then slip 2");
        assert_eq!(flood(&engine, [127, 0, 0, 1]), (600, 0, 0), "127.0.0.1 is in the recursion ACL: never limited");
        assert_eq!(flood(&engine, [192, 0, 2, 7]), (200, 200, 200), "an outside client");
    }

    #[test]
    fn localhost_is_exempt_under_the_default_acl_and_enabled_false_limits_nobody() {
        let engine = served(&RrlSettings::default(), &["localhost"]);
        assert_eq!(flood(&engine, [127, 0, 0, 2]), (600, 0, 0), "the default recursion ACL is localhost");
        assert_eq!(flood(&engine, [192, 0, 2, 7]), (200, 200, 200));
        let off = served(&RrlSettings { enabled: false, ..RrlSettings::default() }, &["127.0.0.1/32"]);
        assert_eq!(flood(&off, [192, 0, 2, 7]), (600, 0, 0), "enabled = false");
    }

    #[test]
    fn the_query_limiter_restricts_udp_from_outside_the_recursion_acl() {
        let engine = limited();
        assert_eq!(flood(&engine, [192, 0, 2, 7]), (100, 250, 250), "instant limit 100, then slip 2");
        assert_eq!(engine.counters().drops_of(portcullis_engine::DropReason::QueryLimit), 250);
        assert_eq!(flood(&engine, [192, 0, 2, 8]), (100, 250, 250), "another address: its own counter");
        assert_eq!(flood(&engine, [127, 0, 0, 1]), (600, 0, 0), "the recursion ACL's client is spared");
        assert_eq!(flood_over(&engine, [192, 0, 2, 7], Transport::Tcp), (600, 0, 0), "TCP is spared");
    }
}
