//! Response policy zones and blocklists in the engine (issue 16 item 3): every trigger kind and
//! action of BIND 9.18, its precedence (zone order, trigger kind order, exact over wildcard,
//! longest prefix), on cache hits and on finished resolutions, the EDE codes, AD cleared, and a
//! bogus or failed resolution left SERVFAIL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Named after the file, so that `cargo test -p portcullis-engine rpz` selects these tests.
#[cfg(test)]
mod rpz_engine {
    use portcullis_engine::auth::ZoneSet;
    use portcullis_engine::cache::{Cache, CacheSettings, Rrset, Security, Trust};
    use portcullis_engine::load::load_zone_text;
    use portcullis_engine::policy::rpz::{Blocklist, ListAction, ListEntry, ListFormat, PolicyOverride, Rpz, RpzCounters, ZoneSettings};
    use portcullis_engine::policy::Instant;
    use portcullis_engine::resolve::Resolved;
    use portcullis_engine::zonefile::NoIncludes;
    use portcullis_engine::{Engine, EngineSettings, Outcome, Request, Transport};
    use portcullis_wire::header::Flags;
    use portcullis_wire::message::{Message, Section};
    use portcullis_wire::writer::MessageWriter;
    use portcullis_wire::{Class, NameBuf, Rcode, Rtype};
    use std::net::SocketAddr;
    use std::sync::Arc;

    const POLICY: &str = "$TTL 300
@ SOA localhost. root.localhost. 1 3600 600 86400 60
@ NS localhost.
nx.example CNAME .
nodata.example CNAME *.
pass.example CNAME rpz-passthru.
drop.example CNAME rpz-drop.
tcp.example CNAME rpz-tcp-only.
local.example A 192.0.2.1
local.example TXT \"walled\"
redirect.example CNAME www.target.
*.wild.example CNAME *.walled.target.
exact.wild.example CNAME .
*.example CNAME *.
32.66.2.0.192.rpz-ip A 192.0.2.99
24.0.2.0.198.rpz-ip CNAME .
128.66.zz.db8.2001.rpz-ip CNAME .
32.9.0.0.127.rpz-client-ip CNAME .
ns.evil.rpz-nsdname CNAME .
*.shady.rpz-nsdname CNAME *.
32.7.113.0.203.rpz-nsip CNAME .
33.1.2.0.192.rpz-ip CNAME .
";

    const SECOND: &str = "$TTL 300
@ SOA localhost. root.localhost. 1 3600 600 86400 60
@ NS localhost.
pass.example A 192.0.2.2
only-second.test A 192.0.2.3
";

    fn name(text: &str) -> NameBuf {
        NameBuf::from_text(text, None).unwrap()
    }

    fn zone(origin: &str, text: &str) -> Arc<portcullis_engine::auth::Zone> {
        Arc::new(load_zone_text(&name(origin), text, origin, &NoIncludes).unwrap())
    }

    fn rrset(owner: &str, rtype: Rtype, rdatas: &[&[u8]]) -> Rrset {
        let mut rrset = Rrset::new(name(owner), rtype, Class::IN, 300);
        for rdata in rdatas {
            rrset.push(300, rdata);
        }
        rrset
    }

    fn wire(text: &str) -> Vec<u8> {
        name(text).as_wire().to_vec()
    }

