//! Response policy zones and blocklists end to end (issue 16 item 3), on a loopback hierarchy
//! served by NSD (port 53 on 127.B.C.x, so the tests need root; skipped otherwise, failed under
//! CI=true):
//!
//! - `rpz_answers_match_bind_9_18`: the same two policy zones in BIND 9.18 (`named`) and in
//!   portcullis, both resolving from the same hierarchy; a query list covering every trigger
//!   (QNAME exact and wildcard, client IP, answer IP v4 and v6 with `zz`, NSDNAME, NSIP) and
//!   action (NXDOMAIN, NODATA, PASSTHRU, DROP, TCP-only, local data, CNAME rewrite, wildcard
//!   CNAME rewrite) and the precedence rules (zone order, a PASSTHRU before a block, exact over
//!   wildcard, a `policy` override); rcode, TC and answer RRsets compared (TTLs and order aside).
//! - `rpz_transferred_from_a_primary_follows_its_notify`: a policy zone on a portcullis primary,
//!   transferred by the resolver; a trigger added on the primary takes effect through NOTIFY.
//! - `blocklists_reload_on_sighup_and_when_the_file_changes`: hosts and domains lists, actions,
//!   EDE 15, a SIGHUP reload and a file change picked up without one.
//! - `a_million_name_blocklist_loads`: load time measured (printed; about 9 s in a debug build
//!   on a loaded 2-core machine), a generous bound of 120 s.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "rpz/bind.rs"]
mod bind;
#[path = "it/client.rs"]
mod client;
mod hierarchy;
#[path = "it/peers.rs"]
mod peers;
#[path = "rpz/support.rs"]
mod support;

use hierarchy::{pick_net, start_nsd};
use peers::{free_port, in_ci, require, temp_dir};
use portcullis_wire::{Rcode, Rtype};
use std::fs;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::{ask, hangup, resolver_config, start_portcullis, wait_for, wildcard_root};

/// Skips (or fails under CI=true) without root or a free loopback network.
fn network(test: &str, hosts: u8) -> Option<hierarchy::Net> {
    let net = pick_net(hosts).filter(|_| support::is_root());
    if net.is_none() {
        let message = format!("{test}: needs root and a free 127.x.y.0/24 on port 53");
        assert!(!in_ci(), "CI=true and {message}");
        println!("SKIPPED {message}");
    }
    net
}

const POLICY_HEAD: &str = "$TTL 60\n@ SOA localhost. root.localhost. 1 3600 600 86400 60\n@ NS localhost.\n";

