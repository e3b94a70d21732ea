//! ACL behaviour: BIND address match list semantics (first match wins, `!` negation, nested
//! lists), overlapping prefixes, IPv6 and IPv4-mapped clients (RFC 4291 §2.5.5.2), the safe
//! defaults of SECURITY-REFERENCE §7, and per-listener and per-zone precedence.

/// Named after the file, so that `cargo test -p portcullis-engine policy` selects these tests.
#[cfg(test)]
mod policy_acl {
    use portcullis_engine::policy::acl::{Acl, AclError, AclSettings, Action, ActionRules, DenyResponse, ListenerRules, MatchElement, NamedList, ZoneRules};
    use portcullis_engine::policy::Verdict;
    use portcullis_wire::NameBuf;
    use std::net::IpAddr;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn elements(texts: &[&str]) -> Vec<MatchElement> {
        texts.iter().map(|text| text.parse().unwrap()).collect()
    }

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    /// An ACL whose global list for `action` is `texts`, with the named `lists`.
    fn acl_with(action: Action, texts: &[&str], lists: Vec<NamedList>) -> Acl {
        let mut global = ActionRules::default();
        let list = Some(elements(texts));
        match action {
            Action::Query => global.query = list,
            Action::Recursion => global.recursion = list,
            Action::Transfer => global.transfer = list,
            Action::Notify => global.notify = list,
            Action::Update => global.update = list,
        }
        Acl::new(&AclSettings { lists, global, ..AclSettings::default() }, None).unwrap()
    }

    fn named(name: &str, texts: &[&str]) -> NamedList {
        NamedList { name: name.to_owned(), elements: elements(texts) }
    }

    /// A list that starts with `any` allows everyone without a scan; one with anything before
    /// `any` is still scanned in order.
    #[test]
    fn any_first_allows_every_family_and_a_deny_before_it_still_counts() {
        let open = acl_with(Action::Query, &["any", "!192.0.2.1"], Vec::new());
        for client in ["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"] {
            assert_eq!(open.check(ip(client), Action::Query, None), Verdict::Allow, "{client}");
        }
        let guarded = acl_with(Action::Query, &["!192.0.2.1", "any"], Vec::new());
        assert_eq!(guarded.check(ip("192.0.2.1"), Action::Query, None), Verdict::Refuse);
        assert_eq!(guarded.check(ip("::ffff:192.0.2.1"), Action::Query, None), Verdict::Refuse);
        assert_eq!(guarded.check(ip("192.0.2.2"), Action::Query, None), Verdict::Allow);
    }

    /// `key NAME` matches requests signed with that key, from any address, in list order; an
    /// unsigned request or another key does not match it.
    #[test]
    fn key_elements_match_the_verified_tsig_key() {
        let acl = acl_with(Action::Transfer, &["key xfr.example", "192.0.2.9"], Vec::new());
        let (xfr, other) = (name("XFR.example."), name("other.example."));
        for client in ["192.0.2.1", "2001:db8::1"] {
            assert_eq!(acl.check_signed(ip(client), Some(&xfr), Action::Transfer, None), Verdict::Allow, "{client}");
            assert_eq!(acl.check_signed(ip(client), Some(&other), Action::Transfer, None), Verdict::Refuse, "{client}");
            assert_eq!(acl.check(ip(client), Action::Transfer, None), Verdict::Refuse, "{client}");
        }
        assert_eq!(acl.check(ip("192.0.2.9"), Action::Transfer, None), Verdict::Allow, "the address element still counts");
        // Negated, before `any`: everyone but that key; nested in a named list too.
        let acl = acl_with(Action::Query, &["!key xfr.example.", "any"], Vec::new());
        assert_eq!(acl.check_signed(ip("192.0.2.1"), Some(&xfr), Action::Query, None), Verdict::Refuse);
        assert_eq!(acl.check_signed(ip("192.0.2.1"), Some(&other), Action::Query, None), Verdict::Allow);
        let acl = acl_with(Action::Notify, &["primaries"], vec![named("primaries", &["key xfr.example."])]);
        assert_eq!(acl.check_signed(ip("192.0.2.1"), Some(&xfr), Action::Notify, None), Verdict::Allow);
        assert_eq!(acl.check(ip("192.0.2.1"), Action::Notify, None), Verdict::Refuse);
        assert!("key a..b".parse::<MatchElement>().is_err());
        assert_eq!("key".parse::<MatchElement>(), Ok(MatchElement::List { negated: false, name: "key".into() }), "a list named key");
    }