    fn cache() -> Arc<Cache> {
        let cache = Cache::new(CacheSettings::DEFAULT);
        let insert = |rrset: Rrset| {
            cache.insert_rrset(&rrset, Trust::Answer, Instant::ZERO);
        };
        insert(rrset("www.target.", Rtype::A, &[&[192, 0, 2, 80]]));
        insert(rrset("x.wild.example.walled.target.", Rtype::A, &[&[192, 0, 2, 81]]));
        insert(rrset("ip.test.", Rtype::A, &[&[192, 0, 2, 66]]));
        insert(rrset("net.test.", Rtype::A, &[&[198, 0, 2, 5]]));
        insert(rrset("v6.test.", Rtype::AAAA, &[&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x66]]));
        insert(rrset("clean.test.", Rtype::A, &[&[192, 0, 2, 10]]));
        insert(rrset("www.evil.test.", Rtype::A, &[&[192, 0, 2, 11]]));
        insert(rrset("evil.test.", Rtype::NS, &[&wire("ns.evil.")]));
        insert(rrset("www.tld-only.", Rtype::A, &[&[192, 0, 2, 14]]));
        insert(rrset("tld-only.", Rtype::NS, &[&wire("ns.evil.")]));
        insert(rrset("www.dark.test.", Rtype::A, &[&[192, 0, 2, 12]]));
        insert(rrset("dark.test.", Rtype::NS, &[&wire("a.ns.shady.")]));
        insert(rrset("www.far.test.", Rtype::A, &[&[192, 0, 2, 13]]));
        insert(rrset("far.test.", Rtype::NS, &[&wire("ns.far.test.")]));
        insert(rrset("ns.far.test.", Rtype::A, &[&[203, 0, 113, 7]]));
        insert(rrset("only-second.test.", Rtype::A, &[&[192, 0, 2, 30]]));
        insert(rrset("late.test.", Rtype::A, &[&[192, 0, 2, 31]]));
        insert(rrset("nx.example.", Rtype::A, &[&[192, 0, 2, 32]]));
        insert(rrset("chain.test.", Rtype::CNAME, &[&wire("nx.example.")]));
        insert(rrset("chain2.test.", Rtype::CNAME, &[&wire("local.example.")]));
        insert(rrset("local.example.", Rtype::A, &[&[192, 0, 2, 33]]));
        Arc::new(cache)
    }

    fn engine_with(zones: Vec<ZoneSettings>, lists: Vec<ListEntry>) -> Engine {
        let served = ZoneSet::new(vec![zone("rpz.one.", POLICY), zone("rpz.two.", SECOND)]);
        let rpz = Rpz::new(zones, lists, &served, Arc::new(RpzCounters::default()));
        Engine::new(served, EngineSettings::default(), Arc::default()).with_recursion(cache()).with_rpz(Arc::new(rpz))
    }

    fn engine() -> Engine {
        let zone = |origin: &str, policy| ZoneSettings { origin: name(origin), policy, log: true };
        engine_with(vec![zone("rpz.one.", PolicyOverride::Given), zone("rpz.two.", PolicyOverride::Given)], Vec::new())
    }

    fn query(qname: &str, qtype: Rtype, dnssec_ok: bool) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut writer = MessageWriter::new(&mut buf, 512).unwrap();
        writer.set_header(0x4242, Flags { rd: true, ..Flags::default() });
        writer.push_question(&name(qname), qtype, Class::IN).unwrap();
        writer.push_opt(1232, Rcode::NOERROR, dnssec_ok, &[]).unwrap();
        let len = writer.finish();
        buf.truncate(len);
        buf
    }

    /// What a reply says: rcode, TC, AD, answers as text, EDE code.
    #[derive(Debug, PartialEq)]
    struct Reply {
        rcode: Rcode,
        tc: bool,
        ad: bool,
        answers: Vec<String>,
        ede: Option<u16>,
    }

    fn reply_of(bytes: &[u8]) -> Reply {
        let message = Message::parse(bytes).unwrap();
        let answers = message
            .records(Section::Answer)
            .map(|record| {
                let mut rdata = Vec::new();
                portcullis_wire::message::decompress_rdata(bytes, &record, &mut rdata).unwrap();
                let mut text = String::new();
                portcullis_wire::rdata::rdata_to_text(record.rtype, &rdata, &mut text).unwrap();
                format!("{} {} {text}", record.owner, record.rtype)
            })
            .collect();
        let ede = message.edns().and_then(|edns| edns.iter_options().find(|(code, _)| *code == 15).map(|(_, data)| u16::from_be_bytes([data[0], data[1]])));
        Reply { rcode: message.rcode(), tc: message.header().tc(), ad: message.header().ad(), answers, ede }
    }

    fn ask_from(engine: &Engine, peer: &str, transport: Transport, qname: &str, qtype: Rtype) -> Option<Reply> {
        let bytes = query(qname, qtype, false);
        let peer = SocketAddr::new(peer.parse().unwrap(), 5300);
        let request = Request { bytes: &bytes, peer, transport, now: Instant::from_secs(1), unix_secs: 0, listener: 0, worker: 0 };
        let mut out = vec![0u8; 4096];
        match engine.handle(&request, &mut out) {
            Outcome::Reply(len) | Outcome::ReplyAndPrefetch(len) => Some(reply_of(&out[..len])),
            Outcome::Resolve => panic!("{qname}: handed to the resolver"),
            Outcome::Drop(_) | Outcome::Transfer | Outcome::Update => None,
        }
    }

    fn ask(engine: &Engine, qname: &str, qtype: Rtype) -> Reply {
        ask_from(engine, "127.0.0.1", Transport::Udp, qname, qtype).unwrap_or_else(|| panic!("{qname}: dropped"))
    }

    fn rewritten(rcode: Rcode, answers: &[&str], ede: Option<u16>) -> Reply {
        Reply { rcode, tc: false, ad: false, answers: answers.iter().map(|s| (*s).to_string()).collect(), ede }
    }

    #[test]
    fn qname_triggers_and_every_action() {
        let engine = engine();
        assert_eq!(ask(&engine, "nx.example.", Rtype::A), rewritten(Rcode::NXDOMAIN, &[], Some(15)));
        assert_eq!(ask(&engine, "nodata.example.", Rtype::A), rewritten(Rcode::NOERROR, &[], Some(15)));
        assert_eq!(ask(&engine, "local.example.", Rtype::A), rewritten(Rcode::NOERROR, &["local.example. A 192.0.2.1"], Some(17)));
        assert_eq!(ask(&engine, "local.example.", Rtype::TXT), rewritten(Rcode::NOERROR, &["local.example. TXT \"walled\""], Some(17)));
        assert_eq!(ask(&engine, "local.example.", Rtype::MX), rewritten(Rcode::NOERROR, &[], Some(17)));
        let redirect = ask(&engine, "redirect.example.", Rtype::A);
        assert_eq!(redirect, rewritten(Rcode::NOERROR, &["redirect.example. CNAME www.target.", "www.target. A 192.0.2.80"], Some(17)));
        // Wildcard local data: *.suffix is the query name + suffix.
        let wild = ask(&engine, "x.wild.example.", Rtype::A);
        assert_eq!(wild.answers, ["x.wild.example. CNAME x.wild.example.walled.target.", "x.wild.example.walled.target. A 192.0.2.81"]);
        // DROP sends nothing; TCP-only: TC=1 over UDP, the normal path over TCP.
        assert_eq!(ask_from(&engine, "127.0.0.1", Transport::Udp, "drop.example.", Rtype::A), None);
        let tcp_only = ask(&engine, "tcp.example.", Rtype::A);
        assert_eq!((tcp_only.rcode, tcp_only.tc, tcp_only.answers.len()), (Rcode::NOERROR, true, 0));
        let bytes = query("tcp.example.", Rtype::A, false);
        let request = Request {
            bytes: &bytes,
            peer: "127.0.0.1:1".parse().unwrap(),
            transport: Transport::Tcp,
            now: Instant::from_secs(1),
            unix_secs: 0,
            listener: 0,
            worker: 0,
        };
        assert_eq!(engine.handle(&request, &mut [0u8; 4096]), Outcome::Resolve, "over TCP the name is resolved");
    }

    #[test]
    fn precedence_follows_bind() {
        let engine = engine();
        // Exact beats wildcard; the closest wildcard beats those above it.
        assert_eq!(ask(&engine, "exact.wild.example.", Rtype::A).rcode, Rcode::NXDOMAIN);
        assert_eq!(ask(&engine, "other.example.", Rtype::A), rewritten(Rcode::NOERROR, &[], Some(15)));
        // PASSTHRU in the first zone stops the second zone's local data.
        let bytes = query("pass.example.", Rtype::A, false);
        let request = Request {
            bytes: &bytes,
            peer: "127.0.0.1:1".parse().unwrap(),
            transport: Transport::Udp,
            now: Instant::from_secs(1),
            unix_secs: 0,
            listener: 0,
            worker: 0,
        };
        assert_eq!(engine.handle(&request, &mut [0u8; 4096]), Outcome::Resolve);
        // A name only the second zone lists gets its action.
        assert_eq!(ask(&engine, "only-second.test.", Rtype::A).answers, ["only-second.test. A 192.0.2.3"]);
        // Client IP comes before QNAME: 127.0.0.9 gets NXDOMAIN for the local-data name.
        assert_eq!(ask_from(&engine, "127.0.0.9", Transport::Udp, "local.example.", Rtype::A).unwrap().rcode, Rcode::NXDOMAIN);
        assert_eq!(ask_from(&engine, "127.0.0.9", Transport::Udp, "clean.test.", Rtype::A).unwrap().rcode, Rcode::NXDOMAIN);
    }

    #[test]
    fn qname_triggers_apply_to_cname_targets_as_bind_restarts_there() {
        let engine = engine();
        assert_eq!(ask(&engine, "chain.test.", Rtype::A), rewritten(Rcode::NXDOMAIN, &["chain.test. CNAME nx.example."], Some(15)));
        let local = ask(&engine, "chain2.test.", Rtype::A);
        assert_eq!(local, rewritten(Rcode::NOERROR, &["chain2.test. CNAME local.example.", "local.example. A 192.0.2.1"], Some(17)));
        assert_eq!(ask(&engine, "chain.test.", Rtype::CNAME).answers, ["chain.test. CNAME nx.example."], "type CNAME does not restart");
    }

    #[test]
    fn answer_ip_nsdname_and_nsip_triggers_on_cache_hits() {
        let engine = engine();
        assert_eq!(ask(&engine, "ip.test.", Rtype::A), rewritten(Rcode::NOERROR, &["ip.test. A 192.0.2.99"], Some(17)));
        assert_eq!(ask(&engine, "net.test.", Rtype::A).rcode, Rcode::NXDOMAIN, "198.0.2.0/24");
        assert_eq!(ask(&engine, "v6.test.", Rtype::AAAA).rcode, Rcode::NXDOMAIN, "2001:db8::66 (zz form)");
        assert_eq!(ask(&engine, "clean.test.", Rtype::A).answers, ["clean.test. A 192.0.2.10"]);
        assert_eq!(ask(&engine, "www.evil.test.", Rtype::A).rcode, Rcode::NXDOMAIN, "NSDNAME ns.evil");
        assert_eq!(ask(&engine, "www.tld-only.", Rtype::A).rcode, Rcode::NOERROR, "a top-level domain's servers are not looked at (min-ns-dots 1)");
        assert_eq!(ask(&engine, "www.dark.test.", Rtype::A), rewritten(Rcode::NOERROR, &[], Some(15)), "NSDNAME *.shady");
        assert_eq!(ask(&engine, "www.far.test.", Rtype::A).rcode, Rcode::NXDOMAIN, "NSIP 203.0.113.7");
    }

    #[test]
    fn resolutions_are_rewritten_but_bogus_and_servfail_stay() {
        let engine = engine();
        let bytes = query("fresh.test.", Rtype::A, true);
        let request = Request {
            bytes: &bytes,
            peer: "127.0.0.1:1".parse().unwrap(),
            transport: Transport::Udp,
            now: Instant::from_secs(1),
            unix_secs: 0,
            listener: 0,
            worker: 0,
        };
        let mut out = vec![0u8; 4096];
        let resolve = |rdata: &[u8], security| {
            let mut resolved = Resolved::empty(Rcode::NOERROR, None, 1);
            resolved.answer.push(rrset("fresh.test.", Rtype::A, &[rdata]));
            resolved.security = security;
            resolved
        };
        let Outcome::Reply(len) = engine.respond_resolved(&resolve(&[192, 0, 2, 66], Security::Secure), &request, &mut out) else { panic!() };
        assert_eq!(reply_of(&out[..len]), rewritten(Rcode::NOERROR, &["fresh.test. A 192.0.2.99"], Some(17)), "AD cleared");
        let Outcome::Reply(len) = engine.respond_resolved(&resolve(&[192, 0, 2, 66], Security::Bogus), &request, &mut out) else { panic!() };
        assert_eq!(reply_of(&out[..len]).rcode, Rcode::SERVFAIL, "bogus stays SERVFAIL");
        let failed = Resolved::empty(Rcode::SERVFAIL, None, 1);
        let Outcome::Reply(len) = engine.respond_resolved(&failed, &request, &mut out) else { panic!() };
        assert_eq!(reply_of(&out[..len]).rcode, Rcode::SERVFAIL);
        let Outcome::Reply(len) = engine.respond_resolved(&resolve(&[192, 0, 2, 10], Security::Secure), &request, &mut out) else { panic!() };
        let clean = reply_of(&out[..len]);
        assert_eq!((clean.rcode, clean.ad, clean.ede), (Rcode::NOERROR, true, None), "an untouched answer keeps AD");
    }

    #[test]
    fn a_bogus_cache_hit_is_never_rewritten_by_an_answer_ip_trigger() {
        let engine = engine();
        let cache = engine.recursion().unwrap().cache.clone();
        let bogus = rrset("bogus.test.", Rtype::A, &[&[192, 0, 2, 66]]);
        cache.insert_checked(&bogus, Trust::Answer, (Security::Bogus, 6), Instant::ZERO);
        // 192.0.2.66 has local data (A 192.0.2.99): the bogus hit goes to the resolver pool
        // instead, whose bogus resolution is answered SERVFAIL (see the test above).
        let bytes = query("bogus.test.", Rtype::A, false);
        let request = Request {
            bytes: &bytes,
            peer: "127.0.0.1:1".parse().unwrap(),
            transport: Transport::Udp,
            now: Instant::from_secs(1),
            unix_secs: 0,
            listener: 0,
            worker: 0,
        };
        assert_eq!(engine.handle(&request, &mut [0u8; 4096]), Outcome::Resolve);
    }

    #[test]
    fn a_cache_hit_through_qname_policies_and_lists_allocates_nothing() {
        let zones = vec![ZoneSettings { origin: name("rpz.two."), policy: PolicyOverride::Given, log: false }];
        let lists = vec![ListEntry {
            name: "list".into(),
            list: Arc::new(Blocklist::parse("tracker.test\n", ListFormat::Domains, [3; 16]).list),
            action: ListAction::Nxdomain,
            log: false,
        }];
        let engine = engine_with(zones, lists);
        let bytes = query("clean.test.", Rtype::A, false);
        let request = Request {
            bytes: &bytes,
            peer: "127.0.0.1:1".parse().unwrap(),
            transport: Transport::Udp,
            now: Instant::from_secs(1),
            unix_secs: 0,
            listener: 0,
            worker: 0,
        };
        let mut out = vec![0u8; 4096];
        let mut outcome = Outcome::Resolve;
        let counts = allocation_counter::measure(|| outcome = engine.handle(&request, &mut out));
        assert!(matches!(outcome, Outcome::Reply(_)), "{outcome:?}");
        assert_eq!(counts.count_total, 0, "a cache hit with response policy allocated");
    }

    #[test]
    fn overrides_and_blocklists() {
        let zones = vec![
            ZoneSettings { origin: name("rpz.one."), policy: PolicyOverride::Disabled, log: true },
            ZoneSettings { origin: name("rpz.two."), policy: PolicyOverride::Nxdomain, log: false },
        ];
        let list = |text: &str, format, action| ListEntry {
            name: "test-list".into(),
            list: Arc::new(Blocklist::parse(text, format, [3; 16]).list),
            action,
            log: true,
        };
        let lists = vec![
            list("0.0.0.0 ads.test\n", ListFormat::Hosts, ListAction::Null),
            list("tracker.test\n", ListFormat::Domains, ListAction::Refused),
            list("clean.test\n", ListFormat::Domains, ListAction::Nxdomain),
        ];
        let engine = engine_with(zones, lists);
        // Zone one is disabled: its NXDOMAIN is only counted; zone two turns local data into NXDOMAIN.
        assert_eq!(ask(&engine, "only-second.test.", Rtype::A).rcode, Rcode::NXDOMAIN);
        assert_eq!(ask(&engine, "ads.test.", Rtype::A), rewritten(Rcode::NOERROR, &["ads.test. A 0.0.0.0"], Some(15)));
        assert_eq!(ask(&engine, "ads.test.", Rtype::AAAA).answers, ["ads.test. AAAA ::"]);
        assert_eq!(ask(&engine, "ads.test.", Rtype::MX).answers.len(), 0);
        assert_eq!(ask(&engine, "a.b.tracker.test.", Rtype::A), rewritten(Rcode::REFUSED, &[], Some(15)));
        assert_eq!(ask(&engine, "clean.test.", Rtype::A), rewritten(Rcode::NXDOMAIN, &[], Some(15)));
        assert_eq!(ask(&engine, "nx.example.", Rtype::A).answers, ["nx.example. A 192.0.2.32"], "a disabled zone only counts");
        let rpz = engine.recursion().unwrap().rpz.clone().unwrap();
        assert!(rpz.counters.disabled.load(std::sync::atomic::Ordering::Relaxed) > 0);
        let events = rpz.counters.drain_events();
        assert!(events.iter().any(|e| e.source.as_ref() == "test-list" && e.action == "refused"), "{events:?}");
    }

    #[test]
    fn a_new_snapshot_of_a_policy_zone_is_compiled_again() {
        let engine = engine();
        assert_eq!(ask(&engine, "late.test.", Rtype::A).rcode, Rcode::NOERROR);
        let more = format!("{SECOND}late.test CNAME .\n");
        let served = ZoneSet::new(vec![zone("rpz.one.", POLICY), zone("rpz.two.", &more)]);
        let engine = engine.with_zones(served);
        assert_eq!(ask(&engine, "late.test.", Rtype::A).rcode, Rcode::NXDOMAIN);
    }
}