#[test]
fn blocklists_reload_on_sighup_and_when_the_file_changes() {
    let test = "blocklists_reload_on_sighup_and_when_the_file_changes";
    let Some(tools) = require(test, &["nsd"]) else { return };
    let Some(net) = network(test, 1) else { return };
    let _nsd = start_nsd(&tools[0], net.addr(1), &[(".", &wildcard_root(net.ip(1).into()))]).unwrap();
    let dir = temp_dir("rpz-lists");
    let hints = dir.join("root.hints");
    fs::write(&hints, format!(". 3600000 NS a.root.\na.root. 3600000 A {}\n", net.ip(1))).unwrap();
    let (hosts, domains) = (dir.join("hosts"), dir.join("domains"));
    fs::write(&hosts, "# ad servers\n127.0.0.1 localhost\n0.0.0.0 ads.test\n0.0.0.0 bad line here\nnot-an-address x.test\n").unwrap();
    fs::write(&domains, "tracker.test\n").unwrap();
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = format!(
        "{}[http]\nlisten = \"{http}\"\n\n[[blocklist]]\nfile = \"{}\"\nformat = \"hosts\"\naction = \"null\"\nlog = true\n\n[[blocklist]]\nfile = \"{}\"\nformat = \"domains\"\n",
        resolver_config(listen, &hints),
        hosts.display(),
        domains.display()
    );
    let server = start_portcullis(&dir, &config, listen);
    let a = |name: &str| ask(listen, name, Rtype::A).unwrap_or_else(|| panic!("{name}: no reply\n{}", server.logs()));
    assert_eq!(a("www.test.").answers, ["www.test. A 192.0.2.1"], "{}", server.logs());
    let null = a("ads.test.");
    assert_eq!((null.answers.clone(), null.ede), (vec!["ads.test. A 0.0.0.0".to_string()], Some(15)));
    assert_eq!(ask(listen, "ads.test.", Rtype::AAAA).unwrap().answers, ["ads.test. AAAA ::"]);
    assert_eq!(a("sub.ads.test.").answers, ["sub.ads.test. A 192.0.2.1"], "a hosts name blocks only itself");
    let nx = a("deep.sub.tracker.test.");
    assert_eq!((nx.rcode, nx.ede, nx.answers.len()), (Rcode::NXDOMAIN, Some(15), 0), "a domains name blocks its subtree");
    // Bad lines are warned with their line numbers.
    let stderr = server.stderr();
    assert!(stderr.contains("line 5: 'not-an-address' is not an address"), "{stderr}");
    // SIGHUP reads the lists again.
    fs::write(&domains, "tracker.test\nnewly.test\n").unwrap();
    hangup(&server);
    let sighup = wait_for(listen, "newly.test.", Rtype::A, Duration::from_secs(20), |got| got.as_ref().is_some_and(|s| s.rcode == Rcode::NXDOMAIN));
    assert!(sighup.is_ok(), "SIGHUP did not reload the list: {sighup:?}\n{}", server.logs());
    // A change of the file alone is picked up by the watch (polled once a second).
    fs::write(&hosts, "0.0.0.0 ads.test\n0.0.0.0 watched.test\n").unwrap();
    let watched =
        wait_for(listen, "watched.test.", Rtype::A, Duration::from_secs(20), |got| got.as_ref().is_some_and(|s| s.answers == ["watched.test. A 0.0.0.0"]));
    println!("file change picked up after {watched:?}");
    assert!(watched.is_ok(), "the file change was not picked up: {watched:?}\n{}", server.logs());
    // The match was logged (log = true) as an alert line.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.stderr().contains("qname=watched.test.") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.stderr().contains("query rewritten by"), "{}", server.stderr());
    assert!(server.stderr().contains("qname=watched.test."), "{}", server.stderr());
    // Counters per action, and the alerts of the logged list.
    let metrics = support::http_get(http, "/metrics");
    let count = |action: &str| support::sample(&metrics, &format!("portcullis_rpz_matches_total{{action=\"{action}\"}}")).unwrap_or(0.0);
    assert!(count("null") >= 3.0 && count("nxdomain") >= 2.0, "{metrics}");
    let alerts = support::http_get(http, "/api/alerts");
    assert!(alerts.contains("blocklist") && alerts.contains("watched.test"), "{alerts}");
}

#[test]
fn a_million_name_blocklist_loads() {
    let dir = temp_dir("rpz-million");
    let list = dir.join("domains");
    let mut text = String::with_capacity(30_000_000);
    for i in 0..1_000_000u32 {
        text.push_str(&format!("host-{i:07}.blocked-{}.example\n", i % 977));
    }
    fs::write(&list, &text).unwrap();
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = format!(
        "[server]\nlisten = [\"{listen}\"]\nthreads = 1\n\n[[forward]]\nzone = \".\"\nprimaries = [\"127.0.0.1:9\"]\ntimeout-ms = 200\n\n[[blocklist]]\nfile = \"{}\"\nformat = \"domains\"\n",
        list.display()
    );
    // Ready once it answers: the engine is built (the list loaded) before the listeners serve.
    let started = Instant::now();
    let server = support::spawn_portcullis(&dir, &config);
    let last = format!("host-0999999.blocked-{}.example.", 999_999 % 977);
    let blocked =
        wait_for(listen, &last, Rtype::A, Duration::from_secs(120), |got| got.as_ref().is_some_and(|s| s.rcode == Rcode::NXDOMAIN && s.ede == Some(15)));
    let elapsed = started.elapsed();
    let loaded = server.stderr().lines().find(|line| line.contains("blocklist loaded")).unwrap_or_default().to_string();
    println!("1M-name blocklist: server answering with it after {elapsed:?}; {loaded}");
    assert!(blocked.is_ok(), "{blocked:?}\n{}", server.logs());
    assert!(elapsed < Duration::from_secs(120), "took {elapsed:?}");
    let first = ask(listen, "x.host-0000000.blocked-0.example.", Rtype::A).unwrap();
    assert_eq!((first.rcode, first.ede), (Rcode::NXDOMAIN, Some(15)), "a name below a listed one");
}

