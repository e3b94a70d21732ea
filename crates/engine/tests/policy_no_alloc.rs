//! The policy units are bounded and allocation-free on the query path (DESIGN §4.4 "Zero
//! allocation", §6 "Is every queue, table, map bounded?"): RRL's table is preallocated and a
//! million distinct accounts do not grow it, nor do the query limiter's; ACL checks and cookie
//! processing allocate nothing.
//! Counted per thread by `allocation-counter`, so parallel tests do not interfere.

/// Named after the file, so that `cargo test -p portcullis-engine policy` selects these tests.
#[cfg(test)]
mod policy_no_alloc {
    use portcullis_engine::policy::acl::{Acl, AclSettings, Action, ActionRules, NamedList};
    use portcullis_engine::policy::cookies::{CookieSettings, Cookies};
    use portcullis_engine::policy::query_limit::{LimitVerdict, QueryLimitSettings, QueryLimiter};
    use portcullis_engine::policy::rrl::{ResponseKind, Rrl, RrlCounters, RrlKey, RrlSettings, RrlVerdict};
    use portcullis_engine::policy::Instant;
    use portcullis_engine::Transport;
    use portcullis_wire::{NameBuf, Rtype};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    #[test]
    fn rrl_table_stays_bounded_over_a_million_distinct_keys() {
        let settings = RrlSettings { enabled: true, table_size: 4096, ..RrlSettings::DEFAULT };
        let rrl = Rrl::new(&settings, [7; 16], Arc::new(RrlCounters::default()));
        let capacity = rrl.capacity();
        assert!(capacity >= 4096);
        let name = NameBuf::from_text("random.example.", None).unwrap();
        let mut sent = 0u64;
        let info = allocation_counter::measure(|| {
            for i in 0u32..1_000_000 {
                let client = if i % 2 == 0 { IpAddr::V4(Ipv4Addr::from(i << 8)) } else { IpAddr::V6(Ipv6Addr::from(u128::from(i) << 72)) };
                let hash = rrl.name_hash(ResponseKind::Answer, &name, Rtype::A);
                let verdict = rrl.account(RrlKey::new(client, ResponseKind::Answer, hash ^ u64::from(i)), Instant::from_millis(u64::from(i)));
                sent += u64::from(verdict == RrlVerdict::Send);
            }
        });
        assert_eq!(info.count_total, 0, "accounting allocated");
        assert_eq!(info.bytes_max, 0);
        assert_eq!(rrl.capacity(), capacity, "the table never grows");
        assert_eq!(sent, 1_000_000, "every account is new: full credit");
        assert!(rrl.counters().evictions.load(Ordering::Relaxed) >= 1_000_000 - capacity as u64);
    }

    #[test]
    fn query_limiter_table_stays_bounded_over_a_million_distinct_sources() {
        let limiter = QueryLimiter::new(&QueryLimitSettings { enabled: true, table_size: 4096, ..QueryLimitSettings::DEFAULT }, [7; 16]);
        let capacity = limiter.capacity();
        assert!(capacity >= 4096);
        let mut passed = 0u64;
        let info = allocation_counter::measure(|| {
            for i in 0u32..1_000_000 {
                let client = if i % 2 == 0 { IpAddr::V4(Ipv4Addr::from(i << 14)) } else { IpAddr::V6(Ipv6Addr::from(u128::from(i) << 98)) };
                passed += u64::from(limiter.check(client, Instant::from_millis(u64::from(i))) == LimitVerdict::Pass);
            }
        });
        assert_eq!(info.count_total, 0, "checking allocated");
        assert_eq!(limiter.capacity(), capacity, "the table never grows");
        assert_eq!(passed, 1_000_000, "every source is new");
    }

    #[test]
    fn acl_check_does_not_allocate() {
        let elements = ["!192.0.2.5", "trusted", "2001:db8::/32", "!any"].iter().map(|t| t.parse().unwrap()).collect();
        let trusted = NamedList { name: "trusted".to_owned(), elements: vec!["!10.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()] };
        let global = ActionRules { transfer: Some(elements), ..ActionRules::default() };
        let acl = Acl::new(&AclSettings { lists: vec![trusted], global, ..AclSettings::default() }, None).unwrap();
        let zone = NameBuf::from_text("example.com.", None).unwrap();
        let clients: Vec<IpAddr> = ["192.0.2.5", "10.0.0.1", "10.2.3.4", "2001:db8::1", "::ffff:10.0.0.9", "::1"].iter().map(|t| t.parse().unwrap()).collect();
        let info = allocation_counter::measure(|| {
            for client in &clients {
                for action in Action::ALL {
                    std::hint::black_box(acl.check(*client, action, Some(&zone)));
                    std::hint::black_box(acl.check(*client, action, None));
                }
            }
        });
        assert_eq!(info.count_total, 0);
    }

    #[test]
    fn cookie_processing_does_not_allocate() {
        let cookies = Cookies::new(CookieSettings { require_cookie: true, ..CookieSettings::DEFAULT }, [1; 16], Some([2; 16]));
        let client = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let mut option = [0u8; 24];
        option[8..].copy_from_slice(&cookies.mint(&[3; 8], client, 1000));
        let info = allocation_counter::measure(|| {
            for now in [1000, 3000, 9000] {
                for data in [&option[..], &option[..8], &option[..9]] {
                    for transport in [Transport::Udp, Transport::Tcp] {
                        std::hint::black_box(cookies.process(Some(data), client, transport, now));
                    }
                }
            }
        });
        assert_eq!(info.count_total, 0);
    }
}