    #[test]
    fn security_reference_7_defaults() {
        let acl = Acl::new(&AclSettings::default(), None).unwrap();
        for client in ["192.0.2.1", "2001:db8::1", "127.0.0.1"] {
            assert_eq!(acl.check(ip(client), Action::Query, Some(&name("example.com."))), Verdict::Allow, "{client}");
            assert_eq!(acl.check(ip(client), Action::Query, None), Verdict::Allow, "{client}");
        }
        for local in ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(acl.check(ip(local), Action::Recursion, None), Verdict::Allow, "{local}");
        }
        for remote in ["192.0.2.1", "2001:db8::1", "::2"] {
            assert_eq!(acl.check(ip(remote), Action::Recursion, None), Verdict::Refuse, "{remote}");
        }
        for action in [Action::Transfer, Action::Notify, Action::Update] {
            assert_eq!(acl.check(ip("127.0.0.1"), action, Some(&name("example.com."))), Verdict::Refuse, "{action:?}");
        }
    }

    #[test]
    fn bind_first_match_wins_with_overlapping_prefixes() {
        let acl = acl_with(Action::Transfer, &["!192.0.2.5", "192.0.2.0/24", "!192.0.0.0/16", "192.0.0.0/8"], vec![]);
        let check = |client| acl.allows(ip(client), Action::Transfer, None);
        assert!(!check("192.0.2.5"), "the host exception comes first");
        assert!(check("192.0.2.6"));
        assert!(!check("192.0.3.1"), "the /16 denial precedes the /8");
        assert!(check("192.1.0.1"));
        assert!(!check("10.0.0.1"), "nothing matched: denied");

        let reversed = acl_with(Action::Transfer, &["192.0.2.0/24", "!192.0.2.5"], vec![]);
        assert!(reversed.allows(ip("192.0.2.5"), Action::Transfer, None), "the /24 matches first");
    }

    #[test]
    fn bind_negation_and_keywords() {
        let acl = acl_with(Action::Update, &["!any"], vec![]);
        assert!(!acl.allows(ip("127.0.0.1"), Action::Update, None));
        let none_first = acl_with(Action::Update, &["none", "127.0.0.1"], vec![]);
        assert!(!none_first.allows(ip("127.0.0.1"), Action::Update, None), "none is !any: it denies and stops");
        let not_none = acl_with(Action::Update, &["!none"], vec![]);
        assert!(not_none.allows(ip("2001:db8::1"), Action::Update, None), "!none is any");
        let not_local = acl_with(Action::Query, &["!localhost", "any"], vec![]);
        assert!(!not_local.allows(ip("::1"), Action::Query, None));
        assert!(not_local.allows(ip("192.0.2.1"), Action::Query, None));
    }

    #[test]
    fn bind_nested_lists_never_double_negate() {
        let lists = vec![named("trusted", &["!10.0.0.1", "10.0.0.0/8"])];
        let acl = acl_with(Action::Recursion, &["!trusted", "any"], lists.clone());
        let check = |client| acl.allows(ip(client), Action::Recursion, None);
        assert!(!check("10.0.0.2"), "positive inner match, negated: deny");
        assert!(check("10.0.0.1"), "negative inner match counts as no match: on to `any`");
        assert!(check("192.0.2.1"), "no inner match: on to `any`");

        let plain = acl_with(Action::Recursion, &["trusted"], lists);
        assert!(plain.allows(ip("10.9.9.9"), Action::Recursion, None));
        assert!(!plain.allows(ip("10.0.0.1"), Action::Recursion, None), "inner exclusion holds, then nothing matches");
    }

    #[test]
    fn nested_lists_nest_deeper() {
        let lists =
            vec![named("inner", &["!192.0.2.1", "192.0.2.0/24"]), named("middle", &["inner", "198.51.100.0/24"]), named("outer", &["!middle", "192.0.0.0/8"])];
        let acl = acl_with(Action::Notify, &["outer"], lists);
        let check = |client| acl.allows(ip(client), Action::Notify, None);
        assert!(!check("192.0.2.7"), "in inner: middle positive, negated in outer");
        assert!(check("192.0.2.1"), "excluded by inner: skips middle, matches 192/8");
        assert!(!check("198.51.100.1"), "middle positive, negated");
        assert!(check("192.9.9.9"));
    }

    #[test]
    fn rfc4291_ipv6_and_mapped_clients() {
        let acl = acl_with(Action::Transfer, &["2001:db8::/32", "!2001:db8:1::/48", "192.0.2.0/24"], vec![]);
        let check = |client| acl.allows(ip(client), Action::Transfer, None);
        assert!(check("2001:db8::53"));
        assert!(check("2001:db8:1::1"), "the /32 matches first");
        assert!(!check("2001:db9::1"));
        assert!(check("::ffff:192.0.2.9"), "IPv4-mapped matched as IPv4");
        assert!(!check("::ffff:192.0.3.9"));

        let mapped_rule = acl_with(Action::Transfer, &["::ffff:198.51.100.0/120"], vec![]);
        assert!(mapped_rule.allows(ip("198.51.100.3"), Action::Transfer, None), "a mapped prefix is an IPv4 prefix");
        let v6_any = acl_with(Action::Transfer, &["::/0"], vec![]);
        assert!(!v6_any.allows(ip("192.0.2.1"), Action::Transfer, None), "families never cross");
    }

    #[test]
    fn zone_then_listener_then_global() {
        let global = ActionRules { transfer: Some(elements(&["192.0.2.1"])), ..ActionRules::default() };
        let listener_rules = ActionRules { recursion: Some(elements(&["10.0.0.0/8"])), ..ActionRules::default() };
        let zone_rules = ActionRules { transfer: Some(elements(&["198.51.100.0/24"])), ..ActionRules::default() };
        let settings = AclSettings {
            global,
            listeners: vec![ListenerRules { listener: "internal".to_owned(), rules: listener_rules }],
            zones: vec![ZoneRules { zone: name("Example.COM."), rules: zone_rules }],
            ..AclSettings::default()
        };
        let public = Acl::new(&settings, None).unwrap();
        let zone = name("example.com.");
        assert!(public.allows(ip("198.51.100.7"), Action::Transfer, Some(&zone)));
        assert!(!public.allows(ip("192.0.2.1"), Action::Transfer, Some(&zone)), "the zone list replaces the global one");
        assert!(public.allows(ip("192.0.2.1"), Action::Transfer, Some(&name("example.net."))));
        assert!(public.allows(ip("192.0.2.1"), Action::Transfer, None));
        assert!(public.allows(ip("127.0.0.1"), Action::Recursion, None), "default for this listener");

        let internal = Acl::new(&settings, Some("internal")).unwrap();
        assert!(internal.allows(ip("10.1.2.3"), Action::Recursion, None));
        assert!(!internal.allows(ip("127.0.0.1"), Action::Recursion, None), "a configured list replaces the default");
        assert!(internal.allows(ip("192.0.2.1"), Action::Transfer, None), "global rules still apply");
        assert!(internal.allows(ip("198.51.100.1"), Action::Transfer, Some(&zone)));
    }

    #[test]
    fn deny_response_is_configurable() {
        let settings = AclSettings { denied: DenyResponse::Drop, ..AclSettings::default() };
        let acl = Acl::new(&settings, None).unwrap();
        assert_eq!(acl.check(ip("192.0.2.1"), Action::Recursion, None), Verdict::Drop);
        assert_eq!(acl.check(ip("192.0.2.1"), Action::Query, None), Verdict::Allow);
        assert_eq!(acl.denied(), DenyResponse::Drop);
    }

    #[test]
    fn element_text() {
        assert_eq!("! 10.0.0.0/8".parse::<MatchElement>().unwrap(), "10.0.0.0/8".parse::<MatchElement>().unwrap().negate());
        assert_eq!("NONE".parse::<MatchElement>().unwrap(), MatchElement::Any { negated: true });
        assert_eq!("!trusted-nets".parse::<MatchElement>().unwrap(), MatchElement::List { negated: true, name: "trusted-nets".to_owned() });
        for bad in ["10.0.0.1/8", "1.2.3", "", "!", "a b", "2001:db8::/200"] {
            assert!(matches!(bad.parse::<MatchElement>(), Err(AclError::BadElement(_))), "{bad:?}");
        }
    }

    #[test]
    fn settings_errors_are_named() {
        let build = |lists: Vec<NamedList>, rule: &[&str]| {
            let global = ActionRules { query: Some(elements(rule)), ..ActionRules::default() };
            Acl::new(&AclSettings { lists, global, ..AclSettings::default() }, None).map(|_| ())
        };
        assert_eq!(build(vec![], &["nowhere"]), Err(AclError::UnknownList("nowhere".to_owned())));
        assert_eq!(build(vec![named("a", &["b"]), named("b", &["a"])], &["a"]), Err(AclError::Cycle("a".to_owned())));
        assert_eq!(build(vec![named("self", &["!self"])], &["self"]), Err(AclError::Cycle("self".to_owned())));
        assert_eq!(build(vec![named("a", &[]), named("a", &[])], &[]), Err(AclError::DuplicateList("a".to_owned())));
        assert_eq!(build(vec![named("Any", &[])], &[]), Err(AclError::DuplicateList("Any".to_owned())));
        let hosts: Vec<String> = (0..5000u32).map(|i| format!("10.{}.{}.1", i / 256, i % 256)).collect();
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        assert_eq!(build(vec![], &hosts), Err(AclError::TooLarge("query".to_owned())));
        // l{i} refers to l{i-1} twice: 2^13 entries once expanded.
        let mut doubling = vec![named("l0", &["any"])];
        for i in 1..14 {
            let previous = format!("l{}", i - 1);
            doubling.push(named(&format!("l{i}"), &[&previous, &previous]));
        }
        assert!(matches!(build(doubling, &["l13"]), Err(AclError::TooLarge(_))), "exponential expansion is bounded");

        let zone = |text: &str| ZoneRules { zone: name(text), rules: ActionRules::default() };
        let settings = AclSettings { zones: vec![zone("example.com."), zone("EXAMPLE.com.")], ..AclSettings::default() };
        assert!(matches!(Acl::new(&settings, None), Err(AclError::DuplicateZone(_))));
    }
}