#[test]
fn rpz_answers_match_bind_9_18() {
    bind::run("rpz_answers_match_bind_9_18");
}

#[test]
fn rpz_transferred_from_a_primary_follows_its_notify() {
    let test = "rpz_transferred_from_a_primary_follows_its_notify";
    let Some(tools) = require(test, &["nsd"]) else { return };
    let Some(net) = network(test, 1) else { return };
    let _nsd = start_nsd(&tools[0], net.addr(1), &[(".", &wildcard_root(net.ip(1).into()))]).unwrap();
    // The primary: a portcullis serving the policy zone and notifying the resolver.
    let primary_dir = temp_dir("rpz-primary");
    let zone_file = primary_dir.join("rpz.feed.zone");
    let zone =
        |serial: u32, extra: &str| format!("$TTL 60\n@ SOA localhost. root.localhost. {serial} 3600 600 86400 60\n@ NS localhost.\nold.test CNAME .\n{extra}");
    fs::write(&zone_file, zone(1, "")).unwrap();
    let (primary, resolver) = (SocketAddr::from(([127, 0, 0, 1], free_port())), SocketAddr::from(([127, 0, 0, 1], free_port())));
    let primary_config = format!(
        "[server]\nlisten = [\"{primary}\"]\nthreads = 1\n\n[acl]\ntransfer = [\"127.0.0.1\"]\n\n[[zone]]\norigin = \"rpz.feed.\"\nfile = \"{}\"\nnotify = [\"{resolver}\"]\n",
        zone_file.display()
    );
    let primary_process = start_portcullis(&primary_dir, &primary_config, primary);
    // The resolver: the policy zone transferred from the primary (its SOA refresh is an hour,
    // so only NOTIFY explains a change within seconds).
    let dir = temp_dir("rpz-secondary");
    let hints = dir.join("root.hints");
    fs::write(&hints, format!(". 3600000 NS a.root.\na.root. 3600000 A {}\n", net.ip(1))).unwrap();
    let config = format!("{}[acl]\nnotify = [\"127.0.0.1\"]\n\n[[rpz]]\nzone = \"rpz.feed\"\nprimaries = [\"{primary}\"]\n", resolver_config(resolver, &hints));
    let server = start_portcullis(&dir, &config, resolver);
    let old = wait_for(resolver, "old.test.", Rtype::A, Duration::from_secs(20), |got| got.as_ref().is_some_and(|s| s.rcode == Rcode::NXDOMAIN));
    assert!(old.is_ok(), "the transferred trigger never applied: {old:?}\n{}", server.logs());
    assert_eq!(ask(resolver, "new.test.", Rtype::A).unwrap().answers, ["new.test. A 192.0.2.1"]);
    fs::write(&zone_file, zone(2, "new.test CNAME .\n")).unwrap();
    hangup(&primary_process);
    let new =
        wait_for(resolver, "new.test.", Rtype::A, Duration::from_secs(20), |got| got.as_ref().is_some_and(|s| s.rcode == Rcode::NXDOMAIN && s.ede == Some(15)));
    println!("new trigger in effect after {new:?}");
    assert!(new.is_ok(), "the trigger added on the primary did not take effect: {new:?}\n{}\n{}", server.logs(), primary_process.logs());
}
